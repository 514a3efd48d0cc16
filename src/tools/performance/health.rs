//! Health checks (issue 10, items 1 and 5): unused, duplicate and invalid indexes, bloat
//! (estimated and exact), bloat risk, cache hit ratios, vacuum staleness, sequential scans,
//! index statistics, wraparound, sequence exhaustion, connections, replication and
//! constraints, and `pg_analyze_db_health`, which runs them all.
//!
//! Every check is one function returning [`Finding`]s of one shape (severity, check, object,
//! typed evidence, a fix the user can run); the single tools and the aggregate call the same
//! functions, so a finding reads the same wherever it comes from. Thresholds and queries
//! follow `research/dba-toolkit.md` §4 (and avoid the reference servers' defects listed
//! there: PK/unique indexes never reported unused, catalog-exact duplicate comparison,
//! real bloat rather than dead tuples, thresholds from the actual settings and reloptions,
//! identity columns found through `pg_depend`).
//!
//! Statistics are per database and per node: every statistics-based finding is about the
//! current database on this server, never its replicas.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::super::catalog::{Int8, Listing, PageInfo, decode, default_limit};
use super::super::core::resolve_relation;
use super::super::exec::read_rows;
use super::super::relsize;
use super::super::{Ctx, READ, Spec, Tool};
use super::alerts::{Level, thresholds};
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "performance";

/// `pg_analyze_db_health` is registered in group `core`, where the reference server lists
/// it (anchor-tools.md), so `--tool-filter core` keeps working for prompts written for that
/// server. It lives here, beside the checks it runs, rather than in `tools/core/`: the
/// aggregate is nothing but these checks, and `core::tools()` appends it through
/// [`core_tools`] (one line), so nothing of it is duplicated.
pub const GROUP_CORE: &str = "core";

// ---------------------------------------------------------------------------------------
// The one finding shape.

/// How urgent a finding is.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action needed now.
    Info,
    /// Act soon.
    Warning,
    /// Act now.
    Critical,
}

/// A check's (or the whole database's) status: the worst severity found, or `ok`.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Warning,
    Critical,
}

impl Status {
    pub(super) fn of(findings: &[Finding]) -> Status {
        match findings.iter().map(|f| f.severity).max() {
            None => Status::Ok,
            Some(Severity::Info) => Status::Info,
            Some(Severity::Warning) => Status::Warning,
            Some(Severity::Critical) => Status::Critical,
        }
    }
}

/// What a finding is about.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// An index with no scans in the observation window (never a PK, unique, exclusion or
    /// other constraint-backing index).
    UnusedIndex,
    /// An index identical to another one (same method, keys, opclasses, collations, sort
    /// options, INCLUDE columns and predicate).
    DuplicateIndex,
    /// A btree index whose keys are a prefix of another btree index's (same predicate).
    RedundantIndex,
    /// An index left invalid (a failed CREATE/REINDEX CONCURRENTLY): maintained, never read.
    InvalidIndex,
    /// A table larger than its rows need.
    TableBloat,
    /// A btree index larger than its entries need.
    IndexBloat,
    /// Dead tuples piling up faster than autovacuum removes them.
    BloatRisk,
    /// A buffer cache hit ratio below the threshold.
    LowCacheHitRatio,
    /// Dead or inserted tuples above the table's autovacuum threshold.
    VacuumDue,
    /// Rows modified above the table's autoanalyze threshold.
    AnalyzeDue,
    /// Autovacuum disabled (for the table, or for the server).
    AutovacuumDisabled,
    /// Transaction ID age at or over the freeze limit.
    XidWraparound,
    /// Multixact ID age at or over the freeze limit.
    MultixactWraparound,
    /// A sequence (or the column it feeds) close to its last value.
    SequenceExhaustion,
    /// Client connections close to the usable maximum.
    ConnectionUsage,
    /// A session idle in an open transaction (holds locks and the xmin horizon).
    IdleInTransaction,
    /// A standby behind, or not streaming.
    ReplicationLag,
    /// A replication slot no one consumes, retaining WAL.
    InactiveReplicationSlot,
    /// A table without a primary key.
    NoPrimaryKey,
    /// A constraint created NOT VALID and never validated.
    InvalidConstraint,
    /// A table read mostly by sequential scans.
    SeqScans,
    /// One database, user, application or client address holding a large share of the
    /// client connections.
    ConnectionConcentration,
    /// A session waiting for a lock another session holds.
    LockWait,
    /// A query running for a long time.
    LongRunningQuery,
}

/// The numbers behind a finding; which ones are present depends on the check.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The relation's size in bytes (an index, a table without indexes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Index scans counted in the statistics window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_scans: Option<i64>,
    /// Seconds since the last index scan (PostgreSQL 16+ `last_idx_scan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_last_scan: Option<i64>,
    /// At least how long the statistics have been collected, in seconds (since the
    /// database's `stats_reset`, else since the server started).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_window_seconds: Option<i64>,
    /// Rows written to the table's indexes in the window (inserts + non-HOT updates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_write_rows: Option<i64>,
    /// Estimated (or measured, in exact mode) wasted bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bloat_bytes: Option<i64>,
    /// `bloatBytes` as a percentage of `bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bloat_pct: Option<f64>,
    /// The bytes the rows would need at the relation's fillfactor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_bytes: Option<i64>,
    /// The relation's fillfactor (percent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fillfactor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_tuples: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_tuples: Option<i64>,
    /// dead / (live + dead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_ratio: Option<f64>,
    /// The autovacuum (or autoanalyze) threshold the count is compared with, from the
    /// settings and the table's reloptions: base + scale factor × reltuples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Rows inserted since the last vacuum (PostgreSQL 13+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inserted_since_vacuum: Option<i64>,
    /// Rows modified since the last analyze.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_since_analyze: Option<i64>,
    /// Seconds since the last (auto)vacuum; absent: never vacuumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_vacuum: Option<i64>,
    /// Seconds since the last (auto)analyze; absent: never analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_analyze: Option<i64>,
    /// Updates + deletes per hour over the statistics window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn_per_hour: Option<f64>,
    /// HOT updates / updates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hot_update_ratio: Option<f64>,
    /// Buffer hits / (hits + reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks_hit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks_read: Option<i64>,
    /// Transaction or multixact ID age.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<i64>,
    /// The effective autovacuum_(multixact_)freeze_max_age (reloption or setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freeze_max_age: Option<i64>,
    /// IDs left before the server stops assigning new ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_before_stop: Option<i64>,
    /// The sequence's last value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_value: Option<Int8>,
    /// The last value the sequence (or, when tighter, the column type) allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Int8>,
    /// Percentage of the sequence's range used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_pct: Option<f64>,
    /// Values left before the limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_values: Option<Int8>,
    /// Client backends connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<i64>,
    /// max_connections minus the reserved ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable_connections: Option<i64>,
    /// connections / usableConnections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f64>,
    /// The session's backend process id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// Seconds in the current state (idle in transaction).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// WAL bytes a standby has not replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<i64>,
    /// WAL bytes a slot keeps on the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_bytes: Option<i64>,
    /// Sequential scans started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_scans: Option<i64>,
    /// Rows read by sequential scans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_rows_read: Option<i64>,
    /// seqRowsRead / seqScans.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_rows_per_seq_scan: Option<f64>,
    /// A group's share of the client connections, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// The pids holding the lock a session waits for (`pg_blocking_pids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocking_pids: Option<Vec<i64>>,
}

/// One problem found, with the numbers behind it and SQL that fixes (or, where no statement
/// can, investigates) it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    pub check: Check,
    /// What it is about: `schema.name` of a table, index or sequence, `schema.table.constraint`,
    /// a database name, `pid N`, a slot or standby name.
    pub object: String,
    /// The other object involved: the index covering a duplicate, the column a sequence
    /// feeds, the table of an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
    pub evidence: Evidence,
    /// SQL the user can run (identifiers quoted); lines starting `--` explain it.
    pub fix: String,
    /// A caveat or the reason for the severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub(super) fn finding(severity: Severity, check: Check, object: String, fix: String) -> Finding {
    Finding {
        severity,
        check,
        object,
        related: None,
        evidence: Evidence::default(),
        fix,
        note: None,
    }
}

// ---------------------------------------------------------------------------------------
// Shared helpers.

pub(super) fn qname(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

pub(super) fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(super) async fn rows<R: DeserializeOwned>(
    ctx: &Ctx,
    sql: &str,
    params: &[Value],
) -> ToolResult<Vec<R>> {
    decode(read_rows(ctx, sql, params).await?)
}

/// The condition scoping a check to `$1` (a schema name) or, when `$1` is NULL, to every
/// user schema.
fn in_scope(nsp: &str) -> String {
    format!(
        "(CASE WHEN $1::text IS NULL THEN {nsp} NOT IN ('pg_catalog', 'information_schema') \
         AND {nsp} NOT LIKE 'pg\\_toast%' AND {nsp} NOT LIKE 'pg\\_temp\\_%' ELSE {nsp} = $1::text END)"
    )
}

/// The value of reloption `name` of `pg_class` row `c`, as text (NULL when unset).
fn reloption(c: &str, name: &str) -> String {
    format!(
        "(SELECT split_part(o, '=', 2) FROM unnest({c}.reloptions) o WHERE split_part(o, '=', 1) = '{name}' LIMIT 1)"
    )
}

/// The checked scope: a schema that exists (bad input is an error, not an empty result).
#[derive(Clone, Default)]
pub struct Scope {
    schema: Option<String>,
    pub(super) version: i32,
}

impl Scope {
    pub(super) async fn new(ctx: &Ctx, schema: Option<&str>) -> ToolResult<Scope> {
        #[derive(Deserialize)]
        struct R {
            version: i32,
            schema_exists: bool,
        }
        let schema = schema.filter(|s| !s.is_empty()).map(str::to_string);
        let r: Vec<R> = rows(
            ctx,
            "SELECT current_setting('server_version_num')::int AS version, \
             ($1::text IS NULL OR EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1::text)) AS schema_exists",
            &[json!(schema)],
        )
        .await?;
        let r = r
            .into_iter()
            .next()
            .ok_or_else(|| ToolError::internal("no server version"))?;
        if !r.schema_exists {
            return Err(ToolError::not_found(
                Code::UndefinedSchema,
                format!("schema '{}' does not exist", schema.unwrap_or_default()),
            )
            .suggest("Schema names are case-sensitive; pg_list_schemas shows what exists."));
        }
        Ok(Scope {
            schema,
            version: r.version,
        })
    }

    fn param(&self) -> Value {
        json!(self.schema)
    }
}

/// At least how long this database's statistics have been collected, in seconds.
pub(super) async fn stats_window(ctx: &Ctx) -> ToolResult<Option<i64>> {
    #[derive(Deserialize)]
    struct R {
        seconds: Option<i64>,
    }
    let r: Vec<R> = rows(
        ctx,
        "SELECT extract(epoch FROM now() - coalesce(d.stats_reset, pg_postmaster_start_time()))::int8 AS seconds \
         FROM pg_stat_database d WHERE d.datname = current_database()",
        &[],
    )
    .await?;
    Ok(r.into_iter().next().and_then(|r| r.seconds))
}

pub(super) fn positive(v: u64, what: &str) -> ToolResult<i64> {
    i64::try_from(v).map_err(|_| ToolError::invalid(format!("{what} is too large")))
}

pub(super) fn fraction(v: f64, what: &str) -> ToolResult<f64> {
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "{what} must be between 0 and 1, got {v}"
        )))
    }
}

pub(super) fn percent(v: f64, what: &str) -> ToolResult<f64> {
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "{what} must be between 0 and 100, got {v}"
        )))
    }
}

pub(super) fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}

// ---------------------------------------------------------------------------------------
// Unused indexes.

/// Options of the unused-index check.
#[derive(Clone, Copy)]
pub struct UnusedOptions {
    pub max_scans: i64,
    pub min_bytes: i64,
    pub min_window_days: i64,
}

async fn check_unused(
    ctx: &Ctx,
    scope: &Scope,
    o: UnusedOptions,
) -> ToolResult<(Option<i64>, Vec<Finding>)> {
    #[derive(Deserialize)]
    struct R {
        schema: String,
        table: String,
        index: String,
        scans: i64,
        bytes: Option<i64>,
        write_rows: i64,
        supports_fk: bool,
        since_last_scan: Option<i64>,
    }
    let last = if scope.version >= 160000 {
        "extract(epoch FROM now() - s.last_idx_scan)::int8"
    } else {
        "NULL::int8"
    };
    let index_bytes = relsize::size("pg_relation_size", "s.indexrelid");
    let sql = format!(
        "SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, \
           s.idx_scan::int8 AS scans, {index_bytes}::int8 AS bytes, \
           (t.n_tup_ins + t.n_tup_upd - t.n_tup_hot_upd)::int8 AS write_rows, \
           EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = i.indrelid AND f.contype = 'f' \
             AND (i.indkey::int2[])[0:cardinality(f.conkey) - 1] @> f.conkey \
             AND f.conkey @> (i.indkey::int2[])[0:cardinality(f.conkey) - 1]) AS supports_fk, \
           {last} AS since_last_scan \
         FROM pg_stat_user_indexes s \
         JOIN pg_index i ON i.indexrelid = s.indexrelid \
         JOIN pg_stat_user_tables t ON t.relid = s.relid \
         WHERE {} AND s.idx_scan <= $2 AND i.indisvalid AND i.indisready AND i.indislive \
           AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = s.indexrelid) \
           AND {index_bytes} >= $3 \
         ORDER BY bytes DESC, write_rows DESC, 1, 2, 3",
        in_scope("s.schemaname")
    );
    let window = stats_window(ctx).await?;
    let found: Vec<R> = rows(
        ctx,
        &sql,
        &[scope.param(), json!(o.max_scans), json!(o.min_bytes)],
    )
    .await?;
    let short_window = window.is_none_or(|w| w < o.min_window_days * 86_400);
    let findings = found
        .into_iter()
        .map(|r| {
            let mut notes = Vec::new();
            let mut severity = Severity::Warning;
            if short_window {
                severity = Severity::Info;
                notes.push(format!(
                    "the statistics cover less than {} days: an index used by weekly or monthly jobs may look unused",
                    o.min_window_days
                ));
            }
            if r.supports_fk {
                severity = Severity::Info;
                notes.push("its leading columns are a foreign key's: deleting or updating referenced rows needs it, and zero scans may only mean none happened".into());
            }
            notes.push("statistics are per server: check the replicas before dropping".into());
            let mut f = finding(
                severity,
                Check::UnusedIndex,
                format!("{}.{}", r.schema, r.index),
                format!("DROP INDEX CONCURRENTLY {};", qname(&r.schema, &r.index)),
            );
            f.related = Some(format!("{}.{}", r.schema, r.table));
            f.evidence = Evidence {
                bytes: r.bytes,
                index_scans: Some(r.scans),
                seconds_since_last_scan: r.since_last_scan,
                stats_window_seconds: window,
                index_write_rows: Some(r.write_rows),
                ..Evidence::default()
            };
            f.note = Some(notes.join("; "));
            f
        })
        .collect();
    Ok((window, findings))
}

// ---------------------------------------------------------------------------------------
// Duplicate and redundant indexes.

#[derive(Deserialize, Debug, Clone)]
struct IndexShape {
    oid: i64,
    table_oid: i64,
    schema: String,
    table: String,
    index: String,
    method: String,
    unique: bool,
    nulls_not_distinct: bool,
    valid: bool,
    /// Per key position: column number or expression, opclass, collation, options.
    keys: Vec<String>,
    key_columns: Vec<i64>,
    include: Vec<i64>,
    predicate: Option<String>,
    /// The constraint the index backs, if any.
    constraint: Option<String>,
    bytes: Option<i64>,
    scans: i64,
}

impl IndexShape {
    fn name(&self) -> String {
        format!("{}.{}", self.schema, self.index)
    }

    /// The index to keep of two exact duplicates: the constraint-backing one, then the
    /// unique one, then the more used, then the older (lower OID).
    fn keep_rank(&self) -> (bool, bool, i64, i64) {
        (
            self.constraint.is_some(),
            self.unique,
            self.scans,
            -self.oid,
        )
    }

    fn drop_sql(&self) -> String {
        match &self.constraint {
            Some(c) => format!(
                "ALTER TABLE {} DROP CONSTRAINT {};",
                qname(&self.schema, &self.table),
                quote_ident(c)
            ),
            None => format!(
                "DROP INDEX CONCURRENTLY {};",
                qname(&self.schema, &self.index)
            ),
        }
    }
}

/// `a` and `b` index the same thing: method, keys (with opclass, collation, order),
/// INCLUDE set and predicate.
fn same_shape(a: &IndexShape, b: &IndexShape) -> bool {
    a.table_oid == b.table_oid
        && a.method == b.method
        && a.keys == b.keys
        && a.include == b.include
        && a.predicate == b.predicate
}

/// `a` is redundant given `b`: both btree, same predicate, `a`'s keys a prefix of `b`'s
/// (proper, or equal when only INCLUDE differs), `a`'s INCLUDE columns within `b`'s
/// columns, and `a` neither unique nor backing a constraint.
fn redundant_prefix(a: &IndexShape, b: &IndexShape) -> bool {
    a.table_oid == b.table_oid
        && a.method == "btree"
        && b.method == "btree"
        && !a.unique
        && a.constraint.is_none()
        && a.predicate == b.predicate
        && a.keys.len() <= b.keys.len()
        && b.keys[..a.keys.len()] == a.keys[..]
        && (a.keys.len() < b.keys.len() || a.include != b.include)
        && a.include
            .iter()
            .all(|c| b.key_columns.contains(c) || b.include.contains(c))
}

/// Exact duplicates (any method) and redundant btree prefixes, each reported once, for the
/// index to drop.
fn duplicates(indexes: &[IndexShape]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut dropped: Vec<i64> = Vec::new();
    let valid: Vec<&IndexShape> = indexes.iter().filter(|i| i.valid).collect();
    for a in &valid {
        // Exact duplicates: uniqueness must agree, or the non-unique one is the one to drop.
        let twin = valid.iter().find(|b| {
            b.oid != a.oid
                && same_shape(a, b)
                && !dropped.contains(&b.oid)
                && (a.unique == b.unique && a.nulls_not_distinct == b.nulls_not_distinct
                    || (!a.unique && b.unique))
                && b.keep_rank() > a.keep_rank()
        });
        if let Some(b) = twin {
            dropped.push(a.oid);
            let mut f = finding(
                Severity::Warning,
                Check::DuplicateIndex,
                a.name(),
                a.drop_sql(),
            );
            f.related = Some(b.name());
            f.evidence = Evidence {
                bytes: a.bytes,
                index_scans: Some(a.scans),
                ..Evidence::default()
            };
            f.note = Some(format!(
                "identical to {} on {}.{}; keeping {}",
                b.index,
                a.schema,
                a.table,
                if b.constraint.is_some() {
                    "the one backing a constraint"
                } else if b.unique {
                    "the unique one"
                } else {
                    "the more used (or older) one"
                }
            ));
            out.push(f);
            continue;
        }
        let cover = valid
            .iter()
            .filter(|b| b.oid != a.oid && !dropped.contains(&b.oid) && redundant_prefix(a, b))
            .min_by_key(|b| (b.keys.len(), b.oid));
        if let Some(b) = cover {
            dropped.push(a.oid);
            let mut f = finding(
                Severity::Warning,
                Check::RedundantIndex,
                a.name(),
                a.drop_sql(),
            );
            f.related = Some(b.name());
            f.evidence = Evidence {
                bytes: a.bytes,
                index_scans: Some(a.scans),
                ..Evidence::default()
            };
            f.note = Some(format!(
                "its keys are a leading part of {}'s, which serves the same lookups",
                b.index
            ));
            out.push(f);
        }
    }
    out
}

async fn check_duplicates(ctx: &Ctx, scope: &Scope) -> ToolResult<Vec<Finding>> {
    let nnd = if scope.version >= 150000 {
        "i.indnullsnotdistinct"
    } else {
        "false"
    };
    let sql = format!(
        "SELECT i.indexrelid::int8 AS oid, i.indrelid::int8 AS table_oid, n.nspname AS schema, \
           t.relname AS table, c.relname AS index, am.amname AS method, i.indisunique AS unique, \
           {nnd} AS nulls_not_distinct, (i.indisvalid AND i.indisready AND i.indislive) AS valid, \
           ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN 'e:' || pg_get_indexdef(i.indexrelid, k, false) \
                        ELSE 'c:' || i.indkey[k - 1] END \
                   || ':' || i.indclass[k - 1] || ':' || i.indcollation[k - 1] || ':' || i.indoption[k - 1] \
                 FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS keys, \
           ARRAY(SELECT i.indkey[k - 1]::int8 FROM generate_series(1, i.indnkeyatts) k ORDER BY k) AS key_columns, \
           ARRAY(SELECT i.indkey[k - 1]::int8 FROM generate_series(i.indnkeyatts + 1, i.indnatts) k ORDER BY 1) AS include, \
           pg_get_expr(i.indpred, i.indrelid) AS predicate, \
           (SELECT co.conname FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid \
              ORDER BY co.oid LIMIT 1) AS constraint, \
           {index_bytes}::int8 AS bytes, coalesce(s.idx_scan, 0)::int8 AS scans \
         FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_am am ON am.oid = c.relam \
         LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid \
         WHERE {} AND NOT {} ORDER BY i.indrelid, i.indexrelid",
        in_scope("n.nspname"),
        // pg_get_indexdef and pg_get_expr open the table to name its columns: they would
        // wait for its lock (`relsize`), so the indexes of a locked table are left out.
        relsize::locked("i.indrelid"),
        index_bytes = relsize::size("pg_relation_size", "i.indexrelid"),
    );
    let indexes: Vec<IndexShape> = rows(ctx, &sql, &[scope.param()]).await?;
    Ok(duplicates(&indexes))
}

// ---------------------------------------------------------------------------------------
// Invalid indexes and constraints.

async fn check_invalid_indexes(ctx: &Ctx, scope: &Scope) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct R {
        schema: String,
        index: String,
        table: String,
        bytes: Option<i64>,
        partitioned: bool,
    }
    let index_bytes = relsize::size("pg_relation_size", "c.oid");
    let sql = format!(
        "SELECT n.nspname AS schema, c.relname AS index, t.relname AS table, \
           {index_bytes}::int8 AS bytes, c.relkind = 'I' AS partitioned \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {} AND NOT (i.indisvalid AND i.indisready AND i.indislive) \
           AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p \
                           WHERE p.index_relid = i.indexrelid OR (p.relid = i.indrelid AND p.index_relid = 0)) \
         ORDER BY 1, 2",
        in_scope("n.nspname")
    );
    let found: Vec<R> = rows(ctx, &sql, &[scope.param()]).await?;
    Ok(found
        .into_iter()
        .map(|r| {
            let leftover = {
                let base = r.index.trim_end_matches(|c: char| c.is_ascii_digit());
                base.ends_with("_ccnew") || base.ends_with("_ccold")
            };
            let q = qname(&r.schema, &r.index);
            let (fix, note) = if leftover {
                (
                    format!("DROP INDEX CONCURRENTLY {q};"),
                    "a leftover of a failed REINDEX CONCURRENTLY",
                )
            } else if r.partitioned {
                (
                    format!("-- attach an index of every partition to it:\nALTER INDEX {q} ATTACH PARTITION <partition_index>;"),
                    "a partitioned index stays invalid until every partition has its index attached",
                )
            } else {
                (
                    format!("REINDEX INDEX CONCURRENTLY {q};"),
                    "invalid after a failed CREATE INDEX CONCURRENTLY or REINDEX: still maintained on every write, never used by reads",
                )
            };
            let mut f = finding(Severity::Warning, Check::InvalidIndex, format!("{}.{}", r.schema, r.index), fix);
            f.related = Some(format!("{}.{}", r.schema, r.table));
            f.evidence.bytes = r.bytes;
            f.note = Some(note.into());
            f
        })
        .collect())
}

async fn check_constraints(ctx: &Ctx, scope: &Scope) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct NoPk {
        schema: String,
        table: String,
        rows: f64,
        bytes: Option<i64>,
        candidate: Option<String>,
        partitioned: bool,
    }
    let table_bytes = relsize::size("pg_table_size", "c.oid");
    let sql = format!(
        "SELECT n.nspname AS schema, c.relname AS table, greatest(c.reltuples, 0)::float8 AS rows, \
           {table_bytes}::int8 AS bytes, c.relkind = 'p' AS partitioned, \
           (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL \
               AND i.indexprs IS NULL AND i.indnkeyatts = i.indnatts \
               AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                               AND a.attnum = ANY (i.indkey::int2[]) AND NOT a.attnotnull) \
             ORDER BY i.indnatts, ic.relname LIMIT 1) AS candidate \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {} \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p') \
         ORDER BY 1, 2",
        in_scope("n.nspname")
    );
    let no_pk: Vec<NoPk> = rows(ctx, &sql, &[scope.param()]).await?;
    let mut out: Vec<Finding> = no_pk
        .into_iter()
        .map(|r| {
            let q = qname(&r.schema, &r.table);
            let fix = match (&r.candidate, r.partitioned) {
                (Some(ix), false) => {
                    format!("ALTER TABLE {q} ADD PRIMARY KEY USING INDEX {};", quote_ident(ix))
                }
                _ => format!(
                    "-- add a key column, or ADD PRIMARY KEY (<columns>) on columns that identify a row:\nALTER TABLE {q} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;"
                ),
            };
            let mut f = finding(
                Severity::Warning,
                Check::NoPrimaryKey,
                format!("{}.{}", r.schema, r.table),
                fix,
            );
            f.evidence.live_tuples = Some(r.rows as i64);
            f.evidence.bytes = r.bytes;
            f.note = Some(match &r.candidate {
                Some(ix) if !r.partitioned => format!(
                    "unique index {ix} on NOT NULL columns can become the primary key; without one, logical replication cannot replicate UPDATE and DELETE"
                ),
                _ => "without a primary key rows cannot be addressed reliably, and logical replication cannot replicate UPDATE and DELETE".into(),
            });
            f
        })
        .collect();
    #[derive(Deserialize)]
    struct NotValid {
        schema: String,
        table: String,
        constraint: String,
        kind: String,
    }
    let sql = format!(
        "SELECT n.nspname AS schema, t.relname AS table, k.conname AS constraint, \
           CASE k.contype WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' ELSE k.contype::text END AS kind \
         FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE NOT k.convalidated AND {} ORDER BY 1, 2, 3",
        in_scope("n.nspname")
    );
    let not_valid: Vec<NotValid> = rows(ctx, &sql, &[scope.param()]).await?;
    out.extend(not_valid.into_iter().map(|r| {
        let mut f = finding(
            Severity::Warning,
            Check::InvalidConstraint,
            format!("{}.{}.{}", r.schema, r.table, r.constraint),
            format!(
                "ALTER TABLE {} VALIDATE CONSTRAINT {};",
                qname(&r.schema, &r.table),
                quote_ident(&r.constraint)
            ),
        );
        f.related = Some(format!("{}.{}", r.schema, r.table));
        f.note = Some(format!(
            "a {} constraint created NOT VALID: existing rows were never checked (VALIDATE takes only a SHARE UPDATE EXCLUSIVE lock)",
            r.kind
        ));
        f
    }));
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Bloat.

/// Which relations pg_bloat_check looks at.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum BloatKind {
    Table,
    Index,
    #[default]
    Both,
}

/// How pg_bloat_check measures.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum BloatMode {
    /// From the planner statistics (cheap; needs ANALYZEd tables).
    #[default]
    Estimate,
    /// Measured with the pgstattuple extension: reads each relation (pgstattuple_approx
    /// for tables, pgstatindex for btree indexes).
    Exact,
}

#[derive(Clone, Copy)]
pub struct BloatOptions {
    pub kind: BloatKind,
    pub mode: BloatMode,
    pub min_bytes: i64,
    pub min_pct: f64,
    pub min_relation_bytes: i64,
    pub max_exact_bytes: i64,
}

impl BloatOptions {
    pub const DEFAULT: BloatOptions = BloatOptions {
        kind: BloatKind::Both,
        mode: BloatMode::Estimate,
        min_bytes: 100 << 20,
        min_pct: 50.0,
        min_relation_bytes: 10 << 20,
        max_exact_bytes: 1 << 30,
    };
}

/// A relation the check could not measure, and why.
#[derive(Serialize, JsonSchema, Clone, Debug)]
pub struct Skipped {
    /// `schema.name`.
    pub object: String,
    pub reason: String,
}

/// One relation's measurement, before thresholds.
struct Measured {
    schema: String,
    name: String,
    table: Option<String>,
    index: bool,
    bytes: i64,
    expected: Option<i64>,
    bloat: i64,
    fillfactor: i64,
    note: Option<String>,
}

// The estimate (ioguix/pgsql-bloat-estimation, in our own SQL): page header 24 bytes,
// MAXALIGN 8 (every 64-bit build), heap tuple header 23 bytes plus a null bitmap, a 4-byte
// line pointer per tuple; TOAST pages counted at four chunks a page.
const TABLE_ESTIMATE: &str = "
WITH cols AS (
  SELECT c.oid, n.nspname AS schema, c.relname AS name, c.reltuples::float8 AS reltuples,
    c.relpages::int8 AS relpages, coalesce(tc.relpages, 0)::int8 AS toast_pages,
    greatest(coalesce(tc.reltuples, 0), 0)::float8 AS toast_tuples,
    coalesce(RELOPT_FF::int8, 100) AS fillfactor,
    count(*)::int8 AS natts, count(s.attname)::int8 AS nstats,
    bool_or(a.atttypid = 'name'::regtype) AS has_name,
    bool_or(coalesce(s.null_frac, 0) > 0) AS has_nulls,
    coalesce(sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)), 0)::float8 AS width
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
    AND s.attname = a.attname AND NOT s.inherited
  WHERE c.relkind IN ('r', 'm') AND SCOPE
  GROUP BY c.oid, n.nspname, c.relname, c.reltuples, c.relpages, c.reloptions, tc.relpages, tc.reltuples
)
SELECT schema, name, NULL::text AS table, false AS index, relpages * bs AS bytes,
  fillfactor, natts, nstats, has_name, reltuples,
  CASE WHEN reltuples < 0 THEN NULL ELSE
    (ceil(reltuples / greatest(floor((bs - 24) * fillfactor / 100.0
       / (4 + ceil((23 + CASE WHEN has_nulls THEN ceil(natts / 8.0) ELSE 0 END) / 8.0) * 8
            + ceil(width / 8.0) * 8)), 1))
     + ceil(toast_tuples / 4.0))::int8 * bs END AS expected,
  (relpages + toast_pages) * bs AS actual
FROM cols, (SELECT current_setting('block_size')::int8 AS bs) b
ORDER BY 1, 2";

// The btree estimate: page header 24 + btree special space 16 bytes a page, one metapage,
// index tuple header 8 bytes (12 with a null bitmap), data aligned with it to 8.
const INDEX_ESTIMATE: &str = "
WITH cols AS (
  SELECT ic.oid, n.nspname AS schema, ic.relname AS name, tc.relname AS tbl,
    ic.reltuples::float8 AS reltuples, ic.relpages::int8 AS relpages,
    coalesce(RELOPT_FF::int8, 90) AS fillfactor,
    count(*)::int8 AS natts, count(s.avg_width)::int8 AS nstats,
    bool_or(coalesce(s.null_frac, 0) > 0) AS has_nulls,
    coalesce(sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)), 0)::float8 AS width,
    max(CASE WHEN k = 1 THEN CASE WHEN s.n_distinct < 0 THEN -s.n_distinct * greatest(tc.reltuples, 0)
                                  ELSE s.n_distinct END END)::float8 AS lead_distinct
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class tc ON tc.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
  JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
  CROSS JOIN LATERAL generate_series(1, i.indnatts) k
  LEFT JOIN pg_attribute ta ON ta.attrelid = i.indrelid AND ta.attnum = i.indkey[k - 1]
  LEFT JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = k
  LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND NOT s.inherited
    AND s.tablename = CASE WHEN i.indkey[k - 1] = 0 THEN ic.relname ELSE tc.relname END
    AND s.attname = CASE WHEN i.indkey[k - 1] = 0 THEN ia.attname ELSE ta.attname END
  WHERE ic.relkind = 'i' AND i.indisvalid AND SCOPE
  GROUP BY ic.oid, n.nspname, ic.relname, tc.relname, ic.reltuples, ic.relpages, ic.reloptions
)
SELECT schema, name, tbl AS table, true AS index, relpages * bs AS bytes, fillfactor, natts, nstats,
  false AS has_name, reltuples, lead_distinct,
  CASE WHEN reltuples < 0 THEN NULL ELSE
    (1 + ceil(reltuples / greatest(floor((bs - 24 - 16) * fillfactor / 100.0
       / (4 + ceil(((CASE WHEN has_nulls THEN 12 ELSE 8 END) + width) / 8.0) * 8)), 1)))::int8 * bs END AS expected,
  relpages * bs AS actual
FROM cols, (SELECT current_setting('block_size')::int8 AS bs) b
ORDER BY 1, 2";

#[derive(Deserialize)]
struct EstimateRow {
    schema: String,
    name: String,
    table: Option<String>,
    index: bool,
    bytes: i64,
    fillfactor: i64,
    natts: i64,
    nstats: i64,
    has_name: bool,
    reltuples: f64,
    lead_distinct: Option<f64>,
    expected: Option<i64>,
    actual: i64,
}

async fn estimate_bloat(
    ctx: &Ctx,
    scope: &Scope,
    kind: BloatKind,
) -> ToolResult<(Vec<Measured>, Vec<Skipped>)> {
    let mut measured = Vec::new();
    let mut skipped = Vec::new();
    let mut found: Vec<EstimateRow> = Vec::new();
    if kind != BloatKind::Index {
        let sql = TABLE_ESTIMATE
            .replace("RELOPT_FF", &reloption("c", "fillfactor"))
            .replace("SCOPE", &in_scope("n.nspname"));
        found.extend(rows::<EstimateRow>(ctx, &sql, &[scope.param()]).await?);
    }
    if kind != BloatKind::Table {
        let sql = INDEX_ESTIMATE
            .replace("RELOPT_FF", &reloption("ic", "fillfactor"))
            .replace("SCOPE", &in_scope("n.nspname"));
        found.extend(rows::<EstimateRow>(ctx, &sql, &[scope.param()]).await?);
    }
    for r in found {
        let object = format!("{}.{}", r.schema, r.name);
        let reason = if r.reltuples < 0.0 {
            Some("never vacuumed or analyzed (reltuples unknown): run ANALYZE first")
        } else if r.nstats < r.natts {
            Some(
                "some columns have no statistics (not analyzed, or not readable): run ANALYZE first",
            )
        } else if r.has_name {
            Some("a column of type name: its statistics do not reflect its space")
        } else {
            None
        };
        if let Some(reason) = reason {
            skipped.push(Skipped {
                object,
                reason: reason.into(),
            });
            continue;
        }
        let expected = r.expected.unwrap_or(0);
        let note = match r.lead_distinct {
            Some(d) if r.index && d < r.reltuples / 2.0 => Some(
                "many duplicate keys: btree deduplication (PostgreSQL 13+) stores them more compactly than this estimate assumes, so real bloat may be larger".to_string(),
            ),
            _ => None,
        };
        measured.push(Measured {
            schema: r.schema,
            name: r.name,
            table: r.table,
            index: r.index,
            bytes: r.bytes,
            expected: Some(expected),
            bloat: (r.actual - expected).max(0),
            fillfactor: r.fillfactor,
            note,
        });
    }
    Ok((measured, skipped))
}

async fn exact_bloat(
    ctx: &Ctx,
    scope: &Scope,
    kind: BloatKind,
    max_bytes: i64,
) -> ToolResult<(Vec<Measured>, Vec<Skipped>)> {
    #[derive(Deserialize)]
    struct Ext {
        schema: String,
    }
    let ext: Vec<Ext> = rows(
        ctx,
        "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         WHERE e.extname = 'pgstattuple'",
        &[],
    )
    .await?;
    let Some(ext) = ext.into_iter().next() else {
        return Err(ToolError::not_found(
            Code::ExtensionMissing,
            "exact bloat needs the pgstattuple extension, which is not installed in this database",
        )
        .suggest("Run CREATE EXTENSION pgstattuple (contrib), or use mode 'estimate'."));
    };
    let x = quote_ident(&ext.schema);
    let mut measured = Vec::new();
    let mut skipped = Vec::new();
    #[derive(Deserialize)]
    struct Big {
        schema: String,
        name: String,
        bytes: Option<i64>,
    }
    // Too big to read, or locked (its size unknown: reading it would wait too).
    let bytes = relsize::size("pg_relation_size", "c.oid");
    let big_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name, {bytes}::int8 AS bytes \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {} AND ({bytes} > $2 OR {bytes} IS NULL) AND (c.relkind IN ({})) ORDER BY 1, 2",
        in_scope("n.nspname"),
        match kind {
            BloatKind::Table => "'r', 'm'",
            BloatKind::Index => "'i'",
            BloatKind::Both => "'r', 'm', 'i'",
        }
    );
    for b in rows::<Big>(ctx, &big_sql, &[scope.param(), json!(max_bytes)]).await? {
        skipped.push(Skipped {
            object: format!("{}.{}", b.schema, b.name),
            reason: match b.bytes {
                Some(bytes) => {
                    format!("{bytes} bytes, more than maxExactBytes: reading it would take long")
                }
                None => relsize::LOCKED_REASON.to_string(),
            },
        });
    }
    let denied = |e: ToolError| {
        if e.sqlstate.as_deref() == Some("42501") {
            e.suggest("pgstattuple's functions need the pg_stat_scan_tables role (GRANT pg_stat_scan_tables TO <role>), or use mode 'estimate'.")
        } else {
            e
        }
    };
    #[derive(Deserialize)]
    struct R {
        schema: String,
        name: String,
        table: Option<String>,
        bytes: i64,
        fillfactor: i64,
        used: f64,
    }
    if kind != BloatKind::Index {
        // Bytes that hold live tuples; the rest of the table is dead tuples and free space.
        let sql = format!(
            "SELECT n.nspname AS schema, c.relname AS name, NULL::text AS table, \
               x.table_len::int8 AS bytes, coalesce({ff}::int8, 100) AS fillfactor, \
               x.approx_tuple_len::float8 AS used \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             CROSS JOIN LATERAL {x}.pgstattuple_approx(c.oid) x \
             WHERE c.relkind IN ('r', 'm') AND {} AND {bytes} <= $2 ORDER BY 1, 2",
            in_scope("n.nspname"),
            ff = reloption("c", "fillfactor"),
        );
        let found: Vec<R> = rows(ctx, &sql, &[scope.param(), json!(max_bytes)])
            .await
            .map_err(denied)?;
        for r in found {
            // The space the live tuples need at the fillfactor; everything else is waste.
            let expected = if r.fillfactor > 0 {
                (r.used * 100.0 / r.fillfactor as f64) as i64
            } else {
                r.used as i64
            };
            measured.push(Measured {
                schema: r.schema,
                name: r.name,
                table: r.table,
                index: false,
                bytes: r.bytes,
                expected: Some(expected),
                bloat: (r.bytes - expected).max(0),
                fillfactor: r.fillfactor,
                note: Some("measured with pgstattuple_approx (dead tuples and free space)".into()),
            });
        }
    }
    if kind != BloatKind::Table {
        let sql = format!(
            "SELECT n.nspname AS schema, ic.relname AS name, tc.relname AS table, \
               x.index_size::int8 AS bytes, coalesce({ff}::int8, 90) AS fillfactor, \
               (x.leaf_pages * current_setting('block_size')::int8 * \
                 CASE WHEN x.avg_leaf_density = 'NaN' THEN 0 ELSE x.avg_leaf_density / 100.0 END \
                 + (x.internal_pages + 1) * current_setting('block_size')::int8)::float8 AS used \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = ic.relnamespace \
             JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree' \
             CROSS JOIN LATERAL {x}.pgstatindex(i.indexrelid::regclass) x \
             WHERE ic.relkind = 'i' AND i.indisvalid AND {} AND {bytes} <= $2 ORDER BY 1, 2",
            in_scope("n.nspname"),
            bytes = relsize::size("pg_relation_size", "ic.oid"),
            ff = reloption("ic", "fillfactor"),
        );
        let found: Vec<R> = rows(ctx, &sql, &[scope.param(), json!(max_bytes)])
            .await
            .map_err(denied)?;
        for r in found {
            let expected = (r.used * 100.0 / r.fillfactor.max(1) as f64) as i64;
            measured.push(Measured {
                schema: r.schema,
                name: r.name,
                table: r.table,
                index: true,
                bytes: r.bytes,
                expected: Some(expected),
                bloat: (r.bytes - expected).max(0),
                fillfactor: r.fillfactor,
                note: Some(
                    "measured with pgstatindex (leaf density against the fillfactor)".into(),
                ),
            });
        }
    }
    Ok((measured, skipped))
}

/// Flag rule: `bloat ≥ min_bytes`, or `bloat_pct ≥ min_pct` on a relation of at least
/// `min_relation_bytes` (small relations show big, meaningless percentages). Critical from
/// 75 % bloat.
fn bloat_findings(measured: Vec<Measured>, o: &BloatOptions) -> Vec<Finding> {
    let mut out: Vec<Finding> = measured
        .into_iter()
        .filter_map(|m| {
            let pct = if m.bytes > 0 {
                m.bloat as f64 * 100.0 / m.bytes as f64
            } else {
                0.0
            };
            let flagged = m.bloat > 0
                && (m.bloat >= o.min_bytes
                    || (pct >= o.min_pct && m.bytes >= o.min_relation_bytes));
            if !flagged {
                return None;
            }
            let q = qname(&m.schema, &m.name);
            let (check, fix) = if m.index {
                (
                    Check::IndexBloat,
                    format!("REINDEX INDEX CONCURRENTLY {q};"),
                )
            } else {
                (
                    Check::TableBloat,
                    format!(
                        "-- rewrites the table under an ACCESS EXCLUSIVE lock (pg_repack avoids the lock):\nVACUUM (FULL, ANALYZE) {q};"
                    ),
                )
            };
            let mut f = finding(
                if pct >= 75.0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                check,
                format!("{}.{}", m.schema, m.name),
                fix,
            );
            f.related = m.table.map(|t| format!("{}.{t}", m.schema));
            f.evidence = Evidence {
                bytes: Some(m.bytes),
                bloat_bytes: Some(m.bloat),
                bloat_pct: Some(round(pct, 1)),
                expected_bytes: m.expected,
                fillfactor: Some(m.fillfactor),
                ..Evidence::default()
            };
            f.note = m.note;
            Some(f)
        })
        .collect();
    out.sort_by(|a, b| {
        b.evidence
            .bloat_bytes
            .cmp(&a.evidence.bloat_bytes)
            .then_with(|| a.object.cmp(&b.object))
    });
    out
}

async fn check_bloat(
    ctx: &Ctx,
    scope: &Scope,
    o: &BloatOptions,
) -> ToolResult<(Vec<Finding>, Vec<Skipped>)> {
    let (measured, skipped) = match o.mode {
        BloatMode::Estimate => estimate_bloat(ctx, scope, o.kind).await?,
        BloatMode::Exact => exact_bloat(ctx, scope, o.kind, o.max_exact_bytes).await?,
    };
    Ok((bloat_findings(measured, o), skipped))
}

// ---------------------------------------------------------------------------------------
// Vacuum statistics and bloat risk.

/// One table's vacuum state, with its autovacuum thresholds computed from the settings and
/// its own reloptions.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct VacuumRow {
    pub schema: String,
    pub table: String,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    /// dead / (live + dead); absent for an empty table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_ratio: Option<f64>,
    /// Autovacuum vacuums when deadTuples exceeds this (threshold + scale factor × reltuples).
    pub vacuum_threshold: f64,
    pub vacuum_due: bool,
    /// Rows inserted since the last vacuum (PostgreSQL 13+).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inserted_since_vacuum: Option<i64>,
    /// Autovacuum vacuums when insertedSinceVacuum exceeds this; absent when insert-driven
    /// vacuums are off (threshold -1) or not supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_threshold: Option<f64>,
    pub insert_vacuum_due: bool,
    pub modified_since_analyze: i64,
    /// Autovacuum analyzes when modifiedSinceAnalyze exceeds this.
    pub analyze_threshold: f64,
    pub analyze_due: bool,
    /// Autovacuum runs on this table (server setting and table reloption).
    pub autovacuum_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_vacuum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_autovacuum: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_analyze: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_autoanalyze: Option<String>,
    /// Seconds since the last (auto)vacuum; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_vacuum: Option<i64>,
    /// Seconds since the last (auto)analyze; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_analyze: Option<i64>,
    /// Table size (heap and TOAST, without indexes) in bytes; absent while the table is locked
    /// (another session holds or waits for an ACCESS EXCLUSIVE lock on it; not waited for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    #[serde(skip)]
    table_autovacuum_enabled: bool,
    #[serde(skip)]
    churn: i64,
    #[serde(skip)]
    hot_ratio: Option<f64>,
}

#[derive(Deserialize)]
struct VacuumSql {
    schema: String,
    table: String,
    live: i64,
    dead: i64,
    mod_since_analyze: i64,
    ins_since_vacuum: Option<i64>,
    reltuples: f64,
    updates: i64,
    deletes: i64,
    hot_updates: i64,
    last_vacuum: Option<String>,
    last_autovacuum: Option<String>,
    last_analyze: Option<String>,
    last_autoanalyze: Option<String>,
    since_vacuum: Option<i64>,
    since_analyze: Option<i64>,
    server_autovacuum: bool,
    table_autovacuum: bool,
    vac_base: f64,
    vac_scale: f64,
    an_base: f64,
    an_scale: f64,
    ins_base: Option<f64>,
    ins_scale: Option<f64>,
    bytes: Option<i64>,
}

pub(super) async fn vacuum_rows(
    ctx: &Ctx,
    scope: &Scope,
    table: Option<i64>,
) -> ToolResult<Vec<VacuumRow>> {
    let ro = |n: &str| reloption("c", n);
    let ins = if scope.version >= 130000 {
        "s.n_ins_since_vacuum::int8"
    } else {
        "NULL::int8"
    };
    let sql = format!(
        "SELECT s.schemaname AS schema, s.relname AS table, s.n_live_tup::int8 AS live, \
           s.n_dead_tup::int8 AS dead, s.n_mod_since_analyze::int8 AS mod_since_analyze, \
           {ins} AS ins_since_vacuum, greatest(c.reltuples, 0)::float8 AS reltuples, \
           s.n_tup_upd::int8 AS updates, s.n_tup_del::int8 AS deletes, s.n_tup_hot_upd::int8 AS hot_updates, \
           s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze, \
           extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum))::int8 AS since_vacuum, \
           extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::int8 AS since_analyze, \
           current_setting('autovacuum')::bool AS server_autovacuum, \
           coalesce({en}::bool, true) AS table_autovacuum, \
           coalesce({vb}::float8, current_setting('autovacuum_vacuum_threshold')::float8) AS vac_base, \
           coalesce({vs}::float8, current_setting('autovacuum_vacuum_scale_factor')::float8) AS vac_scale, \
           coalesce({ab}::float8, current_setting('autovacuum_analyze_threshold')::float8) AS an_base, \
           coalesce({as_}::float8, current_setting('autovacuum_analyze_scale_factor')::float8) AS an_scale, \
           coalesce({ib}::float8, current_setting('autovacuum_vacuum_insert_threshold', true)::float8) AS ins_base, \
           coalesce({is}::float8, current_setting('autovacuum_vacuum_insert_scale_factor', true)::float8) AS ins_scale, \
           {bytes}::int8 AS bytes \
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE c.relkind IN ('r', 'm') AND {} AND ($2::int8 IS NULL OR s.relid = $2::int8::oid) \
         ORDER BY s.n_dead_tup DESC, 1, 2",
        in_scope("s.schemaname"),
        en = ro("autovacuum_enabled"),
        vb = ro("autovacuum_vacuum_threshold"),
        vs = ro("autovacuum_vacuum_scale_factor"),
        ab = ro("autovacuum_analyze_threshold"),
        as_ = ro("autovacuum_analyze_scale_factor"),
        ib = ro("autovacuum_vacuum_insert_threshold"),
        is = ro("autovacuum_vacuum_insert_scale_factor"),
        bytes = relsize::size("pg_table_size", "s.relid"),
    );
    let found: Vec<VacuumSql> = rows(ctx, &sql, &[scope.param(), json!(table)]).await?;
    Ok(found
        .into_iter()
        .map(|r| {
            let vacuum_threshold = r.vac_base + r.vac_scale * r.reltuples;
            let analyze_threshold = r.an_base + r.an_scale * r.reltuples;
            let insert_threshold = match (r.ins_base, r.ins_scale) {
                (Some(b), Some(s)) if b >= 0.0 => Some(b + s * r.reltuples),
                _ => None,
            };
            let total = r.live + r.dead;
            VacuumRow {
                dead_ratio: (total > 0).then(|| round(r.dead as f64 / total as f64, 4)),
                vacuum_due: r.dead as f64 > vacuum_threshold,
                insert_vacuum_due: match (insert_threshold, r.ins_since_vacuum) {
                    (Some(t), Some(n)) => n as f64 > t,
                    _ => false,
                },
                analyze_due: r.mod_since_analyze as f64 > analyze_threshold,
                autovacuum_enabled: r.server_autovacuum && r.table_autovacuum,
                table_autovacuum_enabled: r.table_autovacuum,
                churn: r.updates + r.deletes,
                hot_ratio: (r.updates > 0)
                    .then(|| round(r.hot_updates as f64 / r.updates as f64, 4)),
                schema: r.schema,
                table: r.table,
                live_tuples: r.live,
                dead_tuples: r.dead,
                vacuum_threshold,
                inserted_since_vacuum: r.ins_since_vacuum,
                insert_threshold,
                modified_since_analyze: r.mod_since_analyze,
                analyze_threshold,
                last_vacuum: r.last_vacuum,
                last_autovacuum: r.last_autovacuum,
                last_analyze: r.last_analyze,
                last_autoanalyze: r.last_autoanalyze,
                seconds_since_vacuum: r.since_vacuum,
                seconds_since_analyze: r.since_analyze,
                bytes: r.bytes,
            }
        })
        .collect())
}

pub(super) async fn server_autovacuum_finding(ctx: &Ctx) -> ToolResult<Option<Finding>> {
    #[derive(Deserialize)]
    struct R {
        on: bool,
    }
    let r: Vec<R> = rows(ctx, "SELECT current_setting('autovacuum')::bool AS on", &[]).await?;
    Ok(r.first().filter(|r| !r.on).map(|_| {
        let mut f = finding(
            Severity::Critical,
            Check::AutovacuumDisabled,
            "autovacuum".into(),
            "ALTER SYSTEM SET autovacuum = on;\nSELECT pg_reload_conf();".into(),
        );
        f.note = Some("autovacuum is off for the whole server: dead tuples accumulate and only anti-wraparound vacuums run".into());
        f
    }))
}

/// Vacuum findings: autovacuum disabled on a table (warning), a vacuum due (warning when
/// the table was never vacuumed or not within `overdue_after` seconds, else info), an
/// analyze due (same rule).
pub(super) fn vacuum_findings(tables: &[VacuumRow], overdue_after: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in tables {
        let q = qname(&t.schema, &t.table);
        let object = format!("{}.{}", t.schema, t.table);
        if !t.table_autovacuum_enabled {
            let mut f = finding(
                Severity::Warning,
                Check::AutovacuumDisabled,
                object.clone(),
                format!("ALTER TABLE {q} RESET (autovacuum_enabled);"),
            );
            f.evidence = Evidence {
                dead_tuples: Some(t.dead_tuples),
                live_tuples: Some(t.live_tuples),
                ..Evidence::default()
            };
            f.note = Some("autovacuum_enabled = false on this table: only manual VACUUM (and anti-wraparound vacuums) clean it".into());
            out.push(f);
        }
        let stale = |since: Option<i64>| since.is_none_or(|s| s > overdue_after);
        if t.vacuum_due || t.insert_vacuum_due {
            let overdue = stale(t.seconds_since_vacuum);
            let mut f = finding(
                if overdue {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                Check::VacuumDue,
                object.clone(),
                format!("VACUUM (ANALYZE) {q};"),
            );
            f.evidence = Evidence {
                dead_tuples: Some(t.dead_tuples),
                live_tuples: Some(t.live_tuples),
                dead_ratio: t.dead_ratio,
                threshold: Some(if t.vacuum_due {
                    t.vacuum_threshold
                } else {
                    t.insert_threshold.unwrap_or_default()
                }),
                inserted_since_vacuum: t.inserted_since_vacuum,
                seconds_since_vacuum: t.seconds_since_vacuum,
                bytes: t.bytes,
                ..Evidence::default()
            };
            f.note = Some(
                match (t.vacuum_due, overdue) {
                    (true, true) => "dead tuples over the autovacuum threshold, and no vacuum in the overdue window",
                    (true, false) => "dead tuples over the autovacuum threshold; autovacuum should take it soon",
                    (false, true) => "rows inserted since the last vacuum over the insert threshold, and no vacuum in the overdue window",
                    (false, false) => "rows inserted since the last vacuum over the insert threshold",
                }
                .into(),
            );
            out.push(f);
        }
        if t.analyze_due {
            let overdue = stale(t.seconds_since_analyze);
            let mut f = finding(
                if overdue {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                Check::AnalyzeDue,
                object.clone(),
                format!("ANALYZE {q};"),
            );
            f.evidence = Evidence {
                modified_since_analyze: Some(t.modified_since_analyze),
                threshold: Some(t.analyze_threshold),
                seconds_since_analyze: t.seconds_since_analyze,
                ..Evidence::default()
            };
            f.note = Some(if t.seconds_since_analyze.is_none() {
                "never analyzed: the planner works from defaults".into()
            } else {
                "rows modified since the last analyze over the autoanalyze threshold".into()
            });
            out.push(f);
        }
    }
    out
}

#[derive(Clone, Copy)]
pub struct RiskOptions {
    pub min_dead_ratio: f64,
    /// With autovacuum off, critical from this dead ratio (the dead_tuples alert threshold).
    pub critical_dead_ratio: f64,
    pub min_dead_tuples: i64,
}

/// Bloat risk, precisely: a table with at least `min_dead_tuples` dead tuples making up at
/// least `min_dead_ratio` of its rows, where autovacuum will not catch up: it is disabled
/// for the table or the server (critical from `critical_dead_ratio`, else warning), or the
/// dead tuples already exceed the table's autovacuum threshold and no vacuum has run for
/// it (warning), or they exceed it and every update is non-HOT (each update adds index
/// entries as well, warning). Evidence carries the churn rate (updates + deletes per hour
/// over the statistics window) and the time since the last vacuum (absent: never, not 0).
pub(super) fn risk_findings(
    tables: &[VacuumRow],
    window: Option<i64>,
    o: RiskOptions,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in tables {
        let Some(ratio) = t.dead_ratio else { continue };
        if ratio < o.min_dead_ratio || t.dead_tuples < o.min_dead_tuples {
            continue;
        }
        let (severity, why) = if !t.autovacuum_enabled {
            (
                if ratio >= o.critical_dead_ratio {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                "autovacuum is disabled for it: nothing will remove the dead tuples",
            )
        } else if t.vacuum_due && t.seconds_since_vacuum.is_none() {
            (
                Severity::Warning,
                "dead tuples over the autovacuum threshold and never vacuumed",
            )
        } else if t.vacuum_due && t.hot_ratio.is_some_and(|h| h < 0.1) {
            (
                Severity::Warning,
                "dead tuples over the autovacuum threshold and updates are not HOT: every update also grows the indexes",
            )
        } else {
            continue;
        };
        let mut f = finding(
            severity,
            Check::BloatRisk,
            format!("{}.{}", t.schema, t.table),
            format!(
                "VACUUM (ANALYZE) {q};{extra}",
                q = qname(&t.schema, &t.table),
                extra = if t.table_autovacuum_enabled {
                    String::new()
                } else {
                    format!(
                        "\nALTER TABLE {} RESET (autovacuum_enabled);",
                        qname(&t.schema, &t.table)
                    )
                }
            ),
        );
        f.evidence = Evidence {
            dead_tuples: Some(t.dead_tuples),
            live_tuples: Some(t.live_tuples),
            dead_ratio: Some(ratio),
            threshold: Some(t.vacuum_threshold),
            seconds_since_vacuum: t.seconds_since_vacuum,
            churn_per_hour: window
                .filter(|w| *w > 0)
                .map(|w| round(t.churn as f64 * 3600.0 / w as f64, 1)),
            hot_update_ratio: t.hot_ratio,
            bytes: t.bytes,
            stats_window_seconds: window,
            ..Evidence::default()
        };
        f.note = Some(why.into());
        out.push(f);
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| b.evidence.dead_tuples.cmp(&a.evidence.dead_tuples))
            .then_with(|| a.object.cmp(&b.object))
    });
    out
}

// ---------------------------------------------------------------------------------------
// Cache hit ratios.

/// Buffer hits and reads of one kind of block; `ratio` is absent when nothing was read.
#[derive(Serialize, JsonSchema, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Ratio {
    pub hit: i64,
    pub read: i64,
    /// hit / (hit + read); absent when there was no access at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

impl Ratio {
    fn new(hit: i64, read: i64) -> Ratio {
        Ratio {
            hit,
            read,
            ratio: (hit + read > 0).then(|| round(hit as f64 / (hit + read) as f64, 4)),
        }
    }
}

/// One table's hit ratios.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct TableCache {
    pub schema: String,
    pub table: String,
    pub heap: Ratio,
    pub index: Ratio,
}

#[derive(Clone, Copy)]
pub struct CacheOptions {
    pub warn_below: f64,
    pub critical_below: f64,
    pub min_blocks: i64,
    pub limit: i64,
}

pub struct CacheReport {
    pub(super) database: Ratio,
    pub(super) heap: Ratio,
    pub(super) index: Ratio,
    pub(super) toast: Ratio,
    pub(super) tables: Vec<TableCache>,
    pub(super) findings: Vec<Finding>,
}

pub(super) async fn check_cache(
    ctx: &Ctx,
    scope: &Scope,
    o: CacheOptions,
) -> ToolResult<CacheReport> {
    #[derive(Deserialize)]
    struct Tot {
        db_hit: i64,
        db_read: i64,
        heap_hit: i64,
        heap_read: i64,
        idx_hit: i64,
        idx_read: i64,
        toast_hit: i64,
        toast_read: i64,
        shared_buffers: i64,
    }
    let sql = format!(
        "SELECT coalesce((SELECT blks_hit FROM pg_stat_database WHERE datname = current_database()), 0)::int8 AS db_hit, \
           coalesce((SELECT blks_read FROM pg_stat_database WHERE datname = current_database()), 0)::int8 AS db_read, \
           coalesce(sum(heap_blks_hit), 0)::int8 AS heap_hit, coalesce(sum(heap_blks_read), 0)::int8 AS heap_read, \
           coalesce(sum(idx_blks_hit), 0)::int8 AS idx_hit, coalesce(sum(idx_blks_read), 0)::int8 AS idx_read, \
           coalesce(sum(coalesce(toast_blks_hit, 0) + coalesce(tidx_blks_hit, 0)), 0)::int8 AS toast_hit, \
           coalesce(sum(coalesce(toast_blks_read, 0) + coalesce(tidx_blks_read, 0)), 0)::int8 AS toast_read, \
           pg_size_bytes(current_setting('shared_buffers'))::int8 AS shared_buffers \
         FROM pg_statio_user_tables WHERE {}",
        in_scope("schemaname")
    );
    let tot: Vec<Tot> = rows(ctx, &sql, &[scope.param()]).await?;
    let tot = tot
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("no cache totals"))?;
    #[derive(Deserialize)]
    struct T {
        schema: String,
        table: String,
        heap_hit: i64,
        heap_read: i64,
        idx_hit: i64,
        idx_read: i64,
    }
    let sql = format!(
        "SELECT schemaname AS schema, relname AS table, \
           coalesce(heap_blks_hit, 0)::int8 AS heap_hit, coalesce(heap_blks_read, 0)::int8 AS heap_read, \
           coalesce(idx_blks_hit, 0)::int8 AS idx_hit, coalesce(idx_blks_read, 0)::int8 AS idx_read \
         FROM pg_statio_user_tables WHERE {} \
         ORDER BY coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0) DESC, \
           coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0) DESC, 1, 2 LIMIT $2",
        in_scope("schemaname")
    );
    let tables: Vec<T> = rows(ctx, &sql, &[scope.param(), json!(o.limit)]).await?;
    let tables: Vec<TableCache> = tables
        .into_iter()
        .map(|t| TableCache {
            schema: t.schema,
            table: t.table,
            heap: Ratio::new(t.heap_hit, t.heap_read),
            index: Ratio::new(t.idx_hit, t.idx_read),
        })
        .collect();
    let heap = Ratio::new(tot.heap_hit, tot.heap_read);
    let index = Ratio::new(tot.idx_hit, tot.idx_read);
    let pretty = |b: i64| {
        if b % (1 << 30) == 0 {
            format!("{}GB", b >> 30)
        } else if b % (1 << 20) == 0 {
            format!("{}MB", b >> 20)
        } else {
            format!("{}kB", b >> 10)
        }
    };
    let buffers_fix = format!(
        "-- twice the current shared_buffers ({}); takes effect after a restart:\nALTER SYSTEM SET shared_buffers = '{}';",
        pretty(tot.shared_buffers),
        pretty(tot.shared_buffers * 2)
    );
    let mut findings = Vec::new();
    let judge = |r: &Ratio| -> Option<Severity> {
        let ratio = r.ratio?;
        if r.hit + r.read < o.min_blocks {
            return None;
        }
        if ratio < o.critical_below {
            Some(Severity::Critical)
        } else if ratio < o.warn_below {
            Some(Severity::Warning)
        } else {
            None
        }
    };
    for (what, r) in [("heap", &heap), ("index", &index)] {
        if let Some(sev) = judge(r) {
            let mut f = finding(
                sev,
                Check::LowCacheHitRatio,
                format!("{what} blocks"),
                buffers_fix.clone(),
            );
            f.evidence = Evidence {
                hit_ratio: r.ratio,
                blocks_hit: Some(r.hit),
                blocks_read: Some(r.read),
                ..Evidence::default()
            };
            f.note = Some("cumulative since the statistics were reset; a read may still have come from the OS page cache".into());
            findings.push(f);
        }
    }
    for t in &tables {
        for (what, r) in [("heap", &t.heap), ("index", &t.index)] {
            if judge(r).is_some() {
                let mut f = finding(
                    Severity::Info,
                    Check::LowCacheHitRatio,
                    format!("{}.{}", t.schema, t.table),
                    buffers_fix.clone(),
                );
                f.evidence = Evidence {
                    hit_ratio: r.ratio,
                    blocks_hit: Some(r.hit),
                    blocks_read: Some(r.read),
                    ..Evidence::default()
                };
                f.note = Some(format!("{what} blocks of this table miss the cache"));
                findings.push(f);
            }
        }
    }
    Ok(CacheReport {
        database: Ratio::new(tot.db_hit, tot.db_read),
        heap,
        index,
        toast: Ratio::new(tot.toast_hit, tot.toast_read),
        tables,
        findings,
    })
}

// ---------------------------------------------------------------------------------------
// Sequential scans.

#[derive(Clone, Copy)]
pub struct SeqScanOptions {
    pub min_seq_scans: i64,
    pub min_rows: i64,
    pub limit: i64,
}

/// Tables with at least `min_seq_scans` sequential scans and `min_rows` live rows, largest
/// first. Warning when scans read on average at least 10,000 rows each and outnumber index
/// scans; info otherwise.
pub(super) async fn check_seq_scans(
    ctx: &Ctx,
    scope: &Scope,
    o: SeqScanOptions,
) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct R {
        schema: String,
        table: String,
        seq_scan: i64,
        seq_tup_read: i64,
        idx_scan: Option<i64>,
        live: i64,
        bytes: Option<i64>,
    }
    let sql = format!(
        "SELECT s.schemaname AS schema, s.relname AS table, s.seq_scan::int8 AS seq_scan, \
           s.seq_tup_read::int8 AS seq_tup_read, s.idx_scan::int8 AS idx_scan, s.n_live_tup::int8 AS live, \
           {bytes}::int8 AS bytes \
         FROM pg_stat_user_tables s \
         WHERE {} AND s.seq_scan >= $2 AND s.n_live_tup >= $3 \
         ORDER BY bytes DESC NULLS LAST, s.seq_tup_read DESC, 1, 2 LIMIT $4",
        in_scope("s.schemaname"),
        bytes = relsize::size("pg_relation_size", "s.relid"),
    );
    let found: Vec<R> = rows(
        ctx,
        &sql,
        &[
            scope.param(),
            json!(o.min_seq_scans),
            json!(o.min_rows),
            json!(o.limit),
        ],
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|r| {
            let avg = r.seq_tup_read as f64 / r.seq_scan.max(1) as f64;
            let heavy = avg >= 10_000.0 && r.seq_scan > r.idx_scan.unwrap_or(0);
            let mut f = finding(
                if heavy {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                Check::SeqScans,
                format!("{}.{}", r.schema, r.table),
                format!(
                    "-- the statements that read it (pg_stat_statements), to EXPLAIN and index:\nSELECT query, calls, rows FROM pg_stat_statements WHERE query ILIKE {} ORDER BY total_exec_time DESC LIMIT 10;",
                    sql_literal(&format!("%{}%", r.table.replace('%', "\\%").replace('_', "\\_")))
                ),
            );
            f.evidence = Evidence {
                seq_scans: Some(r.seq_scan),
                seq_rows_read: Some(r.seq_tup_read),
                avg_rows_per_seq_scan: Some(round(avg, 1)),
                index_scans: r.idx_scan,
                live_tuples: Some(r.live),
                bytes: r.bytes,
                ..Evidence::default()
            };
            f.note = Some(if r.idx_scan.is_none() {
                "the table has no index".into()
            } else {
                "a filtering query without a usable index reads the whole table each time".into()
            });
            f
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Wraparound.

/// The ladder of research §4.6: info at the freeze limit F (anti-wraparound vacuum due),
/// warning at max(1.5 F, 500 M), critical at the failsafe age or with fewer than 100 M IDs
/// left before the server stops assigning them.
fn wraparound_severity(
    age: i64,
    freeze_max: i64,
    failsafe: i64,
    stop_margin: i64,
) -> Option<Severity> {
    let remaining = (1i64 << 31) - stop_margin - age;
    if age >= failsafe || remaining < 100_000_000 {
        Some(Severity::Critical)
    } else if age >= (freeze_max * 3 / 2).max(500_000_000) {
        Some(Severity::Warning)
    } else if age >= freeze_max {
        Some(Severity::Info)
    } else {
        None
    }
}

async fn check_wraparound(ctx: &Ctx, scope: &Scope) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct Settings {
        freeze: i64,
        mxid_freeze: i64,
        failsafe: Option<i64>,
        mxid_failsafe: Option<i64>,
    }
    let s: Vec<Settings> = rows(
        ctx,
        "SELECT current_setting('autovacuum_freeze_max_age')::int8 AS freeze, \
           current_setting('autovacuum_multixact_freeze_max_age')::int8 AS mxid_freeze, \
           current_setting('vacuum_failsafe_age', true)::int8 AS failsafe, \
           current_setting('vacuum_multixact_failsafe_age', true)::int8 AS mxid_failsafe",
        &[],
    )
    .await?;
    let s = s
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("no settings"))?;
    // PostgreSQL 14+: failsafe (default 1.6 B; never below 105 % of the freeze limit) and a
    // stop 3 M IDs before wraparound; PostgreSQL 13: 1.2 B and 1 M.
    let (failsafe, mxid_failsafe, stop) = if scope.version >= 140000 {
        (
            s.failsafe
                .unwrap_or(1_600_000_000)
                .max(s.freeze * 105 / 100),
            s.mxid_failsafe
                .unwrap_or(1_600_000_000)
                .max(s.mxid_freeze * 105 / 100),
            3_000_000,
        )
    } else {
        (1_200_000_000, 1_200_000_000, 1_000_000)
    };
    #[derive(Deserialize)]
    struct R {
        object: String,
        table: Option<String>,
        schema: Option<String>,
        xid_age: i64,
        mxid_age: i64,
        freeze_limit: i64,
        mxid_limit: i64,
    }
    let sql = format!(
        "SELECT datname AS object, NULL::text AS table, NULL::text AS schema, \
           age(datfrozenxid)::int8 AS xid_age, mxid_age(datminmxid)::int8 AS mxid_age, \
           $2::int8 AS freeze_limit, $3::int8 AS mxid_limit \
         FROM pg_database WHERE datallowconn \
         UNION ALL \
         SELECT * FROM (SELECT n.nspname || '.' || coalesce(o.relname, c.relname) AS object, \
           coalesce(o.relname, c.relname) AS table, n2.nspname AS schema, \
           age(c.relfrozenxid)::int8 AS xid_age, mxid_age(c.relminmxid)::int8 AS mxid_age, \
           least($2::int8, coalesce({f}::int8, $2::int8)) AS freeze_limit, \
           least($3::int8, coalesce({mf}::int8, $3::int8)) AS mxid_limit \
         FROM pg_class c \
         LEFT JOIN pg_class o ON c.relkind = 't' AND o.reltoastrelid = c.oid \
         JOIN pg_namespace n2 ON n2.oid = coalesce(o.relnamespace, c.relnamespace) \
         JOIN pg_namespace n ON n.oid = n2.oid \
         WHERE c.relkind IN ('r', 'm', 't') AND {} ) t \
         WHERE xid_age >= freeze_limit OR mxid_age >= mxid_limit \
         ORDER BY 4 DESC, 1 LIMIT 50",
        in_scope("n2.nspname"),
        f = reloption("c", "autovacuum_freeze_max_age"),
        mf = reloption("c", "autovacuum_multixact_freeze_max_age"),
    );
    let found: Vec<R> = rows(
        ctx,
        &sql,
        &[scope.param(), json!(s.freeze), json!(s.mxid_freeze)],
    )
    .await?;
    let mut out = Vec::new();
    for r in found {
        let fix = match (&r.schema, &r.table) {
            (Some(schema), Some(table)) => {
                format!("VACUUM (FREEZE, VERBOSE) {};", qname(schema, table))
            }
            _ => format!(
                "-- connected to database {}, as a superuser or the database owner:\nVACUUM (FREEZE, VERBOSE);",
                quote_ident(&r.object)
            ),
        };
        for (check, age, freeze, failsafe) in [
            (Check::XidWraparound, r.xid_age, r.freeze_limit, failsafe),
            (
                Check::MultixactWraparound,
                r.mxid_age,
                r.mxid_limit,
                mxid_failsafe,
            ),
        ] {
            if let Some(sev) = wraparound_severity(age, freeze, failsafe, stop) {
                let mut f = finding(sev, check, r.object.clone(), fix.clone());
                f.evidence = Evidence {
                    age: Some(age),
                    freeze_max_age: Some(freeze),
                    remaining_before_stop: Some((1i64 << 31) - stop - age),
                    ..Evidence::default()
                };
                f.note = Some(match sev {
                    Severity::Info => "at the freeze limit: an anti-wraparound autovacuum is due or running (normal on busy systems)".into(),
                    Severity::Warning => "well past the freeze limit: autovacuum is not keeping up, or an old transaction, prepared transaction or slot holds the horizon".into(),
                    Severity::Critical => "near the failsafe or the stop limit: the server will refuse new transactions at wraparound".into(),
                });
                out.push(f);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Sequences.

#[derive(Clone, Copy)]
pub struct SequenceOptions {
    pub warn_pct: f64,
    pub critical_pct: f64,
}

fn type_range(ty: &str) -> Option<(i128, i128)> {
    match ty {
        "smallint" => Some((i16::MIN.into(), i16::MAX.into())),
        "integer" => Some((i32::MIN.into(), i32::MAX.into())),
        "bigint" => Some((i64::MIN.into(), i64::MAX.into())),
        _ => None,
    }
}

fn int8(v: i128) -> Int8 {
    match i64::try_from(v) {
        Ok(n) if n.unsigned_abs() <= 1 << 53 => Int8::Number(n),
        _ => Int8::Digits(v.to_string()),
    }
}

async fn check_sequences(ctx: &Ctx, scope: &Scope, o: SequenceOptions) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct R {
        schema: String,
        sequence: String,
        seq_type: String,
        min_value: String,
        max_value: String,
        increment: String,
        cycle: bool,
        last_value: Option<String>,
        col_schema: Option<String>,
        col_table: Option<String>,
        col_column: Option<String>,
        col_type: Option<String>,
    }
    let sql = format!(
        "SELECT s.schemaname AS schema, s.sequencename AS sequence, format_type(s.data_type, NULL) AS seq_type, \
           s.min_value::text AS min_value, s.max_value::text AS max_value, s.increment_by::text AS increment, \
           s.cycle, s.last_value::text AS last_value, \
           col.schema AS col_schema, col.table AS col_table, col.column AS col_column, col.type AS col_type \
         FROM pg_sequences s \
         JOIN pg_namespace sn ON sn.nspname = s.schemaname \
         JOIN pg_class sc ON sc.relnamespace = sn.oid AND sc.relname = s.sequencename \
         LEFT JOIN LATERAL ( \
           SELECT tn.nspname AS schema, t.relname AS table, a.attname AS column, format_type(a.atttypid, NULL) AS type \
           FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace \
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
           WHERE d.classid = 'pg_class'::regclass AND d.objid = sc.oid AND d.refclassid = 'pg_class'::regclass \
             AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0 \
           UNION \
           SELECT tn.nspname, t.relname, a.attname, format_type(a.atttypid, NULL) \
           FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid JOIN pg_class t ON t.oid = ad.adrelid \
           JOIN pg_namespace tn ON tn.oid = t.relnamespace \
           JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum \
           WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = sc.oid \
         ) col ON true \
         WHERE {} ORDER BY 1, 2, 3, 4",
        in_scope("s.schemaname")
    );
    let found: Vec<R> = rows(ctx, &sql, &[scope.param()]).await?;
    let parse = |s: &str| {
        s.parse::<i128>()
            .map_err(|_| ToolError::internal(format!("a sequence value did not parse: {s}")))
    };
    let mut out = Vec::new();
    for r in found {
        let Some(last) = r.last_value.as_deref() else {
            continue; // never used, or not readable: nothing to judge
        };
        let (last, min, max, inc) = (
            parse(last)?,
            parse(&r.min_value)?,
            parse(&r.max_value)?,
            parse(&r.increment)?,
        );
        let col_range = r.col_type.as_deref().and_then(type_range);
        let ascending = inc > 0;
        let (limit, column_limits) = if ascending {
            match col_range {
                Some((_, cmax)) if cmax < max => (cmax, true),
                _ => (max, false),
            }
        } else {
            match col_range {
                Some((cmin, _)) if cmin > min => (cmin, true),
                _ => (min, false),
            }
        };
        let (used, span, remaining) = if ascending {
            (last - min, limit - min, (limit - last) / inc)
        } else {
            (max - last, max - limit, (last - limit) / -inc)
        };
        if span <= 0 {
            continue;
        }
        let pct = used as f64 * 100.0 / span as f64;
        let severity = if pct >= o.critical_pct {
            Severity::Critical
        } else if pct >= o.warn_pct {
            Severity::Warning
        } else {
            continue;
        };
        let seq_q = qname(&r.schema, &r.sequence);
        let mut notes = Vec::new();
        let fix = match (&r.col_schema, &r.col_table, &r.col_column) {
            (Some(cs), Some(ct), Some(cc)) if column_limits => {
                notes.push(format!(
                    "the {} column {cc} overflows before the {} sequence does",
                    r.col_type.clone().unwrap_or_default(),
                    r.seq_type
                ));
                let mut fix = format!(
                    "-- rewrites the table under an ACCESS EXCLUSIVE lock:\nALTER TABLE {} ALTER COLUMN {} TYPE bigint;",
                    qname(cs, ct),
                    quote_ident(cc)
                );
                if r.seq_type != "bigint" {
                    fix.push_str(&format!("\nALTER SEQUENCE {seq_q} AS bigint;"));
                }
                fix
            }
            _ if r.seq_type != "bigint" => {
                let mut fix = String::new();
                if let (Some(cs), Some(ct), Some(cc)) = (&r.col_schema, &r.col_table, &r.col_column)
                    && r.col_type.as_deref() != Some("bigint")
                {
                    fix.push_str(&format!(
                        "-- rewrites the table under an ACCESS EXCLUSIVE lock:\nALTER TABLE {} ALTER COLUMN {} TYPE bigint;\n",
                        qname(cs, ct),
                        quote_ident(cc)
                    ));
                }
                fix.push_str(&format!(
                    "ALTER SEQUENCE {seq_q} AS bigint {};",
                    if ascending {
                        "NO MAXVALUE"
                    } else {
                        "NO MINVALUE"
                    }
                ));
                fix
            }
            _ => format!(
                "ALTER SEQUENCE {seq_q} {};",
                if ascending {
                    "NO MAXVALUE"
                } else {
                    "NO MINVALUE"
                }
            ),
        };
        if r.cycle {
            notes.push("the sequence cycles: at its limit it restarts, and a unique column then gets duplicate-key errors".into());
        }
        let mut f = finding(
            severity,
            Check::SequenceExhaustion,
            format!("{}.{}", r.schema, r.sequence),
            fix,
        );
        f.related = match (&r.col_schema, &r.col_table, &r.col_column) {
            (Some(cs), Some(ct), Some(cc)) => Some(format!(
                "{cs}.{ct}.{cc} ({})",
                r.col_type.clone().unwrap_or_default()
            )),
            _ => None,
        };
        f.evidence = Evidence {
            last_value: Some(int8(last)),
            limit: Some(int8(limit)),
            used_pct: Some(round(pct, 2)),
            remaining_values: Some(int8(remaining)),
            ..Evidence::default()
        };
        f.note = (!notes.is_empty()).then(|| notes.join("; "));
        out.push(f);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Connections.

/// The connection-usage finding: `clients` of `usable` connections in use, graded by
/// `usage` (percent); none below the warning level.
pub(super) fn connection_usage_finding(
    clients: i64,
    usable: i64,
    max_connections: i64,
    usage: Level,
) -> Option<Finding> {
    let util = clients as f64 / usable.max(1) as f64;
    let sev = if util * 100.0 >= usage.critical {
        Severity::Critical
    } else if util * 100.0 >= usage.warning {
        Severity::Warning
    } else {
        return None;
    };
    let mut f = finding(
        sev,
        Check::ConnectionUsage,
        "connections".into(),
        format!(
            "-- put a connection pooler (PgBouncer) in front, or raise the limit (takes effect after a restart):\nALTER SYSTEM SET max_connections = {};",
            max_connections * 2
        ),
    );
    f.evidence = Evidence {
        connections: Some(clients),
        usable_connections: Some(usable),
        utilization: Some(round(util, 4)),
        ..Evidence::default()
    };
    Some(f)
}

/// Connection usage: client backends against `max_connections − superuser_reserved −
/// reserved (16+)`, a warning and critical from the `usage` levels (percent; the
/// connection_usage alert thresholds, initially 80 and 95). Sessions of this database idle
/// in a transaction for at least `idle.warning` seconds: warning, critical from
/// `idle.critical`.
pub(super) async fn check_connections(
    ctx: &Ctx,
    usage: Level,
    idle_level: Level,
) -> ToolResult<Vec<Finding>> {
    let idle_seconds = idle_level.warning;
    #[derive(Deserialize)]
    struct C {
        max_connections: i64,
        superuser_reserved: i64,
        reserved: i64,
        clients: i64,
    }
    let c: Vec<C> = rows(
        ctx,
        "SELECT current_setting('max_connections')::int8 AS max_connections, \
           current_setting('superuser_reserved_connections')::int8 AS superuser_reserved, \
           coalesce(current_setting('reserved_connections', true)::int8, 0) AS reserved, \
           (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int8 AS clients",
        &[],
    )
    .await?;
    let mut out = Vec::new();
    if let Some(c) = c.into_iter().next() {
        let usable = (c.max_connections - c.superuser_reserved - c.reserved).max(1);
        out.extend(connection_usage_finding(
            c.clients,
            usable,
            c.max_connections,
            usage,
        ));
    }
    #[derive(Deserialize)]
    struct Idle {
        pid: i64,
        seconds: f64,
        user: Option<String>,
        application: Option<String>,
    }
    let db = current_database(ctx).await?;
    let idle: Vec<Idle> = rows(
        ctx,
        "SELECT pid::int8 AS pid, extract(epoch FROM now() - state_change)::float8 AS seconds, \
           usename::text AS user, application_name AS application \
         FROM pg_stat_activity \
         WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') \
           AND datname = current_database() AND now() - state_change >= make_interval(secs => $1::float8) \
         ORDER BY seconds DESC, pid",
        &[json!(idle_seconds)],
    )
    .await?;
    for s in idle {
        let mut f = finding(
            if s.seconds >= idle_level.critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            Check::IdleInTransaction,
            format!("pid {}", s.pid),
            format!(
                "SELECT pg_terminate_backend({});\n-- and end such sessions automatically:\nALTER DATABASE {} SET idle_in_transaction_session_timeout = '{}s';",
                s.pid,
                quote_ident(&db),
                (idle_level.critical.ceil() as i64).max(1)
            ),
        );
        f.evidence = Evidence {
            pid: Some(s.pid),
            seconds: Some(round(s.seconds, 1)),
            ..Evidence::default()
        };
        f.note = Some(format!(
            "user {}, application '{}': an open transaction holds its locks and keeps vacuum from removing dead tuples",
            s.user.unwrap_or_default(),
            s.application.unwrap_or_default()
        ));
        out.push(f);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Replication.

/// Standbys: replay lag ≥ 64 MB warning, ≥ 1 GB critical; a standby not streaming,
/// warning. Inactive slots: info, warning from 1 GB retained, critical from 10 GB or when
/// the WAL they need is `unreserved` or `lost`.
async fn check_replication(ctx: &Ctx) -> ToolResult<Vec<Finding>> {
    #[derive(Deserialize)]
    struct Standby {
        name: Option<String>,
        pid: i64,
        state: Option<String>,
        lag_bytes: Option<i64>,
    }
    let standbys: Vec<Standby> = rows(
        ctx,
        "WITH cur AS (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) \
         SELECT application_name AS name, pid::int8 AS pid, state, \
           pg_wal_lsn_diff(cur.lsn, replay_lsn)::int8 AS lag_bytes \
         FROM pg_stat_replication, cur ORDER BY 1, 2",
        &[],
    )
    .await?;
    let mut out = Vec::new();
    for s in standbys {
        let lag = s.lag_bytes.unwrap_or(0);
        let streaming = s.state.as_deref() == Some("streaming");
        let sev = if lag >= 1 << 30 {
            Some(Severity::Critical)
        } else if lag >= 64 << 20 || !streaming {
            Some(Severity::Warning)
        } else {
            None
        };
        let Some(sev) = sev else { continue };
        let name = s.name.unwrap_or_default();
        let mut f = finding(
            sev,
            Check::ReplicationLag,
            if name.is_empty() {
                format!("pid {}", s.pid)
            } else {
                name.clone()
            },
            format!(
                "SELECT application_name, state, write_lag, flush_lag, replay_lag FROM pg_stat_replication WHERE pid = {};",
                s.pid
            ),
        );
        f.evidence = Evidence {
            lag_bytes: s.lag_bytes,
            pid: Some(s.pid),
            ..Evidence::default()
        };
        f.note = Some(format!(
            "state {}",
            s.state.unwrap_or_else(|| "unknown".into())
        ));
        out.push(f);
    }
    #[derive(Deserialize)]
    struct Slot {
        name: String,
        kind: String,
        wal_status: Option<String>,
        retained_bytes: Option<i64>,
        xmin_age: Option<i64>,
    }
    let slots: Vec<Slot> = rows(
        ctx,
        "WITH cur AS (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) \
         SELECT slot_name::text AS name, slot_type AS kind, wal_status, \
           pg_wal_lsn_diff(cur.lsn, restart_lsn)::int8 AS retained_bytes, \
           greatest(age(xmin), age(catalog_xmin))::int8 AS xmin_age \
         FROM pg_replication_slots, cur WHERE NOT active ORDER BY 1",
        &[],
    )
    .await?;
    for s in slots {
        let retained = s.retained_bytes.unwrap_or(0);
        let lost = matches!(s.wal_status.as_deref(), Some("unreserved" | "lost"));
        let sev = if lost || retained >= 10 << 30 {
            Severity::Critical
        } else if retained >= 1 << 30 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut f = finding(
            sev,
            Check::InactiveReplicationSlot,
            s.name.clone(),
            format!(
                "-- if nothing will consume it again:\nSELECT pg_drop_replication_slot({});",
                sql_literal(&s.name)
            ),
        );
        f.evidence = Evidence {
            retained_bytes: s.retained_bytes,
            age: s.xmin_age,
            ..Evidence::default()
        };
        f.note = Some(format!(
            "an inactive {} slot{}: the server keeps the WAL it needs{}",
            s.kind,
            s.wal_status
                .map(|w| format!(" (wal_status {w})"))
                .unwrap_or_default(),
            if s.xmin_age.is_some() {
                " and holds back vacuum"
            } else {
                ""
            }
        ));
        out.push(f);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The tools.

fn default_min_window_days() -> u64 {
    14
}
fn default_min_index_bytes() -> u64 {
    1 << 20
}

const UNUSED_INDEXES: Spec = Spec {
    name: "pg_unused_indexes",
    title: "Unused indexes",
    description: "Indexes with no scans (at most maxScans) since the statistics were reset: drop candidates, with their size, write cost and the observation window as evidence.\nNever lists primary-key, unique, exclusion or other constraint-backing indexes. Severity is info when the window is shorter than minWindowDays or the index serves a foreign key. Statistics are per server: check replicas before dropping.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UnusedArgs {
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    /// Largest scan count still called unused (default 0).
    #[serde(default)]
    pub max_scans: u64,
    /// Smallest index size reported, in bytes (default 1 MiB: tiny indexes are noise).
    #[serde(default = "default_min_index_bytes")]
    pub min_size_bytes: u64,
    /// Observation window (days) below which findings are only info (default 14).
    #[serde(default = "default_min_window_days")]
    pub min_window_days: u64,
}

/// Findings, and the statistics window they rest on.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingsWithWindow {
    /// At least how long the statistics have been collected, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_window_seconds: Option<i64>,
    pub findings: Vec<Finding>,
}

async fn unused_indexes(ctx: Ctx, a: UnusedArgs) -> ToolResult<FindingsWithWindow> {
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let o = UnusedOptions {
        max_scans: positive(a.max_scans, "maxScans")?,
        min_bytes: positive(a.min_size_bytes, "minSizeBytes")?,
        min_window_days: positive(a.min_window_days, "minWindowDays")?,
    };
    let (window, findings) = check_unused(&ctx, &scope, o).await?;
    Ok(FindingsWithWindow {
        stats_window_seconds: window,
        findings,
    })
}

/// Findings only.
#[derive(Serialize, JsonSchema)]
pub struct Findings {
    pub findings: Vec<Finding>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchemaArgs {
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
}

const DUPLICATE_INDEXES: Spec = Spec {
    name: "pg_duplicate_indexes",
    title: "Duplicate and redundant indexes",
    description: "Indexes another index makes unnecessary, compared from the catalog (not index definitions' text): exact duplicates (same table, method, key columns or expressions, opclasses, collations, sort order, INCLUDE columns and predicate) and btree indexes whose keys are a leading part of another's with the same predicate.\nThe one backing a constraint (then the unique, the more used, the older) is kept; unique indexes are never called redundant to a wider one.",
    hints: READ,
    shortcuts: &[],
};

async fn duplicate_indexes(ctx: Ctx, a: SchemaArgs) -> ToolResult<Findings> {
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    Ok(Findings {
        findings: check_duplicates(&ctx, &scope).await?,
    })
}

fn default_min_bloat_bytes() -> u64 {
    100 << 20
}
fn default_min_pct() -> f64 {
    50.0
}
fn default_min_relation_bytes() -> u64 {
    10 << 20
}
fn default_max_exact_bytes() -> u64 {
    1 << 30
}

const BLOAT_CHECK: Spec = Spec {
    name: "pg_bloat_check",
    title: "Table and index bloat",
    description: "Space tables and btree indexes take beyond what their rows need at their fillfactor.\nmode 'estimate' (default) uses the planner statistics (the well-known statistics-based estimate; relations never analyzed are listed under notEstimated); mode 'exact' measures with the pgstattuple extension (pgstattuple_approx, pgstatindex), reading each relation up to maxExactBytes.\nFlagged when bloat ≥ minBytes, or ≥ minPct % of a relation of at least minRelationBytes; critical from 75 %.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BloatArgs {
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    /// `table`, `index` or `both` (default).
    #[serde(default)]
    pub kind: BloatKind,
    /// `estimate` (default) or `exact` (needs pgstattuple).
    #[serde(default)]
    pub mode: BloatMode,
    /// Flag any relation wasting at least this many bytes (default 100 MiB).
    #[serde(default = "default_min_bloat_bytes")]
    pub min_bytes: u64,
    /// Flag a relation of at least minRelationBytes wasting this percentage (default 50).
    #[serde(default = "default_min_pct")]
    pub min_pct: f64,
    /// See minPct (default 10 MiB).
    #[serde(default = "default_min_relation_bytes")]
    pub min_relation_bytes: u64,
    /// Exact mode skips relations larger than this (default 1 GiB).
    #[serde(default = "default_max_exact_bytes")]
    pub max_exact_bytes: u64,
}

/// Bloat findings, and the relations that could not be measured.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BloatReport {
    pub findings: Vec<Finding>,
    pub not_estimated: Vec<Skipped>,
}

async fn bloat_check(ctx: Ctx, a: BloatArgs) -> ToolResult<BloatReport> {
    let o = BloatOptions {
        kind: a.kind,
        mode: a.mode,
        min_bytes: positive(a.min_bytes, "minBytes")?,
        min_pct: percent(a.min_pct, "minPct")?,
        min_relation_bytes: positive(a.min_relation_bytes, "minRelationBytes")?,
        max_exact_bytes: positive(a.max_exact_bytes, "maxExactBytes")?,
    };
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let (findings, not_estimated) = check_bloat(&ctx, &scope, &o).await?;
    Ok(BloatReport {
        findings,
        not_estimated,
    })
}

fn default_min_dead_tuples() -> u64 {
    1000
}

const DETECT_BLOAT_RISK: Spec = Spec {
    name: "pg_detect_bloat_risk",
    title: "Tables at risk of bloat",
    description: "Tables whose dead tuples will turn into bloat before autovacuum removes them: at least minDeadTuples dead tuples, making up at least minDeadRatio of the rows, and either autovacuum is disabled for the table or the server (critical from the dead_tuples alert threshold, initially a 50 % dead ratio), or the dead tuples exceed the table's autovacuum threshold (from the settings and its reloptions) and it was never vacuumed, or they exceed it and under 10 % of updates are HOT.\nEvidence: dead ratio, threshold, churn (updates + deletes per hour over the statistics window), HOT ratio, time since the last vacuum (absent: never).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RiskArgs {
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    /// Smallest dead/(live+dead) ratio considered, 0–1 (default: the dead_tuples warning
    /// threshold, initially 0.1).
    pub min_dead_ratio: Option<f64>,
    /// Fewest dead tuples considered (default 1000).
    #[serde(default = "default_min_dead_tuples")]
    pub min_dead_tuples: u64,
}

async fn detect_bloat_risk(ctx: Ctx, a: RiskArgs) -> ToolResult<FindingsWithWindow> {
    let levels = thresholds(&ctx).dead_tuples;
    let o = RiskOptions {
        min_dead_ratio: fraction(a.min_dead_ratio.unwrap_or(levels.warning), "minDeadRatio")?,
        critical_dead_ratio: levels.critical,
        min_dead_tuples: positive(a.min_dead_tuples, "minDeadTuples")?,
    };
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let tables = vacuum_rows(&ctx, &scope, None).await?;
    let window = stats_window(&ctx).await?;
    Ok(FindingsWithWindow {
        stats_window_seconds: window,
        findings: risk_findings(&tables, window, o),
    })
}

fn default_min_blocks() -> u64 {
    1000
}
fn default_cache_limit() -> u32 {
    20
}

const CACHE_HIT_RATIO: Spec = Spec {
    name: "pg_cache_hit_ratio",
    title: "Buffer cache hit ratios",
    description: "Shared-buffer hit ratios since the statistics were reset: the database's, heap and index blocks of user tables overall (and TOAST), and per table for the tables reading the most blocks from outside shared buffers.\nA ratio is absent when nothing was accessed. Findings: overall heap or index ratio below warnBelow is a warning, below criticalBelow critical (defaults: the cache_hit_ratio alert thresholds, initially 0.99 and 0.95); a table below warnBelow is info; only with at least minBlocks accesses.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheArgs {
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    /// Tables listed (default 20), most blocks read first.
    #[serde(default = "default_cache_limit")]
    pub limit: u32,
    /// Fewest block accesses before a ratio is judged (default 1000).
    #[serde(default = "default_min_blocks")]
    pub min_blocks: u64,
    /// Below this ratio is a warning (default: the cache_hit_ratio warning threshold,
    /// initially 0.99).
    pub warn_below: Option<f64>,
    /// Below this ratio is critical (default: the cache_hit_ratio critical threshold,
    /// initially 0.95).
    pub critical_below: Option<f64>,
}

/// Hit ratios overall and per table, with findings.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheHitRatio {
    /// Every block of the current database (pg_stat_database).
    pub database: Ratio,
    /// Heap blocks of the user tables in scope.
    pub heap: Ratio,
    /// Index blocks of the user tables in scope.
    pub index: Ratio,
    /// TOAST heap and index blocks of the user tables in scope.
    pub toast: Ratio,
    pub tables: Vec<TableCache>,
    pub findings: Vec<Finding>,
}

async fn cache_hit_ratio(ctx: Ctx, a: CacheArgs) -> ToolResult<CacheHitRatio> {
    let levels = thresholds(&ctx).cache_hit_ratio;
    let o = CacheOptions {
        warn_below: fraction(a.warn_below.unwrap_or(levels.warning), "warnBelow")?,
        critical_below: fraction(a.critical_below.unwrap_or(levels.critical), "criticalBelow")?,
        min_blocks: positive(a.min_blocks, "minBlocks")?,
        limit: a.limit.into(),
    };
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let r = check_cache(&ctx, &scope, o).await?;
    Ok(CacheHitRatio {
        database: r.database,
        heap: r.heap,
        index: r.index,
        toast: r.toast,
        tables: r.tables,
        findings: r.findings,
    })
}

fn default_overdue() -> u64 {
    86_400
}

const VACUUM_STATS: Spec = Spec {
    name: "pg_vacuum_stats",
    title: "Vacuum and analyze state",
    description: "Per table: dead and live tuples, last (auto)vacuum and (auto)analyze, and the autovacuum thresholds computed from the server settings and the table's own reloptions (vacuum, insert (13+), analyze), with whether each is due.\nFindings: autovacuum disabled for a table (warning); a vacuum or analyze due (warning when never done or not within overdueAfterSeconds, else info).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VacuumArgs {
    /// One table (`schema.table` allowed).
    pub table: Option<String>,
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    /// Tables listed (default 100), most dead tuples first.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// A due vacuum or analyze is overdue (a warning) when the last one is older than this
    /// many seconds (default 86400).
    #[serde(default = "default_overdue")]
    pub overdue_after_seconds: u64,
}

/// Vacuum state per table, with findings.
#[derive(Serialize, JsonSchema)]
pub struct VacuumStats {
    pub tables: Vec<VacuumRow>,
    pub findings: Vec<Finding>,
}

async fn vacuum_stats(ctx: Ctx, a: VacuumArgs) -> ToolResult<VacuumStats> {
    let overdue = positive(a.overdue_after_seconds, "overdueAfterSeconds")?;
    let (scope, table) = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            let oid = resolve_relation(&ctx, &q, "table").await?;
            (Scope::new(&ctx, None).await?, Some(oid))
        }
        None => (Scope::new(&ctx, a.schema.as_deref()).await?, None),
    };
    let mut tables = vacuum_rows(&ctx, &scope, table).await?;
    let mut findings: Vec<Finding> = server_autovacuum_finding(&ctx).await?.into_iter().collect();
    findings.extend(vacuum_findings(&tables, overdue));
    tables.truncate(a.limit as usize);
    Ok(VacuumStats { tables, findings })
}

fn default_min_seq_scans() -> u64 {
    50
}
fn default_min_rows() -> u64 {
    10_000
}

const SEQ_SCAN_TABLES: Spec = Spec {
    name: "pg_seq_scan_tables",
    title: "Tables read by sequential scans",
    description: "Tables with at least minSeqScans sequential scans and minRows live rows, largest first, with the rows those scans read.\nWarning when scans average 10,000 rows or more and outnumber index scans (a missing index is likely); info otherwise. The fix finds the statements that read the table in pg_stat_statements.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SeqScanArgs {
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    /// Fewest sequential scans (default 50).
    #[serde(default = "default_min_seq_scans")]
    pub min_seq_scans: u64,
    /// Fewest live rows (default 10000).
    #[serde(default = "default_min_rows")]
    pub min_rows: u64,
    /// Tables listed (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

async fn seq_scan_tables(ctx: Ctx, a: SeqScanArgs) -> ToolResult<Findings> {
    let o = SeqScanOptions {
        min_seq_scans: positive(a.min_seq_scans, "minSeqScans")?,
        min_rows: positive(a.min_rows, "minRows")?,
        limit: a.limit.into(),
    };
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    Ok(Findings {
        findings: check_seq_scans(&ctx, &scope, o).await?,
    })
}

const INDEX_STATS: Spec = Spec {
    name: "pg_index_stats",
    title: "Index usage statistics",
    description: "Per index: scans, tuples read and fetched, size, and whether it is valid, unique or the primary key (and, on PostgreSQL 16+, when it was last scanned); largest first, paged.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IndexStatsArgs {
    /// Only the indexes of this table (`schema.table` allowed).
    pub table: Option<String>,
    /// Only this schema (default: every user schema).
    pub schema: Option<String>,
    #[serde(default = "default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

/// One index's usage.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexStat {
    pub schema: String,
    pub table: String,
    pub index: String,
    /// Index scans started.
    pub scans: i64,
    /// Index entries returned by scans.
    pub tuples_read: i64,
    /// Live table rows fetched by simple index scans.
    pub tuples_fetched: i64,
    /// Absent while the index is locked (another session holds or waits for an ACCESS EXCLUSIVE
    /// lock on it; not waited for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// `bytes` for reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Usable by queries (false after a failed CREATE INDEX CONCURRENTLY).
    pub valid: bool,
    pub unique: bool,
    pub primary: bool,
    /// When it was last scanned (PostgreSQL 16+; absent: never, or an older server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<String>,
}

/// A page of index statistics.
#[derive(Serialize, JsonSchema)]
pub struct IndexStats {
    pub indexes: Vec<IndexStat>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn index_stats(ctx: Ctx, a: IndexStatsArgs) -> ToolResult<IndexStats> {
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let last = if scope.version >= 160000 {
        "s.last_idx_scan AS \"lastScan\""
    } else {
        "NULL::timestamptz AS \"lastScan\""
    };
    let table = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            Some(resolve_relation(&ctx, &q, "table").await?)
        }
        None => None,
    };
    let page = Listing::new(
        format!(
            "s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, \
             s.idx_scan::int8 AS scans, s.idx_tup_read::int8 AS \"tuplesRead\", \
             s.idx_tup_fetch::int8 AS \"tuplesFetched\", {bytes}::int8 AS bytes, \
             pg_size_pretty({bytes}) AS size, \
             (i.indisvalid AND i.indisready AND i.indislive) AS valid, i.indisunique AS unique, \
             i.indisprimary AS primary, {last}",
            bytes = relsize::size("pg_relation_size", "s.indexrelid"),
        ),
        "pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid",
    )
    .schema("s.schemaname", a.schema.as_deref())
    .filter_some("s.relid = {}::int8::oid", table)
    .order_by("bytes DESC NULLS LAST, 1, 2, 3")
    .page::<IndexStat>(&ctx, a.limit, a.offset)
    .await?;
    Ok(IndexStats {
        indexes: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------------------
// pg_analyze_db_health.

/// A family of checks pg_analyze_db_health runs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheck {
    /// Unused, duplicate, redundant and invalid indexes.
    Index,
    /// Estimated table and index bloat.
    Bloat,
    /// Dead tuples, vacuum/analyze staleness, autovacuum disabled, bloat risk.
    Vacuum,
    /// Transaction ID and multixact age against the freeze limits.
    Wraparound,
    /// Sequences (and the columns they feed) near their limit.
    Sequence,
    /// Buffer cache hit ratios.
    Buffer,
    /// Connection usage and sessions idle in transaction.
    Connection,
    /// Standby lag and inactive replication slots.
    Replication,
    /// Tables without a primary key; NOT VALID constraints.
    Constraint,
}

const ALL_CHECKS: [HealthCheck; 9] = [
    HealthCheck::Index,
    HealthCheck::Bloat,
    HealthCheck::Vacuum,
    HealthCheck::Wraparound,
    HealthCheck::Sequence,
    HealthCheck::Buffer,
    HealthCheck::Connection,
    HealthCheck::Replication,
    HealthCheck::Constraint,
];

const ANALYZE_DB_HEALTH: Spec = Spec {
    name: "pg_analyze_db_health",
    title: "Database health report",
    description: "Runs the health checks and reports every finding with its severity, evidence and a fix: unused, duplicate, redundant and invalid indexes (index); table and index bloat (bloat); dead tuples, vacuum/analyze staleness and bloat risk (vacuum); transaction ID and multixact wraparound (wraparound); sequences near exhaustion, including integer columns fed by bigint sequences (sequence); cache hit ratios (buffer); connection usage and idle-in-transaction sessions (connection); standby lag and inactive slots (replication); tables without a primary key and NOT VALID constraints (constraint).\n`overall` is the worst status; no weighted score. The same checks run alone as pg_unused_indexes, pg_duplicate_indexes, pg_bloat_check, pg_vacuum_stats, pg_detect_bloat_risk, pg_cache_hit_ratio.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthArgs {
    /// The checks to run (default: all).
    pub checks: Option<Vec<HealthCheck>>,
    /// Only this schema for table- and index-level checks (default: every user schema).
    pub schema: Option<String>,
    /// Smallest index reported as unused, in bytes (default 1 MiB).
    #[serde(default = "default_min_index_bytes")]
    pub min_index_bytes: u64,
    /// Statistics window (days) below which unused-index findings are only info (default 14).
    #[serde(default = "default_min_window_days")]
    pub min_window_days: u64,
    /// A session idle in transaction this long (seconds) is a warning, 6× as long critical
    /// (default: the idle_in_transaction alert thresholds, initially 300 and 1800).
    pub idle_in_transaction_seconds: Option<f64>,
    /// Bloat flag rule (see pg_bloat_check): bytes (default 100 MiB).
    #[serde(default = "default_min_bloat_bytes")]
    pub min_bloat_bytes: u64,
    /// Bloat flag rule: percentage of a relation of at least 10 MiB (default 50).
    #[serde(default = "default_min_pct")]
    pub min_bloat_pct: f64,
}

/// One check family's result.
#[derive(Serialize, JsonSchema)]
pub struct CheckReport {
    pub name: HealthCheck,
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// The health report.
#[derive(Serialize, JsonSchema)]
pub struct DbHealth {
    /// The worst status of any check.
    pub overall: Status,
    /// The server's version number (server_version_num).
    #[serde(rename = "serverVersionNum")]
    pub server_version_num: i64,
    pub checks: Vec<CheckReport>,
    /// `schema.name` of the relations in scope another session holds or waits for an ACCESS
    /// EXCLUSIVE lock on (or on one of their indexes or TOAST tables): their sizes are not
    /// read (that would wait for the lock), so the checks that need a size skipped them.
    /// Absent when there are none.
    #[serde(
        rename = "lockedRelations",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub locked_relations: Vec<String>,
}

async fn analyze_db_health(ctx: Ctx, a: HealthArgs) -> ToolResult<DbHealth> {
    let levels = thresholds(&ctx);
    let idle = match a.idle_in_transaction_seconds {
        Some(s) if !(s.is_finite() && s >= 0.0) => {
            return Err(ToolError::invalid(
                "idleInTransactionSeconds must be a non-negative number",
            ));
        }
        Some(s) => Level {
            warning: s,
            critical: s * 6.0,
        },
        None => levels.idle_in_transaction,
    };
    let bloat = BloatOptions {
        min_bytes: positive(a.min_bloat_bytes, "minBloatBytes")?,
        min_pct: percent(a.min_bloat_pct, "minBloatPct")?,
        ..BloatOptions::DEFAULT
    };
    let unused = UnusedOptions {
        max_scans: 0,
        min_bytes: positive(a.min_index_bytes, "minIndexBytes")?,
        min_window_days: positive(a.min_window_days, "minWindowDays")?,
    };
    let scope = Scope::new(&ctx, a.schema.as_deref()).await?;
    let wanted = a.checks.unwrap_or_else(|| ALL_CHECKS.to_vec());
    if wanted.is_empty() {
        return Err(ToolError::invalid("checks is empty").suggest("Omit checks to run them all."));
    }
    let locked_relations = relsize::locked_relations(&ctx, scope.schema.as_deref()).await?;
    let mut checks = Vec::new();
    for check in ALL_CHECKS.into_iter().filter(|c| wanted.contains(c)) {
        let findings = match check {
            HealthCheck::Index => {
                let mut f = check_unused(&ctx, &scope, unused).await?.1;
                f.extend(check_duplicates(&ctx, &scope).await?);
                f.extend(check_invalid_indexes(&ctx, &scope).await?);
                f
            }
            HealthCheck::Bloat => check_bloat(&ctx, &scope, &bloat).await?.0,
            HealthCheck::Vacuum => {
                let tables = vacuum_rows(&ctx, &scope, None).await?;
                let window = stats_window(&ctx).await?;
                let mut f: Vec<Finding> =
                    server_autovacuum_finding(&ctx).await?.into_iter().collect();
                f.extend(vacuum_findings(&tables, 86_400));
                f.extend(risk_findings(
                    &tables,
                    window,
                    RiskOptions {
                        min_dead_ratio: levels.dead_tuples.warning,
                        critical_dead_ratio: levels.dead_tuples.critical,
                        min_dead_tuples: 1000,
                    },
                ));
                f
            }
            HealthCheck::Wraparound => check_wraparound(&ctx, &scope).await?,
            HealthCheck::Sequence => {
                check_sequences(
                    &ctx,
                    &scope,
                    SequenceOptions {
                        warn_pct: 75.0,
                        critical_pct: 90.0,
                    },
                )
                .await?
            }
            HealthCheck::Buffer => {
                check_cache(
                    &ctx,
                    &scope,
                    CacheOptions {
                        warn_below: levels.cache_hit_ratio.warning,
                        critical_below: levels.cache_hit_ratio.critical,
                        min_blocks: 1000,
                        limit: 20,
                    },
                )
                .await?
                .findings
            }
            HealthCheck::Connection => {
                check_connections(&ctx, levels.connection_usage, idle).await?
            }
            HealthCheck::Replication => check_replication(&ctx).await?,
            HealthCheck::Constraint => check_constraints(&ctx, &scope).await?,
        };
        checks.push(CheckReport {
            name: check,
            status: Status::of(&findings),
            findings,
        });
    }
    Ok(DbHealth {
        overall: checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok),
        server_version_num: scope.version.into(),
        checks,
        locked_relations,
    })
}

pub(super) async fn current_database(ctx: &Ctx) -> ToolResult<String> {
    #[derive(Deserialize)]
    struct R {
        db: String,
    }
    let r: Vec<R> = rows(ctx, "SELECT current_database()::text AS db", &[]).await?;
    r.into_iter()
        .next()
        .map(|r| r.db)
        .ok_or_else(|| ToolError::internal("no current database"))
}

/// The performance group's health tools, in listing order.
pub fn tools() -> Vec<Tool> {
    vec![
        INDEX_STATS.tool(GROUP, index_stats),
        UNUSED_INDEXES.tool(GROUP, unused_indexes),
        DUPLICATE_INDEXES.tool(GROUP, duplicate_indexes),
        BLOAT_CHECK.tool(GROUP, bloat_check),
        DETECT_BLOAT_RISK.tool(GROUP, detect_bloat_risk),
        VACUUM_STATS.tool(GROUP, vacuum_stats),
        CACHE_HIT_RATIO.tool(GROUP, cache_hit_ratio),
        SEQ_SCAN_TABLES.tool(GROUP, seq_scan_tables),
    ]
}

/// The core group's health tool (see [`GROUP_CORE`]).
pub fn core_tools() -> Vec<Tool> {
    vec![ANALYZE_DB_HEALTH.tool(GROUP_CORE, analyze_db_health)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(oid: i64, keys: &[&str], include: &[i64]) -> IndexShape {
        IndexShape {
            oid,
            table_oid: 1,
            schema: "s".into(),
            table: "t".into(),
            index: format!("i{oid}"),
            method: "btree".into(),
            unique: false,
            nulls_not_distinct: false,
            valid: true,
            keys: keys.iter().map(|k| k.to_string()).collect(),
            key_columns: keys
                .iter()
                .map(|k| k.split(':').nth(1).unwrap().parse().unwrap_or(0))
                .collect(),
            include: include.to_vec(),
            predicate: None,
            constraint: None,
            bytes: Some(8192),
            scans: 0,
        }
    }

    const A: &str = "c:1:1978:0:0";
    const B: &str = "c:2:1978:0:0";
    const A_DESC: &str = "c:1:1978:0:3";

    #[test]
    fn duplicate_rules_follow_the_catalog() {
        // (a), (a): exact; the older one is kept.
        let f = duplicates(&[shape(1, &[A], &[]), shape(2, &[A], &[])]);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].check, f[0].object.as_str()),
            (Check::DuplicateIndex, "s.i2")
        );
        // (a), (a, b): a redundant.
        let f = duplicates(&[shape(1, &[A], &[]), shape(2, &[A, B], &[])]);
        assert_eq!(
            (f[0].check, f[0].object.as_str()),
            (Check::RedundantIndex, "s.i1")
        );
        // UNIQUE (a), (a, b): not redundant.
        let mut u = shape(1, &[A], &[]);
        u.unique = true;
        assert!(duplicates(&[u, shape(2, &[A, B], &[])]).is_empty());
        // (a) WHERE x, (a, b): not redundant.
        let mut p = shape(1, &[A], &[]);
        p.predicate = Some("x".into());
        assert!(duplicates(&[p, shape(2, &[A, B], &[])]).is_empty());
        // (a DESC), (a, b): not redundant.
        assert!(duplicates(&[shape(1, &[A_DESC], &[]), shape(2, &[A, B], &[])]).is_empty());
        // (a) INCLUDE (b), (a, b): redundant.
        let f = duplicates(&[shape(1, &[A], &[2]), shape(2, &[A, B], &[])]);
        assert_eq!(
            (f[0].check, f[0].object.as_str()),
            (Check::RedundantIndex, "s.i1")
        );
        // hash (a), btree (a): neither.
        let mut h = shape(1, &[A], &[]);
        h.method = "hash".into();
        assert!(duplicates(&[h, shape(2, &[A], &[])]).is_empty());
        // PK (id), (id): the non-PK one goes, whatever the OIDs.
        let mut pk = shape(2, &[A], &[]);
        pk.unique = true;
        pk.constraint = Some("t_pkey".into());
        let f = duplicates(&[shape(1, &[A], &[]), pk]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object, "s.i1");
        assert_eq!(f[0].related.as_deref(), Some("s.i2"));
        assert_eq!(f[0].fix, "DROP INDEX CONCURRENTLY \"s\".\"i1\";");
    }

    #[test]
    fn wraparound_ladder() {
        let f = 200_000_000;
        let fs = 1_600_000_000;
        assert_eq!(wraparound_severity(1_000, f, fs, 3_000_000), None);
        assert_eq!(
            wraparound_severity(f, f, fs, 3_000_000),
            Some(Severity::Info)
        );
        assert_eq!(
            wraparound_severity(500_000_000, f, fs, 3_000_000),
            Some(Severity::Warning)
        );
        assert_eq!(
            wraparound_severity(fs, f, fs, 3_000_000),
            Some(Severity::Critical)
        );
        // A tiny freeze limit (reloption) still warns only from 500 M.
        assert_eq!(
            wraparound_severity(160_000, 100_000, fs, 3_000_000),
            Some(Severity::Info)
        );
    }

    #[test]
    fn int8_evidence_is_exact() {
        assert_eq!(int8(5), Int8::Number(5));
        assert_eq!(
            int8(i64::MAX.into()),
            Int8::Digits("9223372036854775807".into())
        );
    }
}
