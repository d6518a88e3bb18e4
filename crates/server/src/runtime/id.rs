//! Connection ids: a slot in the worker's session table plus the slot's generation, so
//! that a completion (or a readiness event) meant for a connection that has closed is
//! recognised as stale even when a new connection took over its slot.
//!
//! ```
//! use server::runtime::ConnId;
//! let id = ConnId::new(3, 7);
//! assert_eq!(ConnId::from_token(id.token()), Some(id));
//! ```

use mio::Token;

// A ConnId travels as a mio token: slot in the low half, generation in the high half.
const _: () = assert!(usize::BITS == 64, "connection ids need 64-bit tokens");

/// Slots stay below this, so that the tokens the worker keeps for itself (its waker,
/// the service's ports: the top of the token space) never look like a connection.
const MAX_SLOTS: u32 = 1 << 31;

/// Which connection of a worker: its slot and the generation the slot had when the
/// connection opened. Cheap to copy; meaningless on another worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    slot: u32,
    generation: u32,
}

impl ConnId {
    /// An id from its parts (tests and logs; a worker hands out the real ones).
    pub fn new(slot: u32, generation: u32) -> ConnId {
        ConnId { slot, generation }
    }

    /// The slot: reused by a later connection once this one has closed.
    pub fn slot(self) -> u32 {
        self.slot
    }

    /// The slot's generation: different for every connection that uses the slot.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// The poll token of this connection's socket.
    pub fn token(self) -> Token {
        Token(((self.generation as usize) << 32) | self.slot as usize)
    }

    /// The id a poll token stands for, if it is a connection's.
    pub fn from_token(token: Token) -> Option<ConnId> {
        let slot = (token.0 & 0xffff_ffff) as u32;
        (slot < MAX_SLOTS).then_some(ConnId {
            slot,
            generation: (token.0 >> 32) as u32,
        })
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.slot, self.generation)
    }
}

/// Hands out ids. Freed slots are reused last-freed first, each time with a new
/// generation.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    generations: Vec<u32>,
    free: Vec<u32>,
}

impl Ids {
    /// An id for a new connection.
    pub(crate) fn allocate(&mut self) -> ConnId {
        if let Some(slot) = self.free.pop() {
            return ConnId {
                slot,
                generation: self.generations[slot as usize],
            };
        }
        let slot = self.generations.len() as u32;
        assert!(slot < MAX_SLOTS, "more connections than slots");
        self.generations.push(0);
        ConnId {
            slot,
            generation: 0,
        }
    }

    /// Frees `id`'s slot; from now on `id` is stale.
    pub(crate) fn release(&mut self, id: ConnId) {
        if self.is_current(id) {
            let generation = &mut self.generations[id.slot as usize];
            *generation = generation.wrapping_add(1);
            self.free.push(id.slot);
        }
    }

    /// Whether `id` may name a connection open now: false for every id whose connection
    /// has closed. (A free slot's next generation also passes; no connection holds it, and
    /// the worker finds no session there.)
    pub(crate) fn is_current(&self, id: ConnId) -> bool {
        self.generations.get(id.slot as usize) == Some(&id.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_gets_a_new_generation() {
        let mut ids = Ids::default();
        let a = ids.allocate();
        let b = ids.allocate();
        assert_ne!(a.slot(), b.slot());
        ids.release(a);
        assert!(!ids.is_current(a));
        let c = ids.allocate();
        assert_eq!(c.slot(), a.slot());
        assert_ne!(c.generation(), a.generation());
        assert!(ids.is_current(c) && ids.is_current(b) && !ids.is_current(a));
        // Releasing a stale id frees nothing.
        ids.release(a);
        assert!(ids.is_current(c));
    }

    #[test]
    fn tokens_round_trip_and_reserved_tokens_are_not_connections() {
        let id = ConnId::new(12, u32::MAX);
        assert_eq!(ConnId::from_token(id.token()), Some(id));
        assert_eq!(ConnId::from_token(Token(usize::MAX)), None);
        assert_eq!(ConnId::from_token(Token(usize::MAX - 5)), None);
    }
}
