//! Connections (issue 10, DBA toolkit item 1): `pg_detect_connection_spike` (usage,
//! concentration, idle-in-transaction sessions, as findings of the health checks' shape) and
//! `pg_connection_pool_optimize` (pooling recommendations with their evidence and reasoning).
//!
//! Both read every client backend of the server (pg_stat_activity is cluster-wide, and every
//! database's sessions count against max_connections) once, and compute in Rust.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::GROUP;
use super::alerts::{Level, thresholds};
use super::health::{
    Check, Evidence, Finding, Severity, Status, connection_usage_finding, finding, percent, round,
    rows, sql_literal,
};
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};
use crate::tools::{Ctx, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![
        DETECT_CONNECTION_SPIKE.tool(GROUP, detect_connection_spike),
        CONNECTION_POOL_OPTIMIZE.tool(GROUP, connection_pool_optimize),
    ]
}

// ---------------------------------------------------------------------------------------
// What both tools read.

/// One client backend.
#[derive(Deserialize, Clone, Debug)]
pub(super) struct Backend {
    pub pid: i64,
    pub state: Option<String>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub application: String,
    /// `local` for a Unix socket.
    pub client: String,
    pub state_seconds: Option<f64>,
    pub xact_seconds: Option<f64>,
    pub waiting_on_lock: bool,
}

/// The connection limits from the settings.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_connections: i64,
    pub superuser_reserved_connections: i64,
    /// `reserved_connections` (PostgreSQL 16+; 0 before).
    pub reserved_connections: i64,
    /// maxConnections − both reserves: what ordinary roles can open.
    pub usable_connections: i64,
}

async fn limits(ctx: &Ctx) -> ToolResult<Limits> {
    #[derive(Deserialize)]
    struct R {
        max_connections: i64,
        superuser_reserved: i64,
        reserved: i64,
    }
    let r: Vec<R> = rows(
        ctx,
        "SELECT current_setting('max_connections')::int8 AS max_connections, \
           current_setting('superuser_reserved_connections')::int8 AS superuser_reserved, \
           coalesce(current_setting('reserved_connections', true)::int8, 0) AS reserved",
        &[],
    )
    .await?;
    let r = r
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("no connection settings"))?;
    Ok(Limits {
        max_connections: r.max_connections,
        superuser_reserved_connections: r.superuser_reserved,
        reserved_connections: r.reserved,
        usable_connections: (r.max_connections - r.superuser_reserved - r.reserved).max(1),
    })
}

pub(super) async fn backends(ctx: &Ctx) -> ToolResult<Vec<Backend>> {
    rows(
        ctx,
        "SELECT pid::int8 AS pid, state, datname::text AS database, usename::text AS \"user\", \
           coalesce(application_name, '') AS application, coalesce(host(client_addr), 'local') AS client, \
           extract(epoch FROM now() - state_change)::float8 AS state_seconds, \
           extract(epoch FROM now() - xact_start)::float8 AS xact_seconds, \
           coalesce(wait_event_type = 'Lock', false) AS waiting_on_lock \
         FROM pg_stat_activity WHERE backend_type = 'client backend' ORDER BY pid",
        &[],
    )
    .await
}

fn idle_in_transaction(b: &Backend) -> bool {
    b.state
        .as_deref()
        .is_some_and(|s| s.starts_with("idle in transaction"))
}

/// Client backends per state (`unknown` when the state is not visible).
fn by_state(backends: &[Backend]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for b in backends {
        *out.entry(b.state.clone().unwrap_or_else(|| "unknown".into()))
            .or_insert(0) += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------
// pg_detect_connection_spike

const DETECT_CONNECTION_SPIKE: Spec = Spec {
    name: "pg_detect_connection_spike",
    title: "Connection spikes and concentration",
    description: "Client connections of the whole server (pg_stat_activity) against the usable maximum (max_connections − superuser_reserved_connections − reserved_connections), as findings with severity and evidence (usage, concentration by database/user/application/client address, idle-in-transaction sessions).\n- connection_usage: warning from `usageWarningPercent`, critical from `usageCriticalPercent` (defaults: the connection_usage alert thresholds, initially 80 and 95);\n- connection_concentration: one database, user, application or client address holding at least `warningPercent` (default 70) of the connections, when there are at least `minConnections` (default 10): warning;\n- idle_in_transaction: a session idle inside a transaction for at least `idleInTransactionSeconds`: warning, critical from `idleInTransactionCriticalSeconds` (defaults: the idle_in_transaction alert thresholds, initially 300 and 1800).\nAlso returns the counts per state and the largest groups per dimension (`topGroups`, default 5). A snapshot: it cannot see spikes that already ended.",
    hints: READ,
    shortcuts: &[],
};

fn default_concentration() -> f64 {
    70.0
}
fn default_min_connections() -> u32 {
    10
}
fn default_top_groups() -> u32 {
    5
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpikeArgs {
    /// A group holding at least this percentage of the client connections is a finding
    /// (default 70).
    #[serde(default = "default_concentration")]
    pub warning_percent: f64,
    /// Concentration is only judged with at least this many client connections (default 10).
    #[serde(default = "default_min_connections")]
    pub min_connections: u32,
    /// Usage percentage of the usable connections that is a warning (default: the
    /// connection_usage warning threshold, initially 80).
    pub usage_warning_percent: Option<f64>,
    /// Usage percentage that is critical (default: the connection_usage critical
    /// threshold, initially 95).
    pub usage_critical_percent: Option<f64>,
    /// Idle in transaction this long (seconds) is a warning (default: the
    /// idle_in_transaction warning threshold, initially 300).
    pub idle_in_transaction_seconds: Option<f64>,
    /// Idle in transaction this long (seconds) is critical (default: the
    /// idle_in_transaction critical threshold, initially 1800).
    pub idle_in_transaction_critical_seconds: Option<f64>,
    /// Groups listed per dimension, 1–50 (default 5).
    #[serde(default = "default_top_groups")]
    pub top_groups: u32,
}

/// What connections are grouped by.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Dimension {
    Database,
    User,
    Application,
    ClientAddress,
}

impl Dimension {
    fn label(self) -> &'static str {
        match self {
            Dimension::Database => "database",
            Dimension::User => "user",
            Dimension::Application => "application",
            Dimension::ClientAddress => "client address",
        }
    }
    fn key(self, b: &Backend) -> String {
        match self {
            Dimension::Database => b.database.clone().unwrap_or_default(),
            Dimension::User => b.user.clone().unwrap_or_default(),
            Dimension::Application => b.application.clone(),
            Dimension::ClientAddress => b.client.clone(),
        }
    }
}

const DIMENSIONS: [Dimension; 4] = [
    Dimension::Database,
    Dimension::User,
    Dimension::Application,
    Dimension::ClientAddress,
];

/// The connections sharing one value of a dimension.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub dimension: Dimension,
    /// The database, user, application name (empty when unset) or client address (`local`
    /// for a Unix socket).
    pub value: String,
    pub connections: i64,
    /// connections / all client connections, 0–1.
    pub share: f64,
    /// Of them, idle in a transaction.
    pub idle_in_transaction: i64,
}

/// A session idle inside a transaction.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct IdleSession {
    pub pid: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub application: String,
    /// Seconds idle (since the state changed).
    pub idle_seconds: f64,
    /// Seconds since the transaction began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_seconds: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionSpike {
    /// The worst severity of the findings, or ok.
    pub status: Status,
    pub limits: Limits,
    /// Client backends of the whole server.
    pub connections: i64,
    /// connections / usableConnections.
    pub utilization: f64,
    /// Client backends per state.
    pub by_state: BTreeMap<String, i64>,
    /// The largest groups of each dimension, largest first.
    pub top_groups: Vec<Group>,
    /// Every session idle in a transaction, the longest idle first.
    pub idle_in_transaction: Vec<IdleSession>,
    pub findings: Vec<Finding>,
}

fn groups(backends: &[Backend], dim: Dimension) -> Vec<Group> {
    let mut counts: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for b in backends {
        let e = counts.entry(dim.key(b)).or_insert((0, 0));
        e.0 += 1;
        if idle_in_transaction(b) {
            e.1 += 1;
        }
    }
    let total = backends.len().max(1) as f64;
    let mut out: Vec<Group> = counts
        .into_iter()
        .map(|(value, (n, idle))| Group {
            dimension: dim,
            value,
            connections: n,
            share: round(n as f64 / total, 4),
            idle_in_transaction: idle,
        })
        .collect();
    out.sort_by(|a, b| {
        b.connections
            .cmp(&a.connections)
            .then_with(|| a.value.cmp(&b.value))
    });
    out
}

fn concentration_fix(dim: Dimension, value: &str, limit: i64) -> String {
    let list = |col: &str| {
        format!(
            "-- who they are:\nSELECT pid, datname, usename, application_name, client_addr, state, now() - state_change AS in_state FROM pg_stat_activity WHERE {col} = {} ORDER BY state_change;",
            sql_literal(value)
        )
    };
    match dim {
        Dimension::Database => format!(
            "{}\n-- cap it (new connections beyond the limit are refused):\nALTER DATABASE {} CONNECTION LIMIT {limit};",
            list("datname"),
            quote_ident(value)
        ),
        Dimension::User => format!(
            "{}\n-- cap it (new connections beyond the limit are refused):\nALTER ROLE {} CONNECTION LIMIT {limit};",
            list("usename"),
            quote_ident(value)
        ),
        Dimension::Application => format!(
            "{}\n-- an application opening this many connections usually needs a smaller pool or a pooler (PgBouncer) in front.",
            list("application_name")
        ),
        Dimension::ClientAddress => format!(
            "{}\n-- one host opening this many connections usually needs a smaller pool or a pooler (PgBouncer) in front.",
            if value == "local" {
                "-- Unix-socket connections:\nSELECT pid, datname, usename, application_name, state FROM pg_stat_activity WHERE backend_type = 'client backend' AND client_addr IS NULL;".to_string()
            } else {
                list("host(client_addr)")
            }
        ),
    }
}

pub(super) struct SpikeOptions {
    pub concentration: f64,
    pub min_connections: i64,
    pub usage_warning: f64,
    pub usage_critical: f64,
    pub idle_seconds: f64,
    pub idle_critical_seconds: f64,
}

/// The findings of the description, from one reading of the backends.
pub(super) fn spike_findings(
    backends: &[Backend],
    limits: &Limits,
    o: &SpikeOptions,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let n = backends.len() as i64;
    let usage = Level {
        warning: o.usage_warning,
        critical: o.usage_critical,
    };
    if let Some(mut f) =
        connection_usage_finding(n, limits.usable_connections, limits.max_connections, usage)
    {
        f.note = Some(format!(
            "{n} of {} usable connections in use (warning from {}%, critical from {}%)",
            limits.usable_connections, o.usage_warning, o.usage_critical
        ));
        out.push(f);
    }
    if n >= o.min_connections && n > 0 {
        for dim in DIMENSIONS {
            for g in groups(backends, dim) {
                if g.share * 100.0 + 1e-9 < o.concentration {
                    break;
                }
                let limit = ((limits.usable_connections as f64) * o.concentration / 100.0)
                    .floor()
                    .max(1.0) as i64;
                let mut f = finding(
                    Severity::Warning,
                    Check::ConnectionConcentration,
                    format!("{} {}", dim.label(), g.value),
                    concentration_fix(dim, &g.value, limit),
                );
                f.evidence = Evidence {
                    connections: Some(g.connections),
                    share: Some(g.share),
                    usable_connections: Some(limits.usable_connections),
                    ..Evidence::default()
                };
                f.note = Some(format!(
                    "{} of {n} client connections ({:.1}%, threshold {}%) come from {} '{}'; {} of them idle in a transaction",
                    g.connections,
                    g.share * 100.0,
                    o.concentration,
                    dim.label(),
                    g.value,
                    g.idle_in_transaction
                ));
                out.push(f);
            }
        }
    }
    let mut idle: Vec<&Backend> = backends
        .iter()
        .filter(|b| idle_in_transaction(b) && b.state_seconds.unwrap_or(0.0) >= o.idle_seconds)
        .collect();
    idle.sort_by(|a, b| {
        b.state_seconds
            .unwrap_or(0.0)
            .total_cmp(&a.state_seconds.unwrap_or(0.0))
            .then(a.pid.cmp(&b.pid))
    });
    for b in idle {
        let secs = b.state_seconds.unwrap_or(0.0);
        let mut f = finding(
            if secs >= o.idle_critical_seconds {
                Severity::Critical
            } else {
                Severity::Warning
            },
            Check::IdleInTransaction,
            format!("pid {}", b.pid),
            format!(
                "SELECT pg_terminate_backend({});\n-- and end such sessions automatically:\nALTER DATABASE {} SET idle_in_transaction_session_timeout = '{}s';",
                b.pid,
                quote_ident(b.database.as_deref().unwrap_or("postgres")),
                (o.idle_seconds.ceil() as i64).max(1)
            ),
        );
        f.evidence = Evidence {
            pid: Some(b.pid),
            seconds: Some(round(secs, 1)),
            ..Evidence::default()
        };
        f.note = Some(format!(
            "database {}, user {}, application '{}', transaction open {:.0} s: it holds its locks and keeps vacuum from removing dead tuples",
            b.database.as_deref().unwrap_or(""),
            b.user.as_deref().unwrap_or(""),
            b.application,
            b.xact_seconds.unwrap_or(secs)
        ));
        out.push(f);
    }
    out
}

async fn detect_connection_spike(ctx: Ctx, a: SpikeArgs) -> ToolResult<ConnectionSpike> {
    let levels = thresholds(&ctx);
    let o = SpikeOptions {
        concentration: percent(a.warning_percent, "warningPercent")?,
        min_connections: a.min_connections.into(),
        usage_warning: percent(
            a.usage_warning_percent
                .unwrap_or(levels.connection_usage.warning),
            "usageWarningPercent",
        )?,
        usage_critical: percent(
            a.usage_critical_percent
                .unwrap_or(levels.connection_usage.critical),
            "usageCriticalPercent",
        )?,
        idle_seconds: seconds(
            a.idle_in_transaction_seconds
                .unwrap_or(levels.idle_in_transaction.warning),
            "idleInTransactionSeconds",
        )?,
        idle_critical_seconds: seconds(
            a.idle_in_transaction_critical_seconds
                .unwrap_or(levels.idle_in_transaction.critical),
            "idleInTransactionCriticalSeconds",
        )?,
    };
    if o.usage_critical < o.usage_warning {
        return Err(ToolError::invalid(
            "usageCriticalPercent must not be below usageWarningPercent",
        ));
    }
    if o.idle_critical_seconds < o.idle_seconds {
        return Err(ToolError::invalid(
            "idleInTransactionCriticalSeconds must not be below idleInTransactionSeconds",
        ));
    }
    if !(1..=50).contains(&a.top_groups) {
        return Err(ToolError::invalid(format!(
            "topGroups must be between 1 and 50 (got {})",
            a.top_groups
        )));
    }
    let limits = limits(&ctx).await?;
    let backends = backends(&ctx).await?;
    let findings = spike_findings(&backends, &limits, &o);
    let n = backends.len() as i64;
    let mut top_groups = Vec::new();
    for dim in DIMENSIONS {
        top_groups.extend(
            groups(&backends, dim)
                .into_iter()
                .take(a.top_groups as usize),
        );
    }
    let mut idle: Vec<IdleSession> = backends
        .iter()
        .filter(|b| idle_in_transaction(b))
        .map(|b| IdleSession {
            pid: b.pid,
            database: b.database.clone(),
            user: b.user.clone(),
            application: b.application.clone(),
            idle_seconds: round(b.state_seconds.unwrap_or(0.0), 1),
            transaction_seconds: b.xact_seconds.map(|s| round(s, 1)),
        })
        .collect();
    idle.sort_by(|a, b| {
        b.idle_seconds
            .total_cmp(&a.idle_seconds)
            .then(a.pid.cmp(&b.pid))
    });
    Ok(ConnectionSpike {
        status: Status::of(&findings),
        utilization: round(n as f64 / limits.usable_connections as f64, 4),
        connections: n,
        by_state: by_state(&backends),
        limits,
        top_groups,
        idle_in_transaction: idle,
        findings,
    })
}

fn seconds(v: f64, what: &str) -> ToolResult<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "{what} must be a non-negative number of seconds, got {v}"
        )))
    }
}

// ---------------------------------------------------------------------------------------
// pg_connection_pool_optimize

const CONNECTION_POOL_OPTIMIZE: Spec = Spec {
    name: "pg_connection_pool_optimize",
    title: "Connection pooling recommendations",
    description: "Recommendations for connection pooling from the server's client connections (pg_stat_activity) and settings (max_connections, the reserved connections, idle_in_transaction_session_timeout, idle_session_timeout), each with its evidence and reasoning; the server's CPU cores are unknown to SQL and taken as `cpuCores`.\n- usePooler: idle sessions are at least `idleSharePercent` (default 50) of at least `minConnections` (default 20) connections;\n- poolSize: with `cpuCores` (the server's cores, which SQL cannot see), a pool of cores × 2 + `effectiveSpindles` (default 1) active connections, compared with the active ones now; without it, the bound is not given;\n- lowerMaxConnections: with `cpuCores`, max_connections above 10 × the cores;\n- raiseCapacity: usage at the connection_usage alert thresholds (initially 80%, critical 95%);\n- setIdleInTransactionTimeout / setIdleSessionTimeout (PG14+): the timeout is off while such sessions exist (idle ones for at least `longIdleSeconds`, default 3600).\nA snapshot: peaks between calls are not seen.",
    hints: READ,
    shortcuts: &[],
};

fn default_idle_share() -> f64 {
    50.0
}
fn default_pool_min_connections() -> u32 {
    20
}
fn default_spindles() -> u32 {
    1
}
fn default_long_idle() -> f64 {
    3600.0
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PoolArgs {
    /// CPU cores of the database server (SQL cannot see them); enables the pool-size bound.
    pub cpu_cores: Option<u32>,
    /// Disks that can seek independently, for the pool-size formula (default 1; SSD: 1).
    #[serde(default = "default_spindles")]
    pub effective_spindles: u32,
    /// Idle share (percent of client connections) from which a pooler is recommended
    /// (default 50).
    #[serde(default = "default_idle_share")]
    pub idle_share_percent: f64,
    /// The pooler recommendation needs at least this many client connections (default 20).
    #[serde(default = "default_pool_min_connections")]
    pub min_connections: u32,
    /// Idle this long (seconds) counts as long idle for idle_session_timeout (default 3600).
    #[serde(default = "default_long_idle")]
    pub long_idle_seconds: f64,
}

/// The settings read.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PoolSettings {
    pub limits: Limits,
    /// idle_in_transaction_session_timeout in ms (0: off).
    pub idle_in_transaction_session_timeout_ms: i64,
    /// idle_session_timeout in ms (0: off); absent before PostgreSQL 14.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_session_timeout_ms: Option<i64>,
    /// statement_timeout in ms of this session (0: off).
    pub statement_timeout_ms: i64,
}

/// The client connections now, by what they do.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PoolUsage {
    pub connections: i64,
    pub active: i64,
    pub idle: i64,
    /// Idle inside a transaction (aborted ones included).
    pub idle_in_transaction: i64,
    /// Active sessions waiting for a lock.
    pub waiting_on_lock: i64,
    /// Idle for at least longIdleSeconds.
    pub long_idle: i64,
    /// active / connections; absent without connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_share: Option<f64>,
    /// idle / connections; absent without connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_share: Option<f64>,
    /// connections / usableConnections.
    pub utilization: f64,
}

/// What a recommendation is about.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum PoolAdvice {
    UsePooler,
    PoolSize,
    LowerMaxConnections,
    RaiseCapacity,
    SetIdleInTransactionTimeout,
    SetIdleSessionTimeout,
}

/// One recommendation: what to do, the numbers it rests on, and why.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PoolRecommendation {
    pub kind: PoolAdvice,
    pub severity: Severity,
    pub recommendation: String,
    /// The numbers it rests on, by name.
    pub evidence: BTreeMap<String, f64>,
    pub reasoning: String,
    /// SQL or configuration to apply it, when there is any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolOptimization {
    pub settings: PoolSettings,
    pub usage: PoolUsage,
    /// cpuCores × 2 + effectiveSpindles, when cpuCores was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_pool_size: Option<i64>,
    pub recommendations: Vec<PoolRecommendation>,
    /// What the database cannot tell (and so was not judged).
    pub unknowns: Vec<String>,
}

async fn pool_settings(ctx: &Ctx, limits: Limits) -> ToolResult<PoolSettings> {
    #[derive(Deserialize)]
    struct R {
        iit: i64,
        idle: Option<i64>,
        stmt: i64,
    }
    // The setting's value is in ms (its unit) in pg_settings.
    let r: Vec<R> = rows(
        ctx,
        "SELECT (SELECT setting::int8 FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout') AS iit, \
           (SELECT setting::int8 FROM pg_settings WHERE name = 'idle_session_timeout') AS idle, \
           (SELECT setting::int8 FROM pg_settings WHERE name = 'statement_timeout') AS stmt",
        &[],
    )
    .await?;
    let r = r
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("no timeout settings"))?;
    Ok(PoolSettings {
        limits,
        idle_in_transaction_session_timeout_ms: r.iit,
        idle_session_timeout_ms: r.idle,
        statement_timeout_ms: r.stmt,
    })
}

pub(super) fn usage(backends: &[Backend], limits: &Limits, long_idle_seconds: f64) -> PoolUsage {
    let n = backends.len() as i64;
    let count = |f: &dyn Fn(&Backend) -> bool| backends.iter().filter(|b| f(b)).count() as i64;
    let active = count(&|b| b.state.as_deref() == Some("active"));
    let idle = count(&|b| b.state.as_deref() == Some("idle"));
    let share = |k: i64| (n > 0).then(|| round(k as f64 / n as f64, 4));
    PoolUsage {
        connections: n,
        active,
        idle,
        idle_in_transaction: count(&idle_in_transaction),
        waiting_on_lock: count(&|b| b.waiting_on_lock),
        long_idle: count(&|b| {
            b.state.as_deref() == Some("idle")
                && b.state_seconds.unwrap_or(0.0) >= long_idle_seconds
        }),
        active_share: share(active),
        idle_share: share(idle),
        utilization: round(n as f64 / limits.usable_connections as f64, 4),
    }
}

pub(super) struct PoolOptions {
    /// The connection_usage levels (percent).
    pub usage: Level,
    pub cpu_cores: Option<i64>,
    pub spindles: i64,
    pub idle_share: f64,
    pub min_connections: i64,
    pub long_idle_seconds: f64,
}

fn ev(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

pub(super) fn pool_recommendations(
    s: &PoolSettings,
    u: &PoolUsage,
    o: &PoolOptions,
) -> Vec<PoolRecommendation> {
    let mut out = Vec::new();
    let n = u.connections as f64;
    let idle_share = u.idle_share.unwrap_or(0.0);
    if u.connections >= o.min_connections && idle_share * 100.0 >= o.idle_share {
        out.push(PoolRecommendation {
            kind: PoolAdvice::UsePooler,
            severity: Severity::Warning,
            recommendation: "Put a transaction-mode connection pooler (PgBouncer, or the application's own pool) in front of the server, so that idle clients stop holding server connections.".into(),
            evidence: ev(&[
                ("connections", n),
                ("idle", u.idle as f64),
                ("idleShare", idle_share),
                ("thresholdShare", o.idle_share / 100.0),
            ]),
            reasoning: format!(
                "{} of {} client connections ({:.1}%) are idle; each is a server process with its own memory, and every one counts against max_connections while doing nothing. A pooler lets few server connections serve many clients.",
                u.idle,
                u.connections,
                idle_share * 100.0
            ),
            sql: None,
        });
    }
    if let Some(cores) = o.cpu_cores {
        let pool = cores * 2 + o.spindles;
        out.push(PoolRecommendation {
            kind: PoolAdvice::PoolSize,
            severity: if u.active > pool {
                Severity::Warning
            } else {
                Severity::Info
            },
            recommendation: format!(
                "Size the pool (the connections running statements at once) at about {pool}."
            ),
            evidence: ev(&[
                ("cpuCores", cores as f64),
                ("effectiveSpindles", o.spindles as f64),
                ("suggestedPoolSize", pool as f64),
                ("activeNow", u.active as f64),
            ]),
            reasoning: format!(
                "cores × 2 + effective spindles ({cores} × 2 + {}) is the usual starting point (PostgreSQL wiki, \"Number Of Database Connections\"): beyond it, active connections compete for CPU and disk and throughput does not grow. {} connections are active now{}.",
                o.spindles,
                u.active,
                if u.active > pool {
                    ", more than the bound: queries queue inside the server instead of in a pool"
                } else {
                    ""
                }
            ),
            sql: None,
        });
        if s.limits.max_connections > cores * 10 {
            out.push(PoolRecommendation {
                kind: PoolAdvice::LowerMaxConnections,
                severity: Severity::Info,
                recommendation: format!(
                    "Behind a pooler, max_connections can be lowered towards {} (the pool plus headroom for administration).",
                    (pool * 2).max(pool + s.limits.superuser_reserved_connections + s.limits.reserved_connections + 10)
                ),
                evidence: ev(&[
                    ("maxConnections", s.limits.max_connections as f64),
                    ("cpuCores", cores as f64),
                    ("connections", n),
                ]),
                reasoning: format!(
                    "max_connections {} is more than 10 × the {cores} cores: if that many sessions became active at once they would overload the server, and per-connection memory (work_mem per sort or hash) is sized against this limit.",
                    s.limits.max_connections
                ),
                sql: Some("ALTER SYSTEM SET max_connections = <new value>; -- takes effect after a restart".into()),
            });
        }
    }
    if u.utilization * 100.0 >= o.usage.warning {
        out.push(PoolRecommendation {
            kind: PoolAdvice::RaiseCapacity,
            severity: if u.utilization * 100.0 >= o.usage.critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            recommendation: "Connections are close to the limit: pool them (preferred) or raise max_connections.".into(),
            evidence: ev(&[
                ("connections", n),
                ("usableConnections", s.limits.usable_connections as f64),
                ("utilization", u.utilization),
            ]),
            reasoning: format!(
                "{} of {} usable connections are in use; when none is left, new clients get \"too many clients already\".",
                u.connections, s.limits.usable_connections
            ),
            sql: Some(format!(
                "ALTER SYSTEM SET max_connections = {}; -- takes effect after a restart",
                s.limits.max_connections * 2
            )),
        });
    }
    if s.idle_in_transaction_session_timeout_ms == 0 && u.idle_in_transaction > 0 {
        out.push(PoolRecommendation {
            kind: PoolAdvice::SetIdleInTransactionTimeout,
            severity: Severity::Warning,
            recommendation: "Set idle_in_transaction_session_timeout so that abandoned transactions are ended by the server.".into(),
            evidence: ev(&[
                ("idleInTransaction", u.idle_in_transaction as f64),
                ("idleInTransactionSessionTimeoutMs", 0.0),
            ]),
            reasoning: format!(
                "{} sessions are idle inside a transaction and the timeout is off: such a session keeps its locks and holds back vacuum for as long as it lives, and with a transaction-mode pooler it also pins a server connection.",
                u.idle_in_transaction
            ),
            sql: Some("ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';\nSELECT pg_reload_conf();".into()),
        });
    }
    if s.idle_session_timeout_ms == Some(0) && u.long_idle > 0 {
        out.push(PoolRecommendation {
            kind: PoolAdvice::SetIdleSessionTimeout,
            severity: Severity::Info,
            recommendation: "Consider idle_session_timeout (per role or database, not server-wide if a pooler keeps idle server connections on purpose) to close long-forgotten sessions.".into(),
            evidence: ev(&[
                ("longIdle", u.long_idle as f64),
                ("longIdleSeconds", o.long_idle_seconds),
                ("idleSessionTimeoutMs", 0.0),
            ]),
            reasoning: format!(
                "{} sessions have been idle for at least {} s; each holds a server process and a slot of max_connections.",
                u.long_idle, o.long_idle_seconds
            ),
            sql: Some("ALTER ROLE <application role> SET idle_session_timeout = '1h';".into()),
        });
    }
    out
}

async fn connection_pool_optimize(ctx: Ctx, a: PoolArgs) -> ToolResult<PoolOptimization> {
    if a.cpu_cores == Some(0) {
        return Err(ToolError::invalid("cpuCores must be at least 1"));
    }
    let o = PoolOptions {
        usage: thresholds(&ctx).connection_usage,
        cpu_cores: a.cpu_cores.map(i64::from),
        spindles: a.effective_spindles.into(),
        idle_share: percent(a.idle_share_percent, "idleSharePercent")?,
        min_connections: a.min_connections.into(),
        long_idle_seconds: seconds(a.long_idle_seconds, "longIdleSeconds")?,
    };
    let limits = limits(&ctx).await?;
    let backends = backends(&ctx).await?;
    let u = usage(&backends, &limits, o.long_idle_seconds);
    let settings = pool_settings(&ctx, limits).await?;
    let recommendations = pool_recommendations(&settings, &u, &o);
    let mut unknowns = vec![
        "Whether a pooler already sits in front: its server connections look like ordinary clients (check application_name and client addresses in pg_detect_connection_spike).".to_string(),
        "Peaks between calls: this is one snapshot of pg_stat_activity.".to_string(),
        "The server's memory and the clients' own pool settings.".to_string(),
    ];
    if o.cpu_cores.is_none() {
        unknowns.insert(
            0,
            "The server's CPU cores (SQL cannot see them): pass cpuCores for a pool-size bound."
                .into(),
        );
    }
    Ok(PoolOptimization {
        suggested_pool_size: o.cpu_cores.map(|c| c * 2 + o.spindles),
        settings,
        usage: u,
        recommendations,
        unknowns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pid: i64, state: &str, app: &str, secs: f64) -> Backend {
        Backend {
            pid,
            state: Some(state.into()),
            database: Some("db".into()),
            user: Some("u".into()),
            application: app.into(),
            client: "local".into(),
            state_seconds: Some(secs),
            xact_seconds: Some(secs),
            waiting_on_lock: false,
        }
    }

    fn limits(max: i64) -> Limits {
        Limits {
            max_connections: max,
            superuser_reserved_connections: 3,
            reserved_connections: 0,
            usable_connections: max - 3,
        }
    }

    #[test]
    fn spike_rules() {
        let mut bs: Vec<Backend> = (0..8).map(|i| b(i, "idle", "web", 1.0)).collect();
        bs.push(b(8, "active", "batch", 1.0));
        bs.push(b(9, "idle in transaction", "batch", 400.0));
        let o = SpikeOptions {
            concentration: 70.0,
            min_connections: 10,
            usage_warning: 80.0,
            usage_critical: 95.0,
            idle_seconds: 300.0,
            idle_critical_seconds: 1800.0,
        };
        let f = spike_findings(&bs, &limits(13), &o);
        let kinds: Vec<(Check, Severity, &str)> = f
            .iter()
            .map(|f| (f.check, f.severity, f.object.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Check::ConnectionUsage, Severity::Critical, "connections"),
                (
                    Check::ConnectionConcentration,
                    Severity::Warning,
                    "database db"
                ),
                (Check::ConnectionConcentration, Severity::Warning, "user u"),
                (
                    Check::ConnectionConcentration,
                    Severity::Warning,
                    "application web"
                ),
                (
                    Check::ConnectionConcentration,
                    Severity::Warning,
                    "client address local"
                ),
                (Check::IdleInTransaction, Severity::Warning, "pid 9"),
            ]
        );
        assert_eq!(f[3].evidence.share, Some(0.8));
        // Below minConnections, no concentration findings.
        let f = spike_findings(&bs[..9], &limits(100), &o);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn pool_rules() {
        let mut bs: Vec<Backend> = (0..30).map(|i| b(i, "idle", "web", 7200.0)).collect();
        bs.extend((30..40).map(|i| b(i, "active", "web", 1.0)));
        bs.push(b(40, "idle in transaction", "web", 10.0));
        let l = limits(500);
        let u = usage(&bs, &l, 3600.0);
        assert_eq!(
            (
                u.connections,
                u.active,
                u.idle,
                u.idle_in_transaction,
                u.long_idle
            ),
            (41, 10, 30, 1, 30)
        );
        let s = PoolSettings {
            limits: l,
            idle_in_transaction_session_timeout_ms: 0,
            idle_session_timeout_ms: Some(0),
            statement_timeout_ms: 0,
        };
        let o = PoolOptions {
            usage: crate::tools::performance::alerts::Thresholds::default().connection_usage,
            cpu_cores: Some(4),
            spindles: 1,
            idle_share: 50.0,
            min_connections: 20,
            long_idle_seconds: 3600.0,
        };
        let r = pool_recommendations(&s, &u, &o);
        let kinds: Vec<PoolAdvice> = r.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [
                PoolAdvice::UsePooler,
                PoolAdvice::PoolSize,
                PoolAdvice::LowerMaxConnections,
                PoolAdvice::SetIdleInTransactionTimeout,
                PoolAdvice::SetIdleSessionTimeout
            ]
        );
        assert_eq!(r[1].evidence["suggestedPoolSize"], 9.0);
        assert_eq!(r[1].severity, Severity::Warning);
        // Without cores: no pool size, no max_connections judgement.
        let o = PoolOptions {
            cpu_cores: None,
            ..o
        };
        let kinds: Vec<PoolAdvice> = pool_recommendations(&s, &u, &o)
            .iter()
            .map(|r| r.kind)
            .collect();
        assert!(!kinds.contains(&PoolAdvice::PoolSize));
        assert!(!kinds.contains(&PoolAdvice::LowerMaxConnections));
    }
}
