//! The blocking HTTP transport on ureq + rustls: agent settings, URL policy, deadlines, error
//! mapping.

use super::cancel::{self, Cancel};
use super::connection::{self, Limits};
use super::resolver::Resolver;
use super::response::Response;
use crate::error::{Error, ErrorKind, Result};
use rustls::pki_types::TrustAnchor;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::tls::{Certificate, PemItem};

/// The transport a request uses: its settings and the agents built from them. A client swaps
/// in a new one whenever a setting changes; requests keep the one they started with.
pub(crate) struct Transport {
    pub(crate) settings: TransportSettings,
    /// Through the proxy, when one is set.
    agent: ureq::Agent,
    /// With a proxy set and insecure http not allowed: the agent for plain `http://` (loopback
    /// only), which never goes through the proxy, so that no token crosses it in clear text.
    direct: Option<ureq::Agent>,
}

impl Transport {
    /// Builds the agents for `settings`.
    pub(crate) fn new(settings: TransportSettings) -> Result<Self> {
        let proxy = match &settings.proxy {
            Some(url) => {
                let unusable = |why: &dyn std::fmt::Display| {
                    Error::new(
                        ErrorKind::HttpConfig,
                        format!("the proxy URL '{}' is not usable: {why}", crate::redact::url(url)),
                    )
                };
                let proxy = ureq::Proxy::new(url).map_err(|e| unusable(&e))?;
                if !matches!(
                    proxy.protocol(),
                    ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
                ) {
                    return Err(unusable(
                        &"only http:// and https:// (CONNECT) proxies are supported, not SOCKS",
                    ));
                }
                Some(proxy)
            }
            None => None,
        };
        let direct = (proxy.is_some() && !settings.allow_insecure_http).then(|| build_agent(&settings, None));
        let agent = build_agent(&settings, proxy);
        Ok(Self {
            settings,
            agent,
            direct,
        })
    }

    /// The agent for a request to `url`.
    fn agent_for(&self, url: &str) -> &ureq::Agent {
        match &self.direct {
            Some(direct) if url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")) => direct,
            _ => &self.agent,
        }
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
    /// Trust the operating system's store (default) rather than the built-in Mozilla roots.
    pub(crate) system_roots: bool,
    pub(crate) proxy: Option<String>,
    pub(crate) user_agent: String,
    pub(crate) allow_insecure_http: bool,
    pub(crate) max_body: u64,
    /// What one request may take in all: its token request, its retries, every name lookup.
    pub(crate) request_timeout: Duration,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            extra_roots: Vec::new(),
            ca_file: None,
            system_roots: true,
            proxy: None,
            user_agent: concat!("libdpop/", env!("CARGO_PKG_VERSION")).to_string(),
            allow_insecure_http: false,
            max_body: 16 << 20,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Builds an agent: TLS always verified, no redirects followed (a proof is bound to the URL
/// it was made for), keep-alive pooling, HTTP errors returned as responses, names resolved by
/// [`Resolver`] (IP literals never looked up, names cached, lookups within the deadline),
/// connections that a cancel interrupts ([`super::interrupt`]).
fn build_agent(s: &TransportSettings, proxy: Option<ureq::Proxy>) -> ureq::Agent {
    let roots = if s.system_roots {
        match system_roots() {
            Some(system) if s.extra_roots.is_empty() => Arc::clone(system),
            Some(system) => with_extra(system, &s.extra_roots),
            None => builtin_roots(&s.extra_roots),
        }
    } else {
        builtin_roots(&s.extra_roots)
    };
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // ureq's default buffers are 128 KiB each way, at the TCP and again at the TLS layer:
        // half a MiB per connection. These are the socket layer's; the layer above holds the
        // response head and the request head (`connection.rs`).
        .input_buffer_size(connection::SOCKET_BUFFER)
        .output_buffer_size(connection::SOCKET_BUFFER)
        .max_redirects(0)
        .user_agent(s.user_agent.as_str())
        .proxy(proxy)
        .timeout_connect(Some(s.connect_timeout))
        .timeout_send_request(Some(s.read_timeout))
        .timeout_send_body(Some(s.read_timeout))
        .timeout_recv_response(Some(s.read_timeout))
        .timeout_recv_body(Some(s.read_timeout))
        .build();
    let limits = Limits {
        max_input: INPUT_BUFFER,
        output: OUTPUT_BUFFER,
    };
    ureq::Agent::with_parts(
        config,
        connection::connector(&roots, limits),
        Resolver::new(s.allow_insecure_http),
    )
}

/// Trusted roots as rustls holds them (subject, public key, name constraints), in lists shared
/// by every handle that trusts the same (see `client_config` in `connection.rs`).
pub(crate) type Anchors = Arc<Vec<TrustAnchor<'static>>>;

/// The trust anchors of `certs`; a certificate that does not parse is left out, as ureq and
/// rustls do, and the rest still serve.
fn anchors_of<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Vec<TrustAnchor<'static>> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(certs.into_iter().map(rustls::pki_types::CertificateDer::from));
    store.roots
}

/// The built-in Mozilla roots (webpki-roots: the anchors alone, borrowed, listed once per
/// process) and `extra`.
fn builtin_roots(extra: &[Certificate<'static>]) -> Anchors {
    static BUILTIN: std::sync::OnceLock<Anchors> = std::sync::OnceLock::new();
    let builtin = BUILTIN.get_or_init(|| Arc::new(webpki_roots::TLS_SERVER_ROOTS.to_vec()));
    if extra.is_empty() {
        return Arc::clone(builtin);
    }
    with_extra(builtin, extra)
}

/// `base` and `extra` in one list, shared by every handle that asks for the same: a host that
/// gives each of its handles the same CA file keeps one copy of the roots, not one per handle.
fn with_extra(base: &Anchors, extra: &[Certificate<'static>]) -> Anchors {
    type Combined = (Anchors, Vec<Certificate<'static>>, Anchors);
    /// The last few combinations made (hosts use one or two CA files).
    static RECENT: std::sync::Mutex<Vec<Combined>> = std::sync::Mutex::new(Vec::new());
    const KEPT: usize = 4;
    let mut recent = RECENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, _, both)) = recent.iter().find(|(b, e, _)| {
        Arc::ptr_eq(b, base) && e.len() == extra.len() && e.iter().zip(extra).all(|(x, y)| x.der() == y.der())
    }) {
        return Arc::clone(both);
    }
    let mut both = Vec::clone(base);
    both.extend(anchors_of(extra.iter().map(Certificate::der)));
    let both = Arc::new(both);
    if recent.len() == KEPT {
        recent.remove(0);
    }
    recent.push((Arc::clone(base), extra.to_vec(), Arc::clone(&both)));
    both
}

/// The operating system's trusted roots, read once per process (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` are honoured); `None` when the store holds none or cannot be read, and the
/// built-in roots serve instead.
fn system_roots() -> Option<&'static Anchors> {
    static ROOTS: std::sync::OnceLock<Anchors> = std::sync::OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let certs = rustls_native_certs::load_native_certs().certs;
        Arc::new(anchors_of(certs.iter().map(|der| der.as_ref())))
    });
    (!roots.is_empty()).then_some(roots)
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
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::new(
            ErrorKind::HttpUrl,
            format!("'{}' is not a valid URL: {e}", crate::redact::url(url)),
        )
    })?;
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
            format!(
                "'{}' has scheme '{other}': only http and https are supported",
                crate::redact::url(url)
            ),
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

/// One exchange for [`send`].
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a str,
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) body: &'a [u8],
    pub(crate) max_body: u64,
    /// When the whole request (of which this exchange is a part) must be done.
    pub(crate) deadline: Instant,
    /// The request's cancel flag, lent to the connection for this exchange.
    pub(crate) cancel: &'a Cancel,
}

/// Sends one request and reads the whole response, within the request's deadline; a cancel
/// ends it at the next read, connect or write (`Cancelled`, whatever else went wrong then).
pub(crate) fn send(transport: &Transport, outgoing: &Outgoing<'_>) -> Result<Response> {
    let Outgoing {
        method,
        url,
        deadline,
        cancel,
        ..
    } = *outgoing;
    cancel.check()?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(out_of_time(transport, url, "before the exchange could start"));
    }
    let _lent = cancel::lend(cancel);
    let failed = |e: ureq::Error| {
        if cancel.is_cancelled() {
            cancel::cancelled()
        } else {
            transport_error(transport, e, url)
        }
    };
    let agent = transport.agent_for(url);
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in outgoing.headers {
        builder = builder.header(*name, *value);
    }
    let build_error =
        |e: ureq::http::Error| Error::new(ErrorKind::HttpConfig, format!("cannot build the request: {e}"));
    // An empty body is sent as no body, so that a GET carries no `Content-Length: 0`; a method
    // that carries a body sends an empty one with `Content-Length: 0` (ureq would chunk it).
    let carries_body = ["POST", "PUT", "PATCH"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method));
    let response = if outgoing.body.is_empty() && !carries_body {
        let request = builder.body(()).map_err(build_error)?;
        agent.run(
            agent
                .configure_request(request)
                .timeout_global(Some(remaining))
                .build(),
        )
    } else {
        let request = builder.body(outgoing.body).map_err(build_error)?;
        agent.run(
            agent
                .configure_request(request)
                .timeout_global(Some(remaining))
                .build(),
        )
    }
    .map_err(failed)?;
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
        .limit(outgoing.max_body)
        .read_to_vec()
        .map_err(failed)?;
    Ok(Response::new(status, headers, body))
}

/// The most a connection's input buffer grows to: ureq's 64 KiB response-head limit and a
/// margin, so that an overlong head is reported as one.
const INPUT_BUFFER: usize = 68 * 1024;

/// Bytes of a connection's output buffer: the longest request header line must fit.
const OUTPUT_BUFFER: usize = 16 * 1024;

/// The request's total time ran out, `when`.
pub(crate) fn out_of_time(transport: &Transport, url: &str, when: &str) -> Error {
    Error::new(
        ErrorKind::HttpTimeout,
        format!(
            "the request's time limit ({} ms in all, retries and token requests included) ran out {when}: {}",
            transport.settings.request_timeout.as_millis(),
            crate::redact::url(url)
        ),
    )
}

fn transport_error(transport: &Transport, e: ureq::Error, url: &str) -> Error {
    if let ureq::Error::Other(inner) = &e {
        if let Some(ours) = inner.downcast_ref::<Error>() {
            return ours.clone();
        }
    }
    if let ureq::Error::Timeout(which) = &e {
        let step = match which {
            ureq::Timeout::Global | ureq::Timeout::PerCall => {
                return out_of_time(transport, url, "during the exchange");
            }
            ureq::Timeout::Resolve => "looking the host name up",
            ureq::Timeout::Connect => "connecting",
            ureq::Timeout::SendRequest | ureq::Timeout::SendBody => "sending the request",
            ureq::Timeout::RecvResponse => "waiting for the response",
            ureq::Timeout::RecvBody => "reading the response body",
            _ => "in the exchange",
        };
        return Error::new(
            ErrorKind::HttpTimeout,
            format!(
                "timed out {step} (connect timeout {} ms, read timeout {} ms): {}",
                transport.settings.connect_timeout.as_millis(),
                transport.settings.read_timeout.as_millis(),
                crate::redact::url(url)
            ),
        );
    }
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
    // ureq's own text may quote the URL: it is replaced by its redacted form there too.
    let shown = crate::redact::url(url);
    let detail = e.to_string().replace(url, &shown);
    Error::new(kind, format!("{what}: {shown}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socks_proxy_is_refused_when_it_is_set() {
        let with = |proxy: &str| {
            Transport::new(TransportSettings {
                proxy: Some(proxy.to_string()),
                ..TransportSettings::default()
            })
        };
        let e = with("socks5://127.0.0.1:1080").err().unwrap();
        assert_eq!(e.kind(), ErrorKind::HttpConfig);
        assert!(e.message().contains("SOCKS"), "{}", e.message());
        assert!(with("http://127.0.0.1:3128").is_ok());
    }

    #[test]
    fn handles_with_the_same_ca_share_one_list_of_roots() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other.test".into()]).unwrap();
        let extra = [Certificate::from_der(ca.cert.der()).to_owned()];
        let a = builtin_roots(&extra);
        let b = builtin_roots(&[Certificate::from_der(ca.cert.der()).to_owned()]);
        assert!(Arc::ptr_eq(&a, &b), "the same CA: one list");
        assert_eq!(a.len(), webpki_roots::TLS_SERVER_ROOTS.len() + 1);
        let c = builtin_roots(&[Certificate::from_der(other.cert.der()).to_owned()]);
        assert!(!Arc::ptr_eq(&a, &c), "another CA: another list");
        let expected = anchors_of([other.cert.der().as_ref()]);
        assert_eq!(expected.len(), 1);
        assert_eq!(c.last(), expected.first());
        assert_ne!(a.last(), expected.first());
    }
}
