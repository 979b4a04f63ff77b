//! The CSV encoder (SPEC 6): the ledger, rejects and changes through the `csv` crate, and reports
//! written directly (RFC 4180 quoting).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::records::Claim;
use crate::report::Report;
use crate::types::{date_text, decimal};

use super::columns::REPORT_COLUMNS;

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

/// A report as CSV bytes, written directly: reports are the bulk of the output (millions of rows),
/// and the claim's columns are the same on every row.
pub(super) fn report_csv(claim: &Claim, report: &Report) -> Vec<u8> {
    let mut prefix = String::new();
    csv_field(&mut prefix, claim.id.as_str());
    prefix.push(',');
    csv_field(&mut prefix, claim.partner_id.as_str());
    prefix.push(',');
    claim.tenant.write_to(&mut prefix);
    prefix.push(',');
    prefix.push_str(claim.engagement.as_str());
    prefix.push(',');
    csv_field(&mut prefix, &claim.workload);
    prefix.push(',');
    let mut out = Vec::with_capacity(128 + report.rows.len() * (prefix.len() + 80));
    out.extend_from_slice(REPORT_COLUMNS.join(",").as_bytes());
    out.push(b'\n');
    for row in &report.rows {
        out.extend_from_slice(prefix.as_bytes());
        if let Some(sub) = row.subscription() {
            out.extend_from_slice(&sub.to_text());
        }
        out.push(b',');
        out.extend_from_slice(date_text(row.date).as_ref());
        for count in [row.counts.active_users(), row.counts.paid_seats(), row.counts.assigned_seats()] {
            out.push(b',');
            if let Some(c) = count {
                out.extend_from_slice(decimal(c, 1).as_ref());
            }
        }
        out.push(b'\n');
    }
    out
}

/// Rows a thread encodes at a time in [`write_csv`].
const ENCODE_ROWS: usize = 1 << 13;

/// Writes a CSV file through the `csv` crate: a run's rows as it makes them, or a shard's rows as
/// `cpor merge` read them back, with the same quoting. `encode` writes one row. The rows are
/// encoded in chunks on every core and written in order (a ledger has a row per claim: millions),
/// at most one chunk per core held at a time beyond the file's buffer.
pub(super) fn write_csv<T: Sync>(
    path: &Path,
    header: &[&str],
    rows: &[T],
    encode: impl Fn(&mut csv::Writer<Vec<u8>>, &T) -> csv::Result<()> + Sync,
) -> std::io::Result<()> {
    let chunk = |rows: &[T]| -> std::io::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in rows {
            encode(&mut writer, row)?;
        }
        writer.into_inner().map_err(|e| e.into_error())
    };
    let mut file = BufWriter::with_capacity(1 << 16, File::create(path)?);
    let mut writer = csv::Writer::from_writer(&mut file);
    writer.write_record(header)?;
    writer.flush()?;
    drop(writer);
    for group in rows.chunks(ENCODE_ROWS * rayon::current_num_threads().max(1)) {
        let encoded: Vec<std::io::Result<Vec<u8>>> = group.par_chunks(ENCODE_ROWS).map(chunk).collect();
        for bytes in encoded {
            file.write_all(&bytes?)?;
        }
    }
    file.flush()
}
