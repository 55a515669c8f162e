//! The saved state without a server: round trips, every way a file can be wrong, what a
//! failed load leaves, the file's mode and replacement, clear.

use super::*;
use crate::{Client, ErrorKind, Key};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use sha2::Digest;
use std::sync::atomic::AtomicUsize;

const PASSPHRASE: &str = "correct horse battery staple";
const REFRESH: &str = "rt-given-Vq3xP8sL2kM9";
const ENDPOINT: &str = "https://as.example/token";

fn tempdir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dpop-state-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A public client at ENDPOINT whose settings give REFRESH (the "refresh_token" grant).
fn settings_with_refresh(client_id: &str) -> String {
    serde_json::json!({"client_id": client_id, "auth_method": "none", "token_endpoint": ENDPOINT,
        "grant_type": "refresh_token", "refresh_token": REFRESH})
    .to_string()
}

/// The same client without a refresh token of its own.
fn settings(client_id: &str, endpoint: &str) -> String {
    serde_json::json!({"client_id": client_id, "auth_method": "none", "token_endpoint": endpoint}).to_string()
}

fn client(settings: &str) -> Client {
    let c = Client::new();
    c.set_auth_token(settings).unwrap();
    c
}

/// A client with a new ES256 key and a refresh token in its settings, saved to `path`.
fn saved(path: &Path, protection: StateProtection<'_>) -> Client {
    let c = client(&settings_with_refresh("desktop"));
    c.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    c.save_state(path, protection).unwrap();
    c
}

fn thumbprint(c: &Client) -> Option<String> {
    c.key.read().as_ref().map(|k| k.thumbprint().to_string())
}

fn refresh_token(c: &Client) -> Option<String> {
    c.tokens.refresh_token().map(|rt| rt.to_string())
}

/// A protector for the tests (DPAPI itself runs under Wine): AES-256-GCM under a key of its
/// own, with the context as associated data, so another "user" (another key) cannot open it.
struct TestProtector {
    name: &'static str,
    key: [u8; 32],
}

impl Protector for TestProtector {
    fn name(&self) -> &str {
        self.name
    }

    fn protect(&self, data: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).unwrap());
        let nonce: [u8; 12] = format::tests_random();
        let mut sealed = data.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context),
            &mut sealed,
        )
        .unwrap();
        Ok([&nonce[..], &sealed].concat())
    }

    fn unprotect(&self, blob: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.key).unwrap());
        let not_ours = || Error::new(ErrorKind::Crypto, "the data is not this user's");
        let (nonce, sealed) = blob.split_at_checked(12).ok_or_else(not_ours)?;
        let mut out = Zeroizing::new(sealed.to_vec());
        let len = key
            .open_in_place(
                Nonce::try_assume_unique_for_key(nonce).unwrap(),
                Aad::from(context),
                &mut out,
            )
            .map_err(|_| not_ours())?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

fn protector(key: u8) -> StateProtection<'static> {
    StateProtection::Protector(Arc::new(TestProtector {
        name: "TEST",
        key: [key; 32],
    }))
}

fn load_kind(c: &Client, path: &Path, protection: StateProtection<'_>) -> ErrorKind {
    c.load_state(path, protection).unwrap_err().kind()
}

#[test]
fn a_passphrase_state_round_trips_the_key_and_the_refresh_token() {
    let dir = tempdir("round-trip");
    let path = dir.join("state.bin");
    let first = saved(&path, StateProtection::Passphrase(PASSPHRASE));
    let second = client(&settings("desktop", ENDPOINT));
    assert_eq!(thumbprint(&second), None);
    second
        .load_state(&path, StateProtection::Passphrase(PASSPHRASE))
        .unwrap();
    assert_eq!(thumbprint(&second), thumbprint(&first));
    assert_eq!(refresh_token(&second).as_deref(), Some(REFRESH));
    // The file holds neither the refresh token nor the key in the clear.
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(REFRESH) && !text.contains("desktop") && !text.contains(PASSPHRASE));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_protector_state_round_trips_and_another_user_cannot_open_it() {
    let dir = tempdir("protector");
    let path = dir.join("state.bin");
    let first = saved(&path, protector(1));
    let second = client(&settings("desktop", ENDPOINT));
    second.load_state(&path, protector(1)).unwrap();
    assert_eq!(thumbprint(&second), thumbprint(&first));
    assert_eq!(refresh_token(&second).as_deref(), Some(REFRESH));
    let third = client(&settings("desktop", ENDPOINT));
    let e = third.load_state(&path, protector(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateLocked, "{e:?}");
    assert!(e.message().contains("another user"), "{e:?}");
    assert_eq!(
        load_kind(&third, &path, StateProtection::Passphrase(PASSPHRASE)),
        ErrorKind::StateLocked,
        "a protector's state asked with a passphrase"
    );
    let other = StateProtection::Protector(Arc::new(TestProtector {
        name: "OTHER",
        key: [1; 32],
    }));
    assert_eq!(load_kind(&third, &path, other), ErrorKind::StateLocked);
    assert_eq!(thumbprint(&third), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_wrong_passphrase_is_locked_and_told_apart_from_damage() {
    let dir = tempdir("wrong-passphrase");
    let path = dir.join("state.bin");
    saved(&path, StateProtection::Passphrase(PASSPHRASE));
    let c = client(&settings("desktop", ENDPOINT));
    let e = c
        .load_state(&path, StateProtection::Passphrase("not the passphrase"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateLocked, "{e:?}");
    assert!(e.message().contains("passphrase does not open it"), "{e:?}");
    assert!(!e.message().contains("not the passphrase"));
    assert_eq!(load_kind(&c, &path, protector(1)), ErrorKind::StateLocked);
    assert_eq!(
        load_kind(&c, &path, StateProtection::Passphrase("")),
        ErrorKind::InvalidArgument
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A client with its own key and refresh token, and what a failed load must leave of it.
struct Bystander {
    client: Client,
    thumbprint: Option<String>,
}

impl Bystander {
    fn new() -> Self {
        let client = client(&settings_with_refresh("desktop"));
        client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
        client
            .tokens
            .restore(Some(Zeroizing::new("rt-bystander".into())), || {});
        let thumbprint = thumbprint(&client);
        Self { client, thumbprint }
    }

    /// The key, the refresh token and the settings are as before, and nothing saves by itself.
    fn unchanged(&self) -> bool {
        thumbprint(&self.client) == self.thumbprint
            && refresh_token(&self.client).as_deref() == Some("rt-bystander")
            && self.client.state.current().is_none()
            && self
                .client
                .settings()
                .auth_token
                .is_some_and(|s| s.contains("\"desktop\""))
    }
}

#[test]
fn every_flipped_byte_is_corrupt_and_leaves_the_client_as_it_was() {
    let dir = tempdir("flipped");
    let path = dir.join("state.bin");
    saved(&path, StateProtection::Passphrase(PASSPHRASE));
    let good = std::fs::read(&path).unwrap();
    let damaged = dir.join("damaged.bin");
    let bystander = Bystander::new();
    for i in 0..good.len() {
        let mut bytes = good.clone();
        bytes[i] ^= 0x01 << (i % 8);
        std::fs::write(&damaged, &bytes).unwrap();
        let e = bystander
            .client
            .load_state(&damaged, StateProtection::Passphrase(PASSPHRASE))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StateCorrupt, "byte {i}: {e:?}");
    }
    assert!(bystander.unchanged());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_truncation_and_an_empty_file_are_corrupt() {
    let dir = tempdir("truncated");
    let path = dir.join("state.bin");
    saved(&path, protector(3));
    let good = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.bin");
    let bystander = Bystander::new();
    for len in 0..good.len() {
        std::fs::write(&cut, &good[..len]).unwrap();
        let e = bystander.client.load_state(&cut, protector(3)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StateCorrupt, "{len} bytes: {e:?}");
        if len == 0 {
            assert!(e.message().contains("empty"), "{e:?}");
        }
    }
    let mut longer = good.clone();
    longer.push(0);
    std::fs::write(&cut, &longer).unwrap();
    assert_eq!(
        load_kind(&bystander.client, &cut, protector(3)),
        ErrorKind::StateCorrupt
    );
    assert!(bystander.unchanged());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn other_programs_files_are_corrupt() {
    let dir = tempdir("other-files");
    let path = dir.join("other.json");
    let bystander = Bystander::new();
    let pem = Key::generate(Algorithm::Es256)
        .unwrap()
        .private_pem(None)
        .unwrap();
    let others: [&[u8]; 5] = [
        br#"{"refresh_token":"x","client_id":"desktop","version":1}"#,
        pem.as_bytes(),
        b"\x89libdpop state\r\n",
        &[0u8; 4096],
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    ];
    for other in others {
        std::fs::write(&path, other).unwrap();
        let e = bystander
            .client
            .load_state(&path, StateProtection::Passphrase(PASSPHRASE))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StateCorrupt, "{e:?}");
    }
    std::fs::write(&path, vec![b'x'; (1 << 20) + 1]).unwrap();
    assert_eq!(
        load_kind(&bystander.client, &path, StateProtection::Passphrase(PASSPHRASE)),
        ErrorKind::StateCorrupt
    );
    let missing = bystander
        .client
        .load_state(&dir.join("missing.bin"), StateProtection::Passphrase(PASSPHRASE))
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Io);
    assert!(missing.message().contains("no saved state"), "{missing:?}");
    assert!(bystander.unchanged());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Replaces the checksum after a change, as someone who alters the file on purpose would.
fn rechecksum(bytes: &mut Vec<u8>) {
    bytes.truncate(bytes.len() - 32);
    let sum = sha2::Sha256::digest(&bytes[..]);
    bytes.extend_from_slice(&sum);
}

#[test]
fn altered_files_with_a_fixed_checksum_are_still_refused() {
    let dir = tempdir("altered");
    let path = dir.join("state.bin");
    saved(&path, StateProtection::Passphrase(PASSPHRASE));
    let good = std::fs::read(&path).unwrap();
    let altered = dir.join("altered.bin");
    let c = client(&settings("desktop", ENDPOINT));
    // The sealed contents (just before the checksum): they no longer authenticate.
    let mut bytes = good.clone();
    let at = bytes.len() - 40;
    bytes[at] ^= 1;
    rechecksum(&mut bytes);
    std::fs::write(&altered, &bytes).unwrap();
    let e = c
        .load_state(&altered, StateProtection::Passphrase(PASSPHRASE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt, "{e:?}");
    assert!(e.message().contains("authenticate"), "{e:?}");
    // The version: a newer libdpop's file is named as such.
    let mut bytes = good.clone();
    bytes[16] = 2;
    rechecksum(&mut bytes);
    std::fs::write(&altered, &bytes).unwrap();
    let e = c
        .load_state(&altered, StateProtection::Passphrase(PASSPHRASE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt);
    assert!(e.message().contains("format version 2"), "{e:?}");
    // The key derivation's id: only libdpop's one, whatever the file asks for.
    let mut bytes = good.clone();
    bytes[18] = 9;
    rechecksum(&mut bytes);
    std::fs::write(&altered, &bytes).unwrap();
    let e = c
        .load_state(&altered, StateProtection::Passphrase(PASSPHRASE))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StateCorrupt);
    assert!(e.message().contains("unknown key derivation"), "{e:?}");
    assert_eq!(thumbprint(&c), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_key_encrypted_with_other_parameters_is_refused_before_its_kdf_runs() {
    // An encrypted PKCS#8 with 2048 iterations (openssl's default), in place of libdpop's.
    let key = Key::generate(Algorithm::Es256).unwrap();
    let info_der = key.private_pkcs8_der().unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(info_der.as_slice()).unwrap();
    let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &[1; 16], &[2; 16]).unwrap();
    let encrypted = info.encrypt_with_params(params, PASSPHRASE).unwrap();
    let e = Key::load_own_encrypted(encrypted.as_bytes(), PASSPHRASE, 600_000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyUnsupportedEncryption, "{e:?}");
    // libdpop's own export loads.
    let own = key.private_pkcs8_der_encrypted(PASSPHRASE, 600_000).unwrap();
    let loaded = Key::load_own_encrypted(&own, PASSPHRASE, 600_000).unwrap();
    assert_eq!(loaded.thumbprint(), key.thumbprint());
}

/// The fuzz targets' cheap key derivation (`Cost::FUZZING`) and libdpop's own are not
/// interchangeable: a state sealed at one cost is locked at the other.
#[test]
fn a_state_opens_only_at_the_cost_it_was_sealed_at() {
    let key = Key::generate(Algorithm::Es256).unwrap();
    let contents = Contents {
        binding: Binding {
            issuer: None,
            token_endpoint: Some(ENDPOINT.into()),
            client_id: "desktop".into(),
            jkt: key.thumbprint().into(),
        },
        alg: Algorithm::Es256,
        refresh_token: Some(Zeroizing::new(REFRESH.into())),
    };
    let passphrase = StateProtection::Passphrase(PASSPHRASE);
    for (seal_cost, other_cost) in [(Cost::FUZZING, Cost::STANDARD), (Cost::STANDARD, Cost::FUZZING)] {
        let file = Sealer::new(&key, &passphrase, seal_cost)
            .unwrap()
            .seal(&contents)
            .unwrap();
        let Ok((opened, opened_contents, _)) = format::open(&file, &passphrase, seal_cost, |_| Ok(())) else {
            panic!("a state does not open at the cost it was sealed at");
        };
        assert_eq!(opened.thumbprint(), key.thumbprint());
        assert_eq!(opened_contents.binding, contents.binding);
        let Err(e) = format::open(&file, &passphrase, other_cost, |_| Ok(())) else {
            panic!("a state opens at another cost than it was sealed at");
        };
        assert_eq!(e.kind(), ErrorKind::StateLocked, "{e:?}");
    }
}

#[test]
fn a_state_for_other_settings_is_foreign() {
    let dir = tempdir("foreign");
    let path = dir.join("state.bin");
    saved(&path, protector(4));
    let issuer = serde_json::json!({"client_id": "desktop", "auth_method": "none",
        "issuer": "https://as.example"})
    .to_string();
    for other in [
        settings("another-client", ENDPOINT),
        settings("desktop", "https://as.example/other-token"),
        issuer,
    ] {
        let c = client(&other);
        let e = c.load_state(&path, protector(4)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StateForeign, "{other}: {e:?}");
        assert!(
            e.message()
                .contains("client 'desktop' at the token endpoint https://as.example/token"),
            "{e:?}"
        );
        assert_eq!(thumbprint(&c), None);
        assert_eq!(refresh_token(&c), None);
    }
    // Loaded before any settings: refused, so the refresh token cannot be dropped unseen.
    let bare = Client::new();
    let e = bare.load_state(&path, protector(4)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenConfig, "{e:?}");
    assert_eq!(thumbprint(&bare), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn saving_needs_a_key_and_settings() {
    let dir = tempdir("needs");
    let path = dir.join("state.bin");
    let no_key = client(&settings("desktop", ENDPOINT));
    assert_eq!(
        no_key.save_state(&path, protector(5)).unwrap_err().kind(),
        ErrorKind::KeyNotLoaded
    );
    let no_settings = Client::new();
    no_settings.set_key(Arc::new(Key::generate(Algorithm::EdDsa).unwrap()));
    assert_eq!(
        no_settings.save_state(&path, protector(5)).unwrap_err().kind(),
        ErrorKind::TokenConfig
    );
    assert!(!path.exists());
    // A key without a refresh token yet is a state too.
    let key_only = client(&settings("desktop", ENDPOINT));
    key_only.set_key(Arc::new(Key::generate(Algorithm::EdDsa).unwrap()));
    key_only.save_state(&path, protector(5)).unwrap();
    let loaded = client(&settings("desktop", ENDPOINT));
    loaded.load_state(&path, protector(5)).unwrap();
    assert_eq!(thumbprint(&loaded), thumbprint(&key_only));
    assert_eq!(refresh_token(&loaded), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_rsa_key_keeps_its_algorithm() {
    let dir = tempdir("rsa");
    let path = dir.join("state.bin");
    let c = client(&settings("desktop", ENDPOINT));
    let key = Key::generate_rsa(2048, Algorithm::Rs256).unwrap();
    c.set_key(Arc::new(key));
    c.save_state(&path, protector(6)).unwrap();
    let loaded = client(&settings("desktop", ENDPOINT));
    loaded.load_state(&path, protector(6)).unwrap();
    assert_eq!(loaded.key.read().as_ref().unwrap().alg(), Algorithm::Rs256);
    assert_eq!(thumbprint(&loaded), thumbprint(&c));
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(unix)]
#[test]
fn the_file_is_owner_only_and_replaced_whole() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempdir("mode");
    let path = dir.join("state.bin");
    // An older file anyone may read, and a hard link to it.
    std::fs::write(&path, b"old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.join("link.bin");
    std::fs::hard_link(&path, &link).unwrap();
    let first = saved(&path, protector(7));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    // Renamed over, not written into: the old file (seen through the link) is untouched.
    assert_eq!(std::fs::read(&link).unwrap(), b"old");
    assert_ne!(meta.ino(), std::fs::metadata(&link).unwrap().ino());
    // A second save replaces the first the same way.
    std::fs::remove_file(&link).unwrap();
    std::fs::hard_link(&path, &link).unwrap();
    let before = std::fs::read(&path).unwrap();
    first.save_state(&path, protector(7)).unwrap();
    assert_eq!(std::fs::read(&link).unwrap(), before, "the old state stays whole");
    assert_ne!(std::fs::read(&path).unwrap(), before);
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["link.bin", "state.bin"]);
    // A save that cannot write leaves the file as it was.
    let blocked = dir.join("no-such-dir").join("state.bin");
    assert_eq!(
        first.save_state(&blocked, protector(7)).unwrap_err().kind(),
        ErrorKind::Io
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn clear_deletes_the_file_and_forgets_the_key_and_tokens() {
    let dir = tempdir("clear");
    let path = dir.join("state.bin");
    let c = saved(&path, protector(8));
    assert!(c.state.current().is_some());
    c.clear_state(&path).unwrap();
    assert!(!path.exists());
    assert_eq!(thumbprint(&c), None);
    assert_eq!(refresh_token(&c), None);
    assert!(c.state.current().is_none(), "it saves by itself no more");
    assert!(c.settings().auth_token.is_some(), "the settings stay");
    // Nothing there: still fine.
    c.clear_state(&path).unwrap();
    // A new refresh token after clear does not bring the file back.
    c.tokens
        .restore(Some(Zeroizing::new("rt-after-clear".into())), || {});
    c.save_rotated_state();
    assert!(!path.exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_new_refresh_token_is_saved_again_until_the_key_changes() {
    let dir = tempdir("again");
    let path = dir.join("state.bin");
    let log = dir.join("session.log");
    let c = saved(&path, protector(9));
    c.set_session_log(Some(&log)).unwrap();
    // What the token cache does when the token endpoint issues a new refresh token.
    let store = |rt: &str| {
        c.tokens
            .get(
                c.tokens.epoch(),
                std::time::Duration::ZERO,
                None,
                &crate::http::cancel::Cancel::NEVER,
                |_| {
                    Ok(crate::http::token::AccessToken {
                        value: Zeroizing::new("at".into()),
                        token_type: "DPoP".into(),
                        refresh_token: Some(Zeroizing::new(rt.into())),
                        scope: None,
                        received: std::time::Instant::now(),
                        lifetime: Some(std::time::Duration::ZERO),
                        manual: false,
                    })
                },
            )
            .unwrap();
        c.save_rotated_state();
    };
    let loaded_rt = || {
        let other = client(&settings("desktop", ENDPOINT));
        other.load_state(&path, protector(9)).unwrap();
        refresh_token(&other)
    };
    store("rt-2");
    assert_eq!(loaded_rt().as_deref(), Some("rt-2"));
    store("rt-3");
    assert_eq!(loaded_rt().as_deref(), Some("rt-3"));
    // A new key: the file keeps what it had (the state of the old key), and is left alone.
    c.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    store("rt-new-key");
    assert_eq!(loaded_rt().as_deref(), Some("rt-3"));
    assert!(c.state.current().is_none());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("(a new refresh token)"), "{text}");
    assert!(text.contains("no longer saved again"), "{text}");
    assert!(!text.contains("rt-2") && !text.contains("rt-3"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}
