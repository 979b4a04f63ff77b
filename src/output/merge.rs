//! `cpor merge`'s files (SPEC 10): the shards' ledgers, rejects, changes and reports, put together
//! in the staging directory exactly as one run writes them. Each shard's tables are in the run's
//! order already; together they are sorted again by that order (the ledger and changes by claim_id,
//! rejects by source, file and record) and written by the run's own encoders, so that the bytes are
//! the same. Report files are linked, not copied, where the shard and the output share a file system;
//! the manifests are written anew from the shards' lines (`manifest`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::polars::prelude::*;
use rayon::prelude::*;

use crate::changes::CHANGE_COLUMNS;
use crate::config::OutputFormat;
use crate::error::{Cause, CporError};
use crate::evaluate::Status;
use crate::hashing::{FastMap, FastSet};
use crate::rejects::{sort_rejects, Reject, RejectReason, Source};

use super::columns::{reject_record, LEDGER_COLUMNS, REJECT_COLUMNS};
use super::csv_file::write_csv;
use super::manifest::{is_manifest_name, write_manifests, ManifestLine, MANIFEST, MANIFEST_COLUMNS};
use super::parquet_file::{rejects_parquet, write_frame};
use super::{io, pl, read_own_table};

/// What summary.json counts of a ledger line (`summary::ClaimCount`), as merged.
#[derive(Clone, Debug)]
pub struct LedgerCount {
    pub claim_id: String,
    pub partner_id: String,
    pub engagement: String,
    pub status: Status,
    pub report_rows: Option<u64>,
}

/// What the merge wrote, for summary.json.
#[derive(Debug, Default)]
pub struct Merged {
    /// Every ledger line, in the ledger's order.
    pub ledger: Vec<LedgerCount>,
    pub rejects: Vec<Reject>,
    /// The kinds of the merged changes, when the shards compared with a previous run.
    pub change_kinds: Option<Vec<String>>,
    /// The report files, each listed in a shard's manifest.
    pub reports: usize,
}

fn shard_error(path: &Path, cause: impl Into<Cause>) -> CporError {
    CporError::Shard { path: path.to_path_buf(), cause: cause.into() }
}

/// Merges the shards' outputs, in `format`, into `out` (the staging directory).
pub fn merge_outputs(shards: &[PathBuf], format: OutputFormat, changes: bool, out: &Path) -> Result<Merged, CporError> {
    let ext = format.extension();
    let ledger = match format {
        OutputFormat::Csv => merge_ledger_csv(shards, &out.join("ledger.csv"))?,
        OutputFormat::Parquet => merge_ledger_parquet(shards, &out.join("ledger.parquet"))?,
    };
    let mut rejects = Vec::new();
    for shard in shards {
        let path = shard.join(format!("rejects.{ext}"));
        for (k, cells) in read_cells(&path, format, &REJECT_COLUMNS, &REJECT_TYPES)?.iter().enumerate() {
            rejects.push(reject_of(cells).map_err(|m| shard_error(&path, format!("record {}: {m}", k + 1)))?);
        }
    }
    sort_rejects(&mut rejects);
    let path = out.join(format!("rejects.{ext}"));
    match format {
        OutputFormat::Csv => {
            write_csv(&path, &REJECT_COLUMNS, &rejects, |w, r| w.write_record(reject_record(r))).map_err(io(&path))?
        }
        OutputFormat::Parquet => rejects_parquet(&path, &rejects).map_err(pl(&path))?,
    }
    let change_kinds = if changes { Some(merge_changes(shards, &out.join("changes.csv"))?) } else { None };
    let reports = out.join("reports");
    let linked = link_reports(shards, &reports)?;
    let lines = read_manifests(shards, format)?;
    check_reports(&linked, &lines)?;
    check_lines(&lines, &ledger, format)?;
    write_manifests(&reports, format, lines)?;
    Ok(Merged { ledger, rejects, change_kinds, reports: linked.len() })
}

/// A CSV table of a shard's, with the run's header.
fn read_csv_table(path: &Path, header: &[&str]) -> Result<Vec<csv::StringRecord>, CporError> {
    let fail = |cause: Cause| shard_error(path, cause);
    let mut reader = csv::ReaderBuilder::new().from_path(path).map_err(|e| fail(e.into()))?;
    let found = reader.headers().map_err(|e| fail(e.into()))?;
    if !found.iter().eq(header.iter().copied()) {
        return Err(fail(format!("the columns are not cpor's ({})", header.join(",")).into()));
    }
    reader.records().collect::<Result<_, _>>().map_err(|e| fail(e.into()))
}

/// Sorts the rows of several shards by claim_id, their first column; a claim in two shards is an
/// error (each claim belongs to one tenant's shard).
fn sort_by_claim(rows: &mut [csv::StringRecord], path: &Path) -> Result<(), CporError> {
    rows.sort_by(|a, b| a.get(0).cmp(&b.get(0)));
    match rows.windows(2).find(|pair| pair[0].get(0) == pair[1].get(0)) {
        Some(pair) => Err(CporError::Merge(format!(
            "claim {} is in the {} of two shards",
            pair[0].get(0).unwrap_or_default(),
            path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned())
        ))),
        None => Ok(()),
    }
}

/// A ledger line's counted cells, from their text.
fn ledger_count(
    claim: &str,
    partner: &str,
    engagement: &str,
    status: &str,
    rows: Option<u64>,
) -> Result<LedgerCount, String> {
    let status = Status::parse(status).ok_or_else(|| format!("status '{}' is not a status", status.escape_debug()))?;
    Ok(LedgerCount {
        claim_id: claim.to_string(),
        partner_id: partner.to_string(),
        engagement: engagement.to_string(),
        status,
        report_rows: status.has_report().then_some(rows.unwrap_or(0)),
    })
}

fn merge_ledger_csv(shards: &[PathBuf], out: &Path) -> Result<Vec<LedgerCount>, CporError> {
    let mut rows = Vec::new();
    for shard in shards {
        rows.extend(read_csv_table(&shard.join("ledger.csv"), &LEDGER_COLUMNS)?);
    }
    sort_by_claim(&mut rows, out)?;
    let column = |name: &str| LEDGER_COLUMNS.iter().position(|c| *c == name).unwrap_or(0);
    let (partner, engagement, status, report_rows) =
        (column("partner_id"), column("engagement"), column("status"), column("report_rows"));
    let counts = rows
        .iter()
        .map(|r| {
            let cell = |k: usize| r.get(k).unwrap_or_default();
            ledger_count(cell(0), cell(partner), cell(engagement), cell(status), cell(report_rows).parse().ok())
                .map_err(|m| CporError::Merge(format!("ledger line of claim {}: {m}", cell(0))))
        })
        .collect::<Result<_, _>>()?;
    write_csv(out, &LEDGER_COLUMNS, &rows, |w, r| w.write_record(r)).map_err(io(out))?;
    Ok(counts)
}

/// A shard's Parquet table, with the run's columns.
fn read_parquet_table(path: &Path, header: &[&str]) -> Result<DataFrame, CporError> {
    read_own_table(path, header, "cpor's").map_err(|cause| shard_error(path, cause))
}

fn merge_ledger_parquet(shards: &[PathBuf], out: &Path) -> Result<Vec<LedgerCount>, CporError> {
    let polars = |e: PolarsError| CporError::Merge(format!("ledger.parquet: {e}"));
    let mut frames = shards.iter().map(|shard| read_parquet_table(&shard.join("ledger.parquet"), &LEDGER_COLUMNS));
    let mut ledger = match frames.next() {
        Some(frame) => frame?,
        None => return Err(CporError::Merge("no shards".into())),
    };
    for frame in frames {
        ledger.vstack_mut(&frame?).map_err(polars)?;
    }
    let mut ledger =
        ledger.sort(["claim_id"], SortMultipleOptions::default().with_maintain_order(true)).map_err(polars)?;
    ledger.rechunk_mut();
    let text = |name: &str| -> Result<Vec<Option<String>>, CporError> {
        let column = ledger.column(name).map_err(polars)?.str().map_err(polars)?.clone();
        Ok(column.iter().map(|s| s.map(str::to_string)).collect())
    };
    let ids = text("claim_id")?;
    if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(CporError::Merge(format!(
            "claim {} is in the ledger.parquet of two shards",
            pair[0].clone().unwrap_or_default()
        )));
    }
    let (partners, engagements, statuses) = (text("partner_id")?, text("engagement")?, text("status")?);
    let rows: Vec<Option<u64>> = ledger.column("report_rows").map_err(polars)?.u64().map_err(polars)?.iter().collect();
    let mut counts = Vec::with_capacity(ids.len());
    for k in 0..ids.len() {
        let cell = |column: &[Option<String>]| column.get(k).cloned().flatten().unwrap_or_default();
        let (claim, row_count) = (cell(&ids), rows.get(k).copied().flatten());
        let count = ledger_count(&claim, &cell(&partners), &cell(&engagements), &cell(&statuses), row_count)
            .map_err(|m| CporError::Merge(format!("ledger line of claim {claim}: {m}")))?;
        counts.push(count);
    }
    write_frame(out, ledger).map_err(pl(out))?;
    Ok(counts)
}

/// A reject read back: its cells as `columns::reject_record` wrote them.
fn reject_of(cells: &[String]) -> Result<Reject, String> {
    let [source, file, record, reason, detail, raw] = cells else { return Err("not six cells".into()) };
    Ok(Reject {
        source: Source::parse(source).ok_or_else(|| format!("source '{}' is not an input", source.escape_debug()))?,
        file: file.clone(),
        record: record.parse().map_err(|_| "record is not a number")?,
        reason: RejectReason::parse(reason)
            .ok_or_else(|| format!("reason '{}' is not a reject reason", reason.escape_debug()))?,
        detail: detail.clone(),
        raw: raw.clone(),
    })
}

/// The rejects' columns that the Parquet encoder writes other than as text.
const REJECT_TYPES: [(&str, DataType); 1] = [("record", DataType::UInt64)];

/// The manifests' columns that the Parquet encoder writes other than as text.
const MANIFEST_TYPES: [(&str, DataType); 4] = [
    ("rows", DataType::UInt64),
    ("bytes", DataType::UInt64),
    ("window_start", DataType::Date),
    ("window_end_exclusive", DataType::Date),
];

/// The file names a partner's manifest (`reports/<partner>/manifest.<ext>`) lists, from its `path`
/// column. A CSV manifest is split at commas: none of its cells can hold one (ids, paths, numbers).
/// `Err`: not a manifest of cpor's.
pub(super) fn manifest_file_names(path: &Path, format: OutputFormat) -> Result<Vec<String>, String> {
    let not_ours =
        || format!("{} is not a manifest cpor wrote", path.file_name().unwrap_or_default().to_string_lossy());
    let paths: Vec<String> = match format {
        OutputFormat::Csv => {
            let text = fs::read_to_string(path).map_err(|_| not_ours())?;
            let mut lines = text.lines();
            if lines.next() != Some(MANIFEST_COLUMNS.join(",").as_str()) {
                return Err(not_ours());
            }
            lines
                .map(|line| line.split(',').nth(2).map(str::to_string).ok_or_else(not_ours))
                .collect::<Result<_, _>>()?
        }
        OutputFormat::Parquet => read_cells(path, format, &MANIFEST_COLUMNS, &MANIFEST_TYPES)
            .map_err(|_| not_ours())?
            .into_iter()
            .filter_map(|cells| cells.into_iter().nth(2))
            .collect(),
    };
    Ok(paths.iter().map(|p| p.rsplit('/').next().unwrap_or_default().to_string()).collect())
}

/// A table of a shard's with the run's `header`, CSV or Parquet, as the text of its cells: a Parquet
/// null is empty, a count its digits, a date `YYYY-MM-DD`, as the CSV encoder writes them. In Parquet,
/// the columns of `typed` must have their type and every other column must be text.
fn read_cells(
    path: &Path,
    format: OutputFormat,
    header: &[&str],
    typed: &[(&str, DataType)],
) -> Result<Vec<Vec<String>>, CporError> {
    if format == OutputFormat::Csv {
        let records = read_csv_table(path, header)?;
        return Ok(records.iter().map(|r| r.iter().map(str::to_string).collect()).collect());
    }
    let frame = read_parquet_table(path, header)?;
    let polars = |e: PolarsError| shard_error(path, e);
    let mut columns = Vec::with_capacity(header.len());
    for name in header {
        let column = frame.column(name).map_err(polars)?;
        let expected = typed.iter().find(|(n, _)| n == name).map_or(&DataType::String, |(_, t)| t);
        if column.dtype() != expected {
            return Err(shard_error(path, format!("column {name} is {}, not {expected}", column.dtype())));
        }
        let text = column.cast(&DataType::String).map_err(polars)?;
        let text: Vec<String> = text.str().map_err(polars)?.iter().map(|s| s.unwrap_or_default().to_string()).collect();
        columns.push(text);
    }
    Ok((0..frame.height()).map(|r| columns.iter().map(|c| c[r].clone()).collect()).collect())
}

/// Each shard's `reports/manifest.<ext>`, read back.
fn read_manifests(shards: &[PathBuf], format: OutputFormat) -> Result<Vec<ManifestLine>, CporError> {
    let mut lines = Vec::new();
    for shard in shards {
        let path = shard.join("reports").join(format!("{MANIFEST}.{}", format.extension()));
        for (k, cells) in read_cells(&path, format, &MANIFEST_COLUMNS, &MANIFEST_TYPES)?.iter().enumerate() {
            lines.push(ManifestLine::of_cells(cells).map_err(|m| shard_error(&path, format!("line {}: {m}", k + 1)))?);
        }
    }
    Ok(lines)
}

/// Merges the shards' changes.csv; returns each change's kind.
fn merge_changes(shards: &[PathBuf], out: &Path) -> Result<Vec<String>, CporError> {
    let mut rows = Vec::new();
    for shard in shards {
        rows.extend(read_csv_table(&shard.join("changes.csv"), &CHANGE_COLUMNS)?);
    }
    sort_by_claim(&mut rows, out)?;
    write_csv(out, &CHANGE_COLUMNS, &rows, |w, r| w.write_record(r)).map_err(io(out))?;
    Ok(rows.iter().map(|r| r.get(1).unwrap_or_default().to_string()).collect())
}

/// A report file a shard holds: its path in the output (`reports/<partner>/<file>`), its size, and
/// the shard it came from.
struct Linked {
    path: String,
    bytes: u64,
    /// Only of a file modified after its shard's run ended: an edit since, or a copy that did not
    /// keep modification times. Hashing every report would read every byte of every shard, and
    /// took a large merge from about 10 s to 16 s (BENCHMARKS.md, issue 14).
    sha256: Option<String>,
    shard: PathBuf,
}

/// Checks the shards' report files against their manifests: each file listed, of the size listed
/// (and of the SHA-256 listed, when it changed after its run: `Linked::sha256`), and each listed
/// file there. A shard copied or synced in part, or a report edited since, would otherwise give a
/// delivery whose manifest names a file that is missing, a file no manifest names, or bytes other
/// than the file's.
fn check_reports(linked: &[Linked], lines: &[ManifestLine]) -> Result<(), CporError> {
    let listed: FastMap<&str, &ManifestLine> = lines.iter().map(|l| (l.path.as_str(), l)).collect();
    for file in linked {
        let differs = |has: String, says: String| {
            Err(shard_error(&file.shard, format!("{} has {has}, its manifest says {says}", file.path)))
        };
        match listed.get(file.path.as_str()) {
            None => return Err(shard_error(&file.shard, format!("{} is in no manifest", file.path))),
            Some(line) if line.bytes != file.bytes => {
                return differs(format!("{} bytes", file.bytes), line.bytes.to_string())
            }
            Some(line) => match &file.sha256 {
                Some(sha256) if *sha256 != line.sha256 => {
                    return differs(format!("SHA-256 {sha256}"), line.sha256.clone())
                }
                _ => {}
            },
        }
    }
    if linked.len() != lines.len() {
        let present: FastSet<&str> = linked.iter().map(|f| f.path.as_str()).collect();
        if let Some(line) = lines.iter().find(|l| !present.contains(l.path.as_str())) {
            return Err(CporError::Merge(format!("{} is in a shard's manifest but not in its reports", line.path)));
        }
    }
    Ok(())
}

/// Checks each manifest line against its claim's ledger line: its path is its partner's and claim's
/// (`reports/<partner_id>/<claim_id>.<ext>`), its partner the claim's, its rows the ledger's
/// report_rows. A line moved to another partner would otherwise list one partner's report in
/// another's manifest.
fn check_lines(lines: &[ManifestLine], ledger: &[LedgerCount], format: OutputFormat) -> Result<(), CporError> {
    let claims: FastMap<&str, &LedgerCount> = ledger.iter().map(|l| (l.claim_id.as_str(), l)).collect();
    for line in lines {
        // `reports/<partner_id>/<claim_id>.<ext>`, taken apart rather than written out for each line.
        let file = line.path.strip_prefix("reports/").and_then(|p| p.strip_prefix(line.partner_id.as_str()));
        let file = file.and_then(|p| p.strip_prefix('/')).and_then(|p| p.strip_prefix(line.claim_id.as_str()));
        let own_path = file.and_then(|p| p.strip_prefix('.')) == Some(format.extension());
        let fault = match claims.get(line.claim_id.as_str()) {
            _ if !own_path => format!("names partner {} and claim {}", line.partner_id, line.claim_id),
            None => format!("names claim {}, which no ledger holds", line.claim_id),
            Some(claim) if claim.partner_id != line.partner_id => {
                format!("names partner {}, the ledger {}", line.partner_id, claim.partner_id)
            }
            Some(claim) if claim.report_rows != Some(line.rows) => match claim.report_rows {
                Some(rows) => format!("says {} rows, the ledger {rows}", line.rows),
                None => format!("lists a report of claim {}, which has none in the ledger", line.claim_id),
            },
            Some(_) => continue,
        };
        return Err(CporError::Merge(format!(
            "the manifest line of {} {fault}: a shard was changed after its run",
            line.path
        )));
    }
    Ok(())
}

/// Puts every shard's report files under `reports`: a hard link to the shard's file where both are
/// on one file system (no bytes copied, and the shard stays whole, so a merge can be run again), a
/// copy otherwise. A partner's directory may come from several shards; a report file from one only.
/// The shards' manifests are not taken: the merged ones are written from their lines.
fn link_reports(shards: &[PathBuf], reports: &Path) -> Result<Vec<Linked>, CporError> {
    fs::create_dir_all(reports).map_err(io(reports))?;
    let mut partners: Vec<(PathBuf, PathBuf, &PathBuf, SystemTime)> = Vec::new();
    for shard in shards {
        // The run wrote summary.json last: a report changed since is newer (see `Linked::sha256`).
        let summary = shard.join("summary.json");
        let finished = fs::metadata(&summary).and_then(|m| m.modified()).map_err(|e| shard_error(&summary, e))?;
        let from = shard.join("reports");
        for entry in fs::read_dir(&from).map_err(|e| shard_error(shard, e))? {
            let entry = entry.map_err(|e| shard_error(shard, e))?;
            if is_manifest_name(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let target = reports.join(entry.file_name());
            if !entry.file_type().map_err(|e| shard_error(shard, e))?.is_dir() {
                return Err(shard_error(&entry.path(), "not a partner's directory of reports"));
            }
            match fs::create_dir(&target) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(&target)(e)),
                _ => partners.push((entry.path(), target, shard, finished)),
            }
        }
    }
    let linked: Vec<Vec<Linked>> = partners
        .par_iter()
        .map(|(from, to, shard, finished)| {
            let partner = to.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let mut linked = Vec::new();
            for entry in fs::read_dir(from).map_err(|e| shard_error(from, e))? {
                let entry = entry.map_err(|e| shard_error(from, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_manifest_name(&name) {
                    continue;
                }
                let meta = entry.metadata().map_err(|e| shard_error(&entry.path(), e))?;
                if !meta.is_file() {
                    return Err(shard_error(&entry.path(), "not a report file"));
                }
                let changed = meta.modified().map_err(|e| shard_error(&entry.path(), e))? > *finished;
                let sha256 = match changed {
                    // A report is small and written from memory: read whole, as the run hashed it.
                    true => {
                        let bytes = fs::read(entry.path()).map_err(|e| shard_error(&entry.path(), e))?;
                        Some(crate::input::sha256_hex(&bytes))
                    }
                    false => None,
                };
                linked.push(Linked {
                    path: format!("reports/{partner}/{name}"),
                    bytes: meta.len(),
                    sha256,
                    shard: (*shard).clone(),
                });
                let target = to.join(entry.file_name());
                match fs::hard_link(entry.path(), &target) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Err(CporError::Merge(format!(
                            "report {} is in two shards",
                            Path::new(&to.file_name().unwrap_or_default()).join(entry.file_name()).display()
                        )))
                    }
                    // Another file system, or one without links: the bytes are copied.
                    Err(_) => {
                        fs::copy(entry.path(), &target).map_err(io(&target))?;
                    }
                }
            }
            Ok(linked)
        })
        .collect::<Result<_, CporError>>()?;
    Ok(linked.into_iter().flatten().collect())
}
