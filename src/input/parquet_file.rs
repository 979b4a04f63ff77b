//! Parquet files (SPEC 2), read with polars' lazy scanner in row slices so that memory stays bounded
//! by the slice, not the file. Timestamp, date and integer columns arrive typed; any other column is
//! cast to text and parsed like a CSV cell.

use std::path::Path;

use polars::prelude::*;

use super::{json_object, trim_cell, Batch, BatchHandler, Cell, ReadError, BATCH_ROWS};
use crate::error::CporError;
use crate::rejects::Fault;
use crate::types::{format_date, format_timestamp};

/// Rows per slice: a whole row group or so, so that a slice rarely decodes a row group twice.
const SLICE_ROWS: usize = 1 << 20;

/// A column of a batch as one arrow array, so that a cell is read without finding its chunk.
enum Col {
    Text(<StringType as PolarsDataType>::Array),
    /// Microseconds since the epoch, whatever the file's unit.
    Timestamp(<Int64Type as PolarsDataType>::Array, TimeUnit),
    Date(<Int32Type as PolarsDataType>::Array),
    Int(<Int64Type as PolarsDataType>::Array),
    Float(<Float64Type as PolarsDataType>::Array),
}

struct ParquetBatch<'h> {
    header: &'h [String],
    columns: Vec<Col>,
    len: usize,
}

fn to_micros(value: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => value.div_euclid(1000),
        TimeUnit::Microseconds => value,
        TimeUnit::Milliseconds => value * 1000,
    }
}

impl Batch for ParquetBatch<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match &self.columns[col] {
            Col::Text(ca) => match ca.get(row).map(trim_cell) {
                None | Some("") => Cell::Null,
                Some(t) => Cell::Text(t),
            },
            Col::Timestamp(ca, unit) => ca.get(row).map_or(Cell::Null, |v| Cell::Timestamp(to_micros(v, *unit))),
            Col::Date(ca) => ca.get(row).map_or(Cell::Null, Cell::Date),
            Col::Int(ca) => ca.get(row).map_or(Cell::Null, Cell::Int),
            Col::Float(ca) => ca.get(row).map_or(Cell::Null, Cell::Float),
        }
    }

    fn malformed(&self, _row: usize) -> Option<Fault> {
        None
    }

    fn raw(&self, row: usize) -> String {
        json_object(self.header.iter().zip(&self.columns).map(|(name, col)| {
            let text = match col {
                Col::Text(ca) => ca.get(row).unwrap_or("").to_string(),
                Col::Timestamp(ca, unit) => {
                    ca.get(row).map_or(String::new(), |v| format_timestamp(to_micros(v, *unit)))
                }
                Col::Date(ca) => ca.get(row).map_or(String::new(), format_date),
                Col::Int(ca) => ca.get(row).map_or(String::new(), |v| v.to_string()),
                Col::Float(ca) => ca.get(row).map_or(String::new(), |v| v.to_string()),
            };
            (name.as_str(), text)
        }))
    }
}

fn convert(column: &Column) -> PolarsResult<Col> {
    let series = column.as_materialized_series().rechunk();
    fn array<T: PolarsDataType>(ca: &ChunkedArray<T>) -> T::Array {
        ca.downcast_as_array().clone()
    }
    Ok(match series.dtype() {
        DataType::String => Col::Text(array(series.str()?)),
        DataType::Datetime(unit, _) => Col::Timestamp(array(series.datetime()?.physical()), *unit),
        DataType::Date => Col::Date(array(series.date()?.physical())),
        dt if dt.is_integer() => Col::Int(array(series.cast(&DataType::Int64)?.i64()?)),
        dt if dt.is_float() => Col::Float(array(series.cast(&DataType::Float64)?.f64()?)),
        _ => Col::Text(array(series.cast(&DataType::String)?.str()?)),
    })
}

fn count_rows(scan: &LazyFrame) -> PolarsResult<u64> {
    let rows = scan.clone().select([len()]).collect()?;
    let rows = rows.column("len")?.cast(&DataType::UInt64)?;
    Ok(rows.u64()?.get(0).unwrap_or(0))
}

/// The file's row count, from its metadata.
pub(super) fn row_count(path: &Path) -> Result<u64, ReadError> {
    let polars = |e: PolarsError| ReadError::Message(e.to_string());
    let source = PlRefPath::try_from_path(path).map_err(polars)?;
    count_rows(&LazyFrame::scan_parquet(source, ScanArgsParquet::default()).map_err(polars)?).map_err(polars)
}

pub(super) fn read_batches(
    path: &Path,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<(), ReadError> {
    let polars = |e: PolarsError| ReadError::Message(e.to_string());
    let source = PlRefPath::try_from_path(path).map_err(polars)?;
    let mut scan = LazyFrame::scan_parquet(source, ScanArgsParquet::default()).map_err(polars)?;
    let schema = scan.collect_schema().map_err(polars)?;
    let header: Vec<String> = schema.iter_names().map(|n| n.trim().to_string()).collect();
    let columns = map(&header)?;
    let rows = count_rows(&scan).map_err(polars)? as usize;
    // The next slice is decoded on a thread of its own while this one's batches are checked: the
    // two overlap, and at most two slices are held.
    std::thread::scope(|scope| {
        let (sender, slices) = std::sync::mpsc::sync_channel::<PolarsResult<DataFrame>>(0);
        scope.spawn(move || {
            let mut offset = 0;
            while offset < rows {
                let slice = scan.clone().slice(offset as i64, SLICE_ROWS as IdxSize).collect();
                let height = slice.as_ref().map_or(0, DataFrame::height);
                if sender.send(slice).is_err() || height == 0 {
                    break;
                }
                offset += height;
            }
        });
        for slice in slices {
            let df = slice.map_err(polars)?;
            // Hand the slice on in batches of the usual size: the parsed records of a batch then
            // fit in memory the allocator reuses, instead of fresh pages for every slice.
            for start in (0..df.height()).step_by(BATCH_ROWS) {
                let part = df.slice(start as i64, BATCH_ROWS);
                let converted =
                    part.columns().iter().map(convert).collect::<PolarsResult<Vec<Col>>>().map_err(polars)?;
                handle(&ParquetBatch { header: &header, columns: converted, len: part.height() }, &columns);
            }
        }
        Ok(())
    })
}
