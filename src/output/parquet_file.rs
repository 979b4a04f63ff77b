//! The Parquet encoder (SPEC 6): the ledger, reports and rejects with the CSV files' columns;
//! timestamps as UTC microsecond timestamps, dates as dates, counts as unsigned integers.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::polars::prelude::*;

use crate::error::Cause;
use crate::ledger::DecidedClaim;
use crate::records::Claim;
use crate::rejects::Reject;
use crate::report::Report;
use crate::types::Micros;

use super::columns::{ledger_record, opt, reject_record, Cell};

/// Writes one Parquet file single-threaded: reports are written from rayon's pool, and a writer
/// that entered polars' own pool from there would nest two pools (STYLE 10).
fn write_parquet(file: File, columns: Vec<Column>) -> Result<(), PolarsError> {
    let mut df = DataFrame::new_infer_height(columns)?;
    ParquetWriter::new(BufWriter::new(file)).set_parallel(false).finish(&mut df)?;
    Ok(())
}

/// Writes a table `cpor merge` put together from the shards' (`merge`), as `write_parquet` does.
pub(super) fn write_frame(path: &Path, frame: DataFrame) -> Result<(), PolarsError> {
    write_parquet(File::create(path)?, frame.columns().to_vec())
}

pub(super) fn ledger_parquet(path: &Path, rows: &[&DecidedClaim]) -> Result<(), PolarsError> {
    let file = File::create(path)?;
    let records: Vec<[Cell<'_>; 16]> = rows.iter().map(|r| ledger_record(r)).collect();
    let text = |k: usize| records.iter().map(|r| r[k].as_str().to_string()).collect::<Vec<_>>();
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

/// A report as Parquet bytes, to be written and hashed for the manifest.
pub(super) fn report_parquet(claim: &Claim, report: &Report) -> Result<Vec<u8>, PolarsError> {
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
        u64_col("active_users", report.rows.iter().map(|r| r.counts().active_users()).collect()),
        u64_col("paid_seats", report.rows.iter().map(|r| r.counts().paid_seats()).collect()),
        u64_col("assigned_seats", report.rows.iter().map(|r| r.counts().assigned_seats()).collect()),
    ];
    let mut bytes = Vec::new();
    let mut frame = DataFrame::new_infer_height(columns)?;
    ParquetWriter::new(&mut bytes).set_parallel(false).finish(&mut frame)?;
    Ok(bytes)
}

pub(super) fn rejects_parquet(path: &Path, rejects: &[Reject]) -> Result<(), PolarsError> {
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

fn str_col(name: &str, values: Vec<String>) -> Column {
    let values: Vec<Option<String>> = values.into_iter().map(|v| (!v.is_empty()).then_some(v)).collect();
    Column::new(name.into(), values)
}

fn ts_col(name: &str, values: Vec<Option<Micros>>) -> Column {
    Series::new(name.into(), values)
        .into_datetime(TimeUnit::Microseconds, Some(crate::polars::prelude::TimeZone::UTC))
        .into_column()
}

fn u64_col(name: &str, values: Vec<Option<u64>>) -> Column {
    Column::new(name.into(), values)
}

/// A Parquet table cpor wrote (a `--previous` ledger, a shard's ledger, rejects or manifest), read
/// whole, its columns checked to be `columns` in order; `owner` names them in the error ("cpor's
/// ledger columns"). A damaged file that makes polars panic is an error too.
pub(crate) fn read_own_table(path: &Path, columns: &[&str], owner: &str) -> Result<DataFrame, Cause> {
    let file = File::open(path)?;
    let frame = crate::guard::guarded(|| ParquetReader::new(file).finish())??;
    if !frame.get_column_names().iter().map(|n| n.as_str()).eq(columns.iter().copied()) {
        return Err(format!("the columns are not {owner} ({})", columns.join(",")).into());
    }
    Ok(frame)
}
