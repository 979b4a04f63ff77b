//! The CSV encoder (SPEC 6): the ledger, rejects and changes through the `csv` crate, and reports
//! written directly (RFC 4180 quoting).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::records::Claim;
use crate::report::Report;
use crate::types::{push_digits, write_date};

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

/// A report as CSV text, written directly: reports are the bulk of the output, and the claim's
/// columns are the same on every row.
pub(super) fn report_csv(claim: &Claim, report: &Report) -> String {
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

/// Writes a CSV file through the `csv` crate: a run's rows as it makes them, or a shard's rows as
/// `cpor merge` read them back, with the same quoting.
pub(super) fn write_csv<R, F>(path: &Path, header: &[&str], rows: impl Iterator<Item = R>) -> std::io::Result<()>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
    let mut writer = csv::Writer::from_writer(file);
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    writer.into_inner().map_err(|e| e.into_error())?.flush()
}
