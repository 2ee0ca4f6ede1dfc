//! The terminology model: languages, concepts, value sets.

use std::collections::HashMap;
use std::fmt;

use ncp_types::Oid;
use serde::{Deserialize, Serialize};

/// A language, by its ISO 639 primary subtag (`sv`, `en`); region subtags are dropped
/// (`sv-SE` and `en-GB` are `sv` and `en`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang {
    tag: [u8; 3],
    len: u8,
}

impl Lang {
    pub const SV: Lang = Lang {
        tag: *b"sv\0",
        len: 2,
    };
    pub const EN: Lang = Lang {
        tag: *b"en\0",
        len: 2,
    };

    /// Parses a BCP 47 tag (`sv`, `sv-SE`, `en_GB`); `None` unless the primary subtag is two
    /// or three ASCII letters.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?;
        let bytes = primary.as_bytes();
        if !(2..=3).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let mut out = [0u8; 3];
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = b.to_ascii_lowercase();
        }
        Some(Lang {
            tag: out,
            len: bytes.len() as u8,
        })
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.tag[..usize::from(self.len)]).unwrap_or("und")
    }
}

impl fmt::Debug for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lang({})", self.as_str())
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Lang {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Lang::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a language: {s}")))
    }
}

/// A designation: a display text in a language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Designation {
    pub lang: Lang,
    pub text: String,
}

/// A member of a value set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concept {
    pub code: String,
    pub code_system: Oid,
    pub code_system_name: Option<String>,
    pub display_en: Option<String>,
    /// Further designations (an MVC `<designation language=…>`, e.g. from a national MTC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub designations: Vec<Designation>,
}

/// A value set (an MVC `valueSet`, or the embedded subset of one), indexed by (system, code).
#[derive(Debug, Clone, Serialize)]
pub struct ValueSet {
    pub oid: Oid,
    pub name: String,
    /// The MVC `versionLabel` (`202401`), or `embedded` for the crate's own subset.
    pub version: String,
    concepts: Vec<Concept>,
    /// Code systems included as a whole (`completeCodeSystem`): every code is a member.
    complete_code_systems: Vec<Oid>,
    #[serde(skip)]
    index: HashMap<Oid, HashMap<String, usize>>,
}

impl ValueSet {
    /// Builds a value set; a (system, code) listed twice is kept once (the first).
    pub fn new(oid: Oid, name: impl Into<String>, version: impl Into<String>) -> Self {
        ValueSet {
            oid,
            name: name.into(),
            version: version.into(),
            concepts: Vec::new(),
            complete_code_systems: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Builder: adds concepts.
    pub fn with_concepts(mut self, concepts: impl IntoIterator<Item = Concept>) -> Self {
        for c in concepts {
            self.push(c);
        }
        self
    }

    /// Adds a concept unless the same (system, code) is already there; `true` if added.
    pub fn push(&mut self, concept: Concept) -> bool {
        let by_code = self.index.entry(concept.code_system.clone()).or_default();
        if by_code.contains_key(&concept.code) {
            return false;
        }
        by_code.insert(concept.code.clone(), self.concepts.len());
        self.concepts.push(concept);
        true
    }

    /// Includes a whole code system (an ART-DECOR `completeCodeSystem`).
    pub fn include_code_system(&mut self, system: Oid) {
        if !self.complete_code_systems.contains(&system) {
            self.complete_code_systems.push(system);
        }
    }

    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }

    pub fn complete_code_systems(&self) -> &[Oid] {
        &self.complete_code_systems
    }

    /// The listed concept for (system, code), if enumerated.
    pub fn get(&self, code_system: &Oid, code: &str) -> Option<&Concept> {
        self.index
            .get(code_system)?
            .get(code)
            .and_then(|&i| self.concepts.get(i))
    }

    /// Membership: listed, or its whole code system is included.
    pub fn contains(&self, code_system: &Oid, code: &str) -> bool {
        self.get(code_system, code).is_some() || self.complete_code_systems.contains(code_system)
    }

    /// Whether the value set draws on this code system at all.
    pub fn uses_code_system(&self, code_system: &Oid) -> bool {
        self.index.contains_key(code_system) || self.complete_code_systems.contains(code_system)
    }

    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty() && self.complete_code_systems.is_empty()
    }
}

/// Everything known about one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConceptInfo {
    pub code: String,
    pub code_system: Oid,
    pub code_system_name: Option<String>,
    /// Designations, one per language, sorted by language.
    pub designations: Vec<Designation>,
    /// The loaded value sets the code is a member of, sorted.
    pub value_sets: Vec<Oid>,
}

impl ConceptInfo {
    /// The designation in `lang`, falling back to English.
    pub fn display(&self, lang: Lang) -> Option<&str> {
        let find = |l: Lang| {
            self.designations
                .iter()
                .find(|d| d.lang == l)
                .map(|d| d.text.as_str())
        };
        find(lang).or_else(|| find(Lang::EN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_parses_primary_subtag() {
        assert_eq!(Lang::parse("sv-SE"), Some(Lang::SV));
        assert_eq!(Lang::parse("EN_gb"), Some(Lang::EN));
        assert_eq!(Lang::parse("deu").unwrap().as_str(), "deu");
        for bad in ["", "s", "english", "1a", "-SE"] {
            assert_eq!(Lang::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn value_set_index_and_duplicates() {
        let atc = Oid::parse("2.16.840.1.113883.6.73").unwrap();
        let c = |code: &str| Concept {
            code: code.into(),
            code_system: atc.clone(),
            code_system_name: None,
            display_en: None,
            designations: Vec::new(),
        };
        let vs = ValueSet::new(atc.clone(), "x", "1").with_concepts([c("A"), c("B"), c("A")]);
        assert_eq!(vs.len(), 2);
        assert!(vs.contains(&atc, "B"));
        assert!(!vs.contains(&atc, "C"));
        let other = Oid::parse("1.2.3").unwrap();
        assert!(!vs.contains(&other, "A"));
    }
}
