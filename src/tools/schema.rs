//! Schema tools: schemas, views, sequences, functions, triggers, constraints.
//!
//! Listings read the catalogs through `read_rows` (READ ONLY, rolled back); DDL is built
//! from `quote_ident`-ed names and typed values only and runs through `execute_ddl`, so the
//! access mode is enforced in one place. A caller-provided name never reaches SQL text
//! unquoted; a caller-provided value never reaches it at all (it goes as a `$n` parameter),
//! except the integers of pg_create_sequence, which are typed `i64` and rendered as such.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::{Listing, PageInfo};
use super::core::{paged, resolve_relation, user_schema_filter};
use super::exec::{execute_ddl, read_rows};
use super::{Ctx, DESTRUCTIVE, READ, Spec, Tool, WRITE, tool};
use crate::db::ident::{QualifiedName, parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};

const GROUP: &str = "schema";

fn default_limit() -> u32 {
    100
}

fn default_true() -> bool {
    true
}

/// Quotes a name that is one identifier (a schema, a role), taken literally; the
/// error message when it cannot be one. (Plain `String` errors keep clippy's
/// `result_large_err` quiet for sync helpers; callers wrap them in `ToolError::invalid`.)
fn single_name(kind: &str, name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err(format!("{kind} name is empty"));
    }
    if name.contains('\0') {
        return Err(format!("{kind} name contains a NUL byte"));
    }
    if name.len() > 63 {
        return Err(format!(
            "{kind} name '{name}' is longer than PostgreSQL's 63-byte identifier limit"
        ));
    }
    Ok(quote_ident(name))
}

/// A DROP that failed because other objects depend on the target: say how to proceed.
fn dependents_hint(mut e: ToolError) -> ToolError {
    // PostgreSQL's hint says "Use DROP ... CASCADE"; translate it to this tool's argument.
    // Other hints (an identity sequence: "drop the column instead") are kept as they are.
    let mentions_cascade = e
        .suggestion
        .as_deref()
        .is_none_or(|s| s.contains("CASCADE"));
    if e.sqlstate.as_deref() == Some("2BP01") && mentions_cascade {
        e.suggestion = Some(
            "Other objects depend on it (see details.detail). Pass cascade: true to drop them too, or drop them first."
                .into(),
        );
    }
    e
}

fn if_exists(b: bool) -> &'static str {
    if b { "IF EXISTS " } else { "" }
}

fn if_not_exists(b: bool) -> &'static str {
    if b { "IF NOT EXISTS " } else { "" }
}

fn cascade(b: bool) -> &'static str {
    if b { " CASCADE" } else { "" }
}

// ---------------------------------------------------------------------------
// Schemas

const LIST_SCHEMAS: Spec = Spec {
    name: "pg_list_schemas",
    title: "List schemas",
    description: "List schemas with owner, number of tables and views, total size and comment.\nSystem schemas (pg_catalog, information_schema, pg_toast…, pg_temp…) are hidden unless includeSystem; filter by name with `pattern`; page with limit/offset.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListSchemasArgs {
    /// Case-insensitive LIKE pattern on the schema name, e.g. `%app%`.
    pub pattern: Option<String>,
    /// Include PostgreSQL's own schemas (pg_catalog, information_schema, pg_toast…, pg_temp…).
    #[serde(default)]
    pub include_system: bool,
    /// Maximum number of items to return (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Items to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct SchemaRow {
    pub name: String,
    pub owner: String,
    /// Tables (ordinary, partitioned and foreign; partitions not counted).
    pub tables: i64,
    /// Views and materialized views.
    pub views: i64,
    /// Total size of its tables and materialized views, e.g. `1234 kB`.
    pub size: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct SchemaList {
    pub schemas: Vec<SchemaRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn list_schemas(ctx: Ctx, a: ListSchemasArgs) -> ToolResult<SchemaList> {
    let page = Listing::new(
        "n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner,
         (SELECT count(*) FROM pg_class c
           WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition) AS tables,
         (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('v', 'm')) AS views,
         (SELECT pg_size_pretty(coalesce(sum(pg_total_relation_size(c.oid)), 0)) FROM pg_class c
           WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'm')) AS size,
         obj_description(n.oid, 'pg_namespace') AS comment",
        "pg_namespace n",
    )
    .pattern("n.nspname", a.pattern.as_deref())
    .hide_system_schemas("n.nspname", a.include_system)
    .order_by("n.nspname")
    .page(&ctx, a.limit, a.offset)
    .await?;
    Ok(SchemaList {
        schemas: page.items,
        page: page.info,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSchemaArgs {
    /// Schema name, used exactly as given (case-sensitive; spaces and quotes are fine).
    pub name: String,
    /// Do nothing (no error) when a schema of that name exists.
    #[serde(default)]
    pub if_not_exists: bool,
    /// Role that will own the schema (default: the connected role).
    pub authorization: Option<String>,
}

async fn create_schema(ctx: Ctx, a: CreateSchemaArgs) -> ToolResult<Value> {
    let name = single_name("schema", &a.name).map_err(ToolError::invalid)?;
    let mut sql = format!("CREATE SCHEMA {}{name}", if_not_exists(a.if_not_exists));
    if let Some(role) = &a.authorization {
        sql.push_str(&format!(
            " AUTHORIZATION {}",
            single_name("role", role).map_err(ToolError::invalid)?
        ));
    }
    execute_ddl(&ctx, &sql).await?;
    Ok(json!({ "created": a.name, "sql": sql }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropSchemaArgs {
    /// Schema name, used exactly as given.
    pub name: String,
    /// Do nothing (no error) when the schema does not exist.
    #[serde(default)]
    pub if_exists: bool,
    /// Also drop every object in the schema and everything that depends on them.
    #[serde(default)]
    pub cascade: bool,
}

async fn drop_schema(ctx: Ctx, a: DropSchemaArgs) -> ToolResult<Value> {
    let name = single_name("schema", &a.name).map_err(ToolError::invalid)?;
    let sql = format!(
        "DROP SCHEMA {}{name}{}",
        if_exists(a.if_exists),
        cascade(a.cascade)
    );
    execute_ddl(&ctx, &sql).await.map_err(dependents_hint)?;
    Ok(json!({ "dropped": a.name }))
}

// ---------------------------------------------------------------------------
// Views

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListViewsArgs {
    /// Only this schema (also lists system schemas when named explicitly).
    pub schema: Option<String>,
    /// Case-insensitive LIKE pattern on the view name, e.g. `%report%`.
    pub pattern: Option<String>,
    /// Include materialized views (default true).
    #[serde(default = "default_true")]
    pub include_materialized: bool,
    /// Include each view's full SQL definition (default false; pg_object_details shows one).
    #[serde(default)]
    pub include_definition: bool,
    /// Include PostgreSQL's own schemas (pg_catalog, information_schema).
    #[serde(default)]
    pub include_system: bool,
    /// Maximum number of items to return (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Items to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

async fn list_views(ctx: Ctx, a: ListViewsArgs) -> ToolResult<Value> {
    let sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name,
                CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized_view' END AS type,
                CASE WHEN c.relkind = 'm' AND NOT c.relispopulated THEN false END AS populated,
                CASE WHEN c.relkind = 'm' THEN pg_size_pretty(pg_total_relation_size(c.oid)) END AS size,
                CASE WHEN $4::bool THEN pg_get_viewdef(c.oid, true) END AS definition,
                obj_description(c.oid, 'pg_class') AS comment,
                count(*) OVER () AS _total
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('v', 'm')
            AND ($3::bool OR c.relkind = 'v')
            AND ($1::text IS NULL OR n.nspname = $1)
            AND ($2::text IS NULL OR c.relname ILIKE $2)
            AND ($1::text IS NOT NULL OR {})
            AND NOT pg_is_other_temp_schema(n.oid)
          ORDER BY 1, 2 LIMIT $6 OFFSET $7",
        user_schema_filter("n.nspname", 5)
    );
    let rows = read_rows(
        &ctx,
        &sql,
        &[
            json!(a.schema),
            json!(a.pattern),
            json!(a.include_materialized),
            json!(a.include_definition),
            json!(a.include_system),
            json!(a.limit),
            json!(a.offset),
        ],
    )
    .await?;
    Ok(paged("views", rows, a.offset))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateViewArgs {
    /// View name, optionally `schema.name` (quote parts containing dots: `"my.schema".v`).
    pub name: String,
    /// Schema; when given, `name` is taken literally.
    pub schema: Option<String>,
    /// The query the view shows: one SELECT (or WITH … SELECT, VALUES, TABLE).
    #[serde(alias = "query")]
    pub sql: String,
    /// CREATE OR REPLACE: redefine an existing view (its columns may only be added to).
    /// Not available for materialized views.
    #[serde(default)]
    pub or_replace: bool,
    /// Create a materialized view (stores the result; refresh it to update).
    #[serde(default)]
    pub materialized: bool,
    /// Materialized views only: fill it now (default true) or leave it unpopulated
    /// (WITH NO DATA) until the first REFRESH.
    pub with_data: Option<bool>,
}

/// The view's query, without trailing semicolons; `None` when nothing is left.
fn view_query(sql: &str) -> Option<&str> {
    let q = sql
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    (!q.is_empty()).then_some(q)
}

async fn relation_columns(ctx: &Ctx, q: &QualifiedName) -> ToolResult<Vec<Value>> {
    read_rows(
        ctx,
        "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
           FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
        &[json!(q.quoted())],
    )
    .await
}

async fn create_view(ctx: Ctx, a: CreateViewArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let query = view_query(&a.sql)
        .ok_or_else(|| ToolError::invalid("sql is empty; give the SELECT the view should show"))?;
    if a.materialized && a.or_replace {
        return Err(
            ToolError::invalid("orReplace is not available for materialized views").suggest(
                "Drop the materialized view with pg_drop_view first, then create it again.",
            ),
        );
    }
    if a.with_data.is_some() && !a.materialized {
        return Err(
            ToolError::invalid("withData applies to materialized views only")
                .suggest("Pass materialized: true, or leave withData out."),
        );
    }
    let mut sql = format!(
        "CREATE {}{}VIEW {} AS {query}",
        if a.or_replace { "OR REPLACE " } else { "" },
        if a.materialized { "MATERIALIZED " } else { "" },
        q.quoted()
    );
    if a.materialized {
        // On its own line, so a trailing `--` comment in the query cannot swallow it.
        sql.push_str(if a.with_data.unwrap_or(true) {
            "\nWITH DATA"
        } else {
            "\nWITH NO DATA"
        });
    }
    execute_ddl(&ctx, &sql).await?;
    let columns = relation_columns(&ctx, &q).await?;
    let mut out = json!({
        "created": q.to_string(),
        "type": if a.materialized { "materialized_view" } else { "view" },
        "columns": columns,
    });
    if a.materialized && a.with_data == Some(false) {
        out["populated"] = false.into();
    }
    Ok(out)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropViewArgs {
    /// View name, optionally `schema.name`.
    pub name: String,
    /// Schema; when given, `name` is taken literally.
    pub schema: Option<String>,
    /// Do nothing (no error) when it does not exist.
    #[serde(default)]
    pub if_exists: bool,
    /// Also drop objects that depend on the view.
    #[serde(default)]
    pub cascade: bool,
    /// Drop a materialized view. When omitted, the kind is looked up.
    pub materialized: Option<bool>,
}

async fn drop_view(ctx: Ctx, a: DropViewArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let materialized = match a.materialized {
        Some(m) => m,
        None => {
            let rows = read_rows(
                &ctx,
                "SELECT c.relkind::text AS relkind FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[json!(q.quoted())],
            )
            .await?;
            rows.first()
                .and_then(|r| r.get("relkind"))
                .and_then(Value::as_str)
                == Some("m")
        }
    };
    let sql = format!(
        "DROP {}VIEW {}{}{}",
        if materialized { "MATERIALIZED " } else { "" },
        if_exists(a.if_exists),
        q.quoted(),
        cascade(a.cascade)
    );
    execute_ddl(&ctx, &sql).await.map_err(dependents_hint)?;
    Ok(json!({
        "dropped": q.to_string(),
        "type": if materialized { "materialized_view" } else { "view" },
    }))
}

// ---------------------------------------------------------------------------
// Sequences

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListSequencesArgs {
    /// Only this schema (also lists system schemas when named explicitly).
    pub schema: Option<String>,
    /// Case-insensitive LIKE pattern on the sequence name.
    pub pattern: Option<String>,
    /// Include PostgreSQL's own schemas.
    #[serde(default)]
    pub include_system: bool,
    /// Maximum number of items to return (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Items to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

async fn list_sequences(ctx: Ctx, a: ListSequencesArgs) -> ToolResult<Value> {
    let sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS \"dataType\",
                s.seqstart AS start, s.seqincrement AS increment,
                s.seqmin AS \"minValue\", s.seqmax AS \"maxValue\",
                NULLIF(s.seqcache, 1) AS cache, s.seqcycle AS cycle,
                CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
                     THEN pg_sequence_last_value(c.oid) END AS \"lastValue\",
                o.owned AS \"ownedBy\",
                NULLIF(o.identity, false) AS identity,
                obj_description(c.oid, 'pg_class') AS comment,
                count(*) OVER () AS _total
           FROM pg_sequence s
           JOIN pg_class c ON c.oid = s.seqrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN LATERAL (
                SELECT format('%I.%I.%I', tn.nspname, t.relname, ta.attname) AS owned,
                       d.deptype = 'i' AS identity
                  FROM pg_depend d
                  JOIN pg_class t ON t.oid = d.refobjid
                  JOIN pg_namespace tn ON tn.oid = t.relnamespace
                  JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
                   AND d.deptype IN ('a', 'i')
                 LIMIT 1) o ON true
          WHERE ($1::text IS NULL OR n.nspname = $1)
            AND ($2::text IS NULL OR c.relname ILIKE $2)
            AND ($1::text IS NOT NULL OR {})
            AND NOT pg_is_other_temp_schema(n.oid)
          ORDER BY 1, 2 LIMIT $4 OFFSET $5",
        user_schema_filter("n.nspname", 3)
    );
    let rows = read_rows(
        &ctx,
        &sql,
        &[
            json!(a.schema),
            json!(a.pattern),
            json!(a.include_system),
            json!(a.limit),
            json!(a.offset),
        ],
    )
    .await?;
    Ok(paged("sequences", rows, a.offset))
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum SequenceType {
    #[serde(alias = "int2")]
    Smallint,
    #[serde(alias = "int", alias = "int4")]
    Integer,
    #[serde(alias = "int8")]
    Bigint,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSequenceArgs {
    /// Sequence name, optionally `schema.name`.
    pub name: String,
    /// Schema; when given, `name` is taken literally.
    pub schema: Option<String>,
    /// Integer type of the sequence (default bigint); bounds the default min/max.
    pub data_type: Option<SequenceType>,
    /// First value (default minValue for ascending, maxValue for descending sequences).
    pub start: Option<i64>,
    /// Step between values; negative for a descending sequence (default 1, never 0).
    pub increment: Option<i64>,
    /// Lowest value (default 1 ascending, the type's minimum descending).
    pub min_value: Option<i64>,
    /// Highest value (default the type's maximum ascending, -1 descending).
    pub max_value: Option<i64>,
    /// Values preallocated per session (default 1).
    pub cache: Option<i64>,
    /// Wrap around after reaching the limit instead of failing.
    #[serde(default)]
    pub cycle: bool,
    /// Do nothing (no error) when a relation of that name exists.
    #[serde(default)]
    pub if_not_exists: bool,
}

async fn create_sequence(ctx: Ctx, a: CreateSequenceArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    if a.increment == Some(0) {
        return Err(ToolError::invalid("increment must not be zero"));
    }
    if let (Some(min), Some(max)) = (a.min_value, a.max_value)
        && min >= max
    {
        return Err(ToolError::invalid(format!(
            "minValue ({min}) must be less than maxValue ({max})"
        )));
    }
    if let Some(c) = a.cache
        && c < 1
    {
        return Err(ToolError::invalid(format!(
            "cache ({c}) must be at least 1"
        )));
    }
    // Every value below is an i64 or a fixed keyword: nothing caller-provided but the
    // quoted name reaches the SQL text.
    let mut sql = format!(
        "CREATE SEQUENCE {}{}",
        if_not_exists(a.if_not_exists),
        q.quoted()
    );
    if let Some(t) = a.data_type {
        sql.push_str(match t {
            SequenceType::Smallint => " AS smallint",
            SequenceType::Integer => " AS integer",
            SequenceType::Bigint => " AS bigint",
        });
    }
    if let Some(n) = a.increment {
        sql.push_str(&format!(" INCREMENT BY {n}"));
    }
    if let Some(n) = a.min_value {
        sql.push_str(&format!(" MINVALUE {n}"));
    }
    if let Some(n) = a.max_value {
        sql.push_str(&format!(" MAXVALUE {n}"));
    }
    if let Some(n) = a.start {
        sql.push_str(&format!(" START WITH {n}"));
    }
    if let Some(n) = a.cache {
        sql.push_str(&format!(" CACHE {n}"));
    }
    if a.cycle {
        sql.push_str(" CYCLE");
    }
    execute_ddl(&ctx, &sql).await?;
    Ok(json!({ "created": q.to_string(), "sql": sql }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropSequenceArgs {
    /// Sequence name, optionally `schema.name`.
    pub name: String,
    /// Schema; when given, `name` is taken literally.
    pub schema: Option<String>,
    /// Do nothing (no error) when it does not exist.
    #[serde(default)]
    pub if_exists: bool,
    /// Also drop objects that depend on the sequence (e.g. column defaults using it).
    #[serde(default)]
    pub cascade: bool,
}

async fn drop_sequence(ctx: Ctx, a: DropSequenceArgs) -> ToolResult<Value> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let sql = format!(
        "DROP SEQUENCE {}{}{}",
        if_exists(a.if_exists),
        q.quoted(),
        cascade(a.cascade)
    );
    execute_ddl(&ctx, &sql).await.map_err(dependents_hint)?;
    Ok(json!({ "dropped": q.to_string() }))
}

// ---------------------------------------------------------------------------
// Functions

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Function,
    Procedure,
    Aggregate,
    Window,
}

impl FunctionKind {
    fn label(self) -> &'static str {
        match self {
            FunctionKind::Function => "function",
            FunctionKind::Procedure => "procedure",
            FunctionKind::Aggregate => "aggregate",
            FunctionKind::Window => "window",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListFunctionsArgs {
    /// Only this schema (also lists system schemas when named explicitly).
    pub schema: Option<String>,
    /// Case-insensitive LIKE pattern on the function name, e.g. `%order%`.
    pub pattern: Option<String>,
    /// Only this kind.
    pub kind: Option<FunctionKind>,
    /// Include functions installed by extensions (hidden by default: they are many).
    #[serde(default)]
    pub include_extensions: bool,
    /// Include PostgreSQL's own schemas (pg_catalog alone holds thousands of functions).
    #[serde(default)]
    pub include_system: bool,
    /// Maximum number of items to return (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Items to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

async fn list_functions(ctx: Ctx, a: ListFunctionsArgs) -> ToolResult<Value> {
    let sql = format!(
        "SELECT f.*, count(*) OVER () AS _total FROM (
             SELECT n.nspname AS schema, p.proname AS name,
                    CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate'
                         WHEN 'w' THEN 'window' ELSE 'function' END AS kind,
                    pg_get_function_arguments(p.oid) AS arguments,
                    pg_get_function_result(p.oid) AS returns,
                    l.lanname AS language,
                    CASE WHEN p.prokind <> 'p' THEN
                         CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END
                    END AS volatility,
                    NULLIF(p.prosecdef, false) AS \"securityDefiner\",
                    e.extname AS extension,
                    obj_description(p.oid, 'pg_proc') AS comment
               FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               JOIN pg_language l ON l.oid = p.prolang
               LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                    AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
               LEFT JOIN pg_extension e ON e.oid = d.refobjid
              WHERE ($1::text IS NULL OR n.nspname = $1)
                AND ($2::text IS NULL OR p.proname ILIKE $2)
                AND ($4::bool OR e.oid IS NULL)
                AND ($1::text IS NOT NULL OR {})
                AND NOT pg_is_other_temp_schema(n.oid)
         ) f
          WHERE ($3::text IS NULL OR f.kind = $3)
          ORDER BY f.schema, f.name, f.arguments LIMIT $6 OFFSET $7",
        user_schema_filter("n.nspname", 5)
    );
    let rows = read_rows(
        &ctx,
        &sql,
        &[
            json!(a.schema),
            json!(a.pattern),
            json!(a.kind.map(FunctionKind::label)),
            json!(a.include_extensions),
            json!(a.include_system),
            json!(a.limit),
            json!(a.offset),
        ],
    )
    .await?;
    Ok(paged("functions", rows, a.offset))
}

// ---------------------------------------------------------------------------
// Triggers

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListTriggersArgs {
    /// Only triggers of this table (or view), optionally `schema.table`.
    pub table: Option<String>,
    /// Schema: with `table`, where the table is; alone, only triggers of tables in it.
    pub schema: Option<String>,
    /// Maximum number of items to return (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Items to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

async fn list_triggers(ctx: Ctx, a: ListTriggersArgs) -> ToolResult<Value> {
    let oid = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            Some(resolve_relation(&ctx, &q, "table").await?)
        }
        None => None,
    };
    let rows = read_rows(
        &ctx,
        "SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name,
                CASE WHEN t.tgtype & 2 <> 0 THEN 'BEFORE' WHEN t.tgtype & 64 <> 0 THEN 'INSTEAD OF'
                     ELSE 'AFTER' END AS timing,
                array_remove(ARRAY[
                    CASE WHEN t.tgtype & 4 <> 0 THEN 'INSERT' END,
                    CASE WHEN t.tgtype & 16 <> 0 THEN 'UPDATE' END,
                    CASE WHEN t.tgtype & 8 <> 0 THEN 'DELETE' END,
                    CASE WHEN t.tgtype & 32 <> 0 THEN 'TRUNCATE' END], NULL)::text[] AS events,
                CASE WHEN t.tgtype & 1 <> 0 THEN 'ROW' ELSE 'STATEMENT' END AS level,
                format('%I.%I', pn.nspname, p.proname) AS function,
                t.tgenabled <> 'D' AS enabled,
                CASE t.tgenabled WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END AS \"firesOn\",
                NULLIF(t.tgconstraint <> 0, false) AS \"constraintTrigger\",
                pg_get_triggerdef(t.oid, true) AS definition,
                count(*) OVER () AS _total
           FROM pg_trigger t
           JOIN pg_class c ON c.oid = t.tgrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_proc p ON p.oid = t.tgfoid
           JOIN pg_namespace pn ON pn.oid = p.pronamespace
          WHERE NOT t.tgisinternal
            AND ($1::oid IS NULL OR t.tgrelid = $1::oid)
            AND ($1::oid IS NOT NULL OR $2::text IS NULL OR n.nspname = $2)
            AND NOT pg_is_other_temp_schema(n.oid)
          ORDER BY 1, 2, 3 LIMIT $3 OFFSET $4",
        &[json!(oid), json!(a.schema), json!(a.limit), json!(a.offset)],
    )
    .await?;
    Ok(paged("triggers", rows, a.offset))
}

// ---------------------------------------------------------------------------
// Constraints

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintType {
    PrimaryKey,
    ForeignKey,
    Unique,
    Check,
    Exclusion,
    /// NOT NULL columns (listed only when asked for by this type).
    NotNull,
}

impl ConstraintType {
    fn label(self) -> &'static str {
        match self {
            ConstraintType::PrimaryKey => "primary_key",
            ConstraintType::ForeignKey => "foreign_key",
            ConstraintType::Unique => "unique",
            ConstraintType::Check => "check",
            ConstraintType::Exclusion => "exclusion",
            ConstraintType::NotNull => "not_null",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListConstraintsArgs {
    /// Only constraints of this table, optionally `schema.table`.
    pub table: Option<String>,
    /// Schema: with `table`, where the table is; alone, only tables in it.
    pub schema: Option<String>,
    /// Only this kind of constraint. `not_null` lists NOT NULL columns, which are
    /// otherwise left out.
    #[serde(rename = "type")]
    pub kind: Option<ConstraintType>,
    /// Include PostgreSQL's own schemas.
    #[serde(default)]
    pub include_system: bool,
    /// Maximum number of items to return (default 100).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Items to skip: pass the previous page's `nextOffset`.
    #[serde(default)]
    pub offset: u32,
}

async fn list_constraints(ctx: Ctx, a: ListConstraintsArgs) -> ToolResult<Value> {
    let oid = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            Some(resolve_relation(&ctx, &q, "table").await?)
        }
        None => None,
    };
    let sql = format!(
        "SELECT x.schema, x.table, x.name, x.type, x.columns, x.definition,
                x.\"referencesTable\", x.\"referencesColumns\", x.deferrable, x.\"notValid\",
                count(*) OVER () AS _total
           FROM (
             SELECT n.nspname AS schema, c.relname AS table, con.conname::text AS name,
                    CASE con.contype WHEN 'p' THEN 'primary_key' WHEN 'f' THEN 'foreign_key'
                         WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check' ELSE 'exclusion' END AS type,
                    CASE WHEN con.conkey IS NOT NULL THEN
                         ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                                ORDER BY k.i) END AS columns,
                    pg_get_constraintdef(con.oid, true) AS definition,
                    CASE WHEN con.contype = 'f' THEN format('%I.%I', fn.nspname, fc.relname) END AS \"referencesTable\",
                    CASE WHEN con.contype = 'f' THEN
                         ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                                ORDER BY k.i) END AS \"referencesColumns\",
                    NULLIF(con.condeferrable, false) AS deferrable,
                    NULLIF(NOT con.convalidated, false) AS \"notValid\",
                    c.oid AS relid, n.oid AS nspoid
               FROM pg_constraint con
               JOIN pg_class c ON c.oid = con.conrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_class fc ON fc.oid = con.confrelid
               LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
              WHERE con.contype IN ('p', 'f', 'u', 'c', 'x')
             UNION ALL
             SELECT n.nspname, c.relname, NULL, 'not_null', ARRAY[a.attname::text], 'NOT NULL',
                    NULL, NULL, NULL, NULL, c.oid, n.oid
               FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE $3::text = 'not_null' AND a.attnotnull AND a.attnum > 0 AND NOT a.attisdropped
                AND c.relkind IN ('r', 'p', 'f')
           ) x
          WHERE ($1::oid IS NULL OR x.relid = $1::oid)
            AND ($1::oid IS NOT NULL OR $2::text IS NULL OR x.schema = $2)
            AND ($3::text IS NULL OR x.type = $3)
            AND ($1::oid IS NOT NULL OR $2::text IS NOT NULL OR {})
            AND NOT pg_is_other_temp_schema(x.nspoid)
          ORDER BY x.schema, x.table, x.type, x.name, x.columns LIMIT $5 OFFSET $6",
        user_schema_filter("x.schema", 4)
    );
    let rows = read_rows(
        &ctx,
        &sql,
        &[
            json!(oid),
            json!(a.schema),
            json!(a.kind.map(ConstraintType::label)),
            json!(a.include_system),
            json!(a.limit),
            json!(a.offset),
        ],
    )
    .await?;
    Ok(paged("constraints", rows, a.offset))
}

// ---------------------------------------------------------------------------

pub fn tools() -> Vec<Tool> {
    vec![
        LIST_SCHEMAS.tool(GROUP, list_schemas),
        tool(
            "pg_create_schema",
            GROUP,
            "Create a schema",
            "Create a schema (optionally IF NOT EXISTS, owned by another role via `authorization`).\nThe name is used exactly as given: case-sensitive, any characters.",
            WRITE,
            create_schema,
        ),
        tool(
            "pg_drop_schema",
            GROUP,
            "Drop a schema",
            "Drop a schema (optionally IF EXISTS). Fails if it is not empty unless cascade, which drops every object in it: their data is lost.",
            DESTRUCTIVE,
            drop_schema,
        ),
        tool(
            "pg_list_views",
            GROUP,
            "List views",
            "List views and materialized views with schema, type (view or materialized_view) and comment; materialized views also show size and populated:false when never refreshed.\nDefinitions only with includeDefinition (or see pg_object_details). System schemas hidden unless includeSystem; page with limit/offset.",
            READ,
            list_views,
        ),
        tool(
            "pg_create_view",
            GROUP,
            "Create a view",
            "Create a view, or a materialized view, from a SELECT query; returns the view's columns.\n`orReplace` redefines an existing view; `withData: false` leaves a materialized view empty until REFRESH.",
            DESTRUCTIVE,
            create_view,
        ),
        tool(
            "pg_drop_view",
            GROUP,
            "Drop a view",
            "Drop a view or materialized view (optionally IF EXISTS, CASCADE). Whether it is materialized is looked up unless `materialized` is given.",
            DESTRUCTIVE,
            drop_view,
        ),
        tool(
            "pg_list_sequences",
            GROUP,
            "List sequences",
            "List sequences with data type, start, increment, minValue, maxValue, cycle, lastValue and ownedBy (the schema.table.column a serial or identity column uses it for).\nSystem schemas hidden unless includeSystem; page with limit/offset.",
            READ,
            list_sequences,
        ),
        tool(
            "pg_create_sequence",
            GROUP,
            "Create a sequence",
            "Create a sequence with optional data type, start, increment, minValue, maxValue, cache and cycle.",
            WRITE,
            create_sequence,
        ),
        tool(
            "pg_drop_sequence",
            GROUP,
            "Drop a sequence",
            "Drop a sequence (optionally IF EXISTS, CASCADE). A serial column's sequence needs cascade (which drops the column default); an identity column's sequence goes only with its column.",
            DESTRUCTIVE,
            drop_sequence,
        ),
        tool(
            "pg_list_functions",
            GROUP,
            "List functions",
            "List functions, procedures, aggregates and window functions with schema, kind, arguments, return type, language and volatility.\nFilter by schema, name `pattern` and `kind`. Extension and system functions are hidden unless includeExtensions / includeSystem; page with limit/offset. pg_object_details shows a function's source.",
            READ,
            list_functions,
        ),
        tool(
            "pg_list_triggers",
            GROUP,
            "List triggers",
            "List user triggers with table, timing (BEFORE/AFTER/INSTEAD OF), events, level (ROW/STATEMENT), trigger function, enabled and the CREATE TRIGGER definition.\nFor one table, the tables of one schema, or all; internal triggers (those implementing foreign keys) are left out.",
            READ,
            list_triggers,
        ),
        tool(
            "pg_list_constraints",
            GROUP,
            "List constraints",
            "List table constraints: primary_key, foreign_key, unique, check and exclusion, with columns, definition and, for foreign keys, referencesTable and referencesColumns.\nFor one table, one schema or all user tables; filter by `type` (type not_null lists NOT NULL columns). Page with limit/offset.",
            READ,
            list_constraints,
        ),
    ]
}
