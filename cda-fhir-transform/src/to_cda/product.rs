//! The medicinal product (eHDSI ePeDMedicationInformation, `manufacturedProduct` 3.29 and
//! `manufacturedMaterial` 3.30) shared by the ePrescription and the eDispensation.

use ncp_types::systems::{NPL_ID_OID, NPL_PACK_ID_OID};
use terminology::{value_sets, Terminology};

use super::fhir::MedicationView;
use super::terms::transcode;
use super::xml::{self, Xml};
use super::ToCdaError;

/// Writes `<manufacturedProduct>` for `m`. Every code goes through the terminology: dose form
/// (eHDSIDoseForm), package (eHDSIPackage), ATC (eHDSIActiveIngredient); an unmapped code
/// becomes `nullFlavor="OTH"` with the original as `<translation>`.
pub(crate) fn manufactured_product(
    x: &mut Xml,
    m: &MedicationView,
    t: &Terminology,
) -> Result<(), ToCdaError> {
    let amount = m.amount.as_ref().ok_or_else(|| ToCdaError::Missing {
        path: "Medication.amount (package content)".into(),
    })?;
    x.start("manufacturedProduct", &[("classCode", "MANU")]);
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.29")],
    );
    x.start(
        "manufacturedMaterial",
        &[("classCode", "MMAT"), ("determinerCode", "KIND")],
    );
    x.empty(
        "templateId",
        &[("root", "1.3.6.1.4.1.12559.11.10.1.3.1.3.30")],
    );
    if let Some(npl) = &m.npl_id {
        x.empty(
            "code",
            &[
                ("code", &npl.code),
                ("codeSystem", NPL_ID_OID),
                ("codeSystemName", "NPL-id"),
                ("displayName", &m.name),
            ],
        );
    }
    x.leaf("name", &[], &m.name);
    match &m.form {
        Some(f) => xml::coded(
            x,
            "pharm:formCode",
            &[],
            &transcode(t, f, value_sets::DOSE_FORM),
        ),
        None => {
            x.empty("pharm:formCode", &[("nullFlavor", "UNK")]);
        }
    }
    x.start("pharm:asContent", &[("classCode", "CONT")]);
    xml::pq(x, "pharm:quantity", &amount.numerator, false);
    x.start(
        "pharm:containerPackagedProduct",
        &[("classCode", "CONT"), ("determinerCode", "KIND")],
    );
    if let Some(p) = &m.package {
        let mut a: Vec<(&str, &str)> = vec![
            ("code", p.code.as_str()),
            ("codeSystem", NPL_PACK_ID_OID),
            ("codeSystemName", "NPL pack id"),
        ];
        if let Some(d) = &p.display {
            a.push(("displayName", d));
        }
        x.empty("pharm:code", &a);
        if let Some(d) = &p.display {
            x.leaf("pharm:name", &[], d);
        }
    }
    match &m.package_type {
        Some(pt) => xml::coded(
            x,
            "pharm:formCode",
            &[],
            &transcode(t, pt, value_sets::PACKAGE),
        ),
        None => {
            x.empty("pharm:formCode", &[("nullFlavor", "UNK")]);
        }
    }
    x.end();
    x.end();
    if let Some(atc) = &m.atc {
        x.start("pharm:asSpecializedKind", &[("classCode", "GRIC")]);
        x.start(
            "pharm:generalizedMaterialKind",
            &[("classCode", "MMAT"), ("determinerCode", "KIND")],
        );
        xml::coded(
            x,
            "pharm:code",
            &[],
            &transcode(t, atc, value_sets::ACTIVE_INGREDIENT),
        );
        if let Some(d) = &atc.display {
            x.leaf("pharm:name", &[], d);
        }
        x.end();
        x.end();
    }
    for ing in m.ingredients.iter().filter(|i| i.active) {
        x.start("pharm:ingredient", &[("classCode", "ACTI")]);
        if let Some(s) = &ing.strength {
            x.start("pharm:quantity", &[]);
            xml::pq(x, "numerator", &s.numerator, true);
            xml::pq(x, "denominator", &s.denominator, true);
            x.end();
        }
        x.start(
            "pharm:ingredientSubstance",
            &[("classCode", "MMAT"), ("determinerCode", "KIND")],
        );
        let tc = transcode(t, &ing.substance, value_sets::ACTIVE_INGREDIENT);
        xml::coded(x, "pharm:code", &[], &tc);
        let name = ing
            .substance
            .display
            .as_deref()
            .or_else(|| tc.target().and_then(|c| c.display.as_deref()));
        if let Some(n) = name {
            x.leaf("pharm:name", &[], n);
        }
        x.end();
        x.end();
    }
    x.end();
    x.end();
    Ok(())
}
