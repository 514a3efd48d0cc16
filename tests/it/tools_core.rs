//! The 17 core tools against a real PostgreSQL server, called through `App::call` exactly
//! as MCP calls them: success shapes, structured errors (`code`, `category`, `sqlstate`,
//! `suggestion`), read-only enforcement, identifier quoting and injection attempts,
//! result caps, batch atomicity and connection failures.
//!
//! Every test gets a fresh database, so the tests run in parallel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgmcp::app::App;
use serde_json::{Value, json};

use crate::support;

use support::{expect, fail, ok};

// ---------------------------------------------------------------------------------------
// helpers

/// A fresh database and an unrestricted App on it. The TestDb must outlive the test.
async fn setup(extra: &[&str]) -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let a = support::app(&db.url, extra);
    (db, a)
}

#[track_caller]
fn expect_sql(e: &Value, code: &str, category: &str, sqlstate: &str) {
    expect(e, code, category);
    assert_eq!(e["sqlstate"], sqlstate, "{e:#}");
}

#[track_caller]
fn has_suggestion(e: &Value) -> &str {
    match e["suggestion"].as_str() {
        Some(s) if !s.is_empty() => s,
        _ => panic!("no suggestion in {e:#}"),
    }
}

async fn sql(app: &Arc<App>, statement: &str) -> Value {
    ok(app, "pg_write_query", json!({ "sql": statement })).await
}

async fn rows(app: &Arc<App>, query: &str) -> Vec<Value> {
    let v = ok(app, "pg_read_query", json!({ "sql": query })).await;
    v["rows"].as_array().cloned().unwrap_or_default()
}

async fn scalar(app: &Arc<App>, query: &str) -> Value {
    rows(app, query).await[0]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .unwrap_or(Value::Null)
}

async fn canary(app: &Arc<App>) {
    sql(app, "CREATE TABLE canary (id int PRIMARY KEY)").await;
    sql(app, "INSERT INTO canary VALUES (1), (2), (3)").await;
}

async fn canary_intact(app: &Arc<App>) {
    assert_eq!(
        scalar(app, "SELECT count(*) FROM canary").await,
        3,
        "canary was touched"
    );
}

/// The host, port and user of a test database URL.
fn endpoint(url: &str) -> (String, u16, String) {
    let cfg: tokio_postgres::Config = url.parse().expect("test url");
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    (host, port, cfg.get_user().unwrap_or("postgres").to_string())
}

/// A connection string for the same server with another user, password or database.
fn url_for(url: &str, user: &str, password: &str, dbname: &str) -> String {
    let (host, port, _) = endpoint(url);
    if host.starts_with('/') {
        format!("host={host} port={port} user={user} password={password} dbname={dbname}")
    } else {
        format!("postgres://{user}:{password}@{host}:{port}/{dbname}")
    }
}

const SECRET: &str = "hunter2secret";

#[track_caller]
fn no_secret(e: &Value) {
    assert!(!e.to_string().contains(SECRET), "password leaked: {e:#}");
}

// ---------------------------------------------------------------------------------------
// pg_read_query

#[tokio::test]
async fn read_query_returns_rows() {
    let (_db, app) = setup(&[]).await;
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 1 AS x, 'a' AS y" }),
    )
    .await;
    assert_eq!(v["rows"], json!([{ "x": 1, "y": "a" }]));
    assert_eq!(v["rowCount"], 1);
    assert!(v.get("truncated").is_none(), "{v}");

    // An empty result still names its columns.
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 1 AS x, 2 AS y WHERE false" }),
    )
    .await;
    assert_eq!(v["rowCount"], 0);
    assert_eq!(v["rows"], json!([]));
    assert_eq!(v["columns"], json!(["x", "y"]));
}

/// A read whose statement names nothing the catalog could resolve (`SELECT 1`, literals
/// ordered or made distinct) runs without the catalog policy's candidate list or guard, on
/// the pooled path and in Code Mode's read session, twice each (the second read takes the
/// prepared-statement path), and in a pinned READ ONLY transaction; a read that names a
/// relation still runs them. Counted in this
/// database's pg_stat_statements (both queries unnest `$5::pg_catalog.name[]`).
#[tokio::test]
async fn reads_that_name_nothing_skip_the_catalog_guard() {
    let (db, app) = setup(&[]).await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .unwrap();
    let policy_queries = || async {
        client
            .query_one(
                "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements
                  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                    AND query LIKE '%unnest($5::pg_catalog.name[])%'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let nameless = [
        "SELECT 1",
        "SELECT 1 AS a, 'x' AS b ORDER BY 1",
        "SELECT DISTINCT x FROM (VALUES (2), (1)) v(x)",
    ];
    for sql in nameless {
        for _ in 0..2 {
            ok(&app, "pg_read_query", json!({ "sql": sql })).await;
        }
    }
    let code = format!(
        "for (const sql of {}) {{ await pg.query(sql); await pg.query(sql); }} return 1",
        json!(nameless)
    );
    let r = ok(&app, "pg_execute_code", json!({ "code": code })).await;
    assert_eq!(r["success"], true, "{r:#}");
    // And inside a pinned READ ONLY transaction.
    let tx = ok(&app, "pg_transaction_begin", json!({ "readOnly": true })).await;
    let tx = tx["transactionId"].as_str().unwrap().to_string();
    for sql in nameless {
        ok(
            &app,
            "pg_read_query",
            json!({ "sql": sql, "transactionId": tx }),
        )
        .await;
    }
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(policy_queries().await, 0, "a nameless read ran the guard");

    let named = "SELECT count(*) AS n FROM pg_class";
    for _ in 0..2 {
        ok(&app, "pg_read_query", json!({ "sql": named })).await;
    }
    assert!(
        policy_queries().await >= 2,
        "a read naming a relation ran no catalog check (or the count does not see it)"
    );
}

#[tokio::test]
async fn read_query_accepts_query_alias_and_null_params() {
    let (_db, app) = setup(&[]).await;
    let v = ok(&app, "pg_read_query", json!({ "query": "SELECT 2 AS two" })).await;
    assert_eq!(v["rows"], json!([{ "two": 2 }]));
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "query": "SELECT $1::int AS n", "params": [7] }),
    )
    .await;
    assert_eq!(v["rows"], json!([{ "n": 7 }]));
}

#[tokio::test]
async fn read_query_binds_params_of_several_types() {
    let (_db, app) = setup(&[]).await;
    let v = ok(
        &app,
        "pg_read_query",
        json!({
            "sql": "SELECT $1::int AS i, $2::text AS t, $3::bool AS b, $4::text AS n,
                           $5::jsonb AS j, $6::int[] AS a, $7::bigint AS big, $8::float8 AS f,
                           $9::text[] AS ta, $10::date AS d",
            "params": [42, "it's \"quoted\"", true, null, {"k": [1, 2], "s": "x"}, [1, 2, 3],
                       9_007_199_254_740_991_i64, 1.5, ["a b", "c,d", "e\"f", null], "2024-02-29"]
        }),
    )
    .await;
    assert_eq!(
        v["rows"][0],
        json!({
            "i": 42, "t": "it's \"quoted\"", "b": true, "n": null,
            "j": {"k": [1, 2], "s": "x"}, "a": [1, 2, 3], "big": 9_007_199_254_740_991_i64,
            "f": 1.5, "ta": ["a b", "c,d", "e\"f", null], "d": "2024-02-29"
        })
    );

    // Types inferred from the context, no casts.
    sql(
        &app,
        "CREATE TABLE t (id int, name text, tags text[], doc jsonb, ok bool)",
    )
    .await;
    sql(&app, "INSERT INTO t VALUES (1, 'one', '{a,b}', '{\"x\": 1}', true), (2, 'two', '{}', '[]', false)").await;
    let v = ok(
        &app,
        "pg_read_query",
        json!({
            "sql": "SELECT id FROM t WHERE id = $1 AND name = $2 AND tags = $3 AND doc = $4 AND ok = $5",
            "params": [1, "one", ["a", "b"], {"x": 1}, true]
        }),
    )
    .await;
    assert_eq!(v["rows"], json!([{ "id": 1 }]));
    // A string for an int placeholder is parsed by PostgreSQL, as psql would.
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT name FROM t WHERE id = $1", "params": ["2"] }),
    )
    .await;
    assert_eq!(v["rows"], json!([{ "name": "two" }]));
}

#[tokio::test]
async fn read_query_param_errors() {
    let (_db, app) = setup(&[]).await;
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT $1::int, $2::int", "params": [1] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        e["error"].as_str().unwrap().contains("2 parameter"),
        "{e:#}"
    );
    has_suggestion(&e);
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 1", "params": [1] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");

    // A value PostgreSQL cannot parse for the type.
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT $1::int", "params": ["abc"] }),
    )
    .await;
    expect_sql(&e, "DATA_EXCEPTION", "database", "22P02");
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT $1::int", "params": [{"a": 1}] }),
    )
    .await;
    expect_sql(&e, "DATA_EXCEPTION", "database", "22P02");
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT $1::text", "params": ["a\u{0}b"] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn read_query_sql_errors() {
    let (_db, app) = setup(&[]).await;
    let e = fail(&app, "pg_read_query", json!({ "sql": "SELEC 1" })).await;
    expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
    assert_eq!(e["details"]["position"], 1, "{e:#}");
    assert_eq!(e["recoverable"], true);
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 1 FROM FROM" }),
    )
    .await;
    expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
    assert_eq!(e["details"]["position"], 15, "{e:#}");

    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT * FROM no_such_table" }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    assert!(
        e["error"].as_str().unwrap().contains("no_such_table"),
        "{e:#}"
    );
    has_suggestion(&e);

    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT no_such_column FROM pg_class" }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
    has_suggestion(&e);

    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT no_such_fn()" }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_FUNCTION", "database", "42883");
    // PostgreSQL's own hint is passed on.
    has_suggestion(&e);

    let e = fail(&app, "pg_read_query", json!({ "sql": "SELECT 1/0" })).await;
    expect_sql(&e, "DATA_EXCEPTION", "database", "22012");

    // The pooled connection is still usable after all those errors.
    assert_eq!(scalar(&app, "SELECT 40 + 2").await, 42);
}

#[tokio::test]
async fn read_query_cannot_write() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE w (id int)").await;
    sql(&app, "CREATE SEQUENCE s").await;
    for attempt in [
        "INSERT INTO w VALUES (1)",
        "WITH x AS (INSERT INTO w VALUES (2) RETURNING id) SELECT * FROM x",
        "UPDATE w SET id = 3",
        "CREATE TABLE sneaky (id int)",
        "DROP TABLE w",
        "SELECT nextval('s')",
    ] {
        let e = fail(&app, "pg_read_query", json!({ "sql": attempt })).await;
        expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
        has_suggestion(&e);
    }
    assert_eq!(scalar(&app, "SELECT count(*) FROM w").await, 0);
    assert_eq!(
        scalar(&app, "SELECT to_regclass('sneaky') IS NULL").await,
        true
    );
    assert_eq!(scalar(&app, "SELECT last_value FROM s").await, 1);
    assert_eq!(scalar(&app, "SELECT is_called FROM s").await, false);

    // A SET is not a read; the pooled connections keep their defaults.
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SET search_path = nowhere" }),
    )
    .await;
    expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    for _ in 0..3 {
        assert_eq!(scalar(&app, "SHOW search_path").await, "\"$user\", public");
    }
}

#[tokio::test]
async fn stacked_statements_are_refused() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "select 1; select 2" }),
    )
    .await;
    expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
    assert!(
        e["error"].as_str().unwrap().contains("multiple commands"),
        "{e:#}"
    );

    for attempt in [
        "select 1; drop table canary",
        "select 1; drop table canary;",
        "select 1;\ndrop table canary --",
    ] {
        let e = fail(&app, "pg_read_query", json!({ "sql": attempt })).await;
        expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
        let e = fail(&app, "pg_write_query", json!({ "sql": attempt })).await;
        expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
    }
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "insert into canary values (9); drop table canary" }),
    )
    .await;
    expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
    canary_intact(&app).await;
}

#[tokio::test]
async fn read_query_truncates_by_rows() {
    let (_db, app) = setup(&["--max-rows", "5"]).await;
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT g FROM generate_series(1, 20) g" }),
    )
    .await;
    assert_eq!(v["rowCount"], 5);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["maxRows"], 5);
    assert!(v.get("maxBytes").is_none());
    assert!(v["hint"].is_string());
    assert_eq!(v["rows"], json!([{"g":1},{"g":2},{"g":3},{"g":4},{"g":5}]));

    // Exactly at the cap is not truncated.
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT g FROM generate_series(1, 5) g" }),
    )
    .await;
    assert_eq!(v["rowCount"], 5);
    assert!(v.get("truncated").is_none(), "{v}");
}

#[tokio::test]
async fn read_query_truncates_by_bytes() {
    let (_db, app) = setup(&["--max-result-bytes", "2048", "--pool-max", "1"]).await;
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20) g" }),
    )
    .await;
    assert_eq!(v["truncated"], true, "{v}");
    assert_eq!(v["maxBytes"], 2048);
    assert!(v.get("maxRows").is_none());
    let n = v["rowCount"].as_u64().unwrap();
    assert!((1..20).contains(&n), "{n}");
    assert_eq!(v["rows"].as_array().unwrap().len() as u64, n);
    assert!(
        v["rows"].to_string().len() <= 2048 + 100,
        "rows exceed the byte cap"
    );

    // A single row bigger than the cap is still returned, its large values cut (otherwise
    // nothing could be seen).
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT repeat('y', 5000) AS big FROM generate_series(1, 3)" }),
    )
    .await;
    assert_eq!(v["rowCount"], 1);
    assert_eq!(v["truncated"], true);

    // The only pooled connection is fine after a cut result.
    assert_eq!(scalar(&app, "SELECT 1").await, 1);
}

#[tokio::test]
async fn read_query_argument_validation() {
    let (_db, app) = setup(&[]).await;
    for args in [
        json!({ "sql": 5 }),
        json!({ "sql": "SELECT 1", "params": "x" }),
        json!({ "sqll": "SELECT 1" }),
        json!({ "sql": "SELECT 1", "extra": true }),
        json!({}),
        Value::Null,
        json!({ "sql": null }),
        json!({ "sql": "SELECT 1", "query": "SELECT 2" }),
    ] {
        let e = fail(&app, "pg_read_query", args.clone()).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(e.get("sqlstate").is_none());
        let s = has_suggestion(&e);
        assert!(s.contains("sql (string, required)"), "{args}: {s}");
        assert!(s.contains("params"), "{args}: {s}");
    }
    for args in [json!("SELECT 1"), json!([1, 2]), json!(5), json!(true)] {
        let e = fail(&app, "pg_read_query", args.clone()).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("must be a JSON object"),
            "{e:#}"
        );
        assert!(has_suggestion(&e).contains("sql (string, required)"));
    }
    // Unknown tool names are structured too.
    let e = fail(&app, "pg_read_qery", json!({ "sql": "SELECT 1" })).await;
    expect(&e, "UNKNOWN_TOOL", "not_found");
    assert!(has_suggestion(&e).contains("pg_read_query"));
}

// ---------------------------------------------------------------------------------------
// pg_write_query

#[tokio::test]
async fn write_query_reports_rows_affected_and_returning() {
    let (_db, app) = setup(&[]).await;
    let v = sql(&app, "CREATE TABLE t (id serial PRIMARY KEY, name text)").await;
    assert_eq!(v["rowsAffected"], 0);
    assert!(v.get("rows").is_none(), "{v}");

    let v = ok(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t (name) VALUES ($1), ($2), ($3)", "params": ["a", "b", "c"] }),
    )
    .await;
    assert_eq!(v["rowsAffected"], 3);
    assert!(v.get("rows").is_none(), "{v}");

    let v = ok(
        &app,
        "pg_write_query",
        json!({ "query": "UPDATE t SET name = upper(name) WHERE id <= $1", "params": [2] }),
    )
    .await;
    assert_eq!(v["rowsAffected"], 2);

    let v = sql(&app, "DELETE FROM t WHERE id = 3 RETURNING id, name").await;
    assert_eq!(v["rowsAffected"], 1);
    assert_eq!(v["rowCount"], 1);
    assert_eq!(v["rows"], json!([{ "id": 3, "name": "c" }]));

    let v = sql(&app, "UPDATE t SET name = 'z' WHERE false RETURNING id").await;
    assert_eq!(v["rowsAffected"], 0);
    assert_eq!(v["rows"], json!([]));

    // Autocommitted: visible to the next (read-only) call.
    assert_eq!(
        rows(&app, "SELECT name FROM t ORDER BY id").await,
        vec![json!({"name": "A"}), json!({"name": "B"})]
    );
}

#[tokio::test]
async fn write_query_errors() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE t (id int PRIMARY KEY, n int CHECK (n > 0))",
    )
    .await;
    sql(&app, "INSERT INTO t VALUES (1, 1)").await;
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (1, 1)" }),
    )
    .await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23505");
    assert_eq!(e["details"]["constraint"], "t_pkey", "{e:#}");
    assert_eq!(e["details"]["table"], "t", "{e:#}");
    assert!(
        e["details"]["detail"]
            .as_str()
            .unwrap()
            .contains("(id)=(1)"),
        "{e:#}"
    );

    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (2, -1)" }),
    )
    .await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23514");

    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (NULL, 1)" }),
    )
    .await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23502");

    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "CREATE TABLE t (id int)" }),
    )
    .await;
    expect_sql(&e, "ALREADY_EXISTS", "database", "42P07");
    has_suggestion(&e);

    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "UPDAT t SET n = 1" }),
    )
    .await;
    expect_sql(&e, "SYNTAX_ERROR", "database", "42601");

    let e = fail(&app, "pg_write_query", json!({ "sql": 1 })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);

    assert_eq!(scalar(&app, "SELECT count(*) FROM t").await, 1);
}

#[tokio::test]
async fn write_query_refuses_transaction_control() {
    // With one pooled connection, a stray BEGIN would leave every later write of this
    // session inside a transaction that is never committed.
    let (db, app) = setup(&["--pool-max", "1"]).await;
    sql(&app, "CREATE TABLE t (id int)").await;
    for stmt in [
        "BEGIN",
        "begin transaction read write",
        "  START TRANSACTION",
        "/* c */ COMMIT",
        "-- c\nROLLBACK",
        "SAVEPOINT a",
        "END",
        "abort",
    ] {
        let e = fail(&app, "pg_write_query", json!({ "sql": stmt })).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(has_suggestion(&e).contains("pg_transaction_begin"), "{e:#}");
    }
    sql(&app, "INSERT INTO t VALUES (1)").await;
    // Still autocommit: a separate connection sees the row.
    let other = support::app(&db.url, &[]);
    assert_eq!(scalar(&other, "SELECT count(*) FROM t").await, 1);
}

#[tokio::test]
async fn reads_inside_a_transaction_stay_reads() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id int)").await;
    let tx = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = tx["transactionId"].as_str().unwrap().to_string();
    ok(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (1)", "transactionId": id }),
    )
    .await;

    // A read through the transaction sees its writes but cannot write or end it.
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT count(*) AS n FROM t", "transactionId": id }),
    )
    .await;
    assert_eq!(v["rows"][0]["n"], 1);
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "INSERT INTO t VALUES (2)", "transactionId": id }),
    )
    .await;
    expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    for stmt in ["COMMIT", "RELEASE SAVEPOINT pgmcp_read_fence", "ROLLBACK"] {
        let e = fail(
            &app,
            "pg_read_query",
            json!({ "sql": stmt, "transactionId": id }),
        )
        .await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(
            has_suggestion(&e).contains("pg_transaction_commit"),
            "{e:#}"
        );
    }
    // A failed read is undone by its savepoint: the transaction is not aborted and the
    // error does not claim it is.
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELEC 1", "transactionId": id }),
    )
    .await;
    expect_sql(&e, "SYNTAX_ERROR", "database", "42601");
    assert!(
        !e["suggestion"].as_str().unwrap_or("").contains("aborted"),
        "{e:#}"
    );
    ok(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t VALUES (3)", "transactionId": id }),
    )
    .await;

    // Nothing was committed by any of those reads.
    assert_eq!(scalar(&app, "SELECT count(*) FROM t").await, 0);
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": id }),
    )
    .await;
    assert_eq!(scalar(&app, "SELECT count(*) FROM t").await, 0);
}

#[tokio::test]
async fn restricted_mode_hides_write_tools_and_reads_cannot_write() {
    let db = support::test_db().await;
    let admin = support::app(&db.url, &[]);
    sql(&admin, "CREATE TABLE t (id int)").await;
    canary(&admin).await;

    let app = support::app(&db.url, &["--access-mode", "restricted"]);
    for (tool, args) in [
        (
            "pg_write_query",
            json!({ "sql": "INSERT INTO t VALUES (1)" }),
        ),
        (
            "pg_create_table",
            json!({ "table": "x", "columns": [{ "name": "a", "type": "int" }] }),
        ),
        ("pg_drop_table", json!({ "table": "canary" })),
        (
            "pg_create_index",
            json!({ "table": "t", "columns": ["id"] }),
        ),
        ("pg_drop_index", json!({ "name": "canary_pkey" })),
        (
            "pg_upsert",
            json!({ "table": "t", "data": { "id": 1 }, "conflictColumns": ["id"] }),
        ),
        (
            "pg_batch_insert",
            json!({ "table": "t", "rows": [{ "id": 1 }] }),
        ),
        ("pg_truncate", json!({ "table": "canary" })),
    ] {
        let e = fail(&app, tool, args).await;
        expect(&e, "UNKNOWN_TOOL", "not_found");
        assert!(
            e["error"].as_str().unwrap().contains("not enabled"),
            "{e:#}"
        );
        has_suggestion(&e);
        assert!(app.registry.visible(&app.config).all(|t| t.name != tool));
    }
    for attempt in [
        "INSERT INTO t VALUES (1)",
        "DELETE FROM canary",
        "DROP TABLE canary",
        "WITH x AS (DELETE FROM canary RETURNING 1) SELECT count(*) FROM x",
    ] {
        let e = fail(&app, "pg_read_query", json!({ "sql": attempt })).await;
        expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    }
    // Read tools work.
    let v = ok(&app, "pg_list_tables", json!({})).await;
    assert_eq!(v["total"], 2);
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "canary" })).await["count"],
        3
    );
    assert_eq!(scalar(&admin, "SELECT count(*) FROM t").await, 0);
    canary_intact(&admin).await;
}

// ---------------------------------------------------------------------------------------
// identifiers

#[tokio::test]
async fn awkward_identifiers_work_across_tools() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE SCHEMA \"My Schema\"").await;
    let cols = json!([
        { "name": "Id", "type": "integer", "primaryKey": true },
        { "name": "first name", "type": "text" },
        { "name": "we\"ird.col", "type": "varchar(20)", "default": "'x'" }
    ]);
    // (table argument, schema argument, how it shows up in a listing)
    let cases: Vec<(&str, Option<&str>, (&str, &str))> = vec![
        ("MixedCase", None, ("public", "MixedCase")),
        ("has space", None, ("public", "has space")),
        ("\"q\"\"uote\"", None, ("public", "q\"uote")),
        ("q\"uote2", Some("public"), ("public", "q\"uote2")),
        ("a.b", Some("My Schema"), ("My Schema", "a.b")),
        ("\"My Schema\".\"c.d\"", None, ("My Schema", "c.d")),
        ("\"My Schema\".Plain", None, ("My Schema", "Plain")),
    ];
    for (table, schema, (lschema, lname)) in &cases {
        let mut target = json!({ "table": table });
        if let Some(s) = schema {
            target["schema"] = json!(s);
        }
        let mut create = target.clone();
        create["columns"] = cols.clone();
        ok(&app, "pg_create_table", create).await;

        let d = ok(&app, "pg_describe_table", target.clone()).await;
        assert_eq!(d["schema"], *lschema, "{d:#}");
        assert_eq!(d["name"], *lname, "{d:#}");
        let names: Vec<&str> = d["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Id", "first name", "we\"ird.col"]);
        assert_eq!(d["primaryKey"], json!(["Id"]));

        let mut ins = target.clone();
        ins["rows"] = json!([{ "Id": 1, "first name": "a" }, { "Id": 2, "we\"ird.col": "y" }]);
        assert_eq!(ok(&app, "pg_batch_insert", ins).await["inserted"], 2);

        let mut up = target.clone();
        up["data"] = json!({ "Id": 2, "first name": "b" });
        up["conflictColumns"] = json!(["Id"]);
        let u = ok(&app, "pg_upsert", up).await;
        assert_eq!(u["inserted"], false);
        assert_eq!(
            u["row"],
            json!({ "Id": 2, "first name": "b", "we\"ird.col": "y" })
        );

        assert_eq!(ok(&app, "pg_count", target.clone()).await["count"], 2);
        let mut c = target.clone();
        c["where"] = json!("\"we\"\"ird.col\" = $1");
        c["params"] = json!(["x"]);
        assert_eq!(ok(&app, "pg_count", c.clone()).await["count"], 1);
        assert_eq!(ok(&app, "pg_exists", c).await["exists"], true);

        let mut idx = target.clone();
        idx["columns"] = json!(["first name", "we\"ird.col DESC"]);
        let created = ok(&app, "pg_create_index", idx).await;
        let ix_name = created["created"].as_str().unwrap().to_string();
        let ix = ok(&app, "pg_get_indexes", target.clone()).await;
        assert!(
            ix["indexes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["name"] == ix_name.as_str()),
            "{ix:#}"
        );
        ok(
            &app,
            "pg_drop_index",
            json!({ "name": ix_name, "schema": lschema }),
        )
        .await;

        let listed = ok(
            &app,
            "pg_list_tables",
            json!({ "schema": lschema, "pattern": lname.replace('%', "") }),
        )
        .await;
        assert!(
            listed["tables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["name"] == *lname),
            "{listed:#}"
        );

        let mut det = json!({ "name": lname, "schema": lschema });
        det["type"] = json!("table");
        assert_eq!(ok(&app, "pg_object_details", det).await["name"], *lname);

        ok(&app, "pg_truncate", target.clone()).await;
        assert_eq!(ok(&app, "pg_count", target.clone()).await["count"], 0);
        ok(&app, "pg_drop_table", target.clone()).await;
        let e = fail(&app, "pg_describe_table", target.clone()).await;
        expect(&e, "NOT_FOUND", "not_found");
    }
    // Names are case-sensitive: "mixedcase" is not "MixedCase".
    ok(
        &app,
        "pg_create_table",
        json!({ "table": "MixedCase", "columns": [{ "name": "a", "type": "int" }] }),
    )
    .await;
    let e = fail(&app, "pg_describe_table", json!({ "table": "mixedcase" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(&app, "pg_count", json!({ "table": "mixedcase" })).await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    // More than two dotted parts without quotes is ambiguous.
    let e = fail(&app, "pg_describe_table", json!({ "table": "a.b.c" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);
    let e = fail(
        &app,
        "pg_describe_table",
        json!({ "table": "\"unterminated" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "x".repeat(64), "columns": [{ "name": "a", "type": "int" }] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn injection_through_names_never_touches_the_canary() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    let evil = "x\"; DROP TABLE canary; --";
    let evil2 = "canary\" CASCADE; DROP TABLE canary; --";

    // A lone double quote in a bare table name is malformed quoting: refused up front.
    for tool in [
        "pg_drop_table",
        "pg_truncate",
        "pg_count",
        "pg_exists",
        "pg_describe_table",
    ] {
        let e = fail(&app, tool, json!({ "table": evil })).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
    let e = fail(&app, "pg_drop_index", json!({ "name": evil2 })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    canary_intact(&app).await;

    // With an explicit schema the name is taken literally: created and used under the
    // evil name, never interpreted.
    let t = |extra: Value| {
        let mut v = json!({ "table": evil, "schema": "public" });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    ok(&app, "pg_create_table", t(json!({ "columns": [{ "name": evil, "type": "int", "primaryKey": true }, { "name": "v", "type": "text" }] }))).await;
    let d = ok(&app, "pg_describe_table", t(json!({}))).await;
    assert_eq!(d["name"], evil);
    assert_eq!(d["columns"][0]["name"], evil);
    // The quoted form of the same name works without the schema argument.
    let quoted = format!("\"{}\"", evil.replace('"', "\"\""));
    assert_eq!(
        ok(&app, "pg_describe_table", json!({ "table": quoted })).await["name"],
        evil
    );
    ok(
        &app,
        "pg_batch_insert",
        t(json!({ "rows": [{ evil: 1, "v": "a" }] })),
    )
    .await;
    ok(&app, "pg_upsert", t(json!({ "data": { evil: 1, "v": "b" }, "conflictColumns": [evil], "updateColumns": ["v"] }))).await;
    ok(
        &app,
        "pg_create_index",
        t(json!({ "columns": ["v", evil], "name": evil2 })),
    )
    .await;
    assert_eq!(ok(&app, "pg_count", t(json!({}))).await["count"], 1);
    assert_eq!(ok(&app, "pg_exists", t(json!({}))).await["exists"], true);
    let ix = ok(&app, "pg_get_indexes", t(json!({}))).await;
    assert!(
        ix["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == evil2),
        "{ix:#}"
    );
    ok(
        &app,
        "pg_drop_index",
        json!({ "name": evil2, "schema": "public" }),
    )
    .await;
    ok(&app, "pg_truncate", t(json!({}))).await;
    ok(&app, "pg_drop_table", t(json!({}))).await;
    canary_intact(&app).await;

    // Names of things that do not exist: a clean error each time.
    let balanced = "canary\"; DROP TABLE canary; --\"";
    for target in [
        json!({ "table": evil2, "schema": "public" }),
        json!({ "table": balanced }),
    ] {
        for tool in ["pg_drop_table", "pg_truncate", "pg_count", "pg_exists"] {
            let e = fail(&app, tool, target.clone()).await;
            expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
        }
        for tool in ["pg_describe_table", "pg_get_indexes"] {
            let e = fail(&app, tool, target.clone()).await;
            expect(&e, "NOT_FOUND", "not_found");
        }
    }
    let e = fail(
        &app,
        "pg_drop_index",
        json!({ "name": evil2, "schema": "public" }),
    )
    .await;
    expect_sql(&e, "SQL_ERROR", "database", "42704");
    let e = fail(
        &app,
        "pg_object_details",
        json!({ "name": evil2, "schema": "public" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "canary", "data": { evil: 1 }, "conflictColumns": ["id"] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "canary", "rows": [{ evil: 1 }] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "canary", "columns": [evil] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
    let e = fail(
        &app,
        "pg_describe_table",
        json!({ "table": "canary", "schema": "public\"; DROP TABLE canary; --" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");

    // Expressions and types are checked, not quoted.
    let e = fail(&app, "pg_create_table", json!({ "table": "t", "columns": [{ "name": "a", "type": "int); DROP TABLE canary; --" }] })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);
    let e = fail(&app, "pg_create_table", json!({ "table": "t", "columns": [{ "name": "a", "type": "int", "default": "0); DROP TABLE canary; --" }] })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_count",
        json!({ "table": "canary", "where": "true; DROP TABLE canary" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "canary", "columns": ["id"], "where": "id > 0; DROP TABLE canary" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    // A where clause that would write is stopped by the read-only transaction.
    sql(
        &app,
        "CREATE FUNCTION zap() RETURNS bool LANGUAGE sql AS 'DELETE FROM canary RETURNING true'",
    )
    .await;
    for tool in ["pg_count", "pg_exists"] {
        let e = fail(&app, tool, json!({ "table": "canary", "where": "zap()" })).await;
        expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    }
    canary_intact(&app).await;
}

// ---------------------------------------------------------------------------------------
// pg_describe_table, pg_list_tables

#[tokio::test]
async fn describe_table_reports_everything() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE parent (id int PRIMARY KEY, code text UNIQUE)",
    )
    .await;
    sql(
        &app,
        "CREATE TABLE child (
            id bigserial PRIMARY KEY,
            parent_id int NOT NULL REFERENCES parent (id) ON DELETE CASCADE,
            qty numeric(10, 2) DEFAULT 0 CHECK (qty >= 0),
            status varchar(20) NOT NULL DEFAULT 'new',
            total int GENERATED ALWAYS AS (parent_id * 2) STORED,
            note text
        )",
    )
    .await;
    sql(
        &app,
        "CREATE INDEX child_status_idx ON child (status) WHERE note IS NULL",
    )
    .await;
    sql(&app, "COMMENT ON TABLE child IS 'Order lines'").await;
    sql(&app, "COMMENT ON COLUMN child.qty IS 'How many'").await;
    sql(
        &app,
        "INSERT INTO parent SELECT g, 'c' || g FROM generate_series(1, 10) g",
    )
    .await;
    sql(
        &app,
        "INSERT INTO child (parent_id, qty) SELECT 1 + g % 10, g FROM generate_series(1, 50) g",
    )
    .await;
    sql(&app, "ANALYZE child").await;

    let d = ok(&app, "pg_describe_table", json!({ "table": "child" })).await;
    assert_eq!(d["schema"], "public");
    assert_eq!(d["name"], "child");
    assert_eq!(d["kind"], "table");
    assert_eq!(d["comment"], "Order lines");
    assert_eq!(d["rowEstimate"], 50);
    assert!(d["sizeBytes"].as_i64().unwrap() > 0, "{d:#}");
    assert!(d["size"].is_string());

    let cols = d["columns"].as_array().unwrap();
    let col = |n: &str| {
        cols.iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {d:#}"))
    };
    assert_eq!(cols.len(), 6);
    assert_eq!(col("id")["type"], "bigint");
    assert_eq!(col("id")["nullable"], false);
    assert_eq!(col("id")["default"], "nextval('child_id_seq'::regclass)");
    assert_eq!(col("parent_id")["type"], "integer");
    assert_eq!(col("parent_id")["nullable"], false);
    assert!(col("parent_id").get("default").is_none());
    assert_eq!(col("qty")["type"], "numeric(10,2)");
    assert_eq!(col("qty")["nullable"], true);
    assert_eq!(col("qty")["default"], "0");
    assert_eq!(col("qty")["comment"], "How many");
    assert_eq!(col("status")["type"], "character varying(20)");
    assert_eq!(col("status")["default"], "'new'::character varying");
    assert_eq!(col("total")["generated"], "(parent_id * 2)");
    assert!(col("total").get("default").is_none());
    assert_eq!(col("note")["nullable"], true);

    assert_eq!(d["primaryKey"], json!(["id"]));
    let fks = d["foreignKeys"].as_array().unwrap();
    assert_eq!(fks.len(), 1);
    assert_eq!(fks[0]["columns"], json!(["parent_id"]));
    assert_eq!(fks[0]["referencesTable"], "parent");
    assert_eq!(fks[0]["referencesColumns"], json!(["id"]));
    assert!(
        fks[0]["definition"]
            .as_str()
            .unwrap()
            .contains("ON DELETE CASCADE"),
        "{d:#}"
    );
    let cons = d["constraints"].as_array().unwrap();
    assert!(
        cons.iter()
            .any(|c| c["type"] == "check" && c["columns"] == json!(["qty"])),
        "{d:#}"
    );

    let idx = d["indexes"].as_array().unwrap();
    assert_eq!(idx.len(), 2, "{d:#}");
    let pk = idx.iter().find(|i| i["name"] == "child_pkey").unwrap();
    assert_eq!(
        (pk["primary"].clone(), pk["unique"].clone()),
        (json!(true), json!(true))
    );
    let st = idx
        .iter()
        .find(|i| i["name"] == "child_status_idx")
        .unwrap();
    assert_eq!(st["unique"], false);
    assert!(
        st["definition"]
            .as_str()
            .unwrap()
            .contains("WHERE (note IS NULL)"),
        "{st}"
    );
    assert!(st.get("invalid").is_none());

    let p = ok(
        &app,
        "pg_describe_table",
        json!({ "table": "public.parent" }),
    )
    .await;
    assert!(p.get("foreignKeys").is_none());
    assert!(p.get("comment").is_none());
    assert!(
        p["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "unique" && c["columns"] == json!(["code"]))
    );
}

#[tokio::test]
async fn describe_table_errors() {
    let (_db, app) = setup(&[]).await;
    let e = fail(&app, "pg_describe_table", json!({ "table": "nope" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    assert!(e["error"].as_str().unwrap().contains("nope"));
    has_suggestion(&e);
    let e = fail(
        &app,
        "pg_describe_table",
        json!({ "table": "t", "schema": "no_schema" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(&app, "pg_describe_table", json!({ "name": "t" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(has_suggestion(&e).contains("table (string, required)"));
    let e = fail(&app, "pg_describe_table", json!({ "table": "" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn list_tables_hides_system_schemas_and_pages() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE SCHEMA app").await;
    for i in 1..=5 {
        sql(&app, &format!("CREATE TABLE app.t{i} (id int)")).await;
    }
    sql(&app, "CREATE TABLE public.orders (id int)").await;
    sql(&app, "COMMENT ON TABLE public.orders IS 'customer orders'").await;

    let v = ok(&app, "pg_list_tables", json!({})).await;
    assert_eq!(v["total"], 6);
    assert!(v.get("nextOffset").is_none());
    let tables = v["tables"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .all(|t| t["schema"] != "pg_catalog" && t["schema"] != "information_schema")
    );
    let orders = tables.iter().find(|t| t["name"] == "orders").unwrap();
    assert_eq!(orders["comment"], "customer orders");
    assert!(orders["size"].is_string());

    let v = ok(
        &app,
        "pg_list_tables",
        json!({ "includeSystem": true, "limit": 1000 }),
    )
    .await;
    let tables = v["tables"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .any(|t| t["schema"] == "pg_catalog" && t["name"] == "pg_class"),
        "{v:#}"
    );
    assert!(v["total"].as_u64().unwrap() > 50);

    let v = ok(
        &app,
        "pg_list_tables",
        json!({ "schema": "app", "limit": 2 }),
    )
    .await;
    assert_eq!(v["total"], 5);
    assert_eq!(v["nextOffset"], 2);
    let names: Vec<&str> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t1", "t2"]);
    let v = ok(
        &app,
        "pg_list_tables",
        json!({ "schema": "app", "limit": 2, "offset": 2 }),
    )
    .await;
    assert_eq!(v["nextOffset"], 4);
    assert_eq!(v["tables"][0]["name"], "t3");
    let v = ok(
        &app,
        "pg_list_tables",
        json!({ "schema": "app", "limit": 2, "offset": 4 }),
    )
    .await;
    assert_eq!(v["total"], 5);
    assert_eq!(v["tables"].as_array().unwrap().len(), 1);
    assert!(v.get("nextOffset").is_none(), "{v}");

    let v = ok(&app, "pg_list_tables", json!({ "pattern": "%ORDER%" })).await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["tables"][0]["name"], "orders");
    let v = ok(&app, "pg_list_tables", json!({ "schema": "nothing_here" })).await;
    assert_eq!(v["total"], 0);
    assert_eq!(v["tables"], json!([]));
}

#[tokio::test]
async fn an_explicit_system_schema_is_listed() {
    let (_db, app) = setup(&[]).await;
    let v = ok(
        &app,
        "pg_list_tables",
        json!({ "schema": "pg_catalog", "pattern": "pg_class" }),
    )
    .await;
    assert_eq!(v["total"], 1, "{v:#}");
    let v = ok(&app, "pg_get_indexes", json!({ "schema": "pg_catalog" })).await;
    assert!(
        v["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["table"] == "pg_class"),
        "{v:#}"
    );
    let v = ok(
        &app,
        "pg_list_objects",
        json!({ "schema": "pg_catalog", "pattern": "now", "types": ["function"] }),
    )
    .await;
    assert_eq!(v["total"], 1, "{v:#}");
}

#[tokio::test]
async fn list_tables_argument_errors() {
    let (_db, app) = setup(&[]).await;
    for args in [
        json!({ "limit": -1 }),
        json!({ "limit": "ten" }),
        json!({ "includesystem": true }),
        json!({ "schema": 1 }),
    ] {
        let e = fail(&app, "pg_list_tables", args).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(has_suggestion(&e).contains("includeSystem"), "{e:#}");
    }
    // The pattern is only checked against a row, so there must be one.
    sql(&app, "CREATE TABLE t (id int)").await;
    let e = fail(&app, "pg_list_tables", json!({ "pattern": "t\\" })).await;
    expect_sql(&e, "DATA_EXCEPTION", "database", "22025");
}

// ---------------------------------------------------------------------------------------
// pg_create_table, pg_drop_table

#[tokio::test]
async fn create_table_with_every_column_option() {
    let (_db, app) = setup(&[]).await;
    ok(
        &app,
        "pg_create_table",
        json!({ "table": "customers", "columns": [
        { "name": "id", "type": "serial", "primaryKey": true },
        { "name": "email", "type": "text", "nullable": false, "unique": true }
    ] }),
    )
    .await;
    let v = ok(&app, "pg_create_table", json!({
        "table": "orders",
        "columns": [
            { "name": "customer_id", "type": "integer", "references": "customers(id)", "onDelete": "cascade" },
            { "name": "line", "type": "int" },
            { "name": "status", "type": "varchar(20)", "default": "'pending'", "nullable": false },
            { "name": "amount", "type": "numeric(10, 2)", "default": "0" },
            { "name": "created", "type": "timestamp with time zone", "default": "now()" },
            { "name": "tags", "type": "text[]" }
        ],
        "primaryKey": ["customer_id", "line"],
        "comment": "it's an \"order\" \\ table"
    }))
    .await;
    assert_eq!(v["created"], "orders");
    assert!(
        v["sql"]
            .as_str()
            .unwrap()
            .starts_with("CREATE TABLE \"orders\""),
        "{v}"
    );

    let d = ok(&app, "pg_describe_table", json!({ "table": "orders" })).await;
    assert_eq!(d["primaryKey"], json!(["customer_id", "line"]));
    assert_eq!(d["comment"], "it's an \"order\" \\ table");
    assert_eq!(d["foreignKeys"][0]["referencesTable"], "customers");
    assert!(
        d["foreignKeys"][0]["definition"]
            .as_str()
            .unwrap()
            .contains("ON DELETE CASCADE")
    );
    let cols = d["columns"].as_array().unwrap();
    assert_eq!(cols[2]["default"], "'pending'::character varying");
    assert_eq!(cols[2]["nullable"], false);
    assert_eq!(cols[3]["type"], "numeric(10,2)");
    assert_eq!(cols[4]["type"], "timestamp with time zone");
    assert_eq!(cols[5]["type"], "text[]");
    let c = ok(&app, "pg_describe_table", json!({ "table": "customers" })).await;
    assert!(
        c["constraints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["type"] == "unique")
    );

    // ifNotExists makes a repeat a no-op.
    ok(&app, "pg_create_table", json!({ "table": "customers", "ifNotExists": true, "columns": [{ "name": "x", "type": "int" }] })).await;
    assert_eq!(
        ok(&app, "pg_describe_table", json!({ "table": "customers" })).await["columns"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The default and foreign key do their jobs.
    ok(
        &app,
        "pg_batch_insert",
        json!({ "table": "customers", "rows": [{ "email": "a@x" }] }),
    )
    .await;
    let r = ok(
        &app,
        "pg_batch_insert",
        json!({ "table": "orders", "rows": [{ "customer_id": 1, "line": 1 }], "returning": true }),
    )
    .await;
    assert_eq!(r["rows"][0]["status"], "pending");
    assert_eq!(r["rows"][0]["amount"], "0.00");
    sql(&app, "DELETE FROM customers").await;
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "orders" })).await["count"],
        0
    );
}

#[tokio::test]
async fn create_table_errors() {
    let (_db, app) = setup(&[]).await;
    let one = json!([{ "name": "a", "type": "int" }]);
    ok(
        &app,
        "pg_create_table",
        json!({ "table": "t", "columns": one }),
    )
    .await;
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "t", "columns": one }),
    )
    .await;
    expect_sql(&e, "ALREADY_EXISTS", "database", "42P07");
    assert!(has_suggestion(&e).contains("ifNotExists"));

    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "u", "columns": [] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "u", "columns": [{ "name": "a", "type": "no_such_type" }] }),
    )
    .await;
    expect_sql(&e, "SQL_ERROR", "database", "42704");
    let e = fail(&app, "pg_create_table", json!({ "table": "u", "columns": [{ "name": "a", "type": "int", "references": "missing(id)" }] })).await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "u", "schema": "missing", "columns": one }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_SCHEMA", "database", "3F000");
    has_suggestion(&e);
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "u", "columns": [{ "name": "a", "type": "int", "onDelete": "explode" }] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "u", "columns": [{ "name": "a" }] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        has_suggestion(&e).contains("columns (array, required)"),
        "{e:#}"
    );
    let e = fail(&app, "pg_create_table", json!({ "table": "u", "columns": [{ "name": "a", "type": "int" }, { "name": "a", "type": "int" }] })).await;
    expect_sql(&e, "SQL_ERROR", "database", "42701");
    // Nothing half-created.
    assert_eq!(scalar(&app, "SELECT to_regclass('u') IS NULL").await, true);
}

#[tokio::test]
async fn drop_table_variants_and_errors() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE a (id int PRIMARY KEY)").await;
    sql(&app, "CREATE TABLE b (a_id int REFERENCES a)").await;
    sql(&app, "CREATE TABLE c (id int)").await;

    let v = ok(&app, "pg_drop_table", json!({ "table": "c" })).await;
    assert_eq!(v["dropped"], "c");
    let e = fail(&app, "pg_drop_table", json!({ "table": "c" })).await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    has_suggestion(&e);
    ok(
        &app,
        "pg_drop_table",
        json!({ "table": "c", "ifExists": true }),
    )
    .await;

    let e = fail(&app, "pg_drop_table", json!({ "table": "a" })).await;
    expect_sql(&e, "SQL_ERROR", "database", "2BP01");
    has_suggestion(&e); // PostgreSQL's hint: use DROP ... CASCADE
    ok(
        &app,
        "pg_drop_table",
        json!({ "table": "public.a", "cascade": true }),
    )
    .await;
    assert_eq!(scalar(&app, "SELECT to_regclass('a') IS NULL").await, true);
    // b survives, only its foreign key is gone.
    assert!(
        ok(&app, "pg_describe_table", json!({ "table": "b" }))
            .await
            .get("foreignKeys")
            .is_none()
    );

    let e = fail(&app, "pg_drop_table", json!({})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);
}

// ---------------------------------------------------------------------------------------
// indexes

#[tokio::test]
async fn indexes_create_list_drop() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id int PRIMARY KEY, email text, doc jsonb, created timestamptz, deleted bool)").await;

    let v = ok(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["email"], "unique": true }),
    )
    .await;
    assert_eq!(v["created"], "t_email_idx");
    ok(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["doc"], "method": "gin", "name": "t_doc_gin" }),
    )
    .await;
    ok(&app, "pg_create_index", json!({ "table": "t", "columns": ["created DESC", "id asc"], "where": "deleted IS NOT TRUE", "concurrently": true })).await;
    ok(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["email"], "name": "t_email_idx", "ifNotExists": true }),
    )
    .await;

    let v = ok(&app, "pg_get_indexes", json!({ "table": "t" })).await;
    let idx = v["indexes"].as_array().unwrap();
    assert_eq!(idx.len(), 4, "{v:#}");
    let by = |n: &str| {
        idx.iter()
            .find(|i| i["name"] == n)
            .unwrap_or_else(|| panic!("{n} in {v:#}"))
    };
    assert_eq!(by("t_pkey")["primary"], true);
    assert_eq!(by("t_email_idx")["unique"], true);
    assert_eq!(by("t_email_idx")["method"], "btree");
    assert_eq!(by("t_doc_gin")["method"], "gin");
    let partial = by("t_created_id_idx");
    let def = partial["definition"].as_str().unwrap();
    assert!(
        def.contains("created DESC") && def.contains("WHERE (deleted IS NOT TRUE)"),
        "{def}"
    );
    assert_eq!(partial["table"], "t");
    assert_eq!(partial["schema"], "public");

    // Without a table: every user index, no catalog ones unless asked.
    let all = ok(&app, "pg_get_indexes", json!({})).await;
    assert_eq!(all["indexes"].as_array().unwrap().len(), 4);
    let sys = ok(&app, "pg_get_indexes", json!({ "includeSystem": true })).await;
    assert!(
        sys["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["schema"] == "pg_catalog")
    );
    let none = ok(
        &app,
        "pg_get_indexes",
        json!({ "schema": "information_schema" }),
    )
    .await;
    assert_eq!(none["indexes"], json!([]));

    // The unique index is enforced.
    sql(&app, "INSERT INTO t (id, email) VALUES (1, 'a')").await;
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO t (id, email) VALUES (2, 'a')" }),
    )
    .await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23505");
    assert_eq!(e["details"]["constraint"], "t_email_idx");

    let v = ok(&app, "pg_drop_index", json!({ "name": "t_doc_gin" })).await;
    assert_eq!(v["dropped"], "t_doc_gin");
    ok(
        &app,
        "pg_drop_index",
        json!({ "name": "public.t_created_id_idx", "concurrently": true }),
    )
    .await;
    ok(
        &app,
        "pg_drop_index",
        json!({ "name": "t_doc_gin", "ifExists": true }),
    )
    .await;
    assert_eq!(
        ok(&app, "pg_get_indexes", json!({ "table": "t" })).await["indexes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn index_errors() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id int PRIMARY KEY, v int)").await;
    sql(&app, "INSERT INTO t VALUES (1, 1), (2, 1)").await;

    let e = fail(&app, "pg_get_indexes", json!({ "table": "missing" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    has_suggestion(&e);
    let e = fail(&app, "pg_get_indexes", json!({ "table": 3 })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");

    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": [] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["nope"] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "missing", "columns": ["v"] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["v"], "unique": true }),
    )
    .await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23505");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["v"], "name": "t_pkey" }),
    )
    .await;
    expect_sql(&e, "ALREADY_EXISTS", "database", "42P07");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["v"], "method": "rtree" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_index",
        json!({ "table": "t", "columns": ["v"], "where": "v > 0 -- c" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");

    let e = fail(&app, "pg_drop_index", json!({ "name": "missing_idx" })).await;
    expect_sql(&e, "SQL_ERROR", "database", "42704");
    let e = fail(&app, "pg_drop_index", json!({ "name": "t_pkey" })).await;
    expect_sql(&e, "SQL_ERROR", "database", "2BP01");
    has_suggestion(&e);
    let e = fail(&app, "pg_drop_index", json!({ "index": "t_pkey" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(has_suggestion(&e).contains("name (string, required)"));
}

// ---------------------------------------------------------------------------------------
// pg_list_objects, pg_object_details, pg_list_extensions

async fn make_objects(app: &Arc<App>) {
    sql(app, "CREATE SCHEMA s").await;
    sql(
        app,
        "CREATE TABLE s.items (id int PRIMARY KEY, price numeric)",
    )
    .await;
    sql(
        app,
        "CREATE VIEW s.cheap AS SELECT id FROM s.items WHERE price < 10",
    )
    .await;
    sql(
        app,
        "CREATE MATERIALIZED VIEW s.totals AS SELECT count(*) AS n FROM s.items",
    )
    .await;
    sql(app, "CREATE SEQUENCE s.ticket START 100 INCREMENT 5").await;
    sql(
        app,
        "CREATE FUNCTION s.add_one(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1'",
    )
    .await;
    sql(
        app,
        "CREATE FUNCTION s.add_one(x text) RETURNS text LANGUAGE sql AS $$SELECT x || '1'$$",
    )
    .await;
    sql(
        app,
        "CREATE PROCEDURE s.noop() LANGUAGE plpgsql AS $$BEGIN END$$",
    )
    .await;
    sql(app, "CREATE TYPE s.mood AS ENUM ('sad', 'ok', 'happy')").await;
    sql(app, "CREATE DOMAIN s.posint AS int CHECK (VALUE > 0)").await;
    sql(app, "CREATE TYPE s.pair AS (a int, b text)").await;
    sql(app, "COMMENT ON FUNCTION s.add_one(int) IS 'adds one'").await;
}

#[tokio::test]
async fn list_objects_filters_and_pages() {
    let (_db, app) = setup(&[]).await;
    make_objects(&app).await;

    let v = ok(&app, "pg_list_objects", json!({ "schema": "s" })).await;
    let objs = v["objects"].as_array().unwrap();
    let kinds = |t: &str| {
        objs.iter()
            .filter(|o| o["type"] == t)
            .map(|o| o["name"].as_str().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds("table"), ["items"]);
    assert_eq!(kinds("view"), ["cheap"]);
    assert_eq!(kinds("materialized_view"), ["totals"]);
    assert_eq!(kinds("sequence"), ["ticket"]);
    assert_eq!(kinds("index"), ["items_pkey"]);
    assert_eq!(kinds("function"), ["add_one", "add_one"]);
    assert_eq!(kinds("procedure"), ["noop"]);
    let mut types = kinds("type");
    types.sort();
    assert_eq!(types, ["mood", "pair", "posint"]);
    assert_eq!(v["total"], objs.len());
    assert!(
        objs.iter()
            .any(|o| o["name"] == "add_one" && o["arguments"] == "x integer")
    );

    let v = ok(
        &app,
        "pg_list_objects",
        json!({ "types": ["function", "procedure"] }),
    )
    .await;
    assert_eq!(v["total"], 3, "{v:#}");
    let v = ok(&app, "pg_list_objects", json!({ "pattern": "ADD%" })).await;
    assert_eq!(v["total"], 2);
    let v = ok(
        &app,
        "pg_list_objects",
        json!({ "schema": "s", "limit": 3, "offset": 3 }),
    )
    .await;
    assert_eq!(v["objects"].as_array().unwrap().len(), 3);
    assert_eq!(v["nextOffset"], 6);

    // System objects are hidden unless asked for.
    let v = ok(&app, "pg_list_objects", json!({ "pattern": "pg_class" })).await;
    assert_eq!(v["total"], 0);
    let v = ok(
        &app,
        "pg_list_objects",
        json!({ "pattern": "pg_class", "includeSystem": true, "types": ["table"] }),
    )
    .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["objects"][0]["schema"], "pg_catalog");
}

#[tokio::test]
async fn list_objects_errors() {
    let (_db, app) = setup(&[]).await;
    let e = fail(&app, "pg_list_objects", json!({ "types": ["bogus"] })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);
    let e = fail(&app, "pg_list_objects", json!({ "types": "table" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(&app, "pg_list_objects", json!({ "offset": -5 })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn object_details_for_each_kind() {
    let (_db, app) = setup(&[]).await;
    make_objects(&app).await;

    let v = ok(&app, "pg_object_details", json!({ "name": "s.items" })).await;
    assert_eq!(v["type"], "table");
    assert_eq!(v["primaryKey"], json!(["id"]));

    let v = ok(
        &app,
        "pg_object_details",
        json!({ "name": "cheap", "schema": "s" }),
    )
    .await;
    assert_eq!(v["type"], "view");
    assert!(
        v["definition"].as_str().unwrap().contains("price < 10"),
        "{v:#}"
    );
    assert_eq!(v["columns"], json!([{ "name": "id", "type": "integer" }]));

    let v = ok(&app, "pg_object_details", json!({ "name": "s.totals" })).await;
    assert_eq!(v["type"], "materialized_view");

    let v = ok(&app, "pg_object_details", json!({ "name": "s.ticket" })).await;
    assert_eq!(v["type"], "sequence");
    assert_eq!(v["start"], 100);
    assert_eq!(v["increment"], 5);
    assert_eq!(v["dataType"], "bigint");

    let v = ok(&app, "pg_object_details", json!({ "name": "s.items_pkey" })).await;
    assert_eq!(v["type"], "index");
    assert_eq!(v["primary"], true);
    assert_eq!(v["table"], "s.items");

    let v = ok(&app, "pg_object_details", json!({ "name": "s.noop" })).await;
    assert_eq!(v["type"], "procedure");
    assert_eq!(v["language"], "plpgsql");

    let v = ok(
        &app,
        "pg_object_details",
        json!({ "name": "s.add_one", "type": "function" }),
    )
    .await;
    let overloads = v["overloads"].as_array().unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(overloads.len(), 2);
    let int = overloads
        .iter()
        .find(|o| o["arguments"] == "x integer")
        .unwrap();
    assert_eq!(int["returns"], "integer");
    assert_eq!(int["volatility"], "immutable");
    assert_eq!(int["comment"], "adds one");
    assert!(int["definition"].as_str().unwrap().contains("SELECT x + 1"));

    let v = ok(&app, "pg_object_details", json!({ "name": "s.mood" })).await;
    assert_eq!(v["kind"], "enum");
    assert_eq!(v["labels"], json!(["sad", "ok", "happy"]));
    let v = ok(
        &app,
        "pg_object_details",
        json!({ "name": "posint", "schema": "s", "type": "type" }),
    )
    .await;
    assert_eq!(v["kind"], "domain");
    assert_eq!(v["baseType"], "integer");
    let v = ok(&app, "pg_object_details", json!({ "name": "s.pair" })).await;
    assert_eq!(v["kind"], "composite");
    assert_eq!(
        v["attributes"],
        json!([{ "name": "a", "type": "integer" }, { "name": "b", "type": "text" }])
    );

    // Unqualified names follow the search_path.
    let v = ok(
        &app,
        "pg_object_details",
        json!({ "name": "now", "type": "function" }),
    )
    .await;
    assert_eq!(v["schema"], "pg_catalog");
}

#[tokio::test]
async fn object_details_errors() {
    let (_db, app) = setup(&[]).await;
    make_objects(&app).await;
    let e = fail(&app, "pg_object_details", json!({ "name": "s.nothing" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    has_suggestion(&e);
    // A type filter that does not match the object's kind finds nothing.
    let e = fail(
        &app,
        "pg_object_details",
        json!({ "name": "s.mood", "type": "function" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    // Not on the search_path without a schema.
    let e = fail(&app, "pg_object_details", json!({ "name": "mood" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_object_details",
        json!({ "name": "s.mood", "type": "enum" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn list_extensions_installed_and_available() {
    let (_db, app) = setup(&[]).await;
    let v = ok(&app, "pg_list_extensions", json!({})).await;
    let exts = v["extensions"].as_array().unwrap();
    let plpgsql = exts
        .iter()
        .find(|e| e["name"] == "plpgsql")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(plpgsql["schema"], "pg_catalog");
    assert!(plpgsql["version"].is_string());

    let v = ok(&app, "pg_list_extensions", json!({ "available": true })).await;
    let exts = v["extensions"].as_array().unwrap();
    let p = exts.iter().find(|e| e["name"] == "plpgsql").unwrap();
    assert!(p["installedVersion"].is_string());
    assert!(exts.iter().all(|e| e["defaultVersion"].is_string()));

    let e = fail(&app, "pg_list_extensions", json!({ "available": "yes" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(has_suggestion(&e).contains("available (boolean)"), "{e:#}");
    let e = fail(&app, "pg_list_extensions", json!({ "installed": true })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

// ---------------------------------------------------------------------------------------
// pg_count, pg_exists

#[tokio::test]
async fn count_and_exists() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id int, status text)").await;
    sql(&app, "INSERT INTO t SELECT g, CASE WHEN g % 3 = 0 THEN 'done' ELSE 'open' END FROM generate_series(1, 30) g").await;

    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "t" })).await,
        json!({ "count": 30 })
    );
    assert_eq!(
        ok(
            &app,
            "pg_count",
            json!({ "table": "public.t", "where": "status = $1", "params": ["done"] })
        )
        .await["count"],
        10
    );
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "t", "where": "  " })).await["count"],
        30
    );
    assert_eq!(
        ok(
            &app,
            "pg_count",
            json!({ "table": "t", "where": "id > $1 AND id <= $2", "params": [5, 7] })
        )
        .await["count"],
        2
    );
    // A trailing line comment cannot swallow what pgmcp puts after the condition.
    assert_eq!(
        ok(
            &app,
            "pg_count",
            json!({ "table": "t", "where": "id <= $1 -- the first ten", "params": [10] })
        )
        .await["count"],
        10
    );
    assert_eq!(
        ok(&app, "pg_exists", json!({ "table": "t" })).await,
        json!({ "exists": true })
    );
    assert_eq!(
        ok(
            &app,
            "pg_exists",
            json!({ "table": "t", "where": "id = $1", "params": [31] })
        )
        .await["exists"],
        false
    );
    assert_eq!(
        ok(
            &app,
            "pg_exists",
            json!({ "table": "t", "schema": "public", "where": "status = 'done'" })
        )
        .await["exists"],
        true
    );
    sql(&app, "CREATE TABLE empty (id int)").await;
    assert_eq!(
        ok(&app, "pg_exists", json!({ "table": "empty" })).await["exists"],
        false
    );
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "empty" })).await["count"],
        0
    );
}

#[tokio::test]
async fn count_and_exists_errors() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id int)").await;
    for tool in ["pg_count", "pg_exists"] {
        let e = fail(&app, tool, json!({ "table": "missing" })).await;
        expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
        has_suggestion(&e);
        let e = fail(&app, tool, json!({ "table": "t", "where": "nope = 1" })).await;
        expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
        let e = fail(&app, tool, json!({ "table": "t", "where": "id = $1" })).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        has_suggestion(&e);
        let e = fail(
            &app,
            tool,
            json!({ "table": "t", "where": "true) UNION SELECT 1 WHERE (true" }),
        )
        .await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        let e = fail(
            &app,
            tool,
            json!({ "table": "t", "where": "true) LIMIT (0 --" }),
        )
        .await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        let e = fail(
            &app,
            tool,
            json!({ "table": "t", "where": "id = $1", "params": ["x"] }),
        )
        .await;
        expect_sql(&e, "DATA_EXCEPTION", "database", "22P02");
        let e = fail(&app, tool, json!({ "table": "t", "filter": "id = 1" })).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(has_suggestion(&e).contains("where"), "{e:#}");
    }
}

// ---------------------------------------------------------------------------------------
// pg_upsert

#[tokio::test]
async fn upsert_inserts_then_updates() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE kv (k text PRIMARY KEY, v int, note text DEFAULT 'n')",
    )
    .await;
    let v = ok(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": { "k": "a", "v": 1 }, "conflictColumns": ["k"] }),
    )
    .await;
    assert_eq!(v["inserted"], true, "{v:#}");
    assert_eq!(v["rowsAffected"], 1);
    assert_eq!(v["row"], json!({ "k": "a", "v": 1, "note": "n" }));

    let v = ok(&app, "pg_upsert", json!({ "table": "kv", "data": { "k": "a", "v": 2, "note": "m" }, "conflictColumns": ["k"] })).await;
    assert_eq!(v["inserted"], false, "{v:#}");
    assert_eq!(v["rowsAffected"], 1);
    assert_eq!(v["row"], json!({ "k": "a", "v": 2, "note": "m" }));

    // Only the named columns are overwritten.
    let v = ok(&app, "pg_upsert", json!({ "table": "kv", "data": { "k": "a", "v": 3, "note": "ignored" }, "conflictColumns": ["k"], "updateColumns": ["v"] })).await;
    assert_eq!(v["row"], json!({ "k": "a", "v": 3, "note": "m" }));

    // Without RETURNING: just the count.
    let v = ok(&app, "pg_upsert", json!({ "table": "kv", "data": { "k": "b", "v": 1 }, "conflictColumns": ["k"], "returning": false })).await;
    assert_eq!(v, json!({ "rowsAffected": 1 }));

    // Only key columns: DO NOTHING on conflict.
    let v = ok(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": { "k": "b" }, "conflictColumns": ["k"] }),
    )
    .await;
    assert_eq!(v["rowsAffected"], 0);
    assert_eq!(scalar(&app, "SELECT v FROM kv WHERE k = 'b'").await, 1);
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "kv" })).await["count"],
        2
    );
}

#[tokio::test]
async fn upsert_errors() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL, w int)",
    )
    .await;
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": {}, "conflictColumns": ["k"] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": { "k": "a", "v": 1 }, "conflictColumns": [] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": { "k": "a", "v": 1 } }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        has_suggestion(&e).contains("conflictColumns (array, required)"),
        "{e:#}"
    );
    // No unique constraint on w.
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": { "w": 1, "v": 1, "k": "x" }, "conflictColumns": ["w"] }),
    )
    .await;
    expect_sql(&e, "SQL_ERROR", "database", "42P10");
    let e = fail(&app, "pg_upsert", json!({ "table": "kv", "data": { "k": "a" }, "conflictColumns": ["k"], "updateColumns": ["v"] })).await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23502");
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "kv", "data": { "k": "a", "v": "one" }, "conflictColumns": ["k"] }),
    )
    .await;
    expect_sql(&e, "DATA_EXCEPTION", "database", "22P02");
    let e = fail(
        &app,
        "pg_upsert",
        json!({ "table": "missing", "data": { "k": "a" }, "conflictColumns": ["k"] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "kv" })).await["count"],
        0
    );
}

// ---------------------------------------------------------------------------------------
// pg_batch_insert

#[tokio::test]
async fn batch_insert_basic_and_returning() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL, qty int DEFAULT 7, doc jsonb, tags text[])").await;
    let v = ok(
        &app,
        "pg_batch_insert",
        json!({
            "table": "t",
            "rows": [
                { "name": "a", "qty": 1, "doc": { "x": [1, 2] }, "tags": ["p", "q"] },
                { "name": "b" },
                { "name": "c", "qty": null }
            ],
            "returning": true
        }),
    )
    .await;
    assert_eq!(v["inserted"], 3);
    assert!(v.get("truncated").is_none());
    let r = v["rows"].as_array().unwrap();
    assert_eq!(
        r[0],
        json!({ "id": 1, "name": "a", "qty": 1, "doc": { "x": [1, 2] }, "tags": ["p", "q"] })
    );
    // A missing column gets its default; an explicit null stays null.
    assert_eq!(r[1]["qty"], 7);
    assert_eq!(r[2]["qty"], Value::Null);

    let v = ok(&app, "pg_batch_insert", json!({ "table": "t", "rows": [{ "id": 1, "name": "dup" }, { "id": 10, "name": "new" }], "onConflictDoNothing": true })).await;
    assert_eq!(v, json!({ "inserted": 1 }));
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "t" })).await["count"],
        4
    );
}

#[tokio::test]
async fn batch_insert_many_chunks() {
    let (_db, app) = setup(&["--max-rows", "100"]).await;
    sql(&app, "CREATE TABLE big (a int PRIMARY KEY, b text, c bool)").await;
    let rows: Vec<Value> = (0..2500)
        .map(|i| json!({ "a": i, "b": format!("row {i}"), "c": i % 2 == 0 }))
        .collect();
    let v = ok(
        &app,
        "pg_batch_insert",
        json!({ "table": "big", "rows": rows, "returning": true }),
    )
    .await;
    assert_eq!(v["inserted"], 2500);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["rows"].as_array().unwrap().len(), 100);
    assert_eq!(scalar(&app, "SELECT count(*) FROM big").await, 2500);
    assert_eq!(
        scalar(&app, "SELECT sum(a) FROM big").await,
        2500 * 2499 / 2
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM big WHERE c").await, 1250);

    // Wide rows: fewer rows per chunk, still one atomic insert.
    let cols: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    let defs = cols
        .iter()
        .map(|c| format!("{c} int"))
        .collect::<Vec<_>>()
        .join(", ");
    sql(&app, &format!("CREATE TABLE wide ({defs})")).await;
    let rows: Vec<Value> = (0..2000)
        .map(|r| {
            Value::Object(
                cols.iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), json!(r * 40 + i)))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        ok(
            &app,
            "pg_batch_insert",
            json!({ "table": "wide", "rows": rows })
        )
        .await["inserted"],
        2000
    );
    assert_eq!(scalar(&app, "SELECT count(*) FROM wide").await, 2000);
}

#[tokio::test]
async fn batch_insert_is_atomic() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE t (id int PRIMARY KEY, n int CHECK (n >= 0))",
    )
    .await;

    // A later row violates a constraint: nothing from the batch stays.
    let e = fail(&app, "pg_batch_insert", json!({ "table": "t", "rows": [{ "id": 1, "n": 1 }, { "id": 2, "n": 2 }, { "id": 3, "n": -1 }] })).await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23514");
    assert!(e["error"].as_str().unwrap().contains("rows 1–3"), "{e:#}");
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "t" })).await["count"],
        0
    );

    // The same across chunks: the duplicate is in the third chunk of 1000.
    let mut rows: Vec<Value> = (0..2500).map(|i| json!({ "id": i, "n": i })).collect();
    rows[2400] = json!({ "id": 5, "n": 1 });
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "t", "rows": rows }),
    )
    .await;
    expect_sql(&e, "CONSTRAINT_VIOLATION", "database", "23505");
    assert!(
        e["error"].as_str().unwrap().contains("rows 2001–2500"),
        "{e:#}"
    );
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "t" })).await["count"],
        0
    );

    // Bad value types fail the same way.
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "t", "rows": [{ "id": 1 }, { "id": "two" }] }),
    )
    .await;
    expect_sql(&e, "DATA_EXCEPTION", "database", "22P02");
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "t" })).await["count"],
        0
    );
}

#[tokio::test]
async fn batch_insert_errors() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE t (id int)").await;
    let e = fail(&app, "pg_batch_insert", json!({ "table": "t", "rows": [] })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "t", "rows": [{}, {}] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "t", "rows": [[1]] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    has_suggestion(&e);
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "missing", "rows": [{ "id": 1 }] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    let e = fail(
        &app,
        "pg_batch_insert",
        json!({ "table": "t", "rows": [{ "nope": 1 }] }),
    )
    .await;
    expect_sql(&e, "UNDEFINED_COLUMN", "database", "42703");
}

// ---------------------------------------------------------------------------------------
// pg_truncate

#[tokio::test]
async fn truncate_variants_and_errors() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE p (id serial PRIMARY KEY)").await;
    sql(&app, "CREATE TABLE c (p_id int REFERENCES p)").await;
    sql(&app, "CREATE TABLE solo (id int)").await;
    sql(&app, "INSERT INTO p DEFAULT VALUES; ").await;
    sql(&app, "INSERT INTO c VALUES (1)").await;
    sql(&app, "INSERT INTO solo VALUES (1), (2)").await;

    let v = ok(&app, "pg_truncate", json!({ "table": "solo" })).await;
    assert_eq!(v["truncated"], "solo");
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "solo" })).await["count"],
        0
    );

    let e = fail(&app, "pg_truncate", json!({ "table": "p" })).await;
    expect_sql(&e, "SQL_ERROR", "database", "0A000");
    has_suggestion(&e); // PostgreSQL's hint names CASCADE
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "p" })).await["count"],
        1
    );

    ok(
        &app,
        "pg_truncate",
        json!({ "table": "p", "cascade": true, "restartIdentity": true }),
    )
    .await;
    assert_eq!(
        ok(&app, "pg_count", json!({ "table": "c" })).await["count"],
        0
    );
    let v = ok(
        &app,
        "pg_batch_insert",
        json!({ "table": "p", "rows": [{ "id": 1 }], "returning": true }),
    )
    .await;
    assert_eq!(v["rows"][0]["id"], 1);
    sql(&app, "DELETE FROM p").await;
    assert_eq!(
        sql(&app, "INSERT INTO p DEFAULT VALUES RETURNING id").await["rows"][0]["id"],
        1
    );

    let e = fail(&app, "pg_truncate", json!({ "table": "missing" })).await;
    expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
    let e = fail(
        &app,
        "pg_truncate",
        json!({ "table": "solo", "cascade": "yes" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

// ---------------------------------------------------------------------------------------
// connections

#[tokio::test]
async fn closed_port_is_connection_refused() {
    let url = format!("postgres://postgres:{SECRET}@127.0.0.1:1/x");
    let app = support::app(&url, &[]);
    for (tool, args) in [
        ("pg_read_query", json!({ "sql": "SELECT 1" })),
        ("pg_list_tables", json!({})),
        (
            "pg_batch_insert",
            json!({ "table": "t", "rows": [{ "a": 1 }] }),
        ),
        ("pg_read_query", json!({ "sql": "SELECT 1" })),
    ] {
        let started = Instant::now();
        let e = fail(&app, tool, args).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        expect(&e, "CONNECTION_REFUSED", "connection");
        assert_eq!(e["recoverable"], true);
        has_suggestion(&e);
        assert!(
            e["error"].as_str().unwrap().contains("127.0.0.1:1"),
            "{e:#}"
        );
        no_secret(&e);
    }
    // Argument errors are still reported first, without touching the network.
    let e = fail(&app, "pg_read_query", json!({ "sqll": "x" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn failures_then_success_on_the_same_app() {
    // Two consecutive failing calls are both structured and fast, and a good call on the
    // same App afterwards works: nothing is left poisoned.
    let (_db, app) = setup(&["--pool-max", "1"]).await;
    for _ in 0..2 {
        let started = Instant::now();
        let e = fail(
            &app,
            "pg_read_query",
            json!({ "sql": "SELECT * FROM nope" }),
        )
        .await;
        expect_sql(&e, "UNDEFINED_TABLE", "database", "42P01");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT pg_sleep(0.01)::text::int" }),
    )
    .await;
    assert_eq!(e["category"], "database");
    assert_eq!(scalar(&app, "SELECT 'fine'").await, "fine");

    let down = app_for_closed_port();
    for _ in 0..2 {
        let started = Instant::now();
        let e = fail(&down, "pg_count", json!({ "table": "t" })).await;
        expect(&e, "CONNECTION_REFUSED", "connection");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

fn app_for_closed_port() -> Arc<App> {
    // Port 1 on the loopback: nothing listens there, the kernel refuses at once.
    support::app("postgres://postgres@127.0.0.1:1/postgres", &[])
}

#[tokio::test]
async fn wrong_database_is_database_not_found() {
    let db = support::test_db().await;
    let (_, _, user) = endpoint(&db.url);
    let url = url_for(&db.url, &user, SECRET, "no_such_database_here");
    let app = support::app(&url, &[]);
    for _ in 0..2 {
        let e = fail(&app, "pg_list_tables", json!({})).await;
        expect_sql(&e, "DATABASE_NOT_FOUND", "connection", "3D000");
        assert!(has_suggestion(&e).contains("database name"));
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("no_such_database_here"),
            "{e:#}"
        );
        no_secret(&e);
    }
}

#[tokio::test]
async fn unknown_role_is_an_authentication_error() {
    let db = support::test_db().await;
    let url = url_for(&db.url, "no_such_role_xyz", SECRET, "postgres");
    let app = support::app(&url, &[]);
    let e = fail(&app, "pg_read_query", json!({ "sql": "SELECT 1" })).await;
    expect_sql(&e, "AUTHENTICATION_FAILED", "connection", "28000");
    let msg = e["error"].as_str().unwrap();
    assert!(
        msg.contains("role") && msg.contains("no_such_role_xyz"),
        "{e:#}"
    );
    has_suggestion(&e);
    no_secret(&e);
    // Debug output of the config does not carry it either.
    assert!(!format!("{:?}", app.config).contains(SECRET));
}

#[tokio::test]
async fn session_state_never_leaks_into_the_next_call() {
    // One pooled connection, so the next call is guaranteed to reuse it.
    let (db, app) = setup(&["--pool-max", "1"]).await;
    let default_path = scalar(&app, "SELECT current_setting('search_path')").await;
    sql(&app, "SET search_path TO pg_catalog").await;
    sql(&app, "SET statement_timeout = 1").await;
    sql(&app, "SELECT pg_advisory_lock(4242)").await;
    sql(&app, "CREATE TEMP TABLE leftover (x int)").await;
    // The server's own statement timeout (from the startup options) is back, not 1 ms.
    session_is_default(&app, &default_path).await;
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM pg_class WHERE relname = 'leftover'"
        )
        .await,
        0
    );
    let other = support::connect(&db.url).await;
    let held: i64 = other
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0, "a session advisory lock survived into the pool");
}

/// The pooled session has the server's search_path and statement timeout (30 s from the
/// startup options), whatever earlier calls set.
async fn session_is_default(app: &Arc<App>, default_path: &Value) {
    assert_eq!(
        &scalar(app, "SELECT current_setting('search_path')").await,
        default_path
    );
    assert_eq!(
        scalar(app, "SELECT current_setting('statement_timeout')").await,
        "30s"
    );
}

#[tokio::test]
async fn a_read_leaves_nothing_in_the_session_either() {
    // Reads skip the pool's session reset (their READ ONLY transaction ends with ROLLBACK and
    // the release of session advisory locks): nothing they can do may outlive them. The
    // statement policy refuses these functions, by name and inside views.
    let (db, app) = setup(&["--pool-max", "1"]).await;
    let default_path = scalar(&app, "SELECT current_setting('search_path')").await;
    sql(
        &app,
        "CREATE VIEW takes_locks AS SELECT pg_advisory_lock(4243)::text, pg_advisory_lock_shared(4244)::text",
    )
    .await;
    sql(
        &app,
        "CREATE VIEW sets_session AS SELECT set_config('search_path', 'pg_catalog', false) AS a, \
         set_config('statement_timeout', '1', false) AS b",
    )
    .await;
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT pg_advisory_lock(4243)" }),
    )
    .await;
    expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    // The policy now sees into views too: reading them is refused, naming the function.
    for (view, function) in [
        ("takes_locks", "pg_advisory_lock"),
        ("sets_session", "set_config"),
    ] {
        let e = fail(
            &app,
            "pg_read_query",
            json!({ "sql": format!("SELECT * FROM {view}") }),
        )
        .await;
        expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
        assert_eq!(e["details"]["function"], function, "{e}");
    }
    // The layer behind the policy: with the policy switched off (and no role), the views run
    // on the one pooled connection, and the end of the read still leaves nothing behind.
    let bare = support::app_with(&db.url, &["--pool-max", "1"], |c| {
        c.unsafe_test_only_skip_read_policy = true;
        c.read_only_role = None;
    });
    for view in ["takes_locks", "sets_session"] {
        ok(
            &bare,
            "pg_read_query",
            json!({ "sql": format!("SELECT * FROM {view}") }),
        )
        .await;
    }
    session_is_default(&bare, &default_path).await;
    session_is_default(&app, &default_path).await;
    let other = support::connect(&db.url).await;
    let held: i64 = other
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (4243, 4244)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        held, 0,
        "a read's session advisory lock survived into the pool"
    );
}

#[tokio::test]
async fn paging_past_the_end_does_not_invent_a_total() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE a (x int)").await;
    let first = ok(&app, "pg_list_tables", json!({})).await;
    assert_eq!(first["total"], 1);
    let past = ok(&app, "pg_list_tables", json!({ "offset": 50 })).await;
    assert_eq!(past["tables"], json!([]));
    assert!(past.get("total").is_none(), "{past}");
}

#[tokio::test]
async fn get_columns_lists_columns_and_names_missing_tables() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE \"Mixed Case\" (id int PRIMARY KEY, note text DEFAULT 'x' NOT NULL)",
    )
    .await;
    let v = ok(&app, "pg_get_columns", json!({ "table": "Mixed Case" })).await;
    assert_eq!(v["columns"][0]["name"], "id");
    assert_eq!(v["columns"][1]["default"], "'x'::text");
    assert_eq!(v["columns"][1]["nullable"], false);
    let e = fail(&app, "pg_get_columns", json!({ "table": "mixed case" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    has_suggestion(&e);
}

#[tokio::test]
async fn a_read_cannot_switch_its_transaction_to_read_write() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    // The statement policy refuses both before they reach the server; behind it, the
    // server's first snapshot would make PostgreSQL refuse them too (SQLSTATE 25001).
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SET TRANSACTION READ WRITE" }),
    )
    .await;
    expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT set_config('transaction_read_only', 'off', true), (SELECT count(*) FROM canary)" }),
    )
    .await;
    expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    assert!(e["error"].as_str().unwrap().contains("set_config"), "{e}");
    canary_intact(&app).await;
}

/// A read repeated on a connection runs the statement that connection prepared for it the
/// first time (one round trip instead of two). It must still run inside a READ ONLY
/// transaction, follow a change of the table's columns made by another session, and be
/// forgotten with the session reset (which deallocates every prepared statement).
#[tokio::test]
async fn repeated_reads_reuse_prepared_statements_safely() {
    let (db, app) = setup(&["--pool-max", "1"]).await;
    sql(&app, "CREATE TABLE t (a int)").await;
    sql(&app, "INSERT INTO t VALUES (1)").await;
    let q = "select *, current_setting('transaction_read_only') as ro from t";
    for _ in 0..3 {
        assert_eq!(rows(&app, q).await, vec![json!({"a": 1, "ro": "on"})]);
    }
    // The policy's own query runs with its plan settings; the caller's statement plans as
    // usual, on the first (pipelined) path and the cached one alike.
    let settings =
        "select current_setting('plan_cache_mode') as pcm, current_setting('jit') as jit";
    for _ in 0..2 {
        assert_eq!(
            rows(&app, settings).await,
            vec![json!({"pcm": "auto", "jit": "on"})]
        );
    }
    // Every distinct read so far is prepared on the one pooled connection. (Reads may not
    // look at pg_prepared_statements, which would show other callers' SQL: the cache is
    // asked, and the server is asked through a write.)
    let cached = || async {
        let conn = app.db.client().await.unwrap();
        let n = conn.cached_statements();
        // Back as it came: untouched, nothing to reset.
        pgmcp::db::pool::release_clean(conn);
        n
    };
    assert_eq!(cached().await, 2, "q and the settings");
    assert_eq!(rows(&app, "select 2 as two").await, vec![json!({"two": 2})]);
    assert_eq!(cached().await, 3);

    // Another session changes the columns under the prepared statement.
    let other = support::connect(&db.url).await;
    other
        .batch_execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'x'")
        .await
        .unwrap();
    assert_eq!(
        rows(&app, q).await,
        vec![json!({"a": 1, "b": "x", "ro": "on"})]
    );

    // A parameter whose inferred type changes with the schema: the statement prepared for
    // the int column would now fail where a fresh one succeeds.
    let by_b = "select a from t where b = $1";
    let find = |v: Value| {
        let app = app.clone();
        async move {
            ok(&app, "pg_read_query", json!({ "sql": by_b, "params": [v] })).await["rows"].clone()
        }
    };
    assert_eq!(find(json!("x")).await, json!([{"a": 1}]));
    other
        .batch_execute("ALTER TABLE t ALTER COLUMN b DROP DEFAULT, ALTER COLUMN b TYPE int USING 5")
        .await
        .unwrap();
    assert_eq!(find(json!(5)).await, json!([{"a": 1}]));
    other
        .batch_execute(
            "ALTER TABLE t ALTER COLUMN b TYPE text USING 'x', ALTER COLUMN b SET DEFAULT 'x'",
        )
        .await
        .unwrap();

    // A function made VOLATILE after its read was prepared is still refused, and the
    // statement does not run (it would insert into t).
    other
        .batch_execute("CREATE FUNCTION f() RETURNS int STABLE LANGUAGE sql AS 'select 7'")
        .await
        .unwrap();
    let calls_f = "select f() as v";
    for _ in 0..2 {
        assert_eq!(rows(&app, calls_f).await, vec![json!({"v": 7})]);
    }
    other
        .batch_execute(
            "CREATE OR REPLACE FUNCTION f() RETURNS int VOLATILE LANGUAGE plpgsql AS
             'begin insert into t values (99); return 8; end'",
        )
        .await
        .unwrap();
    let e = fail(&app, "pg_read_query", json!({ "sql": calls_f })).await;
    expect_sql(&e, "READ_ONLY_VIOLATION", "permission", "25006");
    assert_eq!(e["details"]["function"], "public.f", "{e:#}");
    let n: i64 = other
        .query_one("select count(*) from t where a = 99", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // A write resets the session: the statements are gone, and so is the cache's memory
    // of them (a stale entry would fail with "prepared statement … does not exist").
    sql(&app, "INSERT INTO t VALUES (2)").await;
    assert_eq!(cached().await, 0);
    let on_server = ok(
        &app,
        "pg_write_query",
        json!({ "sql": "select count(*)::int as n from pg_prepared_statements where not from_sql" }),
    )
    .await;
    assert_eq!(
        on_server["rows"][0]["n"], 1,
        "only the write's own statement: {on_server}"
    );
    assert_eq!(rows(&app, q).await.len(), 2);
    assert_eq!(rows(&app, q).await.len(), 2);
}

/// A first row larger than --max-result-bytes is cut value by value from the bytes as they
/// arrived (no copy of the whole value is made): its largest values, text to a prefix, other
/// types to null, with `cutValues` naming each cut column's original size.
#[tokio::test]
async fn a_row_over_the_byte_cap_has_its_large_values_cut() {
    let (_db, app) = setup(&["--max-result-bytes", "4096", "--pool-max", "1"]).await;
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT 7 AS id, repeat('é', 100000) AS t, decode(repeat('ab', 100000), 'hex') AS b, jsonb_build_object('k', repeat('z', 50000)) AS j, 'small' AS s, repeat('m', 900) AS m" }),
    )
    .await;
    assert_eq!(v["truncated"], true, "{v:.400}");
    assert_eq!(v["maxBytes"], 4096);
    let row = &v["rows"][0];
    assert_eq!(row["id"], 7);
    assert_eq!(row["s"], "small");
    let t = row["t"].as_str().unwrap();
    assert!(
        !t.is_empty() && t.len() <= 4096 && t.chars().all(|c| c == 'é'),
        "{t}"
    );
    assert!(row["b"].is_null(), "{row:.300}");
    assert!(
        row["j"].as_str().unwrap().starts_with("{\"k\": \"zzz"),
        "{row:.300}"
    );
    assert_eq!(v["cutValues"]["t"], 200000, "{v:.400}");
    assert_eq!(v["cutValues"]["b"], 100000);
    assert!(v["cutValues"].get("s").is_none());
    // Over an equal sixth of the cap, but within what the small values leave to the large
    // ones: kept whole.
    assert_eq!(row["m"].as_str().unwrap().len(), 900);
    assert!(v["cutValues"].get("m").is_none(), "{v:.400}");
    assert!(v.to_string().len() < 4 * 4096, "{}", v.to_string().len());
    assert_eq!(scalar(&app, "SELECT 1").await, 1);
}

/// The budget of result bytes held by all calls together: rows a slow call already holds
/// count until it finishes; a second call that would pass the budget waits the pool
/// timeout, then fails with RESULT_MEMORY_BUDGET; afterwards the whole budget is free.
#[tokio::test]
async fn concurrent_results_share_one_byte_budget() {
    let (_db, app) = setup(&[
        "--max-result-bytes",
        "50000",
        // The in-flight budget is never below one call's cap, Code Mode's included.
        "--code-call-max-result-bytes",
        "50000",
        "--max-inflight-result-bytes",
        "60000",
        "--pool-timeout",
        "1",
    ])
    .await;
    let total = app.db.results.available();
    assert_eq!(total, 60000);
    // Three 15 KB rows (each pushes the one before out of the server's send buffer), then a
    // pause before the last row: the call holds at least 30 KB of the budget while it waits.
    let slow = {
        let app = app.clone();
        tokio::spawn(async move {
            app.call(
                "pg_read_query",
                json!({ "sql": "SELECT repeat('a', 15000) AS v FROM generate_series(1, 3) UNION ALL SELECT pg_sleep(3)::text" }),
            )
            .await
        })
    };
    for _ in 0..100 {
        if app.db.results.available() < total - 25000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.db.results.available() < total - 25000,
        "the slow call never held its rows"
    );
    let t = std::time::Instant::now();
    let e = fail(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT repeat('b', 30000) AS v" }),
    )
    .await;
    expect(&e, "RESULT_MEMORY_BUDGET", "limit");
    assert_eq!(
        e["details"]["limit"], "--max-inflight-result-bytes",
        "{e:#}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let v = slow.await.unwrap().unwrap();
    assert_eq!(v["rowCount"], 4, "{v:.200}");
    assert_eq!(app.db.results.available(), total);
    // With the budget free again the same call succeeds.
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "SELECT repeat('b', 30000) AS v" }),
    )
    .await;
    assert_eq!(v["rowCount"], 1);
}

// ---------------------------------------------------------------------------------------
// Issue 8 item 3: nothing a caller does is visible to, or affects, the next caller of the
// same pooled connection. Each test makes two calls on a one-connection pool: the first
// leaves the state behind, the second looks for it. The second is a write call, so it
// sees the session as the connecting role and may look where reads may not.

/// The first row of a write call's result.
async fn write_row(app: &Arc<App>, statement: &str) -> Value {
    sql(app, statement).await["rows"][0].clone()
}

async fn backend(app: &Arc<App>) -> Value {
    write_row(app, "SELECT pg_backend_pid() AS pid").await["pid"].clone()
}

/// The first value `random()` returns after `setseed(seed)`, on a connection of its own.
async fn random_after_seed(db: &support::TestDb, seed: f64) -> f64 {
    let c = support::connect(&db.url).await;
    c.execute("SELECT setseed($1)", &[&seed]).await.unwrap();
    c.query_one("SELECT random()", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_random_seed_does_not_reach_the_next_caller() {
    let (db, app) = setup(&["--pool-max", "1"]).await;
    // The read path too, with the statement policy (which refuses setseed) switched off:
    // what is tested is the session's end, not the policy in front of it.
    let reads = support::app_with(&db.url, &["--pool-max", "1"], |c| {
        c.unsafe_test_only_skip_read_policy = true
    });
    let predicted = random_after_seed(&db, 0.42).await;
    let pid = backend(&app).await;
    sql(&app, "SELECT setseed(0.42)").await;
    let next = write_row(&app, "SELECT random() AS r, pg_backend_pid() AS pid").await;
    assert_eq!(next["pid"], pid, "not the same connection");
    assert_ne!(
        next["r"].as_f64().unwrap(),
        predicted,
        "a write's seed survived"
    );

    let pid = backend(&reads).await;
    ok(
        &reads,
        "pg_read_query",
        json!({ "sql": "SELECT setseed(0.42)" }),
    )
    .await;
    let v = ok(
        &reads,
        "pg_read_query",
        json!({ "sql": "SELECT random() AS r, pg_backend_pid() AS pid" }),
    )
    .await;
    assert_eq!(v["rows"][0]["pid"], pid, "not the same connection");
    assert_ne!(
        v["rows"][0]["r"].as_f64().unwrap(),
        predicted,
        "a read's seed survived"
    );
}

#[tokio::test]
async fn cached_read_texts_are_not_visible_to_the_next_callers_sql() {
    let (_db, app) = setup(&["--pool-max", "1"]).await;
    let secret = "SELECT 'secret-4711' AS s";
    let look = "SELECT count(*)::int AS n, pg_backend_pid() AS pid FROM pg_prepared_statements \
                WHERE statement LIKE '%secret-4711%' AND statement NOT LIKE '%pg_prepared%'";
    // A write call: the read cache's statement (with its literal) is gone before it runs.
    let pid = backend(&app).await;
    rows(&app, secret).await;
    let v = write_row(&app, look).await;
    assert_eq!(v["pid"], pid, "not the same connection");
    assert_eq!(v["n"], 0, "a write call saw an earlier read's SQL text");
    // A pinned transaction: gone before its BEGIN.
    rows(&app, secret).await;
    let b = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = b["transactionId"].clone();
    let v = ok(
        &app,
        "pg_write_query",
        json!({ "transactionId": id, "sql": look }),
    )
    .await;
    assert_eq!(v["rows"][0]["pid"], pid, "not the same connection");
    assert_eq!(
        v["rows"][0]["n"], 0,
        "a transaction saw an earlier read's SQL text"
    );
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": id }),
    )
    .await;
    // An atomic batch: gone before its statements.
    rows(&app, secret).await;
    let v = ok(
        &app,
        "pg_transaction_execute",
        json!({ "statements": [look] }),
    )
    .await;
    let out = v["results"][0]["rows"][0].clone();
    assert_eq!(out["pid"], pid, "not the same connection: {v}");
    assert_eq!(out["n"], 0, "a batch saw an earlier read's SQL text");
    // A read, which keeps the cache, may not look: the read-only role, with the hardening
    // of docs/SECURITY.md applied to this database, may not execute the function behind
    // the view (and the statement policy may refuse it first).
    sql(&app, pgmcp::cluster::REVOKE_FROM_PUBLIC_SQL).await;
    rows(&app, secret).await;
    for look in [
        "SELECT statement FROM pg_prepared_statements",
        "SELECT * FROM pg_catalog.pg_prepared_statement()",
    ] {
        let e = fail(&app, "pg_read_query", json!({ "sql": look })).await;
        assert!(
            e["code"] == "READ_ONLY_VIOLATION" || e["code"] == "INSUFFICIENT_PRIVILEGE",
            "{e:#}"
        );
    }
}

#[tokio::test]
async fn dblink_connections_do_not_survive_the_call() {
    let (db, app) = setup(&["--pool-max", "1"]).await;
    // Installed outside the search path: the reset must find it wherever it is.
    sql(&app, "CREATE SCHEMA ext").await;
    sql(&app, "CREATE EXTENSION dblink SCHEMA ext").await;
    let conninfo = support::conninfo(&db.url);
    let pid = backend(&app).await;
    sql(
        &app,
        &format!(
            "SELECT ext.dblink_connect('leak', '{conninfo}'), ext.dblink_connect('{conninfo}')"
        ),
    )
    .await;
    let v = write_row(
        &app,
        "SELECT ext.dblink_get_connections() AS named, pg_backend_pid() AS pid",
    )
    .await;
    assert_eq!(v["pid"], pid, "not the same connection");
    assert_eq!(
        v["named"],
        Value::Null,
        "a named dblink connection survived"
    );
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "SELECT ext.dblink_exec('SELECT 1')" }),
    )
    .await;
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("connection not available"),
        "the unnamed dblink connection survived: {e}"
    );
    // Opened inside a committed transaction: the same.
    let b = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = b["transactionId"].clone();
    ok(
        &app,
        "pg_write_query",
        json!({ "transactionId": id, "sql": format!("SELECT ext.dblink_connect('leak2', '{conninfo}')") }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": id }),
    )
    .await;
    let v = write_row(
        &app,
        "SELECT ext.dblink_get_connections() AS named, pg_backend_pid() AS pid",
    )
    .await;
    assert_eq!(v["pid"], pid, "not the same connection");
    assert_eq!(
        v["named"],
        Value::Null,
        "a transaction's dblink connection survived"
    );
}

#[tokio::test]
async fn a_replication_origin_session_does_not_survive_the_call() {
    let (db, app) = setup(&["--pool-max", "1"]).await;
    let origin = format!("pgmcp_origin_{}", db.name);
    sql(
        &app,
        &format!("SELECT pg_replication_origin_create('{origin}')"),
    )
    .await;
    let pid = backend(&app).await;
    sql(
        &app,
        &format!("SELECT pg_replication_origin_session_setup('{origin}')"),
    )
    .await;
    let v = write_row(
        &app,
        "SELECT pg_replication_origin_session_is_setup() AS on, pg_backend_pid() AS pid",
    )
    .await;
    assert_eq!(v["pid"], pid, "not the same connection");
    assert_eq!(v["on"], false, "a replication origin session survived");
    // Origins are cluster-wide: leave none behind.
    sql(
        &app,
        &format!("SELECT pg_replication_origin_drop('{origin}')"),
    )
    .await;
}

#[tokio::test]
async fn a_loaded_library_never_reaches_the_next_caller() {
    let (_db, app) = setup(&["--pool-max", "1"]).await;
    // auto_explain defines its settings when loaded; they exist in no other session.
    let probe = "SELECT current_setting('auto_explain.log_min_duration', true) AS loaded, \
                 pg_backend_pid() AS pid";
    // How a caller may load a library: plain, assembled at run time inside a DO block (where
    // no scan of the text finds it), inside a committed transaction, in an atomic batch, and
    // in a batch inside a pinned transaction that is rolled back.
    enum Way {
        Write(&'static str),
        InTransaction(&'static str),
        Batch,
        BatchInTransaction(&'static str),
    }
    const LOAD: &str = "LOAD 'auto_explain'";
    for way in [
        Way::Write(LOAD),
        Way::Write("DO $$ BEGIN EXECUTE 'LO' || 'AD ''auto_explain'''; END $$"),
        Way::InTransaction("pg_transaction_commit"),
        Way::Batch,
        Way::BatchInTransaction("pg_transaction_rollback"),
    ] {
        let pid = backend(&app).await;
        let label = match way {
            Way::Write(load) => {
                sql(&app, load).await;
                load.to_string()
            }
            Way::Batch => {
                let batch = json!({ "statements": [LOAD] });
                ok(&app, "pg_transaction_execute", batch).await;
                "a batch".to_string()
            }
            Way::InTransaction(end) | Way::BatchInTransaction(end) => {
                let b = ok(&app, "pg_transaction_begin", json!({})).await;
                let id = b["transactionId"].clone();
                let (tool, args) = if matches!(way, Way::InTransaction(_)) {
                    (
                        "pg_write_query",
                        json!({ "transactionId": id, "sql": LOAD }),
                    )
                } else {
                    (
                        "pg_transaction_execute",
                        json!({ "transactionId": id, "statements": [LOAD] }),
                    )
                };
                ok(&app, tool, args).await;
                ok(&app, end, json!({ "transactionId": id })).await;
                format!("{tool} in a transaction ended by {end}")
            }
        };
        let v = write_row(&app, probe).await;
        assert_eq!(v["loaded"], Value::Null, "{label}: the library is loaded");
        // The connection was closed, not reset: a library cannot be unloaded.
        assert_ne!(v["pid"], pid, "{label}: the connection was reused");
    }
    // An ordinary write keeps its connection.
    let pid = backend(&app).await;
    sql(&app, "CREATE TABLE workload (x int)").await;
    assert_eq!(backend(&app).await, pid);
}

#[tokio::test]
async fn advisory_locks_of_both_levels_do_not_survive_the_call() {
    let (db, app) = setup(&["--pool-max", "1"]).await;
    let other = support::connect(&db.url).await;
    let held =
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (4701, 4702)";
    let pid = backend(&app).await;
    sql(&app, "SELECT pg_advisory_lock(4701)").await;
    let b = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = b["transactionId"].clone();
    ok(
        &app,
        "pg_write_query",
        json!({ "transactionId": id, "sql": "SELECT pg_advisory_xact_lock(4702), pg_advisory_lock(4701)" }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_commit",
        json!({ "transactionId": id }),
    )
    .await;
    assert_eq!(backend(&app).await, pid, "not the same connection");
    let n: i64 = other.query_one(held, &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "an advisory lock survived into the pool");
}

#[tokio::test]
async fn settings_roles_temp_objects_cursors_and_listen_do_not_survive_the_call() {
    let (_db, app) = setup(&["--pool-max", "1"]).await;
    let probe = "SELECT current_setting('work_mem') AS work_mem, current_user::text AS cu, \
                 session_user::text AS su, \
                 (SELECT count(*) FROM pg_class WHERE relpersistence = 't')::int AS temps, \
                 (SELECT count(*) FROM pg_cursors)::int AS cursors, \
                 (SELECT count(*) FROM pg_listening_channels())::int AS listening, \
                 pg_backend_pid() AS pid";
    let clean = write_row(&app, probe).await;
    for first in [
        "SET work_mem = '77MB'".to_string(),
        format!("SET ROLE {}", support::READER_ROLE),
        format!("SET SESSION AUTHORIZATION {}", support::READER_ROLE),
        "CREATE TEMP TABLE leftover (x int)".into(),
        "DECLARE leftover CURSOR WITH HOLD FOR SELECT 1".into(),
        "LISTEN leftover".into(),
    ] {
        sql(&app, &first).await;
        assert_eq!(write_row(&app, probe).await, clean, "after {first}");
    }
}

// ---------------------------------------------------------------------------------------
// SQL size cap

/// SQL text is parsed on a thread other calls share (~0.75 µs a byte), so every argument
/// that carries SQL is capped before anything parses it: the statement, a fragment such as
/// `where`, each of a batch's `statements`, and a Code Mode `pg.*` call's. Values are not:
/// a long parameter, bound and never parsed, still runs.
#[tokio::test]
async fn sql_over_the_size_cap_is_refused_before_it_is_parsed() {
    let (_db, app) = setup(&["--max-sql-bytes", "65536"]).await;
    sql(&app, "CREATE TABLE t (id int PRIMARY KEY, body text)").await;
    let long = format!("select 1 where 1 in ({}1)", "1,".repeat(40_000));
    assert!(long.len() > 65536);

    let e = fail(&app, "pg_read_query", json!({ "sql": long })).await;
    expect(&e, "SQL_TOO_LARGE", "limit");
    assert_eq!(e["details"]["argument"], "sql", "{e:#}");
    assert_eq!(e["details"]["bytes"], long.len(), "{e:#}");
    assert_eq!(
        e["details"]["limit"],
        "maxSqlBytes=65536 (raise with --max-sql-bytes)"
    );
    has_suggestion(&e);

    let fragment = format!("id in ({}1)", "1,".repeat(40_000));
    let e = fail(&app, "pg_count", json!({ "table": "t", "where": fragment })).await;
    assert_eq!(e["details"]["argument"], "where", "{e:#}");
    let e = fail(
        &app,
        "pg_transaction_execute",
        json!({ "statements": ["select 1", { "sql": long }] }),
    )
    .await;
    expect(&e, "SQL_TOO_LARGE", "limit");
    let e = fail(
        &app,
        "pg_create_table",
        json!({ "table": "u", "columns": [{ "name": "a", "type": "int", "default": fragment }] }),
    )
    .await;
    assert_eq!(e["details"]["argument"], "columns", "{e:#}");
    // Refused before it ran: no table `u`.
    assert_eq!(
        scalar(&app, "select to_regclass('u') is null").await,
        json!(true)
    );
    // Rows are values: a long one is inserted.
    let v = ok(
        &app,
        "pg_batch_insert",
        json!({ "table": "t", "rows": [{ "id": 1, "body": "y".repeat(100_000) }] }),
    )
    .await;
    assert_eq!(v["inserted"], 1, "{v:#}");

    // Through Code Mode: the same registry call, a PgError with the same code.
    let r = app
        .call(
            "pg_execute_code",
            json!({ "code": "const sql = 'select 1 where 1 in (' + '1,'.repeat(40000) + '1)'; \
                try { await pg.query(sql); return 'ran' } catch (e) { return e.code }" }),
        )
        .await
        .map_err(|e| e.to_json());
    assert_eq!(
        r.as_ref().map(|v| &v["result"]),
        Ok(&json!("SQL_TOO_LARGE")),
        "{r:?}"
    );

    // A long value is a bound parameter, not SQL.
    let value = "x".repeat(200_000);
    let v = ok(
        &app,
        "pg_read_query",
        json!({ "sql": "select length($1::text) as n", "params": [value] }),
    )
    .await;
    assert_eq!(v["rows"][0]["n"], 200_000);

    // Under the cap (the default, 256 KiB), the same statement runs.
    let (_db2, roomy) = setup(&[]).await;
    let v = ok(&roomy, "pg_read_query", json!({ "sql": long })).await;
    assert_eq!(v["rows"][0], json!({ "?column?": 1 }));
}

/// The cap skips the arguments named in `VALUE_ARGUMENTS`; each must be a real argument of
/// some tool, so a renamed one cannot leave a stale exemption behind.
#[test]
fn every_value_argument_exists() {
    let registry = pgmcp::app::registry();
    for key in pgmcp::tools::VALUE_ARGUMENTS {
        assert!(
            registry.all().iter().any(|t| t
                .input_schema()
                .get("properties")
                .and_then(|p| p.get(*key))
                .is_some()),
            "no tool takes `{key}`"
        );
    }
}
