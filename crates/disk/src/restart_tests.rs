use super::*;

fn table() -> SavedTable {
    SavedTable {
        run: 0x1234_5678_9abc,
        page_size: 4 << 20,
        wbuf_size: 2 << 20,
        next_seq: 9,
        files: vec![SavedFile {
            path: b"/var/cache/ext".to_vec(),
            size: 16 << 20,
            free_bucket: 0,
            stamp: Stamp {
                kind: REGULAR,
                dev: 2049,
                ino: 77,
                len: 16 << 20,
                mtime: 1_765_000_000,
                mtime_ns: 123,
            },
        }],
        pages: vec![
            SavedPage {
                id: 0,
                seq: 3,
                bucket: Bucket::Default,
            },
            SavedPage {
                id: 2,
                seq: 8,
                bucket: Bucket::Compact,
            },
        ],
    }
}

#[test]
fn a_table_round_trips() {
    let t = table();
    assert_eq!(SavedTable::decode(&t.encode()), Ok(t));
}

#[test]
fn every_truncation_is_refused() {
    let bytes = table().encode();
    for len in 0..bytes.len() {
        let got = SavedTable::decode(&bytes[..len]);
        assert!(
            matches!(got, Err(Refused::Truncated | Refused::Corrupt(_))),
            "{len}: {got:?}"
        );
    }
}

#[test]
fn every_flipped_byte_is_refused() {
    let bytes = table().encode();
    for i in 0..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= bit;
            assert!(SavedTable::decode(&b).is_err(), "byte {i} bit {bit:#x}");
        }
    }
}

#[test]
fn nonsense_with_a_good_checksum_is_refused() {
    let fix = |mut b: Vec<u8>| {
        let body = b.len() - 4;
        let crc = crc32c::crc32c(&b[..body]);
        b[body..].copy_from_slice(&crc.to_le_bytes());
        b
    };
    let mut t = table();
    t.pages[1].id = 0;
    assert_eq!(
        SavedTable::decode(&fix(t.encode())),
        Err(Refused::Corrupt("a page listed twice".into()))
    );
    let mut t = table();
    t.pages[0].seq = t.next_seq;
    assert!(matches!(
        SavedTable::decode(&t.encode()),
        Err(Refused::Corrupt(_))
    ));
    let mut b = table().encode();
    b.splice(b.len() - 4..b.len() - 4, [0u8]);
    assert_eq!(
        SavedTable::decode(&fix(b)),
        Err(Refused::Corrupt("bytes after the end".into()))
    );
    let mut b = table().encode();
    b[0] = 2;
    assert_eq!(SavedTable::decode(&b), Err(Refused::Version(2)));
    // A huge page count in a short section: refused before any allocation.
    let mut b = table().encode();
    let at = b.len() - 4 - 2 * PAGE_BYTES - 4;
    b[at..at + 4].copy_from_slice(&60_000u32.to_le_bytes());
    assert_eq!(SavedTable::decode(&fix(b)), Err(Refused::Truncated));
}

#[test]
fn changed_settings_and_files_are_named() {
    let t = table();
    let mut config = DiskConfig::new(vec![
        crate::config::FileSpec::parse("/var/cache/ext:16m").unwrap()
    ]);
    config.page_size = 4 << 20;
    config.wbuf_size = 2 << 20;
    let same = Some(t.files[0].stamp);
    assert_eq!(t.check_config(&config, &[same]), Ok(()));
    let err = t.check_config(&config, &[None]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/var/cache/ext is missing since the last clean stop"
    );
    let mut written = t.files[0].stamp;
    written.mtime_ns += 1;
    assert!(matches!(
        t.check_config(&config, &[Some(written)]),
        Err(Refused::FileChanged {
            what: "was written to",
            ..
        })
    ));
    let mut shorter = t.files[0].stamp;
    shorter.len -= 4096;
    assert!(matches!(
        t.check_config(&config, &[Some(shorter)]),
        Err(Refused::FileChanged {
            what: "changed length",
            ..
        })
    ));
    let mut other = t.files[0].stamp;
    other.ino += 1;
    assert!(matches!(
        t.check_config(&config, &[Some(other)]),
        Err(Refused::FileChanged {
            what: "was replaced",
            ..
        })
    ));
    let mut c = config.clone();
    c.wbuf_size = 4 << 20;
    assert_eq!(
        t.check_config(&c, &[same]).unwrap_err().to_string(),
        "ext_wbuf_size changed since the last clean stop (was 2097152, now 4194304)"
    );
    let mut c = config.clone();
    c.files[0].size = 32 << 20;
    assert_eq!(
        t.check_config(&c, &[same]).unwrap_err().to_string(),
        "ext_path changed since the last clean stop (was /var/cache/ext:16777216:default, \
         now /var/cache/ext:33554432:default)"
    );
}
