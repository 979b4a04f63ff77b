//! Each output's columns and the text of a row (SPEC 6), shared by the CSV and Parquet encoders so
//! that both formats hold the same values. The ledger's columns are `ledger`'s, which `changes`
//! also reads a previous ledger by.

use crate::ledger::DecidedClaim;
pub use crate::ledger::LEDGER_COLUMNS;
use crate::rejects::Reject;
use crate::types::{format_timestamp, Micros};

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

pub(super) fn ts(value: Option<Micros>) -> String {
    value.map_or(String::new(), format_timestamp)
}

pub(super) fn ledger_record(row: &DecidedClaim) -> [String; 16] {
    let (c, e) = (&row.claim, &row.evaluation);
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
