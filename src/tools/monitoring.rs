//! Monitoring tools: sizes, connections, replication and recovery, server version and
//! uptime, settings, a health summary with stated thresholds, and capacity sampling.
//!
//! Every tool but pg_capacity_planning only reads (catalog reads through `read_rows`, in a
//! READ ONLY transaction rolled back) and is available in restricted mode. Columns that
//! exist only in some PostgreSQL majors are read through `to_jsonb(row) ->> 'column'` or
//! `current_setting(name, true)`, which yield NULL where the column or setting does not
//! exist, so one query serves PostgreSQL 13 to 17 and the field is absent where the server
//! has no such thing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::{Int8, Listing, PageInfo, decode, default_limit};
use super::exec::{Mode, execute, read_rows};
use super::relsize;
use super::{Ctx, NoArgs, READ, Spec, Tool, WRITE};
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "monitoring";

pub fn tools() -> Vec<Tool> {
    vec![
        DATABASE_SIZE.tool(GROUP, database_size),
        TABLE_SIZES.tool(GROUP, table_sizes),
        CONNECTION_STATS.tool(GROUP, connection_stats),
        REPLICATION_STATUS.tool(GROUP, replication_status),
        RECOVERY_STATUS.tool(GROUP, recovery_status),
        SERVER_VERSION.tool(GROUP, server_version),
        UPTIME.tool(GROUP, uptime),
        SHOW_SETTINGS.tool(GROUP, show_settings),
        SYSTEM_HEALTH.tool(GROUP, system_health),
        CAPACITY_PLANNING.tool(GROUP, capacity_planning),
    ]
}

async fn one<R: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    sql: &str,
    params: &[Value],
) -> ToolResult<R> {
    decode::<R>(read_rows(ctx, sql, params).await?)?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal(format!("no row from: {sql}")))
}

async fn all<R: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    sql: &str,
    params: &[Value],
) -> ToolResult<Vec<R>> {
    decode::<R>(read_rows(ctx, sql, params).await?)
}

// ---------------------------------------------------------------------------
// Sizes

const DATABASE_SIZE: Spec = Spec {
    name: "pg_database_size",
    title: "Database sizes",
    description: "Size on disk of every database of the server (templates excluded), or of one (`name`), largest first, in bytes and human-readable. A database the role may not CONNECT to (without pg_read_all_stats) is listed without a size.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DatabaseSizeArgs {
    /// Only this database (exact name; templates included).
    pub name: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSize {
    pub name: String,
    /// Bytes on disk; absent when the role may not see it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Int8>,
    /// e.g. `7901 kB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// The database pgmcp is connected to.
    pub current: bool,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseSizes {
    pub databases: Vec<DatabaseSize>,
}

async fn database_size(ctx: Ctx, a: DatabaseSizeArgs) -> ToolResult<DatabaseSizes> {
    let databases: Vec<DatabaseSize> = all(
        &ctx,
        "SELECT d.datname AS name, s.bytes, pg_size_pretty(s.bytes) AS size,
                d.datname = current_database() AS current
           FROM pg_database d,
                LATERAL (SELECT CASE WHEN d.datallowconn
                                      AND (has_database_privilege(d.oid, 'CONNECT')
                                           OR pg_has_role('pg_read_all_stats', 'USAGE'))
                                     THEN pg_database_size(d.oid) END::int8 AS bytes) s
          WHERE ($1::text IS NULL AND NOT d.datistemplate) OR d.datname = $1::text
          ORDER BY s.bytes DESC NULLS LAST, d.datname",
        &[json!(a.name)],
    )
    .await?;
    if let (Some(name), true) = (&a.name, databases.is_empty()) {
        return Err(ToolError::not_found(
            Code::DatabaseNotFound,
            format!("database '{name}' does not exist"),
        )
        .suggest("Call pg_database_size without `name` to list every database."));
    }
    Ok(DatabaseSizes { databases })
}

const TABLE_SIZES: Spec = Spec {
    name: "pg_table_sizes",
    title: "Largest tables",
    description: "Tables and materialized views by total size on disk, largest first: total (pg_total_relation_size), heap (main fork), indexes, TOAST (with its index), and the row estimate from the last VACUUM/ANALYZE.\nSystem schemas are hidden unless includeSystem; filter by `schema` or a `pattern` on the name; page with limit/offset.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TableSizesArgs {
    /// Only this schema.
    pub schema: Option<String>,
    /// Case-insensitive LIKE pattern on the table name, e.g. `%order%`.
    pub pattern: Option<String>,
    /// Include PostgreSQL's own schemas.
    #[serde(default)]
    pub include_system: bool,
    /// Maximum number of tables (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Tables to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableSize {
    pub schema: String,
    pub name: String,
    /// `table`, `materialized view`.
    pub kind: String,
    /// Absent (as are the other sizes) while the table is locked: another session holds or
    /// waits for an ACCESS EXCLUSIVE lock on it or its indexes, and reading its size would
    /// wait. Such tables are listed last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<Int8>,
    /// e.g. `24 MB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_size: Option<String>,
    /// The main fork (the rows themselves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heap_bytes: Option<Int8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexes_bytes: Option<Int8>,
    /// The TOAST table and its index (0 when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub toast_bytes: Option<Int8>,
    /// pg_class.reltuples; absent when never vacuumed or analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<Int8>,
}

#[derive(Serialize, JsonSchema)]
pub struct TableSizes {
    pub tables: Vec<TableSize>,
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Tables and materialized views with their sizes (never waiting for a lock: see
/// `relsize`), largest first: pg_table_sizes, and pg_capacity_planning's largest tables.
fn table_size_listing() -> Listing {
    let total = relsize::size("pg_total_relation_size", "c.oid");
    Listing::new(
        format!(
            "n.nspname AS schema, c.relname AS name,
             CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'table' END AS kind,
             {total}::int8 AS \"totalBytes\", pg_size_pretty({total}) AS \"totalSize\",
             {heap}::int8 AS \"heapBytes\", {indexes}::int8 AS \"indexesBytes\",
             CASE WHEN c.reltoastrelid = 0 THEN 0 WHEN {locked} THEN NULL
                  ELSE pg_catalog.pg_total_relation_size(c.reltoastrelid) END::int8 AS \"toastBytes\",
             CASE WHEN c.reltuples >= 0 AND (c.relpages > 0 OR c.reltuples > 0)
                  THEN c.reltuples::int8 END AS \"estimatedRows\"",
            heap = relsize::size("pg_relation_size", "c.oid"),
            indexes = relsize::size("pg_indexes_size", "c.oid"),
            // The TOAST size is NULL when the table is locked, like its other sizes.
            locked = relsize::locked("c.oid"),
        ),
        "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
    )
    .condition("c.relkind IN ('r', 'm')")
    .order_by(format!("{total} DESC NULLS LAST, n.nspname, c.relname"))
}

async fn table_sizes(ctx: Ctx, a: TableSizesArgs) -> ToolResult<TableSizes> {
    let page = table_size_listing()
        .schema("n.nspname", a.schema.as_deref())
        .pattern("c.relname", a.pattern.as_deref())
        .hide_system_schemas("n.nspname", a.include_system)
        .page(&ctx, a.limit, a.offset)
        .await?;
    Ok(TableSizes {
        tables: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------
// Connections

const CONNECTION_STATS: Spec = Spec {
    name: "pg_connection_stats",
    title: "Connections against the limit",
    description: "Client connections against max_connections: the slots reserved for superusers (superuser_reserved_connections) and, on PostgreSQL 16+, for roles with pg_use_reserved_connections (reserved_connections), the usable rest, how many client backends use them (usedPercent), and client backends by state, database and user. Other server processes (autovacuum, background workers, WAL senders, checkpointer…) are counted apart (otherBackends).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Count {
    /// The state, database or user (`(none)` when PostgreSQL reports none).
    pub key: String,
    pub count: i64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStats {
    pub max_connections: i64,
    pub superuser_reserved_connections: i64,
    /// reserved_connections (PostgreSQL 16+); absent on older servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_connections: Option<i64>,
    /// max_connections minus both reservations: what ordinary roles can use.
    pub usable_connections: i64,
    /// Client backends now (pgmcp's own connections included).
    pub client_backends: i64,
    /// Every other server process listed in pg_stat_activity.
    pub other_backends: i64,
    /// clientBackends / usableConnections × 100.
    pub used_percent: f64,
    #[serde(default)]
    pub by_state: Vec<Count>,
    #[serde(default)]
    pub by_database: Vec<Count>,
    #[serde(default)]
    pub by_user: Vec<Count>,
}

/// The usable slots, as SQL.
const USABLE_SQL: &str = "current_setting('max_connections')::int
     - current_setting('superuser_reserved_connections')::int
     - coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0)";

async fn connection_stats(ctx: Ctx, _: NoArgs) -> ToolResult<ConnectionStats> {
    let sql = format!(
        "SELECT current_setting('max_connections')::int8 AS \"maxConnections\",
                current_setting('superuser_reserved_connections')::int8 AS \"superuserReservedConnections\",
                nullif(current_setting('reserved_connections', true), '')::int8 AS \"reservedConnections\",
                ({USABLE_SQL})::int8 AS \"usableConnections\",
                count(*) FILTER (WHERE a.backend_type = 'client backend') AS \"clientBackends\",
                count(*) FILTER (WHERE a.backend_type IS DISTINCT FROM 'client backend') AS \"otherBackends\",
                round(100.0 * count(*) FILTER (WHERE a.backend_type = 'client backend')
                      / greatest({USABLE_SQL}, 1), 2)::float8 AS \"usedPercent\"
           FROM pg_stat_activity a"
    );
    let mut stats: ConnectionStats = one(&ctx, &sql, &[]).await?;
    let by = |column: &str| {
        format!(
            "SELECT coalesce({column}::text, '(none)') AS key, count(*) AS count
               FROM pg_stat_activity WHERE backend_type = 'client backend'
              GROUP BY 1 ORDER BY 2 DESC, 1"
        )
    };
    stats.by_state = all(&ctx, &by("state"), &[]).await?;
    stats.by_database = all(&ctx, &by("datname"), &[]).await?;
    stats.by_user = all(&ctx, &by("usename"), &[]).await?;
    Ok(stats)
}

// ---------------------------------------------------------------------------
// Replication and recovery

const REPLICATION_STATUS: Spec = Spec {
    name: "pg_replication_status",
    title: "Replication: standbys and slots",
    description: "Streaming replication seen from this server: its role (primary or standby), each connected standby (pg_stat_replication: state, sync state, LSNs, replay lag in bytes from the current WAL position, and the write/flush/replay lag intervals, which go stale or absent while the primary is idle), and every replication slot, inactive ones included, with the WAL it retains (bytes from the current position to restart_lsn), wal_status and safe_wal_size, and the age of its xmin/catalog_xmin. Version-dependent slot columns are present where the server has them: conflicting (16+), inactiveSince and invalidationReason (17+).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Standby {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_lsn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_lsn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_lsn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lsn: Option<String>,
    /// WAL bytes between this server's current position and the standby's replay position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lag_bytes: Option<Int8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_lag_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush_lag_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lag_seconds: Option<f64>,
    /// When the standby last replied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_time: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub slot_name: String,
    /// `physical` or `logical`.
    pub slot_type: String,
    /// For a logical slot, its database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_pid: Option<i32>,
    pub temporary: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_lsn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_flush_lsn: Option<String>,
    /// WAL the slot keeps from being removed: bytes from the current position to
    /// restart_lsn (absent when the slot reserves none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<Int8>,
    /// `reserved`, `extended`, `unreserved` or `lost`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_status: Option<String>,
    /// Bytes of WAL that can still be written before the slot is in danger of losing
    /// needed WAL (absent when max_slot_wal_keep_size is -1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_wal_size: Option<Int8>,
    /// Age in transactions of the xmin the slot holds back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xmin_age: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_xmin_age: Option<i64>,
    /// PostgreSQL 16+: a logical slot invalidated by a conflict with recovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicting: Option<bool>,
    /// PostgreSQL 17+: since when the slot is inactive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_since: Option<String>,
    /// PostgreSQL 17+: why the slot was invalidated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidation_reason: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationHead {
    /// `primary` or `standby`.
    pub role: String,
    /// The WAL position lags are measured from: pg_current_wal_lsn() on a primary,
    /// pg_last_wal_replay_lsn() on a standby.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_lsn: Option<String>,
    pub server_version_num: i32,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    #[serde(flatten)]
    pub head: ReplicationHead,
    pub standbys: Vec<Standby>,
    pub slots: Vec<Slot>,
}

const CURRENT_LSN_SQL: &str =
    "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END";

async fn replication_status(ctx: Ctx, _: NoArgs) -> ToolResult<ReplicationStatus> {
    let head: ReplicationHead = one(
        &ctx,
        &format!(
            "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END AS role,
                    ({CURRENT_LSN_SQL})::text AS \"currentLsn\",
                    current_setting('server_version_num')::int AS \"serverVersionNum\""
        ),
        &[],
    )
    .await?;
    let standbys = all(
        &ctx,
        &format!(
            "SELECT pid, application_name AS \"applicationName\", client_addr::text AS \"clientAddr\", state, sync_state AS \"syncState\",
                    sent_lsn::text AS \"sentLsn\", write_lsn::text AS \"writeLsn\",
                    flush_lsn::text AS \"flushLsn\", replay_lsn::text AS \"replayLsn\",
                    pg_wal_lsn_diff({CURRENT_LSN_SQL}, replay_lsn)::int8 AS \"replayLagBytes\",
                    extract(epoch FROM write_lag)::float8 AS \"writeLagSeconds\",
                    extract(epoch FROM flush_lag)::float8 AS \"flushLagSeconds\",
                    extract(epoch FROM replay_lag)::float8 AS \"replayLagSeconds\",
                    reply_time::text AS \"replyTime\"
               FROM pg_stat_replication ORDER BY application_name, pid"
        ),
        &[],
    )
    .await?;
    let slots = all(
        &ctx,
        &format!(
            "SELECT s.slot_name::text AS \"slotName\", s.slot_type AS \"slotType\", s.database::text AS database,
                    s.plugin::text AS plugin, s.active, s.active_pid AS \"activePid\", s.temporary,
                    s.restart_lsn::text AS \"restartLsn\",
                    s.confirmed_flush_lsn::text AS \"confirmedFlushLsn\",
                    pg_wal_lsn_diff({CURRENT_LSN_SQL}, s.restart_lsn)::int8 AS \"retainedBytes\",
                    s.wal_status AS \"walStatus\", s.safe_wal_size::int8 AS \"safeWalSize\",
                    age(s.xmin)::int8 AS \"xminAge\", age(s.catalog_xmin)::int8 AS \"catalogXminAge\",
                    (to_jsonb(s) ->> 'conflicting')::bool AS conflicting,
                    to_jsonb(s) ->> 'inactive_since' AS \"inactiveSince\",
                    to_jsonb(s) ->> 'invalidation_reason' AS \"invalidationReason\"
               FROM pg_replication_slots s ORDER BY s.slot_name"
        ),
        &[],
    )
    .await?;
    Ok(ReplicationStatus {
        head,
        standbys,
        slots,
    })
}

const RECOVERY_STATUS: Spec = Spec {
    name: "pg_recovery_status",
    title: "Recovery (standby) status",
    description: "Whether this server is in recovery (a standby, or a server replaying WAL) and, if so, how far it is: last received and replayed WAL positions, the bytes received but not yet replayed, the timestamp of the last replayed transaction, the replay lag in seconds (0 when everything received is replayed; otherwise now minus that timestamp, which also grows while an idle primary sends nothing), whether replay is paused, and the WAL receiver's status. On a primary only inRecovery: false is returned.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryStatus {
    pub in_recovery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive_lsn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lsn: Option<String>,
    /// Received but not yet replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lag_bytes: Option<Int8>,
    /// Commit time of the last replayed transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_replay_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_lag_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_paused: Option<bool>,
    /// pg_stat_wal_receiver.status, e.g. `streaming`; absent without a WAL receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wal_receiver_status: Option<String>,
}

async fn recovery_status(ctx: Ctx, _: NoArgs) -> ToolResult<RecoveryStatus> {
    one(
        &ctx,
        "SELECT r AS \"inRecovery\",
                CASE WHEN r THEN pg_last_wal_receive_lsn()::text END AS \"receiveLsn\",
                CASE WHEN r THEN pg_last_wal_replay_lsn()::text END AS \"replayLsn\",
                CASE WHEN r THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8 END
                  AS \"replayLagBytes\",
                CASE WHEN r THEN pg_last_xact_replay_timestamp()::text END AS \"lastReplayTimestamp\",
                CASE WHEN NOT r THEN NULL
                     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                     ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8
                  AS \"replayLagSeconds\",
                CASE WHEN r THEN pg_is_wal_replay_paused() END AS \"replayPaused\",
                (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS \"walReceiverStatus\"
           FROM (SELECT pg_is_in_recovery() AS r) s",
        &[],
    )
    .await
}

// ---------------------------------------------------------------------------
// Server

const SERVER_VERSION: Spec = Spec {
    name: "pg_server_version",
    title: "Server version",
    description: "The server's version: the full version() string, server_version, server_version_num (e.g. 170002) and the major and minor numbers derived from it.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    /// version(), e.g. `PostgreSQL 17.2 on x86_64-pc-linux-gnu, compiled by …`.
    pub version: String,
    /// server_version, e.g. `17.2` or `15.10 (Debian 15.10-0+deb12u1)`.
    pub server_version: String,
    pub server_version_num: i32,
    /// server_version_num / 10000.
    pub major: i32,
    /// server_version_num % 100.
    pub minor: i32,
}

async fn server_version(ctx: Ctx, _: NoArgs) -> ToolResult<ServerVersion> {
    one(
        &ctx,
        "SELECT version() AS version, current_setting('server_version') AS \"serverVersion\",
                n AS \"serverVersionNum\", n / 10000 AS major, n % 100 AS minor
           FROM (SELECT current_setting('server_version_num')::int AS n) v",
        &[],
    )
    .await
}

const UPTIME: Spec = Spec {
    name: "pg_uptime",
    title: "Server uptime",
    description: "When the server started (pg_postmaster_start_time()), how long ago in seconds and as an interval, and when it last loaded its configuration files (pg_conf_load_time()).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uptime {
    pub started_at: String,
    pub uptime_seconds: i64,
    /// e.g. `3 days 04:05:06`.
    pub uptime: String,
    pub config_loaded_at: String,
}

async fn uptime(ctx: Ctx, _: NoArgs) -> ToolResult<Uptime> {
    one(
        &ctx,
        "SELECT pg_postmaster_start_time()::text AS \"startedAt\",
                extract(epoch FROM now() - pg_postmaster_start_time())::int8 AS \"uptimeSeconds\",
                justify_interval(date_trunc('second', now() - pg_postmaster_start_time()))::text AS uptime,
                pg_conf_load_time()::text AS \"configLoadedAt\"",
        &[],
    )
    .await
}

const SHOW_SETTINGS: Spec = Spec {
    name: "pg_show_settings",
    title: "Server settings",
    description: "Configuration parameters from pg_settings with their current value, unit, category, description, context (what it takes to change: postmaster = restart, sighup = reload, user/superuser = per session), where the value comes from (source: default, configuration file, database, user, …), boot and reset values, and pendingRestart (changed in the file, waiting for a restart).\nFilter by a `pattern` on the name, a `category` pattern, changedOnly (source other than default) or pendingRestartOnly; page with limit/offset.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShowSettingsArgs {
    /// Case-insensitive LIKE pattern on the name, e.g. `%vacuum%`; a name without `%`
    /// matches exactly that parameter.
    pub pattern: Option<String>,
    /// Case-insensitive LIKE pattern on the category, e.g. `Autovacuum%`.
    pub category: Option<String>,
    /// Only parameters not at their built-in default (source other than `default`).
    #[serde(default)]
    pub changed_only: bool,
    /// Only parameters changed in a configuration file that wait for a restart.
    #[serde(default)]
    pub pending_restart_only: bool,
    /// Maximum number of parameters (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Parameters to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Setting {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    /// The unit of `setting`, e.g. `kB`, `8kB`, `ms`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    pub category: String,
    pub description: String,
    /// internal, postmaster, sighup, superuser-backend, backend, superuser or user.
    pub context: String,
    /// bool, enum, integer, real or string.
    pub vartype: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_val: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_val: Option<String>,
    /// For an enum parameter, the accepted values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enumvals: Option<Vec<String>>,
    pub pending_restart: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct Settings {
    pub settings: Vec<Setting>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn show_settings(ctx: Ctx, a: ShowSettingsArgs) -> ToolResult<Settings> {
    let mut listing = Listing::new(
        "name, setting, unit, category, short_desc AS description, context, vartype, source,
         boot_val AS \"bootVal\", reset_val AS \"resetVal\", enumvals,
         pending_restart AS \"pendingRestart\"",
        "pg_settings",
    )
    .pattern("name", a.pattern.as_deref())
    .pattern("category", a.category.as_deref())
    .order_by("name");
    if a.changed_only {
        listing = listing.condition("source <> 'default'");
    }
    if a.pending_restart_only {
        listing = listing.condition("pending_restart");
    }
    let page = listing.page(&ctx, a.limit, a.offset).await?;
    Ok(Settings {
        settings: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------
// Health summary

const SYSTEM_HEALTH: Spec = Spec {
    name: "pg_system_health",
    title: "Health summary with thresholds",
    description: "A compact health summary: five checks, each with its value, status (ok, warning or critical) and the thresholds that decide it; `status` is the worst of them.\n- connectionsUsed: client backends / usable connections (max_connections minus reserved slots), %; the connection_usage alert thresholds (pg_alert_threshold_set), initially warning ≥ 80, critical ≥ 95.\n- cacheHitRatio: blks_hit / (blks_hit + blks_read) of the current database since its statistics reset, %; the cache_hit_ratio alert thresholds × 100, initially warning < 99, critical < 95; ok without a value before 1000 block reads and hits.\n- oldestTransaction: age in seconds of the oldest open transaction of another client session; warning ≥ 300, critical ≥ 1800.\n- wraparound: the larger of the oldest database's transaction-ID age and multixact age, as % of the 2^31 limit; warning ≥ 40, critical ≥ 70.\n- replicationLag: on a primary, the largest standby replay lag in MB; on a standby, WAL received but not replayed, in MB; warning ≥ 64, critical ≥ 1024; ok without a value when there is none to measure.",
    hints: READ,
    shortcuts: &[],
};

/// ok, warning or critical.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// The measured value, in `unit`; absent when there is nothing to measure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub unit: String,
    /// The value at which the status becomes warning.
    pub warning: f64,
    /// The value at which the status becomes critical.
    pub critical: f64,
    /// `above` (higher is worse) or `below` (lower is worse).
    pub worse_when: String,
}

#[derive(Serialize, JsonSchema)]
pub struct SystemHealth {
    pub status: Status,
    pub checks: Vec<Check>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HealthRow {
    connections_used: Option<f64>,
    cache_hit: Option<f64>,
    cache_blocks: Option<f64>,
    oldest_xact_seconds: Option<f64>,
    wraparound_percent: Option<f64>,
    replication_lag_mb: Option<f64>,
}

/// A check's status from its value and thresholds (`higher_is_worse` or the reverse).
pub fn grade(value: Option<f64>, warning: f64, critical: f64, higher_is_worse: bool) -> Status {
    let Some(v) = value else {
        return Status::Ok;
    };
    let past = |t: f64| if higher_is_worse { v >= t } else { v < t };
    if past(critical) {
        Status::Critical
    } else if past(warning) {
        Status::Warning
    } else {
        Status::Ok
    }
}

async fn system_health(ctx: Ctx, _: NoArgs) -> ToolResult<SystemHealth> {
    let row: HealthRow = one(
        &ctx,
        &format!(
            "SELECT
               (SELECT round(100.0 * count(*) / greatest({USABLE_SQL}, 1), 2)
                  FROM pg_stat_activity WHERE backend_type = 'client backend')::float8 AS \"connectionsUsed\",
               (SELECT CASE WHEN blks_hit + blks_read > 0
                            THEN round(100.0 * blks_hit / (blks_hit + blks_read), 3) END
                  FROM pg_stat_database WHERE datname = current_database())::float8 AS \"cacheHit\",
               (SELECT blks_hit + blks_read FROM pg_stat_database
                 WHERE datname = current_database())::float8 AS \"cacheBlocks\",
               (SELECT extract(epoch FROM max(now() - xact_start)) FROM pg_stat_activity
                 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
                   AND backend_type = 'client backend')::float8 AS \"oldestXactSeconds\",
               (SELECT round(100.0 * greatest(max(age(datfrozenxid)), max(mxid_age(datminmxid)))
                             / 2147483648, 2)
                  FROM pg_database)::float8 AS \"wraparoundPercent\",
               (CASE WHEN pg_is_in_recovery()
                     THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                     ELSE (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))
                             FROM pg_stat_replication) END / 1048576.0)::float8 AS \"replicationLagMb\""
        ),
        &[],
    )
    .await?;
    let levels = ctx.env.alert_thresholds.current();
    let cache_hit = row
        .cache_hit
        .filter(|_| row.cache_blocks.is_some_and(|b| b >= 1000.0));
    let check = |name: &str, value: Option<f64>, unit: &str, w: f64, c: f64, above: bool| Check {
        name: name.into(),
        status: grade(value, w, c, above),
        value,
        unit: unit.into(),
        warning: w,
        critical: c,
        worse_when: if above { "above" } else { "below" }.into(),
    };
    let checks = vec![
        check(
            "connectionsUsed",
            row.connections_used,
            "percent",
            levels.connection_usage.warning,
            levels.connection_usage.critical,
            true,
        ),
        check(
            "cacheHitRatio",
            cache_hit,
            "percent",
            levels.cache_hit_ratio.warning * 100.0,
            levels.cache_hit_ratio.critical * 100.0,
            false,
        ),
        check(
            "oldestTransaction",
            row.oldest_xact_seconds,
            "seconds",
            300.0,
            1800.0,
            true,
        ),
        check(
            "wraparound",
            row.wraparound_percent,
            "percent",
            40.0,
            70.0,
            true,
        ),
        check(
            "replicationLag",
            row.replication_lag_mb,
            "MB",
            64.0,
            1024.0,
            true,
        ),
    ];
    let status = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    Ok(SystemHealth { status, checks })
}

// ---------------------------------------------------------------------------
// Capacity planning

const CAPACITY_PLANNING: Spec = Spec {
    name: "pg_capacity_planning",
    title: "Record a size sample and estimate growth",
    description: "Records the current database's size as one sample in the table pgmcp.capacity_samples (created with the schema pgmcp on first use; needs CREATE on the database), then estimates growth from this database's samples of the last `windowDays` by a least-squares line: bytes per day and the projected size in `horizonDays`.\nWithout at least two samples an hour or more apart the growth is absent and `note` says so: no rate is ever invented. Samples are taken only when this tool is called; call it periodically (e.g. daily) to build the history. The free space of the server's disks is not visible from SQL and is not reported. Also lists the largest tables now.",
    hints: WRITE,
    shortcuts: &[],
};

fn default_window_days() -> u32 {
    90
}

fn default_horizon_days() -> u32 {
    30
}

fn default_top() -> u32 {
    10
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CapacityArgs {
    /// Use the samples of the last this many days (default 90).
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Project the size this many days ahead (default 30).
    #[serde(default = "default_horizon_days")]
    pub horizon_days: u32,
    /// How many of the largest tables to list (default 10, at most 100).
    #[serde(default = "default_top")]
    pub top: u32,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Growth {
    /// Least-squares slope over the samples.
    pub bytes_per_day: f64,
    /// The current size plus the slope times horizonDays (never below 0).
    pub projected_bytes: Int8,
    pub projected_size: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityPlan {
    pub database: String,
    pub current_bytes: Int8,
    pub current_size: String,
    /// Samples used (this call's included).
    pub samples: u64,
    /// Days between the first and the last sample used.
    pub span_days: f64,
    pub horizon_days: u32,
    /// Absent without enough history (see `note`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth: Option<Growth>,
    pub note: String,
    pub largest_tables: Vec<TableSize>,
}

pub const CAPACITY_DDL: [&str; 2] = [
    "CREATE SCHEMA IF NOT EXISTS pgmcp",
    "CREATE TABLE IF NOT EXISTS pgmcp.capacity_samples (
        sampled_at timestamptz NOT NULL DEFAULT now(),
        database name NOT NULL,
        bytes bigint NOT NULL)",
];

/// Least-squares slope (y per x) of points; `None` with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= f64::EPSILON {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

async fn capacity_planning(ctx: Ctx, a: CapacityArgs) -> ToolResult<CapacityPlan> {
    if a.window_days == 0 || a.horizon_days == 0 || a.top == 0 || a.top > 100 {
        return Err(ToolError::invalid(
            "windowDays and horizonDays must be at least 1, and top between 1 and 100",
        ));
    }
    for ddl in CAPACITY_DDL {
        execute(&ctx, ddl, &[], None, Mode::Write).await?;
    }
    execute(
        &ctx,
        "INSERT INTO pgmcp.capacity_samples (database, bytes)
         VALUES (current_database(), pg_database_size(current_database()))",
        &[],
        None,
        Mode::Write,
    )
    .await?;
    #[derive(Deserialize)]
    struct Sample {
        days: f64,
        bytes: f64,
    }
    let samples: Vec<Sample> = all(
        &ctx,
        "SELECT extract(epoch FROM sampled_at - min(sampled_at) OVER ())::float8 / 86400 AS days,
                bytes::float8 AS bytes
           FROM pgmcp.capacity_samples
          WHERE database = current_database()
            AND sampled_at >= now() - make_interval(days => $1::int)
          ORDER BY sampled_at",
        &[json!(a.window_days)],
    )
    .await?;
    #[derive(Deserialize)]
    struct Now {
        database: String,
        bytes: Int8,
        size: String,
    }
    let now: Now = one(
        &ctx,
        "SELECT current_database() AS database,
                pg_database_size(current_database())::int8 AS bytes,
                pg_size_pretty(pg_database_size(current_database())) AS size",
        &[],
    )
    .await?;
    let current = match &now.bytes {
        Int8::Number(n) => *n as f64,
        Int8::Digits(d) => d.parse::<f64>().unwrap_or(0.0),
    };
    let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.days, s.bytes)).collect();
    let span_days = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let enough = points.len() >= 2 && span_days * 24.0 >= 1.0;
    let growth = slope(&points).filter(|_| enough).map(|per_day| {
        let projected = (current + per_day * f64::from(a.horizon_days)).max(0.0);
        Growth {
            bytes_per_day: (per_day * 100.0).round() / 100.0,
            projected_bytes: Int8::Number(projected.round() as i64),
            projected_size: pretty(projected),
        }
    });
    let note = if growth.is_some() {
        format!(
            "Linear fit over {} samples spanning {:.2} days; a line fitted to sizes does not foresee bulk loads, deletes or VACUUM FULL.",
            points.len(),
            span_days
        )
    } else {
        format!(
            "Not enough history for a growth rate: {} sample(s) within {} days spanning {:.2} hours; at least two samples an hour or more apart are needed. Call pg_capacity_planning again later (e.g. daily).",
            points.len(),
            a.window_days,
            span_days * 24.0
        )
    };
    let largest_tables = table_size_listing()
        .hide_system_schemas("n.nspname", false)
        .page::<TableSize>(&ctx, a.top, 0)
        .await?
        .items;
    Ok(CapacityPlan {
        database: now.database,
        current_bytes: now.bytes,
        current_size: now.size,
        samples: points.len() as u64,
        span_days: (span_days * 1000.0).round() / 1000.0,
        horizon_days: a.horizon_days,
        growth,
        note,
        largest_tables,
    })
}

/// Bytes as PostgreSQL's pg_size_pretty words them (bytes, kB, MB, GB, TB; 1024-based).
fn pretty(bytes: f64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut i = 0;
    while v.abs() >= 10240.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{} {}", v.round() as i64, units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_by_thresholds() {
        assert_eq!(grade(Some(50.0), 80.0, 95.0, true), Status::Ok);
        assert_eq!(grade(Some(80.0), 80.0, 95.0, true), Status::Warning);
        assert_eq!(grade(Some(99.0), 80.0, 95.0, true), Status::Critical);
        assert_eq!(grade(Some(99.5), 99.0, 95.0, false), Status::Ok);
        assert_eq!(grade(Some(97.0), 99.0, 95.0, false), Status::Warning);
        assert_eq!(grade(Some(90.0), 99.0, 95.0, false), Status::Critical);
        assert_eq!(grade(None, 1.0, 2.0, true), Status::Ok);
    }

    #[test]
    fn fits_a_line() {
        assert_eq!(slope(&[(0.0, 100.0)]), None);
        assert_eq!(slope(&[(1.0, 100.0), (1.0, 200.0)]), None);
        let s = slope(&[(0.0, 100.0), (1.0, 200.0), (2.0, 300.0)]).unwrap();
        assert!((s - 100.0).abs() < 1e-9);
        assert_eq!(pretty(2048.0), "2048 bytes");
        assert_eq!(pretty(20480.0), "20 kB");
    }
}
