//! Sweden as country A under test: the simulators of the Swedish services, the bridge on the
//! test PKI (port 0, in a temp dir), signed eHDSI assertions, SOAP envelopes, and a mutual-TLS
//! client per test foreign NCP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use chrono::Duration;
use ncp_core::bridge::Bridge;
use ncp_core::config::Config;
use ncp_core::country_a::MemoryAudit;
use ncp_core::pki::TestPki;
use ncp_core::security::{
    issue_hcp_assertion, issue_trc_assertion, AssertionOptions, FacilityType, HcpClaims, HcpRole,
    PatientRef, Permission, PurposeOfUse, SignedAssertion, SigningKey, TrcClaims,
};
use ncp_types::Oid;
use serde_json::Value;
use sweden_sim::RunningSims;

pub const HCID: &str = "1.2.752.129.2.1.99.1";
pub const DOC_ROOT: &str = "1.2.752.129.2.1.99.2";
/// `ClinicalDocument/id/@root` of the bridge's ePrescriptions (`{DOC_ROOT}.1`).
pub const EP_DOC_ROOT: &str = "1.2.752.129.2.1.99.2.1";
pub const PNR: &str = "1.2.752.129.2.1.3.1";
pub const SAMN: &str = "1.2.752.129.2.1.3.3";
pub const BRIDGE_HSA: &str = "SE2321000198-NCPTEST";

/// The classification scheme of `XDSDocumentEntry.uniqueId`.
pub const UNIQUE_ID_SCHEME: &str = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab";

pub const XCPD_ACTION: &str = "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery";
pub const XCA_QUERY_ACTION: &str = "urn:ihe:iti:2007:CrossGatewayQuery";
pub const XCA_RETRIEVE_ACTION: &str = "urn:ihe:iti:2007:CrossGatewayRetrieve";
pub const XDR_ACTION: &str = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b";

pub struct Env {
    pub sims: Option<RunningSims>,
    pub pki: TestPki,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub audit: Arc<MemoryAudit>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Env {
    /// Simulators, PKI and bridge, with a body limit of `max_body` bytes, the outbox in the
    /// temp dir, and the audit records in memory.
    pub async fn start_with(max_body: usize) -> Env {
        Env::start_full(max_body, false).await
    }

    /// As [`Env::start_with`]; with `trail`, audit records go to the SQLite audit trail in
    /// the temp dir ([`Env::audit_config`]) instead of memory.
    pub async fn start_full(max_body: usize, trail: bool) -> Env {
        Env::start_custom(max_body, trail, true).await
    }

    /// As [`Env::start_full`]; without `outbox`, XDR records in NLL synchronously.
    pub async fn start_custom(max_body: usize, trail: bool, outbox: bool) -> Env {
        let sims = sweden_sim::start(sweden_sim::SimConfig::default())
            .await
            .expect("simulators start");
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = TestPki::ensure(&dir.path().join("pki")).expect("test PKI");
        let mvc = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/ehdsi/schematron-wave8/include");
        let mvc_line = if mvc.is_dir() {
            format!("[terminology]\nmvc_dir = {:?}\n", mvc.display().to_string())
        } else {
            String::new()
        };
        let toml = format!(
            r#"
[ncp]
country = "SE"
home_community_id = "{HCID}"
document_root = "{DOC_ROOT}"
organization_name = "E-hälsomyndigheten (test)"
hsa_id = "{BRIDGE_HSA}"

[server]
listen = "127.0.0.1:0"
max_body_bytes = {max_body}

[tls]
cert = {cert:?}
key = {key:?}
client_ca = [{ca:?}]

[national]
nll = "{nll}"
pdi = "{pdi}"
ntk = "{ntk}"
nsr = "{nsr}"

[saml]
trust = [{ca:?}]

[audit.backend]
kind = "sqlite"
path = {audit:?}

[outbox.backend]
kind = "sqlite"
path = {outbox:?}

[outbox.worker]
poll_interval_ms = 50
backoff_base_ms = 100
backoff_max_ms = 1000
{mvc_line}"#,
            audit = dir.path().join("audit.sqlite").display().to_string(),
            outbox = dir.path().join("outbox.sqlite").display().to_string(),
            cert = pki.server_cert.display().to_string(),
            key = pki.server_key.display().to_string(),
            ca = pki.ca_cert.display().to_string(),
            nll = sims.nll,
            pdi = sims.pdi,
            ntk = sims.ntk,
            nsr = sims.nsr,
        );
        let mut config = Config::parse(&toml).expect("test configuration");
        if !outbox {
            config.outbox = None;
        }
        config.validate().expect("valid test configuration");
        let audit = Arc::new(MemoryAudit::new());
        let mut bridge = Bridge::bind(config).await.expect("bridge binds");
        if !trail {
            bridge = bridge.with_audit(audit.clone());
        }
        let addr = bridge.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(bridge.run(async move {
            let _ = stopped.await;
        }));
        Env {
            sims: Some(sims),
            pki,
            dir,
            addr,
            audit,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn start() -> Env {
        Env::start_with(1024 * 1024).await
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        if let Some(s) = self.sims.take() {
            s.shutdown().await;
        }
    }

    /// The `[audit]` the bridge was configured with.
    pub fn audit_config(&self) -> ncp_core::audit::AuditConfig {
        ncp_core::audit::AuditConfig {
            backend: ncp_core::audit::StorageBackend::Sqlite {
                path: self.dir.path().join("audit.sqlite"),
            },
        }
    }

    /// Every record of the bridge's SQLite audit trail, oldest first, as JSON.
    pub fn audit_records(&self) -> Vec<Value> {
        let ncp_core::audit::StorageBackend::Sqlite { path } = self.audit_config().backend else {
            panic!("the test trail is SQLite");
        };
        let conn = rusqlite::Connection::open(path).expect("audit file");
        let mut st = conn
            .prepare("SELECT record FROM audit_log ORDER BY seq")
            .expect("query");
        st.query_map([], |r| r.get::<_, String>(0))
            .expect("rows")
            .map(|j| serde_json::from_str(&j.expect("row")).expect("JSON"))
            .collect()
    }

    /// Waits (up to 10 s) until NLL holds `n` dispensations of `rx` matching `pred`.
    pub async fn wait_for(&self, rx: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let d = self.dispensations(rx).await;
            if d.iter().filter(|x| pred(x)).count() >= n || std::time::Instant::now() > deadline {
                return d;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn foreign(&self, country: &str) -> &ncp_core::pki::ForeignNcp {
        self.pki
            .foreign
            .iter()
            .find(|f| f.country == country)
            .expect("a test foreign NCP")
    }

    /// A mutual-TLS client with the TLS certificate of the test NCP of `country`.
    pub fn client(&self, country: &str) -> reqwest::Client {
        let f = self.foreign(country);
        self.client_with(&f.tls_cert, &f.tls_key)
    }

    pub fn client_with(&self, cert: &std::path::Path, key: &std::path::Path) -> reqwest::Client {
        let mut pem = std::fs::read(cert).expect("cert");
        pem.extend(std::fs::read(key).expect("key"));
        let ca = std::fs::read(&self.pki.ca_cert).expect("ca");
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("ca pem"))
            .identity(reqwest::Identity::from_pem(&pem).expect("identity"))
            .build()
            .expect("client")
    }

    /// The SAML signing key of the test NCP of `country`.
    pub fn signer(&self, country: &str) -> SigningKey {
        let f = self.foreign(country);
        SigningKey::from_pem(
            &std::fs::read(&f.saml_cert).expect("saml cert"),
            &std::fs::read(&f.saml_key).expect("saml key"),
        )
        .expect("signing key")
    }

    /// POSTs a plain SOAP 1.2 envelope as the NCP of `country`.
    pub async fn post(&self, country: &str, path: &str, envelope: &str) -> Reply {
        self.post_raw(
            &self.client(country),
            path,
            "application/soap+xml; charset=UTF-8",
            envelope.as_bytes().to_vec(),
        )
        .await
        .expect("the bridge answers")
    }

    pub async fn post_raw(
        &self,
        client: &reqwest::Client,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Reply, reqwest::Error> {
        let r = client
            .post(self.url(path))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await?;
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.bytes().await?.to_vec();
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// GET on the NLL simulator as the bridge would (cross-border).
    pub async fn nll(&self, path_and_query: &str) -> Value {
        let base = self
            .sims
            .as_ref()
            .expect("simulators")
            .nll
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        reqwest::Client::new()
            .get(format!("{base}/{path_and_query}"))
            .header("Accept", "application/fhir+json")
            .header("X-Caller-HsaId", BRIDGE_HSA)
            .header("X-Purpose", "cross-border")
            .header("X-Caller-Role", "ncp")
            .send()
            .await
            .expect("NLL answers")
            .json()
            .await
            .expect("NLL JSON")
    }

    /// The dispensations NLL holds for a prescription.
    pub async fn dispensations(&self, rx: &str) -> Vec<Value> {
        let b = self
            .nll(&format!("MedicationDispense?prescription={rx}"))
            .await;
        b["entry"]
            .as_array()
            .map(|a| a.iter().map(|e| e["resource"].clone()).collect())
            .unwrap_or_default()
    }

    pub async fn prescription(&self, rx: &str) -> Value {
        let b = self.nll(&format!("MedicationRequest?_id={rx}")).await;
        b["entry"][0]["resource"].clone()
    }
}

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The SOAP body's first element as text (for a plain, not MTOM, answer).
    pub fn soap_body(&self) -> String {
        let text = self.text();
        let doc = roxmltree::Document::parse(&text).expect("answer is XML");
        let body = doc
            .root_element()
            .children()
            .find(|n| n.has_tag_name("Body"))
            .expect("env:Body");
        let first = body
            .children()
            .find(|n| n.is_element())
            .expect("body element");
        text[first.range()].to_owned()
    }

    /// The eHDSI code in a SOAP fault's detail, if this is a fault.
    pub fn fault_code(&self) -> Option<String> {
        let text = self.text();
        let doc = roxmltree::Document::parse(&text).ok()?;
        doc.descendants().find(|n| n.has_tag_name("Fault"))?;
        doc.descendants()
            .find(|n| n.has_tag_name("ErrorCode"))
            .and_then(|n| n.text())
            .map(str::to_owned)
    }

    /// The ebRS status of the (plain) answer's SOAP body.
    pub fn registry_status(&self) -> String {
        registry_status(&self.soap_body())
    }

    /// `(DocumentUniqueId, decoded Document)` of every `DocumentResponse` of a retrieve answer.
    pub fn documents(&self) -> Vec<(String, Vec<u8>)> {
        let body = self.soap_body();
        let doc = roxmltree::Document::parse(&body).expect("XML");
        doc.descendants()
            .filter(|n| n.has_tag_name("DocumentResponse"))
            .map(|d| {
                let text = |t: &str| {
                    d.children()
                        .find(|c| c.has_tag_name(t))
                        .and_then(|c| c.text())
                        .unwrap_or("")
                        .to_owned()
                };
                let b64: String = text("Document")
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("inline base64");
                (text("DocumentUniqueId"), bytes)
            })
            .collect()
    }

    /// `errorCode`s of every `RegistryError`.
    pub fn registry_errors(&self) -> Vec<String> {
        let text = self.text();
        let Ok(doc) = roxmltree::Document::parse(&text) else {
            return Vec::new();
        };
        doc.descendants()
            .filter(|n| n.has_tag_name("RegistryError"))
            .filter_map(|n| n.attribute("errorCode"))
            .map(str::to_owned)
            .collect()
    }
}

/// The ebRS status of an answer (the root's `status`, else its `RegistryResponse`'s).
pub fn registry_status(xml: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("XML");
    let root = doc.root_element();
    root.attribute("status")
        .or_else(|| {
            root.descendants()
                .find(|n| n.has_tag_name("RegistryResponse"))
                .and_then(|n| n.attribute("status"))
        })
        .unwrap_or("")
        .to_owned()
}

/// The `XDSDocumentEntry.uniqueId` of an `ExtrinsicObject` ("" when it has none).
pub fn unique_id_of(eo: roxmltree::Node<'_, '_>) -> String {
    eo.children()
        .filter(|c| c.has_tag_name("ExternalIdentifier"))
        .find(|c| c.attribute("identificationScheme") == Some(UNIQUE_ID_SCHEME))
        .and_then(|c| c.attribute("value"))
        .unwrap_or("")
        .to_owned()
}

/// `../shared/conformance/validate-cda` over `docs` (`(file stem, CDA)`, written into `dir`),
/// asserting zero schematron errors; `false` with a `SKIPPED:` line when `../shared` is absent.
pub fn validate_cda(dir: &std::path::Path, docs: &[(String, String)]) -> bool {
    let validator = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/validate-cda");
    if !validator.is_file() {
        eprintln!(
            "SKIPPED: ../shared/conformance/validate-cda not found; schematron validation not run"
        );
        return false;
    }
    let mut paths = Vec::new();
    for (name, xml) in docs {
        let path = dir.join(format!("{name}.xml"));
        std::fs::write(&path, xml).expect("write");
        paths.push(path);
    }
    let out = std::process::Command::new("bash")
        .arg(&validator)
        .args(&paths)
        .output()
        .expect("validate-cda runs");
    assert!(
        out.status.success(),
        "schematron errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// A caller: the HCP identity assertion's claims.
pub fn claims(role: HcpRole, permissions: &[Permission]) -> HcpClaims {
    HcpClaims {
        subject_id: "hcp-4711@ncp-ee.test".into(),
        name: "Mari Maasikas".into(),
        role,
        organisation: "Tallinna Apteek".into(),
        organisation_id: "urn:oid:1.3.6.1.4.1.48336.1.1".into(),
        facility_type: FacilityType::Pharmacy,
        purpose_of_use: PurposeOfUse::Treatment,
        permissions: permissions.iter().copied().collect(),
        locality: None,
    }
}

pub fn options() -> AssertionOptions {
    AssertionOptions::new("urn:idp:EE:countryB", Duration::hours(1))
}

/// A pharmacist with every permission the country A transactions need.
pub fn pharmacist() -> HcpClaims {
    claims(
        HcpRole::PHARMACIST,
        &[
            Permission::Prd006,
            Permission::Prd004,
            Permission::Prd010,
            Permission::Ppd046,
        ],
    )
}

pub fn hcp_assertion(env: &Env, country: &str, claims: &HcpClaims) -> SignedAssertion {
    issue_hcp_assertion(claims, &options(), &env.signer(country)).expect("HCP assertion")
}

pub fn trc_assertion(
    env: &Env,
    country: &str,
    hcp: &SignedAssertion,
    claims: &HcpClaims,
    patient_root: &str,
    patient: &str,
) -> SignedAssertion {
    let trc = TrcClaims {
        subject_id: claims.subject_id.clone(),
        patient: PatientRef::new(Oid::parse(patient_root).expect("oid"), patient),
        purpose_of_use: PurposeOfUse::Treatment,
        hcp_assertion_ref: hcp.id.clone(),
    };
    issue_trc_assertion(&trc, &options(), &env.signer(country)).expect("TRC assertion")
}

/// The HCP and TRC assertions of an EE pharmacist for `patient`.
pub fn assertions_for(env: &Env, root: &str, patient: &str) -> Vec<String> {
    let c = pharmacist();
    let hcp = hcp_assertion(env, "EE", &c);
    let trc = trc_assertion(env, "EE", &hcp, &c, root, patient);
    vec![hcp.xml, trc.xml]
}

pub fn envelope(action: &str, assertions: &[String], body: &str) -> String {
    let security = if assertions.is_empty() {
        String::new()
    } else {
        format!(
            r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">{}</wsse:Security>"#,
            assertions.concat()
        )
    };
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">"#,
            r#"<s:Header><wsa:Action s:mustUnderstand="true">{}</wsa:Action>"#,
            r#"<wsa:MessageID>urn:uuid:{}</wsa:MessageID>"#,
            r#"<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>"#,
            r#"{}</s:Header><s:Body>{}</s:Body></s:Envelope>"#
        ),
        action,
        uuid::Uuid::new_v4(),
        security,
        body
    )
}

/// A PRPA_IN201305UV02 for the identifiers (root, extension); no identifier: demographics only.
pub fn xcpd_body(ids: &[(&str, &str)]) -> String {
    let mut params = String::new();
    for (root, ext) in ids {
        params.push_str(&format!(
            r#"<livingSubjectId><value root="{root}" extension="{ext}"/><semanticsText>LivingSubject.id</semanticsText></livingSubjectId>"#
        ));
    }
    params.push_str(
        r#"<livingSubjectName><value><given>Tolvan</given><family>Tolvansson</family></value><semanticsText>LivingSubject.name</semanticsText></livingSubjectName>"#,
    );
    format!(
        concat!(
            r#"<PRPA_IN201305UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0">"#,
            r#"<id root="1.3.6.1.4.1.48336.9" extension="{}"/><creationTime value="20261124100000"/>"#,
            r#"<interactionId root="2.16.840.1.113883.1.6" extension="PRPA_IN201305UV02"/>"#,
            r#"<processingCode code="P"/><processingModeCode code="T"/><acceptAckCode code="AL"/>"#,
            r#"<receiver typeCode="RCV"><device classCode="DEV" determinerCode="INSTANCE"><id root="{hcid}"/>"#,
            r#"<asAgent classCode="AGNT"><representedOrganization classCode="ORG" determinerCode="INSTANCE"><id root="{hcid}"/></representedOrganization></asAgent></device></receiver>"#,
            r#"<sender typeCode="SND"><device classCode="DEV" determinerCode="INSTANCE"><id root="1.3.6.1.4.1.48336"/>"#,
            r#"<asAgent classCode="AGNT"><representedOrganization classCode="ORG" determinerCode="INSTANCE"><id root="1.3.6.1.4.1.48336"/></representedOrganization></asAgent></device></sender>"#,
            r#"<controlActProcess classCode="CACT" moodCode="EVN"><code code="PRPA_TE201305UV02" codeSystem="2.16.840.1.113883.1.6"/>"#,
            r#"<queryByParameter><queryId root="1.3.6.1.4.1.48336.9.1" extension="q-1"/><statusCode code="new"/>"#,
            r#"<responseModalityCode code="R"/><responsePriorityCode code="I"/>"#,
            r#"<parameterList>{params}</parameterList></queryByParameter></controlActProcess></PRPA_IN201305UV02>"#
        ),
        "m-1",
        hcid = HCID,
        params = params
    )
}

pub fn cx(root: &str, ext: &str) -> String {
    format!("{ext}^^^&amp;{root}&amp;ISO")
}

/// A FindDocuments query for the patient and class code.
pub fn xca_query_body(root: &str, ext: &str, class: &str) -> String {
    format!(
        concat!(
            r#"<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">"#,
            r#"<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>"#,
            r#"<rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d" home="urn:oid:{hcid}">"#,
            r#"<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>'{cx}'</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"<rim:Slot name="$XDSDocumentEntryClassCode"><rim:ValueList><rim:Value>('{class}^^2.16.840.1.113883.6.1')</rim:Value></rim:ValueList></rim:Slot>"#,
            r#"</rim:AdhocQuery></query:AdhocQueryRequest>"#
        ),
        hcid = HCID,
        cx = cx(root, ext),
        class = class
    )
}

pub fn xca_retrieve_body(unique_ids: &[&str]) -> String {
    let mut s =
        String::from(r#"<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">"#);
    for id in unique_ids {
        s.push_str(&format!(
            r#"<xdsb:DocumentRequest><xdsb:HomeCommunityId>urn:oid:{HCID}</xdsb:HomeCommunityId><xdsb:RepositoryUniqueId>{HCID}</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>{id}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"#
        ));
    }
    s.push_str("</xdsb:RetrieveDocumentSetRequest>");
    s
}

/// A Provide and Register request carrying `cda` (inline base64) with the given format code.
pub fn xdr_body(root: &str, ext: &str, unique_id: &str, format: &str, cda: &[u8]) -> String {
    let patient = cx(root, ext);
    let b64 = base64::engine::general_purpose::STANDARD.encode(cda);
    format!(
        concat!(
            r#"<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007" xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">"#,
            r#"<lcm:SubmitObjectsRequest><rim:RegistryObjectList>"#,
            r#"<rim:ExtrinsicObject id="Document01" mimeType="text/xml" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">"#,
            r#"<rim:Classification classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a" classifiedObject="Document01" id="cl01" nodeRepresentation="60593-1">"#,
            r#"<rim:Slot name="codingScheme"><rim:ValueList><rim:Value>2.16.840.1.113883.6.1</rim:Value></rim:ValueList></rim:Slot></rim:Classification>"#,
            r#"<rim:Classification classificationScheme="urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d" classifiedObject="Document01" id="cl02" nodeRepresentation="{format}">"#,
            r#"<rim:Slot name="codingScheme"><rim:ValueList><rim:Value>eHDSI formatCodes</rim:Value></rim:ValueList></rim:Slot></rim:Classification>"#,
            r#"<rim:ExternalIdentifier id="ei01" identificationScheme="urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427" registryObject="Document01" value="{patient}"/>"#,
            r#"<rim:ExternalIdentifier id="ei02" identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab" registryObject="Document01" value="{unique_id}"/>"#,
            r#"</rim:ExtrinsicObject>"#,
            r#"<rim:RegistryPackage id="SubmissionSet01">"#,
            r#"<rim:ExternalIdentifier id="ei10" identificationScheme="urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8" registryObject="SubmissionSet01" value="1.3.6.1.4.1.48336.8.{n}"/>"#,
            r#"<rim:ExternalIdentifier id="ei12" identificationScheme="urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446" registryObject="SubmissionSet01" value="{patient}"/>"#,
            r#"</rim:RegistryPackage>"#,
            r#"<rim:Classification classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd" classifiedObject="SubmissionSet01" id="cl20"/>"#,
            r#"</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"#,
            r#"<xdsb:Document id="Document01">{b64}</xdsb:Document>"#,
            r#"</xdsb:ProvideAndRegisterDocumentSetRequest>"#
        ),
        format = format,
        patient = patient,
        unique_id = unique_id,
        n = uuid::Uuid::new_v4().as_u128() % 1_000_000,
        b64 = b64
    )
}

/// CDA options of a foreign NCP (Estonia) writing the eDispensation.
pub fn foreign_cda_options() -> cda_fhir_transform::to_cda::CdaOptions {
    use cda_fhir_transform::to_cda::{Address, CdaOptions, NcpOrganisation};
    let root = Oid::parse("1.3.6.1.4.1.48336.7").expect("oid");
    CdaOptions::under(
        &root,
        chrono::Utc::now().fixed_offset(),
        NcpOrganisation {
            id: root.clone(),
            name: "Tervisekassa (test NCP Estonia)".into(),
            address: Address {
                lines: vec!["Lastekodu 48".into()],
                postal_code: Some("10144".into()),
                city: Some("Tallinn".into()),
                country: Some(ncp_types::CountryCode::parse("EE").expect("EE")),
            },
            telecom: None,
        },
    )
}

/// A pharmacy's MedicationDispense of the Swedish prescription `rx` of patient `pnr`
/// (personnummer), as the foreign pharmacy system would hand it to its NCP.
pub fn medication_dispense(dispense_id: &str, pnr: &str, rx: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cda-fhir-transform/tests/fixtures/fhir/medicationdispense.json");
    let mut md: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    md["id"] = Value::from(dispense_id);
    md["identifier"][0]["value"] = Value::from(dispense_id);
    for c in md["contained"].as_array_mut().expect("contained") {
        match c["resourceType"].as_str() {
            Some("Patient") => {
                c["identifier"] =
                    serde_json::json!([{"system": format!("urn:oid:{PNR}"), "value": pnr}]);
            }
            Some("MedicationRequest") => {
                c["identifier"] = serde_json::json!([
                    {"system": format!("urn:oid:{EP_DOC_ROOT}"), "value": rx},
                    {"system": format!("urn:oid:{DOC_ROOT}.2"), "value": rx}
                ]);
            }
            _ => {}
        }
    }
    md
}

/// The eDispensation CDA (and its document unique id) of `medication_dispense(..)`.
pub fn edispensation(dispense_id: &str, pnr: &str, rx: &str) -> (String, Vec<u8>) {
    let md = medication_dispense(dispense_id, pnr, rx);
    let cda = cda_fhir_transform::to_cda::edispensation(&md, &foreign_cda_options())
        .expect("eDispensation written");
    (
        format!("1.3.6.1.4.1.48336.7.1^{dispense_id}"),
        cda.into_bytes(),
    )
}

pub fn edispensation_discard(dispense_id: &str, pnr: &str, rx: &str) -> (String, Vec<u8>) {
    let md = medication_dispense(dispense_id, pnr, rx);
    let cda = cda_fhir_transform::to_cda::edispensation_discard(&md, &foreign_cda_options())
        .expect("discard written");
    (
        format!(
            "1.3.6.1.4.1.48336.7.1^{}",
            cda_fhir_transform::to_cda::discard_document_extension(dispense_id)
        ),
        cda.into_bytes(),
    )
}
