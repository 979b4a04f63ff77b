//! The `cpor` binary: parses the command line, runs, and maps the outcome to an exit code
//! (SPEC 8): 0 done, 1 fatal error, 2 usage error, 3 done but a reject rate was exceeded.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use cpor::{Cli, Command, RunConfig};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
                            "timings: read {:.2}s, evaluate {:.2}s, report {:.2}s, write {:.2}s, total {:.2}s",
                            t.read, t.evaluate, t.report, t.write, t.total
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
