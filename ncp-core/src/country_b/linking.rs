//! Which L1 (PDF) ePrescription belongs to which L3 one, when a country sends several.
//!
//! The two documents of one prescription are told apart by their CDA headers, strongest
//! evidence first: the same `ClinicalDocument/id` (an L1 written from the L3's header), a
//! `relatedDocument/parentDocument/id` naming the other, the same `setId`. Each rule counts
//! only when it points at exactly one L3 (countries reuse set ids). A country that sends one
//! of each needs no evidence. An L1 matched by nothing stays linked to the patient only.
//!
//! (The XCA list's association between the two entries would be the better signal; the
//! foreign gateway does not hand associations over yet.)

use cda_fhir_transform::to_fhir::read_cda;

/// The header ids of a document that relate it to others.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocIds {
    pub id: String,
    pub set_id: Option<String>,
    /// `relatedDocument/parentDocument/id`s.
    pub parents: Vec<String>,
}

impl DocIds {
    /// The ids of a CDA document, `None` when its header cannot be read.
    pub fn of(xml: &str) -> Option<DocIds> {
        let doc = read_cda(xml).ok()?;
        Some(DocIds {
            id: doc.id.qualified(),
            set_id: doc.set_id.as_ref().map(|s| s.qualified()),
            parents: doc.related.iter().map(|(_, id)| id.qualified()).collect(),
        })
    }
}

/// Whether L1 `a` and L3 `b` are one prescription: the rules, strongest first.
type Rule = fn(&DocIds, &DocIds) -> bool;
const RULES: [Rule; 3] = [
    |a, b| a.id == b.id,
    |a, b| a.parents.contains(&b.id) || b.parents.contains(&a.id),
    |a, b| a.set_id.is_some() && a.set_id == b.set_id,
];

/// For each L1, the index of the L3 it belongs to.
pub fn l1_to_l3(l1: &[Option<DocIds>], l3: &[Option<DocIds>]) -> Vec<Option<usize>> {
    let only_pair = l1.len() == 1 && l3.len() == 1;
    l1.iter()
        .map(|a| {
            let found = a.as_ref().and_then(|a| {
                RULES.iter().find_map(|rule| {
                    let mut hits = l3
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.as_ref().is_some_and(|b| rule(a, b)));
                    match (hits.next(), hits.next()) {
                        (Some((i, _)), None) => Some(i),
                        _ => None,
                    }
                })
            });
            found.or(only_pair.then_some(0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(id: &str, set: Option<&str>, parents: &[&str]) -> Option<DocIds> {
        Some(DocIds {
            id: id.into(),
            set_id: set.map(Into::into),
            parents: parents.iter().map(|p| (*p).into()).collect(),
        })
    }

    #[test]
    fn each_pdf_finds_its_structured_document() {
        // Same ids, crossed order; the shared set id alone decides nothing.
        let l3 = [ids("1^a", Some("9"), &[]), ids("1^b", Some("9"), &[])];
        let l1 = [ids("1^b", Some("9"), &[]), ids("1^a", Some("9"), &[])];
        assert_eq!(l1_to_l3(&l1, &l3), [Some(1), Some(0)]);
        // An L1 of its own id naming its L3 as parent; one whose set id is unique.
        let l3 = [ids("1^a", Some("s1"), &[]), ids("1^b", Some("s2"), &[])];
        let l1 = [ids("2^x", None, &["1^b"]), ids("2^y", Some("s1"), &[])];
        assert_eq!(l1_to_l3(&l1, &l3), [Some(1), Some(0)]);
    }

    #[test]
    fn unmatched_pdfs_stay_unlinked_unless_there_is_one_of_each() {
        let l3 = [ids("1^a", Some("9"), &[]), ids("1^b", Some("9"), &[])];
        assert_eq!(
            l1_to_l3(&[ids("2^x", Some("9"), &[]), None], &l3),
            [None, None]
        );
        assert_eq!(
            l1_to_l3(&[ids("2^x", None, &[])], &[ids("1^a", None, &[])]),
            [Some(0)]
        );
        assert_eq!(l1_to_l3(&[None], &[]), [None]);
    }
}
