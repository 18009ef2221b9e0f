//! The store's side of the front end: queries run on worker threads, each with its own store
//! connection, and their answers go back to the event loop as [`Delivery::Answer`]s. The loop
//! never touches the database, so a slow query (or a MariaDB server that stopped answering)
//! delays only the requests that wait for it.
//!
//! The queue in front of the workers is bounded: past it, requests are answered 503 at once.
//! A worker whose connection broke opens a new one for its next query.
//!
//! The workers also read trace files ([`super::traces`]): slow file work, like a query, that
//! the loop must not wait for. Those need no store, so they are answered while it is down.
use std::sync::{mpsc, Arc, Mutex};

use iomux_store::compare::{self, Verdict};
use iomux_store::error::ErrorKind;
use iomux_store::record::{Point, RunRecords};
use iomux_store::{DbUrl, RunFilter, Store};
use serde_json::json;
use tracing::warn;

use iomux_http::{Response, Ticket};
use iomux_lab::{chart, Report};
use iomux_servers::http::{Deliveries, Delivery};
use iomux_store::history::{self, History};

use crate::tables;
use crate::traces::TraceSources;

/// Queries waiting for a worker, at most; past it, 503.
pub const QUEUE: usize = 64;

/// Worker threads (each with its own store connection).
pub const WORKERS: usize = 2;

/// What the pages ask of the store.
#[derive(Debug)]
pub enum Query {
    /// The stored runs the filter picks, newest first.
    Runs(RunFilter),
    /// One run, by id, unique prefix, `latest` or `latest~N`: its record, tables and charts.
    Run(String),
    /// Two runs' points compared.
    Compare {
        /// The first run (the baseline), named as [`Query::Run`] names one.
        a: String,
        /// The second run, judged against the first, named likewise.
        b: String,
    },
    /// One point's metric over the stored runs of one testbed.
    History {
        /// The point's key, as `iomux runs compare` prints it.
        point: String,
        /// The metric (`None`: the experiment's headline metric).
        metric: Option<String>,
        /// The testbed, by fingerprint prefix or host name (`None`: the one that ran it last).
        testbed: Option<String>,
    },
    /// The notes' claims, each checked against the newest stored run that measures it.
    Claims {
        /// Only runs of this testbed (fingerprint, its start, or host); `None`: any.
        testbed: Option<String>,
    },
    /// The trace files there are.
    Traces,
    /// One trace as a timeline; `gzip` when the client takes it.
    Trace {
        /// Its name on the pages.
        name: String,
        /// Whether to answer gzip-compressed.
        gzip: bool,
    },
}

/// The way into the workers.
pub struct Workers {
    queue: mpsc::SyncSender<(Ticket, Query)>,
}

impl Workers {
    /// Starts the workers; `first` is an open store (the caller opened it to fail early),
    /// the others open their own from `url`.
    pub fn start(
        first: Box<dyn Store>,
        url: DbUrl,
        traces: Arc<TraceSources>,
        deliveries: Deliveries,
    ) -> std::io::Result<Workers> {
        let (queue, jobs) = mpsc::sync_channel::<(Ticket, Query)>(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        let mut first = Some(first);
        for i in 0..WORKERS {
            let store = first.take();
            let (jobs, url, traces, deliveries) = (
                jobs.clone(),
                url.clone(),
                traces.clone(),
                deliveries.clone(),
            );
            std::thread::Builder::new()
                .name(format!("iomux-web-store-{i}"))
                .spawn(move || work(store, &url, &traces, &jobs, &deliveries))?;
        }
        Ok(Workers { queue })
    }

    /// Queues a query; `Err` holds the answer to give at once (the queue is full).
    pub fn ask(&self, ticket: Ticket, query: Query) -> Result<(), Response> {
        self.queue.try_send((ticket, query)).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => Response::error(
                503,
                "the store is busy: too many queries are waiting; try again",
            )
            .with_header("Retry-After", "1"),
            mpsc::TrySendError::Disconnected(_) => {
                Response::error(503, "the store's workers have stopped")
            }
        })
    }
}

fn work(
    mut store: Option<Box<dyn Store>>,
    url: &DbUrl,
    traces: &TraceSources,
    jobs: &Mutex<mpsc::Receiver<(Ticket, Query)>>,
    deliveries: &Deliveries,
) {
    loop {
        let job = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok((ticket, query)) = job else {
            return; // the server is gone
        };
        let trace_answer = match &query {
            Query::Traces => Some(traces.list_answer()),
            Query::Trace { name, gzip } => Some(
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    traces.trace_answer(name, *gzip)
                }))
                .unwrap_or_else(|_| {
                    Response::error(
                        500,
                        "reading the trace failed inside iomux (a bug: see the log)",
                    )
                }),
            ),
            _ => None,
        };
        if let Some(answer) = trace_answer {
            if deliveries.send(Delivery::Answer(ticket, answer)).is_err() {
                return;
            }
            continue;
        }
        if store.is_none() {
            match iomux_store::open(url) {
                Ok(s) => store = Some(s),
                Err(e) => {
                    let answer = Response::error(503, &format!("the store is unavailable: {e}"));
                    if deliveries.send(Delivery::Answer(ticket, answer)).is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        let s = store.as_mut().expect("opened above");
        // A bug in a query must not leave its client waiting for ever: it is answered 500,
        // and the connection is opened again for the next query.
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(s.as_mut(), query)));
        let (answer, broken) = outcome.unwrap_or_else(|_| {
            (
                Response::error(500, "the query failed inside iomux (a bug: see the log)"),
                true,
            )
        });
        if broken {
            warn!("the store connection broke; the next query opens a new one");
            store = None;
        }
        if deliveries.send(Delivery::Answer(ticket, answer)).is_err() {
            return;
        }
    }
}

/// A store error as an HTTP answer; `true` when the connection is no use any more.
fn store_error(e: &iomux_store::Error) -> (Response, bool) {
    let (status, broken) = match e.kind {
        ErrorKind::NotFound => (404, false),
        ErrorKind::BadUrl => (400, false),
        ErrorKind::Unreachable | ErrorKind::Lost => (503, true),
        ErrorKind::Busy | ErrorKind::Denied | ErrorKind::Privilege => (503, false),
        _ => (500, false),
    };
    (Response::error(status, &e.to_string()), broken)
}

/// Runs one query.
fn answer(store: &mut dyn Store, query: Query) -> (Response, bool) {
    let result = match query {
        Query::Runs(filter) => store
            .runs(&filter)
            .map(|runs| Response::json(&json!({ "store": store.describe(), "runs": runs }))),
        Query::Run(reference) => run(store, &reference),
        Query::Claims { testbed } => iomux_claims::check::check(store, testbed.as_deref(), true)
            .map(|findings| {
                let commands = iomux_claims::check::commands_needed(&findings);
                Response::json(&json!({
                    "store": store.describe(),
                    "findings": findings,
                    "commands": commands,
                }))
            }),
        Query::Compare { a, b } => {
            compare::compare_stored(store, &a, &b, &iomux_lab::SUBJECTS, compare::Noise::Keep).map(
                |(a, b, comparison)| {
                    let counts = json!({
                        "regression": comparison.count(Verdict::Regression),
                        "improvement": comparison.count(Verdict::Improvement),
                        "changed": comparison.count(Verdict::Changed),
                        "inconclusive": comparison.count(Verdict::Inconclusive),
                        "noise": comparison.count(Verdict::Noise),
                    });
                    Response::json(
                        &json!({ "a": a, "b": b, "comparison": comparison, "counts": counts }),
                    )
                },
            )
        }
        Query::History {
            point,
            metric,
            testbed,
        } => {
            let headline = &iomux_lab::headline;
            return match history::of(
                store,
                &point,
                metric.as_deref(),
                testbed.as_deref(),
                headline,
            ) {
                Ok(history) => (history_answer(&history), false),
                Err(e) => (Response::error(404, &e.to_string()), false),
            };
        }
        Query::Traces | Query::Trace { .. } => unreachable!("answered by `work` without a store"),
    };
    match result {
        Ok(response) => (response, false),
        Err(e) => store_error(&e),
    }
}

/// One run: its record, and its tables and charts rendered as the terminal shows them.
fn run(store: &mut dyn Store, reference: &str) -> iomux_store::Result<Response> {
    let id = store.find_run(reference)?;
    let records = store.load_run(&id)?;
    // A run this binary cannot draw (recorded by another version, say) still shows its
    // record and points; the reason takes the tables' place.
    let mut report = Report::in_memory();
    let text = match iomux_lab::render_run(&mut report, &records) {
        Ok(()) => report.text().to_owned(),
        Err(e) => format!("(this run's tables cannot be drawn: {e})"),
    };
    let charts: Vec<_> = report
        .into_charts()
        .into_iter()
        .map(|(name, svg)| json!({ "name": name, "svg": svg }))
        .collect();
    let points: Vec<String> = {
        let mut keys: Vec<String> = records
            .points
            .iter()
            .filter(|p| p.repeat.is_none())
            .map(|p| p.key_text())
            .collect();
        keys.dedup();
        keys
    };
    Ok(Response::json(&json!({
        "run": records.run,
        "text": text,
        "charts": charts,
        "points": points,
        "experiments": experiments(&records),
    })))
}

/// Each experiment of a run: its tables as data ([`crate::tables`]), the line that opens its
/// text, and its own charts (drawn by it alone, so each goes beside its tables).
fn experiments(records: &RunRecords) -> Vec<serde_json::Value> {
    records
        .run
        .experiments
        .iter()
        .map(|e| {
            let name = e.experiment.as_str();
            let mine: Vec<Point> = records
                .points
                .iter()
                .filter(|p| p.experiment == name)
                .cloned()
                .collect();
            let reference = iomux_lab::reference(name);
            let headline = iomux_lab::headline(name);
            let mut report = Report::in_memory();
            let drawn = iomux_lab::registry::from_record(e)
                .and_then(|chosen| chosen.render(&mut report, &mine));
            let intro = match drawn {
                Ok(()) => report.text().lines().next().unwrap_or_default().to_owned(),
                Err(e) => format!("(cannot be drawn by this iomux: {e})"),
            };
            let charts: Vec<_> = report
                .into_charts()
                .into_iter()
                .map(|(name, svg)| json!({ "name": name, "svg": svg }))
                .collect();
            json!({
                "name": name,
                "intro": intro,
                "reference": reference,
                "headline": headline,
                "tables": tables::tables(&mine, name, reference, headline),
                "charts": charts,
            })
        })
        .collect()
}

/// A point's history, with its chart.
fn history_answer(history: &History) -> Response {
    let series = chart::Series {
        name: "median".into(),
        points: history
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| (i as f64 + 1.0, r.median))
            .collect(),
    };
    let svg = chart::line_chart(
        &format!("{} · {}", history.point, history.metric),
        "run (oldest first)",
        &history.metric,
        &[series],
        false,
        false,
    );
    Response::json(&json!({ "history": history, "svg": svg }))
}
