//! Reading the inputs (SPEC 2): resolving paths to files, matching columns, and streaming each
//! file's records in batches, whatever the file's format.
//!
//! A batch exposes cells, not rows of a fixed type, so that one set of record parsers
//! (`crate::records`) serves CSV and Parquet alike. Batches are parsed in parallel and handed to the
//! caller in file order, so record numbers and "first in file order wins" stay exact.

pub mod columns;
mod csv_file;
mod fields;
mod parquet_file;
mod split;
mod stream;
mod text;

pub use text::{parse_delimiter, parse_encoding, TextOptions};

use std::ops::Range;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{Cause, CporError};
use crate::input::columns::{match_columns, tried_names, ColumnMap, Unmatched};
use crate::progress::Size;
use crate::rejects::{Fault, RejectReason, Source};
use crate::types::{Days, Micros};

/// Rows per batch of a Parquet file (a text file's batches are its blocks, `csv_file`): large, as
/// its records are checked and decided part by part (`part_rows`), and only a part's checked records
/// are held. Batches of 16,384 rows, in parts of 4,096, cost `cpor validate` on the large profile
/// 0.35–0.5 s more, and 0.2–0.3 s more of system time: a batch's first part is checked with no
/// decision beside it, and the threads slept and woke at every part (BENCHMARKS.md).
pub const BATCH_ROWS: usize = 1 << 18;

/// Rows a parsing thread checks at a time: a thirty-second of the largest part, so that both cores
/// stay busy to the part's end.
const CHUNK_ROWS: usize = 1 << 10;

/// A batch's checked records go to `consume` in parts of an eighth of it, each decided while the
/// next is checked: at least `PART_ROWS.start()` rows (a text file's 2 MiB blocks are batches of
/// some 30,000 rows), at most `PART_ROWS.end()`.
const PARTS_PER_BATCH: usize = 8;
const PART_ROWS: std::ops::RangeInclusive<usize> = 1 << 12..=1 << 15;

/// Rows per part of a batch of `rows` rows (`PARTS_PER_BATCH`, `PART_ROWS`).
fn part_rows(rows: usize) -> usize {
    rows.div_ceil(PARTS_PER_BATCH).clamp(*PART_ROWS.start(), *PART_ROWS.end())
}

/// Rows `start..start + len` of a batch, numbered from 0: the part of a batch that `consume` sees.
/// It gives cells, not typed columns: `consume` reads only the raw text of rejects.
struct Part<'a> {
    batch: &'a dyn Batch,
    start: usize,
    len: usize,
}

impl Batch for Part<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn cell(&self, row: usize, col: usize) -> Cell<'_> {
        self.batch.cell(self.start + row, col)
    }
    fn malformed(&self, row: usize) -> Option<Fault> {
        self.batch.malformed(self.start + row)
    }
    fn raw(&self, row: usize) -> String {
        self.batch.raw(self.start + row)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Delimited text: `.csv`, `.tsv`, `.txt` (SPEC 9.2).
    Csv,
    Parquet,
}

/// One input file, with the path as the user gave it (used in rejects and the summary).
#[derive(Clone, Debug)]
pub struct InputFile {
    /// As given; for a zip member, `ARCHIVE.zip/MEMBER` (SPEC 9.2).
    pub given: String,
    /// The file on disk: for a zip member, the archive.
    pub path: PathBuf,
    pub format: FileFormat,
    /// A `.gz` file: text decompressed as it is read.
    pub gzip: bool,
    /// The member of the zip archive at `path` to read.
    pub member: Option<String>,
    /// Delimiter and encoding of a text file.
    pub text: TextOptions,
}

impl InputFile {
    /// A file read as it is stored, with the default text options.
    pub fn plain(path: PathBuf, format: FileFormat) -> InputFile {
        InputFile {
            given: path.display().to_string(),
            path,
            format,
            gzip: false,
            member: None,
            text: TextOptions::default(),
        }
    }

    /// The name of the file in messages: the path given, or `ARCHIVE.zip/MEMBER`.
    fn shown(&self) -> PathBuf {
        match self.member {
            Some(_) => PathBuf::from(&self.given),
            None => self.path.clone(),
        }
    }
}

/// What a file name says a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A text or Parquet file, gzipped (text only) or not.
    File(FileFormat, bool),
    Zip,
}

/// The kind of file a name ends in (case-insensitively): `.csv`, `.tsv`, `.txt`, each optionally
/// followed by `.gz`; `.parquet`; `.zip`.
fn kind_of(name: &str) -> Option<Kind> {
    let name = name.to_ascii_lowercase();
    let (name, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (name.as_str(), false),
    };
    let extension = name.rsplit_once('.')?.1;
    match (extension, gzip) {
        ("csv" | "tsv" | "txt", _) => Some(Kind::File(FileFormat::Csv, gzip)),
        ("parquet", false) => Some(Kind::File(FileFormat::Parquet, false)),
        ("zip", false) => Some(Kind::Zip),
        _ => None,
    }
}

fn format_of(path: &Path) -> Option<Kind> {
    kind_of(path.file_name()?.to_str()?)
}

/// What `resolve` says a directory or a glob may hold, and a file named must be.
const KINDS: &str = ".csv, .tsv, .txt (each optionally .gz), .parquet or .zip";

/// Turns the paths given for one input into files, in file order: a file as is, a directory's
/// input files (SPEC 9.2) sorted by name, a glob's matches sorted by name; a zip archive becomes its
/// text and Parquet members, in name order. A path that matches nothing, or an archive without
/// any such member or that cannot be read, is fatal: a nightly run over an empty export is an
/// operator's problem to see, not to skip.
pub fn resolve(source: Source, given: &[String], text: TextOptions) -> Result<Vec<InputFile>, CporError> {
    let fail = |path: &str, message: &str| CporError::InputPath {
        source_name: source.as_str(),
        path: path.to_string(),
        cause: message.to_string().into(),
    };
    let mut files = Vec::new();
    for text_given in given {
        let path = Path::new(text_given);
        let mut found: Vec<PathBuf> = if path.is_dir() {
            std::fs::read_dir(path)
                .map_err(|e| fail(text_given, &e.to_string()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| listed(p) && !p.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.')))
                .collect()
        } else if path.exists() {
            if format_of(path).is_none() {
                return Err(fail(text_given, &format!("not a {KINDS} file")));
            }
            vec![path.to_path_buf()]
        } else if text_given.contains(['*', '?', '[']) {
            glob::glob(text_given)
                .map_err(|e| fail(text_given, &e.to_string()))?
                .filter_map(Result::ok)
                .filter(|p| listed(p) && !hidden_by_wildcard(text_given, p))
                .collect()
        } else {
            return Err(fail(text_given, "no such file or directory"));
        };
        if found.is_empty() {
            return Err(fail(text_given, &format!("no {KINDS} files found")));
        }
        found.sort_by(|a, b| a.file_name().cmp(&b.file_name()).then_with(|| a.cmp(b)));
        for path in found {
            let shown = if path == Path::new(text_given) { text_given.clone() } else { path.display().to_string() };
            match format_of(&path) {
                // Every path found was filtered by its name above.
                None => continue,
                Some(Kind::File(format, gzip)) => {
                    files.push(InputFile { given: shown, path, format, gzip, member: None, text })
                }
                Some(Kind::Zip) => {
                    for (member, format) in zip_members(&path).map_err(|e| fail(&shown, &e))? {
                        let given = format!("{shown}/{member}");
                        files.push(InputFile {
                            given,
                            path: path.clone(),
                            format,
                            gzip: false,
                            member: Some(member),
                            text,
                        });
                    }
                }
            }
        }
    }
    Ok(files)
}

/// Whether a glob's wildcard matched a name's leading dot in some folder of `path`, which a shell's
/// does not: `exports/*/usage.csv` leaves out `exports/.old/usage.csv`, `.h*.csv` matches
/// `.hidden.csv`. Pattern and path are compared folder by folder (a `**` pattern by its last name).
fn hidden_by_wildcard(pattern: &str, path: &Path) -> bool {
    let names =
        |p: &Path| -> Vec<String> { p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect() };
    let (pattern, path) = (names(Path::new(pattern)), names(path));
    let hidden = |(pattern, name): (&String, &String)| {
        name.starts_with('.') && name != "." && name != ".." && !pattern.starts_with('.')
    };
    if pattern.len() == path.len() {
        pattern.iter().zip(&path).any(hidden)
    } else {
        pattern.last().zip(path.last()).is_some_and(hidden)
    }
}

/// Whether a directory's or a glob's entry is one of the input's files: a name of an input kind
/// that is not a folder. A link to nowhere or an unreadable file is listed, and fails when it is read
/// (SPEC 2: an unreadable file is fatal), rather than left out of the run in silence. A folder's
/// hidden names are not an export's files either, as a shell's `*.csv` leaves them out: an editor's
/// lock (`.#usage.csv`, a link to nowhere while the file is open), a Mac's `._usage.csv`.
fn listed(path: &Path) -> bool {
    format_of(path).is_some() && !path.is_dir()
}

/// A zip archive's `.csv`, `.tsv`, `.txt` and `.parquet` members, sorted by name (SPEC 9.2). Only the
/// archive's directory is read here; an archive that has none of these is an error. The resource
/// forks macOS adds to an archive it makes (`__MACOSX/…`, `._name`) are not members with data.
fn zip_members(path: &Path) -> Result<Vec<(String, FileFormat)>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let mut members = Vec::new();
    for name in archive.file_names() {
        let name = name.map_err(|e| format!("not a readable zip archive: {e}"))?;
        let fork = name.starts_with("__MACOSX/") || name.rsplit('/').next().is_some_and(|file| file.starts_with("._"));
        if let Some(Kind::File(format, false)) = kind_of(&name).filter(|_| !name.ends_with('/') && !fork) {
            members.push((name.into_owned(), format));
        }
    }
    if members.is_empty() {
        return Err("the zip archive holds no .csv, .tsv, .txt or .parquet member".into());
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    // Members are read by name: of two of one name, one would be read twice and the other never.
    if archive.has_duplicate_names() {
        if let Some(name) = repeated_member(path, &members) {
            return Err(format!("the zip archive holds two members named {name}; cpor cannot tell which is which"));
        }
    }
    Ok(members)
}

/// The first of `members` that the archive holds twice, by its entries one after the other: the
/// archive's index keeps one entry of each name. Duplicates among entries that are not read (a
/// note, a resource fork) do not count. An archive whose entries cannot be walked so (sizes only in
/// data descriptors) is taken as holding a repeated member, named as unknown: refused, not guessed.
fn repeated_member(path: &Path, members: &[(String, FileFormat)]) -> Option<String> {
    let unknown = || Some("(one of its members)".to_string());
    let Ok(file) = std::fs::File::open(path) else { return unknown() };
    let mut reader = std::io::BufReader::new(file);
    let mut seen = std::collections::HashSet::new();
    loop {
        match zip::read::read_zipfile_from_stream(&mut reader) {
            Ok(Some(entry)) => {
                let Ok(name) = entry.name().map(|name| name.into_owned()) else { return unknown() };
                if members.iter().any(|(member, _)| *member == name) && !seen.insert(name.clone()) {
                    return Some(format!("{name:?}"));
                }
            }
            Ok(None) => return None,
            Err(_) => return unknown(),
        }
    }
}

/// One cell of a record, trimmed; an empty cell is `Null`. Parquet typed columns arrive typed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    Null,
    Text(&'a str),
    Timestamp(Micros),
    Date(Days),
    Int(i64),
    /// An unsigned Parquet integer column's value (a `uint64` count may exceed `i64::MAX`).
    UInt(u64),
    /// A floating-point Parquet column; whole values are counts (pandas stores integer columns
    /// with missing values as floats).
    Float(f64),
    /// A typed Parquet value that cpor's types cannot hold: a timestamp whose conversion to
    /// microseconds overflows, say. Rejected with the reason of the column's type; `raw` shows it.
    OutOfRange,
}

/// A cell's text without surrounding white space (SPEC 2), as `str::trim` has it; most cells start
/// and end with a visible ASCII character, and those are returned without decoding a character.
pub(crate) fn trim_cell(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

impl Cell<'_> {
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

/// A batch of consecutive records of one file.
pub trait Batch: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Cell `col` (an index into the file's header) of row `row`.
    fn cell(&self, row: usize, col: usize) -> Cell<'_>;
    /// Why the row cannot be parsed at all (a CSV row with the wrong number of fields).
    fn malformed(&self, row: usize) -> Option<Fault>;
    /// The record as a JSON object of column name → original text (`{"_line": …}` when malformed).
    fn raw(&self, row: usize) -> String;
    /// Column `col` as one typed array, when the batch holds it so (a Parquet batch's text, date and
    /// integer columns): a parser may then read the column directly, without a call per cell.
    fn typed(&self, _col: usize) -> Option<Typed<'_>> {
        None
    }
}

/// A Parquet text column as polars decodes it.
pub type TextArray = <crate::polars::prelude::StringType as crate::polars::prelude::PolarsDataType>::Array;
/// A Parquet date column's days since 1970-01-01.
pub type DateArray = <crate::polars::prelude::Int32Type as crate::polars::prelude::PolarsDataType>::Array;
/// A Parquet signed integer column, widened to 64 bits.
pub type IntArray = <crate::polars::prelude::Int64Type as crate::polars::prelude::PolarsDataType>::Array;

/// A column of a batch as one typed array (`Batch::typed`). Its cells are what `Batch::cell` gives:
/// a text cell is the array's value trimmed, `Null` when that is empty.
#[derive(Clone, Copy)]
pub enum Typed<'a> {
    Text(&'a TextArray),
    Date(&'a DateArray),
    Int(&'a IntArray),
}

/// A batch seen through the file's column map, for a parser that reads whole columns
/// (`RecordParser::parse_rows`).
pub struct BatchView<'a> {
    batch: &'a dyn Batch,
    columns: &'a [Option<usize>],
}

/// A column of the source's column list in a batch, for `BatchView::column`.
#[derive(Clone, Copy)]
pub enum ColumnOf<'a> {
    /// The file lacks the column: every cell is `Null`.
    Absent,
    Typed(Typed<'a>),
    /// A column read cell by cell only.
    Cells,
}

impl<'a> BatchView<'a> {
    /// The `k`-th column of the source's column list.
    pub fn column(&self, k: usize) -> ColumnOf<'a> {
        match self.columns[k] {
            None => ColumnOf::Absent,
            Some(col) => self.batch.typed(col).map_or(ColumnOf::Cells, ColumnOf::Typed),
        }
    }

    /// Row `row` of the batch, read cell by cell.
    pub fn row(&self, row: usize) -> RowView<'a> {
        RowView { batch: self.batch, row, columns: self.columns }
    }
}

/// What a reader hands each batch to, with the file's column map.
pub(crate) type BatchHandler<'a> = dyn FnMut(&dyn Batch, &[Option<usize>]) + 'a;

/// One record of a batch, seen through the file's column map.
pub struct RowView<'a> {
    batch: &'a dyn Batch,
    row: usize,
    columns: &'a [Option<usize>],
}

impl RowView<'_> {
    /// The cell of the `k`-th column of the source's column list; `Null` when the file lacks it.
    pub fn get(&self, k: usize) -> Cell<'_> {
        match self.columns[k] {
            Some(col) => self.batch.cell(self.row, col),
            None => Cell::Null,
        }
    }
}

/// A column a source knows, and whether a file must have it.
pub struct ColumnSpec {
    pub name: &'static str,
    pub required: bool,
}

/// Parses the records of one source from cells.
pub trait RecordParser: Sync {
    type Record: Send;
    /// What one parsing thread remembers from row to row (the last values it parsed, say).
    type Scratch: Default + Send;
    const SOURCE: Source;
    const COLUMNS: &'static [ColumnSpec];
    fn parse(&self, scratch: &mut Self::Scratch, row: &RowView<'_>) -> Result<Self::Record, Fault>;
    /// A check on the file's columns beyond the required ones.
    fn check_columns(&self, _present: &[Option<usize>]) -> Result<(), String> {
        Ok(())
    }
    /// Whether this run takes the row at all (SPEC 10): a shard skips the rows of other shards'
    /// tenants right after reading their tenant_id, before any other cell. `None`: a malformed row,
    /// which has no tenant_id to read.
    fn keeps(&self, _scratch: &mut Self::Scratch, _row: Option<&RowView<'_>>) -> bool {
        true
    }
    /// Checks rows `rows` of a well-formed batch into `out`, one slot per row, as `keeps` and
    /// `parse` would row by row, when the parser reads this batch's columns directly (typed
    /// Parquet columns); returns false, having written nothing, when it does not.
    fn parse_rows(
        &self,
        _scratch: &mut Self::Scratch,
        _batch: &BatchView<'_>,
        _rows: std::ops::Range<usize>,
        _out: &mut [Option<Result<Self::Record, Fault>>],
    ) -> bool {
        false
    }
}

/// A parser whose records come with what the checks between records can work out of each record
/// alone: a hash of its ids, or a check against a table no record of this input changes. `prepare`
/// runs on the parsing threads, every core at once, for each record that passed its own checks;
/// what is left to `decide` (one thread, in file order) is only what depends on earlier records.
/// Rows are parsed one by one (`parse`); the parser's `parse_rows` is not used.
pub struct Prepared<P, F> {
    pub parser: P,
    pub prepare: F,
}

impl<P, F, T> RecordParser for Prepared<P, F>
where
    P: RecordParser,
    F: Fn(&P::Record) -> T + Sync,
    T: Send,
{
    type Record = (P::Record, T);
    type Scratch = P::Scratch;
    const SOURCE: Source = P::SOURCE;
    const COLUMNS: &'static [ColumnSpec] = P::COLUMNS;

    fn parse(&self, scratch: &mut Self::Scratch, row: &RowView<'_>) -> Result<Self::Record, Fault> {
        let record = self.parser.parse(scratch, row)?;
        let prepared = (self.prepare)(&record);
        Ok((record, prepared))
    }

    fn check_columns(&self, present: &[Option<usize>]) -> Result<(), String> {
        self.parser.check_columns(present)
    }

    fn keeps(&self, scratch: &mut Self::Scratch, row: Option<&RowView<'_>>) -> bool {
        self.parser.keeps(scratch, row)
    }
}

/// A batch's records after their own checks, one per row of the batch: reused from batch to batch,
/// so that the largest input does not ask the allocator for fresh pages every batch. `None`: a row
/// this run does not take, another shard's (`RecordParser::keeps`).
pub type Checked<T> = Vec<Option<Result<T, Fault>>>;

/// Maps the source's columns onto a file's header (SPEC 9.1, [`columns`]); returns, beside the
/// map, each column found with the header it is read from.
fn map_columns<P: RecordParser>(
    parser: &P,
    file: &InputFile,
    header: &[String],
    map: &ColumnMap,
) -> Result<(Vec<Option<usize>>, UsedColumns), CporError> {
    let source_name = P::SOURCE.as_str();
    let columns = match_columns(P::SOURCE, P::COLUMNS, header, map).map_err(|unmatched| match unmatched {
        Unmatched::Mapped { column, header } => {
            CporError::MappedColumnMissing { source_name, path: file.path.clone(), column: column.to_string(), header }
        }
        Unmatched::Required { column, .. } => CporError::MissingColumn {
            source_name,
            path: file.path.clone(),
            column: column.to_string(),
            tried: tried_names(P::SOURCE, &[column]),
        },
    })?;
    parser.check_columns(&columns).map_err(|column| {
        let absent: Vec<&str> =
            P::COLUMNS.iter().zip(&columns).filter(|(_, c)| c.is_none()).map(|(s, _)| s.name).collect();
        CporError::MissingColumn {
            source_name,
            path: file.path.clone(),
            column,
            tried: tried_names(P::SOURCE, &absent),
        }
    })?;
    let used = P::COLUMNS
        .iter()
        .zip(&columns)
        .filter_map(|(spec, index)| Some((spec.name.to_string(), header.get((*index)?)?.clone())))
        .collect();
    Ok((columns, UsedColumns(used)))
}

/// Each column a file was read for, with the header it was read from, in the source's column order
/// (SPEC 9.1: summary.json's `columns` of each file); serialized as a JSON object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsedColumns(pub Vec<(String, String)>);

impl serde::Serialize for UsedColumns {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(column, header)| (column, header)))
    }
}

/// Read back in the file's column order (a shard's summary.json, by `cpor merge`).
impl<'de> serde::Deserialize<'de> for UsedColumns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = UsedColumns;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of column name to header")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UsedColumns, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(UsedColumns(pairs))
            }
        }
        deserializer.deserialize_map(InOrder)
    }
}

#[derive(Clone, Debug)]
pub struct FileStats {
    pub given: String,
    pub records: u64,
    pub sha256: Option<String>,
    /// The header each column was read from.
    pub columns: UsedColumns,
    /// Time spent checking and deciding records, as opposed to decoding the file.
    pub validating: std::time::Duration,
}

/// Reads one file batch by batch. Each batch's records are checked in parallel; `consume` receives
/// them in parts (`part_rows`), in file order, on one thread at a time: the part's rows
/// (available for the raw text of rejects), the record number of its first row and its checked
/// records, while the next part is checked. `hash`: whether to hash the file meanwhile (a file
/// read again, in a later pass, need not be).
pub fn read_file<P: RecordParser>(
    parser: &P,
    file: &InputFile,
    column_map: &ColumnMap,
    hash: bool,
    mut consume: impl FnMut(&dyn Batch, u64, &mut Checked<P::Record>) + Send,
) -> Result<FileStats, CporError> {
    let unreadable =
        |cause: Cause| CporError::Unreadable { source_name: P::SOURCE.as_str(), path: file.shown(), cause };
    // The hash runs on its own thread, not in rayon's pool: the read below calls into polars' pool.
    let mut validating = std::time::Duration::ZERO;
    // A part's checked records, and the next part's, checked meanwhile.
    let (mut checked, mut spare): (Checked<P::Record>, Checked<P::Record>) = (Vec::new(), Vec::new());
    let used = std::sync::OnceLock::new();
    let (hash, records) = std::thread::scope(|scope| {
        // A Parquet file is hashed on a thread of its own, not in rayon's pool: the read below calls
        // into polars' pool. A CSV file is hashed as it is read, in its one pass.
        // Only a regular file: the reader refuses anything else, whose hash might never end.
        // A zip member's hash is its archive's (SPEC 9.2 leaves the choice): what `sha256sum` says
        // of the file the user has, hashed again for each member read.
        let regular = std::fs::metadata(&file.path).is_ok_and(|m| m.is_file());
        let hasher = (hash && regular && (file.format == FileFormat::Parquet || file.member.is_some()))
            .then(|| scope.spawn(|| sha256_file(&file.path)));
        // The file is read and handled on one of rayon's threads: the joins below, a few per batch,
        // then start their work on that thread's own queue, instead of each waking a worker from
        // outside the pool and putting this thread to sleep until it ends (`cpor validate` on the
        // large profile: 77,000–90,000 context switches before, 21,000–24,000 after; BENCHMARKS.md).
        let records = rayon::scope(|_| {
            let mut records = 0u64;
            let mut handle = |batch: &dyn Batch, columns: &[Option<usize>]| {
                let started = std::time::Instant::now();
                let one = |scratch: &mut P::Scratch, row: usize| match batch.malformed(row) {
                    Some(fault) => parser.keeps(scratch, None).then_some(Err(fault)),
                    None => {
                        let view = RowView { batch, row, columns };
                        parser.keeps(scratch, Some(&view)).then(|| parser.parse(scratch, &view))
                    }
                };
                // Checks the rows of `part` into `out`, chunk by chunk on every core: a parser that
                // reads whole columns does a chunk at once, others row by row.
                let whole = BatchView { batch, columns };
                let check = |part: Range<usize>, out: &mut Checked<P::Record>| {
                    out.clear();
                    out.resize_with(part.len(), || None);
                    out.par_chunks_mut(CHUNK_ROWS).enumerate().for_each_init(
                        P::Scratch::default,
                        |scratch, (i, out)| {
                            let start = part.start + i * CHUNK_ROWS;
                            if !parser.parse_rows(scratch, &whole, start..start + out.len(), out) {
                                for (slot, row) in out.iter_mut().zip(start..) {
                                    *slot = one(scratch, row);
                                }
                            }
                        },
                    );
                };
                // The batch in parts, each handed to `consume` (in file order, on one thread) while
                // the next is checked: deciding a part overlaps checking the next.
                let part = part_rows(batch.len());
                let parts: Vec<Range<usize>> =
                    (0..batch.len()).step_by(part).map(|start| start..batch.len().min(start + part)).collect();
                if let Some(first) = parts.first() {
                    check(first.clone(), &mut checked);
                }
                for (k, part) in parts.iter().enumerate() {
                    let view = Part { batch, start: part.start, len: part.len() };
                    let first_record = records + 1 + part.start as u64;
                    let (current, next) = (&mut checked, &mut spare);
                    rayon::join(
                        || consume(&view, first_record, current),
                        || {
                            if let Some(next_part) = parts.get(k + 1) {
                                check(next_part.clone(), next);
                            }
                        },
                    );
                    std::mem::swap(&mut checked, &mut spare);
                }
                records += batch.len() as u64;
                validating += started.elapsed();
            };
            let map = |header: &[String]| {
                let (columns, names) = map_columns(parser, file, header, column_map)?;
                // Set once: a reader maps its one header.
                let _ = used.set(names);
                Ok(columns)
            };
            let read_hash = match file.format {
                FileFormat::Csv => {
                    csv_file::read_batches(file, hash, map, &mut handle).map_err(|e| e.or_unreadable(&unreadable))?
                }
                FileFormat::Parquet => {
                    // Parquet is read by seeking: a zip member is extracted to a temporary file
                    // first, and a FIFO's bytes are copied to one (hashed meanwhile: read once).
                    let (copy, hash) = match &file.member {
                        Some(member) => (Some(extract(&file.path, member).map_err(|m| unreadable(m.into()))?), None),
                        None if is_fifo(&file.path) => {
                            let (temp, hash) = spool(&file.path).map_err(|m| unreadable(m.into()))?;
                            (Some(temp), Some(hash))
                        }
                        None => (None, None),
                    };
                    let path = copy.as_ref().map_or(file.path.as_path(), |temp| temp.path());
                    parquet_file::read_batches(path, map, &mut handle).map_err(|e| e.or_unreadable(&unreadable))?;
                    hash
                }
            };
            Ok::<(u64, Option<String>), CporError>((records, read_hash))
        });
        let hash = hasher
            .map(|hasher| hasher.join().unwrap_or_else(|_| Err(std::io::Error::other("hashing thread panicked"))));
        (hash, records)
    });
    let (records, read_hash) = records?;
    let hash = hash.or(read_hash.map(Ok));
    let sha256 = hash.transpose().map_err(|e| unreadable(e.into()))?;
    let columns = used.into_inner().unwrap_or_default();
    Ok(FileStats { given: file.given.clone(), records, sha256, columns, validating })
}

/// A zip member copied to a temporary file (removed when dropped), for a reader that seeks.
fn extract(archive: &Path, member: &str) -> Result<tempfile::NamedTempFile, String> {
    let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let mut entry = archive.by_name(member).map_err(|e| format!("member {member}: {e}"))?;
    let mut temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a temporary file: {e}"))?;
    std::io::copy(&mut entry, temp.as_file_mut()).map_err(|e| format!("extracting member {member}: {e}"))?;
    Ok(temp)
}

/// A Parquet file's rows, from its metadata; `None` when it cannot be read.
pub fn parquet_rows(path: &Path) -> Option<u64> {
    parquet_file::row_count(path).ok()
}

/// Whether `path` is a FIFO (after following links): SPEC 6 has it read like a file.
fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// A FIFO's bytes copied to a temporary file (removed when dropped), for a reader that seeks; and
/// their sha256, the file's hash for summary.json.
fn spool(path: &Path) -> Result<(tempfile::NamedTempFile, String), String> {
    let source = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut temp = tempfile::NamedTempFile::new().map_err(|e| format!("cannot create a temporary file: {e}"))?;
    let sha256 = copy_hashed(source, temp.as_file_mut()).map_err(|e| format!("copying to a temporary file: {e}"))?;
    Ok((temp, sha256))
}

/// Bytes under which no CSV usage row fits (a UUID alone is 36), for estimating a CSV's records.
const MIN_CSV_ROW_BYTES: u64 = 50;

/// Bytes under which no Parquet row fits, even compressed, for a zip member's rows.
const MIN_PARQUET_ROW_BYTES: u64 = 4;

/// How many times smaller than its text a `.gz` is taken to be at most, for the estimate below
/// (generated usage compresses about 10 times with `gzip -1`; a file compressed more than this
/// makes a pass hold more keys than the memory budget says).
const GZIP_RATIO: u64 = 16;

/// An estimate, from above, of the records of a source's files without reading them: a Parquet
/// file's row count from its metadata; a CSV file's size over a row's least size (a `.gz` file's
/// times [`GZIP_RATIO`]; a zip member's uncompressed size as its archive's directory gives it).
pub fn estimate_records(source: Source, files: &[InputFile]) -> Result<u64, CporError> {
    let mut records = 0;
    for file in files {
        let unreadable =
            |cause: Cause| CporError::Unreadable { source_name: source.as_str(), path: file.shown(), cause };
        records += match (&file.member, file.format) {
            (Some(member), format) => {
                let size = member_size(&file.path, member).map_err(|m| unreadable(m.into()))?;
                size / if format == FileFormat::Csv { MIN_CSV_ROW_BYTES } else { MIN_PARQUET_ROW_BYTES }
            }
            (None, FileFormat::Csv) => {
                let stored = std::fs::metadata(&file.path).map_err(|e| unreadable(e.into()))?.len();
                stored.saturating_mul(if file.gzip { GZIP_RATIO } else { 1 }) / MIN_CSV_ROW_BYTES
            }
            (None, FileFormat::Parquet) => {
                parquet_file::row_count(&file.path).map_err(|e| e.or_unreadable(&unreadable))?
            }
        };
    }
    Ok(records)
}

/// An input's size for the progress display (`crate::progress`): its rows when every file is
/// Parquet (from the files' metadata), its bytes as stored when every file is text (a zip member's
/// uncompressed size), unknown when the two are mixed or a size cannot be read.
pub fn progress_size(files: &[InputFile]) -> Size {
    let size = |file: &InputFile| -> Option<u64> {
        match (&file.member, file.format) {
            (None, FileFormat::Parquet) => parquet_file::row_count(&file.path).ok(),
            (Some(member), _) => member_size(&file.path, member).ok(),
            (None, FileFormat::Csv) => std::fs::metadata(&file.path).ok().map(|m| m.len()),
        }
    };
    let parquet = |file: &InputFile| file.format == FileFormat::Parquet && file.member.is_none();
    if files.iter().any(|f| f.format == FileFormat::Parquet && f.member.is_some()) {
        // Read from a temporary copy, counted neither as rows nor as text.
        return Size::Unknown;
    }
    let total: Option<u64> = files.iter().map(size).sum();
    match total {
        Some(rows) if files.iter().all(parquet) => Size::Items(rows),
        Some(bytes) if !files.iter().any(parquet) => Size::Bytes(bytes),
        _ => Size::Unknown,
    }
}

/// Bytes of text files read so far by the process, as [`progress_size`] measures them.
pub fn text_bytes_read() -> u64 {
    csv_file::TEXT_BYTES_READ.load(std::sync::atomic::Ordering::Relaxed)
}

/// A zip member's uncompressed size, from the archive's directory.
fn member_size(archive: &Path, member: &str) -> Result<u64, String> {
    let file = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a readable zip archive: {e}"))?;
    let entry = archive.by_name(member).map_err(|e| format!("member {member}: {e}"))?;
    Ok(entry.size())
}

/// A failure inside a reader: either already a `CporError` (a missing column) or a message that
/// becomes "cannot read file".
pub(crate) enum ReadError {
    Fatal(CporError),
    Cause(Cause),
    /// A cause that is only a sentence (a truncated archive, a member that is no input).
    Message(String),
}

impl ReadError {
    fn or_unreadable(self, unreadable: &impl Fn(Cause) -> CporError) -> CporError {
        match self {
            ReadError::Fatal(e) => e,
            ReadError::Cause(cause) => unreadable(cause),
            ReadError::Message(message) => unreadable(message.into()),
        }
    }
}

impl From<CporError> for ReadError {
    fn from(e: CporError) -> Self {
        ReadError::Fatal(e)
    }
}

pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
    copy_hashed(std::fs::File::open(path)?, std::io::sink())
}

/// Copies `source` to `sink` a megabyte at a time; returns the sha256 of the bytes, as hex.
fn copy_hashed(mut source: impl std::io::Read, mut sink: impl std::io::Write) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        sink.write_all(&buffer[..n])?;
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hexadecimal digits of bytes (a sha256 as the summary writes it).
pub(crate) fn hex(bytes: &[u8]) -> String {
    // Bytes first, sized at once: collected a character at a time, the text grew as it went and
    // each character was encoded as UTF-8 (a report's sha256 each: 0.15 CPU-s on the large profile).
    let mut text = Vec::with_capacity(2 * bytes.len());
    for &byte in bytes {
        text.extend_from_slice(&crate::types::hex_pair(byte));
    }
    // Hexadecimal digits are ASCII: never the empty default.
    String::from_utf8(text).unwrap_or_default()
}

/// The SHA-256 of bytes held in memory, as hex (a report, the holidays file; `sha256_file` reads a
/// file in pieces).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Header names as keys of a reject's `raw`: a name that repeats an earlier one gets ` (2)`, ` (3)`…,
/// so that every key of the JSON object is distinct and every cell is shown.
pub(crate) fn unique_names(header: &[String]) -> Vec<String> {
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    header
        .iter()
        .map(|name| {
            let mut unique = name.clone();
            let mut n = 1;
            while !seen.insert(unique.clone()) {
                n += 1;
                unique = format!("{name} ({n})");
            }
            unique
        })
        .collect()
}

/// Writes a JSON object of (name, text) pairs in the given order.
pub(crate) fn json_object<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        json_string(&mut out, name);
        out.push_str(": ");
        json_string(&mut out, &value);
    }
    out.push('}');
    out
}

/// Appends `text` as a JSON string. serde_json's string writer cannot fail on a `str`; were it to,
/// the text is written empty rather than the run stopped.
fn json_string(out: &mut String, text: &str) {
    out.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into()));
}

/// The fault for a CSV row whose number of fields differs from the header's.
pub(crate) fn malformed_fault(fields: usize, expected: usize) -> Fault {
    Fault::new(
        RejectReason::MalformedRow,
        format!("The row has {fields} field{} where the header has {expected}.", if fields == 1 { "" } else { "s" }),
    )
}

/// What the readers' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::io::{self, Read};

    /// A source that hands out at most `.1` bytes a call, as a pipe may.
    pub(crate) struct Trickle<'a>(pub &'a [u8], pub usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The records of `text` (their fields' bytes) as one `csv` reader over all of it reads them,
    /// with cpor's settings: what pieces read one by one must add up to.
    pub(crate) fn whole(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text);
        reader.byte_records().map(|r| r.map(|r| r.iter().map(<[u8]>::to_vec).collect()).unwrap_or_default()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{hex, part_rows, trim_cell, unique_names, BATCH_ROWS};

    #[test]
    fn a_batch_is_handed_on_in_eighths_of_it_within_bounds() {
        assert_eq!(part_rows(BATCH_ROWS), BATCH_ROWS / 8);
        assert_eq!(part_rows(30_000), 4_096, "a text block's batch: parts of at least 4,096 rows");
        assert_eq!(part_rows(100_000), 12_500);
        assert_eq!(part_rows(1), 4_096);
        assert_eq!(part_rows(10 * BATCH_ROWS), 32_768);
    }

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff, 0x3b]), "000fa0ff3b");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn repeated_header_names_get_distinct_raw_keys() {
        let header: Vec<String> = ["a", "b", "a", "a (2)", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(unique_names(&header), ["a", "b", "a (2)", "a (2) (2)", "a (3)"]);
    }

    #[test]
    fn cells_are_trimmed_as_str_trim_does() {
        for text in ["a", " a", "a ", "\ta\r\n", "\u{a0}a\u{2003}", "é", " é ", "", "  ", "a b", "\u{feff}a"] {
            assert_eq!(trim_cell(text), text.trim(), "{text:?}");
        }
    }
}
