//! summary.json and summary.html (SPEC 7): the run's figures, assembled from the decided claims and
//! the inputs' accounts, and the accounting rule that nothing is lost — for every input, records =
//! accepted + rejected + deferred — which every run and validation checks before it finishes.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::config::RunConfig;
use crate::error::{Cause, CporError};
use crate::evaluate::Status;
use crate::hashing::FastMap;
use crate::pipeline::Evaluated;
pub use crate::pipeline::{FileSummary, InputSummary, Timings};
use crate::rejects::{Reject, RejectReason, Source};
use crate::types::format_timestamp;

pub mod html;

#[derive(Clone, Debug, Default, Serialize)]
pub struct ReportsSummary {
    pub files: u64,
    pub rows: u64,
}

/// A partner's figures, for the largest partners of summary.html.
#[derive(Clone, Debug, Serialize)]
pub struct PartnerFigures {
    pub partner_id: String,
    pub claims: u64,
    pub with_report: u64,
    pub report_rows: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub version: &'static str,
    pub as_of: String,
    pub window_days: u32,
    pub timezone: String,
    pub weekend: String,
    pub holidays: Option<String>,
    pub holiday_rows: usize,
    pub format: &'static str,
    pub max_reject_rate: f64,
    /// claims, responses, usage.
    pub inputs: BTreeMap<&'static str, InputSummary>,
    pub statuses: BTreeMap<&'static str, u64>,
    /// Engagement code → status → claims.
    pub by_engagement: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// The ten partners with the most claims.
    pub largest_partners: Vec<PartnerFigures>,
    /// Counts by kind of change since `--previous`, when given.
    pub changes: Option<crate::changes::ChangeCounts>,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    pub reports: ReportsSummary,
    /// Inputs whose share of rejected records is above max_reject_rate (exit code 3).
    pub reject_rate_exceeded: Vec<&'static str>,
    /// Findings an operator should see, one line each: a file with a header and no data rows
    /// (SPEC 9.3). Also printed on stderr as the file is read.
    pub warnings: Vec<String>,
    /// Passes over the usage input: more than one when its keys would not fit --memory-budget.
    pub usage_passes: usize,
    pub timings: Timings,
}

impl Summary {
    pub fn new(config: &RunConfig) -> Summary {
        Summary {
            version: env!("CARGO_PKG_VERSION"),
            as_of: format_timestamp(config.as_of),
            window_days: config.calendar.window_days,
            timezone: config.calendar.tz.name().to_string(),
            weekend: config.calendar.weekend.describe(),
            holidays: config.holidays.as_ref().map(|p| p.display().to_string()),
            holiday_rows: config.calendar.holiday_count(),
            format: config.format.extension(),
            max_reject_rate: config.max_reject_rate,
            inputs: BTreeMap::new(),
            statuses: Status::ALL.iter().map(|s| (s.as_str(), 0)).collect(),
            by_engagement: BTreeMap::new(),
            largest_partners: Vec::new(),
            changes: None,
            rejects_by_reason: RejectReason::ALL.iter().map(|r| (r.as_str(), 0)).collect(),
            reports: ReportsSummary::default(),
            reject_rate_exceeded: Vec::new(),
            warnings: Vec::new(),
            usage_passes: 1,
            timings: Timings::default(),
        }
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
            summary.inputs.insert(source.as_str(), input.clone());
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
        summary.count_statuses(evaluated.decided.iter().map(|d| d.evaluation.status));
        let mut partners: FastMap<&str, PartnerFigures> = FastMap::default();
        for decided in &evaluated.decided {
            let (claim, status) = (&decided.claim, decided.evaluation.status);
            *summary.by_engagement.entry(claim.engagement.as_str()).or_default().entry(status.as_str()).or_default() +=
                1;
            let figures = partners.entry(claim.partner_id.as_str()).or_insert_with(|| PartnerFigures {
                partner_id: claim.partner_id.to_string(),
                claims: 0,
                with_report: 0,
                report_rows: 0,
            });
            figures.claims += 1;
            if let Some(report) = &decided.report {
                figures.with_report += 1;
                figures.report_rows += report.rows.len() as u64;
            }
        }
        let mut partners: Vec<PartnerFigures> = partners.into_values().collect();
        partners.sort_by(|a, b| b.claims.cmp(&a.claims).then_with(|| a.partner_id.cmp(&b.partner_id)));
        partners.truncate(10);
        summary.largest_partners = partners;
        summary.count_reports(evaluated.decided.iter().filter_map(|d| d.report.as_ref()).map(|r| r.rows.len()));
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

    pub fn count_statuses(&mut self, statuses: impl Iterator<Item = Status>) {
        for status in statuses {
            *self.statuses.entry(status.as_str()).or_default() += 1;
        }
    }

    pub fn count_rejects(&mut self, rejects: &[Reject]) {
        for reject in rejects {
            *self.rejects_by_reason.entry(reject.reason.as_str()).or_default() += 1;
        }
    }

    pub fn count_reports(&mut self, sizes: impl Iterator<Item = usize>) {
        for rows in sizes {
            self.reports.files += 1;
            self.reports.rows += rows as u64;
        }
    }

    /// Checks that no record was lost or counted twice, and notes the inputs over the reject rate.
    pub fn check_accounting(&mut self, rejects: &[Reject]) -> Result<(), CporError> {
        for source in Source::ALL {
            let input = self.inputs.get(source.as_str()).cloned().unwrap_or_default();
            let sum = input.accepted + input.rejected + input.deferred;
            let listed = rejects.iter().filter(|r| r.source == source).count() as u64;
            let file_records: u64 = input.files.iter().map(|f| f.records).sum();
            if sum != input.records || listed != input.rejected || file_records != input.records {
                return Err(CporError::Accounting {
                    source_name: source.as_str(),
                    message: format!(
                        "{} records but {} accepted + {} rejected + {} deferred ({} rejects listed, {} records in files)",
                        input.records, input.accepted, input.rejected, input.deferred, listed, file_records
                    ),
                });
            }
            if input.reject_rate() > self.max_reject_rate {
                self.reject_rate_exceeded.push(source.as_str());
            }
        }
        Ok(())
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
