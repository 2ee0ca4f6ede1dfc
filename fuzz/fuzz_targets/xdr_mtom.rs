//! MTOM (multipart/related, XOP) requests and the XDR Provide and Register parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncp_core::ihe::xdr;
use ncp_core::soap::{mtom, parse_request, Limits};

const CT: &str = "multipart/related; type=\"application/xop+xml\"; boundary=\"MIMEBoundary\"; start-info=\"application/soap+xml\"";

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let _ = mtom::split(CT, data, &limits);
    if let Ok(req) = parse_request(CT, data, &limits) {
        let _ = xdr::parse_provide_and_register(&req.body, &req.attachments);
    }
    let _ = xdr::parse_provide_and_register(data, &[]);
});
