//! Loading the official eHDSI Wave 8 MVC from ../shared (skipped when absent).

use std::path::PathBuf;
use std::time::Instant;

use ncp_types::Oid;
use terminology::code_systems::{
    ATC_OID, EDQM_OID, EHDSI_ICD10_OID, ICD10_SE_OID, LOINC_OID, NPL_ID_OID, NULL_FLAVOR_OID,
    SNOMED_CT_OID, UCUM_OID,
};
use terminology::{value_sets, Coded, Lang, Terminology, Transcoded};

fn mvc_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ehdsi/schematron-wave8/include");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: MVC directory {} not found (the shared eHDSI files are not mounted)",
            dir.display()
        );
        None
    }
}

fn oid(s: &str) -> Oid {
    Oid::parse(s).unwrap()
}

fn loaded() -> Option<Terminology> {
    let dir = mvc_dir()?;
    let start = Instant::now();
    let t = Terminology::load(Some(&dir)).expect("MVC loads");
    println!(
        "MVC loaded: {} value sets from {} in {:?}",
        t.source().mvc_value_sets,
        dir.display(),
        start.elapsed()
    );
    Some(t)
}

#[test]
fn known_members_of_the_official_value_sets() {
    let Some(t) = loaded() else { return };
    assert!(t.source().mvc_value_sets >= 100);
    let dose = t.value_set(value_sets::DOSE_FORM).expect("eHDSIDoseForm");
    assert_eq!(dose.name, "eHDSIDoseForm");
    assert!(dose.len() > 500, "{}", dose.len());
    assert!(dose.contains(&oid(EDQM_OID), "10219000"));
    let ai = t.value_set(value_sets::ACTIVE_INGREDIENT).unwrap();
    assert_eq!(ai.name, "eHDSIActiveIngredient");
    assert!(ai.contains(&oid(ATC_OID), "N02BE01"));
    assert!(t.contains(value_sets::UNIT, &Coded::new("mg", oid(UCUM_OID))));
    assert!(!t.contains(value_sets::UNIT, &Coded::new("MG", oid(UCUM_OID))));
    assert!(t.contains(
        value_sets::ILLNESS_AND_DISORDER,
        &Coded::new("E11.9", oid(EHDSI_ICD10_OID))
    ));
    assert!(t.contains(
        value_sets::BLOOD_PRESSURE,
        &Coded::new("8480-6", oid(LOINC_OID))
    ));
    assert!(t.contains(
        value_sets::REACTION_ALLERGY,
        &Coded::new("39579001", oid(SNOMED_CT_OID))
    ));
    // eHDSINullFlavor lists its codes as <exception>s.
    assert!(t.contains(
        value_sets::NULL_FLAVOR,
        &Coded::new("OTH", oid(NULL_FLAVOR_OID))
    ));
    // The package file has a code system OID with a trailing space.
    assert!(t.contains(value_sets::PACKAGE, &Coded::new("30008000", oid(EDQM_OID))));
    // The MVC's English display wins; our Swedish one stays.
    let edqm = oid(EDQM_OID);
    assert_eq!(
        t.display(&edqm, "10219000", Lang::EN).as_deref(),
        Some("Tablet")
    );
    assert_eq!(
        t.display(&edqm, "10219000", Lang::SV).as_deref(),
        Some("Tablett")
    );
    // A code we have no Swedish for falls back to the MVC English.
    assert_eq!(
        t.display(&edqm, "13001000", Lang::SV).as_deref(),
        Some("Concentrate for concentrate for solution for infusion")
    );
}

#[test]
fn every_value_set_constant_names_the_right_mvc_value_set() {
    let Some(t) = loaded() else { return };
    for (name, oid) in value_sets::ALL {
        let vs = t
            .value_set(*oid)
            .unwrap_or_else(|| panic!("{name} {oid} not in the MVC"));
        assert_eq!(vs.name, *name, "{oid}");
    }
}

/// Every member the embedded data claims is a member of the official value set: the data
/// files agree with the MVC.
#[test]
fn embedded_memberships_agree_with_the_mvc() {
    let Some(t) = loaded() else { return };
    let embedded = Terminology::load(None).unwrap();
    let mut checked = 0;
    for vs in embedded.value_sets() {
        let official = t
            .value_set(&vs.oid)
            .unwrap_or_else(|| panic!("{} not in MVC", vs.name));
        for c in vs.concepts() {
            assert!(
                official.contains(&c.code_system, &c.code),
                "{} {} is not in the MVC {}",
                c.code_system,
                c.code,
                vs.name
            );
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
    // And every map target and NPL mapping lands in a value set.
    for p in embedded.npl_products() {
        let c = Coded::new(p.npl_id.clone(), oid(NPL_ID_OID));
        for vs in [
            value_sets::ACTIVE_INGREDIENT,
            value_sets::DOSE_FORM,
            value_sets::ROUTE_OF_ADMINISTRATION,
        ] {
            assert!(
                matches!(t.transcode(&c, vs), Transcoded::Mapped { .. }),
                "{} in {vs}",
                p.npl_id
            );
        }
    }
}

#[test]
fn icd10_se_against_the_full_icd10_value_set() {
    let Some(t) = loaded() else { return };
    let c = Coded::new("J459", oid(ICD10_SE_OID));
    match t.transcode(&c, value_sets::ILLNESS_AND_DISORDER) {
        Transcoded::Mapped { target, original } => {
            assert_eq!(target.code, "J45.9");
            assert_eq!(target.display.as_deref(), Some("Asthma, unspecified"));
            assert_eq!(original, c);
        }
        other => panic!("{other:?}"),
    }
}
