//! `cpor explain CLAIM_ID` (SPEC 3–5 told in words; README, "For analysts"): evaluates the inputs
//! as `run` does, writes nothing, and prints one claim's explanation (`explain`) as text or JSON.
//! An id no claim record has exits 1.

use anyhow::Context;

use crate::config::{ExplainArgs, RunArgs};
use crate::error::{Exit, Failure};
use crate::explain::{explain, Outcome};
use crate::pipeline::evaluate_inputs;
use crate::progress::Progress;

pub fn command(args: ExplainArgs) -> Result<Exit, Failure> {
    let config = super::config(RunArgs { input: args.input, ..RunArgs::default() })?;
    let evaluated = evaluate_inputs(&config, &Progress::new(config.progress))?;
    let explanation = explain(&config, &evaluated, &args.claim_id);
    if args.json {
        let json = serde_json::to_string_pretty(&explanation).context("writing the explanation as JSON")?;
        println!("{json}");
    } else {
        print!("{}", explanation.text());
    }
    Ok(if explanation.outcome == Outcome::Unknown { Exit::Fatal } else { Exit::Done })
}
