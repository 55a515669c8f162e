//! HTTP and TLS: HTTPS with a private CA, keep-alive, the plain, stall and unknown endpoints,
//! refused chunked bodies, prompt shutdown, the reset fault over TLS, and the
//! `dpop-test-server` binary.

mod common;

use common::*;
use dpop_testserver::{Config, Fault, Server};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (CA certificate PEM, server chain PEM, server key PEM) for localhost and 127.0.0.1.
fn private_ca() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&server_key, &ca).unwrap();
    (ca.pem(), cert.pem(), server_key.serialize_pem())
}

/// A rustls client stream to `server` trusting `ca_pem`, for `name`.
fn tls_connect(
    server: &Server,
    ca_pem: &str,
    name: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(connection, connect(server))
}

#[test]
fn https_with_a_private_ca_serves_the_whole_flow() {
    let (ca, chain, key_pem) = private_ca();
    let config = Config {
        tls: Some((chain, key_pem)),
        ..Config::default()
    };
    let server = Server::start(config).unwrap();
    assert!(server.base_url().starts_with("https://127.0.0.1:"));

    let key = TestKey::es256();
    let proof = jws(&key.header(), &claims("POST", &server.token_url()), &key);
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("DPoP", proof.as_str()),
    ];
    let mut stream = tls_connect(&server, &ca, "127.0.0.1");
    let request = request_text(&server, "POST", "/token", &headers, &client_credentials_form());
    stream.write_all(request.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();

    // Over "localhost": the htu follows the Host header.
    let host = authority(&server).replace("127.0.0.1", "localhost");
    let mut claims = api_claims(&server, &token);
    claims["htu"] = serde_json::json!(format!("https://{host}/dpop/test"));
    let proof = jws(&key.header(), &claims, &key);
    let authorization = format!("DPoP {token}");
    let headers = [
        ("Host", host.as_str()),
        ("Authorization", &authorization),
        ("DPoP", &proof),
    ];
    let mut stream = tls_connect(&server, &ca, "localhost");
    stream
        .write_all(request_text(&server, "GET", "/dpop/test", &headers, "").as_bytes())
        .unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["proof"]["htu"], format!("https://{host}/dpop/test"));
}

#[test]
fn https_accepts_pem_file_paths() {
    let (ca, chain, key_pem) = private_ca();
    let dir = temp_dir("pem");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, chain).unwrap();
    std::fs::write(&key_path, key_pem).unwrap();
    let paths = (cert_path.display().to_string(), key_path.display().to_string());
    let server = Server::start(Config {
        tls: Some(paths),
        ..Config::default()
    })
    .unwrap();
    let mut stream = tls_connect(&server, &ca, "localhost");
    stream
        .write_all(request_text(&server, "GET", "/plain", &[], "").as_bytes())
        .unwrap();
    assert_eq!(read_reply(&mut stream).body, "hello");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn reset_fault_over_tls_closes_the_connection_instead() {
    let (ca, chain, key_pem) = private_ca();
    let server = Server::start(Config {
        tls: Some((chain, key_pem)),
        api_fault: Some(Fault::Reset),
        ..Config::default()
    })
    .unwrap();
    let mut stream = tls_connect(&server, &ca, "127.0.0.1");
    stream
        .write_all(request_text(&server, "GET", "/dpop/test", &[], "").as_bytes())
        .unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer: {:?}", String::from_utf8_lossy(&rest));
    let stats = server.stats();
    assert_eq!((stats.api_requests, stats.requests[0].status), (1, 0));
}

#[test]
fn bad_tls_material_fails_to_start() {
    let config = Config {
        tls: Some((
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
            "nope".into(),
        )),
        ..Config::default()
    };
    assert!(Server::start(config).is_err());
}

#[test]
fn plain_and_unknown_paths_need_no_auth() {
    let server = Server::start(Config::default()).unwrap();
    let reply = send(&server, "GET", "/plain", &[], "");
    assert_eq!((reply.status, reply.body.as_str()), (200, "hello"));
    send(&server, "GET", "/nowhere", &[], "").assert_error(404, "not_found", "no such endpoint");
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = Server::start(Config::default()).unwrap();
    let mut stream = connect(&server);
    let request = format!("GET /plain HTTP/1.1\r\nHost: {}\r\n\r\n", authority(&server));
    for _ in 0..3 {
        stream.write_all(request.as_bytes()).unwrap();
        let reply = read_reply(&mut stream);
        assert_eq!(
            (reply.status, reply.header("connection")),
            (200, Some("keep-alive"))
        );
    }
}

#[test]
fn chunked_request_body_is_refused() {
    let server = Server::start(Config::default()).unwrap();
    let mut stream = connect(&server);
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        authority(&server)
    );
    stream.write_all(request.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!((reply.status, reply.header("connection")), (411, Some("close")));
}

#[test]
fn missing_host_header_is_refused() {
    let server = Server::start(Config::default()).unwrap();
    let mut stream = connect(&server);
    stream.write_all(b"GET /plain HTTP/1.1\r\n\r\n").unwrap();
    read_reply(&mut stream).assert_error(400, "invalid_request", "missing or malformed Host header");
}

#[test]
fn stall_never_answers_and_does_not_hold_up_stop() {
    let server = Server::start(Config::default()).unwrap();
    let mut stream = connect(&server);
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    stream
        .write_all(request_text(&server, "GET", "/stall", &[], "").as_bytes())
        .unwrap();
    let mut byte = [0u8; 1];
    let error = stream.read(&mut byte).expect_err("no answer");
    assert!(matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        started.elapsed()
    );
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(stream.read(&mut byte).unwrap_or(0), 0, "the connection is closed");
}

#[test]
fn server_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let server = Server::start(Config::default()).unwrap();
    shareable(&server);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| assert_eq!(send(&server, "GET", "/plain", &[], "").status, 200));
        }
    });
    assert_eq!(server.stats().requests.len(), 4);
    assert!(format!("{server:?}").contains(&server.base_url()));
}

#[test]
fn idle_keep_alive_connection_does_not_hold_up_drop() {
    let server = Server::start(Config::default()).unwrap();
    let _idle = connect(&server);
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2));
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dpop-testserver-{tag}-{}-{}",
        std::process::id(),
        random_id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn binary_writes_its_port_and_serves_tokens() {
    let dir = temp_dir("bin");
    let port_file = dir.join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dpop-test-server"))
        .args([
            "--port-file",
            port_file.to_str().unwrap(),
            "--client",
            "cli:pw",
            "--ttl",
            "42",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("dpop-test-server listening on http://127.0.0.1:{port}")
    );

    let url = format!("http://127.0.0.1:{port}/token");
    let key = TestKey::es256();
    let proof = jws(&key.header(), &claims("POST", &url), &key);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let form = "grant_type=client_credentials&client_id=cli&client_secret=pw";
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         DPoP: {proof}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let reply = read_reply(&mut stream);
    assert_eq!(
        (reply.status, &reply.json()["expires_in"]),
        (200, &serde_json::json!(42))
    );

    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(log.contains("POST /token 200"), "{log}");
    assert!(
        !log.contains(&proof) && !log.contains("eyJ"),
        "the log holds no proofs or tokens: {log}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn binary_rejects_unknown_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_dpop-test-server"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown option '--bogus'"));
    let output = Command::new(env!("CARGO_BIN_EXE_dpop-test-server"))
        .args(["--api-fault", "huge:lots"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'lots' in fault 'huge:lots' is not a number"),
        "{stderr}"
    );
}

#[test]
fn binary_takes_fault_flags() {
    let dir = temp_dir("bin-faults");
    let port_file = dir.join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dpop-test-server"))
        .args(["--port-file", port_file.to_str().unwrap(), "--quiet"])
        .args([
            "--api-fault",
            "redirect:http://127.0.0.1:9/x",
            "--token-fault",
            "500",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = std::fs::read_to_string(&port_file).unwrap();
    let ask = |request: &str| {
        let mut stream = TcpStream::connect(("127.0.0.1", port.trim().parse::<u16>().unwrap())).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        read_reply(&mut stream)
    };
    let host = format!("127.0.0.1:{}", port.trim());
    let reply = ask(&format!(
        "GET /dpop/test HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(
        (reply.status, reply.header("location")),
        (302, Some("http://127.0.0.1:9/x"))
    );
    let reply = ask(&format!(
        "POST /token HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(reply.status, 500);
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}
