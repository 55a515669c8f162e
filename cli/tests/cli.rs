//! The `dpop` binary, run as a user runs it, against the strict test server on 127.0.0.1:
//! every command's success path, its bad input, its exit codes, and that no secret reaches
//! stdout or stderr.

use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_testserver::{Config, RecordedRequest, Server};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const SECRET: &str = "cli-s3cret-Vb7Q2xW9pL";

fn config() -> Config {
    Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        ..Config::default()
    }
}

/// A server that demands nonces at the token endpoint and the API, as strict servers do.
fn strict_server() -> Server {
    Server::start(Config {
        require_nonce_token: true,
        require_nonce_api: true,
        ..config()
    })
    .unwrap()
}

/// A directory of its own for each test, removed when it ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dpop-cli-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one run of `dpop` gave.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// Checks the exit code, and that a failure says what failed in one line, the last one
    /// (after the exchanges of --verbose and any warning).
    fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "{self:?}");
        if code >= 2 {
            let errors: Vec<&str> = self
                .stderr
                .lines()
                .filter(|line| line.starts_with("dpop: ") || line.starts_with("dpop "))
                .filter(|line| !line.starts_with("dpop: warning:"))
                // The session log's masked DPoP header (--verbose).
                .filter(|line| *line != "dpop: ****")
                .collect();
            assert_eq!(errors.len(), 1, "one error line on stderr: {self:?}");
            assert_eq!(self.stderr.lines().last(), Some(errors[0]), "{self:?}");
        }
        self
    }

    fn stderr_has(self, text: &str) -> Self {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}: {self:?}");
        self
    }
}

/// `dpop ARGS` with `env` set, none of dpop's own variables inherited, and `stdin` as input.
fn run_with(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dpop"));
    command
        .args(args)
        .env_remove("DPOP_KEY_PASSWORD")
        .env_remove("DPOP_CLIENT_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the dpop binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().expect("dpop exits, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, &[], b"")
}

/// A new ES256 key file in `dir`; its path.
fn keygen(dir: &TempDir, name: &str) -> String {
    let path = dir.path(name);
    run(&["keygen", "--out", &path]).expect(0);
    path
}

/// The RFC 7638 thumbprint of a public JWK, computed here rather than by libdpop.
fn thumbprint_of(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str().unwrap() {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk["crv"].as_str().unwrap(),
            jwk["x"].as_str().unwrap()
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap(),
            jwk["n"].as_str().unwrap()
        ),
        other => panic!("unexpected kty {other}"),
    };
    Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
}

/// The access tokens and proofs the server received: strings that must never be printed.
fn credentials_seen(server: &Server) -> Vec<String> {
    let mut seen = Vec::new();
    for request in server.stats().requests {
        if let Some(auth) = request.header("authorization") {
            seen.push(auth.split_once(' ').unwrap().1.to_string());
        }
        seen.extend(request.header("dpop").map(str::to_string));
    }
    seen
}

fn token_flags(server: &Server) -> Vec<String> {
    [
        "--client-id",
        "m2m.dpop",
        "--token-endpoint",
        &server.token_url(),
        "--scope",
        "api",
    ]
    .map(str::to_string)
    .to_vec()
}

fn args_of(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

// ---- help, version, unknown commands ----

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let help = run(&["--help"]).expect(0);
    for text in [
        "keygen",
        "thumbprint",
        "jwk",
        "proof",
        "get URL",
        "post URL",
        "request METHOD URL",
        "DPOP_KEY_PASSWORD",
        "DPOP_CLIENT_SECRET",
        "exit status",
    ] {
        assert!(help.stdout.contains(text), "{text}: {}", help.stdout);
    }
    for code in 0..=6 {
        assert!(help.stdout.contains(&format!("\n  {code}  ")), "exit code {code}");
    }
    for command in ["keygen", "thumbprint", "jwk", "proof", "get", "post", "request"] {
        let help = run(&[command, "--help"]).expect(0);
        assert!(help.stdout.starts_with("usage: dpop "), "{help:?}");
        assert!(help.stdout.contains(&format!("dpop {command} ")), "{help:?}");
        assert_eq!(run(&[command, "-h"]).expect(0).stdout, help.stdout);
    }
    let version = run(&["--version"]).expect(0);
    assert_eq!(version.stdout, format!("dpop {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn unknown_commands_and_options_are_usage_errors() {
    run(&[]).expect(2).stderr_has("no command given");
    run(&["frobnicate"])
        .expect(2)
        .stderr_has("unknown command 'frobnicate'");
    run(&["thumbprint", "--frob", "k.pem"])
        .expect(2)
        .stderr_has("unknown option '--frob'")
        .stderr_has("dpop thumbprint --help");
    run(&["get", "-Z", "https://a.example/"])
        .expect(2)
        .stderr_has("unknown option '-Z'");
    run(&["get", "https://a.example/", "--timeout"])
        .expect(2)
        .stderr_has("--timeout needs a value");
    run(&["get", "https://a.example/", "--timeout", "soon"])
        .expect(2)
        .stderr_has("not a positive number of seconds");
    run(&["jwk", "--private=yes", "k.pem"])
        .expect(2)
        .stderr_has("takes no value");
}

// ---- keygen, thumbprint, jwk ----

#[test]
fn keygen_thumbprint_and_jwk_agree_for_every_algorithm() {
    let dir = TempDir::new("keygen");
    for alg in ["ES256", "ES384", "EdDSA", "PS256"] {
        let path = dir.path(&format!("{alg}.pem"));
        let made = run(&["keygen", "--alg", alg, "--out", &path]).expect(0);
        assert_eq!(made.stdout, "", "the key goes to the file only");
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "PKCS#8: {pem}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{alg}: the key file is its owner's only");
        }
        let announced = made
            .stderr
            .trim_end()
            .rsplit("thumbprint: ")
            .next()
            .unwrap()
            .to_string();
        let thumbprint = run(&["thumbprint", &path]).expect(0).stdout;
        assert_eq!(thumbprint, format!("{announced}\n"), "{alg}");

        let jwk: Value = serde_json::from_str(&run(&["jwk", &path]).expect(0).stdout).unwrap();
        assert!(
            jwk.get("d").is_none(),
            "the public JWK holds no private part: {jwk}"
        );
        let (kty, crv) = match alg {
            "ES256" => ("EC", Some("P-256")),
            "ES384" => ("EC", Some("P-384")),
            "PS256" => ("RSA", None),
            _ => ("OKP", Some("Ed25519")),
        };
        assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some(kty), crv));
        assert_eq!(
            thumbprint_of(&jwk),
            announced,
            "{alg}: RFC 7638 over the printed JWK"
        );

        let private = run(&["jwk", "--private", &path])
            .expect(0)
            .stderr_has("warning: this is the private key");
        let private: Value = serde_json::from_str(&private.stdout).unwrap();
        assert!(private["d"].is_string());
        assert_eq!((&private["x"], &private["kty"]), (&jwk["x"], &jwk["kty"]));
    }
}

#[test]
fn keygen_to_stdout_pipes_into_thumbprint() {
    let made = run(&["keygen", "--alg", "es384"]).expect(0);
    assert!(made.stdout.starts_with("-----BEGIN PRIVATE KEY-----"));
    let announced = made.stderr.trim_end().rsplit("thumbprint: ").next().unwrap();
    let read = run_with(&["thumbprint", "-"], &[], made.stdout.as_bytes()).expect(0);
    assert_eq!(read.stdout.trim_end(), announced);
}

#[test]
fn keygen_keeps_an_existing_key_unless_forced() {
    let dir = TempDir::new("force");
    let path = keygen(&dir, "k.pem");
    let before = std::fs::read(&path).unwrap();
    run(&["keygen", "--out", &path]).expect(2).stderr_has("exists");
    assert_eq!(std::fs::read(&path).unwrap(), before, "the key is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    run(&["keygen", "--out", &path, "--force"]).expect(0);
    assert_ne!(std::fs::read(&path).unwrap(), before, "replaced");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a replaced key is created anew, owner-only");
    }
}

#[test]
fn bad_algorithms_are_usage_errors() {
    run(&["keygen", "--alg", "RS512"])
        .expect(2)
        .stderr_has("unsupported algorithm 'RS512': use ES256, ES384, EdDSA, PS256 or RS256");
}

#[test]
fn an_encrypted_key_takes_its_password_from_the_environment_or_a_file_never_argv() {
    let dir = TempDir::new("password");
    let path = dir.path("enc.pem");
    let env = [("DPOP_KEY_PASSWORD", "correct horse battery")];
    let made = run_with(
        &["keygen", "--alg", "EdDSA", "--password", "--out", &path],
        &env,
        b"",
    )
    .expect(0);
    assert!(made.stderr.contains("encrypted"), "{made:?}");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let announced = made.stderr.trim_end().rsplit("thumbprint: ").next().unwrap();

    let read = run_with(&["thumbprint", &path], &env, b"").expect(0);
    assert_eq!(read.stdout.trim_end(), announced);
    run(&["thumbprint", &path])
        .expect(3)
        .stderr_has("encrypted")
        .stderr_has("DPOP_KEY_PASSWORD");
    let wrong = run_with(&["jwk", &path], &[("DPOP_KEY_PASSWORD", "wrong-pass-Zt4")], b"")
        .expect(3)
        .stderr_has("the password does not decrypt the key");
    assert!(!wrong.stderr.contains("wrong-pass-Zt4"));

    let password_file = dir.write("password.txt", "correct horse battery\n");
    let read = run(&["thumbprint", &path, "--password-file", &password_file]).expect(0);
    assert_eq!(read.stdout.trim_end(), announced);
    let from_stdin = run_with(
        &["jwk", &path, "--password-file", "-"],
        &[],
        b"correct horse battery\n",
    );
    from_stdin.expect(0);

    // keygen with a password file, and the refusals.
    let other = dir.path("enc2.pem");
    run(&["keygen", "--out", &other, "--password-file", &password_file]).expect(0);
    run_with(&["thumbprint", &other], &env, b"").expect(0);
    run(&["keygen", "--password"])
        .expect(2)
        .stderr_has("DPOP_KEY_PASSWORD");
    let typed = run(&["keygen", "--password", "typed-pass-Qw3"])
        .expect(2)
        .stderr_has("never from the command line");
    assert!(!typed.stderr.contains("typed-pass-Qw3"), "{typed:?}");
    let inline = run(&["keygen", "--password=typed-pass-Qw3"]).expect(2);
    assert!(!inline.stderr.contains("typed-pass-Qw3"), "{inline:?}");
}

#[test]
fn a_missing_or_unusable_key_file_is_a_key_error() {
    let dir = TempDir::new("badkey");
    let missing = dir.path("missing.pem");
    run(&["thumbprint", &missing]).expect(3).stderr_has("missing.pem");
    run(&["jwk", &missing]).expect(3).stderr_has("missing.pem");
    run(&[
        "proof",
        "--key",
        &missing,
        "--method",
        "GET",
        "--url",
        "https://a.example/",
    ])
    .expect(3)
    .stderr_has("missing.pem");
    run(&["get", "https://a.example/", "--key", &missing])
        .expect(3)
        .stderr_has("missing.pem");
    let garbage = dir.write("garbage.pem", "this is not a key\n");
    run(&["thumbprint", &garbage]).expect(3).stderr_has("garbage.pem");
    run(&["thumbprint"]).expect(2).stderr_has("a key file is needed");
    run(&["thumbprint", "a.pem", "b.pem"]).expect(2);
}

// ---- proof ----

#[test]
fn a_proof_verifies_with_the_test_servers_own_checks() {
    let dir = TempDir::new("proof");
    let key = keygen(&dir, "k.pem");
    let thumbprint = run(&["thumbprint", &key]).expect(0).stdout.trim_end().to_string();
    let token_file = dir.write("token.txt", "an-access-token-Xy7\n");
    let url = "https://API.example:443/resource?query=1#fragment";
    let printed = run(&[
        "proof",
        "--key",
        &key,
        "--method",
        "POST",
        "--url",
        url,
        "--nonce",
        "nonce-42",
        "--token-file",
        &token_file,
        "--claims",
        r#"{"extra":"yes"}"#,
    ])
    .expect(0);
    let jwt = printed.stdout.strip_suffix('\n').expect("one line");
    assert_eq!(jwt.split('.').count(), 3);

    // The test server's verifier: typ, alg, the embedded public jwk, the signature, htm, htu, iat.
    let request = RecordedRequest {
        method: "POST".into(),
        path: "/resource".into(),
        headers: vec![("DPoP".into(), jwt.to_string())],
        body: String::new(),
        status: 0,
        nonce: None,
    };
    let proof = request.verify_proof("https://api.example/resource", 60).unwrap();
    assert_eq!(proof.jkt, thumbprint, "the proof carries the key's public JWK");
    assert_eq!(proof.claim("htm"), Some("POST"));
    assert_eq!(proof.claim("htu"), Some("https://api.example/resource"));
    assert_eq!(proof.claim("nonce"), Some("nonce-42"));
    assert_eq!(proof.claim("extra"), Some("yes"));
    let ath = Base64UrlUnpadded::encode_string(&Sha256::digest(b"an-access-token-Xy7"));
    assert_eq!(proof.claim("ath"), Some(ath.as_str()));
    assert!(request.verify_proof("https://api.example/other", 60).is_err());

    // Without a token or nonce there is no ath or nonce; --token warns that argv is visible.
    let plain = run(&[
        "proof",
        "--key",
        &key,
        "--method",
        "GET",
        "--url",
        "https://a.example/",
    ])
    .expect(0);
    assert_eq!(plain.stderr, "");
    let verified = RecordedRequest {
        method: "GET".into(),
        headers: vec![("DPoP".into(), plain.stdout.trim_end().to_string())],
        ..request.clone()
    }
    .verify_proof("https://a.example/", 60)
    .unwrap();
    assert!(verified.claim("ath").is_none() && verified.claim("nonce").is_none());
    assert_ne!(verified.jti, proof.jti);
    run(&[
        "proof",
        "--key",
        &key,
        "--method",
        "GET",
        "--url",
        "https://a.example/",
        "--token",
        "t",
    ])
    .expect(0)
    .stderr_has("visible to other users");
}

#[test]
fn proof_bad_input_is_a_usage_error() {
    let dir = TempDir::new("proofbad");
    let key = keygen(&dir, "k.pem");
    let base = ["proof", "--key", key.as_str()];
    let with = |more: &[&str]| run(&[&base[..], more].concat());
    with(&["--method", "GET"])
        .expect(2)
        .stderr_has("--url is required");
    with(&["--url", "https://a.example/"])
        .expect(2)
        .stderr_has("--method is required");
    run(&["proof", "--method", "GET", "--url", "https://a.example/"])
        .expect(2)
        .stderr_has("--key is required");
    with(&["--method", "GET", "--url", "ftp://a.example/"])
        .expect(2)
        .stderr_has("not an http or https URL");
    with(&["--method", "GET", "--url", "not a url"])
        .expect(2)
        .stderr_has("not a valid URL");
    with(&["--method", "GE T", "--url", "https://a.example/"])
        .expect(2)
        .stderr_has("not a valid HTTP method");
    with(&[
        "--method",
        "GET",
        "--url",
        "https://a.example/",
        "--nonce",
        "bad nonce",
    ])
    .expect(2)
    .stderr_has("nonce");
    with(&[
        "--method",
        "GET",
        "--url",
        "https://a.example/",
        "--claims",
        r#"{"htm":"x"}"#,
    ])
    .expect(2)
    .stderr_has("'htm'");
}

// ---- get, post, request ----

#[test]
fn get_fetches_a_token_through_nonce_demands_and_prints_the_api_echo() {
    let server = strict_server();
    let dir = TempDir::new("get");
    let key = keygen(&dir, "k.pem");
    let thumbprint = run(&["thumbprint", &key]).expect(0).stdout.trim_end().to_string();
    let mut args = vec!["get".to_string(), server.api_url(), "--key".into(), key];
    args.extend(token_flags(&server));
    let got = run_with(&args_of(&args), &[("DPOP_CLIENT_SECRET", SECRET)], b"").expect(0);
    assert_eq!(got.stderr, "", "a 2xx says nothing on stderr");
    let echo = got.json();
    assert_eq!(echo["ok"], true);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["token"]["client_id"], "m2m.dpop");
    assert_eq!(echo["token"]["scope"], "api");
    assert_eq!(echo["token"]["cnf"]["jkt"], thumbprint.as_str(), "bound to --key");
    let stats = server.stats();
    assert_eq!(stats.nonce_rejections_token, 1, "the nonce demand was answered");
    assert_eq!(stats.api_ok, 1);
}

#[test]
fn without_a_key_a_key_is_made_for_the_run() {
    let server = Server::start(config()).unwrap();
    let mut args = vec!["get".to_string(), server.api_url()];
    args.extend(token_flags(&server));
    let got = run_with(&args_of(&args), &[("DPOP_CLIENT_SECRET", SECRET)], b"").expect(0);
    assert_eq!(got.json()["token"]["client_id"], "m2m.dpop");
}

#[test]
fn post_sends_the_body_and_headers_with_settings_from_a_file() {
    let server = strict_server();
    let dir = TempDir::new("post");
    let key = keygen(&dir, "k.pem");
    let settings = dir.write(
        "auth.json",
        &format!(
            r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{}","scope":"api","auth_method":"client_secret_basic"}}"#,
            server.token_url()
        ),
    );
    let url = format!("{}/dpop/items?page=2", server.base_url());
    let posted = run(&[
        "post",
        &url,
        "--key",
        &key,
        "--auth-token",
        &settings,
        "-d",
        r#"{"name":"x"}"#,
        "-H",
        "Content-Type: application/json",
        "-H",
        "X-Request-Id: 17",
    ])
    .expect(0);
    let echo = posted.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/dpop/items");
    assert_eq!(echo["query"], "page=2");
    assert_eq!(echo["body"], r#"{"name":"x"}"#);
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["x-request-id"], "17");
    assert_eq!(echo["token"]["client_id"], "m2m.dpop");
    let token_request = &server.stats().requests[0];
    assert!(token_request
        .header("authorization")
        .unwrap()
        .starts_with("Basic "));

    // The body from stdin, the secret from the environment, a file without one.
    let no_secret = dir.write(
        "public.json",
        &format!(
            r#"{{"client_id":"m2m.dpop","token_endpoint":"{}"}}"#,
            server.token_url()
        ),
    );
    let posted = run_with(
        &[
            "post",
            &server.api_url(),
            "--key",
            &key,
            "--auth-token",
            &no_secret,
            "--data-file",
            "-",
        ],
        &[("DPOP_CLIENT_SECRET", SECRET)],
        b"from stdin",
    )
    .expect(0);
    assert_eq!(posted.json()["body"], "from stdin");
}

#[test]
fn request_sends_any_method() {
    let server = Server::start(config()).unwrap();
    let dir = TempDir::new("request");
    let key = keygen(&dir, "k.pem");
    let body = dir.write("body.txt", "replaced content");
    let mut args = vec![
        "request".to_string(),
        "PUT".into(),
        server.api_url(),
        "--key".into(),
        key.clone(),
    ];
    args.extend(["--data-file".to_string(), body]);
    args.extend(token_flags(&server));
    let env = [("DPOP_CLIENT_SECRET", SECRET)];
    let put = run_with(&args_of(&args), &env, b"").expect(0).json();
    assert_eq!(
        (put["method"].as_str(), put["body"].as_str()),
        (Some("PUT"), Some("replaced content"))
    );
    assert_eq!(put["proof"]["htm"], "PUT");
    let mut args = vec![
        "request".to_string(),
        "DELETE".into(),
        server.api_url(),
        "--key".into(),
        key,
    ];
    args.extend(token_flags(&server));
    assert_eq!(
        run_with(&args_of(&args), &env, b"").expect(0).json()["method"],
        "DELETE"
    );
}

#[test]
fn a_token_obtained_elsewhere_is_sent_as_is() {
    let server = Server::start(config()).unwrap();
    let dir = TempDir::new("hosttoken");
    let key = keygen(&dir, "k.pem");
    // The token endpoint by hand: a DPoP proof and a client_credentials form.
    let form = format!("grant_type=client_credentials&client_id=m2m.dpop&client_secret={SECRET}");
    let issued = run(&[
        "post",
        &server.token_url(),
        "--key",
        &key,
        "-d",
        &form,
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
    ])
    .expect(0)
    .json();
    let token = issued["access_token"].as_str().unwrap();
    let token_file = dir.write("token.txt", token);
    let got = run(&[
        "get",
        &server.api_url(),
        "--key",
        &key,
        "--access-token-file",
        &token_file,
    ])
    .expect(0);
    assert_eq!(got.json()["token"]["client_id"], "m2m.dpop");
    assert_eq!(server.stats().token_requests, 1, "no token request of its own");

    run(&["get", &server.api_url(), "--access-token-file", &token_file])
        .expect(2)
        .stderr_has("--key");
    run(&[
        "get",
        &server.api_url(),
        "--key",
        &key,
        "--access-token-file",
        &token_file,
        "--client-id",
        "x",
    ])
    .expect(2)
    .stderr_has("exclude each other");
}

#[test]
fn include_prints_the_status_line_and_headers_and_output_writes_a_file() {
    let server = Server::start(config()).unwrap();
    let dir = TempDir::new("include");
    let mut args = vec!["get".to_string(), server.api_url(), "-i".into()];
    args.extend(token_flags(&server));
    let env = [("DPOP_CLIENT_SECRET", SECRET)];
    let got = run_with(&args_of(&args), &env, b"").expect(0);
    let (head, body) = got.stdout.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200\r\n"), "{head}");
    assert!(head.contains("content-type: application/json\r\n"), "{head}");
    assert_eq!(serde_json::from_str::<Value>(body).unwrap()["ok"], true);

    let out = dir.path("body.json");
    let mut args = vec!["get".to_string(), server.api_url(), "-o".into(), out.clone()];
    args.extend(token_flags(&server));
    let saved = run_with(&args_of(&args), &env, b"").expect(0);
    assert_eq!(saved.stdout, "");
    let body: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(body["token"]["client_id"], "m2m.dpop");
}

#[test]
fn a_non_2xx_answer_exits_1_and_still_prints_the_body() {
    let server = Server::start(config()).unwrap();
    let dir = TempDir::new("status");
    let key = keygen(&dir, "k.pem");
    let token_file = dir.write("token.txt", "not-a-real-token");
    let refused = run(&[
        "get",
        &server.api_url(),
        "--key",
        &key,
        "--access-token-file",
        &token_file,
    ])
    .expect(1);
    assert_eq!(refused.json()["error"], "invalid_token");
    assert!(
        refused.stderr.contains("status 401") && refused.stderr.contains("invalid_token"),
        "{refused:?}"
    );

    let mut args = vec![
        "get".to_string(),
        format!("{}/nowhere", server.base_url()),
        "-i".into(),
    ];
    args.extend(token_flags(&server));
    let missing = run_with(&args_of(&args), &[("DPOP_CLIENT_SECRET", SECRET)], b"").expect(1);
    assert!(missing.stdout.starts_with("HTTP/1.1 404\r\n"), "{missing:?}");
    assert!(missing.stdout.contains("not_found"));
}

#[test]
fn a_wrong_client_secret_is_a_token_endpoint_error() {
    let server = Server::start(config()).unwrap();
    let mut args = vec!["get".to_string(), server.api_url()];
    args.extend(token_flags(&server));
    let failed = run_with(
        &args_of(&args),
        &[("DPOP_CLIENT_SECRET", "wrong-secret-Hj5")],
        b"",
    )
    .expect(5)
    .stderr_has("invalid_client");
    assert!(!failed.stderr.contains("wrong-secret-Hj5"));
    assert_eq!(server.stats().api_requests, 0);
}

#[test]
fn a_server_that_is_down_is_a_network_error() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let api = format!("http://127.0.0.1:{closed}/dpop/test");
    run(&["get", &api]).expect(4).stderr_has("connection refused");
    // The token endpoint down: the same code, the message names the endpoint.
    let args = [
        "get",
        "https://127.0.0.1:9/never",
        "--client-id",
        "m2m.dpop",
        "--token-endpoint",
        &format!("http://127.0.0.1:{closed}/token"),
    ];
    run_with(&args, &[("DPOP_CLIENT_SECRET", SECRET)], b"")
        .expect(4)
        .stderr_has(&format!("127.0.0.1:{closed}/token"));
}

#[test]
fn the_timeout_bounds_a_server_that_never_answers() {
    let server = Server::start(config()).unwrap();
    let started = std::time::Instant::now();
    let stall = format!("{}/stall", server.base_url());
    run(&["get", &stall, "--timeout", "0.5"])
        .expect(4)
        .stderr_has("500 ms");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn tls_needs_the_private_ca_given_with_ca_file() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let server = Server::start(Config {
        tls: Some((cert.pem(), server_key.serialize_pem())),
        ..config()
    })
    .unwrap();
    let dir = TempDir::new("tls");
    let ca_file = dir.write("ca.pem", &ca.pem());
    let mut args = vec!["get".to_string(), server.api_url()];
    args.extend(token_flags(&server));
    let env = [("DPOP_CLIENT_SECRET", SECRET)];
    run_with(&args_of(&args), &env, b"").expect(4).stderr_has("TLS");
    args.extend(["--ca-file".to_string(), ca_file]);
    let got = run_with(&args_of(&args), &env, b"").expect(0);
    assert_eq!(got.json()["token"]["client_id"], "m2m.dpop");
    run(&["get", &server.api_url(), "--ca-file", &dir.path("missing-ca.pem")])
        .expect(2)
        .stderr_has("--ca-file");
}

#[test]
fn bad_urls_headers_and_bodies_are_usage_errors() {
    run(&["get", "not-a-url"]).expect(2).stderr_has("not a valid URL");
    run(&["get", "ftp://a.example/"])
        .expect(2)
        .stderr_has("only http and https");
    run(&["get", "http://a.example/"])
        .expect(2)
        .stderr_has("plain http://")
        .stderr_has("--insecure-http");
    run(&["get"]).expect(2).stderr_has("a URL is needed");
    run(&["get", "https://a.example/", "https://b.example/"]).expect(2);
    run(&["request", "GET"]).expect(2).stderr_has("METHOD and a URL");
    run(&["request", "GE T", "https://a.example/"])
        .expect(2)
        .stderr_has("method");
    run(&["get", "https://a.example/", "-d", "x"])
        .expect(2)
        .stderr_has("cannot carry a body");
    let no_colon = run(&["get", "https://a.example/", "-H", "X-Api-Key secret-value-Lp0"])
        .expect(2)
        .stderr_has("'Name: value'");
    assert!(!no_colon.stderr.contains("secret-value-Lp0"));
    run(&["get", "https://a.example/", "-H", "Authorization: Basic x"])
        .expect(2)
        .stderr_has("set by libdpop");
    run(&["post", "https://a.example/", "-d", "x", "--data-file", "f"]).expect(2);
    run(&["post", "https://a.example/", "--data-file", "/nonexistent/body"])
        .expect(2)
        .stderr_has("/nonexistent/body");
}

#[test]
fn incomplete_or_invalid_token_settings_are_usage_errors() {
    let dir = TempDir::new("settings");
    let url = "https://a.example/";
    run_with(
        &["get", url, "--client-id", "m2m.dpop"],
        &[("DPOP_CLIENT_SECRET", "s")],
        b"",
    )
    .expect(2)
    .stderr_has("token_endpoint");
    run(&[
        "get",
        url,
        "--client-id",
        "m2m.dpop",
        "--token-endpoint",
        "https://a.example/token",
    ])
    .expect(2)
    .stderr_has("DPOP_CLIENT_SECRET");
    let not_json = dir.write("bad.json", "{ client_id: nope");
    run(&["get", url, "--auth-token", &not_json])
        .expect(2)
        .stderr_has("not valid JSON");
    let unknown = dir.write(
        "unknown.json",
        r#"{"client_id":"a","client_secret":"b","token_endpoint":"https://a/t","clientid":"x"}"#,
    );
    run(&["get", url, "--auth-token", &unknown])
        .expect(2)
        .stderr_has("unknown token setting 'clientid'");
    run(&["get", url, "--auth-token", &dir.path("missing.json")])
        .expect(2)
        .stderr_has("missing.json");
}

// ---- secrets ----

#[test]
fn verbose_shows_every_exchange_and_no_secret() {
    let server = strict_server();
    let dir = TempDir::new("verbose");
    let tmp = TempDir::new("verbose-tmp");
    let mut args = vec![
        "get".to_string(),
        server.api_url(),
        "--verbose".into(),
        "--client-secret".into(),
        SECRET.into(),
    ];
    args.extend(token_flags(&server));
    let got = run_with(&args_of(&args), &[("TMPDIR", tmp.0.to_str().unwrap())], b"").expect(0);
    let echo = got.json();
    assert_eq!(echo["token"]["client_id"], "m2m.dpop");
    for exchange in [
        "POST http://127.0.0.1",
        "/token\n",
        "use_dpop_nonce",
        "GET http://127.0.0.1",
        "/dpop/test\n",
    ] {
        assert!(got.stderr.contains(exchange), "{exchange}: {}", got.stderr);
    }
    assert!(got.stderr.contains("authorization: DPoP ****"), "{}", got.stderr);
    assert!(
        got.stderr.contains("warning: --client-secret"),
        "argv is visible: {}",
        got.stderr
    );
    let credentials = credentials_seen(&server);
    assert!(
        credentials.len() >= 4,
        "tokens and proofs were sent: {credentials:?}"
    );
    for secret in credentials.iter().map(String::as_str).chain([SECRET]) {
        assert!(!got.stdout.contains(secret), "stdout shows a secret");
        assert!(
            !got.stderr.contains(secret),
            "stderr shows a secret: {}",
            got.stderr
        );
    }
    assert_eq!(
        std::fs::read_dir(&tmp.0).unwrap().count(),
        0,
        "the temporary session log is removed"
    );

    // A session log and --verbose: the log keeps the exchanges, stderr repeats this run's.
    let log = dir.path("session.log");
    std::fs::write(&log, "earlier run\n").unwrap();
    let mut args = vec![
        "post".to_string(),
        server.api_url(),
        "-v".into(),
        "--session-log".into(),
        log.clone(),
    ];
    args.extend(["-d".to_string(), "a body".to_string()]);
    args.extend(token_flags(&server));
    let posted = run_with(&args_of(&args), &[("DPOP_CLIENT_SECRET", SECRET)], b"").expect(0);
    assert!(!posted.stderr.contains("earlier run"));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("earlier run\n") && text.contains("POST http://127.0.0.1"),
        "{text}"
    );
    for secret in credentials_seen(&server)
        .iter()
        .map(String::as_str)
        .chain([SECRET])
    {
        assert!(!posted.stderr.contains(secret) && !text.contains(secret));
    }

    // Failures too: a wrong secret and a refused host token, with --verbose.
    let mut args = vec!["get".to_string(), server.api_url(), "-v".into()];
    args.extend(token_flags(&server));
    let failed = run_with(
        &args_of(&args),
        &[("DPOP_CLIENT_SECRET", "wrong-secret-Gg8")],
        b"",
    )
    .expect(5);
    assert!(failed.stderr.contains("invalid_client"));
    assert!(!failed.stderr.contains("wrong-secret-Gg8") && !failed.stdout.contains("wrong-secret-Gg8"));
    let key = keygen(&dir, "k.pem");
    let token = "host-token-Mm2xR8";
    let refused = run(&[
        "get",
        &server.api_url(),
        "--key",
        &key,
        "-v",
        "--access-token",
        token,
    ])
    .expect(1);
    assert!(
        refused.stderr.contains("authorization: DPoP ****"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(token) && !refused.stdout.contains(token));
}

#[test]
fn the_session_log_is_owner_only_and_masked() {
    let server = Server::start(config()).unwrap();
    let dir = TempDir::new("sessionlog");
    let log = dir.path("session.log");
    let mut args = vec![
        "get".to_string(),
        server.api_url(),
        "--session-log".into(),
        log.clone(),
    ];
    args.extend(token_flags(&server));
    let got = run_with(&args_of(&args), &[("DPOP_CLIENT_SECRET", SECRET)], b"").expect(0);
    assert_eq!(got.stderr, "", "without --verbose the log stays in its file");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("---- response 200"), "{text}");
    for secret in credentials_seen(&server)
        .iter()
        .map(String::as_str)
        .chain([SECRET])
    {
        assert!(!text.contains(secret), "the log shows a secret: {text}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    run(&["get", &server.api_url(), "--session-log", "/nonexistent/dir/log"])
        .expect(6)
        .stderr_has("session log");
}
