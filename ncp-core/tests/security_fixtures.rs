//! Assertions shaped like those of OpenNCP-based foreign NCPs (tests/fixtures/saml), signed
//! for the run: the extra attributes, typed values and the TRC patient in the XSPA subject are
//! read as the eHDSI profile means them.

mod security_support;

/// Named `security` so that `cargo test -p ncp-core security` selects these tests.
mod security {

    use crate::security_support::*;
    use chrono::{Duration, SecondsFormat, Utc};
    use ncp_core::security::{
        check_trc_patient, sign_assertion, verify_assertions, AssertionKind, AssertionPolicy,
        FacilityType, HcpRole, Permission, PurposeOfUse, SecurityError, Transaction,
    };

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/saml")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    fn fill(template: &str, id: &str, hcp_id: &str, minutes: i64) -> String {
        let now = Utc::now();
        let t = |d: chrono::DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::Millis, true);
        template
            .replace("${ID}", id)
            .replace("${HCP_ID}", hcp_id)
            .replace("${NOW}", &t(now))
            .replace("${END}", &t(now + Duration::minutes(minutes)))
            .replace("${PATIENT}", &patient().to_cx().replace('&', "&amp;"))
    }

    #[test]
    fn openncp_style_assertions_are_read_per_the_profile() {
        let pki = TestPki::new();
        let hcp_id = "_8a1c6a3e-5b0f-4c1e-9a57-3f1f0d2b7c11";
        let hcp = sign_assertion(
            &fill(&fixture("hcp-openncp-style.xml"), hcp_id, "", 240),
            &pki.ee.key,
        )
        .unwrap();
        assert_eq!(hcp.id, hcp_id);
        let trc = sign_assertion(
            &fill(&fixture("trc-openncp-style.xml"), "_trc-1", hcp_id, 120),
            &pki.ee.key,
        )
        .unwrap();
        let env = envelope(&[&hcp.xml, &trc.xml]);
        let caller = verify_assertions(
            env.as_bytes(),
            &pki.trust(),
            &AssertionPolicy::default(),
            Utc::now(),
            Transaction::RetrievePatientSummary,
        )
        .unwrap();
        assert_eq!(caller.hcp.subject_id, "dr.tamm@kliinik.test");
        assert_eq!(caller.hcp.name, "Mari Tamm");
        assert_eq!(caller.hcp.role, HcpRole::PHYSICIAN);
        assert_eq!(caller.hcp.facility_type, FacilityType::ResidentPhysician);
        assert_eq!(caller.hcp.purpose_of_use, PurposeOfUse::Emergency);
        assert_eq!(
            caller.hcp.organisation_id,
            "urn:hl7ii:1.3.6.1.4.1.48336.2:KLIINIK-7"
        );
        assert_eq!(caller.hcp.locality.as_deref(), Some("Test Kliinik, Tartu"));
        // The unknown PPD-999 is dropped, the nine eHDSI permissions are kept.
        assert_eq!(caller.hcp.permissions.len(), Permission::ALL.len());
        assert_eq!(caller.hcp_issuer, "urn:initgw:EE:countryB");
        let trc_claims = caller.trc.as_ref().unwrap();
        assert_eq!(trc_claims.purpose_of_use, PurposeOfUse::Emergency);
        assert_eq!(trc_claims.hcp_assertion_ref, hcp_id);
        check_trc_patient(&caller, &patient()).unwrap();

        // A physician may not dispense.
        let e = verify_assertions(
            env.as_bytes(),
            &pki.trust(),
            &AssertionPolicy::default(),
            Utc::now(),
            Transaction::SubmitDispensation,
        )
        .unwrap_err();
        assert_eq!(e, SecurityError::RoleNotAllowed);
    }

    #[test]
    fn malformed_claims_are_4702_or_4703() {
        let pki = TestPki::new();
        let hcp_id = "_hcp-2";
        let base = fill(&fixture("hcp-openncp-style.xml"), hcp_id, "", 60);
        let verify = |hcp_xml: &str| {
            let signed = sign_assertion(hcp_xml, &pki.ee.key).unwrap();
            verify_assertions(
                envelope(&[&signed.xml]).as_bytes(),
                &pki.trust(),
                &AssertionPolicy::default(),
                Utc::now(),
                Transaction::IdentifyPatient,
            )
        };
        assert!(verify(&base).is_ok());
        let cases: [(&str, &str, &str); 6] = [
        ("Resident Physician", "Spa", "4702"),
        ("code=\"221\"", "code=\"9999\"", "4703"),
        ("code=\"EMERGENCY\"", "code=\"RESEARCH\"", "4703"),
        (
            "urn:ehdsi:assertions.audience:x-border",
            "urn:ehdsi:assertions.audience:elsewhere",
            "4702",
        ),
        (
            "<saml2:Issuer NameQualifier=\"urn:ehdsi:assertions:hcp\">urn:initgw:EE:countryB</saml2:Issuer>",
            "<saml2:Issuer NameQualifier=\"urn:ehdsi:assertions:hcp\"> </saml2:Issuer>",
            "4702",
        ),
        (
            "codeSystem=\"2.16.840.1.113883.2.9.6.2.7\"",
            "codeSystem=\"2.16.840.1.113883.5.111\"",
            "4702",
        ),
    ];
        for (from, to, code) in cases {
            let changed = base.replacen(from, to, 1);
            assert_ne!(changed, base, "{from}");
            let e = verify(&changed).unwrap_err();
            assert_eq!(e.ehdsi_code(), code, "{from} -> {to}: {e}");
        }
        // No Subject/NameID at all.
        let start = base.find("<saml2:Subject>").unwrap();
        let end = base.find("</saml2:Subject>").unwrap() + "</saml2:Subject>".len();
        let no_subject = format!("{}{}", &base[..start], &base[end..]);
        assert_eq!(
            verify(&no_subject).unwrap_err(),
            SecurityError::InvalidAssertion {
                kind: AssertionKind::Hcp,
                reason: "no Subject/NameID"
            }
        );
    }

    #[test]
    fn trc_with_two_different_patients_is_refused() {
        let pki = TestPki::new();
        let hcp_id = "_hcp-3";
        let hcp = sign_assertion(
            &fill(&fixture("hcp-openncp-style.xml"), hcp_id, "", 60),
            &pki.ee.key,
        )
        .unwrap();
        let other = patient();
        let other = ncp_core::security::PatientRef::new(other.root, "49001011234");
        let trc_xml = fill(&fixture("trc-openncp-style.xml"), "_trc-3", hcp_id, 60).replacen(
            "<saml2:Attribute FriendlyName=\"XSPA Purpose Of Use\"",
            &format!(
                concat!(
                    "<saml2:Attribute Name=\"urn:oasis:names:tc:xacml:1.0:resource:resource-id\">",
                    "<saml2:AttributeValue>{}</saml2:AttributeValue></saml2:Attribute>",
                    "<saml2:Attribute FriendlyName=\"XSPA Purpose Of Use\""
                ),
                other.to_cx().replace('&', "&amp;")
            ),
            1,
        );
        let trc = sign_assertion(&trc_xml, &pki.ee.key).unwrap();
        let e = verify_assertions(
            envelope(&[&hcp.xml, &trc.xml]).as_bytes(),
            &pki.trust(),
            &AssertionPolicy::default(),
            Utc::now(),
            Transaction::FindPatientSummary,
        )
        .unwrap_err();
        assert_eq!(
            e,
            SecurityError::InvalidAssertion {
                kind: AssertionKind::Trc,
                reason: "two different patient ids"
            }
        );
        assert!(!e.message().contains("49001011234"));
    }
}
