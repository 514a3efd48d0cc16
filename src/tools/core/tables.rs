//! Tables: list, describe, columns, create, drop, truncate.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::super::Ctx;
use super::super::exec::{execute_ddl, read_rows};
use super::{check_expression, default_limit, paged, resolve_relation, user_schema_filter};
use crate::db::ident::{check_type_name, parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListTablesArgs {
    /// Only this schema.
    pub schema: Option<String>,
    /// Case-insensitive LIKE pattern on the table name, e.g. `%order%`.
    pub pattern: Option<String>,
    /// Include PostgreSQL's own schemas (pg_catalog, information_schema).
    #[serde(default)]
    pub include_system: bool,
    #[serde(default = "default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

pub(super) async fn list_tables(ctx: Ctx, a: ListTablesArgs) -> ToolResult<Value> {
    let sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name,
                CASE c.relkind WHEN 'p' THEN 'partitioned' WHEN 'f' THEN 'foreign' END AS kind,
                CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS \"rowEstimate\",
                pg_size_pretty(pg_total_relation_size(c.oid)) AS size,
                obj_description(c.oid, 'pg_class') AS comment,
                count(*) OVER () AS _total
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition
            AND ($1::text IS NULL OR n.nspname = $1)
            AND ($2::text IS NULL OR c.relname ILIKE $2)
            AND {}
          ORDER BY 1, 2 LIMIT $4 OFFSET $5",
        user_schema_filter("n.nspname", 3)
    );
    let rows = read_rows(
        &ctx,
        &sql,
        // An explicitly named schema is shown even when it is a system schema.
        &[
            json!(a.schema),
            json!(a.pattern),
            json!(a.include_system || a.schema.is_some()),
            json!(a.limit),
            json!(a.offset),
        ],
    )
    .await?;
    Ok(paged("tables", rows, a.offset))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TableArgs {
    /// Table name, optionally `schema.table`. Names are used exactly as given (case-sensitive).
    pub table: String,
    /// Schema; when given, `table` is taken literally.
    pub schema: Option<String>,
}

/// Columns of a relation: name, type, nullable, default, generated, identity, comment.
pub(super) async fn table_columns(ctx: &Ctx, oid: i64) -> ToolResult<Vec<Value>> {
    read_rows(
        ctx,
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                NOT a.attnotnull AS nullable,
                CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default,
                CASE WHEN a.attgenerated = 's' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated,
                CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
                col_description(a.attrelid, a.attnum) AS comment
           FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
        &[json!(oid)],
    )
    .await
}

pub(super) async fn get_columns(ctx: Ctx, a: TableArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let oid = resolve_relation(&ctx, &q, "table").await?;
    Ok(json!({ "columns": table_columns(&ctx, oid).await? }))
}

pub(super) async fn describe_table(ctx: Ctx, a: TableArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let oid = resolve_relation(&ctx, &q, "table").await?;
    let oid_param = [json!(oid)];
    let info = read_rows(
        &ctx,
        "SELECT n.nspname AS schema, c.relname AS name,
                CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                     WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END AS kind,
                CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS \"rowEstimate\",
                pg_total_relation_size(c.oid) AS \"sizeBytes\",
                pg_size_pretty(pg_total_relation_size(c.oid)) AS size,
                obj_description(c.oid, 'pg_class') AS comment
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
        &oid_param,
    )
    .await?;
    let columns = table_columns(&ctx, oid).await?;
    let constraints = read_rows(
        &ctx,
        "SELECT con.conname AS name,
                CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key' WHEN 'u' THEN 'unique'
                     WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' ELSE con.contype::text END AS type,
                ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
                CASE WHEN con.contype = 'f' THEN con.confrelid::regclass::text END AS \"referencesTable\",
                CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) END AS \"referencesColumns\",
                pg_get_constraintdef(con.oid) AS definition
           FROM pg_constraint con WHERE con.conrelid = $1::oid ORDER BY con.contype, con.conname",
        &oid_param,
    )
    .await?;
    let indexes = read_rows(
        &ctx,
        "SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
                i.indisunique AS unique, i.indisprimary AS primary,
                NULLIF(NOT i.indisvalid, false) AS invalid,
                pg_size_pretty(pg_relation_size(i.indexrelid)) AS size
           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          WHERE i.indrelid = $1::oid ORDER BY ic.relname",
        &oid_param,
    )
    .await?;

    let mut out = match info.into_iter().next() {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    out.insert("columns".into(), Value::Array(columns));
    let mut primary_key = Value::Null;
    let mut foreign_keys = Vec::new();
    let mut others = Vec::new();
    for c in constraints {
        match c.get("type").and_then(Value::as_str) {
            Some("primary key") => primary_key = c.get("columns").cloned().unwrap_or(Value::Null),
            Some("foreign key") => foreign_keys.push(c),
            _ => others.push(c),
        }
    }
    if !primary_key.is_null() {
        out.insert("primaryKey".into(), primary_key);
    }
    if !foreign_keys.is_empty() {
        out.insert("foreignKeys".into(), Value::Array(foreign_keys));
    }
    if !others.is_empty() {
        out.insert("constraints".into(), Value::Array(others));
    }
    if !indexes.is_empty() {
        out.insert("indexes".into(), Value::Array(indexes));
    }
    Ok(Value::Object(out))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ColumnDef {
    /// Column name (used exactly as given).
    pub name: String,
    /// SQL type, e.g. `integer`, `text`, `varchar(50)`, `numeric(10,2)`, `timestamptz`, `jsonb`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Allow NULL (default true).
    pub nullable: Option<bool>,
    /// Default value as a SQL expression, e.g. `now()` or `0` or `'pending'`.
    pub default: Option<String>,
    /// Make this column the primary key.
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub unique: bool,
    /// Foreign key target as `table` or `table(column)` or `schema.table(column)`.
    pub references: Option<String>,
    /// ON DELETE action for `references`.
    pub on_delete: Option<FkAction>,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    Cascade,
    Restrict,
    SetNull,
    SetDefault,
    NoAction,
}

impl FkAction {
    fn sql(self) -> &'static str {
        match self {
            FkAction::Cascade => "CASCADE",
            FkAction::Restrict => "RESTRICT",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
            FkAction::NoAction => "NO ACTION",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateTableArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    pub columns: Vec<ColumnDef>,
    /// Composite primary key (instead of `primaryKey` on one column).
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub if_not_exists: bool,
    /// Table comment.
    pub comment: Option<String>,
}

#[allow(clippy::result_large_err)] // ToolError is large crate-wide; see error.rs
fn parse_reference(r: &str) -> ToolResult<String> {
    let (table, column) = match r.trim().strip_suffix(')').and_then(|s| s.split_once('(')) {
        Some((t, c)) => (t.trim(), Some(c.trim())),
        None => (r.trim(), None),
    };
    let q = parse_qualified(table, None)?;
    Ok(match column {
        Some(c) => format!("{}({})", q.quoted(), quote_ident(c)),
        None => q.quoted(),
    })
}

/// Reject expressions that would end the statement; the extended protocol refuses

pub(super) async fn create_table(ctx: Ctx, a: CreateTableArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.columns.is_empty() {
        return Err(ToolError::invalid(
            "columns is empty; a table needs at least one column",
        ));
    }
    let mut defs = Vec::new();
    for c in &a.columns {
        check_type_name(&c.ty)?;
        let mut d = format!("{} {}", quote_ident(&c.name), c.ty.trim());
        if c.nullable == Some(false) {
            d.push_str(" NOT NULL");
        }
        if let Some(def) = &c.default {
            check_expression("default", def)?;
            d.push_str(&format!(" DEFAULT {def}"));
        }
        if c.primary_key {
            d.push_str(" PRIMARY KEY");
        }
        if c.unique {
            d.push_str(" UNIQUE");
        }
        if let Some(r) = &c.references {
            d.push_str(&format!(" REFERENCES {}", parse_reference(r)?));
            if let Some(action) = c.on_delete {
                d.push_str(&format!(" ON DELETE {}", action.sql()));
            }
        }
        defs.push(d);
    }
    if !a.primary_key.is_empty() {
        let cols: Vec<String> = a.primary_key.iter().map(|c| quote_ident(c)).collect();
        defs.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    let sql = format!(
        "CREATE TABLE {}{} ({})",
        if a.if_not_exists {
            "IF NOT EXISTS "
        } else {
            ""
        },
        q.quoted(),
        defs.join(", ")
    );
    execute_ddl(&ctx, &sql).await?;
    if let Some(comment) = &a.comment {
        execute_ddl(
            &ctx,
            &format!(
                "COMMENT ON TABLE {} IS {}",
                q.quoted(),
                quote_literal(comment)
            ),
        )
        .await?;
    }
    Ok(json!({ "created": q.to_string(), "sql": sql }))
}

/// A SQL string literal; only for COMMENT, which cannot take a bind parameter.
fn quote_literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropArgs {
    /// Name, optionally `schema.name`.
    pub table: String,
    pub schema: Option<String>,
    #[serde(default)]
    pub if_exists: bool,
    /// Also drop objects that depend on it.
    #[serde(default)]
    pub cascade: bool,
}

pub(super) async fn drop_table(ctx: Ctx, a: DropArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let sql = format!(
        "DROP TABLE {}{}{}",
        if a.if_exists { "IF EXISTS " } else { "" },
        q.quoted(),
        if a.cascade { " CASCADE" } else { "" }
    );
    execute_ddl(&ctx, &sql).await?;
    Ok(json!({ "dropped": q.to_string() }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TruncateArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Also truncate tables that reference this one.
    #[serde(default)]
    pub cascade: bool,
    /// Reset sequences owned by the table's columns.
    #[serde(default)]
    pub restart_identity: bool,
}

pub(super) async fn truncate(ctx: Ctx, a: TruncateArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let sql = format!(
        "TRUNCATE TABLE {}{}{}",
        q.quoted(),
        if a.restart_identity {
            " RESTART IDENTITY"
        } else {
            ""
        },
        if a.cascade { " CASCADE" } else { "" }
    );
    execute_ddl(&ctx, &sql).await?;
    Ok(json!({ "truncated": q.to_string() }))
}
