//! ITI-38 Cross Gateway Query and ITI-39 Cross Gateway Retrieve (IHE ITI TF-2 §3.38, §3.39),
//! as eHDSI uses them: a FindDocuments stored query by patient and class code, and a retrieve
//! of the documents found.

use base64::Engine as _;
use ncp_types::Oid;

use super::errors::{write_registry_error_list, RegistryError, ResponseStatus};
use super::metadata::{codes, slot_values, DocumentEntry, QUERY_NS, RIM_NS, RS_NS};
use super::{oid_attr, parse_body, Code, IheError, PatientIdentifier};
use crate::soap::mtom::{href_for_cid, Attachment, XOP_NS};
use crate::soap::xml::{child, children, text_of, XmlWriter};

/// The XDS.b namespace of Retrieve Document Set.
pub const XDSB_NS: &str = "urn:ihe:iti:xds-b:2007";
/// The FindDocuments stored query.
pub const FIND_DOCUMENTS: &str = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d";

/// What the requester wants back (`query:ResponseOption/@returnType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnType {
    LeafClass,
    ObjectRef,
}

/// A FindDocuments query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindDocumentsQuery {
    pub patient: PatientIdentifier,
    /// `$XDSDocumentEntryClassCode`, empty when not given.
    pub class_codes: Vec<Code>,
    /// `$XDSDocumentEntryFormatCode`, empty when not given.
    pub format_codes: Vec<Code>,
    /// `$XDSDocumentEntryStatus`.
    pub statuses: Vec<String>,
    /// `AdhocQuery/@home`: the community the requester addresses.
    pub home_community_id: Option<Oid>,
    pub return_type: ReturnType,
}

/// Why a query could not be answered (each maps to a RegistryError for the response).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Message(#[from] IheError),
    /// The stored query is not FindDocuments (XDSUnknownStoredQuery).
    #[error("unknown stored query")]
    UnknownStoredQuery(String),
    /// A required parameter is missing or given more than once (XDSStoredQueryParamNumber).
    #[error("parameter {0} missing or repeated")]
    ParamNumber(&'static str),
}

impl QueryError {
    /// The RegistryError reporting this refusal.
    pub fn registry_error(&self) -> RegistryError {
        use super::errors::XdsError;
        match self {
            QueryError::UnknownStoredQuery(_) => RegistryError::xds(
                XdsError::XdsUnknownStoredQuery,
                "Only FindDocuments is supported",
            ),
            QueryError::ParamNumber(p) => RegistryError::xds(
                XdsError::XdsStoredQueryParamNumber,
                format!("Parameter {p} missing or repeated"),
            ),
            QueryError::Message(e) => RegistryError::xds(XdsError::XdsRegistryError, e.to_string()),
        }
    }
}

/// Parses an `query:AdhocQueryRequest` body (ITI-38).
pub fn parse_query(body: &[u8]) -> Result<FindDocumentsQuery, QueryError> {
    let doc = parse_body(body)?;
    let root = doc.root_element();
    if !root.has_tag_name((QUERY_NS, "AdhocQueryRequest")) {
        return Err(IheError::UnexpectedMessage {
            expected: "AdhocQueryRequest",
        }
        .into());
    }
    let return_type = match child(root, QUERY_NS, "ResponseOption")
        .and_then(|o| o.attribute("returnType"))
        .unwrap_or("LeafClass")
    {
        "ObjectRef" => ReturnType::ObjectRef,
        "LeafClass" => ReturnType::LeafClass,
        _ => return Err(IheError::Invalid("ResponseOption returnType").into()),
    };
    let q = child(root, RIM_NS, "AdhocQuery").ok_or(IheError::Missing("AdhocQuery"))?;
    let id = q.attribute("id").unwrap_or("").trim();
    if !id.eq_ignore_ascii_case(FIND_DOCUMENTS) {
        return Err(QueryError::UnknownStoredQuery(id.to_owned()));
    }
    let home_community_id = match q.attribute("home") {
        Some(h) if !h.trim().is_empty() => Some(oid_attr(h, "AdhocQuery home")?),
        _ => None,
    };
    let param = |name: &'static str| -> Result<Vec<String>, QueryError> {
        let mut out = Vec::new();
        for v in slot_values(q, name) {
            out.extend(parse_query_values(&v).ok_or(IheError::Invalid("query parameter value"))?);
        }
        Ok(out)
    };
    let patients = param("$XDSDocumentEntryPatientId")?;
    let [patient] = patients.as_slice() else {
        return Err(QueryError::ParamNumber("$XDSDocumentEntryPatientId"));
    };
    let patient = PatientIdentifier::from_cx(patient)?;
    let statuses = param("$XDSDocumentEntryStatus")?;
    if statuses.is_empty() {
        return Err(QueryError::ParamNumber("$XDSDocumentEntryStatus"));
    }
    let to_code = |v: &String| {
        let mut it = v.split('^');
        let code = it.next().unwrap_or("").trim().to_owned();
        let scheme = it.nth(1).unwrap_or("").trim().to_owned();
        Code {
            code,
            scheme,
            display: String::new(),
        }
    };
    let class_codes = param("$XDSDocumentEntryClassCode")?
        .iter()
        .map(to_code)
        .collect();
    let format_codes = param("$XDSDocumentEntryFormatCode")?
        .iter()
        .map(to_code)
        .collect();
    Ok(FindDocumentsQuery {
        patient,
        class_codes,
        format_codes,
        statuses,
        home_community_id,
        return_type,
    })
}

/// Parses a stored query parameter value: `'a'`, `('a','b')` or `('a')`; `''` escapes a quote.
fn parse_query_values(v: &str) -> Option<Vec<String>> {
    let v = v.trim();
    let inner = match v.strip_prefix('(') {
        Some(rest) => rest.strip_suffix(')')?,
        None => v,
    };
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some('\'') => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '\'' if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        '\'' => break,
                        c => s.push(c),
                    }
                }
                out.push(s);
            }
            Some(c) if c.is_ascii_digit() || c == '-' => {
                // Unquoted numbers are allowed by the stored query syntax.
                let mut s = String::from(c);
                while chars
                    .peek()
                    .is_some_and(|c| *c != ',' && !c.is_whitespace())
                {
                    s.push(chars.next()?);
                }
                out.push(s);
            }
            Some(_) => return None,
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some(',') => {}
            Some(_) => return None,
        }
    }
    Some(out)
}

/// Builds the `query:AdhocQueryResponse` (ITI-38): the entries (ExtrinsicObjects with the XFRM
/// associations of L1 to L3), or ObjectRefs, and the errors. The status follows
/// [`ResponseStatus::from_outcome`]: "no ePrescriptions" (1101) is a warning with Success.
pub fn build_query_response(
    entries: &[DocumentEntry],
    errors: &[RegistryError],
    return_type: ReturnType,
) -> Vec<u8> {
    let status = ResponseStatus::from_outcome(entries.len(), errors);
    let mut w = XmlWriter::new();
    w.open(
        "query:AdhocQueryResponse",
        &[
            ("xmlns:query", QUERY_NS),
            ("xmlns:rim", RIM_NS),
            ("xmlns:rs", RS_NS),
            ("status", status.urn()),
        ],
    );
    write_registry_error_list(&mut w, errors);
    w.open("rim:RegistryObjectList", &[]);
    match return_type {
        ReturnType::LeafClass => {
            for e in entries {
                e.write(&mut w);
            }
            for (i, e) in entries.iter().enumerate() {
                if let Some(target) = &e.transformation_of {
                    let id = super::metadata::derived_id(&e.entry_uuid, 1000 + i as u32);
                    w.empty(
                        "rim:Association",
                        &[
                            ("associationType", codes::ASSOCIATION_XFRM),
                            ("id", &id),
                            (
                                "objectType",
                                "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
                            ),
                            ("sourceObject", &e.entry_uuid),
                            ("targetObject", target),
                        ],
                    );
                }
            }
        }
        ReturnType::ObjectRef => {
            for e in entries {
                let home = e.home_community_id.to_urn();
                w.empty("rim:ObjectRef", &[("home", &home), ("id", &e.entry_uuid)]);
            }
        }
    }
    w.finish()
}

/// One document asked for in a Retrieve Document Set request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentRequest {
    pub home_community_id: Option<Oid>,
    pub repository_unique_id: Oid,
    pub document_unique_id: String,
}

/// A Retrieve Document Set request (ITI-39).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveRequest {
    pub documents: Vec<DocumentRequest>,
}

/// Parses an `xdsb:RetrieveDocumentSetRequest` body.
pub fn parse_retrieve(body: &[u8]) -> Result<RetrieveRequest, IheError> {
    let doc = parse_body(body)?;
    let root = doc.root_element();
    if !root.has_tag_name((XDSB_NS, "RetrieveDocumentSetRequest")) {
        return Err(IheError::UnexpectedMessage {
            expected: "RetrieveDocumentSetRequest",
        });
    }
    let mut documents = Vec::new();
    for dr in children(root, XDSB_NS, "DocumentRequest") {
        let field = |name: &'static str| {
            child(dr, XDSB_NS, name)
                .map(text_of)
                .filter(|s| !s.is_empty())
        };
        let home_community_id = field("HomeCommunityId")
            .map(|h| oid_attr(&h, "HomeCommunityId"))
            .transpose()?;
        let repository_unique_id = oid_attr(
            &field("RepositoryUniqueId").ok_or(IheError::Missing("RepositoryUniqueId"))?,
            "RepositoryUniqueId",
        )?;
        let document_unique_id =
            field("DocumentUniqueId").ok_or(IheError::Missing("DocumentUniqueId"))?;
        documents.push(DocumentRequest {
            home_community_id,
            repository_unique_id,
            document_unique_id,
        });
    }
    if documents.is_empty() {
        return Err(IheError::Missing("DocumentRequest"));
    }
    Ok(RetrieveRequest { documents })
}

/// A document found for a retrieve.
#[derive(Clone, PartialEq, Eq)]
pub struct RetrievedDocument {
    pub home_community_id: Oid,
    pub repository_unique_id: Oid,
    pub document_unique_id: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for RetrievedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetrievedDocument")
            .field("document_unique_id", &self.document_unique_id)
            .field("mime_type", &self.mime_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// How document bytes travel in a retrieve response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// As MTOM parts referenced by `xop:Include` (the default for XCA).
    Mtom,
    /// Inline as base64 text (for a requester that did not send MTOM).
    Inline,
}

/// A response body with the MTOM parts it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyWithParts {
    pub body: Vec<u8>,
    pub attachments: Vec<Attachment>,
}

/// Builds the `xdsb:RetrieveDocumentSetResponse` (ITI-39). `cid_seed` (the response message id)
/// makes the parts' Content-IDs unique.
pub fn build_retrieve_response(
    documents: &[RetrievedDocument],
    errors: &[RegistryError],
    transfer: Transfer,
    cid_seed: &str,
) -> BodyWithParts {
    let status = ResponseStatus::from_outcome(documents.len(), errors);
    let token: String = cid_seed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    let mut attachments = Vec::new();
    let mut w = XmlWriter::new();
    w.open(
        "xdsb:RetrieveDocumentSetResponse",
        &[
            ("xmlns:xdsb", XDSB_NS),
            ("xmlns:rs", RS_NS),
            ("xmlns:xop", XOP_NS),
        ],
    );
    w.open("rs:RegistryResponse", &[("status", status.urn())]);
    write_registry_error_list(&mut w, errors);
    w.close();
    for (i, d) in documents.iter().enumerate() {
        w.open("xdsb:DocumentResponse", &[]);
        w.leaf("xdsb:HomeCommunityId", &[], &d.home_community_id.to_urn());
        w.leaf(
            "xdsb:RepositoryUniqueId",
            &[],
            d.repository_unique_id.as_str(),
        );
        w.leaf("xdsb:DocumentUniqueId", &[], &d.document_unique_id);
        w.leaf("xdsb:mimeType", &[], &d.mime_type);
        w.open("xdsb:Document", &[]);
        match transfer {
            Transfer::Mtom => {
                let cid = format!("doc{i}.{token}@ncp.se");
                w.empty("xop:Include", &[("href", &href_for_cid(&cid))]);
                attachments.push(Attachment {
                    content_id: cid,
                    content_type: d.mime_type.clone(),
                    data: d.bytes.clone(),
                });
            }
            Transfer::Inline => {
                w.text(&base64::engine::general_purpose::STANDARD.encode(&d.bytes));
            }
        }
        w.close();
        w.close();
    }
    BodyWithParts {
        body: w.finish(),
        attachments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values() {
        assert_eq!(parse_query_values("'a'").unwrap(), vec!["a"]);
        assert_eq!(
            parse_query_values("('a^^1.2', 'b''c')").unwrap(),
            vec!["a^^1.2", "b'c"]
        );
        assert!(parse_query_values("('a'").is_none());
        assert!(parse_query_values("'a").is_none());
        assert!(parse_query_values("x").is_none());
    }
}
