//! Storage lines (`set add replace append prepend cas`): token counts, keys, flags,
//! exptime, byte counts, CAS uniques, and what `noreply` silences.

use super::*;

#[test]
fn every_storage_command() {
    for (name, command) in [
        (&b"set"[..], StoreCommand::Set),
        (b"add", StoreCommand::Add),
        (b"replace", StoreCommand::Replace),
        (b"append", StoreCommand::Append),
        (b"prepend", StoreCommand::Prepend),
    ] {
        let mut line = name.to_vec();
        line.extend_from_slice(b" key 5 100 3\r\n");
        assert_eq!(store(&line), (command, &b"key"[..], 5, 100, 3, 0, false));
    }
    assert_eq!(
        store(b"cas key 1 2 3 99\r\n"),
        (StoreCommand::Cas, &b"key"[..], 1, 2, 3, 99, false)
    );
    assert_eq!(
        store(b"cas key 1 2 3 99 noreply\r\n"),
        (StoreCommand::Cas, &b"key"[..], 1, 2, 3, 99, true)
    );
}

#[test]
fn storage_token_counts() {
    assert_eq!(reply(b"set k 0 0\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"set k\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"set k 0 0 1 noreply x\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"cas k 0 0 1\r\n"), b"ERROR\r\n");
    assert_eq!(reply(b"cas k 0 0 1 1 noreply x\r\n"), b"ERROR\r\n");
}

#[test]
fn storage_extra_token_that_is_not_noreply_is_ignored() {
    assert!(!store(b"set k 0 0 1 junk\r\n").6);
}

#[test]
fn storage_noreply() {
    assert!(store(b"set k 0 0 1 noreply\r\n").6);
}

#[test]
fn storage_key_of_251_bytes() {
    let mut line = b"set ".to_vec();
    line.extend_from_slice(&[b'k'; 251]);
    line.extend_from_slice(b" 0 0 1\r\n");
    assert_eq!(error(&line), ProtocolError::BadFormat);
    let mut line = b"set ".to_vec();
    line.extend_from_slice(&[b'k'; 250]);
    line.extend_from_slice(b" 0 0 1\r\n");
    assert_eq!(store(&line).1.len(), 250);
}

#[test]
fn storage_flags_are_u32_truncated_from_64_bits() {
    assert_eq!(store(b"set k 4294967295 0 1\r\n").2, u32::MAX);
    // memcached stores flags 0 for 4294967296 and 1 for 4294967297.
    assert_eq!(store(b"set k 4294967296 0 1\r\n").2, 0);
    assert_eq!(store(b"set k 4294967297 0 1\r\n").2, 1);
    assert_eq!(store(b"set k +5 0 1\r\n").2, 5);
}

#[test]
fn storage_bad_flags() {
    assert_eq!(error(b"set k -1 0 1\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k abc 0 1\r\n"), ProtocolError::BadFormat);
    assert_eq!(
        error(b"set k 18446744073709551616 0 1\r\n"),
        ProtocolError::BadFormat
    );
}

#[test]
fn storage_exptime() {
    assert_eq!(store(b"set k 0 -1 1\r\n").3, -1);
    assert_eq!(store(b"set k 0 2592000 1\r\n").3, 2_592_000);
    assert_eq!(store(b"set k 0 4294967296 1\r\n").3, 0);
    assert_eq!(error(b"set k 0 abc 1\r\n"), ProtocolError::BadFormat);
}

#[test]
fn storage_bytes_limits() {
    assert_eq!(store(b"set k 0 0 0\r\n").4, 0);
    assert_eq!(store(b"set k 0 0 01\r\n").4, 1);
    assert_eq!(store(b"set k 0 0 +1\r\n").4, 1);
    // memcached adds 2 to an int: 2147483645 is the largest length it accepts.
    assert_eq!(store(b"set k 0 0 2147483645\r\n").4, 2_147_483_645);
    assert_eq!(error(b"set k 0 0 2147483646\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 2147483647\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 -1\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 abc\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"set k 0 0 1x\r\n"), ProtocolError::BadFormat);
}

#[test]
fn storage_cas_unique() {
    assert_eq!(store(b"cas k 0 0 1 18446744073709551615\r\n").5, u64::MAX);
    assert_eq!(error(b"cas k 0 0 1 -1\r\n"), ProtocolError::BadFormat);
    assert_eq!(error(b"cas k 0 0 1 abc\r\n"), ProtocolError::BadFormat);
    assert_eq!(
        error(b"cas k 0 0 1 18446744073709551616\r\n"),
        ProtocolError::BadFormat
    );
}

#[test]
fn noreply_silences_storage_line_errors() {
    // memcached sends nothing for these, then reads the data line as a command.
    assert_eq!(error(b"set k abc 0 1 noreply\r\n"), ProtocolError::Silenced);
    assert_eq!(reply(b"set k 0 0 -1 noreply\r\n"), b"");
    // "cas k 0 0 1 noreply": noreply is the last token, and also a bad cas unique.
    assert_eq!(error(b"cas k 0 0 1 noreply\r\n"), ProtocolError::Silenced);
}

#[test]
fn noreply_does_not_silence_wrong_token_counts() {
    assert_eq!(reply(b"set k 0 noreply\r\n"), b"ERROR\r\n");
}
