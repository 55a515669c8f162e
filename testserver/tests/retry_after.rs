//! Retry-After: the first N requests to an endpoint are refused with 503 or 429, then it
//! answers as usual.

mod common;

use common::*;
use dpop_testserver::{Config, RetryAfter, Server};

#[test]
fn the_token_endpoint_is_busy_for_its_first_requests_then_issues() {
    let server = Server::start(Config {
        token_retry_after: Some(RetryAfter {
            status: 503,
            seconds: 2,
            count: 2,
            http_date: false,
        }),
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::es256();
    for _ in 0..2 {
        let reply = token_request(&server, &key, &client_credentials_form(), &[]);
        reply.assert_error(503, "temporarily_unavailable", "the server is busy; retry later");
        assert_eq!(reply.header("retry-after"), Some("2"));
    }
    let token = get_token(&server, &key);
    assert_eq!(
        api_get(&server, &token, &api_proof(&server, &key, &token)).status,
        200
    );
    let stats = server.stats();
    assert_eq!(
        (
            stats.retry_after_token,
            stats.retry_after_api,
            stats.tokens_issued
        ),
        (2, 0, 1)
    );
    assert_eq!(
        send(&server, "GET", "/stats", &[], "").json()["retry_after_token"],
        2
    );
}

#[test]
fn the_api_can_answer_429_with_an_http_date_of_the_server_clock() {
    let server = Server::start(Config {
        api_retry_after: Some("429:120:1:date".parse().unwrap()),
        clock_offset_secs: -3600,
        iat_window: 7200,
        ..Config::default()
    })
    .unwrap();
    let key = TestKey::es256();
    let token = get_token(&server, &key);
    let reply = api_get(&server, &token, &api_proof(&server, &key, &token));
    assert_eq!(
        (reply.status, reply.json()["error"].as_str()),
        (429, Some("slow_down"))
    );
    let date = reply.header("date").unwrap();
    let retry = reply.header("retry-after").unwrap();
    assert!(retry.ends_with(" GMT") && retry != date, "{retry} vs {date}");
    assert_eq!(
        api_get(&server, &token, &api_proof(&server, &key, &token)).status,
        200
    );
    assert_eq!(server.stats().retry_after_api, 1);
}

#[test]
fn a_retry_after_status_other_than_503_or_429_is_refused() {
    let config = Config {
        token_retry_after: Some(RetryAfter {
            status: 500,
            seconds: 1,
            count: 1,
            http_date: false,
        }),
        ..Config::default()
    };
    assert!(Server::start(config).is_err());
}
