//! The checks between claims (SPEC 2.1, 6): `duplicate_claim_id`, and `invalid_id` for a partner_id
//! equal but for letter case to an earlier claim's — and, first, `invalid_id` for an id that would
//! name the delivery manifest's file (`output::manifest`).
//!
//! Ids become file names: two that differ only in letter case would name one file, or one partner's
//! folder, on a case-insensitive file system. The first in file order keeps its id; a later one equal
//! but for case is refused like a repeat (README, "Safety").

use crate::hashing::FastMap;
use crate::output::manifest::is_manifest_name;
use crate::records::Claim;
use crate::rejects::{Fault, RejectReason};
use crate::types::{Id, Micros, Uuid};

/// What the responses are checked against: a claim that passed its own checks and these, deferred
/// or not.
#[derive(Debug)]
pub struct KnownClaim {
    pub tenant: Uuid,
    pub notified_at: Option<Micros>,
}

/// The claim and partner ids seen so far, in file order.
#[derive(Default)]
pub struct ClaimChecks {
    /// Folded claim_id → its first spelling.
    claim_ids: FastMap<Box<str>, Id>,
    /// Folded partner_id → its first spelling.
    partner_ids: FastMap<Box<str>, Id>,
    known: FastMap<Id, KnownClaim>,
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
    if is_manifest_name(&format!("{}.csv", claim.id)) {
        return Some(fault("claim_id", &claim.id));
    }
    is_manifest_name(claim.partner_id.as_str()).then(|| fault("partner_id", &claim.partner_id))
}

impl ClaimChecks {
    /// The fault of a claim that passed its own checks, or `None`, in which case the claim is known
    /// from now on (to later claims and to the responses).
    pub fn check(&mut self, claim: &Claim) -> Option<Fault> {
        if let Some(fault) = reserved_name(claim) {
            return Some(fault);
        }
        if let Some(first) = self.claim_ids.get(&claim.id.folded()) {
            return Some(Fault::new(
                RejectReason::DuplicateClaimId,
                if *first == claim.id {
                    format!("claim_id {} appeared earlier in file order.", claim.id)
                } else {
                    format!(
                        "claim_id {} differs only in letter case from claim_id {first}, earlier in file order.",
                        claim.id
                    )
                },
            ));
        }
        match self.partner_ids.get(&claim.partner_id.folded()) {
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
                self.partner_ids.insert(claim.partner_id.folded(), claim.partner_id.clone());
            }
        }
        self.claim_ids.insert(claim.id.folded(), claim.id.clone());
        self.known.insert(claim.id.clone(), KnownClaim { tenant: claim.tenant, notified_at: claim.notified_at });
        None
    }

    /// The claims known once every claim is read, for the responses' cross-file checks.
    pub fn into_known(self) -> FastMap<Id, KnownClaim> {
        self.known
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Engagement;

    fn claim(id: &str, partner: &str) -> Claim {
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
            let fault = checks.check(&claim(id, partner));
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
        let mut ids: Vec<&str> = known.keys().map(|id| id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["C1", "C2", "C3"], "only claims that passed are known to the responses");
    }
}
