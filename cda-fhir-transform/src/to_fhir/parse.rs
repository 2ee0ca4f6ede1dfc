//! XML -> [`CdaDocument`]: reads the element tree into the typed model.
//!
//! Tolerant where the world varies (element order, `epsos:`/`pharm:`/HL7 namespaces for the
//! medication extension, Wave 7 `containerPackagedMedicine`/`capacityQuantity`, missing optional
//! parts), strict where a value cannot be represented faithfully (a code system that is not an
//! OID, a malformed timestamp, a document without a patient id).

use ncp_types::{CountryCode, Oid};

use super::cda_model::*;
use super::dom::{Dom, NodeId};
use super::{FromCdaError, ReaderLimits};

mod patient_summary;

/// Parses `xml` into the typed model.
pub fn parse_document(xml: &str, limits: &ReaderLimits) -> Result<CdaDocument, FromCdaError> {
    let dom = Dom::parse(xml, limits)?;
    Reader::new(&dom).document()
}

/// Finds the document kind without building the model (the element tree is still parsed).
pub(crate) fn detect(dom: &Dom<'_>) -> Result<DocumentKind, FromCdaError> {
    Reader::new(dom).kind()
}

struct Reader<'d, 'a> {
    dom: &'d Dom<'a>,
    /// OIDs already parsed in this document (a document names a handful of code systems and
    /// id roots over and over): `(as written, parsed)`.
    oids: std::cell::RefCell<Vec<(&'d str, Oid)>>,
}

impl<'d, 'a> Reader<'d, 'a> {
    fn new(dom: &'d Dom<'a>) -> Self {
        Reader {
            dom,
            oids: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// [`Oid::parse`], remembered for the document.
    fn oid(&self, s: &'d str) -> Option<Oid> {
        let mut seen = self.oids.borrow_mut();
        if let Some((_, o)) = seen.iter().find(|(w, _)| *w == s) {
            return Some(o.clone());
        }
        let o = Oid::parse(s).ok()?;
        if seen.len() < 64 {
            seen.push((s, o.clone()));
        }
        Some(o)
    }
}

fn is_null(dom: &Dom<'_>, n: NodeId) -> bool {
    dom.attr(n, "nullFlavor").is_some()
}

impl<'d> Reader<'d, '_> {
    fn missing(&self, at: NodeId, what: &'static str) -> FromCdaError {
        FromCdaError::Missing {
            at: self.dom.path(at),
            what,
        }
    }

    fn invalid(
        &self,
        at: NodeId,
        attr: &str,
        value: Option<&str>,
        reason: &'static str,
    ) -> FromCdaError {
        FromCdaError::Invalid {
            at: format!("{}/@{attr}", self.dom.path(at)),
            value: value.map(|v| v.chars().take(80).collect()),
            reason,
        }
    }

    fn kind(&self) -> Result<DocumentKind, FromCdaError> {
        let dom = self.dom;
        let root = dom.root();
        if !dom.is(root, "ClinicalDocument") {
            return Err(FromCdaError::NotCda {
                found: dom.name(root).chars().take(80).collect(),
            });
        }
        let mut found = Vec::new();
        for t in dom.children_named(root, "templateId") {
            if let Some(r) = dom.attr_trim(t, "root") {
                if let Some(k) = DocumentKind::from_template(r) {
                    return Ok(k);
                }
                found.push(r.chars().take(80).collect());
            }
        }
        Err(FromCdaError::UnknownTemplate {
            at: "/ClinicalDocument/templateId".into(),
            found,
        })
    }

    fn document(&self) -> Result<CdaDocument, FromCdaError> {
        let dom = self.dom;
        let kind = self.kind()?;
        let root = dom.root();
        let id_node = dom
            .child(root, "id")
            .ok_or_else(|| self.missing(root, "id (the document id)"))?;
        let id = self
            .instance_id(id_node)?
            .ok_or_else(|| self.missing(id_node, "@root (the document id)"))?;
        let set_id = match dom.child(root, "setId") {
            Some(n) => self.instance_id(n)?,
            None => None,
        };
        let code = match dom.child(root, "code") {
            Some(n) => self.code(n)?,
            None => None,
        };
        let title = dom
            .child(root, "title")
            .map(|n| dom.deep_text(n))
            .filter(|s| !s.is_empty());
        let effective_time = self.ts_child(root, "effectiveTime")?;
        let language = dom
            .child(root, "languageCode")
            .and_then(|n| dom.attr_trim(n, "code"))
            .map(str::to_owned);
        let patient = self.patient(root)?;
        let author = match dom.child(root, "author") {
            Some(a) => self.author(a)?,
            None => None,
        };
        let custodian = match dom.descend(
            root,
            &[
                "custodian",
                "assignedCustodian",
                "representedCustodianOrganization",
            ],
        ) {
            Some(o) => Some(self.organization(o)?),
            None => None,
        };
        let mut in_fulfillment_of = Vec::new();
        for f in dom.children_named(root, "inFulfillmentOf") {
            if let Some(order) = dom.child(f, "order") {
                for i in dom.children_named(order, "id") {
                    if let Some(id) = self.instance_id(i)? {
                        in_fulfillment_of.push(id);
                    }
                }
            }
        }
        let mut related = Vec::new();
        for r in dom.children_named(root, "relatedDocument") {
            let type_code = dom.attr_trim(r, "typeCode").unwrap_or("").to_owned();
            if let Some(p) = dom.child(r, "parentDocument") {
                for i in dom.children_named(p, "id") {
                    if let Some(id) = self.instance_id(i)? {
                        related.push((type_code.clone(), id));
                    }
                }
            }
        }

        let mut doc = CdaDocument {
            kind,
            id,
            set_id,
            code,
            title,
            effective_time,
            language,
            patient,
            author,
            custodian,
            in_fulfillment_of,
            related,
            prescriptions: Vec::new(),
            dispensations: Vec::new(),
            sections: Vec::new(),
            warnings: Vec::new(),
            non_xml_body: None,
        };

        let body = dom.child(root, "component");
        if let Some(nx) = body.and_then(|c| dom.child(c, "nonXMLBody")) {
            doc.non_xml_body = Some(self.non_xml_body(nx)?);
        }
        if let Some(sb) = body.and_then(|c| dom.child(c, "structuredBody")) {
            match kind {
                DocumentKind::EPrescriptionL3 => {
                    for sa in self.entries(sb, "substanceAdministration") {
                        doc.prescriptions.push(self.prescription_item(sa)?);
                    }
                }
                DocumentKind::EDispensation => {
                    for s in self.entries(sb, "supply") {
                        doc.dispensations.push(self.dispense_item(s)?);
                    }
                }
                DocumentKind::PatientSummaryL3 => {
                    doc.sections = self.ps_sections(sb, &mut doc.warnings);
                }
                _ => {}
            }
        }
        Ok(doc)
    }

    /// `structuredBody/component/section/entry/{name}` (also with the entry's templateId in
    /// front, as some countries write it), in document order.
    fn entries(&self, body: NodeId, name: &'static str) -> Vec<NodeId> {
        let dom = self.dom;
        let mut out = Vec::new();
        for comp in dom.children_named(body, "component") {
            for section in dom.children_named(comp, "section") {
                for entry in dom.children_named(section, "entry") {
                    out.extend(dom.children_named(entry, name));
                }
            }
        }
        out
    }

    // ----- data types -------------------------------------------------------------------

    fn oid_attr(&self, n: NodeId, attr: &str) -> Result<Option<Oid>, FromCdaError> {
        match self.dom.attr_trim(n, attr) {
            None => Ok(None),
            Some(v) => self
                .oid(v)
                .map(Some)
                .ok_or_else(|| self.invalid(n, attr, Some(v), "not an OID")),
        }
    }

    /// II. `None` for a nullFlavor or an id without root. A root that is not an OID is kept
    /// only if it is a UUID (some countries use them); anything else is rejected.
    fn instance_id(&self, n: NodeId) -> Result<Option<InstanceId>, FromCdaError> {
        let dom = self.dom;
        let Some(root) = dom.attr_trim(n, "root") else {
            return Ok(None);
        };
        let root = match self.oid(root) {
            Some(o) => o,
            None => match uuid_to_oid(root) {
                Some(o) => o,
                None => return Err(self.invalid(n, "root", None, "not an OID or UUID")),
            },
        };
        let extension = dom.attr_trim(n, "extension").map(str::to_owned);
        Ok(Some(InstanceId { root, extension }))
    }

    /// CD/CE/CV. `None` for a nullFlavor, or a code without @code. A @codeSystem that is not an
    /// OID is an error: such a code cannot be carried into FHIR faithfully.
    fn code(&self, n: NodeId) -> Result<Option<Code>, FromCdaError> {
        let dom = self.dom;
        // The element's own code system first, so an error names the element itself.
        let own_system = self.oid_attr(n, "codeSystem")?;
        let mut translations = Vec::new();
        for t in dom.children_named(n, "translation") {
            if let Some(c) = self.code(t)? {
                translations.push(c);
            }
        }
        let Some(code) = dom.attr_trim(n, "code") else {
            // A null code may still carry translations (nullFlavor OTH + translation):
            // promote the first translation.
            if let Some(mut first) = (!translations.is_empty()).then(|| translations.remove(0)) {
                first.translations.extend(translations);
                return Ok(Some(first));
            }
            return Ok(None);
        };
        let Some(code_system) = own_system else {
            tracing::debug!(at = %dom.path(n), "code without codeSystem ignored");
            return Ok(None);
        };
        Ok(Some(Code {
            code: code.to_owned(),
            code_system,
            code_system_name: dom.attr_trim(n, "codeSystemName").map(str::to_owned),
            display: dom.attr_trim(n, "displayName").map(str::to_owned),
            translations,
        }))
    }

    fn code_child(&self, n: NodeId, name: &str) -> Result<Option<Code>, FromCdaError> {
        match self.dom.child(n, name) {
            Some(c) => self.code(c),
            None => Ok(None),
        }
    }

    /// PQ. `None` for a nullFlavor or a missing value.
    fn quantity(&self, n: NodeId) -> Result<Option<Quantity>, FromCdaError> {
        let dom = self.dom;
        if is_null(dom, n) {
            return Ok(None);
        }
        let Some(v) = dom.attr_trim(n, "value") else {
            return Ok(None);
        };
        let value = Decimal::parse(v)
            .ok_or_else(|| self.invalid(n, "value", Some(v), "not a decimal number"))?;
        let unit = dom.attr_trim(n, "unit").unwrap_or("1").to_owned();
        Ok(Some(Quantity { value, unit }))
    }

    fn ts(&self, n: NodeId) -> Result<Option<Timestamp>, FromCdaError> {
        let dom = self.dom;
        if is_null(dom, n) {
            return Ok(None);
        }
        match dom.attr_trim(n, "value") {
            None => Ok(None),
            // Timestamps may be patient data (birthTime): never echoed.
            Some(v) => parse_ts(v).map(Some).ok_or_else(|| {
                self.invalid(
                    n,
                    "value",
                    None,
                    "not an HL7 timestamp (YYYYMMDD[HHMM[SS]][+ZZZZ])",
                )
            }),
        }
    }

    fn ts_child(&self, n: NodeId, name: &str) -> Result<Option<Timestamp>, FromCdaError> {
        match self.dom.child(n, name) {
            Some(c) => self.ts(c),
            None => Ok(None),
        }
    }

    /// An IVL_TS (`low`/`high`), or a single TS, as a Period; `None` when it holds neither.
    fn period(&self, et: NodeId) -> Result<Option<Period>, FromCdaError> {
        let start = self.ts_child(et, "low")?;
        let end = self.ts_child(et, "high")?;
        let single = if start.is_none() && end.is_none() {
            self.ts(et)?
        } else {
            None
        };
        let p = Period {
            start: start.or(single),
            end,
        };
        Ok((p.start.is_some() || p.end.is_some()).then_some(p))
    }

    fn name(&self, n: NodeId) -> Option<PersonName> {
        let dom = self.dom;
        if is_null(dom, n) {
            return None;
        }
        let mut name = PersonName::default();
        for c in dom.children(n) {
            let text = dom.deep_text(c);
            if text.is_empty() || is_null(dom, c) {
                continue;
            }
            match dom.name(c) {
                "family" => name.family.push(text),
                "given" => name.given.push(text),
                "prefix" => name.prefix.push(text),
                "suffix" => name.suffix.push(text),
                _ => {}
            }
        }
        if name == PersonName::default() {
            let whole = dom.deep_text(n);
            if whole.is_empty() {
                return None;
            }
            name.family.push(whole);
        }
        Some(name)
    }

    fn address(&self, n: NodeId) -> Option<Address> {
        let dom = self.dom;
        if is_null(dom, n) {
            return None;
        }
        let mut a = Address::default();
        for c in dom.children(n) {
            if is_null(dom, c) {
                continue;
            }
            let text = dom.deep_text(c);
            if text.is_empty() {
                continue;
            }
            match dom.name(c) {
                "streetAddressLine" | "postBox" | "houseNumber" | "streetName" => {
                    a.lines.push(text)
                }
                "city" => a.city = Some(text),
                "postalCode" => a.postal_code = Some(text),
                "state" => a.state = Some(text),
                "country" => {
                    a.country = CountryCode::parse(&text).ok();
                    a.country_text = Some(text);
                }
                _ => {}
            }
        }
        (a != Address::default()).then_some(a)
    }

    fn telecoms(&self, n: NodeId) -> Vec<Telecom> {
        let dom = self.dom;
        dom.children_named(n, "telecom")
            .filter_map(|t| {
                let v = dom.attr_trim(t, "value")?;
                let (kind, value) = if let Some(x) = v.strip_prefix("tel:") {
                    (TelecomKind::Phone, x)
                } else if let Some(x) = v.strip_prefix("mailto:") {
                    (TelecomKind::Email, x)
                } else if let Some(x) = v.strip_prefix("fax:") {
                    (TelecomKind::Fax, x)
                } else {
                    (TelecomKind::Url, v)
                };
                let value = value.trim();
                (!value.is_empty()).then(|| Telecom {
                    kind,
                    value: value.to_owned(),
                })
            })
            .collect()
    }

    fn ids(&self, n: NodeId) -> Result<Vec<InstanceId>, FromCdaError> {
        let mut out = Vec::new();
        for i in self.dom.children_named(n, "id") {
            if let Some(id) = self.instance_id(i)? {
                out.push(id);
            }
        }
        Ok(out)
    }

    // ----- participants ------------------------------------------------------------------

    fn patient(&self, root: NodeId) -> Result<Patient, FromCdaError> {
        let dom = self.dom;
        let rt = dom
            .child(root, "recordTarget")
            .ok_or_else(|| self.missing(root, "recordTarget (the patient)"))?;
        let role = dom
            .child(rt, "patientRole")
            .ok_or_else(|| self.missing(rt, "patientRole"))?;
        let ids = self.ids(role)?;
        if ids.is_empty() {
            return Err(self.missing(role, "id with @root (the patient identifier)"));
        }
        let p = dom.child(role, "patient");
        let names = p
            .map(|p| {
                dom.children_named(p, "name")
                    .filter_map(|n| self.name(n))
                    .collect()
            })
            .unwrap_or_default();
        let gender = p
            .and_then(|p| dom.child(p, "administrativeGenderCode"))
            .and_then(|g| dom.attr_trim(g, "code"))
            .and_then(|c| match c {
                "M" => Some(Gender::Male),
                "F" => Some(Gender::Female),
                "UN" => Some(Gender::Undifferentiated),
                _ => None,
            });
        let birth = match p {
            Some(p) => self.ts_child(p, "birthTime")?,
            None => None,
        };
        Ok(Patient {
            ids,
            names,
            gender,
            birth,
            address: dom.child(role, "addr").and_then(|a| self.address(a)),
            telecoms: self.telecoms(role),
        })
    }

    fn organization(&self, n: NodeId) -> Result<Organization, FromCdaError> {
        let dom = self.dom;
        Ok(Organization {
            ids: self.ids(n)?,
            name: dom
                .child(n, "name")
                .map(|x| dom.deep_text(x))
                .filter(|s| !s.is_empty()),
            address: dom.child(n, "addr").and_then(|a| self.address(a)),
            telecoms: self.telecoms(n),
        })
    }

    /// An `author` (assignedAuthor) or a `performer` (assignedEntity).
    fn author(&self, a: NodeId) -> Result<Option<Professional>, FromCdaError> {
        let dom = self.dom;
        let Some(role) = dom
            .child(a, "assignedAuthor")
            .or_else(|| dom.child(a, "assignedEntity"))
        else {
            return Ok(None);
        };
        let person = dom
            .child(role, "assignedPerson")
            .filter(|p| !is_null(dom, *p));
        let organization = match dom.child(role, "representedOrganization") {
            Some(o) if !is_null(dom, o) => Some(self.organization(o)?),
            _ => None,
        };
        Ok(Some(Professional {
            ids: self.ids(role)?,
            name: person
                .and_then(|p| dom.child(p, "name"))
                .and_then(|n| self.name(n)),
            function: self
                .code_child(a, "functionCode")?
                .or(self.code_child(role, "code")?),
            time: self.ts_child(a, "time")?,
            address: dom.child(role, "addr").and_then(|x| self.address(x)),
            telecoms: self.telecoms(role),
            organization,
        }))
    }

    // ----- medication ----------------------------------------------------------------------

    fn ratio(&self, n: NodeId) -> Result<Option<Ratio>, FromCdaError> {
        let dom = self.dom;
        let num = match dom.child(n, "numerator") {
            Some(x) => self.quantity(x)?,
            None => None,
        };
        let den = match dom.child(n, "denominator") {
            Some(x) => self.quantity(x)?,
            None => None,
        };
        Ok(match (num, den) {
            (Some(numerator), Some(denominator)) => Some(Ratio {
                numerator,
                denominator,
            }),
            (Some(numerator), None) => Some(Ratio {
                numerator,
                denominator: Quantity {
                    value: Decimal("1".into()),
                    unit: "1".into(),
                },
            }),
            _ => None,
        })
    }

    /// manufacturedMaterial (or a partProduct).
    fn product(&self, m: NodeId, depth: usize) -> Result<Product, FromCdaError> {
        let dom = self.dom;
        let mut p = Product::default();
        let mut codes = Vec::new();
        for c in dom.children_named(m, "code") {
            if let Some(code) = self.code(c)? {
                codes.push(code);
            }
        }
        p.codes = codes;
        p.name = dom
            .child(m, "name")
            .map(|x| dom.deep_text(x))
            .filter(|s| !s.is_empty());
        p.description = dom
            .child(m, "desc")
            .map(|x| dom.deep_text(x))
            .filter(|s| !s.is_empty());
        p.form = self.code_child(m, "formCode")?;
        if let Some(ac) = dom.child(m, "asContent") {
            self.packaging(ac, &mut p.packaging, 0)?;
        }
        for sk in dom.children_named(m, "asSpecializedKind") {
            for g in dom.children(sk) {
                if matches!(
                    dom.name(g),
                    "generalizedMaterialKind" | "generalizedMedicineClass"
                ) {
                    for c in dom.children_named(g, "code") {
                        if let Some(code) = self.code(c)? {
                            p.classes.push(code);
                        }
                    }
                }
            }
        }
        for ing in dom.children_named(m, "ingredient") {
            if is_null(dom, ing) {
                continue;
            }
            // Wave 8: ingredientSubstance; Wave 7: a nested ingredient.
            let substance_node = dom
                .child(ing, "ingredientSubstance")
                .or_else(|| dom.child(ing, "ingredient"));
            let (substance, name) = match substance_node {
                Some(s) => (
                    self.code_child(s, "code")?,
                    dom.child(s, "name")
                        .map(|x| dom.deep_text(x))
                        .filter(|s| !s.is_empty()),
                ),
                None => (None, None),
            };
            let strength = match dom.child(ing, "quantity") {
                Some(q) => self.ratio(q)?.filter(|r| !r.numerator.value.is_zero()),
                None => None,
            };
            if substance.is_none() && name.is_none() && strength.is_none() {
                continue;
            }
            p.ingredients.push(Ingredient {
                active: dom
                    .attr(ing, "classCode")
                    .is_none_or(|c| c == "ACTI" || c == "ACTIB" || c == "ACTIM" || c == "ACTIR"),
                substance,
                name,
                strength,
            });
        }
        if depth < 4 {
            for part in dom.children_named(m, "part") {
                let qty = match dom.child(part, "quantity") {
                    Some(q) => self.quantity(q)?,
                    None => None,
                };
                if let Some(pp) = dom.child(part, "partProduct") {
                    p.parts.push((qty, self.product(pp, depth + 1)?));
                }
            }
        }
        Ok(p)
    }

    /// asContent chain, innermost first. Wave 8: asContent/quantity + containerPackagedProduct
    /// (which may nest another asContent). Wave 7: containerPackagedMedicine with
    /// capacityQuantity.
    fn packaging(
        &self,
        ac: NodeId,
        out: &mut Vec<PackageLevel>,
        depth: usize,
    ) -> Result<(), FromCdaError> {
        let dom = self.dom;
        if depth > 8 || is_null(dom, ac) {
            return Ok(());
        }
        let Some(container) = dom
            .child(ac, "containerPackagedProduct")
            .or_else(|| dom.child(ac, "containerPackagedMedicine"))
        else {
            return Ok(());
        };
        let mut quantity = match dom.child(ac, "quantity") {
            Some(q) => self.quantity(q)?,
            None => None,
        };
        if quantity.is_none() {
            if let Some(q) = dom.child(container, "capacityQuantity") {
                quantity = self.quantity(q)?;
            }
        }
        out.push(PackageLevel {
            quantity,
            form: self.code_child(container, "formCode")?,
            code: self.code_child(container, "code")?,
            name: dom
                .child(container, "name")
                .map(|x| dom.deep_text(x))
                .filter(|s| !s.is_empty()),
        });
        if let Some(inner) = dom.child(container, "asContent") {
            self.packaging(inner, out, depth + 1)?;
        }
        Ok(())
    }

    fn consumable_product(&self, n: NodeId, via: &str) -> Result<Option<Product>, FromCdaError> {
        let dom = self.dom;
        let Some(mat) = dom.descend(n, &[via, "manufacturedProduct", "manufacturedMaterial"])
        else {
            return Ok(None);
        };
        let mut p = self.product(mat, 0)?;
        p.manufacturer = dom
            .descend(
                n,
                &[
                    via,
                    "manufacturedProduct",
                    "manufacturerOrganization",
                    "name",
                ],
            )
            .map(|x| dom.deep_text(x))
            .filter(|s| !s.is_empty());
        Ok(Some(p))
    }

    /// The text an `<act>` or `<text>` refers to (`<reference value="#ID"/>`), or its own text.
    fn referenced_text(&self, text_node: NodeId) -> Option<String> {
        let dom = self.dom;
        if let Some(r) = dom.child(text_node, "reference") {
            if let Some(target) = dom.attr_trim(r, "value").and_then(|v| v.strip_prefix('#')) {
                if let Some(found) = dom.find_by_id(target) {
                    let t = dom.deep_text(found);
                    if !t.is_empty() {
                        return Some(t);
                    }
                }
            }
        }
        let own = dom.deep_text(text_node);
        (!own.is_empty()).then_some(own)
    }

    fn prescription_item(&self, sa: NodeId) -> Result<PrescriptionItem, FromCdaError> {
        let dom = self.dom;
        let id = match dom.child(sa, "id") {
            Some(i) => self.instance_id(i)?,
            None => None,
        };
        let product = self.consumable_product(sa, "consumable")?.ok_or_else(|| {
            self.missing(
                sa,
                "consumable/manufacturedProduct/manufacturedMaterial (the medicinal product)",
            )
        })?;
        let mut period = None;
        let mut frequency = None;
        for et in dom.children_named(sa, "effectiveTime") {
            let ty = dom.attr(et, "type").unwrap_or("");
            let is_pivl =
                ty.ends_with("PIVL_TS") || (ty.is_empty() && dom.child(et, "period").is_some());
            if is_pivl {
                if let Some(pn) = dom.child(et, "period") {
                    if let Some(q) = self.quantity(pn)? {
                        frequency = Some(Frequency {
                            period: q,
                            institution_specified: dom.attr(et, "institutionSpecified")
                                == Some("true"),
                        });
                    }
                }
            } else if period.is_none() {
                period = self.period(et)?;
            }
        }
        let dose = match dom.child(sa, "doseQuantity") {
            Some(d) if !is_null(dom, d) => {
                let low = match dom.child(d, "low") {
                    Some(x) => self.quantity(x)?,
                    None => None,
                };
                let high = match dom.child(d, "high") {
                    Some(x) => self.quantity(x)?,
                    None => None,
                };
                if low.is_some() || high.is_some() {
                    if low == high {
                        low.map(DoseQuantity::Single)
                    } else {
                        Some(DoseQuantity::Range { low, high })
                    }
                } else {
                    self.quantity(d)?.map(DoseQuantity::Single)
                }
            }
            _ => None,
        };
        let mut item = PrescriptionItem {
            id,
            status: dom
                .child(sa, "statusCode")
                .and_then(|s| dom.attr_trim(s, "code"))
                .map(str::to_owned),
            product,
            period,
            frequency,
            dose,
            route: self.code_child(sa, "routeCode")?,
            quantity: None,
            repeats: repeat_number(dom, sa),
            substitution: None,
            patient_instructions: None,
            fulfillment_instructions: None,
            prescriber: match dom.child(sa, "author") {
                Some(a) => self.author(a)?,
                None => None,
            },
        };
        for er in dom.children_named(sa, "entryRelationship") {
            for c in dom.children(er) {
                match dom.name(c) {
                    "supply" => {
                        if let Some(q) = dom.child(c, "quantity") {
                            item.quantity = self.quantity(q)?;
                        }
                        if item.repeats.is_none() {
                            item.repeats = repeat_number(dom, c);
                        }
                    }
                    "observation" => {
                        let code = dom.child(c, "code").and_then(|x| dom.attr_trim(x, "code"));
                        if code == Some("SUBST") {
                            item.substitution = self.code_child(c, "value")?;
                        }
                    }
                    "act" => {
                        let code = dom.child(c, "code").and_then(|x| dom.attr_trim(x, "code"));
                        let text = dom.child(c, "text").and_then(|t| self.referenced_text(t));
                        match code {
                            Some("PINSTRUCT") => item.patient_instructions = text,
                            Some("FINSTRUCT") => item.fulfillment_instructions = text,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(item)
    }

    fn dispense_item(&self, s: NodeId) -> Result<DispenseItem, FromCdaError> {
        let dom = self.dom;
        let id = match dom.child(s, "id") {
            Some(i) => self.instance_id(i)?,
            None => None,
        };
        let product = self.consumable_product(s, "product")?.ok_or_else(|| {
            self.missing(
                s,
                "product/manufacturedProduct/manufacturedMaterial (the dispensed product)",
            )
        })?;
        let quantity = match dom.child(s, "quantity") {
            Some(q) => self.quantity(q)?,
            None => None,
        };
        let pharmacist = match dom.child(s, "performer") {
            Some(p) => self.author(p)?,
            None => None,
        };
        let mut item = DispenseItem {
            id,
            status: dom
                .child(s, "statusCode")
                .and_then(|x| dom.attr_trim(x, "code"))
                .map(str::to_owned),
            product,
            quantity,
            prescription_item: None,
            pharmacist,
            substituted: false,
            substitution_code: None,
        };
        for er in dom.children_named(s, "entryRelationship") {
            for c in dom.children(er) {
                match dom.name(c) {
                    "substanceAdministration" if item.prescription_item.is_none() => {
                        if let Some(i) = dom.child(c, "id") {
                            item.prescription_item = self.instance_id(i)?;
                        }
                    }
                    "act" => {
                        let code_node = dom.child(c, "code");
                        let is_subst = code_node.is_some_and(|x| {
                            dom.attr_trim(x, "code") == Some("SUBST") || is_null(dom, x)
                        });
                        if is_subst {
                            item.substituted = true;
                            // The kind of substitution, when the act carries one.
                            item.substitution_code = match dom.child(c, "value") {
                                Some(v) => self.code(v)?,
                                None => None,
                            };
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(item)
    }

    fn non_xml_body(&self, nx: NodeId) -> Result<NonXmlBody, FromCdaError> {
        let dom = self.dom;
        let text = dom
            .child(nx, "text")
            .ok_or_else(|| self.missing(nx, "text (the embedded document)"))?;
        let media_type = dom
            .attr_trim(text, "mediaType")
            .unwrap_or("text/plain")
            .to_owned();
        let representation = dom.attr_trim(text, "representation").unwrap_or("TXT");
        let raw = dom.own_text(text);
        let base64 = if representation.eq_ignore_ascii_case("B64") {
            let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if compact.is_empty() {
                return Err(self.missing(text, "content of the embedded document"));
            }
            if !is_base64(&compact) {
                return Err(self.invalid(
                    text,
                    "representation",
                    Some("B64"),
                    "content is not valid base64",
                ));
            }
            compact
        } else {
            if raw.is_empty() {
                return Err(self.missing(text, "content of the embedded document"));
            }
            base64_encode(raw.as_bytes())
        };
        Ok(NonXmlBody { media_type, base64 })
    }
}

fn repeat_number(dom: &Dom<'_>, n: NodeId) -> Option<u32> {
    let r = dom.child(n, "repeatNumber")?;
    let v = dom
        .attr_trim(r, "value")
        .or_else(|| dom.child(r, "high").and_then(|h| dom.attr_trim(h, "value")))?;
    v.parse().ok()
}

/// `urn:uuid:`-less UUIDs as roots are legal in HL7 v3 (`2.25.<integer>` is their OID form).
fn uuid_to_oid(s: &str) -> Option<Oid> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || s.len() != 36 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let n = u128::from_str_radix(&hex, 16).ok()?;
    Oid::parse(&format!("2.25.{n}")).ok()
}

fn two(b: &[u8], i: usize) -> Option<u8> {
    let hi = b.get(i).filter(|c| c.is_ascii_digit())?;
    let lo = b.get(i + 1).filter(|c| c.is_ascii_digit())?;
    Some((hi - b'0') * 10 + (lo - b'0'))
}

/// Parses an HL7 v3 TS: `YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+|-ZZZZ]`.
pub(crate) fn parse_ts(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let (main, offset) = match s.find(['+', '-']) {
        Some(i) => (s.get(..i)?, Some(s.get(i..)?)),
        None => (s, None),
    };
    let (digits, _fraction) = match main.split_once('.') {
        Some((d, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (d, Some(f)),
        Some(_) => return None,
        None => (main, None),
    };
    let b = digits.as_bytes();
    if !matches!(b.len(), 4 | 6 | 8 | 10 | 12 | 14) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let year = u16::from(two(b, 0)?) * 100 + u16::from(two(b, 2)?);
    let month = if b.len() >= 6 { Some(two(b, 4)?) } else { None };
    let day = if b.len() >= 8 { Some(two(b, 6)?) } else { None };
    if month.is_some_and(|m| !(1..=12).contains(&m)) || day.is_some_and(|d| !(1..=31).contains(&d))
    {
        return None;
    }
    let time = if b.len() >= 10 {
        let h = two(b, 8)?;
        let mi = if b.len() >= 12 { two(b, 10)? } else { 0 };
        let se = if b.len() >= 14 { two(b, 12)? } else { 0 };
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        Some((h, mi, se))
    } else {
        None
    };
    let offset_minutes = match offset {
        None => None,
        Some(o) => {
            let ob = o.as_bytes();
            if ob.len() != 5 {
                return None;
            }
            let sign: i16 = if ob.first() == Some(&b'-') { -1 } else { 1 };
            let h = i16::from(two(ob, 1)?);
            let m = i16::from(two(ob, 3)?);
            if h > 14 || m > 59 {
                return None;
            }
            Some(sign * (h * 60 + m))
        }
    };
    Some(Timestamp {
        year,
        month,
        day,
        time,
        offset_minutes,
    })
}

fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let body = s.trim_end_matches('=');
    b.len() - body.len() <= 2
        && body
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

pub(crate) fn base64_encode(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let idx = |shift: u32| char::from(T[((n >> shift) & 63) as usize]);
        out.push(idx(18));
        out.push(idx(12));
        out.push(if chunk.len() > 1 { idx(6) } else { '=' });
        out.push(if chunk.len() > 2 { idx(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = parse_ts("20191122143500+0200").unwrap();
        assert_eq!((t.year, t.month, t.day), (2019, Some(11), Some(22)));
        assert_eq!(t.time, Some((14, 35, 0)));
        assert_eq!(t.offset_minutes, Some(120));
        assert_eq!(parse_ts("18860629").unwrap().year, 1886);
        assert!(parse_ts("2019-11-22").is_none());
        assert!(parse_ts("20191322").is_none());
        assert!(parse_ts("2019112").is_none());
        assert!(parse_ts("20191122+02").is_none());
        assert!(parse_ts("").is_none());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b"%PDF"), "JVBERg==");
        assert_eq!(base64_encode(b"abc"), "YWJj");
        assert!(is_base64("JVBERg=="));
        assert!(!is_base64("JVBER g=="));
        assert!(!is_base64("JVBERg="));
    }

    #[test]
    fn decimals() {
        assert_eq!(Decimal::parse("16.00").unwrap().as_str(), "16.00");
        assert!(Decimal::parse("1e5").is_none());
        assert!(Decimal::parse("").is_none());
        assert!(Decimal::parse("1.").is_none());
    }
}
