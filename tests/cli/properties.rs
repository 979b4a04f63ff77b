//! Properties that hold for any inputs, checked on generated data through the real binary:
//! a report never holds a row outside its claim's scope and access window (SPEC 5), and nothing is
//! lost: records = accepted + rejected + deferred for every input (SPEC 7).

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
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
            0..120,
        ),
        0..1000i64,
    )
        .prop_map(|(claims, responses, usage, as_of)| Dataset { claims, responses, usage, as_of })
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

fn days_of(timestamp: &str) -> String {
    timestamp[..10].to_string()
}

fn check(data: &Dataset) -> Result<(), TestCaseError> {
    let temp = tempfile::tempdir().expect("temp dir");
    write_inputs(data, temp.path());
    let out = temp.path().join("out");
    let mut args: Vec<String> = vec!["run".into()];
    for name in ["claims", "responses", "usage"] {
        args.extend([format!("--{name}"), temp.path().join(format!("{name}.csv")).display().to_string()]);
    }
    args.extend(["--as-of".into(), ts(data.as_of), "--quiet".into(), "--out".into(), out.display().to_string()]);
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

    // Reports stay in scope and window.
    let ledger = read_csv(&out.join("ledger.csv"));
    let as_of_day = days_of(&ts(data.as_of));
    let reports = tree(&out.join("reports"));
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
        let path = out.join("reports").join(&name);
        let rows = read_csv(&path);
        prop_assert_eq!(rows.len() - 1, claim[14].parse::<usize>().expect("report_rows"));
        let first = days_of(&claim[11]);
        for row in &rows[1..] {
            prop_assert_eq!(&row[0], id);
            prop_assert_eq!(&row[2], tenant);
            prop_assert!(row[4].eq_ignore_ascii_case(workload));
            if engagement != "modern_work_security_usage" {
                prop_assert_eq!(&row[5], sub);
            }
            let day = &row[6];
            prop_assert!(*day >= first, "{} before the access window of {}", day, id);
            if status == "revoked" {
                prop_assert!(*day < days_of(&claim[12]), "{} after the revocation of {}", day, id);
            } else {
                prop_assert!(*day <= as_of_day, "{} after T for {}", day, id);
            }
        }
    }
    prop_assert_eq!(reports.len(), expected_reports);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn reports_stay_in_scope_and_nothing_is_lost(data in dataset()) {
        check(&data)?;
    }
}
