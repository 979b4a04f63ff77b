//! The stages, in order (SPEC 2–6): read and check the claims, then the responses (checked against
//! the claims); evaluate the claims as of T; read usage, keeping only the rows a report can hold;
//! build the reports. Each record's own checks are `records`', the checks between records
//! `checks`'; deferral (a record dated after T) is decided here, between them, in SPEC's order.
//!
//! `validate` stops after the checks ([`check_inputs`]): it reads usage keeping no row, and neither
//! evaluates the claims nor builds the reports. Writing the outputs is each command's (`cmd`).

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::checks::claims::{ClaimChecks, ClaimKeys, KnownClaims};
use crate::checks::responses::{check_against_claims, ResponseIds};
use crate::checks::Verdict;
use crate::config::RunConfig;
use crate::error::CporError;
use crate::evaluate::evaluate;
use crate::hashing::FastSet;
use crate::input::columns::ColumnMap;
use crate::input::{
    estimate_records, progress_size, read_file, resolve, text_bytes_read, Checked, FileStats, InputFile, Prepared,
    RecordParser, UsedColumns,
};
use crate::ledger::DecidedClaim;
use crate::progress::{Progress, Size};
use crate::records::{Claim, ClaimParser, Response, ResponseParser, UsageParser, WorkloadIds};
use crate::rejects::{sort_rejects, Reject, Source};
use crate::report::{build_reports, window_of, Reach};
use crate::types::{Id, Uuid};
use crate::usage::{passes_for, KeptUsage, UsageIndex};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSummary {
    pub path: String,
    pub sha256: String,
    pub records: u64,
    /// The header each column was read from (SPEC 9.1); only the columns found.
    pub columns: UsedColumns,
}

impl FileSummary {
    /// SPEC 9.3: a file with a header and no data rows is read, and named in a warning (summary.json's
    /// `warnings`, and stderr even with `--quiet`: an export that went silently empty is for an
    /// operator to see, and `--quiet` hides progress, not findings).
    pub fn warning(&self, source: Source) -> Option<String> {
        (self.records == 0).then(|| format!("{source} file {} has a header and no data rows", self.path))
    }
}

/// One input's files, with the config file's column names for it (SPEC 9.1).
#[derive(Clone, Copy)]
struct InputFiles<'a> {
    files: &'a [InputFile],
    columns: &'a ColumnMap,
}

/// One input's files and what became of its records (SPEC 7).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputSummary {
    pub files: Vec<FileSummary>,
    pub records: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub deferred: u64,
}

impl InputSummary {
    pub fn reject_rate(&self) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            self.rejected as f64 / self.records as f64
        }
    }
}

/// Seconds spent in each stage.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Decoding input files.
    pub read: f64,
    /// Each record's own checks and the checks between records.
    pub validate: f64,
    pub evaluate: f64,
    pub report: f64,
    pub write: f64,
    pub total: f64,
}

/// The stages `validate` runs, by their names in [`Timings`]: no evaluation, no reports.
pub const CHECK_STAGES: [&str; 2] = ["read", "validate"];

/// Reads every file of one input in file order. `decide` sees, batch by batch and in file order,
/// every record with the outcome of its own checks, and returns the rows it does not accept — those
/// that failed their own checks among them, and those another pass decides — with their verdicts;
/// it keeps what it accepts. `pass`: this pass over the input and the number of passes; only the
/// first hashes the files and lists them in the summary.
fn read_input<P: RecordParser>(
    parser: &P,
    pass: (usize, usize),
    files: InputFiles<'_>,
    progress: &Progress,
    rejects: &mut Vec<Reject>,
    timings: &mut Timings,
    mut decide: impl FnMut(&mut Checked<P::Record>) -> Vec<(usize, Verdict)> + Send,
) -> Result<InputSummary, CporError> {
    let started = Instant::now();
    let mut summary = InputSummary::default();
    let label = match pass {
        (_, 1) => String::new(),
        (pass, passes) => format!(", pass {} of {passes}", pass + 1),
    };
    let size = progress_size(files.files);
    let stage = progress.stage(&format!("reading {}{label}", P::SOURCE), "rows", size);
    let bytes_before = text_bytes_read();
    let mut rows_read = 0u64;
    // Rows of other shards' tenants (SPEC 10): in the files, not in this run's accounts.
    let mut elsewhere = 0u64;
    for file in files.files {
        // Every pass hashes its files: a later pass compares them with the first's (`read_usage`).
        let stats: FileStats = read_file(parser, file, files.columns, true, |batch, first_record, checked| {
            let not_accepted = decide(checked);
            summary.accepted += (batch.len() - not_accepted.len()) as u64;
            for (row, verdict) in not_accepted {
                match verdict {
                    Verdict::Accepted => unreachable!("decide returns only rows it does not accept"),
                    Verdict::Deferred => summary.deferred += 1,
                    Verdict::Later => {}
                    Verdict::Elsewhere => elsewhere += 1,
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
            rows_read += batch.len() as u64;
            match size {
                Size::Bytes(_) => stage.set_position(text_bytes_read() - bytes_before),
                Size::Items(_) | Size::Unknown => stage.inc(batch.len() as u64),
            }
        })?;
        summary.records += stats.records - std::mem::take(&mut elsewhere);
        timings.validate += stats.validating.as_secs_f64();
        timings.read -= stats.validating.as_secs_f64();
        if let Some(sha256) = stats.sha256 {
            let file = FileSummary { path: stats.given, sha256, records: stats.records, columns: stats.columns };
            if let Some(warning) = file.warning(P::SOURCE).filter(|_| pass.0 == 0) {
                stage.suspend(|| eprintln!("cpor: warning: {warning}"));
            }
            summary.files.push(file);
        }
    }
    stage.finish(rows_read);
    timings.read += started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Adapts a decision on one record that passed its own checks to a batch. `table`: what the
/// decisions look records up in (the ids seen so far), given to `decide` with each record.
/// `warm` first reads, for every record of the batch, the part of `table` its decision will read:
/// those reads do not wait on one another, so their cache misses overlap, where the decisions, one
/// after the other, would wait for each in turn (BENCHMARKS.md, issue 14).
fn each<'a, S: Send, T>(
    table: &'a mut S,
    warm: impl Fn(&S, &T) + Send + 'a,
    mut decide: impl FnMut(&mut S, T) -> Verdict + Send + 'a,
) -> impl FnMut(&mut Checked<T>) -> Vec<(usize, Verdict)> + Send + 'a {
    move |checked| {
        for record in checked.iter().flatten().flatten() {
            warm(table, record);
        }
        checked
            .drain(..)
            .enumerate()
            .filter_map(|(row, record)| {
                let verdict = match record {
                    Some(Ok(record)) => decide(table, record),
                    Some(Err(fault)) => Verdict::Rejected(fault),
                    None => Verdict::Elsewhere,
                };
                (!matches!(verdict, Verdict::Accepted)).then_some((row, verdict))
            })
            .collect()
    }
}

/// The rows of an input when its files tell them without being read (every file Parquet), else 0:
/// room to reserve in the tables of its ids.
fn known_rows(files: &[InputFile]) -> usize {
    match progress_size(files) {
        Size::Items(rows) => usize::try_from(rows).unwrap_or(0),
        Size::Bytes(_) | Size::Unknown => 0,
    }
}

/// The claims and responses, read and checked.
struct ClaimsAndResponses {
    /// Accepted claims (not deferred), in file order; with `--shard`, those of the shard's tenants.
    claims: Vec<Claim>,
    /// Accepted responses; with `--shard`, those of the shard's tenants.
    responses: Vec<Response>,
    /// Claims submitted after T.
    deferred_claims: Vec<Id>,
    /// With `--shard` and `--previous`, the accepted claims of other shards' tenants.
    elsewhere: FastSet<Id>,
    inputs: Vec<(Source, InputSummary)>,
}

/// Stages read and validate for claims, then responses: each record's own checks, the checks
/// between records (`checks`) and deferral. A shard (SPEC 10) checks every claim and response as one
/// run does, and keeps only those of its tenants: the others are dropped as they are read, so that
/// its memory holds its own. `evaluated`: whether the claims will be evaluated; `validate` keeps
/// none of the records, only their checks' tables.
fn read_claims_and_responses(
    config: &RunConfig,
    evaluated: bool,
    progress: &Progress,
    rejects: &mut Vec<Reject>,
    timings: &mut Timings,
) -> Result<ClaimsAndResponses, CporError> {
    let as_of = config.as_of;
    // Claims: own checks, then the checks between claims (first in file order wins), then deferral.
    let claim_files = resolve(Source::Claims, &config.inputs.claims, config.text)?;
    let claim_rows = known_rows(&claim_files);
    // With `--shard`, a share of them: room for all would be a waste of memory.
    let room = |rows: usize| if evaluated && config.shard.is_none() { rows } else { 0 };
    let mut claims: Vec<Claim> = Vec::with_capacity(room(claim_rows));
    let mut checks = ClaimChecks::with_capacity(claim_rows);
    let mut deferred_claims = Vec::new();
    let mut elsewhere = FastSet::default();
    let keeps = |tenant: Uuid| evaluated && config.shard.is_none_or(|shard| shard.keeps(Some(tenant)));
    let parser = ClaimParser { date_order: config.date_order, engagements: config.engagements.clone() };
    let claims_summary = read_input(
        &Prepared { parser, prepare: ClaimKeys::of },
        (0, 1),
        InputFiles { files: &claim_files, columns: &config.columns },
        progress,
        rejects,
        timings,
        each(&mut checks, ClaimChecks::warm, |checks, (claim, keys): (Claim, ClaimKeys)| {
            if let Some(fault) = checks.check(&claim, keys) {
                return Verdict::Rejected(fault);
            }
            if claim.submitted_at > as_of {
                deferred_claims.push(claim.id);
                return Verdict::Deferred;
            }
            if keeps(claim.tenant) {
                claims.push(claim);
            } else if evaluated && config.previous.is_some() {
                elsewhere.insert(claim.id);
            }
            Verdict::Accepted
        }),
    )?;
    let known: KnownClaims = checks.into_known();

    // Responses: own checks, uniqueness, deferral, then the cross-file checks against the claims.
    let response_files = resolve(Source::Responses, &config.inputs.responses, config.text)?;
    let response_rows = known_rows(&response_files);
    let mut responses: Vec<Response> = Vec::with_capacity(room(response_rows));
    let mut response_ids = ResponseIds::with_capacity(response_rows);
    // The id's hash, and the cross-file checks of a response not deferred: the claims are all known
    // by now, so these are worked out on the parsing threads; they count only for a response that
    // passes the checks before them.
    let prepare = |r: &Response| {
        let against_claims = if r.responded_at > as_of { None } else { check_against_claims(r, &known) };
        (ResponseIds::hash(&r.id), against_claims)
    };
    let responses_summary = read_input(
        &Prepared { parser: ResponseParser { date_order: config.date_order }, prepare },
        (0, 1),
        InputFiles { files: &response_files, columns: &config.columns },
        progress,
        rejects,
        timings,
        each(&mut response_ids, ResponseIds::warm, |response_ids, (r, (id_hash, against_claims))| {
            if let Some(fault) = response_ids.check(&r, id_hash) {
                return Verdict::Rejected(fault);
            }
            if r.responded_at > as_of {
                return Verdict::Deferred;
            }
            if let Some(fault) = against_claims {
                return Verdict::Rejected(fault);
            }
            // Accepted, so of its claim's tenant.
            if keeps(r.tenant) {
                responses.push(r);
            }
            Verdict::Accepted
        }),
    )?;
    if config.shard.is_some_and(|shard| !shard.writes_shared()) {
        // The claims' and responses' rejects are shard 0's to write.
        rejects.clear();
    }
    Ok(ClaimsAndResponses {
        claims,
        responses,
        deferred_claims,
        elsewhere,
        inputs: vec![(Source::Claims, claims_summary), (Source::Responses, responses_summary)],
    })
}

/// Stages read and validate for usage: own checks, uniqueness of (tenant, workload, subscription,
/// date), then deferral; only rows of a tenant and workload the index wants (`UsageIndex::new`) are kept. Returns
/// the input's summary, the number of passes and the kept rows.
fn read_usage(
    config: &RunConfig,
    progress: &Progress,
    mut index: UsageIndex,
    rejects: &mut Vec<Reject>,
    timings: &mut Timings,
) -> Result<(InputSummary, usize, KeptUsage), CporError> {
    let parser = UsageParser {
        workloads: WorkloadIds::new(index.known_workloads()),
        date_order: config.date_order,
        period: config.usage_period,
        shard: config.shard,
    };
    let usage_files = resolve(Source::Usage, &config.inputs.usage, config.text)?;
    // A FIFO (or any file that is not a regular one) can be read only once: one pass then, whatever
    // the memory budget says.
    let passes = match usage_files.iter().all(|f| std::fs::metadata(&f.path).is_ok_and(|m| m.is_file())) {
        true => passes_for(estimate_records(Source::Usage, &usage_files)?, config.memory_budget),
        false => 1,
    };
    let mut usage_summary = InputSummary::default();
    for pass in 0..passes {
        index.begin_pass(pass, passes);
        let files = InputFiles { files: &usage_files, columns: &config.columns };
        let summary =
            read_input(&parser, (pass, passes), files, progress, rejects, timings, |checked| index.decide(checked))?;
        usage_summary.accepted += summary.accepted;
        usage_summary.rejected += summary.rejected;
        usage_summary.deferred += summary.deferred;
        if pass == 0 {
            usage_summary.records = summary.records;
            usage_summary.files = summary.files;
        } else {
            unchanged_since_first_pass(&usage_summary.files, &summary.files, (pass, passes))?;
        }
    }
    // Putting the kept rows in report order is the reports' work: timed with the report stage.
    let started = Instant::now();
    let kept = index.finish();
    timings.report += started.elapsed().as_secs_f64();
    Ok((usage_summary, passes, kept))
}

/// SPEC 6 reads every input once; usage that needs several passes (`--memory-budget`) is read
/// again in each, so each pass's files must be the first pass's, byte for byte: a file changed (or
/// replaced) in between would mix two exports in one result under the first one's sha256. Fatal.
fn unchanged_since_first_pass(
    first: &[FileSummary],
    this: &[FileSummary],
    (pass, passes): (usize, usize),
) -> Result<(), CporError> {
    let changed = first.iter().zip(this).position(|(a, b)| a.sha256 != b.sha256);
    let changed = match changed {
        Some(at) => at,
        None if first.len() == this.len() => return Ok(()),
        None => first.len().min(this.len()),
    };
    let path = first.get(changed).or(this.get(changed)).map_or_else(|| "usage".into(), |f| f.path.clone().into());
    let sha = |files: &[FileSummary]| files.get(changed).map_or("none", |f| f.sha256.as_str()).to_string();
    Err(CporError::Unreadable {
        source_name: Source::Usage.as_str(),
        path,
        cause: format!(
            "it changed while cpor read it: pass {} of {passes} read other bytes (sha256 {}) than pass 1 \
             (sha256 {}); read a copy that does not change, or give --memory-budget room for one pass",
            pass + 1,
            sha(this),
            sha(first),
        )
        .into(),
    })
}

/// What `validate` knows once every input is read and checked: no claim is evaluated.
pub struct InputsChecked {
    /// Sorted by (source, file, record).
    pub rejects: Vec<Reject>,
    pub inputs: Vec<(Source, InputSummary)>,
    /// Passes over the usage input (see `UsageIndex::begin_pass`).
    pub usage_passes: usize,
    /// Read and validate only ([`CHECK_STAGES`]).
    pub timings: Timings,
}

/// Reads and checks every input, and stops there (SPEC 2, 6): the stages of `validate`.
pub fn check_inputs(config: &RunConfig, progress: &Progress) -> Result<InputsChecked, CporError> {
    let mut timings = Timings::default();
    let mut rejects = Vec::new();
    let checked = read_claims_and_responses(config, false, progress, &mut rejects, &mut timings)?;
    // No claim is evaluated, so no usage row is kept: each is checked and counted only.
    let index = UsageIndex::new(&[], config.calendar.local_date(config.as_of), config.usage_period);
    let (usage, usage_passes, _) = read_usage(config, progress, index, &mut rejects, &mut timings)?;
    let mut inputs = checked.inputs;
    inputs.push((Source::Usage, usage));
    sort_rejects(&mut rejects);
    Ok(InputsChecked { rejects, inputs, usage_passes, timings })
}

/// Everything a run knows once its inputs are read and its claims decided, before writing.
pub struct Evaluated {
    /// Accepted claims (not deferred) with their evaluations and reports, in file order.
    pub decided: Vec<DecidedClaim>,
    /// Accepted responses.
    pub responses: Vec<Response>,
    /// Sorted by (source, file, record).
    pub rejects: Vec<Reject>,
    /// Claims submitted after T.
    pub deferred_claims: Vec<Id>,
    /// With `--shard` and `--previous`, the accepted claims of other shards' tenants (SPEC 10),
    /// not evaluated here.
    pub elsewhere: FastSet<Id>,
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
pub fn evaluate_inputs_then(
    config: &RunConfig,
    progress: &Progress,
    before_usage: impl FnOnce(&mut dyn Iterator<Item = &Claim>) + Send,
) -> Result<Evaluated, CporError> {
    let mut timings = Timings::default();
    let mut rejects = Vec::new();
    let as_of = config.as_of;
    let ClaimsAndResponses { claims, responses, deferred_claims, elsewhere, mut inputs } =
        read_claims_and_responses(config, true, progress, &mut rejects, &mut timings)?;

    let started = Instant::now();
    let stage = progress.stage("evaluating claims", "claims", Size::Items(claims.len() as u64));
    let evaluations = evaluate(&claims, &responses, &config.calendar, as_of);
    let mut decided = DecidedClaim::all(claims, evaluations);
    stage.finish(decided.len() as u64);
    timings.evaluate = started.elapsed().as_secs_f64();

    // Both walk the claims with a report, on the main thread while the other core would wait: side
    // by side.
    let ((), index) = rayon::join(
        || before_usage(&mut decided.iter().filter(|d| d.has_report()).map(|d| &d.claim)),
        || {
            let wanted: Vec<(Uuid, &str, Reach)> = decided
                .par_iter()
                .filter(|d| d.has_report())
                .map(|d| {
                    let reach = window_of(&d.evaluation, &config.calendar, as_of).map_or(Reach::ALL, Reach::of);
                    (d.claim.tenant, d.claim.workload.as_str(), reach)
                })
                .collect();
            UsageIndex::new(&wanted, config.calendar.local_date(as_of), config.usage_period)
        },
    );
    let (usage, usage_passes, kept) = read_usage(config, progress, index, &mut rejects, &mut timings)?;
    inputs.push((Source::Usage, usage));

    let stage = Instant::now();
    // Each claim with a report numbered as `UsageIndex::new` was given them: in the claims' order.
    let mut next = 0..;
    let numbers: Vec<Option<usize>> = decided.iter().map(|d| d.has_report().then(|| next.next()).flatten()).collect();
    let slots = decided.par_iter_mut().zip(numbers).map(|(d, n)| (&d.claim, &d.evaluation, &mut d.report, n));
    build_reports(slots, kept, &config.calendar, as_of, config.usage_period);
    timings.report += stage.elapsed().as_secs_f64();

    sort_rejects(&mut rejects);
    Ok(Evaluated { decided, responses, rejects, deferred_claims, elsewhere, inputs, usage_passes, timings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    fn file(path: &str, sha256: &str) -> FileSummary {
        FileSummary { path: path.into(), sha256: sha256.into(), records: 1, columns: Default::default() }
    }

    #[test]
    fn a_later_pass_must_read_the_first_pass_bytes() {
        let first = [file("a.csv", "aa"), file("b.csv", "bb")];
        assert!(unchanged_since_first_pass(&first, &first.clone(), (1, 3)).is_ok());
        let changed = unchanged_since_first_pass(&first, &[file("a.csv", "aa"), file("b.csv", "cc")], (2, 3))
            .expect_err("b.csv changed");
        let message = format!("{changed}: {}", changed.source().map(|s| s.to_string()).unwrap_or_default());
        assert!(
            message.contains("b.csv") && message.contains("pass 3 of 3") && message.contains("sha256 cc"),
            "{message}"
        );
        let shorter = unchanged_since_first_pass(&first, &first[..1], (1, 2)).expect_err("b.csv gone");
        assert!(shorter.to_string().contains("b.csv"), "{shorter}");
    }
}
