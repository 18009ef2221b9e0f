//! Planted changes: a known extra cost per message, for testing the lab's verdicts against
//! changes whose size is known (issue: a verdict that cannot catch a planted +20% or +1
//! syscall per message cannot be trusted on a real one).
//!
//! Compiled in only with the `plant` feature, which only test builds turn on (the e2e tests'
//! binary, like the sys layer's fault injection); without it [`per_message`] is an empty
//! inline function. With it, `IOMUX_PLANT` chooses what each message costs more, read once:
//! - `cpu-ns=N`: N nanoseconds of extra CPU (a busy loop on the clock);
//! - `syscalls=N`: N extra syscalls (`getppid`, uncached).
//!
//! Only `iomux serve` reads it: the peers (tokio, mio, ...) are other programs and never
//! change, so they stay valid controls.

/// The environment variable that chooses the planted cost.
pub const PLANT_ENV: &str = "IOMUX_PLANT";

/// What a planted change adds to each message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plant {
    /// Extra CPU per message, in nanoseconds.
    pub cpu_ns: u64,
    /// Extra syscalls per message.
    pub syscalls: u32,
}

impl Plant {
    /// Parses `cpu-ns=N` or `syscalls=N` (comma-separated, both allowed).
    pub fn parse(text: &str) -> Result<Plant, String> {
        let mut plant = Plant::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{PLANT_ENV}: {part:?} is not NAME=N"))?;
            let bad = |_| format!("{PLANT_ENV}: {value:?} is not a whole number");
            match name {
                "cpu-ns" => plant.cpu_ns = value.parse().map_err(bad)?,
                "syscalls" => plant.syscalls = value.parse().map_err(bad)?,
                other => {
                    return Err(format!(
                        "{PLANT_ENV}: unknown cost {other:?} (cpu-ns=N or syscalls=N)"
                    ))
                }
            }
        }
        Ok(plant)
    }
}

#[cfg(feature = "plant")]
fn planted() -> Plant {
    use std::sync::OnceLock;
    static PLANT: OnceLock<Plant> = OnceLock::new();
    *PLANT.get_or_init(|| match std::env::var(PLANT_ENV) {
        Ok(text) => Plant::parse(&text).unwrap_or_else(|e| {
            eprintln!("iomux: {e}");
            std::process::exit(2)
        }),
        Err(_) => Plant::default(),
    })
}

/// Spends the planted cost of `messages` messages (nothing without the `plant` feature).
#[cfg(feature = "plant")]
pub fn per_message(messages: u64) {
    let plant = planted();
    if plant == Plant::default() {
        return;
    }
    for _ in 0..messages {
        for _ in 0..plant.syscalls {
            std::hint::black_box(iomux_sys::process::getppid_syscall());
        }
        if plant.cpu_ns > 0 {
            let until = std::time::Instant::now() + std::time::Duration::from_nanos(plant.cpu_ns);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    }
}

/// Spends the planted cost of `messages` messages (nothing without the `plant` feature).
#[cfg(not(feature = "plant"))]
#[inline(always)]
pub fn per_message(_messages: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_parse_and_bad_ones_are_named() {
        assert_eq!(
            Plant::parse("cpu-ns=800,syscalls=1"),
            Ok(Plant {
                cpu_ns: 800,
                syscalls: 1
            })
        );
        assert!(Plant::parse("cpu=1").unwrap_err().contains("cpu-ns=N"));
        assert!(Plant::parse("syscalls=x")
            .unwrap_err()
            .contains("whole number"));
    }
}
