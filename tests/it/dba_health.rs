//! Health checks (tools/performance/health.rs) on deterministic fixtures, each in its own
//! test database and schema: unused, duplicate and redundant indexes, bloat (estimated and
//! exact), bloat risk, vacuum staleness, cache hit ratios, sequential scans, index
//! statistics (PostgreSQL 15 and 17), and pg_analyze_db_health (sequences, constraints,
//! idle-in-transaction sessions, inactive slots). Nothing here resets cluster-wide stats.

use std::time::{Duration, Instant};

use crate::support;
use serde_json::{Value, json};

/// Makes this session's statistics visible to others, then waits (5 s at most) until
/// `ready` (a boolean query) holds from a fresh connection.
async fn flush_until(client: &tokio_postgres::Client, url: &str, ready: &str) {
    client
        .batch_execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let reader = support::connect(url).await;
    loop {
        let ok: bool = reader.query_one(ready, &[]).await.unwrap().get(0);
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "statistics never showed: {ready}"
        );
        client.batch_execute("SELECT 1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (check, severity, object) of each finding, in order.
fn summary(findings: &Value) -> Vec<(String, String, String)> {
    findings
        .as_array()
        .unwrap_or_else(|| panic!("findings: {findings}"))
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["object"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn s3(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.into(), b.into(), c.into())
}

fn find<'a>(findings: &'a Value, check: &str, object: &str) -> &'a Value {
    findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check && f["object"] == object)
        .unwrap_or_else(|| panic!("no {check} finding for {object}: {findings:#}"))
}

const INDEX_FIXTURE: &str = "
    CREATE SCHEMA u;
    CREATE TABLE u.items (id int PRIMARY KEY, a int, b int, code text UNIQUE);
    INSERT INTO u.items SELECT g, g % 100, g % 7, 'c' || g FROM generate_series(1, 5000) g;
    CREATE INDEX items_a ON u.items (a);
    CREATE INDEX items_b ON u.items (b);
    CREATE TABLE u.lines (id int PRIMARY KEY, item_id int REFERENCES u.items);
    INSERT INTO u.lines SELECT g, g FROM generate_series(1, 10) g;
    CREATE INDEX lines_item ON u.lines (item_id);
    ANALYZE u.items; ANALYZE u.lines;";

#[tokio::test]
async fn unused_indexes_and_index_stats_on_both_servers() {
    for (label, admin) in support::servers() {
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        client.batch_execute(INDEX_FIXTURE).await.unwrap();
        client
            .batch_execute(
                "SET enable_seqscan = off; SET enable_bitmapscan = off;
                 SELECT * FROM u.items WHERE a = 5; SELECT * FROM u.items WHERE a = 6;",
            )
            .await
            .unwrap();
        flush_until(
            &client,
            &db.url,
            "SELECT idx_scan > 0 FROM pg_stat_user_indexes WHERE indexrelname = 'items_a'",
        )
        .await;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await
            .unwrap()
            .get(0);
        let app = support::app(&db.url, &[]);

        let v = support::ok(
            &app,
            "pg_unused_indexes",
            json!({"schema": "u", "minSizeBytes": 0, "minWindowDays": 0}),
        )
        .await;
        assert_eq!(
            summary(&v["findings"]),
            vec![
                s3("unused_index", "warning", "u.items_b"),
                s3("unused_index", "info", "u.lines_item"),
            ],
            "{label}: PK, unique and used indexes are never listed; the FK supporter is info: {v:#}"
        );
        let b = &v["findings"][0];
        assert_eq!(b["fix"], "DROP INDEX CONCURRENTLY \"u\".\"items_b\";");
        assert_eq!(b["related"], "u.items");
        assert_eq!(b["evidence"]["indexScans"], 0);
        assert!(b["evidence"]["bytes"].as_i64().unwrap() > 0);
        assert!(v["statsWindowSeconds"].as_i64().is_some(), "{v}");
        assert!(
            v["findings"][1]["note"]
                .as_str()
                .unwrap()
                .contains("foreign key"),
            "{v:#}"
        );
        // The default window (14 days) is longer than this cluster's life: info only.
        let v = support::ok(
            &app,
            "pg_unused_indexes",
            json!({"schema": "u", "minSizeBytes": 0}),
        )
        .await;
        assert_eq!(v["findings"][0]["severity"], "info", "{label}: {v:#}");
        // The default minimum size (1 MiB) leaves these small indexes out.
        let v = support::ok(&app, "pg_unused_indexes", json!({"schema": "u"})).await;
        assert_eq!(v["findings"], json!([]), "{label}");

        let v = support::ok(&app, "pg_index_stats", json!({"table": "u.items"})).await;
        let names: Vec<&str> = v["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["index"].as_str().unwrap())
            .collect();
        assert_eq!(v["total"], 4, "{label}: {v:#}");
        assert!(names.contains(&"items_a") && names.contains(&"items_pkey"));
        let a = v["indexes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["index"] == "items_a")
            .unwrap();
        assert_eq!(a["scans"], 2, "{label}: {a}");
        assert_eq!(
            (&a["valid"], &a["unique"], &a["primary"]),
            (&json!(true), &json!(false), &json!(false))
        );
        // last_idx_scan exists from PostgreSQL 16 on.
        assert_eq!(a["lastScan"].is_string(), version >= 160000, "{label}: {a}");
        let items_b = find(
            &support::ok(
                &app,
                "pg_unused_indexes",
                json!({"schema": "u", "minSizeBytes": 0, "minWindowDays": 0}),
            )
            .await["findings"],
            "unused_index",
            "u.items_b",
        )
        .clone();
        assert!(items_b["evidence"].get("secondsSinceLastScan").is_none());

        let e = support::fail(&app, "pg_index_stats", json!({"schema": "nope"})).await;
        support::expect(&e, "UNDEFINED_SCHEMA", "not_found");
        let e = support::fail(&app, "pg_unused_indexes", json!({"maxScans": -1})).await;
        support::expect(&e, "INVALID_ARGUMENT", "validation");
    }
}

#[tokio::test]
async fn duplicate_and_redundant_indexes_keep_the_constraint_backing_one() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE SCHEMA d;
             CREATE TABLE d.orders (id int PRIMARY KEY, customer int, total numeric, sku text);
             CREATE INDEX dup_a ON d.orders (customer);
             CREATE INDEX dup_b ON d.orders (customer);
             CREATE INDEX id_again ON d.orders (id);
             CREATE INDEX total_only ON d.orders (total);
             CREATE INDEX total_sku ON d.orders (total, sku);
             CREATE INDEX lower_sku ON d.orders (lower(sku));
             CREATE INDEX upper_sku ON d.orders (upper(sku));
             CREATE INDEX sku_desc ON d.orders (sku DESC);
             CREATE INDEX sku_pattern ON d.orders (sku text_pattern_ops);
             CREATE INDEX sku_part ON d.orders (sku) WHERE total > 0;
             CREATE INDEX sku_hash ON d.orders USING hash (sku);
             CREATE INDEX sku_plain ON d.orders (sku);",
        )
        .await
        .unwrap();
    let app = support::app(&db.url, &[]);
    let v = support::ok(&app, "pg_duplicate_indexes", json!({"schema": "d"})).await;
    assert_eq!(
        summary(&v["findings"]),
        vec![
            s3("duplicate_index", "warning", "d.dup_b"),
            s3("duplicate_index", "warning", "d.id_again"),
            s3("redundant_index", "warning", "d.total_only"),
        ],
        "{v:#}"
    );
    let f = &v["findings"];
    assert_eq!(f[0]["related"], "d.dup_a");
    assert_eq!(f[0]["fix"], "DROP INDEX CONCURRENTLY \"d\".\"dup_b\";");
    assert_eq!(f[1]["related"], "d.orders_pkey", "the PK is kept: {f:#}");
    assert_eq!(f[1]["fix"], "DROP INDEX CONCURRENTLY \"d\".\"id_again\";");
    assert_eq!(f[2]["related"], "d.total_sku");
    // The fixes run, and then nothing is left to report.
    for fix in f.as_array().unwrap() {
        client
            .batch_execute(fix["fix"].as_str().unwrap())
            .await
            .unwrap();
    }
    let v = support::ok(&app, "pg_duplicate_indexes", json!({"schema": "d"})).await;
    assert_eq!(v["findings"], json!([]), "{v:#}");
    let e = support::fail(&app, "pg_duplicate_indexes", json!({"schema": "nope"})).await;
    support::expect(&e, "UNDEFINED_SCHEMA", "not_found");
}

#[tokio::test]
async fn bloat_after_a_mass_update_with_autovacuum_off() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE SCHEMA b;
             CREATE TABLE b.churn (id int PRIMARY KEY, v int, pad text) WITH (autovacuum_enabled = false);
             INSERT INTO b.churn SELECT g, g, repeat('x', 100) FROM generate_series(1, 20000) g;
             CREATE TABLE b.never (id int);
             INSERT INTO b.never VALUES (1);",
        )
        .await
        .unwrap();
    // Each step its own transaction, its statistics flushed before the next: ANALYZE
    // resets what it counts only when the updates were counted first.
    client.batch_execute("ANALYZE b.churn").await.unwrap();
    client
        .batch_execute("UPDATE b.churn SET v = v + 1")
        .await
        .unwrap();
    client
        .batch_execute("UPDATE b.churn SET v = v + 1")
        .await
        .unwrap();
    flush_until(
        &client,
        &db.url,
        "SELECT n_tup_upd >= 40000 FROM pg_stat_user_tables WHERE relname = 'churn'",
    )
    .await;
    client.batch_execute("ANALYZE b.churn").await.unwrap();
    flush_until(
        &client,
        &db.url,
        "SELECT n_mod_since_analyze = 0 AND n_dead_tup > 30000 FROM pg_stat_user_tables WHERE relname = 'churn'",
    )
    .await;
    let app = support::app(&db.url, &[]);

    let v = support::ok(
        &app,
        "pg_bloat_check",
        json!({"schema": "b", "kind": "table", "minBytes": 1048576}),
    )
    .await;
    assert_eq!(
        summary(&v["findings"])
            .into_iter()
            .map(|(c, _, o)| (c, o))
            .collect::<Vec<_>>(),
        vec![("table_bloat".to_string(), "b.churn".to_string())],
        "{v:#}"
    );
    let f = &v["findings"][0];
    let pct = f["evidence"]["bloatPct"].as_f64().unwrap();
    assert!(
        (50.0..=80.0).contains(&pct),
        "two full updates: about 2/3 is waste: {f:#}"
    );
    assert_eq!(
        f["fix"],
        "-- rewrites the table under an ACCESS EXCLUSIVE lock (pg_repack avoids the lock):\nVACUUM (FULL, ANALYZE) \"b\".\"churn\";"
    );
    // A table never analyzed is not estimated (no giant number).
    assert_eq!(v["notEstimated"][0]["object"], "b.never", "{v:#}");

    // Bloat risk: autovacuum is off for the table and 2/3 of its rows are dead.
    let v = support::ok(&app, "pg_detect_bloat_risk", json!({"schema": "b"})).await;
    assert_eq!(
        summary(&v["findings"]),
        vec![s3("bloat_risk", "critical", "b.churn")],
        "{v:#}"
    );
    let f = &v["findings"][0];
    assert_eq!(
        f["fix"],
        "VACUUM (ANALYZE) \"b\".\"churn\";\nALTER TABLE \"b\".\"churn\" RESET (autovacuum_enabled);"
    );
    assert!(f["evidence"]["deadRatio"].as_f64().unwrap() > 0.6, "{f:#}");
    assert!(
        f["evidence"].get("secondsSinceVacuum").is_none(),
        "never vacuumed is absent, not 0"
    );

    // Vacuum state: thresholds from the settings (50 + 0.2 × 20000), due, never vacuumed.
    let v = support::ok(&app, "pg_vacuum_stats", json!({"table": "b.churn"})).await;
    let t = &v["tables"][0];
    assert_eq!(t["table"], "churn");
    assert_eq!(t["vacuumThreshold"], 4050.0, "{t:#}");
    assert_eq!(
        (&t["vacuumDue"], &t["autovacuumEnabled"]),
        (&json!(true), &json!(false))
    );
    assert_eq!(
        summary(&v["findings"]),
        vec![
            s3("autovacuum_disabled", "warning", "b.churn"),
            s3("vacuum_due", "warning", "b.churn"),
        ],
        "{v:#}"
    );
    // A reloption lowers the threshold: 10 + 0.01 × 20000.
    client
        .batch_execute(
            "ALTER TABLE b.churn SET (autovacuum_vacuum_threshold = 10, autovacuum_vacuum_scale_factor = 0.01)",
        )
        .await
        .unwrap();
    let v = support::ok(&app, "pg_vacuum_stats", json!({"table": "b.churn"})).await;
    assert_eq!(v["tables"][0]["vacuumThreshold"], 210.0, "{v:#}");

    // Exact mode needs pgstattuple: a structured error, then a measurement.
    let e = support::fail(
        &app,
        "pg_bloat_check",
        json!({"schema": "b", "mode": "exact"}),
    )
    .await;
    support::expect(&e, "EXTENSION_MISSING", "not_found");
    client
        .batch_execute("CREATE EXTENSION pgstattuple")
        .await
        .unwrap();
    let owner = support::app(&db.url, &["--read-only-role", ""]);
    let v = support::ok(
        &owner,
        "pg_bloat_check",
        json!({"schema": "b", "mode": "exact", "kind": "table", "minBytes": 1048576}),
    )
    .await;
    let f = find(&v["findings"], "table_bloat", "b.churn");
    let pct = f["evidence"]["bloatPct"].as_f64().unwrap();
    assert!((50.0..=80.0).contains(&pct), "{f:#}");
    let e = support::fail(&app, "pg_bloat_check", json!({"minPct": 150})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(&app, "pg_bloat_check", json!({"mode": "guess"})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn cache_hit_ratio_and_seq_scan_tables() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE SCHEMA c;
             CREATE TABLE c.big (id int, v text);
             INSERT INTO c.big SELECT g, 'v' || g FROM generate_series(1, 20000) g;
             ANALYZE c.big;",
        )
        .await
        .unwrap();
    for _ in 0..60 {
        client
            .batch_execute("SELECT count(*) FROM c.big")
            .await
            .unwrap();
    }
    flush_until(
        &client,
        &db.url,
        "SELECT seq_scan >= 60 FROM pg_stat_user_tables WHERE relname = 'big'",
    )
    .await;
    let app = support::app(&db.url, &[]);
    let v = support::ok(&app, "pg_seq_scan_tables", json!({"schema": "c"})).await;
    assert_eq!(
        summary(&v["findings"]),
        vec![s3("seq_scans", "warning", "c.big")],
        "{v:#}"
    );
    let e = &v["findings"][0]["evidence"];
    assert!(e["seqScans"].as_i64().unwrap() >= 60, "{e}");
    assert_eq!(
        e["avgRowsPerSeqScan"].as_f64().map(|a| a >= 10_000.0),
        Some(true),
        "{e}"
    );
    assert!(e.get("indexScans").is_none(), "no index: {e}");
    assert!(
        v["findings"][0]["fix"]
            .as_str()
            .unwrap()
            .contains("FROM pg_stat_statements WHERE query ILIKE '%big%'")
    );

    let v = support::ok(&app, "pg_cache_hit_ratio", json!({"schema": "c"})).await;
    assert_eq!(v["tables"][0]["table"], "big", "{v:#}");
    let heap = &v["heap"];
    assert!(heap["hit"].as_i64().unwrap() > 0, "{v:#}");
    assert!(
        heap["ratio"].as_f64().unwrap() >= 0.9,
        "a table read 60 times is cached: {v:#}"
    );
    assert!(
        v["index"].get("ratio").is_none(),
        "no index block touched: {v:#}"
    );
    assert_eq!(v["findings"], json!([]));
    // Nothing ever accessed: no ratio rather than a made-up 100 %.
    client.batch_execute("CREATE SCHEMA e").await.unwrap();
    let v = support::ok(&app, "pg_cache_hit_ratio", json!({"schema": "e"})).await;
    assert_eq!(v["heap"], json!({"hit": 0, "read": 0}), "{v:#}");
    let e = support::fail(&app, "pg_cache_hit_ratio", json!({"warnBelow": 2})).await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
}

#[tokio::test]
async fn db_health_reports_sequences_constraints_sessions_and_slots() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE SCHEMA h;
             CREATE TABLE h.seqt (id serial PRIMARY KEY);
             SELECT setval('h.seqt_id_seq', 2040109466);
             CREATE SEQUENCE h.bigseq;
             CREATE TABLE h.fed (id int PRIMARY KEY DEFAULT nextval('h.bigseq'));
             SELECT setval('h.bigseq', 2000000000);
             CREATE SEQUENCE h.fine;
             SELECT setval('h.fine', 1000);
             CREATE TABLE h.nopk (a int, b text);
             CREATE TABLE h.parent (id int PRIMARY KEY);
             CREATE TABLE h.child (id int PRIMARY KEY, p int);
             ALTER TABLE h.child ADD CONSTRAINT child_p_fk FOREIGN KEY (p) REFERENCES h.parent NOT VALID;
             CREATE TABLE h.dups (id int PRIMARY KEY, a int);
             CREATE INDEX dups_a1 ON h.dups (a);
             CREATE INDEX dups_a2 ON h.dups (a);
             CREATE TABLE h.\"nopk \"\"x\"\"\" (a int);
             CREATE TABLE h.twice (id int PRIMARY KEY, x int);
             INSERT INTO h.twice VALUES (1, 7), (2, 7);",
        )
        .await
        .unwrap();
    // A failed CREATE INDEX CONCURRENTLY leaves an invalid index behind.
    client
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY twice_x ON h.twice (x)")
        .await
        .unwrap_err();
    let app = support::app(&db.url, &[]);
    let v = support::ok(
        &app,
        "pg_analyze_db_health",
        json!({"schema": "h", "checks": ["sequence", "constraint", "index"], "minIndexBytes": 0}),
    )
    .await;
    assert_eq!(v["overall"], "critical", "{v:#}");
    let checks = v["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["index", "sequence", "constraint"],
        "in the fixed order"
    );
    let seq = &checks[1];
    assert_eq!(seq["status"], "critical");
    assert_eq!(
        summary(&seq["findings"]),
        vec![
            s3("sequence_exhaustion", "critical", "h.bigseq"),
            s3("sequence_exhaustion", "critical", "h.seqt_id_seq"),
        ],
        "{seq:#}"
    );
    let fed = &seq["findings"][0];
    assert_eq!(
        fed["related"], "h.fed.id (integer)",
        "an int4 column fed by a bigint sequence"
    );
    assert_eq!(fed["evidence"]["limit"], 2147483647);
    assert_eq!(fed["evidence"]["lastValue"], 2000000000);
    assert_eq!(fed["evidence"]["remainingValues"], 147483647);
    assert_eq!(
        fed["fix"],
        "-- rewrites the table under an ACCESS EXCLUSIVE lock:\nALTER TABLE \"h\".\"fed\" ALTER COLUMN \"id\" TYPE bigint;"
    );
    let serial = &seq["findings"][1];
    assert_eq!(serial["evidence"]["usedPct"], 95.0, "{serial:#}");
    assert_eq!(
        serial["fix"],
        "-- rewrites the table under an ACCESS EXCLUSIVE lock:\nALTER TABLE \"h\".\"seqt\" ALTER COLUMN \"id\" TYPE bigint;\nALTER SEQUENCE \"h\".\"seqt_id_seq\" AS bigint NO MAXVALUE;"
    );
    let con = &checks[2];
    assert_eq!(
        summary(&con["findings"]),
        vec![
            s3("no_primary_key", "warning", "h.nopk"),
            s3("no_primary_key", "warning", "h.nopk \"x\""),
            s3("invalid_constraint", "warning", "h.child.child_p_fk"),
        ],
        "{con:#}"
    );
    assert_eq!(
        con["findings"][1]["fix"],
        "-- add a key column, or ADD PRIMARY KEY (<columns>) on columns that identify a row:\nALTER TABLE \"h\".\"nopk \"\"x\"\"\" ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;",
        "identifiers quoted"
    );
    assert_eq!(
        con["findings"][2]["fix"],
        "ALTER TABLE \"h\".\"child\" VALIDATE CONSTRAINT \"child_p_fk\";"
    );
    let idx = &checks[0];
    let dup = find(&idx["findings"], "duplicate_index", "h.dups_a2");
    assert_eq!(dup["related"], "h.dups_a1");
    let invalid = find(&idx["findings"], "invalid_index", "h.twice_x");
    assert_eq!(
        invalid["fix"],
        "REINDEX INDEX CONCURRENTLY \"h\".\"twice_x\";"
    );
    assert_eq!(invalid["related"], "h.twice");

    // Every fix runs; afterwards those findings are gone.
    for c in [seq, con] {
        for f in c["findings"].as_array().unwrap() {
            client
                .batch_execute(f["fix"].as_str().unwrap())
                .await
                .unwrap_or_else(|e| panic!("{}: {e:?}", f["fix"]));
        }
    }
    let v = support::ok(
        &app,
        "pg_analyze_db_health",
        json!({"schema": "h", "checks": ["sequence", "constraint"]}),
    )
    .await;
    assert_eq!(v["overall"], "ok", "{v:#}");

    // Sessions and slots: an idle transaction in this database, an inactive slot.
    let idle = support::connect(&db.url).await;
    let pid: i32 = idle
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    idle.batch_execute("BEGIN; SELECT 1").await.unwrap();
    let slot = format!("{}_slot", db.name);
    client
        .query_one(
            "SELECT pg_create_physical_replication_slot($1, true)::text",
            &[&slot],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let all = app
        .call(
            "pg_analyze_db_health",
            json!({"schema": "h", "idleInTransactionSeconds": 1}),
        )
        .await;
    client
        .query_one("SELECT pg_drop_replication_slot($1)::text", &[&slot])
        .await
        .unwrap();
    idle.batch_execute("ROLLBACK").await.unwrap();
    let all = all.unwrap_or_else(|e| panic!("{:#}", e.to_json()));
    let names: Vec<&str> = all["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "index",
            "bloat",
            "vacuum",
            "wraparound",
            "sequence",
            "buffer",
            "connection",
            "replication",
            "constraint"
        ]
    );
    let check = |name: &str| {
        all["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let conn = check("connection");
    let f = find(
        &conn["findings"],
        "idle_in_transaction",
        &format!("pid {pid}"),
    );
    assert_eq!(f["severity"], "warning", "{f:#}");
    assert!(f["evidence"]["seconds"].as_f64().unwrap() >= 1.0);
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .starts_with(&format!("SELECT pg_terminate_backend({pid});")),
        "{f:#}"
    );
    let repl = check("replication");
    let f = find(&repl["findings"], "inactive_replication_slot", &slot);
    assert_eq!(f["severity"], "info", "{f:#}");
    assert_eq!(
        f["fix"],
        format!("-- if nothing will consume it again:\nSELECT pg_drop_replication_slot('{slot}');")
    );
    // A fresh database is far from wraparound.
    assert_eq!(check("wraparound")["findings"], json!([]), "{all:#}");

    let e = support::fail(
        &app,
        "pg_analyze_db_health",
        json!({"checks": ["everything"]}),
    )
    .await;
    support::expect(&e, "INVALID_ARGUMENT", "validation");
    let e = support::fail(&app, "pg_analyze_db_health", json!({"schema": "nope"})).await;
    support::expect(&e, "UNDEFINED_SCHEMA", "not_found");
}

/// Every check runs on both majors (PostgreSQL 16+ columns and settings: last_idx_scan,
/// reserved_connections, the PG17 statistics views), and a table with autovacuum off and
/// 30 % of its rows deleted is reported the same way on each.
#[tokio::test]
async fn db_health_runs_every_check_on_both_servers() {
    for (label, admin) in support::servers() {
        let db = support::test_db_at(admin).await;
        let client = support::connect(&db.url).await;
        client
            .batch_execute(
                "CREATE SCHEMA v;
                 CREATE TABLE v.t (id int PRIMARY KEY, x int) WITH (autovacuum_enabled = false);
                 INSERT INTO v.t SELECT g, g FROM generate_series(1, 10000) g;",
            )
            .await
            .unwrap();
        client.batch_execute("ANALYZE v.t").await.unwrap();
        client
            .batch_execute("DELETE FROM v.t WHERE id <= 3000")
            .await
            .unwrap();
        flush_until(
            &client,
            &db.url,
            "SELECT n_dead_tup >= 3000 FROM pg_stat_user_tables WHERE relname = 't'",
        )
        .await;
        let app = support::app(&db.url, &[]);
        let v = support::ok(&app, "pg_analyze_db_health", json!({"schema": "v"})).await;
        let vacuum = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "vacuum")
            .unwrap();
        // 3000 dead > 50 + 0.2 × 10000; 3000 modified > 50 + 0.1 × 10000; 30 % dead,
        // autovacuum off: every one of these, and nothing else.
        assert_eq!(
            summary(&vacuum["findings"]),
            vec![
                s3("autovacuum_disabled", "warning", "v.t"),
                s3("vacuum_due", "warning", "v.t"),
                s3("analyze_due", "info", "v.t"),
                s3("bloat_risk", "warning", "v.t"),
            ],
            "{label}: {vacuum:#}"
        );
        let due = find(&vacuum["findings"], "vacuum_due", "v.t");
        assert_eq!(due["evidence"]["threshold"], 2050.0, "{label}: {due:#}");
        assert_eq!(due["fix"], "VACUUM (ANALYZE) \"v\".\"t\";");
        let v = support::ok(&app, "pg_vacuum_stats", json!({"schema": "v"})).await;
        assert_eq!(v["tables"][0]["deadTuples"], 3000, "{label}: {v:#}");
        assert_eq!(v["tables"][0]["analyzeThreshold"], 1050.0, "{label}: {v:#}");
    }
}

/// While another session holds an ACCESS EXCLUSIVE lock on a table (and so a size function
/// on it would wait for the lock), the health, monitoring and catalog tools answer without
/// waiting, with the locked table's sizes unknown (null) and the table reported. Before the
/// fix every one of them waited until the statement timeout and failed with QUERY_CANCELED.
#[tokio::test]
async fn health_and_size_tools_answer_while_a_table_is_locked() {
    let db = support::test_db().await;
    let admin = support::connect(&db.url).await;
    admin
        .batch_execute(
            "CREATE EXTENSION pgstattuple;
             CREATE TABLE locked_t (id int PRIMARY KEY, body text);
             CREATE INDEX locked_t_body ON locked_t (body);
             -- pg_get_indexdef and pg_get_expr open the table to deparse these.
             CREATE INDEX locked_t_lower ON locked_t (lower(body)) WHERE id > 0;
             CREATE INDEX locked_t_lower2 ON locked_t (lower(body)) WHERE id > 0;
             INSERT INTO locked_t SELECT g, repeat('x', 3000) FROM generate_series(1, 100) g;
             CREATE TABLE free_t (id int PRIMARY KEY);
             INSERT INTO free_t SELECT generate_series(1, 100);
             ANALYZE;",
        )
        .await
        .unwrap();
    // A statement timeout short enough that the unfixed tools fail within seconds.
    let app = support::app(&db.url, &["--statement-timeout", "3"]);
    let ok = |tool: &'static str, args: Value| {
        let app = app.clone();
        async move { support::ok(&app, tool, args).await }
    };
    let locker = support::connect(&db.url).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let row = |rows: &Value, key: &str, name: &str| -> Value {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r[key] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows}"))
            .clone()
    };

    let health = ok("pg_analyze_db_health", json!({})).await;
    assert_eq!(
        health["lockedRelations"],
        json!(["public.locked_t"]),
        "{health}"
    );
    let health = ok(
        "pg_analyze_db_health",
        json!({"schema": "public", "checks": ["index", "constraint"]}),
    )
    .await;
    assert_eq!(
        health["lockedRelations"],
        json!(["public.locked_t"]),
        "{health}"
    );

    let sizes = ok("pg_table_sizes", json!({})).await;
    let names: Vec<&str> = sizes["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["free_t", "locked_t"],
        "locked tables come last: {sizes}"
    );
    let locked = row(&sizes["tables"], "name", "locked_t");
    for key in [
        "totalBytes",
        "totalSize",
        "heapBytes",
        "indexesBytes",
        "toastBytes",
    ] {
        assert_eq!(locked[key], Value::Null, "{key}: {locked}");
    }
    assert!(
        row(&sizes["tables"], "name", "free_t")["totalBytes"]
            .as_i64()
            .unwrap()
            > 0,
        "{sizes}"
    );
    let plan = ok("pg_capacity_planning", json!({})).await;
    assert_eq!(
        row(&plan["largestTables"], "name", "locked_t")["totalBytes"],
        Value::Null,
        "{plan}"
    );

    let tables = ok("pg_list_tables", json!({})).await;
    assert_eq!(
        row(&tables["tables"], "name", "locked_t")["size"],
        Value::Null,
        "{tables}"
    );
    assert!(
        row(&tables["tables"], "name", "free_t")["size"].is_string(),
        "{tables}"
    );
    let schemas = ok("pg_list_schemas", json!({})).await;
    assert_eq!(
        row(&schemas["schemas"], "name", "public")["size"],
        Value::Null,
        "{schemas}"
    );

    let stats = ok("pg_table_stats", json!({"table": "locked_t"})).await;
    assert_eq!(stats["total_bytes"], Value::Null, "{stats}");
    assert_eq!(stats["size"], Value::Null, "{stats}");
    let vacuum = ok("pg_vacuum_stats", json!({})).await;
    assert_eq!(
        row(&vacuum["tables"], "table", "locked_t")["bytes"],
        Value::Null,
        "{vacuum}"
    );
    assert!(
        row(&vacuum["tables"], "table", "free_t")["bytes"]
            .as_i64()
            .unwrap()
            > 0,
        "{vacuum}"
    );
    // pgstattuple's functions need more than the read-only role has.
    let owner = support::app(
        &db.url,
        &["--statement-timeout", "3", "--read-only-role", ""],
    );
    let bloat = support::ok(
        &owner,
        "pg_bloat_check",
        json!({"mode": "exact", "kind": "table"}),
    )
    .await;
    let skipped = row(&bloat["notEstimated"], "object", "public.locked_t");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("ACCESS EXCLUSIVE lock"),
        "{bloat}"
    );
    for tool in [
        "pg_detect_bloat_risk",
        "pg_seq_scan_tables",
        "pg_index_stats",
        "pg_unused_indexes",
        "pg_duplicate_indexes",
        "pg_diagnose_database_performance",
        "pg_doc_list_collections",
    ] {
        ok(tool, json!({})).await;
    }
    // A tool that needs the locked table's size says so at once.
    let e = support::fail(
        &app,
        "pg_partition_strategy_suggest",
        json!({"table": "locked_t"}),
    )
    .await;
    support::expect(&e, "LOCK_TIMEOUT", "limit");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("'public.locked_t' is locked"),
        "{e}"
    );

    // The lock released, the sizes are back.
    locker.batch_execute("ROLLBACK").await.unwrap();
    let health = ok("pg_analyze_db_health", json!({})).await;
    assert!(health.get("lockedRelations").is_none(), "{health}");
    // The duplicate check left the locked table's indexes out; now it sees them.
    let dup = ok("pg_duplicate_indexes", json!({})).await;
    assert_eq!(
        dup["findings"][0]["object"], "public.locked_t_lower2",
        "{dup}"
    );
    let sizes = ok("pg_table_sizes", json!({})).await;
    assert!(
        row(&sizes["tables"], "name", "locked_t")["totalBytes"]
            .as_i64()
            .unwrap()
            > 0,
        "{sizes}"
    );
}
