//! Changes since a previous run (`cpor run --previous DIR`): one row per claim whose status,
//! official_at, ended_at or report_rows changed, or that is new or gone, with before and after.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use crate::error::CporError;
use crate::output::LedgerRow;
use crate::types::format_timestamp;

/// The ledger columns a change is judged on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub status: String,
    pub official_at: String,
    pub ended_at: String,
    pub report_rows: String,
}

impl Facts {
    pub fn of(row: &LedgerRow<'_>) -> Facts {
        let e = row.evaluation;
        Facts {
            status: e.status.as_str().to_string(),
            official_at: e.official_at().map_or(String::new(), format_timestamp),
            ended_at: e.walk.ended_at.map_or(String::new(), format_timestamp),
            report_rows: row.report_rows().to_string(),
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

/// Reads a former output directory's ledger (`ledger.csv` or `ledger.parquet`), by claim id.
pub fn read_previous(dir: &Path) -> Result<BTreeMap<String, Facts>, CporError> {
    let fail = |path: &Path, message: String| CporError::Previous { path: path.to_path_buf(), message };
    let csv_path = dir.join("ledger.csv");
    let parquet_path = dir.join("ledger.parquet");
    let mut ledger = BTreeMap::new();
    if csv_path.exists() {
        let mut reader = csv::Reader::from_path(&csv_path).map_err(|e| fail(&csv_path, e.to_string()))?;
        let headers = reader.headers().map_err(|e| fail(&csv_path, e.to_string()))?.clone();
        let col = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| fail(&csv_path, format!("missing column '{name}'")))
        };
        let cols = [col("claim_id")?, col("status")?, col("official_at")?, col("ended_at")?, col("report_rows")?];
        for record in reader.records() {
            let record = record.map_err(|e| fail(&csv_path, e.to_string()))?;
            let get = |k: usize| record.get(cols[k]).unwrap_or("").to_string();
            ledger.insert(get(0), Facts { status: get(1), official_at: get(2), ended_at: get(3), report_rows: get(4) });
        }
    } else if parquet_path.exists() {
        let polars = |e: PolarsError| fail(&parquet_path, e.to_string());
        let file = File::open(&parquet_path).map_err(|e| fail(&parquet_path, e.to_string()))?;
        let df = ParquetReader::new(file).finish().map_err(polars)?;
        let text = |name: &str| -> Result<Vec<String>, CporError> {
            let series = df.column(name).map_err(polars)?.as_materialized_series().clone();
            Ok(match series.dtype() {
                DataType::Datetime(_, _) => {
                    let micros = series.cast(&DataType::Datetime(TimeUnit::Microseconds, None)).map_err(polars)?;
                    let micros = micros.datetime().map_err(polars)?.physical().clone();
                    (0..micros.len()).map(|i| micros.get(i).map_or(String::new(), format_timestamp)).collect()
                }
                _ => {
                    let strings = series.cast(&DataType::String).map_err(polars)?;
                    let strings = strings.str().map_err(polars)?;
                    (0..strings.len()).map(|i| strings.get(i).unwrap_or("").to_string()).collect()
                }
            })
        };
        let (ids, status, official, ended, rows) =
            (text("claim_id")?, text("status")?, text("official_at")?, text("ended_at")?, text("report_rows")?);
        for i in 0..ids.len() {
            let facts = Facts {
                status: status[i].clone(),
                official_at: official[i].clone(),
                ended_at: ended[i].clone(),
                report_rows: rows[i].clone(),
            };
            ledger.insert(ids[i].clone(), facts);
        }
    } else {
        return Err(fail(dir, "holds no ledger.csv or ledger.parquet".to_string()));
    }
    Ok(ledger)
}

/// Compares the previous ledger with this run's, sorted by claim id.
pub fn compare(previous: &BTreeMap<String, Facts>, current: &[LedgerRow<'_>]) -> Vec<Change> {
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
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChangeCounts(pub BTreeMap<String, u64>);

impl ChangeCounts {
    pub fn of(changes: &[Change]) -> ChangeCounts {
        let mut counts = BTreeMap::new();
        for change in changes {
            *counts.entry(change.kind.clone()).or_default() += 1;
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
