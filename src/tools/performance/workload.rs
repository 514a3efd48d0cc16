//! What the server is doing: top statements (pg_stat_statements), sessions
//! (pg_stat_activity) and who blocks whom (pg_locks with `pg_blocking_pids`).

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::GROUP;
use crate::db::ident::quote_ident;
use crate::error::{Category, Code, ToolError, ToolResult};
use crate::tools::catalog::{Int8, decode};
use crate::tools::exec::read_rows;
use crate::tools::{Ctx, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![
        STAT_STATEMENTS.tool(GROUP, stat_statements),
        STAT_ACTIVITY.tool(GROUP, stat_activity),
        LOCKS.tool(GROUP, locks),
    ]
}

fn default_limit_10() -> u32 {
    10
}

fn default_limit_100() -> u32 {
    100
}

/// Decodes rows whose SQL column names are snake_case into camelCase row types (nested
/// objects too, e.g. a lock built with jsonb_build_object).
pub(super) fn decode_camel<R: serde::de::DeserializeOwned>(rows: Vec<Value>) -> ToolResult<Vec<R>> {
    fn camel(key: &str) -> String {
        let mut out = String::with_capacity(key.len());
        let mut up = false;
        for c in key.chars() {
            if c == '_' {
                up = true;
            } else if up {
                out.extend(c.to_uppercase());
                up = false;
            } else {
                out.push(c);
            }
        }
        out
    }
    fn convert(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| (camel(&k), convert(v)))
                    .collect(),
            ),
            other => other,
        }
    }
    decode(rows.into_iter().map(convert).collect())
}

pub(super) fn check_range(name: &str, value: u32, min: u32, max: u32) -> ToolResult<()> {
    if value < min || value > max {
        return Err(ToolError::invalid(format!(
            "{name} must be between {min} and {max} (got {value})"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// pg_stat_statements

const STAT_STATEMENTS: Spec = Spec {
    name: "pg_stat_statements",
    title: "Top statements (pg_stat_statements)",
    description: "The most expensive statements of the current database from pg_stat_statements: calls, rows, total/mean/max execution time, planning time, shared/local/temp block I/O, cache hit ratio and share of total time.\n`orderBy`: totalTime (default), meanTime, calls, rows, sharedBlocks (hit+read), sharedRead, localBlocks, tempBlocks; `limit` (default 10). Query text is the normalized text ($n for constants), cut to `queryMaxChars`. Only top-level statements unless `includeNested`. Columns are chosen from the installed extension's view (total_exec_time on PG13+, shared_blk_read_time on PG17). Needs the extension: the error says how to install it.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "camelCase")]
pub enum StatementOrder {
    #[default]
    TotalTime,
    MeanTime,
    Calls,
    Rows,
    SharedBlocks,
    SharedRead,
    LocalBlocks,
    TempBlocks,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatStatementsArgs {
    /// The ranking (descending); ties are broken by queryid.
    #[serde(default, alias = "sortBy")]
    pub order_by: StatementOrder,
    /// Statements returned, 1–100 (default 10).
    #[serde(default = "default_limit_10")]
    pub limit: u32,
    /// Only statements called at least this often (default 1).
    #[serde(default)]
    pub min_calls: Option<u32>,
    /// Also statements run inside functions (PG14+ `toplevel = false`); they are counted in
    /// their caller's time too.
    #[serde(default)]
    pub include_nested: bool,
    /// Characters of query text kept per statement, 20–10000 (default 500).
    #[serde(default)]
    pub query_max_chars: Option<u32>,
}

/// One statement's accumulated statistics (all users of the current database).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementStats {
    /// pg_stat_statements' query identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queryid: Option<Int8>,
    /// The role that ran it.
    pub user: String,
    /// Normalized text (constants as $n), cut to queryMaxChars.
    pub query: String,
    /// The text was cut.
    pub query_truncated: bool,
    pub calls: i64,
    /// Rows returned or affected, over all calls.
    pub rows: i64,
    /// Execution time over all calls, ms.
    pub total_time_ms: f64,
    pub mean_time_ms: f64,
    pub max_time_ms: f64,
    /// Planning time over all calls, ms (non-zero only with pg_stat_statements.track_planning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_time_ms: Option<f64>,
    pub shared_blks_hit: i64,
    pub shared_blks_read: i64,
    pub shared_blks_dirtied: i64,
    pub shared_blks_written: i64,
    pub local_blks_hit: i64,
    pub local_blks_read: i64,
    pub temp_blks_read: i64,
    pub temp_blks_written: i64,
    /// shared hit / (hit + read); absent when it touched no shared block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit_ratio: Option<f64>,
    /// Time reading shared blocks, ms (only with track_io_timing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_read_time_ms: Option<f64>,
    /// WAL bytes generated (PG13+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_bytes: Option<f64>,
    /// This statement's share of the execution time of all statements matched, 0–1.
    pub share_of_total_time: f64,
}

/// The observation window of pg_stat_statements (PG14+ `pg_stat_statements_info`).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementsWindow {
    /// When the statistics were last reset (the window's start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_reset: Option<String>,
    /// Entries evicted since then (pg_stat_statements.max reached): the data is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dealloc: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatStatements {
    /// The database the statistics are for (the current one).
    pub database: String,
    /// The installed pg_stat_statements version (its view's columns follow it).
    pub extension_version: String,
    pub order_by: StatementOrder,
    pub statements: Vec<StatementStats>,
    /// Statements that matched the filters, before `limit`.
    pub total_count: i64,
    /// More statements matched than were returned.
    pub truncated: bool,
    pub window: StatementsWindow,
    /// Caveats (evicted entries, nested statements).
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct PssSetup {
    database: String,
    schema: Option<String>,
    version: Option<String>,
    available: bool,
    has_info: Option<bool>,
    #[serde(default)]
    columns: Vec<String>,
}

/// The installed pg_stat_statements view: its qualified name and the columns that vary.
pub(super) struct PssView {
    pub database: String,
    pub version: String,
    pub schema: String,
    /// The schema-qualified view, quoted.
    pub view: String,
    pub columns: Vec<String>,
    pub has_info: bool,
    pub has_toplevel: bool,
    /// `total_exec_time` (PG13+, 1.8+) or `total_time`.
    pub total_time: &'static str,
}

impl PssView {
    pub fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }
}

/// Where pg_stat_statements is installed and its view's columns; the error with the fix
/// when it is not.
pub(super) async fn pss_view(ctx: &Ctx) -> ToolResult<PssView> {
    let rows = read_rows(
        ctx,
        "SELECT current_database()::text AS database, n.nspname::text AS schema, \
                e.extversion AS version, \
                EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') AS available, \
                EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = e.extnamespace \
                        AND c.relname = 'pg_stat_statements_info') AS has_info, \
                (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a \
                   JOIN pg_class c ON c.oid = a.attrelid \
                  WHERE c.relnamespace = e.extnamespace AND c.relname = 'pg_stat_statements' \
                    AND a.attnum > 0 AND NOT a.attisdropped) AS columns \
           FROM (SELECT 1) one \
           LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements' \
           LEFT JOIN pg_namespace n ON n.oid = e.extnamespace",
        &[],
    )
    .await?;
    let setup: PssSetup = decode(rows)?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("the extension probe returned no row"))?;
    let (Some(schema), Some(version)) = (setup.schema, setup.version) else {
        return Err(pss_missing(setup.available, false));
    };
    let has = |c: &str| setup.columns.iter().any(|x| x == c);
    Ok(PssView {
        view: format!("{}.pg_stat_statements", quote_ident(&schema)),
        has_info: setup.has_info == Some(true),
        has_toplevel: has("toplevel"),
        total_time: if has("total_exec_time") {
            "total_exec_time"
        } else {
            "total_time"
        },
        database: setup.database,
        version,
        schema,
        columns: setup.columns,
    })
}

/// A failed read of the view: "must be loaded via shared_preload_libraries" gets the fix.
pub(super) fn pss_error(e: ToolError) -> ToolError {
    if e.sqlstate.as_deref() == Some("55000") {
        pss_missing(true, true)
    } else {
        e
    }
}

fn pss_missing(available: bool, installed: bool) -> ToolError {
    let (msg, fix) = if installed {
        (
            "pg_stat_statements is installed in this database but its library is not loaded by the server",
            "Add pg_stat_statements to shared_preload_libraries in postgresql.conf (ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements') and restart PostgreSQL.",
        )
    } else if available {
        (
            "the pg_stat_statements extension is not installed in this database",
            "Run CREATE EXTENSION pg_stat_statements (needs CREATE on the database); the server must also have pg_stat_statements in shared_preload_libraries (a restart is needed after changing it).",
        )
    } else {
        (
            "the pg_stat_statements extension is not available on this server",
            "Install PostgreSQL's contrib package, add pg_stat_statements to shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements.",
        )
    };
    ToolError::new(Category::NotFound, Code::ExtensionMissing, msg)
        .suggest(fix)
        .with_details(
            serde_json::json!({"extension": "pg_stat_statements", "installed": installed}),
        )
}

async fn stat_statements(ctx: Ctx, a: StatStatementsArgs) -> ToolResult<StatStatements> {
    check_range("limit", a.limit, 1, 100)?;
    let max_chars = a.query_max_chars.unwrap_or(500);
    check_range("queryMaxChars", max_chars, 20, 10_000)?;
    let setup = pss_view(&ctx).await?;
    let has = |c: &str| setup.has(c);
    let pick = |new: &'static str, old: &'static str| if has(new) { new } else { old };
    let total = setup.total_time;
    let mean = pick("mean_exec_time", "mean_time");
    let max = pick("max_exec_time", "max_time");
    let plan = if has("total_plan_time") {
        "s.total_plan_time"
    } else {
        "NULL::float8"
    };
    let io_read = if has("shared_blk_read_time") {
        "s.shared_blk_read_time"
    } else if has("blk_read_time") {
        "s.blk_read_time"
    } else {
        "NULL::float8"
    };
    let wal = if has("wal_bytes") {
        "s.wal_bytes::float8"
    } else {
        "NULL::float8"
    };
    let order = match a.order_by {
        StatementOrder::TotalTime => "total_time_ms",
        StatementOrder::MeanTime => "mean_time_ms",
        StatementOrder::Calls => "calls",
        StatementOrder::Rows => "rows",
        StatementOrder::SharedBlocks => "shared_blks_hit + shared_blks_read",
        StatementOrder::SharedRead => "shared_blks_read",
        StatementOrder::LocalBlocks => "local_blks_hit + local_blks_read",
        StatementOrder::TempBlocks => "temp_blks_read + temp_blks_written",
    };
    let mut notes = Vec::new();
    let toplevel = if setup.has_toplevel && !a.include_nested {
        "AND s.toplevel"
    } else {
        if a.include_nested && setup.has_toplevel {
            notes.push(
                "Nested statements are included: their time is also in their caller's.".into(),
            );
        }
        ""
    };
    let view = &setup.view;
    // The tool's own query carries a marker and is left out.
    let sql = format!(
        "/* pgmcp:pg_stat_statements */ WITH s AS ( \
           SELECT s.queryid, s.userid::regrole::text AS \"user\", s.query AS full_query, \
                  s.calls, s.rows, s.{total}::float8 AS total_time_ms, s.{mean}::float8 AS mean_time_ms, \
                  s.{max}::float8 AS max_time_ms, {plan}::float8 AS plan_time_ms, \
                  s.shared_blks_hit, s.shared_blks_read, s.shared_blks_dirtied, s.shared_blks_written, \
                  s.local_blks_hit, s.local_blks_read, s.temp_blks_read, s.temp_blks_written, \
                  {io_read}::float8 AS io_read_time_ms, {wal} AS wal_bytes \
             FROM {view} s \
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
              AND s.calls >= $1 {toplevel} \
              AND strpos(s.query, '/* pgmcp:pg_stat_statements */') = 0) \
         SELECT queryid, \"user\", left(full_query, $2) AS query, length(full_query) > $2 AS query_truncated, \
                calls, rows, total_time_ms, mean_time_ms, max_time_ms, plan_time_ms, \
                shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written, \
                local_blks_hit, local_blks_read, temp_blks_read, temp_blks_written, \
                CASE WHEN shared_blks_hit + shared_blks_read > 0 \
                     THEN shared_blks_hit::float8 / (shared_blks_hit + shared_blks_read) END AS hit_ratio, \
                CASE WHEN {io_read_present} THEN io_read_time_ms END AS io_read_time_ms, wal_bytes, \
                coalesce(total_time_ms / nullif(sum(total_time_ms) OVER (), 0), 0) AS share_of_total_time, \
                count(*) OVER () AS _total \
           FROM s ORDER BY {order} DESC, queryid LIMIT $3",
        io_read_present = if io_read.starts_with("NULL") {
            "false"
        } else {
            "true"
        }
    );
    let params = [
        Value::from(a.min_calls.unwrap_or(1)),
        Value::from(max_chars),
        Value::from(a.limit),
    ];
    let rows = read_rows(&ctx, &sql, &params).await.map_err(pss_error)?;
    let total_count = rows
        .first()
        .and_then(|r| r.get("_total"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|mut r| {
            if let Value::Object(m) = &mut r {
                m.remove("_total");
            }
            r
        })
        .collect();
    let statements: Vec<StatementStats> = decode_camel(rows)?;
    let window = if setup.has_info {
        let info = read_rows(
            &ctx,
            &format!(
                "SELECT stats_reset::text AS stats_reset, dealloc FROM {}.pg_stat_statements_info",
                quote_ident(&setup.schema)
            ),
            &[],
        )
        .await?;
        decode_camel::<StatementsWindow>(info)?
            .into_iter()
            .next()
            .unwrap_or(StatementsWindow {
                stats_reset: None,
                dealloc: None,
            })
    } else {
        StatementsWindow {
            stats_reset: None,
            dealloc: None,
        }
    };
    if window.dealloc.unwrap_or(0) > 0 {
        notes.push(format!(
            "{} entries were evicted since the last reset (pg_stat_statements.max reached): the statistics are incomplete; consider raising pg_stat_statements.max.",
            window.dealloc.unwrap_or(0)
        ));
    }
    Ok(StatStatements {
        database: setup.database,
        extension_version: setup.version,
        order_by: a.order_by,
        truncated: total_count > statements.len() as i64,
        total_count,
        statements,
        window,
        notes,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stat_activity

const STAT_ACTIVITY: Spec = Spec {
    name: "pg_stat_activity",
    title: "Current sessions (pg_stat_activity)",
    description: "Sessions of the server from pg_stat_activity: pid, user, database, application, client, state, wait event, the pids blocking it, transaction/query/state ages in seconds, and the query (cut to `queryMaxChars`).\nBy default only client backends that are not idle, and not pgmcp's own connections (`includeOwn`); filters: `database`, `user`, `state`, `minDurationSeconds`. Sessions idle in a transaction are flagged (`idleInTransaction`) and counted: they hold locks and the xmin horizon.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatActivityArgs {
    /// Include idle sessions.
    #[serde(default)]
    pub include_idle: bool,
    /// Include background processes (autovacuum, walwriter, …), not only client backends.
    #[serde(default)]
    pub include_background: bool,
    /// Include pgmcp's own pooled connections (same application_name as this server's).
    #[serde(default)]
    pub include_own: bool,
    /// Only sessions of this database.
    pub database: Option<String>,
    /// Only sessions of this user.
    pub user: Option<String>,
    /// Only sessions in this state (`active`, `idle in transaction`, …).
    pub state: Option<String>,
    /// Only sessions whose current query (or, when idle, state) is at least this old.
    pub min_duration_seconds: Option<f64>,
    /// Sessions returned, 1–1000 (default 100); the longest-running first.
    #[serde(default = "default_limit_100")]
    pub limit: u32,
    /// Characters of query text kept, 20–10000 (default 300).
    pub query_max_chars: Option<u32>,
}

/// One session.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// Client address (absent for Unix sockets and background processes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    pub backend_type: String,
    /// active, idle, idle in transaction, idle in transaction (aborted), fastpath function call, disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_event: Option<String>,
    /// Pids holding a lock this session waits for (pg_blocking_pids); empty when not blocked.
    pub blocked_by: Vec<i32>,
    /// Idle inside an open transaction: holds its locks and snapshot while doing nothing.
    pub idle_in_transaction: bool,
    /// Seconds since the transaction began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xact_age_seconds: Option<f64>,
    /// Seconds since the current (or last) query began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_age_seconds: Option<f64>,
    /// Seconds since the state last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_age_seconds: Option<f64>,
    /// The current (or, when idle, last) query, cut to queryMaxChars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatActivity {
    pub sessions: Vec<Session>,
    /// Sessions that matched, before `limit`.
    pub total_count: i64,
    pub truncated: bool,
    /// Matched sessions per state (`null` state under "none").
    pub counts_by_state: BTreeMap<String, i64>,
    /// Pids idle in a transaction, the oldest transaction first.
    pub idle_in_transaction: Vec<i32>,
}

const SESSION_COLUMNS: &str = "a.pid, a.datname::text AS database, a.usename::text AS \"user\", \
    nullif(a.application_name, '') AS application, host(a.client_addr) AS client_addr, \
    a.backend_type, a.state, a.wait_event_type, a.wait_event, \
    CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) ELSE '{}'::int4[] END AS blocked_by, \
    coalesce(a.state LIKE 'idle in transaction%', false) AS idle_in_transaction, \
    round(extract(epoch FROM now() - a.xact_start)::numeric, 3)::float8 AS xact_age_seconds, \
    round(extract(epoch FROM now() - a.query_start)::numeric, 3)::float8 AS query_age_seconds, \
    round(extract(epoch FROM now() - a.state_change)::numeric, 3)::float8 AS state_age_seconds";

async fn stat_activity(ctx: Ctx, a: StatActivityArgs) -> ToolResult<StatActivity> {
    check_range("limit", a.limit, 1, 1000)?;
    let max_chars = a.query_max_chars.unwrap_or(300);
    check_range("queryMaxChars", max_chars, 20, 10_000)?;
    let sql = format!(
        "SELECT {SESSION_COLUMNS}, left(a.query, $1) AS query, count(*) OVER () AS _total \
           FROM pg_stat_activity a \
          WHERE a.pid <> pg_backend_pid() \
            AND ($2 OR a.backend_type = 'client backend') \
            AND ($3 OR a.state IS DISTINCT FROM 'idle') \
            AND ($4 OR a.application_name IS DISTINCT FROM current_setting('application_name')) \
            AND ($5::text IS NULL OR a.datname = $5) \
            AND ($6::text IS NULL OR a.usename = $6) \
            AND ($7::text IS NULL OR a.state = $7) \
            AND ($8::float8 IS NULL OR extract(epoch FROM now() - \
                 CASE WHEN a.state = 'active' THEN a.query_start ELSE a.state_change END) >= $8) \
          ORDER BY coalesce(a.xact_start, a.query_start, a.backend_start) ASC NULLS LAST, a.pid \
          LIMIT $9"
    );
    let params = [
        Value::from(max_chars),
        Value::from(a.include_background),
        Value::from(a.include_idle || a.state.as_deref() == Some("idle")),
        Value::from(a.include_own),
        Value::from(a.database.clone()),
        Value::from(a.user.clone()),
        Value::from(a.state.clone()),
        Value::from(a.min_duration_seconds),
        Value::from(a.limit),
    ];
    let mut rows = read_rows(&ctx, &sql, &params).await?;
    let total_count = strip_total(&mut rows);
    let sessions: Vec<Session> = decode_camel(rows)?;
    let mut counts_by_state = BTreeMap::new();
    for s in &sessions {
        *counts_by_state
            .entry(s.state.clone().unwrap_or_else(|| "none".into()))
            .or_insert(0) += 1;
    }
    let idle_in_transaction = sessions
        .iter()
        .filter(|s| s.idle_in_transaction)
        .map(|s| s.pid)
        .collect();
    Ok(StatActivity {
        truncated: total_count > sessions.len() as i64,
        total_count,
        sessions,
        counts_by_state,
        idle_in_transaction,
    })
}

fn strip_total(rows: &mut [Value]) -> i64 {
    let total = rows
        .first()
        .and_then(|r| r.get("_total"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    for r in rows.iter_mut() {
        if let Value::Object(m) = r {
            m.remove("_total");
        }
    }
    total
}

// ---------------------------------------------------------------------------------------
// pg_locks

const LOCKS: Spec = Spec {
    name: "pg_locks",
    title: "Lock waits and the blocking tree",
    description: "Who blocks whom: every session waiting for a lock, with the lock it waits for (type, mode, relation) and the sessions blocking it (pg_blocking_pids: relation, row/transaction, advisory locks alike), arranged as a tree from each root blocker (a blocker that waits for nobody, often `idle in transaction`) down to its waiters.\n`tree` is in pre-order with `depth` (0 = root); `blocksTotal` counts every session waiting behind a node, transitively. With `includeLocks`, also the locks held or awaited in the current database.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LocksArgs {
    /// Also list the locks of the current database (granted and awaited), up to `limit`.
    #[serde(default)]
    pub include_locks: bool,
    /// Most lock rows listed with includeLocks, 1–1000 (default 100).
    #[serde(default = "default_limit_100")]
    pub limit: u32,
    /// Characters of query text kept, 20–10000 (default 300).
    pub query_max_chars: Option<u32>,
}

/// The lock a session waits for.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct AwaitedLock {
    /// relation, transactionid, tuple, advisory, …
    pub locktype: String,
    /// e.g. AccessExclusiveLock.
    pub mode: String,
    /// The relation, when the lock is on one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Seconds waited (PG14+ `waitstart`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<f64>,
}

/// A session in the blocking tree.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockNode {
    pub pid: i32,
    /// 0 for a root blocker; a waiter is one deeper than the blocker it is listed under.
    pub depth: u32,
    /// Sessions this one blocks directly.
    pub blocks: Vec<i32>,
    /// Sessions waiting behind this one, transitively.
    pub blocks_total: usize,
    pub blocked_by: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<AwaitedLock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub idle_in_transaction: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xact_age_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_age_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// One row of pg_locks.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub locktype: String,
    pub mode: String,
    pub granted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Locks {
    /// Sessions waiting for a lock.
    pub waiting_count: usize,
    /// Root blockers: they block others and wait for nobody.
    pub roots: Vec<i32>,
    /// The blocking tree, pre-order from each root (a session blocked by several appears
    /// under each).
    pub tree: Vec<LockNode>,
    /// With includeLocks: the current database's locks, awaited first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks: Option<Vec<LockRow>>,
    /// Notes (e.g. a cycle, which the deadlock detector resolves).
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LockSession {
    pid: i32,
    database: Option<String>,
    user: Option<String>,
    application: Option<String>,
    state: Option<String>,
    #[serde(default)]
    blocked_by: Vec<i32>,
    idle_in_transaction: bool,
    xact_age_seconds: Option<f64>,
    query_age_seconds: Option<f64>,
    query: Option<String>,
    waiting_for: Option<AwaitedLock>,
}

async fn locks(ctx: Ctx, a: LocksArgs) -> ToolResult<Locks> {
    check_range("limit", a.limit, 1, 1000)?;
    let max_chars = a.query_max_chars.unwrap_or(300);
    check_range("queryMaxChars", max_chars, 20, 10_000)?;
    let has_waitstart = !read_rows(
        &ctx,
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'pg_catalog.pg_locks'::regclass \
           AND attname = 'waitstart' AND NOT attisdropped",
        &[],
    )
    .await?
    .is_empty();
    let wait_seconds = if has_waitstart {
        "round(extract(epoch FROM now() - l.waitstart)::numeric, 3)::float8"
    } else {
        "NULL::float8"
    };
    // Waiting sessions (pg_blocking_pids only for them: it takes the lock manager's
    // partition locks), then every blocker they name.
    let sql = format!(
        "WITH w AS ( \
           SELECT a.pid, pg_blocking_pids(a.pid) AS blocked_by FROM pg_stat_activity a \
            WHERE a.wait_event_type = 'Lock' AND a.pid <> pg_backend_pid()), \
         p AS (SELECT pid FROM w UNION SELECT unnest(blocked_by) FROM w) \
         SELECT a.pid, a.datname::text AS database, a.usename::text AS \"user\", \
                nullif(a.application_name, '') AS application, a.state, \
                coalesce(w.blocked_by, '{{}}'::int4[]) AS blocked_by, \
                coalesce(a.state LIKE 'idle in transaction%', false) AS idle_in_transaction, \
                round(extract(epoch FROM now() - a.xact_start)::numeric, 3)::float8 AS xact_age_seconds, \
                round(extract(epoch FROM now() - a.query_start)::numeric, 3)::float8 AS query_age_seconds, \
                left(a.query, $1) AS query, \
                (SELECT jsonb_strip_nulls(jsonb_build_object('locktype', l.locktype, 'mode', l.mode, \
                        'relation', l.relation::regclass::text, 'wait_seconds', {wait_seconds})) \
                   FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) AS waiting_for \
           FROM p JOIN pg_stat_activity a ON a.pid = p.pid LEFT JOIN w ON w.pid = a.pid \
          ORDER BY a.pid"
    );
    let rows = read_rows(&ctx, &sql, &[Value::from(max_chars)]).await?;
    let sessions: Vec<LockSession> = decode_camel(rows)?;
    let (roots, tree, notes) = blocking_tree(sessions);
    let waiting_count = tree
        .iter()
        .filter(|n| !n.blocked_by.is_empty())
        .map(|n| n.pid)
        .collect::<BTreeSet<_>>()
        .len();
    let locks = if a.include_locks {
        let rows = read_rows(
            &ctx,
            "SELECT l.pid, l.locktype, l.mode, l.granted, l.relation::regclass::text AS relation \
               FROM pg_locks l \
              WHERE (l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     OR l.locktype IN ('transactionid', 'virtualxid')) \
                AND l.pid IS DISTINCT FROM pg_backend_pid() \
              ORDER BY l.granted, l.pid, l.locktype, l.mode LIMIT $1",
            &[Value::from(a.limit)],
        )
        .await?;
        Some(decode(rows)?)
    } else {
        None
    };
    Ok(Locks {
        waiting_count,
        roots,
        tree,
        locks,
        notes,
    })
}

/// Arranges waiting sessions under their blockers: roots are blockers that wait for nobody
/// (in a cycle, the lowest pid stands in as root), listed by how many they block.
fn blocking_tree(sessions: Vec<LockSession>) -> (Vec<i32>, Vec<LockNode>, Vec<String>) {
    let by_pid: BTreeMap<i32, &LockSession> = sessions.iter().map(|s| (s.pid, s)).collect();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for s in &sessions {
        for b in &s.blocked_by {
            children.entry(*b).or_default().push(s.pid);
        }
    }
    fn reach(pid: i32, children: &BTreeMap<i32, Vec<i32>>, seen: &mut BTreeSet<i32>) {
        for c in children.get(&pid).into_iter().flatten() {
            if seen.insert(*c) {
                reach(*c, children, seen);
            }
        }
    }
    let total = |pid: i32| {
        let mut seen = BTreeSet::new();
        reach(pid, &children, &mut seen);
        seen.remove(&pid);
        seen.len()
    };
    let mut roots: Vec<i32> = sessions
        .iter()
        .filter(|s| s.blocked_by.is_empty() && children.contains_key(&s.pid))
        .map(|s| s.pid)
        .collect();
    let mut notes = Vec::new();
    // Waiters not reachable from any root are in a cycle (a deadlock about to be broken).
    let mut covered = BTreeSet::new();
    for r in &roots {
        covered.insert(*r);
        reach(*r, &children, &mut covered);
    }
    for s in &sessions {
        if !covered.contains(&s.pid) && !s.blocked_by.is_empty() {
            notes.push(format!(
                "pid {} is in a lock cycle (a deadlock the server resolves after deadlock_timeout); shown as a root",
                s.pid
            ));
            roots.push(s.pid);
            covered.insert(s.pid);
            reach(s.pid, &children, &mut covered);
        }
    }
    roots.sort_by_key(|r| (std::cmp::Reverse(total(*r)), *r));
    let mut tree = Vec::new();
    fn visit(
        pid: i32,
        depth: u32,
        path: &mut Vec<i32>,
        by_pid: &BTreeMap<i32, &LockSession>,
        children: &BTreeMap<i32, Vec<i32>>,
        total: &dyn Fn(i32) -> usize,
        out: &mut Vec<LockNode>,
    ) {
        let s = by_pid.get(&pid);
        let blocks = children.get(&pid).cloned().unwrap_or_default();
        out.push(LockNode {
            pid,
            depth,
            blocks: blocks.clone(),
            blocks_total: total(pid),
            blocked_by: s.map(|s| s.blocked_by.clone()).unwrap_or_default(),
            waiting_for: s.and_then(|s| s.waiting_for.clone()),
            database: s.and_then(|s| s.database.clone()),
            user: s.and_then(|s| s.user.clone()),
            application: s.and_then(|s| s.application.clone()),
            state: s.and_then(|s| s.state.clone()),
            idle_in_transaction: s.is_some_and(|s| s.idle_in_transaction),
            xact_age_seconds: s.and_then(|s| s.xact_age_seconds),
            query_age_seconds: s.and_then(|s| s.query_age_seconds),
            query: s.and_then(|s| s.query.clone()),
        });
        path.push(pid);
        for c in blocks {
            if !path.contains(&c) {
                visit(c, depth + 1, path, by_pid, children, total, out);
            }
        }
        path.pop();
    }
    for r in &roots {
        visit(
            *r,
            0,
            &mut Vec::new(),
            &by_pid,
            &children,
            &total,
            &mut tree,
        );
    }
    (roots, tree, notes)
}
