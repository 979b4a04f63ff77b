//! Hostile input and careless use (SPEC 2.4 and 6, "Determinism and safety"): each test is one case
//! that once broke cpor's promise — nothing destroyed, nothing leaked into another partner's report,
//! no panic — and pins the fix. One file per family of input.

mod config;
mod csv;
mod out;
mod parquet;
