//! `stats extstore`: the disk tier's pages.

use super::stat_line::stat;

/// Appends `stats extstore`: each page's version, live bytes, bucket and free bucket.
pub(crate) fn write_pages(out: &mut Vec<u8>, pages: &[disk::PageData]) {
    for (i, p) in pages.iter().enumerate() {
        stat(out, &format!("{i}:version"), p.version);
        stat(out, &format!("{i}:bytes"), p.bytes_used);
        stat(out, &format!("{i}:bucket"), p.bucket);
        stat(out, &format!("{i}:free_bucket"), p.free_bucket);
    }
}
