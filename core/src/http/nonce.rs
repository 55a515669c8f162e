//! The latest `DPoP-Nonce` of each origin (RFC 9449 §8, §9), bounded by least-recent use.

use parking_lot::Mutex;
use std::collections::HashMap;

/// How many origins' nonces are kept.
pub(crate) const MAX_ORIGINS: usize = 100;

#[derive(Default)]
pub(crate) struct NonceCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    clock: u64,
    by_origin: HashMap<String, (String, u64)>,
}

impl NonceCache {
    /// The nonce last learned from `origin`.
    pub(crate) fn get(&self, origin: &str) -> Option<String> {
        let mut entries = self.inner.lock();
        entries.clock += 1;
        let now = entries.clock;
        entries.by_origin.get_mut(origin).map(|(nonce, used)| {
            *used = now;
            nonce.clone()
        })
    }

    /// Remembers `nonce` for `origin`, evicting the least recently used origin when full.
    pub(crate) fn put(&self, origin: &str, nonce: &str) {
        let mut entries = self.inner.lock();
        entries.clock += 1;
        let now = entries.clock;
        if let Some(entry) = entries.by_origin.get_mut(origin) {
            *entry = (nonce.to_string(), now);
            return;
        }
        if entries.by_origin.len() >= MAX_ORIGINS {
            let oldest = entries
                .by_origin
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(o, _)| o.clone());
            if let Some(oldest) = oldest {
                entries.by_origin.remove(&oldest);
            }
        }
        entries
            .by_origin
            .insert(origin.to_string(), (nonce.to_string(), now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_nonce_per_origin() {
        let cache = NonceCache::default();
        assert_eq!(cache.get("https://a"), None);
        cache.put("https://a", "n1");
        cache.put("https://b", "m1");
        cache.put("https://a", "n2");
        assert_eq!(cache.get("https://a").as_deref(), Some("n2"));
        assert_eq!(cache.get("https://b").as_deref(), Some("m1"));
    }

    #[test]
    fn evicts_the_least_recently_used_origin_when_full() {
        let cache = NonceCache::default();
        for i in 0..MAX_ORIGINS {
            cache.put(&format!("https://h{i}"), "n");
        }
        // Touch h0 so that h1 becomes the least recently used.
        assert!(cache.get("https://h0").is_some());
        cache.put("https://new", "n");
        assert!(cache.get("https://h0").is_some());
        assert!(cache.get("https://h1").is_none());
        assert!(cache.get("https://new").is_some());
        assert_eq!(cache.inner.lock().by_origin.len(), MAX_ORIGINS);
    }
}
