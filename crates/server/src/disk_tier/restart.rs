//! The disk tier across a warm restart (`-e FILE` with `ext_path`): at a clean stop the
//! engine's page table goes into the restart data as the `DISK` section ([`section`]);
//! at the next start ([`open`]) the engine checks it against its files and page headers
//! and, if it takes it back, counts every location the store kept, so the values on disk
//! are served again. Refused (a file changed, other settings, a header that disagrees),
//! the store drops those items and the engine starts with every page free.
//!
//! Order matters (docs/restart.md): the store's restored external items wait
//! (`Store::external_pending`) until the engine has decided; nothing serves before; and
//! the engine's threads start only once the live counts are in, so its maintenance never
//! frees a restored page the store still points into.

use super::owner::StoreOwner;
use super::record_len;
use disk::{Completion, Disk, DiskConfig, DiskError, Location, Opening};
use std::sync::Arc;
use store::{ExtraSection, Store, COLD_TIER_SECTION};

/// What became of the disk tier's index saved at the last clean stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskRestore {
    /// Taken back: `items` external items kept, `live` of them on pages in use (the rest
    /// pointed into pages dropped before the stop: misses when read, as they were),
    /// `pages` pages in use; `took`: checks and counts, from opening the files to the
    /// engine's threads running.
    Restored {
        items: u64,
        live: u64,
        pages: u64,
        took: std::time::Duration,
    },
    /// Refused, for `why`: `dropped` external items went.
    Refused { why: String, dropped: u64 },
}

/// Opens the engine of `config` for `store`, taking back the index `saved` at the last
/// clean stop when the store kept its external items for it.
pub fn open<C: Completion>(
    config: &DiskConfig,
    store: &'static Store,
    saved: Option<&[u8]>,
) -> Result<(Disk<C>, Option<DiskRestore>), DiskError> {
    let start = std::time::Instant::now();
    let mut opening = Opening::new(config.clone())?;
    let restore = match saved {
        _ if !store.external_pending() => None,
        None => Some(DiskRestore::Refused {
            why: "the disk tier's index was not saved".to_string(),
            dropped: store.drop_external(),
        }),
        Some(section) => match opening.restore(section) {
            Ok(()) => {
                let mut live = 0;
                let items = store.adopt_external(|location, key_len, value_len| {
                    let loc = Location::from_bits(location);
                    live += u64::from(opening.count_live(loc, record_len(key_len, value_len)));
                });
                Some(DiskRestore::Restored {
                    items,
                    live,
                    pages: 0,
                    took: std::time::Duration::ZERO,
                })
            }
            Err(why) => Some(DiskRestore::Refused {
                why: why.to_string(),
                dropped: store.drop_external(),
            }),
        },
    };
    let disk: Disk<C> = opening.start(Arc::new(StoreOwner(store)))?;
    let restore = restore.map(|r| match r {
        DiskRestore::Restored { items, live, .. } => DiskRestore::Restored {
            items,
            live,
            pages: disk.stats().pages_used,
            took: start.elapsed(),
        },
        refused => refused,
    });
    Ok((disk, restore))
}

/// The `DISK` section for the restart data: stops the engine (its write buffers go to
/// the files, which are synced), then describes its pages and files. After every worker
/// and the background writer have stopped.
pub fn section<C: Completion>(disk: &Disk<C>) -> std::io::Result<ExtraSection> {
    Ok(ExtraSection {
        tag: COLD_TIER_SECTION,
        version: u32::from(disk::restart::SECTION_VERSION),
        // A build that does not take it drops the items it describes, and that is all.
        required: false,
        payload: disk.restart_section()?,
    })
}
