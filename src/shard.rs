//! Shards (SPEC 10): which tenants a `cpor run --shard I/N` keeps. Every rule after the per-record
//! checks stays inside one tenant, so the work splits by tenant exactly: shard `I` of `N` keeps the
//! tenants `t` with `H(t) mod N = I`, and a row without a valid tenant_id belongs to shard 0.
//!
//! `H` is 64-bit FNV-1a over the UTF-8 bytes of the tenant_id's lower-case text
//! (`3be93fb8-d995-4a62-9b11-96f741b79d35`): a published, seedless function of bytes, so a tenant's
//! shard is the same on every platform, in every release and in any other tool that wants to split
//! the inputs the same way. The test `shard_hash_is_pinned` holds it to fixed ids.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::types::Uuid;

/// Shard `index` of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The most shards a run may be split into.
pub const MAX_SHARDS: u32 = 65_536;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// `H`: 64-bit FNV-1a of the tenant_id's lower-case text.
pub fn tenant_hash(tenant: Uuid) -> u64 {
    tenant.to_text().iter().fold(FNV_OFFSET, |hash, &byte| (hash ^ byte as u64).wrapping_mul(FNV_PRIME))
}

impl Shard {
    /// `I/N`, with 0 ≤ I < N ≤ [`MAX_SHARDS`] (the `--shard` flag and the config key).
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("'{}' is not a shard I/N with 0 ≤ I < N ≤ {MAX_SHARDS}, such as 0/4", text.escape_debug());
        let (index, count) = text.trim().split_once('/').ok_or_else(bad)?;
        let (index, count) = (index.trim().parse::<u32>(), count.trim().parse::<u32>());
        match (index, count) {
            (Ok(index), Ok(count)) if index < count && count <= MAX_SHARDS => Ok(Shard { index, count }),
            _ => Err(bad()),
        }
    }

    /// The shard, of `count`, that keeps `tenant`.
    pub fn of(tenant: Uuid, count: u32) -> u32 {
        (tenant_hash(tenant) % count as u64) as u32
    }

    /// Whether this shard keeps a record of `tenant`; `None`: the record has no valid tenant_id, and
    /// belongs to shard 0.
    pub fn keeps(&self, tenant: Option<Uuid>) -> bool {
        match tenant {
            Some(tenant) => Shard::of(tenant, self.count) == self.index,
            None => self.index == 0,
        }
    }

    /// Whether this shard writes the rejects and accounts that belong to no tenant: those of the claims
    /// and responses, which every shard reads whole.
    pub fn writes_shared(&self) -> bool {
        self.index == 0
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(text: &str) -> Uuid {
        Uuid::parse(text).unwrap()
    }

    /// Pins H and the shard rule: these values must never change, or shards written by two releases
    /// would not merge, and other tools splitting inputs the same way would disagree. The expected
    /// values were computed apart from cpor, by a few lines of Python over the same bytes.
    #[test]
    fn shard_hash_is_pinned() {
        // FNV-1a 64 of "" is its offset basis; of "a" a published test vector.
        assert_eq!(b"a".iter().fold(FNV_OFFSET, |h, &b| (h ^ b as u64).wrapping_mul(FNV_PRIME)), 0xaf63_dc4c_8601_ec8c);
        let pinned = [
            ("00000000-0000-0000-0000-000000000000", 0x7c38_4c62_18f2_99f1_u64, [0, 1, 1, 0]),
            ("3be93fb8-d995-4a62-9b11-96f741b79d35", 0x9a88_2d2d_a1fd_824b, [0, 1, 3, 2]),
            ("ffffffff-ffff-ffff-ffff-ffffffffffff", 0x7718_f1b2_f3cd_d331, [0, 1, 1, 6]),
        ];
        for (text, hash, shards) in pinned {
            // Upper-case input text is the same tenant, so the same shard.
            for given in [text.to_string(), text.to_uppercase()] {
                assert_eq!(tenant_hash(uuid(&given)), hash, "{given}: {:#x}", tenant_hash(uuid(&given)));
                let got: Vec<u32> = [1, 2, 4, 7].iter().map(|&n| Shard::of(uuid(&given), n)).collect();
                assert_eq!(got, shards, "{given}");
            }
        }
    }

    #[test]
    fn shards_split_tenants_about_evenly() {
        let mut counts = [0u32; 4];
        for i in 0..4000u128 {
            counts[Shard::of(Uuid(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834)), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }

    #[test]
    fn parse_and_keep() {
        assert_eq!(Shard::parse(" 2/7 "), Ok(Shard { index: 2, count: 7 }));
        for bad in ["7/7", "0/0", "-1/4", "1", "a/b", "1/4/2", "0/65537", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let (first, second) = (Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 });
        assert!(first.keeps(None) && !second.keeps(None));
        let t = uuid("3be93fb8-d995-4a62-9b11-96f741b79d35");
        assert_ne!(first.keeps(Some(t)), second.keeps(Some(t)));
        assert!(first.writes_shared() && !second.writes_shared());
    }
}
