//! SOAP 1.2 faults (SOAP 1.2 Part 1 §5.4), with the eHDSI error code carried in `env:Detail`.
//!
//! A fault answers a message that could not be processed as an IHE transaction at all: not SOAP
//! 1.2, no Action, an unknown Action, a refused security header. Business errors of a
//! well-formed request go in the transaction's own response (RegistryErrorList, XCPD
//! acknowledgement), not here.

use super::addressing::{FAULT_ACTION, WSA_NS};
use super::envelope::{write_envelope, ResponseHeaders};
use super::mtom::HttpPayload;
use super::xml::XmlWriter;
use super::{SoapError, SOAP12_CONTENT_TYPE, SOAP12_NS};
use crate::ihe::errors::EhdsiError;

/// The namespace of the eHDSI error element this gateway writes in `env:Detail`.
pub const FAULT_DETAIL_NS: &str = "urn:se:ncp:soap-fault-detail";
/// WS-Security 1.0 (for the security subcodes).
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

/// The SOAP 1.2 top-level fault codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultCode {
    /// The message was wrong: the sender should not resend it unchanged.
    Sender,
    /// We failed: the same message may succeed later.
    Receiver,
    MustUnderstand,
    VersionMismatch,
}

impl FaultCode {
    fn local(self) -> &'static str {
        match self {
            FaultCode::Sender => "Sender",
            FaultCode::Receiver => "Receiver",
            FaultCode::MustUnderstand => "MustUnderstand",
            FaultCode::VersionMismatch => "VersionMismatch",
        }
    }
}

/// A qualified name for an `env:Subcode/env:Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QName {
    pub namespace: String,
    pub prefix: String,
    pub local: String,
}

impl QName {
    pub fn wsa(local: &str) -> Self {
        QName {
            namespace: WSA_NS.into(),
            prefix: "wsa".into(),
            local: local.into(),
        }
    }

    pub fn wsse(local: &str) -> Self {
        QName {
            namespace: WSSE_NS.into(),
            prefix: "wsse".into(),
            local: local.into(),
        }
    }
}

/// A SOAP 1.2 fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: FaultCode,
    pub subcode: Option<QName>,
    /// Human-readable reason (English). Never put patient data here.
    pub reason: String,
    /// The eHDSI error, written in `env:Detail`.
    pub ehdsi: Option<EhdsiError>,
}

impl Fault {
    pub fn sender(reason: impl Into<String>) -> Self {
        Fault {
            code: FaultCode::Sender,
            subcode: None,
            reason: reason.into(),
            ehdsi: None,
        }
    }

    pub fn receiver(reason: impl Into<String>) -> Self {
        Fault {
            code: FaultCode::Receiver,
            subcode: None,
            reason: reason.into(),
            ehdsi: None,
        }
    }

    pub fn with_subcode(mut self, q: QName) -> Self {
        self.subcode = Some(q);
        self
    }

    pub fn with_ehdsi(mut self, e: EhdsiError) -> Self {
        self.ehdsi = Some(e);
        self
    }

    /// The HTTP status of the fault (SOAP 1.2 Part 2 §7.5.1.2): 400 for a Sender fault, 500
    /// otherwise.
    pub fn http_status(&self) -> u16 {
        match self.code {
            FaultCode::Sender => 400,
            _ => 500,
        }
    }

    /// The fault for a request that could not be parsed.
    pub fn from_error(e: &SoapError) -> Self {
        let f = Fault::sender(e.to_string());
        match e {
            SoapError::MissingAction => {
                f.with_subcode(QName::wsa("MessageAddressingHeaderRequired"))
            }
            SoapError::UnknownAction(_) => f.with_subcode(QName::wsa("ActionNotSupported")),
            SoapError::NonAnonymousReplyTo => {
                f.with_subcode(QName::wsa("OnlyAnonymousAddressSupported"))
            }
            SoapError::NotSoap12 => Fault {
                code: FaultCode::VersionMismatch,
                ..f
            },
            SoapError::MustUnderstand(_) => Fault {
                code: FaultCode::MustUnderstand,
                ..f
            },
            _ => f,
        }
    }

    /// The fault as a SOAP 1.2 envelope (`application/soap+xml`).
    pub fn to_http(&self, headers: &ResponseHeaders) -> HttpPayload {
        let mut w = XmlWriter::new();
        w.open("env:Fault", &[]);
        w.open("env:Code", &[]);
        w.leaf("env:Value", &[], &format!("env:{}", self.code.local()));
        if let Some(sc) = &self.subcode {
            let xmlns = format!("xmlns:{}", sc.prefix);
            w.open("env:Subcode", &[]);
            w.leaf(
                "env:Value",
                &[(xmlns.as_str(), sc.namespace.as_str())],
                &format!("{}:{}", sc.prefix, sc.local),
            );
            w.close();
        }
        w.close();
        w.open("env:Reason", &[]);
        w.leaf("env:Text", &[("xml:lang", "en")], &self.reason);
        w.close();
        if let Some(e) = self.ehdsi {
            crate::ops::metrics::ehdsi_error(e.code(), "soap-fault");
            w.open("env:Detail", &[]);
            w.leaf(
                "ncpf:ErrorCode",
                &[
                    ("xmlns:ncpf", FAULT_DETAIL_NS),
                    ("codeContext", e.description()),
                ],
                e.code(),
            );
            w.close();
        }
        let body = w.finish();
        let headers = ResponseHeaders {
            action: FAULT_ACTION.into(),
            ..headers.clone()
        };
        HttpPayload {
            content_type: format!("{SOAP12_CONTENT_TYPE}; action=\"{FAULT_ACTION}\""),
            body: write_envelope(&headers, &body),
        }
    }
}

/// The SOAP 1.2 namespace, for readers of faults.
pub fn is_fault(body_element: roxmltree::Node<'_, '_>) -> bool {
    body_element.has_tag_name((SOAP12_NS, "Fault"))
}
