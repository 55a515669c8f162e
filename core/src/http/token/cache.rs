//! The token cache: one current token, refreshed before it expires, with a single fetch in
//! flight however many threads ask at once.

use super::AccessToken;
use crate::clock::Clock;
use crate::error::{Error, ErrorKind, Result};
use crate::http::cancel::{Cancel, SLICE};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

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
    /// See [`TokenCache::epoch`].
    epoch: u64,
    /// The latest refresh token the token endpoint issued in this epoch. It outlives the
    /// token it came with when a server rejects that token: a rotated refresh token is the
    /// only one left, and losing it means signing in again.
    refresh_token: Option<Zeroizing<String>>,
    /// Counts the new refresh tokens stored: a saved state is written again when it grows.
    refresh_seq: u64,
    /// Changes whenever the refresh token is dropped with the settings, the key or the host's
    /// token (not when only the access token is forgotten): a saved state belongs to one.
    lineage: u64,
}

/// The latest refresh token and the counters a saved state follows it by.
pub(crate) struct RefreshState {
    pub(crate) lineage: u64,
    pub(crate) seq: u64,
    pub(crate) refresh_token: Option<Zeroizing<String>>,
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

    /// The epoch of the token settings: every change of the settings, the key or the host's
    /// token starts a new one. A caller reads it *before* the settings it fetches with and
    /// hands it to [`TokenCache::get`], so a fetch made under older settings is never kept.
    pub(crate) fn epoch(&self) -> u64 {
        self.state.lock().epoch
    }

    /// The token to use now, for settings read in `epoch`. When it is missing or due for
    /// refresh, exactly one caller runs `fetch` (given the token being replaced, for its
    /// refresh token) while the others wait for its outcome, until `deadline` at the latest; a
    /// token that is due but not yet expired is handed out meanwhile. No lock is held while
    /// `fetch` runs.
    ///
    /// `Ok(None)` when the settings changed since `epoch` (before or during the fetch, whose
    /// token is then dropped): read them again and ask again.
    ///
    /// `cancel` ends a wait for another caller's fetch (`Cancelled`; that fetch goes on). A
    /// fetch that ends `Cancelled` stores nothing (no failure, no back-off) and releases the
    /// waiters, which then fetch themselves.
    pub(crate) fn get(
        &self,
        epoch: u64,
        margin: Duration,
        deadline: Option<Instant>,
        cancel: &Cancel,
        fetch: impl FnOnce(Option<Arc<AccessToken>>) -> Result<AccessToken>,
    ) -> Result<Option<Arc<AccessToken>>> {
        let mut state = self.state.lock();
        loop {
            if state.epoch != epoch {
                return Ok(None);
            }
            let now = self.clock.now();
            if let Some(token) = &state.current {
                let backing_off = state.retry_refresh_at.is_some_and(|at| now < at) && !token.expired(now);
                if token.manual || !token.needs_refresh(margin, now) || backing_off {
                    return Ok(Some(Arc::clone(token)));
                }
            }
            if !state.fetching {
                break;
            }
            if let Some(token) = state.current.as_ref().filter(|t| !t.expired(now)) {
                return Ok(Some(Arc::clone(token)));
            }
            let generation = state.generation;
            while state.generation == generation {
                cancel.check()?;
                // A cancellable caller wakes every slice to look at its flag.
                let wake = match (deadline, cancel.can_cancel()) {
                    (None, false) => None,
                    (Some(deadline), false) => Some(deadline),
                    (deadline, true) => {
                        let slice = Instant::now() + SLICE;
                        Some(deadline.map_or(slice, |d| d.min(slice)))
                    }
                };
                match wake {
                    Some(wake) => {
                        let timed_out = self.done.wait_until(&mut state, wake).timed_out();
                        if timed_out
                            && state.generation == generation
                            && deadline.is_some_and(|d| Instant::now() >= d)
                        {
                            return Err(Error::new(
                                ErrorKind::HttpTimeout,
                                "the request timed out waiting for the token that another request is fetching",
                            ));
                        }
                    }
                    None => self.done.wait(&mut state),
                }
            }
            if let Some(e) = &state.last_failure {
                return Err(e.clone());
            }
        }
        state.fetching = true;
        let replacing = state.current.clone();
        drop(state);

        let fetching = Fetching { cache: self };
        let outcome = fetch(replacing.clone()).map(Arc::new);
        fetching.finish(epoch, replacing, outcome)
    }

    /// Caches a token obtained outside [`TokenCache::get`] (a sign-in's code exchange) for
    /// settings read in `epoch`, with its refresh token. False, and nothing kept, when the
    /// settings or the key changed since.
    pub(crate) fn put(&self, epoch: u64, token: AccessToken) -> bool {
        let mut state = self.state.lock();
        if state.epoch != epoch {
            return false;
        }
        if let Some(rt) = &token.refresh_token {
            if state.refresh_token.as_ref() != Some(rt) {
                state.refresh_seq += 1;
            }
            state.refresh_token = Some(rt.clone());
        }
        state.current = Some(Arc::new(token));
        state.last_failure = None;
        state.retry_refresh_at = None;
        true
    }

    /// Drops `used` if it is still the cached token (a server rejected it), so the next `get`
    /// fetches a new one (with the refresh token, which stays); a token another thread already
    /// replaced is left alone.
    pub(crate) fn invalidate(&self, used: &Arc<AccessToken>) {
        let mut state = self.state.lock();
        if state.current.as_ref().is_some_and(|t| Arc::ptr_eq(t, used)) {
            state.current = None;
        }
    }

    /// The latest refresh token issued under the current settings, if any.
    pub(crate) fn refresh_token(&self) -> Option<Zeroizing<String>> {
        self.state.lock().refresh_token.clone()
    }

    /// The settings or the key changed: forgets the fetched token and its refresh token (and
    /// the host's token too, unless `keep_host_token`), and starts a new epoch, so that a fetch
    /// in flight is not kept.
    pub(crate) fn reset(&self, keep_host_token: bool) {
        {
            let mut state = self.state.lock();
            state.refresh_token = None;
            state.lineage += 1;
        }
        self.forget_token(keep_host_token);
    }

    /// The lineage and the refresh-token count, cheaply (see [`RefreshState`]).
    pub(crate) fn refresh_counters(&self) -> (u64, u64) {
        let state = self.state.lock();
        (state.lineage, state.refresh_seq)
    }

    /// The latest refresh token with its counters, read at once.
    pub(crate) fn refresh_state(&self) -> RefreshState {
        let state = self.state.lock();
        RefreshState {
            lineage: state.lineage,
            seq: state.refresh_seq,
            refresh_token: state.refresh_token.clone(),
        }
    }

    /// Takes a refresh token from a saved state: runs `install` (which sets the state's key)
    /// under the cache's lock, so that no token request sees the new key with the old refresh
    /// token or the other way round; then starts a new epoch and lineage, forgets the fetched
    /// token (the host's own stays, as with a new key) and keeps `refresh_token`.
    pub(crate) fn restore(
        &self,
        refresh_token: Option<Zeroizing<String>>,
        install: impl FnOnce(),
    ) -> RefreshState {
        let mut state = self.state.lock();
        install();
        state.epoch += 1;
        state.lineage += 1;
        state.refresh_seq += 1;
        state.retry_refresh_at = None;
        if !state.current.as_ref().is_some_and(|t| t.manual) {
            state.current = None;
        }
        state.refresh_token = refresh_token;
        RefreshState {
            lineage: state.lineage,
            seq: state.refresh_seq,
            refresh_token: state.refresh_token.clone(),
        }
    }

    /// Forgets the fetched token (and the host's too, unless `keep_host_token`) but not the
    /// latest refresh token, and starts a new epoch.
    pub(crate) fn forget_token(&self, keep_host_token: bool) {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.retry_refresh_at = None;
        if !(keep_host_token && state.current.as_ref().is_some_and(|t| t.manual)) {
            state.current = None;
        }
    }

    /// Uses the host's own token (`None`: none), in a new epoch, so that a fetch in flight
    /// cannot replace it.
    pub(crate) fn set_host_token(&self, token: Option<AccessToken>) {
        let mut state = self.state.lock();
        state.epoch += 1;
        state.lineage += 1;
        state.retry_refresh_at = None;
        state.refresh_token = None;
        state.current = token.map(Arc::new);
    }

    /// The cached token, if any, without fetching.
    pub(crate) fn peek(&self) -> Option<Arc<AccessToken>> {
        self.state.lock().current.clone()
    }
}

/// The fetch in flight. Finishing it publishes its outcome; if the fetch unwinds instead (a
/// panic in it), dropping the guard still ends the fetch, so that waiters are released with
/// an error rather than left waiting for ever.
struct Fetching<'a> {
    cache: &'a TokenCache,
}

impl Fetching<'_> {
    fn finish(
        self,
        epoch: u64,
        replacing: Option<Arc<AccessToken>>,
        outcome: Result<Arc<AccessToken>>,
    ) -> Result<Option<Arc<AccessToken>>> {
        let cache = self.cache;
        std::mem::forget(self);
        let mut state = cache.state.lock();
        state.fetching = false;
        state.generation += 1;
        let now = cache.clock.now();
        let cancelled = matches!(&outcome, Err(e) if e.kind() == ErrorKind::Cancelled);
        let outcome = if cancelled {
            // The host stopped the request that fetched: nothing was learned about the
            // server, so nothing is kept; the waiters go round again and one of them fetches.
            state.last_failure = None;
            outcome.map(Some)
        } else if state.epoch != epoch {
            // Fetched under settings that have changed since: dropped.
            state.last_failure = None;
            Ok(None)
        } else {
            match outcome {
                Ok(token) => {
                    if let Some(rt) = &token.refresh_token {
                        if state.refresh_token.as_ref() != Some(rt) {
                            state.refresh_seq += 1;
                        }
                        state.refresh_token = Some(rt.clone());
                    }
                    state.current = Some(Arc::clone(&token));
                    state.last_failure = None;
                    state.retry_refresh_at = None;
                    Ok(Some(token))
                }
                // A proactive refresh failed but the token has not expired: keep using it for
                // a while rather than failing requests it can still serve.
                Err(_) if replacing.as_ref().is_some_and(|t| !t.expired(now)) => {
                    state.last_failure = None;
                    state.retry_refresh_at = Some(now + REFRESH_RETRY);
                    Ok(replacing)
                }
                Err(e) => {
                    state.last_failure = Some(e.clone());
                    Err(e)
                }
            }
        };
        drop(state);
        cache.done.notify_all();
        outcome
    }
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        let mut state = self.cache.state.lock();
        state.fetching = false;
        state.generation += 1;
        state.last_failure = Some(Error::new(
            ErrorKind::Internal,
            "the token request ended with an internal error in libdpop; please report it",
        ));
        drop(state);
        self.cache.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
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

    /// `get` for the current epoch, expecting an answer (no settings change).
    fn get(
        cache: &TokenCache,
        margin: Duration,
        fetch: impl FnOnce(Option<Arc<AccessToken>>) -> Result<AccessToken>,
    ) -> Result<Arc<AccessToken>> {
        cache
            .get(cache.epoch(), margin, None, &Cancel::NEVER, fetch)
            .map(|t| t.expect("the settings did not change"))
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
                        get(&cache, Duration::from_secs(30), |_| {
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
        let e = get(&cache, Duration::ZERO, |_| {
            Err(Error::new(ErrorKind::TokenEndpoint, "down"))
        });
        assert_eq!(e.unwrap_err().kind(), ErrorKind::TokenEndpoint);
        assert!(get(&cache, Duration::ZERO, |_| Ok(token(clock.as_ref(), 60))).is_ok());
    }

    #[test]
    fn a_token_is_replaced_within_its_margin_and_not_before() {
        let (cache, clock) = cache();
        let margin = Duration::from_secs(60);
        let first = get(&cache, margin, |_| Ok(token(clock.as_ref(), 600))).unwrap();
        clock.advance(Duration::from_secs(539));
        let same = get(&cache, margin, |_| panic!("not due yet")).unwrap();
        assert!(Arc::ptr_eq(&same, &first));
        clock.advance(Duration::from_secs(2));
        let second = get(&cache, margin, |old| {
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
        let first = get(&cache, margin, |_| Ok(token(clock.as_ref(), 4))).unwrap();
        // Within the refresh margin (capped at half of 4 s) but still valid.
        clock.advance(Duration::from_millis(2100));
        let attempts = AtomicUsize::new(0);
        let fail = |_: Option<Arc<AccessToken>>| {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(Error::new(ErrorKind::TokenEndpoint, "down"))
        };
        let kept = get(&cache, margin, fail).unwrap();
        assert!(Arc::ptr_eq(&kept, &first));
        let again = get(&cache, margin, fail).unwrap();
        assert!(Arc::ptr_eq(&again, &first));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "no new attempt while backing off"
        );
        // Once the token has expired, a failing fetch is an error.
        clock.advance(Duration::from_secs(2));
        assert_eq!(
            get(&cache, margin, fail).unwrap_err().kind(),
            ErrorKind::TokenEndpoint
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn invalidate_only_drops_the_token_that_was_used() {
        let (cache, clock) = cache();
        let first = get(&cache, Duration::ZERO, |_| Ok(token(clock.as_ref(), 60))).unwrap();
        cache.invalidate(&first);
        let second = get(&cache, Duration::ZERO, |old| {
            assert!(old.is_none());
            Ok(token(clock.as_ref(), 60))
        })
        .unwrap();
        cache.invalidate(&first);
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &second));
    }

    #[test]
    fn the_latest_refresh_token_outlives_a_rejected_token_but_not_new_settings() {
        let (cache, clock) = cache();
        let with_refresh = |rt: &str| {
            let mut t = token(clock.as_ref(), 60);
            t.refresh_token = Some(Zeroizing::new(rt.into()));
            t
        };
        let first = get(&cache, Duration::ZERO, |_| Ok(with_refresh("rt-1"))).unwrap();
        cache.invalidate(&first);
        assert!(cache.peek().is_none());
        assert_eq!(cache.refresh_token().as_deref().map(String::as_str), Some("rt-1"));
        get(&cache, Duration::ZERO, |_| Ok(with_refresh("rt-2"))).unwrap();
        cache.forget_token(true);
        assert_eq!(
            cache.refresh_token().as_deref().map(String::as_str),
            Some("rt-2"),
            "clear_token keeps the newest refresh token"
        );
        cache.reset(true);
        assert!(
            cache.refresh_token().is_none(),
            "a new key or new settings drop it"
        );
    }

    #[test]
    fn new_refresh_tokens_are_counted_and_dropping_them_starts_a_new_lineage() {
        let (cache, clock) = cache();
        let with_refresh = |rt: &str| {
            let mut t = token(clock.as_ref(), 0);
            t.refresh_token = Some(Zeroizing::new(rt.into()));
            t
        };
        let (lineage, seq) = cache.refresh_counters();
        get(&cache, Duration::ZERO, |_| Ok(with_refresh("rt-1"))).unwrap();
        assert_eq!(cache.refresh_counters(), (lineage, seq + 1));
        // The same refresh token again (a server that does not rotate) is nothing new.
        get(&cache, Duration::ZERO, |_| Ok(with_refresh("rt-1"))).unwrap();
        assert_eq!(cache.refresh_counters(), (lineage, seq + 1));
        cache.forget_token(true);
        assert_eq!(
            cache.refresh_counters().0,
            lineage,
            "clear_token keeps the lineage"
        );
        let restored = cache.restore(Some(Zeroizing::new("rt-saved".into())), || {});
        assert!(restored.lineage > lineage);
        assert_eq!(
            restored.refresh_token.as_deref().map(String::as_str),
            Some("rt-saved")
        );
        assert!(cache.peek().is_none(), "a restored state drops the fetched token");
        cache.reset(true);
        let after = cache.refresh_state();
        assert!(after.lineage > restored.lineage && after.refresh_token.is_none());
    }

    #[test]
    fn a_fetch_made_under_settings_changed_meanwhile_is_dropped() {
        let (cache, clock) = cache();
        let epoch = cache.epoch();
        let outcome = cache.get(epoch, Duration::ZERO, None, &Cancel::NEVER, |_| {
            // The host changes the settings (or the key) while the token request runs.
            cache.reset(false);
            Ok(token(clock.as_ref(), 60))
        });
        assert!(
            outcome.unwrap().is_none(),
            "the caller is told to read the settings again"
        );
        assert!(cache.peek().is_none(), "the old settings' token is not kept");
        // An old epoch is refused at once.
        assert!(cache
            .get(epoch, Duration::ZERO, None, &Cancel::NEVER, |_| panic!("not run"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn a_fetch_in_flight_cannot_replace_the_hosts_own_token() {
        let (cache, clock) = cache();
        let outcome = cache.get(cache.epoch(), Duration::ZERO, None, &Cancel::NEVER, |_| {
            let mut own = token(clock.as_ref(), 60);
            own.manual = true;
            own.value = Zeroizing::new("host".into());
            cache.set_host_token(Some(own));
            Ok(token(clock.as_ref(), 60))
        });
        assert!(outcome.unwrap().is_none());
        assert_eq!(cache.peek().unwrap().value.as_str(), "host");
        // A change of key keeps the host's token; new settings drop it.
        cache.reset(true);
        assert!(cache.peek().is_some_and(|t| t.manual));
        cache.reset(false);
        assert!(cache.peek().is_none());
    }

    #[test]
    fn a_signed_in_token_is_kept_with_its_refresh_token_unless_the_settings_changed() {
        let (cache, clock) = cache();
        let epoch = cache.epoch();
        let mut signed_in = token(clock.as_ref(), 60);
        signed_in.refresh_token = Some(Zeroizing::new("rt-s".into()));
        assert!(cache.put(epoch, signed_in));
        assert_eq!(cache.refresh_token().as_deref().map(String::as_str), Some("rt-s"));
        let same = get(&cache, Duration::ZERO, |_| panic!("the token is cached")).unwrap();
        assert!(Arc::ptr_eq(&same, &cache.peek().unwrap()));
        cache.reset(true);
        assert!(
            !cache.put(epoch, token(clock.as_ref(), 60)),
            "the key changed meanwhile"
        );
        assert!(cache.peek().is_none() && cache.refresh_token().is_none());
    }

    #[test]
    fn a_panic_in_the_fetch_releases_the_waiters() {
        let (cache, clock) = cache();
        let fetch_started = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let fetcher = s.spawn(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    get(&cache, Duration::ZERO, |_| {
                        fetch_started.wait();
                        // Let the waiter block on this fetch first.
                        std::thread::sleep(Duration::from_millis(100));
                        panic!("a bug in the fetch");
                    })
                }))
            });
            fetch_started.wait();
            let waited = get(&cache, Duration::ZERO, |_| Ok(token(clock.as_ref(), 60)));
            assert!(fetcher.join().unwrap().is_err(), "the fetching thread panicked");
            // The waiter is released with the internal error (or, had it arrived after the
            // panic, it fetched a token itself); it does not hang.
            match waited {
                Err(e) => assert_eq!(e.kind(), ErrorKind::Internal),
                Ok(t) => assert_eq!(t.value.as_str(), "at"),
            }
        });
        // The next caller fetches normally.
        assert!(get(&cache, Duration::ZERO, |_| Ok(token(clock.as_ref(), 60))).is_ok());
    }

    #[test]
    fn a_waiter_gives_up_at_its_deadline() {
        let (cache, clock) = cache();
        let fetch_started = std::sync::Barrier::new(2);
        let release = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                get(&cache, Duration::ZERO, |_| {
                    fetch_started.wait();
                    release.wait();
                    Ok(token(clock.as_ref(), 60))
                })
                .unwrap();
            });
            fetch_started.wait();
            let deadline = Instant::now() + Duration::from_millis(50);
            let waited = cache.get(
                cache.epoch(),
                Duration::ZERO,
                Some(deadline),
                &Cancel::NEVER,
                |_| panic!("not run"),
            );
            assert_eq!(waited.unwrap_err().kind(), ErrorKind::HttpTimeout);
            release.wait();
        });
    }

    #[test]
    fn a_cancelled_fetch_releases_the_waiters_and_stores_nothing() {
        let (cache, clock) = cache();
        let fetch_started = std::sync::Barrier::new(2);
        let fetches = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let fetcher = s.spawn(|| {
                get(&cache, Duration::ZERO, |_| {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    fetch_started.wait();
                    // Let the waiter block on this fetch first.
                    std::thread::sleep(Duration::from_millis(100));
                    Err(crate::http::cancel::cancelled())
                })
            });
            fetch_started.wait();
            // Released by the cancelled fetch, the waiter is not handed its error: it fetches.
            let waited = get(&cache, Duration::ZERO, |_| {
                fetches.fetch_add(1, Ordering::SeqCst);
                Ok(token(clock.as_ref(), 60))
            });
            assert_eq!(fetcher.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
            assert_eq!(waited.unwrap().value.as_str(), "at");
        });
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_cancelled_refresh_keeps_the_token_and_does_not_back_off() {
        let (cache, clock) = cache();
        let margin = Duration::from_secs(60);
        let first = get(&cache, margin, |_| Ok(token(clock.as_ref(), 4))).unwrap();
        // Due for refresh (within half of its 4 s), not expired.
        clock.advance(Duration::from_millis(2100));
        let cancelled = get(&cache, margin, |_| Err(crate::http::cancel::cancelled()));
        assert_eq!(cancelled.unwrap_err().kind(), ErrorKind::Cancelled);
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &first), "the token stays");
        let refreshed = get(&cache, margin, |old| {
            assert!(Arc::ptr_eq(old.as_ref().unwrap(), &first));
            Ok(token(clock.as_ref(), 600))
        })
        .unwrap();
        assert!(
            !Arc::ptr_eq(&refreshed, &first),
            "the next caller refreshes at once"
        );
    }

    #[test]
    fn a_cancelled_waiter_gives_up_while_the_fetch_goes_on() {
        let (cache, clock) = cache();
        let fetch_started = std::sync::Barrier::new(2);
        let release = std::sync::Barrier::new(2);
        let cancel = Cancel::new();
        std::thread::scope(|s| {
            let fetcher = s.spawn(|| {
                get(&cache, Duration::ZERO, |_| {
                    fetch_started.wait();
                    release.wait();
                    Ok(token(clock.as_ref(), 60))
                })
            });
            fetch_started.wait();
            let waiter = s.spawn(|| {
                cache.get(cache.epoch(), Duration::ZERO, None, &cancel, |_| {
                    panic!("the waiter does not fetch")
                })
            });
            cancel.cancel();
            assert_eq!(waiter.join().unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
            release.wait();
            assert!(fetcher.join().unwrap().is_ok());
        });
        assert!(cache.peek().is_some(), "the fetch's token is kept");
    }
}
