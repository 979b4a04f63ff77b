//! The CSV encoder (SPEC 6): RFC 4180 quoting, as the `csv` crate writes it, for every table and
//! report cpor writes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::records::Claim;
use crate::report::Report;
use crate::types::{push_date, push_decimal, Uuid};

use super::columns::REPORT_COLUMNS;

/// A CSV field, quoted when it must be: when it holds a comma, a quote, CR or LF (RFC 4180, and
/// the `csv` crate's rule), its quotes doubled. The four characters are ASCII, so their bytes are
/// looked for: `str::contains` with a set of characters decoded every character (a tenth of a
/// microsecond for an id, three times a report).
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    if needs_quotes(field) {
        out.push(b'"');
        for &b in field {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field);
    }
}

/// Whether `field` holds a comma, a quote, CR or LF, eight bytes at a time. The four are below
/// `-` (0x2D), as the bytes of ids, UUIDs, dates, numbers and hashes are not: a word with no byte
/// below it (`v - 0x2D… & !v & 0x80…` is zero: the borrow of the first such byte sets its top bit)
/// holds none of them; else each is looked for (a byte equal to one is a zero byte of the word
/// xor'ed with it). A byte at a time, with a branch at each, the test was 15 ns for a ledger's or a
/// manifest's field: half a CPU-second for the `large` profile's 30 million (BENCHMARKS.md).
pub fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let special = |v: u64| {
        if below(v, b'-') == 0 {
            return 0;
        }
        below(v ^ (ONES * u64::from(b',')), 1)
            | below(v ^ (ONES * u64::from(b'"')), 1)
            | below(v ^ (ONES * u64::from(b'\n')), 1)
            | below(v ^ (ONES * u64::from(b'\r')), 1)
    };
    let word = |bytes: &[u8]| <[u8; 8]>::try_from(bytes).map_or(0, u64::from_le_bytes);
    if field.len() < 8 {
        return field.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    }
    let mut found = 0;
    for chunk in field.chunks_exact(8) {
        found |= special(word(chunk));
    }
    // The last eight bytes, which hold the few the words above left.
    found |= field.get(field.len() - 8..).map_or(0, |last| special(word(last)));
    found != 0
}

/// Records encoded as CSV, as the `csv` crate's writer encodes them with its defaults: fields
/// quoted only where they must be (`push_field`), a record of no text (one empty field, or none)
/// written `""` (so that its line is not blank), each record ended by LF. Each field is checked once and
/// copied whole: through the crate's writer, every byte went through its state machine one at a
/// time (a quarter more CPU for the large profile's ledger and manifests, BENCHMARKS.md).
#[derive(Default)]
pub(super) struct CsvRecords {
    bytes: Vec<u8>,
}

impl CsvRecords {
    pub(super) fn write_record<I, F>(&mut self, fields: I)
    where
        I: IntoIterator<Item = F>,
        F: AsRef<[u8]>,
    {
        let start = self.bytes.len();
        for (k, field) in fields.into_iter().enumerate() {
            if k > 0 {
                self.bytes.push(b',');
            }
            push_field(&mut self.bytes, field.as_ref());
        }
        if self.bytes.len() == start {
            self.bytes.extend_from_slice(b"\"\"");
        }
        self.bytes.push(b'\n');
    }
}

/// A report as CSV bytes, written directly: reports are the bulk of the output (millions of rows),
/// and the claim's columns are the same on every row. Dates and counts are written in place in `out`
/// (`push_date`); a report's few subscriptions are made into text once each.
pub(super) fn report_csv(claim: &Claim, report: &Report) -> Vec<u8> {
    let mut prefix = Vec::new();
    push_field(&mut prefix, claim.id.as_str().as_bytes());
    prefix.push(b',');
    push_field(&mut prefix, claim.partner_id.as_str().as_bytes());
    prefix.push(b',');
    prefix.extend_from_slice(&claim.tenant.to_text());
    prefix.push(b',');
    prefix.extend_from_slice(claim.engagement.as_str().as_bytes());
    prefix.push(b',');
    push_field(&mut prefix, claim.workload.as_bytes());
    prefix.push(b',');
    // Room for the longest rows: a subscription, a date and three counts of 20 digits, with their
    // commas and the line's end. Counting the rows with a subscription reads every row once before
    // they are written: those reads do not wait on one another, so the rows (written in the report
    // stage, long out of the cache) arrive together instead of one cache miss after another in the
    // loop below (BENCHMARKS.md, issue 14).
    let with_subscription = report.rows.iter().filter(|row| row.has_subscription()).count();
    let row_room = prefix.len() + 1 + 10 + 3 * 21 + 1;
    let mut out = Vec::with_capacity(128 + report.rows.len() * row_room + with_subscription * 36);
    for (k, name) in REPORT_COLUMNS.iter().enumerate() {
        out.extend_from_slice(if k == 0 { b"" } else { b"," });
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    let mut subscriptions = SubscriptionTexts::default();
    for row in &report.rows {
        out.extend_from_slice(&prefix);
        if let Some(sub) = row.subscription() {
            out.extend_from_slice(subscriptions.text(sub));
        }
        out.push(b',');
        push_date(&mut out, row.date);
        let counts = row.counts();
        for count in [counts.active_users(), counts.paid_seats(), counts.assigned_seats()] {
            out.push(b',');
            if let Some(c) = count {
                push_decimal(&mut out, c);
            }
        }
        out.push(b'\n');
    }
    out
}

/// The texts of a report's subscriptions, the first few kept: a report's rows repeat a handful.
struct SubscriptionTexts {
    kept: Vec<(Uuid, [u8; 36])>,
    last: [u8; 36],
}

impl Default for SubscriptionTexts {
    fn default() -> SubscriptionTexts {
        SubscriptionTexts { kept: Vec::new(), last: [0; 36] }
    }
}

impl SubscriptionTexts {
    /// Past this many, a subscription's text is made each time: the search stays short.
    const KEPT: usize = 16;

    fn text(&mut self, uuid: Uuid) -> &[u8] {
        match self.kept.iter().position(|(kept, _)| *kept == uuid) {
            Some(at) => &self.kept[at].1,
            None if self.kept.len() < Self::KEPT => {
                self.kept.push((uuid, uuid.to_text()));
                &self.kept[self.kept.len() - 1].1
            }
            None => {
                self.last = uuid.to_text();
                &self.last
            }
        }
    }
}

/// Rows a thread encodes at a time in [`write_csv`].
const ENCODE_ROWS: usize = 1 << 13;

/// Writes a CSV file: a run's rows as it makes them, or a shard's rows as `cpor merge` read them
/// back, with the same quoting. `encode` writes one row. The rows are encoded in chunks on every
/// core and written in order (a ledger has a row per claim: millions), at most one chunk per core
/// held at a time beyond the file's buffer.
pub(super) fn write_csv<T: Sync>(
    path: &Path,
    header: &[&str],
    rows: &[T],
    encode: impl Fn(&mut CsvRecords, &T) + Sync,
) -> std::io::Result<()> {
    write_csv_warmed(path, header, rows, |_| {}, encode)
}

/// [`write_csv`], with `warm` called on rows a little ahead of their encoding (see
/// [`csv_body_warmed`]).
pub(super) fn write_csv_warmed<T: Sync>(
    path: &Path,
    header: &[&str],
    rows: &[T],
    warm: impl Fn(&T) + Sync,
    encode: impl Fn(&mut CsvRecords, &T) + Sync,
) -> std::io::Result<()> {
    let mut file = create_with_header(path, header)?;
    for group in rows.chunks(ENCODE_ROWS * rayon::current_num_threads().max(1)) {
        let encoded: Vec<Vec<u8>> =
            group.par_chunks(ENCODE_ROWS).map(|rows| csv_body_warmed(rows, &warm, &encode)).collect();
        for bytes in encoded {
            file.write_all(&bytes)?;
        }
    }
    file.flush()
}

/// `rows` encoded as CSV records, without a header.
pub(super) fn csv_body<T>(rows: &[T], encode: impl Fn(&mut CsvRecords, &T)) -> Vec<u8> {
    csv_body_warmed(rows, |_| {}, encode)
}

/// Rows warmed at a time by [`csv_body_warmed`].
const WARM_ROWS: usize = 16;

/// [`csv_body`], each group of [`WARM_ROWS`] rows first given to `warm`, which reads the parts of
/// each row its encoding will read. Rows that point elsewhere in memory (the ledger's, in claim_id
/// order, not in the order they lie) each wait for a cache miss or more when encoded one after the
/// other; read first, a group's misses overlap, as they do not wait on one another (BENCHMARKS.md,
/// issue 14).
pub(super) fn csv_body_warmed<T>(rows: &[T], warm: impl Fn(&T), encode: impl Fn(&mut CsvRecords, &T)) -> Vec<u8> {
    let mut records = CsvRecords::default();
    for group in rows.chunks(WARM_ROWS) {
        group.iter().for_each(&warm);
        for row in group {
            encode(&mut records, row);
        }
    }
    records.bytes
}

/// Writes a CSV file of `header` and records already encoded (`csv_body`), part after part.
pub(super) fn write_csv_parts(path: &Path, header: &[&str], parts: &[Vec<u8>]) -> std::io::Result<()> {
    let mut file = create_with_header(path, header)?;
    for part in parts {
        file.write_all(part)?;
    }
    file.flush()
}

/// Creates the CSV file at `path`, buffered, and writes its header.
fn create_with_header(path: &Path, header: &[&str]) -> std::io::Result<BufWriter<File>> {
    let mut file = BufWriter::with_capacity(1 << 16, File::create(path)?);
    file.write_all(&csv_body(&[header], |records, header| records.write_record(*header)))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytewise_special(b: u8) -> bool {
        matches!(b, b',' | b'"' | b'\n' | b'\r')
    }

    /// Records as the `csv` crate's writer encodes them with its defaults.
    fn crate_bytes(records: &[Vec<String>]) -> Vec<u8> {
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        for record in records {
            writer.write_record(record).unwrap();
        }
        writer.into_inner().unwrap()
    }

    #[test]
    fn fields_are_quoted_only_where_they_must_be() {
        let mut records = CsvRecords::default();
        records.write_record(["plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", "", "é"]);
        records.write_record([""]);
        records.write_record(["", ""]);
        records.write_record(std::iter::empty::<&str>());
        let expected = "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\",,é\n\"\"\n,\n\"\"\n";
        assert_eq!(String::from_utf8(records.bytes).unwrap(), expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// The word-at-a-time test says what a byte-at-a-time one says, at every length and place.
        #[test]
        fn a_field_needs_quotes_when_a_byte_does(field in proptest::collection::vec(
            prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), any::<u8>(), 0x20u8..0x7f, 0x20u8..0x7f],
            0..40,
        )) {
            let bytewise = field.iter().any(|&b| bytewise_special(b));
            prop_assert_eq!(needs_quotes(&field), bytewise);
            let plain: Vec<u8> = field.iter().map(|&b| if bytewise_special(b) { b'x' } else { b }).collect();
            prop_assert!(!needs_quotes(&plain));
        }

        /// The same bytes as the `csv` crate's writer, the encoder cpor used before, for any records.
        #[test]
        fn records_are_the_csv_crates_bytes(records in proptest::collection::vec(
            proptest::collection::vec("[a,\"\n\r é;\t]{0,6}", 0..5),
            0..6,
        )) {
            let mut ours = CsvRecords::default();
            for record in &records {
                ours.write_record(record);
            }
            prop_assert_eq!(ours.bytes, crate_bytes(&records));
        }
    }
}
