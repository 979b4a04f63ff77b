//! summary.json and summary.html (SPEC 7): the run's figures, assembled from the decided claims and
//! the inputs' accounts, and the accounting rule that nothing is lost — for every input, records =
//! accepted + rejected + deferred — which every run and validation checks before it finishes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::calendar::weekday;
use crate::config::RunConfig;
use crate::error::{Cause, CporError};
use crate::evaluate::Status;
use crate::hashing::{FastMap, FirstCome};
use crate::pipeline::Evaluated;
pub use crate::pipeline::{FileSummary, InputSummary, Timings};
use crate::rejects::{Reject, RejectReason, Source};
use crate::shard::Shard;
use crate::types::{format_date, format_timestamp, parse_timestamp, Country, Days, Micros};

pub mod html;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ReportsSummary {
    pub files: u64,
    pub rows: u64,
}

/// A partner's figures, for the largest partners of summary.html.
/// What summary.json counts of one decided claim (`Summary::count_claims`): read from the run's
/// decided claims, or from a shard's ledger line when shards are merged.
#[derive(Clone, Copy, Debug)]
pub struct ClaimCount<'a> {
    pub partner_id: &'a str,
    pub engagement: &'a str,
    pub status: Status,
    /// The report's rows; `None`: the claim has no report.
    pub report_rows: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartnerFigures {
    pub partner_id: String,
    pub claims: u64,
    pub with_report: u64,
    pub report_rows: u64,
}

/// The options that shape a run's outputs beyond summary.json's top-level figures (SPEC 9, 10):
/// recorded so that an analyst sees how the inputs were read, and so that `cpor merge` refuses shards
/// run with different ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Options {
    pub date_order: String,
    pub usage_period: String,
    /// `--delimiter`; `null`: sniffed per file.
    pub delimiter: Option<String>,
    /// `--encoding`; `null`: UTF-8, or UTF-16 with a byte-order mark.
    pub encoding: Option<String>,
    /// The config file's `[engagements]`: name → engagement code.
    pub engagements: BTreeMap<String, String>,
    /// The config file's `[columns.*]` tables: input → column → header.
    pub columns: BTreeMap<String, BTreeMap<String, String>>,
    /// `--previous`.
    pub previous: Option<String>,
    /// The sha256 of the ledger file `--previous` holds.
    pub previous_ledger_sha256: Option<String>,
    /// `--soon-days`: the business days ahead that `closing_soon` looks.
    pub soon_days: u32,
}

impl Options {
    fn of(config: &RunConfig) -> Options {
        Options {
            date_order: config.date_order.as_str().to_string(),
            usage_period: config.usage_period.as_str().to_string(),
            delimiter: config.text.delimiter.map(|d| match d {
                b'\t' => "tab".to_string(),
                d => (d as char).to_string(),
            }),
            encoding: config.text.encoding.map(|e| e.name().to_string()),
            engagements: config
                .engagements
                .extra()
                .map(|(name, e)| (name.to_string(), e.as_str().to_string()))
                .collect(),
            columns: config.columns.tables(),
            previous: config.previous.as_ref().map(|p| p.display().to_string()),
            previous_ledger_sha256: None,
            soon_days: config.soon_days,
        }
    }
}

/// A claim pending at T whose window closes within `--soon-days` business days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClosingSoon {
    pub claim_id: String,
    pub partner_id: String,
    pub tenant_id: String,
    pub window_closes_at: String,
}

/// Official claims by engagement and the week (its Monday) they became official.
fn official_by_week(config: &RunConfig, evaluated: &Evaluated) -> BTreeMap<String, BTreeMap<String, u64>> {
    // Counted under (engagement, Monday) and named once per key: a run has millions of claims.
    let mut by_week: FastMap<(&str, Days), u64> = FastMap::default();
    for decided in &evaluated.decided {
        if let Some(official_at) = decided.evaluation.official_at() {
            let date = config.calendar.local_date(official_at);
            let monday = date - weekday(date).num_days_from_monday() as Days;
            *by_week.entry((decided.claim.engagement.as_str(), monday)).or_default() += 1;
        }
    }
    let mut named: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for ((engagement, monday), claims) in by_week {
        *named.entry(engagement.to_string()).or_default().entry(format_date(monday)).or_default() += claims;
    }
    named
}

/// Pending claims whose window closes within `soon_days` business days of T, sorted.
fn closing_soon(config: &RunConfig, evaluated: &Evaluated) -> Vec<ClosingSoon> {
    // The limit depends on the claim's country only: worked out once per country.
    let mut limits: FastMap<Option<Country>, Option<Micros>> = FastMap::default();
    let mut closing: Vec<ClosingSoon> = evaluated
        .decided
        .iter()
        .filter(|d| d.evaluation.status == Status::Pending)
        .filter_map(|d| {
            let closes = d.evaluation.window_closes_at?;
            let limit = *limits.entry(d.claim.country).or_insert_with(|| {
                config.calendar.end_of_business_days_after(config.as_of, config.soon_days, d.claim.country)
            });
            (limit.is_none_or(|limit| closes <= limit)).then(|| ClosingSoon {
                claim_id: d.claim.id.to_string(),
                partner_id: d.claim.partner_id.to_string(),
                tenant_id: d.claim.tenant.to_string(),
                window_closes_at: format_timestamp(closes),
            })
        })
        .collect();
    sort_closing_soon(&mut closing);
    closing
}

/// Sorts claims closing soon by closing time, then claim_id: the order of summary.json and
/// summary.html, in a run and in merged shards.
pub fn sort_closing_soon(claims: &mut [ClosingSoon]) {
    claims.sort_by_cached_key(|c| (parse_timestamp(&c.window_closes_at), c.claim_id.clone()));
}

/// A shard's own timings, in a merged run's summary.json (SPEC 10).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardTimings {
    pub index: u32,
    pub timings: Timings,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub version: String,
    pub as_of: String,
    pub window_days: u32,
    pub timezone: String,
    pub weekend: String,
    pub holidays: Option<String>,
    /// The holidays file's sha256: a merge of shards compares it (SPEC 10).
    pub holidays_sha256: Option<String>,
    pub holiday_rows: usize,
    pub format: String,
    pub max_reject_rate: f64,
    pub options: Options,
    /// claims, responses, usage.
    pub inputs: BTreeMap<String, InputSummary>,
    pub statuses: BTreeMap<String, u64>,
    /// Engagement code → status → claims.
    pub by_engagement: BTreeMap<String, BTreeMap<String, u64>>,
    /// The ten partners with the most claims.
    pub largest_partners: Vec<PartnerFigures>,
    /// Counts by kind of change since `--previous`, when given.
    pub changes: Option<crate::changes::ChangeCounts>,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub reports: ReportsSummary,
    /// Engagement code → the Monday of each week (local dates) → claims that became official in that
    /// week (official and revoked claims, by official_at): summary.html's official-over-time chart.
    pub official_by_week: BTreeMap<String, BTreeMap<String, u64>>,
    /// Claims pending at T whose window closes within `options.soon_days` business days after the
    /// local date of T (for the claim's country), by closing time.
    pub closing_soon: Vec<ClosingSoon>,
    /// Inputs whose share of rejected records is above max_reject_rate (exit code 3).
    pub reject_rate_exceeded: Vec<String>,
    /// Findings an operator should see, one line each: a file with a header and no data rows
    /// (SPEC 9.3). Also printed on stderr as the file is read.
    pub warnings: Vec<String>,
    /// Passes over the usage input: more than one when its keys would not fit --memory-budget.
    pub usage_passes: usize,
    /// A shard's run (`--shard I/N`, SPEC 10): its index and count. The claims' and responses'
    /// accounts are whole in every shard (each reads them whole; their rejects are shard 0's), the
    /// usage accounts and everything counted from claims are the shard's tenants' only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub timings: Timings,
    /// A merged run's shards, each with its timings (SPEC 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<Vec<ShardTimings>>,
}

impl Summary {
    pub fn new(config: &RunConfig) -> Summary {
        let mut summary = Summary {
            version: env!("CARGO_PKG_VERSION").to_string(),
            as_of: format_timestamp(config.as_of),
            window_days: config.calendar.window_days,
            timezone: config.calendar.tz.name().to_string(),
            weekend: config.calendar.weekend.describe(),
            holidays: config.holidays.as_ref().map(|p| p.display().to_string()),
            holidays_sha256: config.holidays_sha256.clone(),
            holiday_rows: config.calendar.holiday_count(),
            format: config.format.extension().to_string(),
            max_reject_rate: config.max_reject_rate,
            options: Options::of(config),
            inputs: BTreeMap::new(),
            statuses: BTreeMap::new(),
            by_engagement: BTreeMap::new(),
            largest_partners: Vec::new(),
            changes: None,
            rejects_by_reason: BTreeMap::new(),
            reports: ReportsSummary::default(),
            official_by_week: BTreeMap::new(),
            closing_soon: Vec::new(),
            reject_rate_exceeded: Vec::new(),
            warnings: Vec::new(),
            usage_passes: 1,
            shard: config.shard,
            timings: Timings::default(),
            shards: None,
        };
        summary.reset_counts();
        summary
    }

    /// Zeroes what is counted from the claims and the rejects: statuses and reject reasons all
    /// listed at 0, no engagements, partners or reports, no input over the reject rate.
    pub fn reset_counts(&mut self) {
        self.statuses = Status::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
        self.by_engagement.clear();
        self.largest_partners.clear();
        self.reports = ReportsSummary::default();
        self.official_by_week.clear();
        self.closing_soon.clear();
        self.rejects_by_reason = RejectReason::ALL.iter().map(|r| (r.as_str().to_string(), 0)).collect();
        self.reject_rate_exceeded.clear();
    }

    /// The summary of a validation: the inputs' accounts and rejects, with the accounting rule
    /// checked. Claims are not evaluated, so statuses are all zero.
    pub fn of_inputs(
        config: &RunConfig,
        inputs: &[(Source, InputSummary)],
        rejects: &[Reject],
    ) -> Result<Summary, CporError> {
        let mut summary = Summary::new(config);
        for (source, input) in inputs {
            summary.inputs.insert(source.as_str().to_string(), input.clone());
            summary.warnings.extend(input.files.iter().filter_map(|f| f.warning(*source)));
        }
        summary.count_rejects(rejects);
        summary.check_accounting(rejects)?;
        Ok(summary)
    }

    /// The summary of an evaluated run, with the accounting rule checked. The write and total
    /// timings are the caller's to fill in.
    pub fn of(config: &RunConfig, evaluated: &Evaluated) -> Result<Summary, CporError> {
        let mut summary = Summary::of_inputs(config, &evaluated.inputs, &evaluated.rejects)?;
        // Three walks of the decided claims, each its own figures: side by side (the run's main
        // thread waits on this, BENCHMARKS.md).
        let ((), (by_week, soon)) = rayon::join(
            || {
                summary.count_claims(evaluated.decided.iter().map(|d| ClaimCount {
                    partner_id: d.claim.partner_id.as_str(),
                    engagement: d.claim.engagement.as_str(),
                    status: d.evaluation.status,
                    report_rows: d.report.as_ref().map(|r| r.rows.len() as u64),
                }))
            },
            || rayon::join(|| official_by_week(config, evaluated), || closing_soon(config, evaluated)),
        );
        summary.official_by_week = by_week;
        summary.closing_soon = soon;
        summary.usage_passes = evaluated.usage_passes;
        summary.timings = evaluated.timings.clone();
        Ok(summary)
    }

    /// Writes summary.json and summary.html into `dir`.
    pub fn write_files(&self, dir: &Path) -> Result<(), CporError> {
        let fail = |path: &Path, cause: Cause| CporError::Output { path: path.to_path_buf(), cause };
        let json_path = dir.join("summary.json");
        let json = serde_json::to_string_pretty(self).map_err(|e| fail(&json_path, e.into()))?;
        std::fs::write(&json_path, json + "\n").map_err(|e| fail(&json_path, e.into()))?;
        let html_path = dir.join("summary.html");
        std::fs::write(&html_path, html::render(self)).map_err(|e| fail(&html_path, e.into()))
    }

    /// Counts the decided claims: by status, by engagement and status, the largest partners, and
    /// the reports. The one place these figures are made, for a run and for merged shards alike.
    pub fn count_claims<'a>(&mut self, claims: impl Iterator<Item = ClaimCount<'a>>) {
        // Counted under borrowed keys and named once per key, not once per claim (a run counts
        // millions of claims under a few dozen keys).
        let mut by_engagement: FastMap<(&str, Status), u64> = FastMap::default();
        // Each partner numbered as partners first come (`FirstCome`: not a map of borrowed ids).
        let mut numbers = FirstCome::default();
        let mut partners: Vec<PartnerFigures> = Vec::new();
        for claim in claims {
            *by_engagement.entry((claim.engagement, claim.status)).or_default() += 1;
            let (number, new) = numbers.number(claim.partner_id);
            if new {
                let partner_id = claim.partner_id.to_string();
                partners.push(PartnerFigures { partner_id, claims: 0, with_report: 0, report_rows: 0 });
            }
            let figures = &mut partners[number];
            figures.claims += 1;
            if let Some(rows) = claim.report_rows {
                figures.with_report += 1;
                figures.report_rows += rows;
                self.reports.files += 1;
                self.reports.rows += rows;
            }
        }
        for ((engagement, status), claims) in by_engagement {
            let status = status.as_str();
            *self.statuses.entry(status.to_string()).or_default() += claims;
            *self.by_engagement.entry(engagement.to_string()).or_default().entry(status.to_string()).or_default() +=
                claims;
        }
        partners.sort_by(|a, b| b.claims.cmp(&a.claims).then_with(|| a.partner_id.cmp(&b.partner_id)));
        partners.truncate(10);
        self.largest_partners = partners;
    }

    pub fn count_rejects(&mut self, rejects: &[Reject]) {
        for reject in rejects {
            *self.rejects_by_reason.entry(reject.reason.as_str().to_string()).or_default() += 1;
        }
    }

    /// Checks that no record was lost or counted twice, and notes the inputs over the reject rate.
    ///
    /// A shard (SPEC 10) holds every input file's records but accounts for its own usage rows
    /// only, and lists the claims' and responses' rejects only in shard 0: there the check is of
    /// what the shard holds, and `cpor merge` checks the whole again.
    pub fn check_accounting(&mut self, rejects: &[Reject]) -> Result<(), CporError> {
        self.reject_rate_exceeded.clear();
        for source in Source::ALL {
            let input = self.inputs.get(source.as_str()).cloned().unwrap_or_default();
            let sum = input.accepted + input.rejected + input.deferred;
            let lists_rejects = source == Source::Usage || self.shard.is_none_or(|s| s.writes_shared());
            let listed = rejects.iter().filter(|r| r.source == source).count() as u64;
            let whole = source != Source::Usage || self.shard.is_none();
            let file_records: u64 = input.files.iter().map(|f| f.records).sum();
            if sum != input.records
                || (lists_rejects && listed != input.rejected)
                || (whole && file_records != input.records)
            {
                return Err(CporError::Accounting {
                    source_name: source.as_str(),
                    message: format!(
                        "{} records but {} accepted + {} rejected + {} deferred ({} rejects listed, {} records in files)",
                        input.records, input.accepted, input.rejected, input.deferred, listed, file_records
                    ),
                });
            }
            if input.reject_rate() > self.max_reject_rate {
                self.reject_rate_exceeded.push(source.as_str().to_string());
            }
        }
        Ok(())
    }

    /// "37 windows close within 2 business days".
    pub fn closing_soon_line(&self) -> String {
        let (n, days) = (self.closing_soon.len(), self.options.soon_days);
        let windows = if n == 1 { "1 window closes".to_string() } else { format!("{n} windows close") };
        let within = match days {
            0 => "by the end of the as-of date".to_string(),
            1 => "within 1 business day".to_string(),
            d => format!("within {d} business days"),
        };
        format!("{windows} {within}")
    }

    /// The short human summary printed last on stdout.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let statuses: Vec<String> = Status::ALL
            .iter()
            .map(|s| format!("{} {}", self.statuses.get(s.as_str()).copied().unwrap_or(0), s.as_str()))
            .collect();
        let claims: u64 = self.statuses.values().sum();
        out.push_str(&format!("claims: {claims} evaluated as of {}: {}\n", self.as_of, statuses.join(", ")));
        let rejected: Vec<String> = Source::ALL
            .iter()
            .map(|s| {
                let i = self.inputs.get(s.as_str()).cloned().unwrap_or_default();
                format!("{} {}/{} ({} deferred)", s.as_str(), i.rejected, i.records, i.deferred)
            })
            .collect();
        out.push_str(&format!("rejected: {}\n", rejected.join(", ")));
        out.push_str(&format!("reports: {} files, {} rows\n", self.reports.files, self.reports.rows));
        out.push_str(&self.closing_soon_line());
        out.push('\n');
        if let Some(changes) = &self.changes {
            out.push_str(&format!("changes since the previous run: {}\n", changes.human()));
        }
        if !self.reject_rate_exceeded.is_empty() {
            out.push_str(&format!(
                "reject rate above {} for: {}\n",
                self.max_reject_rate,
                self.reject_rate_exceeded.join(", ")
            ));
        }
        out.push_str(&format!("done in {:.2}s\n", self.timings.total));
        out
    }
}
