//! twemproxy's `crc16`: the CCITT polynomial (0x1021, MSB first, initial value 0), but
//! the running value is a 32-bit integer that is shifted left and never masked, so the
//! result carries the bytes that fell off the top of a 16-bit register above bit 15.
//! The low 16 bits are CRC-16/XMODEM; the whole 32-bit value decides placement.

const POLY: u16 = 0x1021;

const TABLE: [u16; 256] = table();

const fn table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

pub(super) fn hash(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |crc, &byte| {
        // The index masks to a byte, so the sign of `char` cannot show here.
        let index = ((crc >> 8) ^ u32::from(byte)) & 0xff;
        (crc << 8) ^ u32::from(TABLE[index as usize])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_ccitt() {
        assert_eq!(TABLE[1], 0x1021);
        assert_eq!(TABLE[255], 0x1ef0);
    }

    #[test]
    fn low_half_is_xmodem() {
        // CRC-16/XMODEM check value.
        assert_eq!(hash(b"123456789") & 0xffff, 0x31c3);
    }
}
