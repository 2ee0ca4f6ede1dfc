//! The block register client: the patient's blocks on cross-border sharing.

use chrono::NaiveDate;
use ncp_types::{HsaId, PersonId};
use serde_json::Value;
use url::Url;

use crate::http::{self, FhirHttp};
use crate::nll::token;
use crate::{AdapterError, CallContext, ClientConfig, Result};

/// What a category block covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockCategory {
    PatientSummary,
    EPrescription,
}

/// One block in force.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Block {
    /// No cross-border sharing at all.
    OptOut,
    /// Nothing of this category is shared.
    Category(BlockCategory),
    /// Nothing from this care provider is shared.
    Provider(HsaId),
    /// This one record (`resource_type/id`, at `provider` when named) is not shared.
    Entry {
        provider: Option<HsaId>,
        resource_type: String,
        id: String,
    },
}

/// Client of the block register (`…/nsr/fhir`).
#[derive(Debug, Clone)]
pub struct NsrClient {
    http: FhirHttp,
}

impl NsrClient {
    pub fn new(base: Url, cfg: &ClientConfig) -> Result<Self> {
        Self::with_client(http::client(cfg)?, base, cfg)
    }

    pub(crate) fn with_client(
        client: reqwest::Client,
        base: Url,
        cfg: &ClientConfig,
    ) -> Result<Self> {
        Ok(NsrClient {
            http: FhirHttp::new(client, base, "nsr", cfg)?,
        })
    }

    /// The blocks in force today. A block this client cannot understand is an error
    /// ([`AdapterError::Protocol`]): better share nothing than share what was blocked.
    pub async fn blocks(&self, ctx: &CallContext, patient: &PersonId) -> Result<Vec<Block>> {
        let id = token(patient);
        let r = self
            .http
            .search(Some(ctx), "Consent", &[("patient.identifier", &id)])
            .await?;
        let today = chrono::Utc::now().date_naive();
        let mut out = Vec::new();
        for c in r.matches() {
            for b in parse_consent(c, today)? {
                if !out.contains(&b) {
                    out.push(b);
                }
            }
        }
        Ok(out)
    }
}

fn bad(what: &str) -> AdapterError {
    AdapterError::Protocol(format!("NSR Consent: {what}"))
}

fn in_force(c: &Value, today: NaiveDate) -> Result<bool> {
    match c["status"].as_str() {
        Some("active") => {}
        Some("inactive" | "rejected" | "entered-in-error" | "draft" | "proposed") => {
            return Ok(false)
        }
        _ => return Err(bad("unknown status")),
    }
    if c["provision"]["type"].as_str().is_some_and(|t| t != "deny") {
        return Ok(false);
    }
    let day = |v: &Value| {
        v.as_str()
            .and_then(|s| s.get(..10))
            .and_then(|s| s.parse::<NaiveDate>().ok())
    };
    let period = &c["provision"]["period"];
    if day(&period["start"]).is_some_and(|s| s > today)
        || day(&period["end"]).is_some_and(|e| e < today)
    {
        return Ok(false);
    }
    Ok(true)
}

/// The blocks of one `Consent` in force on `today` (none when inactive or out of period).
pub(crate) fn parse_consent(c: &Value, today: NaiveDate) -> Result<Vec<Block>> {
    if c["resourceType"] != "Consent" {
        return Err(bad("not a Consent"));
    }
    if !in_force(c, today)? {
        return Ok(vec![]);
    }
    let category = c["category"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .flat_map(|cc| cc["coding"].as_array().into_iter().flatten())
                .find_map(|x| x["code"].as_str())
        })
        .ok_or_else(|| bad("no category"))?;
    let provision = &c["provision"];
    let actors = || -> Result<Vec<HsaId>> {
        provision["actor"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|a| {
                a["reference"]["identifier"]["value"]
                    .as_str()
                    .and_then(|v| HsaId::parse(v).ok())
                    .ok_or_else(|| bad("actor without an HSA-id"))
            })
            .collect()
    };
    let blocks = match category {
        "opt-out" => vec![Block::OptOut],
        "category-block" => provision["class"]
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad("category-block without a class"))?
            .iter()
            .map(|cl| match cl["code"].as_str() {
                Some("patient-summary") => Ok(Block::Category(BlockCategory::PatientSummary)),
                Some("eprescription") => Ok(Block::Category(BlockCategory::EPrescription)),
                _ => Err(bad("unknown block class")),
            })
            .collect::<Result<_>>()?,
        "provider-block" => {
            let a = actors()?;
            if a.is_empty() {
                return Err(bad("provider-block without a provider"));
            }
            a.into_iter().map(Block::Provider).collect()
        }
        "entry-block" => {
            let provider = actors()?.into_iter().next();
            let data = provision["data"]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| bad("entry-block without data"))?;
            data.iter()
                .map(|d| {
                    let r = d["reference"]["reference"]
                        .as_str()
                        .ok_or_else(|| bad("entry without a reference"))?;
                    let mut parts = r.rsplit('/');
                    match (parts.next(), parts.next()) {
                        (Some(id), Some(ty)) if !id.is_empty() && !ty.is_empty() => {
                            Ok(Block::Entry {
                                provider: provider.clone(),
                                resource_type: ty.to_owned(),
                                id: id.to_owned(),
                            })
                        }
                        _ => Err(bad("entry reference is not Type/id")),
                    }
                })
                .collect::<Result<_>>()?
        }
        _ => return Err(bad("unknown category")),
    };
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn consent(category: &str, provision: Value) -> Value {
        json!({"resourceType": "Consent", "status": "active",
            "category": [{"coding": [{"code": category}]}], "provision": provision})
    }

    #[test]
    fn each_category_becomes_its_block() {
        assert_eq!(
            parse_consent(&consent("opt-out", json!({"type": "deny"})), day()).unwrap(),
            vec![Block::OptOut]
        );
        assert_eq!(
            parse_consent(
                &consent(
                    "category-block",
                    json!({"class": [{"code": "eprescription"}]})
                ),
                day()
            )
            .unwrap(),
            vec![Block::Category(BlockCategory::EPrescription)]
        );
        let p = consent(
            "provider-block",
            json!({"actor": [{"reference": {"identifier": {"value": "SE2321000016-7001"}}}]}),
        );
        assert_eq!(
            parse_consent(&p, day()).unwrap(),
            vec![Block::Provider(HsaId::parse("SE2321000016-7001").unwrap())]
        );
        let e = consent(
            "entry-block",
            json!({"data": [{"reference": {"reference": "Condition/c1"}}]}),
        );
        assert_eq!(
            parse_consent(&e, day()).unwrap(),
            vec![Block::Entry {
                provider: None,
                resource_type: "Condition".into(),
                id: "c1".into()
            }]
        );
    }

    #[test]
    fn inactive_or_out_of_period_blocks_do_not_count() {
        let mut c = consent("opt-out", json!({"period": {"end": "2026-05-31"}}));
        assert!(parse_consent(&c, day()).unwrap().is_empty());
        c["provision"]["period"] = json!({"start": "2026-06-02"});
        assert!(parse_consent(&c, day()).unwrap().is_empty());
        c["provision"]["period"] = json!({"start": "2026-06-01", "end": "2026-06-01"});
        assert_eq!(parse_consent(&c, day()).unwrap(), vec![Block::OptOut]);
        c["status"] = json!("inactive");
        assert!(parse_consent(&c, day()).unwrap().is_empty());
    }

    #[test]
    fn what_cannot_be_understood_fails_closed() {
        assert!(parse_consent(&consent("mystery", json!({})), day()).is_err());
        assert!(parse_consent(
            &consent("category-block", json!({"class": [{"code": "x"}]})),
            day()
        )
        .is_err());
        assert!(parse_consent(&consent("provider-block", json!({})), day()).is_err());
        assert!(parse_consent(
            &consent(
                "entry-block",
                json!({"data": [{"reference": {"reference": "c1"}}]})
            ),
            day()
        )
        .is_err());
        let mut c = consent("opt-out", json!({}));
        c["status"] = json!("weird");
        assert!(parse_consent(&c, day()).is_err());
    }
}
