//! The Swedish Patient Summary for foreign clinicians (XCA class 60591-5), compiled at request
//! time: the block register first, NLL's patient and PDI's list of care providers, then every
//! provider not blocked (endpoint from NTK) and NLL's current prescriptions at once, merged and
//! de-duplicated, per-entry blocks applied, and written as eHDSI Wave 8 L3 and L1 by
//! `cda_fhir_transform`.
//!
//! The requester cannot tell a block from an absence: an opted-out or category-blocked patient
//! gets exactly what a patient without data gets (an empty list with the `1102` warning, and
//! `ERROR_GENERIC_DOCUMENT_MISSING` on retrieve); a blocked provider or entry is simply not in
//! the document. The audit trail gets the real reason ([`SummaryList::reason`]).
//!
//! A provider that does not answer in time, answers with an error or has no endpoint in NTK
//! leaves the summary incomplete: the document says so (eHDSI: the summary is marked as not
//! complete) and the audit trail names the providers. When nothing at all could be read, the
//! answer is an error, never an empty summary.
//!
//! Layers: [`fetch`] does the I/O, [`policy`] decides blocks, [`merge`] compiles; this file
//! orchestrates and maps to XDS metadata and documents.

pub mod fetch;
pub mod merge;
pub mod policy;

use cda_fhir_transform::to_cda::{PatientSummaryInput, PsAuthor, PsEntry, PsSection};
use chrono::{DateTime, Utc};
use ncp_types::{HsaId, Oid, PersonId};
use nll_adapter::{AdapterError, PrescriptionStatus};
use serde_json::Value;
use tokio::time::Instant;

use super::audit::reasons;
use super::{CountryA, Level, Refusal};
use crate::ihe::errors::EhdsiError;
use crate::ihe::metadata::{codes, DocumentEntry};
use crate::ihe::{Code, PatientIdentifier};
use crate::security::VerifiedCaller;

pub use fetch::{Missing, PsLimits};
pub use merge::Sourced;

/// A compiled summary, ready to be written.
#[derive(Clone)]
pub struct CompiledSummary {
    /// What the CDA writers take (`document_id` is the L3 id's extension).
    pub input: PatientSummaryInput,
    /// The sources whose records are missing, with why (the summary is then incomplete).
    pub missing: Vec<(String, &'static str)>,
    /// What the blocks left out, for the audit trail.
    pub blocked: Vec<String>,
}

impl std::fmt::Debug for CompiledSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSummary")
            .field("document_id", &self.input.document_id)
            .field("entries", &self.input.entries.len())
            .field("incomplete", &self.input.incomplete)
            .finish_non_exhaustive()
    }
}

impl CompiledSummary {
    /// The audit reason: incomplete sources and blocks applied, if any.
    pub fn reason(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            let m: Vec<String> = self
                .missing
                .iter()
                .map(|(s, why)| format!("{s} {why}"))
                .collect();
            parts.push(format!("{}: {}", reasons::INCOMPLETE, m.join(", ")));
        }
        parts.extend(self.blocked.iter().cloned());
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// What compiling gave.
#[derive(Debug, Clone)]
pub enum Compiled {
    Summary(Box<CompiledSummary>),
    /// No summary: to the requester exactly a patient without data. The reason is for the
    /// audit trail only.
    Nothing {
        reason: String,
    },
}

/// The answer to a Patient Summary list: the L3 and L1 entries, or none (a patient without
/// data, whatever the reason).
#[derive(Debug, Clone)]
pub struct SummaryList {
    pub entries: Vec<DocumentEntry>,
    /// For the audit trail only: a block, a missing source, "no data".
    pub reason: Option<String>,
}

/// A retrieved Patient Summary document.
#[derive(Clone)]
pub struct SummaryDocument {
    pub unique_id: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    pub level: Level,
    /// For the audit trail only (incomplete, blocks applied).
    pub reason: Option<String>,
}

impl std::fmt::Debug for SummaryDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryDocument")
            .field("unique_id", &self.unique_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The document unique id (`root^extension`) of a summary's rendition.
pub fn summary_document_id(document_root: &Oid, extension: &str, level: Level) -> String {
    match level {
        Level::L3 => format!("{document_root}^{extension}"),
        Level::L1 => format!("{document_root}^{extension}{}", super::rules::L1_SUFFIX),
    }
}

/// The summary extension and rendition a document unique id names, if it is one of our
/// Patient Summaries.
pub fn parse_summary_id(document_root: &Oid, unique_id: &str) -> Option<(String, Level)> {
    let (root, ext) = unique_id.trim().split_once('^')?;
    if root != document_root.as_str() {
        return None;
    }
    let (ext, level) = match ext.strip_suffix(super::rules::L1_SUFFIX) {
        Some(e) => (e, Level::L1),
        None => (ext, Level::L3),
    };
    merge::is_summary_extension(ext).then(|| (ext.to_owned(), level))
}

/// HL7 DTM (UTC) of a time.
fn hl7(t: DateTime<Utc>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// The eHDSI list entries of a summary: the L3 (`urn:epSOS:ps:ps:2010`) and its L1 PDF
/// rendition (`urn:ihe:iti:xds-sd:pdf:2008`, an XFRM of the L3).
pub fn summary_entries(
    settings: &super::EntrySettings,
    patient: &PatientIdentifier,
    summary: &CompiledSummary,
) -> [DocumentEntry; 2] {
    let class = Code::new(
        codes::CLASS_PATIENT_SUMMARY,
        codes::LOINC,
        "Patient Summary",
    );
    let ext = &summary.input.document_id;
    let l3_id = summary_document_id(&settings.document_root, ext, Level::L3);
    let l1_id = summary_document_id(&settings.document_root, ext, Level::L1);
    let l3 = DocumentEntry {
        entry_uuid: super::rules::entry_uuid(&l3_id),
        unique_id: l3_id,
        repository_unique_id: settings.repository_unique_id.clone(),
        home_community_id: settings.home_community_id.clone(),
        patient: patient.clone(),
        class_code: class.clone(),
        type_code: class,
        format_code: Code::new(
            codes::FORMAT_PATIENT_SUMMARY,
            codes::FORMAT_SCHEME_EHDSI,
            "epSOS coded Patient Summary",
        ),
        confidentiality_code: Code::new("N", codes::CONFIDENTIALITY_SCHEME, "Normal"),
        healthcare_facility_type: None,
        practice_setting: None,
        language_code: "sv-SE".into(),
        mime_type: "text/xml".into(),
        creation_time: hl7(summary.input.effective_time),
        title: "Patient Summary".into(),
        description: None,
        size: None,
        hash: None,
        author_person: None,
        reference_ids: Vec::new(),
        eprescription: None,
        transformation_of: None,
    };
    let l1 = DocumentEntry {
        entry_uuid: super::rules::entry_uuid(&l1_id),
        unique_id: l1_id,
        format_code: Code::new(codes::FORMAT_PDF, codes::FORMAT_SCHEME_IHE_PCC, "PDF"),
        title: "Patient Summary (PDF)".into(),
        transformation_of: Some(l3.entry_uuid.clone()),
        ..l3.clone()
    };
    [l3, l1]
}

fn unavailable(service: &'static str, e: &AdapterError) -> Refusal {
    tracing::warn!(
        service,
        error = e.kind(),
        "patient summary: a national service failed"
    );
    Refusal::new(EhdsiError::ErrorPsGeneric).because(match service {
        "nsr" => "block register unavailable",
        "pdi" => "PDI unavailable",
        _ => "NLL unavailable",
    })
}

fn timed_out(service: &'static str) -> Refusal {
    unavailable(service, &AdapterError::Timeout)
}

impl CountryA {
    /// The time limits of compiling a summary.
    pub fn with_ps_limits(mut self, limits: PsLimits) -> Self {
        self.ps_limits = limits;
        self
    }

    /// Compiles the Patient Summary of `person` now. `Err` when it cannot be known what may be
    /// shared (block register, NLL or PDI unavailable) or nothing at all could be read.
    pub async fn compile_patient_summary(&self, person: &PersonId) -> Result<Compiled, Refusal> {
        let deadline = Instant::now() + self.ps_limits.overall;
        // Blocks, patient and providers at once; the decision once all three answered, so a
        // blocked patient takes the same round trips as another.
        let (blocks, patient, listings) = tokio::join!(
            tokio::time::timeout_at(deadline, self.clients.nsr.blocks(&self.ctx, person)),
            tokio::time::timeout_at(deadline, self.clients.nll.patient(&self.ctx, person)),
            tokio::time::timeout_at(deadline, self.clients.pdi.providers(&self.ctx, person)),
        );
        let blocks = blocks
            .map_err(|_| timed_out("nsr"))?
            .map_err(|e| unavailable("nsr", &e))?;
        if let Err(w) = policy::summary_allowed(&blocks) {
            return Ok(Compiled::Nothing {
                reason: w.reason().to_owned(),
            });
        }
        let patient = patient
            .map_err(|_| timed_out("nll"))?
            .map_err(|e| unavailable("nll", &e))?;
        let Some(patient) = patient else {
            return Ok(Compiled::Nothing {
                reason: reasons::UNKNOWN_PATIENT.to_owned(),
            });
        };
        let listings = listings
            .map_err(|_| timed_out("pdi"))?
            .map_err(|e| unavailable("pdi", &e))?;

        let mut blocked = Vec::new();
        let (allowed, refused): (Vec<_>, Vec<_>) = listings
            .into_iter()
            .partition(|l| policy::provider_allowed(&blocks, &l.hsa_id));
        if !refused.is_empty() {
            let ids: Vec<&str> = refused.iter().map(|l| l.hsa_id.as_str()).collect();
            blocked.push(format!("{}: {}", reasons::BLOCKED_PROVIDER, ids.join(", ")));
        }

        let (from_providers, prescriptions) = tokio::join!(
            fetch::providers(
                &self.clients,
                &self.ctx,
                person,
                &allowed,
                self.ps_limits,
                deadline
            ),
            tokio::time::timeout_at(
                deadline,
                self.clients.nll.prescriptions_with_status(
                    &self.ctx,
                    person,
                    &[PrescriptionStatus::Active]
                )
            ),
        );

        let mut missing: Vec<(String, &'static str)> = Vec::new();
        let mut sources: Vec<Sourced> = Vec::new();
        let mut entry_blocks = 0usize;
        let mut nll_blocked = 0usize;
        match prescriptions {
            Ok(Ok(bundle)) => {
                let fallback = PsAuthor {
                    hsa_id: self.ctx.caller.clone(),
                    name: "Nationella läkemedelslistan".into(),
                };
                for s in merge::nll_medications(&bundle, Utc::now().date_naive(), &fallback) {
                    if !policy::provider_allowed(&blocks, &s.author.hsa_id) {
                        nll_blocked += 1;
                    } else if policy::entry_blocked(
                        &blocks,
                        &s.author.hsa_id,
                        &merge::nll_origin(&s.resource),
                    ) {
                        entry_blocks += 1;
                    } else {
                        sources.push(s);
                    }
                }
            }
            Ok(Err(e)) => missing.push(("NLL".into(), e.kind())),
            Err(_) => missing.push(("NLL".into(), Missing::Timeout.as_str())),
        }
        for p in from_providers {
            match p.records {
                Ok(records) => {
                    for r in records {
                        if policy::entry_blocked(&blocks, &p.author.hsa_id, &r) {
                            entry_blocks += 1;
                        } else {
                            sources.push(Sourced {
                                author: p.author.clone(),
                                resource: r,
                            });
                        }
                    }
                }
                Err(m) => missing.push((p.author.hsa_id.as_str().to_owned(), m.as_str())),
            }
        }
        if nll_blocked > 0 {
            blocked.push(format!(
                "{}: {nll_blocked} NLL prescription(s)",
                reasons::BLOCKED_PROVIDER
            ));
        }
        if entry_blocks > 0 {
            blocked.push(format!(
                "{}: {entry_blocks} entry(ies)",
                reasons::BLOCKED_ENTRY
            ));
        }

        let entries: Vec<(PsSection, PsEntry)> = merge::compile(sources);
        if entries.is_empty() {
            if !missing.is_empty() {
                // Nothing read, and not everything answered: never an empty summary.
                return Err(Refusal::new(EhdsiError::ErrorPsGeneric).because("no source answered"));
            }
            let mut reason = vec![reasons::NO_DATA.to_owned()];
            reason.extend(blocked);
            return Ok(Compiled::Nothing {
                reason: reason.join("; "),
            });
        }
        let incomplete = !missing.is_empty();
        let document_id = merge::document_extension(&patient, &entries, incomplete);
        let effective_time = merge::effective_time(&entries).unwrap_or_else(Utc::now);
        Ok(Compiled::Summary(Box::new(CompiledSummary {
            input: PatientSummaryInput {
                patient,
                entries,
                incomplete,
                document_id,
                effective_time,
            },
            missing,
            blocked,
        })))
    }

    /// XCA list of the Patient Summary: its L3 and L1 entries, or none for a patient without
    /// data, opted out or blocked alike.
    pub async fn list_patient_summary(
        &self,
        _caller: &VerifiedCaller,
        patient: &PatientIdentifier,
    ) -> Result<SummaryList, Refusal> {
        let Ok(person) = patient.person_id() else {
            return Ok(SummaryList {
                entries: Vec::new(),
                reason: Some(reasons::NOT_SWEDISH.to_owned()),
            });
        };
        match self.compile_patient_summary(&person).await? {
            Compiled::Nothing { reason } => Ok(SummaryList {
                entries: Vec::new(),
                reason: Some(reason),
            }),
            Compiled::Summary(s) => Ok(SummaryList {
                entries: summary_entries(&self.entries, patient, &s).into(),
                reason: s.reason(),
            }),
        }
    }

    /// XCA retrieve of a Patient Summary `unique_id` the list gave: compiled again; when the
    /// patient's data changed since (another id), or there is no summary, the document is
    /// missing.
    pub async fn retrieve_patient_summary(
        &self,
        _caller: &VerifiedCaller,
        patient: &PatientIdentifier,
        unique_id: &str,
    ) -> Result<SummaryDocument, Refusal> {
        let missing = EhdsiError::ErrorDocumentMissing;
        let (ext, level) = parse_summary_id(&self.entries.document_root, unique_id)
            .ok_or(Refusal::new(missing))?;
        let person = patient.person_id().map_err(|_| Refusal::new(missing))?;
        let summary = match self.compile_patient_summary(&person).await? {
            Compiled::Summary(s) => s,
            Compiled::Nothing { .. } => {
                return Err(Refusal::new(missing).because("no patient summary"));
            }
        };
        if summary.input.document_id != ext {
            return Err(Refusal::new(missing).because("the summary changed since it was listed"));
        }
        let mut opts = self.cda.clone();
        opts.now = summary.input.effective_time.fixed_offset();
        let written = match level {
            Level::L3 => cda_fhir_transform::to_cda::patient_summary_l3(&summary.input, &opts),
            Level::L1 => cda_fhir_transform::to_cda::patient_summary_l1(&summary.input, &opts),
        };
        let xml = written.map_err(|e| {
            tracing::warn!(error = %e, "Patient Summary could not be written");
            Refusal::new(EhdsiError::ErrorPsGeneric).because("the CDA writer failed")
        })?;
        Ok(SummaryDocument {
            unique_id: summary_document_id(&self.entries.document_root, &ext, level),
            mime_type: "text/xml".into(),
            bytes: xml.into_bytes(),
            level,
            reason: summary.reason(),
        })
    }
}

/// The HSA-ids of the providers whose records are missing from `summary`.
pub fn missing_providers(summary: &CompiledSummary) -> Vec<HsaId> {
    summary
        .missing
        .iter()
        .filter_map(|(s, _)| HsaId::parse(s).ok())
        .collect()
}

/// The resources of a summary (for tests and the benchmark).
pub fn resources(summary: &CompiledSummary) -> impl Iterator<Item = &Value> {
    summary.input.entries.iter().map(|(_, e)| &e.resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_ids_map_back() {
        let root = Oid::parse("1.2.752.129.2.1.99.2.1").unwrap();
        let ext = "ps-0123456789abcdef0123456789abcdef";
        let l3 = summary_document_id(&root, ext, Level::L3);
        let l1 = summary_document_id(&root, ext, Level::L1);
        assert_eq!(l1, format!("{l3}.L1"));
        assert_eq!(
            parse_summary_id(&root, &l3),
            Some((ext.to_owned(), Level::L3))
        );
        assert_eq!(
            parse_summary_id(&root, &l1),
            Some((ext.to_owned(), Level::L1))
        );
        assert_eq!(
            parse_summary_id(&root, "1.2.752.129.2.1.99.2.1^rx-p01-01"),
            None
        );
        assert_eq!(parse_summary_id(&root, &format!("1.2.3^{ext}")), None);
    }
}
