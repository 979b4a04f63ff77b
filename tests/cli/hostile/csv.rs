//! Hostile CSV input: bad bytes, formulas, odd ids, FIFOs, devices and a property over mutated
//! files (SPEC 2.4, 6).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;
use std::process::Output;

use proptest::prelude::*;

use crate::util::*;

const TENANT: &str = "abcdef01-2345-4789-abcd-ef0123456789";
const SUB: &str = "a1111111-1111-4111-8111-111111111111";
const AS_OF: &str = "2026-11-23T06:00:00Z";

const CLAIMS_HEADER: &str =
    "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n";
const USAGE_HEADER: &str = "tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n";

/// A claim line, official by the as-of instant, for a workload-scoped engagement.
fn claim(id: &str, partner: &str, workload: &str) -> String {
    format!(
        "{id},{partner},{TENANT},modern_work_security_usage,{workload},,,2026-11-01T10:00:00Z,2026-11-02T10:00:00Z\n"
    )
}

/// Writes the three inputs (bytes as given) and an empty holidays file into `dir`.
fn write_inputs(dir: &Path, claims: &[u8], responses: &[u8], usage: &[u8]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(dir.join("claims.csv"), claims).expect("write");
    std::fs::write(dir.join("responses.csv"), responses).expect("write");
    std::fs::write(dir.join("usage.csv"), usage).expect("write");
    std::fs::write(dir.join("holidays.csv"), "date,country,name\n").expect("write");
}

fn run_args(dir: &Path, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage", "holidays"] {
        args.push(format!("--{name}"));
        args.push(dir.join(format!("{name}.csv")).display().to_string());
    }
    args.extend(["--as-of".into(), AS_OF.into(), "--out".into(), out.display().to_string(), "--quiet".into()]);
    args
}

fn run(dir: &Path, out: &Path) -> Output {
    cpor().args(run_args(dir, out)).output().expect("cpor runs")
}

const NO_RESPONSES: &[u8] = b"response_id,claim_id,tenant_id,response,responded_at\n";

fn rejects_by_record(out: &Path) -> BTreeMap<(String, String), String> {
    read_csv(&out.join("rejects.csv"))
        .into_iter()
        .skip(1)
        .map(|r| ((r[0].clone(), r[2].clone()), r[3].clone()))
        .collect()
}

#[test]
fn invalid_utf8_is_fatal_naming_file_and_offset() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    // Two workloads that a lossy decoding would both read as U+FFFD, and so one partner's usage
    // in the other's report.
    let mut claims = CLAIMS_HEADER.as_bytes().to_vec();
    claims.extend_from_slice(claim("C1", "P1", "Teams").as_bytes());
    let mut usage = USAGE_HEADER.as_bytes().to_vec();
    usage.extend_from_slice(format!("{TENANT},Teams,,2026-11-10,1,,\n").as_bytes());
    let offset = usage.len() + TENANT.len() + 1 + "Sharepoint".len();
    usage.extend_from_slice(format!("{TENANT},Sharepoint").as_bytes());
    usage.push(0xff);
    usage.extend_from_slice(b",,2026-11-10,99,,\n");
    write_inputs(&dir, &claims, NO_RESPONSES, &usage);
    let out = temp.path().join("out");
    let output = run(&dir, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("usage.csv") && stderr.contains(&format!("offset {offset}")), "{stderr}");
    assert_eq!(crate::util::error_lines(&stderr), 1, "one line: {stderr}");
    assert!(!out.exists(), "nothing written");
}

/// SPEC 9.2: UTF-16 with a byte-order mark is read; without one it is named, with the flag to give.
#[test]
fn utf16_files_are_named_as_such() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    let mut claims = vec![0xff, 0xfe];
    for unit in CLAIMS_HEADER.encode_utf16() {
        claims.extend_from_slice(&unit.to_le_bytes());
    }
    write_inputs(&dir, &claims, NO_RESPONSES, USAGE_HEADER.as_bytes());
    let output = run(&dir, &temp.path().join("out"));
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    write_inputs(&dir, &claims[2..], NO_RESPONSES, USAGE_HEADER.as_bytes());
    let output = run(&dir, &temp.path().join("out2"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("UTF-16") && stderr.contains("--encoding utf-16le") && stderr.contains("claims.csv"),
        "{stderr}"
    );
}

#[test]
fn formulas_and_control_characters_are_invalid_text() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    let formulas = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "Te\u{1b}[31mams"];
    let mut claims = String::from(CLAIMS_HEADER);
    claims.push_str(&claim("C0", "P1", "Teams"));
    for (i, formula) in formulas.iter().enumerate() {
        claims.push_str(&claim(&format!("C{}", i + 1), "P1", &format!("\"{}\"", formula.replace('"', "\"\""))));
    }
    // Ids may not start with '-' (nor become a report folder named like a flag).
    claims.push_str(&claim("-C9", "P1", "Teams"));
    claims.push_str(&claim("C10", "-P2", "Teams"));
    let mut usage = String::from(USAGE_HEADER);
    usage.push_str(&format!("{TENANT},Teams,,2026-11-10,5,,\n"));
    for formula in formulas {
        usage.push_str(&format!("{TENANT},\"{}\",,2026-11-10,7,,\n", formula.replace('"', "\"\"")));
    }
    write_inputs(&dir, claims.as_bytes(), NO_RESPONSES, usage.as_bytes());
    let out = temp.path().join("out");
    let output = run(&dir, &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let rejects = rejects_by_record(&out);
    for record in 2..=formulas.len() + 1 {
        assert_eq!(rejects[&("claims".into(), record.to_string())], "invalid_text", "claims record {record}");
        assert_eq!(rejects[&("usage".into(), record.to_string())], "invalid_text", "usage record {record}");
    }
    assert_eq!(rejects[&("claims".into(), "7".into())], "invalid_id");
    assert_eq!(rejects[&("claims".into(), "8".into())], "invalid_id");
    // No cell a spreadsheet would run, in the ledger or any report; no folder or file from a bad id.
    let mut files = vec![out.join("ledger.csv")];
    files.extend(report_tree(&out).into_keys().map(|name| out.join("reports").join(name)));
    assert_eq!(files.len(), 2, "the ledger and C0's report: {files:?}");
    // The manifests hold the ids too.
    files.extend(
        tree(&out.join("reports"))
            .into_keys()
            .filter(|n| n.ends_with("manifest.csv"))
            .map(|n| out.join("reports").join(n)),
    );
    for file in files {
        for row in read_csv(&file) {
            for cell in row {
                assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell:?} in {}", file.display());
                assert!(!cell.chars().any(char::is_control), "{cell:?} in {}", file.display());
            }
        }
    }
}

#[test]
fn ids_equal_but_for_letter_case_never_share_a_folder_or_file() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    let claims = [CLAIMS_HEADER.to_string(), claim("C1", "P1", "Teams"), claim("c1", "P3", "Exchange"), {
        // Same partner but for case, another workload: it would share P1's folder.
        claim("C2", "p1", "SharePoint")
    }]
    .concat();
    let usage = format!("{USAGE_HEADER}{TENANT},Teams,,2026-11-10,1,,\n{TENANT},Exchange,,2026-11-10,2,,\n{TENANT},SharePoint,,2026-11-10,3,,\n");
    write_inputs(&dir, claims.as_bytes(), NO_RESPONSES, usage.as_bytes());
    let out = temp.path().join("out");
    let output = run(&dir, &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rejects = rejects_by_record(&out);
    assert_eq!(rejects[&("claims".into(), "2".into())], "duplicate_claim_id");
    assert_eq!(rejects[&("claims".into(), "3".into())], "invalid_id");
    let mut folded = HashSet::new();
    for path in report_paths(&out) {
        assert!(folded.insert(path.to_lowercase()), "{path} clashes with another report path but for case");
    }
    assert_eq!(report_paths(&out), ["P1/C1.csv"]);
}

fn report_paths(out: &Path) -> Vec<String> {
    report_tree(out).into_keys().collect()
}

#[test]
fn timestamps_and_dates_outside_years_1_to_9999_are_rejected() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    let claims = format!(
        "{CLAIMS_HEADER}{}C2,P1,{TENANT},modern_work_security_usage,Exchange,,,0001-01-01T00:00:00+01:00,\nC3,P1,{TENANT},modern_work_security_usage,Exchange,,,2026-11-01T10:00:00Z,9999-12-31T23:59:59-01:00\n",
        claim("C1", "P1", "Teams")
    );
    let usage = format!(
        "{USAGE_HEADER}{TENANT},Teams,,0000-01-01,1,,\n{TENANT},Teams,,10000-01-01,1,,\n{TENANT},Teams,,2026-11-10,1,,\n"
    );
    write_inputs(&dir, claims.as_bytes(), NO_RESPONSES, usage.as_bytes());
    let out = temp.path().join("out");
    let output = run(&dir, &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rejects = rejects_by_record(&out);
    assert_eq!(rejects[&("claims".into(), "2".into())], "invalid_timestamp");
    assert_eq!(rejects[&("claims".into(), "3".into())], "invalid_timestamp");
    assert_eq!(rejects[&("usage".into(), "1".into())], "invalid_date");
    assert_eq!(rejects[&("usage".into(), "2".into())], "invalid_date");
}

#[test]
fn repeated_header_names_keep_every_cell_in_raw() {
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    let usage = format!(
        "tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats,note,note\n{TENANT},Teams,,2026-13-01,1,,,a,b\n"
    );
    write_inputs(
        &dir,
        format!("{CLAIMS_HEADER}{}", claim("C1", "P1", "Teams")).as_bytes(),
        NO_RESPONSES,
        usage.as_bytes(),
    );
    let out = temp.path().join("out");
    let output = run(&dir, &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rejects = read_csv(&out.join("rejects.csv"));
    let raw: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&rejects[1][5]).expect("raw is JSON");
    assert_eq!(raw.len(), 9, "{raw:?}");
    assert_eq!(raw["note"], "a");
    assert_eq!(raw["note (2)"], "b");
}

#[test]
fn a_fifo_input_is_read_once_and_hashed_like_its_file() {
    let temp = tempfile::tempdir().expect("temp");
    let fixture = repo().join("fixtures/report_scoping");
    let fifo = temp.path().join("usage.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    let source = fixture.join("input/usage.csv");
    let writer = {
        let (fifo, source) = (fifo.clone(), source.clone());
        std::thread::spawn(move || std::fs::write(&fifo, std::fs::read(source).expect("read")).expect("write fifo"))
    };
    let out = temp.path().join("out");
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &out);
    set_arg(&mut args, "--usage", fifo.display());
    run_ok(&args);
    writer.join().expect("writer");
    let expected_out = temp.path().join("expected");
    run_ok(&fixture_args(&fixture, &fixture.join("input"), "csv", &expected_out));
    assert_eq!(outputs_without_summary(&out), outputs_without_summary(&expected_out));
    let sha = |out: &Path| summary(out)["inputs"]["usage"]["files"][0]["sha256"].clone();
    assert_eq!(sha(&out), sha(&expected_out));
    assert!(sha(&out).as_str().is_some_and(|s| s.len() == 64));
}

#[test]
fn a_device_named_as_csv_is_fatal_not_read_until_memory_runs_out() {
    let temp = tempfile::tempdir().expect("temp");
    let fixture = repo().join("fixtures/report_scoping");
    let zero = temp.path().join("usage.csv");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &temp.path().join("out"));
    set_arg(&mut args, "--usage", zero.display());
    let output = cpor().args(&args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("64 MiB") && stderr.contains("usage.csv"), "{stderr}");
}

// ---- A property over mutated files ----------------------------------------------------------

/// A small valid dataset: two partners on one tenant's workloads and subscription, usage on many
/// days of several workloads, subscriptions and a second tenant.
fn base_inputs() -> [Vec<u8>; 3] {
    let other = "0bcdef01-2345-4789-abcd-ef0123456789";
    let sub2 = "a2222222-2222-4222-8222-222222222222";
    let mut claims = String::from(CLAIMS_HEADER);
    claims.push_str(&claim("W1", "P1", "Teams"));
    claims.push_str(&claim("W2", "P2", "Exchange"));
    claims.push_str(&format!(
        "S1,P2,{TENANT},bizapps_revenue,Dynamics 365 Sales,{SUB},DE,2026-11-01T10:00:00Z,2026-11-02T10:00:00Z\n"
    ));
    claims.push_str(&format!(
        "W3,P3,{other},modern_work_security_usage,Teams,,,2026-11-01T10:00:00Z,2026-11-02T10:00:00Z\n"
    ));
    let responses =
        format!("response_id,claim_id,tenant_id,response,responded_at\nR1,W2,{TENANT},opt_out,2026-11-15T10:00:00Z\n");
    let mut usage = String::from(USAGE_HEADER);
    for day in 1..=22 {
        for (tenant, workload, sub) in [
            (TENANT, "Teams", ""),
            (TENANT, "teams", SUB),
            (TENANT, "Exchange", ""),
            (TENANT, "Dynamics 365 Sales", SUB),
            (TENANT, "Dynamics 365 Sales", sub2),
            (other, "Teams", ""),
        ] {
            usage.push_str(&format!("{tenant},{workload},{sub},2026-11-{day:02},{day},{},\n", day * 2));
        }
    }
    [claims.into_bytes(), responses.into_bytes(), usage.into_bytes()]
}

/// A byte change: where (a fraction of the file), what, and whether it replaces or inserts.
#[derive(Clone, Debug)]
struct Edit {
    file: usize,
    at: f64,
    bytes: Vec<u8>,
    insert: bool,
}

fn edit() -> impl Strategy<Value = Edit> {
    let palette = prop_oneof![
        Just(vec![0xff]),
        Just(vec![0xc3]),
        Just("é".as_bytes().to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"=".to_vec()),
        Just(b"-".to_vec()),
        Just(vec![0x1b]),
        Just(vec![0]),
        Just(b"T".to_vec()),
        Just(b"9".to_vec()),
        Just(b" ".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..4),
    ];
    (0..3usize, 0.0..1.0f64, palette, any::<bool>()).prop_map(|(file, at, bytes, insert)| Edit {
        file,
        at,
        bytes,
        insert,
    })
}

fn apply(inputs: &mut [Vec<u8>; 3], edit: &Edit) {
    let file = &mut inputs[edit.file];
    let at = ((file.len() as f64) * edit.at) as usize;
    if edit.insert {
        file.splice(at..at, edit.bytes.iter().copied());
    } else {
        let end = (at + edit.bytes.len()).min(file.len());
        file.splice(at..end, edit.bytes.iter().copied());
    }
}

/// Usage rows of the input as (tenant, workload lower-cased, subscription, date, counts), trimmed.
/// Columns are found by name as cpor finds them (SPEC 9.1, own names): a mutated header name
/// leaves its column empty, as the file lacks it.
fn usage_rows(usage: &[u8]) -> HashSet<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(usage);
    let normalize = |name: &str| {
        name.chars().filter(|c| !c.is_whitespace() && !"_-".contains(*c)).collect::<String>().to_lowercase()
    };
    let header: Vec<String> = reader.headers().map(|h| h.iter().map(normalize).collect()).unwrap_or_default();
    let columns: Vec<Option<usize>> =
        USAGE_HEADER.trim_end().split(',').map(|name| header.iter().position(|h| *h == normalize(name))).collect();
    reader
        .records()
        .filter_map(Result::ok)
        .filter(|r| r.len() == header.len())
        .map(|r| {
            let cell = |i: usize| columns[i].and_then(|c| r.get(c)).unwrap_or("").trim().to_string();
            // Counts as the report writes them ("007" is 7).
            let count = |i: usize| cell(i).parse::<u64>().map_or(cell(i), |v| v.to_string());
            vec![
                cell(0).to_lowercase(),
                cell(1).to_lowercase(),
                cell(2).to_lowercase(),
                cell(3),
                count(4),
                count(5),
                count(6),
            ]
        })
        .collect()
}

/// Checks that a finished run lost nothing and showed no partner a row outside its claim's scope.
fn check_run(out: &Path, usage: &[u8]) -> Result<(), TestCaseError> {
    let summary = summary(out);
    for source in ["claims", "responses", "usage"] {
        let input = &summary["inputs"][source];
        let count = |key: &str| input[key].as_u64().unwrap_or(u64::MAX);
        prop_assert_eq!(count("records"), count("accepted") + count("rejected") + count("deferred"), "{}", source);
    }
    let ledger: BTreeMap<String, Vec<String>> =
        read_csv(&out.join("ledger.csv")).into_iter().skip(1).map(|r| (r[0].clone(), r)).collect();
    let usage = usage_rows(usage);
    for (path, _) in report_tree(out) {
        let (partner, file) = path.split_once('/').unwrap_or(("", ""));
        let claim_id = file.trim_end_matches(".csv");
        let claim = ledger.get(claim_id).ok_or_else(|| TestCaseError::fail(format!("{path}: no ledger row")))?;
        prop_assert_eq!(&claim[1], partner, "{} in the wrong partner's folder", path);
        prop_assert!(["official", "revoked"].contains(&claim[10].as_str()), "{} has a report", claim[10]);
        let from = claim[11].get(..10).unwrap_or("").to_string();
        let until_excl = claim[12].get(..10).map(str::to_string);
        for row in read_csv(&out.join("reports").join(&path)).into_iter().skip(1) {
            prop_assert_eq!(&row[2], &claim[2], "tenant in {}", path);
            prop_assert!(row[4].eq_ignore_ascii_case(&claim[4]), "workload {} in {}", row[4], path);
            if claim[3] != "modern_work_security_usage" {
                prop_assert_eq!(&row[5], &claim[5], "subscription in {}", path);
            }
            prop_assert!(row[6] >= from, "{} before the access window in {}", row[6], path);
            prop_assert!(row[6].as_str() <= &AS_OF[..10], "{} after T in {}", row[6], path);
            if let Some(until) = &until_excl {
                prop_assert!(row[6] < *until, "{} after the revocation in {}", row[6], path);
            }
            let key = vec![
                row[2].clone(),
                row[4].to_lowercase(),
                row[5].clone(),
                row[6].clone(),
                row[7].clone(),
                row[8].clone(),
                row[9].clone(),
            ];
            prop_assert!(usage.contains(&key), "{:?} in {} is no usage row of the input", key, path);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary byte edits to CSV inputs never panic; a run that finishes accounts for every record
    /// and shows no partner a row outside its claim's scope.
    #[test]
    fn mutated_csv_never_panics_loses_or_leaks(edits in proptest::collection::vec(edit(), 1..6)) {
        let mut inputs = base_inputs();
        for edit in &edits {
            apply(&mut inputs, edit);
        }
        let temp = tempfile::tempdir().expect("temp");
        let dir = temp.path().join("in");
        write_inputs(&dir, &inputs[0], &inputs[1], &inputs[2]);
        let out = temp.path().join("out");
        let output = run(&dir, &out);
        let code = output.status.code();
        prop_assert!(matches!(code, Some(0) | Some(1)), "exit {:?}: {}", code, String::from_utf8_lossy(&output.stderr));
        if code == Some(0) {
            check_run(&out, &inputs[2])?;
        } else {
            prop_assert!(!out.exists(), "a failed run wrote its output");
            prop_assert_eq!(crate::util::error_lines(&String::from_utf8_lossy(&output.stderr)), 1);
        }
    }
}

#[test]
fn the_unmutated_base_passes_the_property_check() {
    // The property above is only as good as its check: on the clean base it must see reports.
    let temp = tempfile::tempdir().expect("temp");
    let dir = temp.path().join("in");
    let inputs = base_inputs();
    write_inputs(&dir, &inputs[0], &inputs[1], &inputs[2]);
    let out = temp.path().join("out");
    assert!(run(&dir, &out).status.success());
    let reports: BTreeSet<String> = report_paths(&out).into_iter().collect();
    assert_eq!(
        reports,
        BTreeSet::from(["P1/W1.csv".to_string(), "P2/S1.csv".into(), "P2/W2.csv".into(), "P3/W3.csv".into()])
    );
    check_run(&out, &inputs[2]).expect("the clean base passes");
    // And it fails on a leaked row.
    let report = out.join("reports/P1/W1.csv");
    let mut text = std::fs::read_to_string(&report).expect("report");
    text.push_str(&format!("W1,P1,{TENANT},modern_work_security_usage,Exchange,,2026-11-10,10,20,\n"));
    std::fs::write(&report, text).expect("write");
    assert!(check_run(&out, &inputs[2]).is_err(), "a leaked row is caught");
}
