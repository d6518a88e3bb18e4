//! `--hdr-out`: a latency histogram as HdrHistogram's percentile-distribution text, the
//! `.hgrm` file that HdrHistogram's `outputPercentileDistribution`, its log processor and
//! memtier_benchmark write, and that HdrHistogram's plotter and `bench/compare` read:
//!
//! ```text
//!        Value     Percentile TotalCount 1/(1-Percentile)
//!
//!        0.012 0.000000000000          1           1.00
//!        0.019 0.500000000000     502341           2.00
//!        ...
//!        1.204 1.000000000000    1000000
//! #[Mean    =        0.021, StdDeviation   =        0.009]
//! #[Max     =        1.204, Total count    =      1000000]
//! #[Buckets =           22, SubBuckets     =         2048]
//! ```
//!
//! Values are in milliseconds, as memtier writes them, with as many decimals as the
//! histogram has significant digits (as HdrHistogram's own writers do: 3 here, so
//! microsecond resolution). Rows step through the percentiles five ticks per halving of
//! the distance to 100% (HdrHistogram's default), so the tail gets as many rows as the
//! body. The crate `hdrhistogram` has no writer for this text; the iteration is its own.

use hdrhistogram::Histogram;
use std::fmt::Write;

/// HdrHistogram's default: rows per halving of the distance to 100%.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Nanoseconds (what bench records) per millisecond (what the file holds).
pub const NANOS_PER_MILLI: f64 = 1e6;

/// The percentile distribution of `h`, values divided by `unit_ratio`.
pub fn percentile_distribution(h: &Histogram<u64>, ticks: u32, unit_ratio: f64) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for step in h.iter_quantiles(ticks) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / unit_ratio;
            let quantile = step.quantile_iterated_to();
            if quantile < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.digits$} {quantile:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - quantile)
                );
            } else {
                let _ = writeln!(out, "{value:12.digits$} {quantile:2.12} {total:10}");
            }
        }
    }
    let (mean, stdev, max) = if h.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            h.mean() / unit_ratio,
            h.stdev() / unit_ratio,
            h.max() as f64 / unit_ratio,
        )
    };
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.digits$}, StdDeviation   = {stdev:12.digits$}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.digits$}, Total count    = {:12}]",
        h.len()
    );
    // HdrHistogram's sub-bucket count: the power of two that holds 2 x 10^digits.
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {sub_buckets:12}]",
        h.buckets()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HdrHistogram (Java, and its JavaScript port's test suite) prints this for the
    /// values 25, 50 and 75 at 3 significant digits without scaling, apart from the bucket
    /// count, which follows the histogram's range (43 there, for its default range).
    #[test]
    fn matches_hdrhistograms_own_text() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for v in [25, 50, 75] {
            h.record(v).unwrap();
        }
        let text = percentile_distribution(&h, 5, 1.0);
        let expected_rows = "       Value     Percentile TotalCount 1/(1-Percentile)

      25.000 0.000000000000          1           1.00
      25.000 0.100000000000          1           1.11
      25.000 0.200000000000          1           1.25
      25.000 0.300000000000          1           1.43
      50.000 0.400000000000          2           1.67
      50.000 0.500000000000          2           2.00
      50.000 0.550000000000          2           2.22
      50.000 0.600000000000          2           2.50
      50.000 0.650000000000          2           2.86
      75.000 0.700000000000          3           3.33
      75.000 1.000000000000          3
#[Mean    =       50.000, StdDeviation   =       20.412]
#[Max     =       75.000, Total count    =            3]
";
        assert!(text.starts_with(expected_rows), "{text}");
        let last = text.lines().last().unwrap();
        assert!(last.starts_with("#[Buckets = "), "{last}");
        assert!(last.ends_with(", SubBuckets     =         2048]"), "{last}");
    }

    #[test]
    fn values_are_scaled_and_the_tail_gets_rows() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for i in 1..=100_000u64 {
            h.record(i * 1000).unwrap(); // 1 us .. 100 ms
        }
        let text = percentile_distribution(&h, TICKS_PER_HALF_DISTANCE, NANOS_PER_MILLI);
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|w| w.parse().unwrap()).collect())
            .collect();
        // Monotonic in value, percentile and count; the last row is 100% of everything.
        for pair in rows.windows(2) {
            assert!(pair[0][0] <= pair[1][0] && pair[0][1] <= pair[1][1]);
            assert!(pair[0][2] <= pair[1][2]);
        }
        let last = rows.last().unwrap();
        assert_eq!((last[1], last[2]), (1.0, 100_000.0));
        assert!((last[0] - 100.0).abs() < 0.1, "max in ms: {}", last[0]);
        // The median is near 50 ms, and p99.9 has its own rows.
        let median = rows.iter().find(|r| r[1] >= 0.5).unwrap();
        assert!((median[0] - 50.0).abs() < 0.1, "{median:?}");
        assert!(rows.iter().any(|r| r[1] >= 0.999 && r[1] < 1.0));
    }

    #[test]
    fn an_empty_histogram_has_a_header_and_zero_totals() {
        let h = Histogram::<u64>::new_with_bounds(1, 1000, 3).unwrap();
        let text = percentile_distribution(&h, 5, 1.0);
        assert!(text.contains("Total count    =            0]"), "{text}");
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 2);
    }
}
