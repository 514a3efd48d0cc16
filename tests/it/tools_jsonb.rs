//! The `jsonb` group's tools on a real cluster: for each tool a success, an error and (where it
//! takes names or SQL fragments) an injection test.

use std::sync::Arc;

use pgmcp::app::App;
use serde_json::{Value, json};

use crate::support;

use support::hostile::{canary, canary_intact, hostile_where, scalar};
use support::{expect, fail, ok};

async fn sql(app: &Arc<App>, statement: &str) -> Value {
    ok(app, "pg_write_query", json!({ "sql": statement })).await
}

/// Runs several statements directly (fixtures).
async fn batch(db: &support::TestDb, statements: &str) {
    support::connect(&db.url)
        .await
        .batch_execute(statements)
        .await
        .unwrap();
}

/// A fresh database with `docs(id, data jsonb)`, an awkwardly named table
/// `"we""ird tab"("co l" jsonb)` and the canary (for hostile `where`s).
async fn setup() -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    batch(
        &db,
        r#"CREATE TABLE docs (id int PRIMARY KEY, data jsonb, note json);
           INSERT INTO docs VALUES
             (1, '{"name": "ann", "age": 30, "tags": ["a", "b"], "address": {"city": "Oslo", "zip": null}}', '{"x": 1}'),
             (2, '{"name": "bob", "age": 25, "tags": [], "active": true}', NULL),
             (3, NULL, NULL),
             (4, '[1, 2, 3]', NULL);
           CREATE TABLE "we""ird tab" (id int, "co l" jsonb, plain text);
           INSERT INTO "we""ird tab" VALUES (1, '{"k": "v", "n": null}', 'p'), (2, '{"k": "w"}', 'q')"#,
    )
    .await;
    canary(&app).await;
    (db, app)
}

/// The fixture is as `setup` left it, the canary included.
async fn intact(app: &Arc<App>) {
    assert_eq!(scalar(app, "SELECT count(*) FROM docs").await, 4);
    assert_eq!(
        scalar(app, "SELECT data FROM docs WHERE id = 2").await,
        json!({"name": "bob", "age": 25, "tags": [], "active": true})
    );
    assert_eq!(
        scalar(app, r#"SELECT count(*) FROM "we""ird tab""#).await,
        2
    );
    canary_intact(app).await;
}

/// Every hostile `where` (`support::hostile`) on a read tool: refused, never a success;
/// `true) OR (true`, one valid condition, may run, harmlessly.
async fn hostile_reads(app: &Arc<App>, tool: &str, base: Value) {
    hostile_where(app, tool, base.clone(), true).await;
    let mut args = base;
    args["where"] = json!("true) OR (true");
    let _ = app.call(tool, args).await;
    intact(app).await;
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_extract

#[tokio::test]
async fn extract_from_a_document_and_a_column() {
    let (_db, app) = setup().await;
    let doc = json!({"a": {"b": [10, {"c": "x"}]}, "n": null});
    for path in [
        json!(["a", "b", 1, "c"]),
        json!("a.b.1.c"),
        json!("a.b[1].c"),
        json!("{a,b,1,c}"),
    ] {
        let v = ok(
            &app,
            "pg_jsonb_extract",
            json!({"document": doc, "path": path}),
        )
        .await;
        assert_eq!(
            v,
            json!({"found": true, "type": "string", "value": "x"}),
            "{path}"
        );
    }
    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"document": doc, "path": "a.b[-2]"}),
    )
    .await;
    assert_eq!(v["value"], 10);
    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"document": doc, "path": "n"}),
    )
    .await;
    assert_eq!(v, json!({"found": true, "type": "null"}));
    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"json": "{\"a\": 1}", "path": "missing"}),
    )
    .await;
    assert_eq!(v, json!({"found": false}));

    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "path": "address.city", "select": ["id"],
               "where": "id <= $1", "params": [2]}),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([{"id": 1, "value": "Oslo"}, {"id": 2, "value": null}])
    );
    assert_eq!(v["count"], 2);
    // A json column is read as jsonb.
    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "note", "path": "x", "where": "id = 1"}),
    )
    .await;
    assert_eq!(v["rows"], json!([{"value": 1}]));
    // limit cuts and says so.
    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "path": ["name"], "limit": 1}),
    )
    .await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["truncated"], true);
    assert!(v["hint"].as_str().unwrap().contains("limit"));
}

#[tokio::test]
async fn extract_errors() {
    let (_db, app) = setup().await;
    let e = fail(&app, "pg_jsonb_extract", json!({"path": "a"})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"document": {}, "table": "docs", "column": "data", "path": "a"}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(e["error"].as_str().unwrap().contains("only one"), "{e}");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "path": "a"}),
    )
    .await;
    assert!(e["error"].as_str().unwrap().contains("both"), "{e}");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "nope", "column": "data", "path": "a"}),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "nope", "path": "a"}),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "id", "path": "a"}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(e["error"].as_str().unwrap().contains("not jsonb"), "{e}");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"document": {}, "path": "a..b"}),
    )
    .await;
    assert!(e["error"].as_str().unwrap().contains("ambiguous"), "{e}");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"document": {}, "path": "$.a"}),
    )
    .await;
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("pg_jsonb_path_query"),
        "{e}"
    );
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"json": "{nope", "path": "a"}),
    )
    .await;
    expect(&e, "DATA_EXCEPTION", "database");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"document": {}, "path": "a", "where": "true"}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "path": "a", "limit": 5000}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn extract_quotes_names_and_refuses_hostile_where() {
    let (db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_extract",
        json!({"table": "\"we\"\"ird tab\"", "column": "co l", "path": "k", "select": ["id"], "where": "id = $1", "params": [2]}),
    )
    .await;
    assert_eq!(v["rows"], json!([{"id": 2, "value": "w"}]));
    hostile_reads(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "path": "name"}),
    )
    .await;
    // A name is a name, never SQL.
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs; DROP TABLE docs", "column": "data", "path": "a"}),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "select": ["id\" FROM docs; --"], "path": "a"}),
    )
    .await;
    expect(&e, "UNDEFINED_COLUMN", "database");
    intact(&app).await;
    // Restricted mode reads the same.
    let ro = support::app(&db.url, &["--access-mode", "restricted"]);
    let v = ok(
        &ro,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "path": "age", "where": "id = 1"}),
    )
    .await;
    assert_eq!(v["rows"], json!([{"value": 30}]));
    hostile_reads(
        &ro,
        "pg_jsonb_extract",
        json!({"table": "docs", "column": "data", "path": "name"}),
    )
    .await;
}

const WEIRD: &str = "\"we\"\"ird tab\"";

// ---------------------------------------------------------------------------------------
// writes: pg_jsonb_set, pg_jsonb_insert, pg_jsonb_delete, pg_jsonb_strip_nulls

#[tokio::test]
async fn set_insert_delete_write_the_chosen_rows() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_set",
        json!({"table": "docs", "column": "data", "path": ["address", "city"], "value": "Bergen",
               "where": "id = $1", "params": [1], "returning": true, "select": ["id"]}),
    )
    .await;
    assert_eq!(v["rowsAffected"], 1);
    assert_eq!(v["rows"][0]["id"], 1);
    assert_eq!(
        v["rows"][0]["value"]["address"],
        json!({"city": "Bergen", "zip": null})
    );
    // createMissing (default) treats NULL as {}; the new key is added.
    let v = ok(&app, "pg_jsonb_set", json!({"table": "docs", "column": "data", "path": "n", "value": {"deep": [1]}, "where": "id = 3"})).await;
    assert_eq!(v, json!({"rowsAffected": 1}));
    assert_eq!(
        scalar(&app, "SELECT data FROM docs WHERE id = 3").await,
        json!({"n": {"deep": [1]}})
    );
    // Without createMissing a missing key stays missing.
    ok(&app, "pg_jsonb_set", json!({"table": "docs", "column": "data", "path": "zz", "value": 1, "createMissing": false, "where": "id = 3"})).await;
    assert_eq!(
        scalar(&app, "SELECT data ? 'zz' FROM docs WHERE id = 3").await,
        false
    );
    // An empty path replaces the whole value.
    ok(
        &app,
        "pg_jsonb_set",
        json!({"table": "docs", "column": "data", "path": [], "value": [true], "where": "id = 3"}),
    )
    .await;
    assert_eq!(
        scalar(&app, "SELECT data FROM docs WHERE id = 3").await,
        json!([true])
    );

    let v = ok(&app, "pg_jsonb_insert", json!({"table": "docs", "column": "data", "path": "tags[0]", "value": "z", "where": "id = 1"})).await;
    assert_eq!(v["rowsAffected"], 1);
    ok(&app, "pg_jsonb_insert", json!({"table": "docs", "column": "data", "path": ["tags", -1], "value": "end", "insertAfter": true, "where": "id = 1"})).await;
    assert_eq!(
        scalar(&app, "SELECT data->'tags' FROM docs WHERE id = 1").await,
        json!(["z", "a", "b", "end"])
    );

    let v = ok(
        &app,
        "pg_jsonb_delete",
        json!({"table": "docs", "column": "data", "path": "age", "allRows": true}),
    )
    .await;
    // Only rows that had the key count.
    assert_eq!(v["rowsAffected"], 2);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM docs WHERE data ? 'age'").await,
        0
    );
    ok(
        &app,
        "pg_jsonb_delete",
        json!({"table": "docs", "column": "data", "path": "{tags,0}", "where": "id = 1"}),
    )
    .await;
    assert_eq!(
        scalar(&app, "SELECT data->'tags' FROM docs WHERE id = 1").await,
        json!(["a", "b", "end"])
    );
}

#[tokio::test]
async fn writes_run_in_the_callers_transaction() {
    let (_db, app) = setup().await;
    let tx = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = tx["transactionId"].as_str().unwrap().to_string();
    let v = ok(&app, "pg_jsonb_set", json!({"table": "docs", "column": "data", "path": "name", "value": "x", "where": "id = 2", "transactionId": id})).await;
    assert_eq!(v["rowsAffected"], 1);
    let v = ok(&app, "pg_jsonb_extract", json!({"table": "docs", "column": "data", "path": "name", "where": "id = 2", "transactionId": id})).await;
    assert_eq!(v["rows"], json!([{"value": "x"}]));
    ok(
        &app,
        "pg_transaction_rollback",
        json!({"transactionId": id}),
    )
    .await;
    intact(&app).await;
}

#[tokio::test]
async fn writes_refuse_a_missing_where_and_bad_input() {
    let (db, app) = setup().await;
    for (tool, args) in [
        (
            "pg_jsonb_set",
            json!({"table": "docs", "column": "data", "path": "a", "value": 1}),
        ),
        (
            "pg_jsonb_insert",
            json!({"table": "docs", "column": "data", "path": "tags[0]", "value": 1}),
        ),
        (
            "pg_jsonb_delete",
            json!({"table": "docs", "column": "data", "path": "name"}),
        ),
        (
            "pg_jsonb_strip_nulls",
            json!({"table": "docs", "column": "data"}),
        ),
        (
            "pg_jsonb_set",
            json!({"table": "docs", "column": "data", "path": "a", "value": 1, "where": "  "}),
        ),
    ] {
        let e = fail(&app, tool, args).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert!(e["error"].as_str().unwrap().contains("every row"), "{e}");
        assert!(e["suggestion"].as_str().unwrap().contains("allRows"), "{e}");
    }
    let e = fail(
        &app,
        "pg_jsonb_set",
        json!({"table": "docs", "column": "note", "path": "a", "value": 1, "where": "id = 1"}),
    )
    .await;
    assert!(e["error"].as_str().unwrap().contains("not jsonb"), "{e}");
    let e = fail(
        &app,
        "pg_jsonb_set",
        json!({"table": "nope", "column": "data", "path": "a", "value": 1, "where": "true"}),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    // jsonb_insert on an existing key: PostgreSQL's error.
    let e = fail(
        &app,
        "pg_jsonb_insert",
        json!({"table": "docs", "column": "data", "path": "name", "value": 1, "where": "id = 1"}),
    )
    .await;
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("cannot replace existing key"),
        "{e}"
    );
    let e = fail(
        &app,
        "pg_jsonb_delete",
        json!({"table": "docs", "column": "data", "path": [], "where": "id = 1"}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    intact(&app).await;

    // Names are quoted; a where that escapes its parentheses is refused.
    let v = ok(&app, "pg_jsonb_set", json!({"table": WEIRD, "column": "co l", "path": "k", "value": "new", "where": "plain = $1", "params": ["q"]})).await;
    assert_eq!(v["rowsAffected"], 1);
    assert_eq!(
        scalar(
            &app,
            r#"SELECT "co l"->>'k' FROM "we""ird tab" WHERE id = 2"#
        )
        .await,
        "new"
    );
    for w in [
        "true) ; DROP TABLE docs; --",
        "1=1; DROP TABLE docs",
        "true) RETURNING (1",
    ] {
        let e = fail(
            &app,
            "pg_jsonb_delete",
            json!({"table": "docs", "column": "data", "path": "name", "where": w}),
        )
        .await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
    // Restricted mode: write tools are not available; documents still strip through
    // pg_read_query instead.
    let ro = support::app(&db.url, &["--access-mode", "restricted"]);
    for tool in [
        "pg_jsonb_set",
        "pg_jsonb_insert",
        "pg_jsonb_delete",
        "pg_jsonb_strip_nulls",
    ] {
        let e = fail(
            &ro,
            tool,
            json!({"table": "docs", "column": "data", "path": "name", "value": 1, "allRows": true}),
        )
        .await;
        expect(&e, "UNKNOWN_TOOL", "not_found");
    }
    intact(&app).await;
}

#[tokio::test]
async fn strip_nulls_of_a_document_a_preview_and_a_column() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_strip_nulls",
        json!({"document": {"a": null, "b": {"c": null, "d": 1}, "e": [null]}}),
    )
    .await;
    assert_eq!(v, json!({"result": {"b": {"d": 1}, "e": [null]}}));
    let v = ok(&app, "pg_jsonb_strip_nulls", json!({"table": "docs", "column": "data", "allRows": true, "preview": true, "select": ["id"]})).await;
    assert_eq!(
        v["rows"],
        json!([{"id": 1, "before": {"name": "ann", "age": 30, "tags": ["a", "b"], "address": {"city": "Oslo", "zip": null}},
                "after": {"name": "ann", "age": 30, "tags": ["a", "b"], "address": {"city": "Oslo"}}}])
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT data #> '{address,zip}' IS NOT NULL FROM docs WHERE id = 1"
        )
        .await,
        true
    );
    let v = ok(
        &app,
        "pg_jsonb_strip_nulls",
        json!({"table": WEIRD, "column": "co l", "where": "id > $1", "params": [0]}),
    )
    .await;
    assert_eq!(v, json!({"rowsAffected": 1}));
    assert_eq!(
        scalar(&app, r#"SELECT "co l" FROM "we""ird tab" WHERE id = 1"#).await,
        json!({"k": "v"})
    );
    let e = fail(
        &app,
        "pg_jsonb_strip_nulls",
        json!({"document": {}, "preview": true}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    hostile_reads(
        &app,
        "pg_jsonb_strip_nulls",
        json!({"table": "docs", "column": "data", "preview": true}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_contains, pg_jsonb_path_query

#[tokio::test]
async fn contains_in_a_document_and_a_column() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_contains",
        json!({"document": {"a": [1, 2], "b": {"c": 1}}, "value": {"a": [2]}}),
    )
    .await;
    assert_eq!(v, json!({"contains": true}));
    let v = ok(
        &app,
        "pg_jsonb_contains",
        json!({"document": {"a": 1}, "contains": {"a": 2}}),
    )
    .await;
    assert_eq!(v, json!({"contains": false}));
    let v = ok(
        &app,
        "pg_jsonb_contains",
        json!({"table": "docs", "column": "data", "value": {"tags": ["a"]}, "select": ["id"]}),
    )
    .await;
    assert_eq!(v["rows"], json!([{"id": 1}]));
    let v = ok(&app, "pg_jsonb_contains", json!({"table": "docs", "column": "data", "value": {}, "select": ["id"], "where": "id > $1", "params": [1]})).await;
    assert_eq!(v["rows"], json!([{"id": 2}]));
    let v = ok(
        &app,
        "pg_jsonb_contains",
        json!({"table": WEIRD, "column": "co l", "value": {"k": "w"}}),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([{"id": 2, "co l": {"k": "w"}, "plain": "q"}])
    );
    let e = fail(&app, "pg_jsonb_contains", json!({"document": {}})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    hostile_reads(
        &app,
        "pg_jsonb_contains",
        json!({"table": "docs", "column": "data", "value": {}}),
    )
    .await;
}

#[tokio::test]
async fn path_query_with_vars_in_a_document_and_a_column() {
    let (_db, app) = setup().await;
    let doc = json!({"items": [{"n": "a", "p": 5}, {"n": "b", "p": 15}, {"n": "c", "p": 25}]});
    let v = ok(
        &app,
        "pg_jsonb_path_query",
        json!({"document": doc, "path": "$.items[*] ? (@.p > $min).n", "vars": {"min": 10}}),
    )
    .await;
    assert_eq!(v, json!({"results": ["b", "c"], "count": 2}));
    let v = ok(
        &app,
        "pg_jsonb_path_query",
        json!({"document": doc, "path": "$.items[*].n", "limit": 2}),
    )
    .await;
    assert_eq!(v["results"], json!(["a", "b"]));
    assert_eq!(v["truncated"], true);
    let v = ok(
        &app,
        "pg_jsonb_path_query",
        json!({"table": "docs", "column": "data", "path": "$.tags[*]", "select": ["id"]}),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([{"id": 1, "value": "a"}, {"id": 1, "value": "b"}])
    );
    let v = ok(
        &app,
        "pg_jsonb_path_query",
        json!({"table": WEIRD, "column": "co l", "path": "$.k", "where": "id = 1"}),
    )
    .await;
    assert_eq!(v["rows"], json!([{"value": "v"}]));
    let e = fail(
        &app,
        "pg_jsonb_path_query",
        json!({"document": doc, "path": "$.items[*"}),
    )
    .await;
    expect(&e, "SYNTAX_ERROR", "database");
    let e = fail(
        &app,
        "pg_jsonb_path_query",
        json!({"document": doc, "path": "strict $.nope"}),
    )
    .await;
    assert_eq!(e["sqlstate"].as_str().unwrap().get(..2), Some("22"), "{e}");
    let v = ok(
        &app,
        "pg_jsonb_path_query",
        json!({"document": doc, "path": "strict $.nope", "silent": true}),
    )
    .await;
    assert_eq!(v["results"], json!([]));
    hostile_reads(
        &app,
        "pg_jsonb_path_query",
        json!({"table": "docs", "column": "data", "path": "$.name"}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_keys, pg_jsonb_typeof, pg_jsonb_pretty, pg_jsonb_normalize

#[tokio::test]
async fn keys_of_a_document_and_a_column() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_keys",
        json!({"document": {"bb": 1, "a": {"x": 1, "y": 2}}}),
    )
    .await;
    assert_eq!(v, json!({"keys": ["a", "bb"]}));
    let v = ok(
        &app,
        "pg_jsonb_keys",
        json!({"document": {"a": {"x": 1, "y": 2}}, "path": "a"}),
    )
    .await;
    assert_eq!(v["keys"], json!(["x", "y"]));
    let v = ok(
        &app,
        "pg_jsonb_keys",
        json!({"table": "docs", "column": "data"}),
    )
    .await;
    assert_eq!(
        v["keys"],
        json!(["age", "name", "tags", "active", "address"])
    );
    assert_eq!(
        v["rowsWithKey"],
        json!({"active": 1, "address": 1, "age": 2, "name": 2, "tags": 2})
    );
    let v = ok(
        &app,
        "pg_jsonb_keys",
        json!({"table": WEIRD, "column": "co l", "where": "id = $1", "params": [1]}),
    )
    .await;
    assert_eq!(v["keys"], json!(["k", "n"]));
    let e = fail(&app, "pg_jsonb_keys", json!({"document": [1]})).await;
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("an array, not an object"),
        "{e}"
    );
    let e = fail(&app, "pg_jsonb_keys", json!({"document": {}, "path": "x"})).await;
    assert!(
        e["error"].as_str().unwrap().contains("does not exist"),
        "{e}"
    );
    hostile_reads(
        &app,
        "pg_jsonb_keys",
        json!({"table": "docs", "column": "data"}),
    )
    .await;
}

#[tokio::test]
async fn typeof_pretty_and_normalize() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_typeof",
        json!({"document": {"a": [1]}, "path": "a"}),
    )
    .await;
    assert_eq!(v, json!({"type": "array", "found": true}));
    let v = ok(
        &app,
        "pg_jsonb_typeof",
        json!({"document": {"a": [1]}, "path": "b"}),
    )
    .await;
    assert_eq!(v, json!({"found": false}));
    let v = ok(&app, "pg_jsonb_typeof", json!({"table": "docs", "column": "data", "select": ["id"], "where": "id IN ($1, $2, $3)", "params": [2, 3, 4]})).await;
    assert_eq!(
        v["rows"],
        json!([{"id": 2, "type": "object"}, {"id": 3, "type": null}, {"id": 4, "type": "array"}])
    );
    let e = fail(
        &app,
        "pg_jsonb_typeof",
        json!({"json": "{\"a\":", "path": "a"}),
    )
    .await;
    expect(&e, "DATA_EXCEPTION", "database");
    hostile_reads(
        &app,
        "pg_jsonb_typeof",
        json!({"table": WEIRD, "column": "co l"}),
    )
    .await;

    let v = ok(&app, "pg_jsonb_pretty", json!({"document": {"a": [1]}})).await;
    assert_eq!(
        v,
        json!({"formatted": "{\n    \"a\": [\n        1\n    ]\n}"})
    );
    let v = ok(
        &app,
        "pg_jsonb_pretty",
        json!({"table": WEIRD, "column": "co l", "where": "id = 2", "select": ["id"]}),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([{"id": 2, "formatted": "{\n    \"k\": \"w\"\n}"}])
    );
    let e = fail(
        &app,
        "pg_jsonb_pretty",
        json!({"table": "docs", "column": "data", "limit": 101}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    hostile_reads(
        &app,
        "pg_jsonb_pretty",
        json!({"table": "docs", "column": "data"}),
    )
    .await;

    let v = ok(
        &app,
        "pg_jsonb_normalize",
        json!({"document": {"b": 2, "a": "x", "n": null}}),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([{"id": null, "key": "a", "value": "x", "type": "string"},
               {"id": null, "key": "b", "value": "2", "type": "number"},
               {"id": null, "key": "n", "value": null, "type": "null"}])
    );
    let v = ok(
        &app,
        "pg_jsonb_normalize",
        json!({"document": {"a": {"b": [1, {"c": true}]}, "e": {}}, "mode": "flatten"}),
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([{"id": null, "key": "a.b.0", "path": ["a", "b", "0"], "value": 1, "type": "number"},
               {"id": null, "key": "a.b.1.c", "path": ["a", "b", "1", "c"], "value": true, "type": "boolean"},
               {"id": null, "key": "e", "path": ["e"], "value": {}, "type": "object"}])
    );
    let v = ok(
        &app,
        "pg_jsonb_normalize",
        json!({"table": "docs", "column": "data", "mode": "array", "idColumn": "id"}),
    )
    .await;
    assert_eq!(
        v["rows"][2],
        json!({"id": 4, "key": "2", "value": 3, "type": "number"})
    );
    assert_eq!(v["count"], 3);
    let v = ok(&app, "pg_jsonb_normalize", json!({"table": WEIRD, "column": "co l", "mode": "pairs", "idColumn": "id", "where": "id = 2"})).await;
    assert_eq!(
        v["rows"],
        json!([{"id": 2, "key": "k", "value": "w", "type": "string"}])
    );
    let e = fail(
        &app,
        "pg_jsonb_normalize",
        json!({"document": [1], "mode": "pairs"}),
    )
    .await;
    assert!(
        e["error"].as_str().unwrap().contains("needs an object"),
        "{e}"
    );
    let e = fail(
        &app,
        "pg_jsonb_normalize",
        json!({"document": {}, "mode": "sideways"}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    hostile_reads(
        &app,
        "pg_jsonb_normalize",
        json!({"table": "docs", "column": "data", "mode": "flatten"}),
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// builders, aggregation, merge, diff, path validation

#[tokio::test]
async fn object_and_array_builders() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_object",
        json!({"data": {"name": "Ann", "age": 30, "x": null}}),
    )
    .await;
    assert_eq!(v, json!({"object": {"age": 30, "name": "Ann", "x": null}}));
    let v = ok(
        &app,
        "pg_jsonb_object",
        json!({"keys": ["a", "b", "a"], "values": [1, [2], 3]}),
    )
    .await;
    assert_eq!(v, json!({"object": {"a": 3, "b": [2]}}));
    let e = fail(
        &app,
        "pg_jsonb_object",
        json!({"keys": ["a"], "values": []}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(&app, "pg_jsonb_object", json!({})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let v = ok(
        &app,
        "pg_jsonb_array",
        json!({"values": [1, "two", null, {"x": [3]}]}),
    )
    .await;
    assert_eq!(v, json!({"array": [1, "two", null, {"x": [3]}]}));
    let v = ok(&app, "pg_jsonb_array", json!({"elements": []})).await;
    assert_eq!(v, json!({"array": []}));
    let e = fail(&app, "pg_jsonb_array", json!({"values": 1})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn agg_rows_and_groups() {
    let (_db, app) = setup().await;
    let v = ok(&app, "pg_jsonb_agg", json!({"table": "docs", "select": ["id"], "orderBy": ["id DESC"], "where": "id < $1", "params": [4]})).await;
    assert_eq!(
        v,
        json!({"result": [{"id": 3}, {"id": 2}, {"id": 1}], "count": 3})
    );
    let v = ok(
        &app,
        "pg_jsonb_agg",
        json!({"table": WEIRD, "select": ["co l"], "groupBy": "plain", "orderBy": ["id"]}),
    )
    .await;
    assert_eq!(
        v["groups"],
        json!([{"groupKey": "p", "count": 1, "items": [{"co l": {"k": "v", "n": null}, "plain": "p"}]},
               {"groupKey": "q", "count": 1, "items": [{"co l": {"k": "w"}, "plain": "q"}]}])
    );
    let v = ok(
        &app,
        "pg_jsonb_agg",
        json!({"table": "docs", "select": ["id"], "orderBy": ["id"], "limit": 2}),
    )
    .await;
    assert_eq!(v["result"], json!([{"id": 1}, {"id": 2}]));
    assert_eq!(v["truncated"], true);
    let e = fail(
        &app,
        "pg_jsonb_agg",
        json!({"table": "docs", "select": ["nope"]}),
    )
    .await;
    expect(&e, "UNDEFINED_COLUMN", "database");
    let e = fail(&app, "pg_jsonb_agg", json!({"table": "nope"})).await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_jsonb_agg",
        json!({"table": "docs", "orderBy": ["id; DROP TABLE docs"]}),
    )
    .await;
    expect(&e, "UNDEFINED_COLUMN", "database");
    hostile_reads(&app, "pg_jsonb_agg", json!({"table": "docs"})).await;
}

#[tokio::test]
async fn merge_deep_and_shallow() {
    let (_db, app) = setup().await;
    let base = json!({"a": {"x": 1, "l": [1]}, "b": 1});
    let overlay = json!({"a": {"y": 2, "l": [2]}, "c": null});
    let v = ok(
        &app,
        "pg_jsonb_merge",
        json!({"base": base, "overlay": overlay}),
    )
    .await;
    assert_eq!(
        v,
        json!({"merged": {"a": {"l": [2], "x": 1, "y": 2}, "b": 1, "c": null}, "deep": true, "mergeArrays": false})
    );
    let v = ok(
        &app,
        "pg_jsonb_merge",
        json!({"base": base, "overlay": overlay, "mergeArrays": true}),
    )
    .await;
    assert_eq!(v["merged"]["a"]["l"], json!([1, 2]));
    let v = ok(
        &app,
        "pg_jsonb_merge",
        json!({"base": base, "overlay": overlay, "deep": false}),
    )
    .await;
    assert_eq!(
        v["merged"],
        json!({"a": {"y": 2, "l": [2]}, "b": 1, "c": null})
    );
    let v = ok(
        &app,
        "pg_jsonb_merge",
        json!({"json1": [1], "json2": [2], "deep": false}),
    )
    .await;
    assert_eq!(v["merged"], json!([1, 2]));
    let e = fail(
        &app,
        "pg_jsonb_merge",
        json!({"base": {}, "overlay": {}, "deep": false, "mergeArrays": true}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(&app, "pg_jsonb_merge", json!({"base": {}})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn diff_is_structural() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_diff",
        json!({"doc1": {"a": 1, "b": {"c": [1, 2]}, "d": "x"}, "doc2": {"a": 1.0, "b": {"c": [1, 3, 4]}, "e": null}}),
    )
    .await;
    assert_eq!(
        v,
        json!({"identical": false, "total": 4, "differences": [
            {"path": ["b", "c", "1"], "pointer": "/b/c/1", "op": "changed", "oldValue": 2, "newValue": 3},
            {"path": ["b", "c", "2"], "pointer": "/b/c/2", "op": "added", "oldValue": null, "newValue": 4},
            {"path": ["d"], "pointer": "/d", "op": "removed", "oldValue": "x", "newValue": null},
            {"path": ["e"], "pointer": "/e", "op": "added", "oldValue": null, "newValue": null}
        ]})
    );
    let v = ok(
        &app,
        "pg_jsonb_diff",
        json!({"doc1": [1, {"a": true}], "doc2": [1, {"a": true}]}),
    )
    .await;
    assert_eq!(v, json!({"identical": true, "total": 0, "differences": []}));
    let v = ok(
        &app,
        "pg_jsonb_diff",
        json!({"doc1": 1, "doc2": "1", "limit": 1}),
    )
    .await;
    assert_eq!(v["differences"][0]["path"], json!([]));
    let v = ok(
        &app,
        "pg_jsonb_diff",
        json!({"doc1": [1, 2, 3], "doc2": [], "limit": 2}),
    )
    .await;
    assert_eq!(v["total"], 3);
    assert_eq!(v["truncated"], true);
    let e = fail(&app, "pg_jsonb_diff", json!({"doc1": {}})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn validate_path_reports_postgresqls_verdict() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_validate_path",
        json!({"path": "$.a[*] ? (@ > $min)"}),
    )
    .await;
    assert_eq!(
        v,
        json!({"valid": true, "normalized": "$.\"a\"[*]?(@ > $\"min\")"})
    );
    let v = ok(
        &app,
        "pg_jsonb_validate_path",
        json!({"path": "$.a[", "document": {}}),
    )
    .await;
    assert_eq!(v["valid"], false);
    assert_eq!(v["sqlstate"], "42601");
    assert!(v["error"].as_str().unwrap().contains("syntax error"), "{v}");
    let v = ok(
        &app,
        "pg_jsonb_validate_path",
        json!({"path": "$.a[*] ? (@ > $min)", "testValue": {"a": [1, 5, 9]}, "vars": {"min": 4}}),
    )
    .await;
    assert_eq!(v["results"], json!([5, 9]));
    let v = ok(
        &app,
        "pg_jsonb_validate_path",
        json!({"path": "$.a ? (@ > $min)", "document": {"a": 1}}),
    )
    .await;
    assert_eq!(v["valid"], true);
    assert!(v["error"].as_str().unwrap().contains("min"), "{v}");
    let e = fail(&app, "pg_jsonb_validate_path", json!({"document": {}})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_stats, pg_jsonb_security_scan, pg_jsonb_index_suggest

#[tokio::test]
async fn stats_over_a_sample() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_stats",
        json!({"table": "docs", "column": "data", "depth": 2}),
    )
    .await;
    assert_eq!(v["sampledRows"], 4);
    assert_eq!(v["sqlNullCount"], 1);
    assert_eq!(v["typeDistribution"], json!({"array": 1, "object": 2}));
    assert_eq!(v["topKeys"][0], json!({"key": "age", "count": 2}));
    assert_eq!(v["distinctKeys"], 5);
    assert_eq!(v["maxDepth"], 2);
    assert_eq!(v["depth"], 2);
    let paths = v["paths"].as_array().unwrap();
    let find = |p: &str| {
        paths
            .iter()
            .find(|x| x["path"] == p)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        find("$.tags[*]"),
        json!({"path": "$.tags[*]", "depth": 2, "count": 2, "rows": 1, "types": {"string": 2}})
    );
    assert_eq!(
        find("$[*]"),
        json!({"path": "$[*]", "depth": 1, "count": 3, "rows": 1, "types": {"number": 3}})
    );
    assert_eq!(find("$.address.zip")["types"], json!({"null": 1}));
    assert_eq!(v["pathCount"], 9);
    assert!(
        v["sample"]
            .as_str()
            .unwrap()
            .contains("not a random sample")
    );
    let v = ok(&app, "pg_jsonb_stats", json!({"table": WEIRD, "column": "co l", "where": "id = $1", "params": [1], "sampleSize": 5})).await;
    assert_eq!(
        v["paths"],
        json!([{"path": "$.k", "depth": 1, "count": 1, "rows": 1, "types": {"string": 1}},
                                  {"path": "$.n", "depth": 1, "count": 1, "rows": 1, "types": {"null": 1}}])
    );
    let e = fail(
        &app,
        "pg_jsonb_stats",
        json!({"table": "docs", "column": "data", "depth": 11}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_jsonb_stats",
        json!({"table": "docs", "column": "id"}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    hostile_reads(
        &app,
        "pg_jsonb_stats",
        json!({"table": "docs", "column": "data"}),
    )
    .await;
}

#[tokio::test]
async fn security_scan_finds_and_masks() {
    let (db, app) = setup().await;
    batch(
        &db,
        r#"CREATE TABLE "se cret" (id int, "pay load" jsonb);
           INSERT INTO "se cret" VALUES
             (1, '{"user": {"email": "ann@example.com", "password": "hunter2secret"}, "card": "4111 1111 1111 1111"}'),
             (2, '{"user": {"email": "bob@example.org"}, "card": "4111 1111 1111 1112", "keys": ["AKIAABCDEFGHIJKLMNOP"]}'),
             (3, '{"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "ssn": "123-45-6789", "api_key": "sk_live_abcdefghijkl", "tokens_used": 5}')"#,
    )
    .await;
    let v = ok(
        &app,
        "pg_jsonb_security_scan",
        json!({"table": "\"se cret\"", "column": "pay load"}),
    )
    .await;
    let text = v.to_string();
    for raw in [
        "hunter2secret",
        "4111 1111 1111 1111",
        "AKIAABCDEFGHIJKLMNOP",
        "ann@example.com",
        "sk_live_abcdefghijkl",
        "123-45-6789",
    ] {
        assert!(!text.contains(raw), "raw value {raw} leaked: {v}");
    }
    assert_eq!(v["sampledRows"], 3);
    assert_eq!(v["riskLevel"], "high");
    let got: Vec<(String, String, i64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().into(),
                f["kind"].as_str().unwrap().into(),
                f["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(
        got_sorted,
        vec![
            ("$.api_key".into(), "secretKey".into(), 1),
            ("$.card".into(), "creditCard".into(), 1),
            ("$.jwt".into(), "jwt".into(), 1),
            ("$.keys[*]".into(), "awsAccessKeyId".into(), 1),
            ("$.ssn".into(), "usSsn".into(), 1),
            ("$.user.email".into(), "email".into(), 2),
            ("$.user.password".into(), "secretKey".into(), 1),
        ]
    );
    assert_eq!(got[0], ("$.user.email".into(), "email".into(), 2));
    let card = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "creditCard")
        .unwrap();
    assert_eq!(card["examples"], json!(["****1111"]));
    let email = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "email")
        .unwrap();
    assert_eq!(
        email["examples"],
        json!(["a***@example.com", "b***@example.org"])
    );

    let v = ok(
        &app,
        "pg_jsonb_security_scan",
        json!({"table": "docs", "column": "data"}),
    )
    .await;
    assert_eq!(v["riskLevel"], "none");
    assert_eq!(v["sampledRows"], 4);
    assert_eq!(v["findings"], json!([]));
    let e = fail(
        &app,
        "pg_jsonb_security_scan",
        json!({"table": "docs", "column": "data", "sampleSize": 0}),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    hostile_reads(
        &app,
        "pg_jsonb_security_scan",
        json!({"table": "docs", "column": "data"}),
    )
    .await;
}

#[tokio::test]
async fn index_suggest_from_key_statistics_without_a_workload() {
    let (_db, app) = setup().await;
    let v = ok(
        &app,
        "pg_jsonb_index_suggest",
        json!({"table": WEIRD, "column": "co l"}),
    )
    .await;
    assert_eq!(v["basis"], "keyStatistics");
    assert_eq!(v["statementsAnalyzed"], 0);
    assert_eq!(v["suggestions"][0]["kind"], "gin_jsonb_path_ops");
    assert_eq!(
        v["suggestions"][0]["createIndex"],
        "CREATE INDEX CONCURRENTLY \"we\"\"ird tab_co l_path_ops\" ON \"we\"\"ird tab\" USING gin (\"co l\" jsonb_path_ops)"
    );
    assert_eq!(
        v["suggestions"][1]["createIndex"],
        "CREATE INDEX CONCURRENTLY \"we\"\"ird tab_co l_k\" ON \"we\"\"ird tab\" ((\"co l\" ->> 'k'))"
    );
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("not on queries"))
    );
    // The suggested statements run as they are.
    for s in v["suggestions"].as_array().unwrap() {
        sql(&app, s["createIndex"].as_str().unwrap()).await;
    }
    let v = ok(
        &app,
        "pg_jsonb_index_suggest",
        json!({"table": WEIRD, "column": "co l"}),
    )
    .await;
    // `k` is in both rows, `n` in one of two: both get an expression index.
    assert_eq!(v["existingIndexes"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["suggestions"][0]["coveredBy"],
        "we\"ird tab_co l_path_ops"
    );
    assert_eq!(v["suggestions"][1]["coveredBy"], "we\"ird tab_co l_k");
    assert_eq!(v["suggestions"][2]["coveredBy"], "we\"ird tab_co l_n");
    let e = fail(
        &app,
        "pg_jsonb_index_suggest",
        json!({"table": "docs", "column": "nope"}),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
}

#[tokio::test]
async fn index_suggest_reads_the_workload() {
    let (db, app) = setup().await;
    batch(
        &db,
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE INDEX docs_data_gin ON docs USING gin (data);",
    )
    .await;
    let c = support::connect(&db.url).await;
    for _ in 0..3 {
        c.query(
            "SELECT id FROM docs WHERE data @> $1::text::jsonb",
            &[&"{\"a\": 1}"],
        )
        .await
        .unwrap();
    }
    c.query("SELECT id FROM docs WHERE data->>'name' = $1", &[&"ann"])
        .await
        .unwrap();
    let v = ok(
        &app,
        "pg_jsonb_index_suggest",
        json!({"table": "docs", "column": "data"}),
    )
    .await;
    assert_eq!(v["basis"], "workload", "{v:#}");
    assert_eq!(v["statementsAnalyzed"], 2, "{v:#}");
    assert_eq!(v["operators"], json!({"->>": 1, "@>": 3}));
    assert_eq!(
        v["suggestions"][0],
        json!({"kind": "gin_jsonb_path_ops", "createIndex": "CREATE INDEX CONCURRENTLY \"docs_data_path_ops\" ON \"docs\" USING gin (\"data\" jsonb_path_ops)",
               "reason": v["suggestions"][0]["reason"], "calls": 3, "coveredBy": "docs_data_gin"})
    );
    assert_eq!(v["existingIndexes"][0]["name"], "docs_data_gin");
    // The key of `->>` is a parameter in pg_stat_statements: said, with an example.
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("parameter")),
        "{v:#}"
    );
}

/// With `transactionId`, the column lookup runs in the caller's transaction too: a table
/// created there and not committed is read and written through it, and rolled back.
#[tokio::test]
async fn jsonb_reads_find_a_table_created_in_the_callers_transaction() {
    let (_db, app) = setup().await;
    let tx = support::ok(&app, "pg_transaction_begin", json!({})).await["transactionId"].clone();
    for stmt in [
        "CREATE TABLE fresh (id int, doc jsonb)",
        "INSERT INTO fresh VALUES (1, '{\"a\": {\"b\": 7}}'), (2, '{\"a\": {\"b\": 8}}')",
    ] {
        support::ok(
            &app,
            "pg_write_query",
            json!({ "sql": stmt, "transactionId": tx }),
        )
        .await;
    }
    let v = support::ok(
        &app,
        "pg_jsonb_keys",
        json!({ "table": "fresh", "column": "doc", "transactionId": tx }),
    )
    .await;
    assert!(v.to_string().contains("\"a\""), "{v:#}");
    let v = support::ok(
        &app,
        "pg_jsonb_set",
        json!({ "table": "fresh", "column": "doc", "path": ["a", "b"], "value": 9,
                "where": "id = $1", "params": [2], "transactionId": tx }),
    )
    .await;
    assert_eq!(v["rowsAffected"], 1, "{v:#}");
    let e = support::fail(
        &app,
        "pg_jsonb_keys",
        json!({ "table": "fresh", "column": "doc" }),
    )
    .await;
    support::expect(&e, "NOT_FOUND", "not_found");
    support::ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
}
