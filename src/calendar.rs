//! The business-day calendar and the opt-out window (SPEC 2.5 and 3).
//!
//! Day boundaries are taken in one IANA time zone. A business day is a day that is neither a weekend
//! day nor a holiday that applies to the claim's country (global holidays apply to every claim).
//!
//! The deadline is found by counting, not by walking: the business days in a span are its weekdays
//! minus the holidays on weekdays within it (binary searches in sorted lists), and a binary search
//! over the span finds the N-th. A claim costs O(log² days) whatever `--window-days` and however dense
//! the holidays, and no calendar, a seven-day weekend included, can make it loop.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{NaiveDate, NaiveTime, Offset, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::error::{context, Cause, CporError};
use crate::hashing::FastMap;
use crate::types::{
    date_in_range, days_from_date, parse_date, timestamp_in_range, Country, Days, Micros, MAX_DAYS, MICROS_PER_SECOND,
};

const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The range of `--window-days` (and of the config key): at least one business day, at most ten
/// years' worth, far beyond any real opt-out window.
pub const WINDOW_DAYS_MIN: u32 = 1;
pub const WINDOW_DAYS_MAX: u32 = 3650;

/// Days from 0001-01-01 (day 1 of the common era, chrono's count) to 1970-01-01 (day 0 of [`Days`]).
const CE_DAYS_AT_EPOCH: i64 = 719_163;

/// The weekday of a date, by arithmetic (1970-01-01 was a Thursday): total for every `Days`.
pub fn weekday(date: Days) -> Weekday {
    const WEEK: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
    // weekday_index is in 0..7, so the fallback is never taken.
    WEEK.get(usize::from(weekday_index(i64::from(date)))).copied().unwrap_or(Weekday::Mon)
}

/// Days since Monday (0..7) of a day counted from the epoch.
fn weekday_index(date: i64) -> u8 {
    // 1970-01-01 is a Thursday, three days after a Monday; rem_euclid(7) is in 0..7.
    (date + 3).rem_euclid(7) as u8
}

/// The set of weekend days, indexed by `Weekday::num_days_from_monday`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weekend(pub [bool; 7]);

impl Default for Weekend {
    fn default() -> Self {
        let mut days = [false; 7];
        days[Weekday::Sat.num_days_from_monday() as usize] = true;
        days[Weekday::Sun.num_days_from_monday() as usize] = true;
        Weekend(days)
    }
}

impl Weekend {
    pub fn contains(&self, day: Weekday) -> bool {
        self.0.get(day.num_days_from_monday() as usize).copied().unwrap_or(false)
    }

    /// Whether a weekday index (0 = Monday … 6 = Sunday) is a weekend day.
    fn contains_index(&self, index: u8) -> bool {
        self.0.get(usize::from(index)).copied().unwrap_or(false)
    }

    /// Names as `sat,sun`, in week order from Monday.
    pub fn describe(&self) -> String {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let chosen: Vec<&str> = names.iter().zip(self.0).filter(|(_, on)| *on).map(|(name, _)| *name).collect();
        if chosen.is_empty() {
            "none".to_string()
        } else {
            chosen.join(",")
        }
    }

    /// The days of the week that are not weekend days.
    fn business_days_per_week(&self) -> i64 {
        self.0.iter().filter(|&&weekend| !weekend).count() as i64
    }
}

/// One row of the holidays file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holiday {
    pub date: Days,
    /// `None`: the holiday applies to every customer.
    pub country: Option<Country>,
    pub name: String,
}

/// A set of distinct days kept sorted per weekday, so that the days of a span that fall on the week's
/// business days are counted by binary search, whichever weekend is chosen.
#[derive(Clone, Debug, Default)]
struct DaySet {
    by_weekday: [Vec<Days>; 7],
}

impl DaySet {
    fn from_days(days: impl IntoIterator<Item = Days>) -> DaySet {
        let mut set = DaySet::default();
        for day in days {
            if let Some(list) = set.by_weekday.get_mut(usize::from(weekday_index(i64::from(day)))) {
                list.push(day);
            }
        }
        for list in &mut set.by_weekday {
            list.sort_unstable();
            list.dedup();
        }
        set
    }

    fn contains(&self, day: Days) -> bool {
        self.by_weekday
            .get(usize::from(weekday_index(i64::from(day))))
            .is_some_and(|list| list.binary_search(&day).is_ok())
    }

    /// The days of the set in (after, upto] that are not weekend days.
    fn count_business(&self, after: i64, upto: i64, weekend: &Weekend) -> i64 {
        let mut count = 0;
        for (index, list) in (0u8..).zip(&self.by_weekday) {
            if !weekend.contains_index(index) {
                let below = |bound: i64| list.partition_point(|&d| i64::from(d) <= bound) as i64;
                count += below(upto) - below(after);
            }
        }
        count
    }
}

/// Where day boundaries fall and which days count.
#[derive(Clone, Debug)]
pub struct Calendar {
    pub tz: Tz,
    pub weekend: Weekend,
    /// The N of "the N-th business day after notification" (1..=[`WINDOW_DAYS_MAX`] from the command
    /// line; 0 is counted as 1).
    pub window_days: u32,
    holidays: BTreeMap<Days, Vec<Holiday>>,
    /// Global holidays.
    global: DaySet,
    /// Each country's own holidays that are not also global ones; looked up a few times per claim
    /// evaluated, so with the fast hasher (SipHash was 7 % of the evaluate stage's samples).
    by_country: FastMap<Country, DaySet>,
}

impl Calendar {
    pub fn new(tz: Tz, weekend: Weekend, window_days: u32, holidays: Vec<Holiday>) -> Calendar {
        let global = DaySet::from_days(holidays.iter().filter(|h| h.country.is_none()).map(|h| h.date));
        let mut own: FastMap<Country, Vec<Days>> = FastMap::default();
        for holiday in &holidays {
            if let Some(country) = holiday.country {
                if !global.contains(holiday.date) {
                    own.entry(country).or_default().push(holiday.date);
                }
            }
        }
        let by_country = own.into_iter().map(|(country, days)| (country, DaySet::from_days(days))).collect();
        let mut by_date: BTreeMap<Days, Vec<Holiday>> = BTreeMap::new();
        for holiday in holidays {
            by_date.entry(holiday.date).or_default().push(holiday);
        }
        Calendar { tz, weekend, window_days, holidays: by_date, global, by_country }
    }

    pub fn holiday_count(&self) -> usize {
        self.holidays.values().map(Vec::len).sum()
    }

    /// The holidays of `date` that apply to a claim of `country`.
    pub fn holidays_on(&self, date: Days, country: Option<Country>) -> impl Iterator<Item = &Holiday> {
        self.holidays.get(&date).into_iter().flatten().filter(move |h| h.country.is_none() || h.country == country)
    }

    /// The local date of an instant in the calendar's time zone.
    pub fn local_date(&self, t: Micros) -> Days {
        // Instants of SPEC 2.4's range give dates within a day of 0001-01-01..=9999-12-31.
        self.local_day(t) as Days
    }

    /// The local date as a wide number, so that no instant can make the arithmetic overflow.
    fn local_day(&self, t: Micros) -> i64 {
        let offset = match chrono::DateTime::from_timestamp_micros(t) {
            Some(utc) if self.tz != Tz::UTC => {
                i64::from(self.tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc())
            }
            // UTC, or an instant beyond chrono's range (never one of SPEC 2.4's): no offset.
            _ => 0,
        };
        t.saturating_add(offset * MICROS_PER_SECOND).div_euclid(MICROS_PER_DAY)
    }

    /// The first instant of a local day. Where midnight falls in a daylight-saving gap, the day starts
    /// at the first local time that exists; where it is ambiguous, at the earlier of the two instants.
    pub fn start_of_day(&self, date: Days) -> Micros {
        let utc_midnight = i64::from(date) * MICROS_PER_DAY;
        if self.tz == Tz::UTC {
            return utc_midnight;
        }
        let Some(midnight) = i32::try_from(i64::from(date) + CE_DAYS_AT_EPOCH)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .map(|d| d.and_time(NaiveTime::MIN))
        else {
            // A date beyond chrono's ±262,000 years: never one of SPEC 2.4's.
            return utc_midnight;
        };
        // A gap is at most a few hours long; step through it a minute at a time.
        for minutes in 0..=24 * 60 {
            let Some(local) = midnight.checked_add_signed(chrono::Duration::minutes(minutes)) else { break };
            if let Some(dt) = self.tz.from_local_datetime(&local).earliest() {
                return dt.timestamp_micros();
            }
        }
        // No time zone skips a whole day and the next midnight; should one, its UTC midnight serves.
        utc_midnight
    }

    pub fn is_business_day(&self, date: Days, country: Option<Country>) -> bool {
        !self.weekend.contains(weekday(date))
            && !self.global.contains(date)
            && !country.and_then(|c| self.by_country.get(&c)).is_some_and(|own| own.contains(date))
    }

    /// The business days of a claim of `country` in (after, upto].
    fn business_days_between(&self, after: i64, upto: i64, country: Option<Country>) -> i64 {
        if upto <= after {
            return 0;
        }
        let span = upto - after;
        let full_weeks = span / 7;
        let mut weekdays = full_weeks * self.weekend.business_days_per_week();
        for day in after + full_weeks * 7 + 1..=upto {
            if !self.weekend.contains_index(weekday_index(day)) {
                weekdays += 1;
            }
        }
        let own = country.and_then(|c| self.by_country.get(&c));
        weekdays
            - self.global.count_business(after, upto, &self.weekend)
            - own.map_or(0, |own| own.count_business(after, upto, &self.weekend))
    }

    /// The deadline: the N-th business day strictly after the local date of notification. The day of
    /// notification never counts, whatever its kind.
    ///
    /// `None` when that day would fall after 9999-12-31, the last date of SPEC 2.4: the window does
    /// not close within the calendar's range (a large N, dense holidays, or a notification at the end
    /// of time).
    pub fn deadline(&self, notified_at: Micros, country: Option<Country>) -> Option<Days> {
        self.nth_business_day_after(notified_at, self.window_days.max(1), country)
    }

    /// The `n`-th business day of a claim of `country` strictly after the local date of `t` (that
    /// date itself for `n` = 0); `None` beyond 9999-12-31.
    fn nth_business_day_after(&self, t: Micros, n: u32, country: Option<Country>) -> Option<Days> {
        let first = self.local_day(t);
        let n = i64::from(n);
        let last = i64::from(MAX_DAYS);
        // The smallest day d in [first, last] with n business days in (first, d]: for n ≥ 1 it is a
        // business day, the n-th. The count grows by at most one a day, so d is at least n days
        // after `first`: spans from `first` that double from n bound it (a few counts, where a
        // search of the whole range to 9999-12-31 took twenty-two), then a binary search finds it.
        let (mut low, mut high) = (first, first);
        let mut span = n.max(1);
        loop {
            high = first.saturating_add(span).min(last).max(high);
            if self.business_days_between(first, high, country) >= n {
                break;
            }
            if high >= last {
                return None;
            }
            // Every day up to `high` has fewer than n business days since `first`.
            low = high + 1;
            span = span.saturating_mul(2);
        }
        while low < high {
            let mid = low + (high - low) / 2;
            if self.business_days_between(first, mid, country) >= n {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        Days::try_from(low).ok()
    }

    /// The end of the `n`-th business day after the local date of `t` — the first instant of the
    /// next local day — for a claim of `country`: a window closing by then closes "within the next n
    /// business days" (`--soon-days`). `None` beyond SPEC 2.4's range.
    pub fn end_of_business_days_after(&self, t: Micros, n: u32, country: Option<Country>) -> Option<Micros> {
        let day = self.nth_business_day_after(t, n, country)?;
        let end = self.start_of_day(day.checked_add(1)?);
        timestamp_in_range(end).then_some(end)
    }

    /// The first instant of the local day after the deadline; a response strictly before it is
    /// inside the window.
    ///
    /// `None` when the window does not close within SPEC 2.4's range of instants (up to
    /// 9999-12-31T23:59:59.999999Z): no deadline by 9999-12-31, or a deadline whose next local day
    /// starts after that instant. Such a claim stays pending whatever the as-of instant, an opt-out or
    /// an acceptance still ends or decides it, and the ledger's window_closes_at is empty.
    pub fn window_closes_at(&self, notified_at: Micros, country: Option<Country>) -> Option<Micros> {
        self.end_of_business_days_after(notified_at, self.window_days.max(1), country)
    }
}

/// Parses the holidays file's bytes (`date,country,name`, SPEC 2.5); the caller reads them within
/// the 64 MiB a configuration file may hold. Any fault is fatal: the calendar is configuration, and a
/// half-read calendar would silently move deadlines. Bytes that are not UTF-8 are named by offset,
/// a bad row by its line.
pub fn parse_holidays(path: &Path, bytes: &[u8]) -> Result<Vec<Holiday>, CporError> {
    let bad = |cause: Cause| CporError::Holidays { path: path.to_path_buf(), cause };
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(bad(format!("not valid UTF-8 at byte offset {}", e.valid_up_to()).into()));
    }
    let csv_error = |e: csv::Error| match e.position() {
        Some(p) => bad(context(format!("line {}", p.line()), e)),
        None => bad(e.into()),
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column =
        |name: &str| headers.iter().position(|h| h.trim_start_matches('\u{feff}').trim().eq_ignore_ascii_case(name));
    let date_col = column("date").ok_or_else(|| bad("missing required column 'date'".into()))?;
    let country_col = column("country").ok_or_else(|| bad("missing required column 'country'".into()))?;
    let name_col = column("name");
    let mut holidays = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        let text = record.get(date_col).unwrap_or("");
        let date = parse_date(text).filter(|&d| date_in_range(d)).ok_or_else(|| {
            bad(format!(
                "line {line}: '{}' is not a date YYYY-MM-DD from 0001-01-01 to 9999-12-31",
                text.escape_debug()
            )
            .into())
        })?;
        let country = match record.get(country_col).unwrap_or("") {
            "" => None,
            text => Some(Country::parse(text).ok_or_else(|| {
                bad(format!("line {line}: '{}' is not a two-letter country code", text.escape_debug()).into())
            })?),
        };
        let name = name_col.and_then(|c| record.get(c)).unwrap_or("").to_string();
        holidays.push(Holiday { date, country, name });
    }
    Ok(holidays)
}

/// Parses `--weekend`: English weekday names or their three-letter forms, comma-separated, or
/// `none` for a calendar without weekend days.
pub fn parse_weekend(text: &str) -> Result<Weekend, String> {
    let mut days = [false; 7];
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Weekend(days));
    }
    for part in text.split(',').map(str::trim) {
        let day: Weekday = part
            .parse()
            .map_err(|_| format!("'{part}' is not a weekday (use names like sat,sun or saturday,sunday)"))?;
        if let Some(slot) = days.get_mut(day.num_days_from_monday() as usize) {
            *slot = true;
        }
    }
    if days.iter().all(|&d| d) {
        return Err("a weekend of all seven days leaves no business day to count".to_string());
    }
    Ok(Weekend(days))
}

/// Converts a calendar date to the days type; exposed for tests and the generator, which pass
/// literal dates.
///
/// # Panics
/// On a date that does not exist, which only a caller's literal can give.
#[allow(clippy::expect_used, reason = "callers pass literal dates; a wrong literal is a programming error")]
pub fn days(y: i32, m: u32, d: u32) -> Days {
    days_from_date(NaiveDate::from_ymd_opt(y, m, d).expect("valid date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{format_timestamp, parse_timestamp};
    use proptest::prelude::*;

    fn ts(text: &str) -> Micros {
        parse_timestamp(text).unwrap()
    }

    fn utc(holidays: Vec<Holiday>) -> Calendar {
        Calendar::new(Tz::UTC, Weekend::default(), 5, holidays)
    }

    fn holiday(date: Days, country: Option<&str>) -> Holiday {
        Holiday { date, country: country.map(|c| Country::parse(c).unwrap()), name: "Holiday".into() }
    }

    #[test]
    fn weekends_without_holidays() {
        let cal = utc(vec![]);
        // 2026-11-16 is a Monday.
        for (notified, closes) in [
            ("2026-11-16T09:00:00Z", "2026-11-24T00:00:00Z"), // Monday → next Monday
            ("2026-11-16T00:00:00Z", "2026-11-24T00:00:00Z"), // the day of notification never counts
            ("2026-11-13T23:59:59Z", "2026-11-21T00:00:00Z"), // Friday → next Friday
            ("2026-11-14T12:00:00Z", "2026-11-21T00:00:00Z"), // Saturday → next Friday
            ("2026-11-15T12:00:00Z", "2026-11-21T00:00:00Z"), // Sunday → next Friday
            ("2026-11-18T12:00:00Z", "2026-11-26T00:00:00Z"), // Wednesday → next Wednesday
        ] {
            assert_eq!(format_timestamp(cal.window_closes_at(ts(notified), None).unwrap()), closes, "{notified}");
        }
    }

    #[test]
    fn global_and_country_holidays() {
        let de = Country::parse("DE");
        let fr = Country::parse("FR");
        // Notified Monday 2026-11-16; a global holiday on Wednesday, a German one on Thursday.
        let cal = utc(vec![holiday(days(2026, 11, 18), None), holiday(days(2026, 11, 19), Some("DE"))]);
        let n = ts("2026-11-16T09:00:00Z");
        assert_eq!(cal.deadline(n, de), Some(days(2026, 11, 25)));
        assert_eq!(cal.deadline(n, fr), Some(days(2026, 11, 24)));
        assert_eq!(cal.deadline(n, None), Some(days(2026, 11, 24)));
        assert_eq!(cal.holidays_on(days(2026, 11, 19), fr).count(), 0);
        assert_eq!(cal.holidays_on(days(2026, 11, 19), de).count(), 1);
    }

    #[test]
    fn notified_on_a_holiday_counts_from_the_next_day() {
        let cal = utc(vec![holiday(days(2026, 11, 16), None)]);
        assert_eq!(cal.deadline(ts("2026-11-16T09:00:00Z"), None), Some(days(2026, 11, 23)));
    }

    #[test]
    fn time_zones_around_midnight() {
        let tokyo = Calendar::new("Asia/Tokyo".parse().unwrap(), Weekend::default(), 5, vec![]);
        // Friday 2026-11-13 20:00Z is Saturday 05:00 in Tokyo → deadline Friday 2026-11-20 local.
        let n = ts("2026-11-13T20:00:00Z");
        assert_eq!(tokyo.local_date(n), days(2026, 11, 14));
        assert_eq!(tokyo.deadline(n, None), Some(days(2026, 11, 20)));
        assert_eq!(format_timestamp(tokyo.window_closes_at(n, None).unwrap()), "2026-11-20T15:00:00Z");

        let ny = Calendar::new("America/New_York".parse().unwrap(), Weekend::default(), 5, vec![]);
        // Tuesday 2026-11-17 03:00Z is still Monday evening in New York.
        let n = ts("2026-11-17T03:00:00Z");
        assert_eq!(ny.local_date(n), days(2026, 11, 16));
        assert_eq!(format_timestamp(ny.window_closes_at(n, None).unwrap()), "2026-11-24T05:00:00Z");
        // Across the end of daylight saving time (2026-11-01): midnight is UTC-4 before, UTC-5 after.
        assert_eq!(format_timestamp(ny.start_of_day(days(2026, 11, 1))), "2026-11-01T04:00:00Z");
        assert_eq!(format_timestamp(ny.start_of_day(days(2026, 11, 2))), "2026-11-02T05:00:00Z");
    }

    #[test]
    fn midnight_in_a_daylight_saving_gap() {
        // Santiago moved clocks from 00:00 to 01:00 on 2026-09-06.
        let cal = Calendar::new("America/Santiago".parse().unwrap(), Weekend::default(), 5, vec![]);
        let start = cal.start_of_day(days(2026, 9, 6));
        assert_eq!(format_timestamp(start), "2026-09-06T04:00:00Z");
        assert_eq!(cal.local_date(start), days(2026, 9, 6));
        assert_eq!(cal.local_date(start - 1), days(2026, 9, 5));
    }

    #[test]
    fn custom_weekend_and_window() {
        let cal = Calendar::new(Tz::UTC, parse_weekend("fri,sat").unwrap(), 3, vec![]);
        // Thursday 2026-11-19: Sun 22, Mon 23, Tue 24.
        assert_eq!(cal.deadline(ts("2026-11-19T10:00:00Z"), None), Some(days(2026, 11, 24)));
    }

    #[test]
    fn weekend_flag() {
        assert_eq!(parse_weekend("sat,sun").unwrap(), Weekend::default());
        assert_eq!(parse_weekend("Saturday, SUNDAY").unwrap(), Weekend::default());
        assert_eq!(parse_weekend("fri,sat").unwrap().describe(), "fri,sat");
        assert_eq!(parse_weekend("none").unwrap().describe(), "none");
        assert!(parse_weekend("sat,funday").is_err());
        assert!(parse_weekend("").is_err());
        assert!(parse_weekend("mon,tue,wed,thu,fri,sat,sun").is_err());
    }

    #[test]
    fn a_window_that_would_close_after_9999_does_not_close() {
        let cal = utc(vec![]);
        // Thursday 9999-12-30: the fifth business day after it is in year 10000.
        assert_eq!(cal.deadline(ts("9999-12-30T12:00:00Z"), None), None);
        assert_eq!(cal.window_closes_at(ts("9999-12-30T12:00:00Z"), None), None);
        // Friday 9999-12-24 → deadline Friday 9999-12-31, whose next day starts in year 10000.
        assert_eq!(cal.deadline(ts("9999-12-24T12:00:00Z"), None), Some(days(9999, 12, 31)));
        assert_eq!(cal.window_closes_at(ts("9999-12-24T12:00:00Z"), None), None);
        // Thursday 9999-12-23 → deadline Thursday 9999-12-30: closes at the start of the last day.
        let closes = cal.window_closes_at(ts("9999-12-23T12:00:00Z"), None).unwrap();
        assert_eq!(format_timestamp(closes), "9999-12-31T00:00:00Z");
        // In Kiritimati (UTC+14) that notification is Friday 9999-12-24 locally: the deadline is
        // 9999-12-31, and the local day after it starts at 9999-12-31T10:00Z, still in range.
        let kiritimati = Calendar::new("Pacific/Kiritimati".parse().unwrap(), Weekend::default(), 5, vec![]);
        let closes = kiritimati.window_closes_at(ts("9999-12-23T12:00:00Z"), None).unwrap();
        assert_eq!(format_timestamp(closes), "9999-12-31T10:00:00Z");
        // The first instants of the range count forward as any other.
        let honolulu = Calendar::new("Pacific/Honolulu".parse().unwrap(), Weekend::default(), 5, vec![]);
        assert!(honolulu.deadline(ts("0001-01-01T00:00:00Z"), None).is_some());
    }

    #[test]
    fn largest_window_and_dense_holidays_are_quick() {
        // Every weekday of ten years is a holiday: the deadline is found by counting, not walking.
        let start = days(2026, 1, 1);
        let holidays: Vec<Holiday> = (start..start + 3650).map(|d| holiday(d, None)).collect();
        let cal = Calendar::new(Tz::UTC, Weekend::default(), WINDOW_DAYS_MAX, holidays);
        let n = ts("2025-12-31T12:00:00Z");
        let deadline = cal.deadline(n, None).unwrap();
        assert!(cal.is_business_day(deadline, None));
        assert_eq!((start..=deadline).filter(|&d| cal.is_business_day(d, None)).count(), 3650);
        let began = std::time::Instant::now();
        for i in 0..100_000i64 {
            let _ = cal.window_closes_at(n + i * 3_600 * MICROS_PER_SECOND, Country::parse("DE"));
        }
        assert!(began.elapsed().as_secs() < 10, "took {:?}", began.elapsed());
        // A weekend of seven days (the parser refuses it; the type does not) never closes a window.
        let never = Calendar::new(Tz::UTC, Weekend([true; 7]), 5, vec![]);
        assert_eq!(never.window_closes_at(n, None), None);
    }

    #[test]
    fn holidays_file_faults_name_the_line_or_offset() {
        let path = Path::new("h.csv");
        let parse = |text: &[u8]| parse_holidays(path, text).map_err(|e| e.chain().to_string());
        assert_eq!(parse(b"date,country,name\n2026-12-25,,Christmas\n").unwrap().len(), 1);
        let err = parse(b"date,country,name\n2026-12-25,,ok\n2026-13-01,,bad\n").unwrap_err();
        assert!(err.contains("h.csv") && err.contains("line 3"), "{err}");
        let err = parse(b"date,country,name\n0000-12-25,,too early\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = parse(b"date,country,name\n2026-12-25,DEU,x\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        let err = parse(b"date,country,name\n2026-12-25,,\xff\n").unwrap_err();
        assert!(err.contains("byte offset 30"), "{err}");
        let err = parse(b"date,country,name\n2026-12-25\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse(b"day,name\n").unwrap_err().contains("'date'"));
    }

    proptest! {
        /// Any bytes as a holidays file: a calendar or an error, never a panic.
        #[test]
        fn any_bytes_as_holidays_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_holidays(Path::new("h.csv"), &bytes);
        }

        /// Holidays-shaped text with arbitrary cells: a calendar or an error, never a panic.
        #[test]
        fn holiday_like_rows_never_panic(rows in proptest::collection::vec("[0-9-]{0,12},[A-Za-z]{0,3},.{0,5}", 0..8)) {
            let text = format!("date,country,name\n{}", rows.join("\n"));
            let _ = parse_holidays(Path::new("h.csv"), text.as_bytes());
        }

        /// Any notification in SPEC 2.4's range, any window in the flag's range, any weekend that
        /// leaves a business day, holidays anywhere: no panic; a deadline, when there is one, is a
        /// business day after the notification's date and the window closes after the notification.
        #[test]
        fn calendar_is_total_over_the_range(
            notified in crate::types::MIN_MICROS..=crate::types::MAX_MICROS,
            n in WINDOW_DAYS_MIN..=WINDOW_DAYS_MAX,
            tz_index in 0usize..4,
            weekend_bits in 0u8..127,
            holiday_days in proptest::collection::vec(crate::types::MIN_DAYS..=MAX_DAYS, 0..20),
            near in proptest::collection::vec(-10i32..4000, 0..20),
        ) {
            let tz: Tz = ["UTC", "Pacific/Kiritimati", "Pacific/Honolulu", "America/Santiago"][tz_index].parse().unwrap();
            let mut weekend = [false; 7];
            for (i, slot) in weekend.iter_mut().enumerate() {
                *slot = weekend_bits & (1 << i) != 0;
            }
            let probe = Calendar::new(tz, Weekend(weekend), n, vec![]);
            let first = probe.local_date(notified);
            let mut holidays: Vec<Holiday> = holiday_days.iter().map(|&d| holiday(d, None)).collect();
            holidays.extend(near.iter().map(|&o| holiday(first.saturating_add(o), Some("DE"))));
            let cal = Calendar::new(tz, Weekend(weekend), n, holidays);
            let de = Country::parse("DE");
            if let Some(deadline) = cal.deadline(notified, de) {
                prop_assert!(deadline > first);
                prop_assert!(deadline <= MAX_DAYS);
                prop_assert!(cal.is_business_day(deadline, de));
                let counted = (first + 1..=deadline).filter(|&d| cal.is_business_day(d, de)).count();
                prop_assert_eq!(counted, n as usize);
            } else {
                // Not enough business days before the end of 9999.
                let counted = (first + 1..=MAX_DAYS).filter(|&d| cal.is_business_day(d, de)).take(n as usize).count();
                prop_assert!(counted < n as usize);
            }
            if let Some(closes) = cal.window_closes_at(notified, de) {
                prop_assert!(closes > notified);
                prop_assert!(crate::types::timestamp_in_range(closes));
            }
        }

    }

    proptest! {
        /// The deadline is a business day, exactly N business days follow notification up to it, and
        /// window_closes_at is the first instant of the next local day.
        #[test]
        fn deadline_counts_exactly_n_business_days(
            notified in 1_700_000_000i64..1_900_000_000,
            n in 1u32..12,
            tz_index in 0usize..4,
            holiday_offsets in proptest::collection::vec(0i32..30, 0..6),
        ) {
            let tz: Tz = ["UTC", "Asia/Tokyo", "America/New_York", "Pacific/Kiritimati"][tz_index].parse().unwrap();
            let notified = notified * MICROS_PER_SECOND;
            let base = Calendar::new(tz, Weekend::default(), n, vec![]);
            let first = base.local_date(notified);
            let holidays = holiday_offsets.iter().map(|&o| holiday(first + o, None)).collect();
            let cal = Calendar::new(tz, Weekend::default(), n, holidays);
            let deadline = cal.deadline(notified, None).unwrap();
            prop_assert!(cal.is_business_day(deadline, None));
            let counted = (first + 1..=deadline).filter(|&d| cal.is_business_day(d, None)).count();
            prop_assert_eq!(counted, n as usize);
            let closes = cal.window_closes_at(notified, None).unwrap();
            prop_assert_eq!(cal.local_date(closes), deadline + 1);
            prop_assert_eq!(cal.local_date(closes - 1), deadline);
        }
    }
}
