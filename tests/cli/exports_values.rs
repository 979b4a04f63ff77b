//! SPEC 9.3, the value forms of real exports, through the binary: monthly usage (`--usage-period
//! month`), dates in another order (`--date-order`), portal engagement names and country names.

use std::path::Path;

use crate::util::*;

const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn args(claims: &str, responses: &str, usage: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["run", "--claims", claims, "--responses", responses, "--usage", usage].into_iter().map(String::from).collect();
    args.extend(["--as-of", "2026-05-10T12:00:00Z", "--quiet", "--out"].map(String::from));
    args.push(out.display().to_string());
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Hand-checked, as of 2026-05-10T12:00:00Z in UTC, window 5 business days:
/// - M1 (T1, Teams) notified Wednesday 2026-01-28: deadline Wednesday 2026-02-04, official at
///   2026-02-05T00:00:00Z; access window [2026-02-05, 2026-05-11).
/// - M2 (T2, Intune) notified 2026-03-30, accepted early on 2026-03-31T15:00:00Z: official then;
///   access window [2026-03-31, 2026-05-11) — March overlaps it by one day.
#[test]
fn monthly_usage_periods() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let claims = write(
        dir,
        "claims.csv",
        &format!(
            "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n\
             M1,P1,{T1},Modern Work and Security Usage,Teams,,United States,2026-01-28T09:00:00Z,2026-01-28T09:00:00Z\n\
             M2,P2,{T2},Moderne Arbeits- und Sicherheitsnutzung,Intune,,Germany,2026-03-30T10:00:00Z,2026-03-30T10:00:00Z\n"
        ),
    );
    let responses = write(
        dir,
        "responses.csv",
        &format!("response_id,claim_id,tenant_id,response,responded_at\nR1,M2,{T2},accept,2026-03-31T15:00:00Z\n"),
    );
    let usage = write(
        dir,
        "usage.csv",
        &format!(
            "tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n\
             {T1},Teams,,2025-12,50,,\n\
             {T1},Teams,,2026-01-31,70,,\n\
             {T1},Teams,,2026-02,999,,\n\
             {T1},Exchange,,2026-03,5,,\n\
             {T1},Teams,,2026-05-31,80,,\n\
             {T2},Intune,,2026-02-10,40,,\n\
             {T2},Intune,,2026-03-15,500,,\n\
             {T2},Intune,,2026-04,60,,\n\
             {T2},Intune,,2026-04-20,61,,\n\
             {T2},Intune,,2026-05,65,,\n\
             {T2},Intune,,2026-06-01,90,,\n"
        ),
    );
    let out = dir.join("out");
    run_ok(&args(&claims, &responses, &usage, &out, &["--usage-period", "month"]));

    let m1 = ledger_row(&out, "M1");
    assert_eq!((m1["status"].as_str(), m1["official_at"].as_str()), ("official", "2026-02-05T00:00:00Z"));
    assert_eq!(m1["customer_country"], "US", "a country's English name is written as its code");
    // February holds the official day: in the report, not in starting_hwm (999 would be there).
    assert_eq!(m1["starting_hwm"], "70");
    let month = |d: &str, a: &str| (d.to_string(), a.to_string());
    assert_eq!(report(&out, "P1", "M1"), [month("2026-02-01", "999"), month("2026-05-01", "80")]);

    let m2 = ledger_row(&out, "M2");
    assert_eq!((m2["status"].as_str(), m2["official_at"].as_str()), ("official", "2026-03-31T15:00:00Z"));
    assert_eq!((m2["engagement"].as_str(), m2["customer_country"].as_str()), ("modern_work_security_usage", "DE"));
    // March overlaps the access window by its last day: in the report, and not in starting_hwm.
    assert_eq!(m2["starting_hwm"], "40");
    assert_eq!(
        report(&out, "P2", "M2"),
        [month("2026-03-01", "500"), month("2026-04-01", "60"), month("2026-05-01", "65")],
        "2026-04-20 is April again (a duplicate), June starts after T's local date (deferred)"
    );

    let rejects = read_csv(&out.join("rejects.csv"));
    let reasons: Vec<(&str, &str)> = rejects[1..].iter().map(|r| (r[0].as_str(), r[3].as_str())).collect();
    assert_eq!(reasons, [("usage", "duplicate_usage_row")]);
    assert_eq!(rejects[1][2], "9", "the second April row of T2's Intune");
    let usage_summary = &summary(&out)["inputs"]["usage"];
    assert_eq!(usage_summary["deferred"].as_u64(), Some(1), "June 2026 starts after 2026-05-10");
    assert_eq!(usage_summary["accepted"].as_u64(), Some(9));

    // The same rows read by day: `YYYY-MM` is no date, and each day is its own key.
    let daily = dir.join("daily");
    run_ok(&args(&claims, &responses, &usage, &daily, &[]));
    let rejects = read_csv(&daily.join("rejects.csv"));
    assert_eq!(rejects[1..].iter().filter(|r| r[3] == "invalid_date").count(), 5);
    assert_eq!(rejects[1..].iter().filter(|r| r[3] == "duplicate_usage_row").count(), 0);
    assert_eq!(report(&daily, "P2", "M2"), [month("2026-04-20", "61")]);
}

/// `M/D/YYYY h:MM:SS AM|PM` (mdy) or `D.M.YYYY HH:MM:SS` (dmy) for a timestamp `YYYY-MM-DD[T ]HH:MM:SS`
/// with `Z`, an offset or none; anything else unchanged.
fn reorder(cell: &str, order: &str) -> Option<String> {
    let b = cell.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b' ') || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| cell.get(range)?.parse::<u32>().ok();
    let (year, month, day) = (cell.get(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, rest) = (number(11..13)?, cell.get(13..19)?);
    if hour > 23 {
        return None;
    }
    let offset = match cell.get(19..)? {
        "" | "Z" => String::new(),
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => format!(" {o}"),
        _ => return None,
    };
    Some(match order {
        "mdy" => {
            let half = if hour < 12 { "AM" } else { "PM" };
            let twelve = if hour % 12 == 0 { 12 } else { hour % 12 };
            format!("{month}/{day}/{year} {twelve}{rest} {half}{offset}")
        }
        _ => format!("{day}.{month}.{year} {hour:02}{rest}{offset}"),
    })
}

/// Rewrites a CSV file's timestamps in a date order; returns the new file and how many cells changed.
fn rewrite(from: &Path, to: &Path, order: &str) -> usize {
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(false).from_path(from).expect("read");
    let mut writer = csv::WriterBuilder::new().flexible(true).from_path(to).expect("write");
    let mut changed = 0;
    for record in reader.records() {
        let record = record.expect("record");
        let cells: Vec<String> = record
            .iter()
            .map(|cell| match reorder(cell, order) {
                Some(new) => {
                    changed += 1;
                    new
                }
                None => cell.to_string(),
            })
            .collect();
        writer.write_record(&cells).expect("write");
    }
    writer.flush().expect("flush");
    changed
}

/// The shared example's claims and responses with their timestamps in M/D/YYYY (12-hour clock) or
/// D.M.YYYY: the same ledger, reports and reject reasons as the original.
#[test]
fn mdy_and_dmy_timestamps_give_the_ymd_ledger() {
    let fixture = repo().join("fixtures/example_small");
    let input = fixture.join("input");
    let temp = tempfile::tempdir().expect("temp dir");
    let original = temp.path().join("ymd");
    run_ok(&fixture_args(&fixture, &input, "csv", &original));
    for order in ["mdy", "dmy"] {
        let dir = temp.path().join(format!("{order}-input"));
        std::fs::create_dir(&dir).expect("dir");
        let mut changed = 0;
        for name in ["claims.csv", "responses.csv"] {
            changed += rewrite(&input.join(name), &dir.join(name), order);
        }
        std::fs::copy(input.join("usage.csv"), dir.join("usage.csv")).expect("copy");
        assert!(changed > 50, "{order}: only {changed} timestamps rewritten");
        let out = temp.path().join(order);
        let mut args = fixture_args(&fixture, &dir, "csv", &out);
        args.extend(["--date-order".to_string(), order.to_string()]);
        run_ok(&args);
        assert!(
            std::fs::read(out.join("ledger.csv")).expect("ledger")
                == std::fs::read(original.join("ledger.csv")).expect("ledger"),
            "{order}: the ledger differs from the ymd run's"
        );
        assert!(report_tree(&out) == report_tree(&original), "{order}: reports differ");
        let reasons = |dir: &Path| -> Vec<(String, String, String)> {
            read_csv(&dir.join("rejects.csv")).into_iter().map(|r| (r[0].clone(), r[2].clone(), r[3].clone())).collect()
        };
        assert_eq!(reasons(&out), reasons(&original), "{order}: rejects differ");

        // Without the flag, the rewritten timestamps are invalid.
        let plain = temp.path().join(format!("{order}-plain"));
        run_ok(&fixture_args(&fixture, &dir, "csv", &plain));
        assert!(reasons(&plain).len() > reasons(&original).len() + 10, "{order} forms are refused under ymd");
    }
}

/// Portal engagement names, the config file's `[engagements]` and its `date-order` key.
#[test]
fn portal_engagement_names_and_config_keys() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let sub = "33333333-3333-4333-8333-333333333333";
    let claims = write(
        dir,
        "claims.csv",
        &format!(
            "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n\
             E1,P1,{T1},Microsoft Online Services Usage (OSU) – Modern Work,Teams,,united kingdom,1/5/2026 9:00 AM,1/5/2026 9:00 AM\n\
             E2,P1,{T1},Verwendungserkennung - Biz-Apps,Power Apps,{sub},GB,1/5/2026 9:00 AM,\n\
             E3,P1,{T1},Our Revenue Name,Dynamics,{sub},DE,1/5/2026 9:00 AM,\n\
             E4,P1,{T1},Partner Magic,Dynamics,{sub},DE,1/5/2026 9:00 AM,\n\
             E5,P1,{T1},bizapps_revenue,Dynamics,{sub},GBR,1/5/2026 9:00 AM,\n"
        ),
    );
    let responses = write(dir, "responses.csv", "response_id,claim_id,tenant_id,response,responded_at\n");
    let usage = write(dir, "usage.csv", &format!("tenant_id,workload,date,active_users\n{T1},Teams,1/31/2026,3\n"));
    let config = write(
        dir,
        "cpor.toml",
        "date-order = \"mdy\"\nusage-period = \"day\"\n\n[engagements]\n\"Our  Revenue Name\" = \"bizapps_revenue\"\n",
    );
    let out = dir.join("out");
    run_ok(&args(&claims, &responses, &usage, &out, &["--config", &config]));
    let engagement = |claim: &str| ledger_row(&out, claim)["engagement"].clone();
    assert_eq!(engagement("E1"), "modern_work_security_usage");
    assert_eq!(engagement("E2"), "bizapps_usage_recognition");
    assert_eq!(engagement("E3"), "bizapps_revenue");
    assert_eq!(ledger_row(&out, "E1")["customer_country"], "GB");
    assert_eq!(ledger_row(&out, "E1")["submitted_at"], "2026-01-05T09:00:00Z");
    let rejects = read_csv(&out.join("rejects.csv"));
    let reasons: Vec<&str> = rejects[1..].iter().map(|r| r[3].as_str()).collect();
    assert_eq!(reasons, ["unknown_engagement", "invalid_country"], "E4, and E5's three-letter code");
    assert_eq!(report(&out, "P1", "E1"), [("2026-01-31".to_string(), "3".to_string())]);

    // A config value that names no engagement is a usage error.
    let bad = write(dir, "bad.toml", "[engagements]\n\"X\" = \"partner_magic\"\n");
    let output =
        cpor().args(args(&claims, &responses, &usage, &dir.join("o2"), &["--config", &bad])).output().expect("runs");
    assert_eq!(output.status.code(), Some(2));
}
