//! Objects of every kind: list, details, extensions.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::super::Ctx;
use super::super::exec::read_rows;
use super::tables::{TableArgs, describe_table};
use super::{default_limit, paged, user_schema_filter};
use crate::db::ident::parse_qualified;
use crate::error::{Code, ToolError, ToolResult};

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

pub(super) async fn list_objects(ctx: Ctx, a: ListObjectsArgs) -> ToolResult<Value> {
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

pub(super) async fn object_details(ctx: Ctx, a: ObjectDetailsArgs) -> ToolResult<Value> {
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

pub(super) async fn list_extensions(ctx: Ctx, a: ListExtensionsArgs) -> ToolResult<Value> {
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
