//! The differential itself: a step is one datagram; both servers (`-t 1`) get the same
//! steps, and their normalised replies must be equal datagram for datagram. Also the
//! tests that run the text and binary steps, and the binary steps under flags.

use crate::binary_steps::{bin, binary_steps, get, getq, noop, tagged, SET_EXTRAS};
use crate::datagram::{exchange, header, request, show};
use crate::normalise::normalise;
use crate::server::{client, start, UdpServer};
use crate::support::normalise::CasLabels;
use crate::support::{self, Implementation};
use crate::text_steps::steps;
use protocol::binary::opcode as op;
/// One step: a raw datagram (header included) and what it checks.
pub(crate) struct Step {
    pub(crate) what: &'static str,
    pub(crate) datagram: Vec<u8>,
}

pub(crate) fn step(what: &'static str, request_id: u16, payload: &[u8]) -> Step {
    Step {
        what,
        datagram: request(request_id, payload),
    }
}

pub(crate) fn raw(what: &'static str, datagram: Vec<u8>) -> Step {
    Step { what, datagram }
}

/// Sends every step to `server`; the normalised replies, step by step.
fn run_steps(server: &UdpServer, name: &str, steps: &[Step]) -> Vec<Vec<Vec<u8>>> {
    let socket = client(server);
    let mut cas = CasLabels::default();
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let who = format!("{name}, step {i} ({})", s.what);
            normalise(
                exchange(&socket, &s.datagram, 0x8000 + i as u16, &who),
                &mut cas,
            )
        })
        .collect()
}

/// The differences between two runs of `steps`, step by step.
fn compare(
    steps: &[Step],
    (reference, expected): (&str, &[Vec<Vec<u8>>]),
    (other, got): (&str, &[Vec<Vec<u8>>]),
) -> String {
    let mut report = String::new();
    for ((s, want), have) in steps.iter().zip(expected).zip(got) {
        if want != have {
            report.push_str(&format!(
                "step `{}`:\n{reference} sent\n{}{other} sent\n{}\n",
                s.what,
                show(want),
                show(have)
            ));
        }
    }
    report
}

/// Runs `steps` against memcached and corvid, both started with `args` (and `-t 1`),
/// and returns memcached's replies after checking corvid's are the same.
pub(crate) fn differential(args: &[&str], steps: &[Step]) -> Vec<Vec<Vec<u8>>> {
    support::memcached_binary();
    let mut all = vec!["-t", "1"];
    all.extend_from_slice(args);
    let memcached = start(Implementation::Memcached, &all);
    let corvid = start(Implementation::Corvid, &all);
    let expected = run_steps(&memcached, "memcached", steps);
    let got = run_steps(&corvid, "corvid", steps);
    let report = compare(steps, ("memcached", &expected), ("corvid", &got));
    assert!(report.is_empty(), "with {args:?}:\n{report}");
    expected
}

/// The steps are deterministic against memcached itself: a difference found below is
/// corvid's, not the test's.
#[test]
fn memcached_agrees_with_itself() {
    support::memcached_binary();
    for steps in [steps(), binary_steps()] {
        let one = run_steps(
            &start(Implementation::Memcached, &["-t", "1"]),
            "memcached",
            &steps,
        );
        let two = run_steps(
            &start(Implementation::Memcached, &["-t", "1"]),
            "memcached",
            &steps,
        );
        let report = compare(&steps, ("memcached", &one), ("memcached again", &two));
        assert!(report.is_empty(), "\n{report}");
    }
}

#[test]
fn corvid_matches_memcached_datagram_for_datagram() {
    let expected = differential(&[], &steps());
    // The checks are not vacuous: the big replies really are split.
    let big = &expected[4];
    assert_eq!(big.len(), 8, "memcached's 10 KiB reply:\n{}", show(big));
    assert_eq!(big[7].len(), 530);
    assert_eq!(expected[6].len(), 44);
}

#[test]
fn corvid_answers_binary_as_memcached_datagram_for_datagram() {
    let steps = binary_steps();
    let expected = differential(&[], &steps);
    // Not vacuous: replies came, the big ones split, the quiet batches were answered
    // with bare headers where memcached sends them.
    let at = |what: &str| {
        let i = steps.iter().position(|s| s.what.starts_with(what));
        &expected[i.unwrap_or_else(|| panic!("no step `{what}`"))]
    };
    let big = at("GET a 10 KiB value");
    assert_eq!(big.len(), 8, "memcached's 10 KiB reply:\n{}", show(big));
    assert_eq!(big[7].len(), 8 + 24 + 4 + 10240 - 7 * 1392);
    assert_eq!(at("GET a 60000-byte value").len(), 44);
    assert_eq!(at("GETQ miss alone"), &[header(205, 0, 0, 0)]);
    assert_eq!(at("-R: 45 GETQ misses").len(), 4);
    assert!(at("a binary header cut short").is_empty());
}

/// Flags that change binary answers over UDP, each against memcached.
#[test]
fn binary_under_flags_matches_memcached() {
    let set_k = || step("SET k", 300, &bin(op::SET, &SET_EXTRAS, b"k", b"hello"));
    let then_miss_hit =
        |what, id, first: Vec<u8>| step(what, id, &[first, getq(b"zz"), get(b"k")].concat());
    let cases: Vec<(&[&str], Vec<Step>)> = vec![
        // (-o slab_chunk_max lets memcached take an -I this small; corvid ignores it.)
        (
            &["-I", "2k", "-o", "slab_chunk_max=2048"],
            vec![
                set_k(),
                then_miss_hit(
                    "a value too large, GETQ miss, hit: swallowed before it is written out",
                    301,
                    bin(op::SET, &SET_EXTRAS, b"big", &[b'x'; 3000]),
                ),
                then_miss_hit(
                    "the same with SETQ: errors are never quiet",
                    302,
                    bin(op::SETQ, &SET_EXTRAS, b"big", &[b'x'; 3000]),
                ),
            ],
        ),
        (
            &["-R", "3"],
            vec![step(
                "10 GETQ misses, NOOP: memcached yields after the 4th, 7th and 10th",
                310,
                &[getq(b"zz").repeat(10), noop()].concat(),
            )],
        ),
        (
            &["-B", "ascii"],
            vec![
                set_k(),
                step(
                    "binary GET: the first byte decides, not -B",
                    321,
                    &get(b"k"),
                ),
                step("text get", 322, b"get k\r\n"),
            ],
        ),
        (
            &["-B", "binary"],
            vec![
                set_k(),
                step("binary GET", 331, &get(b"k")),
                step(
                    "text get: the first byte decides, not -B",
                    332,
                    b"get k\r\n",
                ),
            ],
        ),
        (
            &["-C"],
            vec![
                set_k(),
                then_miss_hit(
                    "DELETE naming a CAS never matches under -C",
                    341,
                    tagged(bin(op::DELETE, b"", b"k", b""), 0, 5),
                ),
            ],
        ),
        (
            &["-F"],
            vec![
                set_k(),
                then_miss_hit("FLUSH refused under -F", 351, bin(op::FLUSH, b"", b"", b"")),
            ],
        ),
    ];
    for (args, steps) in cases {
        let expected = differential(args, &steps);
        assert!(expected.iter().all(|r| !r.is_empty()), "{args:?}: no reply");
    }
}
