//! Progress on stderr: one shared indicatif style, shown only when stderr is a terminal and the run
//! is not `--quiet` (SPEC 8).

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    /// A counter for work of unknown size (records read).
    pub fn spinner(&self, label: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner().with_message(label.to_string());
        bar.set_style(
            // A constant template; were it refused, the plain spinner does.
            ProgressStyle::with_template("{spinner} {msg}: {human_pos} records ({per_sec}) {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// A bar for work of known size.
    pub fn bar(&self, label: &str, len: u64) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len).with_message(label.to_string());
        bar.set_style(
            ProgressStyle::with_template("{msg}: [{bar:30}] {human_pos}/{human_len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    }
}
