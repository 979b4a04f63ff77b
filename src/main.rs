//! The `cpor` binary (SPEC 8): parses the command line, runs the command, and maps how it ended to
//! the exit code — here and nowhere else: 0 done, 1 fatal error, 2 usage error, 3 done but a reject
//! rate was exceeded ([`Exit`]).

use std::process::ExitCode;

use clap::Parser;
use cpor::cmd;
use cpor::error::Exit;
use cpor::{Cli, Command};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ended = match cli.command {
        Command::Generate(args) => cmd::generate::command(&args),
        Command::Run(args) => cmd::run::command(args),
        Command::Explain(args) => cmd::explain::command(args),
        Command::Validate(args) => cmd::validate::command(args),
        Command::Merge(args) => cmd::merge::command(&args),
    };
    let exit: Exit = ended.unwrap_or_else(|failure| {
        eprintln!("{failure}");
        failure.exit()
    });
    ExitCode::from(exit as u8)
}
