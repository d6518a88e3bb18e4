//! Arbitrary bytes as a binary-protocol request: the header check and the decoder must
//! never panic, never claim more bytes than the header announced, and hand a server only
//! keys and lengths it can use without further checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::binary::{check, decode, Frame, Header, HEADER_LEN};
use protocol::text::MAX_KEY_LENGTH;

fuzz_target!(|data: &[u8]| {
    let Some(header) = Header::parse(data) else {
        assert!(data.len() < HEADER_LEN);
        return;
    };
    assert_eq!(Header::parse(&header.to_bytes()), Some(header));
    let body = header.body_len as usize;
    match check(&header) {
        Frame::Command(command) => {
            let head = header.head_len();
            assert!(head - HEADER_LEN <= body, "{header:?}");
            assert!(usize::from(header.key_len) <= MAX_KEY_LENGTH);
            assert_eq!(head - HEADER_LEN + header.value_len(), body);
            match decode(&header, command, data) {
                None => assert!(data.len() < head),
                Some(request) => {
                    assert!(data.len() >= head);
                    assert_eq!(request.key.len(), usize::from(header.key_len));
                    assert_eq!(request.key, &data[head - request.key.len()..head]);
                    assert_eq!(request.value_len, header.value_len());
                    assert_eq!(request.opaque, header.opaque);
                    assert_eq!(request.cas, header.cas);
                }
            }
        }
        Frame::Unknown { swallow } => assert!(swallow <= body, "{header:?}"),
        Frame::Drop => assert_ne!(header.magic, protocol::binary::REQUEST_MAGIC),
        Frame::Fatal(_) => {}
    }
});
