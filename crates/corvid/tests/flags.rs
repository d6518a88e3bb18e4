//! Command lines: what memcached starts with, corvid starts with (an init script written
//! for memcached keeps working), and what memcached refuses, corvid refuses with the same
//! exit status. docs/flags.md lists the deliberate differences, which are left out here.

mod support;

use support::{Implementation, Server, Transport};

/// Flag sets from init scripts, distribution defaults and tuning guides.
const ACCEPTED: &[&[&str]] = &[
    &["-m", "64", "-c", "1024", "-t", "4"],
    &["-vv"],
    &["-v", "-v"],
    &["-R", "5", "-b", "512", "-B", "ascii"],
    &["-B", "auto"],
    &["-f", "1.5", "-n", "64", "-D", ":"],
    &["-o", "modern,idle_timeout=30"],
    &["-o", "no_lru_crawler,no_lru_maintainer,hashpower=20"],
    &[
        "-o",
        "slab_reassign,slab_automove=1,lru_crawler,lru_maintainer",
    ],
    &["-o", "hot_lru_pct=20,warm_lru_pct=40,temporary_ttl=61"],
    &["-I", "2m", "-m", "128"],
    &["-I", "512k"],
    &["--memory-limit=32", "--threads=3", "--conn-limit=100"],
    &["--max-item-size", "4m", "--memory-limit", "256"],
    &["-C", "-M", "-A"],
    &["-F", "-X", "-W"],
    &["-L"],
    &["-u", "nobody"],
    &["-MC", "-vv"],
    &["-R20", "-m64"],
    &["-c4096", "-t8"],
];

/// Command lines memcached refuses, with the exit status it uses.
const REFUSED: &[&[&str]] = &[
    &["-c", "0"],
    &["-t", "0"],
    &["-R", "0"],
    &["-B", "http"],
    &["-I", "1000"],
    &["-I", "33m"],
    &["-m", "4096", "-I", "1025m"],
    &["-I", "100k"],
    &["-I", "600k"],
    &["-p", "70000"],
    &["-f", "1"],
    &["-n", "0"],
    &["-x"],
    &["--bogus"],
    &["-o", "bogus"],
    &["-o", "hot_lru_pct=90"],
    // Logins and TLS: each protocol's login alone, never over UDP, files that load.
    &["-Y", "tests/scripts/auth/authfile", "-B", "binary"],
    &["-Y", "tests/scripts/auth/authfile", "-B", "auto"],
    &["-Y", "tests/scripts/auth/authfile", "-U", "1"],
    &["-Y", "/nonexistent/authfile"],
    &["-S", "-B", "auto"],
    &["-S", "-B", "ascii"],
    &["-S", "-U", "1"],
    &["-Z", "-p", "0"],
    &["-Z", "-o", "ssl_chain_cert=/nonexistent/cert.pem"],
];

#[test]
fn corvid_starts_with_memcached_command_lines() {
    let mut failures = Vec::new();
    for args in ACCEPTED {
        // The reference first: a line memcached refuses here is a mistake in this table.
        let memcached = Server::try_start(Implementation::Memcached, args, Transport::Tcp);
        if let Err(refusal) = memcached {
            panic!("memcached refuses {args:?}: {}", refusal.report);
        }
        match Server::try_start(Implementation::Corvid, args, Transport::Tcp) {
            Ok(mut corvid) => {
                let mut c = support::text::TextClient::connect(&corvid);
                c.send(b"version\r\n");
                let reply = c.line();
                if !reply.starts_with("VERSION ") {
                    failures.push(format!("{args:?}: version answered {reply:?}"));
                }
                assert!(corvid.is_running());
            }
            Err(refusal) => failures.push(format!("{args:?}: {}", refusal.report)),
        }
    }
    assert!(
        failures.is_empty(),
        "corvid refuses command lines memcached accepts:\n{}",
        failures.join("\n")
    );
}

#[test]
fn corvid_refuses_what_memcached_refuses_with_its_exit_status() {
    let mut failures = Vec::new();
    for args in REFUSED {
        let expected = match Server::try_start(Implementation::Memcached, args, Transport::Tcp) {
            Ok(_) => panic!("memcached accepts {args:?}: not a refusal test"),
            Err(refusal) => refusal,
        };
        match Server::try_start(Implementation::Corvid, args, Transport::Tcp) {
            Ok(_) => failures.push(format!("{args:?}: corvid started")),
            Err(refusal) if refusal.code != expected.code => failures.push(format!(
                "{args:?}: exit status {:?}, memcached's is {:?}\n  memcached: {}\n  corvid: {}",
                refusal.code,
                expected.code,
                expected.output.trim(),
                refusal.output.trim()
            )),
            Err(_) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "corvid and memcached disagree on refused command lines:\n{}",
        failures.join("\n")
    );
}

/// `-s` with `-a`: the socket file gets the permissions memcached gives it.
#[test]
fn unix_socket_permissions_follow_the_mask() {
    use std::os::unix::fs::PermissionsExt;
    for mask in ["700", "660", "777"] {
        let modes: Vec<u32> = [Implementation::Memcached, Implementation::Corvid]
            .into_iter()
            .map(|implementation| {
                let server = Server::start(implementation, &["-a", mask], Transport::Unix);
                let support::Endpoint::Unix(path) = server.endpoint() else {
                    unreachable!("started on a Unix socket")
                };
                let metadata = std::fs::metadata(path).expect("the socket file exists");
                metadata.permissions().mode() & 0o777
            })
            .collect();
        assert_eq!(
            modes[1], modes[0],
            "-a {mask}: corvid's socket mode {:o}, memcached's {:o}",
            modes[1], modes[0]
        );
    }
}
