//! Usage rows after their own checks (SPEC 2.3, 4, 5): uniqueness of (tenant, workload,
//! subscription, date) — the first row in file order wins — then deferral of rows dated after the
//! local date of T, then keeping only the rows a report may need.
//!
//! Usage is the one large input, so this runs sharded by tenant, shards in parallel: a key's rows
//! all fall in one shard and each shard takes its rows in file order, so the outcome is exactly
//! that of one sequential pass.

use rayon::prelude::*;

use crate::hashing::{FastMap, FastSet};
use crate::records::{Counts, UsageRow, WorkloadKey};
use crate::rejects::{Fault, RejectReason};
use crate::types::{Days, Uuid};

const SHARDS: usize = 64;

/// What became of a record after the checks between records.
#[derive(Debug)]
pub enum Verdict {
    Accepted,
    Deferred,
    Rejected(Fault),
}

/// A usage row kept for reports, within its (tenant, workload) group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptRow {
    subscription: [u64; 2],
    has_subscription: bool,
    pub date: Days,
    pub counts: Counts,
}

impl KeptRow {
    pub fn new(subscription: Option<Uuid>, date: Days, counts: Counts) -> KeptRow {
        let value = subscription.map_or(0, |u| u.0);
        KeptRow {
            subscription: [(value >> 64) as u64, value as u64],
            has_subscription: subscription.is_some(),
            date,
            counts,
        }
    }

    pub fn subscription(&self) -> Option<Uuid> {
        self.has_subscription.then(|| Uuid(((self.subscription[0] as u128) << 64) | self.subscription[1] as u128))
    }

    /// Report order: date, then subscription with nulls first.
    pub fn sort_key(&self) -> (Days, bool, [u64; 2]) {
        (self.date, self.has_subscription, self.subscription)
    }
}

/// Lower-cased workload names and their ids; claims' workloads are interned first.
#[derive(Default)]
pub struct Workloads {
    ids: FastMap<Box<str>, u32>,
}

impl Workloads {
    pub fn intern(&mut self, lower: &str) -> u32 {
        if let Some(&id) = self.ids.get(lower) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(lower.into(), id);
        id
    }

    pub fn get(&self, lower: &str) -> Option<u32> {
        self.ids.get(lower).copied()
    }

    pub fn snapshot(&self) -> FastMap<Box<str>, u32> {
        self.ids.clone()
    }
}

/// The keys one tenant has taken: (subscription, date, workload), with the tenant implied. A
/// tenant's rows usually arrive together, so its few dozen keys stay in cache and are searched in a
/// line; a tenant with many rows moves to a hash set.
#[derive(Default)]
struct TenantKeys {
    few: Vec<[u32; 3]>,
    many: Option<FastSet<[u32; 3]>>,
}

const FEW_KEYS: usize = 48;

impl TenantKeys {
    /// Takes the key; false when the tenant already had it.
    fn insert(&mut self, key: [u32; 3]) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > FEW_KEYS {
            self.many = Some(std::mem::take(&mut self.few).into_iter().collect());
        }
        true
    }
}

/// One shard's state; subscriptions are small local numbers so that a key is 12 bytes.
#[derive(Default)]
struct Shard {
    tenants: FastMap<u128, u32>,
    keys: Vec<TenantKeys>,
    subscriptions: FastMap<u128, u32>,
    kept: FastMap<(Uuid, u32), Vec<KeptRow>>,
}

impl Shard {
    fn decide(&mut self, row: &UsageRow, workload: u32, last_day: Days, wanted: &FastSet<(Uuid, u32)>) -> Verdict {
        let next = self.keys.len() as u32;
        let tenant = *self.tenants.entry(row.tenant.0).or_insert(next);
        if tenant == next {
            self.keys.push(TenantKeys::default());
        }
        let subscription = match row.subscription {
            None => 0,
            Some(s) => {
                let next = self.subscriptions.len() as u32 + 1;
                *self.subscriptions.entry(s.0).or_insert(next)
            }
        };
        if !self.keys[tenant as usize].insert([subscription, row.date as u32, workload]) {
            return Verdict::Rejected(Fault::new(
                RejectReason::DuplicateUsageRow,
                "An earlier row has the same tenant_id, workload, subscription_id and date.",
            ));
        }
        if row.date > last_day {
            return Verdict::Deferred;
        }
        if wanted.contains(&(row.tenant, workload)) {
            self.kept.entry((row.tenant, workload)).or_default().push(KeptRow::new(
                row.subscription,
                row.date,
                row.counts,
            ));
        }
        Verdict::Accepted
    }
}

fn shard_of(tenant: Uuid) -> usize {
    let folded = (tenant.0 >> 64) as u64 ^ tenant.0 as u64;
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % SHARDS
}

/// The usage rows seen so far.
pub struct UsageIndex {
    workloads: Workloads,
    wanted: FastSet<(Uuid, u32)>,
    last_day: Days,
    shards: Vec<Shard>,
}

/// The rows kept for reports, grouped by (tenant, workload id) and sorted in report order.
pub struct KeptUsage {
    pub workloads: Workloads,
    pub groups: FastMap<(Uuid, u32), Vec<KeptRow>>,
}

impl UsageIndex {
    /// `wanted`: the (tenant, lower-cased workload) of every claim with a report; `last_day`: the
    /// local date of T, after which rows are deferred.
    pub fn new(wanted: impl Iterator<Item = (Uuid, String)>, last_day: Days) -> UsageIndex {
        let mut workloads = Workloads::default();
        let wanted = wanted.map(|(tenant, workload)| (tenant, workloads.intern(&workload))).collect();
        UsageIndex { workloads, wanted, last_day, shards: (0..SHARDS).map(|_| Shard::default()).collect() }
    }

    /// The workloads known before reading usage, for the parser.
    pub fn known_workloads(&self) -> FastMap<Box<str>, u32> {
        self.workloads.snapshot()
    }

    /// Decides a batch of rows, in file order; returns one verdict per row.
    pub fn decide(&mut self, rows: Vec<UsageRow>) -> Vec<Verdict> {
        let workloads: Vec<u32> = rows
            .iter()
            .map(|row| match &row.workload {
                WorkloadKey::Known(id) => *id,
                WorkloadKey::Other(name) => self.workloads.intern(name),
            })
            .collect();
        let mut by_shard: Vec<Vec<usize>> = vec![Vec::new(); SHARDS];
        for (i, row) in rows.iter().enumerate() {
            by_shard[shard_of(row.tenant)].push(i);
        }
        let (last_day, wanted) = (self.last_day, &self.wanted);
        let decided: Vec<Vec<(usize, Verdict)>> = self
            .shards
            .par_iter_mut()
            .zip(by_shard)
            .map(|(shard, members)| {
                members.into_iter().map(|i| (i, shard.decide(&rows[i], workloads[i], last_day, wanted))).collect()
            })
            .collect();
        let mut verdicts: Vec<Option<Verdict>> = (0..rows.len()).map(|_| None).collect();
        for (i, verdict) in decided.into_iter().flatten() {
            verdicts[i] = Some(verdict);
        }
        verdicts.into_iter().map(|v| v.expect("every row is in one shard")).collect()
    }

    /// Ends reading: drops the key sets and sorts each kept group in report order.
    pub fn finish(self) -> KeptUsage {
        let mut groups: FastMap<(Uuid, u32), Vec<KeptRow>> = FastMap::default();
        for shard in self.shards {
            groups.extend(shard.kept);
        }
        groups.par_iter_mut().for_each(|(_, rows)| rows.sort_by_key(KeptRow::sort_key));
        KeptUsage { workloads: self.workloads, groups }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: u128, workload: &str, sub: Option<u128>, date: Days) -> UsageRow {
        UsageRow {
            tenant: Uuid(tenant),
            workload: WorkloadKey::Other(workload.into()),
            subscription: sub.map(Uuid),
            date,
            counts: Counts::new([Some(1), None, None]),
        }
    }

    #[test]
    fn first_of_a_key_wins_then_deferral_then_keeping() {
        let mut index = UsageIndex::new([(Uuid(1), "teams".to_string())].into_iter(), 10);
        let verdicts = index.decide(vec![
            row(1, "teams", None, 5),
            row(1, "teams", None, 5),    // same key, no subscription on either: duplicate
            row(1, "teams", Some(7), 5), // another subscription
            row(1, "intune", None, 5),   // another workload: accepted, not kept
            row(2, "teams", None, 5),    // another tenant: accepted, not kept
            row(1, "teams", None, 11),   // after the local date of T: deferred
        ]);
        let names: Vec<&str> = verdicts
            .iter()
            .map(|v| match v {
                Verdict::Accepted => "accepted",
                Verdict::Deferred => "deferred",
                Verdict::Rejected(f) => f.reason.as_str(),
            })
            .collect();
        assert_eq!(names, ["accepted", "duplicate_usage_row", "accepted", "accepted", "accepted", "deferred"]);
        // A later batch still sees earlier keys, even a deferred one.
        let verdicts = index.decide(vec![row(1, "teams", None, 11), row(1, "teams", Some(7), 6)]);
        assert!(matches!(verdicts[0], Verdict::Rejected(_)));
        assert!(matches!(verdicts[1], Verdict::Accepted));
        let kept = index.finish();
        let teams = kept.workloads.get("teams").unwrap();
        let group = &kept.groups[&(Uuid(1), teams)];
        let order: Vec<(Days, Option<Uuid>)> = group.iter().map(|r| (r.date, r.subscription())).collect();
        assert_eq!(order, [(5, None), (5, Some(Uuid(7))), (6, Some(Uuid(7)))]);
        assert_eq!(kept.groups.len(), 1);
    }

    #[test]
    fn a_tenant_with_many_keys_still_finds_its_duplicates() {
        let mut index = UsageIndex::new(std::iter::empty(), 10_000);
        let rows: Vec<UsageRow> = (0..200).map(|d| row(9, "teams", Some(d % 3), d as Days)).collect();
        let again: Vec<UsageRow> = (0..200).map(|d| row(9, "teams", Some(d % 3), d as Days)).collect();
        let first = index.decide(rows);
        assert!(first.iter().all(|v| matches!(v, Verdict::Accepted)));
        let second = index.decide(again);
        assert!(second.iter().all(|v| matches!(v, Verdict::Rejected(_))));
    }
}
