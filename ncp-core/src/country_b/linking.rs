//! Which L1 (PDF) ePrescription belongs to which L3 one, when a country sends several.
//!
//! The best evidence is the XCA list itself: eHDSI relates the L1 and L3 entries of one
//! prescription by an `XFRM` association (the L1 a transformation of the L3), which the
//! foreign gateway hands over as the L1's `transformation_of`. When the list says nothing
//! usable (no association, or one naming an L3 that is not here), the two documents are told
//! apart by their CDA headers, strongest evidence first: the same `ClinicalDocument/id` (an L1
//! written from the L3's header), a `relatedDocument/parentDocument/id` naming the other, the
//! same `setId`. Each rule counts only when it points at exactly one L3 (countries reuse set
//! ids). A country that sends one of each needs no evidence. An L1 matched by nothing stays
//! linked to the patient only.

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

/// A document to link: how the XCA list named it and related it, and its header ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Linkable {
    /// Its `XDSDocumentEntry.uniqueId` in the list.
    pub listed_as: String,
    /// For an L1: the `listed_as` of the L3 the list's association relates it to.
    pub transformation_of: Option<String>,
    /// Its CDA header ids, `None` when they could not be read.
    pub header: Option<DocIds>,
}

/// Whether L1 `a` and L3 `b` are one prescription: the rules, strongest first.
type Rule = fn(&DocIds, &DocIds) -> bool;
const RULES: [Rule; 3] = [
    |a, b| a.id == b.id,
    |a, b| a.parents.contains(&b.id) || b.parents.contains(&a.id),
    |a, b| a.set_id.is_some() && a.set_id == b.set_id,
];

/// For each L1, the index of the L3 it belongs to.
pub fn l1_to_l3(l1: &[Linkable], l3: &[Linkable]) -> Vec<Option<usize>> {
    let only_pair = l1.len() == 1 && l3.len() == 1;
    l1.iter()
        .map(|a| {
            by_association(a, l3)
                .or_else(|| by_header(a.header.as_ref()?, l3))
                .or(only_pair.then_some(0))
        })
        .collect()
}

/// The one L3 the list's association names.
fn by_association(a: &Linkable, l3: &[Linkable]) -> Option<usize> {
    let target = a.transformation_of.as_deref()?;
    single(l3.iter().enumerate().filter(|(_, b)| b.listed_as == target))
}

/// The one L3 the strongest header rule that decides at all points at.
fn by_header(a: &DocIds, l3: &[Linkable]) -> Option<usize> {
    RULES.iter().find_map(|rule| {
        single(
            l3.iter()
                .enumerate()
                .filter(|(_, b)| b.header.as_ref().is_some_and(|b| rule(a, b))),
        )
    })
}

/// The index of the only hit.
fn single<'a>(mut hits: impl Iterator<Item = (usize, &'a Linkable)>) -> Option<usize> {
    match (hits.next(), hits.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document known by its header ids only.
    fn ids(id: &str, set: Option<&str>, parents: &[&str]) -> Linkable {
        Linkable {
            header: Some(DocIds {
                id: id.into(),
                set_id: set.map(Into::into),
                parents: parents.iter().map(|p| (*p).into()).collect(),
            }),
            ..Linkable::default()
        }
    }

    /// `doc` as the list named it and, for an L1, what the list relates it to.
    fn listed(doc: Linkable, as_: &str, transformation_of: Option<&str>) -> Linkable {
        Linkable {
            listed_as: as_.into(),
            transformation_of: transformation_of.map(Into::into),
            ..doc
        }
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
    fn the_lists_association_decides_where_the_headers_cannot() {
        // Both L3s share the set id and the L1s have ids of their own: headers alone are
        // ambiguous, so without the list's word neither PDF is linked.
        let l3 = [
            listed(ids("1^a", Some("9"), &[]), "u.1", None),
            listed(ids("1^b", Some("9"), &[]), "u.2", None),
        ];
        let bare = [ids("2^x", Some("9"), &[]), ids("2^y", Some("9"), &[])];
        assert_eq!(l1_to_l3(&bare, &l3), [None, None]);
        let l1 = [
            listed(ids("2^x", Some("9"), &[]), "u.3", Some("u.2")),
            listed(ids("2^y", Some("9"), &[]), "u.4", Some("u.1")),
        ];
        assert_eq!(l1_to_l3(&l1, &l3), [Some(1), Some(0)]);
        // The association outranks even the same-id header rule.
        let l1 = [listed(ids("1^a", None, &[]), "u.3", Some("u.2"))];
        assert_eq!(l1_to_l3(&l1, &l3), [Some(1)]);
        // One naming an L3 that is not here falls back to the headers.
        let l1 = [listed(ids("1^a", None, &[]), "u.3", Some("u.gone"))];
        assert_eq!(l1_to_l3(&l1, &l3), [Some(0)]);
        // An L1 whose header cannot be read still follows the list.
        let unread = Linkable {
            header: None,
            ..listed(Linkable::default(), "u.3", Some("u.1"))
        };
        assert_eq!(l1_to_l3(&[unread], &l3), [Some(0)]);
    }

    #[test]
    fn unmatched_pdfs_stay_unlinked_unless_there_is_one_of_each() {
        let l3 = [ids("1^a", Some("9"), &[]), ids("1^b", Some("9"), &[])];
        assert_eq!(
            l1_to_l3(&[ids("2^x", Some("9"), &[]), Linkable::default()], &l3),
            [None, None]
        );
        assert_eq!(
            l1_to_l3(&[ids("2^x", None, &[])], &[ids("1^a", None, &[])]),
            [Some(0)]
        );
        assert_eq!(l1_to_l3(&[Linkable::default()], &[]), [None]);
    }
}
