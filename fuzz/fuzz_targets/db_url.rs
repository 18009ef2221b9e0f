//! `--db` parsing (`iomux_store::DbUrl::parse`), fed any text. It must not panic; what iomux
//! prints of a parsed address (`{}` and `{:?}`) must not depend on its password; a recorded
//! command line has it replaced; and the address shown parses back to the same server.
#![no_main]

use iomux_store::redact::redact_command_line;
use iomux_store::url::DbUrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let recorded = redact_command_line(&["--db".to_owned(), text.to_owned()]).join(" ");
    match DbUrl::parse(text) {
        Ok(url) => {
            if let DbUrl::Mysql(m) = &url {
                if m.password.is_some() {
                    // What is shown cannot depend on the password: it would then leak some of
                    // it. (A substring test would flag passwords like "mysql".)
                    let mut other = m.clone();
                    other.password = Some("another password".into());
                    let other = DbUrl::Mysql(other);
                    assert_eq!(format!("{url}"), format!("{other}"), "Display depends on the password");
                    assert_eq!(format!("{url:?}"), format!("{other:?}"), "Debug depends on the password");
                    assert!(recorded.contains(":***@"), "the command line keeps the password: {recorded}");
                }
            }
            // What is displayed parses back to the same server and database.
            if let (DbUrl::Mysql(m), Ok(DbUrl::Mysql(again))) = (&url, DbUrl::parse(&format!("{url}"))) {
                assert_eq!((&again.host, again.port, &again.database), (&m.host, m.port, &m.database));
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
