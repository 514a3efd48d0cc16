//! `pg_execute_code` end to end through the registry: TypeScript → oxc → Boa in a worker
//! process (the built pgmcp binary) → `pg.*` frames → the registry → a real PostgreSQL.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use pgmcp::app::App;
use serde_json::{Value, json};

async fn setup(extra: &[&str]) -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, qty int);
             INSERT INTO items SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 50) g;",
        )
        .await
        .unwrap();
    let a = support::app(&db.url, extra);
    (db, a)
}

async fn run(app: &Arc<App>, code: &str) -> Result<Value, Value> {
    app.call("pg_execute_code", json!({ "code": code }))
        .await
        .map_err(|e| e.to_json())
}

async fn run_with(app: &Arc<App>, args: Value) -> Result<Value, Value> {
    app.call("pg_execute_code", args)
        .await
        .map_err(|e| e.to_json())
}

#[track_caller]
fn result(v: &Result<Value, Value>) -> &Value {
    match v {
        Ok(v) => {
            assert_eq!(v["success"], true, "{v}");
            &v["result"]
        }
        Err(e) => panic!("execution failed: {e:#}"),
    }
}

#[track_caller]
fn error_code(v: &Result<Value, Value>) -> String {
    match v {
        Ok(v) => panic!("execution unexpectedly succeeded: {v:#}"),
        Err(e) => e["code"].as_str().unwrap_or_default().to_string(),
    }
}

/// Every failure test ends with this: the same server still runs code.
async fn still_works(app: &Arc<App>) {
    let r = run(
        app,
        "const r = await pg.query('select 41 + 1 as n'); r.rows[0].n",
    )
    .await;
    assert_eq!(result(&r), &json!(42));
}

#[tokio::test]
async fn typescript_values_and_queries() {
    let (_db, app) = setup(&[]).await;
    let r = run(
        &app,
        r#"
        interface Item { id: number; name: string; qty: number }
        enum Kind { A = "a", B = "b" }
        type Pair<T> = [T, T];
        const rows = (await pg.query("select * from items where qty = $1 order by id", [3])).rows as Item[];
        const ids: Pair<number> = [rows[0]!.id, rows[1]!.id];
        const big = 2n ** 70n;
        ({ ids, kind: Kind.B, n: rows.length, big, when: new Date(0), nothing: undefined, set: new Set([1, 2]) })
        "#,
    )
    .await;
    let v = result(&r);
    assert_eq!(v["ids"], json!([3, 10]));
    assert_eq!(v["kind"], "b");
    assert_eq!(v["n"], 7);
    assert_eq!(v["big"], "1180591620717411303424");
    assert_eq!(v["when"], "1970-01-01T00:00:00.000Z");
    assert_eq!(v["set"], json!([1, 2]));
    // Only what the model needs: success and result; metrics are protocol metadata
    // (MCP `_meta`), kept apart from the body.
    let body = r.as_ref().unwrap();
    assert!(body.get("logs").is_none());
    assert!(
        body.get("_meta").is_none() && body.get("metrics").is_none(),
        "{body}"
    );
    let out = app
        .registry
        .call(
            app.ctx(),
            "pg_execute_code",
            json!({"code": "await pg.query('select 1'); return 1"}),
        )
        .await
        .unwrap();
    assert_eq!(out.body["result"], 1);
    assert_eq!(
        out.meta.as_ref().unwrap()["metrics"]["toolCalls"].as_u64(),
        Some(1),
        "{:?}",
        out.meta
    );
}

#[tokio::test]
async fn group_api_primary_parameter_help_and_logs() {
    let (_db, app) = setup(&[]).await;
    let r = run(
        &app,
        r#"
        const a = await pg.core.readQuery("select count(*)::int as n from items");
        const t = await pg.listTables();
        const d = await pg.describeTable("items");
        console.log("tables", t.length);
        console.warn({ cols: d.columns.length });
        return { n: a.rows[0].n, cols: d.columns.map(c => c.name), help: pg.help().includes("core: readQuery(sql, …)") };
        "#,
    )
    .await;
    let v = result(&r);
    assert_eq!(v["n"], 50);
    assert_eq!(v["cols"], json!(["id", "name", "qty"]));
    assert_eq!(v["help"], true);
    let logs = &r.as_ref().unwrap()["logs"];
    assert_eq!(logs[0]["message"], "tables 1", "{logs}");
    assert_eq!(logs[1]["level"], "warn");
}

#[tokio::test]
async fn errors_carry_typescript_positions() {
    let (_db, app) = setup(&[]).await;
    let r = run(&app, "interface A {\n  x: number;\n}\nconst a: A = { x: 1 };\nthrow new TypeError('boom ' + a.x);\n").await;
    assert_eq!(error_code(&r), "JS_ERROR");
    let e = r.unwrap_err();
    assert!(
        e["error"].as_str().unwrap().contains("TypeError: boom 1"),
        "{e}"
    );
    assert_eq!(e["details"]["line"], 5, "{e}");
    assert_eq!(e["category"], "sandbox");

    let r = run(&app, "const x = ;").await;
    assert_eq!(error_code(&r), "SYNTAX_ERROR");
    assert_eq!(r.unwrap_err()["details"]["line"], 1);
    let r = run(&app, "import fs from 'fs';").await;
    assert_eq!(error_code(&r), "MODULE_SYNTAX");
    still_works(&app).await;
}

#[tokio::test]
async fn tool_errors_are_catchable_with_their_fields() {
    let (_db, app) = setup(&[]).await;
    let r = run(
        &app,
        r#"try { await pg.query("select * from missing_table"); return "no"; }
           catch (e) { return { code: e.code, sqlstate: e.sqlstate, hasSuggestion: typeof e.suggestion === "string", isError: e instanceof Error }; }"#,
    )
    .await;
    assert_eq!(
        result(&r),
        &json!({ "code": "UNDEFINED_TABLE", "sqlstate": "42P01", "hasSuggestion": true, "isError": true })
    );
    // Uncaught, it fails the execution with the tool error's fields attached.
    let r = run(&app, "await pg.query('select * from missing_table')").await;
    assert_eq!(error_code(&r), "JS_ERROR");
    assert_eq!(
        r.unwrap_err()["details"]["thrown"]["code"],
        "UNDEFINED_TABLE"
    );
}

#[tokio::test]
async fn many_sequential_and_concurrent_calls() {
    let (_db, app) = setup(&[]).await;
    let r = run(
        &app,
        "let sum = 0; for (let i = 0; i < 1000; i++) { sum += (await pg.query('select $1::int as v', [i])).rows[0].v; } sum",
    )
    .await;
    assert_eq!(result(&r), &json!(499500));
    let r = run(
        &app,
        "const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => pg.query('select $1::int * 2 as v', [i]))); rs.reduce((a, r) => a + r.rows[0].v, 0)",
    )
    .await;
    assert_eq!(result(&r), &json!(9900));
}

#[tokio::test]
async fn transactions_commit_and_roll_back() {
    let (db, app) = setup(&[]).await;
    let r = run(
        &app,
        "await pg.transaction(async (tx) => { await tx.execute('insert into items values (100, $1, 1)', ['committed']); }); 'ok'",
    )
    .await;
    assert_eq!(result(&r), "ok");
    let r = run(
        &app,
        r#"try {
             await pg.transaction(async (tx) => {
               await tx.execute("insert into items values (101, 'rolled back', 1)");
               const seen = await tx.query("select count(*)::int as n from items where id = 101");
               if (seen.rows[0].n !== 1) throw new Error("not visible inside the transaction");
               throw new Error("abort");
             });
           } catch (e) { return e.message; }"#,
    )
    .await;
    assert_eq!(result(&r), "abort");
    let client = support::connect(&db.url).await;
    let ids: Vec<i32> = client
        .query("select id from items where id >= 100 order by id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, vec![100]);
    // A transaction left open by a failing script is rolled back, and its connection freed.
    let r = run(&app, "await pg.transaction(async (tx) => { await tx.execute(\"insert into items values (102, 'x', 1)\"); await new Promise(() => {}); })").await;
    assert!(r.is_err());
    assert!(
        app.db.transactions.ids().is_empty(),
        "transactions left open"
    );
    let n: i64 = client
        .query_one("select count(*) from items where id = 102", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn readonly_executions_cannot_write() {
    let (db, app) = setup(&[]).await;
    let r = run_with(
        &app,
        json!({ "code": "({ execute: typeof pg.execute, write: typeof pg.core.writeQuery, query: typeof pg.query })", "readonly": true }),
    )
    .await;
    assert_eq!(
        result(&r),
        &json!({ "execute": "undefined", "write": "undefined", "query": "function" })
    );
    let r = run_with(
        &app,
        json!({ "code": "try { await pg.query('delete from items'); return 'deleted' } catch (e) { return e.sqlstate }", "readonly": true }),
    )
    .await;
    assert_eq!(result(&r), "25006");
    let r = run_with(
        &app,
        json!({ "code": "await pg.transaction(async (tx) => { await tx.query('delete from items') })", "readonly": true }),
    )
    .await;
    assert!(r.is_err());
    // Restricted access mode applies to every execution.
    let restricted = support::app(&db.url, &["--access-mode", "restricted"]);
    let r = run(&restricted, "try { await pg.query('delete from items'); return 'deleted' } catch (e) { return e.sqlstate }").await;
    assert_eq!(result(&r), "25006");
    let client = support::connect(&db.url).await;
    let n: i64 = client
        .query_one("select count(*) from items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 50);
}

/// Every `group.method` the script's `pg` has.
const PG_METHODS: &str = "const out = []; for (const g of Object.keys(pg)) { if (pg[g] && typeof pg[g] === 'object') for (const m of Object.keys(pg[g])) out.push(g + '.' + m); } out";

#[tokio::test]
async fn read_only_code_reaches_no_write_tool_whatever_the_filter() {
    let (db, _app) = setup(&[]).await;
    let registry = pgmcp::app::registry();
    let key = |t: &pgmcp::tools::Tool| {
        format!(
            "{}.{}",
            t.group,
            pgmcp::codemode::api::method_name(t.name, t.group)
        )
    };
    let writes: Vec<String> = registry
        .all()
        .iter()
        .filter(|t| !t.hints.read_only && t.name != "pg_execute_code")
        .map(key)
        .collect();
    let reads = registry.all().iter().filter(|t| t.hints.read_only).count();
    assert!(writes.contains(&"core.dropTable".to_string()));
    // `codemode` and `all` widen what code reaches; neither may widen what read-only runs reach.
    for (flags, readonly) in [
        (
            vec!["--tool-filter", "codemode", "--access-mode", "restricted"],
            false,
        ),
        (
            vec!["--tool-filter", "all", "--access-mode", "restricted"],
            false,
        ),
        (vec!["--tool-filter", "codemode"], true),
        (vec![], true),
    ] {
        let app = support::app(&db.url, &flags);
        let r = run_with(&app, json!({ "code": PG_METHODS, "readonly": readonly })).await;
        let methods: Vec<String> = serde_json::from_value(result(&r).clone()).unwrap();
        assert_eq!(methods.len(), reads, "{flags:?}: {methods:?}");
        for w in &writes {
            assert!(
                !methods.contains(w),
                "{flags:?} readonly={readonly}: {w} reachable"
            );
        }
        let r = run_with(
            &app,
            json!({ "code": "typeof pg.execute", "readonly": readonly }),
        )
        .await;
        assert_eq!(result(&r), "undefined");
    }
}

/// The compiler runs in the sandbox worker, so what a script makes it do counts against that
/// execution's limits. Six `<` open across nested brackets (the most the pre-scan allows)
/// make oxc parse the 400 KB after them 64 times: seconds of compiler time in a debug build,
/// which used to run in the server before the deadline started and then answered
/// SYNTAX_ERROR. Now the deadline stops it, and the server is free all along.
#[tokio::test]
async fn the_compilers_time_counts_against_the_execution() {
    let (_db, app) = setup(&["--code-max-source-bytes", "1000000"]).await;
    let code = format!("{}({}x)", "a<{[".repeat(6), "x,".repeat(200_000));
    let started = std::time::Instant::now();
    let slow = run_with(&app, json!({ "code": code, "timeout": 300 }));
    let quick = async {
        // Another client's work meanwhile, answered while the compiler is busy.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = app
            .call("pg_read_query", json!({ "sql": "select 1 as one" }))
            .await
            .map_err(|e| e.to_json());
        (r, started.elapsed())
    };
    let (r, (other, answered)) = tokio::join!(slow, quick);
    assert_eq!(error_code(&r), "TIMEOUT", "{r:?}");
    assert!(other.is_ok(), "{other:?}");
    assert!(answered < Duration::from_secs(5), "{answered:?}");
    still_works(&app).await;
}

#[tokio::test]
async fn timeout_kills_the_worker_and_cancels_its_query() {
    let (db, app) = setup(&["--code-max-instructions", "0"]).await;
    // A busy loop with no instruction budget: only the parent's kill can stop it.
    let r = run_with(&app, json!({ "code": "while (true) {}", "timeout": 1000 })).await;
    assert_eq!(error_code(&r), "TIMEOUT");
    // A query running when the deadline passes is cancelled at the server.
    let r = run_with(
        &app,
        json!({ "code": "await pg.query('select pg_sleep(30) as s')", "timeout": 1000 }),
    )
    .await;
    assert_eq!(error_code(&r), "TIMEOUT");
    let client = support::connect(&db.url).await;
    let mut running = 1;
    for _ in 0..50 {
        running = client
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() and query like '%pg_sleep(30)%' and pid <> pg_backend_pid() and state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if running == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running, 0, "the abandoned query is still running");
    still_works(&app).await;
}

#[tokio::test]
async fn timeout_is_clamped_to_the_server_maximum() {
    let (_db, app) = setup(&["--code-max-timeout", "2000"]).await;
    let r = run_with(&app, json!({ "code": "1", "timeout": 999999 })).await;
    assert_eq!(result(&r), &json!(1));
    assert_eq!(
        r.unwrap()["timeoutClamped"],
        json!({ "requestedMs": 999999, "usedMs": 2000 })
    );
}

#[tokio::test]
async fn memory_bombs_hit_the_memory_limit() {
    let (_db, app) = setup(&["--code-memory-mb", "64"]).await;
    for bomb in [
        "'x'.repeat(2 ** 30).length",
        "new Array(1e9).fill(0).length",
        "new Uint8Array(2 ** 31).length",
    ] {
        let r = run_with(&app, json!({ "code": bomb, "timeout": 5000 })).await;
        let code = error_code(&r);
        // A RangeError from the engine is also a clean refusal; a native fill loop that
        // allocates slowly is stopped by the parent's kill at the deadline.
        assert!(
            ["MEMORY_LIMIT", "JS_ERROR", "TIMEOUT"].contains(&code.as_str()),
            "{bomb}: {r:?}"
        );
        if code == "JS_ERROR" {
            assert!(
                r.unwrap_err()["error"]
                    .as_str()
                    .unwrap()
                    .contains("RangeError"),
                "{bomb}"
            );
        }
    }
    still_works(&app).await;
}

#[tokio::test]
async fn deep_nesting_in_data_and_source() {
    let (_db, app) = setup(&[]).await;
    let r = run(
        &app,
        "let a: any = []; for (let i = 0; i < 10000; i++) a = [a]; return a;",
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    let deep_source = format!("return {}1{};", "(".repeat(5000), ")".repeat(5000));
    let r = run(&app, &deep_source).await;
    assert_eq!(error_code(&r), "NESTING_TOO_DEEP");
    // Native recursion in the engine (JSON.parse of 2 million brackets) is not counted by
    // any JS budget: it ends in the worker's stack guard or its memory limit, never in
    // the server.
    let r = run(
        &app,
        "JSON.parse('['.repeat(2000000) + ']'.repeat(2000000)).length",
    )
    .await;
    let code = error_code(&r);
    assert!(
        ["STACK_OVERFLOW", "MEMORY_LIMIT", "JS_ERROR"].contains(&code.as_str()),
        "{r:?}"
    );
    let r = run(&app, "let a: any = []; for (let i = 0; i < 1000000; i++) a = [a]; return JSON.stringify(a).length;").await;
    let code = error_code(&r);
    assert!(
        [
            "STACK_OVERFLOW",
            "MEMORY_LIMIT",
            "RECURSION_LIMIT",
            "JS_ERROR",
            "INSTRUCTION_LIMIT"
        ]
        .contains(&code.as_str()),
        "{r:?}"
    );
    still_works(&app).await;
}

#[tokio::test]
async fn engine_limits_end_runaway_code() {
    // Small budgets, so the engine (not the wall clock) ends each case even on a slow,
    // loaded machine running a debug build.
    let (_db, app) = setup(&[
        "--code-max-instructions",
        "2000000",
        "--code-max-loop-iterations",
        "100000",
    ])
    .await;
    for (code, expected) in [
        (
            "try { while (true) {} } catch {} ",
            &["LOOP_LIMIT", "INSTRUCTION_LIMIT"][..],
        ),
        (
            "await pg.query('select 1'); while (true) {}",
            &["INSTRUCTION_LIMIT", "LOOP_LIMIT"][..],
        ),
        (
            "[1, 2].map(() => { while (true) {} })",
            &["LOOP_LIMIT", "INSTRUCTION_LIMIT"][..],
        ),
        (
            "function f(): number { return f() + 1 } f()",
            &["RECURSION_LIMIT"][..],
        ),
        (
            "function f(): number { try { return f() } catch { return f() } } f()",
            &["RECURSION_LIMIT", "INSTRUCTION_LIMIT"][..],
        ),
        (
            "/(a+)+$/.test('a'.repeat(40) + 'b')",
            &["INSTRUCTION_LIMIT", "TIMEOUT"][..],
        ),
        (
            "Array.from({ length: 3e6 }, (_, i) => 3e6 - i).sort((a, b) => a - b).length",
            &["INSTRUCTION_LIMIT", "MEMORY_LIMIT", "TIMEOUT"][..],
        ),
        (
            "const p = new Proxy({}, { get() { while (true) {} } }); (p as any).x",
            &["LOOP_LIMIT", "INSTRUCTION_LIMIT"][..],
        ),
    ] {
        let timeout = if code.contains("test(") || code.contains("sort(") {
            3000
        } else {
            30000
        };
        let r = run_with(&app, json!({ "code": code, "timeout": timeout })).await;
        let got = error_code(&r);
        assert!(expected.contains(&got.as_str()), "{code}: {r:?}");
        if got != "TIMEOUT" {
            assert!(
                r.as_ref().unwrap_err()["suggestion"].is_string() || got == "RECURSION_LIMIT",
                "{r:?}"
            );
        }
    }
    let r = run(&app, "await new Promise(() => {})").await;
    assert_eq!(error_code(&r), "UNSETTLED");
    still_works(&app).await;
}

#[tokio::test]
async fn tool_call_cap_cannot_be_caught() {
    let (_db, app) = setup(&["--code-max-tool-calls", "5"]).await;
    let r = run(
        &app,
        "for (let i = 0; i < 10; i++) { try { await pg.query('select 1') } catch {} } 'done'",
    )
    .await;
    assert_eq!(error_code(&r), "TOOL_CALL_LIMIT");
    assert!(
        r.unwrap_err()["details"]["limit"]
            .as_str()
            .unwrap()
            .contains("--code-max-tool-calls")
    );
}

#[tokio::test]
async fn isolation_no_string_compilation_no_state_no_host() {
    let (_db, app) = setup(&[]).await;
    for code in [
        "eval('1+1')",
        "Function('return 1')()",
        "(async () => {}).constructor('return 1')",
        "(function* () {}).constructor('yield 1')",
        "pg.query.constructor('return process')()",
    ] {
        let r = run(&app, code).await;
        assert_eq!(error_code(&r), "JS_ERROR", "{code}: {r:?}");
    }
    let r = run(
        &app,
        "try { await import('./x.js'); return 'loaded' } catch (e) { return 'refused' }",
    )
    .await;
    assert_eq!(error_code(&r), "MODULE_SYNTAX");
    let r = run(
        &app,
        "(globalThis as any).leak = 1; (Object.prototype as any).polluted = 1; 'set'",
    )
    .await;
    assert_eq!(result(&r), "set");
    let r = run(&app, "({ leak: typeof (globalThis as any).leak, polluted: typeof ({} as any).polluted, process: typeof (globalThis as any).process, require: typeof (globalThis as any).require, fetch: typeof (globalThis as any).fetch, sab: typeof (globalThis as any).SharedArrayBuffer })").await;
    assert_eq!(
        result(&r),
        &json!({ "leak": "undefined", "polluted": "undefined", "process": "undefined", "require": "undefined", "fetch": "undefined", "sab": "undefined" })
    );
    // Errors expose no host paths or Rust type names.
    let r = run(&app, "null.x").await;
    let text = r.unwrap_err().to_string();
    assert!(
        !text.contains("/root") && !text.contains(".rs") && !text.contains("boa_"),
        "{text}"
    );
}

#[tokio::test]
async fn thread_isolation_runs_the_same_engine() {
    // Its sandbox threads run in this process, where the escape corpus counts them.
    let _threads_lock = support::sandbox_threads_lock().await;
    let (_db, app) = setup(&[
        "--sandbox-isolation",
        "thread",
        "--code-max-loop-iterations",
        "100000",
    ])
    .await;
    still_works(&app).await;
    let r = run(&app, "try { while (true) {} } catch {}").await;
    assert!(["LOOP_LIMIT", "INSTRUCTION_LIMIT"].contains(&error_code(&r).as_str()));
    still_works(&app).await;
}

/// The seed's example, verbatim: it iterates `pg.listTables()` as an array and reads
/// `pg_stat_user_tables` names off `pg.getTableStats({ table })`.
const SEED_EXAMPLE: &str = r#"const tables = await pg.listTables();
const recommendations = [];
for (const table of tables) {
  const stats = await pg.getTableStats({ table: table.name });
  if (stats.seq_scan > 1000 && stats.idx_scan < 100) {
    const columns = await pg.getColumns({ table: table.name });
    recommendations.push({ table: table.name, suggestion: `Consider index on frequently filtered columns`,
      stats: { seq_scan: stats.seq_scan, idx_scan: stats.idx_scan } });
  }
}
return { recommendations, analyzed: tables.length };"#;

#[tokio::test]
async fn the_seed_example_runs_as_written() {
    let (db, app) = setup(&[]).await;
    let client = support::connect(&db.url).await;
    // `hot` is read by 1,200 sequential scans and has no index; `items` (primary key) and
    // `quiet` are barely read.
    client
        .batch_execute(
            "CREATE TABLE hot (user_id int, kind text);
             INSERT INTO hot SELECT g % 50, 'k' FROM generate_series(1, 200) g;
             CREATE TABLE quiet (id int);
             DO $$ BEGIN FOR i IN 1..1200 LOOP PERFORM count(*) FROM hot WHERE user_id = i % 50; END LOOP; END $$;
             SELECT pg_stat_force_next_flush();",
        )
        .await
        .unwrap();
    // Statistics reach the views when the scanning session flushes them; wait for that.
    let observer = support::connect(&db.url).await;
    for _ in 0..100 {
        let n: i64 = observer
            .query_one("select coalesce(sum(seq_scan), 0)::int8 from pg_stat_user_tables where relname = 'hot'", &[])
            .await
            .unwrap()
            .get(0);
        if n > 1000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = run(&app, SEED_EXAMPLE).await;
    let v = result(&r);
    assert_eq!(v["analyzed"], 3, "{v}");
    let recs = v["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{v}");
    assert_eq!(recs[0]["table"], "hot");
    assert_eq!(
        recs[0]["suggestion"],
        "Consider index on frequently filtered columns"
    );
    assert!(recs[0]["stats"]["seq_scan"].as_i64().unwrap() > 1000, "{v}");
    // A table without indexes counts 0 index scans (PostgreSQL says NULL).
    assert_eq!(recs[0]["stats"]["idx_scan"], 0, "{v}");
}

#[tokio::test]
async fn shortcuts_return_natural_shapes_and_group_methods_the_full_result() {
    let (db, app) = setup(&[]).await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE parts (id int, at date) PARTITION BY RANGE (at);
             CREATE INDEX items_name ON items (name);",
        )
        .await
        .unwrap();
    let r = run(
        &app,
        r#"
        const tables = await pg.listTables();
        const columns = await pg.getColumns("items");
        const indexes = await pg.getIndexes({ table: "items" });
        const stats = await pg.getTableStats({ table: "items" });
        const allStats = await pg.getTableStats();
        const full = await pg.core.listTables();
        const fullColumns = await pg.core.getColumns("items");
        const paged = await pg.listTables({ limit: 1 });
        return {
          tables: tables.map((t) => [t.schema, t.name, t.type]),
          columns: columns.map((c) => c.name),
          indexes: indexes.map((i) => i.name).sort(),
          statsKeys: ["seq_scan", "idx_scan", "n_live_tup", "n_dead_tup", "seq_tup_read"].every((k) => k in stats),
          statsTable: stats.table,
          allStats: Array.isArray(allStats) && allStats.some((s) => s.table === "items"),
          full: Object.keys(full).sort(), fullTables: full.tables.length,
          fullColumns: Array.isArray(fullColumns.columns),
          paged: paged.length,
        };
        "#,
    )
    .await;
    assert_eq!(
        result(&r),
        &json!({
            "tables": [["public", "items", "table"], ["public", "parts", "partitioned"]],
            "columns": ["id", "name", "qty"],
            "indexes": ["items_name", "items_pkey"],
            "statsKeys": true,
            "statsTable": "items",
            "allStats": true,
            "full": ["tables", "total"],
            "fullTables": 2,
            "fullColumns": true,
            "paged": 1,
        })
    );
}

#[tokio::test]
async fn list_tables_shortcut_follows_every_page() {
    let (db, app) = setup(&[]).await;
    let client = support::connect(&db.url).await;
    client
        .batch_execute(
            "DO $$ BEGIN FOR i IN 1..130 LOOP EXECUTE format('CREATE TABLE t%s (x int)', i); END LOOP; END $$;",
        )
        .await
        .unwrap();
    // The tool pages at 100; the shortcut returns all 131 tables as one array.
    let r = run(
        &app,
        "const all = await pg.listTables(); const first = await pg.core.listTables(); [all.length, first.tables.length, first.nextOffset]",
    )
    .await;
    assert_eq!(result(&r), &json!([131, 100, 100]));
}

#[tokio::test]
async fn a_dropped_call_kills_the_worker_rolls_back_and_cancels_queries() {
    // What happens when an MCP client cancels a running pg_execute_code: the call's future
    // is dropped mid-flight.
    let (db, app) = setup(&[]).await;
    let call = app.call(
        "pg_execute_code",
        json!({ "code": "await pg.transaction(async (tx) => { await tx.execute(\"insert into items values (900, 'x', 1)\"); await tx.query('select pg_sleep(30)'); })" }),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), call)
            .await
            .is_err()
    );
    let client = support::connect(&db.url).await;
    let mut settled = false;
    for _ in 0..100 {
        let sleeping: i64 = client
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() and query like '%pg_sleep(30)%' and state = 'active' and pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sleeping == 0 && app.db.transactions.ids().is_empty() {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(settled, "query still running or transaction still open");
    let n: i64 = client
        .query_one("select count(*) from items where id = 900", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the transaction's write survived");
    still_works(&app).await;
}

#[tokio::test]
async fn executions_are_rate_limited_per_client() {
    let (_db, app) = setup(&["--code-rate-limit", "1", "--code-rate-burst", "2"]).await;
    assert_eq!(result(&run(&app, "1").await), &json!(1));
    assert_eq!(result(&run(&app, "2").await), &json!(2));
    let r = run(&app, "3").await;
    assert_eq!(error_code(&r), "RATE_LIMITED");
    let e = r.unwrap_err();
    let retry = e["details"]["retryAfterMs"].as_u64().unwrap();
    assert!(retry > 1000 && retry <= 60_000, "{e}");
    assert!(e["suggestion"].as_str().unwrap().contains("Retry in"));
    // Direct tool calls are not Code Mode executions and are not limited by it.
    assert!(
        app.call("pg_read_query", json!({"sql": "select 1"}))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn audit_log_records_calls_and_executions() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let log_arg = log.to_str().unwrap().to_string();
    let (_db, app) = setup(&["--audit-log", &log_arg]).await;
    app.call(
        "pg_read_query",
        json!({"sql": "select * from items where id = 7"}),
    )
    .await
    .unwrap();
    let r = run(
        &app,
        "await pg.query(\"select name from items where name = 'secret value'\"); 1",
    )
    .await;
    assert_eq!(result(&r), &json!(1));
    let r = run(&app, "while (true) {}").await;
    assert!(r.is_err());
    let records: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let direct = &records[0];
    assert_eq!(direct["kind"], "tool");
    assert_eq!(direct["tool"], "pg_read_query");
    assert_eq!(direct["sql"]["shape"], "select * from items where id = $1");
    assert!(direct["time"].is_string() && direct["durationMs"].is_u64());
    let exec: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "execution")
        .collect();
    assert_eq!(exec.len(), 2);
    assert_eq!(exec[0]["outcome"], "ok");
    assert_eq!(exec[0]["toolCalls"], 1);
    assert!(exec[0]["source"].as_str().unwrap().contains("pg.query"));
    assert!(
        exec[1]["code"].is_string() && exec[1]["outcome"] == "error",
        "{}",
        exec[1]
    );
    // The inner call is recorded, tied to its execution, and carries no literal values.
    let inner = records
        .iter()
        .find(|r| r["kind"] == "tool" && r["execution"] == exec[0]["execution"])
        .expect("inner pg.* call recorded");
    assert_eq!(
        inner["sql"]["shape"],
        "select name from items where name = $1"
    );
    assert!(!inner.to_string().contains("secret value"));

    // --audit-redact keeps the code out of the log.
    let log2 = dir.path().join("redacted.jsonl");
    let log2_arg = log2.to_str().unwrap().to_string();
    let (_db2, app2) = setup(&["--audit-log", &log2_arg, "--audit-redact"]).await;
    assert!(run(&app2, "const token = 'hunter2'; 1").await.is_ok());
    let text = std::fs::read_to_string(&log2).unwrap();
    assert!(
        !text.contains("hunter2") && text.contains("codeHash"),
        "{text}"
    );
}

/// The per-execution connection quota counts an open transaction's connection until it
/// ends: with a quota of 1, a call outside the transaction is refused at once with
/// CONNECTION_QUOTA (it could only wait for its own transaction), and works again once the
/// transaction is committed or rolled back, however it was ended.
#[tokio::test]
async fn open_transactions_count_against_the_connection_quota() {
    let (_db, app) = setup(&["--pool-max", "4", "--code-max-connections", "1"]).await;
    let r = run(
        &app,
        "const out: any[] = [];
         await pg.transaction(async tx => {
           await tx.query('select 1');
           try { await pg.query('select 2'); out.push('ran'); } catch (e) { out.push(e.code, e.details.limit); }
           try { await pg.core.readQuery({ sql: 'select 2', transactionId: null }); out.push('ran'); } catch (e) { out.push(e.code); }
         });
         out.push((await pg.query('select 3 as n')).rows[0].n);
         const { transactionId } = await pg.transactions.begin({});
         try { await pg.query('select 4'); out.push('ran'); } catch (e) { out.push(e.code); }
         await pg.transactions.rollback({ transactionId });
         out.push((await pg.query('select 5 as n')).rows[0].n);
         return out;",
    )
    .await;
    assert_eq!(
        result(&r),
        &json!([
            "CONNECTION_QUOTA",
            "--code-max-connections",
            "CONNECTION_QUOTA",
            3,
            "CONNECTION_QUOTA",
            5
        ])
    );
    still_works(&app).await;
}

/// Idle-in-transaction sessions of pgmcp in the test's database: none may outlive an
/// execution (its read session ends with it).
async fn idle_in_transaction(client: &tokio_postgres::Client) -> i64 {
    let mut n = 0;
    for _ in 0..50 {
        n = client
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() and state like 'idle in transaction%' and pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    n
}

#[tokio::test]
async fn reads_of_one_execution_share_one_read_only_transaction() {
    let (db, app) = setup(&[]).await;
    // One backend, one transaction (now() is its start time), READ ONLY, as the read-only
    // role, across reads with time passing between them; and no lock of an earlier read is
    // still held by a later one (each read is fenced by a rolled-back savepoint).
    let r = run(
        &app,
        "const q = async (sql: string) => (await pg.query(sql)).rows[0];
         const first = await q(\"select pg_backend_pid() as pid, now()::text as t, current_setting('transaction_read_only') as ro, current_user::text as who from items limit 1\");
         await q('select pg_sleep(0.05)');
         const second = await q(\"select pg_backend_pid() as pid, now()::text as t, current_setting('transaction_read_only') as ro, current_user::text as who\");
         const locks = await q(\"select count(*)::int as n from pg_locks where pid = pg_backend_pid() and relation = 'items'::regclass\");
         return { samePid: first.pid === second.pid, sameTx: first.t === second.t, ro: [first.ro, second.ro], who: [first.who, second.who], itemLocks: locks.n };",
    )
    .await;
    assert_eq!(
        result(&r),
        &json!({
            "samePid": true,
            "sameTx": true,
            "ro": ["on", "on"],
            "who": [support::READER_ROLE, support::READER_ROLE],
            "itemLocks": 0
        })
    );
    let client = support::connect(&db.url).await;
    assert_eq!(
        idle_in_transaction(&client).await,
        0,
        "the session outlived its execution"
    );
    still_works(&app).await;
}

/// Every read in the read session is rolled back to the session's savepoint, which releases
/// what it locked: a table an execution has read is not held against DDL for the rest of
/// the execution.
#[tokio::test]
async fn a_read_in_the_session_does_not_hold_its_table_lock() {
    let (db, app) = setup(&[]).await;
    let exec = run(
        &app,
        "await pg.query('select count(*) from items'); await pg.query('select 1 as one'); \
         await pg.query('select pg_sleep(2)'); return 1",
    );
    let ddl = async {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let client = support::connect(&db.url).await;
        client
            .batch_execute("SET lock_timeout = '300ms'; ALTER TABLE items ADD COLUMN extra int")
            .await
    };
    let (r, altered) = tokio::join!(exec, ddl);
    assert_eq!(result(&r), &json!(1));
    altered.expect("the execution still held its lock on items");
}

#[tokio::test]
async fn a_failed_read_leaves_the_session_usable() {
    let (_db, app) = setup(&[]).await;
    let r = run(
        &app,
        "const out: any[] = [];
         const t0 = (await pg.query('select now()::text as t')).rows[0].t;
         const failing: [string, any[]][] = [['select 1/0', []], ['selec 1', []], ['select * from no_such_table', []], ['select id from items where id = $1', ['not a number']]];
         for (const [sql, params] of failing) {
           try { await pg.query(sql, params); out.push('ran'); } catch (e) { out.push(e.code); }
         }
         const again = (await pg.query('select now()::text as t, count(*)::int as n from items')).rows[0];
         out.push(again.t === t0, again.n);
         return out;",
    )
    .await;
    // Each failure is the statement's own (none "transaction aborted"), and the reads after
    // them still run in the same transaction.
    assert_eq!(
        result(&r),
        &json!([
            "DATA_EXCEPTION",
            "SYNTAX_ERROR",
            "UNDEFINED_TABLE",
            "DATA_EXCEPTION",
            true,
            50
        ])
    );
    still_works(&app).await;
}

#[tokio::test]
async fn the_read_session_gives_its_connection_back_when_the_execution_needs_it() {
    // Two permits: the read session holds one after the first read, a transaction takes the
    // other; a read outside the transaction then needs the session's.
    let (db, app) = setup(&["--pool-max", "4", "--code-max-connections", "2"]).await;
    let r = run(
        &app,
        "const out: any[] = [(await pg.query('select 1 as n')).rows[0].n];
         await pg.transaction(async tx => {
           await tx.query('select 2');
           out.push((await pg.query('select 3 as n')).rows[0].n);
         });
         const slow = await Promise.all([1, 2, 3].map(i => pg.query('select pg_sleep(0.1), $1::int as n', [i])));
         out.push(...slow.map(r => r.rows[0].n));
         return out;",
    )
    .await;
    assert_eq!(result(&r), &json!([1, 3, 1, 2, 3]));
    let client = support::connect(&db.url).await;
    assert_eq!(idle_in_transaction(&client).await, 0);
    // A read running in the session when the deadline passes: its connection is closed,
    // not pooled inside the transaction.
    let r = run_with(
        &app,
        json!({ "code": "await pg.query('select 1'); await pg.query('select pg_sleep(30)')", "timeout": 1000 }),
    )
    .await;
    assert_eq!(error_code(&r), "TIMEOUT");
    assert_eq!(idle_in_transaction(&client).await, 0);
    still_works(&app).await;
}
