//! Who may write `--out` (SPEC 6, "cpor replaces only what it wrote"). Before a command reads,
//! creates or removes anything, it reserves its output directory DIR: it takes the lock beside DIR,
//! checks that DIR is absent, an empty directory or an earlier output of cpor's, and removes the
//! staging directories that killed runs left beside DIR.
//!
//! Beside DIR, in its parent, cpor keeps:
//! - `.<name>.lock`: the lock file, an advisory `flock` held until the new output is in place, with
//!   the holder's pid as text. The kernel releases the lock of a killed run. The file itself stays:
//!   removing it could let two runs lock two different files of the same name.
//! - `.<name>.staging-<pid>`: the output being written (`Staging`); whatever of these is there when
//!   the lock is taken belongs to a run that is dead (or to this one), and is removed.
//! - `.<name>.previous-<pid>`: an old output, removed after the swap.
//!
//! Inside DIR, `.cpor-output` marks the directory as cpor's own: one line saying what wrote it.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::config::{OutputFormat, RunConfig};
use crate::error::{context, Cause, CporError};

/// The file that marks a directory as an output of cpor's.
pub const MARKER: &str = ".cpor-output";

/// The top-level names a run or a validation writes.
const OWN_NAMES: [&str; 9] = [
    "ledger.csv",
    "ledger.parquet",
    "rejects.csv",
    "rejects.parquet",
    "summary.json",
    "summary.html",
    "changes.csv",
    "validation.json",
    "reports",
];

/// The command writing an output directory: named in the marker. A generated dataset is replaced
/// only by `cpor generate`, a run's or a validation's output only by `cpor run` or `cpor validate`
/// — so that a run pointed at a dataset that took an hour to generate refuses instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    Run,
    Validate,
    Generate,
}

impl Writer {
    pub fn as_str(self) -> &'static str {
        match self {
            Writer::Run => "run",
            Writer::Validate => "validate",
            Writer::Generate => "generate",
        }
    }

    /// The marker's line.
    pub fn marker(self) -> String {
        let next = match self {
            Writer::Generate => "cpor generate",
            Writer::Run | Writer::Validate => "cpor run or cpor validate",
        };
        format!("cpor {} output; the next {next} into this directory replaces it\n", self.as_str())
    }

    /// Whether an output whose marker reads `marker` is this command's to replace.
    fn replaces(self, marker: &str) -> bool {
        marker.starts_with("cpor generate") == (self == Writer::Generate)
    }
}

/// An output directory reserved for this process: locked, checked, cleared of stale staging.
/// Dropping it releases the lock.
#[derive(Debug)]
pub struct Reserved {
    /// DIR as given, for messages.
    pub shown: PathBuf,
    /// DIR's parent, canonical, where staging and old outputs go.
    pub parent: PathBuf,
    /// DIR's own name, which staging, old outputs and the lock beside it are named after.
    pub name: String,
    /// DIR as renamed: `parent` joined with DIR's name.
    pub target: PathBuf,
    /// Held open for the lock: the lock goes with it.
    _lock: File,
}

fn output_error(path: &Path, cause: impl Into<Cause>) -> CporError {
    CporError::Output { path: path.to_path_buf(), cause: cause.into() }
}

pub(super) fn refuse(out: &Path, reason: impl ToString) -> CporError {
    CporError::OutRefused { path: out.to_path_buf(), reason: reason.to_string() }
}

/// The paths a run reads that `--out` must not hold: each input as given (a glob's matches, and
/// the directory its pattern starts in), the holidays file and the config file. `--previous` is
/// not among them: comparing with the output about to be replaced is what it is for.
pub fn inputs_of(config: &RunConfig) -> Vec<PathBuf> {
    let given = config.inputs.claims.iter().chain(&config.inputs.responses).chain(&config.inputs.usage);
    let mut paths = Vec::new();
    for text in given {
        let path = Path::new(text);
        if !path.exists() && text.contains(['*', '?', '[']) {
            let root: PathBuf =
                path.components().take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '['])).collect();
            if let Ok(matches) = glob::glob(text) {
                paths.extend(matches.filter_map(Result::ok));
            }
            paths.push(root);
        } else {
            paths.push(path.to_path_buf());
        }
    }
    paths.extend(config.holidays.iter().cloned());
    paths.extend(config.config_file.iter().cloned());
    paths
}

/// Reserves `out` for `writer` (SPEC 6): takes the lock, checks DIR, removes stale staging, in this
/// order, before anything is read. A refusal touches nothing but the lock file.
pub fn reserve(out: &Path, writer: Writer, inputs: &[PathBuf]) -> Result<Reserved, CporError> {
    let (parent, os_name) = split(out)?;
    let name = os_name.to_string_lossy().into_owned();
    // The lock file needs the parent; when the parent is missing, DIR is too, and nothing is lost.
    fs::create_dir_all(&parent).map_err(|e| output_error(out, e))?;
    let parent = fs::canonicalize(&parent).map_err(|e| output_error(out, e))?;
    let target = parent.join(&os_name);
    // Checked before the lock too, so that a refusal leaves no lock file behind (`--out /tmp` made
    // `/.tmp.lock`); and again under the lock, which decides.
    check(out, &target, writer, inputs)?;
    let lock = lock(out, &lock_file(&parent, &os_name))?;
    check(out, &target, writer, inputs)?;
    remove_stale_staging(&parent, &name)?;
    Ok(Reserved { shown: out.to_path_buf(), parent, name, target, _lock: lock })
}

/// DIR's parent and own name. A path ending in `..` or `.` names its directory only once resolved
/// (and is the current directory or above it, which `check` refuses); the root has no name.
fn split(out: &Path) -> Result<(PathBuf, OsString), CporError> {
    let lexical = match out.components().next_back() {
        Some(Component::Normal(name)) => Some(name.to_os_string()),
        _ => None,
    };
    let (path, name) = match lexical {
        Some(name) => (out.to_path_buf(), name),
        None => {
            let resolved = fs::canonicalize(out).map_err(|e| output_error(out, e))?;
            match resolved.file_name() {
                Some(name) => {
                    let name = name.to_os_string();
                    (resolved, name)
                }
                None => return Err(refuse(out, "it is the root directory")),
            }
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// The lock file of the output `name` in `parent`, beside it.
fn lock_file(parent: &Path, name: &std::ffi::OsStr) -> PathBuf {
    parent.join(format!(".{}.lock", name.to_string_lossy()))
}

/// The flags a lock file is opened with: not following a symbolic link, as the file is written to
/// and a link could point anywhere.
const LOCK_FLAGS: rustix::fs::OFlags = rustix::fs::OFlags::RDWR
    .union(rustix::fs::OFlags::NOFOLLOW)
    .union(rustix::fs::OFlags::CLOEXEC)
    .union(rustix::fs::OFlags::NONBLOCK);

/// Takes the lock at `path` without waiting; a lock held by another run is an error naming its pid.
fn lock(out: &Path, path: &Path) -> Result<File, CporError> {
    use rustix::fs::{Mode, OFlags};
    let flags = LOCK_FLAGS | OFlags::CREATE;
    let fd = rustix::fs::open(path, flags, Mode::from_raw_mode(0o644)).map_err(|e| output_error(path, e))?;
    take(out, path, File::from(fd), rustix::fs::FlockOperation::NonBlockingLockExclusive)
}

/// Holds the lock of an existing output, shared, while `cpor merge` reads it as a shard: a run
/// into it meanwhile stops at once, naming the merge's pid, and a shard a run is writing now is
/// refused, naming the run's; other merges read it too. An output without a lock file — a run
/// always leaves one — or whose lock file cannot be opened for writing (a shard on read-only
/// storage) or locked (a file system without `flock`) is read without: nothing is created beside a
/// shard.
pub fn hold_shard(shard: &Path) -> Result<Option<File>, CporError> {
    // The run that wrote the shard locked it under its real name: a shard given through a link to
    // it, or as `.`, is resolved first.
    let Ok(real) = fs::canonicalize(shard) else { return Ok(None) };
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else { return Ok(None) };
    let path = lock_file(parent, name);
    let Ok(fd) = rustix::fs::open(&path, LOCK_FLAGS, rustix::fs::Mode::empty()) else { return Ok(None) };
    match take(shard, &path, File::from(fd), rustix::fs::FlockOperation::NonBlockingLockShared) {
        Ok(file) => Ok(Some(file)),
        Err(locked @ CporError::Locked { .. }) => Err(locked),
        Err(_) => Ok(None),
    }
}

/// Locks the open lock file at `path` without waiting (`lock`: exclusive or shared) and writes
/// this process's pid into it.
fn take(out: &Path, path: &Path, file: File, lock: rustix::fs::FlockOperation) -> Result<File, CporError> {
    let is_file = file.metadata().map_err(|e| output_error(path, e))?.is_file();
    if !is_file {
        return Err(output_error(path, "the lock file is not a regular file"));
    }
    match rustix::fs::flock(&file, lock) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            return Err(CporError::Locked { path: out.to_path_buf(), pid: holder(&file) })
        }
        Err(e) => return Err(output_error(path, e)),
    }
    file.set_len(0).map_err(|e| output_error(path, e))?;
    (&file).write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(|e| output_error(path, e))?;
    Ok(file)
}

/// The pid the holder of a lock wrote into it; it writes just after locking, so an empty file is
/// read again a few times before the pid is called unknown.
fn holder(file: &File) -> String {
    use std::os::unix::fs::FileExt;
    for _ in 0..50 {
        let mut buffer = [0u8; 32];
        if let Ok(n) = file.read_at(&mut buffer, 0) {
            let text = String::from_utf8_lossy(buffer.get(..n).unwrap_or_default());
            let pid = text.trim();
            if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                return pid.to_string();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "unknown".into()
}

/// Why `target` may not be replaced by `writer`, if it may not (SPEC 6): it must be absent, an
/// empty directory or an earlier cpor output — a real directory (not a link), neither the current
/// directory nor above it, holding no input.
pub(super) fn check(out: &Path, target: &Path, writer: Writer, inputs: &[PathBuf]) -> Result<(), CporError> {
    let meta = match fs::symlink_metadata(target) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(output_error(out, e)),
        Ok(meta) => meta,
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(out, "it is a symbolic link, which replacing would remove rather than its target"));
    }
    if !meta.is_dir() {
        return Err(refuse(out, "it is not a directory"));
    }
    let dir = fs::canonicalize(target).map_err(|e| output_error(out, e))?;
    if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize) {
        if cwd.starts_with(&dir) {
            return Err(refuse(out, "it is the current directory or holds it"));
        }
    }
    for input in inputs {
        if fs::canonicalize(input).is_ok_and(|path| path.starts_with(&dir)) {
            return Err(refuse(out, format!("it holds the input {}", input.display())));
        }
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| output_error(out, e))?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| output_error(out, e))?;
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    if names.iter().any(|n| n == MARKER) {
        let marker = read_marker(&dir.join(MARKER));
        return match marker {
            Some(text) if writer.replaces(&text) => only_own(out, &dir, &names, writer, &text),
            Some(text) => {
                let what = text.split(';').next().unwrap_or_default().trim().to_string();
                Err(refuse(out, format!("it holds a {what}, which cpor {} does not replace", writer.as_str())))
            }
            None => Err(refuse(out, format!("its {MARKER} is not a marker cpor wrote"))),
        };
    }
    if let Some(foreign) = names.iter().find(|n| !OWN_NAMES.contains(&n.as_str())) {
        return Err(refuse(out, format!("it holds {foreign}, which cpor did not write")));
    }
    // Names cpor writes are not enough: a user's own summary.json and ledger.csv look the same.
    Err(refuse(out, format!("it holds no {MARKER}, the mark of an output cpor {} replaces", writer.as_str())))
}

/// An earlier output is replaced only while it holds no more than what cpor wrote there: a file or
/// folder added to it since (notes, a pivot table, another output written inside it) would go with
/// it. What it wrote is listed in its marker (`listing`), so that a file named like another of cpor's
/// outputs (a `ledger.parquet` beside a CSV output's `ledger.csv`, a `changes.csv` in an output of a
/// run without `--previous`) is not taken for cpor's; a marker without the list (cpor before it kept
/// one) is read as naming every name cpor writes. Checked at the top and among the files of
/// `reports/` (the manifest); the partners' folders, a few hundred thousand files, by
/// `added_to_partners` while the run reads.
fn only_own(out: &Path, dir: &Path, names: &[String], writer: Writer, marker: &str) -> Result<(), CporError> {
    let listed: Vec<&str> = marker.lines().skip(1).filter(|line| !line.is_empty()).collect();
    let own = |name: &str| match writer {
        _ if !listed.is_empty() => listed.contains(&name),
        Writer::Generate => {
            name == "holidays.csv"
                || name == "params.json"
                || ["claims.", "responses.", "usage."].iter().any(|p| name.starts_with(p))
        }
        Writer::Run | Writer::Validate => {
            OWN_NAMES.contains(&name) || name == "reports/manifest.csv" || name == "reports/manifest.parquet"
        }
    };
    if let Some(foreign) = names.iter().find(|n| n.as_str() != MARKER && !own(n)) {
        return Err(refuse(out, format!("it holds {foreign}, which cpor did not write")));
    }
    let reports = dir.join("reports");
    if writer == Writer::Generate || !reports.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(&reports).map_err(|e| output_error(out, e))? {
        let entry = entry.map_err(|e| output_error(out, e))?;
        let name = format!("reports/{}", entry.file_name().to_string_lossy());
        let is_dir = entry.file_type().map_err(|e| output_error(out, e))?.is_dir();
        if !is_dir && !own(&name) {
            return Err(refuse(out, format!("it holds {name}, which cpor did not write")));
        }
    }
    Ok(())
}

/// The marker of a complete output in `dir`: `writer`'s line, then each name cpor wrote at the
/// top of `dir` and each file it wrote at the top of `reports/` (`reports/manifest.csv`), one per
/// line, sorted — what `only_own` lets the next run replace.
pub(super) fn listing(writer: Writer, dir: &Path) -> std::io::Result<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != MARKER {
            names.push(name);
        }
    }
    let reports = dir.join("reports");
    if reports.is_dir() {
        for entry in fs::read_dir(&reports)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                names.push(format!("reports/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    names.sort();
    Ok(names.iter().fold(writer.marker(), |text, name| text + name + "\n"))
}

/// What `added_to_partners` found: the first entry a partner's manifest does not list, if any, and
/// each partner folder's modification time as it was read, so that a second look just before the
/// swap reads again only the folders changed since.
#[derive(Debug, Default)]
pub(super) struct PartnerScan {
    pub(super) added: Option<String>,
    seen: std::collections::HashMap<OsString, std::time::SystemTime>,
}

/// The first entry of a partner's folder of the earlier output `dir` that its manifest does not
/// list — a file or folder added since, which replacing the output would delete (SPEC 6) — as
/// `reports/<partner>/<name>`. `only_own` leaves these folders to this check, which runs beside the
/// run (`Staging`): a few hundred thousand names, compared with the manifests' `path` columns. A
/// report file that is missing, or an empty folder, is no reason to refuse. With `before`, only the
/// folders new or changed since that scan are read. `Err`: a folder or manifest that cannot be read,
/// where cpor's files cannot be told from others.
pub(super) fn added_to_partners(dir: &Path, before: Option<&PartnerScan>) -> Result<PartnerScan, String> {
    let mut scan = PartnerScan::default();
    let reports = dir.join("reports");
    if !reports.exists() {
        // A validation's output, or a run's with no report.
        return Ok(scan);
    }
    for partner in fs::read_dir(&reports).map_err(|e| format!("reports: {e}"))? {
        let partner = partner.map_err(|e| format!("reports: {e}"))?;
        if !partner.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = partner.file_name();
        let modified = partner.metadata().and_then(|m| m.modified()).map_err(|e| format!("reports: {e}"))?;
        let unchanged = before.and_then(|b| b.seen.get(&name)) == Some(&modified);
        scan.seen.insert(name.clone(), modified);
        if !unchanged && scan.added.is_none() {
            let shown = format!("reports/{}", name.to_string_lossy());
            scan.added = unlisted_entry(&partner.path())
                .map_err(|why| format!("{shown}: {why}"))?
                .map(|entry| format!("{shown}/{entry}"));
        }
    }
    Ok(scan)
}

/// The first entry of one partner's folder that its manifest does not list.
fn unlisted_entry(folder: &Path) -> Result<Option<String>, String> {
    let entries: Vec<fs::DirEntry> =
        fs::read_dir(folder).and_then(|list| list.collect::<Result<_, _>>()).map_err(|e| e.to_string())?;
    if entries.is_empty() {
        return Ok(None);
    }
    let (csv, parquet) = (folder.join("manifest.csv"), folder.join("manifest.parquet"));
    let (manifest, format) = match (csv.is_file(), parquet.is_file()) {
        (true, false) => (csv, OutputFormat::Csv),
        (false, true) => (parquet, OutputFormat::Parquet),
        (true, true) => return Ok(Some("manifest.parquet".into())),
        // Files and no manifest: none of them can be told to be cpor's.
        (false, false) => return Ok(entries.first().map(|e| e.file_name().to_string_lossy().into_owned())),
    };
    let listed: std::collections::HashSet<String> =
        super::merge::manifest_file_names(&manifest, format)?.into_iter().collect();
    let own = manifest.file_name().unwrap_or_default().to_os_string();
    for entry in entries {
        let name = entry.file_name();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if name != own && !(is_file && listed.contains(&*name.to_string_lossy())) {
            return Ok(Some(name.to_string_lossy().into_owned()));
        }
    }
    Ok(None)
}

/// The marker's text: a regular file of a few bytes that starts with "cpor " (not a link, nor a
/// FIFO that would block the read).
fn read_marker(path: &Path) -> Option<String> {
    let meta = fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 1024 {
        return None;
    }
    let mut text = String::new();
    File::open(path).ok()?.take(1024).read_to_string(&mut text).ok()?;
    text.starts_with("cpor ").then_some(text)
}

/// Removes every `.<name>.staging-<pid>` directory in `parent`: with the lock held, each belongs
/// to a run that was killed (or to this process, from a run under the same pid).
fn remove_stale_staging(parent: &Path, name: &str) -> Result<(), CporError> {
    let prefix = format!(".{name}.staging-");
    let entries = fs::read_dir(parent).map_err(|e| output_error(parent, e))?;
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let stale = file_name
            .strip_prefix(&prefix)
            .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()));
        if stale && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|e| output_error(&path, context("removing stale staging", e)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
    }

    /// `out` in a fresh temp dir, filled by `make`; what `reserve` says of it for `writer`.
    fn verdict(make: impl Fn(&Path), writer: Writer) -> Result<(), String> {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        make(&out);
        let before = names(temp.path());
        match reserve(&out, writer, &[]) {
            Ok(_) => Ok(()),
            Err(e) => {
                assert_eq!(names(temp.path()), before, "a refusal touches nothing, and leaves no lock file");
                Err(e.to_string())
            }
        }
    }

    fn dir_with(files: &'static [(&'static str, &'static str)]) -> impl Fn(&Path) {
        move |out| {
            fs::create_dir(out).expect("mkdir");
            for (name, text) in files {
                fs::write(out.join(name), text).expect("write");
            }
        }
    }

    /// A marked run output with a partner's folder P1, and `file` beside it in `reports/`.
    fn run_output_with_in_reports(file: &'static str) -> impl Fn(&Path) {
        move |out| {
            dir_with(&[(MARKER, RUN_MARKER)])(out);
            fs::create_dir_all(out.join("reports/P1")).expect("mkdir");
            fs::write(out.join("reports").join(file), "").expect("write");
        }
    }

    const RUN_MARKER: &str = "cpor run output; the next cpor run or cpor validate into this directory replaces it\n";
    /// A run output's marker as `listing` writes it.
    const LISTING_MARKER: &str =
        "cpor run output; the next cpor run or cpor validate into this directory replaces it\n\
                                  ledger.csv\nreports\nreports/manifest.csv\nsummary.json\n";
    const GEN_MARKER: &str = "cpor generate output; the next cpor generate into this directory replaces it\n";

    /// A case: its name, how to lay out `--out`, who writes, and the refusal expected (if any).
    type Case<'a> = (&'a str, Box<dyn Fn(&Path)>, Writer, Option<&'a str>);

    #[test]
    fn the_marker_lists_what_the_output_holds() {
        let temp = tempfile::tempdir().expect("temp dir");
        dir_with(&[(MARKER, RUN_MARKER), ("summary.json", "{}"), ("ledger.csv", "")])(&temp.path().join("o"));
        let out = temp.path().join("o");
        fs::create_dir_all(out.join("reports/P1")).expect("mkdir");
        fs::write(out.join("reports/manifest.csv"), "").expect("write");
        fs::write(out.join("reports/P1/C1.csv"), "").expect("write");
        assert_eq!(listing(Writer::Run, &out).expect("listed"), LISTING_MARKER);
    }

    #[test]
    fn what_may_be_replaced() {
        let legacy = &[("ledger.csv", ""), ("rejects.csv", ""), ("summary.json", "{}")];
        let cases: Vec<Case<'_>> = vec![
            ("absent", Box::new(|_: &Path| {}), Writer::Run, None),
            ("empty", Box::new(dir_with(&[])), Writer::Run, None),
            ("marked by run", Box::new(dir_with(&[(MARKER, RUN_MARKER), ("ledger.csv", "")])), Writer::Validate, None),
            (
                "marked by run, with a file added",
                Box::new(dir_with(&[(MARKER, RUN_MARKER), ("notes.txt", "")])),
                Writer::Run,
                Some("it holds notes.txt, which cpor did not write"),
            ),
            (
                "marked by run, with partners' folders",
                Box::new(run_output_with_in_reports("manifest.csv")),
                Writer::Run,
                None,
            ),
            (
                "marked with what it holds",
                Box::new(dir_with(&[(MARKER, LISTING_MARKER), ("ledger.csv", ""), ("summary.json", "{}")])),
                Writer::Run,
                None,
            ),
            // Named as cpor names its outputs, but not what this output's marker lists.
            (
                "marked with what it holds, and a Parquet ledger added",
                Box::new(dir_with(&[(MARKER, LISTING_MARKER), ("ledger.csv", ""), ("ledger.parquet", "")])),
                Writer::Run,
                Some("it holds ledger.parquet, which cpor did not write"),
            ),
            (
                "marked with what it holds, and a changes.csv added",
                Box::new(dir_with(&[(MARKER, LISTING_MARKER), ("changes.csv", "")])),
                Writer::Validate,
                Some("it holds changes.csv, which cpor did not write"),
            ),
            (
                "marked with what it holds, and a Parquet manifest added to its reports",
                Box::new(|out: &Path| {
                    dir_with(&[(MARKER, LISTING_MARKER)])(out);
                    fs::create_dir_all(out.join("reports/P1")).expect("mkdir");
                    fs::write(out.join("reports/manifest.csv"), "").expect("write");
                    fs::write(out.join("reports/manifest.parquet"), "").expect("write");
                }),
                Writer::Run,
                Some("it holds reports/manifest.parquet, which cpor did not write"),
            ),
            (
                "marked by run, with a file added to its reports",
                Box::new(run_output_with_in_reports("pivot.xlsx")),
                Writer::Run,
                Some("reports/pivot.xlsx"),
            ),
            (
                "generated, with another output inside",
                Box::new(|out: &Path| {
                    dir_with(&[(MARKER, GEN_MARKER), ("claims.csv", ""), ("params.json", "")])(out);
                    fs::create_dir(out.join("out")).expect("mkdir");
                }),
                Writer::Generate,
                Some("it holds out, which"),
            ),
            // Names cpor writes, but no marker: a user's own files may be named so.
            ("unmarked run output", Box::new(dir_with(legacy)), Writer::Run, Some("holds no .cpor-output")),
            (
                "unmarked validation",
                Box::new(dir_with(&[("validation.json", "{}")])),
                Writer::Validate,
                Some("holds no .cpor-output"),
            ),
            ("marked by generate", Box::new(dir_with(&[(MARKER, GEN_MARKER)])), Writer::Generate, None),
            (
                "file",
                Box::new(|out: &Path| fs::write(out, "precious").expect("write")),
                Writer::Run,
                Some("not a directory"),
            ),
            (
                "link",
                Box::new(|out: &Path| {
                    fs::create_dir(out.with_file_name("real")).expect("mkdir");
                    std::os::unix::fs::symlink("real", out).expect("symlink")
                }),
                Writer::Run,
                Some("symbolic link"),
            ),
            (
                "foreign file",
                Box::new(dir_with(&[("summary.json", ""), ("notes.txt", "")])),
                Writer::Run,
                Some("notes.txt"),
            ),
            ("no summary", Box::new(dir_with(&[("ledger.csv", "")])), Writer::Run, Some("holds no .cpor-output")),
            (
                "generated, for run",
                Box::new(dir_with(&[(MARKER, GEN_MARKER)])),
                Writer::Run,
                Some("cpor generate output"),
            ),
            (
                "run output, for generate",
                Box::new(dir_with(&[(MARKER, RUN_MARKER)])),
                Writer::Generate,
                Some("cpor run output"),
            ),
            ("unmarked, for generate", Box::new(dir_with(legacy)), Writer::Generate, Some("holds no .cpor-output")),
            ("forged marker", Box::new(dir_with(&[(MARKER, "mine")])), Writer::Run, Some("not a marker")),
        ];
        for (name, make, writer, refused) in cases {
            match (verdict(make, writer), refused) {
                (Ok(()), None) => {}
                (Err(e), Some(why)) => assert!(e.contains(why) && e.contains("refusing"), "{name}: {e}"),
                (got, _) => panic!("{name}: got {got:?}, expected refusal: {refused:?}"),
            }
        }
    }

    #[test]
    fn an_input_inside_is_refused() {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        fs::create_dir_all(out.join("in")).expect("mkdir");
        fs::write(out.join(MARKER), Writer::Run.marker()).expect("write");
        fs::write(out.join("in/claims.csv"), "claim_id\n").expect("write");
        let input = temp.path().join("out/./in/../in/claims.csv");
        let e = reserve(&out, Writer::Run, &[input]).expect_err("refused");
        assert!(e.to_string().contains("holds the input"), "{e}");
        // Without the input, the folder that held it is still not cpor's.
        let e = reserve(&out, Writer::Run, &[temp.path().join("elsewhere.csv")]).expect_err("refused");
        assert!(e.to_string().contains("it holds in, which cpor did not write"), "{e}");
        fs::remove_dir_all(out.join("in")).expect("rm");
        assert!(reserve(&out, Writer::Run, &[temp.path().join("elsewhere.csv")]).is_ok());
    }

    #[test]
    fn a_second_reservation_names_the_first_ones_pid() {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        let first = reserve(&out, Writer::Run, &[]).expect("first");
        let lock = temp.path().join(".out.lock");
        assert_eq!(fs::read_to_string(&lock).expect("lock file"), format!("{}\n", std::process::id()));
        let e = reserve(&out, Writer::Run, &[]).expect_err("locked");
        assert!(matches!(&e, CporError::Locked { pid, .. } if *pid == std::process::id().to_string()), "{e}");
        drop(first);
        assert!(reserve(&out, Writer::Run, &[]).is_ok(), "released with the reservation");
    }

    #[test]
    fn stale_staging_is_removed_and_nothing_else() {
        let temp = tempfile::tempdir().expect("temp dir");
        for name in [".out.staging-99999", ".out.staging-1", ".outer.staging-1", ".out.staging-x", ".out.previous-1"] {
            fs::create_dir_all(temp.path().join(name).join("reports")).expect("mkdir");
        }
        fs::write(temp.path().join(".out.staging-2"), "a file, not cpor's").expect("write");
        let _reserved = reserve(&temp.path().join("out"), Writer::Run, &[]).expect("reserved");
        let expected = [".out.lock", ".outer.staging-1", ".out.staging-x", ".out.previous-1", ".out.staging-2"];
        assert_eq!(names(temp.path()), expected.iter().map(|n| n.to_string()).collect());
    }

    #[test]
    fn the_name_of_a_path_ending_in_dots_is_resolved() {
        let temp = tempfile::tempdir().expect("temp dir");
        fs::create_dir_all(temp.path().join("a/b")).expect("mkdir");
        let (parent, name) = split(&temp.path().join("a/b/..")).expect("split");
        assert_eq!(
            (fs::canonicalize(parent).expect("parent"), name.to_str()),
            (fs::canonicalize(temp.path()).expect("temp"), Some("a"))
        );
        let (parent, name) = split(Path::new("out")).expect("split");
        assert_eq!((parent, name.to_str()), (PathBuf::from("."), Some("out")));
        assert!(split(Path::new("/")).is_err());
    }
}
