//! CSV files (SPEC 2): UTF-8, a header row, comma-separated, RFC 4180 quoting.
//!
//! Read with the `csv` crate rather than polars' CSV reader: SPEC asks that a row with the wrong number
//! of fields become a `malformed_row` reject carrying the row's text while the run goes on, and polars'
//! reader can only fail or silently pad such rows.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use csv::ByteRecord;

use super::{json_object, malformed_fault, trim_cell, Batch, BatchHandler, Cell, ReadError, BATCH_ROWS};
use crate::error::CporError;
use crate::rejects::Fault;

struct CsvBatch<'h> {
    header: &'h [String],
    records: Vec<ByteRecord>,
    /// Text of the rows whose number of fields differs from the header's, by row index.
    malformed: HashMap<usize, String>,
}

fn text(bytes: &[u8]) -> &str {
    // A cell that is not UTF-8 fails every type check except free text.
    std::str::from_utf8(bytes).unwrap_or("\u{fffd}")
}

impl Batch for CsvBatch<'_> {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match self.records[row].get(col).map(|b| trim_cell(text(b))) {
            None | Some("") => Cell::Null,
            Some(t) => Cell::Text(t),
        }
    }

    fn malformed(&self, row: usize) -> Option<Fault> {
        self.malformed.contains_key(&row).then(|| malformed_fault(self.records[row].len(), self.header.len()))
    }

    fn raw(&self, row: usize) -> String {
        if let Some(line) = self.malformed.get(&row) {
            return json_object(std::iter::once(("_line", line.clone())));
        }
        let record = &self.records[row];
        json_object(
            self.header
                .iter()
                .zip(record.iter())
                .map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value).into_owned())),
        )
    }
}

/// Reads the original text of a byte range of the file, without its line terminator.
fn line_text(file: &mut File, start: u64, end: u64) -> std::io::Result<String> {
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = vec![0u8; (end - start) as usize];
    file.read_exact(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.trim_matches(['\r', '\n']).to_string())
}

pub(super) fn read_batches(
    path: &Path,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<(), ReadError> {
    let io = |e: std::io::Error| ReadError::Message(e.to_string());
    let csv_error = |e: csv::Error| ReadError::Message(e.to_string());
    let file = File::open(path).map_err(io)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(1 << 20, file));
    let mut first = ByteRecord::new();
    let header: Vec<String> = if reader.read_byte_record(&mut first).map_err(csv_error)? {
        first
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let h = String::from_utf8_lossy(h);
                let h = if i == 0 { h.trim_start_matches('\u{feff}') } else { &h };
                h.trim().to_string()
            })
            .collect()
    } else {
        Vec::new()
    };
    let columns = map(&header)?;
    let mut lines: Option<File> = None;
    let mut records: Vec<ByteRecord> = Vec::with_capacity(BATCH_ROWS);
    loop {
        let mut malformed = HashMap::new();
        records.clear();
        let mut record = ByteRecord::new();
        while records.len() < BATCH_ROWS {
            let start = reader.position().byte();
            if !reader.read_byte_record(&mut record).map_err(csv_error)? {
                break;
            }
            if record.len() != header.len() {
                let end = reader.position().byte();
                let start = record.position().map_or(start, |p| p.byte());
                let file = match &mut lines {
                    Some(f) => f,
                    None => lines.insert(File::open(path).map_err(io)?),
                };
                malformed.insert(records.len(), line_text(file, start, end).map_err(io)?);
            }
            records.push(std::mem::take(&mut record));
        }
        if records.is_empty() {
            return Ok(());
        }
        let batch = CsvBatch { header: &header, records: std::mem::take(&mut records), malformed };
        handle(&batch, &columns);
        records = batch.records;
    }
}
