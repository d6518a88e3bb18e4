//! A directory of differential scripts as a test suite: each script runs corvid against
//! memcached and memcached against itself, and every script file on disk must be listed,
//! so none is silently skipped. Suites declare themselves with `differential_suite!`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::run::{compare, compare_across};
use super::script::Script;
use super::{Implementation, Transport};

/// `tests/scripts/<sub>` (`sub` empty for the classic text scripts).
pub fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(sub)
}

/// Parses `<dir>/<name>.script`; `name` may have a subdirectory (`later/x`).
pub fn load(sub: &str, name: &str) -> Script {
    let path = dir(sub).join(format!("{name}.script"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Script::parse(name, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs one script with memcached as the reference and `subject` as the server tested;
/// panics with the readable report on any difference.
pub fn check(sub: &str, name: &str, subject: Implementation) {
    super::memcached_binary();
    if let Err(report) = compare(&load(sub, name), Implementation::Memcached, subject) {
        panic!("\n{report}");
    }
}

/// Runs one script over TLS (`-Z`, certificates made for the test) against both.
pub fn check_over_tls(sub: &str, name: &str) {
    check_across(sub, name, Transport::Tls, Transport::Tls);
}

/// Runs one script with memcached over `reference` and corvid over `subject`.
pub fn check_across(sub: &str, name: &str, reference: Transport, subject: Transport) {
    super::memcached_binary();
    let script = load(sub, name);
    if let Err(report) = compare_across(
        &script,
        (Implementation::Memcached, reference),
        (Implementation::Corvid, subject),
    ) {
        panic!("\n{report}");
    }
}

/// The `.script` files directly in `dir(sub)`, by name.
pub fn script_names(sub: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir(sub))
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir(sub).display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "script" {
                return None;
            }
            Some(path.file_stem()?.to_string_lossy().into_owned())
        })
        .collect()
}

/// A script file that no test runs would be a silent gap.
pub fn assert_all_listed(sub: &str, listed: &[&str]) {
    let listed: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        script_names(sub),
        listed,
        "list every tests/scripts/{sub}/*.script in the differential_suite! macro"
    );
}

/// Declares a suite: `differential_suite!("meta"; basics, get, set);` makes, per script,
/// `corvid_matches_memcached::<name>` and `memcached_agrees_with_itself::<name>` (a script
/// memcached does not reproduce is framed wrong or depends on timing), and
/// `every_script_file_has_a_test`.
#[allow(unused_macros)]
macro_rules! differential_suite {
    ($sub:expr; $($name:ident),* $(,)?) => {
        const SCRIPTS: &[&str] = &[$(stringify!($name)),*];

        mod corvid_matches_memcached {
            $(
                #[test]
                fn $name() {
                    $crate::support::suite::check(
                        $sub,
                        stringify!($name),
                        $crate::support::Implementation::Corvid,
                    );
                }
            )*
        }

        mod memcached_agrees_with_itself {
            $(
                #[test]
                fn $name() {
                    $crate::support::suite::check(
                        $sub,
                        stringify!($name),
                        $crate::support::Implementation::Memcached,
                    );
                }
            )*
        }

        #[test]
        fn every_script_file_has_a_test() {
            $crate::support::suite::assert_all_listed($sub, SCRIPTS);
        }
    };
}
