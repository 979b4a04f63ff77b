//! The same data as CSV and as Parquet (text columns, or typed timestamp, date and count columns)
//! must give the same outputs.

use std::fs::File;
use std::path::Path;

use cpor::polars::prelude::*;

use crate::util::*;

/// How CSV columns become Parquet columns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Columns {
    /// Every column text.
    Text,
    /// Timestamps as timestamps, dates as dates, counts as integers.
    Typed,
    /// As pandas writes them: counts as floats, dates as midnight timestamps.
    Pandas,
}

/// Writes `csv` as Parquet. A timestamp, date or count column becomes typed only when every
/// non-empty cell parses; any other column stays text.
pub fn to_parquet(csv: &Path, parquet: &Path, mode: Columns) {
    let typed = mode != Columns::Text;
    let rows = read_csv(csv);
    let (header, rows) = (&rows[0], &rows[1..]);
    let mut columns = Vec::new();
    for (k, name) in header.iter().enumerate() {
        let cells: Vec<Option<&str>> =
            rows.iter().map(|r| r.get(k).map(|c| c.trim()).filter(|c| !c.is_empty())).collect();
        let name = name.trim();
        let kind = name.to_ascii_lowercase();
        let all = |f: &dyn Fn(&str) -> bool| cells.iter().flatten().all(|c| f(c));
        let column = if typed && kind.ends_with("_at") && all(&|c| cpor::types::parse_timestamp(c).is_some()) {
            let values: Vec<Option<i64>> = cells.iter().map(|c| c.and_then(cpor::types::parse_timestamp)).collect();
            Series::new(name.into(), values)
                .into_datetime(TimeUnit::Microseconds, Some(cpor::polars::prelude::TimeZone::UTC))
                .into_column()
        } else if mode == Columns::Pandas && kind == "date" && all(&|c| cpor::types::parse_date(c).is_some()) {
            let day = 86_400_000_000i64;
            let values: Vec<Option<i64>> =
                cells.iter().map(|c| c.and_then(cpor::types::parse_date).map(|d| d as i64 * day)).collect();
            Series::new(name.into(), values).into_datetime(TimeUnit::Microseconds, None).into_column()
        } else if mode == Columns::Pandas && (kind.ends_with("_seats") || kind == "active_users") {
            if all(&|c| c.parse::<f64>().is_ok()) {
                let values: Vec<Option<f64>> = cells.iter().map(|c| c.and_then(|c| c.parse().ok())).collect();
                Column::new(name.into(), values)
            } else {
                Column::new(name.into(), cells)
            }
        } else if typed && kind == "date" && all(&|c| cpor::types::parse_date(c).is_some()) {
            let values: Vec<Option<i32>> = cells.iter().map(|c| c.and_then(cpor::types::parse_date)).collect();
            Series::new(name.into(), values).into_date().into_column()
        } else if typed && (kind.ends_with("_seats") || kind == "active_users") {
            if all(&|c| c.parse::<i64>().is_ok()) {
                let values: Vec<Option<i64>> = cells.iter().map(|c| c.and_then(|c| c.parse().ok())).collect();
                Column::new(name.into(), values)
            } else {
                Column::new(name.into(), cells)
            }
        } else {
            let values: Vec<Option<&str>> = rows.iter().map(|r| r.get(k).map(String::as_str)).collect();
            Column::new(name.into(), values)
        };
        columns.push(column);
    }
    let mut df = DataFrame::new_infer_height(columns).expect("frame");
    ParquetWriter::new(File::create(parquet).expect("create")).finish(&mut df).expect("write parquet");
}

/// Runs a fixture from its CSV inputs and from the same inputs as Parquet; lists where the outputs
/// differ. Rejects are compared by record and reason: the text of typed cells may be written
/// differently.
pub fn parquet_input_mismatches(fixture: &Path, mode: Columns) -> Vec<String> {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = temp.path().join("input");
    std::fs::create_dir(&input).expect("dir");
    for name in ["claims", "responses", "usage"] {
        to_parquet(&fixture.join(format!("input/{name}.csv")), &input.join(format!("{name}.parquet")), mode);
    }
    let (from_csv, from_parquet) = (temp.path().join("csv"), temp.path().join("parquet"));
    run_ok(&fixture_args(fixture, &fixture.join("input"), "csv", &from_csv));
    run_ok(&fixture_args(fixture, &input, "parquet", &from_parquet));
    let mut problems = Vec::new();
    let (mut a, mut b) = (tree(&from_csv), tree(&from_parquet));
    for t in [&mut a, &mut b] {
        t.remove("summary.json");
        t.remove("summary.html");
        t.remove("rejects.csv");
    }
    for name in a.keys().chain(b.keys()).collect::<std::collections::BTreeSet<_>>() {
        if a.get(name) != b.get(name) {
            problems.push(format!("{name} differs between the CSV and the Parquet inputs"));
        }
    }
    let keys = |dir: &Path| -> Vec<Vec<String>> {
        read_csv(&dir.join("rejects.csv")).into_iter().map(|r| vec![r[0].clone(), r[2].clone(), r[3].clone()]).collect()
    };
    let (a, b) = (keys(&from_csv), keys(&from_parquet));
    if a != b {
        let only = |x: &Vec<Vec<String>>, y: &Vec<Vec<String>>| {
            x.iter().filter(|r| !y.contains(r)).cloned().collect::<Vec<_>>()
        };
        problems.push(format!(
            "rejects differ: only from CSV {:?}, only from Parquet {:?}",
            only(&a, &b),
            only(&b, &a)
        ));
    }
    problems
}

/// Fixtures whose CSV has no malformed rows (a Parquet file cannot hold one).
pub fn convertible() -> Vec<std::path::PathBuf> {
    fixtures()
        .into_iter()
        .filter(|f| {
            ["claims", "responses", "usage"].iter().all(|n| {
                let rows = read_csv(&f.join(format!("input/{n}.csv")));
                rows.iter().all(|r| r.len() == rows[0].len())
            })
        })
        .collect()
}

/// A Parquet output file's cells, header first, each written as the CSV writer writes it:
/// timestamps in UTC as `YYYY-MM-DDTHH:MM:SSZ` (six fraction digits when the fraction is not zero),
/// dates as `YYYY-MM-DD`, counts in decimal, nulls empty.
pub fn parquet_cells(path: &Path) -> Vec<Vec<String>> {
    let df = ParquetReader::new(File::open(path).expect("parquet file")).finish().expect("read parquet");
    let mut rows = vec![df.get_column_names().iter().map(|n| n.to_string()).collect::<Vec<_>>()];
    for i in 0..df.height() {
        let row = df.columns().iter().map(|c| cell(c.get(i).expect("in range"), path)).collect();
        rows.push(row);
    }
    rows
}

fn cell(value: AnyValue<'_>, path: &Path) -> String {
    let timestamp = |micros: i64| {
        let t = chrono::DateTime::from_timestamp_micros(micros).expect("a timestamp in range");
        if micros.rem_euclid(1_000_000) == 0 {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        } else {
            t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
        }
    };
    match value {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::StringOwned(s) => s.to_string(),
        AnyValue::UInt64(n) => n.to_string(),
        AnyValue::UInt32(n) => n.to_string(),
        AnyValue::Int64(n) => n.to_string(),
        AnyValue::Int32(n) => n.to_string(),
        AnyValue::Date(days) => {
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
            (epoch + chrono::Duration::days(days.into())).format("%Y-%m-%d").to_string()
        }
        AnyValue::Datetime(v, unit, _) | AnyValue::DatetimeOwned(v, unit, _) => match unit {
            TimeUnit::Microseconds => timestamp(v),
            TimeUnit::Milliseconds => timestamp(v * 1000),
            TimeUnit::Nanoseconds => timestamp(v.div_euclid(1000)),
        },
        other => panic!("{}: a cell of unexpected type {}", path.display(), other.dtype()),
    }
}

/// `--format parquet` writes the same ledger, reports and rejects as CSV, cell for cell, on every
/// fixture (timestamps with and without a fraction of a second, nulls, every reject reason).
#[test]
fn parquet_outputs_hold_the_same_rows() {
    let mut compared = 0;
    for fixture in fixtures() {
        let temp = tempfile::tempdir().expect("temp dir");
        let (csv, parquet) = (temp.path().join("csv"), temp.path().join("parquet"));
        run_ok(&fixture_args(&fixture, &fixture.join("input"), "csv", &csv));
        let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &parquet);
        args.extend(["--format".to_string(), "parquet".to_string()]);
        run_ok(&args);
        // The manifests name each format's own files, bytes and hashes: tests/cli/manifest.rs.
        let listed = |dir: &Path, ext: &str| -> Vec<String> {
            let files = tree(dir).into_keys().filter(|n| !n.ends_with(&format!("manifest.{ext}")));
            files.filter(|n| n.ends_with(&format!(".{ext}"))).map(|n| n.replace(&format!(".{ext}"), "")).collect()
        };
        let (csv_files, parquet_files) = (listed(&csv, "csv"), listed(&parquet, "parquet"));
        assert_eq!(csv_files, parquet_files, "{}: the same files", fixture.display());
        assert!(csv_files.iter().any(|n| n == "ledger") && csv_files.iter().any(|n| n == "rejects"));
        for name in csv_files {
            let want = read_csv(&csv.join(format!("{name}.csv")));
            let got = parquet_cells(&parquet.join(format!("{name}.parquet")));
            assert_eq!(got[0], want[0], "{}: columns of {name}", fixture.display());
            assert_eq!(got.len(), want.len(), "{}: rows of {name}", fixture.display());
            for (i, (g, w)) in got.iter().zip(&want).enumerate().skip(1) {
                for (k, (g, w)) in g.iter().zip(w).enumerate() {
                    assert_eq!(g, w, "{}: {name} row {i}, column {}", fixture.display(), want[0][k]);
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 4000, "{compared} cells compared");
}
