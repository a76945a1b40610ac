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
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use crate::config::Serve;
use crate::exit;
use crate::render::prometheus::{self, PromOptions};
use crate::report::Sampler;

/// Largest request head accepted (hyper's minimum buffer size).
const MAX_HEAD_BYTES: usize = 8192;
/// Time a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a connection may live in total (request, collection, response).
const CONN_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections served at once; more are answered 503. Prometheus needs one.
const MAX_CONNECTIONS: usize = 64;

/// The answer to a connection past [`MAX_CONNECTIONS`].
fn overloaded() -> Response<Full<Bytes>> {
    let mut r = response(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain",
        format!("too many connections (more than {MAX_CONNECTIONS} at once); try again\n"),
    );
    r.headers_mut()
        .insert("Retry-After", "1".parse().expect("valid header"));
    r
}

struct State {
    /// The last exposition and when its collection started. Held across a
    /// collection, which is what serialises them.
    last: Mutex<Option<(Instant, Arc<String>)>>,
    sampler: Arc<std::sync::Mutex<Sampler>>,
    prom: PromOptions,
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
            Ok(prometheus::render(&sampler.take()?, &me.prom))
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
            Ok(response(
                status,
                "text/plain",
                format!("collection failed: {e:#}\n"),
            ))
        }
    }
}

pub fn run(s: Serve) -> Result<i32> {
    let state = Arc::new(State {
        last: Mutex::new(None),
        sampler: Arc::new(std::sync::Mutex::new(s.sampler)),
        prom: s.prom,
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
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
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
                let state = state.clone();
                // Past the bound, a connection is answered 503 and closed at once:
                // a flood costs fds only briefly, and scrapes within the bound go on.
                let permit = slots.clone().try_acquire_owned().ok();
                tokio::spawn(async move {
                    let busy = permit.is_none();
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEAD_TIMEOUT)
                        .max_buf_size(MAX_HEAD_BYTES)
                        .keep_alive(!busy)
                        .serve_connection(
                            TokioIo::new(stream),
                            service_fn(move |req| {
                                let state = state.clone();
                                async move {
                                    if busy {
                                        return Ok(overloaded());
                                    }
                                    handle(req, state).await
                                }
                            }),
                        );
                    // Errors here are the client's (reset, timeout, garbage): not logged.
                    let _ = tokio::time::timeout(CONN_TIMEOUT, conn).await;
                    drop(permit);
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    eprintln!("sockleak serve: shutting down");
    Ok(())
}
