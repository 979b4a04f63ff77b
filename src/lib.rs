//! cpor reconciles partner-of-record claims: it reads claims, customer responses and usage exports,
//! decides each claim's status as of an instant, and writes a ledger, partner-scoped usage reports,
//! rejects and a summary. The contract is `SPEC.md`; each module names the section it implements.
//!
//! The stages, in the order data flows through them:
//! [`input`] (files, columns, batches) → [`records`] (each record's own checks) →
//! [`pipeline`] (checks between records, deferral) → [`calendar`] (the window) →
//! [`evaluate`] (statuses) → [`report`] (what a partner may see) → [`output`] and [`summary`].

pub mod calendar;
pub mod changes;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod generate;
pub mod hashing;
pub mod html;
pub mod input;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod records;
pub mod rejects;
pub mod report;
pub mod summary;
pub mod types;
pub mod usage;
pub mod validate;

pub use config::{Cli, Command, RunConfig};
pub use error::CporError;
pub use pipeline::run;
