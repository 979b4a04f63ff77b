//! Inputs are read in batches (a Parquet file's of 262,144 rows, a CSV file's of its 2 MiB blocks),
//! and each batch is handed on in parts of an eighth of it, 4,096 to 32,768 rows
//! (`input::read_file`): a reject in any part of any batch keeps its own record number and text.

use std::fmt::Write as _;
use std::path::Path;

use crate::parquet::{to_parquet, Columns};
use crate::util::*;

/// Record numbers (1-based) of the bad rows: the first and last rows of parts and batches, and
/// rows between.
const BAD: [u64; 16] = [
    1, 4_095, 4_096, 4_097, 8_193, 12_288, 16_384, 16_385, 20_000, 32_768, 32_769, 40_000, 262_144, 262_145, 294_912,
    ROWS,
];

const ROWS: u64 = 300_000;

/// `ROWS` usage rows, each of its own tenant; the rows of `BAD` have the date `bad-<record>`.
fn usage_csv(path: &Path) {
    let mut text = String::from("tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n");
    for record in 1..=ROWS {
        let date = if BAD.contains(&record) { format!("bad-{record}") } else { "2026-11-01".to_string() };
        let _ = writeln!(text, "00000000-0000-4000-8000-{record:012x},Teams,,{date},{record},,");
    }
    std::fs::write(path, text).expect("write usage");
}

fn check_rejects(usage: &Path, out: &Path) {
    let data = repo().join("data");
    let output = cpor()
        .args(["validate", "--as-of", "2026-11-23T06:00:00Z", "--max-reject-rate", "1", "--claims"])
        .arg(data.join("claims.csv"))
        .arg("--responses")
        .arg(data.join("responses.csv"))
        .arg("--usage")
        .arg(usage)
        .arg("--out")
        .arg(out)
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows = read_csv(&out.join("rejects.csv"));
    let usage_rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "usage").collect();
    let records: Vec<u64> = usage_rows.iter().map(|r| r[2].parse().expect("record")).collect();
    assert_eq!(records, BAD, "{}", usage.display());
    for row in usage_rows {
        assert_eq!(row[3], "invalid_date", "{row:?}");
        assert!(row[5].contains(&format!("bad-{}", row[2])), "record {} shows another row: {}", row[2], row[5]);
        let tenant = format!("00000000-0000-4000-8000-{:012x}", row[2].parse::<u64>().expect("record"));
        assert!(row[5].contains(&tenant), "record {} shows another row: {}", row[2], row[5]);
    }
}

#[test]
fn rejects_in_every_part_of_every_batch_keep_their_record_and_text() {
    let temp = tempfile::tempdir().expect("temp dir");
    let csv = temp.path().join("usage.csv");
    usage_csv(&csv);
    check_rejects(&csv, &temp.path().join("csv-out"));
    let parquet = temp.path().join("usage.parquet");
    to_parquet(&csv, &parquet, Columns::Typed);
    check_rejects(&parquet, &temp.path().join("parquet-out"));
}
