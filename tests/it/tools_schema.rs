//! The `schema` tool group against a real PostgreSQL: schemas, views, sequences,
//! functions, triggers and constraints. Each test gets a database of its own.

use crate::support;

use support::ok;

use std::sync::Arc;

use pgmcp::app::App;
use pgmcp::error::ToolError;
use serde_json::{Value, json};

/// A fresh database, an app on it and a plain client for setting up fixtures.
async fn setup() -> (support::TestDb, Arc<App>, tokio_postgres::Client) {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    let client = support::connect(&db.url).await;
    (db, app, client)
}

async fn err(app: &Arc<App>, tool: &str, args: Value) -> ToolError {
    match app.call(tool, args.clone()).await {
        Ok(v) => panic!("{tool}({args}) succeeded unexpectedly: {v}"),
        Err(e) => e,
    }
}

fn assert_code(e: &ToolError, code: &str, sqlstate: Option<&str>) {
    assert_eq!(e.code, code, "{}", e.to_json());
    assert_eq!(e.sqlstate.as_deref(), sqlstate, "{}", e.to_json());
}

fn items<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} array in {v}"))
}

fn names(v: &Value, key: &str) -> Vec<String> {
    items(v, key)
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn find<'a>(v: &'a Value, key: &str, name: &str) -> &'a Value {
    items(v, key)
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {v}"))
}

async fn scalar(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

async fn schema_exists(client: &tokio_postgres::Client, name: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

// ---------------------------------------------------------------------------
// Schemas

#[tokio::test]
async fn list_schemas_shows_user_schemas_with_counts() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE SCHEMA app; COMMENT ON SCHEMA app IS 'the app';
             CREATE TABLE app.a (id int); CREATE TABLE app.b (id int);
             CREATE VIEW app.v AS SELECT 1 AS x;",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_list_schemas", json!({})).await;
    let got = names(&v, "schemas");
    assert!(
        got.contains(&"app".to_string()) && got.contains(&"public".to_string()),
        "{v}"
    );
    assert!(
        !got.iter()
            .any(|n| n == "pg_catalog" || n == "information_schema" || n.starts_with("pg_toast")),
        "{v}"
    );
    let app_row = find(&v, "schemas", "app");
    assert_eq!(app_row["tables"], 2, "{v}");
    assert_eq!(app_row["views"], 1, "{v}");
    assert_eq!(app_row["comment"], "the app", "{v}");
    assert_eq!(app_row["owner"], "postgres", "{v}");
    assert!(app_row["size"].is_string(), "{v}");
    assert!(
        find(&v, "schemas", "public").get("comment").is_some(),
        "{v}"
    );
    assert_eq!(v["total"], got.len(), "{v}");
    assert!(v.get("nextOffset").is_none(), "{v}");

    let v = ok(&app, "pg_list_schemas", json!({"includeSystem": true})).await;
    let got = names(&v, "schemas");
    assert!(
        got.contains(&"pg_catalog".to_string()) && got.contains(&"information_schema".to_string()),
        "{v}"
    );

    // Paging and pattern.
    let v = ok(&app, "pg_list_schemas", json!({"limit": 1})).await;
    assert_eq!(names(&v, "schemas"), ["app"], "{v}");
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(v["nextOffset"], 1, "{v}");
    let v = ok(&app, "pg_list_schemas", json!({"limit": 1, "offset": 1})).await;
    assert_eq!(names(&v, "schemas"), ["public"], "{v}");
    assert!(v.get("nextOffset").is_none(), "{v}");
    let v = ok(&app, "pg_list_schemas", json!({"pattern": "AP%"})).await;
    assert_eq!(names(&v, "schemas"), ["app"], "{v}");
}

#[tokio::test]
async fn list_schemas_rejects_bad_arguments() {
    let (_db, app, _client) = setup().await;
    let e = err(&app, "pg_list_schemas", json!({"includeSystem": "yes"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_list_schemas", json!({"bogus": 1})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    assert!(e.error.contains("bogus"), "{}", e.to_json());
    assert!(
        e.suggestion
            .as_deref()
            .unwrap_or("")
            .contains("includeSystem"),
        "{}",
        e.to_json()
    );
    let e = err(&app, "pg_list_schemas", json!({"limit": -1})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_list_schemas", json!("app")).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

#[tokio::test]
async fn create_schema_and_its_errors() {
    let (_db, app, client) = setup().await;
    client.batch_execute("CREATE ROLE schema_owner").await.ok();
    let v = ok(&app, "pg_create_schema", json!({"name": "sales"})).await;
    assert_eq!(v["created"], "sales", "{v}");
    assert!(schema_exists(&client, "sales").await);

    let e = err(&app, "pg_create_schema", json!({"name": "sales"})).await;
    assert_code(&e, "ALREADY_EXISTS", Some("42P06"));
    assert!(e.suggestion.is_some(), "{}", e.to_json());
    ok(
        &app,
        "pg_create_schema",
        json!({"name": "sales", "ifNotExists": true}),
    )
    .await;

    ok(
        &app,
        "pg_create_schema",
        json!({"name": "owned", "authorization": "schema_owner"}),
    )
    .await;
    let owner: String = client
        .query_one(
            "SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = 'owned'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, "schema_owner");

    let e = err(
        &app,
        "pg_create_schema",
        json!({"name": "x", "authorization": "no_such_role"}),
    )
    .await;
    assert_eq!(e.sqlstate.as_deref(), Some("42704"), "{}", e.to_json());
    assert!(!schema_exists(&client, "x").await);

    let e = err(&app, "pg_create_schema", json!({})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    assert!(e.error.contains("name"), "{}", e.to_json());
    let e = err(&app, "pg_create_schema", json!({"name": ""})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_create_schema", json!({"name": "a".repeat(64)})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_create_schema", json!({"name": 42})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

#[tokio::test]
async fn drop_schema_and_its_errors() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE SCHEMA empty; CREATE SCHEMA full_one; CREATE TABLE full_one.t (id int)",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_drop_schema", json!({"name": "empty"})).await;
    assert_eq!(v["dropped"], "empty", "{v}");
    assert!(!schema_exists(&client, "empty").await);

    let e = err(&app, "pg_drop_schema", json!({"name": "empty"})).await;
    assert_code(&e, "UNDEFINED_SCHEMA", Some("3F000"));
    ok(
        &app,
        "pg_drop_schema",
        json!({"name": "empty", "ifExists": true}),
    )
    .await;

    let e = err(&app, "pg_drop_schema", json!({"name": "full_one"})).await;
    assert_eq!(e.sqlstate.as_deref(), Some("2BP01"), "{}", e.to_json());
    assert!(
        e.suggestion.as_deref().unwrap_or("").contains("cascade"),
        "{}",
        e.to_json()
    );
    assert!(schema_exists(&client, "full_one").await);
    ok(
        &app,
        "pg_drop_schema",
        json!({"name": "full_one", "cascade": true}),
    )
    .await;
    assert!(!schema_exists(&client, "full_one").await);

    let e = err(
        &app,
        "pg_drop_schema",
        json!({"name": "x", "cascade": "yes"}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

// ---------------------------------------------------------------------------
// Views

#[tokio::test]
async fn list_views_filters_kinds_and_definitions() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'a');
             CREATE VIEW plain AS SELECT id FROM t; COMMENT ON VIEW plain IS 'just ids';
             CREATE MATERIALIZED VIEW mat AS SELECT count(*) AS n FROM t;
             CREATE MATERIALIZED VIEW empty_mat AS SELECT 1 AS x WITH NO DATA;
             CREATE SCHEMA other; CREATE VIEW other.ov AS SELECT 2 AS y;",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_list_views", json!({})).await;
    assert_eq!(
        names(&v, "views"),
        ["ov", "empty_mat", "mat", "plain"],
        "{v}"
    );
    assert_eq!(v["total"], 4, "{v}");
    let plain = find(&v, "views", "plain");
    assert_eq!(plain["type"], "view", "{v}");
    assert_eq!(plain["schema"], "public", "{v}");
    assert_eq!(plain["comment"], "just ids", "{v}");
    assert!(plain.get("definition").is_none(), "{v}");
    let mat = find(&v, "views", "mat");
    assert_eq!(mat["type"], "materialized_view", "{v}");
    assert!(mat.get("populated").is_none(), "{v}");
    assert!(mat["size"].is_string(), "{v}");
    assert_eq!(find(&v, "views", "empty_mat")["populated"], false, "{v}");

    let v = ok(
        &app,
        "pg_list_views",
        json!({"includeMaterialized": false, "schema": "public"}),
    )
    .await;
    assert_eq!(names(&v, "views"), ["plain"], "{v}");

    let v = ok(
        &app,
        "pg_list_views",
        json!({"pattern": "PL%", "includeDefinition": true}),
    )
    .await;
    assert_eq!(names(&v, "views"), ["plain"], "{v}");
    let def = v["views"][0]["definition"].as_str().unwrap();
    assert!(def.contains("SELECT") && def.contains("FROM t"), "{def}");

    // System views appear only on request (or when their schema is named).
    let v = ok(
        &app,
        "pg_list_views",
        json!({"pattern": "pg_stat_activity"}),
    )
    .await;
    assert_eq!(v["total"], 0, "{v}");
    let v = ok(
        &app,
        "pg_list_views",
        json!({"pattern": "pg_stat_activity", "includeSystem": true}),
    )
    .await;
    assert_eq!(names(&v, "views"), ["pg_stat_activity"], "{v}");
    let v = ok(
        &app,
        "pg_list_views",
        json!({"schema": "pg_catalog", "pattern": "pg_stat_activity"}),
    )
    .await;
    assert_eq!(names(&v, "views"), ["pg_stat_activity"], "{v}");

    let v = ok(&app, "pg_list_views", json!({"limit": 2, "offset": 1})).await;
    assert_eq!(names(&v, "views"), ["empty_mat", "mat"], "{v}");
    assert_eq!(v["nextOffset"], 3, "{v}");
}

#[tokio::test]
async fn list_views_rejects_bad_arguments() {
    let (_db, app, _client) = setup().await;
    let e = err(&app, "pg_list_views", json!({"limit": "ten"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_list_views", json!({"materialized": true})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

#[tokio::test]
async fn create_view_plain_materialized_and_replace() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute("CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b'); CREATE SCHEMA rep")
        .await
        .unwrap();
    let v = ok(
        &app,
        "pg_create_view",
        json!({"name": "ids", "sql": "SELECT id FROM t WHERE id > 0;  "}),
    )
    .await;
    assert_eq!(v["created"], "ids", "{v}");
    assert_eq!(v["type"], "view", "{v}");
    assert_eq!(
        v["columns"],
        json!([{"name": "id", "type": "integer"}]),
        "{v}"
    );
    assert_eq!(scalar(&client, "SELECT count(*) FROM ids").await, 2);

    let v = ok(
        &app,
        "pg_create_view",
        json!({"name": "ids", "sql": "SELECT id, name FROM t", "orReplace": true}),
    )
    .await;
    assert_eq!(v["columns"].as_array().unwrap().len(), 2, "{v}");

    let v = ok(
        &app,
        "pg_create_view",
        json!({"name": "rep.counts", "query": "SELECT count(*) AS n FROM public.t -- trailing comment", "materialized": true}),
    )
    .await;
    assert_eq!(v["created"], "rep.counts", "{v}");
    assert_eq!(v["type"], "materialized_view", "{v}");
    assert_eq!(scalar(&client, "SELECT n FROM rep.counts").await, 2);

    let v = ok(
        &app,
        "pg_create_view",
        json!({"name": "later", "schema": "rep", "sql": "SELECT 1 AS x", "materialized": true, "withData": false}),
    )
    .await;
    assert_eq!(v["populated"], false, "{v}");
    let populated: bool = client
        .query_one(
            "SELECT relispopulated FROM pg_class WHERE oid = 'rep.later'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!populated);
}

#[tokio::test]
async fn create_view_errors() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute("CREATE TABLE canary (id int); INSERT INTO canary VALUES (1)")
        .await
        .unwrap();
    ok(
        &app,
        "pg_create_view",
        json!({"name": "v", "sql": "SELECT 1 AS x"}),
    )
    .await;
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "v", "sql": "SELECT 1 AS x"}),
    )
    .await;
    assert_code(&e, "ALREADY_EXISTS", Some("42P07"));

    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "w", "sql": "SELEC 1"}),
    )
    .await;
    assert_code(&e, "SYNTAX_ERROR", Some("42601"));
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "w", "sql": "SELECT * FROM missing_table"}),
    )
    .await;
    assert_code(&e, "UNDEFINED_TABLE", Some("42P01"));
    let e = err(&app, "pg_create_view", json!({"name": "w", "sql": "  ;  "})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "w", "sql": "SELECT 1", "withData": true}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "w", "sql": "SELECT 1", "materialized": true, "orReplace": true}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_create_view", json!({"name": "w"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "a.b.c", "sql": "SELECT 1"}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);

    // The query is one statement: a second one is refused, not run.
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "w", "sql": "SELECT 1; DROP TABLE canary"}),
    )
    .await;
    assert_eq!(
        e.category,
        pgmcp::error::Category::Database,
        "{}",
        e.to_json()
    );
    // Data-modifying CTEs are refused by PostgreSQL in views.
    err(
        &app,
        "pg_create_view",
        json!({"name": "w", "sql": "WITH d AS (DELETE FROM canary RETURNING *) SELECT * FROM d"}),
    )
    .await;
    assert_eq!(scalar(&client, "SELECT count(*) FROM canary").await, 1);
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM pg_class WHERE relname = 'w'").await,
        0
    );
}

#[tokio::test]
async fn drop_view_detects_materialized() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE VIEW v AS SELECT 1 AS x; CREATE MATERIALIZED VIEW m AS SELECT 1 AS x;
             CREATE SCHEMA s; CREATE VIEW s.v2 AS SELECT 2 AS y; CREATE MATERIALIZED VIEW s.m2 AS SELECT 1 AS x",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_drop_view", json!({"name": "v"})).await;
    assert_eq!(v, json!({"dropped": "v", "type": "view"}));
    let v = ok(&app, "pg_drop_view", json!({"name": "m"})).await;
    assert_eq!(v, json!({"dropped": "m", "type": "materialized_view"}));
    ok(&app, "pg_drop_view", json!({"name": "v2", "schema": "s"})).await;
    ok(
        &app,
        "pg_drop_view",
        json!({"name": "s.m2", "materialized": true}),
    )
    .await;
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM pg_class WHERE relkind IN ('v', 'm') AND relnamespace::regnamespace::text IN ('public', 's')"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn drop_view_errors() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute("CREATE TABLE t (id int); CREATE VIEW base AS SELECT id FROM t; CREATE VIEW dep AS SELECT * FROM base")
        .await
        .unwrap();
    let e = err(&app, "pg_drop_view", json!({"name": "missing"})).await;
    assert_code(&e, "UNDEFINED_TABLE", Some("42P01"));
    ok(
        &app,
        "pg_drop_view",
        json!({"name": "missing", "ifExists": true}),
    )
    .await;

    let e = err(&app, "pg_drop_view", json!({"name": "base"})).await;
    assert_eq!(e.sqlstate.as_deref(), Some("2BP01"), "{}", e.to_json());
    assert!(
        e.suggestion.as_deref().unwrap_or("").contains("cascade"),
        "{}",
        e.to_json()
    );
    ok(
        &app,
        "pg_drop_view",
        json!({"name": "base", "cascade": true}),
    )
    .await;
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM pg_class WHERE relname IN ('base', 'dep')"
        )
        .await,
        0
    );

    // A table is not a view.
    let e = err(&app, "pg_drop_view", json!({"name": "t"})).await;
    assert_eq!(e.sqlstate.as_deref(), Some("42809"), "{}", e.to_json());
    assert_eq!(
        scalar(&client, "SELECT count(*) FROM pg_class WHERE relname = 't'").await,
        1
    );

    let e = err(
        &app,
        "pg_drop_view",
        json!({"name": "t", "materialized": "no"}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

// ---------------------------------------------------------------------------
// Sequences

#[tokio::test]
async fn list_sequences_shows_settings_and_owners() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, n bigint GENERATED ALWAYS AS IDENTITY);
             CREATE SEQUENCE counter AS integer START 10 INCREMENT 5 MINVALUE 10 MAXVALUE 1000 CYCLE CACHE 3;
             SELECT nextval('counter'); SELECT nextval('counter');
             CREATE SCHEMA other; CREATE SEQUENCE other.s;",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_list_sequences", json!({})).await;
    assert_eq!(
        names(&v, "sequences"),
        ["s", "counter", "orders_id_seq", "orders_n_seq"],
        "{v}"
    );
    assert_eq!(v["total"], 4, "{v}");
    let c = find(&v, "sequences", "counter");
    assert_eq!(c["schema"], "public");
    assert_eq!(c["dataType"], "integer", "{v}");
    assert_eq!(c["start"], 10, "{v}");
    assert_eq!(c["increment"], 5, "{v}");
    assert_eq!(c["minValue"], 10, "{v}");
    assert_eq!(c["maxValue"], 1000, "{v}");
    assert_eq!(c["cycle"], true, "{v}");
    assert_eq!(c["cache"], 3, "{v}");
    // With a cache, the last value allocated (15 was handed out, 20 is reserved).
    assert_eq!(c["lastValue"], 20, "{v}");
    assert!(c.get("ownedBy").is_none(), "{v}");

    let serial = find(&v, "sequences", "orders_id_seq");
    assert_eq!(serial["ownedBy"], "public.orders.id", "{v}");
    assert!(serial.get("identity").is_none(), "{v}");
    assert!(serial.get("lastValue").is_none(), "never used: {v}");
    assert!(serial.get("cache").is_none(), "{v}");
    let identity = find(&v, "sequences", "orders_n_seq");
    assert_eq!(identity["ownedBy"], "public.orders.n", "{v}");
    assert_eq!(identity["identity"], true, "{v}");
    assert_eq!(identity["dataType"], "bigint", "{v}");
    // Beyond 2^53: carried as a string so JavaScript clients keep every digit.
    assert_eq!(identity["maxValue"], "9223372036854775807", "{v}");

    let v = ok(&app, "pg_list_sequences", json!({"schema": "other"})).await;
    assert_eq!(names(&v, "sequences"), ["s"], "{v}");
    let v = ok(
        &app,
        "pg_list_sequences",
        json!({"pattern": "orders%", "limit": 1}),
    )
    .await;
    assert_eq!(names(&v, "sequences"), ["orders_id_seq"], "{v}");
    assert_eq!(v["nextOffset"], 1, "{v}");
}

#[tokio::test]
async fn list_sequences_rejects_bad_arguments() {
    let (_db, app, _client) = setup().await;
    let e = err(&app, "pg_list_sequences", json!({"table": "x"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_list_sequences", json!({"schema": ["a"]})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

#[tokio::test]
async fn create_sequence_with_options() {
    let (_db, app, client) = setup().await;
    let v = ok(
        &app,
        "pg_create_sequence",
        json!({"name": "down", "dataType": "smallint", "start": 100, "increment": -10,
               "minValue": -50, "maxValue": 100, "cycle": true, "cache": 2}),
    )
    .await;
    assert_eq!(v["created"], "down", "{v}");
    assert!(
        v["sql"].as_str().unwrap().contains("INCREMENT BY -10"),
        "{v}"
    );
    assert_eq!(scalar(&client, "SELECT nextval('down')").await, 100);
    assert_eq!(scalar(&client, "SELECT nextval('down')").await, 90);
    let v = ok(&app, "pg_list_sequences", json!({"pattern": "down"})).await;
    let row = &v["sequences"][0];
    assert_eq!(row["dataType"], "smallint", "{v}");
    assert_eq!(row["minValue"], -50, "{v}");
    assert_eq!(row["cycle"], true, "{v}");

    client.batch_execute("CREATE SCHEMA s").await.unwrap();
    ok(
        &app,
        "pg_create_sequence",
        json!({"name": "plain", "schema": "s"}),
    )
    .await;
    assert_eq!(scalar(&client, "SELECT nextval('s.plain')").await, 1);
    ok(
        &app,
        "pg_create_sequence",
        json!({"name": "s.big", "start": i64::MAX - 1, "maxValue": i64::MAX}),
    )
    .await;
    assert_eq!(
        scalar(&client, "SELECT nextval('s.big')").await,
        i64::MAX - 1
    );
    ok(
        &app,
        "pg_create_sequence",
        json!({"name": "s.low", "minValue": i64::MIN, "increment": -1}),
    )
    .await;
}

#[tokio::test]
async fn create_sequence_errors() {
    let (_db, app, _client) = setup().await;
    ok(&app, "pg_create_sequence", json!({"name": "seq"})).await;
    let e = err(&app, "pg_create_sequence", json!({"name": "seq"})).await;
    assert_code(&e, "ALREADY_EXISTS", Some("42P07"));
    ok(
        &app,
        "pg_create_sequence",
        json!({"name": "seq", "ifNotExists": true}),
    )
    .await;

    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "increment": 0}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "minValue": 5, "maxValue": 5}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_create_sequence", json!({"name": "z", "cache": 0})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    // Values must be integers: no SQL can ride along.
    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "start": "1; DROP TABLE x"}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "start": 1.5}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "dataType": "numeric"}),
    )
    .await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    // PostgreSQL's own range checks come back as database errors.
    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "start": 5, "minValue": 10}),
    )
    .await;
    assert_eq!(e.sqlstate.as_deref(), Some("22023"), "{}", e.to_json());
    let e = err(
        &app,
        "pg_create_sequence",
        json!({"name": "z", "dataType": "smallint", "maxValue": 100000}),
    )
    .await;
    assert_eq!(e.sqlstate.as_deref(), Some("22023"), "{}", e.to_json());
    let e = err(&app, "pg_create_sequence", json!({"name": "nope.z"})).await;
    assert_code(&e, "UNDEFINED_SCHEMA", Some("3F000"));
}

#[tokio::test]
async fn drop_sequence_and_its_errors() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE SEQUENCE a; CREATE SEQUENCE used;
             CREATE TABLE t (id int DEFAULT nextval('used'));
             CREATE TABLE owner_t (id serial);
             CREATE TABLE ident_t (id int GENERATED BY DEFAULT AS IDENTITY)",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_drop_sequence", json!({"name": "a"})).await;
    assert_eq!(v["dropped"], "a", "{v}");
    let e = err(&app, "pg_drop_sequence", json!({"name": "a"})).await;
    assert_code(&e, "UNDEFINED_TABLE", Some("42P01"));
    ok(
        &app,
        "pg_drop_sequence",
        json!({"name": "a", "ifExists": true}),
    )
    .await;

    let e = err(&app, "pg_drop_sequence", json!({"name": "used"})).await;
    assert_eq!(e.sqlstate.as_deref(), Some("2BP01"), "{}", e.to_json());
    assert!(
        e.suggestion.as_deref().unwrap_or("").contains("cascade"),
        "{}",
        e.to_json()
    );
    ok(
        &app,
        "pg_drop_sequence",
        json!({"name": "public.used", "cascade": true}),
    )
    .await;
    // The default that used it is gone with it; the column stays.
    assert_eq!(
        scalar(
            &client,
            "SELECT count(*) FROM pg_attrdef WHERE adrelid = 't'::regclass"
        )
        .await,
        0
    );

    // A serial's sequence is used by its column default; an identity's belongs to its column.
    let e = err(&app, "pg_drop_sequence", json!({"name": "owner_t_id_seq"})).await;
    assert_eq!(e.sqlstate.as_deref(), Some("2BP01"), "{}", e.to_json());
    let e = err(
        &app,
        "pg_drop_sequence",
        json!({"name": "ident_t_id_seq", "cascade": true}),
    )
    .await;
    assert_eq!(e.sqlstate.as_deref(), Some("2BP01"), "{}", e.to_json());
    let hint = e.suggestion.unwrap_or_default();
    assert!(
        hint.contains("drop column") && !hint.contains("cascade"),
        "{hint}"
    );

    let e = err(&app, "pg_drop_sequence", json!({"sequence": "a"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

// ---------------------------------------------------------------------------
// Functions

#[tokio::test]
async fn list_functions_by_kind_and_pattern() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE FUNCTION add(a int, b int DEFAULT 1) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
             COMMENT ON FUNCTION add(int, int) IS 'adds';
             CREATE FUNCTION add(a text, b text) RETURNS text LANGUAGE sql STABLE AS 'SELECT a || b';
             CREATE PROCEDURE log_it(msg text) LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE '%', msg; END $$;
             CREATE AGGREGATE my_sum(int) (SFUNC = int4pl, STYPE = int);
             CREATE SCHEMA util;
             CREATE FUNCTION util.secret() RETURNS void LANGUAGE sql SECURITY DEFINER AS '';",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_list_functions", json!({})).await;
    assert_eq!(
        names(&v, "functions"),
        ["add", "add", "log_it", "my_sum", "secret"],
        "{v}"
    );
    assert_eq!(v["total"], 5, "{v}");
    let f = &v["functions"][0];
    assert_eq!(f["schema"], "public", "{v}");
    assert_eq!(f["kind"], "function", "{v}");
    assert_eq!(f["arguments"], "a integer, b integer DEFAULT 1", "{v}");
    assert_eq!(f["returns"], "integer", "{v}");
    assert_eq!(f["language"], "sql", "{v}");
    assert_eq!(f["volatility"], "immutable", "{v}");
    assert_eq!(f["comment"], "adds", "{v}");
    assert_eq!(v["functions"][1]["volatility"], "stable", "{v}");
    let p = find(&v, "functions", "log_it");
    assert_eq!(p["kind"], "procedure", "{v}");
    assert_eq!(p["language"], "plpgsql", "{v}");
    assert!(
        p.get("returns").is_none() && p.get("volatility").is_none(),
        "{v}"
    );
    assert_eq!(find(&v, "functions", "my_sum")["kind"], "aggregate", "{v}");
    assert_eq!(
        find(&v, "functions", "secret")["securityDefiner"],
        true,
        "{v}"
    );
    assert!(f.get("securityDefiner").is_none(), "{v}");

    let v = ok(&app, "pg_list_functions", json!({"kind": "procedure"})).await;
    assert_eq!(names(&v, "functions"), ["log_it"], "{v}");
    let v = ok(&app, "pg_list_functions", json!({"schema": "util"})).await;
    assert_eq!(names(&v, "functions"), ["secret"], "{v}");
    let v = ok(
        &app,
        "pg_list_functions",
        json!({"pattern": "AD%", "limit": 1, "offset": 1}),
    )
    .await;
    assert_eq!(v["functions"][0]["arguments"], "a text, b text", "{v}");
    assert_eq!(v["total"], 2, "{v}");
    assert!(v.get("nextOffset").is_none(), "{v}");

    // System functions only on request.
    let v = ok(&app, "pg_list_functions", json!({"pattern": "now"})).await;
    assert_eq!(v["total"], 0, "{v}");
    let v = ok(
        &app,
        "pg_list_functions",
        json!({"pattern": "now", "includeSystem": true}),
    )
    .await;
    assert_eq!(v["functions"][0]["schema"], "pg_catalog", "{v}");
    assert_eq!(v["functions"][0]["volatility"], "stable", "{v}");
    let v = ok(
        &app,
        "pg_list_functions",
        json!({"kind": "window", "schema": "pg_catalog", "pattern": "row_number"}),
    )
    .await;
    assert_eq!(names(&v, "functions"), ["row_number"], "{v}");
}

#[tokio::test]
async fn list_functions_hides_extension_members() {
    let (_db, app, client) = setup().await;
    if client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS citext")
        .await
        .is_err()
    {
        eprintln!("citext is not available; skipping");
        return;
    }
    client
        .batch_execute("CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        .await
        .unwrap();
    let v = ok(&app, "pg_list_functions", json!({})).await;
    assert_eq!(names(&v, "functions"), ["mine"], "{v}");
    let v = ok(
        &app,
        "pg_list_functions",
        json!({"includeExtensions": true, "pattern": "citext%"}),
    )
    .await;
    assert!(v["total"].as_u64().unwrap() > 5, "{v}");
    assert_eq!(v["functions"][0]["extension"], "citext", "{v}");
}

#[tokio::test]
async fn list_functions_rejects_bad_arguments() {
    let (_db, app, _client) = setup().await;
    let e = err(&app, "pg_list_functions", json!({"kind": "trigger"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_list_functions", json!({"name": "x"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

// ---------------------------------------------------------------------------
// Triggers

#[tokio::test]
async fn list_triggers_describes_user_triggers() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE TABLE parent (id int PRIMARY KEY);
             CREATE TABLE t (id int REFERENCES parent, updated timestamptz);
             CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated := now(); RETURN NEW; END $$;
             CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             CREATE TRIGGER t_touch BEFORE INSERT OR UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
             CREATE TRIGGER t_audit AFTER DELETE OR TRUNCATE ON t FOR EACH STATEMENT EXECUTE FUNCTION audit();
             ALTER TABLE t DISABLE TRIGGER t_audit;
             CREATE SCHEMA s; CREATE TABLE s.other (id int);
             CREATE TRIGGER other_audit AFTER INSERT ON s.other FOR EACH ROW EXECUTE FUNCTION audit();
             CREATE VIEW v AS SELECT id FROM t;
             CREATE FUNCTION v_ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
             CREATE TRIGGER v_ins INSTEAD OF INSERT ON v FOR EACH ROW EXECUTE FUNCTION v_ins();",
        )
        .await
        .unwrap();
    // The foreign key's internal triggers are not listed.
    let v = ok(&app, "pg_list_triggers", json!({})).await;
    assert_eq!(
        names(&v, "triggers"),
        ["t_audit", "t_touch", "v_ins", "other_audit"],
        "{v}"
    );
    let touch = find(&v, "triggers", "t_touch");
    assert_eq!(touch["schema"], "public", "{v}");
    assert_eq!(touch["table"], "t", "{v}");
    assert_eq!(touch["timing"], "BEFORE", "{v}");
    assert_eq!(touch["events"], json!(["INSERT", "UPDATE"]), "{v}");
    assert_eq!(touch["level"], "ROW", "{v}");
    assert_eq!(touch["function"], "public.touch", "{v}");
    assert_eq!(touch["enabled"], true, "{v}");
    assert!(
        touch["definition"]
            .as_str()
            .unwrap()
            .starts_with("CREATE TRIGGER t_touch BEFORE INSERT OR UPDATE ON"),
        "{v}"
    );
    let audit = find(&v, "triggers", "t_audit");
    assert_eq!(audit["timing"], "AFTER", "{v}");
    assert_eq!(audit["events"], json!(["DELETE", "TRUNCATE"]), "{v}");
    assert_eq!(audit["level"], "STATEMENT", "{v}");
    assert_eq!(audit["enabled"], false, "{v}");
    assert_eq!(find(&v, "triggers", "v_ins")["timing"], "INSTEAD OF", "{v}");

    let v = ok(&app, "pg_list_triggers", json!({"table": "t"})).await;
    assert_eq!(names(&v, "triggers"), ["t_audit", "t_touch"], "{v}");
    let v = ok(&app, "pg_list_triggers", json!({"table": "s.other"})).await;
    assert_eq!(names(&v, "triggers"), ["other_audit"], "{v}");
    let v = ok(
        &app,
        "pg_list_triggers",
        json!({"table": "other", "schema": "s"}),
    )
    .await;
    assert_eq!(names(&v, "triggers"), ["other_audit"], "{v}");
    let v = ok(&app, "pg_list_triggers", json!({"schema": "s"})).await;
    assert_eq!(names(&v, "triggers"), ["other_audit"], "{v}");
    let v = ok(&app, "pg_list_triggers", json!({"table": "parent"})).await;
    assert_eq!(v, json!({"triggers": [], "total": 0}));
    let v = ok(&app, "pg_list_triggers", json!({"limit": 1})).await;
    assert_eq!(v["nextOffset"], 1, "{v}");
    assert_eq!(v["total"], 4, "{v}");
}

#[tokio::test]
async fn list_triggers_errors() {
    let (_db, app, _client) = setup().await;
    let e = err(&app, "pg_list_triggers", json!({"table": "missing"})).await;
    assert_code(&e, "NOT_FOUND", None);
    let e = err(
        &app,
        "pg_list_triggers",
        json!({"table": "missing", "schema": "nope"}),
    )
    .await;
    assert_code(&e, "NOT_FOUND", None);
    let e = err(&app, "pg_list_triggers", json!({"table": 5})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

// ---------------------------------------------------------------------------
// Constraints

#[tokio::test]
async fn list_constraints_of_every_kind() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute(
            "CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, age int CHECK (age >= 0));
             CREATE TABLE orders (
                 id int, line int, customer_id int NOT NULL,
                 PRIMARY KEY (id, line),
                 CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
                     ON DELETE CASCADE DEFERRABLE);
             CREATE SCHEMA s; CREATE TABLE s.r (during int4range, EXCLUDE USING gist (during WITH &&));",
        )
        .await
        .unwrap();
    let v = ok(&app, "pg_list_constraints", json!({"table": "customers"})).await;
    let rows = items(&v, "constraints");
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["check", "primary_key", "unique"], "{v}");
    let pk = find(&v, "constraints", "customers_pkey");
    assert_eq!(pk["columns"], json!(["id"]), "{v}");
    assert_eq!(pk["definition"], "PRIMARY KEY (id)", "{v}");
    assert_eq!(pk["table"], "customers", "{v}");
    assert_eq!(pk["schema"], "public", "{v}");
    assert_eq!(
        find(&v, "constraints", "customers_age_check")["columns"],
        json!(["age"]),
        "{v}"
    );
    assert_eq!(
        find(&v, "constraints", "customers_email_key")["type"],
        "unique",
        "{v}"
    );

    let v = ok(
        &app,
        "pg_list_constraints",
        json!({"table": "orders", "type": "foreign_key"}),
    )
    .await;
    assert_eq!(v["total"], 1, "{v}");
    let fk = &v["constraints"][0];
    assert_eq!(fk["name"], "orders_customer_fk", "{v}");
    assert_eq!(fk["columns"], json!(["customer_id"]), "{v}");
    assert_eq!(fk["referencesTable"], "public.customers", "{v}");
    assert_eq!(fk["referencesColumns"], json!(["id"]), "{v}");
    assert_eq!(fk["deferrable"], true, "{v}");
    assert!(
        fk["definition"]
            .as_str()
            .unwrap()
            .contains("ON DELETE CASCADE"),
        "{v}"
    );

    let v = ok(
        &app,
        "pg_list_constraints",
        json!({"table": "orders", "type": "primary_key"}),
    )
    .await;
    assert_eq!(v["constraints"][0]["columns"], json!(["id", "line"]), "{v}");

    let v = ok(&app, "pg_list_constraints", json!({"type": "not_null"})).await;
    let cols: Vec<(String, Value)> = items(&v, "constraints")
        .iter()
        .map(|r| {
            (
                r["table"].as_str().unwrap().to_string(),
                r["columns"].clone(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("customers".to_string(), json!(["email"])),
            ("customers".to_string(), json!(["id"])),
            ("orders".to_string(), json!(["customer_id"])),
            ("orders".to_string(), json!(["id"])),
            ("orders".to_string(), json!(["line"])),
        ],
        "{v}"
    );

    // All of them: NOT NULL is listed only when asked for.
    let v = ok(&app, "pg_list_constraints", json!({})).await;
    assert_eq!(v["total"], 6, "{v}");
    assert!(
        !items(&v, "constraints")
            .iter()
            .any(|r| r["type"] == "not_null"),
        "{v}"
    );
    let v = ok(&app, "pg_list_constraints", json!({"schema": "s"})).await;
    assert_eq!(v["constraints"][0]["type"], "exclusion", "{v}");
    assert_eq!(v["constraints"][0]["table"], "r", "{v}");
    let v = ok(&app, "pg_list_constraints", json!({"limit": 2})).await;
    assert_eq!(items(&v, "constraints").len(), 2, "{v}");
    assert_eq!(v["nextOffset"], 2, "{v}");

    // System catalogs only on request.
    let v = ok(
        &app,
        "pg_list_constraints",
        json!({"includeSystem": true, "limit": 1000}),
    )
    .await;
    assert!(
        items(&v, "constraints")
            .iter()
            .any(|r| r["schema"] == "pg_catalog"),
        "{v}"
    );
}

#[tokio::test]
async fn list_constraints_errors() {
    let (_db, app, _client) = setup().await;
    let e = err(&app, "pg_list_constraints", json!({"table": "missing"})).await;
    assert_code(&e, "NOT_FOUND", None);
    let e = err(&app, "pg_list_constraints", json!({"type": "primary"})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    let e = err(&app, "pg_list_constraints", json!({"offset": -5})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
}

// ---------------------------------------------------------------------------
// Identifier safety

const ODD: &str = "My \"Odd\" Schema";
const INJECTION: &str = "x\"; DROP TABLE canary; --";

#[tokio::test]
async fn odd_names_work_everywhere() {
    let (_db, app, client) = setup().await;
    ok(&app, "pg_create_schema", json!({"name": ODD})).await;
    assert!(schema_exists(&client, ODD).await);
    let v = ok(&app, "pg_list_schemas", json!({"pattern": "my%"})).await;
    assert_eq!(names(&v, "schemas"), [ODD], "{v}");

    client
        .batch_execute(
            "CREATE TABLE \"My \"\"Odd\"\" Schema\".\"Mixed Case\" (\"Id\" int PRIMARY KEY)",
        )
        .await
        .unwrap();
    let v = ok(
        &app,
        "pg_create_view",
        json!({"name": "View \"1\"", "schema": ODD, "sql": "SELECT \"Id\" FROM \"My \"\"Odd\"\" Schema\".\"Mixed Case\""}),
    )
    .await;
    assert_eq!(
        v["columns"],
        json!([{"name": "Id", "type": "integer"}]),
        "{v}"
    );
    // The same view addressed as a quoted qualified name.
    let e = err(
        &app,
        "pg_create_view",
        json!({"name": "\"My \"\"Odd\"\" Schema\".\"View \"\"1\"\"\"", "sql": "SELECT 1"}),
    )
    .await;
    assert_code(&e, "ALREADY_EXISTS", Some("42P07"));
    let v = ok(&app, "pg_list_views", json!({"schema": ODD})).await;
    assert_eq!(names(&v, "views"), ["View \"1\""], "{v}");

    ok(
        &app,
        "pg_create_sequence",
        json!({"name": "Seq Q", "schema": ODD, "start": 7}),
    )
    .await;
    let v = ok(&app, "pg_list_sequences", json!({"schema": ODD})).await;
    assert_eq!(names(&v, "sequences"), ["Seq Q"], "{v}");
    assert_eq!(v["sequences"][0]["start"], 7, "{v}");

    let v = ok(
        &app,
        "pg_list_constraints",
        json!({"table": "Mixed Case", "schema": ODD}),
    )
    .await;
    assert_eq!(v["constraints"][0]["columns"], json!(["Id"]), "{v}");
    let v = ok(
        &app,
        "pg_list_triggers",
        json!({"table": "Mixed Case", "schema": ODD}),
    )
    .await;
    assert_eq!(v["total"], 0, "{v}");

    ok(
        &app,
        "pg_drop_sequence",
        json!({"name": "Seq Q", "schema": ODD}),
    )
    .await;
    ok(
        &app,
        "pg_drop_view",
        json!({"name": "View \"1\"", "schema": ODD}),
    )
    .await;
    let e = err(&app, "pg_drop_schema", json!({"name": ODD})).await;
    assert_eq!(e.sqlstate.as_deref(), Some("2BP01"), "{}", e.to_json());
    ok(
        &app,
        "pg_drop_schema",
        json!({"name": ODD, "cascade": true}),
    )
    .await;
    assert!(!schema_exists(&client, ODD).await);

    // Names are case-sensitive: "mixed" is not "Mixed".
    client
        .batch_execute("CREATE SEQUENCE \"Upper\"")
        .await
        .unwrap();
    let e = err(&app, "pg_drop_sequence", json!({"name": "upper"})).await;
    assert_code(&e, "UNDEFINED_TABLE", Some("42P01"));
    ok(&app, "pg_drop_sequence", json!({"name": "Upper"})).await;
}

#[tokio::test]
async fn injection_through_names_creates_odd_objects_only() {
    let (_db, app, client) = setup().await;
    client
        .batch_execute("CREATE TABLE canary (id int); INSERT INTO canary VALUES (1)")
        .await
        .unwrap();

    ok(&app, "pg_create_schema", json!({"name": INJECTION})).await;
    assert!(schema_exists(&client, INJECTION).await);
    ok(
        &app,
        "pg_create_view",
        json!({"name": INJECTION, "schema": INJECTION, "sql": "SELECT 1 AS x"}),
    )
    .await;
    ok(&app, "pg_create_view", json!({"name": INJECTION, "schema": "public", "sql": "SELECT 2 AS x", "materialized": true})).await;
    ok(
        &app,
        "pg_create_sequence",
        json!({"name": format!("{INJECTION} seq"), "schema": INJECTION}),
    )
    .await;
    let e = err(
        &app,
        "pg_create_schema",
        json!({"name": "owned", "authorization": "postgres\"; DROP TABLE canary; --"}),
    )
    .await;
    assert_eq!(
        e.sqlstate.as_deref(),
        Some("42704"),
        "no such role: {}",
        e.to_json()
    );
    assert_eq!(scalar(&client, "SELECT count(*) FROM canary").await, 1);

    let v = ok(&app, "pg_list_views", json!({"schema": INJECTION})).await;
    assert_eq!(names(&v, "views"), [INJECTION], "{v}");
    let v = ok(&app, "pg_list_sequences", json!({"schema": INJECTION})).await;
    assert_eq!(names(&v, "sequences"), [format!("{INJECTION} seq")], "{v}");
    // Patterns and schemas are bound as values.
    let v = ok(
        &app,
        "pg_list_functions",
        json!({"schema": "x' OR 1=1 --", "pattern": "%' OR '1'='1"}),
    )
    .await;
    assert_eq!(v["total"], 0, "{v}");

    ok(
        &app,
        "pg_drop_view",
        json!({"name": INJECTION, "schema": "public"}),
    )
    .await;
    ok(
        &app,
        "pg_drop_schema",
        json!({"name": INJECTION, "cascade": true}),
    )
    .await;
    assert!(!schema_exists(&client, INJECTION).await);
    assert_eq!(scalar(&client, "SELECT count(*) FROM canary").await, 1);

    // An unquoted qualified name with a stray quote is refused rather than guessed at.
    let e = err(&app, "pg_drop_view", json!({"name": INJECTION})).await;
    assert_code(&e, "INVALID_ARGUMENT", None);
    assert_eq!(scalar(&client, "SELECT count(*) FROM canary").await, 1);
}

// ---------------------------------------------------------------------------
// Access mode

#[tokio::test]
async fn restricted_mode_refuses_writes_and_allows_reads() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute("CREATE SCHEMA keep; CREATE VIEW keep.v AS SELECT 1 AS x")
        .await
        .unwrap();
    let app = support::app(&db.url, &["--access-mode", "restricted"]);

    for (tool, args) in [
        ("pg_create_schema", json!({"name": "nope"})),
        ("pg_drop_schema", json!({"name": "keep", "cascade": true})),
        ("pg_create_view", json!({"name": "w", "sql": "SELECT 1"})),
        ("pg_drop_view", json!({"name": "keep.v"})),
        ("pg_create_sequence", json!({"name": "s"})),
        ("pg_drop_sequence", json!({"name": "s"})),
    ] {
        let e = err(&app, tool, args).await;
        // Write tools are not even visible in restricted mode.
        assert_eq!(e.code, "UNKNOWN_TOOL", "{tool}: {}", e.to_json());
        assert!(e.error.contains("not enabled"), "{tool}: {}", e.to_json());
    }
    assert!(!schema_exists(&client, "nope").await);
    assert!(schema_exists(&client, "keep").await);

    let v = ok(&app, "pg_list_schemas", json!({})).await;
    assert!(names(&v, "schemas").contains(&"keep".to_string()), "{v}");
    let v = ok(&app, "pg_list_views", json!({})).await;
    assert_eq!(names(&v, "views"), ["v"], "{v}");
    for tool in [
        "pg_list_sequences",
        "pg_list_functions",
        "pg_list_triggers",
        "pg_list_constraints",
    ] {
        ok(&app, tool, json!({})).await;
    }
}

#[test]
fn schema_tools_are_registered_with_the_right_hints() {
    let r = pgmcp::app::registry();
    let expect = [
        ("pg_list_schemas", true, false),
        ("pg_create_schema", false, false),
        ("pg_drop_schema", false, true),
        ("pg_list_views", true, false),
        // `orReplace` redefines an existing view: it can overwrite.
        ("pg_create_view", false, true),
        ("pg_drop_view", false, true),
        ("pg_list_sequences", true, false),
        ("pg_create_sequence", false, false),
        ("pg_drop_sequence", false, true),
        ("pg_list_functions", true, false),
        ("pg_list_triggers", true, false),
        ("pg_list_constraints", true, false),
    ];
    for (name, read_only, destructive) in expect {
        let t = r.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.group, "schema", "{name}");
        assert_eq!(t.hints.read_only, read_only, "{name}");
        assert_eq!(t.hints.destructive, destructive, "{name}");
        assert!(t.summary().len() > 20, "{name}");
        let props = t.input_schema()["properties"].as_object().unwrap();
        assert!(
            props.keys().all(|k| !k.contains('_')),
            "{name}: camelCase keys"
        );
    }
    assert_eq!(
        r.all().iter().filter(|t| t.group == "schema").count(),
        expect.len()
    );
}
