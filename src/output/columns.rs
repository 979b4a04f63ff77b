//! Each output's columns and the text of a row (SPEC 6), shared by the CSV and Parquet encoders so
//! that both formats hold the same values. The ledger's columns are `ledger`'s, which `changes`
//! also reads a previous ledger by.

use crate::ledger::DecidedClaim;
pub use crate::ledger::LEDGER_COLUMNS;
use crate::rejects::Reject;
use crate::types::{decimal, timestamp_text, Micros, ShortText};

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

pub(super) fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

/// A ledger cell as the encoders take it: text the row holds, or text made on the stack. The
/// ledger has a row per claim (millions) of 16 cells each: made as `String`s, they were as many
/// allocations as cells.
pub(super) enum Cell<'a> {
    Text(&'a str),
    Short(ShortText),
    Joined(String),
}

impl Cell<'_> {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Cell::Text(text) => text,
            Cell::Short(text) => text.as_str(),
            Cell::Joined(text) => text,
        }
    }
}

impl AsRef<[u8]> for Cell<'_> {
    /// The CSV encoder's view: a stack text's bytes as they are, without `as_str`'s UTF-8 check.
    fn as_ref(&self) -> &[u8] {
        match self {
            Cell::Short(text) => text.as_ref(),
            Cell::Text(_) | Cell::Joined(_) => self.as_str().as_bytes(),
        }
    }
}

/// A cell of an optional value: empty when there is none.
fn short<T>(value: Option<T>, text: impl Fn(T) -> ShortText) -> Cell<'static> {
    value.map_or(Cell::Text(""), |v| Cell::Short(text(v)))
}

pub(super) fn ledger_record(row: &DecidedClaim) -> [Cell<'_>; 16] {
    let (c, e) = (&row.claim, &row.evaluation);
    let stamp = |t: Option<Micros>| short(t, timestamp_text);
    [
        Cell::Text(c.id.as_str()),
        Cell::Text(c.partner_id.as_str()),
        Cell::Short(c.tenant.into()),
        Cell::Text(c.engagement.as_str()),
        Cell::Text(&c.workload),
        short(c.subscription, ShortText::from),
        c.country.as_ref().map_or(Cell::Text(""), |k| Cell::Text(k.as_str())),
        Cell::Short(timestamp_text(c.submitted_at)),
        stamp(c.notified_at),
        stamp(e.window_closes_at),
        Cell::Text(e.status.as_str()),
        stamp(e.official_at()),
        stamp(e.walk.ended_at),
        Cell::Joined(row.related()),
        Cell::Short(decimal(row.report_rows() as u64, 1)),
        short(row.starting_hwm(), |v| decimal(v, 1)),
    ]
}

/// Reads, ahead of [`ledger_record`], a field from each part of the row it reads: the claim (ids,
/// times, the workload's text), the evaluation and the report (`csv_file::csv_body_warmed`).
pub(super) fn warm_ledger_row(row: &DecidedClaim) {
    let (c, e) = (&row.claim, &row.evaluation);
    std::hint::black_box((
        c.id.as_str().len(),
        c.tenant,
        c.workload.as_bytes().first(),
        c.submitted_at,
        c.notified_at,
        e.window_closes_at,
        e.walk.ended_at,
        e.related.first().map(|id| id.as_str().len()),
        row.report.as_ref().map(|r| r.rows.len()),
    ));
}

pub(super) fn reject_record(r: &Reject) -> [String; 6] {
    [
        r.source.as_str().to_string(),
        r.file.clone(),
        r.record.to_string(),
        r.reason.as_str().to_string(),
        r.detail.clone(),
        r.raw.clone(),
    ]
}
