//! The blocking HTTP transport on ureq + rustls: agent settings, URL policy, error mapping.

use super::response::Response;
use crate::error::{Error, ErrorKind, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// The transport a request uses: its settings and the agent built from them. A client swaps
/// in a new one whenever a setting changes; requests keep the one they started with.
pub(crate) struct Transport {
    pub(crate) settings: TransportSettings,
    pub(crate) agent: ureq::Agent,
}

impl Transport {
    /// Builds the agent for `settings`.
    pub(crate) fn new(settings: TransportSettings) -> Result<Self> {
        let agent = build_agent(&settings)?;
        Ok(Self { settings, agent })
    }
}

/// Transport settings.
#[derive(Clone)]
pub(crate) struct TransportSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    /// Extra trusted roots from a CA bundle file, added to the built-in ones.
    pub(crate) extra_roots: Vec<Certificate<'static>>,
    /// The file `extra_roots` came from.
    pub(crate) ca_file: Option<std::path::PathBuf>,
    pub(crate) proxy: Option<String>,
    pub(crate) user_agent: String,
    pub(crate) allow_insecure_http: bool,
    pub(crate) max_body: u64,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            extra_roots: Vec::new(),
            ca_file: None,
            proxy: None,
            user_agent: concat!("libdpop/", env!("CARGO_PKG_VERSION")).to_string(),
            allow_insecure_http: false,
            max_body: 16 << 20,
        }
    }
}

/// Builds the agent: TLS always verified, no redirects followed (a proof is bound to the URL
/// it was made for), keep-alive pooling, HTTP errors returned as responses.
///
/// No resolve timeout: ureq looks the host up on every request, even on a pooled connection,
/// and with a resolve timeout it does so on a new thread each time (35 µs per request here,
/// see BENCHMARKS.md). Name lookups are bounded by the system resolver's own timeouts.
fn build_agent(s: &TransportSettings) -> Result<ureq::Agent> {
    let roots = if s.extra_roots.is_empty() {
        RootCerts::WebPki
    } else {
        let builtin = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned());
        RootCerts::Specific(Arc::new(builtin.chain(s.extra_roots.iter().cloned()).collect()))
    };
    let proxy = match &s.proxy {
        Some(url) => Some(ureq::Proxy::new(url).map_err(|e| {
            Error::new(
                ErrorKind::HttpConfig,
                format!("the proxy URL '{url}' is not usable: {e}"),
            )
        })?),
        None => None,
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(s.user_agent.as_str())
        .proxy(proxy)
        .timeout_connect(Some(s.connect_timeout))
        .timeout_send_request(Some(s.read_timeout))
        .timeout_send_body(Some(s.read_timeout))
        .timeout_recv_response(Some(s.read_timeout))
        .timeout_recv_body(Some(s.read_timeout))
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build();
    Ok(config.new_agent())
}

/// Reads every certificate of a PEM CA bundle.
pub(crate) fn load_ca_file(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let shown = path.display();
    let pem = std::fs::read(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read CA file '{shown}': {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::HttpConfig,
                    format!("the CA file '{shown}' is not valid PEM: {e}"),
                ))
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::HttpConfig,
            format!("the CA file '{shown}' holds no PEM certificate"),
        ));
    }
    Ok(certs)
}

/// Parses a request URL and applies the transport policy: http(s) only, and plain http only
/// to loopback hosts unless the host application opted in.
pub(crate) fn check_url(url: &str, allow_insecure_http: bool) -> Result<url::Url> {
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::new(ErrorKind::HttpUrl, format!("'{url}' is not a valid URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_insecure_http || is_loopback(&parsed) => Ok(parsed),
        "http" => Err(Error::new(
            ErrorKind::HttpInsecure,
            format!(
                "refusing plain http:// to '{}': tokens and secrets would travel unencrypted; use \
                 https:// (or allow insecure http explicitly)",
                parsed.host_str().unwrap_or("")
            ),
        )),
        other => Err(Error::new(
            ErrorKind::HttpUrl,
            format!("'{url}' has scheme '{other}': only http and https are supported"),
        )),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost") || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    }
}

/// Sends one request and reads the whole response.
pub(crate) fn send(
    agent: &ureq::Agent,
    max_body: u64,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let build_error =
        |e: ureq::http::Error| Error::new(ErrorKind::HttpConfig, format!("cannot build the request: {e}"));
    // An empty body is sent as no body, so that a GET carries no `Content-Length: 0`.
    let response = if body.is_empty() {
        agent.run(builder.body(()).map_err(build_error)?)
    } else {
        agent.run(builder.body(body).map_err(build_error)?)
    }
    .map_err(|e| transport_error(e, url))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .into_with_config()
        .limit(max_body)
        .read_to_vec()
        .map_err(|e| transport_error(e, url))?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn transport_error(e: ureq::Error, url: &str) -> Error {
    let (kind, what) = match &e {
        ureq::Error::Timeout(_) => (ErrorKind::HttpTimeout, "timed out"),
        ureq::Error::HostNotFound => (ErrorKind::HttpConnect, "host not found"),
        ureq::Error::ConnectionFailed => (ErrorKind::HttpConnect, "connection failed"),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                (ErrorKind::HttpTimeout, "timed out")
            }
            std::io::ErrorKind::ConnectionRefused => (ErrorKind::HttpConnect, "connection refused"),
            _ if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) => {
                (ErrorKind::HttpTls, "TLS failed")
            }
            _ => (ErrorKind::HttpIo, "I/O error"),
        },
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            (ErrorKind::HttpTls, "TLS failed")
        }
        ureq::Error::BodyExceedsLimit(_) => (ErrorKind::HttpBodyTooLarge, "response body too large"),
        ureq::Error::BadUri(_) => (ErrorKind::HttpUrl, "bad URL"),
        ureq::Error::InvalidProxyUrl => (ErrorKind::HttpConfig, "bad proxy URL"),
        ureq::Error::Protocol(_) => (ErrorKind::HttpProtocol, "invalid HTTP response"),
        _ => (ErrorKind::HttpIo, "request failed"),
    };
    let url = super::redact_query(url);
    Error::new(kind, format!("{what}: {url}: {e}"))
}
