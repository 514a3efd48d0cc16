//! `pg_diagnose_database_performance` (one-call triage built from the health checks) and
//! `pg_performance_baseline` (a stateless snapshot, and deltas against a previous one)
//! (issue 10, DBA toolkit item 1).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::GROUP;
use super::alerts::{Level, thresholds};
use super::connections::backends;
use super::health::{
    CacheOptions, Check, Evidence, Finding, Ratio, RiskOptions, Scope, SeqScanOptions, Severity,
    Status, check_cache, check_connections, check_seq_scans, finding, positive, risk_findings,
    round, rows, stats_window, vacuum_findings, vacuum_rows,
};
use super::workload::{pss_error, pss_view};
use crate::error::{Code, ToolError, ToolResult};
use crate::tools::catalog::Int8;
use crate::tools::exec::read_rows;
use crate::tools::{Ctx, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![
        DIAGNOSE.tool(GROUP, diagnose_database_performance),
        BASELINE.tool(GROUP, performance_baseline),
    ]
}

// ---------------------------------------------------------------------------------------
// Top statements (shared by both tools).

/// A statement of pg_stat_statements, by total execution time.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TopStatement {
    /// pg_stat_statements' query identifier.
    pub queryid: Int8,
    /// Normalized text, cut to 200 characters.
    pub query: String,
    pub calls: i64,
    pub rows: i64,
    /// Execution time over all calls, ms.
    pub total_time_ms: f64,
    pub mean_time_ms: f64,
    /// This statement's share of the execution time of all top-level statements of the
    /// database, 0–1.
    pub share_of_total_time: f64,
}

/// The current database's top-level statements by total execution time, or why there are
/// none (the extension is missing or not loaded).
async fn top_statements(ctx: &Ctx, limit: i64) -> ToolResult<Result<Vec<TopStatement>, String>> {
    let setup = match pss_view(ctx).await {
        Ok(s) => s,
        Err(e) if e.code == Code::ExtensionMissing => {
            return Ok(Err(format!(
                "{}; {}",
                e.error,
                e.suggestion.unwrap_or_default()
            )));
        }
        Err(e) => return Err(e),
    };
    let mean = if setup.has("mean_exec_time") {
        "mean_exec_time"
    } else {
        "mean_time"
    };
    let toplevel = if setup.has_toplevel {
        "AND s.toplevel"
    } else {
        ""
    };
    let sql = format!(
        "/* pgmcp:top_statements */ WITH s AS ( \
           SELECT s.queryid, left(s.query, 200) AS query, s.calls, s.rows, \
                  s.{total}::float8 AS total_time_ms, s.{mean}::float8 AS mean_time_ms \
             FROM {view} s \
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) {toplevel} \
              AND strpos(s.query, '/* pgmcp:') = 0) \
         SELECT queryid, query, calls, rows, total_time_ms, mean_time_ms, \
                coalesce(total_time_ms / nullif(sum(total_time_ms) OVER (), 0), 0)::float8 AS share_of_total_time \
           FROM s ORDER BY total_time_ms DESC, queryid LIMIT $1",
        total = setup.total_time,
        view = setup.view
    );
    match read_rows(ctx, &sql, &[json!(limit)])
        .await
        .map_err(pss_error)
    {
        Ok(r) => {
            let mut out: Vec<TopStatement> = super::workload::decode_camel(r)?;
            for s in &mut out {
                s.total_time_ms = round(s.total_time_ms, 3);
                s.mean_time_ms = round(s.mean_time_ms, 3);
                s.share_of_total_time = round(s.share_of_total_time, 4);
            }
            Ok(Ok(out))
        }
        Err(e) if e.code == Code::ExtensionMissing => Ok(Err(format!(
            "{}; {}",
            e.error,
            e.suggestion.unwrap_or_default()
        ))),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------
// pg_diagnose_database_performance

const DIAGNOSE: Spec = Spec {
    name: "pg_diagnose_database_performance",
    title: "Performance triage",
    description: "One-call performance triage of the current database, each area with its status and findings (the health checks' shape: severity, check, object, evidence, fix): cache, seqScans, deadTuples, locks, longQueries, connections, plus the top statements.\n- cache: buffer cache hit ratios (the cache_hit_ratio alert thresholds, initially warning below 0.99, critical below 0.95; from 1000 blocks);\n- seqScans: tables read by sequential scans (at least 100 scans and 10000 rows);\n- deadTuples: vacuum due, and bloat risk (at least 1000 dead tuples, and the dead_tuples alert thresholds, initially 10% of the rows, critical from 50% with autovacuum off);\n- locks: sessions waiting for a lock at least `lockWaitSeconds` (default 5), with the blocking pids;\n- longQueries: queries active at least `longQuerySeconds` (warning; critical from 6×; default: the long_running_queries alert thresholds, initially 300 and 1800);\n- connections: usage of the usable connections (the connection_usage alert thresholds, initially 80% and 95%) and sessions idle in a transaction at least `idleInTransactionSeconds` (warning; critical from 6×; default: the idle_in_transaction alert thresholds, initially 300 and 1800).\nAlso the hit ratios, connection counts and, when pg_stat_statements is installed, the `topN` (default 5) statements by total time (else a note why not). `schema` limits the table checks.",
    hints: READ,
    shortcuts: &[],
};

fn default_top_n() -> u32 {
    5
}
fn default_lock_wait() -> f64 {
    5.0
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiagnoseArgs {
    /// Only this schema for the table checks (cache per table, seqScans, deadTuples).
    pub schema: Option<String>,
    /// Statements and tables listed, 1–100 (default 5).
    #[serde(default = "default_top_n")]
    pub top_n: u32,
    /// A lock wait this long (seconds) is a finding (default 5).
    #[serde(default = "default_lock_wait")]
    pub lock_wait_seconds: f64,
    /// A query active this long (seconds) is a warning, 6× as long critical (default: the
    /// long_running_queries alert thresholds, initially 300 and 1800).
    pub long_query_seconds: Option<f64>,
    /// Idle in transaction this long (seconds) is a warning, 6× as long critical (default:
    /// the idle_in_transaction alert thresholds, initially 300 and 1800).
    pub idle_in_transaction_seconds: Option<f64>,
}

/// An area of the triage.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Area {
    Cache,
    SeqScans,
    DeadTuples,
    Locks,
    LongQueries,
    Connections,
}

/// One area's result.
#[derive(Serialize, JsonSchema)]
pub struct AreaReport {
    pub area: Area,
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// Hit ratios of the current database.
#[derive(Serialize, JsonSchema)]
pub struct CacheSummary {
    /// All blocks of the database (pg_stat_database).
    pub database: Ratio,
    /// Table blocks of the user tables in scope.
    pub heap: Ratio,
    /// Index blocks of the user tables in scope.
    pub index: Ratio,
}

/// Client connections of the server.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSummary {
    pub connections: i64,
    /// Of them, connected to the current database.
    pub this_database: i64,
    /// Client backends per state.
    pub by_state: BTreeMap<String, i64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The worst status of any area.
    pub overall: Status,
    pub areas: Vec<AreaReport>,
    pub cache_hit_ratio: CacheSummary,
    pub connections: ConnectionSummary,
    /// The statements with the most total execution time (absent without pg_stat_statements).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_statements: Option<Vec<TopStatement>>,
    /// Why topStatements is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements_note: Option<String>,
    /// At least how long the statistics have been collected, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_window_seconds: Option<i64>,
}

fn non_negative(v: f64, what: &str) -> ToolResult<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "{what} must be a non-negative number of seconds, got {v}"
        )))
    }
}

/// Sessions of the current database waiting for a lock for at least `min_seconds`.
async fn check_lock_waits(ctx: &Ctx, min_seconds: f64) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct R {
        pid: i64,
        seconds: f64,
        blockers: Vec<i64>,
        user: Option<String>,
        query: Option<String>,
    }
    let found: Vec<R> = rows(
        ctx,
        "SELECT pid::int8 AS pid, extract(epoch FROM now() - coalesce(state_change, query_start))::float8 AS seconds, \
           pg_blocking_pids(pid)::int8[] AS blockers, usename::text AS \"user\", left(query, 200) AS query \
         FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() \
           AND now() - coalesce(state_change, query_start) >= make_interval(secs => $1::float8) \
         ORDER BY seconds DESC, pid",
        &[json!(min_seconds)],
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|r| {
            let list = r
                .blockers
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let mut f = finding(
                Severity::Warning,
                Check::LockWait,
                format!("pid {}", r.pid),
                format!(
                    "-- what the blockers are doing (a blocker idle in transaction is the usual cause):\nSELECT pid, state, now() - xact_start AS in_transaction, query FROM pg_stat_activity WHERE pid IN ({list});\n-- end a blocker if it must go:\n-- SELECT pg_terminate_backend(<pid>);"
                ),
            );
            f.evidence = Evidence {
                pid: Some(r.pid),
                seconds: Some(round(r.seconds, 1)),
                blocking_pids: Some(r.blockers),
                ..Evidence::default()
            };
            f.note = Some(format!(
                "user {} waits: {}",
                r.user.unwrap_or_default(),
                r.query.unwrap_or_default()
            ));
            f
        })
        .collect())
}

/// Queries of the current database active for at least `level.warning` seconds (critical
/// from `level.critical`).
async fn check_long_queries(ctx: &Ctx, level: Level) -> ToolResult<Vec<Finding>> {
    let min_seconds = level.warning;
    #[derive(Deserialize)]
    struct R {
        pid: i64,
        seconds: f64,
        user: Option<String>,
        query: Option<String>,
    }
    let found: Vec<R> = rows(
        ctx,
        "SELECT pid::int8 AS pid, extract(epoch FROM now() - query_start)::float8 AS seconds, \
           usename::text AS \"user\", left(query, 200) AS query \
         FROM pg_stat_activity \
         WHERE datname = current_database() AND state = 'active' AND backend_type = 'client backend' \
           AND pid <> pg_backend_pid() AND now() - query_start >= make_interval(secs => $1::float8) \
         ORDER BY seconds DESC, pid",
        &[json!(min_seconds)],
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|r| {
            let mut f = finding(
                if r.seconds >= level.critical {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                Check::LongRunningQuery,
                format!("pid {}", r.pid),
                format!(
                    "-- cancel the query (the session stays):\nSELECT pg_cancel_backend({});",
                    r.pid
                ),
            );
            f.evidence = Evidence {
                pid: Some(r.pid),
                seconds: Some(round(r.seconds, 1)),
                ..Evidence::default()
            };
            f.note = Some(format!(
                "user {}: {}",
                r.user.unwrap_or_default(),
                r.query.unwrap_or_default()
            ));
            f
        })
        .collect())
}

async fn diagnose_database_performance(ctx: Ctx, a: DiagnoseArgs) -> ToolResult<Diagnosis> {
    if !(1..=100).contains(&a.top_n) {
        return Err(ToolError::invalid(format!(
            "topN must be between 1 and 100 (got {})",
            a.top_n
        )));
    }
    let lock_wait = non_negative(a.lock_wait_seconds, "lockWaitSeconds")?;
    let levels = thresholds(&ctx);
    // An explicit argument is the warning level, 6× it critical; else the alert thresholds.
    let six = |v: f64| Level {
        warning: v,
        critical: v * 6.0,
    };
    let long_query = match a.long_query_seconds {
        Some(v) => six(non_negative(v, "longQuerySeconds")?),
        None => levels.long_running_queries,
    };
    let idle = match a.idle_in_transaction_seconds {
        Some(v) => six(non_negative(v, "idleInTransactionSeconds")?),
        None => levels.idle_in_transaction,
    };
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let top_n = i64::from(a.top_n);
    let mut areas = Vec::new();
    let mut push = |area: Area, findings: Vec<Finding>| {
        areas.push(AreaReport {
            area,
            status: Status::of(&findings),
            findings,
        })
    };
    let cache = check_cache(
        &ctx,
        &scope,
        CacheOptions {
            warn_below: levels.cache_hit_ratio.warning,
            critical_below: levels.cache_hit_ratio.critical,
            min_blocks: 1000,
            limit: top_n,
        },
    )
    .await?;
    push(Area::Cache, cache.findings);
    push(
        Area::SeqScans,
        check_seq_scans(
            &ctx,
            &scope,
            SeqScanOptions {
                min_seq_scans: 100,
                min_rows: 10_000,
                limit: top_n,
            },
        )
        .await?,
    );
    let window = stats_window(&ctx).await?;
    let tables = vacuum_rows(&ctx, &scope, None).await?;
    let mut dead: Vec<Finding> = vacuum_findings(&tables, 86_400)
        .into_iter()
        .filter(|f| f.check == Check::VacuumDue)
        .collect();
    dead.extend(risk_findings(
        &tables,
        window,
        RiskOptions {
            min_dead_ratio: levels.dead_tuples.warning,
            critical_dead_ratio: levels.dead_tuples.critical,
            min_dead_tuples: 1000,
        },
    ));
    push(Area::DeadTuples, dead);
    push(Area::Locks, check_lock_waits(&ctx, lock_wait).await?);
    push(
        Area::LongQueries,
        check_long_queries(&ctx, long_query).await?,
    );
    push(
        Area::Connections,
        check_connections(&ctx, levels.connection_usage, idle).await?,
    );
    let all = backends(&ctx).await?;
    let db = super::health::current_database(&ctx).await?;
    let mut by_state = BTreeMap::new();
    for b in &all {
        *by_state
            .entry(b.state.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    let (top_statements, statements_note) = match top_statements(&ctx, top_n).await? {
        Ok(s) => (Some(s), None),
        Err(why) => (None, Some(why)),
    };
    Ok(Diagnosis {
        overall: areas.iter().map(|a| a.status).max().unwrap_or(Status::Ok),
        areas,
        cache_hit_ratio: CacheSummary {
            database: cache.database,
            heap: cache.heap,
            index: cache.index,
        },
        connections: ConnectionSummary {
            connections: all.len() as i64,
            this_database: all
                .iter()
                .filter(|b| b.database.as_deref() == Some(db.as_str()))
                .count() as i64,
            by_state,
        },
        top_statements,
        statements_note,
        stats_window_seconds: window,
    })
}

// ---------------------------------------------------------------------------------------
// pg_performance_baseline

const BASELINE: Spec = Spec {
    name: "pg_performance_baseline",
    title: "Performance snapshot and deltas",
    description: "A snapshot of the current database's cumulative statistics (pg_stat_database: commits, rollbacks, blocks hit/read, tuples returned/fetched/inserted/updated/deleted, temp files and bytes, deadlocks; its client connections; and, with pg_stat_statements, the `topStatements` (default 10, 0 for none) statements by total time). Nothing is stored on the server: pass a snapshot back as `baseline` to get the deltas and per-second rates since it was taken, with the window's hit ratio and, per statement, the calls and time in the window. A baseline from another database is refused; after a statistics reset the deltas are withheld (`notes` says so).",
    hints: READ,
    shortcuts: &[],
};

fn default_top_statements() -> u32 {
    10
}

/// A statement's counters at capture time.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatementCounters {
    pub queryid: Int8,
    /// Normalized text, cut to 200 characters.
    pub query: String,
    pub calls: i64,
    /// Execution time over all calls, ms.
    pub total_time_ms: f64,
}

/// Cumulative statistics of one database at one moment; pass it back as `baseline`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Snapshot {
    /// The label given with `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub database: String,
    /// The server's time of the capture (timestamptz text).
    pub captured_at: String,
    /// The same, as seconds since the Unix epoch.
    pub epoch: f64,
    /// When the database's statistics were last reset (absent: never since initdb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_reset: Option<String>,
    pub xact_commit: i64,
    pub xact_rollback: i64,
    pub blks_hit: i64,
    pub blks_read: i64,
    pub tup_returned: i64,
    pub tup_fetched: i64,
    pub tup_inserted: i64,
    pub tup_updated: i64,
    pub tup_deleted: i64,
    pub temp_files: i64,
    pub temp_bytes: i64,
    pub deadlocks: i64,
    /// Client connections to this database at capture time.
    pub connections: i64,
    /// Of them, active.
    pub active_connections: i64,
    /// Top statements by total time at capture time (absent without pg_stat_statements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statements: Option<Vec<StatementCounters>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BaselineArgs {
    /// A label kept in the snapshot.
    pub name: Option<String>,
    /// A snapshot returned by an earlier call: the result then has the deltas since it.
    pub baseline: Option<Snapshot>,
    /// Statements kept in the snapshot, 0–100 (default 10).
    #[serde(default = "default_top_statements")]
    pub top_statements: u32,
}

/// A counter's change since the baseline, and its rate.
#[derive(Serialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delta {
    pub delta: i64,
    pub per_second: f64,
}

/// A statement's calls and time in the window.
#[derive(Serialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatementDelta {
    pub queryid: Int8,
    pub query: String,
    pub calls: i64,
    pub calls_per_second: f64,
    /// Execution time in the window, ms.
    pub total_time_ms: f64,
    /// totalTimeMs / calls in the window; absent without calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_time_ms: Option<f64>,
    /// Not in the baseline's top statements: its counters are since the statistics' reset
    /// (or since it was first seen), not since the baseline.
    pub new_since_baseline: bool,
}

/// The change since the baseline.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The baseline's label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_name: Option<String>,
    /// Seconds between the two captures.
    pub seconds: f64,
    /// Counters by pg_stat_database name (xact_commit, blks_read, …).
    pub counters: BTreeMap<String, Delta>,
    /// Commits + rollbacks per second.
    pub transactions_per_second: f64,
    /// Blocks hit / (hit + read) in the window; absent when no block was accessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit_ratio: Option<f64>,
    /// Connections now minus at the baseline.
    pub connections_change: i64,
    /// The current top statements' change since the baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statements: Option<Vec<StatementDelta>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Baseline {
    /// Now: pass it back as `baseline` later.
    pub snapshot: Snapshot,
    /// The deltas since `baseline` (absent without one, or after a statistics reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    pub notes: Vec<String>,
}

async fn capture(ctx: &Ctx, name: Option<String>, top: i64) -> ToolResult<(Snapshot, Vec<String>)> {
    let r = read_rows(
        ctx,
        "SELECT d.datname::text AS database, now()::text AS captured_at, \
           extract(epoch FROM now())::float8 AS epoch, d.stats_reset::text AS stats_reset, \
           d.xact_commit::int8 AS xact_commit, d.xact_rollback::int8 AS xact_rollback, \
           d.blks_hit::int8 AS blks_hit, d.blks_read::int8 AS blks_read, \
           d.tup_returned::int8 AS tup_returned, d.tup_fetched::int8 AS tup_fetched, \
           d.tup_inserted::int8 AS tup_inserted, d.tup_updated::int8 AS tup_updated, \
           d.tup_deleted::int8 AS tup_deleted, d.temp_files::int8 AS temp_files, \
           d.temp_bytes::int8 AS temp_bytes, d.deadlocks::int8 AS deadlocks, \
           (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.datid AND a.backend_type = 'client backend')::int8 AS connections, \
           (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.datid AND a.backend_type = 'client backend' AND a.state = 'active')::int8 AS active_connections \
         FROM pg_stat_database d WHERE d.datname = current_database()",
        &[],
    )
    .await?;
    let mut snap: Snapshot = super::workload::decode_camel::<Snapshot>(r)?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("no statistics for the current database"))?;
    snap.name = name;
    let mut notes = Vec::new();
    if top > 0 {
        match top_statements(ctx, top).await? {
            Ok(s) => {
                snap.statements = Some(
                    s.into_iter()
                        .map(|s| StatementCounters {
                            queryid: s.queryid,
                            query: s.query,
                            calls: s.calls,
                            total_time_ms: s.total_time_ms,
                        })
                        .collect(),
                )
            }
            Err(why) => notes.push(format!("No statements: {why}")),
        }
    }
    Ok((snap, notes))
}

fn compare(base: &Snapshot, now: &Snapshot) -> Comparison {
    let seconds = (now.epoch - base.epoch).max(0.0);
    let rate = |d: i64| {
        if seconds > 0.0 {
            round(d as f64 / seconds, 3)
        } else {
            0.0
        }
    };
    let pairs: [(&str, i64, i64); 13] = [
        ("xact_commit", base.xact_commit, now.xact_commit),
        ("xact_rollback", base.xact_rollback, now.xact_rollback),
        ("blks_hit", base.blks_hit, now.blks_hit),
        ("blks_read", base.blks_read, now.blks_read),
        ("tup_returned", base.tup_returned, now.tup_returned),
        ("tup_fetched", base.tup_fetched, now.tup_fetched),
        ("tup_inserted", base.tup_inserted, now.tup_inserted),
        ("tup_updated", base.tup_updated, now.tup_updated),
        ("tup_deleted", base.tup_deleted, now.tup_deleted),
        ("temp_files", base.temp_files, now.temp_files),
        ("temp_bytes", base.temp_bytes, now.temp_bytes),
        ("deadlocks", base.deadlocks, now.deadlocks),
        ("connections", base.connections, now.connections),
    ];
    let counters: BTreeMap<String, Delta> = pairs
        .iter()
        .filter(|(k, _, _)| *k != "connections")
        .map(|(k, b, n)| {
            (
                k.to_string(),
                Delta {
                    delta: n - b,
                    per_second: rate(n - b),
                },
            )
        })
        .collect();
    let hit = now.blks_hit - base.blks_hit;
    let read = now.blks_read - base.blks_read;
    let statements = now.statements.as_ref().map(|cur| {
        cur.iter()
            .map(|s| {
                let before = base
                    .statements
                    .iter()
                    .flatten()
                    .find(|b| b.queryid == s.queryid && b.calls <= s.calls);
                let (calls, time) = match before {
                    Some(b) => (s.calls - b.calls, s.total_time_ms - b.total_time_ms),
                    None => (s.calls, s.total_time_ms),
                };
                StatementDelta {
                    queryid: s.queryid.clone(),
                    query: s.query.clone(),
                    calls,
                    calls_per_second: rate(calls),
                    total_time_ms: round(time, 3),
                    mean_time_ms: (calls > 0).then(|| round(time / calls as f64, 3)),
                    new_since_baseline: before.is_none(),
                }
            })
            .collect()
    });
    Comparison {
        baseline_name: base.name.clone(),
        seconds: round(seconds, 3),
        transactions_per_second: rate(
            (now.xact_commit - base.xact_commit) + (now.xact_rollback - base.xact_rollback),
        ),
        hit_ratio: (hit + read > 0).then(|| round(hit as f64 / (hit + read) as f64, 4)),
        connections_change: now.connections - base.connections,
        counters,
        statements,
    }
}

async fn performance_baseline(ctx: Ctx, a: BaselineArgs) -> ToolResult<Baseline> {
    if a.top_statements > 100 {
        return Err(ToolError::invalid(format!(
            "topStatements must be between 0 and 100 (got {})",
            a.top_statements
        )));
    }
    let top = positive(a.top_statements.into(), "topStatements")?;
    let (snapshot, mut notes) = capture(&ctx, a.name, top).await?;
    let comparison = match a.baseline {
        None => None,
        Some(base) => {
            if base.database != snapshot.database {
                return Err(ToolError::invalid(format!(
                    "the baseline is of database '{}', this is '{}'",
                    base.database, snapshot.database
                ))
                .suggest("Compare snapshots of the same database; capture a new baseline here."));
            }
            if base.epoch > snapshot.epoch {
                return Err(ToolError::invalid(
                    "the baseline was taken after this snapshot (its epoch is later)",
                ));
            }
            let reset = base.stats_reset != snapshot.stats_reset
                || base.xact_commit > snapshot.xact_commit
                || base.blks_hit > snapshot.blks_hit;
            if reset {
                notes.push("The database's statistics were reset since the baseline: deltas are meaningless and withheld; this snapshot is the new baseline.".into());
                None
            } else {
                Some(compare(&base, &snapshot))
            }
        }
    };
    Ok(Baseline {
        snapshot,
        comparison,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(epoch: f64, commits: i64, hit: i64, read: i64, calls: i64) -> Snapshot {
        Snapshot {
            name: Some("b".into()),
            database: "d".into(),
            captured_at: String::new(),
            epoch,
            stats_reset: None,
            xact_commit: commits,
            xact_rollback: 0,
            blks_hit: hit,
            blks_read: read,
            tup_returned: 0,
            tup_fetched: 0,
            tup_inserted: 0,
            tup_updated: 0,
            tup_deleted: 0,
            temp_files: 0,
            temp_bytes: 0,
            deadlocks: 0,
            connections: 2,
            active_connections: 1,
            statements: Some(vec![StatementCounters {
                queryid: Int8::Number(7),
                query: "q".into(),
                calls,
                total_time_ms: calls as f64 * 2.0,
            }]),
        }
    }

    #[test]
    fn deltas_and_rates() {
        let c = compare(&snap(100.0, 10, 90, 10, 5), &snap(110.0, 60, 180, 20, 25));
        assert_eq!(c.seconds, 10.0);
        assert_eq!(
            c.counters["xact_commit"],
            Delta {
                delta: 50,
                per_second: 5.0
            }
        );
        assert_eq!(c.transactions_per_second, 5.0);
        assert_eq!(c.hit_ratio, Some(0.9));
        let s = &c.statements.unwrap()[0];
        assert_eq!(
            (s.calls, s.total_time_ms, s.mean_time_ms),
            (20, 40.0, Some(2.0))
        );
        assert!(!s.new_since_baseline);
    }
}
