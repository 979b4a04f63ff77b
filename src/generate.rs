//! `cpor generate`: deterministic inputs of any size with the shapes of real exports — several
//! partners per tenant over time, all four engagements, several subscriptions, responses of every
//! kind, a small share of bad records of every reject reason, and a holidays file.
//!
//! The same seed and size give the same bytes. Rows are streamed to the files, so a `large` dataset
//! (a million tenants, about 50 million usage rows) needs little memory.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::polars::prelude::*;

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

/// How the generated files are laid out: the canonical names and formats of SPEC section 2, or the
/// partner portal's export (SPEC 9: PascalCase headers, tab-separated, `M/D/YYYY` dates, portal
/// engagement names, country names, monthly usage in `usage.tsv.gz`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    #[default]
    Canonical,
    PartnerCenter,
}

impl Layout {
    /// The file name of one generated table (`claims`, `responses`, `usage`).
    pub fn file_name(self, table: &str, format: OutputFormat) -> String {
        match self {
            Layout::Canonical => format!("{table}.{}", format.extension()),
            Layout::PartnerCenter if table == "usage" => "usage.tsv.gz".to_string(),
            Layout::PartnerCenter => format!("{table}.tsv"),
        }
    }

    /// The flags `cpor run` needs to read this layout, after the input paths.
    pub fn run_flags(self) -> &'static str {
        match self {
            Layout::Canonical => "",
            Layout::PartnerCenter => " --date-order mdy --usage-period month",
        }
    }

    fn header(self, column: &'static str) -> &'static str {
        if self == Layout::Canonical {
            return column;
        }
        match column {
            "claim_id" => "ClaimId",
            "partner_id" => "MpnId",
            "tenant_id" => "CustomerTenantId",
            "engagement" => "EngagementName",
            "workload" => "WorkloadName",
            "subscription_id" => "SubscriptionId",
            "customer_country" => "CustomerCountry",
            "submitted_at" => "SubmittedDate",
            "notified_at" => "CustomerNotifiedDate",
            "response_id" => "ResponseId",
            "response" => "CustomerResponse",
            "responded_at" => "ResponseDate",
            "date" => "Date",
            "active_users" => "MonthlyActiveUsers",
            "paid_seats" => "PaidAvailableUnits",
            "assigned_seats" => "AssignedSeats",
            other => other,
        }
    }

    /// An engagement as the claims file writes it; `alternative` picks the canonical file's display
    /// name, or one of the portal's other accepted names.
    fn engagement(self, engagement: Engagement, alternative: bool) -> String {
        let portal = match (engagement, alternative) {
            (_, _) if self == Layout::Canonical => {
                return if alternative { engagement.display_name() } else { engagement.as_str() }.to_string();
            }
            (Engagement::ModernWorkSecurityUsage, false) => "Microsoft Online Services Usage (OSU) - Modern Work",
            (Engagement::ModernWorkSecurityUsage, true) => "Microsoft Online Service Usage (OSU) - Modern Work",
            (Engagement::BizappsPresalesAdvisor, _) => "Microsoft Online Service Advisor (OSA)",
            (Engagement::BizappsUsageRecognition, false) => "Usage Recognition- Biz Apps",
            (Engagement::BizappsUsageRecognition, true) => {
                "Microsoft Online Services Usage (OSU) - Business Applications"
            }
            (Engagement::BizappsRevenue, false) => "Microsoft Business Applications Revenue",
            (Engagement::BizappsRevenue, true) => "Microsoft Business Applications Revenue Recognition Association",
        };
        portal.to_string()
    }

    fn country(self, code: &'static str) -> &'static str {
        if self == Layout::Canonical {
            return code;
        }
        match code {
            "US" => "United States",
            "GB" => "United Kingdom",
            "DE" | "de" => "Germany",
            "FR" => "France",
            "JP" => "Japan",
            other => other,
        }
    }

    fn date(self, day: Days) -> String {
        let iso = format_date(day);
        if self == Layout::Canonical {
            return iso;
        }
        mdy(&iso)
    }

    /// A timestamp given as text in the canonical layout (a form of SPEC 2.4), as the portal writes
    /// it: `M/D/YYYY h:MM:SS AM` in UTC.
    fn instant(self, seconds: i64, canonical: &str) -> V {
        if self == Layout::Canonical {
            return text(canonical);
        }
        let iso = format_timestamp(seconds * MICROS_PER_SECOND);
        let clock: Vec<u32> =
            iso.get(11..19).unwrap_or("00:00:00").split(':').map(|p| p.parse().unwrap_or(0)).collect();
        let (hour, minute, second) = (clock[0], clock[1], clock[2]);
        let half = if hour < 12 { "AM" } else { "PM" };
        let hour = if hour % 12 == 0 { 12 } else { hour % 12 };
        text(format!("{} {hour}:{minute:02}:{second:02} {half}", mdy(&iso)))
    }
}

/// `YYYY-MM-DD...` as `M/D/YYYY`.
fn mdy(iso: &str) -> String {
    let part = |range: std::ops::Range<usize>| iso.get(range).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
    format!("{}/{}/{:04}", part(5..7), part(8..10), part(0..4))
}

/// The first day of the month of `day`.
fn month_start(day: Days) -> Days {
    let iso = format_date(day);
    let day_of_month = iso.get(8..10).and_then(|p| p.parse::<Days>().ok()).unwrap_or(1);
    day - (day_of_month - 1)
}

/// The output of a text table: plain or gzip-compressed.
enum Out {
    Plain(BufWriter<File>),
    Gz(Box<flate2::write::GzEncoder<BufWriter<File>>>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Plain(w) => w.write(buf),
            Out::Gz(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Gz(w) => w.flush(),
        }
    }
}

impl Out {
    fn finish(self) -> std::io::Result<()> {
        match self {
            Out::Plain(mut w) => w.flush(),
            Out::Gz(w) => w.finish()?.flush(),
        }
    }
}

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
    layout: Layout,
}

enum Sink {
    Csv(Box<csv::Writer<Out>>),
    Parquet { writer: Box<crate::polars::io::parquet::write::BatchedWriter<File>>, pending: Vec<Vec<V>> },
}

const PARQUET_CHUNK: usize = 1 << 20;

impl Table {
    fn create(
        dir: &Path,
        name: &str,
        format: OutputFormat,
        layout: Layout,
        columns: Vec<(&'static str, Kind)>,
    ) -> anyhow::Result<Table> {
        let file_name = layout.file_name(name, format);
        let path = dir.join(&file_name);
        let sink = match format {
            OutputFormat::Parquet if layout == Layout::Canonical => {
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
            _ => {
                let file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
                let out = if file_name.ends_with(".gz") {
                    Out::Gz(Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::default())))
                } else {
                    Out::Plain(file)
                };
                let delimiter = if layout == Layout::PartnerCenter { b'\t' } else { b',' };
                let mut writer = csv::WriterBuilder::new().flexible(true).delimiter(delimiter).from_writer(out);
                writer.write_record(columns.iter().map(|c| layout.header(c.0)))?;
                Sink::Csv(Box::new(writer))
            }
        };
        Ok(Table { columns, sink, rows: 0, layout })
    }

    fn is_csv(&self) -> bool {
        matches!(self.sink, Sink::Csv(_))
    }

    fn row(&mut self, values: Vec<V>) -> anyhow::Result<()> {
        self.rows += 1;
        match &mut self.sink {
            Sink::Csv(writer) => {
                let layout = self.layout;
                let text: Vec<String> = values
                    .into_iter()
                    .map(|v| match v {
                        V::Null => String::new(),
                        V::Text(t) => t,
                        V::Int(i) => i.to_string(),
                        V::Date(d) => layout.date(d),
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
            Sink::Csv(mut writer) => {
                writer.flush()?;
                writer.into_inner().map_err(|e| e.into_error())?.finish()?;
            }
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

/// Timestamps in the forms exports use: `Z`, an offset, a fraction, or no offset at all; in the
/// portal layout always `M/D/YYYY h:MM:SS AM` in UTC (the same draws, so the same data).
fn timestamp(rng: &mut Rng, t: Micros, layout: Layout) -> V {
    let utc = format_timestamp(t);
    let canonical = match rng.below(10) {
        0 => {
            let hours = rng.below(10) as i64 - 4;
            let local = format_timestamp(t + hours * 3600 * MICROS_PER_SECOND);
            let sign = if hours < 0 { '-' } else { '+' };
            format!("{}{sign}{:02}:00", local.trim_end_matches('Z'), hours.abs())
        }
        1 => utc.trim_end_matches('Z').replace('T', " "),
        _ => utc,
    };
    layout.instant(t.div_euclid(MICROS_PER_SECOND), &canonical)
}

struct Claimed {
    id: String,
    tenant: String,
}

/// Generates a dataset into `out`; returns a line per file with its record count. `out` is reserved
/// and written like a run's output (SPEC 6): absent, empty or an earlier `cpor generate` output, or
/// refused; written beside it and swapped into place when complete, marked as generated.
pub fn generate(
    tenants: usize,
    days: u32,
    seed: u64,
    format: OutputFormat,
    layout: Layout,
    out: &Path,
) -> anyhow::Result<Vec<String>> {
    let staged = Staged::new(out, Writer::Generate, &[])?;
    let lines = generate_into(tenants, days, seed, format, layout, staged.dir())?;
    staged.commit()?;
    Ok(lines)
}

/// Generates a dataset into the directory `out`, which exists.
fn generate_into(
    tenants: usize,
    days: u32,
    seed: u64,
    format: OutputFormat,
    layout: Layout,
    out: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut rng = Rng(seed ^ 0x5eed_c0de);
    let t = Kind::Text;
    let mut claims = Table::create(
        out,
        "claims",
        format,
        layout,
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
        layout,
        vec![("response_id", t), ("claim_id", t), ("tenant_id", t), ("response", t), ("responded_at", t)],
    )?;
    let mut usage = Table::create(
        out,
        "usage",
        format,
        layout,
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

        // Usage in the portal layout: one row per scope and month.
        if layout == Layout::PartnerCenter {
            for (workload, sub, _) in &scopes {
                monthly_usage(
                    &mut rng,
                    &mut usage,
                    &mut usage_faults_shown,
                    &tenant,
                    workload,
                    sub,
                    first_day,
                    as_of_day,
                )?;
            }
        }
        // Usage: one row per scope and day; the last day is after the as-of date (deferred).
        for (workload, sub, _) in scopes.iter().filter(|_| layout == Layout::Canonical) {
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
                let engagement_text = layout.engagement(engagement, rng.chance(0.15));
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
                    text(layout.country(country)),
                    timestamp(&mut rng, submitted * MICROS_PER_SECOND, layout),
                    notified.map_or(V::Null, |n| timestamp(&mut rng, n * MICROS_PER_SECOND, layout)),
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
        timestamp(rng, at * MICROS_PER_SECOND, table.layout),
    ];
    let fault = if no <= RESPONSE_FAULTS { Some(no - 1) } else { rng.chance(0.01).then(|| rng.below(RESPONSE_FAULTS)) };
    if let Some(fault) = fault {
        match fault {
            0 => row[3] = text("maybe later"),
            1 => row[1] = text("C999999999"),
            2 => row[2] = text(other.map_or_else(|| rng.uuid(), |o| o.tenant.clone())),
            3 => row[4] = timestamp(rng, (notified - 3600) * MICROS_PER_SECOND, table.layout),
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
        2 if table.layout == Layout::PartnerCenter => row[7] = text("13/45/2026 12:00:00 AM"),
        2 => row[7] = text("2026-13-45T00:00:00Z"),
        3 => row[6] = text("USA"),
        4 => row[3] = text("Partner Magic"),
        5 => {
            row[3] = text(table.layout.engagement(Engagement::BizappsRevenue, false));
            row[5] = V::Null;
        }
        6 if table.layout == Layout::PartnerCenter => {
            row[7] = table.layout.instant(AS_OF_SECONDS, GENERATED_AS_OF);
            row[8] = text("1/1/2020 12:00:00 AM");
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

/// The portal's monthly usage of one scope: the daily counts of the canonical layout, aggregated per
/// calendar month by their maximum (the month's peak: summing daily active users would count each
/// user once a day), over the days that have a count; a month whose days all lack a count leaves it
/// empty. Now and then the export already holds the next month (deferred in a run), and a small
/// share of rows carries a fault, each fault shown once first.
#[allow(clippy::too_many_arguments)]
fn monthly_usage(
    rng: &mut Rng,
    table: &mut Table,
    faults_shown: &mut u64,
    tenant: &str,
    workload: &str,
    sub: &Option<String>,
    first_day: Days,
    as_of_day: Days,
) -> anyhow::Result<()> {
    let mut active = 20 + rng.below(400) as i64;
    let seats = active + rng.below(200) as i64;
    let mut months: Vec<(Days, [Option<i64>; 3])> = Vec::new();
    for day in first_day..=as_of_day {
        active = (active + rng.below(21) as i64 - 10).max(0);
        let counts = [active, seats, (active + seats) / 2];
        let month = month_start(day);
        if months.last().map(|m| m.0) != Some(month) {
            months.push((month, [None; 3]));
        }
        if let Some((_, peak)) = months.last_mut() {
            for (slot, count) in peak.iter_mut().zip(counts) {
                if !rng.chance(0.03) {
                    *slot = Some(slot.map_or(count, |p| p.max(count)));
                }
            }
        }
    }
    if rng.chance(0.02) {
        if let Some(&(_, peak)) = months.last() {
            months.push((month_start(as_of_day + 40), peak));
        }
    }
    for (month, peak) in months {
        let row = vec![
            text(tenant),
            text(if rng.chance(0.05) { workload.to_uppercase() } else { workload.to_string() }),
            sub.clone().map_or(V::Null, V::Text),
            V::Date(month),
            peak[0].map_or(V::Null, V::Int),
            peak[1].map_or(V::Null, V::Int),
            peak[2].map_or(V::Null, V::Int),
        ];
        let fault = if *faults_shown < USAGE_FAULTS {
            *faults_shown += 1;
            Some(*faults_shown - 1)
        } else {
            rng.chance(0.01).then(|| rng.below(USAGE_FAULTS))
        };
        match fault {
            Some(fault) => bad_usage(fault, table, row)?,
            None => table.row(row)?,
        }
    }
    Ok(())
}

fn bad_usage(fault: u64, table: &mut Table, mut row: Vec<V>) -> anyhow::Result<()> {
    match fault {
        0 => row[0] = text("not-a-uuid"),
        1 if table.layout == Layout::PartnerCenter => row[3] = text("2/30/2026"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_partner_center_dates_and_names() {
        let pc = Layout::PartnerCenter;
        let day = (AS_OF_SECONDS / DAY) as Days;
        assert_eq!(pc.date(day), "11/23/2026");
        assert_eq!(Layout::Canonical.date(day), "2026-11-23");
        assert_eq!(pc.date(month_start(day)), "11/1/2026");
        assert_eq!(month_start(month_start(day)), month_start(day));
        let at = |seconds| match pc.instant(seconds, "") {
            V::Text(t) => t,
            _ => String::new(),
        };
        assert_eq!(at(AS_OF_SECONDS), "11/23/2026 6:00:00 AM");
        assert_eq!(at(AS_OF_SECONDS - 6 * 3600), "11/23/2026 12:00:00 AM");
        assert_eq!(at(AS_OF_SECONDS + 6 * 3600 + 65), "11/23/2026 12:01:05 PM");
        assert_eq!(at(AS_OF_SECONDS + 17 * 3600), "11/23/2026 11:00:00 PM");
        assert_eq!(pc.country("de"), "Germany");
        assert_eq!(pc.engagement(Engagement::BizappsUsageRecognition, false), "Usage Recognition- Biz Apps");
        assert_eq!(Layout::Canonical.engagement(Engagement::BizappsRevenue, false), "bizapps_revenue");
        assert_eq!(pc.file_name("usage", OutputFormat::Csv), "usage.tsv.gz");
        assert_eq!(Layout::Canonical.file_name("usage", OutputFormat::Parquet), "usage.parquet");
    }
}
