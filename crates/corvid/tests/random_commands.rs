//! Differential testing on generated input: seeded random mixes of valid and broken
//! commands (every classic command, noreply, bad numbers, bad data chunks, oversized
//! values, split writes) over a few keys, so commands interact. Each seed becomes a script
//! in the language of tests/scripts/ and runs through the same comparison; a failing seed's
//! script is written out so it can be replayed as a regular script.
//!
//! The generator avoids what memcached itself does not do deterministically: time-based
//! expiry (only exptimes whose outcome is immediate), stats, incr/decr on an empty value
//! (memcached reads past it into neighbouring memory), incr/decr that shrink a number
//! (memcached then rewrites in place or not depending on references held by its background
//! threads), `flush_all <delay>` (it lifts an earlier flush for items its background
//! threads have not reclaimed yet), long data after a rejected command line (memcached
//! parses it as commands, and whether a partly received long line closes the connection
//! depends on how the bytes arrive), and a get with a too-long key behind other commands
//! (memcached then drops the replies it has not sent yet, so the outcome depends on timing).

mod support;

use support::run::compare;
use support::script::Script;
use support::Implementation;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=24;
const COMMANDS_PER_SEED: usize = 150;

/// xorshift64*: small, seedable, good enough to pick among a few choices.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &["a", "b", "c", "num", "big"];
const FLAGS: &[&str] = &["0", "1", "4294967295", "-1", "x"];
/// Only exptimes whose effect is known at once: never, far future, already expired.
const EXPTIMES: &[&str] = &["0", "0", "100", "4000000000", "-1", "2592001", "abc"];
const DELTAS: &[&str] = &["1", "1", "7", "0", "abc", "-1", "18446744073709551616"];
/// No 'V', so no data line can look like the VERSION line that ends each batch.
const ALPHABET: &[u8] = b"abcxyz0123456789 :-";
const LETTERS: &[u8] = b"abcxyz";

fn data(rng: &mut Rng, verb: &str, key: &str) -> String {
    if key == "num" && !rng.chance(4) {
        // No leading zero: prepending "0" to a number would let an incr shrink it.
        return (1 + rng.below(999)).to_string();
    }
    // An empty value only where it cannot create an empty item: memcached's incr on an
    // empty value reads past it into neighbouring memory and answers whatever digits it
    // finds there.
    let lengths: &[usize] = if matches!(verb, "append" | "prepend") {
        &[0, 1, 3, 10, 100, 3000]
    } else {
        &[1, 1, 3, 10, 100, 3000]
    };
    let len = lengths[rng.below(lengths.len())];
    // A letter first: memcached reads "746 anything" as the number 746, and an incr or decr
    // would then shrink the value (see the module comment).
    (0..len)
        .map(|i| {
            let choices = if i == 0 { LETTERS } else { ALPHABET };
            choices[rng.below(choices.len())] as char
        })
        .collect()
}

fn keys(rng: &mut Rng) -> String {
    let n = 1 + rng.below(4);
    (0..n).map(|_| rng.pick(KEYS)).collect::<Vec<_>>().join(" ")
}

fn noreply(rng: &mut Rng) -> &'static str {
    if rng.chance(4) {
        " noreply"
    } else {
        ""
    }
}

/// One command as script parts (quoted strings, possibly repeated).
fn command(rng: &mut Rng) -> String {
    let key = rng.pick(KEYS);
    match rng.below(20) {
        0..=5 => {
            let verb = rng.pick(&["set", "set", "add", "replace", "append", "prepend"]);
            storage(rng, verb, key, "")
        }
        6 => {
            let cas = match rng.below(4) {
                0 => "0".to_string(),
                1 => "abc".to_string(),
                _ => format!("${{cas{}}}", 1 + rng.below(8)),
            };
            storage(rng, "cas", key, &format!(" {cas}"))
        }
        7..=9 => {
            let verb = rng.pick(&["get", "gets", "gets"]);
            format!("\"{verb} {}\\r\\n\"", keys(rng))
        }
        10 => {
            let verb = rng.pick(&["gat", "gats"]);
            format!("\"{verb} {} {}\\r\\n\"", rng.pick(EXPTIMES), keys(rng))
        }
        11 | 12 => {
            // decr only where it cannot shrink a number: see the module comment.
            let (verb, delta) = if rng.chance(3) {
                ("decr", rng.pick(&["0", "abc", "-1"]))
            } else {
                ("incr", rng.pick(DELTAS))
            };
            format!("\"{verb} {key} {delta}{}\\r\\n\"", noreply(rng))
        }
        13 => format!(
            "\"touch {key} {}{}\\r\\n\"",
            rng.pick(EXPTIMES),
            noreply(rng)
        ),
        14 => {
            let extra = rng.pick(&["", "", " 0", " 1"]);
            format!("\"delete {key}{extra}{}\\r\\n\"", noreply(rng))
        }
        15 => {
            let delay = rng.pick(&["", "", " 0", " -1", " abc"]);
            format!("\"flush_all{delay}{}\\r\\n\"", noreply(rng))
        }
        16 => rng
            .pick(&[
                "\"verbosity\\r\\n\"",
                "\"verbosity 1\\r\\n\"",
                "\"verbosity 0 noreply\\r\\n\"",
                "\"bogus\\r\\n\"",
                "\"GET a\\r\\n\"",
                "\"\\r\\n\"",
                "\"set a 0 0\\r\\n\"",
                "\"incr\\r\\n\"",
            ])
            .to_string(),
        17 => format!("\"get a \" \"k\"*{} \" b\\r\\n\"", 249 + rng.below(2)),
        _ => storage(rng, "set", key, ""),
    }
}

fn storage(rng: &mut Rng, verb: &str, key: &str, cas: &str) -> String {
    let flags = if rng.chance(8) { rng.pick(FLAGS) } else { "0" };
    let exptime = if rng.chance(6) {
        rng.pick(EXPTIMES)
    } else {
        "0"
    };
    let reply = noreply(rng);
    let rejected = ["-1", "x", "abc"].contains(&flags) || exptime == "abc" || cas == " abc";
    if rejected {
        // The data becomes a command line of its own: keep it short and terminated.
        let value: String = data(rng, verb, key).chars().take(100).collect();
        return format!(
            "\"{verb} {key} {flags} {exptime} {}{cas}{reply}\\r\\n{value}\\r\\n\"",
            value.len()
        );
    }
    if rng.chance(40) {
        // Over -I: the server answers SERVER_ERROR (unless noreply) and swallows the data.
        return format!(
            "\"{verb} {key} {flags} {exptime} 1048577{cas}{reply}\\r\\n\" \"z\"*1048577 \"\\r\\n\""
        );
    }
    let value = data(rng, verb, key);
    // Now and then the two bytes after the data are not \r\n: a bad data chunk.
    let end = if rng.chance(12) { "XY" } else { "\\r\\n" };
    format!(
        "\"{verb} {key} {flags} {exptime} {}{cas}{reply}\\r\\n{value}{end}\"",
        value.len()
    )
}

/// The script for one seed: batches of commands, each batch closed by a `version` whose
/// reply marks where the batch's replies end.
fn generate(seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut text = format!("# generated by random_commands.rs, seed {seed}\n");
    // Half the seeds run with other server flags (one worker thread, no CAS, a yield after
    // every request, a larger item limit), some over a Unix socket.
    match seed % 8 {
        1 => text.push_str("args -t 1\n"),
        3 => text.push_str("args -C\n"),
        5 => text.push_str("args -R 1\n"),
        6 => text.push_str("transport unix\n"),
        7 => text.push_str("args -I 2m\n"),
        _ => {}
    }
    let mut written = 0;
    while written < COMMANDS_PER_SEED {
        // Batches move between three connections, which now and then close (a later batch
        // on the same name opens a new one): state must not leak between connections.
        if rng.chance(3) {
            text.push_str(&format!(
                "conn {}\n",
                rng.pick(&["main", "second", "third"])
            ));
        } else if rng.chance(30) {
            text.push_str("close\n");
        }
        let batch = 1 + rng.below(6);
        if rng.chance(10) {
            // A too-long key in a get makes memcached drop the replies it has not sent yet,
            // so it only comes first in a batch, when nothing is pending.
            text.push_str("send \"get a \" \"k\"*251 \" b\\r\\n\"\n");
        }
        for _ in 0..batch {
            let verb = match rng.below(10) {
                0 => "send-split 3",
                1 | 2 => "queue",
                _ => "send",
            };
            text.push_str(&format!("{verb} {}\n", command(&mut rng)));
        }
        text.push_str("send \"version\\r\\n\"\nexpect line \"VERSION \"\n");
        written += batch;
    }
    text
}

/// The seeds to run: all of them, or those listed in CORVID_RANDOM_SEEDS ("3,17").
fn seeds() -> Vec<u64> {
    match std::env::var("CORVID_RANDOM_SEEDS") {
        Ok(list) => list
            .split(',')
            .map(|s| s.trim().parse().expect("CORVID_RANDOM_SEEDS: numbers"))
            .collect(),
        Err(_) => SEEDS.collect(),
    }
}

fn run_seeds(subject: Implementation) {
    let mut failures = Vec::new();
    let seeds = seeds();
    for &seed in &seeds {
        let name = format!("random-{seed}");
        let text = generate(seed);
        let script = Script::parse(&name, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        if let Err(report) = compare(&script, Implementation::Memcached, subject) {
            let path = std::env::temp_dir().join(format!("corvid-{name}.script"));
            let saved = match std::fs::write(&path, &text) {
                Ok(()) => format!("script saved as {}", path.display()),
                Err(e) => format!("could not save the script: {e}"),
            };
            failures.push((seed, format!("{report}{saved}\n")));
        }
    }
    // The first few reports say enough; the rest only name their seeds.
    let shown: Vec<&str> = failures.iter().take(3).map(|(_, r)| r.as_str()).collect();
    let failed: Vec<u64> = failures.iter().map(|(seed, _)| *seed).collect();
    assert!(
        failures.is_empty(),
        "{} of {} seeds differ: {failed:?}\n{}",
        failures.len(),
        seeds.len(),
        shown.join("\n")
    );
}

#[test]
fn memcached_agrees_with_itself_on_random_commands() {
    run_seeds(Implementation::Memcached);
}

#[test]
fn corvid_matches_memcached_on_random_commands() {
    run_seeds(Implementation::Corvid);
}

#[test]
fn generated_scripts_are_reproducible_and_valid() {
    assert_eq!(generate(7), generate(7));
    assert_ne!(generate(7), generate(8));
    for seed in SEEDS {
        if let Err(e) = Script::parse("t", &generate(seed)) {
            panic!("seed {seed}: {e}");
        }
    }
}
