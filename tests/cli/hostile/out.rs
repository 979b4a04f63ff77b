//! Hostile `--out` (SPEC 6, "cpor replaces only what it wrote"): a file, a directory of someone
//! else's, the inputs' directory, the current directory; two runs into one directory; staging left
//! by a killed run. A refusal is exit 1, one line naming the directory, and nothing touched.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use crate::util::*;

fn example() -> PathBuf {
    repo().join("fixtures/example_small")
}

fn example_run(out: &Path) -> Vec<String> {
    fixture_args(&example(), &example().join("input"), "csv", out)
}

/// The names in `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A refusal: exit 1, one line on stderr saying so and naming `out` and `why`.
fn assert_refused(output: &Output, out: &str, why: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refusing") && stderr.contains(out) && stderr.contains(why), "{stderr}");
}

#[test]
fn a_precious_file_as_out_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let f = temp.path().join("f");
    std::fs::write(&f, "precious\n").expect("write");
    let output = cpor().args(example_run(&f)).output().expect("runs");
    assert_refused(&output, &f.display().to_string(), "not a directory");
    assert_eq!(std::fs::read(&f).expect("still there"), b"precious\n");
    assert_eq!(names(temp.path()), set(&["f"]), "nothing else beside it, not even a lock file");
}

#[test]
fn a_directory_with_a_foreign_file_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("summary.json"), "{}").expect("write");
    std::fs::write(out.join("notes.txt"), "precious\n").expect("write");
    let before = tree(&out);
    let output = cpor().args(example_run(&out)).output().expect("runs");
    assert_refused(&output, &out.display().to_string(), "notes.txt");
    assert!(tree(&out) == before, "the directory changed");
    assert_eq!(names(temp.path()), set(&["out"]));
}

#[test]
fn the_directory_holding_the_inputs_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = temp.path().join("input");
    std::fs::create_dir(&input).expect("mkdir");
    for entry in std::fs::read_dir(example().join("input")).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, input.join(path.file_name().expect("named"))).expect("copy");
    }
    let before = tree(&input);
    let output = cpor().args(fixture_args(&example(), &input, "csv", &input)).output().expect("runs");
    assert_refused(&output, &input.display().to_string(), "holds the input");
    assert!(tree(&input) == before, "the inputs changed");
    assert_eq!(names(temp.path()), set(&["input"]));
}

/// Even an earlier output of cpor's is refused when an input lies in it: here the config file.
#[test]
fn an_earlier_output_holding_the_config_file_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    run_ok(&example_run(&out));
    let config = out.join("nightly.toml");
    std::fs::copy(repo().join("cpor.example.toml"), &config).expect("copy");
    let before = tree(&out);
    let args = ["run", "--as-of", "2026-11-23T06:00:00Z", "--config"];
    let output = cpor().args(args).arg(&config).arg("--out").arg(&out).output().expect("runs");
    assert_refused(&output, &out.display().to_string(), "holds the input");
    assert!(tree(&out) == before, "the output changed");
}

#[test]
fn the_current_directory_through_its_parent_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let work = temp.path().join("repo");
    std::fs::create_dir_all(work.join("src")).expect("mkdir");
    std::fs::write(work.join("Cargo.toml"), "precious\n").expect("write");
    std::fs::write(work.join("src/main.rs"), "fn main() {}\n").expect("write");
    let before = tree(&work);
    let output = cpor().current_dir(&work).args(example_run(Path::new("../repo"))).output().expect("runs");
    assert_refused(&output, "../repo", "current directory");
    assert!(tree(&work) == before, "the current directory changed");
    assert_eq!(names(temp.path()), set(&["repo"]));
}

#[test]
fn validate_onto_a_foreign_file_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let f = temp.path().join("f");
    std::fs::write(&f, "precious\n").expect("write");
    let mut args = example_run(&f);
    args[0] = "validate".into();
    let output = cpor().args(&args).output().expect("runs");
    assert_refused(&output, &f.display().to_string(), "not a directory");
    assert_eq!(std::fs::read(&f).expect("still there"), b"precious\n");
    assert_eq!(names(temp.path()), set(&["f"]));
}

#[test]
fn generate_into_a_foreign_directory_is_refused_and_into_its_own_output_not() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("gen");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("notes.txt"), "precious\n").expect("write");
    let generate = |dir: &Path| {
        let args = ["generate", "--tenants", "3", "--days", "2", "--out"];
        cpor().args(args).arg(dir).output().expect("runs")
    };
    let output = generate(&dir);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("notes.txt"));
    assert_eq!(names(&dir), set(&["notes.txt"]));

    let fresh = temp.path().join("fresh");
    for _ in 0..2 {
        let output = generate(&fresh);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert!(names(&fresh).contains(".cpor-output") && names(&fresh).contains("claims.csv"));
    // A run's output is not a generated dataset's to replace, nor the other way round.
    assert_eq!(cpor().args(example_run(&fresh)).output().expect("runs").status.code(), Some(1));
    assert!(names(&fresh).contains("claims.csv"));
}

/// Waits for `child` up to a minute; kills it and fails beyond.
fn wait_for(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("waits") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cpor did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first run is held up reading a FIFO after it took the lock: its claims, which it reads once.
#[test]
fn a_second_run_into_the_same_out_stops_naming_the_first() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let fifo = temp.path().join("claims.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());

    let mut args = example_run(&out);
    set_arg(&mut args, "--claims", fifo.display());
    let mut first = cpor().args(&args).stdout(std::process::Stdio::null()).spawn().expect("first run starts");
    let lock = temp.path().join(".out.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string() {
        assert!(first.try_wait().expect("waits").is_none(), "the first run ended early");
        if Instant::now() > deadline {
            let _ = first.kill();
            panic!("the first run never took the lock");
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let second = cpor().args(example_run(&out)).output().expect("second run");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.id())) && stderr.contains("another cpor run"), "{stderr}");

    // Opening the FIFO waits for the first run to open it; a thread, so that a run that died
    // meanwhile fails the test rather than hanging it.
    let claims = std::fs::read(example().join("input/claims.csv")).expect("claims");
    let feeder = std::thread::spawn(move || {
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).expect("FIFO opens");
        writer.write_all(&claims).expect("written");
    });
    let status = wait_for(&mut first);
    assert!(status.success(), "the first run: {status}");
    feeder.join().expect("fed");
    let expected = temp.path().join("expected");
    run_ok(&example_run(&expected));
    // The first run's result stands (rejects name the claims file as given, so are left out).
    assert!(std::fs::read(out.join("ledger.csv")).ok() == std::fs::read(expected.join("ledger.csv")).ok());
    assert!(report_tree(&out) == report_tree(&expected));
    assert_eq!(names(temp.path()), set(&["out", "claims.csv", "expected", ".out.lock", ".expected.lock"]));
}

#[test]
fn staging_of_a_killed_run_is_removed_by_the_next() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let stale = temp.path().join(".out.staging-99999");
    std::fs::create_dir_all(stale.join("reports/P1")).expect("mkdir");
    std::fs::write(stale.join("reports/P1/C1.csv"), "half a report").expect("write");
    run_ok(&example_run(&out));
    assert_eq!(names(temp.path()), set(&["out", ".out.lock"]));
}

#[test]
fn a_rerun_replaces_an_earlier_output_marked_as_cpors_and_nothing_else() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    run_ok(&example_run(&out));
    let marker = std::fs::read_to_string(out.join(".cpor-output")).expect("marked as cpor's");
    assert!(marker.starts_with("cpor run output"), "{marker}");
    let first = outputs_without_summary(&out);
    run_ok(&example_run(&out));
    assert!(outputs_without_summary(&out) == first);

    // Without the marker, names cpor writes are not enough: a user's own summary.json and ledger.csv
    // look the same. Refused, untouched.
    std::fs::remove_file(out.join(".cpor-output")).expect("unmarked");
    let before = tree(&out);
    let output = cpor().args(example_run(&out)).output().expect("runs");
    assert_refused(&output, &out.display().to_string(), "holds no .cpor-output");
    assert!(tree(&out) == before, "the directory changed");

    // A marked output with files added since: the user's, refused, untouched.
    let marked = temp.path().join("marked");
    run_ok(&example_run(&marked));
    let partner = std::fs::read_dir(marked.join("reports"))
        .expect("reports")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir())
        .expect("a partner's folder");
    let pivot = format!("reports/{}/my_pivot.csv", partner.file_name().expect("named").to_string_lossy());
    for (added, why) in [
        ("notes.txt".to_string(), "holds notes.txt, which cpor did not write".to_string()),
        ("reports/pivot.xlsx".to_string(), "holds reports/pivot.xlsx, which cpor did not write".to_string()),
        // Named as cpor names outputs it did not write here: a CSV run writes no ledger.parquet,
        // a run without --previous no changes.csv (the marker lists what the output holds).
        ("ledger.parquet".to_string(), "holds ledger.parquet, which cpor did not write".to_string()),
        ("changes.csv".to_string(), "holds changes.csv, which cpor did not write".to_string()),
        (
            "reports/manifest.parquet".to_string(),
            "holds reports/manifest.parquet, which cpor did not write".to_string(),
        ),
        // Named like a report: told from one by its partner's manifest, which does not list it.
        (pivot.clone(), format!("holds {pivot}, which its manifest does not list")),
    ] {
        std::fs::write(marked.join(&added), "precious\n").expect("write");
        let before = tree(&marked);
        let output = cpor().args(example_run(&marked)).output().expect("runs");
        assert_refused(&output, &marked.display().to_string(), &why);
        assert!(tree(&marked) == before, "{added}: the directory changed");
        std::fs::remove_file(marked.join(&added)).expect("rm");
    }
    let names_beside = names(temp.path());
    assert!(names_beside.iter().all(|n| !n.contains(".staging-")), "staging removed: {names_beside:?}");
    // A report file moved away (delivered by hand, say): nothing of the user's to lose, replaced.
    let report = std::fs::read_dir(&partner).expect("folder").map(|e| e.expect("entry").path());
    let report = report.into_iter().find(|p| p.file_name().is_some_and(|n| n != "manifest.csv")).expect("a report");
    std::fs::rename(&report, temp.path().join("delivered.csv")).expect("mv");
    run_ok(&example_run(&marked));
    assert!(report.exists(), "the rerun wrote the report again");

    // And the same for validate.
    let validation = temp.path().join("validation");
    let mut args = example_run(&validation);
    args[0] = "validate".into();
    run_ok(&args);
    run_ok(&args);
    assert!(validation.join(".cpor-output").exists());
    std::fs::remove_file(validation.join(".cpor-output")).expect("unmarked");
    let output = cpor().args(&args).output().expect("runs");
    assert_refused(&output, &validation.display().to_string(), "holds no .cpor-output");
}

/// Files added to an earlier output while a run into it reads: found before the swap, the old output
/// untouched. The run is held on a FIFO for its claims until they are added.
#[test]
fn files_added_to_an_earlier_output_during_the_run_stop_it_before_the_swap() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    run_ok(&example_run(&out));
    // An empty partner's folder is no reason to refuse.
    std::fs::create_dir(out.join("reports/NEWP")).expect("mkdir");
    run_ok(&example_run(&out));
    let partner = std::fs::read_dir(out.join("reports"))
        .expect("reports")
        .map(|e| e.expect("entry").path())
        .find(|p| p.is_dir() && p.read_dir().is_ok_and(|mut d| d.next().is_some()))
        .expect("a partner's folder with reports");
    let fifo = temp.path().join("claims.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs").success());
    for added in [partner.join("notes.txt"), out.join("reports/archive/notes.txt")] {
        let mut args = example_run(&out);
        set_arg(&mut args, "--claims", fifo.display());
        let mut command = cpor();
        command.args(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
        let mut run = command.spawn().expect("the run starts");
        // The partners' folders are read as the run starts: the file comes after.
        std::thread::sleep(Duration::from_millis(300));
        std::fs::create_dir_all(added.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&added, "precious\n").expect("write");
        let before = tree(&out);
        std::fs::write(&fifo, std::fs::read(example().join("input/claims.csv")).expect("claims")).expect("fed");
        let status = wait_for(&mut run);
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut run.stderr.take().expect("stderr"), &mut stderr).expect("read");
        assert_eq!(status.code(), Some(1), "{}: {stderr}", added.display());
        assert!(stderr.contains("refusing") && stderr.contains("notes.txt"), "{stderr}");
        assert!(tree(&out) == before, "{}: the output changed", added.display());
        std::fs::remove_dir_all(out.join("reports/archive")).ok();
        std::fs::remove_file(partner.join("notes.txt")).ok();
    }
}
