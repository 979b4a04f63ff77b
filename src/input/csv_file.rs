//! Text files (SPEC 2, 9.2): `.csv`, `.tsv`, `.txt`, gzipped or not, or a zip archive's member; a
//! header row, RFC 4180 quoting, the delimiter and encoding of `super::text`; read once, as a stream
//! (SPEC 6), so that a FIFO works like a file and a 5 GB `.csv.gz` is never held in memory.
//!
//! Read as the `csv` crate reads (its parser, `csv_core`, in `super::split` and `super::fields`)
//! rather than with polars' CSV reader: SPEC asks that a row with the wrong number of fields become a
//! `malformed_row` reject carrying the row's text while the run goes on, and polars' reader can only
//! fail or silently pad such rows.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use csv::ByteRecord;
use flate2::bufread::MultiGzDecoder;

use super::fields::Piece;
use super::split::{Block, Splitter};
use super::stream::{TextStream, MAX_RECORD_BYTES};
use super::text::{self, TextOptions};
use super::{
    hex, json_object, malformed_fault, trim_cell, unique_names, Batch, BatchHandler, Cell, InputFile, ReadError,
};
use crate::error::CporError;
use crate::rejects::Fault;

struct CsvBatch<'a> {
    /// Header names made unique for `raw` (see `super::unique_names`).
    names: &'a [String],
    /// The block's text: the fields of pieces without quotes are spans of it.
    text: &'a str,
    fields: &'a Fields,
    /// `fields.unquoted` as text.
    unquoted: &'a str,
}

/// A header cell's text. The stream let only UTF-8 through, record by record, so this never fails;
/// were it to, a name that is not text is no name at all rather than a panic.
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// A block's records: its pieces' (`super::fields::Piece`) in one list, read into again for the next.
#[derive(Default)]
struct Fields {
    /// Each field's start and end in the block's text or, past its length (see [`CsvBatch::field`]),
    /// in `unquoted`.
    spans: Vec<(u32, u32)>,
    /// The index in `spans` of each record's first field; then of the end of the last record's.
    rows: Vec<u32>,
    /// The text of quoted pieces' fields, quotes taken out.
    unquoted: Vec<u8>,
    /// Text of the rows whose number of fields differs from the header's, by row index.
    malformed: HashMap<usize, String>,
}

impl Fields {
    /// The fields of `pieces`, in order (their malformed rows' text moved here); `text`: the length
    /// of the block's text.
    fn gather(&mut self, text: usize, pieces: &mut [Piece]) {
        self.spans.clear();
        self.rows.clear();
        self.unquoted.clear();
        self.malformed.clear();
        for piece in pieces {
            for (row, line) in piece.malformed.drain(..) {
                self.malformed.insert(self.rows.len() + row, line);
            }
            let first = self.spans.len() as u32;
            self.rows.extend(piece.rows.iter().map(|&row| row + first));
            if piece.quoted {
                // One past the text's length: a span starting there or later is of `unquoted`.
                let shift = (text + 1 + self.unquoted.len()) as u32;
                self.spans.extend(piece.spans.iter().map(|&(start, end)| (start + shift, end + shift)));
                self.unquoted.extend_from_slice(&piece.unquoted);
            } else {
                self.spans.extend_from_slice(&piece.spans);
            }
        }
        self.rows.push(self.spans.len() as u32);
    }
}

impl<'a> CsvBatch<'a> {
    /// The fields of record `row`.
    fn spans(&self, row: usize) -> &'a [(u32, u32)] {
        let fields = self.fields;
        match (fields.rows.get(row), fields.rows.get(row + 1)) {
            (Some(&first), Some(&next)) => fields.spans.get(first as usize..next as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// A field's text, as read (untrimmed).
    fn field(&self, (start, end): (u32, u32)) -> &'a str {
        let (start, end) = (start as usize, end as usize);
        let text = match start.checked_sub(self.text.len() + 1) {
            Some(from) => self.unquoted.get(from..from + (end - start)),
            None => self.text.get(start..end),
        };
        text.unwrap_or("")
    }
}

impl Batch for CsvBatch<'_> {
    fn len(&self) -> usize {
        self.fields.rows.len().saturating_sub(1)
    }

    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match self.spans(row).get(col).map(|&span| trim_cell(self.field(span))) {
            None | Some("") => Cell::Null,
            Some(t) => Cell::Text(t),
        }
    }

    fn malformed(&self, row: usize) -> Option<Fault> {
        let fields = self.spans(row).len();
        (fields != self.names.len()).then(|| malformed_fault(fields, self.names.len()))
    }

    fn raw(&self, row: usize) -> String {
        if let Some(line) = self.fields.malformed.get(&row) {
            return json_object(std::iter::once(("_line", line.clone())));
        }
        let values = self.spans(row).iter().map(|&span| self.field(span).to_string());
        json_object(self.names.iter().map(String::as_str).zip(values))
    }
}

/// Reads a text file's batches in one pass over its bytes (see [`TextStream`]); returns the sha256 of
/// its bytes as stored (compressed, for a `.gz`) when `hash`. A zip member is not hashed here: its
/// summary hash is the archive's (see `super::read_file`).
pub(super) fn read_batches(
    file: &InputFile,
    hash: bool,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<Option<String>, ReadError> {
    let io = |e: std::io::Error| ReadError::Message(e.to_string());
    let opened = File::open(&file.path).map_err(io)?;
    if opened.metadata().map_err(io)?.is_dir() {
        return Err(ReadError::Message("it is a directory".into()));
    }
    if let Some(member) = &file.member {
        let mut archive =
            zip::ZipArchive::new(opened).map_err(|e| ReadError::Message(format!("not a readable zip archive: {e}")))?;
        let entry = archive.by_name(member).map_err(|e| ReadError::Message(format!("member {member}: {e}")))?;
        read_text(Counted(entry), file.text, map, handle)?;
        return Ok(None);
    }
    std::thread::scope(|scope| {
        let (sender, chunks) = std::sync::mpsc::sync_channel::<Arc<Vec<u8>>>(4);
        let hasher = hash.then(|| {
            scope.spawn(move || {
                use sha2::{Digest, Sha256};
                let mut hasher = Sha256::new();
                for chunk in chunks {
                    hasher.update(chunk.as_slice());
                }
                hex(&hasher.finalize())
            })
        });
        let stored = Hashing { source: Counted(opened), sink: hash.then_some(sender) };
        if file.gzip {
            let gunzip = GzipErrors(MultiGzDecoder::new(BufReader::with_capacity(1 << 20, stored)));
            read_text(gunzip, file.text, map, handle)?;
        } else {
            read_text(stored, file.text, map, handle)?;
        }
        // The reader, and with it the sender, is gone: the hasher has seen every chunk.
        hasher.map(|h| h.join().map_err(|_| ReadError::Message("the hashing thread failed".into()))).transpose()
    })
}

/// Bytes of text files read so far, as stored (compressed for a `.gz`, decompressed for a zip
/// member), by the whole process: the progress display's measure of how far a text input is read
/// (`super::text_bytes_read`). Nothing else reads it.
pub(super) static TEXT_BYTES_READ: AtomicU64 = AtomicU64::new(0);

/// A reader that adds what it reads to [`TEXT_BYTES_READ`].
struct Counted<R>(R);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(out)?;
        TEXT_BYTES_READ.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A reader of the file's bytes as stored that hands each read's bytes to the hashing thread (on a
/// thread of its own, so that hashing overlaps decoding and parsing).
struct Hashing<R> {
    source: R,
    sink: Option<SyncSender<Arc<Vec<u8>>>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.source.read(out)?;
        if let (Some(sink), Some(bytes)) = (&self.sink, out.get(..n)) {
            // A hashing thread that stopped early has failed, which its join reports.
            let _ = sink.send(Arc::new(bytes.to_vec()));
        }
        Ok(n)
    }
}

/// A gzip stream's errors said to be the compression's: a truncated `.gz` ends "unexpectedly".
struct GzipErrors<R>(R);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(out).map_err(|e| std::io::Error::new(e.kind(), format!("gzip data: {e}")))
    }
}

/// Decodes the text (`super::text`), sniffs its delimiter unless one is given, and reads its records.
fn read_text<R: Read + Send>(
    source: R,
    options: TextOptions,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<(), ReadError> {
    let io = |e: std::io::Error| ReadError::Message(e.to_string());
    let decoded = text::decoded(source, options.encoding).map_err(io)?;
    let (header, source) = text::peek_header(decoded, MAX_RECORD_BYTES as usize).map_err(io)?;
    // A header as long as the record cap is left to the stream to refuse (`/dev/zero` named as a file).
    // Only the header line: a NUL in a record is that record's fault (`invalid_text`), not the file's.
    if header.len() < MAX_RECORD_BYTES as usize && text::header_line(&header).contains(&0) {
        // ASCII in UTF-16 is a NUL byte after each character (little-endian) or before it.
        let label = if header.first() == Some(&0) { "utf-16be" } else { "utf-16le" };
        return Err(ReadError::Message(format!(
            "the header holds NUL bytes: the file looks like UTF-16 without a byte-order mark; give --encoding {label}"
        )));
    }
    let delimiter = options.delimiter.unwrap_or_else(|| text::sniff_delimiter(&header));
    read_stream(TextStream::new(source), delimiter, map, handle)
}

fn read_stream<R: Read + Send>(
    stream: TextStream<R>,
    delimiter: u8,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<(), ReadError> {
    let csv_error = |e: csv::Error| ReadError::Message(e.to_string());
    let io = |e: std::io::Error| ReadError::Message(e.to_string());
    let mut splitter = Splitter::new(stream, delimiter);
    let first_record = splitter.first_record().map_err(io)?;
    let mut first = ByteRecord::new();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).from_reader(&first_record[..]);
    let header: Vec<String> = if reader.read_byte_record(&mut first).map_err(csv_error)? {
        first
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let h = text(h);
                let h = if i == 0 { h.trim_start_matches('\u{feff}') } else { h };
                h.trim().to_string()
            })
            .collect()
    } else {
        Vec::new()
    };
    let columns = map(&header)?;
    let names = unique_names(&header);
    // The text is read on a thread of its own, a block of whole records ahead (`super::split`); each
    // block's pieces are parsed on every core (`super::fields`), then checked. A block's buffer comes
    // back to be filled again; the pieces and their fields are read into again.
    std::thread::scope(|scope| {
        let (sender, blocks) = std::sync::mpsc::sync_channel::<Result<Block, ReadError>>(2);
        let (give_back, returned) = std::sync::mpsc::channel::<Vec<u8>>();
        scope.spawn(move || loop {
            let block = splitter.next_block(returned.try_recv().unwrap_or_default()).map_err(io).transpose();
            let last = !matches!(block, Some(Ok(_)));
            // A receiver that hung up has stopped reading on an error of its own.
            if block.is_some_and(|block| sender.send(block).is_err()) || last {
                break;
            }
        });
        // Each block is parsed while the one before it is checked: the core a batch's last part
        // leaves idle parses the next.
        let (mut now, mut after) = (Parsed::default(), Parsed::default());
        let mut blocks = blocks.into_iter();
        let mut current = blocks.next().transpose()?;
        if let Some(block) = &current {
            now.parse(block, delimiter, names.len())?;
        }
        // The stream let only UTF-8 through, and blocks and fields end on ASCII bytes.
        let not_text = |e: std::str::Utf8Error| ReadError::Message(format!("not valid UTF-8: {e}"));
        while let Some(block) = current.take() {
            let next = blocks.next().transpose()?;
            let text = std::str::from_utf8(&block.text).map_err(not_text)?;
            let unquoted = std::str::from_utf8(&now.fields.unquoted).map_err(not_text)?;
            let mut parsed = Ok(());
            rayon::in_place_scope(|scope| {
                if let Some(next) = &next {
                    scope.spawn(|_| parsed = after.parse(next, delimiter, names.len()));
                }
                handle(&CsvBatch { names: &names, text, fields: &now.fields, unquoted }, &columns);
            });
            parsed?;
            let _ = give_back.send(block.text);
            std::mem::swap(&mut now, &mut after);
            current = next;
        }
        Ok(())
    })
}

/// A block's pieces as parsed, and their fields in one list: read into again for a later block.
#[derive(Default)]
struct Parsed {
    pieces: Vec<Piece>,
    fields: Fields,
}

impl Parsed {
    /// Parses `block`'s pieces on every core, then gathers their fields.
    fn parse(&mut self, block: &Block, delimiter: u8, fields: usize) -> Result<(), ReadError> {
        use rayon::prelude::*;
        let ranges = block.pieces();
        if self.pieces.len() < ranges.len() {
            self.pieces.resize_with(ranges.len(), Piece::default);
        }
        self.pieces
            .par_iter_mut()
            .zip(ranges.par_iter())
            .try_for_each(|(piece, &(from, to))| piece.parse(&block.text, from, to, block.offset, delimiter, fields))
            .map_err(|message| ReadError::Cause(message.into()))?;
        self.fields.gather(block.text.len(), self.pieces.get_mut(..ranges.len()).unwrap_or(&mut []));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads `bytes` as a CSV file with every header column mapped; returns the rows' cells and raws.
    fn read(bytes: &[u8]) -> Result<(Vec<Vec<String>>, Option<String>), String> {
        let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = temp.path().join("f.csv");
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        let mut rows = Vec::new();
        let mut handle = |batch: &dyn Batch, columns: &[Option<usize>]| {
            for row in 0..batch.len() {
                let mut cells: Vec<String> = columns
                    .iter()
                    .map(|c| match c.map(|c| batch.cell(row, c)) {
                        Some(Cell::Text(t)) => t.to_string(),
                        _ => String::new(),
                    })
                    .collect();
                cells.push(batch.raw(row));
                rows.push(cells);
            }
        };
        let file = InputFile::plain(path, crate::input::FileFormat::Csv);
        let hash = read_batches(&file, true, |header| Ok((0..header.len()).map(Some).collect()), &mut handle).map_err(
            |e| match e {
                ReadError::Cause(cause) => cause.to_string(),
                ReadError::Message(message) => message,
                ReadError::Fatal(e) => e.chain().to_string(),
            },
        )?;
        Ok((rows, hash))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Arbitrary bytes never panic: either an error, or every record read, every raw a JSON
        /// object, and the hash that of the bytes.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(
            prop_oneof![Just(b','), Just(b'"'), Just(b'\n'), Just(b'\r'), Just(b'a'), Just(0xff), Just(0xc3), Just(0xa9), any::<u8>()],
            0..300,
        )) {
            if let Ok((rows, hash)) = read(&bytes) {
                use sha2::{Digest, Sha256};
                prop_assert_eq!(hash, Some(hex(&Sha256::digest(&bytes))));
                let utf16 = bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]);
                prop_assert!(std::str::from_utf8(&bytes).is_ok() || utf16, "only UTF-8, or UTF-16 with a BOM, is read");
                for row in rows {
                    let raw: serde_json::Value = serde_json::from_str(row.last().map_or("", String::as_str))
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(raw.is_object());
                }
            }
        }
    }

    /// Several blocks of text mixing what a cut must not split — quoted fields holding commas, line
    /// ends and doubled quotes, a quote opened mid-field, `\r\n` and lone `\r` line ends, blank
    /// lines — with malformed rows among them: read as one `csv` reader over the whole text reads it.
    #[test]
    fn blocks_and_pieces_read_as_one_reader_does() {
        let mut text = String::from("a,b,c\n");
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        while text.len() < 3 * crate::input::split::BLOCK_BYTES {
            let end = ["\n", "\r\n", "\r", "\n\n"][next() % 4];
            match next() % 8 {
                0 => text.push_str(&format!("\"q,{}\r\nx\"\"y\",2,3{end}", next())),
                1 => text.push_str(&format!("ab\"c,{},\"\"{end}", next())),
                2 => text.push_str(&format!("{},only two{end}", next())),
                3 => text.push_str(&format!("{},\"open\nquote,\"\",x{end}", next())),
                _ => text.push_str(&format!("{},w{},{}{end}", next(), next() % 10, next())),
            }
        }
        let mut serial = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        let mut expected = Vec::new();
        for record in serial.records().skip(1) {
            let record = record.expect("a string holds UTF-8");
            let mut cells: Vec<String> = (0..3).map(|i| record.get(i).unwrap_or("").trim().to_string()).collect();
            cells.push(record.len().to_string());
            expected.push(cells);
        }
        let (rows, _) = read(text.as_bytes()).expect("reads");
        assert!(expected.len() > 50_000, "several blocks: {}", expected.len());
        assert_eq!(rows.len(), expected.len());
        for (row, want) in rows.iter().zip(&expected) {
            assert_eq!(&row[..3], &want[..3]);
            // A malformed row's raw is its line; a whole row's, its cells.
            assert_eq!(row[3].starts_with(r#"{"_line""#), want[3] != "3", "{row:?}");
        }
    }

    #[test]
    fn a_malformed_row_keeps_its_own_text_across_reads() {
        let mut text = String::from("a,b\n");
        for i in 0..20_000 {
            text.push_str(&format!("{i},x\n"));
        }
        text.push_str("\"quoted, with comma\",y,z\r\nlast,row\n");
        let (rows, _) = read(text.as_bytes()).expect("reads");
        assert_eq!(rows.len(), 20_002);
        assert_eq!(rows[20_000][2], r#"{"_line": "\"quoted, with comma\",y,z"}"#);
        assert_eq!(rows[20_001][0], "last");
    }
}
