//! The connections under the transport: ureq's CONNECT-proxy and TCP connectors, then a layer
//! of libdpop's own that holds the buffers requests and responses go through and, for https,
//! the TLS session. It differs from ureq's own TLS layer in what it keeps in memory
//! (BENCHMARKS.md, "Memory of a dpop_http handle"):
//! - one rustls client configuration per list of trusted roots, shared by every handle in the
//!   process that trusts the same list, where ureq parses the roots into a new root store for
//!   every agent;
//! - the socket layer keeps small buffers, and the input buffer of the top layer starts small
//!   and grows only as far as a response head needs, instead of a buffer pair of the size of
//!   the largest head at every layer of every connection.

use super::transport::Anchors;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, NextTimeout, Transport, TransportAdapter,
};

/// Bytes of the socket layer's buffers, each way: any size works (the layer above reads and
/// writes through it in pieces); this one holds a TLS record.
pub(crate) const SOCKET_BUFFER: usize = 16 * 1024;

/// Where the top layer's input buffer starts: a typical response head and body fit.
const INPUT_START: usize = 8 * 1024;

/// The connector chain of every agent: CONNECT proxy (when set), TCP (through
/// [`interrupt::Connect`](super::interrupt), so that a cancel reaches a blocked connect, read
/// or write), then [`Connection`].
pub(crate) fn connector(roots: &Anchors, limits: Limits) -> impl Connector {
    ().chain(ConnectProxyConnector::default())
        .chain(super::interrupt::Connect)
        .chain(TopLayer {
            tls: client_config(roots),
            limits,
        })
}

/// The sizes of the top layer's buffers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// The input buffer grows up to this: the longest response head (ureq's limit) and a margin
    /// so that ureq sees a head that passes its limit and reports it as one.
    pub(crate) max_input: usize,
    /// The request head is written here whole, so it holds the longest header line.
    pub(crate) output: usize,
}

/// One rustls configuration per list of roots. The lists themselves are shared (the system's,
/// the built-in one, and a few with a CA file's roots added, see `transport.rs`), so a list is
/// known by its address; the few last configurations are kept.
fn client_config(roots: &Anchors) -> Arc<rustls::ClientConfig> {
    type Entry = (Anchors, Arc<rustls::ClientConfig>);
    static RECENT: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
    const KEPT: usize = 6;
    let mut recent = RECENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, config)) = recent.iter().find(|(list, _)| Arc::ptr_eq(list, roots)) {
        return Arc::clone(config);
    }
    let store = rustls::RootCertStore {
        roots: Vec::clone(roots),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(provider()))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("ring supports every TLS version rustls has")
        .with_root_certificates(store)
        .with_no_client_auth();
    let config = Arc::new(config);
    if recent.len() == KEPT {
        recent.remove(0);
    }
    recent.push((Arc::clone(roots), Arc::clone(&config)));
    config
}

/// ring's cipher suites and key exchanges, once per process.
fn provider() -> &'static Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The top layer: TLS for https, else plain, over what the layers below opened.
#[derive(Debug)]
struct TopLayer {
    tls: Arc<rustls::ClientConfig>,
    limits: Limits,
}

impl<In: Transport> Connector<In> for TopLayer {
    type Out = Connection;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Connection>, ureq::Error> {
        let Some(below) = chained else {
            return Ok(None);
        };
        let mut socket = TransportAdapter::new(below.boxed(), details.current_time.clone());
        let buffers = HeadBuffers::new(self.limits);
        if !details.needs_tls() {
            return Ok(Some(Connection::Plain { buffers, socket }));
        }
        let host = details.uri.authority().map(|a| a.host()).unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?
            .to_owned();
        let mut session = rustls::ClientConnection::new(Arc::clone(&self.tls), name)?;
        socket.set_timeout(details.timeout);
        session.complete_io(&mut socket)?;
        let stream = rustls::StreamOwned::new(session, socket);
        Ok(Some(Connection::Tls {
            buffers,
            stream: Box::new(stream),
        }))
    }
}

/// A connection as ureq sees it.
enum Connection {
    Plain {
        buffers: HeadBuffers,
        socket: TransportAdapter,
    },
    Tls {
        buffers: HeadBuffers,
        stream: Box<rustls::StreamOwned<rustls::ClientConnection, TransportAdapter>>,
    },
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Connection::Plain { .. } => "Connection::Plain",
            Connection::Tls { .. } => "Connection::Tls",
        })
    }
}

impl Connection {
    /// The buffers, and the byte stream with `timeout` set on the socket under it.
    fn parts(&mut self, timeout: NextTimeout) -> (&mut HeadBuffers, &mut dyn ReadWrite) {
        match self {
            Connection::Plain { buffers, socket } => {
                socket.set_timeout(timeout);
                (buffers, socket)
            }
            Connection::Tls { buffers, stream } => {
                stream.get_mut().set_timeout(timeout);
                (buffers, &mut **stream)
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Transport for Connection {
    fn buffers(&mut self) -> &mut dyn Buffers {
        match self {
            Connection::Plain { buffers, .. } | Connection::Tls { buffers, .. } => buffers,
        }
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let (buffers, stream) = self.parts(timeout);
        stream.write_all(&buffers.output()[..amount])?;
        Ok(stream.flush()?)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let (buffers, stream) = self.parts(timeout);
        let amount = stream.read(buffers.input_append_buf())?;
        buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        match self {
            Connection::Plain { socket, .. } => socket.get_mut().is_open(),
            Connection::Tls { stream, .. } => stream.get_mut().get_mut().is_open(),
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Connection::Tls { .. })
    }
}

/// ureq's [`Buffers`] with an input buffer that grows: it starts at [`INPUT_START`] and doubles
/// when little room is left, up to [`Limits::max_input`]. The output buffer is allocated at
/// its full size on first use, like ureq's.
struct HeadBuffers {
    input: Vec<u8>,
    /// `input[start..end]` is read and not yet consumed.
    start: usize,
    end: usize,
    output: Vec<u8>,
    limits: Limits,
    /// Whether the last consume took anything (see [`Buffers::can_use_input`]).
    progress: bool,
}

/// Below this much room the input buffer is compacted or grown before a read.
const MIN_READ_ROOM: usize = 4 * 1024;

/// The room `tmp_and_output` gives a request body on its way to the output (as ureq's).
const MIN_TMP: usize = 10 * 1024;

impl HeadBuffers {
    fn new(limits: Limits) -> Self {
        Self {
            input: Vec::new(),
            start: 0,
            end: 0,
            output: Vec::new(),
            limits,
            progress: false,
        }
    }

    /// Makes `room` bytes free after `end` when the limit allows (`room` may pass the limit:
    /// only `tmp_and_output` asks for that, as ureq's buffers do).
    fn make_room(&mut self, room: usize, limit: usize) {
        if self.input.len() - self.end >= room {
            return;
        }
        if self.start > 0 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut len = self.input.len().max(INPUT_START.min(limit));
        while len - self.end < room && len < limit {
            len = (len * 2).min(limit);
        }
        if self.end + room > len && room > MIN_READ_ROOM {
            len = self.end + room;
        }
        if len > self.input.len() {
            self.input.resize(len, 0);
        }
    }
}

impl Buffers for HeadBuffers {
    fn output(&mut self) -> &mut [u8] {
        if self.output.is_empty() {
            self.output = vec![0; self.limits.output];
        }
        &mut self.output
    }

    fn input(&self) -> &[u8] {
        &self.input[self.start..self.end]
    }

    fn input_append_buf(&mut self) -> &mut [u8] {
        self.make_room(MIN_READ_ROOM, self.limits.max_input);
        &mut self.input[self.end..]
    }

    fn input_appended(&mut self, amount: usize) {
        self.end = (self.end + amount).min(self.input.len());
    }

    fn input_consume(&mut self, amount: usize) {
        self.progress = amount > 0;
        self.start = (self.start + amount).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn tmp_and_output(&mut self) -> (&mut [u8], &mut [u8]) {
        self.make_room(MIN_TMP, self.limits.max_input);
        if self.output.is_empty() {
            self.output = vec![0; self.limits.output];
        }
        (&mut self.input[self.end..], &mut self.output)
    }

    fn can_use_input(&self) -> bool {
        self.start < self.end && self.progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_input: 68 * 1024,
        output: 16 * 1024,
    };

    fn fill(b: &mut HeadBuffers, byte: u8) -> usize {
        let room = b.input_append_buf();
        room.fill(byte);
        let n = room.len();
        b.input_appended(n);
        n
    }

    #[test]
    fn the_input_grows_to_the_limit_and_no_further() {
        let mut b = HeadBuffers::new(LIMITS);
        assert_eq!(
            b.input.capacity(),
            0,
            "nothing is allocated before the first read"
        );
        let mut total = 0;
        loop {
            let n = fill(&mut b, b'h');
            if n == 0 {
                break;
            }
            total += n;
            assert!(b.input.len() <= LIMITS.max_input);
        }
        assert_eq!(total, LIMITS.max_input, "a head up to the limit is held whole");
        assert!(b.input().iter().all(|&c| c == b'h'));
    }

    #[test]
    fn consumed_input_makes_room_before_the_buffer_grows() {
        let mut b = HeadBuffers::new(LIMITS);
        let first = fill(&mut b, b'a');
        assert_eq!(first, INPUT_START);
        b.input_consume(first - 10);
        assert!(b.can_use_input());
        let room = b.input_append_buf().len();
        assert_eq!(b.input.len(), INPUT_START, "compacted, not grown");
        assert_eq!(room, INPUT_START - 10);
        assert_eq!(b.input(), &[b'a'; 10][..]);
        b.input_consume(10);
        assert!(!b.can_use_input());
        assert_eq!(b.input(), b"");
    }

    #[test]
    fn handles_that_trust_the_same_roots_share_one_tls_configuration() {
        let roots = Arc::new(webpki_roots::TLS_SERVER_ROOTS.to_vec());
        let same = Arc::clone(&roots);
        let other = Arc::new(roots[..3].to_vec());
        assert!(Arc::ptr_eq(&client_config(&roots), &client_config(&same)));
        assert!(!Arc::ptr_eq(&client_config(&roots), &client_config(&other)));
    }

    #[test]
    fn a_request_body_gets_its_scratch_room() {
        let mut b = HeadBuffers::new(LIMITS);
        let (tmp, out) = b.tmp_and_output();
        assert!(tmp.len() >= MIN_TMP);
        assert_eq!(out.len(), LIMITS.output);
    }
}
