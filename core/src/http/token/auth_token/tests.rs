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

#[test]
fn sign_in_settings_parse_with_a_public_client_by_default() {
    let s = AuthToken::from_json(
        r#"{"grant_type":"authorization_code","client_id":"desktop","issuer":"https://as.example",
            "redirect_uri":"http://127.0.0.1:0/callback","scope":"openid api","par":true,
            "authorization_params":{"prompt":"login"},"sign_in_timeout":60}"#,
    )
    .unwrap();
    assert_eq!(s.client_auth.name(), "none", "client_id alone is a public client");
    assert_eq!(s.grant.name(), "authorization_code");
    let GrantType::AuthorizationCode(sign_in) = &s.grant else {
        panic!("not the authorization code grant")
    };
    assert_eq!((sign_in.port, sign_in.path.as_str()), (0, "/callback"));
    assert!(sign_in.par);
    assert_eq!(sign_in.params, [("prompt".to_string(), "login".to_string())]);
    assert_eq!(sign_in.timeout, Duration::from_secs(60));
    assert_eq!(sign_in.redirect_uri(51234), "http://127.0.0.1:51234/callback");
    assert!(s.secrets().is_empty());
    // A confidential client keeps the usual client authentication.
    let s = AuthToken::from_json(
        r#"{"grant_type":"authorization_code","client_id":"web","client_secret":"s3","redirect_uri":"http://127.0.0.1:8400/",
            "authorization_endpoint":"https://as/authorize","token_endpoint":"https://as/token"}"#,
    )
    .unwrap();
    assert_eq!(s.client_auth.name(), "client_secret_post");
    let GrantType::AuthorizationCode(sign_in) = &s.grant else {
        panic!("not the authorization code grant")
    };
    assert_eq!(sign_in.timeout, Duration::from_secs(300), "the default");
    assert!(!sign_in.par);
}

#[test]
fn bad_sign_in_settings_are_named() {
    let msg = |extra: &str| {
        let json = format!(
            r#"{{"grant_type":"authorization_code","client_id":"d","token_endpoint":"https://as/token"{extra}}}"#
        );
        let e = err(&json);
        assert_eq!(e.kind(), ErrorKind::TokenConfig, "{json}");
        e.message().to_string()
    };
    let ok_redirect = r#","redirect_uri":"http://127.0.0.1:0/cb""#;
    let endpoint = r#","authorization_endpoint":"https://as/authorize""#;
    assert!(msg(endpoint).contains("lack 'redirect_uri'"));
    assert!(msg(ok_redirect).contains("needs 'authorization_endpoint'"));
    assert!(
        msg(&format!(r#"{endpoint},"redirect_uri":"http://192.0.2.1:0/cb""#)).contains("not on 127.0.0.1")
    );
    assert!(msg(&format!(r#"{endpoint},"redirect_uri":"https://127.0.0.1:0/cb""#)).contains("is https"));
    assert!(msg(&format!(r#"{endpoint}{ok_redirect},"par":true"#)).contains("PAR needs"));
    assert!(
        msg(&format!(r#"{endpoint}{ok_redirect},"authorization_endpoint2":1"#))
            .contains("unknown token setting")
    );
    assert!(msg(&format!(
        r#",{}{ok_redirect}"#,
        r#""authorization_endpoint":"/authorize""#
    ))
    .contains("not an absolute"));
    for reserved in [
        "state",
        "code_challenge",
        "redirect_uri",
        "dpop_jkt",
        "nonce",
        "client_id",
    ] {
        let m = msg(&format!(
            r#"{endpoint}{ok_redirect},"authorization_params":{{"{reserved}":"x"}}"#
        ));
        assert!(m.contains(&format!("'{reserved}' is set by libdpop")), "{m}");
    }
    assert!(msg(&format!(
        r#"{endpoint}{ok_redirect},"authorization_params":{{"scope":"x"}}"#
    ))
    .contains("use the setting 'scope'"));
    assert!(msg(&format!(
        r#"{endpoint}{ok_redirect},"authorization_params":{{"prompt":1}}"#
    ))
    .contains("not a string"));
    assert!(msg(&format!(r#"{endpoint}{ok_redirect},"sign_in_timeout":0"#)).contains("from 1 to"));
    assert!(msg(&format!(r#"{endpoint}{ok_redirect},"scope":"openid""#)).contains("give 'issuer'"));
    // A sign-in member under another grant is refused by name.
    let e = err(
        r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://as/t","redirect_uri":"http://127.0.0.1:0/cb"}"#,
    );
    assert!(
        e.message()
            .contains("'redirect_uri' belongs to grant_type authorization_code"),
        "{}",
        e.message()
    );
}
