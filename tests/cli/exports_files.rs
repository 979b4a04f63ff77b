//! SPEC 9.2, files: the same inputs as UTF-16 tab-separated text, gzipped, and as `;`-separated
//! windows-1252 in a zip archive give the outputs of the plain CSV run; broken files are one-line
//! fatal errors that leave the previous output as it was.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::util::*;

fn fixture() -> PathBuf {
    repo().join("fixtures/report_scoping")
}

/// The fixture's inputs as UTF-8 CSV, with rows added that exercise the decoding: text outside
/// ASCII (in windows-1252), quoted delimiters, and rejects whose raw text must survive.
fn plain_inputs(dir: &Path) {
    std::fs::create_dir_all(dir).expect("dir");
    let input = fixture().join("input");
    let mut claims = std::fs::read_to_string(input.join("claims.csv")).expect("claims");
    claims.push_str("X01,P3,abcdef01-2345-4789-abcd-ef0123456789,Übung – “Müller”,Teams,,,2026-11-01T10:00:00Z,\n");
    claims.push_str("X02,P3,not-a-uuid,\"semi;colon, comma\",\"tab\there\",,,2026-11-01T10:00:00Z,\n");
    let responses = std::fs::read_to_string(input.join("responses.csv")).expect("responses");
    let mut usage = std::fs::read_to_string(input.join("usage.csv")).expect("usage");
    usage.push_str("abcdef01-2345-4789-abcd-ef0123456789,Teams,,2026-11-10,zwölf,1,1\n");
    usage.push_str("abcdef01-2345-4789-abcd-ef0123456789,Café € Süd,,2026-11-10,1,1,1\n");
    std::fs::write(dir.join("claims.csv"), claims).expect("write");
    std::fs::write(dir.join("responses.csv"), responses).expect("write");
    std::fs::write(dir.join("usage.csv"), usage).expect("write");
}

/// A CSV file's records written again with another delimiter (quoting what needs it).
fn with_delimiter(path: &Path, delimiter: u8) -> String {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_path(path).expect("csv");
    let mut writer = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    for record in reader.records() {
        writer.write_record(&record.expect("record")).expect("write");
    }
    String::from_utf8(writer.into_inner().expect("flush")).expect("utf-8")
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

fn windows_1252(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable, "the test text fits windows-1252");
    bytes.into_owned()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn zip_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        writer.start_file(*name, options).expect("member");
        writer.write_all(bytes).expect("member");
    }
    writer.finish().expect("zip").into_inner()
}

/// The arguments of a run on the given input paths, with the fixture's parameters.
fn args_for(claims: &Path, responses: &Path, usage: &Path, out: &Path) -> Vec<String> {
    let mut args = fixture_args(&fixture(), &fixture().join("input"), "csv", out);
    set_arg(&mut args, "--claims", claims.display());
    set_arg(&mut args, "--responses", responses.display());
    set_arg(&mut args, "--usage", usage.display());
    args
}

/// rejects.csv as (source, record, reason, raw): the file column names each run's own files.
fn rejects_without_file(out: &Path) -> Vec<Vec<String>> {
    read_csv(&out.join("rejects.csv"))
        .into_iter()
        .map(|r| vec![r[0].clone(), r[2].clone(), r[3].clone(), r[5].clone()])
        .collect()
}

fn assert_same_outputs(expected: &Path, got: &Path) {
    assert_eq!(
        std::fs::read_to_string(got.join("ledger.csv")).expect("ledger"),
        std::fs::read_to_string(expected.join("ledger.csv")).expect("ledger")
    );
    assert!(report_tree(got) == report_tree(expected), "reports differ");
    let rejects = rejects_without_file(expected);
    assert!(rejects.len() >= 4, "the added rows are rejected: {rejects:?}");
    assert_eq!(rejects_without_file(got), rejects);
}

/// The plain CSV run the others are compared with.
fn baseline(temp: &Path) -> PathBuf {
    let plain = temp.join("plain");
    plain_inputs(&plain);
    let out = temp.join("out_plain");
    run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &plain.join("usage.csv"), &out));
    out
}

#[test]
fn utf16_tsv_with_bom_and_gzipped_usage_read_as_the_csv() {
    let temp = tempfile::tempdir().expect("temp dir");
    let expected = baseline(temp.path());
    let plain = temp.path().join("plain");
    let dir = temp.path().join("utf16");
    std::fs::create_dir(&dir).expect("dir");
    for name in ["claims", "responses"] {
        let tsv = with_delimiter(&plain.join(format!("{name}.csv")), b'\t');
        std::fs::write(dir.join(format!("{name}.tsv")), utf16le_with_bom(&tsv)).expect("write");
    }
    let usage = utf16le_with_bom(&with_delimiter(&plain.join("usage.csv"), b'\t'));
    std::fs::write(dir.join("usage.tsv.gz"), gzip(&usage)).expect("write");
    let out = temp.path().join("out");
    run_ok(&args_for(&dir.join("claims.tsv"), &dir.join("responses.tsv"), &dir.join("usage.tsv.gz"), &out));
    assert_same_outputs(&expected, &out);
    // The summary's hash is that of the file as stored: the compressed bytes.
    use sha2::Digest;
    let stored = std::fs::read(dir.join("usage.tsv.gz")).expect("read");
    let summary = summary(&out);
    let file = &summary["inputs"]["usage"]["files"][0];
    assert_eq!(file["sha256"].as_str(), Some(format!("{:x}", sha2::Sha256::digest(&stored)).as_str()));
}

#[test]
fn a_nul_byte_in_an_early_record_rejects_that_record_only() {
    // The check for UTF-16 without a byte-order mark looked at the whole first block read, not at
    // the header line: a NUL in the second line stopped the run, calling the file UTF-16.
    let temp = tempfile::tempdir().expect("temp dir");
    let expected = baseline(temp.path());
    let plain = temp.path().join("plain");
    let mut usage = std::fs::read(plain.join("usage.csv")).expect("usage");
    let first_end = usage.iter().position(|&b| b == b'\n').expect("a header line") + 1;
    let bad = b"abcdef01-2345-4789-abcd-ef0123456789,Te\x00ams,,2026-11-10,1,1,1\n";
    usage.splice(first_end..first_end, bad.iter().copied());
    let with_nul = temp.path().join("usage_nul.csv");
    std::fs::write(&with_nul, &usage).expect("write");
    // And the same text as UTF-16 with a byte-order mark.
    let utf16 = temp.path().join("usage_nul16.csv");
    std::fs::write(&utf16, utf16le_with_bom(&String::from_utf8(usage).expect("utf-8"))).expect("write");
    for input in [&with_nul, &utf16] {
        let out = temp.path().join(format!("out-{}", input.file_stem().unwrap_or_default().to_string_lossy()));
        run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), input, &out));
        assert_eq!(
            std::fs::read_to_string(out.join("ledger.csv")).expect("ledger"),
            std::fs::read_to_string(expected.join("ledger.csv")).expect("ledger")
        );
        let rejects = read_csv(&out.join("rejects.csv"));
        let nul = rejects.iter().find(|r| r[0] == "usage" && r[2] == "1").expect("the first record rejected");
        assert_eq!(nul[3], "invalid_text", "{nul:?}");
    }
}

#[test]
fn a_link_to_nowhere_in_a_folder_or_glob_input_is_fatal() {
    // It was left out of the folder's files in silence: a night's export missing, exit 0.
    let temp = tempfile::tempdir().expect("temp dir");
    baseline(temp.path());
    let plain = temp.path().join("plain");
    let dir = temp.path().join("usage");
    std::fs::create_dir(&dir).expect("dir");
    std::fs::copy(plain.join("usage.csv"), dir.join("a.csv")).expect("copy");
    std::os::unix::fs::symlink("../exports/usage-2026-11-22.csv", dir.join("b.csv")).expect("symlink");
    for given in [dir.clone(), dir.join("*.csv")] {
        let stderr = fails(temp.path(), "--usage", &given, &[], 1);
        assert!(stderr.contains("b.csv"), "{}: {stderr}", given.display());
    }
    // A glob naming a hidden file reads it, as a shell's would; `*` skips a hidden folder.
    std::fs::rename(dir.join("a.csv"), dir.join(".a.csv")).expect("mv");
    std::fs::remove_file(dir.join("b.csv")).expect("rm");
    let out = temp.path().join("out_dot");
    run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &dir.join(".a*.csv"), &out));
    assert_eq!(summary(&out)["inputs"]["usage"]["files"].as_array().map(Vec::len), Some(1));
    let nested = temp.path().join("nested");
    std::fs::create_dir_all(nested.join(".old")).expect("mkdir");
    std::fs::create_dir_all(nested.join("a")).expect("mkdir");
    std::fs::copy(dir.join(".a.csv"), nested.join("a/usage.csv")).expect("copy");
    std::fs::write(
        nested.join(".old/usage.csv"),
        "not,an,export
",
    )
    .expect("write");
    let out = temp.path().join("out_nested");
    run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &nested.join("*/usage.csv"), &out));
    assert_eq!(summary(&out)["inputs"]["usage"]["files"].as_array().map(Vec::len), Some(1));
    std::fs::rename(dir.join(".a.csv"), dir.join("a.csv")).expect("mv");
    std::os::unix::fs::symlink("../exports/usage-2026-11-22.csv", dir.join("b.csv")).expect("symlink");
    // A hidden name is not an export's file: an editor's lock, a link to nowhere while a.csv is open.
    std::fs::remove_file(dir.join("b.csv")).expect("rm");
    std::os::unix::fs::symlink("root@host.1234:1700000000", dir.join(".#a.csv")).expect("symlink");
    for given in [dir.clone(), dir.join("*.csv")] {
        let out = temp.path().join("out_hidden");
        run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &given, &out));
        assert_eq!(summary(&out)["inputs"]["usage"]["files"].as_array().map(Vec::len), Some(1));
        std::fs::remove_dir_all(&out).expect("rm");
    }
}

#[test]
fn a_zip_made_on_a_mac_is_read_without_its_resource_forks() {
    // Finder adds `__MACOSX/._usage.csv` (binary AppleDouble data): it was read as a CSV member.
    let temp = tempfile::tempdir().expect("temp dir");
    let expected = baseline(temp.path());
    let plain = temp.path().join("plain");
    let fork = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ".to_vec();
    let usage = temp.path().join("usage.zip");
    let members = [
        ("usage.csv", std::fs::read(plain.join("usage.csv")).expect("read")),
        ("__MACOSX/._usage.csv", fork.clone()),
        ("._notes.csv", fork),
    ];
    std::fs::write(&usage, zip_of(&members)).expect("write");
    let out = temp.path().join("out");
    run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &usage, &out));
    assert_same_outputs(&expected, &out);
    let files = &summary(&out)["inputs"]["usage"]["files"];
    assert_eq!(files.as_array().map(Vec::len), Some(1), "{files}");
}

#[test]
fn a_zip_with_two_members_of_one_name_is_fatal() {
    // One of them was read and the other dropped, its rows in no count, exit 0.
    let temp = tempfile::tempdir().expect("temp dir");
    baseline(temp.path());
    let plain = temp.path().join("plain");
    let usage = std::fs::read(plain.join("usage.csv")).expect("read");
    // Written as usage.csv and usagf.csv, then both named usage.csv: a zip writer refuses that.
    let renamed = |members: &[(&str, Vec<u8>)], from: &[u8; 9], to: &[u8; 9]| {
        let bytes = zip_of(members);
        let mut renamed = bytes.clone();
        let mut at = 0;
        while let Some(found) = renamed[at..].windows(9).position(|w| w == from) {
            renamed[at + found..at + found + 9].copy_from_slice(to);
            at += found + 9;
        }
        assert_ne!(renamed, bytes);
        renamed
    };
    let path = temp.path().join("usage.zip");
    std::fs::write(
        &path,
        renamed(&[("usage.csv", usage.clone()), ("usagf.csv", usage.clone())], b"usagf.csv", b"usage.csv"),
    )
    .expect("write");
    let stderr = fails(temp.path(), "--usage", &path, &[], 1);
    assert!(stderr.contains("usage.zip") && stderr.contains("two members named \"usage.csv\""), "{stderr}");
    // Two entries of one name that cpor does not read (notes) leave the archive readable.
    let members = [("usage.csv", usage), ("notes.md1", b"a".to_vec()), ("notes.md2", b"b".to_vec())];
    std::fs::write(&path, renamed(&members, b"notes.md2", b"notes.md1")).expect("write");
    let out = temp.path().join("out_notes");
    run_ok(&args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &path, &out));
}

#[test]
fn semicolon_windows_1252_in_a_zip_reads_as_the_csv() {
    let temp = tempfile::tempdir().expect("temp dir");
    let expected = baseline(temp.path());
    let plain = temp.path().join("plain");
    let member = |name: &str| windows_1252(&with_delimiter(&plain.join(format!("{name}.csv")), b';'));
    let responses = temp.path().join("responses.zip");
    std::fs::write(&responses, zip_of(&[("r/responses.txt", member("responses"))])).expect("write");
    // Claims and usage from one archive each: a zip holding several inputs' files is named per input.
    let claims = temp.path().join("claims.zip");
    std::fs::write(&claims, zip_of(&[("claims.csv", member("claims"))])).expect("write");
    let usage = temp.path().join("usage.zip");
    std::fs::write(&usage, zip_of(&[("usage.csv", member("usage"))])).expect("write");
    let out = temp.path().join("out");
    let mut args = args_for(&claims, &responses, &usage, &out);
    args.extend(["--encoding".into(), "windows-1252".into()]);
    run_ok(&args);
    assert_same_outputs(&expected, &out);
    let rejects = read_csv(&out.join("rejects.csv"));
    let claims_reject = rejects.iter().find(|r| r[0] == "claims").expect("a claims reject");
    assert_eq!(claims_reject[1], format!("{}/claims.csv", claims.display()), "the file is ARCHIVE.zip/MEMBER");
    let first = summary(&out);
    assert_eq!(
        first["inputs"]["responses"]["files"][0]["path"].as_str(),
        Some(format!("{}/r/responses.txt", responses.display()).as_str())
    );

    // Without --encoding the same bytes are not UTF-8: fatal, naming the member and the offset.
    let args = args_for(&claims, &responses, &usage, &temp.path().join("out2"));
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("claims.zip/claims.csv") && stderr.contains("offset"), "{stderr}");

    // A directory holding an archive reads its input members, in name order, and nothing else.
    let dir = temp.path().join("dir");
    std::fs::create_dir(&dir).expect("dir");
    let lines: Vec<String> = with_delimiter(&plain.join("usage.csv"), b';').lines().map(str::to_string).collect();
    let half = lines.len() / 2;
    let part = |rows: &[String]| windows_1252(&format!("{}\n{}\n", lines[0], rows.join("\n")));
    let members = [
        ("b/usage.txt", part(&lines[half..])),
        ("a/usage.csv", part(&lines[1..half])),
        ("notes.md", b"not an input".to_vec()),
    ];
    std::fs::write(dir.join("export.zip"), zip_of(&members)).expect("write");
    std::fs::write(dir.join("readme.md"), "not an input").expect("write");
    let out3 = temp.path().join("out3");
    let mut args = args_for(&claims, &responses, &dir, &out3);
    args.extend(["--encoding".into(), "windows-1252".into()]);
    run_ok(&args);
    assert_eq!(
        std::fs::read_to_string(out3.join("ledger.csv")).expect("ledger"),
        std::fs::read_to_string(expected.join("ledger.csv")).expect("ledger")
    );
    assert!(report_tree(&out3) == report_tree(&expected), "reports differ");
    let files = summary(&out3)["inputs"]["usage"]["files"].clone();
    let paths: Vec<&str> = files.as_array().expect("files").iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths[0].ends_with("export.zip/a/usage.csv") && paths[1].ends_with("export.zip/b/usage.txt"), "{paths:?}");
}

#[test]
fn the_delimiter_flag_overrides_the_sniff() {
    let temp = tempfile::tempdir().expect("temp dir");
    let expected = baseline(temp.path());
    let plain = temp.path().join("plain");
    let out = temp.path().join("out");
    let mut args = args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &plain.join("usage.csv"), &out);
    args.extend(["--delimiter".into(), ",".into()]);
    run_ok(&args);
    assert_same_outputs(&expected, &out);
    // Every row is one field when read with the wrong delimiter: a missing column, fatal.
    set_arg(&mut args, "--delimiter", "|");
    let output = cpor().args(&args).output().expect("runs");
    assert_eq!(output.status.code(), Some(1));
}

/// Runs with one input replaced by `path` over an earlier output; returns stderr after checking the
/// exit code, that stderr is one line, and that the earlier output is untouched.
fn fails(temp: &Path, flag: &str, path: &Path, extra: &[&str], code: i32) -> String {
    let plain = temp.join("plain");
    let out = temp.join("out_plain");
    let before = tree(&out);
    let mut args = args_for(&plain.join("claims.csv"), &plain.join("responses.csv"), &plain.join("usage.csv"), &out);
    set_arg(&mut args, flag, path.display());
    args.extend(extra.iter().map(|a| a.to_string()));
    let output = cpor().args(&args).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    // A usage error is clap's: its line, then a hint to try --help.
    assert!(code == 2 || error_lines(&stderr) == 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(tree(&out) == before, "the previous output changed");
    stderr
}

#[test]
fn broken_files_are_one_line_fatal_errors() {
    let temp = tempfile::tempdir().expect("temp dir");
    baseline(temp.path());
    let plain = temp.path().join("plain");
    let usage = std::fs::read(plain.join("usage.csv")).expect("usage");

    let truncated = temp.path().join("usage.csv.gz");
    let gz = gzip(&usage.repeat(50));
    std::fs::write(&truncated, &gz[..gz.len() / 2]).expect("write");
    let stderr = fails(temp.path(), "--usage", &truncated, &[], 1);
    assert!(stderr.contains("usage.csv.gz") && stderr.contains("gzip"), "{stderr}");

    let empty_zip = temp.path().join("nothing.zip");
    std::fs::write(&empty_zip, zip_of(&[("readme.md", b"none".to_vec())])).expect("write");
    let stderr = fails(temp.path(), "--usage", &empty_zip, &[], 1);
    assert!(stderr.contains("nothing.zip") && stderr.contains("no .csv"), "{stderr}");

    let corrupt = temp.path().join("corrupt.zip");
    let mut bytes = zip_of(&[("usage.csv", usage.clone())]);
    bytes.truncate(bytes.len() - 30);
    std::fs::write(&corrupt, &bytes).expect("write");
    let stderr = fails(temp.path(), "--usage", &corrupt, &[], 1);
    assert!(stderr.contains("corrupt.zip"), "{stderr}");

    // A member whose data is damaged (its directory intact): the CRC check fails on reading.
    let damaged = temp.path().join("damaged.zip");
    let mut bytes = zip_of(&[("usage.csv", usage.repeat(20))]);
    for byte in &mut bytes[60..90] {
        *byte ^= 0x55;
    }
    std::fs::write(&damaged, &bytes).expect("write");
    let stderr = fails(temp.path(), "--usage", &damaged, &[], 1);
    assert!(stderr.contains("damaged.zip/usage.csv"), "{stderr}");

    let no_bom = temp.path().join("usage16.csv");
    let text = String::from_utf8(usage.clone()).expect("utf-8");
    std::fs::write(&no_bom, &utf16le_with_bom(&text)[2..]).expect("write");
    let stderr = fails(temp.path(), "--usage", &no_bom, &[], 1);
    assert!(stderr.contains("UTF-16") && stderr.contains("--encoding utf-16le"), "{stderr}");
    let big_endian: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    std::fs::write(&no_bom, big_endian).expect("write");
    let stderr = fails(temp.path(), "--usage", &no_bom, &[], 1);
    assert!(stderr.contains("usage16.csv") && stderr.contains("looks like UTF-16"), "{stderr}");
    assert!(stderr.contains("--encoding utf-16be"), "{stderr}");

    let stderr = fails(temp.path(), "--usage", &plain.join("usage.csv"), &["--encoding", "klingon"], 2);
    assert!(stderr.contains("klingon"), "{stderr}");
}

/// A zip archive of one stored member, its headers then patched as another archiver would have
/// written them: `method` the compression method, `encrypted` the flag of a password-protected member.
fn patched_zip(member: &str, bytes: &[u8], method: u16, encrypted: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file(member, options).expect("member");
    writer.write_all(bytes).expect("member");
    let mut zip = writer.finish().expect("zip").into_inner();
    // The local header (PK 3 4) has its flags at 6 and method at 8; the central directory's entry
    // (PK 1 2) at 8 and 10.
    for (signature, flags_at) in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)] {
        let at = zip.windows(4).position(|w| w == signature).expect("a zip header");
        zip[at + flags_at] |= u8::from(encrypted);
        zip[at + flags_at + 2..at + flags_at + 4].copy_from_slice(&method.to_le_bytes());
    }
    zip
}

/// SPEC 9.2: a zip whose only input member cannot be read — compressed in a way cpor does not
/// read, or encrypted — is one fatal line naming the member, not an empty input.
#[test]
fn a_zip_with_no_readable_member_is_one_fatal_line() {
    let temp = tempfile::tempdir().expect("temp dir");
    baseline(temp.path());
    let usage = std::fs::read(temp.path().join("plain/usage.csv")).expect("usage");
    let bzip2 = temp.path().join("bzip2.zip");
    std::fs::write(&bzip2, patched_zip("usage.csv", &usage, 12, false)).expect("write");
    let stderr = fails(temp.path(), "--usage", &bzip2, &[], 1);
    assert!(stderr.contains("bzip2.zip/usage.csv") && stderr.contains("compression method"), "{stderr}");
    let encrypted = temp.path().join("locked.zip");
    std::fs::write(&encrypted, patched_zip("usage.csv", &usage, 0, true)).expect("write");
    let stderr = fails(temp.path(), "--usage", &encrypted, &[], 1);
    assert!(stderr.contains("locked.zip/usage.csv") && stderr.contains("assword"), "{stderr}");
}
