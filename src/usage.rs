//! Usage rows after their own checks (SPEC 2.3, 4, 5, 6): uniqueness of (tenant, workload,
//! subscription, date) — the first row in file order wins; SPEC 6's one check between records that
//! is not in `checks`, because it is decided inside this index — then deferral of rows dated after
//! the local date of T, then keeping only what a report may need of the rows (`crate::report::Reach`).
//!
//! Usage is the one large input, so this runs split by tenant into buckets, buckets in parallel: a key's rows
//! all fall in one bucket and each bucket takes its rows in file order, so the outcome is exactly
//! that of one sequential pass.
//!
//! Keys are remembered per series — the rows of one tenant, workload and subscription — as a bit per
//! day, so that they cost memory per series rather than per row (see `Series`); a series is found
//! through its tenant, whose rows come together (see `Bucket::tenants`).
//!
//! Monthly usage (SPEC 9.3, `--usage-period month`) needs nothing here: its parser gives each row its
//! month's first day as its date, so that date is the key (a second row of the month is a duplicate),
//! a row is deferred when its month starts after the local date of T, and the kept rows carry the
//! month's first day into the reports, where `crate::report` takes each row's whole period.
//!
//! The keys taken so far grow with the input. When they would not fit the memory budget, the input
//! is read in several passes, each deciding the rows of one group of tenants (and the first pass
//! also the rows that failed their own checks); a pass's keys are dropped when it ends.
//! Only the kept rows — what the reports need — stay from pass to pass. They are appended to large
//! blocks per bucket rather than to a small array per group, so that the small blocks of a pass's
//! keys do not share allocator pages with them: the next pass reuses those pages whole (see
//! `KeptRows`).

use hashbrown::HashTable;
use rayon::prelude::*;
use std::ops::Range;

use crate::checks::Verdict;
use crate::hashing::{fixed_hash, FastMap, FastSet};
use crate::input::Checked;
use crate::records::{Counts, UsageRow};
use crate::rejects::{Fault, RejectReason};
use crate::report::{Need, Reach};
use crate::types::{with_lowercase, Days, Uuid};
use crate::values::UsagePeriod;

const BUCKETS: usize = 64;

/// Runs of a bucket whose first rows are read ahead together (`Bucket::warm`).
const WARM_RUNS: usize = 32;

/// A usage row kept for reports, within its (tenant, workload) group: 48 bytes, its counts' and
/// subscription's presence in one byte (`Counts` apart would round it up to 56). Tens of millions
/// are kept on the `large` profile, written once and read by the reports (BENCHMARKS.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptRow {
    subscription: [u64; 2],
    counts: [u64; 3],
    pub date: Days,
    /// Bits 0–2: which counts are present (`Counts`); bit 3: a subscription.
    flags: u8,
}

/// `KeptRow::flags`' bit of a subscription.
const HAS_SUBSCRIPTION: u8 = 1 << 3;

impl KeptRow {
    pub fn new(subscription: Option<Uuid>, date: Days, counts: Counts) -> KeptRow {
        let value = subscription.map_or(0, |u| u.0);
        let (values, present) = counts.parts();
        KeptRow {
            subscription: [(value >> 64) as u64, value as u64],
            counts: values,
            date,
            flags: present | if subscription.is_some() { HAS_SUBSCRIPTION } else { 0 },
        }
    }

    pub fn has_subscription(&self) -> bool {
        self.flags & HAS_SUBSCRIPTION != 0
    }

    pub fn subscription(&self) -> Option<Uuid> {
        self.has_subscription().then(|| Uuid(((self.subscription[0] as u128) << 64) | self.subscription[1] as u128))
    }

    pub fn counts(&self) -> Counts {
        Counts::from_parts(self.counts, self.flags & !HAS_SUBSCRIPTION)
    }

    /// Report order: date, then subscription with nulls first.
    pub fn sort_key(&self) -> (Days, bool, [u64; 2]) {
        (self.date, self.has_subscription(), self.subscription)
    }
}

/// Lower-cased names of the workloads claims name, and their ids from 0 (usage rows of other
/// workloads get ids after them: `crate::records::WorkloadIds`).
#[derive(Default)]
pub struct Workloads {
    ids: FastMap<Box<str>, u32>,
}

/// Claims' workload names numbered per chunk of this many, chunks on every core (`Workloads::of`).
const NAMES_PER_CHUNK: usize = 1 << 16;

impl Workloads {
    /// The workloads that `items` name (`name`, in any letter case), numbered as they first come,
    /// and each item's workload number. Chunks of `chunk` items are numbered on every core, each on
    /// its own, then merged in order: a workload first comes in the first chunk that names it, so the
    /// numbers are those of one walk of the items. Run for every claim with a report, on one core
    /// this was a third of the 0.37 s the large profile's usage index took to make (BENCHMARKS.md).
    fn of<T: Sync>(items: &[T], name: impl Fn(&T) -> &str + Sync, chunk: usize) -> (Workloads, Vec<u32>) {
        let chunks: Vec<(Workloads, Vec<u32>)> = items
            .par_chunks(chunk.max(1))
            .map(|chunk| {
                let mut local = Workloads::default();
                // Lower-cased without allocating.
                let ids = chunk.iter().map(|item| with_lowercase(name(item), |lower| local.intern(lower))).collect();
                (local, ids)
            })
            .collect();
        let mut all = Workloads::default();
        let mut ids = Vec::with_capacity(items.len());
        for (local, local_ids) in chunks {
            let mut names = vec![""; local.ids.len()];
            for (name, &id) in &local.ids {
                names[id as usize] = name;
            }
            let global: Vec<u32> = names.into_iter().map(|name| all.intern(name)).collect();
            ids.extend(local_ids.into_iter().map(|id| global[id as usize]));
        }
        (all, ids)
    }

    pub fn intern(&mut self, lower: &str) -> u32 {
        if let Some(&id) = self.ids.get(lower) {
            return id;
        }
        let id = self.ids.len() as u32;
        self.ids.insert(lower.into(), id);
        id
    }

    pub fn snapshot(&self) -> FastMap<Box<str>, u32> {
        self.ids.clone()
    }
}

/// A series: the rows of one tenant, workload and subscription (or none), whose dates are the
/// keys they take.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
struct SeriesKey {
    tenant: [u64; 2],
    subscription: [u64; 2],
    has_subscription: bool,
    workload: u32,
}

impl SeriesKey {
    fn of(row: &UsageRow) -> SeriesKey {
        let tenant = row.tenant.0;
        let subscription = row.subscription.map_or(0, |s| s.0);
        SeriesKey {
            tenant: [(tenant >> 64) as u64, tenant as u64],
            subscription: [(subscription >> 64) as u64, subscription as u64],
            has_subscription: row.subscription.is_some(),
            workload: row.workload,
        }
    }
}

/// The hash of a tenant's UUID in a bucket's table of tenants.
fn tenant_hash(tenant: &[u64; 2]) -> u64 {
    fixed_hash(tenant)
}

/// Days of a series taken so far: a bit per day for the `NEAR_DAYS` days from `base` (which starts
/// half of them before the series' first row), other days in the bucket's `far` set. Daily usage
/// of a series lies within a few months, so a key costs a bit, not an entry in a hash set.
struct Series {
    base: Days,
    near: [u64; 2],
    /// The series' group of kept rows (see `UsageIndex::wanted`), or `NOT_WANTED`, and what its
    /// reports need of its rows: the group's `Wanted::reach`, copied here when the series is made,
    /// as it is read for every row, beside the series' other fields.
    group: u32,
    reach: Reach,
    /// The series' row in its bucket's `before` (`NO_BEFORE`: none yet).
    before: u32,
    /// The series' key but its tenant, and the number of the tenant's series made before it
    /// (`NO_SERIES`: none): a tenant's series are a list, newest first (see `Bucket::series`).
    workload: u32,
    has_subscription: bool,
    subscription: [u64; 2],
    previous: u32,
}

impl Series {
    /// Whether this is the series of `key`, one of its tenant's.
    fn is_of(&self, key: &SeriesKey) -> bool {
        self.workload == key.workload
            && self.has_subscription == key.has_subscription
            && self.subscription == key.subscription
    }
}

const NEAR_DAYS: i64 = 128;
const NOT_WANTED: u32 = u32::MAX;
const NO_SERIES: u32 = u32::MAX;
const NO_BEFORE: u32 = u32::MAX;

/// A tenant's series so far: the newest, which starts their list, and how many there are; and the
/// tenant's wanted workloads (`Wanted::of_tenant`), found once per tenant rather than per series.
#[derive(Clone, Copy)]
struct TenantSeries {
    newest: u32,
    count: u32,
    wanted: WantedRange,
}

/// The most series of one tenant found by walking its list; a tenant with more (a hostile input's
/// thousands of subscriptions) has them all in the bucket's `series_of` map instead.
const FEW_SERIES: u32 = 16;

/// One bucket's state.
#[derive(Default)]
struct Bucket {
    /// Each tenant's series. A tenant has a few workloads and subscriptions, so a series is found
    /// by one lookup in this small table and a short walk, not by a lookup per series in a map of
    /// them all, which missed the cache for every series' first row (BENCHMARKS.md). Keyed by the
    /// tenant's UUID (`tenant_hash`); a table rather than a map, so that `warm` can read a tenant's
    /// slot apart from its entry.
    tenants: HashTable<([u64; 2], TenantSeries)>,
    /// The tenant of the bucket's previous row, and its series: a tenant's rows come together.
    tenant: Option<([u64; 2], TenantSeries)>,
    /// The series of the tenants with more than `FEW_SERIES`.
    series_of: FastMap<SeriesKey, u32>,
    series: Vec<Series>,
    far: FastSet<(u32, Days)>,
    /// The series of the bucket's previous row: a series' rows usually come together.
    last: Option<(SeriesKey, u32)>,
    /// Kept rows in the order they came, with their group numbers (see `UsageIndex::wanted`).
    kept: KeptRows,
    /// For each series with rows before every window of its group (`Reach`), a row of their
    /// largest active_users, with its group: what the reports need of those rows. Kept from pass to
    /// pass, as `kept` is.
    before: Vec<(u32, KeptRow)>,
    /// The current batch's rows of this bucket, in file order: runs of consecutive rows of one
    /// tenant that passed their own checks, as ranges of row numbers.
    members: Vec<Range<u32>>,
}

impl Bucket {
    /// Reads what `series` and `take` will read for runs starting with `rows` (at most
    /// `WARM_RUNS`) — each row, its tenant's slot and entry, the series it walks to its own — and
    /// nothing else: called for a chunk of runs before they are decided, so that their cache
    /// misses overlap. Rows not grouped by tenant (a file sorted by date, or in no order) make a
    /// run of every few rows, each in a place of the batch far from the last; one after the
    /// other, the decisions waited for each miss in turn (BENCHMARKS.md).
    ///
    /// Each kind of read is done for all the runs before the next kind: the tenants' slots, then
    /// their entries, then their lists of series, a step at a time. The reads of one kind do not
    /// wait on one another, where one run's reads waited on each other in turn (a tenant's series
    /// lie far apart when its rows are spread over the file).
    fn warm<'r>(&self, rows: impl Iterator<Item = &'r UsageRow>) {
        let touch = |series: &Series| std::hint::black_box(series.near[0]);
        // Each run's key and the next series of its tenant's list to read.
        let mut walks = [(SeriesKey::default(), NO_SERIES); WARM_RUNS];
        let mut hashes = [0; WARM_RUNS];
        // First the tenants' slots in the table alone (a probe that matches no entry reads none),
        // then their entries; a run's walk is written at or before its own place.
        let mut keys = 0;
        for row in rows.take(WARM_RUNS) {
            walks[keys].0 = SeriesKey::of(row);
            hashes[keys] = tenant_hash(&walks[keys].0.tenant);
            std::hint::black_box(self.tenants.find(hashes[keys], |_| false));
            keys += 1;
        }
        let mut open = 0;
        for k in 0..keys {
            let key = walks[k].0;
            let Some(&(_, tenant)) = self.tenants.find(hashes[k], |(t, _)| *t == key.tenant) else { continue };
            if tenant.count > FEW_SERIES {
                self.find(tenant, &key).and_then(|number| self.series.get(number as usize)).map(touch);
            } else {
                walks[open] = (key, tenant.newest);
                open += 1;
            }
        }
        while open > 0 {
            let mut still = 0;
            for k in 0..open {
                let (key, number) = walks[k];
                match self.series.get(number as usize) {
                    Some(series) if series.is_of(&key) => {
                        touch(series);
                    }
                    Some(series) => {
                        walks[still] = (key, series.previous);
                        still += 1;
                    }
                    None => {}
                }
            }
            open = still;
        }
    }

    /// Drops the keys taken so far, keeping the kept rows.
    fn forget_keys(&mut self) {
        self.tenants = HashTable::new();
        self.tenant = None;
        self.series_of = FastMap::default();
        self.series = Vec::new();
        self.far = FastSet::default();
        self.last = None;
    }

    /// The number of the row's series, made when it is the series' first row.
    fn series(&mut self, key: SeriesKey, date: Days, wanted: &Wanted) -> u32 {
        if let Some((last, number)) = self.last {
            if last == key {
                return number;
            }
        }
        let tenant = match self.tenant {
            Some((last, tenant)) if last == key.tenant => tenant,
            _ => {
                let hash = tenant_hash(&key.tenant);
                let entry = self.tenants.entry(hash, |(t, _)| *t == key.tenant, |(t, _)| tenant_hash(t));
                let (_, tenant) = *entry
                    .or_insert_with(|| {
                        let uuid = Uuid(((key.tenant[0] as u128) << 64) | key.tenant[1] as u128);
                        (key.tenant, TenantSeries { newest: NO_SERIES, count: 0, wanted: wanted.of_tenant(uuid) })
                    })
                    .get();
                self.tenant = Some((key.tenant, tenant));
                tenant
            }
        };
        let number = self.find(tenant, &key).unwrap_or_else(|| self.add(key, date, tenant, wanted));
        self.last = Some((key, number));
        number
    }

    /// The series of `key` among its tenant's (`tenant`): in the map of series for a tenant of
    /// more than `FEW_SERIES`, else by walking their list from the newest.
    fn find(&self, tenant: TenantSeries, key: &SeriesKey) -> Option<u32> {
        if tenant.count > FEW_SERIES {
            return self.series_of.get(key).copied();
        }
        let mut number = tenant.newest;
        while let Some(series) = self.series.get(number as usize) {
            if series.is_of(key) {
                return Some(number);
            }
            number = series.previous;
        }
        None
    }

    /// Makes the series of `key`, the newest of its tenant's (`tenant`, before it).
    fn add(&mut self, key: SeriesKey, date: Days, tenant: TenantSeries, wanted: &Wanted) -> u32 {
        let number = self.series.len() as u32;
        let group = wanted.group(tenant.wanted, key.workload);
        self.series.push(Series {
            base: date.saturating_sub((NEAR_DAYS / 2) as Days),
            near: [0; 2],
            group: group.unwrap_or(NOT_WANTED),
            reach: group.map_or(Reach::ALL, |group| wanted.reach[group as usize]),
            before: NO_BEFORE,
            workload: key.workload,
            has_subscription: key.has_subscription,
            subscription: key.subscription,
            previous: tenant.newest,
        });
        let count = tenant.count.saturating_add(1);
        if count > FEW_SERIES {
            if tenant.count == FEW_SERIES {
                // The tenant's list grew too long to walk: its series move into the map.
                let mut listed = tenant.newest;
                while let Some(series) = self.series.get(listed as usize) {
                    let moved = SeriesKey {
                        tenant: key.tenant,
                        subscription: series.subscription,
                        has_subscription: series.has_subscription,
                        workload: series.workload,
                    };
                    self.series_of.insert(moved, listed);
                    listed = series.previous;
                }
            }
            self.series_of.insert(key, number);
        }
        let tenant = TenantSeries { newest: number, count, wanted: tenant.wanted };
        // The tenant is in the table: put there by `series` at this row, or at an earlier one.
        let hash = tenant_hash(&key.tenant);
        if let Some((_, entry)) = self.tenants.find_mut(hash, |(t, _)| *t == key.tenant) {
            *entry = tenant;
        }
        self.tenant = Some((key.tenant, tenant));
        number
    }

    /// Takes the key (series, date); false when an earlier row took it.
    fn take(&mut self, number: u32, date: Days) -> bool {
        let series = &mut self.series[number as usize];
        let offset = date as i64 - series.base as i64;
        if (0..NEAR_DAYS).contains(&offset) {
            let (word, bit) = ((offset / 64) as usize, offset % 64);
            let taken = series.near[word] >> bit & 1 == 1;
            series.near[word] |= 1 << bit;
            return !taken;
        }
        self.far.insert((number, date))
    }

    /// The verdict on a row that passed its own checks; `None` when it is accepted. An accepted row
    /// of a wanted group is kept as its reports need it (`Reach::need`).
    fn decide(&mut self, row: &UsageRow, last_day: Days, wanted: &Wanted, period: UsagePeriod) -> Option<Verdict> {
        let number = self.series(SeriesKey::of(row), row.date, wanted);
        if !self.take(number, row.date) {
            return Some(Verdict::Rejected(Fault::new(
                RejectReason::DuplicateUsageRow,
                "An earlier row has the same tenant_id, workload, subscription_id and date.",
            )));
        }
        if row.date > last_day {
            return Some(Verdict::Deferred);
        }
        let series = &mut self.series[number as usize];
        if series.group == NOT_WANTED {
            return None;
        }
        match series.reach.need(row.date, period) {
            Need::Row => self.kept.push(series.group, KeptRow::new(row.subscription, row.date, row.counts)),
            Need::Before => {
                let active_users = row.counts.active_users();
                let stands_for = KeptRow::new(row.subscription, row.date, Counts::new([active_users, None, None]));
                match self.before.get_mut(series.before as usize) {
                    Some((_, most)) if active_users > most.counts().active_users() => *most = stands_for,
                    Some(_) => {}
                    None => {
                        series.before = self.before.len() as u32;
                        self.before.push((series.group, stands_for));
                    }
                }
            }
            Need::Nothing => {}
        }
        None
    }
}

/// A group of kept rows: its number, its block and its rows there.
type GroupRows = (u32, usize, Range<usize>);

/// Rows per block of a bucket's kept rows (3 MiB of them).
const KEPT_BLOCK_ROWS: usize = 1 << 16;

/// A bucket's kept rows, in the order they came, in blocks of `KEPT_BLOCK_ROWS`, and each row's
/// group. One array grown by doubling copied each row again at every doubling, on fresh pages: 0.8
/// CPU-s of page faults and copies on the `large` profile (BENCHMARKS.md); a full block is kept as it
/// is and the next rows go to a new one. A run of one group's rows — the rows of a (tenant, workload)
/// mostly come together — lies in one block: when a block fills up in the middle of a run, the run's
/// rows so far move to the next block, so that a group that came in one run is one slice.
#[derive(Default)]
struct KeptRows {
    blocks: Vec<Vec<KeptRow>>,
    /// Each row's group, in the order the rows came (all blocks together).
    groups: Vec<u32>,
    /// Where the current run starts in the last block.
    run_start: usize,
}

impl KeptRows {
    fn push(&mut self, group: u32, row: KeptRow) {
        let continues = self.groups.last() == Some(&group);
        let last = self.blocks.last().map_or(0, Vec::len);
        if !continues {
            self.run_start = last;
        }
        let full = self.blocks.last().is_none_or(|block| block.len() == block.capacity());
        // A block that holds only the current run grows instead: a run lies in one block.
        if full && !(continues && self.run_start == 0) {
            let run = match self.blocks.last_mut() {
                Some(block) if continues => block.split_off(self.run_start),
                _ => Vec::new(),
            };
            let mut block = Vec::with_capacity(KEPT_BLOCK_ROWS.max(2 * run.len()));
            block.extend(run);
            self.blocks.push(block);
            self.run_start = 0;
        }
        if let Some(block) = self.blocks.last_mut() {
            block.push(row);
        }
        self.groups.push(group);
    }

    /// The blocks with each group's rows together in one of them, in report order, and each group's
    /// block and range of rows. When each group's rows came in one run (the usual case), the blocks
    /// are kept as they are and only a group's own rows are sorted, when not in order already. Else
    /// the rows are placed in one new block, group by group, counted and placed in two passes: a sort
    /// of all the bucket's rows by group took a second of both cores on the `large` profile.
    fn into_groups(self) -> (Vec<Vec<KeptRow>>, Vec<GroupRows>) {
        let KeptRows { mut blocks, groups, .. } = self;
        // First each group's row count (as `0..count`).
        let mut places = GroupPlaces::default();
        for &group in &groups {
            let place = places.of(group);
            places.groups[place].1.end += 1;
        }
        let located: Vec<GroupRows> = if places.runs == places.groups.len() {
            // Each group is one run, in one block: its range there, the runs in the order they came.
            let mut located = Vec::with_capacity(places.groups.len());
            let mut offset = 0;
            for (number, block) in blocks.iter().enumerate() {
                let mut start = 0;
                for run in groups.get(offset..offset + block.len()).unwrap_or_default().chunk_by(|a, b| a == b) {
                    located.push((run[0], number, start..start + run.len()));
                    start += run.len();
                }
                offset += block.len();
            }
            located
        } else {
            let mut start = 0;
            for (_, range) in &mut places.groups {
                *range = start..start + range.end;
                start = range.end;
            }
            let mut next: Vec<usize> = places.groups.iter().map(|(_, range)| range.start).collect();
            let mut placed = vec![KeptRow::default(); groups.len()];
            for (&group, row) in groups.iter().zip(blocks.iter().flatten()) {
                let place = places.of(group);
                placed[next[place]] = *row;
                next[place] += 1;
            }
            blocks = vec![placed];
            places.groups.into_iter().map(|(group, range)| (group, 0, range)).collect()
        };
        for (_, block, range) in &located {
            if let Some(rows) = blocks.get_mut(*block).and_then(|rows| rows.get_mut(range.clone())) {
                if !rows.is_sorted_by_key(KeptRow::sort_key) {
                    rows.sort_unstable_by_key(KeptRow::sort_key);
                }
            }
        }
        (blocks, located)
    }
}

/// The groups of a bucket's kept rows in the order they first came, each with its rows' count or
/// range (see `Bucket::into_groups`).
#[derive(Default)]
struct GroupPlaces {
    groups: Vec<(u32, Range<usize>)>,
    place_of: FastMap<u32, usize>,
    /// The group of the previous row and its place: a group's rows come in runs.
    last: Option<(u32, usize)>,
    /// Runs of one group's rows seen so far.
    runs: usize,
}

impl GroupPlaces {
    /// The group's place among `groups`, added when it is new.
    fn of(&mut self, group: u32) -> usize {
        if let Some((last, place)) = self.last {
            if last == group {
                return place;
            }
        }
        self.runs += 1;
        let place = *self.place_of.entry(group).or_insert(self.groups.len());
        if place == self.groups.len() {
            self.groups.push((group, 0..0));
        }
        self.last = Some((group, place));
        place
    }
}

fn bucket_of(tenant: Uuid) -> usize {
    let folded = (tenant.0 >> 64) as u64 ^ tenant.0 as u64;
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % BUCKETS
}

/// The pass that decides a tenant's rows, of `passes`; independent of the bucket.
fn pass_of(tenant: Uuid, passes: usize) -> usize {
    let folded = (tenant.0 >> 64) as u64 ^ tenant.0 as u64;
    ((folded.wrapping_mul(0xd6e8_feb8_6659_fd93) >> 32) % passes as u64) as usize
}

/// Bytes of memory the keys take per usage row while its pass runs, from above: a series costs
/// 60–120 bytes in its growing vector (up to 200 with a map entry, for a tenant of many series) and
/// daily data has a few dozen rows per series (about 4 bytes per row on the `large` profile); a row
/// dated far from its series' first adds about 10.
pub const KEY_BYTES_PER_ROW: u64 = 16;

/// Passes cap: beyond it each pass would reread the input for a sliver of the tenants.
pub const MAX_PASSES: usize = 1024;

/// The number of passes that keeps the keys of `rows` usage rows within `budget` bytes.
pub fn passes_for(rows: u64, budget: u64) -> usize {
    let needed = rows.saturating_mul(KEY_BYTES_PER_ROW).div_ceil(budget.max(1));
    needed.clamp(1, MAX_PASSES as u64) as usize
}

/// The (tenant, workload id) pairs whose rows are kept, each with its group number, found through
/// their tenant: a series' group is looked up in its tenant's few pairs, found once per tenant.
/// A map of every pair, looked up for each of the large profile's ~2 million series, missed the
/// cache every time (BENCHMARKS.md).
struct Wanted {
    /// Each tenant's range of groups.
    tenants: FastMap<Uuid, WantedRange>,
    /// Per group, its workload id: groups are numbered in (tenant, workload) order, so a tenant's
    /// are together and sorted by workload.
    workloads: Vec<u32>,
    /// Per group, what its reports need of its rows.
    reach: Vec<Reach>,
}

/// A tenant's range of groups (`Wanted::workloads`); empty for a tenant no report wants.
#[derive(Clone, Copy, Default)]
struct WantedRange {
    start: u32,
    end: u32,
}

impl Wanted {
    /// The groups of `claims` — each claim's tenant, workload id and reach — a group per (tenant,
    /// workload) pair, its reach widened to all its claims'; and each claim's group. The claims are
    /// sorted by pair on every core, so that a pair's claims come together: a map of pairs, filled
    /// claim by claim, missed the cache for most of them, on one core.
    fn of(claims: &[(Uuid, u32, Reach)]) -> (Wanted, Vec<u32>) {
        let mut sorted: Vec<(Uuid, u32, usize)> =
            claims.par_iter().enumerate().map(|(claim, &(tenant, workload, _))| (tenant, workload, claim)).collect();
        sorted.par_sort_unstable();
        let mut claim_groups = vec![0; claims.len()];
        let (mut workloads, mut reach) = (Vec::new(), Vec::new());
        let mut tenants: FastMap<Uuid, WantedRange> = FastMap::default();
        for (group, run) in sorted.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).enumerate() {
            // At most one group per claim with a report: a u32 holds their count.
            let group = group as u32;
            let (tenant, workload, first) = run[0];
            let mut group_reach = claims[first].2;
            for &(_, _, claim) in run {
                claim_groups[claim] = group;
                group_reach.widen(claims[claim].2);
            }
            tenants.entry(tenant).or_insert(WantedRange { start: group, end: group }).end = group + 1;
            workloads.push(workload);
            reach.push(group_reach);
        }
        (Wanted { tenants, workloads, reach }, claim_groups)
    }

    /// Groups are numbered `0..groups()`.
    fn groups(&self) -> usize {
        self.workloads.len()
    }

    fn of_tenant(&self, tenant: Uuid) -> WantedRange {
        self.tenants.get(&tenant).copied().unwrap_or_default()
    }

    /// The group of the tenant's (`range`) rows of `workload`. A tenant's pairs are sorted by
    /// workload: searched by halves, so that a tenant of thousands of claimed workloads (a hostile
    /// claims file) costs a few steps per series, not thousands.
    fn group(&self, range: WantedRange, workload: u32) -> Option<u32> {
        let workloads = self.workloads.get(range.start as usize..range.end as usize)?;
        let at = workloads.binary_search(&workload).ok()?;
        Some(range.start + at as u32)
    }
}

/// The usage rows seen so far.
pub struct UsageIndex {
    workloads: Workloads,
    /// The (tenant, workload id) pairs whose rows are kept, each with its group number.
    wanted: Wanted,
    /// The group of each claim given to `new`, in that order.
    claim_groups: Vec<u32>,
    last_day: Days,
    period: UsagePeriod,
    buckets: Vec<Bucket>,
    /// The current pass and the number of passes.
    pass: usize,
    passes: usize,
}

/// The rows kept for reports, grouped by (tenant, workload id) and sorted in report order.
pub struct KeptUsage {
    /// The group of each claim given to `UsageIndex::new`, in that order.
    claim_groups: Vec<u32>,
    /// Per bucket, its kept rows with each group's together.
    buckets: Vec<KeptBucket>,
    /// Per group number, where its rows lie.
    places: Vec<KeptPlace>,
}

/// Where a group's kept rows lie: in which bucket (`KeptUsage::into_buckets`), and where in it.
#[derive(Clone, Debug, Default)]
pub struct KeptPlace {
    pub bucket: usize,
    block: usize,
    rows: Range<usize>,
    /// Its rows in the bucket's `before`.
    before: Range<usize>,
}

/// One bucket's kept rows, in blocks (`KeptRows`), each group's in one of them, and the rows that
/// stand for those before all windows of their group (`Bucket::before`), each group's together.
pub struct KeptBucket {
    blocks: Vec<Vec<KeptRow>>,
    before: Vec<KeptRow>,
}

impl KeptBucket {
    /// The rows of the group at `place`, in report order.
    pub fn rows(&self, place: &KeptPlace) -> &[KeptRow] {
        self.blocks.get(place.block).and_then(|block| block.get(place.rows.clone())).unwrap_or_default()
    }

    /// The rows that stand for the group's rows before all its claims' windows: one per series
    /// that has such rows, with their largest active_users (`report_rows`' `before`).
    pub fn before(&self, place: &KeptPlace) -> &[KeptRow] {
        self.before.get(place.before.clone()).unwrap_or_default()
    }
}

impl KeptUsage {
    /// Where the kept rows of the `claim`-th claim given to `UsageIndex::new` lie among
    /// `into_buckets`' rows: its tenant's rows of its workload (in any letter case). Found by the
    /// group number `new` gave the claim: looked up again by tenant and workload, each claim's
    /// group cost a lowercasing and two lookups, 0.3 CPU-s on the `large` profile (BENCHMARKS.md).
    pub fn place_of_claim(&self, claim: usize) -> Option<KeptPlace> {
        let group = *self.claim_groups.get(claim)?;
        self.places.get(group as usize).cloned()
    }

    /// The number of buckets `place_of_claim` refers to.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Each bucket's kept rows, to be taken and dropped one bucket at a time.
    pub fn into_buckets(self) -> Vec<KeptBucket> {
        self.buckets
    }
}

impl UsageIndex {
    /// `wanted`: the (tenant, workload in any letter case) of every claim with a report, and the
    /// reach of its access window (`Reach::of`); `last_day`: the local date of T, after which rows
    /// are deferred; `period`: the period of a usage row (SPEC 9.3).
    pub fn new(wanted: &[(Uuid, &str, Reach)], last_day: Days, period: UsagePeriod) -> UsageIndex {
        let (workloads, ids) = Workloads::of(wanted, |&(_, workload, _)| workload, NAMES_PER_CHUNK);
        let claims: Vec<(Uuid, u32, Reach)> =
            wanted.par_iter().zip(ids).map(|(&(tenant, _, reach), workload)| (tenant, workload, reach)).collect();
        let (wanted, claim_groups) = Wanted::of(&claims);
        UsageIndex {
            workloads,
            wanted,
            claim_groups,
            last_day,
            period,
            buckets: (0..BUCKETS).map(|_| Bucket::default()).collect(),
            pass: 0,
            passes: 1,
        }
    }

    /// Starts pass `pass` of `passes` over the whole input: drops the keys of the previous pass's
    /// tenants, keeping their kept rows.
    pub fn begin_pass(&mut self, pass: usize, passes: usize) {
        assert!(pass < passes, "pass {pass} of {passes}");
        self.pass = pass;
        self.passes = passes;
        for bucket in &mut self.buckets {
            bucket.forget_keys();
        }
    }

    /// The workloads known before reading usage, for the parser.
    pub fn known_workloads(&self) -> FastMap<Box<str>, u32> {
        self.workloads.snapshot()
    }

    /// Decides a batch of records in file order; returns the rows not accepted, in no set order
    /// (rejects are sorted once, at the end), with their verdicts (the records that failed their own checks among them, and those of other
    /// passes). Leaves `checked` empty.
    pub fn decide(&mut self, checked: &mut Checked<UsageRow>) -> Vec<(usize, Verdict)> {
        let mut not_accepted = Vec::new();
        for bucket in &mut self.buckets {
            bucket.members.clear();
        }
        let (pass, passes) = (self.pass, self.passes);
        // The current run of one tenant's rows, with whether this pass decides them: its bucket
        // and pass are found once per run, not per row.
        let mut run: Option<(Uuid, Range<u32>, bool)> = None;
        let buckets = &mut self.buckets;
        let close = |run: Option<(Uuid, Range<u32>, bool)>, buckets: &mut Vec<Bucket>| {
            if let Some((tenant, rows, true)) = run {
                buckets[bucket_of(tenant)].members.push(rows);
            }
        };
        for (i, record) in checked.iter().enumerate() {
            let Some(record) = record else {
                not_accepted.push((i, Verdict::Elsewhere));
                continue;
            };
            let row = match record {
                Ok(row) => row,
                Err(_) if pass > 0 => {
                    not_accepted.push((i, Verdict::Later));
                    continue;
                }
                Err(fault) => {
                    not_accepted.push((i, Verdict::Rejected(fault.clone())));
                    continue;
                }
            };
            let this = match &mut run {
                Some((tenant, rows, this)) if *tenant == row.tenant && rows.end == i as u32 => {
                    rows.end += 1;
                    *this
                }
                _ => {
                    let this = passes == 1 || pass_of(row.tenant, passes) == pass;
                    close(run.replace((row.tenant, i as u32..i as u32 + 1, this)), buckets);
                    this
                }
            };
            if !this {
                not_accepted.push((i, Verdict::Later));
            }
        }
        close(run, buckets);
        let (last_day, wanted, period, rows) = (self.last_day, &self.wanted, self.period, &*checked);
        let decided: Vec<Vec<(usize, Verdict)>> = self
            .buckets
            .par_iter_mut()
            .map(|bucket| {
                let members = std::mem::take(&mut bucket.members);
                let mut decided = Vec::new();
                for runs in members.chunks(WARM_RUNS) {
                    // First the rows alone, each read independent of the others, then the table
                    // slots their tenants lead to.
                    for run in runs {
                        std::hint::black_box(rows.get(run.start as usize).map(Option::is_some));
                    }
                    bucket.warm(runs.iter().filter_map(|run| match rows.get(run.start as usize) {
                        Some(Some(Ok(row))) => Some(row),
                        _ => None,
                    }));
                    for run in runs {
                        let range = run.start as usize..run.end as usize;
                        let run_rows = rows.get(range.clone()).into_iter().flatten();
                        for (i, row) in range.zip(run_rows) {
                            // A run's rows passed their own checks: each is `Some(Ok(_))`.
                            let Some(Ok(row)) = row else { continue };
                            if let Some(verdict) = bucket.decide(row, last_day, wanted, period) {
                                decided.push((i, verdict));
                            }
                        }
                    }
                }
                bucket.members = members;
                decided
            })
            .collect();
        not_accepted.extend(decided.into_iter().flatten());
        checked.clear();
        not_accepted
    }

    /// Ends reading: drops the key sets and sorts each kept group in report order.
    pub fn finish(self) -> KeptUsage {
        let sorted: Vec<_> = self
            .buckets
            .into_par_iter()
            .map(|bucket| {
                let mut before = bucket.before;
                before.sort_unstable_by_key(|&(group, _)| group);
                (bucket.kept.into_groups(), before)
            })
            .collect();
        let mut places = vec![KeptPlace::default(); self.wanted.groups()];
        let mut buckets = Vec::with_capacity(sorted.len());
        for (bucket, ((blocks, groups), before)) in sorted.into_iter().enumerate() {
            for (group, block, rows) in groups {
                let place = &mut places[group as usize];
                (place.bucket, place.block, place.rows) = (bucket, block, rows);
            }
            let mut start = 0;
            for run in before.chunk_by(|a, b| a.0 == b.0) {
                let place = &mut places[run[0].0 as usize];
                (place.bucket, place.before) = (bucket, start..start + run.len());
                start += run.len();
            }
            buckets.push(KeptBucket { blocks, before: before.into_iter().map(|(_, row)| row).collect() });
        }
        KeptUsage { claim_groups: self.claim_groups, buckets, places }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::WorkloadIds;

    /// Workload ids as the parser gives them when claims name only Teams (checked in the first test).
    const TEAMS: u32 = 0;
    const INTUNE: u32 = 1;

    fn row(tenant: u128, workload: u32, sub: Option<u128>, date: Days) -> UsageRow {
        UsageRow {
            tenant: Uuid(tenant),
            workload,
            subscription: sub.map(Uuid),
            date,
            counts: Counts::new([Some(1), None, None]),
        }
    }

    /// The verdict on every row of a batch, by name: "accepted", "deferred" or the reject reason.
    fn decide_all(index: &mut UsageIndex, rows: Vec<Result<UsageRow, Fault>>) -> Vec<&'static str> {
        let mut names = vec!["accepted"; rows.len()];
        let mut checked: Checked<UsageRow> = rows.into_iter().map(Some).collect();
        for (i, verdict) in index.decide(&mut checked) {
            names[i] = match verdict {
                Verdict::Accepted => panic!("row {i} is listed as not accepted yet accepted"),
                Verdict::Deferred => "deferred",
                Verdict::Rejected(f) => f.reason.as_str(),
                Verdict::Later => "later",
                Verdict::Elsewhere => "elsewhere",
            };
        }
        assert!(checked.is_empty(), "decide leaves the batch buffer empty for the next batch");
        names
    }

    #[test]
    fn a_series_group_is_found_among_its_own_tenants_wanted_workloads_only() {
        let day = |d: Days| Reach::of((d, d + 1));
        let claims = [(Uuid(7), 3, day(5)), (Uuid(5), 1, day(1)), (Uuid(7), 1, day(2)), (Uuid(9), 3, day(3))];
        let claims = [&claims[..], &[(Uuid(7), 3, day(9))]].concat();
        let (wanted, claim_groups) = Wanted::of(&claims);
        assert_eq!(wanted.groups(), 4);
        assert_eq!(claim_groups[0], claim_groups[4], "one (tenant, workload), one group");
        assert_eq!(claim_groups.iter().collect::<FastSet<_>>().len(), 4);
        let group = |tenant: Uuid, workload: u32| wanted.group(wanted.of_tenant(tenant), workload);
        for (&(tenant, workload, _), &claims_group) in claims.iter().zip(&claim_groups) {
            assert_eq!(group(tenant, workload), Some(claims_group));
        }
        let mut both = day(5);
        both.widen(day(9));
        assert_eq!(wanted.reach[claim_groups[0] as usize], both, "a group reaches as far as its claims");
        assert_eq!(group(Uuid(5), 3), None, "tenant 5 wants workload 1 only, though tenants 7 and 9 want 3");
        assert_eq!(group(Uuid(8), 1), None, "a tenant no report wants");

        // A tenant of many claimed workloads, given out of workload order: each found by halves.
        let many: Vec<(Uuid, u32, Reach)> = (0..1000u32).map(|k| (Uuid(4), (k * 7919) % 1000, Reach::ALL)).collect();
        let (wanted, claim_groups) = Wanted::of(&many);
        let range = wanted.of_tenant(Uuid(4));
        for (&(_, workload, _), &claims_group) in many.iter().zip(&claim_groups) {
            assert_eq!(wanted.group(range, workload), Some(claims_group));
        }
        assert_eq!(wanted.group(range, 1000), None);
    }

    #[test]
    fn workloads_are_numbered_as_they_first_come_whatever_the_chunks() {
        let names = ["Teams", "intune", "TEAMS", "Power BI", "Intune", "teams", "Exchange", "power bi", "Exchange"];
        let mut one_walk = Workloads::default();
        let expected: Vec<u32> = names.iter().map(|n| one_walk.intern(&n.to_lowercase())).collect();
        assert_eq!(expected, [0, 1, 0, 2, 1, 0, 3, 2, 3]);
        for chunk in [1, 2, 3, 4, 100] {
            let (workloads, ids) = Workloads::of(&names, |name| name, chunk);
            assert_eq!(ids, expected, "chunks of {chunk}");
            assert_eq!(workloads.snapshot(), one_walk.snapshot(), "chunks of {chunk}");
        }
    }

    #[test]
    fn first_of_a_key_wins_then_deferral_then_keeping() {
        // Two claims on one group (the workload in two letter cases), one on a group without rows.
        let wanted = [(Uuid(1), "Teams", Reach::ALL), (Uuid(2), "Intune", Reach::ALL), (Uuid(1), "TEAMS", Reach::ALL)];
        let mut index = UsageIndex::new(&wanted, 10, UsagePeriod::Day);
        let ids = WorkloadIds::new(index.known_workloads());
        assert_eq!((ids.id("teams"), ids.id("intune")), (TEAMS, INTUNE));
        let names = decide_all(
            &mut index,
            vec![
                Ok(row(1, TEAMS, None, 5)),
                Ok(row(1, TEAMS, None, 5)), // same key, no subscription on either: duplicate
                Ok(row(1, TEAMS, Some(7), 5)), // another subscription
                Err(Fault::new(RejectReason::InvalidDate, "failed its own checks")),
                Ok(row(1, INTUNE, None, 5)), // another workload: accepted, not kept
                Ok(row(2, TEAMS, None, 5)),  // another tenant: accepted, not kept
                Ok(row(1, TEAMS, None, 11)), // after the local date of T: deferred
            ],
        );
        assert_eq!(
            names,
            ["accepted", "duplicate_usage_row", "accepted", "invalid_date", "accepted", "accepted", "deferred"]
        );
        // A later batch still sees earlier keys, even a deferred one.
        let names = decide_all(&mut index, vec![Ok(row(1, TEAMS, None, 11)), Ok(row(1, TEAMS, Some(7), 6))]);
        assert_eq!(names, ["duplicate_usage_row", "accepted"]);
        let kept = index.finish();
        let place = kept.place_of_claim(0).expect("a wanted group with rows");
        let (other, same) = (kept.place_of_claim(1).expect("wanted"), kept.place_of_claim(2).expect("wanted"));
        assert!(kept.place_of_claim(3).is_none(), "three claims given");
        let buckets = kept.into_buckets();
        assert!(buckets[other.bucket].rows(&other).is_empty(), "tenant 2's Intune: no rows");
        assert_eq!(buckets[same.bucket].rows(&same), buckets[place.bucket].rows(&place));
        let order: Vec<(Days, Option<Uuid>)> =
            buckets[place.bucket].rows(&place).iter().map(|r| (r.date, r.subscription())).collect();
        assert_eq!(order, [(5, None), (5, Some(Uuid(7))), (6, Some(Uuid(7)))]);
    }

    #[test]
    fn a_tenant_with_many_keys_still_finds_its_duplicates() {
        let mut index = UsageIndex::new(&[], 10_000, UsagePeriod::Day);
        let rows = || (0..200).map(|d| Ok(row(9, TEAMS, Some(d % 3), d as Days))).collect::<Vec<_>>();
        assert!(decide_all(&mut index, rows()).iter().all(|&v| v == "accepted"));
        assert!(decide_all(&mut index, rows()).iter().all(|&v| v == "duplicate_usage_row"));
    }

    #[test]
    fn a_tenant_past_the_series_a_list_holds_finds_each_series_before_and_after() {
        let mut index = UsageIndex::new(&[], 10_000, UsagePeriod::Day);
        let many = FEW_SERIES as u128 * 3;
        // Series made one by one: the list grows past `FEW_SERIES`, its series move into the map.
        let rows = |workload: u32| (0..many).map(|sub| Ok(row(5, workload, Some(sub), 7))).collect::<Vec<_>>();
        assert!(decide_all(&mut index, rows(TEAMS)).iter().all(|&v| v == "accepted"));
        assert!(decide_all(&mut index, rows(TEAMS)).iter().all(|&v| v == "duplicate_usage_row"));
        // Another workload's series of the same subscriptions are new; each a duplicate the second time.
        let mixed = (0..many).flat_map(|sub| [Ok(row(5, INTUNE, Some(sub), 7)), Ok(row(5, INTUNE, Some(sub), 7))]);
        let names = decide_all(&mut index, mixed.collect());
        assert!(names.chunks(2).all(|pair| pair == ["accepted", "duplicate_usage_row"]), "{names:?}");
        // Another tenant of the bucket, with few series, is not mistaken for this one.
        let other =
            (6..10_000).find(|&t| bucket_of(Uuid(t)) == bucket_of(Uuid(5))).expect("a tenant in the same bucket");
        assert_eq!(decide_all(&mut index, vec![Ok(row(other, TEAMS, Some(0), 7))]), ["accepted"]);
        assert_eq!(decide_all(&mut index, vec![Ok(row(5, TEAMS, None, 7))]), ["accepted"]);
    }

    #[test]
    fn rows_in_no_order_are_decided_as_in_file_order() {
        // 300 tenants of 1 to 20 series (some past `FEW_SERIES`), rows scattered over three batches:
        // nearly every run is one row long, so each chunk of 32 runs is read ahead together.
        let mut index = UsageIndex::new(&[], 10_000, UsagePeriod::Day);
        let mut seen = std::collections::HashSet::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..3 {
            let rows: Vec<UsageRow> = (0..5_000)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let tenant = state % 300;
                    let series = (state >> 16) % (1 + tenant % 20);
                    let date = ((state >> 32) % 40) as Days;
                    row(u128::from(tenant) + 1, (series % 2) as u32, Some(u128::from(series / 2)), date)
                })
                .collect();
            let expected: Vec<&str> = rows
                .iter()
                .map(|r| match seen.insert((r.tenant, r.workload, r.subscription, r.date)) {
                    true => "accepted",
                    false => "duplicate_usage_row",
                })
                .collect();
            assert!(expected.contains(&"duplicate_usage_row") && expected.contains(&"accepted"));
            assert_eq!(decide_all(&mut index, rows.into_iter().map(Ok).collect()), expected);
        }
    }

    /// A kept row's date and subscription.
    type DatedSub = (Days, Option<Uuid>);

    #[test]
    fn kept_rows_come_out_with_each_group_together_and_in_report_order() {
        let kept =
            |date: Days, sub: Option<u128>| KeptRow::new(sub.map(Uuid), date, Counts::new([Some(1), None, None]));
        let grouped = |rows: Vec<(u32, KeptRow)>| {
            let mut kept = KeptRows::default();
            for (group, row) in rows {
                kept.push(group, row);
            }
            let (blocks, groups) = kept.into_groups();
            let mut listed: Vec<(u32, Vec<DatedSub>)> = groups
                .into_iter()
                .map(|(group, block, range)| {
                    (group, blocks[block][range].iter().map(|r| (r.date, r.subscription())).collect())
                })
                .collect();
            listed.sort_unstable();
            (blocks.iter().map(Vec::len).sum::<usize>(), listed)
        };
        // Group 7's rows in two runs around group 2's, and out of report order.
        let interleaved = vec![
            (7, kept(3, Some(9))),
            (7, kept(1, None)),
            (2, kept(5, None)),
            (7, kept(3, None)),
            (7, kept(2, Some(1))),
        ];
        let in_order =
            vec![(2, vec![(5, None)]), (7, vec![(1, None), (2, Some(Uuid(1))), (3, None), (3, Some(Uuid(9)))])];
        assert_eq!(grouped(interleaved), (5, in_order));
        // Each group's rows together already, but one group's out of order.
        let together = vec![(4, kept(2, None)), (4, kept(1, None)), (3, kept(1, None))];
        assert_eq!(grouped(together), (3, vec![(3, vec![(1, None)]), (4, vec![(1, None), (2, None)])]));
    }

    #[test]
    fn a_kept_row_holds_its_counts_and_subscription_in_48_bytes() {
        assert_eq!(std::mem::size_of::<KeptRow>(), 48);
        for counts in
            [[None, None, None], [Some(0), None, Some(u64::MAX)], [Some(1), Some(2), Some(3)], [None, Some(7), None]]
        {
            for sub in [None, Some(Uuid(0)), Some(Uuid(u128::MAX))] {
                let row = KeptRow::new(sub, -3, Counts::new(counts));
                assert_eq!((row.subscription(), row.has_subscription(), row.date), (sub, sub.is_some(), -3));
                assert_eq!(row.counts(), Counts::new(counts), "{counts:?} {sub:?}");
            }
        }
    }

    #[test]
    fn a_run_of_one_groups_rows_stays_in_one_block_when_blocks_fill_up() {
        // Group 1 nearly fills the first block; group 2's run crosses its end; group 3's run alone
        // is longer than a block; group 4 follows it.
        let runs = [(1, KEPT_BLOCK_ROWS - 5), (2, 10), (3, KEPT_BLOCK_ROWS + 7), (4, 3)];
        let mut kept = KeptRows::default();
        for &(group, count) in &runs {
            for date in 0..count {
                kept.push(group, KeptRow::new(None, date as Days, Counts::new([Some(group as u64), None, None])));
            }
        }
        let (blocks, groups) = kept.into_groups();
        assert_eq!(blocks.iter().map(Vec::len).sum::<usize>(), runs.iter().map(|r| r.1).sum::<usize>());
        let seen: Vec<(u32, usize)> = groups
            .iter()
            .map(|(group, block, range)| {
                let rows = &blocks[*block][range.clone()];
                assert!(rows.iter().all(|r| r.counts().active_users() == Some(u64::from(*group))), "group {group}");
                assert!(rows.iter().enumerate().all(|(i, r)| r.date == i as Days), "group {group} in order");
                (*group, rows.len())
            })
            .collect();
        assert_eq!(seen, runs);
        assert_eq!(blocks.len(), 3, "the runs of group 2, then group 3, moved on to a new block: {groups:?}");
    }

    #[test]
    fn dates_near_and_far_from_a_series_first_row_are_each_taken_once() {
        let mut index = UsageIndex::new(&[], 100_000, UsagePeriod::Day);
        // Descending from the first row, then far after it: below the series' base, inside its
        // near days, and beyond them, each key once; the same dates in another series are new.
        let days: Vec<Days> = (0..300).map(|d| 20_000 - d).chain([25_000, 19_000, 20_063, 20_064]).collect();
        let rows = |sub: u128| days.iter().map(|&d| Ok(row(4, TEAMS, Some(sub), d))).collect::<Vec<_>>();
        assert!(decide_all(&mut index, rows(1)).iter().all(|&v| v == "accepted"));
        assert!(decide_all(&mut index, rows(1)).iter().all(|&v| v == "duplicate_usage_row"));
        assert!(decide_all(&mut index, rows(2)).iter().all(|&v| v == "accepted"));
    }

    #[test]
    fn of_a_groups_rows_only_what_its_reports_need_is_kept_and_the_reports_are_as_from_every_row() {
        use crate::checks::claims::tests::claim;
        use crate::report::{report_rows, Reach};
        use crate::types::{parse_date, Engagement};
        use crate::values::month_start;

        let day = |text: &str| parse_date(text).expect("date");
        // Tenant 1's Teams, claimed three times: workload-scoped, subscription-scoped (7), and a
        // claim revoked on the day it became official (subscription 8: an empty window).
        let mut claims = [claim("C1", "P1"), claim("C2", "P2"), claim("C3", "P3")];
        for (claim, sub) in claims.iter_mut().skip(1).zip([7, 8]) {
            (claim.engagement, claim.subscription) = (Engagement::BizappsRevenue, Some(Uuid(sub)));
        }
        let windows = [
            (day("2026-03-10"), day("2026-05-20")),
            (day("2026-04-15"), day("2026-07-01")),
            (day("2026-06-03"), day("2026-06-03")),
        ];
        for period in [UsagePeriod::Day, UsagePeriod::Month] {
            // A year of rows of three series (no subscription, 7, 8), and of another workload;
            // some without active_users.
            let mut rows = Vec::new();
            for date in day("2026-01-01")..day("2027-01-01") {
                if period == UsagePeriod::Month && month_start(date) != date {
                    continue;
                }
                for (k, sub) in [None, Some(7), Some(8)].into_iter().enumerate() {
                    let users = (date as u64 * 37 + k as u64 * 11) % 50;
                    let counts = Counts::new([(!users.is_multiple_of(7)).then_some(users), Some(3), None]);
                    for workload in [TEAMS, INTUNE] {
                        rows.push(UsageRow { tenant: Uuid(1), workload, subscription: sub.map(Uuid), date, counts });
                    }
                }
            }
            let wanted: Vec<_> = windows.iter().map(|&window| (Uuid(1), "Teams", Reach::of(window))).collect();
            let mut index = UsageIndex::new(&wanted, day("2027-01-01"), period);
            let names = decide_all(&mut index, rows.iter().cloned().map(Ok).collect());
            assert!(names.iter().all(|&name| name == "accepted"), "{period:?}");
            let kept = index.finish();
            let place = kept.place_of_claim(0).expect("a wanted group");
            let bucket = &kept.into_buckets()[place.bucket];

            // What the reports saw before: every row of the group, in report order.
            let mut every: Vec<KeptRow> = rows
                .iter()
                .filter(|r| r.workload == TEAMS)
                .map(|r| KeptRow::new(r.subscription, r.date, r.counts))
                .collect();
            every.sort_by_key(KeptRow::sort_key);
            let (rows_kept, before) = (bucket.rows(&place), bucket.before(&place));
            assert!(rows_kept.len() < every.len() / 2, "{period:?}: {} of {} rows kept", rows_kept.len(), every.len());
            assert_eq!(before.len(), 3, "{period:?}: a row per series stands for those before every window");
            for (claim, &window) in claims.iter().zip(&windows) {
                let report = report_rows(claim, rows_kept, before, window, period);
                assert_eq!(report, report_rows(claim, &every, &[], window, period), "{period:?} {}", claim.id);
                assert!(report.starting_hwm.is_some(), "{period:?} {}: rows before its window", claim.id);
            }
        }
    }

    #[test]
    fn each_pass_decides_its_own_tenants_and_the_first_the_faulty_rows() {
        let passes = 3;
        let mut index = UsageIndex::new(&[], 10, UsagePeriod::Day);
        let batch = || -> Vec<Result<UsageRow, Fault>> {
            let mut rows: Vec<Result<UsageRow, Fault>> = Vec::new();
            for tenant in 0..30u128 {
                rows.push(Ok(row(tenant, TEAMS, None, 5)));
                rows.push(Ok(row(tenant, TEAMS, None, 5)));
            }
            rows.push(Err(Fault::new(RejectReason::InvalidDate, "failed its own checks")));
            rows
        };
        let mut decided_in = vec![None; 61];
        for pass in 0..passes {
            index.begin_pass(pass, passes);
            for (i, name) in decide_all(&mut index, batch()).into_iter().enumerate() {
                if name != "later" {
                    assert!(decided_in[i].is_none(), "row {i} decided twice");
                    decided_in[i] = Some(pass);
                    let expected = match i {
                        60 => "invalid_date",
                        _ if i % 2 == 0 => "accepted",
                        _ => "duplicate_usage_row",
                    };
                    assert_eq!(name, expected, "row {i} in pass {pass}");
                }
            }
        }
        assert_eq!(decided_in[60], Some(0), "rows that failed their own checks are decided in the first pass");
        let used: std::collections::BTreeSet<usize> =
            decided_in.iter().map(|p| p.expect("every row decided")).collect();
        assert_eq!(used.len(), passes, "30 tenants spread over every pass");
        assert_eq!(passes_for(0, 1 << 20), 1);
        assert_eq!(passes_for(1_000_000, 16_000_000), 1);
        assert_eq!(passes_for(1_000_001, 16_000_000), 2);
        assert_eq!(passes_for(u64::MAX, 1), MAX_PASSES);
    }
}
