//! `stats items` and `stats slabs`: Corvid's heap of segments shown as memcached shows
//! one slab class, class 1, in Corvid's terms.

use super::stat_line::stat;
use store::Store;

/// Appends `stats items`: memcached's lines for a server with one slab class, class 1,
/// holding every item. Corvid's heap is one pool of segments, so that is the truthful
/// shape (`stats cachedump` and `lru_crawler metadump` say `cls=1` too). Corvid has one
/// eviction queue, no hot, warm and cold LRUs and no LRU crawler: everything is in the
/// cold LRU, and the counters of machinery it lacks stay at 0. `age` (the LRU tail's age
/// in memcached) and `evicted_time` are not tracked: 0.
pub(crate) fn write_items(out: &mut Vec<u8>, store: &Store) {
    let s = store.stats();
    if s.curr_items == 0 {
        return;
    }
    let lines: [(&str, u64); 28] = [
        ("number", s.curr_items),
        ("number_hot", 0),
        ("number_warm", 0),
        ("number_cold", s.curr_items),
        ("age_hot", 0),
        ("age_warm", 0),
        ("age", 0),
        ("mem_requested", s.bytes),
        ("evicted", s.evictions),
        ("evicted_nonzero", 0),
        ("evicted_time", 0),
        ("outofmemory", s.store_no_memory),
        ("tailrepairs", 0),
        ("reclaimed", s.reclaimed),
        ("expired_unfetched", s.expired_unfetched),
        ("evicted_unfetched", s.evicted_unfetched),
        ("evicted_active", s.evicted_active),
        ("crawler_reclaimed", 0),
        ("crawler_items_checked", 0),
        ("lrutail_reflocked", 0),
        ("moves_to_cold", 0),
        ("moves_to_warm", s.moves_to_warm),
        ("moves_within_lru", 0),
        ("direct_reclaims", 0),
        ("hits_to_hot", 0),
        ("hits_to_warm", 0),
        ("hits_to_cold", s.get_hits),
        ("hits_to_temp", 0),
    ];
    for (name, value) in lines {
        stat(out, &format!("items:1:{name}"), value);
    }
}

/// Appends `stats slabs`: class 1 as memcached shows a slab class, in Corvid's terms. A
/// page is a segment (`total_pages`: segments holding data; `total_malloced`: their
/// bytes). Items are not cut to a chunk size, so `chunk_size` is the mean item size (what
/// `memcached-tool display` prints as `Item_Size`), `used_chunks` the items, and
/// `total_chunks` how many such items the segments in use hold: the class is "full"
/// when the segments are. `cmd_set` is the server's (memcached counts it per class).
pub(crate) fn write_slabs(out: &mut Vec<u8>, store: &Store, cmd_set: u64) {
    let s = store.stats();
    let segment = store.config().segment_size as u64;
    let pages = s.used_segments;
    if pages > 0 {
        let chunk = s.bytes.div_ceil(s.curr_items.max(1)).max(1);
        let per_page = segment / chunk;
        let total = pages * per_page;
        let lines: [(&str, u64); 15] = [
            ("chunk_size", chunk),
            ("chunks_per_page", per_page),
            ("total_pages", pages),
            ("total_chunks", total),
            ("used_chunks", s.curr_items),
            ("free_chunks", total.saturating_sub(s.curr_items)),
            ("free_chunks_end", 0),
            ("get_hits", s.get_hits),
            ("cmd_set", cmd_set),
            ("delete_hits", s.delete_hits),
            ("incr_hits", s.incr_hits),
            ("decr_hits", s.decr_hits),
            ("cas_hits", s.cas_hits),
            ("cas_badval", s.cas_badval),
            ("touch_hits", s.touch_hits),
        ];
        for (name, value) in lines {
            stat(out, &format!("1:{name}"), value);
        }
    }
    stat(out, "active_slabs", u64::from(pages > 0));
    stat(out, "total_malloced", pages * segment);
}
