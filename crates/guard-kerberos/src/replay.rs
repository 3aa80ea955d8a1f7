//! The replay cache: authenticators already accepted, kept for as long as
//! their time is within the clock skew (after that the skew check refuses
//! them anyway).

use std::collections::HashMap;
use std::time::SystemTime;

/// Prune expired entries when the cache grows past this many.
const PRUNE_AT: usize = 4096;

/// What identifies one authenticator (RFC 4120 3.2.3: the client, the
/// service and the authenticator's time to the microsecond).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Seen {
    pub(crate) client: String,
    pub(crate) service: String,
    pub(crate) ctime: SystemTime,
    pub(crate) cusec: u32,
}

#[derive(Debug, Default)]
pub(crate) struct ReplayCache {
    seen: HashMap<Seen, SystemTime>,
    prune_at: usize,
}

impl ReplayCache {
    /// Records `entry` until `expires`; false if it was already there and
    /// has not expired at `now` (a replay).
    pub(crate) fn insert(&mut self, entry: Seen, expires: SystemTime, now: SystemTime) -> bool {
        if self.seen.len() >= self.prune_at.max(PRUNE_AT) {
            self.seen.retain(|_, until| *until >= now);
            // Entries still valid stay: grow the threshold rather than prune
            // on every insert.
            self.prune_at = self.seen.len() * 2;
        }
        match self.seen.get(&entry) {
            Some(until) if *until >= now => false,
            _ => {
                self.seen.insert(entry, expires);
                true
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn seen(cusec: u32) -> Seen {
        Seen {
            client: "alice@R".into(),
            service: "HTTP/x@R".into(),
            ctime: UNIX_EPOCH + Duration::from_secs(1000),
            cusec,
        }
    }

    #[test]
    fn a_second_insert_is_a_replay_until_it_expires() {
        let mut cache = ReplayCache::default();
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let until = now + Duration::from_secs(300);
        assert!(cache.insert(seen(1), until, now));
        assert!(!cache.insert(seen(1), until, now + Duration::from_secs(10)));
        assert!(cache.insert(seen(2), until, now));
        assert!(cache.insert(seen(1), until, until + Duration::from_secs(1)));
    }

    #[test]
    fn expired_entries_are_pruned() {
        let mut cache = ReplayCache::default();
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        for i in 0..PRUNE_AT as u32 {
            assert!(cache.insert(seen(i), now, now));
        }
        let later = now + Duration::from_secs(1);
        assert!(cache.insert(seen(u32::MAX), later, later));
        assert_eq!(cache.len(), 1);
    }
}
