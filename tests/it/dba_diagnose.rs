//! The triage tools of issue 10 (DBA toolkit item 1) on deterministic fixtures:
//! pg_detect_query_anomalies, pg_detect_connection_spike, pg_connection_pool_optimize,
//! pg_diagnose_database_performance, pg_performance_baseline, pg_partition_strategy_suggest.
//!
//! pg_stat_statements is read per database (the tools filter on its dbid), so those tests
//! need no reset; the connection tests count every client backend of the server and take
//! the cluster for themselves.

use std::time::{Duration, Instant};

use crate::support;
use serde_json::{Value, json};

/// Makes this session's statistics visible to others, then waits (5 s at most) until
/// `ready` (a boolean query) holds from a fresh connection.
async fn flush_until(client: &tokio_postgres::Client, url: &str, ready: &str) {
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let reader = support::connect(url).await;
    loop {
        let ok: bool = reader.query_one(ready, &[]).await.unwrap().get(0);
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "statistics never showed: {ready}"
        );
        client
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (label, admin URL) of the default server and, unless skipped, the PostgreSQL 17 one.
fn servers() -> Vec<(&'static str, String)> {
    let mut out = vec![("default server", support::admin_url())];
    if let Some(pg17) = support::server_17() {
        out.push(("PostgreSQL 17", pg17.url("postgres")));
    }
    out
}

fn find<'a>(findings: &'a Value, check: &str, object: &str) -> &'a Value {
    findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check && f["object"] == object)
        .unwrap_or_else(|| panic!("no {check} finding for {object}: {findings:#}"))
}

fn by_marker<'a>(list: &'a Value, marker: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["query"].as_str().unwrap().contains(marker))
}

async fn table_exists(client: &tokio_postgres::Client, name: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .unwrap()
        .get(0)
}

// ---------------------------------------------------------------------------------------
// pg_detect_query_anomalies

#[tokio::test]
async fn query_anomalies_report_an_outlier_and_a_slow_statement_on_both_servers() {
    for (label, admin) in servers() {
        eprintln!("{label}");
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        client
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .unwrap();
        // 19 calls of nothing and one of 300 ms: z of the slowest call = √19 = 4.36.
        for i in 0..20 {
            let secs: f64 = if i == 7 { 0.3 } else { 0.0 };
            client
                .query("SELECT pg_sleep($1) AS dq_outlier", &[&secs])
                .await
                .unwrap();
        }
        // Five fast statements (of different shapes: aliases do not tell statements apart)
        // make the workload's median tiny.
        let fast = [
            "SELECT $1::int AS dq_fast",
            "SELECT $1::int + 1 AS dq_fast",
            "SELECT $1::int * 2 AS dq_fast",
            "SELECT abs($1::int) AS dq_fast",
            "SELECT $1::int, 1 AS dq_fast",
        ];
        for sql in fast {
            for i in 0..5 {
                client.query(sql, &[&i]).await.unwrap();
            }
        }
        // Slow but steady: only slower than the workload (z cannot reach 3 with 5 calls).
        for _ in 0..5 {
            client
                .query("SELECT pg_sleep(0.05) AS dq_slow", &[])
                .await
                .unwrap();
        }
        let app = support::app(&db.url, &[]);
        let v = support::ok(
            &app,
            "pg_detect_query_anomalies",
            json!({"minCalls": 5, "limit": 100}),
        )
        .await;
        assert_eq!(v["database"], db.name.as_str());
        assert!(v["analyzedStatements"].as_i64().unwrap() >= 7, "{v:#}");
        assert!(v["workloadMedianMeanMs"].as_f64().unwrap() < 1.0, "{v:#}");
        assert_eq!(
            v["thresholds"],
            json!({"minCalls": 5, "zThreshold": 3.0, "cvThreshold": 1.0, "medianMultiple": 10.0, "minDeviationMs": 5.0})
        );
        let list = &v["anomalies"];
        let outlier = by_marker(list, "dq_outlier").unwrap_or_else(|| panic!("{v:#}"));
        assert_eq!(outlier["calls"], 20);
        assert!(
            outlier["maxTimeMs"].as_f64().unwrap() >= 300.0,
            "{outlier:#}"
        );
        let z = outlier["zScore"].as_f64().unwrap();
        assert!((4.30..=4.36).contains(&z), "z = {z}: {outlier:#}");
        let kinds: Vec<&str> = outlier["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds[..2], ["maxOutlier", "highVariance"], "{outlier:#}");
        assert_eq!(outlier["reasons"][0]["value"], z);
        assert_eq!(outlier["reasons"][0]["threshold"], 3.0);
        let slow = by_marker(list, "dq_slow").unwrap_or_else(|| panic!("{v:#}"));
        assert_eq!(slow["calls"], 5);
        assert!(slow["meanTimeMs"].as_f64().unwrap() >= 50.0);
        assert_eq!(slow["reasons"].as_array().unwrap().len(), 1, "{slow:#}");
        assert_eq!(slow["reasons"][0]["kind"], "slowerThanWorkload");
        assert!(slow["meanToMedian"].as_f64().unwrap() >= 10.0);
        assert!(by_marker(list, "dq_fast").is_none(), "{v:#}");
        // Ordered by total time: the outlier (≥ 300 ms) before the slow one (≥ 250 ms)? Not
        // guaranteed; ordering is checked on the numbers instead.
        let totals: Vec<f64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["totalTimeMs"].as_f64().unwrap())
            .collect();
        assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
        // Stricter thresholds: the outlier's z (4.36) is below 5, so only its other reasons stay.
        let v = support::ok(
            &app,
            "pg_detect_query_anomalies",
            json!({"minCalls": 5, "threshold": 5, "cvThreshold": 100, "medianMultiple": 1e9}),
        )
        .await;
        assert_eq!(v["anomalies"], json!([]), "{v:#}");
        assert_eq!(v["totalCount"], 0);
    }
}

#[tokio::test]
async fn query_anomalies_need_the_extension_and_sane_thresholds() {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    let e = support::fail(&app, "pg_detect_query_anomalies", json!({})).await;
    support::expect(&e, "EXTENSION_MISSING", "not_found");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION pg_stat_statements"),
        "{e:#}"
    );
    for bad in [
        json!({"zThreshold": -1}),
        json!({"minCalls": 1}),
        json!({"limit": 0}),
        json!({"minDeviationMs": "5"}),
    ] {
        let e = support::fail(&app, "pg_detect_query_anomalies", bad.clone()).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
    }
}

// ---------------------------------------------------------------------------------------
// pg_detect_connection_spike and pg_connection_pool_optimize (cluster-wide counts)

/// `n` connections to `url` with this application_name (set after connecting, so any
/// characters can be used).
async fn open(url: &str, app_name: &str, n: usize) -> Vec<tokio_postgres::Client> {
    let mut out = Vec::new();
    for _ in 0..n {
        let c = support::connect(url).await;
        c.execute(
            "SELECT set_config('application_name', $1, false)",
            &[&app_name],
        )
        .await
        .unwrap();
        out.push(c);
    }
    out
}

#[tokio::test]
async fn connection_spike_finds_the_concentration_and_the_idle_transaction() {
    let db = support::test_db_exclusive().await;
    let admin = support::connect(&db.url).await;
    admin
        .batch_execute("CREATE TABLE victim (id int)")
        .await
        .unwrap();
    // The application name carries SQL: it must come back as a quoted literal in the fix.
    let name = "spike'); DROP TABLE victim; --";
    let clients = open(&db.url, name, 12).await;
    let pid: i32 = clients[0]
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    clients[0].batch_execute("BEGIN; SELECT 1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let app = support::app(&db.url, &[]);
    let v = support::ok(
        &app,
        "pg_detect_connection_spike",
        json!({"warningPercent": 50, "minConnections": 10, "idleInTransactionSeconds": 1,
               "idleInTransactionCriticalSeconds": 3600}),
    )
    .await;
    clients[0].batch_execute("ROLLBACK").await.unwrap();
    let total = v["connections"].as_i64().unwrap();
    assert!((13..=20).contains(&total), "{v:#}");
    let states: i64 = v["byState"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(states, total);
    assert!(v["byState"]["idle in transaction"].as_i64().unwrap() >= 1);
    let usable = v["limits"]["usableConnections"].as_i64().unwrap();
    assert_eq!(
        v["limits"]["maxConnections"].as_i64().unwrap()
            - v["limits"]["superuserReservedConnections"]
                .as_i64()
                .unwrap()
            - v["limits"]["reservedConnections"].as_i64().unwrap(),
        usable
    );
    let util = (total as f64 / usable as f64 * 10_000.0).round() / 10_000.0;
    assert_eq!(v["utilization"].as_f64().unwrap(), util);
    let group = v["topGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["dimension"] == "application" && g["value"] == name)
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(group["connections"], 12);
    assert_eq!(group["idleInTransaction"], 1);
    let share = (12.0 / total as f64 * 10_000.0).round() / 10_000.0;
    assert_eq!(group["share"].as_f64().unwrap(), share);
    let f = find(
        &v["findings"],
        "connection_concentration",
        &format!("application {name}"),
    );
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["evidence"]["connections"], 12);
    assert_eq!(f["evidence"]["share"].as_f64().unwrap(), share);
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("WHERE application_name = 'spike''); DROP TABLE victim; --'"),
        "{f:#}"
    );
    // The database holds more than half of them too.
    find(
        &v["findings"],
        "connection_concentration",
        &format!("database {}", db.name),
    );
    let f = find(&v["findings"], "idle_in_transaction", &format!("pid {pid}"));
    assert_eq!(f["severity"], "warning");
    assert!(f["evidence"]["seconds"].as_f64().unwrap() >= 1.0, "{f:#}");
    let idle = &v["idleInTransaction"][0];
    assert_eq!(idle["pid"], pid);
    assert_eq!(idle["application"], name);
    assert_eq!(v["status"], "warning", "{v:#}");
    assert!(table_exists(&admin, "victim").await);

    // With the default thresholds (70 %, 300 s) the idle transaction is not a finding.
    let v = support::ok(&app, "pg_detect_connection_spike", json!({})).await;
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "idle_in_transaction"),
        "{v:#}"
    );

    for bad in [
        json!({"warningPercent": 150}),
        json!({"usageWarningPercent": 90, "usageCriticalPercent": 80}),
        json!({"idleInTransactionSeconds": 100, "idleInTransactionCriticalSeconds": 10}),
        json!({"topGroups": 0}),
    ] {
        let e = support::fail(&app, "pg_detect_connection_spike", bad).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
    }
    drop(clients);
}

#[tokio::test]
async fn pool_optimize_recommends_a_pooler_with_its_evidence() {
    let db = support::test_db_exclusive().await;
    let idle = open(&db.url, "pool_idle", 25).await;
    let in_tx = support::connect(&db.url).await;
    in_tx.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let app = support::app(&db.url, &[]);
    let v = support::ok(
        &app,
        "pg_connection_pool_optimize",
        json!({"cpuCores": 2, "minConnections": 20, "idleSharePercent": 50}),
    )
    .await;
    in_tx.batch_execute("ROLLBACK").await.unwrap();
    let u = &v["usage"];
    let n = u["connections"].as_i64().unwrap();
    assert!((27..=34).contains(&n), "{v:#}");
    assert!(u["idle"].as_i64().unwrap() >= 25, "{v:#}");
    assert!(u["idleInTransaction"].as_i64().unwrap() >= 1);
    assert!(
        u["active"].as_i64().unwrap() >= 1,
        "this call's own session: {v:#}"
    );
    assert_eq!(
        u["connections"].as_i64().unwrap(),
        v["usage"]["active"].as_i64().unwrap()
            + u["idle"].as_i64().unwrap()
            + u["idleInTransaction"].as_i64().unwrap()
    );
    assert_eq!(v["suggestedPoolSize"], 5);
    let rec = |kind: &str| {
        v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind)
            .cloned()
    };
    let pooler = rec("usePooler").unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(pooler["severity"], "warning");
    assert_eq!(
        pooler["evidence"]["connections"].as_f64().unwrap(),
        n as f64
    );
    assert!(pooler["evidence"]["idleShare"].as_f64().unwrap() >= 0.5);
    assert!(pooler["reasoning"].as_str().unwrap().contains("are idle"));
    let size = rec("poolSize").unwrap();
    assert_eq!(size["evidence"]["suggestedPoolSize"], 5.0);
    assert_eq!(size["evidence"]["cpuCores"], 2.0);
    let max = v["settings"]["limits"]["maxConnections"].as_i64().unwrap();
    assert_eq!(rec("lowerMaxConnections").is_some(), max > 20, "{v:#}");
    if v["settings"]["idleInTransactionSessionTimeoutMs"] == 0 {
        let r = rec("setIdleInTransactionTimeout").unwrap_or_else(|| panic!("{v:#}"));
        assert!(
            r["sql"]
                .as_str()
                .unwrap()
                .contains("idle_in_transaction_session_timeout")
        );
    }
    assert!(v["unknowns"].as_array().unwrap().len() >= 3);

    // Without cores: no bound, and it says why.
    let v = support::ok(&app, "pg_connection_pool_optimize", json!({})).await;
    assert!(v.get("suggestedPoolSize").is_none());
    assert!(rec_absent(&v, "poolSize"));
    assert!(
        v["unknowns"][0].as_str().unwrap().contains("CPU cores"),
        "{v:#}"
    );
    let e = support::fail(&app, "pg_connection_pool_optimize", json!({"cpuCores": 0})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(
        &app,
        "pg_connection_pool_optimize",
        json!({"idleSharePercent": -1}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    drop(idle);
}

fn rec_absent(v: &Value, kind: &str) -> bool {
    !v["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["kind"] == kind)
}

// ---------------------------------------------------------------------------------------
// pg_diagnose_database_performance

const DIAGNOSE_FIXTURE: &str = "
    CREATE EXTENSION pg_stat_statements;
    CREATE SCHEMA d;
    CREATE TABLE d.scanned (id int, v int);
    INSERT INTO d.scanned SELECT g, g % 10 FROM generate_series(1, 20000) g;
    CREATE TABLE d.dead (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false);
    INSERT INTO d.dead SELECT g, g FROM generate_series(1, 10000) g;
    DELETE FROM d.dead WHERE id % 2 = 0;
    CREATE TABLE d.locked (id int);
    INSERT INTO d.locked VALUES (1);
";

#[tokio::test]
async fn diagnose_reports_each_area_with_findings() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client.batch_execute(DIAGNOSE_FIXTURE).await.unwrap();
    for i in 0..100 {
        client
            .query(
                "SELECT count(*) AS dg_scan FROM d.scanned WHERE v = $1",
                &[&(i % 10)],
            )
            .await
            .unwrap();
    }
    flush_until(
        &client,
        &db.url,
        "SELECT coalesce((SELECT seq_scan >= 100 FROM pg_stat_user_tables WHERE relid = 'd.scanned'::regclass), false) \
         AND coalesce((SELECT n_dead_tup = 5000 FROM pg_stat_user_tables WHERE relid = 'd.dead'::regclass), false)",
    )
    .await;
    // A lock wait: one session holds a row, another waits for it. (A table-level ACCESS
    // EXCLUSIVE lock would also stall the size functions of the table checks.)
    let holder = support::connect(&db.url).await;
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    holder
        .batch_execute("BEGIN; UPDATE d.locked SET id = id WHERE id = 1")
        .await
        .unwrap();
    let waiter = std::sync::Arc::new(support::connect(&db.url).await);
    let waiter_pid: i32 = waiter
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let waiting = {
        let w = waiter.clone();
        tokio::spawn(async move {
            w.batch_execute("UPDATE d.locked SET id = id WHERE id = 1")
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
                &[&waiter_pid],
            )
            .await
            .unwrap()
            .get(0);
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the waiter never waited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let app = support::app(&db.url, &[]);
    let v = app
        .call(
            "pg_diagnose_database_performance",
            json!({"schema": "d", "topN": 3, "lockWaitSeconds": 1, "longQuerySeconds": 1}),
        )
        .await;
    holder.batch_execute("ROLLBACK").await.unwrap();
    waiting.await.unwrap().unwrap();
    let v = v.unwrap_or_else(|e| panic!("{:#}", e.to_json()));
    let areas: Vec<&str> = v["areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["area"].as_str().unwrap())
        .collect();
    assert_eq!(
        areas,
        [
            "cache",
            "seqScans",
            "deadTuples",
            "locks",
            "longQueries",
            "connections"
        ]
    );
    let area = |name: &str| -> &Value {
        v["areas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["area"] == name)
            .unwrap()
    };
    let f = find(
        &area("locks")["findings"],
        "lock_wait",
        &format!("pid {waiter_pid}"),
    );
    assert_eq!(f["evidence"]["blockingPids"], json!([holder_pid]));
    assert!(f["evidence"]["seconds"].as_f64().unwrap() >= 1.0);
    assert_eq!(area("locks")["status"], "warning");
    let f = find(
        &area("longQueries")["findings"],
        "long_running_query",
        &format!("pid {waiter_pid}"),
    );
    assert_eq!(
        f["fix"],
        format!(
            "-- cancel the query (the session stays):\nSELECT pg_cancel_backend({waiter_pid});"
        )
    );
    let f = find(&area("seqScans")["findings"], "seq_scans", "d.scanned");
    assert!(f["evidence"]["seqScans"].as_i64().unwrap() >= 100);
    assert_eq!(f["evidence"]["liveTuples"], 20000);
    let f = find(&area("deadTuples")["findings"], "bloat_risk", "d.dead");
    assert_eq!(f["severity"], "critical", "{f:#}");
    assert_eq!(f["evidence"]["deadTuples"], 5000);
    assert_eq!(area("deadTuples")["status"], "critical");
    assert_eq!(v["overall"], "critical");
    // Top statements: the scan ran 100 times.
    let top = &v["topStatements"];
    assert!(top.as_array().unwrap().len() <= 3);
    let scan = by_marker(top, "dg_scan").unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(scan["calls"], 100);
    assert!(v.get("statementsNote").is_none());
    assert!(v["cacheHitRatio"]["database"]["hit"].as_i64().unwrap() > 0);
    assert!(
        v["connections"]["thisDatabase"].as_i64().unwrap() >= 4,
        "{v:#}"
    );
    assert!(
        v["connections"]["connections"].as_i64().unwrap()
            >= v["connections"]["thisDatabase"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn diagnose_without_statements_says_why_and_checks_its_arguments() {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    let v = support::ok(&app, "pg_diagnose_database_performance", json!({})).await;
    assert!(v.get("topStatements").is_none());
    assert!(
        v["statementsNote"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION pg_stat_statements"),
        "{v:#}"
    );
    // An empty database: nothing in its own areas (connections are the server's).
    for a in v["areas"].as_array().unwrap() {
        if a["area"] != "connections" {
            assert_eq!(a["status"], "ok", "{v:#}");
        }
    }
    let e = support::fail(&app, "pg_diagnose_database_performance", json!({"topN": 0})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(
        &app,
        "pg_diagnose_database_performance",
        json!({"lockWaitSeconds": -1}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    // A schema name carrying SQL is a value, not SQL: it simply does not exist.
    let e = support::fail(
        &app,
        "pg_diagnose_database_performance",
        json!({"schema": "d'; DROP SCHEMA public; --"}),
    )
    .await;
    support::expect(&e, "UNDEFINED_SCHEMA", "not_found");
}

// ---------------------------------------------------------------------------------------
// pg_performance_baseline

#[tokio::test]
async fn baseline_gives_deltas_and_rates_since_a_snapshot_on_both_servers() {
    for (label, admin) in servers() {
        eprintln!("{label}");
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        client
            .batch_execute("CREATE EXTENSION pg_stat_statements; CREATE TABLE t (id int)")
            .await
            .unwrap();
        for i in 0..3 {
            client
                .query("SELECT $1::int AS pb_marker", &[&i])
                .await
                .unwrap();
        }
        flush_until(
            &client,
            &db.url,
            "SELECT xact_commit > 0 FROM pg_stat_database WHERE datname = current_database()",
        )
        .await;
        let app = support::app(&db.url, &[]);
        let v = support::ok(
            &app,
            "pg_performance_baseline",
            json!({"name": "before", "topStatements": 100}),
        )
        .await;
        assert!(v.get("comparison").is_none());
        let base = v["snapshot"].clone();
        assert_eq!(base["name"], "before");
        assert_eq!(base["database"], db.name.as_str());
        let marker = by_marker(&base["statements"], "pb_marker").unwrap_or_else(|| panic!("{v:#}"));
        assert_eq!(marker["calls"], 3);
        let inserted_before = base["tupInserted"].as_i64().unwrap();

        for i in 0..10 {
            client
                .execute("INSERT INTO t VALUES ($1)", &[&i])
                .await
                .unwrap();
        }
        for i in 0..7 {
            client
                .query("SELECT $1::int AS pb_marker", &[&i])
                .await
                .unwrap();
        }
        let want = inserted_before + 10;
        flush_until(
            &client,
            &db.url,
            &format!(
                "SELECT tup_inserted >= {want} FROM pg_stat_database WHERE datname = current_database()"
            ),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let v = support::ok(
            &app,
            "pg_performance_baseline",
            json!({"baseline": base, "topStatements": 100}),
        )
        .await;
        let c = &v["comparison"];
        assert_eq!(c["baselineName"], "before");
        assert_eq!(c["counters"]["tup_inserted"]["delta"], 10, "{v:#}");
        assert!(
            c["counters"]["xact_commit"]["delta"].as_i64().unwrap() >= 17,
            "{v:#}"
        );
        let secs = c["seconds"].as_f64().unwrap();
        assert!(secs > 0.0);
        let rate = c["counters"]["tup_inserted"]["perSecond"].as_f64().unwrap();
        assert!(
            (rate - 10.0 / secs).abs() < 0.01 * rate.max(1.0),
            "{rate} vs {secs}"
        );
        assert_eq!(c["counters"]["deadlocks"]["delta"], 0);
        let m = by_marker(&c["statements"], "pb_marker").unwrap_or_else(|| panic!("{v:#}"));
        assert_eq!(m["calls"], 7, "{m:#}");
        assert_eq!(m["newSinceBaseline"], false);
        let insert =
            by_marker(&c["statements"], "INSERT INTO t").unwrap_or_else(|| panic!("{v:#}"));
        assert_eq!(insert["calls"], 10);
        assert_eq!(insert["newSinceBaseline"], true);
        assert!(v["snapshot"]["epoch"].as_f64().unwrap() > base["epoch"].as_f64().unwrap());

        // After a reset, no deltas, and the notes say so.
        client
            .batch_execute("SELECT pg_stat_reset()")
            .await
            .unwrap();
        let v = support::ok(&app, "pg_performance_baseline", json!({"baseline": base})).await;
        assert!(v.get("comparison").is_none(), "{v:#}");
        assert!(
            v["notes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().contains("reset")),
            "{v:#}"
        );

        // Another database's baseline, or a snapshot with unknown fields, is refused.
        let mut other = base.clone();
        other["database"] = json!("postgres'; DROP TABLE t; --");
        let e = support::fail(&app, "pg_performance_baseline", json!({"baseline": other})).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
        let mut odd = base.clone();
        odd["sql"] = json!("DROP TABLE t");
        let e = support::fail(&app, "pg_performance_baseline", json!({"baseline": odd})).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
        let e = support::fail(
            &app,
            "pg_performance_baseline",
            json!({"topStatements": 101}),
        )
        .await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(table_exists(&client, "t").await);
    }
}

// ---------------------------------------------------------------------------------------
// pg_partition_strategy_suggest

const PARTITION_FIXTURE: &str = r#"
    CREATE SCHEMA "we""ird sch";
    CREATE TABLE "we""ird sch"."Ev""ents; x" (
      id bigint PRIMARY KEY,
      "Created At" timestamptz NOT NULL,
      kind text NOT NULL,
      payload text);
    INSERT INTO "we""ird sch"."Ev""ents; x"
      SELECT g, timestamptz '2024-01-01 00:00:00+00' + (g - 1) * interval '4 hours',
             (ARRAY['a', 'b''c', 'd e'])[1 + g % 3], md5(g::text)
      FROM generate_series(1, 2000) g;
    ANALYZE "we""ird sch"."Ev""ents; x";
    CREATE TABLE victim (id int);
    CREATE VIEW a_view AS SELECT 1 AS x;
    CREATE TABLE already (id int) PARTITION BY HASH (id);
"#;

#[tokio::test]
async fn partition_strategy_suggests_range_list_and_hash_with_runnable_ddl() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    client.batch_execute(PARTITION_FIXTURE).await.unwrap();
    client
        .batch_execute(&format!("ALTER DATABASE {} SET TimeZone = 'UTC'", db.name))
        .await
        .unwrap();
    let app = support::app(&db.url, &[]);
    let v = support::ok(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "Ev\"ents; x", "schema": "we\"ird sch", "minSizeBytes": 1}),
    )
    .await;
    assert_eq!(v["table"], "we\"ird sch.Ev\"ents; x");
    assert_eq!(v["worthPartitioning"], true);
    assert_eq!(v["estimatedRows"], 2000);
    let strategies: Vec<(&str, &str)> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["strategy"].as_str().unwrap(),
                c["column"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        strategies,
        [("RANGE", "Created At"), ("LIST", "kind"), ("HASH", "id")],
        "{v:#}"
    );
    // RANGE: 1999 × 4 h = 333 days; day would give 334 partitions, week gives 48.
    let range = &v["candidates"][0];
    assert_eq!(range["interval"], "week");
    assert_eq!(range["type"], "timestamp with time zone");
    assert_eq!(range["evidence"]["correlation"], 1.0);
    assert_eq!(range["evidence"]["minValue"], "2024-01-01 00:00:00+00");
    assert_eq!(range["evidence"]["maxValue"], "2024-11-29 04:00:00+00");
    assert_eq!(range["evidence"]["spanDays"], 333.17);
    // Mondays from 2024-01-01 to 2024-12-02.
    assert_eq!(range["partitions"], 48);
    assert_eq!(range["conflictingConstraints"], json!(["Ev\"ents; x_pkey"]));
    let ddl = range["ddl"].as_str().unwrap();
    assert!(
        ddl.contains(r#"CREATE TABLE "we""ird sch"."Ev""ents; x_partitioned" (LIKE "we""ird sch"."Ev""ents; x" INCLUDING DEFAULTS"#),
        "{ddl}"
    );
    assert!(
        ddl.contains(r#"PARTITION BY RANGE ("Created At");"#),
        "{ddl}"
    );
    // Weeks start on Monday: 2024-01-01 is one.
    assert!(
        ddl.contains(r#"CREATE TABLE "we""ird sch"."Ev""ents; x_p20240101" PARTITION OF "we""ird sch"."Ev""ents; x_partitioned" FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2024-01-08 00:00:00+00');"#),
        "{ddl}"
    );
    let list = &v["candidates"][1];
    assert_eq!(list["evidence"]["values"], json!(["a", "b'c", "d e"]));
    assert_eq!(list["partitions"], 3);
    let list_ddl = list["ddl"].as_str().unwrap();
    assert!(list_ddl.contains("FOR VALUES IN ('b''c');"), "{list_ddl}");
    let hash = &v["candidates"][2];
    assert_eq!(hash["partitions"], 4);
    assert_eq!(hash["evidence"]["primaryKey"], true);
    assert_eq!(hash["conflictingConstraints"], json!([]));

    // Each sketch runs as it is, and the copy it describes takes every row.
    for c in v["candidates"].as_array().unwrap() {
        client
            .batch_execute(c["ddl"].as_str().unwrap())
            .await
            .unwrap();
        let copied = client
            .execute(
                r#"INSERT INTO "we""ird sch"."Ev""ents; x_partitioned" SELECT * FROM "we""ird sch"."Ev""ents; x""#,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(copied, 2000, "{}", c["strategy"]);
        let default_rows: i64 = if c["strategy"] == "HASH" {
            0
        } else {
            client
                .query_one(
                    r#"SELECT count(*) FROM "we""ird sch"."Ev""ents; x_default""#,
                    &[],
                )
                .await
                .unwrap()
                .get(0)
        };
        assert_eq!(
            default_rows, 0,
            "every row has its partition: {}",
            c["strategy"]
        );
        client
            .batch_execute(r#"DROP TABLE "we""ird sch"."Ev""ents; x_partitioned""#)
            .await
            .unwrap();
    }

    // Below the threshold (default 10 GiB): not worth it, and it says so.
    let v = support::ok(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "\"we\"\"ird sch\".\"Ev\"\"ents; x\""}),
    )
    .await;
    assert_eq!(v["worthPartitioning"], false);
    assert!(
        v["assessment"].as_str().unwrap().contains("10737418240"),
        "{v:#}"
    );
}

#[tokio::test]
async fn partition_strategy_refuses_what_it_cannot_partition() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client.batch_execute(PARTITION_FIXTURE).await.unwrap();
    let app = support::app(&db.url, &[]);
    // A name carrying SQL is looked up as a name.
    let e = support::fail(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "victim; DROP TABLE victim"}),
    )
    .await;
    support::expect(&e, "NOT_FOUND", "not_found");
    assert!(table_exists(&client, "victim").await);
    let e = support::fail(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "a_view"}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "already"}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(e["error"].as_str().unwrap().contains("already partitioned"));
    let e = support::fail(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "victim", "minCorrelation": 2}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    // Without statistics: only what the catalog tells, and a note to ANALYZE.
    let v = support::ok(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "victim"}),
    )
    .await;
    assert_eq!(v["candidates"], json!([]));
    assert!(v["notes"][0].as_str().unwrap().contains("ANALYZE"), "{v:#}");
}

// ---------------------------------------------------------------------------------------
// pg_alert_threshold_set

#[tokio::test]
async fn alert_thresholds_change_the_severity_the_checks_report() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE churn (id int PRIMARY KEY) WITH (autovacuum_enabled = false);
             INSERT INTO churn SELECT g FROM generate_series(1, 10000) g;
             DELETE FROM churn WHERE id % 10 < 3;",
        )
        .await
        .unwrap();
    flush_until(
        &client,
        &db.url,
        "SELECT coalesce((SELECT n_dead_tup = 3000 FROM pg_stat_user_tables WHERE relid = 'churn'::regclass), false)",
    )
    .await;
    let app = support::app(&db.url, &[]);
    let risk = |v: &Value| find(&v["findings"], "bloat_risk", "public.churn")["severity"].clone();

    // The defaults: 30 % dead with autovacuum off is a warning (critical from 50 %).
    let v = support::ok(&app, "pg_alert_threshold_set", json!({})).await;
    let metrics: Vec<&str> = v["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        [
            "cache_hit_ratio",
            "connection_usage",
            "dead_tuples",
            "idle_in_transaction",
            "long_running_queries"
        ]
    );
    assert_eq!(v["thresholds"][2]["warning"], 0.1);
    assert_eq!(v["thresholds"][2]["critical"], 0.5);
    assert_eq!(v["thresholds"][0]["direction"], "below");
    assert_eq!(v["changed"], json!([]));
    assert!(v["scope"].as_str().unwrap().contains("not persisted"));
    let v = support::ok(&app, "pg_detect_bloat_risk", json!({})).await;
    assert_eq!(risk(&v), "warning", "{v:#}");

    // Critical from 25 %: the same table is now critical, in every check that judges it.
    let v = support::ok(
        &app,
        "pg_alert_threshold_set",
        json!({"metric": "dead_tuples", "criticalThreshold": 0.25}),
    )
    .await;
    assert_eq!(
        v["changed"],
        json!([{"metric": "dead_tuples", "previous": {"warning": 0.1, "critical": 0.5},
                "current": {"warning": 0.1, "critical": 0.25}}])
    );
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 1);
    let v = support::ok(&app, "pg_detect_bloat_risk", json!({})).await;
    assert_eq!(risk(&v), "critical", "{v:#}");
    let v = support::ok(&app, "pg_analyze_db_health", json!({"checks": ["vacuum"]})).await;
    assert_eq!(risk(&v["checks"][0]), "critical", "{v:#}");
    // A warning level above the ratio: not a candidate at all (an argument still wins).
    support::ok(
        &app,
        "pg_alert_threshold_set",
        json!({"metric": "dead_tuples", "warningThreshold": 0.4, "criticalThreshold": 0.6}),
    )
    .await;
    let v = support::ok(&app, "pg_detect_bloat_risk", json!({})).await;
    assert_eq!(v["findings"], json!([]), "{v:#}");
    let v = support::ok(&app, "pg_detect_bloat_risk", json!({"minDeadRatio": 0.2})).await;
    assert_eq!(risk(&v), "warning", "{v:#}");

    // Connection usage from 0 %: every server has a connection (this call's).
    support::ok(
        &app,
        "pg_alert_threshold_set",
        json!({"metric": "connection_usage", "warning_threshold": 0, "critical_threshold": 100}),
    )
    .await;
    let v = support::ok(
        &app,
        "pg_analyze_db_health",
        json!({"checks": ["connection"]}),
    )
    .await;
    let f = find(
        &v["checks"][0]["findings"],
        "connection_usage",
        "connections",
    );
    assert_eq!(f["severity"], "warning", "{f:#}");
    let v = support::ok(&app, "pg_detect_connection_spike", json!({})).await;
    find(&v["findings"], "connection_usage", "connections");
    let v = support::ok(&app, "pg_system_health", json!({})).await;
    let used = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "connectionsUsed")
        .unwrap();
    assert_eq!(
        (
            used["status"].as_str(),
            used["warning"].as_f64(),
            used["critical"].as_f64()
        ),
        (Some("warning"), Some(0.0), Some(100.0)),
        "{v:#}"
    );

    // Another server process (App) has its own thresholds: the defaults.
    let other = support::app(&db.url, &[]);
    let v = support::ok(&other, "pg_detect_bloat_risk", json!({})).await;
    assert_eq!(risk(&v), "warning", "{v:#}");

    // Reset: back to the defaults, and the change is reported.
    let v = support::ok(&app, "pg_alert_threshold_set", json!({"reset": true})).await;
    let changed: Vec<&str> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metric"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["connection_usage", "dead_tuples"]);
    assert_eq!(v["thresholds"][1]["warning"], 80.0);
    let v = support::ok(&app, "pg_detect_bloat_risk", json!({})).await;
    assert_eq!(risk(&v), "warning", "{v:#}");

    for bad in [
        json!({"warningThreshold": 1}),
        json!({"metric": "connection_usage", "warningThreshold": 99}),
        json!({"metric": "cache_hit_ratio", "warningThreshold": 0.9}),
        json!({"metric": "cache_hit_ratio", "criticalThreshold": 2}),
        json!({"metric": "dead_tuples; DROP TABLE churn", "warningThreshold": 0.2}),
        json!({"metric": "dead_tuples", "criticalThreshold": 0.9, "reset": true}),
    ] {
        let e = support::fail(&app, "pg_alert_threshold_set", bad.clone()).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
    }
    assert!(table_exists(&client, "churn").await);
    // Nothing changed by the refused calls.
    let v = support::ok(
        &app,
        "pg_alert_threshold_set",
        json!({"metric": "connection_usage"}),
    )
    .await;
    assert_eq!(v["thresholds"][0]["warning"], 80.0);
    assert_eq!(v["thresholds"][0]["critical"], 95.0);
}
