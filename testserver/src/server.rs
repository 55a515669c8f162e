//! The running server: a listener thread, one thread per connection, TLS when configured, and
//! the routing of requests to the endpoints.

use crate::authorize::{authorization_endpoint, par_endpoint};
use crate::authz::token_endpoint;
use crate::config::{Config, RecordedRequest, Stats};
use crate::fault::{self, Fault};
use crate::http::{self, Reply, Request, Response};
use crate::metadata::{is_metadata_path, metadata};
use crate::proof::{normalize_authority, normalize_url};
use crate::resource::api;
use crate::state::Shared;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often a blocked connection thread checks whether the server is stopping.
const POLL: Duration = Duration::from_millis(50);

/// A running server on 127.0.0.1. It stops (threads end, the listener closes) on
/// [`Server::stop`] or drop. Shared between threads by reference: every method takes `&self`.
pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts a server on 127.0.0.1 with a port the OS chooses.
    pub fn start(config: Config) -> io::Result<Server> {
        Server::start_on(config, 0)
    }

    /// Starts a server on 127.0.0.1:`port` (0: the OS chooses).
    pub fn start_on(config: Config, port: u16) -> io::Result<Server> {
        fault::check(&config).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = match &config.tls {
            Some((cert, key)) => Some(Arc::new(tls_config(cert, key)?)),
            None => None,
        };
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let shared = Arc::new(Shared::new(config, format!("{scheme}://{addr}")));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let shared = Arc::clone(&shared);
            let connections = Arc::clone(&connections);
            let tls = tls.clone();
            thread::Builder::new()
                .name("dpop-test-server-accept".into())
                .spawn(move || accept_loop(listener, shared, tls, connections))?
        };
        Ok(Server {
            shared,
            addr,
            tls: tls.is_some(),
            accept: Some(accept),
            connections,
        })
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The issuer: the base URL + [`Config::issuer_path`] (the metadata `issuer` unless
    /// [`Config::issuer_override`] says otherwise, the tokens' `iss`).
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// The token endpoint, base URL + `/token`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The protected API, base URL + `/dpop/test`.
    pub fn api_url(&self) -> String {
        format!("{}/dpop/test", self.base_url())
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A snapshot of the counters and the request log.
    pub fn stats(&self) -> Stats {
        self.shared.stats().clone()
    }

    /// A refresh token for `client_id`, bound to the DPoP key with thumbprint `jkt`, as if a
    /// grant had issued it: a test's starting point for the refresh_token grant.
    pub fn issue_refresh_token(&self, client_id: &str, jkt: &str) -> String {
        let token = self.shared.random();
        let grant = crate::token::RefreshGrant {
            client_id: client_id.to_owned(),
            jkt: jkt.to_owned(),
            scope: None,
        };
        self.shared.tokens().add_refresh(token.clone(), grant);
        token
    }

    /// Makes every access token issued so far fail at the API with `invalid_token`.
    pub fn revoke_all_tokens(&self) {
        self.shared.tokens().revoke_all();
    }

    /// Makes every refresh token issued so far unknown (`invalid_grant` from then on), as when
    /// a user's session ends at the server.
    pub fn revoke_refresh_tokens(&self) {
        self.shared.tokens().revoke_refresh();
    }

    /// The DPoP nonce the server accepts now.
    pub fn current_nonce(&self) -> String {
        self.shared.current_nonce()
    }

    /// Replaces the nonce and returns the new one; the one before stays valid until the next
    /// rotation, older ones become stale.
    pub fn rotate_nonce(&self) -> String {
        self.shared.rotate_nonce()
    }

    /// Gives the token endpoint a fault from now on, or with `None` lets it answer as usual
    /// again: a token endpoint that goes down (or comes back) while a client runs. Replaces
    /// [`Config::token_fault`]. [`Fault::Reset`] set this way resets only connections opened
    /// afterwards (the server looks at request heads only on connections opened while a reset
    /// fault is in force). Fails for a fault that is not for the token endpoint.
    pub fn set_token_fault(&self, fault: Option<Fault>) -> io::Result<()> {
        fault::check_token_fault(fault.as_ref())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.shared.set_token_fault(fault);
        Ok(())
    }

    /// Logs one line per request (method, path, status) to stderr, or stops doing so.
    pub fn log_requests(&self, enabled: bool) {
        self.shared.log.store(enabled, Ordering::Relaxed);
    }

    /// Stops the server and waits for its threads.
    pub fn stop(self) {}

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop, blocked in accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let connections = std::mem::take(&mut *self.connections.lock().unwrap_or_else(|e| e.into_inner()));
        for connection in connections {
            let _ = connection.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Reads a PEM text, or the file it names when it holds no PEM block.
fn pem_bytes(text_or_path: &str) -> io::Result<Vec<u8>> {
    if text_or_path.contains("-----BEGIN") {
        Ok(text_or_path.as_bytes().to_vec())
    } else {
        std::fs::read(text_or_path)
    }
}

fn tls_config(cert: &str, key: &str) -> io::Result<rustls::ServerConfig> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("TLS {what}: {e}"))
    };
    let certs = CertificateDer::pem_slice_iter(&pem_bytes(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate chain", &e))?;
    if certs.is_empty() {
        return Err(invalid("certificate chain", &"no CERTIFICATE block"));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem_bytes(key)?).map_err(|e| invalid("private key", &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("certificate and key", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ServerConfig>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            thread::sleep(POLL);
            continue;
        };
        shared.stats().connections += 1;
        let shared = Arc::clone(&shared);
        let tls = tls.clone();
        let spawned = thread::Builder::new()
            .name("dpop-test-server-conn".into())
            .spawn(move || connection(stream, &shared, tls));
        let mut connections = connections.lock().unwrap_or_else(|e| e.into_inner());
        connections.retain(|c| !c.is_finished());
        connections.extend(spawned);
    }
}

/// Serves one connection, over TLS when configured.
fn connection(stream: TcpStream, shared: &Shared, tls: Option<Arc<rustls::ServerConfig>>) {
    let setup = stream
        .set_read_timeout(Some(POLL))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(10))))
        .and_then(|()| stream.set_nodelay(true));
    if setup.is_err() {
        return;
    }
    let is_tls = tls.is_some();
    let handle = |request: &Request| route(shared, request, is_tls);
    let on_bad = |response: Response| {
        log(shared, "-", "-", response.status);
        response.with_header("Date", shared.clock.http_date())
    };
    let resets = |head: &Request| {
        let endpoint = Endpoint::of(head);
        let reset = shared.fault(endpoint) == Some(Fault::Reset);
        if reset {
            count(shared, endpoint);
            record(shared, head, None);
        }
        reset
    };
    let resets = shared
        .resets_connections()
        .then_some(&resets as &dyn Fn(&Request) -> bool);
    match tls {
        None => http::serve(stream, &shared.stop, handle, on_bad, resets),
        Some(config) => {
            let Ok(tls) = rustls::ServerConnection::new(config) else {
                return;
            };
            http::serve(
                rustls::StreamOwned::new(tls, stream),
                &shared.stop,
                handle,
                on_bad,
                resets,
            );
        }
    }
}

/// Which endpoint a request is for, as far as counters and faults go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `POST /token`.
    Token,
    /// `/dpop` and `/dpop/*`, any method.
    Api,
    /// Anything else.
    Other,
}

impl Endpoint {
    fn of(request: &Request) -> Endpoint {
        let path = request.path.as_str();
        if path == "/token" && request.method == "POST" {
            Endpoint::Token
        } else if path == "/dpop" || path.starts_with("/dpop/") {
            Endpoint::Api
        } else {
            Endpoint::Other
        }
    }
}

impl Shared {
    /// The fault of `endpoint` now.
    fn fault(&self, endpoint: Endpoint) -> Option<Fault> {
        match endpoint {
            Endpoint::Token => self.token_fault(),
            Endpoint::Api => self.config.api_fault.clone(),
            Endpoint::Other => None,
        }
    }

    /// Whether an endpoint resets connections, so that request heads are looked at first.
    fn resets_connections(&self) -> bool {
        [Endpoint::Token, Endpoint::Api]
            .into_iter()
            .any(|endpoint| self.fault(endpoint) == Some(Fault::Reset))
    }
}

/// Counts a request for its endpoint.
fn count(shared: &Shared, endpoint: Endpoint) {
    let counted = {
        let mut stats = shared.stats();
        match endpoint {
            Endpoint::Token => stats.token_requests += 1,
            Endpoint::Api => stats.api_requests += 1,
            Endpoint::Other => return,
        }
        stats.token_requests + stats.api_requests
    };
    let every = shared.config.rotate_nonce_every;
    if every > 0 && counted % every == 0 {
        shared.rotate_nonce();
    }
}

fn log(shared: &Shared, method: &str, path: &str, status: u16) {
    if shared.log.load(Ordering::Relaxed) {
        eprintln!("dpop-test-server: {method} {path} {status}");
    }
}

/// Answers one request and records it, with the endpoint's fault if it has one. `/stall` and
/// [`Fault::Hang`] are recorded (status 0) and never answered: the thread sleeps until the
/// server stops, then closes the connection. [`Fault::Reset`] gets here only over TLS, where
/// the connection is closed instead.
fn route(shared: &Shared, request: &Request, tls: bool) -> Reply {
    let endpoint = Endpoint::of(request);
    count(shared, endpoint);
    let fault = shared.fault(endpoint);
    let fault = fault.as_ref();
    if request.path == "/stall" || fault == Some(&Fault::Hang) {
        record(shared, request, None);
        while !shared.stop.load(Ordering::Relaxed) {
            thread::sleep(POLL);
        }
        return Reply::Close;
    }
    if fault == Some(&Fault::Reset) {
        record(shared, request, None);
        return Reply::Close;
    }
    let mut response = match retry_after(shared, endpoint) {
        Some(response) => response,
        None => match fault.and_then(|fault| fault.response(shared)) {
            Some(response) => response,
            None => dispatch(shared, request, tls),
        },
    };
    if fault == Some(&Fault::NonceOn200) && (200..300).contains(&response.status) {
        response
            .headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case("dpop-nonce"));
        response = response.with_header("DPoP-Nonce", shared.rotate_nonce());
    }
    record(shared, request, Some(&response));
    Reply::Send(
        response
            .with_header("Cache-Control", "no-store")
            .with_header("Pragma", "no-cache")
            .with_header("Date", shared.clock.http_date()),
    )
}

/// The endpoint's Retry-After answer, while it has some left.
fn retry_after(shared: &Shared, endpoint: Endpoint) -> Option<Response> {
    let config = &shared.config;
    let retry = match endpoint {
        Endpoint::Token => config.token_retry_after?,
        Endpoint::Api => config.api_retry_after?,
        Endpoint::Other => return None,
    };
    {
        let mut stats = shared.stats();
        let answered = match endpoint {
            Endpoint::Token => &mut stats.retry_after_token,
            _ => &mut stats.retry_after_api,
        };
        if *answered >= retry.count {
            return None;
        }
        *answered += 1;
    }
    Some(retry.response(shared))
}

/// Records a request with its answer (None: never answered).
fn record(shared: &Shared, request: &Request, response: Option<&Response>) {
    let status = response.map_or(0, |r| r.status);
    log(shared, &request.method, &request.path, status);
    shared.record(RecordedRequest {
        method: request.method.clone(),
        path: request.path.clone(),
        headers: request.headers.clone(),
        body: String::from_utf8_lossy(&request.body).into_owned(),
        status,
        nonce: response.and_then(|r| r.header("dpop-nonce")).map(str::to_owned),
    });
}

fn dispatch(shared: &Shared, request: &Request, tls: bool) -> Response {
    let path = request.path.as_str();
    let is_api = Endpoint::of(request) == Endpoint::Api;
    let scheme = if tls { "https" } else { "http" };
    // RFC 9112 §3.2.2: an absolute-form target's authority replaces Host.
    let authority = request.target_authority.as_deref().or(request.header("host"));
    let Some(authority) = authority.and_then(|a| normalize_authority(scheme, a)) else {
        return Response::error(400, "invalid_request", "missing or malformed Host header");
    };
    let url = match &shared.config.public_base_url {
        // The URL the server believes it is reached at; a malformed base matches no htu.
        Some(base) => normalize_url(&format!("{}{path}", base.trim_end_matches('/'))).unwrap_or_default(),
        None => format!("{scheme}://{authority}{path}"),
    };
    match (path, request.method.as_str()) {
        ("/token", "POST") => token_endpoint(shared, request, &url),
        ("/token", _) => not_allowed("POST"),
        ("/authorize", "GET") => authorization_endpoint(shared, request),
        ("/authorize", _) => not_allowed("GET"),
        ("/par", "POST") => par_endpoint(shared, request, &url),
        ("/par", _) => not_allowed("POST"),
        _ if is_api => api(shared, request, &url),
        ("/plain", "GET" | "HEAD") => Response::text(200, "hello"),
        ("/stats", "GET") => stats(shared),
        (path, "GET") if is_metadata_path(path) => metadata(shared, path),
        ("/plain", _) => not_allowed("GET, HEAD"),
        _ => Response::error(404, "not_found", "no such endpoint"),
    }
}

fn not_allowed(allow: &str) -> Response {
    Response::error(405, "invalid_request", "method not allowed").with_header("Allow", allow)
}

/// `GET /stats`: the counters as JSON, for a client in another process (the recorded requests,
/// which hold tokens and proofs, are not included).
fn stats(shared: &Shared) -> Response {
    let s = shared.stats();
    Response::json(
        200,
        &serde_json::json!({
            "connections": s.connections,
            "token_requests": s.token_requests,
            "tokens_issued": s.tokens_issued,
            "client_credentials_grants": s.client_credentials_grants,
            "refresh_grants": s.refresh_grants,
            "token_exchange_grants": s.token_exchange_grants,
            "jwt_bearer_grants": s.jwt_bearer_grants,
            "nonce_rejections_token": s.nonce_rejections_token,
            "metadata_requests": s.metadata_requests,
            "retry_after_token": s.retry_after_token,
            "retry_after_api": s.retry_after_api,
            "api_requests": s.api_requests,
            "api_ok": s.api_ok,
            "nonce_rejections_api": s.nonce_rejections_api,
            "invalid_token_rejections": s.invalid_token_rejections,
            "authorization_requests": s.authorization_requests,
            "par_requests": s.par_requests,
            "authorization_code_grants": s.authorization_code_grants,
            "assertion_jtis": s.assertion_jtis,
            "assertion_auds": s.assertion_auds,
        }),
    )
}
