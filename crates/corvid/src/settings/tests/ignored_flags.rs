//! memcached flags Corvid has no use for (`-L -f -n -D -N`): accepted with one warning
//! each, their values still checked as memcached checks them.

use super::*;

#[test]
fn ignored_flags_warn_once_each() {
    let cases: &[(&[&str], &str)] = &[
        (&["-L"], "-L: large pages are not supported; ignored"),
        (
            &["--enable-largepages"],
            "-L: large pages are not supported; ignored",
        ),
        (&["-f", "1.5"], "-f: corvid has no slab classes; ignored"),
        (
            &["--slab-growth-factor=2"],
            "-f: corvid has no slab classes; ignored",
        ),
        (&["-n", "64"], "-n: corvid has no slab classes; ignored"),
        (
            &["--slab-min-size=64"],
            "-n: corvid has no slab classes; ignored",
        ),
        (
            &["-D", ":"],
            "-D: per-prefix stats are not supported; ignored",
        ),
        (&["-N", "2"], "-N: NAPI ids are not supported; ignored"),
        (&["--napi-ids=2"], "-N: NAPI ids are not supported; ignored"),
    ];
    for (args, warning) in cases {
        assert_eq!(serve(args).warnings, [*warning], "{args:?}");
    }
    assert_eq!(serve(&["-L", "-L"]).warnings.len(), 1);
}

#[test]
fn ignored_flags_still_check_their_values() {
    assert_eq!(
        error(&["-f", "1"]),
        ("Factor must be greater than 1".into(), 1)
    );
    assert_eq!(message(&["-f", "0.5"]), "Factor must be greater than 1");
    assert_eq!(message(&["-f", "abc"]), "Invalid number for -f: \"abc\"");
    assert_eq!(
        error(&["-n", "0"]),
        ("Chunk size must be greater than 0".into(), 1)
    );
    assert_eq!(error(&["-D", ""]), ("No delimiter specified".into(), 1));
    assert_eq!(
        error(&["-N", "0"]),
        (
            "Maximum number of NAPI IDs must be greater than 0".into(),
            1
        )
    );
    assert_eq!(
        error(&["-N", "5", "-t", "2"]),
        (
            "Number of napi_ids(5) cannot be greater than number of threads(2)".into(),
            64
        )
    );
}
