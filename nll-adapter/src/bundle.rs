//! Search results: `searchset` bundles flattened into entries with their search mode.

use serde_json::Value;
use url::Url;

use crate::AdapterError;

/// Why an entry is in a search result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchMode {
    /// It matched the search.
    Match,
    /// It was included (`_include`) because a match refers to it.
    Include,
    /// An `OperationOutcome` with warnings about the search.
    Outcome,
}

/// One resource of a search result. `Debug` names the resource type only: the resource and
/// its URL are a patient's data (a `?result` in a log must not carry them).
#[derive(Clone, PartialEq)]
pub struct SearchEntry {
    pub resource: Value,
    pub mode: SearchMode,
    pub full_url: Option<String>,
}

impl std::fmt::Debug for SearchEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchEntry")
            .field("resource_type", &resource_type(&self.resource))
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// `resourceType` when it is a plain FHIR type name, for `Debug`.
pub(crate) fn resource_type(resource: &Value) -> &str {
    resource["resourceType"]
        .as_str()
        .filter(|t| t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphabetic()))
        .unwrap_or("?")
}

/// All pages of a search, flattened. Included resources appear once even when several pages
/// included them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResult {
    /// `Bundle.total` of the first page, when the server sent it.
    pub total: Option<u64>,
    pub entries: Vec<SearchEntry>,
}

impl SearchResult {
    /// The resources that matched the search.
    pub fn matches(&self) -> impl Iterator<Item = &Value> {
        self.entries
            .iter()
            .filter(|e| e.mode == SearchMode::Match)
            .map(|e| &e.resource)
    }

    /// The resources included by `_include`.
    pub fn includes(&self) -> impl Iterator<Item = &Value> {
        self.entries
            .iter()
            .filter(|e| e.mode == SearchMode::Include)
            .map(|e| &e.resource)
    }

    /// Resolves a relative reference `Type/id` (or an absolute one ending so) among the entries.
    pub fn resolve(&self, reference: &str) -> Option<&Value> {
        let mut parts = reference.rsplit('/');
        let id = parts.next()?;
        let ty = parts.next()?;
        self.entries
            .iter()
            .map(|e| &e.resource)
            .find(|r| r["resourceType"] == ty && r["id"] == id)
    }

    /// Appends one page, returning its `next` link.
    pub(crate) fn add_page(&mut self, page: &Value) -> Result<Option<Url>, AdapterError> {
        if page["resourceType"] != "Bundle" || page["type"] != "searchset" {
            return Err(AdapterError::Protocol("expected a searchset Bundle".into()));
        }
        if self.total.is_none() {
            self.total = page["total"].as_u64();
        }
        for e in page["entry"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let resource = &e["resource"];
            if !resource.is_object() {
                return Err(AdapterError::Protocol(
                    "a Bundle entry has no resource".into(),
                ));
            }
            let mode = match e["search"]["mode"].as_str() {
                Some("include") => SearchMode::Include,
                Some("outcome") => SearchMode::Outcome,
                _ if resource["resourceType"] == "OperationOutcome" => SearchMode::Outcome,
                _ => SearchMode::Match,
            };
            if mode == SearchMode::Include
                && self.entries.iter().any(|x| {
                    x.resource["resourceType"] == resource["resourceType"]
                        && x.resource["id"] == resource["id"]
                })
            {
                continue;
            }
            self.entries.push(SearchEntry {
                resource: resource.clone(),
                mode,
                full_url: e["fullUrl"].as_str().map(str::to_owned),
            });
        }
        let next = page["link"]
            .as_array()
            .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
            .and_then(|l| l["url"].as_str());
        match next {
            None => Ok(None),
            Some(u) => Url::parse(u)
                .map(Some)
                .map_err(|_| AdapterError::Protocol("the next link is not an absolute URL".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Debug` used to print whole resources (names, personal ids, prescriptions).
    #[test]
    fn debug_prints_no_resource_content() {
        let result = SearchResult {
            total: Some(1),
            entries: vec![SearchEntry {
                resource: serde_json::json!({"resourceType": "Patient", "id": "191212121212",
                    "name": [{"family": "Tolvansson"}]}),
                mode: SearchMode::Match,
                full_url: Some("https://nll.example/Patient/191212121212".into()),
            }],
        };
        let shown = format!("{result:?}");
        assert!(shown.contains("Patient"), "{shown}");
        assert!(!shown.contains("1212"), "{shown}");
        assert!(!shown.contains("Tolvansson"), "{shown}");
    }
    use serde_json::json;

    #[test]
    fn flattens_pages_and_dedups_includes() {
        let page = |ids: &[&str], next: Option<&str>| {
            let mut entries: Vec<Value> = ids
                .iter()
                .map(|id| json!({"resource": {"resourceType": "MedicationRequest", "id": id}, "search": {"mode": "match"}}))
                .collect();
            entries.push(json!({"resource": {"resourceType": "Medication", "id": "m1"}, "search": {"mode": "include"}}));
            let mut links = vec![json!({"relation": "self", "url": "http://x/a"})];
            if let Some(n) = next {
                links.push(json!({"relation": "next", "url": n}));
            }
            json!({"resourceType": "Bundle", "type": "searchset", "total": 3, "link": links, "entry": entries})
        };
        let mut r = SearchResult::default();
        let next = r
            .add_page(&page(&["a", "b"], Some("http://x/a?o=2")))
            .unwrap();
        assert_eq!(next.unwrap().as_str(), "http://x/a?o=2");
        assert_eq!(r.add_page(&page(&["c"], None)).unwrap(), None);
        assert_eq!(r.matches().count(), 3);
        assert_eq!(r.includes().count(), 1);
        assert_eq!(r.total, Some(3));
        assert_eq!(r.resolve("Medication/m1").unwrap()["id"], "m1");
        assert!(r.resolve("Medication/m2").is_none());
    }

    #[test]
    fn refuses_what_is_not_a_searchset() {
        let mut r = SearchResult::default();
        assert!(r.add_page(&json!({"resourceType": "Patient"})).is_err());
        assert!(r
            .add_page(&json!({"resourceType": "Bundle", "type": "searchset", "link": [{"relation": "next", "url": "relative"}]}))
            .is_err());
    }
}
