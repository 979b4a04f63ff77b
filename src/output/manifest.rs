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

/// A partner's share of the whole manifest, taken from its own manifest as that was written: in
/// CSV its lines encoded (the whole manifest is the header and every partner's, in partner order),
/// in Parquet the lines.
pub(super) enum PartnerLines {
    Csv(Vec<u8>),
    Parquet(Vec<ManifestLine>),
}

/// Writes `reports/<partner_id>/manifest.<ext>`: `lines`, all of one partner, sorted by claim_id
/// first. Returns what the whole manifest takes of them ([`write_whole_manifest`]).
/// A run calls it on a writer thread as soon as the partner's reports are written, while its lines
/// are still in the cache and the other writers' file system work goes on.
pub(super) fn write_partner_manifest(
    reports: &Path,
    format: OutputFormat,
    mut lines: Vec<ManifestLine>,
) -> Result<PartnerLines, CporError> {
    // A run's lines come in ledger order, claim_id order already.
    if !lines.is_sorted_by(|a, b| a.claim_id <= b.claim_id) {
        lines.sort_unstable_by(|a, b| a.claim_id.cmp(&b.claim_id));
    }
    let Some(first) = lines.first() else {
        // No report, no manifest of its own, nothing to share.
        return Ok(match format {
            OutputFormat::Csv => PartnerLines::Csv(Vec::new()),
            OutputFormat::Parquet => PartnerLines::Parquet(lines),
        });
    };
    let path = reports.join(&first.partner_id).join(format!("{MANIFEST}.{}", format.extension()));
    match format {
        OutputFormat::Csv => {
            let body = csv_body(&lines, |w, l| l.write(w));
            write_csv_parts(&path, &MANIFEST_COLUMNS, std::slice::from_ref(&body)).map_err(io(&path))?;
            Ok(PartnerLines::Csv(body))
        }
        OutputFormat::Parquet => {
            manifest_parquet(&path, &lines).map_err(pl(&path))?;
            Ok(PartnerLines::Parquet(lines))
        }
    }
}

/// Writes `reports/manifest.<ext>` from every partner's share (`write_partner_manifest`), given in
/// partner_id order. A share's kind follows the format it was written in, the same `format`: a
/// share of the other kind is never made, so none is left out below.
pub(super) fn write_whole_manifest(
    reports: &Path,
    format: OutputFormat,
    partners: Vec<PartnerLines>,
) -> Result<(), CporError> {
    let path = reports.join(format!("{MANIFEST}.{}", format.extension()));
    match format {
        OutputFormat::Csv => {
            let bodies: Vec<Vec<u8>> = partners
                .into_iter()
                .filter_map(|p| match p {
                    PartnerLines::Csv(body) => Some(body),
                    PartnerLines::Parquet(_) => None,
                })
                .collect();
            write_csv_parts(&path, &MANIFEST_COLUMNS, &bodies).map_err(io(&path))
        }
        OutputFormat::Parquet => {
            let lines: Vec<ManifestLine> = partners
                .into_iter()
                .flat_map(|p| match p {
                    PartnerLines::Parquet(lines) => lines,
                    PartnerLines::Csv(_) => Vec::new(),
                })
                .collect();
            manifest_parquet(&path, &lines).map_err(pl(&path))
        }
    }
}

/// Writes each partner's manifest and `reports/manifest.<ext>` for `lines` in any order (`cpor
/// merge`, from the shards' manifests).
pub(super) fn write_manifests(
    reports: &Path,
    format: OutputFormat,
    mut lines: Vec<ManifestLine>,
) -> Result<(), CporError> {
    // (partner_id, claim_id) names one report: no two lines are equal, so any sort is this order.
    lines.par_sort_unstable_by(|a, b| (&a.partner_id, &a.claim_id).cmp(&(&b.partner_id, &b.claim_id)));
    let mut partners: Vec<Vec<ManifestLine>> = Vec::new();
    for line in lines {
        match partners.last_mut() {
            Some(partner) if partner.first().is_some_and(|l| l.partner_id == line.partner_id) => partner.push(line),
            _ => partners.push(vec![line]),
        }
    }
    let shares = partners
        .into_par_iter()
        .map(|partner| write_partner_manifest(reports, format, partner))
        .collect::<Result<Vec<_>, _>>()?;
    write_whole_manifest(reports, format, shares)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(partner: &str, claim: &str) -> ManifestLine {
        ManifestLine {
            partner_id: partner.into(),
            claim_id: claim.into(),
            path: format!("reports/{partner}/{claim}.csv"),
            rows: 2,
            bytes: 100,
            sha256: "ab".repeat(32),
            window: (20_000, 20_010),
        }
    }

    /// The (partner_id, claim_id) of each line of a CSV manifest, the header aside.
    fn keys(path: &Path) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(MANIFEST_COLUMNS.join(",").as_str()), "{}", path.display());
        lines
            .map(|l| {
                let mut cells = l.split(',');
                (cells.next().unwrap().to_string(), cells.next().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn manifests_are_sorted_whichever_order_their_lines_come_in() {
        let reports = tempfile::tempdir().unwrap();
        for partner in ["P1", "P2"] {
            std::fs::create_dir(reports.path().join(partner)).unwrap();
        }
        let lines = vec![line("P2", "C9"), line("P1", "C3"), line("P2", "C1"), line("P1", "C2")];
        write_manifests(reports.path(), OutputFormat::Csv, lines).unwrap();
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|&(p, c)| (p.to_string(), c.to_string())).collect()
        };
        assert_eq!(
            keys(&reports.path().join("manifest.csv")),
            pairs(&[("P1", "C2"), ("P1", "C3"), ("P2", "C1"), ("P2", "C9")])
        );
        assert_eq!(keys(&reports.path().join("P1/manifest.csv")), pairs(&[("P1", "C2"), ("P1", "C3")]));
        assert_eq!(keys(&reports.path().join("P2/manifest.csv")), pairs(&[("P2", "C1"), ("P2", "C9")]));
    }

    #[test]
    fn a_partners_share_of_the_whole_manifest_is_its_own_manifests_lines() {
        let reports = tempfile::tempdir().unwrap();
        std::fs::create_dir(reports.path().join("P1")).unwrap();
        let share = write_partner_manifest(reports.path(), OutputFormat::Csv, vec![line("P1", "C2"), line("P1", "C1")])
            .unwrap();
        let PartnerLines::Csv(body) = &share else { panic!("a CSV manifest's share is its encoded lines") };
        let own = std::fs::read(reports.path().join("P1/manifest.csv")).unwrap();
        assert_eq!(own, [format!("{}\n", MANIFEST_COLUMNS.join(",")).into_bytes(), body.clone()].concat());
        write_whole_manifest(reports.path(), OutputFormat::Csv, vec![share]).unwrap();
        assert_eq!(std::fs::read(reports.path().join("manifest.csv")).unwrap(), own);
    }
}
