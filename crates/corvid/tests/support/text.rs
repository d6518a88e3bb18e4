//! A minimal blocking text-protocol client for tests that assert on outcomes rather than
//! compare bytes (memory limits, eviction): just enough to set, get, delete and read stats.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use super::{Server, Stream};

pub struct TextClient {
    stream: Stream,
    buf: Vec<u8>,
    name: &'static str,
}

impl TextClient {
    pub fn connect(server: &Server) -> TextClient {
        TextClient::over(server.connect(), server.implementation().name())
    }

    /// Over a stream the test connected itself (a TLS client of its choosing).
    pub fn over(stream: Stream, name: &'static str) -> TextClient {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a read timeout");
        TextClient {
            stream,
            buf: Vec::new(),
            name,
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("{}: connection closed", self.name),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("{}: read failed: {e}", self.name),
        }
    }

    /// One reply line, without its "\r\n".
    pub fn line(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return line;
            }
            self.fill();
        }
    }

    /// The next `n` bytes of the reply (a value after its header line).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: write failed: {e}", self.name));
    }

    /// `set`, returning the reply line.
    pub fn set(&mut self, key: &str, value: &[u8]) -> String {
        let mut request = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
        self.send(&request);
        self.line()
    }

    pub fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.send(format!("get {key}\r\n").as_bytes());
        let line = self.line();
        if line == "END" {
            return None;
        }
        let len: usize = line
            .strip_prefix("VALUE ")
            .and_then(|rest| rest.split(' ').nth(2))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: unexpected reply to get: {line:?}", self.name));
        let value = self.bytes(len + 2);
        let end = self.line();
        assert_eq!(end, "END", "{}: after the value of {key}", self.name);
        Some(value[..len].to_vec())
    }

    pub fn delete(&mut self, key: &str) -> String {
        self.send(format!("delete {key}\r\n").as_bytes());
        self.line()
    }

    pub fn stats(&mut self) -> HashMap<String, String> {
        self.stats_group("")
    }

    /// `stats <group>` (`settings`, `conns`, ...), or plain `stats` for "".
    pub fn stats_group(&mut self, group: &str) -> HashMap<String, String> {
        let command = if group.is_empty() {
            "stats\r\n".to_string()
        } else {
            format!("stats {group}\r\n")
        };
        self.send(command.as_bytes());
        let mut stats = HashMap::new();
        loop {
            let line = self.line();
            if line == "END" {
                return stats;
            }
            let mut words = line.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("STAT"), Some(name), Some(value)) => {
                    stats.insert(name.to_string(), value.to_string());
                }
                _ => panic!("{}: unexpected stats line {line:?}", self.name),
            }
        }
    }
}
