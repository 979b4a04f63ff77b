//! Evaluating claims as of an instant T (SPEC 4): the response walk of each claim on its own (4.1),
//! duplicates of one partner on one scope (4.2), contests between partners on one scope (4.3) and
//! the final status (4.4).
//!
//! Claims only interact within one tenant, so the work is split per tenant and run in parallel.

use rayon::prelude::*;

use crate::calendar::Calendar;
use crate::hashing::FastMap;
use crate::records::{Claim, Response};
use crate::types::{Engagement, Id, Micros, ResponseKind, Scope, Uuid};

/// The statuses of SPEC 4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    AwaitingNotification,
    Pending,
    Official,
    OptedOut,
    Revoked,
    Duplicate,
    Contested,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::AwaitingNotification,
        Status::Pending,
        Status::Official,
        Status::OptedOut,
        Status::Revoked,
        Status::Duplicate,
        Status::Contested,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::AwaitingNotification => "awaiting_notification",
            Status::Pending => "pending",
            Status::Official => "official",
            Status::OptedOut => "opted_out",
            Status::Revoked => "revoked",
            Status::Duplicate => "duplicate",
            Status::Contested => "contested",
        }
    }

    /// Official and revoked claims get a partner-scoped report (SPEC 5).
    pub fn has_report(self) -> bool {
        matches!(self, Status::Official | Status::Revoked)
    }
}

/// What one response did to a claim during the walk, for explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The window closed before this response: official at window_closes_at.
    WindowLapsed,
    OptedOutInWindow,
    AcceptedEarly,
    Revoked,
    /// An accept on an official claim, or any response after the claim ended.
    NoEffect,
}

/// The outcome of the response walk of one claim on its own (SPEC 4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    /// One of awaiting_notification, pending, official, opted_out, revoked.
    pub status: Status,
    pub official_at: Option<Micros>,
    pub ended_at: Option<Micros>,
    /// What each response did, in walk order, with `WindowLapsed` where the window closed between two.
    pub steps: Vec<Step>,
}

/// Walks a claim's known responses, which must be sorted by (responded_at, response_id).
///
/// The state starts *in window*; before each response at t ≥ window_closes_at the claim becomes
/// official at window_closes_at; an opt-out in the window ends it (opted_out), an opt-out after
/// official revokes it, an accept in the window makes it official at once. Both ends are final.
pub fn walk(
    notified_at: Option<Micros>,
    window_closes_at: Micros,
    responses: &[(Micros, ResponseKind)],
    as_of: Micros,
) -> Walk {
    let mut walk = Walk { status: Status::Pending, official_at: None, ended_at: None, steps: Vec::new() };
    if notified_at.is_none_or(|n| n > as_of) {
        walk.status = Status::AwaitingNotification;
        return walk;
    }
    for &(t, kind) in responses {
        if walk.ended_at.is_some() {
            walk.steps.push(Step::NoEffect);
            continue;
        }
        if walk.status == Status::Pending && t >= window_closes_at {
            walk.status = Status::Official;
            walk.official_at = Some(window_closes_at);
            walk.steps.push(Step::WindowLapsed);
        }
        let step = match (walk.status, kind) {
            (Status::Pending, ResponseKind::OptOut) => {
                walk.status = Status::OptedOut;
                walk.ended_at = Some(t);
                Step::OptedOutInWindow
            }
            (Status::Pending, ResponseKind::Accept) => {
                walk.status = Status::Official;
                walk.official_at = Some(t);
                Step::AcceptedEarly
            }
            (Status::Official, ResponseKind::OptOut) => {
                walk.status = Status::Revoked;
                walk.ended_at = Some(t);
                Step::Revoked
            }
            _ => Step::NoEffect,
        };
        walk.steps.push(step);
    }
    if walk.status == Status::Pending && as_of >= window_closes_at {
        walk.status = Status::Official;
        walk.official_at = Some(window_closes_at);
    }
    walk
}

/// Sorts a claim's responses in the order the walk takes them: (responded_at, response_id).
pub fn sort_in_walk_order(responses: &mut [&Response]) {
    responses.sort_by(|a, b| (a.responded_at, &a.id).cmp(&(b.responded_at, &b.id)));
}

/// The value that, with the engagement and tenant, makes a claim's scope key (SPEC 4.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ScopeValue {
    /// Lower-cased workload, for workload-scoped engagements.
    Workload(String),
    Subscription(Uuid),
}

/// The scope key within one tenant: (engagement, scope value).
pub fn scope_key(claim: &Claim) -> (Engagement, ScopeValue) {
    let value = match (claim.engagement.scope(), claim.subscription) {
        (Scope::Subscription, Some(sub)) => ScopeValue::Subscription(sub),
        // Subscription-scoped claims without a subscription are rejected before evaluation.
        _ => ScopeValue::Workload(claim.workload.to_lowercase()),
    };
    (claim.engagement, value)
}

/// A claim's evaluation: the window, the walk and the final status with the claims behind it.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Empty for a claim awaiting notification, and for one whose window does not close by the end
    /// of 9999-12-31 (see `Calendar::window_closes_at`).
    pub window_closes_at: Option<Micros>,
    pub walk: Walk,
    pub status: Status,
    /// The primary of a duplicate, or the claims that made a claim contested; sorted.
    pub related: Vec<Id>,
}

impl Evaluation {
    /// official_at is shown only for final official and revoked claims (SPEC 6).
    pub fn official_at(&self) -> Option<Micros> {
        self.walk.official_at.filter(|_| self.status.has_report())
    }
}

/// Intervals [a, b) and [c, d) overlap when a < d and c < b; `None` is open-ended.
fn overlaps(a: (Micros, Option<Micros>), b: (Micros, Option<Micros>)) -> bool {
    a.0 < b.1.unwrap_or(Micros::MAX) && b.0 < a.1.unwrap_or(Micros::MAX)
}

/// Evaluates every claim as of `as_of`. `responses_by_claim[i]` are claim i's known responses.
/// Returns one evaluation per claim, in the claims' order.
pub fn evaluate(claims: &[Claim], responses: &[Response], calendar: &Calendar, as_of: Micros) -> Vec<Evaluation> {
    let mut by_claim: FastMap<&Id, Vec<&Response>> = FastMap::default();
    for response in responses {
        by_claim.entry(&response.claim_id).or_default().push(response);
    }
    let mut evaluations: Vec<Evaluation> = claims
        .par_iter()
        .map(|claim| {
            let mut own: Vec<&Response> = by_claim.get(&claim.id).cloned().unwrap_or_default();
            sort_in_walk_order(&mut own);
            let steps: Vec<(Micros, ResponseKind)> = own.iter().map(|r| (r.responded_at, r.kind)).collect();
            // `None` for a notified claim: its window does not close within the calendar's range
            // (Calendar::window_closes_at), so it never lapses — the walk sees a close after every
            // instant, the claim stays pending unless a response decides it, and the ledger's
            // window_closes_at is empty.
            let window_closes_at = claim.notified_at.and_then(|n| calendar.window_closes_at(n, claim.country));
            let walk = walk(claim.notified_at, window_closes_at.unwrap_or(Micros::MAX), &steps, as_of);
            // A claim not yet notified as of T shows no window, even when its notification is known.
            let window_closes_at = window_closes_at.filter(|_| walk.status != Status::AwaitingNotification);
            Evaluation { window_closes_at, status: walk.status, walk, related: Vec::new() }
        })
        .collect();

    let mut by_tenant: FastMap<Uuid, Vec<usize>> = FastMap::default();
    for (i, claim) in claims.iter().enumerate() {
        if evaluations[i].walk.status != Status::AwaitingNotification {
            by_tenant.entry(claim.tenant).or_default().push(i);
        }
    }
    let mut tenants: Vec<Vec<usize>> = by_tenant.into_values().collect();
    tenants.sort_unstable_by_key(|members| members[0]);
    let outcomes: Vec<Vec<(usize, Status, Vec<Id>)>> =
        tenants.par_iter().map(|members| resolve_tenant(claims, &evaluations, members)).collect();
    for (i, status, related) in outcomes.into_iter().flatten() {
        evaluations[i].status = status;
        evaluations[i].related = related;
    }
    evaluations
}

/// Duplicates (4.2) and contests (4.3) among the live claims of one tenant. Returns the claims whose
/// status changes, with their related claims.
fn resolve_tenant(claims: &[Claim], evaluations: &[Evaluation], members: &[usize]) -> Vec<(usize, Status, Vec<Id>)> {
    // Members are the claims whose walk is not `AwaitingNotification`, which `walk` gives only to a
    // claim notified at or before T: each has a notification time.
    #[allow(clippy::expect_used)]
    let live = |i: usize| (claims[i].notified_at.expect("live claims are notified"), evaluations[i].walk.ended_at);
    let mut by_scope: FastMap<(Engagement, ScopeValue), Vec<usize>> = FastMap::default();
    for &i in members {
        by_scope.entry(scope_key(&claims[i])).or_default().push(i);
    }
    let mut changes = Vec::new();
    for mut group in by_scope.into_values() {
        group.sort_by(|&a, &b| (live(a).0, &claims[a].id).cmp(&(live(b).0, &claims[b].id)));
        let mut primaries: Vec<usize> = Vec::new();
        for &c in &group {
            let primary =
                primaries.iter().find(|&&p| claims[p].partner_id == claims[c].partner_id && overlaps(live(p), live(c)));
            match primary {
                Some(&p) => changes.push((c, Status::Duplicate, vec![claims[p].id.clone()])),
                None => primaries.push(c),
            }
        }
        let mut contested_by: FastMap<usize, Vec<Id>> = FastMap::default();
        for (k, &a) in primaries.iter().enumerate() {
            for &b in &primaries[k + 1..] {
                if claims[a].partner_id == claims[b].partner_id || !overlaps(live(a), live(b)) {
                    continue;
                }
                let first = |x: usize, y: usize| evaluations[x].walk.official_at.is_some_and(|o| o <= live(y).0);
                let (a_first, b_first) = (first(a, b), first(b, a));
                if !a_first || b_first {
                    contested_by.entry(a).or_default().push(claims[b].id.clone());
                }
                if !b_first || a_first {
                    contested_by.entry(b).or_default().push(claims[a].id.clone());
                }
            }
        }
        for (i, mut related) in contested_by {
            related.sort();
            changes.push((i, Status::Contested, related));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::parse_timestamp;

    fn ts(text: &str) -> Micros {
        parse_timestamp(text).unwrap()
    }

    const N: &str = "2026-11-16T09:00:00Z";
    const CLOSES: &str = "2026-11-24T00:00:00Z";

    fn run(responses: &[(&str, ResponseKind)], as_of: &str) -> Walk {
        let steps: Vec<_> = responses.iter().map(|&(t, k)| (ts(t), k)).collect();
        walk(Some(ts(N)), ts(CLOSES), &steps, ts(as_of))
    }

    use ResponseKind::{Accept, OptOut};

    #[test]
    fn response_walk_rules() {
        struct Case {
            name: &'static str,
            responses: &'static [(&'static str, ResponseKind)],
            as_of: &'static str,
            status: Status,
            official_at: Option<&'static str>,
            ended_at: Option<&'static str>,
        }
        let cases = [
            Case {
                name: "no response, window open",
                responses: &[],
                as_of: "2026-11-23T23:59:59.999999Z",
                status: Status::Pending,
                official_at: None,
                ended_at: None,
            },
            Case {
                name: "no response, window closed exactly at T",
                responses: &[],
                as_of: CLOSES,
                status: Status::Official,
                official_at: Some(CLOSES),
                ended_at: None,
            },
            Case {
                name: "opt-out one microsecond before the close",
                responses: &[("2026-11-23T23:59:59.999999Z", OptOut)],
                as_of: "2026-11-25T00:00:00Z",
                status: Status::OptedOut,
                official_at: None,
                ended_at: Some("2026-11-23T23:59:59.999999Z"),
            },
            Case {
                name: "opt-out exactly at the close revokes",
                responses: &[(CLOSES, OptOut)],
                as_of: "2026-11-25T00:00:00Z",
                status: Status::Revoked,
                official_at: Some(CLOSES),
                ended_at: Some(CLOSES),
            },
            Case {
                name: "early accept",
                responses: &[("2026-11-17T10:00:00Z", Accept)],
                as_of: "2026-11-18T00:00:00Z",
                status: Status::Official,
                official_at: Some("2026-11-17T10:00:00Z"),
                ended_at: None,
            },
            Case {
                name: "early accept then opt-out in the window revokes",
                responses: &[("2026-11-17T10:00:00Z", Accept), ("2026-11-18T10:00:00Z", OptOut)],
                as_of: "2026-11-19T00:00:00Z",
                status: Status::Revoked,
                official_at: Some("2026-11-17T10:00:00Z"),
                ended_at: Some("2026-11-18T10:00:00Z"),
            },
            Case {
                name: "accept after the window changes nothing",
                responses: &[("2026-11-25T10:00:00Z", Accept)],
                as_of: "2026-11-26T00:00:00Z",
                status: Status::Official,
                official_at: Some(CLOSES),
                ended_at: None,
            },
            Case {
                name: "opt-out is final",
                responses: &[("2026-11-17T10:00:00Z", OptOut), ("2026-11-18T10:00:00Z", Accept)],
                as_of: "2026-11-26T00:00:00Z",
                status: Status::OptedOut,
                official_at: None,
                ended_at: Some("2026-11-17T10:00:00Z"),
            },
            Case {
                name: "revocation is final",
                responses: &[
                    ("2026-11-17T10:00:00Z", Accept),
                    ("2026-11-18T10:00:00Z", OptOut),
                    ("2026-11-19T10:00:00Z", OptOut),
                ],
                as_of: "2026-11-26T00:00:00Z",
                status: Status::Revoked,
                official_at: Some("2026-11-17T10:00:00Z"),
                ended_at: Some("2026-11-18T10:00:00Z"),
            },
            Case {
                name: "opt-out at notification",
                responses: &[(N, OptOut)],
                as_of: "2026-11-26T00:00:00Z",
                status: Status::OptedOut,
                official_at: None,
                ended_at: Some(N),
            },
        ];
        for case in cases {
            let walk = run(case.responses, case.as_of);
            assert_eq!(walk.status, case.status, "{}", case.name);
            assert_eq!(walk.official_at, case.official_at.map(ts), "{}", case.name);
            assert_eq!(walk.ended_at, case.ended_at.map(ts), "{}", case.name);
            let per_response = walk.steps.iter().filter(|&&s| s != Step::WindowLapsed).count();
            assert_eq!(per_response, case.responses.len(), "{}", case.name);
        }
    }

    #[test]
    fn not_notified_or_notified_after_t_awaits() {
        assert_eq!(walk(None, Micros::MAX, &[], ts(N)).status, Status::AwaitingNotification);
        assert_eq!(walk(Some(ts(N)), ts(CLOSES), &[], ts(N) - 1).status, Status::AwaitingNotification);
        assert_eq!(walk(Some(ts(N)), ts(CLOSES), &[], ts(N)).status, Status::Pending);
    }

    #[test]
    fn intervals() {
        assert!(overlaps((0, Some(10)), (5, None)));
        assert!(!overlaps((0, Some(10)), (10, None)));
        assert!(overlaps((0, None), (100, Some(200))));
        assert!(!overlaps((20, Some(30)), (0, Some(20))));
    }
}
