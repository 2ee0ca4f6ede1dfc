//! Sample audit records for the audit tests and the bench.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, TimeZone, Utc};
use ncp_core::audit::{AuditRecord, EventType, Hcp, Ncp, ObjectRef, Outcome};
use ncp_core::security::{FacilityType, HcpRole, PatientRef, PurposeOfUse};
use ncp_types::{CountryCode, Oid};

pub const PNR_OID: &str = "1.2.752.129.2.1.3.1";

pub fn patient(ext: &str) -> PatientRef {
    PatientRef::new(Oid::parse(PNR_OID).expect("oid"), ext)
}

pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, minute, 0)
        .single()
        .expect("time")
}

/// A retrieve by a Belgian doctor at `minute` past 10:00 on 1 March 2026.
pub fn record(event_type: EventType, country: &str, outcome: Outcome, minute: u32) -> AuditRecord {
    AuditRecord {
        event_type,
        event_time: at(minute),
        outcome,
        error_code: None,
        requesting: Ncp {
            country: CountryCode::parse(country).expect("country"),
            home_community_id: Oid::parse("2.16.17.710.850.1000.990.1").expect("oid"),
        },
        responding: Ncp {
            country: CountryCode::SE,
            home_community_id: Oid::parse("1.2.752.129.2.1.5.1").expect("oid"),
        },
        hcp: Hcp {
            id: "hcp-4711@example.be".into(),
            name: "Dr Anne <Dupont> & Co".into(),
            role: HcpRole::PHYSICIAN,
            organisation: "Hôpital Saint-Luc".into(),
            organisation_id: "urn:oid:2.16.17.710.850.1000.990.1.1000".into(),
            facility_type: FacilityType::Hospital,
        },
        purpose_of_use: PurposeOfUse::Treatment,
        patient: Some(patient("191212121212")),
        objects: vec![ObjectRef::Document(
            "1.2.752.129.2.1.2.1^PS-191212121212".into(),
        )],
        message_id: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        source_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        reason: None,
    }
}
