//! The Dask driver, `deploy/dask/run.py` (SPEC 10): on a LocalCluster of 2 worker processes, the 3
//! shards of a fixture, merged, equal the unsharded run; a shard that fails once is retried and the
//! result is the same; a shard that fails twice stops the driver with exit 1, naming it, before the
//! merge.
//!
//! The driver needs `python3` with `dask.distributed`, which `.ci/run` installs. Without `python3`
//! the tests skip, saying so on stderr; without Dask they skip too, except on CI (`CI` set), where
//! they fail: there a missing Dask means the install went wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::*;

/// Whether `python3` can import `dask.distributed`; when it cannot, says why on stderr (the test
/// then skips) — or fails on CI.
fn dask_available() -> bool {
    let probe = Command::new("python3").args(["-c", "import dask.distributed"]).output();
    let why = match probe {
        Err(e) => {
            skipped(&format!("no python3 to run deploy/dask/run.py ({e})"));
            return false;
        }
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().lines().last().unwrap_or("").to_string(),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set, but python3 cannot import dask.distributed (.ci/run installs it): {why}"
    );
    skipped(&format!("python3 cannot import dask.distributed (pip install \"dask[distributed]\"): {why}"));
    false
}

/// Says on the process's stderr itself, past the test harness's capture (which would show it only
/// for a failed test), why a test is skipped: a skip is never silent.
fn skipped(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}

fn example() -> PathBuf {
    repo().join("fixtures/example_small")
}

/// Runs the driver: `--workers 2 --shards N -- <run args>`, with `cpor_bin` as `$CPOR_BIN` and the
/// test hook's variable set only when `fail_once` names a shard.
fn driver(cpor_bin: &Path, shards: usize, run_args: &[String], fail_once: Option<usize>) -> Output {
    let mut command = Command::new("python3");
    command
        .arg(repo().join("deploy/dask/run.py"))
        .args(["--workers", "2", "--shards", &shards.to_string(), "--"])
        .args(run_args)
        .env("CPOR_BIN", cpor_bin)
        .env_remove("CPOR_DASK_FAIL_ONCE")
        .current_dir(repo());
    if let Some(index) = fail_once {
        command.env("CPOR_DASK_FAIL_ONCE", index.to_string());
    }
    command.output().expect("python3 runs")
}

fn cpor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cpor"))
}

/// summary.json without what SPEC 10 lets a merged run differ in: `timings` and `shards`.
fn comparable_summary(out: &Path) -> Value {
    let mut summary = summary(out);
    let object = summary.as_object_mut().expect("summary.json is an object");
    object.remove("timings");
    object.remove("shards");
    summary
}

/// The driver's 3 shards of example_small, merged, against one unsharded run of the same arguments.
fn sharded_equals_unsharded(fail_once: Option<usize>) -> String {
    let temp = tempfile::tempdir().expect("temp dir");
    let (merged, single) = (temp.path().join("merged"), temp.path().join("single"));
    let args = fixture_args(&example(), &example().join("input"), "csv", &merged);
    let output = driver(&cpor_bin(), 3, &args, fail_once);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "the driver failed:\n{stderr}");
    for index in 0..3 {
        assert!(stderr.contains(&format!("shard {index}/3 done in ")), "no progress for shard {index}:\n{stderr}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.lines().last().unwrap_or("").starts_with("done in"), "the merge's summary on stdout: {stdout}");

    run_ok(&fixture_args(&example(), &example().join("input"), "csv", &single));
    let (got, want) = (outputs_without_summary(&merged), outputs_without_summary(&single));
    assert!(want.len() > 3, "example_small writes a ledger, rejects and reports");
    let names = |files: &std::collections::BTreeMap<String, Vec<u8>>| files.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "the merged run's files");
    for (name, bytes) in &want {
        assert!(&got[name] == bytes, "{name} differs from the unsharded run's");
    }
    assert_eq!(comparable_summary(&merged), comparable_summary(&single), "summary.json but timings and shards");
    assert!(!temp.path().join("merged.shards").exists(), "the shard directories are removed after the merge");
    stderr
}

#[test]
fn dask_shards_merged_equal_the_unsharded_run() {
    if !dask_available() {
        return;
    }
    let stderr = sharded_equals_unsharded(None);
    assert!(!stderr.contains("failed"), "{stderr}");
}

#[test]
fn dask_retries_a_shard_that_fails_once() {
    if !dask_available() {
        return;
    }
    let stderr = sharded_equals_unsharded(Some(1));
    assert!(stderr.contains("shard 1/3 failed (attempt 1): "), "{stderr}");
    assert!(stderr.contains("; retrying"), "{stderr}");
    assert!(!stderr.contains("(attempt 2)"), "{stderr}");
}

/// A stand-in for cpor that fails every run of shard 1 as cpor fails (one `cpor: ...` line after a
/// warning, exit 1) and runs the real binary otherwise.
#[cfg(unix)]
fn always_failing_shard_one(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("cpor-failing-shard-1");
    let text = format!(
        "#!/bin/sh\ncase \" $* \" in *\" --shard 1/\"*)\n  echo 'cpor: warning: before the error' >&2\n  \
         echo 'cpor: cannot read usage file /nowhere/usage.csv: shard one always fails' >&2\n  exit 1;;\nesac\n\
         exec '{}' \"$@\"\n",
        cpor_bin().display()
    );
    std::fs::write(&script, text).expect("write the stand-in");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[cfg(unix)]
#[test]
fn dask_stops_before_the_merge_when_a_shard_fails_twice() {
    if !dask_available() {
        return;
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let args = fixture_args(&example(), &example().join("input"), "csv", &out);
    let output = driver(&always_failing_shard_one(temp.path()), 3, &args, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let error = "cpor: cannot read usage file /nowhere/usage.csv: shard one always fails";
    assert!(stderr.contains(&format!("shard 1/3 failed (attempt 1): {error}; retrying")), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or("");
    assert!(last.contains("shard 1/3") && last.ends_with(error), "the last line names the shard and its error: {last}");
    assert!(!out.exists(), "the merge is not run");
}
