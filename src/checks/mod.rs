//! The checks between records (SPEC 6): the rules that look at more than one record, and the
//! [`Verdict`] every input's records end with.
//!
//! Each record first passes its own checks (`records`); then, in file order:
//! - claims ([`claims`]): claim_id unique (first in file order wins, ids equal but for letter case
//!   included), and a partner_id never equal but for letter case to an earlier claim's;
//! - responses ([`responses`]): response_id unique, then the cross-file checks against the claims —
//!   `unknown_claim`, `tenant_mismatch`, `response_before_notification`, in that order;
//! - usage: (tenant, workload, subscription, date) unique. That rule stays in `usage`, inside the
//!   sharded index it is decided by: usage is the one large input, and the index that remembers its
//!   keys is the run's hot loop (README, "Memory and large inputs").
//!
//! Deferral (a record dated after T) is decided by `pipeline`, between these checks, in SPEC's order.

use crate::rejects::Fault;

pub mod claims;
pub mod responses;

/// What became of a record after the checks between records.
#[derive(Debug)]
pub enum Verdict {
    Accepted,
    Deferred,
    Rejected(Fault),
    /// Decided in another pass over the input (see `UsageIndex::begin_pass`).
    Later,
    /// Another shard's row (SPEC 10): not this run's to count.
    Elsewhere,
}
