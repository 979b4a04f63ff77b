//! `cpor generate --layout partner-center` (SPEC 9): the generated dataset in the partner portal's
//! export layout, read by `cpor run` with the flags that `generate` prints; without `--layout` the
//! canonical files of section 2, as before.

use std::path::Path;

use crate::util::*;

/// Runs `cpor generate` with `args` into `out`; returns its "run it:" command's arguments.
fn generate(args: &[&str], out: &Path) -> Vec<String> {
    let mut all: Vec<String> = vec!["generate".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(["--out".into(), out.display().to_string()]);
    let output = run_ok(&all);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let line = stdout.lines().find_map(|l| l.strip_prefix("run it: cpor ")).expect("a run it: line");
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn generate_layout_partner_center_runs_with_the_printed_flags() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("portal");
    let mut args = generate(&["--profile", "small", "--layout", "partner-center"], &data);
    for file in ["claims.tsv", "responses.tsv", "usage.tsv.gz", "holidays.csv"] {
        assert!(data.join(file).exists(), "{file}");
    }
    assert!(!data.join("claims.csv").exists());
    let joined = args.join(" ");
    assert!(joined.contains("--date-order mdy") && joined.contains("--usage-period month"), "{joined}");
    assert!(joined.contains("usage.tsv.gz") && joined.contains("claims.tsv"), "{joined}");

    let claims = std::fs::read_to_string(data.join("claims.tsv")).expect("claims");
    let header = claims.lines().next().expect("header");
    assert_eq!(header.split('\t').next(), Some("ClaimId"));
    assert!(claims.contains("/2026 ") && (claims.contains(" AM\t") || claims.contains(" PM\t")));
    assert!(claims.contains("Microsoft Online Services Usage (OSU) - Modern Work"));
    assert!(claims.contains("\tGermany\t") || claims.contains("\tUnited States\t"));

    let out = temp.path().join("out");
    args.extend(["--out".into(), out.display().to_string(), "--quiet".into()]);
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));

    let summary = summary(&out);
    let expected = [
        (
            "claims",
            vec![
                "claim_id",
                "partner_id",
                "tenant_id",
                "engagement",
                "workload",
                "subscription_id",
                "customer_country",
                "submitted_at",
                "notified_at",
            ],
        ),
        ("responses", vec!["response_id", "claim_id", "tenant_id", "response", "responded_at"]),
        (
            "usage",
            vec!["tenant_id", "workload", "subscription_id", "date", "active_users", "paid_seats", "assigned_seats"],
        ),
    ];
    for (source, columns) in expected {
        let input = &summary["inputs"][source];
        for column in columns {
            assert_eq!(input["files"][0]["columns"][column], export_name(column), "{source}.{column}");
        }
        let n = |k: &str| input[k].as_u64().unwrap_or_else(|| panic!("{source}.{k}"));
        assert!(n("records") > 0, "{source}");
        assert_eq!(n("records"), n("accepted") + n("rejected") + n("deferred"), "{source}");
        assert!(n("accepted") * 2 > n("records"), "{source}: most records are read");
    }
    let official = summary["statuses"]["official"].as_u64().expect("official");
    assert!(official > 0, "official claims");
    assert!(summary["reports"]["files"].as_u64().expect("reports") > 0, "reports");
    // The injected faults still show: bad values of every kind, and monthly usage deferred.
    for reason in ["invalid_date", "invalid_timestamp", "invalid_country", "unknown_engagement", "duplicate_usage_row"]
    {
        assert!(summary["rejects_by_reason"][reason].as_u64().unwrap_or(0) > 0, "no {reason}");
    }
    assert!(summary["inputs"]["usage"]["deferred"].as_u64().unwrap_or(0) > 0, "deferred months");
}

#[test]
fn generate_layout_absent_keeps_the_canonical_files() {
    let temp = tempfile::tempdir().expect("temp dir");
    let (plain, canonical) = (temp.path().join("plain"), temp.path().join("canonical"));
    let args = generate(&["--profile", "small", "--seed", "5"], &plain);
    generate(&["--profile", "small", "--seed", "5", "--layout", "canonical"], &canonical);
    let joined = args.join(" ");
    assert!(joined.ends_with("--as-of 2026-11-23T06:00:00Z"), "no layout flags: {joined}");
    assert!(joined.contains("usage.csv") && !joined.contains("tsv"), "{joined}");
    let claims = std::fs::read_to_string(plain.join("claims.csv")).expect("claims");
    assert!(claims.starts_with(
        "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n"
    ));
    let usage = std::fs::read_to_string(plain.join("usage.csv")).expect("usage");
    assert!(usage.starts_with("tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n"));
    let responses = std::fs::read_to_string(plain.join("responses.csv")).expect("responses");
    assert!(responses.starts_with("response_id,claim_id,tenant_id,response,responded_at\n"));
    for name in ["claims.tsv", "responses.tsv", "usage.tsv.gz"] {
        assert!(!plain.join(name).exists(), "{name}");
    }
    assert!(tree(&plain) == tree(&canonical), "--layout canonical is the default");
}
