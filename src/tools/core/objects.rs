//! Objects of every kind: list, details, extensions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::catalog::{Int8, Listing, PageInfo, decode, default_limit};
use super::super::exec::read_rows;
use super::super::relsize;
use super::super::{Ctx, READ, Spec};
use super::tables::{TableArgs, TableDescription, describe_table};
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

// ---------------------------------------------------------------------------
// pg_list_objects

pub(super) const LIST_OBJECTS: Spec = Spec {
    name: "pg_list_objects",
    title: "List database objects",
    description: "List tables, views, materialized views, sequences, indexes, functions, procedures and types, filtered by schema, kind and name pattern.",
    hints: READ,
    shortcuts: &[],
};

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

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ObjectRow {
    pub schema: String,
    pub name: String,
    /// The kind, as in the `types` argument: `table`, `view`, `function`…
    #[serde(rename = "type")]
    pub kind: String,
    /// A function's or procedure's argument types (its identity); absent for other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct ObjectList {
    /// By schema, kind and name.
    pub objects: Vec<ObjectRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

pub(super) async fn list_objects(ctx: Ctx, a: ListObjectsArgs) -> ToolResult<ObjectList> {
    let types: Vec<&str> = a.types.iter().map(|t| t.label()).collect();
    let page = Listing::new("o.*", format!("({OBJECTS_SQL}) o"))
        .schema("o.schema", a.schema.as_deref())
        .filter_some(
            "o.type = ANY({}::text[])",
            (!types.is_empty()).then_some(types),
        )
        .pattern("o.name", a.pattern.as_deref())
        // An explicitly named schema is shown even when it is a system schema.
        .hide_system_schemas("o.schema", a.include_system || a.schema.is_some())
        .order_by("o.schema, o.type, o.name")
        .page(&ctx, a.limit, a.offset)
        .await?;
    Ok(ObjectList {
        objects: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------
// pg_object_details

pub(super) const OBJECT_DETAILS: Spec = Spec {
    name: "pg_object_details",
    title: "Describe any object",
    description: "Details of a table, view, sequence, index, function (with definition) or type (enum labels, domain base, composite attributes).",
    hints: READ,
    shortcuts: &[],
};

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

/// A column of a view or an attribute of a composite type.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Attribute {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// A table: `pg_describe_table`'s description.
#[derive(Serialize, JsonSchema)]
pub struct TableDetails {
    #[serde(flatten)]
    pub table: TableDescription,
    /// `table`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct ViewDetails {
    pub schema: String,
    pub name: String,
    /// `view` or `materialized_view`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The view's SELECT.
    pub definition: String,
    /// Absent for a view without columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<Attribute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SequenceDetails {
    pub schema: String,
    pub name: String,
    /// `sequence`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `smallint`, `integer` or `bigint`.
    pub data_type: String,
    pub start: Int8,
    pub increment: Int8,
    pub min_value: Int8,
    pub max_value: Int8,
    pub cycle: bool,
    /// Absent until the sequence is first used (or when not readable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_value: Option<Int8>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct IndexDetails {
    pub schema: String,
    pub name: String,
    /// `index`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The indexed table, as `schema.table` when not on the search_path.
    pub table: String,
    /// The CREATE INDEX statement.
    pub definition: String,
    pub unique: bool,
    pub primary: bool,
    /// e.g. `16 kB`; absent while the index is locked (another session holds or waits for an
    /// ACCESS EXCLUSIVE lock on it, and reading its size would wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct FunctionDetails {
    pub schema: String,
    pub name: String,
    /// `function`, `procedure`, `aggregate` or `window`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The argument list, e.g. `x integer, y text DEFAULT ''::text`.
    pub arguments: String,
    /// The result type; absent for a procedure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    pub language: String,
    /// `immutable`, `stable` or `volatile`.
    pub volatility: String,
    /// The CREATE statement, for SQL and PL/pgSQL functions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Several functions of that name.
#[derive(Serialize, JsonSchema)]
pub struct Overloads {
    pub name: String,
    /// `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub overloads: Vec<FunctionDetails>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeDetails {
    pub schema: String,
    pub name: String,
    /// `type`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `enum`, `domain`, `composite`, `range`, `base`…
    pub kind: String,
    /// An enum's labels, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// A domain's base type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_type: Option<String>,
    /// A composite type's attributes, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<Attribute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A relation of another kind (e.g. a TOAST table): its name and `pg_class.relkind`.
#[derive(Serialize, JsonSchema)]
pub struct OtherRelation {
    pub name: String,
    pub relkind: String,
}

/// Details of one object; which shape is told by `type` (`overloads` for several
/// functions of one name).
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ObjectDetails {
    Table(TableDetails),
    View(ViewDetails),
    Sequence(SequenceDetails),
    Index(IndexDetails),
    Function(FunctionDetails),
    Overloads(Overloads),
    Type(TypeDetails),
    Other(OtherRelation),
}

#[derive(Deserialize)]
struct RelationRow {
    oid: i64,
    relkind: String,
}

/// The one row a query for one object returns, decoded.
async fn one<R: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    sql: &str,
    params: &[serde_json::Value],
    q: &crate::db::ident::QualifiedName,
) -> ToolResult<R> {
    decode(read_rows(ctx, sql, params).await?)?
        .into_iter()
        .next()
        // Dropped between its lookup and this read.
        .ok_or_else(|| ToolError::not_found(Code::NotFound, format!("no object named '{q}'")))
}

pub(super) async fn object_details(ctx: Ctx, a: ObjectDetailsArgs) -> ToolResult<ObjectDetails> {
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
        let rel: Vec<RelationRow> = decode(
            read_rows(
                &ctx,
                "SELECT c.oid::int8 AS oid, c.relkind::text AS relkind FROM pg_class c WHERE c.oid = to_regclass($1)",
                &[json!(q.quoted())],
            )
            .await?,
        )?;
        // A composite type has a pg_class row too (relkind 'c'); it is described as a type below.
        if let Some(r) = rel.into_iter().find(|r| r.relkind != "c") {
            let oid = [json!(r.oid)];
            return Ok(match r.relkind.as_str() {
                "r" | "p" | "f" => {
                    let table = describe_table(
                        ctx,
                        TableArgs {
                            table: a.name.clone(),
                            schema: a.schema.clone(),
                        },
                    )
                    .await?;
                    ObjectDetails::Table(TableDetails {
                        table,
                        kind: "table".into(),
                    })
                }
                "v" | "m" => ObjectDetails::View(
                    one(
                        &ctx,
                        "SELECT n.nspname AS schema, c.relname AS name,
                                CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized_view' END AS type,
                                pg_get_viewdef(c.oid, true) AS definition,
                                (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
                                   FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
                                obj_description(c.oid, 'pg_class') AS comment
                           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
                        &oid,
                        &q,
                    )
                    .await?,
                ),
                "S" => ObjectDetails::Sequence(
                    one(
                        &ctx,
                        "SELECT s.schemaname AS schema, s.sequencename AS name, 'sequence' AS type,
                                format_type(s.data_type, NULL) AS \"dataType\", s.start_value AS start,
                                s.increment_by AS increment, s.min_value AS \"minValue\", s.max_value AS \"maxValue\",
                                s.cycle, s.last_value AS \"lastValue\"
                           FROM pg_sequences s
                           JOIN pg_class c ON c.relname = s.sequencename
                           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = s.schemaname
                          WHERE c.oid = $1::oid",
                        &oid,
                        &q,
                    )
                    .await?,
                ),
                "i" | "I" => ObjectDetails::Index(
                    one(
                        &ctx,
                        &format!("SELECT n.nspname AS schema, ic.relname AS name, 'index' AS type,
                                i.indrelid::regclass::text AS table, pg_get_indexdef(i.indexrelid) AS definition,
                                i.indisunique AS unique, i.indisprimary AS primary,
                                pg_size_pretty({}) AS size
                           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                           JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE i.indexrelid = $1::oid",
                            relsize::size("pg_relation_size", "i.indexrelid")),
                        &oid,
                        &q,
                    )
                    .await?,
                ),
                _ => ObjectDetails::Other(OtherRelation {
                    name: q.to_string(),
                    relkind: r.relkind,
                }),
            });
        }
    }
    if wants(ObjectKind::Function) || wants(ObjectKind::Procedure) {
        let mut rows: Vec<FunctionDetails> = decode(read_rows(
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
        .await?)?;
        if rows.len() == 1 {
            return Ok(ObjectDetails::Function(rows.remove(0)));
        }
        if !rows.is_empty() {
            return Ok(ObjectDetails::Overloads(Overloads {
                name: q.to_string(),
                kind: "function".into(),
                overloads: rows,
            }));
        }
    }
    if wants(ObjectKind::Type) {
        let rows: Vec<TypeDetails> = decode(read_rows(
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
        .await?)?;
        if let Some(r) = rows.into_iter().next() {
            return Ok(ObjectDetails::Type(r));
        }
    }
    Err(
        ToolError::not_found(Code::NotFound, format!("no object named '{q}'"))
            .suggest("Names are case-sensitive; pg_list_objects shows what exists."),
    )
}

// ---------------------------------------------------------------------------
// pg_list_extensions

pub(super) const LIST_EXTENSIONS: Spec = Spec {
    name: "pg_list_extensions",
    title: "List extensions",
    description: "List installed extensions with version and schema, or with available=true every extension the server can install.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListExtensionsArgs {
    /// List every extension available for installation instead of the installed ones.
    #[serde(default)]
    pub available: bool,
}

/// An installed extension.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct InstalledExtension {
    pub name: String,
    pub version: String,
    /// The schema its objects live in.
    pub schema: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An extension the server can install.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailableExtension {
    pub name: String,
    /// The version CREATE EXTENSION installs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_version: Option<String>,
    /// Absent when not installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Installed extensions, or with `available` every installable one.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Extensions {
    Installed(Vec<InstalledExtension>),
    Available(Vec<AvailableExtension>),
}

#[derive(Serialize, JsonSchema)]
pub struct ExtensionList {
    /// By name.
    pub extensions: Extensions,
}

pub(super) async fn list_extensions(ctx: Ctx, a: ListExtensionsArgs) -> ToolResult<ExtensionList> {
    let extensions = if a.available {
        Extensions::Available(
            Listing::new(
                "name, default_version AS \"defaultVersion\", installed_version AS \"installedVersion\", comment",
                "pg_available_extensions",
            )
            .order_by("name")
            .all(&ctx)
            .await?,
        )
    } else {
        Extensions::Installed(
            Listing::new(
                "e.extname AS name, e.extversion AS version, n.nspname AS schema, x.comment",
                "pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 LEFT JOIN pg_available_extensions x ON x.name = e.extname",
            )
            .order_by("e.extname")
            .all(&ctx)
            .await?,
        )
    };
    Ok(ExtensionList { extensions })
}
