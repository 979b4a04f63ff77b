//! Changes since a previous run (`cpor run --previous DIR`): one row per claim whose status,
//! official_at, ended_at or report_rows changed, or that is new or gone, with before and after.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{context, Cause, CporError};
use crate::evaluate::Status;
use crate::hashing::FastSet;
use crate::ledger::{DecidedClaim, LEDGER_COLUMNS};
use crate::output::read_own_table;
use crate::shard::Shard;
use crate::types::{format_timestamp, parse_count, parse_timestamp, timestamp_in_range, Id, Uuid};

/// The ledger columns a change is judged on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub status: String,
    pub official_at: String,
    pub ended_at: String,
    pub report_rows: String,
    /// The claim's tenant, for sharded runs (SPEC 10); not compared.
    pub tenant: Option<Uuid>,
}

impl Facts {
    pub fn of(row: &DecidedClaim) -> Facts {
        let e = &row.evaluation;
        Facts {
            status: e.status.as_str().to_string(),
            official_at: e.official_at().map_or(String::new(), format_timestamp),
            ended_at: e.walk.ended_at.map_or(String::new(), format_timestamp),
            report_rows: row.report_rows().to_string(),
            tenant: Some(row.claim.tenant),
        }
    }
}

/// One changed claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub claim_id: String,
    /// `new`, `gone`, `became_<status>`, `official_at_changed`, `ended_at_changed` or `report_rows_changed`.
    pub kind: String,
    pub before: Option<Facts>,
    pub after: Option<Facts>,
}

pub const CHANGE_COLUMNS: [&str; 10] = [
    "claim_id",
    "change",
    "status_before",
    "status_after",
    "official_at_before",
    "official_at_after",
    "ended_at_before",
    "ended_at_after",
    "report_rows_before",
    "report_rows_after",
];

impl Change {
    pub fn record(&self) -> [String; 10] {
        let part =
            |f: &Option<Facts>, pick: fn(&Facts) -> &String| f.as_ref().map_or(String::new(), |f| pick(f).clone());
        [
            self.claim_id.clone(),
            self.kind.clone(),
            part(&self.before, |f| &f.status),
            part(&self.after, |f| &f.status),
            part(&self.before, |f| &f.official_at),
            part(&self.after, |f| &f.official_at),
            part(&self.before, |f| &f.ended_at),
            part(&self.after, |f| &f.ended_at),
            part(&self.before, |f| &f.report_rows),
            part(&self.after, |f| &f.report_rows),
        ]
    }
}

/// The most one CSV record of a previous ledger may hold (SPEC 6): a longer one is refused rather than
/// read until memory runs out.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// The csv reader's buffer: bytes it may have read beyond the record it is parsing.
const CSV_BUFFER_BYTES: usize = 64 << 10;

/// A reader that gives at most `limit` bytes in all, then fails; the ledger reader moves the limit
/// forward after each record, so a single record can never grow past [`MAX_RECORD_BYTES`] in memory.
struct RecordBound<R> {
    inner: R,
    read: u64,
    limit: u64,
    /// The limit was reached: the record being parsed is too long.
    tripped: bool,
}

impl<R: Read> RecordBound<R> {
    fn new(inner: R) -> RecordBound<R> {
        let mut bound = RecordBound { inner, read: 0, limit: 0, tripped: false };
        bound.next_record_at(0);
        bound
    }

    /// A record starts at `start`: it may take [`MAX_RECORD_BYTES`], plus what the csv reader buffers.
    fn next_record_at(&mut self, start: u64) {
        self.limit = start.saturating_add(MAX_RECORD_BYTES).saturating_add(CSV_BUFFER_BYTES as u64);
    }
}

impl<R: Read> Read for RecordBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = self.limit.saturating_sub(self.read);
        if room == 0 && !buf.is_empty() {
            self.tripped = true;
            return Err(std::io::Error::other("a record larger than 64 MiB"));
        }
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(buf.get_mut(..take).unwrap_or_default())?;
        self.read += n as u64;
        Ok(n)
    }
}

/// A cell's text as an error message shows it: control characters escaped, at most 64 characters.
fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(64).flat_map(char::escape_debug).collect();
    if text.chars().nth(64).is_some() {
        out.push('…');
    }
    format!("'{out}'")
}

/// Checks one row of a previous ledger, given its cells by column name, and returns its claim id and
/// the facts compared: the claim id a valid id, the status one of the seven, submitted_at a timestamp,
/// the other timestamps empty or valid, report_rows a count. Timestamps and counts are kept in the
/// form cpor writes them, so that only a change of value is a change.
fn check_row(get: &dyn Fn(&str) -> String) -> Result<(String, Facts), String> {
    let id_text = get("claim_id");
    let id = Id::parse(&id_text).ok_or_else(|| format!("claim_id {} is not a valid id", shown(&id_text)))?;
    let status_text = get("status");
    let status = Status::parse(&status_text).ok_or_else(|| {
        let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
        format!("status {} is not one of {}", shown(&status_text), known.join(", "))
    })?;
    let timestamp = |name: &str, required: bool| -> Result<String, String> {
        let text = get(name);
        if text.is_empty() {
            return if required { Err(format!("{name} is empty")) } else { Ok(String::new()) };
        }
        parse_timestamp(&text)
            .filter(|&t| timestamp_in_range(t))
            .map(format_timestamp)
            .ok_or_else(|| format!("{name} {} is not a timestamp", shown(&text)))
    };
    timestamp("submitted_at", true)?;
    timestamp("notified_at", false)?;
    timestamp("window_closes_at", false)?;
    let official_at = timestamp("official_at", false)?;
    let ended_at = timestamp("ended_at", false)?;
    let rows_text = get("report_rows");
    let rows = parse_count(&rows_text).ok_or_else(|| format!("report_rows {} is not a count", shown(&rows_text)))?;
    let tenant = Uuid::parse(&get("tenant_id"));
    let facts =
        Facts { status: status.as_str().to_string(), official_at, ended_at, report_rows: rows.to_string(), tenant };
    Ok((id.as_str().to_string(), facts))
}

/// Adds a checked row; a claim id seen twice is a fault of the ledger.
fn insert(ledger: &mut BTreeMap<String, Facts>, (id, facts): (String, Facts)) -> Result<(), String> {
    if ledger.contains_key(&id) {
        return Err(format!("claim_id {} appears twice", shown(&id)));
    }
    ledger.insert(id, facts);
    Ok(())
}

/// Reads a former output directory's ledger (`ledger.csv`, else `ledger.parquet`), by claim id.
///
/// The ledger is checked, not trusted: its columns must be cpor's ledger columns in order, and every
/// row must pass [`check_row`]. Any fault is fatal ([`CporError::Previous`], naming the file and the
/// line, or the Parquet record), so nothing unchecked reaches changes.csv.
/// Also returns the ledger file's sha256, which summary.json records: shards that compared with
/// different previous ledgers are not one run (SPEC 10).
pub fn read_previous(dir: &Path) -> Result<(BTreeMap<String, Facts>, String), CporError> {
    refuse_a_shard(dir)?;
    let csv_path = dir.join("ledger.csv");
    let parquet_path = dir.join("ledger.parquet");
    let (path, facts) = if csv_path.exists() {
        let file =
            File::open(&csv_path).map_err(|e| CporError::Previous { path: csv_path.clone(), cause: e.into() })?;
        (csv_path.clone(), read_previous_csv(&csv_path, file)?)
    } else if parquet_path.exists() {
        (parquet_path.clone(), read_previous_parquet(&parquet_path)?)
    } else {
        return Err(CporError::Previous {
            path: dir.to_path_buf(),
            cause: "holds no ledger.csv or ledger.parquet".into(),
        });
    };
    let sha256 = crate::input::sha256_file(&path).map_err(|e| CporError::Previous { path, cause: e.into() })?;
    Ok((facts, sha256))
}

/// A shard's output (SPEC 10) holds the claims of its tenants only: compared with it, every claim
/// of the other shards would be "new". Its summary.json tells it; a folder without one (a ledger
/// kept on its own) is taken as it is.
fn refuse_a_shard(dir: &Path) -> Result<(), CporError> {
    let Ok(bytes) = crate::config::read_config_bytes(&dir.join("summary.json")) else { return Ok(()) };
    let shard = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|summary| {
        let shard = summary.get("shard")?;
        Some((shard.get("index")?.as_u64()?, shard.get("count")?.as_u64()?))
    });
    // Shard 0 of 1 holds every claim: a whole run's.
    let shard = shard.filter(|&(_, count)| count > 1);
    match shard {
        Some((index, count)) => Err(CporError::Previous {
            path: dir.to_path_buf(),
            cause: format!(
                "is the output of shard {index} of {count}, which holds its tenants' claims only: give the merged output (cpor merge)"
            )
            .into(),
        }),
        None => Ok(()),
    }
}

/// Reads and checks a CSV ledger from `source`; `path` names it in errors.
pub fn read_previous_csv(path: &Path, source: impl Read) -> Result<BTreeMap<String, Facts>, CporError> {
    let fail = |cause: Cause| CporError::Previous { path: path.to_path_buf(), cause };
    let mut reader = csv::ReaderBuilder::new()
        .buffer_capacity(CSV_BUFFER_BYTES)
        .has_headers(false)
        .from_reader(RecordBound::new(source));
    let read_error = |e: csv::Error, tripped: bool, at: u64| {
        let line = e.position().map_or(at, csv::Position::line);
        if tripped {
            fail(format!("line {line}: a record larger than {} MiB", MAX_RECORD_BYTES >> 20).into())
        } else {
            match e.kind() {
                csv::ErrorKind::Utf8 { err, .. } => {
                    fail(format!("line {line}: not valid UTF-8 in field {}", err.field() + 1).into())
                }
                _ => fail(context(format!("line {line}"), e)),
            }
        }
    };
    let mut record = csv::StringRecord::new();
    let mut ledger = BTreeMap::new();
    let mut header = true;
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(read_error(e, reader.get_ref().tripped, line)),
        }
        let next = reader.position().byte();
        reader.get_mut().next_record_at(next);
        let line = record.position().map_or(line, csv::Position::line);
        if header {
            header = false;
            if !record.iter().eq(LEDGER_COLUMNS) {
                return Err(fail(
                    format!("line {line}: the header is not cpor's ledger columns ({})", LEDGER_COLUMNS.join(","))
                        .into(),
                ));
            }
            continue;
        }
        let get = |name: &str| {
            let at = LEDGER_COLUMNS.iter().position(|c| *c == name);
            at.and_then(|i| record.get(i)).unwrap_or("").to_string()
        };
        check_row(&get)
            .and_then(|row| insert(&mut ledger, row))
            .map_err(|m| fail(format!("line {line}: {m}").into()))?;
    }
    if header {
        return Err(fail("empty: no header".into()));
    }
    Ok(ledger)
}

/// Reads and checks a Parquet ledger: the same columns and the same checks, faults named by record.
fn read_previous_parquet(path: &Path) -> Result<BTreeMap<String, Facts>, CporError> {
    let fail = |cause: Cause| CporError::Previous { path: path.to_path_buf(), cause };
    let polars = |e: PolarsError| fail(e.into());
    let df = read_own_table(path, &LEDGER_COLUMNS, "cpor's ledger columns").map_err(fail)?;
    let text = |name: &str| -> Result<Vec<String>, CporError> {
        let series = df.column(name).map_err(polars)?.as_materialized_series().clone();
        Ok(match series.dtype() {
            DataType::Datetime(_, _) => {
                let micros = series.cast(&DataType::Datetime(TimeUnit::Microseconds, None)).map_err(polars)?;
                let micros = micros.datetime().map_err(polars)?.physical().clone();
                micros.iter().map(|m| m.map_or(String::new(), format_timestamp)).collect()
            }
            _ => {
                let strings = series.cast(&DataType::String).map_err(polars)?;
                let strings = strings.str().map_err(polars)?;
                strings.iter().map(|s| s.unwrap_or("").to_string()).collect()
            }
        })
    };
    let checked = [
        "claim_id",
        "status",
        "submitted_at",
        "notified_at",
        "window_closes_at",
        "official_at",
        "ended_at",
        "report_rows",
    ];
    let columns: Vec<(&str, Vec<String>)> =
        checked.iter().map(|&name| text(name).map(|cells| (name, cells))).collect::<Result<_, _>>()?;
    let mut ledger = BTreeMap::new();
    for record in 0..df.height() {
        let get = |name: &str| {
            let cells = columns.iter().find(|(n, _)| *n == name).map(|(_, cells)| cells);
            cells.and_then(|cells| cells.get(record)).cloned().unwrap_or_default()
        };
        check_row(&get)
            .and_then(|row| insert(&mut ledger, row))
            .map_err(|m| fail(format!("record {}: {m}", record + 1).into()))?;
    }
    Ok(ledger)
}

/// Keeps the previous ledger's claims that are this shard's to compare (SPEC 10): not a claim of
/// another shard's tenants now (`elsewhere`), and either one of this shard's now or gone since, with
/// a tenant of this shard then. So each claim is compared in exactly one shard, even one whose tenant
/// changed.
pub fn keep_shard(
    previous: &mut BTreeMap<String, Facts>,
    shard: Shard,
    current: &[&DecidedClaim],
    elsewhere: &FastSet<Id>,
) {
    let now: FastSet<&str> = current.iter().map(|r| r.claim.id.as_str()).collect();
    previous.retain(|id, facts| {
        !elsewhere.contains(id.as_str()) && (now.contains(id.as_str()) || shard.keeps(facts.tenant))
    });
}

/// Compares the previous ledger with this run's, sorted by claim id.
pub fn compare(previous: &BTreeMap<String, Facts>, current: &[&DecidedClaim]) -> Vec<Change> {
    let now: BTreeMap<&str, Facts> = current.iter().map(|r| (r.claim.id.as_str(), Facts::of(r))).collect();
    let mut changes = Vec::new();
    for (id, after) in &now {
        let before = previous.get(*id);
        let kind = match before {
            None => Some("new".to_string()),
            Some(b) if b.status != after.status => Some(format!("became_{}", after.status)),
            Some(b) if b.official_at != after.official_at => Some("official_at_changed".to_string()),
            Some(b) if b.ended_at != after.ended_at => Some("ended_at_changed".to_string()),
            Some(b) if b.report_rows != after.report_rows => Some("report_rows_changed".to_string()),
            Some(_) => None,
        };
        if let Some(kind) = kind {
            changes.push(Change {
                claim_id: id.to_string(),
                kind,
                before: before.cloned(),
                after: Some(after.clone()),
            });
        }
    }
    for (id, before) in previous {
        if !now.contains_key(id.as_str()) {
            changes.push(Change {
                claim_id: id.clone(),
                kind: "gone".into(),
                before: Some(before.clone()),
                after: None,
            });
        }
    }
    changes.sort_by(|a, b| a.claim_id.cmp(&b.claim_id));
    changes
}

/// Counts by kind, for summary.json.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChangeCounts(pub BTreeMap<String, u64>);

impl ChangeCounts {
    pub fn of(changes: &[Change]) -> ChangeCounts {
        ChangeCounts::of_kinds(changes.iter().map(|c| &c.kind))
    }

    /// Counts changes given by their kinds (merged shards' changes.csv).
    pub fn of_kinds<'a>(kinds: impl Iterator<Item = &'a String>) -> ChangeCounts {
        let mut counts = BTreeMap::new();
        for kind in kinds {
            *counts.entry(kind.clone()).or_default() += 1;
        }
        ChangeCounts(counts)
    }

    /// "12 became official, 3 became revoked, 5 new" — the most telling kinds first.
    pub fn human(&self) -> String {
        if self.0.is_empty() {
            return "no changes".to_string();
        }
        let mut parts: Vec<(u64, String)> =
            self.0.iter().map(|(kind, n)| (*n, format!("{n} {}", kind.replace('_', " ")))).collect();
        parts.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        parts.into_iter().map(|p| p.1).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: &str, rows: &str) -> Facts {
        Facts { status: status.into(), report_rows: rows.into(), ..Facts::default() }
    }

    const HEADER: &str = "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at,window_closes_at,status,official_at,ended_at,related_claim_ids,report_rows,starting_hwm\n";
    const ROW: &str = "C-1,P-1,00000000-0000-0000-0000-000000000001,modern_work_security_usage,Teams,,DE,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z,2026-11-10T00:00:00Z,official,2026-11-10T00:00:00Z,,,3,\n";

    fn read(text: &str) -> Result<BTreeMap<String, Facts>, String> {
        read_previous_csv(Path::new("prev/ledger.csv"), text.as_bytes()).map_err(|e| e.chain().to_string())
    }

    #[test]
    fn previous_ledger_rows_are_checked() {
        let ledger = read(&format!("{HEADER}{ROW}")).unwrap();
        assert_eq!(
            ledger["C-1"],
            Facts {
                status: "official".into(),
                official_at: "2026-11-10T00:00:00Z".into(),
                ended_at: String::new(),
                report_rows: "3".into(),
                tenant: Uuid::parse("00000000-0000-0000-0000-000000000001"),
            }
        );
        for (bad, what) in [
            (ROW.replace(",official,", ",bogus\u{1b}[31m,"), "status"),
            (ROW.replace("C-1,", "../C-1,"), "claim_id"),
            (ROW.replace("2026-11-01T00:00:00Z", "yesterday"), "submitted_at"),
            (ROW.replace(",,3,", ",,three,"), "report_rows"),
            (ROW.replace(",official,2026-11-10T00:00:00Z", ",official,2026-13-10T00:00:00Z"), "official_at"),
            (ROW.replace("C-1", "C-0"), "appears twice"),
            (ROW.replace(",3,", ",3,,extra,"), "line 3"),
        ] {
            let first = ROW.replace("C-1", "C-0");
            let err = read(&format!("{HEADER}{first}{bad}")).unwrap_err();
            assert!(err.contains("prev/ledger.csv") && err.contains("line 3") && err.contains(what), "{what}: {err}");
            assert!(!err.contains('\u{1b}') && !err.contains('\n'), "{err}");
        }
        let err = read(&format!("claim_id,status\n{ROW}")).unwrap_err();
        assert!(err.contains("line 1") && err.contains("header"), "{err}");
        assert!(read("").unwrap_err().contains("empty"));
    }

    #[test]
    fn an_endless_record_stops_at_the_cap() {
        let began = std::time::Instant::now();
        let endless = HEADER.as_bytes().chain(std::io::repeat(b'a'));
        let err = read_previous_csv(Path::new("ledger.csv"), endless).unwrap_err().chain().to_string();
        assert!(err.contains("larger than 64 MiB") && err.contains("line 2"), "{err}");
        assert!(began.elapsed().as_secs() < 30);
    }

    proptest::proptest! {
        /// Any bytes as a previous ledger: read or refused, never a panic.
        #[test]
        fn any_bytes_as_previous_ledger_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = read_previous_csv(Path::new("ledger.csv"), &bytes[..]);
        }

        /// A valid header followed by arbitrary rows: read or refused, never a panic.
        #[test]
        fn ledger_like_rows_never_panic(rows in proptest::collection::vec("[ -~]{0,60}", 0..5)) {
            let text = format!("{HEADER}{}", rows.join("\n"));
            let _ = read_previous_csv(Path::new("ledger.csv"), text.as_bytes());
        }
    }

    #[test]
    fn counts_read_well() {
        let changes = vec![
            Change {
                claim_id: "A".into(),
                kind: "became_official".into(),
                before: Some(facts("pending", "0")),
                after: Some(facts("official", "3")),
            },
            Change { claim_id: "B".into(), kind: "became_official".into(), before: None, after: None },
            Change { claim_id: "C".into(), kind: "gone".into(), before: Some(facts("pending", "0")), after: None },
        ];
        let counts = ChangeCounts::of(&changes);
        assert_eq!(counts.human(), "2 became official, 1 gone");
        assert_eq!(changes[0].record()[2..4], ["pending".to_string(), "official".to_string()]);
        assert_eq!(changes[2].record()[3], "");
    }
}
