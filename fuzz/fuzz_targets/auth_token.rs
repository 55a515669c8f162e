//! The AuthToken settings JSON (`dpop_core::fuzzing::auth_token`), the input as UTF-8 (invalid
//! sequences replaced).
//!
//! Properties: no panic; an error never shows the client secret. The second is checked against
//! the same settings with another secret: a secret that also appears in that error (it is part
//! of another member, or of the message's own words) is not a leak.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Stands in for the client secret in the comparison run; no input member is this string.
const OTHER_SECRET: &str = "\u{1}other-secret\u{1}";

fuzz_target!(|data: &[u8]| {
    let json = String::from_utf8_lossy(data);
    let Err(error) = dpop_core::fuzzing::auth_token(&json) else {
        return;
    };
    let message = error.to_string();
    let Ok(Value::Object(mut members)) = serde_json::from_str::<Value>(&json) else {
        return;
    };
    let Some(Value::String(secret)) = members.get("client_secret").cloned() else {
        return;
    };
    if secret.is_empty() || !message.contains(&secret) {
        return;
    }
    members.insert("client_secret".into(), Value::from(OTHER_SECRET));
    let other = dpop_core::fuzzing::auth_token(&Value::Object(members).to_string())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        other.contains(&secret),
        "the error shows the client secret {secret:?}: {message}"
    );
});
