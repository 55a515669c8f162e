//! The server's clock, learned from the `Date` header of its responses (RFC 9110 §6.6.1), so
//! that proofs and client assertions carry times the server accepts when this computer's
//! clock is off (RFC 9449 §11.1 lets servers reject proofs whose `iat` is far from theirs).
//!
//! Per origin, the offset is the median of the last few samples: `Date` has a resolution of
//! one second and says when the server made the answer, so single samples are off by up to a
//! second plus the network delay. An origin not heard from yet uses the offset last learned
//! from any origin: a skewed clock is usually this computer's.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

/// Offsets smaller than this (in seconds) are left alone unless the profile asks for the
/// server's time always (FAPI 2.0).
pub(crate) const THRESHOLD_SECS: i64 = 5;

/// Samples kept per origin.
const SAMPLES: usize = 5;

/// Origins remembered; more are forgotten all at once (a client talks to a few).
const MAX_ORIGINS: usize = 64;

#[derive(Default)]
pub(crate) struct ClockSkew {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    origins: HashMap<String, VecDeque<i64>>,
    last: Option<i64>,
}

/// Seconds since the Unix epoch on this computer's clock (0 before 1970).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Seconds since the Unix epoch of an HTTP date, `None` when `value` is none.
pub(crate) fn parse_http_date(value: &str) -> Option<i64> {
    let time = httpdate::parse_http_date(value.trim()).ok()?;
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

impl ClockSkew {
    /// Learns from a response of `origin` whose `Date` header is `date`, received at `now`.
    pub(crate) fn observe(&self, origin: &str, date: &str, now: i64) {
        let Some(server) = parse_http_date(date) else {
            return;
        };
        let offset = server.saturating_sub(now);
        let mut state = self.state.lock();
        if !state.origins.contains_key(origin) && state.origins.len() >= MAX_ORIGINS {
            state.origins.clear();
        }
        let samples = state.origins.entry(origin.to_string()).or_default();
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(offset);
        let median = median(samples);
        state.last = Some(median);
    }

    /// The server's clock minus ours for `origin`, in seconds, if known.
    pub(crate) fn offset(&self, origin: &str) -> Option<i64> {
        let state = self.state.lock();
        state.origins.get(origin).map(median).or(state.last)
    }

    /// The offset learned last, from any origin.
    pub(crate) fn last_offset(&self) -> Option<i64> {
        self.state.lock().last
    }

    /// What to add to this computer's time for `origin`: the offset when it reaches the
    /// threshold (any offset when `strict`), else 0.
    pub(crate) fn correction(&self, origin: &str, strict: bool) -> i64 {
        match self.offset(origin) {
            Some(offset) if strict || offset.abs() >= THRESHOLD_SECS => offset,
            _ => 0,
        }
    }
}

fn median(samples: &VecDeque<i64>) -> i64 {
    let mut sorted: Vec<i64> = samples.iter().copied().collect();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(unix: i64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(unix as u64))
    }

    #[test]
    fn the_offset_is_the_median_of_recent_dates_and_small_ones_are_ignored() {
        let skew = ClockSkew::default();
        let now = 1_800_000_000;
        assert_eq!(skew.offset("https://as"), None);
        skew.observe("https://as", &date(now + 300), now);
        assert_eq!(skew.correction("https://as", false), 300);
        skew.observe("https://as", &date(now + 301), now);
        skew.observe("https://as", &date(now - 5000), now); // one odd sample
        assert_eq!(skew.offset("https://as"), Some(300));
        assert_eq!(
            skew.offset("https://api"),
            Some(300),
            "an origin not heard from uses the last offset"
        );
        skew.observe("https://api", &date(now + 2), now);
        assert_eq!(skew.correction("https://api", false), 0, "under the threshold");
        assert_eq!(
            skew.correction("https://api", true),
            2,
            "strict follows any offset"
        );
        skew.observe("https://api", "not a date", now);
        assert_eq!(skew.offset("https://api"), Some(2));
    }

    #[test]
    fn http_dates_in_all_three_forms_parse() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784111777));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
