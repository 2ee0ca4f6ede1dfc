//! The country directory: which foreign NCP answers which service where, from `[country_b]`.
//!
//! A country that is not listed, or that does not offer the service asked for, is refused
//! here, before any network call.

use std::collections::BTreeMap;

use ncp_types::{CountryCode, Oid};

use super::config::{CountryEntry, Service};
use super::foreign_gateway::ForeignNcp;

/// Why the directory cannot route a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0} is not in the country directory: its NCP cannot be reached from Sweden")]
    UnknownCountry(CountryCode),
    #[error("{country} does not offer {}", service.description())]
    NotOffered {
        country: CountryCode,
        service: Service,
    },
    #[error("no country in the directory issues patient identifiers under {0}: name the country")]
    UnknownRoot(Oid),
}

/// The foreign NCPs by country.
#[derive(Debug, Clone, Default)]
pub struct CountryDirectory {
    countries: BTreeMap<CountryCode, CountryEntry>,
}

impl CountryDirectory {
    pub fn new(entries: impl IntoIterator<Item = CountryEntry>) -> Self {
        CountryDirectory {
            countries: entries.into_iter().map(|e| (e.country, e)).collect(),
        }
    }

    /// The entry of `country`.
    pub fn entry(&self, country: CountryCode) -> Result<&CountryEntry, DirectoryError> {
        self.countries
            .get(&country)
            .ok_or(DirectoryError::UnknownCountry(country))
    }

    /// Every country, in code order.
    pub fn entries(&self) -> impl Iterator<Item = &CountryEntry> {
        self.countries.values()
    }

    /// The country whose patient identifier domains include `root`.
    pub fn country_of_root(&self, root: &Oid) -> Result<CountryCode, DirectoryError> {
        self.countries
            .values()
            .find(|c| c.patient_id_roots.contains(root))
            .map(|c| c.country)
            .ok_or_else(|| DirectoryError::UnknownRoot(root.clone()))
    }

    /// The NCP of `country` for a call of `service`: its home community id and, for the
    /// transactions the gateway takes from [`ForeignNcp`], the endpoint of that service (the
    /// others point at it too; they are not used for this call).
    pub fn ncp_for(
        &self,
        country: CountryCode,
        service: Service,
    ) -> Result<ForeignNcp, DirectoryError> {
        let entry = self.entry(country)?;
        let url = entry
            .endpoint(service)
            .ok_or(DirectoryError::NotOffered { country, service })?;
        let or_this = |s: Service| entry.endpoint(s).unwrap_or(url).clone();
        let xca = match service {
            Service::Eprescription | Service::PatientSummary => url.clone(),
            _ => or_this(Service::Eprescription),
        };
        Ok(ForeignNcp {
            country,
            home_community_id: entry.home_community_id.clone(),
            xcpd_url: or_this(Service::PatientIdentification),
            xca_url: xca,
            xdr_url: or_this(Service::Edispensation),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::country_b::config::ServiceEndpoint;

    fn dir() -> CountryDirectory {
        let url = |s: &str| url::Url::parse(s).unwrap();
        CountryDirectory::new([CountryEntry {
            country: CountryCode::parse("EE").unwrap(),
            home_community_id: Oid::parse("1.3.6.1.4.1.48336.1").unwrap(),
            patient_id_roots: vec![Oid::parse("1.3.6.1.4.1.48336.1.1").unwrap()],
            certificate: None,
            services: vec![
                ServiceEndpoint {
                    service: Service::PatientIdentification,
                    endpoint: url("https://ee/xcpd"),
                },
                ServiceEndpoint {
                    service: Service::PatientSummary,
                    endpoint: url("https://ee/ps"),
                },
                ServiceEndpoint {
                    service: Service::Eprescription,
                    endpoint: url("https://ee/ep"),
                },
            ],
        }])
    }

    #[test]
    fn routes_each_service_to_its_endpoint() {
        let ee = CountryCode::parse("EE").unwrap();
        let d = dir();
        assert_eq!(
            d.ncp_for(ee, Service::PatientSummary)
                .unwrap()
                .xca_url
                .as_str(),
            "https://ee/ps"
        );
        assert_eq!(
            d.ncp_for(ee, Service::Eprescription)
                .unwrap()
                .xca_url
                .as_str(),
            "https://ee/ep"
        );
        assert_eq!(
            d.ncp_for(ee, Service::PatientIdentification)
                .unwrap()
                .xcpd_url
                .as_str(),
            "https://ee/xcpd"
        );
    }

    #[test]
    fn refuses_what_is_not_offered_or_not_listed() {
        let d = dir();
        let ee = CountryCode::parse("EE").unwrap();
        let e = d.ncp_for(ee, Service::Edispensation).unwrap_err();
        assert_eq!(e.to_string(), "EE does not offer eDispensation (XDR)");
        let fr = CountryCode::parse("FR").unwrap();
        assert_eq!(
            d.ncp_for(fr, Service::Eprescription).unwrap_err(),
            DirectoryError::UnknownCountry(fr)
        );
        assert_eq!(
            d.country_of_root(&Oid::parse("1.3.6.1.4.1.48336.1.1").unwrap()),
            Ok(ee)
        );
        assert!(d.country_of_root(&Oid::parse("1.2.3").unwrap()).is_err());
    }
}
