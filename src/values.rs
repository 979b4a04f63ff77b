//! The value forms of real exports (SPEC 9.3): dates and timestamps in a day order (`--date-order`),
//! the portal's engagement names, countries by English name, and monthly usage (`--usage-period`).
//!
//! Each parser here tries the strict form of SPEC 2.4 (`crate::types`) first, so data in the
//! canonical forms costs what it always did; the export forms are the fallback.

use chrono::{Datelike, Months, NaiveDate};

use crate::hashing::FastMap;
use crate::iso3166;
use crate::types::{
    date_from_days, days_from_date, digits, instant, offset_seconds, parse_date, parse_timestamp, Country, Days,
    Engagement, Micros,
};

/// How a date written with slashes or dots is read (SPEC 9.3). The forms of SPEC 2.4 are read in
/// every order; two-digit years never.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DateOrder {
    /// Only the forms of SPEC 2.4 (`YYYY-MM-DD`).
    #[default]
    Ymd,
    /// Also `M/D/YYYY`, with `M/D/YYYY H:MM[:SS][ AM|PM]` for timestamps.
    Mdy,
    /// Also `D/M/YYYY` and `D.M.YYYY`, with the same times.
    Dmy,
}

impl DateOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            DateOrder::Ymd => "ymd",
            DateOrder::Mdy => "mdy",
            DateOrder::Dmy => "dmy",
        }
    }
}

/// One or two ASCII digits at the start of `b` (not three), and the rest.
fn one_or_two_digits(b: &[u8]) -> Option<(u32, &[u8])> {
    let n = b.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    match n {
        1 | 2 => Some((digits(&b[..n])?, &b[n..])),
        _ => None,
    }
}

/// Exactly two ASCII digits at the start of `b`, and the rest.
fn two_digits(b: &[u8]) -> Option<(u32, &[u8])> {
    Some((digits(b.get(..2)?)?, &b[2..]))
}

/// A date `M/D/YYYY` (mdy) or `D/M/YYYY`, `D.M.YYYY` (dmy) at the start of `b`: one or two digits for
/// the day and the month, the same separator twice, four digits for a year from 0001. The day and
/// what follows it.
fn numeric_date(b: &[u8], order: DateOrder) -> Option<(Days, &[u8])> {
    let (first, rest) = one_or_two_digits(b)?;
    let separator = *rest.first()?;
    let allowed = match order {
        DateOrder::Ymd => false,
        DateOrder::Mdy => separator == b'/',
        DateOrder::Dmy => matches!(separator, b'/' | b'.'),
    };
    if !allowed {
        return None;
    }
    let (second, rest) = one_or_two_digits(&rest[1..])?;
    let rest = rest.strip_prefix(&[separator])?;
    // Four digits and no fifth: `1/2/20261` is no date, `1/2/26` neither (two-digit years never).
    if rest.get(4).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let year = digits(rest.get(..4)?)?;
    if year == 0 {
        return None;
    }
    let (month, day) = if order == DateOrder::Mdy { (first, second) } else { (second, first) };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    Some((days_from_date(date), &rest[4..]))
}

/// A date (SPEC 2.4 `YYYY-MM-DD`, or SPEC 9.3's forms of the order).
pub fn parse_date_in(text: &str, order: DateOrder) -> Option<Days> {
    if let Some(days) = parse_date(text) {
        return Some(days);
    }
    if order == DateOrder::Ymd {
        return None;
    }
    match numeric_date(text.as_bytes(), order)? {
        (days, []) => Some(days),
        _ => None,
    }
}

/// ` AM` or ` PM` (any case) at the start of `b`: whether afternoon, and the rest.
fn meridiem(b: &[u8]) -> Option<(bool, &[u8])> {
    match b {
        [b' ', half, m, rest @ ..] if m.eq_ignore_ascii_case(&b'm') => match half.to_ascii_uppercase() {
            b'A' => Some((false, rest)),
            b'P' => Some((true, rest)),
            _ => None,
        },
        _ => None,
    }
}

/// A timestamp (SPEC 2.4, or SPEC 9.3's `DATE H:MM[:SS]` in the order's date form, optionally with
/// ` AM`/` PM` — the 12-hour clock, where 12:xx AM is 00:xx and 12:xx PM is 12:xx — and then an
/// optional offset, `Z` or `±HH:MM`, after a space or none; UTC without one).
pub fn parse_timestamp_in(text: &str, order: DateOrder) -> Option<Micros> {
    if let Some(t) = parse_timestamp(text) {
        return Some(t);
    }
    if order == DateOrder::Ymd {
        return None;
    }
    let (days, rest) = numeric_date(text.as_bytes(), order)?;
    let rest = rest.strip_prefix(b" ")?;
    let (hour, rest) = one_or_two_digits(rest)?;
    let (minute, rest) = two_digits(rest.strip_prefix(b":")?)?;
    let (second, rest) = match rest.strip_prefix(b":") {
        Some(seconds) => two_digits(seconds)?,
        None => (0, rest),
    };
    let (hour, rest) = match meridiem(rest) {
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some((pm, rest)) => (hour % 12 + if pm { 12 } else { 0 }, rest),
        None => (hour, rest),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let rest = match rest {
        [b' ', offset @ ..] if !offset.is_empty() => offset,
        _ => rest,
    };
    instant(days, hour * 3600 + minute * 60 + second, 0, offset_seconds(rest)?)
}

/// The portal's current, former and German names of the engagements (SPEC 9.3), besides the codes
/// and display names of SPEC 2.4.
const PORTAL_NAMES: [(&str, Engagement); 11] = [
    ("Microsoft Online Service Usage (OSU) - Modern Work", Engagement::ModernWorkSecurityUsage),
    ("Microsoft Online Services Usage (OSU) - Modern Work", Engagement::ModernWorkSecurityUsage),
    ("Moderne Arbeits- und Sicherheitsnutzung", Engagement::ModernWorkSecurityUsage),
    ("Microsoft Online Service Advisor (OSA)", Engagement::BizappsPresalesAdvisor),
    ("Usage Recognition- Biz Apps", Engagement::BizappsUsageRecognition),
    ("Microsoft Online Services Usage (OSU) - Business Applications", Engagement::BizappsUsageRecognition),
    ("Verwendungserkennung – Biz-Apps", Engagement::BizappsUsageRecognition),
    ("Microsoft Business Applications Revenue", Engagement::BizappsRevenue),
    ("Microsoft Business Applications Revenue Recognition Association", Engagement::BizappsRevenue),
    ("Umsatz von Microsoft Business Applications", Engagement::BizappsRevenue),
    // The display name again: with its dash normalised it also matches "Usage Recognition-Biz Apps".
    ("Usage Recognition - Biz Apps", Engagement::BizappsUsageRecognition),
];

/// An engagement name as SPEC 9.3 compares it: trimmed, runs of white space one space, every dash
/// (`-`, `–`, `—`) `-` without spaces around it, lower case.
pub fn normalize_engagement_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if matches!(c, '-' | '–' | '—') {
            out.push('-');
        } else {
            if space && !out.is_empty() && !out.ends_with('-') {
                out.push(' ');
            }
            out.extend(c.to_lowercase());
        }
        space = false;
    }
    out
}

/// Every name an engagement is known by: SPEC 2.4's codes and display names, the portal names of
/// SPEC 9.3 and the config file's `[engagements]`, compared in [`normalize_engagement_name`]'s form.
#[derive(Clone, Debug)]
pub struct EngagementNames {
    names: FastMap<String, Engagement>,
    /// The config file's names, as given.
    extra: Vec<(String, Engagement)>,
}

impl Default for EngagementNames {
    fn default() -> EngagementNames {
        EngagementNames::new(&[])
    }
}

impl EngagementNames {
    /// The known names, then `extra` (the config file's, which never give a known name another
    /// engagement: the config file is refused then).
    pub fn new(extra: &[(String, Engagement)]) -> EngagementNames {
        let known = Engagement::ALL.into_iter().flat_map(|e| [(e.as_str(), e), (e.display_name(), e)]);
        let names = known
            .chain(PORTAL_NAMES)
            .chain(extra.iter().map(|(name, e)| (name.as_str(), *e)))
            .map(|(name, e)| (normalize_engagement_name(name), e))
            .collect();
        EngagementNames { names, extra: extra.to_vec() }
    }

    /// The config file's names, as given.
    pub fn extra(&self) -> impl Iterator<Item = (&str, Engagement)> {
        self.extra.iter().map(|(name, e)| (name.as_str(), *e))
    }

    /// The engagement a claim names: a code or display name as written (no allocation), or any
    /// known name in its compared form.
    pub fn parse(&self, text: &str) -> Option<Engagement> {
        Engagement::parse(text).or_else(|| self.names.get(&normalize_engagement_name(text)).copied())
    }
}

/// A `customer_country` (SPEC 9.3): a two-letter code, or a country's English name as ISO 3166-1
/// writes it or in common use (`United States`, `United Kingdom`), case-insensitively. Three-letter
/// codes stay invalid. The names are the `celes` crate's ISO 3166-1 table and its aliases.
pub fn parse_country(text: &str) -> Option<Country> {
    if let Some(code) = Country::parse(text) {
        return Some(code);
    }
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    // celes keys its names in lower case without spaces or punctuation ("unitedstatesofamerica").
    let key: String = text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    if key.len() < 4 {
        return None;
    }
    let bare = key.strip_prefix("the").unwrap_or(&key);
    let found = celes::Country::from_name(&key)
        .or_else(|_| celes::Country::from_name(format!("the{bare}")))
        .or_else(|_| celes::Country::from_alias(bare));
    match found {
        Ok(found) => Country::parse(found.alpha2),
        Err(_) => iso_country(text),
    }
}

/// A country by the name ISO 3166-1 gives it, in any of its written forms: `Korea, Republic of`,
/// `Korea (the Republic of)`, `Côte d'Ivoire` or `Cote d'Ivoire` (`crate::iso3166`).
fn iso_country(text: &str) -> Option<Country> {
    let mut key = String::with_capacity(text.len());
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let start = key.len();
        for c in word.chars() {
            match iso3166::UNACCENTED.binary_search_by_key(&c, |&(accented, _)| accented) {
                Ok(at) => key.push(iso3166::UNACCENTED[at].1),
                Err(_) => key.extend(c.to_lowercase()),
            }
        }
        if &key[start..] == "the" {
            key.truncate(start);
        }
    }
    let at = iso3166::NAMES.binary_search_by_key(&key.as_str(), |&(name, _)| name).ok()?;
    Country::parse(iso3166::NAMES[at].1)
}

/// What a usage row's date stands for (SPEC 9.3, `--usage-period`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum UsagePeriod {
    /// The row's day.
    #[default]
    Day,
    /// The row's calendar month, whatever day of it the row names.
    Month,
}

impl UsagePeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            UsagePeriod::Day => "day",
            UsagePeriod::Month => "month",
        }
    }

    /// The first day after the period that starts on `start` (a row's key date): the next day, or
    /// the first day of the next month.
    pub fn end(self, start: Days) -> Days {
        match self {
            UsagePeriod::Day => start.saturating_add(1),
            UsagePeriod::Month => {
                let first = date_from_days(month_start(start));
                first.checked_add_months(Months::new(1)).map_or(start.saturating_add(31), days_from_date)
            }
        }
    }
}

/// The first day of the month of a day.
pub fn month_start(days: Days) -> Days {
    days - (date_from_days(days).day() as Days - 1)
}

/// A monthly usage row's date (SPEC 9.3): `YYYY-MM`, or any date of the month in the order's forms;
/// the month's first day.
pub fn parse_month(text: &str, order: DateOrder) -> Option<Days> {
    if let Some(days) = parse_date_in(text, order) {
        return Some(month_start(days));
    }
    match text.as_bytes() {
        [year @ .., b'-', m1, m2] if year.len() == 4 => {
            let year = digits(year)?;
            if year == 0 {
                return None;
            }
            NaiveDate::from_ymd_opt(year as i32, digits(&[*m1, *m2])?, 1).map(days_from_date)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{format_date, format_timestamp, parse_date};

    fn date(text: &str) -> Days {
        parse_date(text).unwrap()
    }

    fn ts(text: &str) -> Micros {
        parse_timestamp(text).unwrap()
    }

    #[test]
    fn date_orders() {
        for order in [DateOrder::Ymd, DateOrder::Mdy, DateOrder::Dmy] {
            assert_eq!(parse_date_in("2026-03-04", order), Some(date("2026-03-04")), "{order:?}");
            assert_eq!(parse_timestamp_in("2026-03-04T10:00:00Z", order), Some(ts("2026-03-04T10:00:00Z")));
        }
        assert_eq!(parse_date_in("3/4/2026", DateOrder::Ymd), None);
        assert_eq!(parse_date_in("3/4/2026", DateOrder::Mdy), Some(date("2026-03-04")));
        assert_eq!(parse_date_in("03/04/2026", DateOrder::Mdy), Some(date("2026-03-04")));
        assert_eq!(parse_date_in("12/31/2026", DateOrder::Mdy), Some(date("2026-12-31")));
        assert_eq!(parse_date_in("3/4/2026", DateOrder::Dmy), Some(date("2026-04-03")));
        assert_eq!(parse_date_in("31.12.2026", DateOrder::Dmy), Some(date("2026-12-31")));
        assert_eq!(parse_date_in("1.2.2026", DateOrder::Dmy), Some(date("2026-02-01")));
        for (bad, order) in [
            ("31/12/2026", DateOrder::Mdy), // no month 31
            ("12/31/2026", DateOrder::Dmy),
            ("3.4.2026", DateOrder::Mdy), // dots are dmy's
            ("3/4.2026", DateOrder::Dmy), // one separator
            ("3/4/26", DateOrder::Mdy),   // two-digit years never
            ("3/4/26", DateOrder::Dmy),
            ("3/4/20261", DateOrder::Mdy),
            ("003/4/2026", DateOrder::Mdy),
            ("3/4/0000", DateOrder::Mdy),
            ("2/30/2026", DateOrder::Mdy),
            ("3/4/2026 10:00", DateOrder::Mdy), // a timestamp is no date
        ] {
            assert_eq!(parse_date_in(bad, order), None, "{bad} {order:?}");
        }
    }

    #[test]
    fn timestamps_in_date_orders() {
        let z = ts("2026-03-04T10:05:00Z");
        for (text, order, expected) in [
            ("3/4/2026 10:05", DateOrder::Mdy, z),
            ("3/4/2026 10:05:00", DateOrder::Mdy, z),
            ("03/04/2026 10:05:00 AM", DateOrder::Mdy, z),
            ("4/3/2026 10:05", DateOrder::Dmy, z),
            ("4.3.2026 10:05:00", DateOrder::Dmy, z),
            ("4.3.2026 11:05 +01:00", DateOrder::Dmy, z),
            ("4.3.2026 11:05+01:00", DateOrder::Dmy, z),
            ("3/4/2026 10:05 Z", DateOrder::Mdy, z),
            ("3/4/2026 5:05 AM -05:00", DateOrder::Mdy, z),
            ("3/4/2026 1:30:15 PM", DateOrder::Mdy, ts("2026-03-04T13:30:15Z")),
            ("3/4/2026 1:30:15 pm", DateOrder::Mdy, ts("2026-03-04T13:30:15Z")),
        ] {
            assert_eq!(parse_timestamp_in(text, order), Some(expected), "{text} {order:?}");
        }
        for (bad, order) in [
            ("3/4/2026 10:05", DateOrder::Ymd),
            ("3/4/2026", DateOrder::Mdy),
            ("3/4/2026 24:00", DateOrder::Mdy),
            ("3/4/2026 10:60", DateOrder::Mdy),
            ("3/4/2026 10:5", DateOrder::Mdy),
            ("3/4/2026 13:00 PM", DateOrder::Mdy),
            ("3/4/2026 0:30 AM", DateOrder::Mdy),
            ("3/4/2026 10:05 XM", DateOrder::Mdy),
            ("3/4/26 10:05", DateOrder::Mdy),
            ("3/4/2026 10:05 +0100", DateOrder::Mdy),
            ("1/1/0001 0:30 +01:00", DateOrder::Mdy), // before 0001-01-01T00:00:00Z
        ] {
            assert_eq!(parse_timestamp_in(bad, order), None, "{bad} {order:?}");
        }
        assert_eq!(
            format_timestamp(parse_timestamp_in("12/31/9999 11:59:59 PM", DateOrder::Mdy).unwrap()),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn twelve_hour_clock() {
        let at = |text: &str| parse_timestamp_in(text, DateOrder::Mdy).map(format_timestamp);
        assert_eq!(at("1/2/2026 12:00 AM").as_deref(), Some("2026-01-02T00:00:00Z"), "midnight");
        assert_eq!(at("1/2/2026 12:30:05 AM").as_deref(), Some("2026-01-02T00:30:05Z"));
        assert_eq!(at("1/2/2026 12:00 PM").as_deref(), Some("2026-01-02T12:00:00Z"), "noon");
        assert_eq!(at("1/2/2026 12:59 PM").as_deref(), Some("2026-01-02T12:59:00Z"));
        assert_eq!(at("1/2/2026 1:00 AM").as_deref(), Some("2026-01-02T01:00:00Z"));
        assert_eq!(at("1/2/2026 11:59 PM").as_deref(), Some("2026-01-02T23:59:00Z"));
        assert_eq!(at("1/2/2026 12:00").as_deref(), Some("2026-01-02T12:00:00Z"), "24-hour without AM/PM");
        assert_eq!(at("1/2/2026 0:00").as_deref(), Some("2026-01-02T00:00:00Z"));
    }

    #[test]
    fn engagement_names_compare_dashes_spaces_and_case() {
        let names = EngagementNames::default();
        for (text, expected) in [
            ("bizapps_revenue", Engagement::BizappsRevenue),
            ("Usage Recognition - Biz Apps", Engagement::BizappsUsageRecognition),
            ("Usage Recognition- Biz Apps", Engagement::BizappsUsageRecognition),
            ("usage recognition-biz apps", Engagement::BizappsUsageRecognition),
            ("Usage  Recognition \u{2014}  Biz Apps", Engagement::BizappsUsageRecognition),
            ("Microsoft Online Service Usage (OSU) – Modern Work", Engagement::ModernWorkSecurityUsage),
            ("MICROSOFT ONLINE SERVICES USAGE (OSU)-MODERN WORK", Engagement::ModernWorkSecurityUsage),
            ("Microsoft Online Service Advisor (OSA)", Engagement::BizappsPresalesAdvisor),
            ("Microsoft Online Services Usage (OSU) - Business Applications", Engagement::BizappsUsageRecognition),
            ("Microsoft  Business\tApplications Revenue", Engagement::BizappsRevenue),
            ("microsoft business applications revenue recognition association", Engagement::BizappsRevenue),
            // The German names.
            ("Moderne Arbeits- und Sicherheitsnutzung", Engagement::ModernWorkSecurityUsage),
            ("moderne arbeits-und sicherheitsnutzung", Engagement::ModernWorkSecurityUsage),
            ("Verwendungserkennung – Biz-Apps", Engagement::BizappsUsageRecognition),
            ("Verwendungserkennung - Biz - Apps", Engagement::BizappsUsageRecognition),
            ("UMSATZ VON MICROSOFT BUSINESS APPLICATIONS", Engagement::BizappsRevenue),
        ] {
            assert_eq!(names.parse(text), Some(expected), "{text:?}");
        }
        for bad in ["Partner Magic", "Microsoft Online Service", "Modern Work", "Usage Recognition Biz Apps", ""] {
            assert_eq!(names.parse(bad), None, "{bad:?}");
        }
        assert_eq!(normalize_engagement_name("  A \u{a0} b –  C—d "), "a b-c-d");
        let configured = EngagementNames::new(&[("Biz Apps Umsatz  – neu".into(), Engagement::BizappsRevenue)]);
        assert_eq!(configured.parse("biz apps umsatz-neu"), Some(Engagement::BizappsRevenue));
        assert_eq!(names.parse("biz apps umsatz-neu"), None);
    }

    #[test]
    fn countries_by_code_or_english_name() {
        for (text, code) in [
            ("de", "DE"),
            ("US", "US"),
            ("United States", "US"),
            ("united states of america", "US"),
            ("The United States of America", "US"),
            ("United Kingdom", "GB"),
            ("UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND", "GB"),
            ("Germany", "DE"),
            ("germany", "DE"),
            ("France", "FR"),
            ("Netherlands", "NL"),
            ("Switzerland", "CH"),
            // ISO 3166-1's own forms: a qualifier after a comma or in brackets, accents, "the".
            ("Korea, Republic of", "KR"),
            ("Korea (the Republic of)", "KR"),
            ("Korea, Democratic People's Republic of", "KP"),
            ("Côte d'Ivoire", "CI"),
            ("Co\u{302}te d'Ivoire", "CI"),
            ("Iran (Islamic Republic of)", "IR"),
            ("Tanzania, United Republic of", "TZ"),
            ("Réunion", "RE"),
            ("Åland Islands", "AX"),
            ("São Tomé and Príncipe", "ST"),
            ("Congo, The Democratic Republic of the", "CD"),
            ("Congo (the)", "CG"),
            ("Virgin Islands (U.S.)", "VI"),
            ("Virgin Islands, British", "VG"),
            ("Netherlands (Kingdom of the)", "NL"),
            ("Taiwan, Province of China", "TW"),
            ("Bolivia (Plurinational State of)", "BO"),
            ("Holy See", "VA"),
        ] {
            assert_eq!(parse_country(text).map(|c| c.as_str().to_string()).as_deref(), Some(code), "{text}");
        }
        for bad in ["USA", "DEU", "gbr", "Atlantis", "840", "U", "", "Deutschland", "Korea", "Virgin Islands", "the"] {
            assert_eq!(parse_country(bad), None, "{bad}");
        }
    }

    #[test]
    fn monthly_dates() {
        let first = date("2026-02-01");
        for (text, order) in [
            ("2026-02", DateOrder::Ymd),
            ("2026-02-01", DateOrder::Ymd),
            ("2026-02-28", DateOrder::Ymd),
            ("2/15/2026", DateOrder::Mdy),
            ("15.2.2026", DateOrder::Dmy),
            ("2026-02", DateOrder::Dmy),
        ] {
            assert_eq!(parse_month(text, order), Some(first), "{text}");
        }
        for bad in ["2026-13", "2026-2", "26-02", "0000-01", "2026-02-30", "2/15/2026"] {
            assert_eq!(parse_month(bad, DateOrder::Ymd), None, "{bad}");
        }
        assert_eq!(format_date(UsagePeriod::Month.end(first)), "2026-03-01");
        assert_eq!(format_date(UsagePeriod::Month.end(date("2026-12-01"))), "2027-01-01");
        assert_eq!(format_date(UsagePeriod::Month.end(date("9999-12-01"))), "10000-01-01");
        assert_eq!(UsagePeriod::Day.end(first), first + 1);
        assert_eq!(format_date(month_start(date("2024-02-29"))), "2024-02-01");
    }
}
