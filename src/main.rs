//! The `cpor` binary: parses the command line, runs, and maps the outcome to an exit code
//! (SPEC 8): 0 done, 1 fatal error, 2 usage error, 3 done but a reject rate was exceeded.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cpor::config::GenerateArgs;
use cpor::{Cli, Command, RunConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Generate(args) => generate(&args),
        Command::Run(args) => {
            let attended = std::io::stderr().is_terminal();
            let config = match RunConfig::from_args(args, attended) {
                Err(usage) => {
                    eprintln!("error: {}", usage.0);
                    return ExitCode::from(2);
                }
                Ok(Err(fatal)) => return fatal_exit(&fatal),
                Ok(Ok(config)) => config,
            };
            match cpor::run(&config) {
                Err(fatal) => fatal_exit(&fatal),
                Ok(summary) => {
                    if config.verbose {
                        let t = &summary.timings;
                        eprintln!(
                            "timings: read {:.2}s, validate {:.2}s, evaluate {:.2}s, report {:.2}s, write {:.2}s, total {:.2}s",
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
