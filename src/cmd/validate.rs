//! `cpor validate`: reads and checks the inputs only (SPEC 2 and 6) — the stages `read` and
//! `validate`, no evaluation and no reports ([`check_inputs`]) — and tells, per input, how many
//! records were accepted, rejected and deferred, the rejects by reason with the first few examples
//! of each, and whether a reject rate is above `--max-reject-rate` (exit 3, SPEC 8).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::config::{RunArgs, RunConfig, ValidateArgs};
use crate::error::{CporError, Exit, Failure};
use crate::output::{inputs_of, write_validation, Staged, Writer};
use crate::pipeline::{check_inputs, InputSummary, Timings, CHECK_STAGES};
use crate::progress::Progress;
use crate::rejects::Reject;
use crate::summary::Summary;

/// `cpor validate`: checks, writes rejects.csv and validation.json, prints the validation (and the
/// timings of the stages it ran with `--verbose`).
pub fn command(args: ValidateArgs) -> Result<Exit, Failure> {
    let out = args.out.clone().unwrap_or_else(|| "validation".into());
    let config = super::config(RunArgs { input: args.input, ..RunArgs::default() })?;
    let (validation, timings) = validate(&config, &out, args.examples)?;
    if config.verbose {
        eprintln!(
            "timings: read {:.2}s, validate {:.2}s, total {:.2}s (validate stops after the checks)",
            timings.read, timings.validate, timings.total
        );
    }
    print!("{}", validation.human());
    Ok(super::done(&validation.reject_rate_exceeded))
}

#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub source: &'static str,
    pub file: String,
    pub record: u64,
    pub detail: String,
    pub raw: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Validation {
    pub as_of: String,
    pub inputs: BTreeMap<String, InputSummary>,
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// The first examples of each reason, in file order.
    pub examples: BTreeMap<&'static str, Vec<Example>>,
    pub max_reject_rate: f64,
    pub reject_rate_exceeded: Vec<String>,
    /// Files with a header and no data rows (SPEC 9.3), as summary.json's `warnings`.
    pub warnings: Vec<String>,
    /// The stages run, by their names in summary.json's timings: no claim is evaluated and no
    /// report built.
    pub stages: [&'static str; 2],
}

impl Validation {
    pub fn human(&self) -> String {
        let mut out = String::new();
        for (name, input) in &self.inputs {
            out.push_str(&format!(
                "{name}: {} records, {} accepted, {} rejected ({:.2}%), {} deferred\n",
                input.records,
                input.accepted,
                input.rejected,
                input.reject_rate() * 100.0,
                input.deferred
            ));
            // SPEC 9.1: how each file's header was understood.
            for file in &input.files {
                let columns: Vec<String> = file.columns.0.iter().map(|(c, h)| format!("{c} <- {h:?}")).collect();
                out.push_str(&format!("    {}: {}\n", file.path, columns.join(", ")));
            }
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        for (reason, count) in self.rejects_by_reason.iter().filter(|(_, n)| **n > 0) {
            out.push_str(&format!("{reason}: {count}\n"));
            for e in self.examples.get(reason.as_str()).into_iter().flatten() {
                out.push_str(&format!("    {} record {}: {}\n", e.file, e.record, e.detail));
            }
        }
        if self.reject_rate_exceeded.is_empty() {
            out.push_str("reject rates within the limit\n");
        } else {
            out.push_str(&format!(
                "reject rate above {} for: {}\n",
                self.max_reject_rate,
                self.reject_rate_exceeded.join(", ")
            ));
        }
        out.push_str(&format!("stages run: {} (no claim evaluated, no report built)\n", self.stages.join(", ")));
        out
    }
}

/// Checks the inputs and writes rejects.csv and validation.json into `out`; returns the validation
/// and the timings of the stages run. `out` is reserved before any input is read (SPEC 6).
pub fn validate(config: &RunConfig, out: &Path, examples: usize) -> Result<(Validation, Timings), CporError> {
    let started = Instant::now();
    let staged = Staged::new(out, Writer::Validate, &inputs_of(config))?;
    let checked = check_inputs(config, &Progress::new(config.progress))?;
    let summary = Summary::of_inputs(config, &checked.inputs, &checked.rejects)?;
    let mut shown: BTreeMap<&'static str, Vec<Example>> = BTreeMap::new();
    let mut in_file_order: Vec<&Reject> = checked.rejects.iter().collect();
    in_file_order.sort_by_key(|r| (r.source, r.file.clone(), r.record));
    for reject in in_file_order {
        let list = shown.entry(reject.reason.as_str()).or_default();
        if list.len() < examples {
            list.push(Example {
                source: reject.source.as_str(),
                file: reject.file.clone(),
                record: reject.record,
                detail: reject.detail.clone(),
                raw: reject.raw.clone(),
            });
        }
    }
    let validation = Validation {
        as_of: summary.as_of,
        inputs: summary.inputs,
        rejects_by_reason: summary.rejects_by_reason,
        examples: shown,
        max_reject_rate: summary.max_reject_rate,
        reject_rate_exceeded: summary.reject_rate_exceeded,
        warnings: summary.warnings,
        stages: CHECK_STAGES,
    };
    let json = serde_json::to_string_pretty(&validation)
        .map_err(|e| CporError::Output { path: out.join("validation.json"), cause: e.into() })?
        + "\n";
    write_validation(staged, &checked.rejects, &json)?;
    let mut timings = checked.timings;
    timings.total = started.elapsed().as_secs_f64();
    Ok((validation, timings))
}
