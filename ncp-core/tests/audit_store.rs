//! The audit trail against both backends: the chain, tampering, concurrent appends (one
//! process and two "replicas"), the patient's access list, KPI counts and the ATNA export.

#[path = "support/pg.rs"]
mod pg;
#[path = "support/audit_sample.rs"]
mod sample;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use ncp_core::audit::{
    refusal_to_atna_xml, to_atna_xml, AuditConfig, AuditLog, AuditSeq, EventType, Ncp, ObjectRef,
    Outcome, Period, RefusalClass, RefusedRequest, StorageBackend, TlsPeer,
};
use ncp_core::ihe::errors::EhdsiError;
use ncp_core::security::HcpRole;
use ncp_types::{CountryCode, DispensationId};
use sample::{at, patient, record};

/// Raw SQL access to a store, as an attacker with database access would have.
enum Raw {
    Sqlite(PathBuf),
    Pg(String),
}

impl Raw {
    async fn exec(&self, sql: &str) -> Result<(), String> {
        match self {
            Raw::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Raw::Pg(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .map_err(|e| e.to_string())?;
                tokio::spawn(conn);
                client.batch_execute(sql).await.map_err(|e| e.to_string())
            }
        }
    }

    /// Lifts the append-only triggers (the tamperer's first step).
    async fn disable_guards(&self) {
        let sql = match self {
            Raw::Sqlite(_) => "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;",
            Raw::Pg(_) => "ALTER TABLE audit_log DISABLE TRIGGER USER;",
        };
        self.exec(sql).await.expect("disable triggers");
    }

    /// Runs `sql` (guards lifted) and returns where `log` now finds the chain broken.
    async fn tamper(&self, log: &AuditLog, sql: &str) -> Option<AuditSeq> {
        self.exec(sql).await.expect("tamper");
        log.verify().await.expect("verify").first_broken
    }
}

struct Backend {
    config: AuditConfig,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.db");
    Backend {
        config: AuditConfig {
            backend: StorageBackend::Sqlite { path: path.clone() },
        },
        raw: Raw::Sqlite(path),
        _dir: Some(dir),
    }
}

async fn postgres() -> Option<Backend> {
    let url = pg::fresh_database().await?;
    Some(Backend {
        config: AuditConfig {
            backend: StorageBackend::Postgres { url: url.clone() },
        },
        raw: Raw::Pg(url),
        _dir: None,
    })
}

async fn append_n(log: &AuditLog, n: u32) {
    for i in 0..n {
        let r = record(EventType::DocumentRetrieve, "BE", Outcome::Success, i % 60);
        log.append(&r).await.expect("append");
    }
}

async fn chain_appends_and_verifies(b: Backend) {
    let log = AuditLog::open(&b.config).await.expect("open");
    let empty = log.verify().await.expect("verify");
    assert_eq!(
        (empty.records, empty.first_broken, empty.head),
        (0, None, None)
    );
    for i in 1..=20 {
        let seq = log
            .append(&record(EventType::DocumentList, "BE", Outcome::Success, i))
            .await
            .expect("append");
        assert_eq!(seq, AuditSeq(i64::from(i)));
    }
    let report = log.verify().await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 20);
    assert_eq!(report.head.as_deref().map(str::len), Some(64));

    // Reopening continues the same chain.
    drop(log);
    let log = AuditLog::open(&b.config).await.expect("reopen");
    let seq = log
        .append(&record(EventType::FhirApi, "SE", Outcome::Success, 30))
        .await
        .expect("append");
    assert_eq!(seq, AuditSeq(21));
    let report = log.verify().await.expect("verify");
    assert_eq!((report.records, report.first_broken), (21, None));
}

async fn tampering_is_detected(b: Backend) {
    let log = AuditLog::open(&b.config).await.expect("open");
    append_n(&log, 12).await;
    // The table refuses updates and deletes as it stands.
    assert!(b
        .raw
        .exec("UPDATE audit_log SET outcome = 'success' WHERE seq = 2")
        .await
        .is_err());
    assert!(b
        .raw
        .exec("DELETE FROM audit_log WHERE seq = 2")
        .await
        .is_err());
    assert!(log.verify().await.expect("verify").is_intact());

    b.raw.disable_guards().await;
    // Edit the hashed text of record 7: the HCP's name.
    b.raw
        .exec("UPDATE audit_log SET record = replace(record, 'Dupont', 'Durand') WHERE seq = 7")
        .await
        .expect("tamper");
    let report = log.verify().await.expect("verify");
    assert_eq!(report.first_broken, Some(AuditSeq(7)), "{report:?}");
    assert_eq!(report.records, 7);

    // Editing an index column only (hiding an access from the patient) is caught too.
    assert_eq!(
        b.raw
            .tamper(
                &log,
                "UPDATE audit_log SET patient_ext = '191111111111' WHERE seq = 4"
            )
            .await,
        Some(AuditSeq(4))
    );

    // Removing a row in the middle breaks the chain at the next one.
    assert_eq!(
        b.raw
            .tamper(&log, "DELETE FROM audit_log WHERE seq = 2")
            .await,
        Some(AuditSeq(3))
    );
}

/// A refusal of an unverified request, from `country` (its TLS peer), at minute `minute`.
fn refusal(country: Option<&str>, code: EhdsiError, minute: u32) -> RefusedRequest {
    let mut r = RefusedRequest::new(
        "/ncp/xca",
        RefusalClass::Assertion,
        Some(code),
        TlsPeer {
            common_name: Some("ncp.test".into()),
            organization: Some("Test NCP".into()),
            country: country.map(|c| CountryCode::parse(c).unwrap()),
            remote_ip: "10.1.2.3".parse().ok(),
        },
        Ncp {
            country: CountryCode::SE,
            home_community_id: ncp_types::Oid::parse("1.2.752.129.2.1.99.1").unwrap(),
        },
    )
    .attempting(EventType::DocumentList)
    .with_message_id(Some("urn:uuid:0f0e0d0c-0000-4000-8000-000000000001"));
    r.event_time = at(minute);
    r
}

/// Refusals chain between transaction records, verify, count in the KPIs apart from the
/// transactions, never show as a patient's access, and tampering with one is detected.
async fn refusals_chain_and_count(b: Backend) {
    let log = AuditLog::open(&b.config).await.expect("open");
    for i in 0..6 {
        if i % 2 == 0 {
            log.append(&record(EventType::DocumentList, "BE", Outcome::Success, i))
                .await
                .expect("append");
        } else {
            let country = (i != 5).then_some("EE");
            log.append_refusal(&refusal(country, EhdsiError::NoSignature, i))
                .await
                .expect("append refusal");
        }
    }
    let report = log.verify().await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 6);
    let refused = log.refused_kpi(Period::all()).await.expect("kpi");
    let refused: Vec<_> = refused
        .iter()
        .map(|r| (r.country.as_str(), r.count))
        .collect();
    assert_eq!(refused, [("EE", 2), ("ZZ", 1)]);
    let kpi = log.kpi(Period::all()).await.expect("kpi");
    assert_eq!(kpi.len(), 1, "{kpi:?}");
    assert_eq!(kpi[0].count, 3);
    let accesses = log
        .accesses_to_patient(&patient("191212121212"), Period::all())
        .await
        .expect("accesses");
    assert_eq!(accesses.len(), 3, "refusals are nobody's access");
    // `ncp audit kpi` prints them beside the transactions.
    if let StorageBackend::Sqlite { path } = &b.config.backend {
        use ncp_core::audit_command::{run, AuditCommand, PeriodArgs, StoreArgs};
        let out = run(&AuditCommand::Kpi {
            period: PeriodArgs {
                from: None,
                to: None,
            },
            store: StoreArgs {
                config: None,
                sqlite: Some(path.clone()),
                postgres: None,
            },
        })
        .await
        .expect("kpi");
        assert!(
            out.text
                .contains("refused-unverified\tEE\tminor-failure\t2\n"),
            "{}",
            out.text
        );
        assert!(out
            .text
            .contains("refused-unverified\tZZ\tminor-failure\t1\n"));
        assert!(out.text.contains("document-list\tBE\tsuccess\t3\n"));
    }

    b.raw.disable_guards().await;
    // Planting a patient on a refusal (index column only) is caught.
    assert_eq!(
        b.raw
            .tamper(
                &log,
                "UPDATE audit_log SET patient_root = '1.2.3', patient_ext = 'x' WHERE seq = 6"
            )
            .await,
        Some(AuditSeq(6))
    );
    // Changing the code of a refusal is caught.
    assert_eq!(
        b.raw.tamper(&log, "UPDATE audit_log SET record = replace(record, '\"4704\"', '\"4702\"') WHERE seq = 4").await,
        Some(AuditSeq(4))
    );
    // Turning a refusal into a transaction record's kind (its event type column) is caught.
    assert_eq!(
        b.raw
            .tamper(
                &log,
                "UPDATE audit_log SET event_type = 'document-list' WHERE seq = 2"
            )
            .await,
        Some(AuditSeq(2))
    );
}

async fn concurrent_appends_form_one_chain(b: Backend, replicas: usize) {
    let logs: Vec<Arc<AuditLog>> = {
        let mut v = Vec::new();
        for _ in 0..replicas {
            v.push(Arc::new(AuditLog::open(&b.config).await.expect("open")));
        }
        v
    };
    let mut tasks = Vec::new();
    for t in 0..40usize {
        let log = Arc::clone(&logs[t % replicas]);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..5u32 {
                let r = record(EventType::PatientIdentification, "AT", Outcome::Success, i);
                seqs.push(log.append(&r).await.expect("append"));
            }
            seqs
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        for s in t.await.expect("task") {
            assert!(all.insert(s), "seq {s} handed out twice");
        }
    }
    assert_eq!(all.len(), 200);
    assert_eq!(all.iter().max(), Some(&AuditSeq(200)));
    for log in &logs {
        let report = log.verify().await.expect("verify");
        assert_eq!((report.records, report.first_broken), (200, None));
    }
}

async fn patient_accesses_and_kpis(b: Backend) {
    let log = AuditLog::open(&b.config).await.expect("open");
    let mut r1 = record(EventType::DocumentList, "BE", Outcome::Success, 1);
    r1.hcp.organisation = "Hôpital Saint-Luc".into();
    let mut r2 = record(EventType::DocumentRetrieve, "PT", Outcome::Success, 5);
    r2.hcp.organisation = "Hospital de Santa Maria".into();
    r2.hcp.role = HcpRole::PHARMACIST;
    let mut blocked = record(EventType::DocumentRetrieve, "PT", Outcome::MinorFailure, 7);
    blocked.error_code = Some(EhdsiError::NoConsent);
    blocked.reason = Some("blocked: provider-block".into());
    let late = record(EventType::DocumentList, "BE", Outcome::Success, 20);
    let mut other = record(EventType::DocumentList, "BE", Outcome::Success, 3);
    other.patient = Some(patient("194107086995"));
    let mut anonymous = record(
        EventType::PatientIdentification,
        "BE",
        Outcome::SeriousFailure,
        4,
    );
    anonymous.patient = None;
    for r in [&r1, &r2, &blocked, &late, &other, &anonymous] {
        log.append(r).await.expect("append");
    }

    let seen = log
        .accesses_to_patient(&patient("191212121212"), Period::new(at(0), at(20)))
        .await
        .expect("accesses");
    let summary: Vec<_> = seen
        .iter()
        .map(|a| {
            (
                a.organisation.as_str(),
                a.country.as_str(),
                a.role.code(),
                a.what,
                a.outcome,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "Hôpital Saint-Luc",
                "BE",
                "221",
                EventType::DocumentList,
                Outcome::Success
            ),
            (
                "Hospital de Santa Maria",
                "PT",
                "2262",
                EventType::DocumentRetrieve,
                Outcome::Success
            ),
            (
                "Hôpital Saint-Luc",
                "PT",
                "221",
                EventType::DocumentRetrieve,
                Outcome::MinorFailure
            ),
        ]
    );
    assert_eq!(seen[0].time, at(1));
    let everything = log
        .accesses_to_patient(&patient("191212121212"), Period::all())
        .await
        .expect("accesses");
    assert_eq!(everything.len(), 4);

    let kpi = log.kpi(Period::new(at(0), at(10))).await.expect("kpi");
    let cells: Vec<_> = kpi
        .iter()
        .map(|k| (k.event_type, k.country.as_str(), k.outcome, k.count))
        .collect();
    assert_eq!(
        cells,
        vec![
            (
                EventType::PatientIdentification,
                "BE",
                Outcome::SeriousFailure,
                1
            ),
            (EventType::DocumentList, "BE", Outcome::Success, 2),
            (EventType::DocumentRetrieve, "PT", Outcome::Success, 1),
            (EventType::DocumentRetrieve, "PT", Outcome::MinorFailure, 1),
        ]
    );
    let all: u64 = log
        .kpi(Period::all())
        .await
        .expect("kpi")
        .iter()
        .map(|k| k.count)
        .sum();
    assert_eq!(all, 6);
}

async fn survives_a_dropped_database_connection(b: Backend) {
    let log = AuditLog::open(&b.config).await.expect("open");
    append_n(&log, 3).await;
    // The database drops every other session (a restart, a failover).
    b.raw
        .exec(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid() AND datname = current_database()",
        )
        .await
        .expect("terminate");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let seq = log
        .append(&record(EventType::DocumentList, "BE", Outcome::Success, 9))
        .await
        .expect("append after reconnect");
    assert_eq!(seq, AuditSeq(4));
    assert!(log.verify().await.expect("verify").is_intact());
}

/// Grouped so that `cargo test -p ncp-core audit` selects them.
mod audit {
    use super::*;

    #[tokio::test]
    async fn sqlite_chain_appends_and_verifies() {
        chain_appends_and_verifies(sqlite()).await;
    }

    #[tokio::test]
    async fn sqlite_tampering_is_detected() {
        tampering_is_detected(sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_concurrent_appends_form_one_chain() {
        concurrent_appends_form_one_chain(sqlite(), 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_two_handles_on_one_file_form_one_chain() {
        concurrent_appends_form_one_chain(sqlite(), 2).await;
    }

    #[test]
    fn a_refusal_exports_as_an_atna_security_alert_naming_only_the_tls_peer() {
        let xml = refusal_to_atna_xml(&refusal(Some("EE"), EhdsiError::NoSignature, 3));
        let doc = roxmltree::Document::parse(&xml).expect("XML");
        let id = doc
            .descendants()
            .find(|n| n.has_tag_name("EventID"))
            .expect("EventID");
        assert_eq!(id.attribute("csd-code"), Some("110113"));
        let ev = doc
            .descendants()
            .find(|n| n.has_tag_name("EventIdentification"))
            .unwrap();
        assert_eq!(ev.attribute("EventOutcomeIndicator"), Some("4"));
        let desc = doc
            .descendants()
            .find(|n| n.has_tag_name("EventOutcomeDescription"))
            .and_then(|n| n.text());
        assert_eq!(desc, Some("4704 assertion-refused"));
        let tx = doc
            .descendants()
            .find(|n| n.has_tag_name("EventTypeCode"))
            .unwrap();
        assert_eq!(tx.attribute("csd-code"), Some("ITI-38"));
        let requestor = doc
            .descendants()
            .find(|n| n.attribute("UserIsRequestor") == Some("true"))
            .unwrap();
        assert_eq!(requestor.attribute("UserID"), Some("ncp.test"));
        assert_eq!(requestor.attribute("AlternativeUserID"), Some("EE"));
        assert_eq!(
            requestor.attribute("NetworkAccessPointID"),
            Some("10.1.2.3")
        );
        assert!(!xml.contains("0f0e0d0c"), "the message id only as a hash");
        assert!(
            !doc.descendants()
                .any(|n| n.attribute("ParticipantObjectTypeCode") == Some("1")),
            "no patient object"
        );
    }

    #[tokio::test]
    async fn sqlite_refusals_chain_and_count() {
        refusals_chain_and_count(sqlite()).await;
    }

    #[tokio::test]
    async fn postgres_refusals_chain_and_count() {
        if let Some(b) = postgres().await {
            refusals_chain_and_count(b).await;
        }
    }

    #[tokio::test]
    async fn sqlite_patient_accesses_and_kpis() {
        patient_accesses_and_kpis(sqlite()).await;
    }

    #[tokio::test]
    async fn postgres_chain_appends_and_verifies() {
        if let Some(b) = postgres().await {
            chain_appends_and_verifies(b).await;
        }
    }

    #[tokio::test]
    async fn postgres_tampering_is_detected() {
        if let Some(b) = postgres().await {
            tampering_is_detected(b).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_concurrent_appends_form_one_chain() {
        if let Some(b) = postgres().await {
            concurrent_appends_form_one_chain(b, 1).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_two_replicas_append_concurrently_into_one_chain() {
        if let Some(b) = postgres().await {
            concurrent_appends_form_one_chain(b, 2).await;
        }
    }

    #[tokio::test]
    async fn postgres_reconnects_after_the_connection_drops() {
        if let Some(b) = postgres().await {
            survives_a_dropped_database_connection(b).await;
        }
    }

    #[tokio::test]
    async fn postgres_patient_accesses_and_kpis() {
        if let Some(b) = postgres().await {
            patient_accesses_and_kpis(b).await;
        }
    }

    #[test]
    fn atna_export_carries_the_fields() {
        let mut r = record(EventType::DocumentRetrieve, "BE", Outcome::MinorFailure, 12);
        r.error_code = Some(EhdsiError::NoConsent);
        r.reason = Some("blocked: provider-block".into());
        r.objects.push(ObjectRef::Dispensation(
            DispensationId::new("disp-42").expect("id"),
        ));
        let xml = to_atna_xml(&r);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed ATNA XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "AuditMessage");
        let el = |name: &str| {
            root.descendants()
                .filter(move |n| n.tag_name().name() == name)
                .collect::<Vec<_>>()
        };
        let ev = &el("EventIdentification")[0];
        assert_eq!(ev.attribute("EventActionCode"), Some("R"));
        assert_eq!(ev.attribute("EventOutcomeIndicator"), Some("4"));
        assert_eq!(
            ev.attribute("EventDateTime"),
            Some("2026-03-01T10:12:00.000000Z")
        );
        assert_eq!(el("EventID")[0].attribute("csd-code"), Some("110106"));
        assert_eq!(el("EventTypeCode")[0].attribute("csd-code"), Some("ITI-39"));
        assert_eq!(
            el("PurposeOfUse")[0].attribute("csd-code"),
            Some("TREATMENT")
        );
        assert_eq!(el("EventOutcomeDescription")[0].text(), Some("4701"));

        let parts = el("ActiveParticipant");
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0].attribute("UserIsRequestor"), Some("true"));
        assert_eq!(
            parts[0].attribute("UserName"),
            Some("Dr Anne <Dupont> & Co")
        );
        assert_eq!(parts[1].attribute("UserName"), Some("Hôpital Saint-Luc"));
        assert_eq!(
            parts[2].attribute("NetworkAccessPointID"),
            Some("192.0.2.10")
        );
        assert_eq!(parts[2].attribute("AlternativeUserID"), Some("BE"));
        assert_eq!(parts[3].attribute("AlternativeUserID"), Some("SE"));

        let objects = el("ParticipantObjectIdentification");
        assert_eq!(
            objects[0].attribute("ParticipantObjectID"),
            Some("191212121212^^^&1.2.752.129.2.1.3.1&ISO")
        );
        assert_eq!(
            objects[0].attribute("ParticipantObjectTypeCodeRole"),
            Some("1")
        );
        assert_eq!(
            objects[1].attribute("ParticipantObjectID"),
            Some("1.2.752.129.2.1.2.1^PS-191212121212")
        );
        assert_eq!(objects[2].attribute("ParticipantObjectID"), Some("disp-42"));
        assert_eq!(
            objects[3].attribute("ParticipantObjectID"),
            Some(r.message_id.as_str())
        );
        let reason = objects[3]
            .children()
            .find(|n| n.attribute("type") == Some("reason"))
            .and_then(|n| n.attribute("value"))
            .expect("reason detail");
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(reason)
            .expect("base64");
        assert_eq!(decoded, b"blocked: provider-block");
    }

    #[test]
    fn debug_output_keeps_patient_hcp_and_reason_out() {
        let mut r = record(EventType::DocumentRetrieve, "BE", Outcome::Success, 1);
        r.reason = Some("blocked: provider-block".into());
        let dbg = format!("{r:?}");
        for secret in ["191212121212", "Dupont", "hcp-4711", "provider-block"] {
            assert!(!dbg.contains(secret), "Debug shows {secret}: {dbg}");
        }
        assert!(dbg.contains("DocumentRetrieve"));
        assert_eq!(CountryCode::parse("be").expect("cc"), r.requesting.country);
    }

    #[tokio::test]
    async fn sqlite_refuses_a_record_it_could_not_verify_later() {
        let b = sqlite();
        let log = AuditLog::open(&b.config).await.expect("open");
        let mut r = record(EventType::DocumentList, "BE", Outcome::Success, 1);
        r.event_time = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 10_000, 1, 1, 0, 0, 0)
            .single()
            .expect("time");
        assert!(log.append(&r).await.is_err());
        let report = log.verify().await.expect("verify");
        assert_eq!((report.records, report.first_broken), (0, None));
    }

    #[test]
    fn config_reads_from_toml_and_hides_the_database_password() {
        let c: AuditConfig =
            toml::from_str("backend = { kind = \"sqlite\", path = \"/var/lib/ncp/audit.db\" }")
                .expect("sqlite config");
        assert_eq!(
            c.backend,
            StorageBackend::Sqlite {
                path: "/var/lib/ncp/audit.db".into()
            }
        );
        let c: AuditConfig = toml::from_str(
            "[backend]\nkind = \"postgres\"\nurl = \"postgresql://ncp:s3cret@db:5432/audit\"\n",
        )
        .expect("postgres config");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(toml::from_str::<AuditConfig>("backend = { kind = \"mysql\" }").is_err());
    }
}
