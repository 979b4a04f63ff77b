//! The three kinds of input record (SPEC 2.1–2.3) and the checks each record passes on its own.
//!
//! Each parser checks a record's faults in the order of SPEC 6's reason list, so the first fault
//! found is the one the record is rejected for. Checks between records (uniqueness and the responses'
//! cross-file checks) live in `crate::checks`, deferral in `crate::pipeline`.

use std::borrow::Cow;
use std::sync::{Mutex, PoisonError};

use crate::polars::prelude::StaticArray;

use crate::hashing::{fixed_hash, FastMap};
use crate::input::{
    trim_cell, BatchView, Cell, ColumnOf, ColumnSpec, DateArray, IntArray, RecordParser, RowView, TextArray, Typed,
};
use crate::rejects::{Fault, RejectReason, Source};
use crate::shard::Shard;
use crate::types::{
    date_in_range, format_date, format_timestamp, parse_count, parse_date, text_fault, timestamp_in_range,
    with_lowercase, Country, Days, Engagement, Id, Micros, ResponseKind, Scope, Uuid, MICROS_PER_SECOND,
};
use crate::values::{
    month_start, parse_country, parse_date_in, parse_month, parse_timestamp_in, DateOrder, EngagementNames, UsagePeriod,
};

/// An accepted association request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: Id,
    pub partner_id: Id,
    pub tenant: Uuid,
    pub engagement: Engagement,
    /// As written in the claim (trimmed); compared case-insensitively.
    pub workload: String,
    pub subscription: Option<Uuid>,
    pub country: Option<Country>,
    pub submitted_at: Micros,
    pub notified_at: Option<Micros>,
}

/// An accepted customer response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: Id,
    pub claim_id: Id,
    pub tenant: Uuid,
    pub kind: ResponseKind,
    pub responded_at: Micros,
}

/// Lower-cased workload names and the ids usage rows carry: the workloads claims name, with their
/// ids from `crate::usage::UsageIndex`, and the others numbered after them as the parsing threads
/// meet them. A row's workload is then a number from the start: no text is shared between threads
/// (a shared text's count, raised and lowered by every row on both cores, cost a sixth of the
/// usage parsing; BENCHMARKS.md).
#[derive(Debug, Default)]
pub struct WorkloadIds {
    known: FastMap<Box<str>, u32>,
    /// Workloads no claim names. A thread looks here only for a text it has not met lately
    /// (`RecentWorkloads`), so one lock serves every thread.
    others: Mutex<FastMap<Box<str>, u32>>,
    first_other: u32,
}

impl WorkloadIds {
    /// `known`: the lower-cased workloads claims name, with their ids.
    pub fn new(known: FastMap<Box<str>, u32>) -> WorkloadIds {
        let first_other = known.values().max().map_or(0, |&last| last + 1);
        WorkloadIds { known, others: Mutex::default(), first_other }
    }

    /// The id of a lower-cased workload, given the next free one when neither a claim nor an
    /// earlier row named it.
    pub fn id(&self, lower: &str) -> u32 {
        if let Some(&id) = self.known.get(lower) {
            return id;
        }
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&id) = others.get(lower) {
            return id;
        }
        let id = self.first_other + others.len() as u32;
        others.insert(lower.into(), id);
        id
    }

    /// Every workload given an id so far, claims' and others.
    pub fn all(&self) -> FastMap<Box<str>, u32> {
        let others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        self.known.iter().chain(others.iter()).map(|(name, &id)| (name.clone(), id)).collect()
    }
}

/// The three counts of a usage row; a bit of `present` per count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    values: [u64; 3],
    present: u8,
}

impl Counts {
    pub fn new(counts: [Option<u64>; 3]) -> Counts {
        let mut c = Counts::default();
        for (i, v) in counts.into_iter().enumerate() {
            if let Some(v) = v {
                c.values[i] = v;
                c.present |= 1 << i;
            }
        }
        c
    }

    /// The values (0 where absent) and a bit per value present: a `KeptRow` holds them so.
    pub fn parts(&self) -> ([u64; 3], u8) {
        (self.values, self.present)
    }

    /// Counts from `parts`; bits other than the three values' are ignored.
    pub fn from_parts(values: [u64; 3], present: u8) -> Counts {
        Counts { values, present: present & 0b111 }
    }

    fn get(&self, i: usize) -> Option<u64> {
        (self.present & (1 << i) != 0).then_some(self.values[i])
    }

    pub fn active_users(&self) -> Option<u64> {
        self.get(0)
    }

    pub fn paid_seats(&self) -> Option<u64> {
        self.get(1)
    }

    pub fn assigned_seats(&self) -> Option<u64> {
        self.get(2)
    }

    pub fn is_empty(&self) -> bool {
        self.present == 0
    }
}

/// An accepted usage row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    pub tenant: Uuid,
    /// The workload's id (`WorkloadIds`).
    pub workload: u32,
    pub subscription: Option<Uuid>,
    pub date: Days,
    pub counts: Counts,
}

/// A cell as text, for columns that hold text; typed Parquet cells are written as SPEC writes them.
fn as_text(cell: Cell<'_>) -> Option<Cow<'_, str>> {
    match cell {
        Cell::Null => None,
        Cell::Text(t) => Some(Cow::Borrowed(t)),
        Cell::Int(v) => Some(Cow::Owned(v.to_string())),
        Cell::UInt(v) => Some(Cow::Owned(v.to_string())),
        Cell::OutOfRange => Some(Cow::Borrowed("(a typed value out of range)")),
        Cell::Float(v) => Some(Cow::Owned(v.to_string())),
        Cell::Date(d) => Some(Cow::Owned(format_date(d))),
        Cell::Timestamp(t) => Some(Cow::Owned(format_timestamp(t))),
    }
}

fn missing_field(columns: &[ColumnSpec], k: usize) -> Fault {
    Fault::new(RejectReason::MissingField, format!("Required field {} is empty.", columns[k].name))
}

fn missing(row: &RowView<'_>, columns: &[ColumnSpec], required: &[usize]) -> Result<(), Fault> {
    match required.iter().find(|&&k| row.get(k).is_null()) {
        Some(&k) => Err(missing_field(columns, k)),
        None => Ok(()),
    }
}

/// A required value: `missing` has checked it is there, so the `Err` arm is never taken; it keeps
/// the claim true without a panic.
fn required<T>(value: Option<T>, columns: &[ColumnSpec], k: usize) -> Result<T, Fault> {
    value.ok_or_else(|| missing_field(columns, k))
}

/// A **text** cell (SPEC 2.4, the workload): no control characters, no spreadsheet formula.
/// A cell that is no text at all — Parquet bytes that are not UTF-8 — is `invalid_text` too: its
/// stand-in in messages (`as_text`) must never pass for a workload, which would make every such
/// cell one workload, seen in one report.
fn text<'a>(row: &'a RowView<'_>, columns: &[ColumnSpec], k: usize) -> Result<Cow<'a, str>, Fault> {
    let cell = row.get(k);
    if matches!(cell, Cell::OutOfRange) {
        return Err(Fault::new(
            RejectReason::InvalidText,
            format!("{} is not text (bytes that are not UTF-8, or a typed value out of range).", columns[k].name),
        ));
    }
    let text = required(as_text(cell), columns, k)?;
    match text_fault(&text) {
        None => Ok(text),
        Some(why) => Err(Fault::new(RejectReason::InvalidText, format!("{} {text:?} {why}.", columns[k].name))),
    }
}

fn id(row: &RowView<'_>, columns: &[ColumnSpec], k: usize) -> Result<Id, Fault> {
    let text = as_text(row.get(k)).unwrap_or_default();
    Id::parse(&text).ok_or_else(|| {
        Fault::new(
            RejectReason::InvalidId,
            format!(
                "{} {text:?} is not an id (1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter, a digit or _).",
                columns[k].name
            ),
        )
    })
}

fn uuid(row: &RowView<'_>, columns: &[ColumnSpec], k: usize) -> Result<Option<Uuid>, Fault> {
    let Some(text) = as_text(row.get(k)) else { return Ok(None) };
    match Uuid::parse(&text) {
        Some(u) => Ok(Some(u)),
        None => Err(Fault::new(RejectReason::InvalidUuid, format!("{} {text:?} is not a UUID.", columns[k].name))),
    }
}

/// A timestamp cell: SPEC 2.4's forms, and SPEC 9.3's of the date order.
fn timestamp(row: &RowView<'_>, columns: &[ColumnSpec], k: usize, order: DateOrder) -> Result<Option<Micros>, Fault> {
    let cell = row.get(k);
    let parsed = match cell {
        Cell::Null => return Ok(None),
        Cell::Timestamp(t) => Some(t).filter(|&t| timestamp_in_range(t)),
        Cell::Text(t) => parse_timestamp_in(t, order),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        let also = match order {
            DateOrder::Ymd => "",
            DateOrder::Mdy => " or M/D/YYYY H:MM[:SS] [AM|PM]",
            DateOrder::Dmy => " or D/M/YYYY H:MM[:SS] [AM|PM]",
        };
        Fault::new(
            RejectReason::InvalidTimestamp,
            format!(
                "{} {:?} is not an RFC 3339 timestamp{also} from year 0001 to 9999.",
                columns[k].name,
                as_text(cell).unwrap_or_default()
            ),
        )
    })
}

/// Claims (SPEC 2.1), with the value forms of SPEC 9.3.
#[derive(Default)]
pub struct ClaimParser {
    pub date_order: DateOrder,
    pub engagements: EngagementNames,
}

mod claim_col {
    pub const CLAIM_ID: usize = 0;
    pub const PARTNER_ID: usize = 1;
    pub const TENANT_ID: usize = 2;
    pub const ENGAGEMENT: usize = 3;
    pub const WORKLOAD: usize = 4;
    pub const SUBSCRIPTION_ID: usize = 5;
    pub const CUSTOMER_COUNTRY: usize = 6;
    pub const SUBMITTED_AT: usize = 7;
    pub const NOTIFIED_AT: usize = 8;
}

impl RecordParser for ClaimParser {
    type Record = Claim;
    type Scratch = ();
    const SOURCE: Source = Source::Claims;
    const COLUMNS: &'static [ColumnSpec] = &[
        ColumnSpec { name: "claim_id", required: true },
        ColumnSpec { name: "partner_id", required: true },
        ColumnSpec { name: "tenant_id", required: true },
        ColumnSpec { name: "engagement", required: true },
        ColumnSpec { name: "workload", required: true },
        ColumnSpec { name: "subscription_id", required: false },
        ColumnSpec { name: "customer_country", required: false },
        ColumnSpec { name: "submitted_at", required: true },
        ColumnSpec { name: "notified_at", required: false },
    ];

    fn parse(&self, _: &mut (), row: &RowView<'_>) -> Result<Claim, Fault> {
        use claim_col::*;
        let order = self.date_order;
        let cols = Self::COLUMNS;
        missing(row, cols, &[CLAIM_ID, PARTNER_ID, TENANT_ID, ENGAGEMENT, WORKLOAD, SUBMITTED_AT])?;
        let id = id(row, cols, CLAIM_ID)?;
        let partner_id = self::id(row, cols, PARTNER_ID)?;
        let workload = text(row, cols, WORKLOAD)?.into_owned();
        let tenant = required(uuid(row, cols, TENANT_ID)?, cols, TENANT_ID)?;
        let subscription = uuid(row, cols, SUBSCRIPTION_ID)?;
        let submitted_at = required(timestamp(row, cols, SUBMITTED_AT, order)?, cols, SUBMITTED_AT)?;
        let notified_at = timestamp(row, cols, NOTIFIED_AT, order)?;
        let country = match as_text(row.get(CUSTOMER_COUNTRY)) {
            None => None,
            Some(text) => Some(parse_country(&text).ok_or_else(|| {
                Fault::new(
                    RejectReason::InvalidCountry,
                    format!("customer_country {text:?} is not a two-letter country code or an English country name."),
                )
            })?),
        };
        let engagement_text = as_text(row.get(ENGAGEMENT)).unwrap_or_default();
        let engagement = self.engagements.parse(&engagement_text).ok_or_else(|| {
            Fault::new(
                RejectReason::UnknownEngagement,
                format!("engagement {engagement_text:?} is not a known engagement code or name."),
            )
        })?;
        if engagement.scope() == Scope::Subscription && subscription.is_none() {
            return Err(Fault::new(
                RejectReason::MissingSubscription,
                format!("Engagement {} is subscription-scoped but subscription_id is empty.", engagement.as_str()),
            ));
        }
        if notified_at.is_some_and(|n| n < submitted_at) {
            return Err(Fault::new(RejectReason::NotifiedBeforeSubmitted, "notified_at is earlier than submitted_at."));
        }
        Ok(Claim { id, partner_id, tenant, engagement, workload, subscription, country, submitted_at, notified_at })
    }
}

/// Responses (SPEC 2.2): the checks of a record on its own.
#[derive(Default)]
pub struct ResponseParser {
    pub date_order: DateOrder,
}

impl RecordParser for ResponseParser {
    type Record = Response;
    type Scratch = ();
    const SOURCE: Source = Source::Responses;
    const COLUMNS: &'static [ColumnSpec] = &[
        ColumnSpec { name: "response_id", required: true },
        ColumnSpec { name: "claim_id", required: true },
        ColumnSpec { name: "tenant_id", required: true },
        ColumnSpec { name: "response", required: true },
        ColumnSpec { name: "responded_at", required: true },
    ];

    fn parse(&self, _: &mut (), row: &RowView<'_>) -> Result<Response, Fault> {
        let cols = Self::COLUMNS;
        missing(row, cols, &[0, 1, 2, 3, 4])?;
        let response_id = id(row, cols, 0)?;
        let claim_id = id(row, cols, 1)?;
        let tenant = required(uuid(row, cols, 2)?, cols, 2)?;
        let responded_at = required(timestamp(row, cols, 4, self.date_order)?, cols, 4)?;
        let text = as_text(row.get(3)).unwrap_or_default();
        let kind = ResponseKind::parse(&text).ok_or_else(|| {
            Fault::new(RejectReason::UnknownResponse, format!("response {text:?} is neither an opt-out nor an accept."))
        })?;
        Ok(Response { id: response_id, claim_id, tenant, kind, responded_at })
    }
}

/// The last UUID text a parsing thread read in one column, and its value: a tenant's rows, and a
/// subscription's, usually come one after the other. Only a text that is a UUID is remembered, so
/// the text is always 36 bytes: compared without a call.
pub struct RecentUuid {
    text: [u8; 36],
    value: Option<Uuid>,
}

impl Default for RecentUuid {
    fn default() -> Self {
        RecentUuid { text: [0; 36], value: None }
    }
}

impl RecentUuid {
    /// The UUID of a text (trimmed or not), `None` when it is not one.
    #[inline]
    pub fn of_text(&mut self, text: &str) -> Option<Uuid> {
        let bytes: &[u8; 36] = text.as_bytes().try_into().ok()?;
        if let Some(value) = self.value.filter(|_| same_uuid_text(bytes, &self.text)) {
            return Some(value);
        }
        let value = Uuid::parse(text)?;
        self.text = *bytes;
        self.value = Some(value);
        Some(value)
    }

    fn uuid(&mut self, row: &RowView<'_>, columns: &[ColumnSpec], k: usize) -> Result<Option<Uuid>, Fault> {
        if let Cell::Text(text) = row.get(k) {
            if let Some(value) = self.of_text(text) {
                return Ok(Some(value));
            }
        }
        uuid(row, columns, k)
    }
}

/// Whether two UUID texts are the same, compared 16, 16 and 4 bytes at a time: `==` on arrays of
/// 36 bytes calls `memcmp`, the largest single cost of reading usage sorted by date (BENCHMARKS.md).
#[inline]
fn same_uuid_text(a: &[u8; 36], b: &[u8; 36]) -> bool {
    let (a_head, a_rest) = a.split_at(16);
    let (b_head, b_rest) = b.split_at(16);
    let (a_middle, a_tail) = a_rest.split_at(16);
    let (b_middle, b_tail) = b_rest.split_at(16);
    let wide = |bytes: &[u8]| u128::from_ne_bytes(bytes.try_into().unwrap_or([0; 16]));
    let narrow = |bytes: &[u8]| u32::from_ne_bytes(bytes.try_into().unwrap_or([0; 4]));
    (wide(a_head) ^ wide(b_head)) | (wide(a_middle) ^ wide(b_middle)) | (narrow(a_tail) ^ narrow(b_tail)) as u128 == 0
}

/// The workload texts a parsing thread met lately, with their ids: a tenant's rows spell a workload
/// in a few ways ("Teams", "TEAMS"), and one series' rows may alternate between them. A text has
/// one slot, chosen by its hash, so that finding it costs the same however many workloads the
/// rows cycle through: a file sorted by date cycles through every workload of a tenant, and the
/// four texts kept before, replaced oldest first, then missed on nearly every row (BENCHMARKS.md).
pub struct RecentWorkloads {
    /// `RECENT_WORKLOADS` slots, each buffer reused; an empty text is a free slot (a workload is
    /// never empty).
    slots: Vec<(String, u32)>,
}

const RECENT_WORKLOADS: usize = 64;

impl Default for RecentWorkloads {
    fn default() -> RecentWorkloads {
        RecentWorkloads { slots: vec![(String::new(), 0); RECENT_WORKLOADS] }
    }
}

impl RecentWorkloads {
    #[inline]
    fn slot(text: &str) -> usize {
        fixed_hash(text) as usize % RECENT_WORKLOADS
    }

    #[inline]
    fn get(&self, text: &str) -> Option<u32> {
        let (kept, id) = self.slots.get(Self::slot(text))?;
        (!text.is_empty() && kept == text).then_some(*id)
    }

    fn put(&mut self, text: &str, id: u32) {
        if let Some((kept, kept_id)) = self.slots.get_mut(Self::slot(text)) {
            kept.clear();
            kept.push_str(text);
            *kept_id = id;
        }
    }
}

/// What a thread parsing usage remembers from row to row.
#[derive(Default)]
pub struct UsageScratch {
    tenant: RecentUuid,
    /// The last tenant a shard looked up, and whether the shard keeps it: a tenant's rows come together.
    kept: Option<(Uuid, bool)>,
    subscription: RecentUuid,
    /// The last few workload texts (trimmed, as written) and their ids.
    workload: RecentWorkloads,
}

/// Usage rows (SPEC 2.3): the checks of a record on its own.
pub struct UsageParser {
    /// The ids of the workloads claims name, and of those met meanwhile.
    pub workloads: WorkloadIds,
    pub date_order: DateOrder,
    /// With `Month`, a row's date is its month's first day (SPEC 9.3).
    pub period: UsagePeriod,
    /// `--shard`: only the rows of this shard's tenants are taken (SPEC 10).
    pub shard: Option<Shard>,
}

const COUNT_COLUMNS: [usize; 3] = [4, 5, 6];

impl UsageParser {
    /// The row's workload id, its text checked (SPEC 2.4 **text**). The last workloads a thread
    /// saw passed that check, so a repeat of one is its id at once.
    fn workload(&self, scratch: &mut UsageScratch, row: &RowView<'_>) -> Result<u32, Fault> {
        if let Cell::Text(text) = row.get(1) {
            if let Some(id) = scratch.workload.get(text) {
                return Ok(id);
            }
        }
        let text = text(row, Self::COLUMNS, 1)?;
        Ok(self.new_workload(scratch, &text))
    }

    /// The id of a workload text that passed its checks, remembered among the thread's last.
    fn new_workload(&self, scratch: &mut UsageScratch, text: &str) -> u32 {
        let id = with_lowercase(text, |lower| self.workloads.id(lower));
        scratch.workload.put(text, id);
        id
    }

    /// The id of a workload cell as stored, when it is one of the thread's last workloads or a
    /// text that needs no trimming and passes SPEC 2.4's **text** check; `None`: anything else.
    #[inline]
    fn plain_workload(&self, scratch: &mut UsageScratch, text: &str) -> Option<u32> {
        match scratch.workload.get(text) {
            Some(id) => Some(id),
            None if !text.is_empty() && trim_cell(text).len() == text.len() && text_fault(text).is_none() => {
                Some(self.new_workload(scratch, text))
            }
            _ => None,
        }
    }
}

/// The tenant, workload and subscription cells `UsageParser::plain_row` last resolved in one
/// chunk of a batch, by their views in the column: equal views are equal texts (a text of up to 12
/// bytes is held in its view, a longer one is a place in the column's buffers), so a run of one
/// tenant's rows is compared 16 bytes at a time, and its UUIDs are parsed once per run.
#[derive(Default)]
struct LastViews {
    tenant: Option<(u128, Uuid)>,
    workload: Option<(u128, u32)>,
    subscription: Option<(u128, Uuid)>,
}

/// The typed columns of a usage batch that `UsageParser::plain_row` reads.
struct UsageColumns<'a> {
    tenant: &'a TextArray,
    workload: &'a TextArray,
    subscription: Option<&'a TextArray>,
    date: &'a DateArray,
    counts: [Option<&'a IntArray>; 3],
}

impl<'a> UsageColumns<'a> {
    /// The batch's columns when they are of the types read directly: text ids and workload, a date
    /// column and integer counts; a missing optional column reads as empty.
    fn of(batch: &BatchView<'a>) -> Option<UsageColumns<'a>> {
        let text = |k| match batch.column(k) {
            ColumnOf::Typed(Typed::Text(a)) => Some(a),
            _ => None,
        };
        let optional = |k| match batch.column(k) {
            ColumnOf::Absent => Some(None),
            ColumnOf::Typed(Typed::Int(a)) => Some(Some(a)),
            _ => None,
        };
        let subscription = match batch.column(2) {
            ColumnOf::Absent => None,
            ColumnOf::Typed(Typed::Text(a)) => Some(a),
            _ => return None,
        };
        let ColumnOf::Typed(Typed::Date(date)) = batch.column(3) else { return None };
        Some(UsageColumns {
            tenant: text(0)?,
            workload: text(1)?,
            subscription,
            date,
            counts: [optional(COUNT_COLUMNS[0])?, optional(COUNT_COLUMNS[1])?, optional(COUNT_COLUMNS[2])?],
        })
    }
}

impl UsageParser {
    /// A row's record read straight from typed columns when every cell is in its plain form — a
    /// UUID tenant, the workload of the thread's previous row, an empty or UUID subscription, a date
    /// in range, counts ≥ 0 and at least one — which `parse` would accept as the same record. `None`:
    /// anything else, left to `parse` (which finds the fault, or the new workload's key).
    #[inline]
    fn plain_row(
        &self,
        scratch: &mut UsageScratch,
        last: &mut LastViews,
        columns: &UsageColumns<'_>,
        row: usize,
        slot: &mut Option<Result<UsageRow, Fault>>,
    ) -> Option<()> {
        // Each text cell's view is compared before its text is read: most rows repeat the last.
        let view = view_of(columns.tenant, row)?;
        let tenant = match last.tenant {
            Some((last, value)) if last == view => value,
            _ => {
                let value = scratch.tenant.of_text(columns.tenant.value(row))?;
                last.tenant = Some((view, value));
                value
            }
        };
        let view = view_of(columns.workload, row)?;
        let workload = match last.workload {
            Some((last, id)) if last == view => id,
            _ => {
                let id = self.plain_workload(scratch, columns.workload.value(row))?;
                last.workload = Some((view, id));
                id
            }
        };
        let subscription = match columns.subscription.and_then(|a| Some((a, view_of(a, row)?))) {
            None => None,
            Some((_, view)) if last.subscription.is_some_and(|(last, _)| last == view) => {
                last.subscription.map(|(_, value)| value)
            }
            Some((a, view)) => {
                let value = scratch.subscription.of_text(a.value(row))?;
                last.subscription = Some((view, value));
                Some(value)
            }
        };
        let date = columns.date.get(row).filter(|&d| date_in_range(d))?;
        let date = if self.period == UsagePeriod::Month { month_start(date) } else { date };
        // Built in place, not through `Counts::new`'s options: this runs for every row.
        let mut counts = Counts::default();
        for (i, column) in columns.counts.iter().enumerate() {
            if let Some(value) = column.and_then(|a| a.get(row)) {
                counts.values[i] = u64::try_from(value).ok()?;
                counts.present |= 1 << i;
            }
        }
        if counts.is_empty() {
            return None;
        }
        // Written straight into its slot: a record built apart and then copied in was read back
        // before its last fields' stores had landed, a stall on every row.
        *slot = Some(Ok(UsageRow { tenant, workload, subscription, date, counts }));
        Some(())
    }
}

/// The view of a text cell (see `LastViews`); `None` when the cell is null.
#[inline]
fn view_of(array: &TextArray, row: usize) -> Option<u128> {
    is_valid(array, row).then(|| array.views()[row].as_u128())
}

/// Whether a cell holds a value (arrow's `Array::is_valid`, which polars' prelude reaches only
/// through `StaticArray`).
#[inline]
fn is_valid<A: StaticArray>(array: &A, row: usize) -> bool {
    array.is_valid(row)
}

impl RecordParser for UsageParser {
    type Record = UsageRow;
    type Scratch = UsageScratch;
    const SOURCE: Source = Source::Usage;
    const COLUMNS: &'static [ColumnSpec] = &[
        ColumnSpec { name: "tenant_id", required: true },
        ColumnSpec { name: "workload", required: true },
        ColumnSpec { name: "subscription_id", required: false },
        ColumnSpec { name: "date", required: true },
        ColumnSpec { name: "active_users", required: false },
        ColumnSpec { name: "paid_seats", required: false },
        ColumnSpec { name: "assigned_seats", required: false },
    ];

    /// A usage file without any of the three count columns could only yield `no_metrics` rejects:
    /// that is a wrong export, so it is fatal.
    fn check_columns(&self, present: &[Option<usize>]) -> Result<(), String> {
        if COUNT_COLUMNS.iter().all(|&k| present[k].is_none()) {
            return Err("active_users, paid_seats or assigned_seats".to_string());
        }
        Ok(())
    }

    /// A shard takes a row when its tenant_id is one of its tenants, or, in shard 0, when the row has
    /// no valid tenant_id (a malformed row among them).
    fn keeps(&self, scratch: &mut UsageScratch, row: Option<&RowView<'_>>) -> bool {
        let Some(shard) = self.shard else { return true };
        let tenant = row.and_then(|row| scratch.tenant.uuid(row, Self::COLUMNS, 0).ok().flatten());
        match (tenant, scratch.kept) {
            (Some(tenant), Some((last, kept))) if tenant == last => kept,
            (Some(tenant), _) => {
                let kept = shard.keeps(Some(tenant));
                scratch.kept = Some((tenant, kept));
                kept
            }
            (None, _) => shard.keeps(None),
        }
    }

    /// Typed Parquet columns are read directly; a row not in its plain form (`plain_row`), and a
    /// row of a file whose columns are of other types, go through `parse`.
    fn parse_rows(
        &self,
        scratch: &mut UsageScratch,
        batch: &BatchView<'_>,
        rows: std::ops::Range<usize>,
        out: &mut [Option<Result<UsageRow, Fault>>],
    ) -> bool {
        let Some(columns) = UsageColumns::of(batch) else { return false };
        let mut last = LastViews::default();
        // A shard's verdict on the last tenant cell, by its view (see `LastViews`).
        let mut last_kept: Option<(u128, bool)> = None;
        for (slot, row) in out.iter_mut().zip(rows) {
            if self.shard.is_some() {
                let view = view_of(columns.tenant, row);
                let kept = match (view, last_kept) {
                    (Some(view), Some((last, kept))) if view == last => kept,
                    _ => {
                        let kept = self.keeps(scratch, Some(&batch.row(row)));
                        last_kept = view.map(|view| (view, kept));
                        kept
                    }
                };
                if !kept {
                    *slot = None;
                    continue;
                }
            }
            if self.plain_row(scratch, &mut last, &columns, row, slot).is_none() {
                *slot = Some(self.parse(scratch, &batch.row(row)));
            }
        }
        true
    }

    fn parse(&self, scratch: &mut UsageScratch, row: &RowView<'_>) -> Result<UsageRow, Fault> {
        let cols = Self::COLUMNS;
        missing(row, cols, &[0, 1, 3])?;
        let workload = self.workload(scratch, row)?;
        let tenant = required(scratch.tenant.uuid(row, cols, 0)?, cols, 0)?;
        let subscription = scratch.subscription.uuid(row, cols, 2)?;
        let date = match row.get(3) {
            Cell::Date(d) => Some(d).filter(|&d| date_in_range(d)),
            // A Parquet timestamp column at midnight UTC (pandas' way of storing dates) is a date.
            Cell::Timestamp(t) if timestamp_in_range(t) && t.rem_euclid(86_400 * MICROS_PER_SECOND) == 0 => {
                // In range, so a few million days: an i32 holds it.
                Some(t.div_euclid(86_400 * MICROS_PER_SECOND) as Days)
            }
            Cell::Text(t) => match (self.period, self.date_order) {
                (UsagePeriod::Day, DateOrder::Ymd) => parse_date(t),
                (UsagePeriod::Day, order) => parse_date_in(t, order),
                (UsagePeriod::Month, order) => parse_month(t, order),
            },
            _ => None,
        }
        // A monthly row's key is its month's first day, whatever day of the month it names.
        .map(|d| if self.period == UsagePeriod::Month { month_start(d) } else { d })
        .ok_or_else(|| {
            let form = match (self.period, self.date_order) {
                (UsagePeriod::Day, DateOrder::Ymd) => "a date YYYY-MM-DD",
                (UsagePeriod::Day, DateOrder::Mdy) => "a date YYYY-MM-DD or M/D/YYYY",
                (UsagePeriod::Day, DateOrder::Dmy) => "a date YYYY-MM-DD, D/M/YYYY or D.M.YYYY",
                (UsagePeriod::Month, _) => "a month YYYY-MM or a date of the month",
            };
            Fault::new(
                RejectReason::InvalidDate,
                format!("date {:?} is not {form} from year 0001 to 9999.", as_text(row.get(3)).unwrap_or_default()),
            )
        })?;
        let mut counts = [None; 3];
        for (slot, &k) in counts.iter_mut().zip(&COUNT_COLUMNS) {
            let cell = row.get(k);
            let count = match cell {
                Cell::Null => continue,
                Cell::Int(v) => u64::try_from(v).ok(),
                Cell::UInt(v) => Some(v),
                Cell::Float(v) if v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64 => Some(v as u64),
                Cell::Text(t) => parse_count(t),
                _ => None,
            };
            *slot = Some(count.ok_or_else(|| {
                Fault::new(
                    RejectReason::InvalidCount,
                    format!("{} {:?} is not a whole number ≥ 0.", cols[k].name, as_text(cell).unwrap_or_default()),
                )
            })?);
        }
        let counts = Counts::new(counts);
        if counts.is_empty() {
            return Err(Fault::new(
                RejectReason::NoMetrics,
                "None of active_users, paid_seats and assigned_seats is given.",
            ));
        }
        Ok(UsageRow { tenant, workload, subscription, date, counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_workloads_give_each_text_its_own_id_however_many_are_cycled_through() {
        let mut recent = RecentWorkloads::default();
        assert_eq!(recent.get(""), None, "a free slot is no workload");
        assert_eq!(recent.get("Teams"), None);
        // More texts than slots: some share a slot, and the later one takes it.
        let texts: Vec<String> = (0..3 * RECENT_WORKLOADS).map(|k| format!("Workload {k}")).collect();
        for (id, text) in texts.iter().enumerate() {
            recent.put(text, id as u32);
            assert_eq!(recent.get(text), Some(id as u32), "just put");
        }
        // Whatever is still found is found with its own id; nothing is found under another text's.
        let found: Vec<usize> = (0..texts.len()).filter(|&k| recent.get(&texts[k]).is_some()).collect();
        assert!(found.iter().all(|&k| recent.get(&texts[k]) == Some(k as u32)));
        assert!(found.len() > RECENT_WORKLOADS / 2, "most slots hold a text: {}", found.len());
        // A dozen workloads in two spellings, cycled through as a file sorted by date does: most
        // stay found (a few may share a slot).
        let mut recent = RecentWorkloads::default();
        let cycled: Vec<String> = (0..12).flat_map(|k| [format!("Product {k}"), format!("PRODUCT {k}")]).collect();
        for (id, text) in cycled.iter().enumerate() {
            recent.put(text, id as u32);
        }
        let kept = cycled.iter().enumerate().filter(|&(id, text)| recent.get(text) == Some(id as u32)).count();
        // (Four at most were, when the four last texts were kept.)
        assert!(kept >= cycled.len() / 2, "{kept} of {} kept", cycled.len());
        assert_eq!(recent.get("product 1"), None, "found by the text as written, case and all");
    }

    #[test]
    fn workloads_no_claim_names_are_numbered_after_the_claims_once_for_every_thread() {
        let known: FastMap<Box<str>, u32> = [("teams".into(), 0), ("intune".into(), 1)].into_iter().collect();
        let ids = WorkloadIds::new(known);
        assert_eq!((ids.id("teams"), ids.id("intune")), (0, 1));
        // Two threads meeting the same new workloads, in opposite orders, get the same two ids.
        let met = |names: [&str; 2]| names.map(|name| ids.id(name));
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| met(["power bi", "viva"]));
            let b = scope.spawn(|| met(["viva", "power bi"]));
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(a, [b[1], b[0]]);
        let mut new = a.to_vec();
        new.sort_unstable();
        assert_eq!(new, [2, 3], "after the claims' ids, without gaps");
        assert_eq!(ids.all().len(), 4);
        assert_eq!(ids.all().get("viva"), Some(&ids.id("viva")));
    }
}
