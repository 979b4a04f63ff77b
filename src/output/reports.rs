//! Report files (SPEC 5, 6): `reports/<partner_id>/<claim_id>.<ext>`, one per official or revoked
//! claim. Creating hundreds of thousands of files on a disk is the file system's work more than
//! cpor's: there the files are created, empty, by a thread of their own while usage is read (which
//! leaves the cores idle part of the time; not in memory, `worth_creating_ahead`), and filled once
//! the reports are built by a pool of writer threads, partner by partner, each partner's manifest
//! written as soon as its reports are (BENCHMARKS.md).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rayon::prelude::*;

use crate::config::OutputFormat;
use crate::error::CporError;
use crate::hashing::FirstCome;
use crate::input::sha256_hex;
use crate::ledger::DecidedClaim;
use crate::progress::{Progress, Size};
use crate::records::Claim;

use super::manifest::{write_partner_manifest, ManifestLine, PartnerLines};
use super::{fail, io, pl, report_file};

/// Threads that write report files.
const WRITER_THREADS: usize = 8;

/// Report files by partner: each partner's directory name and its claims' ids.
pub type ReportFiles = Vec<(Box<str>, Vec<Box<str>>)>;

/// A thread creating empty report files, partner by partner, until done or told to stop.
pub(super) struct Creator {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Creator {
    /// Starts creating `files`, empty, under `reports`, on a thread of its own.
    pub(super) fn start(reports: std::path::PathBuf, files: ReportFiles, format: OutputFormat) -> Creator {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("cpor-prepare".into())
            .spawn(move || {
                // The lowest priority: reading usage keeps the cores busy but for short gaps, and
                // this thread is to fill those, not to slow the reading.
                let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
                create_report_files(&reports, files, format.extension(), &flag)
            })
            .ok();
        Creator { stop, thread }
    }

    pub(super) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic there leaves files uncreated, which the writers create.
            let _ = thread.join();
        }
    }
}

impl Drop for Creator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether report files are worth creating ahead in `dir`'s file system: not in memory (tmpfs,
/// ramfs). On a disk, creating hundreds of thousands of files waits on the file system, and the
/// creator hides that behind the reading of usage (4–6 s of the `large` profile, BENCHMARKS.md). In
/// memory, creating a file is CPU work only, which the reading leaves none of, and a file created
/// ahead is opened a second time to be filled: there the creator cost 1.3 CPU-s of the `large`
/// profile and saved nothing, so the writers create the files. Unknown: worth it.
pub(super) fn worth_creating_ahead(dir: &Path) -> bool {
    rustix::fs::statfs(dir).map_or(true, |fs| !in_memory(fs.f_type as u64))
}

/// Whether a file system type (`statfs`' `f_type`) keeps its files in memory: tmpfs or ramfs.
fn in_memory(f_type: u64) -> bool {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const RAMFS_MAGIC: u64 = 0x8584_58f6;
    matches!(f_type, TMPFS_MAGIC | RAMFS_MAGIC)
}

/// Opens `name` in the open directory `dir` for writing, creating it (`new`: only if it does not
/// exist yet). Relative to the directory, the kernel looks up one name instead of walking the whole
/// path: hundreds of thousands of report files are opened this way.
fn open_in(dir: &File, name: &str, new: bool) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
    if new {
        flags |= OFlags::EXCL;
    }
    Ok(File::from(rustix::fs::openat(dir, name, flags, Mode::from_raw_mode(0o666))?))
}

/// Creates `reports/<partner>/<claim>.<ext>`, empty, in `reports`. Stops at the first failure:
/// the writers create what is missing and report the error with its path.
fn create_report_files(reports: &Path, files: ReportFiles, ext: &str, stop: &AtomicBool) {
    if fs::create_dir(reports).is_err() {
        return;
    }
    for (partner, claims) in files {
        let path = reports.join(&*partner);
        let Ok(dir) = fs::create_dir(&path).and_then(|()| File::open(&path)) else { return };
        for claim in claims {
            if stop.load(Ordering::Relaxed) || open_in(&dir, &format!("{claim}.{ext}"), true).is_err() {
                return;
            }
            // Hands the core back at once to a reading thread that woke meanwhile: the lowest
            // priority alone let this thread finish its time slice first, and reading usage took
            // 0.7–1.1 s longer on the large profile (BENCHMARKS.md).
            std::thread::yield_now();
        }
    }
}

/// The report files to make for claims with a report, grouped by partner (`partner_groups`).
pub fn report_files(claims: &mut dyn Iterator<Item = &Claim>) -> ReportFiles {
    let mut pairs: Vec<(&str, &str)> = claims.map(|c| (c.partner_id.as_str(), c.id.as_str())).collect();
    partner_groups(&mut pairs, |&(partner, _)| partner)
        .into_iter()
        .map(|(partner, group)| (partner.into(), group.iter().map(|&(_, claim)| claim.into()).collect()))
        .collect()
}

/// `rows` grouped by partner: each partner's id and rows, in partner order, a partner's rows in the
/// order given. The few thousand distinct partners are sorted, then the rows counted and placed under
/// their partner's rank (a stable counting sort): both callers run on the main thread, and a sort of
/// every row by its partner's text took about a second of both cores on the large profile's 867,354
/// reports, a `BTreeMap` of partners half a second of one (BENCHMARKS.md).
fn partner_groups<'s, 'p, T: Copy>(rows: &'s mut [T], partner: impl Fn(&T) -> &'p str) -> Vec<(&'p str, &'s [T])> {
    // Each row's partner numbered as partners first come: one read of the row's partner and one
    // lookup per row (`FirstCome`: not a map of borrowed ids).
    let mut numbers = FirstCome::default();
    let mut partners: Vec<&'p str> = Vec::new();
    let mut ranks: Vec<usize> = rows
        .iter()
        .map(|row| {
            let id = partner(row);
            let (number, new) = numbers.number(id);
            if new {
                partners.push(id);
            }
            number
        })
        .collect();
    let mut order: Vec<usize> = (0..partners.len()).collect();
    order.sort_unstable_by_key(|&number| partners[number]);
    let mut rank_of = vec![0; partners.len()];
    for (rank, &number) in order.iter().enumerate() {
        rank_of[number] = rank;
    }
    for rank in &mut ranks {
        *rank = rank_of[*rank];
    }
    let partners: Vec<&'p str> = order.iter().map(|&number| partners[number]).collect();
    // Each partner's first place, then each row put at its partner's next place.
    let mut next = vec![0; partners.len()];
    for &rank in &ranks {
        next[rank] += 1;
    }
    let mut start = 0;
    let mut starts = Vec::with_capacity(partners.len());
    for count in &mut next {
        starts.push(start);
        (*count, start) = (start, start + *count);
    }
    let mut placed = rows.to_vec();
    for (&rank, row) in ranks.iter().zip(rows.iter()) {
        placed[next[rank]] = *row;
        next[rank] += 1;
    }
    rows.copy_from_slice(&placed);
    let rows: &'s [T] = rows;
    partners.into_iter().zip(starts).zip(next).map(|((id, start), end)| (id, &rows[start..end])).collect()
}

/// Fills every report file in `dir`/reports, partner by partner, from a pool of writer threads;
/// creates the directories and files the creator did not get to; writes each partner's manifest
/// once its reports are written. `ledger`: the decided claims, those with a report among them.
/// Returns each partner's share of the whole manifest, in partner_id order.
pub(super) fn write_reports(
    dir: &Path,
    ledger: &[&DecidedClaim],
    format: OutputFormat,
    progress: &Progress,
) -> Result<Vec<PartnerLines>, CporError> {
    let ext = format.extension();
    let reports_dir = dir.join("reports");
    let mut with_report: Vec<&DecidedClaim> = ledger.iter().copied().filter(|r| r.report.is_some()).collect();
    // Each partner's claims in ledger order.
    let by_partner = partner_groups(&mut with_report, |row| row.claim.partner_id.as_str());
    fs::DirBuilder::new().recursive(true).create(&reports_dir).map_err(io(&reports_dir))?;
    for (partner, _) in &by_partner {
        let path = reports_dir.join(partner);
        fs::DirBuilder::new().recursive(true).create(&path).map_err(io(&path))?;
    }
    let total = by_partner.iter().map(|(_, rows)| rows.len() as u64).sum();
    let bar = progress.stage("writing reports", "files", Size::Items(total));
    // Creating files waits on the file system as much as on the CPU: a pool of its own, larger than
    // the core count, keeps the disk busy (BENCHMARKS.md).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WRITER_THREADS)
        .thread_name(|i| format!("cpor-writer-{i}"))
        .build()
        .map_err(|e| fail(&reports_dir, e))?;
    let shares: Vec<PartnerLines> = pool.install(|| {
        by_partner
            .par_iter()
            .map(|(partner, rows)| {
                let partner_dir = reports_dir.join(partner);
                let dir = File::open(&partner_dir).map_err(io(&partner_dir))?;
                let mut lines = Vec::with_capacity(rows.len());
                // `by_partner` holds only rows with a report.
                for (row, report) in rows.iter().filter_map(|row| Some((row, row.report.as_ref()?))) {
                    let claim = &row.claim;
                    let name = format!("{}.{ext}", claim.id);
                    let path = || partner_dir.join(&name);
                    let bytes = report_file(claim, report, format).map_err(|e| pl(&path())(e))?;
                    // Not truncated: a file that exists was created empty by the creator, in a
                    // staging directory no one else writes to, and truncating costs the file system
                    // a metadata update.
                    let file = open_in(&dir, &name, false).map_err(|e| io(&path())(e))?;
                    (&file).write_all(&bytes).map_err(|e| io(&path())(e))?;
                    lines.push(ManifestLine {
                        partner_id: partner.to_string(),
                        claim_id: claim.id.to_string(),
                        path: format!("reports/{partner}/{name}"),
                        rows: report.rows.len() as u64,
                        bytes: bytes.len() as u64,
                        sha256: sha256_hex(&bytes),
                        window: report.window,
                    });
                }
                // Once per partner: once per file, the bar's counting was 0.07 CPU-s on large.
                bar.inc(lines.len() as u64);
                write_partner_manifest(&reports_dir, format, lines)
            })
            .collect::<Result<_, _>>()
    })?;
    bar.finish(total);
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn report_files_are_made_ahead_except_in_memory() {
        assert!(in_memory(0x0102_1994) && in_memory(0x8584_58f6), "tmpfs, ramfs");
        assert!(!in_memory(0xEF53) && !in_memory(0x5846_5342), "ext4, xfs");
        // /dev/shm is a tmpfs on Linux wherever /proc/mounts says so.
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        if mounts.lines().any(|line| line.split(' ').nth(1) == Some("/dev/shm") && line.contains(" tmpfs ")) {
            assert!(!worth_creating_ahead(Path::new("/dev/shm")));
        }
        assert!(worth_creating_ahead(Path::new("/no/such/dir")), "unknown: made ahead");
    }

    #[test]
    fn report_files_are_grouped_by_partner_in_order_each_partners_claims_as_given() {
        use crate::checks::claims::tests::claim;
        let claims = [claim("C3", "P2"), claim("C1", "P1"), claim("C9", "P2"), claim("C2", "P1"), claim("C0", "P10")];
        let files = report_files(&mut claims.iter());
        let files: Vec<(&str, Vec<&str>)> =
            files.iter().map(|(p, cs)| (&**p, cs.iter().map(|c| &**c).collect())).collect();
        assert_eq!(files, [("P1", vec!["C1", "C2"]), ("P10", vec!["C0"]), ("P2", vec!["C3", "C9"])]);
    }

    #[test]
    fn report_files_are_created_empty_by_partner_until_told_to_stop() {
        let temp = tempfile::tempdir().expect("temp dir");
        let files =
            || -> ReportFiles { vec![("P1".into(), vec!["C1".into(), "C2".into()]), ("P2".into(), vec!["C3".into()])] };
        let reports = temp.path().join("reports");
        create_report_files(&reports, files(), "csv", &AtomicBool::new(false));
        assert_eq!(names(&reports), BTreeSet::from(["P1".to_string(), "P2".to_string()]));
        assert_eq!(names(&reports.join("P1")), BTreeSet::from(["C1.csv".to_string(), "C2.csv".to_string()]));
        assert_eq!(fs::metadata(reports.join("P2/C3.csv")).expect("made").len(), 0);

        let stopped = temp.path().join("stopped");
        create_report_files(&stopped, files(), "parquet", &AtomicBool::new(true));
        assert!(names(&stopped.join("P1")).is_empty(), "no file once told to stop");
    }
}
