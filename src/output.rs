//! The output directory (SPEC 6): ledger, reports, rejects and summary, in CSV or Parquet, written
//! into a staging directory beside `--out` and swapped into place only when complete, so that a
//! failed or killed run leaves the previous output as it was. Before that, `--out` is reserved
//! (`reserve`): locked against a second run, and refused unless absent, empty or cpor's own.
//!
//! Creating hundreds of thousands of report files is the file system's work more than cpor's: the
//! files are therefore created, empty, by a thread of their own while usage is read (which leaves
//! the cores idle part of the time), and filled once the reports are built (BENCHMARKS.md).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use polars::prelude::*;
use rayon::prelude::*;

use crate::changes::{Change, CHANGE_COLUMNS};
use crate::config::{OutputFormat, RunConfig};
use crate::error::CporError;
use crate::evaluate::Evaluation;
use crate::progress::Progress;
use crate::records::Claim;
use crate::rejects::Reject;
use crate::report::Report;
use crate::summary::Summary;
use crate::types::{format_timestamp, push_digits, write_date, Micros};

mod reserve;

pub use reserve::{inputs_of, Writer, MARKER};
use reserve::{reserve, Reserved};

/// One ledger row: a claim with its evaluation and report.
pub struct LedgerRow<'a> {
    pub claim: &'a Claim,
    pub evaluation: &'a Evaluation,
    pub report: Option<&'a Report>,
}

impl<'a> LedgerRow<'a> {
    pub fn new(claim: &'a Claim, evaluation: &'a Evaluation, report: Option<&'a Report>) -> Self {
        LedgerRow { claim, evaluation, report }
    }

    pub fn related(&self) -> String {
        self.evaluation.related.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(";")
    }

    pub fn report_rows(&self) -> usize {
        self.report.map_or(0, |r| r.rows.len())
    }

    pub fn starting_hwm(&self) -> Option<u64> {
        self.report.and_then(|r| r.starting_hwm)
    }
}

pub const LEDGER_COLUMNS: [&str; 16] = [
    "claim_id",
    "partner_id",
    "tenant_id",
    "engagement",
    "workload",
    "subscription_id",
    "customer_country",
    "submitted_at",
    "notified_at",
    "window_closes_at",
    "status",
    "official_at",
    "ended_at",
    "related_claim_ids",
    "report_rows",
    "starting_hwm",
];

pub const REPORT_COLUMNS: [&str; 10] = [
    "claim_id",
    "partner_id",
    "tenant_id",
    "engagement",
    "workload",
    "subscription_id",
    "date",
    "active_users",
    "paid_seats",
    "assigned_seats",
];

pub const REJECT_COLUMNS: [&str; 6] = ["source", "file", "record", "reason", "detail", "raw"];

/// Everything the run writes besides the summary.
pub struct Outputs<'a> {
    pub ledger: &'a [LedgerRow<'a>],
    /// One per claim, in the claims' order (the ledger refers to them).
    pub reports: &'a [Option<Report>],
    pub rejects: &'a [Reject],
    /// Changes since the previous run, when one was given.
    pub changes: Option<&'a [Change]>,
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

fn ts(value: Option<Micros>) -> String {
    value.map_or(String::new(), format_timestamp)
}

fn ledger_record(row: &LedgerRow<'_>) -> [String; 16] {
    let (c, e) = (row.claim, row.evaluation);
    [
        c.id.to_string(),
        c.partner_id.to_string(),
        c.tenant.to_string(),
        c.engagement.as_str().to_string(),
        c.workload.clone(),
        opt(c.subscription),
        opt(c.country.map(|k| k.as_str().to_string())),
        format_timestamp(c.submitted_at),
        ts(c.notified_at),
        ts(e.window_closes_at),
        e.status.as_str().to_string(),
        ts(e.official_at()),
        ts(e.walk.ended_at),
        row.related(),
        row.report_rows().to_string(),
        opt(row.starting_hwm()),
    ]
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// A report as CSV text, written directly: reports are the bulk of the output, and the claim's
/// columns are the same on every row.
fn report_csv(claim: &Claim, report: &Report) -> String {
    use std::fmt::Write as _;
    let mut prefix = String::new();
    csv_field(&mut prefix, claim.id.as_str());
    prefix.push(',');
    csv_field(&mut prefix, claim.partner_id.as_str());
    let _ = write!(prefix, ",{},{},", claim.tenant, claim.engagement.as_str());
    csv_field(&mut prefix, &claim.workload);
    prefix.push(',');
    let mut out = String::with_capacity(128 + report.rows.len() * (prefix.len() + 80));
    out.push_str(&REPORT_COLUMNS.join(","));
    out.push('\n');
    for row in &report.rows {
        out.push_str(&prefix);
        if let Some(sub) = row.subscription() {
            sub.write_to(&mut out);
        }
        out.push(',');
        write_date(&mut out, row.date);
        for count in [row.counts.active_users(), row.counts.paid_seats(), row.counts.assigned_seats()] {
            out.push(',');
            if let Some(c) = count {
                push_digits(&mut out, c, 1);
            }
        }
        out.push('\n');
    }
    out
}

fn reject_record(r: &Reject) -> [String; 6] {
    [
        r.source.as_str().to_string(),
        r.file.clone(),
        r.record.to_string(),
        r.reason.as_str().to_string(),
        r.detail.clone(),
        r.raw.clone(),
    ]
}

fn write_csv<const N: usize>(
    path: &Path,
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> std::io::Result<()> {
    let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(&row)?;
    }
    writer.into_inner().map_err(|e| e.into_error())?.flush()
}

fn str_col(name: &str, values: Vec<String>) -> Column {
    let values: Vec<Option<String>> = values.into_iter().map(|v| (!v.is_empty()).then_some(v)).collect();
    Column::new(name.into(), values)
}

fn ts_col(name: &str, values: Vec<Option<Micros>>) -> Column {
    Series::new(name.into(), values)
        .into_datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC))
        .into_column()
}

fn u64_col(name: &str, values: Vec<Option<u64>>) -> Column {
    Column::new(name.into(), values)
}

/// Threads that create report files.
const WRITER_THREADS: usize = 8;

/// Writes one Parquet file single-threaded: reports are written from rayon's pool, and a writer
/// that entered polars' own pool from there would nest two pools (STYLE 10).
fn write_parquet(file: File, columns: Vec<Column>) -> Result<(), PolarsError> {
    let mut df = DataFrame::new_infer_height(columns)?;
    ParquetWriter::new(BufWriter::new(file)).set_parallel(false).finish(&mut df)?;
    Ok(())
}

fn ledger_parquet(path: &Path, rows: &[LedgerRow<'_>]) -> Result<(), PolarsError> {
    let file = File::create(path)?;
    let records: Vec<[String; 16]> = rows.iter().map(ledger_record).collect();
    let text = |k: usize| records.iter().map(|r| r[k].clone()).collect::<Vec<_>>();
    let columns = vec![
        str_col("claim_id", text(0)),
        str_col("partner_id", text(1)),
        str_col("tenant_id", text(2)),
        str_col("engagement", text(3)),
        str_col("workload", text(4)),
        str_col("subscription_id", text(5)),
        str_col("customer_country", text(6)),
        ts_col("submitted_at", rows.iter().map(|r| Some(r.claim.submitted_at)).collect()),
        ts_col("notified_at", rows.iter().map(|r| r.claim.notified_at).collect()),
        ts_col("window_closes_at", rows.iter().map(|r| r.evaluation.window_closes_at).collect()),
        str_col("status", text(10)),
        ts_col("official_at", rows.iter().map(|r| r.evaluation.official_at()).collect()),
        ts_col("ended_at", rows.iter().map(|r| r.evaluation.walk.ended_at).collect()),
        str_col("related_claim_ids", text(13)),
        u64_col("report_rows", rows.iter().map(|r| Some(r.report_rows() as u64)).collect()),
        u64_col("starting_hwm", rows.iter().map(|r| r.starting_hwm()).collect()),
    ];
    write_parquet(file, columns)
}

fn report_parquet(file: File, claim: &Claim, report: &Report) -> Result<(), PolarsError> {
    let n = report.rows.len();
    let same = |name: &str, value: String| str_col(name, vec![value; n]);
    let columns = vec![
        same("claim_id", claim.id.to_string()),
        same("partner_id", claim.partner_id.to_string()),
        same("tenant_id", claim.tenant.to_string()),
        same("engagement", claim.engagement.as_str().to_string()),
        same("workload", claim.workload.clone()),
        str_col("subscription_id", report.rows.iter().map(|r| opt(r.subscription())).collect()),
        Series::new("date".into(), report.rows.iter().map(|r| r.date).collect::<Vec<i32>>()).into_date().into_column(),
        u64_col("active_users", report.rows.iter().map(|r| r.counts.active_users()).collect()),
        u64_col("paid_seats", report.rows.iter().map(|r| r.counts.paid_seats()).collect()),
        u64_col("assigned_seats", report.rows.iter().map(|r| r.counts.assigned_seats()).collect()),
    ];
    write_parquet(file, columns)
}

fn rejects_parquet(path: &Path, rejects: &[Reject]) -> Result<(), PolarsError> {
    let file = File::create(path)?;
    let records: Vec<[String; 6]> = rejects.iter().map(reject_record).collect();
    let text = |k: usize| records.iter().map(|r| r[k].clone()).collect::<Vec<_>>();
    let columns = vec![
        str_col("source", text(0)),
        str_col("file", text(1)),
        u64_col("record", rejects.iter().map(|r| Some(r.record)).collect()),
        str_col("reason", text(3)),
        str_col("detail", text(4)),
        str_col("raw", text(5)),
    ];
    write_parquet(file, columns)
}

/// A directory being filled beside the final one; removed again unless committed. It holds the
/// reservation, and with it the lock, until it is committed or dropped.
struct Staging {
    dir: PathBuf,
    reserved: Reserved,
    committed: bool,
}

impl Staging {
    /// Reserves `out` (lock, check, stale staging removed: `reserve`), then makes the staging
    /// directory beside it, marked as `writer`'s output.
    fn new(out: &Path, writer: Writer, inputs: &[PathBuf]) -> Result<Staging, CporError> {
        let reserved = reserve(out, writer, inputs)?;
        let dir = reserved.parent.join(format!(".{}.staging-{}", reserved.name, std::process::id()));
        fs::create_dir(&dir).map_err(io(out))?;
        // Removed by `drop` from here on.
        let staging = Staging { dir, reserved, committed: false };
        let marker = staging.dir.join(MARKER);
        fs::write(&marker, writer.marker()).map_err(io(&marker))?;
        Ok(staging)
    }

    /// Swaps the staging directory into place: the old output is moved aside first and removed
    /// only once the new one stands where it was — after the run, see `remove_later`.
    fn commit(mut self) -> std::io::Result<()> {
        let target = self.reserved.target.clone();
        let prefix = format!(".{}.previous-", self.reserved.name);
        let old = self.reserved.parent.join(format!("{prefix}{}", std::process::id()));
        let had_old = fs::symlink_metadata(&target).is_ok();
        if had_old {
            fs::rename(&target, &old)?;
        }
        if let Err(e) = fs::rename(&self.dir, &target) {
            if had_old {
                fs::rename(&old, &target)?;
            }
            return Err(e);
        }
        self.committed = true;
        // This run's old output, and earlier runs' whose removal was cut short.
        let old_outputs: Vec<PathBuf> = fs::read_dir(&self.reserved.parent)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .map(|entry| entry.path())
            .collect();
        remove_later(&old_outputs);
        Ok(())
    }
}

/// Removes old outputs in a process of their own that outlives the run. Deleting a few hundred
/// thousand report files costs the file system far more than writing them (minutes on a disk
/// mounted with `discard`, BENCHMARKS.md); the new output is in place already, so the run need
/// not wait. Where `rm` cannot be started, they are removed here.
fn remove_later(paths: &[PathBuf]) -> Option<std::process::Child> {
    if paths.is_empty() {
        return None;
    }
    let spawned = std::process::Command::new("rm")
        .arg("-rf")
        .arg("--")
        .args(paths)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => {
            // Housekeeping: the lowest priority, so that a run started meanwhile goes first.
            // (`None` would name this process, hence the check.)
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::setpriority_process(Some(pid), 19);
            }
            Some(child)
        }
        Err(_) => {
            for path in paths {
                let _ = fs::remove_dir_all(path);
            }
            None
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn fail(path: &Path, message: String) -> CporError {
    CporError::Output { path: path.to_path_buf(), message }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CporError + '_ {
    move |e| fail(path, e.to_string())
}

fn pl(path: &Path) -> impl Fn(PolarsError) -> CporError + '_ {
    move |e| fail(path, e.to_string())
}

/// Report files by partner: each partner's directory name and its claims' ids.
pub type ReportFiles = Vec<(Box<str>, Vec<Box<str>>)>;

/// The run's output directory while it is being made: the staging directory, and the thread that
/// creates the empty report files in it ahead of the writers.
pub struct OutputDir {
    // Declared before `staging`, so dropped first: the thread stops before the directory goes.
    creator: Option<Creator>,
    staging: Staging,
}

/// A thread creating empty report files, partner by partner, until done or told to stop.
struct Creator {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Creator {
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic there leaves files uncreated, which the writers create.
            let _ = thread.join();
        }
    }
}

impl Drop for Creator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Opens `name` in the open directory `dir` for writing, creating it (`new`: only if it does not
/// exist yet). Relative to the directory, the kernel looks up one name instead of walking the whole
/// path: hundreds of thousands of report files are opened this way.
fn open_in(dir: &File, name: &str, new: bool) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
    if new {
        flags |= OFlags::EXCL;
    }
    Ok(File::from(rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o666))?))
}

/// Creates `reports/<partner>/<claim>.<ext>`, empty, in `reports`. Stops at the first failure:
/// the writers create what is missing and report the error with its path.
fn create_report_files(reports: &Path, files: ReportFiles, ext: &str, stop: &AtomicBool) {
    if fs::create_dir(reports).is_err() {
        return;
    }
    for (partner, claims) in files {
        let path = reports.join(&*partner);
        let Ok(dir) = fs::create_dir(&path).and_then(|()| File::open(&path)) else { return };
        for claim in claims {
            if stop.load(Ordering::Relaxed) || open_in(&dir, &format!("{claim}.{ext}"), true).is_err() {
                return;
            }
        }
    }
}

impl OutputDir {
    /// Reserves the run's `--out` and makes the staging directory beside it (`Staging::new`):
    /// before reading, so that an output directory that may not or cannot be written fails the run
    /// at once.
    pub fn stage(config: &RunConfig) -> Result<OutputDir, CporError> {
        Ok(OutputDir { creator: None, staging: Staging::new(&config.out, Writer::Run, &inputs_of(config))? })
    }

    /// Starts creating the report files, empty, in the background.
    pub fn prepare_reports(&mut self, files: ReportFiles, format: OutputFormat) {
        let stop = Arc::new(AtomicBool::new(false));
        let reports = self.staging.dir.join("reports");
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("cpor-prepare".into())
            .spawn(move || {
                // The lowest priority: reading usage keeps the cores busy but for short gaps, and
                // this thread is to fill those, not to slow the reading.
                let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
                create_report_files(&reports, files, format.extension(), &flag)
            })
            .ok();
        self.creator = Some(Creator { stop, thread });
    }
}

/// The report files to make for claims with a report, grouped by partner.
pub fn report_files(claims: &mut dyn Iterator<Item = &Claim>) -> ReportFiles {
    let mut by_partner: std::collections::BTreeMap<&str, Vec<Box<str>>> = Default::default();
    for claim in claims {
        by_partner.entry(claim.partner_id.as_str()).or_default().push(claim.id.as_str().into());
    }
    by_partner.into_iter().map(|(partner, claims)| (partner.into(), claims)).collect()
}

/// Writes every output into the staging directory, then the summary (with the write timing), then
/// swaps it into place.
pub fn write_outputs(
    config: &RunConfig,
    mut output: OutputDir,
    outputs: &Outputs<'_>,
    summary: &mut Summary,
    progress: &Progress,
    started: Instant,
) -> Result<(), CporError> {
    let stage = Instant::now();
    let dir = &output.staging.dir;
    let ext = config.format.extension();

    let ledger_path = dir.join(format!("ledger.{ext}"));
    match config.format {
        OutputFormat::Csv => write_csv(&ledger_path, LEDGER_COLUMNS, outputs.ledger.iter().map(ledger_record))
            .map_err(io(&ledger_path))?,
        OutputFormat::Parquet => ledger_parquet(&ledger_path, outputs.ledger).map_err(pl(&ledger_path))?,
    }
    let rejects_path = dir.join(format!("rejects.{ext}"));
    match config.format {
        OutputFormat::Csv => write_csv(&rejects_path, REJECT_COLUMNS, outputs.rejects.iter().map(reject_record))
            .map_err(io(&rejects_path))?,
        OutputFormat::Parquet => rejects_parquet(&rejects_path, outputs.rejects).map_err(pl(&rejects_path))?,
    }

    if let Some(changes) = outputs.changes {
        let path = dir.join("changes.csv");
        write_csv(&path, CHANGE_COLUMNS, changes.iter().map(Change::record)).map_err(io(&path))?;
    }

    // Directories and files the creator made already exist; the rest are made here.
    if let Some(creator) = &mut output.creator {
        creator.stop();
    }
    let reports_dir = dir.join("reports");
    let mut by_partner: BTreeMap<&str, Vec<&LedgerRow<'_>>> = BTreeMap::new();
    for row in outputs.ledger.iter().filter(|r| r.report.is_some()) {
        by_partner.entry(row.claim.partner_id.as_str()).or_default().push(row);
    }
    let by_partner: Vec<(&str, Vec<&LedgerRow<'_>>)> = by_partner.into_iter().collect();
    fs::DirBuilder::new().recursive(true).create(&reports_dir).map_err(io(&reports_dir))?;
    for (partner, _) in &by_partner {
        let path = reports_dir.join(partner);
        fs::DirBuilder::new().recursive(true).create(&path).map_err(io(&path))?;
    }
    let bar = progress.bar("writing reports", by_partner.iter().map(|(_, rows)| rows.len() as u64).sum());
    // Creating files waits on the file system as much as on the CPU: a pool of its own, larger than
    // the core count, keeps the disk busy (BENCHMARKS.md).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WRITER_THREADS)
        .thread_name(|i| format!("cpor-writer-{i}"))
        .build()
        .map_err(|e| fail(&reports_dir, e.to_string()))?;
    pool.install(|| {
        by_partner.par_iter().try_for_each(|(partner, rows)| {
            let partner_dir = reports_dir.join(partner);
            let dir = File::open(&partner_dir).map_err(io(&partner_dir))?;
            // `by_partner` holds only rows with a report.
            for (row, report) in rows.iter().filter_map(|row| Some((row, row.report?))) {
                let claim = row.claim;
                let name = format!("{}.{ext}", claim.id);
                let path = || partner_dir.join(&name);
                // Not truncated: a file that exists was created empty by the creator, in a staging
                // directory no one else writes to, and truncating costs the file system a metadata
                // update.
                let file = open_in(&dir, &name, false).map_err(|e| io(&path())(e))?;
                match config.format {
                    OutputFormat::Csv => {
                        (&file).write_all(report_csv(claim, report).as_bytes()).map_err(|e| io(&path())(e))?
                    }
                    OutputFormat::Parquet => report_parquet(file, claim, report).map_err(|e| pl(&path())(e))?,
                }
                bar.inc(1);
            }
            Ok::<(), CporError>(())
        })
    })?;
    bar.finish();

    summary.timings.write = stage.elapsed().as_secs_f64();
    summary.timings.total = started.elapsed().as_secs_f64();
    let summary_path = dir.join("summary.json");
    let json = serde_json::to_string_pretty(summary).map_err(|e| fail(&summary_path, e.to_string()))?;
    fs::write(&summary_path, json + "\n").map_err(io(&summary_path))?;
    let html_path = dir.join("summary.html");
    fs::write(&html_path, crate::html::render(summary)).map_err(io(&html_path))?;
    let OutputDir { creator, staging } = output;
    drop(creator);
    staging.commit().map_err(io(&config.out))
}

/// An output directory of a command other than `cpor run` — validate, generate — while it is being
/// written: reserved and staged like a run's (`Staging::new`), swapped into place by `commit`.
pub struct Staged(Staging);

impl Staged {
    pub fn new(out: &Path, writer: Writer, inputs: &[PathBuf]) -> Result<Staged, CporError> {
        Staging::new(out, writer, inputs).map(Staged)
    }

    /// The staging directory to write into.
    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    pub fn commit(self) -> Result<(), CporError> {
        let out = self.0.reserved.shown.clone();
        self.0.commit().map_err(io(&out))
    }
}

/// Writes the output of `cpor validate` — rejects.csv and validation.json — into its staged
/// directory, and swaps it into place.
pub fn write_validation(staged: Staged, rejects: &[Reject], json: &str) -> Result<(), CporError> {
    let path = staged.dir().join("rejects.csv");
    write_csv(&path, REJECT_COLUMNS, rejects.iter().map(reject_record)).map_err(io(&path))?;
    let path = staged.dir().join("validation.json");
    fs::write(&path, json).map_err(io(&path))?;
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn commit_puts_the_new_output_in_place_and_old_outputs_aside() {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        fs::write(out.join("ledger.csv"), "old").expect("write");
        fs::write(out.join(MARKER), Writer::Run.marker()).expect("write");
        // An earlier run's old output whose removal was cut short, and a neighbour that is not one.
        fs::create_dir(temp.path().join(".out.previous-1")).expect("mkdir");
        fs::create_dir(temp.path().join(".outer.previous-1")).expect("mkdir");

        let staging = Staging::new(&out, Writer::Run, &[]).expect("staging");
        fs::write(staging.dir.join("ledger.csv"), "new").expect("write");
        staging.commit().expect("commit");

        assert_eq!(fs::read_to_string(out.join("ledger.csv")).expect("read"), "new");
        assert_eq!(fs::read_to_string(out.join(MARKER)).expect("marked"), Writer::Run.marker());
        for name in names(temp.path()) {
            let expected = ["out", ".out.lock", ".outer.previous-1"].contains(&name.as_str())
                || name.starts_with(".out.previous-");
            assert!(expected, "{name} beside the output");
        }
    }

    #[test]
    fn report_files_are_created_empty_by_partner_until_told_to_stop() {
        let temp = tempfile::tempdir().expect("temp dir");
        let files =
            || -> ReportFiles { vec![("P1".into(), vec!["C1".into(), "C2".into()]), ("P2".into(), vec!["C3".into()])] };
        let reports = temp.path().join("reports");
        create_report_files(&reports, files(), "csv", &AtomicBool::new(false));
        assert_eq!(names(&reports), BTreeSet::from(["P1".to_string(), "P2".to_string()]));
        assert_eq!(names(&reports.join("P1")), BTreeSet::from(["C1.csv".to_string(), "C2.csv".to_string()]));
        assert_eq!(fs::metadata(reports.join("P2/C3.csv")).expect("made").len(), 0);

        let stopped = temp.path().join("stopped");
        create_report_files(&stopped, files(), "parquet", &AtomicBool::new(true));
        assert!(names(&stopped.join("P1")).is_empty(), "no file once told to stop");
    }

    #[test]
    fn old_outputs_are_removed_after_the_run() {
        let temp = tempfile::tempdir().expect("temp dir");
        let old: Vec<PathBuf> = (1..=2).map(|i| temp.path().join(format!(".out.previous-{i}"))).collect();
        for dir in &old {
            fs::create_dir_all(dir.join("reports/P1")).expect("mkdir");
            fs::write(dir.join("reports/P1/C1.csv"), "rows").expect("write");
        }
        fs::create_dir(temp.path().join("out")).expect("mkdir");
        if let Some(mut child) = remove_later(&old) {
            assert!(child.wait().expect("rm ran").success());
        }
        assert_eq!(names(temp.path()), BTreeSet::from(["out".to_string()]));
        assert!(remove_later(&[]).is_none());
    }
}
