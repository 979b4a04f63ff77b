//! `cpor explain CLAIM_ID`: one claim's story in plain words — its notification, the business days
//! counted (weekends and holidays skipped, named), the window's close, what each response did,
//! duplicates and contests, the final status and why, and its report (SPEC 3–5).

use chrono::Datelike;
use serde::Serialize;

use crate::calendar::Calendar;
use crate::config::RunConfig;
use crate::evaluate::{sort_in_walk_order, Status, Step};
use crate::pipeline::Evaluated;
use crate::rejects::Source;
use crate::types::{date_from_days, format_date, format_timestamp, Micros};

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

/// A claim explained, as data (`--json`) and as text.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub claim_id: String,
    /// `evaluated`, `deferred`, `rejected` or `unknown`.
    pub outcome: &'static str,
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

impl Explanation {
    pub fn text(&self) -> String {
        let mut out = format!("claim {} as of {}: ", self.claim_id, self.as_of);
        out.push_str(self.status.unwrap_or(self.outcome));
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
                "rejected: {} record {}: {} — {}\n",
                reject.file, reject.record, reject.reason, reject.detail
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

/// The days from the day after notification to the deadline, each counted or skipped with a reason.
fn counted_days(calendar: &Calendar, claim: &crate::records::Claim, notified: Micros) -> Vec<Event> {
    let deadline = calendar.deadline(notified, claim.country);
    let mut counted = 0;
    let mut events = Vec::new();
    for day in calendar.local_date(notified) + 1..=deadline {
        let weekday = date_from_days(day).weekday();
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
            let last = if day == deadline { " — the deadline" } else { "" };
            format!("{weekday}: business day {counted} of {}{last}", calendar.window_days)
        };
        events.push(Event { at: format_date(day), what });
    }
    events
}

fn unknown(id: &str, config: &RunConfig, outcome: &'static str, why: String) -> Explanation {
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

/// Explains one claim of an evaluated run.
pub fn explain(config: &RunConfig, evaluated: &Evaluated, id: &str) -> Explanation {
    let calendar = &config.calendar;
    let Some(index) = evaluated.claims.iter().position(|c| c.id.as_str() == id) else {
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
            })
            .collect();
        if evaluated.deferred_claims.iter().any(|d| d.as_str() == id) {
            let why = "It was submitted after the as-of instant, so it is not known yet (deferred).".to_string();
            return unknown(id, config, "deferred", why);
        }
        if !rejects.is_empty() {
            let mut e =
                unknown(id, config, "rejected", format!("The claim record was rejected as {}.", rejects[0].reason));
            e.rejects = rejects;
            return e;
        }
        return unknown(id, config, "unknown", "No claim with this id is in the claims input.".to_string());
    };
    let claim = &evaluated.claims[index];
    let evaluation = &evaluated.evaluations[index];
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
            let closes = evaluation.window_closes_at.expect("notified claims have a window");
            let mut responses: Vec<&crate::records::Response> =
                evaluated.responses.iter().filter(|r| r.claim_id == claim.id).collect();
            sort_in_walk_order(&mut responses);
            let mut next = responses.iter();
            let mut closed_shown = false;
            for step in &walk.steps {
                if *step == Step::WindowLapsed {
                    timeline.push(Event {
                        at: format_timestamp(closes),
                        what: "window closed without opt-out: official".into(),
                    });
                    closed_shown = true;
                    continue;
                }
                let r = next.next().expect("one step per response");
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
            if !closed_shown && walk.official_at == Some(closes) {
                timeline.push(Event {
                    at: format_timestamp(closes),
                    what: "window closed without opt-out: official".into(),
                });
            } else if !closed_shown {
                let when = if closes > config.as_of { "window closes" } else { "window closed" };
                timeline.push(Event { at: format_timestamp(closes), what: when.into() });
            }
            why = match evaluation.status {
                Status::Duplicate => format!(
                    "The same partner already holds claim {} on the same scope over an overlapping time; on its own this claim would be {}.",
                    evaluation.related.first().map_or("?", |i| i.as_str()),
                    walk.status.as_str()
                ),
                Status::Contested => {
                    let others: Vec<String> = evaluation
                        .related
                        .iter()
                        .map(|id| {
                            let k = evaluated.claims.iter().position(|c| &c.id == id);
                            let other = k.map(|k| (&evaluated.claims[k], &evaluated.evaluations[k]));
                            match other {
                                Some((c, e)) if e.walk.official_at.is_some_and(|o| o <= n) => format!(
                                    "{id} of partner {} was official since {}, before this claim was notified",
                                    c.partner_id,
                                    format_timestamp(e.walk.official_at.expect("checked"))
                                ),
                                Some((c, _)) => format!(
                                    "{id} of partner {} overlaps it and neither was official before the other was notified",
                                    c.partner_id
                                ),
                                None => id.to_string(),
                            }
                        })
                        .collect();
                    format!(
                        "Another partner claims the same scope over an overlapping time: {}. The claim waits for arbitration and its partner sees no data; on its own it would be {}.",
                        others.join("; "),
                        walk.status.as_str()
                    )
                }
                Status::Pending => format!("The window is open until {}.", format_timestamp(closes)),
                Status::Official => format!("Official since {}.", format_timestamp(walk.official_at.expect("official"))),
                Status::OptedOut => "The customer opted out inside the window.".to_string(),
                Status::Revoked => "The customer opted out after the claim became official.".to_string(),
                Status::AwaitingNotification => "Not notified as of T.".to_string(),
            };
        }
    }
    let report = evaluated.reports[index].as_ref().map(|r| ReportFacts {
        path: format!("reports/{}/{}.{}", claim.partner_id, claim.id, config.format.extension()),
        access_from: format_date(r.window.0),
        access_until: format_date(r.window.1),
        rows: r.rows.len(),
        starting_hwm: r.starting_hwm,
    });
    Explanation {
        claim_id: id.to_string(),
        outcome: "evaluated",
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
