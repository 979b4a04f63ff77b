//! The integration tests: the real `cpor` binary run in temporary directories on the scenario
//! folders of `fixtures/` (each pinning one rule of SPEC.md, plus the shared worked example), and on
//! generated inputs for the properties that must hold for any data.

// A test stops at the first broken expectation, with its message: that is what tests are for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod analyst;
mod batches;
mod check_order;
mod closing_soon;
mod dask;
mod exports_columns;
mod exports_example;
mod exports_files;
mod exports_layouts;
mod exports_values;
mod fixtures;
mod generate_layout;
mod hostile;
mod manifest;
mod parquet;
mod progress;
mod properties;
mod shards;
mod util;

use std::collections::BTreeSet;
use std::path::Path;

use util::*;

#[test]
fn the_fixtures_produce_every_reject_reason() {
    let mut seen = BTreeSet::new();
    for fixture in fixtures() {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        run_ok(&fixture_args(&fixture, &fixture.join("input"), "csv", &out));
        for row in reject_keys(&out.join("rejects.csv")).into_iter().skip(1) {
            seen.insert(row[3].clone());
        }
    }
    let all: BTreeSet<String> = cpor::rejects::RejectReason::ALL.iter().map(|r| r.as_str().to_string()).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "no fixture produces {missing:?}");
}

fn example() -> std::path::PathBuf {
    repo().join("fixtures/example_small")
}

#[test]
fn the_same_inputs_give_identical_bytes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (a, b) = (temp.path().join("a"), temp.path().join("b"));
    run_ok(&fixture_args(&example(), &example().join("input"), "csv", &a));
    run_ok(&fixture_args(&example(), &example().join("input"), "csv", &b));
    let (ta, tb) = (outputs_without_summary(&a), outputs_without_summary(&b));
    assert!(ta.len() > 3);
    assert!(ta == tb, "two runs on the same inputs differ");
}

#[test]
fn the_sample_run_shows_every_status() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let args = ["run", "--as-of", "2026-11-23T06:00:00Z", "--quiet", "--out"].map(String::from);
    let mut args = args.to_vec();
    args.push(out.display().to_string());
    let output = run_ok(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = summary(&out);
    for status in cpor::evaluate::Status::ALL {
        let count = summary["statuses"][status.as_str()].as_u64().unwrap_or(0);
        assert!(count >= 1, "the sample shows no {} claim", status.as_str());
        assert!(stdout.contains(&format!("{count} {}", status.as_str())), "stdout names {}: {stdout}", status.as_str());
    }
    assert!(stdout.lines().last().unwrap_or("").starts_with("done in"), "{stdout}");
}

#[test]
fn a_failed_run_leaves_the_previous_output_untouched() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    run_ok(&fixture_args(&example(), &example().join("input"), "csv", &out));
    let before = tree(&out);

    // A claims file without the submitted_at column.
    let bad = temp.path().join("claims.csv");
    std::fs::write(&bad, "claim_id,partner_id,tenant_id,engagement,workload\n").expect("write");
    let mut args = fixture_args(&example(), &example().join("input"), "csv", &out);
    set_arg(&mut args, "--claims", bad.display());
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("submitted_at") && stderr.contains("claims.csv"), "{stderr}");
    assert!(tree(&out) == before, "the previous output changed");

    // An output directory that cannot be created.
    let blocker = temp.path().join("file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let args = fixture_args(&example(), &example().join("input"), "csv", &blocker.join("out"));
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));

    // An unreadable input: a missing file, a bad holidays file.
    let mut args = fixture_args(&example(), &example().join("input"), "csv", &out);
    set_arg(&mut args, "--claims", temp.path().join("missing.csv").display());
    assert_eq!(cpor().args(&args).output().expect("runs").status.code(), Some(1));
    let holidays = temp.path().join("holidays.csv");
    std::fs::write(&holidays, "date,country,name\n2026-02-30,,Nope\n").expect("write");
    let mut args = fixture_args(&example(), &example().join("input"), "csv", &out);
    set_arg(&mut args, "--holidays", holidays.display());
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holidays"));
    std::fs::write(&holidays, "date,name\n2026-11-05,No country column\n").expect("write");
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("country"));
    assert!(tree(&out) == before, "the previous output changed");
    let leftovers: Vec<_> = std::fs::read_dir(temp.path())
        .expect("dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("staging"))
        .collect();
    assert!(leftovers.is_empty(), "staging directories left behind");
}

#[test]
fn exit_codes_for_usage_errors_and_reject_rates() {
    for bad in [
        vec!["run", "--window-days", "0"],
        vec!["run", "--as-of", "tomorrow"],
        vec!["run", "--timezone", "Mars/Base"],
        vec!["run", "--weekend", "caturday"],
        vec!["run", "--weekend", "mon,tue,wed,thu,fri,sat,sun"],
        vec!["run", "--max-reject-rate", "2"],
        vec!["run", "--format", "xlsx"],
        vec!["run", "--claims", "fixtures/example_small/input/claims.csv"],
        vec!["frobnicate"],
    ] {
        let output = cpor().args(&bad).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let mut args = fixture_args(&example(), &example().join("input"), "csv", &out);
    args.extend(["--max-reject-rate".to_string(), "0.05".to_string()]);
    let output = cpor().args(&args).output().expect("runs");
    // 8 of 42 claims are rejected: above 5%.
    assert_eq!(output.status.code(), Some(3));
    assert!(out.join("ledger.csv").exists(), "outputs are written even above the reject rate");
    assert_eq!(summary(&out)["reject_rate_exceeded"][0], "claims");
    args.pop();
    args.push("0.5".to_string());
    assert_eq!(cpor().args(&args).output().expect("runs").status.code(), Some(0));
}

#[test]
fn inputs_as_directories_and_globs_in_file_order() {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = example().join("input");
    let dir = temp.path().join("claims");
    std::fs::create_dir(&dir).expect("dir");
    // Split the claims in two files; a directory reads them sorted by name.
    let text = std::fs::read_to_string(input.join("claims.csv")).expect("claims");
    let lines: Vec<&str> = text.lines().collect();
    let (head, rows) = (lines[0], &lines[1..]);
    let half = rows.len() / 2;
    std::fs::write(dir.join("a.csv"), format!("{head}\n{}\n", rows[..half].join("\n"))).expect("write");
    std::fs::write(dir.join("b.csv"), format!("{head}\n{}\n", rows[half..].join("\n"))).expect("write");
    std::fs::write(dir.join("notes.md"), "ignored").expect("write");
    let out = temp.path().join("out");
    let mut args = fixture_args(&example(), &input, "csv", &out);
    set_arg(&mut args, "--claims", dir.display());
    set_arg(&mut args, "--usage", format!("{}/usa*.csv", input.display()));
    run_ok(&args);
    let single = temp.path().join("single");
    run_ok(&fixture_args(&example(), &input, "csv", &single));
    assert_eq!(
        std::fs::read(out.join("ledger.csv")).expect("ledger"),
        std::fs::read(single.join("ledger.csv")).expect("ledger")
    );
    let summary = summary(&out);
    let files = summary["inputs"]["claims"]["files"].as_array().expect("files").clone();
    assert_eq!(files.len(), 2);
    assert!(files[0]["path"].as_str().expect("path").ends_with("a.csv"));
    assert_eq!(files[0]["records"].as_u64().expect("records") as usize, half);
    // Record numbers restart in each file.
    let rejects = read_csv(&out.join("rejects.csv"));
    assert!(rejects.iter().any(|r| r[1].ends_with("b.csv") && r[2].parse::<usize>().expect("n") <= rows.len() - half));
}

#[test]
fn malformed_rows_are_rejected_with_their_text_and_the_run_goes_on() {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = example().join("input");
    let claims = temp.path().join("claims.csv");
    let mut text = std::fs::read_to_string(input.join("claims.csv")).expect("claims");
    text.push_str("C999,1,only,three\n\"C998\",\"quoted, \"\"comma\"\"\"\n");
    std::fs::write(&claims, &text).expect("write");
    let out = temp.path().join("out");
    let mut args = fixture_args(&example(), &input, "csv", &out);
    set_arg(&mut args, "--claims", claims.display());
    run_ok(&args);
    let rejects = read_csv(&out.join("rejects.csv"));
    let malformed: Vec<_> = rejects.iter().filter(|r| r[3] == "malformed_row").collect();
    assert_eq!(malformed.len(), 2);
    assert_eq!(malformed[0][2], "43");
    let raw: serde_json::Value = serde_json::from_str(&malformed[0][5]).expect("raw is JSON");
    assert_eq!(raw["_line"], "C999,1,only,three");
    let raw: serde_json::Value = serde_json::from_str(&malformed[1][5]).expect("raw is JSON");
    assert_eq!(raw["_line"], "\"C998\",\"quoted, \"\"comma\"\"\"");
    // Other rejects carry every column, extra ones included.
    let other = rejects.iter().find(|r| r[3] == "unknown_engagement").expect("a reject");
    let raw: serde_json::Value = serde_json::from_str(&other[5]).expect("raw is JSON");
    assert_eq!(raw["engagement"], "Partner Magic");
    assert!(raw.get("extra_note").is_some());
    assert!(!other[4].is_empty(), "a detail sentence");
}

#[test]
fn reports_never_leave_the_output_directory() {
    // Ids become file names: a claim id like ../../x is rejected, never written.
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    run_ok(&fixture_args(&fixture, &fixture.join("input"), "csv", &out));
    let rejects = read_csv(&out.join("rejects.csv"));
    assert!(rejects.iter().any(|r| r[3] == "invalid_id" && r[5].contains("../../etc/passwd")));
    for name in tree(&out).keys() {
        assert!(!name.contains(".."), "{name}");
    }
    assert!(!Path::new(&temp.path().join("etc")).exists());
}

fn generate(args: &[&str], out: &Path) {
    let mut all: Vec<String> = vec!["generate".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(["--out".into(), out.display().to_string()]);
    run_ok(&all);
}

fn run_generated(dir: &Path, ext: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage"] {
        args.extend([format!("--{name}"), dir.join(format!("{name}.{ext}")).display().to_string()]);
    }
    args.extend(["--holidays".into(), dir.join("holidays.csv").display().to_string()]);
    args.extend(["--as-of".into(), cpor::generate::GENERATED_AS_OF.into(), "--quiet".into()]);
    args.extend(["--out".into(), out.display().to_string()]);
    args.extend(extra.iter().map(|a| a.to_string()));
    run_ok(&args);
    summary(out)
}

#[test]
fn generated_data_shows_every_status_and_every_reject_reason() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    generate(&["--profile", "small", "--seed", "7"], &data);
    let summary = run_generated(&data, "csv", &temp.path().join("out"), &[]);
    for status in cpor::evaluate::Status::ALL {
        assert!(summary["statuses"][status.as_str()].as_u64().unwrap_or(0) > 0, "no {}", status.as_str());
    }
    for reason in cpor::rejects::RejectReason::ALL {
        assert!(summary["rejects_by_reason"][reason.as_str()].as_u64().unwrap_or(0) > 0, "no {}", reason.as_str());
    }
    // The same seed gives the same files.
    let again = temp.path().join("again");
    generate(&["--profile", "small", "--seed", "7"], &again);
    for name in ["claims.csv", "responses.csv", "usage.csv", "holidays.csv"] {
        assert_eq!(std::fs::read(data.join(name)).expect("file"), std::fs::read(again.join(name)).expect("file"));
    }
}

/// A usage input whose keys do not fit the memory budget is read in passes, one group of tenants
/// each: the outputs are those of one pass, on generated data with every reject reason (each
/// fixture is also run so: tests/cli/fixtures.rs).
#[test]
fn a_small_memory_budget_reads_usage_in_passes_with_the_same_outputs() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    generate(&["--profile", "small", "--seed", "11"], &data);
    let (one, many) = (temp.path().join("one"), temp.path().join("many"));
    let one_summary = run_generated(&data, "csv", &one, &[]);
    let many_summary = run_generated(&data, "csv", &many, &["--memory-budget", "64K"]);
    assert_eq!(one_summary["usage_passes"].as_u64(), Some(1));
    let passes = many_summary["usage_passes"].as_u64().expect("usage_passes");
    assert!(passes > 10, "64K of keys for about 50,000 usage rows takes many passes, not {passes}");
    assert_eq!(one_summary["inputs"], many_summary["inputs"]);
    assert_eq!(one_summary["rejects_by_reason"], many_summary["rejects_by_reason"]);
    let (a, b) = (outputs_without_summary(&one), outputs_without_summary(&many));
    assert!(a.len() > 10);
    assert!(a == b, "the outputs of one pass and of {passes} passes differ");
}

/// The CI-sized smoke test of the scale path: a `medium` dataset (100,000 tenants, about 5 million
/// usage rows) as Parquet, generated and run end to end.
#[test]
fn medium_parquet_smoke_test() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    generate(&["--profile", "medium", "--format", "parquet"], &data);
    let out = temp.path().join("out");
    let summary = run_generated(&data, "parquet", &out, &[]);
    let usage = &summary["inputs"]["usage"];
    assert!(usage["records"].as_u64().expect("records") > 4_000_000);
    let statuses = &summary["statuses"];
    let with_report = statuses["official"].as_u64().expect("n") + statuses["revoked"].as_u64().expect("n");
    assert_eq!(summary["reports"]["files"].as_u64(), Some(with_report));
    let timings = &summary["timings"];
    for stage in ["read", "validate", "evaluate", "report", "write", "total"] {
        assert!(timings[stage].as_f64().is_some(), "timings.{stage}");
    }
    let ledger_rows = read_csv(&out.join("ledger.csv")).len() as u64 - 1;
    assert_eq!(ledger_rows, summary["inputs"]["claims"]["accepted"].as_u64().expect("n"));
}
