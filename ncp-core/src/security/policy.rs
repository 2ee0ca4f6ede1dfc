//! Which transaction needs what: the eHDSI permissions per IHE transaction, and the policy
//! (audiences, clock skew, roles) an assertion is held to.

use std::collections::BTreeSet;
use std::time::Duration;

use super::assertion::{HcpClaims, HcpRole, Permission, PurposeOfUse, EHDSI_AUDIENCE, HCP_ROLES};
use super::errors::SecurityError;

/// The Country A transactions a foreign NCP may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transaction {
    /// XCPD Cross Gateway Patient Discovery (identify the patient).
    IdentifyPatient,
    /// XCA Cross Gateway Query for Patient Summary documents.
    FindPatientSummary,
    /// XCA Cross Gateway Retrieve of a Patient Summary.
    RetrievePatientSummary,
    /// XCA Cross Gateway Query for ePrescriptions.
    FindPrescriptions,
    /// XCA Cross Gateway Retrieve of ePrescriptions.
    RetrievePrescriptions,
    /// XDR Provide and Register of an eDispensation.
    SubmitDispensation,
    /// XDR Provide and Register of an eDispensation discard.
    DiscardDispensation,
}

impl Transaction {
    /// The permissions the HCP identity assertion must carry (eHDSI: XCPD PRD-006; Patient
    /// Summary PRD-003, PRD-005, PRD-010, PRD-016; ePrescription PRD-004, PRD-010; eDispensation
    /// submit and discard PPD-046).
    pub fn required_permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Transaction::IdentifyPatient => &[Prd006],
            Transaction::FindPatientSummary | Transaction::RetrievePatientSummary => {
                &[Prd003, Prd005, Prd010, Prd016]
            }
            Transaction::FindPrescriptions | Transaction::RetrievePrescriptions => {
                &[Prd004, Prd010]
            }
            Transaction::SubmitDispensation | Transaction::DiscardDispensation => &[Ppd046],
        }
    }

    /// Whether the transaction needs a TRC assertion (XCA and XDR do; XCPD does not).
    pub fn needs_trc(self) -> bool {
        !matches!(self, Transaction::IdentifyPatient)
    }

    fn is_dispensation(self) -> bool {
        matches!(
            self,
            Transaction::SubmitDispensation | Transaction::DiscardDispensation
        )
    }
}

/// What we hold the assertions to, besides signatures and permissions.
#[derive(Debug, Clone)]
pub struct AssertionPolicy {
    /// Audiences we answer to; every `AudienceRestriction` must name one of them.
    pub audiences: Vec<String>,
    /// Tolerated clock difference for `NotBefore`, `NotOnOrAfter` and `IssueInstant`.
    pub clock_skew: Duration,
    /// The longest validity period accepted for an HCP identity assertion (eHDSI: 4 hours).
    pub max_hcp_lifetime: Duration,
    /// The longest validity period accepted for a TRC assertion (eHDSI: 2 hours).
    pub max_trc_lifetime: Duration,
    /// ISCO role codes allowed at all (default: the eHDSI HCP roles but clerical staff).
    pub allowed_roles: BTreeSet<String>,
    /// ISCO role codes allowed to submit or discard an eDispensation (default: pharmacists and
    /// pharmaceutical technicians).
    pub dispensing_roles: BTreeSet<String>,
    /// Purposes of use accepted.
    pub purposes: Vec<PurposeOfUse>,
}

impl Default for AssertionPolicy {
    fn default() -> Self {
        AssertionPolicy {
            audiences: vec![EHDSI_AUDIENCE.to_owned()],
            clock_skew: Duration::from_secs(60),
            max_hcp_lifetime: Duration::from_secs(4 * 3600),
            max_trc_lifetime: Duration::from_secs(2 * 3600),
            allowed_roles: HCP_ROLES
                .iter()
                .map(|(c, _)| (*c).to_owned())
                .filter(|c| c != "44")
                .collect(),
            dispensing_roles: [HcpRole::PHARMACIST, HcpRole::PHARMACY_TECHNICIAN]
                .iter()
                .map(|r| r.code().to_owned())
                .collect(),
            purposes: vec![PurposeOfUse::Treatment, PurposeOfUse::Emergency],
        }
    }
}

impl AssertionPolicy {
    /// Checks the HCP's role, purpose of use and permissions against `needs`.
    pub fn authorise(&self, hcp: &HcpClaims, needs: Transaction) -> Result<(), SecurityError> {
        if !self.allowed_roles.contains(hcp.role.code())
            || (needs.is_dispensation() && !self.dispensing_roles.contains(hcp.role.code()))
        {
            return Err(SecurityError::RoleNotAllowed);
        }
        if !self.purposes.contains(&hcp.purpose_of_use) {
            return Err(SecurityError::PurposeNotAllowed);
        }
        if let Some(missing) = needs
            .required_permissions()
            .iter()
            .find(|p| !hcp.permissions.contains(p))
        {
            return Err(SecurityError::MissingPermission(missing.code()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::assertion::FacilityType;

    fn hcp(role: HcpRole, permissions: &[Permission]) -> HcpClaims {
        HcpClaims {
            subject_id: "id".into(),
            name: "name".into(),
            role,
            organisation: "org".into(),
            organisation_id: "urn:oid:1.2.3".into(),
            facility_type: FacilityType::Pharmacy,
            purpose_of_use: PurposeOfUse::Treatment,
            permissions: permissions.iter().copied().collect(),
            locality: None,
        }
    }

    #[test]
    fn permissions_per_transaction() {
        let p = AssertionPolicy::default();
        let doctor = hcp(
            HcpRole::PHYSICIAN,
            &[Permission::Prd006, Permission::Prd004],
        );
        assert!(p.authorise(&doctor, Transaction::IdentifyPatient).is_ok());
        assert_eq!(
            p.authorise(&doctor, Transaction::FindPrescriptions),
            Err(SecurityError::MissingPermission("PRD-010"))
        );
        let ps = hcp(
            HcpRole::PHYSICIAN,
            &[Permission::Prd003, Permission::Prd005, Permission::Prd010],
        );
        assert_eq!(
            p.authorise(&ps, Transaction::RetrievePatientSummary),
            Err(SecurityError::MissingPermission("PRD-016"))
        );
        let pharmacist = hcp(HcpRole::PHARMACIST, &[Permission::Ppd046]);
        assert!(p
            .authorise(&pharmacist, Transaction::SubmitDispensation)
            .is_ok());
        let doctor_dispensing = hcp(HcpRole::PHYSICIAN, &[Permission::Ppd046]);
        assert_eq!(
            p.authorise(&doctor_dispensing, Transaction::DiscardDispensation),
            Err(SecurityError::RoleNotAllowed)
        );
        assert!(!Transaction::IdentifyPatient.needs_trc());
        assert!(Transaction::RetrievePrescriptions.needs_trc());
    }
}
