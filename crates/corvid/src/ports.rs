//! Ports the kernel picks, and `MEMCACHED_PORT_FILENAME`, which tells a test harness
//! what they are: memcached's way, so harnesses written for it drive Corvid unchanged.
//!
//! With `-p -1` (or `-U -1`) memcached binds port 0 on each address, so each gets a free
//! port of its own. When the environment variable `MEMCACHED_PORT_FILENAME` names a file
//! and the server listens on TCP or UDP (not `-s`), then once every socket is bound it
//! appends one line per socket to `<file>.lck` and renames that to `<file>`:
//!
//! ```text
//! TCP INET: 41234
//! TCP INET6: 39811
//! UDP INET: 52110
//! ```
//!
//! TCP lines first, then UDP, each in the order of the `-l` addresses (IPv4 before IPv6
//! when there is no `-l`). The file is never removed. A `<file>.lck` that cannot be
//! opened is reported and the server starts anyway.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, UdpSocket};

pub const PORT_FILE_VARIABLE: &str = "MEMCACHED_PORT_FILENAME";

/// Gives each UDP address with port 0 a free port now, so the port file can name it:
/// the server does not report the ports its UDP sockets got. Between this probe and the
/// server's bind another process could take the port; binding then fails loudly, and
/// only `-U -1` (a test-harness setting) takes this path.
pub fn pick_free_udp_ports(addrs: &mut [SocketAddr]) -> std::io::Result<()> {
    for addr in addrs.iter_mut().filter(|a| a.port() == 0) {
        let probe = UdpSocket::bind(*addr)?;
        addr.set_port(probe.local_addr()?.port());
    }
    Ok(())
}

/// The port file's text for the bound sockets.
pub fn port_lines(tcp: &[SocketAddr], udp: &[SocketAddr]) -> String {
    let mut text = String::new();
    for (transport, addrs) in [("TCP", tcp), ("UDP", udp)] {
        for addr in addrs {
            let family = if addr.is_ipv4() { "INET" } else { "INET6" };
            let _ = writeln!(text, "{transport} {family}: {}", addr.port());
        }
    }
    text
}

/// Writes the port file if the environment asks for one.
pub fn write_port_file(tcp: &[SocketAddr], udp: &[SocketAddr]) {
    let Some(name) = std::env::var_os(PORT_FILE_VARIABLE) else {
        return;
    };
    let mut lock = OsString::from(&name);
    lock.push(".lck");
    // Appending, as memcached's fopen(..., "a") does: a stale .lck keeps its lines.
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&lock);
    let mut file = match file {
        Ok(file) => file,
        Err(e) => {
            eprintln!("Failed to open \"{}\": {e}", lock.to_string_lossy());
            return;
        }
    };
    if let Err(e) = file.write_all(port_lines(tcp, udp).as_bytes()) {
        eprintln!("Failed to write \"{}\": {e}", lock.to_string_lossy());
        return;
    }
    drop(file);
    // memcached ignores a failed rename too: the harness then waits in vain, as for it.
    let _ = std::fs::rename(&lock, &name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_the_transport_the_family_and_the_port() {
        let tcp = [
            "127.0.0.1:4000".parse().unwrap(),
            "[::1]:4001".parse().unwrap(),
        ];
        let udp = ["127.0.0.1:4002".parse().unwrap()];
        assert_eq!(
            port_lines(&tcp, &udp),
            "TCP INET: 4000\nTCP INET6: 4001\nUDP INET: 4002\n"
        );
        assert_eq!(port_lines(&[], &[]), "");
    }

    #[test]
    fn free_udp_ports_are_filled_in() {
        let mut addrs: Vec<SocketAddr> = vec!["127.0.0.1:0".parse().unwrap()];
        pick_free_udp_ports(&mut addrs).unwrap();
        assert_ne!(addrs[0].port(), 0);
        assert!(UdpSocket::bind(addrs[0]).is_ok(), "the port was released");
    }
}
