//! Indexes: list, create, drop.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::super::catalog::Listing;
use super::super::exec::execute_ddl;
use super::super::relsize;
use super::super::{Ctx, DESTRUCTIVE, READ, Shortcut, Spec, WRITE};
use super::{Created, Dropped, check_expression, resolve_relation};
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};

pub(super) const GET_INDEXES: Spec = Spec {
    name: "pg_get_indexes",
    title: "List indexes",
    description: "List indexes with definition, method, uniqueness, size and scan count; for one table or all user tables.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "getIndexes",
        positional: &["table", "schema"],
        shape: Some("indexes"),
    }],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetIndexesArgs {
    /// Only indexes of this table (`schema.table` allowed).
    pub table: Option<String>,
    pub schema: Option<String>,
    #[serde(default)]
    pub include_system: bool,
}

/// An index, with its table and usage.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct IndexRow {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// The CREATE INDEX statement.
    pub definition: String,
    /// Access method: `btree`, `hash`, `gin`, `gist`, `spgist`, `brin`…
    pub method: String,
    pub unique: bool,
    pub primary: bool,
    /// `true` when the index is invalid (a failed concurrent build); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<bool>,
    /// e.g. `16 kB`; absent while the index is locked (another session holds or waits for an
    /// ACCESS EXCLUSIVE lock on it, and reading its size would wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Index scans since statistics were reset; absent when there are no statistics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scans: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
pub struct IndexList {
    /// By schema, table and name.
    pub indexes: Vec<IndexRow>,
}

pub(super) async fn get_indexes(ctx: Ctx, a: GetIndexesArgs) -> ToolResult<IndexList> {
    let listing = Listing::new(
        format!(
            "n.nspname AS schema, t.relname AS table, ic.relname AS name,
             pg_get_indexdef(i.indexrelid) AS definition, am.amname AS method,
             i.indisunique AS unique, i.indisprimary AS primary,
             NULLIF(NOT i.indisvalid, false) AS invalid,
             pg_size_pretty({}) AS size,
             s.idx_scan AS scans",
            relsize::size("pg_relation_size", "i.indexrelid")
        ),
        "pg_index i
         JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_am am ON am.oid = ic.relam
         LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid",
    )
    .order_by("1, 2, 3");
    let listing = match &a.table {
        // One table's indexes, wherever it lives.
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            let oid = resolve_relation(&ctx, &q, "table").await?;
            listing.filter("i.indrelid = {}::oid", oid)
        }
        // An explicitly named schema is shown even when it is a system schema.
        None => listing
            .schema("n.nspname", a.schema.as_deref())
            .hide_system_schemas("n.nspname", a.include_system || a.schema.is_some()),
    };
    Ok(IndexList {
        indexes: listing.all(&ctx).await?,
    })
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum IndexMethod {
    Btree,
    Hash,
    Gin,
    Gist,
    Spgist,
    Brin,
}

pub(super) const CREATE_INDEX: Spec = Spec {
    name: "pg_create_index",
    title: "Create an index",
    description: "Create an index on columns of a table (unique, partial, method, concurrently).",
    hints: WRITE,
    shortcuts: &[Shortcut {
        name: "createIndex",
        positional: &[],
        shape: None,
    }],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateIndexArgs {
    /// Table to index, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Columns, in order. Append ` DESC` to a name for descending order.
    pub columns: Vec<String>,
    /// Index name; generated as `<table>_<cols>_idx` when omitted.
    pub name: Option<String>,
    #[serde(default)]
    pub unique: bool,
    /// Access method (default btree).
    pub method: Option<IndexMethod>,
    /// Partial index predicate as a SQL expression, e.g. `deleted_at IS NULL`.
    #[serde(rename = "where")]
    pub predicate: Option<String>,
    /// Build without blocking writes (CREATE INDEX CONCURRENTLY).
    #[serde(default)]
    pub concurrently: bool,
    #[serde(default)]
    pub if_not_exists: bool,
}

pub(super) async fn create_index(ctx: Ctx, a: CreateIndexArgs) -> ToolResult<Created> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.columns.is_empty() {
        return Err(ToolError::invalid(
            "columns is empty; name at least one column to index",
        ));
    }
    let mut cols = Vec::new();
    let mut plain = Vec::new();
    for c in &a.columns {
        let (name, dir) = match c.trim().rsplit_once(' ') {
            Some((n, d)) if d.eq_ignore_ascii_case("desc") => (n.trim(), " DESC"),
            Some((n, d)) if d.eq_ignore_ascii_case("asc") => (n.trim(), ""),
            _ => (c.trim(), ""),
        };
        cols.push(format!("{}{dir}", quote_ident(name)));
        plain.push(name.to_string());
    }
    let name = a.name.clone().unwrap_or_else(|| {
        format!("{}_{}_idx", q.name, plain.join("_"))
            .chars()
            .take(63)
            .collect()
    });
    let method = match a.method.unwrap_or(IndexMethod::Btree) {
        IndexMethod::Btree => "btree",
        IndexMethod::Hash => "hash",
        IndexMethod::Gin => "gin",
        IndexMethod::Gist => "gist",
        IndexMethod::Spgist => "spgist",
        IndexMethod::Brin => "brin",
    };
    let mut sql = format!(
        "CREATE {}INDEX {}{}{} ON {} USING {method} ({})",
        if a.unique { "UNIQUE " } else { "" },
        if a.concurrently { "CONCURRENTLY " } else { "" },
        if a.if_not_exists {
            "IF NOT EXISTS "
        } else {
            ""
        },
        quote_ident(&name),
        q.quoted(),
        cols.join(", ")
    );
    if let Some(p) = &a.predicate {
        check_expression("where", p)?;
        sql.push_str(&format!(" WHERE {p}"));
    }
    execute_ddl(&ctx, &sql).await?;
    Ok(Created { created: name, sql })
}

pub(super) const DROP_INDEX: Spec = Spec {
    name: "pg_drop_index",
    title: "Drop an index",
    description: "Drop an index (optionally IF EXISTS, CASCADE, CONCURRENTLY).",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropIndexArgs {
    /// Index name, optionally `schema.index`.
    pub name: String,
    pub schema: Option<String>,
    #[serde(default)]
    pub if_exists: bool,
    #[serde(default)]
    pub cascade: bool,
    /// DROP INDEX CONCURRENTLY (does not block reads and writes).
    #[serde(default)]
    pub concurrently: bool,
}

pub(super) async fn drop_index(ctx: Ctx, a: DropIndexArgs) -> ToolResult<Dropped> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let sql = format!(
        "DROP INDEX {}{}{}{}",
        if a.concurrently { "CONCURRENTLY " } else { "" },
        if a.if_exists { "IF EXISTS " } else { "" },
        q.quoted(),
        if a.cascade { " CASCADE" } else { "" }
    );
    execute_ddl(&ctx, &sql).await?;
    Ok(Dropped {
        dropped: q.to_string(),
    })
}
