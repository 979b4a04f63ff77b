//! `cpor run` (SPEC 2–8): the stages, then the ledger, reports, rejects and changes through the
//! staging directory, the summary (SPEC 7) written last, and exit code 3 when a reject rate is above
//! `--max-reject-rate`.

use std::time::Instant;

use crate::changes::{compare, keep_shard, read_previous, ChangeCounts};
use crate::config::{RunArgs, RunConfig};
use crate::error::{CporError, Exit, Failure};
use crate::ledger::ledger_order;
use crate::output::{OutputDir, Outputs};
use crate::pipeline::{evaluate_inputs_then, Evaluated};
use crate::progress::Progress;
use crate::summary::Summary;

/// `cpor run`: runs, prints the short summary (and the timings with `--verbose`).
pub fn command(args: RunArgs) -> Result<Exit, Failure> {
    let config = super::config(args)?;
    let (summary, evaluated) = run_keeping(&config)?;
    // The process ends right after: what the run evaluated (claims, responses, reports: millions of
    // small allocations) is left to the operating system instead of freed piece by piece, which took
    // about 0.4 s of the large profile's run (BENCHMARKS.md).
    std::mem::forget(evaluated);
    if config.verbose {
        let t = &summary.timings;
        let passes = match summary.usage_passes {
            1 => String::new(),
            n => format!(" (usage read in {n} passes to stay within --memory-budget)"),
        };
        eprintln!(
            "timings: read {:.2}s, validate {:.2}s, evaluate {:.2}s, report {:.2}s, write {:.2}s, total {:.2}s{passes}",
            t.read, t.validate, t.evaluate, t.report, t.write, t.total
        );
    }
    print!("{}", summary.human());
    if config.shard.is_some() {
        // A shard's reject rates are of its own rows: the merge decides exit code 3 on the whole.
        return Ok(Exit::Done);
    }
    Ok(super::done(&summary.reject_rate_exceeded))
}

/// Runs the whole pipeline and writes the output directory. Returns the summary it wrote.
pub fn run(config: &RunConfig) -> Result<Summary, CporError> {
    run_keeping(config).map(|(summary, _)| summary)
}

/// [`run`], handing back what was evaluated too, for the caller to drop or not.
fn run_keeping(config: &RunConfig) -> Result<(Summary, Evaluated), CporError> {
    let started = Instant::now();
    let progress = Progress::new(config.progress);
    let mut output = OutputDir::stage(config)?;
    let evaluated =
        evaluate_inputs_then(config, &progress, |with_report| output.prepare_reports(with_report, config.format))?;
    // Both only read what was evaluated: side by side, where the summary's counting, on one core,
    // left the other idle (BENCHMARKS.md, issue 14).
    let (summary, ledger) = rayon::join(|| Summary::of(config, &evaluated), || ledger_order(&evaluated.decided));
    let mut summary = summary?;
    let changes = match &config.previous {
        Some(dir) => {
            let (mut previous, sha256) = read_previous(dir)?;
            summary.options.previous_ledger_sha256 = Some(sha256);
            if let Some(shard) = config.shard {
                keep_shard(&mut previous, shard, &ledger, &evaluated.elsewhere);
            }
            let changes = compare(&previous, &ledger);
            summary.changes = Some(ChangeCounts::of(&changes));
            Some(changes)
        }
        None => None,
    };
    let stage = Instant::now();
    let outputs = Outputs { ledger: &ledger, rejects: &evaluated.rejects, changes: changes.as_deref() };
    output.write(config, &outputs, &progress)?;
    summary.timings.write = stage.elapsed().as_secs_f64();
    summary.timings.total = started.elapsed().as_secs_f64();
    summary.write_files(output.dir())?;
    output.commit()?;
    Ok((summary, evaluated))
}
