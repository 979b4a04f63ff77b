//! Parquet files (SPEC 2, 2.4 and 6), read with polars' Parquet reader in slices of whole row groups,
//! so that memory stays bounded by the slice, not the file.
//!
//! Only the columns the column map uses are decoded: SPEC 6 says extra columns of any type are
//! ignored, and polars cannot even name the type of some (decimals without its `dtype-decimal`
//! feature, structs, dictionaries: it panics). So the schema is read as Parquet's own Arrow schema,
//! which never fails on a type, and a used column of a type cpor cannot read is a fatal error naming
//! the file, the column and the type, before anything is decoded.
//!
//! Typed values arrive typed (`Cell::Timestamp`, `Date`, `Int`, `UInt`, `Float`) and are converted
//! exactly: a timestamp that does not fit in microseconds is `Cell::OutOfRange`. The range of SPEC
//! 2.4 (0001–9999) is checked by the record parsers, not here.

use std::fs::File;
use std::path::Path;

use crate::polars::prelude::*;

use crate::guard::guarded;

use super::{hex, json_object, trim_cell, Batch, BatchHandler, Cell, ReadError, Typed, BATCH_ROWS};
use crate::error::CporError;
use crate::rejects::Fault;
use crate::types::{date_in_range, format_date, format_timestamp, timestamp_in_range};

/// Rows per slice, at least: whole row groups are added until a slice holds this many rows, so that
/// no row group is decoded twice.
const SLICE_ROWS: usize = 1 << 20;

/// A column of a batch as one arrow array, so that a cell is read without finding its chunk.
enum Col {
    /// A column the column map does not use: never decoded, and left out of `raw`.
    Unused,
    /// Parquet's null type (a column with no values at all, as pyarrow writes an all-`None` column).
    Null,
    Text(<StringType as PolarsDataType>::Array),
    /// Bytes without a string annotation (some writers store text so); UTF-8 or out of range.
    Binary(<BinaryType as PolarsDataType>::Array),
    /// The stored number in the file's unit; converted to microseconds when read.
    Timestamp(<Int64Type as PolarsDataType>::Array, TimeUnit),
    Date(<Int32Type as PolarsDataType>::Array),
    Int(<Int64Type as PolarsDataType>::Array),
    /// Unsigned columns stay unsigned: a `uint64` count may exceed `i64::MAX`.
    UInt(<UInt64Type as PolarsDataType>::Array),
    Float(<Float64Type as PolarsDataType>::Array),
}

struct ParquetBatch<'h> {
    header: &'h [String],
    /// One per header column, `Col::Unused` for those the column map does not use.
    columns: Vec<Col>,
    len: usize,
}

/// A stored timestamp in microseconds, exactly, or `None` when microseconds cannot hold it.
/// Nanoseconds are cut to the microsecond below (SPEC 2.4: finer digits are cut).
fn to_micros(value: i64, unit: TimeUnit) -> Option<i64> {
    match unit {
        TimeUnit::Nanoseconds => Some(value.div_euclid(1000)),
        TimeUnit::Microseconds => Some(value),
        TimeUnit::Milliseconds => value.checked_mul(1000),
    }
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Nanoseconds => "ns",
        TimeUnit::Microseconds => "us",
        TimeUnit::Milliseconds => "ms",
    }
}

/// A stored timestamp as `raw` shows it: as SPEC writes timestamps when it lies in 0001–9999,
/// otherwise the stored number with its unit (no formatter can show it, and none may guess).
fn timestamp_text(value: i64, unit: TimeUnit) -> String {
    match to_micros(value, unit) {
        Some(t) if timestamp_in_range(t) => format_timestamp(t),
        _ => format!("{value} {} since 1970-01-01", unit_name(unit)),
    }
}

/// A stored date as `raw` shows it; see `timestamp_text`.
fn date_text(days: i32) -> String {
    if date_in_range(days) {
        format_date(days)
    } else {
        format!("{days} days since 1970-01-01")
    }
}

/// Bytes as `raw` shows them: the text when they are UTF-8, otherwise their hexadecimal digits.
fn bytes_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!("0x{}", hex(bytes)),
    }
}

// In `cell` and `raw`, `row < self.len` (the `Batch` contract) and every decoded column has `len`
// rows (they are slices of one frame), so the arrays' `get` never fails its bounds check.
impl Batch for ParquetBatch<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        match self.columns.get(col) {
            None | Some(Col::Unused | Col::Null) => Cell::Null,
            Some(Col::Text(ca)) => match ca.get(row).map(trim_cell) {
                None | Some("") => Cell::Null,
                Some(t) => Cell::Text(t),
            },
            Some(Col::Binary(ca)) => match ca.get(row).map(std::str::from_utf8) {
                None => Cell::Null,
                Some(Ok(t)) if trim_cell(t).is_empty() => Cell::Null,
                Some(Ok(t)) => Cell::Text(trim_cell(t)),
                Some(Err(_)) => Cell::OutOfRange,
            },
            Some(Col::Timestamp(ca, unit)) => {
                ca.get(row).map_or(Cell::Null, |v| to_micros(v, *unit).map_or(Cell::OutOfRange, Cell::Timestamp))
            }
            Some(Col::Date(ca)) => ca.get(row).map_or(Cell::Null, Cell::Date),
            Some(Col::Int(ca)) => ca.get(row).map_or(Cell::Null, Cell::Int),
            Some(Col::UInt(ca)) => ca.get(row).map_or(Cell::Null, Cell::UInt),
            Some(Col::Float(ca)) => ca.get(row).map_or(Cell::Null, Cell::Float),
        }
    }

    fn malformed(&self, _row: usize) -> Option<Fault> {
        None
    }

    fn typed(&self, col: usize) -> Option<Typed<'_>> {
        match self.columns.get(col)? {
            Col::Text(ca) => Some(Typed::Text(ca)),
            Col::Date(ca) => Some(Typed::Date(ca)),
            Col::Int(ca) => Some(Typed::Int(ca)),
            _ => None,
        }
    }

    /// The used columns of the record (the others were never decoded), each as its stored value.
    fn raw(&self, row: usize) -> String {
        json_object(self.header.iter().zip(&self.columns).filter_map(|(name, col)| {
            let text = match col {
                Col::Unused => return None,
                Col::Null => String::new(),
                Col::Text(ca) => ca.get(row).unwrap_or("").to_string(),
                Col::Binary(ca) => ca.get(row).map_or(String::new(), bytes_text),
                Col::Timestamp(ca, unit) => ca.get(row).map_or(String::new(), |v| timestamp_text(v, *unit)),
                Col::Date(ca) => ca.get(row).map_or(String::new(), date_text),
                Col::Int(ca) => ca.get(row).map_or(String::new(), |v| v.to_string()),
                Col::UInt(ca) => ca.get(row).map_or(String::new(), |v| v.to_string()),
                Col::Float(ca) => ca.get(row).map_or(String::new(), |v| v.to_string()),
            };
            Some((name.as_str(), text))
        }))
    }
}

/// Whether cpor reads a column of this Arrow type: text, bytes, booleans (as text), integers,
/// floats, dates and timestamps, the null type, and dictionary-encoded text (pandas' `category`,
/// read as its text). Anything else (decimal, list, map, struct, a dictionary of other values,
/// duration, time, interval, half floats, 128-bit integers, …) in a used column is fatal.
fn readable(dtype: &ArrowDataType) -> bool {
    use ArrowDataType as A;
    matches!(
        dtype,
        A::Dictionary(_, values, _) if matches!(**values, A::Utf8 | A::LargeUtf8 | A::Utf8View)
    ) || matches!(
        dtype,
        A::Null
            | A::Boolean
            | A::Int8
            | A::Int16
            | A::Int32
            | A::Int64
            | A::UInt8
            | A::UInt16
            | A::UInt32
            | A::UInt64
            | A::Float32
            | A::Float64
            | A::Timestamp(..)
            | A::Date32
            | A::Date64
            | A::Binary
            | A::LargeBinary
            | A::FixedSizeBinary(_)
            | A::BinaryView
            | A::Utf8
            | A::LargeUtf8
            | A::Utf8View
    )
}

/// A type's name for a one-line error.
fn type_name(dtype: &ArrowDataType) -> String {
    use ArrowDataType as A;
    match dtype {
        A::Decimal(p, s) | A::Decimal32(p, s) | A::Decimal64(p, s) | A::Decimal256(p, s) => {
            format!("decimal({p}, {s})")
        }
        A::List(_) | A::LargeList(_) | A::FixedSizeList(..) => "list".to_string(),
        A::Map(..) => "map".to_string(),
        A::Struct(_) => "struct".to_string(),
        A::Dictionary(..) => "dictionary (categorical)".to_string(),
        A::Duration(_) => "duration".to_string(),
        A::Time32(_) | A::Time64(_) => "time of day".to_string(),
        A::Interval(_) => "interval".to_string(),
        A::Float16 => "float16".to_string(),
        A::Int128 => "int128".to_string(),
        A::UInt128 => "uint128".to_string(),
        A::Union(_) => "union".to_string(),
        A::Extension(ext) => format!("extension {}", ext.name),
        other => format!("{other:?}"),
    }
}

fn convert(column: &Column) -> PolarsResult<Col> {
    let series = column.as_materialized_series().rechunk();
    fn array<T: PolarsDataType>(ca: &ChunkedArray<T>) -> T::Array {
        ca.downcast_as_array().clone()
    }
    Ok(match series.dtype() {
        DataType::Null => Col::Null,
        DataType::String => Col::Text(array(series.str()?)),
        DataType::Binary => Col::Binary(array(series.binary()?)),
        DataType::Boolean | DataType::Categorical(..) | DataType::Enum(..) => {
            Col::Text(array(series.cast(&DataType::String)?.str()?))
        }
        DataType::Datetime(unit, _) => Col::Timestamp(array(series.datetime()?.physical()), *unit),
        DataType::Date => Col::Date(array(series.date()?.physical())),
        // Widening casts: every value of a narrower integer fits.
        dt if dt.is_unsigned_integer() => Col::UInt(array(series.cast(&DataType::UInt64)?.u64()?)),
        dt if dt.is_signed_integer() => Col::Int(array(series.cast(&DataType::Int64)?.i64()?)),
        dt if dt.is_float() => Col::Float(array(series.cast(&DataType::Float64)?.f64()?)),
        dt => polars_bail!(ComputeError: "column {} has type {dt}, which cpor cannot read", series.name()),
    })
}

/// Opens the file when it is a regular file after following symlinks: a device (`/dev/zero`), a FIFO
/// or a directory would be read without end or fail deep inside polars.
fn open_regular(path: &Path) -> Result<File, ReadError> {
    let io = |e: std::io::Error| ReadError::Cause(e.into());
    let not_regular = || ReadError::Cause("not a regular file".into());
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(not_regular());
    }
    let file = File::open(path).map_err(io)?;
    // Checked again on the open file: the path may have changed in between.
    if !file.metadata().map_err(io)?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

fn polars(e: PolarsError) -> ReadError {
    ReadError::Cause(e.into())
}

/// The file's row count, from its metadata.
pub(super) fn row_count(path: &Path) -> Result<u64, ReadError> {
    let file = open_regular(path)?;
    let rows =
        guarded(|| ParquetReader::new(file).num_rows()).map_err(|m| ReadError::Cause(m.into()))?.map_err(polars)?;
    Ok(rows as u64)
}

/// Slices of whole row groups, `(first row, rows)`, each of `SLICE_ROWS` to `2 * SLICE_ROWS - 1` rows
/// but the last.
fn slices(row_groups: impl Iterator<Item = usize>) -> Vec<(usize, usize)> {
    let mut slices = Vec::new();
    let (mut start, mut rows) = (0usize, 0usize);
    for group in row_groups {
        rows = rows.saturating_add(group);
        // A row group of more than two slices' rows is cut: memory stays bounded.
        while rows >= SLICE_ROWS {
            let take = if rows < 2 * SLICE_ROWS { rows } else { SLICE_ROWS };
            slices.push((start, take));
            start = start.saturating_add(take);
            rows -= take;
        }
    }
    if rows > 0 {
        slices.push((start, rows));
    }
    slices
}

pub(super) fn read_batches(
    path: &Path,
    map: impl Fn(&[String]) -> Result<Vec<Option<usize>>, CporError>,
    handle: &mut BatchHandler<'_>,
) -> Result<(), ReadError> {
    let file = open_regular(path)?;
    let mut reader = ParquetReader::new(file.try_clone().map_err(|e| ReadError::Cause(e.into()))?);
    // The file's Arrow schema, as stored: naming a type here never fails, whatever the type. A
    // damaged footer can make polars panic: `guarded` turns that into an error.
    let (schema, metadata) = guarded(|| -> PolarsResult<_> {
        let schema = reader.schema()?;
        let metadata = reader.get_metadata()?.clone();
        Ok((schema, metadata))
    })
    .map_err(|m| ReadError::Cause(m.into()))?
    .map_err(polars)?;
    let header: Vec<String> = schema.iter_names().map(|n| n.trim().to_string()).collect();
    let columns = map(&header)?;
    let mut projection: Vec<usize> = columns.iter().flatten().copied().collect();
    projection.sort_unstable();
    projection.dedup();
    for &k in &projection {
        if let Some((name, field)) = schema.get_at_index(k) {
            if !readable(&field.dtype) {
                return Err(ReadError::Cause(
                    format!("column {:?} has type {}, which cpor cannot read", name.as_str(), type_name(&field.dtype))
                        .into(),
                ));
            }
        }
    }
    let slices = slices(metadata.row_groups.iter().map(|g| g.num_rows()));
    // The next slice is decoded on a thread of its own while this one's batches are checked: the
    // two overlap, and at most two slices are held.
    std::thread::scope(|scope| {
        let (sender, decoded) = std::sync::mpsc::sync_channel::<PolarsResult<DataFrame>>(0);
        let projection = &projection;
        scope.spawn(move || {
            for (start, rows) in slices {
                let slice = file.try_clone().map_err(PolarsError::from).and_then(|f| {
                    let mut reader =
                        ParquetReader::new(f).with_projection(Some(projection.clone())).with_slice(Some((start, rows)));
                    reader.set_metadata(metadata.clone());
                    guarded(|| reader.finish()).unwrap_or_else(|message| Err(PolarsError::ComputeError(message.into())))
                });
                let failed = slice.is_err();
                if sender.send(slice).is_err() || failed {
                    break;
                }
            }
        });
        for slice in decoded {
            let df = slice.map_err(polars)?;
            // Hand the slice on in batches of the usual size: the parsed records of a batch then
            // fit in memory the allocator reuses, instead of fresh pages for every slice.
            for start in (0..df.height()).step_by(BATCH_ROWS) {
                let part = df.slice(start as i64, BATCH_ROWS);
                let mut converted: Vec<Col> = header.iter().map(|_| Col::Unused).collect();
                for (&k, column) in projection.iter().zip(part.columns()) {
                    if let Some(slot) = converted.get_mut(k) {
                        *slot = convert(column).map_err(polars)?;
                    }
                }
                handle(&ParquetBatch { header: &header, columns: converted, len: part.height() }, &columns);
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_timestamp_units_convert_exactly_or_not_at_all() {
        assert_eq!(to_micros(i64::MIN, TimeUnit::Milliseconds), None);
        assert_eq!(to_micros(i64::MAX, TimeUnit::Milliseconds), None);
        assert_eq!(to_micros(-1, TimeUnit::Milliseconds), Some(-1000));
        assert_eq!(to_micros(i64::MIN, TimeUnit::Microseconds), Some(i64::MIN));
        assert_eq!(to_micros(-1, TimeUnit::Nanoseconds), Some(-1));
        assert_eq!(to_micros(i64::MIN, TimeUnit::Nanoseconds), Some(i64::MIN.div_euclid(1000)));
    }

    #[test]
    fn parquet_raw_shows_values_out_of_range_as_stored_numbers() {
        assert_eq!(timestamp_text(i64::MIN, TimeUnit::Milliseconds), "-9223372036854775808 ms since 1970-01-01");
        assert_eq!(timestamp_text(i64::MAX, TimeUnit::Microseconds), "9223372036854775807 us since 1970-01-01");
        assert_eq!(timestamp_text(1_000, TimeUnit::Milliseconds), "1970-01-01T00:00:01Z");
        assert_eq!(date_text(i32::MIN), "-2147483648 days since 1970-01-01");
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(bytes_text(&[0xff, 0x00]), "0xff00");
    }

    #[test]
    fn parquet_slices_hold_whole_row_groups() {
        assert_eq!(slices([].into_iter()), vec![]);
        assert_eq!(slices([3, 4].into_iter()), vec![(0, 7)]);
        assert_eq!(
            slices([SLICE_ROWS, 1, SLICE_ROWS - 1, 5].into_iter()),
            vec![(0, SLICE_ROWS), (SLICE_ROWS, SLICE_ROWS), (2 * SLICE_ROWS, 5)]
        );
        assert_eq!(
            slices([3 * SLICE_ROWS].into_iter()),
            vec![(0, SLICE_ROWS), (SLICE_ROWS, SLICE_ROWS), (2 * SLICE_ROWS, SLICE_ROWS)]
        );
    }
}
