//! The transcoding rules: how a code finds its place in an eHDSI value set.
//!
//! In order, first match wins:
//! 1. **member**: (system, code) is in the value set, as sent or normalised (ATC and ICD-10 are
//!    compared in upper case, ICD-10 with its dot: `e119` → `E11.9`);
//! 2. **explicit map** (`data/maps.tsv`, NPL products): the first target that is a member;
//! 3. **ICD-10 family**: an ICD-10-SE or WHO ICD-10 code goes to the eHDSI ICD-10 code system,
//!    as the same code or, when the value set lacks it (ICD-10-SE has finer codes than WHO),
//!    the nearest ancestor that is a member (`S72.00` → `S72.0`);
//! 4. otherwise **unmapped** (the caller keeps the original as `<translation>`).

use ncp_types::Oid;

use crate::code_systems::{ATC_OID, EHDSI_ICD10_OID, ICD10_SE_OID, WHO_ICD10_OID};
use crate::model::ValueSet;

/// What a rule decided, before displays are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A member, with its code as the value set lists it.
    Member {
        code: String,
    },
    /// Mapped to (system, code), by the named rule.
    Mapped {
        system: Oid,
        code: String,
        rule: Rule,
    },
    Unmapped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    ExplicitMap,
    Icd10Family,
}

fn is_icd10_family(system: &str) -> bool {
    matches!(system, ICD10_SE_OID | WHO_ICD10_OID | EHDSI_ICD10_OID)
}

/// The code as the value set would spell it, for systems with a canonical spelling.
pub(crate) fn normalise(system: &Oid, code: &str) -> String {
    let code = code.trim();
    match system.as_str() {
        ATC_OID => code.to_ascii_uppercase(),
        s if is_icd10_family(s) => normalise_icd10(code),
        _ => code.to_owned(),
    }
}

/// `e119` / `E119` / `E11.9` → `E11.9`; the Swedish `+`/`*` dagger-asterisk marks are dropped.
pub(crate) fn normalise_icd10(code: &str) -> String {
    let c: String = code
        .trim()
        .trim_end_matches(['+', '*', '†'])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if c.len() > 3 && !c.contains('.') && c.is_char_boundary(3) {
        format!("{}.{}", &c[..3], &c[3..])
    } else {
        c
    }
}

/// The ICD-10 code and its ancestors, most specific first: `S72.00`, `S72.0`, `S72`.
fn icd10_candidates(code: &str) -> impl Iterator<Item = String> {
    let mut next = Some(normalise_icd10(code));
    std::iter::from_fn(move || {
        let cur = next.take()?;
        if cur.len() > 3 {
            let mut shorter = cur.clone();
            shorter.pop();
            if shorter.ends_with('.') {
                shorter.pop();
            }
            next = Some(shorter);
        }
        Some(cur)
    })
}

/// Applies the rules. `maps` are the explicit targets for (system, code), in file order.
pub(crate) fn decide(vs: &ValueSet, system: &Oid, code: &str, maps: &[(Oid, String)]) -> Decision {
    let code = code.trim();
    if vs.contains(system, code) {
        return Decision::Member {
            code: code.to_owned(),
        };
    }
    let normal = normalise(system, code);
    if normal != code && vs.contains(system, &normal) {
        return Decision::Member { code: normal };
    }
    if let Some((s, c)) = maps.iter().find(|(s, c)| vs.contains(s, c)) {
        return Decision::Mapped {
            system: s.clone(),
            code: c.clone(),
            rule: Rule::ExplicitMap,
        };
    }
    if is_icd10_family(system.as_str()) {
        if let Ok(target) = Oid::parse(EHDSI_ICD10_OID) {
            if vs.uses_code_system(&target) {
                if let Some(c) = icd10_candidates(code).find(|c| vs.contains(&target, c)) {
                    return Decision::Mapped {
                        system: target,
                        code: c,
                        rule: Rule::Icd10Family,
                    };
                }
            }
        }
    }
    Decision::Unmapped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Concept;

    fn oid(s: &str) -> Oid {
        Oid::parse(s).unwrap()
    }

    fn vs(system: &str, codes: &[&str]) -> ValueSet {
        ValueSet::new(oid("1.2.3"), "t", "1").with_concepts(codes.iter().map(|c| Concept {
            code: (*c).into(),
            code_system: oid(system),
            code_system_name: None,
            display_en: None,
            designations: Vec::new(),
        }))
    }

    #[test]
    fn icd10_normalisation() {
        assert_eq!(normalise_icd10("e119"), "E11.9");
        assert_eq!(normalise_icd10(" I10 "), "I10");
        assert_eq!(normalise_icd10("M14.6*"), "M14.6");
        assert_eq!(
            icd10_candidates("S7200").collect::<Vec<_>>(),
            ["S72.00", "S72.0", "S72"]
        );
        assert_eq!(normalise_icd10("ÅÄÖ1"), "ÅÄÖ1");
    }

    #[test]
    fn member_then_map_then_icd_then_unmapped() {
        let atc = vs(ATC_OID, &["N02BE01"]);
        let sys = oid(ATC_OID);
        assert_eq!(
            decide(&atc, &sys, "n02be01", &[]),
            Decision::Member {
                code: "N02BE01".into()
            }
        );
        let npl = oid("1.2.752.129.2.1.5.1");
        let maps = [
            (oid("0.4.0.127.0.16.1.1.2.1"), "10219000".to_owned()),
            (sys.clone(), "N02BE01".to_owned()),
        ];
        assert!(matches!(
            decide(&atc, &npl, "19750101000011", &maps),
            Decision::Mapped { rule: Rule::ExplicitMap, ref code, .. } if code == "N02BE01"
        ));
        let icd = vs(EHDSI_ICD10_OID, &["S72.0", "E11.9"]);
        let se = oid(ICD10_SE_OID);
        assert!(matches!(
            decide(&icd, &se, "S72.00", &[]),
            Decision::Mapped { rule: Rule::Icd10Family, ref code, .. } if code == "S72.0"
        ));
        assert!(matches!(
            decide(&icd, &se, "E119", &[]),
            Decision::Mapped { ref code, .. } if code == "E11.9"
        ));
        assert_eq!(decide(&icd, &se, "Z99.9", &[]), Decision::Unmapped);
        assert_eq!(decide(&atc, &se, "E11.9", &[]), Decision::Unmapped);
    }
}
