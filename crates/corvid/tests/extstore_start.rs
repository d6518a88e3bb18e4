//! Starting with a disk tier (memcached's `t/extstore-start`-style checks): the `ext_*`
//! command lines memcached's own extstore tests use start both servers; what memcached
//! refuses, Corvid refuses with the same exit status and the same message; and a file one
//! server holds is refused to the other, either way round.

mod support;

use support::{Implementation, Server, TempDir, Transport};

/// `-o` lines from memcached's extstore tests and its wiki; `${dir}` is each server's own
/// temp directory. (Corvid also takes a bucket name after a file's size, `:compact`,
/// which memcached 1.6.18 refuses: "ext_path only presently supports the default
/// bucket". docs/disk.md lists it among the deliberate differences.)
const ACCEPTED: &[&str] = &[
    "ext_path=${dir}/e:64m",
    "ext_page_size=8,ext_wbuf_size=2,ext_threads=1,ext_io_depth=2,ext_item_size=512,\
     ext_item_age=2,ext_recache_rate=10000,ext_max_frag=0.9,ext_path=${dir}/e:64m,\
     slab_automove=0,ext_compact_under=1,ext_max_sleep=100000",
    "ext_page_size=8,ext_wbuf_size=8,ext_path=${dir}/e:64m,ext_drop_unread",
    "ext_page_size=8,ext_path=${dir}/a:64m,ext_path=${dir}/b:96m",
    "ext_path=${dir}/e:256m,ext_low_ttl=60,ext_drop_under=2",
];

/// `-o` lines memcached refuses, with the line of its message Corvid must print too.
const REFUSED: &[(&str, &str)] = &[
    (
        "ext_path=${dir}/e",
        "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n\
         failed to parse ext_path argument",
    ),
    (
        "ext_path=${dir}/e:64m:nosuchbucket",
        "Unknown extstore bucket: nosuchbucket\nfailed to parse ext_path argument",
    ),
    (
        "ext_path=${dir}/e:64m,ext_page_size=8",
        "Must specify ext_page_size before any ext_path arguments",
    ),
    (
        "ext_page_size=3,ext_wbuf_size=1,ext_path=${dir}/e:64m",
        "Failed to initialize external storage: page_size and wbuf_size must be divisible \
         by 1024*1024*2",
    ),
    (
        "ext_page_size=8,ext_wbuf_size=6,ext_path=${dir}/e:64m",
        "Failed to initialize external storage: page_size must be divisible by wbuf_size",
    ),
    (
        "ext_path=/nonexistent-dir/e:64m",
        "Failed to initialize external storage: failed to open file\n\
         extstore open: No such file or directory",
    ),
];

#[test]
fn both_start_with_memcached_extstore_command_lines() {
    let mut failures = Vec::new();
    for opts in ACCEPTED {
        let args = ["-m", "64", "-o", opts];
        if let Err(refusal) = Server::try_start(Implementation::Memcached, &args, Transport::Tcp) {
            panic!("memcached refuses {opts}: {}", refusal.report);
        }
        if let Err(refusal) = Server::try_start(Implementation::Corvid, &args, Transport::Tcp) {
            failures.push(format!("{opts}: {}", refusal.report));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corvid_refuses_what_memcached_refuses_with_its_status_and_message() {
    let mut failures = Vec::new();
    for (opts, message) in REFUSED {
        let args = ["-m", "64", "-o", opts];
        let expected = match Server::try_start(Implementation::Memcached, &args, Transport::Tcp) {
            Ok(_) => panic!("memcached accepts {opts}: not a refusal test"),
            Err(refusal) => refusal,
        };
        assert!(
            expected.output.contains(message),
            "memcached's message for {opts} is not {message:?}: {}",
            expected.output
        );
        match Server::try_start(Implementation::Corvid, &args, Transport::Tcp) {
            Ok(_) => failures.push(format!("{opts}: corvid started")),
            Err(refusal) => {
                if refusal.code != expected.code {
                    failures.push(format!(
                        "{opts}: exit status {:?}, memcached's {:?}",
                        refusal.code, expected.code
                    ));
                }
                if !refusal.output.contains(message) {
                    failures.push(format!(
                        "{opts}: no {message:?} in corvid's output: {}",
                        refusal.output.trim()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A file one server uses cannot be used by another: both lock it (memcached a POSIX
/// record lock, Corvid an open-file-description lock; the two conflict), so neither
/// can write over the other's values.
#[test]
fn a_file_another_server_holds_is_refused_either_way() {
    let dir = TempDir::new("shared-ext");
    let opts = format!("ext_path={}:64m", dir.path().join("shared").display());
    let args = ["-m", "64", "-o", opts.as_str()];
    for (holder, second) in [
        (Implementation::Memcached, Implementation::Corvid),
        (Implementation::Corvid, Implementation::Memcached),
        (Implementation::Corvid, Implementation::Corvid),
    ] {
        let _holding = Server::start(holder, &args, Transport::Tcp);
        let expected = Server::try_start(Implementation::Memcached, &args, Transport::Tcp)
            .err()
            .unwrap_or_else(|| panic!("memcached started on a file {holder:?} holds"));
        match Server::try_start(second, &args, Transport::Tcp) {
            Ok(_) => panic!("{second:?} started on a file {holder:?} holds"),
            Err(refusal) => {
                assert_eq!(refusal.code, expected.code, "{second:?} after {holder:?}");
                assert!(
                    refusal.output.contains("Resource temporarily unavailable"),
                    "{second:?} after {holder:?}: {}",
                    refusal.output
                );
            }
        }
    }
}
