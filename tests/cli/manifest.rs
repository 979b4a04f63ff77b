//! The delivery manifests (issue 15): `reports/manifest.<ext>` lists every report file once, sorted,
//! with its rows, bytes and sha256 recomputed here from the files themselves; each partner's
//! `reports/<partner_id>/manifest.<ext>` holds that partner's lines only. Reruns and merged shards give
//! the same bytes (tests/cli/main.rs, tests/cli/shards.rs compare whole output trees).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::parquet::parquet_cells;
use crate::util::*;

const COLUMNS: [&str; 8] =
    ["partner_id", "claim_id", "path", "rows", "bytes", "sha256", "window_start", "window_end_exclusive"];

/// A table's cells, header first, from a CSV or Parquet file.
fn cells(path: &Path) -> Vec<Vec<String>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => parquet_cells(path),
        _ => read_csv(path),
    }
}

/// Every difference between an output's report files and its manifests.
fn manifest_problems(out: &Path, ext: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let manifest = cells(&out.join(format!("reports/manifest.{ext}")));
    if manifest.first().map(|h| h.iter().map(String::as_str).eq(COLUMNS)) != Some(true) {
        return vec![format!("header {:?}", manifest.first())];
    }
    let lines = &manifest[1..];
    let keys: Vec<(&str, &str)> = lines.iter().map(|l| (l[0].as_str(), l[1].as_str())).collect();
    if !keys.windows(2).all(|pair| pair[0] < pair[1]) {
        problems.push("lines are not sorted by (partner_id, claim_id), each once".into());
    }
    let files = report_tree(out);
    let listed: Vec<String> = lines.iter().map(|l| l[2].trim_start_matches("reports/").to_string()).collect();
    if files.keys().cloned().collect::<Vec<_>>() != {
        let mut sorted = listed.clone();
        sorted.sort();
        sorted
    } {
        problems.push(format!("listed {listed:?}, files {:?}", files.keys()));
    }
    for line in lines {
        let Some(bytes) = files.get(line[2].trim_start_matches("reports/")) else { continue };
        let hash: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        let rows = cells(&out.join(&line[2])).len() - 1;
        let expected =
            [format!("reports/{}/{}.{ext}", line[0], line[1]), rows.to_string(), bytes.len().to_string(), hash];
        let got = [line[2].clone(), line[3].clone(), line[4].clone(), line[5].clone()];
        if got != expected {
            problems.push(format!("{}: path, rows, bytes, sha256 {got:?}, recomputed {expected:?}", line[2]));
        }
        if !(line[6].len() == 10 && line[6] <= line[7]) {
            problems.push(format!("{}: window {} to {}", line[2], line[6], line[7]));
        }
    }
    let mut partners: Vec<&str> = lines.iter().map(|l| l[0].as_str()).collect();
    partners.dedup();
    for partner in partners {
        let own = cells(&out.join(format!("reports/{partner}/manifest.{ext}")));
        let want: Vec<&Vec<String>> = lines.iter().filter(|l| l[0] == partner).collect();
        if own.first() != manifest.first() || own[1..].iter().collect::<Vec<_>>() != want {
            problems.push(format!("reports/{partner}/manifest.{ext} is not the partner's lines of the manifest"));
        }
    }
    problems
}

#[test]
fn manifests_list_every_report_with_its_rows_bytes_and_sha256() {
    let mut problems = Vec::new();
    let mut listed = 0;
    for name in ["example_small", "report_scoping", "early_accept_then_revoke"] {
        let fixture = repo().join("fixtures").join(name);
        for ext in ["csv", "parquet"] {
            let temp = tempfile::tempdir().expect("temp dir");
            let out = temp.path().join("out");
            run_ok(
                &[fixture_args(&fixture, &fixture.join("input"), "csv", &out), vec!["--format".into(), ext.into()]]
                    .concat(),
            );
            listed += report_tree(&out).len();
            problems.extend(manifest_problems(&out, ext).into_iter().map(|p| format!("{name} [{ext}]: {p}")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(listed > 20, "the fixtures have reports to list");
}

#[test]
fn an_output_without_reports_has_an_empty_manifest() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    // Long before any claim: no report.
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &out);
    set_arg(&mut args, "--as-of", "2020-01-01T00:00:00Z");
    run_ok(&args);
    assert!(report_tree(&out).is_empty());
    assert_eq!(read_csv(&out.join("reports/manifest.csv")), vec![COLUMNS.map(String::from).to_vec()]);
}

/// A claim_id `manifest` or a partner_id `manifest.csv` would make a report the manifest's file:
/// such a claim is `invalid_id`, whatever the letter case.
#[test]
fn ids_that_would_name_a_manifest_are_invalid() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let claims = temp.path().join("claims.csv");
    let text = std::fs::read_to_string(fixture.join("input/claims.csv")).expect("claims");
    let row = text.lines().nth(1).expect("a claim");
    let (id, rest) = row.split_once(',').expect("columns");
    let (partner, rest) = rest.split_once(',').expect("columns");
    let added = [format!("MANIFEST,{partner},{rest}"), format!("{id}-2,manifest.Parquet,{rest}")];
    std::fs::write(&claims, format!("{text}{}\n", added.join("\n"))).expect("write");
    let out = temp.path().join("out");
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &out);
    set_arg(&mut args, "--claims", claims.display());
    run_ok(&args);
    let records = text.lines().count();
    let rejects = read_csv(&out.join("rejects.csv"));
    for record in [records, records + 1] {
        let reject = rejects.iter().find(|r| r[0] == "claims" && r[2] == record.to_string()).expect("rejected");
        assert_eq!(reject[3], "invalid_id", "{reject:?}");
        assert!(reject[4].contains("manifest"), "{reject:?}");
    }
    assert!(manifest_problems(&out, "csv").is_empty());
}
