//! The seam between the store and a database engine: what differs between SQLite and
//! MySQL/MariaDB, and nothing else. The queries themselves are written once, in
//! [`crate::sql`], with `?` placeholders both engines accept; an engine contributes only its
//! connection, its error translation and the few words of SQL where the dialects part
//! ([`Dialect`]).
use crate::error::Result;

/// A value bound to a `?` placeholder or read from a result column.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// A string.
    Text(String),
}

impl Value {
    /// As an integer (a real truncated, text parsed); `None` for `NULL` or unparsable text.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            Value::Real(v) => Some(*v as i64),
            Value::Text(t) => t.parse().ok(),
            Value::Null => None,
        }
    }

    /// As a number (text parsed); `None` for `NULL` or unparsable text.
    pub fn real(&self) -> Option<f64> {
        match self {
            Value::Int(v) => Some(*v as f64),
            Value::Real(v) => Some(*v),
            Value::Text(t) => t.parse().ok(),
            Value::Null => None,
        }
    }

    /// As text (numbers printed); empty for `NULL`.
    pub fn text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Int(v) => v.to_string(),
            Value::Real(v) => v.to_string(),
            Value::Null => String::new(),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A query's result: its rows, each `width` values, in one allocation (a comparison reads
/// hundreds of thousands of metric rows; a `Vec` per row cost more than the database did).
#[derive(Clone, Debug, Default)]
pub struct Rows {
    width: usize,
    values: Vec<Value>,
}

impl Rows {
    /// No rows yet, of `width` columns.
    pub fn new(width: usize) -> Rows {
        Rows {
            width: width.max(1),
            values: Vec::new(),
        }
    }

    /// Appends one value of the current row (engines push a row's values in column order).
    pub fn push(&mut self, value: Value) {
        self.values.push(value);
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.values.len() / self.width
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The first row.
    pub fn first(&self) -> Option<&[Value]> {
        self.iter().next()
    }

    /// The rows, each a slice of its values.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, Value> {
        self.values.chunks_exact(self.width)
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a [Value];
    type IntoIter = std::slice::ChunksExact<'a, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The words of SQL that differ between the engines.
pub struct Dialect {
    /// The engine's name in messages and in `runs list --json`.
    pub name: &'static str,
    /// An auto-numbered 64-bit primary key column.
    pub serial_key: &'static str,
    /// A short indexed string (names, hashes, commits).
    pub short_text: &'static str,
    /// A long unindexed string (JSON documents).
    pub long_text: &'static str,
    /// What follows `CREATE TABLE (...)`.
    pub table_options: &'static str,
    /// What follows `CREATE TABLE (...)` for a table read in primary-key order, whose rows
    /// should be stored in that order (SQLite: `WITHOUT ROWID`; InnoDB always does).
    pub clustered: &'static str,
    /// `INSERT` that skips rows whose key exists.
    pub insert_ignore: &'static str,
}

impl Dialect {
    /// A statement with the dialect's words put in for `{serial_key}`, `{short_text}`,
    /// `{long_text}`, `{table_options}`, `{clustered}` and `{insert_ignore}`.
    pub fn render(&self, sql: &str) -> String {
        sql.replace("{serial_key}", self.serial_key)
            .replace("{short_text}", self.short_text)
            .replace("{long_text}", self.long_text)
            .replace("{table_options}", self.table_options)
            .replace("{clustered}", self.clustered)
            .replace("{insert_ignore}", self.insert_ignore)
    }
}

/// One open connection to a database engine.
pub trait Engine: Send {
    /// The engine's SQL words.
    fn dialect(&self) -> &'static Dialect;

    /// A second connection to the same database (for reading two runs at once).
    fn reconnect(&self) -> Result<Self>
    where
        Self: Sized;

    /// Runs a statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;

    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows>;

    /// Inserts many rows: `head` is `INSERT ... INTO table (columns) VALUES`, `rows` holds
    /// `width` values per row. Engines batch as suits them (SQLite: one prepared statement
    /// per row; MySQL: multi-row statements, one round trip per batch). Returns how many rows
    /// were inserted (an `INSERT IGNORE` skips existing keys and does not count them).
    fn insert_rows(&mut self, head: &str, width: usize, rows: &[Value]) -> Result<u64>;

    /// The key the last `INSERT` on this connection gave its row.
    fn last_insert_id(&mut self) -> Result<i64>;

    /// Starts a transaction that takes the write lock at once (so that two writers queue
    /// instead of failing at commit).
    fn begin(&mut self) -> Result<()>;
    /// Commits the transaction [`begin`](Engine::begin) started.
    fn commit(&mut self) -> Result<()>;
    /// Undoes the transaction [`begin`](Engine::begin) started.
    fn rollback(&mut self) -> Result<()>;

    /// Takes (`true`) or gives back (`false`) the lock that serializes schema migrations
    /// among processes. SQLite's write transaction is that lock already.
    fn migration_lock(&mut self, take: bool) -> Result<()>;

    /// The names of the tables the database already holds.
    fn table_names(&mut self) -> Result<Vec<String>>;

    /// Whether the database has an index of this name.
    fn index_exists(&mut self, name: &str) -> Result<bool>;
}
