//! Inner rules, timed with criterion: calendar arithmetic, the response walk, the report scoping
//! filter, a report file's CSV, usage keys and the kept rows' report order, the creator's list of
//! report files, the usage rows' own checks (UUIDs; a Parquet file's rows, read and checked), and the
//! claims' checks (a Parquet file's claims, read and checked between them).

// A bench on fixed inputs stops loudly if a fixed input does not parse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use chrono_tz::Tz;
use cpor::calendar::{days, Calendar, Holiday, Weekend};
use cpor::checks::claims::{ClaimChecks, ClaimKeys};
use cpor::config::OutputFormat;
use cpor::evaluate::walk;
use cpor::generate::{generate, Layout};
use cpor::hashing::FastMap;
use cpor::input::columns::ColumnMap;
use cpor::input::{read_file, FileFormat, InputFile, Prepared};
use cpor::output::{needs_quotes, report_file, report_files};
use cpor::records::{Claim, ClaimParser, Counts, RecentUuid, UsageParser, UsageRow, WorkloadIds};
use cpor::report::{report_rows, Reach, Report};
use cpor::types::{parse_timestamp, Country, Engagement, Id, ResponseKind, Uuid};
use cpor::usage::{KeptRow, UsageIndex};
use cpor::values::{DateOrder, EngagementNames, UsagePeriod};
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

/// A claim of these ids and tenant, of a subscription-scoped engagement, notified at the epoch.
fn claim(id: &str, partner: &str, tenant: u128) -> Claim {
    Claim {
        id: Id::parse(id).unwrap(),
        partner_id: Id::parse(partner).unwrap(),
        tenant: Uuid(tenant),
        engagement: Engagement::BizappsRevenue,
        workload: "Power Apps".into(),
        subscription: Some(Uuid(7)),
        country: None,
        submitted_at: 0,
        notified_at: Some(0),
    }
}

fn scoping(c: &mut Criterion) {
    let claim = claim("C1", "P1", 1);
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
        b.iter(|| report_rows(black_box(&claim), black_box(&group), &[], window, UsagePeriod::Day).rows.len())
    });
    let report = report_rows(&claim, &group, &[], window, UsagePeriod::Day);
    c.bench_function(&format!("a report file of {} rows as CSV", report.rows.len()), |b| {
        b.iter(|| report_file(black_box(&claim), black_box(&report), OutputFormat::Csv).unwrap().len())
    });
    // The large profile's reports hold about 25 rows: what a file costs beside its rows shows here.
    let small = Report { rows: report.rows[..25].to_vec(), ..report.clone() };
    c.bench_function("a report file of 25 rows as CSV", |b| {
        b.iter(|| report_file(black_box(&claim), black_box(&small), OutputFormat::Csv).unwrap().len())
    });
}

/// The uniqueness rule and the keeping of report rows over one batch of 65,536 usage rows: 1,300
/// tenants of 50 days each, their rows together (as the generator writes them) or day by day.
fn usage_keys(c: &mut Criterion) {
    let row = |tenant: u32, day: u32| UsageRow {
        tenant: Uuid(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(tenant as u128 + 1)),
        workload: tenant % 2,
        subscription: Some(Uuid(tenant as u128 * 7)),
        date: days(2026, 9, 1) + day as i32,
        counts: Counts::new([Some(day as u64), None, Some(3)]),
    };
    let by_tenant: Vec<UsageRow> = (0..65_536).map(|i| row(i / 50, i % 50)).collect();
    let by_day: Vec<UsageRow> = (0..65_536).map(|i| row(i % 1_311, i / 1_311)).collect();
    // 262 tenants of five subscriptions each, a subscription's 50 days together.
    let five_subscriptions: Vec<UsageRow> = (0..65_536)
        .map(|i| UsageRow { subscription: Some(Uuid(u128::from(i / 50))), ..row(i / 250, i % 50) })
        .collect();
    let orders =
        [("tenant by tenant", by_tenant), ("day by day", by_day), ("five subscriptions a tenant", five_subscriptions)];
    for (order, rows) in orders {
        let wanted: Vec<(Uuid, &str, Reach)> =
            rows.iter().step_by(100).map(|r| (r.tenant, "teams", Reach::ALL)).collect();
        c.bench_function(&format!("usage keys of 65536 rows, {order}"), |b| {
            b.iter_batched(
                || {
                    let index = UsageIndex::new(&wanted, days(2026, 12, 1), UsagePeriod::Day);
                    (index, rows.iter().cloned().map(|r| Some(Ok(r))).collect::<Vec<_>>())
                },
                |(mut index, mut batch)| index.decide(&mut batch).len(),
                criterion::BatchSize::LargeInput,
            )
        });
        // The rows kept for reports (the wanted tenants' 50 days) put in report order at the end.
        c.bench_function(&format!("usage kept from 65536 rows put in report order, {order}"), |b| {
            b.iter_batched(
                || {
                    let mut index = UsageIndex::new(&wanted, days(2026, 12, 1), UsagePeriod::Day);
                    index.decide(&mut rows.iter().cloned().map(|r| Some(Ok(r))).collect::<Vec<_>>());
                    index
                },
                |index| index.finish().bucket_count(),
                criterion::BatchSize::LargeInput,
            )
        });
    }
}

/// Finding series an earlier batch made, for rows in no order (a file sorted by date, or
/// shuffled): 110,000 tenants of three series each, as many as the medium profile's; the first
/// batch makes them, then a day of every series comes scattered, in parts of 4,096 rows as the
/// reader hands them over (`input::read_file`).
fn usage_keys_scattered(c: &mut Criterion) {
    let row = |n: u32, day: u32| UsageRow {
        tenant: Uuid(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(u128::from(n / 3) + 1)),
        workload: n % 2,
        subscription: Some(Uuid(u128::from(n))),
        date: days(2026, 9, 1) + day as i32,
        counts: Counts::new([Some(1), None, Some(3)]),
    };
    let series = 330_000u32;
    let first: Vec<UsageRow> = (0..series).map(|n| row(n, 0)).collect();
    // 7,919 is a prime that does not divide 330,000: n ↦ 7,919·n mod 330,000 is a permutation.
    let second: Vec<UsageRow> = (0..series).map(|n| row(n * 7_919 % series, 1)).collect();
    let batch = |rows: &[UsageRow]| rows.iter().cloned().map(|r| Some(Ok(r))).collect::<Vec<_>>();
    c.bench_function("usage keys of 330000 rows in no order, their series made by an earlier batch", |b| {
        b.iter_batched(
            || {
                let mut index = UsageIndex::new(&[], days(2026, 12, 1), UsagePeriod::Day);
                index.decide(&mut batch(&first));
                let parts: Vec<_> = second.chunks(4_096).map(batch).collect();
                (index, parts)
            },
            |(mut index, parts)| parts.into_iter().map(|mut part| index.decide(&mut part).len()).sum::<usize>(),
            criterion::BatchSize::LargeInput,
        )
    });
}

/// The creator's list of report files (`report_files`): 200,000 claims of 5,000 partners, in an
/// order that is not the partners', grouped by partner.
fn report_file_list(c: &mut Criterion) {
    let claims: Vec<Claim> = (0..200_000u32)
        .map(|i| claim(&format!("C{i:09}"), &format!("P{}", i.wrapping_mul(7_919) % 5_000), u128::from(i)))
        .collect();
    c.bench_function("report files of 200000 claims grouped by 5000 partners", |b| {
        b.iter(|| report_files(&mut claims.iter()).len())
    });
}

/// The CSV quoting test (`needs_quotes`) on a manifest's and a ledger's fields: 100,000 of them, a
/// sha256, a report's path, a timestamp and a claim id in turn, none needing quotes (so every byte is
/// read); word at a time as cpor tests them, and byte at a time as it did before.
fn csv_quoting(c: &mut Criterion) {
    let kinds = [
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "reports/P0001234/C000123456.csv",
        "2026-11-23T06:00:00Z",
        "C000123456",
    ];
    let fields: Vec<Vec<u8>> = (0..100_000).map(|i| kinds[i % kinds.len()].as_bytes().to_vec()).collect();
    c.bench_function("CSV quoting test of 100000 ledger and manifest fields, word at a time", |b| {
        b.iter(|| fields.iter().filter(|f| needs_quotes(f)).count())
    });
    c.bench_function("CSV quoting test of 100000 ledger and manifest fields, byte at a time", |b| {
        b.iter(|| fields.iter().filter(|f| f.iter().any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))).count())
    });
}

/// A UUID column's texts as a parsing thread meets them: 65,536 texts in runs of 50 equal ones,
/// checked through the thread's last UUID (`RecentUuid`), and each parsed on its own.
fn uuids(c: &mut Criterion) {
    let texts: Vec<String> = (0..65_536u32)
        .map(|i| Uuid(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(u128::from(i / 50) + 1)))
        .map(|u| String::from_utf8(u.to_text().to_vec()).unwrap())
        .collect();
    c.bench_function("UUID texts of 65536 usage rows, runs of 50, through the last UUID", |b| {
        b.iter(|| {
            let mut recent = RecentUuid::default();
            texts.iter().filter_map(|t| recent.of_text(black_box(t))).count()
        })
    });
    c.bench_function("UUID texts of 65536 usage rows, each parsed", |b| {
        b.iter(|| texts.iter().filter_map(|t| Uuid::parse(black_box(t))).count())
    });
}

/// One file (`name`, in `format`) of a dataset `cpor generate` writes into a temporary directory
/// (kept as long as the returned guard).
fn generated(tenants: usize, days: u32, name: &str, format: OutputFormat) -> (tempfile::TempDir, InputFile) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(tenants, days, 1, format, Layout::Canonical, &data).unwrap();
    let read_as = if format == OutputFormat::Csv { FileFormat::Csv } else { FileFormat::Parquet };
    let file = InputFile::plain(data.join(name), read_as);
    (dir, file)
}

/// A usage Parquet file of `cpor generate` (6,000 tenants, about 300,000 rows) read and each row
/// checked (SPEC 2.3's own checks), records dropped batch by batch: the validate stage of a run
/// without the uniqueness rule. The file is decoded on a thread of its own meanwhile. Twice: with
/// no workload known beforehand (as `cpor validate` reads usage: each row's workload is a shared
/// text), and with every workload named by a claim (as a run reads it: each is a number). Then the
/// same rows as a usage.csv (about 33 MB), with no workload known: CSV parsing and the checks.
fn usage_rows(c: &mut Criterion) {
    let (_dir, file) = generated(6_000, 30, "usage.parquet", OutputFormat::Parquet);
    let (_csv_dir, csv) = generated(6_000, 30, "usage.csv", OutputFormat::Csv);
    let parser = |workloads| UsageParser {
        workloads: WorkloadIds::new(workloads),
        date_order: DateOrder::default(),
        period: UsagePeriod::Day,
        shard: None,
    };
    // The file's workloads, as the parser numbers them when none is known.
    let first = parser(FastMap::default());
    read_file(&first, &file, &ColumnMap::default(), false, |_, _, checked| checked.clear()).unwrap();
    let names = first.workloads.all();
    assert!(names.len() > 1, "the generated usage names several workloads");
    let (unknown, known) = (parser(FastMap::default()), parser(names));
    let mut group = c.benchmark_group("usage rows");
    group.sample_size(20);
    let runs = [
        ("usage.parquet", "no workload known", &unknown, &file),
        ("usage.parquet", "every workload named by a claim", &known, &file),
        ("usage.csv", "no workload known", &unknown, &csv),
    ];
    for (name, label, parser, file) in runs {
        group.bench_function(format!("a generated {name} of 6000 tenants, read and checked, {label}"), |b| {
            b.iter(|| {
                let mut accepted = 0usize;
                read_file(parser, file, &ColumnMap::default(), false, |_, _, checked| {
                    accepted += checked.iter().filter(|r| matches!(r, Some(Ok(_)))).count();
                    checked.clear();
                })
                .unwrap();
                accepted
            })
        });
    }
    group.finish();
}

/// The claims of a generated claims.parquet (60,000 tenants, about 100,000 claims) read, checked on
/// their own, and checked between them in file order (`ClaimChecks`): the claims part of the
/// validate stage.
fn claim_rows(c: &mut Criterion) {
    let (_dir, file) = generated(60_000, 2, "claims.parquet", OutputFormat::Parquet);
    let parser = Prepared {
        parser: ClaimParser { date_order: DateOrder::default(), engagements: EngagementNames::default() },
        prepare: ClaimKeys::of,
    };
    let mut group = c.benchmark_group("claim rows");
    group.sample_size(20);
    group.bench_function("a generated claims.parquet of 60000 tenants, read and checked", |b| {
        b.iter(|| {
            let mut checks = ClaimChecks::default();
            let mut known = 0usize;
            read_file(&parser, &file, &ColumnMap::default(), false, |_, _, checked| {
                for (claim, keys) in checked.drain(..).flatten().flatten() {
                    known += usize::from(checks.check(&claim, keys).is_none());
                }
            })
            .unwrap();
            known
        })
    });
    group.finish();
}

/// The usage index made from the claims with a report, before usage is read: 600,000 claims of
/// 200,000 tenants, three workloads each, in five spellings, given in tenant order.
fn usage_index_of_claims(c: &mut Criterion) {
    let spellings = ["Teams", "Exchange Online", "Intune", "TEAMS", "Power BI"];
    let wanted: Vec<(Uuid, &str, Reach)> = (0..600_000u32)
        .map(|k| {
            let tenant = Uuid(0x9e37_79b9_7f4a_7c15_u128.wrapping_mul(u128::from(k / 3) + 1));
            (tenant, spellings[(k % 5) as usize], Reach::of((days(2026, 10, 1), days(2026, 12, 1))))
        })
        .collect();
    c.bench_function("usage index of 600000 claims' tenants and workloads", |b| {
        b.iter(|| UsageIndex::new(black_box(&wanted), days(2026, 12, 1), UsagePeriod::Day).known_workloads().len())
    });
}

criterion_group!(
    benches,
    usage_index_of_claims,
    calendar,
    response_walk,
    scoping,
    usage_keys,
    usage_keys_scattered,
    report_file_list,
    csv_quoting,
    uuids,
    usage_rows,
    claim_rows
);
criterion_main!(benches);
