//! The store's schema, as versioned migrations applied on open (documented table by table in
//! `schema.md`). Each migration is written once; [`crate::engine::Dialect::render`] puts in
//! the words the engines spell differently. A database whose schema is newer than this
//! binary's is refused: writing into tables this binary does not know could lose data.
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};

/// The migrations, in order; migration `i` brings the schema to version `i + 1`.
pub const MIGRATIONS: &[&[&str]] = &[
    // 1: testbeds, runs, points, metric values.
    &[
        "CREATE TABLE IF NOT EXISTS iomux_testbeds (
            id {serial_key},
            fingerprint {short_text} NOT NULL UNIQUE,
            host {short_text} NOT NULL,
            cpu_model {short_text} NOT NULL,
            cores INTEGER NOT NULL,
            kernel {short_text} NOT NULL,
            nofile_limit BIGINT NOT NULL,
            server_cpu INTEGER NULL,
            load_cpu INTEGER NULL,
            virtualized INTEGER NOT NULL
        ){table_options}",
        "CREATE TABLE IF NOT EXISTS iomux_runs (
            id {serial_key},
            run_key {short_text} NOT NULL UNIQUE,
            testbed_id BIGINT NOT NULL REFERENCES iomux_testbeds (id),
            started DOUBLE NOT NULL,
            finished DOUBLE NULL,
            iomux_version {short_text} NOT NULL,
            git_commit {short_text} NOT NULL,
            command_line {long_text} NOT NULL,
            quick INTEGER NOT NULL,
            experiments {long_text} NOT NULL
        ){table_options}",
        "CREATE INDEX iomux_runs_by_testbed ON iomux_runs (testbed_id, started)",
        "CREATE INDEX iomux_runs_by_start ON iomux_runs (started)",
        "CREATE TABLE IF NOT EXISTS iomux_points (
            run_id BIGINT NOT NULL REFERENCES iomux_runs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            experiment {short_text} NOT NULL,
            subject {short_text} NOT NULL,
            params {long_text} NOT NULL,
            point_key {short_text} NOT NULL,
            repeat_index INTEGER NULL,
            PRIMARY KEY (run_id, seq)
        ){clustered}",
        "CREATE INDEX iomux_points_by_key ON iomux_points (point_key, run_id)",
        "CREATE TABLE IF NOT EXISTS iomux_metric_names (
            id {serial_key},
            name {short_text} NOT NULL UNIQUE
        ){table_options}",
        "CREATE TABLE IF NOT EXISTS iomux_metrics (
            run_id BIGINT NOT NULL,
            seq INTEGER NOT NULL,
            metric_id BIGINT NOT NULL REFERENCES iomux_metric_names (id),
            value DOUBLE NULL,
            PRIMARY KEY (run_id, seq, metric_id),
            FOREIGN KEY (run_id, seq) REFERENCES iomux_points (run_id, seq) ON DELETE CASCADE
        ){clustered}",
    ],
    // 2: each point's figures in one row, for the readers that want whole runs (`runs
    // compare`, the history rule): a tenth of the rows of iomux_metrics, which stays the
    // record. Runs stored before it have none, and are read from iomux_metrics.
    &["CREATE TABLE IF NOT EXISTS iomux_point_figures (
            run_id BIGINT NOT NULL,
            seq INTEGER NOT NULL,
            figures {long_text} NOT NULL,
            PRIMARY KEY (run_id, seq),
            FOREIGN KEY (run_id, seq) REFERENCES iomux_points (run_id, seq) ON DELETE CASCADE
        ){clustered}"],
    // 3: a finished run's points and figures in one row (`snapshot.rs`), so that a reader of
    // whole runs reads one row instead of one a point. Rebuilt from the tables above.
    &["CREATE TABLE IF NOT EXISTS iomux_run_figures (
            run_id BIGINT NOT NULL PRIMARY KEY REFERENCES iomux_runs (id),
            points INTEGER NOT NULL,
            body {long_text} NOT NULL
        ){table_options}"],
    // 4: noise bands learned per testbed (`compare::calibration`), kept apart from the runs
    // they were learned from so that a comparison reads them in one query.
    &["CREATE TABLE IF NOT EXISTS iomux_calibrations (
            testbed_id BIGINT NOT NULL REFERENCES iomux_testbeds (id),
            experiment {short_text} NOT NULL,
            settings_key {short_text} NOT NULL,
            metric {short_text} NOT NULL,
            settings {long_text} NOT NULL,
            band DOUBLE NOT NULL,
            samples INTEGER NOT NULL,
            runs INTEGER NOT NULL,
            git_commit {short_text} NOT NULL,
            learned DOUBLE NOT NULL,
            PRIMARY KEY (testbed_id, experiment, settings_key, metric)
        ){clustered}"],
];

/// The schema version this binary writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`], or refuses one that is newer or not a store.
/// `describe` names the store in messages.
pub fn migrate(engine: &mut dyn Engine, describe: &str) -> Result<()> {
    let current = current_version(engine, describe)?;
    if current == VERSION {
        return Ok(());
    }
    engine.migration_lock(true)?;
    let outcome = apply(engine, describe);
    let released = engine.migration_lock(false);
    outcome.and(released)
}

fn current_version(engine: &mut dyn Engine, describe: &str) -> Result<i64> {
    let tables = engine.table_names()?;
    if !tables.iter().any(|t| t == "iomux_schema") {
        // A SQLite file holds one program's tables: another program's file is not ours to
        // add tables to. A MySQL database may be shared: the iomux_ prefix keeps them apart.
        let foreign: Vec<&String> = tables.iter().filter(|t| !t.starts_with("iomux_")).collect();
        if engine.dialect().name == "sqlite" && !foreign.is_empty() {
            return Err(Error::new(
                ErrorKind::NotAStore,
                format!("{describe} is a SQLite database of another program (tables {foreign:?}); iomux will not write into it"),
            ));
        }
        return Ok(0);
    }
    let version = engine
        .query("SELECT MAX(version) FROM iomux_schema", &[])?
        .first()
        .and_then(|row| row[0].int())
        .unwrap_or(0);
    if version > VERSION {
        return Err(Error::new(
            ErrorKind::TooNew,
            format!("{describe} has schema version {version}, newer than this iomux knows ({VERSION}): upgrade iomux, or use another --db"),
        ));
    }
    Ok(version)
}

/// Applies the missing migrations under the lock (another process may have applied them
/// since the version was first read).
fn apply(engine: &mut dyn Engine, describe: &str) -> Result<()> {
    let dialect = engine.dialect();
    engine.begin()?;
    let result = (|| {
        engine.execute(
            &dialect.render(
                "CREATE TABLE IF NOT EXISTS iomux_schema (version INTEGER NOT NULL, applied DOUBLE NOT NULL){table_options}",
            ),
            &[],
        )?;
        let current = current_version(engine, describe)?;
        for (index, statements) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            for statement in *statements {
                // On MySQL each statement commits by itself: a migration cut short (a missing
                // privilege, a lost connection) is finished by the next open, so every step
                // must be safe to run again. Tables say IF NOT EXISTS; an index is looked for.
                if let Some(index) = statement
                    .strip_prefix("CREATE INDEX ")
                    .and_then(|rest| rest.split_whitespace().next())
                {
                    if engine.index_exists(index)? {
                        continue;
                    }
                }
                engine.execute(&dialect.render(statement), &[])?;
            }
            engine.execute(
                "INSERT INTO iomux_schema (version, applied) VALUES (?, ?)",
                &[(index as i64 + 1).into(), crate::record::now_unix().into()],
            )?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => engine.commit(),
        Err(e) => {
            let _ = engine.rollback();
            Err(e)
        }
    }
}
