//! The `stats` counters that binary requests over UDP move, memcached's against corvid's,
//! and bytes_written against what the client really received.

use std::net::UdpSocket;

use crate::binary_steps::{binary_steps, get};
use crate::datagram::{exchange, exchange_with_marker, header, request};
use crate::differential::raw;
use crate::server::{client, start};
use crate::support::{self, Implementation};

/// The counters memcached moves for binary requests over UDP move alike in corvid, and
/// each server's bytes_written is what its client received.
#[test]
fn binary_over_udp_moves_the_counters_memcached_moves() {
    support::memcached_binary();
    let mut steps = binary_steps();
    // A request announced as two datagrams: dropped, but its bytes are read.
    steps.push(raw("total 2", [header(400, 0, 2, 0), get(b"k")].concat()));
    let compared = [
        "cmd_get",
        "cmd_set",
        "cmd_flush",
        "cmd_touch",
        "get_hits",
        "get_misses",
        "delete_misses",
        "delete_hits",
        "incr_misses",
        "incr_hits",
        "decr_misses",
        "decr_hits",
        "cas_misses",
        "cas_hits",
        "cas_badval",
        "touch_hits",
        "touch_misses",
        // Not curr_items: memcached reclaims flushed items in the background.
        "bytes_read",
        "conn_yields",
    ];
    let mut seen = Vec::new();
    for implementation in [Implementation::Memcached, Implementation::Corvid] {
        let name = implementation.name();
        let server = start(implementation, &["-t", "1"]);
        let socket = client(&server);
        let mut received = 0;
        for (i, s) in steps.iter().enumerate() {
            let who = format!("{name}, step {i} ({})", s.what);
            let (replies, marker) = exchange_with_marker(&socket, &s.datagram, 1, &who);
            received += replies.iter().map(Vec::len).sum::<usize>() + marker.len();
        }
        let stats = udp_stats(&socket, name);
        let value = |stat: &str| -> u64 {
            let v = stats
                .get(stat)
                .unwrap_or_else(|| panic!("{name}: no {stat}"));
            v.parse().unwrap_or_else(|_| panic!("{name}: {stat} {v}"))
        };
        assert_eq!(
            value("bytes_written"),
            received as u64,
            "{name}: bytes_written"
        );
        seen.push(compared.map(|stat| (stat, value(stat))));
    }
    assert_eq!(seen[1], seen[0], "corvid's counters, then memcached's");
    // Not vacuous.
    let memcached: std::collections::HashMap<_, _> = seen[0].iter().copied().collect();
    assert!(memcached["get_hits"] > 10 && memcached["get_misses"] > 10);
    assert_eq!(memcached["conn_yields"], 5, "the -R steps: 1 + 1 + 2 + 1");
}

/// `stats` over UDP, as name -> value.
fn udp_stats(socket: &UdpSocket, who: &str) -> std::collections::HashMap<String, String> {
    let replies = exchange(socket, &request(2, b"stats\r\n"), 3, who);
    let text: Vec<u8> = replies.iter().flat_map(|d| d[8..].to_vec()).collect();
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("STAT ")?.splitn(2, ' ');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}
