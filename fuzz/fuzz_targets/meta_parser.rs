//! Arbitrary command lines into the meta parser, and the parsed requests into the reply
//! writer: nothing may panic, a refusal carries one whole reply line, and an accepted
//! request only holds what a server can use without further checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::meta::{self, Command, Facts, Status};
use protocol::text::MAX_KEY_LENGTH;

fn one_line(reply: &[u8]) -> bool {
    reply.ends_with(b"\r\n") && !reply[..reply.len() - 2].contains(&b'\n')
}

fuzz_target!(|data: &[u8]| {
    // A server hands the parser one line without its "\r\n".
    let line = match data.iter().position(|&b| b == b'\n') {
        Some(at) => &data[..at],
        None => data,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !meta::is_meta(line) {
        return;
    }
    match meta::parse(line) {
        Err(rejected) => {
            assert!(one_line(rejected.error.reply()), "{rejected:?}");
        }
        Ok(request) => {
            let key = request.key();
            if request.command != Command::NoOp {
                assert!(
                    !key.is_empty() && key.len() <= MAX_KEY_LENGTH,
                    "key {key:?}"
                );
            }
            assert!(!request.wire_key().contains(&b' '));
            // Every status with every fact: one line, whatever the flags asked for.
            let facts = Facts {
                size: Some(request.datalen),
                ttl: Some(-1),
                cas: Some(u64::MAX),
                client_flags: Some(u32::MAX),
                last_access: Some(0),
                hit_before: Some(true),
                key: Some(key),
                binary_key: request.flags.base64,
                already_won: true,
                stale: true,
                won: true,
            };
            for status in [
                Status::Value(request.datalen),
                Status::Stored,
                Status::Miss,
                Status::NotFound,
                Status::NotStored,
                Status::Exists,
            ] {
                let mut out = Vec::new();
                meta::write_status(&mut out, status, &request.flags, &facts);
                assert!(one_line(&out), "{:?}", String::from_utf8_lossy(&out));
                if let Some(opaque) = request.flags.opaque {
                    if !request.opaque_too_long() {
                        assert!(opaque.len() <= meta::MAX_OPAQUE);
                    }
                }
            }
        }
    }
});
