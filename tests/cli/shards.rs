//! Shards and merge (SPEC 10): `cpor run --shard I/N` for every I, then `cpor merge`, must give the
//! unsharded run's ledger, reports and rejects byte for byte, and its summary.json but for `timings`
//! and `shards` — on every fixture folder and on a generated dataset, in CSV and Parquet output. And
//! `cpor merge` must refuse any set that is not the N shards of one run, touching nothing.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::*;

/// The shard counts every case is split into.
const COUNTS: [u32; 4] = [1, 2, 3, 7];

fn with(args: &[String], extra: &[&str]) -> Vec<String> {
    let mut all = args.to_vec();
    all.extend(extra.iter().map(|a| a.to_string()));
    all
}

/// `args` (a `cpor run` with `--out`) run as shard `index` of `count` into `out`.
fn run_shard(args: &[String], index: u32, count: u32, out: &Path) -> Output {
    let mut args = with(args, &["--shard", &format!("{index}/{count}")]);
    set_arg(&mut args, "--out", out.display());
    run_ok(&args)
}

fn merge(shards: &[PathBuf], out: &Path) -> Output {
    cpor()
        .arg("merge")
        .args(shards)
        .args(["--out".as_ref(), out.as_os_str(), "--quiet".as_ref()])
        .output()
        .expect("cpor merge runs")
}

/// summary.json without what may differ between one run and merged shards.
fn summary_but_timings(out: &Path) -> Value {
    let mut summary = summary(out);
    let object = summary.as_object_mut().expect("an object");
    object.remove("timings");
    object.remove("shards");
    summary
}

/// Every difference between an unsharded output and a merged one.
fn differences(one: &Path, merged: &Path) -> Vec<String> {
    let (a, b) = (outputs_without_summary(one), outputs_without_summary(merged));
    let mut problems: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|name| a.get(*name) != b.get(*name))
        .map(|name| format!("{name} differs"))
        .collect();
    problems.dedup();
    let (x, y) = (summary_but_timings(one), summary_but_timings(merged));
    if x != y {
        problems.push(format!("summary.json differs:\n{x:#}\n{y:#}"));
    }
    if summary(merged)["shards"].as_array().map(Vec::len).unwrap_or(0) == 0 {
        problems.push("the merged summary.json lists no shards".into());
    }
    problems
}

/// Runs `args` unsharded and as N shards for every N of [`COUNTS`] in each output format; returns the
/// differences, each named by its case.
fn sharded_differences(args: &[String], root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for format in ["csv", "parquet"] {
        let args = with(args, &["--format", format]);
        let one = root.join(format!("one-{format}"));
        let mut unsharded = args.clone();
        set_arg(&mut unsharded, "--out", one.display());
        run_ok(&unsharded);
        for count in COUNTS {
            let shards: Vec<PathBuf> = (0..count).map(|i| root.join(format!("{format}-{count}-{i}"))).collect();
            for (index, dir) in shards.iter().enumerate() {
                run_shard(&args, index as u32, count, dir);
            }
            let merged = root.join(format!("merged-{format}-{count}"));
            // Given in reverse: the order of the directories does not matter.
            let reversed: Vec<PathBuf> = shards.iter().rev().cloned().collect();
            let output = merge(&reversed, &merged);
            if !output.status.success() {
                problems.push(format!("[{format}, {count}] merge failed: {}", String::from_utf8_lossy(&output.stderr)));
                continue;
            }
            problems.extend(differences(&one, &merged).into_iter().map(|p| format!("[{format}, {count} shards] {p}")));
        }
    }
    problems
}

#[test]
fn every_fixture_in_shards_merges_into_the_unsharded_output() {
    let fixtures = fixtures();
    assert!(fixtures.len() >= 10, "the fixture folders");
    let problems: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = fixtures
            .iter()
            .map(|fixture| {
                scope.spawn(move || {
                    let temp = tempfile::tempdir().expect("temp dir");
                    let args = fixture_args(fixture, &fixture.join("input"), "csv", &temp.path().join("out"));
                    let name = fixture.file_name().expect("a name").to_string_lossy().into_owned();
                    sharded_differences(&args, temp.path())
                        .into_iter()
                        .map(|p| format!("{name}: {p}"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("no panic")).collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The generated dataset's run arguments, with inputs of `ext` and output into `out`.
fn generated_args(data: &Path, ext: &str, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage"] {
        args.extend([format!("--{name}"), data.join(format!("{name}.{ext}")).display().to_string()]);
    }
    args.extend(["--holidays".into(), data.join("holidays.csv").display().to_string()]);
    args.extend(["--as-of".into(), cpor::generate::GENERATED_AS_OF.into(), "--quiet".into()]);
    args.extend(["--out".into(), out.display().to_string()]);
    args
}

/// A temporary directory in memory where there is one: the medium case writes about two million
/// report files, which a disk takes minutes to create and delete.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    match shm.is_dir() {
        true => tempfile::tempdir_in(shm).unwrap_or_else(|_| tempfile::tempdir().expect("temp dir")),
        false => tempfile::tempdir().expect("temp dir"),
    }
}

#[test]
fn a_generated_medium_dataset_in_shards_merges_into_the_unsharded_output() {
    let temp = scratch();
    let data = temp.path().join("data");
    run_ok(&with(
        &["generate".to_string()],
        &["--profile", "medium", "--format", "parquet", "--out", &data.display().to_string()],
    ));
    let args = generated_args(&data, "parquet", &temp.path().join("out"));
    let problems = sharded_differences(&args, temp.path());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let one = summary(&temp.path().join("one-csv"));
    assert!(one["inputs"]["usage"]["records"].as_u64().expect("records") > 4_000_000);
    assert!(one["reports"]["files"].as_u64().expect("files") > 50_000);
}

/// FNV-1a 64, written here apart from cpor's own (src/shard.rs), over the tenant_id's text.
fn shard_of(tenant: &str, count: u64) -> u64 {
    let hash = tenant
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    hash % count
}

/// Each shard holds its own tenants only, every usage row is counted in exactly one shard, and the
/// claims' and responses' rejects are shard 0's.
#[test]
fn a_shard_holds_only_its_tenants() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let args = fixture_args(&fixture, &fixture.join("input"), "csv", &temp.path().join("out"));
    let mut unsharded = args.clone();
    set_arg(&mut unsharded, "--out", temp.path().join("one").display());
    run_ok(&unsharded);
    let total = summary(&temp.path().join("one"))["inputs"]["usage"]["records"].as_u64().expect("records");
    let mut usage_records = 0;
    let mut invalid_tenants = 0;
    for index in 0..3u32 {
        let dir = temp.path().join(format!("shard-{index}"));
        run_shard(&args, index, 3, &dir);
        let ledger = read_csv(&dir.join("ledger.csv"));
        for row in &ledger[1..] {
            assert_eq!(shard_of(&row[2], 3), index as u64, "claim {} of tenant {} in shard {index}", row[0], row[2]);
        }
        for report in report_tree(&dir).keys() {
            let rows = read_csv(&dir.join("reports").join(report));
            assert!(rows[1..].iter().all(|r| shard_of(&r[2], 3) == index as u64), "{report} in shard {index}");
        }
        let summary = summary(&dir);
        assert_eq!(summary["shard"]["index"], index);
        assert_eq!(summary["shard"]["count"], 3);
        usage_records += summary["inputs"]["usage"]["records"].as_u64().expect("records");
        let rejects = read_csv(&dir.join("rejects.csv"));
        let shared = rejects[1..].iter().filter(|r| r[0] != "usage").count();
        assert_eq!(shared > 0, index == 0, "claims' and responses' rejects are shard 0's only");
        // A rejected usage row is its tenant's shard's, or shard 0's when its tenant_id is not valid.
        for reject in rejects[1..].iter().filter(|r| r[0] == "usage") {
            let raw: serde_json::Value = serde_json::from_str(&reject[5]).expect("raw is JSON");
            let tenant = raw["tenant_id"].as_str().unwrap_or_default();
            let valid = cpor::types::Uuid::parse(tenant).is_some();
            let owner = if valid { shard_of(tenant, 3) } else { 0 };
            assert_eq!(owner, index as u64, "usage record {} ({}) in shard {index}", reject[2], reject[3]);
            invalid_tenants += u64::from(!valid);
        }
    }
    assert!(invalid_tenants > 0, "the fixture has usage rows without a valid tenant_id");
    assert_eq!(usage_records, total, "every usage row is in exactly one shard");
}

#[test]
fn shard_is_also_a_config_key() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let args = fixture_args(&fixture, &fixture.join("input"), "csv", &temp.path().join("flag"));
    run_shard(&args, 1, 3, &temp.path().join("flag"));
    let config = temp.path().join("cpor.toml");
    std::fs::write(&config, "shard = \"1/3\"\n").expect("write");
    let mut from_config = with(&args, &["--config", &config.display().to_string()]);
    set_arg(&mut from_config, "--out", temp.path().join("config").display());
    run_ok(&from_config);
    assert!(outputs_without_summary(&temp.path().join("flag")) == outputs_without_summary(&temp.path().join("config")));
    assert_eq!(summary(&temp.path().join("config"))["shard"]["index"], 1);
    for bad in ["3/3", "1", "-1/2", "a/b"] {
        let output = cpor().args(with(&args, &["--shard", bad])).output().expect("runs");
        assert_eq!(output.status.code(), Some(2), "--shard {bad}");
    }
}

/// `--previous` in every shard, merged, gives the unsharded run's changes.csv; and the merged output
/// serves as `--previous` of the next run like the unsharded one.
#[test]
fn previous_works_with_shards() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let mut first = fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("first"));
    // A week earlier: claims change status since.
    set_arg(&mut first, "--as-of", "2026-11-16T06:00:00Z");
    run_ok(&first);
    let args = with(
        &fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("one")),
        &["--previous", &root.join("first").display().to_string()],
    );
    run_ok(&args);
    let changes = read_csv(&root.join("one/changes.csv"));
    assert!(changes.len() > 3, "the week changes some claims: {changes:?}");
    let shards: Vec<PathBuf> = (0..3).map(|i| root.join(format!("shard-{i}"))).collect();
    for (index, dir) in shards.iter().enumerate() {
        run_shard(&args, index as u32, 3, dir);
    }
    let output = merge(&shards, &root.join("merged"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let problems = differences(&root.join("one"), &root.join("merged"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The merged output as the previous run of the next one.
    for previous in ["one", "merged"] {
        let mut next = fixture_args(&fixture, &fixture.join("input"), "csv", &root.join(format!("next-{previous}")));
        set_arg(&mut next, "--as-of", "2026-12-01T06:00:00Z");
        run_ok(&with(&next, &["--previous", &root.join(previous).display().to_string()]));
    }
    assert_eq!(
        std::fs::read(root.join("next-one/changes.csv")).ok(),
        std::fs::read(root.join("next-merged/changes.csv")).ok()
    );
    // A shard's output is not a whole run: its other shards' claims would all be "new".
    let mut next = fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("next-shard"));
    set_arg(&mut next, "--as-of", "2026-12-01T06:00:00Z");
    let output = cpor().args(with(&next, &["--previous", &shards[1].display().to_string()])).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("shard 1 of 3") && error_lines(&stderr) == 1, "{stderr}");
    assert!(!root.join("next-shard").exists());
    // Shard 0 of 1 holds every claim: a whole run's output.
    let whole = root.join("shard-0-of-1");
    run_shard(&args, 0, 1, &whole);
    run_ok(&with(&next, &["--previous", &whole.display().to_string()]));
}

/// A shard never exits 3 (its rates are of its own rows); the merge exits 3 as the unsharded run does.
#[test]
fn merge_exits_with_the_runs_reject_rate_code() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let args = with(
        &fixture_args(&fixture, &fixture.join("input"), "csv", &temp.path().join("one")),
        &["--max-reject-rate", "0.05"],
    );
    assert_eq!(cpor().args(&args).output().expect("runs").status.code(), Some(3));
    let shards: Vec<PathBuf> = (0..2).map(|i| temp.path().join(format!("shard-{i}"))).collect();
    for (index, dir) in shards.iter().enumerate() {
        run_shard(&args, index as u32, 2, dir);
    }
    let output = merge(&shards, &temp.path().join("merged"));
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stdout).contains("reject rate above 0.05 for: claims"));
    assert!(differences(&temp.path().join("one"), &temp.path().join("merged")).is_empty());
}

/// Every refused set: exit 1, one line on stderr naming what is wrong, the output untouched.
#[test]
fn merge_refuses_an_incomplete_or_mixed_set() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let args = fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("out"));
    let shard = |name: &str, index: u32, count: u32, args: &[String]| {
        let dir = root.join(name);
        run_shard(args, index, count, &dir);
        dir
    };
    let (s0, s1, s2) = (shard("s0", 0, 3, &args), shard("s1", 1, 3, &args), shard("s2", 2, 3, &args));
    let of_two = shard("two-1", 1, 2, &args);
    let mut later = args.clone();
    set_arg(&mut later, "--as-of", "2026-12-01T06:00:00Z");
    let later_1 = shard("later-1", 1, 3, &later);
    // Shard 1 over a usage file with one more row: another input, another sha256.
    let usage = root.join("usage.csv");
    let mut text = std::fs::read_to_string(fixture.join("input/usage.csv")).expect("usage");
    text.push_str(&text.lines().nth(1).expect("a row").replace(",2026-", ",2025-"));
    text.push('\n');
    std::fs::write(&usage, text).expect("write");
    let mut other_usage = args.clone();
    set_arg(&mut other_usage, "--usage", usage.display());
    let other_1 = shard("other-1", 1, 3, &other_usage);
    let mut parquet = with(&args, &["--format", "parquet"]);
    set_arg(&mut parquet, "--out", root.join("unused").display());
    let parquet_1 = shard("parquet-1", 1, 3, &parquet);
    let plain = root.join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    std::fs::write(plain.join("ledger.csv"), "claim_id\n").expect("write");
    let mut unsharded = args.clone();
    set_arg(&mut unsharded, "--out", root.join("unsharded").display());
    run_ok(&unsharded);

    let out = root.join("merged");
    let output = merge(&[s0.clone(), s1.clone(), s2.clone()], &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let before = tree(&out);
    let cases: Vec<(&str, Vec<PathBuf>, &str)> = vec![
        ("a missing shard", vec![s0.clone(), s2.clone()], "shard 1/3 missing"),
        ("a repeated shard", vec![s0.clone(), s1.clone(), s1.clone(), s2.clone()], "given twice"),
        ("a shard of another count", vec![s0.clone(), of_two, s2.clone()], "shards of different runs"),
        ("another as-of", vec![s0.clone(), later_1, s2.clone()], "as_of"),
        ("other inputs", vec![s0.clone(), other_1, s2.clone()], "inputs.usage.files[0]"),
        ("another format", vec![s0.clone(), parquet_1, s2.clone()], "format"),
        ("not a cpor output", vec![s0.clone(), s1.clone(), s2.clone(), plain], "not an output of cpor run"),
        ("an unsharded output", vec![root.join("unsharded")], "unsharded"),
        ("a missing directory", vec![s0.clone(), root.join("nowhere"), s2.clone()], "no such directory"),
        ("a file", vec![s0.clone(), usage.clone(), s2.clone()], "not a directory"),
    ];
    for (case, dirs, expected) in cases {
        let output = merge(&dirs, &out);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{case}: {stderr}");
        assert_eq!(error_lines(&stderr), 1, "{case}: one line: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr} should say {expected:?}");
        assert!(tree(&out) == before, "{case}: the output changed");
    }
    // The merge read the shards and changed none of them.
    let output = merge(&[s0, s1, s2], &root.join("again"));
    assert!(output.status.success());
    assert!(outputs_without_summary(&out) == outputs_without_summary(&root.join("again")));
}

/// A copy of `dir` at `to` (`cp -a`: links and modes kept).
fn copy_dir(dir: &Path, to: &Path) -> PathBuf {
    let status = std::process::Command::new("cp").arg("-a").arg(dir).arg(to).status().expect("cp runs");
    assert!(status.success(), "cp -a {} {}", dir.display(), to.display());
    to.to_path_buf()
}

/// Shards damaged after they were written (copied in part, a file added), shards judged by another
/// calendar at the same path, and an output inside a shard: each refused in one line, the output and
/// the shards untouched.
#[test]
fn merge_refuses_damaged_shards_other_holidays_and_an_out_inside_a_shard() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let holidays = root.join("holidays.csv");
    std::fs::copy(fixture.join("input/holidays.csv"), &holidays).expect("copy");
    let mut args = fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("out"));
    set_arg(&mut args, "--holidays", holidays.display());
    let shard = |name: &str, index: u32| {
        let dir = root.join(name);
        run_shard(&args, index, 2, &dir);
        dir
    };
    let (s0, s1) = (shard("s0", 0), shard("s1", 1));
    let reports: Vec<String> =
        tree(&s1).into_keys().filter(|name| name.starts_with("reports/") && !name.ends_with("manifest.csv")).collect();
    let first_report = reports.first().expect("shard 1 has a report").clone();
    let missing = copy_dir(&s1, &root.join("missing"));
    std::fs::remove_file(missing.join(&first_report)).expect("rm");
    let stray = copy_dir(&s1, &root.join("stray"));
    let partner_dir = Path::new(&first_report).parent().expect("a partner's folder");
    std::fs::write(stray.join(partner_dir).join("C999.csv"), "claim_id\n").expect("write");
    let cut = copy_dir(&s1, &root.join("cut"));
    let ledger = std::fs::read_to_string(cut.join("ledger.csv")).expect("ledger");
    let kept: Vec<&str> = ledger.lines().take(2).collect();
    std::fs::write(cut.join("ledger.csv"), kept.join("\n") + "\n").expect("write");
    // Edited in place since the run, each file's size kept or its counts unchecked before.
    let edit = |from: &Path, name: &str, file: &str, from_text: &str, to_text: &str| {
        let dir = copy_dir(from, &root.join(name));
        let text = std::fs::read_to_string(dir.join(file)).expect("read");
        let edited = text.replacen(from_text, to_text, 1);
        assert_ne!(edited, text, "{name}: {from_text:?} in {file}");
        std::fs::write(dir.join(file), edited).expect("write");
        dir
    };
    let retyped = edit(&s1, "retyped", &first_report, "claim_id", "claim_iD");
    let manifest = std::fs::read_to_string(s1.join("reports/manifest.csv")).expect("manifest");
    let first_line = manifest.lines().nth(1).expect("a manifest line");
    let partner = first_line.split(',').next().expect("a partner");
    let relabelled = edit(&s1, "relabelled", "reports/manifest.csv", &format!("\n{partner},"), "\n4000077,");
    let holds = |s: &Path, text: &str| std::fs::read_to_string(s.join("ledger.csv")).expect("ledger").contains(text);
    let contested = [&s0, &s1].into_iter().find(|s| holds(s, ",contested,"));
    let (contested, index) = (contested.expect("a contested claim"), if contested == Some(&s0) { 0 } else { 1 });
    let restatused = edit(contested, "restatused", "ledger.csv", ",contested,", ",duplicate,");
    let restatused = if index == 0 { vec![restatused, s1.clone()] } else { vec![s0.clone(), restatused] };
    let rereasoned = edit(&s0, "rereasoned", "rejects.csv", ",invalid_id,", ",invalid_uuid,");
    // Shard 1 again, after a holiday in the file at the same path moved by a year: as many rows.
    let text = std::fs::read_to_string(&holidays).expect("holidays");
    let (header, rows) = text.split_once('\n').expect("a header");
    let moved = rows.replacen("2026-", "2027-", 1);
    assert_ne!(moved, rows);
    std::fs::write(&holidays, format!("{header}\n{moved}")).expect("write");
    let recalendared = shard("recalendared", 1);

    let out = root.join("merged");
    let output = merge(&[s0.clone(), s1.clone()], &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let before = tree(&out);
    let shards_before = [tree(&s0), tree(&s1)];
    let cases: Vec<(&str, Vec<PathBuf>, PathBuf, String)> = vec![
        (
            "a report file missing",
            vec![s0.clone(), missing],
            out.clone(),
            format!("{first_report} is in a shard's manifest"),
        ),
        ("a file added", vec![s0.clone(), stray], out.clone(), "C999.csv is in no manifest".into()),
        ("a ledger cut short", vec![s0.clone(), cut], out.clone(), "which no ledger holds".into()),
        (
            "a report edited, its size kept",
            vec![s0.clone(), retyped],
            out.clone(),
            format!("{first_report} has SHA-256"),
        ),
        (
            "a manifest line moved to another partner",
            vec![s0.clone(), relabelled],
            out.clone(),
            "names partner 4000077".into(),
        ),
        ("a ledger status edited", restatused, out.clone(), "claims by status contested".into()),
        (
            "a reject's reason edited",
            vec![rereasoned, s1.clone()],
            out.clone(),
            "rejects by reason invalid_id 1".into(),
        ),
        ("another calendar", vec![s0.clone(), recalendared], out.clone(), "holidays_sha256".into()),
        ("out inside a shard", vec![s0.clone(), s1.clone()], s1.join("reports/merged"), "inside shard 1".into()),
        ("out inside a shard's folder", vec![s0.clone(), s1.clone()], s0.join("merged"), "inside shard 0".into()),
    ];
    for (case, dirs, target, expected) in cases {
        let output = merge(&dirs, &target);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{case}: {stderr}");
        assert_eq!(error_lines(&stderr), 1, "{case}: one line: {stderr}");
        assert!(stderr.contains(&expected), "{case}: {stderr} should say {expected:?}");
        assert!(tree(&out) == before, "{case}: the output changed");
        assert!([tree(&s0), tree(&s1)] == shards_before, "{case}: a shard changed");
        assert!(!target.exists() || target == out, "{case}: {} was made", target.display());
    }
    // A copy that did not keep modification times: every report newer than its run, each hashed
    // against its manifest line, and the same merge.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let recopied = root.join("recopied");
    let status = std::process::Command::new("cp").arg("-r").arg(&s1).arg(&recopied).status().expect("cp runs");
    assert!(status.success());
    let again = root.join("again");
    let output = merge(&[s0.clone(), recopied], &again);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(report_tree(&again) == report_tree(&out), "the same reports");
}

/// A shard a run is writing is not merged: the merge names the run's pid. A shard another merge
/// reads is merged: merges hold shards shared.
#[test]
fn merge_refuses_a_shard_a_run_is_writing() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let args = fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("out"));
    let shards: Vec<PathBuf> = (0..2).map(|i| root.join(format!("s{i}"))).collect();
    for (index, dir) in shards.iter().enumerate() {
        run_shard(&args, index as u32, 2, dir);
    }
    // The lock a run into s1 holds while it writes (`output::reserve`), with its pid.
    let lock = std::fs::OpenOptions::new().read(true).write(true).open(root.join(".s1.lock")).expect("s1's lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).expect("locked");
    std::fs::write(root.join(".s1.lock"), "4242\n").expect("pid");
    let out = root.join("merged");
    let output = merge(&shards, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pid 4242") && stderr.contains("s1") && error_lines(&stderr) == 1, "{stderr}");
    assert!(!out.exists());
    // Also when s1 is given through a link to it: the run locked it under its own name.
    let link = root.join("s1-link");
    std::os::unix::fs::symlink(&shards[1], &link).expect("symlink");
    let output = merge(&[shards[0].clone(), link], &out);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("pid 4242"));
    // Another merge reading s1 holds it shared: both read.
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockShared).expect("shared");
    let output = merge(&shards, &out);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The warnings the shards gave (an input file without rows) are the merge's on stderr too.
#[test]
fn merge_gives_the_shards_warnings_on_stderr() {
    let fixture = repo().join("fixtures/example_small");
    let temp = tempfile::tempdir().expect("temp dir");
    let root = temp.path();
    let empty = root.join("empty.csv");
    let header = std::fs::read_to_string(fixture.join("input/usage.csv")).expect("usage");
    std::fs::write(&empty, format!("{}\n", header.lines().next().expect("a header"))).expect("write");
    let args = with(
        &fixture_args(&fixture, &fixture.join("input"), "csv", &root.join("out")),
        &["--usage", &empty.display().to_string()],
    );
    let shards: Vec<PathBuf> = (0..2).map(|i| root.join(format!("s{i}"))).collect();
    for (index, dir) in shards.iter().enumerate() {
        run_shard(&args, index as u32, 2, dir);
    }
    let output = merge(&shards, &root.join("merged"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cpor: warning: usage file") && stderr.contains("empty.csv"), "{stderr}");
}
