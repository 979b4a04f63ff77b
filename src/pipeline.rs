//! The run, stage by stage: read and check claims, then responses (which are checked against the
//! claims), evaluate as of T, read usage keeping only the rows a report can hold, build the reports
//! and write everything through a staging directory (SPEC 2–7).

use std::time::Instant;

use crate::changes::{compare, read_previous, ChangeCounts};
use crate::config::RunConfig;
use crate::error::CporError;
use crate::evaluate::{evaluate, Evaluation};
use crate::hashing::{FastMap, FastSet};
use crate::input::{estimate_records, read_file, resolve, Checked, FileStats, InputFile, RecordParser};
use crate::output::{report_files, write_outputs, LedgerRow, OutputDir, Outputs};
use crate::progress::Progress;
use crate::records::{Claim, ClaimParser, Response, ResponseParser, UsageParser};
use crate::rejects::{sort_rejects, Fault, Reject, RejectReason, Source};
use crate::report::{build_reports, Report};
use crate::summary::{FileSummary, InputSummary, PartnerFigures, Summary, Timings};
use crate::types::{Id, Micros, Uuid};
use crate::usage::{passes_for, UsageIndex, Verdict};

/// Reads every file of one input in file order. `decide` sees, batch by batch and in file order,
/// every record with the outcome of its own checks, and returns the rows it does not accept — those
/// that failed their own checks among them, and those another pass decides — with their verdicts;
/// it keeps what it accepts. `pass`: this pass over the input and the number of passes; only the
/// first hashes the files and lists them in the summary.
fn read_input<P: RecordParser>(
    parser: &P,
    pass: (usize, usize),
    files: &[InputFile],
    progress: &Progress,
    rejects: &mut Vec<Reject>,
    timings: &mut Timings,
    mut decide: impl FnMut(&mut Checked<P::Record>) -> Vec<(usize, Verdict)>,
) -> Result<InputSummary, CporError> {
    let started = Instant::now();
    let mut summary = InputSummary::default();
    let label = match pass {
        (_, 1) => String::new(),
        (pass, passes) => format!(", pass {} of {passes}", pass + 1),
    };
    let spinner = progress.spinner(&format!("reading {}{label}", P::SOURCE));
    for file in files {
        let stats: FileStats = read_file(parser, file, pass.0 == 0, |batch, first_record, checked| {
            let not_accepted = decide(checked);
            summary.accepted += (batch.len() - not_accepted.len()) as u64;
            for (row, verdict) in not_accepted {
                match verdict {
                    Verdict::Accepted => unreachable!("decide returns only rows it does not accept"),
                    Verdict::Deferred => summary.deferred += 1,
                    Verdict::Later => {}
                    Verdict::Rejected(fault) => {
                        summary.rejected += 1;
                        rejects.push(Reject {
                            source: P::SOURCE,
                            file: file.given.clone(),
                            record: first_record + row as u64,
                            reason: fault.reason,
                            detail: fault.detail,
                            raw: batch.raw(row),
                        });
                    }
                }
            }
            spinner.inc(batch.len() as u64);
        })?;
        summary.records += stats.records;
        timings.validate += stats.validating.as_secs_f64();
        timings.read -= stats.validating.as_secs_f64();
        if let Some(sha256) = stats.sha256 {
            summary.files.push(FileSummary { path: stats.given, sha256, records: stats.records });
        }
    }
    spinner.finish();
    timings.read += started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Adapts a decision on one record that passed its own checks to a batch.
fn each<T>(mut decide: impl FnMut(T) -> Verdict) -> impl FnMut(&mut Checked<T>) -> Vec<(usize, Verdict)> {
    move |checked| {
        checked
            .drain(..)
            .enumerate()
            .filter_map(|(row, record)| {
                let verdict = match record {
                    Ok(record) => decide(record),
                    Err(fault) => Verdict::Rejected(fault),
                };
                (!matches!(verdict, Verdict::Accepted)).then_some((row, verdict))
            })
            .collect()
    }
}

/// What the responses are checked against: every claim that passed its own checks, deferred or not.
struct KnownClaim {
    tenant: Uuid,
    notified_at: Option<Micros>,
}

/// Everything a run knows once its inputs are read and its claims evaluated, before writing.
pub struct Evaluated {
    /// Accepted claims (not deferred), in file order.
    pub claims: Vec<Claim>,
    /// Accepted responses.
    pub responses: Vec<Response>,
    /// One per claim.
    pub evaluations: Vec<Evaluation>,
    /// One per claim; `Some` for official and revoked claims.
    pub reports: Vec<Option<Report>>,
    /// Sorted by (source, file, record).
    pub rejects: Vec<Reject>,
    /// Claims submitted after T.
    pub deferred_claims: Vec<Id>,
    pub inputs: Vec<(Source, InputSummary)>,
    /// Passes over the usage input (see `UsageIndex::begin_pass`).
    pub usage_passes: usize,
    pub timings: Timings,
}

/// Reads and checks every input, evaluates the claims and builds the reports (SPEC 2–5).
pub fn evaluate_inputs(config: &RunConfig, progress: &Progress) -> Result<Evaluated, CporError> {
    evaluate_inputs_then(config, progress, |_| {})
}

/// `evaluate_inputs`, calling `before_usage` with the claims that get a report once they are known,
/// before the usage input is read.
fn evaluate_inputs_then(
    config: &RunConfig,
    progress: &Progress,
    before_usage: impl FnOnce(&mut dyn Iterator<Item = &Claim>),
) -> Result<Evaluated, CporError> {
    let mut timings = Timings::default();
    let mut rejects = Vec::new();
    let as_of = config.as_of;
    // Claims: own checks, then uniqueness (first in file order wins), then deferral.
    let mut claims: Vec<Claim> = Vec::new();
    let mut known: FastMap<Id, KnownClaim> = FastMap::default();
    let mut claim_ids: FastMap<Box<str>, Id> = FastMap::default();
    let mut partner_ids: FastMap<Box<str>, Id> = FastMap::default();
    let mut deferred_claims = Vec::new();
    let claims_summary = read_input(
        &ClaimParser,
        (0, 1),
        &resolve(Source::Claims, &config.inputs.claims)?,
        progress,
        &mut rejects,
        &mut timings,
        each(|claim: Claim| {
            // Ids become file names: two that differ only in letter case would name one file, or one
            // partner's folder, on a case-insensitive file system. The first in file order keeps its
            // id; a later one equal but for case is refused like a repeat (README, "Safety").
            if let Some(first) = claim_ids.get(&claim.id.folded()) {
                return Verdict::Rejected(Fault::new(
                    RejectReason::DuplicateClaimId,
                    if *first == claim.id {
                        format!("claim_id {} appeared earlier in file order.", claim.id)
                    } else {
                        format!(
                            "claim_id {} differs only in letter case from claim_id {first}, earlier in file order.",
                            claim.id
                        )
                    },
                ));
            }
            match partner_ids.get(&claim.partner_id.folded()) {
                Some(first) if *first != claim.partner_id => {
                    return Verdict::Rejected(Fault::new(
                        RejectReason::InvalidId,
                        format!(
                            "partner_id {} differs only in letter case from partner_id {first}, earlier in file order; their report folders would be one on a case-insensitive file system.",
                            claim.partner_id
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    partner_ids.insert(claim.partner_id.folded(), claim.partner_id.clone());
                }
            }
            claim_ids.insert(claim.id.folded(), claim.id.clone());
            known.insert(claim.id.clone(), KnownClaim { tenant: claim.tenant, notified_at: claim.notified_at });
            if claim.submitted_at > as_of {
                deferred_claims.push(claim.id);
                return Verdict::Deferred;
            }
            claims.push(claim);
            Verdict::Accepted
        }),
    )?;

    // Responses: own checks, uniqueness, deferral, then the cross-file checks against the claims.
    let mut responses: Vec<Response> = Vec::new();
    let mut response_ids: FastSet<Id> = FastSet::default();
    let responses_summary = read_input(
        &ResponseParser,
        (0, 1),
        &resolve(Source::Responses, &config.inputs.responses)?,
        progress,
        &mut rejects,
        &mut timings,
        each(|r: Response| {
            if !response_ids.insert(r.id.clone()) {
                return Verdict::Rejected(Fault::new(
                    RejectReason::DuplicateResponseId,
                    format!("response_id {} appeared earlier in file order.", r.id),
                ));
            }
            if r.responded_at > as_of {
                return Verdict::Deferred;
            }
            let Some(claim) = known.get(&r.claim_id) else {
                return Verdict::Rejected(Fault::new(
                    RejectReason::UnknownClaim,
                    format!("claim_id {} names no valid claim.", r.claim_id),
                ));
            };
            if claim.tenant != r.tenant {
                return Verdict::Rejected(Fault::new(
                    RejectReason::TenantMismatch,
                    format!("tenant_id {} is not the tenant of claim {} ({}).", r.tenant, r.claim_id, claim.tenant),
                ));
            }
            if claim.notified_at.is_none_or(|n| r.responded_at < n) {
                return Verdict::Rejected(Fault::new(
                    RejectReason::ResponseBeforeNotification,
                    match claim.notified_at {
                        None => format!("Claim {} has not been notified.", r.claim_id),
                        Some(_) => format!("responded_at is earlier than the notification of claim {}.", r.claim_id),
                    },
                ));
            }
            responses.push(r);
            Verdict::Accepted
        }),
    )?;
    drop(known);

    let stage = Instant::now();
    let spinner = progress.spinner("evaluating claims");
    let evaluations = evaluate(&claims, &responses, &config.calendar, as_of);
    spinner.finish();
    timings.evaluate = stage.elapsed().as_secs_f64();

    // Usage: own checks, uniqueness of (tenant, workload, subscription, date), then deferral; only rows
    // of a tenant and workload with a report are kept.
    let with_report = || claims.iter().zip(&evaluations).filter(|(_, e)| e.status.has_report()).map(|(c, _)| c);
    before_usage(&mut with_report());
    let mut index = UsageIndex::new(
        with_report().map(|c| (c.tenant, c.workload.to_lowercase())),
        config.calendar.local_date(as_of),
    );
    let parser = UsageParser { workloads: index.known_workloads() };
    let usage_files = resolve(Source::Usage, &config.inputs.usage)?;
    let passes = passes_for(estimate_records(Source::Usage, &usage_files)?, config.memory_budget);
    let mut usage_summary = InputSummary::default();
    for pass in 0..passes {
        index.begin_pass(pass, passes);
        let summary =
            read_input(&parser, (pass, passes), &usage_files, progress, &mut rejects, &mut timings, |checked| {
                index.decide(checked)
            })?;
        usage_summary.accepted += summary.accepted;
        usage_summary.rejected += summary.rejected;
        usage_summary.deferred += summary.deferred;
        if pass == 0 {
            usage_summary.records = summary.records;
            usage_summary.files = summary.files;
        }
    }
    let usage = index.finish();

    let stage = Instant::now();
    let reports = build_reports(&claims, &evaluations, usage, &config.calendar, as_of);
    timings.report = stage.elapsed().as_secs_f64();

    sort_rejects(&mut rejects);
    Ok(Evaluated {
        claims,
        responses,
        evaluations,
        reports,
        rejects,
        deferred_claims,
        inputs: vec![
            (Source::Claims, claims_summary),
            (Source::Responses, responses_summary),
            (Source::Usage, usage_summary),
        ],
        usage_passes: passes,
        timings,
    })
}

/// The summary of an evaluated run, with the accounting rule checked (SPEC 7).
pub fn summarize(config: &RunConfig, evaluated: &Evaluated) -> Result<Summary, CporError> {
    let mut summary = Summary::new(config);
    for (source, input) in &evaluated.inputs {
        summary.inputs.insert(source.as_str(), input.clone());
    }
    summary.count_statuses(evaluated.evaluations.iter().map(|e: &Evaluation| e.status));
    let mut partners: FastMap<&str, PartnerFigures> = FastMap::default();
    for ((claim, evaluation), report) in evaluated.claims.iter().zip(&evaluated.evaluations).zip(&evaluated.reports) {
        *summary
            .by_engagement
            .entry(claim.engagement.as_str())
            .or_default()
            .entry(evaluation.status.as_str())
            .or_default() += 1;
        let figures = partners.entry(claim.partner_id.as_str()).or_insert_with(|| PartnerFigures {
            partner_id: claim.partner_id.to_string(),
            claims: 0,
            with_report: 0,
            report_rows: 0,
        });
        figures.claims += 1;
        if let Some(report) = report {
            figures.with_report += 1;
            figures.report_rows += report.rows.len() as u64;
        }
    }
    let mut partners: Vec<PartnerFigures> = partners.into_values().collect();
    partners.sort_by(|a, b| b.claims.cmp(&a.claims).then_with(|| a.partner_id.cmp(&b.partner_id)));
    partners.truncate(10);
    summary.largest_partners = partners;
    summary.count_rejects(&evaluated.rejects);
    summary.count_reports(evaluated.reports.iter().flatten().map(|r| r.rows.len()));
    summary.check_accounting(&evaluated.rejects)?;
    summary.usage_passes = evaluated.usage_passes;
    summary.timings = evaluated.timings.clone();
    Ok(summary)
}

/// Runs the whole pipeline and writes the output directory. Returns the summary it wrote.
pub fn run(config: &RunConfig) -> Result<Summary, CporError> {
    let started = Instant::now();
    let progress = Progress::new(config.progress);
    let mut output = OutputDir::stage(config)?;
    let evaluated = evaluate_inputs_then(config, &progress, |with_report| {
        output.prepare_reports(report_files(with_report), config.format)
    })?;
    let mut summary = summarize(config, &evaluated)?;
    let mut ledger: Vec<LedgerRow> = evaluated
        .claims
        .iter()
        .zip(&evaluated.evaluations)
        .zip(&evaluated.reports)
        .map(|((claim, evaluation), report)| LedgerRow::new(claim, evaluation, report.as_ref()))
        .collect();
    ledger.sort_by(|a, b| a.claim.id.cmp(&b.claim.id));
    let changes = match &config.previous {
        Some(dir) => {
            let changes = compare(&read_previous(dir)?, &ledger);
            summary.changes = Some(ChangeCounts::of(&changes));
            Some(changes)
        }
        None => None,
    };
    let outputs = Outputs {
        ledger: &ledger,
        reports: &evaluated.reports,
        rejects: &evaluated.rejects,
        changes: changes.as_deref(),
    };
    write_outputs(config, output, &outputs, &mut summary, &progress, started)?;
    Ok(summary)
}
