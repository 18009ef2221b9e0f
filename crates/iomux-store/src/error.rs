//! The store's one error type: a kind a caller can act on and one line for the user, already
//! scrubbed of any password (see [`Error::scrub`]).
use std::fmt;

use crate::redact::redact_urls_in_text;

/// What went wrong, as far as a caller needs to tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The `--db` / `IOMUX_DB` text is not a store address.
    BadUrl,
    /// The server could not be reached (refused, unknown host, timed out).
    Unreachable,
    /// The server refused the user or password.
    Denied,
    /// The user lacks a privilege the store needs.
    Privilege,
    /// The file or database is not an iomux store (not SQLite, another program's tables).
    NotAStore,
    /// The store cannot be written (a read-only file or folder).
    ReadOnly,
    /// Another writer held the store for longer than the wait allows.
    Busy,
    /// The database was made by a newer iomux.
    TooNew,
    /// No such run.
    NotFound,
    /// The connection broke while in use.
    Lost,
    /// Anything else the engine reported.
    Other,
}

/// A store error: its kind and a message for one line of output.
#[derive(Clone, Debug)]
pub struct Error {
    /// What went wrong, for a caller to act on.
    pub kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with a one-line `message` for the user.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The same error with the password of every URL its message quotes replaced by `***`
    /// ([`redact_urls_in_text`]). Engines call this before an error leaves them: a driver
    /// message that quotes the address it was given must not carry the password to the
    /// terminal or a log. Only a URL's password field is masked: the password is never looked
    /// for in the rest of the message (a one-letter password would take that letter out of
    /// every word, "M***SQL").
    pub fn scrub(mut self) -> Error {
        if self.message.contains("://") {
            self.message = redact_urls_in_text(&self.message);
        }
        self
    }

    /// The one-line message (what `Display` prints).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::other(e.message)
    }
}

/// The store's result.
pub type Result<T> = std::result::Result<T, Error>;
