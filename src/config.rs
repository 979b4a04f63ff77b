//! The command line (SPEC 8) and the validated configuration a run is given.
//!
//! clap parses every flag once; value parsers reject bad values (exit code 2); [`RunConfig::from_args`]
//! then resolves defaults and loads the calendar, so the pipeline only ever sees checked values.

use std::path::PathBuf;

use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::calendar::{load_holidays, parse_weekend, Calendar, Weekend};
use crate::error::CporError;
use crate::types::{format_timestamp, parse_timestamp, Micros};

/// Where the sample data lives, read when no input is named.
pub const SAMPLE_DIR: &str = "data";

#[derive(Debug, Parser)]
#[command(
    name = "cpor",
    version,
    about = "Reconciles partner-of-record claims: ledger, rejects and partner-scoped usage reports"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate every claim as of an instant and write the ledger, reports, rejects and summary.
    Run(RunArgs),
    /// Generate a deterministic, realistic dataset (for benchmarks and smoke tests).
    Generate(GenerateArgs),
}

/// Named dataset sizes of `cpor generate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// 1,000 tenants.
    Small,
    /// 100,000 tenants.
    Medium,
    /// 1,000,000 tenants, about 50 million usage rows.
    Large,
}

impl Profile {
    /// Tenants, and days of usage per scope.
    pub fn size(self) -> (usize, u32) {
        match self {
            Profile::Small => (1_000, 26),
            Profile::Medium => (100_000, 26),
            Profile::Large => (1_000_000, 26),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Dataset size; --tenants and --days override it.
    #[arg(long, value_enum, default_value_t = Profile::Small)]
    pub profile: Profile,
    /// Number of tenants.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tenants: Option<u64>,
    /// Days of usage per tenant, workload and subscription.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub days: Option<u32>,
    /// Seed: the same seed and size give the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Format of the claims, responses and usage files.
    #[arg(long, value_enum, default_value_t = OutputFormat::Csv)]
    pub format: OutputFormat,
    /// Directory to write claims, responses, usage, holidays.csv and params.json into.
    #[arg(long, value_name = "DIR", default_value = "generated")]
    pub out: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Csv,
    Parquet,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Claims input: a file, a directory or a glob; repeatable.
    #[arg(long, value_name = "P")]
    pub claims: Vec<String>,
    /// Responses input: a file, a directory or a glob; repeatable.
    #[arg(long, value_name = "P")]
    pub responses: Vec<String>,
    /// Usage input: a file, a directory or a glob; repeatable.
    #[arg(long, value_name = "P")]
    pub usage: Vec<String>,
    /// Holidays file (date,country,name).
    #[arg(long, value_name = "FILE")]
    pub holidays: Option<PathBuf>,
    /// The instant to evaluate as of (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC); default: now.
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_as_of)]
    pub as_of: Option<Micros>,
    /// Business days in the opt-out window.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub window_days: u32,
    /// IANA time zone in which days begin and end.
    #[arg(long, value_name = "TZ", default_value = "UTC", value_parser = parse_timezone)]
    pub timezone: Tz,
    /// Weekend days, comma-separated (sat,sun; saturday,sunday; or none).
    #[arg(long, value_name = "DAYS", default_value = "sat,sun", value_parser = parse_weekend)]
    pub weekend: Weekend,
    /// Output directory, replaced as a whole when the run completes.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Format of the ledger, reports and rejects.
    #[arg(long, value_enum, default_value_t = OutputFormat::Csv)]
    pub format: OutputFormat,
    /// Exit with code 3 when an input's share of rejected records is above this fraction.
    #[arg(long, value_name = "R", default_value_t = 1.0, value_parser = parse_rate)]
    pub max_reject_rate: f64,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    /// Per-stage timings on stderr.
    #[arg(long)]
    pub verbose: bool,
}

pub fn parse_as_of(text: &str) -> Result<Micros, String> {
    parse_timestamp(text.trim()).ok_or_else(|| format!("'{text}' is not a timestamp like 2026-11-23T06:00:00Z"))
}

pub fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.trim().parse::<Tz>().map_err(|_| format!("'{text}' is not an IANA time zone name like Europe/Berlin"))
}

pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{text}' is not a fraction from 0 to 1")),
    }
}

/// The input paths of a run, as given.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub claims: Vec<String>,
    pub responses: Vec<String>,
    pub usage: Vec<String>,
}

/// A validated run configuration.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub inputs: Inputs,
    pub holidays: Option<PathBuf>,
    pub as_of: Micros,
    pub calendar: Calendar,
    pub out: PathBuf,
    pub format: OutputFormat,
    pub max_reject_rate: f64,
    /// Progress bars on stderr (a terminal, and not --quiet).
    pub progress: bool,
    pub verbose: bool,
}

/// A usage error found after parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl RunConfig {
    /// Resolves defaults: without any input flag, the sample in `data/` (and its holidays).
    pub fn from_args(args: RunArgs, attended: bool) -> Result<Result<RunConfig, CporError>, UsageError> {
        let given = [&args.claims, &args.responses, &args.usage];
        let none = given.iter().all(|g| g.is_empty());
        let (inputs, holidays) = if none {
            let sample = |name: &str| vec![format!("{SAMPLE_DIR}/{name}.csv")];
            let holidays = args.holidays.clone().or_else(|| Some(PathBuf::from(SAMPLE_DIR).join("holidays.csv")));
            (Inputs { claims: sample("claims"), responses: sample("responses"), usage: sample("usage") }, holidays)
        } else {
            for (flag, paths) in ["--claims", "--responses", "--usage"].iter().zip(given) {
                if paths.is_empty() {
                    return Err(UsageError(format!("{flag} is required when any input is given")));
                }
            }
            let inputs =
                Inputs { claims: args.claims.clone(), responses: args.responses.clone(), usage: args.usage.clone() };
            (inputs, args.holidays.clone())
        };
        let as_of = args.as_of.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
        Ok((|| {
            let holiday_rows = match &holidays {
                Some(path) => load_holidays(path)?,
                None => Vec::new(),
            };
            Ok(RunConfig {
                inputs,
                holidays,
                as_of,
                calendar: Calendar::new(args.timezone, args.weekend, args.window_days, holiday_rows),
                out: args.out,
                format: args.format,
                max_reject_rate: args.max_reject_rate,
                progress: attended && !args.quiet,
                verbose: args.verbose,
            })
        })())
    }

    pub fn describe_as_of(&self) -> String {
        format_timestamp(self.as_of)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        assert!(parse_as_of("2026-11-23T06:00:00Z").is_ok());
        assert!(parse_as_of("yesterday").is_err());
        assert_eq!(parse_timezone("Europe/Berlin").unwrap(), chrono_tz::Europe::Berlin);
        assert!(parse_timezone("Mars/Olympus").is_err());
        assert_eq!(parse_rate("0.25").unwrap(), 0.25);
        for bad in ["1.5", "-0.1", "half", "NaN"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_parses_every_flag() {
        let cli = Cli::try_parse_from([
            "cpor",
            "run",
            "--claims",
            "a.csv",
            "--claims",
            "dir",
            "--responses",
            "r.csv",
            "--usage",
            "u.parquet",
            "--holidays",
            "h.csv",
            "--as-of",
            "2026-11-23T06:00:00Z",
            "--window-days",
            "3",
            "--timezone",
            "Asia/Tokyo",
            "--weekend",
            "fri,sat",
            "--out",
            "o",
            "--format",
            "parquet",
            "--max-reject-rate",
            "0.1",
            "--quiet",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else { panic!("a run") };
        assert_eq!(args.claims, ["a.csv", "dir"]);
        assert_eq!(args.window_days, 3);
        assert_eq!(args.format, OutputFormat::Parquet);
        assert!(Cli::try_parse_from(["cpor", "run", "--window-days", "0"]).is_err());
        assert!(Cli::try_parse_from(["cpor", "run", "--format", "xlsx"]).is_err());
    }
}
