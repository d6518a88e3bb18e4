//! Running one script against a reference server and a server under test, step by step,
//! and comparing the normalised replies byte for byte.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use super::normalise::{normalise, CasLabels, End, Reply};
use super::script::{Action, Expect, Part, Script, Step};
use super::show::{escaped, first_difference, line_diff};
use super::{Implementation, Server, Stream, Transport};

thread_local! {
    /// This thread compares a TLS server with a plain one (see [`compare_across`]).
    pub static MIXED_TRANSPORTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets [`MIXED_TRANSPORTS`] for as long as it lives.
struct MixedTransports;

impl MixedTransports {
    fn set(mixed: bool) -> MixedTransports {
        MIXED_TRANSPORTS.with(|m| m.set(mixed));
        MixedTransports
    }
}

impl Drop for MixedTransports {
    fn drop(&mut self) {
        MIXED_TRANSPORTS.with(|m| m.set(false));
    }
}

/// The connection a script talks on until it says `conn <name>`.
const DEFAULT_CONN: &str = "main";

/// Reports stop listing differences after this many; later ones are usually consequences.
const REPORTED_MISMATCHES: usize = 8;

/// Replies longer than this many lines are reported as a line diff rather than in full.
const LONG_REPLY_LINES: usize = 12;

/// The safety net behind every expectation: how long to wait for bytes that should come.
/// A correct pair of servers never hits it; CORVID_DIFF_TIMEOUT_MS changes it.
fn read_timeout() -> Duration {
    let ms = std::env::var("CORVID_DIFF_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    Duration::from_millis(ms)
}

/// Runs `script` against fresh servers of both implementations, started with the
/// script's `args`. Err holds a readable report of every difference.
pub fn compare(
    script: &Script,
    reference: Implementation,
    subject: Implementation,
) -> Result<(), String> {
    compare_across(
        script,
        (reference, script.transport),
        (subject, script.transport),
    )
}

/// Like [`compare`], each side over a transport of its own (memcached over TCP, corvid
/// over TLS). The `stats` lines only a TLS server has (`ssl_*`,
/// `time_since_server_cert_refresh`) are then left out of both sides' replies.
pub fn compare_across(
    script: &Script,
    (reference, reference_transport): (Implementation, Transport),
    (subject, subject_transport): (Implementation, Transport),
) -> Result<(), String> {
    let _mixed = MixedTransports::set(reference_transport != subject_transport);
    let args: Vec<&str> = script.args.iter().map(String::as_str).collect();
    let mut sides = [
        Side::new(Server::start(reference, &args, reference_transport)),
        Side::new(Server::start(subject, &args, subject_transport)),
    ];
    let mut mismatches = Vec::new();
    let mut framing = Vec::new();
    for step in &script.steps {
        if let Some((_, End::TimedOut)) = run_step(step, &mut sides, &mut mismatches) {
            framing.push(format!(
                "line {}: {} sent less than this expectation waits for (a script error, and a \
                 {:?} stall per run)\n",
                step.line,
                reference.name(),
                read_timeout()
            ));
        }
    }
    // Anything a server sent beyond what the script expected shows up before the reply
    // to this last command, and a connection one side closed early shows up here too.
    let open: Vec<String> = sides[0]
        .conns
        .iter()
        .filter(|(_, c)| !c.closed)
        .map(|(name, _)| name.clone())
        .collect();
    for name in open {
        let conn_name = name.clone();
        let line = script.steps.last().map_or(0, |s| s.line);
        let sync = [
            Step {
                line,
                action: Action::Conn(name),
            },
            Step {
                line,
                action: Action::Send {
                    parts: vec![Part::Bytes(b"version\r\n".to_vec())],
                    chunk: None,
                    flush: true,
                },
            },
            Step {
                line,
                action: Action::Expect(Expect::Lines(1)),
            },
        ];
        let mut reference_reply = None;
        for step in &sync {
            if let Some((reply, _)) = run_step(step, &mut sides, &mut mismatches) {
                reference_reply = Some(reply);
            }
        }
        // Both servers may agree and still be read out of step with the script: a wrong
        // `expect lines N` leaves bytes that later steps swallow. The reference must answer
        // this last command with its version line alone.
        if reference_reply.as_deref() != Some(&b"VERSION <version>\r\n"[..]) {
            framing.push(format!(
                "framing error: the script's expectations do not match {}'s replies; before \
                 the final `version` on connection {conn_name} it sent:\n{}\n",
                reference.name(),
                escaped(reference_reply.as_deref().unwrap_or_default(), "    ")
            ));
        }
    }
    if mismatches.is_empty() && framing.is_empty() {
        return Ok(());
    }
    let [reference_side, subject_side] = &mut sides;
    let mut report = format!(
        "script {} (args {:?}): {} step(s) where {} and {} answer differently{}\n",
        script.name,
        script.args,
        mismatches.len(),
        reference.name(),
        subject.name(),
        if framing.is_empty() {
            String::new()
        } else {
            format!(", {} problem(s) in the script itself", framing.len())
        }
    );
    for f in &framing {
        report.push_str(f);
    }
    for m in mismatches.iter().take(REPORTED_MISMATCHES) {
        report.push_str(&m.render(reference, subject));
    }
    if mismatches.len() > REPORTED_MISMATCHES {
        report.push_str(&format!(
            "... and {} more\n",
            mismatches.len() - REPORTED_MISMATCHES
        ));
    }
    if reference_side.server.is_running() && !subject_side.server.is_running() {
        report.push_str(&format!("{} exited during the script.\n", subject.name()));
    }
    let log = subject_side.server.log();
    if !log.trim().is_empty() {
        report.push_str(&format!(
            "{} output:\n{}\n",
            subject.name(),
            tail(&log, 3000)
        ));
    }
    Err(report)
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

struct Mismatch {
    line: usize,
    conn: String,
    sent: Vec<u8>,
    reference: Vec<u8>,
    subject: Vec<u8>,
}

impl Mismatch {
    fn render(&self, reference: Implementation, subject: Implementation) -> String {
        let at = first_difference(&self.reference, &self.subject);
        let mut text = format!(
            "--- line {} (connection {}), replies differ from byte {at}\n  sent:\n{}\n",
            self.line,
            self.conn,
            escaped(&self.sent, "    "),
        );
        let lines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
        if lines(&self.reference).max(lines(&self.subject)) > LONG_REPLY_LINES {
            text.push_str(&format!(
                "  diff (- {}, + {}):\n{}",
                reference.name(),
                subject.name(),
                line_diff(&self.reference, &self.subject, "    ")
            ));
        } else {
            text.push_str(&format!(
                "  {}:\n{}\n  {}:\n{}\n",
                reference.name(),
                escaped(&self.reference, "    "),
                subject.name(),
                escaped(&self.subject, "    "),
            ));
        }
        text
    }
}

/// Runs one step on both sides; for an expectation, returns the reference's normalised
/// reply and how its read ended.
fn run_step(
    step: &Step,
    sides: &mut [Side; 2],
    mismatches: &mut Vec<Mismatch>,
) -> Option<(Vec<u8>, End)> {
    match &step.action {
        Action::Conn(name) => {
            for side in sides.iter_mut() {
                side.current = name.clone();
            }
            None
        }
        Action::HalfClose => {
            for side in sides.iter_mut() {
                let conn = side.conn();
                conn.flush(None);
                if let Some(stream) = conn.stream.as_mut() {
                    // A server that already closed makes this fail; the next read says so.
                    let _ = stream.shutdown_write();
                }
            }
            None
        }
        Action::Close => {
            for side in sides.iter_mut() {
                // Dropping the stream closes the socket, with whatever it had unread.
                side.conns.remove(&side.current);
            }
            None
        }
        Action::Send {
            parts,
            chunk,
            flush,
        } => {
            for side in sides.iter_mut() {
                side.send(parts, *chunk, *flush);
            }
            None
        }
        Action::Expect(expect) => {
            let mut normalised = Vec::new();
            let mut sent = Vec::new();
            let mut reference_end = None;
            for side in sides.iter_mut() {
                let (reply, sent_here) = side.expect(expect);
                reference_end.get_or_insert(reply.end);
                normalised.push(normalise(&reply, expect, &mut side.cas));
                if sent.is_empty() {
                    sent = sent_here;
                }
            }
            if std::env::var_os("CORVID_DIFF_SHOW").is_some() {
                eprintln!(
                    "line {} ({}):\n{}\n  ->\n{}",
                    step.line,
                    sides[0].current,
                    escaped(&sent, "    "),
                    escaped(&normalised[0], "    ")
                );
            }
            let subject = normalised.pop().unwrap_or_default();
            let reference = normalised.pop().unwrap_or_default();
            // A proxy answers `stats` with its own counters: only the framing of those
            // replies is checked (the step above read them as STAT lines to END).
            let own_stats = matches!(expect, Expect::Stats | Expect::StatsShape)
                && sides[1].server.implementation() == Implementation::Proxy;
            if reference != subject && !own_stats {
                mismatches.push(Mismatch {
                    line: step.line,
                    conn: sides[0].current.clone(),
                    sent,
                    reference: reference.clone(),
                    subject,
                });
            }
            Some((reference, reference_end.unwrap_or(End::Complete)))
        }
    }
}

/// One server and the script's connections to it.
struct Side {
    server: Server,
    conns: BTreeMap<String, Conn>,
    current: String,
    cas: CasLabels,
    /// Read timeout for this side. After its first timeout a side is out of step with the
    /// script and every later expectation would wait in vain, so it drops to `IMPATIENT`:
    /// a server that stops answering fails a script in seconds, not minutes.
    patience: Duration,
}

/// The read timeout of a side that has already timed out once.
const IMPATIENT: Duration = Duration::from_millis(150);

struct Conn {
    stream: Option<Stream>,
    /// Received and not yet consumed by an expectation.
    unread: Vec<u8>,
    /// Queued by `queue`, written by the next `send` or `expect`.
    pending: Vec<u8>,
    /// Written since the last expectation, for reports.
    sent: Vec<u8>,
    closed: bool,
    write_failed: bool,
}

impl Side {
    fn new(server: Server) -> Side {
        Side {
            server,
            conns: BTreeMap::new(),
            current: DEFAULT_CONN.to_string(),
            cas: CasLabels::default(),
            patience: read_timeout(),
        }
    }

    fn conn(&mut self) -> &mut Conn {
        let server = &self.server;
        let patience = self.patience;
        self.conns.entry(self.current.clone()).or_insert_with(|| {
            // A server that died or refuses connections gives a closed connection: the
            // comparison then shows it, instead of the harness panicking halfway.
            let stream = server.try_connect().ok().and_then(|s| {
                s.set_read_timeout(Some(patience)).ok()?;
                s.set_write_timeout(Some(read_timeout())).ok()?;
                Some(s)
            });
            Conn {
                closed: stream.is_none(),
                stream,
                unread: Vec::new(),
                pending: Vec::new(),
                sent: Vec::new(),
                write_failed: false,
            }
        })
    }

    fn send(&mut self, parts: &[Part], chunk: Option<usize>, flush: bool) {
        let mut bytes = Vec::new();
        for part in parts {
            match part {
                Part::Bytes(b) => bytes.extend_from_slice(b),
                // A CAS this server never showed: send a value no item can have, so the
                // server answers (and the earlier missing VALUE line is already reported).
                Part::Cas(label) => {
                    let value = self.cas.value(*label).unwrap_or(u64::MAX);
                    bytes.extend_from_slice(value.to_string().as_bytes());
                }
                Part::CasBinary(label) => {
                    let value = self.cas.value(*label).unwrap_or(u64::MAX);
                    bytes.extend_from_slice(&value.to_be_bytes());
                }
            }
        }
        let conn = self.conn();
        conn.pending.extend_from_slice(&bytes);
        if flush {
            conn.flush(chunk);
        }
    }

    fn expect(&mut self, expect: &Expect) -> (Reply, Vec<u8>) {
        let conn = self.conn();
        conn.flush(None);
        let sent = std::mem::take(&mut conn.sent);
        let write_failed = std::mem::replace(&mut conn.write_failed, false);
        let (bytes, end) = conn.read(expect);
        if end == End::TimedOut && self.patience > IMPATIENT {
            self.patience = IMPATIENT;
            for stream in self.conns.values().filter_map(|c| c.stream.as_ref()) {
                let _ = stream.set_read_timeout(Some(IMPATIENT));
            }
        }
        (
            Reply {
                bytes,
                end,
                write_failed,
            },
            sent,
        )
    }
}

impl Conn {
    fn flush(&mut self, chunk: Option<usize>) {
        if self.pending.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        self.sent.extend_from_slice(&bytes);
        // Once the close has been seen, a write "fails" without trying: whether the kernel
        // would still accept it depends on timing (FIN or RST), and reports must not.
        let Some(stream) = self.stream.as_mut().filter(|_| !self.closed) else {
            self.write_failed = true;
            return;
        };
        let size = chunk.unwrap_or(bytes.len()).max(1);
        for piece in bytes.chunks(size) {
            if stream
                .write_all(piece)
                .and_then(|_| stream.flush())
                .is_err()
            {
                self.write_failed = true;
                return;
            }
        }
    }

    fn read(&mut self, expect: &Expect) -> (Vec<u8>, End) {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut scan = Scan::default();
        loop {
            if let Some(n) = scan.complete(&self.unread, expect) {
                let rest = self.unread.split_off(n);
                return (std::mem::replace(&mut self.unread, rest), End::Complete);
            }
            if self.closed {
                return (std::mem::take(&mut self.unread), End::Closed);
            }
            let Some(stream) = self.stream.as_mut() else {
                self.closed = true;
                continue;
            };
            match stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.unread.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return (std::mem::take(&mut self.unread), End::TimedOut);
                }
                // A reset is the peer closing with unread data in its buffer: still a close.
                Err(_) => self.closed = true,
            }
        }
    }
}

/// Where the search for the end of a reply stands, so each arriving chunk is looked at
/// once: a 30 MB multi-get reply arrives in hundreds of reads.
#[derive(Default)]
struct Scan {
    /// Bytes before this offset are already accounted for.
    pos: usize,
    /// Lines or terminators found so far.
    found: usize,
}

impl Scan {
    /// How many bytes of `buf` make up the whole reply, once they have all arrived.
    fn complete(&mut self, buf: &[u8], expect: &Expect) -> Option<usize> {
        match expect {
            Expect::Lines(n) => {
                while self.found < *n {
                    let nl = buf[self.pos..].iter().position(|&b| b == b'\n')?;
                    self.pos += nl + 1;
                    self.found += 1;
                }
                Some(self.pos)
            }
            Expect::Until(terminator, count) => {
                while self.found < *count {
                    match find(&buf[self.pos..], terminator) {
                        Some(at) => {
                            self.pos += at + terminator.len();
                            self.found += 1;
                        }
                        None => {
                            // The terminator may straddle this chunk and the next one.
                            let keep = terminator.len() - 1;
                            self.pos = self.pos.max(buf.len().saturating_sub(keep));
                            return None;
                        }
                    }
                }
                Some(self.pos)
            }
            Expect::Line(prefix) => {
                while let Some(nl) = buf[self.pos..].iter().position(|&b| b == b'\n') {
                    let line = &buf[self.pos..self.pos + nl + 1];
                    self.pos += nl + 1;
                    if line.starts_with(prefix) {
                        return Some(self.pos);
                    }
                }
                None
            }
            Expect::Bytes(n) => (buf.len() >= *n).then_some(*n),
            Expect::Close => None,
            Expect::Frames(n) => {
                while self.found < *n {
                    let header = buf.get(self.pos..self.pos + 24)?;
                    let body = u32::from_be_bytes([header[8], header[9], header[10], header[11]]);
                    let end = self.pos + 24 + body as usize;
                    if buf.len() < end {
                        return None;
                    }
                    self.pos = end;
                    self.found += 1;
                }
                Some(self.pos)
            }
            Expect::Stats | Expect::StatsShape => {
                // STAT lines, then one line that is not (END, RESET, ERROR, OK, ...).
                while let Some(nl) = buf[self.pos..].iter().position(|&b| b == b'\n') {
                    let line = &buf[self.pos..self.pos + nl + 1];
                    self.pos += nl + 1;
                    if !line.starts_with(b"STAT ") {
                        return Some(self.pos);
                    }
                }
                None
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(at) = haystack[from..].iter().position(|&b| b == first) {
        let start = from + at;
        if haystack[start + 1..].starts_with(rest) {
            return Some(start);
        }
        from = start + 1;
    }
    None
}
