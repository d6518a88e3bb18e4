//! `me`: memcached's debug line for a key, with the slab class memcached's defaults
//! would give the item (Corvid has none).

use crate::cache::state::Cx;
use crate::cache::value::Pinned;
use crate::runtime::{bump, Reply};
use protocol::meta::{self, Debug, Request};
use protocol::text;
use store::memcached_item_size;

/// `me`: memcached's debug line. Corvid has no slab classes; `cls` is the class
/// memcached's default slab sizes would give an item of this size.
pub(super) fn debug(req: &Request<'_>, reply: &mut Reply<'_, Pinned>, cx: &Cx<'_>) {
    let cache = cx.service();
    bump(&cache.counters(cx.worker()).cmd_meta, 1);
    let Some(item) = cache.store.peek(req.key()) else {
        reply.line(text::EN);
        return;
    };
    let ttl = item.ttl_remaining();
    let value_len = item
        .external()
        .map_or_else(|| item.value().len(), |e| e.value_len);
    let size = memcached_item_size(
        item.key().len(),
        value_len,
        item.flags(),
        cache.store.config().cas_enabled,
    );
    let d = Debug {
        key: item.key(),
        // memcached re-encodes keys it stored under `b`; Corvid does not record that, so
        // it encodes only keys that could not be printed on the line as they are.
        binary_key: !item.key().iter().all(u8::is_ascii_graphic),
        exp: if ttl == -1 { -1 } else { -ttl },
        last_access: item.last_access_ago(),
        cas: item.cas(),
        fetched: item.fetched_before(),
        class: slab_class(size),
        size,
    };
    reply.compose(|o| meta::write_debug(o, &d));
}

/// memcached's default slab classes: 96 bytes, then x1.25 rounded up to 8, up to 512 KiB.
fn slab_class(size: usize) -> u32 {
    const LARGEST: usize = 512 * 1024;
    let mut chunk = 96usize;
    let mut class = 1;
    while size > chunk && chunk < LARGEST {
        let next = (chunk as f64 * 1.25) as usize;
        chunk = next.div_ceil(8) * 8;
        if chunk as f64 > LARGEST as f64 / 1.25 {
            chunk = LARGEST;
        }
        class += 1;
    }
    class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_classes_match_memcacheds_defaults() {
        // memcached 1.6.18 -m 64: class 1 is 96 bytes, class 2 120, class 3 152.
        assert_eq!(slab_class(61), 1);
        assert_eq!(slab_class(96), 1);
        assert_eq!(slab_class(97), 2);
        assert_eq!(slab_class(120), 2);
        assert_eq!(slab_class(121), 3);
        assert_eq!(slab_class(10 << 20), slab_class(600 * 1024));
    }
}
