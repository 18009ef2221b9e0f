//! The course notes' own Python clients (seed/python, unchanged) against iomux servers.
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::util::*;

per_model!(
    notes_threaded_client_gets_byebye,
    notes_interactive_client_gets_upper_sb,
);

fn seed_client(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../seed/python")
        .join(name)
}

fn python() -> Command {
    Command::new("python3")
}

fn notes_threaded_client_gets_byebye(model: &str) {
    let server = Server::start(model, "reply", &[]);
    let out = python()
        .arg(seed_client("nonblocking_clients.py"))
        .args(["127.0.0.1", &server.addr.port().to_string()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{model}: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its two threads print at the same moment, so their lines may interleave.
    assert_eq!(
        stdout.matches("b'byebye'").count(),
        2,
        "{model}: {stdout:?}"
    );
    assert_eq!(
        stdout.replace("b'byebye'", "").trim(),
        "",
        "{model}: {stdout:?}"
    );
}

#[test]
fn notes_select_client_gets_the_select_servers_answer() {
    let server = Server::start("select", "reply", &["--reply", "googd"]);
    let out = python()
        .arg(seed_client("select_client.py"))
        .args(["127.0.0.1", &server.addr.port().to_string()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "b'googd'");
}

fn notes_interactive_client_gets_upper_sb(model: &str) {
    let server = Server::start(model, "upper", &[]);
    let mut child = python()
        .arg(seed_client("interactive_client.py"))
        .args(["127.0.0.1", &server.addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\n\nselectors\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // As in the notes, the client ends with an EOFError traceback when its input runs out.
    assert_eq!(
        stdout, ">>: HELLO_SB\n>>: >>: SELECTORS_SB\n>>: ",
        "{model}"
    );
}
