//! Code Mode benchmarks: `cargo bench --bench codemode`.
//!
//! Numbers are reported as medians and, where there is a natural baseline, as a ratio
//! against that baseline measured in the same run (these machines are noisy; absolute
//! times are for orientation only). Starts its own throwaway PostgreSQL.

use std::time::{Duration, Instant};

use pgmcp::app::App;
use pgmcp::cluster::{Cluster, ClusterOptions};
use pgmcp::codemode::transpile::{TranspileLimits, transpile};
use pgmcp::config::{Config, parse_server_args};
use serde_json::json;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn time_async<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out
}

const SCRIPT_2KB: &str = r#"
interface TableInfo { schema: string; name: string; rowEstimate?: number; size: string }
interface Stats { seq_scan: number; idx_scan?: number; n_live_tup: number }
type Advice = { table: string; reason: string; columns: string[] };

enum Severity { Low = "low", Medium = "medium", High = "high" }

function severity(stats: Stats): Severity {
  const ratio = stats.seq_scan / Math.max(1, stats.idx_scan ?? 0);
  if (ratio > 100 && stats.n_live_tup > 10_000) return Severity.High;
  if (ratio > 10) return Severity.Medium;
  return Severity.Low;
}

const tables = (await pg.listTables()) as TableInfo[];
const advice: Advice[] = [];
for (const t of tables) {
  const stats = (await pg.getTableStats(t.name)) as Stats;
  const level = severity(stats);
  if (level === Severity.Low) continue;
  const { columns } = await pg.describeTable(t.name);
  const candidates = columns
    .filter((c: { name: string; type: string }) => c.name.endsWith("_id") || c.type === "timestamp with time zone")
    .map((c: { name: string }) => c.name);
  advice.push({ table: `${t.schema}.${t.name}`, reason: `${level}: ${stats.seq_scan} sequential scans`, columns: candidates });
}
const summary = advice.reduce<Record<string, number>>((acc, a) => {
  const key = a.reason.split(":")[0]!;
  acc[key] = (acc[key] ?? 0) + 1;
  return acc;
}, {});
console.log("tables analysed", tables.length);
const result = { advice, summary, generatedAt: new Date().toISOString() };
result
"#;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let mut script = SCRIPT_2KB.to_string();
    while script.len() < 2048 {
        script.push_str("// padding to two kilobytes of source\n");
    }
    let t = time_sync(2000, || {
        transpile(&script, &TranspileLimits::default()).unwrap();
    });
    println!(
        "transpile {} B script: p50 {:.3} ms, p90 {:.3} ms",
        script.len(),
        ms(median(t.clone())),
        ms(pct(t, 0.9))
    );

    let cluster = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
        .await
        .unwrap()
        .expect("PostgreSQL server binaries are needed for the benchmarks");
    let url = cluster.url("postgres");
    let app = bench_app(&url, "2");
    app.code.warm(&app);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Baseline for everything below: one direct tool call (registry → pool → PostgreSQL).
    let direct = time_async(300, || async {
        app.call("pg_read_query", json!({"sql": "select 1"}))
            .await
            .unwrap();
    })
    .await;
    let direct_p50 = median(direct);
    println!(
        "direct pg_read_query('select 1'): p50 {:.3} ms (baseline)",
        ms(direct_p50)
    );

    // `return 1` through pg_execute_code with a warm worker pool. Pace the calls so the
    // pool refills between them, as it would between an agent's turns.
    let mut ret1 = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        app.call("pg_execute_code", json!({"code": "return 1"}))
            .await
            .unwrap();
        ret1.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    println!(
        "pg_execute_code 'return 1' (warm pool): p50 {:.3} ms, p90 {:.3} ms = {:.1}x one direct call",
        ms(median(ret1.clone())),
        ms(pct(ret1.clone(), 0.9)),
        ms(median(ret1)) / ms(direct_p50)
    );

    // Worker spawn cost: a pool of zero forces a fresh worker for every execution.
    let cold = bench_app(&url, "0");
    let spawn = time_async(30, || async {
        cold.call("pg_execute_code", json!({"code": "return 1"}))
            .await
            .unwrap();
    })
    .await;
    println!(
        "pg_execute_code 'return 1' (cold worker spawn each time): p50 {:.3} ms",
        ms(median(spawn))
    );

    // 100 sequential queries inside one execution vs the same 100 from a Rust loop on
    // one connection (the floor: no pool, no registry, no sandbox).
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // The four loops take turns, round after round, so that drift in the machine's load
    // affects them alike.
    let stmt = client.prepare("select 1").await.unwrap();
    let (mut rust_loop, mut prepared_loop, mut direct_loop, mut code_loop) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..40 {
        let t = Instant::now();
        for _ in 0..100 {
            client.query("select 1", &[]).await.unwrap();
        }
        rust_loop.push(t.elapsed());
        // What a Rust program that prepares its statement once pays: one round trip per
        // query instead of two.
        let t = Instant::now();
        for _ in 0..100 {
            client.query(&stmt, &[]).await.unwrap();
        }
        prepared_loop.push(t.elapsed());
        let t = Instant::now();
        for _ in 0..100 {
            app.call("pg_read_query", json!({"sql": "select 1"}))
                .await
                .unwrap();
        }
        direct_loop.push(t.elapsed());
        let t = Instant::now();
        app.call(
            "pg_execute_code",
            json!({"code": "for (let i = 0; i < 100; i++) await pg.query('select 1'); 1"}),
        )
        .await
        .unwrap();
        code_loop.push(t.elapsed());
    }
    let rl = median(rust_loop);
    println!(
        "100 x select 1, Rust loop on one connection: p50 {:.2} ms (baseline)",
        ms(rl)
    );
    println!(
        "100 x select 1, 100 direct tool calls: p50 {:.2} ms = {:.2}x",
        ms(median(direct_loop.clone())),
        ms(median(direct_loop)) / ms(rl)
    );
    let pl = median(prepared_loop);
    println!(
        "100 x select 1, Rust loop with the statement prepared once: p50 {:.2} ms = {:.2}x",
        ms(pl),
        ms(pl) / ms(rl)
    );
    let cl = median(code_loop);
    println!(
        "100 x pg.query('select 1') in one execution: p50 {:.2} ms = {:.2}x the Rust loop, {:.2}x the prepared loop",
        ms(cl),
        ms(cl) / ms(rl),
        ms(cl) / ms(pl)
    );

    // CPU-bound: 100k objects, sort, group and sum inside the sandbox.
    let cpu = time_async(10, || async {
        app.call(
            "pg_execute_code",
            json!({"code": "const xs = Array.from({ length: 100000 }, (_, i) => ({ k: 'g' + (i % 100), v: (i * 7919) % 1000 })); xs.sort((a, b) => a.v - b.v); const g: Record<string, number> = {}; for (const x of xs) g[x.k] = (g[x.k] ?? 0) + x.v; Object.keys(g).length"}),
        )
        .await
        .unwrap();
    })
    .await;
    println!(
        "CPU-bound script (100k objects, sort, group, sum): p50 {:.1} ms",
        ms(median(cpu))
    );
    drop(cluster);
}

/// An App on `url` with no rate limit and `pool` pre-started workers.
fn bench_app(url: &str, pool: &str) -> std::sync::Arc<App> {
    let args = parse_server_args([
        "pgmcp",
        "--postgres",
        url,
        "--code-worker-exe",
        env!("CARGO_BIN_EXE_pgmcp"),
        "--code-rate-limit",
        "0",
        "--code-worker-pool",
        pool,
    ])
    .unwrap();
    App::new(Config::from_args(&args).unwrap()).unwrap()
}

fn time_sync(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        out.push(t.elapsed());
    }
    out
}
