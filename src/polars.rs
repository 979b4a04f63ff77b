//! polars as cpor builds it: its core (DataFrame, Series, the Arrow arrays) and its I/O crate
//! (`ParquetReader`, `ParquetWriter`), named as the `polars` facade names them, without the facade,
//! whose Parquet and date features build crates Parquet reading and writing does not use (see the
//! comment in Cargo.toml).

/// What `polars::prelude` holds of the two crates. Both hold a module named `slice`, which cpor does
/// not name; the facade allows the same ambiguity in its own prelude.
#[allow(ambiguous_glob_reexports)]
pub mod prelude {
    pub use polars_core::prelude::*;
    pub use polars_io::prelude::*;
}

/// polars' I/O crate (`polars::io`).
pub mod io {
    pub use polars_io::*;
}
