//! `iomux bench busy`: the notes' busy-polling server against epoll when there is little to do:
//! idle clients and a trickle of messages. What a message costs in CPU, and its latency.
use std::io;
use std::time::Duration;

use serde_json::json;

use super::echo::{measure, ServerSpec};
use super::{table, Lab};
use crate::load;

#[derive(Clone, Debug)]
pub struct Params {
    pub models: Vec<String>,
    pub idle: usize,
    pub active: usize,
    pub rate: f64,
    pub duration: Duration,
}

pub fn run(lab: &mut Lab, p: &Params) -> io::Result<()> {
    lab.say(&format!(
        "busy: {} idle clients, {} active sending {:.0} msg/s in all (open loop), {:.1} s measured",
        p.idle,
        p.active,
        p.rate,
        p.duration.as_secs_f64()
    ));
    let mut rows = Vec::new();
    for model in &p.models {
        let server = ServerSpec::model(model, &[])?.start(lab)?;
        let config = load::Config {
            rate: Some(p.rate),
            idle: p.idle,
            ..load::Config::closed_loop(
                server.addr,
                p.active,
                64,
                1,
                p.duration,
                Duration::from_millis(200),
            )
        };
        let m = measure(&server, &config, 1)?;
        drop(server.stop());
        let core_share = m.cpu_us_per_msg * m.msgs_per_s / 1e6;
        lab.record(&json!({
            "experiment": "busy", "model": model, "idle": p.idle, "active": p.active, "rate": p.rate,
            "msgs_per_s": m.msgs_per_s, "server_cpu_us_per_msg": m.cpu_us_per_msg, "server_cpu_share": core_share,
            "p50_us": m.p50_us, "p99_us": m.p99_us, "errors": m.errors, "mismatches": m.mismatches,
        }))?;
        rows.push(vec![
            model.clone(),
            format!("{:.0}", m.msgs_per_s),
            format!("{:.1}", m.cpu_us_per_msg),
            format!("{:.0}%", core_share * 100.0),
            format!("{:.0}", m.p50_us),
            format!("{:.0}", m.p99_us),
        ]);
    }
    lab.say(&table(
        &[
            "model",
            "msg/s",
            "CPU us/msg",
            "CPU use",
            "p50 us",
            "p99 us",
        ],
        &rows,
    ));
    Ok(())
}
