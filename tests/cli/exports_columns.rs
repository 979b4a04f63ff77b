//! SPEC 9.1: inputs with the portal's export names, or odd names mapped in a config file, read as
//! the same inputs with section 2's names; a column no name finds is one fatal line; and SPEC 9.3's
//! last rule, a header-only file named in summary.json's `warnings` and on stderr.

use std::path::{Path, PathBuf};

use crate::util::*;

/// Usage rows that are rejected, added to the fixture's so that rejects are compared too: a bad
/// date, a bad count, a duplicate of the fixture's first row.
const BAD_USAGE_ROWS: &str = "abcdef01-2345-4789-abcd-ef0123456789,Teams,,2026-13-01,1,1,1\n\
abcdef01-2345-4789-abcd-ef0123456789,Teams,,2026-11-11,many,1,1\n\
abcdef01-2345-4789-abcd-ef0123456789,Teams,a1111111-1111-4111-8111-111111111111,2026-11-10,11,21,31\n";

fn fixture() -> PathBuf {
    repo().join("fixtures/report_scoping")
}

/// Writes the fixture's claims, responses and usage (with [`BAD_USAGE_ROWS`]) into `dir`, each
/// header renamed by `rename`; `extra` adds a column `(name, value)` to every usage row, last.
fn write_inputs(dir: &Path, rename: impl Fn(&str) -> String, extra: Option<(&str, &str)>) {
    std::fs::create_dir_all(dir).unwrap();
    for name in ["claims", "responses", "usage"] {
        let mut text = std::fs::read_to_string(fixture().join(format!("input/{name}.csv"))).unwrap();
        if name == "usage" {
            text.push_str(BAD_USAGE_ROWS);
        }
        let mut lines = text.lines();
        let header: Vec<String> = lines.next().unwrap().split(',').map(&rename).collect();
        let mut out = header.join(",");
        if let (Some((column, _)), "usage") = (extra, name) {
            out.push_str(&format!(",{column}"));
        }
        out.push('\n');
        for line in lines {
            out.push_str(line);
            if let (Some((_, value)), "usage") = (extra, name) {
                out.push_str(&format!(",{value}"));
            }
            out.push('\n');
        }
        std::fs::write(dir.join(format!("{name}.csv")), out).unwrap();
    }
}

/// A column's header in the export files these tests write.
fn export_header(own: &str) -> String {
    export_name(own).to_string()
}

fn args(input: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = fixture_args(&fixture(), input, "csv", out);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn run(input: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    cpor().args(args(input, out, extra)).output().expect("cpor runs")
}

/// The ledger and reports byte for byte, and the rejects as (source, file, record, reason): `raw`
/// keeps each file's own header names, so it differs.
fn assert_same_outputs(a: &Path, b: &Path) {
    let (mut x, mut y) = (outputs_without_summary(a), outputs_without_summary(b));
    x.remove("rejects.csv");
    y.remove("rejects.csv");
    assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
    for (name, bytes) in &x {
        assert!(*bytes == y[name], "{name} differs");
    }
    let (ra, rb) = (reject_keys(&a.join("rejects.csv")), reject_keys(&b.join("rejects.csv")));
    assert_eq!(ra.len(), 4, "the three bad usage rows are rejected: {ra:?}");
    assert_eq!(ra, rb);
}

/// The header summary.json says `column` of the first `source` file was read from.
fn column_header(out: &Path, source: &str, column: &str) -> serde_json::Value {
    summary(out)["inputs"][source]["files"][0]["columns"][column].clone()
}

#[test]
fn pascal_case_export_names_read_as_section_2_names() {
    let temp = tempfile::tempdir().unwrap();
    let (own, export) = (temp.path().join("own"), temp.path().join("export"));
    write_inputs(&own, str::to_string, None);
    // A decoy `MAU`, later in SPEC 9.1's table than `MonthlyActiveUsers`: were it read, every row
    // would be rejected for its count. (`ActiveUsers` would not do: it is `active_users` itself.)
    write_inputs(&export, export_header, Some(("MAU", "not a count")));
    let (out_own, out_export) = (temp.path().join("out-own"), temp.path().join("out-export"));
    run_ok(&args(&own, &out_own, &[]));
    run_ok(&args(&export, &out_export, &[]));
    assert_same_outputs(&out_own, &out_export);
    assert_eq!(column_header(&out_export, "claims", "partner_id"), "MpnId");
    assert_eq!(column_header(&out_export, "usage", "tenant_id"), "CustomerTenantId");
    assert_eq!(column_header(&out_export, "usage", "active_users"), "MonthlyActiveUsers");
    assert_eq!(column_header(&out_export, "responses", "response"), "CustomerResponse");
    assert_eq!(column_header(&out_own, "usage", "active_users"), "active_users");
    let files = &summary(&out_export)["inputs"]["claims"]["files"][0]["columns"];
    assert_eq!(files.as_object().unwrap().len(), 9, "every claims column found: {files}");
}

#[test]
fn validate_prints_the_header_each_column_was_read_from() {
    let temp = tempfile::tempdir().unwrap();
    let export = temp.path().join("export");
    write_inputs(&export, export_header, None);
    let mut args = args(&export, &temp.path().join("unused"), &[]);
    args[0] = "validate".into();
    set_arg(&mut args, "--out", temp.path().join("validation").display());
    let output = run_ok(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("tenant_id <- \"CustomerTenantId\""), "{stdout}");
    assert!(stdout.contains("paid_seats <- \"PaidAvailableUnits\""), "{stdout}");
}

/// Odd names no table knows, for usage and claims, and the config file that maps them.
fn odd_name(own: &str) -> String {
    match own {
        "tenant_id" => "Tenant GUID",
        "date" => "Usage Day",
        "active_users" => "Users (30 days)",
        "claim_id" => "Request #",
        other => return export_name(other).to_string(),
    }
    .to_string()
}

const ODD_CONFIG: &str = "[columns.usage]\n\
tenant_id = \"Tenant GUID\"\n\
date = \"usage_day\"\n\
active_users = \"Users (30 days)\"\n\
[columns.claims]\n\
claim_id = \"Request #\"\n\
tenant_id = \"Tenant GUID\"\n\
[columns.responses]\n\
claim_id = \"Request #\"\n\
tenant_id = \"Tenant GUID\"\n";

#[test]
fn odd_headers_mapped_in_a_config_file_read_alike() {
    let temp = tempfile::tempdir().unwrap();
    let (own, odd) = (temp.path().join("own"), temp.path().join("odd"));
    write_inputs(&own, str::to_string, None);
    write_inputs(&odd, odd_name, None);
    let config = temp.path().join("columns.toml");
    std::fs::write(&config, ODD_CONFIG).unwrap();
    let (out_own, out_odd) = (temp.path().join("out-own"), temp.path().join("out-odd"));
    run_ok(&args(&own, &out_own, &[]));
    run_ok(&args(&odd, &out_odd, &["--config", &config.display().to_string()]));
    assert_same_outputs(&out_own, &out_odd);
    assert_eq!(column_header(&out_odd, "usage", "date"), "Usage Day", "the file's own spelling");
    assert_eq!(column_header(&out_odd, "claims", "claim_id"), "Request #");
    assert_eq!(column_header(&out_odd, "usage", "workload"), "WorkloadName");
}

fn assert_one_fatal_line(output: &std::process::Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert_eq!(error_lines(&stderr), 1, "one line: {stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} in {stderr}");
    }
}

#[test]
fn a_mapped_header_the_file_lacks_is_fatal() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("in");
    write_inputs(&input, export_header, None);
    let config = temp.path().join("columns.toml");
    std::fs::write(&config, "[columns.usage]\nassigned_seats = \"Seats Assigned\"\n").unwrap();
    let out = temp.path().join("out");
    let output = run(&input, &out, &["--config", &config.display().to_string()]);
    assert_one_fatal_line(&output, &["usage.csv", "'assigned_seats'", "'Seats Assigned'", "[columns.usage]"]);
    assert!(!out.exists(), "nothing written");
    // Over an earlier output: that output stays as it was.
    run_ok(&args(&input, &out, &[]));
    let before = tree(&out);
    let output = run(&input, &out, &["--config", &config.display().to_string()]);
    assert_one_fatal_line(&output, &["usage.csv", "'Seats Assigned'"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    assert!(tree(&out) == before, "the earlier output changed");
}

#[test]
fn a_required_column_no_name_finds_is_fatal_naming_the_names_tried() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("in");
    write_inputs(&input, odd_name, None);
    let out = temp.path().join("out");
    // Without the config file, the claims' `Request #` is no name of claim_id.
    let output = run(&input, &out, &[]);
    assert_one_fatal_line(&output, &["claims.csv", "'claim_id'", "'ClaimId'", "'AssociationId'"]);
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_header_only_usage_file_is_read_and_warned_of() {
    let temp = tempfile::tempdir().unwrap();
    let input = temp.path().join("in");
    write_inputs(&input, export_header, None);
    let usage = input.join("usage.csv");
    let header = std::fs::read_to_string(&usage).unwrap().lines().next().unwrap().to_string();
    std::fs::write(&usage, header + "\n").unwrap();
    let out = temp.path().join("out");
    // --quiet hides progress, not warnings.
    let output = run_ok(&args(&input, &out, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warning = format!("usage file {} has a header and no data rows", usage.display());
    assert!(stderr.lines().any(|l| l == format!("cpor: warning: {warning}")), "{stderr}");
    let summary = summary(&out);
    assert_eq!(summary["inputs"]["usage"]["records"], 0);
    let warnings: Vec<&str> = summary["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(warnings.contains(&warning.as_str()), "{warnings:?}");
    // The fixture's responses file is header-only too; the claims file is not.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(!warnings.iter().any(|w| w.starts_with("claims")), "{warnings:?}");
}
