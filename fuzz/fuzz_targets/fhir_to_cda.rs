//! The FHIR readers and CDA writers behind the Country B FHIR API and the national services:
//! a MedicationDispense (resource with `contained`, or Bundle) to an eDispensation or its
//! discard, and an NLL searchset Bundle to the ePrescription L3 and L1 of each
//! MedicationRequest in it. Bad JSON shapes must give a `ToCdaError`, never a panic.
#![no_main]

use std::sync::OnceLock;

use cda_fhir_transform::to_cda::{
    edispensation, edispensation_discard, eprescription_l1, eprescription_l3, Address, CdaOptions,
    NcpOrganisation,
};
use chrono::{DateTime, FixedOffset};
use libfuzzer_sys::fuzz_target;
use ncp_types::{Oid, PrescriptionId};
use serde_json::Value;

fn options() -> &'static CdaOptions {
    static OPTS: OnceLock<CdaOptions> = OnceLock::new();
    OPTS.get_or_init(|| {
        let root = Oid::parse("1.2.752.129.2.99.1").unwrap();
        let now: DateTime<FixedOffset> =
            DateTime::parse_from_rfc3339("2026-11-24T12:00:00+01:00").unwrap();
        CdaOptions::under(
            &root,
            now,
            NcpOrganisation {
                id: root.clone(),
                name: "fuzz NCP".into(),
                address: Address {
                    lines: vec!["Box 1".into()],
                    postal_code: None,
                    city: None,
                    country: None,
                },
                telecom: None,
            },
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let opts = options();
    let _ = edispensation(&json, opts);
    let _ = edispensation_discard(&json, opts);
    let ids: Vec<&str> = json
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("resource"))
        .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("MedicationRequest"))
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .take(2)
        .collect();
    for id in ids {
        if let Ok(id) = PrescriptionId::new(id) {
            let _ = eprescription_l3(&json, &id, opts);
            let _ = eprescription_l1(&json, &id, opts);
        }
    }
});
