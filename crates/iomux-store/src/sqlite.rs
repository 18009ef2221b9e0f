//! SQLite, the default engine: one file, created on first use.
//!
//! Quirks this file handles:
//! - Two iomux processes may record at once. The file is in WAL mode (readers never block the
//!   writer), writes take the lock up front (`BEGIN IMMEDIATE`) and wait up to [`BUSY_WAIT`]
//!   for another writer instead of failing at once.
//! - `synchronous=NORMAL`: in WAL mode a commit is durable against a crash of iomux, and only
//!   the last commits can be lost to a power cut; the JSONL file beside the run has them too.
//! - A file that is not SQLite fails on the first read (`SQLITE_NOTADB`), not at open.
//! - Foreign keys are off unless switched on per connection.
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ErrorCode, OpenFlags, ToSql};

use crate::engine::{Dialect, Engine, Rows, Value};
use crate::error::{Error, ErrorKind, Result};

/// How long a writer waits for another to finish before giving up.
pub const BUSY_WAIT: Duration = Duration::from_secs(30);

static DIALECT: Dialect = Dialect {
    name: "sqlite",
    serial_key: "INTEGER PRIMARY KEY AUTOINCREMENT",
    short_text: "TEXT",
    long_text: "TEXT",
    table_options: "",
    clustered: " WITHOUT ROWID",
    insert_ignore: "INSERT OR IGNORE",
};

/// An open SQLite store file.
pub struct Sqlite {
    conn: rusqlite::Connection,
    path: PathBuf,
}

impl Sqlite {
    /// Opens (creating it and its folder if needed) the file at `path`.
    pub fn open(path: &Path) -> Result<Sqlite> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(|e| {
                Error::new(
                    ErrorKind::ReadOnly,
                    format!(
                        "cannot create the folder {} for the store: {e}",
                        folder.display()
                    ),
                )
            })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            rusqlite::Connection::open_with_flags(path, flags).map_err(|e| translate(path, e))?;
        let store = Sqlite {
            conn,
            path: path.to_owned(),
        };
        store
            .conn
            .busy_timeout(BUSY_WAIT)
            .map_err(|e| translate(path, e))?;
        // The first statement that reads the file: where "not a database" shows. Switching a
        // new file to WAL while another connection does the same (two first runs at once) can
        // fail at once with SQLITE_BUSY, without the busy handler: retried for as long.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match store
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            {
                Ok(mode) => break mode,
                Err(e)
                    if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                        && started.elapsed() < BUSY_WAIT =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(translate(path, e)),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::new(
                ErrorKind::ReadOnly,
                format!(
                    "{} cannot be switched to WAL mode (it stays in {mode:?} mode): is it read-only?",
                    path.display()
                ),
            ));
        }
        store
            .conn
            // LIKE as MySQL's binary collation has it: case-sensitive (run ids, commits).
            .execute_batch(
                "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA case_sensitive_like=ON;",
            )
            .map_err(|e| translate(path, e))?;
        Ok(store)
    }

    fn fail(&self, e: rusqlite::Error) -> Error {
        translate(&self.path, e)
    }
}

/// One line per SQLite failure a user can act on.
fn translate(path: &Path, e: rusqlite::Error) -> Error {
    let shown = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::new(
            ErrorKind::NotAStore,
            format!("{shown} is not an iomux store: the file is not a SQLite database"),
        ),
        Some(ErrorCode::ReadOnly) => Error::new(
            ErrorKind::ReadOnly,
            format!("{shown} is read-only: iomux cannot record into it ({e}); pass --db with a writable file, or --no-db"),
        ),
        Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => Error::new(
            ErrorKind::ReadOnly,
            format!("cannot open {shown} for writing ({e}): check that the file and its folder are writable"),
        ),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => Error::new(
            ErrorKind::Busy,
            format!("{shown} stayed locked by another writer for more than {} s", BUSY_WAIT.as_secs()),
        ),
        _ => Error::new(ErrorKind::Other, format!("{shown}: {e}")),
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Real(v) => ValueRef::Real(*v),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

fn read(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(v) => Value::Int(v),
        ValueRef::Real(v) => Value::Real(v),
        // Checked as UTF-8 first (the quick path: the store writes only UTF-8).
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(match std::str::from_utf8(t) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(t).into_owned(),
        }),
    }
}

impl Engine for Sqlite {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn reconnect(&self) -> Result<Self> {
        Sqlite::open(&self.path)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let mut statement = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| translate(&self.path, e))?;
        let changed = statement
            .execute(rusqlite::params_from_iter(params))
            .map_err(|e| translate(&self.path, e))?;
        Ok(changed as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows> {
        let mut statement = self
            .conn
            .prepare_cached(sql)
            .map_err(|e| translate(&self.path, e))?;
        let width = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(|e| translate(&self.path, e))?;
        let mut out = Rows::new(width);
        while let Some(row) = rows.next().map_err(|e| translate(&self.path, e))? {
            for i in 0..width {
                out.push(read(row.get_ref(i).map_err(|e| translate(&self.path, e))?));
            }
        }
        Ok(out)
    }

    fn insert_rows(&mut self, head: &str, width: usize, rows: &[Value]) -> Result<u64> {
        let placeholders = vec!["?"; width].join(",");
        let sql = format!("{head} ({placeholders})");
        let mut statement = self
            .conn
            .prepare_cached(&sql)
            .map_err(|e| translate(&self.path, e))?;
        let mut inserted = 0;
        for row in rows.chunks(width) {
            inserted += statement
                .execute(rusqlite::params_from_iter(row))
                .map_err(|e| translate(&self.path, e))? as u64;
        }
        Ok(inserted)
    }

    fn last_insert_id(&mut self) -> Result<i64> {
        Ok(self.conn.last_insert_rowid())
    }

    fn begin(&mut self) -> Result<()> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(|e| self.fail(e))
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(|e| self.fail(e))
    }

    fn rollback(&mut self) -> Result<()> {
        self.conn
            .execute_batch("ROLLBACK")
            .map_err(|e| self.fail(e))
    }

    fn migration_lock(&mut self, _take: bool) -> Result<()> {
        Ok(())
    }

    fn index_exists(&mut self, name: &str) -> Result<bool> {
        Ok(!self
            .query(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                &[name.into()],
            )?
            .is_empty())
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            &[],
        )?;
        Ok(rows.iter().map(|r| r[0].text()).collect())
    }
}
