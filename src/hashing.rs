//! Hash maps for the per-row lookups of large inputs: foldhash with fixed seeds is several times
//! faster than the standard SipHash, and fixed seeds keep every run's work identical.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// The hash a [`FastMap`] takes of `value`: the same in every run.
pub fn fixed_hash(value: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(value)
}

/// Texts numbered from 0 in the order they first come, by one lookup each. The map holds its own
/// copies of the texts: keys borrowed from the rows being numbered (a partner_id in its first
/// claim, say) lay far in memory from the rows read later, and comparing with them missed the cache
/// row after row (about half a second of one core for the large profile's partners, BENCHMARKS.md).
#[derive(Default)]
pub struct FirstCome {
    number_of: FastMap<Box<str>, usize>,
}

impl FirstCome {
    /// The text's number, and whether this is its first time.
    pub fn number(&mut self, text: &str) -> (usize, bool) {
        match self.number_of.get(text) {
            Some(&number) => (number, false),
            None => {
                let number = self.number_of.len();
                self.number_of.insert(text.into(), number);
                (number, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_numbered_in_the_order_they_first_come() {
        let mut numbers = FirstCome::default();
        let got: Vec<(usize, bool)> = ["b", "a", "b", "c", "a"].iter().map(|t| numbers.number(t)).collect();
        assert_eq!(got, [(0, true), (1, true), (0, false), (2, true), (1, false)]);
    }
}
