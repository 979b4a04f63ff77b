//! The checks of a response run in SPEC 6's order — its id's uniqueness, then deferral, then the
//! checks against the claims — although the last are worked out ahead, on the parsing threads
//! (`input::Prepared`): a repeated id is `duplicate_response_id` whatever claim it names, and a
//! response dated after T is deferred even when its claim is unknown.

use crate::util::*;

#[test]
fn a_response_is_checked_against_the_claims_only_after_its_id_and_its_date() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = repo().join("data");
    let mut responses = std::fs::read_to_string(data.join("responses.csv")).expect("sample responses");
    let sample_rows = responses.lines().count() as u64 - 1;
    let tenant = "68e58909-ccb2-4416-925a-56c9a30f4300";
    // A repeat of the sample's first id, an unknown claim after T, an unknown claim before T.
    for (id, at) in [
        ("RSP-26-0001", "2026-10-30T09:00:00Z"),
        ("RSP-NEW-1", "2027-01-01T00:00:00Z"),
        ("RSP-NEW-2", "2026-10-30T09:00:00Z"),
    ] {
        responses.push_str(&format!("{id},NO-SUCH-CLAIM,{tenant},accept,{at}\n"));
    }
    let path = temp.path().join("responses.csv");
    std::fs::write(&path, responses).expect("write responses");
    let validate = |responses: &std::path::Path, out: &str| {
        let out = temp.path().join(out);
        let output = cpor()
            .args(["validate", "--as-of", "2026-11-23T06:00:00Z", "--max-reject-rate", "1", "--claims"])
            .arg(data.join("claims.csv"))
            .arg("--responses")
            .arg(responses)
            .arg("--usage")
            .arg(data.join("usage.csv"))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("validation.json")).expect("validation.json"))
                .expect("json");
        let reasons: Vec<(u64, String)> = read_csv(&out.join("rejects.csv"))
            .into_iter()
            .filter(|row| row[0] == "responses")
            .map(|row| (row[2].parse().expect("record"), row[3].clone()))
            .collect();
        (summary["inputs"]["responses"]["deferred"].as_u64().expect("deferred"), reasons)
    };
    let (deferred_before, mut reasons_before) = validate(&data.join("responses.csv"), "before");
    let (deferred, reasons) = validate(&path, "after");
    assert_eq!(deferred, deferred_before + 1, "the unknown claim's response after T is deferred");
    reasons_before.push((sample_rows + 1, "duplicate_response_id".to_string()));
    reasons_before.push((sample_rows + 3, "unknown_claim".to_string()));
    assert_eq!(reasons, reasons_before);
}
