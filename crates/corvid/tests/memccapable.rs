//! libmemcached's `memccapable` conformance suite, ASCII and binary protocol tests both
//! (no `-a`), against corvid. memcached runs it too, so a failure is corvid's and not the
//! tool's.

mod support;

use std::process::Command;

use support::Server;

const MEMCCAPABLE: &str = "/usr/bin/memccapable";

fn memccapable(server: &Server) {
    let name = server.implementation().name();
    assert!(
        std::path::Path::new(MEMCCAPABLE).is_file(),
        "{MEMCCAPABLE} is missing: run ./scripts/test, which installs libmemcached-tools"
    );
    let output = Command::new(MEMCCAPABLE)
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string()])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {MEMCCAPABLE}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("All tests passed"),
        "memccapable against {name} failed ({}):\n{stdout}\n{stderr}\n{name} output:\n{}",
        output.status,
        server.log()
    );
    // Both halves ran: a suite that skipped the binary tests would still say "passed".
    for test in ["ascii set", "binary set", "binary getkq", "binary stat"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(test) && l.contains("[pass]")),
            "memccapable against {name} did not pass {test:?}:\n{stdout}"
        );
    }
}

#[test]
fn memcached_passes_memccapable() {
    memccapable(&Server::memcached(&[]));
}

#[test]
fn corvid_passes_memccapable() {
    memccapable(&Server::corvid(&[]));
}
