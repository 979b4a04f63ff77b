//! `cpor merge` (SPEC 10): the shards' outputs into one, then the run's warnings on stderr, its short
//! summary on stdout and its exit code — 3 when an input's reject rate over all shards is above `--max-reject-rate`.

use crate::config::MergeArgs;
use crate::error::{Exit, Failure};

pub fn command(args: &MergeArgs) -> Result<Exit, Failure> {
    let summary = crate::merge::merge(&args.shards, &args.out)?;
    // The warnings each shard gave while reading (an input file without rows), as the unsharded run
    // gives them: an operator who runs shards sees them here.
    for warning in &summary.warnings {
        eprintln!("cpor: warning: {warning}");
    }
    if args.verbose {
        let t = &summary.timings;
        eprintln!("timings: merge {:.2}s (reading shard summaries {:.2}s)", t.total, t.read);
        for shard in summary.shards.iter().flatten() {
            let t = &shard.timings;
            eprintln!(
                "shard {}: read {:.2}s, validate {:.2}s, evaluate {:.2}s, report {:.2}s, write {:.2}s, total {:.2}s",
                shard.index, t.read, t.validate, t.evaluate, t.report, t.write, t.total
            );
        }
    }
    print!("{}", summary.human());
    Ok(super::done(&summary.reject_rate_exceeded))
}
