//! One declaration per set of per-worker counters, from which the atomics, their sums
//! and what `stats reset` clears all follow: a counter cannot be summed but forgotten by
//! the reset, or the reverse.
//!
//! ```ignore
//! counter_set! {
//!     /// One worker's counters.
//!     pub struct Counts, sums Sums {
//!         /// Requests answered: cleared by `stats reset`.
//!         requests: reset,
//!         /// Buffers held now: a gauge, kept.
//!         buffers: kept,
//!     }
//! }
//! ```
//!
//! makes `Counts` (a `pub` `AtomicU64` per name, plus any `extra` fields), `Sums` (a
//! `u64` per name), `Counts::add_to(&self, &mut Sums)` and `Counts::reset(&self)`, which
//! clears the `reset` ones.

/// See the module's documentation.
macro_rules! counter_set {
    (
        $(#[$meta:meta])*
        pub struct $name:ident, sums $sums:ident {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident, )*
        }
        $( extra { $( $(#[$emeta:meta])* pub $efield:ident : $ety:ty, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: std::sync::atomic::AtomicU64, )*
            $( $( $(#[$emeta])* pub $efield: $ety, )* )?
        }

        /// The sums of every worker's counters.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct $sums {
            $( $(#[$fmeta])* pub $field: u64, )*
        }

        impl $name {
            /// Adds these counters to `sums`.
            pub fn add_to(&self, sums: &mut $sums) {
                $( sums.$field += self.$field.load(std::sync::atomic::Ordering::Relaxed); )*
            }

            /// Clears what `stats reset` clears (the `reset` counters; gauges and
            /// diagnostics are `kept`).
            pub fn reset(&self) {
                $( crate::counter_set::counter_set!(@reset $kind self.$field); )*
            }
        }
    };
    (@reset reset $counter:expr) => {
        $counter.store(0, std::sync::atomic::Ordering::Relaxed)
    };
    (@reset kept $counter:expr) => {
        ()
    };
}

pub(crate) use counter_set;

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    counter_set! {
        /// Test counters.
        pub struct Counts, sums Sums {
            /// Cleared.
            requests: reset,
            /// Kept.
            buffers: kept,
        }
        extra {
            /// Not a counter.
            pub label: u8,
        }
    }

    #[test]
    fn sums_cover_every_counter_and_reset_only_the_reset_ones() {
        let workers = [Counts::default(), Counts::default()];
        workers[0].requests.store(2, Relaxed);
        workers[1].requests.store(3, Relaxed);
        workers[1].buffers.store(7, Relaxed);
        let sum = |w: &[Counts]| {
            let mut s = Sums::default();
            w.iter().for_each(|c| c.add_to(&mut s));
            s
        };
        assert_eq!(
            sum(&workers),
            Sums {
                requests: 5,
                buffers: 7
            }
        );
        workers.iter().for_each(Counts::reset);
        assert_eq!(
            sum(&workers),
            Sums {
                requests: 0,
                buffers: 7
            }
        );
        assert_eq!(workers[0].label, 0);
    }
}
