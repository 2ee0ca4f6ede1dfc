//! Tests against other countries' eHDSI documents and simulated foreign NCPs.
//!
//! - [`samples`]: the eHDSI sample documents in `../shared` (skipped with a message when
//!   absent) and the `validate-cda` conformance check.
//! - [`sim`]: [`ForeignNcpSim`], a simulated foreign NCP (mutual TLS, SOAP, signed assertions
//!   checked) answering XCPD, XCA and XDR as another country would, with per-patient error
//!   behaviours, recording what it received.

pub mod samples;
pub mod sim;

pub use sim::{
    standard_patients, Behaviour, CallRecord, ForeignNcpSim, ForeignNcpSimConfig,
    ReceivedDispensation, RunningForeignNcp, SimError, SimPatient,
};
