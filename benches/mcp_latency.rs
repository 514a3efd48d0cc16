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
//!   process running one execution, sampled while it runs;
//! * issue 12's table: cold start to the `initialize` answer; a direct `pg_read_query select 1`
//!   (closed loop, against MCP `ping` as the floor, interleaved); 100 sequential
//!   `pg.core.readQuery('select 1')` in one execution against `pgbench -M extended` on the
//!   same cluster (floor = 100 × its average latency, the two interleaved round by round); a
//!   CPU-bound script against `node` running the same JavaScript (interleaved; skipped when
//!   `node` is absent). Ends with the table, goals beside the numbers.
//!
//! The server runs with `--code-rate-limit 0 --code-max-queued 32` (machine-default
//! `--code-max-workers`). `MCP_BENCH_N` scales the closed-loop count (default 400). Extra server arguments can be
//! given in `MCP_BENCH_ARGS` (whitespace-separated). `MCP_BENCH_QUICK=1` stops after the
//! latency and memory measurements (no issue 12 table).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use pgmcp::cluster::{Cluster, ClusterOptions};
use serde_json::{Value, json};

/// One MCP session over the server's stdio; requests may be issued from several threads.
///
/// A request's own thread reads its answer, as a client's event loop does, so a sequential
/// measurement has no hand-over between client threads in it. With requests from several
/// threads, one reads at a time (the reader), hands each other answer to the thread waiting
/// for it, and when its own has come, hands the reading to one waiting thread ([`Readers`]):
/// one wake-up per answer, as with a dedicated reader thread.
struct Session {
    child: Child,
    stdin: Mutex<ChildStdin>,
    stdout: Mutex<BufReader<ChildStdout>>,
    readers: Mutex<Readers>,
    next_id: std::sync::atomic::AtomicI64,
}

/// Whether a thread is reading, and the threads waiting for an answer: each gets its answer
/// (`Some`), or the turn to read (`None`).
#[derive(Default)]
struct Readers {
    reading: bool,
    waiting: HashMap<i64, mpsc::Sender<Option<Value>>>,
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
        let s = Session {
            stdin: Mutex::new(child.stdin.take().unwrap()),
            stdout: Mutex::new(BufReader::new(child.stdout.take().unwrap())),
            child,
            readers: Mutex::default(),
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
        let mut reading = {
            let mut readers = self.readers.lock().unwrap();
            if readers.reading {
                readers.waiting.insert(id, tx);
                false
            } else {
                readers.reading = true;
                true
            }
        };
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            if !reading {
                match rx
                    .recv_timeout(Duration::from_secs(60))
                    .expect("no answer within 60 s")
                {
                    Some(answer) => return answer,
                    None => reading = true,
                }
            }
            let (from, msg) = self.read_answer();
            let mut readers = self.readers.lock().unwrap();
            if from != id {
                if let Some(waiter) = readers.waiting.remove(&from) {
                    let _ = waiter.send(Some(msg));
                }
                continue;
            }
            match readers.waiting.keys().next().copied() {
                Some(next) => {
                    let waiter = readers.waiting.remove(&next).unwrap();
                    let _ = waiter.send(None);
                }
                None => readers.reading = false,
            }
            return msg;
        }
    }

    /// The next message that answers a request (notifications are skipped).
    fn read_answer(&self) -> (i64, Value) {
        let mut stdout = self.stdout.lock().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            let n = stdout
                .read_line(&mut line)
                .expect("reading the server's stdout");
            assert!(n > 0, "the server closed its stdout");
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(id) = msg.get("id").and_then(Value::as_i64) {
                return (id, msg);
            }
        }
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

    /// One tool call; panics unless it succeeded.
    fn call(&self, name: &str, arguments: Value) -> Value {
        let r = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        let result = &r["result"];
        assert!(
            result.is_object() && result["isError"] != json!(true),
            "{name} failed: {r}"
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

/// `(busy, all)` clock ticks (USER_HZ) of every CPU since boot, from `/proc/stat`: busy is
/// everything but idle and I/O wait.
fn machine_busy_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let all: u64 = ticks.iter().sum();
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((all - idle, all))
}

/// `(rss_kb, pss_kb, private_kb)` of a process, from `/proc/<pid>/smaps_rollup`.
fn memory(pid: u32) -> Option<(u64, u64, u64)> {
    memory_fields(pid).map(|(rss, pss, private, _)| (rss, pss, private))
}

/// `(rss_kb, pss_kb, private_kb, anon_huge_kb)` of a process, from `/proc/<pid>/smaps_rollup`.
fn memory_fields(pid: u32) -> Option<(u64, u64, u64, u64)> {
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
        field("AnonHugePages:"),
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

/// CPU time (clock ticks) of the server, of its helper processes (zygotes) and of their
/// reaped children (the forked workers), and those children's minor page faults.
#[derive(Clone, Copy)]
struct CpuAccounting {
    server: u64,
    zygote: u64,
    children: u64,
    child_faults: u64,
}

fn cpu_accounting(server: u32) -> Option<CpuAccounting> {
    // Fields after `(comm)`: state is 3, minflt 10, cminflt 11, utime 14 … cstime 17.
    let stat = |pid: u32| -> Option<Vec<u64>> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &text[text.rfind(')')? + 2..];
        Some(
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect(),
        )
    };
    let field = |v: &[u64], n: usize| v.get(n - 3).copied().unwrap_or(0);
    let me = stat(server)?;
    let mut acc = CpuAccounting {
        server: field(&me, 14) + field(&me, 15),
        zygote: 0,
        children: 0,
        child_faults: 0,
    };
    for (pid, ppid, _) in descendants(server) {
        if ppid != server {
            continue;
        }
        if let Some(z) = stat(pid) {
            acc.zygote += field(&z, 14) + field(&z, 15);
            acc.children += field(&z, 16) + field(&z, 17);
            acc.child_faults += field(&z, 11);
        }
    }
    Some(acc)
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

    let cpu_before = cpu_accounting(s.pid());
    let machine_before = machine_busy_ticks();
    let mut closed = timed(n, || {
        s.execute("return 1");
    });
    if let (Some((busy_a, all_a)), Some((busy_b, all_b))) = (machine_before, machine_busy_ticks()) {
        // Every process on the machine (this client included), not only pgmcp's: the budget
        // that bounds concurrent clients.
        let busy = busy_b.saturating_sub(busy_a) as f64;
        println!(
            "machine CPU per closed-loop execution: {:.2} ms (all CPUs {:.0} % busy)",
            busy * 10.0 / n as f64,
            100.0 * busy / all_b.saturating_sub(all_a).max(1) as f64,
        );
    }
    if let (Some(a), Some(b)) = (cpu_before, cpu_accounting(s.pid())) {
        let per = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / n as f64;
        // Clock ticks (USER_HZ, 100 a second) to microseconds.
        println!(
            "CPU per closed-loop execution: server {:.0} µs, zygote {:.0} µs, forked children {:.0} µs ({:.0} minor faults each)",
            per(a.server, b.server) * 10_000.0,
            per(a.zygote, b.zygote) * 10_000.0,
            per(a.children, b.children) * 10_000.0,
            per(a.child_faults, b.child_faults),
        );
    }
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

    // The floor without tools/list's own work: MCP `ping`, paced the same way.
    let mut ping_floor = Vec::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        s.request("ping", json!({}));
        ping_floor.push(t.elapsed());
    }
    println!(
        "paced MCP `ping` every 200 ms (n=40, no tool: the stdio and wake-up floor): p50 {:.2} ms, p90 {:.2} ms",
        pct(&mut ping_floor, 0.5),
        pct(&mut ping_floor, 0.9)
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
    let mut idle_total_pss = 0;
    let server_idle = memory(s.pid());
    if let Some((rss, pss, private)) = server_idle {
        idle_total_pss += pss;
        println!(
            "server idle: RSS {:.1} MB, PSS {:.1} MB, private {:.1} MB",
            rss as f64 / 1024.0,
            pss as f64 / 1024.0,
            private as f64 / 1024.0
        );
    }
    let helpers = descendants(s.pid());
    for (pid, ppid, _) in &helpers {
        if let Some((rss, pss, private, huge)) = memory_fields(*pid) {
            idle_total_pss += pss;
            let role = if *ppid == s.pid() {
                "child of the server"
            } else {
                "grandchild"
            };
            println!(
                "  idle helper {pid} ({role}): RSS {:.1} MB, PSS {:.1} MB, private {:.1} MB, \
                 on huge pages {:.1} MB",
                rss as f64 / 1024.0,
                pss as f64 / 1024.0,
                private as f64 / 1024.0,
                huge as f64 / 1024.0
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
    println!(
        "idle total (server + helpers): PSS {:.1} MB",
        idle_total_pss as f64 / 1024.0
    );

    if std::env::var("MCP_BENCH_QUICK").is_ok_and(|v| v != "0") {
        // Latency and memory only (the A/B loop of issue 12, item 1).
        drop(s);
        drop(cluster);
        return;
    }

    // Issue 12's table.
    let mut table: Vec<(String, String, &str)> = Vec::new();

    // Cold start: process spawn to the `initialize` answer.
    let mut cold = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let fresh = Session::start(&bin, &url);
        cold.push(t.elapsed());
        drop(fresh);
    }
    let (c50, c90) = (pct(&mut cold, 0.5), pct(&mut cold, 0.9));
    println!("cold start to the `initialize` answer (n=10): p50 {c50:.2} ms, p90 {c90:.2} ms");
    table.push((
        "cold start to `initialize` answer, p50".into(),
        format!("{c50:.1} ms"),
        "—",
    ));
    if let Some((rss, pss, _)) = server_idle {
        table.push((
            "server idle: RSS / PSS".into(),
            format!("{:.1} / {:.1} MB", rss as f64 / 1024.0, pss as f64 / 1024.0),
            "—",
        ));
    }
    table.push((
        "idle total (server + zygote + idle workers), PSS".into(),
        format!("{:.1} MB", idle_total_pss as f64 / 1024.0),
        "—",
    ));

    // A direct read through MCP, and MCP `ping` as the floor, taking turns.
    let direct_sql = json!({"sql": "select 1"});
    for _ in 0..50 {
        s.call("pg_read_query", direct_sql.clone());
    }
    let (mut direct, mut ping) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = Instant::now();
        s.call("pg_read_query", direct_sql.clone());
        direct.push(t.elapsed());
        let t = Instant::now();
        s.request("ping", json!({}));
        ping.push(t.elapsed());
    }
    let (d50, d90, p50) = (
        pct(&mut direct, 0.5),
        pct(&mut direct, 0.9),
        pct(&mut ping, 0.5),
    );
    println!(
        "direct pg_read_query select 1 through MCP, closed loop (n={n}): p50 {d50:.3} ms, p90 {d90:.3} ms; MCP ping (floor) p50 {p50:.3} ms"
    );
    table.push((
        "direct `pg_read_query select 1` through MCP, p50 (p90)".into(),
        format!("{d50:.3} ms ({d90:.3} ms)"),
        "≤ 0.15 ms",
    ));
    table.push((
        "MCP `ping` (no tool: the stdio + JSON-RPC floor), p50".into(),
        format!("{p50:.3} ms"),
        "—",
    ));

    // 100 sequential reads in one execution against pgbench on the same cluster.
    match pgbench(&url, 10) {
        None => println!("pgbench not found (PGBENCH or the PostgreSQL bin directory): skipped"),
        Some(_) => {
            let code =
                "for (let i = 0; i < 100; i++) await pg.core.readQuery('select 1'); return 1";
            for _ in 0..5 {
                s.execute(code);
            }
            let (mut floor, mut loops) = (Vec::new(), Vec::new());
            for _ in 0..15 {
                floor.push(pgbench(&url, 1000).unwrap() * 100.0);
                for _ in 0..3 {
                    let t = Instant::now();
                    s.execute(code);
                    loops.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            let (f50, l50) = (median(&mut floor), median(&mut loops));
            println!(
                "100 x pg.core.readQuery('select 1') in one execution: p50 {l50:.2} ms; pgbench -M extended floor (100 x average latency) p50 {f50:.2} ms; ratio {:.2}x",
                l50 / f50
            );
            table.push((
                "100 × `pg.core.readQuery('select 1')` in one execution / pgbench floor".into(),
                format!("{l50:.2} ms / {f50:.2} ms = **{:.2}×**", l50 / f50),
                "≤ 1.5×",
            ));
        }
    }

    // CPU-bound: the same JavaScript in pgmcp (Boa, a forked worker) and in node (V8).
    let ts_code = format!("{CPU_SCRIPT_TS} return Object.keys(g).length");
    s.execute(&ts_code);
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let node_code = format!(
        "const t0 = process.hrtime.bigint(); const r = (() => {{ {} return Object.keys(g).length; }})(); const t1 = process.hrtime.bigint(); if (r !== 100) throw new Error('bad result'); console.log(Number(t1 - t0) / 1e6);",
        CPU_SCRIPT_TS.replace(": Record<string, number>", "")
    );
    let run_node = || -> Option<(f64, f64)> {
        let t = Instant::now();
        let out = Command::new(&node).args(["-e", &node_code]).output().ok()?;
        let wall = t.elapsed().as_secs_f64() * 1000.0;
        let inner: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
        out.status.success().then_some((inner, wall))
    };
    // `PGMCP_BIN_B`: a second build of the server, run in turn with the first (A/B).
    let other = std::env::var("PGMCP_BIN_B")
        .ok()
        .map(|b| (Session::start(&b, &url), b));
    if let Some((sb, _)) = &other {
        sb.execute(&ts_code);
    }
    let (mut boa, mut boa_b, mut v8, mut v8_wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let have_node = run_node().is_some();
    for _ in 0..7 {
        let t = Instant::now();
        s.execute(&ts_code);
        boa.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some((sb, _)) = &other {
            let t = Instant::now();
            sb.execute(&ts_code);
            boa_b.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        if have_node && let Some((inner, wall)) = run_node() {
            v8.push(inner);
            v8_wall.push(wall);
        }
    }
    let b50 = median(&mut boa);
    if let Some((_, name)) = &other {
        let bb50 = median(&mut boa_b);
        println!(
            "CPU-bound script, A/B in turn: A {b50:.1} ms, B ({name}) {bb50:.1} ms: B/A = {:.3}",
            bb50 / b50
        );
    }
    if v8.is_empty() {
        println!("CPU-bound script in pgmcp: p50 {b50:.1} ms; node not found (NODE): no ratio");
        table.push((
            "CPU-bound script (100k objects, sort, group, sum)".into(),
            format!("{b50:.1} ms (no node)"),
            "≤ 5× V8",
        ));
    } else {
        let (v50, w50) = (median(&mut v8), median(&mut v8_wall));
        println!(
            "CPU-bound script (100k objects, sort, group, sum): pgmcp p50 {b50:.1} ms (through MCP); node p50 {v50:.1} ms inside the script ({w50:.1} ms with process start); ratio {:.1}x ({:.1}x against node with its start)",
            b50 / v50,
            b50 / w50
        );
        table.push((
            "CPU-bound script (100k objects, sort, group, sum) / node in the script".into(),
            format!("{b50:.0} ms / {v50:.1} ms = **{:.0}×** ({:.1}× against node's whole process, {w50:.0} ms)", b50 / v50, b50 / w50),
            "≤ 5× V8",
        ));
    }

    println!();
    println!("| measurement | this run | goal (issue 12) |");
    println!("|---|---:|---|");
    for (what, value, goal) in &table {
        println!("| {what} | {value} | {goal} |");
    }
    drop(s);
    drop(cluster);
}

/// The CPU-bound script of benches/codemode.rs, as TypeScript; the caller adds the result.
const CPU_SCRIPT_TS: &str = "const xs = Array.from({ length: 100000 }, (_, i) => ({ k: 'g' + (i % 100), v: (i * 7919) % 1000 })); xs.sort((a, b) => a.v - b.v); const g: Record<string, number> = {}; for (const x of xs) g[x.k] = (g[x.k] ?? 0) + x.v;";

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `pgbench -n -M extended -f <select 1> -t <transactions> -c 1` against `url`: its average
/// latency in ms, or `None` when pgbench is not there.
fn pgbench(url: &str, transactions: usize) -> Option<f64> {
    let exe = std::env::var("PGBENCH")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            Cluster::find_bin_dir()
                .map(|d| d.join("pgbench"))
                .unwrap_or_else(|_| "pgbench".into())
        });
    let mut script = tempfile::NamedTempFile::new().ok()?;
    script.write_all(b"select 1\n").ok()?;
    let out = Command::new(exe)
        .args(["-n", "-M", "extended", "-c", "1", "-t"])
        .arg(transactions.to_string())
        .arg("-f")
        .arg(script.path())
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("latency average = "))?;
    line.trim_start_matches("latency average = ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
