//! Staging and swap (SPEC 6): every output is written into a directory beside `--out` and swapped
//! into place only when complete, so that a failed or killed run leaves the previous output as it
//! was; the previous output is then removed in the background. `reserve` decides first whether
//! `--out` may be written at all, and holds the lock.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::CporError;

use super::io;
use super::reserve::{added_to_partners, check, listing, refuse, reserve, PartnerScan, Reserved, Writer, MARKER};

/// A directory being filled beside the final one; removed again unless committed. It holds the
/// reservation, and with it the lock, until it is committed or dropped.
pub(super) struct Staging {
    pub(super) dir: PathBuf,
    reserved: Reserved,
    committed: bool,
    /// What `--out` was reserved for, checked again just before the swap.
    writer: Writer,
    inputs: Vec<PathBuf>,
    /// The check of an earlier output's partners' folders for entries added since
    /// (`added_to_partners`), running beside the run; its answer is awaited before the swap.
    added: Option<std::thread::JoinHandle<Result<PartnerScan, String>>>,
}

impl Staging {
    /// Reserves `out` (lock, check, stale staging removed: `reserve`), then makes the staging
    /// directory beside it, marked as `writer`'s output.
    pub(super) fn new(out: &Path, writer: Writer, inputs: &[PathBuf]) -> Result<Staging, CporError> {
        let reserved = reserve(out, writer, inputs)?;
        let dir = reserved.parent.join(format!(".{}.staging-{}", reserved.name, std::process::id()));
        fs::create_dir(&dir).map_err(io(out))?;
        let earlier = reserved.target.clone();
        let added = if writer != Writer::Generate && earlier.join(MARKER).is_file() {
            let check = std::thread::Builder::new().name("cpor-check-out".into());
            Some(check.spawn(move || added_to_partners(&earlier, None)).map_err(io(out))?)
        } else {
            None
        };
        // Removed by `drop` from here on.
        let staging = Staging { dir, reserved, committed: false, writer, inputs: inputs.to_vec(), added };
        let marker = staging.dir.join(MARKER);
        fs::write(&marker, writer.marker()).map_err(io(&marker))?;
        Ok(staging)
    }

    /// Swaps the staging directory into place, and the old output aside, to be removed after the
    /// run (`remove_later`). The two trade places in one step (`RENAME_EXCHANGE`): with two renames,
    /// a run killed between them left no output at all. Where the file system cannot exchange, the
    /// old output is moved aside first.
    ///
    /// Before the swap, `--out` is checked again as `reserve` checked it (a file added at its top
    /// while the run read), and the partners' folders' check is awaited; a refusal leaves the old
    /// output as it was and removes the new one.
    pub(super) fn commit(mut self) -> Result<(), CporError> {
        let shown = self.reserved.shown.clone();
        check(&shown, &self.reserved.target, self.writer, &self.inputs)?;
        let cannot_tell = |why: String| refuse(&shown, format!("its files cannot be told from others: {why}"));
        let first = match self.added.take().map(|scan| scan.join()) {
            None => None,
            Some(Ok(scan)) => Some(scan.map_err(cannot_tell)?),
            Some(Err(_)) => return Err(refuse(&shown, "the check of its partners' folders failed")),
        };
        // Again, for what changed while the run read: the folders whose modification time moved (a
        // few milliseconds of `stat`s), or all of them when `--out` became an output meanwhile.
        if self.writer != Writer::Generate && self.reserved.target.join(MARKER).is_file() {
            let scan = match &first {
                Some(PartnerScan { added: Some(_), .. }) => first,
                _ => Some(added_to_partners(&self.reserved.target, first.as_ref()).map_err(cannot_tell)?),
            };
            if let Some(entry) = scan.and_then(|s| s.added) {
                return Err(refuse(&shown, format!("it holds {entry}, which its manifest does not list")));
            }
        }
        // The marker, complete: what this output holds, which the next run may replace.
        let marker = self.dir.join(MARKER);
        let listed = listing(self.writer, &self.dir).map_err(io(&self.dir))?;
        fs::write(&marker, listed).map_err(io(&marker))?;
        self.swap().map_err(io(&shown))
    }

    fn swap(&mut self) -> std::io::Result<()> {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        let target = self.reserved.target.clone();
        let prefix = format!(".{}.previous-", self.reserved.name);
        // A name no earlier run left: in a container cpor is often pid 1 every night, and an old
        // output whose removal was cut short may hold this pid's name.
        let pid = std::process::id();
        let named = |n: u32| match n {
            0 => self.reserved.parent.join(format!("{prefix}{pid}")),
            n => self.reserved.parent.join(format!("{prefix}{pid}.{n}")),
        };
        let old = (0..1000).map(named).find(|path| fs::symlink_metadata(path).is_err()).unwrap_or_else(|| named(0));
        let had_old = fs::symlink_metadata(&target).is_ok();
        let mut left_in_staging = None;
        if had_old && renameat_with(CWD, &self.dir, CWD, &target, RenameFlags::EXCHANGE).is_ok() {
            self.committed = true;
            // The staging name now holds the old output. Killed before this rename, the next run
            // into DIR removes it as stale staging; failing, it is removed from there below: the
            // new output is in place either way.
            if fs::rename(&self.dir, &old).is_err() {
                left_in_staging = Some(self.dir.clone());
            }
        } else {
            if had_old {
                fs::rename(&target, &old)?;
            }
            if let Err(e) = fs::rename(&self.dir, &target) {
                if had_old {
                    fs::rename(&old, &target)?;
                }
                return Err(e);
            }
            self.committed = true;
        }
        // This run's old output, and earlier runs' whose removal was cut short.
        let old_outputs: Vec<PathBuf> = fs::read_dir(&self.reserved.parent)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .map(|entry| entry.path())
            .chain(left_in_staging)
            .collect();
        remove_later(&old_outputs);
        Ok(())
    }
}

/// Removes old outputs in a process of their own that outlives the run. Deleting a few hundred
/// thousand report files costs the file system far more than writing them (minutes on a disk
/// mounted with `discard`, BENCHMARKS.md); the new output is in place already, so the run need
/// not wait. Where `rm` cannot be started, they are removed here.
fn remove_later(paths: &[PathBuf]) -> Option<std::process::Child> {
    if paths.is_empty() {
        return None;
    }
    let spawned = std::process::Command::new("rm")
        .arg("-rf")
        .arg("--")
        .args(paths)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Housekeeping: the lowest priority, so that a run started meanwhile goes first.
            // (`None` would name this process, hence the check.)
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::setpriority_process(Some(pid), 19);
            }
            // As pid 1 (a container's process), exiting kills every other process in it: `rm`
            // would be cut short every night and old outputs pile up. Waited for then.
            if std::process::id() == 1 {
                let _ = child.wait();
            }
            Some(child)
        }
        Err(_) => {
            for path in paths {
                let _ = fs::remove_dir_all(path);
            }
            None
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// An output directory of a command other than `cpor run` — validate, generate — while it is being
/// written: reserved and staged like a run's (`Staging::new`), swapped into place by `commit`.
pub struct Staged(Staging);

impl Staged {
    pub fn new(out: &Path, writer: Writer, inputs: &[PathBuf]) -> Result<Staged, CporError> {
        Staging::new(out, writer, inputs).map(Staged)
    }

    /// The staging directory to write into.
    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    pub fn commit(self) -> Result<(), CporError> {
        self.0.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn commit_puts_the_new_output_in_place_and_old_outputs_aside() {
        let temp = tempfile::tempdir().expect("temp dir");
        let out = temp.path().join("out");
        fs::create_dir(&out).expect("mkdir");
        fs::write(out.join("ledger.csv"), "old").expect("write");
        fs::write(out.join(MARKER), Writer::Run.marker()).expect("write");
        // An earlier run's old output whose removal was cut short, and a neighbour that is not one;
        // and one under this process's pid (in a container, cpor is pid 1 every night).
        fs::create_dir(temp.path().join(".out.previous-1")).expect("mkdir");
        let same_pid = temp.path().join(format!(".out.previous-{}", std::process::id()));
        fs::create_dir(&same_pid).expect("mkdir");
        fs::write(same_pid.join("ledger.csv"), "older").expect("write");
        fs::create_dir(temp.path().join(".outer.previous-1")).expect("mkdir");

        let staging = Staging::new(&out, Writer::Run, &[]).expect("staging");
        fs::write(staging.dir.join("ledger.csv"), "new").expect("write");
        staging.commit().expect("commit");

        assert_eq!(fs::read_to_string(out.join("ledger.csv")).expect("read"), "new");
        assert_eq!(fs::read_to_string(out.join(MARKER)).expect("marked"), Writer::Run.marker() + "ledger.csv\n");
        for name in names(temp.path()) {
            let expected = ["out", ".out.lock", ".outer.previous-1"].contains(&name.as_str())
                || name.starts_with(".out.previous-");
            assert!(expected, "{name} beside the output");
        }
    }

    #[test]
    fn old_outputs_are_removed_after_the_run() {
        let temp = tempfile::tempdir().expect("temp dir");
        let old: Vec<PathBuf> = (1..=2).map(|i| temp.path().join(format!(".out.previous-{i}"))).collect();
        for dir in &old {
            fs::create_dir_all(dir.join("reports/P1")).expect("mkdir");
            fs::write(dir.join("reports/P1/C1.csv"), "rows").expect("write");
        }
        fs::create_dir(temp.path().join("out")).expect("mkdir");
        if let Some(mut child) = remove_later(&old) {
            assert!(child.wait().expect("rm ran").success());
        }
        assert_eq!(names(temp.path()), BTreeSet::from(["out".to_string()]));
        assert!(remove_later(&[]).is_none());
    }
}
