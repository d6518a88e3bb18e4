//! How a pool spreads keys over its live servers: twemproxy's ketama, modula and random,
//! and libmemcached's weighted ketama.
//!
//! ```
//! use proxy::{Distribution, Member, Ring};
//! let members = [
//!     Member { server: 0, name: b"a", weight: 1 },
//!     Member { server: 1, name: b"b", weight: 1 },
//! ];
//! let ring = Ring::build(Distribution::Ketama, &members);
//! assert_eq!(ring.points().len(), 320); // 160 points per server
//! let placed = ring.locate(0xdead_beef, 0).unwrap();
//! assert!(placed.server < 2);
//! ```
//!
//! A [`Ring`] is built for one set of live servers and rebuilt when that set changes
//! (an ejection or a return), as twemproxy rebuilds its continuum: the points of every
//! live server are recomputed from the live count and the live servers' total weight, so
//! an ejection moves more than the dead server's keys, exactly as nutcracker moves them.
//!
//! Ketama, by the numbers: a server gets `floor(weight / total * 160 / 4 * live) * 4`
//! points, computed in 32-bit floats as twemproxy and libmemcached compute them; point
//! group `i` is the MD5 of `name-i`, each digest giving four points (its little-endian
//! words). Points are sorted by value with a stable sort (glibc's `qsort` is a merge sort
//! for arrays this size), so equal values keep the order servers were added in; a key
//! goes to the first point at or after its hash, wrapping to the first point.

use crate::hash::md5_words;

/// How keys are spread over a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// twemproxy's consistent hashing (its default).
    Ketama,
    /// libmemcached's weighted ketama (`MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, pylibmc's
    /// `ketama_weighted`): the same continuum arithmetic over libmemcached's server names
    /// (`host` or `host:port`, never a configured name), servers in configuration order.
    KetamaLibmemcached,
    /// `hash % total weight` over the live servers, each taking `weight` slots.
    Modula,
    /// Any live server, ignoring the key.
    Random,
}

impl Distribution {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Ketama => "ketama",
            Distribution::KetamaLibmemcached => "ketama_libmemcached",
            Distribution::Modula => "modula",
            Distribution::Random => "random",
        }
    }

    /// Any distribution by its configuration name (Corvid's TOML).
    pub fn from_name(name: &str) -> Option<Distribution> {
        [
            Distribution::Ketama,
            Distribution::KetamaLibmemcached,
            Distribution::Modula,
            Distribution::Random,
        ]
        .into_iter()
        .find(|d| d.name() == name)
    }

    /// Only the distributions nutcracker knows (its YAML).
    pub fn from_twemproxy_name(name: &str) -> Option<Distribution> {
        Distribution::from_name(name).filter(|d| *d != Distribution::KetamaLibmemcached)
    }

    /// Whether servers take part in the order nutcracker sorts them into (by continuum
    /// name, shorter names first), rather than configuration order. It matters for modula
    /// and random slot order and for ketama points of equal value.
    pub fn sorts_servers(self) -> bool {
        self != Distribution::KetamaLibmemcached
    }
}

/// A live server as the ring sees it.
#[derive(Clone, Copy, Debug)]
pub struct Member<'a> {
    /// Index of the server in its pool's configuration order.
    pub server: u32,
    /// The name hashed onto the continuum (ketama only).
    pub name: &'a [u8],
    pub weight: u32,
}

/// One point of a ketama continuum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    pub value: u32,
    pub server: u32,
}

/// Where a hash landed, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    /// The server, by its index in the pool's configuration order.
    pub server: u32,
    /// The entry of the ring that chose it: the continuum point, the modula slot's
    /// server entry, or the random pick. Failover walks on from here.
    pub entry: usize,
    pub detail: Detail,
}

/// The arithmetic behind a placement, for `--explain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// The first continuum point at or after the hash; `wrapped` when the hash was past
    /// the last point and the first was taken.
    Point { value: u32, wrapped: bool },
    /// `hash % total` fell in this server's slots.
    Slot { remainder: u64, total: u64 },
    /// Picked at random.
    Random,
}

/// A distribution built over one set of live servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ring {
    distribution: Distribution,
    layout: Layout,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Layout {
    /// Sorted points.
    Continuum(Vec<Point>),
    /// Servers in ring order with the running total of their weights (modula), or with
    /// one slot each (random).
    Slots(Vec<(u64, u32)>),
}

/// twemproxy's and libmemcached's `KETAMA_POINTS_PER_SERVER`.
const POINTS_PER_SERVER: f32 = 160.0;
/// Points per MD5 digest.
const POINTS_PER_HASH: u32 = 4;

impl Ring {
    /// A ring over `members`, which must be the live servers in ring order (see
    /// [`Distribution::sorts_servers`]).
    pub fn build(distribution: Distribution, members: &[Member<'_>]) -> Ring {
        let layout = match distribution {
            Distribution::Ketama | Distribution::KetamaLibmemcached => {
                Layout::Continuum(continuum(distribution, members))
            }
            Distribution::Modula => {
                let mut total = 0u64;
                let slots = members
                    .iter()
                    .map(|m| {
                        total += u64::from(m.weight);
                        (total, m.server)
                    })
                    .collect();
                Layout::Slots(slots)
            }
            Distribution::Random => Layout::Slots(
                members
                    .iter()
                    .zip(1u64..)
                    .map(|(m, end)| (end, m.server))
                    .collect(),
            ),
        };
        Ring {
            distribution,
            layout,
        }
    }

    pub fn distribution(&self) -> Distribution {
        self.distribution
    }

    /// No live server: nothing can be placed.
    pub fn is_empty(&self) -> bool {
        self.entries() == 0
    }

    /// The continuum's points (empty for modula and random).
    pub fn points(&self) -> &[Point] {
        match &self.layout {
            Layout::Continuum(points) => points,
            Layout::Slots(_) => &[],
        }
    }

    /// Entries a failover walk can visit (points, or servers).
    pub fn entries(&self) -> usize {
        match &self.layout {
            Layout::Continuum(points) => points.len(),
            Layout::Slots(slots) => slots.len(),
        }
    }

    /// The server of an entry (`entry < entries()`).
    pub fn entry_server(&self, entry: usize) -> u32 {
        match &self.layout {
            Layout::Continuum(points) => points[entry].server,
            Layout::Slots(slots) => slots[entry].1,
        }
    }

    /// Where `hash` goes; `entropy` picks the server for `random`. `None` when no server
    /// is live.
    pub fn locate(&self, hash: u32, entropy: u64) -> Option<Located> {
        match &self.layout {
            Layout::Continuum(points) => {
                if points.is_empty() {
                    return None;
                }
                let at = points.partition_point(|p| p.value < hash);
                let wrapped = at == points.len();
                let entry = if wrapped { 0 } else { at };
                Some(Located {
                    server: points[entry].server,
                    entry,
                    detail: Detail::Point {
                        value: points[entry].value,
                        wrapped,
                    },
                })
            }
            Layout::Slots(slots) => {
                let total = slots.last()?.0;
                let (remainder, detail) = match self.distribution {
                    Distribution::Random => (entropy % total, Detail::Random),
                    _ => {
                        let remainder = u64::from(hash) % total;
                        (remainder, Detail::Slot { remainder, total })
                    }
                };
                let entry = slots.partition_point(|&(end, _)| end <= remainder);
                Some(Located {
                    server: slots[entry].1,
                    entry,
                    detail,
                })
            }
        }
    }
}

fn continuum(distribution: Distribution, members: &[Member<'_>]) -> Vec<Point> {
    let live = members.len() as u32;
    // twemproxy sums weights in a uint32_t, libmemcached in a uint64_t; the sum only
    // differs for weights no one configures, but the float division sees it.
    let total = match distribution {
        Distribution::KetamaLibmemcached => {
            members.iter().map(|m| u64::from(m.weight)).sum::<u64>() as f32
        }
        _ => members
            .iter()
            .fold(0u32, |sum, m| sum.wrapping_add(m.weight)) as f32,
    };
    let mut points = Vec::with_capacity(members.len() * POINTS_PER_SERVER as usize);
    let mut name = Vec::new();
    for member in members {
        for group in 0..points_per_server(member.weight, total, live) / POINTS_PER_HASH {
            name.clear();
            name.extend_from_slice(member.name);
            name.push(b'-');
            name.extend_from_slice(group.to_string().as_bytes());
            for value in md5_words(&name) {
                points.push(Point {
                    value,
                    server: member.server,
                });
            }
        }
    }
    // Stable, as glibc's merge sort: equal values keep the order their servers came in.
    points.sort_by_key(|p| p.value);
    points
}

/// `floorf((float)(pct * 160 / 4 * (float)live + 0.0000000001)) * 4`, step by step in the
/// types the C expression has: float throughout, except that the tiny constant is a
/// double, so the sum is taken in double and rounded back to float before the floor.
fn points_per_server(weight: u32, total: f32, live: u32) -> u32 {
    let pct = weight as f32 / total;
    let scaled = pct * POINTS_PER_SERVER / 4.0 * live as f32;
    let nudged = (f64::from(scaled) + 0.000_000_000_1) as f32;
    (nudged.floor() * 4.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members<'a>(names: &'a [&'a str], weights: &[u32]) -> Vec<Member<'a>> {
        names
            .iter()
            .zip(weights)
            .zip(0u32..)
            .map(|((n, &w), i)| Member {
                server: i,
                name: n.as_bytes(),
                weight: w,
            })
            .collect()
    }

    #[test]
    fn equal_weights_get_160_points_each() {
        for n in 1..=12u32 {
            let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let ring = Ring::build(Distribution::Ketama, &members(&refs, &vec![1; n as usize]));
            // With n = 3, 5, 6, 7, 9, 10, 11, 12 the float arithmetic lands just under
            // a whole number for no server, so every server keeps its 160.
            let total: usize = ring.points().len();
            assert!(
                total <= 160 * n as usize && total >= 156 * n as usize,
                "{n}"
            );
        }
    }

    #[test]
    fn points_per_server_is_float_arithmetic() {
        assert_eq!(points_per_server(1, 1.0, 1), 160);
        assert_eq!(points_per_server(1, 2.0, 2), 160);
        assert_eq!(points_per_server(1, 3.0, 3), 160);
        assert_eq!(points_per_server(2, 3.0, 2), 212); // 2/3 * 40 * 2 = 53.33 -> 53 * 4
        assert_eq!(points_per_server(1, 3.0, 2), 104); // 1/3 * 40 * 2 = 26.67 -> 26 * 4
    }

    #[test]
    fn lookup_takes_the_first_point_at_or_after_and_wraps() {
        let ring = Ring::build(Distribution::Ketama, &members(&["a", "b"], &[1, 1]));
        let points = ring.points().to_vec();
        assert!(points.windows(2).all(|w| w[0].value <= w[1].value));
        let exact = ring.locate(points[10].value, 0).unwrap();
        assert_eq!(
            exact.entry,
            points.partition_point(|p| p.value < points[10].value)
        );
        let past = ring.locate(u32::MAX, 0).unwrap();
        if points.last().unwrap().value < u32::MAX {
            assert_eq!(past.entry, 0);
            assert!(matches!(past.detail, Detail::Point { wrapped: true, .. }));
        }
        let first = ring.locate(0, 0).unwrap();
        assert_eq!(first.entry, 0);
    }

    #[test]
    fn modula_slots_follow_weights() {
        let ring = Ring::build(Distribution::Modula, &members(&["a", "b", "c"], &[1, 2, 1]));
        let servers: Vec<u32> = (0..4).map(|h| ring.locate(h, 0).unwrap().server).collect();
        assert_eq!(servers, [0, 1, 1, 2]);
        assert_eq!(ring.locate(5, 0).unwrap().server, 1);
        assert!(ring.points().is_empty());
    }

    #[test]
    fn random_ignores_the_hash() {
        let ring = Ring::build(Distribution::Random, &members(&["a", "b", "c"], &[5, 1, 1]));
        let picks: Vec<u32> = (0..3).map(|e| ring.locate(7, e).unwrap().server).collect();
        assert_eq!(picks, [0, 1, 2]);
    }

    #[test]
    fn an_empty_ring_places_nothing() {
        for d in [
            Distribution::Ketama,
            Distribution::KetamaLibmemcached,
            Distribution::Modula,
            Distribution::Random,
        ] {
            let ring = Ring::build(d, &[]);
            assert!(ring.is_empty());
            assert_eq!(ring.locate(1, 1), None);
        }
    }

    #[test]
    fn names() {
        assert_eq!(
            Distribution::from_twemproxy_name("ketama_libmemcached"),
            None
        );
        assert_eq!(
            Distribution::from_name("ketama_libmemcached"),
            Some(Distribution::KetamaLibmemcached)
        );
        assert_eq!(
            Distribution::from_twemproxy_name("modula"),
            Some(Distribution::Modula)
        );
    }
}
