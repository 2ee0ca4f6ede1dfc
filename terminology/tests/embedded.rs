//! The embedded data alone (no MVC): transcoding, displays, lookups.

use ncp_types::Oid;
use terminology::code_systems::{
    ATC_OID, EDQM_OID, EHDSI_ICD10_OID, ICD10_SE_OID, NPL_ID_OID, SNOMED_CT_OID, UCUM_OID,
};
use terminology::{value_sets, Coded, Lang, Terminology, Transcoded};

fn oid(s: &str) -> Oid {
    Oid::parse(s).unwrap()
}

fn t() -> Terminology {
    Terminology::load(None).expect("embedded data loads")
}

#[test]
fn member_keeps_code_and_fills_display() {
    let t = t();
    let c = Coded::new("N02BE01", oid(ATC_OID));
    match t.transcode(&c, value_sets::ACTIVE_INGREDIENT) {
        Transcoded::Member(m) => {
            assert_eq!(m.code, "N02BE01");
            assert_eq!(m.display.as_deref(), Some("paracetamol"));
            assert_eq!(m.code_system_name.as_deref(), Some("ATC"));
        }
        other => panic!("expected Member, got {other:?}"),
    }
    // A display the caller sent is kept.
    let c = Coded::new("10219000", oid(EDQM_OID)).with_display("Tablett");
    assert_eq!(
        t.transcode(&c, value_sets::DOSE_FORM),
        Transcoded::Member(c.clone().with_system_name("EDQM"))
    );
}

#[test]
fn npl_id_maps_to_atc_dose_form_and_route() {
    let t = t();
    let alvedon = Coded::new("19620523000018", oid(NPL_ID_OID))
        .with_display("Alvedon 500 mg filmdragerad tablett");
    let expect = |vs: &str, system: &str, code: &str| match t.transcode(&alvedon, vs) {
        Transcoded::Mapped { target, original } => {
            assert_eq!(original, alvedon);
            assert_eq!(target.code_system, oid(system));
            assert_eq!(target.code, code);
            assert!(target.display.is_some());
        }
        other => panic!("{vs}: expected Mapped, got {other:?}"),
    };
    expect(value_sets::ACTIVE_INGREDIENT, ATC_OID, "N02BE01");
    expect(value_sets::DOSE_FORM, EDQM_OID, "10221000");
    expect(value_sets::ROUTE_OF_ADMINISTRATION, EDQM_OID, "20053000");
    assert!(t.transcode(&alvedon, value_sets::UNIT).is_unmapped());
    assert_eq!(t.npl_product("19620523000018").unwrap().atc, "N02BE01");
}

#[test]
fn every_simulated_medicine_is_covered() {
    let t = t();
    for atc in [
        "N02BE01", "N02AJ06", "N02AA05", "A10BA02", "C10AA01", "C09AA02", "C08CA01", "H03AA01",
        "A02BC01", "R03AC02", "J01CA04", "N06AB06", "B01AA03", "A10AE04", "M01AE01",
    ] {
        let c = Coded::new(atc, oid(ATC_OID));
        assert!(t.contains(value_sets::ACTIVE_INGREDIENT, &c), "{atc}");
        assert!(
            t.display(&c.code_system, atc, Lang::SV).is_some(),
            "{atc} sv"
        );
        assert!(
            t.display(&c.code_system, atc, Lang::EN).is_some(),
            "{atc} en"
        );
        assert!(
            t.npl_products().any(|p| p.atc == atc),
            "{atc} has an NPL product"
        );
    }
}

#[test]
fn icd10_se_goes_to_ehdsi_icd10() {
    let t = t();
    let se = |code: &str| Coded::new(code, oid(ICD10_SE_OID));
    let target = |c: &Coded| match t.transcode(c, value_sets::ILLNESS_AND_DISORDER) {
        Transcoded::Mapped { target, .. } => {
            assert_eq!(target.code_system, oid(EHDSI_ICD10_OID));
            Some(target.code)
        }
        Transcoded::Member(m) => panic!("ICD-10-SE is not the eHDSI system: {m:?}"),
        Transcoded::Unmapped { .. } => None,
    };
    assert_eq!(target(&se("E11.9")).as_deref(), Some("E11.9"));
    assert_eq!(target(&se("E119")).as_deref(), Some("E11.9"));
    // ICD-10-SE's finer code falls back to the WHO parent.
    assert_eq!(target(&se("S72.00")).as_deref(), Some("S72.0"));
    assert_eq!(target(&se("Q99.9")), None);
}

#[test]
fn snomed_finding_maps_to_icd10_and_unknown_stays_unmapped() {
    let t = t();
    let htn = Coded::new("38341003", oid(SNOMED_CT_OID));
    match t.transcode(&htn, value_sets::ILLNESS_AND_DISORDER) {
        Transcoded::Mapped { target, .. } => assert_eq!(target.code, "I10"),
        other => panic!("{other:?}"),
    }
    let unknown = Coded::new("123456789", oid(SNOMED_CT_OID)).with_display("okänt");
    assert_eq!(
        t.transcode(&unknown, value_sets::ILLNESS_AND_DISORDER),
        Transcoded::Unmapped {
            original: unknown.clone()
        }
    );
    // Unknown value set: unmapped, never dropped.
    assert_eq!(
        t.transcode(&unknown, "1.2.3.4"),
        Transcoded::Unmapped { original: unknown }
    );
}

#[test]
fn displays_in_swedish_and_english_with_fallback() {
    let t = t();
    let edqm = oid(EDQM_OID);
    assert_eq!(
        t.display(&edqm, "10219000", Lang::SV).as_deref(),
        Some("Tablett")
    );
    assert_eq!(
        t.display(&edqm, "10219000", Lang::EN).as_deref(),
        Some("Tablet")
    );
    let de = Lang::parse("de-DE").unwrap();
    assert_eq!(t.display(&edqm, "10219000", de).as_deref(), Some("Tablet"));
    assert_eq!(t.display(&edqm, "nope", Lang::EN), None);
    let ucum = oid(UCUM_OID);
    assert_eq!(
        t.display(&ucum, "mg", Lang::SV).as_deref(),
        Some("milligram")
    );
    let tr = t.translate(&Coded::new("E11.9", oid(EHDSI_ICD10_OID)), Lang::SV);
    assert_eq!(
        tr.display.as_deref(),
        Some("Diabetes mellitus typ 2 utan komplikationer")
    );
}

#[test]
fn lookup_reports_designations_and_value_sets() {
    let t = t();
    let info = t.lookup(&oid(ATC_OID), "J07BN01").expect("known");
    assert!(info.value_sets.contains(&oid(value_sets::VACCINE)));
    assert_eq!(info.display(Lang::SV), Some("covid-19, RNA-baserat vaccin"));
    assert!(t.lookup(&oid(ATC_OID), "X00").is_none());
}

#[test]
fn swedish_words_find_codes() {
    let t = t();
    let f = |vs: &str, w: &str| t.find_swedish_term(vs, w).map(|c| c.code);
    assert_eq!(
        f(value_sets::DOSE_FORM, "Filmdragerad  tablett").as_deref(),
        Some("10221000")
    );
    assert_eq!(
        f(value_sets::ROUTE_OF_ADMINISTRATION, "Oral användning").as_deref(),
        Some("20053000")
    );
    assert_eq!(f(value_sets::UNIT, "st").as_deref(), Some("1"));
    assert_eq!(f(value_sets::PACKAGE, "Burk").as_deref(), Some("30008000"));
    assert_eq!(f(value_sets::DOSE_FORM, "trollstav"), None);
}

#[test]
fn cached_and_uncached_agree() {
    let t = t();
    for c in [
        Coded::new("19620523000018", oid(NPL_ID_OID)),
        Coded::new("S7200", oid(ICD10_SE_OID)),
        Coded::new("zzz", oid(ATC_OID)),
    ] {
        for vs in [
            value_sets::ACTIVE_INGREDIENT,
            value_sets::ILLNESS_AND_DISORDER,
        ] {
            let a = t.transcode(&c, vs);
            assert_eq!(a, t.transcode(&c, vs));
            assert_eq!(a, t.transcode_uncached(&c, vs));
        }
    }
}

#[test]
fn process_default_serves() {
    let t = Terminology::embedded();
    assert!(t.contains(
        value_sets::DOSE_FORM,
        &Coded::new("10219000", oid(EDQM_OID))
    ));
}
