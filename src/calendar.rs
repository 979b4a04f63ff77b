//! The business-day calendar and the opt-out window (SPEC 2.5 and 3).
//!
//! Day boundaries are taken in one IANA time zone. A business day is a day that is neither a weekend
//! day nor a holiday that applies to the claim's country (global holidays apply to every claim).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::{Datelike, NaiveTime, Offset, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::error::CporError;
use crate::types::{date_from_days, days_from_date, parse_date, Country, Days, Micros, MICROS_PER_SECOND};

const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

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
        self.0[day.num_days_from_monday() as usize]
    }

    /// Names as `sat,sun`, in week order from Monday.
    pub fn describe(&self) -> String {
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let chosen: Vec<&str> = (0..7).filter(|&i| self.0[i]).map(|i| names[i]).collect();
        if chosen.is_empty() {
            "none".to_string()
        } else {
            chosen.join(",")
        }
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

/// Where day boundaries fall and which days count.
#[derive(Clone, Debug)]
pub struct Calendar {
    pub tz: Tz,
    pub weekend: Weekend,
    /// The N of "the N-th business day after notification".
    pub window_days: u32,
    holidays: BTreeMap<Days, Vec<Holiday>>,
    global: HashSet<Days>,
    by_country: HashSet<(Country, Days)>,
}

impl Calendar {
    pub fn new(tz: Tz, weekend: Weekend, window_days: u32, holidays: Vec<Holiday>) -> Calendar {
        let mut calendar = Calendar {
            tz,
            weekend,
            window_days,
            holidays: BTreeMap::new(),
            global: HashSet::new(),
            by_country: HashSet::new(),
        };
        for holiday in holidays {
            match holiday.country {
                None => calendar.global.insert(holiday.date),
                Some(c) => calendar.by_country.insert((c, holiday.date)),
            };
            calendar.holidays.entry(holiday.date).or_default().push(holiday);
        }
        calendar
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
        if self.tz == Tz::UTC {
            return t.div_euclid(MICROS_PER_DAY) as Days;
        }
        let offset = self.tz.offset_from_utc_datetime(&utc_naive(t)).fix().local_minus_utc() as i64;
        (t + offset * MICROS_PER_SECOND).div_euclid(MICROS_PER_DAY) as Days
    }

    /// The first instant of a local day. Where midnight falls in a daylight-saving gap, the day starts
    /// at the first local time that exists; where it is ambiguous, at the earlier of the two instants.
    pub fn start_of_day(&self, date: Days) -> Micros {
        if self.tz == Tz::UTC {
            return date as i64 * MICROS_PER_DAY;
        }
        let midnight = date_from_days(date).and_time(NaiveTime::MIN);
        // A gap is at most a few hours long; step through it a minute at a time.
        for minutes in 0..=24 * 60 {
            let local = midnight + chrono::Duration::minutes(minutes);
            if let Some(dt) = self.tz.from_local_datetime(&local).earliest() {
                return dt.timestamp_micros();
            }
        }
        unreachable!("no time zone skips a whole day")
    }

    pub fn is_business_day(&self, date: Days, country: Option<Country>) -> bool {
        !self.weekend.contains(date_from_days(date).weekday())
            && !self.global.contains(&date)
            && !country.is_some_and(|c| self.by_country.contains(&(c, date)))
    }

    /// The deadline: the N-th business day strictly after the local date of notification. The day of
    /// notification never counts, whatever its kind.
    pub fn deadline(&self, notified_at: Micros, country: Option<Country>) -> Days {
        let mut date = self.local_date(notified_at);
        let mut counted = 0;
        while counted < self.window_days {
            date += 1;
            if self.is_business_day(date, country) {
                counted += 1;
            }
        }
        date
    }

    /// The first instant of the local day after the deadline; a response strictly before it is
    /// inside the window.
    pub fn window_closes_at(&self, notified_at: Micros, country: Option<Country>) -> Micros {
        self.start_of_day(self.deadline(notified_at, country) + 1)
    }
}

fn utc_naive(t: Micros) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_micros(t).expect("timestamp within chrono's range").naive_utc()
}

/// Reads the holidays file (`date,country,name`, SPEC 2.5). Any bad row is fatal: the calendar is
/// configuration, and a half-read calendar would silently move deadlines.
pub fn load_holidays(path: &Path) -> Result<Vec<Holiday>, CporError> {
    let bad = |message: String| CporError::Holidays { path: path.to_path_buf(), message };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| bad(e.to_string()))?;
    let headers = reader.headers().map_err(|e| bad(e.to_string()))?.clone();
    let column =
        |name: &str| headers.iter().position(|h| h.trim_start_matches('\u{feff}').trim().eq_ignore_ascii_case(name));
    let date_col = column("date").ok_or_else(|| bad("missing required column 'date'".into()))?;
    let country_col = Some(column("country").ok_or_else(|| bad("missing required column 'country'".into()))?);
    let name_col = column("name");
    let mut holidays = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| bad(format!("row {}: {e}", i + 1)))?;
        let text = record.get(date_col).unwrap_or("");
        let date = parse_date(text).ok_or_else(|| bad(format!("row {}: '{text}' is not a date YYYY-MM-DD", i + 1)))?;
        let country = match country_col.and_then(|c| record.get(c)).unwrap_or("") {
            "" => None,
            text => Some(
                Country::parse(text)
                    .ok_or_else(|| bad(format!("row {}: '{text}' is not a two-letter country code", i + 1)))?,
            ),
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
        days[day.num_days_from_monday() as usize] = true;
    }
    if days.iter().all(|&d| d) {
        return Err("a weekend of all seven days leaves no business day to count".to_string());
    }
    Ok(Weekend(days))
}

/// Converts a calendar date to the days type; exposed for tests and the generator.
pub fn days(y: i32, m: u32, d: u32) -> Days {
    days_from_date(chrono::NaiveDate::from_ymd_opt(y, m, d).expect("valid date"))
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
            assert_eq!(format_timestamp(cal.window_closes_at(ts(notified), None)), closes, "{notified}");
        }
    }

    #[test]
    fn global_and_country_holidays() {
        let de = Country::parse("DE");
        let fr = Country::parse("FR");
        // Notified Monday 2026-11-16; a global holiday on Wednesday, a German one on Thursday.
        let cal = utc(vec![holiday(days(2026, 11, 18), None), holiday(days(2026, 11, 19), Some("DE"))]);
        let n = ts("2026-11-16T09:00:00Z");
        assert_eq!(cal.deadline(n, de), days(2026, 11, 25));
        assert_eq!(cal.deadline(n, fr), days(2026, 11, 24));
        assert_eq!(cal.deadline(n, None), days(2026, 11, 24));
        assert_eq!(cal.holidays_on(days(2026, 11, 19), fr).count(), 0);
        assert_eq!(cal.holidays_on(days(2026, 11, 19), de).count(), 1);
    }

    #[test]
    fn notified_on_a_holiday_counts_from_the_next_day() {
        let cal = utc(vec![holiday(days(2026, 11, 16), None)]);
        assert_eq!(cal.deadline(ts("2026-11-16T09:00:00Z"), None), days(2026, 11, 23));
    }

    #[test]
    fn time_zones_around_midnight() {
        let tokyo = Calendar::new("Asia/Tokyo".parse().unwrap(), Weekend::default(), 5, vec![]);
        // Friday 2026-11-13 20:00Z is Saturday 05:00 in Tokyo → deadline Friday 2026-11-20 local.
        let n = ts("2026-11-13T20:00:00Z");
        assert_eq!(tokyo.local_date(n), days(2026, 11, 14));
        assert_eq!(tokyo.deadline(n, None), days(2026, 11, 20));
        assert_eq!(format_timestamp(tokyo.window_closes_at(n, None)), "2026-11-20T15:00:00Z");

        let ny = Calendar::new("America/New_York".parse().unwrap(), Weekend::default(), 5, vec![]);
        // Tuesday 2026-11-17 03:00Z is still Monday evening in New York.
        let n = ts("2026-11-17T03:00:00Z");
        assert_eq!(ny.local_date(n), days(2026, 11, 16));
        assert_eq!(format_timestamp(ny.window_closes_at(n, None)), "2026-11-24T05:00:00Z");
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
        assert_eq!(cal.deadline(ts("2026-11-19T10:00:00Z"), None), days(2026, 11, 24));
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
            let deadline = cal.deadline(notified, None);
            prop_assert!(cal.is_business_day(deadline, None));
            let counted = (first + 1..=deadline).filter(|&d| cal.is_business_day(d, None)).count();
            prop_assert_eq!(counted, n as usize);
            let closes = cal.window_closes_at(notified, None);
            prop_assert_eq!(cal.local_date(closes), deadline + 1);
            prop_assert_eq!(cal.local_date(closes - 1), deadline);
        }
    }
}
