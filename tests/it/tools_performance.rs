//! Performance tools against a real cluster: pg_explain and pg_table_stats.

use crate::support;

use std::sync::Arc;

use pgmcp::app::App;
use serde_json::json;

async fn setup() -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE orders (id int PRIMARY KEY, customer int, total numeric);
             INSERT INTO orders SELECT g, g % 100, g * 1.5 FROM generate_series(1, 5000) g;
             ANALYZE orders;",
        )
        .await
        .unwrap();
    let a = support::app(&db.url, &[]);
    (db, a)
}

#[tokio::test]
async fn explain_reports_plan_cost_and_seq_scans() {
    let (_db, app) = setup().await;
    let v = app
        .call(
            "pg_explain",
            json!({"sql": "select * from orders where customer = $1", "params": [7]}),
        )
        .await
        .unwrap();
    assert!(
        v.get("plan").is_none(),
        "the whole plan only with includePlan: {v}"
    );
    assert_eq!(v["summary"]["nodes"][0]["nodeType"], "Seq Scan", "{v}");
    assert_eq!(v["summary"]["seqScans"][0]["table"], "orders", "{v}");
    assert!(v["totalCost"].as_f64().unwrap() > 0.0);
    let whole = app
        .call(
            "pg_explain",
            json!({"sql": "select * from orders where customer = $1", "params": [7], "includePlan": true}),
        )
        .await
        .unwrap();
    assert_eq!(whole["plan"]["Node Type"], "Seq Scan", "{whole}");
    assert_eq!(v["seqScans"][0]["table"], "orders");
    let analyzed = app
        .call(
            "pg_explain",
            json!({"sql": "select count(*) from orders", "analyze": true, "buffers": true}),
        )
        .await
        .unwrap();
    assert!(analyzed["executionTimeMs"].as_f64().is_some(), "{analyzed}");
    let text = app
        .call(
            "pg_explain",
            json!({"sql": "select * from orders where id = 1", "format": "text"}),
        )
        .await
        .unwrap();
    assert!(
        text["plan"].as_str().unwrap().contains("Index Scan"),
        "{text}"
    );
}

#[tokio::test]
async fn explain_errors() {
    let (_db, app) = setup().await;
    let e = app
        .call("pg_explain", json!({"sql": "select * from nope"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "UNDEFINED_TABLE");
    let e = app
        .call("pg_explain", json!({"sql": "explain select 1"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_ARGUMENT");
    // EXPLAIN ANALYZE executes the statement: a write is refused and nothing changes.
    let e = app
        .call(
            "pg_explain",
            json!({"sql": "delete from orders", "analyze": true}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.sqlstate.as_deref(), Some("25006"), "{e:?}");
    assert!(e.suggestion.unwrap().contains("without analyze"));
    let n = app
        .call("pg_count", json!({"table": "orders"}))
        .await
        .unwrap();
    assert_eq!(n["count"], 5000);
    let e = app
        .call("pg_explain", json!({"sql": "select 1", "format": "yaml"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_ARGUMENT");
}

#[tokio::test]
async fn table_stats_for_one_table_and_all() {
    let (db, app) = setup().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute("SELECT count(*) FROM orders; SELECT count(*) FROM orders;")
        .await
        .unwrap();
    // Statistics reach the views asynchronously; wait for our scans to show.
    let mut one = serde_json::Value::Null;
    for _ in 0..50 {
        client
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        one = app
            .call("pg_table_stats", json!({"table": "orders"}))
            .await
            .unwrap();
        if one["seq_scan"].as_i64().unwrap_or(0) >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(one["table"], "orders", "{one}");
    assert!(one["seq_scan"].as_i64().unwrap() >= 2, "{one}");
    assert!(one["n_live_tup"].as_i64().unwrap() > 0, "{one}");
    let all = app.call("pg_table_stats", json!({})).await.unwrap();
    let tables = all["tables"].as_array().unwrap();
    assert!(tables.iter().any(|t| t["table"] == "orders"));
    assert!(tables.iter().all(|t| t["schema"] != "pg_catalog"));
}

#[tokio::test]
async fn table_stats_errors() {
    let (_db, app) = setup().await;
    let e = app
        .call("pg_table_stats", json!({"table": "missing"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "NOT_FOUND");
    let e = app
        .call("pg_table_stats", json!({"table": 5}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "INVALID_ARGUMENT");
}
