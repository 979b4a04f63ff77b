//! Partner-scoped usage reports (SPEC 5): which usage rows a partner may see, and the starting
//! high-water mark.
//!
//! A usage row belongs to a claim's report when, and only when, its tenant equals the claim's, its
//! workload equals the claim's (case-insensitively), for a subscription-scoped engagement its
//! subscription equals the claim's, and its date lies in the access window. [`report_rows`] is the one
//! place that rule is written.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::calendar::Calendar;
use crate::evaluate::Evaluation;
use crate::records::{Claim, UsageRow};
use crate::types::{Days, Micros, Scope, Uuid};

/// A usage row kept for reports, within its (tenant, workload) group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptRow {
    pub subscription: Option<Uuid>,
    pub date: Days,
    pub active_users: Option<u64>,
    pub paid_seats: Option<u64>,
    pub assigned_seats: Option<u64>,
}

/// The identity of a usage row (SPEC 2.3): tenant, workload (interned, lower case), subscription, date.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct UsageKey {
    tenant: [u64; 2],
    subscription: [u64; 2],
    date: Days,
    /// Interned workload; the top bit marks a present subscription.
    workload: u32,
}

fn halves(u: Uuid) -> [u64; 2] {
    [(u.0 >> 64) as u64, u.0 as u64]
}

/// Usage rows seen so far: which keys were taken, and the rows kept for reports, grouped by tenant
/// and workload.
pub struct UsageIndex {
    workloads: HashMap<Box<str>, u32>,
    wanted: HashSet<(Uuid, u32)>,
    seen: HashSet<UsageKey>,
    kept: HashMap<(Uuid, u32), Vec<KeptRow>>,
}

impl UsageIndex {
    /// `wanted`: the (tenant, lower-cased workload) pairs of the claims that get a report.
    pub fn new(wanted: impl Iterator<Item = (Uuid, String)>) -> UsageIndex {
        let mut index = UsageIndex {
            workloads: HashMap::new(),
            wanted: HashSet::new(),
            seen: HashSet::new(),
            kept: HashMap::new(),
        };
        for (tenant, workload) in wanted {
            let id = index.intern(&workload);
            index.wanted.insert((tenant, id));
        }
        index
    }

    fn intern(&mut self, workload: &str) -> u32 {
        if let Some(&id) = self.workloads.get(workload) {
            return id;
        }
        let id = self.workloads.len() as u32;
        assert!(id < 1 << 31, "more than 2^31 distinct workloads");
        self.workloads.insert(workload.into(), id);
        id
    }

    /// Takes the row's key; `None` when an earlier row already had it (the first in file order wins).
    pub fn first_of_key(&mut self, row: &UsageRow) -> Option<u32> {
        let workload = self.intern(&row.workload);
        let key = UsageKey {
            tenant: halves(row.tenant),
            subscription: row.subscription.map_or([0, 0], halves),
            date: row.date,
            workload: workload | if row.subscription.is_some() { 1 << 31 } else { 0 },
        };
        self.seen.insert(key).then_some(workload)
    }

    /// Keeps an accepted row when some report may need it.
    pub fn keep(&mut self, row: UsageRow, workload: u32) {
        if self.wanted.contains(&(row.tenant, workload)) {
            self.kept.entry((row.tenant, workload)).or_default().push(KeptRow {
                subscription: row.subscription,
                date: row.date,
                active_users: row.active_users,
                paid_seats: row.paid_seats,
                assigned_seats: row.assigned_seats,
            });
        }
    }
}

/// One claim's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Sorted by (date, subscription_id with nulls first).
    pub rows: Vec<KeptRow>,
    /// The largest active_users among the scope's rows dated before the access window.
    pub starting_hwm: Option<u64>,
    /// The access window, [first, end) in local dates.
    pub window: (Days, Days),
}

/// The access window (SPEC 5): from the local date of official_at to the local date of ended_at
/// (exclusive) for a revoked claim, or to the local date of T (inclusive).
pub fn access_window(
    official_at: Micros,
    ended_at: Option<Micros>,
    calendar: &Calendar,
    as_of: Micros,
) -> (Days, Days) {
    let first = calendar.local_date(official_at);
    let end = match ended_at {
        Some(ended) => calendar.local_date(ended),
        None => calendar.local_date(as_of) + 1,
    };
    (first, end.max(first))
}

/// The rows of one claim's report and its starting high-water mark. `group` holds the usage rows of
/// the claim's tenant and workload, sorted by (date, subscription).
pub fn report_rows(claim: &Claim, group: &[KeptRow], window: (Days, Days)) -> Report {
    let in_scope = |row: &&KeptRow| match claim.engagement.scope() {
        Scope::Workload => true,
        Scope::Subscription => row.subscription == claim.subscription,
    };
    let rows =
        group.iter().filter(in_scope).filter(|row| row.date >= window.0 && row.date < window.1).copied().collect();
    let starting_hwm =
        group.iter().filter(in_scope).filter(|row| row.date < window.0).filter_map(|row| row.active_users).max();
    Report { rows, starting_hwm, window }
}

/// Builds every claim's report, in parallel; `None` for claims without one.
pub fn build_reports(
    claims: &[Claim],
    evaluations: &[Evaluation],
    mut index: UsageIndex,
    calendar: &Calendar,
    as_of: Micros,
) -> Vec<Option<Report>> {
    index.seen = HashSet::new();
    let mut groups: Vec<(&(Uuid, u32), &mut Vec<KeptRow>)> = index.kept.iter_mut().collect();
    groups.par_iter_mut().for_each(|(_, rows)| rows.sort_by_key(|r| (r.date, r.subscription)));
    let kept = &index.kept;
    let workloads = &index.workloads;
    claims
        .par_iter()
        .zip(evaluations)
        .map(|(claim, evaluation)| {
            let official_at = evaluation.official_at()?;
            let window = access_window(official_at, evaluation.walk.ended_at, calendar, as_of);
            let group = workloads
                .get(claim.workload.to_lowercase().as_str())
                .and_then(|&w| kept.get(&(claim.tenant, w)))
                .map_or(&[][..], Vec::as_slice);
            Some(report_rows(claim, group, window))
        })
        .collect()
}
