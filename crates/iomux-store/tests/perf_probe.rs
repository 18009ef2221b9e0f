use iomux_store::record::*;
use std::time::Instant;
fn pts(n: usize, scale: f64) -> Vec<Point> {
    const S: [&str; 6] = ["epoll", "poll", "select", "callbacks", "tokio", "uring"];
    (0..n).map(|i| { let x = (i % 97) as f64 + 1.0;
        let mut p = Point::new("echo", S[i % 6]).param("conns", 1 + i / 6).param("size", 64).param("pipeline", 1);
        for m in ["msgs_per_s","server_cpu_us_per_msg","server_user_us_per_msg","server_system_us_per_msg","load_cpu_us_per_msg","p50_us","p99_us","errors","mismatches"] { p = p.metric(m, x * scale); }
        p }).collect()
}
#[test]
fn probe() {
    let dir = std::env::temp_dir().join("iomux-perf-probe"); let _ = std::fs::remove_dir_all(&dir);
    let mut store = iomux_store::open(&iomux_store::DbUrl::Sqlite(dir.join("r.db"))).unwrap();
    let tb = Testbed::detect(None, None);
    for (id, s) in [("a", 1.0), ("b", 1.01)] {
        store.save_run(&Run { id: id.into(), started: 1.0, finished: None, iomux_version: "0".into(), git_commit: "x".into(), command_line: vec![], testbed: tb.clone(), quick: false, experiments: vec![ExperimentParams { experiment: "echo".into(), params: serde_json::json!({}) }] }).unwrap();
        store.save_points(id, 0, &pts(10_000, s)).unwrap();
    }
    let t = Instant::now(); let a = store.load_run("a").unwrap(); let b = store.load_run("b").unwrap();
    eprintln!("load both: {:?}", t.elapsed());
    let t = Instant::now(); let c = iomux_store::compare::compare(&a, &b, &[], &|_| Some("tokio"));
    eprintln!("compare: {:?} rows {}", t.elapsed(), c.rows.len());
}
