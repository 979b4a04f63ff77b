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
    let lines = generate(tenants, days, args.seed, args.format, args.layout, &args.out)
        .with_context(|| format!("generating into {}", args.out.display()))?;
    for line in lines {
        println!("{line}");
    }
    let file = |table: &str| args.layout.file_name(table, args.format);
    let (claims, responses, usage) = (file("claims"), file("responses"), file("usage"));
    let dir = args.out.display();
    let flags = args.layout.run_flags();
    println!(
        "run it: cpor run --claims {dir}/{claims} --responses {dir}/{responses} --usage {dir}/{usage} --holidays {dir}/holidays.csv --as-of {GENERATED_AS_OF}{flags}"
    );
    Ok(Exit::Done)
}
