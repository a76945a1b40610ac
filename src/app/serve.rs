//! `sockleak serve`: a Prometheus scrape endpoint.
//!
//! Built on hyper's HTTP/1 server because it bounds what a client can cost: request
//! heads are limited in size (`max_buf_size`) and in time (`header_read_timeout`),
//! and each connection has an overall deadline, so a slow or malformed client only
//! ever holds its own connection task, never a scrape.
//!
//! Collections are serialised: one at a time, and a scrape that arrives while one
//! is running waits for it and shares its result instead of starting another.
//! `--min-interval` additionally serves a cached result younger than that.
//!
//! Connections are capped ([`Conns`]) so that, at any fd limit, a collection
//! always finds [`COLLECTION_FDS`] descriptors free: at the cap a new connection
//! closes the one idle longest (waiting for a request head, or between requests
//! of a keep-alive connection), so a flood of idle connections from any local
//! user cannot crowd out a scrape; only when every held connection is inside a
//! request is the newcomer answered 503 and closed at once.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, oneshot};

use crate::config::Serve;
use crate::exit;
use crate::policy::pool::{self, PoolSizes};
use crate::render::prometheus::{self, PromOptions};
use crate::sample::Sampler;

/// Largest request head accepted (hyper's minimum buffer size).
const MAX_HEAD_BYTES: usize = 8192;
/// Time a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a connection may live in total (request, collection, response).
const CONN_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections held at once at most, whatever the fd limit (each costs a task
/// and its buffers). Prometheus needs one.
const MAX_CONNECTIONS: usize = 1024;
/// File descriptors kept free for a collection: the fd scan's threads (a
/// directory each), netlink sockets, the files it reads, `--peek`'s duplicates.
const COLLECTION_FDS: u64 = 128;

/// How many connections to hold with `limit` fds of which `open` are taken
/// already (stdio, the listener, the runtime's own): the rest less
/// [`COLLECTION_FDS`] (half the limit below 256), one at least.
fn connection_cap(limit: u64, open: u64) -> usize {
    let reserve = COLLECTION_FDS.min(limit / 2);
    let free = limit.saturating_sub(reserve).saturating_sub(open);
    usize::try_from(free)
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_CONNECTIONS)
}

/// The fds this process has open now (its `/proc/self/fd`).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(16, |d| d.count() as u64)
}

/// The answer to a connection past the cap when none can be closed instead:
/// written straight to the socket, never waiting for the client.
fn overloaded(cap: usize) -> String {
    let body = format!("too many connections ({cap}, each inside a request); try again\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Answer a connection that cannot be held 503 and close it: best effort, at
/// once (what the client sent already is read first, so that closing does not
/// reset the connection before it reads the answer).
fn refuse(stream: TcpStream, cap: usize) {
    let mut buf = [0u8; 4096];
    while matches!(stream.try_read(&mut buf), Ok(n) if n > 0) {}
    let _ = stream.try_write(overloaded(cap).as_bytes());
}

/// The connections held, and which was idle longest. Ids and idle times are
/// one counter, so "longest idle" is the smallest key of `idle`.
struct Conns {
    cap: usize,
    next: u64,
    live: HashMap<u64, Slot>,
    /// Idle since (counter) -> connection id, for those not inside a request.
    idle: BTreeMap<u64, u64>,
}

struct Slot {
    idle_since: Option<u64>,
    /// Closes the connection (its task drops it).
    evict: oneshot::Sender<()>,
}

/// A connection taken in: its id, what closes it, and whether another was
/// closed to make room.
struct Admitted {
    id: u64,
    evicted: oneshot::Receiver<()>,
    made_room: bool,
}

impl Conns {
    fn new(cap: usize) -> Conns {
        Conns {
            cap,
            next: 0,
            live: HashMap::new(),
            idle: BTreeMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Take a new connection in, idle, closing the one idle longest if at the
    /// cap; `None` when every held connection is inside a request.
    fn admit(&mut self) -> Option<Admitted> {
        let mut made_room = false;
        if self.live.len() >= self.cap {
            let (_, oldest) = self.idle.pop_first()?;
            if let Some(slot) = self.live.remove(&oldest) {
                let _ = slot.evict.send(());
            }
            made_room = true;
        }
        let id = self.tick();
        let (tx, rx) = oneshot::channel();
        self.live.insert(
            id,
            Slot {
                idle_since: Some(id),
                evict: tx,
            },
        );
        self.idle.insert(id, id);
        Some(Admitted {
            id,
            evicted: rx,
            made_room,
        })
    }

    /// A request of `id` began: it is not to be closed for room.
    fn busy(&mut self, id: u64) {
        if let Some(since) = self.live.get_mut(&id).and_then(|s| s.idle_since.take()) {
            self.idle.remove(&since);
        }
    }

    /// A request of `id` ended: idle from now.
    fn idle(&mut self, id: u64) {
        let now = self.tick();
        if let Some(slot) = self.live.get_mut(&id) {
            if let Some(since) = slot.idle_since.replace(now) {
                self.idle.remove(&since);
            }
            self.idle.insert(now, id);
        }
    }

    /// `id` closed.
    fn gone(&mut self, id: u64) {
        if let Some(since) = self.live.remove(&id).and_then(|s| s.idle_since) {
            self.idle.remove(&since);
        }
    }
}

type Shared = Arc<std::sync::Mutex<Conns>>;

fn lock(conns: &Shared) -> std::sync::MutexGuard<'_, Conns> {
    conns.lock().unwrap_or_else(|p| p.into_inner())
}

/// Marks a connection busy for as long as a request of it is being answered.
struct InRequest {
    conns: Shared,
    id: u64,
}

impl InRequest {
    fn new(conns: &Shared, id: u64) -> InRequest {
        lock(conns).busy(id);
        InRequest {
            conns: conns.clone(),
            id,
        }
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        lock(&self.conns).idle(self.id);
    }
}

struct State {
    /// The last exposition and when its collection started. Held across a
    /// collection, which is what serialises them.
    last: Mutex<Option<(Instant, Arc<String>)>>,
    sampler: Arc<std::sync::Mutex<Sampler>>,
    prom: PromOptions,
    pools: PoolSizes,
    min_interval: Duration,
}

impl State {
    /// The exposition for a scrape that arrived at `asked`.
    async fn metrics(self: &Arc<Self>, asked: Instant) -> Result<Arc<String>> {
        let mut last = self.last.lock().await;
        if let Some((at, text)) = &*last {
            // Started after this scrape arrived (it waited for it), or fresh enough.
            if *at >= asked || at.elapsed() < self.min_interval {
                return Ok(text.clone());
            }
        }
        let started = Instant::now();
        // Collection is blocking file and netlink I/O: keep it off the async thread
        // that accepts and times out other connections.
        let me = self.clone();
        let text = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut sampler = me.sampler.lock().unwrap_or_else(|p| p.into_inner());
            let mut report = sampler.take()?;
            pool::attach(&mut report, &me.pools);
            Ok(prometheus::render(&report, &me.prom))
        })
        .await
        .context("collection task failed")??;
        let text = Arc::new(text);
        *last = Some((started, text.clone()));
        Ok(text)
    }
}

fn response(status: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", ctype)
        .body(Full::new(body.into()))
        .expect("static response parts are valid")
}

const INDEX: &str = "<!doctype html><html><head><title>sockleak</title></head><body>\
<h1>sockleak</h1><p>TCP connection leak metrics: <a href=\"/metrics\">/metrics</a></p></body></html>\n";

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let asked = Instant::now();
    let path = req.uri().path();
    let known = matches!(path, "/" | "/metrics");
    if !known {
        return Ok(response(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found; try /metrics\n",
        ));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = response(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET\n");
        r.headers_mut()
            .insert("Allow", "GET, HEAD".parse().expect("valid header"));
        return Ok(r);
    }
    if path == "/" {
        return Ok(response(StatusCode::OK, "text/html; charset=utf-8", INDEX));
    }
    match state.metrics(asked).await {
        Ok(text) => Ok(response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            text.as_bytes().to_vec(),
        )),
        Err(e) => {
            eprintln!("sockleak serve: collection failed: {e:#}");
            // Out of file descriptors is passing trouble, not a broken exporter: a
            // 503 with the reason, never numbers made without the fd tables.
            let status = if exit::chain_out_of_fds(&e) {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            let mut r = response(status, "text/plain", format!("collection failed: {e:#}\n"));
            if status == StatusCode::SERVICE_UNAVAILABLE {
                // Short of fds: give this connection's back at once.
                r.headers_mut()
                    .insert("Connection", "close".parse().expect("valid header"));
            }
            Ok(r)
        }
    }
}

pub fn run(s: Serve) -> Result<i32> {
    let state = Arc::new(State {
        last: Mutex::new(None),
        sampler: Arc::new(std::sync::Mutex::new(s.sampler)),
        prom: s.prom,
        pools: s.pools,
        min_interval: s.min_interval,
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the server runtime")?;
    let served = rt.block_on(serve(s.listener, state));
    // A collection still running (waiting on a guarded read) is told to stop and
    // not waited for: SIGTERM ends serve within a second whatever it was doing.
    crate::collect::guard::stop_flag().store(true, std::sync::atomic::Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_millis(500));
    served?;
    Ok(exit::OK)
}

async fn serve(listener: std::net::TcpListener, state: Arc<State>) -> Result<()> {
    let addr = listener
        .local_addr()
        .context("the listening socket has no address")?;
    listener
        .set_nonblocking(true)
        .context("cannot make the listening socket non-blocking")?;
    let listener = TcpListener::from_std(listener).context("cannot serve on the socket")?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "sockleak serve: warning: listening on non-loopback {addr}: anyone who can reach it sees process names, users and endpoints"
        );
    }
    eprintln!("sockleak serve: listening on http://{}/metrics", addr);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot watch SIGINT")?;
    let limit = crate::collect::fsread::fd_limit();
    let cap = connection_cap(limit, open_fds());
    eprintln!(
        "sockleak serve: holding at most {cap} connections (fd limit {limit}, {} kept for collections); past that the longest idle is closed",
        COLLECTION_FDS.min(limit / 2)
    );
    let conns: Shared = Arc::new(std::sync::Mutex::new(Conns::new(cap)));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // E.g. EMFILE: log, back off, keep serving.
                        eprintln!("sockleak serve: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let admitted = lock(&conns).admit();
                let Some(admitted) = admitted else {
                    refuse(stream, cap);
                    continue;
                };
                let made_room = admitted.made_room;
                tokio::spawn(connection(stream, admitted, state.clone(), conns.clone()));
                if made_room {
                    // Let the closed connection's task run and free its fd before
                    // the next accept: evictions never pile up past the cap.
                    tokio::task::yield_now().await;
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    eprintln!("sockleak serve: shutting down");
    Ok(())
}

/// Serve one connection until it ends, times out, or is closed for room.
async fn connection(stream: TcpStream, admitted: Admitted, state: Arc<State>, conns: Shared) {
    let Admitted { id, evicted, .. } = admitted;
    let service_conns = conns.clone();
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| {
                // Busy from the request head on, until its answer is made.
                let in_request = InRequest::new(&service_conns, id);
                let state = state.clone();
                async move {
                    let r = handle(req, state).await;
                    drop(in_request);
                    r
                }
            }),
        );
    tokio::select! {
        // Errors here are the client's (reset, timeout, garbage): not logged.
        _ = tokio::time::timeout(CONN_TIMEOUT, conn) => {}
        // Dropping the connection closes its socket.
        _ = evicted => {}
    }
    lock(&conns).gone(id);
}

#[cfg(test)]
mod tests {
    use crate::app::serve::{Admitted, Conns, MAX_CONNECTIONS, connection_cap, overloaded};

    #[test]
    fn the_cap_keeps_collection_fds_free_at_any_limit() {
        assert_eq!(connection_cap(1024, 10), 1024 - 128 - 10);
        assert_eq!(connection_cap(1 << 20, 10), MAX_CONNECTIONS);
        assert_eq!(connection_cap(100, 10), 40, "half of a small limit kept");
        assert_eq!(connection_cap(8, 10), 1, "one at least");
    }

    #[test]
    fn the_longest_idle_is_closed_for_room_and_busy_ones_never() {
        let mut c = Conns::new(3);
        let mut held: Vec<Admitted> = (0..3).map(|_| c.admit().unwrap()).collect();
        let ids: Vec<u64> = held.iter().map(|a| a.id).collect();
        // The oldest is inside a request; the second was busy and is idle again
        // (since now); the third has been idle since it came.
        c.busy(ids[0]);
        c.busy(ids[1]);
        c.idle(ids[1]);
        let d = c.admit().unwrap();
        assert!(d.made_room);
        assert!(held[2].evicted.try_recv().is_ok(), "the longest idle went");
        assert!(held[0].evicted.try_recv().is_err() && held[1].evicted.try_recv().is_err());
        let e = c.admit().unwrap();
        assert!(
            held[1].evicted.try_recv().is_ok(),
            "then the next longest idle"
        );
        // Now: ids[0] busy, d and e idle. Both idle ones made busy: no room.
        c.busy(d.id);
        c.busy(e.id);
        assert!(
            c.admit().is_none(),
            "every held connection inside a request"
        );
        c.gone(e.id);
        assert!(c.admit().is_some_and(|a| !a.made_room));
        assert_eq!(c.live.len(), 3);
        assert_eq!(c.idle.len(), 1);
    }

    #[test]
    fn the_overload_answer_is_whole_and_closes() {
        let text = overloaded(7);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 ") && head.contains("\r\nConnection: close"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
