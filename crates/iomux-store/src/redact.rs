//! Passwords out of text: the one place that knows what of a database address is secret.
//! Pure text functions, so that the error type and the URL parser can both use them.

/// `scheme://user:password@...` with the password replaced by `***`; other text unchanged.
/// Works on text that does not parse, so that even a malformed URL is echoed safely.
pub fn redact_url_text(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    // As the parser reads it: the credentials end at the last `@`, so a password holding
    // `/`, `@`, `?` or `#` is hidden whole.
    match rest.rsplit_once('@') {
        Some((credentials, _)) => match credentials.split_once(':') {
            Some((user, _password)) => {
                let after = &rest[credentials.len()..];
                format!("{scheme}://{user}:***{after}")
            }
            None => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

/// `text` with the password of every URL it quotes replaced by `***`, as [`redact_url_text`]
/// does for one address; every other character unchanged. A URL here is a word (a run of text
/// without white space) holding `://`, as a driver's message may quote an address
/// (`... at mysql://user:password@host/db: ...`). For free text such as error messages: only
/// the password field of a URL is masked, never a string found elsewhere in the text.
pub fn redact_urls_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        if word.contains("://") {
            out.push_str(&redact_url_text(word));
            out.push_str(&piece[word.len()..]);
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// A command line fit to record: every argument that holds a URL with a password (`--db URL`,
/// `--db=URL`, or a bare URL) has the password replaced by `***`.
pub fn redact_command_line(args: &[String]) -> Vec<String> {
    args.iter().map(|arg| redact_url_text(arg)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: only a URL's password field is masked in free text, never the letters of a
    /// one-letter password elsewhere in the message.
    #[test]
    fn urls_quoted_in_a_message_lose_their_password_and_nothing_else_changes() {
        let cases = [
            (
                "cannot reach a MySQL server at mysql://u:y@127.0.0.1:1/db: yes, y",
                "cannot reach a MySQL server at mysql://u:***@127.0.0.1:1/db: yes, y",
            ),
            (
                "bad URL `mysql://u:p@ss/w@h/db'\tand\n  mariadb://root:y@[::1]:3306/x.",
                "bad URL `mysql://u:***@h/db'\tand\n  mariadb://root:***@[::1]:3306/x.",
            ),
            (
                "no password: mysql://u@h/db, mysql://h/db, http://example.com/a@b",
                "no password: mysql://u@h/db, mysql://h/db, http://example.com/a@b",
            ),
            ("", ""),
            ("  y  ", "  y  "),
        ];
        for (text, shown) in cases {
            assert_eq!(redact_urls_in_text(text), shown, "{text:?}");
        }
    }
}
