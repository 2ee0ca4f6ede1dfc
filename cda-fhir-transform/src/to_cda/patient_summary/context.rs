//! What the section writers share while writing one document: the terminology, the id root,
//! the document time, and the ids each entry gets.

use serde_json::Value;
use terminology::Terminology;

use super::input::PsEntry;

/// The document-wide values the entry writers need.
pub(super) struct Ctx<'a> {
    pub t: &'a Terminology,
    /// `CdaOptions::document_id_root`: the root of every id the document writes.
    pub id_root: &'a str,
    pub document_id: &'a str,
    /// The document's creation time (HL7 TS): the author time when an entry has none.
    pub time: String,
}

/// The ids of one entry: its narrative `ID` and its `id/@extension`.
pub(super) struct Ids {
    pub text: String,
    pub ext: String,
}

impl Ctx<'_> {
    /// Ids for the `n`-th entry of section number `section`: the narrative id, and an id
    /// extension that names the provider's resource (`{HSA-id}.{type}.{id}`) so a reader can
    /// trace the entry, or the document id and position when the resource has no id.
    pub(super) fn ids(&self, section: usize, n: usize, e: &PsEntry) -> Ids {
        let r = &e.resource;
        let ext = match (
            r.get("resourceType").and_then(Value::as_str),
            r.get("id").and_then(Value::as_str),
        ) {
            (Some(ty), Some(id)) => format!("{}.{ty}.{id}", e.author.hsa_id),
            _ => format!("{}.{section}.{n}", self.document_id),
        };
        Ids {
            text: format!("s{section}e{n}"),
            ext,
        }
    }

    /// Ids for the section itself.
    pub(super) fn section_ext(&self, section: usize) -> String {
        format!("{}.{section}", self.document_id)
    }
}
