//! A decided claim (SPEC 4–6): an accepted claim with its evaluation as of T and, for an official or
//! revoked claim, its report. This is the one view of a claim that the ledger and report writers,
//! `changes`, `explain` and the summary read; also the ledger's columns (SPEC 6), which `changes`
//! reads a previous ledger by.

use rayon::prelude::*;

use crate::evaluate::Evaluation;
use crate::records::Claim;
use crate::report::Report;

pub const LEDGER_COLUMNS: [&str; 16] = [
    "claim_id",
    "partner_id",
    "tenant_id",
    "engagement",
    "workload",
    "subscription_id",
    "customer_country",
    "submitted_at",
    "notified_at",
    "window_closes_at",
    "status",
    "official_at",
    "ended_at",
    "related_claim_ids",
    "report_rows",
    "starting_hwm",
];

/// A claim, its evaluation and its report, travelling together from evaluation to every output.
#[derive(Clone, Debug)]
pub struct DecidedClaim {
    pub claim: Claim,
    pub evaluation: Evaluation,
    /// `Some` for official and revoked claims once the reports are built (`report::build_reports`).
    pub report: Option<Report>,
}

impl DecidedClaim {
    /// Each claim with its evaluation (`evaluate` returns one per claim, in the claims' order): the
    /// one place the evaluation meets its claim. Reports come later. On every core: the vector is
    /// new memory, hundreds of megabytes for a large input, each page faulted in on first write.
    pub fn all(claims: Vec<Claim>, evaluations: Vec<Evaluation>) -> Vec<DecidedClaim> {
        debug_assert_eq!(claims.len(), evaluations.len(), "one evaluation per claim");
        claims
            .into_par_iter()
            .zip(evaluations)
            .map(|(claim, evaluation)| DecidedClaim { claim, evaluation, report: None })
            .collect()
    }

    /// Whether the partner gets a report: the claim is official or revoked.
    pub fn has_report(&self) -> bool {
        self.evaluation.status.has_report()
    }

    /// related_claim_ids as the ledger writes it.
    pub fn related(&self) -> String {
        self.evaluation.related.iter().map(|id| id.as_str()).collect::<Vec<_>>().join(";")
    }

    pub fn report_rows(&self) -> usize {
        self.report.as_ref().map_or(0, |r| r.rows.len())
    }

    pub fn starting_hwm(&self) -> Option<u64> {
        self.report.as_ref().and_then(|r| r.starting_hwm)
    }
}

/// The decided claims in the ledger's order, by claim_id.
pub fn ledger_order(decided: &[DecidedClaim]) -> Vec<&DecidedClaim> {
    let mut ledger: Vec<&DecidedClaim> = decided.iter().collect();
    // Claim ids are distinct (`duplicate_claim_id`): any sort gives this order. A parallel one: with
    // claims in no set order, the serial sort took about half a second of one core on the large
    // profile (BENCHMARKS.md).
    ledger.par_sort_unstable_by(|a, b| a.claim.id.cmp(&b.claim.id));
    ledger
}
