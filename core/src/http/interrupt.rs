//! libdpop's TCP connection ([`Connect`], [`Tcp`]), the bottom of the connector chain of
//! `connection.rs`, which a cancel interrupts. It looks at the cancel flag lent to the thread
//! for the exchange ([`cancel::lent`]); a synchronous call lends none, and for it the
//! connection works as ureq's own does (blocking I/O bounded by the timeouts).
//!
//! For a call that can be cancelled:
//! - the connect runs on a helper thread, and the request waits for it in [`SLICE`]s, looking
//!   at the flag in between; a cancelled connect is left to finish (or time out) there, and its
//!   socket is dropped;
//! - reads and writes are non-blocking, and between attempts that find nothing to do the call
//!   sleeps on its flag (1 ms at first, doubling up to [`SLICE`]), which a cancel wakes at once.
//!   No operation is cut short by a timeout: a timed-out receive leaves a Windows socket in an
//!   undefined state, and shutting a socket down from another thread does not wake a blocked
//!   receive there (nor under Wine).

use super::cancel::{self, Cancel, SLICE};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Weak};
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::ResolvedSocketAddrs;
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle, Transport,
};
use ureq::Timeout;

/// A core error on its way through ureq (`transport_error` takes it out again).
pub(crate) fn to_ureq(e: crate::Error) -> ureq::Error {
    ureq::Error::Other(Box::new(e))
}

fn check(cancel: &Cancel) -> Result<(), ureq::Error> {
    cancel.check().map_err(to_ureq)
}

/// Opens the TCP connection: on the calling thread for a call that cannot be cancelled, on a
/// helper thread otherwise. A CONNECT proxy's tunnel (made through the whole chain) passes.
#[derive(Debug)]
pub(crate) struct Connect;

impl<In: Transport> Connector<In> for Connect {
    type Out = Either<In, Tcp>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(transport) = chained {
            // A CONNECT proxy's tunnel, opened through this chain already.
            return Ok(Some(Either::A(transport)));
        }
        let plan = Plan {
            addrs: details.addrs.clone(),
            timeout: details.timeout,
        };
        let cancel = cancel::lent();
        let stream = if cancel.can_cancel() {
            check(&cancel)?;
            let (tx, rx) = mpsc::sync_channel(1);
            crate::threads::spawn("dpop-connect", move || {
                let _ = tx.send(plan.connect());
            })
            .map_err(ureq::Error::Io)?;
            loop {
                match rx.recv_timeout(SLICE) {
                    Ok(connected) => break connected?,
                    Err(mpsc::RecvTimeoutError::Timeout) => check(&cancel)?,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ureq::Error::ConnectionFailed),
                }
            }
        } else {
            plan.connect()?
        };
        Ok(Some(Either::B(Tcp::new(stream, details)?)))
    }
}

/// Where to connect and within what time: what a helper thread needs.
struct Plan {
    addrs: ResolvedSocketAddrs,
    timeout: NextTimeout,
}

impl Plan {
    /// Tries the addresses in turn, as ureq does: each gets a share of the connect timeout
    /// (halving from one to the next, the shares summing to the whole, 10 ms at least), and the
    /// next is tried when one refuses, is unreachable or times out.
    fn connect(&self) -> Result<TcpStream, ureq::Error> {
        let started = Instant::now();
        let budget = self.timeout.not_zero().map(|d| *d);
        let count = i32::try_from(self.addrs.len()).unwrap_or(i32::MAX);
        let total_weight = 2.0 * (1.0 - 0.5_f64.powi(count));
        let mut weight = 1.0_f64;
        let mut last = None;
        for addr in self.addrs.iter() {
            let share = budget.map(|b| b.mul_f64(weight / total_weight).max(Duration::from_millis(10)));
            match connect_one(addr, share) {
                Ok(stream) => return Ok(stream),
                Err(e) if is_addr_specific(&e) => last = Some(ureq::Error::Io(e)),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if budget.is_some_and(|b| started.elapsed() >= b) {
                        return Err(ureq::Error::Timeout(self.timeout.reason));
                    }
                    last = Some(ureq::Error::Timeout(Timeout::Connect));
                }
                Err(e) => return Err(ureq::Error::Io(e)),
            }
            weight /= 2.0;
        }
        Err(last.unwrap_or_else(|| {
            ureq::Error::Io(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))
        }))
    }
}

fn connect_one(addr: &SocketAddr, share: Option<Duration>) -> io::Result<TcpStream> {
    let connected = match share {
        Some(share) => TcpStream::connect_timeout(addr, share),
        None => TcpStream::connect(addr),
    };
    connected.map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock => io::Error::new(io::ErrorKind::TimedOut, e),
        _ => e,
    })
}

/// A failure of this address only: the next one may still answer (a refusal, or no route, as
/// when a name's IPv6 address is tried on a host without IPv6).
fn is_addr_specific(e: &io::Error) -> bool {
    // A VPN or firewall on Windows may refuse an address family with WSAEACCES.
    #[cfg(windows)]
    if e.raw_os_error() == Some(10013) {
        return true;
    }
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::AddrNotAvailable
    )
}

/// The time an operation may take, `None` for no limit; the timeout's error when none is left.
fn limit(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    match timeout.after {
        UreqDuration::NotHappening => Ok(None),
        UreqDuration::Exact(d) if d.is_zero() => Err(ureq::Error::Timeout(timeout.reason)),
        UreqDuration::Exact(d) => Ok(Some(d)),
    }
}

/// A TCP connection (see the module's comment for how a cancellable call uses it).
pub(crate) struct Tcp {
    /// Shared (weakly) with the agent, which may shut it down (`Agent::shutdown`).
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// What the socket is set to, so that it is set only when it changes.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
}

impl Tcp {
    fn new(stream: TcpStream, details: &ConnectionDetails) -> Result<Self, ureq::Error> {
        let config = details.config;
        if config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let tcp = Self {
            stream: Arc::new(stream),
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            read_timeout: None,
            write_timeout: None,
            nonblocking: false,
        };
        let handle: Weak<dyn ShutdownHandle> = Arc::downgrade(&tcp.stream) as Weak<dyn ShutdownHandle>;
        (details.register_shutdown)(handle)?;
        Ok(tcp)
    }

    fn set_nonblocking(&mut self, nonblocking: bool) -> io::Result<()> {
        if self.nonblocking != nonblocking {
            self.stream.set_nonblocking(nonblocking)?;
            self.nonblocking = nonblocking;
        }
        Ok(())
    }
}

/// Sets a socket timeout for an operation that may take `wanted`, when it differs from what
/// the socket is set to. The timeout is `wanted` rounded down to [`socket_timeout`]'s step: ureq
/// gives each request on a kept-alive connection the same limit less the microseconds since
/// the request began, so without the rounding every request would set both timeouts again (two
/// system calls); with it, the socket is set already.
fn update_timeout(
    current: &mut Option<Duration>,
    wanted: Option<Duration>,
    set: impl FnOnce(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let wanted = wanted.map(socket_timeout);
    if *current == wanted {
        return Ok(());
    }
    match set(wanted) {
        Ok(()) => *current = wanted,
        // macOS may refuse to change a timeout after the peer closed with unread data; the
        // I/O then tells what happened.
        Err(e) if cfg!(target_os = "macos") && e.kind() == io::ErrorKind::InvalidInput => {}
        Err(e) => return Err(e),
    }
    Ok(())
}

/// `wanted` rounded down to 10 ms (1 ms below 1 s), never to zero: an operation then gives up
/// at most one step before its limit, never after it.
fn socket_timeout(wanted: Duration) -> Duration {
    let step: u128 = if wanted >= Duration::from_secs(1) {
        10_000_000
    } else {
        1_000_000
    };
    let rounded = wanted.as_nanos() / step * step;
    match u64::try_from(rounded) {
        Ok(0) | Err(_) => wanted,
        Ok(nanos) => Duration::from_nanos(nanos),
    }
}

/// Waits before a non-blocking operation is tried again: `pause` (then doubled, up to
/// [`SLICE`]), less when `deadline` comes first (then the timeout's error), and less when the
/// call is cancelled (then `Cancelled`).
fn pause(
    cancel: &Cancel,
    deadline: Option<Instant>,
    pause: &mut Duration,
    reason: Timeout,
) -> Result<(), ureq::Error> {
    let mut wait = *pause;
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ureq::Error::Timeout(reason));
        }
        wait = wait.min(left);
    }
    cancel.sleep(wait).map_err(to_ureq)?;
    *pause = (*pause * 2).min(SLICE);
    Ok(())
}

const FIRST_PAUSE: Duration = Duration::from_millis(1);

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

impl std::fmt::Debug for Tcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tcp")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

impl Transport for Tcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let limit = limit(timeout)?;
        let cancel = cancel::lent();
        if !cancel.can_cancel() {
            self.set_nonblocking(false)?;
            update_timeout(&mut self.write_timeout, limit, |t| {
                self.stream.set_write_timeout(t)
            })?;
            let output = &self.buffers.output()[..amount];
            return (&*self.stream).write_all(output).map_err(|e| {
                if timed_out(&e) {
                    ureq::Error::Timeout(timeout.reason)
                } else {
                    ureq::Error::Io(e)
                }
            });
        }
        self.set_nonblocking(true)?;
        let deadline = limit.map(|l| Instant::now() + l);
        let mut wait = FIRST_PAUSE;
        let output = &self.buffers.output()[..amount];
        let mut written = 0;
        while written < output.len() {
            check(&cancel)?;
            match (&*self.stream).write(&output[written..]) {
                Ok(0) => return Err(ureq::Error::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    written += n;
                    wait = FIRST_PAUSE;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    pause(&cancel, deadline, &mut wait, timeout.reason)?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ureq::Error::Io(e)),
            }
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let limit = limit(timeout)?;
        let cancel = cancel::lent();
        let cancellable = cancel.can_cancel();
        self.set_nonblocking(cancellable)?;
        if !cancellable {
            update_timeout(&mut self.read_timeout, limit, |t| self.stream.set_read_timeout(t))?;
        }
        let deadline = limit.map(|l| Instant::now() + l);
        let mut wait = FIRST_PAUSE;
        loop {
            if cancellable {
                check(&cancel)?;
            }
            let input = self.buffers.input_append_buf();
            match (&*self.stream).read(input) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                Err(e) if cancellable && e.kind() == io::ErrorKind::WouldBlock => {
                    pause(&cancel, deadline, &mut wait, timeout.reason)?;
                }
                // A signal: the blocking read is tried again for the time left.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if let Some(deadline) = deadline.filter(|_| !cancellable) {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(ureq::Error::Timeout(timeout.reason));
                        }
                        update_timeout(&mut self.read_timeout, Some(left), |t| {
                            self.stream.set_read_timeout(t)
                        })?;
                    }
                }
                Err(e) if timed_out(&e) => return Err(ureq::Error::Timeout(timeout.reason)),
                Err(e) => return Err(ureq::Error::Io(e)),
            }
        }
    }

    /// Whether the connection can serve another request: nothing waits to be read (a server
    /// sends nothing unasked) and it is not closed. The socket stays non-blocking afterwards:
    /// the pool asks twice per request (when the connection comes back and when it is taken
    /// again), and the next read or write sets the mode it needs, so that a request costs two
    /// mode changes (to non-blocking here, back before the next blocking write) rather than four.
    fn is_open(&mut self) -> bool {
        if self.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8];
        matches!((&*self.stream).read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_timeouts_are_rounded_down_and_never_to_zero() {
        let ms = Duration::from_millis;
        assert_eq!(
            socket_timeout(ms(30_000) - Duration::from_nanos(9_123)),
            ms(29_990)
        );
        assert_eq!(socket_timeout(ms(30_000)), ms(30_000));
        assert_eq!(socket_timeout(ms(1_234)), ms(1_230));
        assert_eq!(socket_timeout(ms(999) + Duration::from_micros(700)), ms(999));
        assert_eq!(
            socket_timeout(Duration::from_micros(700)),
            Duration::from_micros(700)
        );
        assert_eq!(socket_timeout(Duration::MAX), Duration::MAX);
        for micros in [
            1,
            999,
            1_000,
            1_001,
            999_999,
            1_000_000,
            29_999_991,
            u64::from(u32::MAX),
        ] {
            let wanted = Duration::from_micros(micros);
            let got = socket_timeout(wanted);
            assert!(got <= wanted && !got.is_zero(), "{wanted:?} -> {got:?}");
            assert!(wanted - got < ms(10), "{wanted:?} -> {got:?}");
        }
    }

    #[test]
    fn a_limit_that_shrinks_by_microseconds_sets_the_socket_once() {
        let mut current = None;
        let mut sets = Vec::new();
        for elapsed in [9, 12, 15, 40, 2_000] {
            let wanted = Duration::from_secs(30) - Duration::from_micros(elapsed);
            update_timeout(&mut current, Some(wanted), |t| {
                sets.push(t);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(sets, [Some(Duration::from_millis(29_990))]);
        // A limit one step shorter, and no limit, are set.
        for wanted in [Some(Duration::from_millis(29_980)), None] {
            update_timeout(&mut current, wanted, |t| {
                sets.push(t);
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(sets.len(), 3);
        assert_eq!(current, None);
    }
}
