//! `ncp audit` on the audit trail a real Country A flow wrote: `verify` passes on the untouched
//! file and names the record an attacker with write access to the database changed;
//! `accesses` answers who accessed the patient's data; `kpi` counts the transactions.
//!
//! The flow is the independent Python client's (see `country_a_independent_client.rs`);
//! without PyPI the test prints `SKIPPED: ...` and passes.

mod ops_support;

use e2e_tests::Sandbox;
use ops_support::{client_python, ncp, run_flow, text};

#[test]
fn verify_passes_on_a_real_flow_and_names_the_tampered_record() {
    let Some(python) = client_python() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let sb = Sandbox::start_in(dir.path(), &[]);
    let docs = tempfile::tempdir().expect("temp dir");
    run_flow(python, &sb, docs.path());
    let (clean, logs) = sb.stop();
    assert!(clean, "ncp sandbox did not exit cleanly:\n{logs}");

    let config = dir.path().join("ncp.toml");
    let audit = dir.path().join("audit.sqlite");
    let config_arg = config.to_str().expect("utf-8 path");
    let audit_arg = audit.to_str().expect("utf-8 path");

    // Untouched: intact, through the configuration and directly.
    for store in [["--config", config_arg], ["--sqlite", audit_arg]] {
        let out = ncp(&["audit", "verify", store[0], store[1]]);
        let said = text(&out);
        assert!(
            out.status.success(),
            "verify failed on an untouched trail:\n{said}"
        );
        let records: u64 = said
            .strip_prefix("audit chain intact: ")
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected verify output: {said}"));
        assert!(
            records >= 6,
            "the flow wrote only {records} records:\n{said}"
        );
    }

    // Who accessed p01 (personnummer written with a hyphen): the EE NCP, with the
    // transactions of the flow.
    let out = ncp(&[
        "audit",
        "accesses",
        "--patient",
        "19121212-1212",
        "--sqlite",
        audit_arg,
    ]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    for expected in [
        "\tEE\t",
        "patient-identification",
        "document-list",
        "document-retrieve",
    ] {
        assert!(
            said.contains(expected),
            "`{expected}` missing from accesses:\n{said}"
        );
    }
    let n: usize = said
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert_eq!(said.lines().count(), n + 2, "one line per access:\n{said}");

    let out = ncp(&["audit", "kpi", "--config", config_arg]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("patient-identification\tEE\tsuccess\t")),
        "{said}"
    );

    // An attacker with write access drops the append-only trigger and edits record 3.
    let db = rusqlite::Connection::open(&audit).expect("open the audit file");
    db.execute_batch("DROP TRIGGER audit_log_no_update")
        .expect("drop trigger");
    let changed = db
        .execute(
            "UPDATE audit_log SET record = replace(record, '\"EE\"', '\"FI\"') WHERE seq = 3",
            [],
        )
        .expect("tamper");
    assert_eq!(changed, 1);
    let still_same: bool = db
        .query_row(
            "SELECT record LIKE '%\"FI\"%' FROM audit_log WHERE seq = 3",
            [],
            |r| r.get(0),
        )
        .expect("read back");
    assert!(
        still_same,
        "record 3 did not name EE: the tamper changed nothing"
    );
    drop(db);

    let out = ncp(&["audit", "verify", "--sqlite", audit_arg]);
    let said = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "verify must fail with 3:\n{said}"
    );
    assert!(said.contains("BROKEN at record 3"), "{said}");

    // A store that is not there is an error (1), not an intact empty chain.
    let missing = dir.path().join("nope.sqlite");
    let out = ncp(&[
        "audit",
        "verify",
        "--sqlite",
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!missing.exists());
}
