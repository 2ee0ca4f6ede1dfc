//! Parsing of the crate's own data files (`data/*.tsv`, compiled in).
//!
//! All files are UTF-8, tab-separated; `#` starts a comment line; blank lines are skipped; the
//! first other line is the header, checked against the expected columns. An empty cell or `-`
//! means "none". Code systems are OIDs or aliases from [`crate::code_systems::ALIASES`]; value
//! sets are OIDs or MVC names from [`crate::value_sets::ALL`].

use ncp_types::Oid;
use serde::{Deserialize, Serialize};

use crate::model::{Designation, Lang};
use crate::{code_systems, value_sets, TerminologyError};

/// The embedded data files, by name.
pub(crate) const EMBEDDED: EmbeddedFiles = EmbeddedFiles {
    concepts: include_str!("../data/concepts.tsv"),
    maps: include_str!("../data/maps.tsv"),
    terms: include_str!("../data/sv_terms.tsv"),
    npl: include_str!("../data/npl.tsv"),
    ps_concepts: include_str!("../data/ps_concepts.tsv"),
    ps_maps: include_str!("../data/ps_maps.tsv"),
};

pub(crate) struct EmbeddedFiles {
    pub concepts: &'static str,
    pub maps: &'static str,
    pub terms: &'static str,
    pub npl: &'static str,
    /// Patient Summary concepts and maps (same formats as `concepts` and `maps`, read after).
    pub ps_concepts: &'static str,
    pub ps_maps: &'static str,
}

/// A code with designations and the (embedded) value sets it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct ConceptRow {
    pub system: Oid,
    pub code: String,
    pub value_sets: Vec<Oid>,
    pub designations: Vec<Designation>,
}

/// A one-way map from a source code to a target code.
#[derive(Debug, Clone)]
pub(crate) struct MapRow {
    pub source_system: Oid,
    pub source_code: String,
    pub target_system: Oid,
    pub target_code: String,
}

/// A Swedish word for a code in a value set.
#[derive(Debug, Clone)]
pub(crate) struct TermRow {
    pub value_set: Oid,
    pub term: String,
    pub system: Oid,
    pub code: String,
}

/// A Swedish medicinal product (NPL), as the bridge knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NplProduct {
    /// The NPL-id (`1.2.752.129.2.1.5.1`).
    pub npl_id: String,
    /// The Swedish product name with strength and form (`Alvedon 500 mg tablett`).
    pub name: String,
    /// ATC code of the active ingredient(s).
    pub atc: String,
    /// EDQM dose form.
    pub dose_form: String,
    /// EDQM route of administration.
    pub route: String,
    /// Strength as the product states it (`500 mg`), free text.
    pub strength: String,
}

#[derive(Debug, Default)]
pub(crate) struct DataSet {
    pub concepts: Vec<ConceptRow>,
    pub maps: Vec<MapRow>,
    pub terms: Vec<TermRow>,
    pub npl: Vec<NplProduct>,
}

impl DataSet {
    pub fn parse(files: &EmbeddedFiles) -> Result<DataSet, TerminologyError> {
        let mut concepts = parse_concepts("data/concepts.tsv", files.concepts)?;
        concepts.extend(parse_concepts("data/ps_concepts.tsv", files.ps_concepts)?);
        let mut maps = parse_maps("data/maps.tsv", files.maps)?;
        maps.extend(parse_maps("data/ps_maps.tsv", files.ps_maps)?);
        Ok(DataSet {
            concepts,
            maps,
            terms: parse_terms("data/sv_terms.tsv", files.terms)?,
            npl: parse_npl("data/npl.tsv", files.npl)?,
        })
    }
}

fn err(file: &str, line: usize, reason: impl Into<String>) -> TerminologyError {
    TerminologyError::Load {
        path: format!("{file}:{line}"),
        reason: reason.into(),
    }
}

/// Header cells, and data lines as (line number, cells).
type Table<'a> = (Vec<&'a str>, Vec<(usize, Vec<&'a str>)>);

/// Data lines as (line number, cells), after checking the header starts with `expected`.
/// Returns the header cells too (the concepts file has one column per language).
fn table<'a>(file: &str, text: &'a str, expected: &[&str]) -> Result<Table<'a>, TerminologyError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (hl, header) = lines.next().ok_or_else(|| err(file, 1, "no header line"))?;
    let header: Vec<&str> = header.split('\t').map(str::trim).collect();
    if header.len() < expected.len() || header[..expected.len()] != *expected {
        return Err(err(
            file,
            hl,
            format!("header must start with {}", expected.join(" | ")),
        ));
    }
    let mut rows = Vec::new();
    for (n, line) in lines {
        let cells: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cells.len() > header.len() {
            return Err(err(
                file,
                n,
                format!("{} columns, header has {}", cells.len(), header.len()),
            ));
        }
        if cells.len() < expected.len() {
            return Err(err(
                file,
                n,
                format!("expected at least {} columns", expected.len()),
            ));
        }
        rows.push((n, cells));
    }
    Ok((header, rows))
}

fn cell<'a>(cells: &[&'a str], i: usize) -> Option<&'a str> {
    cells.get(i).copied().filter(|c| !c.is_empty() && *c != "-")
}

fn required<'a>(
    file: &str,
    n: usize,
    cells: &[&'a str],
    i: usize,
    what: &str,
) -> Result<&'a str, TerminologyError> {
    cell(cells, i).ok_or_else(|| err(file, n, format!("missing {what}")))
}

fn system(file: &str, n: usize, s: &str) -> Result<Oid, TerminologyError> {
    code_systems::resolve(s).ok_or_else(|| err(file, n, format!("unknown code system {s:?}")))
}

fn value_set(file: &str, n: usize, s: &str) -> Result<Oid, TerminologyError> {
    value_sets::resolve(s)
        .and_then(|o| Oid::parse(o).ok())
        .or_else(|| Oid::parse(s).ok())
        .ok_or_else(|| err(file, n, format!("unknown value set {s:?}")))
}

fn code(file: &str, n: usize, s: &str) -> Result<String, TerminologyError> {
    if s.chars().any(char::is_whitespace) {
        return Err(err(file, n, format!("code {s:?} contains white space")));
    }
    Ok(s.to_owned())
}

/// `system  code  value_sets  <lang>...`: one column per language named in the header.
pub(crate) fn parse_concepts(file: &str, text: &str) -> Result<Vec<ConceptRow>, TerminologyError> {
    let (header, rows) = table(file, text, &["system", "code", "value_sets"])?;
    let langs = header[3..]
        .iter()
        .map(|h| {
            Lang::parse(h).ok_or_else(|| err(file, 1, format!("column {h:?} is not a language")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(n, cells)| {
            let value_sets = match cell(&cells, 2) {
                Some(list) => list
                    .split(',')
                    .map(|v| value_set(file, n, v.trim()))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            let designations = langs
                .iter()
                .enumerate()
                .filter_map(|(i, lang)| {
                    cell(&cells, 3 + i).map(|t| Designation {
                        lang: *lang,
                        text: t.to_owned(),
                    })
                })
                .collect();
            Ok(ConceptRow {
                system: system(file, n, required(file, n, &cells, 0, "system")?)?,
                code: code(file, n, required(file, n, &cells, 1, "code")?)?,
                value_sets,
                designations,
            })
        })
        .collect()
}

/// `source_system  source_code  target_system  target_code  [note]`.
pub(crate) fn parse_maps(file: &str, text: &str) -> Result<Vec<MapRow>, TerminologyError> {
    let (_, rows) = table(
        file,
        text,
        &[
            "source_system",
            "source_code",
            "target_system",
            "target_code",
        ],
    )?;
    rows.into_iter()
        .map(|(n, cells)| {
            Ok(MapRow {
                source_system: system(file, n, required(file, n, &cells, 0, "source_system")?)?,
                source_code: code(file, n, required(file, n, &cells, 1, "source_code")?)?,
                target_system: system(file, n, required(file, n, &cells, 2, "target_system")?)?,
                target_code: code(file, n, required(file, n, &cells, 3, "target_code")?)?,
            })
        })
        .collect()
}

/// `value_set  term  system  code`: a Swedish word (any case) for a code.
pub(crate) fn parse_terms(file: &str, text: &str) -> Result<Vec<TermRow>, TerminologyError> {
    let (_, rows) = table(file, text, &["value_set", "term", "system", "code"])?;
    rows.into_iter()
        .map(|(n, cells)| {
            Ok(TermRow {
                value_set: value_set(file, n, required(file, n, &cells, 0, "value_set")?)?,
                term: normalise_term(required(file, n, &cells, 1, "term")?),
                system: system(file, n, required(file, n, &cells, 2, "system")?)?,
                code: code(file, n, required(file, n, &cells, 3, "code")?)?,
            })
        })
        .collect()
}

/// `npl_id  name  atc  dose_form  route  strength`.
pub(crate) fn parse_npl(file: &str, text: &str) -> Result<Vec<NplProduct>, TerminologyError> {
    let (_, rows) = table(
        file,
        text,
        &["npl_id", "name", "atc", "dose_form", "route", "strength"],
    )?;
    rows.into_iter()
        .map(|(n, cells)| {
            let npl_id = required(file, n, &cells, 0, "npl_id")?;
            if npl_id.len() != 14 || !npl_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(file, n, format!("NPL-id {npl_id:?} is not 14 digits")));
            }
            Ok(NplProduct {
                npl_id: npl_id.to_owned(),
                name: required(file, n, &cells, 1, "name")?.to_owned(),
                atc: code(file, n, required(file, n, &cells, 2, "atc")?)?,
                dose_form: code(file, n, required(file, n, &cells, 3, "dose_form")?)?,
                route: code(file, n, required(file, n, &cells, 4, "route")?)?,
                strength: cell(&cells, 5).unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Lower case, single spaces: how Swedish terms are compared.
pub(crate) fn normalise_term(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse() {
        let d = DataSet::parse(&EMBEDDED).expect("embedded data parses");
        assert!(d.concepts.len() > 50);
        assert!(!d.maps.is_empty());
        assert!(!d.terms.is_empty());
        assert!(d.npl.len() >= 15);
    }

    #[test]
    fn errors_name_file_and_line() {
        let text =
            "# c\nsystem\tcode\tvalue_sets\ten\nATC\tN02BE01\t-\tParacetamol\nNOPE\tX\t-\tx\n";
        match parse_concepts("f.tsv", text) {
            Err(TerminologyError::Load { path, reason }) => {
                assert_eq!(path, "f.tsv:4");
                assert!(reason.contains("NOPE"), "{reason}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
        assert!(parse_concepts("f.tsv", "code\tsystem\n").is_err());
        assert!(parse_concepts("f.tsv", "").is_err());
        let text = "system\tcode\tvalue_sets\ten\nATC\tN02 BE01\t-\tx\n";
        assert!(parse_concepts("f.tsv", text).is_err());
    }

    #[test]
    fn concepts_columns_are_languages() {
        let text = "system\tcode\tvalue_sets\ten\tsv\nATC\tN02BE01\teHDSIActiveIngredient,eHDSIVaccine\tParacetamol\t\n";
        let rows = parse_concepts("f.tsv", text).unwrap();
        assert_eq!(rows[0].value_sets.len(), 2);
        assert_eq!(rows[0].designations.len(), 1);
        assert_eq!(rows[0].designations[0].lang, Lang::EN);
    }

    #[test]
    fn terms_are_normalised() {
        assert_eq!(
            normalise_term("  Filmdragerad   TABLETT "),
            "filmdragerad tablett"
        );
    }
}
