//! Hostile input: Parquet (SPEC 2.4 and 6). The files under fixtures/hostile/parquet/ (written by its
//! make.py) hold the data of fixtures/report_scoping with one awkward kind of column each; the CSV run
//! of report_scoping is the reference for every row they leave alone. A property test writes typed
//! values at random with polars and runs the binary on them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use cpor::polars::prelude::*;
use proptest::prelude::*;

use crate::util::*;

fn scoping() -> PathBuf {
    repo().join("fixtures/report_scoping")
}

fn case(name: &str) -> PathBuf {
    repo().join("fixtures/hostile/parquet").join(name)
}

/// report_scoping's arguments, the given inputs read from `dir`'s Parquet files instead.
fn args_with(dir: &Path, parquet: &[&str], out: &Path) -> Vec<String> {
    let fixture = scoping();
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", out);
    for name in parquet {
        set_arg(&mut args, &format!("--{name}"), dir.join(format!("{name}.parquet")).display());
    }
    args
}

/// Runs cpor, killing it (and failing) when it takes longer than a minute: a hang is a bug too.
fn run(args: &[String]) -> Output {
    let mut child = cpor()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cpor starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().expect("kill");
            panic!("cpor {args:?} still running after a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// The CSV run of report_scoping, the reference.
fn reference(temp: &Path) -> PathBuf {
    let out = temp.join("csv");
    run_ok(&fixture_args(&scoping(), &scoping().join("input"), "csv", &out));
    out
}

/// Rejects of a run as (source, record id column, reason, raw as JSON).
fn rejects(out: &Path) -> Vec<(String, String, serde_json::Value)> {
    read_csv(&out.join("rejects.csv"))
        .into_iter()
        .skip(1)
        .map(|r| (r[0].clone(), r[3].clone(), serde_json::from_str(&r[5]).expect("raw is JSON")))
        .collect()
}

fn assert_fatal(output: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert_eq!(crate::util::error_lines(&stderr), 1, "one line: {stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} in {stderr}");
    }
}

fn assert_same_ledger_and_reports(a: &Path, b: &Path) {
    let (mut x, mut y) = (outputs_without_summary(a), outputs_without_summary(b));
    x.remove("rejects.csv");
    y.remove("rejects.csv");
    assert!(x == y, "ledger or reports differ between {} and {}", a.display(), b.display());
}

#[test]
fn parquet_extra_columns_of_any_type_are_ignored() {
    // Decimal, list, map, struct and duration columns in every input: once a panic (exit 101).
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    let out = temp.path().join("out");
    let output = run(&args_with(&case("extra_columns"), &["claims", "responses", "usage"], &out));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(outputs_without_summary(&csv), outputs_without_summary(&out));
}

#[test]
fn parquet_uint16_and_dictionary_text_columns_read_as_their_values() {
    // Both were fatal: polars was built without UInt16, and dictionaries were refused.
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    for (name, inputs) in [("uint16", &["usage"][..]), ("categorical", &["claims", "usage"][..])] {
        let out = temp.path().join(name);
        let output = run(&args_with(&case(name), inputs, &out));
        assert!(output.status.success(), "{name}: {}", String::from_utf8_lossy(&output.stderr));
        assert_same_ledger_and_reports(&csv, &out);
    }
}

#[test]
fn parquet_uint8_counts_are_read_as_counts() {
    // The file holds each count modulo 256: so does every report, and nothing else changes.
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    let out = temp.path().join("out");
    let output = run(&args_with(&case("uint8"), &["usage"], &out));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reports = |dir: &Path| {
        outputs_without_summary(dir).into_keys().filter(|name| name.starts_with("reports/P")).collect::<Vec<_>>()
    };
    assert_eq!(reports(&out), reports(&csv));
    assert!(!reports(&out).is_empty());
    for name in reports(&csv).iter().filter(|name| !name.ends_with("manifest.csv")) {
        let mut want = read_csv(&csv.join(name));
        for row in want.iter_mut().skip(1) {
            for cell in &mut row[7..] {
                if let Ok(count) = cell.parse::<u64>() {
                    *cell = (count % 256).to_string();
                }
            }
        }
        assert_eq!(read_csv(&out.join(name)), want, "{name}");
    }
}

#[test]
fn parquet_used_decimal_count_is_fatal_naming_file_column_and_type() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let output = run(&args_with(&case("decimal_count"), &["usage"], &out));
    assert_fatal(&output, &["decimal_count/usage.parquet", "active_users", "decimal(10, 2)"]);
    assert!(!out.exists());
}

#[test]
fn parquet_used_list_column_is_fatal_naming_file_column_and_type() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let output = run(&args_with(&case("used_list"), &["usage"], &out));
    assert_fatal(&output, &["used_list/usage.parquet", "paid_seats", "list"]);
    assert!(!out.exists());
}

/// A footer damaged by a few bytes (made by flipping bytes of `uint64/usage.parquet`) made polars
/// panic ("thrift bool field", exit 101): it is a fatal error naming the file, in one line.
#[test]
fn parquet_with_a_damaged_footer_is_fatal_not_a_panic() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let output = run(&args_with(&case("damaged_footer"), &["usage"], &out));
    assert_fatal(&output, &["damaged_footer/usage.parquet", "damaged"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    assert!(!out.exists());
}

/// Claims XS* (submitted_at) and XN* (notified_at) and responses R* (responded_at) hold the ends of
/// i64 in the case's unit: each is an invalid_timestamp, its raw the stored number with its unit.
fn timestamps_at_the_ends(name: &str, unit: &str, ends: &[i64]) {
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    let out = temp.path().join("out");
    let output = run(&args_with(&case(name), &["claims", "responses"], &out));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_same_ledger_and_reports(&csv, &out);
    let rejects = rejects(&out);
    assert_eq!(rejects.len(), 3 * ends.len(), "{rejects:?}");
    for (i, end) in ends.iter().enumerate() {
        let stored = format!("{end} {unit} since 1970-01-01");
        for (source, id_column, id, column) in [
            ("claims", "claim_id", format!("XS{i}"), "submitted_at"),
            ("claims", "claim_id", format!("XN{i}"), "notified_at"),
            ("responses", "response_id", format!("R{i}"), "responded_at"),
        ] {
            let reject = rejects
                .iter()
                .find(|(s, _, raw)| s == source && raw[id_column] == id.as_str())
                .unwrap_or_else(|| panic!("{source} {id} rejected: {rejects:?}"));
            assert_eq!(reject.1, "invalid_timestamp", "{reject:?}");
            assert_eq!(reject.2[column], stored.as_str(), "{reject:?}");
        }
    }
}

#[test]
fn parquet_millisecond_timestamps_at_the_ends_of_i64_are_invalid() {
    // i64::MIN ms was multiplied into microseconds with wrapping and accepted as 1970-01-01.
    timestamps_at_the_ends("timestamps_ms", "ms", &[i64::MIN, i64::MAX]);
}

#[test]
fn parquet_microsecond_timestamps_at_the_ends_of_i64_are_invalid() {
    timestamps_at_the_ends("timestamps_us", "us", &[i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]);
}

#[test]
fn parquet_dates_at_the_ends_of_date32_are_invalid() {
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    let out = temp.path().join("out");
    let output = run(&args_with(&case("dates"), &["usage"], &out));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_same_ledger_and_reports(&csv, &out);
    let rejects = rejects(&out);
    let raws: Vec<&str> = rejects
        .iter()
        .map(|(_, reason, raw)| {
            assert_eq!(reason, "invalid_date");
            raw["date"].as_str().expect("date text")
        })
        .collect();
    assert_eq!(raws, ["-2147483648 days since 1970-01-01", "2147483647 days since 1970-01-01"]);
}

#[test]
fn parquet_uint64_counts_above_i64_max_are_reported_exactly() {
    // They were cast to Int64, and became null.
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    let out = temp.path().join("out");
    let output = run(&args_with(&case("uint64"), &["usage"], &out));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        std::fs::read(out.join("ledger.csv")).expect("ledger"),
        std::fs::read(csv.join("ledger.csv")).expect("ledger")
    );
    assert_eq!(
        std::fs::read(out.join("reports/P2/S01.csv")).expect("S01"),
        std::fs::read(csv.join("reports/P2/S01.csv")).expect("S01")
    );
    let mut want = read_csv(&csv.join("reports/P1/W01.csv"));
    // Rows: the header, then (date, subscription) 11-10 none, 11-10 a111, 11-12 a111, 11-12 a222, 11-23.
    want[2][7] = (u64::MAX / 2 + 6).to_string();
    want[3][7] = u64::MAX.to_string();
    assert_eq!(read_csv(&out.join("reports/P1/W01.csv")), want);
    assert_eq!(want[2][7], "9223372036854775813");
}

#[test]
fn parquet_bytes_that_are_not_utf8_are_no_workload() {
    // Every such cell read as one stand-in text, "(a typed value out of range)": a claim naming that
    // text saw the rows of all of them, and the second of a day was a duplicate of the first.
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let tenant = "abcdef01-2345-4789-abcd-ef0123456789";
    std::fs::write(
        dir.join("claims.csv"),
        format!(
            "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n\
             W01,P1,{tenant},modern_work_security_usage,Teams,,,2026-11-01T10:00:00Z,2026-11-02T10:00:00Z\n\
             W02,P2,{tenant},modern_work_security_usage,(a typed value out of range),,,2026-11-01T10:00:00Z,2026-11-02T10:00:00Z\n"
        ),
    )
    .expect("claims");
    std::fs::write(dir.join("responses.csv"), "response_id,claim_id,tenant_id,response,responded_at\n")
        .expect("responses");
    let workloads: [&[u8]; 3] = [b"Teams", b"Teams\xff", b"Sharepoint\xfe"];
    write(
        &dir.join("usage.parquet"),
        vec![
            Column::new("tenant_id".into(), [tenant; 3]),
            Series::new("workload".into(), workloads).into_column(),
            Series::new("date".into(), [20_767i32; 3]).cast(&DataType::Date).expect("date").into_column(),
            Column::new("active_users".into(), [5i64, 6, 7]),
        ],
    );
    let out = dir.join("out");
    let mut args: Vec<String> = ["run", "--as-of", "2026-11-23T06:00:00Z", "--out"].map(String::from).to_vec();
    args.push(out.display().to_string());
    for (flag, name) in [("--claims", "claims.csv"), ("--responses", "responses.csv"), ("--usage", "usage.parquet")] {
        args.extend([flag.to_string(), dir.join(name).display().to_string()]);
    }
    let output = run(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report(&out, "P1", "W01"), [("2026-11-10".to_string(), "5".to_string())]);
    assert_eq!(report(&out, "P2", "W02"), [], "no row of bytes that are not text");
    let reasons: Vec<String> =
        rejects(&out).into_iter().map(|(source, reason, _)| format!("{source} {reason}")).collect();
    assert_eq!(reasons, ["usage invalid_text", "usage invalid_text"]);
}

/// A `.parquet` symlink to /dev/zero: refused at once, naming the file (it was read without end).
fn not_regular(input: &str) {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("in");
    std::fs::create_dir(&dir).expect("dir");
    std::os::unix::fs::symlink("/dev/zero", dir.join(format!("{input}.parquet"))).expect("symlink");
    let out = temp.path().join("out");
    let output = run(&args_with(&dir, &[input], &out));
    assert_fatal(&output, &[&format!("{input}.parquet"), "not a regular file"]);
    assert!(!out.exists());
}

#[test]
fn parquet_usage_that_is_not_a_regular_file_is_fatal() {
    not_regular("usage");
}

#[test]
fn parquet_claims_that_are_not_a_regular_file_are_fatal() {
    not_regular("claims");
}

#[test]
fn parquet_usage_from_a_fifo_reads_as_the_file() {
    // SPEC 6: a FIFO works like a file. It was refused as not a regular file.
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = reference(temp.path());
    let dir = temp.path().join("in");
    std::fs::create_dir(&dir).expect("dir");
    let fifo = dir.join("usage.parquet");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    let bytes = std::fs::read(case("uint16").join("usage.parquet")).expect("usage");
    let feed = bytes.clone();
    let writer = fifo.clone();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&writer).expect("FIFO opens");
        pipe.write_all(&feed).expect("written");
    });
    let out = temp.path().join("out");
    // A tiny memory budget, and a second usage file (the same rows again, each a duplicate):
    // several passes, which a FIFO cannot give (the second hung, waiting on it); read in one.
    let mut args = args_with(&dir, &["usage"], &out);
    let again = scoping().join("input/usage.csv").display().to_string();
    args.extend(["--memory-budget".to_string(), "1K".to_string(), "--usage".to_string(), again]);
    let output = run(&args);
    feeder.join().expect("fed");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_same_ledger_and_reports(&csv, &out);
    use sha2::Digest;
    let sha256: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(summary(&out)["inputs"]["usage"]["files"][0]["sha256"], sha256.as_str());
}

// --- property: any typed values -----------------------------------------------------------------

const TENANT: &str = "abcdef01-2345-4789-abcd-ef0123456789";
const SUBS: [Option<&str>; 3] =
    [None, Some("a1111111-1111-4111-8111-111111111111"), Some("a2222222-2222-4222-8222-222222222222")];
const AS_OF_DATE: &str = "2026-11-23";
/// 2026-11-02T10:00:00Z in microseconds (the fixture's notification time).
const NOTIFIED: i64 = 1_793_613_600_000_000;
/// 2026-11-10 in days since 1970-01-01.
const DAY: i32 = 20_402;

fn unit() -> impl Strategy<Value = TimeUnit> {
    prop_oneof![Just(TimeUnit::Milliseconds), Just(TimeUnit::Microseconds), Just(TimeUnit::Nanoseconds)]
}

/// A stored timestamp in `unit`: mostly near the fixture's times, sometimes at the ends of i64.
fn instant(unit: TimeUnit) -> impl Strategy<Value = Option<i64>> {
    let scale = move |micros: i64| match unit {
        TimeUnit::Milliseconds => micros / 1000,
        TimeUnit::Microseconds => micros,
        TimeUnit::Nanoseconds => micros * 1000,
    };
    prop_oneof![
        4 => (-86_400i64 * 3..86_400 * 3).prop_map(move |s| Some(scale(NOTIFIED - 86_400_000_000 + s * 1_000_000))),
        1 => Just(None),
        1 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(i64::MIN + 1), any::<i64>()].prop_map(Some),
    ]
}

fn day() -> impl Strategy<Value = Option<i32>> {
    prop_oneof![
        6 => (-12i32..16).prop_map(|d| Some(DAY + d)),
        1 => Just(None),
        1 => prop_oneof![Just(i32::MIN), Just(i32::MAX), any::<i32>()].prop_map(Some),
    ]
}

#[derive(Debug, Clone)]
enum Counts {
    Signed(Vec<Option<i64>>),
    Unsigned(Vec<Option<u64>>),
}

fn counts(rows: usize) -> impl Strategy<Value = Counts> {
    let small = || prop_oneof![3 => (0u64..1000).prop_map(Some), 1 => Just(None), 1 => any::<u64>().prop_map(Some)];
    prop_oneof![
        proptest::collection::vec(small(), rows).prop_map(Counts::Unsigned),
        proptest::collection::vec(
            prop_oneof![3 => (-5i64..1000).prop_map(Some), 1 => Just(None), 1 => any::<i64>().prop_map(Some)],
            rows
        )
        .prop_map(Counts::Signed),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    claim_unit: TimeUnit,
    /// (submitted_at, notified_at) of W01 and S01.
    claims: Vec<(Option<i64>, Option<i64>)>,
    /// Usage dates as date32, or as timestamps in this unit (days at midnight, or any value).
    date_unit: Option<TimeUnit>,
    rows: Vec<(usize, bool, Option<i32>, Option<i64>)>,
    counts: [Counts; 3],
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (unit(), proptest::option::of(unit()), 1usize..10).prop_flat_map(|(claim_unit, date_unit, n)| {
        let row = (0usize..3, any::<bool>(), day(), instant(date_unit.unwrap_or(TimeUnit::Microseconds)));
        (
            proptest::collection::vec((instant(claim_unit), instant(claim_unit)), 2),
            proptest::collection::vec(row, n),
            counts(n),
            counts(n),
            counts(n),
        )
            .prop_map(move |(claims, rows, a, p, s)| Case {
                claim_unit,
                claims,
                date_unit,
                rows,
                counts: [a, p, s],
            })
    })
}

fn write(path: &Path, columns: Vec<Column>) {
    let mut df = DataFrame::new_infer_height(columns).expect("frame");
    ParquetWriter::new(File::create(path).expect("create")).finish(&mut df).expect("write parquet");
}

fn write_case(case: &Case, dir: &Path) {
    let text = |name: &str, values: Vec<Option<&str>>| Column::new(name.into(), values);
    let stamps = |name: &str, values: Vec<Option<i64>>, unit: TimeUnit| {
        Series::new(name.into(), values).into_datetime(unit, None).into_column()
    };
    let claims = &case.claims;
    write(
        &dir.join("claims.parquet"),
        vec![
            text("claim_id", vec![Some("W01"), Some("S01")]),
            text("partner_id", vec![Some("P1"), Some("P2")]),
            text("tenant_id", vec![Some(TENANT), Some(TENANT)]),
            text("engagement", vec![Some("modern_work_security_usage"), Some("bizapps_revenue")]),
            text("workload", vec![Some("Teams"), Some("Dynamics 365 Sales")]),
            text("subscription_id", vec![None, SUBS[1]]),
            stamps("submitted_at", claims.iter().map(|c| c.0).collect(), case.claim_unit),
            stamps("notified_at", claims.iter().map(|c| c.1).collect(), case.claim_unit),
        ],
    );
    let rows = &case.rows;
    let date = match case.date_unit {
        None => Series::new("date".into(), rows.iter().map(|r| r.2).collect::<Vec<_>>()).into_date().into_column(),
        Some(unit) => {
            let per_day = match unit {
                TimeUnit::Milliseconds => 86_400_000i64,
                TimeUnit::Microseconds => 86_400_000_000,
                TimeUnit::Nanoseconds => 86_400_000_000_000,
            };
            // A day at midnight when it fits, otherwise the row's arbitrary instant.
            let values = rows.iter().map(|r| r.2.and_then(|d| i64::from(d).checked_mul(per_day)).or(r.3)).collect();
            stamps("date", values, unit)
        }
    };
    let mut columns = vec![
        text("tenant_id", rows.iter().map(|_| Some(TENANT)).collect()),
        text("workload", rows.iter().map(|r| Some(if r.1 { "Teams" } else { "Dynamics 365 Sales" })).collect()),
        text("subscription_id", rows.iter().map(|r| SUBS[r.0]).collect()),
        date,
    ];
    for (name, counts) in ["active_users", "paid_seats", "assigned_seats"].iter().zip(&case.counts) {
        columns.push(match counts {
            Counts::Signed(v) => Column::new((*name).into(), v.clone()),
            Counts::Unsigned(v) => Column::new((*name).into(), v.clone()),
        });
    }
    write(&dir.join("usage.parquet"), columns);
}

fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let temp = tempfile::tempdir().expect("temp dir");
    write_case(case, temp.path());
    let out = temp.path().join("out");
    let output = run(&args_with(temp.path(), &["claims", "usage"], &out));
    let stderr = String::from_utf8_lossy(&output.stderr);
    prop_assert_ne!(output.status.code(), Some(101), "panic: {}", stderr);
    if !output.status.success() {
        return Ok(());
    }
    let summary = summary(&out);
    for input in ["claims", "responses", "usage"] {
        let figures = &summary["inputs"][input];
        let n = |k: &str| figures[k].as_u64().unwrap_or(u64::MAX);
        prop_assert_eq!(n("records"), n("accepted") + n("rejected") + n("deferred"), "{}: {}", input, figures);
    }
    let ledger = read_csv(&out.join("ledger.csv"));
    for claim in ledger.iter().skip(1).filter(|c| c[10] == "official" || c[10] == "revoked") {
        let report = read_csv(&out.join(format!("reports/{}/{}.csv", claim[1], claim[0])));
        let first_day = &claim[11][..10];
        for row in report.iter().skip(1) {
            prop_assert_eq!(&row[2], &claim[2], "tenant");
            prop_assert!(row[4].eq_ignore_ascii_case(&claim[4]), "workload {:?}", row);
            if claim[3] == "bizapps_revenue" {
                prop_assert_eq!(&row[5], &claim[5], "subscription");
            }
            prop_assert!(
                row[6].len() == 10 && row[6].as_str() >= first_day && row[6].as_str() <= AS_OF_DATE,
                "date {:?} of {:?}",
                row,
                claim
            );
        }
    }
    Ok(())
}

proptest! {
    // Each case runs the binary: few cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn parquet_any_typed_values_never_panic_and_stay_in_scope(case in case_strategy()) {
        check_case(&case)?;
    }
}
