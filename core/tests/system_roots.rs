//! The operating system's trust store is trusted by default: a private CA installed into the
//! system store is trusted without a CA file, and refused when the client is told to trust
//! the built-in Mozilla roots only.
//!
//! As root on Debian (CI, the fresh machine) the CA is installed for real with
//! `update-ca-certificates` and removed again afterwards. Elsewhere the test says so and uses
//! `SSL_CERT_FILE`, which the system-store reader honours, to stand in for the store.
//! libdpop reads the store once per process, so this file holds one test.

use dpop_core::{Algorithm, Client, ErrorKind, Key};
use dpop_testserver::{Config, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const SECRET: &str = "system-roots-secret-Zp4";

/// A private CA and a server certificate for 127.0.0.1 and localhost, as PEM.
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("libdpop system-roots test CA {}", std::process::id()),
    );
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&server_key, &ca).unwrap();
    (ca.pem(), cert.pem(), server_key.serialize_pem())
}

/// The CA in the system store, removed again when dropped.
struct Installed {
    file: Option<PathBuf>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(&file);
            let _ = Command::new("update-ca-certificates").arg("--fresh").output();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Puts `ca_pem` into the system store (as root, with update-ca-certificates), or else into a
/// bundle named by SSL_CERT_FILE.
fn install(ca_pem: &str, scratch: &Path) -> Installed {
    let anchors = Path::new("/usr/local/share/ca-certificates");
    let tool = Command::new("update-ca-certificates")
        .arg("--help")
        .output()
        .is_ok();
    if is_root() && tool && anchors.is_dir() {
        let file = anchors.join(format!("libdpop-test-{}.crt", std::process::id()));
        std::fs::write(&file, ca_pem).unwrap();
        let out = Command::new("update-ca-certificates").output().unwrap();
        assert!(
            out.status.success(),
            "update-ca-certificates: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!("the CA is installed into the system store with update-ca-certificates");
        return Installed { file: Some(file) };
    }
    println!(
        "not root or no update-ca-certificates: the system store is not changed; SSL_CERT_FILE \
         names a bundle with the CA instead"
    );
    let bundle = scratch.join("bundle.pem");
    std::fs::write(&bundle, ca_pem).unwrap();
    std::env::set_var("SSL_CERT_FILE", &bundle);
    Installed { file: None }
}

#[test]
fn a_ca_in_the_system_store_is_trusted_unless_the_builtin_roots_are_asked_for() {
    let scratch = std::env::temp_dir().join(format!("dpop-system-roots-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (ca, cert, key) = private_ca();
    let _installed = install(&ca, &scratch);
    let server = Server::start(Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        tls: Some((cert, key)),
        ..Config::default()
    })
    .unwrap();
    assert!(server.token_url().starts_with("https://"));
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{}"}}"#,
            server.token_url()
        ))
        .unwrap();
    assert!(client.settings().system_roots, "the system store is the default");
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(
        response.status(),
        200,
        "trusted through the system store, no CA file"
    );

    // The built-in Mozilla roots only: the private CA is not among them.
    let builtin = Client::new();
    builtin.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    builtin.set_system_roots(false).unwrap();
    let refused = builtin.get(&server.api_url()).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::HttpTls, "{refused}");
    // ...unless the CA file is given, which is trusted besides either store.
    let ca_file = scratch.join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    builtin.set_ca_file(Some(&ca_file)).unwrap();
    let response = builtin.get(&server.api_url()).unwrap();
    assert_eq!(
        response.status(),
        401,
        "TLS passes; this client has no token settings"
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}
