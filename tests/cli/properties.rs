//! Properties that hold for any inputs, checked on generated data through the real binary:
//! a report holds exactly the usage rows of its claim's scope and access window (SPEC 5) — each
//! one an input row that was accepted, none missing — and nothing is lost: records = accepted +
//! rejected + deferred for every input (SPEC 7).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use crate::util::*;

const TENANTS: [&str; 3] = [
    "0b80a255-53a1-4945-a9aa-000000000001",
    "0B80A255-53A1-4945-A9AA-000000000002",
    "0b80a255-53a1-4945-a9aa-000000000003",
];
const WORKLOADS: [&str; 4] = ["Teams", "teams", "Intune", "Power Apps"];
const SUBS: [&str; 4] =
    ["", "5ab10000-0000-4000-8000-000000000001", "5ab10000-0000-4000-8000-000000000002", "not-a-uuid"];
const ENGAGEMENTS: [&str; 4] =
    ["modern_work_security_usage", "bizapps_presales_advisor", "Usage Recognition - Biz Apps", "bizapps_revenue"];
const PARTNERS: [&str; 3] = ["P1", "P2", "P3"];
const RESPONSES: [&str; 4] = ["accept", "opt_out", "Declined", "maybe"];
/// Day boundaries (SPEC 3): UTC, and zones behind and ahead of it.
const ZONES: [&str; 3] = ["UTC", "America/New_York", "Asia/Tokyo"];

/// Base instant: 2026-10-01T00:00:00Z; offsets are in hours.
const BASE: i64 = 1_790_812_800;

fn ts(hours: i64) -> String {
    DateTime::<Utc>::from_timestamp(BASE + hours * 3600, 0).expect("in range").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn date(day: i64) -> String {
    DateTime::<Utc>::from_timestamp(BASE + day * 86_400, 0).expect("in range").format("%Y-%m-%d").to_string()
}

#[derive(Debug, Clone)]
struct ClaimGen {
    partner: usize,
    tenant: usize,
    engagement: usize,
    workload: usize,
    sub: usize,
    submitted: i64,
    notify_after: Option<i64>,
}

#[derive(Debug, Clone)]
struct Dataset {
    claims: Vec<ClaimGen>,
    responses: Vec<(usize, usize, i64, bool)>,
    usage: Vec<(usize, usize, usize, i64, Option<u32>, bool)>,
    as_of: i64,
    zone: usize,
}

fn dataset() -> impl Strategy<Value = Dataset> {
    let claim = (0..3usize, 0..3usize, 0..4usize, 0..4usize, 0..4usize, 0..800i64, proptest::option::of(0..200i64))
        .prop_map(|(partner, tenant, engagement, workload, sub, submitted, notify_after)| ClaimGen {
            partner,
            tenant,
            engagement,
            workload,
            sub,
            submitted,
            notify_after,
        });
    (
        proptest::collection::vec(claim, 0..14),
        proptest::collection::vec((0..16usize, 0..4usize, 0..900i64, any::<bool>()), 0..14),
        proptest::collection::vec(
            (0..3usize, 0..4usize, 0..4usize, 0..45i64, proptest::option::of(0..500u32), any::<bool>()),
            0..400,
        ),
        300..1100i64,
        0..ZONES.len(),
    )
        .prop_map(|(claims, responses, usage, as_of, zone)| Dataset { claims, responses, usage, as_of, zone })
}

fn write_inputs(data: &Dataset, dir: &Path) {
    let mut claims = String::from(
        "claim_id,partner_id,tenant_id,engagement,workload,subscription_id,customer_country,submitted_at,notified_at\n",
    );
    for (i, c) in data.claims.iter().enumerate() {
        let notified = c.notify_after.map_or(String::new(), |h| ts(c.submitted + h));
        writeln!(
            claims,
            "C{i:03},{},{},{},{},{},DE,{},{notified}",
            PARTNERS[c.partner],
            TENANTS[c.tenant],
            ENGAGEMENTS[c.engagement],
            WORKLOADS[c.workload],
            SUBS[c.sub],
            ts(c.submitted)
        )
        .expect("write");
    }
    let mut responses = String::from("response_id,claim_id,tenant_id,response,responded_at\n");
    for (i, &(claim, kind, at, own_tenant)) in data.responses.iter().enumerate() {
        let tenant = match data.claims.get(claim) {
            Some(c) if own_tenant => TENANTS[c.tenant],
            _ => TENANTS[claim % 3],
        };
        writeln!(responses, "R{i:03},C{claim:03},{tenant},{},{}", RESPONSES[kind], ts(at)).expect("write");
    }
    let mut usage = String::from("tenant_id,workload,subscription_id,date,active_users,paid_seats,assigned_seats\n");
    for &(tenant, workload, sub, day, active, seats) in &data.usage {
        let active = active.map_or(String::new(), |a| a.to_string());
        let seats = if seats { "10" } else { "" };
        writeln!(usage, "{},{},{},{},{active},{seats},", TENANTS[tenant], WORKLOADS[workload], SUBS[sub], date(day))
            .expect("write");
    }
    std::fs::write(dir.join("claims.csv"), claims).expect("write");
    std::fs::write(dir.join("responses.csv"), responses).expect("write");
    std::fs::write(dir.join("usage.csv"), usage).expect("write");
}

/// The local date of an output timestamp in `zone`.
fn local_date(timestamp: &str, zone: Tz) -> NaiveDate {
    DateTime::parse_from_rfc3339(timestamp).expect("an output timestamp").with_timezone(&zone).date_naive()
}

/// A usage row as a report writes it, from `subscription_id` on: subscription, date and counts.
type UsageCells = [String; 5];

/// The usage rows that pass every check, in file order, with their tenant (lower case) and
/// workload: a row with an invalid subscription or without any count is rejected, and of the
/// valid rows with one (tenant, workload case-insensitively, subscription, date) key only the first
/// is accepted (SPEC 2.3, 6). Rows dated after T are deferred but, lying after every access
/// window, never matter to a report.
fn accepted_usage(data: &Dataset) -> Vec<(String, String, UsageCells)> {
    let mut keys = HashSet::new();
    let mut rows = Vec::new();
    for &(tenant, workload, sub, day, active, seats) in &data.usage {
        let valid = SUBS[sub] != "not-a-uuid" && (active.is_some() || seats);
        if !valid || !keys.insert((tenant, WORKLOADS[workload].to_lowercase(), sub, day)) {
            continue;
        }
        let cells = [
            SUBS[sub].to_string(),
            date(day),
            active.map_or(String::new(), |a| a.to_string()),
            if seats { "10".to_string() } else { String::new() },
            String::new(),
        ];
        rows.push((TENANTS[tenant].to_lowercase(), WORKLOADS[workload].to_string(), cells));
    }
    rows
}

fn check(data: &Dataset) -> Result<(), TestCaseError> {
    let temp = tempfile::tempdir().expect("temp dir");
    write_inputs(data, temp.path());
    let out = temp.path().join("out");
    let zone: Tz = ZONES[data.zone].parse().expect("a zone");
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage"] {
        args.extend([format!("--{name}"), temp.path().join(format!("{name}.csv")).display().to_string()]);
    }
    args.extend(["--as-of".into(), ts(data.as_of), "--timezone".into(), ZONES[data.zone].into()]);
    args.extend(["--quiet".into(), "--out".into(), out.display().to_string()]);
    run_ok(&args);

    // Nothing lost.
    let summary = summary(&out);
    let rejects = read_csv(&out.join("rejects.csv"));
    for (name, generated) in
        [("claims", data.claims.len()), ("responses", data.responses.len()), ("usage", data.usage.len())]
    {
        let input = &summary["inputs"][name];
        let figure = |k: &str| input[k].as_u64().expect("a count");
        prop_assert_eq!(figure("records"), generated as u64);
        prop_assert_eq!(figure("accepted") + figure("rejected") + figure("deferred"), figure("records"));
        let listed = rejects.iter().skip(1).filter(|r| r[0] == name).count() as u64;
        prop_assert_eq!(listed, figure("rejected"));
    }

    // Each report holds exactly the accepted usage rows of its claim's scope and access window,
    // sorted by (date, subscription with nulls first); starting_hwm is the largest active_users of
    // the rows in scope before the window.
    let usage = accepted_usage(data);
    let ledger = read_csv(&out.join("ledger.csv"));
    let as_of_day = local_date(&ts(data.as_of), zone);
    let reports = report_tree(&out);
    let mut expected_reports = 0;
    for claim in &ledger[1..] {
        let (id, partner, tenant, engagement, workload, sub) =
            (&claim[0], &claim[1], &claim[2], &claim[3], &claim[4], &claim[5]);
        let status = claim[10].as_str();
        let name = format!("{partner}/{id}.csv");
        if status != "official" && status != "revoked" {
            prop_assert!(!reports.contains_key(&name), "{} has a report", id);
            prop_assert_eq!(&claim[14], "0");
            continue;
        }
        expected_reports += 1;
        let first = local_date(&claim[11], zone);
        let in_window = |day: NaiveDate| {
            day >= first && if status == "revoked" { day < local_date(&claim[12], zone) } else { day <= as_of_day }
        };
        let by_subscription = engagement != "modern_work_security_usage";
        let in_scope = usage.iter().filter(|(t, w, cells)| {
            t == tenant && w.eq_ignore_ascii_case(workload) && (!by_subscription || &cells[0] == sub)
        });
        let mut want = Vec::new();
        let mut hwm: Option<u32> = None;
        for (_, _, cells) in in_scope {
            let day: NaiveDate = cells[1].parse().expect("a date");
            if in_window(day) {
                let mut row = vec![id, partner, tenant, engagement, workload].into_iter().cloned().collect::<Vec<_>>();
                row.extend(cells.iter().cloned());
                want.push(row);
            } else if day < first {
                if let Ok(active) = cells[2].parse::<u32>() {
                    hwm = hwm.max(Some(active));
                }
            }
        }
        want.sort_by(|a, b| (&a[6], &a[5]).cmp(&(&b[6], &b[5])));

        let rows = read_csv(&out.join("reports").join(&name));
        prop_assert_eq!(&rows[0][5..], ["subscription_id", "date", "active_users", "paid_seats", "assigned_seats"]);
        let got = &rows[1..];
        for row in got {
            prop_assert!(
                want.contains(row),
                "{} holds a row that is no accepted usage row of its scope and window: {:?}",
                id,
                row
            );
        }
        for row in &want {
            prop_assert!(got.contains(row), "{} misses the usage row {:?}", id, row);
        }
        prop_assert_eq!(got, &want[..], "the rows of {} in order", id);
        prop_assert_eq!(claim[14].parse::<usize>().expect("report_rows"), want.len());
        prop_assert_eq!(&claim[15], &hwm.map_or(String::new(), |h| h.to_string()), "starting_hwm of {}", id);
    }
    prop_assert_eq!(reports.len(), expected_reports);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn reports_hold_exactly_the_rows_of_their_scope_and_window_and_nothing_is_lost(data in dataset()) {
        check(&data)?;
    }
}
