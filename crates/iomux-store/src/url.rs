//! Where a store is: `--db` / `IOMUX_DB` parsed into a [`DbUrl`], and the one rule for keeping
//! passwords out of output: a URL is shown with `***` in its password field, and nothing else
//! is touched ([`DbUrl`]'s `Display` never shows a password; [`crate::redact`] takes them
//! out of a recorded command line and out of the URLs a message quotes).
//!
//! Accepted forms:
//! - a file path, `sqlite:PATH` or `sqlite://PATH` (`sqlite:///abs/path`): SQLite;
//! - `mysql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?socket=PATH]` (`mariadb://` too), with
//!   `%XX` escapes in the user and password. `?socket=` connects over a Unix socket instead of
//!   TCP (the host is then only named in messages).
use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};
use crate::redact::redact_url_text;

/// The MySQL protocol's default port.
pub const MYSQL_DEFAULT_PORT: u16 = 3306;

/// A parsed store address.
#[derive(Clone, PartialEq)]
pub enum DbUrl {
    /// An SQLite file at this path.
    Sqlite(PathBuf),
    /// A database on a MySQL/MariaDB server.
    Mysql(MysqlUrl),
}

/// A MySQL/MariaDB server and database.
#[derive(Clone, PartialEq)]
pub struct MysqlUrl {
    /// The user name, `%XX`-decoded; `None` if the address names none.
    pub user: Option<String>,
    /// The password, `%XX`-decoded; `None` if the address gives none. Never displayed.
    pub password: Option<String>,
    /// The server's host name or IP address (no IPv6 brackets); with `socket`, only a name
    /// for messages.
    pub host: String,
    /// The TCP port ([`MYSQL_DEFAULT_PORT`] unless the address gives one).
    pub port: u16,
    /// A Unix socket to connect through instead of TCP (`?socket=PATH`).
    pub socket: Option<PathBuf>,
    /// The database's name, `%XX`-decoded.
    pub database: String,
}

impl DbUrl {
    /// Parses a `--db` value; the error never repeats the password.
    pub fn parse(text: &str) -> Result<DbUrl> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::BadUrl,
                format!(
                    "{:?} is not a store address: {why} (use a file path, sqlite:PATH, or mysql://USER:PASSWORD@HOST:PORT/DATABASE)",
                    redact_url_text(text)
                ),
            )
        };
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let Some((scheme, rest)) = text
            .split_once("://")
            .or_else(|| text.strip_prefix("sqlite:").map(|rest| ("sqlite", rest)))
        else {
            if text.contains(':') && !text.contains('/') {
                return Err(bad("no scheme before \"://\""));
            }
            return Ok(DbUrl::Sqlite(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "file" => {
                if rest.is_empty() {
                    Err(bad("no file path after sqlite:"))
                } else {
                    Ok(DbUrl::Sqlite(PathBuf::from(rest)))
                }
            }
            "mysql" | "mariadb" => parse_mysql(rest).map(DbUrl::Mysql).map_err(|why| bad(&why)),
            other => Err(Error::new(
                ErrorKind::BadUrl,
                format!("unknown store scheme {other:?}: iomux stores runs in sqlite (a file path or sqlite:PATH) or mysql:// / mariadb://"),
            )),
        }
    }

    /// The default store: `$XDG_DATA_HOME/iomux/runs.db`, else `~/.local/share/iomux/runs.db`.
    pub fn default_sqlite() -> Result<DbUrl> {
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".local/share"))
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::BadUrl,
                    "no default store: neither XDG_DATA_HOME nor HOME is set; pass --db PATH",
                )
            })?;
        Ok(DbUrl::Sqlite(data.join("iomux").join("runs.db")))
    }
}

fn parse_mysql(rest: &str) -> std::result::Result<MysqlUrl, String> {
    // The credentials end at the last `@` of all (a password may hold `/`, `@`, `?`, `#`;
    // an `@` in a socket path is written %40).
    let (credentials, location) = match rest.rsplit_once('@') {
        Some((c, l)) => (Some(c), l),
        None => (None, rest),
    };
    let (location, query) = match location.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (location, None),
    };
    let (hostport, database) = location
        .split_once('/')
        .ok_or("no /DATABASE after the host")?;
    if database.is_empty() || database.contains('/') {
        return Err("name one database after the host (/DATABASE)".into());
    }
    let (user, password) = match credentials {
        None => (None, None),
        Some(c) => match c.split_once(':') {
            Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
            None => (Some(percent_decode(c)?), None),
        },
    };
    let port_of = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        // An IPv6 address: [::1] or [::1]:3306.
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ]")?;
        match after.strip_prefix(':') {
            Some(p) => (host, port_of(p)?),
            None if after.is_empty() => (host, MYSQL_DEFAULT_PORT),
            None => return Err(format!("{after:?} after the IPv6 address")),
        }
    } else if hostport.matches(':').count() > 1 {
        return Err("write an IPv6 address in brackets ([::1]:3306)".into());
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, port_of(p)?),
            None => (hostport, MYSQL_DEFAULT_PORT),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let mut socket = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("socket", path)) if !path.is_empty() => {
                socket = Some(PathBuf::from(percent_decode(path)?))
            }
            _ => return Err(format!("unknown option {pair:?} (known: socket=PATH)")),
        }
    }
    Ok(MysqlUrl {
        user,
        password,
        host: host.to_owned(),
        port,
        socket,
        database: percent_decode(database)?,
    })
}

fn percent_decode(text: &str) -> std::result::Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "escapes that are not UTF-8".into())
}

/// Shows the address without its password.
impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            DbUrl::Mysql(m) => {
                // Escaped as the parser reads them, so that what is shown can be given back
                // as `--db` and names the same server, user and database (found by fuzzing).
                write!(f, "mysql://")?;
                if let Some(user) = &m.user {
                    write!(f, "{}", percent_encode(user, ":@/?#"))?;
                    if m.password.is_some() {
                        write!(f, ":***")?;
                    }
                    write!(f, "@")?;
                }
                let database = percent_encode(&m.database, "/?@#");
                write!(f, "{}:{}/{database}", m.host, m.port)?;
                if let Some(socket) = &m.socket {
                    let socket = socket.display().to_string();
                    write!(f, "?socket={}", percent_encode(&socket, "@?#"))?;
                }
                Ok(())
            }
        }
    }
}

/// `text` with `%`, the `reserved` characters and control characters written as `%XX`.
fn percent_encode<'a>(text: &'a str, reserved: &str) -> std::borrow::Cow<'a, str> {
    let escaped = |c: char| c == '%' || c.is_control() || reserved.contains(c);
    if !text.chars().any(escaped) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            let mut bytes = [0u8; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Never prints the password, even in `{:?}`.
impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::redact_command_line;

    /// Found by fuzzing: a user or database holding `@`, `/` or `?` was shown raw, and the
    /// address shown named another server when given back.
    #[test]
    fn what_is_shown_parses_back_to_the_same_address() {
        for text in [
            "mysql://b%40n%3Ax:pw@db.lan:3307/io%2Fmux",
            "mysql://ben@3308/ql:pw@dlan:1653/iomux?socket=/s%40t",
            "mysql://%00%7F@h/d%3F",
        ] {
            let url = DbUrl::parse(text).unwrap();
            let again = DbUrl::parse(&url.to_string()).unwrap();
            let (DbUrl::Mysql(a), DbUrl::Mysql(b)) = (&url, &again) else {
                panic!("not mysql");
            };
            assert_eq!(
                (&a.user, &a.host, a.port, &a.database, &a.socket),
                (&b.user, &b.host, b.port, &b.database, &b.socket),
                "{text} shown as {url}"
            );
        }
    }

    #[test]
    fn mysql_urls_parse_with_defaults_and_escapes() {
        let url = DbUrl::parse("mysql://bench:p%40ss:w@db.lan:3307/iomux").unwrap();
        let DbUrl::Mysql(m) = &url else {
            panic!("not mysql")
        };
        assert_eq!(m.user.as_deref(), Some("bench"));
        assert_eq!(m.password.as_deref(), Some("p@ss:w"));
        assert_eq!((m.host.as_str(), m.port), ("db.lan", 3307));
        assert_eq!(m.database, "iomux");
        assert_eq!(url.to_string(), "mysql://bench:***@db.lan:3307/iomux");
        assert!(!format!("{url:?}").contains("p@ss"));
        let DbUrl::Mysql(m) = DbUrl::parse("mariadb://root@localhost/runs?socket=/tmp/s").unwrap()
        else {
            panic!("not mysql")
        };
        assert_eq!(m.port, MYSQL_DEFAULT_PORT);
        assert_eq!(m.socket, Some(PathBuf::from("/tmp/s")));
        let DbUrl::Mysql(m) = DbUrl::parse("mysql://u:p/w@[::1]:3307/db").unwrap() else {
            panic!("not mysql")
        };
        assert_eq!(
            (m.host.as_str(), m.port, m.password.as_deref()),
            ("::1", 3307, Some("p/w"))
        );
        let DbUrl::Mysql(m) = DbUrl::parse("mysql://u@[::1]/db").unwrap() else {
            panic!("not mysql")
        };
        assert_eq!((m.host.as_str(), m.port), ("::1", MYSQL_DEFAULT_PORT));
    }

    #[test]
    fn paths_and_sqlite_urls_are_sqlite() {
        for (text, path) in [
            ("runs.db", "runs.db"),
            ("/var/lib/iomux/runs.db", "/var/lib/iomux/runs.db"),
            ("sqlite:runs.db", "runs.db"),
            ("sqlite:///abs/runs.db", "/abs/runs.db"),
        ] {
            assert_eq!(
                DbUrl::parse(text).unwrap(),
                DbUrl::Sqlite(path.into()),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_urls_name_the_problem_and_never_the_password() {
        for text in [
            "postgres://u:hunter2@h/db",
            "mysql://u:hunter2@h",
            "mysql://u:hunter2@h:99999/db",
            "mysql://u:hunter2@:3306/db",
            "mysql://u:hunter2@h/db?ssl=1",
            "mysql://u:hunter2%zz@h/db",
            "mysql://u:hunter2/x@h",
            "mysql://u:hunter2@::1/db",
            "",
        ] {
            let e = DbUrl::parse(text).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadUrl, "{text}");
            assert!(!e.message().contains("hunter2"), "{text}: {e}");
        }
    }

    #[test]
    fn command_lines_lose_their_passwords() {
        let args: Vec<String> = [
            "iomux",
            "bench",
            "--db",
            "mysql://u:hunter2@h/db",
            "--db=mysql://u:hunter2@h/d",
        ]
        .map(String::from)
        .to_vec();
        let redacted = redact_command_line(&args).join(" ");
        assert!(!redacted.contains("hunter2"), "{redacted}");
        for tricky in [
            "mysql://u:hun/ter2@h/db",
            "mysql://u:hun@ter2@h/db",
            "mysql://u:h#u?n@h/db",
        ] {
            let shown = redact_url_text(tricky);
            assert!(
                shown.starts_with("mysql://u:***@h/db"),
                "{tricky} -> {shown}"
            );
            let parsed = DbUrl::parse(tricky)
                .map(|u| u.to_string())
                .unwrap_or_else(|e| e.to_string());
            assert!(
                !parsed.contains("ter2") && !parsed.contains("h#u"),
                "{parsed}"
            );
        }
        assert!(redacted.contains("mysql://u:***@h/db"));
    }
}
