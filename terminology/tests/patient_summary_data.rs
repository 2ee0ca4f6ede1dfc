//! The Patient Summary data (`data/ps_concepts.tsv`, `data/ps_maps.tsv`): Swedish providers'
//! codes reach the eHDSI Patient Summary value sets, with Swedish and English designations.

use ncp_types::Oid;
use terminology::code_systems::{CVX_OID, EHDSI_ICD10_OID, ICD10_SE_OID, LOINC_OID, SNOMED_CT_OID};
use terminology::{value_sets, Coded, Lang, Terminology, Transcoded};

fn oid(s: &str) -> Oid {
    Oid::parse(s).unwrap()
}

fn t() -> Terminology {
    Terminology::load(None).expect("embedded data loads")
}

#[test]
fn a_food_allergen_maps_to_the_ehdsi_allergen_substance() {
    let t = t();
    let peanut = Coded::new("256349002", oid(SNOMED_CT_OID));
    match t.transcode(&peanut, value_sets::ALLERGEN_NO_DRUG) {
        Transcoded::Mapped { target, original } => {
            assert_eq!(target.code, "762952008");
            assert_eq!(original.code, "256349002");
        }
        other => panic!("expected Mapped, got {other:?}"),
    }
    assert_eq!(
        t.display(&oid(SNOMED_CT_OID), "256349002", Lang::SV)
            .as_deref(),
        Some("Jordnöt (livsmedel)")
    );
}

#[test]
fn swedish_designations_for_findings_devices_and_vital_signs() {
    let t = t();
    for (system, code, sv, en) in [
        (
            SNOMED_CT_OID,
            "38341003",
            "Hypertoni",
            "Hypertensive disorder",
        ),
        (SNOMED_CT_OID, "69805005", "Insulinpump", "Insulin pump"),
        (LOINC_OID, "29463-7", "Kroppsvikt", "Body weight"),
    ] {
        assert_eq!(t.display(&oid(system), code, Lang::SV).as_deref(), Some(sv));
        assert_eq!(t.display(&oid(system), code, Lang::EN).as_deref(), Some(en));
    }
}

#[test]
fn a_pacemaker_implantation_is_an_ehdsi_procedure_and_an_insulin_pump_stays_unmapped() {
    let t = t();
    let implant = Coded::new("307280005", oid(SNOMED_CT_OID));
    assert!(matches!(
        t.transcode(&implant, value_sets::PROCEDURE),
        Transcoded::Member(_)
    ));
    let pump = Coded::new("69805005", oid(SNOMED_CT_OID));
    assert!(t.transcode(&pump, value_sets::MEDICAL_DEVICE).is_unmapped());
}

#[test]
fn icd10_se_diagnoses_reach_ehdsi_icd10() {
    let t = t();
    let icd = Coded::new("I48.9", oid(ICD10_SE_OID));
    let got = t.transcode(&icd, value_sets::ILLNESS_AND_DISORDER);
    let target = got.target().expect("mapped");
    assert_eq!(target.code, "I48.9");
    assert_eq!(target.code_system.as_str(), EHDSI_ICD10_OID);
}

#[test]
fn cvx_vaccine_codes_are_recognised_from_fhir() {
    let c = Coded::from_fhir("http://hl7.org/fhir/sid/cvx", "140").expect("CVX system");
    assert_eq!(c.code_system.as_str(), CVX_OID);
}
