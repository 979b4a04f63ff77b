//! The same data as CSV and as Parquet (text columns, or typed timestamp, date and count columns)
//! must give the same outputs.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::util::*;

/// How CSV columns become Parquet columns.
#[derive(Clone, Copy, PartialEq)]
enum Columns {
    /// Every column text.
    Text,
    /// Timestamps as timestamps, dates as dates, counts as integers.
    Typed,
    /// As pandas writes them: counts as floats, dates as midnight timestamps.
    Pandas,
}

/// Writes `csv` as Parquet. A timestamp, date or count column becomes typed only when every
/// non-empty cell parses; any other column stays text.
fn to_parquet(csv: &Path, parquet: &Path, mode: Columns) {
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
                .into_datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC))
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

fn compare(fixture: &Path, mode: Columns) {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = temp.path().join("input");
    std::fs::create_dir(&input).expect("dir");
    for name in ["claims", "responses", "usage"] {
        to_parquet(&fixture.join(format!("input/{name}.csv")), &input.join(format!("{name}.parquet")), mode);
    }
    let (from_csv, from_parquet) = (temp.path().join("csv"), temp.path().join("parquet"));
    run_ok(&fixture_args(fixture, &fixture.join("input"), "csv", &from_csv));
    run_ok(&fixture_args(fixture, &input, "parquet", &from_parquet));
    let (mut a, mut b) = (tree(&from_csv), tree(&from_parquet));
    for t in [&mut a, &mut b] {
        t.remove("summary.json");
        t.remove("summary.html");
        t.remove("rejects.csv");
    }
    assert!(a == b, "{}: ledger or reports differ between CSV and Parquet inputs", fixture.display());
    // Rejects: same records and reasons; the text of typed cells may be written differently.
    let keys = |dir: &Path| -> Vec<Vec<String>> {
        read_csv(&dir.join("rejects.csv")).into_iter().map(|r| vec![r[0].clone(), r[2].clone(), r[3].clone()]).collect()
    };
    assert_eq!(keys(&from_csv), keys(&from_parquet), "{}", fixture.display());
}

/// Fixtures whose CSV has no malformed rows (a Parquet file cannot hold one).
fn convertible() -> Vec<std::path::PathBuf> {
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

#[test]
fn parquet_text_columns_give_the_same_outputs_as_csv() {
    let fixtures = convertible();
    assert!(fixtures.len() >= 10);
    for fixture in fixtures {
        compare(&fixture, Columns::Text);
    }
}

#[test]
fn parquet_typed_columns_give_the_same_outputs_as_csv() {
    for fixture in convertible() {
        compare(&fixture, Columns::Typed);
    }
}

#[test]
fn parquet_as_pandas_writes_it_gives_the_same_outputs_as_csv() {
    // Float counts (whole values are counts) and dates as midnight timestamps.
    for fixture in convertible() {
        compare(&fixture, Columns::Pandas);
    }
}

#[test]
fn parquet_outputs_hold_the_same_rows() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &out);
    args.extend(["--format".to_string(), "parquet".to_string()]);
    run_ok(&args);
    let ledger = ParquetReader::new(File::open(out.join("ledger.parquet")).expect("ledger")).finish().expect("read");
    let expected = read_csv(&fixture.join("expected/ledger.csv"));
    assert_eq!(ledger.height(), expected.len() - 1);
    let names: Vec<String> = ledger.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names, expected[0]);
    let status = ledger.column("status").expect("status").str().expect("text").clone();
    for (i, row) in expected[1..].iter().enumerate() {
        assert_eq!(status.get(i), Some(row[10].as_str()));
    }
    let reports = tree(&out.join("reports"));
    let expected_reports = tree(&fixture.join("expected/reports"));
    assert_eq!(reports.len(), expected_reports.len());
    for name in expected_reports.keys() {
        let parquet_name = name.replace(".csv", ".parquet");
        let df = ParquetReader::new(File::open(out.join("reports").join(&parquet_name)).expect("report"))
            .finish()
            .expect("read");
        assert_eq!(df.height(), read_csv(&fixture.join("expected/reports").join(name)).len() - 1, "{name}");
    }
    assert!(out.join("rejects.parquet").exists());
}
