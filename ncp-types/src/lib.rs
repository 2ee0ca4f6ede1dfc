//! Shared domain types of the Swedish NCP bridge.
//!
//! Every crate of the workspace speaks in these types rather than in loose strings: an [`Oid`],
//! a [`CountryCode`], a Swedish [`PersonId`] (personnummer or samordningsnummer), an [`HsaId`],
//! a [`PrescriptionId`]. Parsing is strict where we produce and tolerant where the world varies
//! (the identifier systems come in URI and OID spellings, see [`systems`]).

mod country;
mod ids;
mod oid;
mod person;
pub mod systems;

pub use country::CountryCode;
pub use ids::{DispensationId, HsaId, PrescriptionId};
pub use oid::Oid;
pub use person::{with_check_digit, PersonId, PersonIdKind};

/// Why a value could not be turned into one of the domain types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not an OID: {0}")]
    Oid(String),
    #[error("not an ISO 3166-1 alpha-2 country code: {0}")]
    Country(String),
    #[error("not a Swedish personnummer or samordningsnummer ({reason})")]
    PersonId { reason: &'static str },
    #[error("not an HSA-id: {0}")]
    HsaId(String),
    #[error("unknown identifier system: {0}")]
    UnknownSystem(String),
    #[error("empty identifier")]
    Empty,
}
