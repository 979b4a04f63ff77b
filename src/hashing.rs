//! Hash maps for the per-row lookups of large inputs: foldhash with fixed seeds is several times
//! faster than the standard SipHash, and fixed seeds keep every run's work identical.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// The hash a [`FastMap`] takes of `value`: the same in every run.
pub fn fixed_hash(value: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(value)
}
