//! The checks between claims (SPEC 2.1, 6): `duplicate_claim_id`, and `invalid_id` for a partner_id
//! equal but for letter case to an earlier claim's — and, first, `invalid_id` for an id that would
//! name the delivery manifest's file (`output::manifest`).
//!
//! Ids become file names: two that differ only in letter case would name one file, or one partner's
//! folder, on a case-insensitive file system. The first in file order keeps its id; a later one equal
//! but for case is refused like a repeat (README, "Safety").

use hashbrown::HashTable;

use crate::output::manifest::{is_manifest_name, MANIFEST};
use crate::records::Claim;
use crate::rejects::{Fault, RejectReason};
use crate::types::{Id, Micros, Uuid};

/// What the responses are checked against: a claim that passed its own checks and these, deferred
/// or not.
#[derive(Debug)]
pub struct KnownClaim {
    pub id: Id,
    pub tenant: Uuid,
    pub notified_at: Option<Micros>,
}

/// The claims known once every claim is read, by claim_id; no two are equal but for letter case.
pub struct KnownClaims {
    claims: Vec<KnownClaim>,
    /// Indexes into `claims` by the folded claim_id's hash: a slot is 9 bytes, so the table of a
    /// large input stays in the processor's cache, where one of the claims themselves would not.
    by_id: HashTable<usize>,
}

impl KnownClaims {
    /// The claim of exactly this claim_id.
    pub fn get(&self, id: &Id) -> Option<&KnownClaim> {
        let claims = &self.claims;
        let index = self.by_id.find(id.folded_hash(), |&i| claims.get(i).is_some_and(|known| known.id == *id))?;
        claims.get(*index)
    }

    /// The claim whose claim_id is equal to `id` but for letter case, if any.
    fn get_folded(&self, id: &Id, hash: u64) -> Option<&KnownClaim> {
        let claims = &self.claims;
        let index = self.by_id.find(hash, |&i| claims.get(i).is_some_and(|known| known.id.eq_folded(id)))?;
        claims.get(*index)
    }

    /// Adds a claim no known claim_id equals but for letter case, whose folded hash is `hash`.
    fn insert(&mut self, known: KnownClaim, hash: u64) {
        let claims = &self.claims;
        let rehash = |&i: &usize| claims.get(i).map_or(0, |known| known.id.folded_hash());
        self.by_id.insert_unique(hash, claims.len(), rehash);
        self.claims.push(known);
    }
}

/// The claim and partner ids seen so far, in file order. Both are keyed by the id's folded form,
/// hashed and compared without allocating (a run checks millions of claims).
pub struct ClaimChecks {
    known: KnownClaims,
    /// The first spelling of each folded partner_id.
    partner_ids: HashTable<Id>,
}

impl Default for ClaimChecks {
    fn default() -> Self {
        ClaimChecks::with_capacity(0)
    }
}

/// A claim whose report file or partner folder would be a delivery manifest's
/// (`output::manifest`): `reports/<partner_id>/manifest.csv` is the partner's manifest, so a claim_id
/// `manifest` or a partner_id `manifest.csv` (any letter case) cannot have a report there.
fn reserved_name(claim: &Claim) -> Option<Fault> {
    let fault = |column: &str, id: &Id| {
        Fault::new(
            RejectReason::InvalidId,
            format!(
                "{column} {id} is the name of the delivery manifest in the reports folder; it cannot name a report."
            ),
        )
    };
    if claim.id.as_str().eq_ignore_ascii_case(MANIFEST) {
        return Some(fault("claim_id", &claim.id));
    }
    is_manifest_name(claim.partner_id.as_str()).then(|| fault("partner_id", &claim.partner_id))
}

/// What a claim's checks can tell from the claim alone, before the claims read earlier are known:
/// worked out on the parsing threads (`input::Prepared`), so that `ClaimChecks::check`, which runs
/// on one thread in file order, only looks its ids up.
#[derive(Debug)]
pub struct ClaimKeys {
    /// A fault of the claim's ids as file names (`reserved_name`), which no other claim changes.
    reserved: Option<Fault>,
    /// The folded claim_id's and partner_id's hashes (`Id::folded_hash`).
    id_hash: u64,
    partner_hash: u64,
}

impl ClaimKeys {
    pub fn of(claim: &Claim) -> ClaimKeys {
        ClaimKeys {
            reserved: reserved_name(claim),
            id_hash: claim.id.folded_hash(),
            partner_hash: claim.partner_id.folded_hash(),
        }
    }
}

impl ClaimChecks {
    /// Room for `claims` claims from the start (the input's row count, when its files tell it).
    pub fn with_capacity(claims: usize) -> ClaimChecks {
        let known = KnownClaims { claims: Vec::with_capacity(claims), by_id: HashTable::with_capacity(claims) };
        ClaimChecks { known, partner_ids: HashTable::new() }
    }

    /// The fault of a claim that passed its own checks, or `None`, in which case the claim is known
    /// from now on (to later claims and to the responses). `keys`: the claim's own ([`ClaimKeys::of`]).
    pub fn check(&mut self, claim: &Claim, keys: ClaimKeys) -> Option<Fault> {
        let ClaimKeys { reserved, id_hash: claim_hash, partner_hash } = keys;
        if let Some(fault) = reserved {
            return Some(fault);
        }
        if let Some(first) = self.known.get_folded(&claim.id, claim_hash) {
            return Some(Fault::new(
                RejectReason::DuplicateClaimId,
                if first.id == claim.id {
                    format!("claim_id {} appeared earlier in file order.", claim.id)
                } else {
                    format!(
                        "claim_id {} differs only in letter case from claim_id {}, earlier in file order.",
                        claim.id, first.id
                    )
                },
            ));
        }
        match self.partner_ids.find(partner_hash, |first| first.eq_folded(&claim.partner_id)) {
            Some(first) if *first != claim.partner_id => {
                return Some(Fault::new(
                    RejectReason::InvalidId,
                    format!(
                        "partner_id {} differs only in letter case from partner_id {first}, earlier in file order; their report folders would be one on a case-insensitive file system.",
                        claim.partner_id
                    ),
                ))
            }
            Some(_) => {}
            None => {
                self.partner_ids.insert_unique(partner_hash, claim.partner_id.clone(), Id::folded_hash);
            }
        }
        let known = KnownClaim { id: claim.id.clone(), tenant: claim.tenant, notified_at: claim.notified_at };
        self.known.insert(known, claim_hash);
        None
    }

    /// Reads the table slots `check` will read for this claim, and nothing else: called for a batch
    /// of claims before they are checked, so that their cache misses overlap (`pipeline::each`).
    pub fn warm(&self, (_, keys): &(Claim, ClaimKeys)) {
        std::hint::black_box(self.known.by_id.find(keys.id_hash, |&i| std::hint::black_box(i) == usize::MAX));
    }

    /// The claims known once every claim is read, for the responses' cross-file checks.
    pub fn into_known(self) -> KnownClaims {
        self.known
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::types::Engagement;

    /// A claim that passes its own checks, of tenant 1, not notified.
    pub(crate) fn claim(id: &str, partner: &str) -> Claim {
        Claim {
            id: Id::parse(id).expect("id"),
            partner_id: Id::parse(partner).expect("id"),
            tenant: Uuid(1),
            engagement: Engagement::ModernWorkSecurityUsage,
            workload: "Teams".into(),
            subscription: None,
            country: None,
            submitted_at: 0,
            notified_at: None,
        }
    }

    #[test]
    fn first_in_file_order_keeps_its_ids() {
        let mut checks = ClaimChecks::default();
        // (claim_id, partner_id, the reject reason and the start of its detail, if any)
        type Case = (&'static str, &'static str, Option<(&'static str, &'static str)>);
        let cases: [Case; 6] = [
            ("C1", "P1", None),
            ("C1", "P1", Some(("duplicate_claim_id", "claim_id C1 appeared earlier in file order."))),
            ("c1", "P2", Some(("duplicate_claim_id", "claim_id c1 differs only in letter case from claim_id C1"))),
            ("C2", "p1", Some(("invalid_id", "partner_id p1 differs only in letter case from partner_id P1"))),
            ("C2", "P1", None),
            ("C3", "P3", None),
        ];
        for (id, partner, expected) in cases {
            let claim = claim(id, partner);
            let fault = checks.check(&claim, ClaimKeys::of(&claim));
            match (expected, fault) {
                (None, None) => {}
                (Some((reason, detail)), Some(fault)) => {
                    assert_eq!(fault.reason.as_str(), reason, "{id} {partner}");
                    assert!(fault.detail.starts_with(detail), "{id} {partner}: {}", fault.detail);
                }
                (expected, fault) => panic!("{id} {partner}: expected {expected:?}, got {fault:?}"),
            }
        }
        let known = checks.into_known();
        let mut ids: Vec<&str> = known.claims.iter().map(|known| known.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["C1", "C2", "C3"], "only claims that passed are known to the responses");
    }
}
