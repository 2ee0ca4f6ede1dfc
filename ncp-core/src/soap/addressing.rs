//! WS-Addressing 1.0 (SOAP binding) as the IHE ITI TF-2 (V.3.2) requires it: every request
//! carries `wsa:Action` and `wsa:MessageID`; responses carry the response Action and
//! `wsa:RelatesTo` the request's MessageID.

use super::xml::{child, text_of};
use super::SoapError;

pub const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
/// The anonymous address: reply on the same HTTP connection.
pub const WSA_ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";
/// The Action of a SOAP fault.
pub const FAULT_ACTION: &str = "http://www.w3.org/2005/08/addressing/soap/fault";

/// The WS-Addressing headers of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addressing {
    pub action: String,
    pub message_id: Option<String>,
    pub to: Option<String>,
    pub reply_to: Option<String>,
}

impl Addressing {
    /// Reads the headers from the children of `env:Header`. `wsa:Action` is required.
    pub fn from_header(header: Option<roxmltree::Node<'_, '_>>) -> Result<Self, SoapError> {
        let get = |local: &str| header.and_then(|h| child(h, WSA_NS, local)).map(text_of);
        let action = get("Action")
            .filter(|a| !a.is_empty())
            .ok_or(SoapError::MissingAction)?;
        let reply_to = header
            .and_then(|h| child(h, WSA_NS, "ReplyTo"))
            .and_then(|r| child(r, WSA_NS, "Address"))
            .map(text_of);
        if let Some(r) = &reply_to {
            // This gateway answers synchronously only (ITI TF-2 V.3.2.1: anonymous ReplyTo).
            if r != WSA_ANONYMOUS {
                return Err(SoapError::NonAnonymousReplyTo);
            }
        }
        Ok(Addressing {
            action,
            message_id: get("MessageID").filter(|m| !m.is_empty()),
            to: get("To").filter(|t| !t.is_empty()),
            reply_to,
        })
    }
}

/// The IHE transactions this gateway answers as country A, with their SOAP Actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transaction {
    /// ITI-55 Cross Gateway Patient Discovery.
    CrossGatewayPatientDiscovery,
    /// ITI-38 Cross Gateway Query.
    CrossGatewayQuery,
    /// ITI-39 Cross Gateway Retrieve.
    CrossGatewayRetrieve,
    /// ITI-41 Provide and Register Document Set-b (eHDSI XDR: eDispensation and its discard).
    ProvideAndRegisterDocumentSet,
}

impl Transaction {
    pub const ALL: [Transaction; 4] = [
        Transaction::CrossGatewayPatientDiscovery,
        Transaction::CrossGatewayQuery,
        Transaction::CrossGatewayRetrieve,
        Transaction::ProvideAndRegisterDocumentSet,
    ];

    pub fn request_action(self) -> &'static str {
        match self {
            Transaction::CrossGatewayPatientDiscovery => {
                "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery"
            }
            Transaction::CrossGatewayQuery => "urn:ihe:iti:2007:CrossGatewayQuery",
            Transaction::CrossGatewayRetrieve => "urn:ihe:iti:2007:CrossGatewayRetrieve",
            Transaction::ProvideAndRegisterDocumentSet => {
                "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
            }
        }
    }

    pub fn response_action(self) -> &'static str {
        match self {
            Transaction::CrossGatewayPatientDiscovery => {
                "urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery"
            }
            Transaction::CrossGatewayQuery => "urn:ihe:iti:2007:CrossGatewayQueryResponse",
            Transaction::CrossGatewayRetrieve => "urn:ihe:iti:2007:CrossGatewayRetrieveResponse",
            Transaction::ProvideAndRegisterDocumentSet => {
                "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
            }
        }
    }

    /// The transaction a request Action names, if this gateway serves it.
    pub fn from_action(action: &str) -> Option<Self> {
        Transaction::ALL
            .into_iter()
            .find(|t| t.request_action() == action.trim())
    }
}
