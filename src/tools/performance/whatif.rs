//! `pg_explain` with hypothetical indexes and hidden indexes (HypoPG): the plan the
//! statement would get if these indexes existed, or if those were gone, without creating
//! or dropping anything.
//!
//! Everything happens on one pooled connection held for the call, in a READ ONLY
//! transaction: the hypothetical indexes are built from structured input (a table and
//! column names, quoted by pgmcp, never a caller's CREATE INDEX text), the EXPLAIN passes
//! the same statement policy as any read and runs as the read-only role like any read.
//! HypoPG's state lives in the backend and is not transactional, so the connection is
//! closed afterwards, whatever happened: no hypothetical or hidden index can reach the
//! pool's next borrower.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::ident::{parse_qualified, quote_ident};
use crate::db::run_query;
use crate::dba::hypopg_prerequisites;
use crate::error::{Category, Code, ToolError, ToolResult};
use crate::tools::Ctx;
use crate::tools::exec::{check_read_in_transaction, plans_a_write_only, role_error, set_role_sql};

/// The most hypothetical (or hidden) indexes one call takes.
pub const MAX_INDEXES: usize = 10;

/// An index that does not exist, for the planner to consider.
#[derive(Deserialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HypotheticalIndex {
    /// Table (`name` or `schema.name`).
    pub table: String,
    /// Schema of `table`, when not given in it.
    pub schema: Option<String>,
    /// Key columns, in order (column names, not expressions).
    pub columns: Vec<String>,
    /// Access method: `btree` (default), `hash`, `brin`; HypoPG cannot simulate GIN or GiST.
    #[serde(default)]
    pub method: IndexMethod,
}

#[derive(Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IndexMethod {
    #[default]
    Btree,
    Hash,
    Brin,
}

impl IndexMethod {
    fn sql(self) -> &'static str {
        match self {
            IndexMethod::Btree => "btree",
            IndexMethod::Hash => "hash",
            IndexMethod::Brin => "brin",
        }
    }
}

/// A hypothetical index as the planner saw it.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct HypotheticalUse {
    /// The definition pgmcp gave HypoPG.
    pub create_index: String,
    /// HypoPG's name for it (`<oid>btree_table_col`), as it appears in the plan.
    pub index_name: String,
    /// Whether the plan uses it.
    pub used: bool,
}

/// What the what-if session produced: the EXPLAIN rows and the indexes involved.
pub struct WhatIf {
    pub rows: Vec<Map<String, Value>>,
    pub hypothetical: Vec<HypotheticalUse>,
    /// `schema.name` of each hidden index.
    pub hidden: Vec<String>,
}

/// Runs `explain_sql` (an EXPLAIN without ANALYZE) with `hypothetical` indexes present and
/// `hide` indexes hidden (see the module docs).
pub async fn explain(
    ctx: &Ctx,
    explain_sql: &str,
    params: &[Value],
    hypothetical: &[HypotheticalIndex],
    hide: &[String],
) -> ToolResult<WhatIf> {
    if hypothetical.len() > MAX_INDEXES || hide.len() > MAX_INDEXES {
        return Err(ToolError::invalid(format!(
            "at most {MAX_INDEXES} hypothetical and {MAX_INDEXES} hidden indexes per call"
        )));
    }
    if ctx.transaction.is_some() {
        return Err(ToolError::invalid(
            "hypothetical and hidden indexes need a session of their own, not a pinned transaction",
        ));
    }
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let conn = guard.client();
    conn.forget_all();
    let result = async {
        conn.batch_execute("BEGIN READ ONLY")
            .await
            .map_err(ToolError::from)?;
        let client: &tokio_postgres::Client = conn;
        let (_, hypopg) =
            hypopg_prerequisites(client, "pg_explain with hypothetical or hidden indexes").await?;
        let schema = quote_ident(&hypopg.schema);
        let mut created = Vec::new();
        for h in hypothetical {
            created.push(create(client, &schema, h).await?);
        }
        let mut hidden = Vec::new();
        if !hide.is_empty() {
            let can_hide = client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_extension e \
                     ON e.extnamespace = p.pronamespace AND e.extname = 'hypopg' \
                     WHERE p.proname = 'hypopg_hide_index')",
                    &[],
                )
                .await
                .map_err(ToolError::from)?
                .get::<_, bool>(0);
            if !can_hide {
                return Err(ToolError::new(
                    Category::NotFound,
                    Code::HypopgNotInstalled,
                    format!(
                        "hiding indexes needs HypoPG 1.4 or later; this database has {}",
                        hypopg.version
                    ),
                )
                .suggest("Update the extension (ALTER EXTENSION hypopg UPDATE) after installing HypoPG 1.4+, or explain without hideIndexes."));
            }
            for name in hide {
                hidden.push(hide_index(client, &schema, name).await?);
            }
        }
        // As every read: the read-only role, except for a plain EXPLAIN of a write, which
        // plans with the connecting role's privileges (see exec).
        if let Some(role) = set_role_sql(ctx).filter(|_| !plans_a_write_only(explain_sql)) {
            client
                .batch_execute(&role)
                .await
                .map_err(|e| role_error(ctx, e))?;
        }
        check_read_in_transaction(ctx, conn, explain_sql).await?;
        let client: &tokio_postgres::Client = conn;
        let out = run_query(client, explain_sql, params, ctx.caps()).await?;
        Ok::<_, ToolError>(WhatIf {
            rows: out.rows,
            hypothetical: created,
            hidden,
        })
    }
    .await;
    // Hypothetical and hidden indexes outlive the transaction: the connection goes.
    let _ = guard.client().batch_execute("ROLLBACK").await;
    guard.disarm_discard();
    let mut out = result?;
    let plan_text = serde_json::to_string(&out.rows).unwrap_or_default();
    for h in &mut out.hypothetical {
        h.used = plan_text.contains(&h.index_name);
    }
    Ok(out)
}

async fn create(
    client: &tokio_postgres::Client,
    hypopg_schema: &str,
    h: &HypotheticalIndex,
) -> ToolResult<HypotheticalUse> {
    if h.columns.is_empty() {
        return Err(ToolError::invalid(format!(
            "the hypothetical index on '{}' names no column",
            h.table
        )));
    }
    let q = parse_qualified(&h.table, h.schema.as_deref())?;
    let table: Option<String> = client
        .query_one(
            "SELECT (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1))",
            &[&q.quoted()],
        )
        .await
        .map_err(ToolError::from)?
        .get(0);
    let Some(table) = table else {
        return Err(
            ToolError::not_found(Code::NotFound, format!("table '{q}' does not exist"))
                .suggest("Names are case-sensitive; pg_list_tables shows the tables."),
        );
    };
    let columns: Vec<String> = h.columns.iter().map(|c| quote_ident(c)).collect();
    let ddl = format!(
        "CREATE INDEX ON {table} USING {} ({})",
        h.method.sql(),
        columns.join(", ")
    );
    let row = client
        .query_one(
            &format!("SELECT indexname::text FROM {hypopg_schema}.hypopg_create_index($1::text)"),
            &[&ddl],
        )
        .await
        .map_err(|e| {
            let mut err = ToolError::from(e);
            err.error = format!("hypothetical index {ddl}: {}", err.error);
            err
        })?;
    Ok(HypotheticalUse {
        create_index: ddl,
        index_name: row.get(0),
        used: false,
    })
}

async fn hide_index(
    client: &tokio_postgres::Client,
    hypopg_schema: &str,
    name: &str,
) -> ToolResult<String> {
    let q = parse_qualified(name, None)?;
    let row = client
        .query_one(
            "SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relkind::text \
             FROM (SELECT to_regclass($1) AS oid) r \
             LEFT JOIN pg_class c ON c.oid = r.oid \
             LEFT JOIN pg_namespace n ON n.oid = c.relnamespace",
            &[&q.quoted()],
        )
        .await
        .map_err(ToolError::from)?;
    let (Some(oid), Some(display), Some(kind)) = (
        row.get::<_, Option<u32>>(0),
        row.get::<_, Option<String>>(1),
        row.get::<_, Option<String>>(2),
    ) else {
        return Err(
            ToolError::not_found(Code::NotFound, format!("index '{q}' does not exist"))
                .suggest("pg_get_indexes lists a table's indexes."),
        );
    };
    if kind != "i" {
        return Err(ToolError::invalid(format!("'{display}' is not an index")));
    }
    let hidden: bool = client
        .query_one(
            &format!("SELECT {hypopg_schema}.hypopg_hide_index($1)"),
            &[&oid],
        )
        .await
        .map_err(ToolError::from)?
        .get(0);
    if !hidden {
        return Err(ToolError::invalid(format!(
            "HypoPG could not hide '{display}'"
        )));
    }
    Ok(display)
}
