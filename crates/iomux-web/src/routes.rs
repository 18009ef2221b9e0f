//! Which request gets which answer: the pages (one HTML shell; the script draws the page
//! its path names), the files, and the JSON API every page reads.
//!
//! | path | answer |
//! |---|---|
//! | `/`, `/run`, `/compare`, `/history`, `/claims`, `/live`, `/traces`, `/trace` | the page shell (`index.html`) |
//! | `/assets/NAME`, `/favicon.ico` | a built-in file |
//! | `/api/runs?experiment=&testbed=&commit=&since=&limit=` | the stored runs, newest first |
//! | `/api/runs/RUN` | one run: record, tables as text and as data (per experiment, with its charts as SVG), point keys |
//! | `/api/claims?testbed=` | the notes' claims, each with the newest run that measures it, its figures, verdict and chart |
//! | `/api/compare?a=RUN&b=RUN` | every point's ratio B/A with its verdict and rule |
//! | `/api/history?point=KEY&metric=&testbed=` | one point's metric over the runs, with chart |
//! | `/api/watch` | the addresses given with `--watch` |
//! | `/api/live?addr=ADDR` | an event stream of that server's counters, once a second |
//! | `/api/traces` | the trace files given with `--trace` |
//! | `/api/traces/NAME` | one trace as a timeline: its summary, every wait and syscall |
//!
//! Only `GET` and `HEAD` are taken (405 otherwise); unknown paths are 404. Answers from the
//! store come later, from the workers.
use std::net::SocketAddr;
use std::sync::Arc;

use iomux_store::{DbUrl, RunFilter, Store};

use iomux_http::{Handler, Method, Reply, Request, Response, Ticket};
use iomux_servers::http::Deliveries;

use crate::assets::Assets;
use crate::live::Live;
use crate::queries::{Query, Workers};
use crate::traces::TraceSources;

/// The paths the page shell answers (the script draws the page each names).
const PAGES: &[&str] = &[
    "/", "/run", "/compare", "/history", "/claims", "/live", "/traces", "/trace",
];

/// How many runs the runs page lists unless asked for more.
const DEFAULT_LIMIT: usize = 200;

/// The most runs one answer lists.
const MAX_LIMIT: usize = 10_000;

/// The front end's handler.
pub struct Web {
    workers: Workers,
    assets: &'static Assets,
    live: Live,
    watch: Vec<SocketAddr>,
}

impl Web {
    /// The front end over `store` (at `url`, for the workers' own connections), listing `watch`
    /// on the live page and `traces` on the traces page.
    pub fn new(
        store: Box<dyn Store>,
        url: DbUrl,
        deliveries: Deliveries,
        assets: &'static Assets,
        watch: Vec<SocketAddr>,
        traces: Arc<TraceSources>,
    ) -> std::io::Result<Web> {
        Ok(Web {
            workers: Workers::start(store, url, traces, deliveries.clone())?,
            assets,
            live: Live::new(deliveries),
            watch,
        })
    }

    fn ask(&self, ticket: Ticket, query: Query) -> Reply {
        match self.workers.ask(ticket, query) {
            Ok(()) => Reply::Later,
            Err(busy) => Reply::Now(busy),
        }
    }

    fn api(&self, request: &Request, path: &str, ticket: Ticket) -> Reply {
        let bad = |message: &str| Reply::Now(Response::error(400, message));
        match path {
            "runs" => {
                let since = match request.query("since") {
                    Some(text) => {
                        match iomux_lab::units::parse_since(&text, iomux_store::record::now_unix())
                        {
                            Ok(t) => Some(t),
                            Err(e) => return bad(&e),
                        }
                    }
                    None => None,
                };
                let limit = match request.query("limit").map(|l| l.parse::<usize>()) {
                    None => DEFAULT_LIMIT,
                    Some(Ok(n)) if n <= MAX_LIMIT => n,
                    _ => return bad(&format!("limit must be a number up to {MAX_LIMIT}")),
                };
                let nonempty = |name: &str| request.query(name).filter(|v| !v.is_empty());
                let filter = RunFilter {
                    experiment: nonempty("experiment"),
                    testbed: nonempty("testbed"),
                    commit: nonempty("commit"),
                    since,
                    limit: Some(limit),
                };
                self.ask(ticket, Query::Runs(filter))
            }
            "compare" => match (request.query("a"), request.query("b")) {
                (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
                    self.ask(ticket, Query::Compare { a, b })
                }
                _ => bad("compare needs a=RUN and b=RUN"),
            },
            "history" => match request.query("point").filter(|p| !p.is_empty()) {
                Some(point) => self.ask(
                    ticket,
                    Query::History {
                        point,
                        metric: request.query("metric").filter(|m| !m.is_empty()),
                        testbed: request.query("testbed").filter(|t| !t.is_empty()),
                    },
                ),
                None => bad("history needs point=KEY (as `iomux runs compare` prints it)"),
            },
            "claims" => self.ask(
                ticket,
                Query::Claims {
                    testbed: request.query("testbed").filter(|t| !t.is_empty()),
                },
            ),
            "watch" => Reply::Now(Response::json(&serde_json::json!({
                "watch": self.watch.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            }))),
            "live" => self.live(request, ticket),
            "traces" => self.ask(ticket, Query::Traces),
            _ => {
                if let Some(run) = path.strip_prefix("runs/").filter(|r| !r.is_empty()) {
                    return match iomux_http::percent_decode(run) {
                        Some(run) => self.ask(ticket, Query::Run(run)),
                        None => bad("the run id is not valid text"),
                    };
                }
                if let Some(name) = path.strip_prefix("traces/").filter(|n| !n.is_empty()) {
                    return match iomux_http::percent_decode(name) {
                        Some(name) => {
                            let gzip = request.accepts_gzip();
                            self.ask(ticket, Query::Trace { name, gzip })
                        }
                        None => bad("the trace name is not valid text"),
                    };
                }
                Reply::Now(Response::error(404, &format!("no such API: /api/{path}")))
            }
        }
    }

    /// `/api/live?addr=ADDR`: an event stream of a watched server's counters.
    fn live(&self, request: &Request, ticket: Ticket) -> Reply {
        let Some(text) = request.query("addr") else {
            return Reply::Now(Response::error(400, "live needs addr=IP:PORT"));
        };
        let addr: SocketAddr = match text.parse() {
            Ok(a) => a,
            Err(_) => {
                return Reply::Now(Response::error(
                    400,
                    &format!("{text:?} is not an IP:PORT address"),
                ))
            }
        };
        if !addr.ip().is_loopback() && !self.watch.contains(&addr) {
            return Reply::Now(Response::error(
                400,
                &format!("{addr} is not a loopback address nor given with --watch"),
            ));
        }
        if request.method == Method::Head {
            return Reply::Now(Response::new(200, "text/event-stream", &b""[..]));
        }
        if let Err(why) = self.live.subscribe(addr, ticket.conn) {
            return Reply::Now(Response::error(503, &why).with_header("Retry-After", "5"));
        }
        // The first message tells the browser to reconnect a second after a drop.
        Reply::Stream(Response::new(
            200,
            "text/event-stream",
            &b"retry: 1000\n\n"[..],
        ))
    }
}

impl Handler for Web {
    fn handle(&self, request: Request, ticket: Ticket) -> Reply {
        if !matches!(request.method, Method::Get | Method::Head) {
            return Reply::Now(
                Response::error(405, "only GET and HEAD are served here")
                    .with_header("Allow", "GET, HEAD"),
            );
        }
        let path = request.path();
        if let Some(api) = path.strip_prefix("/api/") {
            return self.api(&request, api, ticket);
        }
        if PAGES.contains(&path) {
            return Reply::Now(self.assets.serve("index.html", &request));
        }
        if path == "/favicon.ico" {
            return Reply::Now(self.assets.serve("favicon.svg", &request));
        }
        match path.strip_prefix("/assets/") {
            Some(name) => Reply::Now(self.assets.serve(name, &request)),
            None => Reply::Now(Response::error(404, &format!("no such page: {path}"))),
        }
    }

    fn closed(&self, conn: u64) {
        self.live.forget(conn);
    }
}
