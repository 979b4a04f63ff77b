//! summary.html (SPEC 7, beside summary.json): one self-contained page for analysts — counts by status and engagement, rejects by
//! reason, the largest partners, the changes since the previous run, the claims becoming official week
//! by week, the windows closing soon — with inline SVG charts and nothing loaded from the network. Written as well-formed XHTML so any XML parser can read it.

use std::collections::BTreeMap;

use crate::summary::Summary;
use crate::types::{format_date, parse_date, Days};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A horizontal bar chart of (label, value) pairs.
fn bar_chart(items: &[(String, u64)]) -> String {
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1);
    let (row, label_width, bar_width) = (22, 230, 360);
    let height = row * items.len().max(1) + 4;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" role="img">"#,
        label_width + bar_width + 90
    );
    for (i, (label, value)) in items.iter().enumerate() {
        let y = i * row + 2;
        let width = (*value as f64 / max as f64 * bar_width as f64).round() as u64;
        svg.push_str(&format!(
            r##"<text x="{}" y="{}" text-anchor="end" font-size="13">{}</text><rect x="{label_width}" y="{}" width="{width}" height="{}" fill="#3b6ea8"/><text x="{}" y="{}" font-size="13">{value}</text>"##,
            label_width - 8,
            y + 15,
            escape(label),
            y + 3,
            row - 6,
            label_width + width + 6,
            y + 15
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Colours of the weekly chart's lines, one per engagement, told apart also by the legend's order.
const LINE_COLOURS: [&str; 6] = ["#3b6ea8", "#d9822b", "#2f9e44", "#c2255c", "#6741d9", "#495057"];

/// A line chart of claims becoming official per week, one line per engagement: `series` is
/// engagement → week (its Monday, `YYYY-MM-DD`) → claims. Weeks without any are drawn at 0.
fn weekly_chart(series: &BTreeMap<String, BTreeMap<String, u64>>) -> String {
    let weeks: Vec<Days> = {
        let all: Vec<Days> = series.values().flat_map(|w| w.keys()).filter_map(|d| parse_date(d)).collect();
        let (first, last) = (all.iter().min().copied().unwrap_or(0), all.iter().max().copied().unwrap_or(0));
        (0..=((last - first) / 7).min(520)).map(|k| first + 7 * k).collect()
    };
    let max = series.values().flat_map(|w| w.values()).copied().max().unwrap_or(0).max(1);
    let (left, top, width, height, legend) = (50.0, 10.0, 800.0, 220.0, 22);
    let x = |k: usize| left + if weeks.len() > 1 { k as f64 * width / (weeks.len() - 1) as f64 } else { width / 2.0 };
    let y = |v: u64| top + height - v as f64 / max as f64 * height;
    let total_height = top + height + 40.0 + (legend * series.len()) as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{total_height}" role="img"><title>Claims becoming official per week, by engagement</title>"#,
        left + width + 40.0
    );
    // The value axis: 0, half and the largest week.
    for v in [0, max / 2, max] {
        svg.push_str(&format!(
            r##"<line x1="{left}" y1="{0:.1}" x2="{1}" y2="{0:.1}" stroke="#ddd"/><text x="{2}" y="{3:.1}" text-anchor="end" font-size="12">{v}</text>"##,
            y(v),
            left + width,
            left - 6.0,
            y(v) + 4.0
        ));
    }
    // The week axis: about eight dates.
    let step = weeks.len().div_ceil(8).max(1);
    for (k, week) in weeks.iter().enumerate().filter(|(k, _)| k % step == 0 || *k + 1 == weeks.len()) {
        svg.push_str(&format!(
            r#"<text x="{:.1}" y="{}" text-anchor="middle" font-size="12">{}</text>"#,
            x(k),
            top + height + 18.0,
            format_date(*week)
        ));
    }
    for (n, (engagement, counts)) in series.iter().enumerate() {
        let colour = LINE_COLOURS[n % LINE_COLOURS.len()];
        let points: Vec<String> = weeks
            .iter()
            .enumerate()
            .map(|(k, week)| format!("{:.1},{:.1}", x(k), y(counts.get(&format_date(*week)).copied().unwrap_or(0))))
            .collect();
        svg.push_str(&format!(
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        ));
        let total: u64 = counts.values().sum();
        let ly = top + height + 40.0 + (legend * n) as f64;
        svg.push_str(&format!(
            r#"<rect x="{left}" y="{:.1}" width="14" height="4" fill="{colour}"/><text x="{}" y="{:.1}" font-size="13">{} ({total} claims)</text>"#,
            ly - 4.0,
            left + 20.0,
            ly + 1.0,
            escape(engagement)
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = String::from("<table><tr>");
    for h in header {
        html.push_str(&format!("<th>{}</th>", escape(h)));
    }
    html.push_str("</tr>");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            html.push_str(&format!("<td>{}</td>", escape(cell)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
    html
}

/// The page.
pub fn render(summary: &Summary) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>cpor run as of {}</h1><p>window {} business days, time zone {}, weekend {}; cpor {}</p>",
        escape(&summary.as_of),
        summary.window_days,
        escape(&summary.timezone),
        escape(&summary.weekend),
        escape(&summary.version)
    ));

    body.push_str("<h2>Claims by status</h2>");
    let statuses: Vec<(String, u64)> = summary.statuses.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    body.push_str(&bar_chart(&statuses));

    body.push_str("<h2>Claims by engagement and status</h2>");
    let header: Vec<&str> = std::iter::once("engagement").chain(summary.statuses.keys().map(String::as_str)).collect();
    let rows: Vec<Vec<String>> = summary
        .by_engagement
        .iter()
        .map(|(engagement, counts)| {
            std::iter::once(engagement.to_string())
                .chain(summary.statuses.keys().map(|s| counts.get(s).copied().unwrap_or(0).to_string()))
                .collect()
        })
        .collect();
    body.push_str(&table(&header, &rows));

    body.push_str("<h2>Claims becoming official, by week</h2>");
    if summary.official_by_week.is_empty() {
        body.push_str("<p>No claim has become official.</p>");
    } else {
        body.push_str(&weekly_chart(&summary.official_by_week));
    }

    body.push_str(&format!("<h2>Windows closing soon</h2><p>{}.</p>", escape(&summary.closing_soon_line())));
    if !summary.closing_soon.is_empty() {
        let header = ["window closes at", "claim", "partner", "tenant"];
        let rows: Vec<Vec<String>> = summary
            .closing_soon
            .iter()
            .map(|c| vec![c.window_closes_at.clone(), c.claim_id.clone(), c.partner_id.clone(), c.tenant_id.clone()])
            .collect();
        body.push_str(&table(&header, &rows));
    }

    body.push_str("<h2>Inputs</h2>");
    let rows: Vec<Vec<String>> = summary
        .inputs
        .iter()
        .map(|(name, i)| {
            vec![
                name.to_string(),
                i.records.to_string(),
                i.accepted.to_string(),
                i.rejected.to_string(),
                i.deferred.to_string(),
            ]
        })
        .collect();
    body.push_str(&table(&["input", "records", "accepted", "rejected", "deferred"], &rows));

    body.push_str("<h2>Rejects by reason</h2>");
    let rejects: Vec<(String, u64)> =
        summary.rejects_by_reason.iter().filter(|(_, v)| **v > 0).map(|(k, v)| (k.to_string(), *v)).collect();
    if rejects.is_empty() {
        body.push_str("<p>No rejects.</p>");
    } else {
        body.push_str(&bar_chart(&rejects));
    }

    body.push_str("<h2>Largest partners</h2>");
    let rows: Vec<Vec<String>> = summary
        .largest_partners
        .iter()
        .map(|p| vec![p.partner_id.clone(), p.claims.to_string(), p.with_report.to_string(), p.report_rows.to_string()])
        .collect();
    body.push_str(&table(&["partner", "claims", "official or revoked", "report rows"], &rows));

    body.push_str("<h2>Changes since the previous run</h2>");
    match &summary.changes {
        None => body.push_str("<p>No previous run given (<code>--previous DIR</code>).</p>"),
        Some(changes) if changes.0.is_empty() => body.push_str("<p>No changes.</p>"),
        Some(changes) => {
            let items: Vec<(String, u64)> = changes.0.iter().map(|(k, v)| (k.replace('_', " "), *v)).collect();
            body.push_str(&bar_chart(&items));
        }
    }
    body.push_str(&format!(
        "<p>reports: {} files, {} rows; run time {:.2}s</p>",
        summary.reports.files, summary.reports.rows, summary.timings.total
    ));

    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="UTF-8"/><title>cpor summary {}</title><style>body{{font-family:sans-serif;margin:2em;max-width:60em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style></head><body>{body}</body></html>
"#,
        escape(&summary.as_of)
    )
}
