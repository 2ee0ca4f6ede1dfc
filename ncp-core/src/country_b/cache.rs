//! What a user fetched from abroad, kept for a while so the next request can refer to it: the
//! ePrescriptions listed (read one, dispense against it), the Binaries (L1 PDF, original CDA)
//! and the dispensations sent (to discard one). Only the user who fetched an item may reach
//! it. In memory, bounded in size and time; lost on restart (a user then searches again).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ncp_types::HsaId;
use serde_json::Value;

use super::patient_id::PatientKey;

/// One kept item.
#[derive(Debug, Clone)]
pub enum Cached {
    /// A MedicationRequest and the converted ePrescription Bundle it is part of.
    Prescription {
        patient: PatientKey,
        request: Value,
        bundle: Value,
    },
    /// A Binary (FHIR JSON with base64 `data`) of a patient's document.
    Binary { patient: PatientKey, binary: Value },
    /// A dispensation sent abroad: the Bundle its eDispensation was written from.
    Dispensation {
        patient: PatientKey,
        bundle: Value,
        discarded: bool,
    },
}

struct Slot {
    owner: HsaId,
    until: Instant,
    item: Cached,
}

pub struct Cache {
    ttl: Duration,
    capacity: usize,
    items: Mutex<HashMap<String, Slot>>,
}

impl Cache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Cache {
            ttl,
            capacity,
            items: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `item` under `id` for `owner`.
    pub fn put(&self, owner: &HsaId, id: &str, item: Cached) {
        let Ok(mut items) = self.items.lock() else {
            return;
        };
        let now = Instant::now();
        if items.len() >= self.capacity {
            items.retain(|_, s| s.until > now);
        }
        if items.len() >= self.capacity {
            // Still full: drop the item closest to expiry.
            if let Some(k) = items
                .iter()
                .min_by_key(|(_, s)| s.until)
                .map(|(k, _)| k.clone())
            {
                items.remove(&k);
            }
        }
        items.insert(
            id.to_owned(),
            Slot {
                owner: owner.clone(),
                until: now + self.ttl,
                item,
            },
        );
    }

    /// The item under `id`, when `owner` put it there and it has not expired.
    pub fn get(&self, owner: &HsaId, id: &str) -> Option<Cached> {
        let items = self.items.lock().ok()?;
        items
            .get(id)
            .filter(|s| &s.owner == owner && s.until > Instant::now())
            .map(|s| s.item.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_belong_to_their_owner_and_expire() {
        let a = HsaId::parse("SE1-A").unwrap();
        let b = HsaId::parse("SE1-B").unwrap();
        let c = Cache::new(Duration::from_millis(50), 2);
        let bin = || Cached::Binary {
            patient: PatientKey::parse("EE-1.2.3-4").unwrap(),
            binary: serde_json::json!({}),
        };
        c.put(&a, "x", bin());
        assert!(c.get(&a, "x").is_some());
        assert!(c.get(&b, "x").is_none());
        c.put(&a, "y", bin());
        c.put(&a, "z", bin());
        assert_eq!(
            ["x", "y", "z"]
                .iter()
                .filter(|k| c.get(&a, k).is_some())
                .count(),
            2
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(&a, "z").is_none());
    }
}
