//! Printing bytes for humans: escaped, one protocol line per output line, long runs of a
//! repeated byte collapsed so a 1 MiB value does not drown the report.

/// Runs longer than this are printed as `x<...N more>`.
const RUN_LIMIT: usize = 16;

/// Output longer than this is cut, with a note of how much was left out.
const SHOW_LIMIT: usize = 4000;

/// `bytes` escaped, with a line break after each `\n`, indented by `indent`.
pub fn escaped(bytes: &[u8], indent: &str) -> String {
    let mut out = String::from(indent);
    let mut i = 0;
    while i < bytes.len() {
        if out.len() > SHOW_LIMIT {
            out.push_str(&format!("<... {} more bytes>", bytes.len() - i));
            break;
        }
        let b = bytes[i];
        let run = bytes[i..].iter().take_while(|&&c| c == b).count();
        if run > RUN_LIMIT {
            push_byte(&mut out, b);
            out.push_str(&format!("<...{} more>", run - 1));
            i += run;
            continue;
        }
        push_byte(&mut out, b);
        if b == b'\n' && i + 1 < bytes.len() {
            out.push('\n');
            out.push_str(indent);
        }
        i += 1;
    }
    out
}

fn push_byte(out: &mut String, b: u8) {
    match b {
        b'\r' => out.push_str("\\r"),
        b'\n' => out.push_str("\\n"),
        b'\t' => out.push_str("\\t"),
        b'\\' => out.push_str("\\\\"),
        0x20..=0x7e => out.push(b as char),
        _ => out.push_str(&format!("\\x{b:02x}")),
    }
}

/// Offset of the first byte where `a` and `b` differ.
pub fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Lines that matter when two long replies differ: `-` only in `a`, `+` only in `b`, a line
/// of context around each change, `...` for the unchanged rest.
pub fn line_diff(a: &[u8], b: &[u8], indent: &str) -> String {
    let a: Vec<&[u8]> = a.split_inclusive(|&c| c == b'\n').collect();
    let b: Vec<&[u8]> = b.split_inclusive(|&c| c == b'\n').collect();
    // Longest common subsequence table; replies compared here are a few hundred lines.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &[u8])> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        let lo = k.saturating_sub(1);
        let hi = (k + 1).min(ops.len() - 1);
        (lo..=hi).any(|x| ops[x].0 != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str(&format!("{indent}  ...\n"));
                skipped = false;
            }
            out.push_str(&escaped(line, &format!("{indent}{op} ")));
            out.push('\n');
        } else {
            skipped = true;
        }
    }
    if skipped {
        out.push_str(&format!("{indent}  ...\n"));
    }
    out
}
