//! Bob Jenkins' lookup3 `hashlittle` with twemproxy's initial value 13. lookup3 reads
//! 4-, 2- or 1-byte units depending on the key's alignment; on a little-endian machine
//! the three paths give the same number, so this reads bytes.

const INITVAL: u32 = 13;

fn word(bytes: &[u8]) -> u32 {
    // A short final block is zero-padded: lookup3 masks off the bytes past the end.
    let mut padded = [0u8; 4];
    padded[..bytes.len()].copy_from_slice(bytes);
    u32::from_le_bytes(padded)
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn finish(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

pub(super) fn hash(key: &[u8]) -> u32 {
    let start = 0xdead_beefu32
        .wrapping_add(key.len() as u32)
        .wrapping_add(INITVAL);
    let (mut a, mut b, mut c) = (start, start, start);
    let mut rest = key;
    // Every block but the last is mixed; the last (1 to 12 bytes) goes through `finish`.
    while rest.len() > 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return c;
    }
    let part = |from: usize| &rest[from.min(rest.len())..(from + 4).min(rest.len())];
    a = a.wrapping_add(word(part(0)));
    b = b.wrapping_add(word(part(4)));
    c = c.wrapping_add(word(part(8)));
    finish(&mut a, &mut b, &mut c);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_boundaries() {
        // Lengths around the 12-byte block: none may panic, and they must differ.
        let key = b"abcdefghijklmnopqrstuvwxyz";
        let values: Vec<u32> = (0..=key.len()).map(|n| hash(&key[..n])).collect();
        for (i, v) in values.iter().enumerate() {
            for w in &values[i + 1..] {
                assert_ne!(v, w);
            }
        }
    }
}
