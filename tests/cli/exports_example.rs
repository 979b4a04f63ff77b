//! The shared worked example of SPEC 9 (`fixtures/exports/export_monthly`, copied from
//! `../shared/examples/`, computed independently of cpor): the portal's analytics download as it is
//! — PascalCase export names, UTF-16 TSV with a byte-order mark, a gzipped usage file, M/D/YYYY dates
//! with AM/PM, portal engagement spellings, country names, monthly usage — read unchanged.

use std::collections::BTreeMap;

use crate::util::*;

/// The input flags of the example, for any command.
fn input_flags() -> Vec<String> {
    let example = repo().join("fixtures/exports/export_monthly");
    let input = example.join("input");
    let params = params(&example);
    let path = |name: &str| input.join(name).display().to_string();
    [
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
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `explain`, `validate` and `--previous` work on the export layout as on SPEC 2's (SPEC 9).
#[test]
fn explain_validate_and_previous_read_the_export_layout() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["run".to_string()];
        args.extend(input_flags());
        args.extend(["--out".to_string(), out.display().to_string(), "--quiet".to_string()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        run_ok(&args)
    };
    run(&[]);
    let ledger = read_csv(&out.join("ledger.csv"));
    // Every claim of the ledger is explained with its ledger status.
    for row in ledger.iter().skip(1) {
        let mut args = vec!["explain".to_string(), row[0].clone()];
        args.extend(input_flags());
        let output = run_ok(&args);
        let first = String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or("").to_string();
        assert!(first.ends_with(&format!(": {}", row[10])), "{first} for {} ({})", row[0], row[10]);
    }
    // validate names the export header each column was read from.
    let mut args = vec!["validate".to_string()];
    args.extend(input_flags());
    args.extend(["--out".to_string(), temp.path().join("validation").display().to_string()]);
    let stdout = String::from_utf8_lossy(&run_ok(&args).stdout).into_owned();
    for mapped in
        ["claim_id <- \"ClaimId\"", "tenant_id <- \"CustomerTenantId\"", "active_users <- \"MonthlyActiveUsers\""]
    {
        assert!(stdout.contains(mapped), "{mapped} in {stdout}");
    }
    // A second run against the first: nothing changed.
    let previous = temp.path().join("previous");
    std::fs::rename(&out, &previous).expect("move");
    let stdout = String::from_utf8_lossy(&run(&["--previous", &previous.display().to_string()]).stdout).into_owned();
    assert!(stdout.contains("no changes"), "{stdout}");
    assert_eq!(read_csv(&out.join("ledger.csv")), ledger);
}

#[test]
fn export_monthly_reads_the_portal_download_unchanged() {
    let expected = repo().join("fixtures/exports/export_monthly/expected");
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let mut args = vec!["run".to_string()];
    args.extend(input_flags());
    args.extend(["--out".to_string(), out.display().to_string(), "--quiet".to_string()]);
    run_ok(&args);

    assert!(
        std::fs::read(out.join("ledger.csv")).ok() == std::fs::read(expected.join("ledger.csv")).ok(),
        "ledger.csv differs from the example's"
    );
    assert!(report_tree(&out) == report_tree(&expected), "reports differ from the example's");
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
