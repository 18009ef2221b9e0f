//! MySQL and MariaDB: one database shared by a team's machines.
//!
//! Quirks this file handles:
//! - The driver by default asks a TCP server for its Unix socket and reconnects through it
//!   (`prefer_socket`): off, so that the address a user gives is the one used.
//! - A prepared statement takes at most 65,535 placeholders: multi-row inserts are cut into
//!   batches below that.
//! - DDL commits implicitly, so a migration is not one transaction as on SQLite; migrations
//!   are serialized among processes with `GET_LOCK` instead, and each is idempotent.
//! - `UPDATE` reports rows *changed*, not rows matched: the store never relies on it to learn
//!   whether a row exists.
//! - `mysql::Error`'s `Display` (and its `Debug`, the same) wraps the error in its variant's
//!   name, `DriverError { Could not connect ... }`: messages quote what it wraps instead
//!   (`driver_says`), one plain sentence.
//! - Driver errors might quote an address: every message loses the password of any URL it
//!   holds ([`Error::scrub`]), and only that (the password is never searched for in the words).
use std::time::Duration;

use mysql::prelude::Queryable;

use crate::engine::{Dialect, Engine, Rows, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::url::MysqlUrl;

/// How long connecting may take before the server counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one statement may wait on the network before the connection counts as lost.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Rows per multi-row `INSERT` (kept under the 65,535 placeholders of a prepared statement).
const BATCH_PLACEHOLDERS: usize = 30_000;

static DIALECT: Dialect = Dialect {
    name: "mysql",
    serial_key: "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
    // utf8mb4 keys of up to 191 characters fit every InnoDB row format's index limit.
    short_text: "VARCHAR(191)",
    long_text: "MEDIUMTEXT",
    table_options: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    // InnoDB stores every table in primary-key order.
    clustered: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
    insert_ignore: "INSERT IGNORE",
};

/// A connection to a MySQL/MariaDB database.
pub struct Mysql {
    conn: mysql::Conn,
    url: MysqlUrl,
    address: String,
}

impl Mysql {
    /// Connects to the database at `url` (waiting at most [`CONNECT_TIMEOUT`]) and makes the
    /// session's SQL mode strict.
    pub fn connect(url: &MysqlUrl) -> Result<Mysql> {
        let address = match &url.socket {
            Some(socket) => format!("{} (socket {})", url.host, socket.display()),
            None => format!("{}:{}", url.host, url.port),
        };
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(url.host.clone()))
            .tcp_port(url.port)
            .socket(url.socket.as_ref().map(|s| s.display().to_string()))
            .prefer_socket(false)
            .user(url.user.clone())
            .pass(url.password.clone())
            .db_name(Some(url.database.clone()))
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .stmt_cache_size(64);
        let mut engine = Mysql {
            conn: mysql::Conn::new(opts).map_err(|e| connect_error(url, &address, e))?,
            url: url.clone(),
            address,
        };
        // Doubles are stored and read back exactly; names are compared byte for byte.
        engine.simple("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'")?;
        Ok(engine)
    }

    fn simple(&mut self, sql: &str) -> Result<()> {
        self.conn.query_drop(sql).map_err(|e| self.fail(e))
    }

    /// An error met on an open connection.
    fn fail(&self, e: mysql::Error) -> Error {
        failure(&self.url, &self.address, e)
    }
}

/// What the driver says went wrong, as a plain sentence: the `Display` of the error that
/// `mysql::Error` wraps (its own `Display` shows the variant around it, `IoError { ... }`), or
/// the server's own message.
fn driver_says(e: &mysql::Error) -> String {
    match e {
        mysql::Error::IoError(e) => e.to_string(),
        mysql::Error::CodecError(e) => e.to_string(),
        mysql::Error::MySqlError(server) => server.message.clone(),
        mysql::Error::DriverError(e) => e.to_string(),
        mysql::Error::UrlError(e) => e.to_string(),
        // Conversion errors, which are plain already (and TLS errors, with a TLS feature).
        other => other.to_string(),
    }
}

/// One line for an error met on an open connection, scrubbed of any password.
fn failure(url: &MysqlUrl, address: &str, e: mysql::Error) -> Error {
    let user = url.user.as_deref().unwrap_or("(none)");
    let error = match &e {
        mysql::Error::MySqlError(server) => match server.code {
            1044 | 1142 | 1143 | 1227 | 1370 => Error::new(
                ErrorKind::Privilege,
                format!("user {user:?} lacks a privilege the store needs on {address}/{}: {} (grant SELECT, INSERT, UPDATE, DELETE, CREATE, INDEX, REFERENCES on the database)", url.database, server.message),
            ),
            2006 | 2013 | 1927 | 1053 => lost(address, &e),
            _ => Error::new(ErrorKind::Other, format!("MySQL server {address}: {}", server.message)),
        },
        mysql::Error::IoError(_) | mysql::Error::CodecError(_) | mysql::Error::DriverError(_) => {
            lost(address, &e)
        }
        _ => Error::new(
            ErrorKind::Other,
            format!("MySQL server {address}: {}", driver_says(&e)),
        ),
    };
    error.scrub()
}

fn lost(address: &str, e: &mysql::Error) -> Error {
    Error::new(
        ErrorKind::Lost,
        format!(
            "lost the connection to the MySQL server {address}: {}",
            driver_says(e)
        ),
    )
}

fn connect_error(url: &MysqlUrl, address: &str, e: mysql::Error) -> Error {
    let user = url.user.as_deref().unwrap_or("(none)");
    let error = match &e {
        mysql::Error::MySqlError(server) => match server.code {
            1045 | 1698 => Error::new(
                ErrorKind::Denied,
                format!("the MySQL server {address} refused user {user:?}: wrong password, or the user may not connect from here ({})", server.message),
            ),
            1044 => Error::new(
                ErrorKind::Privilege,
                format!("user {user:?} may not use database {:?} on {address}: {}", url.database, server.message),
            ),
            1049 => Error::new(
                ErrorKind::NotFound,
                format!("the MySQL server {address} has no database {:?}: create it (CREATE DATABASE {}) or name another", url.database, url.database),
            ),
            _ => Error::new(ErrorKind::Other, format!("MySQL server {address}: {}", server.message)),
        },
        _ => Error::new(
            ErrorKind::Unreachable,
            format!("cannot reach a MySQL server at {address}: {}", driver_says(&e)),
        ),
    };
    error.scrub()
}

fn params(values: &[Value]) -> mysql::Params {
    if values.is_empty() {
        return mysql::Params::Empty;
    }
    mysql::Params::Positional(
        values
            .iter()
            .map(|v| match v {
                Value::Null => mysql::Value::NULL,
                Value::Int(i) => mysql::Value::Int(*i),
                Value::Real(r) => mysql::Value::Double(*r),
                Value::Text(t) => mysql::Value::Bytes(t.as_bytes().to_vec()),
            })
            .collect(),
    )
}

fn read(value: mysql::Value) -> Value {
    match value {
        mysql::Value::NULL => Value::Null,
        mysql::Value::Int(i) => Value::Int(i),
        mysql::Value::UInt(u) => Value::Int(u as i64),
        mysql::Value::Float(f) => Value::Real(f64::from(f)),
        mysql::Value::Double(d) => Value::Real(d),
        // Taken as it is when UTF-8 (no copy: the store writes only UTF-8).
        mysql::Value::Bytes(b) => Value::Text(match String::from_utf8(b) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        other => Value::Text(other.as_sql(true)),
    }
}

impl Engine for Mysql {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    fn reconnect(&self) -> Result<Self> {
        Mysql::connect(&self.url)
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<u64> {
        self.conn
            .exec_drop(sql, params(values))
            .map_err(|e| self.fail(e))?;
        Ok(self.conn.affected_rows())
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Rows> {
        // Streamed into the result as they arrive: no second copy of a large result.
        let (url, address) = (&self.url, &self.address);
        let mut result = self
            .conn
            .exec_iter(sql, params(values))
            .map_err(|e| failure(url, address, e))?;
        let width = result.columns().as_ref().len();
        let mut out = Rows::new(width);
        for row in result.by_ref() {
            for value in row.map_err(|e| failure(url, address, e))?.unwrap() {
                out.push(read(value));
            }
        }
        Ok(out)
    }

    fn insert_rows(&mut self, head: &str, width: usize, rows: &[Value]) -> Result<u64> {
        let per_batch = (BATCH_PLACEHOLDERS / width).max(1);
        let tuple = format!("({})", vec!["?"; width].join(","));
        let mut inserted = 0;
        for batch in rows.chunks(per_batch * width) {
            let count = batch.len() / width;
            let sql = format!("{head} {}", vec![tuple.as_str(); count].join(","));
            self.conn
                .exec_drop(sql, params(batch))
                .map_err(|e| self.fail(e))?;
            // INSERT IGNORE counts the rows it inserted, not those it skipped.
            inserted += self.conn.affected_rows();
        }
        Ok(inserted)
    }

    fn last_insert_id(&mut self) -> Result<i64> {
        Ok(self.conn.last_insert_id() as i64)
    }

    fn begin(&mut self) -> Result<()> {
        self.simple("START TRANSACTION")
    }

    fn commit(&mut self) -> Result<()> {
        self.simple("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.simple("ROLLBACK")
    }

    fn migration_lock(&mut self, take: bool) -> Result<()> {
        let sql = if take {
            "SELECT GET_LOCK('iomux_schema', 60)"
        } else {
            "SELECT RELEASE_LOCK('iomux_schema')"
        };
        let got = self.query(sql, &[])?;
        if take && got.first().and_then(|r| r[0].int()) != Some(1) {
            return Err(Error::new(
                ErrorKind::Busy,
                format!(
                    "another iomux held the schema lock on {} for 60 s",
                    self.address
                ),
            ));
        }
        Ok(())
    }

    fn index_exists(&mut self, name: &str) -> Result<bool> {
        Ok(!self.query("SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() AND index_name = ? LIMIT 1", &[name.into()])?.is_empty())
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()",
            &[],
        )?;
        Ok(rows.iter().map(|r| r[0].text()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::DbUrl;

    /// Issue 22: driver errors came as Rust debug structures (`DriverError { ... }`), and the
    /// password `y` took the letter out of every word ("M***SQL server"). (`CodecError` is
    /// left out: its type is not exported by the driver without its `derive` feature.)
    #[test]
    fn driver_errors_are_plain_sentences_with_every_letter_kept() {
        let Ok(DbUrl::Mysql(url)) = DbUrl::parse("mysql://u:y@db.lan:3307/iomux") else {
            panic!("a mysql URL");
        };
        let address = "db.lan:3307";
        let lost =
            |says: &str| format!("lost the connection to the MySQL server {address}: {says}");
        let pipe = std::io::Error::from_raw_os_error(32);
        let cases = [
            (
                mysql::Error::DriverError(mysql::DriverError::Timeout),
                lost("Operation timed out"),
            ),
            (
                mysql::Error::IoError(pipe),
                lost("Broken pipe (os error 32)"),
            ),
            (
                mysql::Error::MySqlError(mysql::MySqlError {
                    state: "HY000".into(),
                    message: "Lost connection to server during query".into(),
                    code: 2013,
                }),
                lost("Lost connection to server during query"),
            ),
            (
                mysql::Error::UrlError(mysql::UrlError::BadUrl),
                format!("MySQL server {address}: Invalid or incomplete connection URL"),
            ),
        ];
        for (e, line) in cases {
            assert_eq!(failure(&url, address, e).message(), line);
        }
        let e = connect_error(
            &url,
            address,
            mysql::Error::DriverError(mysql::DriverError::ConnectTimeout),
        );
        assert_eq!(e.kind, ErrorKind::Unreachable);
        assert_eq!(
            e.message(),
            format!(
                "cannot reach a MySQL server at {address}: Could not connect: connection timeout"
            )
        );
    }
}
