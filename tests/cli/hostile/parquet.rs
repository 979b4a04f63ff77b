//! Hostile input: parquet (filled in by the tests of this family).
