//! The read-only model under attack: every statement of `tests/corpus/readonly/bypass.sql`
//! (a known technique each) goes through every read-only path — restricted mode's direct
//! tools, a pinned read-only transaction, EXPLAIN ANALYZE, and Code Mode with
//! `readonly: true` — and must be refused without changing the canary table, the sequence,
//! the server's settings, its data directory, locks, large objects, roles or replication
//! slots. `allowed.sql` is the other half: ordinary reads that must keep working.
//!
//! Corpus format: entries separated by blank lines; an entry's first line is `-- name`, the
//! rest is the SQL. `{{TAG}}` is replaced by a per-run token (file names on the server).

use crate::support;

use std::sync::Arc;

use futures::StreamExt;
use pgmcp::app::App;
use serde_json::{Value, json};

struct Entry {
    name: String,
    sql: String,
}

fn corpus(file: &str, tag: &str) -> Vec<Entry> {
    let path = format!(
        "{}/tests/corpus/readonly/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split("\n\n")
        .map(str::trim)
        .filter(|block| !block.is_empty())
        .map(|block| {
            let (head, sql) = block.split_once('\n').unwrap_or((block, ""));
            let name = head
                .strip_prefix("-- ")
                .unwrap_or_else(|| panic!("{file}: entry without a `-- name` line: {block}"));
            assert!(!sql.trim().is_empty(), "{file}: {name} has no SQL");
            Entry {
                name: name.to_string(),
                sql: sql.replace("{{TAG}}", tag),
            }
        })
        .collect()
}

const FIXTURE: &str = r#"
CREATE TABLE canary (id int PRIMARY KEY, v text);
INSERT INTO canary VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE SEQUENCE canary_seq;
CREATE FUNCTION canary_write() RETURNS int LANGUAGE plpgsql AS $$
  BEGIN DELETE FROM canary; RETURN 1; END $$;
CREATE PROCEDURE canary_wipe() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM canary; END $$;
CREATE VIEW canary_view_write AS SELECT canary_write() AS x;
CREATE FUNCTION canary_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM canary';
CREATE VIEW canary_count_view AS SELECT canary_count() AS n;
CREATE EXTENSION IF NOT EXISTS dblink;
-- What a function that slipped through would leave behind.
CREATE TABLE canary_log (what text);
CREATE FUNCTION side_effect(c canary) RETURNS int LANGUAGE plpgsql VOLATILE AS $$
  BEGIN INSERT INTO canary_log VALUES ('side_effect ' || c.id); RETURN 1; END $$;
CREATE FUNCTION side_effect_int(i int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$
  BEGIN INSERT INTO canary_log VALUES ('int ' || i); RETURN 1; END $$;
CREATE FUNCTION side_effect_cmp(a int, b int) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
  BEGIN INSERT INTO canary_log VALUES ('cmp'); RETURN a = b; END $$;
CREATE FUNCTION side_effect_sum(s int, i int) RETURNS int LANGUAGE plpgsql VOLATILE AS $$
  BEGIN INSERT INTO canary_log VALUES ('sum'); RETURN coalesce(s, 0) + i; END $$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = side_effect_cmp);
CREATE AGGREGATE evil_agg(int) (SFUNC = side_effect_sum, STYPE = int);
CREATE DOMAIN evil_dom AS int CHECK (side_effect_int(VALUE) = 1);
CREATE TYPE evil_t AS (x int);
CREATE FUNCTION evil_cast(t evil_t) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
  BEGIN INSERT INTO canary_log VALUES ('cast'); RETURN 'x'; END $$;
CREATE CAST (evil_t AS text) WITH FUNCTION evil_cast(evil_t) AS IMPLICIT;
CREATE FUNCTION stable_reader(c canary) RETURNS text LANGUAGE plpgsql STABLE AS $$
  BEGIN RETURN pg_read_file('postgresql.auto.conf'); END $$;
CREATE FUNCTION sql_stable_leak() RETURNS text LANGUAGE sql STABLE AS $$ SELECT pg_read_file('postgresql.auto.conf') $$;
CREATE FUNCTION sql_stable_nested() RETURNS int LANGUAGE sql STABLE AS $$ SELECT side_effect(c) FROM canary c LIMIT 1 $$;
CREATE FUNCTION sql_atomic_leak() RETURNS text LANGUAGE sql STABLE BEGIN ATOMIC SELECT pg_read_file('postgresql.auto.conf'); END;
CREATE FUNCTION sec_definer() RETURNS int LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT 1';
CREATE VIEW view_nested AS SELECT * FROM canary_view_write;
CREATE VIEW view_sql_leak AS SELECT sql_stable_leak() AS f;
CREATE VIEW view_builtin_denied AS SELECT pg_read_file('postgresql.auto.conf') AS f;
CREATE TABLE rls_t (id int);
INSERT INTO rls_t VALUES (1);
CREATE POLICY rls_p ON rls_t USING (side_effect_int(id) = 1);
ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY;
ALTER TABLE rls_t FORCE ROW LEVEL SECURITY;
CREATE TABLE brin_t (i int);
INSERT INTO brin_t SELECT generate_series(1, 1000);
CREATE INDEX brin_i ON brin_t USING brin (i);
CREATE TABLE gin_t (a int[]);
CREATE INDEX gin_a ON gin_t USING gin (a) WITH (fastupdate = on);
INSERT INTO gin_t VALUES ('{1,2}');
CREATE FUNCTION immutable_side_effect() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
  BEGIN RETURN length(pg_read_file('postgresql.auto.conf')); END $$;
CREATE TABLE defaults_t (id int, v int DEFAULT immutable_side_effect());
"#;

/// A database with the fixture, and a restricted and an unrestricted App on it.
async fn setup() -> (support::TestDb, Arc<App>, Arc<App>) {
    setup_on(support::test_db().await).await
}

/// [`setup`] for a test that compares [`state`] before and after: its probes see the whole
/// cluster (roles, replication origins and slots, advisory locks, server files), which
/// tests of other modules change, so it runs with the cluster to itself.
async fn setup_exclusive() -> (support::TestDb, Arc<App>, Arc<App>) {
    setup_on(support::test_db_exclusive().await).await
}

async fn setup_on(db: support::TestDb) -> (support::TestDb, Arc<App>, Arc<App>) {
    support::connect(&db.url)
        .await
        .batch_execute(FIXTURE)
        .await
        .unwrap();
    let restricted = support::app(&db.url, &["--access-mode", "restricted"]);
    let full = support::app(&db.url, &["--code-rate-limit", "100000"]);
    (db, restricted, full)
}

/// Everything a bypass could change, read over a fresh superuser-or-owner connection.
async fn state(db_url: &str) -> Vec<(String, String)> {
    let client = support::connect(db_url).await;
    let mut probes = vec![
        (
            "canary",
            "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM canary",
        ),
        (
            "sequence",
            "SELECT last_value || '/' || is_called FROM canary_seq",
        ),
        (
            "canary log",
            "SELECT coalesce(string_agg(what, ','), '') FROM canary_log",
        ),
        (
            "statistics reset",
            "SELECT coalesce(stats_reset::text, 'never') FROM pg_stat_database WHERE datname = current_database()",
        ),
        (
            "dblink connections",
            "SELECT coalesce(array_to_string(dblink_get_connections(), ','), '')",
        ),
        (
            "replication origins",
            "SELECT count(*)::text FROM pg_replication_origin",
        ),
        ("relations", "SELECT count(*)::text FROM pg_class"),
        ("functions", "SELECT count(*)::text FROM pg_proc"),
        (
            "roles",
            "SELECT string_agg(rolname || rolsuper, ',' ORDER BY rolname) FROM pg_roles",
        ),
        (
            "large objects",
            "SELECT count(*)::text FROM pg_largeobject_metadata",
        ),
        (
            "advisory locks",
            "SELECT count(*)::text FROM pg_locks WHERE locktype = 'advisory'",
        ),
        (
            "replication slots",
            "SELECT count(*)::text FROM pg_replication_slots",
        ),
        (
            "prepared xacts",
            "SELECT count(*)::text FROM pg_prepared_xacts",
        ),
        (
            "grants",
            "SELECT coalesce(relacl::text, '') FROM pg_class WHERE relname = 'canary'",
        ),
        (
            "settings",
            "SELECT md5(string_agg(name || '=' || setting, ',' ORDER BY name)) FROM pg_settings",
        ),
        (
            "config files",
            "SELECT md5(coalesce(string_agg(sourcefile || name || setting, ',' ORDER BY sourcefile, seqno), '')) FROM pg_file_settings",
        ),
    ];
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if superuser {
        probes.push((
            "data directory",
            "SELECT string_agg(f, ',' ORDER BY f) FROM pg_ls_dir('.') f",
        ));
        probes.push((
            "postgresql.auto.conf",
            "SELECT md5(pg_read_file('postgresql.auto.conf'))",
        ));
    }
    let mut out = Vec::new();
    for (name, sql) in probes {
        let row = client
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("state probe {name}: {e}"));
        let value: Option<String> = row.get(0);
        out.push((name.to_string(), value.unwrap_or_default()));
    }
    out
}

/// Codes that mean "refused for being a write or not a single read". Anything else (a
/// syntax error, an unknown function) would mean the entry tests nothing.
const REFUSALS: &[&str] = &["READ_ONLY_VIOLATION", "INVALID_ARGUMENT"];

fn refusal_problem(path: &str, outcome: &Result<Value, Value>) -> Option<String> {
    match outcome {
        Ok(v) => Some(format!("{path}: RAN: {}", truncate(&v.to_string()))),
        Err(e) => {
            let code = e["code"].as_str().unwrap_or_default();
            let stacked = code == "SYNTAX_ERROR" && e["details"]["statements"].as_u64() > Some(1);
            (!REFUSALS.contains(&code) && !stacked).then(|| {
                format!(
                    "{path}: refused for the wrong reason: {}",
                    truncate(&e.to_string())
                )
            })
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

async fn call(app: &Arc<App>, tool: &str, args: Value) -> Result<Value, Value> {
    app.call(tool, args).await.map_err(|e| e.to_json())
}

/// Every read-only path for one statement; returns what went wrong.
async fn attack(restricted: &Arc<App>, full: &Arc<App>, entry: &Entry) -> Vec<String> {
    let sql = &entry.sql;
    let mut problems = Vec::new();

    let r = call(restricted, "pg_read_query", json!({ "sql": sql })).await;
    problems.extend(refusal_problem("restricted pg_read_query", &r));

    let r = call(full, "pg_read_query", json!({ "sql": sql })).await;
    problems.extend(refusal_problem("pg_read_query", &r));

    // Write tools do not exist in restricted mode.
    match call(restricted, "pg_write_query", json!({ "sql": sql })).await {
        Err(e) if e["code"] == "UNKNOWN_TOOL" => {}
        other => problems.push(format!("restricted pg_write_query: {other:?}")),
    }

    // EXPLAIN ANALYZE executes its statement; any failure is fine, success is not.
    if let Ok(v) = call(
        restricted,
        "pg_explain",
        json!({ "sql": sql, "analyze": true }),
    )
    .await
    {
        problems.push(format!(
            "restricted pg_explain analyze: RAN: {}",
            truncate(&v.to_string())
        ));
    }

    // Pinned transactions: restricted mode opens them READ ONLY; in full mode a read inside
    // a read-write transaction is fenced.
    for (label, app) in [("restricted", restricted), ("full", full)] {
        match call(app, "pg_transaction_begin", json!({})).await {
            Ok(b) => {
                let id = b["transactionId"].clone();
                let r = call(
                    app,
                    "pg_read_query",
                    json!({ "transactionId": id, "sql": sql }),
                )
                .await;
                problems.extend(refusal_problem(&format!("{label} pinned transaction"), &r));
                let _ = call(
                    app,
                    "pg_transaction_rollback",
                    json!({ "transactionId": id }),
                )
                .await;
            }
            Err(e) => problems.push(format!("{label} pg_transaction_begin failed: {e}")),
        }
    }

    // Code Mode, readonly: every way to reach SQL from inside the sandbox.
    let code = format!(
        r#"const sql: string = {};
const out: Record<string, string> = {{}};
const attempts: [string, () => Promise<unknown>][] = [
  ["pg.query", () => pg.query(sql)],
  ["pg.core.readQuery", () => pg.core.readQuery(sql)],
  ["pg.transaction", () => pg.transaction(async (tx: any) => tx.query(sql))],
];
for (const [name, f] of attempts) {{
  try {{ await f(); out[name] = "RAN"; }} catch (e: any) {{ out[name] = String(e?.code ?? e); }}
}}
out["typeof pg.execute"] = typeof (pg as any).execute;
out["typeof pg.core.writeQuery"] = typeof (pg as any).core.writeQuery;
return out;"#,
        serde_json::to_string(sql).unwrap()
    );
    match call(
        full,
        "pg_execute_code",
        json!({ "code": code, "readonly": true }),
    )
    .await
    {
        Ok(v) => {
            for (path, outcome) in v["result"].as_object().cloned().unwrap_or_default() {
                let outcome = outcome.as_str().unwrap_or_default();
                let fine = if path.starts_with("typeof") {
                    outcome == "undefined"
                } else {
                    REFUSALS.contains(&outcome) || (outcome == "SYNTAX_ERROR" && sql.contains(';'))
                };
                if !fine {
                    problems.push(format!("code mode {path}: {outcome}"));
                }
            }
        }
        Err(e) => problems.push(format!("code mode execution failed: {e}")),
    }
    problems
        .into_iter()
        .map(|p| format!("[{}] {p}", entry.name))
        .collect()
}

#[tokio::test]
async fn bypass_corpus_is_refused_on_every_read_only_path() {
    let tag = format!("{}_{}", std::process::id(), uuid_like());
    let entries = corpus("bypass.sql", &tag);
    assert!(entries.len() >= 60, "only {} bypass entries", entries.len());

    let (db, restricted, full) = setup_exclusive().await;
    let before = state(&db.url).await;
    let problems: Vec<String> = futures::stream::iter(entries.iter())
        .map(|entry| attack(&restricted, &full, entry))
        .buffer_unordered(4)
        .flat_map(futures::stream::iter)
        .collect()
        .await;

    let after = state(&db.url).await;
    let mut changed: Vec<String> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|((name, b), (_, a))| format!("{name} changed: {b} -> {a}"))
        .collect();
    for suffix in ["", ".csv", ".lo"] {
        let path = format!("/tmp/pgmcp_pwned_{tag}{suffix}");
        if std::path::Path::new(&path).exists() {
            let _ = std::fs::remove_file(&path);
            changed.push(format!("{path} was written"));
        }
    }
    // Nothing leaked into pooled connections: a later read sees default session state.
    for (setting, expected) in [
        ("default_transaction_read_only", "off"),
        ("search_path", "\"$user\", public"),
        // Reads run as the read-only role (SET LOCAL, inside their transaction).
        ("role", support::READER_ROLE),
        ("work_mem", "4MB"),
    ] {
        for _ in 0..4 {
            let v = call(
                &full,
                "pg_read_query",
                json!({ "sql": format!("SHOW {setting}") }),
            )
            .await
            .expect("SHOW runs");
            let got = v["rows"][0][setting]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if got != expected {
                changed.push(format!("pooled session {setting} = {got}"));
            }
        }
    }
    // Outside a read, the pooled session is the connecting role's again.
    let v = call(&full, "pg_write_query", json!({ "sql": "SHOW role" }))
        .await
        .expect("SHOW runs");
    if v["rows"][0]["role"] != "none" {
        changed.push(format!(
            "pooled session role outside reads = {}",
            v["rows"][0]["role"]
        ));
    }
    assert!(
        problems.is_empty() && changed.is_empty(),
        "{} problems over {} entries:\n{}\nstate changes:\n{}",
        problems.len(),
        entries.len(),
        problems.join("\n"),
        changed.join("\n")
    );
}

#[tokio::test]
async fn allowed_corpus_still_runs_read_only() {
    let entries = corpus("allowed.sql", "unused");
    assert!(
        entries.len() >= 30,
        "only {} allowed entries",
        entries.len()
    );
    let (_db, restricted, full) = setup().await;
    let mut problems = Vec::new();
    for entry in &entries {
        if let Err(e) = call(&restricted, "pg_read_query", json!({ "sql": entry.sql })).await {
            problems.push(format!("[{}] restricted pg_read_query: {e}", entry.name));
        }
        let code = format!(
            "const r = await pg.query({}); return r.rowCount;",
            serde_json::to_string(&entry.sql).unwrap()
        );
        match call(
            &full,
            "pg_execute_code",
            json!({ "code": code, "readonly": true }),
        )
        .await
        {
            Ok(v) if v["success"] == true => {}
            other => problems.push(format!("[{}] code mode readonly: {other:?}", entry.name)),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn uuid_like() -> String {
    use std::hash::{BuildHasher, RandomState};
    format!(
        "{:x}",
        RandomState::new().hash_one(std::time::SystemTime::now())
    )
}

/// The attacks of issue 8 that the statement policy refuses, each of which ran on a
/// superuser connection before the read-only role existed: server files, SQL given as a
/// string to `ts_stat`/`ts_rewrite`/`query_to_xml`, dblink (writes, `COPY … TO PROGRAM`,
/// `pg_authid`), a replication slot, adminpack and large-object file writes, a statistics
/// reset, a WAL switch and terminating other sessions of the connecting role. `{{CONN}}`
/// is the test database's connection string, `{{TAG}}` a per-run token.
const ROLE_LAYER_ATTACKS: &[(&str, &str)] = &[
    ("pg_read_file", "SELECT pg_read_file('/etc/passwd')"),
    (
        "ts_stat runs a string",
        "SELECT * FROM ts_stat('select to_tsvector(x) from (select pg_read_file(''/etc/passwd'')) s(x)')",
    ),
    (
        "ts_rewrite runs a string",
        "SELECT ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery from (select pg_read_file(''/etc/passwd'')) s')",
    ),
    (
        "query_to_xml runs a string",
        "SELECT query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')",
    ),
    (
        "query_to_xml creates a replication slot",
        "SELECT query_to_xml('select pg_create_physical_replication_slot(''pgmcp_pwned_{{TAG}}'')', true, false, '')",
    ),
    (
        "dblink_exec commits a write",
        "SELECT dblink_exec('{{CONN}}', 'DELETE FROM canary')",
    ),
    (
        "dblink_exec runs COPY TO PROGRAM",
        "SELECT dblink_exec('{{CONN}}', 'COPY (SELECT 1) TO PROGRAM ''touch /tmp/pgmcp_pwned_{{TAG}}''')",
    ),
    (
        "dblink reads pg_authid",
        "SELECT * FROM dblink('{{CONN}}', 'SELECT rolname, rolpassword FROM pg_authid') AS t(n name, p text)",
    ),
    (
        "replication slot",
        "SELECT pg_create_physical_replication_slot('pgmcp_pwned_{{TAG}}')",
    ),
    (
        "adminpack pg_file_write",
        "SELECT pg_file_write('/tmp/pgmcp_pwned_{{TAG}}', 'x', false)",
    ),
    (
        "lo_export",
        "SELECT lo_export(1, '/tmp/pgmcp_pwned_{{TAG}}.lo')",
    ),
    ("statistics reset", "SELECT pg_stat_reset()"),
    ("WAL switch", "SELECT pg_switch_wal()"),
    (
        "terminate the connecting role's other sessions",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = session_user AND pid <> pg_backend_pid()",
    ),
    // The next three need the hardening of docs/SECURITY.md (`pg_prepared_statement()` and
    // `set_config` revoked from PUBLIC), which the test applies to its database: both are
    // PUBLIC by default, and PostgreSQL checks a role switch against the session user, not
    // the current role.
    (
        "read earlier callers' SQL texts from the read statement cache",
        "SELECT statement FROM pg_prepared_statements",
    ),
    (
        "switch back to the session user, then run a string",
        "SELECT set_config('role', 'none', true), query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')",
    ),
    (
        "switch the session authorization back, then run a string",
        "SELECT set_config('session_authorization', session_user, true), query_to_xml('select pg_read_file(''/etc/passwd'')', true, false, '')",
    ),
];

/// Layer 2 alone: with the parse-time policy switched off (a test-only setting no flag
/// reaches), a superuser connection whose reads run as the read-only role still refuses
/// every attack above, on every read-only path, and nothing changes. The same statements
/// with the policy off and no role run (checked on harmless ones), so it is the role that
/// refuses them.
#[tokio::test]
async fn the_read_only_role_alone_refuses_the_attacks_on_a_superuser_connection() {
    let tag = format!("{}_{}", std::process::id(), uuid_like());
    // Exclusive: besides `state`, it compares the WAL segment, which every test's writes
    // (a CREATE DATABASE alone logs megabytes) move on.
    let (db, _, _) = setup_exclusive().await;
    let admin = support::connect(&db.url).await;
    admin
        .batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS dblink; CREATE EXTENSION IF NOT EXISTS adminpack; {}",
            pgmcp::cluster::REVOKE_FROM_PUBLIC_SQL
        ))
        .await
        .unwrap();
    let superuser: bool = admin
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(superuser, "this test is about a superuser connection");
    let no_policy = |c: &mut pgmcp::config::Config| c.unsafe_test_only_skip_read_policy = true;
    let restricted = support::app_with(&db.url, &["--access-mode", "restricted"], no_policy);
    let full = support::app_with(&db.url, &["--code-rate-limit", "100000"], no_policy);

    // Control: without the role, the policy-less reads really do run.
    let bare = support::app_with(
        &db.url,
        &["--access-mode", "restricted", "--read-only-role", ""],
        no_policy,
    );
    for sql in [
        "SELECT pg_read_file('PG_VERSION')",
        "SELECT * FROM ts_stat('select to_tsvector(x) from (select pg_read_file(''PG_VERSION'')) s(x)')",
    ] {
        call(&bare, "pg_read_query", json!({ "sql": sql }))
            .await
            .unwrap_or_else(|e| panic!("control {sql}: {e}"));
    }

    // A session of the connecting role that the attacks try to terminate.
    let victim = support::connect(&db.url).await;
    let wal: String = admin
        .query_one("SELECT pg_walfile_name(pg_current_wal_lsn())", &[])
        .await
        .unwrap()
        .get(0);
    let stats_reset = "SELECT coalesce(stats_reset::text, '') FROM pg_stat_database WHERE datname = current_database()";
    let stats_before: String = admin.query_one(stats_reset, &[]).await.unwrap().get(0);
    let before = state(&db.url).await;

    let attacks: Vec<(String, String)> = ROLE_LAYER_ATTACKS
        .iter()
        .map(|(name, sql)| {
            let sql = sql
                .replace("{{CONN}}", &support::conninfo(&db.url))
                .replace("{{TAG}}", &tag);
            (name.to_string(), sql)
        })
        .collect();
    let mut problems = Vec::new();
    // Refused by PostgreSQL, not by a mistake in the test (a typo, a missing extension).
    let refused = |path: &str, name: &str, r: Result<Value, Value>| -> Option<String> {
        match r {
            Ok(v) => Some(format!(
                "[{name}] {path}: RAN: {}",
                truncate(&v.to_string())
            )),
            Err(e)
                if ["42601", "42883", "42P01"].contains(&e["sqlstate"].as_str().unwrap_or("")) =>
            {
                Some(format!("[{name}] {path}: broken attack: {e}"))
            }
            Err(_) => None,
        }
    };
    for (name, sql) in &attacks {
        let r = call(&restricted, "pg_read_query", json!({ "sql": sql })).await;
        problems.extend(refused("restricted pg_read_query", name, r));
        let r = call(&full, "pg_read_query", json!({ "sql": sql })).await;
        problems.extend(refused("pg_read_query", name, r));
        let r = call(
            &restricted,
            "pg_explain",
            json!({ "sql": sql, "analyze": true }),
        )
        .await;
        problems.extend(refused("restricted pg_explain analyze", name, r));
        // A restricted pinned transaction (READ ONLY, as the role from its BEGIN) and a
        // read fenced inside a read-write one.
        for (label, app) in [("restricted pinned", &restricted), ("fenced", &full)] {
            let b = call(app, "pg_transaction_begin", json!({})).await.unwrap();
            let id = b["transactionId"].clone();
            let r = call(
                app,
                "pg_read_query",
                json!({ "transactionId": id, "sql": sql }),
            )
            .await;
            problems.extend(refused(label, name, r));
            call(
                app,
                "pg_transaction_rollback",
                json!({ "transactionId": id }),
            )
            .await
            .unwrap();
        }
    }
    // Code Mode, readonly: each attack through pg.query and inside pg.transaction.
    let code = format!(
        r#"const attacks: [string, string][] = {};
const out: Record<string, string> = {{}};
for (const [name, sql] of attacks) {{
  try {{ await pg.query(sql); out[name + " pg.query"] = "RAN"; }} catch (e: any) {{ out[name + " pg.query"] = "refused"; }}
  try {{ await pg.transaction(async (tx: any) => tx.query(sql)); out[name + " pg.transaction"] = "RAN"; }}
  catch (e: any) {{ out[name + " pg.transaction"] = "refused"; }}
}}
return out;"#,
        serde_json::to_string(&attacks).unwrap()
    );
    let v = call(
        &full,
        "pg_execute_code",
        json!({ "code": code, "readonly": true }),
    )
    .await
    .expect("the execution runs");
    let outcomes = v["result"].as_object().cloned().unwrap_or_default();
    assert_eq!(outcomes.len(), attacks.len() * 2, "{v:#}");
    for (path, outcome) in outcomes {
        if outcome != "refused" {
            problems.push(format!("code mode {path}: {outcome}"));
        }
    }

    let mut changed: Vec<String> = before
        .iter()
        .zip(&state(&db.url).await)
        .filter(|(b, a)| b != a)
        .map(|((name, b), (_, a))| format!("{name} changed: {b} -> {a}"))
        .collect();
    for suffix in ["", ".lo"] {
        let path = format!("/tmp/pgmcp_pwned_{tag}{suffix}");
        if std::path::Path::new(&path).exists() {
            let _ = std::fs::remove_file(&path);
            changed.push(format!("{path} was written"));
        }
    }
    // A fresh connection: a successful attack would have terminated `admin` too.
    let admin = support::connect(&db.url).await;
    let wal_after: String = admin
        .query_one("SELECT pg_walfile_name(pg_current_wal_lsn())", &[])
        .await
        .unwrap()
        .get(0);
    if wal_after != wal {
        changed.push(format!("WAL switched: {wal} -> {wal_after}"));
    }
    let stats_after: String = admin.query_one(stats_reset, &[]).await.unwrap().get(0);
    if stats_after != stats_before {
        changed.push("statistics were reset".into());
    }
    if victim.simple_query("SELECT 1").await.is_err() {
        changed.push("the other session was terminated".into());
    }
    assert!(
        problems.is_empty() && changed.is_empty(),
        "{} problems:\n{}\nstate changes:\n{}",
        problems.len(),
        problems.join("\n"),
        changed.join("\n")
    );
}

/// A role that does not exist, or that the connecting role may not SET to, is reported as
/// such, naming the flag and the one-time setup; nothing runs without it.
#[tokio::test]
async fn an_unusable_read_only_role_is_a_clear_error() {
    let (db, _, _) = setup().await;
    // A login role that is not a member of the reader role (a superuser may SET to any).
    let outsider = format!("pgmcp_outsider_{}", std::process::id());
    support::connect(&db.url)
        .await
        .batch_execute(&format!("CREATE ROLE {outsider} LOGIN"))
        .await
        .unwrap();
    let outsider_url = db.url.replacen("postgres@", &format!("{outsider}@"), 1);
    assert_ne!(
        outsider_url, db.url,
        "unexpected test URL shape: {}",
        db.url
    );
    for (url, role, why) in [
        (&db.url, "pgmcp_no_such_role", "does not exist"),
        (&outsider_url, support::READER_ROLE, "permission denied"),
    ] {
        let app = support::app(url, &["--read-only-role", role]);
        let e = call(&app, "pg_read_query", json!({ "sql": "SELECT 1 AS one" }))
            .await
            .unwrap_err();
        assert_eq!(e["code"], "READ_ONLY_ROLE_UNUSABLE", "{e:#}");
        let msg = e["error"].as_str().unwrap();
        assert!(
            msg.contains("--read-only-role") && msg.contains(why),
            "{e:#}"
        );
        assert!(
            e["suggestion"].as_str().unwrap().contains("CREATE ROLE"),
            "{e:#}"
        );
        let b = call(&app, "pg_transaction_begin", json!({ "readOnly": true })).await;
        assert_eq!(b.unwrap_err()["code"], "READ_ONLY_ROLE_UNUSABLE");
    }
}

/// The classification in `src/db/read_functions.txt` must cover every built-in function of
/// the server the tests run on, and every function behind a built-in operator must be
/// allowed (operators are resolved implicitly, so refusing one would refuse ordinary SQL).
/// A PostgreSQL version with new functions fails here until they are reviewed.
#[tokio::test]
async fn read_policy_classifies_every_builtin_function() {
    for (label, admin) in support::servers() {
        let db = support::test_db_at(admin).await;
        classifies_every_builtin_function_of(label, &db.url).await;
    }
}

async fn classifies_every_builtin_function_of(label: &str, url: &str) {
    use pgmcp::db::function_policy::{Builtin, CLASSIFICATION};
    let client = support::connect(url).await;
    let names: Vec<String> = client
        .query(
            "SELECT DISTINCT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.oid < 16384 AND n.nspname IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(names.len() > 2000, "only {} built-in names", names.len());
    let unclassified: Vec<&String> = names
        .iter()
        .filter(|n| CLASSIFICATION.builtin(n).is_none())
        .collect();
    assert!(
        unclassified.is_empty(),
        "{label}: built-in functions the read-only policy does not classify (review them and add them to src/db/read_functions.txt): {unclassified:?}"
    );
    let operator_functions: Vec<String> = client
        .query(
            "SELECT DISTINCT p.proname::text FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode \
             WHERE o.oid < 16384 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let refused: Vec<&String> = operator_functions
        .iter()
        .filter(|n| !CLASSIFICATION.builtin_allowed(n))
        .collect();
    assert!(
        refused.is_empty(),
        "{label}: built-in operators whose functions are refused: {refused:?}"
    );
    // The volatile built-ins are where effects live: every one must be classified on purpose
    // (allowed ones are listed in docs/SECURITY.md).
    let denied = names
        .iter()
        .filter(|n| matches!(CLASSIFICATION.builtin(n), Some(Builtin::Denied { .. })))
        .count();
    assert!(
        denied >= 150,
        "{label}: only {denied} built-in names denied"
    );
}

/// The Code Mode paths the red team used besides `pg.query`: `pg.explain({analyze})` and
/// `pg.count(table, where)`, each with a query-string function and field notation.
#[tokio::test]
async fn code_mode_explain_and_count_paths_refuse_hidden_calls() {
    let (db, _restricted, full) = setup().await;
    let before = state(&db.url).await;
    let code = r#"
const out: Record<string, string> = {};
const attempts: [string, () => Promise<unknown>][] = [
  ["explain ts_stat", () => pg.explain({ sql: "SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''postgresql.auto.conf''))')", analyze: true })],
  ["explain field", () => pg.explain({ sql: "SELECT c.side_effect FROM canary c", analyze: true })],
  ["count ts_stat", () => pg.count("canary", "EXISTS (SELECT 1 FROM ts_stat('SELECT to_tsvector(''x'')'))")],
  ["count field", () => pg.count("canary", "canary.side_effect = 1")],
  ["count operator", () => pg.count("canary", "id === 1")],
];
for (const [name, f] of attempts) {
  try { await f(); out[name] = "RAN"; } catch (e: any) { out[name] = String(e?.code ?? e); }
}
return out;"#;
    let v = call(
        &full,
        "pg_execute_code",
        json!({ "code": code, "readonly": true }),
    )
    .await
    .expect("execution runs");
    for (path, outcome) in v["result"].as_object().cloned().unwrap_or_default() {
        assert_eq!(outcome, "READ_ONLY_VIOLATION", "{path}: {v}");
    }
    assert_eq!(before, state(&db.url).await);
}

/// Refusals name the function and how to allow it, and a function the operator vouches for
/// with `--read-only-allow-function` runs (still only when it is not VOLATILE).
#[tokio::test]
async fn refusals_name_the_function_and_vouching_allows_it() {
    let (db, restricted, _full) = setup().await;
    let e = call(
        &restricted,
        "pg_read_query",
        json!({ "sql": "SELECT c.stable_reader FROM canary c" }),
    )
    .await
    .unwrap_err();
    assert_eq!(e["code"], "READ_ONLY_VIOLATION", "{e}");
    assert_eq!(e["details"]["function"], "public.stable_reader", "{e}");
    assert!(
        e["suggestion"]
            .as_str()
            .unwrap()
            .contains("--read-only-allow-function public.stable_reader"),
        "{e}"
    );
    let e = call(
        &restricted,
        "pg_read_query",
        json!({ "sql": "SELECT * FROM view_nested" }),
    )
    .await
    .unwrap_err();
    assert_eq!(e["details"]["function"], "public.canary_write", "{e}");

    support::connect(&db.url)
        .await
        .batch_execute(
            "CREATE FUNCTION vouched_reader(c canary) RETURNS text LANGUAGE plpgsql STABLE AS \
             $$ BEGIN RETURN c.v; END $$",
        )
        .await
        .unwrap();
    let vouched = support::app(
        &db.url,
        &[
            "--access-mode",
            "restricted",
            "--read-only-allow-function",
            "public.vouched_reader,side_effect",
        ],
    );
    let v = call(
        &vouched,
        "pg_read_query",
        json!({ "sql": "SELECT c.vouched_reader FROM canary c ORDER BY id LIMIT 1" }),
    )
    .await
    .unwrap();
    assert_eq!(v["rows"][0]["vouched_reader"], "one", "{v}");
    // Vouching does not make a VOLATILE function a read.
    let e = call(
        &vouched,
        "pg_read_query",
        json!({ "sql": "SELECT side_effect(c) FROM canary c" }),
    )
    .await
    .unwrap_err();
    assert_eq!(e["details"]["reason"], "volatile", "{e}");
    // Replacing a function that passed makes it a new candidate: the cached plan is not
    // trusted after CREATE OR REPLACE.
    let sql = json!({ "sql": "SELECT canary_count()" });
    call(&restricted, "pg_read_query", sql.clone())
        .await
        .unwrap();
    call(&restricted, "pg_read_query", sql.clone())
        .await
        .unwrap();
    support::connect(&db.url)
        .await
        .batch_execute(
            "CREATE OR REPLACE FUNCTION canary_count() RETURNS bigint LANGUAGE sql STABLE AS \
             $$ SELECT length(pg_read_file('postgresql.auto.conf'))::bigint $$",
        )
        .await
        .unwrap();
    let e = call(&restricted, "pg_read_query", sql).await.unwrap_err();
    assert_eq!(e["details"]["function"], "public.canary_count", "{e}");
    assert!(e["error"].as_str().unwrap().contains("pg_read_file"), "{e}");
}

/// A type named anywhere, not only in a cast, can run a domain's CHECK: an XMLTABLE column
/// and a column definition list (`json_to_record(…) AS t(a d)`) convert each value to the
/// column's type, and a domain's input applies its constraints. The catalog half must
/// examine those types too.
#[tokio::test]
async fn domain_checks_behind_column_types_are_examined() {
    let (db, restricted, _full) = setup().await;
    support::connect(&db.url)
        .await
        .batch_execute(
            "CREATE FUNCTION domain_probe(int) RETURNS bool LANGUAGE plpgsql VOLATILE AS \
             $$ BEGIN RAISE EXCEPTION 'the domain check ran'; END $$; \
             CREATE DOMAIN probed_int AS int CHECK (domain_probe(VALUE));",
        )
        .await
        .unwrap();
    for sql in [
        "SELECT '1'::probed_int AS a",
        "SELECT * FROM XMLTABLE('/r' PASSING '<r><a>1</a></r>' COLUMNS a probed_int PATH 'a')",
        "SELECT * FROM json_to_record('{\"a\": 1}') AS t(a probed_int)",
        "SELECT * FROM jsonb_to_recordset('[{\"a\": 1}]') AS t(a probed_int)",
    ] {
        let e = call(&restricted, "pg_read_query", json!({ "sql": sql }))
            .await
            .unwrap_err();
        assert_eq!(e["code"], "READ_ONLY_VIOLATION", "{sql}: {e}");
        assert_eq!(
            e["details"]["function"], "public.domain_probe",
            "{sql}: {e}"
        );
    }
}

/// The index advisor plans the caller's statements on its own connection, as the connecting
/// role, and the planner evaluates STABLE and IMMUTABLE functions while it estimates
/// selectivity: a function that reads a server file (or writes through a side channel) would
/// run there unseen by the read policy. Every statement the advisor plans must pass the same
/// policy as a read of `EXPLAIN <statement>`; a refused one is skipped with the policy's
/// reason and nothing it calls runs.
#[tokio::test]
async fn the_index_advisor_plans_only_what_the_read_policy_allows() {
    let (db, restricted, full) = setup().await;
    support::connect(&db.url)
        .await
        .batch_execute(
            "CREATE EXTENSION IF NOT EXISTS hypopg;
             INSERT INTO canary SELECT g, 'v' || g FROM generate_series(4, 2000) g;
             ANALYZE canary;",
        )
        .await
        .unwrap();
    let before = state(&db.url).await;
    let hostile = [
        // The planner folds the cast of a STABLE function's result: its error would carry
        // the file's first line.
        "SELECT * FROM canary WHERE id = sql_stable_leak()::int",
        "SELECT * FROM canary c WHERE c.id = length(stable_reader(c))",
        "SELECT * FROM canary WHERE id = immutable_side_effect()",
        "UPDATE canary SET v = 'x' WHERE id = (sql_stable_nested())",
        "SELECT * FROM canary WHERE v = table_to_xml('canary', true, true, '')::text",
    ];
    for app in [&restricted, &full] {
        for sql in hostile {
            let statements =
                json!([{ "sql": sql }, { "sql": "SELECT * FROM canary WHERE v = 'v7'" }]);
            let out = call(
                app,
                "pg_analyze_query_indexes",
                json!({ "queries": statements }),
            )
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:#}"));
            let text = out.to_string();
            assert!(
                !text.contains("Do not edit"),
                "{sql}: the server file leaked: {text}"
            );
            let first = &out["statements"][0];
            assert_eq!(first["outcome"], "skipped", "{sql}: {first:#}");
            assert!(
                first["reason"].as_str().unwrap().contains("read policy"),
                "{sql}: {first:#}"
            );
            // The harmless statement beside it is still analysed.
            assert_ne!(out["statements"][1]["outcome"], "skipped", "{out:#}");
        }
    }
    assert_eq!(state(&db.url).await, before);
}
