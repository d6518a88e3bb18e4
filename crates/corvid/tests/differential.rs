//! Differential conformance: every script under tests/scripts/ is sent to memcached (the
//! reference) and to corvid, and their normalised replies must be identical byte for byte.
//! docs/testing.md explains the script language and what is normalised.

#[macro_use]
mod support;

use support::run::compare;
use support::script::{Action, Expect, Part, Script};
use support::Implementation;

differential_suite! {
    "";
    cas,
    cas_disabled,
    commands,
    delete_touch,
    disabled_commands,
    dumps,
    errors,
    expiry,
    extstore,
    fairness,
    flush,
    half_close,
    incr_decr,
    interleave,
    keys,
    large_values,
    long_lines,
    multiget,
    noreply,
    pipeline,
    retrieval,
    shutdown,
    shutdown_enabled,
    shutdown_graceful,
    sizes,
    sizes_large_limit,
    sizes_small_limit,
    slabs,
    stats,
    stats_cas_disabled,
    stats_idle_timeout,
    stats_item_size,
    stats_no_lru,
    stats_no_modern,
    stats_no_slab_reassign,
    stats_threads,
    storage,
    tokens,
    unix_socket,
}

/// Scripts for commands corvid has not decided to serve (memcached's admin commands), in
/// tests/scripts/later/. Only the self-check below runs them, which keeps them valid until
/// they move up into tests/scripts/ and the `scripts!` list.
fn later_scripts() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(support::suite::dir("later"))
        .map(|dir| {
            dir.filter_map(|entry| {
                let path = entry.ok()?.path();
                if path.extension()? != "script" {
                    return None;
                }
                Some(format!("later/{}", path.file_stem()?.to_string_lossy()))
            })
            .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Scripts waiting in tests/scripts/later/ stay valid: memcached against itself.
#[test]
fn later_scripts_stay_valid() {
    let mut failures = Vec::new();
    for name in later_scripts() {
        if let Err(report) = compare(
            &support::suite::load("", &name),
            Implementation::Memcached,
            Implementation::Memcached,
        ) {
            failures.push(report);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn script_parser_understands_escapes_repetition_cas_and_loops() {
    let script = Script::parse(
        "t",
        "args -I 2m\nsend \"a\\r\\n\\x41\" \"x\"*3 \"${cas2}\\$\"\nrepeat i 1 2\nsend \"k${i}\"\nend\nexpect until \"END\\r\\n\" 2\n",
    )
    .expect("valid script");
    assert_eq!(script.args, ["-I", "2m"]);
    assert_eq!(script.steps.len(), 4);
    let Action::Send { parts, .. } = &script.steps[0].action else {
        panic!("not a send: {:?}", script.steps[0]);
    };
    assert!(matches!(&parts[0], Part::Bytes(b) if b == b"a\r\nA"));
    assert!(matches!(&parts[1], Part::Bytes(b) if b == b"xxx"));
    assert!(matches!(&parts[2], Part::Cas(2)));
    assert!(matches!(&parts[3], Part::Bytes(b) if b == b"$"));
    let Action::Send { parts, .. } = &script.steps[2].action else {
        panic!("not a send: {:?}", script.steps[2]);
    };
    assert!(matches!(&parts[0], Part::Bytes(b) if b == b"k2"));
    assert!(
        matches!(&script.steps[3].action, Action::Expect(Expect::Until(t, 2)) if t == b"END\r\n")
    );
}

#[test]
fn script_parser_rejects_mistakes_with_line_numbers() {
    for (text, line) in [
        ("send \"unterminated\n", 1),
        ("\nexpect maybe\n", 2),
        ("send \"x\"\nargs -A\n", 2),
        ("repeat i 1 2\nsend \"x\"\n", 1),
        ("send \"${nope}\"\n", 1),
    ] {
        let err = Script::parse("t", text).expect_err(text);
        assert_eq!(err.line, line, "{text:?}: {err}");
    }
}

#[test]
fn normaliser_labels_cas_values_and_masks_only_what_may_differ() {
    use support::normalise::{normalise, CasLabels, End, Reply};
    let reply = |bytes: &[u8]| Reply {
        bytes: bytes.to_vec(),
        end: End::Complete,
        write_failed: false,
    };
    let mut cas = CasLabels::default();
    // The data block is opaque even when it looks like a VALUE or VERSION line.
    let got = normalise(
        &reply(b"VALUE a 1 16 77\r\nVERSION 9 VALUE \r\nVALUE b 0 1 5\r\nx\r\nVALUE c 0 1 77\r\ny\r\nEND\r\n"),
        &Expect::Until(b"END\r\n".to_vec(), 1),
        &mut cas,
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "VALUE a 1 16 <cas1>\r\nVERSION 9 VALUE \r\nVALUE b 0 1 <cas2>\r\nx\r\nVALUE c 0 1 <cas1>\r\ny\r\nEND\r\n"
    );
    assert_eq!(
        (cas.value(1), cas.value(2), cas.value(3)),
        (Some(77), Some(5), None)
    );

    let got = normalise(&reply(b"VERSION 1.6.18\r\n"), &Expect::Lines(1), &mut cas);
    assert_eq!(got, b"VERSION <version>\r\n");

    let got = normalise(
        &reply(b"STAT pid 42\r\nSTAT curr_items 3\r\nEND\r\n"),
        &Expect::Stats,
        &mut cas,
    );
    assert_eq!(got, b"STAT pid <value>\r\nSTAT curr_items 3\r\nEND\r\n");

    let got = normalise(
        &reply(b"STAT items:1:number 3\r\nSTAT broken\r\nEND\r\n"),
        &Expect::StatsShape,
        &mut cas,
    );
    assert_eq!(got, b"<malformed> STAT broken\r\nEND\r\n");

    let got = normalise(
        &reply(b"HD c5\r\nVA 2 c77 f0 kc1\r\nHD\r\nEN\r\n"),
        &Expect::Lines(4),
        &mut cas,
    );
    assert_eq!(got, b"HD c<cas2>\r\nVA 2 c<cas1> f0 kc1\r\nHD\r\nEN\r\n");

    let closed = Reply {
        bytes: b"ERR".to_vec(),
        end: End::Closed,
        write_failed: true,
    };
    let got = normalise(&closed, &Expect::Close, &mut cas);
    assert_eq!(
        got,
        b"<write failed: connection closed>ERR<connection closed>"
    );
}
