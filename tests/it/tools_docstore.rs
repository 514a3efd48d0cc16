//! The `docstore` group's tools on a real cluster: for each tool a success, an error and (where it
//! takes names or SQL fragments) an injection test.

use std::sync::Arc;

use pgmcp::app::App;
use serde_json::{Value, json};

use crate::support;

use support::hostile::{canary, canary_intact, hostile_where, scalar};
use support::{expect, fail, ok};

async fn setup(extra: &[&str]) -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let a = support::app(&db.url, extra);
    (db, a)
}

async fn sql(app: &Arc<App>, statement: &str) -> Value {
    ok(app, "pg_write_query", json!({ "sql": statement })).await
}

async fn rows(app: &Arc<App>, query: &str) -> Vec<Value> {
    let v = ok(app, "pg_read_query", json!({ "sql": query })).await;
    v["rows"].as_array().cloned().unwrap_or_default()
}

/// `people` with four documents, ids p1…p4.
async fn people(app: &Arc<App>) {
    ok(app, "pg_doc_create_collection", json!({ "name": "people" })).await;
    let v = ok(
        app,
        "pg_doc_add",
        json!({ "collection": "people", "documents": [
            { "_id": "p1", "name": "Ann", "age": 31, "tags": ["a", "b"], "address": { "city": "Oslo" } },
            { "_id": "p2", "name": "Bob", "age": 25, "tags": ["b"], "address": { "city": "Rome" } },
            { "_id": "p3", "name": "Cid", "age": 40, "tags": [] },
            { "_id": "p4", "name": "Dee", "age": 25, "active": false }
        ]}),
    )
    .await;
    assert_eq!(v, json!({ "inserted": 4, "ids": ["p1", "p2", "p3", "p4"] }));
}

fn ids(v: &Value) -> Vec<&str> {
    v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["_id"].as_str().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------
// create / list / drop / info

#[tokio::test]
async fn create_collection_makes_the_documented_layout() {
    let (_db, app) = setup(&[]).await;
    let v = ok(&app, "pg_doc_create_collection", json!({ "name": "notes" })).await;
    assert_eq!(
        v,
        json!({ "schema": "public", "name": "notes", "created": true })
    );
    let cols = rows(
        &app,
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns \
         WHERE table_name = 'notes' ORDER BY ordinal_position",
    )
    .await;
    assert_eq!(
        cols,
        vec![
            json!({ "column_name": "_id", "data_type": "text", "is_nullable": "NO", "column_default": "(gen_random_uuid())::text" }),
            json!({ "column_name": "doc", "data_type": "jsonb", "is_nullable": "NO", "column_default": null }),
            json!({ "column_name": "created_at", "data_type": "timestamp with time zone", "is_nullable": "NO", "column_default": "now()" }),
            json!({ "column_name": "updated_at", "data_type": "timestamp with time zone", "is_nullable": "NO", "column_default": "now()" }),
        ]
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT obj_description('notes'::regclass, 'pg_class')"
        )
        .await,
        "pgmcp docstore collection v1"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'notes'"
        )
        .await,
        "CREATE INDEX notes_doc_idx ON public.notes USING gin (doc jsonb_path_ops); \
         CREATE UNIQUE INDEX notes_pkey ON public.notes USING btree (_id)"
    );
    // Plain SQL works on it: an insert gets an id, and only objects are documents.
    sql(&app, "INSERT INTO notes (doc) VALUES ('{\"a\": 1}')").await;
    assert_eq!(scalar(&app, "SELECT length(_id) FROM notes").await, 36);
    let e = fail(
        &app,
        "pg_write_query",
        json!({ "sql": "INSERT INTO notes (doc) VALUES ('[1]')" }),
    )
    .await;
    expect(&e, "CONSTRAINT_VIOLATION", "database");

    // Again: an error, or nothing with ifNotExists.
    let e = fail(&app, "pg_doc_create_collection", json!({ "name": "notes" })).await;
    expect(&e, "ALREADY_EXISTS", "database");
    let v = ok(
        &app,
        "pg_doc_create_collection",
        json!({ "collection": "notes", "ifNotExists": true }),
    )
    .await;
    assert_eq!(
        v,
        json!({ "schema": "public", "name": "notes", "created": false })
    );
}

#[tokio::test]
async fn create_collection_errors() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE TABLE plain (_id text PRIMARY KEY, doc jsonb)").await;
    for if_not_exists in [false, true] {
        let e = fail(
            &app,
            "pg_doc_create_collection",
            json!({ "name": "plain", "ifNotExists": if_not_exists }),
        )
        .await;
        expect(&e, "ALREADY_EXISTS", "database");
        assert!(
            e["error"]
                .as_str()
                .unwrap()
                .contains("not a docstore collection"),
            "{e:#}"
        );
    }
    assert_eq!(
        scalar(
            &app,
            "SELECT obj_description('plain'::regclass, 'pg_class')"
        )
        .await,
        Value::Null
    );
    let e = fail(
        &app,
        "pg_doc_create_collection",
        json!({ "name": "x", "schema": "nowhere" }),
    )
    .await;
    expect(&e, "UNDEFINED_SCHEMA", "database");
    let e = fail(&app, "pg_doc_create_collection", json!({ "name": "" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    // Nothing half-made.
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM pg_class WHERE relname = 'x'").await,
        0
    );
}

#[tokio::test]
async fn collection_names_with_quotes_and_spaces_work_everywhere() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    sql(&app, "CREATE SCHEMA \"sch ema\"").await;
    let name = "we\"ird coll'; DROP TABLE canary; --";
    let v = ok(
        &app,
        "pg_doc_create_collection",
        json!({ "name": name, "schema": "sch ema" }),
    )
    .await;
    assert_eq!(
        v,
        json!({ "schema": "sch ema", "name": name, "created": true })
    );
    let target = json!({ "collection": name, "schema": "sch ema" });
    let with = |extra: Value| {
        let mut a = target.clone();
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    };
    ok(
        &app,
        "pg_doc_add",
        with(json!({ "documents": [{ "_id": "1", "k": "v" }, { "_id": "2", "k": "w" }] })),
    )
    .await;
    let v = ok(&app, "pg_doc_find", with(json!({ "filter": { "k": "w" } }))).await;
    assert_eq!(v["documents"], json!([{ "_id": "2", "k": "w" }]));
    let v = ok(
        &app,
        "pg_doc_modify",
        with(json!({ "filter": { "_id": "1" }, "set": { "k": "x" } })),
    )
    .await;
    assert_eq!(v, json!({ "matched": 1, "modified": 1 }));
    let v = ok(&app, "pg_doc_collection_info", target.clone()).await;
    assert_eq!(v["documents"], 2);
    assert_eq!(v["name"], name);
    let v = ok(
        &app,
        "pg_doc_create_index",
        with(json!({ "fields": ["k"] })),
    )
    .await;
    assert_eq!(v["expressions"], json!(["doc ->> 'k'"]));
    let v = ok(
        &app,
        "pg_doc_list_collections",
        json!({ "schema": "sch ema" }),
    )
    .await;
    assert_eq!(v["collections"][0]["name"], name);
    assert_eq!(v["total"], 1);
    let v = ok(
        &app,
        "pg_doc_remove",
        with(json!({ "filter": { "_id": "2" } })),
    )
    .await;
    assert_eq!(v, json!({ "removed": 1 }));
    let v = ok(&app, "pg_doc_drop_collection", target.clone()).await;
    assert_eq!(
        v,
        json!({ "collection": format!("sch ema.{name}"), "dropped": true })
    );
    canary_intact(&app).await;
    // The dotted form parses the name: quotes are how a dot or quote stays in it.
    ok(
        &app,
        "pg_doc_create_collection",
        json!({ "name": "\"sch ema\".\"a.b\"" }),
    )
    .await;
    assert_eq!(
        scalar(
            &app,
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE nspname = 'sch ema' AND relkind = 'r'"
        )
        .await,
        "a.b"
    );
}

#[tokio::test]
async fn list_collections_shows_only_marked_tables() {
    let (_db, app) = setup(&[]).await;
    sql(&app, "CREATE SCHEMA other").await;
    // The reference server's heuristic (a doc jsonb and an _id column) is not a marker.
    sql(
        &app,
        "CREATE TABLE lookalike (_id text PRIMARY KEY, doc jsonb)",
    )
    .await;
    for (name, schema) in [("b", "public"), ("a", "public"), ("c", "other")] {
        ok(
            &app,
            "pg_doc_create_collection",
            json!({ "name": name, "schema": schema }),
        )
        .await;
    }
    let v = ok(&app, "pg_doc_list_collections", json!({})).await;
    let names: Vec<String> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}.{}",
                c["schema"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["other.c", "public.a", "public.b"]);
    assert_eq!(v["total"], 3);
    assert!(v.get("nextOffset").is_none(), "{v:#}");
    // Never analyzed: no estimate; an empty collection's three relations have pages.
    assert!(
        v["collections"][0].get("estimatedDocuments").is_none(),
        "{v:#}"
    );
    assert!(v["collections"][0]["totalBytes"].as_i64().unwrap() > 0);

    let v = ok(
        &app,
        "pg_doc_list_collections",
        json!({ "schema": "public", "limit": 1 }),
    )
    .await;
    assert_eq!(v["collections"][0]["name"], "a");
    assert_eq!(
        (v["total"].clone(), v["nextOffset"].clone()),
        (json!(2), json!(1))
    );
    let v = ok(
        &app,
        "pg_doc_list_collections",
        json!({ "schema": "public", "limit": 1, "offset": 1 }),
    )
    .await;
    assert_eq!(v["collections"][0]["name"], "b");
    assert!(v.get("nextOffset").is_none(), "{v:#}");
    let v = ok(
        &app,
        "pg_doc_list_collections",
        json!({ "schema": "public", "offset": 5 }),
    )
    .await;
    assert_eq!(v, json!({ "collections": [] }));

    let e = fail(
        &app,
        "pg_doc_list_collections",
        json!({ "schema": "nowhere" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(&app, "pg_doc_list_collections", json!({ "limit": "x" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    // A schema name is a bound value, not SQL.
    let e = fail(
        &app,
        "pg_doc_list_collections",
        json!({ "schema": "public' OR '1'='1" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
}

#[tokio::test]
async fn drop_collection_drops_only_collections() {
    let (_db, app) = setup(&[]).await;
    people(&app).await;
    sql(&app, "CREATE TABLE plain (_id text PRIMARY KEY, doc jsonb)").await;
    sql(&app, "INSERT INTO plain VALUES ('x', '{}')").await;
    // A table that merely looks like a collection is refused and left alone.
    let e = fail(&app, "pg_doc_drop_collection", json!({ "name": "plain" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        e["suggestion"].as_str().unwrap().contains("pg_drop_table"),
        "{e:#}"
    );
    let e = fail(
        &app,
        "pg_doc_drop_collection",
        json!({ "name": "plain", "ifExists": true }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert_eq!(scalar(&app, "SELECT count(*) FROM plain").await, 1);
    // So are views, whatever their comment.
    sql(&app, "CREATE VIEW v AS SELECT * FROM people").await;
    sql(&app, "COMMENT ON VIEW v IS 'pgmcp docstore collection v1'").await;
    let e = fail(&app, "pg_doc_drop_collection", json!({ "name": "v" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    sql(&app, "DROP VIEW v").await;

    let e = fail(&app, "pg_doc_drop_collection", json!({ "name": "nope" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    let v = ok(
        &app,
        "pg_doc_drop_collection",
        json!({ "name": "nope", "ifExists": true }),
    )
    .await;
    assert_eq!(v, json!({ "collection": "nope", "dropped": false }));

    let v = ok(
        &app,
        "pg_doc_drop_collection",
        json!({ "collection": "people" }),
    )
    .await;
    assert_eq!(v, json!({ "collection": "public.people", "dropped": true }));
    assert_eq!(
        scalar(&app, "SELECT to_regclass('people') IS NULL").await,
        true
    );
}

#[tokio::test]
async fn collection_info_counts_sizes_indexes_and_keys() {
    let (_db, app) = setup(&[]).await;
    people(&app).await;
    let v = ok(
        &app,
        "pg_doc_collection_info",
        json!({ "collection": "people" }),
    )
    .await;
    assert_eq!(v["schema"], "public");
    assert_eq!(v["name"], "people");
    assert_eq!(v["documents"], 4);
    assert_eq!(v["sampled"], 4);
    assert_eq!(
        v["keys"],
        json!([
            { "key": "age", "documents": 4 },
            { "key": "name", "documents": 4 },
            { "key": "tags", "documents": 3 },
            { "key": "address", "documents": 2 },
            { "key": "active", "documents": 1 }
        ])
    );
    let idx: Vec<(&str, bool)> = v["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["name"].as_str().unwrap(), i["unique"].as_bool().unwrap()))
        .collect();
    assert_eq!(idx, [("people_doc_idx", false), ("people_pkey", true)]);
    assert_eq!(
        v["indexes"][0]["definition"],
        "CREATE INDEX people_doc_idx ON public.people USING gin (doc jsonb_path_ops)"
    );
    let total = v["totalBytes"].as_i64().unwrap();
    assert_eq!(
        total,
        v["tableBytes"].as_i64().unwrap() + v["indexBytes"].as_i64().unwrap()
    );
    assert_eq!(
        json!(total),
        scalar(&app, "SELECT pg_total_relation_size('people')").await
    );

    let e = fail(
        &app,
        "pg_doc_collection_info",
        json!({ "collection": "nope" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    sql(&app, "CREATE TABLE plain (a int)").await;
    let e = fail(
        &app,
        "pg_doc_collection_info",
        json!({ "collection": "plain" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

// ---------------------------------------------------------------------------------------
// add / find

#[tokio::test]
async fn add_stores_ids_in_the_column_and_bodies_in_doc() {
    let (_db, app) = setup(&[]).await;
    ok(&app, "pg_doc_create_collection", json!({ "name": "c" })).await;
    let v = ok(
        &app,
        "pg_doc_add",
        json!({ "collection": "c", "documents": [{ "_id": 7, "a": 1 }, { "b": [true, null] }] }),
    )
    .await;
    assert_eq!(v["inserted"], 2);
    let ids = v["ids"].as_array().unwrap();
    assert_eq!(ids[0], "7");
    let generated = ids[1].as_str().unwrap();
    assert_eq!(generated.len(), 36);
    let stored = rows(&app, "SELECT _id, doc FROM c ORDER BY doc::text").await;
    assert_eq!(
        stored,
        vec![
            json!({ "_id": "7", "doc": { "a": 1 } }),
            json!({ "_id": generated, "doc": { "b": [true, null] } })
        ]
    );

    // A duplicate id fails the whole call.
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "c", "documents": [{ "_id": "new" }, { "_id": "7" }] }),
    )
    .await;
    expect(&e, "CONSTRAINT_VIOLATION", "database");
    assert_eq!(scalar(&app, "SELECT count(*) FROM c").await, 2);
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "c", "documents": [{ "a": 1 }, { "_id": { "x": 1 } }] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        e["error"].as_str().unwrap().starts_with("document 2:"),
        "{e:#}"
    );
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "c", "documents": [] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "c", "documents": [1] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "nope", "documents": [{}] }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    sql(&app, "CREATE TABLE plain (_id text, doc jsonb)").await;
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "plain", "documents": [{}] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert_eq!(scalar(&app, "SELECT count(*) FROM plain").await, 0);

    // Hostile keys and values are data.
    let hostile = json!({ "_id": "x'); DROP TABLE c; --", "k'); DROP TABLE c; --": "v\\'\"" });
    ok(
        &app,
        "pg_doc_add",
        json!({ "collection": "c", "documents": [hostile] }),
    )
    .await;
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "c", "filter": { "_id": "x'); DROP TABLE c; --" } }),
    )
    .await;
    assert_eq!(v["documents"], json!([hostile]));
}

#[tokio::test]
async fn find_filters_projects_sorts_and_pages() {
    let (_db, app) = setup(&[]).await;
    people(&app).await;
    // Containment, nested and in arrays.
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "filter": { "tags": ["b"] }, "sort": [{ "path": "name" }] }),
    )
    .await;
    assert_eq!(ids(&v), ["p1", "p2"]);
    assert_eq!(v["count"], 2);
    assert!(v.get("truncated").is_none(), "{v:#}");
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "filter": { "address": { "city": "Rome" } } }),
    )
    .await;
    assert_eq!(
        v["documents"],
        json!([{ "_id": "p2", "name": "Bob", "age": 25, "tags": ["b"], "address": { "city": "Rome" } }])
    );
    // _id with other keys; no match.
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "filter": { "_id": "p2", "age": 31 } }),
    )
    .await;
    assert_eq!(v["count"], 0);
    // where + params, combined with a filter.
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "filter": { "age": 25 },
                "where": "doc ->> 'name' <> $1", "params": ["Bob"] }),
    )
    .await;
    assert_eq!(ids(&v), ["p4"]);
    // Sort: several keys, desc, missing paths last either way.
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people",
                "sort": [{ "path": "age", "order": "desc" }, { "path": "_id", "order": "desc" }] }),
    )
    .await;
    assert_eq!(ids(&v), ["p3", "p1", "p4", "p2"]);
    for order in ["asc", "desc"] {
        let v = ok(
            &app,
            "pg_doc_find",
            json!({ "collection": "people", "sort": [{ "path": "address.city", "order": order }] }),
        )
        .await;
        let expected = if order == "asc" {
            ["p1", "p2", "p3", "p4"]
        } else {
            ["p2", "p1", "p3", "p4"]
        };
        assert_eq!(ids(&v), expected, "{order}");
    }
    // Projection nests and leaves out what a document lacks.
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "projection": ["name", "address.city", ["tags", "0"]],
                "sort": [{ "path": "_id" }], "limit": 3 }),
    )
    .await;
    assert_eq!(
        v["documents"],
        json!([
            { "_id": "p1", "name": "Ann", "address": { "city": "Oslo" }, "tags": { "0": "a" } },
            { "_id": "p2", "name": "Bob", "address": { "city": "Rome" }, "tags": { "0": "b" } },
            { "_id": "p3", "name": "Cid" }
        ])
    );
    assert_eq!(v["truncated"], true);
    assert_eq!(v["nextOffset"], 3);
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "fields": ["name"], "sort": [{ "path": "_id" }],
                "limit": 3, "offset": 3 }),
    )
    .await;
    assert_eq!(v["documents"], json!([{ "_id": "p4", "name": "Dee" }]));
    assert!(v.get("nextOffset").is_none(), "{v:#}");
    // A JSON null is a value, not a missing path.
    ok(
        &app,
        "pg_doc_add",
        json!({ "collection": "people", "documents": [{ "_id": "p5", "name": null }] }),
    )
    .await;
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "filter": { "_id": "p5" }, "projection": ["name", "age"] }),
    )
    .await;
    assert_eq!(v["documents"], json!([{ "_id": "p5", "name": null }]));
}

#[tokio::test]
async fn find_is_bounded_by_the_servers_row_cap() {
    let db = support::test_db().await;
    let app = support::app(&db.url, &["--max-rows", "2"]);
    people(&app).await;
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "sort": [{ "path": "_id" }] }),
    )
    .await;
    assert_eq!(ids(&v), ["p1", "p2"]);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["nextOffset"], 2);
    assert!(v["hint"].as_str().unwrap().contains("offset 2"), "{v:#}");
}

#[tokio::test]
async fn find_errors() {
    let (_db, app) = setup(&[]).await;
    people(&app).await;
    for (args, code) in [
        (json!({ "collection": "nope" }), "NOT_FOUND"),
        (
            json!({ "collection": "people", "filter": [1] }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": { "_id": true } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "projection": ["a..b"] }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "sort": [{ "path": "a", "order": "up" }] }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "sort": [{ "path": [] }] }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "where": "doc ->> 'a' = $1" }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "where": "nope = 1" }),
            "UNDEFINED_COLUMN",
        ),
        (
            json!({ "collection": "people", "limit": -1 }),
            "INVALID_ARGUMENT",
        ),
    ] {
        let e = fail(&app, "pg_doc_find", args.clone()).await;
        assert_eq!(e["code"], code, "{args}: {e:#}");
    }
}

#[tokio::test]
async fn find_injection_is_refused_or_harmless() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    people(&app).await;
    // Escapes are refused as not a condition; write functions inside one by the read policy.
    hostile_where(&app, "pg_doc_find", json!({ "collection": "people" }), true).await;
    // Hostile keys in filter, projection and sort paths are bound values.
    let key = "a'); DROP TABLE canary; --";
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "filter": { key: 1 } }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let v = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "projection": [[key, "}'{"]], "sort": [{ "path": [key] }], "limit": 1 }),
    )
    .await;
    assert_eq!(v["documents"], json!([{ "_id": "p1" }]));
    canary_intact(&app).await;
    assert_eq!(scalar(&app, "SELECT count(*) FROM people").await, 4);

    // Read-only tools work in restricted mode; the writers are not there.
    let db2 = support::test_db().await;
    let unrestricted = support::app(&db2.url, &[]);
    people(&unrestricted).await;
    let restricted = support::app(&db2.url, &["--access-mode", "restricted"]);
    let v = ok(
        &restricted,
        "pg_doc_find",
        json!({ "collection": "people", "where": "(doc ->> 'age')::int > $1", "params": [30],
                "sort": [{ "path": "age" }] }),
    )
    .await;
    assert_eq!(ids(&v), ["p1", "p3"]);
    ok(
        &restricted,
        "pg_doc_collection_info",
        json!({ "collection": "people" }),
    )
    .await;
    ok(&restricted, "pg_doc_list_collections", json!({})).await;
    for tool in [
        "pg_doc_add",
        "pg_doc_modify",
        "pg_doc_remove",
        "pg_doc_create_collection",
        "pg_doc_drop_collection",
        "pg_doc_create_index",
    ] {
        let e = fail(&restricted, tool, json!({ "collection": "people" })).await;
        assert_eq!(e["code"], "UNKNOWN_TOOL", "{tool}: {e:#}");
    }
    let e = fail(
        &restricted,
        "pg_doc_find",
        json!({ "collection": "people", "where": "nextval('x') > 0" }),
    )
    .await;
    assert_ne!(e["code"], "INVALID_ARGUMENT", "{e:#}");
}

// ---------------------------------------------------------------------------------------
// modify / remove

#[tokio::test]
async fn modify_sets_unsets_merges_and_counts() {
    let (_db, app) = setup(&[]).await;
    people(&app).await;
    sql(&app, "UPDATE people SET updated_at = '2000-01-01'").await;
    // Matched 2 (age 25), one already has the value: modified 1.
    sql(
        &app,
        "UPDATE people SET doc = doc || '{\"level\": 2}' WHERE _id = 'p4'",
    )
    .await;
    sql(&app, "UPDATE people SET updated_at = '2000-01-01'").await;
    let v = ok(
        &app,
        "pg_doc_modify",
        json!({ "collection": "people", "filter": { "age": 25 }, "set": { "level": 2 } }),
    )
    .await;
    assert_eq!(v, json!({ "matched": 2, "modified": 1 }));
    assert_eq!(
        rows(
            &app,
            "SELECT _id FROM people WHERE updated_at > '2000-01-01' ORDER BY _id"
        )
        .await,
        vec![json!({ "_id": "p2" })]
    );
    // merge, then set (creating parents), then unset, in one statement.
    let v = ok(
        &app,
        "pg_doc_modify",
        json!({ "collection": "people", "filter": { "_id": "p1" },
                "merge": { "name": "Anna", "x": 1 },
                "set": { "address.geo.lat": 59.9, "tags.0": "z", "x": { "y": [1] } },
                "unset": ["age", "nope.deeper"] }),
    )
    .await;
    assert_eq!(v, json!({ "matched": 1, "modified": 1 }));
    assert_eq!(
        scalar(&app, "SELECT doc FROM people WHERE _id = 'p1'").await,
        json!({ "name": "Anna", "tags": ["z", "b"], "address": { "city": "Oslo", "geo": { "lat": 59.9 } }, "x": { "y": [1] } })
    );
    // A path through a scalar changes nothing, and says so.
    let v = ok(
        &app,
        "pg_doc_modify",
        json!({ "collection": "people", "filter": { "_id": "p3" }, "set": { "name.first": "C" } }),
    )
    .await;
    assert_eq!(v, json!({ "matched": 1, "modified": 0 }));
    assert_eq!(
        scalar(&app, "SELECT doc FROM people WHERE _id = 'p3'").await,
        json!({ "name": "Cid", "age": 40, "tags": [] })
    );
    // where + all.
    let v = ok(
        &app,
        "pg_doc_modify",
        json!({ "collection": "people", "where": "(doc ->> 'age')::int >= $1", "params": [40],
                "unset": ["tags"] }),
    )
    .await;
    assert_eq!(v, json!({ "matched": 1, "modified": 1 }));
    let v = ok(
        &app,
        "pg_doc_modify",
        json!({ "collection": "people", "all": true, "set": { "v": 1 } }),
    )
    .await;
    assert_eq!(v, json!({ "matched": 4, "modified": 4 }));
}

#[tokio::test]
async fn modify_errors_and_injection() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    people(&app).await;
    let before = rows(&app, "SELECT _id, doc FROM people ORDER BY _id").await;
    for (args, code) in [
        (
            json!({ "collection": "people", "set": { "a": 1 } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": {}, "set": { "a": 1 } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": { "_id": "p1" } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": { "_id": "p1" }, "set": { "_id": "q" } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": { "_id": "p1" }, "merge": { "_id": "q" } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": { "_id": "p1" }, "unset": ["_id"] }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "filter": { "_id": "p1" }, "set": { "a..b": 1 } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "nope", "filter": { "_id": "p1" }, "set": { "a": 1 } }),
            "NOT_FOUND",
        ),
        // The parent is an array: PostgreSQL's jsonb_set refuses a non-integer index.
        (
            json!({ "collection": "people", "filter": { "_id": "p1" }, "set": { "tags.x": 1 } }),
            "DATA_EXCEPTION",
        ),
        (
            json!({ "collection": "people", "all": true, "where": "true)) OR ((true", "set": { "a": 1 } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "where": "1=1; DROP TABLE canary", "set": { "a": 1 } }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "where": "true) RETURNING (1", "set": { "a": 1 } }),
            "INVALID_ARGUMENT",
        ),
    ] {
        let e = fail(&app, "pg_doc_modify", args.clone()).await;
        assert_eq!(e["code"], code, "{args}: {e:#}");
    }
    assert_eq!(
        rows(&app, "SELECT _id, doc FROM people ORDER BY _id").await,
        before
    );
    canary_intact(&app).await;
    // Hostile keys are keys.
    let key = "k'); DROP TABLE canary; --";
    let v = ok(
        &app,
        "pg_doc_modify",
        json!({ "collection": "people", "filter": { "_id": "p3" },
                "set": { format!("{key}.in\"ner"): "'); --" }, "merge": { "}{": 1 } }),
    )
    .await;
    assert_eq!(v, json!({ "matched": 1, "modified": 1 }));
    assert_eq!(
        scalar(&app, "SELECT doc FROM people WHERE _id = 'p3'").await,
        json!({ "name": "Cid", "age": 40, "tags": [], "}{": 1, key: { "in\"ner": "'); --" } })
    );
    canary_intact(&app).await;
}

#[tokio::test]
async fn remove_needs_a_selection() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    people(&app).await;
    for args in [
        json!({ "collection": "people" }),
        json!({ "collection": "people", "filter": {} }),
        json!({ "collection": "people", "where": "  " }),
        json!({ "collection": "people", "where": "true)) OR ((true" }),
        json!({ "collection": "people", "where": "false; DROP TABLE canary" }),
        json!({ "collection": "people", "where": "false) RETURNING (SELECT count(*) FROM canary" }),
    ] {
        let e = fail(&app, "pg_doc_remove", args.clone()).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
    let e = fail(
        &app,
        "pg_doc_remove",
        json!({ "collection": "nope", "all": true }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    assert_eq!(scalar(&app, "SELECT count(*) FROM people").await, 4);
    canary_intact(&app).await;

    let v = ok(
        &app,
        "pg_doc_remove",
        json!({ "collection": "people", "filter": { "age": 25 } }),
    )
    .await;
    assert_eq!(v, json!({ "removed": 2 }));
    let v = ok(
        &app,
        "pg_doc_remove",
        json!({ "collection": "people", "filter": { "_id": "p1" }, "where": "doc ? $1", "params": ["nope"] }),
    )
    .await;
    assert_eq!(v, json!({ "removed": 0 }));
    let v = ok(
        &app,
        "pg_doc_remove",
        json!({ "collection": "people", "all": true }),
    )
    .await;
    assert_eq!(v, json!({ "removed": 2 }));
    assert_eq!(scalar(&app, "SELECT count(*) FROM people").await, 0);
}

// ---------------------------------------------------------------------------------------
// create_index

#[tokio::test]
async fn create_index_writes_paths_as_literals() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    people(&app).await;
    let v = ok(
        &app,
        "pg_doc_create_index",
        json!({ "collection": "people", "fields": ["name"], "unique": true }),
    )
    .await;
    assert_eq!(
        v,
        json!({ "index": "people_name_idx", "expressions": ["doc ->> 'name'"],
                "sql": "CREATE UNIQUE INDEX \"people_name_idx\" ON \"public\".\"people\" USING btree ((doc ->> 'name'))" })
    );
    let e = fail(
        &app,
        "pg_doc_add",
        json!({ "collection": "people", "documents": [{ "name": "Ann" }] }),
    )
    .await;
    expect(&e, "CONSTRAINT_VIOLATION", "database");
    let v = ok(
        &app,
        "pg_doc_create_index",
        json!({ "collection": "people", "fields": ["address.city", "age"], "name": "by city" }),
    )
    .await;
    assert_eq!(
        v["expressions"],
        json!(["doc #>> ARRAY['address', 'city']", "doc ->> 'age'"])
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'by city'"
        )
        .await,
        "CREATE INDEX \"by city\" ON public.people USING btree (((doc #>> ARRAY['address'::text, 'city'::text])), ((doc ->> 'age'::text)))"
    );
    let v = ok(
        &app,
        "pg_doc_create_index",
        json!({ "collection": "people", "method": "gin", "fields": ["tags"] }),
    )
    .await;
    assert_eq!(v["index"], "people_tags_idx");
    assert_eq!(
        scalar(
            &app,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'people_tags_idx'"
        )
        .await,
        "CREATE INDEX people_tags_idx ON public.people USING gin (((doc -> 'tags'::text)))"
    );
    // Again: an error, or nothing with ifNotExists.
    let e = fail(
        &app,
        "pg_doc_create_index",
        json!({ "collection": "people", "method": "gin", "fields": ["tags"] }),
    )
    .await;
    expect(&e, "ALREADY_EXISTS", "database");
    ok(
        &app,
        "pg_doc_create_index",
        json!({ "collection": "people", "method": "gin", "fields": ["tags"], "ifNotExists": true }),
    )
    .await;

    // Hostile keys: the index is on exactly that key, nothing else ran.
    let key = "x'); DROP TABLE canary; --\\'";
    let v = ok(
        &app,
        "pg_doc_create_index",
        json!({ "collection": "people", "fields": [[key, "in'ner"]], "name": "hostile" }),
    )
    .await;
    assert_eq!(
        v["expressions"],
        json!(["doc #>> ARRAY[E'x''); DROP TABLE canary; --\\\\''', 'in''ner']"])
    );
    canary_intact(&app).await;
    ok(
        &app,
        "pg_doc_add",
        json!({ "collection": "people", "documents": [{ "_id": "h", key: { "in'ner": "found" } }] }),
    )
    .await;
    // The expression the tool reported finds the value (and is the index's).
    let expr = v["expressions"][0].as_str().unwrap();
    let found = ok(
        &app,
        "pg_doc_find",
        json!({ "collection": "people", "where": format!("{expr} = $1"), "params": ["found"], "projection": ["_id"] }),
    )
    .await;
    assert_eq!(found["documents"], json!([{ "_id": "h" }]));
    assert_eq!(
        scalar(
            &app,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'hostile'"
        )
        .await,
        "CREATE INDEX hostile ON public.people USING btree (((doc #>> ARRAY['x''); DROP TABLE canary; --\\'''::text, 'in''ner'::text])))"
    );

    for (args, code) in [
        (json!({ "collection": "people" }), "INVALID_ARGUMENT"),
        (
            json!({ "collection": "people", "fields": ["a", "b"], "method": "gin" }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "fields": ["a"], "method": "gin", "unique": true }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "fields": ["a"], "method": "hash" }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "fields": [["a\u{0}"]] }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "people", "fields": ["a"], "name": "n".repeat(64) }),
            "INVALID_ARGUMENT",
        ),
        (
            json!({ "collection": "nope", "fields": ["a"] }),
            "NOT_FOUND",
        ),
    ] {
        let e = fail(&app, "pg_doc_create_index", args.clone()).await;
        assert_eq!(e["code"], code, "{args}: {e:#}");
    }
}

// ---------------------------------------------------------------------------------------
// transactions

#[tokio::test]
async fn writes_honour_the_callers_transaction() {
    let (_db, app) = setup(&[]).await;
    let tx = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = tx["transactionId"].as_str().unwrap().to_string();
    let t = |v: Value| {
        let mut v = v;
        v["transactionId"] = json!(id);
        v
    };
    ok(
        &app,
        "pg_doc_create_collection",
        t(json!({ "name": "txc" })),
    )
    .await;
    ok(&app, "pg_doc_add", t(json!({ "collection": "txc", "documents": [{ "_id": "a", "n": 1 }, { "_id": "b", "n": 2 }] }))).await;
    ok(
        &app,
        "pg_doc_modify",
        t(json!({ "collection": "txc", "filter": { "_id": "a" }, "set": { "n": 10 } })),
    )
    .await;
    ok(
        &app,
        "pg_doc_remove",
        t(json!({ "collection": "txc", "filter": { "_id": "b" } })),
    )
    .await;
    ok(
        &app,
        "pg_doc_create_index",
        t(json!({ "collection": "txc", "fields": ["n"] })),
    )
    .await;
    let v = ok(&app, "pg_doc_find", t(json!({ "collection": "txc" }))).await;
    assert_eq!(v["documents"], json!([{ "_id": "a", "n": 10 }]));
    let v = ok(&app, "pg_doc_list_collections", t(json!({}))).await;
    assert_eq!(v["total"], 1);
    // Outside the transaction none of it exists yet.
    let e = fail(&app, "pg_doc_find", json!({ "collection": "txc" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": id }),
    )
    .await;
    assert_eq!(
        scalar(&app, "SELECT to_regclass('txc') IS NULL").await,
        true
    );

    // A drop inside a transaction that is rolled back leaves the collection.
    people(&app).await;
    let tx = ok(&app, "pg_transaction_begin", json!({})).await;
    let id = tx["transactionId"].as_str().unwrap();
    ok(
        &app,
        "pg_doc_drop_collection",
        json!({ "name": "people", "transactionId": id }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": id }),
    )
    .await;
    assert_eq!(scalar(&app, "SELECT count(*) FROM people").await, 4);
}
