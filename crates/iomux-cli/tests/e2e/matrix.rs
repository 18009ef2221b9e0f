//! Every model x protocol, 200 concurrent clients each sending a random payload of random size,
//! every reply byte checked.
use std::net::SocketAddr;

use crate::util::*;

per_model!(serves_200_clients_every_protocol);

const CLIENTS: u64 = 200;

fn check_reply(proto: &str, payload: &[u8], reply: &[u8]) -> Result<(), String> {
    match proto {
        "echo" => (reply == payload).then_some(()).ok_or_else(|| {
            format!(
                "echo differs: sent {} bytes, got {}",
                payload.len(),
                reply.len()
            )
        }),
        "upper" => {
            // The payload is lowercase letters, so every "_SB" in the reply is a chunk marker.
            let text = String::from_utf8(reply.to_vec()).map_err(|e| e.to_string())?;
            if !text.ends_with("_SB") {
                return Err("upper reply does not end with _SB".into());
            }
            let joined = text.replace("_SB", "");
            (joined.as_bytes() == payload.to_ascii_uppercase())
                .then_some(())
                .ok_or_else(|| "upper reply differs".into())
        }
        "reply" => {
            let ok = !reply.is_empty()
                && reply.len().is_multiple_of(6)
                && reply.chunks(6).all(|c| c == b"byebye");
            ok.then_some(()).ok_or_else(|| {
                format!(
                    "reply is not byebye repeated: {:?}",
                    String::from_utf8_lossy(&reply[..reply.len().min(40)])
                )
            })
        }
        _ => unreachable!(),
    }
}

fn payload(proto: &str, rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => 1 + rng.below(16),
        1 => 1 + rng.below(1024),
        _ => 1 + rng.below(96 * 1024),
    } as usize;
    if proto == "upper" {
        (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
    } else {
        rng.bytes(len)
    }
}

fn run_clients(addr: SocketAddr, proto: &'static str, seed: u64) {
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed * 1000 + i);
                let payload = payload(proto, &mut rng);
                let reply = exchange(addr, &payload).map_err(|e| format!("client {i}: {e}"))?;
                check_reply(proto, &payload, &reply)
                    .map_err(|e| format!("client {i} (seed {seed}): {e}"))
            })
        })
        .collect();
    let failures: Vec<String> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

pub fn model_serves_every_protocol(model: &str, extra: &[&str]) {
    on_backend_serves_every_protocol(None, model, extra);
}

fn on_backend_serves_every_protocol(backend: Option<&str>, model: &str, extra: &[&str]) {
    for (seed, proto) in ["echo", "upper", "reply"].into_iter().enumerate() {
        let server = match backend {
            Some(backend) => Server::start_on_backend(backend, model, proto, extra),
            None => Server::start(model, proto, extra),
        };
        run_clients(server.addr, proto, seed as u64 + 1);
        let (status, summary) = server.stop();
        assert!(status.success(), "{model}/{proto} exited with {status}");
        assert!(
            summary.contains(&format!("served {CLIENTS} connections")),
            "{summary}"
        );
    }
}

/// Every protocol, 200 clients each; the callbacks model on every backend `IOMUX_BACKEND` can
/// pick for it.
fn serves_200_clients_every_protocol(model: &str) {
    if model == "callbacks" {
        for backend in iomux::BackendKind::ALL {
            on_backend_serves_every_protocol(Some(backend.name()), model, &[]);
        }
    } else {
        model_serves_every_protocol(model, &[]);
    }
}

#[test]
fn epoll_with_two_threads_serves_every_protocol() {
    model_serves_every_protocol("epoll", &["--threads", "2"]);
    model_serves_every_protocol("poll", &["--threads", "3"]);
    model_serves_every_protocol("uring", &["--threads", "2"]);
}
