//! Admin tools: maintenance (VACUUM, ANALYZE, REINDEX, CLUSTER), backend signals,
//! configuration (reload, `ALTER SYSTEM`/`ALTER DATABASE`/`ALTER ROLE … SET`), statistics
//! reset and the agent's own notes (`pgmcp.insights`).
//!
//! Every statement is pgmcp's own text: names are resolved in the catalogs first and
//! written back with `quote_ident` (the resolved relation's schema and name), values go as
//! `$n` parameters where PostgreSQL allows them and as escaped literals
//! ([`quote_literal`]) in the utility statements that do not. Statements run through
//! `exec::execute` in write mode, so the access mode is enforced there; none of these tools
//! is read-only, so none is available in restricted mode.
//!
//! VACUUM, REINDEX … CONCURRENTLY, CLUSTER without a table and ALTER SYSTEM refuse to run in
//! a transaction block. A write outside a pinned transaction is one extended-protocol
//! statement on a pooled connection in autocommit (Parse, then Bind/Execute/Sync), which is
//! an implicit transaction of that one statement, not a block, so they run as they are.
//! Inside a pinned transaction (Code Mode's `pg.transaction`) PostgreSQL refuses them with
//! its own error (SQLSTATE 25001).

use std::time::Instant;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::{Int8, decode};
use super::exec::{Mode, execute, read_rows};
use super::progress::{Maintenance as Progress, reporting};
use super::{Ctx, DESTRUCTIVE, NoArgs, Spec, Tool, WRITE};
use crate::db::ident::{QualifiedName, parse_qualified, quote_ident};
use crate::error::{Category, Code, ToolError, ToolResult};

const GROUP: &str = "admin";

pub fn tools() -> Vec<Tool> {
    vec![
        VACUUM.tool(GROUP, vacuum),
        VACUUM_ANALYZE.tool(GROUP, vacuum_analyze),
        ANALYZE.tool(GROUP, analyze),
        REINDEX.tool(GROUP, reindex),
        CLUSTER.tool(GROUP, cluster),
        CANCEL_BACKEND.tool(GROUP, cancel_backend),
        TERMINATE_BACKEND.tool(GROUP, terminate_backend),
        RELOAD_CONF.tool(GROUP, reload_conf),
        SET_CONFIG.tool(GROUP, set_config),
        RESET_STATS.tool(GROUP, reset_stats),
        APPEND_INSIGHT.tool(GROUP, append_insight),
    ]
}

// ---------------------------------------------------------------------------
// Helpers

/// The rows of a statement pgmcp wrote, run in write mode (autocommit, or the call's
/// pinned transaction), as JSON objects.
async fn write_rows(ctx: &Ctx, sql: &str, params: &[Value]) -> ToolResult<Vec<Value>> {
    let out = execute(ctx, sql, params, None, Mode::Write).await?;
    Ok(out
        .rows
        .into_iter()
        .map(|r| Value::Object(crate::db::compact(r)))
        .collect())
}

/// The first row of a catalog read, decoded.
async fn read_one<R: DeserializeOwned>(ctx: &Ctx, sql: &str, params: &[Value]) -> ToolResult<R> {
    let rows = read_rows(ctx, sql, params).await?;
    decode::<R>(rows)?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal(format!("no row from: {sql}")))
}

/// A string as a SQL literal that means the same whatever `standard_conforming_strings`
/// is (PostgreSQL's own `quote_literal`): `E'…'` with quotes and backslashes doubled.
pub fn quote_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 3);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A relation the caller named, resolved: its oid, its kind and its name written back
/// schema-qualified and quoted from the catalog.
#[derive(Deserialize)]
struct Resolved {
    oid: i64,
    kind: String,
    /// `"schema"."name"`, from the catalog.
    #[serde(skip)]
    quoted: String,
    schema: String,
    name: String,
    /// `schema.name`, for messages and results.
    #[serde(skip)]
    display: String,
}

async fn resolve(ctx: &Ctx, name: &str, schema: Option<&str>, what: &str) -> ToolResult<Resolved> {
    let q: QualifiedName = parse_qualified(name, schema)?;
    let rows = read_rows(
        ctx,
        "SELECT c.oid::int8 AS oid, c.relkind::text AS kind, n.nspname AS schema, c.relname AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = to_regclass($1)",
        &[json!(q.quoted())],
    )
    .await?;
    let mut r = decode::<Resolved>(rows)?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ToolError::not_found(Code::NotFound, format!("{what} '{q}' does not exist")).suggest(
                "Names are case-sensitive; pg_list_tables / pg_get_indexes show what exists.",
            )
        })?;
    r.quoted = format!("{}.{}", quote_ident(&r.schema), quote_ident(&r.name));
    r.display = format!("{}.{}", r.schema, r.name);
    Ok(r)
}

/// A relation that must be a table (ordinary, partitioned, materialized view, or TOAST).
async fn resolve_table(ctx: &Ctx, name: &str, schema: Option<&str>) -> ToolResult<Resolved> {
    let r = resolve(ctx, name, schema, "table").await?;
    if !matches!(r.kind.as_str(), "r" | "p" | "m" | "t") {
        return Err(ToolError::invalid(format!(
            "'{}' is not a table or materialized view (relkind {})",
            r.display, r.kind
        )));
    }
    Ok(r)
}

#[derive(Deserialize)]
struct Bytes {
    bytes: Option<Int8>,
}

/// The size now of a relation (with indexes and TOAST) or, without one, of the database.
async fn size_of(ctx: &Ctx, oid: Option<i64>) -> ToolResult<Option<Int8>> {
    let b: Bytes = match oid {
        Some(oid) => {
            read_one(
                ctx,
                "SELECT pg_total_relation_size($1::oid)::int8 AS bytes",
                &[json!(oid)],
            )
            .await?
        }
        None => {
            read_one(
                ctx,
                "SELECT pg_database_size(current_database())::int8 AS bytes",
                &[],
            )
            .await?
        }
    };
    Ok(b.bytes)
}

fn elapsed_ms(start: Instant) -> u64 {
    start.elapsed().as_millis().try_into().unwrap_or(u64::MAX)
}

/// What a maintenance statement did.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance {
    /// The statement pgmcp ran.
    pub statement: String,
    /// What it ran on: `schema.table`, `schema.index`, a schema, or `database <name>`.
    pub target: String,
    /// Wall-clock time of the statement.
    pub duration_ms: u64,
    /// Bytes of the target before (a table with its indexes and TOAST; the whole database
    /// for a database-wide run; absent for a schema).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_before: Option<Int8>,
    /// Bytes after, measured the same way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_after: Option<Int8>,
}

async fn current_database(ctx: &Ctx) -> ToolResult<String> {
    #[derive(Deserialize)]
    struct Db {
        name: String,
    }
    let d: Db = read_one(ctx, "SELECT current_database() AS name", &[]).await?;
    Ok(d.name)
}

/// Runs a maintenance statement on a table (or the whole database) with sizes around it.
async fn maintain(
    ctx: &Ctx,
    what: Progress,
    keyword_and_options: String,
    table: Option<&Resolved>,
    columns: &[String],
) -> ToolResult<Maintenance> {
    let oid = table.map(|t| t.oid);
    let before = size_of(ctx, oid).await?;
    let mut statement = keyword_and_options;
    if let Some(t) = table {
        statement.push(' ');
        statement.push_str(&t.quoted);
        if !columns.is_empty() {
            let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
            statement.push_str(&format!(" ({})", cols.join(", ")));
        }
    }
    let start = Instant::now();
    reporting(
        ctx,
        what,
        &statement,
        oid,
        execute(ctx, &statement, &[], None, Mode::Write),
    )
    .await?;
    let duration_ms = elapsed_ms(start);
    let after = size_of(ctx, oid).await?;
    let target = match table {
        Some(t) => t.display.clone(),
        None => format!("database {}", current_database(ctx).await?),
    };
    Ok(Maintenance {
        statement,
        target,
        duration_ms,
        size_before: before,
        size_after: after,
    })
}

#[allow(clippy::result_large_err)]
fn check_columns(table: Option<&str>, columns: &[String]) -> ToolResult<()> {
    if !columns.is_empty() && table.is_none() {
        return Err(ToolError::invalid("`columns` needs a `table`"));
    }
    for c in columns {
        if c.is_empty() || c.contains('\0') || c.len() > 63 {
            return Err(ToolError::invalid(format!(
                "column name '{c}' is not a valid identifier"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// VACUUM / ANALYZE

const VACUUM: Spec = Spec {
    name: "pg_vacuum",
    title: "VACUUM a table or the database",
    description: "VACUUM one table (or, without `table`, every table of the current database the role may vacuum), with optional FULL, FREEZE, ANALYZE and SKIP_LOCKED.\nPlain VACUUM takes a SHARE UPDATE EXCLUSIVE lock (reads and writes continue). FULL rewrites the table into new files under an ACCESS EXCLUSIVE lock: every read and write of the table waits until it ends, and it needs free disk space for a full copy; no rows are lost. Returns the statement, its duration and the size before and after. Cannot run inside a pinned transaction. VERBOSE is not offered: its report arrives as server notices, which pgmcp does not collect. With an MCP progressToken, reports its phase and blocks done as progress notifications.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VacuumArgs {
    /// Table (`name` or `schema.name`); omit for the whole current database.
    pub table: Option<String>,
    /// Schema of `table`, when not given in it (then `table` is taken literally).
    pub schema: Option<String>,
    /// VACUUM FULL: rewrite the table, returning its free space to the operating system;
    /// ACCESS EXCLUSIVE lock for the whole run.
    #[serde(default)]
    pub full: bool,
    /// FREEZE: freeze every row (as vacuum_freeze_min_age = 0).
    #[serde(default)]
    pub freeze: bool,
    /// ANALYZE as well: refresh the planner statistics.
    #[serde(default)]
    pub analyze: bool,
    /// SKIP_LOCKED: skip relations whose lock cannot be taken at once instead of waiting.
    #[serde(default)]
    pub skip_locked: bool,
    /// With `analyze`: only these columns.
    #[serde(default)]
    pub columns: Vec<String>,
}

async fn vacuum(ctx: Ctx, a: VacuumArgs) -> ToolResult<Maintenance> {
    run_vacuum(&ctx, a).await
}

async fn run_vacuum(ctx: &Ctx, a: VacuumArgs) -> ToolResult<Maintenance> {
    check_columns(a.table.as_deref(), &a.columns)?;
    if !a.columns.is_empty() && !a.analyze {
        return Err(ToolError::invalid(
            "`columns` applies to ANALYZE only: pass analyze: true",
        ));
    }
    let table = match &a.table {
        Some(t) => Some(resolve_table(ctx, t, a.schema.as_deref()).await?),
        None => None,
    };
    let mut options = Vec::new();
    for (on, name) in [
        (a.full, "FULL"),
        (a.freeze, "FREEZE"),
        (a.analyze, "ANALYZE"),
        (a.skip_locked, "SKIP_LOCKED"),
    ] {
        if on {
            options.push(name);
        }
    }
    let head = if options.is_empty() {
        "VACUUM".to_string()
    } else {
        format!("VACUUM ({})", options.join(", "))
    };
    let what = if a.full {
        Progress::Cluster
    } else {
        Progress::Vacuum
    };
    maintain(ctx, what, head, table.as_ref(), &a.columns).await
}

const VACUUM_ANALYZE: Spec = Spec {
    name: "pg_vacuum_analyze",
    title: "VACUUM ANALYZE a table or the database",
    description: "VACUUM (ANALYZE) one table (or, without `table`, the whole current database): reclaims dead rows and refreshes planner statistics in one pass. SHARE UPDATE EXCLUSIVE lock (reads and writes continue); pass full: true for VACUUM FULL, which holds an ACCESS EXCLUSIVE lock for the whole rewrite.\nReturns the statement, its duration and the size before and after. Cannot run inside a pinned transaction. With an MCP progressToken, reports its phase and blocks done as progress notifications.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VacuumAnalyzeArgs {
    /// Table (`name` or `schema.name`); omit for the whole current database.
    pub table: Option<String>,
    /// Schema of `table`, when not given in it.
    pub schema: Option<String>,
    /// VACUUM FULL (ACCESS EXCLUSIVE lock for the whole rewrite).
    #[serde(default)]
    pub full: bool,
    /// FREEZE every row.
    #[serde(default)]
    pub freeze: bool,
    /// Only these columns are analyzed.
    #[serde(default)]
    pub columns: Vec<String>,
}

async fn vacuum_analyze(ctx: Ctx, a: VacuumAnalyzeArgs) -> ToolResult<Maintenance> {
    run_vacuum(
        &ctx,
        VacuumArgs {
            table: a.table,
            schema: a.schema,
            full: a.full,
            freeze: a.freeze,
            analyze: true,
            skip_locked: false,
            columns: a.columns,
        },
    )
    .await
}

const ANALYZE: Spec = Spec {
    name: "pg_analyze",
    title: "ANALYZE a table or the database",
    description: "ANALYZE one table (optionally some of its columns) or, without `table`, the whole current database: samples the rows and replaces the planner statistics (pg_statistic) with fresh ones. Takes a SHARE UPDATE EXCLUSIVE lock; reads and writes continue.\nReturns the statement and its duration. With an MCP progressToken, reports its phase and blocks done as progress notifications.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalyzeArgs {
    /// Table (`name` or `schema.name`); omit for the whole current database.
    pub table: Option<String>,
    /// Schema of `table`, when not given in it.
    pub schema: Option<String>,
    /// Only these columns.
    #[serde(default)]
    pub columns: Vec<String>,
    /// SKIP_LOCKED: skip relations whose lock cannot be taken at once.
    #[serde(default)]
    pub skip_locked: bool,
}

async fn analyze(ctx: Ctx, a: AnalyzeArgs) -> ToolResult<Maintenance> {
    check_columns(a.table.as_deref(), &a.columns)?;
    let table = match &a.table {
        Some(t) => Some(resolve_table(&ctx, t, a.schema.as_deref()).await?),
        None => None,
    };
    let head = if a.skip_locked {
        "ANALYZE (SKIP_LOCKED)"
    } else {
        "ANALYZE"
    };
    let mut m = maintain(
        &ctx,
        Progress::Analyze,
        head.to_string(),
        table.as_ref(),
        &a.columns,
    )
    .await?;
    // ANALYZE does not change sizes; reporting them would suggest it might.
    m.size_before = None;
    m.size_after = None;
    Ok(m)
}

// ---------------------------------------------------------------------------
// REINDEX / CLUSTER

const REINDEX: Spec = Spec {
    name: "pg_reindex",
    title: "REINDEX an index, table, schema or the database",
    description: "Rebuild indexes: one index, every index of a table, of a schema, or of the current database (`target`).\nWithout `concurrently`, REINDEX blocks writes to the table (and reads that would use the index being rebuilt) until it ends. With `concurrently` (REINDEX CONCURRENTLY) reads and writes continue, at the cost of a slower build and twice the index space meanwhile; it cannot rebuild system catalogs, and it cannot run inside a pinned transaction. A failed concurrent rebuild may leave an invalid `_ccnew` index behind (pg_get_indexes shows it). Returns the statement, its duration and the size before and after (a table's or index's; the database's for `database`). With an MCP progressToken, reports its phase and blocks done as progress notifications.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReindexTarget {
    Index,
    Table,
    Schema,
    Database,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReindexArgs {
    /// What to rebuild.
    pub target: ReindexTarget,
    /// The index or table (`name` or `schema.name`), or the schema; for `database`, omit it
    /// or give the current database's name (only the current database can be reindexed).
    pub name: Option<String>,
    /// Schema of an index or table, when not given in `name`.
    pub schema: Option<String>,
    /// REINDEX CONCURRENTLY: no blocking of reads and writes.
    #[serde(default)]
    pub concurrently: bool,
}

async fn reindex(ctx: Ctx, a: ReindexArgs) -> ToolResult<Maintenance> {
    let conc = if a.concurrently { " CONCURRENTLY" } else { "" };
    let need_name = || {
        a.name.as_deref().filter(|n| !n.is_empty()).ok_or_else(|| {
            ToolError::invalid("`name` is required for this target (the index, table or schema)")
        })
    };
    let (statement, target, oid) = match a.target {
        ReindexTarget::Index => {
            let r = resolve(&ctx, need_name()?, a.schema.as_deref(), "index").await?;
            if !matches!(r.kind.as_str(), "i" | "I") {
                return Err(ToolError::invalid(format!(
                    "'{}' is not an index (relkind {}); use target: table for a table",
                    r.display, r.kind
                )));
            }
            (
                format!("REINDEX INDEX{conc} {}", r.quoted),
                r.display,
                Some(r.oid),
            )
        }
        ReindexTarget::Table => {
            let r = resolve_table(&ctx, need_name()?, a.schema.as_deref()).await?;
            (
                format!("REINDEX TABLE{conc} {}", r.quoted),
                r.display,
                Some(r.oid),
            )
        }
        ReindexTarget::Schema => {
            let name = need_name()?;
            if a.schema.is_some() {
                return Err(ToolError::invalid(
                    "for target: schema, give the schema as `name`",
                ));
            }
            #[derive(Deserialize)]
            struct Found {
                found: bool,
            }
            let f: Found = read_one(
                &ctx,
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS found",
                &[json!(name)],
            )
            .await?;
            if !f.found {
                return Err(ToolError::not_found(
                    Code::UndefinedSchema,
                    format!("schema '{name}' does not exist"),
                )
                .suggest("Schema names are case-sensitive; pg_list_schemas shows them."));
            }
            (
                format!("REINDEX SCHEMA{conc} {}", quote_ident(name)),
                format!("schema {name}"),
                None,
            )
        }
        ReindexTarget::Database => {
            let current = current_database(&ctx).await?;
            if let Some(n) = a.name.as_deref().filter(|n| !n.is_empty())
                && n != current
            {
                return Err(ToolError::invalid(format!(
                    "only the current database ({current}) can be reindexed, not '{n}'"
                ))
                .suggest("Connect pgmcp to that database to reindex it."));
            }
            (
                format!("REINDEX DATABASE{conc} {}", quote_ident(&current)),
                format!("database {current}"),
                None,
            )
        }
    };
    let sized = a.target != ReindexTarget::Schema;
    let before = if sized {
        size_of(&ctx, oid).await?
    } else {
        None
    };
    let start = Instant::now();
    // REINDEX reports under its table's oid, whatever the target: narrowed by pid only.
    reporting(
        &ctx,
        Progress::Reindex,
        &statement,
        None,
        execute(&ctx, &statement, &[], None, Mode::Write),
    )
    .await?;
    let duration_ms = elapsed_ms(start);
    let after = if sized {
        size_of(&ctx, oid).await?
    } else {
        None
    };
    Ok(Maintenance {
        statement,
        target,
        duration_ms,
        size_before: before,
        size_after: after,
    })
}

const CLUSTER: Spec = Spec {
    name: "pg_cluster",
    title: "CLUSTER a table on an index",
    description: "Rewrite a table in the order of one of its indexes (CLUSTER … USING), which also remembers that index for later runs; with `table` alone, re-cluster it on its remembered index; with neither, re-cluster every table of the current database that has one.\nCLUSTER holds an ACCESS EXCLUSIVE lock on each table for its whole rewrite (every read and write waits) and needs free disk space for a copy of the table and its indexes; no rows are lost. The order is not maintained by later writes. Without a table it cannot run inside a pinned transaction. Returns the statement, its duration and the size before and after. With an MCP progressToken, reports its phase and blocks done as progress notifications.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterArgs {
    /// Table (`name` or `schema.name`); omit to re-cluster every previously clustered table.
    pub table: Option<String>,
    /// Schema of `table`, when not given in it.
    pub schema: Option<String>,
    /// Index of `table` to order by (its name, without schema); omit to use the one the
    /// table was last clustered on.
    pub index: Option<String>,
}

async fn cluster(ctx: Ctx, a: ClusterArgs) -> ToolResult<Maintenance> {
    let Some(table) = &a.table else {
        if a.index.is_some() {
            return Err(ToolError::invalid("`index` needs a `table`"));
        }
        return maintain(&ctx, Progress::Cluster, "CLUSTER".into(), None, &[]).await;
    };
    let t = resolve_table(&ctx, table, a.schema.as_deref()).await?;
    #[derive(Deserialize)]
    struct Idx {
        name: String,
    }
    let indexes: Vec<Idx> = decode(
        read_rows(
            &ctx,
            "SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = $1::oid
                AND (($2::text IS NULL AND i.indisclustered) OR c.relname = $2::text)",
            &[json!(t.oid), json!(a.index)],
        )
        .await?,
    )?;
    let Some(index) = indexes.first() else {
        return Err(match &a.index {
            Some(i) => ToolError::not_found(
                Code::NotFound,
                format!("'{i}' is not an index of {}", t.display),
            )
            .suggest("pg_get_indexes lists the table's indexes."),
            None => ToolError::invalid(format!(
                "{} has never been clustered, so there is no index to reuse",
                t.display
            ))
            .suggest("Name the index to order by with `index`."),
        });
    };
    let before = size_of(&ctx, Some(t.oid)).await?;
    let statement = format!("CLUSTER {} USING {}", t.quoted, quote_ident(&index.name));
    let start = Instant::now();
    reporting(
        &ctx,
        Progress::Cluster,
        &statement,
        Some(t.oid),
        execute(&ctx, &statement, &[], None, Mode::Write),
    )
    .await?;
    let duration_ms = elapsed_ms(start);
    let after = size_of(&ctx, Some(t.oid)).await?;
    Ok(Maintenance {
        statement,
        target: t.display,
        duration_ms,
        size_before: before,
        size_after: after,
    })
}

// ---------------------------------------------------------------------------
// Backend signals

const CANCEL_BACKEND: Spec = Spec {
    name: "pg_cancel_backend",
    title: "Cancel a backend's current query",
    description: "Cancel the statement a server process (`pid`, from pg_stat_activity) is running (pg_cancel_backend): the statement fails with QUERY_CANCELED, the session stays connected and its transaction, if any, is aborted.\nRefused (OWN_BACKEND) for pgmcp's own pooled connections, and NOT_FOUND for a pid that is not a backend of this server. Needs the same role as the backend, or pg_signal_backend; superuser backends only by a superuser. Returns whether the signal was sent and what the backend was doing.",
    hints: WRITE,
    shortcuts: &[],
};

const TERMINATE_BACKEND: Spec = Spec {
    name: "pg_terminate_backend",
    title: "Terminate a backend",
    description: "Terminate a server process (`pid`, from pg_stat_activity) with pg_terminate_backend: its connection is closed and its open transaction rolled back, so uncommitted work of that session is lost.\nRefused (OWN_BACKEND) for pgmcp's own pooled connections, and NOT_FOUND for a pid that is not a backend of this server. Needs the same role as the backend, or pg_signal_backend; superuser backends only by a superuser. Returns whether the signal was sent and what the backend was doing.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignalArgs {
    /// Process id of the backend (pg_stat_activity.pid).
    pub pid: i32,
}

/// A signalled backend, as pg_stat_activity showed it just before.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Signalled {
    pub pid: i32,
    /// Whether PostgreSQL sent the signal (false: it refused, e.g. the process is gone).
    pub signalled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The backend's current or last statement, first 500 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

async fn signal(ctx: &Ctx, pid: i32, function: &str) -> ToolResult<Signalled> {
    if ctx.db().own_backends.contains(pid) {
        return Err(ToolError::new(
            Category::Permission,
            Code::OwnBackend,
            format!("pid {pid} is one of pgmcp's own pooled connections; pgmcp does not signal itself"),
        )
        .suggest("Pick a pid of another session from pg_stat_activity (pgmcp's own connections show application_name pgmcp by default).")
        .recoverable(false));
    }
    let rows = read_rows(
        ctx,
        "SELECT pid, false AS signalled, usename::text AS user, datname::text AS database,
                application_name AS \"applicationName\", backend_type AS \"backendType\", state, left(query, 500) AS query
           FROM pg_stat_activity WHERE pid = $1",
        &[json!(pid)],
    )
    .await?;
    let Some(mut found) = decode::<Signalled>(rows)?.into_iter().next() else {
        return Err(ToolError::not_found(
            Code::NotFound,
            format!("no server process with pid {pid}"),
        )
        .suggest("pg_stat_activity lists the server's processes and their pids."));
    };
    #[derive(Deserialize)]
    struct Sent {
        signalled: Option<bool>,
    }
    let sent: Vec<Sent> = decode(
        write_rows(
            ctx,
            &format!("SELECT pg_catalog.{function}($1) AS signalled"),
            &[json!(pid)],
        )
        .await?,
    )?;
    found.signalled = sent.first().and_then(|s| s.signalled).unwrap_or(false);
    Ok(found)
}

async fn cancel_backend(ctx: Ctx, a: SignalArgs) -> ToolResult<Signalled> {
    signal(&ctx, a.pid, "pg_cancel_backend").await
}

async fn terminate_backend(ctx: Ctx, a: SignalArgs) -> ToolResult<Signalled> {
    signal(&ctx, a.pid, "pg_terminate_backend").await
}

// ---------------------------------------------------------------------------
// Configuration

const RELOAD_CONF: Spec = Spec {
    name: "pg_reload_conf",
    title: "Reload the server configuration",
    description: "Signal the server to re-read its configuration files (pg_reload_conf(); as SIGHUP): changed settings of context sighup or user take effect in every session shortly after, asynchronously; settings of context postmaster wait for a restart (pg_show_settings with pendingRestartOnly lists them). Needs superuser or EXECUTE on pg_reload_conf.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Reloaded {
    /// Whether the signal was sent to the postmaster.
    pub reloaded: bool,
}

async fn reload_conf(ctx: Ctx, _: NoArgs) -> ToolResult<Reloaded> {
    let rows = write_rows(&ctx, "SELECT pg_catalog.pg_reload_conf() AS reloaded", &[]).await?;
    decode::<Reloaded>(rows)?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("pg_reload_conf returned no row"))
}

const SET_CONFIG: Spec = Spec {
    name: "pg_set_config",
    title: "Change a setting persistently",
    description: "Set (or with reset: true, remove) a configuration parameter persistently, in one of three scopes. A session-level SET would be meaningless here: pgmcp's pooled connections are reset after every call.\n- `database` (default): ALTER DATABASE <current> SET name = value; applies to sessions started afterwards in this database (pgmcp's pooled connections keep the old value until they reconnect).\n- `role`: ALTER ROLE <role> SET name = value (with inCurrentDatabase: … IN DATABASE <current>); applies to that role's new sessions.\n- `system`: ALTER SYSTEM SET name = value (written to postgresql.auto.conf, for the whole server), then pg_reload_conf(). Refused with ALTER_SYSTEM_NOT_ALLOWED unless pgmcp runs with --allow-alter-system. A parameter of context postmaster takes effect only after a restart (restartRequired).\nThe value is one literal (a list parameter such as search_path takes one element this way). The previous value is returned; this overwrites it.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConfigScope {
    #[default]
    Database,
    Role,
    System,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetConfigArgs {
    /// Parameter name, e.g. `work_mem` or `auto_explain.log_min_duration`.
    pub name: String,
    /// The new value, e.g. `64MB`; omit with reset: true.
    pub value: Option<String>,
    /// Where the setting lives (default `database`).
    #[serde(default)]
    pub scope: ConfigScope,
    /// The role, for scope `role`.
    pub role: Option<String>,
    /// For scope `role`: only in the current database.
    #[serde(default)]
    pub in_current_database: bool,
    /// Remove the setting from this scope (RESET) instead of setting a value.
    #[serde(default)]
    pub reset: bool,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChanged {
    /// The statement pgmcp ran.
    pub statement: String,
    pub scope: ConfigScope,
    pub name: String,
    /// The value set; absent after a reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Before the change: for `system`, the value in effect then (pg_settings.setting, in
    /// its unit); for `database` and `role`, the value this scope held (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// pg_settings.context of the parameter (absent for an unknown custom parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Whether pg_reload_conf() was called (scope `system` only).
    pub reloaded: bool,
    /// The parameter takes effect only after a server restart (context postmaster).
    pub restart_required: bool,
}

/// A parameter name: identifiers separated by at most one dot (custom parameters).
#[allow(clippy::result_large_err)]
fn check_param_name(name: &str) -> ToolResult<String> {
    let valid_part = |p: &str| {
        let mut chars = p.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    let parts: Vec<&str> = name.split('.').collect();
    if name.len() > 127 || parts.len() > 2 || !parts.iter().all(|p| valid_part(p)) {
        return Err(
            ToolError::invalid(format!("'{name}' is not a configuration parameter name"))
                .suggest("pg_show_settings lists the parameters."),
        );
    }
    Ok(name.to_ascii_lowercase())
}

async fn set_config(ctx: Ctx, a: SetConfigArgs) -> ToolResult<ConfigChanged> {
    let name = check_param_name(&a.name)?;
    let value = match (&a.value, a.reset) {
        (Some(_), true) => {
            return Err(ToolError::invalid(
                "give either `value` or reset: true, not both",
            ));
        }
        (None, false) => {
            return Err(ToolError::invalid(
                "`value` is required (or pass reset: true to remove the setting)",
            ));
        }
        (Some(v), false) if v.contains('\0') => {
            return Err(ToolError::invalid("the value contains a NUL byte"));
        }
        (v, _) => v.clone(),
    };
    if a.scope != ConfigScope::Role && (a.role.is_some() || a.in_current_database) {
        return Err(ToolError::invalid(
            "`role` and `inCurrentDatabase` apply to scope: role only",
        ));
    }
    if a.scope == ConfigScope::System && !ctx.env.config.allow_alter_system {
        return Err(ToolError::new(
            Category::Permission,
            Code::AlterSystemNotAllowed,
            "scope system (ALTER SYSTEM) is disabled on this server",
        )
        .suggest(
            "Start pgmcp with --allow-alter-system to allow it, or use scope database or role.",
        )
        .recoverable(false));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Known {
        setting: Option<String>,
        context: Option<String>,
        found: bool,
        database: String,
        role_previous: Option<String>,
        role_exists: bool,
    }
    let known: Known = read_one(
        &ctx,
        "SELECT s.setting, s.context, s.name IS NOT NULL AS found, current_database() AS database,
                (SELECT split_part(e, '=', 2) FROM pg_db_role_setting d, unnest(d.setconfig) e
                  WHERE split_part(e, '=', 1) = $1
                    AND d.setrole = CASE WHEN $2::text IS NULL THEN 0
                                         ELSE (SELECT oid FROM pg_roles WHERE rolname = $2::text) END
                    AND d.setdatabase = CASE WHEN $2::text IS NULL OR $3::bool
                                             THEN (SELECT oid FROM pg_database WHERE datname = current_database())
                                             ELSE 0 END
                  LIMIT 1) AS \"rolePrevious\",
                ($2::text IS NULL OR EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $2::text)) AS \"roleExists\"
           FROM (SELECT 1) one LEFT JOIN pg_settings s ON s.name = $1",
        &[json!(name), json!(a.role), json!(a.in_current_database)],
    )
    .await?;
    if !known.found && !name.contains('.') {
        return Err(ToolError::not_found(
            Code::NotFound,
            format!("unrecognized configuration parameter '{name}'"),
        )
        .suggest("pg_show_settings lists the parameters (with a pattern, e.g. %mem%)."));
    }
    let assignment = match &value {
        Some(v) => format!("SET {name} = {}", quote_literal(v)),
        None => format!("RESET {name}"),
    };
    let database = quote_ident(&known.database);
    let (statement, previous) = match a.scope {
        ConfigScope::System => (format!("ALTER SYSTEM {assignment}"), known.setting.clone()),
        ConfigScope::Database => (
            format!("ALTER DATABASE {database} {assignment}"),
            known.role_previous.clone(),
        ),
        ConfigScope::Role => {
            let Some(role) = a.role.as_deref().filter(|r| !r.is_empty()) else {
                return Err(ToolError::invalid("scope role needs `role`"));
            };
            if !known.role_exists {
                return Err(ToolError::not_found(
                    Code::NotFound,
                    format!("role '{role}' does not exist"),
                ));
            }
            let within = if a.in_current_database {
                format!(" IN DATABASE {database}")
            } else {
                String::new()
            };
            (
                format!("ALTER ROLE {}{within} {assignment}", quote_ident(role)),
                known.role_previous.clone(),
            )
        }
    };
    execute(&ctx, &statement, &[], None, Mode::Write).await?;
    let reloaded = if a.scope == ConfigScope::System {
        let rows = write_rows(&ctx, "SELECT pg_catalog.pg_reload_conf() AS reloaded", &[]).await?;
        decode::<Reloaded>(rows)?
            .first()
            .is_some_and(|r| r.reloaded)
    } else {
        false
    };
    Ok(ConfigChanged {
        statement,
        scope: a.scope,
        name,
        value,
        previous,
        restart_required: known.context.as_deref() == Some("postmaster"),
        context: known.context,
        reloaded,
    })
}

// ---------------------------------------------------------------------------
// Statistics reset

const RESET_STATS: Spec = Spec {
    name: "pg_reset_stats",
    title: "Reset statistics counters",
    description: "Reset the cumulative statistics counters of the current database (pg_stat_reset(): pg_stat_database, pg_stat_user_tables, pg_stat_user_indexes, pg_statio_* of this database) or, with `table`, of one table and its indexes (pg_stat_reset_single_table_counters). The numbers are lost: usage counts, scan counts, dead-row counts and the last (auto)vacuum/analyze times that autovacuum and tools like pg_unused_indexes rely on. Other databases and cluster-wide views (pg_stat_bgwriter, pg_stat_statements) are not touched. Needs superuser or EXECUTE on the function.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetStatsArgs {
    /// Only this table (`name` or `schema.name`); omit for the whole current database.
    pub table: Option<String>,
    /// Schema of `table`, when not given in it.
    pub schema: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsReset {
    /// The statement pgmcp ran.
    pub statement: String,
    /// `schema.table`, or `database <name>`.
    pub target: String,
}

async fn reset_stats(ctx: Ctx, a: ResetStatsArgs) -> ToolResult<StatsReset> {
    let (statement, target) = match &a.table {
        Some(t) => {
            let r = resolve_table(&ctx, t, a.schema.as_deref()).await?;
            (
                format!("SELECT pg_stat_reset_single_table_counters({})", r.oid),
                r.display,
            )
        }
        None => (
            "SELECT pg_stat_reset()".to_string(),
            format!("database {}", current_database(&ctx).await?),
        ),
    };
    write_rows(&ctx, &statement, &[]).await?;
    Ok(StatsReset { statement, target })
}

// ---------------------------------------------------------------------------
// Insights

const APPEND_INSIGHT: Spec = Spec {
    name: "pg_append_insight",
    title: "Record a note for later",
    description: "Append a timestamped note (a finding, a decision, a follow-up) to the table pgmcp.insights in the current database, so that it can be read back in a later session with pg_read_query (`SELECT * FROM pgmcp.insights ORDER BY id DESC`).\nOn first use it creates the schema pgmcp and the table (id, created_at, category, insight, created_by = current_user); the connecting role needs CREATE on the database for that. Notes are never changed or removed by pgmcp.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppendInsightArgs {
    /// The note (1 to 10000 characters).
    pub insight: String,
    /// Optional label to group notes by, e.g. `performance`.
    pub category: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InsightAppended {
    pub id: i64,
    /// When it was recorded (the server's clock).
    pub created_at: String,
    /// How many notes the table holds now.
    pub total: i64,
}

pub const INSIGHTS_DDL: [&str; 2] = [
    "CREATE SCHEMA IF NOT EXISTS pgmcp",
    "CREATE TABLE IF NOT EXISTS pgmcp.insights (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        category text,
        insight text NOT NULL,
        created_by text NOT NULL DEFAULT current_user)",
];

async fn append_insight(ctx: Ctx, a: AppendInsightArgs) -> ToolResult<InsightAppended> {
    let len = a.insight.chars().count();
    if a.insight.trim().is_empty() || len > 10_000 {
        return Err(ToolError::invalid(format!(
            "`insight` must hold 1 to 10000 characters (got {len})"
        )));
    }
    if a.insight.contains('\0') || a.category.as_deref().is_some_and(|c| c.contains('\0')) {
        return Err(ToolError::invalid("the note contains a NUL byte"));
    }
    for ddl in INSIGHTS_DDL {
        execute(&ctx, ddl, &[], None, Mode::Write).await?;
    }
    let rows = write_rows(
        &ctx,
        "WITH added AS (INSERT INTO pgmcp.insights (category, insight) VALUES ($1, $2)
                        RETURNING id, created_at)
         SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS \"createdAt\",
                (SELECT count(*) FROM pgmcp.insights) + 1 AS total
           FROM added",
        &[json!(a.category), json!(a.insight)],
    )
    .await?;
    decode::<InsightAppended>(rows)?
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("the insert returned no row"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_like_postgres() {
        assert_eq!(quote_literal("64MB"), "'64MB'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b'"), r"E'a\\b'''");
    }

    #[test]
    fn parameter_names_are_checked() {
        assert_eq!(check_param_name("work_mem").unwrap(), "work_mem");
        assert_eq!(
            check_param_name("Auto_Explain.log_min_duration").unwrap(),
            "auto_explain.log_min_duration"
        );
        for bad in ["", "a b", "x;drop", "a.b.c", "1abc", "a.", "work_mem = 1"] {
            assert!(check_param_name(bad).is_err(), "{bad}");
        }
    }
}
