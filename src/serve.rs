//! `sockleak serve`: a Prometheus scrape endpoint.
//!
//! tiny_http reads each connection on its own pooled thread and hands us only
//! complete request heads, so a client that connects and sends nothing (or sends
//! slowly) ties up its own thread, never the workers answering scrapes. Collections
//! run one at a time behind a mutex; a scrape that waited for a collection which
//! started after it arrived reuses that result (concurrent scrapes share one
//! collection), and `--min-interval` serves younger results from the cache.
//! Logging: one line at start and one per error, never per scrape.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use crate::aggregate;
use crate::cli::ServeArgs;
use crate::collect::Collector;
use crate::exit::{self, UsageError};
use crate::filter::Filters;
use crate::render::prometheus::{self, PromOptions};

/// Threads answering requests; the collection itself is serialized anyway, the
/// others keep `/`, 404s and cached scrapes responsive during a slow collection.
const WORKERS: usize = 4;

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>sockleak</title></head><body>\n\
<h1>sockleak</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

struct Cached {
    started: Instant,
    finished: Instant,
    body: Arc<String>,
}

struct State {
    collector: Mutex<(Collector, Option<Cached>)>,
    filters: Filters,
    args: ServeArgs,
}

impl State {
    /// The exposition for a request that arrived at `arrived`.
    fn metrics(&self, arrived: Instant) -> Result<Arc<String>> {
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
        let body = Arc::new(prometheus::render(
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

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid")
}

fn text(code: u16, body: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(body)
        .with_status_code(StatusCode(code))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn handle(state: &State, req: Request, arrived: Instant) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    let is_get = matches!(req.method(), Method::Get | Method::Head);
    let resp = match (path.as_str(), is_get) {
        ("/metrics" | "/", false) => {
            text(405, "405 method not allowed: use GET\n").with_header(header("Allow", "GET, HEAD"))
        }
        ("/metrics", true) => match state.metrics(arrived) {
            Ok(body) => Response::from_string(body.as_str()).with_header(header(
                "Content-Type",
                "text/plain; version=0.0.4; charset=utf-8",
            )),
            Err(e) => {
                log(&format!("collection failed: {e:#}"));
                text(500, &format!("collection failed: {e:#}\n"))
            }
        },
        ("/", true) => Response::from_string(INDEX)
            .with_header(header("Content-Type", "text/html; charset=utf-8")),
        _ => text(404, "404 not found: try /metrics\n"),
    };
    // A client that went away is not worth a log line per scrape.
    let _ = req.respond(resp);
}

pub fn run(args: &ServeArgs) -> Result<i32> {
    let opts = args.collect.options().map_err(UsageError)?;
    let filters = args.view.filters().map_err(UsageError)?;
    let collector = Collector::new(opts)?;
    let server = Server::http(args.listen).map_err(|e| {
        UsageError(format!(
            "--listen {}: cannot listen there: {e} (is another process using the port?)",
            args.listen
        ))
    })?;
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    if !args.listen.ip().is_loopback() {
        log(&format!(
            "warning: listening on non-loopback {}: anyone who can reach it sees which processes talk to which endpoints",
            args.listen
        ));
    }
    log(&format!(
        "listening on http://{}/metrics (sockleak {})",
        args.listen,
        env!("CARGO_PKG_VERSION")
    ));
    let state = Arc::new(State {
        collector: Mutex::new((collector, None)),
        filters,
        args: args.clone(),
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (server, stop, state) = (server.clone(), stop.clone(), state.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match server.recv_timeout(Duration::from_millis(200)) {
                        Ok(Some(req)) => handle(&state, req, Instant::now()),
                        Ok(None) => {}
                        Err(e) => {
                            log(&format!("accept failed: {e}"));
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    server.unblock();
    Ok(exit::OK)
}
