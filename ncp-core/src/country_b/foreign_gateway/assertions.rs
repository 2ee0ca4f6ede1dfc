//! The eHDSI assertions the bridge issues for a Swedish user calling abroad: the HCP identity
//! assertion (with the permissions the user's role allows) and, for XCA and XDR, the TRC
//! assertion for the patient, both signed with the bridge's own key.

use std::collections::BTreeSet;

use crate::security::{
    issue_hcp_assertion, issue_trc_assertion, AssertionOptions, FacilityType, HcpClaims, HcpRole,
    PatientRef, Permission, SignedAssertion, SigningKey, TrcClaims,
};

use super::{ForeignPatientId, GatewayError, HcpUser};

/// The OID of the HSA-id system, for the organisation id (`urn:hl7ii:{root}:{hsa-id}`).
const HSA_ID_ROOT: &str = "1.2.752.129.2.1.4.1";
/// How long an issued assertion is valid (eHDSI allows 4 h for HCP and 2 h for TRC).
const LIFETIME_MINUTES: i64 = 60;

/// Whether the role is a dispensing role (pharmacist or pharmaceutical technician).
pub fn is_dispensing_role(role: &HcpRole) -> bool {
    *role == HcpRole::PHARMACIST || *role == HcpRole::PHARMACY_TECHNICIAN
}

/// The permissions a role gets: everyone may identify a patient and read ePrescriptions;
/// pharmacists and pharmaceutical technicians may dispense; other health professionals may read
/// the Patient Summary.
pub fn permissions_for(role: &HcpRole) -> BTreeSet<Permission> {
    use Permission::*;
    let mut p: BTreeSet<Permission> = [Prd006, Prd004, Prd010].into_iter().collect();
    if is_dispensing_role(role) {
        p.insert(Ppd046);
    } else {
        p.extend([Prd003, Prd005, Prd016]);
    }
    p
}

/// The HCP identity claims for `user`.
pub fn hcp_claims(user: &HcpUser) -> HcpClaims {
    HcpClaims {
        subject_id: user.id.clone(),
        name: user.name.clone(),
        role: user.role.clone(),
        organisation: user.organisation.clone(),
        organisation_id: format!(
            "urn:hl7ii:{HSA_ID_ROOT}:{}",
            user.organisation_hsa_id.as_str()
        ),
        facility_type: if is_dispensing_role(&user.role) {
            FacilityType::Pharmacy
        } else {
            FacilityType::Hospital
        },
        purpose_of_use: user.purpose,
        permissions: permissions_for(&user.role),
        locality: None,
    }
}

/// The signed assertions of one request: the HCP identity assertion and, when asked for, the TRC
/// assertion for `patient`.
pub struct Issued {
    pub hcp: SignedAssertion,
    pub trc: Option<SignedAssertion>,
}

/// Issues the HCP identity assertion for `user` (and the TRC assertion for `patient`), signed
/// with `key`, issuer `issuer`.
pub fn issue(
    key: &SigningKey,
    issuer: &str,
    user: &HcpUser,
    patient: Option<&ForeignPatientId>,
) -> Result<Issued, GatewayError> {
    let failed = |e: crate::security::IssueError| {
        GatewayError::Protocol(format!("the assertion could not be signed: {e}"))
    };
    let options = AssertionOptions::new(issuer, chrono::Duration::minutes(LIFETIME_MINUTES));
    let hcp = issue_hcp_assertion(&hcp_claims(user), &options, key).map_err(failed)?;
    let trc = match patient {
        Some(p) => {
            let claims = TrcClaims {
                subject_id: user.id.clone(),
                patient: PatientRef::new(p.root.clone(), p.extension.clone()),
                purpose_of_use: user.purpose,
                hcp_assertion_ref: hcp.id.clone(),
            };
            Some(issue_trc_assertion(&claims, &options, key).map_err(failed)?)
        }
        None => None,
    };
    Ok(Issued { hcp, trc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_get_their_permissions() {
        let pharmacist = permissions_for(&HcpRole::PHARMACIST);
        assert!(pharmacist.contains(&Permission::Ppd046));
        assert!(!pharmacist.contains(&Permission::Prd016));
        let doctor = permissions_for(&HcpRole::PHYSICIAN);
        assert!(!doctor.contains(&Permission::Ppd046));
        for p in [
            Permission::Prd003,
            Permission::Prd004,
            Permission::Prd005,
            Permission::Prd006,
            Permission::Prd010,
            Permission::Prd016,
        ] {
            assert!(doctor.contains(&p), "{p:?}");
        }
    }
}
