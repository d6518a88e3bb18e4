//! `corvid bench --hdr-out FILE` against memcached: the file is HdrHistogram's
//! percentile distribution of the run's latencies, in the layout its tools write, and
//! agrees with the report's own percentiles.

mod support;

use std::process::Command;

use support::{Server, TempDir};

#[test]
fn hdr_out_writes_the_runs_percentile_distribution() {
    let server = Server::memcached(&[]);
    let dir = TempDir::new("hgrm");
    let file = dir.path().join("run.hgrm");
    let out = Command::new(env!("CARGO_BIN_EXE_corvid"))
        .args(["bench", "--server", &format!("127.0.0.1:{}", server.port())])
        .args([
            "--connections",
            "4",
            "--requests",
            "20000",
            "--quiet",
            "--json",
        ])
        .arg("--hdr-out")
        .arg(&file)
        .output()
        .expect("run corvid bench");
    assert!(out.status.success(), "{out:?}");
    let report = String::from_utf8_lossy(&out.stdout);
    let text = std::fs::read_to_string(&file).expect("the .hgrm file");

    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("       Value     Percentile TotalCount 1/(1-Percentile)")
    );
    assert_eq!(lines.next(), Some(""));
    let rows: Vec<Vec<f64>> = lines
        .clone()
        .take_while(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|w| w.parse().unwrap()).collect())
        .collect();
    assert!(rows.len() > 20, "{text}");
    let last = rows.last().unwrap();
    assert_eq!(
        last.len(),
        3,
        "the 100% row has no 1/(1-p) column: {last:?}"
    );
    assert_eq!((last[1], last[2]), (1.0, 20000.0));
    for row in &rows[..rows.len() - 1] {
        assert_eq!(row.len(), 4, "{row:?}");
        assert!(
            (row[3] - 1.0 / (1.0 - row[1])).abs() < 0.01 * row[3],
            "{row:?}"
        );
    }
    let footer: Vec<&str> = lines.skip_while(|l| !l.starts_with('#')).collect();
    assert_eq!(footer.len(), 3, "{text}");
    assert!(footer[0].starts_with("#[Mean    = "), "{text}");
    assert!(
        footer[1].ends_with(", Total count    =        20000]"),
        "{text}"
    );
    assert!(footer[2].starts_with("#[Buckets = "), "{text}");

    // The median row agrees with the report's p50 (the file is in ms, JSON in us).
    let p50_us: f64 = report
        .split("\"p50_us\": ")
        .nth(1)
        .and_then(|rest| rest.split([',', '\n']).next())
        .and_then(|n| n.trim().parse().ok())
        .expect("p50_us in the JSON report");
    let median_ms = rows.iter().find(|r| r[1] >= 0.5).unwrap()[0];
    assert!(
        (median_ms * 1000.0 - p50_us).abs() <= 0.01 * p50_us + 1.0,
        "file median {median_ms} ms, report p50 {p50_us} us"
    );
}
