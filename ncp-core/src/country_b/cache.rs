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
    until: Instant,
    bytes: usize,
    item: Cached,
}

/// The items by (owner, resource id), within a time-to-live, a count and a byte budget.
pub struct Cache {
    ttl: Duration,
    capacity: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    items: HashMap<(HsaId, String), Slot>,
    bytes: usize,
}

impl Inner {
    fn remove(&mut self, k: &(HsaId, String)) {
        if let Some(s) = self.items.remove(k) {
            self.bytes -= s.bytes;
        }
    }
}

/// About how much memory an item holds (its JSON text).
fn size_of(item: &Cached) -> usize {
    let v = match item {
        Cached::Prescription { bundle, .. } => bundle,
        Cached::Binary { binary, .. } => binary,
        Cached::Dispensation { bundle, .. } => bundle,
    };
    serde_json::to_vec(v).map(|b| b.len()).unwrap_or(0) + 256
}

impl Cache {
    pub fn new(ttl: Duration, capacity: usize, max_bytes: usize) -> Self {
        Cache {
            ttl,
            capacity,
            max_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keeps `item` under `id` for `owner`, making room by dropping expired items, then the
    /// ones closest to expiry. An item larger than the whole budget is not kept.
    pub fn put(&self, owner: &HsaId, id: &str, item: Cached) {
        let bytes = size_of(&item);
        if bytes > self.max_bytes {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let key = (owner.clone(), id.to_owned());
        inner.remove(&key);
        let now = Instant::now();
        let full = |i: &Inner| i.items.len() >= self.capacity || i.bytes + bytes > self.max_bytes;
        if full(&inner) {
            let expired: Vec<_> = inner
                .items
                .iter()
                .filter(|(_, s)| s.until <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                inner.remove(&k);
            }
        }
        while full(&inner) {
            let Some(k) = inner
                .items
                .iter()
                .min_by_key(|(_, s)| s.until)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            inner.remove(&k);
        }
        inner.bytes += bytes;
        inner.items.insert(
            key,
            Slot {
                until: now + self.ttl,
                bytes,
                item,
            },
        );
    }

    /// The item under `id`, when `owner` put it there and it has not expired.
    pub fn get(&self, owner: &HsaId, id: &str) -> Option<Cached> {
        let inner = self.inner.lock().ok()?;
        inner
            .items
            .get(&(owner.clone(), id.to_owned()))
            .filter(|s| s.until > Instant::now())
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
        let c = Cache::new(Duration::from_millis(50), 2, 1 << 20);
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
        // Two users fetching the same document each keep their own.
        c.put(&b, "z", bin());
        assert!(c.get(&a, "z").is_some() && c.get(&b, "z").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get(&a, "z").is_none());
    }

    #[test]
    fn the_byte_budget_holds() {
        let a = HsaId::parse("SE1-A").unwrap();
        let big = |n: usize| Cached::Binary {
            patient: PatientKey::parse("EE-1.2.3-4").unwrap(),
            binary: serde_json::json!({ "data": "x".repeat(n) }),
        };
        let c = Cache::new(Duration::from_secs(60), 100, 10_000);
        c.put(&a, "1", big(4_000));
        c.put(&a, "2", big(4_000));
        c.put(&a, "3", big(4_000));
        let kept = ["1", "2", "3"]
            .iter()
            .filter(|k| c.get(&a, k).is_some())
            .count();
        assert_eq!(kept, 2);
        assert!(c.get(&a, "3").is_some(), "the newest is kept");
        c.put(&a, "huge", big(20_000));
        assert!(c.get(&a, "huge").is_none());
    }
}
