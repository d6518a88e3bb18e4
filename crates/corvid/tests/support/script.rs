//! The script language: what to send to a server and how to tell that its reply is complete.
//!
//! A script is a text file, one directive per line (see docs/testing.md):
//!
//! ```text
//! # comment
//! args -I 2m                      server flags (before any step)
//! transport unix                  talk over a Unix socket instead of TCP (before any step)
//! conn other                      switch to (or open) the connection named `other`
//! close                           the client closes the current connection
//! half-close                      the client shuts down its sending half only
//! send "set a 0 0 1\r\nx\r\n"     one write of the concatenated parts
//! send-split 1 "get a\r\n"        the same, written N bytes at a time
//! queue " k1"                     append to the next write without writing yet
//! expect lines 1                  read a reply of N lines
//! expect until "END\r\n" [N]      read until the Nth occurrence of the bytes
//! expect line "VERSION "          read through the first line that starts with the bytes
//! expect bytes N                  read exactly N bytes
//! expect close                    read until the server closes the connection
//! expect stats                    read STAT lines and their terminator, normalised as stats
//! expect stats-shape              the same, but only the shape of each line is compared
//! expect frames N                 read N binary-protocol response frames
//! frame 0x01 key "k" extras "\x00\x00\x00\x05\x00\x00\x00\x00" value "v" cas ${cas1} opaque 7
//!                                 write one binary request frame (all fields optional but
//!                                 the opcode; `queue-frame` appends without writing)
//! repeat i 100 199                repeat the lines up to `end` with ${i} = 100..=199
//! end
//! ```
//!
//! A quoted part understands `\r \n \t \0 \\ \" \$ \xHH`, `${casN}` (the Nth distinct CAS
//! value this server has shown, so `cas` commands work against both servers), and a
//! repetition suffix: `"x"*1048576`.

use std::fmt;

use super::Transport;

/// A parsed script.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub args: Vec<String>,
    pub transport: Transport,
    pub steps: Vec<Step>,
}

/// One step with the script line it came from, for reports.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Action {
    Conn(String),
    /// The client closes the current connection; naming it again opens a new one.
    Close,
    /// The client shuts down its sending half; replies can still be read.
    HalfClose,
    /// Bytes to write; `chunk` splits the write into pieces of that many bytes.
    Send {
        parts: Vec<Part>,
        chunk: Option<usize>,
        flush: bool,
    },
    Expect(Expect),
}

#[derive(Debug, Clone)]
pub enum Part {
    Bytes(Vec<u8>),
    /// The server-specific CAS value labelled N (1-based) by the normaliser, in decimal.
    Cas(usize),
    /// The same, as the 8 big-endian bytes of a binary header.
    CasBinary(usize),
}

/// When a reply is complete. The read timeout is only a safety net behind these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Lines(usize),
    Until(Vec<u8>, usize),
    /// Through the first line that starts with these bytes.
    Line(Vec<u8>),
    Bytes(usize),
    Close,
    Stats,
    StatsShape,
    /// Binary protocol: this many response frames (24-byte header + body).
    Frames(usize),
}

#[derive(Debug)]
pub struct ParseError {
    pub script: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.script, self.line, self.message)
    }
}

impl Script {
    pub fn parse(name: &str, text: &str) -> Result<Script, ParseError> {
        let lines: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        let mut script = Script {
            name: name.to_string(),
            args: Vec::new(),
            transport: Transport::Tcp,
            steps: Vec::new(),
        };
        let err = |line: usize, message: String| ParseError {
            script: name.to_string(),
            line,
            message,
        };
        parse_block(&lines, &mut script).map_err(|(line, m)| err(line, m))?;
        Ok(script)
    }
}

type LineError = (usize, String);

fn parse_block(lines: &[(usize, String)], script: &mut Script) -> Result<(), LineError> {
    let mut i = 0;
    while i < lines.len() {
        let (number, raw) = &lines[i];
        let number = *number;
        let text = raw.trim();
        i += 1;
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (word, rest) = split_word(text);
        match word {
            "args" => {
                if !script.steps.is_empty() {
                    return Err((number, "`args` must come before the first step".into()));
                }
                script
                    .args
                    .extend(rest.split_whitespace().map(String::from));
            }
            "transport" => {
                if !script.steps.is_empty() {
                    return Err((number, "`transport` must come before the first step".into()));
                }
                script.transport = match rest.trim() {
                    "tcp" => Transport::Tcp,
                    "unix" => Transport::Unix,
                    "tls" => Transport::Tls,
                    other => return Err((number, format!("unknown transport {other:?}"))),
                };
            }
            "conn" => {
                let name = rest.trim();
                if name.is_empty() || name.contains(char::is_whitespace) {
                    return Err((number, "`conn` takes one connection name".into()));
                }
                script.steps.push(Step {
                    line: number,
                    action: Action::Conn(name.to_string()),
                });
            }
            "close" => {
                if !rest.trim().is_empty() {
                    return Err((number, "`close` takes no arguments".into()));
                }
                script.steps.push(Step {
                    line: number,
                    action: Action::Close,
                });
            }
            "half-close" => {
                if !rest.trim().is_empty() {
                    return Err((number, "`half-close` takes no arguments".into()));
                }
                script.steps.push(Step {
                    line: number,
                    action: Action::HalfClose,
                });
            }
            "send" | "queue" => {
                let parts = parse_parts(rest).map_err(|m| (number, m))?;
                script.steps.push(Step {
                    line: number,
                    action: Action::Send {
                        parts,
                        chunk: None,
                        flush: word == "send",
                    },
                });
            }
            "send-split" => {
                let (n, rest) = split_word(rest);
                let chunk: usize = n.parse().ok().filter(|&c| c > 0).ok_or((
                    number,
                    format!("`send-split` needs a positive chunk size, got {n:?}"),
                ))?;
                let parts = parse_parts(rest).map_err(|m| (number, m))?;
                script.steps.push(Step {
                    line: number,
                    action: Action::Send {
                        parts,
                        chunk: Some(chunk),
                        flush: true,
                    },
                });
            }
            "frame" | "queue-frame" => {
                let parts = parse_frame(rest).map_err(|m| (number, m))?;
                script.steps.push(Step {
                    line: number,
                    action: Action::Send {
                        parts,
                        chunk: None,
                        flush: word == "frame",
                    },
                });
            }
            "expect" => {
                let expect = parse_expect(rest).map_err(|m| (number, m))?;
                script.steps.push(Step {
                    line: number,
                    action: Action::Expect(expect),
                });
            }
            "repeat" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                let [var, from, to] = words[..] else {
                    return Err((number, "usage: repeat <var> <from> <to>".into()));
                };
                let from: i64 = from
                    .parse()
                    .map_err(|_| (number, format!("bad number {from:?}")))?;
                let to: i64 = to
                    .parse()
                    .map_err(|_| (number, format!("bad number {to:?}")))?;
                let body_start = i;
                let mut depth = 1;
                while i < lines.len() {
                    let (w, _) = split_word(lines[i].1.trim());
                    if w == "repeat" {
                        depth += 1;
                    } else if w == "end" {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    i += 1;
                }
                if i == lines.len() {
                    return Err((number, "`repeat` without `end`".into()));
                }
                let body = &lines[body_start..i];
                i += 1;
                let pattern = format!("${{{var}}}");
                for value in from..=to {
                    let expanded: Vec<(usize, String)> = body
                        .iter()
                        .map(|(n, l)| (*n, l.replace(&pattern, &value.to_string())))
                        .collect();
                    parse_block(&expanded, script)?;
                }
            }
            "end" => return Err((number, "`end` without `repeat`".into())),
            other => return Err((number, format!("unknown directive {other:?}"))),
        }
    }
    Ok(())
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

fn parse_expect(rest: &str) -> Result<Expect, String> {
    let (kind, rest) = split_word(rest);
    let number = |s: &str| -> Result<usize, String> {
        s.trim()
            .parse()
            .map_err(|_| format!("expected a number, got {s:?}"))
    };
    match kind {
        "lines" => Ok(Expect::Lines(number(rest)?)),
        "bytes" => Ok(Expect::Bytes(number(rest)?)),
        "close" => Ok(Expect::Close),
        "stats" => Ok(Expect::Stats),
        "stats-shape" => Ok(Expect::StatsShape),
        "frames" => Ok(Expect::Frames(number(rest)?)),
        "line" => {
            let (bytes, after) = parse_quoted(rest)?;
            if !after.trim().is_empty() {
                return Err(format!("unexpected {after:?} after the line prefix"));
            }
            Ok(Expect::Line(plain(bytes, "`line`")?))
        }
        "until" => {
            let (bytes, after) = parse_quoted(rest)?;
            let plain = plain(bytes, "`until`")?;
            if plain.is_empty() {
                return Err("`until` needs a non-empty terminator".into());
            }
            let count = if after.trim().is_empty() {
                1
            } else {
                number(after)?
            };
            Ok(Expect::Until(plain, count))
        }
        other => Err(format!("unknown expectation {other:?}")),
    }
}

/// Plain bytes of a quoted field (no `${cas}` inside).
fn plain(parts: Vec<Part>, what: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for part in parts {
        match part {
            Part::Bytes(b) => bytes.extend(b),
            _ => return Err(format!("{what} cannot use ${{cas}}")),
        }
    }
    Ok(bytes)
}

fn parse_number(word: &str) -> Result<u64, String> {
    let parsed = match word.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => word.parse(),
    };
    parsed.map_err(|_| format!("expected a number, got {word:?}"))
}

/// `frame <opcode> [key "..."] [extras "..."] [value "..."] [cas N|${casN}] [opaque N]
/// [vbucket N] [magic N] [datatype N]`: a binary request with the lengths filled in.
fn parse_frame(rest: &str) -> Result<Vec<Part>, String> {
    let (opcode, mut rest) = split_word(rest);
    let opcode = u8::try_from(parse_number(opcode)?).map_err(|_| "opcode is one byte")?;
    let (mut key, mut extras, mut value) = (Vec::new(), Vec::new(), Vec::new());
    let (mut magic, mut datatype, mut vbucket, mut opaque) = (0x80u8, 0u8, 0u16, 0u32);
    let mut cas = Part::Bytes(vec![0; 8]);
    while !rest.trim().is_empty() {
        let (field, after) = split_word(rest);
        rest = after;
        match field {
            "key" | "extras" | "value" => {
                let (parts, after) = parse_repeated(rest)?;
                rest = after;
                let bytes = plain(parts, field)?;
                match field {
                    "key" => key = bytes,
                    "extras" => extras = bytes,
                    _ => value = bytes,
                }
            }
            "cas" => {
                let (word, after) = split_word(rest);
                rest = after;
                cas = match word.strip_prefix("${cas").and_then(|w| w.strip_suffix('}')) {
                    Some(n) => Part::CasBinary(
                        n.parse()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or_else(|| format!("bad cas label {word:?}"))?,
                    ),
                    None => Part::Bytes(parse_number(word)?.to_be_bytes().to_vec()),
                };
            }
            "opaque" | "vbucket" | "magic" | "datatype" => {
                let (word, after) = split_word(rest);
                rest = after;
                let n = parse_number(word)?;
                let too_big = || format!("{field} {n} does not fit");
                match field {
                    "opaque" => opaque = u32::try_from(n).map_err(|_| too_big())?,
                    "vbucket" => vbucket = u16::try_from(n).map_err(|_| too_big())?,
                    "magic" => magic = u8::try_from(n).map_err(|_| too_big())?,
                    _ => datatype = u8::try_from(n).map_err(|_| too_big())?,
                }
            }
            other => return Err(format!("unknown frame field {other:?}")),
        }
    }
    let key_len = u16::try_from(key.len()).map_err(|_| "key longer than 65535")?;
    let extras_len = u8::try_from(extras.len()).map_err(|_| "extras longer than 255")?;
    let body =
        u32::try_from(key.len() + extras.len() + value.len()).map_err(|_| "body too long")?;
    let mut header = vec![magic, opcode];
    header.extend_from_slice(&key_len.to_be_bytes());
    header.extend_from_slice(&[extras_len, datatype]);
    header.extend_from_slice(&vbucket.to_be_bytes());
    header.extend_from_slice(&body.to_be_bytes());
    header.extend_from_slice(&opaque.to_be_bytes());
    let mut tail = extras;
    tail.extend_from_slice(&key);
    tail.extend_from_slice(&value);
    Ok(vec![Part::Bytes(header), cas, Part::Bytes(tail)])
}

/// A sequence of quoted strings, each optionally repeated with `*N`.
fn parse_parts(mut rest: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (quoted, after) = parse_repeated(rest)?;
        rest = after;
        parts.extend(quoted);
    }
    if parts.is_empty() {
        return Err("nothing to send".into());
    }
    Ok(parts)
}

/// One quoted string at the front of `text`, repeated if a `*N` follows it.
fn parse_repeated(text: &str) -> Result<(Vec<Part>, &str), String> {
    let (quoted, rest) = parse_quoted(text)?;
    let Some(after_star) = rest.strip_prefix('*') else {
        return Ok((quoted, rest));
    };
    let digits: String = after_star
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let times: usize = digits
        .parse()
        .map_err(|_| "`*` must be followed by a count".to_string())?;
    let bytes = plain(quoted, "a repetition")?;
    Ok((
        vec![Part::Bytes(bytes.repeat(times))],
        &after_star[digits.len()..],
    ))
}

/// One `"..."` at the front of `text`: its parts and the text after the closing quote.
fn parse_quoted(text: &str) -> Result<(Vec<Part>, &str), String> {
    let text = text.trim_start();
    let body = text
        .strip_prefix('"')
        .ok_or_else(|| format!("expected a quoted string at {text:?}"))?;
    let bytes = body.as_bytes();
    let mut parts = Vec::new();
    let mut current = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                if !current.is_empty() {
                    parts.push(Part::Bytes(current));
                }
                return Ok((parts, &body[i + 1..]));
            }
            b'\\' => {
                let escape = *bytes.get(i + 1).ok_or("dangling backslash")?;
                i += 2;
                match escape {
                    b'r' => current.push(b'\r'),
                    b'n' => current.push(b'\n'),
                    b't' => current.push(b'\t'),
                    b'0' => current.push(0),
                    b'\\' | b'"' | b'$' => current.push(escape),
                    b'x' => {
                        let hex = body.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                        let value = u8::from_str_radix(hex, 16)
                            .map_err(|_| format!("bad hex escape \\x{hex}"))?;
                        current.push(value);
                        i += 2;
                    }
                    other => return Err(format!("unknown escape \\{}", other as char)),
                }
            }
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                let close = body[i..].find('}').ok_or("unterminated ${")? + i;
                let name = &body[i + 2..close];
                let n: usize = name
                    .strip_prefix("cas")
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!("unknown variable ${{{name}}} (only ${{casN}} at run time)")
                    })?;
                if !current.is_empty() {
                    parts.push(Part::Bytes(std::mem::take(&mut current)));
                }
                parts.push(Part::Cas(n));
                i = close + 1;
            }
            b => {
                current.push(b);
                i += 1;
            }
        }
    }
    Err("unterminated quoted string".into())
}
