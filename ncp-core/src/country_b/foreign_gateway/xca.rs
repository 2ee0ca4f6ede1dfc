//! ITI-38 and ITI-39 for the initiating gateway: the FindDocuments query by patient and class
//! code, the Retrieve Document Set request, and their answers read into [`DocumentRef`]s and
//! documents or a [`GatewayError`].

use base64::Engine as _;
use ncp_types::Oid;

use super::errors::{classify, classify_all};
use super::{
    DocumentClass, DocumentFormat, DocumentRef, ForeignPatientId, GatewayError, RetrievedDocument,
};
use crate::ihe::metadata::{
    classifications, codes, external_identifier, localized, scheme, slot_values, write_slot,
    QUERY_NS, RIM_NS, RS_NS, STATUS_APPROVED,
};
use crate::ihe::xca::{FIND_DOCUMENTS, XDSB_NS};
use crate::ihe::PatientIdentifier;
use crate::soap::mtom::{cid_from_href, Attachment, XOP_NS};
use crate::soap::xml::{self, child, children, text_of, Limits, XmlWriter};

const SUCCESS: &str = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success";
const PARTIAL_SUCCESS: &str = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess";
const SEVERITY_ERROR: &str = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error";

impl DocumentClass {
    /// The LOINC class code.
    pub fn loinc(self) -> &'static str {
        match self {
            DocumentClass::EPrescription => codes::CLASS_EPRESCRIPTION,
            DocumentClass::PatientSummary => codes::CLASS_PATIENT_SUMMARY,
        }
    }

    pub fn from_loinc(code: &str) -> Option<Self> {
        match code.trim() {
            codes::CLASS_EPRESCRIPTION => Some(DocumentClass::EPrescription),
            codes::CLASS_PATIENT_SUMMARY => Some(DocumentClass::PatientSummary),
            _ => None,
        }
    }
}

/// A stored query parameter value: `'v'`, with quotes doubled.
fn quoted(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The `query:AdhocQueryRequest` for the patient's documents of `class`, addressed to `home`.
pub fn build_query(patient: &ForeignPatientId, class: DocumentClass, home: &Oid) -> Vec<u8> {
    let cx = PatientIdentifier::new(patient.root.clone(), patient.extension.clone()).to_cx();
    let mut w = XmlWriter::new();
    w.open(
        "query:AdhocQueryRequest",
        &[("xmlns:query", QUERY_NS), ("xmlns:rim", RIM_NS)],
    );
    w.empty(
        "query:ResponseOption",
        &[
            ("returnComposedObjects", "true"),
            ("returnType", "LeafClass"),
        ],
    );
    w.open(
        "rim:AdhocQuery",
        &[("home", &home.to_urn()), ("id", FIND_DOCUMENTS)],
    );
    write_slot(&mut w, "$XDSDocumentEntryPatientId", &[&quoted(&cx)]);
    write_slot(
        &mut w,
        "$XDSDocumentEntryStatus",
        &[&format!("({})", quoted(STATUS_APPROVED))],
    );
    let class_code = format!("{}^^{}", class.loinc(), codes::LOINC);
    write_slot(
        &mut w,
        "$XDSDocumentEntryClassCode",
        &[&format!("({})", quoted(&class_code))],
    );
    w.finish()
}

/// The `(code, codeContext, is_error)` of each `rs:RegistryError` under `node`.
fn registry_errors(node: roxmltree::Node<'_, '_>) -> Vec<(String, String, bool)> {
    children(node, RS_NS, "RegistryErrorList")
        .flat_map(|l| children(l, RS_NS, "RegistryError"))
        .map(|e| {
            (
                e.attribute("errorCode").unwrap_or("").trim().to_owned(),
                e.attribute("codeContext")
                    .map(str::to_owned)
                    .filter(|c| !c.trim().is_empty())
                    .unwrap_or_else(|| text_of(e)),
                e.attribute("severity") == Some(SEVERITY_ERROR),
            )
        })
        .collect()
}

/// The error a failed registry response stands for.
fn failure(errors: &[(String, String, bool)], what: &str) -> GatewayError {
    let hard: Vec<(String, String)> = errors
        .iter()
        .filter(|e| e.2)
        .map(|(c, m, _)| (c.clone(), m.clone()))
        .collect();
    let all: Vec<(String, String)> = errors
        .iter()
        .map(|(c, m, _)| (c.clone(), m.clone()))
        .collect();
    classify_all(&hard)
        .or_else(|| classify_all(&all))
        .unwrap_or_else(|| GatewayError::Refused {
            code: "Failure".into(),
            message: format!("the foreign NCP answered the {what} with Failure and no error"),
        })
}

/// Reads a `query:AdhocQueryResponse`: the documents of `class` (an empty list when the foreign
/// NCP has none, which it reports as a warning), or the error.
pub fn parse_query_response(
    body: &[u8],
    class: DocumentClass,
    default_home: &Oid,
) -> Result<Vec<DocumentRef>, GatewayError> {
    let bad = |m: &str| GatewayError::Protocol(format!("XCA query answer: {m}"));
    let doc = xml::parse(body, &Limits::default()).map_err(|e| bad(&e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((QUERY_NS, "AdhocQueryResponse")) {
        return Err(bad("not an AdhocQueryResponse"));
    }
    let status = root.attribute("status").unwrap_or("").trim();
    let errors = registry_errors(root);
    if status != SUCCESS && status != PARTIAL_SUCCESS {
        return Err(failure(&errors, "query"));
    }
    if errors.iter().any(|e| e.2) {
        tracing::info!(
            errors = errors.len(),
            "foreign NCP answered the XCA query with partial success"
        );
    }
    let mut out = Vec::new();
    let Some(list) = child(root, RIM_NS, "RegistryObjectList") else {
        return Ok(out);
    };
    // The entryUUID of each document kept, to resolve the associations.
    let mut entry_ids: Vec<&str> = Vec::new();
    for eo in children(list, RIM_NS, "ExtrinsicObject") {
        let Some(unique_id) = external_identifier(eo, scheme::UNIQUE_ID).filter(|u| !u.is_empty())
        else {
            return Err(bad("a document entry without uniqueId"));
        };
        let repository_unique_id = slot_values(eo, "repositoryUniqueId")
            .into_iter()
            .next()
            .filter(|r| !r.is_empty())
            .ok_or_else(|| bad("a document entry without repositoryUniqueId"))?;
        let home_community_id = match eo.attribute("home").filter(|h| !h.trim().is_empty()) {
            Some(h) => Oid::parse(h).map_err(|_| bad("a document entry with an invalid home"))?,
            None => default_home.clone(),
        };
        let entry_class = classifications(eo, scheme::CLASS_CODE)
            .into_iter()
            .next()
            .and_then(|c| DocumentClass::from_loinc(&c.code));
        if entry_class.is_some_and(|c| c != class) {
            continue;
        }
        let format_code = classifications(eo, scheme::FORMAT_CODE)
            .into_iter()
            .next()
            .map(|c| c.code)
            .unwrap_or_default();
        let pdf =
            format_code == codes::FORMAT_PDF || eo.attribute("mimeType") == Some("application/pdf");
        out.push(DocumentRef {
            document_unique_id: unique_id,
            repository_unique_id,
            home_community_id,
            class,
            format: if pdf {
                DocumentFormat::L1Pdf
            } else {
                DocumentFormat::L3
            },
            title: localized(eo, "Name").filter(|t| !t.is_empty()),
            description: localized(eo, "Description").filter(|d| !d.is_empty()),
            transformation_of: None,
        });
        entry_ids.push(eo.attribute("id").unwrap_or("").trim());
    }
    link_transformations(list, &entry_ids, &mut out);
    Ok(out)
}

/// Sets each L1's `transformation_of` from the list's `XFRM` associations between an L1 and
/// an L3 entry (OpenNCP writes the L1 as source and the L3 as target; either way round is
/// read). Other association types, and associations naming entries not kept, are ignored; an
/// L1 related to two L3s is left unlinked.
fn link_transformations(
    list: roxmltree::Node<'_, '_>,
    entry_ids: &[&str],
    docs: &mut [DocumentRef],
) {
    let index = |id: Option<&str>| {
        let id = id?.trim();
        let mut hits = entry_ids
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_empty() && **e == id);
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    };
    // Per document: the L3 indices it is related to.
    let mut l3_of: Vec<Vec<usize>> = vec![Vec::new(); docs.len()];
    for a in children(list, RIM_NS, "Association") {
        if a.attribute("associationType").map(str::trim) != Some(codes::ASSOCIATION_XFRM) {
            continue;
        }
        let (Some(s), Some(t)) = (
            index(a.attribute("sourceObject")),
            index(a.attribute("targetObject")),
        ) else {
            continue;
        };
        let (l1, l3) = match (docs[s].format, docs[t].format) {
            (DocumentFormat::L1Pdf, DocumentFormat::L3) => (s, t),
            (DocumentFormat::L3, DocumentFormat::L1Pdf) => (t, s),
            _ => continue,
        };
        if !l3_of[l1].contains(&l3) {
            l3_of[l1].push(l3);
        }
    }
    for (l1, l3s) in l3_of.iter().enumerate() {
        if let [l3] = l3s[..] {
            docs[l1].transformation_of = Some(docs[l3].document_unique_id.clone());
        }
    }
}

/// The `xdsb:RetrieveDocumentSetRequest` for `doc`.
pub fn build_retrieve(doc: &DocumentRef) -> Vec<u8> {
    let mut w = XmlWriter::new();
    w.open(
        "xdsb:RetrieveDocumentSetRequest",
        &[("xmlns:xdsb", XDSB_NS)],
    );
    w.open("xdsb:DocumentRequest", &[]);
    w.leaf("xdsb:HomeCommunityId", &[], &doc.home_community_id.to_urn());
    w.leaf("xdsb:RepositoryUniqueId", &[], &doc.repository_unique_id);
    w.leaf("xdsb:DocumentUniqueId", &[], &doc.document_unique_id);
    w.close();
    w.finish()
}

/// Reads an `xdsb:RetrieveDocumentSetResponse`: the document asked for (from its MTOM part or
/// inline base64), or the error.
pub fn parse_retrieve_response(
    body: &[u8],
    attachments: &[Attachment],
    asked: &DocumentRef,
) -> Result<RetrievedDocument, GatewayError> {
    let bad = |m: &str| GatewayError::Protocol(format!("XCA retrieve answer: {m}"));
    let doc = xml::parse(body, &Limits::default()).map_err(|e| bad(&e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((XDSB_NS, "RetrieveDocumentSetResponse")) {
        return Err(bad("not a RetrieveDocumentSetResponse"));
    }
    let rr = child(root, RS_NS, "RegistryResponse").ok_or_else(|| bad("no RegistryResponse"))?;
    let status = rr.attribute("status").unwrap_or("").trim();
    let errors = registry_errors(rr);
    let responses: Vec<_> = children(root, XDSB_NS, "DocumentResponse").collect();
    if (status != SUCCESS && status != PARTIAL_SUCCESS) || responses.is_empty() {
        if errors.is_empty() && status == SUCCESS {
            return Err(classify(
                "XDSMissingDocument",
                "the foreign NCP answered without the document",
            ));
        }
        return Err(failure(&errors, "retrieve"));
    }
    let field = |n: roxmltree::Node<'_, '_>, name: &str| {
        child(n, XDSB_NS, name).map(text_of).unwrap_or_default()
    };
    let Some(response) = responses
        .iter()
        .find(|r| field(**r, "DocumentUniqueId") == asked.document_unique_id)
    else {
        // Partial success without our document: its error says why.
        return Err(if errors.is_empty() {
            bad("no DocumentResponse for the document asked for")
        } else {
            failure(&errors, "retrieve")
        });
    };
    let content = child(*response, XDSB_NS, "Document").ok_or_else(|| bad("no Document"))?;
    let bytes = match child(content, XOP_NS, "Include") {
        Some(inc) => {
            let cid = inc
                .attribute("href")
                .and_then(cid_from_href)
                .ok_or_else(|| bad("an xop:Include without a cid: href"))?;
            attachments
                .iter()
                .find(|a| a.content_id == cid)
                .map(|a| a.data.clone())
                .ok_or_else(|| bad("an xop:Include names no MIME part"))?
        }
        None => {
            let text: Vec<u8> = content
                .children()
                .filter(|c| c.is_text())
                .flat_map(|c| c.text().unwrap_or("").bytes())
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| bad("the Document is not base64"))?
        }
    };
    if bytes.is_empty() {
        return Err(bad("an empty Document"));
    }
    let mime_type = Some(field(*response, "mimeType"))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "text/xml".to_owned());
    Ok(RetrievedDocument { bytes, mime_type })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ihe::errors::{EhdsiError, RegistryError};
    use crate::ihe::metadata::DocumentEntry;
    use crate::ihe::xca::{
        build_query_response, build_retrieve_response, parse_query, parse_retrieve,
        RetrievedDocument as Served, ReturnType, Transfer,
    };
    use crate::ihe::Code;

    fn oid(s: &str) -> Oid {
        Oid::parse(s).unwrap()
    }

    fn patient() -> ForeignPatientId {
        ForeignPatientId {
            root: oid("2.16.17.710.850.1000.990.1.1000"),
            extension: "1-1234-W8".into(),
        }
    }

    #[test]
    fn the_query_reads_back() {
        let q = parse_query(&build_query(
            &patient(),
            DocumentClass::EPrescription,
            &oid("2.16.17.710.850.1000.990.1"),
        ))
        .unwrap();
        assert_eq!(q.patient.extension, "1-1234-W8");
        assert_eq!(q.class_codes[0].code, "57833-6");
        assert_eq!(q.home_community_id, Some(oid("2.16.17.710.850.1000.990.1")));
    }

    #[test]
    fn consent_and_no_documents() {
        let body = build_query_response(
            &[],
            &[RegistryError::ehdsi(EhdsiError::NoConsent)],
            ReturnType::LeafClass,
        );
        let e =
            parse_query_response(&body, DocumentClass::PatientSummary, &oid("1.2")).unwrap_err();
        assert!(matches!(e, GatewayError::NoConsent(_)), "{e:?}");
        let body = build_query_response(
            &[],
            &[RegistryError::ehdsi(EhdsiError::EPrescriptionsNotFound)],
            ReturnType::LeafClass,
        );
        assert_eq!(
            parse_query_response(&body, DocumentClass::EPrescription, &oid("1.2")),
            Ok(vec![])
        );
    }

    /// A listed ePrescription entry: `l1` of the L3 whose entryUUID is given, or an L3.
    fn entry(uuid: &str, unique_id: &str, l1_of: Option<&str>) -> DocumentEntry {
        let class = Code::new(codes::CLASS_EPRESCRIPTION, codes::LOINC, "ePrescription");
        let format = match l1_of {
            Some(_) => Code::new(codes::FORMAT_PDF, codes::FORMAT_SCHEME_IHE_PCC, "PDF"),
            None => Code::new(
                codes::FORMAT_EPRESCRIPTION,
                codes::FORMAT_SCHEME_EHDSI,
                "eP",
            ),
        };
        DocumentEntry {
            entry_uuid: uuid.into(),
            unique_id: unique_id.into(),
            repository_unique_id: oid("2.16.17.710.850.1000.990.1.9"),
            home_community_id: oid("2.16.17.710.850.1000.990.1"),
            patient: PatientIdentifier::new(patient().root, patient().extension),
            class_code: class.clone(),
            type_code: class,
            format_code: format,
            confidentiality_code: Code::new("N", codes::CONFIDENTIALITY_SCHEME, "Normal"),
            healthcare_facility_type: None,
            practice_setting: None,
            language_code: "en-GB".into(),
            mime_type: "text/xml".into(),
            creation_time: "20260101120000".into(),
            title: "ePrescription".into(),
            description: None,
            size: None,
            hash: None,
            author_person: None,
            reference_ids: Vec::new(),
            eprescription: None,
            transformation_of: l1_of.map(Into::into),
        }
    }

    /// Each listed document's unique id with its `transformation_of`.
    fn links(body: &[u8]) -> Vec<(String, Option<String>)> {
        parse_query_response(body, DocumentClass::EPrescription, &oid("1.2"))
            .unwrap()
            .into_iter()
            .map(|d| (d.document_unique_id, d.transformation_of))
            .collect()
    }

    #[test]
    fn the_lists_xfrm_associations_link_each_pdf_to_its_l3() {
        // Two prescriptions, the PDFs listed crossed; associations as OpenNCP writes them
        // (source the L1, target the L3).
        let body = build_query_response(
            &[
                entry("urn:uuid:a3", "1.9.1", None),
                entry("urn:uuid:b3", "1.9.2", None),
                entry("urn:uuid:b1", "1.9.3", Some("urn:uuid:b3")),
                entry("urn:uuid:a1", "1.9.4", Some("urn:uuid:a3")),
            ],
            &[],
            ReturnType::LeafClass,
        );
        let expected = |b1: Option<&str>, a1: Option<&str>| {
            vec![
                ("1.9.1".to_owned(), None),
                ("1.9.2".to_owned(), None),
                ("1.9.3".to_owned(), b1.map(str::to_owned)),
                ("1.9.4".to_owned(), a1.map(str::to_owned)),
            ]
        };
        assert_eq!(links(&body), expected(Some("1.9.2"), Some("1.9.1")));
        let xml = String::from_utf8(body).unwrap();
        // The other way round reads the same.
        let swapped = xml.replace(
            r#"sourceObject="urn:uuid:a1" targetObject="urn:uuid:a3""#,
            r#"sourceObject="urn:uuid:a3" targetObject="urn:uuid:a1""#,
        );
        assert_ne!(swapped, xml);
        assert_eq!(
            links(swapped.as_bytes()),
            expected(Some("1.9.2"), Some("1.9.1"))
        );
        // An association of another type says nothing about transformation.
        let other = xml.replacen(codes::ASSOCIATION_XFRM, codes::ASSOCIATION_HAS_MEMBER, 1);
        assert_eq!(links(other.as_bytes()), expected(None, Some("1.9.1")));
        // A PDF said to transform both L3s is linked to neither; one naming an entry not in
        // the list is ignored.
        let extra = format!(
            r#"<rim:Association associationType="{}" id="urn:uuid:x1" sourceObject="urn:uuid:a1" targetObject="urn:uuid:b3"/><rim:Association associationType="{0}" id="urn:uuid:x2" sourceObject="urn:uuid:b1" targetObject="urn:uuid:gone"/></rim:RegistryObjectList>"#,
            codes::ASSOCIATION_XFRM
        );
        let doubled = xml.replace("</rim:RegistryObjectList>", &extra);
        assert_eq!(links(doubled.as_bytes()), expected(Some("1.9.2"), None));
    }

    #[test]
    fn retrieve_inline_and_mtom() {
        let doc = DocumentRef {
            document_unique_id: "2.16.17.710.850.1000.990.1^3000".into(),
            repository_unique_id: "2.16.17.710.850.1000.990.1".into(),
            home_community_id: oid("2.16.17.710.850.1000.990.1"),
            class: DocumentClass::EPrescription,
            format: DocumentFormat::L3,
            title: None,
            description: None,
            transformation_of: None,
        };
        let req = parse_retrieve(&build_retrieve(&doc)).unwrap();
        assert_eq!(req.documents[0].document_unique_id, doc.document_unique_id);
        let served = Served {
            home_community_id: doc.home_community_id.clone(),
            repository_unique_id: oid(&doc.repository_unique_id),
            document_unique_id: doc.document_unique_id.clone(),
            mime_type: "text/xml".into(),
            bytes: b"<ClinicalDocument/>".to_vec(),
        };
        for transfer in [Transfer::Inline, Transfer::Mtom] {
            let r = build_retrieve_response(std::slice::from_ref(&served), &[], transfer, "seed");
            let got = parse_retrieve_response(&r.body, &r.attachments, &doc).unwrap();
            assert_eq!(got.bytes, served.bytes, "{transfer:?}");
            assert_eq!(got.mime_type, "text/xml");
        }
        let r = build_retrieve_response(
            &[],
            &[RegistryError::ehdsi(
                EhdsiError::ErrorEdNotDispensableEPrescription,
            )],
            Transfer::Inline,
            "s",
        );
        let e = parse_retrieve_response(&r.body, &r.attachments, &doc).unwrap_err();
        assert!(matches!(e, GatewayError::NotDispensable(_)), "{e:?}");
        // Partial success: another document came, ours has an error.
        let other = Served {
            document_unique_id: "2.16.17.710.850.1000.990.1^other".into(),
            ..served
        };
        let r = build_retrieve_response(
            &[other],
            &[RegistryError::ehdsi(EhdsiError::NoConsent)],
            Transfer::Mtom,
            "s",
        );
        let e = parse_retrieve_response(&r.body, &r.attachments, &doc).unwrap_err();
        assert!(matches!(e, GatewayError::NoConsent(_)), "{e:?}");
    }
}
