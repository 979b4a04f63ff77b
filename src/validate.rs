//! `cpor validate`: reads and checks the inputs only (SPEC 2 and 6) and tells, per input, how many
//! records were accepted, rejected and deferred, the rejects by reason with the first few examples
//! of each, and whether a reject rate is above `--max-reject-rate`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::config::RunConfig;
use crate::error::CporError;
use crate::output::{inputs_of, write_validation, Staged, Writer};
use crate::pipeline::{evaluate_inputs, summarize};
use crate::progress::Progress;
use crate::summary::InputSummary;

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
    pub inputs: BTreeMap<&'static str, InputSummary>,
    pub rejects_by_reason: BTreeMap<&'static str, u64>,
    /// The first examples of each reason, in file order.
    pub examples: BTreeMap<&'static str, Vec<Example>>,
    pub max_reject_rate: f64,
    pub reject_rate_exceeded: Vec<&'static str>,
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
        }
        for (reason, count) in self.rejects_by_reason.iter().filter(|(_, n)| **n > 0) {
            out.push_str(&format!("{reason}: {count}\n"));
            for e in self.examples.get(reason).into_iter().flatten() {
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
        out
    }
}

/// Checks the inputs and writes rejects.csv and validation.json into `out`.
/// `out` is reserved before any input is read (SPEC 6).
pub fn validate(config: &RunConfig, out: &Path, examples: usize) -> Result<Validation, CporError> {
    let staged = Staged::new(out, Writer::Validate, &inputs_of(config))?;
    let evaluated = evaluate_inputs(config, &Progress::new(config.progress))?;
    let summary = summarize(config, &evaluated)?;
    let mut shown: BTreeMap<&'static str, Vec<Example>> = BTreeMap::new();
    let mut in_file_order: Vec<&crate::rejects::Reject> = evaluated.rejects.iter().collect();
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
        as_of: summary.as_of.clone(),
        inputs: summary.inputs.clone(),
        rejects_by_reason: summary.rejects_by_reason.clone(),
        examples: shown,
        max_reject_rate: summary.max_reject_rate,
        reject_rate_exceeded: summary.reject_rate_exceeded.clone(),
    };
    let json = serde_json::to_string_pretty(&validation)
        .map_err(|e| CporError::Output { path: out.join("validation.json"), message: e.to_string() })?
        + "\n";
    write_validation(staged, &evaluated.rejects, &json)?;
    Ok(validation)
}
