//! What of Country B must outlive a restart and be seen by every replica, in the bridge's
//! database (SQLite or PostgreSQL, as the outbox and audit trail):
//!
//! - `country_b_dispensation`: each dispensation sent abroad and acknowledged, with the FHIR
//!   Bundle its eDispensation was written from (its discard is written from the same Bundle),
//!   its owner, country, patient and prescription, and whether it was discarded. Kept
//!   [`DISPENSATION_RETENTION`] after it was sent.
//! - `country_b_listed`: for each prescription a user listed, only where it came from (the
//!   patient's country and id, the XCA uniqueId / repositoryUniqueId / homeCommunityId of its
//!   document), no document content: a replica that has not seen it retrieves the document
//!   again. Kept [`LISTED_RETENTION`].
//!
//! Expired rows are deleted by the writes (each insert first removes what has expired).
//! A discard is claimed first (`discard_claimed_ms`), so two replicas never send the discard
//! of one dispensation together; a claim older than [`DISCARD_CLAIM`] is taken over.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::audit::{pg_connect, pg_create_schema, PgClient, StorageBackend};

/// How long a dispensation can be discarded through the API.
pub const DISPENSATION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a listed prescription can be read or dispensed without searching again.
pub const LISTED_RETENTION: Duration = Duration::from_secs(8 * 3600);
/// How long a claimed discard is left to the replica that claimed it.
pub const DISCARD_CLAIM: Duration = Duration::from_secs(120);

/// The advisory lock serialising schema creation between replicas (`ncp_cntb`).
const SCHEMA_LOCK: i64 = 0x6e63_705f_636e_7462;

/// The tables, for both backends (SQLite gives `BIGINT` integer affinity).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS country_b_dispensation (
    id                 TEXT PRIMARY KEY,
    owner              TEXT NOT NULL,
    organisation       TEXT NOT NULL,
    country            TEXT NOT NULL,
    patient            TEXT NOT NULL,
    prescription       TEXT NOT NULL,
    bundle             TEXT NOT NULL,
    sent_ms            BIGINT NOT NULL,
    expires_ms         BIGINT NOT NULL,
    discard_claimed_ms BIGINT,
    discarded_ms       BIGINT
);
CREATE INDEX IF NOT EXISTS country_b_dispensation_expiry ON country_b_dispensation (expires_ms);
CREATE TABLE IF NOT EXISTS country_b_listed (
    owner                TEXT NOT NULL,
    prescription         TEXT NOT NULL,
    country              TEXT NOT NULL,
    patient              TEXT NOT NULL,
    document_unique_id   TEXT NOT NULL,
    repository_unique_id TEXT NOT NULL,
    home_community_id    TEXT NOT NULL,
    pdf                  TEXT,
    expires_ms           BIGINT NOT NULL,
    PRIMARY KEY (owner, prescription)
);
CREATE INDEX IF NOT EXISTS country_b_listed_expiry ON country_b_listed (expires_ms);
";

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Country B store (SQLite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("Country B store (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("Country B store holds an unreadable row: {0}")]
    Corrupt(String),
    #[error("Country B store task failed: {0}")]
    Task(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// A dispensation sent abroad.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispensation {
    /// The MedicationDispense id.
    pub id: String,
    /// The HSA-id of the user who dispensed.
    pub owner: String,
    /// The HSA-id of the user's organisation.
    pub organisation: String,
    pub country: String,
    /// The patient's FHIR id ([`super::patient_id::PatientKey`]).
    pub patient: String,
    /// The MedicationRequest id it fulfils.
    pub prescription: String,
    /// The Bundle its eDispensation was written from.
    pub bundle: Value,
    pub discarded: bool,
}

/// Where a listed prescription came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub owner: String,
    /// The MedicationRequest id.
    pub prescription: String,
    pub country: String,
    /// The patient's FHIR id.
    pub patient: String,
    pub document_unique_id: String,
    pub repository_unique_id: String,
    pub home_community_id: String,
    /// The `Binary/{id}` of its L1 PDF, when the search linked one.
    pub pdf: Option<String>,
}

/// The outcome of claiming a dispensation's discard.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This caller sends the discard; [`CountryBStore::finish_discard`] afterwards.
    Claimed(Box<Dispensation>),
    AlreadyDiscarded,
    /// Another request (perhaps on another replica) is sending it now.
    InProgress,
    /// No such dispensation of this owner (or it expired).
    NotFound,
}

enum Backend {
    Sqlite(Arc<Mutex<Connection>>),
    Postgres(Box<PgClient>),
}

/// Country B's durable state. Share it behind an `Arc`.
pub struct CountryBStore {
    backend: Backend,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn blocking<T, F>(conn: &Arc<Mutex<Connection>>, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    crate::db::on_blocking_pool(conn, f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

fn bundle_of(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("dispensation bundle: {e}")))
}

// The statements, in PostgreSQL's `$N` placeholders; SQLite takes them as `?N` ([`sqlite`]).
const DELETE_EXPIRED_DISPENSATIONS: &str =
    "DELETE FROM country_b_dispensation WHERE expires_ms <= $1";
const INSERT_DISPENSATION: &str = "INSERT INTO country_b_dispensation
    (id, owner, organisation, country, patient, prescription, bundle, sent_ms, expires_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// The claim: only an undiscarded row of this owner, unclaimed or with a stale claim.
const CLAIM: &str = "UPDATE country_b_dispensation SET discard_claimed_ms = $3
    WHERE id = $1 AND owner = $2 AND expires_ms > $3 AND discarded_ms IS NULL
      AND (discard_claimed_ms IS NULL OR discard_claimed_ms < $4)
    RETURNING organisation, country, patient, prescription, bundle";
/// Why a claim failed: (discarded, claimed) of the owner's unexpired row.
const DISCARD_STATE: &str = "SELECT discarded_ms IS NOT NULL, discard_claimed_ms IS NOT NULL
    FROM country_b_dispensation
    WHERE id = $1 AND owner = $2 AND expires_ms > $3";
const MARK_DISCARDED: &str = "UPDATE country_b_dispensation SET discarded_ms = $2 WHERE id = $1";
const RELEASE_CLAIM: &str = "UPDATE country_b_dispensation SET discard_claimed_ms = NULL
    WHERE id = $1 AND discarded_ms IS NULL";
const DELETE_EXPIRED_LISTED: &str = "DELETE FROM country_b_listed WHERE expires_ms <= $1";
const UPSERT_LISTED: &str = "INSERT INTO country_b_listed
    (owner, prescription, country, patient, document_unique_id, repository_unique_id,
     home_community_id, pdf, expires_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (owner, prescription) DO UPDATE SET country = excluded.country,
        patient = excluded.patient, document_unique_id = excluded.document_unique_id,
        repository_unique_id = excluded.repository_unique_id,
        home_community_id = excluded.home_community_id, pdf = excluded.pdf,
        expires_ms = excluded.expires_ms";
const SELECT_LISTED: &str = "SELECT country, patient, document_unique_id, repository_unique_id,
        home_community_id, pdf
    FROM country_b_listed
    WHERE owner = $1 AND prescription = $2 AND expires_ms > $3";

/// `sql` with SQLite's numbered placeholders (`?N` for `$N`; no statement holds another `$`).
fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

impl CountryBStore {
    /// Opens (creating its tables if needed) the store in `backend`.
    pub async fn open(backend: &StorageBackend) -> Result<Self> {
        let backend = match backend {
            StorageBackend::Sqlite { path } => {
                Backend::Sqlite(Arc::new(Mutex::new(open_sqlite(path.clone()).await?)))
            }
            StorageBackend::Postgres { url } => {
                let mut client = pg_connect(url).await?;
                pg_create_schema(&mut client, SCHEMA_LOCK, SCHEMA).await?;
                Backend::Postgres(Box::new(PgClient::new(url, client)))
            }
        };
        Ok(CountryBStore { backend })
    }

    /// Records a dispensation that the patient's country acknowledged.
    pub async fn put_dispensation(&self, d: &Dispensation) -> Result<()> {
        let now = now_ms();
        let expires = now.saturating_add(ms(DISPENSATION_RETENTION));
        let bundle = d.bundle.to_string();
        match &self.backend {
            Backend::Sqlite(conn) => {
                let d = d.clone();
                blocking(conn, move |c| {
                    let tx = c.transaction()?;
                    tx.execute(&sqlite(DELETE_EXPIRED_DISPENSATIONS), [now])?;
                    tx.execute(
                        &sqlite(INSERT_DISPENSATION),
                        params![
                            d.id,
                            d.owner,
                            d.organisation,
                            d.country,
                            d.patient,
                            d.prescription,
                            bundle,
                            now,
                            expires
                        ],
                    )?;
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => {
                let mut guard = pg.get().await?;
                let conn = guard.as_mut().ok_or_else(missing)?;
                let tx = conn.client.transaction().await?;
                tx.execute(DELETE_EXPIRED_DISPENSATIONS, &[&now]).await?;
                tx.execute(
                    INSERT_DISPENSATION,
                    &[
                        &d.id,
                        &d.owner,
                        &d.organisation,
                        &d.country,
                        &d.patient,
                        &d.prescription,
                        &bundle,
                        &now,
                        &expires,
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Claims the discard of `owner`'s dispensation `id`.
    pub async fn claim_discard(&self, owner: &str, id: &str) -> Result<Claim> {
        let now = now_ms();
        let stale = now.saturating_sub(ms(DISCARD_CLAIM));
        let (owner, id) = (owner.to_owned(), id.to_owned());
        type Row = (String, String, String, String, String);
        let (claimed, state): (Option<Row>, Option<(bool, bool)>) = match &self.backend {
            Backend::Sqlite(conn) => {
                let (owner, id) = (owner.clone(), id.clone());
                blocking(conn, move |c| {
                    let claimed = c
                        .query_row(&sqlite(CLAIM), params![id, owner, now, stale], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })
                        .optional()?;
                    let state = if claimed.is_some() {
                        None
                    } else {
                        c.query_row(&sqlite(DISCARD_STATE), params![id, owner, now], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?
                    };
                    Ok((claimed, state))
                })
                .await?
            }
            Backend::Postgres(pg) => {
                let guard = pg.get().await?;
                let client = &guard.as_ref().ok_or_else(missing)?.client;
                let claimed = client
                    .query_opt(CLAIM, &[&id, &owner, &now, &stale])
                    .await?
                    .map(|r| -> Result<Row> {
                        Ok((
                            r.try_get(0)?,
                            r.try_get(1)?,
                            r.try_get(2)?,
                            r.try_get(3)?,
                            r.try_get(4)?,
                        ))
                    })
                    .transpose()?;
                let state = if claimed.is_some() {
                    None
                } else {
                    client
                        .query_opt(DISCARD_STATE, &[&id, &owner, &now])
                        .await?
                        .map(|r| -> Result<(bool, bool)> { Ok((r.try_get(0)?, r.try_get(1)?)) })
                        .transpose()?
                };
                (claimed, state)
            }
        };
        Ok(match (claimed, state) {
            (Some((organisation, country, patient, prescription, bundle)), _) => {
                Claim::Claimed(Box::new(Dispensation {
                    id,
                    owner,
                    organisation,
                    country,
                    patient,
                    prescription,
                    bundle: bundle_of(&bundle)?,
                    discarded: false,
                }))
            }
            (None, Some((true, _))) => Claim::AlreadyDiscarded,
            (None, Some((false, _))) => Claim::InProgress,
            (None, None) => Claim::NotFound,
        })
    }

    /// Ends a claimed discard: marks the dispensation discarded when the patient's country
    /// acknowledged it, or releases the claim for another try.
    pub async fn finish_discard(&self, id: &str, discarded: bool) -> Result<()> {
        let now = now_ms();
        let id = id.to_owned();
        match &self.backend {
            Backend::Sqlite(conn) => {
                blocking(conn, move |c| {
                    if discarded {
                        c.execute(&sqlite(MARK_DISCARDED), params![id, now])?;
                    } else {
                        c.execute(&sqlite(RELEASE_CLAIM), [id])?;
                    }
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => {
                let guard = pg.get().await?;
                let client = &guard.as_ref().ok_or_else(missing)?.client;
                if discarded {
                    client.execute(MARK_DISCARDED, &[&id, &now]).await?;
                } else {
                    client.execute(RELEASE_CLAIM, &[&id]).await?;
                }
                Ok(())
            }
        }
    }

    /// Records (or refreshes) where the prescriptions a user listed came from.
    pub async fn put_listed(&self, rows: Vec<Listed>) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let expires = now.saturating_add(ms(LISTED_RETENTION));
        match &self.backend {
            Backend::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let tx = c.transaction()?;
                    tx.execute(&sqlite(DELETE_EXPIRED_LISTED), [now])?;
                    {
                        let mut st = tx.prepare_cached(&sqlite(UPSERT_LISTED))?;
                        for l in &rows {
                            st.execute(params![
                                l.owner,
                                l.prescription,
                                l.country,
                                l.patient,
                                l.document_unique_id,
                                l.repository_unique_id,
                                l.home_community_id,
                                l.pdf,
                                expires
                            ])?;
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Backend::Postgres(pg) => {
                let mut guard = pg.get().await?;
                let conn = guard.as_mut().ok_or_else(missing)?;
                let upsert = conn.statement(UPSERT_LISTED).await?;
                let tx = conn.client.transaction().await?;
                tx.execute(DELETE_EXPIRED_LISTED, &[&now]).await?;
                for l in &rows {
                    tx.execute(
                        &upsert,
                        &[
                            &l.owner,
                            &l.prescription,
                            &l.country,
                            &l.patient,
                            &l.document_unique_id,
                            &l.repository_unique_id,
                            &l.home_community_id,
                            &l.pdf,
                            &expires,
                        ],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// Where `owner`'s listed prescription `prescription` came from, unless expired.
    pub async fn listed(&self, owner: &str, prescription: &str) -> Result<Option<Listed>> {
        let now = now_ms();
        let (owner, prescription) = (owner.to_owned(), prescription.to_owned());
        type Row = (String, String, String, String, String, Option<String>);
        let row: Option<Row> = match &self.backend {
            Backend::Sqlite(conn) => {
                let (owner, prescription) = (owner.clone(), prescription.clone());
                blocking(conn, move |c| {
                    Ok(c.query_row(
                        &sqlite(SELECT_LISTED),
                        params![owner, prescription, now],
                        |r| {
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                            ))
                        },
                    )
                    .optional()?)
                })
                .await?
            }
            Backend::Postgres(pg) => {
                let guard = pg.get().await?;
                let client = &guard.as_ref().ok_or_else(missing)?.client;
                client
                    .query_opt(SELECT_LISTED, &[&owner, &prescription, &now])
                    .await?
                    .map(|r| -> Result<Row> {
                        Ok((
                            r.try_get(0)?,
                            r.try_get(1)?,
                            r.try_get(2)?,
                            r.try_get(3)?,
                            r.try_get(4)?,
                            r.try_get(5)?,
                        ))
                    })
                    .transpose()?
            }
        };
        Ok(row.map(
            |(
                country,
                patient,
                document_unique_id,
                repository_unique_id,
                home_community_id,
                pdf,
            )| {
                Listed {
                    owner,
                    prescription,
                    country,
                    patient,
                    document_unique_id,
                    repository_unique_id,
                    home_community_id,
                    pdf,
                }
            },
        ))
    }
}

fn missing() -> StoreError {
    StoreError::Task("PostgreSQL client missing".into())
}

async fn open_sqlite(path: std::path::PathBuf) -> Result<Connection> {
    tokio::task::spawn_blocking(move || -> Result<Connection> {
        let conn = crate::db::open_sqlite(Path::new(&path))?;
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dispensation(id: &str, owner: &str) -> Dispensation {
        Dispensation {
            id: id.into(),
            owner: owner.into(),
            organisation: "SE1-ORG".into(),
            country: "EE".into(),
            patient: "EE-1.2.3-4".into(),
            prescription: "mr-1".into(),
            bundle: json!({ "resourceType": "Bundle", "entry": [] }),
            discarded: false,
        }
    }

    async fn sqlite_store(dir: &Path) -> CountryBStore {
        CountryBStore::open(&StorageBackend::Sqlite {
            path: dir.join("store.sqlite"),
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_discard_is_claimed_once_by_its_owner_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let s = sqlite_store(dir.path()).await;
        s.put_dispensation(&dispensation("d1", "SE1-A"))
            .await
            .unwrap();
        assert_eq!(
            s.claim_discard("SE1-B", "d1").await.unwrap(),
            Claim::NotFound
        );
        assert_eq!(
            s.claim_discard("SE1-A", "nope").await.unwrap(),
            Claim::NotFound
        );
        drop(s);
        let s = sqlite_store(dir.path()).await;
        let Claim::Claimed(d) = s.claim_discard("SE1-A", "d1").await.unwrap() else {
            panic!("the owner claims it after reopening");
        };
        assert_eq!(*d, dispensation("d1", "SE1-A"));
        assert_eq!(
            s.claim_discard("SE1-A", "d1").await.unwrap(),
            Claim::InProgress
        );
        // Not acknowledged abroad: the claim is released for another try.
        s.finish_discard("d1", false).await.unwrap();
        assert!(matches!(
            s.claim_discard("SE1-A", "d1").await.unwrap(),
            Claim::Claimed(_)
        ));
        s.finish_discard("d1", true).await.unwrap();
        assert_eq!(
            s.claim_discard("SE1-A", "d1").await.unwrap(),
            Claim::AlreadyDiscarded
        );
    }

    #[tokio::test]
    async fn listed_prescriptions_are_per_owner_and_refreshed() {
        let dir = tempfile::tempdir().unwrap();
        let s = sqlite_store(dir.path()).await;
        let l = |doc: &str| Listed {
            owner: "SE1-A".into(),
            prescription: "mr-1".into(),
            country: "EE".into(),
            patient: "EE-1.2.3-4".into(),
            document_unique_id: doc.into(),
            repository_unique_id: "1.2.3.9".into(),
            home_community_id: "1.2.3".into(),
            pdf: None,
        };
        s.put_listed(vec![l("1.2.3.4.1")]).await.unwrap();
        s.put_listed(vec![l("1.2.3.4.2")]).await.unwrap();
        assert_eq!(
            s.listed("SE1-A", "mr-1").await.unwrap(),
            Some(l("1.2.3.4.2"))
        );
        assert_eq!(s.listed("SE1-B", "mr-1").await.unwrap(), None);
    }
}
