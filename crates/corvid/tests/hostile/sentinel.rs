//! Data stored before an attack and checked after it, over the old connection and a
//! new one.

use crate::support::text::TextClient;
use crate::support::Server;

/// Data stored before an attack, checked after it.
pub(crate) struct Sentinel {
    pub(crate) client: TextClient,
    pub(crate) values: Vec<(String, Vec<u8>)>,
}

impl Sentinel {
    pub(crate) fn new(server: &Server) -> Sentinel {
        let mut client = TextClient::connect(server);
        let values: Vec<(String, Vec<u8>)> = [10usize, 5_000, 200_000]
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let value = (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect();
                (format!("sentinel{i}"), value)
            })
            .collect();
        for (key, value) in &values {
            assert_eq!(client.set(key, value), "STORED");
        }
        Sentinel { client, values }
    }

    /// The old connection and a new one are both answered, and the data is intact.
    pub(crate) fn intact(&mut self, server: &Server, after: &str) {
        let name = server.implementation().name();
        for (key, value) in &self.values {
            let got = self.client.get(key);
            assert!(got.as_ref() == Some(value), "{name}: {key} after {after}");
        }
        let mut fresh = TextClient::connect(server);
        assert_eq!(fresh.set("fresh", b"ok"), "STORED", "{name}: after {after}");
        assert_eq!(fresh.get("fresh"), Some(b"ok".to_vec()), "{name}: {after}");
    }
}
