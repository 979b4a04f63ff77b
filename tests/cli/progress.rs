//! The progress display (issue 15), as an operator sees it: cpor run under a pseudo-terminal
//! (`script`), its output replayed through a small terminal emulator, and the final screen checked —
//! one finished line per stage with its true count and a whole-number rate, no bar or zero count left
//! over, the short summary last; nothing at all with `--quiet` or off a terminal.

use std::process::Command;

use crate::util::*;

/// The final screen of a terminal `width` columns wide after `output`: printable text, CR, LF, and
/// the few escape sequences indicatif writes (cursor up and down, erase line, erase below).
fn screen(output: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = output.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
            }
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                while let Some(&d) = chars.peek() {
                    if d.is_ascii_digit() || d == ';' || d == '?' {
                        arg.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                let n = arg.parse::<usize>().unwrap_or(1);
                match chars.next() {
                    Some('A') => row = row.saturating_sub(n),
                    Some('B') => row += n,
                    Some('K') if arg == "2" => rows.get_mut(row).map_or((), Vec::clear),
                    Some('K') => rows.get_mut(row).map_or((), |r| r.truncate(col)),
                    Some('J') => rows.truncate(row + 1),
                    _ => {}
                }
            }
            c if !c.is_control() => {
                if col == width {
                    row += 1;
                    col = 0;
                }
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let line = &mut rows[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
            _ => {}
        }
        while rows.len() <= row {
            rows.push(Vec::new());
        }
    }
    rows.into_iter()
        .map(|r| r.into_iter().collect::<String>().trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs cpor with `args` under a pseudo-terminal 100 columns wide; returns its final screen, or
/// `None` (with the reason printed) where `script` is missing.
fn under_terminal(args: &str) -> Option<Vec<String>> {
    let binary = env!("CARGO_BIN_EXE_cpor");
    let command = format!("stty cols 100 rows 40; {binary} {args}");
    let output = Command::new("script").args(["-qfec", &command, "/dev/null"]).current_dir(repo()).output();
    match output {
        Ok(output) if output.status.success() => Some(screen(&String::from_utf8_lossy(&output.stdout), 100)),
        Ok(output) => panic!("cpor under script failed: {}", String::from_utf8_lossy(&output.stdout)),
        Err(e) => {
            eprintln!("skipped: no `script` to make a pseudo-terminal ({e})");
            None
        }
    }
}

#[test]
fn the_final_screen_says_what_each_stage_did() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let Some(screen) = under_terminal(&format!("run --as-of 2026-11-23T06:00:00Z --out {}", out.display())) else {
        return;
    };
    let text = screen.join("\n");
    let stage = |prefix: &str| screen.iter().filter(|l| l.starts_with(prefix)).cloned().collect::<Vec<_>>();
    for (prefix, count) in [
        ("reading claims: ", "42 rows in "),
        ("reading responses: ", "20 rows in "),
        ("evaluating claims: ", "36 claims in "),
        ("reading usage: ", "4,003 rows in "),
        ("writing reports: ", "18 files in "),
    ] {
        let lines = stage(prefix);
        assert_eq!(lines.len(), 1, "one line for {prefix:?} on\n{text}");
        assert!(lines[0].starts_with(&format!("{prefix}{count}")), "{:?} on\n{text}", lines[0]);
        assert!(
            lines[0].ends_with(" rows/s)") || lines[0].ends_with(" claims/s)") || lines[0].ends_with(" files/s)"),
            "{:?}",
            lines[0]
        );
    }
    // No bar, percentage or four-decimal rate left over.
    for line in &screen {
        assert!(!line.contains('%') && !line.contains("[=") && !line.contains("0 records"), "{line:?} on\n{text}");
        // A rate is "(3.6 M rows/s)": at most one decimal.
        if let Some(rate) = line.rsplit_once(" (").map(|(_, r)| r).filter(|r| r.ends_with("/s)")) {
            let number = rate.split(' ').next().unwrap_or_default();
            assert!(number.split('.').nth(1).is_none_or(|f| f.len() <= 1), "{line:?}");
        }
    }
    // Progress first, in stage order, the short summary last.
    let order: Vec<usize> = [
        "reading claims",
        "reading responses",
        "evaluating claims",
        "reading usage",
        "writing reports",
        "claims: 36",
        "done in",
    ]
    .iter()
    .map(|p| screen.iter().position(|l| l.starts_with(p)).unwrap_or_else(|| panic!("{p} on\n{text}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?} on\n{text}");
    assert!(screen.last().is_some_and(|l| l.starts_with("done in")), "{text}");
}

#[test]
fn quiet_shows_no_progress_even_on_a_terminal() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    let Some(screen) = under_terminal(&format!("run --quiet --as-of 2026-11-23T06:00:00Z --out {}", out.display()))
    else {
        return;
    };
    assert!(screen.iter().all(|l| !l.starts_with("reading") && !l.starts_with("writing")), "{screen:?}");
    assert!(screen.last().is_some_and(|l| l.starts_with("done in")));
    // Off a terminal: stderr holds nothing.
    let output = cpor()
        .args(["run", "--as-of", "2026-11-23T06:00:00Z", "--out"])
        .arg(temp.path().join("off"))
        .output()
        .expect("runs");
    assert!(output.status.success() && output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_emulator_replays_what_indicatif_writes() {
    assert_eq!(screen("abc\r\x1b[2Kxy\nsecond", 80), ["xy", "second"]);
    assert_eq!(screen("one\ntwo\x1b[1A\r\x1b[2Kthree", 80), ["three", "two"]);
    assert_eq!(screen("abcdef", 4), ["abcd", "ef"]);
}
