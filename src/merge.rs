//! `cpor merge DIR... --out OUT` (SPEC 10): the outputs of the N shards of one run put together
//! into the output of the unsharded run. First the set is checked — every directory a shard's
//! output, indexes 0…N-1 each once, and everything but the shard's own figures equal: the inputs'
//! paths, sha256 and records, as-of, options, version — and any difference refused in one line
//! before OUT is touched. Then the tables and reports are merged (`output::merge`) and summary.json
//! made from the merged tables by the run's own counting (`Summary::count_claims`), with the
//! accounting rule checked on the whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::config::{read_config_bytes, OutputFormat};
use crate::error::CporError;
use crate::output::merge::{merge_outputs, Merged};
use crate::output::reserve::hold_shard;
use crate::output::{Staged, Writer, MARKER};
use crate::rejects::Source;
use crate::summary::{sort_closing_soon, ClaimCount, ShardTimings, Summary, Timings};

/// One shard's output directory and its summary.json.
struct ShardOutput {
    dir: PathBuf,
    summary: Summary,
    index: u32,
    count: u32,
}

/// Reads a shard's summary.json, after checking that `dir` is an output of `cpor run --shard`.
fn read_shard(dir: &Path) -> Result<ShardOutput, CporError> {
    let fail = |cause: String| CporError::Shard { path: dir.to_path_buf(), cause: cause.into() };
    if !dir.exists() {
        return Err(fail("no such directory".into()));
    }
    if !dir.is_dir() {
        return Err(fail("not a directory".into()));
    }
    let marker = std::fs::read_to_string(dir.join(MARKER)).unwrap_or_default();
    if !marker.starts_with(&format!("cpor {} output", Writer::Run.as_str())) {
        return Err(fail(format!("not an output of cpor run (no {MARKER} marker of a run)")));
    }
    let bytes = read_config_bytes(&dir.join("summary.json")).map_err(|e| fail(format!("summary.json: {e}")))?;
    let summary: Summary =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("summary.json is not a summary of cpor's: {e}")))?;
    let Some(shard) = summary.shard else {
        return Err(fail("the output of an unsharded run, not of cpor run --shard".into()));
    };
    Ok(ShardOutput { dir: dir.to_path_buf(), summary, index: shard.index, count: shard.count })
}

/// What must be equal in every shard: summary.json without the shard's own figures.
fn shared_part(summary: &Summary) -> Result<Value, CporError> {
    let mut shared = summary.clone();
    shared.reset_counts();
    if let Some(usage) = shared.inputs.get_mut(Source::Usage.as_str()) {
        (usage.records, usage.accepted, usage.rejected, usage.deferred) = (0, 0, 0, 0);
    }
    shared.changes = None;
    shared.shard = None;
    shared.timings = Timings::default();
    shared.shards = None;
    serde_json::to_value(&shared).map_err(|e| CporError::Merge(e.to_string()))
}

/// The first place where `a` and `b` differ: its path (`inputs.usage.files[0].sha256`) and both values.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<(String, String, String)> {
    let shown = |v: &Value| {
        let text = v.to_string();
        if text.chars().count() > 80 {
            format!("{}…", text.chars().take(80).collect::<String>())
        } else {
            text
        }
    };
    let at = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, value) in x {
                match y.get(key) {
                    Some(other) => {
                        if let Some(found) = first_difference(&at(key), value, other) {
                            return Some(found);
                        }
                    }
                    None => return Some((at(key), shown(value), "nothing".into())),
                }
            }
            y.iter().find(|(key, _)| !x.contains_key(*key)).map(|(key, v)| (at(key), "nothing".into(), shown(v)))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q))
        }
        _ => (a != b).then(|| (path.to_string(), shown(a), shown(b))),
    }
}

/// Checks that `shards` are the N shards of one run; returns them in index order.
fn check_set(mut shards: Vec<ShardOutput>) -> Result<Vec<ShardOutput>, CporError> {
    let refuse = |message: String| Err(CporError::Merge(message));
    let Some(first) = shards.first() else { return refuse("no shard directories given".into()) };
    if let Some(other) = shards.iter().find(|s| s.count != first.count) {
        return refuse(format!(
            "{} is shard {} of {} but {} is shard {} of {}: shards of different runs",
            first.dir.display(),
            first.index,
            first.count,
            other.dir.display(),
            other.index,
            other.count
        ));
    }
    let count = first.count;
    shards.sort_by_key(|s| s.index);
    if let Some(pair) = shards.windows(2).find(|pair| pair[0].index == pair[1].index) {
        return refuse(format!(
            "shard {}/{count} is given twice: {} and {}",
            pair[0].index,
            pair[0].dir.display(),
            pair[1].dir.display()
        ));
    }
    let missing: Vec<String> =
        (0..count).filter(|i| !shards.iter().any(|s| s.index == *i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "shard" } else { "shards" };
        return refuse(format!("{plural} {} missing: {} of {count} given", missing.join(", "), shards.len()));
    }
    let reference = shared_part(&shards[0].summary)?;
    for shard in &shards[1..] {
        if let Some((path, a, b)) = first_difference("", &reference, &shared_part(&shard.summary)?) {
            return refuse(format!(
                "shard {} ({}) and shard {} ({}) differ in {path}: {a} and {b}",
                shards[0].index,
                shards[0].dir.display(),
                shard.index,
                shard.dir.display()
            ));
        }
    }
    Ok(shards)
}

/// `path` made absolute, its longest existing part resolved (links and `..` followed) and the rest,
/// which does not exist yet, appended as given.
fn resolved(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return missing.iter().rev().fold(real, |path, name| path.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// Checks the merged ledger's and rejects' figures against the sums of the shards' own summary.json
/// files, each written by its run from the same lines: a shard whose ledger or rejects were edited
/// afterwards (a status, a row count, a reason) would otherwise merge into a delivery that no run made.
fn check_against_summaries(merged: &Summary, shards: &[ShardOutput]) -> Result<(), CporError> {
    let sum = |figures: fn(&Summary) -> &BTreeMap<String, u64>| {
        let mut total: BTreeMap<String, u64> = BTreeMap::new();
        for shard in shards {
            for (key, count) in figures(&shard.summary) {
                *total.entry(key.clone()).or_default() += count;
            }
        }
        total.retain(|_, count| *count > 0);
        total
    };
    let mismatch = |what: &str, files: String, summaries: String| {
        Err(CporError::Merge(format!(
            "the shards' files give {what} {files}, their summary.json files {summaries}: a shard was changed after its run"
        )))
    };
    for (what, figures) in [
        ("claims by status", (|s| &s.statuses) as fn(&Summary) -> &BTreeMap<String, u64>),
        ("rejects by reason", |s| &s.rejects_by_reason),
    ] {
        let mut own = figures(merged).clone();
        own.retain(|_, count| *count > 0);
        let summed = sum(figures);
        if own != summed {
            let keys: std::collections::BTreeSet<&String> = own.keys().chain(summed.keys()).collect();
            let count = |map: &BTreeMap<String, u64>, key: &String| map.get(key).copied().unwrap_or(0);
            let differing = keys.into_iter().filter(|key| count(&own, key) != count(&summed, key));
            let (files, summaries): (Vec<String>, Vec<String>) = differing
                .map(|key| (format!("{key} {}", count(&own, key)), format!("{key} {}", count(&summed, key))))
                .unzip();
            return mismatch(what, files.join(", "), summaries.join(", "));
        }
    }
    let rows: u64 = shards.iter().map(|s| s.summary.reports.rows).sum();
    if merged.reports.rows != rows {
        return mismatch("report rows", merged.reports.rows.to_string(), rows.to_string());
    }
    Ok(())
}

/// Merges the shard directories into `out`; returns the merged summary, written last.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Summary, CporError> {
    let started = Instant::now();
    let read_set = || check_set(dirs.iter().map(|d| read_shard(d)).collect::<Result<_, _>>()?);
    let shards = read_set()?;
    // Refused before OUT is reserved: the lock file goes beside OUT, and a shard is only read.
    let out_resolved = resolved(out);
    for shard in &shards {
        if std::fs::canonicalize(&shard.dir).is_ok_and(|dir| out_resolved.starts_with(dir)) {
            return Err(CporError::Merge(format!(
                "--out {} is inside shard {} ({}), which a merge only reads",
                out.display(),
                shard.index,
                shard.dir.display()
            )));
        }
    }
    // Held until the merge ends: no shard is rewritten while it is read. Their summaries are read
    // again under the locks: a run into a shard may have ended since they were first read.
    let _locks = shards.iter().map(|shard| hold_shard(&shard.dir)).collect::<Result<Vec<_>, _>>()?;
    let shards = read_set()?;
    let staged = Staged::new(out, Writer::Run, dirs)?;
    let mut summary = shards[0].summary.clone();
    let format = match summary.format.as_str() {
        "parquet" => OutputFormat::Parquet,
        _ => OutputFormat::Csv,
    };
    let read = started.elapsed().as_secs_f64();
    let shard_dirs: Vec<PathBuf> = shards.iter().map(|s| s.dir.clone()).collect();
    let Merged { ledger, rejects, change_kinds, reports } =
        merge_outputs(&shard_dirs, format, summary.options.previous.is_some(), staged.dir())?;
    // A ledger cut short, or a report file missing, in a shard copied in part.
    let claims: u64 = shards.iter().map(|s| s.summary.statuses.values().sum::<u64>()).sum();
    if ledger.len() as u64 != claims {
        return Err(CporError::Merge(format!(
            "the shards' ledgers hold {} claims, their summary.json files {claims}",
            ledger.len()
        )));
    }
    let with_report = ledger.iter().filter(|line| line.report_rows.is_some()).count();
    if with_report != reports {
        return Err(CporError::Merge(format!(
            "the shards' ledgers give {with_report} claims a report, their reports folders hold {reports} files"
        )));
    }

    // The claims' and responses' accounts are whole in every shard; usage is counted by shard.
    if let Some(usage) = summary.inputs.get_mut(Source::Usage.as_str()) {
        let each = shards.iter().filter_map(|s| s.summary.inputs.get(Source::Usage.as_str()));
        (usage.records, usage.accepted, usage.rejected, usage.deferred) =
            each.fold((0, 0, 0, 0), |t, u| (t.0 + u.records, t.1 + u.accepted, t.2 + u.rejected, t.3 + u.deferred));
    }
    summary.reset_counts();
    summary.count_claims(ledger.iter().map(|l| ClaimCount {
        partner_id: &l.partner_id,
        engagement: &l.engagement,
        status: l.status,
        report_rows: l.report_rows,
    }));
    summary.count_rejects(&rejects);
    check_against_summaries(&summary, &shards)?;
    summary.closing_soon = shards.iter().flat_map(|s| s.summary.closing_soon.iter().cloned()).collect();
    for shard in &shards {
        for (engagement, weeks) in &shard.summary.official_by_week {
            let merged = summary.official_by_week.entry(engagement.clone()).or_default();
            for (week, claims) in weeks {
                *merged.entry(week.clone()).or_default() += claims;
            }
        }
    }
    sort_closing_soon(&mut summary.closing_soon);
    summary.changes = change_kinds.map(|kinds| crate::changes::ChangeCounts::of_kinds(kinds.iter()));
    summary.shard = None;
    summary.check_accounting(&rejects)?;
    summary.shards =
        Some(shards.iter().map(|s| ShardTimings { index: s.index, timings: s.summary.timings.clone() }).collect());
    let total = started.elapsed().as_secs_f64();
    summary.timings = Timings { read, write: total - read, total, ..Timings::default() };
    summary.write_files(staged.dir())?;
    staged.commit()?;
    Ok(summary)
}
