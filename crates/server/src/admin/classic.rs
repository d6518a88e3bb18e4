//! The Prometheus text format (version 0.0.4) of what `prometheus_client` wrote in the
//! OpenMetrics format, for scrapers and tools that do not ask for OpenMetrics: `curl`,
//! `promtool check metrics`, older Prometheus servers.
//!
//! The two formats differ in three places only, and this changes just those: a counter's
//! `# HELP` and `# TYPE` lines name the metric with `_total` in the classic format (the
//! samples already have it in both), there are no `# UNIT` lines, and there is no final
//! `# EOF`. The samples and the escaping of label values are the same. The crate writes
//! only OpenMetrics (it is the Prometheus project's own Rust client, and OpenMetrics is
//! its choice); converting its output keeps every metric encoded in one place.
//!
//! ```
//! let open = "# HELP x_bytes Bytes.\n# TYPE x_bytes counter\n# UNIT x_bytes bytes\n\
//!             x_bytes_total 5\n# EOF\n";
//! assert_eq!(
//!     server::admin::classic::from_openmetrics(open),
//!     "# HELP x_bytes_total Bytes.\n# TYPE x_bytes_total counter\nx_bytes_total 5\n"
//! );
//! ```

use std::collections::HashSet;

/// `open` (OpenMetrics text) in the Prometheus text format 0.0.4.
pub fn from_openmetrics(open: &str) -> String {
    let counters: HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 8 * counters.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "]
            .iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        if let Some((prefix, rest)) = described {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(name) {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total ");
                out.push_str(tail);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_counter_descriptions_units_and_eof_change() {
        let open = "# HELP g A gauge.\n# TYPE g gauge\ng 1\n\
                    # HELP h A histogram.\n# TYPE h histogram\nh_sum 1.0\nh_count 1\n\
                    h_bucket{le=\"+Inf\"} 1\n\
                    # HELP c A counter.\n# TYPE c counter\nc_total{l=\"a b\"} 2\n# EOF\n";
        assert_eq!(
            from_openmetrics(open),
            "# HELP g A gauge.\n# TYPE g gauge\ng 1\n\
             # HELP h A histogram.\n# TYPE h histogram\nh_sum 1.0\nh_count 1\n\
             h_bucket{le=\"+Inf\"} 1\n\
             # HELP c_total A counter.\n# TYPE c_total counter\nc_total{l=\"a b\"} 2\n"
        );
    }
}
