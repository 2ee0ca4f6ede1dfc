//! The signing trust list: which keys may sign the assertions we accept.
//!
//! Two kinds of entry: pinned signing certificates (a certificate in a message is accepted when
//! it is byte-identical to one of them) and trusted CAs (a certificate in a message is accepted
//! when it chains to one of them, checked with rustls-webpki at the time of the request). The key
//! a signature is verified with is always the public key of such an accepted certificate, never a
//! bare key from the message.
//!
//! The list can be replaced while the bridge runs ([`SigningTrust::replace_with`], the trust
//! list reload of `crate::ops::reload`): a verification sees the old list or the new one, never
//! a mix.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use chrono::{DateTime, Utc};
use ncp_types::CountryCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyPurposeIdIter};
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why the trust list could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("no PEM certificate found")]
    NoCertificate,
    #[error("not a readable X.509 certificate")]
    BadCertificate,
    #[error("signing certificate has no country (C=) in its subject")]
    NoCountry,
    #[error("not usable as a trust anchor")]
    BadAnchor,
}

#[derive(Debug, Clone)]
struct Pinned {
    der: Vec<u8>,
    country: CountryCode,
}

/// The certificates and CAs whose signatures we accept on SAML assertions.
///
/// Clones share the list: [`SigningTrust::replace_with`] on one is seen by all. The `add_*`
/// methods (building a list) detach `self` from its clones first.
#[derive(Debug, Clone, Default)]
pub struct SigningTrust {
    set: Arc<ArcSwap<TrustSet>>,
}

#[derive(Debug, Clone, Default)]
struct TrustSet {
    pinned: Vec<Pinned>,
    anchors: Vec<TrustAnchor<'static>>,
}

/// A certificate the trust list accepted for one verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustedSigner {
    pub der: Vec<u8>,
    pub country: CountryCode,
}

impl SigningTrust {
    pub fn new() -> Self {
        SigningTrust::default()
    }

    /// Pins every certificate of a PEM bundle (the foreign NCPs' SAML signing certificates).
    pub fn add_pinned_pem(&mut self, pem: &[u8]) -> Result<usize, TrustError> {
        let ders = pem_certs(pem)?;
        for der in &ders {
            self.add_pinned_der(der)?;
        }
        Ok(ders.len())
    }

    /// Pins one DER certificate.
    pub fn add_pinned_der(&mut self, der: &[u8]) -> Result<(), TrustError> {
        let country = country_of(der)?;
        self.modify(|set| {
            set.pinned.push(Pinned {
                der: der.to_vec(),
                country,
            })
        });
        Ok(())
    }

    /// A changed copy of the list, owned by `self` alone from now on.
    fn modify(&mut self, f: impl FnOnce(&mut TrustSet)) {
        let mut set = TrustSet::clone(&self.set.load());
        f(&mut set);
        self.set = Arc::new(ArcSwap::from_pointee(set));
    }

    /// Makes `other`'s entries this list's (and every clone's), atomically: a verification in
    /// progress finishes with the list it started with.
    pub fn replace_with(&self, other: &SigningTrust) {
        self.set.store(other.set.load_full());
    }

    /// How many pinned certificates and trusted CAs the list holds.
    pub fn len(&self) -> usize {
        let set = self.set.load();
        set.pinned.len() + set.anchors.len()
    }

    /// Trusts every CA of a PEM bundle (e.g. the eHDSI central PKI's signing CA).
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<usize, TrustError> {
        let ders = pem_certs(pem)?;
        for der in &ders {
            self.add_ca_der(der)?;
        }
        Ok(ders.len())
    }

    /// Trusts one DER CA certificate.
    pub fn add_ca_der(&mut self, der: &[u8]) -> Result<(), TrustError> {
        let cert = CertificateDer::from(der);
        let anchor = webpki::anchor_from_trusted_cert(&cert)
            .map_err(|_| TrustError::BadAnchor)?
            .to_owned();
        self.modify(|set| set.anchors.push(anchor));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The certificates that may have signed: from the message's `X509Certificate`s those that
    /// are pinned or chain to a trusted CA (the others of the message serve as intermediates);
    /// when the message carries none, the pinned certificates valid at `now`.
    pub(crate) fn candidates(
        &self,
        embedded: &[Vec<u8>],
        now: DateTime<Utc>,
    ) -> Vec<TrustedSigner> {
        let set = self.set.load();
        if embedded.is_empty() {
            return set
                .pinned
                .iter()
                .filter(|p| usable_signing_cert(&p.der, now))
                .map(|p| TrustedSigner {
                    der: p.der.clone(),
                    country: p.country,
                })
                .collect();
        }
        let mut out = Vec::new();
        for (i, der) in embedded.iter().enumerate() {
            if !usable_signing_cert(der, now) {
                continue;
            }
            if let Some(p) = set.pinned.iter().find(|p| p.der == *der) {
                out.push(TrustedSigner {
                    der: der.clone(),
                    country: p.country,
                });
                continue;
            }
            let intermediates: Vec<CertificateDer<'_>> = embedded
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, d)| CertificateDer::from(d.as_slice()))
                .collect();
            if set.chains(der, &intermediates, now) {
                if let Ok(country) = country_of(der) {
                    out.push(TrustedSigner {
                        der: der.clone(),
                        country,
                    });
                }
            }
        }
        out
    }
}

impl TrustSet {
    fn chains(&self, der: &[u8], intermediates: &[CertificateDer<'_>], now: DateTime<Utc>) -> bool {
        if self.anchors.is_empty() {
            return false;
        }
        let cert = CertificateDer::from(der);
        let Ok(ee) = EndEntityCert::try_from(&cert) else {
            return false;
        };
        let Ok(secs) = u64::try_from(now.timestamp()) else {
            return false;
        };
        let time = UnixTime::since_unix_epoch(Duration::from_secs(secs));
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &self.anchors,
            intermediates,
            time,
            AnyExtendedKeyUsage,
            None,
            None,
        )
        .is_ok()
    }
}

/// eHDSI does not fix an extended key usage for the NCP signature certificate; the key usage
/// (digitalSignature or nonRepudiation) is checked instead, in [`usable_signing_cert`].
struct AnyExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyExtendedKeyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for eku in iter {
            eku?;
        }
        Ok(())
    }
}

fn pem_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, TrustError> {
    let ders: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .map(|c| {
            c.map(|c| c.to_vec())
                .map_err(|_| TrustError::BadCertificate)
        })
        .collect::<Result<_, _>>()?;
    if ders.is_empty() {
        return Err(TrustError::NoCertificate);
    }
    Ok(ders)
}

/// The country (`C=`) of a certificate's subject.
pub(crate) fn country_of(der: &[u8]) -> Result<CountryCode, TrustError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| TrustError::BadCertificate)?;
    let country = cert
        .subject()
        .iter_country()
        .next()
        .and_then(|c| c.as_str().ok())
        .ok_or(TrustError::NoCountry)?;
    CountryCode::parse(country).map_err(|_| TrustError::NoCountry)
}

/// Valid at `now`, and not restricted to uses other than signing.
fn usable_signing_cert(der: &[u8], now: DateTime<Utc>) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let validity = cert.validity();
    let t = now.timestamp();
    if t < validity.not_before.timestamp() || t > validity.not_after.timestamp() {
        return false;
    }
    match cert.key_usage() {
        Ok(Some(ku)) => ku.value.digital_signature() || ku.value.non_repudiation(),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// Which list a verification was made against: equal while the list is not replaced or changed
/// (`security::cache` forgets what it verified under an earlier list). Holding it keeps that
/// list alive, so a later list can never be mistaken for it.
#[derive(Debug, Clone)]
pub(crate) struct TrustGeneration(Arc<TrustSet>);

impl TrustGeneration {
    /// Whether `trust` still holds the list this generation was taken of.
    pub(crate) fn is_current(&self, trust: &SigningTrust) -> bool {
        Arc::ptr_eq(&self.0, &trust.set.load())
    }
}

impl SigningTrust {
    /// The list as it is now, as a [`TrustGeneration`].
    pub(crate) fn generation(&self) -> TrustGeneration {
        TrustGeneration(self.set.load_full())
    }
}
