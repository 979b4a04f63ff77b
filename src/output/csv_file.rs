//! The CSV encoder (SPEC 6): the ledger, rejects and changes through the `csv` crate, and reports
//! written directly (RFC 4180 quoting).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::records::Claim;
use crate::report::Report;
use crate::types::{push_date, push_decimal, Uuid};

use super::columns::REPORT_COLUMNS;

/// A CSV field, quoted when it must be (RFC 4180). The four characters are ASCII, so their bytes
/// are looked for: `str::contains` with a set of characters decoded every character (a tenth of a
/// microsecond for an id, three times a report).
fn csv_field(out: &mut String, text: &str) {
    if text.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

/// A report as CSV bytes, written directly: reports are the bulk of the output (millions of rows),
/// and the claim's columns are the same on every row. Dates and counts are written in place in `out`
/// (`push_date`); a report's few subscriptions are made into text once each.
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
    for (k, name) in REPORT_COLUMNS.iter().enumerate() {
        out.extend_from_slice(if k == 0 { b"" } else { b"," });
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    let mut subscriptions = SubscriptionTexts::default();
    for row in &report.rows {
        out.extend_from_slice(prefix.as_bytes());
        if let Some(sub) = row.subscription() {
            out.extend_from_slice(subscriptions.text(sub));
        }
        out.push(b',');
        push_date(&mut out, row.date);
        for count in [row.counts.active_users(), row.counts.paid_seats(), row.counts.assigned_seats()] {
            out.push(b',');
            if let Some(c) = count {
                push_decimal(&mut out, c);
            }
        }
        out.push(b'\n');
    }
    out
}

/// The texts of a report's subscriptions, the first few kept: a report's rows repeat a handful.
struct SubscriptionTexts {
    kept: Vec<(Uuid, [u8; 36])>,
    last: [u8; 36],
}

impl Default for SubscriptionTexts {
    fn default() -> SubscriptionTexts {
        SubscriptionTexts { kept: Vec::new(), last: [0; 36] }
    }
}

impl SubscriptionTexts {
    /// Past this many, a subscription's text is made each time: the search stays short.
    const KEPT: usize = 16;

    fn text(&mut self, uuid: Uuid) -> &[u8] {
        match self.kept.iter().position(|(kept, _)| *kept == uuid) {
            Some(at) => &self.kept[at].1,
            None if self.kept.len() < Self::KEPT => {
                self.kept.push((uuid, uuid.to_text()));
                &self.kept[self.kept.len() - 1].1
            }
            None => {
                self.last = uuid.to_text();
                &self.last
            }
        }
    }
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
