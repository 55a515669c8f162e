//! Test helpers: keys and JWS built by hand with `ring` (so a test can break any part of a
//! proof), and a tiny HTTP/1.1 client over plain TCP or rustls.
#![allow(dead_code)] // each test binary uses a different part

use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_testserver::Server;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const CLIENT_ID: &str = "m2m.dpop";
pub const CLIENT_SECRET: &str = "secret";
/// The `algs` of the API's challenges by default.
pub const ALL_ALGS: &str = "ES256 ES384 EdDSA Ed25519 PS256 RS256";

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    SystemRandom::new().fill(&mut bytes).unwrap();
    b64(&bytes)
}

/// A proof key whose JWK and signatures the tests control.
pub enum TestKey {
    Ec {
        pair: EcdsaKeyPair,
        alg: &'static str,
        crv: &'static str,
    },
    Ed {
        pair: Ed25519KeyPair,
        seed: [u8; 32],
    },
    /// The committed throwaway RSA key (tests/data), signing PS256 or RS256.
    Rsa {
        pair: RsaKeyPair,
        alg: &'static str,
    },
}

/// A throwaway 2048-bit RSA key made for these tests only (PKCS#8 PEM); ring cannot generate
/// RSA keys.
const RSA_PEM: &str = include_str!("../data/throwaway-rsa-2048.pem");

impl TestKey {
    pub fn es256() -> TestKey {
        Self::ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "ES256", "P-256")
    }

    pub fn es384() -> TestKey {
        Self::ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "ES384", "P-384")
    }

    pub fn ed25519() -> TestKey {
        let mut seed = [0u8; 32];
        SystemRandom::new().fill(&mut seed).unwrap();
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).unwrap();
        TestKey::Ed { pair, seed }
    }

    /// The throwaway RSA key, signing with `alg` (PS256 or RS256).
    pub fn rsa(alg: &'static str) -> TestKey {
        let body: String = RSA_PEM
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = base64ct::Base64::decode_vec(&body).unwrap();
        TestKey::Rsa {
            pair: RsaKeyPair::from_pkcs8(&der).unwrap(),
            alg,
        }
    }

    fn ec(alg: &'static signature::EcdsaSigningAlgorithm, name: &'static str, crv: &'static str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
        TestKey::Ec { pair, alg: name, crv }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Ec { alg, .. } | TestKey::Rsa { alg, .. } => alg,
            TestKey::Ed { .. } => "EdDSA",
        }
    }

    /// The public JWK with members in RFC 7638 order, so its text is the thumbprint input.
    pub fn jwk(&self) -> Value {
        match self {
            TestKey::Ec { pair, crv, .. } => {
                let point = pair.public_key().as_ref();
                let half = (point.len() - 1) / 2;
                json!({"crv": crv, "kty": "EC", "x": b64(&point[1..1 + half]), "y": b64(&point[1 + half..])})
            }
            TestKey::Ed { pair, .. } => {
                json!({"crv": "Ed25519", "kty": "OKP", "x": b64(pair.public_key().as_ref())})
            }
            TestKey::Rsa { pair, .. } => {
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({"e": b64(&public.e), "kty": "RSA", "n": b64(&public.n)})
            }
        }
    }

    /// The JWK with the private part (`d`); Ed25519 keys only.
    pub fn private_jwk(&self) -> Value {
        let TestKey::Ed { seed, .. } = self else {
            panic!("private_jwk is for Ed25519 test keys")
        };
        let mut jwk = self.jwk();
        jwk["d"] = json!(b64(seed));
        jwk
    }

    pub fn thumbprint(&self) -> String {
        b64(digest(&SHA256, self.jwk().to_string().as_bytes()).as_ref())
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Ec { pair, .. } => pair
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            TestKey::Ed { pair, .. } => pair.sign(message).as_ref().to_vec(),
            TestKey::Rsa { pair, alg } => {
                let padding: &'static dyn signature::RsaEncoding = if *alg == "PS256" {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &SystemRandom::new(), message, &mut signature)
                    .unwrap();
                signature
            }
        }
    }

    /// The usual DPoP header for this key.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }
}

/// A compact JWS of `header` and `payload` signed by `key`.
pub fn jws(header: &Value, payload: &Value, key: &TestKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

/// Valid proof claims for a request, without `ath` or `nonce`.
pub fn claims(method: &str, url: &str) -> Value {
    json!({"jti": random_id(), "htm": method, "htu": url, "iat": now()})
}

/// Valid claims for a request to the API with this access token.
pub fn api_claims(server: &Server, token: &str) -> Value {
    let mut claims = claims("GET", &server.api_url());
    claims["ath"] = json!(b64(digest(&SHA256, token.as_bytes()).as_ref()));
    claims
}

/// A valid proof for a request to the API with this access token.
pub fn api_proof(server: &Server, key: &TestKey, token: &str) -> String {
    jws(&key.header(), &api_claims(server, token), key)
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Asserts a JSON error answer with this status, `error` and `error_description`.
    pub fn assert_error(&self, status: u16, error: &str, description: &str) {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["error"], error, "{self:?}");
        assert_eq!(body["error_description"], description, "{self:?}");
    }

    /// Asserts an API refusal: 401, the JSON error and the same error in a DPoP challenge.
    pub fn assert_challenge(&self, error: &str, description: &str) {
        self.assert_error(401, error, description);
        let challenge = self
            .header("www-authenticate")
            .expect("a WWW-Authenticate header");
        let expected =
            format!(r#"DPoP error="{error}", error_description="{description}", algs="{ALL_ALGS}""#);
        assert!(challenge.starts_with(&expected), "{challenge}");
    }
}

/// The authority (`127.0.0.1:PORT`) of a server.
pub fn authority(server: &Server) -> String {
    let base = server.base_url();
    base.split_once("://").unwrap().1.to_owned()
}

/// The text of a request; a `Host` header is added unless `headers` has one.
pub fn request_text(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        text.push_str(&format!("Host: {}\r\n", authority(server)));
    }
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    text
}

/// Sends one request over plain TCP and reads the answer.
pub fn send(server: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = connect(server);
    stream
        .write_all(request_text(server, method, path, headers, body).as_bytes())
        .unwrap();
    read_reply(&mut stream)
}

pub fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(authority(server)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Reads one response, its body by Content-Length.
pub fn read_reply(stream: &mut impl Read) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut chunk).expect("a response");
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (n, v) = line.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

/// A token request with a valid proof for `key` (plus `headers`) and this form body.
pub fn token_request(server: &Server, key: &TestKey, form: &str, headers: &[(&str, &str)]) -> Reply {
    let proof = jws(&key.header(), &claims("POST", &server.token_url()), key);
    post_token(server, &proof, form, headers)
}

/// A token request with this proof (plus `headers`) and form body.
pub fn post_token(server: &Server, proof: &str, form: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("DPoP", proof),
    ];
    all.extend_from_slice(headers);
    send(server, "POST", "/token", &all, form)
}

/// The form of a client_credentials grant with client_secret_post.
pub fn client_credentials_form() -> String {
    format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}")
}

/// An access token bound to `key`.
pub fn get_token(server: &Server, key: &TestKey) -> String {
    let reply = token_request(server, key, &client_credentials_form(), &[]);
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

/// A GET of the API with `Authorization: DPoP token` and this proof.
pub fn api_get(server: &Server, token: &str, proof: &str) -> Reply {
    let authorization = format!("DPoP {token}");
    send(
        server,
        "GET",
        "/dpop/test",
        &[("Authorization", &authorization), ("DPoP", proof)],
        "",
    )
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).unwrap()).unwrap()
}
