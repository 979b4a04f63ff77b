//! The shared worked example of SPEC 9 (`fixtures/exports/export_monthly`, copied from
//! `../shared/examples/`, computed independently of cpor): the portal's analytics download as it is
//! — PascalCase export names, UTF-16 TSV with a byte-order mark, a gzipped usage file, M/D/YYYY dates
//! with AM/PM, portal engagement spellings, country names, monthly usage — read unchanged.

use std::collections::BTreeMap;

use crate::util::*;

#[test]
fn export_monthly_reads_the_portal_download_unchanged() {
    let example = repo().join("fixtures/exports/export_monthly");
    let (input, expected) = (example.join("input"), example.join("expected"));
    let params = params(&example);
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let path = |name: &str| input.join(name).display().to_string();
    let args: Vec<String> = [
        "run",
        "--date-order",
        "mdy",
        "--usage-period",
        "month",
        "--claims",
        &path("claims.tsv"),
        "--responses",
        &path("responses.tsv"),
        "--usage",
        &path("usage.tsv.gz"),
        "--holidays",
        &path("holidays.csv"),
        "--as-of",
        &params.as_of,
        "--window-days",
        &params.window_days.to_string(),
        "--timezone",
        &params.timezone,
        "--out",
        &out.display().to_string(),
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_ok(&args);

    assert!(
        std::fs::read(out.join("ledger.csv")).ok() == std::fs::read(expected.join("ledger.csv")).ok(),
        "ledger.csv differs from the example's"
    );
    assert!(tree(&out.join("reports")) == tree(&expected.join("reports")), "reports differ from the example's");
    assert_eq!(reject_keys(&out.join("rejects.csv")), read_csv(&expected.join("rejects.csv")));
    let totals: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(expected.join("totals.json")).expect("totals")).expect("JSON");
    let summary = summary(&out);
    for source in ["claims", "responses", "usage"] {
        let got: BTreeMap<&str, u64> = ["records", "accepted", "rejected", "deferred"]
            .into_iter()
            .map(|k| (k, summary["inputs"][source][k].as_u64().unwrap_or(u64::MAX)))
            .collect();
        let want: BTreeMap<&str, u64> = ["records", "accepted", "rejected", "deferred"]
            .into_iter()
            .map(|k| (k, totals[source][k].as_u64().unwrap_or(u64::MAX)))
            .collect();
        assert_eq!(got, want, "{source} totals");
    }
}
