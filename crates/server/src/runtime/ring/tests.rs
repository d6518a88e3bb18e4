//! The ring's operations, each run against a socket pair.

use super::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

fn ring() -> Option<Ring> {
    match Ring::new(Features::ALL) {
        Ok(r) => Some(r),
        // A kernel without io_uring: the fallback test covers that case.
        Err(e) => panic!("io_uring unavailable on this test machine: {e}"),
    }
}

/// Waits until `out` holds at least `n` completions.
fn wait_for(ring: &mut Ring, out: &mut Vec<Reaped>, n: usize) {
    for _ in 0..200 {
        if out.len() >= n {
            return;
        }
        ring.enter(Some(Duration::from_millis(10))).unwrap();
        ring.reap(out);
    }
    panic!("{} of {n} completions: {out:?}", out.len());
}

fn wait(ring: &mut Ring, out: &mut Vec<Reaped>) {
    for _ in 0..200 {
        ring.enter(Some(Duration::from_millis(10))).unwrap();
        ring.reap(out);
        if !out.is_empty() {
            return;
        }
    }
    panic!("no completion");
}

#[test]
fn tags_round_trip() {
    for op in [Op::Recv, Op::RecvInto, Op::Send, Op::Watch, Op::Cancel] {
        for slot in [0, 1, 77, u32::MAX] {
            assert_eq!(Op::from_tag(op.tag(slot)), Some((slot, op)));
        }
    }
}

#[test]
fn a_provided_buffer_receive_and_its_buffer_coming_back() {
    let mut ring = ring().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    // More receives than buffers, each completing: buffers must come back.
    for round in 0..(usize::from(RECV_BUFFERS) * 2 + 3) {
        assert!(ring.recv(5, File::Fd(a.as_raw_fd()), RECV_BUFFER as u32));
        let msg = format!("hello {round}");
        b.write_all(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        wait(&mut ring, &mut out);
        let Reaped::Session {
            slot,
            op,
            result,
            flags,
        } = out[0]
        else {
            panic!("{out:?}");
        };
        assert_eq!((slot, op), (5, Op::Recv));
        let got = ring
            .take_received(flags, result as usize, |b| b.to_vec())
            .unwrap();
        assert_eq!(got, msg.as_bytes());
    }
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_direct_receive_a_gathered_send_and_a_cancelled_receive() {
    direct_gathered_cancelled(false);
}

#[test]
fn the_same_on_a_registered_socket() {
    direct_gathered_cancelled(true);
}

#[test]
fn a_direct_receive_completes_once_with_every_byte_or_at_the_end_of_stream() {
    let mut ring = ring().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let file = File::Fd(a.as_raw_fd());
    let mut target = vec![0u8; 10];
    // SAFETY: `target` lives until the completion is reaped below.
    assert!(unsafe { ring.recv_into(4, file, target.as_mut_ptr(), 10) });
    let mut out = Vec::new();
    // Arrivals in parts make no completion until the last one.
    for part in [&b"val"[..], b"ue-"] {
        b.write_all(part).unwrap();
        for _ in 0..3 {
            ring.enter(Some(Duration::from_millis(10))).unwrap();
            ring.reap(&mut out);
        }
        assert!(out.is_empty(), "{out:?}");
    }
    b.write_all(b"1234").unwrap();
    wait(&mut ring, &mut out);
    assert!(
        matches!(
            out[..],
            [Reaped::Session {
                slot: 4,
                op: Op::RecvInto,
                result: 10,
                ..
            }]
        ),
        "{out:?}"
    );
    assert_eq!(target, b"value-1234");

    // The peer hangs up midway: what came, then the end.
    let mut target = vec![0u8; 10];
    // SAFETY: `target` lives until the completion is reaped below.
    assert!(unsafe { ring.recv_into(4, file, target.as_mut_ptr(), 10) });
    b.write_all(b"half").unwrap();
    ring.enter(Some(Duration::from_millis(10))).unwrap();
    drop(b);
    out.clear();
    wait(&mut ring, &mut out);
    assert!(
        matches!(
            out[..],
            [Reaped::Session {
                slot: 4,
                op: Op::RecvInto,
                result: 4,
                ..
            }]
        ),
        "{out:?}"
    );
    assert_eq!(&target[..4], b"half");
    assert_eq!(ring.in_flight(), 0);
}

/// A socket as the ring's operations name it: registered in its file table at `slot`,
/// or by descriptor.
fn file_of(ring: &mut Ring, slot: u32, fd: std::os::fd::RawFd, fixed: bool) -> File {
    match fixed {
        true => {
            let file = ring.register(slot, fd);
            assert_eq!(file, File::Fixed(slot));
            file
        }
        false => File::Fd(fd),
    }
}

fn direct_gathered_cancelled(fixed: bool) {
    let mut ring = ring().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let file = file_of(&mut ring, 1, a.as_raw_fd(), fixed);
    let mut target = vec![0u8; 5];
    // SAFETY: `target` lives until the completion is reaped below.
    assert!(unsafe { ring.recv_into(1, file, target.as_mut_ptr(), 5) });
    b.write_all(b"value").unwrap();
    let mut out = Vec::new();
    wait(&mut ring, &mut out);
    assert!(matches!(
        out[0],
        Reaped::Session {
            slot: 1,
            op: Op::RecvInto,
            result: 5,
            ..
        }
    ));
    assert_eq!(target, b"value");

    let parts: [&[u8]; 3] = [b"VALUE k 0 1\r\n", b"x", b"\r\nEND\r\n"];
    let iov: Vec<libc::iovec> = parts
        .iter()
        .map(|p| libc::iovec {
            iov_base: p.as_ptr() as *mut libc::c_void,
            iov_len: p.len(),
        })
        .collect();
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // SAFETY: `iov`, `msg` and `parts` live until the completion is reaped below.
    assert!(unsafe { ring.send(2, file, &iov, &mut msg) });
    out.clear();
    wait(&mut ring, &mut out);
    assert!(matches!(
        out[0],
        Reaped::Session {
            slot: 2,
            op: Op::Send,
            result: 21,
            ..
        }
    ));
    let mut got = [0u8; 21];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"VALUE k 0 1\r\nx\r\nEND\r\n");

    // A receive nobody answers, cancelled: it completes with ECANCELED.
    let mut idle = vec![0u8; 8];
    // SAFETY: `idle` lives until the cancelled receive's completion is reaped.
    assert!(unsafe { ring.recv_into(3, file, idle.as_mut_ptr(), 8) });
    ring.enter(Some(Duration::ZERO)).unwrap();
    assert!(ring.cancel(3, file));
    out.clear();
    wait_for(&mut ring, &mut out, 2);
    // The cancellation completes too, saying how many it found.
    assert!(
        out.iter().any(|r| matches!(r, Reaped::Session { slot: 3, op: Op::RecvInto, result, .. } if *result == -libc::ECANCELED)),
        "{out:?}"
    );
    assert!(
        out.iter().any(|r| matches!(
            r,
            Reaped::Session {
                slot: 3,
                op: Op::Cancel,
                result: 1,
                ..
            }
        )),
        "{out:?}"
    );
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn dropping_a_ring_with_a_receive_in_flight_waits_for_it() {
    let mut ring = ring().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    assert!(ring.recv(9, File::Fd(a.as_raw_fd()), 64));
    ring.enter(Some(Duration::ZERO)).unwrap();
    assert_eq!(ring.in_flight(), 1);
    drop(ring);
}

#[test]
fn a_multishot_receive_completes_until_stopped() {
    let mut ring = ring().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let file = file_of(&mut ring, 4, a.as_raw_fd(), true);
    assert!(ring.recv_multi(4, file));
    // One submission, several completions, each with its own buffer (more rounds than
    // there are buffers: each must come back).
    let mut got = Vec::new();
    for round in 0..(usize::from(RECV_BUFFERS) + 5) {
        let msg = format!("request {round};");
        b.write_all(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        wait(&mut ring, &mut out);
        for r in out {
            let Reaped::Session {
                slot: 4,
                op: Op::Recv,
                result,
                flags,
            } = r
            else {
                panic!("{r:?}");
            };
            assert!(result > 0, "{result}");
            assert!(cqueue::more(flags), "the receive stays armed");
            let bytes = ring.take_received(flags, result as usize, |b| b.to_vec());
            got.extend(bytes.unwrap());
        }
        assert_eq!(ring.in_flight(), 1);
    }
    let want: String = (0..(usize::from(RECV_BUFFERS) + 5))
        .map(|r| format!("request {r};"))
        .collect();
    assert_eq!(String::from_utf8(got).unwrap(), want);

    // Stopped: its last completion says so, without MORE, and nothing is in flight.
    assert!(ring.stop_recv(4));
    let mut out = Vec::new();
    wait_for(&mut ring, &mut out, 2);
    assert!(
        out.iter().any(
            |r| matches!(r, Reaped::Session { slot: 4, op: Op::Recv, result, flags }
            if *result == -libc::ECANCELED && !cqueue::more(*flags))
        ),
        "{out:?}"
    );
    assert!(
        out.iter().any(|r| matches!(
            r,
            Reaped::Session {
                slot: 4,
                op: Op::Cancel,
                result: 0,
                ..
            }
        )),
        "{out:?}"
    );
    assert_eq!(ring.in_flight(), 0);
    // Stopping what has ended finds nothing: ENOENT (the session cancels again only
    // while its receive is still in flight).
    assert!(ring.stop_recv(4));
    out.clear();
    wait(&mut ring, &mut out);
    assert!(
        matches!(out[..], [Reaped::Session { slot: 4, op: Op::Cancel, result, .. }] if result == -libc::ENOENT),
        "{out:?}"
    );

    // The peer's close ends a multishot receive too: a last completion of 0 bytes.
    assert!(ring.recv_multi(4, file));
    drop(b);
    out.clear();
    wait(&mut ring, &mut out);
    assert!(
        matches!(out[..], [Reaped::Session { slot: 4, op: Op::Recv, result: 0, flags }]
            if !cqueue::more(flags)),
        "{out:?}"
    );
    assert_eq!(ring.in_flight(), 0);
}

#[test]
fn a_registered_socket_stays_open_until_unregistered() {
    let mut ring = ring().unwrap();
    let (a, mut b) = UnixStream::pair().unwrap();
    let file = file_of(&mut ring, 7, a.as_raw_fd(), true);
    // The table holds the socket open on its own: closing the descriptor is not enough
    // (why a session is unregistered before its descriptor closes).
    drop(a);
    b.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let still_open = b.read(&mut byte).unwrap_err();
    assert_eq!(still_open.kind(), std::io::ErrorKind::WouldBlock);
    ring.unregister(file);
    b.set_nonblocking(false).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(b.read(&mut byte).unwrap(), 0);
}

#[test]
fn slots_past_the_table_use_plain_descriptors() {
    let mut ring = ring().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    assert_eq!(ring.register(u32::MAX, fd), File::Fd(fd));
    let plain = Ring::new(Features {
        fixed_files: false,
        ..Features::ALL
    })
    .unwrap();
    let mut plain = plain;
    assert_eq!(plain.register(0, fd), File::Fd(fd));
}
