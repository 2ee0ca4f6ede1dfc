//! Patient Summary L3 sections and entries -> [`PsSection`] / [`PsEntry`].
//!
//! Tolerant by entry: an entry that cannot be read (a code system that is not an OID, a
//! malformed date) is left out with a warning naming the element, so one country's slip in
//! one entry does not cost the clinician the whole summary. The section and its narrative
//! are always kept.

use super::*;

/// What a section holds, from its LOINC code (eHDSI PS Wave 8 section codes).
fn section_kind(code: Option<&str>) -> Option<PsEntryKind> {
    Some(match code? {
        "48765-2" => PsEntryKind::Allergy,
        "10160-0" => PsEntryKind::Medication,
        "11450-4" => PsEntryKind::Problem,
        "11348-0" => PsEntryKind::PastProblem,
        "47519-4" => PsEntryKind::Procedure,
        "46264-8" => PsEntryKind::Device,
        "11369-6" => PsEntryKind::Immunization,
        "30954-2" | "8716-3" | "10162-6" | "29762-2" | "47420-5" => PsEntryKind::Observation,
        _ => return None,
    })
}

impl<'d> Reader<'d, '_> {
    pub(super) fn ps_sections(&self, body: NodeId, warnings: &mut Vec<String>) -> Vec<PsSection> {
        let dom = self.dom;
        let mut out = Vec::new();
        for comp in dom.children_named(body, "component") {
            for section in dom.children_named(comp, "section") {
                out.push(self.ps_section(section, warnings));
            }
        }
        out
    }

    fn ps_section(&self, section: NodeId, warnings: &mut Vec<String>) -> PsSection {
        let dom = self.dom;
        let code = match self.code_child(section, "code") {
            Ok(c) => c,
            Err(e) => {
                warnings.push(format!("section code ignored: {e}"));
                None
            }
        };
        let kind = section_kind(code.as_ref().map(|c| c.code.as_str()));
        let mut s = PsSection {
            title: dom
                .child(section, "title")
                .map(|t| dom.deep_text(t))
                .filter(|t| !t.is_empty()),
            text: dom
                .child(section, "text")
                .map(|t| dom.deep_text(t))
                .filter(|t| !t.is_empty()),
            code,
            entries: Vec::new(),
        };
        let Some(kind) = kind else {
            return s;
        };
        for entry in dom.children_named(section, "entry") {
            for statement in dom.children(entry) {
                let read = match dom.name(statement) {
                    "act"
                    | "observation"
                    | "substanceAdministration"
                    | "procedure"
                    | "supply"
                    | "organizer" => self.ps_statements(kind, statement, &mut s.entries),
                    _ => Ok(()),
                };
                if let Err(e) = read {
                    tracing::warn!(error = %e, "Patient Summary entry left out");
                    warnings.push(format!("entry left out: {e}"));
                }
            }
        }
        s
    }

    /// One entry's statement(s): an organizer contributes each component observation.
    fn ps_statements(
        &self,
        kind: PsEntryKind,
        n: NodeId,
        out: &mut Vec<PsEntry>,
    ) -> Result<(), FromCdaError> {
        let dom = self.dom;
        if dom.name(n) == "organizer" {
            for c in dom.children_named(n, "component") {
                for o in dom.children_named(c, "observation") {
                    out.push(self.ps_observation(kind, o)?);
                }
            }
            return Ok(());
        }
        // Problems and allergies are concern acts around the observation.
        if dom.name(n) == "act"
            && matches!(
                kind,
                PsEntryKind::Allergy | PsEntryKind::Problem | PsEntryKind::PastProblem
            )
        {
            let mut found = false;
            // The concern's subject observation(s) (typeCode SUBJ), else any observation.
            let subj: Vec<NodeId> = dom
                .children_named(n, "entryRelationship")
                .filter(|er| dom.attr_trim(*er, "typeCode") == Some("SUBJ"))
                .collect();
            let relationships: Vec<NodeId> = if subj.is_empty() {
                dom.children_named(n, "entryRelationship").collect()
            } else {
                subj
            };
            for er in relationships {
                for o in dom.children_named(er, "observation") {
                    let mut e = self.ps_observation(kind, o)?;
                    if e.status.is_none() {
                        e.status = dom
                            .child(n, "statusCode")
                            .and_then(|s| dom.attr_trim(s, "code"))
                            .map(str::to_owned);
                    }
                    if e.id.is_none() {
                        e.id = match dom.child(n, "id") {
                            Some(i) => self.instance_id(i)?,
                            None => None,
                        };
                    }
                    out.push(e);
                    found = true;
                }
            }
            if !found {
                out.push(self.ps_observation(kind, n)?);
            }
            return Ok(());
        }
        out.push(self.ps_observation(kind, n)?);
        Ok(())
    }

    /// Any clinical statement: what the FHIR resources need of it.
    fn ps_observation(&self, kind: PsEntryKind, n: NodeId) -> Result<PsEntry, FromCdaError> {
        let dom = self.dom;
        let mut e = PsEntry {
            kind: Some(kind),
            id: match dom.child(n, "id") {
                Some(i) => self.instance_id(i)?,
                None => None,
            },
            code: self.code_child(n, "code")?,
            status: dom
                .child(n, "statusCode")
                .and_then(|s| dom.attr_trim(s, "code"))
                .map(str::to_owned),
            negated: dom.attr(n, "negationInd").map(str::trim) == Some("true"),
            ..PsEntry::default()
        };
        if let Some(t) = dom.child(n, "text") {
            e.text = self.referenced_text(t);
        }
        if e.text.is_none() {
            // The code's originalText (a reference into the narrative, or text).
            e.text = dom
                .child(n, "code")
                .and_then(|c| dom.child(c, "originalText"))
                .and_then(|t| self.referenced_text(t));
        }
        for et in dom.children_named(n, "effectiveTime") {
            let ty = dom.attr(et, "type").unwrap_or("");
            if ty.ends_with("PIVL_TS") || dom.child(et, "period").is_some() {
                continue;
            }
            if let Some(p) = self.period(et)? {
                e.period = Some(p);
                break;
            }
        }
        if let Some(v) = dom.child(n, "value") {
            if !is_null(dom, v) || dom.child(v, "translation").is_some() {
                let ty = dom.attr(v, "type").unwrap_or("");
                if ty.ends_with("PQ") {
                    e.value_quantity = self.quantity(v)?;
                } else if ty.ends_with("ST") || ty.ends_with("ED") {
                    e.value_text = Some(dom.deep_text(v)).filter(|t| !t.is_empty());
                } else {
                    e.value = self.code(v)?;
                    if e.value.is_none() {
                        e.value_text = dom
                            .child(v, "originalText")
                            .and_then(|t| self.referenced_text(t));
                    }
                }
            }
        }
        match kind {
            PsEntryKind::Allergy => {
                e.agent = self.playing(n, "playingEntity")?;
                for er in dom.children_named(n, "entryRelationship") {
                    if dom.attr_trim(er, "typeCode") != Some("MFST") {
                        continue;
                    }
                    for o in dom.children_named(er, "observation") {
                        if let Some(c) = self.code_child(o, "value")? {
                            e.reactions.push(c);
                        }
                    }
                }
            }
            PsEntryKind::Device => {
                e.agent = self.playing(n, "playingDevice")?;
            }
            PsEntryKind::Medication | PsEntryKind::Immunization
                if dom.name(n) == "substanceAdministration" =>
            {
                e.product = self.consumable_product(n, "consumable")?;
                // Why it is taken (entryRelationship RSON: the problem it treats).
                for er in dom.children_named(n, "entryRelationship") {
                    if dom.attr_trim(er, "typeCode") != Some("RSON") {
                        continue;
                    }
                    for o in dom.children_named(er, "observation") {
                        if let Some(c) = self.code_child(o, "value")? {
                            e.reasons.push(c);
                        }
                    }
                }
                e.route = self.code_child(n, "routeCode")?;
                e.dose = match dom.child(n, "doseQuantity") {
                    Some(d) if !is_null(dom, d) => match dom.child(d, "low") {
                        Some(l) => self.quantity(l)?.map(DoseQuantity::Single),
                        None => self.quantity(d)?.map(DoseQuantity::Single),
                    },
                    _ => None,
                };
            }
            _ => {}
        }
        Ok(e)
    }

    /// `participant/participantRole/{playing}/code`: the allergen or the device.
    fn playing(&self, n: NodeId, playing: &str) -> Result<Option<Code>, FromCdaError> {
        let dom = self.dom;
        for p in dom.children_named(n, "participant") {
            if let Some(thing) = dom.descend(p, &["participantRole", playing]) {
                if let Some(c) = self.code_child(thing, "code")? {
                    return Ok(Some(c));
                }
            }
        }
        Ok(None)
    }
}
