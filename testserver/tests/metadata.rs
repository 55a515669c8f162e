//! Discovery: the two metadata documents, an issuer with a path, an issuer that lies, broken
//! documents, and the count of metadata requests.

mod common;

use common::*;
use dpop_testserver::{Config, MetadataDocuments, MetadataFault, Server};
use serde_json::json;

fn get(server: &Server, path: &str) -> Reply {
    send(server, "GET", path, &[], "")
}

#[test]
fn both_documents_describe_the_server_by_default() {
    let server = Server::start(Config::default()).unwrap();
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let reply = get(&server, path);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        let document = reply.json();
        assert_eq!(document["issuer"], server.base_url());
        assert_eq!(document["token_endpoint"], server.token_url());
        assert_eq!(
            document["dpop_signing_alg_values_supported"],
            json!(["ES256", "ES384", "EdDSA", "Ed25519", "PS256", "RS256"])
        );
        let methods = document["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap();
        assert!(methods.contains(&json!("private_key_jwt")) && methods.contains(&json!("client_secret_jwt")));
    }
    assert_eq!(server.issuer(), server.base_url());
    assert_eq!(get(&server, "/.well-known/other").status, 404);
    assert_eq!(server.stats().metadata_requests, 3);
    assert_eq!(get(&server, "/stats").json()["metadata_requests"], 3);
}

#[test]
fn an_issuer_with_a_path_is_found_by_path_insertion_and_by_appending() {
    let server = Server::start(Config {
        issuer_path: Some("/tenant1".into()),
        dpop_signing_alg_values_supported: vec!["ES256".into(), "PS256".into()],
        ..Config::default()
    })
    .unwrap();
    let issuer = format!("{}/tenant1", server.base_url());
    assert_eq!(server.issuer(), issuer);
    for path in [
        "/.well-known/oauth-authorization-server/tenant1",
        "/tenant1/.well-known/openid-configuration",
    ] {
        let document = get(&server, path).json();
        assert_eq!(document["issuer"], issuer, "{path}");
        assert_eq!(document["token_endpoint"], server.token_url());
        assert_eq!(
            document["dpop_signing_alg_values_supported"],
            json!(["ES256", "PS256"])
        );
    }
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        assert_eq!(get(&server, path).status, 404, "{path}");
    }
    let token = get_token(&server, &TestKey::es256());
    assert_eq!(jwt_claims(&token)["iss"], issuer);
}

#[test]
fn only_the_configured_documents_are_served() {
    let openid = Server::start(Config {
        metadata_documents: MetadataDocuments::OpenIdOnly,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(
        get(&openid, "/.well-known/oauth-authorization-server").status,
        404
    );
    assert_eq!(get(&openid, "/.well-known/openid-configuration").status, 200);
    let none = Server::start(Config {
        metadata_documents: MetadataDocuments::None,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(get(&none, "/.well-known/openid-configuration").status, 404);
    assert_eq!(none.stats().metadata_requests, 1);
}

#[test]
fn the_issuer_can_lie_and_the_document_can_be_broken() {
    let liar = Server::start(Config {
        issuer_override: Some("https://elsewhere.example".into()),
        ..Config::default()
    })
    .unwrap();
    let document = get(&liar, "/.well-known/oauth-authorization-server").json();
    assert_eq!(document["issuer"], "https://elsewhere.example");
    assert_eq!(
        jwt_claims(&get_token(&liar, &TestKey::es256()))["iss"],
        liar.base_url()
    );

    let not_json = Server::start(Config {
        metadata_fault: Some(MetadataFault::NotJson),
        ..Config::default()
    })
    .unwrap();
    let reply = get(&not_json, "/.well-known/openid-configuration");
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (200, Some("application/json"))
    );
    assert!(serde_json::from_str::<serde_json::Value>(&reply.body).is_err());

    let no_endpoint = Server::start(Config {
        metadata_fault: Some(MetadataFault::NoTokenEndpoint),
        ..Config::default()
    })
    .unwrap();
    let document = get(&no_endpoint, "/.well-known/openid-configuration").json();
    assert!(document.get("token_endpoint").is_none() && document["issuer"].is_string());
}
