//! Hostile input: csv (filled in by the tests of this family).
