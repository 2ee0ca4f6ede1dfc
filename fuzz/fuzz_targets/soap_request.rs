//! The SOAP 1.2 envelope parser and the IHE bodies behind it (XCPD, XCA query and retrieve).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncp_core::ihe::{xca, xcpd};
use ncp_core::soap::{parse_request, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = parse_request(
        "application/soap+xml; charset=UTF-8",
        data,
        &Limits::default(),
    ) {
        let _ = req.transaction();
        let _ = xcpd::parse_query(&req.body);
        let _ = xca::parse_query(&req.body);
        let _ = xca::parse_retrieve(&req.body);
    }
});
