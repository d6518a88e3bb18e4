//! The kinds of request the latency histograms tell apart (`stats latency`, the metrics'
//! `command` label): one per classic command, one per meta command, and binary opcodes
//! counted as the classic command they mirror (GETKQ is a `get`, SETQ a `set`).

use protocol::text::{GetKind, Request, StoreCommand};
use store::StoreMode;

/// A kind of request; its number indexes the runtime's histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandKind {
    Get,
    Gets,
    Gat,
    Gats,
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
    Delete,
    Incr,
    Decr,
    Touch,
    FlushAll,
    Mg,
    Ms,
    Md,
    Ma,
    Mn,
    Me,
    Stats,
    Version,
    /// Everything else: `verbosity`, `quit`, binary NOOP, a line answered with an error...
    Other,
}

/// The label of each kind, by number.
pub(crate) const NAMES: &[&str] = &[
    "get",
    "gets",
    "gat",
    "gats",
    "set",
    "add",
    "replace",
    "append",
    "prepend",
    "cas",
    "delete",
    "incr",
    "decr",
    "touch",
    "flush_all",
    "mg",
    "ms",
    "md",
    "ma",
    "mn",
    "me",
    "stats",
    "version",
    "other",
];

impl CommandKind {
    /// Its number in the histograms.
    #[inline]
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// A classic text request.
    pub(crate) fn of_text(request: &Request<'_>) -> CommandKind {
        match request {
            Request::Get { kind, .. } => match kind {
                GetKind::Get => CommandKind::Get,
                GetKind::Gets => CommandKind::Gets,
            },
            Request::Gat { kind, .. } => match kind {
                GetKind::Get => CommandKind::Gat,
                GetKind::Gets => CommandKind::Gats,
            },
            Request::Store { command, .. } => match command {
                StoreCommand::Set => CommandKind::Set,
                StoreCommand::Add => CommandKind::Add,
                StoreCommand::Replace => CommandKind::Replace,
                StoreCommand::Append => CommandKind::Append,
                StoreCommand::Prepend => CommandKind::Prepend,
                StoreCommand::Cas => CommandKind::Cas,
            },
            Request::Delete { .. } => CommandKind::Delete,
            Request::Delta { incr: true, .. } => CommandKind::Incr,
            Request::Delta { incr: false, .. } => CommandKind::Decr,
            Request::Touch { .. } => CommandKind::Touch,
            Request::FlushAll { .. } => CommandKind::FlushAll,
            Request::Stats { .. } => CommandKind::Stats,
            Request::Version => CommandKind::Version,
            _ => CommandKind::Other,
        }
    }

    /// A meta line (`mg ...`), by the letter after the `m`.
    pub(crate) fn of_meta(line: &[u8]) -> CommandKind {
        let start = line.iter().position(|&b| b != b' ').unwrap_or(0);
        match line.get(start + 1) {
            Some(b'g') => CommandKind::Mg,
            Some(b's') => CommandKind::Ms,
            Some(b'd') => CommandKind::Md,
            Some(b'a') => CommandKind::Ma,
            Some(b'n') => CommandKind::Mn,
            Some(b'e') => CommandKind::Me,
            _ => CommandKind::Other,
        }
    }

    /// A binary request, by its opcode (quiet and key-returning forms count as their
    /// plain command).
    pub(crate) fn of_opcode(opcode: u8) -> CommandKind {
        match opcode {
            0x00 | 0x09 | 0x0c | 0x0d => CommandKind::Get,
            0x01 | 0x11 => CommandKind::Set,
            0x02 | 0x12 => CommandKind::Add,
            0x03 | 0x13 => CommandKind::Replace,
            0x04 | 0x14 => CommandKind::Delete,
            0x05 | 0x15 => CommandKind::Incr,
            0x06 | 0x16 => CommandKind::Decr,
            0x08 | 0x18 => CommandKind::FlushAll,
            0x0b => CommandKind::Version,
            0x0e | 0x19 => CommandKind::Append,
            0x0f | 0x1a => CommandKind::Prepend,
            0x10 => CommandKind::Stats,
            0x1c => CommandKind::Touch,
            0x1d | 0x1e | 0x23 | 0x24 => CommandKind::Gat,
            _ => CommandKind::Other,
        }
    }

    /// A classic storage command finished after its value was read into place.
    pub(crate) fn of_store(mode: StoreMode) -> CommandKind {
        match mode {
            StoreMode::Set => CommandKind::Set,
            StoreMode::Add => CommandKind::Add,
            StoreMode::Replace => CommandKind::Replace,
            StoreMode::Append => CommandKind::Append,
            StoreMode::Prepend => CommandKind::Prepend,
            StoreMode::Cas(_) => CommandKind::Cas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_name_and_fits_the_histograms() {
        assert_eq!(NAMES.len(), CommandKind::Other.index() + 1);
        assert!(NAMES.len() <= crate::runtime::latency::KINDS);
        assert_eq!(NAMES[CommandKind::FlushAll.index()], "flush_all");
        assert_eq!(NAMES[CommandKind::Me.index()], "me");
    }

    #[test]
    fn meta_lines_and_opcodes_map_to_their_commands() {
        assert_eq!(CommandKind::of_meta(b"mg foo v"), CommandKind::Mg);
        assert_eq!(CommandKind::of_meta(b"  ms foo 2"), CommandKind::Ms);
        assert_eq!(CommandKind::of_meta(b"mx"), CommandKind::Other);
        assert_eq!(CommandKind::of_opcode(0x0d), CommandKind::Get);
        assert_eq!(CommandKind::of_opcode(0x11), CommandKind::Set);
        assert_eq!(CommandKind::of_opcode(0x24), CommandKind::Gat);
        assert_eq!(CommandKind::of_opcode(0x0a), CommandKind::Other);
    }
}
