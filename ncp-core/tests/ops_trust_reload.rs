//! The trust list reload behind SIGHUP (`ops::reload`): the SAML signing trust list and the TLS
//! configuration are swapped together into the running bridge's handles (every clone of the
//! `SigningTrust` sees the new list), and a broken file leaves both as they were.

#[path = "support/config_text.rs"]
mod config_text;

use std::sync::Arc;

use ncp_core::config::Config;
use ncp_core::ops::reload::{load_saml_trust, TrustReloader};
use ncp_core::pki::TestPki;

fn config(pki: &TestPki, saml: &std::path::Path) -> Config {
    let text = config_text::minimal_config(
        pki.server_cert.display(),
        pki.server_key.display(),
        pki.ca_cert.display(),
        &format!("\n[saml]\ntrust = [\"{}\"]\n", saml.display()),
    );
    Config::parse(&text).expect("configuration")
}

#[test]
fn saml_and_tls_trust_are_replaced_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::ensure(&dir.path().join("a")).unwrap();
    let other = TestPki::ensure(&dir.path().join("b")).unwrap();
    let saml_file = dir.path().join("saml-trust.pem");
    std::fs::copy(&pki.ca_cert, &saml_file).unwrap();
    let config = config(&pki, &saml_file);

    let saml = load_saml_trust(&config.saml.trust).unwrap();
    let in_use = saml.clone(); // what the endpoints hold
    let tls = Arc::new(arc_swap::ArcSwap::new(
        ncp_core::tls::server_config(&config.tls).unwrap(),
    ));
    let reloader = TrustReloader::new(&config, tls.clone(), saml);
    assert_eq!(in_use.len(), 1);

    // A second CA in the SAML trust list: every holder sees both, and a new TLS configuration.
    let before = tls.load_full();
    let mut both = std::fs::read(&pki.ca_cert).unwrap();
    both.extend(std::fs::read(&other.ca_cert).unwrap());
    std::fs::write(&saml_file, &both).unwrap();
    reloader.reload().expect("valid files reload");
    assert_eq!(in_use.len(), 2);
    assert!(!Arc::ptr_eq(&before, &tls.load_full()));

    // A broken file: an error naming it, nothing replaced.
    let before = tls.load_full();
    std::fs::write(&saml_file, b"-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    let e = reloader.reload().expect_err("a broken file is refused");
    assert!(e.starts_with("saml.trust[0]"), "{e}");
    assert_eq!(in_use.len(), 2);
    assert!(Arc::ptr_eq(&before, &tls.load_full()));

    // Building a list detaches it: a clone changed afterwards does not touch the one in use.
    let mut mine = in_use.clone();
    mine.add_ca_pem(&std::fs::read(&other.ca_cert).unwrap())
        .unwrap();
    assert_eq!((in_use.len(), mine.len()), (2, 3));
}
