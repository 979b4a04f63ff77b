//! `cpor generate` (README, "Generating data and benchmarks"): writes a deterministic dataset with
//! `generate`, then prints what it wrote and the command that runs it.

use anyhow::Context;

use crate::config::GenerateArgs;
use crate::error::{Exit, Failure};
use crate::generate::{generate, GENERATED_AS_OF};

pub fn command(args: &GenerateArgs) -> Result<Exit, Failure> {
    let (tenants, days) = args.profile.size();
    let tenants = args.tenants.map_or(tenants, |t| t as usize);
    let days = args.days.unwrap_or(days);
    let lines = generate(tenants, days, args.seed, args.format, &args.out)
        .with_context(|| format!("generating into {}", args.out.display()))?;
    for line in lines {
        println!("{line}");
    }
    let ext = args.format.extension();
    let dir = args.out.display();
    println!(
        "run it: cpor run --claims {dir}/claims.{ext} --responses {dir}/responses.{ext} --usage {dir}/usage.{ext} --holidays {dir}/holidays.csv --as-of {GENERATED_AS_OF}"
    );
    Ok(Exit::Done)
}
