//! The saved state against the strict local test server: a public client's DPoP-bound
//! refresh token, rotated on every use, carried from one client to the next through the file.

use dpop_core::{Algorithm, Client, ErrorKind, Key, ManualClock, StateProtection};
use dpop_testserver::{Client as Registered, ClientAuth, Config, Server};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PASSPHRASE: &str = "state-test-passphrase-Hq7L";

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dpop-state-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A server with the public client "desktop" whose refresh tokens rotate, nonces required.
fn server() -> Server {
    Server::start(Config {
        registered_clients: vec![Registered {
            id: "desktop".into(),
            auth: ClientAuth::None,
        }],
        require_nonce_token: true,
        ..Config::default()
    })
    .unwrap()
}

/// A new client with the public client's settings and no grant of its own that works: the
/// server refuses client_credentials to a public client, so only a refresh token gets a token.
fn client(server: &Server) -> Client {
    let c = Client::new();
    c.set_auth_token(
        &serde_json::json!({"client_id": "desktop", "auth_method": "none",
            "token_endpoint": server.token_url()})
        .to_string(),
    )
    .unwrap();
    c
}

/// The refresh tokens the token endpoint accepted, in order.
fn refresh_tokens_used(server: &Server) -> Vec<String> {
    server
        .stats()
        .requests
        .iter()
        .filter(|r| r.path == "/token" && r.status == 200)
        .filter_map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "refresh_token")
                .map(|(_, v)| v.into_owned())
        })
        .collect()
}

fn call(c: &Client, server: &Server) -> serde_json::Value {
    let response = c.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    serde_json::from_slice(response.body()).unwrap()
}

#[test]
fn a_saved_refresh_token_serves_a_new_client_and_each_rotation_is_saved_again() {
    let server = server();
    let dir = tempdir("rotation");
    let path = dir.join("desktop.state");
    let key = Arc::new(Key::generate(Algorithm::Es256).unwrap());
    let issued = server.issue_refresh_token("desktop", key.thumbprint());

    // The first run: the key and the refresh token the user signed in for are saved.
    let first = Client::new();
    first.set_key(Arc::clone(&key));
    first
        .set_auth_token(
            &serde_json::json!({"client_id": "desktop", "auth_method": "none",
                "token_endpoint": server.token_url(), "grant_type": "refresh_token",
                "refresh_token": issued})
            .to_string(),
        )
        .unwrap();
    first
        .save_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    drop(first);
    let before_rotation = std::fs::read(&path).unwrap();

    // A new client (the next run) loads it and calls the API with nothing else.
    let second = client(&server);
    second
        .load_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    let body = call(&second, &server);
    assert_eq!(
        body["token"]["cnf"]["jkt"],
        key.thumbprint(),
        "bound to the saved key"
    );
    assert_eq!(refresh_tokens_used(&server), std::slice::from_ref(&issued));
    assert_ne!(
        std::fs::read(&path).unwrap(),
        before_rotation,
        "the rotated refresh token was saved by itself"
    );
    drop(second);

    // A third client loads what the second saved: the rotated refresh token, not the spent one.
    let third = client(&server);
    third
        .load_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    let body = call(&third, &server);
    assert_eq!(body["token"]["cnf"]["jkt"], key.thumbprint());
    let used = refresh_tokens_used(&server);
    assert_eq!(used.len(), 2);
    assert_ne!(
        used[1], issued,
        "the third client used the refresh token the second one got"
    );
    let stats = server.stats();
    assert_eq!(stats.refresh_grants, 2);
    assert_eq!(stats.client_credentials_grants, 0, "no other grant");

    // The file as it was before the rotation holds a spent refresh token: what saving again
    // by itself spares the user.
    let stale = dir.join("stale.state");
    std::fs::write(&stale, &before_rotation).unwrap();
    let fourth = client(&server);
    fourth
        .load_state(&stale, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    let e = fourth.get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenEndpoint, "{e:?}");
    let stats = server.stats();
    let last_try = stats
        .requests
        .iter()
        .rev()
        .find(|r| r.path == "/token" && r.body.contains(&format!("refresh_token={issued}")))
        .unwrap();
    assert_eq!(last_try.status, 400, "the spent refresh token was refused");
    assert_eq!(refresh_tokens_used(&server).len(), 2);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_rotation_of_a_long_run_is_saved_and_the_log_holds_no_secret() {
    let server = self::server();
    let dir = tempdir("long-run");
    let path = dir.join("desktop.state");
    let log = dir.join("session.log");
    let key = Arc::new(Key::generate(Algorithm::EdDsa).unwrap());
    let clock = Arc::new(ManualClock::new());
    let c = Client::with_clock(Arc::clone(&clock) as _);
    c.set_key(Arc::clone(&key));
    c.set_session_log(Some(&log)).unwrap();
    // Saved before there is any refresh token (as after making the key for a sign-in), then
    // again once the settings give one.
    c.set_auth_token(
        &serde_json::json!({"client_id": "desktop", "auth_method": "none",
            "token_endpoint": server.token_url()})
        .to_string(),
    )
    .unwrap();
    c.save_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    let issued = server.issue_refresh_token("desktop", key.thumbprint());
    c.set_auth_token(
        &serde_json::json!({"client_id": "desktop", "auth_method": "none",
            "token_endpoint": server.token_url(), "grant_type": "refresh_token",
            "refresh_token": issued})
        .to_string(),
    )
    .unwrap();
    c.save_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    for _ in 0..4 {
        call(&c, &server);
        clock.advance(Duration::from_secs(400)); // past the 300 s token: the next call refreshes
    }
    drop(c);
    // Every refresh token but the last is spent: the file must hold the last.
    let next = client(&server);
    next.load_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    call(&next, &server);
    let used = refresh_tokens_used(&server);
    assert_eq!(used.len(), 5);
    assert_eq!(
        used.iter().collect::<std::collections::HashSet<_>>().len(),
        5,
        "each refresh used the newest refresh token"
    );
    assert_eq!(server.stats().client_credentials_grants, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("state saved again to").count(), 4, "{text}");
    for secret in used.iter() {
        assert!(!text.contains(secret.as_str()), "the log holds a refresh token");
    }
    assert!(!text.contains(PASSPHRASE));
    std::fs::remove_dir_all(dir).unwrap();
}
