//! `cpor explain CLAIM_ID`: one claim's story in plain words — its notification, the business days
//! counted (weekends and holidays skipped, named), the window's close, what each response did,
//! duplicates and contests, the final status and why, and its report (SPEC 3–5).
//!
//! Everything explain prints that comes from input data — workloads, holiday names, file names,
//! reject details and raw records, the claim id asked for — has its control characters
//! (U+0000–U+001F, U+007F–U+009F, SPEC 2.4) written as `\xNN`, in the text and in the JSON alike:
//! serde_json leaves U+007F–U+009F as they are, and a terminal acts on C1 controls such as U+009B.

use serde::Serialize;

use crate::calendar::{weekday, Calendar};
use crate::config::RunConfig;
use crate::evaluate::{sort_in_walk_order, ContestReason, Resolution, Status, Step};
use crate::ledger::DecidedClaim;
use crate::pipeline::Evaluated;
use crate::rejects::Source;
use crate::types::{format_date, format_timestamp, Micros};

/// One line of the timeline: when, and what happened.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub at: String,
    pub what: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct RejectFacts {
    pub file: String,
    pub record: u64,
    pub reason: &'static str,
    pub detail: String,
    /// The record as a JSON object of column name → original text.
    pub raw: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReportFacts {
    pub path: String,
    pub access_from: String,
    /// Exclusive.
    pub access_until: String,
    pub rows: usize,
    pub starting_hwm: Option<u64>,
}

/// What explain found for an id: a claim it evaluated, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Evaluated,
    /// Submitted after T.
    Deferred,
    /// Every claim record with this id was rejected.
    Rejected,
    /// No claim record has this id.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Evaluated => "evaluated",
            Outcome::Deferred => "deferred",
            Outcome::Rejected => "rejected",
            Outcome::Unknown => "unknown",
        }
    }
}

/// A claim explained, as data (`--json`) and as text.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub claim_id: String,
    pub outcome: Outcome,
    pub status: Option<&'static str>,
    pub as_of: String,
    #[serde(serialize_with = "pairs_as_object")]
    pub facts: Vec<(String, String)>,
    pub timeline: Vec<Event>,
    pub related_claim_ids: Vec<String>,
    pub why: String,
    pub report: Option<ReportFacts>,
    pub rejects: Vec<RejectFacts>,
}

/// Writes (name, value) pairs as a JSON object, in their order.
fn pairs_as_object<S: serde::Serializer>(pairs: &[(String, String)], serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (name, value) in pairs {
        map.serialize_entry(name, value)?;
    }
    map.end()
}

/// Writes every control character (U+0000–U+001F, U+007F–U+009F) of a text as `\xNN`, so that
/// nothing read from input reaches a terminal as a command.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}') {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

impl Explanation {
    /// The same explanation with control characters escaped in every text it holds.
    fn escaped(mut self) -> Explanation {
        let escape = |text: &mut String| *text = escape_controls(text);
        escape(&mut self.claim_id);
        escape(&mut self.as_of);
        for (name, value) in &mut self.facts {
            escape(name);
            escape(value);
        }
        for event in &mut self.timeline {
            escape(&mut event.at);
            escape(&mut event.what);
        }
        self.related_claim_ids.iter_mut().for_each(escape);
        escape(&mut self.why);
        if let Some(report) = &mut self.report {
            escape(&mut report.path);
        }
        for reject in &mut self.rejects {
            escape(&mut reject.file);
            escape(&mut reject.detail);
            escape(&mut reject.raw);
        }
        self
    }

    pub fn text(&self) -> String {
        let mut out = format!("claim {} as of {}: ", self.claim_id, self.as_of);
        out.push_str(self.status.unwrap_or(self.outcome.as_str()));
        out.push('\n');
        for (name, value) in &self.facts {
            out.push_str(&format!("  {name}: {value}\n"));
        }
        if !self.timeline.is_empty() {
            out.push_str("timeline:\n");
            for event in &self.timeline {
                out.push_str(&format!("  {:<27} {}\n", event.at, event.what));
            }
        }
        for reject in &self.rejects {
            out.push_str(&format!(
                "rejected: {} record {}: {} — {}\n  raw: {}\n",
                reject.file, reject.record, reject.reason, reject.detail, reject.raw
            ));
        }
        out.push_str(&format!("why: {}\n", self.why));
        if let Some(report) = &self.report {
            out.push_str(&format!(
                "report: {} — {} rows dated {} to {} (exclusive); starting_hwm {}\n",
                report.path,
                report.rows,
                report.access_from,
                report.access_until,
                report.starting_hwm.map_or("none".to_string(), |h| h.to_string())
            ));
        }
        out
    }
}

/// The most days [`counted_days`] lists one by one; a longer window (up to 3,650 business days, or
/// holidays on most days) ends with one line for the rest.
const MAX_LISTED_DAYS: i64 = 10_000;

/// The days from the day after notification to the deadline, each counted or skipped with a reason.
/// Without a deadline (the window does not close by 9999-12-31) the days are listed up to the cap.
fn counted_days(calendar: &Calendar, claim: &crate::records::Claim, notified: Micros) -> Vec<Event> {
    let deadline = calendar.deadline(notified, claim.country);
    let first = calendar.local_date(notified).saturating_add(1);
    let end = deadline.unwrap_or(crate::types::MAX_DAYS);
    let mut counted = 0;
    let mut events = Vec::new();
    for day in first..=end {
        if i64::from(day) - i64::from(first) >= MAX_LISTED_DAYS {
            let rest = match deadline {
                Some(deadline) => format!("… up to the deadline {}, not listed", format_date(deadline)),
                None => "… up to 9999-12-31, not listed".to_string(),
            };
            events.push(Event { at: format_date(day), what: rest });
            break;
        }
        let weekday = weekday(day);
        let holidays: Vec<String> = calendar
            .holidays_on(day, claim.country)
            .map(|h| match h.country {
                Some(c) => format!("{} ({})", h.name, c.as_str()),
                None => format!("{} (all countries)", h.name),
            })
            .collect();
        let what = if calendar.weekend.contains(weekday) {
            format!("{weekday}: weekend, not counted")
        } else if !holidays.is_empty() {
            format!("{weekday}: holiday {}, not counted", holidays.join(", "))
        } else {
            counted += 1;
            let last = if Some(day) == deadline { " — the deadline" } else { "" };
            format!("{weekday}: business day {counted} of {}{last}", calendar.window_days)
        };
        events.push(Event { at: format_date(day), what });
    }
    events
}

fn unknown(id: &str, config: &RunConfig, outcome: Outcome, why: String) -> Explanation {
    Explanation {
        claim_id: id.to_string(),
        outcome,
        status: None,
        as_of: format_timestamp(config.as_of),
        facts: Vec::new(),
        timeline: Vec::new(),
        related_claim_ids: Vec::new(),
        why,
        report: None,
        rejects: Vec::new(),
    }
}

/// Explains one claim of an evaluated run; control characters from the data are escaped.
pub fn explain(config: &RunConfig, evaluated: &Evaluated, id: &str) -> Explanation {
    explain_raw(config, evaluated, id).escaped()
}

fn explain_raw(config: &RunConfig, evaluated: &Evaluated, id: &str) -> Explanation {
    let calendar = &config.calendar;
    let found = evaluated.decided.iter().find(|d| d.claim.id.as_str() == id);
    let Some(DecidedClaim { claim, evaluation, report }) = found else {
        let rejects: Vec<RejectFacts> = evaluated
            .rejects
            .iter()
            .filter(|r| r.source == Source::Claims)
            .filter(|r| {
                serde_json::from_str::<serde_json::Value>(&r.raw)
                    .is_ok_and(|raw| raw.get("claim_id").and_then(|v| v.as_str()).map(str::trim) == Some(id))
            })
            .map(|r| RejectFacts {
                file: r.file.clone(),
                record: r.record,
                reason: r.reason.as_str(),
                detail: r.detail.clone(),
                raw: r.raw.clone(),
            })
            .collect();
        if evaluated.deferred_claims.iter().any(|d| d.as_str() == id) {
            let why = "It was submitted after the as-of instant, so it is not known yet (deferred).".to_string();
            return unknown(id, config, Outcome::Deferred, why);
        }
        if let Some(first) = rejects.first() {
            let mut e =
                unknown(id, config, Outcome::Rejected, format!("The claim record was rejected as {}.", first.reason));
            e.rejects = rejects;
            return e;
        }
        return unknown(id, config, Outcome::Unknown, "No claim with this id is in the claims input.".to_string());
    };
    let mut facts = vec![
        ("partner".to_string(), claim.partner_id.to_string()),
        ("tenant".to_string(), claim.tenant.to_string()),
        ("engagement".to_string(), claim.engagement.as_str().to_string()),
        ("workload".to_string(), claim.workload.clone()),
    ];
    if let Some(sub) = claim.subscription {
        facts.push(("subscription".to_string(), sub.to_string()));
    }
    facts.push((
        "country".to_string(),
        claim.country.map_or("none (global holidays only)".into(), |c| c.as_str().into()),
    ));

    let mut timeline = vec![Event { at: format_timestamp(claim.submitted_at), what: "submitted".to_string() }];
    let walk = &evaluation.walk;
    let why;
    match claim.notified_at {
        None => why = "The customer has not been notified, so the window has not started.".to_string(),
        Some(n) if n > config.as_of => {
            timeline.push(Event { at: format_timestamp(n), what: "notified (after the as-of instant)".into() });
            why = "The notification is after the as-of instant, so the window has not started.".to_string();
        }
        Some(n) => {
            timeline
                .push(Event { at: format_timestamp(n), what: "notified; the day of notification never counts".into() });
            timeline.extend(counted_days(calendar, claim, n));
            // None: the window does not close within the calendar's range (Calendar::window_closes_at).
            let closes = evaluation.window_closes_at;
            let mut responses: Vec<&crate::records::Response> =
                evaluated.responses.iter().filter(|r| r.claim_id == claim.id).collect();
            sort_in_walk_order(&mut responses);
            let mut next = responses.iter();
            let mut closed_shown = false;
            for step in &walk.steps {
                if *step == Step::WindowLapsed {
                    timeline.push(Event {
                        at: walk.official_at.map_or(String::new(), format_timestamp),
                        what: "window closed without opt-out: official".into(),
                    });
                    closed_shown = true;
                    continue;
                }
                // The walk takes one step per response, so a step without one is never met.
                let Some(r) = next.next() else { break };
                let effect = match step {
                    Step::OptedOutInWindow => "inside the window: opted out",
                    Step::AcceptedEarly => "inside the window: official from now (early acceptance)",
                    Step::Revoked => "after the claim became official: revoked",
                    _ => "no effect",
                };
                timeline.push(Event {
                    at: format_timestamp(r.responded_at),
                    what: format!("response {} ({}): {effect}", r.id, r.kind.as_str()),
                });
            }
            match closes {
                Some(closes) if !closed_shown && walk.official_at == Some(closes) => timeline.push(Event {
                    at: format_timestamp(closes),
                    what: "window closed without opt-out: official".into(),
                }),
                Some(closes) if !closed_shown => {
                    let when = if closes > config.as_of { "window closes" } else { "window closed" };
                    timeline.push(Event { at: format_timestamp(closes), what: when.into() });
                }
                Some(_) => {}
                None => timeline.push(Event {
                    at: String::new(),
                    what: "the window does not close by 9999-12-31, the end of the calendar".into(),
                }),
            }
            // The reasons are those `evaluate` recorded; explain never derives them again.
            why = match &evaluation.resolution {
                Resolution::Duplicate { primary } => format!(
                    "The same partner already holds claim {primary} on the same scope over an overlapping time; on its own this claim would be {}.",
                    walk.status.as_str()
                ),
                Resolution::Contested { by } => {
                    let others: Vec<String> = by
                        .iter()
                        .map(|c| match c.reason {
                            ContestReason::OtherOfficialFirst { official_at } => format!(
                                "{} of partner {} was official since {}, before this claim was notified",
                                c.claim_id,
                                c.partner_id,
                                format_timestamp(official_at)
                            ),
                            ContestReason::NeitherOfficialFirst => format!(
                                "{} of partner {} overlaps it and neither was official before the other was notified",
                                c.claim_id, c.partner_id
                            ),
                        })
                        .collect();
                    format!(
                        "Another partner claims the same scope over an overlapping time: {}. The claim waits for arbitration and its partner sees no data; on its own it would be {}.",
                        others.join("; "),
                        walk.status.as_str()
                    )
                }
                Resolution::Own => match evaluation.status {
                    Status::Pending => match closes {
                        Some(closes) => format!("The window is open until {}.", format_timestamp(closes)),
                        None => "The window is open: its deadline would fall after 9999-12-31, the end of the calendar, so it does not close.".to_string(),
                    },
                    Status::Official => {
                        format!("Official since {}.", walk.official_at.map_or(String::new(), format_timestamp))
                    }
                    Status::OptedOut => "The customer opted out inside the window.".to_string(),
                    Status::Revoked => "The customer opted out after the claim became official.".to_string(),
                    Status::AwaitingNotification => "Not notified as of T.".to_string(),
                    // `evaluate` gives these statuses only with their resolution, never with `Own`.
                    Status::Duplicate | Status::Contested => format!("The claim is {}.", evaluation.status.as_str()),
                },
            };
        }
    }
    let report = report.as_ref().map(|r| ReportFacts {
        path: format!("reports/{}/{}.{}", claim.partner_id, claim.id, config.format.extension()),
        access_from: format_date(r.window.0),
        access_until: format_date(r.window.1),
        rows: r.rows.len(),
        starting_hwm: r.starting_hwm,
    });
    Explanation {
        claim_id: id.to_string(),
        outcome: Outcome::Evaluated,
        status: Some(evaluation.status.as_str()),
        as_of: format_timestamp(config.as_of),
        facts,
        timeline,
        related_claim_ids: evaluation.related.iter().map(|i| i.to_string()).collect(),
        why,
        report,
        rejects: Vec::new(),
    }
}
