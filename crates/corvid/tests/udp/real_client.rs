//! A real client crate (`memcache`, ASCII over UDP) against both servers.

use crate::datagram::{exchange, request};
use crate::server::{client, start, REPLY_TIMEOUT};
use crate::support::{self, Implementation};
/// The `memcache` crate over UDP (ASCII), against both servers. Its ASCII `get`, `incr`,
/// `decr` and `flush` never send their datagram (they do not flush its UDP stream, against
/// memcached too), so values are read back here with plain requests.
#[test]
fn a_real_client_works_over_udp() {
    support::memcached_binary();
    for implementation in [Implementation::Memcached, Implementation::Corvid] {
        // One thread, so the marker's reply cannot overtake the request's.
        let server = start(implementation, &["-t", "1"]);
        let name = implementation.name();
        let url = format!("memcache://{}?udp=true&protocol=ascii", server.addr);
        let c = memcache::Client::connect(url.as_str())
            .unwrap_or_else(|e| panic!("{name}: connect {url}: {e}"));
        c.set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("set a read timeout");
        let raw = client(&server);
        let get = |key: &str| -> Vec<u8> {
            let payload = format!("get {key}\r\n");
            let datagrams = exchange(&raw, &request(1, payload.as_bytes()), 2, name);
            datagrams.iter().flat_map(|d| d[8..].to_vec()).collect()
        };

        assert_eq!(c.version().expect("version").len(), 1, "{name}");
        c.set("k", "v1", 0).expect("set");
        assert_eq!(get("k"), b"VALUE k 0 2\r\nv1\r\nEND\r\n", "{name}");
        c.add("k", "other", 0).expect("add over an existing key");
        c.append("k", "+").expect("append");
        assert_eq!(get("k"), b"VALUE k 0 3\r\nv1+\r\nEND\r\n", "{name}");
        // A value sent in one large datagram, answered in many.
        let large: Vec<u8> = (0..=255u8).cycle().take(50_000).collect();
        c.set("large", large.as_slice(), 0)
            .expect("set a large value");
        let mut want = b"VALUE large 0 50000\r\n".to_vec();
        want.extend_from_slice(&large);
        want.extend_from_slice(b"\r\nEND\r\n");
        assert!(
            get("large") == want,
            "{name}: the large value came back different"
        );
        assert!(c.touch("k", 100).expect("touch"), "{name}");
        assert!(!c.touch("nope", 100).expect("touch a miss"), "{name}");
        assert!(c.delete("k").expect("delete"), "{name}");
        assert!(!c.delete("k").expect("delete a miss"), "{name}");
        c.flush_with_delay(0).expect("flush_all 0");
        assert_eq!(get("large"), b"END\r\n", "{name}");
    }
}
