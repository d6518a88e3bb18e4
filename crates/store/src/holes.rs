//! Holes: the room that large items left behind when they died (overwritten, deleted,
//! expired, or a reservation never committed) inside segments that are still in use, so
//! that a new large item can be written there instead of at the end of the log.
//!
//! Without them a log-structured heap gets memory back only by moving a segment's
//! survivors elsewhere (compaction) or by waiting until all its items are dead; under an
//! overwrite load of 64 KiB values that kept the heap at two to four times the live data,
//! and moving a 64 KiB value costs about as much CPU as the request that wrote it. Reusing
//! the hole costs nothing but the bookkeeping here: it is what memcached does with a freed
//! slab chunk. Small items (under `layout::LARGE`) never leave holes: their dead bytes are
//! too many and too small to track, and compacting them is cheap.
//!
//! Two levels: each segment keeps its own holes (`SegmentHoles`, adjacent ones merged, so
//! neighbours that die become one larger hole), and each TTL bucket keeps the segments
//! that have some (`Roomy`), newest last. A taker looks at a few segments from the newest
//! and takes the best fitting hole of the first that has one.
//!
//! ```text
//! bucket 0: Roomy [ (seg 7, gen 3) (seg 2, gen 9) ]      seg 2: [ 131200+65600 | 393600+131200 ]
//! ```
//!
//! A hole is only a hint, tied to its segment's generation (bumped whenever the segment is
//! reused): the store checks that the generation is unchanged, that the segment is sealed
//! and that no reader can still see the dead item before it writes there
//! (`Store::take_hole`).

use std::collections::VecDeque;

/// The holes of one segment, in the generation they were recorded in.
#[derive(Default)]
pub(crate) struct SegmentHoles {
    generation: u32,
    /// `(offset in the segment, length)`, in no order, never adjacent (merged instead).
    holes: Vec<(u32, u32)>,
}

impl SegmentHoles {
    /// Records `len` bytes at `off` in generation `generation` (forgetting holes of an
    /// earlier one), merged with the holes on either side. True if the segment had none.
    pub(crate) fn add(&mut self, generation: u32, off: u32, len: u32) -> bool {
        if self.generation != generation {
            self.holes.clear();
            self.generation = generation;
        }
        let was_empty = self.holes.is_empty();
        let (mut off, mut len) = (off, len);
        let mut i = 0;
        while i < self.holes.len() {
            let (o, l) = self.holes[i];
            if o + l == off {
                off = o;
                len += l;
                self.holes.swap_remove(i);
            } else if off + len == o {
                len += l;
                self.holes.swap_remove(i);
            } else {
                i += 1;
            }
        }
        self.holes.push((off, len));
        was_empty
    }

    /// The smallest hole of generation `generation` that takes `span` bytes and leaves 0
    /// or at least `min_rest`.
    pub(crate) fn best_fit(&self, generation: u32, span: u32, min_rest: u32) -> Option<usize> {
        if self.generation != generation {
            return None;
        }
        self.holes
            .iter()
            .enumerate()
            .filter(|&(_, &(_, l))| l == span || l >= span + min_rest)
            .min_by_key(|&(_, &(_, l))| l)
            .map(|(i, _)| i)
    }

    /// Takes the first `span` bytes of hole `i`: its offset, and the length left after them
    /// (kept as a hole if at least `keep`).
    pub(crate) fn take(&mut self, i: usize, span: u32, keep: u32) -> (u32, u32) {
        let (off, len) = self.holes[i];
        let rest = len - span;
        if rest >= keep {
            self.holes[i] = (off + span, rest);
        } else {
            self.holes.swap_remove(i);
        }
        (off, rest)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.holes.is_empty()
    }

    #[cfg(test)]
    fn spans(&self) -> Vec<(u32, u32)> {
        let mut v = self.holes.clone();
        v.sort_unstable();
        v
    }
}

/// The segments of one TTL bucket that have holes, as `(segment, generation)`, newest
/// last. Entries can go stale (the segment was reclaimed); they are dropped when met.
#[derive(Default)]
pub(crate) struct Roomy {
    segs: VecDeque<(u32, u32)>,
    /// When the list reaches this length, stale entries are dropped first (so it stays
    /// proportional to the segments that can still have holes).
    prune_at: usize,
}

impl Roomy {
    pub(crate) fn push(&mut self, seg: u32, generation: u32, stale: impl Fn(u32, u32) -> bool) {
        if self.segs.len() >= self.prune_at {
            self.segs.retain(|&(s, g)| !stale(s, g));
            self.prune_at = (self.segs.len() * 2).max(64);
        }
        self.segs.push_back((seg, generation));
    }

    pub(crate) fn len(&self) -> usize {
        self.segs.len()
    }

    /// The `i`th newest entry.
    pub(crate) fn newest(&self, i: usize) -> (u32, u32) {
        self.segs[self.segs.len() - 1 - i]
    }

    /// Removes the `i`th newest entry.
    pub(crate) fn remove_newest(&mut self, i: usize) {
        self.segs.remove(self.segs.len() - 1 - i);
    }

    /// Moves the `i`th newest entry to the oldest end: its holes fit nothing just now, so
    /// the next takers look elsewhere first.
    pub(crate) fn demote_newest(&mut self, i: usize) {
        if let Some(e) = self.segs.remove(self.segs.len() - 1 - i) {
            self.segs.push_front(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_merge_and_generations_forget() {
        let mut h = SegmentHoles::default();
        assert!(h.add(1, 100, 50));
        assert!(!h.add(1, 300, 50));
        assert!(!h.add(1, 150, 150)); // joins both
        assert_eq!(h.spans(), vec![(100, 250)]);
        assert!(!h.add(1, 0, 100));
        assert_eq!(h.spans(), vec![(0, 350)]);
        assert!(h.add(2, 500, 64), "a new generation starts empty");
        assert_eq!(h.spans(), vec![(500, 64)]);
        assert_eq!(
            h.best_fit(1, 64, 13),
            None,
            "holes of another generation never fit"
        );
    }

    #[test]
    fn best_fit_takes_the_smallest_that_leaves_room_for_a_filler() {
        let mut h = SegmentHoles::default();
        h.add(1, 0, 1000);
        h.add(1, 2000, 520);
        h.add(1, 4000, 505);
        // 505 would leave 5 bytes, too few for a filler; 520 leaves 20.
        let i = h.best_fit(1, 500, 13).unwrap();
        assert_eq!(h.take(i, 500, 64), (2000, 20));
        assert_eq!(h.spans(), vec![(0, 1000), (4000, 505)]);
        let i = h.best_fit(1, 505, 13).unwrap();
        assert_eq!(h.take(i, 505, 64), (4000, 0));
        let i = h.best_fit(1, 600, 13).unwrap();
        assert_eq!(h.take(i, 600, 64), (0, 400));
        assert_eq!(h.spans(), vec![(600, 400)]);
        assert!(!h.is_empty());
    }

    #[test]
    fn stale_entries_are_pruned_as_the_list_grows() {
        let mut r = Roomy::default();
        for s in 0..200 {
            r.push(s, 1, |s, _| s % 2 == 1);
        }
        assert!(r.len() < 200 && r.len() >= 100, "{}", r.len());
        assert_eq!(r.newest(0), (199, 1));
        r.demote_newest(0);
        assert_eq!(r.newest(0), (198, 1));
        r.remove_newest(0);
        assert_eq!(r.newest(0), (197, 1));
    }
}
