//! A saved state's file (`dpop_core::fuzzing::state_open`, which opens it as
//! `Client::load_state` does, with a passphrase's key derivations at one PBKDF2 iteration
//! instead of 600 000), for the token settings `STATE_SETTINGS`.
//!
//! Input: `FLAGS REST`. The bits of the byte `FLAGS`:
//! - 0 and 1, what `REST` is: 0, a state file as it is; 1, a state file whose last 32 bytes (its
//!   checksum) the target replaces with the SHA-256 of the bytes before them, so that a change
//!   gets past the checksum; 2, the contents (JSON) of a passphrase state, which the target
//!   seals with `STATE_KEY` and `STATE_PASSPHRASE` (`StateSealer`); 3, the same for a protector
//!   state.
//! - 2: open with the protector `FUZZ` (`StateProtector`) instead of the passphrase.
//! - 3: open with the wrong one instead: another passphrase, or the protector `OTHER`.
//! - 4: open for the settings bound to the issuer (`STATE_SETTINGS[1]`), not the token endpoint.
//!
//! Properties: no panic. An error is `StateCorrupt`, `StateLocked` or `StateForeign`, and its
//! message holds neither passphrase (unless the input holds it, which a message may echo) nor,
//! for contents inputs, their `refresh_token` (checked against the same contents with another
//! token, as auth_token does). A state that opens is consistent: it is bound to the settings'
//! client_id and issuer (or, without an issuer, token endpoint); its key's thumbprint is the
//! saved `jkt` and the SHA-256 of its public JWK, which holds no private member, and its private
//! JWK loads as the same key (checked once for each key: it depends on the key alone); its
//! algorithm is the saved `alg`; the contents inputs open to the members they hold (`alg` in any
//! case); the file that saving it again writes opens to the same key and contents.
#![no_main]

use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_core::fuzzing::{
    state_open, OpenedState, StateProtector, StateSealer, StateSettings, STATE_KEY, STATE_PASSPHRASE,
    STATE_SETTINGS,
};
use dpop_core::{ErrorKind, Key, StateProtection};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

const WRONG_PASSPHRASE: &str = "fuzz-wrong-passphrase-8mZc";
/// Stands in for a contents input's refresh token in the comparison run.
const OTHER_SECRET: &str = "\u{1}other-refresh-token\u{1}";
const MEMBERS: [&str; 6] = [
    "issuer",
    "token_endpoint",
    "client_id",
    "jkt",
    "alg",
    "refresh_token",
];

/// The sealers of the contents inputs, passphrase (`[0]`) and protector (`[1]`): made once, as
/// a client makes one when it saves and reuses it for every refresh token.
fn sealer(protector: bool) -> &'static StateSealer {
    static SEALERS: OnceLock<[StateSealer; 2]> = OnceLock::new();
    let sealers = SEALERS.get_or_init(|| {
        let key = Key::load_memory(STATE_KEY.as_bytes(), None).expect("STATE_KEY loads");
        [false, true].map(|p| StateSealer::new(&key, &protection(p, false)).expect("a sealer"))
    });
    &sealers[usize::from(protector)]
}

fn settings(issuer: bool) -> &'static StateSettings {
    static SETTINGS: OnceLock<[StateSettings; 2]> = OnceLock::new();
    let settings = SETTINGS.get_or_init(|| STATE_SETTINGS.map(|s| StateSettings::new(s).expect("settings")));
    &settings[usize::from(issuer)]
}

fn protection(protector: bool, wrong: bool) -> StateProtection<'static> {
    match (protector, wrong) {
        (false, false) => StateProtection::Passphrase(STATE_PASSPHRASE),
        (false, true) => StateProtection::Passphrase(WRONG_PASSPHRASE),
        (true, false) => StateProtection::Protector(Arc::new(StateProtector("FUZZ"))),
        (true, true) => StateProtection::Protector(Arc::new(StateProtector("OTHER"))),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let opening = protection(flags & 4 != 0, flags & 8 != 0);
    let issuer = flags & 16 != 0;
    let settings = settings(issuer);
    // For contents inputs: the contents, and the sealer they were sealed with.
    let contents = (flags & 2 != 0).then(|| (rest, sealer(flags & 1 != 0)));
    let file = match (flags & 3, contents) {
        (_, Some((rest, sealer))) => sealer.seal(rest).expect("any contents can be sealed"),
        (0, None) => rest.to_vec(),
        _ => with_checksum(rest),
    };
    match state_open(&file, &opening, settings) {
        Ok(opened) => consistent(&opened, &opening, issuer, contents.map(|(rest, _)| rest)),
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::StateCorrupt | ErrorKind::StateLocked | ErrorKind::StateForeign
                ),
                "not a state error: {e:?}"
            );
            let message = e.message();
            for passphrase in [STATE_PASSPHRASE, WRONG_PASSPHRASE] {
                assert!(
                    !message.contains(passphrase) || holds(data, passphrase.as_bytes()),
                    "the error shows a passphrase: {e:?}"
                );
            }
            if let Some((rest, sealer)) = contents {
                refresh_token_hidden(message, rest, sealer, &opening, settings);
            }
        }
    }
});

/// `body` with its last 32 bytes replaced by the SHA-256 of the bytes before them.
fn with_checksum(body: &[u8]) -> Vec<u8> {
    let Some(end) = body.len().checked_sub(32) else {
        return body.to_vec();
    };
    let mut file = body[..end].to_vec();
    let checksum = Sha256::digest(&file);
    file.extend_from_slice(&checksum);
    file
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn consistent(opened: &OpenedState, opening: &StateProtection<'_>, issuer: bool, contents: Option<&[u8]>) {
    let key = &opened.key;
    let saved: Value = serde_json::from_str(&opened.contents).expect("the contents are JSON");
    // The settings' own state: the same client_id, and the same issuer, or no issuer and the
    // same token endpoint.
    let expected: Value = serde_json::from_str(STATE_SETTINGS[usize::from(issuer)]).expect("JSON");
    assert_eq!(
        saved["client_id"], expected["client_id"],
        "another client's state opens"
    );
    match expected.get("issuer") {
        Some(issuer) => assert_eq!(&saved["issuer"], issuer, "another issuer's state opens"),
        None => assert!(
            saved["issuer"].is_null() && saved["token_endpoint"] == expected["token_endpoint"],
            "another token endpoint's state opens"
        ),
    }
    assert_eq!(saved["jkt"], key.thumbprint(), "the key is not the saved jkt's");
    assert_eq!(saved["alg"], key.alg().name(), "the key signs with another alg");
    let digest = Base64UrlUnpadded::encode_string(&Sha256::digest(key.public_jwk().as_bytes()));
    assert_eq!(digest, key.thumbprint(), "the thumbprint is not the public JWK's");
    let public: Value = serde_json::from_str(key.public_jwk()).expect("the public JWK is JSON");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(public.get(private).is_none(), "the public JWK holds '{private}'");
    }
    private_jwk_round_trips(key);

    if let Some(contents) = contents {
        let given: Value = serde_json::from_slice(contents).expect("contents that open are JSON");
        for member in MEMBERS {
            let given = given.get(member).unwrap_or(&Value::Null);
            if member == "alg" {
                // Algorithm names are case-insensitive; the state saves the JWS spelling.
                let given = given.as_str().expect("an alg that opens is a string");
                assert!(
                    given.eq_ignore_ascii_case(key.alg().name()),
                    "'alg' opens to another value"
                );
            } else {
                assert_eq!(&saved[member], given, "'{member}' opens to another value");
            }
        }
    }

    let reopened =
        state_open(&opened.saved_again, opening, settings(issuer)).expect("the state saved again opens");
    assert_eq!(
        *reopened.contents, *opened.contents,
        "saved again, the contents change"
    );
    assert_eq!(
        reopened.key.thumbprint(),
        key.thumbprint(),
        "saved again, the key changes"
    );
    assert_eq!(reopened.key.alg(), key.alg());
}

/// The private JWK loads again as the same key. Checked once for each key (at most 1024), since
/// it depends on the key alone: loading a P-256 key takes milliseconds in the fuzz build.
fn private_jwk_round_trips(key: &Key) {
    static CHECKED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let jwk = key.private_jwk();
    let mut checked = CHECKED.lock().unwrap();
    let checked = checked.get_or_insert_with(HashSet::new);
    if checked.contains(jwk.as_str()) {
        return;
    }
    let again = Key::load_memory(jwk.as_bytes(), None).expect("the private JWK loads");
    assert_eq!(
        again.thumbprint(),
        key.thumbprint(),
        "the private JWK is another key"
    );
    assert_eq!(again.alg(), key.alg());
    if checked.len() < 1024 {
        checked.insert(jwk.to_string());
    }
}

/// An error on a contents input does not show its refresh token, unless the same contents with
/// another refresh token give an error that shows it too (it is part of another member, or of
/// the message's own words).
fn refresh_token_hidden(
    message: &str,
    contents: &[u8],
    sealer: &StateSealer,
    opening: &StateProtection<'_>,
    settings: &StateSettings,
) {
    let Ok(Value::Object(mut members)) = serde_json::from_slice::<Value>(contents) else {
        return;
    };
    let Some(Value::String(secret)) = members.get("refresh_token").cloned() else {
        return;
    };
    if secret.is_empty() || !message.contains(&secret) {
        return;
    }
    members.insert("refresh_token".into(), Value::from(OTHER_SECRET));
    let payload = Value::Object(members).to_string();
    let file = sealer
        .seal(payload.as_bytes())
        .expect("any contents can be sealed");
    let other = state_open(&file, opening, settings)
        .err()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        other.contains(&secret),
        "the error shows the refresh token {secret:?}: {message}"
    );
}
