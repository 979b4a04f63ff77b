//! Progress on stderr (SPEC 8): shown only when stderr is a terminal and the run is not `--quiet`.
//! Each stage is one line: while it runs, a bar with its percentage and time left when its size is
//! known beforehand — a Parquet input's rows from its metadata, a text input's bytes as stored —
//! and a counter otherwise; when it ends, the line is replaced by what it did:
//! `reading usage: 48,998,483 rows in 27.0s (1.8 M rows/s)`. Rates are whole numbers with units.

use std::fmt::Write as _;
use std::time::Duration;

use indicatif::{HumanCount, HumanDuration, ProgressBar, ProgressState, ProgressStyle};

pub struct Progress {
    enabled: bool,
}

/// What a stage's bar measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Items of the stage's unit, this many in all.
    Items(u64),
    /// Bytes of input, this many in all; the stage's items are counted apart (`Stage::finish`).
    Bytes(u64),
    /// Not known beforehand.
    Unknown,
}

/// "3.6 M rows/s", "546 k rows/s", "850 rows/s": a rate as a person reads it.
pub fn rate(per_second: f64, unit: &str) -> String {
    let per_second = if per_second.is_finite() { per_second.max(0.0) } else { 0.0 };
    match per_second {
        r if r >= 10e6 => format!("{:.0} M {unit}/s", r / 1e6),
        r if r >= 1e6 => format!("{:.1} M {unit}/s", r / 1e6),
        r if r >= 1e3 => format!("{:.0} k {unit}/s", r / 1e3),
        r => format!("{r:.0} {unit}/s"),
    }
}

/// "0.4s", "12.3s", "2 minutes": how long a stage took.
fn seconds(elapsed: Duration) -> String {
    match elapsed.as_secs_f64() {
        s if s < 60.0 => format!("{s:.1}s"),
        _ => HumanDuration(elapsed).to_string(),
    }
}

/// One stage's line.
pub struct Stage {
    bar: ProgressBar,
    label: String,
    unit: &'static str,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    /// A stage counting `unit`s ("rows", "claims", "reports"), of `size`.
    pub fn stage(&self, label: &str, unit: &'static str, size: Size) -> Stage {
        let bar = match (self.enabled, size) {
            (false, _) => ProgressBar::hidden(),
            (true, Size::Items(total) | Size::Bytes(total)) => ProgressBar::new(total),
            (true, Size::Unknown) => ProgressBar::new_spinner(),
        };
        let rate_key = move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate(state.per_sec(), unit));
        };
        // Constant templates; were one refused, indicatif's default style does.
        let style = match size {
            Size::Items(_) => ProgressStyle::with_template(&format!(
                "{{msg}}: [{{bar:25}}] {{percent}}% {{human_pos}}/{{human_len}} {unit} ({{rate}}, {{eta}} left)"
            ))
            .map(|s| s.progress_chars("=> ")),
            Size::Bytes(_) => ProgressStyle::with_template(
                "{msg}: [{bar:25}] {percent}% {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta} left)",
            )
            .map(|s| s.progress_chars("=> ")),
            Size::Unknown => {
                ProgressStyle::with_template(&format!("{{spinner}} {{msg}}: {{human_pos}} {unit} ({{rate}})"))
            }
        }
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", rate_key);
        bar.set_style(style);
        bar.set_message(label.to_string());
        if size == Size::Unknown {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        Stage { bar, label: label.to_string(), unit }
    }
}

impl Stage {
    /// Moves the bar on by `n` (items, or bytes for a bar of bytes).
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets the bar's position (items, or bytes for a bar of bytes).
    pub fn set_position(&self, at: u64) {
        self.bar.set_position(at);
    }

    /// Runs `f` with the line hidden, to print something else on stderr.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Ends the stage: its line now says what it did, `items` of its unit, in how long.
    pub fn finish(self, items: u64) {
        let elapsed = self.bar.elapsed();
        let mut line = format!("{}: {} {} in {}", self.label, HumanCount(items), self.unit, seconds(elapsed));
        if elapsed.as_secs_f64() > 0.0 && items > 0 {
            let _ = write!(line, " ({})", rate(items as f64 / elapsed.as_secs_f64(), self.unit));
        }
        self.bar
            .set_style(ProgressStyle::default_bar().template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
        self.bar.finish_with_message(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_whole_numbers_with_units() {
        assert_eq!(rate(3_617_979.230_1, "rows"), "3.6 M rows/s");
        assert_eq!(rate(545_973.790_4, "rows"), "546 k rows/s");
        assert_eq!(rate(850.4, "claims"), "850 claims/s");
        assert_eq!(rate(27_066_368.0, "rows"), "27 M rows/s");
        assert_eq!(rate(f64::NAN, "rows"), "0 rows/s");
        assert_eq!(rate(-1.0, "rows"), "0 rows/s");
    }
}
