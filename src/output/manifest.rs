//! The delivery manifests: `reports/manifest.<ext>` lists every report file — partner, claim, path,
//! rows, bytes, sha256 and access window — and `reports/<partner_id>/manifest.<ext>` that partner's
//! lines only, so that a partner can check that a delivery is complete and untampered. Both are
//! sorted by (partner_id, claim_id) and written in the run's format, so they are the same bytes on
//! every rerun; `cpor merge` reads the shards' manifests back and writes them anew (`merge`).
//!
//! The name `manifest` is therefore not free for a report: a claim_id `manifest` or a partner_id
//! `manifest.csv` / `manifest.parquet` (in any letter case) is rejected as `invalid_id`
//! (`checks::claims`), so a manifest and a report can never be one file.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::polars::prelude::*;
use rayon::prelude::*;

use crate::config::OutputFormat;
use crate::error::CporError;
use crate::types::{date_text, decimal, parse_date, Days};

use super::csv_file::{csv_body, write_csv_parts, CsvRecords};
use super::{io, pl};

/// The manifest's file stem, in `reports/` and in each partner's folder.
pub const MANIFEST: &str = "manifest";

pub const MANIFEST_COLUMNS: [&str; 8] =
    ["partner_id", "claim_id", "path", "rows", "bytes", "sha256", "window_start", "window_end_exclusive"];

/// One report file as the manifests list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestLine {
    pub partner_id: String,
    pub claim_id: String,
    /// The file's path in the output directory: `reports/<partner_id>/<claim_id>.<ext>`.
    pub path: String,
    /// Data rows, the header aside.
    pub rows: u64,
    pub bytes: u64,
    /// Lower-case hexadecimal.
    pub sha256: String,
    /// The access window (SPEC 5): its first local date, and the local date after its last.
    pub window: (Days, Days),
}

impl ManifestLine {
    /// Writes the line's cells, its texts as they are, not copied (a line per report file).
    fn write(&self, w: &mut CsvRecords) {
        let (rows, bytes) = (decimal(self.rows, 1), decimal(self.bytes, 1));
        let (start, end) = (date_text(self.window.0), date_text(self.window.1));
        let (partner, claim, path) = (self.partner_id.as_bytes(), self.claim_id.as_bytes(), self.path.as_bytes());
        w.write_record([
            partner,
            claim,
            path,
            rows.as_ref(),
            bytes.as_ref(),
            self.sha256.as_bytes(),
            start.as_ref(),
            end.as_ref(),
        ]);
    }

    /// A line read back (`cpor merge`): its cells as `write` writes them.
    pub(super) fn of_cells(cells: &[String]) -> Result<ManifestLine, String> {
        let [partner_id, claim_id, path, rows, bytes, sha256, start, end] = cells else {
            return Err("not eight cells".into());
        };
        let number = |text: &str| text.parse::<u64>().map_err(|_| format!("'{}' is not a count", text.escape_debug()));
        let date = |text: &str| parse_date(text).ok_or_else(|| format!("'{}' is not a date", text.escape_debug()));
        Ok(ManifestLine {
            partner_id: partner_id.clone(),
            claim_id: claim_id.clone(),
            path: path.clone(),
            rows: number(rows)?,
            bytes: number(bytes)?,
            sha256: sha256.clone(),
            window: (date(start)?, date(end)?),
        })
    }
}

/// Whether a report's file name (`<claim_id>.<ext>`) or a partner's folder name would be a manifest's.
pub fn is_manifest_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(stem, extension)| {
        stem.eq_ignore_ascii_case(MANIFEST) && ["csv", "parquet"].iter().any(|e| extension.eq_ignore_ascii_case(e))
    })
}

/// Writes `reports/manifest.<ext>` and each partner's, sorting `lines` first.
pub(super) fn write_manifests(
    reports: &Path,
    format: OutputFormat,
    lines: &mut [ManifestLine],
) -> Result<(), CporError> {
    // (partner_id, claim_id) names one report: no two lines are equal, so any sort is this order.
    lines.par_sort_unstable_by(|a, b| (&a.partner_id, &a.claim_id).cmp(&(&b.partner_id, &b.claim_id)));
    let name = format!("{MANIFEST}.{}", format.extension());
    let whole = reports.join(&name);
    let partners: Vec<&[ManifestLine]> = lines.chunk_by(|a, b| a.partner_id == b.partner_id).collect();
    let partner_path = |partner: &[ManifestLine]| reports.join(&partner[0].partner_id).join(&name);
    match format {
        OutputFormat::Csv => {
            // Each partner's lines are encoded once: its manifest is the header and those lines, and
            // the whole manifest the header and every partner's lines in partner order. The whole
            // is written beside the partners' files, not before them.
            let bodies: Vec<Vec<u8>> = partners.par_iter().map(|p| csv_body(p, |w, l| l.write(w))).collect();
            let (all, each) = rayon::join(
                || write_csv_parts(&whole, &MANIFEST_COLUMNS, &bodies).map_err(io(&whole)),
                || {
                    partners.par_iter().zip(&bodies).try_for_each(|(partner, body)| {
                        let path = partner_path(partner);
                        write_csv_parts(&path, &MANIFEST_COLUMNS, std::slice::from_ref(body)).map_err(io(&path))
                    })
                },
            );
            all.and(each)
        }
        OutputFormat::Parquet => {
            manifest_parquet(&whole, lines).map_err(pl(&whole))?;
            partners.par_iter().try_for_each(|partner| {
                let path = partner_path(partner);
                manifest_parquet(&path, partner).map_err(pl(&path))
            })
        }
    }
}

fn manifest_parquet(path: &Path, lines: &[ManifestLine]) -> Result<(), PolarsError> {
    let text = |pick: fn(&ManifestLine) -> &String| -> Vec<String> { lines.iter().map(|l| pick(l).clone()).collect() };
    let count = |pick: fn(&ManifestLine) -> u64| -> Vec<u64> { lines.iter().map(pick).collect() };
    let date = |name: &str, pick: fn(&ManifestLine) -> Days| {
        Series::new(name.into(), lines.iter().map(pick).collect::<Vec<i32>>()).into_date().into_column()
    };
    let mut frame = DataFrame::new_infer_height(vec![
        Column::new("partner_id".into(), text(|l| &l.partner_id)),
        Column::new("claim_id".into(), text(|l| &l.claim_id)),
        Column::new("path".into(), text(|l| &l.path)),
        Column::new("rows".into(), count(|l| l.rows)),
        Column::new("bytes".into(), count(|l| l.bytes)),
        Column::new("sha256".into(), text(|l| &l.sha256)),
        date("window_start", |l| l.window.0),
        date("window_end_exclusive", |l| l.window.1),
    ])?;
    ParquetWriter::new(BufWriter::new(File::create(path)?)).set_parallel(false).finish(&mut frame)?;
    Ok(())
}
