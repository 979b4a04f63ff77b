//! Hostile input: configuration — flags, `--config`, `--holidays`, the `--previous` ledger — and
//! what `explain` prints. Each case once panicked, hung, ran out of memory or echoed garbage.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Runs a command and fails the test if it is still running after `seconds` (it is killed first).
fn run_within(mut command: Command, seconds: u64) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("cpor starts");
    let began = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if began.elapsed() > Duration::from_secs(seconds) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {seconds} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn example() -> PathBuf {
    repo().join("fixtures/example_small")
}

/// The arguments of a run of the small example into `out`.
fn example_args(out: &Path) -> Vec<String> {
    let fixture = example();
    fixture_args(&fixture, &fixture.join("input"), "csv", out)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fatal error: exit code 1, one line on stderr.
fn assert_fatal_one_line(output: &Output) -> String {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert_eq!(message.trim_end().lines().count(), 1, "one line: {message}");
    message
}

#[test]
fn window_days_above_the_range_is_a_usage_error() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut args = example_args(&temp.path().join("out"));
    set_arg(&mut args, "--window-days", "100000000");
    let output = run_within(
        {
            let mut c = cpor();
            c.args(&args);
            c
        },
        20,
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("from 1 to 3650"), "{}", stderr(&output));

    let config = temp.path().join("c.toml");
    std::fs::write(&config, "window-days = 100000000\n").expect("write");
    let mut c = cpor();
    c.args(["run", "--config"]).arg(&config);
    let output = run_within(c, 20);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("from 1 to 3650"), "{}", stderr(&output));
}

#[test]
fn a_window_past_9999_stays_open_without_a_panic() {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = temp.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let tenant = "3be93fb8-d995-4a62-9b11-96f741b79d35";
    std::fs::write(
        input.join("claims.csv"),
        format!(
            "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n\
             END-1,P1,{tenant},modern_work_security_usage,Teams,,DE,9999-12-29T00:00:00Z,9999-12-30T00:00:00Z\n\
             END-2,P1,{tenant},modern_work_security_usage,Exchange,,DE,9999-12-20T00:00:00Z,9999-12-23T12:00:00Z\n"
        ),
    )
    .expect("write");
    std::fs::write(input.join("responses.csv"), "response_id,claim_id,tenant_id,response,responded_at\n")
        .expect("write");
    std::fs::write(
        input.join("usage.csv"),
        format!("tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n{tenant},Teams,,9999-12-30,1,1,1\n"),
    )
    .expect("write");
    let out = temp.path().join("out");
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage"] {
        args.push(format!("--{name}"));
        args.push(input.join(format!("{name}.csv")).display().to_string());
    }
    args.extend(["--as-of", "9999-12-31T23:59:59Z", "--out", &out.display().to_string(), "--quiet"].map(String::from));
    for window in ["5", "3650"] {
        let mut args = args.clone();
        args.extend(["--window-days".to_string(), window.to_string()]);
        let mut c = cpor();
        c.args(&args);
        let output = run_within(c, 60);
        assert_eq!(output.status.code(), Some(0), "window {window}: {}", stderr(&output));
        let ledger = read_csv(&out.join("ledger.csv"));
        let column = |name: &str| ledger[0].iter().position(|c| c == name).expect("column");
        let end1 = ledger.iter().find(|r| r[0] == "END-1").expect("END-1");
        assert_eq!(end1[column("status")], "pending");
        assert_eq!(end1[column("window_closes_at")], "", "the window does not close within the calendar");
    }
    // With five days, END-2's window closes at the start of 9999-12-31.
    let mut c = cpor();
    c.args(&args).args(["--window-days", "5"]);
    run_within(c, 60);
    let ledger = read_csv(&out.join("ledger.csv"));
    let end2 = ledger.iter().find(|r| r[0] == "END-2").expect("END-2");
    assert!(end2.contains(&"9999-12-31T00:00:00Z".to_string()), "{end2:?}");
    assert!(end2.contains(&"official".to_string()), "{end2:?}");

    // explain agrees with the ledger.
    let mut c = cpor();
    c.args(["explain", "END-1"]).args(&args[1..7]).args(["--as-of", "9999-12-31T23:59:59Z", "--quiet"]);
    let output = run_within(c, 60);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(text.contains("pending") && text.contains("does not close"), "{text}");
}

#[cfg(unix)]
#[test]
fn endless_holidays_and_config_files_are_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let mut args = example_args(&temp.path().join("out"));
    set_arg(&mut args, "--holidays", "/dev/zero");
    let mut c = cpor();
    c.args(&args);
    let message = assert_fatal_one_line(&run_within(c, 30));
    assert!(message.contains("/dev/zero") && message.contains("64 MiB"), "{message}");

    let mut c = cpor();
    c.args(["run", "--config", "/dev/zero", "--out"]).arg(temp.path().join("out2"));
    let message = assert_fatal_one_line(&run_within(c, 30));
    assert!(message.contains("/dev/zero") && message.contains("64 MiB"), "{message}");
}

#[test]
fn holidays_file_faults_name_the_file_and_line() {
    let temp = tempfile::tempdir().expect("temp dir");
    let holidays = temp.path().join("holidays.csv");
    std::fs::write(&holidays, b"date,country,name\n2026-12-25,,Christmas\n2026-12-26,,\xff\n").expect("write");
    let mut args = example_args(&temp.path().join("out"));
    set_arg(&mut args, "--holidays", holidays.display());
    let message = assert_fatal_one_line(&run_ok_or(&args));
    assert!(message.contains("holidays.csv") && message.contains("byte offset 52"), "{message}");
    std::fs::write(&holidays, b"date,country,name\n2026-12-25,,Christmas\n2026-02-30,,Nope\n").expect("write");
    let message = assert_fatal_one_line(&run_ok_or(&args));
    assert!(message.contains("holidays.csv") && message.contains("line 3"), "{message}");
}

fn run_ok_or(args: &[String]) -> Output {
    let mut c = cpor();
    c.args(args);
    run_within(c, 60)
}

#[test]
fn config_keys_given_in_both_spellings_are_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = temp.path().join("c.toml");
    std::fs::write(&config, "window-days = 5\nwindow_days = 7\n").expect("write");
    let mut c = cpor();
    c.args(["run", "--config"]).arg(&config).arg("--out").arg(temp.path().join("out"));
    let output = run_within(c, 30);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(message.contains("'window-days'") && message.contains("'window_days'"), "{message}");
}

#[test]
fn a_garbled_previous_ledger_is_fatal_naming_file_and_line() {
    let temp = tempfile::tempdir().expect("temp dir");
    let before = temp.path().join("before");
    run_ok(&example_args(&before));
    let ledger = std::fs::read_to_string(before.join("ledger.csv")).expect("ledger");
    let lines: Vec<&str> = ledger.lines().collect();
    assert!(lines.len() > 3);
    let tampered = |line: usize, edit: &dyn Fn(&str) -> String| {
        let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        lines[line - 1] = edit(&lines[line - 1]);
        lines.join("\n") + "\n"
    };
    let status_at = lines[0].split(',').position(|c| c == "status").expect("status column");
    let set_cell = |at: usize, value: &'static str| {
        move |l: &str| {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            cells[at] = value.to_string();
            cells.join(",")
        }
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (tampered(3, &set_cell(status_at, "\u{1b}[31mhacked")), "line 3", "status"),
        (tampered(2, &set_cell(0, "../../etc")), "line 2", "claim_id"),
        (tampered(1, &|l: &str| l.replace("status", "state")), "line 1", "header"),
    ];
    for (i, (text, line, what)) in cases.into_iter().enumerate() {
        let previous = temp.path().join(format!("previous{i}"));
        std::fs::create_dir(&previous).expect("mkdir");
        std::fs::write(previous.join("ledger.csv"), text).expect("write");
        let mut args = example_args(&temp.path().join(format!("out{i}")));
        args.extend(["--previous".to_string(), previous.display().to_string()]);
        let message = assert_fatal_one_line(&run_ok_or(&args));
        assert!(message.contains("ledger.csv") && message.contains(line) && message.contains(what), "{message}");
        assert!(!message.contains('\u{1b}'), "{message}");
        assert!(!temp.path().join(format!("out{i}")).exists(), "nothing written");
    }
}

#[test]
fn explain_escapes_control_characters_from_the_data() {
    let temp = tempfile::tempdir().expect("temp dir");
    let input = temp.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let tenant = "3be93fb8-d995-4a62-9b11-96f741b79d35";
    let hostile = "\u{1b}[31mTeams\u{9b}31m\u{7}";
    std::fs::write(
        input.join("claims.csv"),
        format!(
            "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n\
             ESC-1,P1,{tenant},modern_work_security_usage,{hostile},,DE,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z\n\
             ESC-2,P1,not-a-uuid\u{1b}[2J,modern_work_security_usage,{hostile},,DE,2026-11-01T00:00:00Z,2026-11-02T00:00:00Z\n"
        ),
    )
    .expect("write");
    std::fs::write(input.join("responses.csv"), "response_id,claim_id,tenant_id,response,responded_at\n")
        .expect("write");
    std::fs::write(
        input.join("usage.csv"),
        format!("tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n{tenant},Teams,,2026-11-01,1,1,1\n"),
    )
    .expect("write");
    std::fs::write(input.join("holidays.csv"), format!("date,country,name\n2026-11-03,DE,Fest{hostile}\n"))
        .expect("write");
    for claim in ["ESC-1", "ESC-2"] {
        for json in [false, true] {
            let mut c = cpor();
            c.args(["explain", claim]);
            for name in ["claims", "responses", "usage", "holidays"] {
                c.arg(format!("--{name}")).arg(input.join(format!("{name}.csv")));
            }
            c.args(["--as-of", "2026-11-23T06:00:00Z", "--quiet"]);
            if json {
                c.arg("--json");
            }
            let output = run_within(c, 60);
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            assert!(!text.is_empty(), "{claim}: {}", stderr(&output));
            let controls: Vec<char> =
                text.chars().filter(|&c| c != '\n' && matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')).collect();
            assert!(controls.is_empty(), "{claim} json={json}: {controls:?} in {text}");
            // The C1 control is shown, escaped, rather than dropped.
            assert!(text.contains("\\x9b"), "{claim} json={json}: {text}");
        }
    }
}
