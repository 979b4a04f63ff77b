//! Rejected input records (SPEC 6): the reason codes, in the order that decides which of several
//! faults names a record, and the reject row itself.

use std::fmt;

/// The three inputs that hold records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Claims,
    Responses,
    Usage,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Claims, Source::Responses, Source::Usage];

    /// The source written as `as_str` writes it.
    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Claims => "claims",
            Source::Responses => "responses",
            Source::Usage => "usage",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a record was rejected. The declaration order is SPEC 6's list: a record with several faults
/// of its own is rejected for the first of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    MalformedRow,
    MissingField,
    InvalidId,
    InvalidText,
    InvalidUuid,
    InvalidTimestamp,
    InvalidDate,
    InvalidCountry,
    InvalidCount,
    NoMetrics,
    UnknownEngagement,
    UnknownResponse,
    MissingSubscription,
    NotifiedBeforeSubmitted,
    DuplicateClaimId,
    DuplicateResponseId,
    DuplicateUsageRow,
    UnknownClaim,
    TenantMismatch,
    ResponseBeforeNotification,
}

impl RejectReason {
    pub const ALL: [RejectReason; 20] = [
        RejectReason::MalformedRow,
        RejectReason::MissingField,
        RejectReason::InvalidId,
        RejectReason::InvalidText,
        RejectReason::InvalidUuid,
        RejectReason::InvalidTimestamp,
        RejectReason::InvalidDate,
        RejectReason::InvalidCountry,
        RejectReason::InvalidCount,
        RejectReason::NoMetrics,
        RejectReason::UnknownEngagement,
        RejectReason::UnknownResponse,
        RejectReason::MissingSubscription,
        RejectReason::NotifiedBeforeSubmitted,
        RejectReason::DuplicateClaimId,
        RejectReason::DuplicateResponseId,
        RejectReason::DuplicateUsageRow,
        RejectReason::UnknownClaim,
        RejectReason::TenantMismatch,
        RejectReason::ResponseBeforeNotification,
    ];

    /// The reason written as `as_str` writes it.
    pub fn parse(text: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MalformedRow => "malformed_row",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidId => "invalid_id",
            RejectReason::InvalidText => "invalid_text",
            RejectReason::InvalidUuid => "invalid_uuid",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::InvalidDate => "invalid_date",
            RejectReason::InvalidCountry => "invalid_country",
            RejectReason::InvalidCount => "invalid_count",
            RejectReason::NoMetrics => "no_metrics",
            RejectReason::UnknownEngagement => "unknown_engagement",
            RejectReason::UnknownResponse => "unknown_response",
            RejectReason::MissingSubscription => "missing_subscription",
            RejectReason::NotifiedBeforeSubmitted => "notified_before_submitted",
            RejectReason::DuplicateClaimId => "duplicate_claim_id",
            RejectReason::DuplicateResponseId => "duplicate_response_id",
            RejectReason::DuplicateUsageRow => "duplicate_usage_row",
            RejectReason::UnknownClaim => "unknown_claim",
            RejectReason::TenantMismatch => "tenant_mismatch",
            RejectReason::ResponseBeforeNotification => "response_before_notification",
        }
    }
}

/// A fault found in one record: the reason and a one-sentence detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub reason: RejectReason,
    pub detail: String,
}

impl Fault {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Fault {
        Fault { reason, detail: detail.into() }
    }
}

/// One row of `rejects.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub source: Source,
    /// The file's path as given (a directory's file joined to the directory as given).
    pub file: String,
    /// 1-based data-row number within the file, the header not counted.
    pub record: u64,
    pub reason: RejectReason,
    pub detail: String,
    /// The record as a JSON object of column name → original text.
    pub raw: String,
}

/// Sorts rejects as SPEC 6 asks: by (source, file, record).
pub fn sort_rejects(rejects: &mut [Reject]) {
    rejects.sort_by(|a, b| (a.source, &a.file, a.record).cmp(&(b.source, &b.file, b.record)));
}
