//! `stats` lines as a JSON object: `STAT curr_items 5` becomes `"curr_items": 5` (keys
//! sorted by name). A value that reads as a number is a JSON number; anything
//! else (`version`, `evictions on`) a string.
//!
//! ```
//! let json = server::admin::json::from_stat_lines(b"STAT pid 7\r\nSTAT version 1.6.18\r\n");
//! assert_eq!(json, br#"{"pid":7,"version":"1.6.18"}"#);
//! ```

use serde_json::{Map, Number, Value};

/// The `STAT <name> <value>` lines of `lines` as one JSON object.
pub fn from_stat_lines(lines: &[u8]) -> Vec<u8> {
    let mut object = Map::new();
    for (name, value) in stat_pairs(lines) {
        object.insert(
            name.to_string(),
            number(value).unwrap_or_else(|| Value::String(value.to_string())),
        );
    }
    serde_json::to_vec(&Value::Object(object)).unwrap_or_else(|_| b"{}".to_vec())
}

/// `(name, value)` of each `STAT <name> <value>` line (the value is the rest of the
/// line: `inter` may hold spaces in memcached).
pub fn stat_pairs(lines: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    lines
        .split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| {
            let line = line.strip_suffix('\r').unwrap_or(line);
            line.strip_prefix("STAT ")?.split_once(' ')
        })
}

/// A JSON number, if `text` is one: integers exactly, others as floats.
fn number(text: &str) -> Option<Value> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(Value::Number(n.into()));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(Value::Number(n.into()));
    }
    let looks_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if looks_numeric {
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_numbers_and_the_rest_strings() {
        let json = from_stat_lines(
            b"STAT uptime 3\r\nSTAT rusage_user 0.012000\r\nSTAT inter NULL\r\n\
              STAT evictions on\r\nSTAT ssl_ciphers NULL\r\nSTAT growth_factor 1.25\r\nEND\r\n",
        );
        let v: Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(v["uptime"], 3);
        assert_eq!(v["rusage_user"], 0.012);
        assert_eq!(v["inter"], "NULL");
        assert_eq!(v["evictions"], "on");
        assert_eq!(v["growth_factor"], 1.25);
        assert_eq!(v.as_object().map(|o| o.len()), Some(6));
    }
}
