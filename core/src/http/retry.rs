//! `Retry-After` (RFC 9110 §10.2.3): a 429 or 503 that says when to come back is retried once
//! after that wait, when the wait is short enough and fits in the request's deadline.

use super::skew::{parse_http_date, unix_now};
use super::Response;
use std::time::{Duration, Instant};

/// How long to wait before retrying `response`, or `None` when it is not to be retried: not
/// a 429 or 503, no valid `Retry-After`, a wait above `cap`, or one past `deadline`.
pub(crate) fn after(response: &Response, cap: Duration, deadline: Instant) -> Option<Duration> {
    if !matches!(response.status, 429 | 503) || cap.is_zero() {
        return None;
    }
    let value = response.header_values("retry-after").next()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            // An HTTP date, on the server's clock: measured from its Date when it sent one.
            let at = parse_http_date(value)?;
            let now = response
                .header_values("date")
                .next()
                .and_then(parse_http_date)
                .unwrap_or_else(unix_now);
            Duration::from_secs(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
        }
    };
    (wait <= cap && Instant::now() + wait < deadline).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response::new(
            status,
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            Vec::new(),
        )
    }

    #[test]
    fn only_short_waits_that_fit_the_deadline_are_retried() {
        let cap = Duration::from_secs(10);
        let later = Instant::now() + Duration::from_secs(60);
        let wait = |r: &Response| after(r, cap, later);
        assert_eq!(
            wait(&response(503, &[("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            wait(&response(429, &[("retry-after", " 0 ")])),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait(&response(503, &[("retry-after", "11")])),
            None,
            "above the cap"
        );
        assert_eq!(
            wait(&response(500, &[("retry-after", "1")])),
            None,
            "not 429 or 503"
        );
        assert_eq!(wait(&response(503, &[])), None);
        assert_eq!(wait(&response(503, &[("retry-after", "soon")])), None);
        assert_eq!(
            after(
                &response(503, &[("retry-after", "5")]),
                cap,
                Instant::now() + Duration::from_secs(3)
            ),
            None,
            "past the deadline"
        );
        assert_eq!(
            after(&response(503, &[("retry-after", "1")]), Duration::ZERO, later),
            None,
            "retries off"
        );
        // An HTTP date counts from the server's Date, whatever this computer's clock says.
        let r = response(
            503,
            &[
                ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                ("retry-after", "Sun, 06 Nov 1994 08:49:40 GMT"),
            ],
        );
        assert_eq!(wait(&r), Some(Duration::from_secs(3)));
    }
}
