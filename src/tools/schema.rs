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

use super::catalog::{Int8, Listing, PageInfo, decode};
use super::core::resolve_relation;
use super::exec::{execute_ddl, read_rows};
use super::relsize;
use super::{Ctx, DESTRUCTIVE, READ, Spec, Tool, WRITE};
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
    /// Total size of its tables and materialized views, e.g. `1234 kB`; absent while one of
    /// them is locked (another session holds or waits for an ACCESS EXCLUSIVE lock on it, and
    /// reading its size would wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
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
        format!(
            "n.nspname AS name, pg_get_userbyid(n.nspowner) AS owner,
             (SELECT count(*) FROM pg_class c
               WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition) AS tables,
             (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('v', 'm')) AS views,
             (SELECT CASE WHEN count(*) = count(s.bytes) THEN pg_size_pretty(coalesce(sum(s.bytes), 0)) END
                FROM pg_class c CROSS JOIN LATERAL (SELECT {} AS bytes) s
               WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'm')) AS size,
             obj_description(n.oid, 'pg_namespace') AS comment",
            relsize::size("pg_total_relation_size", "c.oid")
        ),
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

const CREATE_SCHEMA: Spec = Spec {
    name: "pg_create_schema",
    title: "Create a schema",
    description: "Create a schema (optionally IF NOT EXISTS, owned by another role via `authorization`).\nThe name is used exactly as given: case-sensitive, any characters.",
    hints: WRITE,
    shortcuts: &[],
};

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

/// What a create tool made, and the DDL it ran.
#[derive(Serialize, JsonSchema)]
pub struct Created {
    /// The name of what was created (`schema.name` for objects in a schema).
    pub created: String,
    /// The statement that ran.
    pub sql: String,
}

async fn create_schema(ctx: Ctx, a: CreateSchemaArgs) -> ToolResult<Created> {
    let name = single_name("schema", &a.name).map_err(ToolError::invalid)?;
    let mut sql = format!("CREATE SCHEMA {}{name}", if_not_exists(a.if_not_exists));
    if let Some(role) = &a.authorization {
        sql.push_str(&format!(
            " AUTHORIZATION {}",
            single_name("role", role).map_err(ToolError::invalid)?
        ));
    }
    execute_ddl(&ctx, &sql).await?;
    Ok(Created {
        created: a.name,
        sql,
    })
}

const DROP_SCHEMA: Spec = Spec {
    name: "pg_drop_schema",
    title: "Drop a schema",
    description: "Drop a schema (optionally IF EXISTS). Fails if it is not empty unless cascade, which drops every object in it: their data is lost.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

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

/// What a drop tool dropped.
#[derive(Serialize, JsonSchema)]
pub struct Dropped {
    /// The name given (`schema.name` for objects in a schema); also when IF EXISTS found
    /// nothing to drop.
    pub dropped: String,
}

async fn drop_schema(ctx: Ctx, a: DropSchemaArgs) -> ToolResult<Dropped> {
    let name = single_name("schema", &a.name).map_err(ToolError::invalid)?;
    let sql = format!(
        "DROP SCHEMA {}{name}{}",
        if_exists(a.if_exists),
        cascade(a.cascade)
    );
    execute_ddl(&ctx, &sql).await.map_err(dependents_hint)?;
    Ok(Dropped { dropped: a.name })
}

// ---------------------------------------------------------------------------
// Views

const LIST_VIEWS: Spec = Spec {
    name: "pg_list_views",
    title: "List views",
    description: "List views and materialized views with schema, type (view or materialized_view) and comment; materialized views also show size and populated:false when never refreshed.\nDefinitions only with includeDefinition (or see pg_object_details). System schemas hidden unless includeSystem; page with limit/offset.",
    hints: READ,
    shortcuts: &[],
};

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

/// A view's kind.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ViewType {
    View,
    MaterializedView,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ViewRow {
    pub schema: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ViewType,
    /// `false` for a materialized view never refreshed (created WITH NO DATA); absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub populated: Option<bool>,
    /// Materialized views: total size, e.g. `48 kB` (absent while it is locked: another
    /// session holds or waits for an ACCESS EXCLUSIVE lock on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// The view's SELECT (with includeDefinition).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ViewList {
    pub views: Vec<ViewRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn list_views(ctx: Ctx, a: ListViewsArgs) -> ToolResult<ViewList> {
    let definition = if a.include_definition {
        "pg_get_viewdef(c.oid, true)"
    } else {
        "NULL::text"
    };
    let mut listing = Listing::new(
        format!(
            "n.nspname AS schema, c.relname AS name,
             CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized_view' END AS type,
             CASE WHEN c.relkind = 'm' AND NOT c.relispopulated THEN false END AS populated,
             CASE WHEN c.relkind = 'm' THEN pg_size_pretty({size}) END AS size,
             {definition} AS definition,
             obj_description(c.oid, 'pg_class') AS comment",
            size = relsize::size("pg_total_relation_size", "c.oid"),
        ),
        "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
    )
    .condition("c.relkind IN ('v', 'm')");
    if !a.include_materialized {
        listing = listing.condition("c.relkind = 'v'");
    }
    let page = listing
        .schema("n.nspname", a.schema.as_deref())
        .pattern("c.relname", a.pattern.as_deref())
        // A schema named explicitly is listed even when it is a system one.
        .hide_system_schemas("n.nspname", a.include_system || a.schema.is_some())
        .condition("NOT pg_is_other_temp_schema(n.oid)")
        .order_by("1, 2")
        .page(&ctx, a.limit, a.offset)
        .await?;
    Ok(ViewList {
        views: page.items,
        page: page.info,
    })
}

const CREATE_VIEW: Spec = Spec {
    name: "pg_create_view",
    title: "Create a view",
    description: "Create a view, or a materialized view, from a SELECT query; returns the view's columns.\n`orReplace` redefines an existing view; `withData: false` leaves a materialized view empty until REFRESH.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

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

/// A column of a relation.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct RelationColumn {
    pub name: String,
    /// Its type as SQL spells it, e.g. `numeric(10,2)`.
    #[serde(rename = "type")]
    pub data_type: String,
}

async fn relation_columns(ctx: &Ctx, q: &QualifiedName) -> ToolResult<Vec<RelationColumn>> {
    decode(
        read_rows(
            ctx,
            "SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
           FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
            &[json!(q.quoted())],
        )
        .await?,
    )
}

/// The view created, and its columns.
#[derive(Serialize, JsonSchema)]
pub struct CreatedView {
    /// `schema.name` of the view.
    pub created: String,
    #[serde(rename = "type")]
    pub kind: ViewType,
    pub columns: Vec<RelationColumn>,
    /// `false` for a materialized view created WITH NO DATA (withData: false): it cannot be
    /// read until refreshed. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub populated: Option<bool>,
}

fn view_type(materialized: bool) -> ViewType {
    if materialized {
        ViewType::MaterializedView
    } else {
        ViewType::View
    }
}

async fn create_view(ctx: Ctx, a: CreateViewArgs) -> ToolResult<CreatedView> {
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
    Ok(CreatedView {
        created: q.to_string(),
        kind: view_type(a.materialized),
        columns,
        populated: (a.materialized && a.with_data == Some(false)).then_some(false),
    })
}

const DROP_VIEW: Spec = Spec {
    name: "pg_drop_view",
    title: "Drop a view",
    description: "Drop a view or materialized view (optionally IF EXISTS, CASCADE). Whether it is materialized is looked up unless `materialized` is given.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

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

/// The view dropped.
#[derive(Serialize, JsonSchema)]
pub struct DroppedView {
    /// `schema.name` of the view.
    pub dropped: String,
    #[serde(rename = "type")]
    pub kind: ViewType,
}

async fn drop_view(ctx: Ctx, a: DropViewArgs) -> ToolResult<DroppedView> {
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
    Ok(DroppedView {
        dropped: q.to_string(),
        kind: view_type(materialized),
    })
}

// ---------------------------------------------------------------------------
// Sequences

const LIST_SEQUENCES: Spec = Spec {
    name: "pg_list_sequences",
    title: "List sequences",
    description: "List sequences with data type, start, increment, minValue, maxValue, cycle, lastValue and ownedBy (the schema.table.column a serial or identity column uses it for).\nSystem schemas hidden unless includeSystem; page with limit/offset.",
    hints: READ,
    shortcuts: &[],
};

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

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceRow {
    pub schema: String,
    pub name: String,
    /// `smallint`, `integer` or `bigint`.
    pub data_type: String,
    pub start: Int8,
    pub increment: Int8,
    pub min_value: Int8,
    pub max_value: Int8,
    /// Values preallocated per session; absent when 1 (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<Int8>,
    /// Wraps around after reaching its limit.
    pub cycle: bool,
    /// The last value handed out; absent before the first nextval, or without the
    /// privilege to read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_value: Option<Int8>,
    /// `schema.table.column` of the serial or identity column it serves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
    /// `true` when it is an identity column's sequence (dropped only with the column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct SequenceList {
    pub sequences: Vec<SequenceRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn list_sequences(ctx: Ctx, a: ListSequencesArgs) -> ToolResult<SequenceList> {
    let page = Listing::new(
        "n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS \"dataType\",
         s.seqstart AS start, s.seqincrement AS increment,
         s.seqmin AS \"minValue\", s.seqmax AS \"maxValue\",
         NULLIF(s.seqcache, 1) AS cache, s.seqcycle AS cycle,
         CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
              THEN pg_sequence_last_value(c.oid) END AS \"lastValue\",
         o.owned AS \"ownedBy\",
         NULLIF(o.identity, false) AS identity,
         obj_description(c.oid, 'pg_class') AS comment",
        "pg_sequence s
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
               LIMIT 1) o ON true",
    )
    .schema("n.nspname", a.schema.as_deref())
    .pattern("c.relname", a.pattern.as_deref())
    // A schema named explicitly is listed even when it is a system one.
    .hide_system_schemas("n.nspname", a.include_system || a.schema.is_some())
    .condition("NOT pg_is_other_temp_schema(n.oid)")
    .order_by("1, 2")
    .page(&ctx, a.limit, a.offset)
    .await?;
    Ok(SequenceList {
        sequences: page.items,
        page: page.info,
    })
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

const CREATE_SEQUENCE: Spec = Spec {
    name: "pg_create_sequence",
    title: "Create a sequence",
    description: "Create a sequence with optional data type, start, increment, minValue, maxValue, cache and cycle.",
    hints: WRITE,
    shortcuts: &[],
};

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

async fn create_sequence(ctx: Ctx, a: CreateSequenceArgs) -> ToolResult<Created> {
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
    Ok(Created {
        created: q.to_string(),
        sql,
    })
}

const DROP_SEQUENCE: Spec = Spec {
    name: "pg_drop_sequence",
    title: "Drop a sequence",
    description: "Drop a sequence (optionally IF EXISTS, CASCADE). A serial column's sequence needs cascade (which drops the column default); an identity column's sequence goes only with its column.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

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

async fn drop_sequence(ctx: Ctx, a: DropSequenceArgs) -> ToolResult<Dropped> {
    let q = parse_qualified(&a.name, a.schema.as_deref())?;
    let sql = format!(
        "DROP SEQUENCE {}{}{}",
        if_exists(a.if_exists),
        q.quoted(),
        cascade(a.cascade)
    );
    execute_ddl(&ctx, &sql).await.map_err(dependents_hint)?;
    Ok(Dropped {
        dropped: q.to_string(),
    })
}

// ---------------------------------------------------------------------------
// Functions

const LIST_FUNCTIONS: Spec = Spec {
    name: "pg_list_functions",
    title: "List functions",
    description: "List functions, procedures, aggregates and window functions with schema, kind, arguments, return type, language and volatility.\nFilter by schema, name `pattern` and `kind`. Extension and system functions are hidden unless includeExtensions / includeSystem; page with limit/offset. pg_object_details shows a function's source.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Function,
    Procedure,
    Aggregate,
    Window,
}

impl FunctionKind {
    /// `pg_proc.prokind`.
    fn prokind(self) -> &'static str {
        match self {
            FunctionKind::Function => "f",
            FunctionKind::Procedure => "p",
            FunctionKind::Aggregate => "a",
            FunctionKind::Window => "w",
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
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

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionRow {
    pub schema: String,
    pub name: String,
    pub kind: FunctionKind,
    /// The argument list as SQL spells it, e.g. `a integer, b text DEFAULT ''::text`.
    pub arguments: String,
    /// The return type, e.g. `integer` or `TABLE(id integer)`; absent for procedures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    /// Its language, e.g. `plpgsql`, `sql`, `c`, `internal`.
    pub language: String,
    /// Absent for procedures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volatility: Option<Volatility>,
    /// `true` when it runs with its owner's privileges (SECURITY DEFINER); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_definer: Option<bool>,
    /// The extension that installed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct FunctionList {
    pub functions: Vec<FunctionRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn list_functions(ctx: Ctx, a: ListFunctionsArgs) -> ToolResult<FunctionList> {
    let mut listing = Listing::new(
        "n.nspname AS schema, p.proname AS name,
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
         obj_description(p.oid, 'pg_proc') AS comment",
        "pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace
         JOIN pg_language l ON l.oid = p.prolang
         LEFT JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                              AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
         LEFT JOIN pg_extension e ON e.oid = d.refobjid",
    )
    .schema("n.nspname", a.schema.as_deref())
    .pattern("p.proname", a.pattern.as_deref())
    .filter_some("p.prokind = {}", a.kind.map(FunctionKind::prokind));
    if !a.include_extensions {
        listing = listing.condition("e.oid IS NULL");
    }
    let page = listing
        // A schema named explicitly is listed even when it is a system one.
        .hide_system_schemas("n.nspname", a.include_system || a.schema.is_some())
        .condition("NOT pg_is_other_temp_schema(n.oid)")
        // schema, name, arguments
        .order_by("1, 2, 4")
        .page(&ctx, a.limit, a.offset)
        .await?;
    Ok(FunctionList {
        functions: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------
// Triggers

const LIST_TRIGGERS: Spec = Spec {
    name: "pg_list_triggers",
    title: "List triggers",
    description: "List user triggers with table, timing (BEFORE/AFTER/INSTEAD OF), events, level (ROW/STATEMENT), trigger function, enabled and the CREATE TRIGGER definition.\nFor one table, the tables of one schema, or all; internal triggers (those implementing foreign keys) are left out.",
    hints: READ,
    shortcuts: &[],
};

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

/// When a trigger fires, relative to the event.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
pub enum TriggerTiming {
    #[serde(rename = "BEFORE")]
    Before,
    #[serde(rename = "AFTER")]
    After,
    #[serde(rename = "INSTEAD OF")]
    InsteadOf,
}

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "UPPERCASE")]
pub enum TriggerEvent {
    Insert,
    Update,
    Delete,
    Truncate,
}

/// Whether a trigger fires once per row or once per statement.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "UPPERCASE")]
pub enum TriggerLevel {
    Row,
    Statement,
}

/// Sessions a trigger fires in besides the default (origin) ones.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum FiresOn {
    /// Only in replica sessions (session_replication_role = replica).
    Replica,
    /// In every session.
    Always,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerRow {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub timing: TriggerTiming,
    pub events: Vec<TriggerEvent>,
    pub level: TriggerLevel,
    /// The trigger function, `schema.name`.
    pub function: String,
    /// `false` when disabled (ALTER TABLE … DISABLE TRIGGER).
    pub enabled: bool,
    /// Absent for a trigger that fires in the default (origin) sessions only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fires_on: Option<FiresOn>,
    /// `true` for a CONSTRAINT TRIGGER; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_trigger: Option<bool>,
    /// The CREATE TRIGGER statement.
    pub definition: String,
}

#[derive(Serialize, JsonSchema)]
pub struct TriggerList {
    pub triggers: Vec<TriggerRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn list_triggers(ctx: Ctx, a: ListTriggersArgs) -> ToolResult<TriggerList> {
    let oid = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            Some(resolve_relation(&ctx, &q, "table").await?)
        }
        None => None,
    };
    let listing = Listing::new(
        "n.nspname AS schema, c.relname AS table, t.tgname AS name,
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
         pg_get_triggerdef(t.oid, true) AS definition",
        "pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_proc p ON p.oid = t.tgfoid
         JOIN pg_namespace pn ON pn.oid = p.pronamespace",
    )
    .condition("NOT t.tgisinternal");
    // One table, else the tables of one schema, else all.
    let listing = match oid {
        Some(oid) => listing.filter("t.tgrelid = {}::oid", oid),
        None => listing.schema("n.nspname", a.schema.as_deref()),
    };
    let page = listing
        .condition("NOT pg_is_other_temp_schema(n.oid)")
        .order_by("1, 2, 3")
        .page(&ctx, a.limit, a.offset)
        .await?;
    Ok(TriggerList {
        triggers: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------
// Constraints

const LIST_CONSTRAINTS: Spec = Spec {
    name: "pg_list_constraints",
    title: "List constraints",
    description: "List table constraints: primary_key, foreign_key, unique, check and exclusion, with columns, definition and, for foreign keys, referencesTable and referencesColumns.\nFor one table, one schema or all user tables; filter by `type` (type not_null lists NOT NULL columns). Page with limit/offset.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
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

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConstraintRow {
    pub schema: String,
    pub table: String,
    /// The constraint's name; absent for a NOT NULL column (type not_null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: ConstraintType,
    /// The constrained columns, in key order; absent for a check constraint on no column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// The constraint as SQL spells it, e.g. `PRIMARY KEY (id)`, `CHECK (qty > 0)`.
    pub definition: String,
    /// Foreign keys: the referenced table, `schema.table`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references_table: Option<String>,
    /// Foreign keys: the referenced columns, matching `columns` in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references_columns: Option<Vec<String>>,
    /// `true` when DEFERRABLE; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferrable: Option<bool>,
    /// `true` when added NOT VALID and not validated since; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_valid: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
pub struct ConstraintList {
    pub constraints: Vec<ConstraintRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

async fn list_constraints(ctx: Ctx, a: ListConstraintsArgs) -> ToolResult<ConstraintList> {
    let oid = match &a.table {
        Some(t) => {
            let q = parse_qualified(t, a.schema.as_deref())?;
            Some(resolve_relation(&ctx, &q, "table").await?)
        }
        None => None,
    };
    // NOT NULL columns are not pg_constraint rows (before PostgreSQL 18): they join the
    // listing only when asked for by type.
    let not_null = if a.kind == Some(ConstraintType::NotNull) {
        "UNION ALL
         SELECT n.nspname, c.relname, NULL, 'not_null', ARRAY[a.attname::text], 'NOT NULL',
                NULL, NULL, NULL, NULL, c.oid, n.oid
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE a.attnotnull AND a.attnum > 0 AND NOT a.attisdropped
            AND c.relkind IN ('r', 'p', 'f')"
    } else {
        ""
    };
    let listing = Listing::new(
        "x.schema, x.table, x.name, x.type, x.columns, x.definition,
         x.\"referencesTable\", x.\"referencesColumns\", x.deferrable, x.\"notValid\"",
        format!(
            "(SELECT n.nspname AS schema, c.relname AS table, con.conname::text AS name,
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
              {not_null}
            ) x"
        ),
    );
    // One table, else the tables of one schema, else all user tables.
    let listing = match oid {
        Some(oid) => listing.filter("x.relid = {}::oid", oid),
        None => listing.schema("x.schema", a.schema.as_deref()),
    };
    let page = listing
        .filter_some("x.type = {}", a.kind.map(ConstraintType::label))
        // A table or schema named explicitly is listed even when it is a system one.
        .hide_system_schemas(
            "x.schema",
            a.include_system || oid.is_some() || a.schema.is_some(),
        )
        .condition("NOT pg_is_other_temp_schema(x.nspoid)")
        .order_by("x.schema, x.table, x.type, x.name, x.columns")
        .page(&ctx, a.limit, a.offset)
        .await?;
    Ok(ConstraintList {
        constraints: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------

pub fn tools() -> Vec<Tool> {
    vec![
        LIST_SCHEMAS.tool(GROUP, list_schemas),
        CREATE_SCHEMA.tool(GROUP, create_schema),
        DROP_SCHEMA.tool(GROUP, drop_schema),
        LIST_VIEWS.tool(GROUP, list_views),
        CREATE_VIEW.tool(GROUP, create_view),
        DROP_VIEW.tool(GROUP, drop_view),
        LIST_SEQUENCES.tool(GROUP, list_sequences),
        CREATE_SEQUENCE.tool(GROUP, create_sequence),
        DROP_SEQUENCE.tool(GROUP, drop_sequence),
        LIST_FUNCTIONS.tool(GROUP, list_functions),
        LIST_TRIGGERS.tool(GROUP, list_triggers),
        LIST_CONSTRAINTS.tool(GROUP, list_constraints),
    ]
}
