//! The output directory (SPEC 6): ledger, reports, rejects and changes, in CSV or Parquet. Before
//! anything is read, `--out` is reserved (`reserve`: locked against a second run, refused unless
//! absent, empty or cpor's own) and a staging directory made beside it (`staging`); everything is
//! written there and swapped into place only when complete. Encoders are `csv_file` and
//! `parquet_file` (with each row's text in `columns`); report files are made ahead (on a disk) and
//! filled by a pool of writers (`reports`). summary.json and summary.html are `summary`'s.

use std::fs;
use std::path::Path;

use crate::polars::prelude::PolarsError;

use crate::changes::{Change, CHANGE_COLUMNS};
use crate::config::{OutputFormat, RunConfig};
use crate::error::{Cause, CporError};
use crate::ledger::DecidedClaim;
use crate::progress::Progress;
use crate::records::Claim;
use crate::rejects::Reject;
use crate::report::Report;

mod columns;
mod csv_file;
pub mod manifest;
pub mod merge;
mod parquet_file;
mod reports;
pub(crate) mod reserve;
mod staging;

use columns::{ledger_record, reject_record, warm_ledger_row, REJECT_COLUMNS};
pub use columns::{LEDGER_COLUMNS, REPORT_COLUMNS};
/// Public for the benches.
pub use csv_file::needs_quotes;
use csv_file::{write_csv, write_csv_warmed};
pub(crate) use parquet_file::read_own_table;
pub use reports::{report_files, ReportFiles};
use reports::{worth_creating_ahead, write_reports, Creator};
pub use reserve::{inputs_of, Writer, MARKER};
pub use staging::Staged;
use staging::Staging;

/// Everything a run writes besides the summary.
pub struct Outputs<'a> {
    /// The decided claims in the ledger's order (`ledger::ledger_order`); their reports too.
    pub ledger: &'a [&'a DecidedClaim],
    pub rejects: &'a [Reject],
    /// Changes since the previous run, when one was given.
    pub changes: Option<&'a [Change]>,
}

fn fail(path: &Path, cause: impl Into<Cause>) -> CporError {
    CporError::Output { path: path.to_path_buf(), cause: cause.into() }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> CporError + '_ {
    move |e| fail(path, e)
}

fn pl(path: &Path) -> impl Fn(PolarsError) -> CporError + '_ {
    move |e| fail(path, e)
}

/// The run's output directory while it is being made: the staging directory, and the thread that
/// creates the empty report files in it ahead of the writers.
pub struct OutputDir {
    // Declared before `staging`, so dropped first: the thread stops before the directory goes.
    creator: Option<Creator>,
    staging: Staging,
}

impl OutputDir {
    /// Reserves the run's `--out` and makes the staging directory beside it (`Staging::new`):
    /// before reading, so that an output directory that may not or cannot be written fails the run
    /// at once.
    pub fn stage(config: &RunConfig) -> Result<OutputDir, CporError> {
        Ok(OutputDir { creator: None, staging: Staging::new(&config.out, Writer::Run, &inputs_of(config))? })
    }

    /// Starts creating the report files of `with_report`'s claims, empty, in the background, where
    /// that is worth it (`worth_creating_ahead`: not in memory); else their list is not even made.
    pub fn prepare_reports(&mut self, with_report: &mut dyn Iterator<Item = &Claim>, format: OutputFormat) {
        if worth_creating_ahead(&self.staging.dir) {
            let files = report_files(with_report);
            self.creator = Some(Creator::start(self.staging.dir.join("reports"), files, format));
        }
    }

    /// The staging directory, to write into.
    pub fn dir(&self) -> &Path {
        &self.staging.dir
    }

    /// Writes the ledger, rejects, changes and reports into the staging directory: the three tables
    /// on a thread of their own while the writers fill the report files, so that encoding the ledger
    /// (a row per claim) runs beside the file system's work rather than before it (BENCHMARKS.md).
    pub fn write(&mut self, config: &RunConfig, outputs: &Outputs<'_>, progress: &Progress) -> Result<(), CporError> {
        let dir = &self.staging.dir;
        // Directories and files the creator made already exist; the rest are made by the writers.
        if let Some(creator) = &mut self.creator {
            creator.stop();
        }
        let (tables, shares) = std::thread::scope(|scope| {
            let tables = scope.spawn(|| write_tables(dir, config.format, outputs));
            let shares = write_reports(dir, outputs.ledger, config.format, progress);
            let tables = tables.join().unwrap_or_else(|_| Err(fail(dir, "the thread writing the ledger panicked")));
            (tables, shares)
        });
        tables?;
        manifest::write_whole_manifest(&dir.join("reports"), config.format, shares?)
    }

    /// Swaps the staging directory into place (`Staging::commit`).
    pub fn commit(self) -> Result<(), CporError> {
        let OutputDir { creator, staging } = self;
        drop(creator);
        staging.commit()
    }
}

/// A claim's report file as bytes, in `format` (SPEC 6).
pub fn report_file(claim: &Claim, report: &Report, format: OutputFormat) -> Result<Vec<u8>, PolarsError> {
    match format {
        OutputFormat::Csv => Ok(csv_file::report_csv(claim, report)),
        OutputFormat::Parquet => parquet_file::report_parquet(claim, report),
    }
}

/// Writes the ledger, rejects and (when given) changes into `dir`.
fn write_tables(dir: &Path, format: OutputFormat, outputs: &Outputs<'_>) -> Result<(), CporError> {
    let ext = format.extension();
    let ledger_path = dir.join(format!("ledger.{ext}"));
    match format {
        OutputFormat::Csv => write_csv_warmed(
            &ledger_path,
            &LEDGER_COLUMNS,
            outputs.ledger,
            |r| warm_ledger_row(r),
            |w, r| w.write_record(ledger_record(r)),
        )
        .map_err(io(&ledger_path))?,
        OutputFormat::Parquet => {
            parquet_file::ledger_parquet(&ledger_path, outputs.ledger).map_err(pl(&ledger_path))?
        }
    }
    let rejects_path = dir.join(format!("rejects.{ext}"));
    match format {
        OutputFormat::Csv => {
            write_csv(&rejects_path, &REJECT_COLUMNS, outputs.rejects, |w, r| w.write_record(reject_record(r)))
                .map_err(io(&rejects_path))?
        }
        OutputFormat::Parquet => {
            parquet_file::rejects_parquet(&rejects_path, outputs.rejects).map_err(pl(&rejects_path))?
        }
    }
    if let Some(changes) = outputs.changes {
        let path = dir.join("changes.csv");
        write_csv(&path, &CHANGE_COLUMNS, changes, |w, c| w.write_record(c.record())).map_err(io(&path))?;
    }
    Ok(())
}

/// Writes the output of `cpor validate` — rejects.csv and validation.json — into its staged
/// directory, and swaps it into place.
pub fn write_validation(staged: Staged, rejects: &[Reject], json: &str) -> Result<(), CporError> {
    let path = staged.dir().join("rejects.csv");
    write_csv(&path, &REJECT_COLUMNS, rejects, |w, r| w.write_record(reject_record(r))).map_err(io(&path))?;
    let path = staged.dir().join("validation.json");
    fs::write(&path, json).map_err(io(&path))?;
    staged.commit()
}
