use super::*;

const SETTINGS: &str = r#"{"client_id":"m2m.dpop","client_secret":"secret","token_endpoint":"https://as.example/connect/token","scope":"api"}"#;

fn err(json: &str) -> Error {
    AuthToken::from_json(json)
        .err()
        .expect("the settings are refused")
}

#[test]
fn settings_parse_like_chilkat_auth_token_json() {
    let s = AuthToken::from_json(SETTINGS).unwrap();
    assert_eq!(s.client_id, "m2m.dpop");
    assert_eq!(s.client_auth.secret(), Some("secret"));
    assert_eq!(s.client_auth.name(), "client_secret_post");
    assert_eq!(s.scope.as_deref(), Some("api"));
    assert_eq!(s.grant.name(), "client_credentials");
    assert!(s.clock_correction);
    assert_eq!(s.retry_after_max, Duration::from_secs(10));
    assert_eq!(
        s.public_json,
        r#"{"client_id":"m2m.dpop","scope":"api","token_endpoint":"https://as.example/connect/token"}"#,
        "read back without the secret"
    );
    let s = AuthToken::from_json(
        r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://as/t","auth_method":"client_secret_basic",
            "resource":["https://r1","https://r2"],"audience":"aud","extra_params":{"x":"1"}}"#,
    )
    .unwrap();
    assert_eq!(s.client_auth.name(), "client_secret_basic");
    assert_eq!(s.resources, ["https://r1", "https://r2"]);
    assert_eq!(s.extra_params, [("x".to_string(), "1".to_string())]);
}

#[test]
fn bad_settings_are_named() {
    let msg = |json: &str| err(json).message().to_string();
    assert!(msg("[1]").contains("not a JSON object"));
    assert!(msg("{").contains("not valid JSON"));
    assert!(msg(r#"{"client_id":"a","client_secret":"b"}"#).contains("lack 'token_endpoint'"));
    assert!(msg(r#"{"clientid":"a"}"#).contains("unknown token setting 'clientid'"));
    assert!(msg(r#"{"client_id":"a","client_secret":"b","token_endpoint":"/t"}"#).contains("absolute"));
    assert!(msg(r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://a/t","auth_method":"tls_client_auth"}"#)
        .contains("unsupported auth_method"));
    assert!(
        msg(r#"{"client_id":1,"client_secret":"b","token_endpoint":"https://a/t"}"#).contains("not a string")
    );
    // The secret never appears in an error.
    assert!(!msg(r#"{"client_secret":"hunter2hunter2","token_endpoint":"https://a/t"}"#).contains("hunter2"));
}

#[test]
fn an_issuer_may_replace_the_token_endpoint() {
    let s = AuthToken::from_json(r#"{"client_id":"a","client_secret":"b","issuer":"https://as.example/t1"}"#)
        .unwrap();
    assert_eq!(s.issuer.as_deref(), Some("https://as.example/t1"));
    assert!(s.token_endpoint.is_none());
    assert!(
        err(r#"{"client_id":"a","client_secret":"b","issuer":"as.example"}"#)
            .message()
            .contains("issuer")
    );
}

#[test]
fn private_key_jwt_takes_its_key_from_pem_jwk_or_file_and_hides_the_material() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let pem = key.private_pem(None).unwrap();
    let jwk = key.private_jwk();
    let with = |member: Value| {
        let mut o = serde_json::json!({"client_id":"a","token_endpoint":"https://as/t","auth_method":"private_key_jwt"});
        o["client_assertion_key"] = member;
        o["client_assertion_kid"] = "k1".into();
        AuthToken::from_json(&o.to_string())
    };
    for given in [
        Value::from(pem.as_str()),
        Value::from(jwk.as_str()),
        serde_json::from_str::<Value>(&jwk).unwrap(),
    ] {
        let s = with(given).unwrap();
        let ClientAuth::PrivateKeyJwt {
            key: AssertionKey::Own(k),
            kid,
        } = &s.client_auth
        else {
            panic!("private_key_jwt with its own key")
        };
        assert_eq!(k.thumbprint(), key.thumbprint());
        assert_eq!(kid.as_deref(), Some("k1"));
        assert!(
            !s.public_json.contains("client_assertion_key"),
            "{}",
            s.public_json
        );
        assert!(!s.public_json.contains(&jwk[jwk.find("\"d\"").unwrap()..][..20]));
    }
    let dir = std::env::temp_dir().join(format!("dpop-assertion-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("assertion.pem");
    key.save_private_pem(&path, Some("pw")).unwrap();
    let json = serde_json::json!({"client_id":"a","token_endpoint":"https://as/t","auth_method":"private_key_jwt",
        "client_assertion_key": path.to_str().unwrap(), "client_assertion_key_password":"pw"});
    let s = AuthToken::from_json(&json.to_string()).unwrap();
    assert!(
        s.public_json.contains("assertion.pem"),
        "a path says which key, and stays"
    );
    assert!(!s.public_json.contains("\"pw\""));
    let wrong = serde_json::json!({"client_id":"a","token_endpoint":"https://as/t","auth_method":"private_key_jwt",
        "client_assertion_key": path.to_str().unwrap(), "client_assertion_key_password":"nope"});
    let e = err(&wrong.to_string());
    assert_eq!(e.kind(), ErrorKind::AssertionKey);
    assert!(
        e.message().contains("client_assertion_key does not load"),
        "{}",
        e.message()
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let e = with(Value::from(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ))
    .err()
    .unwrap();
    assert_eq!(e.kind(), ErrorKind::AssertionKey);
    let e = err(r#"{"client_id":"a","token_endpoint":"https://as/t","auth_method":"private_key_jwt"}"#);
    assert!(
        e.message().contains("needs 'client_assertion_key'"),
        "{}",
        e.message()
    );
    let s = AuthToken::from_json(
        r#"{"client_id":"a","token_endpoint":"https://as/t","auth_method":"private_key_jwt","client_assertion_use_dpop_key":true}"#,
    )
    .unwrap();
    assert!(matches!(
        s.client_auth,
        ClientAuth::PrivateKeyJwt {
            key: AssertionKey::DpopKey,
            ..
        }
    ));
    let e = err(
        r#"{"client_id":"a","client_secret":"s","token_endpoint":"https://as/t","client_assertion_kid":"k"}"#,
    );
    assert!(e.message().contains("belongs to auth_method private_key_jwt"));
    let e =
        err(r#"{"client_id":"a","client_secret":"s","token_endpoint":"https://as/t","auth_method":"none"}"#);
    assert!(e.message().contains("sends no client secret"));
}

#[test]
fn grants_take_their_own_members_only() {
    let base = r#""client_id":"a","client_secret":"s","token_endpoint":"https://as/t""#;
    let s = AuthToken::from_json(&format!(
        r#"{{{base},"grant_type":"{TOKEN_EXCHANGE}","subject_token":"st","subject_token_type":"urn:ietf:params:oauth:token-type:access_token","actor_token":"at","actor_token_type":"urn:x"}}"#
    ))
    .unwrap();
    assert_eq!(s.grant.name(), TOKEN_EXCHANGE);
    assert_eq!(s.secrets(), ["s", "st", "at"]);
    assert!(!s.public_json.contains("\"st\"") && !s.public_json.contains("\"at\""));
    let s = AuthToken::from_json(&format!(
        r#"{{{base},"grant_type":"{JWT_BEARER}","assertion":"eyJ.x.y"}}"#
    ))
    .unwrap();
    assert_eq!(s.secrets(), ["s", "eyJ.x.y"]);
    let s = AuthToken::from_json(
        r#"{"client_id":"pub","auth_method":"none","token_endpoint":"https://as/t","grant_type":"refresh_token","refresh_token":"rt-1"}"#,
    )
    .unwrap();
    assert_eq!(s.secrets(), ["rt-1"]);
    assert!(!s.public_json.contains("rt-1"));
    let msg = |json: String| err(&json).message().to_string();
    assert!(msg(format!(r#"{{{base},"subject_token":"x"}}"#)).contains("belongs to grant_type"));
    assert!(msg(format!(
        r#"{{{base},"grant_type":"{TOKEN_EXCHANGE}","subject_token":"x"}}"#
    ))
    .contains("subject_token_type"));
    assert!(msg(format!(
        r#"{{{base},"grant_type":"{TOKEN_EXCHANGE}","subject_token":"x","subject_token_type":"t","actor_token":"y"}}"#
    ))
    .contains("go together"));
    assert!(msg(format!(r#"{{{base},"grant_type":"password"}}"#)).contains("unsupported grant_type"));
}

#[test]
fn policies_have_limits() {
    let base = r#""client_id":"a","client_secret":"s","token_endpoint":"https://as/t""#;
    let s = AuthToken::from_json(&format!(
        r#"{{{base},"retry_after_max":0,"clock_correction":false}}"#
    ))
    .unwrap();
    assert_eq!(s.retry_after_max, Duration::ZERO);
    assert!(!s.clock_correction);
    assert!(err(&format!(r#"{{{base},"retry_after_max":301}}"#))
        .message()
        .contains("0 to 300"));
    assert!(err(&format!(r#"{{{base},"retry_after_max":-1}}"#))
        .message()
        .contains("0 to 300"));
    assert!(err(&format!(r#"{{{base},"clock_correction":"yes"}}"#))
        .message()
        .contains("true or false"));
    assert!(err(&format!(r#"{{{base},"profile":"fapi1"}}"#))
        .message()
        .contains("unknown profile"));
}

#[test]
fn the_fapi2_profile_refuses_what_fapi_2_forbids() {
    let e = err(r#"{"client_id":"a","client_secret":"s","issuer":"https://as","profile":"fapi2"}"#);
    assert_eq!(e.kind(), ErrorKind::ProfileViolation);
    assert!(e.message().contains("only private_key_jwt") && e.message().contains("client_secret_post"));
    let e = err(
        r#"{"client_id":"a","token_endpoint":"https://as/t","profile":"fapi2","auth_method":"private_key_jwt","client_assertion_use_dpop_key":true}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ProfileViolation);
    assert!(e.message().contains("give 'issuer'"));
    let e = err(
        r#"{"client_id":"a","issuer":"https://as","profile":"fapi2","auth_method":"private_key_jwt","client_assertion_use_dpop_key":true,"clock_correction":false}"#,
    );
    assert!(e.message().contains("server's clock"));
    let es384 = Key::generate(Algorithm::Es384).unwrap();
    let json = serde_json::json!({"client_id":"a","issuer":"https://as","profile":"fapi2","auth_method":"private_key_jwt",
        "client_assertion_key": es384.private_jwk().as_str()});
    let e = err(&json.to_string());
    assert_eq!(e.kind(), ErrorKind::ProfileViolation);
    assert!(e.message().contains("PS256, ES256 and EdDSA only") && e.message().contains("ES384"));
    let s = AuthToken::from_json(
        r#"{"client_id":"a","issuer":"https://as","profile":"fapi2","auth_method":"private_key_jwt","client_assertion_use_dpop_key":true}"#,
    )
    .unwrap();
    assert!(s.strict_time());
}
