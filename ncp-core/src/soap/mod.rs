//! The SOAP 1.2 transport of the IHE endpoints, as pure functions over bytes.
//!
//! - [`envelope`]: a request (plain `application/soap+xml` or MTOM) into a [`SoapRequest`]; a
//!   [`SoapResponse`] into HTTP bytes.
//! - [`mtom`]: `multipart/related` XOP packages, both ways.
//! - [`addressing`]: the WS-Addressing headers and the IHE Actions.
//! - [`fault`]: SOAP 1.2 faults carrying an eHDSI error code.
//! - [`xml`]: guarded XML parsing (no DOCTYPE, bounded size and depth) and an escaping writer.
//!
//! Nothing here logs message content: identifiers, names and bodies stay out of the logs.

pub mod addressing;
pub mod envelope;
pub mod fault;
pub mod mtom;
pub mod xml;

pub use addressing::{Addressing, Transaction};
pub use envelope::{parse_request, ResponseHeaders, SoapRequest, SoapResponse};
pub use fault::{Fault, FaultCode};
pub use mtom::{Attachment, HttpPayload};
pub use xml::{Limits, XmlError};

/// The SOAP 1.2 envelope namespace.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The SOAP 1.1 envelope namespace (refused with a VersionMismatch fault).
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The media type of a SOAP 1.2 message.
pub const SOAP12_CONTENT_TYPE: &str = "application/soap+xml; charset=UTF-8";

/// Why a request could not be read as a SOAP 1.2 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("unsupported Content-Type: {0}")]
    BadContentType(String),
    #[error("broken multipart message: {0}")]
    BrokenMultipart(String),
    #[error("not a SOAP 1.2 envelope")]
    NotSoap12,
    #[error("the document is not a SOAP envelope")]
    NotAnEnvelope,
    #[error("the envelope has no Body element")]
    MissingBody,
    #[error("the SOAP Body is empty")]
    EmptyBody,
    #[error("the WS-Addressing Action header is missing")]
    MissingAction,
    #[error("the Action is not served here: {0}")]
    UnknownAction(String),
    #[error("only the anonymous ReplyTo address is supported")]
    NonAnonymousReplyTo,
    #[error("a header that must be understood is not: {0}")]
    MustUnderstand(String),
    #[error("an xop:Include names no MIME part")]
    UnresolvedXop,
}
