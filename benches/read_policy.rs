//! The read-only policy's cost per read: `cargo bench --bench read_policy`.
//!
//! A repeated read sends `BEGIN READ ONLY`, the policy's guard (`GUARD_SQL`, prepared once
//! per connection, bound to the statement's names), its statement and `ROLLBACK` in one
//! flight; without the catalog policy a `SELECT 1` would take the guard's place (it takes the
//! transaction's first snapshot). So the policy's server-side overhead per read is the
//! guard's latency minus a prepared `SELECT 1`'s, measured here on one connection, round by
//! round in turns (this machine is noisy). The parse half's cost (a cache hit per repeated text, a full parse otherwise) is
//! measured on its own. Starts its own throwaway PostgreSQL.

use std::time::{Duration, Instant};

use pgmcp::cluster::{Cluster, ClusterOptions};
use pgmcp::db::catalog_policy::{CANDIDATES_SQL, GENERIC_PLAN_SQL, GUARD_SQL, Policy};
use pgmcp::db::read_policy::check_read_only;

const FIXTURE: &str = "
CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric, created timestamptz DEFAULT now());
INSERT INTO orders SELECT g, 'c' || g % 100, g * 1.5, now() FROM generate_series(1, 10000) g;
CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM orders';
CREATE VIEW big_orders AS SELECT id, customer FROM orders WHERE total > order_count();
";

/// Representative reads: a trivial one, a keyed lookup, an aggregate with a join to a
/// catalog view, and a view over a SQL function.
const READS: &[(&str, &str)] = &[
    ("select 1", "select 1"),
    ("keyed lookup", "select * from orders where id = $1"),
    (
        "aggregate + system view",
        "select customer, count(*), sum(total) from orders o join pg_stat_user_tables s on s.relname = 'orders' group by customer order by 2 desc limit 10",
    ),
    (
        "view over a SQL function",
        "select * from big_orders limit 5",
    ),
];

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run());
}

async fn run() {
    // The parse half.
    for (label, sql) in READS {
        let n = 2000;
        let t = Instant::now();
        for i in 0..n {
            // A distinct text each time defeats the verdict cache: a full parse and walk.
            check_read_only(&format!("{sql} -- {i}")).unwrap();
        }
        let parse = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            check_read_only(sql).unwrap();
        }
        let hit = t.elapsed() / n;
        println!(
            "parse half, {label}: {:.1} µs parsed, {:.2} µs cached",
            us(parse),
            us(hit)
        );
    }

    let cluster = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
        .await
        .unwrap()
        .expect("PostgreSQL server binaries are needed for the benchmarks");
    let url = cluster.url("postgres");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute(FIXTURE).await.unwrap();

    let policy = Policy::new(&[]);
    // The settings a read's transaction gives the guard (session-wide here).
    client
        .batch_execute(&GENERIC_PLAN_SQL.replace("LOCAL ", ""))
        .await
        .unwrap();
    let candidates = client.prepare(CANDIDATES_SQL).await.unwrap();
    let guard = client.prepare(GUARD_SQL).await.unwrap();
    let select1 = client.prepare("SELECT 1").await.unwrap();
    for (label, sql) in READS {
        let check = check_read_only(sql).unwrap();
        // Examine once, as the first read of this text would.
        client.batch_execute("BEGIN READ ONLY").await.unwrap();
        let pending: Vec<String> = client
            .query(&candidates, &policy.args(sql, &check).refs())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        policy.verify(&client, sql, &check, pending).await.unwrap();
        client.batch_execute("ROLLBACK").await.unwrap();

        let rounds = 3000;
        let (mut base, mut with) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            client.query(&select1, &[]).await.unwrap();
            base.push(t.elapsed());
            let t = Instant::now();
            // As a read does: the arguments are built for every call.
            let args = policy.args(sql, &check);
            client.query(&guard, &args.refs()).await.unwrap();
            with.push(t.elapsed());
        }
        let (b, w) = (median(base), median(with));
        println!(
            "catalog half, {label}: guard p50 {:.1} µs vs SELECT 1 p50 {:.1} µs: overhead {:.1} µs per read",
            us(w),
            us(b),
            us(w) - us(b),
        );
    }
}
