//! Inner rules, timed with criterion: calendar arithmetic, the response walk, and the report
//! scoping filter. End-to-end figures come from `benches/end_to_end.sh` (see BENCHMARKS.md).

// A bench on fixed inputs stops loudly if a fixed input does not parse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use chrono_tz::Tz;
use cpor::calendar::{days, Calendar, Holiday, Weekend};
use cpor::evaluate::walk;
use cpor::records::{Claim, Counts, UsageRow, WorkloadKey};
use cpor::report::report_rows;
use cpor::types::{parse_timestamp, Country, Engagement, Id, ResponseKind, Uuid};
use cpor::usage::{KeptRow, UsageIndex};
use cpor::values::UsagePeriod;
use criterion::{criterion_group, criterion_main, Criterion};

fn calendar(c: &mut Criterion) {
    let holidays: Vec<Holiday> = (0..40)
        .map(|i| Holiday {
            date: days(2026, 1, 1) + i * 9,
            country: if i % 2 == 0 { None } else { Country::parse("DE") },
            name: "holiday".into(),
        })
        .collect();
    let notified: Vec<i64> =
        (0..1000).map(|i| parse_timestamp("2026-01-05T10:00:00Z").unwrap() + i * 7_919_000_000).collect();
    for tz in ["UTC", "Europe/Berlin"] {
        let cal = Calendar::new(tz.parse::<Tz>().unwrap(), Weekend::default(), 5, holidays.clone());
        c.bench_function(&format!("window_closes_at x1000 ({tz})"), |b| {
            b.iter(|| {
                notified.iter().filter_map(|&n| cal.window_closes_at(black_box(n), Country::parse("DE"))).sum::<i64>()
            })
        });
    }
}

fn response_walk(c: &mut Criterion) {
    let n = parse_timestamp("2026-11-16T09:00:00Z").unwrap();
    let closes = parse_timestamp("2026-11-24T00:00:00Z").unwrap();
    let responses = [
        (n + 3_600_000_000, ResponseKind::Accept),
        (closes + 1, ResponseKind::Accept),
        (closes + 86_400_000_000, ResponseKind::OptOut),
    ];
    c.bench_function("response walk, three responses", |b| {
        b.iter(|| walk(black_box(Some(n)), closes, black_box(&responses), closes + 100 * 86_400_000_000))
    });
}

fn scoping(c: &mut Criterion) {
    let claim = Claim {
        id: Id::parse("C1").unwrap(),
        partner_id: Id::parse("P1").unwrap(),
        tenant: Uuid(1),
        engagement: Engagement::BizappsRevenue,
        workload: "Power Apps".into(),
        subscription: Some(Uuid(7)),
        country: None,
        submitted_at: 0,
        notified_at: Some(0),
    };
    let group: Vec<KeptRow> = (0..3000)
        .map(|i| {
            KeptRow::new(
                Some(Uuid(5 + (i % 3) as u128)),
                days(2026, 1, 1) + i / 3,
                Counts::new([Some(i as u64), None, Some(3)]),
            )
        })
        .collect();
    let window = (days(2026, 3, 1), days(2026, 9, 1));
    c.bench_function("report rows of one claim from 3000 usage rows", |b| {
        b.iter(|| report_rows(black_box(&claim), black_box(&group), window, UsagePeriod::Day).rows.len())
    });
}

/// The uniqueness rule and the keeping of report rows over one batch of 65,536 usage rows: 1,300
/// tenants of 50 days each, their rows together (as the generator writes them) or day by day.
fn usage_keys(c: &mut Criterion) {
    let row = |tenant: u32, day: u32| UsageRow {
        tenant: Uuid(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(tenant as u128 + 1)),
        workload: WorkloadKey::Known(tenant % 2),
        subscription: Some(Uuid(tenant as u128 * 7)),
        date: days(2026, 9, 1) + day as i32,
        counts: Counts::new([Some(day as u64), None, Some(3)]),
    };
    let by_tenant: Vec<UsageRow> = (0..65_536).map(|i| row(i / 50, i % 50)).collect();
    let by_day: Vec<UsageRow> = (0..65_536).map(|i| row(i % 1_311, i / 1_311)).collect();
    for (order, rows) in [("tenant by tenant", by_tenant), ("day by day", by_day)] {
        let wanted: Vec<(Uuid, String)> = rows.iter().step_by(100).map(|r| (r.tenant, "teams".to_string())).collect();
        c.bench_function(&format!("usage keys of 65536 rows, {order}"), |b| {
            b.iter_batched(
                || {
                    let index = UsageIndex::new(wanted.clone().into_iter(), days(2026, 12, 1));
                    (index, rows.iter().cloned().map(|r| Some(Ok(r))).collect::<Vec<_>>())
                },
                |(mut index, mut batch)| index.decide(&mut batch).len(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
}

criterion_group!(benches, calendar, response_walk, scoping, usage_keys);
criterion_main!(benches);
