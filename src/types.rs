//! The value types of SPEC section 2.4 and their parsers and writers.
//!
//! Every cell of every input goes through one of these parsers exactly once; everything downstream
//! holds the parsed value. Timestamps are microseconds since the Unix epoch in UTC ([`Micros`]), dates
//! are days since the epoch ([`Days`]).

use std::fmt;

use chrono::NaiveDate;

/// An instant: microseconds since 1970-01-01T00:00:00Z (SPEC 2.4: precision is the microsecond).
pub type Micros = i64;
/// A calendar date: days since 1970-01-01.
pub type Days = i32;

pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// The first day SPEC 2.4 admits, 0001-01-01, in days since the epoch.
pub const MIN_DAYS: Days = -719_162;
/// The last day SPEC 2.4 admits, 9999-12-31, in days since the epoch.
pub const MAX_DAYS: Days = 2_932_896;
/// The first instant SPEC 2.4 admits, 0001-01-01T00:00:00Z.
pub const MIN_MICROS: Micros = MIN_DAYS as i64 * 86_400 * MICROS_PER_SECOND;
/// The last instant SPEC 2.4 admits, 9999-12-31T23:59:59.999999Z.
pub const MAX_MICROS: Micros = (MAX_DAYS as i64 + 1) * 86_400 * MICROS_PER_SECOND - 1;

/// Whether a date lies in 0001-01-01..=9999-12-31 (SPEC 2.4); anything else is `invalid_date`.
pub fn date_in_range(days: Days) -> bool {
    (MIN_DAYS..=MAX_DAYS).contains(&days)
}

/// Whether an instant lies in 0001-01-01T00:00:00Z..=9999-12-31T23:59:59.999999Z (SPEC 2.4);
/// anything else is `invalid_timestamp`.
pub fn timestamp_in_range(t: Micros) -> bool {
    (MIN_MICROS..=MAX_MICROS).contains(&t)
}

/// Calls `f` with the lower-cased text; ASCII text up to 64 bytes is lower-cased on the stack.
pub fn with_lowercase<R>(text: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buffer = [0u8; 64];
    if text.len() <= buffer.len() && text.is_ascii() {
        let lower = &mut buffer[..text.len()];
        lower.copy_from_slice(text.as_bytes());
        lower.make_ascii_lowercase();
        // ASCII lower-cased stays ASCII, so this always matches; the fallback only satisfies the type.
        match std::str::from_utf8(lower) {
            Ok(lower) => f(lower),
            Err(_) => f(&text.to_lowercase()),
        }
    } else {
        f(&text.to_lowercase())
    }
}

/// An identifier (SPEC 2.4 "id"): 1 to 64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter, a
/// digit or `_` — so never `.`/`..` as a file name, nor `-` or a spreadsheet formula's first character.
///
/// Ids become file names and spreadsheet cells, so the only way to build one is [`Id::parse`].
///
/// An id of up to [`INLINE_ID`] bytes — nearly every real one — is held in place: a run reads
/// millions, and each used to be an allocation of its own, freed later on another thread, and a
/// second place in memory to read whenever the claim checks compared two (BENCHMARKS.md, issue 14).
/// Equality, order and hash are the text's, whichever way it is held.
#[derive(Clone)]
pub struct Id(IdText);

/// The most bytes an [`Id`] holds in place; with the length and the enum's tag, 24 bytes in all.
pub const INLINE_ID: usize = 22;

#[derive(Clone)]
enum IdText {
    /// `len` ≤ `INLINE_ID` bytes of ASCII.
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    /// Longer than `INLINE_ID` bytes.
    Heap(Box<str>),
}

impl Id {
    pub fn parse(text: &str) -> Option<Id> {
        let bytes = text.as_bytes();
        let ok = matches!(bytes.first(), Some(b) if b.is_ascii_alphanumeric() || *b == b'_')
            && bytes.len() <= 64
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return None;
        }
        let mut inline = [0u8; INLINE_ID];
        Some(Id(match inline.get_mut(..bytes.len()) {
            Some(place) => {
                place.copy_from_slice(bytes);
                // At most `INLINE_ID` (22): fits a byte.
                IdText::Inline { len: bytes.len() as u8, bytes: inline }
            }
            None => IdText::Heap(text.into()),
        }))
    }

    fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            IdText::Inline { len, bytes } => bytes.get(..*len as usize).unwrap_or_default(),
            IdText::Heap(text) => text.as_bytes(),
        }
    }

    /// Whether the two ids are equal but for letter case: they would name one file on a
    /// case-insensitive file system.
    pub fn eq_folded(&self, other: &Id) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other.as_bytes())
    }

    /// A hash of the id in lower case, equal for ids that are [`Id::eq_folded`]; taken without
    /// allocating ([`Id::parse`] keeps ids ASCII and at most 64 bytes: see [`with_lowercase`]).
    pub fn folded_hash(&self) -> u64 {
        with_lowercase(self.as_str(), |folded| crate::hashing::fixed_hash(folded.as_bytes()))
    }

    pub fn as_str(&self) -> &str {
        match &self.0 {
            // `parse` admits ASCII only, so this is always text; the fallback only satisfies the type.
            IdText::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            IdText::Heap(text) => text,
        }
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Id {}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Id) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The text's order (UTF-8's bytes sort as its characters do).
impl Ord for Id {
    fn cmp(&self, other: &Id) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// The text's hash, as [`std::borrow::Borrow`] requires: a map of ids is looked up by `&str`.
impl std::hash::Hash for Id {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Id").field(&self.as_str()).finish()
    }
}

impl std::borrow::Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a control character: U+0000–U+001F and U+007F–U+009F (SPEC 2.4).
pub fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Why `text` is not SPEC 2.4's **text** (a workload): it holds a control character, or it starts with
/// a character a spreadsheet would run as a formula. `None` when it is good text.
pub fn text_fault(text: &str) -> Option<&'static str> {
    if matches!(text.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@')) {
        Some("starts with =, +, - or @, which a spreadsheet would run as a formula")
    } else if text.chars().any(is_control) {
        Some("holds a control character")
    } else {
        None
    }
}

/// Two lower-case hexadecimal digits for each byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut table = [[0; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    table
};

/// A byte's two lower-case hexadecimal digits.
pub fn hex_pair(byte: u8) -> [u8; 2] {
    HEX_PAIRS[byte as usize]
}

/// A UUID in `8-4-4-4-12` hexadecimal form, held as its 128-bit value and written in lower case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(pub u128);

impl Uuid {
    /// The UUID a text spells, in either letter case. The 32 digits are taken eight at a time
    /// (`hex8`): a file of usage not sorted by tenant parses two UUIDs on most rows, and one digit
    /// at a time, through a table, took a third longer (BENCHMARKS.md).
    pub fn parse(text: &str) -> Option<Uuid> {
        let bytes: &[u8; 36] = text.as_bytes().try_into().ok()?;
        if bytes[8] != b'-' || bytes[13] != b'-' || bytes[18] != b'-' || bytes[23] != b'-' {
            return None;
        }
        // Eight digits in text order, the first in the low byte; from one run of bytes or two of
        // four.
        let eight = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let four = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4])));
        let [a, b, c, d] = [eight(0), four(9) | four(14) << 32, four(19) | four(24) << 32, eight(28)].map(hex8);
        let high = u64::from(a?) << 32 | u64::from(b?);
        let low = u64::from(c?) << 32 | u64::from(d?);
        Some(Uuid(u128::from(high) << 64 | u128::from(low)))
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Eight hexadecimal digits, either case, as their value; `None` when a byte is not one. `x` holds
/// them in text order, the first in its low byte: each byte is checked and converted in place, all
/// eight at once, and the nibbles are then gathered pairwise.
#[inline]
fn hex8(x: u64) -> Option<u32> {
    // A byte's high bit set when it lies in lo..=hi; exact for bytes below 0x80, for which no sum
    // carries into the next byte (any other byte fails the first test below).
    let in_range =
        |lo: u64, hi: u64| x.wrapping_add((0x80 - lo) * ONES) & !x.wrapping_add((0x7f - hi) * ONES) & HIGH_BITS;
    let digits = in_range(0x30, 0x39);
    let letters = in_range(0x41, 0x46) | in_range(0x61, 0x66);
    if x & HIGH_BITS != 0 || digits | letters != HIGH_BITS {
        return None;
    }
    // '0'..'9' are 0x30..0x39, 'a'..'f' and 'A'..'F' end in 1..6: a letter's value is its low
    // nibble and 9.
    let nibbles = (x & 0x0f0f_0f0f_0f0f_0f0f) + (letters >> 7) * 9;
    let pairs = (nibbles & 0x000f_000f_000f_000f) << 4 | (nibbles >> 8) & 0x000f_000f_000f_000f;
    let quads = (pairs & 0x0000_00ff_0000_00ff) << 8 | (pairs >> 16) & 0x0000_00ff_0000_00ff;
    Some(((quads & 0xffff) << 16 | (quads >> 32) & 0xffff) as u32)
}

impl Uuid {
    /// The canonical text: lower-case hex digits in groups of 8-4-4-4-12, two digits per byte of the
    /// value (reports write a UUID per row: millions).
    pub fn to_text(self) -> [u8; 36] {
        // Where each byte's two digits go: the hyphens are at 8, 13, 18 and 23.
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut text = [b'-'; 36];
        for (byte, at) in self.0.to_be_bytes().into_iter().zip(AT) {
            text[at..at + 2].copy_from_slice(&hex_pair(byte));
        }
        text
    }

    /// Appends the canonical text.
    pub fn write_to(self, out: &mut String) {
        push_ascii(out, &self.to_text());
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(36);
        self.write_to(&mut text);
        f.write_str(&text)
    }
}

/// An ISO 3166-1 alpha-2 country code: two ASCII letters, held and written in upper case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country([u8; 2]);

impl Country {
    pub fn parse(text: &str) -> Option<Country> {
        match text.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Some(Country([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

/// How far an engagement's claims reach: one workload of a tenant, or one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Workload,
    Subscription,
}

/// The incentive engagements of SPEC 2.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Engagement {
    ModernWorkSecurityUsage,
    BizappsPresalesAdvisor,
    BizappsUsageRecognition,
    BizappsRevenue,
}

impl Engagement {
    pub const ALL: [Engagement; 4] = [
        Engagement::ModernWorkSecurityUsage,
        Engagement::BizappsPresalesAdvisor,
        Engagement::BizappsUsageRecognition,
        Engagement::BizappsRevenue,
    ];

    /// The code, which every output writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Engagement::ModernWorkSecurityUsage => "modern_work_security_usage",
            Engagement::BizappsPresalesAdvisor => "bizapps_presales_advisor",
            Engagement::BizappsUsageRecognition => "bizapps_usage_recognition",
            Engagement::BizappsRevenue => "bizapps_revenue",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Engagement::ModernWorkSecurityUsage => "Modern Work and Security Usage",
            Engagement::BizappsPresalesAdvisor => "MCI BizApps Presales Advisor",
            Engagement::BizappsUsageRecognition => "Usage Recognition - Biz Apps",
            Engagement::BizappsRevenue => "Business Applications Revenue",
        }
    }

    pub fn scope(self) -> Scope {
        match self {
            Engagement::ModernWorkSecurityUsage => Scope::Workload,
            _ => Scope::Subscription,
        }
    }

    /// The code or the display name, case-insensitively.
    pub fn parse(text: &str) -> Option<Engagement> {
        Engagement::ALL
            .into_iter()
            .find(|e| text.eq_ignore_ascii_case(e.as_str()) || text.eq_ignore_ascii_case(e.display_name()))
    }
}

/// A customer's answer to a claim (SPEC 2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseKind {
    OptOut,
    Accept,
}

impl ResponseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseKind::OptOut => "opt_out",
            ResponseKind::Accept => "accept",
        }
    }

    /// The two codes and their documented aliases, case-insensitively.
    pub fn parse(text: &str) -> Option<ResponseKind> {
        const OPT_OUT: [&str; 5] = ["opt_out", "opt-out", "optout", "decline", "declined"];
        const ACCEPT: [&str; 4] = ["accept", "accepted", "approve", "approved"];
        if OPT_OUT.iter().any(|a| text.eq_ignore_ascii_case(a)) {
            Some(ResponseKind::OptOut)
        } else if ACCEPT.iter().any(|a| text.eq_ignore_ascii_case(a)) {
            Some(ResponseKind::Accept)
        } else {
            None
        }
    }
}

/// A count (SPEC 2.4): a whole number ≥ 0, written with ASCII digits only.
pub fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub(crate) fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |acc, b| acc * 10 + (b - b'0') as u32))
}

/// A date `YYYY-MM-DD` (SPEC 2.4), strictly: a real calendar day, four-digit year from 0001.
pub fn parse_date(text: &str) -> Option<Days> {
    match text.as_bytes() {
        [y @ .., b'-', m1, m2, b'-', d1, d2] if y.len() == 4 => {
            let year = digits(y)?;
            if year == 0 {
                return None;
            }
            // A four-digit year fits an i32.
            let date = NaiveDate::from_ymd_opt(year as i32, digits(&[*m1, *m2])?, digits(&[*d1, *d2])?)?;
            Some(days_from_date(date))
        }
        _ => None,
    }
}

/// Days from 0001-01-01 (chrono's "common era" day 1) to 1970-01-01.
const EPOCH_FROM_CE: i32 = 719_163;

/// Days since the epoch of a date. chrono's dates span about ±262,000 years, well inside an i32 of
/// days, so the subtraction cannot overflow.
pub fn days_from_date(date: NaiveDate) -> Days {
    use chrono::Datelike;
    date.num_days_from_ce() - EPOCH_FROM_CE
}

/// The date of a count of days since the epoch. Dates that cpor reads are checked to lie in
/// 0001–9999 first; a count beyond chrono's range (about ±262,000 years) gives its first or last day
/// rather than a panic.
pub fn date_from_days(days: Days) -> NaiveDate {
    days.checked_add(EPOCH_FROM_CE).and_then(NaiveDate::from_num_days_from_ce_opt).unwrap_or(if days < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    })
}

pub fn format_date(days: Days) -> String {
    date_text(days).as_str().to_string()
}

/// A short ASCII text on the stack — a date, a timestamp, a UUID, a count — that outputs write by
/// the million without allocating.
#[derive(Clone, Copy)]
pub struct ShortText {
    bytes: [u8; 40],
    len: usize,
}

impl ShortText {
    const EMPTY: ShortText = ShortText { bytes: [0; 40], len: 0 };

    /// Appends `bytes`, cut at the capacity, which no caller comes near (a timestamp, the longest,
    /// is at most 31 bytes).
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    pub fn as_str(&self) -> &str {
        // ASCII by construction.
        std::str::from_utf8(self.as_ref()).unwrap_or_default()
    }
}

impl AsRef<[u8]> for ShortText {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl From<Uuid> for ShortText {
    fn from(uuid: Uuid) -> ShortText {
        let mut text = ShortText::EMPTY;
        text.push(&uuid.to_text());
        text
    }
}

/// The text of a date: `YYYY-MM-DD`, or with as many year digits as it takes (and a sign)
/// outside the years 0000–9999 — never in an output, whose dates are checked to lie in 0001–9999,
/// but in a reject's raw text or an explanation.
pub fn date_text(days: Days) -> ShortText {
    let mut text = ShortText::EMPTY;
    if let Some(table) = table_date(days) {
        text.push(table);
        return text;
    }
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let mut date = *b"0000-00-00";
        put_date(&mut date, year, month, day);
        text.push(&date);
    } else {
        // A day count is an i32: the year has at most seven digits and a sign, 14 bytes in all.
        text.push(format!("{year:04}-{month:02}-{day:02}").as_bytes());
    }
    text
}

/// Appends a date's text (`date_text`) to `out`. The digits are written in place in `out`: a text
/// built apart and then copied in is read back before its last bytes' stores have landed, a stall
/// per value, and a report writes several values on each of its rows (BENCHMARKS.md).
pub fn push_date(out: &mut Vec<u8>, days: Days) {
    if let Some(text) = table_date(days) {
        out.extend_from_slice(text);
        return;
    }
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let at = out.len();
        out.extend_from_slice(b"0000-00-00");
        put_date(&mut out[at..], year, month, day);
    } else {
        out.extend_from_slice(date_text(days).as_ref());
    }
}

/// The first day of `date_table`, 1970-01-01, and its number of days, to 2099-12-31.
const DATE_TABLE_FIRST: Days = 0;
const DATE_TABLE_DAYS: Days = 47_482;

/// The texts of the days from 1970 to 2099, made once (464 KiB): a report's rows are dated within
/// them, and one CSV report row after another took a date's digits from its day count (20 ns a row,
/// 0.2 CPU-s for the `large` profile's 10.7 million rows, BENCHMARKS.md); copied from here instead.
fn date_table() -> &'static [[u8; 10]] {
    static TABLE: std::sync::OnceLock<Vec<[u8; 10]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (DATE_TABLE_FIRST..DATE_TABLE_FIRST + DATE_TABLE_DAYS)
            .map(|days| {
                let (year, month, day) = civil_from_days(days);
                let mut text = *b"0000-00-00";
                put_date(&mut text, year, month, day);
                text
            })
            .collect()
    })
}

/// The day's text from `date_table`, when the day is in it.
fn table_date(days: Days) -> Option<&'static [u8; 10]> {
    date_table().get(usize::try_from(days.checked_sub(DATE_TABLE_FIRST)?).ok()?)
}

/// Writes the digits of a date of the years 0000–9999 into `YYYY-MM-DD`.
fn put_date(slot: &mut [u8], year: i64, month: u32, day: u32) {
    put_digits(&mut slot[..4], year.unsigned_abs());
    put_digits(&mut slot[5..7], month.into());
    put_digits(&mut slot[8..10], day.into());
}

/// Appends ASCII bytes (digits, hexadecimal digits, `-`) in one copy.
fn push_ascii(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        // Never taken: every caller passes ASCII.
        Err(_) => out.extend(bytes.iter().map(|&b| b as char)),
    }
}

/// (year, month, day) of a count of days since 1970-01-01, in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: Days) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `value` in decimal, zero-padded to `width` digits (at most 20).
pub fn decimal(value: u64, width: usize) -> ShortText {
    let mut text = ShortText::EMPTY;
    // At most 20 digits: u64::MAX has 20.
    text.len = digit_count(value).max(width).min(20);
    put_digits(&mut text.bytes[..text.len], value);
    text
}

/// Appends `value` in decimal to `out`, its digits written in place (see `push_date`).
pub fn push_decimal(out: &mut Vec<u8>, value: u64) {
    let at = out.len();
    out.resize(at + digit_count(value), b'0');
    put_digits(&mut out[at..], value);
}

/// The number of decimal digits of `value` (1 for 0).
#[inline]
fn digit_count(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Fills `slot` with the last `slot.len()` decimal digits of `value`, zero-padded.
fn put_digits(slot: &mut [u8], value: u64) {
    let mut rest = value;
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// A timestamp (SPEC 2.4): RFC 3339 — `T`, `t` or a space between date and time, optional fraction,
/// `Z`/`z` or `±HH:MM` — or the same without an offset, which means UTC. Digits after the sixth of the
/// fraction are cut, not rounded.
pub fn parse_timestamp(text: &str) -> Option<Micros> {
    let b = text.as_bytes();
    // Every index below 19 is in bounds after this length check.
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let date = date_from_days(parse_date(text.get(..10)?)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut rest = &b[19..];
    let mut micros: i64 = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for i in 0..6 {
            micros = micros * 10 + frac.get(i).filter(|_| i < n).map_or(0, |d| (d - b'0') as i64);
        }
        rest = &frac[n..];
    }
    instant(days_from_date(date), hour * 3600 + minute * 60 + second, micros, offset_seconds(rest)?)
}

/// The offset that ends a timestamp, in seconds east of UTC: nothing, `Z`/`z` (UTC) or `±HH:MM`.
pub(crate) fn offset_seconds(rest: &[u8]) -> Option<i64> {
    match rest {
        [] | [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let s = (h * 3600 + m * 60) as i64;
            Some(if *sign == b'+' { s } else { -s })
        }
        _ => None,
    }
}

/// The instant of a local date, second of the day, microseconds and offset; `None` outside
/// 0001–9999 (SPEC 2.4).
pub(crate) fn instant(days: Days, second_of_day: u32, micros: i64, offset_seconds: i64) -> Option<Micros> {
    let local_seconds = days as i64 * 86_400 + second_of_day as i64;
    // Years 0001–9999 and offsets under a day keep this far inside an i64; an offset can still move
    // the instant out of 0001–9999 (`0001-01-01T00:00:00+01:00`), which SPEC 2.4 does not admit.
    let t = (local_seconds - offset_seconds) * MICROS_PER_SECOND + micros;
    timestamp_in_range(t).then_some(t)
}

/// Writes an instant in UTC as `YYYY-MM-DDTHH:MM:SSZ`, or with six fraction digits when the fraction
/// is not zero (SPEC 2.4).
pub fn format_timestamp(t: Micros) -> String {
    timestamp_text(t).as_str().to_string()
}

/// [`format_timestamp`]'s text, on the stack.
pub fn timestamp_text(t: Micros) -> ShortText {
    let days = t.div_euclid(86_400 * MICROS_PER_SECOND);
    let in_day = t.rem_euclid(86_400 * MICROS_PER_SECOND);
    // An i64 of microseconds is at most about 107 million days either way: an i32 holds it.
    let mut text = date_text(days as Days);
    let seconds = (in_day / MICROS_PER_SECOND) as u64;
    let mut time = *b"T00:00:00";
    put_digits(&mut time[1..3], seconds / 3600);
    put_digits(&mut time[4..6], seconds / 60 % 60);
    put_digits(&mut time[7..], seconds % 60);
    text.push(&time);
    let fraction = (in_day % MICROS_PER_SECOND) as u64;
    if fraction != 0 {
        let mut digits = *b".000000";
        put_digits(&mut digits[1..], fraction);
        text.push(&digits);
    }
    text.push(b"Z");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn a_date_from_the_table_is_the_date_computed() {
        let edges = [DATE_TABLE_FIRST - 1, DATE_TABLE_FIRST, DATE_TABLE_FIRST + DATE_TABLE_DAYS - 1];
        let outside = [DATE_TABLE_FIRST + DATE_TABLE_DAYS, -719_528, 2_932_896, Days::MIN, Days::MAX];
        for days in edges.into_iter().chain(outside).chain((-1_000..50_000).step_by(7)) {
            let mut pushed = b"x,".to_vec();
            push_date(&mut pushed, days);
            assert_eq!(pushed[2..], *date_text(days).as_ref(), "day {days}: push_date and date_text");
            let expected = chrono::NaiveDate::from_num_days_from_ce_opt(days.saturating_add(719_163))
                .filter(|d| (0..=9999).contains(&chrono::Datelike::year(d)))
                .map_or_else(|| date_text(days).as_ref().to_vec(), |d| d.format("%Y-%m-%d").to_string().into_bytes());
            assert_eq!(pushed[2..], expected[..], "day {days}");
        }
        let mut last = Vec::new();
        push_date(&mut last, DATE_TABLE_FIRST + DATE_TABLE_DAYS - 1);
        assert_eq!(last, b"2099-12-31", "the table's last day");
    }

    #[test]
    fn ids() {
        for ok in ["C000001", "4304881", "a.b_c-d", "x", &"a".repeat(64)] {
            assert!(Id::parse(ok).is_some(), "{ok}");
        }
        for bad in ["", ".hidden", "../../etc/passwd", "C 1", "a/b", "é", &"a".repeat(65), "-rf", "-", "=1", "+1", "@x"]
        {
            assert!(Id::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_held_in_place_or_not_are_their_text() {
        assert_eq!(std::mem::size_of::<Id>(), 24);
        let short = "a".repeat(INLINE_ID);
        let long = "a".repeat(INLINE_ID + 1);
        let (a, b) = (Id::parse(&short).unwrap(), Id::parse(&long).unwrap());
        assert_eq!((a.as_str(), b.as_str()), (short.as_str(), long.as_str()));
        assert!(a < b && Id::parse("b").unwrap() > b, "ordered as their texts");
        assert_eq!(Id::parse("ab-1").unwrap().to_string(), "ab-1");
        assert_eq!(format!("{:?}", Id::parse("C1").unwrap()), "Id(\"C1\")");
        // Equal but for case, in place and not: one folded hash, and eq_folded.
        let upper = Id::parse(&"A".repeat(INLINE_ID + 1)).unwrap();
        assert!(upper.eq_folded(&b) && upper != b && upper.folded_hash() == b.folded_hash());
        let set: std::collections::HashSet<Id> = [a.clone(), b.clone()].into_iter().collect();
        assert!(set.contains(short.as_str()) && set.contains(long.as_str()), "looked up by text");
    }

    /// Hexadecimal digit values; 0xff for any other byte.
    const HEX: [u8; 256] = {
        let mut table = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            table[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };

    /// `Uuid::parse` as it was, a digit at a time through `HEX`: the reference for the one that
    /// takes eight at a time.
    fn parse_by_table(text: &str) -> Option<Uuid> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 || [8, 13, 18, 23].iter().any(|&k| bytes[k] != b'-') {
            return None;
        }
        let mut value = 0u128;
        for (k, &b) in bytes.iter().enumerate() {
            if ![8, 13, 18, 23].contains(&k) {
                let digit = HEX[b as usize];
                if digit == 0xff {
                    return None;
                }
                value = value << 4 | u128::from(digit);
            }
        }
        Some(Uuid(value))
    }

    #[test]
    fn uuids_parse_as_digit_by_digit_whatever_byte_stands_anywhere() {
        let texts = [
            "3be93fb8-d995-4a62-9b11-96f741b79d35",
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-ffff-FfFf-fFfF-0123456789aB",
        ];
        for text in texts {
            let expected = parse_by_table(text);
            assert!(expected.is_some(), "{text}");
            assert_eq!(Uuid::parse(text), expected, "{text}");
            // Every byte value at every place: only hexadecimal digits (and the dashes, in
            // place) parse, each to its value.
            for at in 0..36 {
                for byte in 0..=255u8 {
                    let mut bytes = text.as_bytes().to_vec();
                    bytes[at] = byte;
                    let Ok(mutated) = String::from_utf8(bytes) else { continue };
                    assert_eq!(Uuid::parse(&mutated), parse_by_table(&mutated), "{mutated:?}");
                }
            }
        }
        // Multi-byte characters, which `from_utf8` refused above, never parse.
        assert_eq!(Uuid::parse("3be93fb8-d995-4a62-9b11-96f741b79dé"), None);
        assert_eq!(Uuid::parse("3be93fb8-d995-4a62-9b11-96f741b7é5"), None);
        // Random texts of UUID digits and dashes: the same values.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let text: String = (0..36)
                .map(|k| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let pool = b"0123456789abcdefABCDEF-gG:/@`";
                    if [8, 13, 18, 23].contains(&k) && !seed.is_multiple_of(8) {
                        '-'
                    } else {
                        pool[(seed % pool.len() as u64) as usize] as char
                    }
                })
                .collect();
            assert_eq!(Uuid::parse(&text), parse_by_table(&text), "{text}");
        }
    }

    #[test]
    fn uuids_round_trip_in_lower_case() {
        let u = Uuid::parse("3BE93FB8-D995-4a62-9b11-96f741b79d35").unwrap();
        assert_eq!(u.to_string(), "3be93fb8-d995-4a62-9b11-96f741b79d35");
        for bad in ["not-a-uuid", "3be93fb8d9954a629b1196f741b79d35", "3be93fb8-d995-4a62-9b11-96f741b79d3g"] {
            assert!(Uuid::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn countries_and_engagements() {
        assert_eq!(Country::parse("de").unwrap().as_str(), "DE");
        assert!(Country::parse("USA").is_none());
        assert!(Country::parse("D1").is_none());
        assert_eq!(Engagement::parse("MCI BIZAPPS PRESALES ADVISOR"), Some(Engagement::BizappsPresalesAdvisor));
        assert_eq!(Engagement::parse("Bizapps_Revenue"), Some(Engagement::BizappsRevenue));
        assert_eq!(Engagement::parse("Partner Magic"), None);
        assert_eq!(Engagement::ModernWorkSecurityUsage.scope(), Scope::Workload);
    }

    #[test]
    fn responses() {
        for (text, kind) in [
            ("OPT-OUT", ResponseKind::OptOut),
            ("optout", ResponseKind::OptOut),
            ("Declined", ResponseKind::OptOut),
            ("approve", ResponseKind::Accept),
            ("ACCEPTED", ResponseKind::Accept),
        ] {
            assert_eq!(ResponseKind::parse(text), Some(kind), "{text}");
        }
        assert_eq!(ResponseKind::parse("maybe"), None);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("0"), Some(0));
        assert_eq!(parse_count("007"), Some(7));
        for bad in ["-1", "1.5", "+3", "1e3", "", "99999999999999999999999"] {
            assert_eq!(parse_count(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        let z = parse_timestamp("2026-11-23T10:00:00Z").unwrap();
        for (text, expected) in [
            ("2026-11-23 10:00:00", z),
            ("2026-11-23T10:00:00", z),
            ("2026-11-23t10:00:00z", z),
            ("2026-11-23T11:00:00+01:00", z),
            ("2026-11-23T05:00:00-05:00", z),
            ("2026-11-23T10:00:00.250+00:00", z + 250_000),
            ("2026-11-23T10:00:00.1234567Z", z + 123_456),
            ("2026-11-23T10:00:00.9999999Z", z + 999_999),
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        for bad in [
            "soon",
            "2026-13-45T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-23",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:00Z",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:00+0100",
            "2026-11-23T10:00:00 Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamp_output_form() {
        let t = parse_timestamp("2026-11-11T22:59:59.999999+02:00").unwrap();
        assert_eq!(format_timestamp(t), "2026-11-11T20:59:59.999999Z");
        let t = parse_timestamp("2026-10-24 23:59:59").unwrap();
        assert_eq!(format_timestamp(t), "2026-10-24T23:59:59Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn hand_written_formats_agree_with_chrono_and_fmt() {
        use chrono::Datelike;
        // Every day from year 0 to 9999 and beyond either end (the fallback), and timestamps in them.
        for days in (-800_000..3_000_000).step_by(7) {
            let date = date_from_days(days);
            let expected = format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
            assert_eq!(format_date(days), expected, "day {days}");
            let t = days as i64 * 86_400 * MICROS_PER_SECOND + (days as i64 * 7_919_993) % (86_400 * MICROS_PER_SECOND);
            if !timestamp_in_range(t) {
                continue;
            }
            let dt: DateTime<Utc> = DateTime::from_timestamp_micros(t).unwrap();
            let pattern = if t % MICROS_PER_SECOND == 0 { "%Y-%m-%dT%H:%M:%SZ" } else { "%Y-%m-%dT%H:%M:%S%.6fZ" };
            assert_eq!(format_timestamp(t), dt.format(pattern).to_string(), "timestamp {t}");
        }
        for value in [0u128, 1, u128::MAX, 0x3be93fb8_d995_4a62_9b11_96f741b79d35, 1 << 64, (1 << 64) - 1] {
            let v = value;
            let expected = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                (v >> 96) as u32,
                (v >> 80) as u16,
                (v >> 64) as u16,
                (v >> 48) as u16,
                v & 0xffff_ffff_ffff
            );
            assert_eq!(Uuid(value).to_string(), expected);
            assert_eq!(Uuid::parse(&expected), Some(Uuid(value)));
        }
    }

    #[test]
    fn digits() {
        for (value, width) in [(0, 1), (0, 4), (7, 2), (1234, 2), (u64::MAX, 1), (42, 6), (5, 20), (5, 25)] {
            assert_eq!(decimal(value, width).as_str(), format!("{value:0width$}", width = width.min(20)));
        }
    }

    #[test]
    fn date_text_is_the_formatted_date_with_longer_years_outside_four_digits() {
        for (year, month, day) in [(1, 1, 1), (1970, 1, 1), (2026, 2, 28), (2028, 2, 29), (9999, 12, 31), (0, 1, 1)] {
            let date = NaiveDate::from_ymd_opt(year, month, day).unwrap();
            let text = date_text(days_from_date(date));
            assert_eq!(text.as_ref(), date.format("%Y-%m-%d").to_string().as_bytes(), "{date}");
        }
        let first = days_from_date(NaiveDate::from_ymd_opt(0, 1, 1).unwrap());
        assert_eq!(date_text(first - 1).as_ref(), b"-001-12-31");
        let last = days_from_date(NaiveDate::from_ymd_opt(9999, 12, 31).unwrap());
        assert_eq!(date_text(last + 1).as_ref(), b"10000-01-01");
        assert_eq!(format_date(Days::MAX), "5881580-07-11");
        assert_eq!(format_date(Days::MIN), "-5877641-06-23");
    }

    #[test]
    fn hex_pairs_are_each_bytes_two_lower_case_digits() {
        for byte in 0..=255u8 {
            assert_eq!(hex_pair(byte), *format!("{byte:02x}").as_bytes());
        }
    }

    #[test]
    fn text_refuses_controls_and_formula_starts() {
        for ok in ["Teams", "SharePoint Online", "a=b", "Dynamics 365 - Sales", "é", "\u{a0}x"] {
            assert_eq!(text_fault(ok), None, "{ok:?}");
        }
        for bad in
            ["=HYPERLINK(\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "a\u{1b}[31m", "a\u{9b}b", "a\u{7f}", "a\tb"]
        {
            assert!(text_fault(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn timestamps_and_dates_outside_years_1_to_9999_are_refused() {
        assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), Some(MIN_MICROS));
        assert_eq!(parse_timestamp("9999-12-31T23:59:59.999999Z"), Some(MAX_MICROS));
        assert_eq!(parse_timestamp("0001-01-01T00:00:00+01:00"), None);
        assert_eq!(parse_timestamp("9999-12-31T23:59:59-00:01"), None);
        assert_eq!(parse_timestamp("0000-06-01T00:00:00Z"), None);
        assert_eq!(parse_date("0000-01-01"), None);
        assert_eq!(parse_date("0001-01-01"), Some(MIN_DAYS));
        assert_eq!(parse_date("9999-12-31"), Some(MAX_DAYS));
        assert_eq!(format_timestamp(MIN_MICROS), "0001-01-01T00:00:00Z");
        assert_eq!(format_timestamp(MAX_MICROS), "9999-12-31T23:59:59.999999Z");
        assert!(timestamp_in_range(0) && !timestamp_in_range(MIN_MICROS - 1) && !timestamp_in_range(MAX_MICROS + 1));
        assert!(date_in_range(0) && !date_in_range(MIN_DAYS - 1) && !date_in_range(MAX_DAYS + 1));
        // Whatever the value, formatting never panics.
        for t in [i64::MIN, i64::MIN + 1, -1, i64::MAX - 1, i64::MAX] {
            assert!(!format_timestamp(t).is_empty());
        }
        for d in [i32::MIN, i32::MAX] {
            assert!(!format_date(d).is_empty());
            let _ = date_from_days(d);
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(format_date(parse_date("2026-11-23").unwrap()), "2026-11-23");
        for bad in ["2026-11-31", "26-11-23", "2026/11/23", "2026-11-23T00:00:00Z"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
