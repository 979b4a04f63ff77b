//! Hostile input: out (filled in by the tests of this family).
