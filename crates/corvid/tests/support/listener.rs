//! Whether a TCP port is listened on by one given process, from /proc.
//!
//! Tests pick a free port, then start a server on it. When that server refuses to start
//! (a test that expects a refusal), another test binary running at the same time may
//! have bound the port in between; a connection that succeeds then reached a stranger,
//! not the server under test. Asking the kernel which process owns the listening socket
//! tells the two apart.

use std::fs;

/// True when process `pid` holds a socket listening on 127.0.0.1:`port` (or any address).
pub fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .ok()
            .and_then(|target| {
                let t = target.to_string_lossy().into_owned();
                t.strip_prefix("socket:[")
                    .and_then(|s| s.strip_suffix(']'))
                    .map(str::to_owned)
            })
            .is_some_and(|inode| inodes.contains(&inode))
    })
}

/// The inodes of IPv4 and IPv6 sockets in state LISTEN on `port`.
fn listening_inodes(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let local_port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if local_port == Some(port) {
                inodes.push(fields[9].to_string());
            }
        }
    }
    inodes
}

#[test]
fn a_listener_of_this_process_is_found_and_a_closed_port_is_not() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    assert!(listens_on(std::process::id(), port));
    drop(listener);
    assert!(!listens_on(std::process::id(), port));
}
