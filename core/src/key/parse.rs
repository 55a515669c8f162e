//! Format detection and parsing: PEM, DER (SEC1, PKCS#1, PKCS#8, encrypted PKCS#8) and JWK.

use super::{jwk, Algorithm, Key};
use crate::error::{Error, ErrorKind, Result};
use base64ct::{Base64, Encoding};
use pkcs8::der::{self, asn1::OctetStringRef, Decode, Reader};
use pkcs8::spki::{AlgorithmIdentifierRef, ObjectIdentifier, SubjectPublicKeyInfoRef};
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo};
use sec1::EcPrivateKey;
use std::io::Read;
use zeroize::Zeroizing;

/// Key files larger than this are not keys.
const MAX_KEY_FILE: u64 = 1 << 20;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Reads a key file, refusing anything too large to be a key.
pub(super) fn read_key_file(path: &std::path::Path) -> Result<Zeroizing<Vec<u8>>> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot open key file '{shown}': {e}")))?;
    let mut data = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read key file '{shown}': {e}")))?;
    if data.len() as u64 > MAX_KEY_FILE {
        return Err(Error::new(
            ErrorKind::KeyUnrecognized,
            format!("'{shown}' is larger than 1 MiB and cannot be a key file"),
        ));
    }
    Ok(data)
}

/// Detects the format of `data` and loads the private key it holds.
pub(super) fn load(data: &[u8], password: Option<&str>) -> Result<Key> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let start = data.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(Error::new(ErrorKind::KeyUnrecognized, "the key data is empty"));
    };
    let data = &data[start..];
    if data[0] == b'{' {
        jwk::load(data)
    } else if contains(data, b"-----BEGIN ") {
        load_pem(data, password)
    } else if data[0] == 0x30 {
        load_der(data, password)
    } else {
        Err(Error::new(
            ErrorKind::KeyUnrecognized,
            "the data is not a PEM, DER or JWK key",
        ))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One `-----BEGIN label-----` ... `-----END label-----` block.
struct PemBlock<'a> {
    label: &'a str,
    /// Encapsulated headers (RFC 1421), e.g. `Proc-Type: 4,ENCRYPTED`.
    has_headers: bool,
    body: &'a str,
}

/// Splits PEM text into its blocks; text between blocks is ignored, as OpenSSL does.
fn pem_blocks(text: &str) -> Result<Vec<PemBlock<'_>>> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = &rest[at + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            return Err(Error::new(ErrorKind::KeyTruncated, "a PEM BEGIN line is cut off"));
        };
        let label = &after[..label_end];
        let inner = &after[label_end + 5..];
        let end_line = format!("-----END {label}-----");
        let Some(end_at) = inner.find(&end_line) else {
            return Err(Error::new(
                ErrorKind::KeyTruncated,
                format!("the PEM block '{label}' has no END line (truncated file?)"),
            ));
        };
        let content = &inner[..end_at];
        let (has_headers, body) = match content.find("\n\n").or_else(|| content.find("\r\n\r\n")) {
            Some(blank) if content[..blank].contains(':') => (true, &content[blank..]),
            _ => (false, content),
        };
        blocks.push(PemBlock {
            label,
            has_headers,
            body,
        });
        rest = &inner[end_at + end_line.len()..];
    }
    Ok(blocks)
}

fn load_pem(data: &[u8], password: Option<&str>) -> Result<Key> {
    let text = std::str::from_utf8(data)
        .map_err(|_| Error::new(ErrorKind::KeyMalformed, "the PEM text is not valid UTF-8"))?;
    let blocks = pem_blocks(text)?;
    let mut seen = Vec::new();
    for block in &blocks {
        let kind = match block.label {
            "EC PARAMETERS" => continue,
            "EC PRIVATE KEY" | "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => block.label,
            "RSA PRIVATE KEY" => block.label,
            "PUBLIC KEY" | "EC PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {
                seen.push(block.label);
                continue;
            }
            "DSA PRIVATE KEY" => {
                return Err(Error::new(
                    ErrorKind::KeyUnsupportedType,
                    "DSA keys are not supported",
                ));
            }
            "OPENSSH PRIVATE KEY" => {
                return Err(Error::new(
                    ErrorKind::KeyUnsupportedType,
                    "OpenSSH key files are not supported: convert with 'ssh-keygen -p -m PKCS8 -f FILE'",
                ));
            }
            other => {
                seen.push(other);
                continue;
            }
        };
        if block.has_headers {
            return Err(Error::new(
                ErrorKind::KeyUnsupportedEncryption,
                format!(
                    "legacy OpenSSL PEM encryption ('{kind}' with Proc-Type headers) is not supported: \
                     convert with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
                ),
            ));
        }
        let der = decode_base64(block.body, kind)?;
        return match kind {
            "EC PRIVATE KEY" => load_sec1(&der, None),
            "RSA PRIVATE KEY" => load_pkcs1(&der),
            "PRIVATE KEY" => load_pkcs8(&der),
            _ => load_encrypted(&der, password),
        };
    }
    if seen.is_empty() {
        Err(Error::new(
            ErrorKind::KeyUnrecognized,
            "the PEM text holds no key block",
        ))
    } else if seen.iter().any(|l| {
        matches!(
            *l,
            "PUBLIC KEY" | "EC PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE"
        )
    }) {
        Err(Error::new(
            ErrorKind::KeyPublicOnly,
            format!(
                "the PEM holds only public material ({}); a private key is needed",
                seen.join(", ")
            ),
        ))
    } else {
        Err(Error::new(
            ErrorKind::KeyUnrecognized,
            format!("the PEM holds no private key block (found: {})", seen.join(", ")),
        ))
    }
}

fn decode_base64(body: &str, label: &str) -> Result<Zeroizing<Vec<u8>>> {
    let compact: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    let der = Base64::decode_vec(&compact).map_err(|_| {
        Error::new(
            ErrorKind::KeyMalformed,
            format!("the PEM block '{label}' is not valid base64"),
        )
    })?;
    Ok(Zeroizing::new(der))
}

/// Loads raw DER, telling its structure apart by trying each known shape.
fn load_der(der: &[u8], password: Option<&str>) -> Result<Key> {
    check_complete(der)?;
    if PrivateKeyInfo::from_der(der).is_ok() {
        return load_pkcs8(der);
    }
    if EcPrivateKey::from_der(der).is_ok() {
        return load_sec1(der, None);
    }
    if encryption_oid(der).is_some() {
        return load_encrypted(der, password);
    }
    if let Ok(spki) = SubjectPublicKeyInfoRef::from_der(der) {
        return Err(Error::new(
            ErrorKind::KeyPublicOnly,
            format!(
                "the DER is a public key ({}); a private key is needed",
                algorithm_name(spki.algorithm.oid)
            ),
        ));
    }
    if is_pkcs1_rsa(der) {
        return load_pkcs1(der);
    }
    if pkcs1::RsaPublicKey::from_der(der).is_ok() {
        return Err(Error::new(
            ErrorKind::KeyPublicOnly,
            "the DER is an RSA public key (PKCS#1); a private key is needed",
        ));
    }
    Err(Error::new(
        ErrorKind::KeyUnrecognized,
        "the DER is not a SEC1, PKCS#1, PKCS#8 or encrypted PKCS#8 private key",
    ))
}

/// Fails with `KeyTruncated` when the outer DER element claims more bytes than there are.
fn check_complete(der: &[u8]) -> Result<()> {
    let mut reader = der::SliceReader::new(der)
        .map_err(|_| Error::new(ErrorKind::KeyUnrecognized, "the DER is too large"))?;
    match der::Header::decode(&mut reader) {
        Ok(header) => {
            let declared = u32::from(header.length);
            let remaining = u32::from(reader.remaining_len());
            if declared > remaining {
                Err(Error::new(
                    ErrorKind::KeyTruncated,
                    format!("the DER is truncated: it declares {declared} bytes but only {remaining} follow"),
                ))
            } else {
                Ok(())
            }
        }
        Err(e) if matches!(e.kind(), der::ErrorKind::Incomplete { .. }) => Err(Error::new(
            ErrorKind::KeyTruncated,
            "the DER is truncated inside its first header",
        )),
        Err(_) => Err(Error::new(
            ErrorKind::KeyUnrecognized,
            "the data is not valid DER",
        )),
    }
}

/// An RSAPrivateKey (PKCS#1) starts with version 0 and a long modulus.
fn is_pkcs1_rsa(der: &[u8]) -> bool {
    let Ok(mut reader) = der::SliceReader::new(der) else {
        return false;
    };
    reader
        .sequence(|seq| {
            let version = der::asn1::UintRef::decode(seq)?;
            let modulus = der::asn1::UintRef::decode(seq)?;
            let _public_exponent = der::asn1::UintRef::decode(seq)?;
            seq.read_slice(seq.remaining_len())?;
            if matches!(version.as_bytes(), [] | [0]) && modulus.as_bytes().len() >= 64 {
                Ok(())
            } else {
                Err(der::Tag::Integer.value_error())
            }
        })
        .is_ok()
}

/// The encryption algorithm OID of an EncryptedPrivateKeyInfo-shaped DER, if it is one.
fn encryption_oid(der: &[u8]) -> Option<ObjectIdentifier> {
    let mut reader = der::SliceReader::new(der).ok()?;
    reader
        .sequence(|seq| {
            let alg = AlgorithmIdentifierRef::decode(seq)?;
            let _data = OctetStringRef::decode(seq)?;
            Ok(alg.oid)
        })
        .ok()
}

/// PBES2, the scheme `load_encrypted` decrypts.
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// The most PBKDF2 iterations a key file may ask for: loading must not take minutes. OpenSSL
/// uses 2048 by default and current guidance (OWASP, 2023) 600,000 for PBKDF2-HMAC-SHA256;
/// ten million take a few seconds.
pub(crate) const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// The most memory scrypt may need for a key file (128 * r * N bytes; `openssl pkcs8 -scrypt`
/// uses 16 MiB), and the most mixing work (128 * r * N * p bytes).
pub(crate) const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_SCRYPT_WORK: u64 = 1 << 30;

/// Refuses key-derivation parameters that would make loading the key take minutes or gigabytes:
/// the file chooses them, and they are used before the password can be checked.
fn check_kdf_cost(epki: &EncryptedPrivateKeyInfo<'_>) -> Result<()> {
    let pkcs5::EncryptionScheme::Pbes2(params) = &epki.encryption_algorithm else {
        return Ok(()); // PBES1: refused by decrypt with its own message
    };
    let too_costly = |what: String| {
        Error::new(
            ErrorKind::KeyUnsupportedEncryption,
            format!(
                "the key's encryption asks for {what}; a key file that makes loading take this long \
                 is refused: re-encrypt with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
            ),
        )
    };
    match &params.kdf {
        pkcs5::pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(too_costly(format!(
                "{} PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS} are accepted)",
                p.iteration_count
            )))
        }
        pkcs5::pbes2::Kdf::Scrypt(p) => {
            let memory = 128u64
                .saturating_mul(u64::from(p.block_size))
                .saturating_mul(p.cost_parameter);
            let work = memory.saturating_mul(u64::from(p.parallelization));
            if memory > MAX_SCRYPT_MEMORY || work > MAX_SCRYPT_WORK {
                Err(too_costly(format!(
                    "scrypt with N={}, r={}, p={} ({} MiB of memory; at most {} MiB are accepted, \
                     and N*r*p at most {})",
                    p.cost_parameter,
                    p.block_size,
                    p.parallelization,
                    memory >> 20,
                    MAX_SCRYPT_MEMORY >> 20,
                    MAX_SCRYPT_WORK / 128
                )))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn load_encrypted(der: &[u8], password: Option<&str>) -> Result<Key> {
    let epki = EncryptedPrivateKeyInfo::from_der(der).map_err(|_| match encryption_oid(der) {
        Some(oid) if oid == OID_PBES2 => Error::new(
            ErrorKind::KeyMalformed,
            "the encrypted PKCS#8 structure (PBES2) is invalid, or has data after its end",
        ),
        Some(oid) => Error::new(
            ErrorKind::KeyUnsupportedEncryption,
            format!(
                "the key is encrypted with an unsupported scheme ({}): re-encrypt with \
                 'openssl pkcs8 -topk8 -v2 aes-256-cbc'",
                scheme_name(oid)
            ),
        ),
        None => Error::new(
            ErrorKind::KeyMalformed,
            "the encrypted PKCS#8 structure is invalid",
        ),
    })?;
    let password = match password {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(Error::new(
                ErrorKind::KeyPasswordRequired,
                "the key is encrypted (ENCRYPTED PRIVATE KEY) and no password was given",
            ));
        }
    };
    check_kdf_cost(&epki)?;
    let plain = epki.decrypt(password).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::DecryptFailed) => wrong_password(),
        pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::UnsupportedAlgorithm { oid } | pkcs5::Error::AlgorithmParametersInvalid { oid },
        ) => Error::new(
            ErrorKind::KeyUnsupportedEncryption,
            format!(
                "the key's encryption ({}) is not supported: re-encrypt with \
                 'openssl pkcs8 -topk8 -v2 aes-256-cbc'",
                scheme_name(oid)
            ),
        ),
        pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::NoPbes1CryptSupport) => Error::new(
            ErrorKind::KeyUnsupportedEncryption,
            "PBES1 key encryption is not supported: re-encrypt with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'",
        ),
        _ => wrong_password(),
    })?;
    // A wrong password can pass the padding check by chance and yield garbage.
    if PrivateKeyInfo::from_der(plain.as_bytes()).is_err() {
        return Err(wrong_password());
    }
    load_pkcs8(plain.as_bytes())
}

/// Loads an encrypted PKCS#8 DER that libdpop's own export made (a saved state's key). Only
/// the parameters the export writes are accepted (PBES2 with PBKDF2-HMAC-SHA256 at
/// `iterations`, the saved state's cost, and AES-256-CBC): the cost of the key derivation is
/// libdpop's, never the file's.
pub(super) fn load_own_encrypted(der: &[u8], password: &str, iterations: u32) -> Result<Key> {
    let epki = EncryptedPrivateKeyInfo::from_der(der).map_err(|_| {
        Error::new(
            ErrorKind::KeyMalformed,
            "the encrypted PKCS#8 structure is invalid",
        )
    })?;
    let own = match &epki.encryption_algorithm {
        pkcs5::EncryptionScheme::Pbes2(params) => {
            matches!(&params.kdf, pkcs5::pbes2::Kdf::Pbkdf2(p)
                if p.iteration_count == iterations
                    && p.prf == pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256
                    && p.key_length.is_none_or(|len| len == 32))
                && matches!(
                    params.encryption,
                    pkcs5::pbes2::EncryptionScheme::Aes256Cbc { .. }
                )
        }
        _ => false,
    };
    if !own {
        return Err(Error::new(
            ErrorKind::KeyUnsupportedEncryption,
            format!(
                "the key is not encrypted as libdpop encrypts it (PBES2, PBKDF2-SHA256 with \
                 {iterations} iterations, AES-256-CBC)"
            ),
        ));
    }
    load_encrypted(der, Some(password))
}

fn wrong_password() -> Error {
    Error::new(
        ErrorKind::KeyWrongPassword,
        "the password does not decrypt the key",
    )
}

fn load_pkcs8(der: &[u8]) -> Result<Key> {
    let pki = PrivateKeyInfo::from_der(der).map_err(|e| der_error("PKCS#8", e))?;
    let oid = pki.algorithm.oid;
    if oid == OID_EC_PUBLIC_KEY {
        let curve = pki
            .algorithm
            .parameters_oid()
            .map_err(|_| Error::new(ErrorKind::KeyMalformed, "the PKCS#8 EC key names no curve"))?;
        load_sec1(pki.private_key, Some(curve))
    } else if oid == super::rsa_key::OID_RSA_ENCRYPTION {
        load_pkcs1(pki.private_key)
    } else if oid == OID_ED25519 {
        let seed = OctetStringRef::from_der(pki.private_key).map_err(|e| der_error("Ed25519 PKCS#8", e))?;
        Key::from_private(Algorithm::EdDsa, seed.as_bytes(), pki.public_key)
    } else {
        Err(unsupported_algorithm(oid))
    }
}

/// Loads a PKCS#1 RSAPrivateKey; it signs with PS256 (see `Key::with_alg`).
fn load_pkcs1(der: &[u8]) -> Result<Key> {
    Key::from_private(Algorithm::Ps256, der, None)
}

/// Loads a SEC1 ECPrivateKey; `outer_curve` is the curve named by a PKCS#8 wrapper.
fn load_sec1(der: &[u8], outer_curve: Option<ObjectIdentifier>) -> Result<Key> {
    let ec = EcPrivateKey::from_der(der).map_err(|e| der_error("SEC1 EC", e))?;
    let inner_curve = ec.parameters.and_then(|p| p.named_curve());
    let curve = match (outer_curve, inner_curve) {
        (Some(outer), Some(inner)) if outer != inner => {
            return Err(Error::new(
                ErrorKind::KeyMalformed,
                "the PKCS#8 and SEC1 structures name different curves",
            ));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => match ec.private_key.len() {
            48 => OID_P384,
            _ => OID_P256,
        },
    };
    let alg = if curve == OID_P256 {
        Algorithm::Es256
    } else if curve == OID_P384 {
        Algorithm::Es384
    } else {
        return Err(Error::new(
            ErrorKind::KeyUnsupportedCurve,
            format!(
                "unsupported curve {}: use P-256, P-384 or Ed25519",
                curve_name(curve)
            ),
        ));
    };
    Key::from_private(alg, ec.private_key, ec.public_key)
}

fn der_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::KeyMalformed,
        format!("the {what} private key structure is invalid: {e}"),
    )
}

fn unsupported_algorithm(oid: ObjectIdentifier) -> Error {
    let name = algorithm_name(oid);
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.10" => Error::new(
            ErrorKind::KeyRsa,
            format!(
                "{name} keys (restricted to PSS parameters) are not supported: use an rsaEncryption \
                 key ('openssl genpkey -algorithm RSA'), which signs as PS256"
            ),
        ),
        "1.3.101.113" => Error::new(
            ErrorKind::KeyUnsupportedCurve,
            "unsupported curve Ed448: use P-256, P-384 or Ed25519",
        ),
        "1.3.101.110" | "1.3.101.111" => Error::new(
            ErrorKind::KeyUnsupportedType,
            format!("{name} is a key-agreement key and cannot sign proofs"),
        ),
        _ => Error::new(
            ErrorKind::KeyUnsupportedType,
            format!("unsupported key algorithm {name}"),
        ),
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.10045.2.1" => "EC",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        _ => return format!("OID {oid}"),
    };
    name.to_string()
}

fn curve_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.3.132.0.10" => "secp256k1",
        "1.3.132.0.35" => "P-521",
        "1.2.840.10045.3.1.1" => "P-192",
        "1.3.132.0.33" => "P-224",
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1",
        _ => return format!("OID {oid}"),
    };
    name.to_string()
}

fn scheme_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.12.1.3" => "PKCS#12 PBE-SHA1-3DES",
        "1.2.840.113549.1.12.1.6" => "PKCS#12 PBE-SHA1-RC2-40",
        "1.2.840.113549.1.5.3" => "PBES1 MD5-DES",
        "1.2.840.113549.1.5.10" => "PBES1 SHA1-DES",
        _ => return format!("OID {oid}"),
    };
    name.to_string()
}
