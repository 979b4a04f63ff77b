//! Where a text file's records end, so that its records can be parsed on every core while the file
//! is still read once, as a stream (SPEC 6).
//!
//! One thread reads the text in blocks of whole records ([`Splitter`]), each with a few cuts: record
//! ends about [`PIECE_BYTES`] apart. The pieces between cuts are then parsed in parallel, each by a
//! reader of its own that starts, as the file's one reader would, at the start of a record. A cut is
//! found as the `csv` crate's parser (`csv_core`) would end the record there: in text without a
//! quote character every line end ends a record, and only that is looked for; any other text is run
//! through `csv_core` itself, so that a quote opened mid-field, a line end inside quotes or a stray
//! carriage return split the records exactly as one reader over the whole file does.

use std::io::{self, BufRead, Read};

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::fields;
use super::stream::TextStream;

/// Bytes of text a block is read to before it is cut at its last record's end.
pub const BLOCK_BYTES: usize = 2 << 20;

/// Bytes of text between a block's cuts, about: each piece is parsed on its own.
pub const PIECE_BYTES: usize = 128 << 10;

/// Whole records of a text: `text` starts where a record starts and ends where one ends (or at the
/// end of the file); `offset` is where it starts in the file; `cuts` are record ends in it, in
/// order, the last being `text.len()`.
#[derive(Debug)]
pub struct Block {
    pub text: Vec<u8>,
    pub offset: u64,
    pub cuts: Vec<usize>,
}

impl Block {
    /// The pieces of `text`: from one cut (or the start) to the next.
    pub fn pieces(&self) -> Vec<(usize, usize)> {
        let starts = std::iter::once(0).chain(self.cuts.iter().copied());
        starts.zip(self.cuts.iter().copied()).collect()
    }
}

/// Reads a text stream into [`Block`]s.
pub struct Splitter<R> {
    stream: TextStream<R>,
    delimiter: u8,
    /// Text read and not yet handed out, from a record's start on.
    pending: Vec<u8>,
    /// Where `pending` starts in the file.
    offset: u64,
    /// The stream has ended: the pending text is the file's last.
    ended: bool,
    /// Bytes to read before looking for a cut: doubled while none is found (a long record).
    want: usize,
}

impl<R: Read> Splitter<R> {
    pub fn new(stream: TextStream<R>, delimiter: u8) -> Splitter<R> {
        Splitter { stream, delimiter, pending: Vec::new(), offset: 0, ended: false, want: BLOCK_BYTES }
    }

    /// The text of the file's first record (the header), blank lines before it included; empty for
    /// a file without one.
    pub fn first_record(&mut self) -> io::Result<Vec<u8>> {
        let mut want = 64 << 10;
        loop {
            self.fill(want)?;
            let end = match first_end(&self.pending, self.delimiter) {
                Some(end) => end,
                None if self.ended => self.pending.len(),
                None => {
                    want = self.pending.len() * 2;
                    continue;
                }
            };
            let rest = self.pending.split_off(end);
            self.advance(end);
            return Ok(std::mem::replace(&mut self.pending, rest));
        }
    }

    /// The next block, read into `reuse` (a spent block's buffer); `None` at the end of the file.
    pub fn next_block(&mut self, mut reuse: Vec<u8>) -> io::Result<Option<Block>> {
        loop {
            self.fill(self.want)?;
            if self.pending.is_empty() {
                return Ok(None);
            }
            let cuts = cuts(&self.pending, self.delimiter, PIECE_BYTES, self.ended);
            let Some(&end) = cuts.last() else {
                // Not one record ends in what was read: read on (the stream refuses a record past
                // its cap, see `TextStream`).
                self.want = self.pending.len() * 2;
                continue;
            };
            reuse.clear();
            reuse.extend_from_slice(self.pending.get(end..).unwrap_or(&[]));
            let mut text = std::mem::replace(&mut self.pending, reuse);
            text.truncate(end);
            let block = Block { text, offset: self.offset, cuts };
            self.advance(end);
            self.want = BLOCK_BYTES;
            return Ok(Some(block));
        }
    }

    /// `len` bytes were handed out: the next record starts after them, and the stream's record cap
    /// counts from there.
    fn advance(&mut self, len: usize) {
        self.offset += len as u64;
        self.stream.mark(self.offset);
    }

    /// Reads until `want` bytes are pending or the stream ends.
    fn fill(&mut self, want: usize) -> io::Result<()> {
        while !self.ended && self.pending.len() < want {
            let chunk = self.stream.fill_buf()?;
            self.pending.extend_from_slice(chunk);
            let read = chunk.len();
            self.stream.consume(read);
            self.ended = read == 0;
        }
        Ok(())
    }
}

/// Record ends in `text`, which starts where a record starts: one at least every `spacing` bytes
/// where records allow, the last being the end of the last whole record; with `at_end` (the text
/// ends the file), the end of the text, which ends the last record whether or not a line end does.
pub fn cuts(text: &[u8], delimiter: u8, spacing: usize, at_end: bool) -> Vec<usize> {
    let mut cuts = match memchr::memchr(b'"', text) {
        None => line_cuts(text, spacing),
        Some(_) => parsed_cuts(text, delimiter, spacing),
    };
    if at_end && cuts.last() != Some(&text.len()) && !text.is_empty() {
        cuts.push(text.len());
    }
    cuts
}

/// [`cuts`] in text without a quote character, where each line end ends a record (`csv_core` skips
/// the empty lines between, so a cut after a `\r` whose `\n` comes next splits nothing). A cut is
/// put after a whole `\r\n` where the text holds it.
fn line_cuts(text: &[u8], spacing: usize) -> Vec<usize> {
    let after = |i: usize| if text.get(i..i + 2) == Some(b"\r\n") { i + 2 } else { i + 1 };
    let mut cuts = Vec::new();
    let Some(last) = memchr::memrchr2(b'\n', b'\r', text).map(|i| i + 1) else { return cuts };
    let mut from = 0;
    while let Some(i) = text.get(from + spacing..last).and_then(|rest| memchr::memchr2(b'\n', b'\r', rest)) {
        from = after(from + spacing + i);
        if from >= last {
            break;
        }
        cuts.push(from);
    }
    cuts.push(last);
    cuts
}

/// [`cuts`] found by `csv_core`, the `csv` crate's own parser, with its settings (see the module's
/// comment): a record ends where it returns one.
fn parsed_cuts(text: &[u8], delimiter: u8, spacing: usize) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut next = spacing;
    let mut last = None;
    record_ends(fields::reader(delimiter), text, |end| {
        last = Some(end);
        if end >= next {
            cuts.push(end);
            next = end + spacing;
        }
        true
    });
    if let Some(last) = last.filter(|&last| cuts.last() != Some(&last)) {
        cuts.push(last);
    }
    cuts
}

/// Where `csv_core` ends the first record of `text`, the file's start, if it ends in it (a
/// byte-order mark before it is stripped, as the `csv` crate does).
fn first_end(text: &[u8], delimiter: u8) -> Option<usize> {
    let mut first = None;
    record_ends(ReaderBuilder::new().delimiter(delimiter).build(), text, |end| {
        first = Some(end);
        false
    });
    first
}

/// Runs `reader` over `text` (never signalling the end of the file: a record still open at the end
/// of `text` is not ended) and calls `found` with each record's end while it returns true.
fn record_ends(mut reader: Reader, text: &[u8], mut found: impl FnMut(usize) -> bool) {
    // The fields' bytes are not wanted, only where records end: the output is written over.
    let (mut out, mut ends) = ([0u8; 4096], [0usize; 256]);
    let mut at = 0;
    while let Some(rest) = text.get(at..).filter(|rest| !rest.is_empty()) {
        let (result, read, _, _) = reader.read_record(rest, &mut out, &mut ends);
        at += read;
        match result {
            ReadRecordResult::Record if !found(at) => return,
            ReadRecordResult::InputEmpty | ReadRecordResult::End => return,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::testing::whole;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Pieces cut anywhere read, one reader each, the same records as one reader over the whole
        /// text: quotes opened mid-field, line ends in quotes, lone `\r`s and blank lines included.
        #[test]
        fn pieces_read_as_the_whole_text_does(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(b'b')],
                0..200,
            ),
            spacing in 0usize..40,
        ) {
            let cut = cuts(&bytes, b',', spacing, true);
            let mut pieces = Vec::new();
            let mut from = 0;
            for &to in &cut {
                prop_assert!(to > from, "cuts increase: {:?}", cut);
                pieces.extend(whole(&bytes[from..to]));
                from = to;
            }
            prop_assert_eq!(from, bytes.len());
            prop_assert_eq!(pieces, whole(&bytes));
        }

        /// Without the end of the file, the last cut ends the last record `csv_core` finished: the
        /// rest, read on with what follows, reads as the whole text does.
        #[test]
        fn the_last_cut_leaves_a_whole_record_to_follow(
            bytes in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'a')],
                0..200,
            ),
            split in 0usize..200,
        ) {
            let split = split.min(bytes.len());
            let (head, _) = bytes.split_at(split);
            let cut = cuts(head, b',', 16, false);
            let end = cut.last().copied().unwrap_or(0);
            let mut records = whole(&bytes[..end]);
            records.extend(whole(&bytes[end..]));
            prop_assert_eq!(records, whole(&bytes));
        }
    }

    #[test]
    fn quote_free_text_is_cut_after_whole_line_ends() {
        let text = b"a,b\r\nc,d\r\ne,f\r\ng";
        assert_eq!(cuts(text, b',', 3, false), vec![5, 10, 15]);
        assert_eq!(cuts(text, b',', 3, true), vec![5, 10, 15, 16]);
        assert_eq!(cuts(b"no line end", b',', 3, false), Vec::<usize>::new());
    }

    #[test]
    fn a_line_end_in_quotes_is_not_a_cut() {
        let text = b"\"a\nb\",c\nd,e\n";
        assert_eq!(cuts(text, b',', 1, false), vec![8, 12]);
        assert_eq!(first_end(text, b','), Some(8));
    }
}
