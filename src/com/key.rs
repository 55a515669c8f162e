//! `Dpop.PrivateKey`: Chilkat's `PrivateKey` over the core's [`Key`].

use super::dispatch::{
    dispatch_from_type_library, get, last_error_text, last_method_success, method, optional, text, Outcome,
};
use super::interfaces::{IDpopPrivateKey, IDpopPrivateKey_Impl, InBstr};
use super::Live;
use crate::records::Records;
use dpop_core::{Algorithm, Key, Proof};
use parking_lot::RwLock;
use std::path::Path;
use std::sync::Arc;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows_core::{implement, BSTR, HRESULT};

/// A DPoP private key object. Loading again replaces the key; an `Http` given the key earlier
/// keeps the key it was given. May be used from several threads at once.
#[implement(IDpopPrivateKey)]
#[derive(Default)]
pub(crate) struct PrivateKey {
    key: RwLock<Option<Arc<Key>>>,
    records: Records,
    _live: Live,
}

impl PrivateKey {
    /// The loaded key, or the failure `SetDPoPKey` and the getters report.
    pub(crate) fn current(&self) -> Outcome<Arc<Key>> {
        self.key
            .read()
            .clone()
            .ok_or_else(|| "the PrivateKey holds no key: load or generate one first".into())
    }

    fn load(&self, name: &str, out: *mut VARIANT_BOOL, load: impl FnOnce() -> Outcome<Key>) -> HRESULT {
        method(&self.records, name, out, || {
            let key = load()?;
            *self.key.write() = Some(Arc::new(key));
            Ok(true)
        })
    }

    fn with_key<T: super::dispatch::Retval>(
        &self,
        name: &str,
        out: *mut T::Abi,
        body: impl FnOnce(&Key) -> Outcome<T>,
    ) -> HRESULT {
        method(&self.records, name, out, || {
            let key = self.current()?;
            body(&key)
        })
    }
}

dispatch_from_type_library!(PrivateKey_Impl, IDpopPrivateKey);

impl IDpopPrivateKey_Impl for PrivateKey_Impl {
    unsafe fn LoadAnyFormatFile(&self, path: InBstr, password: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("LoadAnyFormatFile", out, || {
            let path = text(&path, "path")?;
            let password = optional(&password, "password")?;
            Ok(Key::load(Path::new(&path), password.as_deref())?)
        })
    }

    unsafe fn LoadPem(&self, pem: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("LoadPem", out, || {
            Ok(Key::load_memory(text(&pem, "pem")?.as_bytes(), None)?)
        })
    }

    unsafe fn LoadEncryptedPem(&self, pem: InBstr, password: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("LoadEncryptedPem", out, || {
            let pem = text(&pem, "pem")?;
            let password = optional(&password, "password")?;
            Ok(Key::load_memory(pem.as_bytes(), password.as_deref())?)
        })
    }

    unsafe fn LoadPemFile(&self, path: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("LoadPemFile", out, || {
            Ok(Key::load(Path::new(&text(&path, "path")?), None)?)
        })
    }

    unsafe fn LoadEncryptedPemFile(&self, path: InBstr, password: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("LoadEncryptedPemFile", out, || {
            let path = text(&path, "path")?;
            let password = optional(&password, "password")?;
            Ok(Key::load(Path::new(&path), password.as_deref())?)
        })
    }

    unsafe fn LoadJwk(&self, jwk: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("LoadJwk", out, || {
            Ok(Key::load_memory(text(&jwk, "jwk")?.as_bytes(), None)?)
        })
    }

    unsafe fn GenerateKey(&self, algorithm: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.load("GenerateKey", out, || {
            let alg = optional(&algorithm, "algorithm")?;
            let alg = alg.map_or(Ok(Algorithm::Es256), |name| Algorithm::from_name(&name))?;
            Ok(Key::generate(alg)?)
        })
    }

    unsafe fn GetJwk(&self, out: *mut BSTR) -> HRESULT {
        self.with_key("GetJwk", out, |key| Ok(key.private_jwk()))
    }

    unsafe fn GetPublicJwk(&self, out: *mut BSTR) -> HRESULT {
        self.with_key("GetPublicJwk", out, |key| Ok(key.public_jwk().to_string()))
    }

    unsafe fn GetJwkThumbprint(&self, hash_alg: InBstr, out: *mut BSTR) -> HRESULT {
        self.with_key("GetJwkThumbprint", out, |key| {
            match optional(&hash_alg, "hashAlg")?.as_deref() {
                None => {}
                Some(name) if name.eq_ignore_ascii_case("SHA256") || name.eq_ignore_ascii_case("SHA-256") => {
                }
                Some(other) => return Err(format!("unsupported hash algorithm '{other}': use SHA256").into()),
            }
            Ok(key.thumbprint().to_string())
        })
    }

    unsafe fn GetPkcs8Pem(&self, out: *mut BSTR) -> HRESULT {
        self.with_key("GetPkcs8Pem", out, |key| Ok(key.private_pem(None)?))
    }

    unsafe fn GetPkcs8EncryptedPem(&self, password: InBstr, out: *mut BSTR) -> HRESULT {
        self.with_key("GetPkcs8EncryptedPem", out, |key| {
            let password = text(&password, "password")?;
            Ok(key.private_pem(Some(&password))?)
        })
    }

    unsafe fn SavePkcs8PemFile(&self, path: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.with_key("SavePkcs8PemFile", out, |key| {
            key.save_private_pem(Path::new(&text(&path, "path")?), None)?;
            Ok(true)
        })
    }

    unsafe fn SavePkcs8EncryptedPemFile(
        &self,
        password: InBstr,
        path: InBstr,
        out: *mut VARIANT_BOOL,
    ) -> HRESULT {
        self.with_key("SavePkcs8EncryptedPemFile", out, |key| {
            let password = text(&password, "password")?;
            key.save_private_pem(Path::new(&text(&path, "path")?), Some(&password))?;
            Ok(true)
        })
    }

    unsafe fn CreateProof(
        &self,
        http_method: InBstr,
        url: InBstr,
        access_token: InBstr,
        nonce: InBstr,
        extra_claims: InBstr,
        out: *mut BSTR,
    ) -> HRESULT {
        self.with_key("CreateProof", out, |key| {
            let http_method = text(&http_method, "method")?;
            let url = text(&url, "url")?;
            let access_token = optional(&access_token, "accessToken")?;
            let nonce = optional(&nonce, "nonce")?;
            let extra_claims = optional(&extra_claims, "extraClaims")?;
            Ok(Proof::new(&http_method, &url)
                .access_token(access_token.as_deref())
                .nonce(nonce.as_deref())
                .extra_claims(extra_claims.as_deref())
                .sign(key)?)
        })
    }

    unsafe fn get_KeyType(&self, out: *mut BSTR) -> HRESULT {
        get(out, || {
            self.key.read().as_ref().map_or_else(String::new, |key| {
                match key.alg() {
                    Algorithm::Es256 | Algorithm::Es384 => "ecc",
                    Algorithm::EdDsa => "ed25519",
                    Algorithm::Ps256 | Algorithm::Rs256 => "rsa",
                }
                .to_string()
            })
        })
    }

    unsafe fn get_Alg(&self, out: *mut BSTR) -> HRESULT {
        get(out, || {
            self.key
                .read()
                .as_ref()
                .map_or_else(String::new, |key| key.alg().name().to_string())
        })
    }

    unsafe fn get_BitLength(&self, out: *mut i32) -> HRESULT {
        get(out, || {
            self.key
                .read()
                .as_ref()
                .map_or(0, |key| i32::try_from(key.bits()).unwrap_or(i32::MAX))
        })
    }

    unsafe fn get_LastErrorText(&self, out: *mut BSTR) -> HRESULT {
        get(out, || last_error_text(&self.records))
    }

    unsafe fn get_LastMethodSuccess(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || last_method_success(&self.records))
    }
}
