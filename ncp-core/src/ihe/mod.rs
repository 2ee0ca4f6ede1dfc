//! The IHE message layer of Sweden as country A, as pure functions between bytes and types.
//!
//! - [`xcpd`]: ITI-55 Cross Gateway Patient Discovery (PRPA_IN201305UV02 / PRPA_IN201306UV02).
//! - [`xca`]: ITI-38 Cross Gateway Query and ITI-39 Cross Gateway Retrieve.
//! - [`xdr`]: ITI-41 Provide and Register (eDispensation and its discard).
//! - [`metadata`]: XDS metadata: slots, classifications, the typed [`metadata::DocumentEntry`].
//! - [`errors`]: the eHDSI error codes and where each is reported.
//!
//! No business rules and no I/O live here: a parser returns what the message says, a builder
//! writes what it is given. Deciding whether a patient matches or a prescription is dispensable
//! is the caller's job.

pub mod errors;
pub mod metadata;
pub mod xca;
pub mod xcpd;
pub mod xdr;

use std::fmt;

use ncp_types::{Oid, PersonId};

/// Why an IHE message body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IheError {
    #[error(transparent)]
    Xml(#[from] crate::soap::XmlError),
    #[error("unexpected message: expected {expected}")]
    UnexpectedMessage { expected: &'static str },
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// A patient identifier as IHE carries it: an assigning authority OID and an extension.
///
/// `Debug` hides the extension (it is a personal identity number).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PatientIdentifier {
    pub root: Oid,
    pub extension: String,
}

impl PatientIdentifier {
    pub fn new(root: Oid, extension: impl Into<String>) -> Self {
        PatientIdentifier {
            root,
            extension: extension.into(),
        }
    }

    /// The identifier as a Swedish personnummer or samordningsnummer, if it is one.
    pub fn person_id(&self) -> Result<PersonId, ncp_types::ParseError> {
        PersonId::from_identifier(self.root.as_str(), &self.extension)
    }

    /// The HL7 v2 CX form XDS uses: `ext^^^&root&ISO`.
    pub fn to_cx(&self) -> String {
        format!("{}^^^&{}&ISO", self.extension, self.root)
    }

    /// Parses the CX form `ext^^^&root&ISO` (the assigning authority must be an ISO OID).
    pub fn from_cx(cx: &str) -> Result<Self, IheError> {
        let cx = cx.trim();
        let mut comps = cx.split('^');
        let ext = comps.next().unwrap_or("").trim();
        let authority = comps.nth(2).ok_or(IheError::Invalid("patient id (CX)"))?;
        let mut sub = authority.split('&');
        let _namespace = sub.next();
        let root = sub.next().ok_or(IheError::Invalid("patient id (CX)"))?;
        let kind = sub.next().unwrap_or("");
        if ext.is_empty() || kind != "ISO" {
            return Err(IheError::Invalid("patient id (CX)"));
        }
        let root = Oid::parse(root).map_err(|_| IheError::Invalid("patient id (CX)"))?;
        Ok(PatientIdentifier::new(root, ext))
    }
}

impl fmt::Debug for PatientIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PatientIdentifier({}, <redacted>)", self.root)
    }
}

/// A coded value as XDS carries it: code, coding scheme, display name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Code {
    pub code: String,
    pub scheme: String,
    pub display: String,
}

impl Code {
    pub fn new(code: &str, scheme: &str, display: &str) -> Self {
        Code {
            code: code.into(),
            scheme: scheme.into(),
            display: display.into(),
        }
    }
}

/// Parses a body with the shared limits.
pub(crate) fn parse_body(body: &[u8]) -> Result<roxmltree::Document<'_>, IheError> {
    Ok(crate::soap::xml::parse(
        body,
        &crate::soap::Limits::default(),
    )?)
}

/// `urn:oid:1.2.3` or `1.2.3` as an [`Oid`].
pub(crate) fn oid_attr(s: &str, what: &'static str) -> Result<Oid, IheError> {
    Oid::parse(s).map_err(|_| IheError::Invalid(what))
}

/// A parsed IHE request, by transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IheRequest {
    PatientDiscovery(Box<xcpd::PatientDiscoveryQuery>),
    FindDocuments(xca::FindDocumentsQuery),
    Retrieve(xca::RetrieveRequest),
    ProvideAndRegister(xdr::ProvideAndRegister),
}

/// Why [`parse_request`] did not give an [`IheRequest`], and so how to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The Action names no transaction served here: a SOAP fault
    /// ([`crate::soap::Fault::from_error`]).
    #[error(transparent)]
    Soap(#[from] crate::soap::SoapError),
    /// ITI-55: a demographics-only query is answered with a PRPA_IN201306UV02
    /// ([`xcpd::build_response`]); a malformed one with a SOAP Sender fault.
    #[error(transparent)]
    Discovery(#[from] xcpd::XcpdError),
    /// ITI-38: answered with an AdhocQueryResponse carrying [`xca::QueryError::registry_error`].
    #[error(transparent)]
    Query(#[from] xca::QueryError),
    /// ITI-39: answered with a RetrieveDocumentSetResponse, status Failure, XDSRegistryError.
    #[error("retrieve request: {0}")]
    Retrieve(IheError),
    /// ITI-41: answered with a RegistryResponse carrying [`xdr::XdrError::registry_error`].
    #[error(transparent)]
    ProvideAndRegister(#[from] xdr::XdrError),
}

/// Parses the body of `req` as the transaction its Action names.
pub fn parse_request(req: &crate::soap::SoapRequest) -> Result<IheRequest, RequestError> {
    use crate::soap::Transaction;
    Ok(match req.transaction()? {
        Transaction::CrossGatewayPatientDiscovery => {
            IheRequest::PatientDiscovery(Box::new(xcpd::parse_query(&req.body)?))
        }
        Transaction::CrossGatewayQuery => IheRequest::FindDocuments(xca::parse_query(&req.body)?),
        Transaction::CrossGatewayRetrieve => {
            IheRequest::Retrieve(xca::parse_retrieve(&req.body).map_err(RequestError::Retrieve)?)
        }
        Transaction::ProvideAndRegisterDocumentSet => IheRequest::ProvideAndRegister(
            xdr::parse_provide_and_register(&req.body, &req.attachments)?,
        ),
    })
}
