//! The token cache: one current token, refreshed before it expires, with a single fetch in
//! flight however many threads ask at once.

use super::AccessToken;
use crate::clock::Clock;
use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a still-valid token is used after a failed proactive refresh before trying again.
const REFRESH_RETRY: Duration = Duration::from_secs(5);

/// The cached token and the single-flight state of its refresh.
pub(crate) struct TokenCache {
    state: Mutex<CacheState>,
    done: Condvar,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct CacheState {
    current: Option<Arc<AccessToken>>,
    fetching: bool,
    /// Counts completed fetches, so waiters know theirs has finished.
    generation: u64,
    last_failure: Option<Error>,
    /// After a failed proactive refresh, the still-valid token is used until then.
    retry_refresh_at: Option<Instant>,
}

impl TokenCache {
    /// An empty cache that tells time by `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::default(),
            done: Condvar::new(),
            clock,
        }
    }

    /// The token to use now. When it is missing or due for refresh, exactly one caller runs
    /// `fetch` (given the token being replaced, for its refresh token) while the others wait
    /// for its outcome; a token that is due but not yet expired is handed out meanwhile.
    /// No lock is held while `fetch` runs.
    pub(crate) fn get(
        &self,
        margin: Duration,
        fetch: impl FnOnce(Option<Arc<AccessToken>>) -> Result<AccessToken>,
    ) -> Result<Arc<AccessToken>> {
        let mut state = self.state.lock();
        loop {
            let now = self.clock.now();
            if let Some(token) = &state.current {
                let backing_off = state.retry_refresh_at.is_some_and(|at| now < at) && !token.expired(now);
                if token.manual || !token.needs_refresh(margin, now) || backing_off {
                    return Ok(Arc::clone(token));
                }
            }
            if !state.fetching {
                break;
            }
            if let Some(token) = state.current.as_ref().filter(|t| !t.expired(now)) {
                return Ok(Arc::clone(token));
            }
            let generation = state.generation;
            while state.generation == generation {
                self.done.wait(&mut state);
            }
            if let Some(e) = &state.last_failure {
                return Err(e.clone());
            }
        }
        state.fetching = true;
        let replacing = state.current.clone();
        drop(state);

        let outcome = fetch(replacing.clone()).map(Arc::new);

        let mut state = self.state.lock();
        state.fetching = false;
        state.generation += 1;
        let now = self.clock.now();
        let outcome = match outcome {
            Ok(token) => {
                state.current = Some(Arc::clone(&token));
                state.last_failure = None;
                state.retry_refresh_at = None;
                Ok(token)
            }
            // A proactive refresh failed but the token has not expired: keep using it for a
            // while rather than failing requests it can still serve.
            Err(_) if replacing.as_ref().is_some_and(|t| !t.expired(now)) => {
                state.last_failure = None;
                state.retry_refresh_at = Some(now + REFRESH_RETRY);
                Ok(replacing.expect("checked above"))
            }
            Err(e) => {
                state.last_failure = Some(e.clone());
                Err(e)
            }
        };
        drop(state);
        self.done.notify_all();
        outcome
    }

    /// Drops `used` if it is still the cached token (a server rejected it), so the next `get`
    /// fetches a new one; a token another thread already replaced is left alone.
    pub(crate) fn invalidate(&self, used: &Arc<AccessToken>) {
        let mut state = self.state.lock();
        if state.current.as_ref().is_some_and(|t| Arc::ptr_eq(t, used)) {
            state.current = None;
        }
    }

    /// Replaces the cached token (a host-provided one, or `None` to forget it).
    pub(crate) fn set(&self, token: Option<AccessToken>) {
        self.state.lock().current = token.map(Arc::new);
    }

    /// The cached token, if any, without fetching.
    pub(crate) fn peek(&self) -> Option<Arc<AccessToken>> {
        self.state.lock().current.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::error::ErrorKind;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use zeroize::Zeroizing;

    fn token(clock: &dyn Clock, lifetime: u64) -> AccessToken {
        AccessToken {
            value: Zeroizing::new("at".into()),
            token_type: "DPoP".into(),
            refresh_token: None,
            scope: None,
            received: clock.now(),
            lifetime: Some(Duration::from_secs(lifetime)),
            manual: false,
        }
    }

    fn cache() -> (TokenCache, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        (TokenCache::new(Arc::clone(&clock) as Arc<dyn Clock>), clock)
    }

    #[test]
    fn concurrent_first_calls_fetch_once() {
        let (cache, clock) = cache();
        let fetches = AtomicUsize::new(0);
        let started = std::sync::Barrier::new(16);
        let tokens: Vec<_> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        started.wait();
                        cache
                            .get(Duration::from_secs(30), |_| {
                                fetches.fetch_add(1, Ordering::SeqCst);
                                // Hold the fetch open until every other thread has had time
                                // to arrive and wait for it.
                                std::thread::sleep(Duration::from_millis(100));
                                Ok(token(clock.as_ref(), 300))
                            })
                            .unwrap()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        assert!(tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0])));
    }

    #[test]
    fn waiters_share_a_failed_fetch_and_the_next_call_retries() {
        let (cache, clock) = cache();
        let e = cache.get(Duration::ZERO, |_| {
            Err(Error::new(ErrorKind::TokenEndpoint, "down"))
        });
        assert_eq!(e.unwrap_err().kind(), ErrorKind::TokenEndpoint);
        assert!(cache
            .get(Duration::ZERO, |_| Ok(token(clock.as_ref(), 60)))
            .is_ok());
    }

    #[test]
    fn a_token_is_replaced_within_its_margin_and_not_before() {
        let (cache, clock) = cache();
        let margin = Duration::from_secs(60);
        let first = cache.get(margin, |_| Ok(token(clock.as_ref(), 600))).unwrap();
        clock.advance(Duration::from_secs(539));
        let same = cache.get(margin, |_| panic!("not due yet")).unwrap();
        assert!(Arc::ptr_eq(&same, &first));
        clock.advance(Duration::from_secs(2));
        let second = cache
            .get(margin, |old| {
                assert!(
                    Arc::ptr_eq(old.as_ref().unwrap(), &first),
                    "the fetch sees the old token"
                );
                Ok(token(clock.as_ref(), 600))
            })
            .unwrap();
        assert!(!Arc::ptr_eq(&second, &first));
    }

    #[test]
    fn a_failed_proactive_refresh_keeps_the_valid_token_and_backs_off() {
        let (cache, clock) = cache();
        let margin = Duration::from_secs(60);
        let first = cache.get(margin, |_| Ok(token(clock.as_ref(), 4))).unwrap();
        // Within the refresh margin (capped at half of 4 s) but still valid.
        clock.advance(Duration::from_millis(2100));
        let attempts = AtomicUsize::new(0);
        let fail = |_: Option<Arc<AccessToken>>| {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::TokenEndpoint, "down"))
        };
        let kept = cache.get(margin, fail).unwrap();
        assert!(Arc::ptr_eq(&kept, &first));
        let again = cache.get(margin, fail).unwrap();
        assert!(Arc::ptr_eq(&again, &first));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "no new attempt while backing off"
        );
        // Once the token has expired, a failing fetch is an error.
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            cache.get(margin, fail).unwrap_err().kind(),
            ErrorKind::TokenEndpoint
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn invalidate_only_drops_the_token_that_was_used() {
        let (cache, clock) = cache();
        let first = cache
            .get(Duration::ZERO, |_| Ok(token(clock.as_ref(), 60)))
            .unwrap();
        cache.invalidate(&first);
        let second = cache
            .get(Duration::ZERO, |old| {
                assert!(old.is_none());
                Ok(token(clock.as_ref(), 60))
            })
            .unwrap();
        cache.invalidate(&first);
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &second));
    }
}
