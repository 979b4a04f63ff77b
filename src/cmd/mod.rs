//! Each command's glue (SPEC 8), one file per command: from its parsed arguments to the validated
//! configuration, the stages it runs, what it prints, and the [`Exit`] it ends with. `main.rs` maps
//! that to the process exit code.

use std::io::IsTerminal;

use crate::config::{RunArgs, RunConfig};
use crate::error::{Exit, Failure};

pub mod explain;
pub mod generate;
pub mod merge;
pub mod run;
pub mod validate;

/// The validated configuration of a command that reads the inputs; progress is shown only on a
/// terminal.
fn config(args: RunArgs) -> Result<RunConfig, Failure> {
    RunConfig::from_args(args, std::io::stderr().is_terminal())
}

/// Done, or done with a reject rate above `--max-reject-rate` (SPEC 8).
fn done(reject_rate_exceeded: &[String]) -> Exit {
    if reject_rate_exceeded.is_empty() {
        Exit::Done
    } else {
        Exit::RejectRate
    }
}
