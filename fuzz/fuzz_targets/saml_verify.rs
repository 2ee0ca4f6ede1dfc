//! The SAML assertion verifier's entry (libxml2 parse, wsse:Security lookup, XML-DSig), with an
//! empty trust list: every input must be refused, none may crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncp_core::security::{verify_assertions, AssertionPolicy, SigningTrust, Transaction};

fuzz_target!(|data: &[u8]| {
    let trust = SigningTrust::new();
    let policy = AssertionPolicy::default();
    let r = verify_assertions(
        data,
        &trust,
        &policy,
        chrono::Utc::now(),
        Transaction::FindPrescriptions,
    );
    assert!(r.is_err(), "accepted with an empty trust list");
});
