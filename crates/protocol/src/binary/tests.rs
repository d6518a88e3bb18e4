use super::*;

fn header(opcode: u8, key: u16, ext: u8, body: u32) -> Header {
    Header {
        magic: REQUEST_MAGIC,
        opcode,
        key_len: key,
        extras_len: ext,
        data_type: 0,
        vbucket: 0,
        body_len: body,
        opaque: 0xdead_beef,
        cas: 7,
    }
}

#[test]
fn header_round_trips_big_endian() {
    let h = header(opcode::SET, 0x0102, 8, 0x0304_0506);
    let bytes = h.to_bytes();
    assert_eq!(bytes[2..4], [1, 2]);
    assert_eq!(bytes[8..12], [3, 4, 5, 6]);
    assert_eq!(Header::parse(&bytes), Some(h));
    assert_eq!(Header::parse(&bytes[..23]), None);
    assert_eq!(h.head_len(), 24 + 8 + 0x0102);
}

#[test]
fn wrong_magic_is_dropped_before_anything_else() {
    let mut h = header(opcode::GET, 300, 0, 1);
    h.magic = 0x81;
    assert_eq!(check(&h), Frame::Drop);
}

#[test]
fn lengths_that_exceed_the_body_are_unknown_and_fatal() {
    assert_eq!(
        check(&header(opcode::GET, 3, 0, 1)),
        Frame::Fatal(Status::UnknownCommand)
    );
    assert_eq!(
        check(&header(opcode::SET, 1, 8, 8)),
        Frame::Fatal(Status::UnknownCommand)
    );
}

#[test]
fn long_keys_are_invalid_arguments() {
    assert_eq!(
        check(&header(opcode::GET, 251, 0, 251)),
        Frame::Fatal(Status::InvalidArguments)
    );
    assert!(matches!(
        check(&header(opcode::GET, 250, 0, 250)),
        Frame::Command(_)
    ));
}

#[test]
fn extras_must_fit_the_opcode() {
    let einval = Frame::Fatal(Status::InvalidArguments);
    assert_eq!(check(&header(opcode::GET, 1, 4, 5)), einval);
    assert_eq!(check(&header(opcode::SET, 1, 4, 6)), einval);
    assert_eq!(check(&header(opcode::SET, 0, 8, 9)), einval);
    assert_eq!(check(&header(opcode::APPEND, 1, 4, 6)), einval);
    assert_eq!(check(&header(opcode::INCREMENT, 1, 20, 22)), einval);
    assert_eq!(check(&header(opcode::TOUCH, 1, 0, 1)), einval);
    assert_eq!(check(&header(opcode::GAT, 1, 8, 9)), einval);
    assert_eq!(check(&header(opcode::FLUSH, 0, 3, 3)), einval);
    assert_eq!(check(&header(opcode::NOOP, 0, 0, 1)), einval);
    assert_eq!(check(&header(opcode::VERSION, 0, 0, 1)), einval);
    assert_eq!(check(&header(opcode::QUIT, 1, 0, 1)), einval);
    assert_eq!(check(&header(opcode::STAT, 0, 4, 4)), einval);
    assert_eq!(check(&header(opcode::SASL_LIST_MECHS, 0, 0, 2)), einval);
    assert_eq!(check(&header(opcode::SASL_AUTH, 0, 0, 2)), einval);
}

#[test]
fn a_two_gib_body_is_judged_on_the_header_alone() {
    // A GET may not carry a value: refused without reading a byte of it.
    assert_eq!(
        check(&header(opcode::GET, 1, 0, 1 << 31)),
        Frame::Fatal(Status::InvalidArguments)
    );
    // A SET may: the server sizes it against the item limit before reading.
    let h = header(opcode::SET, 1, 8, 1 << 31);
    assert!(matches!(check(&h), Frame::Command(_)));
    assert_eq!(h.value_len(), (1usize << 31) - 9);
}

#[test]
fn quiet_forms_fold_into_their_command() {
    assert_eq!(
        check(&header(opcode::GETKQ, 1, 0, 1)),
        Frame::Command(Command::Get {
            with_key: true,
            quiet: true
        })
    );
    assert_eq!(
        check(&header(opcode::PREPENDQ, 1, 0, 3)),
        Frame::Command(Command::Store {
            kind: StoreKind::Prepend,
            quiet: true
        })
    );
    assert_eq!(
        check(&header(opcode::DECREMENTQ, 1, 20, 21)),
        Frame::Command(Command::Delta {
            incr: false,
            quiet: true
        })
    );
    assert_eq!(
        check(&header(opcode::FLUSHQ, 0, 4, 4)),
        Frame::Command(Command::Flush { quiet: true })
    );
}

#[test]
fn unknown_and_sasl_opcodes_say_how_much_to_swallow() {
    assert_eq!(
        check(&header(0x7f, 2, 4, 10)),
        Frame::Unknown { swallow: 10 }
    );
    assert_eq!(
        check(&header(opcode::SASL_AUTH, 5, 0, 9)),
        Frame::Unknown { swallow: 4 }
    );
    assert_eq!(
        check(&header(opcode::SASL_LIST_MECHS, 0, 0, 0)),
        Frame::Unknown { swallow: 0 }
    );
}

#[test]
fn decode_reads_extras_and_key() {
    let h = header(opcode::INCREMENT, 2, 20, 22);
    let mut buf = h.to_bytes().to_vec();
    buf.extend_from_slice(&5u64.to_be_bytes());
    buf.extend_from_slice(&10u64.to_be_bytes());
    buf.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(decode(&h, Command::Noop, &buf[..buf.len()]), None);
    buf.extend_from_slice(b"ab");
    let Frame::Command(command) = check(&h) else {
        panic!("valid incr");
    };
    let r = decode(&h, command, &buf).expect("head buffered");
    assert_eq!(r.key, b"ab");
    assert_eq!(
        r.extras,
        Extras::Delta {
            delta: 5,
            initial: 10,
            exptime: u32::MAX
        }
    );
    assert_eq!((r.opaque, r.cas, r.value_len), (0xdead_beef, 7, 0));

    let h = header(opcode::SETQ, 1, 8, 12);
    let mut buf = h.to_bytes().to_vec();
    buf.extend_from_slice(&[0, 0, 0, 9, 0, 0, 1, 0]);
    buf.extend_from_slice(b"kval");
    let Frame::Command(command) = check(&h) else {
        panic!("valid setq");
    };
    let r = decode(&h, command, &buf).expect("head buffered");
    assert_eq!(
        r.extras,
        Extras::Store {
            flags: 9,
            exptime: 256
        }
    );
    assert_eq!((r.key, r.value_len, r.opcode), (&b"k"[..], 3, opcode::SETQ));

    let h = header(opcode::FLUSH, 0, 0, 0);
    let bytes = h.to_bytes();
    let r = decode(&h, Command::Flush { quiet: false }, &bytes).expect("header only");
    assert_eq!(r.extras, Extras::Flush(None));
}

#[test]
fn responses_carry_memcacheds_bytes() {
    let mut out = Vec::new();
    write_error(&mut out, opcode::ADDQ, Status::KeyExists, 9);
    assert_eq!(
        out[..24],
        [0x81, 0x12, 0, 0, 0, 0, 0, 2, 0, 0, 0, 20, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&out[24..], b"Data exists for key.");

    out.clear();
    write_stat(&mut out, 3, b"pid", b"42");
    assert_eq!(out[1], opcode::STAT);
    assert_eq!(out[2..4], [0, 3]);
    assert_eq!(out[8..12], [0, 0, 0, 5]);
    assert_eq!(&out[24..], b"pid42");
}

#[test]
fn every_opcode_and_length_mix_is_judged_safely() {
    // What the server relies on: a command needs at most a few hundred bytes buffered
    // before it runs, decodes once they are there, and never claims a value larger than
    // its body; swallowing never counts bytes that the frame did not claim.
    let keys = [0u16, 1, 2, 250, 251, 65535];
    let extras = [0u8, 3, 4, 8, 20, 255];
    let bodies = [0u32, 1, 4, 8, 21, 250, 258, 270, 65535 + 255, u32::MAX];
    let mut buf = vec![0u8; 24 + 255 + 65535];
    for opcode in 0..=255u8 {
        for &key_len in &keys {
            for &extras_len in &extras {
                for &body_len in &bodies {
                    let h = header(opcode, key_len, extras_len, body_len);
                    buf[..24].copy_from_slice(&h.to_bytes());
                    let claimed = usize::from(key_len) + usize::from(extras_len);
                    match check(&h) {
                        Frame::Command(command) => {
                            assert!(claimed <= body_len as usize, "{h:?}");
                            assert!(h.head_len() <= 24 + 20 + 250, "{h:?}");
                            assert_eq!(decode(&h, command, &buf[..h.head_len() - 1]), None);
                            let r = decode(&h, command, &buf).expect("head buffered");
                            assert_eq!(r.key.len(), usize::from(key_len));
                            assert_eq!(r.value_len + claimed, body_len as usize);
                            assert_eq!(r.opcode, opcode);
                        }
                        Frame::Unknown { swallow } => {
                            assert!(claimed <= body_len as usize, "{h:?}");
                            assert!(swallow <= body_len as usize, "{h:?}");
                        }
                        Frame::Fatal(status) => assert!(matches!(
                            status,
                            Status::UnknownCommand | Status::InvalidArguments
                        )),
                        Frame::Drop => panic!("a request magic is never dropped: {h:?}"),
                    }
                }
            }
        }
    }
}
