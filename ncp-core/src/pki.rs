//! The sandbox's test PKI: one CA, the Swedish NCP's TLS server certificate, and for each test
//! foreign NCP a TLS client certificate and a SAML signing certificate. For Sweden as country B:
//! the Swedish NCP's TLS client and SAML signing certificates, and each foreign NCP's TLS server
//! certificate (for a simulated foreign NCP).
//!
//! Generated once into a directory and reused on later starts, so an outside client configured
//! against it keeps working. A second, untrusted CA with its own client certificate is made too,
//! for trying what a stranger gets. Test material only: keys are written unencrypted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// A test foreign NCP: a country and the files an outside client needs.
#[derive(Debug, Clone)]
pub struct ForeignNcp {
    pub country: &'static str,
    pub name: &'static str,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    pub saml_cert: PathBuf,
    pub saml_key: PathBuf,
    /// The NCP's TLS server certificate, for a simulated foreign NCP that Sweden (as country
    /// B) calls.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// The files of the sandbox PKI.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The Swedish NCP's TLS client certificate (Sweden as country B calling foreign NCPs).
    pub se_client_cert: PathBuf,
    pub se_client_key: PathBuf,
    /// The Swedish NCP's SAML signing certificate (the HCP and TRC assertions it issues).
    pub se_saml_cert: PathBuf,
    pub se_saml_key: PathBuf,
    pub foreign: Vec<ForeignNcp>,
    /// A client certificate from a CA that is not in the trust list.
    pub untrusted_cert: PathBuf,
    pub untrusted_key: PathBuf,
    /// Whether the files were made now (false: reused from an earlier start).
    pub generated: bool,
}

/// The two test foreign NCPs (country, organisation).
pub const FOREIGN_NCPS: [(&str, &str); 2] = [
    ("EE", "Tervisekassa (test NCP Estonia)"),
    ("ES", "Ministerio de Sanidad (test NCP Spain)"),
];

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot write the test PKI in {dir}: {source}")]
    Io { dir: PathBuf, source: io::Error },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

impl TestPki {
    /// Reuses the PKI in `dir` when complete, otherwise generates a new one there.
    pub fn ensure(dir: &Path) -> Result<TestPki, PkiError> {
        let mut pki = TestPki::layout(dir);
        if pki.all_files().iter().all(|p| p.is_file()) {
            return Ok(pki);
        }
        pki.generate().map_err(|e| match e {
            GenError::Io(source) => PkiError::Io {
                dir: dir.to_owned(),
                source,
            },
            GenError::Rcgen(e) => PkiError::Generate(e),
        })?;
        pki.generated = true;
        Ok(pki)
    }

    fn layout(dir: &Path) -> TestPki {
        let p = |name: &str| dir.join(name);
        TestPki {
            dir: dir.to_owned(),
            ca_cert: p("ca.pem"),
            server_cert: p("ncp-se.pem"),
            server_key: p("ncp-se.key"),
            se_client_cert: p("ncp-se-client.pem"),
            se_client_key: p("ncp-se-client.key"),
            se_saml_cert: p("ncp-se-saml.pem"),
            se_saml_key: p("ncp-se-saml.key"),
            foreign: FOREIGN_NCPS
                .iter()
                .map(|(country, name)| {
                    let c = country.to_ascii_lowercase();
                    ForeignNcp {
                        country,
                        name,
                        tls_cert: p(&format!("ncp-{c}-tls.pem")),
                        tls_key: p(&format!("ncp-{c}-tls.key")),
                        saml_cert: p(&format!("ncp-{c}-saml.pem")),
                        saml_key: p(&format!("ncp-{c}-saml.key")),
                        server_cert: p(&format!("ncp-{c}-server.pem")),
                        server_key: p(&format!("ncp-{c}-server.key")),
                    }
                })
                .collect(),
            untrusted_cert: p("untrusted-client.pem"),
            untrusted_key: p("untrusted-client.key"),
            generated: false,
        }
    }

    fn all_files(&self) -> Vec<&PathBuf> {
        let mut v = vec![
            &self.ca_cert,
            &self.server_cert,
            &self.server_key,
            &self.se_client_cert,
            &self.se_client_key,
            &self.se_saml_cert,
            &self.se_saml_key,
            &self.untrusted_cert,
            &self.untrusted_key,
        ];
        for f in &self.foreign {
            v.extend([&f.tls_cert, &f.tls_key, &f.saml_cert, &f.saml_key]);
            v.extend([&f.server_cert, &f.server_key]);
        }
        v
    }

    fn generate(&self) -> Result<(), GenError> {
        fs::create_dir_all(&self.dir)?;
        let (ca_params, ca_key) = ca("Sandbox MyHealth@EU test CA")?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        write(&self.ca_cert, &ca_cert.pem())?;
        let issuer = Issuer::new(ca_params, ca_key);

        let (cert, key) = leaf(
            &issuer,
            "ncp-se.sandbox.test",
            "SE",
            "E-hälsomyndigheten (sandbox NCP Sweden)",
            Usage::TlsServer,
        )?;
        write(&self.server_cert, &cert)?;
        write_key(&self.server_key, &key)?;
        let se = "E-hälsomyndigheten (sandbox NCP Sweden)";
        let (cert, key) = leaf(&issuer, "ncp-se.sandbox.test", "SE", se, Usage::TlsClient)?;
        write(&self.se_client_cert, &cert)?;
        write_key(&self.se_client_key, &key)?;
        let (cert, key) = leaf(&issuer, "ncp-se.sandbox.test", "SE", se, Usage::Signing)?;
        write(&self.se_saml_cert, &cert)?;
        write_key(&self.se_saml_key, &key)?;

        for f in &self.foreign {
            let host = format!("ncp-{}.sandbox.test", f.country.to_ascii_lowercase());
            let (cert, key) = leaf(&issuer, &host, f.country, f.name, Usage::TlsClient)?;
            write(&f.tls_cert, &cert)?;
            write_key(&f.tls_key, &key)?;
            let (cert, key) = leaf(&issuer, &host, f.country, f.name, Usage::Signing)?;
            write(&f.saml_cert, &cert)?;
            write_key(&f.saml_key, &key)?;
            let (cert, key) = leaf(&issuer, &host, f.country, f.name, Usage::TlsServer)?;
            write(&f.server_cert, &cert)?;
            write_key(&f.server_key, &key)?;
        }

        let (stranger_params, stranger_key) = ca("Untrusted test CA")?;
        let stranger = Issuer::new(stranger_params, stranger_key);
        let (cert, key) = leaf(
            &stranger,
            "stranger.sandbox.test",
            "XX",
            "Not a member NCP",
            Usage::TlsClient,
        )?;
        write(&self.untrusted_cert, &cert)?;
        write_key(&self.untrusted_key, &key)?;
        Ok(())
    }
}

enum GenError {
    Io(io::Error),
    Rcgen(rcgen::Error),
}

impl From<io::Error> for GenError {
    fn from(e: io::Error) -> Self {
        GenError::Io(e)
    }
}

impl From<rcgen::Error> for GenError {
    fn from(e: rcgen::Error) -> Self {
        GenError::Rcgen(e)
    }
}

enum Usage {
    TlsServer,
    TlsClient,
    Signing,
}

fn ca(name: &str) -> Result<(CertificateParams, KeyPair), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = dn(name, "EU");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, 3650);
    Ok((params, KeyPair::generate()?))
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    host: &str,
    country: &str,
    org: &str,
    usage: Usage,
) -> Result<(String, KeyPair), rcgen::Error> {
    let mut params = CertificateParams::new(vec![host.to_owned(), "localhost".to_owned()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name = dn(host, country);
    params
        .distinguished_name
        .push(DnType::OrganizationName, org);
    match usage {
        Usage::TlsServer => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        }
        Usage::TlsClient => {
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        Usage::Signing => {
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ];
        }
    }
    validity(&mut params, 825);
    // Strict verifiers (OpenSSL 3.x with X509_V_FLAG_X509_STRICT, Python 3.13+) require the
    // Authority Key Identifier to find the issuing CA.
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key))
}

fn dn(cn: &str, country: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::CountryName, country);
    dn
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(days);
}

fn write(path: &Path, pem: &str) -> io::Result<()> {
    fs::write(path, pem)
}

fn write_key(path: &Path, key: &KeyPair) -> io::Result<()> {
    fs::write(path, key.serialize_pem())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let first = TestPki::ensure(dir.path()).unwrap();
        assert!(first.generated);
        let ca = fs::read_to_string(&first.ca_cert).unwrap();
        let again = TestPki::ensure(dir.path()).unwrap();
        assert!(!again.generated);
        assert_eq!(fs::read_to_string(&again.ca_cert).unwrap(), ca);
        assert_eq!(again.foreign.len(), 2);
        for f in &again.foreign {
            assert!(fs::read_to_string(&f.tls_cert)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(fs::read_to_string(&f.saml_key)
                .unwrap()
                .contains("PRIVATE KEY"));
        }
    }

    #[test]
    fn a_missing_file_regenerates_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let first = TestPki::ensure(dir.path()).unwrap();
        let ca = fs::read_to_string(&first.ca_cert).unwrap();
        fs::remove_file(&first.server_key).unwrap();
        let again = TestPki::ensure(dir.path()).unwrap();
        assert!(again.generated);
        assert_ne!(fs::read_to_string(&again.ca_cert).unwrap(), ca);
    }
}
