//! The fatal errors of a run (SPEC 8, exit code 1), a command's failures and the exit codes they map
//! to (SPEC 8). A bad record is never one of these: it becomes a reject (SPEC 6). Each variant names
//! the file or column at fault, in one line.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// What a [`CporError`] failed on, kept whole so that a caller can inspect it (an `io::Error`'s
/// kind, say): an `io::Error`, a `PolarsError`, a `csv::Error`, …, or a plain message, made one by
/// `.into()`, when no error lies beneath. [`Failure`] prints it after the variant's own text.
pub type Cause = Box<dyn StdError + Send + Sync>;

/// A cause with where it happened, "line 3" before a CSV error: printed `{context}: {cause}`.
#[derive(Debug, Error)]
#[error("{context}")]
pub struct Context {
    context: String,
    #[source]
    cause: Cause,
}

/// `cause` with `context` before it (see [`Context`]).
pub fn context(context: impl Into<String>, cause: impl Into<Cause>) -> Cause {
    Box::new(Context { context: context.into(), cause: cause.into() })
}

#[derive(Debug, Error)]
pub enum CporError {
    /// An input path that names no file, a directory or glob with no `.csv`/`.parquet` file in it.
    #[error("{source_name} input {path}")]
    InputPath {
        source_name: &'static str,
        path: String,
        #[source]
        cause: Cause,
    },

    /// A file that cannot be opened or decoded as CSV or Parquet.
    #[error("cannot read {source_name} file {path}")]
    Unreadable {
        source_name: &'static str,
        path: PathBuf,
        #[source]
        cause: Cause,
    },

    /// A required column is absent from an input file's header or schema: none of its names
    /// (SPEC 9.1) is there; `tried` lists them.
    #[error("{source_name} file {path}: missing required column '{column}' (tried {tried})")]
    MissingColumn { source_name: &'static str, path: PathBuf, column: String, tried: String },

    /// The config file maps a column to a header the input file lacks (SPEC 9.1).
    #[error(
        "{source_name} file {path}: no header '{header}', which the config file's [columns.{source_name}] names for column '{column}'"
    )]
    MappedColumnMissing { source_name: &'static str, path: PathBuf, column: String, header: String },

    /// The holidays file cannot be read or holds a bad row.
    #[error("holidays file {path}")]
    Holidays {
        path: PathBuf,
        #[source]
        cause: Cause,
    },

    /// The previous output directory given to compare with cannot be read.
    #[error("previous output {path}")]
    Previous {
        path: PathBuf,
        #[source]
        cause: Cause,
    },

    /// Writing the output directory failed.
    #[error("writing output {path}")]
    Output {
        path: PathBuf,
        #[source]
        cause: Cause,
    },

    /// The run's own accounting check failed: a record was lost or counted twice (SPEC 7).
    #[error("accounting check failed for {source_name}: {message}")]
    Accounting { source_name: &'static str, message: String },

    /// The `--config` file cannot be read, or is larger than 64 MiB (SPEC 6). What it says is checked
    /// as command-line usage instead (exit code 2).
    #[error("config file {path}")]
    Config {
        path: PathBuf,
        #[source]
        cause: Cause,
    },

    /// `--out` names something cpor did not write (SPEC 6): a file, a link, a directory holding
    /// other files or an input, the current directory. Nothing was touched.
    #[error("refusing to replace {}: {reason}", path.display())]
    OutRefused { path: PathBuf, reason: String },

    /// A directory given to `cpor merge` that is not a shard's output, or whose files cannot be read
    /// (SPEC 10).
    #[error("shard {}", path.display())]
    Shard {
        path: PathBuf,
        #[source]
        cause: Cause,
    },

    /// The directories given to `cpor merge` are not the N shards of one run (SPEC 10): nothing was
    /// written.
    #[error("cannot merge: {0}")]
    Merge(String),

    /// Another run holds the lock of the output directory (SPEC 6).
    #[error("another cpor run or merge (pid {pid}) is using {}", path.display())]
    Locked { path: PathBuf, pid: String },
}

impl CporError {
    /// This error and its causes in one line, `{error}: {cause}…`: what [`Failure`] prints after `cpor: `.
    pub fn chain(&self) -> Chain<'_> {
        Chain(self)
    }
}

/// An error and its causes in one line, each after `: `. The chain is followed through cpor's own
/// errors ([`CporError`], [`Context`]) and stops at the first other one: a library's error (an
/// `io::Error` wrapped in a `PolarsError`, say) already prints its own causes in its text.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut at = self.0;
        while at.is::<CporError>() || at.is::<Context>() {
            let Some(cause) = at.source() else { break };
            write!(f, ": {cause}")?;
            at = cause;
        }
        Ok(())
    }
}

/// How a command ended (SPEC 8): the process exit code, mapped in `main.rs` and nowhere else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done; every output written.
    Done = 0,
    /// A fatal error: an unreadable input, a missing column, a bad holidays file, an I/O error.
    Fatal = 1,
    /// Wrong usage, including a flag value that does not parse.
    Usage = 2,
    /// Done, but an input's share of rejected records is above `--max-reject-rate`.
    RejectRate = 3,
}

/// Why a command stopped before it was done. Each variant knows its exit code ([`Failure::exit`]);
/// its `Display` is the one line printed on stderr.
#[derive(Debug, Error)]
pub enum Failure {
    /// Wrong usage found after clap's parsing: a config file's keys, a missing input flag (exit 2).
    #[error("error: {0}")]
    Usage(String),

    /// A fatal error of the run (exit 1).
    #[error("cpor: {}", .0.chain())]
    Fatal(#[from] CporError),

    /// A fatal error at a command's edge, with its context (exit 1): `generate`, writing JSON.
    #[error("cpor: {0:#}")]
    Other(#[from] anyhow::Error),
}

impl Failure {
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) => Exit::Usage,
            Failure::Fatal(_) | Failure::Other(_) => Exit::Fatal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_spec_8s() {
        let codes = [Exit::Done, Exit::Fatal, Exit::Usage, Exit::RejectRate].map(|e| e as u8);
        assert_eq!(codes, [0, 1, 2, 3]);
        assert_eq!(Failure::Usage("--claims is required".into()).exit(), Exit::Usage);
        assert_eq!(Failure::Usage("x".into()).to_string(), "error: x");
        let fatal = Failure::from(CporError::Locked { path: "out".into(), pid: "7".into() });
        assert_eq!(fatal.exit(), Exit::Fatal);
        assert_eq!(fatal.to_string(), "cpor: another cpor run or merge (pid 7) is using out");
        let other = Failure::from(anyhow::anyhow!("disk full").context("generating into g"));
        assert_eq!((other.exit(), other.to_string()), (Exit::Fatal, "cpor: generating into g: disk full".into()));
    }

    #[test]
    fn a_cause_is_kept_and_printed_after_the_error() {
        use std::io;
        let error = CporError::Unreadable {
            source_name: "claims",
            path: "c.csv".into(),
            cause: io::Error::from(io::ErrorKind::NotFound).into(),
        };
        let cause = error.source().and_then(|c| c.downcast_ref::<io::Error>()).map(io::Error::kind);
        assert_eq!(cause, Some(io::ErrorKind::NotFound));
        assert_eq!(Failure::from(error).to_string(), "cpor: cannot read claims file c.csv: entity not found");
        // A context and a plain message print as the flattened message did.
        let error = CporError::Previous {
            path: "p".into(),
            cause: context("line 3", io::Error::new(io::ErrorKind::InvalidData, "bad byte")),
        };
        let kind = error.source().and_then(StdError::source).and_then(|c| c.downcast_ref::<io::Error>());
        assert_eq!(kind.map(io::Error::kind), Some(io::ErrorKind::InvalidData));
        assert_eq!(Failure::from(error).to_string(), "cpor: previous output p: line 3: bad byte");
        let error = CporError::Holidays { path: "h.csv".into(), cause: "empty".into() };
        assert_eq!(Failure::from(error).to_string(), "cpor: holidays file h.csv: empty");
        // A library error that prints its own cause (polars' io error) is printed once, as before.
        let polars = crate::polars::prelude::PolarsError::from(io::Error::other("disk full"));
        let error = CporError::Output { path: "o".into(), cause: polars.into() };
        assert_eq!(error.chain().to_string(), "writing output o: disk full");
    }
}
