//! CSV files (SPEC 2): UTF-8, a header row, comma-separated, RFC 4180 quoting; read once, as a
//! stream (SPEC 6), so that a FIFO works like a file.
//!
//! Read with the `csv` crate rather than polars' CSV reader: SPEC asks that a row with the wrong number
//! of fields become a `malformed_row` reject carrying the row's text while the run goes on, and polars'
//! reader can only fail or silently pad such rows.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use csv::ByteRecord;

use super::stream::{HashChunk, TextStream, MAX_RECORD_BYTES};
use super::{
    hex, json_object, malformed_fault, trim_cell, unique_names, Batch, BatchHandler, Cell, ReadError, BATCH_ROWS,
};
use crate::error::CporError;
use crate::rejects::Fault;

struct CsvBatch<'h> {
    /// Header names made unique for `raw` (see `super::unique_names`).
    names: &'h [String],
    records: Vec<ByteRecord>,
    /// Text of the rows whose number of fields differs from the header's, by row index.
    malformed: HashMap<usize, String>,
}

/// A cell's text. The stream let only UTF-8 through, record by record, so this never fails; were it
/// to, a cell that is not text is no value at all rather than a panic.
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

impl Batch for CsvBatch<'_> {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match self.records.get(row).and_then(|r| r.get(col)).map(|b| trim_cell(text(b))) {
            None | Some("") => Cell::Null,
            Some(t) => Cell::Text(t),
        }
    }

    fn malformed(&self, row: usize) -> Option<Fault> {
        let fields = self.records.get(row).map_or(0, ByteRecord::len);
        self.malformed.contains_key(&row).then(|| malformed_fault(fields, self.names.len()))
    }

    fn raw(&self, row: usize) -> String {
        if let Some(line) = self.malformed.get(&row) {
            return json_object(std::iter::once(("_line", line.clone())));
        }
        let Some(record) = self.records.get(row) else { return json_object(std::iter::empty()) };
        json_object(self.names.iter().zip(record.iter()).map(|(name, value)| (name.as_str(), text(value).to_string())))
    }
}

/// Reads a CSV file's batches in one pass over its bytes (see [`TextStream`]); returns the file's
/// sha256 when `hash`.
pub(super) fn read_batches(
    path: &Path,
    hash: bool,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<Option<String>, ReadError> {
    let io = |e: std::io::Error| ReadError::Cause(e.into());
    let file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(ReadError::Cause("it is a directory".into()));
    }
    std::thread::scope(|scope| {
        let (sender, chunks) = std::sync::mpsc::sync_channel::<HashChunk>(4);
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
        let stream = TextStream::new(file, hash.then_some(sender));
        read_stream(stream, map, handle)?;
        // The stream, and with it the sender, is gone: the hasher has seen every chunk.
        hasher.map(|h| h.join().map_err(|_| ReadError::Cause("the hashing thread failed".into()))).transpose()
    })
}

fn read_stream(
    stream: TextStream<File>,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<(), ReadError> {
    let csv_error = |e: csv::Error| ReadError::Cause(e.into());
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(stream);
    let mut first = ByteRecord::new();
    let header: Vec<String> = if reader.read_byte_record(&mut first).map_err(csv_error)? {
        if first.as_slice().contains(&0) {
            return Err(ReadError::Cause(
                "the header holds NUL bytes: is the file UTF-16 without a byte-order mark? cpor reads UTF-8".into(),
            ));
        }
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
    let mut records: Vec<ByteRecord> = Vec::with_capacity(BATCH_ROWS);
    loop {
        let mut malformed = HashMap::new();
        records.clear();
        let mut record = ByteRecord::new();
        while records.len() < BATCH_ROWS {
            let start = reader.position().byte();
            reader.get_ref().mark(start);
            if !reader.read_byte_record(&mut record).map_err(csv_error)? {
                break;
            }
            let end = reader.position().byte();
            if end - start > MAX_RECORD_BYTES {
                return Err(ReadError::Cause(
                    format!("the record starting at byte offset {start} is longer than 64 MiB").into(),
                ));
            }
            if record.len() != header.len() {
                let start = record.position().map_or(start, |p| p.byte());
                let line = reader.get_ref().text(start, end).unwrap_or_default();
                malformed.insert(records.len(), line.trim_matches(['\r', '\n']).to_string());
            }
            records.push(std::mem::take(&mut record));
        }
        if records.is_empty() {
            return Ok(());
        }
        let batch = CsvBatch { names: &names, records: std::mem::take(&mut records), malformed };
        handle(&batch, &columns);
        records = batch.records;
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
        let hash = read_batches(&path, true, |header| Ok((0..header.len()).map(Some).collect()), &mut handle).map_err(
            |e| match e {
                ReadError::Cause(cause) => cause.to_string(),
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
                prop_assert!(std::str::from_utf8(&bytes).is_ok(), "only UTF-8 is read");
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
