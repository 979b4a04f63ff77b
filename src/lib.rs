//! cpor reconciles partner-of-record claims: it reads claims, customer responses and usage exports,
//! decides each claim's status as of an instant, and writes a ledger, partner-scoped usage reports,
//! rejects and a summary. The contract is `SPEC.md`; each module names the section it implements.
//!
//! The stages, in the order data flows through them (run by [`pipeline`]):
//! [`input`] (files, columns, batches) → [`records`] (each record's own checks) →
//! [`checks`] (checks between records) → [`calendar`] (the window) → [`evaluate`] (statuses) →
//! [`usage`] (usage uniqueness, the rows reports need) → [`report`] (what a partner may see) →
//! [`ledger`] (a decided claim: claim, evaluation, report) → [`output`] and [`summary`].
//! Each command's glue is in [`cmd`]; `main.rs` maps its [`error::Exit`] to the exit code.

pub mod calendar;
pub mod changes;
pub mod checks;
pub mod cmd;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod generate;
pub mod guard;
pub mod hashing;
pub mod input;
mod iso3166;
pub mod ledger;
pub mod merge;
pub mod output;
pub mod pipeline;
pub mod polars;
pub mod progress;
pub mod records;
pub mod rejects;
pub mod report;
pub mod shard;
pub mod summary;
pub mod types;
pub mod usage;
pub mod values;

pub use cmd::run::run;
pub use config::{Cli, Command, RunConfig};
pub use error::{CporError, Exit, Failure};
