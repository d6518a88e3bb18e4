//! Arbitrary bytes into the text parser: it must never panic, and what it answers must
//! be usable by a server without further checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::text::{parse, Keys, Parse, Request, MAX_KEY_LENGTH};

fn check_key(key: &[u8]) {
    assert!(
        !key.is_empty() && key.len() <= MAX_KEY_LENGTH,
        "key length {}",
        key.len()
    );
    assert!(!key.contains(&b' ') && !key.contains(&b'\n') && !key.contains(&0));
}

fn check_keys(keys: Keys<'_>) {
    for key in keys {
        check_key(key);
    }
}

fn check_tokens(tokens: Keys<'_>) {
    for token in tokens {
        assert!(!token.is_empty() && !token.contains(&b' '));
    }
}

fuzz_target!(|data: &[u8]| {
    let result = parse(data);
    match result {
        Parse::Request { request, consumed } => {
            assert!(consumed > 0 && consumed <= data.len());
            assert_eq!(data[consumed - 1], b'\n');
            match request {
                Request::Get { keys, .. } | Request::Gat { keys, .. } => check_keys(keys),
                Request::Store { key, bytes, .. } => {
                    check_key(key);
                    assert!(bytes <= i32::MAX as usize - 2);
                }
                Request::Delete { key, .. }
                | Request::Delta { key, .. }
                | Request::Touch { key, .. } => check_key(key),
                Request::Stats { args } => check_tokens(args),
                _ => {}
            }
            // A request depends on its own line only, never on bytes after it.
            assert_eq!(parse(&data[..consumed]), result);
        }
        Parse::Error {
            error, consumed, ..
        } => {
            assert!(consumed > 0 && consumed <= data.len());
            assert_eq!(data[consumed - 1], b'\n');
            let reply = error.reply();
            assert!(reply.is_empty() || reply.ends_with(b"\r\n"));
            assert_eq!(parse(&data[..consumed]), result);
        }
        Parse::Incomplete { close: false } => {
            // Waiting is only for a line that has not ended yet.
            assert!(!data.contains(&b'\n'));
        }
        Parse::Incomplete { close: true } => {}
    }
});
