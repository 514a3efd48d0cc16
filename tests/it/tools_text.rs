//! The `text` group's tools on a real cluster: for each tool a success, an error and (where it
//! takes names or SQL fragments) an injection test.
//!
//! Expected ranks, similarities and codes are computed independently by PostgreSQL in the
//! test (`pg_read_query` on the literal expression), so an assertion checks the tool's SQL
//! against the definition, not against itself.

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

async fn extensions(app: &Arc<App>, names: &[&str]) {
    for n in names {
        sql(app, &format!("CREATE EXTENSION IF NOT EXISTS {n}")).await;
    }
}

/// docs(id, title, body): three rows.
async fn docs(app: &Arc<App>) {
    sql(
        app,
        "CREATE TABLE docs (id int PRIMARY KEY, title text, body varchar(200), n int)",
    )
    .await;
    sql(
        app,
        "INSERT INTO docs VALUES \
         (1, 'The quick brown fox', 'A fox jumps over the lazy dog', 1), \
         (2, 'Lazy afternoon', 'The dog sleeps all afternoon', 2), \
         (3, 'Databases', 'PostgreSQL full text search with ranking', 3), \
         (4, NULL, 'dog dog dog', 4)",
    )
    .await;
}

/// names(id, name).
async fn names(app: &Arc<App>) {
    sql(app, "CREATE TABLE names (id int PRIMARY KEY, name text)").await;
    sql(
        app,
        "INSERT INTO names VALUES (1, 'Jonathan'), (2, 'Jonathon'), (3, 'John'), \
         (4, 'Joanna'), (5, 'Smith'), (6, NULL), (7, repeat('x', 300))",
    )
    .await;
}

fn ids(matches: &Value) -> Vec<i64> {
    matches
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["row"]["id"].as_i64().unwrap())
        .collect()
}

fn row_ids(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------
// full-text search

#[tokio::test]
async fn text_search_ranks_matches_over_several_columns() {
    let (_db, app) = setup(&[]).await;
    docs(&app).await;
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "columns": ["title", "body"], "query": "dog", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["tsquery"], "'dog'");
    assert_eq!(v["config"], "english");
    assert_eq!(v["count"], 3);
    assert!(v.get("truncated").is_none(), "{v:#}");
    // Ranks as PostgreSQL computes them for the same documents.
    let mut expected = Vec::new();
    for (id, doc) in [
        (1, "The quick brown fox A fox jumps over the lazy dog"),
        (2, "Lazy afternoon The dog sleeps all afternoon"),
        (4, " dog dog dog"),
    ] {
        let r = scalar(
            &app,
            &format!(
                "SELECT ts_rank(to_tsvector('english', '{doc}'), websearch_to_tsquery('english', 'dog'))"
            ),
        )
        .await;
        expected.push((id, r.as_f64().unwrap()));
    }
    expected.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    let got: Vec<(i64, f64)> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["row"]["id"].as_i64().unwrap(),
                m["rank"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got[0].0, 4, "three occurrences rank first");
    // Only the selected column is returned, and no headline unless asked.
    let first = &v["matches"][0];
    assert_eq!(first["row"], json!({ "id": 4 }));
    assert!(first.get("headline").is_none());

    // `column` alone, a where with params, ts_rank_cd and normalization.
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "body", "query": "dog", "select": ["id"],
                "where": "n > $1", "params": [1], "rankFunction": "ts_rank_cd", "normalization": 32 }),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![4, 2]);
    let r = scalar(
        &app,
        "SELECT ts_rank_cd(to_tsvector('english', 'dog dog dog'), websearch_to_tsquery('english','dog'), 32)",
    )
    .await;
    assert_eq!(v["matches"][0]["rank"], r);

    // websearch syntax: a quoted phrase and an exclusion.
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "columns": ["title", "body"], "query": "\"lazy dog\" -afternoon", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["tsquery"], "'lazi' <-> 'dog' & !'afternoon'");
    assert_eq!(ids(&v["matches"]), vec![1]);
}

#[tokio::test]
async fn text_search_pages_and_modes() {
    let (_db, app) = setup(&[]).await;
    docs(&app).await;
    let base =
        json!({ "table": "docs", "columns": ["title", "body"], "query": "dog", "select": ["id"] });
    let mut a = base.clone();
    a["limit"] = json!(2);
    let v = ok(&app, "pg_text_search", a.clone()).await;
    assert_eq!(v["count"], 2);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["nextOffset"], 2);
    a["offset"] = json!(2);
    let v2 = ok(&app, "pg_text_search", a).await;
    assert_eq!(v2["count"], 1);
    assert!(v2.get("truncated").is_none());

    let mut a = base.clone();
    a["mode"] = json!("raw");
    a["query"] = json!("sleep:* & !fox");
    let v = ok(&app, "pg_text_search", a).await;
    assert_eq!(v["tsquery"], "'sleep':* & !'fox'");
    assert_eq!(ids(&v["matches"]), vec![2]);
    let mut a = base.clone();
    a["mode"] = json!("phrase");
    a["query"] = json!("fox jumps");
    let v = ok(&app, "pg_text_search", a).await;
    assert_eq!(v["tsquery"], "'fox' <-> 'jump'");
    assert_eq!(ids(&v["matches"]), vec![1]);
    // Only stop words: an empty query, nothing matches.
    let mut a = base;
    a["query"] = json!("the");
    let v = ok(&app, "pg_text_search", a).await;
    assert_eq!(v["tsquery"], "");
    assert_eq!(v["count"], 0);
}

#[tokio::test]
async fn text_search_errors() {
    let (_db, app) = setup(&[]).await;
    docs(&app).await;
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "nope", "column": "body", "query": "x" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "nope", "query": "x" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "n", "query": "x" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "query": "x" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "body", "query": "x", "config": "klingon" }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42704", "{e:#}");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("pg_text_search_config"),
        "{e:#}"
    );
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "body", "query": "fox &", "mode": "raw" }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42601", "{e:#}");
    assert!(
        e["suggestion"].as_str().unwrap().contains("websearch"),
        "{e:#}"
    );
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "body", "query": "x", "limit": 0 }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "body", "query": "x", "limit": 1001 }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "docs", "column": "body", "query": "x", "mode": "fuzzy" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn text_search_resists_injection() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" text, \"x\"\"y\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'red apples', 'green'), (2, 'blue sky', 'apple pie')",
    )
    .await;
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "columns": ["co l", "x\"y"], "query": "apple",
                "select": ["id", "x\"y"] }),
    )
    .await;
    assert_eq!(v["count"], 2);
    let rows: Vec<&Value> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["row"])
        .collect();
    assert!(
        rows.contains(&&json!({ "id": 2, "x\"y": "apple pie" })),
        "{v:#}"
    );
    // The query and the config are values: never SQL.
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "'); DROP TABLE canary; --" }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "x",
                "config": "english'::regconfig, 'x'); DROP TABLE canary; --" }),
    )
    .await;
    assert!(e["sqlstate"].is_string(), "{e:#}");
    // A select name is an identifier.
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "apple",
                "select": ["id\" FROM canary; --"] }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42703", "{e:#}");
    canary_intact(&app).await;
    hostile_where(
        &app,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "apple" }),
        false,
    )
    .await;
    // Restricted mode: the search still runs.
    let r = support::app(&_db.url, &["--access-mode", "restricted"]);
    let v = ok(
        &r,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "apples" }),
    )
    .await;
    assert_eq!(v["count"], 1);
    hostile_where(
        &r,
        "pg_text_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "apple" }),
        false,
    )
    .await;
}

#[tokio::test]
async fn text_search_on_a_tsvector_column() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TABLE articles (id int, body text, \
         tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO articles (id, body) VALUES (1, 'Cats chase mice'), (2, 'Dogs chase cats')",
    )
    .await;
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "articles", "column": "tsv", "query": "mice", "select": ["id"] }),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![1]);
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "articles", "column": "tsv", "query": "cat", "headline": true }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(e["suggestion"].as_str().unwrap().contains("headlineColumn"));
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "articles", "column": "tsv", "query": "mice", "headline": true,
                "headlineColumn": "body", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["matches"][0]["headline"], "Cats chase <b>mice</b>");
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "articles", "columns": ["tsv", "body"], "query": "cat" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn text_rank_and_headline() {
    let (_db, app) = setup(&[]).await;
    docs(&app).await;
    let v = ok(
        &app,
        "pg_text_rank",
        json!({ "table": "docs", "columns": ["title", "body"], "query": "afternoon", "select": ["id"], "normalization": 1 }),
    )
    .await;
    let r = scalar(
        &app,
        "SELECT ts_rank(to_tsvector('english', 'Lazy afternoon The dog sleeps all afternoon'), websearch_to_tsquery('english', 'afternoon'), 1)",
    )
    .await;
    assert_eq!(v["matches"], json!([{ "row": { "id": 2 }, "rank": r }]));

    let v = ok(
        &app,
        "pg_text_headline",
        json!({ "table": "docs", "columns": ["title", "body"], "query": "ranking",
                "startSel": "[", "stopSel": "]", "select": ["id"] }),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![3]);
    assert_eq!(
        v["matches"][0]["headline"],
        "Databases PostgreSQL full text search with [ranking]"
    );
    // A marker with a quote and a comma goes through ts_headline's option syntax intact.
    let v = ok(
        &app,
        "pg_text_headline",
        json!({ "table": "docs", "column": "title", "query": "fox",
                "startSel": "<em class=\"a,b\">", "stopSel": "</em>", "select": ["id"] }),
    )
    .await;
    assert_eq!(
        v["matches"][0]["headline"],
        "The quick brown <em class=\"a,b\">fox</em>"
    );
    let e = fail(
        &app,
        "pg_text_headline",
        json!({ "table": "docs", "column": "title", "query": "fox", "maxWords": 5, "minWords": 10 }),
    )
    .await;
    assert!(e["sqlstate"].is_string(), "{e:#}");
    let e = fail(
        &app,
        "pg_text_rank",
        json!({ "table": "docs", "column": "title", "query": "fox", "headline": true }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn text_rank_and_headline_resist_injection() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'red apples')",
    )
    .await;
    let a = json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "query": "apple", "select": ["id"] });
    let v = ok(&app, "pg_text_rank", a.clone()).await;
    assert_eq!(ids(&v["matches"]), vec![1]);
    let mut h = a.clone();
    h["startSel"] = json!("'); DROP TABLE canary; --");
    let v = ok(&app, "pg_text_headline", h).await;
    assert_eq!(
        v["matches"][0]["headline"],
        "red '); DROP TABLE canary; --apples</b>"
    );
    hostile_where(&app, "pg_text_rank", a.clone(), false).await;
    hostile_where(&app, "pg_text_headline", a, false).await;
}

// ---------------------------------------------------------------------------------------
// configurations, tsvector, tsquery

#[tokio::test]
async fn text_search_config_lists_configurations() {
    let (_db, app) = setup(&[]).await;
    sql(
        &app,
        "CREATE TEXT SEARCH CONFIGURATION \"my cfg\" (COPY = english)",
    )
    .await;
    let v = ok(&app, "pg_text_search_config", json!({})).await;
    let configs = v["configs"].as_array().unwrap();
    let english = configs.iter().find(|c| c["name"] == "english").unwrap();
    assert_eq!(english["schema"], "pg_catalog");
    assert_eq!(english["parser"], "default");
    assert_eq!(english["description"], "configuration for english language");
    let mine = configs.iter().find(|c| c["name"] == "my cfg").unwrap();
    assert_eq!(mine["schema"], "public");
    let default = scalar(&app, "SELECT current_setting('default_text_search_config')").await;
    assert_eq!(v["defaultConfig"], default);
    let defaults: Vec<&Value> = configs.iter().filter(|c| c["isDefault"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert!(
        default
            .as_str()
            .unwrap()
            .ends_with(defaults[0]["name"].as_str().unwrap()),
        "{v:#}"
    );
    // The listed name works as `config` (schema-qualified and quoted).
    let v = ok(
        &app,
        "pg_text_to_vector",
        json!({ "text": "Running", "config": "public.\"my cfg\"" }),
    )
    .await;
    assert_eq!(v["vector"], "'run':1");
    let e = fail(&app, "pg_text_search_config", json!({ "schema": "x" })).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn text_to_vector_and_to_query() {
    let (_db, app) = setup(&[]).await;
    let v = ok(
        &app,
        "pg_text_to_vector",
        json!({ "text": "The quick brown foxes jumped over the fox" }),
    )
    .await;
    assert_eq!(v["vector"], "'brown':3 'fox':4,8 'jump':5 'quick':2");
    assert_eq!(v["lexemeCount"], 4);
    assert_eq!(
        v["lexemes"],
        json!([
            { "lexeme": "quick", "positions": [2] },
            { "lexeme": "brown", "positions": [3] },
            { "lexeme": "fox", "positions": [4, 8] },
            { "lexeme": "jump", "positions": [5] },
        ])
    );
    let v = ok(
        &app,
        "pg_text_to_vector",
        json!({ "text": "The Foxes", "config": "simple" }),
    )
    .await;
    assert_eq!(v["vector"], "'foxes':2 'the':1");
    // Bounded: 1001 distinct lexemes list the first 1000 and leave the tsvector text out.
    let many: Vec<String> = (1..=1001).map(|i| format!("w{i}")).collect();
    let v = ok(
        &app,
        "pg_text_to_vector",
        json!({ "text": many.join(" "), "config": "simple" }),
    )
    .await;
    assert_eq!(v["lexemeCount"], 1001);
    assert_eq!(v["truncated"], true);
    assert!(v.get("vector").is_none());
    assert_eq!(v["lexemes"].as_array().unwrap().len(), 1000);
    assert_eq!(
        v["lexemes"][999],
        json!({ "lexeme": "w1000", "positions": [1000] })
    );
    let e = fail(
        &app,
        "pg_text_to_vector",
        json!({ "text": "x", "config": "nope" }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42704", "{e:#}");

    let v = ok(
        &app,
        "pg_text_to_query",
        json!({ "text": "\"quick fox\" or cat -dog" }),
    )
    .await;
    assert_eq!(v["query"], "'quick' <-> 'fox' | 'cat' & !'dog'");
    assert_eq!(v["mode"], "websearch");
    assert_eq!(
        v["terms"],
        json!([{ "lexeme": "quick" }, { "lexeme": "fox" }, { "lexeme": "cat" }, { "lexeme": "dog" }])
    );
    assert_eq!(v["nodes"], 8);
    let v = ok(
        &app,
        "pg_text_to_query",
        json!({ "text": "sup:*AB & !Cats", "mode": "raw", "config": "simple" }),
    )
    .await;
    assert_eq!(v["query"], "'sup':*AB & !'cats'");
    assert_eq!(
        v["terms"],
        json!([{ "lexeme": "sup", "prefix": true, "weights": "AB" }, { "lexeme": "cats" }])
    );
    let v = ok(
        &app,
        "pg_text_to_query",
        json!({ "text": "the a an", "mode": "plain" }),
    )
    .await;
    assert_eq!(v["query"], "");
    assert_eq!(v["nodes"], 0);
    assert_eq!(v["terms"], json!([]));
    let e = fail(
        &app,
        "pg_text_to_query",
        json!({ "text": "a & (", "mode": "raw" }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42601", "{e:#}");
    // The text is a value, whatever it contains.
    let v = ok(
        &app,
        "pg_text_to_query",
        json!({ "text": "x'); DROP TABLE t; --", "mode": "plain", "config": "simple" }),
    )
    .await;
    assert_eq!(v["query"], "'x' & 'drop' & 'table' & 't'");
}

// ---------------------------------------------------------------------------------------
// pg_create_fts_index

#[tokio::test]
async fn create_fts_index_is_used_by_the_search() {
    let (db, app) = setup(&[]).await;
    docs(&app).await;
    let v = ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "columns": ["title", "body"] }),
    )
    .await;
    assert_eq!(v["index"], "docs_title_body_fts_idx");
    assert_eq!(v["skipped"], false);
    assert_eq!(v["config"], "english");
    assert_eq!(
        v["expression"],
        "to_tsvector('english'::regconfig, coalesce(\"title\"::text, '') || ' ' || coalesce(\"body\"::text, ''))"
    );
    let def = scalar(
        &app,
        "SELECT pg_get_indexdef('docs_title_body_fts_idx'::regclass)",
    )
    .await;
    assert!(def.as_str().unwrap().contains("USING gin"), "{def}");
    // Again: skipped, and the existing definition is shown.
    let v = ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "columns": ["title", "body"] }),
    )
    .await;
    assert_eq!(v["skipped"], true);
    assert_eq!(v["existing"], def);
    let e = fail(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "columns": ["title", "body"], "ifNotExists": false }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42P07", "{e:#}");

    // The planner uses the index for the search's expression, with the config bound as
    // pg_text_search binds it. (Sequential scans off: the table is tiny.)
    sql(
        &app,
        &format!("ALTER DATABASE \"{}\" SET enable_seqscan = off", db.name),
    )
    .await;
    let fresh = support::app(&db.url, &[]);
    let doc = pgmcp::tools::text::document(
        &["\"docs\".\"title\"".into(), "\"docs\".\"body\"".into()],
        "$1::regconfig",
    );
    let plan = ok(
        &fresh,
        "pg_read_query",
        json!({ "sql": format!("EXPLAIN SELECT id FROM \"docs\" WHERE {doc} @@ websearch_to_tsquery($1::regconfig, $2)"),
                "params": ["english", "dog"] }),
    )
    .await;
    let text = plan["rows"].to_string();
    assert!(text.contains("docs_title_body_fts_idx"), "{text}");
    // And the search itself still answers the same through it.
    let v = ok(
        &fresh,
        "pg_text_search",
        json!({ "table": "docs", "columns": ["title", "body"], "query": "dog", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["count"], 3);

    // A tsvector column is indexed as it is.
    sql(
        &app,
        "CREATE TABLE articles (id int, body text, \
         tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED)",
    )
    .await;
    let v = ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "articles", "column": "tsv", "name": "art_tsv", "concurrently": true }),
    )
    .await;
    assert_eq!(v["expression"], "\"tsv\"");
    assert_eq!(
        v["sql"],
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"art_tsv\" ON \"articles\" USING gin (\"tsv\")"
    );
    assert!(v.get("config").is_none());
}

#[tokio::test]
async fn create_fts_index_errors_and_transactions() {
    let (db, app) = setup(&[]).await;
    docs(&app).await;
    let e = fail(
        &app,
        "pg_create_fts_index",
        json!({ "table": "nope", "column": "body" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "column": "n" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "column": "body", "config": "nope" }),
    )
    .await;
    assert_eq!(e["sqlstate"], "42704", "{e:#}");
    // Inside a transaction: rolled back with it; CONCURRENTLY refused there.
    let tx = ok(&app, "pg_transaction_begin", json!({})).await["transactionId"].clone();
    let e = fail(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "column": "body", "concurrently": true, "transactionId": tx }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "docs", "column": "body", "transactionId": tx }),
    )
    .await;
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    assert_eq!(
        scalar(&app, "SELECT to_regclass('docs_body_fts_idx') IS NULL").await,
        true
    );
    // Restricted mode: not available.
    let r = support::app(&db.url, &["--access-mode", "restricted"]);
    let e = fail(
        &r,
        "pg_create_fts_index",
        json!({ "table": "docs", "column": "body" }),
    )
    .await;
    assert_ne!(e["code"], "INVALID_ARGUMENT", "{e:#}");
    assert_eq!(
        scalar(&app, "SELECT to_regclass('docs_body_fts_idx') IS NULL").await,
        true
    );
}

#[tokio::test]
async fn create_fts_index_quotes_names() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    sql(&app, "CREATE SCHEMA \"s p\"").await;
    sql(
        &app,
        "CREATE TABLE \"s p\".\"we\"\"ird tab\" (id int, \"co l\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"s p\".\"we\"\"ird tab\" VALUES (1, 'red apples')",
    )
    .await;
    let v = ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "we\"ird tab", "schema": "s p", "column": "co l",
                "name": "i\"x; DROP TABLE canary; --" }),
    )
    .await;
    assert_eq!(v["index"], "i\"x; DROP TABLE canary; --");
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM pg_class WHERE relname = 'i\"x; DROP TABLE canary; --' AND relnamespace = '\"s p\"'::regnamespace").await,
        1
    );
    let v = ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "\"s p\".\"we\"\"ird tab\"", "column": "co l" }),
    )
    .await;
    assert_eq!(v["index"], "we\"ird tab_co l_fts_idx");
    canary_intact(&app).await;
    let v = ok(
        &app,
        "pg_text_search",
        json!({ "table": "we\"ird tab", "schema": "s p", "column": "co l", "query": "apple", "select": ["id"] }),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![1]);
}

// ---------------------------------------------------------------------------------------
// trigram, LIKE, regex

#[tokio::test]
async fn trigram_similarity_orders_by_score_and_reports_the_index() {
    let (_db, app) = setup(&[]).await;
    extensions(&app, &["pg_trgm"]).await;
    names(&app).await;
    let v = ok(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "names", "column": "name", "value": "Jonathan", "select": ["id"] }),
    )
    .await;
    let sim = |a: &'static str| {
        let app = app.clone();
        async move { scalar(&app, &format!("SELECT similarity('{a}', 'Jonathan')")).await }
    };
    let (s1, s2) = (sim("Jonathan").await, sim("Jonathon").await);
    assert_eq!(s1, json!(1.0));
    let mut expected = vec![
        json!({ "row": { "id": 1 }, "similarity": s1 }),
        json!({ "row": { "id": 2 }, "similarity": s2 }),
    ];
    let s3 = sim("John").await;
    if s3.as_f64().unwrap() >= 0.3 {
        expected.push(json!({ "row": { "id": 3 }, "similarity": s3 }));
    }
    assert_eq!(v["matches"], json!(expected));
    assert_eq!(v["threshold"], 0.3);
    assert_eq!(v["mode"], "similarity");
    assert_eq!(v["indexable"], true);
    assert!(v.get("trigramIndex").is_none(), "{v:#}");

    sql(
        &app,
        "CREATE INDEX names_trgm ON names USING gin (name gin_trgm_ops)",
    )
    .await;
    let v = ok(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "names", "column": "name", "value": "Jonathan", "threshold": 0.1, "select": ["id"] }),
    )
    .await;
    assert_eq!(
        v["trigramIndex"],
        json!({ "name": "names_trgm", "method": "gin" })
    );
    // Below pg_trgm's similarity_threshold the `%` operator would drop rows: not used.
    assert_eq!(v["indexable"], false);
    assert!(v["count"].as_u64().unwrap() >= 3);

    let v = ok(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "names", "column": "name", "value": "Jon", "mode": "word", "select": ["id"] }),
    )
    .await;
    let w = scalar(&app, "SELECT word_similarity('Jon', 'Jonathan')").await;
    assert_eq!(v["matches"][0]["similarity"], w);
    assert_eq!(v["threshold"], 0.6);
    assert_eq!(v["indexable"], true);
    let all: Vec<i64> = ids(&v["matches"]);
    let expected_word = scalar(
        &app,
        "SELECT array_agg(id ORDER BY word_similarity('Jon', name) DESC, name) FROM names WHERE word_similarity('Jon', name) >= 0.6",
    )
    .await;
    assert_eq!(json!(all), expected_word);
}

#[tokio::test]
async fn trigram_similarity_errors_and_injection() {
    let (_db, app) = setup(&[]).await;
    names(&app).await;
    canary(&app).await;
    let e = fail(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "names", "column": "name", "value": "Jon" }),
    )
    .await;
    expect(&e, "EXTENSION_MISSING", "not_found");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION pg_trgm"),
        "{e:#}"
    );
    extensions(&app, &["pg_trgm"]).await;
    let e = fail(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "names", "column": "name", "value": "Jon", "threshold": 1.5 }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "names", "column": "id", "value": "1" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'apple'), (2, 'apples'), (3, 'pear')",
    )
    .await;
    let v = ok(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "value": "apple' OR '1'='1", "threshold": 0.9, "select": ["id"] }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let v = ok(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "value": "apple", "select": ["id"] }),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![1, 2]);
    hostile_where(
        &app,
        "pg_trigram_similarity",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "value": "apple" }),
        false,
    )
    .await;
}

#[tokio::test]
async fn like_search_matches_with_a_bound_pattern() {
    let (_db, app) = setup(&[]).await;
    names(&app).await;
    // No pg_trgm needed.
    let v = ok(
        &app,
        "pg_like_search",
        json!({ "table": "names", "column": "name", "pattern": "jo%" }),
    )
    .await;
    assert_eq!(row_ids(&v["rows"]), vec![4, 3, 1, 2]);
    assert_eq!(v["rows"][0], json!({ "id": 4, "name": "Joanna" }));
    assert!(v.get("trigramIndex").is_none());
    let v = ok(
        &app,
        "pg_like_search",
        json!({ "table": "names", "column": "name", "pattern": "jo%", "caseSensitive": true }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let v = ok(
        &app,
        "pg_like_search",
        json!({ "table": "names", "column": "name", "pattern": "Jonath_n", "caseSensitive": true, "select": ["id"], "limit": 1 }),
    )
    .await;
    assert_eq!(v["rows"], json!([{ "id": 1 }]));
    assert_eq!(v["truncated"], true);
    assert_eq!(v["nextOffset"], 1);
    extensions(&app, &["pg_trgm"]).await;
    sql(
        &app,
        "CREATE INDEX names_gist ON names USING gist (name gist_trgm_ops)",
    )
    .await;
    let v = ok(
        &app,
        "pg_like_search",
        json!({ "table": "names", "column": "name", "pattern": "%ith" }),
    )
    .await;
    assert_eq!(row_ids(&v["rows"]), vec![5]);
    assert_eq!(
        v["trigramIndex"],
        json!({ "name": "names_gist", "method": "gist" })
    );
}

#[tokio::test]
async fn like_search_errors_and_injection() {
    let (_db, app) = setup(&[]).await;
    names(&app).await;
    canary(&app).await;
    let e = fail(
        &app,
        "pg_like_search",
        json!({ "table": "names", "column": "nope", "pattern": "x" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_like_search",
        json!({ "table": "names", "column": "name" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'a''b'), (2, 'ab')",
    )
    .await;
    let v = ok(
        &app,
        "pg_like_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "pattern": "%' OR '1'='1" }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let v = ok(
        &app,
        "pg_like_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "pattern": "a'%" }),
    )
    .await;
    assert_eq!(row_ids(&v["rows"]), vec![1]);
    hostile_where(
        &app,
        "pg_like_search",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "pattern": "%" }),
        false,
    )
    .await;
}

#[tokio::test]
async fn regexp_match_and_invalid_patterns() {
    let (_db, app) = setup(&[]).await;
    names(&app).await;
    canary(&app).await;
    let v = ok(
        &app,
        "pg_regexp_match",
        json!({ "table": "names", "column": "name", "pattern": "^Jo(h|n)", "select": ["id"] }),
    )
    .await;
    assert_eq!(row_ids(&v["rows"]), vec![3, 1, 2]);
    let v = ok(
        &app,
        "pg_regexp_match",
        json!({ "table": "names", "column": "name", "pattern": "^jo", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let v = ok(&app, "pg_regexp_match", json!({ "table": "names", "column": "name", "pattern": "^jo", "flags": "gi", "select": ["id"] })).await;
    assert_eq!(row_ids(&v["rows"]), vec![4, 3, 1, 2]);
    let v = ok(&app, "pg_regexp_match", json!({ "table": "names", "column": "name", "pattern": "TH$", "caseSensitive": false, "select": ["id"] })).await;
    assert_eq!(row_ids(&v["rows"]), vec![5]);
    let v = ok(&app, "pg_regexp_match", json!({ "table": "names", "column": "name", "pattern": "^ s m i t h $", "flags": "xi", "select": ["id"] })).await;
    assert_eq!(row_ids(&v["rows"]), vec![5]);
    let e = fail(
        &app,
        "pg_regexp_match",
        json!({ "table": "names", "column": "name", "pattern": "(unclosed" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("invalid regular expression"),
        "{e:#}"
    );
    assert_eq!(e["sqlstate"], "2201B", "{e:#}");
    let e = fail(
        &app,
        "pg_regexp_match",
        json!({ "table": "names", "column": "name", "pattern": "a", "flags": "z" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_regexp_match",
        json!({ "table": "nope", "column": "name", "pattern": "a" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'x'' OR 1=1'), (2, 'y')",
    )
    .await;
    let v = ok(&app, "pg_regexp_match", json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "pattern": "' OR 1=1", "select": ["id"] })).await;
    assert_eq!(row_ids(&v["rows"]), vec![1]);
    hostile_where(
        &app,
        "pg_regexp_match",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "pattern": "." }),
        false,
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// fuzzy

#[tokio::test]
async fn fuzzy_match_distances_and_codes() {
    let (_db, app) = setup(&[]).await;
    extensions(&app, &["fuzzystrmatch"]).await;
    names(&app).await;
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jonathan", "maxDistance": 1, "select": ["id"] }),
    )
    .await;
    assert_eq!(v["method"], "levenshtein");
    assert_eq!(v["maxDistance"], 1);
    assert_eq!(
        v["matches"],
        json!([{ "row": { "id": 1 }, "distance": 0 }, { "row": { "id": 2 }, "distance": 1 }])
    );
    // A transposition: 2 edits for Levenshtein, 1 for Damerau-Levenshtein (OSA).
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jonahtan", "maxDistance": 1, "select": ["id"] }),
    )
    .await;
    assert_eq!(v["count"], 0);
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jonahtan", "maxDistance": 1,
                "method": "damerau-levenshtein", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["method"], "damerau_levenshtein");
    assert_eq!(v["matches"], json!([{ "row": { "id": 1 }, "distance": 1 }]));
    assert!(v.get("candidatesCapped").is_none());
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jonahtan", "maxDistance": 2,
                "method": "damerau_levenshtein", "select": ["id"], "limit": 1 }),
    )
    .await;
    assert_eq!(v["matches"], json!([{ "row": { "id": 1 }, "distance": 1 }]));
    assert_eq!(v["truncated"], true);
    assert_eq!(v["nextOffset"], 1);

    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jonathon", "method": "soundex", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["valueCodes"], json!(["J535"]));
    assert_eq!(
        v["matches"],
        json!([{ "row": { "id": 1 }, "code": "J535" }, { "row": { "id": 2 }, "code": "J535" }])
    );
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Smyth", "method": "metaphone", "select": ["id"] }),
    )
    .await;
    let code = scalar(&app, "SELECT metaphone('Smith', 10)").await;
    assert_eq!(v["valueCodes"], json!([code]));
    assert_eq!(v["matches"], json!([{ "row": { "id": 5 }, "code": code }]));
    sql(&app, "INSERT INTO names VALUES (8, 'Schmidt')").await;
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Smith", "method": "dmetaphone", "select": ["id"] }),
    )
    .await;
    let codes = scalar(
        &app,
        "SELECT ARRAY[dmetaphone('Smith'), dmetaphone_alt('Smith')]",
    )
    .await;
    assert_eq!(v["valueCodes"], codes);
    assert_eq!(ids(&v["matches"]), vec![8, 5]);
}

#[tokio::test]
async fn fuzzy_match_errors_and_injection() {
    let (_db, app) = setup(&[]).await;
    names(&app).await;
    canary(&app).await;
    let e = fail(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jon" }),
    )
    .await;
    expect(&e, "EXTENSION_MISSING", "not_found");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION fuzzystrmatch"),
        "{e:#}"
    );
    extensions(&app, &["fuzzystrmatch"]).await;
    let e = fail(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "Jon", "method": "jaro" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "x".repeat(256) }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "x", "maxDistance": 51 }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    // A value over 255 characters in the column is skipped, not an error.
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "names", "column": "name", "value": "xxx", "maxDistance": 0 }),
    )
    .await;
    assert_eq!(v["count"], 0);
    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" text)",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, 'apple'), (2, 'apply')",
    )
    .await;
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "value": "appel", "method": "damerau_levenshtein", "maxDistance": 1, "select": ["id"] }),
    )
    .await;
    assert_eq!(v["matches"], json!([{ "row": { "id": 1 }, "distance": 1 }]));
    let v = ok(
        &app,
        "pg_fuzzy_match",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "value": "x'); DROP TABLE canary; --", "select": ["id"] }),
    )
    .await;
    assert_eq!(v["count"], 0);
    for method in [
        "levenshtein",
        "damerau_levenshtein",
        "soundex",
        "metaphone",
        "dmetaphone",
    ] {
        hostile_where(&app,
            "pg_fuzzy_match",
            json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "value": "apple", "method": method }), false).await;
    }
}

// ---------------------------------------------------------------------------------------
// normalize, sentiment

#[tokio::test]
async fn text_normalize_values_and_columns() {
    let (_db, app) = setup(&[]).await;
    canary(&app).await;
    // Without unaccent: said so, not pretended.
    let v = ok(
        &app,
        "pg_text_normalize",
        json!({ "text": "  Crème \t Brûlée\n " }),
    )
    .await;
    assert_eq!(v["normalized"], "crème brûlée");
    assert_eq!(v["unaccentApplied"], false);
    assert!(
        v["unaccentNote"]
            .as_str()
            .unwrap()
            .contains("CREATE EXTENSION unaccent")
    );
    assert_eq!(v["steps"], json!(["collapse_whitespace", "trim", "lower"]));
    extensions(&app, &["unaccent"]).await;
    let v = ok(
        &app,
        "pg_text_normalize",
        json!({ "text": "  Crème \t Brûlée\n " }),
    )
    .await;
    assert_eq!(v["normalized"], "creme brulee");
    assert_eq!(v["unaccentApplied"], true);
    assert!(v.get("unaccentNote").is_none());
    assert_eq!(
        v["steps"],
        json!(["unaccent", "collapse_whitespace", "trim", "lower"])
    );
    let v = ok(
        &app,
        "pg_text_normalize",
        json!({ "text": " Ça  Va ", "lower": false, "unaccent": false }),
    )
    .await;
    assert_eq!(v["normalized"], "Ça Va");
    assert_eq!(v["unaccentApplied"], false);
    assert!(v.get("unaccentNote").is_none());

    sql(
        &app,
        "CREATE TABLE \"we\"\"ird tab\" (id int, \"co l\" varchar(40))",
    )
    .await;
    sql(
        &app,
        "INSERT INTO \"we\"\"ird tab\" VALUES (1, ' Äpfel  Öl '), (2, NULL), (3, 'x')",
    )
    .await;
    let v = ok(
        &app,
        "pg_text_normalize",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "where": "id < $1", "params": [3], "limit": 1 }),
    )
    .await;
    let vals = v["values"].as_array().unwrap();
    assert_eq!(vals.len(), 1);
    assert_eq!(v["truncated"], true);
    let all = ok(
        &app,
        "pg_text_normalize",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "where": "id < $1", "params": [3] }),
    )
    .await;
    let mut got: Vec<Value> = all["values"].as_array().unwrap().clone();
    got.sort_by_key(|v| v["original"].to_string());
    assert_eq!(
        got,
        vec![
            json!({ "original": " Äpfel  Öl ", "normalized": "apfel ol" }),
            json!({}),
        ]
    );
    let e = fail(
        &app,
        "pg_text_normalize",
        json!({ "text": "x", "table": "t", "column": "c" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_text_normalize",
        json!({ "table": "\"we\"\"ird tab\"", "column": "id" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let v = ok(
        &app,
        "pg_text_normalize",
        json!({ "text": "'); DROP TABLE canary; --" }),
    )
    .await;
    assert_eq!(v["normalized"], "'); drop table canary; --");
    hostile_where(
        &app,
        "pg_text_normalize",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l" }),
        false,
    )
    .await;
}

#[tokio::test]
async fn text_sentiment_is_a_stated_lexicon_count() {
    let (_db, app) = setup(&[]).await;
    let v = ok(
        &app,
        "pg_text_sentiment",
        json!({ "text": "Great product, I love it. Not bad at all! But shipping was slow.", "returnWords": true }),
    )
    .await;
    assert_eq!(v["positiveCount"], 3);
    assert_eq!(v["negativeCount"], 1);
    assert_eq!(v["score"], 0.5);
    assert_eq!(v["sentiment"], "positive");
    assert_eq!(v["matchedPositive"], json!(["great", "love", "not bad"]));
    assert_eq!(v["matchedNegative"], json!(["slow"]));
    assert_eq!(v["wordCount"], 13);
    assert!(v["method"].as_str().unwrap().contains("not a model"));
    let v = ok(
        &app,
        "pg_text_sentiment",
        json!({ "text": "The invoice lists four items." }),
    )
    .await;
    assert_eq!(v["sentiment"], "neutral");
    assert_eq!(v["score"], 0.0);
    assert!(v.get("matchedPositive").is_none());
    let e = fail(
        &app,
        "pg_text_sentiment",
        json!({ "text": "a ".repeat(60_000) }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(&app, "pg_text_sentiment", json!({})).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn text_tools_run_inside_the_callers_transaction() {
    let (_db, app) = setup(&[]).await;
    extensions(&app, &["pg_trgm", "fuzzystrmatch"]).await;
    let tx = ok(&app, "pg_transaction_begin", json!({})).await["transactionId"].clone();
    // A table created in the transaction, not committed: found and read through it.
    for stmt in [
        "CREATE TABLE fresh (id int, body text)",
        "INSERT INTO fresh VALUES (1, 'uncommitted apples'), (2, 'pears')",
    ] {
        ok(
            &app,
            "pg_write_query",
            json!({ "sql": stmt, "transactionId": tx }),
        )
        .await;
    }
    let base = json!({ "table": "fresh", "column": "body", "select": ["id"], "transactionId": tx });
    let with = |extra: Value| {
        let mut a = base.clone();
        a.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        a
    };
    let v = ok(&app, "pg_text_search", with(json!({ "query": "apple" }))).await;
    assert_eq!(ids(&v["matches"]), vec![1]);
    let v = ok(&app, "pg_like_search", with(json!({ "pattern": "%pear%" }))).await;
    assert_eq!(row_ids(&v["rows"]), vec![2]);
    let v = ok(&app, "pg_regexp_match", with(json!({ "pattern": "^unc" }))).await;
    assert_eq!(row_ids(&v["rows"]), vec![1]);
    let v = ok(
        &app,
        "pg_trigram_similarity",
        with(json!({ "value": "pears" })),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![2]);
    let v = ok(
        &app,
        "pg_fuzzy_match",
        with(json!({ "value": "peers", "maxDistance": 1 })),
    )
    .await;
    assert_eq!(ids(&v["matches"]), vec![2]);
    // An invalid pattern inside the transaction leaves it usable.
    let e = fail(&app, "pg_regexp_match", with(json!({ "pattern": "(" }))).await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let v = ok(
        &app,
        "pg_create_fts_index",
        json!({ "table": "fresh", "column": "body", "transactionId": tx }),
    )
    .await;
    assert_eq!(v["index"], "fresh_body_fts_idx");
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
    let e = fail(
        &app,
        "pg_text_search",
        json!({ "table": "fresh", "column": "body", "query": "apple" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
}
