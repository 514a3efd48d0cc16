//! The `stats` group's tools on a real cluster: for each tool a success, an error and (where it
//! takes names or SQL fragments) an injection test.
//!
//! The data is deterministic (generate_series): table `m` has ids 1…10 with `v` = id
//! (numeric), `w` = 2·id + 1 (float8), `g` = 'even'/'odd', `t` = 2024-01-01 + (id − 1) days,
//! `note` = 'n' || id % 3.

use std::sync::Arc;

use pgmcp::app::App;
use serde_json::{Value, json};

use crate::support;

use support::hostile::{HOSTILE_ESCAPES, HOSTILE_WRITES, canary, canary_intact, scalar};
use support::{expect, fail, ok};

async fn setup() -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let app = support::app(&db.url, &[]);
    sql(
        &app,
        "CREATE TABLE m (id int PRIMARY KEY, g text, v numeric, w float8, t timestamp, note text);
         INSERT INTO m SELECT i, CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, i, 2 * i + 1,
                timestamp '2024-01-01' + (i - 1) * interval '1 day', 'n' || (i % 3)
         FROM generate_series(1, 10) i",
    )
    .await;
    (db, app)
}

/// Runs `;`-separated statements (none of them contains a `;` of its own).
async fn sql(app: &Arc<App>, statements: &str) {
    for s in statements.split(';').filter(|s| !s.trim().is_empty()) {
        ok(app, "pg_write_query", json!({ "sql": s })).await;
    }
}

#[track_caller]
fn close(v: &Value, expected: f64) {
    let got = v
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {v} (expected {expected})"));
    assert!(
        (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{got} != {expected}"
    );
}

fn col(rows: &Value, key: &str) -> Vec<Value> {
    rows["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].clone())
        .collect()
}

// ---------------------------------------------------------------------------------------
// aggregates

#[tokio::test]
async fn descriptive_overall_and_per_group() {
    let (_db, app) = setup().await;
    sql(&app, "INSERT INTO m (id, g) VALUES (11, 'odd')").await;
    let d = ok(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "m", "column": "v" }),
    )
    .await;
    assert_eq!(d["count"], 10);
    assert_eq!(d["nulls"], 1);
    assert_eq!(d["dataType"], "numeric");
    close(&d["min"], 1.0);
    close(&d["max"], 10.0);
    close(&d["mean"], 5.5);
    close(&d["median"], 5.5);
    close(&d["sum"], 55.0);
    close(&d["variance"], 55.0 / 6.0);
    close(&d["stddev"], (55.0f64 / 6.0).sqrt());
    close(&d["mode"], 1.0);
    assert!(d.get("groups").is_none());

    let d = ok(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "m", "column": "w", "groupBy": "g", "where": "id <= $1", "params": [9] }),
    )
    .await;
    let groups = d["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0]["group"], json!({ "g": "even" }));
    assert_eq!(groups[0]["count"], 4);
    close(&groups[0]["mean"], 11.0); // 2·(2+4+6+8)/4 + 1
    assert_eq!(groups[1]["group"], json!({ "g": "odd" }));
    close(&groups[1]["max"], 19.0);
    assert!(d.get("truncated").is_none());
    let d = ok(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "m", "column": "v", "groupBy": ["id"], "groupLimit": 3 }),
    )
    .await;
    assert_eq!(d["groups"].as_array().unwrap().len(), 3);
    assert_eq!(d["truncated"], true);
    // One value: no sample deviation.
    let d = ok(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "m", "column": "v", "where": "id = 3" }),
    )
    .await;
    assert_eq!(d["stddev"], Value::Null);
    close(&d["mean"], 3.0);
}

#[tokio::test]
async fn numeric_tools_refuse_other_types_and_missing_names() {
    let (_db, app) = setup().await;
    for (tool, args) in [
        ("pg_stats_descriptive", json!({ "column": "g" })),
        ("pg_stats_percentiles", json!({ "column": "g" })),
        ("pg_stats_distribution", json!({ "column": "t" })),
        ("pg_stats_outliers", json!({ "column": "note" })),
        ("pg_stats_hypothesis", json!({ "column": "g" })),
        (
            "pg_stats_correlation",
            json!({ "column1": "v", "column2": "g" }),
        ),
        (
            "pg_stats_regression",
            json!({ "xColumn": "g", "yColumn": "v" }),
        ),
        (
            "pg_stats_moving_avg",
            json!({ "column": "g", "orderBy": "id" }),
        ),
        (
            "pg_stats_running_total",
            json!({ "column": "t", "orderBy": "id" }),
        ),
        (
            "pg_stats_time_series",
            json!({ "timeColumn": "t", "valueColumn": "g" }),
        ),
        ("pg_stats_time_series", json!({ "timeColumn": "v" })),
    ] {
        let mut args = args;
        args["table"] = json!("m");
        let e = fail(&app, tool, args.clone()).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        let msg = e["error"].as_str().unwrap();
        assert!(
            msg.contains("text")
                || msg.contains("timestamp without time zone")
                || msg.contains("numeric"),
            "{tool}: {msg}"
        );
        assert!(e["suggestion"].is_string(), "{e:#}");
    }
    let e = fail(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "m", "column": "nope" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    assert!(e["error"].as_str().unwrap().contains("nope"), "{e:#}");
    let e = fail(
        &app,
        "pg_stats_frequency",
        json!({ "table": "missing", "column": "x" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_stats_summary",
        json!({ "table": "m", "columns": ["id", "nope"] }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(
        &app,
        "pg_stats_row_number",
        json!({ "table": "missing", "orderBy": "id" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    let e = fail(&app, "pg_stats_sampling", json!({ "table": "missing" })).await;
    expect(&e, "NOT_FOUND", "not_found");
    // A missing group column is PostgreSQL's error.
    let e = fail(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "m", "column": "v", "groupBy": ["nope"] }),
    )
    .await;
    expect(&e, "UNDEFINED_COLUMN", "database");
    // Bounds.
    for (tool, args) in [
        (
            "pg_stats_descriptive",
            json!({ "column": "v", "groupLimit": 0 }),
        ),
        (
            "pg_stats_descriptive",
            json!({ "column": "v", "groupLimit": 101 }),
        ),
        (
            "pg_stats_distribution",
            json!({ "column": "v", "buckets": 101 }),
        ),
        (
            "pg_stats_frequency",
            json!({ "column": "v", "limit": 1001 }),
        ),
        ("pg_stats_top_n", json!({ "column": "v", "n": 0 })),
        ("pg_stats_ntile", json!({ "orderBy": "id", "buckets": 0 })),
        ("pg_stats_row_number", json!({ "orderBy": [] })),
        (
            "pg_stats_row_number",
            json!({ "orderBy": "id", "limit": 5000 }),
        ),
        (
            "pg_stats_lag_lead",
            json!({ "column": "v", "orderBy": "id", "offset": 0 }),
        ),
        (
            "pg_stats_outliers",
            json!({ "column": "v", "threshold": -1 }),
        ),
        ("pg_stats_sampling", json!({ "percentage": 0 })),
        ("pg_stats_sampling", json!({ "percentage": 150 })),
        (
            "pg_stats_hypothesis",
            json!({ "column": "v", "groupColumn": "g", "groupValues": ["even"] }),
        ),
        (
            "pg_stats_hypothesis",
            json!({ "column": "v", "sampleA": "id < 3" }),
        ),
        (
            "pg_stats_hypothesis",
            json!({ "column": "v", "groupColumn": "g", "groupValues": ["even", "odd"], "sampleA": "true", "sampleB": "true" }),
        ),
        (
            "pg_stats_time_series",
            json!({ "timeColumn": "t", "aggregation": "sum" }),
        ),
        (
            "pg_stats_moving_avg",
            json!({ "column": "v", "orderBy": "id", "windowSize": 0 }),
        ),
        (
            "pg_stats_descriptive",
            json!({ "column": "v", "unknownArgument": 1 }),
        ),
    ] {
        let mut args = args;
        args["table"] = json!("m");
        let e = fail(&app, tool, args.clone()).await;
        expect(&e, "INVALID_ARGUMENT", "validation");
    }
}

#[tokio::test]
async fn percentiles_on_the_zero_to_one_scale() {
    let (_db, app) = setup().await;
    let p = ok(
        &app,
        "pg_stats_percentiles",
        json!({ "table": "m", "column": "v", "percentiles": [0.25, 0.5, 0.9] }),
    )
    .await;
    assert_eq!(p["method"], "cont");
    assert_eq!(p["count"], 10);
    let ps = p["percentiles"].as_array().unwrap();
    assert_eq!(ps[0]["percentile"], 0.25);
    close(&ps[0]["value"], 3.25);
    close(&ps[1]["value"], 5.5);
    close(&ps[2]["value"], 9.1);
    let p = ok(
        &app,
        "pg_stats_percentiles",
        json!({ "table": "m", "column": "v", "percentiles": [0.25, 0.5, 0.9], "method": "disc", "groupBy": ["g"] }),
    )
    .await;
    let even = &p["groups"][0];
    assert_eq!(even["group"]["g"], "even");
    let values: Vec<f64> = even["percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![4.0, 6.0, 10.0]);
    // Default quartiles.
    let p = ok(
        &app,
        "pg_stats_percentiles",
        json!({ "table": "m", "column": "id" }),
    )
    .await;
    assert_eq!(p["percentiles"].as_array().unwrap().len(), 3);
    close(&p["percentiles"][2]["value"], 7.75);
    // The scale is stated.
    let e = fail(
        &app,
        "pg_stats_percentiles",
        json!({ "table": "m", "column": "v", "percentiles": [0.5, 95] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(
        e["error"].as_str().unwrap().contains("use 0.95, not 95"),
        "{e:#}"
    );
    let e = fail(
        &app,
        "pg_stats_percentiles",
        json!({ "table": "m", "column": "v", "percentiles": [-0.1] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    let e = fail(
        &app,
        "pg_stats_percentiles",
        json!({ "table": "m", "column": "v", "percentiles": [] }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn correlation_and_regression_of_a_line() {
    let (_db, app) = setup().await;
    let c = ok(
        &app,
        "pg_stats_correlation",
        json!({ "table": "m", "column1": "v", "column2": "w" }),
    )
    .await;
    assert_eq!(c["count"], 10);
    close(&c["correlation"], 1.0);
    close(&c["covarianceSample"], 2.0 * 55.0 / 6.0);
    close(&c["covariancePopulation"], 16.5);
    // Reference aliases x/y, and per group.
    let c = ok(
        &app,
        "pg_stats_correlation",
        json!({ "table": "m", "x": "v", "y": "id", "groupBy": ["g"] }),
    )
    .await;
    close(&c["groups"][1]["correlation"], 1.0);
    assert_eq!(c["groups"][1]["count"], 5);

    let r = ok(
        &app,
        "pg_stats_regression",
        json!({ "table": "m", "xColumn": "v", "yColumn": "w" }),
    )
    .await;
    assert_eq!(r["count"], 10);
    close(&r["slope"], 2.0);
    close(&r["intercept"], 1.0);
    close(&r["rSquared"], 1.0);
    close(&r["avgX"], 5.5);
    close(&r["avgY"], 12.0);
    // One pair: no line.
    let r = ok(
        &app,
        "pg_stats_regression",
        json!({ "table": "m", "x": "v", "y": "w", "where": "id = 1" }),
    )
    .await;
    assert_eq!(r["count"], 1);
    assert_eq!(r["slope"], Value::Null);
}

#[tokio::test]
async fn t_tests_one_and_two_samples() {
    let (_db, app) = setup().await;
    // 1, 2, 3 against 1: t = √3, df = 2, whose CDF has a closed form:
    // p = 1 − t / √(2 + t²) = 1 − √(3/5).
    let h = ok(
        &app,
        "pg_stats_hypothesis",
        json!({ "table": "m", "column": "v", "where": "id <= 3", "hypothesizedMean": 1 }),
    )
    .await;
    assert_eq!(h["test"], "one_sample_t");
    assert_eq!(h["sampleA"]["count"], 3);
    close(&h["t"], 3f64.sqrt());
    close(&h["df"], 2.0);
    close(&h["pValue"], 1.0 - (3.0f64 / 5.0).sqrt());
    let g = ok(
        &app,
        "pg_stats_hypothesis",
        json!({ "table": "m", "column": "v", "where": "id <= 3", "hypothesizedMean": 1, "alternative": "greater" }),
    )
    .await;
    close(&g["pValue"], (1.0 - (3.0f64 / 5.0).sqrt()) / 2.0);
    // Welch: even (2…10) vs odd (1…9): means 6 and 5, variances 10 and 10, n 5 and 5:
    // t = 1 / √4 = 0.5, df = 16 / (4/4 + 4/4) = 8; p = 0.6305360754860941 (numerical
    // integration of the t density, independent of pgmcp's incomplete beta).
    for args in [
        json!({ "groupColumn": "g", "groupValues": ["even", "odd"] }),
        json!({ "sampleA": "g = $1", "sampleB": "g = $2", "params": ["even", "odd"] }),
    ] {
        let mut args = args;
        args["table"] = json!("m");
        args["column"] = json!("v");
        let h = ok(&app, "pg_stats_hypothesis", args).await;
        assert_eq!(h["test"], "welch_t");
        assert_eq!(h["sampleA"]["count"], 5);
        close(&h["sampleA"]["mean"], 6.0);
        close(&h["sampleB"]["stddev"], 10f64.sqrt());
        close(&h["t"], 0.5);
        close(&h["df"], 8.0);
        let p = h["pValue"].as_f64().unwrap();
        assert!((p - 0.630_536_075_486_094_1).abs() < 1e-9, "{p}");
    }
    // Per group, and the honest nulls.
    let h = ok(
        &app,
        "pg_stats_hypothesis",
        json!({ "table": "m", "column": "v", "groupBy": ["g"], "hypothesizedMean": 6 }),
    )
    .await;
    close(&h["groups"][0]["t"], 0.0);
    close(&h["groups"][0]["pValue"], 1.0);
    let h = ok(
        &app,
        "pg_stats_hypothesis",
        json!({ "table": "m", "column": "v", "where": "id = 1" }),
    )
    .await;
    assert_eq!(h["t"], Value::Null);
    assert_eq!(h["pValue"], Value::Null);
    assert_eq!(h["note"], "fewer than 2 values");
}

#[tokio::test]
async fn distribution_buckets_with_bounds() {
    let (_db, app) = setup().await;
    let d = ok(
        &app,
        "pg_stats_distribution",
        json!({ "table": "m", "column": "v", "buckets": 3 }),
    )
    .await;
    assert_eq!(d["count"], 10);
    let b = d["buckets"].as_array().unwrap();
    let counts: Vec<i64> = b.iter().map(|x| x["count"].as_i64().unwrap()).collect();
    assert_eq!(counts, vec![3, 3, 4]);
    close(&b[0]["lower"], 1.0);
    close(&b[0]["upper"], 4.0);
    close(&b[2]["lower"], 7.0);
    close(&b[2]["upper"], 10.0);
    // Empty buckets are listed; per group.
    let d = ok(
        &app,
        "pg_stats_distribution",
        json!({ "table": "m", "column": "v", "buckets": 4, "where": "id IN (1, 2, 10)", "groupBy": ["g"] }),
    )
    .await;
    let even = &d["groups"][0];
    assert_eq!(even["group"]["g"], "even");
    let counts: Vec<i64> = even["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![1, 0, 0, 1]);
    // odd has the single value 1: one bucket.
    assert_eq!(d["groups"][1]["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(d["groups"][1]["count"], 1);
    // No rows.
    let d = ok(
        &app,
        "pg_stats_distribution",
        json!({ "table": "m", "column": "v", "where": "false" }),
    )
    .await;
    assert_eq!(d["count"], 0);
    assert_eq!(d["buckets"], json!([]));
}

#[tokio::test]
async fn frequency_and_distinct() {
    let (_db, app) = setup().await;
    sql(&app, "INSERT INTO m (id) VALUES (11)").await;
    let f = ok(
        &app,
        "pg_stats_frequency",
        json!({ "table": "m", "column": "note", "limit": 2 }),
    )
    .await;
    assert_eq!(f["total"], 11);
    assert_eq!(f["distinctValues"], 4);
    assert_eq!(f["valuesTruncated"], true);
    assert_eq!(f["values"][0]["value"], "n1");
    assert_eq!(f["values"][0]["count"], 4);
    close(&f["values"][0]["percent"], 400.0 / 11.0);
    assert_eq!(f["values"][1]["value"], "n0");
    let f = ok(
        &app,
        "pg_stats_frequency",
        json!({ "table": "m", "column": "note", "groupBy": ["g"], "where": "g IS NOT NULL" }),
    )
    .await;
    let even = &f["groups"][0];
    assert_eq!(even["group"]["g"], "even");
    // even ids 2,4,6,8,10: n2, n1, n0, n2, n1
    assert_eq!(
        even["values"],
        json!([
            { "value": "n1", "count": 2, "percent": 40.0 },
            { "value": "n2", "count": 2, "percent": 40.0 },
            { "value": "n0", "count": 1, "percent": 20.0 }
        ])
    );

    let d = ok(
        &app,
        "pg_stats_distinct",
        json!({ "table": "m", "column": "note" }),
    )
    .await;
    assert_eq!(d["distinctCount"], 3);
    assert_eq!(d["hasNull"], true);
    assert_eq!(d["values"], json!(["n0", "n1", "n2"]));
    let d = ok(
        &app,
        "pg_stats_distinct",
        json!({ "table": "m", "column": "v", "limit": 2, "where": "id > $1 AND v IS NOT NULL", "params": [7] }),
    )
    .await;
    assert_eq!(d["distinctCount"], 3);
    assert_eq!(d["hasNull"], false);
    assert_eq!(d["values"], json!(["8", "9"])); // numeric: exact strings
    assert_eq!(d["valuesTruncated"], true);
    let d = ok(
        &app,
        "pg_stats_distinct",
        json!({ "table": "m", "column": "g", "groupBy": ["note"], "groupLimit": 2 }),
    )
    .await;
    assert_eq!(d["truncated"], true);
    assert_eq!(d["groups"].as_array().unwrap().len(), 2);
    assert_eq!(d["groups"][0]["group"]["note"], "n0");
    assert_eq!(d["groups"][0]["values"], json!(["even", "odd"]));
}

#[tokio::test]
async fn outliers_by_iqr_and_zscore() {
    let (_db, app) = setup().await;
    sql(
        &app,
        "CREATE TABLE o (id int, x int); INSERT INTO o SELECT i, i FROM generate_series(1, 10) i; INSERT INTO o VALUES (11, 100), (12, NULL)",
    )
    .await;
    let r = ok(
        &app,
        "pg_stats_outliers",
        json!({ "table": "o", "column": "x" }),
    )
    .await;
    assert_eq!(r["method"], "iqr");
    assert_eq!(r["threshold"], 1.5);
    assert_eq!(r["count"], 11);
    close(&r["q1"], 3.5);
    close(&r["q3"], 8.5);
    close(&r["iqr"], 5.0);
    close(&r["lowerBound"], -4.0);
    close(&r["upperBound"], 16.0);
    assert_eq!(r["outlierCount"], 1);
    assert_eq!(
        r["outliers"],
        json!([{ "value": 100.0, "row": { "id": 11, "x": 100 } }])
    );
    assert!(r.get("mean").is_none());
    let r = ok(
        &app,
        "pg_stats_outliers",
        json!({ "table": "o", "column": "x", "method": "zscore", "threshold": 1, "maxOutliers": 1, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(r["method"], "zscore");
    close(&r["mean"], 155.0 / 11.0);
    // |x − 14.09| > 28.6: only 100.
    assert_eq!(r["outlierCount"], 1);
    assert_eq!(r["outliers"][0]["row"], json!({ "id": 11 }));
    let r = ok(
        &app,
        "pg_stats_outliers",
        json!({ "table": "o", "column": "x", "threshold": 0.1, "maxOutliers": 2 }),
    )
    .await;
    // Fences 3.0 and 9.0: 1, 2, 10, 100 are outside; the most extreme first.
    assert_eq!(r["outlierCount"], 4);
    assert_eq!(r["truncated"], true);
    let values: Vec<f64> = r["outliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![100.0, 1.0]);
    // Constant values: no deviation, no outliers.
    let r = ok(
        &app,
        "pg_stats_outliers",
        json!({ "table": "o", "column": "x", "method": "zscore", "where": "id = 1" }),
    )
    .await;
    assert_eq!(r["outlierCount"], 0);
    assert_eq!(r["lowerBound"], Value::Null);
}

#[tokio::test]
async fn top_n_rows_overall_and_per_group() {
    let (_db, app) = setup().await;
    let t = ok(
        &app,
        "pg_stats_top_n",
        json!({ "table": "m", "column": "v", "n": 3, "selectColumns": ["id", "g"] }),
    )
    .await;
    assert_eq!(t["direction"], "desc");
    assert_eq!(
        t["rows"],
        json!([{ "id": 10, "g": "even" }, { "id": 9, "g": "odd" }, { "id": 8, "g": "even" }])
    );
    let t = ok(
        &app,
        "pg_stats_top_n",
        json!({ "table": "m", "column": "w", "n": 2, "direction": "asc", "groupBy": ["g"], "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(col(&t, "id"), vec![json!(2), json!(4), json!(1), json!(3)]);
    assert_eq!(
        col(&t, "_rank"),
        vec![json!(1), json!(2), json!(1), json!(2)]
    );
    let t = ok(
        &app,
        "pg_stats_top_n",
        json!({ "table": "m", "column": "id", "n": 1, "groupBy": ["note"], "groupLimit": 2, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(col(&t, "id"), vec![json!(9), json!(10)]);
    assert_eq!(t["groupsTruncated"], true);
}

#[tokio::test]
async fn summary_profiles_every_column_in_one_call() {
    let (_db, app) = setup().await;
    sql(&app, "INSERT INTO m (id) VALUES (11), (12)").await;
    let s = ok(&app, "pg_stats_summary", json!({ "table": "m" })).await;
    assert_eq!(s["rows"], 12);
    let cols = s["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 6);
    let v = &cols[2];
    assert_eq!(v["column"], "v");
    assert_eq!(v["dataType"], "numeric");
    assert_eq!(v["nulls"], 2);
    close(&v["nullFraction"], 2.0 / 12.0);
    assert_eq!(v["distinctCount"], 10);
    close(&v["min"], 1.0);
    close(&v["max"], 10.0);
    close(&v["mean"], 5.5);
    let g = &cols[1];
    assert_eq!(
        g["topValues"],
        json!([{ "value": "even", "count": 5 }, { "value": "odd", "count": 5 }])
    );
    assert!(g.get("mean").is_none());
    assert_eq!(g["min"], Value::Null);
    let t = &cols[4];
    assert_eq!(t["min"], "2024-01-01T00:00:00");
    assert_eq!(t["max"], "2024-01-10T00:00:00");
    let s = ok(
        &app,
        "pg_stats_summary",
        json!({ "table": "m", "columns": ["note"], "where": "id <= $1", "params": [3] }),
    )
    .await;
    assert_eq!(s["rows"], 3);
    assert_eq!(s["columns"][0]["distinctCount"], 3);
    assert_eq!(
        s["columns"][0]["topValues"][0],
        json!({ "value": "n0", "count": 1 })
    );
    // Bounded: at most 50 columns.
    let many: Vec<String> = (0..60).map(|i| format!("c{i} int")).collect();
    sql(&app, &format!("CREATE TABLE wide ({})", many.join(", "))).await;
    let s = ok(&app, "pg_stats_summary", json!({ "table": "wide" })).await;
    assert_eq!(s["columns"].as_array().unwrap().len(), 50);
    assert_eq!(s["truncated"], true);
}

// ---------------------------------------------------------------------------------------
// window functions

#[tokio::test]
async fn window_functions_compute_and_page() {
    let (_db, app) = setup().await;
    let r = ok(
        &app,
        "pg_stats_row_number",
        json!({ "table": "m", "orderBy": "v", "orderDirection": "desc", "limit": 3, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(r["computedColumn"], "row_number");
    assert_eq!(
        r["rows"],
        json!([{ "id": 10, "row_number": 1 }, { "id": 9, "row_number": 2 }, { "id": 8, "row_number": 3 }])
    );
    assert_eq!(r["truncated"], true);
    assert_eq!(r["nextPageOffset"], 3);
    let r = ok(
        &app,
        "pg_stats_row_number",
        json!({ "table": "m", "orderBy": ["v"], "orderDirection": "desc", "limit": 3, "pageOffset": 9, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(r["rows"], json!([{ "id": 1, "row_number": 10 }]));
    assert!(r.get("nextPageOffset").is_none());

    let r = ok(
        &app,
        "pg_stats_moving_avg",
        json!({ "table": "m", "column": "v", "orderBy": "id", "windowSize": 3, "limit": 4, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(
        col(&r, "moving_avg"),
        vec![json!(1.0), json!(1.5), json!(2.0), json!(3.0)]
    );

    let r = ok(
        &app,
        "pg_stats_running_total",
        json!({ "table": "m", "column": "v", "orderBy": "id", "partitionBy": "g", "selectColumns": ["id", "g"] }),
    )
    .await;
    // even first (partition order), then odd.
    assert_eq!(col(&r, "id")[..3], [json!(2), json!(4), json!(6)]);
    assert_eq!(
        col(&r, "running_total"),
        [2.0, 6.0, 12.0, 20.0, 30.0, 1.0, 4.0, 9.0, 16.0, 25.0]
            .iter()
            .map(|x| json!(x))
            .collect::<Vec<_>>()
    );

    let r = ok(
        &app,
        "pg_stats_lag_lead",
        json!({ "table": "m", "column": "v", "orderBy": "id", "limit": 3, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(col(&r, "lag"), vec![Value::Null, json!("1"), json!("2")]);
    let r = ok(
        &app,
        "pg_stats_lag_lead",
        json!({ "table": "m", "column": "id", "orderBy": "id", "direction": "lead", "offset": 2, "defaultValue": 0, "where": "id >= 8", "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(col(&r, "lead"), vec![json!(10), json!(0), json!(0)]);

    let r = ok(
        &app,
        "pg_stats_rank",
        json!({ "table": "m", "orderBy": "g", "selectColumns": ["id"], "where": "id <= 4" }),
    )
    .await;
    assert_eq!(
        col(&r, "rank"),
        vec![json!(1), json!(1), json!(3), json!(3)]
    );
    let r = ok(
        &app,
        "pg_stats_rank",
        json!({ "table": "m", "orderBy": "g", "method": "dense_rank", "selectColumns": ["id"], "where": "id <= 4" }),
    )
    .await;
    assert_eq!(
        col(&r, "dense_rank"),
        vec![json!(1), json!(1), json!(2), json!(2)]
    );
    let r = ok(
        &app,
        "pg_stats_rank",
        json!({ "table": "m", "orderBy": "id", "method": "percent_rank", "selectColumns": ["id"], "where": "id <= 3" }),
    )
    .await;
    assert_eq!(
        col(&r, "percent_rank"),
        vec![json!(0.0), json!(0.5), json!(1.0)]
    );

    let r = ok(
        &app,
        "pg_stats_ntile",
        json!({ "table": "m", "orderBy": "id", "buckets": 4, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(
        col(&r, "ntile"),
        [1, 1, 1, 2, 2, 2, 3, 3, 4, 4]
            .iter()
            .map(|x| json!(x))
            .collect::<Vec<_>>()
    );
    // A table column with the computed column's name: both are kept.
    sql(
        &app,
        "CREATE TABLE clash (id int, ntile int); INSERT INTO clash VALUES (1, 7)",
    )
    .await;
    let r = ok(
        &app,
        "pg_stats_ntile",
        json!({ "table": "clash", "orderBy": "ntile" }),
    )
    .await;
    assert_eq!(r["computedColumn"], "ntile_2");
    assert_eq!(r["rows"], json!([{ "id": 1, "ntile": 7, "ntile_2": 1 }]));
}

// ---------------------------------------------------------------------------------------
// time series, sampling

#[tokio::test]
async fn time_series_fills_gaps_and_bounds_the_span() {
    let (_db, app) = setup().await;
    let s = ok(
        &app,
        "pg_stats_time_series",
        json!({ "table": "m", "timeColumn": "t", "valueColumn": "v", "aggregation": "sum", "where": "id NOT IN (4, 5)" }),
    )
    .await;
    assert_eq!(s["interval"], "day");
    let b = s["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 10);
    assert_eq!(
        b[0],
        json!({ "bucket": "2024-01-01T00:00:00", "count": 1, "value": 1.0 })
    );
    assert_eq!(b[3], json!({ "bucket": "2024-01-04T00:00:00", "count": 0 }));
    assert_eq!(b[4]["count"], 0);
    assert_eq!(b[9]["bucket"], "2024-01-10T00:00:00");
    // Weeks (2024-01-01 is a Monday), counting rows.
    let s = ok(
        &app,
        "pg_stats_time_series",
        json!({ "table": "m", "time": "t", "interval": "week" }),
    )
    .await;
    assert_eq!(s["aggregation"], "count");
    assert_eq!(
        s["buckets"],
        json!([
            { "bucket": "2024-01-01T00:00:00", "count": 7 },
            { "bucket": "2024-01-08T00:00:00", "count": 3 }
        ])
    );
    // Per group, gaps filled per group over the common span.
    let s = ok(
        &app,
        "pg_stats_time_series",
        json!({ "table": "m", "timeColumn": "t", "valueColumn": "w", "aggregation": "max", "groupBy": ["g"], "where": "id <= 3" }),
    )
    .await;
    let even = &s["groups"][0];
    assert_eq!(even["group"]["g"], "even");
    assert_eq!(
        even["buckets"],
        json!([
            { "bucket": "2024-01-01T00:00:00", "count": 0 },
            { "bucket": "2024-01-02T00:00:00", "count": 1, "value": 5.0 },
            { "bucket": "2024-01-03T00:00:00", "count": 0 }
        ])
    );
    assert_eq!(s["groups"][1]["buckets"][2]["value"], 7.0);
    // Date columns, months.
    sql(&app, "CREATE TABLE d (day date, n int); INSERT INTO d VALUES ('2024-01-15', 1), ('2024-04-02', 2)").await;
    let s = ok(
        &app,
        "pg_stats_time_series",
        json!({ "table": "d", "timeColumn": "day", "valueColumn": "n", "interval": "month" }),
    )
    .await;
    assert_eq!(s["aggregation"], "avg");
    assert_eq!(s["buckets"].as_array().unwrap().len(), 4);
    assert_eq!(
        s["buckets"][3],
        json!({ "bucket": "2024-04-01T00:00:00", "count": 1, "value": 2.0 })
    );
    // Too long a span: an error that says how to narrow it.
    let e = fail(
        &app,
        "pg_stats_time_series",
        json!({ "table": "m", "timeColumn": "t", "interval": "second" }),
    )
    .await;
    expect(&e, "INVALID_ARGUMENT", "validation");
    assert!(e["error"].as_str().unwrap().contains("777601"), "{e:#}");
    assert!(
        e["suggestion"].as_str().unwrap().contains("interval"),
        "{e:#}"
    );
    // No rows: no buckets.
    let s = ok(
        &app,
        "pg_stats_time_series",
        json!({ "table": "m", "timeColumn": "t", "where": "false" }),
    )
    .await;
    assert_eq!(s["buckets"], json!([]));
}

#[tokio::test]
async fn sampling_is_repeatable_with_a_seed() {
    let (_db, app) = setup().await;
    sql(
        &app,
        "CREATE TABLE big AS SELECT i AS id FROM generate_series(1, 2000) i",
    )
    .await;
    let all = ok(
        &app,
        "pg_stats_sampling",
        json!({ "table": "m", "percentage": 100, "selectColumns": ["id"] }),
    )
    .await;
    assert_eq!(all["rowCount"], 10);
    assert_eq!(all["method"], "bernoulli");
    assert!(all["seed"].is_i64());
    let args = json!({ "table": "big", "percentage": 5, "seed": 42, "limit": 1000 });
    let a = ok(&app, "pg_stats_sampling", args.clone()).await;
    let b = ok(&app, "pg_stats_sampling", args).await;
    assert_eq!(a["rows"], b["rows"]);
    assert_eq!(a["seed"], 42);
    let n = a["rowCount"].as_i64().unwrap();
    assert!((40..=170).contains(&n), "{n} of 2000 at 5%");
    let c = ok(
        &app,
        "pg_stats_sampling",
        json!({ "table": "big", "percentage": 5, "seed": 43, "limit": 1000 }),
    )
    .await;
    assert_ne!(a["rows"], c["rows"]);
    // where filters the sample; limit cuts it and says so.
    let f = ok(
        &app,
        "pg_stats_sampling",
        json!({ "table": "big", "percentage": 100, "method": "system", "seed": 1, "where": "id <= $1", "params": [30], "limit": 20 }),
    )
    .await;
    assert_eq!(f["rowCount"], 20);
    assert_eq!(f["truncated"], true);
    assert!(f["hint"].as_str().unwrap().contains("percentage"));
    // Views cannot be sampled: PostgreSQL says so.
    sql(&app, "CREATE VIEW mv AS SELECT * FROM m").await;
    let e = fail(&app, "pg_stats_sampling", json!({ "table": "mv" })).await;
    assert_eq!(e["category"], "database", "{e:#}");
}

// ---------------------------------------------------------------------------------------
// injection

/// Every tool with the minimal arguments naming `table` and its numeric column `num`,
/// text column `txt` and time column `ts`.
fn every_tool(table: &str, num: &str, txt: &str, ts: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "pg_stats_descriptive",
            json!({ "table": table, "column": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_percentiles",
            json!({ "table": table, "column": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_correlation",
            json!({ "table": table, "column1": num, "column2": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_regression",
            json!({ "table": table, "xColumn": num, "yColumn": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_hypothesis",
            json!({ "table": table, "column": num, "groupColumn": txt, "groupValues": ["a", "b"] }),
        ),
        (
            "pg_stats_distribution",
            json!({ "table": table, "column": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_frequency",
            json!({ "table": table, "column": txt, "groupBy": [txt] }),
        ),
        (
            "pg_stats_distinct",
            json!({ "table": table, "column": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_outliers",
            json!({ "table": table, "column": num, "threshold": 0.1, "selectColumns": [txt] }),
        ),
        (
            "pg_stats_top_n",
            json!({ "table": table, "column": num, "groupBy": [txt] }),
        ),
        ("pg_stats_summary", json!({ "table": table })),
        (
            "pg_stats_moving_avg",
            json!({ "table": table, "column": num, "orderBy": num, "partitionBy": txt }),
        ),
        (
            "pg_stats_running_total",
            json!({ "table": table, "column": num, "orderBy": [ts, num], "partitionBy": [txt] }),
        ),
        (
            "pg_stats_lag_lead",
            json!({ "table": table, "column": txt, "orderBy": num }),
        ),
        ("pg_stats_rank", json!({ "table": table, "orderBy": txt })),
        (
            "pg_stats_row_number",
            json!({ "table": table, "orderBy": num, "partitionBy": txt }),
        ),
        (
            "pg_stats_ntile",
            json!({ "table": table, "orderBy": num, "partitionBy": [txt] }),
        ),
        (
            "pg_stats_time_series",
            json!({ "table": table, "timeColumn": ts, "valueColumn": num, "groupBy": [txt] }),
        ),
        (
            "pg_stats_sampling",
            json!({ "table": table, "percentage": 100, "seed": 1 }),
        ),
    ]
}

#[tokio::test]
async fn names_with_quotes_and_spaces_work_everywhere() {
    let (_db, app) = setup().await;
    sql(
        &app,
        r#"CREATE TABLE "we""ird tab" ("co l" int, "gr""p" text, "t s" date);
           INSERT INTO "we""ird tab" VALUES (1, 'a', '2024-01-01'), (2, 'a', '2024-01-02'), (30, 'b', '2024-01-02')"#,
    )
    .await;
    // Table names may be qualified, so a quote in one is written quoted; column names are literal.
    let tools = every_tool("\"we\"\"ird tab\"", "co l", "gr\"p", "t s");
    assert_eq!(tools.len(), 19);
    for (tool, args) in tools {
        let r = ok(&app, tool, args.clone()).await;
        assert!(r.is_object(), "{tool}");
    }
    let d = ok(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "we\"ird tab", "schema": "public", "column": "co l", "groupBy": ["gr\"p"] }),
    )
    .await;
    assert_eq!(d["groups"][0]["group"], json!({ "gr\"p": "a" }));
    close(&d["groups"][1]["mean"], 30.0);
    let h = ok(
        &app,
        "pg_stats_hypothesis",
        json!({ "table": "\"we\"\"ird tab\"", "column": "co l", "groupColumn": "gr\"p", "groupValues": ["a", "b"] }),
    )
    .await;
    assert_eq!(h["sampleA"]["count"], 2);
    assert_eq!(h["sampleB"]["count"], 1);
    let s = ok(
        &app,
        "pg_stats_summary",
        json!({ "table": "public.\"we\"\"ird tab\"" }),
    )
    .await;
    assert_eq!(s["columns"][1]["column"], "gr\"p");
    // A hostile name is a name, not SQL.
    for (tool, args) in every_tool("m\"; DROP TABLE m; --", "v", "g", "t") {
        let e = fail(&app, tool, args).await;
        assert!(
            e["code"] == "NOT_FOUND" || e["code"] == "INVALID_ARGUMENT",
            "{tool}: {e:#}"
        );
    }
    for (tool, args) in every_tool("m", "v", "g\" FROM m; DROP TABLE m; --", "t") {
        if tool == "pg_stats_summary" || tool == "pg_stats_sampling" {
            continue;
        }
        let e = fail(&app, tool, args).await;
        assert!(
            ["NOT_FOUND", "UNDEFINED_COLUMN"].contains(&e["code"].as_str().unwrap()),
            "{tool}: {e:#}"
        );
    }
    assert_eq!(scalar(&app, "SELECT count(*) FROM m").await, 10);
}

#[tokio::test]
async fn hostile_where_fragments_are_refused_or_harmless() {
    for extra in [&[][..], &["--access-mode", "restricted"][..]] {
        let db = support::test_db().await;
        let admin = support::app(&db.url, &[]);
        sql(
            &admin,
            "CREATE TABLE m (id int, g text, v numeric, t timestamp);
             INSERT INTO m SELECT i, 'x', i, timestamp '2024-01-01' + i * interval '1 day' FROM generate_series(1, 5) i;
             CREATE FUNCTION zap() RETURNS bool LANGUAGE sql AS 'DELETE FROM m RETURNING true'",
        )
        .await;
        canary(&admin).await;
        let app = support::app(&db.url, extra);
        let own = [
            "1=1; DROP TABLE m",
            "true)) x; DROP TABLE m; SELECT ((1",
            "zap()",
            "id = $2",
        ];
        for fragment in HOSTILE_ESCAPES.iter().chain(HOSTILE_WRITES).chain(&own) {
            for (tool, mut args) in every_tool("m", "v", "g", "t") {
                args["where"] = json!(fragment);
                args["params"] = json!([1]);
                match app.call(tool, args).await {
                    // Only a harmless fragment may run (set_config in a rolled-back read).
                    Ok(v) => assert!(
                        fragment.contains("set_config"),
                        "{tool} ran {fragment:?}: {v}"
                    ),
                    Err(e) => {
                        let e = e.to_json();
                        assert!(
                            [
                                "INVALID_ARGUMENT",
                                "READ_ONLY_VIOLATION",
                                "INSUFFICIENT_PRIVILEGE",
                                "SQL_ERROR",
                                "SYNTAX_ERROR"
                            ]
                            .contains(&e["code"].as_str().unwrap()),
                            "{tool} {fragment:?}: {e:#}"
                        );
                    }
                }
            }
        }
        // Two-sample conditions are checked the same way.
        let e = fail(
            &app,
            "pg_stats_hypothesis",
            json!({ "table": "m", "column": "v", "sampleA": "true) UNION SELECT 1 WHERE (true", "sampleB": "true" }),
        )
        .await;
        expect(&e, "INVALID_ARGUMENT", "validation");
        assert_eq!(scalar(&admin, "SELECT count(*) FROM m").await, 5);
        canary_intact(&admin).await;
    }
}

/// With `transactionId`, the lookups run in the caller's transaction too: a table created
/// there and not committed is found, its uncommitted rows are counted, and without the id
/// the table does not exist.
#[tokio::test]
async fn stats_run_inside_the_callers_transaction() {
    let (_db, app) = setup().await;
    let tx = ok(&app, "pg_transaction_begin", json!({})).await["transactionId"].clone();
    for stmt in [
        "CREATE TABLE fresh (g text, x int)",
        "INSERT INTO fresh SELECT CASE WHEN i <= 3 THEN 'a' ELSE 'b' END, i FROM generate_series(1, 10) i",
    ] {
        ok(
            &app,
            "pg_write_query",
            json!({ "sql": stmt, "transactionId": tx }),
        )
        .await;
    }
    let v = ok(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "fresh", "column": "x", "transactionId": tx }),
    )
    .await;
    assert_eq!(
        (v["count"].as_i64(), v["sum"].as_f64()),
        (Some(10), Some(55.0)),
        "{v:#}"
    );
    let v = ok(
        &app,
        "pg_stats_frequency",
        json!({ "table": "fresh", "column": "g", "transactionId": tx }),
    )
    .await;
    assert!(v.to_string().contains("\"b\""), "{v:#}");
    let v = ok(
        &app,
        "pg_stats_running_total",
        json!({ "table": "fresh", "column": "x", "orderBy": "x", "transactionId": tx, "limit": 3 }),
    )
    .await;
    assert!(v.to_string().contains("6"), "{v:#}");
    let e = fail(
        &app,
        "pg_stats_descriptive",
        json!({ "table": "fresh", "column": "x" }),
    )
    .await;
    expect(&e, "NOT_FOUND", "not_found");
    ok(
        &app,
        "pg_transaction_rollback",
        json!({ "transactionId": tx }),
    )
    .await;
}
