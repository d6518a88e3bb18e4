//! Item layout round trips at every field shape, and the coarse access times.

use super::*;

#[test]
fn sizes() {
    // memtier-style key (15 bytes) and a 100-byte value: 13 bytes of header.
    assert_eq!(item_size(true, false, 15, 100, 0), 128);
    assert_eq!(header_size(true, false, 100, 0), 13);
    assert_eq!(item_size(false, false, 15, 100, 0), 122);
    assert_eq!(item_size(true, true, 15, 100, 0), 130);
    assert_eq!(item_size(true, false, 15, 100, 1), 132);
    // -C saves the whole CAS field, narrow or wide.
    assert_eq!(item_size(false, true, 15, 100, 0), 122);
    // A 1 MiB value needs a 3-byte length.
    assert_eq!(header_size(true, false, 1 << 20, 0), 15);
    assert_eq!(header_size(true, false, 1 << 30, 0), 16);
}

#[test]
fn widths_at_their_boundaries() {
    for (vlen, w) in [
        (0, 1),
        (255, 1),
        (256, 2),
        (65535, 2),
        (65536, 3),
        ((1 << 24) - 1, 3),
        (1 << 24, 4),
        (u32::MAX as usize, 4),
    ] {
        assert_eq!(vlen_width(vlen), w, "{vlen}");
    }
}

/// Writes an item at an odd address (no alignment) with every field shape, reads
/// every field back, and checks that nothing spills past `item_size`.
fn round_trip(vlen: usize, klen: usize, flags: u32, cas: Option<u64>) {
    let store_cas = cas.is_some();
    let cas_value = cas.unwrap_or(0);
    let wide = !cas_fits(false, cas_value);
    let size = item_size(store_cas, wide, klen, vlen, flags);
    let expect = 2
        + vlen_width(vlen)
        + 4
        + match (store_cas, wide) {
            (false, _) => 0,
            (true, false) => 6,
            (true, true) => 8,
        }
        + if flags != 0 { 4 } else { 0 }
        + klen
        + vlen;
    assert_eq!(size, expect);
    // Guard bytes on both sides, item at offset 3.
    let mut buf = vec![0xa5u8; size + 8];
    let key: Vec<u8> = (0..klen).map(|i| b'a' + (i % 26) as u8).collect();
    let it = ItemPtr {
        // SAFETY: offset 3 of a buffer of size + 8 bytes.
        p: unsafe { buf.as_mut_ptr().add(3) },
        cas: store_cas,
    };
    // SAFETY: `size` bytes at offset 3 are ours; no alignment is needed.
    unsafe {
        it.init(&Header {
            key: &key,
            vlen,
            flags,
            deadline: 0x0102_0304,
            wide_cas: wide,
        });
        let v = it.value_mut();
        assert_eq!(v.len(), vlen);
        v.fill(0x5a);
        if let (Some(first), true) = (v.first_mut(), vlen > 1) {
            *first = 1;
            *v.last_mut().unwrap() = 2;
        }
        assert!(it.cas_fits(cas_value));
        assert!(it.set_cas(cas_value));
        assert_eq!(it.deadline(), 0x0102_0304);
        it.set_deadline(7);
        assert_eq!(it.deadline(), 7);
        assert!(!it.is_stale());
        it.set_stale();
        it.bits().fetch_or(FETCHED | WIN, Ordering::Relaxed);
        assert_eq!(it.key(), &key[..]);
        let v = it.value();
        assert_eq!(v.len(), vlen);
        if vlen > 1 {
            assert_eq!((v[0], v[vlen - 1]), (1, 2));
            assert!(v[1..vlen - 1].iter().all(|&b| b == 0x5a));
        }
    }
    assert_eq!(it.klen(), klen);
    assert_eq!(it.vlen(), vlen);
    assert_eq!(it.flags(), flags);
    assert_eq!(it.cas_value(), cas_value);
    assert_eq!(it.is_wide(), wide && store_cas);
    assert!(it.is_stale());
    assert_eq!(it.shape() & (FETCHED | WIN), FETCHED | WIN);
    assert_eq!(it.size(), size);
    if (1..=250).contains(&klen) {
        let item = &buf[3..3 + size];
        assert_eq!(checked_size(item, store_cas), Some(size));
        assert_eq!(
            checked_size(&item[..size - 1], store_cas),
            None,
            "one byte short"
        );
        assert_eq!(checked_size(&item[..2], store_cas), None, "header cut");
    }
    assert!(buf[..3].iter().all(|&b| b == 0xa5));
    assert!(buf[3 + size..].iter().all(|&b| b == 0xa5));
}

#[test]
fn every_shape_round_trips() {
    let vlens = [
        0,
        1,
        255,
        256,
        65535,
        65536,
        (1 << 20) + 3,
        (1 << 24) - 1,
        1 << 24,
    ];
    for vlen in vlens {
        for klen in [1, 250] {
            for flags in [0, 1, 0xdead_beef] {
                for cas in [
                    None,
                    Some(0),
                    Some(1),
                    Some(NARROW_CAS_END - 1),
                    Some(NARROW_CAS_END),
                    Some(u64::MAX),
                ] {
                    round_trip(vlen, klen, flags, cas);
                }
            }
        }
    }
}

#[test]
fn a_narrow_item_refuses_a_wide_cas() {
    let mut buf = vec![0u8; 64];
    let it = ItemPtr {
        p: buf.as_mut_ptr(),
        cas: true,
    };
    // SAFETY: 64 bytes, larger than the item, ours.
    unsafe {
        it.init(&Header {
            key: b"k",
            vlen: 3,
            flags: 0,
            deadline: 0,
            wide_cas: false,
        })
    };
    assert!(it.cas_fits(NARROW_CAS_END - 1));
    assert!(!it.cas_fits(NARROW_CAS_END));
    // SAFETY: as above.
    unsafe {
        assert!(!it.set_cas(NARROW_CAS_END));
        assert_eq!(it.cas_value(), 0, "nothing written");
        assert!(it.set_cas(NARROW_CAS_END - 1));
        assert_eq!(it.cas_value(), NARROW_CAS_END - 1);
    }
    let off = ItemPtr { cas: false, ..it };
    assert!(off.cas_fits(u64::MAX), "-C stores no CAS: anything fits");
}

#[test]
fn access_exact_range() {
    for s in [0u64, 1, 2, 1000, ACCESS_EXACT - 1] {
        assert_eq!(decode_access(encode_access(s)), s);
    }
    assert_eq!(encode_access(ACCESS_EXACT - 1), 32767);
}

#[test]
fn access_coarse_range() {
    assert_eq!(encode_access(ACCESS_EXACT), 32768);
    assert_eq!(encode_access(ACCESS_EXACT + 127), 32768);
    assert_eq!(encode_access(ACCESS_EXACT + 128), 32769);
    for s in (ACCESS_EXACT..ACCESS_EXACT + 1_000_000).step_by(37) {
        let d = decode_access(encode_access(s));
        assert!(d <= s && s - d < ACCESS_COARSE_STEP, "{s} -> {d}");
    }
}

#[test]
fn access_saturates() {
    let top = decode_access(u16::MAX);
    assert_eq!(top, ACCESS_EXACT + 32767 * ACCESS_COARSE_STEP);
    assert_eq!(encode_access(top), u16::MAX);
    assert_eq!(encode_access(top + 10_000_000), u16::MAX);
    assert_eq!(encode_access(u64::MAX), u16::MAX);
    assert_eq!(decode_access(encode_access(u64::MAX)), top);
}

#[test]
fn access_is_monotonic_and_never_rounds_up() {
    let mut last = 0;
    for s in (0..5_000_000u64).step_by(13) {
        let e = encode_access(s);
        assert!(e >= last);
        assert!(decode_access(e) <= s);
        last = e;
    }
}

#[test]
fn access_clamps_to_the_segment_opening() {
    // An item last read at 1000, copied into a segment opened at 5000: its access
    // becomes the opening (later, never earlier than the truth by more than the copy).
    assert_eq!(access_since(1000, 5000), 0);
    assert_eq!(access_since(5000, 5000), 0);
    assert_eq!(access_since(5007, 5000), 7);
    assert_eq!(decode_access(access_since(5000 + 40_000, 5000)), 39_936);
}

#[test]
fn fillers_of_every_length_walk_as_items_of_that_length() {
    let mut buf = vec![0xa5u8; 1 << 17];
    for cas in [true, false] {
        let lens = (FILLER_MIN..600).chain([0xff + 13, 0x1_0000 + 14, 0x1_0000 + 13, 100_000]);
        for len in lens {
            // SAFETY: `len` bytes of our own buffer, no other reader.
            unsafe { write_filler(buf.as_mut_ptr(), len, cas) };
            let it = ItemPtr {
                p: buf.as_mut_ptr(),
                cas,
            };
            assert_eq!(it.size(), len, "cas {cas}");
            assert_eq!(it.klen(), 0, "an empty key no client can send");
        }
    }
}

#[test]
fn large_items_span_whole_granules() {
    assert_eq!(span(LARGE - 1), LARGE - 1);
    assert_eq!(span(LARGE), LARGE);
    assert_eq!(span(LARGE + 1), LARGE + LARGE_GRANULE);
    assert_eq!(span(65_566), 65_600);
    const { assert!(LARGE_GRANULE >= FILLER_MIN) };
}
