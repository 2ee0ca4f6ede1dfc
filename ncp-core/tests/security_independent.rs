//! Interoperability: assertions signed by XML-DSig implementations this project did not write
//! must verify, and must fail with 4704 once an attribute is changed.
//!
//! - Python `signxml` (lxml + cryptography), installed into a venv under the test target dir on
//!   first use; skipped with a message when PyPI is unreachable.
//! - The `xmlsec1` command line tool, when installed (`apt-get install xmlsec1`).

mod security_support;

/// The e2e tests' venv helper, shared by path (ncp-core cannot depend on the e2e-tests crate:
/// that crate depends on ncp-core).
#[allow(dead_code)]
#[path = "../../tests/src/python.rs"]
mod python;

/// Named `security` so that `cargo test -p ncp-core security` selects these tests.
mod security {

    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    use crate::security_support::*;
    use chrono::Utc;
    use ncp_core::security::{
        issue_hcp_assertion, issue_trc_assertion, unsigned_hcp_assertion, unsigned_trc_assertion,
        verify_assertions, AssertionKind, AssertionPolicy, SecurityError, SignatureFailure,
        SignedAssertion, Transaction,
    };

    /// The venv's python with signxml, or `None` (with the reason printed) when it cannot be set up.
    fn signxml_python() -> Option<&'static Path> {
        static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
        PYTHON
            .get_or_init(|| {
                let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("signxml-venv");
                let requirements = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/python/requirements-signxml.txt");
                crate::python::python_venv(&venv, &requirements)
            })
            .as_deref()
    }

    fn write_inputs(dir: &Path, unsigned: &str, signer: &Signer) -> (PathBuf, PathBuf, PathBuf) {
        let (xml, key, cert) = (
            dir.join("unsigned.xml"),
            dir.join("key.pem"),
            dir.join("cert.pem"),
        );
        std::fs::write(&xml, unsigned).unwrap();
        std::fs::write(&key, &signer.key_pem).unwrap();
        std::fs::write(&cert, &signer.cert_pem).unwrap();
        (xml, key, cert)
    }

    fn strip_declaration(xml: &str) -> String {
        let xml = xml.trim_start();
        match xml.strip_prefix("<?xml") {
            Some(rest) => rest[rest.find("?>").unwrap() + 2..].trim_start().to_owned(),
            None => xml.to_owned(),
        }
    }

    fn signxml_sign(python: &Path, unsigned: &SignedAssertion, signer: &Signer) -> String {
        let dir = tempfile::tempdir().unwrap();
        let (xml, key, cert) = write_inputs(dir.path(), &unsigned.xml, signer);
        let out = dir.path().join("signed.xml");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/sign_assertion.py");
        let run = Command::new(python)
            .arg(script)
            .args([&xml, &key, &cert, &out])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "signxml failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        strip_declaration(&std::fs::read_to_string(out).unwrap())
    }

    /// The algorithms of an `xmlsec1` signature template.
    struct Template {
        c14n: &'static str,
        method: &'static str,
        digest: &'static str,
        /// Content of the exclusive c14n transform (e.g. an InclusiveNamespaces PrefixList).
        c14n_params: &'static str,
    }

    const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

    impl Template {
        fn ehdsi(method: &'static str) -> Template {
            Template {
                c14n: EXC_C14N,
                method,
                digest: SHA256,
                c14n_params: "",
            }
        }
    }

    /// Signs with the `xmlsec1` tool from a signature template placed after saml2:Issuer.
    fn xmlsec1_sign(unsigned: &SignedAssertion, signer: &Signer, method: &'static str) -> String {
        xmlsec1_sign_with(
            unsigned,
            signer,
            &Template::ehdsi(match method {
                "rsa-sha256" => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                _ => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
            }),
        )
    }

    fn xmlsec1_sign_with(unsigned: &SignedAssertion, signer: &Signer, t: &Template) -> String {
        let template = format!(
            concat!(
                r#"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>"#,
                r#"<ds:CanonicalizationMethod Algorithm="{c14n}"/>"#,
                r#"<ds:SignatureMethod Algorithm="{method}"/>"#,
                r##"<ds:Reference URI="#{id}"><ds:Transforms>"##,
                r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
                r#"<ds:Transform Algorithm="{c14n}">{params}</ds:Transform></ds:Transforms>"#,
                r#"<ds:DigestMethod Algorithm="{digest}"/><ds:DigestValue/>"#,
                r#"</ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data>"#,
                r#"<ds:X509Certificate/></ds:X509Data></ds:KeyInfo></ds:Signature>"#
            ),
            c14n = t.c14n,
            method = t.method,
            digest = t.digest,
            params = t.c14n_params,
            id = unsigned.id
        );
        let with_template =
            unsigned
                .xml
                .replacen("</saml2:Issuer>", &format!("</saml2:Issuer>{template}"), 1);
        let dir = tempfile::tempdir().unwrap();
        let (xml, key, cert) = write_inputs(dir.path(), &with_template, signer);
        let out = dir.path().join("signed.xml");
        let run = Command::new("xmlsec1")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", key.display(), cert.display()))
            .args([
                "--id-attr:ID",
                "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
                "--output",
            ])
            .arg(&out)
            .arg(&xml)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "xmlsec1 failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        strip_declaration(&std::fs::read_to_string(out).unwrap())
    }

    fn have_xmlsec1() -> bool {
        let found = Command::new("xmlsec1").arg("--version").output().is_ok();
        if !found {
            eprintln!("SKIPPED xmlsec1: the tool is not installed (apt-get install xmlsec1)");
        }
        found
    }

    #[test]
    fn algorithms_outside_the_ehdsi_profile_are_4704() {
        if !have_xmlsec1() {
            return;
        }
        let pki = TestPki::new();
        let (h, _) = unsigned_pair();
        let verify = |xml: &str| {
            verify_assertions(
                envelope(&[xml]).as_bytes(),
                &pki.trust(),
                &AssertionPolicy::default(),
                Utc::now(),
                Transaction::IdentifyPatient,
            )
        };
        // Exclusive c14n with an InclusiveNamespaces PrefixList, as OpenNCP signs: accepted.
        let prefixed = Template {
            c14n_params: r#"<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xsd"/>"#,
            ..Template::ehdsi("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
        };
        verify(&xmlsec1_sign_with(&h, &pki.ee, &prefixed)).unwrap();

        let weak = [
            Template {
                digest: "http://www.w3.org/2000/09/xmldsig#sha1",
                ..Template::ehdsi("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
            },
            Template::ehdsi("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"),
            Template {
                c14n: "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
                ..Template::ehdsi("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256")
            },
        ];
        for t in &weak {
            let signed = xmlsec1_sign_with(&h, &pki.ee, t);
            let e = verify(&signed).unwrap_err();
            assert_eq!(
                e,
                SecurityError::Signature {
                    kind: AssertionKind::Hcp,
                    failure: SignatureFailure::Algorithm
                },
                "{} {} {}",
                t.c14n,
                t.method,
                t.digest
            );
        }
        if let Some(es) = &pki.es_rsa {
            let sha1 = Template::ehdsi("http://www.w3.org/2000/09/xmldsig#rsa-sha1");
            let e = verify(&xmlsec1_sign_with(&h, es, &sha1)).unwrap_err();
            assert_eq!(e.ehdsi_code(), "4704");
        }
    }

    fn check_accepts_and_refuses_tampering(
        pki: &TestPki,
        hcp_xml: &str,
        trc_xml: &str,
        country: &str,
    ) {
        let trust = pki.trust();
        let policy = AssertionPolicy::default();
        let verify = |h: &str, t: &str| {
            verify_assertions(
                envelope(&[h, t]).as_bytes(),
                &trust,
                &policy,
                Utc::now(),
                Transaction::RetrievePrescriptions,
            )
        };
        let caller = verify(hcp_xml, trc_xml).expect("independently signed assertions refused");
        assert_eq!(caller.country.as_str(), country);
        assert_eq!(caller.hcp.name, "Test Pharmacist");
        assert_eq!(caller.trc_patient(), Some(&patient()));

        let tampered = hcp_xml.replace("Tallinn", "Tartu");
        assert_ne!(tampered, hcp_xml);
        let e = verify(&tampered, trc_xml).unwrap_err();
        assert_eq!(e.ehdsi_code(), "4704");
        assert_eq!(
            e,
            SecurityError::Signature {
                kind: AssertionKind::Hcp,
                failure: SignatureFailure::Invalid
            }
        );
        let tampered = trc_xml.replace("38201234567", "38201234568");
        assert_ne!(tampered, trc_xml);
        let e = verify(hcp_xml, &tampered).unwrap_err();
        assert_eq!(e.ehdsi_code(), "4704");
    }

    fn unsigned_pair() -> (SignedAssertion, SignedAssertion) {
        let now = Utc::now();
        let h = unsigned_hcp_assertion(&hcp_claims(), &options("urn:idp:EE:countryB", now, 120));
        let t = unsigned_trc_assertion(
            &trc_claims(&h.id, patient()),
            &options("urn:ncp:EE:countryB", now, 60),
        );
        (h, t)
    }

    #[test]
    fn signxml_ecdsa_signed_assertions_verify_and_tampering_is_4704() {
        let Some(python) = signxml_python() else {
            return;
        };
        let pki = TestPki::new();
        let (h, t) = unsigned_pair();
        let hcp_xml = signxml_sign(python, &h, &pki.ee);
        let trc_xml = signxml_sign(python, &t, &pki.ee);
        assert!(hcp_xml.contains("ecdsa-sha256"));
        check_accepts_and_refuses_tampering(&pki, &hcp_xml, &trc_xml, "EE");
    }

    #[test]
    fn signxml_rsa_signed_assertions_verify_and_tampering_is_4704() {
        let Some(python) = signxml_python() else {
            return;
        };
        let pki = TestPki::new();
        let Some(es) = &pki.es_rsa else {
            eprintln!("SKIPPED: `openssl genpkey` unavailable, no RSA key to test with");
            return;
        };
        let (h, t) = unsigned_pair();
        let hcp_xml = signxml_sign(python, &h, es);
        let trc_xml = signxml_sign(python, &t, es);
        assert!(hcp_xml.contains("rsa-sha256"));
        check_accepts_and_refuses_tampering(&pki, &hcp_xml, &trc_xml, "ES");
    }

    #[test]
    fn xmlsec1_tool_signed_assertions_verify_and_tampering_is_4704() {
        if !have_xmlsec1() {
            return;
        }
        let pki = TestPki::new();
        let (h, t) = unsigned_pair();
        let hcp_xml = xmlsec1_sign(&h, &pki.ee, "ecdsa-sha256");
        let trc_xml = xmlsec1_sign(&t, &pki.ee, "ecdsa-sha256");
        check_accepts_and_refuses_tampering(&pki, &hcp_xml, &trc_xml, "EE");
        if let Some(es) = &pki.es_rsa {
            let hcp_xml = xmlsec1_sign(&h, es, "rsa-sha256");
            let trc_xml = xmlsec1_sign(&t, es, "rsa-sha256");
            check_accepts_and_refuses_tampering(&pki, &hcp_xml, &trc_xml, "ES");
        }
    }

    /// signxml's verdict on an assertion and the certificate it should be signed with: the
    /// verified assertion's ID, or `None`.
    fn signxml_verify(python: &Path, signed_xml: &str, signer: &Signer) -> Option<String> {
        let dir = tempfile::tempdir().unwrap();
        let (xml, cert) = (dir.path().join("signed.xml"), dir.path().join("cert.pem"));
        std::fs::write(&xml, signed_xml).unwrap();
        std::fs::write(&cert, &signer.cert_pem).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/verify_assertion.py");
        let run = Command::new(python)
            .arg(script)
            .args([&xml, &cert])
            .output()
            .unwrap();
        if !run.status.success() {
            eprintln!(
                "signxml refused: {}",
                String::from_utf8_lossy(&run.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return None;
        }
        Some(String::from_utf8_lossy(&run.stdout).trim().to_owned())
    }

    #[test]
    fn our_issued_assertions_verify_in_signxml() {
        let Some(python) = signxml_python() else {
            return;
        };
        let pki = TestPki::new();
        let now = Utc::now();
        let mut signers = vec![&pki.ee];
        signers.extend(pki.es_rsa.as_ref());
        for signer in signers {
            let h = issue_hcp_assertion(
                &hcp_claims(),
                &options("urn:idp:SE:countryB", now, 120),
                &signer.key,
            )
            .unwrap();
            let t = issue_trc_assertion(
                &trc_claims(&h.id, patient()),
                &options("urn:ncp:SE:countryB", now, 60),
                &signer.key,
            )
            .unwrap();
            assert_eq!(signxml_verify(python, &h.xml, signer), Some(h.id.clone()));
            assert_eq!(signxml_verify(python, &t.xml, signer), Some(t.id.clone()));
            let tampered = h.xml.replace("Tallinn", "Tartu");
            assert_eq!(signxml_verify(python, &tampered, signer), None);
            assert_eq!(signxml_verify(python, &h.xml, &pki.stranger), None);
        }
    }
}
