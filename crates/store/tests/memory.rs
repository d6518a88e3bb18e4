//! The heap is reserved, not touched: a fresh 1 GiB store adds only a few MiB of RSS, and
//! RSS follows the data. (Alone in this binary so other tests' allocations do not blur it.)

use store::{Store, StoreConfig, StoreMode};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("linux /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm rss field");
    pages * 4096
}

#[test]
fn fresh_store_is_lazy_and_grows_with_data() {
    let before = rss_bytes();
    let s = Store::new(StoreConfig {
        memory_limit: 1 << 30,
        ..StoreConfig::default()
    })
    .unwrap();
    let fresh = rss_bytes().saturating_sub(before);
    assert!(
        fresh < 8 << 20,
        "fresh 1 GiB store added {fresh} bytes of RSS"
    );

    let v = vec![b'v'; 1000];
    for i in 0..20_000 {
        s.store(StoreMode::Set, format!("k{i}").as_bytes(), &v, 0, 0)
            .unwrap();
    }
    let used = rss_bytes().saturating_sub(before);
    // ~20 MB of items: RSS grows by about that, not by the 1 GiB reserved.
    assert!(used > 15 << 20 && used < 64 << 20, "{used}");
}
