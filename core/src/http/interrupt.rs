//! The connector chain of the transport's agents: ureq's own pieces (CONNECT proxies, TCP,
//! rustls) with [`Connect`] in place of its TCP connector, so that a cancel reaches a connect,
//! a read or a write that blocks. It looks at the cancel flag lent to the thread for the
//! exchange ([`cancel::lent`]); a synchronous call lends none, and for it nothing changes.
//!
//! - A cancellable call's TCP connect runs on a helper thread, and the request waits for it in
//!   [`SLICE`]s, looking at the flag in between; a cancelled connect is left to finish (or time
//!   out) there, and its socket is dropped.
//! - Every connection keeps the handle ureq registers to shut its socket down from another
//!   thread. While a cancellable call reads or writes, the handle is attached to the call's
//!   flag ([`Cancel::attach`]), and a cancel shuts the socket down: the blocked read or write
//!   (under TLS too) returns at once, and the connection is dropped, never pooled. No read waits
//!   in slices, so no timeout cuts an operation short (on Windows a timed-out receive leaves a
//!   socket in an undefined state).

use super::cancel::{self, Cancel, SLICE};
use parking_lot::Mutex;
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Instant as UreqInstant;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, NextTimeout, ShutdownHandle, TcpConnector, Transport,
};

/// A core error on its way through ureq (`transport_error` takes it out again).
pub(crate) fn to_ureq(e: crate::Error) -> ureq::Error {
    ureq::Error::Other(Box::new(e))
}

fn check(cancel: &Cancel) -> Result<(), ureq::Error> {
    cancel.check().map_err(to_ureq)
}

/// Opens the TCP connection (with ureq's TCP connector: addresses tried in turn within the
/// connect timeout, `TCP_NODELAY`, the shutdown handle registered with the agent): on the
/// calling thread for a call that cannot be cancelled, on a helper thread otherwise.
#[derive(Debug)]
pub(crate) struct Connect;

impl<In: Transport> Connector<In> for Connect {
    type Out = Either<In, Interruptible>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            // A CONNECT proxy's tunnel, opened through this chain already.
            return Ok(Some(Either::A(transport)));
        }
        let owned = OwnedDetails::of(details);
        let cancel = cancel::lent();
        if !cancel.can_cancel() {
            return Ok(owned.connect()?.map(Either::B));
        }
        check(&cancel)?;
        let (tx, rx) = mpsc::sync_channel(1);
        crate::threads::spawn("dpop-connect", move || {
            let _ = tx.send(owned.connect());
        })
        .map_err(ureq::Error::Io)?;
        loop {
            match rx.recv_timeout(SLICE) {
                Ok(connected) => return Ok(connected?.map(Either::B)),
                Err(mpsc::RecvTimeoutError::Timeout) => check(&cancel)?,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ureq::Error::ConnectionFailed),
            }
        }
    }
}

type RegisterShutdown = dyn Fn(Weak<dyn ShutdownHandle>) -> Result<(), ureq::Error> + Send + Sync;
type RunConnector = dyn Fn(&ConnectionDetails) -> Result<Box<dyn Transport>, ureq::Error> + Send + Sync;

/// What a connect needs of [`ConnectionDetails`], owned, so that a helper thread can connect.
/// ureq's TCP connector looks nothing up (only a SOCKS proxy's name would be), so the resolver
/// it is given answers nothing.
struct OwnedDetails {
    uri: Uri,
    addrs: ResolvedSocketAddrs,
    config: Config,
    request_level: bool,
    now: UreqInstant,
    timeout: NextTimeout,
    current_time: Arc<dyn Fn() -> UreqInstant + Send + Sync>,
    run_connector: Arc<RunConnector>,
    register_shutdown: Arc<RegisterShutdown>,
}

impl OwnedDetails {
    fn of(details: &ConnectionDetails) -> Self {
        Self {
            uri: details.uri.clone(),
            addrs: details.addrs.clone(),
            config: details.config.clone(),
            request_level: details.request_level,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        }
    }

    /// Connects, keeping the socket's shutdown handle as it is registered with the agent.
    fn connect(&self) -> Result<Option<Interruptible>, ureq::Error> {
        let socket: Arc<Mutex<Option<Weak<dyn ShutdownHandle>>>> = Arc::default();
        let register = {
            let socket = Arc::clone(&socket);
            let agent = Arc::clone(&self.register_shutdown);
            move |handle: Weak<dyn ShutdownHandle>| {
                *socket.lock() = Some(handle.clone());
                agent(handle)
            }
        };
        let details = ConnectionDetails {
            uri: &self.uri,
            addrs: self.addrs.clone(),
            config: &self.config,
            request_level: self.request_level,
            resolver: &NoLookups,
            now: self.now,
            timeout: self.timeout,
            current_time: self.current_time.clone(),
            run_connector: self.run_connector.clone(),
            register_shutdown: Arc::new(register),
        };
        let connected = Connector::<()>::connect(&TcpConnector::default(), &details, None)?;
        Ok(connected.map(|transport| Interruptible {
            inner: Box::new(transport),
            socket: socket.lock().take(),
        }))
    }
}

#[derive(Debug)]
struct NoLookups;

impl Resolver for NoLookups {
    fn resolve(&self, _: &Uri, _: &Config, _: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        Err(ureq::Error::HostNotFound)
    }
}

/// A TCP connection whose reads and writes a cancel interrupts (see the module's comment).
pub(crate) struct Interruptible {
    inner: Box<dyn Transport>,
    /// Shuts the socket down; `None` if ureq registered no handle.
    socket: Option<Weak<dyn ShutdownHandle>>,
}

impl Interruptible {
    /// Runs one read or write, with the socket attached to the lent cancel flag meanwhile.
    fn io<R>(
        &mut self,
        step: impl FnOnce(&mut dyn Transport) -> Result<R, ureq::Error>,
    ) -> Result<R, ureq::Error> {
        let cancel = cancel::lent();
        let Some(socket) = self.socket.as_ref().filter(|_| cancel.can_cancel()) else {
            return step(&mut *self.inner);
        };
        let _attached = cancel.attach(socket).map_err(to_ureq)?;
        step(&mut *self.inner)
    }
}

impl fmt::Debug for Interruptible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Transport for Interruptible {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.io(|inner| inner.transmit_output(amount, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.io(|inner| inner.await_input(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
