//! The command line (SPEC 8) and the validated configuration a run is given.
//!
//! clap parses every flag once; value parsers reject bad values (exit code 2); [`RunConfig::from_args`]
//! then resolves defaults and loads the calendar, so the pipeline only ever sees checked values.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use clap::{Args, Parser, Subcommand, ValueEnum};
use encoding_rs::Encoding;

use crate::calendar::{parse_holidays, parse_weekend, Calendar, Holiday, Weekend, WINDOW_DAYS_MAX, WINDOW_DAYS_MIN};
use crate::error::{context, Cause, CporError, Failure};
use crate::input::columns::ColumnMap;
use crate::input::{parse_delimiter, parse_encoding, TextOptions};
use crate::shard::Shard;
use crate::types::{parse_timestamp, Engagement, Micros};
use crate::values::{DateOrder, EngagementNames, UsagePeriod};

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
    /// Explain one claim: its window, the days counted, each response, duplicates, contests, report.
    Explain(ExplainArgs),
    /// Read and check the inputs only: rejects.csv, counts by reason and a few examples of each.
    Validate(ValidateArgs),
    /// Generate a deterministic, realistic dataset (for benchmarks and smoke tests).
    Generate(GenerateArgs),
    /// Put the outputs of `cpor run --shard I/N`, for I = 0…N-1, together into the output of the
    /// unsharded run.
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The shards' output directories, each once, in any order.
    #[arg(value_name = "DIR", required = true)]
    pub shards: Vec<PathBuf>,
    /// Output directory, replaced as a whole when the merge completes [default: out].
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,
    /// Nothing on stderr but errors and warnings.
    #[arg(long)]
    pub quiet: bool,
    /// The merge's timings, and each shard's, on stderr.
    #[arg(long)]
    pub verbose: bool,
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
    /// Layout of the files: `partner-center` writes the partner portal's export (PascalCase
    /// headers, tab-separated .tsv, M/D/YYYY dates, portal engagement and country names, monthly
    /// usage in usage.tsv.gz); read it with --date-order mdy --usage-period month.
    #[arg(long, value_enum, default_value_t = crate::generate::Layout::Canonical, conflicts_with = "format")]
    pub layout: crate::generate::Layout,
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

/// The inputs, the calendar and the as-of instant: shared by `run`, `validate` and `explain`.
#[derive(Debug, Clone, Default, Args)]
pub struct InputArgs {
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
    /// Field delimiter of text inputs: ',', ';', 'tab' or '|' [default: sniffed from each header line].
    #[arg(long, value_name = "D", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Encoding of text inputs, a WHATWG label such as windows-1252 [default: UTF-8, or UTF-16 with a
    /// byte-order mark].
    #[arg(long, value_name = "LABEL", value_parser = parse_encoding)]
    pub encoding: Option<&'static Encoding>,
    /// The instant to evaluate as of (RFC 3339, or YYYY-MM-DD HH:MM:SS in UTC) [default: now].
    #[arg(long, value_name = "TIMESTAMP", value_parser = parse_as_of)]
    pub as_of: Option<Micros>,
    /// Business days in the opt-out window, from 1 to 3650 [default: 5].
    #[arg(long, value_name = "N", value_parser = parse_window_days)]
    pub window_days: Option<u32>,
    /// IANA time zone in which days begin and end [default: UTC].
    #[arg(long, value_name = "TZ", value_parser = parse_timezone)]
    pub timezone: Option<Tz>,
    /// Weekend days, comma-separated: sat,sun; saturday,sunday; or none [default: sat,sun].
    #[arg(long, value_name = "DAYS", value_parser = parse_weekend)]
    pub weekend: Option<Weekend>,
    /// Exit with code 3 when an input's share of rejected records is above this fraction [default: 1].
    #[arg(long, value_name = "R", value_parser = parse_rate)]
    pub max_reject_rate: Option<f64>,
    /// Memory for checking usage rows' uniqueness: a size in MiB, or with K, M or G; above it usage
    /// is read in several passes [default: half the memory available].
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_budget)]
    pub memory_budget: Option<u64>,
    /// A TOML file whose keys are these flags' names (flags given on the command line win), and
    /// whose `[columns.claims]`, `[columns.responses]`, `[columns.usage]` tables name input headers.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    // The value forms of real exports (SPEC 9.3).
    /// How dates with slashes or dots read: ymd accepts only YYYY-MM-DD; mdy also M/D/YYYY; dmy also
    /// D/M/YYYY and D.M.YYYY (timestamps: the date, then H:MM[:SS], optionally AM/PM) [default: ymd].
    #[arg(long, value_enum, value_name = "ORDER")]
    pub date_order: Option<DateOrder>,
    /// What a usage row's date stands for: its day, or its calendar month [default: day].
    #[arg(long, value_enum, value_name = "PERIOD")]
    pub usage_period: Option<UsagePeriod>,
    /// More engagement names, from the config file's `[engagements]` table: (name, engagement).
    #[arg(skip)]
    pub engagement_names: Vec<(String, Engagement)>,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
    /// Per-stage timings on stderr.
    #[arg(long)]
    pub verbose: bool,
    /// The config file's `[columns.*]` tables (SPEC 9.1); no flag sets them.
    #[arg(skip)]
    pub columns: ColumnMap,
}

#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output directory, replaced as a whole when the run completes [default: out].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Format of the ledger, reports and rejects [default: csv].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// A former output directory: write changes.csv with what changed since.
    #[arg(long, value_name = "DIR")]
    pub previous: Option<PathBuf>,
    /// Windows closing within this many business days after the as-of date are listed as closing
    /// soon (summary.json, summary.html, stdout), from 0 to 3650 [default: 2].
    #[arg(long, value_name = "N", value_parser = parse_soon_days)]
    pub soon_days: Option<u32>,
    /// Run shard I of N (0 ≤ I < N): only the tenants of that shard are evaluated and reported;
    /// `cpor merge` puts the N shards' outputs together (SPEC 10).
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
}

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// The claim to explain.
    pub claim_id: String,
    #[command(flatten)]
    pub input: InputArgs,
    /// The explanation as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory for rejects.csv and validation.json [default: validation].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Examples shown per reject reason.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub examples: usize,
}

/// `--window-days`: a whole number of business days from [`WINDOW_DAYS_MIN`] to [`WINDOW_DAYS_MAX`].
pub fn parse_window_days(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (WINDOW_DAYS_MIN..=WINDOW_DAYS_MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{}' is not a whole number of business days from {WINDOW_DAYS_MIN} to {WINDOW_DAYS_MAX}",
            text.escape_debug()
        )),
    }
}

/// `--soon-days`: a whole number of business days from 0 to [`WINDOW_DAYS_MAX`].
pub fn parse_soon_days(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n <= WINDOW_DAYS_MAX => Ok(n),
        _ => {
            Err(format!("'{}' is not a whole number of business days from 0 to {WINDOW_DAYS_MAX}", text.escape_debug()))
        }
    }
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

/// A memory size in bytes: a number of MiB, or a number with K, M or G (KiB, MiB, GiB).
pub fn parse_memory_budget(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("'{text}' is not a memory size such as 512M or 4G");
    let (number, unit) = match text.char_indices().last() {
        // `i` is where the last character starts: a char boundary, so the slice cannot panic.
        Some((i, c)) if c.is_ascii_alphabetic() => (text.get(..i).unwrap_or(""), c.to_ascii_uppercase()),
        _ => (text, 'M'),
    };
    let shift = match unit {
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(bad()),
    };
    match number.trim().parse::<u64>() {
        Ok(n) if n > 0 && n.leading_zeros() >= shift => Ok(n << shift),
        _ => Err(bad()),
    }
}

/// Half of the memory the system reports available (`MemAvailable`), or 4 GiB when unknown.
fn default_memory_budget() -> u64 {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    available.map_or(4 << 30, |kib| kib * 1024 / 2)
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
    /// The holidays file's sha256.
    pub holidays_sha256: Option<String>,
    /// The `--config` file, if any: an input `--out` must not hold (SPEC 6).
    pub config_file: Option<PathBuf>,
    pub as_of: Micros,
    pub calendar: Calendar,
    pub out: PathBuf,
    pub format: OutputFormat,
    /// A former output directory to compare the ledger with.
    pub previous: Option<PathBuf>,
    pub max_reject_rate: f64,
    /// Bytes for usage rows' keys; more rows than fit are read in several passes.
    pub memory_budget: u64,
    /// Delimiter and encoding of text inputs (SPEC 9.2).
    pub text: TextOptions,
    /// Progress bars on stderr (a terminal, and not --quiet).
    pub progress: bool,
    pub verbose: bool,
    /// The value forms of real exports (SPEC 9.3).
    pub date_order: DateOrder,
    pub usage_period: UsagePeriod,
    pub engagements: EngagementNames,
    /// The header named for each column in the config file's `[columns.*]` tables (SPEC 9.1).
    pub columns: ColumnMap,
    /// `--shard I/N` (0 ≤ I < N ≤ 65536): only this shard's tenants (SPEC 10).
    pub shard: Option<Shard>,
    /// `--soon-days`: business days ahead in which a closing window is "closing soon".
    pub soon_days: u32,
}

/// A usage error found after parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl From<UsageError> for Failure {
    fn from(usage: UsageError) -> Failure {
        Failure::Usage(usage.0)
    }
}

/// The most a configuration file — `--config` or `--holidays` — may hold (SPEC 6): above it the file is
/// refused rather than read until memory runs out.
pub const MAX_CONFIG_FILE_BYTES: u64 = 64 << 20;

/// Reads a configuration file whole, through `Read::take`, so that a device or a FIFO that never ends
/// (`/dev/zero`) stops at the cap as a regular file does: more than [`MAX_CONFIG_FILE_BYTES`] is an
/// error, as is a file that cannot be opened or read.
pub fn read_config_bytes(path: &Path) -> Result<Vec<u8>, Cause> {
    let file = std::fs::File::open(path).map_err(|e| context("cannot read", e))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| context("cannot read", e))?;
    if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return Err(
            format!("larger than {} MiB, the most a configuration file may hold", MAX_CONFIG_FILE_BYTES >> 20).into()
        );
    }
    Ok(bytes)
}

/// Reads and parses the holidays file (SPEC 2.5): too large, unreadable, not UTF-8 or a bad row is
/// fatal (exit code 1).
/// Returns the holidays and the file's sha256, which summary.json records (the merge of shards
/// compares it: shards judged by different calendars are not one run).
pub fn load_holidays(path: &Path) -> Result<(Vec<Holiday>, String), CporError> {
    let bytes = read_config_bytes(path).map_err(|cause| CporError::Holidays { path: path.to_path_buf(), cause })?;
    Ok((parse_holidays(path, &bytes)?, crate::input::sha256_hex(&bytes)))
}

/// Applies a `--config` file's bytes. Its keys are the flags' names (with `-` or `_`, but only one
/// spelling of each), values TOML strings, numbers, booleans or (for inputs) arrays of strings;
/// a flag given on the command line wins.
///
/// Exit codes: what the file says — not UTF-8, not TOML, an unknown key, a key given twice, a bad
/// value — is a usage error (2), as the same flag on the command line would be. A file that cannot
/// be read or is above 64 MiB is a fatal error (1, [`CporError::Config`]), as every unreadable input
/// and the holidays file are; [`RunConfig::from_args`] reads it.
fn apply_config_file(path: &Path, bytes: &[u8], input: &mut InputArgs, run: &mut RunArgs) -> Result<(), UsageError> {
    let shown = path.display();
    let text = std::str::from_utf8(bytes)
        .map_err(|e| UsageError(format!("config file {shown}: not valid UTF-8 at byte offset {}", e.valid_up_to())))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // The TOML error spans several lines (the line quoted, a caret); the first says what and where.
        let message = e.to_string();
        let first = message.lines().next().unwrap_or("not a TOML document").to_string();
        UsageError(format!("config file {shown}: {}", first.escape_debug()))
    })?;
    let bad =
        |key: &str, message: String| UsageError(format!("config file {shown}: {}: {message}", key.escape_debug()));
    let mut spellings: HashMap<String, &str> = HashMap::new();
    for key in table.keys() {
        if let Some(other) = spellings.insert(key.replace('_', "-"), key) {
            return Err(UsageError(format!(
                "config file {shown}: keys '{}' and '{}' are the same setting; give it once",
                other.escape_debug(),
                key.escape_debug()
            )));
        }
    }
    for (key, value) in &table {
        let scalar = || match value {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(bad(key, "expected a single value".into())),
        };
        let list = || match value {
            toml::Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad(key, "expected strings".into())))
                .collect::<Result<Vec<String>, UsageError>>(),
            toml::Value::String(s) => Ok(vec![s.clone()]),
            _ => Err(bad(key, "expected a path or a list of paths".into())),
        };
        let flag = |v: String| match v.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad(key, format!("'{}' is not true or false", v.escape_debug()))),
        };
        match key.replace('_', "-").as_str() {
            "claims" if input.claims.is_empty() => input.claims = list()?,
            "responses" if input.responses.is_empty() => input.responses = list()?,
            "usage" if input.usage.is_empty() => input.usage = list()?,
            "claims" | "responses" | "usage" => {}
            "holidays" => input.holidays = input.holidays.take().or(Some(PathBuf::from(scalar()?))),
            "delimiter" => {
                input.delimiter = input.delimiter.or(Some(parse_delimiter(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "encoding" => {
                input.encoding = input.encoding.or(Some(parse_encoding(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "as-of" => input.as_of = input.as_of.or(Some(parse_as_of(&scalar()?).map_err(|e| bad(key, e))?)),
            "window-days" => {
                input.window_days = input.window_days.or(Some(parse_window_days(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "timezone" => {
                input.timezone = input.timezone.or(Some(parse_timezone(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "weekend" => input.weekend = input.weekend.or(Some(parse_weekend(&scalar()?).map_err(|e| bad(key, e))?)),
            "max-reject-rate" => {
                input.max_reject_rate = input.max_reject_rate.or(Some(parse_rate(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "memory-budget" => {
                input.memory_budget =
                    input.memory_budget.or(Some(parse_memory_budget(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "quiet" => input.quiet |= flag(scalar()?)?,
            "verbose" => input.verbose |= flag(scalar()?)?,
            "out" => run.out = run.out.take().or(Some(PathBuf::from(scalar()?))),
            "format" => {
                let format = <OutputFormat as ValueEnum>::from_str(&scalar()?, true).map_err(|e| bad(key, e))?;
                run.format = run.format.or(Some(format));
            }
            "previous" => run.previous = run.previous.take().or(Some(PathBuf::from(scalar()?))),
            "soon-days" => {
                run.soon_days = run.soon_days.or(Some(parse_soon_days(&scalar()?).map_err(|e| bad(key, e))?))
            }
            "shard" => run.shard = run.shard.or(Some(Shard::parse(&scalar()?).map_err(|e| bad(key, e))?)),
            // The value forms of real exports (SPEC 9.3).
            "date-order" => {
                let order = <DateOrder as ValueEnum>::from_str(&scalar()?, true).map_err(|e| bad(key, e))?;
                input.date_order = input.date_order.or(Some(order));
            }
            "usage-period" => {
                let period = <UsagePeriod as ValueEnum>::from_str(&scalar()?, true).map_err(|e| bad(key, e))?;
                input.usage_period = input.usage_period.or(Some(period));
            }
            "engagements" => input.engagement_names = config_engagement_names(value).map_err(|e| bad(key, e))?,
            "columns" => input.columns = parse_column_tables(value).map_err(|e| bad(key, e))?,
            _ => return Err(bad(key, "not a flag of cpor run".into())),
        }
    }
    Ok(())
}

/// The config file's `[engagements]` table: `"Name as exported" = "bizapps_revenue"`, each value an
/// engagement's code or display name (SPEC 9.3).
///
/// A name may be added, not given another meaning: a name that SPEC 2.4 or 9.3 already gives an
/// engagement (compared as claims are, `normalize_engagement_name`), or that another name of the
/// table already took, must name that same engagement.
fn config_engagement_names(value: &toml::Value) -> Result<Vec<(String, Engagement)>, String> {
    let table = value.as_table().ok_or("expected a table of \"name\" = \"engagement code\"")?;
    let mut names: Vec<(String, Engagement)> = Vec::new();
    for (name, code) in table {
        let text = code.as_str().ok_or_else(|| format!("{}: expected an engagement code", name.escape_debug()))?;
        let engagement = Engagement::parse(text)
            .ok_or_else(|| format!("{}: '{}' is not an engagement code", name.escape_debug(), text.escape_debug()))?;
        if let Some(known) = EngagementNames::new(&names).parse(name).filter(|&known| known != engagement) {
            return Err(format!(
                "{}: already a name of {}, so it cannot name {}",
                name.escape_debug(),
                known.as_str(),
                engagement.as_str()
            ));
        }
        names.push((name.clone(), engagement));
    }
    Ok(names)
}

/// The config file's `columns` table (SPEC 9.1): `[columns.claims]`, `[columns.responses]` and
/// `[columns.usage]`, each mapping a column the source knows to the header to read it from.
fn parse_column_tables(value: &toml::Value) -> Result<ColumnMap, String> {
    use crate::input::columns::known_columns;
    use crate::rejects::Source;
    let tables = value.as_table().ok_or("expected tables [columns.claims], [columns.responses], [columns.usage]")?;
    let mut map = ColumnMap::default();
    for (name, table) in tables {
        let source = match name.as_str() {
            "claims" => Source::Claims,
            "responses" => Source::Responses,
            "usage" => Source::Usage,
            _ => return Err(format!("'{}' is not claims, responses or usage", name.escape_debug())),
        };
        let table = table.as_table().ok_or_else(|| format!("{name}: expected a table of column = \"Header\""))?;
        for (column, header) in table {
            let Some(known) = known_columns(source).find(|c| c == column) else {
                let known: Vec<&str> = known_columns(source).collect();
                return Err(format!("{name}.{}: not a column of {name} ({})", column.escape_debug(), known.join(", ")));
            };
            match header.as_str() {
                Some(header) if !header.trim().is_empty() => map.insert(source, known, header),
                _ => return Err(format!("{name}.{}: expected a header name", column.escape_debug())),
            }
        }
    }
    Ok(map)
}

impl RunConfig {
    /// Resolves a config file, then defaults: without any input flag, the sample in `data/` (and
    /// its holidays). What the config file or the flags say wrongly is [`Failure::Usage`] (exit 2); a
    /// config or holidays file that cannot be read is [`Failure::Fatal`] (exit 1).
    pub fn from_args(mut args: RunArgs, attended: bool) -> Result<RunConfig, Failure> {
        if let Some(path) = args.input.config.clone() {
            let bytes = match read_config_bytes(&path) {
                Ok(bytes) => bytes,
                Err(cause) => return Err(CporError::Config { path, cause }.into()),
            };
            let mut input = std::mem::take(&mut args.input);
            apply_config_file(&path, &bytes, &mut input, &mut args)?;
            args.input = input;
        }
        let input = &args.input;
        let given = [&input.claims, &input.responses, &input.usage];
        let none = given.iter().all(|g| g.is_empty());
        let (inputs, holidays) = if none {
            let sample = |name: &str| vec![format!("{SAMPLE_DIR}/{name}.csv")];
            let holidays = input.holidays.clone().or_else(|| Some(PathBuf::from(SAMPLE_DIR).join("holidays.csv")));
            (Inputs { claims: sample("claims"), responses: sample("responses"), usage: sample("usage") }, holidays)
        } else {
            for (flag, paths) in ["--claims", "--responses", "--usage"].iter().zip(given) {
                if paths.is_empty() {
                    return Err(Failure::Usage(format!("{flag} is required when any input is given")));
                }
            }
            let inputs =
                Inputs { claims: input.claims.clone(), responses: input.responses.clone(), usage: input.usage.clone() };
            (inputs, input.holidays.clone())
        };
        let as_of = input.as_of.unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
        let timezone = input.timezone.unwrap_or(Tz::UTC);
        let weekend = input.weekend.unwrap_or_default();
        let window_days = input.window_days.unwrap_or(5);
        let (holiday_rows, holidays_sha256) = match &holidays {
            Some(path) => {
                let (rows, sha256) = load_holidays(path)?;
                (rows, Some(sha256))
            }
            None => (Vec::new(), None),
        };
        Ok(RunConfig {
            inputs,
            holidays,
            holidays_sha256,
            config_file: input.config.clone(),
            as_of,
            calendar: Calendar::new(timezone, weekend, window_days, holiday_rows),
            out: args.out.clone().unwrap_or_else(|| PathBuf::from("out")),
            format: args.format.unwrap_or(OutputFormat::Csv),
            previous: args.previous.clone(),
            max_reject_rate: input.max_reject_rate.unwrap_or(1.0),
            memory_budget: input.memory_budget.unwrap_or_else(default_memory_budget),
            text: TextOptions { delimiter: input.delimiter, encoding: input.encoding },
            progress: attended && !input.quiet,
            verbose: input.verbose,
            date_order: input.date_order.unwrap_or_default(),
            usage_period: input.usage_period.unwrap_or_default(),
            engagements: EngagementNames::new(&input.engagement_names),
            columns: input.columns.clone(),
            shard: args.shard,
            soon_days: args.soon_days.unwrap_or(2),
        })
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
        for (text, bytes) in
            [("512", 512 << 20), ("512M", 512 << 20), ("4g", 4 << 30), ("1K", 1024), (" 2 G ", 2 << 30)]
        {
            assert_eq!(parse_memory_budget(text), Ok(bytes), "{text}");
        }
        for bad in ["0", "-1", "4T", "G", "lots", "99999999999G"] {
            assert!(parse_memory_budget(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn window_days_range() {
        assert_eq!(parse_window_days("1"), Ok(1));
        assert_eq!(parse_window_days(" 3650 "), Ok(3650));
        for bad in ["0", "3651", "100000000", "-1", "five", "4294967296"] {
            let err = parse_window_days(bad).unwrap_err();
            assert!(err.contains("from 1 to 3650"), "{bad}: {err}");
        }
    }

    fn apply(text: &[u8]) -> Result<(InputArgs, RunArgs), String> {
        let (mut input, mut run) = (InputArgs::default(), RunArgs::default());
        apply_config_file(Path::new("c.toml"), text, &mut input, &mut run).map_err(|e| e.0)?;
        Ok((input, run))
    }

    #[test]
    fn config_keys_with_two_spellings() {
        let (input, _) = apply(b"window_days = 3\nmax-reject-rate = 0.5\n").unwrap();
        assert_eq!(input.window_days, Some(3));
        for text in ["window-days = 3\nwindow_days = 4\n", "as_of = \"2026-01-01\"\nas-of = \"2026-01-01\"\n"] {
            let err = apply(text.as_bytes()).unwrap_err();
            assert!(err.contains("are the same setting"), "{err}");
        }
        let err = apply(b"window-days = 3\nwindow_days = 3\n").unwrap_err();
        assert!(err.contains("'window-days'") && err.contains("'window_days'"), "{err}");
    }

    #[test]
    fn config_values_are_checked() {
        assert!(apply(b"window-days = 100000000\n").unwrap_err().contains("from 1 to 3650"));
        assert!(apply(b"quiet = \"yes\"\n").unwrap_err().contains("true or false"));
        assert!(apply(b"quiet = true\nverbose = false\n").is_ok());
        assert!(apply(b"window-days = 5\n\xff\n").unwrap_err().contains("byte offset 16"));
        let err = apply(b"window-days = [\n").unwrap_err();
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn config_keys_of_export_values() {
        let text = "date-order = \"dmy\"\nusage_period = \"month\"\n[engagements]\n\"Umsatz neu\" = \"bizapps_revenue\"\n\"OSA alt\" = \"MCI BizApps Presales Advisor\"\n";
        let (input, _) = apply(text.as_bytes()).unwrap();
        assert_eq!(input.date_order, Some(DateOrder::Dmy));
        assert_eq!(input.usage_period, Some(UsagePeriod::Month));
        assert_eq!(
            input.engagement_names,
            [
                ("OSA alt".to_string(), Engagement::BizappsPresalesAdvisor),
                ("Umsatz neu".to_string(), Engagement::BizappsRevenue)
            ]
        );
        assert!(apply(b"date-order = \"ydm\"\n").unwrap_err().contains("date-order"));
        assert!(apply(b"usage-period = \"week\"\n").is_err());
        assert!(apply(b"[engagements]\n\"X\" = \"partner_magic\"\n").unwrap_err().contains("partner_magic"));
        // A known name cannot be given another engagement; given its own, it changes nothing.
        let display = b"[engagements]\n\"Modern Work and Security Usage\" = \"bizapps_revenue\"\n";
        assert!(apply(display).unwrap_err().contains("already a name of modern_work_security_usage"));
        let portal = b"[engagements]\n\"umsatz VON microsoft  Business Applications\" = \"bizapps_presales_advisor\"\n";
        assert!(apply(portal).unwrap_err().contains("already a name of bizapps_revenue"));
        assert!(apply(b"[engagements]\n\"bizapps_revenue\" = \"Business Applications Revenue\"\n").is_ok());
        let twice = b"[engagements]\n\"OSA neu\" = \"bizapps_revenue\"\n\"osa  NEU\" = \"bizapps_presales_advisor\"\n";
        assert!(apply(twice).unwrap_err().contains("already a name of bizapps_revenue"));
        assert!(apply(b"engagements = \"bizapps_revenue\"\n").is_err());
        let cli = Cli::try_parse_from(["cpor", "run", "--date-order", "mdy", "--usage-period", "month"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("a run") };
        assert_eq!((args.input.date_order, args.input.usage_period), (Some(DateOrder::Mdy), Some(UsagePeriod::Month)));
        assert!(Cli::try_parse_from(["cpor", "run", "--date-order", "dym"]).is_err());
    }

    #[test]
    fn config_column_tables() {
        use crate::rejects::Source;
        let (input, _) =
            apply(b"[columns.usage]\ntenant_id = \"Customer Tenant ID\"\n[columns.claims]\nclaim_id = \"Id\"\n")
                .unwrap();
        assert_eq!(input.columns.get(Source::Usage, "tenant_id"), Some("Customer Tenant ID"));
        assert_eq!(input.columns.get(Source::Claims, "claim_id"), Some("Id"));
        assert_eq!(input.columns.get(Source::Responses, "claim_id"), None);
        for (text, why) in [
            ("[columns.ledger]\nx = \"y\"\n", "not claims, responses or usage"),
            ("[columns.usage]\nseats = \"y\"\n", "not a column of usage"),
            ("[columns.usage]\ndate = 3\n", "expected a header name"),
            ("columns = \"x\"\n", "expected tables"),
        ] {
            let err = apply(text.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn endless_config_files_stop_at_the_cap() {
        let began = std::time::Instant::now();
        let err = read_config_bytes(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("64 MiB"), "{err}");
        assert!(began.elapsed().as_secs() < 20);
        assert!(read_config_bytes(Path::new("/no/such/file")).is_err());
    }

    proptest::proptest! {
        /// Any bytes as a config file: applied or refused, never a panic.
        #[test]
        fn any_bytes_as_config_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = apply(&bytes);
        }

        /// Config-shaped text with arbitrary keys and values: applied or refused, never a panic.
        #[test]
        fn config_like_text_never_panics(lines in proptest::collection::vec("[a-z_-]{1,16} = (\"[ -~]{0,12}\"|[0-9-]{1,12}|true|\\[\"a\"\\])", 0..6)) {
            let _ = apply(lines.join("\n").as_bytes());
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
        assert_eq!(args.input.claims, ["a.csv", "dir"]);
        assert_eq!(args.input.window_days, Some(3));
        assert_eq!(args.format, Some(OutputFormat::Parquet));
        assert!(Cli::try_parse_from(["cpor", "run", "--window-days", "0"]).is_err());
        assert!(Cli::try_parse_from(["cpor", "run", "--format", "xlsx"]).is_err());
    }
}
