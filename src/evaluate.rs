//! Evaluating claims as of an instant T (SPEC 4): the response walk of each claim on its own (4.1),
//! duplicates of one partner on one scope (4.2), contests between partners on one scope (4.3) and
//! the final status (4.4).
//!
//! Claims only interact within one tenant, so the work is split per tenant and run in parallel.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::ops::Range;

use rayon::prelude::*;

use crate::calendar::Calendar;
use crate::hashing::{fixed_hash, FastMap};
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

    /// The status written as `as_str` writes it.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

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

/// The order the walk takes a claim's responses in: (responded_at, response_id).
fn walk_order(response: &Response) -> (Micros, &Id) {
    (response.responded_at, &response.id)
}

/// Sorts a claim's responses in the order the walk takes them ([`walk_order`]).
pub fn sort_in_walk_order(responses: &mut [&Response]) {
    responses.sort_by(|a, b| walk_order(a).cmp(&walk_order(b)));
}

/// A live claim, as its tenant's outcome is worked out: its tenant, its index among the claims, and
/// its scope key ([`scope_key`]).
struct Member<'c> {
    tenant: Uuid,
    claim: usize,
    scope: ScopeKey<'c>,
}

/// A claim's engagement, then its subscription or its workload ([`scope_key`]).
type ScopeKey<'c> = (Engagement, Result<Uuid, Cow<'c, str>>);

/// A claim's scope key within its tenant (SPEC 4.2): its engagement, then its subscription for
/// subscription-scoped engagements, else its workload in lower case. An ASCII workload is kept as
/// written and compared byte by byte in lower case (`folded_order`): lower-casing each live
/// claim's workload into a new text, to group a tenant's claims in a map, was a third of
/// evaluating them (BENCHMARKS.md). Any other is lower-cased once, here, not at each comparison
/// of a sort (a hostile tenant of many claims with accented workloads).
fn scope_key(claim: &Claim) -> ScopeKey<'_> {
    let value = match (claim.engagement.scope(), claim.subscription) {
        (Scope::Subscription, Some(sub)) => Ok(sub),
        // Subscription-scoped claims without a subscription are rejected before evaluation.
        _ => Err(lower_case(&claim.workload)),
    };
    (claim.engagement, value)
}

/// A text as `folded_order` compares it: as written when ASCII, else lower-cased.
fn lower_case(text: &str) -> Cow<'_, str> {
    match text.is_ascii() {
        true => Cow::Borrowed(text),
        false => Cow::Owned(text.to_lowercase()),
    }
}

fn scope_order(a: &ScopeKey<'_>, b: &ScopeKey<'_>) -> Ordering {
    a.0.cmp(&b.0).then_with(|| match (&a.1, &b.1) {
        (Ok(x), Ok(y)) => x.cmp(y),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(x), Err(y)) => folded_order(x, y),
    })
}

/// The order of two `lower_case` texts' lower cases. An ASCII text's lower case is its bytes' in
/// ASCII lower case, and lower-casing never makes an ASCII capital, so folding each byte of either
/// kind of text gives the order of their `str::to_lowercase`s.
fn folded_order(a: &str, b: &str) -> Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Why another claim made a claim contested (SPEC 4.3), as decided by [`evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContestReason {
    /// The other claim was official at `official_at`, at or before this claim's notified_at, so this
    /// claim is contested (and the other too only if this one was also official by the other's
    /// notification).
    OtherOfficialFirst { official_at: Micros },
    /// Neither was official at or before the other's notified_at: both are contested.
    NeitherOfficialFirst,
}

/// One claim that made a claim contested, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contester {
    pub claim_id: Id,
    pub partner_id: Id,
    pub reason: ContestReason,
}

/// What duplicates (4.2) and contests (4.3) decided for a claim: the reasons behind a final
/// `duplicate` or `contested` status, recorded so that nothing downstream derives them again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resolution {
    /// Neither a duplicate nor contested: the claim keeps the status of its own walk.
    #[default]
    Own,
    /// A duplicate of `primary`, the earliest overlapping primary of the same partner and scope.
    Duplicate { primary: Id },
    /// Contested by these primaries of other partners, sorted by claim id.
    Contested { by: Vec<Contester> },
}

impl Resolution {
    /// The ledger's related claims: the primary of a duplicate, or the claims that made a claim
    /// contested; sorted.
    pub fn related(&self) -> Vec<Id> {
        match self {
            Resolution::Own => Vec::new(),
            Resolution::Duplicate { primary } => vec![primary.clone()],
            Resolution::Contested { by } => by.iter().map(|c| c.claim_id.clone()).collect(),
        }
    }
}

/// A claim's evaluation: the window, the walk and the final status with the claims behind it.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Empty for a claim awaiting notification, and for one whose window does not close by the end
    /// of 9999-12-31 (see `Calendar::window_closes_at`).
    pub window_closes_at: Option<Micros>,
    pub walk: Walk,
    pub status: Status,
    /// Why the claim is a duplicate or contested, if it is.
    pub resolution: Resolution,
    /// The primary of a duplicate, or the claims that made a claim contested; sorted. Always
    /// `resolution.related()`.
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

/// Evaluates every claim as of `as_of`, with the accepted responses (each naming a claim).
/// Returns one evaluation per claim, in the claims' order.
pub fn evaluate(claims: &[Claim], responses: &[Response], calendar: &Calendar, as_of: Micros) -> Vec<Evaluation> {
    let (in_order, ranges) = responses_by_claim(claims, responses);
    // What the walk reads of each response, in walk order, taken in one pass: read claim by claim,
    // each response was a read from anywhere in memory, waited on before the next.
    let all_steps: Vec<(Micros, ResponseKind)> = in_order.par_iter().map(|&(_, r)| (r.responded_at, r.kind)).collect();
    let mut evaluations: Vec<Evaluation> = claims
        .par_iter()
        .zip(ranges)
        .map(|(claim, range)| {
            let steps = all_steps.get(range).unwrap_or_default();
            // `None` for a notified claim: its window does not close within the calendar's range
            // (Calendar::window_closes_at), so it never lapses — the walk sees a close after every
            // instant, the claim stays pending unless a response decides it, and the ledger's
            // window_closes_at is empty.
            let window_closes_at = claim.notified_at.and_then(|n| calendar.window_closes_at(n, claim.country));
            let walk = walk(claim.notified_at, window_closes_at.unwrap_or(Micros::MAX), steps, as_of);
            // A claim not yet notified as of T shows no window, even when its notification is known.
            let window_closes_at = window_closes_at.filter(|_| walk.status != Status::AwaitingNotification);
            Evaluation { window_closes_at, status: walk.status, walk, resolution: Resolution::Own, related: Vec::new() }
        })
        .collect();

    // The live claims grouped by tenant, each group in file order, by one sort: a tenant's outcome
    // depends on its own claims only, and each claim's outcome is set once, whatever the groups' order.
    // Each scope key is taken here, in the claims' order: taken in a tenant's group, it read a claim
    // and then its workload's text from places nowhere near the last, about a third of the evaluate
    // stage on the large profile (BENCHMARKS.md, issue 14).
    let mut live: Vec<Member<'_>> = claims
        .par_iter()
        .zip(&evaluations)
        .enumerate()
        .filter(|(_, (_, evaluation))| evaluation.walk.status != Status::AwaitingNotification)
        .map(|(i, (claim, _))| Member { tenant: claim.tenant, claim: i, scope: scope_key(claim) })
        .collect();
    live.par_sort_unstable_by_key(|member| (member.tenant, member.claim));
    let tenants: Vec<&[Member<'_>]> = live.chunk_by(|a, b| a.tenant == b.tenant).collect();
    let outcomes: Vec<Vec<(usize, Resolution)>> =
        tenants.par_iter().map(|&members| resolve_tenant(claims, &evaluations, members)).collect();
    for (i, resolution) in outcomes.into_iter().flatten() {
        let evaluation = &mut evaluations[i];
        match resolution {
            Resolution::Own => {}
            Resolution::Duplicate { .. } => evaluation.status = Status::Duplicate,
            Resolution::Contested { .. } => evaluation.status = Status::Contested,
        }
        evaluation.related = resolution.related();
        evaluation.resolution = resolution;
    }
    evaluations
}

/// Claims a thread matches to their responses at a time in [`responses_by_claim`].
const MATCH_CLAIMS: usize = 1 << 14;

/// The responses under a hash of their claim's id, each claim's together and in walk order; and
/// each claim's range of them, in the claims' order. Claims and responses are both sorted under
/// the hash, then walked side by side, a chunk of claims per thread: no map of a million claim ids
/// is built on one thread, no claim id's text is compared at every step of a sort, and no claim
/// looks its responses up by a binary search, whose dependent cache misses took most of a second
/// of both cores on the large profile (BENCHMARKS.md). Texts are compared only under equal hashes.
fn responses_by_claim<'r>(
    claims: &[Claim],
    responses: &'r [Response],
) -> (Vec<(u64, &'r Response)>, Vec<Range<usize>>) {
    let mut in_order: Vec<(u64, &Response)> = responses.par_iter().map(|r| (fixed_hash(&r.claim_id), r)).collect();
    in_order.par_sort_unstable_by(|(a_key, a), (b_key, b)| {
        a_key.cmp(b_key).then_with(|| (&a.claim_id, walk_order(a)).cmp(&(&b.claim_id, walk_order(b))))
    });
    let mut by_key: Vec<(u64, usize)> = claims.par_iter().enumerate().map(|(i, c)| (fixed_hash(&c.id), i)).collect();
    by_key.par_sort_unstable_by(|&(a_key, a), &(b_key, b)| (a_key, &claims[a].id).cmp(&(b_key, &claims[b].id)));
    let before = |at: usize, key: u64, id: &Id| in_order.get(at).is_some_and(|&(k, r)| (k, &r.claim_id) < (key, id));
    let found: Vec<Vec<(usize, Range<usize>)>> = by_key
        .par_chunks(MATCH_CLAIMS)
        .map(|chunk| {
            let mut at = chunk
                .first()
                .map_or(0, |&(key, i)| in_order.partition_point(|&(k, r)| (k, &r.claim_id) < (key, &claims[i].id)));
            chunk
                .iter()
                .map(|&(key, i)| {
                    let id = &claims[i].id;
                    while before(at, key, id) {
                        at += 1;
                    }
                    // `at` stays at the claim's first response: a claim of the same id next has the same.
                    let own = in_order.get(at..).unwrap_or_default();
                    let len = own.iter().take_while(|&&(k, r)| k == key && r.claim_id == *id).count();
                    (i, at..at + len)
                })
                .collect()
        })
        .collect();
    let mut ranges = vec![0..0; claims.len()];
    for (i, range) in found.into_iter().flatten() {
        ranges[i] = range;
    }
    (in_order, ranges)
}

/// Duplicates (4.2) and contests (4.3) among the live claims of one tenant. Returns the claims that
/// are duplicates or contested, with the reasons.
fn resolve_tenant(claims: &[Claim], evaluations: &[Evaluation], members: &[Member<'_>]) -> Vec<(usize, Resolution)> {
    // Members are the claims whose walk is not `AwaitingNotification`, which `walk` gives only to a
    // claim notified at or before T: each has a notification time.
    #[allow(clippy::expect_used)]
    let live = |i: usize| (claims[i].notified_at.expect("live claims are notified"), evaluations[i].walk.ended_at);
    // Grouped by scope key, each group in order of notification, then claim_id (unique among
    // accepted claims, so the order is whole).
    let mut keyed: Vec<(usize, &ScopeKey<'_>)> = members.iter().map(|member| (member.claim, &member.scope)).collect();
    keyed.sort_by(|(a, a_key), (b, b_key)| {
        scope_order(a_key, b_key).then_with(|| (live(*a).0, &claims[*a].id).cmp(&(live(*b).0, &claims[*b].id)))
    });
    let mut changes = Vec::new();
    for group in keyed.chunk_by(|(_, a), (_, b)| scope_order(a, b).is_eq()) {
        let mut primaries: Vec<usize> = Vec::new();
        for &c in group.iter().map(|(c, _)| c) {
            let primary =
                primaries.iter().find(|&&p| claims[p].partner_id == claims[c].partner_id && overlaps(live(p), live(c)));
            match primary {
                Some(&p) => changes.push((c, Resolution::Duplicate { primary: claims[p].id.clone() })),
                None => primaries.push(c),
            }
        }
        let mut contested_by: FastMap<usize, Vec<Contester>> = FastMap::default();
        for (k, &a) in primaries.iter().enumerate() {
            for &b in &primaries[k + 1..] {
                if claims[a].partner_id == claims[b].partner_id || !overlaps(live(a), live(b)) {
                    continue;
                }
                // When x was official at or before y's notification.
                let first = |x: usize, y: usize| evaluations[x].walk.official_at.filter(|&o| o <= live(y).0);
                let (a_first, b_first) = (first(a, b), first(b, a));
                // `x` is contested by `y` unless x was official first and y was not.
                let mut contest = |x: usize, y: usize, x_first: Option<Micros>, y_first: Option<Micros>| {
                    if x_first.is_some() && y_first.is_none() {
                        return;
                    }
                    let reason = match y_first {
                        Some(official_at) => ContestReason::OtherOfficialFirst { official_at },
                        None => ContestReason::NeitherOfficialFirst,
                    };
                    let contester =
                        Contester { claim_id: claims[y].id.clone(), partner_id: claims[y].partner_id.clone(), reason };
                    contested_by.entry(x).or_default().push(contester);
                };
                contest(a, b, a_first, b_first);
                contest(b, a, b_first, a_first);
            }
        }
        for (i, mut by) in contested_by {
            by.sort_by(|x, y| x.claim_id.cmp(&y.claim_id));
            changes.push((i, Resolution::Contested { by }));
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
    fn workloads_compare_as_their_lower_cases_do() {
        let texts = [
            "Teams",
            "TEAMS",
            "teams",
            "Team",
            "Teams ",
            "Power BI",
            "POWER BI",
            "Éclair",
            "éCLAIR",
            "ÉCLAIR",
            "ΟΔΟΣ",
            "οδοσ",
            "οδος",
            "İstanbul",
            "i̇stanbul",
            "ǅ",
            "ǆ",
            "Ǆ",
            "ß",
            "SS",
            "",
        ];
        for a in texts {
            for b in texts {
                let order = folded_order(&lower_case(a), &lower_case(b));
                assert_eq!(order, a.to_lowercase().cmp(&b.to_lowercase()), "{a:?} {b:?}");
            }
        }
        // Final sigma: "ΟΔΟΣ" lower-cases to "οδος", not "οδοσ".
        let order = |a, b| folded_order(&lower_case(a), &lower_case(b));
        assert!(order("ΟΔΟΣ", "οδοσ").is_ne() && order("ΟΔΟΣ", "οδος").is_eq());
        assert!(order("\u{212a}elvin", "kELVIN").is_eq(), "the Kelvin sign is a K");
        // What `folded_order` rests on: no character's lower case holds an ASCII capital.
        let capital =
            (0..=0x10ffff).filter_map(char::from_u32).find(|c| c.to_lowercase().any(|l| l.is_ascii_uppercase()));
        assert_eq!(capital, None);
    }

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

    fn id(text: &str) -> Id {
        Id::parse(text).unwrap()
    }

    fn claim(claim_id: &str, partner: &str, workload: &str, notified: &str) -> Claim {
        Claim {
            id: id(claim_id),
            partner_id: id(partner),
            tenant: Uuid(1),
            engagement: Engagement::ModernWorkSecurityUsage,
            workload: workload.to_string(),
            subscription: None,
            country: None,
            submitted_at: ts(notified) - 1,
            notified_at: Some(ts(notified)),
        }
    }

    /// The reasons `evaluate` records for duplicates and contests, which explain reads.
    #[test]
    fn duplicates_and_contests_record_their_reasons() {
        let claims = vec![
            // One scope, three partners: A official first (early accept), B and C notified after A
            // was official and before either of them was: each contested by A, and by each other.
            claim("C-B", "P2", "Defender", "2026-11-03T09:00:00Z"),
            claim("C-A", "P1", "Defender", "2026-11-02T09:00:00Z"),
            claim("C-C", "P3", "defender", "2026-11-03T12:00:00Z"),
            // Another scope, one partner: D2 overlaps D1, so it is its duplicate.
            claim("D2", "P1", "Intune", "2026-11-04T09:00:00Z"),
            claim("D1", "P1", "Intune", "2026-11-02T09:00:00Z"),
        ];
        let responses = vec![Response {
            id: id("R1"),
            claim_id: id("C-A"),
            tenant: Uuid(1),
            kind: Accept,
            responded_at: ts("2026-11-02T10:00:00Z"),
        }];
        let calendar = Calendar::new(chrono_tz::Tz::UTC, crate::calendar::Weekend::default(), 5, Vec::new());
        let evaluations = evaluate(&claims, &responses, &calendar, ts("2026-11-06T00:00:00Z"));
        let [b, a, c, d2, d1] = &evaluations[..] else { panic!("one evaluation per claim") };

        assert_eq!((a.status, &a.resolution, a.related.len()), (Status::Official, &Resolution::Own, 0));
        let a_first = ContestReason::OtherOfficialFirst { official_at: ts("2026-11-02T10:00:00Z") };
        let by = |claim_id: &str, partner: &str, reason| Contester {
            claim_id: id(claim_id),
            partner_id: id(partner),
            reason,
        };
        assert_eq!(b.status, Status::Contested);
        assert_eq!(b.walk.status, Status::Pending);
        assert_eq!(
            b.resolution,
            Resolution::Contested {
                by: vec![by("C-A", "P1", a_first), by("C-C", "P3", ContestReason::NeitherOfficialFirst)]
            }
        );
        assert_eq!(b.related, [id("C-A"), id("C-C")]);
        assert_eq!(c.status, Status::Contested);
        assert_eq!(
            c.resolution,
            Resolution::Contested {
                by: vec![by("C-A", "P1", a_first), by("C-B", "P2", ContestReason::NeitherOfficialFirst)]
            }
        );
        assert_eq!(c.related, [id("C-A"), id("C-B")]);

        assert_eq!((d1.status, &d1.resolution), (Status::Pending, &Resolution::Own));
        assert_eq!(d2.status, Status::Duplicate);
        assert_eq!(d2.resolution, Resolution::Duplicate { primary: id("D1") });
        assert_eq!(d2.related, [id("D1")]);
        for e in &evaluations {
            assert_eq!(e.related, e.resolution.related());
        }
    }

    /// Each claim gets exactly its own responses, in walk order, across many chunks of claims, with
    /// claims that have none, ids differing only in letter case, and a claim id given twice.
    #[test]
    fn each_claim_is_matched_to_its_own_responses_in_walk_order() {
        let n = 3 * MATCH_CLAIMS + 17;
        let mut claims: Vec<Claim> =
            (0..n).map(|i| claim(&format!("C{i}"), "P1", "Teams", "2026-11-16T09:00:00Z")).collect();
        claims.push(claim("c5", "P1", "Teams", "2026-11-16T09:00:00Z"));
        claims.push(claim("C7", "P1", "Teams", "2026-11-16T09:00:00Z"));
        let response = |r: usize, claim: &str, at: i64| Response {
            id: id(&format!("R{r}")),
            claim_id: id(claim),
            tenant: Uuid(1),
            kind: ResponseKind::Accept,
            responded_at: at,
        };
        // Claim i has i % 4 responses, in reverse time order; "c5" has one of its own.
        let mut responses = Vec::new();
        for i in 0..n {
            for k in 0..i % 4 {
                responses.push(response(responses.len(), &format!("C{i}"), (10 - k) as i64));
            }
        }
        responses.push(response(responses.len(), "c5", 0));
        responses.reverse();
        let (in_order, ranges) = responses_by_claim(&claims, &responses);
        assert_eq!(ranges.len(), claims.len());
        let mut expected: std::collections::HashMap<&Id, Vec<&Response>> = std::collections::HashMap::new();
        for r in &responses {
            expected.entry(&r.claim_id).or_default().push(r);
        }
        for (claim, range) in claims.iter().zip(ranges) {
            let got: Vec<&Response> = in_order[range].iter().map(|&(_, r)| r).collect();
            let mut own = expected.get(&claim.id).cloned().unwrap_or_default();
            sort_in_walk_order(&mut own);
            assert_eq!(got, own, "claim {}", claim.id);
        }
    }

    #[test]
    fn intervals() {
        assert!(overlaps((0, Some(10)), (5, None)));
        assert!(!overlaps((0, Some(10)), (10, None)));
        assert!(overlaps((0, None), (100, Some(200))));
        assert!(!overlaps((20, Some(30)), (0, Some(20))));
    }
}
