//! Differential conformance for the meta protocol: every script under
//! tests/scripts/meta/ runs against memcached 1.6.18 and corvid, and the normalised
//! replies must be identical (docs/testing.md has the script language;
//! docs/protocol-meta.md what the scripts pin and where Corvid follows protocol.txt
//! instead, which no script here exercises).

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use support::run::compare;
use support::script::Script;
use support::Implementation;

fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/meta")
}

fn load(name: &str) -> Script {
    let path = scripts_dir().join(format!("{name}.script"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Script::parse(name, &text).unwrap_or_else(|e| panic!("{e}"))
}

fn check(name: &str, against: Implementation) {
    support::memcached_binary();
    if let Err(report) = compare(&load(name), Implementation::Memcached, against) {
        panic!("\n{report}");
    }
}

/// Two tests per script: corvid against memcached, and memcached against itself (a script
/// that memcached does not reproduce is framed wrong or depends on timing).
macro_rules! scripts {
    ($($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];

        mod corvid_matches_memcached {
            $(
                #[test]
                fn $name() {
                    super::check(stringify!($name), super::Implementation::Corvid);
                }
            )*
        }

        mod memcached_agrees_with_itself {
            $(
                #[test]
                fn $name() {
                    super::check(stringify!($name), super::Implementation::Memcached);
                }
            )*
        }
    };
}

scripts! {
    basics,
    get,
    set,
    delete_arith,
    errors,
    stampede,
    nocas,
}

/// A script file that no test runs would be a silent gap.
#[test]
fn every_meta_script_file_has_a_test() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(scripts_dir())
        .expect("the meta scripts directory exists")
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
        "list every tests/scripts/meta/*.script in the scripts! macro"
    );
}
