//! [`Terminology`]: the indexed data and the public operations (transcode, display, lookup).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cached::{Cached, SizedCache};
use ncp_types::Oid;
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::data::{self, DataSet, NplProduct};
use crate::model::{Concept, ConceptInfo, Designation, Lang, ValueSet};
use crate::rules::{self, Decision};
use crate::{code_systems, mvc, value_sets, Coded, TerminologyError, Transcoded};

/// Environment variable naming the MVC directory for [`Terminology::embedded`].
pub const MVC_DIR_ENV: &str = "NCP_MVC_DIR";
/// Where [`Terminology::embedded`] looks for the MVC when the variable is unset (relative to
/// the current directory).
pub const DEFAULT_MVC_DIR: &str = "../shared/ehdsi/schematron-wave8/include";

const CACHE_SIZE: usize = 16_384;

/// The process default ([`Terminology::embedded`], [`Terminology::install`]).
static DEFAULT: OnceLock<Terminology> = OnceLock::new();

/// Where the loaded data came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The MVC directory overlaid on the embedded data, if any.
    pub mvc_dir: Option<PathBuf>,
    /// Value sets taken from the MVC.
    pub mvc_value_sets: usize,
    /// Value sets in total.
    pub value_sets: usize,
}

/// Something naming a value set by OID: `&str` (the [`value_sets`] constants), `String`, [`Oid`].
pub trait OidRef {
    fn oid_str(&self) -> &str;
}

impl OidRef for str {
    fn oid_str(&self) -> &str {
        let s = self.trim();
        s.strip_prefix("urn:oid:").unwrap_or(s)
    }
}

impl OidRef for String {
    fn oid_str(&self) -> &str {
        self.as_str().oid_str()
    }
}

impl OidRef for Oid {
    fn oid_str(&self) -> &str {
        self.as_str()
    }
}

impl<T: OidRef + ?Sized> OidRef for &T {
    fn oid_str(&self) -> &str {
        (**self).oid_str()
    }
}

type CacheKey = (Oid, String, String);

/// The terminology: value sets, designations, maps. Immutable once loaded; share it behind an
/// `Arc` or use [`Terminology::embedded`].
pub struct Terminology {
    /// Keyed by the dotted value set OID.
    value_sets: HashMap<String, ValueSet>,
    designations: HashMap<Oid, HashMap<String, Vec<Designation>>>,
    system_names: HashMap<Oid, String>,
    maps: HashMap<Oid, HashMap<String, Vec<(Oid, String)>>>,
    /// Value set OID → normalised Swedish term → (system, code).
    terms: HashMap<String, HashMap<String, (Oid, String)>>,
    npl: HashMap<String, NplProduct>,
    source: Source,
    cache: Mutex<SizedCache<CacheKey, Decision>>,
}

impl std::fmt::Debug for Terminology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminology")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Terminology {
    /// The embedded data, plus the MVC value sets from `mvc_dir` when given (an ART-DECOR
    /// `include` directory with `voc-<OID>-<version>.xml` files). The MVC replaces the embedded
    /// subset of each value set it holds and supplies the official English displays.
    pub fn load(mvc_dir: Option<&Path>) -> Result<Terminology, TerminologyError> {
        let data = DataSet::parse(&data::EMBEDDED)?;
        let mut t = Terminology::from_data(data);
        if let Some(dir) = mvc_dir {
            let sets = mvc::load_dir(dir)?;
            t.overlay(sets);
            t.source.mvc_dir = Some(dir.to_path_buf());
        }
        t.finish();
        info!(
            value_sets = t.source.value_sets,
            mvc_value_sets = t.source.mvc_value_sets,
            mvc_dir = ?t.source.mvc_dir,
            "terminology loaded"
        );
        Ok(t)
    }

    /// The process-wide default: embedded data, plus the MVC from `$NCP_MVC_DIR` or, when
    /// unset, from `../shared/ehdsi/schematron-wave8/include` if that exists. A broken MVC
    /// directory is logged and skipped (the embedded data still serves).
    pub fn embedded() -> &'static Terminology {
        DEFAULT.get_or_init(|| {
            let dir = match std::env::var_os(MVC_DIR_ENV) {
                Some(d) if !d.is_empty() => {
                    info!(env = MVC_DIR_ENV, dir = ?d, "MVC overlay from environment");
                    Some(PathBuf::from(d))
                }
                _ => {
                    let d = PathBuf::from(DEFAULT_MVC_DIR);
                    if d.is_dir() {
                        info!(dir = %d.display(), "MVC overlay from the default shared directory");
                        Some(d)
                    } else {
                        info!("no MVC overlay: embedded terminology only");
                        None
                    }
                }
            };
            match Terminology::load(dir.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    warn!(error = %e, "MVC overlay failed; embedded terminology only");
                    Terminology::load(None).unwrap_or_else(|e| {
                        // Only reachable if the compiled-in data is broken; tests guard it.
                        warn!(error = %e, "embedded terminology data is broken; serving nothing");
                        Terminology::empty()
                    })
                }
            }
        })
    }

    /// Installs `t` as the process default that [`Terminology::embedded`] returns (call at
    /// startup, e.g. with the MVC directory from the configuration, before anything uses the
    /// default). Gives `t` back if the default is already set.
    pub fn install(t: Terminology) -> Result<&'static Terminology, Box<Terminology>> {
        let mut t = Some(t);
        let installed = DEFAULT.get_or_init(|| t.take().unwrap_or_else(Terminology::empty));
        match t {
            None => {
                info!(source = ?installed.source, "terminology installed as the process default");
                Ok(installed)
            }
            Some(t) => Err(Box::new(t)),
        }
    }

    fn empty() -> Terminology {
        let mut t = Terminology::from_data(DataSet::default());
        t.finish();
        t
    }

    fn from_data(data: DataSet) -> Terminology {
        let mut t = Terminology {
            value_sets: HashMap::new(),
            designations: HashMap::new(),
            system_names: HashMap::new(),
            maps: HashMap::new(),
            terms: HashMap::new(),
            npl: HashMap::new(),
            source: Source::default(),
            cache: Mutex::new(SizedCache::with_size(CACHE_SIZE)),
        };
        for row in data.concepts {
            let en = row
                .designations
                .iter()
                .find(|d| d.lang == Lang::EN)
                .map(|d| d.text.clone());
            for vs in &row.value_sets {
                t.embedded_set(vs).push(Concept {
                    code: row.code.clone(),
                    code_system: row.system.clone(),
                    code_system_name: code_systems::name(&row.system).map(str::to_owned),
                    display_en: en.clone(),
                    designations: Vec::new(),
                });
            }
            for d in row.designations {
                t.set_designation(&row.system, &row.code, d);
            }
        }
        for m in data.maps {
            t.add_map(
                m.source_system,
                m.source_code,
                m.target_system,
                m.target_code,
            );
        }
        let (Ok(npl), Ok(atc), Ok(edqm)) = (
            Oid::parse(code_systems::NPL_ID_OID),
            Oid::parse(code_systems::ATC_OID),
            Oid::parse(code_systems::EDQM_OID),
        ) else {
            return t;
        };
        for p in data.npl {
            t.set_designation(
                &npl,
                &p.npl_id,
                Designation {
                    lang: Lang::SV,
                    text: p.name.clone(),
                },
            );
            // One NPL-id maps to its ATC (active ingredient), dose form and route; transcode
            // picks the target that is a member of the value set asked for.
            t.add_map(npl.clone(), p.npl_id.clone(), atc.clone(), p.atc.clone());
            t.add_map(
                npl.clone(),
                p.npl_id.clone(),
                edqm.clone(),
                p.dose_form.clone(),
            );
            t.add_map(npl.clone(), p.npl_id.clone(), edqm.clone(), p.route.clone());
            t.npl.insert(p.npl_id.clone(), p);
        }
        for term in data.terms {
            t.terms
                .entry(term.value_set.as_str().to_owned())
                .or_default()
                .insert(term.term, (term.system, term.code));
        }
        t
    }

    fn embedded_set(&mut self, oid: &Oid) -> &mut ValueSet {
        self.value_sets
            .entry(oid.as_str().to_owned())
            .or_insert_with(|| {
                let name = value_sets::name(oid.as_str()).unwrap_or(oid.as_str());
                ValueSet::new(oid.clone(), name, "embedded")
            })
    }

    fn set_designation(&mut self, system: &Oid, code: &str, d: Designation) {
        let list = self
            .designations
            .entry(system.clone())
            .or_default()
            .entry(code.to_owned())
            .or_default();
        match list.iter_mut().find(|x| x.lang == d.lang) {
            Some(x) => x.text = d.text,
            None => list.push(d),
        }
    }

    fn add_map(&mut self, ss: Oid, sc: String, ts: Oid, tc: String) {
        let targets = self.maps.entry(ss).or_default().entry(sc).or_default();
        if !targets.iter().any(|(s, c)| *s == ts && *c == tc) {
            targets.push((ts, tc));
        }
    }

    /// Replaces embedded value sets by the MVC ones and takes their English displays.
    fn overlay(&mut self, sets: Vec<ValueSet>) {
        for vs in sets {
            let key = vs.oid.as_str().to_owned();
            if let Some(old) = self.value_sets.get(&key) {
                let missing: Vec<&Concept> = old
                    .concepts()
                    .iter()
                    .filter(|c| !vs.contains(&c.code_system, &c.code))
                    .collect();
                if !missing.is_empty() {
                    warn!(
                        value_set = %vs.name,
                        missing = missing.len(),
                        first = %missing[0].code,
                        "embedded members not in the MVC value set; the MVC wins"
                    );
                }
            }
            for c in vs.concepts() {
                for d in &c.designations {
                    // The valueSet's displayName is the English display eHDSI documents use;
                    // an en designation only fills in when it is missing.
                    if d.lang != Lang::EN || c.display_en.is_none() {
                        self.set_designation(&c.code_system, &c.code, d.clone());
                    }
                }
                if let Some(en) = &c.display_en {
                    self.set_designation(
                        &c.code_system,
                        &c.code,
                        Designation {
                            lang: Lang::EN,
                            text: en.clone(),
                        },
                    );
                }
                if let Some(name) = &c.code_system_name {
                    self.system_names
                        .entry(c.code_system.clone())
                        .or_insert_with(|| name.clone());
                }
            }
            debug!(value_set = %vs.name, oid = %vs.oid, version = %vs.version, concepts = vs.len(), "MVC value set");
            self.source.mvc_value_sets += 1;
            self.value_sets.insert(key, vs);
        }
    }

    /// Indexes the sv designations of value set members as Swedish terms (explicit terms from
    /// `sv_terms.tsv` win), and counts.
    fn finish(&mut self) {
        for (key, vs) in &self.value_sets {
            let terms = self.terms.entry(key.clone()).or_default();
            for c in vs.concepts() {
                let sv = self
                    .designations
                    .get(&c.code_system)
                    .and_then(|m| m.get(&c.code))
                    .and_then(|ds| ds.iter().find(|d| d.lang == Lang::SV));
                if let Some(sv) = sv {
                    terms
                        .entry(data::normalise_term(&sv.text))
                        .or_insert_with(|| (c.code_system.clone(), c.code.clone()));
                }
            }
        }
        self.source.value_sets = self.value_sets.len();
    }

    /// Where the data came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// A loaded value set.
    pub fn value_set(&self, oid: impl OidRef) -> Option<&ValueSet> {
        self.value_sets.get(oid.oid_str())
    }

    /// All loaded value sets (in no particular order).
    pub fn value_sets(&self) -> impl Iterator<Item = &ValueSet> {
        self.value_sets.values()
    }

    /// Whether `coded` is a member of the value set (as sent or normalised; no maps).
    pub fn contains(&self, value_set: impl OidRef, coded: &Coded) -> bool {
        self.value_set(value_set).is_some_and(|vs| {
            vs.contains(&coded.code_system, coded.code.trim())
                || vs.contains(
                    &coded.code_system,
                    &rules::normalise(&coded.code_system, &coded.code),
                )
        })
    }

    /// The display of a code in `lang`, falling back to English.
    pub fn display(&self, code_system: &Oid, code: &str, lang: Lang) -> Option<String> {
        self.designation(code_system, code, lang)
            .map(|d| d.text.clone())
    }

    /// Every designation of a code (one per language), empty when the code is unknown: one
    /// lookup for callers that compare languages.
    pub fn designations(&self, code_system: &Oid, code: &str) -> &[Designation] {
        self.designations
            .get(code_system)
            .and_then(|m| m.get(code))
            .map_or(&[], Vec::as_slice)
    }

    /// The designation of a code in `lang`, falling back to English; its `lang` says which.
    pub fn designation(&self, code_system: &Oid, code: &str, lang: Lang) -> Option<&Designation> {
        let ds = self.designations.get(code_system)?.get(code)?;
        let find = |l: Lang| ds.iter().find(|d| d.lang == l);
        find(lang).or_else(|| find(Lang::EN))
    }

    /// `coded` with its display in `lang` (English fallback); unchanged if no designation.
    pub fn translate(&self, coded: &Coded, lang: Lang) -> Coded {
        let mut out = coded.clone();
        if let Some(d) = self.display(&coded.code_system, &coded.code, lang) {
            out.display = Some(d);
        }
        if out.code_system_name.is_none() {
            out.code_system_name = self.system_name(&coded.code_system);
        }
        out
    }

    /// The name of a code system (`ATC`, `SNOMED CT`).
    pub fn system_name(&self, code_system: &Oid) -> Option<String> {
        code_systems::name(code_system)
            .map(str::to_owned)
            .or_else(|| self.system_names.get(code_system).cloned())
    }

    /// Everything known about a code: designations and the value sets it belongs to.
    pub fn lookup(&self, code_system: &Oid, code: &str) -> Option<ConceptInfo> {
        let mut designations = self
            .designations
            .get(code_system)
            .and_then(|m| m.get(code))
            .cloned()
            .unwrap_or_default();
        let mut value_sets: Vec<Oid> = self
            .value_sets
            .values()
            .filter(|vs| vs.get(code_system, code).is_some())
            .map(|vs| vs.oid.clone())
            .collect();
        if designations.is_empty() && value_sets.is_empty() {
            return None;
        }
        designations.sort_by_key(|d| d.lang);
        value_sets.sort();
        Some(ConceptInfo {
            code: code.to_owned(),
            code_system: code_system.clone(),
            code_system_name: self.system_name(code_system),
            designations,
            value_sets,
        })
    }

    /// Transcodes `coded` into the value set. Never drops the code: `Member`, `Mapped` (with
    /// the original kept) or `Unmapped` (see the rules in `rules.rs`). Targets carry the
    /// English display and the code system name.
    pub fn transcode(&self, coded: &Coded, value_set: impl OidRef) -> Transcoded {
        let vs_oid = value_set.oid_str();
        let Some(vs) = self.value_sets.get(vs_oid) else {
            debug!(value_set = vs_oid, "transcode into an unknown value set");
            return Transcoded::Unmapped {
                original: coded.clone(),
            };
        };
        let key = (
            coded.code_system.clone(),
            coded.code.clone(),
            vs_oid.to_owned(),
        );
        let cached = self
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.cache_get(&key).cloned());
        let decision = match cached {
            Some(d) => d,
            None => {
                let d = self.decide(vs, coded);
                if let Ok(mut c) = self.cache.lock() {
                    c.cache_set(key, d.clone());
                }
                d
            }
        };
        self.assemble(coded, decision)
    }

    /// [`Terminology::transcode`] without the cache (for measurements and tests).
    pub fn transcode_uncached(&self, coded: &Coded, value_set: impl OidRef) -> Transcoded {
        match self.value_sets.get(value_set.oid_str()) {
            Some(vs) => self.assemble(coded, self.decide(vs, coded)),
            None => Transcoded::Unmapped {
                original: coded.clone(),
            },
        }
    }

    fn decide(&self, vs: &ValueSet, coded: &Coded) -> Decision {
        let maps = self
            .maps
            .get(&coded.code_system)
            .and_then(|m| m.get(coded.code.trim()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        let d = rules::decide(vs, &coded.code_system, &coded.code, maps);
        debug!(system = %coded.code_system, code = %coded.code, value_set = %vs.name, decision = ?d, "transcode");
        d
    }

    fn assemble(&self, coded: &Coded, decision: Decision) -> Transcoded {
        match decision {
            Decision::Member { code } => {
                let mut c = coded.clone();
                if c.display.is_none() {
                    c.display = self.display(&c.code_system, &code, Lang::EN);
                }
                if c.code_system_name.is_none() {
                    c.code_system_name = self.system_name(&c.code_system);
                }
                c.code = code;
                Transcoded::Member(c)
            }
            Decision::Mapped { system, code, .. } => {
                let target = Coded {
                    display: self.display(&system, &code, Lang::EN),
                    code_system_name: self.system_name(&system),
                    code,
                    code_system: system,
                };
                Transcoded::Mapped {
                    target,
                    original: coded.clone(),
                }
            }
            Decision::Unmapped => Transcoded::Unmapped {
                original: coded.clone(),
            },
        }
    }

    /// The code for a Swedish word in a value set (`tablett` → EDQM 10219000 in
    /// eHDSIDoseForm), from `sv_terms.tsv` and the Swedish designations of its members.
    pub fn find_swedish_term(&self, value_set: impl OidRef, term: &str) -> Option<Coded> {
        let (system, code) = self
            .terms
            .get(value_set.oid_str())?
            .get(&data::normalise_term(term))?;
        Some(Coded {
            display: self.display(system, code, Lang::EN),
            code_system_name: self.system_name(system),
            code: code.clone(),
            code_system: system.clone(),
        })
    }

    /// A Swedish medicinal product by NPL-id.
    pub fn npl_product(&self, npl_id: &str) -> Option<&NplProduct> {
        self.npl.get(npl_id.trim())
    }

    /// All known NPL products (in no particular order).
    pub fn npl_products(&self) -> impl Iterator<Item = &NplProduct> {
        self.npl.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data files agree with each other: every map target, NPL code and Swedish term
    /// lands in an embedded value set, so embedded-only and MVC-backed answers match.
    #[test]
    fn embedded_data_is_consistent() {
        let t = Terminology::load(None).unwrap();
        let in_some_set = |s: &Oid, c: &str| t.value_sets.values().any(|vs| vs.contains(s, c));
        for (source_system, by_code) in &t.maps {
            for (source, targets) in by_code {
                for (s, c) in targets {
                    assert!(
                        in_some_set(s, c),
                        "map {source_system} {source} -> {s} {c}: target in no value set"
                    );
                }
            }
        }
        for (vs, terms) in &t.terms {
            let set = &t.value_sets[vs];
            for (term, (s, c)) in terms {
                assert!(
                    set.contains(s, c),
                    "term {term:?} -> {c} not in {}",
                    set.name
                );
            }
        }
    }
}
