//! The DBA plan, workload and index-advice tools on real servers (PostgreSQL 15, and 17
//! where the two differ): pg_stat_statements, pg_stat_activity, pg_locks,
//! pg_explain_analyze, pg_explain_buffers, pg_query_plan_stats, pg_query_plan_compare,
//! pg_analyze_query_indexes, pg_analyze_workload_indexes, pg_index_recommendations.
//!
//! pg_stat_statements is cluster-wide and other tests run concurrently: assertions are
//! scoped to this test's own database (the tools filter on its dbid), never reset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{self, TestDb};
use pgmcp::app::App;
use serde_json::json;

/// (label, admin URL) of the default server and, unless skipped, the PostgreSQL 17 one.
fn servers() -> Vec<(&'static str, String)> {
    let mut out = vec![("default server", support::admin_url())];
    if let Some(pg17) = support::server_17() {
        out.push(("PostgreSQL 17", pg17.url("postgres")));
    }
    out
}

/// Fixed data, statistics over whole tables, frozen and analyzed.
const FIXTURE_SQL: &str = "
SET default_statistics_target = 10000;
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION hypopg;
CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL);
INSERT INTO customers SELECT i, 1 + i % 10 FROM generate_series(1, 2000) i;
CREATE TABLE orders (
  id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL,
  a int NOT NULL, b int NOT NULL, total numeric NOT NULL);
INSERT INTO orders
  SELECT i, 1 + i % 2000, CASE WHEN i % 100 = 0 THEN 'pending' ELSE 'done' END,
         i % 100, i % 100, (i % 1000) / 10.0
  FROM generate_series(1, 100000) i;
";

/// A fresh database with the fixture, and an App on it (reads as the read-only role on
/// the shared server).
async fn fixture(admin: String, extra: &[&str]) -> (TestDb, Arc<App>) {
    let db = support::test_db_at(admin).await;
    let client = support::connect(&db.url).await;
    client.batch_execute(FIXTURE_SQL).await.unwrap();
    // The load's row counts reach the statistics before ANALYZE resets the count of rows
    // modified since it (the workload advisor reads it as the tables' write rate).
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    client
        .batch_execute("VACUUM (FREEZE, ANALYZE)")
        .await
        .unwrap();
    let app = support::app(&db.url, extra);
    (db, app)
}

/// Pins the planner settings of the App's sessions for the database.
async fn pin_planner(db: &TestDb) {
    let client = support::connect(&db.url).await;
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} SET max_parallel_workers_per_gather = 0; \
             ALTER DATABASE {0} SET jit = off; ALTER DATABASE {0} SET random_page_cost = 4; \
             ALTER DATABASE {0} SET effective_cache_size = '4GB'; ALTER DATABASE {0} SET work_mem = '4MB'",
            db.name
        ))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// pg_explain with hypothetical and hidden indexes

/// A hypothetical index turns the customer lookup into an index scan without creating
/// anything; hiding the primary key (HypoPG 1.4+, the PostgreSQL 17 server) turns the id
/// lookup into a sequential scan; neither survives the call; with HypoPG 1.3 hiding is
/// refused with the fix; hostile names stay names.
#[tokio::test]
async fn explain_with_hypothetical_and_hidden_indexes_on_both_servers() {
    for (label, admin) in servers() {
        let (db, app) = fixture(admin, &[]).await;
        pin_planner(&db).await;
        let lookup = "SELECT * FROM orders WHERE customer_id = $1";
        let plain = support::ok(&app, "pg_explain", json!({"sql": lookup, "params": [7]})).await;
        assert_eq!(
            plain["seqScans"][0]["table"], "orders",
            "{label}: {plain:#}"
        );
        let v = support::ok(
            &app,
            "pg_explain",
            json!({"sql": lookup, "params": [7],
                   "hypotheticalIndexes": [{"table": "orders", "columns": ["customer_id"]},
                                           {"table": "public.orders", "columns": ["status"]}]}),
        )
        .await;
        assert!(v.get("seqScans").is_none(), "{label}: {v:#}");
        let hypo = v["hypotheticalIndexes"].as_array().unwrap();
        assert_eq!(
            hypo[0]["createIndex"], "CREATE INDEX ON public.orders USING btree (\"customer_id\")",
            "{label}"
        );
        assert_eq!(
            (hypo[0]["used"].as_bool(), hypo[1]["used"].as_bool()),
            (Some(true), Some(false)),
            "{label}: {v:#}"
        );
        assert!(
            v["totalCost"].as_f64().unwrap() < plain["totalCost"].as_f64().unwrap() / 10.0,
            "{label}: {v:#}"
        );
        // Nothing was created, and the next read sees no hypothetical index.
        let again = support::ok(&app, "pg_explain", json!({"sql": lookup, "params": [7]})).await;
        assert_eq!(again["totalCost"], plain["totalCost"], "{label}");
        let client = support::connect(&db.url).await;
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "{label}");

        let by_id = "SELECT * FROM orders WHERE id = 5";
        let hidden = app
            .call(
                "pg_explain",
                json!({"sql": by_id, "hideIndexes": ["orders_pkey"]}),
            )
            .await
            .map_err(|e| e.to_json());
        if label == "PostgreSQL 17" {
            let v = hidden.unwrap_or_else(|e| panic!("{label}: {e:#}"));
            assert_eq!(v["hiddenIndexes"], json!(["public.orders_pkey"]), "{v:#}");
            assert_eq!(v["seqScans"][0]["table"], "orders", "{v:#}");
            let after = support::ok(&app, "pg_explain", json!({"sql": by_id})).await;
            assert!(
                after.get("seqScans").is_none(),
                "the index is back: {after:#}"
            );
        } else {
            let e = hidden.expect_err("HypoPG 1.3 cannot hide");
            support::expect(&e, "HYPOPG_NOT_INSTALLED", "not_found");
            assert!(e["suggestion"].as_str().unwrap().contains("1.4"), "{e:#}");
        }

        // Errors: a missing table or column, analyze, an injection attempt in a name.
        let e = support::fail(
            &app,
            "pg_explain",
            json!({"sql": lookup, "params": [7],
            "hypotheticalIndexes": [{"table": "nope", "columns": ["a"]}]}),
        )
        .await;
        support::expect(&e, "NOT_FOUND", "not_found");
        let e = support::fail(&app, "pg_explain", json!({"sql": lookup, "params": [7],
            "hypotheticalIndexes": [{"table": "orders", "columns": ["customer_id\") WHERE (true"]}]})).await;
        assert_eq!(
            e["category"], "database",
            "{label}: a quoted name, not SQL: {e:#}"
        );
        assert!(
            e["error"].as_str().unwrap().contains("does not exist"),
            "{e:#}"
        );
        let e = support::fail(
            &app,
            "pg_explain",
            json!({"sql": lookup, "params": [7], "analyze": true,
            "hypotheticalIndexes": [{"table": "orders", "columns": ["customer_id"]}]}),
        )
        .await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
        let e = support::fail(&app, "pg_explain", json!({"sql": "SELECT * FROM orders WHERE id = (SELECT length(pg_read_file('postgresql.auto.conf')))",
            "hypotheticalIndexes": [{"table": "orders", "columns": ["customer_id"]}]})).await;
        assert_ne!(
            e["category"], "database",
            "{label}: the policy refuses it first: {e:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// pg_stat_statements

#[tokio::test]
async fn stat_statements_ranks_this_databases_statements_on_both_servers() {
    for (label, admin) in servers() {
        let (db, app) = fixture(admin, &[]).await;
        let client = support::connect(&db.url).await;
        for i in 0..7 {
            client
                .query(
                    "SELECT count(*) AS dba_plans_seven FROM orders WHERE customer_id = $1",
                    &[&i],
                )
                .await
                .unwrap();
        }
        for i in 0..3 {
            client
                .query(
                    "SELECT count(*) AS dba_plans_three FROM orders WHERE a = $1",
                    &[&i],
                )
                .await
                .unwrap();
        }
        let v = support::ok(
            &app,
            "pg_stat_statements",
            json!({"orderBy": "calls", "limit": 100}),
        )
        .await;
        assert_eq!(v["database"], db.name.as_str(), "{label}: {v:#}");
        let stmts = v["statements"].as_array().unwrap();
        let pos = |marker: &str| {
            stmts
                .iter()
                .position(|s| s["query"].as_str().unwrap().contains(marker))
                .unwrap_or_else(|| panic!("{label}: {marker} missing: {v:#}"))
        };
        let (seven, three) = (pos("dba_plans_seven"), pos("dba_plans_three"));
        assert!(seven < three, "{label}: ordered by calls: {v:#}");
        assert_eq!(stmts[seven]["calls"], 7, "{label}");
        assert_eq!(stmts[three]["calls"], 3, "{label}");
        // Normalized text: the constant is a placeholder.
        assert!(
            stmts[seven]["query"].as_str().unwrap().contains("$1"),
            "{label}"
        );
        assert!(stmts[seven]["totalTimeMs"].as_f64().unwrap() >= 0.0);
        assert!(
            stmts[seven]["sharedBlksHit"].as_i64().unwrap() > 0,
            "{label}: {v:#}"
        );
        assert!(v["window"]["statsReset"].is_string(), "{label}: {v:#}");
        // The tool's own query is not reported.
        assert!(
            !stmts.iter().any(|s| s["query"]
                .as_str()
                .unwrap()
                .contains("pgmcp:pg_stat_statements")),
            "{label}"
        );
        // PG17 names (shared_blk_read_time) and PG15 names (blk_read_time) both give the I/O time.
        let v = support::ok(
            &app,
            "pg_stat_statements",
            json!({"orderBy": "sharedBlocks", "limit": 1}),
        )
        .await;
        assert_eq!(v["statements"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncated"], true, "{label}: {v:#}");
        assert!(
            v["statements"][0]["ioReadTimeMs"].is_number(),
            "{label}: {v:#}"
        );
    }
}

#[tokio::test]
async fn stat_statements_without_the_extension_says_how_to_install_it() {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    let e = support::fail(&app, "pg_stat_statements", json!({})).await;
    support::expect(&e, "EXTENSION_MISSING", "not_found");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION pg_stat_statements")
            && e["suggestion"]
                .as_str()
                .unwrap()
                .contains("shared_preload_libraries"),
        "{e:#}"
    );
    let e = support::fail(&app, "pg_stat_statements", json!({"limit": 0})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

// ---------------------------------------------------------------------------------------
// pg_stat_activity and pg_locks

#[tokio::test]
async fn stat_activity_flags_a_session_idle_in_transaction() {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    let idle = support::connect(&db.url).await;
    idle.batch_execute(
        "SET application_name = 'dba_plans_idle'; BEGIN; SELECT 1 AS dba_plans_idle_probe",
    )
    .await
    .unwrap();
    let idle_pid: i32 = idle
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let v = support::ok(&app, "pg_stat_activity", json!({"database": db.name})).await;
    let sessions = v["sessions"].as_array().unwrap();
    let s = sessions
        .iter()
        .find(|s| s["pid"] == idle_pid)
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(s["state"], "idle in transaction", "{v:#}");
    assert_eq!(s["idleInTransaction"], true);
    assert_eq!(s["application"], "dba_plans_idle");
    assert!(s["query"].is_string(), "{v:#}");
    assert!(s["xactAgeSeconds"].as_f64().unwrap() >= 0.0);
    assert!(
        v["idleInTransaction"]
            .as_array()
            .unwrap()
            .contains(&json!(idle_pid))
    );
    // pgmcp's own pooled connections are left out unless asked for.
    assert!(
        !sessions.iter().any(|s| s["application"] == "pgmcp"),
        "{v:#}"
    );
    // (The calling connection itself is never listed; the pool may hold no other.)
    support::ok(
        &app,
        "pg_stat_activity",
        json!({"database": db.name, "includeOwn": true, "includeIdle": true}),
    )
    .await;
    let e = support::fail(&app, "pg_stat_activity", json!({"limit": 0})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(&app, "pg_stat_activity", json!({"bogus": 1})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn locks_show_the_root_blocker_and_its_waiters() {
    let db = support::test_db().await;
    let setup = support::connect(&db.url).await;
    setup
        .batch_execute(
            "CREATE TABLE acct (id int PRIMARY KEY, n int); INSERT INTO acct VALUES (1, 0), (2, 0)",
        )
        .await
        .unwrap();
    let app = support::app(&db.url, &[]);
    // A: holds the row lock, idle in transaction.
    let a = support::connect(&db.url).await;
    a.batch_execute("BEGIN; UPDATE acct SET n = n + 1 WHERE id = 1")
        .await
        .unwrap();
    let a_pid: i32 = a
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // B: the same row (a transactionid wait); C: the whole table (a relation lock wait).
    let b = support::connect(&db.url).await;
    let c = support::connect(&db.url).await;
    let b_pid: i32 = b
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let c_pid: i32 = c
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let b_task = tokio::spawn(async move {
        b.batch_execute("UPDATE acct SET n = n + 1 WHERE id = 1")
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let waiting = |pid: i32| {
        let setup = &setup;
        async move {
            setup
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
                    &[&pid],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
                == 1
        }
    };
    while !waiting(b_pid).await {
        assert!(Instant::now() < deadline, "B never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c_task = tokio::spawn(async move {
        c.batch_execute("BEGIN; LOCK TABLE acct IN ACCESS EXCLUSIVE MODE; ROLLBACK")
            .await
    });
    while !waiting(c_pid).await {
        assert!(Instant::now() < deadline, "C never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v = support::ok(&app, "pg_locks", json!({"includeLocks": true})).await;
    assert_eq!(v["roots"], json!([a_pid]), "{v:#}");
    let tree = v["tree"].as_array().unwrap();
    assert_eq!(tree[0]["pid"], a_pid);
    assert_eq!(tree[0]["depth"], 0);
    assert_eq!(tree[0]["idleInTransaction"], true, "{v:#}");
    assert_eq!(tree[0]["blocksTotal"], 2, "{v:#}");
    let node = |pid: i32| {
        tree.iter()
            .find(|n| n["pid"] == pid)
            .unwrap_or_else(|| panic!("{v:#}"))
    };
    assert_eq!(node(b_pid)["depth"], 1);
    assert_eq!(
        node(b_pid)["waitingFor"]["locktype"],
        "transactionid",
        "{v:#}"
    );
    assert!(
        node(c_pid)["blockedBy"]
            .as_array()
            .unwrap()
            .contains(&json!(a_pid))
    );
    assert_eq!(
        node(c_pid)["waitingFor"]["mode"],
        "AccessExclusiveLock",
        "{v:#}"
    );
    assert_eq!(node(c_pid)["waitingFor"]["relation"], "acct", "{v:#}");
    assert!(
        node(c_pid)["waitingFor"]["waitSeconds"].as_f64().is_some(),
        "PG14+ waitstart: {v:#}"
    );
    assert_eq!(v["waitingCount"], 2);
    assert!(
        v["locks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["granted"] == false)
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    b_task.await.unwrap().unwrap();
    c_task.await.unwrap().unwrap();
    let after = support::ok(&app, "pg_locks", json!({})).await;
    assert!(
        !after["tree"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["pid"] == a_pid),
        "{after:#}"
    );
    let e = support::fail(&app, "pg_locks", json!({"limit": 5000})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

// ---------------------------------------------------------------------------------------
// Index advice

const CUSTOMER_INDEX: &str = r#"CREATE INDEX ON "public"."orders" USING btree ("customer_id")"#;

/// No pooled connection of `app` holds a hypothetical index afterwards: several plain
/// EXPLAINs in a row (likely on different pooled connections) name none.
async fn no_hypothetical_index_left(app: &Arc<App>) {
    for _ in 0..4 {
        let v = support::ok(
            app,
            "pg_explain",
            json!({"sql": "SELECT * FROM orders WHERE customer_id = 5", "format": "text"}),
        )
        .await;
        assert!(!v["plan"].as_str().unwrap().contains("<"), "{v:#}");
    }
}

#[tokio::test]
async fn analyze_query_indexes_recommends_on_both_servers() {
    for (label, admin) in servers() {
        let (db, app) = fixture(admin, &[]).await;
        pin_planner(&db).await;
        let v = support::ok(
            &app,
            "pg_analyze_query_indexes",
            json!({"queries": [
                {"sql": "SELECT * FROM orders WHERE customer_id = $1", "weight": 100},
                "SELECT * FROM orders WHERE status = 'done'"
            ]}),
        )
        .await;
        assert_eq!(
            v["recommendations"][0]["createIndex"], CUSTOMER_INDEX,
            "{label}: {v:#}"
        );
        assert_eq!(
            v["recommendations"].as_array().unwrap().len(),
            1,
            "{label}: {v:#}"
        );
        assert_eq!(v["statements"][0]["outcome"], "improved", "{label}");
        assert_eq!(v["statements"][0]["planMode"], "generic", "{label}");
        assert_eq!(
            v["statements"][1]["outcome"], "noBeneficialIndex",
            "{label}: {v:#}"
        );
        no_hypothetical_index_left(&app).await;
        let e = support::fail(&app, "pg_analyze_query_indexes", json!({"queries": []})).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
    }
}

#[tokio::test]
async fn index_advice_without_hypopg_says_how_to_install_it() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute("CREATE TABLE t (a int)")
        .await
        .unwrap();
    let app = support::app(&db.url, &[]);
    let e = support::fail(
        &app,
        "pg_analyze_query_indexes",
        json!({"queries": ["SELECT * FROM t WHERE a = 1"]}),
    )
    .await;
    support::expect(&e, "HYPOPG_NOT_INSTALLED", "not_found");
    assert!(
        e["suggestion"].as_str().unwrap().contains("hypopg"),
        "{e:#}"
    );
    let e = support::fail(
        &app,
        "pg_index_recommendations",
        json!({"sql": "SELECT 1", "table": "t"}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(&app, "pg_analyze_workload_indexes", json!({"topN": 0})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    // Still usable afterwards: the failed advisor's connection was not given back dirty.
    support::ok(&app, "pg_read_query", json!({"sql": "SELECT 1 AS one"})).await;
}

#[tokio::test]
async fn workload_advice_weights_pg_stat_statements_by_calls_on_both_servers() {
    for (label, admin) in servers() {
        let (db, app) = fixture(admin, &[]).await;
        pin_planner(&db).await;
        let client = support::connect(&db.url).await;
        // pg_stat_statements evicts its least-used entries when full, and the entries of
        // every test's database share it: an eviction while this test runs can take this
        // workload with it (`support::test_server_settings` sizes it for a whole run). Its
        // count is in the messages below, so such a failure names its cause.
        let evictions = async || -> i64 {
            client
                .query_one("SELECT dealloc FROM pg_stat_statements_info", &[])
                .await
                .unwrap()
                .get(0)
        };
        let evicted_before = evictions().await;
        for i in 0..40 {
            client
                .query("SELECT * FROM orders WHERE customer_id = $1", &[&i])
                .await
                .unwrap();
        }
        for i in 0..12 {
            client
                .query("SELECT id, region FROM customers WHERE region = $1", &[&i])
                .await
                .unwrap();
        }
        for _ in 0..15 {
            client
                .query("SELECT count(*) FROM orders WHERE status = 'done'", &[])
                .await
                .unwrap();
        }
        let started = Instant::now();
        let v = support::ok(&app, "pg_analyze_workload_indexes", json!({"minCalls": 10})).await;
        let wall = started.elapsed();
        eprintln!(
            "{label}: workload advice in {wall:?} ({} pg_stat_statements evictions in this run so far): {}",
            evictions().await,
            serde_json::to_string_pretty(&v).unwrap()
        );
        let recs: Vec<&str> = v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["createIndex"].as_str().unwrap())
            .collect();
        assert!(recs.contains(&CUSTOMER_INDEX), "{label}: {v:#}");
        let stmt = v["statements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sql"].as_str().unwrap().contains("customer_id = $1"))
            .unwrap_or_else(|| panic!("{label}: {v:#}"));
        assert_eq!(stmt["weight"], 40.0, "{label}: weighted by calls");
        assert_eq!(stmt["outcome"], "improved");
        assert!(
            v["notes"][0]
                .as_str()
                .unwrap()
                .contains("pg_stat_statements"),
            "{label}: {v:#}"
        );
        // The workload holds only this database's application statements.
        for s in v["statements"].as_array().unwrap() {
            let sql = s["sql"].as_str().unwrap();
            assert!(
                !sql.contains("pg_catalog") && !sql.contains("hypopg"),
                "{label}: {sql}"
            );
        }
        // One table's statements.
        let t = support::ok(
            &app,
            "pg_index_recommendations",
            json!({"table": "orders", "minCalls": 10}),
        )
        .await;
        let evicted = evictions().await - evicted_before;
        assert!(
            t["statements"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["sql"].as_str().unwrap().contains("orders")),
            "{label} ({evicted} pg_stat_statements evictions meanwhile): {t:#}"
        );
        assert_eq!(
            t["recommendations"][0]["createIndex"], CUSTOMER_INDEX,
            "{label} ({evicted} pg_stat_statements evictions meanwhile): {t:#}"
        );
        let q = support::ok(
            &app,
            "pg_index_recommendations",
            json!({"sql": "SELECT * FROM orders WHERE customer_id = 42"}),
        )
        .await;
        assert_eq!(
            q["recommendations"][0]["createIndex"], CUSTOMER_INDEX,
            "{label}: {q:#}"
        );
        no_hypothetical_index_left(&app).await;
        let e = support::fail(
            &app,
            "pg_index_recommendations",
            json!({"table": "no_such_table"}),
        )
        .await;
        support::expect(&e, "NOT_FOUND", "not_found");
        let _ = db;
    }
}

// ---------------------------------------------------------------------------------------
// EXPLAIN ANALYZE and friends

#[tokio::test]
async fn explain_analyze_summarizes_a_read_and_rolls_a_write_back() {
    let (db, app) = fixture(support::admin_url(), &[]).await;
    pin_planner(&db).await;
    let v = support::ok(
        &app,
        "pg_explain_analyze",
        json!({"sql": "SELECT * FROM orders WHERE status = $1", "params": ["pending"]}),
    )
    .await;
    assert_eq!(v["rolledBack"], false, "{v:#}");
    let s = &v["summary"];
    assert_eq!(s["actualRows"], 1000.0, "{v:#}");
    assert_eq!(s["seqScans"][0]["table"], "orders", "{v:#}");
    assert_eq!(s["seqScans"][0]["rowsRemovedByFilter"], 99000.0, "{v:#}");
    assert!(
        s["buffers"]["sharedHit"].as_f64().unwrap() + s["buffers"]["sharedRead"].as_f64().unwrap()
            > 0.0
    );
    assert!(s["executionTimeMs"].as_f64().is_some());
    assert!(v.get("plan").is_none(), "the full plan only on request");
    // A write runs, and is rolled back.
    let v = support::ok(
        &app,
        "pg_explain_analyze",
        json!({"sql": "DELETE FROM orders WHERE id <= 10", "includePlan": true}),
    )
    .await;
    assert_eq!(v["rolledBack"], true, "{v:#}");
    assert_eq!(v["plan"]["Node Type"], "ModifyTable", "{v:#}");
    let client = support::connect(&db.url).await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100000, "the DELETE was rolled back");
    // Read-only mode: reads still run, writes are refused.
    let ro = support::app(&db.url, &["--access-mode", "restricted"]);
    support::ok(
        &ro,
        "pg_explain_analyze",
        json!({"sql": "SELECT count(*) FROM orders"}),
    )
    .await;
    let e = support::fail(
        &ro,
        "pg_explain_analyze",
        json!({"sql": "DELETE FROM orders"}),
    )
    .await;
    support::expect(&e, "READ_ONLY_VIOLATION", "permission");
    let e = support::fail(
        &ro,
        "pg_explain_buffers",
        json!({"sql": "WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d"}),
    )
    .await;
    support::expect(&e, "READ_ONLY_VIOLATION", "permission");
    let n: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100000);
    // Utility statements are not analyzed.
    let e = support::fail(&app, "pg_explain_analyze", json!({"sql": "VACUUM orders"})).await;
    assert_eq!(e["success"], false);
    let e = support::fail(
        &app,
        "pg_explain_analyze",
        json!({"sql": "EXPLAIN SELECT 1"}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn explain_analyze_memory_and_serialize_need_postgresql_17() {
    for (label, admin) in servers() {
        let (_db, app) = fixture(admin, &[]).await;
        let args = json!({"sql": "SELECT * FROM orders WHERE id < 100", "memory": true, "serialize": true});
        let version: i64 = {
            let v = support::ok(
                &app,
                "pg_read_query",
                json!({"sql": "SELECT current_setting('server_version_num')::int AS v"}),
            )
            .await;
            v["rows"][0]["v"].as_i64().unwrap()
        };
        if version >= 170000 {
            let v = support::ok(&app, "pg_explain_analyze", args).await;
            assert!(
                v["planningMemoryKb"].as_f64().unwrap() > 0.0,
                "{label}: {v:#}"
            );
            assert!(v["serializedKb"].as_f64().unwrap() > 0.0, "{label}: {v:#}");
        } else {
            let e = support::fail(&app, "pg_explain_analyze", args).await;
            assert!(
                e["suggestion"]
                    .as_str()
                    .unwrap_or("")
                    .contains("PostgreSQL 17"),
                "{label}: {e:#}"
            );
        }
    }
}

#[tokio::test]
async fn explain_buffers_reports_block_io() {
    let (_db, app) = fixture(support::admin_url(), &[]).await;
    let v = support::ok(
        &app,
        "pg_explain_buffers",
        json!({"sql": "SELECT sum(total) FROM orders"}),
    )
    .await;
    let b = &v["summary"]["buffers"];
    assert!(
        b["sharedHit"].as_f64().unwrap() + b["sharedRead"].as_f64().unwrap() >= 100.0,
        "{v:#}"
    );
    assert!(b["hitRatio"].as_f64().is_some());
    let e = support::fail(
        &app,
        "pg_explain_buffers",
        json!({"sql": "SELECT * FROM missing_table"}),
    )
    .await;
    assert_eq!(e["sqlstate"], "42P01", "{e:#}");
}

#[tokio::test]
async fn query_plan_stats_finds_the_misestimate_of_correlated_columns() {
    let (db, app) = fixture(support::admin_url(), &[]).await;
    pin_planner(&db).await;
    // a = b by construction: the planner multiplies the selectivities (1/100 each).
    let v = support::ok(
        &app,
        "pg_query_plan_stats",
        json!({"sql": "SELECT * FROM orders WHERE a = 5 AND b = 5"}),
    )
    .await;
    let m = &v["summary"]["misestimates"][0];
    assert_eq!(m["relation"], "orders", "{v:#}");
    assert_eq!(m["direction"], "under");
    assert_eq!(m["actualRows"], 1000.0);
    assert!(m["qError"].as_f64().unwrap() >= 10.0, "{v:#}");
    assert!(!v["summary"]["costlyNodes"].as_array().unwrap().is_empty());
    let e = support::fail(
        &app,
        "pg_query_plan_stats",
        json!({"sql": "DELETE FROM orders"}),
    )
    .await;
    support::expect(&e, "READ_ONLY_VIOLATION", "permission");
}

#[tokio::test]
async fn query_plan_compare_diffs_plans_under_settings_on_one_session() {
    let (db, app) = fixture(support::admin_url(), &[]).await;
    pin_planner(&db).await;
    let sql = "SELECT * FROM orders WHERE id BETWEEN 100 AND 200";
    let v = support::ok(
        &app,
        "pg_query_plan_compare",
        json!({"sql": sql, "settingsB": {"enable_indexscan": false, "enable_bitmapscan": "off"}}),
    )
    .await;
    let d = &v["diff"];
    assert_eq!(d["sameShape"], false, "{v:#}");
    assert_eq!(d["seqScansA"], json!([]), "{v:#}");
    assert_eq!(d["seqScansB"], json!(["orders"]), "{v:#}");
    assert!(d["totalCostB"].as_f64().unwrap() > d["totalCostA"].as_f64().unwrap());
    assert_eq!(d["accessPathChanges"][0]["relation"], "orders");
    assert_eq!(d["accessPathChanges"][0]["b"], "Seq Scan");
    assert_eq!(d["nodesAdded"]["Seq Scan"], 1, "{v:#}");
    assert_eq!(v["b"]["settings"]["enable_indexscan"], "off");
    // Two statements; the settings of one side did not leak to the other or the pool.
    let v = support::ok(
        &app,
        "pg_query_plan_compare",
        json!({"sqlA": sql, "sqlB": "SELECT * FROM orders WHERE id BETWEEN 100 AND 200 ORDER BY id", "analyze": true}),
    )
    .await;
    assert_eq!(v["diff"]["sameShape"], true, "{v:#}");
    assert!(v["diff"]["executionTimeMsA"].as_f64().is_some());
    let e = support::fail(
        &app,
        "pg_query_plan_compare",
        json!({"sql": sql, "settingsA": {"search_path": "evil"}}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(
        &app,
        "pg_query_plan_compare",
        json!({"sql": "DELETE FROM orders", "analyze": true}),
    )
    .await;
    support::expect(&e, "READ_ONLY_VIOLATION", "permission");
    let e = support::fail(&app, "pg_query_plan_compare", json!({"sqlA": sql})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

/// A call dropped mid-run (a client's cancellation) leaves no hypothetical index on any
/// pooled connection: the held connection is closed, not given back.
#[tokio::test]
async fn a_dropped_advisor_call_leaves_no_hypothetical_index_behind() {
    let (db, app) = fixture(support::admin_url(), &[]).await;
    pin_planner(&db).await;
    let queries: Vec<String> = (0..20)
        .map(|i| format!("SELECT * FROM orders WHERE customer_id = {i} AND a = $1 ORDER BY total"))
        .collect();
    let args = json!({"queries": queries, "maxIndexWidth": 3});
    let started = Instant::now();
    support::ok(&app, "pg_analyze_query_indexes", args.clone()).await;
    let full = started.elapsed();
    let mut dropped = 0;
    for cutoff in [full / 4, full / 2, full * 3 / 4] {
        let call = app.call("pg_analyze_query_indexes", args.clone());
        // What matters is what the pool holds afterwards.
        if tokio::time::timeout(cutoff, call).await.is_err() {
            dropped += 1;
        }
        no_hypothetical_index_left(&app).await;
    }
    assert!(
        dropped > 0,
        "no call was dropped mid-run (a full run takes {full:?})"
    );
}

/// A table the workload reads but never writes is charged the writes its statistics saw
/// since its last ANALYZE (scaled to the workload's window): after 30,000 inserts the
/// customer lookup's index carries a write penalty from `tableStatistics`, and a table with
/// no writes since ANALYZE carries none.
#[tokio::test]
async fn workload_advice_charges_table_write_rates_on_both_servers() {
    for (label, admin) in servers() {
        let (db, app) = fixture(admin, &[]).await;
        pin_planner(&db).await;
        let client = support::connect(&db.url).await;
        client
            .batch_execute(
                "INSERT INTO orders SELECT i, 1 + i % 2000, 'done', 1, 1, 1 \
                 FROM generate_series(100001, 130000) i",
            )
            .await
            .unwrap();
        client
            .batch_execute("SELECT pg_stat_force_next_flush()")
            .await
            .unwrap();
        for i in 0..40 {
            client
                .query("SELECT * FROM orders WHERE customer_id = $1", &[&i])
                .await
                .unwrap();
        }
        for i in 0..12 {
            client
                .query(
                    "SELECT * FROM customers WHERE id = $1 OR region = $2",
                    &[&i, &i],
                )
                .await
                .unwrap();
        }
        // A penalty this small cannot outweigh the benefit: the index is recommended and
        // says where its writes came from.
        let v = support::ok(
            &app,
            "pg_analyze_workload_indexes",
            json!({"minCalls": 10, "writePenalty": 0.000001}),
        )
        .await;
        let rec = v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["createIndex"] == CUSTOMER_INDEX)
            .unwrap_or_else(|| panic!("{label}: {v:#}"));
        assert_eq!(rec["writesFrom"], "tableStatistics", "{label}: {rec:#}");
        assert!(
            rec["writePenalty"].as_f64().unwrap() > 0.0,
            "{label}: {rec:#}"
        );
        for r in v["recommendations"].as_array().unwrap() {
            if r["table"] == "customers" {
                assert!(r.get("writesFrom").is_none(), "{label}: {r:#}");
            }
        }
        // Without the penalty the source is the same and the charge is zero.
        let v = support::ok(
            &app,
            "pg_analyze_workload_indexes",
            json!({"minCalls": 10, "writePenalty": 0}),
        )
        .await;
        let rec = v["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["createIndex"] == CUSTOMER_INDEX)
            .unwrap_or_else(|| panic!("{label}: {v:#}"));
        assert_eq!(rec["writePenalty"], 0.0, "{label}: {rec:#}");
    }
}
