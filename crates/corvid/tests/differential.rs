//! Differential conformance: every script under tests/scripts/ is sent to memcached (the
//! reference) and to corvid, and their normalised replies must be identical byte for byte.
//! docs/testing.md explains the script language and what is normalised.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use support::run::compare;
use support::script::{Action, Expect, Part, Script};
use support::Implementation;

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

fn load(name: &str) -> Script {
    let path = scripts_dir().join(format!("{name}.script"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Script::parse(name, &text).unwrap_or_else(|e| panic!("{e}"))
}

fn check(name: &str) {
    support::memcached_binary();
    if let Err(report) = compare(
        &load(name),
        Implementation::Memcached,
        Implementation::Corvid,
    ) {
        panic!("\n{report}");
    }
}

/// One test per script, so `cargo test -p corvid --test differential <name>` runs one, and
/// a failure names its script.
macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];

        mod corvid_matches_memcached {
            $(
                #[test]
                fn $name() {
                    super::check(stringify!($name));
                }
            )*
        }
    };
}

scripts! {
    cas,
    cas_disabled,
    commands,
    delete_touch,
    errors,
    expiry,
    flush,
    incr_decr,
    keys,
    long_lines,
    multiget,
    noreply,
    pipeline,
    retrieval,
    shutdown,
    shutdown_enabled,
    sizes,
    sizes_large_limit,
    sizes_small_limit,
    stats,
    storage,
    tokens,
    unix_socket,
}

/// The harness itself: memcached against memcached must show no difference, or a script
/// depends on timing or the normalisation lets a legitimate difference through.
#[test]
fn memcached_agrees_with_itself() {
    let mut failures = Vec::new();
    for name in SCRIPTS {
        if let Err(report) = compare(
            &load(name),
            Implementation::Memcached,
            Implementation::Memcached,
        ) {
            failures.push(report);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A script file that no test runs would be a silent gap.
#[test]
fn every_script_file_has_a_test() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(scripts_dir())
        .expect("the scripts directory exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "script" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect();
    let listed: BTreeSet<String> = SCRIPTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        on_disk, listed,
        "list every tests/scripts/*.script in the scripts! macro"
    );
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
