//! Token endpoints as they are in production, against the strict local test server over
//! loopback: private_key_jwt and client_secret_jwt, RSA DPoP keys, discovery, a server clock
//! minutes off, algorithm negotiation, Retry-After, the diagnostics of a rejected proof, the
//! token-exchange and JWT-bearer grants, and rotating refresh tokens under rotating nonces.

use dpop_core::{Algorithm, Client, ErrorKind, Key, ManualClock};
use dpop_testserver::{
    Client as Registered, ClientAuth, Config, MetadataDocuments, MetadataFault, RetryAfter, Server,
    TOKEN_EXCHANGE,
};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "s3cr3t-Zq8vK2mP9xL4";

fn config() -> Config {
    Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        ..Config::default()
    }
}

fn es256() -> Arc<Key> {
    Arc::new(Key::generate(Algorithm::Es256).unwrap())
}

fn client(key: Arc<Key>, settings: &serde_json::Value) -> Client {
    let client = Client::new();
    client.set_key(key);
    client.set_auth_token(&settings.to_string()).unwrap();
    client
}

fn secret_settings(server: &Server) -> serde_json::Value {
    serde_json::json!({"client_id":"m2m.dpop","client_secret":SECRET,"token_endpoint":server.token_url()})
}

fn rsa_key(file: &str) -> Key {
    let path = format!("{}/tests/data/rsa/{file}", env!("CARGO_MANIFEST_DIR"));
    Key::load(std::path::Path::new(&path), None).unwrap()
}

#[test]
fn private_key_jwt_sends_a_new_assertion_on_the_nonce_retry() {
    let assertion_key = es256();
    let server = Server::start(Config {
        registered_clients: vec![Registered {
            id: "svc".into(),
            auth: ClientAuth::PrivateKeyJwt(serde_json::from_str(assertion_key.public_jwk()).unwrap()),
        }],
        require_nonce_token: true,
        ..config()
    })
    .unwrap();
    let settings = serde_json::json!({"client_id":"svc","token_endpoint":server.token_url(),
        "auth_method":"private_key_jwt","client_assertion_key": assertion_key.private_jwk().as_str()});
    let c = client(es256(), &settings);
    assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!(stats.nonce_rejections_token, 1);
    assert_eq!(stats.assertion_jtis.len(), 2, "one assertion per attempt");
    assert_ne!(stats.assertion_jtis[0], stats.assertion_jtis[1]);
    assert_eq!(
        stats.assertion_auds[1],
        serde_json::Value::from(server.token_url())
    );
}

#[test]
fn an_rsa_key_signs_ps256_proofs_and_rsa_assertions() {
    let rsa = Arc::new(rsa_key("throwaway-rsa2048-pkcs8.pem"));
    assert_eq!(rsa.alg(), Algorithm::Ps256);
    let server = Server::start(Config {
        registered_clients: vec![Registered {
            id: "svc".into(),
            auth: ClientAuth::PrivateKeyJwt(serde_json::from_str(rsa.public_jwk()).unwrap()),
        }],
        ..config()
    })
    .unwrap();
    let settings = serde_json::json!({"client_id":"svc","token_endpoint":server.token_url(),
        "auth_method":"private_key_jwt","client_assertion_use_dpop_key":true});
    let c = client(Arc::clone(&rsa), &settings);
    let r = c.get(&server.api_url()).unwrap();
    assert_eq!(r.status(), 200, "{}", r.body_text());
    let echo: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(echo["token"]["cnf"]["jkt"], rsa.thumbprint(), "{echo}");
    // RS256 on request, for the assertion key alone.
    let c = client(
        es256(),
        &serde_json::json!({"client_id":"svc","token_endpoint":server.token_url(),"auth_method":"private_key_jwt",
            "client_assertion_key": rsa.private_jwk().as_str(), "client_assertion_alg":"RS256"}),
    );
    assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
}

#[test]
fn client_secret_jwt_authenticates_with_an_hs256_assertion() {
    let server = Server::start(config()).unwrap();
    let mut settings = secret_settings(&server);
    settings["auth_method"] = "client_secret_jwt".into();
    let c = client(es256(), &settings);
    assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(server.stats().assertion_jtis.len(), 1);
    let body = &server.stats().requests[0].body;
    assert!(
        !body.contains(SECRET) && body.contains("client_assertion="),
        "{body}"
    );
}

#[test]
fn discovery_finds_the_token_endpoint_once_and_checks_the_issuer() {
    for documents in [MetadataDocuments::Both, MetadataDocuments::OpenIdOnly] {
        let server = Server::start(Config {
            metadata_documents: documents,
            issuer_path: Some("/tenant1".into()),
            ..config()
        })
        .unwrap();
        let settings =
            serde_json::json!({"client_id":"m2m.dpop","client_secret":SECRET,"issuer":server.issuer()});
        let c = client(es256(), &settings);
        assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
        c.clear_token();
        assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
        let stats = server.stats();
        assert_eq!(stats.client_credentials_grants, 2);
        let expected = if documents == MetadataDocuments::Both {
            1
        } else {
            2
        };
        assert_eq!(
            stats.metadata_requests, expected,
            "fetched once, kept with the settings"
        );
    }

    let fails = |config: Config, issuer: Option<String>, key: Arc<Key>| {
        let server = Server::start(config).unwrap();
        let issuer = issuer.unwrap_or_else(|| server.issuer());
        let settings = serde_json::json!({"client_id":"m2m.dpop","client_secret":SECRET,"issuer":issuer});
        let e = client(key, &settings).get(&server.api_url()).unwrap_err();
        assert_eq!(
            server.stats().token_requests,
            0,
            "nothing reaches the token endpoint"
        );
        (e, server)
    };
    let (e, _) = fails(
        Config {
            issuer_override: Some("https://elsewhere.example".into()),
            ..config()
        },
        None,
        es256(),
    );
    assert_eq!(e.kind(), ErrorKind::IssuerMismatch);
    assert!(e.message().contains("https://elsewhere.example"), "{e:?}");
    let (e, _) = fails(
        Config {
            metadata_fault: Some(MetadataFault::NotJson),
            ..config()
        },
        None,
        es256(),
    );
    assert_eq!(e.kind(), ErrorKind::Metadata);
    assert!(e.message().contains("not JSON"), "{e:?}");
    let (e, _) = fails(
        Config {
            metadata_fault: Some(MetadataFault::NoTokenEndpoint),
            ..config()
        },
        None,
        es256(),
    );
    assert!(
        e.kind() == ErrorKind::Metadata && e.message().contains("no token_endpoint"),
        "{e:?}"
    );
    let (e, _) = fails(
        Config {
            metadata_documents: MetadataDocuments::None,
            ..config()
        },
        None,
        es256(),
    );
    assert!(
        e.kind() == ErrorKind::Metadata && e.message().contains("404"),
        "{e:?}"
    );
    let (e, _) = fails(
        Config {
            dpop_signing_alg_values_supported: vec!["PS256".into(), "EdDSA".into()],
            ..config()
        },
        None,
        es256(),
    );
    assert_eq!(e.kind(), ErrorKind::AlgorithmUnsupported);
    assert!(
        e.message().contains("PS256 EdDSA") && e.message().contains("ES256"),
        "{e:?}"
    );
}

#[test]
fn the_fapi2_profile_runs_end_to_end_and_refuses_an_es384_dpop_key() {
    let assertion_key = es256();
    let config = || Config {
        registered_clients: vec![Registered {
            id: "fapi".into(),
            auth: ClientAuth::PrivateKeyJwt(serde_json::from_str(assertion_key.public_jwk()).unwrap()),
        }],
        assertion_aud_issuer_only: true,
        require_nonce_token: true,
        ..Config::default()
    };
    let server = Server::start(config()).unwrap();
    let settings = serde_json::json!({"client_id":"fapi","issuer":server.issuer(),"profile":"fapi2",
        "auth_method":"private_key_jwt","client_assertion_key":assertion_key.private_jwk().as_str()});
    let c = client(es256(), &settings);
    assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
    let auds = server.stats().assertion_auds;
    assert!(
        auds.iter()
            .all(|a| a == &serde_json::Value::from(server.issuer())),
        "{auds:?}"
    );

    let c = client(Arc::new(Key::generate(Algorithm::Es384).unwrap()), &settings);
    let e = c.get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ProfileViolation);
    assert!(e.message().contains("DPoP key signs with ES384"), "{e:?}");
}

#[test]
fn a_server_clock_five_minutes_off_is_followed() {
    for offset in [300i64, -300] {
        let server = Server::start(Config {
            clock_offset_secs: offset,
            ..config()
        })
        .unwrap();
        let c = client(es256(), &secret_settings(&server));
        let r = c.get(&server.api_url()).unwrap();
        assert_eq!(r.status(), 200, "{}", r.body_text());
        let stats = server.stats();
        assert_eq!(
            stats.token_requests, 2,
            "one rejection for the time, one retry with the server's"
        );
        assert_eq!(
            stats.api_requests, 1,
            "the API's first proof already carries the server's time"
        );
        let info: serde_json::Value = serde_json::from_str(&c.token_info().unwrap()).unwrap();
        let used = info["clock_offset"].as_i64().unwrap();
        assert!((used - offset).abs() <= 2, "{info}");

        // With the correction off, the rejection is explained.
        let mut settings = secret_settings(&server);
        settings["clock_correction"] = false.into();
        let e = client(es256(), &settings).get(&server.api_url()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProofRejected);
        assert!(e.message().contains("probably the time"), "{e:?}");
        assert!(e.message().contains("clock correction is off"), "{e:?}");
    }
}

#[test]
fn an_api_that_accepts_other_algorithms_is_an_error_naming_them() {
    let server = Server::start(Config {
        api_algs: vec!["PS256".into(), "EdDSA".into()],
        ..config()
    })
    .unwrap();
    let c = client(es256(), &secret_settings(&server));
    let e = c.get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlgorithmUnsupported);
    assert!(
        e.message()
            .contains("PS256 EdDSA only; this key signs with ES256"),
        "{e:?}"
    );
    assert_eq!(server.stats().api_requests, 1, "no retry");
}

#[test]
fn retry_after_is_waited_for_once_within_the_cap() {
    let server = Server::start(Config {
        token_retry_after: Some(RetryAfter {
            status: 503,
            seconds: 1,
            count: 1,
            http_date: false,
        }),
        api_retry_after: Some(RetryAfter {
            status: 429,
            seconds: 1,
            count: 1,
            http_date: true,
        }),
        ..config()
    })
    .unwrap();
    let c = client(es256(), &secret_settings(&server));
    assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
    let stats = server.stats();
    assert_eq!((stats.retry_after_token, stats.retry_after_api), (1, 1));
    assert_eq!((stats.token_requests, stats.api_requests), (2, 2));

    // Above the cap: the token endpoint's 503 is an error, the API's 429 a response.
    let server = Server::start(Config {
        token_retry_after: Some(RetryAfter {
            status: 503,
            seconds: 2,
            count: 1,
            http_date: false,
        }),
        ..config()
    })
    .unwrap();
    let mut settings = secret_settings(&server);
    settings["retry_after_max"] = 1.into();
    let e = client(es256(), &settings).get(&server.api_url()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenEndpoint);
    assert!(e.message().contains("503"), "{e:?}");
}

#[test]
fn a_rejected_proof_is_explained() {
    // A gateway rewrites the URL: the server expects another htu.
    let server = Server::start(Config {
        public_base_url: Some("https://gateway.example/api".into()),
        terse_errors: true,
        ..config()
    })
    .unwrap();
    let e = client(es256(), &secret_settings(&server))
        .get(&server.api_url())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ProofRejected);
    assert!(e.message().contains("probably the URL"), "{e:?}");
    assert!(
        e.message().contains(&format!("htu '{}'", server.token_url())),
        "{e:?}"
    );

    // The key changed after the token was issued (a host's token bound to another key).
    let server = Server::start(config()).unwrap();
    let first_key = es256();
    let first = client(Arc::clone(&first_key), &secret_settings(&server));
    assert_eq!(first.get(&server.api_url()).unwrap().status(), 200);
    let token = server.stats().requests[1].header("authorization").unwrap()["DPoP ".len()..].to_string();
    let other = Client::new();
    let key = es256();
    other.set_key(Arc::clone(&key));
    other.set_access_token(Some(&token), None).unwrap();
    let r = other.get(&server.api_url()).unwrap();
    assert_eq!(r.status(), 401);
    let text = r.diagnostic().expect("a diagnostic for the rejected proof");
    assert!(text.contains("probably the key"), "{text}");
    assert!(text.contains(key.thumbprint()), "{text}");
    assert!(!text.contains(&token), "the token is not in the text");

    // A token the server no longer accepts, used with its own key: invalid_token, no proof
    // diagnostic.
    let own = Client::new();
    own.set_key(first_key);
    own.set_access_token(Some(&token), None).unwrap();
    server.revoke_all_tokens();
    let r = own.get(&server.api_url()).unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.diagnostic().is_none(), "{:?}", r.diagnostic());
}

#[test]
fn token_exchange_and_jwt_bearer_grants_carry_their_parameters() {
    let server = Server::start(Config {
        jwt_bearer_assertion: Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.x".into()),
        ..config()
    })
    .unwrap();
    let mut settings = secret_settings(&server);
    settings["grant_type"] = TOKEN_EXCHANGE.into();
    settings["subject_token"] = "subject-tok-9".into();
    settings["subject_token_type"] = "urn:ietf:params:oauth:token-type:access_token".into();
    settings["requested_token_type"] = "urn:ietf:params:oauth:token-type:access_token".into();
    let c = client(es256(), &settings);
    assert_eq!(c.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(server.stats().token_exchange_grants, 1);
    assert!(server.stats().requests[0]
        .body
        .contains("subject_token=subject-tok-9"));

    let mut settings = secret_settings(&server);
    settings["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer".into();
    settings["assertion"] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.x".into();
    assert_eq!(
        client(es256(), &settings)
            .get(&server.api_url())
            .unwrap()
            .status(),
        200
    );
    assert_eq!(server.stats().jwt_bearer_grants, 1);
}

#[test]
fn rotating_refresh_tokens_survive_rotating_nonces() {
    let server = Server::start(Config {
        registered_clients: vec![Registered {
            id: "desktop".into(),
            auth: ClientAuth::None,
        }],
        require_nonce_token: true,
        require_nonce_api: true,
        rotate_nonce_every: 2,
        ..config()
    })
    .unwrap();
    let key = es256();
    let refresh = server.issue_refresh_token("desktop", key.thumbprint());
    let clock = Arc::new(ManualClock::new());
    let c = Client::with_clock(Arc::clone(&clock) as _);
    c.set_key(Arc::clone(&key));
    c.set_auth_token(
        &serde_json::json!({"client_id":"desktop","auth_method":"none","token_endpoint":server.token_url(),
            "grant_type":"refresh_token","refresh_token":refresh})
        .to_string(),
    )
    .unwrap();
    for round in 0..4 {
        let r = c.get(&server.api_url()).unwrap();
        assert_eq!(r.status(), 200, "round {round}: {}", r.body_text());
        clock.advance(Duration::from_secs(400)); // past the 300 s token
    }
    let stats = server.stats();
    assert_eq!(stats.refresh_grants, 4);
    let sent: Vec<String> = stats
        .requests
        .iter()
        .filter(|r| r.path == "/token" && r.status == 200)
        .map(|r| {
            url::form_urlencoded::parse(r.body.as_bytes())
                .find(|(k, _)| k == "refresh_token")
                .unwrap()
                .1
                .into_owned()
        })
        .collect();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0], refresh);
    assert_eq!(
        sent.iter().collect::<HashSet<_>>().len(),
        4,
        "each refresh used the newest token"
    );
}
