//! The eHDSI sample documents in `../shared/ehdsi/samples/openncp-mock/` (from the EU reference
//! implementation's mock national infrastructure): ePrescriptions `epstore-*` and Patient
//! Summaries `psstore-*`, each as L3 CDA with the matching PDF. The L1 document served for a
//! sample is the L3 header with the PDF as its `nonXMLBody`, as an eHDSI country A builds it.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ncp_core::ihe::PatientIdentifier;
use ncp_types::Oid;

const HL7_NS: &str = "urn:hl7-org:v3";

/// The shared eHDSI material (`../shared` beside the repository), when it is there.
pub fn shared_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    p.is_dir().then_some(p)
}

/// `../shared/ehdsi/samples/openncp-mock`, when it is there.
pub fn samples_dir() -> Option<PathBuf> {
    let p = shared_dir()?.join("ehdsi/samples/openncp-mock");
    p.is_dir().then_some(p)
}

/// `../shared/conformance/validate-cda`, when it is there.
pub fn validator() -> Option<PathBuf> {
    let p = shared_dir()?.join("conformance/validate-cda");
    p.is_file().then_some(p)
}

/// The samples directory, or `None` after printing why the test is skipped.
pub fn samples_or_skip(test: &str) -> Option<PathBuf> {
    let dir = samples_dir();
    if dir.is_none() {
        eprintln!(
            "SKIPPED {test}: ../shared/ehdsi/samples/openncp-mock not found (the shared eHDSI \
             material is not checked out beside the repository)"
        );
    }
    dir
}

/// Runs `../shared/conformance/validate-cda` over `files`: `None` (with a message) when the
/// validator is absent, else whether every document passed, and the validator's output.
pub fn validate_cda(files: &[PathBuf]) -> Option<(bool, String)> {
    let Some(v) = validator() else {
        eprintln!(
            "SKIPPED: ../shared/conformance/validate-cda not found; schematron validation not run"
        );
        return None;
    };
    let out = std::process::Command::new("bash")
        .arg(v)
        .args(files)
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

/// The two eHDSI document classes served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleClass {
    EPrescription,
    PatientSummary,
}

impl SampleClass {
    pub fn loinc(self) -> &'static str {
        match self {
            SampleClass::EPrescription => "57833-6",
            SampleClass::PatientSummary => "60591-5",
        }
    }

    fn templates(self) -> (&'static str, &'static str) {
        match self {
            SampleClass::EPrescription => (
                "1.3.6.1.4.1.12559.11.10.1.3.1.1.1",
                "1.3.6.1.4.1.12559.11.10.1.3.1.1.6",
            ),
            SampleClass::PatientSummary => (
                "1.3.6.1.4.1.12559.11.10.1.3.1.1.3",
                "1.3.6.1.4.1.12559.11.10.1.3.1.1.7",
            ),
        }
    }
}

/// The patient as a sample's `recordTarget` describes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SampleDemographics {
    pub given: Vec<String>,
    pub family: Vec<String>,
    /// HL7 TS.
    pub birth_time: Option<String>,
    /// `M`, `F`, `UN`.
    pub gender: Option<String>,
}

/// One sample: the L3 CDA, the PDF, and what its header says.
#[derive(Clone)]
pub struct SampleDocument {
    /// The file stem (`epstore-1-1234-W8`).
    pub stem: String,
    pub class: SampleClass,
    pub l3: Vec<u8>,
    pub pdf: Option<Vec<u8>>,
    /// The first `recordTarget/patientRole/id`, when it has one.
    pub patient: Option<PatientIdentifier>,
    pub demographics: SampleDemographics,
    pub title: Option<String>,
}

impl std::fmt::Debug for SampleDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SampleDocument")
            .field("stem", &self.stem)
            .field("class", &self.class)
            .field("l3_len", &self.l3.len())
            .field("pdf", &self.pdf.as_ref().map(Vec::len))
            .finish()
    }
}

/// Why a sample could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: not a sample name (epstore-* or psstore-*)")]
    Name(String),
    #[error("{0}: not a readable CDA document: {1}")]
    Cda(String, String),
}

impl SampleDocument {
    /// Loads `{dir}/{stem}.xml` and, when present, `{dir}/{stem}.pdf`.
    pub fn load(dir: &Path, stem: &str) -> Result<Self, SampleError> {
        let class = if stem.starts_with("epstore-") {
            SampleClass::EPrescription
        } else if stem.starts_with("psstore-") {
            SampleClass::PatientSummary
        } else {
            return Err(SampleError::Name(stem.to_owned()));
        };
        let xml_path = dir.join(format!("{stem}.xml"));
        let l3 = std::fs::read(&xml_path).map_err(|e| SampleError::Io(xml_path.clone(), e))?;
        let pdf_path = dir.join(format!("{stem}.pdf"));
        let pdf = match std::fs::read(&pdf_path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(SampleError::Io(pdf_path, e)),
        };
        let (patient, demographics, title) =
            read_header(&l3).map_err(|e| SampleError::Cda(stem.to_owned(), e))?;
        Ok(SampleDocument {
            stem: stem.to_owned(),
            class,
            l3,
            pdf,
            patient,
            demographics,
            title,
        })
    }

    /// The L1 document: the L3 header (L1 template) with the PDF as `nonXMLBody`.
    pub fn l1(&self) -> Option<Vec<u8>> {
        let pdf = self.pdf.as_ref()?;
        let text = std::str::from_utf8(&self.l3).ok()?;
        // The element prefix the document uses for the HL7 namespace (`` or `ns1:`).
        let root_at = text.find("ClinicalDocument")?;
        let p = &text[text[..root_at].rfind('<')? + 1..root_at];
        let body_start = text.find(&format!("<{p}structuredBody"))?;
        let component_start = text[..body_start].rfind(&format!("<{p}component"))?;
        let body_close = format!("</{p}structuredBody>");
        let body_end = text.find(&body_close)? + body_close.len();
        let component_close = format!("</{p}component>");
        let component_end =
            body_end + text[body_end..].find(&component_close)? + component_close.len();
        let (l3_template, l1_template) = self.class.templates();
        let header = text[..component_start].replacen(
            &format!("root=\"{l3_template}\""),
            &format!("root=\"{l1_template}\""),
            1,
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(pdf);
        let mut out = String::with_capacity(text.len() + b64.len());
        out.push_str(&header);
        out.push_str(&format!(
            "<{p}component><{p}nonXMLBody><{p}text mediaType=\"application/pdf\" representation=\"B64\">"
        ));
        out.push_str(&b64);
        out.push_str(&format!("</{p}text></{p}nonXMLBody></{p}component>"));
        out.push_str(&text[component_end..]);
        Some(out.into_bytes())
    }
}

type Header = (
    Option<PatientIdentifier>,
    SampleDemographics,
    Option<String>,
);

fn read_header(l3: &[u8]) -> Result<Header, String> {
    let text = std::str::from_utf8(l3).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if !root.has_tag_name((HL7_NS, "ClinicalDocument")) {
        return Err("no ClinicalDocument".into());
    }
    fn el<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        n.children()
            .find(|c| c.is_element() && c.has_tag_name((HL7_NS, name)))
    }
    let role = el(root, "recordTarget").and_then(|r| el(r, "patientRole"));
    let patient = role.and_then(|r| el(r, "id")).and_then(|id| {
        let root = Oid::parse(id.attribute("root")?).ok()?;
        let ext = id.attribute("extension")?.trim();
        (!ext.is_empty()).then(|| PatientIdentifier::new(root, ext))
    });
    let person = role.and_then(|r| el(r, "patient"));
    let name = person.and_then(|p| el(p, "name"));
    let texts = |local: &str| -> Vec<String> {
        name.map(|n| {
            n.children()
                .filter(|c| c.is_element() && c.has_tag_name((HL7_NS, local)))
                .filter_map(|c| c.text().map(|t| t.trim().to_owned()))
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    let attr = |local: &str, a: &str| {
        person
            .and_then(|p| el(p, local))
            .and_then(|n| n.attribute(a))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let demographics = SampleDemographics {
        given: texts("given"),
        family: texts("family"),
        birth_time: attr("birthTime", "value"),
        gender: attr("administrativeGenderCode", "code"),
    };
    let title = el(root, "title")
        .and_then(|t| t.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    Ok((patient, demographics, title))
}
