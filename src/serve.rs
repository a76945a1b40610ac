//! `sockleak serve`: a Prometheus scrape endpoint (GET /metrics).
//!
//! Robustness: hyper serves each connection as its own task with the request head
//! bounded in size (`MAX_HEAD_BYTES`) and time (`HEAD_TIMEOUT`), every connection
//! is cut after `CONN_LIFETIME`, and at most `MAX_CONNS` are open at once, so a
//! client that connects and sends nothing, or sends slowly, never holds up a
//! scrape. Request bodies are never read.
//!
//! Collections run one at a time (a mutex, on a blocking thread); a scrape that
//! waited for a collection which started after it arrived reuses that result
//! (concurrent scrapes share one collection), and `--min-interval` serves younger
//! results from the cache. Logging: one line at start and one per collection
//! error, never per scrape (client errors such as timeouts are not logged: a port
//! scanner would flood the log).

use std::convert::Infallible;
use std::io::Write;
use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::signal::unix::{SignalKind, signal};

use crate::aggregate;
use crate::cli::ServeArgs;
use crate::collect::Collector;
use crate::exit::{self, UsageError};
use crate::filter::Filters;
use crate::render::prometheus::{self, PromOptions};

/// Longest request head (request line and headers) accepted; hyper's minimum.
const MAX_HEAD_BYTES: usize = 8192;
/// Time a client has to send a complete request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest a connection (keep-alive included) stays open.
const CONN_LIFETIME: Duration = Duration::from_secs(60);
/// Open connections at most; more wait in the kernel's accept queue.
const MAX_CONNS: usize = 128;

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>sockleak</title></head><body>\n\
<h1>sockleak</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

struct Cached {
    started: Instant,
    finished: Instant,
    body: Bytes,
}

struct State {
    collector: Mutex<(Collector, Option<Cached>)>,
    filters: Filters,
    args: ServeArgs,
}

impl State {
    /// The exposition for a request that arrived at `arrived` (blocking).
    fn metrics(&self, arrived: Instant) -> Result<Bytes> {
        let mut guard = self
            .collector
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (collector, cache) = &mut *guard;
        if let Some(c) = cache.as_ref() {
            let fresh = c.finished.elapsed().as_secs_f64() < self.args.min_interval;
            if fresh || c.started >= arrived {
                return Ok(c.body.clone());
            }
        }
        let started = Instant::now();
        let col = collector.collect()?;
        let report = aggregate::aggregate(&col, &self.args.view.group_by(), &self.filters);
        let body = Bytes::from(prometheus::render(
            &report,
            &PromOptions {
                max_series: self.args.max_series,
                pool_size: self.args.pool_size,
            },
        ));
        *cache = Some(Cached {
            started,
            finished: Instant::now(),
            body: body.clone(),
        });
        Ok(body)
    }
}

fn log(msg: &str) {
    let _ = writeln!(std::io::stderr(), "sockleak serve: {msg}");
}

fn respond(code: StatusCode, ctype: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        CONTENT_TYPE,
        ctype.parse().expect("static content type is valid"),
    );
    r
}

const PLAIN: &str = "text/plain; charset=utf-8";

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let known = matches!(req.uri().path(), "/" | "/metrics");
    if !known {
        return respond(
            StatusCode::NOT_FOUND,
            PLAIN,
            "404 not found: try /metrics\n",
        );
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            PLAIN,
            "405 method not allowed: use GET\n",
        );
        r.headers_mut()
            .insert(ALLOW, "GET, HEAD".parse().expect("static header"));
        return r;
    }
    if req.uri().path() == "/" {
        return respond(StatusCode::OK, "text/html; charset=utf-8", INDEX);
    }
    let result = tokio::task::spawn_blocking(move || state.metrics(arrived)).await;
    match result {
        Ok(Ok(body)) => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            body,
        ),
        Ok(Err(e)) => {
            log(&format!("collection failed: {e:#}"));
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                format!("collection failed: {e:#}\n"),
            )
        }
        Err(e) => {
            log(&format!("collection panicked: {e}"));
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN,
                "collection failed\n",
            )
        }
    }
}

pub fn run(args: &ServeArgs) -> Result<i32> {
    let opts = args.collect.options().map_err(UsageError)?;
    let filters = args.view.filters().map_err(UsageError)?;
    let collector = Collector::new(opts)?;
    let listener = StdListener::bind(args.listen).map_err(|e| {
        UsageError(format!(
            "--listen {}: cannot listen there: {e} (is another process using the port?)",
            args.listen
        ))
    })?;
    listener
        .set_nonblocking(true)
        .context("setting the listener non-blocking")?;
    if !args.listen.ip().is_loopback() {
        log(&format!(
            "warning: listening on non-loopback {}: anyone who can reach it sees which processes talk to which endpoints",
            args.listen
        ));
    }
    let state = Arc::new(State {
        collector: Mutex::new((collector, None)),
        filters,
        args: args.clone(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the server runtime")?;
    let result = rt.block_on(serve(listener, state, args));
    // A collection still running on a blocking thread must not delay the exit.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(listener: StdListener, state: Arc<State>, args: &ServeArgs) -> Result<i32> {
    let listener = tokio::net::TcpListener::from_std(listener).context("--listen")?;
    let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNS));
    log(&format!(
        "listening on http://{}/metrics (sockleak {})",
        args.listen,
        env!("CARGO_PKG_VERSION")
    ));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
            _ = term.recv() => return Ok(exit::OK),
            _ = int.recv() => return Ok(exit::OK),
        };
        let stream = tokio::select! {
            s = listener.accept() => s,
            _ = term.recv() => return Ok(exit::OK),
            _ = int.recv() => return Ok(exit::OK),
        };
        let stream = match stream {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: log, back off, keep serving.
                log(&format!("accept failed: {e}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .serve_connection(TokioIo::new(stream), svc);
            // Client errors (timeouts, resets, malformed requests) only end that
            // connection.
            let _ = tokio::time::timeout(CONN_LIFETIME, conn).await;
        });
    }
}
