//! Sweden as Country B: Swedish pharmacies and clinicians reach foreign patients.
//!
//! - [`foreign_gateway`]: the client that calls a foreign country's NCP (XCPD, XCA, XDR).

pub mod foreign_gateway;
