//! Core tools: queries, tables, indexes, objects, extensions and row helpers.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::exec::{Mode, execute, execute_ddl, read_rows};
use super::{Ctx, DESTRUCTIVE, READ, Tool, WRITE, tool};
use crate::db::ident::{QualifiedName, check_type_name, parse_qualified, quote_ident};
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "core";

/// Catalog filter hiding PostgreSQL's own schemas; `$n` must be the includeSystem flag.
pub(crate) fn user_schema_filter(nsp: &str, flag: usize) -> String {
    format!(
        "(${flag}::bool OR ({nsp} NOT IN ('pg_catalog', 'information_schema') \
         AND {nsp} NOT LIKE 'pg\\_toast%' AND {nsp} NOT LIKE 'pg\\_temp\\_%'))"
    )
}

fn default_limit() -> u32 {
    100
}

/// `{items, total, nextOffset?}` for paged listings; rows carry `_total` from a window count.
pub(crate) fn paged(key: &str, mut rows: Vec<Value>, offset: u32) -> Value {
    let total = rows
        .first()
        .and_then(|r| r.get("_total"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    for r in &mut rows {
        if let Value::Object(m) = r {
            m.remove("_total");
        }
    }
    let mut out = Map::new();
    let n = rows.len() as u64;
    out.insert(key.into(), Value::Array(rows));
    // The total rides on the rows, so a page past the end cannot know it.
    if n > 0 || offset == 0 {
        out.insert("total".into(), total.into());
    }
    if u64::from(offset) + n < total {
        out.insert("nextOffset".into(), (u64::from(offset) + n).into());
    }
    Value::Object(out)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QueryArgs {
    /// The SQL statement (one statement; use $1, $2… placeholders for values).
    #[serde(alias = "query")]
    pub sql: String,
    /// Values for the $n placeholders, in order. Bound by PostgreSQL, never spliced into SQL.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Run inside this open transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

async fn read_query(ctx: Ctx, a: QueryArgs) -> ToolResult<Value> {
    let out = execute(
        &ctx,
        &a.sql,
        &a.params,
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    Ok(out.into_json())
}

async fn write_query(ctx: Ctx, a: QueryArgs) -> ToolResult<Value> {
    let out = execute(
        &ctx,
        &a.sql,
        &a.params,
        a.transaction_id.as_deref(),
        Mode::Write,
    )
    .await?;
    let affected = out.affected;
    let has_rows = !out.rows.is_empty() || !out.columns.is_empty();
    let mut v = out.into_json();
    if let Value::Object(m) = &mut v {
        m.insert("rowsAffected".into(), affected.into());
        if !has_rows {
            m.remove("rows");
            m.remove("rowCount");
        }
    }
    Ok(v)
}

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

async fn list_tables(ctx: Ctx, a: ListTablesArgs) -> ToolResult<Value> {
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

/// Resolves a relation to its oid, or a NOT_FOUND error that says where to look.
pub(crate) async fn resolve_relation(ctx: &Ctx, q: &QualifiedName, what: &str) -> ToolResult<i64> {
    let rows = read_rows(
        ctx,
        "SELECT to_regclass($1)::oid::int8 AS oid",
        &[json!(q.quoted())],
    )
    .await?;
    rows.first()
        .and_then(|r| r.get("oid"))
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            ToolError::not_found(Code::NotFound, format!("{what} '{q}' does not exist")).suggest(
                "Names are case-sensitive; pg_list_tables / pg_list_objects show what exists.",
            )
        })
}

/// Columns of a relation: name, type, nullable, default, generated, identity, comment.
async fn table_columns(ctx: &Ctx, oid: i64) -> ToolResult<Vec<Value>> {
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

async fn get_columns(ctx: Ctx, a: TableArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let oid = resolve_relation(&ctx, &q, "table").await?;
    Ok(json!({ "columns": table_columns(&ctx, oid).await? }))
}

async fn describe_table(ctx: Ctx, a: TableArgs) -> ToolResult<Value> {
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
/// several statements anyway, this just gives a clearer error earlier.
#[allow(clippy::result_large_err)]
fn check_expression(what: &str, e: &str) -> ToolResult<()> {
    if e.contains(';') || e.contains("--") || e.contains("/*") {
        return Err(ToolError::invalid(format!(
            "{what} '{e}' may not contain ';' or comments"
        )));
    }
    Ok(())
}

async fn create_table(ctx: Ctx, a: CreateTableArgs) -> ToolResult<Value> {
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

async fn drop_table(ctx: Ctx, a: DropArgs) -> ToolResult<Value> {
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
pub struct GetIndexesArgs {
    /// Only indexes of this table (`schema.table` allowed).
    pub table: Option<String>,
    pub schema: Option<String>,
    #[serde(default)]
    pub include_system: bool,
}

async fn get_indexes(ctx: Ctx, a: GetIndexesArgs) -> ToolResult<Value> {
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

async fn create_index(ctx: Ctx, a: CreateIndexArgs) -> ToolResult<Value> {
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

async fn drop_index(ctx: Ctx, a: DropIndexArgs) -> ToolResult<Value> {
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

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Table,
    View,
    MaterializedView,
    Sequence,
    Index,
    ForeignTable,
    Function,
    Procedure,
    Type,
}

impl ObjectKind {
    fn label(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::MaterializedView => "materialized_view",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Index => "index",
            ObjectKind::ForeignTable => "foreign_table",
            ObjectKind::Function => "function",
            ObjectKind::Procedure => "procedure",
            ObjectKind::Type => "type",
        }
    }
}

/// One row per object of every kind, with the kinds labelled as in `ObjectKind`.
const OBJECTS_SQL: &str = "
    SELECT n.nspname AS schema, c.relname AS name,
           CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                WHEN 'm' THEN 'materialized_view' WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index'
                WHEN 'I' THEN 'index' WHEN 'f' THEN 'foreign_table' END AS type,
           NULL::text AS arguments
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'i', 'I', 'f')
    UNION ALL
    SELECT n.nspname, p.proname, CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           pg_get_function_identity_arguments(p.oid)
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prokind IN ('f', 'p', 'w')
    UNION ALL
    SELECT n.nspname, t.typname, 'type', NULL
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typtype IN ('e', 'd', 'r', 'm')
        OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'c'))";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListObjectsArgs {
    pub schema: Option<String>,
    /// Only these kinds.
    #[serde(default)]
    pub types: Vec<ObjectKind>,
    /// Case-insensitive LIKE pattern on the name.
    pub pattern: Option<String>,
    #[serde(default)]
    pub include_system: bool,
    #[serde(default = "default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

async fn list_objects(ctx: Ctx, a: ListObjectsArgs) -> ToolResult<Value> {
    let types: Vec<&str> = a.types.iter().map(|t| t.label()).collect();
    let sql = format!(
        "SELECT o.*, count(*) OVER () AS _total FROM ({OBJECTS_SQL}) o
          WHERE ($1::text IS NULL OR o.schema = $1)
            AND (cardinality($2::text[]) = 0 OR o.type = ANY($2::text[]))
            AND ($3::text IS NULL OR o.name ILIKE $3)
            AND {}
          ORDER BY o.schema, o.type, o.name LIMIT $5 OFFSET $6",
        user_schema_filter("o.schema", 4)
    );
    let rows = read_rows(
        &ctx,
        &sql,
        &[
            json!(a.schema),
            json!(types),
            json!(a.pattern),
            json!(a.include_system || a.schema.is_some()),
            json!(a.limit),
            json!(a.offset),
        ],
    )
    .await?;
    Ok(paged("objects", rows, a.offset))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectDetailsArgs {
    /// Object name, optionally `schema.name`.
    pub name: String,
    pub schema: Option<String>,
    /// Kind of object, when the name is ambiguous.
    #[serde(rename = "type")]
    pub kind: Option<ObjectKind>,
}

async fn object_details(ctx: Ctx, a: ObjectDetailsArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let schema = q.schema.clone();
    let wants = |k: ObjectKind| a.kind.is_none() || a.kind == Some(k);
    let is_relation_kind = a.kind.is_none_or(|k| {
        !matches!(
            k,
            ObjectKind::Function | ObjectKind::Procedure | ObjectKind::Type
        )
    });
    if is_relation_kind {
        let rel = read_rows(
            &ctx,
            "SELECT c.oid::int8 AS oid, c.relkind::text AS relkind FROM pg_class c WHERE c.oid = to_regclass($1)",
            &[json!(q.quoted())],
        )
        .await?;
        // A composite type has a pg_class row too (relkind 'c'); it is described as a type below.
        if let Some(r) = rel
            .first()
            .filter(|r| r.get("relkind").and_then(Value::as_str) != Some("c"))
        {
            let oid = r.get("oid").cloned().unwrap_or(Value::Null);
            let relkind = r.get("relkind").and_then(Value::as_str).unwrap_or("");
            return match relkind {
                "r" | "p" | "f" => {
                    let mut v = describe_table(
                        ctx,
                        TableArgs {
                            table: a.name.clone(),
                            schema: a.schema.clone(),
                        },
                    )
                    .await?;
                    v["type"] = "table".into();
                    Ok(v)
                }
                "v" | "m" => {
                    let rows = read_rows(
                        &ctx,
                        "SELECT n.nspname AS schema, c.relname AS name,
                                CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized_view' END AS type,
                                pg_get_viewdef(c.oid, true) AS definition,
                                (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                                   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
                                obj_description(c.oid, 'pg_class') AS comment
                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
                        &[oid],
                    )
                    .await?;
                    Ok(rows.into_iter().next().unwrap_or(Value::Null))
                }
                "S" => {
                    let rows = read_rows(
                        &ctx,
                        "SELECT s.schemaname AS schema, s.sequencename AS name, 'sequence' AS type,
                                format_type(s.data_type, NULL) AS \"dataType\", s.start_value AS start,
                                s.increment_by AS increment, s.min_value AS \"minValue\", s.max_value AS \"maxValue\",
                                s.cycle, s.last_value AS \"lastValue\"
                           FROM pg_sequences s
                           JOIN pg_class c ON c.relname = s.sequencename
                           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
                          WHERE c.oid = $1::oid",
                        &[oid],
                    )
                    .await?;
                    Ok(rows.into_iter().next().unwrap_or(Value::Null))
                }
                "i" | "I" => {
                    let rows = read_rows(
                        &ctx,
                        "SELECT n.nspname AS schema, ic.relname AS name, 'index' AS type,
                                i.indrelid::regclass::text AS table, pg_get_indexdef(i.indexrelid) AS definition,
                                i.indisunique AS unique, i.indisprimary AS primary,
                                pg_size_pretty(pg_relation_size(i.indexrelid)) AS size
                           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                           JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE i.indexrelid = $1::oid",
                        &[oid],
                    )
                    .await?;
                    Ok(rows.into_iter().next().unwrap_or(Value::Null))
                }
                _ => Ok(json!({ "name": q.to_string(), "relkind": relkind })),
            };
        }
    }
    if wants(ObjectKind::Function) || wants(ObjectKind::Procedure) {
        let rows = read_rows(
            &ctx,
            "SELECT n.nspname AS schema, p.proname AS name,
                    CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window' ELSE 'function' END AS type,
                    pg_get_function_arguments(p.oid) AS arguments,
                    pg_get_function_result(p.oid) AS returns, l.lanname AS language,
                    CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END AS volatility,
                    CASE WHEN l.lanname IN ('sql', 'plpgsql') THEN pg_get_functiondef(p.oid) END AS definition,
                    obj_description(p.oid, 'pg_proc') AS comment
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
              WHERE p.proname = $1 AND ($2::text IS NULL OR n.nspname = $2)
                AND ($2::text IS NOT NULL OR pg_function_is_visible(p.oid))
              ORDER BY 1, 2, 4",
            &[json!(q.name), json!(schema)],
        )
        .await?;
        if rows.len() == 1 {
            return Ok(rows.into_iter().next().unwrap_or(Value::Null));
        }
        if !rows.is_empty() {
            return Ok(json!({ "name": q.to_string(), "type": "function", "overloads": rows }));
        }
    }
    if wants(ObjectKind::Type) {
        let rows = read_rows(
            &ctx,
            "SELECT n.nspname AS schema, t.typname AS name, 'type' AS type,
                    CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'c' THEN 'composite'
                         WHEN 'r' THEN 'range' WHEN 'b' THEN 'base' ELSE t.typtype::text END AS kind,
                    CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)::text[] END AS labels,
                    CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS \"baseType\",
                    CASE WHEN t.typtype = 'c' THEN (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                         FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS attributes,
                    obj_description(t.oid, 'pg_type') AS comment
               FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
              WHERE t.typname = $1 AND ($2::text IS NULL OR n.nspname = $2)
                AND ($2::text IS NOT NULL OR pg_type_is_visible(t.oid))
              LIMIT 1",
            &[json!(q.name), json!(schema)],
        )
        .await?;
        if let Some(r) = rows.into_iter().next() {
            return Ok(r);
        }
    }
    Err(
        ToolError::not_found(Code::NotFound, format!("no object named '{q}'"))
            .suggest("Names are case-sensitive; pg_list_objects shows what exists."),
    )
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListExtensionsArgs {
    /// List every extension available for installation instead of the installed ones.
    #[serde(default)]
    pub available: bool,
}

async fn list_extensions(ctx: Ctx, a: ListExtensionsArgs) -> ToolResult<Value> {
    let sql = if a.available {
        "SELECT name, default_version AS \"defaultVersion\", installed_version AS \"installedVersion\", comment
           FROM pg_available_extensions ORDER BY name"
    } else {
        "SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema, x.comment
           FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
           LEFT JOIN pg_available_extensions x ON x.name = e.extname ORDER BY e.extname"
    };
    Ok(json!({ "extensions": read_rows(&ctx, sql, &[]).await? }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CountArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Optional SQL condition, e.g. `status = $1`.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// Values for $n placeholders in `where`.
    #[serde(default)]
    pub params: Vec<Value>,
}

#[allow(clippy::result_large_err)]
fn where_clause(condition: &Option<String>) -> ToolResult<String> {
    match condition
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) => {
            check_expression("where", c)?;
            Ok(format!(" WHERE {c}"))
        }
        None => Ok(String::new()),
    }
}

async fn count(ctx: Ctx, a: CountArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let sql = format!(
        "SELECT count(*) AS count FROM {}{}",
        q.quoted(),
        where_clause(&a.condition)?
    );
    let rows = read_rows(&ctx, &sql, &a.params).await?;
    let n = rows
        .first()
        .and_then(|r| r.get("count"))
        .cloned()
        .unwrap_or(0.into());
    Ok(json!({ "count": n }))
}

async fn exists(ctx: Ctx, a: CountArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {}{}) AS exists",
        q.quoted(),
        where_clause(&a.condition)?
    );
    let rows = read_rows(&ctx, &sql, &a.params).await?;
    let b = rows
        .first()
        .and_then(|r| r.get("exists"))
        .cloned()
        .unwrap_or(false.into());
    Ok(json!({ "exists": b }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpsertArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Column → value for the row.
    pub data: Map<String, Value>,
    /// Columns of the unique constraint or primary key that detects the conflict.
    pub conflict_columns: Vec<String>,
    /// Columns to overwrite on conflict (default: every column of `data` not in conflictColumns).
    pub update_columns: Option<Vec<String>>,
    /// Return the resulting row (default true).
    pub returning: Option<bool>,
}

async fn upsert(ctx: Ctx, a: UpsertArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.data.is_empty() {
        return Err(ToolError::invalid(
            "data is empty; give at least one column",
        ));
    }
    if a.conflict_columns.is_empty() {
        return Err(ToolError::invalid("conflictColumns is empty").suggest(
            "Name the primary key or unique columns that identify the row, e.g. [\"id\"].",
        ));
    }
    let cols: Vec<&String> = a.data.keys().collect();
    let params: Vec<Value> = a.data.values().cloned().collect();
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let update: Vec<String> = a.update_columns.clone().unwrap_or_else(|| {
        cols.iter()
            .filter(|c| !a.conflict_columns.contains(c))
            .map(|c| c.to_string())
            .collect()
    });
    let action = if update.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!(
            "DO UPDATE SET {}",
            update
                .iter()
                .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let returning = a.returning.unwrap_or(true);
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {action}{}",
        q.quoted(),
        cols.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        placeholders.join(", "),
        a.conflict_columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        if returning {
            " RETURNING *, (xmax = 0) AS _inserted"
        } else {
            ""
        }
    );
    let out = execute(&ctx, &sql, &params, None, Mode::Write).await?;
    let mut result = json!({ "rowsAffected": out.affected });
    if let Some(mut row) = out.rows.into_iter().next() {
        let inserted = row.remove("_inserted").unwrap_or(Value::Null);
        result["inserted"] = inserted;
        result["row"] = Value::Object(row);
    }
    Ok(result)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchInsertArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Rows as objects of column → value. Columns missing from a row get their default.
    pub rows: Vec<Map<String, Value>>,
    /// Return the inserted rows (capped like query results).
    #[serde(default)]
    pub returning: bool,
    /// Skip rows that violate a unique constraint instead of failing.
    #[serde(default)]
    pub on_conflict_do_nothing: bool,
}

/// PostgreSQL allows 65535 bind parameters per statement.
const MAX_PARAMS: usize = 65_535;

async fn batch_insert(ctx: Ctx, a: BatchInsertArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.rows.is_empty() {
        return Err(ToolError::invalid("rows is empty; nothing to insert"));
    }
    let mut columns: Vec<&String> = Vec::new();
    for r in &a.rows {
        for k in r.keys() {
            if !columns.contains(&k) {
                columns.push(k);
            }
        }
    }
    if columns.is_empty() {
        return Err(ToolError::invalid("every row is empty; give column values"));
    }
    let per_chunk = (MAX_PARAMS / columns.len()).clamp(1, 1000);
    let col_list = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let suffix = format!(
        "{}{}",
        if a.on_conflict_do_nothing {
            " ON CONFLICT DO NOTHING"
        } else {
            ""
        },
        if a.returning { " RETURNING *" } else { "" }
    );

    let mut statements = Vec::new();
    for (chunk_no, chunk) in a.rows.chunks(per_chunk).enumerate() {
        let mut params = Vec::with_capacity(chunk.len() * columns.len());
        let mut tuples = Vec::with_capacity(chunk.len());
        for row in chunk {
            let mut slots = Vec::with_capacity(columns.len());
            for c in &columns {
                match row.get(*c) {
                    Some(v) => {
                        params.push(v.clone());
                        slots.push(format!("${}", params.len()));
                    }
                    None => slots.push("DEFAULT".into()),
                }
            }
            tuples.push(format!("({})", slots.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {} ({col_list}) VALUES {}{suffix}",
            q.quoted(),
            tuples.join(", ")
        );
        let rows_label = format!(
            "rows {}–{}",
            chunk_no * per_chunk + 1,
            chunk_no * per_chunk + chunk.len()
        );
        statements.push((sql, params, rows_label));
    }
    let label = |rows_label: &str| {
        let rows_label = rows_label.to_string();
        move |mut e: ToolError| {
            e.error = format!("{} (in {rows_label})", e.error);
            e
        }
    };

    let caps = ctx.caps();
    let max_rows = caps.max_rows;
    let mut inserted = 0u64;
    let mut returned = Vec::new();
    let mut truncated = false;
    let mut collect = |out: crate::db::QueryOutput| {
        inserted += out.affected;
        truncated |= out.truncated.is_some();
        if returned.len() < max_rows {
            returned.extend(out.rows.into_iter().map(Value::Object));
        }
    };
    if ctx.transaction.is_some() {
        // Inside the caller's pinned transaction, which provides the atomicity.
        for (sql, params, rows_label) in &statements {
            let out = execute(&ctx, sql, params, None, Mode::Write)
                .await
                .map_err(label(rows_label))?;
            collect(out);
        }
    } else {
        // All chunks in one transaction: a failure in chunk 3 must not leave chunks 1–2 behind.
        let mut client = ctx.db().client().await?;
        let tx = client
            .build_transaction()
            .read_only(ctx.read_only)
            .start()
            .await
            .map_err(ToolError::from)?;
        for (sql, params, rows_label) in &statements {
            let out = crate::db::run_query(&*tx, sql, params, caps.clone())
                .await
                .map_err(label(rows_label))?;
            collect(out);
        }
        tx.commit().await.map_err(ToolError::from)?;
    }
    let mut result = json!({ "inserted": inserted });
    if a.returning {
        if returned.len() > caps.max_rows || truncated {
            returned.truncate(caps.max_rows);
            result["truncated"] = true.into();
        }
        result["rows"] = Value::Array(returned);
    }
    Ok(result)
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

async fn truncate(ctx: Ctx, a: TruncateArgs) -> ToolResult<Value> {
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

pub fn tools() -> Vec<Tool> {
    vec![
        tool(
            "pg_read_query",
            GROUP,
            "Run a read-only query",
            "Run one SELECT (or other read-only statement) and return its rows.\nRuns in a READ ONLY transaction that is rolled back, so it can never change data. Use $1, $2… placeholders with `params`. Results are capped (see `truncated`).",
            READ,
            read_query,
        )
        .returns("QueryResult"),
        tool(
            "pg_write_query",
            GROUP,
            "Run a statement that changes data",
            "Run one INSERT, UPDATE, DELETE, DDL or other statement and return rows affected (and rows, with RETURNING).\nUse $1, $2… placeholders with `params`. Pass `transactionId` to run inside an open transaction.",
            DESTRUCTIVE,
            write_query,
        )
        .returns("QueryResult & { rowsAffected: number }"),
        tool(
            "pg_list_tables",
            GROUP,
            "List tables",
            "List tables with schema, estimated rows, total size and comment.\nSystem schemas are hidden unless includeSystem; page with limit/offset.",
            READ,
            list_tables,
        )
        .returns("{ tables: { schema: string; name: string; kind?: string; rowEstimate?: number; size: string; comment?: string }[]; total?: number; nextOffset?: number }"),
        tool(
            "pg_describe_table",
            GROUP,
            "Describe a table",
            "Describe a table: columns (type, nullable, default), primary key, foreign keys, indexes, constraints, row estimate, size and comments.",
            READ,
            describe_table,
        )
        .returns("{ schema: string; name: string; kind: string; columns: Column[]; primaryKey?: string[]; foreignKeys?: any[]; indexes?: any[]; constraints?: any[]; rowEstimate?: number; sizeBytes: number; size: string; comment?: string }"),
        tool(
            "pg_get_columns",
            GROUP,
            "List a table's columns",
            "The columns of a table or view: name, type, nullable, default, generated, identity, comment.",
            READ,
            get_columns,
        )
        .returns("{ columns: Column[] }"),
        tool(
            "pg_create_table",
            GROUP,
            "Create a table",
            "Create a table from column definitions (name, type, nullable, default, primaryKey, unique, references).",
            WRITE,
            create_table,
        ),
        tool(
            "pg_drop_table",
            GROUP,
            "Drop a table",
            "Drop a table (optionally IF EXISTS, CASCADE). Its data is lost.",
            DESTRUCTIVE,
            drop_table,
        ),
        tool(
            "pg_get_indexes",
            GROUP,
            "List indexes",
            "List indexes with definition, method, uniqueness, size and scan count; for one table or all user tables.",
            READ,
            get_indexes,
        ),
        tool(
            "pg_create_index",
            GROUP,
            "Create an index",
            "Create an index on columns of a table (unique, partial, method, concurrently).",
            WRITE,
            create_index,
        ),
        tool(
            "pg_drop_index",
            GROUP,
            "Drop an index",
            "Drop an index (optionally IF EXISTS, CASCADE, CONCURRENTLY).",
            DESTRUCTIVE,
            drop_index,
        ),
        tool(
            "pg_list_objects",
            GROUP,
            "List database objects",
            "List tables, views, materialized views, sequences, indexes, functions, procedures and types, filtered by schema, kind and name pattern.",
            READ,
            list_objects,
        ),
        tool(
            "pg_object_details",
            GROUP,
            "Describe any object",
            "Details of a table, view, sequence, index, function (with definition) or type (enum labels, domain base, composite attributes).",
            READ,
            object_details,
        ),
        tool(
            "pg_list_extensions",
            GROUP,
            "List extensions",
            "List installed extensions with version and schema, or with available=true every extension the server can install.",
            READ,
            list_extensions,
        ),
        tool(
            "pg_count",
            GROUP,
            "Count rows",
            "Count the rows of a table, optionally matching a SQL condition with $n parameters.",
            READ,
            count,
        ),
        tool(
            "pg_exists",
            GROUP,
            "Check whether rows exist",
            "Whether any row of a table matches an optional SQL condition (stops at the first match).",
            READ,
            exists,
        ),
        tool(
            "pg_upsert",
            GROUP,
            "Insert or update a row",
            "Insert a row, or update it when it conflicts on conflictColumns (INSERT … ON CONFLICT). Returns the row and whether it was inserted.",
            DESTRUCTIVE,
            upsert,
        ),
        tool(
            "pg_batch_insert",
            GROUP,
            "Insert many rows",
            "Insert many rows (objects of column → value) atomically, chunked under PostgreSQL's parameter limit.",
            WRITE,
            batch_insert,
        ),
        tool(
            "pg_truncate",
            GROUP,
            "Empty a table",
            "Remove every row of a table (TRUNCATE), optionally restarting identities and cascading.",
            DESTRUCTIVE,
            truncate,
        ),
    ]
}
