//! Host names to addresses, for the transport: IP literals are never looked up, names are
//! looked up within the request's deadline (on a helper thread only when a deadline is set
//! and the name is not cached), and answers are kept for a short while so that requests on a
//! pooled connection do not look the name up again.
//!
//! It also enforces the plain-http rule on the addresses themselves: a plain `http://` URL is
//! allowed to loopback only (unless insecure http was allowed), and a name such as `localhost`
//! passes only when every address it resolves to is a loopback address.

use super::cancel::{self, SLICE};
use crate::error::{Error, ErrorKind};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver as UreqResolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a looked-up name is kept.
const TTL: Duration = Duration::from_secs(30);
/// How many names are kept at most.
const MAX_NAMES: usize = 256;

#[derive(Debug)]
pub(crate) struct Resolver {
    allow_insecure_http: bool,
    cache: Mutex<HashMap<String, (Instant, Vec<SocketAddr>)>>,
}

impl Resolver {
    pub(crate) fn new(allow_insecure_http: bool) -> Self {
        Self {
            allow_insecure_http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The addresses of `host:port`, from the cache or a lookup bounded by `timeout`.
    fn lookup(&self, host: &str, port: u16, timeout: &NextTimeout) -> Result<Vec<SocketAddr>, ureq::Error> {
        let key = format!("{host}:{port}");
        let now = Instant::now();
        if let Some((at, addrs)) = self.cache.lock().get(&key) {
            if now.duration_since(*at) < TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs: Vec<SocketAddr> = if timeout.after.is_not_happening() {
            key.to_socket_addrs()?.collect()
        } else {
            let (tx, rx) = mpsc::sync_channel(1);
            let query = key.clone();
            crate::threads::spawn("dpop-lookup", move || {
                let _ = tx.send(query.to_socket_addrs().map(Iterator::collect));
            })?;
            // A cancellable call looks at its cancel flag between slices of the wait.
            let cancel = cancel::lent();
            let until = Instant::now() + *timeout.after;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                let wait = if cancel.can_cancel() {
                    left.min(SLICE)
                } else {
                    left
                };
                match rx.recv_timeout(wait) {
                    Ok(found) => break found?,
                    Err(mpsc::RecvTimeoutError::Timeout) if wait < left => {
                        cancel.check().map_err(super::interrupt::to_ureq)?;
                    }
                    Err(_) => return Err(ureq::Error::Timeout(timeout.reason)),
                }
            }
        };
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_NAMES {
            cache.retain(|_, (at, _)| now.duration_since(*at) < TTL);
            if cache.len() >= MAX_NAMES {
                cache.clear();
            }
        }
        cache.insert(key, (now, addrs.clone()));
        Ok(addrs)
    }
}

impl UreqResolver for Resolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(ureq::Error::BadUri(format!("{uri} is not an absolute URL")));
        };
        let port = authority
            .port_u16()
            .unwrap_or(if scheme.eq_ignore_ascii_case("https") {
                443
            } else {
                80
            });
        let host = authority.host().trim_start_matches('[').trim_end_matches(']');
        let addrs = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => self.lookup(host, port, &timeout)?,
        };
        if scheme.eq_ignore_ascii_case("http")
            && !self.allow_insecure_http
            && addrs.iter().any(|a| !a.ip().is_loopback())
        {
            return Err(ureq::Error::Other(Box::new(Error::new(
                ErrorKind::HttpInsecure,
                format!(
                    "refusing plain http:// to '{host}': it resolves to an address that is not loopback, so \
                     tokens and secrets would travel unencrypted; use https:// (or allow insecure http explicitly)"
                ),
            ))));
        }
        let mut resolved = self.empty();
        // ureq keeps up to 16 addresses.
        for addr in config.ip_family().keep_wanted(addrs.into_iter()).take(16) {
            resolved.push(addr);
        }
        if resolved.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &Resolver, url: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = url.parse().unwrap();
        resolver
            .resolve(&uri, &Config::default(), NextTimeout::default())
            .map(|r| r.iter().copied().collect())
    }

    #[test]
    fn ip_literals_are_used_as_they_are() {
        let resolver = Resolver::new(false);
        assert_eq!(
            resolve(&resolver, "http://127.0.0.1:8080/x").unwrap(),
            ["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve(&resolver, "https://[::1]/x").unwrap(),
            ["[::1]:443".parse().unwrap()]
        );
        assert!(resolver.cache.lock().is_empty(), "nothing was looked up");
    }

    #[test]
    fn plain_http_must_resolve_to_loopback() {
        let strict = Resolver::new(false);
        let refused = resolve(&strict, "http://192.0.2.1/x").unwrap_err();
        let ureq::Error::Other(inner) = refused else {
            panic!("not our refusal: {refused}")
        };
        assert_eq!(
            inner.downcast_ref::<Error>().unwrap().kind(),
            ErrorKind::HttpInsecure
        );
        assert!(
            resolve(&strict, "https://192.0.2.1/x").is_ok(),
            "https is not concerned"
        );
        assert!(
            resolve(&Resolver::new(true), "http://192.0.2.1/x").is_ok(),
            "the host allowed it"
        );
        let local = resolve(&strict, "http://localhost:9/x").unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
    }

    #[test]
    fn names_are_kept_for_a_while() {
        let resolver = Resolver::new(false);
        resolve(&resolver, "http://localhost:9/x").unwrap();
        let cached = resolver
            .cache
            .lock()
            .get("localhost:9")
            .map(|(at, _)| *at)
            .unwrap();
        resolve(&resolver, "http://localhost:9/y").unwrap();
        assert_eq!(
            resolver
                .cache
                .lock()
                .get("localhost:9")
                .map(|(at, _)| *at)
                .unwrap(),
            cached
        );
    }
}
