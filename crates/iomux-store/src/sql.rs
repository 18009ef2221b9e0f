//! The store's queries, written once for every engine (`?` placeholders, standard SQL; the
//! few dialect words through [`Dialect::render`](crate::engine::Dialect::render)).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::engine::{Engine, Rows, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::fasthash::{map_with_capacity, FastMap};
use crate::record::{
    write_params, Calibration, ExperimentParams, FigurePoint, Figures, Interner, Point, PointKey,
    Run, RunRecords, Testbed,
};
use crate::redact::redact_command_line;
use crate::snapshot::{self, Line};
use crate::store::{HistoryEntry, RunFilter, RunSummary, Store, TestbedUse};

/// The [`Store`] over any engine.
pub struct SqlStore<E> {
    engine: E,
    describe: String,
    /// `iomux_metric_names`, cached both ways (a few dozen names; metric rows carry ids).
    metric_ids: HashMap<String, i64>,
    metric_names: HashMap<i64, String>,
}

impl<E: Engine> SqlStore<E> {
    /// Wraps an open connection, migrating its schema first.
    pub fn new(mut engine: E, describe: String) -> Result<SqlStore<E>> {
        crate::schema::migrate(&mut engine, &describe)?;
        Ok(SqlStore {
            engine,
            describe,
            metric_ids: HashMap::new(),
            metric_names: HashMap::new(),
        })
    }

    /// Reads the metric names again (another writer may have added some).
    fn reload_metric_names(&mut self) -> Result<()> {
        let rows = self
            .engine
            .query("SELECT id, name FROM iomux_metric_names", &[])?;
        for row in &rows {
            let (id, name) = (row[0].int().unwrap_or(-1), row[1].text());
            self.metric_ids.insert(name.clone(), id);
            self.metric_names.insert(id, name);
        }
        Ok(())
    }

    /// Makes sure every metric of `points` has an id.
    fn register_metrics(&mut self, points: &[Point]) -> Result<()> {
        let missing = |ids: &HashMap<String, i64>| -> std::collections::BTreeSet<String> {
            // Each new name once (a run's points repeat the same few names).
            points
                .iter()
                .flat_map(|p| p.metrics.keys())
                .filter(|name| !ids.contains_key(*name))
                .cloned()
                .collect()
        };
        if missing(&self.metric_ids).is_empty() {
            return Ok(());
        }
        // Another process may have stored them: read before inserting (an ignored insert
        // still uses up a MySQL auto-increment value).
        self.reload_metric_names()?;
        let missing = missing(&self.metric_ids);
        if missing.is_empty() {
            return Ok(());
        }
        let insert = self
            .engine
            .dialect()
            .render("{insert_ignore} INTO iomux_metric_names (name) VALUES (?)");
        self.transaction(|engine| {
            for name in &missing {
                engine.execute(&insert, &[name.as_str().into()])?;
            }
            Ok(())
        })?;
        self.reload_metric_names()?;
        match missing
            .iter()
            .find(|name| !self.metric_ids.contains_key(*name))
        {
            // A server that stores names differently (trailing spaces, a collation) would
            // lose the figure silently: refuse instead.
            Some(name) => Err(Error::new(
                ErrorKind::Other,
                format!("the store did not keep the metric name {name:?} as given"),
            )),
            None => Ok(()),
        }
    }

    /// The name of a metric id, reloading the names once if it is new to this connection.
    fn metric_name(&mut self, id: i64) -> Result<String> {
        if !self.metric_names.contains_key(&id) {
            self.reload_metric_names()?;
        }
        Ok(self
            .metric_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("metric#{id}")))
    }

    /// Metric rows (`seq or other key, metric_id, value`, the id in column `id_column`) as
    /// names: resolves every id first, so that the caller can borrow the names.
    fn resolve_metric_ids(&mut self, rows: &Rows, id_column: usize) -> Result<()> {
        for row in rows {
            let id = row[id_column].int().unwrap_or(-1);
            if !self.metric_names.contains_key(&id) {
                self.metric_name(id)?;
            }
        }
        Ok(())
    }

    /// Runs `body` in a write transaction, rolled back if it fails.
    fn transaction<T>(&mut self, body: impl FnOnce(&mut E) -> Result<T>) -> Result<T> {
        self.engine.begin()?;
        match body(&mut self.engine) {
            Ok(value) => {
                self.engine.commit()?;
                Ok(value)
            }
            Err(e) => {
                let _ = self.engine.rollback();
                Err(e)
            }
        }
    }

    /// A run's record, its point rows (`seq, experiment, subject, params, repeat_index`) and
    /// its metric rows (`seq, metric_id, value`), both in `seq` order; every metric id known.
    fn run_rows(&mut self, id: &str) -> Result<(Run, Rows, Rows)> {
        let (run, run_row, points) = self.run_and_points(id, false)?;
        let metrics = self.metric_rows(run_row)?;
        Ok((run, points, metrics))
    }

    /// A run's record, its row id, and its point rows (`seq, experiment, subject, params,
    /// repeat_index`, and with `figures` each point's one-row figures or NULL) in `seq` order.
    fn run_and_points(&mut self, id: &str, figures: bool) -> Result<(Run, i64, Rows)> {
        let (run, run_row) = self.run_record(id)?;
        let points = self.point_rows(run_row, figures)?;
        Ok((run, run_row, points))
    }

    /// A run's record and its row id.
    fn run_record(&mut self, id: &str) -> Result<(Run, i64)> {
        let sql = format!("SELECT {RUN_COLUMNS}, r.id FROM iomux_runs r JOIN iomux_testbeds t ON t.id = r.testbed_id WHERE r.run_key = ?");
        let rows = self.engine.query(&sql, &[id.into()])?;
        let row = rows.first().ok_or_else(|| not_found(id))?;
        let run = run_from_row(row)?;
        let run_row = row[16].int().ok_or_else(|| not_found(id))?;
        Ok((run, run_row))
    }

    /// A run's point rows (`seq, experiment, subject, params, repeat_index`, and with `figures`
    /// the point's figures, NULL where it has none), in `seq` order.
    fn point_rows(&mut self, run_row: i64, figures: bool) -> Result<Rows> {
        let sql = if figures {
            // One round trip and one result for both (the figures' key is the points' key).
            "SELECT p.seq, p.experiment, p.subject, p.params, p.repeat_index, f.figures FROM iomux_points p LEFT JOIN iomux_point_figures f ON f.run_id = p.run_id AND f.seq = p.seq WHERE p.run_id = ? ORDER BY p.seq"
        } else {
            "SELECT seq, experiment, subject, params, repeat_index FROM iomux_points WHERE run_id = ? ORDER BY seq"
        };
        self.engine.query(sql, &[run_row.into()])
    }

    /// The run's snapshot (see [`snapshot`]), if it has one that covers every point it has.
    fn snapshot(&mut self, run_row: i64) -> Result<Option<String>> {
        let rows = self.engine.query(
            "SELECT s.points, (SELECT COUNT(*) FROM iomux_points p WHERE p.run_id = s.run_id), s.body FROM iomux_run_figures s WHERE s.run_id = ?",
            &[run_row.into()],
        )?;
        Ok(rows
            .first()
            .filter(|row| row[0].int().is_some() && row[0].int() == row[1].int())
            .map(|row| row[2].text()))
    }

    /// Builds the run's snapshot again from its rows (or drops it, if it cannot be kept).
    /// Points are only ever added to a run, so a snapshot whose count matches holds them all.
    fn refresh_snapshot(&mut self, run_row: i64) -> Result<()> {
        let count = self
            .engine
            .query(
                "SELECT COUNT(*) FROM iomux_points WHERE run_id = ?",
                &[run_row.into()],
            )?
            .first()
            .and_then(|row| row[0].int())
            .unwrap_or(0);
        let (body, points) = if count == 0 || count > snapshot::MAX_POINTS {
            (None, count)
        } else {
            let rows = self.point_rows(run_row, true)?;
            (
                snapshot::encode(rows.iter().map(line_of)),
                rows.len() as i64,
            )
        };
        self.transaction(|engine| {
            engine.execute(
                "DELETE FROM iomux_run_figures WHERE run_id = ?",
                &[run_row.into()],
            )?;
            if let Some(body) = body {
                engine.execute(
                    "INSERT INTO iomux_run_figures (run_id, points, body) VALUES (?, ?, ?)",
                    &[run_row.into(), points.into(), body.into()],
                )?;
            }
            Ok(())
        })
    }

    /// A run's metric rows (`seq, metric_id, value`) in `seq` order; every metric id known.
    fn metric_rows(&mut self, run_row: i64) -> Result<Rows> {
        let metrics = self.engine.query(
            "SELECT seq, metric_id, value FROM iomux_metrics WHERE run_id = ? ORDER BY seq",
            &[run_row.into()],
        )?;
        self.resolve_metric_ids(&metrics, 1)?;
        Ok(metrics)
    }

    /// A run's row id, and whether the run has finished.
    fn run_row_and_state(&mut self, id: &str) -> Result<(i64, bool)> {
        let rows = self.engine.query(
            "SELECT id, finished FROM iomux_runs WHERE run_key = ?",
            &[id.into()],
        )?;
        let row = rows.first().ok_or_else(|| not_found(id))?;
        let run_row = row[0].int().ok_or_else(|| not_found(id))?;
        Ok((run_row, !matches!(row[1], Value::Null)))
    }

    fn run_row_id(&mut self, id: &str) -> Result<i64> {
        self.engine
            .query("SELECT id FROM iomux_runs WHERE run_key = ?", &[id.into()])?
            .first()
            .and_then(|row| row[0].int())
            .ok_or_else(|| not_found(id))
    }
}

/// The longest name an indexed column keeps (MySQL's VARCHAR(191)); longer ones would be cut
/// on one engine and kept on the other.
const MAX_NAME: usize = 191;

fn check_lengths(points: &[Point]) -> Result<()> {
    for point in points {
        let names = [&point.experiment, &point.subject]
            .into_iter()
            .chain(point.metrics.keys());
        if let Some(long) = names.into_iter().find(|n| n.chars().count() > MAX_NAME) {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "a point names {long:?}, longer than the {MAX_NAME} characters a store keeps"
                ),
            ));
        }
    }
    Ok(())
}

fn not_found(id: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no run {id:?} in the store (`iomux runs list` shows them)"),
    )
}

fn bad_record(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Other,
        format!("a stored {what} cannot be read: {e}"),
    )
}

/// `iomux_testbeds`' row id for a testbed, inserting it if new.
fn testbed_row(engine: &mut dyn Engine, testbed: &Testbed) -> Result<i64> {
    let fingerprint = testbed.fingerprint();
    let insert = engine.dialect().render(
        "{insert_ignore} INTO iomux_testbeds (fingerprint, host, cpu_model, cores, kernel, nofile_limit, server_cpu, load_cpu, virtualized) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    engine.execute(
        &insert,
        &[
            fingerprint.as_str().into(),
            testbed.host.as_str().into(),
            testbed.cpu_model.as_str().into(),
            (testbed.cores as i64).into(),
            testbed.kernel.as_str().into(),
            (testbed.nofile_limit as i64).into(),
            testbed.server_cpu.map(|c| c as i64).into(),
            testbed.load_cpu.map(|c| c as i64).into(),
            i64::from(testbed.virtualized).into(),
        ],
    )?;
    engine
        .query(
            "SELECT id FROM iomux_testbeds WHERE fingerprint = ?",
            &[fingerprint.into()],
        )?
        .first()
        .and_then(|row| row[0].int())
        .ok_or_else(|| Error::new(ErrorKind::Other, "the testbed row vanished after insert"))
}

const RUN_COLUMNS: &str = "r.run_key, r.started, r.finished, r.iomux_version, r.git_commit, r.command_line, r.quick, r.experiments, t.host, t.cpu_model, t.cores, t.kernel, t.nofile_limit, t.server_cpu, t.load_cpu, t.virtualized";

fn run_from_row(row: &[Value]) -> Result<Run> {
    let command_line: Vec<String> =
        serde_json::from_str(&row[5].text()).map_err(|e| bad_record("command line", e))?;
    let experiments: Vec<ExperimentParams> =
        serde_json::from_str(&row[7].text()).map_err(|e| bad_record("experiment list", e))?;
    Ok(Run {
        id: row[0].text(),
        started: row[1].real().unwrap_or(0.0),
        finished: row[2].real(),
        iomux_version: row[3].text(),
        git_commit: row[4].text(),
        command_line,
        quick: row[6].int() == Some(1),
        experiments,
        testbed: Testbed {
            host: row[8].text(),
            cpu_model: row[9].text(),
            cores: row[10].int().unwrap_or(0) as usize,
            kernel: row[11].text(),
            nofile_limit: row[12].int().unwrap_or(0) as u64,
            server_cpu: row[13].int().map(|c| c as usize),
            load_cpu: row[14].int().map(|c| c as usize),
            virtualized: row[15].int() == Some(1),
        },
    })
}

/// Points rows (`seq, experiment, subject, params, repeat_index`) and metric rows
/// (`seq, metric_id, value`), both in `seq` order, put back together.
fn assemble(points: &Rows, metrics: &Rows, names: &HashMap<i64, String>) -> Result<Vec<Point>> {
    let mut seqs = Vec::with_capacity(points.len());
    let mut out = Vec::with_capacity(points.len());
    // Subjects and repeats share parameters: each distinct text is parsed once.
    let mut parsed: HashMap<&str, BTreeMap<String, serde_json::Value>> = HashMap::new();
    for row in points {
        let Value::Text(text) = &row[3] else {
            return Err(Error::new(
                ErrorKind::Other,
                "a stored point has no parameters",
            ));
        };
        let params = match parsed.get(text.as_str()) {
            Some(params) => params.clone(),
            None => {
                let params: BTreeMap<String, serde_json::Value> =
                    serde_json::from_str(text).map_err(|e| bad_record("point", e))?;
                parsed.insert(text, params.clone());
                params
            }
        };
        seqs.push(row[0].int().unwrap_or(-1));
        out.push(Point {
            experiment: row[1].text(),
            subject: row[2].text(),
            params,
            metrics: BTreeMap::new(),
            repeat: row[4].int().map(|r| r as usize),
        });
    }
    each_metric(&seqs, metrics, |at, id, value| {
        if let Some(name) = names.get(&id) {
            out[at].metrics.insert(name.clone(), value);
        }
    });
    Ok(out)
}

/// A text column's value (empty for anything else).
/// A point row (`seq, experiment, subject, params, repeat_index, figures`) as a snapshot line.
fn line_of(row: &[Value]) -> Line<'_> {
    Line {
        seq: row[0].int().unwrap_or(-1),
        experiment: as_text(&row[1]),
        subject: as_text(&row[2]),
        params: as_text(&row[3]),
        repeat: row[4].int(),
        figures: match &row[5] {
            Value::Null => None,
            value => Some(as_text(value)),
        },
    }
}

fn as_text(value: &Value) -> &str {
    match value {
        Value::Text(t) => t,
        _ => "",
    }
}

/// Metric ids (small integers: the store numbers them) to indexes into one run's name list.
#[derive(Default)]
struct MetricSlots {
    names: Vec<Arc<str>>,
    by_id: Vec<u32>,
}

impl MetricSlots {
    /// The slot of metric `id`, adding its name on first sight; `None` if `known` lacks it.
    #[inline]
    fn slot(&mut self, id: i64, known: &HashMap<i64, String>) -> Option<u32> {
        let index = usize::try_from(id).ok()?;
        if let Some(&slot) = self.by_id.get(index).filter(|&&s| s != u32::MAX) {
            return Some(slot);
        }
        let name = known.get(&id)?;
        if self.by_id.len() <= index {
            self.by_id.resize(index + 1, u32::MAX);
        }
        let slot = self.names.len() as u32;
        self.names.push(Arc::from(name.as_str()));
        self.by_id[index] = slot;
        Some(slot)
    }
}

/// One point's figures as one text: `id=bits` pairs joined by `,`, the metric id and the f64's
/// bits in hex (exact, and quick to read back), `id=-` for a figure not had.
mod figures {
    use std::fmt::Write as _;

    /// Appends one figure.
    pub fn push(out: &mut String, id: i64, value: Option<f64>) {
        if !out.is_empty() {
            out.push(',');
        }
        let _ = match value {
            Some(v) => write!(out, "{id:x}={:x}", v.to_bits()),
            None => write!(out, "{id:x}=-"),
        };
    }

    /// Calls `f(metric id, value)` for each figure of `text`. (Read byte by byte: this runs
    /// for every figure of every run `runs compare` reads.)
    pub fn decode(text: &str, mut f: impl FnMut(i64, Option<f64>)) -> Result<(), String> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Ok(());
        }
        let bad = |at: usize| format!("{:?} is not a list of figures (at byte {at})", text);
        let mut at = 0;
        loop {
            let (id, next) = hex(bytes, at).ok_or_else(|| bad(at))?;
            if bytes.get(next) != Some(&b'=') || id > i64::MAX as u64 {
                return Err(bad(next));
            }
            at = next + 1;
            let value = if bytes.get(at) == Some(&b'-') {
                at += 1;
                None
            } else {
                let (bits, next) = hex(bytes, at).ok_or_else(|| bad(at))?;
                at = next;
                Some(f64::from_bits(bits))
            };
            f(id as i64, value);
            match bytes.get(at) {
                None => return Ok(()),
                Some(b',') => at += 1,
                Some(_) => return Err(bad(at)),
            }
        }
    }

    /// The hex number at `bytes[at..]` (1 to 16 digits) and where it ends.
    #[inline]
    fn hex(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
        let mut value: u64 = 0;
        let mut end = at;
        while let Some(&b) = bytes.get(end) {
            let digit = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => break,
            };
            if end - at == 16 {
                return None;
            }
            value = value << 4 | u64::from(digit);
            end += 1;
        }
        (end > at).then_some((value, end))
    }

    #[cfg(test)]
    mod tests {
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn figures_read_back_exactly(
                figures in prop::collection::vec((0i64..1_000_000, prop::option::of(any::<u64>())), 0..20)
            ) {
                let mut text = String::new();
                for (id, bits) in &figures {
                    super::push(&mut text, *id, bits.map(f64::from_bits));
                }
                let mut back = Vec::new();
                super::decode(&text, |id, v| back.push((id, v.map(f64::to_bits)))).unwrap();
                prop_assert_eq!(back, figures);
            }
        }

        #[test]
        fn garbage_is_an_error() {
            for text in ["x", "1=", "=1", "1=zz", "1=2,,"] {
                assert!(super::decode(text, |_, _| {}).is_err(), "{text}");
            }
        }
    }
}

/// Calls `f(point index, metric id, value)` for each metric row (`seq, metric_id, value`) whose
/// point is in `seqs`. Both are in `seq` order: one cursor walks the points.
fn each_metric(seqs: &[i64], metrics: &Rows, mut f: impl FnMut(usize, i64, Option<f64>)) {
    let mut at = 0;
    for row in metrics {
        let seq = row[0].int().unwrap_or(-1);
        while at < seqs.len() && seqs[at] < seq {
            at += 1;
        }
        if let (Some(id), true) = (row[1].int(), at < seqs.len() && seqs[at] == seq) {
            f(at, id, row[2].real());
        }
    }
}

impl<E: Engine + 'static> Store for SqlStore<E> {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn try_clone(&self) -> Result<Box<dyn Store>> {
        // The schema is migrated already: a plain second connection.
        Ok(Box::new(SqlStore {
            engine: self.engine.reconnect()?,
            describe: self.describe.clone(),
            metric_ids: self.metric_ids.clone(),
            metric_names: self.metric_names.clone(),
        }))
    }

    fn save_run(&mut self, run: &Run) -> Result<()> {
        let command_line = serde_json::to_string(&redact_command_line(&run.command_line))
            .expect("strings serialize");
        let experiments = serde_json::to_string(&run.experiments).expect("parameters serialize");
        self.transaction(|engine| {
            let testbed = testbed_row(engine, &run.testbed)?;
            let existing = engine.query(
                "SELECT testbed_id FROM iomux_runs WHERE run_key = ?",
                &[run.id.as_str().into()],
            )?;
            match existing.first().and_then(|row| row[0].int()) {
                Some(stored) if stored != testbed => Err(Error::new(
                    ErrorKind::Other,
                    format!("run {:?} is already stored from another testbed: not overwritten", run.id),
                )),
                Some(_) => engine
                    .execute(
                        "UPDATE iomux_runs SET finished = ?, git_commit = ?, command_line = ?, experiments = ? WHERE run_key = ?",
                        &[
                            run.finished.into(),
                            run.git_commit.as_str().into(),
                            command_line.as_str().into(),
                            experiments.as_str().into(),
                            run.id.as_str().into(),
                        ],
                    )
                    .map(drop),
                None => engine
                    .execute(
                        "INSERT INTO iomux_runs (run_key, testbed_id, started, finished, iomux_version, git_commit, command_line, quick, experiments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        &[
                            run.id.as_str().into(),
                            testbed.into(),
                            run.started.into(),
                            run.finished.into(),
                            run.iomux_version.as_str().into(),
                            run.git_commit.as_str().into(),
                            command_line.as_str().into(),
                            i64::from(run.quick).into(),
                            experiments.as_str().into(),
                        ],
                    )
                    .map(drop),
            }
        })?;
        // A run that finishes gets its snapshot (its points are all in by now).
        if run.finished.is_some() {
            let run_row = self.run_row_id(&run.id)?;
            self.refresh_snapshot(run_row)?;
        }
        Ok(())
    }

    fn save_points(&mut self, run_id: &str, first_seq: usize, points: &[Point]) -> Result<usize> {
        if points.is_empty() {
            return Ok(0);
        }
        let (run, finished) = self.run_row_and_state(run_id)?;
        check_lengths(points)?;
        self.register_metrics(points)?;
        let mut point_rows = Vec::with_capacity(points.len() * 7);
        let mut metric_rows = Vec::new();
        let mut figure_rows = Vec::with_capacity(points.len() * 3);
        for (i, point) in points.iter().enumerate() {
            let seq = (first_seq + i) as i64;
            let key = point.key();
            point_rows.extend([
                run.into(),
                seq.into(),
                point.experiment.as_str().into(),
                point.subject.as_str().into(),
                key.params_json().into(),
                key.hash().into(),
                point.repeat.map(|r| r as i64).into(),
            ]);
            let mut figures = String::with_capacity(point.metrics.len() * 20);
            for (name, value) in &point.metrics {
                let id = self.metric_ids.get(name).copied();
                metric_rows.extend([run.into(), seq.into(), id.into(), (*value).into()]);
                if let Some(id) = id {
                    figures::push(&mut figures, id, *value);
                }
            }
            figure_rows.extend([run.into(), seq.into(), figures.into()]);
        }
        let dialect = self.engine.dialect();
        let points_head = dialect.render("{insert_ignore} INTO iomux_points (run_id, seq, experiment, subject, params, point_key, repeat_index) VALUES");
        let metrics_head = dialect
            .render("{insert_ignore} INTO iomux_metrics (run_id, seq, metric_id, value) VALUES");
        let figures_head = dialect
            .render("{insert_ignore} INTO iomux_point_figures (run_id, seq, figures) VALUES");
        // Points already stored (an import run twice) are skipped, with their figures.
        let added = self.transaction(|engine| {
            let added = engine.insert_rows(&points_head, 7, &point_rows)?;
            engine.insert_rows(&metrics_head, 4, &metric_rows)?;
            engine.insert_rows(&figures_head, 3, &figure_rows)?;
            Ok(added)
        })?;
        // Points added to a finished run (an import) go into its snapshot; a running run
        // gets its snapshot when it finishes.
        if finished && added > 0 {
            self.refresh_snapshot(run)?;
        }
        Ok(added as usize)
    }

    fn runs(&mut self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let mut clauses = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        if let Some(experiment) = &filter.experiment {
            clauses.push("r.experiments LIKE ? ESCAPE '!'");
            params.push(experiment_pattern(experiment).into());
        }
        if let Some(testbed) = &filter.testbed {
            clauses.push("(t.fingerprint LIKE ? ESCAPE '!' OR t.host = ?)");
            params.push(format!("{}%", like_escape(testbed)).into());
            params.push(testbed.as_str().into());
        }
        if let Some(commit) = &filter.commit {
            clauses.push("r.git_commit LIKE ? ESCAPE '!'");
            params.push(format!("{}%", like_escape(commit)).into());
        }
        if let Some(since) = filter.since {
            clauses.push("r.started >= ?");
            params.push(since.into());
        }
        let mut sql = "SELECT r.run_key, r.started, r.finished, r.git_commit, r.quick, r.experiments, t.fingerprint, t.host, (SELECT COUNT(*) FROM iomux_points p WHERE p.run_id = r.id) FROM iomux_runs r JOIN iomux_testbeds t ON t.id = r.testbed_id".to_owned();
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(" ORDER BY r.started DESC, r.id DESC LIMIT ?");
        params.push((filter.limit.unwrap_or(1_000_000) as i64).into());
        let rows = self.engine.query(&sql, &params)?;
        rows.iter()
            .map(|row| {
                let experiments: Vec<ExperimentParams> = serde_json::from_str(&row[5].text())
                    .map_err(|e| bad_record("experiment list", e))?;
                Ok(RunSummary {
                    id: row[0].text(),
                    started: row[1].real().unwrap_or(0.0),
                    finished: row[2].real(),
                    git_commit: row[3].text(),
                    quick: row[4].int() == Some(1),
                    experiments: experiments.into_iter().map(|e| e.experiment).collect(),
                    testbed: row[6].text(),
                    host: row[7].text(),
                    points: row[8].int().unwrap_or(0) as u64,
                })
            })
            .collect()
    }

    fn find_run(&mut self, reference: &str) -> Result<String> {
        let latest = reference
            .strip_prefix("latest")
            .and_then(|rest| match rest {
                "" => Some(0),
                _ => rest.strip_prefix('~')?.parse::<u32>().ok().map(i64::from),
            });
        if let Some(back) = latest {
            return self
                .engine
                .query(
                    "SELECT run_key FROM iomux_runs ORDER BY started DESC, id DESC LIMIT 1 OFFSET ?",
                    &[back.into()],
                )?
                .first()
                .map(|row| row[0].text())
                .ok_or_else(|| not_found(reference));
        }
        let exact = self.engine.query(
            "SELECT run_key FROM iomux_runs WHERE run_key = ?",
            &[reference.into()],
        )?;
        if let Some(row) = exact.first() {
            return Ok(row[0].text());
        }
        let matches = self.engine.query(
            "SELECT run_key FROM iomux_runs WHERE run_key LIKE ? ESCAPE '!' ORDER BY run_key LIMIT 3",
            &[format!("{}%", like_escape(reference)).into()],
        )?;
        match matches.len() {
            1 => Ok(matches.first().expect("one")[0].text()),
            0 => Err(not_found(reference)),
            _ => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{reference:?} names more than one run ({}, ...): give more of the id",
                    matches
                        .iter()
                        .map(|r| r[0].text())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    fn load_run(&mut self, id: &str) -> Result<RunRecords> {
        let (run, points, metrics) = self.run_rows(id)?;
        Ok(RunRecords {
            run,
            points: assemble(&points, &metrics, &self.metric_names)?,
        })
    }

    fn load_figures(&mut self, id: &str) -> Result<Figures> {
        let (run, run_row) = self.run_record(id)?;
        // The snapshot when the run has one, else one row a point.
        let snapshot = self.snapshot(run_row)?;
        let rows;
        let lines = match snapshot.as_deref().map(snapshot::decode) {
            Some(Ok(Some(lines))) => lines,
            Some(Err(e)) => return Err(bad_record("run snapshot", e)),
            Some(Ok(None)) | None => {
                rows = self.point_rows(run_row, true)?;
                rows.iter().map(line_of).collect()
            }
        };
        // Points stored before schema 2 have their figures in the metric rows only.
        let metrics = if lines.iter().all(|line| line.figures.is_some()) {
            None
        } else {
            Some(self.metric_rows(run_row)?)
        };
        let mut interned = Interner::default();
        // Each distinct parameter text parsed and written once.
        let mut params_text: FastMap<&str, Arc<str>> = map_with_capacity(64);
        let mut seqs = Vec::with_capacity(lines.len());
        let mut out = Vec::with_capacity(lines.len());
        for line in &lines {
            let json = line.params;
            let params = match params_text.get(json) {
                Some(text) => text.clone(),
                None => {
                    let parsed: BTreeMap<String, serde_json::Value> =
                        serde_json::from_str(json).map_err(|e| bad_record("point", e))?;
                    let mut text = String::new();
                    write_params(&mut text, &parsed).expect("writing to a String");
                    let text: Arc<str> = Arc::from(text);
                    params_text.insert(json, text.clone());
                    text
                }
            };
            let (experiment, subject) = (interned.get(line.experiment), interned.get(line.subject));
            seqs.push(line.seq);
            out.push(FigurePoint {
                key: Arc::from(format!("{experiment}/{subject}/{params}")),
                experiment,
                subject,
                params,
                repeat: line.repeat.map(|r| r as usize),
                values: Vec::new(),
            });
        }
        // Metric ids become indexes into this run's name list. A figure may name a metric
        // this connection has not seen (another writer added it): its name is read, and the
        // figures are read again.
        if metrics.is_none() {
            for (point, line) in out.iter_mut().zip(&lines) {
                let figures = line.figures.unwrap_or_default();
                let pairs = figures.bytes().filter(|&b| b == b',').count() + 1;
                point.values.reserve_exact(pairs);
            }
        }
        for _attempt in 0..2 {
            let mut names = MetricSlots::default();
            let mut unknown = Vec::new();
            let known = &self.metric_names;
            let mut add = |at: usize, id: i64, value: Option<f64>| match names.slot(id, known) {
                Some(slot) => out[at].values.push((slot, value)),
                None => unknown.push(id),
            };
            match &metrics {
                Some(metrics) => each_metric(&seqs, metrics, &mut add),
                None => {
                    for (at, line) in lines.iter().enumerate() {
                        let text = line.figures.unwrap_or_default();
                        figures::decode(text, |id, value| add(at, id, value))
                            .map_err(|e| bad_record("point figures", e))?;
                    }
                }
            }
            if unknown.is_empty() {
                return Ok(Figures {
                    run,
                    names: names.names,
                    points: out,
                });
            }
            for point in &mut out {
                point.values.clear();
            }
            for id in unknown {
                if !self.metric_names.contains_key(&id) {
                    self.metric_name(id)?;
                }
            }
        }
        Err(Error::new(
            ErrorKind::Other,
            "a stored figure names a metric id the store does not know",
        ))
    }

    fn remove_run(&mut self, id: &str) -> Result<()> {
        let run = self.run_row_id(id)?;
        self.transaction(|engine| {
            // Children first: no engine is trusted to cascade (SQLite only does with
            // foreign_keys on, and a MySQL table could be MyISAM).
            engine.execute(
                "DELETE FROM iomux_run_figures WHERE run_id = ?",
                &[run.into()],
            )?;
            engine.execute(
                "DELETE FROM iomux_point_figures WHERE run_id = ?",
                &[run.into()],
            )?;
            engine.execute("DELETE FROM iomux_metrics WHERE run_id = ?", &[run.into()])?;
            engine.execute("DELETE FROM iomux_points WHERE run_id = ?", &[run.into()])?;
            engine.execute("DELETE FROM iomux_runs WHERE id = ?", &[run.into()])?;
            Ok(())
        })
    }

    fn earlier_runs(
        &mut self,
        testbed: &str,
        experiment: &str,
        before: f64,
        limit: usize,
    ) -> Result<Vec<String>> {
        let rows = self.engine.query(
            "SELECT r.run_key FROM iomux_runs r JOIN iomux_testbeds t ON t.id = r.testbed_id WHERE t.fingerprint = ? AND r.started < ? AND r.quick = 0 AND r.experiments LIKE ? ESCAPE '!' ORDER BY r.started DESC LIMIT ?",
            &[
                testbed.into(),
                before.into(),
                experiment_pattern(experiment).into(),
                (limit as i64).into(),
            ],
        )?;
        Ok(rows.iter().map(|row| row[0].text()).collect())
    }

    fn point_testbeds(&mut self, key: &PointKey) -> Result<Vec<TestbedUse>> {
        let rows = self.engine.query(
            "SELECT t.fingerprint, t.host, COUNT(DISTINCT r.id), MAX(r.started) FROM iomux_points p JOIN iomux_runs r ON r.id = p.run_id JOIN iomux_testbeds t ON t.id = r.testbed_id WHERE p.point_key = ? GROUP BY t.fingerprint, t.host ORDER BY MAX(r.started) DESC",
            &[key.hash().into()],
        )?;
        Ok(rows
            .iter()
            .map(|row| TestbedUse {
                fingerprint: row[0].text(),
                host: row[1].text(),
                runs: row[2].int().unwrap_or(0) as u64,
                last_started: row[3].real().unwrap_or(0.0),
            })
            .collect())
    }

    fn history(&mut self, testbed: &str, key: &PointKey) -> Result<Vec<HistoryEntry>> {
        let points = self.engine.query(
            "SELECT r.run_key, r.started, r.git_commit, p.run_id, p.seq, p.experiment, p.subject, p.params, p.repeat_index FROM iomux_points p JOIN iomux_runs r ON r.id = p.run_id JOIN iomux_testbeds t ON t.id = r.testbed_id WHERE p.point_key = ? AND t.fingerprint = ? ORDER BY r.started, p.run_id, p.seq",
            &[key.hash().into(), testbed.into()],
        )?;
        let metrics = self.engine.query(
            "SELECT m.run_id, m.seq, m.metric_id, m.value FROM iomux_metrics m JOIN iomux_points p ON p.run_id = m.run_id AND p.seq = m.seq JOIN iomux_runs r ON r.id = p.run_id JOIN iomux_testbeds t ON t.id = r.testbed_id WHERE p.point_key = ? AND t.fingerprint = ?",
            &[key.hash().into(), testbed.into()],
        )?;
        self.resolve_metric_ids(&metrics, 2)?;
        let mut values: HashMap<(i64, i64), BTreeMap<String, Option<f64>>> = HashMap::new();
        for row in &metrics {
            let at = (row[0].int().unwrap_or(-1), row[1].int().unwrap_or(-1));
            let Some(name) = row[2].int().and_then(|id| self.metric_names.get(&id)) else {
                continue;
            };
            values
                .entry(at)
                .or_default()
                .insert(name.clone(), row[3].real());
        }
        let mut entries: Vec<HistoryEntry> = Vec::new();
        for row in &points {
            let params: BTreeMap<String, serde_json::Value> =
                serde_json::from_str(&row[7].text()).map_err(|e| bad_record("point", e))?;
            let point = Point {
                experiment: row[5].text(),
                subject: row[6].text(),
                params,
                metrics: values
                    .remove(&(row[3].int().unwrap_or(-1), row[4].int().unwrap_or(-1)))
                    .unwrap_or_default(),
                repeat: row[8].int().map(|r| r as usize),
            };
            // The hash narrowed the search; the key itself decides.
            if point.key() != *key {
                continue;
            }
            let run = row[0].text();
            if entries.last().is_none_or(|e| e.run != run) {
                entries.push(HistoryEntry {
                    run,
                    started: row[1].real().unwrap_or(0.0),
                    git_commit: row[2].text(),
                    median: None,
                    repeats: Vec::new(),
                });
            }
            let entry = entries.last_mut().expect("pushed above");
            match point.repeat {
                None => entry.median = Some(point),
                Some(_) => entry.repeats.push(point),
            }
        }
        Ok(entries)
    }

    fn save_calibrations(&mut self, testbed: &Testbed, bands: &[Calibration]) -> Result<()> {
        self.transaction(|engine| {
            let testbed = testbed_row(engine, testbed)?;
            for band in bands {
                let key = band.settings_key();
                // Delete, then insert: the one upsert both engines spell the same way.
                engine.execute(
                    "DELETE FROM iomux_calibrations WHERE testbed_id = ? AND experiment = ? AND settings_key = ? AND metric = ?",
                    &[
                        testbed.into(),
                        band.experiment.as_str().into(),
                        key.as_str().into(),
                        band.metric.as_str().into(),
                    ],
                )?;
                engine.execute(
                    "INSERT INTO iomux_calibrations (testbed_id, experiment, settings_key, metric, settings, band, samples, runs, git_commit, learned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    &[
                        testbed.into(),
                        band.experiment.as_str().into(),
                        key.as_str().into(),
                        band.metric.as_str().into(),
                        band.settings.as_str().into(),
                        band.band.into(),
                        (band.samples as i64).into(),
                        (band.runs as i64).into(),
                        band.commit.as_str().into(),
                        band.learned.into(),
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn calibrations(&mut self, testbed: &str) -> Result<Vec<Calibration>> {
        let rows = self.engine.query(
            "SELECT c.experiment, c.settings, c.metric, c.band, c.samples, c.runs, c.git_commit, c.learned FROM iomux_calibrations c JOIN iomux_testbeds t ON t.id = c.testbed_id WHERE t.fingerprint = ? ORDER BY c.learned DESC, c.experiment, c.metric",
            &[testbed.into()],
        )?;
        Ok(rows
            .iter()
            .map(|row| Calibration {
                experiment: row[0].text(),
                settings: row[1].text(),
                metric: row[2].text(),
                band: row[3].real().unwrap_or(f64::NAN),
                samples: row[4].int().unwrap_or(0) as usize,
                runs: row[5].int().unwrap_or(0) as usize,
                commit: row[6].text(),
                learned: row[7].real().unwrap_or(0.0),
            })
            .collect())
    }
}

/// A `LIKE` pattern that finds an experiment in a run's stored experiment list (JSON).
fn experiment_pattern(experiment: &str) -> String {
    let quoted = serde_json::Value::from(experiment).to_string();
    format!("%\"experiment\":{}%", like_escape(&quoted))
}

/// `text` safe inside a `LIKE` pattern with `ESCAPE '!'`.
fn like_escape(text: &str) -> String {
    text.replace('!', "!!")
        .replace('%', "!%")
        .replace('_', "!_")
}
