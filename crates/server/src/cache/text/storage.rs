//! Storage commands' modes and reply lines, and [`finish`]: the commit of a value that
//! was read into its reservation.

use crate::cache::value::Pinned;
use crate::runtime::Reply;
use protocol::text::{self, StoreCommand};
use store::{StoreMode, StoreOutcome};

pub(super) fn store_mode(command: StoreCommand, cas: u64) -> StoreMode {
    match command {
        StoreCommand::Set => StoreMode::Set,
        StoreCommand::Add => StoreMode::Add,
        StoreCommand::Replace => StoreMode::Replace,
        StoreCommand::Append => StoreMode::Append,
        StoreCommand::Prepend => StoreMode::Prepend,
        StoreCommand::Cas => StoreMode::Cas(cas),
    }
}

/// The reply for a storage outcome.
pub(super) fn outcome_line(outcome: StoreOutcome) -> &'static [u8] {
    match outcome {
        StoreOutcome::Stored { .. } => text::STORED,
        StoreOutcome::NotStored => text::NOT_STORED,
        StoreOutcome::Exists => text::EXISTS,
        StoreOutcome::NotFound => text::NOT_FOUND,
        // Append or prepend to a value that went to disk while its data was being read:
        // what memcached answers for a value on disk.
        StoreOutcome::OnDisk(_) => text::NOT_STORED,
    }
}

/// Commits a value read into its reservation (the "\r\n" after it was `terminated`).
pub(crate) fn finish(
    reservation: store::Reservation<'static>,
    mode: StoreMode,
    noreply: bool,
    terminated: bool,
    reply: &mut Reply<'_, Pinned>,
) -> Option<StoreOutcome> {
    if terminated {
        let outcome = reservation.commit(mode);
        reply.unless(noreply, outcome_line(outcome));
        Some(outcome)
    } else {
        drop(reservation);
        reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
        None
    }
}
