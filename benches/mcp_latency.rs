//! End-to-end Code Mode latency through MCP: `cargo bench --bench mcp_latency`.
//!
//! Drives the built `pgmcp` binary (release, as `cargo bench` builds it; `PGMCP_BIN`
//! overrides) over stdio with JSON-RPC, exactly as a client does, against a throwaway
//! PostgreSQL cluster, and reports:
//!
//! * closed loop: `return 1`, the next request sent as soon as the previous answer arrived;
//! * paced: one `return 1` every 200 ms;
//! * eight concurrent clients on one session, each in a closed loop;
//! * memory: the server's RSS and PSS when idle, and the PSS (and private bytes) of the
//!   process running one execution, sampled while it runs.
//!
//! The server runs with `--code-rate-limit 0 --code-max-queued 32` (machine-default
//! `--code-max-workers`). `MCP_BENCH_N` scales the closed-loop count (default 400). Extra server arguments can be
//! given in `MCP_BENCH_ARGS` (whitespace-separated).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use pgmcp::cluster::{Cluster, ClusterOptions};
use serde_json::{Value, json};

type Waiters = Arc<Mutex<HashMap<i64, mpsc::Sender<Value>>>>;

/// One MCP session over the server's stdio; requests may be issued from several threads.
struct Session {
    child: Child,
    stdin: Mutex<ChildStdin>,
    waiters: Waiters,
    next_id: std::sync::atomic::AtomicI64,
}

impl Session {
    fn start(bin: &str, url: &str) -> Session {
        let mut args: Vec<String> = vec![
            "--postgres".into(),
            url.into(),
            "--code-rate-limit".into(),
            "0".into(),
            // Eight clients on a 2-core machine (4 workers by default) must queue, not BUSY.
            "--code-max-queued".into(),
            "32".into(),
        ];
        if let Ok(extra) = std::env::var("MCP_BENCH_ARGS") {
            args.extend(extra.split_whitespace().map(String::from));
        }
        let mut child = Command::new(bin)
            .args(&args)
            .env_remove("POSTGRES_URL")
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pgmcp");
        let stdout = child.stdout.take().unwrap();
        let waiters: Waiters = Arc::default();
        let w = waiters.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let Some(id) = msg.get("id").and_then(Value::as_i64) else {
                    continue;
                };
                if let Some(tx) = w.lock().unwrap().remove(&id) {
                    let _ = tx.send(msg);
                }
            }
        });
        let s = Session {
            stdin: Mutex::new(child.stdin.take().unwrap()),
            child,
            waiters,
            next_id: 1.into(),
        };
        s.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "mcp_latency", "version": "0"}
            }),
        );
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&self, msg: &Value) {
        let mut stdin = self.stdin.lock().unwrap();
        let mut line = msg.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn request(&self, method: &str, params: Value) -> Value {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        self.waiters.lock().unwrap().insert(id, tx);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        rx.recv_timeout(Duration::from_secs(60))
            .expect("no answer within 60 s")
    }

    /// One `pg_execute_code` call; panics unless it succeeded.
    fn execute(&self, code: &str) -> Value {
        let r = self.request(
            "tools/call",
            json!({"name": "pg_execute_code", "arguments": {"code": code}}),
        );
        let result = &r["result"];
        assert!(
            result.is_object() && result["isError"] != json!(true),
            "execution failed: {r}"
        );
        r
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

/// `(rss_kb, pss_kb, private_kb)` of a process, from `/proc/<pid>/smaps_rollup`.
fn memory(pid: u32) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some((
        field("Rss:"),
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    ))
}

/// Every descendant of `pid` with its parent and state letter.
fn descendants(pid: u32) -> Vec<(u32, u32, char)> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    let mut all = Vec::new();
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = f.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        all.push((p, ppid, state));
    }
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp, st) in &all {
            if pp == parent {
                out.push((p, pp, st));
                frontier.push(p);
            }
        }
    }
    out
}

fn main() {
    let bin = std::env::var("PGMCP_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgmcp").into());
    let n: usize = std::env::var("MCP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let cluster = Cluster::start(ClusterOptions::default())
        .expect("PostgreSQL server binaries are needed for the benchmarks");
    let url = cluster.url("postgres");
    println!("binary: {bin}");
    let s = Arc::new(Session::start(&bin, &url));
    // Warm up: the pool, the database connections, the caches.
    for _ in 0..50 {
        s.execute("return 1");
    }
    std::thread::sleep(Duration::from_millis(500));

    let mut closed = timed(n, || {
        s.execute("return 1");
    });
    println!(
        "closed loop `return 1` (n={n}): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        pct(&mut closed, 0.5),
        pct(&mut closed, 0.9),
        pct(&mut closed, 0.99)
    );
    let single_p50 = pct(&mut closed, 0.5);
    let single_p90 = pct(&mut closed, 0.9);

    let mut paced = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        s.execute("return 1");
        paced.push(t.elapsed());
    }
    println!(
        "paced `return 1` every 200 ms (n=40): p50 {:.2} ms, p90 {:.2} ms",
        pct(&mut paced, 0.5),
        pct(&mut paced, 0.9)
    );

    // The floor under the paced number: a request that starts no execution at all.
    let mut floor = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        s.request("tools/list", json!({}));
        floor.push(t.elapsed());
    }
    println!(
        "paced `tools/list` every 200 ms (n=40, no execution: the MCP and wake-up floor): p50 {:.2} ms, p90 {:.2} ms",
        pct(&mut floor, 0.5),
        pct(&mut floor, 0.9)
    );

    let clients = 8;
    let per_client = (n / 4).max(20);
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                timed(per_client, || {
                    s.execute("return 1");
                })
            })
        })
        .collect();
    let started = Instant::now();
    let mut all: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let wall = started.elapsed();
    let c50 = pct(&mut all, 0.5);
    let c90 = pct(&mut all, 0.9);
    println!(
        "{clients} concurrent clients, closed loop ({per_client} each): p50 {c50:.2} ms ({:.1}x single), p90 {c90:.2} ms ({:.1}x single), {:.0} executions/s",
        c50 / single_p50,
        c90 / single_p90,
        all.len() as f64 / wall.as_secs_f64()
    );

    // Memory: the server idle, then the process running one execution.
    std::thread::sleep(Duration::from_millis(1500));
    if let Some((rss, pss, private)) = memory(s.pid()) {
        println!(
            "server idle: RSS {:.1} MB, PSS {:.1} MB, private {:.1} MB",
            rss as f64 / 1024.0,
            pss as f64 / 1024.0,
            private as f64 / 1024.0
        );
    }
    let helpers = descendants(s.pid());
    for (pid, ppid, _) in &helpers {
        if let Some((rss, pss, private)) = memory(*pid) {
            let role = if *ppid == s.pid() {
                "child of the server"
            } else {
                "grandchild"
            };
            println!(
                "  idle helper {pid} ({role}): RSS {:.1} MB, PSS {:.1} MB, private {:.1} MB",
                rss as f64 / 1024.0,
                pss as f64 / 1024.0,
                private as f64 / 1024.0
            );
        }
    }
    // The process that runs an execution: one that existed before it and read more (its
    // program, its call results) while it ran.
    let rchar = |pid: u32| -> Option<u64> {
        let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
        io.lines()
            .find(|l| l.starts_with("rchar:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let before: Vec<(u32, u64)> = helpers
        .iter()
        .filter_map(|(p, _, _)| Some((*p, rchar(*p)?)))
        .collect();
    let runner = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.execute("await pg.query('select pg_sleep(0.8)'); return 1");
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    for (pid, read_before) in before {
        if rchar(pid).is_some_and(|r| r > read_before)
            && let Some((rss, pss, private)) = memory(pid)
        {
            println!(
                "per-execution process {pid} (during a pg.query call): RSS {:.1} MB, PSS {:.1} MB, private {:.1} MB",
                rss as f64 / 1024.0,
                pss as f64 / 1024.0,
                private as f64 / 1024.0
            );
        }
    }
    runner.join().unwrap();
    drop(s);
    drop(cluster);
}
