//! The transactions group against a real PostgreSQL server, called through `App::call`
//! as MCP calls them: pinned transactions across calls, savepoints, the read fence,
//! atomic batches, read-only and restricted mode, the idle reaper and shutdown rollback.
//! What another session sees is always checked on a separate connection.
//!
//! Every test gets a fresh database, so the tests run in parallel.

use crate::support;

use support::{expect, fail, ok};

use std::sync::Arc;
use std::time::Duration;

use pgmcp::app::App;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// helpers

/// A fresh database with table `t (id int primary key, v text)`, an App on it and an
/// independent connection to watch from. The TestDb must outlive the test.
async fn setup(extra: &[&str]) -> (support::TestDb, Arc<App>, tokio_postgres::Client) {
    let db = support::test_db().await;
    let observer = support::connect(&db.url).await;
    observer
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        .await
        .unwrap();
    let a = support::app(&db.url, extra);
    (db, a, observer)
}

async fn begin(app: &Arc<App>, args: Value) -> String {
    let v = ok(app, "pg_transaction_begin", args).await;
    let id = v["transactionId"]
        .as_str()
        .expect("transactionId")
        .to_string();
    assert!(id.starts_with("tx_"), "{v}");
    id
}

async fn insert(app: &Arc<App>, tx: &str, id: i32) -> Value {
    ok(
        app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES ($1, 'x')", "params": [id], "transactionId": tx }),
    )
    .await
}

/// Ids in `t` as another session sees them.
async fn visible(observer: &tokio_postgres::Client) -> Vec<i32> {
    observer
        .query("SELECT id FROM t ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Sessions of this database idle inside a transaction, once that number is `expected`
/// (or what it still is after two seconds). A backend reports its state just before
/// telling the client it is ready, and a client may return on an error before that, so
/// the count can briefly lag behind.
async fn idle_in_transaction(observer: &tokio_postgres::Client, expected: i64) -> i64 {
    let mut n = count_idle_in_transaction(observer).await;
    for _ in 0..40 {
        if n == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        n = count_idle_in_transaction(observer).await;
    }
    n
}

async fn count_idle_in_transaction(observer: &tokio_postgres::Client) -> i64 {
    observer
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn scalar(app: &Arc<App>, sql: &str, tx: Option<&str>) -> Value {
    let v = ok(
        app,
        "pg_read_query",
        json!({ "sql": sql, "transactionId": tx }),
    )
    .await;
    v["rows"][0]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .unwrap_or(Value::Null)
}

const UNKNOWN: &str = "tx_00000000000000000000000000000000";

// ---------------------------------------------------------------------------------------
// begin

#[tokio::test]
async fn begin_reports_the_transaction_the_server_started() {
    let (_db, app, _) = setup(&[]).await;
    let v = ok(&app, "pg_transaction_begin", json!({})).await;
    assert_eq!(v["isolationLevel"], "read_committed", "{v}");
    assert_eq!(v["readOnly"], false, "{v}");
    let plain = v["transactionId"].as_str().unwrap().to_string();

    let v = ok(
        &app,
        "pg_transaction_begin",
        json!({ "isolationLevel": "serializable", "readOnly": true, "deferrable": true }),
    )
    .await;
    assert_eq!(v["isolationLevel"], "serializable", "{v}");
    assert_eq!(v["readOnly"], true, "{v}");
    assert_eq!(v["deferrable"], true, "{v}");
    let ser = v["transactionId"].as_str().unwrap().to_string();
    assert_eq!(
        scalar(&app, "SHOW transaction_isolation", Some(&ser)).await,
        "serializable"
    );
    assert_eq!(
        scalar(&app, "SHOW transaction_read_only", Some(&ser)).await,
        "on"
    );

    let rr = begin(
        &app,
        json!({ "isolationLevel": "repeatable_read", "readOnly": false }),
    )
    .await;
    assert_eq!(
        scalar(&app, "SHOW transaction_isolation", Some(&rr)).await,
        "repeatable read"
    );
    assert_eq!(
        scalar(&app, "SHOW transaction_isolation", Some(&plain)).await,
        "read committed"
    );

    // Each transaction is its own session.
    let mut backends = std::collections::HashSet::new();
    for id in [&plain, &ser, &rr] {
        backends.insert(
            scalar(&app, "SELECT pg_backend_pid()", Some(id))
                .await
                .to_string(),
        );
    }
    assert_eq!(backends.len(), 3);

    for id in [&plain, &ser, &rr] {
        ok(
            &app,
            "pg_transaction_rollback",
            json!({ "transactionId": id }),
        )
        .await;
    }
}

#[tokio::test]
async fn begin_rejects_bad_arguments() {
    let (_db, app, _) = setup(&[]).await;
    let e = fail(
        &app,
        "pg_transaction_begin",
        json!({ "isolationLevel": "snapshot" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        e["error"].as_str().unwrap().contains("read_committed"),
        "{e:#}"
    );
    let e = fail(
        &app,
        "pg_transaction_begin",
        json!({ "isolationLevel": "read_committed; COMMIT" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_transaction_begin",
        json!({ "isolation": "serializable" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(&app, "pg_transaction_begin", json!({ "readOnly": "yes" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    // DEFERRABLE means something only for SERIALIZABLE READ ONLY.
    let e = fail(
        &app,
        "pg_transaction_begin",
        json!({ "deferrable": true, "readOnly": true }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(e["suggestion"].is_string(), "{e:#}");
    // Nothing was left open.
    assert_eq!(
        ok(&app, "pg_transaction_status", json!({})).await["count"],
        0
    );
}

#[tokio::test]
async fn begin_keeps_a_connection_free_for_other_calls() {
    let (_db, app, _) = setup(&["--pool-max", "3"]).await;
    let a = begin(&app, json!({})).await;
    let b = begin(&app, json!({})).await;
    let e = fail(&app, "pg_transaction_begin", json!({})).await;
    expect(&e, "TOO_MANY_TRANSACTIONS", "limit");
    // The pool still serves ordinary calls.
    assert_eq!(scalar(&app, "SELECT 1", None).await, 1);
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": a }),
    )
    .await;
    begin(&app, json!({})).await;
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": b }),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// commit / rollback

#[tokio::test]
async fn commit_makes_writes_visible_to_other_sessions() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    assert_eq!(insert(&app, &tx, 1).await["rowsAffected"], 1);
    insert(&app, &tx, 2).await;
    // Inside the transaction the rows are there; outside they are not yet.
    assert_eq!(scalar(&app, "SELECT count(*) FROM t", Some(&tx)).await, 2);
    assert_eq!(scalar(&app, "SELECT count(*) FROM t", None).await, 0);
    assert!(visible(&observer).await.is_empty());

    let v = ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v, json!({ "transactionId": tx, "committed": true }));
    assert_eq!(visible(&observer).await, vec![1, 2]);
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn commit_and_rollback_of_unknown_transactions_fail() {
    let (_db, app, _) = setup(&[]).await;
    for tool in ["pg_transaction_commit", "pg_transaction_rollback"] {
        let e = fail(&app, tool, json!({ "transactionId": UNKNOWN })).await;
        expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
        assert!(e["suggestion"].is_string(), "{e:#}");
        let e = fail(&app, tool, json!({})).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
    // Ending twice: the second call finds nothing.
    let tx = begin(&app, json!({})).await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    let e = fail(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT 1", "transactionId": tx }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
}

#[tokio::test]
async fn rollback_discards_writes() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    insert(&app, &tx, 1).await;
    let v = ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v, json!({ "transactionId": tx, "rolledBack": true }));
    assert!(visible(&observer).await.is_empty());
    let e = fail(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn commit_of_an_aborted_transaction_is_an_error() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    insert(&app, &tx, 1).await;
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (1, 'dup')", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "23505", "{e:#}");
    // Later statements are refused until the transaction is rolled back.
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 1", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25P02", "{e:#}");

    let e = fail(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    expect(&e, "TRANSACTION_ABORTED", "database");
    assert_eq!(e["details"]["committed"], false, "{e:#}");
    assert_eq!(e["details"]["rolledBack"], true, "{e:#}");
    assert!(
        e["error"].as_str().unwrap().contains("NOT committed"),
        "{e:#}"
    );
    assert!(visible(&observer).await.is_empty());
    // It is over, and its connection went back to the pool clean.
    let e = fail(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn commit_that_fails_at_commit_time_reports_it() {
    let (_db, app, observer) = setup(&[]).await;
    observer
        .batch_execute(
            "CREATE TABLE d (id int, CONSTRAINT d_unique UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .await
        .unwrap();
    let tx = begin(&app, json!({})).await;
    ok(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO d VALUES (1), (1)", "transactionId": tx }),
    )
    .await;
    let e = fail(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    expect(&e, "CONSTRAINT_VIOLATION", "database");
    assert_eq!(e["sqlstate"], "23505", "{e:#}");
    assert_eq!(e["details"]["committed"], false, "{e:#}");
    let n: i64 = observer
        .query_one("SELECT count(*) FROM d", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert_eq!(scalar(&app, "SELECT 1", None).await, 1);
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn session_state_does_not_leak_into_the_pool() {
    // One pooled connection, so the next call surely reuses the transaction's.
    let (_db, app, _) = setup(&["--pool-max", "1"]).await;
    let tx = begin(&app, json!({})).await;
    let pid = scalar(&app, "SELECT pg_backend_pid()", Some(&tx)).await;
    ok(
        &app,
        "pg_write_query",
        json!({ "sql": "SET work_mem = '77MB'", "transactionId": tx }),
    )
    .await;
    ok(
        &app,
        "pg_write_query",
        json!({ "sql": "CREATE TEMP TABLE scratch (x int)", "transactionId": tx }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(scalar(&app, "SELECT pg_backend_pid()", None).await, pid);
    assert_ne!(scalar(&app, "SHOW work_mem", None).await, "77MB");
    assert_eq!(
        scalar(&app, "SELECT to_regclass('pg_temp.scratch') IS NULL", None).await,
        true
    );
    // The connection-level statement timeout survives the reset.
    assert_eq!(scalar(&app, "SHOW statement_timeout", None).await, "30s");
}

#[tokio::test]
async fn commit_waits_for_a_statement_running_in_the_transaction() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    let slow = {
        let app = app.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            app.call(
                "pg_write_query",
                json!({ "sql": "INSERT INTO t SELECT 7, 'slow' FROM pg_sleep(0.4)", "transactionId": tx }),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v["committed"], true);
    // The statement ran inside the transaction and was committed with it.
    assert_eq!(slow.await.unwrap().unwrap()["rowsAffected"], 1);
    assert_eq!(visible(&observer).await, vec![7]);
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

// ---------------------------------------------------------------------------------------
// savepoints

#[tokio::test]
async fn rollback_to_savepoint_undoes_only_later_writes() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    insert(&app, &tx, 1).await;
    let v = ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "a" }),
    )
    .await;
    assert_eq!(v["savepoints"], json!(["a"]));
    insert(&app, &tx, 2).await;
    let v = ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "b" }),
    )
    .await;
    assert_eq!(v["savepoints"], json!(["a", "b"]));
    insert(&app, &tx, 3).await;

    let v = ok(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "a" }),
    )
    .await;
    assert_eq!(v["rolledBackTo"], "a");
    // The savepoint stays; those made after it are gone.
    assert_eq!(v["savepoints"], json!(["a"]));
    assert_eq!(
        scalar(
            &app,
            "SELECT string_agg(id::text, ',' ORDER BY id) FROM t",
            Some(&tx)
        )
        .await,
        "1"
    );
    let e = fail(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "b" }),
    )
    .await;
    expect(&e, "SAVEPOINT_NOT_FOUND", "not_found");

    // Rolling back to the same savepoint again works, and recovers from an error.
    insert(&app, &tx, 4).await;
    fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (4, 'dup')", "transactionId": tx }),
    )
    .await;
    let v = ok(
        &app,
        "pg_transaction_status",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v["state"], "aborted", "{v}");
    ok(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "a" }),
    )
    .await;
    let v = ok(
        &app,
        "pg_transaction_status",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v["state"], "active", "{v}");
    insert(&app, &tx, 5).await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![1, 5]);
}

#[tokio::test]
async fn savepoint_names_are_quoted() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    let name = "Mixed \"quoted\"; ROLLBACK; --";
    ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": name }),
    )
    .await;
    insert(&app, &tx, 1).await;
    let v = ok(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": name }),
    )
    .await;
    assert_eq!(v["savepoints"], json!([name]));
    insert(&app, &tx, 2).await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![2]);
}

#[tokio::test]
async fn savepoint_errors() {
    let (_db, app, observer) = setup(&[]).await;
    for tool in [
        "pg_transaction_savepoint",
        "pg_transaction_release",
        "pg_transaction_rollback_to",
    ] {
        let e = fail(&app, tool, json!({ "transactionId": UNKNOWN, "name": "a" })).await;
        expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
        let e = fail(&app, tool, json!({ "transactionId": UNKNOWN })).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
    let tx = begin(&app, json!({})).await;
    let e = fail(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "x".repeat(64) }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");

    insert(&app, &tx, 1).await;
    ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "real" }),
    )
    .await;
    // A mistyped name is an error that leaves the transaction as it was.
    for tool in ["pg_transaction_release", "pg_transaction_rollback_to"] {
        let e = fail(&app, tool, json!({ "transactionId": tx, "name": "typo" })).await;
        expect(&e, "SAVEPOINT_NOT_FOUND", "not_found");
        assert!(e["suggestion"].as_str().unwrap().contains("real"), "{e:#}");
        let v = ok(
            &app,
            "pg_transaction_status",
            json!({ "transactionId": tx }),
        )
        .await;
        assert_eq!(v["state"], "active", "{v}");
        assert_eq!(v["savepoints"], json!(["real"]), "{v}");
    }
    insert(&app, &tx, 2).await;

    // In an aborted transaction a savepoint cannot be made.
    fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT 1/0", "transactionId": tx }),
    )
    .await;
    let e = fail(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "late" }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25P02", "{e:#}");
    // …and a mistyped name there keeps it aborted, while the right one recovers it.
    let e = fail(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "typo" }),
    )
    .await;
    expect(&e, "SAVEPOINT_NOT_FOUND", "not_found");
    ok(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "real" }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![1]);
}

#[tokio::test]
async fn release_forgets_a_savepoint_and_later_ones() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        ok(
            &app,
            "pg_transaction_savepoint",
            json!({ "transactionId": tx, "name": name }),
        )
        .await;
        insert(&app, &tx, i as i32 + 1).await;
    }
    let v = ok(
        &app,
        "pg_transaction_release",
        json!({ "transactionId": tx, "name": "b" }),
    )
    .await;
    assert_eq!(v["released"], "b");
    assert_eq!(v["savepoints"], json!(["a"]));
    let e = fail(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "c" }),
    )
    .await;
    expect(&e, "SAVEPOINT_NOT_FOUND", "not_found");
    // Released changes are kept.
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![1, 2, 3]);
}

// ---------------------------------------------------------------------------------------
// the read fence, read-only and restricted mode

#[tokio::test]
async fn read_query_cannot_write_inside_a_read_write_transaction() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    insert(&app, &tx, 1).await;
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "INSERT INTO t VALUES (2, 'sneaky')", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25006", "{e:#}");
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "UPDATE t SET v = 'sneaky'", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25006", "{e:#}");
    // The transaction is still usable and still read-write for write tools.
    let v = ok(
        &app,
        "pg_transaction_status",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v["state"], "active", "{v}");
    assert_eq!(scalar(&app, "SELECT count(*) FROM t", Some(&tx)).await, 1);
    insert(&app, &tx, 3).await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![1, 3]);
    let v: Vec<String> = observer
        .query("SELECT v FROM t", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(v, vec!["x", "x"]);
}

#[tokio::test]
async fn read_only_transaction_refuses_writes() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({ "readOnly": true })).await;
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (1, 'x')", "transactionId": tx }),
    )
    .await;
    expect(&e, "READ_ONLY_VIOLATION", "permission");
    assert_eq!(e["sqlstate"], "25006", "{e:#}");
    // Its mode cannot be switched from inside: begin already took the first snapshot.
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    let tx = begin(&app, json!({ "readOnly": true })).await;
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SET transaction_read_only = off", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25001", "{e:#}");
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    assert!(visible(&observer).await.is_empty());
}

#[tokio::test]
async fn restricted_mode_forces_read_only_transactions() {
    let (_db, app, observer) = setup(&["--access-mode", "restricted"]).await;
    let v = ok(
        &app,
        "pg_transaction_begin",
        json!({ "readOnly": false, "isolationLevel": "repeatable_read" }),
    )
    .await;
    assert_eq!(v["readOnly"], true, "{v}");
    assert!(v["note"].is_string(), "{v}");
    let tx = v["transactionId"].as_str().unwrap().to_string();
    assert_eq!(
        scalar(&app, "SHOW transaction_read_only", Some(&tx)).await,
        "on"
    );

    // The savepoint tools are available, so a refused statement can be recovered from.
    ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": tx, "name": "s" }),
    )
    .await;
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SET transaction_read_only = off", "transactionId": tx }),
    )
    .await;
    // Refused by the statement policy before it reaches the server (which would answer
    // 25001: the transaction's first snapshot is taken).
    expect(&e, "READ_ONLY_VIOLATION", "permission");
    assert_eq!(e["sqlstate"], "25006", "{e:#}");
    ok(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "s" }),
    )
    .await;
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "INSERT INTO t VALUES (1, 'x')", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25006", "{e:#}");
    ok(
        &app,
        "pg_transaction_rollback_to",
        json!({ "transactionId": tx, "name": "s" }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_release",
        json!({ "transactionId": tx, "name": "s" }),
    )
    .await;
    // Writing tools of the group are not available at all.
    for (tool, args) in [
        (
            "pg_transaction_execute",
            json!({ "statements": ["INSERT INTO t VALUES (1, 'x')"] }),
        ),
        ("pg_transaction_commit", json!({ "transactionId": tx })),
        (
            "pg_write_query",
            json!({ "sql": "INSERT INTO t VALUES (1, 'x')", "transactionId": tx }),
        ),
    ] {
        let e = fail(&app, tool, args).await;
        expect(&e, "UNKNOWN_TOOL", "not_found");
    }
    assert_eq!(scalar(&app, "SELECT count(*) FROM t", Some(&tx)).await, 0);
    assert_eq!(
        ok(&app, "pg_transaction_status", json!({})).await["count"],
        1
    );
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    assert!(visible(&observer).await.is_empty());
}

// ---------------------------------------------------------------------------------------
// status

#[tokio::test]
async fn status_lists_and_describes_transactions() {
    let (_db, app, _) = setup(&[]).await;
    let v = ok(&app, "pg_transaction_status", json!({})).await;
    assert_eq!(v["count"], 0);
    assert_eq!(v["transactions"], json!([]));
    assert_eq!(v["idleTimeoutSeconds"], 300);

    let a = begin(&app, json!({})).await;
    let b = begin(
        &app,
        json!({ "isolationLevel": "serializable", "readOnly": true }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": b, "name": "s1" }),
    )
    .await;
    let v = ok(&app, "pg_transaction_status", json!({})).await;
    assert_eq!(v["count"], 2);
    let list = v["transactions"].as_array().unwrap();
    let ids: Vec<&str> = list
        .iter()
        .map(|t| t["transactionId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&a.as_str()) && ids.contains(&b.as_str()),
        "{v}"
    );
    for t in list {
        assert!(t["ageMs"].is_u64() && t["idleMs"].is_u64(), "{t}");
    }

    let v = ok(&app, "pg_transaction_status", json!({ "transactionId": b })).await;
    assert_eq!(v["state"], "active", "{v}");
    assert_eq!(v["isolationLevel"], "serializable", "{v}");
    assert_eq!(v["readOnly"], true, "{v}");
    assert_eq!(v["savepoints"], json!(["s1"]), "{v}");
    assert!(v["rollsBackInMs"].as_u64().unwrap() > 290_000, "{v}");

    // A failed read is fenced in a savepoint and does not abort a read-write transaction…
    fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 1/0", "transactionId": a }),
    )
    .await;
    let v = ok(&app, "pg_transaction_status", json!({ "transactionId": a })).await;
    assert_eq!(v["state"], "active", "{v}");
    // …a failed write does.
    fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT 1/0", "transactionId": a }),
    )
    .await;
    let v = ok(&app, "pg_transaction_status", json!({ "transactionId": a })).await;
    assert_eq!(v["state"], "aborted", "{v}");
    assert!(v["hint"].is_string(), "{v}");
    // Asking changed nothing.
    let v = ok(&app, "pg_transaction_status", json!({ "transactionId": a })).await;
    assert_eq!(v["state"], "aborted", "{v}");
    let v = ok(&app, "pg_transaction_status", json!({ "transactionId": b })).await;
    assert_eq!(v["savepoints"], json!(["s1"]), "{v}");

    let e = fail(
        &app,
        "pg_transaction_status",
        json!({ "transactionId": UNKNOWN }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    let e = fail(&app, "pg_transaction_status", json!({ "id": a })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    for id in [a, b] {
        ok(
            &app,
            "pg_transaction_rollback",
            json!({ "transactionId": id }),
        )
        .await;
    }
}

#[tokio::test]
async fn status_reports_a_busy_transaction_without_waiting() {
    let (_db, app, _) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    let slow = {
        let app = app.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            app.call(
                "pg_read_query",
                json!({ "sql": "SELECT pg_sleep(0.5)", "transactionId": tx }),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = std::time::Instant::now();
    let v = ok(
        &app,
        "pg_transaction_status",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v["state"], "busy", "{v}");
    assert!(started.elapsed() < Duration::from_millis(250));
    slow.await.unwrap().unwrap();
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// execute

#[tokio::test]
async fn execute_runs_statements_in_one_transaction() {
    let (_db, app, observer) = setup(&[]).await;
    let v = ok(
        &app,
        "pg_transaction_execute",
        json!({ "statements": [
            "INSERT INTO t VALUES (1, 'a')",
            { "sql": "INSERT INTO t VALUES ($1, $2), ($3, $4)", "params": [2, "b", 3, "c"] },
            { "sql": "UPDATE t SET v = upper(v) WHERE id > $1 RETURNING id, v", "params": [1] },
            "SELECT txid_current() = txid_current() AS same, count(*) AS n FROM t",
        ] }),
    )
    .await;
    assert_eq!(v["committed"], true, "{v}");
    assert_eq!(v["statementCount"], 4, "{v}");
    let r = v["results"].as_array().unwrap();
    assert_eq!(r[0], json!({ "rowsAffected": 1 }));
    assert_eq!(r[1], json!({ "rowsAffected": 2 }));
    assert_eq!(r[2]["rowsAffected"], 2);
    assert_eq!(
        r[2]["rows"],
        json!([{ "id": 2, "v": "B" }, { "id": 3, "v": "C" }])
    );
    assert_eq!(r[3]["rows"], json!([{ "same": true, "n": 3 }]));
    assert_eq!(visible(&observer).await, vec![1, 2, 3]);

    // One transaction: all statements share one transaction id.
    let v = ok(
        &app,
        "pg_transaction_execute",
        json!({ "statements": ["SELECT txid_current() AS x", "SELECT txid_current() AS x"], "isolationLevel": "serializable", "readOnly": true }),
    )
    .await;
    assert_eq!(v["results"][0]["rows"], v["results"][1]["rows"], "{v}");
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn execute_is_atomic() {
    let (_db, app, observer) = setup(&[]).await;
    let e = fail(
        &app,
        "pg_transaction_execute",
        json!({ "statements": [
            "INSERT INTO t VALUES (1, 'a')",
            "INSERT INTO t VALUES (1, 'duplicate')",
            "INSERT INTO t VALUES (3, 'never')",
        ] }),
    )
    .await;
    expect(&e, "CONSTRAINT_VIOLATION", "database");
    assert_eq!(e["sqlstate"], "23505", "{e:#}");
    assert_eq!(e["details"]["failedStatement"], 1, "{e:#}");
    assert_eq!(
        e["details"]["sql"], "INSERT INTO t VALUES (1, 'duplicate')",
        "{e:#}"
    );
    assert_eq!(e["details"]["committed"], false, "{e:#}");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("statement 1 failed"),
        "{e:#}"
    );
    assert!(visible(&observer).await.is_empty());

    // A read-only batch refuses writes.
    let e = fail(
        &app,
        "pg_transaction_execute",
        json!({ "statements": ["SELECT 1", "INSERT INTO t VALUES (1, 'a')"], "readOnly": true }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25006", "{e:#}");
    assert_eq!(e["details"]["failedStatement"], 1, "{e:#}");
    assert!(visible(&observer).await.is_empty());
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn execute_rejects_bad_arguments() {
    let (_db, app, observer) = setup(&[]).await;
    let cases = [
        json!({ "statements": [] }),
        json!({}),
        json!({ "statements": "INSERT INTO t VALUES (1, 'a')" }),
        json!({ "statements": [42] }),
        json!({ "statements": [{ "sql": "SELECT 1", "parms": [] }] }),
        json!({ "statements": ["SELECT 1"], "isolationLevel": "chaos" }),
        json!({ "statements": ["  "] }),
        json!({ "statements": ["INSERT INTO t VALUES (1, 'a')", "COMMIT", "INSERT INTO t VALUES (2, 'b')"] }),
        json!({ "statements": ["/* sneaky */ rollback"] }),
        json!({ "statements": [{ "sql": "INSERT INTO t VALUES ($1, 'a')", "params": [] }] }),
    ];
    for args in cases {
        let e = fail(&app, "pg_transaction_execute", args.clone()).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
    let e = fail(
        &app,
        "pg_transaction_execute",
        json!({ "statements": ["SELECT 1"], "transactionId": UNKNOWN }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    let tx = begin(&app, json!({})).await;
    let e = fail(
        &app,
        "pg_transaction_execute",
        json!({ "statements": ["SELECT 1"], "transactionId": tx, "readOnly": true }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    assert!(visible(&observer).await.is_empty());
}

#[tokio::test]
async fn execute_inside_an_open_transaction() {
    let (_db, app, observer) = setup(&[]).await;
    let tx = begin(&app, json!({})).await;
    let v = ok(
        &app,
        "pg_transaction_execute",
        json!({ "transactionId": tx, "statements": ["INSERT INTO t VALUES (1, 'a')", "INSERT INTO t VALUES (2, 'b')"] }),
    )
    .await;
    assert_eq!(v["committed"], false, "{v}");
    assert_eq!(v["transactionId"], tx.as_str(), "{v}");
    assert!(visible(&observer).await.is_empty(), "not committed yet");

    // A failing batch is undone as a whole; the transaction stays usable.
    let e = fail(
        &app,
        "pg_transaction_execute",
        json!({ "transactionId": tx, "statements": ["INSERT INTO t VALUES (3, 'c')", "INSERT INTO t VALUES (1, 'dup')"] }),
    )
    .await;
    assert_eq!(e["details"]["failedStatement"], 1, "{e:#}");
    assert!(e["error"].as_str().unwrap().contains("still open"), "{e:#}");
    let v = ok(
        &app,
        "pg_transaction_status",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(v["state"], "active", "{v}");
    assert_eq!(v["savepoints"], json!([]), "{v}");
    insert(&app, &tx, 4).await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![1, 2, 4]);
}

// ---------------------------------------------------------------------------------------
// abandoned transactions

#[tokio::test]
async fn idle_transactions_are_rolled_back_by_the_reaper() {
    let (_db, app, observer) = setup(&["--transaction-idle-timeout", "1"]).await;
    let idle = begin(&app, json!({})).await;
    insert(&app, &idle, 1).await;
    assert_eq!(idle_in_transaction(&observer, 1).await, 1);
    // Nothing is reaped before the timeout.
    assert_eq!(app.db.transactions.reap_idle().await, 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let active = begin(&app, json!({})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Used just now: not idle.
    insert(&app, &active, 2).await;

    assert_eq!(app.db.transactions.reap_idle().await, 1);
    let e = fail(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": idle }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT 1", "transactionId": idle }),
    )
    .await;
    expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    assert!(visible(&observer).await.is_empty());

    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": active }),
    )
    .await;
    assert_eq!(visible(&observer).await, vec![2]);
    // The pool still works and nothing is left inside a transaction.
    assert_eq!(scalar(&app, "SELECT 1", None).await, 1);
    ok(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (3, 'z')" }),
    )
    .await;
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
}

#[tokio::test]
async fn rollback_all_rolls_back_everything() {
    let (_db, app, observer) = setup(&[]).await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let tx = begin(&app, json!({})).await;
        insert(&app, &tx, i).await;
        ids.push(tx);
    }
    // One of them aborted, one with a savepoint.
    fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT 1/0", "transactionId": ids[0] }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_savepoint",
        json!({ "transactionId": ids[1], "name": "s" }),
    )
    .await;
    assert_eq!(idle_in_transaction(&observer, 3).await, 3);

    assert_eq!(app.db.transactions.rollback_all().await, 3);
    assert_eq!(
        ok(&app, "pg_transaction_status", json!({})).await["count"],
        0
    );
    for id in &ids {
        let e = fail(
            &app,
            "pg_transaction_rollback",
            json!({ "transactionId": id }),
        )
        .await;
        expect(&e, "TRANSACTION_NOT_FOUND", "not_found");
    }
    assert!(visible(&observer).await.is_empty());
    assert_eq!(idle_in_transaction(&observer, 0).await, 0);
    assert_eq!(app.db.transactions.rollback_all().await, 0);
    assert_eq!(scalar(&app, "SELECT 1", None).await, 1);
}

#[tokio::test]
async fn transaction_control_cannot_escape_a_pinned_transaction() {
    // Restricted mode: COMMIT through a read would end the READ ONLY transaction and leave
    // the pinned connection in autocommit, where the next statement could write.
    let (_db, app, observer) = setup(&["--access-mode", "restricted"]).await;
    let tx = begin(&app, json!({})).await;
    for stmt in [
        "COMMIT",
        "rollback",
        "END",
        "ABORT",
        "begin",
        "COMMIT AND CHAIN",
    ] {
        let e = fail(
            &app,
            "pg_read_query",
            json!({ "sql": stmt, "transactionId": tx }),
        )
        .await;
        assert_eq!(e["code"], "INVALID_ARGUMENT", "{stmt}: {e}");
    }
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "INSERT INTO t VALUES (1)", "transactionId": tx }),
    )
    .await;
    assert_eq!(e["sqlstate"], "25006", "{e}");
    assert!(visible(&observer).await.is_empty());

    // Unrestricted: COMMIT through pg_write_query must not bypass pg_transaction_commit either.
    let (_db2, app2, _observer2) = setup(&[]).await;
    let tx2 = begin(&app2, json!({})).await;
    let e = fail(
        &app2,
        "pg_write_query",
        json!({ "sql": "COMMIT", "transactionId": tx2 }),
    )
    .await;
    assert_eq!(e["code"], "INVALID_ARGUMENT", "{e}");
}

/// Inside a pinned transaction, the read policy's own query runs with its plan settings
/// (generic plan, no JIT) and puts them back: the caller's statements, in a READ ONLY
/// transaction and in a read fenced inside a read-write one, plan as usual.
#[tokio::test]
async fn the_policy_leaves_the_transactions_plan_settings_as_they_were() {
    let (_db, app, _client) = setup(&[]).await;
    let settings =
        "SELECT current_setting('plan_cache_mode') AS pcm, current_setting('jit') AS jit";
    for read_only in [true, false] {
        let b = ok(
            &app,
            "pg_transaction_begin",
            json!({ "readOnly": read_only }),
        )
        .await;
        let id = b["transactionId"].clone();
        for _ in 0..2 {
            let v = ok(
                &app,
                "pg_read_query",
                json!({ "transactionId": id, "sql": settings }),
            )
            .await;
            assert_eq!(
                v["rows"][0],
                json!({ "pcm": "auto", "jit": "on" }),
                "readOnly {read_only}"
            );
        }
        ok(
            &app,
            "pg_transaction_rollback",
            json!({ "transactionId": id }),
        )
        .await;
    }
}
