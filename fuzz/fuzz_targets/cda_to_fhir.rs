//! The CDA reader: any eHDSI document to FHIR, and the eDispensation reader XDR uses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cda_fhir_transform::to_fhir::cda_to_fhir_json(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cda_fhir_transform::to_fhir::read_cda(text);
        let _ = cda_fhir_transform::to_fhir::edispensation_to_fhir(text);
        let _ = cda_fhir_transform::to_fhir::edispensation_discard_to_fhir(text);
    }
});
