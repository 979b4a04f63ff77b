//! The checks between responses, and between a response and the claims (SPEC 2.2, 6):
//! `duplicate_response_id`, then `unknown_claim`, `tenant_mismatch` and
//! `response_before_notification`, in that order.

use hashbrown::HashTable;

use crate::records::Response;
use crate::rejects::{Fault, RejectReason};
use crate::types::Id;

use super::claims::KnownClaims;

/// The response ids seen so far, in file order, by their hashes ([`ResponseIds::hash`]).
#[derive(Default)]
pub struct ResponseIds(HashTable<Id>);

impl ResponseIds {
    /// Room for `responses` ids from the start (the input's row count, when its files tell it).
    pub fn with_capacity(responses: usize) -> ResponseIds {
        ResponseIds(HashTable::with_capacity(responses))
    }

    /// The hash of a response_id as spelled, which `check` takes: worked out on the parsing threads
    /// (`input::Prepared`), so that `check`, on one thread in file order, only looks it up.
    pub fn hash(id: &Id) -> u64 {
        crate::hashing::fixed_hash(id.as_str().as_bytes())
    }

    /// Reads the table slots `check` will read for this response, and nothing else (see
    /// `ClaimChecks::warm`).
    pub fn warm(&self, (_, (hash, _)): &(Response, (u64, Option<Fault>))) {
        std::hint::black_box(self.0.find(*hash, |seen| std::hint::black_box(seen).as_str().is_empty()));
    }

    /// `duplicate_response_id` for an id seen before; takes the id otherwise. `hash`: the id's
    /// [`ResponseIds::hash`].
    pub fn check(&mut self, response: &Response, hash: u64) -> Option<Fault> {
        if self.0.find(hash, |seen| *seen == response.id).is_none() {
            self.0.insert_unique(hash, response.id.clone(), ResponseIds::hash);
            return None;
        }
        Some(Fault::new(
            RejectReason::DuplicateResponseId,
            format!("response_id {} appeared earlier in file order.", response.id),
        ))
    }
}

/// The cross-file checks of a response that is not deferred, against every claim that passed its
/// own checks and the checks between claims (deferred claims included).
pub fn check_against_claims(response: &Response, known: &KnownClaims) -> Option<Fault> {
    let r = response;
    let Some(claim) = known.get(&r.claim_id) else {
        return Some(Fault::new(RejectReason::UnknownClaim, format!("claim_id {} names no valid claim.", r.claim_id)));
    };
    if claim.tenant != r.tenant {
        return Some(Fault::new(
            RejectReason::TenantMismatch,
            format!("tenant_id {} is not the tenant of claim {} ({}).", r.tenant, r.claim_id, claim.tenant),
        ));
    }
    if claim.notified_at.is_none_or(|n| r.responded_at < n) {
        return Some(Fault::new(
            RejectReason::ResponseBeforeNotification,
            match claim.notified_at {
                None => format!("Claim {} has not been notified.", r.claim_id),
                Some(_) => format!("responded_at is earlier than the notification of claim {}.", r.claim_id),
            },
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::claims::tests::claim;
    use crate::checks::claims::{ClaimChecks, ClaimKeys};
    use crate::records::Claim;
    use crate::types::{ResponseKind, Uuid};

    fn response(id: &str, claim: &str, tenant: u128, at: i64) -> Response {
        Response {
            id: Id::parse(id).expect("id"),
            claim_id: Id::parse(claim).expect("id"),
            tenant: Uuid(tenant),
            kind: ResponseKind::OptOut,
            responded_at: at,
        }
    }

    #[test]
    fn response_ids_are_unique_in_file_order() {
        let mut ids = ResponseIds::default();
        let mut check = |r: Response| ids.check(&r, ResponseIds::hash(&r.id));
        assert!(check(response("R1", "C1", 1, 0)).is_none());
        let fault = check(response("R1", "C2", 1, 0)).expect("a repeat");
        assert_eq!(fault.reason, RejectReason::DuplicateResponseId);
        assert!(check(response("R2", "C1", 1, 0)).is_none());
        assert!(check(response("r2", "C1", 1, 0)).is_none(), "response ids are compared as spelled");
    }

    #[test]
    fn cross_file_checks_in_list_order() {
        let mut checks = ClaimChecks::default();
        for (id, notified_at) in [("C1", Some(100)), ("C2", None)] {
            let claim = Claim { notified_at, ..claim(id, "P1") };
            assert!(checks.check(&claim, ClaimKeys::of(&claim)).is_none());
        }
        let known = checks.into_known();
        let reason = |r: Response| check_against_claims(&r, &known).map(|f| f.reason.as_str());
        assert_eq!(reason(response("R", "C9", 2, 50)), Some("unknown_claim"));
        assert_eq!(reason(response("R", "c1", 1, 100)), Some("unknown_claim"), "claim_id as spelled");
        assert_eq!(reason(response("R", "C1", 2, 50)), Some("tenant_mismatch"), "before the time check");
        assert_eq!(reason(response("R", "C1", 1, 50)), Some("response_before_notification"));
        assert_eq!(reason(response("R", "C2", 1, 50)), Some("response_before_notification"), "never notified");
        assert_eq!(reason(response("R", "C1", 1, 100)), None, "at the notification instant");
    }
}
