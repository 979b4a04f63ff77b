//! Running the real binary on fixture folders and comparing its outputs with expectations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn cpor() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cpor"));
    command.current_dir(repo());
    command
}

/// The run parameters of a fixture (`input/params.json`).
pub struct Params {
    pub as_of: String,
    pub window_days: u64,
    pub timezone: String,
    pub weekend: Option<String>,
}

pub fn params(fixture: &Path) -> Params {
    let text = std::fs::read_to_string(fixture.join("input/params.json")).expect("params.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("params.json is JSON");
    Params {
        as_of: json["as_of"].as_str().expect("as_of").to_string(),
        window_days: json["window_days"].as_u64().unwrap_or(5),
        timezone: json["timezone"].as_str().unwrap_or("UTC").to_string(),
        weekend: json["weekend"].as_str().map(str::to_string),
    }
}

/// The arguments of a run of a fixture, with inputs from `input` of the given extension (`csv` or
/// `parquet`) and the fixture's own holidays and parameters.
pub fn fixture_args(fixture: &Path, input: &Path, ext: &str, out: &Path) -> Vec<String> {
    let params = params(fixture);
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage"] {
        args.push(format!("--{name}"));
        args.push(input.join(format!("{name}.{ext}")).display().to_string());
    }
    args.extend([
        "--holidays".into(),
        fixture.join("input/holidays.csv").display().to_string(),
        "--as-of".into(),
        params.as_of.clone(),
        "--window-days".into(),
        params.window_days.to_string(),
        "--timezone".into(),
        params.timezone.clone(),
        "--out".into(),
        out.display().to_string(),
        "--quiet".into(),
    ]);
    if let Some(weekend) = &params.weekend {
        args.extend(["--weekend".into(), weekend.clone()]);
    }
    args
}

/// Replaces the value that follows `flag` in a list of arguments.
pub fn set_arg(args: &mut [String], flag: &str, value: impl ToString) {
    let at = args.iter().position(|a| a == flag).unwrap_or_else(|| panic!("{flag} in {args:?}")) + 1;
    args[at] = value.to_string();
}

pub fn run_ok(args: &[String]) -> Output {
    let output = cpor().args(args).output().expect("cpor runs");
    assert!(
        output.status.success(),
        "cpor {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every file below `dir`, by relative path, with its bytes.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != ".gitkeep") {
                let rel = path.strip_prefix(dir).expect("below dir").to_string_lossy().replace('\\', "/");
                files.insert(rel, std::fs::read(&path).expect("readable file"));
            }
        }
    }
    files
}

/// The report files of an output directory, by path below `reports/`, without the delivery manifests
/// (tests/cli/manifest.rs checks those).
pub fn report_tree(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = tree(&out.join("reports"));
    files.retain(|name, _| !cpor::output::manifest::is_manifest_name(name.rsplit('/').next().unwrap_or(name)));
    files
}

/// Every output file but the summary, whose run-time figures differ from run to run; SPEC promises
/// identical bytes for the ledger, reports and rejects.
pub fn outputs_without_summary(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = tree(dir);
    files.remove("summary.json");
    files.remove("summary.html");
    files
}

pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path).expect("csv file");
    reader.records().map(|r| r.expect("csv record").iter().map(str::to_string).collect()).collect()
}

/// rejects.csv reduced to (source, file base name, record, reason), as the fixtures state it.
pub fn reject_keys(path: &Path) -> Vec<Vec<String>> {
    read_csv(path)
        .into_iter()
        .map(|row| {
            let base = Path::new(&row[1]).file_name().map_or(row[1].clone(), |n| n.to_string_lossy().into_owned());
            vec![row[0].clone(), base, row[2].clone(), row[3].clone()]
        })
        .collect()
}

/// The ledger row of a claim, by header name.
pub fn ledger_row(out: &Path, claim: &str) -> BTreeMap<String, String> {
    let rows = read_csv(&out.join("ledger.csv"));
    let row = rows.iter().find(|r| r[0] == claim).unwrap_or_else(|| panic!("{claim} in the ledger"));
    rows[0].iter().cloned().zip(row.iter().cloned()).collect()
}

/// (date, active_users) of a report's rows.
pub fn report(out: &Path, partner: &str, claim: &str) -> Vec<(String, String)> {
    let rows = read_csv(&out.join("reports").join(partner).join(format!("{claim}.csv")));
    let date = rows[0].iter().position(|h| h == "date").expect("date column");
    let active = rows[0].iter().position(|h| h == "active_users").expect("active_users column");
    rows[1..].iter().map(|r| (r[date].clone(), r[active].clone())).collect()
}

pub fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary.json")).expect("JSON")
}

/// Compares a run's outputs with a fixture's `expected/` folder; returns the differences.
pub fn compare_with_expected(fixture: &Path, out: &Path) -> Vec<String> {
    let expected = fixture.join("expected");
    let mut problems = Vec::new();
    let ledger = std::fs::read_to_string(out.join("ledger.csv")).unwrap_or_default();
    let want = std::fs::read_to_string(expected.join("ledger.csv")).expect("expected ledger");
    if ledger != want {
        problems.push(format!("ledger.csv differs:\n--- got\n{ledger}--- expected\n{want}"));
    }
    let rejects = reject_keys(&out.join("rejects.csv"));
    let want = read_csv(&expected.join("rejects.csv"));
    if rejects != want {
        problems.push(format!("rejects differ: got {rejects:?}, expected {want:?}"));
    }
    let reports = report_tree(out);
    let want = report_tree(&expected);
    if reports.keys().collect::<Vec<_>>() != want.keys().collect::<Vec<_>>() {
        problems.push(format!("report files differ: got {:?}, expected {:?}", reports.keys(), want.keys()));
    } else {
        for (name, bytes) in &want {
            if &reports[name] != bytes {
                problems.push(format!("report {name} differs:\n{}", String::from_utf8_lossy(&reports[name])));
            }
        }
    }
    let totals: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(expected.join("totals.json")).expect("totals")).expect("JSON");
    let summary = summary(out);
    for (input, figures) in totals.as_object().expect("object") {
        for (key, value) in figures.as_object().expect("object") {
            if &summary["inputs"][input][key] != value {
                problems.push(format!("{input}.{key}: got {}, expected {value}", summary["inputs"][input][key]));
            }
        }
    }
    problems
}

/// The fixture folders (each with input/ and expected/).
pub fn fixtures() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("fixtures"))
        .expect("fixtures/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expected").is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Lines of stderr that are not warnings (SPEC 9.3 prints one `cpor: warning:` line per header-only
/// file, even before a fatal error): a fatal error is one such line.
pub fn error_lines(stderr: &str) -> usize {
    stderr.trim_end().lines().filter(|l| !l.starts_with("cpor: warning: ")).count()
}

/// Section 2's names → the names of the portal's exports (SPEC 9.1's table).
pub const EXPORT_NAMES: &[(&str, &str)] = &[
    ("claim_id", "ClaimId"),
    ("partner_id", "MpnId"),
    ("tenant_id", "CustomerTenantId"),
    ("engagement", "EngagementName"),
    ("workload", "WorkloadName"),
    ("subscription_id", "SubscriptionId"),
    ("customer_country", "CustomerCountry"),
    ("submitted_at", "SubmittedDate"),
    ("notified_at", "CustomerNotifiedDate"),
    ("response_id", "ResponseId"),
    ("response", "CustomerResponse"),
    ("responded_at", "ResponseDate"),
    ("date", "Date"),
    ("active_users", "MonthlyActiveUsers"),
    ("paid_seats", "PaidAvailableUnits"),
    ("assigned_seats", "AssignedSeats"),
];

/// The portal's export name of one of section 2's column names (itself when it has none).
pub fn export_name(own: &str) -> &str {
    EXPORT_NAMES.iter().find(|(o, _)| *o == own).map_or(own, |(_, e)| e)
}
