//! Hash maps for the per-row lookups of large inputs: foldhash with fixed seeds is several times
//! faster than the standard SipHash, and fixed seeds keep every run's work identical.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;
