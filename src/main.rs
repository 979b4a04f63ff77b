//! The `cpor` binary: parses the command line, runs, and maps the outcome to an exit code
//! (SPEC 8): 0 done, 1 fatal error, 2 usage error, 3 done but a reject rate was exceeded.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cpor::config::{ExplainArgs, GenerateArgs, RunArgs, ValidateArgs};
use cpor::{Cli, Command, RunConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => generate(&args),
        Command::Run(args) => run(args),
        Command::Explain(args) => explain(args),
        Command::Validate(args) => validate(args),
    }
}

/// Builds the validated configuration, or the exit code of a usage or fatal error.
fn config(args: RunArgs) -> Result<RunConfig, ExitCode> {
    let attended = std::io::stderr().is_terminal();
    match RunConfig::from_args(args, attended) {
        Err(usage) => {
            eprintln!("error: {}", usage.0);
            Err(ExitCode::from(2))
        }
        Ok(Err(fatal)) => Err(fatal_exit(&fatal)),
        Ok(Ok(config)) => Ok(config),
    }
}

fn run(args: RunArgs) -> ExitCode {
    let config = match config(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cpor::run(&config) {
        Err(fatal) => fatal_exit(&fatal),
        Ok(summary) => {
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
            if summary.reject_rate_exceeded.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
    }
}

fn explain(args: ExplainArgs) -> ExitCode {
    let config = match config(RunArgs { input: args.input, ..RunArgs::default() }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let evaluated = match cpor::pipeline::evaluate_inputs(&config, &cpor::progress::Progress::new(config.progress)) {
        Ok(e) => e,
        Err(fatal) => return fatal_exit(&fatal),
    };
    let explanation = cpor::explain::explain(&config, &evaluated, &args.claim_id);
    if args.json {
        match serde_json::to_string_pretty(&explanation) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("cpor: writing the explanation as JSON: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", explanation.text());
    }
    if explanation.outcome == "unknown" {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn validate(args: ValidateArgs) -> ExitCode {
    let out = args.out.clone().unwrap_or_else(|| "validation".into());
    let config = match config(RunArgs { input: args.input, ..RunArgs::default() }) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cpor::validate::validate(&config, &out, args.examples) {
        Err(fatal) => fatal_exit(&fatal),
        Ok(validation) => {
            print!("{}", validation.human());
            if validation.reject_rate_exceeded.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
    }
}

fn fatal_exit(error: &cpor::CporError) -> ExitCode {
    eprintln!("cpor: {error:#}");
    ExitCode::from(1)
}

fn generate(args: &GenerateArgs) -> ExitCode {
    let (tenants, days) = args.profile.size();
    let tenants = args.tenants.map_or(tenants, |t| t as usize);
    let days = args.days.unwrap_or(days);
    match cpor::generate::generate(tenants, days, args.seed, args.format, &args.out) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            let ext = args.format.extension();
            let dir = args.out.display();
            println!(
                "run it: cpor run --claims {dir}/claims.{ext} --responses {dir}/responses.{ext} --usage {dir}/usage.{ext} --holidays {dir}/holidays.csv --as-of {}",
                cpor::generate::GENERATED_AS_OF
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cpor: generating into {}: {error:#}", args.out.display());
            ExitCode::from(1)
        }
    }
}
