//! What analysts and operators use besides `run`: explain, changes since a previous run, validate,
//! the config file and summary.html — all through the real binary on the sample in data/.

use std::path::Path;

use crate::util::*;

const AS_OF: &str = "2026-11-23T06:00:00Z";

fn sample_run(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = ["run", "--quiet", "--as-of", AS_OF, "--out"].map(String::from).to_vec();
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    cpor().args(&args).output().expect("runs")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn explain_tells_the_days_the_responses_and_the_status() {
    // AR-2026-0110: JP, notified Fri 2026-11-20; a JP holiday and a global one are skipped.
    let output = cpor().args(["explain", "AR-2026-0110", "--as-of", AS_OF]).output().expect("runs");
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("pending"), "{text}");
    assert!(text.contains("2026-11-21                  Sat: weekend, not counted"), "{text}");
    assert!(text.contains("Mon: holiday Labor Thanksgiving Day (JP), not counted"), "{text}");
    assert!(text.contains("(all countries), not counted"), "{text}");
    assert!(text.contains("business day 5 of 5 — the deadline"), "{text}");
    assert!(text.contains("2026-12-02T00:00:00Z        window closes"), "{text}");

    // A revoked claim: the responses and what they did, and the report.
    let output = cpor().args(["explain", "AR-2026-0118", "--as-of", AS_OF, "--json"]).output().expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["status"], "revoked");
    assert_eq!(json["facts"]["partner"], "4718545");
    let timeline: Vec<String> = json["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|e| e["what"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(timeline.iter().any(|w| w.contains("window closed without opt-out: official")), "{timeline:?}");
    assert!(timeline.iter().any(|w| w.contains("after the claim became official: revoked")), "{timeline:?}");
    assert_eq!(json["report"]["rows"], 0);
    assert_eq!(json["report"]["starting_hwm"], 46);

    // Contested: names the claim that was official first.
    let text = stdout(&cpor().args(["explain", "AR-2026-0126", "--as-of", AS_OF]).output().expect("runs"));
    assert!(text.contains("AR-2026-0125 of partner 4304881 was official since"), "{text}");
}

#[test]
fn explain_says_when_a_claim_is_rejected_deferred_or_unknown() {
    let output = cpor().args(["explain", "AR-2026-0138", "--as-of", AS_OF, "--json"]).output().expect("runs");
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["outcome"], "rejected");
    assert_eq!(json["rejects"][0]["reason"], "invalid_uuid");
    let text = stdout(&cpor().args(["explain", "AR-2026-0133", "--as-of", AS_OF]).output().expect("runs"));
    assert!(text.contains("deferred"), "{text}");
    let output = cpor().args(["explain", "NO-SUCH-CLAIM", "--as-of", AS_OF]).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("No claim with this id"));
}

#[test]
fn changes_since_a_previous_run() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (before, after) = (temp.path().join("before"), temp.path().join("after"));
    let output = cpor()
        .args(["run", "--quiet", "--as-of", "2026-11-20T06:00:00Z", "--out"])
        .arg(&before)
        .output()
        .expect("runs");
    assert!(output.status.success());
    let output = sample_run(&after, &["--previous", &before.display().to_string()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let changes = read_csv(&after.join("changes.csv"));
    assert_eq!(changes[0][0..2], ["claim_id".to_string(), "change".to_string()]);
    // AR-2026-0110 was notified on 2026-11-20 08:00Z: not yet notified at 06:00 that day.
    let row = changes.iter().find(|r| r[0] == "AR-2026-0110").expect("a change for AR-2026-0110");
    assert_eq!(row[1..4], ["became_pending".to_string(), "awaiting_notification".to_string(), "pending".to_string()]);
    let summary = summary(&after);
    let counted: u64 = summary["changes"].as_object().expect("counts").values().map(|v| v.as_u64().unwrap_or(0)).sum();
    assert_eq!(counted as usize, changes.len() - 1);
    assert!(stdout(&output).contains("changes since the previous run:"), "{}", stdout(&output));
    // An unchanged rerun has no changes.
    let again = temp.path().join("again");
    assert!(sample_run(&again, &["--previous", &after.display().to_string()]).status.success());
    assert_eq!(read_csv(&again.join("changes.csv")).len(), 1);
    // A previous directory without a ledger is fatal.
    let output = sample_run(&temp.path().join("x"), &["--previous", &temp.path().display().to_string()]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn validate_checks_inputs_only() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (run_out, validation) = (temp.path().join("run"), temp.path().join("validation"));
    assert!(sample_run(&run_out, &[]).status.success());
    let output = cpor()
        .args(["validate", "--as-of", AS_OF, "--examples", "1", "--out"])
        .arg(&validation)
        .output()
        .expect("runs");
    assert!(output.status.success());
    assert_eq!(
        std::fs::read(run_out.join("rejects.csv")).expect("run rejects"),
        std::fs::read(validation.join("rejects.csv")).expect("rejects")
    );
    assert!(!validation.join("ledger.csv").exists() && !validation.join("reports").exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(validation.join("validation.json")).expect("json"))
            .expect("JSON");
    assert_eq!(json["examples"]["malformed_row"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["inputs"]["claims"]["rejected"], 5);
    let text = stdout(&output);
    assert!(text.contains("claims: 42 records, 36 accepted, 5 rejected"), "{text}");
    let output = cpor()
        .args(["validate", "--as-of", AS_OF, "--max-reject-rate", "0.1", "--out"])
        .arg(&validation)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn config_file_keys_with_flags_overriding() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("from-config");
    let config = temp.path().join("nightly.toml");
    std::fs::write(
        &config,
        format!(
            "claims = [\"data/claims.csv\"]\nresponses = \"data/responses.csv\"\nusage = [\"data/usage.csv\"]\nholidays = \"data/holidays.csv\"\nas_of = \"{AS_OF}\"\nwindow-days = 3\ntimezone = \"Asia/Tokyo\"\nout = \"{}\"\nquiet = true\n",
            out.display()
        ),
    )
    .expect("write");
    let output = cpor().args(["run", "--config"]).arg(&config).args(["--window-days", "5"]).output().expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = summary(&out);
    assert_eq!(summary["window_days"], 5, "the flag wins");
    assert_eq!(summary["timezone"], "Asia/Tokyo", "the file fills in");
    assert_eq!(summary["as_of"], AS_OF);
    std::fs::write(&config, "window-days = 0\n").expect("write");
    assert_eq!(cpor().args(["run", "--config"]).arg(&config).output().expect("runs").status.code(), Some(2));
    std::fs::write(&config, "colour = \"blue\"\n").expect("write");
    assert_eq!(cpor().args(["run", "--config"]).arg(&config).output().expect("runs").status.code(), Some(2));
    // The example in the repository works as documented.
    let output = cpor()
        .args(["run", "--config", "cpor.example.toml", "--as-of", AS_OF, "--out"])
        .arg(temp.path().join("example"))
        .output()
        .expect("runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Checks that a document is well-formed XML: every tag closed in order, no stray `<` or `&`.
fn well_formed(text: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let between = &rest[..start];
        if let Some(amp) = between.find('&') {
            let entity = &between[amp..];
            if !["&amp;", "&lt;", "&gt;", "&quot;"].iter().any(|e| entity.starts_with(e)) {
                return Err(format!("bare & in {between:?}"));
            }
        }
        let end = rest[start..].find('>').ok_or("unclosed <")? + start;
        let tag = &rest[start + 1..end];
        if tag.contains('<') {
            return Err(format!("stray < in {tag:?}"));
        }
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
        } else if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or(format!("</{name}> closes nothing"))?;
            if open != name {
                return Err(format!("<{open}> closed by </{name}>"));
            }
        } else {
            stack.push(tag.split_whitespace().next().unwrap_or("").to_string());
        }
        rest = &rest[end + 1..];
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed {stack:?}"))
    }
}

#[test]
fn summary_html_is_produced_and_well_formed() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (before, after) = (temp.path().join("before"), temp.path().join("after"));
    assert!(sample_run(&before, &[]).status.success());
    assert!(sample_run(&after, &["--previous", &before.display().to_string()]).status.success());
    for dir in [&before, &after] {
        let html = std::fs::read_to_string(dir.join("summary.html")).expect("summary.html");
        well_formed(&html).unwrap_or_else(|e| panic!("{e}"));
        assert!(html.contains("<svg"), "charts are inline SVG");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "nothing is loaded from the network");
        for word in ["contested", "bizapps_revenue", "Rejects by reason", "Largest partners", "P-CONTOSO"] {
            assert!(html.contains(word), "{word}");
        }
    }
    assert!(well_formed("<p>a < b</p>").is_err() && well_formed("<p><b></p></b>").is_err());
}

/// summary.json's claims by status and by engagement and status are the ledger's, counted row by row.
#[test]
fn claims_by_status_and_engagement_add_up_to_the_ledgers() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    assert!(sample_run(&out, &[]).status.success());
    let ledger = read_csv(&out.join("ledger.csv"));
    let column = |name: &str| ledger[0].iter().position(|c| c == name).expect(name);
    let (engagement, status) = (column("engagement"), column("status"));
    let mut by_status: std::collections::BTreeMap<String, u64> =
        cpor::evaluate::Status::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    let mut by_engagement: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in &ledger[1..] {
        *by_status.get_mut(&row[status]).expect("a known status") += 1;
        *by_engagement.entry((row[engagement].clone(), row[status].clone())).or_default() += 1;
    }
    assert!(by_engagement.len() > 5, "the sample has several engagements and statuses");
    let summary = summary(&out);
    let got: std::collections::BTreeMap<String, u64> = summary["statuses"]
        .as_object()
        .expect("statuses")
        .iter()
        .map(|(s, n)| (s.clone(), n.as_u64().expect("a count")))
        .collect();
    assert_eq!(got, by_status);
    let mut got: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for (code, statuses) in summary["by_engagement"].as_object().expect("by_engagement") {
        for (status, claims) in statuses.as_object().expect("statuses") {
            got.insert((code.clone(), status.clone()), claims.as_u64().expect("a count"));
        }
    }
    assert_eq!(got, by_engagement);
}

/// summary.json's claims becoming official per week add up to the ledger's: each official or revoked
/// claim once, in the week (from Monday, local dates) of its official_at; summary.html draws a line
/// per engagement.
#[test]
fn claims_becoming_official_by_week() {
    let temp = tempfile::tempdir().expect("temp dir");
    let out = temp.path().join("out");
    assert!(sample_run(&out, &[]).status.success());
    let ledger = read_csv(&out.join("ledger.csv"));
    let column = |name: &str| ledger[0].iter().position(|c| c == name).expect(name);
    let (engagement, official_at) = (column("engagement"), column("official_at"));
    let mut expected: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in &ledger[1..] {
        if row[official_at].is_empty() {
            continue;
        }
        let date = chrono::NaiveDate::parse_from_str(&row[official_at][..10], "%Y-%m-%d").expect("a date");
        let monday = date - chrono::Duration::days(i64::from(chrono::Datelike::weekday(&date).num_days_from_monday()));
        *expected.entry((row[engagement].clone(), monday.to_string())).or_default() += 1;
    }
    assert!(expected.len() > 5, "the sample has claims becoming official over several weeks");
    let summary = summary(&out);
    let mut got: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for (code, weeks) in summary["official_by_week"].as_object().expect("official_by_week") {
        for (week, claims) in weeks.as_object().expect("weeks") {
            got.insert((code.clone(), week.clone()), claims.as_u64().expect("a count"));
        }
    }
    assert_eq!(got, expected);
    let html = std::fs::read_to_string(out.join("summary.html")).expect("summary.html");
    let engagements: std::collections::BTreeSet<&String> = expected.keys().map(|(e, _)| e).collect();
    assert_eq!(html.matches("<polyline").count(), engagements.len(), "a line per engagement");
}
