//! The eHDSI Master Value Set Catalogue as ART-DECOR publishes it: one `voc-<OID>-<version>.xml`
//! per value set version, `<valueSets><valueSet id name versionLabel …><conceptList>` with
//! `<concept code codeSystem displayName type/>` and `<exception …/>` (both members), or
//! `<completeCodeSystem codeSystem/>` (a whole code system).
//!
//! [`load_dir`] takes one file per OID: the `DYNAMIC` one (the current version), else the
//! latest dated one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ncp_types::Oid;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use tracing::{debug, warn};

use crate::model::{Concept, Designation, Lang, ValueSet};
use crate::TerminologyError;

/// Loads the current version of every value set in `dir`. Unreadable or malformed single
/// files are logged and skipped (falling back to the next older version of that value set);
/// an unreadable directory is an error.
pub fn load_dir(dir: &Path) -> Result<Vec<ValueSet>, TerminologyError> {
    let load_err = |e: std::io::Error| TerminologyError::Load {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut by_oid: HashMap<String, Vec<(String, PathBuf)>> = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(load_err)? {
        let path = entry.map_err(load_err)?.path();
        let Some((oid, version)) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(split_file_name)
        else {
            continue;
        };
        by_oid
            .entry(oid.to_owned())
            .or_default()
            .push((version.to_owned(), path.clone()));
    }
    let mut oids: Vec<_> = by_oid.into_iter().collect();
    oids.sort();
    let mut out = Vec::with_capacity(oids.len());
    for (oid, mut versions) in oids {
        versions.sort_by(|a, b| version_rank(&b.0).cmp(&version_rank(&a.0)));
        let loaded = versions
            .iter()
            .find_map(|(_, path)| match std::fs::read(path) {
                Ok(bytes) => match parse(&bytes) {
                    Ok(sets) => Some(sets),
                    Err(e) => {
                        warn!(file = %path.display(), error = %e, "skipping malformed MVC file");
                        None
                    }
                },
                Err(e) => {
                    warn!(file = %path.display(), error = %e, "cannot read MVC file");
                    None
                }
            });
        match loaded {
            Some(sets) => out.extend(sets),
            None => warn!(oid, "no usable MVC file for this value set"),
        }
    }
    if out.is_empty() {
        warn!(dir = %dir.display(), "no MVC value sets (voc-<OID>-<version>.xml) in directory");
    }
    debug!(dir = %dir.display(), value_sets = out.len(), "MVC directory loaded");
    Ok(out)
}

/// `voc-1.2.3-DYNAMIC.xml` → (`1.2.3`, `DYNAMIC`).
fn split_file_name(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_prefix("voc-")?.strip_suffix(".xml")?;
    let (oid, version) = stem.split_once('-')?;
    Oid::parse(oid).ok()?;
    Some((oid, version))
}

/// DYNAMIC first, then dated versions by date (ISO timestamps sort as text).
fn version_rank(v: &str) -> (bool, &str) {
    (v == "DYNAMIC", v)
}

/// Parses one `voc-*.xml` document (one or more `valueSet`s).
pub fn parse(xml: &[u8]) -> Result<Vec<ValueSet>, TerminologyError> {
    let mut reader = Reader::from_reader(xml);
    // Text is only read inside designations, where spaces around entity references matter.
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    let mut sets = Vec::new();
    let mut current: Option<ValueSet> = None;
    let mut skipped = 0usize;
    // A concept element with children: `Some(None)` when the concept itself is skipped.
    let mut open_concept: Option<Option<Concept>> = None;
    let mut open_designation: Option<(Lang, String)> = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| TerminologyError::Load {
                path: format!("byte {}", reader.buffer_position()),
                reason: e.to_string(),
            })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => match e.local_name().as_ref() {
                b"valueSet" => {
                    let a = attrs(e);
                    let id = a
                        .get("id")
                        .and_then(|s| Oid::parse(s).ok())
                        .ok_or_else(|| TerminologyError::Load {
                            path: "valueSet/@id".into(),
                            reason: "missing or not an OID".into(),
                        })?;
                    let name = a.get("name").cloned().unwrap_or_else(|| id.to_string());
                    let version = a
                        .get("versionLabel")
                        .or_else(|| a.get("effectiveDate"))
                        .cloned()
                        .unwrap_or_default();
                    current = Some(ValueSet::new(id, name, version));
                }
                b"concept" | b"exception" if current.is_some() => {
                    let c = concept(&attrs(e));
                    if c.is_none() {
                        skipped += 1;
                    }
                    if matches!(event, Event::Empty(_)) {
                        if let (Some(vs), Some(c)) = (current.as_mut(), c) {
                            vs.push(c);
                        }
                    } else {
                        // Children (designations) follow; pushed at the end tag.
                        open_concept = Some(c);
                    }
                }
                b"designation" => {
                    if let Some(Some(_)) = &open_concept {
                        let a = attrs(e);
                        let lang = a.get("language").and_then(|l| Lang::parse(l));
                        let text = a.get("displayName").filter(|d| !d.is_empty()).cloned();
                        match (lang, text) {
                            (Some(lang), Some(text)) => {
                                push_designation(&mut open_concept, lang, text)
                            }
                            (Some(lang), None) if matches!(event, Event::Start(_)) => {
                                open_designation = Some((lang, String::new()));
                            }
                            _ => {}
                        }
                    }
                }
                b"completeCodeSystem" => {
                    let a = attrs(e);
                    if let (Some(vs), Some(cs)) = (
                        current.as_mut(),
                        a.get("codeSystem").and_then(|s| Oid::parse(s).ok()),
                    ) {
                        vs.include_code_system(cs);
                    }
                }
                _ => {}
            },
            Event::Text(ref t) => {
                if let (Some((_, text)), Ok(t)) = (open_designation.as_mut(), t.decode()) {
                    text.push_str(&t);
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some((_, text)) = open_designation.as_mut() {
                    if let Ok(Some(ch)) = r.resolve_char_ref() {
                        text.push(ch);
                    } else if let Some(s) = r
                        .decode()
                        .ok()
                        .and_then(|name| quick_xml::escape::resolve_predefined_entity(&name))
                    {
                        text.push_str(s);
                    }
                }
            }
            Event::End(ref e) => match e.local_name().as_ref() {
                b"valueSet" => {
                    if let Some(vs) = current.take() {
                        sets.push(vs);
                    }
                }
                b"concept" | b"exception" => {
                    if let (Some(vs), Some(Some(c))) = (current.as_mut(), open_concept.take()) {
                        vs.push(c);
                    }
                }
                b"designation" => {
                    if let Some((lang, text)) = open_designation.take() {
                        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                        if !text.is_empty() {
                            push_designation(&mut open_concept, lang, text);
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if skipped > 0 {
        debug!(
            skipped,
            "MVC concepts skipped (abstract, deprecated or malformed)"
        );
    }
    if sets.is_empty() {
        return Err(TerminologyError::Load {
            path: "valueSets".into(),
            reason: "no valueSet element".into(),
        });
    }
    Ok(sets)
}

fn push_designation(open: &mut Option<Option<Concept>>, lang: Lang, text: String) {
    if let Some(Some(c)) = open.as_mut() {
        match c.designations.iter_mut().find(|d| d.lang == lang) {
            Some(d) => d.text = text,
            None => c.designations.push(Designation { lang, text }),
        }
    }
}

/// A member concept, or `None` for abstract (`A`) and deprecated (`D`) entries and for entries
/// without a usable code or code system.
fn concept(a: &HashMap<String, String>) -> Option<Concept> {
    if matches!(a.get("type").map(String::as_str), Some("A" | "D")) {
        return None;
    }
    let code = a.get("code")?.trim();
    if code.is_empty() {
        return None;
    }
    Some(Concept {
        code: code.to_owned(),
        code_system: Oid::parse(a.get("codeSystem")?).ok()?,
        code_system_name: a.get("codeSystemName").cloned(),
        display_en: a.get("displayName").filter(|d| !d.is_empty()).cloned(),
        designations: Vec::new(),
    })
}

fn attrs(e: &BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .filter_map(Result::ok)
        .filter_map(|a| {
            let key = std::str::from_utf8(a.key.local_name().as_ref())
                .ok()?
                .to_owned();
            let value = a.unescape_value().ok()?.into_owned();
            Some((key, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<valueSets>
  <valueSet id="1.3.6.1.4.1.12559.11.10.1.3.1.42.37" name="eHDSINullFlavor" versionLabel="202204">
    <desc>x &amp; y</desc>
    <conceptList>
      <concept code="A" codeSystem="2.16.840.1.113883.5.1008" displayName="a &amp; b" level="0" type="L">
        <designation language="en-GB" displayName="a" type="fsn">a</designation>
        <designation language="sv-SE" type="preferred">  ett A &amp; &#66; </designation>
      </concept>
      <concept code="ABS" codeSystem="2.16.840.1.113883.5.1008" displayName="abstract" type="A"/>
      <concept code="" codeSystem="2.16.840.1.113883.5.1008"/>
      <concept code="X" codeSystem="not an oid"/>
      <exception code="OTH" codeSystem="2.16.840.1.113883.5.1008 " displayName="other"/>
    </conceptList>
  </valueSet>
</valueSets>"#;

    #[test]
    fn parses_concepts_and_exceptions() {
        let sets = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(sets.len(), 1);
        let vs = &sets[0];
        assert_eq!(vs.name, "eHDSINullFlavor");
        assert_eq!(vs.version, "202204");
        assert_eq!(vs.len(), 2);
        let nf = Oid::parse("2.16.840.1.113883.5.1008").unwrap();
        assert_eq!(
            vs.get(&nf, "A").unwrap().display_en.as_deref(),
            Some("a & b")
        );
        assert!(vs.contains(&nf, "OTH"));
        assert!(!vs.contains(&nf, "ABS"));
        let ds = &vs.get(&nf, "A").unwrap().designations;
        assert_eq!(ds.len(), 2);
        assert_eq!((ds[1].lang, ds[1].text.as_str()), (Lang::SV, "ett A & B"));
    }

    #[test]
    fn complete_code_system() {
        let xml = r#"<valueSets><valueSet id="1.2.3" name="all"><completeCodeSystem codeSystem="2.16.840.1.113883.6.96"/></valueSet></valueSets>"#;
        let vs = &parse(xml.as_bytes()).unwrap()[0];
        assert!(vs.contains(&Oid::parse("2.16.840.1.113883.6.96").unwrap(), "anything"));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"<valueSets><valueSet name='x'></valueSet></valueSets>").is_err());
        assert!(parse(b"<valueSets><valueSet id='1.2'><concept code='a' </valueSets>").is_err());
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("voc-1.3.6.1-DYNAMIC.xml"),
            Some(("1.3.6.1", "DYNAMIC"))
        );
        assert_eq!(
            split_file_name("voc-1.3.6.1-2020-04-22T155100.xml"),
            Some(("1.3.6.1", "2020-04-22T155100"))
        );
        assert_eq!(split_file_name("voc-UCUM.xml"), None);
        assert_eq!(split_file_name("x.sch"), None);
        assert!(version_rank("DYNAMIC") > version_rank("2024-01-01T000000"));
        assert!(version_rank("2024-01-01T000000") > version_rank("2013-06-03T000000"));
    }
}
