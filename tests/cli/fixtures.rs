//! One named test per scenario folder of `fixtures/` (STYLE 16): `cargo test optout_exactly_at_close`
//! runs that scenario, in every form — from its CSV inputs, with usage read in many passes, and
//! from Parquet inputs — and compares the outputs with the folder's `expected/`.
//!
//! A folder under `fixtures/` without its test fails `every_fixture_folder_has_a_named_test`.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::parquet::{convertible, parquet_input_mismatches, Columns};
use crate::util::*;

/// Folders under `fixtures/` that are not scenarios: they hold inputs for the tests of another
/// module and have no expected outputs.
const NOT_SCENARIOS: [&str; 2] = [
    // Awkward Parquet files for tests/cli/hostile/parquet.rs.
    "hostile",
    // Datasets in real export layouts (SPEC 9), run with their own flags by tests/cli/exports_example.rs
    // and tests/cli/exports_layouts.rs.
    "exports",
];

/// Declares one test per fixture folder, named for it, and the list the guard checks the folders
/// against.
macro_rules! fixture_tests {
    ($($name:ident),+ $(,)?) => {
        const NAMED: &[&str] = &[$(stringify!($name)),+];
        $(
            #[test]
            fn $name() {
                scenario(stringify!($name));
            }
        )+
    };
}

fixture_tests! {
    accept_after_window,
    awaiting_and_deferred,
    contest_both,
    contest_official_first,
    duplicates_same_partner,
    early_accept_then_revoke,
    every_reject_reason,
    example_small,
    holidays_global_and_country,
    notified_on_weekend,
    optout_exactly_at_close,
    optout_one_second_before_close,
    report_scoping,
    timezone_dst_new_york,
    timezone_midnight_tokyo,
    window_days_and_weekend,
}

#[test]
fn every_fixture_folder_has_a_named_test() {
    let folders: BTreeSet<String> = std::fs::read_dir(repo().join("fixtures"))
        .expect("fixtures/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().expect("a name").to_string_lossy().into_owned())
        .filter(|name| !NOT_SCENARIOS.contains(&name.as_str()))
        .collect();
    let named: BTreeSet<String> = NAMED.iter().map(|n| n.to_string()).collect();
    let untested: Vec<_> = folders.difference(&named).collect();
    assert!(untested.is_empty(), "add `{untested:?}` to fixture_tests! in tests/cli/fixtures.rs");
    let missing: Vec<_> = named.difference(&folders).collect();
    assert!(missing.is_empty(), "fixture_tests! names folders that do not exist: {missing:?}");
    assert!(convertible().len() >= 10, "most fixtures are also run from Parquet inputs");
}

/// Runs one fixture in every form and fails with every difference from its expected outputs.
fn scenario(name: &str) {
    let fixture = repo().join("fixtures").join(name);
    assert!(fixture.join("expected").is_dir(), "{} has no expected/", fixture.display());
    let mut failures = Vec::new();
    // From the CSV inputs, then with a memory budget so small that usage is read in many passes
    // (one group of tenants each): the outputs are those of one pass.
    for (form, extra) in [("csv", &[][..]), ("csv --memory-budget 1K", &["--memory-budget", "1K"][..])] {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &out);
        args.extend(extra.iter().map(|a| a.to_string()));
        run_ok(&args);
        let mut problems = compare_with_expected(&fixture, &out);
        let mut summary = summary(&out);
        if !extra.is_empty() {
            // The one figure that differs between one pass and many.
            let passes = summary["usage_passes"].as_u64().unwrap_or(0);
            if passes < 1 {
                problems.push(format!("usage_passes: {passes}"));
            }
            summary["usage_passes"] = Value::from(1);
        }
        problems.extend(summary_mismatches(&fixture, &summary));
        failures.extend(problems.into_iter().map(|p| format!("[{form}] {p}")));
    }
    // From Parquet inputs, when the CSV inputs have no malformed rows (a Parquet file cannot hold one).
    if convertible().contains(&fixture) {
        for mode in [Columns::Text, Columns::Typed, Columns::Pandas] {
            failures.extend(parquet_input_mismatches(&fixture, mode).into_iter().map(|p| format!("[{mode:?}] {p}")));
        }
    }
    assert!(failures.is_empty(), "{}:\n{}", fixture.display(), failures.join("\n"));
}

/// The run's summary.json with what depends on the machine or the moment replaced by a
/// placeholder: the timings (each checked to be a number of seconds), the program version (checked
/// to be this crate's), input paths (made relative to the fixture folder, in warnings too) and the inputs' and holidays' sha256
/// (checked against the bytes of the file, which a checkout may store with other line endings).
fn redacted(fixture: &Path, summary: &Value) -> Result<Value, String> {
    let mut summary = summary.clone();
    let relative = |path: &Value| -> Result<Value, String> {
        let text = path.as_str().ok_or(format!("a path that is not text: {path}"))?;
        let rel =
            Path::new(text).strip_prefix(fixture).map_err(|_| format!("{text} is not in {}", fixture.display()))?;
        Ok(Value::from(rel.to_string_lossy().replace('\\', "/")))
    };
    let version = &summary["version"];
    if version != env!("CARGO_PKG_VERSION") {
        return Err(format!("version {version}, not {}", env!("CARGO_PKG_VERSION")));
    }
    summary["version"] = Value::from("[version]");
    let timings = summary["timings"].as_object_mut().ok_or("no timings")?;
    for (stage, seconds) in timings.iter_mut() {
        if !seconds.as_f64().is_some_and(|s| s >= 0.0) {
            return Err(format!("timings.{stage}: {seconds}"));
        }
        *seconds = Value::from("[seconds]");
    }
    if !summary["holidays"].is_null() {
        let path = summary["holidays"].as_str().ok_or("holidays: not a path")?;
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if summary["holidays_sha256"] != sha256.as_str() {
            return Err(format!("{path}: holidays_sha256 {}, the file's is {sha256}", summary["holidays_sha256"]));
        }
        summary["holidays_sha256"] = Value::from("[sha256 of the file]");
        summary["holidays"] = relative(&summary["holidays"])?;
    }
    let inputs = summary["inputs"].as_object_mut().ok_or("no inputs")?;
    for (input, figures) in inputs.iter_mut() {
        let files = figures["files"].as_array_mut().ok_or(format!("inputs.{input}: no files"))?;
        for file in files {
            let path = file["path"].as_str().ok_or(format!("inputs.{input}: a file without a path"))?;
            let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
            let sha256: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            if file["sha256"] != sha256.as_str() {
                return Err(format!("{path}: sha256 {}, the file's is {sha256}", file["sha256"]));
            }
            file["sha256"] = Value::from("[sha256 of the file]");
            file["path"] = relative(&file["path"])?;
        }
    }
    // Warnings name files by their paths: made relative to the fixture folder too.
    let prefix = format!("{}/", fixture.display());
    for warning in summary["warnings"].as_array_mut().ok_or("no warnings")? {
        let text = warning.as_str().ok_or(format!("a warning that is not text: {warning}"))?;
        *warning = Value::from(text.replace(&prefix, ""));
    }
    Ok(summary)
}

/// Compares a run's summary.json, redacted, with the fixture's `expected/summary.json`.
/// `CPOR_BLESS_SUMMARY=1` writes the expected file instead: review it against the fixture's
/// totals.json, ledger and reports before committing it.
fn summary_mismatches(fixture: &Path, summary: &Value) -> Vec<String> {
    let got = match redacted(fixture, summary) {
        Ok(got) => got,
        Err(problem) => return vec![format!("summary.json: {problem}")],
    };
    let path = fixture.join("expected/summary.json");
    if std::env::var_os("CPOR_BLESS_SUMMARY").is_some() {
        let text = serde_json::to_string_pretty(&got).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("write expected summary");
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("expected/summary.json"))
        .expect("expected/summary.json is JSON");
    let mut problems = Vec::new();
    json_differences("summary.json", &got, &want, &mut problems);
    problems
}

/// Lists where two JSON values differ, by path.
fn json_differences(at: &str, got: &Value, want: &Value, problems: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                let (x, y) = (a.get(key).unwrap_or(&Value::Null), b.get(key).unwrap_or(&Value::Null));
                if !a.contains_key(key) || !b.contains_key(key) {
                    problems.push(format!("{at}.{key}: got {}, expected {}", show(a.get(key)), show(b.get(key))));
                } else {
                    json_differences(&format!("{at}.{key}"), x, y, problems);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                json_differences(&format!("{at}[{i}]"), x, y, problems);
            }
        }
        _ if got != want => problems.push(format!("{at}: got {got}, expected {want}")),
        _ => {}
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or("nothing".to_string(), Value::to_string)
}
