//! Text files (SPEC 2, 9.2): `.csv`, `.tsv`, `.txt`, gzipped or not, or a zip archive's member; a
//! header row, RFC 4180 quoting, the delimiter and encoding of `super::text`; read once, as a stream
//! (SPEC 6), so that a FIFO works like a file and a 5 GB `.csv.gz` is never held in memory.
//!
//! Read with the `csv` crate rather than polars' CSV reader: SPEC asks that a row with the wrong number
//! of fields become a `malformed_row` reject carrying the row's text while the run goes on, and polars'
//! reader can only fail or silently pad such rows.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use csv::{ByteRecord, StringRecord};
use flate2::bufread::MultiGzDecoder;

use super::stream::{TextStream, MAX_RECORD_BYTES};
use super::text::{self, TextOptions};
use super::{
    hex, json_object, malformed_fault, trim_cell, unique_names, Batch, BatchHandler, Cell, InputFile, ReadError,
    BATCH_ROWS,
};
use crate::error::CporError;
use crate::rejects::Fault;

struct CsvBatch<'h> {
    /// Header names made unique for `raw` (see `super::unique_names`).
    names: &'h [String],
    /// Each record's text checked as UTF-8 once, as it is read, rather than each cell's as it is used.
    records: Vec<StringRecord>,
    /// Text of the rows whose number of fields differs from the header's, by row index.
    malformed: HashMap<usize, String>,
}

/// A header cell's text. The stream let only UTF-8 through, record by record, so this never fails;
/// were it to, a name that is not text is no name at all rather than a panic.
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

impl Batch for CsvBatch<'_> {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match self.records.get(row).and_then(|r| r.get(col)).map(trim_cell) {
            None | Some("") => Cell::Null,
            Some(t) => Cell::Text(t),
        }
    }

    fn malformed(&self, row: usize) -> Option<Fault> {
        let fields = self.records.get(row).map_or(0, StringRecord::len);
        self.malformed.contains_key(&row).then(|| malformed_fault(fields, self.names.len()))
    }

    fn raw(&self, row: usize) -> String {
        if let Some(line) = self.malformed.get(&row) {
            return json_object(std::iter::once(("_line", line.clone())));
        }
        let Some(record) = self.records.get(row) else { return json_object(std::iter::empty()) };
        json_object(self.names.iter().zip(record.iter()).map(|(name, value)| (name.as_str(), value.to_string())))
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
    if header.len() < MAX_RECORD_BYTES as usize && header.contains(&0) {
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
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(stream);
    let mut first = ByteRecord::new();
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
    // The records are read on a thread of their own, a batch ahead of the checks: reading (one
    // thread, the bulk of a large CSV's time) overlaps checking and deciding. A batch's record
    // buffers come back to be filled again.
    std::thread::scope(|scope| {
        let (sender, batches) = std::sync::mpsc::sync_channel::<Result<Records, ReadError>>(1);
        let (give_back, returned) = std::sync::mpsc::channel::<Vec<StringRecord>>();
        let fields = header.len();
        scope.spawn(move || loop {
            let records = returned.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH_ROWS));
            let read = read_records(&mut reader, records, fields);
            let last = !matches!(&read, Ok(records) if !records.records.is_empty());
            // A receiver that hung up has stopped reading on an error of its own.
            if sender.send(read).is_err() || last {
                break;
            }
        });
        for read in batches {
            let Records { records, malformed } = read?;
            if records.is_empty() {
                break;
            }
            let batch = CsvBatch { names: &names, records, malformed };
            handle(&batch, &columns);
            let _ = give_back.send(batch.records);
        }
        Ok(())
    })
}

/// One batch's records as read, with the text of the malformed ones.
struct Records {
    records: Vec<StringRecord>,
    malformed: HashMap<usize, String>,
}

/// Reads up to [`BATCH_ROWS`] records into `records`, whose records (a returned batch's) are read
/// into again: their buffers are reused, not allocated and grown for every row. None at the end of
/// the file.
fn read_records<R: Read>(
    reader: &mut csv::Reader<TextStream<R>>,
    mut records: Vec<StringRecord>,
    fields: usize,
) -> Result<Records, ReadError> {
    let csv_error = |e: csv::Error| ReadError::Message(e.to_string());
    let mut malformed = HashMap::new();
    let mut read = 0;
    while read < BATCH_ROWS {
        if read == records.len() {
            records.push(StringRecord::new());
        }
        let Some(record) = records.get_mut(read) else { break };
        let start = reader.position().byte();
        reader.get_ref().mark(start);
        // The stream lets only UTF-8 through, so no record fails the check on its text.
        if !reader.read_record(record).map_err(csv_error)? {
            break;
        }
        let end = reader.position().byte();
        if end - start > MAX_RECORD_BYTES {
            return Err(ReadError::Cause(
                format!("the record starting at byte offset {start} is longer than 64 MiB").into(),
            ));
        }
        if record.len() != fields {
            let start = record.position().map_or(start, |p| p.byte());
            let line = reader.get_ref().text(start, end).unwrap_or_default();
            malformed.insert(read, line.trim_matches(['\r', '\n']).to_string());
        }
        read += 1;
    }
    records.truncate(read);
    Ok(Records { records, malformed })
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
