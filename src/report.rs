//! Partner-scoped usage reports (SPEC 5): which usage rows a partner may see, and the starting
//! high-water mark.
//!
//! A usage row belongs to a claim's report when, and only when, its tenant equals the claim's, its
//! workload equals the claim's (case-insensitively), for a subscription-scoped engagement its
//! subscription equals the claim's, and its date lies in the access window — its period overlaps it,
//! for monthly usage (SPEC 9.3). [`report_rows`] is the one place that rule is written; [`Reach`]
//! says, from the windows alone, which rows no report can show, for the usage index to drop.

use rayon::prelude::*;

use crate::calendar::Calendar;
use crate::evaluate::Evaluation;
use crate::records::Claim;
use crate::types::{Days, Micros, Scope};
use crate::usage::{KeptPlace, KeptRow, KeptUsage};
use crate::values::UsagePeriod;

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

/// The access window of an official or revoked claim (`None` for any other).
pub fn window_of(evaluation: &Evaluation, calendar: &Calendar, as_of: Micros) -> Option<(Days, Days)> {
    Some(access_window(evaluation.official_at()?, evaluation.walk.ended_at, calendar, as_of))
}

/// What the reports of one (tenant, workload) group can read of its usage rows, from the access
/// windows of the group's claims: a row whose period ends on or before the earliest window's first
/// day lies before every window, and counts only towards their starting_hwm, by its active_users; a
/// row dated on or after the latest window's end is in no report and before no window. Reading
/// usage, the index keeps only the rows in between, and of those before every window only each
/// series' largest active_users (`report_rows`' `before`): on the `large` profile, half the rows it
/// kept were of neither kind (BENCHMARKS.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    from: Days,
    until: Days,
}

/// What the reports of a group need of one of its rows (`Reach::need`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Its active_users only: it lies before every window of the group.
    Before,
    /// The row: it may lie in a window.
    Row,
    /// Nothing: it lies after every window.
    Nothing,
}

impl Reach {
    /// A group whose claims' windows are unknown: every row may lie in one.
    pub const ALL: Reach = Reach { from: Days::MIN, until: Days::MAX };

    /// The reach of one access window (`access_window`).
    pub fn of(window: (Days, Days)) -> Reach {
        Reach { from: window.0, until: window.1 }
    }

    /// Widened to cover `other` too: the reach of a group of several claims.
    pub fn widen(&mut self, other: Reach) {
        self.from = self.from.min(other.from);
        self.until = self.until.max(other.until);
    }

    /// What the reports need of a row dated `date` (of a `period` from it), by `report_rows`' rule:
    /// for every window `[first, end)` of the group, `first <= end`, so a row whose period ends
    /// on or before the earliest `first` is before them all, and one dated on or after the latest
    /// `end` is in none and before none.
    pub fn need(&self, date: Days, period: UsagePeriod) -> Need {
        if period.end(date) <= self.from {
            Need::Before
        } else if date < self.until {
            Need::Row
        } else {
            Need::Nothing
        }
    }
}

/// The rows of one claim's report and its starting high-water mark. `group` holds the usage rows of
/// the claim's tenant and workload, sorted by (date, subscription); each row covers a `period` from
/// its date (SPEC 9.3): a row belongs when its period overlaps the window, and counts towards
/// `starting_hwm` when its period ends on or before the window's first day. For a day,
/// [`UsagePeriod::end`] is the next day, and these are SPEC 5's "dated in" and "dated before". An
/// empty window (a claim revoked on the local day it became official) overlaps no period: a month
/// that holds its one edge is not in it.
///
/// `before` stands for the group's rows before all its claims' windows (`Reach`): a row per
/// series (subscription) with their largest active_users, dated as one of them. Such a row lies in
/// no window and counts towards `starting_hwm` as the rows it stands for would.
pub fn report_rows(
    claim: &Claim,
    group: &[KeptRow],
    before: &[KeptRow],
    window: (Days, Days),
    period: UsagePeriod,
) -> Report {
    let in_scope = |row: &&KeptRow| match claim.engagement.scope() {
        Scope::Workload => true,
        Scope::Subscription => row.subscription() == claim.subscription,
    };
    let in_window = |row: &&KeptRow| window.0 < window.1 && row.date < window.1 && period.end(row.date) > window.0;
    // Counted first, so that the rows are copied once, into an array of their size: collected into
    // a growing one, the copies and fresh pages of its doublings were 0.2 CPU-s on `large`.
    let count = group.iter().filter(in_scope).filter(in_window).count();
    let mut rows = Vec::with_capacity(count);
    rows.extend(group.iter().filter(in_scope).filter(in_window).copied());
    let starting_hwm = group
        .iter()
        .chain(before)
        .filter(in_scope)
        .filter(|row| period.end(row.date) <= window.0)
        .filter_map(|row| row.counts().active_users())
        .max();
    Report { rows, starting_hwm, window }
}

/// Builds the reports of official and revoked claims into their slots (`DecidedClaim::report`),
/// given as (claim, evaluation, slot, number): a claim with a report has the number it had among
/// those given to `UsageIndex::new` (`KeptUsage::place_of_claim`). Other claims' slots are left
/// `None`. Takes the kept usage bucket by bucket, dropping each once its reports are built, so that
/// memory holds the kept rows about once.
pub fn build_reports<'a>(
    slots: impl ParallelIterator<Item = (&'a Claim, &'a Evaluation, &'a mut Option<Report>, Option<usize>)>,
    usage: KeptUsage,
    calendar: &Calendar,
    as_of: Micros,
    period: UsagePeriod,
) {
    // Each claim's window and place among the kept rows, on every core (a lookup is a cache miss,
    // and there is one per official or revoked claim); a claim with no kept rows gets its empty
    // report at once.
    let located: Vec<(usize, Wanted<'a>)> = slots
        .filter_map(|(claim, evaluation, slot, number)| {
            let window = window_of(evaluation, calendar, as_of)?;
            match number.and_then(|number| usage.place_of_claim(number)) {
                Some(place) => Some((place.bucket, (claim, place, window, slot))),
                None => {
                    *slot = Some(report_rows(claim, &[], &[], window, period));
                    None
                }
            }
        })
        .collect();
    // Per bucket: the claims whose kept rows lie there, in the order given.
    let mut by_bucket: Vec<Vec<Wanted<'a>>> = (0..usage.bucket_count()).map(|_| Vec::new()).collect();
    for (bucket, wanted) in located {
        by_bucket[bucket].push(wanted);
    }
    usage.into_buckets().into_par_iter().zip(by_bucket).for_each(|(rows, wanted)| {
        for (claim, place, window, slot) in wanted {
            *slot = Some(report_rows(claim, rows.rows(&place), rows.before(&place), window, period));
        }
    });
}

/// A claim with kept rows: where they lie, its window and its report's slot.
type Wanted<'a> = (&'a Claim, KeptPlace, (Days, Days), &'a mut Option<Report>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::claims::tests::claim;
    use crate::records::Counts;
    use crate::types::parse_date;

    fn day(text: &str) -> Days {
        parse_date(text).expect("date")
    }

    /// The dates of the rows of claim C1's report, given its window and the dates of its group.
    fn dates(group: &[&str], window: (&str, &str), period: UsagePeriod) -> Vec<Days> {
        let group: Vec<KeptRow> =
            group.iter().map(|d| KeptRow::new(None, day(d), Counts::new([Some(1), None, None]))).collect();
        report_rows(&claim("C1", "P1"), &group, &[], (day(window.0), day(window.1)), period)
            .rows
            .iter()
            .map(|r| r.date)
            .collect()
    }

    #[test]
    fn a_row_belongs_when_its_period_overlaps_the_window() {
        let days = ["2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12"];
        assert_eq!(
            dates(&days, ("2026-11-10", "2026-11-12"), UsagePeriod::Day),
            [day("2026-11-10"), day("2026-11-11")]
        );
        let months = ["2026-10-01", "2026-11-01", "2026-12-01"];
        assert_eq!(dates(&months, ("2026-11-10", "2026-11-12"), UsagePeriod::Month), [day("2026-11-01")]);
        assert_eq!(
            dates(&months, ("2026-10-31", "2026-12-01"), UsagePeriod::Month),
            [day("2026-10-01"), day("2026-11-01")]
        );
    }

    #[test]
    fn a_groups_reach_spans_its_windows_and_a_row_before_it_is_needed_for_its_users_only() {
        let mut reach = Reach::of((day("2026-03-10"), day("2026-03-20")));
        reach.widen(Reach::of((day("2026-03-15"), day("2026-04-01"))));
        reach.widen(Reach::of((day("2026-03-12"), day("2026-03-12"))));
        let need = |date: &str, period| reach.need(day(date), period);
        assert_eq!(need("2026-03-09", UsagePeriod::Day), Need::Before);
        assert_eq!(need("2026-03-10", UsagePeriod::Day), Need::Row);
        assert_eq!(need("2026-03-31", UsagePeriod::Day), Need::Row);
        assert_eq!(need("2026-04-01", UsagePeriod::Day), Need::Nothing);
        // A month is before the windows only when it ends by their first day.
        assert_eq!(need("2026-02-01", UsagePeriod::Month), Need::Before);
        assert_eq!(need("2026-03-01", UsagePeriod::Month), Need::Row);
        assert_eq!(need("2026-04-01", UsagePeriod::Month), Need::Nothing);
        assert_eq!(Reach::ALL.need(Days::MIN, UsagePeriod::Day), Need::Row);
        assert_eq!(Reach::ALL.need(day("9999-12-01"), UsagePeriod::Month), Need::Row);
    }

    #[test]
    fn an_empty_window_shows_no_row_of_any_period() {
        for period in [UsagePeriod::Day, UsagePeriod::Month] {
            let group = ["2026-11-01", "2026-11-10"];
            assert_eq!(dates(&group, ("2026-11-10", "2026-11-10"), period), Vec::<Days>::new(), "{period:?}");
        }
    }
}
