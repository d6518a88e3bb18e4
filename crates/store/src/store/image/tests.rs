//! Encoding and checking of the store's restart data sections.

use super::*;

const SEG: usize = 1 << 20;

fn rec(state: u8, bucket: u32, write_off: usize, live: u32, live_bytes: usize) -> SegRecord {
    SegRecord {
        state,
        warm: true,
        bucket,
        opened: 100,
        write_off,
        max_deadline: 0,
        last_write: 100,
        max_cas: 9,
        live,
        live_bytes,
        crc: 7,
    }
}

/// Two segments: 0 sealed with one item at offset 10, 1 free.
fn sample(extra: &[ExtraSection]) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let cfg = StoreConfig::default();
    let set = settings(&cfg, SEG, 2);
    let segs = [rec(SEALED, 3, 500, 1, 40), rec(FREE, 0, 0, 0, 0)];
    let lists = Lists {
        free: vec![1],
        sealed: vec![0],
        spare: None,
        open: vec![],
    };
    let mut tables: Vec<Table> = (0..1 << index::SHARD_BITS).map(|_| Table::new()).collect();
    let h = index::hash(1, b"k");
    let t = &mut tables[index::shard_of(h)];
    t.insert(h, 10, 0, |_| h);
    t.items = 1;
    t.bytes = 40;
    let refs: Vec<&Table> = tables.iter().collect();
    let state = State {
        epoch: 1,
        seed: 1,
        next_cas: 10,
        oldest_live: 0,
        oldest_cas: 0,
        saved_at: 200,
    };
    let mut out = Vec::new();
    write(&mut out, &set, &state, &segs, &lists, &refs, extra).unwrap();
    (out, set)
}

fn read_back(
    b: &[u8],
    set: &[(&'static str, String)],
    known: &[[u8; 4]],
) -> Result<Image, Refusal> {
    let x = Expect {
        settings: set,
        seg_size: SEG,
        nsegs: 2,
        known_extra: known,
    };
    read(b, b.len() as u64, &x)
}

#[test]
fn round_trip_with_an_extra_section() {
    let disk = ExtraSection {
        tag: *b"DISK",
        version: 2,
        required: true,
        payload: vec![9; 33],
    };
    let (b, set) = sample(std::slice::from_ref(&disk));
    let img = read_back(&b, &set, &[*b"DISK"]).unwrap();
    assert_eq!(img.state.saved_at, 200);
    assert_eq!(img.segs[0], rec(SEALED, 3, 500, 1, 40));
    assert_eq!(img.lists.sealed, vec![0]);
    assert_eq!(img.tables.iter().map(|t| t.items).sum::<usize>(), 1);
    assert_eq!(img.extra, vec![disk]);
    // A build that does not know a required section refuses it, naming it.
    match read_back(&b, &set, &[]) {
        Err(Refusal::Incompatible { setting, .. }) => assert_eq!(setting, "section DISK"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn a_changed_setting_is_named() {
    let (b, _) = sample(&[]);
    let cfg = StoreConfig {
        item_size_max: 2 << 20,
        ..StoreConfig::default()
    };
    match read_back(&b, &settings(&cfg, SEG, 2), &[]) {
        Err(Refusal::Incompatible { setting, old, new }) => {
            assert_eq!(
                (setting.as_str(), old.as_str(), new.as_str()),
                ("item_size_max", "1048576", "2097152")
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[test]
fn any_damage_is_refused_never_trusted() {
    let (b, set) = sample(&[]);
    // The first KiB (header, settings, state, segments, pool, the first index
    // shards) byte by byte, then a spread over the rest (the file is ~530 KB: 256
    // index sections); the framing itself is tested byte by byte in restart_data.
    let spots = (0..1024)
        .chain((1024..b.len()).step_by(1999))
        .chain([b.len() - 1]);
    for i in spots {
        let mut c = b.clone();
        c[i] ^= 0x10;
        assert!(read_back(&c, &set, &[]).is_err(), "byte {i}");
    }
    for cut in (0..1024).step_by(7).chain((1024..b.len()).step_by(4999)) {
        assert!(read_back(&b[..cut], &set, &[]).is_err(), "cut {cut}");
    }
}

/// Sections with valid checksums but inconsistent contents: what a bug (or a file
/// edited by hand) would produce.
#[test]
fn inconsistent_contents_are_refused() {
    let set = settings(&StoreConfig::default(), SEG, 2);
    let state = State {
        epoch: 1,
        seed: 1,
        next_cas: 1,
        oldest_live: 0,
        oldest_cas: 0,
        saved_at: 1,
    };
    let empty: Vec<Table> = (0..1 << index::SHARD_BITS).map(|_| Table::new()).collect();
    let refs: Vec<&Table> = empty.iter().collect();
    let free2 = Lists {
        free: vec![0, 1],
        ..Lists::default()
    };
    let cases: Vec<(&str, Vec<SegRecord>, Lists)> = vec![
        (
            "a segment twice",
            vec![rec(FREE, 0, 0, 0, 0); 2],
            Lists {
                free: vec![0, 0],
                ..Lists::default()
            },
        ),
        (
            "a segment in no list",
            vec![rec(FREE, 0, 0, 0, 0); 2],
            Lists {
                free: vec![0],
                ..Lists::default()
            },
        ),
        (
            "a sealed segment listed free",
            vec![rec(SEALED, 0, 9, 0, 0), rec(FREE, 0, 0, 0, 0)],
            free2.clone(),
        ),
        (
            "live bytes beyond the write offset",
            vec![rec(FREE, 0, 0, 0, 0), rec(SEALED, 0, 9, 0, 10)],
            Lists {
                free: vec![0],
                sealed: vec![1],
                ..Lists::default()
            },
        ),
        (
            "live items the index does not have",
            vec![rec(FREE, 0, 0, 0, 0), rec(SEALED, 0, 9, 1, 5)],
            Lists {
                free: vec![0],
                sealed: vec![1],
                ..Lists::default()
            },
        ),
        (
            "open for another bucket",
            vec![rec(FREE, 0, 0, 0, 0), rec(OPEN, 4, 0, 0, 0)],
            Lists {
                free: vec![0],
                open: vec![(5, 1)],
                ..Lists::default()
            },
        ),
        (
            "an unknown state",
            vec![rec(9, 0, 0, 0, 0), rec(FREE, 0, 0, 0, 0)],
            free2.clone(),
        ),
    ];
    for (what, segs, lists) in cases {
        let mut b = Vec::new();
        write(&mut b, &set, &state, &segs, &lists, &refs, &[]).unwrap();
        assert!(
            matches!(read_back(&b, &set, &[]), Err(Refusal::Corrupt(_))),
            "{what}"
        );
    }
    let mut b = Vec::new();
    write(
        &mut b,
        &set,
        &state,
        &[rec(FREE, 0, 0, 0, 0); 2],
        &free2,
        &refs,
        &[],
    )
    .unwrap();
    assert!(
        read_back(&b, &set, &[]).is_ok(),
        "the consistent variant reads"
    );
}

#[test]
fn an_index_entry_outside_written_bytes_is_refused() {
    let set = settings(&StoreConfig::default(), SEG, 2);
    let state = State {
        epoch: 1,
        seed: 1,
        next_cas: 1,
        oldest_live: 0,
        oldest_cas: 0,
        saved_at: 1,
    };
    let segs = [rec(SEALED, 0, 100, 1, 40), rec(FREE, 0, 0, 0, 0)];
    let lists = Lists {
        free: vec![1],
        sealed: vec![0],
        ..Lists::default()
    };
    for (off, ok) in [(99, true), (100, false), (SEG + 5, false)] {
        let mut tables: Vec<Table> = (0..1 << index::SHARD_BITS).map(|_| Table::new()).collect();
        let h = index::hash(1, b"k");
        let t = &mut tables[index::shard_of(h)];
        t.insert(h, off, 0, |_| h);
        t.items = 1;
        t.bytes = 40;
        let refs: Vec<&Table> = tables.iter().collect();
        let mut b = Vec::new();
        write(&mut b, &set, &state, &segs, &lists, &refs, &[]).unwrap();
        assert_eq!(read_back(&b, &set, &[]).is_ok(), ok, "offset {off}");
    }
}
