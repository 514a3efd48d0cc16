//! Foundations of the DBA toolkit, on real servers: the test clusters of both majors
//! (the default one, PostgreSQL 15 on Debian 12, and the PostgreSQL 17 of `.ci/pg17`)
//! with pg_stat_statements, I/O timing and HypoPG; and the HypoPG index advisor
//! (`pgmcp::dba`) on a deterministic fixture, on both majors (generic plans via PREPARE on
//! 15 and via `EXPLAIN (GENERIC_PLAN)` on 17).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::{self, TestDb};
use pgmcp::dba::{
    AdvisorOptions, IndexAdvice, PlanMode, StatementOutcome, WorkloadStatement, recommend_indexes,
};
use serde_json::Value;

async fn scalar<T: for<'a> tokio_postgres::types::FromSql<'a>>(
    client: &tokio_postgres::Client,
    sql: &str,
) -> T {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .get(0)
}

#[tokio::test]
async fn second_server_runs_postgresql_17_or_later() {
    let Some(pg17) = support::server_17() else {
        return;
    };
    let client = support::connect(&pg17.url("postgres")).await;
    let version: String = scalar(&client, "SELECT current_setting('server_version_num')").await;
    let version: i32 = version.parse().unwrap();
    assert!(version >= 170000, "server_version_num {version}");
    let default = support::connect(&support::admin_url()).await;
    let default: String = scalar(&default, "SELECT current_setting('server_version_num')").await;
    assert_ne!(
        default.parse::<i32>().unwrap() / 10000,
        version / 10000,
        "two different majors"
    );
}

#[tokio::test]
async fn pg_stat_statements_is_loaded_and_records_statements_on_both_servers() {
    for (label, admin) in support::servers() {
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        let preload: String = scalar(
            &client,
            "SELECT current_setting('shared_preload_libraries')",
        )
        .await;
        assert!(preload.contains("pg_stat_statements"), "{label}: {preload}");
        let io_timing: String = scalar(&client, "SELECT current_setting('track_io_timing')").await;
        assert_eq!(io_timing, "on", "{label}");
        client
            .batch_execute("CREATE EXTENSION pg_stat_statements")
            .await
            .unwrap();
        let marker = format!("dba_infra_probe_{}", db.name);
        client
            .batch_execute(&format!("SELECT 4242 AS {marker}"))
            .await
            .unwrap();
        let calls: i64 = client
            .query_one(
                "SELECT coalesce(sum(calls), 0)::int8 FROM pg_stat_statements \
                 WHERE query LIKE '%' || $1 || '%' \
                 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[&marker],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            calls, 1,
            "{label}: pg_stat_statements recorded the probe once"
        );
    }
}

#[tokio::test]
async fn hypopg_is_creatable_and_used_by_explain_on_both_servers() {
    for (label, admin) in support::servers() {
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        client
            .batch_execute(
                "CREATE EXTENSION hypopg; \
                 CREATE TABLE t AS SELECT i AS a FROM generate_series(1, 10000) i; ANALYZE t",
            )
            .await
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
        let created: String = scalar(
            &client,
            "SELECT indexname FROM hypopg_create_index('CREATE INDEX ON t (a)')",
        )
        .await;
        let plan: Vec<String> = client
            .query("EXPLAIN SELECT * FROM t WHERE a = 5", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains(&created), "{label}: {plan}");
    }
}

// ---------------------------------------------------------------------------------------
// The index advisor.

/// The fixture: fixed data (generate_series, no randomness), statistics over whole tables
/// (statistics target 10000), frozen and analyzed, HypoPG installed.
const FIXTURE_SQL: &str = "
SET default_statistics_target = 10000;
CREATE EXTENSION hypopg;
CREATE TABLE customers (id int PRIMARY KEY, region int NOT NULL, email text NOT NULL);
INSERT INTO customers SELECT i, 1 + i % 10, 'u' || i || '@x' FROM generate_series(1, 2000) i;
CREATE TABLE orders (
  id int PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, paid boolean NOT NULL,
  created_at timestamp NOT NULL, total numeric NOT NULL);
INSERT INTO orders
  SELECT i, 1 + i % 2000,
         CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 5 = 0 THEN 'shipped' ELSE 'done' END,
         i % 10 <> 0, timestamp '2024-01-01' + i * interval '1 minute', (i % 1000) / 10.0
  FROM generate_series(1, 100000) i;
CREATE TABLE products (id int PRIMARY KEY, sku text NOT NULL UNIQUE, category int NOT NULL);
INSERT INTO products SELECT i, 'sku-' || i, i % 50 FROM generate_series(1, 5000) i;
";

/// A fresh copy of the fixture on the server of `admin`; the fixture itself is built once
/// per server and process, as a template.
async fn fixture_db(admin: String) -> TestDb {
    static TEMPLATES: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    let template = {
        let mut built = TEMPLATES.lock().unwrap_or_else(|e| e.into_inner());
        let built = built.get_or_insert_with(HashMap::new);
        match built.get(&admin) {
            Some(name) => name.clone(),
            None => {
                // Built on a private thread and runtime: this test's runtime is blocked here.
                let admin2 = admin.clone();
                let name = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(async move {
                            let db = support::test_db_at(admin2).await;
                            let client = support::connect(&db.url).await;
                            client.batch_execute(FIXTURE_SQL).await.unwrap();
                            // Not in FIXTURE_SQL: a multi-statement batch is one transaction.
                            client
                                .batch_execute("VACUUM (FREEZE, ANALYZE)")
                                .await
                                .unwrap();
                            drop(client);
                            // Kept for the whole process (the throwaway cluster goes with it).
                            db.keep()
                        })
                })
                .join()
                .expect("fixture builds");
                built.insert(admin.clone(), name.clone());
                name
            }
        }
    };
    // CREATE DATABASE waits (up to 5 s) for the builder's connection to leave the template.
    support::test_db_like(admin, &template).await
}

/// The advisor's session, with the planner settings pinned.
async fn advisor_session(url: &str) -> tokio_postgres::Client {
    let client = support::connect(url).await;
    client
        .batch_execute(
            "SET max_parallel_workers_per_gather = 0; SET jit = off; \
             SET random_page_cost = 4; SET seq_page_cost = 1; SET cpu_tuple_cost = 0.01; \
             SET cpu_index_tuple_cost = 0.005; SET cpu_operator_cost = 0.0025; \
             SET effective_cache_size = '4GB'; SET work_mem = '4MB'",
        )
        .await
        .unwrap();
    client
}

fn w(sql: &str, weight: f64) -> WorkloadStatement {
    WorkloadStatement::new(sql, weight)
}

async fn advise(
    client: &tokio_postgres::Client,
    workload: &[WorkloadStatement],
    opts: &AdvisorOptions,
) -> IndexAdvice {
    let advice = recommend_indexes(client, workload, opts)
        .await
        .unwrap_or_else(|e| panic!("advisor failed: {:#}", e.to_json()));
    check_invariants(client, &advice, opts).await;
    advice
}

/// What must hold after every run.
async fn check_invariants(
    client: &tokio_postgres::Client,
    advice: &IndexAdvice,
    opts: &AdvisorOptions,
) {
    let json = serde_json::to_string_pretty(advice).unwrap();
    let left: i64 = scalar(client, "SELECT count(*) FROM hypopg_list_indexes").await;
    assert_eq!(left, 0, "hypothetical indexes left on the session");
    // (The driver's own statements, this query among them, are prepared too.)
    let prepared: i64 = scalar(
        client,
        "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pgmcp_advisor_%'",
    )
    .await;
    assert_eq!(prepared, 0, "prepared statements left on the session");
    let timeout: String = scalar(client, "SHOW statement_timeout").await;
    assert_eq!(timeout, "0", "statement_timeout restored");
    let mode: String = scalar(client, "SHOW plan_cache_mode").await;
    assert_eq!(mode, "auto", "plan_cache_mode restored");
    assert!(advice.objective.after <= advice.objective.before, "{json}");
    let total: i64 = advice
        .recommendations
        .iter()
        .map(|r| r.estimated_size_bytes)
        .sum();
    assert!(
        total <= opts.storage_budget_bytes.unwrap_or(i64::MAX),
        "{json}"
    );
    for rec in &advice.recommendations {
        assert!(!rec.benefits.is_empty(), "unused recommendation: {json}");
        for b in &rec.benefits {
            assert!(b.cost_after < b.cost_before, "{json}");
        }
    }
    assert!(
        advice.stats.explain_calls > 0 && !advice.stats.truncated,
        "{json}"
    );
}

fn ddls(advice: &IndexAdvice) -> Vec<&str> {
    advice
        .recommendations
        .iter()
        .map(|r| r.create_index.as_str())
        .collect()
}

const BY_CUSTOMER: &str = "SELECT * FROM orders WHERE customer_id = $1";
const LATEST_BY_CUSTOMER: &str =
    "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20";
const CUSTOMER_INDEX: &str = r#"CREATE INDEX ON "public"."orders" USING btree ("customer_id")"#;
const COMPOSITE_INDEX: &str =
    r#"CREATE INDEX ON "public"."orders" USING btree ("customer_id", "created_at")"#;

#[tokio::test]
async fn advisor_indexes_a_selective_equality_and_explains_the_rest() {
    for (label, admin) in support::servers() {
        let db = fixture_db(admin).await;
        let client = advisor_session(&db.url).await;
        let workload = [
            w(BY_CUSTOMER, 500.0),
            w("SELECT * FROM orders WHERE paid", 100.0),
            w("SELECT * FROM products WHERE sku = $1", 300.0),
            w("SELEC oops", 1.0),
            w("CREATE TABLE x (a int)", 1.0),
            w("INSERT INTO customers VALUES ($1, 1, 'x')", 10.0),
        ];
        let opts = AdvisorOptions::default();
        let advice = advise(&client, &workload, &opts).await;
        let json = serde_json::to_string_pretty(&advice).unwrap();
        eprintln!("{label}: {json}");
        assert_eq!(ddls(&advice), [CUSTOMER_INDEX], "{label}: {json}");
        let s = &advice.statements;
        assert_eq!(s[0].outcome, StatementOutcome::Improved, "{label}: {json}");
        assert_eq!(s[0].plan_mode, Some(PlanMode::Generic));
        assert_eq!(s[0].uses, [CUSTOMER_INDEX]);
        assert!(
            s[0].cost_after.unwrap() < s[0].cost_before.unwrap() / 10.0,
            "{json}"
        );
        // The unselective boolean (90 % of rows): no index, with the planner's verdict.
        assert_eq!(s[1].outcome, StatementOutcome::NoBeneficialIndex, "{json}");
        assert_eq!(s[1].plan_mode, Some(PlanMode::Literal));
        let why = s[1].reason.as_deref().unwrap();
        assert!(
            why.contains("uses none of the") && why.contains("\"paid\""),
            "{why}"
        );
        // Already indexed: no duplicate of the unique constraint's index.
        assert_eq!(s[2].outcome, StatementOutcome::NoBeneficialIndex, "{json}");
        assert!(
            s[2].reason.as_deref().unwrap().contains("products_sku_key"),
            "{json}"
        );
        assert_eq!(s[3].outcome, StatementOutcome::Skipped);
        assert!(
            s[3].reason.as_deref().unwrap().contains("does not parse"),
            "{json}"
        );
        assert_eq!(s[4].outcome, StatementOutcome::Skipped);
        assert!(
            s[4].reason
                .as_deref()
                .unwrap()
                .contains("only SELECT, INSERT, UPDATE and DELETE"),
            "{json}"
        );
        assert_eq!(s[5].outcome, StatementOutcome::WriteOnly, "{json}");
        let rec = &advice.recommendations[0];
        assert_eq!(
            (rec.schema.as_str(), rec.table.as_str()),
            ("public", "orders")
        );
        assert_eq!(rec.columns, ["customer_id"]);
        assert!(rec.estimated_size_bytes > 1 << 20, "{json}");
        assert_eq!(rec.benefits.len(), 1);
        assert_eq!(rec.benefits[0].statement, 0);
        // The INSERT into customers costs nothing on orders.
        assert_eq!(rec.write_penalty, 0.0);
    }
}

#[tokio::test]
async fn advisor_prefers_one_composite_for_equality_plus_order_and_respects_the_budget() {
    for (label, admin) in support::servers() {
        let db = fixture_db(admin).await;
        let client = advisor_session(&db.url).await;
        let workload = [w(BY_CUSTOMER, 500.0), w(LATEST_BY_CUSTOMER, 300.0)];
        let opts = AdvisorOptions::default();
        let advice = advise(&client, &workload, &opts).await;
        let json = serde_json::to_string_pretty(&advice).unwrap();
        assert_eq!(ddls(&advice), [COMPOSITE_INDEX], "{label}: {json}");
        assert!(
            advice
                .statements
                .iter()
                .all(|s| s.outcome == StatementOutcome::Improved),
            "{label}: {json}"
        );
        // A budget below the composite's size: the single-column index fits and serves.
        let composite = advice.recommendations[0].estimated_size_bytes;
        let opts = AdvisorOptions {
            storage_budget_bytes: Some(composite - 1),
            ..AdvisorOptions::default()
        };
        let advice = advise(&client, &workload, &opts).await;
        let json = serde_json::to_string_pretty(&advice).unwrap();
        assert_eq!(ddls(&advice), [CUSTOMER_INDEX], "{label}: {json}");
        assert!(advice.recommendations[0].estimated_size_bytes < composite);
    }
}

#[tokio::test]
async fn advisor_weighs_the_write_penalty_of_an_index_that_breaks_hot_updates() {
    for (label, admin) in support::servers() {
        let db = fixture_db(admin).await;
        let client = advisor_session(&db.url).await;
        let pending = "SELECT count(*) FROM orders WHERE status = 'pending'";
        let update = "UPDATE orders SET status = $1 WHERE id = $2";
        // Reads alone: the 1 % status gets its index.
        let advice = advise(&client, &[w(pending, 200.0)], &AdvisorOptions::default()).await;
        let json = serde_json::to_string_pretty(&advice).unwrap();
        assert_eq!(
            ddls(&advice),
            [r#"CREATE INDEX ON "public"."orders" USING btree ("status")"#],
            "{label}: {json}"
        );
        // A million status updates, HOT today, would each write every index: rejected.
        let workload = [w(pending, 200.0), w(update, 1_000_000.0)];
        let advice = advise(&client, &workload, &AdvisorOptions::default()).await;
        let json = serde_json::to_string_pretty(&advice).unwrap();
        assert!(advice.recommendations.is_empty(), "{label}: {json}");
        let s = &advice.statements[0];
        assert_eq!(s.outcome, StatementOutcome::NoBeneficialIndex, "{json}");
        let why = s.reason.as_deref().unwrap();
        assert!(
            why.contains("write penalty") && why.contains("non-HOT"),
            "{why}"
        );
        // The UPDATE's own lookup is served by the primary key.
        let why = advice.statements[1].reason.as_deref().unwrap();
        assert!(why.contains("orders_pkey"), "{why}");
        // Without the penalty the index is back.
        let opts = AdvisorOptions {
            write_penalty: 0.0,
            ..AdvisorOptions::default()
        };
        let advice = advise(&client, &workload, &opts).await;
        assert_eq!(advice.recommendations.len(), 1, "{label}");
        assert!(advice.recommendations[0].breaks_hot_updates);
    }
}

#[tokio::test]
async fn advisor_hypothetical_indexes_stay_private_and_real_indexes_get_used() {
    for (label, admin) in support::servers() {
        let db = fixture_db(admin).await;
        let client = advisor_session(&db.url).await;
        let observer = advisor_session(&db.url).await;
        let workload = [
            w(BY_CUSTOMER, 500.0),
            w(LATEST_BY_CUSTOMER, 300.0),
            w(
                "SELECT c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id \
                 WHERE c.region = 3 AND o.created_at >= '2024-02-01' \
                 AND o.created_at < '2024-02-02'",
                50.0,
            ),
        ];
        let done = AtomicBool::new(false);
        let looks = AtomicUsize::new(0);
        let opts = AdvisorOptions::default();
        let run = async {
            let advice = advise(&client, &workload, &opts).await;
            done.store(true, Ordering::SeqCst);
            advice
        };
        let watch = async {
            while !done.load(Ordering::SeqCst) {
                let plan = observer
                    .simple_query("EXPLAIN SELECT * FROM orders WHERE customer_id = 42")
                    .await
                    .unwrap();
                for msg in plan {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
                        let line = row.get(0).unwrap_or_default();
                        assert!(!line.contains("btree"), "{label}: observer saw {line}");
                    }
                }
                looks.fetch_add(1, Ordering::SeqCst);
            }
        };
        let (advice, ()) = tokio::join!(run, watch);
        assert!(looks.load(Ordering::SeqCst) > 0);
        let json = serde_json::to_string_pretty(&advice).unwrap();
        assert!(!advice.recommendations.is_empty(), "{label}: {json}");
        // Built for real, every recommended index appears in the plan of a statement it
        // was recommended for.
        for (i, rec) in advice.recommendations.iter().enumerate() {
            let name = format!("dba_rec_{i}");
            let ddl =
                rec.create_index
                    .replacen("CREATE INDEX ON", &format!("CREATE INDEX {name} ON"), 1);
            observer.batch_execute(&ddl).await.unwrap();
        }
        observer.batch_execute("ANALYZE orders").await.unwrap();
        for (i, rec) in advice.recommendations.iter().enumerate() {
            let mut seen = false;
            for b in &rec.benefits {
                let sql = workload[b.statement].sql.replace("$1", "42");
                let plan: Value = observer
                    .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &[])
                    .await
                    .unwrap()
                    .get(0);
                seen |= plan.to_string().contains(&format!("\"dba_rec_{i}\""));
            }
            assert!(
                seen,
                "{label}: {} unused by real plans: {json}",
                rec.create_index
            );
        }
    }
}

#[tokio::test]
async fn advisor_is_deterministic_and_counts_its_work() {
    for (label, admin) in support::servers() {
        let db = fixture_db(admin).await;
        let client = advisor_session(&db.url).await;
        let workload = [
            w(BY_CUSTOMER, 500.0),
            w(LATEST_BY_CUSTOMER, 300.0),
            w(
                "SELECT count(*) FROM orders WHERE status = 'pending'",
                200.0,
            ),
            w("SELECT * FROM orders WHERE paid", 100.0),
            w("SELECT * FROM products WHERE sku = $1", 300.0),
            w("UPDATE orders SET total = total + 1 WHERE id = $1", 1000.0),
        ];
        let opts = AdvisorOptions::default();
        let mut runs = Vec::new();
        for _ in 0..2 {
            let advice = advise(&client, &workload, &opts).await;
            eprintln!(
                "{label}: advisor on the fixture ({} statements): {} EXPLAIN calls, {} \
                 hypothetical indexes, {} candidates, {} ms, {} recommendations",
                workload.len(),
                advice.stats.explain_calls,
                advice.stats.hypothetical_indexes_created,
                advice.stats.candidates,
                advice.stats.elapsed_ms,
                advice.recommendations.len()
            );
            let mut json = serde_json::to_value(&advice).unwrap();
            json["stats"]["elapsedMs"] = Value::Null;
            runs.push(json);
        }
        assert_eq!(runs[0], runs[1], "{label}: two runs differ");
        assert_eq!(
            runs[0]["recommendations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["createIndex"].as_str().unwrap())
                .collect::<Vec<_>>(),
            [
                COMPOSITE_INDEX,
                r#"CREATE INDEX ON "public"."orders" USING btree ("status")"#
            ],
            "{label}: {:#}",
            runs[0]
        );
    }
}

#[tokio::test]
async fn advisor_refuses_without_hypopg_and_says_how_to_get_it() {
    for (label, admin) in support::servers() {
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        let err = recommend_indexes(&client, &[w("SELECT 1", 1.0)], &AdvisorOptions::default())
            .await
            .expect_err("no HypoPG in this database");
        let j = err.to_json();
        assert_eq!(j["code"], "HYPOPG_NOT_INSTALLED", "{label}: {j:#}");
        assert!(j["error"].as_str().unwrap().contains("HypoPG"), "{j:#}");
        // Both servers have HypoPG available, so the hint is the CREATE EXTENSION.
        assert_eq!(j["details"]["availableOnServer"], true, "{j:#}");
        assert!(
            j["suggestion"]
                .as_str()
                .unwrap()
                .contains("CREATE EXTENSION hypopg"),
            "{j:#}"
        );
    }
}

#[tokio::test]
async fn advisor_refuses_inside_a_transaction_and_skips_statements_that_fail_to_plan() {
    for (label, admin) in support::servers() {
        let db = fixture_db(admin).await;
        let client = advisor_session(&db.url).await;
        client.batch_execute("BEGIN").await.unwrap();
        let err = recommend_indexes(&client, &[w(BY_CUSTOMER, 1.0)], &AdvisorOptions::default())
            .await
            .expect_err("refused inside a transaction");
        assert!(
            err.error.contains("outside any transaction"),
            "{label}: {}",
            err.error
        );
        client.batch_execute("ROLLBACK").await.unwrap();
        // A statement that fails in EXPLAIN (not in the parser) between two good ones.
        let workload = [
            w("SELECT * FROM orders WHERE nope = $1", 100.0),
            w(BY_CUSTOMER, 500.0),
            w("SELECT * FROM missing_table WHERE a = 1", 100.0),
        ];
        let opts = AdvisorOptions::default();
        let advice = advise(&client, &workload, &opts).await;
        let json = serde_json::to_string_pretty(&advice).unwrap();
        assert_eq!(ddls(&advice), [CUSTOMER_INDEX], "{label}: {json}");
        let s = &advice.statements;
        assert_eq!(s[0].outcome, StatementOutcome::Skipped, "{json}");
        let why = s[0].reason.as_deref().unwrap();
        assert!(
            why.contains("EXPLAIN failed") && why.contains("nope"),
            "{why}"
        );
        assert_eq!(s[1].outcome, StatementOutcome::Improved, "{json}");
        assert_eq!(s[2].outcome, StatementOutcome::Skipped, "{json}");
        assert!(
            s[2].reason
                .as_deref()
                .unwrap()
                .contains("no table of this database"),
            "{json}"
        );
    }
}
