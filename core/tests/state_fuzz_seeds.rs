//! The state_file fuzz target's entry points (`dpop_core::fuzzing`, feature `fuzzing`) open
//! what the library saves. With `STATE_SEEDS_DIR` set, the files are written there for
//! fuzz/make-state-seeds.sh, which makes the seed corpus from them; without it, into a
//! temporary folder that is deleted.
//!
//! `Client::save_state` writes the protector states, and one passphrase state at libdpop's own
//! cost (which the target's cheap key derivation cannot open: a locked state). The other
//! passphrase states are sealed by `StateSealer`, at the target's cost, around the contents
//! that the protector states opened to.

use dpop_core::fuzzing::{
    state_open, StateProtector, StateSealer, StateSettings, STATE_KEY, STATE_PASSPHRASE, STATE_SETTINGS,
};
use dpop_core::{Algorithm, Client, ErrorKind, Key, StateProtection};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const REFRESH: &str = "rt-fuzz-seed-Kq93vX";

fn protector() -> StateProtection<'static> {
    StateProtection::Protector(Arc::new(StateProtector("FUZZ")))
}

/// A state of `key` for `STATE_SETTINGS[settings]`, with a refresh token or none, saved by
/// `Client::save_state` to `path`.
fn save(path: &Path, key: Key, settings: usize, refresh: bool, protection: StateProtection<'_>) {
    let mut json: serde_json::Value = serde_json::from_str(STATE_SETTINGS[settings]).unwrap();
    if refresh {
        json["grant_type"] = "refresh_token".into();
        json["refresh_token"] = REFRESH.into();
    }
    let client = Client::new();
    client.set_auth_token(&json.to_string()).unwrap();
    client.set_key(Arc::new(key));
    client.save_state(path, protection).unwrap();
}

#[test]
fn the_fuzzing_entry_points_open_what_the_library_saves() {
    let keep = std::env::var_os("STATE_SEEDS_DIR");
    let dir = match &keep {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("dpop-state-seeds-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let state_key = || Key::load_memory(STATE_KEY.as_bytes(), None).unwrap();
    let settings_of = |i: usize| StateSettings::new(STATE_SETTINGS[i]).unwrap();
    let rsa = Key::generate_rsa(2048, Algorithm::Rs256).unwrap();
    let new = |alg| Key::generate(alg).unwrap();
    // name, key, settings, refresh token
    let states = [
        ("eddsa", state_key(), 0, true),
        ("eddsa-issuer", state_key(), 1, true),
        ("eddsa-other-key-no-refresh", new(Algorithm::EdDsa), 0, false),
        ("es256", new(Algorithm::Es256), 0, true),
        ("es384-issuer", new(Algorithm::Es384), 1, true),
        ("rs256", rsa, 0, true),
    ];
    for (name, key, settings, refresh) in states {
        let thumbprint = key.thumbprint().to_string();
        let alg = key.alg();
        let path = dir.join(format!("protector-{name}.state"));
        save(&path, key, settings, refresh, protector());
        let file = std::fs::read(&path).unwrap();
        let opened = state_open(&file, &protector(), &settings_of(settings)).unwrap();
        assert_eq!(opened.key.thumbprint(), thumbprint);
        assert_eq!(opened.key.alg(), alg);
        assert_eq!(opened.contents.contains(REFRESH), refresh);
        let other = state_open(&file, &protector(), &settings_of(1 - settings))
            .err()
            .expect("a state for the other settings does not open");
        assert_eq!(other.kind(), ErrorKind::StateForeign, "{other:?}");
        std::fs::write(
            dir.join(format!("contents-{name}.json")),
            opened.contents.as_bytes(),
        )
        .unwrap();

        let passphrase = StateProtection::Passphrase(STATE_PASSPHRASE);
        let sealer = StateSealer::new(&opened.key, &passphrase).unwrap();
        let sealed = sealer.seal(opened.contents.as_bytes()).unwrap();
        let reopened = state_open(&sealed, &passphrase, &settings_of(settings)).unwrap();
        assert_eq!(reopened.key.thumbprint(), thumbprint);
        assert_eq!(*reopened.contents, *opened.contents);
        std::fs::write(dir.join(format!("passphrase-{name}.state")), &sealed).unwrap();
    }
    let path = dir.join("passphrase-eddsa-standard-cost.state");
    save(
        &path,
        state_key(),
        0,
        true,
        StateProtection::Passphrase(STATE_PASSPHRASE),
    );
    let file = std::fs::read(&path).unwrap();
    let passphrase = StateProtection::Passphrase(STATE_PASSPHRASE);
    let locked = state_open(&file, &passphrase, &settings_of(0))
        .err()
        .expect("the target's key derivation does not open a state of libdpop's own");
    assert_eq!(locked.kind(), ErrorKind::StateLocked, "{locked:?}");
    if keep.is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
