//! Indexes: list, create, drop.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::Ctx;
use super::super::exec::{execute_ddl, read_rows};
use super::{check_expression, resolve_relation, user_schema_filter};
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetIndexesArgs {
    /// Only indexes of this table (`schema.table` allowed).
    pub table: Option<String>,
    pub schema: Option<String>,
    #[serde(default)]
    pub include_system: bool,
}

pub(super) async fn get_indexes(ctx: Ctx, a: GetIndexesArgs) -> ToolResult<Value> {
    let oid = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            Some(resolve_relation(&ctx, &q, "table").await?)
        }
        None => None,
    };
    let sql = format!(
        "SELECT n.nspname AS schema, t.relname AS table, ic.relname AS name,
                pg_get_indexdef(i.indexrelid) AS definition, am.amname AS method,
                i.indisunique AS unique, i.indisprimary AS primary,
                NULLIF(NOT i.indisvalid, false) AS invalid,
                pg_size_pretty(pg_relation_size(i.indexrelid)) AS size,
                s.idx_scan AS scans
           FROM pg_index i
           JOIN pg_class ic ON ic.oid = i.indexrelid
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           JOIN pg_am am ON am.oid = ic.relam
           LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
          WHERE ($1::oid IS NULL OR i.indrelid = $1::oid)
            AND ($2::text IS NULL OR $1::oid IS NOT NULL OR n.nspname = $2)
            AND ($1::oid IS NOT NULL OR {})
          ORDER BY 1, 2, 3",
        user_schema_filter("n.nspname", 3)
    );
    let show_system = a.include_system || a.schema.is_some();
    let rows = read_rows(
        &ctx,
        &sql,
        &[json!(oid), json!(a.schema), json!(show_system)],
    )
    .await?;
    Ok(json!({ "indexes": rows }))
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

pub(super) async fn create_index(ctx: Ctx, a: CreateIndexArgs) -> ToolResult<Value> {
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
    Ok(json!({ "created": name, "sql": sql }))
}

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

pub(super) async fn drop_index(ctx: Ctx, a: DropIndexArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let sql = format!(
        "DROP INDEX {}{}{}{}",
        if a.concurrently { "CONCURRENTLY " } else { "" },
        if a.if_exists { "IF EXISTS " } else { "" },
        q.quoted(),
        if a.cascade { " CASCADE" } else { "" }
    );
    execute_ddl(&ctx, &sql).await?;
    Ok(json!({ "dropped": q.to_string() }))
}
