//! SPEC 9, one fixture folder per real export layout (`fixtures/exports/<layout>/`): `input/` holds a
//! small dataset as the layout writes it, `twin/` the same dataset in SPEC 2's layout, `expected/` the
//! twin's outputs, computed independently of cpor (fixtures/exports/make_layouts.py says how). The
//! layout run must give the twin run's ledger and reports byte for byte and its rejects by (source,
//! record, reason) — the `file` and `raw` columns name each run's own files and headers — and the
//! twin run must give `expected/`, so that a fault that breaks both runs alike still fails.

use std::path::{Path, PathBuf};

use crate::util::*;

/// A layout fixture: its folder, its input files and the flags a run on them needs.
struct Layout {
    folder: &'static str,
    claims: &'static str,
    responses: &'static str,
    usage: &'static str,
    /// Flags of the layout run (besides the twin's).
    flags: &'static [&'static str],
    /// Flags of both runs.
    twin_flags: &'static [&'static str],
}

/// The portal's analytics download: UTF-16 LE TSV with a byte-order mark, the usage gzipped,
/// M/D/YYYY with 12-hour times, portal engagement spellings, country names, monthly usage.
const ANALYTICS_DOWNLOAD: Layout = Layout {
    folder: "analytics_download",
    claims: "claims.tsv",
    responses: "responses.tsv",
    usage: "usage.tsv.gz",
    flags: &["--date-order", "mdy"],
    twin_flags: &["--usage-period", "month"],
};

/// A spreadsheet re-saved in Germany: `;`, windows-1252, DD.MM.YYYY, German engagement names, each
/// file the one member of a zip archive.
const GERMAN_SPREADSHEET: Layout = Layout {
    folder: "german_spreadsheet",
    claims: "claims.zip",
    responses: "responses.zip",
    usage: "usage.zip",
    flags: &["--date-order", "dmy", "--encoding", "windows-1252"],
    twin_flags: &[],
};

/// Headers no table knows, in another column order, mapped by `input/columns.toml`.
const ODD_HEADERS: Layout = Layout {
    folder: "odd_headers",
    claims: "claims.csv",
    responses: "responses.csv",
    usage: "usage.csv",
    // Relative to the repository, where cpor runs.
    flags: &["--config", "fixtures/exports/odd_headers/input/columns.toml"],
    twin_flags: &[],
};

impl Layout {
    fn dir(&self) -> PathBuf {
        repo().join("fixtures/exports").join(self.folder)
    }

    /// The twin run's arguments: `twin/*.csv` with the fixture's holidays and parameters.
    fn twin_args(&self, out: &Path) -> Vec<String> {
        let mut args = fixture_args(&self.dir(), &self.dir().join("twin"), "csv", out);
        args.extend(self.twin_flags.iter().map(|f| f.to_string()));
        args
    }

    /// A run of the layout's files with the given flags only (besides the fixture's parameters).
    fn args_with(&self, out: &Path, flags: &[&str]) -> Vec<String> {
        let input = self.dir().join("input");
        let mut args = fixture_args(&self.dir(), &input, "csv", out);
        set_arg(&mut args, "--claims", input.join(self.claims).display());
        set_arg(&mut args, "--responses", input.join(self.responses).display());
        set_arg(&mut args, "--usage", input.join(self.usage).display());
        args.extend(flags.iter().map(|f| f.to_string()));
        args
    }

    /// The layout run's arguments: its files, the twin's flags and its own.
    fn args(&self, out: &Path) -> Vec<String> {
        let flags: Vec<&str> = self.twin_flags.iter().chain(self.flags).copied().collect();
        self.args_with(out, &flags)
    }

    /// Runs the twin and the layout; checks the twin against `expected/` and the layout against the
    /// twin; returns the two output directories (twin, layout).
    fn check(&self, temp: &Path) -> (PathBuf, PathBuf) {
        let (twin, layout) = (temp.join("twin"), temp.join("layout"));
        run_ok(&self.twin_args(&twin));
        run_ok(&self.args(&layout));
        let problems = compare_with_expected(&self.dir(), &twin);
        assert!(problems.is_empty(), "{} twin:\n{}", self.folder, problems.join("\n"));
        let problems = differences(&twin, &layout);
        assert!(problems.is_empty(), "{} layout vs twin:\n{}", self.folder, problems.join("\n"));
        (twin, layout)
    }
}

/// rejects.csv as (source, record, reason).
fn reject_reasons(out: &Path) -> Vec<[String; 3]> {
    read_csv(&out.join("rejects.csv")).into_iter().map(|r| [r[0].clone(), r[2].clone(), r[3].clone()]).collect()
}

/// Where a layout run's outputs differ from its twin's: ledger and every report byte for byte,
/// rejects by (source, record, reason), and each input's records, accepted, rejected and deferred.
fn differences(twin: &Path, layout: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let (want, got) = (std::fs::read(twin.join("ledger.csv")).ok(), std::fs::read(layout.join("ledger.csv")).ok());
    if want != got {
        let text = |b: Option<Vec<u8>>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
        problems.push(format!("ledger.csv differs:\n--- layout\n{}--- twin\n{}", text(got), text(want)));
    }
    let (want, got) = (tree(&twin.join("reports")), tree(&layout.join("reports")));
    if want.keys().ne(got.keys()) {
        problems.push(format!("report files: layout {:?}, twin {:?}", got.keys(), want.keys()));
    }
    for (name, bytes) in &want {
        if got.get(name).is_some_and(|g| g != bytes) {
            problems.push(format!("report {name} differs:\n{}", String::from_utf8_lossy(&got[name])));
        }
    }
    let (want, got) = (reject_reasons(twin), reject_reasons(layout));
    if want != got {
        problems.push(format!("rejects (source, record, reason): layout {got:?}, twin {want:?}"));
    }
    let (want, got) = (summary(twin), summary(layout));
    for input in ["claims", "responses", "usage"] {
        for figure in ["records", "accepted", "rejected", "deferred"] {
            if want["inputs"][input][figure] != got["inputs"][input][figure] {
                let (w, g) = (&want["inputs"][input][figure], &got["inputs"][input][figure]);
                problems.push(format!("{input}.{figure}: layout {g}, twin {w}"));
            }
        }
    }
    problems
}

/// Runs a layout's files with other flags (`(name, flags)`, instead of the layout's own and its
/// twin's): each run fails, or gives another ledger than `out`'s — the flags are what made it read.
fn assert_misread(layout: &Layout, temp: &Path, out: &Path, cases: &[(&str, &[&str])]) {
    let want = std::fs::read(out.join("ledger.csv")).expect("ledger");
    for (name, flags) in cases {
        let misread = temp.join(name);
        let output = cpor().args(layout.args_with(&misread, flags)).output().expect("cpor runs");
        let ledger = output.status.success().then(|| std::fs::read(misread.join("ledger.csv")).expect("ledger"));
        assert!(ledger.as_ref() != Some(&want), "{} read alike with {flags:?}", layout.folder);
    }
}

/// The counts every layout fixture covers: rejects of several reasons in each input, duplicates, a
/// contest, official claims with reports, a pending claim, deferred records.
fn assert_covers_the_cases(out: &Path) {
    let summary = summary(out);
    for status in ["official", "pending", "duplicate", "contested", "opted_out", "revoked"] {
        assert!(summary["statuses"][status].as_u64() >= Some(1), "no {status} claim");
    }
    let reasons: std::collections::BTreeSet<String> =
        reject_reasons(out).into_iter().skip(1).map(|r| r[2].clone()).collect();
    assert!(reasons.len() >= 10, "rejects of several reasons: {reasons:?}");
    assert!(reasons.contains("duplicate_usage_row"), "{reasons:?}");
    assert!(tree(&out.join("reports")).len() >= 10, "official claims with reports");
    assert!(summary["inputs"]["responses"]["deferred"].as_u64() >= Some(1));
}

/// Hand-checked on the monthly twin, as of 2026-11-23T06:00:00Z in UTC, 5 business days:
/// - C000001 (DE) notified Friday 2026-10-23T02:24:12Z: the window closes after Friday 2026-10-30,
///   official at 2026-10-31T00:00:00Z; access window [2026-10-31, 2026-11-23]. October overlaps it by
///   its last day: its row is in the report; it does not end on or before 2026-10-31, so it is not in
///   starting_hwm, which is empty (no earlier month).
/// - C000012 (DE) notified Thursday 2026-11-05T19:42:40Z; Tuesday 2026-11-10 is a global holiday,
///   so the window closes after Friday 2026-11-13: official at 2026-11-14T00:00:00Z. November, the
///   month it became official, is in the report (130 active users) and not in starting_hwm, which is
///   October's 38.
#[test]
fn analytics_download_reads_as_its_monthly_twin() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (twin, layout) = ANALYTICS_DOWNLOAD.check(temp.path());
    assert_covers_the_cases(&layout);
    let month = |d: &str, a: &str| (d.to_string(), a.to_string());

    let c1 = ledger_row(&twin, "C000001");
    assert_eq!((c1["status"].as_str(), c1["official_at"].as_str()), ("official", "2026-10-31T00:00:00Z"));
    assert_eq!(report(&twin, "4953721", "C000001"), [month("2026-10-01", "116"), month("2026-11-01", "185")]);
    assert_eq!(c1["starting_hwm"], "", "October overlaps the access window: not before it");

    let c12 = ledger_row(&twin, "C000012");
    assert_eq!((c12["status"].as_str(), c12["official_at"].as_str()), ("official", "2026-11-14T00:00:00Z"));
    assert_eq!(report(&twin, "4953721", "C000012"), [month("2026-11-01", "130")]);
    assert_eq!(c12["starting_hwm"], "38", "November, the month C000012 became official, is not in starting_hwm");

    // The portal spellings and country names are written as codes.
    let c15 = ledger_row(&layout, "C000015");
    assert_eq!((c15["engagement"].as_str(), c15["customer_country"].as_str()), ("bizapps_usage_recognition", "DE"));

    // The same files with the dates read as SPEC 2's only, or the months as days.
    let cases: [(&str, &[&str]); 2] =
        [("ymd", &["--usage-period", "month"]), ("daily", &["--date-order", "mdy", "--usage-period", "day"])];
    assert_misread(&ANALYTICS_DOWNLOAD, temp.path(), &layout, &cases);
}

#[test]
fn german_spreadsheet_reads_as_its_twin() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (_, layout) = GERMAN_SPREADSHEET.check(temp.path());
    assert_covers_the_cases(&layout);
    // A windows-1252 `ü` reaches the ledger and the reports as UTF-8.
    assert_eq!(ledger_row(&layout, "C000031")["workload"], "Power Automate für Teams");
    let rows = read_csv(&layout.join("reports/4718545/C000031.csv"));
    assert!(rows[1..].iter().all(|r| r[4] == "Power Automate für Teams"), "{:?}", rows.get(1));
    // Rejects name the archive's member.
    let rejects = read_csv(&layout.join("rejects.csv"));
    let usage = rejects.iter().find(|r| r[0] == "usage").expect("a usage reject");
    assert!(usage[1].ends_with("input/usage.zip/usage.csv"), "{}", usage[1]);

    // The same files read as UTF-8 (fatal), or with the days and months swapped.
    let cases: [(&str, &[&str]); 2] =
        [("utf-8", &["--date-order", "dmy"]), ("mdy", &["--date-order", "mdy", "--encoding", "windows-1252"])];
    assert_misread(&GERMAN_SPREADSHEET, temp.path(), &layout, &cases);
}

#[test]
fn odd_headers_read_as_their_twin() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (_, layout) = ODD_HEADERS.check(temp.path());
    assert_covers_the_cases(&layout);
    let summary = summary(&layout);
    let columns = |input: &str| summary["inputs"][input]["files"][0]["columns"].clone();
    assert_eq!(columns("claims")["claim_id"], "Request #");
    assert_eq!(columns("responses")["response"], "Answer");
    assert_eq!(columns("usage")["active_users"], "Users seen");
    // Without the config file no name finds the columns (fatal).
    assert_misread(&ODD_HEADERS, temp.path(), &layout, &[("no-config", &[])]);
}
