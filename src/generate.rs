//! `cpor generate`: deterministic inputs of any size with the shapes of real exports — several
//! partners per tenant over time, all four engagements, several subscriptions, responses of every
//! kind, a small share of bad records of every reject reason, and a holidays file.
//!
//! The same seed and size give the same bytes. Rows are streamed to the files, so a `large` dataset
//! (a million tenants, about 50 million usage rows) needs little memory.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::config::OutputFormat;
use crate::output::{Staged, Writer};
use crate::types::{format_date, format_timestamp, Days, Engagement, Micros, MICROS_PER_SECOND};

/// The instant generated data is planned around; `params.json` records it.
pub const GENERATED_AS_OF: &str = "2026-11-23T06:00:00Z";
const AS_OF_SECONDS: i64 = 1_795_413_600;
const DAY: i64 = 86_400;

/// SplitMix64: small, fast and fully determined by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn uuid(&mut self) -> String {
        let v = ((self.next() as u128) << 64) | self.next() as u128;
        crate::types::Uuid(v).to_string()
    }
}

const WORK_WORKLOADS: [&str; 7] = [
    "Microsoft 365 E3",
    "Microsoft 365 E5",
    "Teams",
    "Exchange Online",
    "Intune",
    "Entra ID P1",
    "Defender for Endpoint",
];
const BIZ_WORKLOADS: [&str; 6] = [
    "Dynamics 365 Sales",
    "Dynamics 365 Customer Service",
    "Power Apps",
    "Power Automate",
    "Business Central",
    "Power BI",
];
const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "FR", "JP", "de"];

/// A generated value; `Raw` is a whole CSV line with the wrong number of fields.
enum V {
    Null,
    Text(String),
    Int(i64),
    Date(Days),
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Date,
}

/// Streams rows of one table to CSV or Parquet.
struct Table {
    columns: Vec<(&'static str, Kind)>,
    sink: Sink,
    rows: u64,
}

enum Sink {
    Csv(Box<csv::Writer<BufWriter<File>>>),
    Parquet { writer: Box<polars::io::parquet::write::BatchedWriter<File>>, pending: Vec<Vec<V>> },
}

const PARQUET_CHUNK: usize = 1 << 20;

impl Table {
    fn create(
        dir: &Path,
        name: &str,
        format: OutputFormat,
        columns: Vec<(&'static str, Kind)>,
    ) -> anyhow::Result<Table> {
        let path = dir.join(format!("{name}.{}", format.extension()));
        let sink = match format {
            OutputFormat::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .flexible(true)
                    .from_writer(BufWriter::with_capacity(1 << 20, File::create(&path)?));
                writer.write_record(columns.iter().map(|c| c.0))?;
                Sink::Csv(Box::new(writer))
            }
            OutputFormat::Parquet => {
                let schema: Schema = columns
                    .iter()
                    .map(|(n, k)| {
                        let dtype = match k {
                            Kind::Text => DataType::String,
                            Kind::Int => DataType::Int64,
                            Kind::Date => DataType::Date,
                        };
                        Field::new((*n).into(), dtype)
                    })
                    .collect();
                let writer = ParquetWriter::new(File::create(&path)?).batched(&schema)?;
                Sink::Parquet { writer: Box::new(writer), pending: columns.iter().map(|_| Vec::new()).collect() }
            }
        };
        Ok(Table { columns, sink, rows: 0 })
    }

    fn is_csv(&self) -> bool {
        matches!(self.sink, Sink::Csv(_))
    }

    fn row(&mut self, values: Vec<V>) -> anyhow::Result<()> {
        self.rows += 1;
        match &mut self.sink {
            Sink::Csv(writer) => {
                let text: Vec<String> = values
                    .into_iter()
                    .map(|v| match v {
                        V::Null => String::new(),
                        V::Text(t) => t,
                        V::Int(i) => i.to_string(),
                        V::Date(d) => format_date(d),
                    })
                    .collect();
                writer.write_record(&text)?;
            }
            Sink::Parquet { pending, .. } => {
                for (column, value) in pending.iter_mut().zip(values) {
                    column.push(value);
                }
                if pending[0].len() >= PARQUET_CHUNK {
                    self.flush()?;
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let Sink::Parquet { writer, pending } = &mut self.sink else { return Ok(()) };
        if pending[0].is_empty() {
            return Ok(());
        }
        let mut columns = Vec::new();
        for ((name, kind), values) in self.columns.iter().zip(pending.iter_mut()) {
            let values = std::mem::take(values);
            let column = match kind {
                Kind::Text => Column::new(
                    (*name).into(),
                    values.into_iter().map(|v| if let V::Text(t) = v { Some(t) } else { None }).collect::<Vec<_>>(),
                ),
                Kind::Int => Column::new(
                    (*name).into(),
                    values.into_iter().map(|v| if let V::Int(i) = v { Some(i) } else { None }).collect::<Vec<_>>(),
                ),
                Kind::Date => Series::new(
                    (*name).into(),
                    values.into_iter().map(|v| if let V::Date(d) = v { Some(d) } else { None }).collect::<Vec<_>>(),
                )
                .into_date()
                .into_column(),
            };
            columns.push(column);
        }
        writer.write_batch(&DataFrame::new_infer_height(columns)?)?;
        Ok(())
    }

    /// Writes a CSV line with one field too many (Parquet cannot hold such a row).
    fn malformed(&mut self, mut values: Vec<V>) -> anyhow::Result<()> {
        if self.is_csv() {
            values.push(V::Text("stray".into()));
            self.row(values)?;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<u64> {
        self.flush()?;
        match self.sink {
            Sink::Csv(mut writer) => writer.flush()?,
            Sink::Parquet { writer, .. } => {
                writer.finish()?;
            }
        }
        Ok(self.rows)
    }
}

fn text(s: impl Into<String>) -> V {
    V::Text(s.into())
}

/// Timestamps in the forms exports use: `Z`, an offset, a fraction, or no offset at all.
fn timestamp(rng: &mut Rng, t: Micros) -> V {
    let utc = format_timestamp(t);
    match rng.below(10) {
        0 => {
            let hours = rng.below(10) as i64 - 4;
            let local = format_timestamp(t + hours * 3600 * MICROS_PER_SECOND);
            let sign = if hours < 0 { '-' } else { '+' };
            text(format!("{}{sign}{:02}:00", local.trim_end_matches('Z'), hours.abs()))
        }
        1 => text(utc.trim_end_matches('Z').replace('T', " ")),
        _ => text(utc),
    }
}

struct Claimed {
    id: String,
    tenant: String,
}

/// Generates a dataset into `out`; returns a line per file with its record count. `out` is reserved
/// and written like a run's output (SPEC 6): absent, empty or an earlier `cpor generate` output, or
/// refused; written beside it and swapped into place when complete, marked as generated.
pub fn generate(tenants: usize, days: u32, seed: u64, format: OutputFormat, out: &Path) -> anyhow::Result<Vec<String>> {
    let staged = Staged::new(out, Writer::Generate, &[])?;
    let lines = generate_into(tenants, days, seed, format, staged.dir())?;
    staged.commit()?;
    Ok(lines)
}

/// Generates a dataset into the directory `out`, which exists.
fn generate_into(
    tenants: usize,
    days: u32,
    seed: u64,
    format: OutputFormat,
    out: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut rng = Rng(seed ^ 0x5eed_c0de);
    let t = Kind::Text;
    let mut claims = Table::create(
        out,
        "claims",
        format,
        vec![
            ("claim_id", t),
            ("partner_id", t),
            ("tenant_id", t),
            ("engagement", t),
            ("workload", t),
            ("subscription_id", t),
            ("customer_country", t),
            ("submitted_at", t),
            ("notified_at", t),
        ],
    )?;
    let mut responses = Table::create(
        out,
        "responses",
        format,
        vec![("response_id", t), ("claim_id", t), ("tenant_id", t), ("response", t), ("responded_at", t)],
    )?;
    let mut usage = Table::create(
        out,
        "usage",
        format,
        vec![
            ("tenant_id", t),
            ("workload", t),
            ("subscription_id", t),
            ("date", Kind::Date),
            ("active_users", Kind::Int),
            ("paid_seats", Kind::Int),
            ("assigned_seats", Kind::Int),
        ],
    )?;
    let partners: Vec<String> =
        (0..(tenants / 40).max(12)).map(|i| format!("{}", 4_000_000 + i * 7 + (seed % 7) as usize)).collect();
    let as_of_day = (AS_OF_SECONDS / DAY) as Days;
    let first_day = as_of_day - days as Days + 2;
    let (mut claim_no, mut response_no) = (0u64, 0u64);
    let mut last_claim: Option<Claimed> = None;
    let mut usage_faults_shown = 0;

    for _ in 0..tenants {
        let tenant = rng.uuid();
        let country = *rng.pick(&COUNTRIES);
        let mut scopes: Vec<(&str, Option<String>, bool)> = Vec::new();
        scopes.push((*rng.pick(&WORK_WORKLOADS), Some(rng.uuid()), false));
        if rng.chance(0.35) {
            scopes.push((*rng.pick(&WORK_WORKLOADS), Some(rng.uuid()), false));
        }
        if rng.chance(0.45) {
            let workload = *rng.pick(&BIZ_WORKLOADS);
            scopes.push((workload, Some(rng.uuid()), true));
            if rng.chance(0.3) {
                scopes.push((workload, Some(rng.uuid()), true));
            }
        }
        scopes.dedup_by(|a, b| a.0 == b.0 && !a.2 && !b.2);

        // Usage: one row per scope and day; the last day is after the as-of date (deferred).
        for (workload, sub, _) in &scopes {
            let mut active = 20 + rng.below(400) as i64;
            let seats = active + rng.below(200) as i64;
            for day in first_day..=as_of_day + 1 {
                active = (active + rng.below(21) as i64 - 10).max(0);
                let counts = [active, seats, (active + seats) / 2];
                let value = |i: usize, rng: &mut Rng| if rng.chance(0.03) { V::Null } else { V::Int(counts[i]) };
                let row = vec![
                    text(&tenant),
                    text(if rng.chance(0.05) { workload.to_uppercase() } else { workload.to_string() }),
                    sub.clone().map_or(V::Null, V::Text),
                    V::Date(day),
                    value(0, &mut rng),
                    value(1, &mut rng),
                    value(2, &mut rng),
                ];
                let fault = if usage_faults_shown < USAGE_FAULTS {
                    usage_faults_shown += 1;
                    Some(usage_faults_shown - 1)
                } else {
                    rng.chance(0.002).then(|| rng.below(USAGE_FAULTS))
                };
                if let Some(fault) = fault {
                    bad_usage(fault, &mut usage, row)?;
                } else {
                    usage.row(row)?;
                }
            }
        }

        // Claims: most scopes are claimed; some twice by another partner (contests) or by the same
        // partner again (duplicates).
        for (workload, sub, biz) in &scopes {
            if !rng.chance(0.7) {
                continue;
            }
            let partner = rng.pick(&partners).clone();
            let claimants = if rng.chance(0.1) { 2 } else { 1 };
            for k in 0..claimants {
                let partner = if k == 1 && rng.chance(0.6) { rng.pick(&partners).clone() } else { partner.clone() };
                claim_no += 1;
                let id = format!("C{claim_no:09}");
                let engagement =
                    if *biz { *rng.pick(&Engagement::ALL[1..]) } else { Engagement::ModernWorkSecurityUsage };
                let engagement_text = if rng.chance(0.15) {
                    engagement.display_name().to_string()
                } else {
                    engagement.as_str().to_string()
                };
                let submitted =
                    AS_OF_SECONDS - rng.below(45 * DAY as u64) as i64 + if rng.chance(0.01) { 2 * DAY } else { 0 };
                let notified = (!rng.chance(0.05)).then(|| submitted + rng.below(2 * DAY as u64) as i64);
                let mut row = vec![
                    text(&id),
                    text(&partner),
                    text(&tenant),
                    text(engagement_text),
                    text(*workload),
                    sub.clone().filter(|_| *biz || rng.chance(0.5)).map_or(V::Null, V::Text),
                    text(country),
                    timestamp(&mut rng, submitted * MICROS_PER_SECOND),
                    notified.map_or(V::Null, |n| timestamp(&mut rng, n * MICROS_PER_SECOND)),
                ];
                // The first claims show each fault once, then a small share at random.
                let fault = if claim_no <= CLAIM_FAULTS {
                    Some(claim_no - 1)
                } else {
                    rng.chance(0.004).then(|| rng.below(CLAIM_FAULTS))
                };
                if let Some(fault) = fault {
                    bad_claim(fault, &mut claims, &mut row, last_claim.as_ref())?;
                    continue;
                }
                claims.row(row)?;
                let claimed = Claimed { id, tenant: tenant.clone() };
                if let Some(n) = notified {
                    for _ in 0..rng.below(3) {
                        response_no += 1;
                        respond(&mut rng, &mut responses, response_no, &claimed, n, last_claim.as_ref())?;
                    }
                }
                last_claim = Some(claimed);
            }
        }
    }

    let mut lines = Vec::new();
    for (name, table) in [("claims", claims), ("responses", responses), ("usage", usage)] {
        lines.push(format!("{name}: {} records", table.finish()?));
    }
    write_holidays(&out.join("holidays.csv"))?;
    let params = format!("{{\"as_of\": \"{GENERATED_AS_OF}\", \"window_days\": 5, \"timezone\": \"UTC\"}}\n");
    fs::write(out.join("params.json"), params)?;
    Ok(lines)
}

const RESPONSE_FAULTS: u64 = 8;

/// A response of some kind: early accept, opt-out in or after the window, late accept, an alias,
/// sometimes after the as-of instant; now and then a bad one.
fn respond(
    rng: &mut Rng,
    table: &mut Table,
    no: u64,
    claim: &Claimed,
    notified: i64,
    other: Option<&Claimed>,
) -> anyhow::Result<()> {
    let words = ["accept", "opt_out", "OPT-OUT", "declined", "Approved", "optout", "accepted", "decline"];
    let at = notified + rng.below(20 * DAY as u64) as i64;
    let mut row = vec![
        text(format!("R{no:09}")),
        text(&claim.id),
        text(&claim.tenant),
        text(*rng.pick(&words)),
        timestamp(rng, at * MICROS_PER_SECOND),
    ];
    let fault = if no <= RESPONSE_FAULTS { Some(no - 1) } else { rng.chance(0.01).then(|| rng.below(RESPONSE_FAULTS)) };
    if let Some(fault) = fault {
        match fault {
            0 => row[3] = text("maybe later"),
            1 => row[1] = text("C999999999"),
            2 => row[2] = text(other.map_or_else(|| rng.uuid(), |o| o.tenant.clone())),
            3 => row[4] = timestamp(rng, (notified - 3600) * MICROS_PER_SECOND),
            4 => row[0] = text(format!("R{:09}", no.saturating_sub(1).max(1))),
            5 => row[4] = text("yesterday"),
            6 => row[2] = V::Null,
            _ => row[0] = text("R 1"),
        }
    }
    table.row(row)
}

const CLAIM_FAULTS: u64 = 11;

fn bad_claim(fault: u64, table: &mut Table, row: &mut Vec<V>, earlier: Option<&Claimed>) -> anyhow::Result<()> {
    match fault {
        0 => row[0] = text("bad/id"),
        1 => row[2] = text("not-a-uuid"),
        2 => row[7] = text("2026-13-45T00:00:00Z"),
        3 => row[6] = text("USA"),
        4 => row[3] = text("Partner Magic"),
        5 => {
            row[3] = text("bizapps_revenue");
            row[5] = V::Null;
        }
        6 => {
            row[7] = text(GENERATED_AS_OF);
            row[8] = text("2020-01-01T00:00:00Z");
        }
        7 => row[1] = V::Null,
        8 => row[0] = text(earlier.map_or("C000000001".to_string(), |c| c.id.clone())),
        9 => row[4] = text("=HYPERLINK(\"http://example.com\",\"Teams\")"),
        _ => return table.malformed(std::mem::take(row)),
    }
    table.row(std::mem::take(row))
}

const USAGE_FAULTS: u64 = 8;

fn bad_usage(fault: u64, table: &mut Table, mut row: Vec<V>) -> anyhow::Result<()> {
    match fault {
        0 => row[0] = text("not-a-uuid"),
        1 if table.is_csv() => row[3] = text("2026-02-30"),
        2 => row[4] = V::Int(-3),
        3 => {
            row[4] = V::Null;
            row[5] = V::Null;
            row[6] = V::Null;
        }
        4 => {
            // The same key twice: the second is a duplicate.
            let copy = row.iter().map(|v| match v {
                V::Null => V::Null,
                V::Text(t) => V::Text(t.clone()),
                V::Int(i) => V::Int(*i),
                V::Date(d) => V::Date(*d),
            });
            table.row(copy.collect())?;
        }
        5 => row[1] = V::Null,
        6 => row[1] = text("@SUM(1)"),
        _ => return table.malformed(row),
    }
    table.row(row)
}

fn write_holidays(path: &PathBuf) -> std::io::Result<()> {
    let rows = [
        ("2026-11-26", "US", "Thanksgiving Day"),
        ("2026-11-11", "US", "Veterans Day"),
        ("2026-11-11", "FR", "Armistice Day"),
        ("2026-11-03", "JP", "Culture Day"),
        ("2026-11-23", "JP", "Labour Thanksgiving Day"),
        ("2026-10-03", "DE", "Day of German Unity"),
        ("2026-12-25", "", "Christmas Day"),
        ("2026-11-27", "", "Company day"),
    ];
    let mut text = String::from("date,country,name\n");
    for (date, country, name) in rows {
        text.push_str(&format!("{date},{country},{name}\n"));
    }
    fs::write(path, text)
}
