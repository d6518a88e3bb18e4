//! Arbitrary bytes into the admin listener's HTTP head parser: it must never panic, what
//! it returns must lie inside the input, and a head over the limit is never accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::http::{header, parse_request, Head, MAX_HEAD};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Head::Request {
            method,
            path,
            consumed,
        } => {
            assert!(consumed <= data.len() && consumed <= MAX_HEAD);
            assert!(path.starts_with(b"/") && !path.contains(&b'?'));
            assert!(!method.is_empty() && !method.contains(&b' '));
            let head = &data[..consumed];
            for name in ["Accept", "Host", ""] {
                if let Some(value) = header(head, name) {
                    assert!(!value.contains(&b'\n'));
                }
            }
        }
        Head::Incomplete => assert!(data.len() <= MAX_HEAD),
        Head::Invalid { status } => assert!(status == 400 || status == 431),
    }
});
