//! Windows closing soon (issue 15): the claims pending at T whose window closes within the next
//! `--soon-days` business days, in summary.json, summary.html and on stdout.
//!
//! The expected lists are worked out by hand from the sample in data/: T is Monday 2026-11-23
//! 06:00 UTC; its pending claims close at AR-2026-0109 (US) 11-24, AR-2026-0136 (GB) 11-26,
//! AR-2026-0112 (no country) 12-01, AR-2026-0110 (JP) and AR-2026-0111 (US) 12-02 (each at 00:00,
//! the end of the day before). Friday 11-27 is a holiday everywhere, Thursday 11-26 in the US too.
//! - 0 days: closing by the end of Monday → 0109.
//! - 2 days: by the end of Wednesday for everyone → 0109, 0136.
//! - 4 days: no country and JP: Tue, Wed, Thu, Mon 11-30 → by 12-01, so 0112 but not 0110; US: Tue,
//!   Wed, Mon, Tue 12-01 → by 12-02, so 0111 too.
//! - 5 days: JP one more business day, Tue 12-01 → by 12-02, so 0110 too.

use crate::util::*;

fn closing_soon(extra: &[&str]) -> (Vec<(String, String)>, String, String) {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let mut args: Vec<String> =
        ["run", "--as-of", "2026-11-23T06:00:00Z", "--quiet", "--out"].map(String::from).to_vec();
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    let output = run_ok(&args);
    let summary = summary(&out);
    let listed = summary["closing_soon"]
        .as_array()
        .expect("closing_soon")
        .iter()
        .map(|c| {
            (c["claim_id"].as_str().expect("id").to_string(), c["window_closes_at"].as_str().expect("ts").to_string())
        })
        .collect();
    let html = std::fs::read_to_string(out.join("summary.html")).expect("summary.html");
    (listed, String::from_utf8_lossy(&output.stdout).into_owned(), html)
}

fn ids(listed: &[(String, String)]) -> Vec<&str> {
    listed.iter().map(|(id, _)| id.as_str()).collect()
}

#[test]
fn windows_closing_within_n_business_days_by_closing_time() {
    let (listed, stdout, html) = closing_soon(&[]);
    assert_eq!(ids(&listed), ["AR-2026-0109", "AR-2026-0136"], "the default is 2 business days");
    assert!(stdout.contains("2 windows close within 2 business days\n"), "{stdout}");
    assert!(html.contains("AR-2026-0136") && html.contains("2026-11-26T00:00:00Z"), "the table in summary.html");

    let (listed, stdout, _) = closing_soon(&["--soon-days", "0"]);
    assert_eq!(ids(&listed), ["AR-2026-0109"]);
    assert!(stdout.contains("1 window closes by the end of the as-of date\n"), "{stdout}");

    let (listed, _, _) = closing_soon(&["--soon-days", "4"]);
    assert_eq!(ids(&listed), ["AR-2026-0109", "AR-2026-0136", "AR-2026-0112", "AR-2026-0111"]);
    let (listed, stdout, _) = closing_soon(&["--soon-days", "5"]);
    assert_eq!(ids(&listed), ["AR-2026-0109", "AR-2026-0136", "AR-2026-0112", "AR-2026-0110", "AR-2026-0111"]);
    assert!(stdout.contains("5 windows close within 5 business days\n"), "{stdout}");
    let times: Vec<&str> = listed.iter().map(|(_, t)| t.as_str()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "sorted by closing time: {times:?}");
}

#[test]
fn soon_days_from_the_config_file_and_bad_values() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = temp.path().join("cpor.toml");
    std::fs::write(&config, "soon_days = 4\n").expect("write");
    let (listed, _, _) = closing_soon(&["--config", &config.display().to_string()]);
    assert_eq!(listed.len(), 4);
    for bad in ["-1", "3651", "two"] {
        let output = cpor().args(["run", "--soon-days", bad]).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "--soon-days {bad}");
    }
}
