//! How a piece of a text file — whole records, cut by `super::split` — becomes fields, as the `csv`
//! crate's reader would read them (RFC 4180 quoting; `\n`, `\r` or `\r\n` ending a record; empty
//! lines skipped; rows of any length).
//!
//! A field is kept as a span, not copied: of the block's text when the piece holds no quote
//! character (then each delimiter ends a field and each line end a record, found eight bytes at a
//! time, see [`Specials`]), or
//! of the piece's text with quotes taken out, as `csv_core` (the `csv` crate's own parser) writes it.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::stream::MAX_RECORD_BYTES;

/// A `csv_core` reader with cpor's delimiter, for text from a record's start that is not the file's
/// start: fed an empty line first, it takes a byte-order mark there for text, as the file's one
/// reader would, rather than strip it as it does at the start of what it reads.
pub fn reader(delimiter: u8) -> Reader {
    let mut reader = ReaderBuilder::new().delimiter(delimiter).build();
    let _ = reader.read_record(b"\n", &mut [0u8; 1], &mut [0usize; 1]);
    reader
}

/// The records of one piece.
#[derive(Debug, Default)]
pub struct Piece {
    /// Each field's start and end: in the block's text, or, with `quoted`, in `unquoted`.
    pub spans: Vec<(u32, u32)>,
    /// The index in `spans` of each record's first field.
    pub rows: Vec<u32>,
    /// Whether the piece held a quote character, and its fields are spans of `unquoted`.
    pub quoted: bool,
    /// The piece's fields' text as `csv_core` writes it (quotes taken out), when `quoted`.
    pub unquoted: Vec<u8>,
    /// The text of each record whose number of fields is not the header's, by index in the piece.
    pub malformed: Vec<(usize, String)>,
}

impl Piece {
    /// Parses `block[from..to]`, whole records of a block that starts at file offset `offset`.
    /// `fields`: the header's number of fields.
    pub fn parse(
        &mut self,
        block: &[u8],
        from: usize,
        to: usize,
        offset: u64,
        delimiter: u8,
        fields: usize,
    ) -> Result<(), String> {
        self.spans.clear();
        self.rows.clear();
        self.unquoted.clear();
        self.malformed.clear();
        let text = block.get(from..to).unwrap_or(&[]);
        self.quoted = memchr::memchr(b'"', text).is_some();
        let mut lines = Lines { block, offset, fields, rows: &mut self.rows, malformed: &mut self.malformed };
        if self.quoted {
            parse_quoted(text, from, delimiter, &mut self.spans, &mut self.unquoted, &mut lines)
        } else {
            parse_plain(block, from, to, delimiter, &mut self.spans, &mut lines)
        }
    }
}

/// Where each record goes as it ends (a piece's `rows`), and what is checked of it: its length in
/// bytes, its number of fields.
struct Lines<'a> {
    block: &'a [u8],
    offset: u64,
    fields: usize,
    rows: &'a mut Vec<u32>,
    malformed: &'a mut Vec<(usize, String)>,
}

impl Lines<'_> {
    /// A record whose first field is `spans[first]`, of `count` fields, its text `block[start..end]`,
    /// has ended.
    fn end(&mut self, first: usize, start: usize, end: usize, count: usize) -> Result<(), String> {
        if end - start > MAX_RECORD_BYTES as usize {
            return Err(format!(
                "the record starting at byte offset {} is longer than 64 MiB",
                self.offset + start as u64
            ));
        }
        if count != self.fields {
            let line = String::from_utf8_lossy(self.block.get(start..end).unwrap_or(&[]));
            self.malformed.push((self.rows.len(), line.trim_matches(['\r', '\n']).to_string()));
        }
        self.rows.push(at(first));
        Ok(())
    }
}

/// A span's offsets as kept; a block is never 4 GiB long (the stream caps a record at 64 MiB, and
/// a block is cut at its first record end after 2 MiB).
fn at(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

/// The offsets in a text of its delimiters and line ends (`\n`, `\r`), in order, found eight bytes
/// at a time: in a CSV of short fields these bytes come every few bytes, too often for `memchr`'s
/// search, which starts again at each one.
struct Specials<'a> {
    text: &'a [u8],
    /// Offset of the next eight bytes to look at.
    at: usize,
    /// A bit set at the high bit of each byte of the last eight (from `at - 8`) not yet returned.
    found: u64,
    delimiter: u64,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

impl<'a> Specials<'a> {
    fn new(text: &'a [u8], delimiter: u8) -> Specials<'a> {
        Specials { text, at: 0, found: 0, delimiter: ONES * u64::from(delimiter) }
    }

    /// The high bit of each zero byte of `x` (exactly: no carry crosses from one byte to the next).
    fn zero_bytes(x: u64) -> u64 {
        !(((x & LOW7) + LOW7) | x | LOW7)
    }
}

impl Iterator for Specials<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.found == 0 {
            let word = match self.text.get(self.at..self.at + 8) {
                Some(word) => u64::from_le_bytes(word.try_into().ok()?),
                None => {
                    // The last bytes, padded with NULs (never a delimiter).
                    let rest = self.text.get(self.at..).filter(|rest| !rest.is_empty())?;
                    let mut word = [0u8; 8];
                    word[..rest.len()].copy_from_slice(rest);
                    u64::from_le_bytes(word)
                }
            };
            self.at += 8;
            self.found = Self::zero_bytes(word ^ self.delimiter)
                | Self::zero_bytes(word ^ (ONES * u64::from(b'\n')))
                | Self::zero_bytes(word ^ (ONES * u64::from(b'\r')));
        }
        let byte = self.found.trailing_zeros() as usize / 8;
        self.found &= self.found - 1;
        Some(self.at - 8 + byte)
    }
}

/// Text without a quote character: every delimiter ends a field, every `\n` or `\r` a record, and a
/// line end where no record has begun is an empty line, skipped (as `csv_core` does).
fn parse_plain(
    block: &[u8],
    from: usize,
    to: usize,
    delimiter: u8,
    spans: &mut Vec<(u32, u32)>,
    lines: &mut Lines<'_>,
) -> Result<(), String> {
    let text = block.get(from..to).unwrap_or(&[]);
    // The current field's start, and the current record's first field (`None` before one begins).
    let mut start = from;
    let mut first: Option<usize> = None;
    let mut line = from;
    for i in Specials::new(text, delimiter) {
        let end = from + i;
        let first_field = *first.get_or_insert(spans.len());
        if text.get(i) == Some(&delimiter) {
            spans.push((at(start), at(end)));
            start = end + 1;
            continue;
        }
        if end == start && first_field == spans.len() {
            // An empty line.
            first = None;
            start = end + 1;
            line = start;
            continue;
        }
        spans.push((at(start), at(end)));
        lines.end(first_field, line, end, spans.len() - first_field)?;
        first = None;
        start = end + 1;
        line = start;
    }
    // The file's last record, when no line end follows it.
    if start < to || first.is_some() {
        let first_field = first.unwrap_or(spans.len());
        spans.push((at(start), at(to)));
        lines.end(first_field, line, to, spans.len() - first_field)?;
    }
    Ok(())
}

/// Text with a quote character, run through `csv_core`, whose output (the fields' text, quotes
/// taken out) goes to `unquoted`.
fn parse_quoted(
    text: &[u8],
    from: usize,
    delimiter: u8,
    spans: &mut Vec<(u32, u32)>,
    unquoted: &mut Vec<u8>,
    lines: &mut Lines<'_>,
) -> Result<(), String> {
    let mut reader = reader(delimiter);
    // A field's text is never longer than its input: the output has room for all of it.
    unquoted.resize(text.len() + 1, 0);
    let mut ends = vec![0usize; 64];
    let (mut read, mut written) = (0, 0);
    loop {
        // The record's start: past the line ends `csv_core` skips before it.
        let start =
            read + text.get(read..).map_or(0, |rest| rest.iter().take_while(|&&b| b == b'\n' || b == b'\r').count());
        let record_out = written;
        let mut count = 0;
        loop {
            let (result, nin, nout, nend) = reader.read_record(
                text.get(read..).unwrap_or(&[]),
                unquoted.get_mut(written..).unwrap_or(&mut []),
                ends.get_mut(count..).unwrap_or(&mut []),
            );
            read += nin;
            written += nout;
            count += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => unquoted.resize(unquoted.len() * 2 + 1, 0),
                ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
                ReadRecordResult::Record => break,
                ReadRecordResult::End => {
                    unquoted.truncate(written);
                    return Ok(());
                }
            }
        }
        let first_field = spans.len();
        let mut field_start = record_out;
        for &end in ends.get(..count).unwrap_or(&[]) {
            spans.push((at(field_start), at(record_out + end)));
            field_start = record_out + end;
        }
        lines.end(first_field, from + start.min(read), from + read, count)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::testing::whole;
    use proptest::prelude::*;

    /// The records of `text[from..to]` as [`Piece::parse`] reads them.
    fn parsed(text: &[u8], from: usize, to: usize) -> Result<Vec<Vec<Vec<u8>>>, String> {
        let mut piece = Piece::default();
        piece.parse(text, from, to, 0, b',', 2)?;
        let source = if piece.quoted { &piece.unquoted[..] } else { text };
        let mut records = Vec::new();
        for (k, &first) in piece.rows.iter().enumerate() {
            let next = piece.rows.get(k + 1).map_or(piece.spans.len(), |&n| n as usize);
            let fields =
                piece.spans[first as usize..next].iter().map(|&(s, e)| source[s as usize..e as usize].to_vec());
            records.push(fields.collect());
        }
        Ok(records)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        /// Any text after a first record, cut where `super::split` cuts it, reads as one `csv`
        /// reader over all of it: quotes opened mid-field, line ends in quotes, lone `\r`s, blank
        /// lines, a byte-order mark at a piece's start (text there; only the file's is stripped).
        #[test]
        fn pieces_read_as_one_reader_does(
            tokens in proptest::collection::vec(
                prop_oneof![Just(","), Just("\""), Just("\n"), Just("\r"), Just("a"), Just("bc"), Just("\u{feff}")],
                0..120,
            ),
            spacing in 0usize..40,
        ) {
            let text = format!("h\n{}", tokens.concat()).into_bytes();
            let cuts = crate::input::split::cuts(&text[2..], b',', spacing, true);
            let mut records = Vec::new();
            let mut from = 2;
            for &to in &cuts {
                records.extend(parsed(&text, from, to + 2).map_err(TestCaseError::fail)?);
                from = to + 2;
            }
            prop_assert_eq!(records, whole(&text).split_off(1));
        }
    }

    proptest! {
        /// The delimiters and line ends found eight bytes at a time are those a byte-by-byte look finds.
        #[test]
        fn specials_are_every_delimiter_and_line_end(bytes in proptest::collection::vec(
            prop_oneof![Just(b';'), Just(b'\n'), Just(b'\r'), Just(0u8), Just(0x80u8), any::<u8>()],
            0..100,
        )) {
            let expected: Vec<usize> = (0..bytes.len()).filter(|&i| matches!(bytes[i], b';' | b'\n' | b'\r')).collect();
            prop_assert_eq!(Specials::new(&bytes, b';').collect::<Vec<_>>(), expected);
        }
    }

    #[test]
    fn malformed_records_keep_their_line() {
        let text = b"a,b\r\n\r\nonly\n\"x\ny\",2,3\nlast";
        let mut piece = Piece::default();
        piece.parse(text, 0, text.len(), 0, b',', 2).expect("parses");
        assert!(piece.quoted);
        assert_eq!(piece.rows.len(), 4);
        assert_eq!(
            piece.malformed,
            vec![(1, "only".to_string()), (2, "\"x\ny\",2,3".to_string()), (3, "last".to_string())]
        );
        let plain = b"a,b\r\n\r\nonly\nlast";
        piece.parse(plain, 0, plain.len(), 0, b',', 2).expect("parses");
        assert!(!piece.quoted);
        assert_eq!(piece.malformed, vec![(1, "only".to_string()), (2, "last".to_string())]);
    }
}
