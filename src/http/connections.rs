//! The accept loop: HTTP/1.1 connections with deadlines, a cap, and a
//! shutdown that lets go of everything it held.
//!
//! poem's own server has no header-read timeout, so a client that sends half
//! a request and then nothing keeps its connection (and a file descriptor)
//! forever. Here every connection's socket is wrapped in [`Deadlined`], which
//! knows one of three phases from the bytes it sees and the requests in
//! flight (counted by the service):
//! - **head**: from the first byte of a request (or the accept) until hyper
//!   hands the complete headers to the service: at most [`HEADER_TIMEOUT`];
//! - **busy**: a request is being served: no deadline here (the body read has
//!   its own, in `limit_body`);
//! - **idle**: between requests on a keep-alive connection, writing the last
//!   answer included: at most the configured idle timeout
//!   (`AUTH_IDLE_TIMEOUT_SECONDS`), counted from the last progress.
//!
//! A missed deadline fails the read or write that waits past it, and hyper
//! closes the connection. Phases change several times per request, so a
//! change only notes the new deadline; the timer behind it is moved lazily
//! (see [`Deadlined::expired`]): it may wake the task early, at most once per
//! timeout period, never in a loop, and never late.
//! At most [`Limits::max_connections`] are open at once (the rest wait in the
//! kernel's backlog), so slow clients cannot take every file descriptor.
//!
//! On shutdown, accepting stops, every connection is asked to finish its
//! current request, and after the grace period the stragglers are aborted.
//! [`serve`] returns only once every connection task has ended, so nothing
//! still holds the application state (and the store) when it returns.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, IntoResponse};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Sleep;

use crate::base::clock::deadline_after;

/// How long a client has to send a request's complete headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long connections are kept open.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// How long in-flight requests get to finish after a shutdown signal.
    pub grace: Duration,
}

/// What a connection is waiting for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Head,
    Busy,
    Idle,
}

/// A socket whose reads and writes fail once the current phase's deadline
/// has passed while they wait.
struct Deadlined {
    io: TcpStream,
    limits: Limits,
    in_flight: Arc<AtomicUsize>,
    phase: Phase,
    /// When the current waiting phase ends; `None` until it is first
    /// waited on (and while busy).
    deadline: Option<tokio::time::Instant>,
    /// Armed at `deadline` or, until it fires or is waited on, earlier.
    timer: Pin<Box<Sleep>>,
    /// Bytes of a next request arrived while one was being served
    /// (pipelining): its header clock starts when the current one ends.
    next_begun: bool,
}

impl Deadlined {
    fn new(io: TcpStream, limits: Limits, in_flight: Arc<AtomicUsize>) -> Self {
        let deadline = deadline_after(limits.header_timeout);
        Deadlined {
            io,
            limits,
            in_flight,
            phase: Phase::Head,
            deadline: Some(deadline),
            timer: Box::pin(tokio::time::sleep_until(deadline)),
            next_begun: false,
        }
    }

    /// Notes the new phase. Its deadline is counted from the first wait in
    /// it (microseconds later: the first read or write that would block), so
    /// a phase change costs no clock read, and the timer is left alone:
    /// moving it on every change costs a timer-wheel update per request, and
    /// moved to "now" for a busy phase, a wake of the timer driver too.
    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.deadline = None;
    }

    /// Moves between busy and waiting as requests start and finish.
    fn follow_requests(&mut self) {
        let busy = self.in_flight.load(Ordering::Acquire) > 0;
        match (busy, self.phase) {
            (true, Phase::Head | Phase::Idle) => self.enter(Phase::Busy),
            (false, Phase::Busy) if std::mem::take(&mut self.next_begun) => self.enter(Phase::Head),
            (false, Phase::Busy) => self.enter(Phase::Idle),
            _ => {}
        }
    }

    /// True once the deadline of a waiting phase has passed. Otherwise the
    /// task is registered to wake by then, so a connection that waits on its
    /// reads, its writes or nothing at all is closed on time. A timer armed
    /// later than the deadline is moved back first; one that fires before it
    /// (the phase moved on since it was armed) is re-armed at the deadline.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let wait = match self.phase {
            Phase::Busy => return false,
            Phase::Head => self.limits.header_timeout,
            Phase::Idle => self.limits.idle_timeout,
        };
        let deadline = *self.deadline.get_or_insert_with(|| deadline_after(wait));
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            if self.timer.deadline() >= deadline {
                return true;
            }
            self.timer.as_mut().reset(deadline);
        }
        false
    }
}

fn timed_out<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
}

impl AsyncRead for Deadlined {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.follow_requests();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        let got_bytes = matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before;
        match this.phase {
            Phase::Idle if got_bytes => this.enter(Phase::Head),
            Phase::Busy if got_bytes => this.next_begun = true,
            _ => {}
        }
        if read.is_pending() && this.expired(cx) {
            return timed_out();
        }
        read
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.follow_requests();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        // A response making progress is activity: idle starts after it.
        if this.phase == Phase::Idle && matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.enter(Phase::Idle);
        }
        if this.expired(cx) && written.is_pending() {
            return timed_out(); // a client that stopped reading its answer
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.follow_requests();
        let flushed = Pin::new(&mut this.io).poll_flush(cx);
        if this.expired(cx) && flushed.is_pending() {
            return timed_out();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Counts a request as in flight for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

type HyperResponse = hyper::Response<BoxBody<Bytes, io::Error>>;

/// Serves one connection until it ends or, after `stop` fires, finishes
/// its current request.
async fn connection<E: Endpoint + 'static>(
    socket: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    endpoint: Arc<E>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let io = Deadlined::new(socket, limits, in_flight.clone());
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let endpoint = endpoint.clone();
        let guard = InFlight::start(&in_flight);
        async move {
            let req: poem::Request = (
                req,
                LocalAddr(local.into()),
                RemoteAddr(peer.into()),
                poem::http::uri::Scheme::HTTP,
            )
                .into();
            let resp = match endpoint.call(req).await {
                Ok(resp) => resp.into_response(),
                Err(err) => err.into_response(),
            };
            drop(guard);
            Ok::<HyperResponse, std::convert::Infallible>(resp.into())
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.wait_for(|stopping| *stopping) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Accepts connections on `listener` and serves `endpoint` on each until
/// `shutdown` completes; then drains (see the module docs) and returns once
/// every connection task has ended.
pub async fn serve<E: Endpoint + 'static>(
    listener: TcpListener,
    endpoint: E,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    let endpoint = Arc::new(endpoint);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((socket, peer, slot)) = accepted else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let endpoint = endpoint.clone();
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            connection(socket, peer, local, endpoint, limits, stop).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "shutdown grace period over; closing the remaining connections"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Waits for a free slot, then for a connection. An accept error (e.g. out
/// of file descriptors) is logged and retried after a short pause, never fatal.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, tokio::sync::OwnedSemaphorePermit)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((socket, peer)) => Some((socket, peer, slot)),
        Err(e) => {
            tracing::warn!(error = %e, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}
