//! The read tools on documents and jsonb columns: extract, contains, path query, keys,
//! typeof, pretty, normalize, object/array builders, aggregation, merge, diff, path
//! validation.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Bounded, DEFAULT_LIMIT, DualArgs, MAX_LIMIT, MORE_HINT, PathArg, Source, limit_of, path_elems,
    read, read_bounded, read_one, select_prefix, source,
};
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};
use crate::tools::sql::{Sql, quoted_list, table_of};
use crate::tools::{Ctx, READ, Spec};

/// What a table-mode read returns: the rows, how many, and whether more matched.
#[derive(Serialize, JsonSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TableRows {
    /// Table mode: one object per row (the `select` columns, then the tool's own columns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// Table mode: rows returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// `true` when more rows match than were returned (see `hint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// How to get the rest when cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl From<Bounded> for TableRows {
    fn from(b: Bounded) -> Self {
        TableRows {
            count: Some(b.rows.len()),
            rows: Some(b.rows),
            truncated: b.truncated.then_some(true),
            hint: b.truncated.then(|| MORE_HINT.to_string()),
        }
    }
}

/// `LIMIT $k` for `limit` rows plus one, which tells whether more rows match.
fn limit_plus_one(sql: &mut Sql, limit: u32) -> String {
    format!(" LIMIT {}", sql.bind(i64::from(limit) + 1))
}

fn path_param(sql: &mut Sql, path: Option<&PathArg>) -> ToolResult<String> {
    let elems = match path {
        Some(p) => path_elems(p)?,
        None => Vec::new(),
    };
    Ok(format!("{}::text[]", sql.bind(elems)))
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_extract

pub(super) const EXTRACT: Spec = Spec {
    name: "pg_jsonb_extract",
    title: "Extract a JSONB value",
    description: "The value at a key path (PostgreSQL's `#>`) of a document, or of a jsonb column for each row matching `where` (with the `select` columns; default 100 rows, at most 1000; null where the path does not exist). For a document: `found`, the JSON `type` and `value`.",
    hints: READ,
    shortcuts: &[],
};

dual_args! {
    pub struct ExtractArgs {
        /// Key path: `["a", 0, "b"]`, `"a.0.b"`, `"a[0].b"` or `"{a,0,b}"`; empty for the whole document.
        pub path: PathArg,
        /// Table mode: columns returned with each value to identify the row (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
        /// Table mode: rows to return (default 100, at most 1000).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Extracted {
    /// Document mode: whether the path exists in the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    /// Document mode: the JSON type of the value found (`null` for a JSON null).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Document mode: the value at the path; absent when the path does not exist or the
    /// value is JSON null (see `found` and `type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Table mode: each row's `select` columns and `value` (null where the path does not exist).
    #[serde(flatten)]
    pub table: TableRows,
}

pub(super) async fn extract(ctx: Ctx, a: ExtractArgs) -> ToolResult<Extracted> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    match source(&ctx, &mut sql, a.dual()).await? {
        Source::Doc(d) => {
            let p = path_param(&mut sql, Some(&a.path))?;
            sql.push(&format!(
                "SELECT v AS value, jsonb_typeof(v) AS type FROM (SELECT {d} #> {p} AS v) s"
            ));
            let mut row = read_one(&ctx, &sql, a.transaction_id.as_deref()).await?;
            let kind = row.get("type").and_then(Value::as_str).map(str::to_string);
            Ok(Extracted {
                found: Some(kind.is_some()),
                kind,
                value: row.remove("value").filter(|v| !v.is_null()),
                table: TableRows::default(),
            })
        }
        Source::Column { col, expr } => {
            let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
            let filter = sql.where_clause(a.condition.as_deref())?;
            let p = path_param(&mut sql, Some(&a.path))?;
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!(
                "SELECT {}{expr} #> {p} AS value FROM {}{filter}{lim}",
                select_prefix(&a.select),
                col.table
            ));
            let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            Ok(Extracted {
                found: None,
                kind: None,
                value: None,
                table: b.into(),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_contains

pub(super) const CONTAINS: Spec = Spec {
    name: "pg_jsonb_contains",
    title: "JSONB containment",
    description: "Whether a document contains `value` (PostgreSQL's `@>`: every key/element of `value` is present, recursively), or the rows of a table whose jsonb column contains it, also matching `where` (the `select` columns, default all; default 100 rows, at most 1000).",
    hints: READ,
    shortcuts: &[],
};

dual_args! {
    pub struct ContainsArgs {
        /// The JSON value that must be contained, e.g. `{"status": "active"}`.
        #[serde(alias = "contains")]
        pub value: Value,
        /// Table mode: columns to return for each matching row (default: all).
        #[serde(default)]
        pub select: Vec<String>,
        /// Table mode: rows to return (default 100, at most 1000).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Contains {
    /// Document mode: whether the document contains `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<bool>,
    /// Table mode: the matching rows.
    #[serde(flatten)]
    pub table: TableRows,
}

pub(super) async fn contains(ctx: Ctx, a: ContainsArgs) -> ToolResult<Contains> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    match source(&ctx, &mut sql, a.dual()).await? {
        Source::Doc(d) => {
            let v = sql.bind(a.value.to_string());
            sql.push(&format!("SELECT {d} @> {v}::jsonb AS contains"));
            let row = read_one(&ctx, &sql, a.transaction_id.as_deref()).await?;
            Ok(Contains {
                contains: row.get("contains").and_then(Value::as_bool),
                table: TableRows::default(),
            })
        }
        Source::Column { col, expr } => {
            let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
            let cond = sql.condition(a.condition.as_deref())?;
            let v = sql.bind(a.value.to_string());
            let lim = limit_plus_one(&mut sql, limit);
            let cols = if a.select.is_empty() {
                "*".to_string()
            } else {
                quoted_list(&a.select)
            };
            sql.push(&format!(
                "SELECT {cols} FROM {} WHERE {expr} @> {v}::jsonb{}{lim}",
                col.table,
                cond.map(|c| format!(" AND {c}")).unwrap_or_default()
            ));
            let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            Ok(Contains {
                contains: None,
                table: b.into(),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_path_query

pub(super) const PATH_QUERY: Spec = Spec {
    name: "pg_jsonb_path_query",
    title: "SQL/JSON path query",
    description: "The items an SQL/JSON path (`jsonpath`, e.g. `$.items[*] ? (@.price > $min)`, with `vars`) selects from a document (`results`), or from a jsonb column for the rows matching `where` (`rows`, one per item, with the `select` columns). Default 100 items, at most 1000.",
    hints: READ,
    shortcuts: &[],
};

dual_args! {
    pub struct PathQueryArgs {
        /// The SQL/JSON path, e.g. `$.items[*].name` or `strict $.a ? (@ > $x)`.
        pub path: String,
        /// Values of the path's variables (`$name` in the path → `{"name": …}`).
        pub vars: Option<Map<String, Value>>,
        /// Suppress structural and type errors, as jsonb_path_query's `silent` (default false).
        #[serde(default)]
        pub silent: bool,
        /// Table mode: columns returned with each item to identify its row (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
        /// Items to return (default 100, at most 1000).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct PathQuery {
    /// Document mode: the selected items, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<Value>>,
    /// Table mode: one row per selected item: the `select` columns and `value`.
    #[serde(flatten)]
    pub table: TableRows,
}

pub(super) async fn path_query(ctx: Ctx, a: PathQueryArgs) -> ToolResult<PathQuery> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let src = source(&ctx, &mut sql, a.dual()).await?;
    let filter = match &src {
        Source::Column { .. } => sql.where_clause(a.condition.as_deref())?,
        Source::Doc(_) => String::new(),
    };
    let p = sql.bind(&a.path);
    let vars = sql.bind(Value::Object(a.vars.clone().unwrap_or_default()).to_string());
    let silent = sql.bind(a.silent);
    let call = |doc: &str| {
        format!("jsonb_path_query({doc}, {p}::jsonpath, {vars}::jsonb, {silent}::boolean)")
    };
    match src {
        Source::Doc(d) => {
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!("SELECT {} AS value{lim}", call(&d)));
            let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            let results = b
                .rows
                .into_iter()
                .map(|mut r| r.remove("value").unwrap_or(Value::Null))
                .collect::<Vec<_>>();
            Ok(PathQuery {
                table: TableRows {
                    count: Some(results.len()),
                    truncated: b.truncated.then_some(true),
                    hint: b
                        .truncated
                        .then(|| "More items match: raise `limit` (at most 1000).".into()),
                    rows: None,
                },
                results: Some(results),
            })
        }
        Source::Column { col, expr } => {
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!(
                "SELECT {}{} AS value FROM {}{filter}{lim}",
                select_prefix(&a.select),
                call(&expr),
                col.table
            ));
            let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            Ok(PathQuery {
                results: None,
                table: b.into(),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_keys

pub(super) const KEYS: Spec = Spec {
    name: "pg_jsonb_keys",
    title: "JSONB object keys",
    description: "The keys of a document's object (at an optional key path), or the distinct keys of a jsonb column's objects over the rows matching `where`, most frequent first, with how many rows have each (default 100 keys, at most 1000). Non-object values are skipped in table mode.",
    hints: READ,
    shortcuts: &[],
};

dual_args! {
    pub struct KeysArgs {
        /// Key path of the object whose keys to list (default: the top level).
        pub path: Option<PathArg>,
        /// Table mode: keys to return (default 100, at most 1000).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Keys {
    /// The keys: in jsonb's order for a document; most frequent first (then by name) in table mode.
    pub keys: Vec<String>,
    /// Table mode: key → number of rows whose object has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_with_key: Option<BTreeMap<String, i64>>,
    /// `true` when there are more keys than returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

pub(super) async fn keys(ctx: Ctx, a: KeysArgs) -> ToolResult<Keys> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    match source(&ctx, &mut sql, a.dual()).await? {
        Source::Doc(d) => {
            let p = path_param(&mut sql, a.path.as_ref())?;
            sql.push(&format!(
                "SELECT jsonb_typeof(v) AS type, \
                        (SELECT coalesce(array_agg(k), '{{}}') FROM jsonb_object_keys(CASE WHEN jsonb_typeof(v) = 'object' THEN v END) k) AS keys \
                 FROM (SELECT {d} #> {p} AS v) s"
            ));
            let row = read_one(&ctx, &sql, a.transaction_id.as_deref()).await?;
            match row.get("type").and_then(Value::as_str) {
                Some("object") => {}
                Some(t) => {
                    return Err(ToolError::invalid(format!(
                        "the value at the path is a{} {t}, not an object",
                        if t == "array" { "n" } else { "" }
                    ))
                    .suggest("Give the key path of an object."));
                }
                None => {
                    return Err(ToolError::invalid(
                        "the path does not exist in the document",
                    ));
                }
            }
            let keys = serde_json::from_value(row.get("keys").cloned().unwrap_or_default())
                .map_err(|e| ToolError::internal(format!("keys did not decode: {e}")))?;
            Ok(Keys {
                keys,
                rows_with_key: None,
                truncated: None,
            })
        }
        Source::Column { col, expr } => {
            let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
            let filter = sql.where_clause(a.condition.as_deref())?;
            let p = path_param(&mut sql, a.path.as_ref())?;
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!(
                "SELECT k AS key, count(*) AS rows \
                 FROM (SELECT {expr} #> {p} AS v FROM {}{filter}) s \
                 CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(s.v) = 'object' THEN s.v END) k \
                 GROUP BY k ORDER BY count(*) DESC, k{lim}",
                col.table
            ));
            let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            let mut keys = Vec::new();
            let mut counts = BTreeMap::new();
            for r in b.rows {
                let k = r.get("key").and_then(Value::as_str).unwrap_or_default();
                keys.push(k.to_string());
                counts.insert(
                    k.to_string(),
                    r.get("rows").and_then(Value::as_i64).unwrap_or(0),
                );
            }
            Ok(Keys {
                keys,
                rows_with_key: Some(counts),
                truncated: b.truncated.then_some(true),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_typeof

pub(super) const TYPEOF: Spec = Spec {
    name: "pg_jsonb_typeof",
    title: "JSONB value type",
    description: "The JSON type (object, array, string, number, boolean, null) of a document's value at an optional key path, or of a jsonb column's value for each row matching `where` (with the `select` columns; null for SQL NULL or a missing path; default 100 rows, at most 1000).",
    hints: READ,
    shortcuts: &[],
};

dual_args! {
    pub struct TypeofArgs {
        /// Key path of the value (default: the whole document).
        pub path: Option<PathArg>,
        /// Table mode: columns returned with each type to identify the row (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
        /// Table mode: rows to return (default 100, at most 1000).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Typeof {
    /// Document mode: the type; absent when the path does not exist (see `found`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Document mode: whether the path exists in the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    /// Table mode: each row's `select` columns and `type`.
    #[serde(flatten)]
    pub table: TableRows,
}

pub(super) async fn typeof_(ctx: Ctx, a: TypeofArgs) -> ToolResult<Typeof> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    match source(&ctx, &mut sql, a.dual()).await? {
        Source::Doc(d) => {
            let p = path_param(&mut sql, a.path.as_ref())?;
            sql.push(&format!("SELECT jsonb_typeof({d} #> {p}) AS type"));
            let row = read_one(&ctx, &sql, a.transaction_id.as_deref()).await?;
            let kind = row.get("type").and_then(Value::as_str).map(str::to_string);
            Ok(Typeof {
                found: Some(kind.is_some()),
                kind,
                table: TableRows::default(),
            })
        }
        Source::Column { col, expr } => {
            let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
            let filter = sql.where_clause(a.condition.as_deref())?;
            let p = path_param(&mut sql, a.path.as_ref())?;
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!(
                "SELECT {}jsonb_typeof({expr} #> {p}) AS type FROM {}{filter}{lim}",
                select_prefix(&a.select),
                col.table
            ));
            let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            Ok(Typeof {
                kind: None,
                found: None,
                table: b.into(),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_pretty

pub(super) const PRETTY: Spec = Spec {
    name: "pg_jsonb_pretty",
    title: "Pretty-print JSONB",
    description: "A document, or a jsonb column's value for each row matching `where` (with the `select` columns; default 10 rows, at most 100), indented by PostgreSQL's jsonb_pretty.",
    hints: READ,
    shortcuts: &[],
};

dual_args! {
    pub struct PrettyArgs {
        /// Table mode: columns returned with each value to identify the row (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
        /// Table mode: rows to return (default 10, at most 100).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Pretty {
    /// Document mode: the indented text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// Table mode: each row's `select` columns and `formatted`.
    #[serde(flatten)]
    pub table: TableRows,
}

pub(super) async fn pretty(ctx: Ctx, a: PrettyArgs) -> ToolResult<Pretty> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    match source(&ctx, &mut sql, a.dual()).await? {
        Source::Doc(d) => {
            sql.push(&format!("SELECT jsonb_pretty({d}) AS formatted"));
            let row = read_one(&ctx, &sql, a.transaction_id.as_deref()).await?;
            Ok(Pretty {
                formatted: row
                    .get("formatted")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                table: TableRows::default(),
            })
        }
        Source::Column { col, expr } => {
            let limit = limit_of(a.limit, 10, 100)?;
            let filter = sql.where_clause(a.condition.as_deref())?;
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!(
                "SELECT {}jsonb_pretty({expr}) AS formatted FROM {}{filter}{lim}",
                select_prefix(&a.select),
                col.table
            ));
            let mut b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
            let cut = b.truncated;
            b.truncated = false;
            let mut t: TableRows = b.into();
            if cut {
                t.truncated = Some(true);
                t.hint =
                    Some("More rows match: raise `limit` (at most 100) or narrow `where`.".into());
            }
            Ok(Pretty {
                formatted: None,
                table: t,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_normalize

pub(super) const NORMALIZE: Spec = Spec {
    name: "pg_jsonb_normalize",
    title: "JSONB to rows",
    description: "A document, or a jsonb column over the rows matching `where`, as one row per entry: `keys` (top-level key and value as text), `pairs` (key and JSON value), `array` (array elements by index) or `flatten` (every leaf with its full key path, into nested objects and arrays). Values of the wrong kind are skipped in table mode. Default 100 rows, at most 1000.",
    hints: READ,
    shortcuts: &[],
};

/// How `pg_jsonb_normalize` splits a document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NormalizeMode {
    /// Top-level keys of an object, values as text (jsonb_each_text).
    #[default]
    Keys,
    /// Top-level keys of an object, values as JSON (jsonb_each).
    Pairs,
    /// Elements of an array, `key` is the 0-based index (jsonb_array_elements).
    Array,
    /// Every leaf (scalar, empty object or empty array) with its key path.
    Flatten,
}

dual_args! {
    pub struct NormalizeArgs {
        /// `keys` (default), `pairs`, `array` or `flatten`.
        #[serde(default)]
        pub mode: NormalizeMode,
        /// Table mode: a column identifying each row, returned as `id`.
        pub id_column: Option<String>,
        /// Rows to return (default 100, at most 1000).
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct NormalizedRow {
    /// Table mode: the row's `idColumn` value (null without `idColumn`, and in document mode).
    pub id: Value,
    /// The key (the array index for `array`; the path joined with `.` for `flatten`).
    pub key: String,
    /// `flatten`: the key path (usable as the `path` of the other jsonb tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    /// The value (text for `keys`, null for a JSON null; JSON otherwise).
    pub value: Value,
    /// The value's JSON type.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Normalized {
    /// The mode used.
    pub mode: NormalizeMode,
    /// The entries, in document order (by row, then position).
    pub rows: Vec<NormalizedRow>,
    /// Entries returned.
    pub count: usize,
    /// `true` when there are more entries than returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

pub(super) async fn normalize(ctx: Ctx, a: NormalizeArgs) -> ToolResult<Normalized> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut sql = Sql::new(a.params.clone());
    let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let src = source(&ctx, &mut sql, a.dual()).await?;
    let doc_mode = matches!(src, Source::Doc(_));
    let rows_sql = match &src {
        Source::Doc(d) => format!("SELECT 1::int8 AS rn, NULL::int AS id, {d} AS doc"),
        Source::Column { col, expr } => {
            let filter = sql.where_clause(a.condition.as_deref())?;
            let id = match &a.id_column {
                Some(c) => quote_ident(c),
                None => "NULL::int".to_string(),
            };
            format!(
                "SELECT row_number() OVER () AS rn, {id} AS id, {expr} AS doc FROM {}{filter}",
                col.table
            )
        }
    };
    if doc_mode && a.id_column.is_some() {
        return Err(ToolError::invalid("`idColumn` applies to table mode only"));
    }
    let lim = limit_plus_one(&mut sql, limit);
    let body = match a.mode {
        NormalizeMode::Keys | NormalizeMode::Pairs => format!(
            "SELECT s.id, e.key, {}, jsonb_typeof(e.value) AS type \
             FROM s CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(s.doc) = 'object' THEN s.doc END) WITH ORDINALITY e(key, value, ord) \
             ORDER BY s.rn, e.ord",
            if a.mode == NormalizeMode::Keys {
                "e.value #>> '{}' AS value"
            } else {
                "e.value"
            }
        ),
        NormalizeMode::Array => "SELECT s.id, (e.ord - 1)::text AS key, e.value, jsonb_typeof(e.value) AS type \
             FROM s CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.doc) = 'array' THEN s.doc END) WITH ORDINALITY e(value, ord) \
             ORDER BY s.rn, e.ord"
            .to_string(),
        NormalizeMode::Flatten => "SELECT id, array_to_string(path, '.') AS key, path, value, jsonb_typeof(value) AS type FROM flat \
             WHERE jsonb_typeof(value) NOT IN ('object', 'array') OR value IN ('{}'::jsonb, '[]'::jsonb) \
             ORDER BY rn, ords"
            .to_string(),
    };
    let flat = if a.mode == NormalizeMode::Flatten {
        ", flat(rn, id, path, ords, value) AS ( \
             SELECT rn, id, ARRAY[]::text[], ARRAY[]::int8[], doc FROM s WHERE doc IS NOT NULL \
             UNION ALL \
             SELECT f.rn, f.id, f.path || e.key, f.ords || e.ord, e.value FROM flat f CROSS JOIN LATERAL ( \
                 SELECT o.key, o.ord, o.value FROM jsonb_each(CASE WHEN jsonb_typeof(f.value) = 'object' THEN f.value END) WITH ORDINALITY o(key, value, ord) \
                 UNION ALL \
                 SELECT (x.ord - 1)::text, x.ord, x.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(f.value) = 'array' THEN f.value END) WITH ORDINALITY x(value, ord) \
             ) e WHERE cardinality(f.path) < 100)"
    } else {
        ""
    };
    sql.push(&format!(
        "WITH RECURSIVE s AS ({rows_sql}){flat} {body}{lim}"
    ));
    let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
    if doc_mode && b.rows.is_empty() && a.mode != NormalizeMode::Flatten {
        // An empty result from a document of the wrong kind is a mistake, not an answer.
        let mut check = Sql::new(Vec::new());
        let d = match source(&ctx, &mut check, a.dual()).await? {
            Source::Doc(d) => d,
            Source::Column { .. } => unreachable!("document mode"),
        };
        check.push(&format!("SELECT jsonb_typeof({d}) AS type"));
        let row = read_one(&ctx, &check, a.transaction_id.as_deref()).await?;
        let t = row.get("type").and_then(Value::as_str).unwrap_or("null");
        let want = if a.mode == NormalizeMode::Array {
            "array"
        } else {
            "object"
        };
        if t != want {
            return Err(ToolError::invalid(format!(
                "mode {:?} needs an {want}, and the document is a{} {t}",
                a.mode,
                if t == "array" || t == "object" {
                    "n"
                } else {
                    ""
                }
            ))
            .suggest(if want == "array" {
                "Use mode `keys`, `pairs` or `flatten` for an object."
            } else {
                "Use mode `array` or `flatten` for an array."
            }));
        }
    }
    let rows = b
        .rows
        .into_iter()
        .map(|r| {
            serde_json::from_value::<NormalizedRow>(Value::Object(r))
                .map_err(|e| ToolError::internal(format!("a normalized row did not decode: {e}")))
        })
        .collect::<ToolResult<Vec<_>>>()?;
    Ok(Normalized {
        mode: a.mode,
        count: rows.len(),
        rows,
        truncated: b.truncated.then_some(true),
    })
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_object, pg_jsonb_array

pub(super) const OBJECT: Spec = Spec {
    name: "pg_jsonb_object",
    title: "Build a JSONB object",
    description: "A jsonb object built by PostgreSQL from `data` (key → value) or from parallel `keys` and `values` lists; a repeated key keeps its last value.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectArgs {
    /// Key → value pairs, e.g. `{"name": "Ann", "age": 30}`.
    #[serde(alias = "pairs", alias = "object")]
    pub data: Option<Map<String, Value>>,
    /// Keys, with `values` of the same length (instead of `data`).
    pub keys: Option<Vec<String>>,
    /// Values, one per key in `keys`.
    pub values: Option<Vec<Value>>,
}

#[derive(Serialize, JsonSchema)]
pub struct JsonbObject {
    /// The object, as jsonb stores it (keys in jsonb's order).
    pub object: Map<String, Value>,
}

pub(super) async fn object(ctx: Ctx, a: ObjectArgs) -> ToolResult<JsonbObject> {
    let (keys, values): (Vec<String>, Vec<Value>) = match (a.data, a.keys, a.values) {
        (Some(d), None, None) => d.into_iter().unzip(),
        (None, Some(k), Some(v)) if k.len() == v.len() => (k, v),
        (None, Some(k), Some(v)) => {
            return Err(ToolError::invalid(format!(
                "`keys` has {} items and `values` {}: they must pair up",
                k.len(),
                v.len()
            )));
        }
        _ => {
            return Err(ToolError::invalid(
                "give either `data` (key → value) or both `keys` and `values`",
            ));
        }
    };
    let mut sql = Sql::new(Vec::new());
    let k = sql.bind(Value::from(keys).to_string());
    let v = sql.bind(Value::from(values).to_string());
    sql.push(&format!(
        "SELECT coalesce(jsonb_object_agg(k.key, v.value ORDER BY k.i), '{{}}') AS object \
         FROM jsonb_array_elements_text({k}::jsonb) WITH ORDINALITY k(key, i) \
         JOIN jsonb_array_elements({v}::jsonb) WITH ORDINALITY v(value, i) USING (i)"
    ));
    let row = read_one(&ctx, &sql, None).await?;
    match row.get("object") {
        Some(Value::Object(o)) => Ok(JsonbObject { object: o.clone() }),
        other => Err(ToolError::internal(format!("not an object: {other:?}"))),
    }
}

pub(super) const ARRAY: Spec = Spec {
    name: "pg_jsonb_array",
    title: "Build a JSONB array",
    description: "A jsonb array built by PostgreSQL from `values` (any JSON values, in order).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArrayArgs {
    /// The elements, in order.
    #[serde(alias = "elements")]
    pub values: Vec<Value>,
}

#[derive(Serialize, JsonSchema)]
pub struct JsonbArray {
    /// The array.
    pub array: Vec<Value>,
}

pub(super) async fn array(ctx: Ctx, a: ArrayArgs) -> ToolResult<JsonbArray> {
    let mut sql = Sql::new(Vec::new());
    let v = sql.bind(Value::from(a.values).to_string());
    sql.push(&format!(
        "SELECT coalesce(jsonb_agg(e.value ORDER BY e.i), '[]') AS array \
         FROM jsonb_array_elements({v}::jsonb) WITH ORDINALITY e(value, i)"
    ));
    let row = read_one(&ctx, &sql, None).await?;
    match row.get("array") {
        Some(Value::Array(items)) => Ok(JsonbArray {
            array: items.clone(),
        }),
        other => Err(ToolError::internal(format!("not an array: {other:?}"))),
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_agg

pub(super) const AGG: Spec = Spec {
    name: "pg_jsonb_agg",
    title: "Rows as a JSON array",
    description: "Rows of a table matching `where` as JSON objects (the `select` columns, default all), in `orderBy` order; with `groupBy`, one group per distinct value of that column with its row count and first items. Default 100 items (per group), at most 1000; at most 100 groups.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AggArgs {
    /// The table (optionally `schema.table`).
    #[serde(alias = "tableName")]
    pub table: String,
    /// Schema of `table` (default: the search path).
    pub schema: Option<String>,
    /// Columns of each object (default: all). Column names only, not expressions.
    #[serde(default)]
    pub select: Vec<String>,
    /// A SQL condition choosing the rows, e.g. `status = $1`, its values in `params`.
    #[serde(rename = "where", alias = "filter")]
    pub condition: Option<String>,
    /// Values for the `$n` placeholders of `where`.
    #[serde(default)]
    pub params: Vec<Value>,
    /// A column to group by.
    pub group_by: Option<String>,
    /// Order of the items: column names, each optionally followed by ` ASC` or ` DESC`, e.g. `["created_at DESC", "id"]`.
    #[serde(default)]
    pub order_by: Vec<String>,
    /// Items to return (per group with `groupBy`; default 100, at most 1000).
    pub limit: Option<u32>,
    /// Run inside this open transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggGroup {
    /// The group's value of the `groupBy` column.
    #[serde(alias = "group_key")]
    pub group_key: Value,
    /// Rows in the group.
    pub count: i64,
    /// The group's first `limit` rows as objects.
    #[serde(default)]
    pub items: Vec<Value>,
}

#[derive(Serialize, JsonSchema)]
pub struct Agg {
    /// Without `groupBy`: the rows as objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Vec<Value>>,
    /// With `groupBy`: the groups, by group value (NULL last).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<AggGroup>>,
    /// Items (or groups) returned.
    pub count: usize,
    /// `true` when rows (or groups, or a group's items) were left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

const MAX_GROUPS: u32 = 100;

/// `"col DESC"` → `"col" DESC`; a name ending in ` ASC`/` DESC` cannot be ordered by this way.
fn order_item(spec: &str) -> String {
    let t = spec.trim();
    let lower = t.to_ascii_lowercase();
    for (suffix, dir) in [(" desc", " DESC"), (" asc", " ASC")] {
        if lower.ends_with(suffix) {
            return format!(
                "{}{dir}",
                quote_ident(t[..t.len() - suffix.len()].trim_end())
            );
        }
    }
    quote_ident(t)
}

pub(super) async fn agg(ctx: Ctx, a: AggArgs) -> ToolResult<Agg> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let table = table_of(&ctx, &a.table, a.schema.as_deref()).await?;
    let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let mut sql = Sql::new(a.params.clone());
    let filter = sql.where_clause(a.condition.as_deref())?;
    let order = if a.order_by.is_empty() {
        String::new()
    } else {
        format!(
            " ORDER BY {}",
            a.order_by
                .iter()
                .map(|o| order_item(o))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let tx = a.transaction_id.as_deref();
    match &a.group_by {
        None => {
            let cols = if a.select.is_empty() {
                "*".to_string()
            } else {
                quoted_list(&a.select)
            };
            let lim = limit_plus_one(&mut sql, limit);
            sql.push(&format!(
                "SELECT to_jsonb(s) AS item FROM (SELECT {cols} FROM {}{filter}{order}{lim}) s",
                table.quoted(),
            ));
            let b = read_bounded(&ctx, &sql, tx, limit).await?;
            let items: Vec<Value> = b
                .rows
                .into_iter()
                .map(|mut r| r.remove("item").unwrap_or(Value::Null))
                .collect();
            Ok(Agg {
                count: items.len(),
                result: Some(items),
                groups: None,
                truncated: b.truncated.then_some(true),
            })
        }
        Some(g) => {
            let gq = quote_ident(g);
            let cols = if a.select.is_empty() {
                "*".to_string()
            } else if a.select.contains(g) {
                quoted_list(&a.select)
            } else {
                format!("{}, {gq}", quoted_list(&a.select))
            };
            let per = sql.bind(i64::from(limit));
            let groups = sql.bind(i64::from(MAX_GROUPS) + 1);
            sql.push(&format!(
                "SELECT group_key, count(*) AS count, \
                        coalesce(jsonb_agg(item ORDER BY rn) FILTER (WHERE rn <= {per}), '[]') AS items \
                 FROM (SELECT s.{gq} AS group_key, to_jsonb(s) - 'pgmcp_rn' AS item, s.pgmcp_rn AS rn \
                       FROM (SELECT {cols}, row_number() OVER (PARTITION BY {gq}{order}) AS pgmcp_rn \
                               FROM {}{filter}) s) x \
                 GROUP BY group_key ORDER BY group_key NULLS LAST LIMIT {groups}",
                table.quoted()
            ));
            let b = read_bounded(&ctx, &sql, tx, MAX_GROUPS).await?;
            let groups = b
                .rows
                .into_iter()
                .map(|r| {
                    serde_json::from_value::<AggGroup>(Value::Object(r))
                        .map_err(|e| ToolError::internal(format!("a group did not decode: {e}")))
                })
                .collect::<ToolResult<Vec<_>>>()?;
            let cut = b.truncated || groups.iter().any(|g| g.count > g.items.len() as i64);
            Ok(Agg {
                count: groups.len(),
                result: None,
                groups: Some(groups),
                truncated: cut.then_some(true),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_merge

pub(super) const MERGE: Spec = Spec {
    name: "pg_jsonb_merge",
    title: "Merge JSON documents",
    description: "`overlay` merged onto `base`. Deep (default): objects are merged key by key at every level, any other value of `overlay` replaces `base`'s (arrays too, unless `mergeArrays` concatenates them). Shallow (`deep: false`): PostgreSQL's `base || overlay` (top-level keys replaced; two arrays concatenated). No table.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MergeArgs {
    /// The document to merge onto.
    #[serde(alias = "json1")]
    pub base: Value,
    /// The document whose values win.
    #[serde(alias = "json2")]
    pub overlay: Value,
    /// Merge nested objects recursively (default true); false is PostgreSQL's `||`.
    #[serde(default = "yes")]
    pub deep: bool,
    /// Deep merge: concatenate two arrays at the same path instead of replacing (default false).
    #[serde(default)]
    pub merge_arrays: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Merged {
    /// The merged document (as jsonb stores it: keys in jsonb's order).
    pub merged: Value,
    /// Whether the merge was deep.
    pub deep: bool,
    /// Whether arrays were concatenated (deep merge).
    pub merge_arrays: bool,
}

/// `overlay` onto `base`, recursively through objects.
pub fn deep_merge(base: Value, overlay: Value, arrays: bool) -> Value {
    match (base, overlay) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => {
                        let old = slot.take();
                        *slot = deep_merge(old, v, arrays);
                    }
                    None => {
                        b.insert(k, v);
                    }
                }
            }
            Value::Object(b)
        }
        (Value::Array(mut b), Value::Array(o)) if arrays => {
            b.extend(o);
            Value::Array(b)
        }
        (_, o) => o,
    }
}

pub(super) async fn merge(ctx: Ctx, a: MergeArgs) -> ToolResult<Merged> {
    if !a.deep && a.merge_arrays {
        return Err(ToolError::invalid(
            "`mergeArrays` applies to the deep merge; the shallow merge (`||`) always concatenates two arrays",
        ));
    }
    let mut sql = Sql::new(Vec::new());
    if a.deep {
        let m = sql.bind(deep_merge(a.base, a.overlay, a.merge_arrays).to_string());
        sql.push(&format!("SELECT {m}::jsonb AS merged"));
    } else {
        let b = sql.bind(a.base.to_string());
        let o = sql.bind(a.overlay.to_string());
        sql.push(&format!("SELECT {b}::jsonb || {o}::jsonb AS merged"));
    }
    let mut row = read_one(&ctx, &sql, None).await?;
    Ok(Merged {
        merged: row.remove("merged").unwrap_or(Value::Null),
        deep: a.deep,
        merge_arrays: a.merge_arrays,
    })
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_diff

pub(super) const DIFF: Spec = Spec {
    name: "pg_jsonb_diff",
    title: "Structural JSON diff",
    description: "The differences from `doc1` to `doc2` at every depth: paths added, removed or changed, with old and new values. Objects compare key by key, arrays index by index; numbers compare by value (1 = 1.0). Paths are key lists (usable as the `path` of the other jsonb tools) and JSON Pointers. Default 100 differences, at most 1000. No table.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiffArgs {
    /// The original document.
    #[serde(alias = "before")]
    pub doc1: Value,
    /// The changed document.
    #[serde(alias = "after")]
    pub doc2: Value,
    /// Differences to return (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// What happened at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DiffOp {
    /// Only in `doc2`.
    Added,
    /// Only in `doc1`.
    Removed,
    /// In both, with different values (or types).
    Changed,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    /// Key path (array indexes as text); `[]` is the whole document.
    pub path: Vec<String>,
    /// The same path as a JSON Pointer (RFC 6901), e.g. `/items/0/price`.
    pub pointer: String,
    /// added, removed or changed.
    pub op: DiffOp,
    /// The value in `doc1` (null when added: `op` tells it from a JSON null).
    pub old_value: Value,
    /// The value in `doc2` (null when removed: `op` tells it from a JSON null).
    pub new_value: Value,
}

#[derive(Serialize, JsonSchema)]
pub struct Diff {
    /// Whether the documents are equal.
    pub identical: bool,
    /// Differences found in all.
    pub total: usize,
    /// The first `limit` differences, in document order.
    pub differences: Vec<Difference>,
    /// `true` when there are more differences than returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

/// Equality as jsonb's: numbers by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                i == j
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                i == j
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Walks both documents, pushing differences (all of them; the caller cuts).
pub fn diff_values(a: &Value, b: &Value, path: &mut Vec<String>, out: &mut Vec<Difference>) {
    let mut push = |path: &[String], op, old: Option<&Value>, new: Option<&Value>| {
        out.push(Difference {
            path: path.to_vec(),
            pointer: pointer(path),
            op,
            old_value: old.cloned().unwrap_or(Value::Null),
            new_value: new.cloned().unwrap_or(Value::Null),
        })
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                path.push(k.clone());
                match y.get(k) {
                    Some(vb) => diff_values(va, vb, path, out),
                    None => out.push(Difference {
                        path: path.clone(),
                        pointer: pointer(path),
                        op: DiffOp::Removed,
                        old_value: va.clone(),
                        new_value: Value::Null,
                    }),
                }
                path.pop();
            }
            for (k, vb) in y {
                if !x.contains_key(k) {
                    path.push(k.clone());
                    out.push(Difference {
                        path: path.clone(),
                        pointer: pointer(path),
                        op: DiffOp::Added,
                        old_value: Value::Null,
                        new_value: vb.clone(),
                    });
                    path.pop();
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                path.push(i.to_string());
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => diff_values(va, vb, path, out),
                    (Some(va), None) => out.push(Difference {
                        path: path.clone(),
                        pointer: pointer(path),
                        op: DiffOp::Removed,
                        old_value: va.clone(),
                        new_value: Value::Null,
                    }),
                    (None, Some(vb)) => out.push(Difference {
                        path: path.clone(),
                        pointer: pointer(path),
                        op: DiffOp::Added,
                        old_value: Value::Null,
                        new_value: vb.clone(),
                    }),
                    (None, None) => {}
                }
                path.pop();
            }
        }
        _ => {
            if !same(a, b) {
                push(path, DiffOp::Changed, Some(a), Some(b));
            }
        }
    }
}

pub(super) async fn diff(_ctx: Ctx, a: DiffArgs) -> ToolResult<Diff> {
    let limit = limit_of(a.limit, DEFAULT_LIMIT, MAX_LIMIT)? as usize;
    let mut all = Vec::new();
    diff_values(&a.doc1, &a.doc2, &mut Vec::new(), &mut all);
    let total = all.len();
    all.truncate(limit);
    Ok(Diff {
        identical: total == 0,
        total,
        differences: all,
        truncated: (total > limit).then_some(true),
    })
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_validate_path

pub(super) const VALIDATE_PATH: Spec = Spec {
    name: "pg_jsonb_validate_path",
    title: "Validate an SQL/JSON path",
    description: "Whether an SQL/JSON path (`jsonpath`) parses, with PostgreSQL's error message when it does not and its normalized form when it does; with a `document`, also the items it selects there (with `vars`) or the error it raises. No table.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValidatePathArgs {
    /// The SQL/JSON path, e.g. `$.a[*] ? (@ > $min)`.
    pub path: String,
    /// A document to run the path against.
    #[serde(alias = "testValue")]
    pub document: Option<Value>,
    /// Values of the path's variables (`$name` → `{"name": …}`).
    pub vars: Option<Map<String, Value>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PathValidation {
    /// Whether PostgreSQL parses the path.
    pub valid: bool,
    /// The path as PostgreSQL prints it back (mode, quoting, spacing normalized).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    /// PostgreSQL's error: the parse error, or the error running it against `document`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's SQLSTATE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// With `document`: the selected items (at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<Vec<Value>>,
    /// With `document`: whether there were more items than returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

pub(super) async fn validate_path(ctx: Ctx, a: ValidatePathArgs) -> ToolResult<PathValidation> {
    let mut sql = Sql::new(Vec::new());
    let p = sql.bind(&a.path);
    sql.push(&format!("SELECT {p}::jsonpath::text AS normalized"));
    let normalized = match read(&ctx, &sql, None).await {
        Ok(out) => out.rows.into_iter().next().and_then(|r| {
            r.get("normalized")
                .and_then(Value::as_str)
                .map(str::to_string)
        }),
        Err(e)
            if e.sqlstate
                .as_deref()
                .is_some_and(|s| s.starts_with("42") || s.starts_with("22")) =>
        {
            return Ok(PathValidation {
                valid: false,
                normalized: None,
                error: Some(e.error),
                sqlstate: e.sqlstate,
                results: None,
                truncated: None,
            });
        }
        Err(e) => return Err(e),
    };
    let mut out = PathValidation {
        valid: true,
        normalized,
        error: None,
        sqlstate: None,
        results: None,
        truncated: None,
    };
    if let Some(doc) = &a.document {
        let mut sql = Sql::new(Vec::new());
        let d = sql.bind(doc.to_string());
        let p = sql.bind(&a.path);
        let v = sql.bind(Value::Object(a.vars.clone().unwrap_or_default()).to_string());
        let lim = sql.bind(i64::from(MAX_LIMIT) + 1);
        sql.push(&format!(
            "SELECT jsonb_path_query({d}::jsonb, {p}::jsonpath, {v}::jsonb) AS value LIMIT {lim}"
        ));
        match read(&ctx, &sql, None).await {
            Ok(q) => {
                let mut items: Vec<Value> = q
                    .rows
                    .into_iter()
                    .map(|mut r| r.remove("value").unwrap_or(Value::Null))
                    .collect();
                if items.len() > MAX_LIMIT as usize || q.truncated.is_some() {
                    items.truncate(MAX_LIMIT as usize);
                    out.truncated = Some(true);
                }
                out.results = Some(items);
            }
            Err(e)
                if e.sqlstate
                    .as_deref()
                    .is_some_and(|s| s.starts_with("22") || s.starts_with("42")) =>
            {
                out.error = Some(e.error);
                out.sqlstate = e.sqlstate;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_merge_recurses_through_objects_only() {
        let m = deep_merge(
            json!({"a": {"x": 1, "y": [1]}, "b": 1}),
            json!({"a": {"y": [2], "z": null}, "c": 2}),
            false,
        );
        assert_eq!(
            m,
            json!({"a": {"x": 1, "y": [2], "z": null}, "b": 1, "c": 2})
        );
        let m = deep_merge(json!({"a": [1]}), json!({"a": [2]}), true);
        assert_eq!(m, json!({"a": [1, 2]}));
        assert_eq!(deep_merge(json!({"a": 1}), json!([1]), true), json!([1]));
    }

    #[test]
    fn diff_finds_every_change_with_its_path() {
        let mut out = Vec::new();
        diff_values(
            &json!({"a": 1, "b": {"c": [1, 2, 3], "d": "x"}, "gone": true, "n": 1.0}),
            &json!({"a": 1, "b": {"c": [1, 5], "d": "x", "e/f": null}, "n": 1}),
            &mut Vec::new(),
            &mut out,
        );
        let summary: Vec<(String, DiffOp)> =
            out.iter().map(|d| (d.pointer.clone(), d.op)).collect();
        assert_eq!(
            summary,
            vec![
                ("/b/c/1".to_string(), DiffOp::Changed),
                ("/b/c/2".to_string(), DiffOp::Removed),
                ("/b/e~1f".to_string(), DiffOp::Added),
                ("/gone".to_string(), DiffOp::Removed),
            ]
        );
        assert_eq!(out[0].path, ["b", "c", "1"]);
        assert_eq!(out[0].old_value, json!(2));
        assert_eq!(out[0].new_value, json!(5));
        assert_eq!(out[2].new_value, Value::Null);
        assert_eq!(out[2].op, DiffOp::Added);
    }

    #[test]
    fn order_items_take_a_direction() {
        assert_eq!(order_item("created_at DESC"), "\"created_at\" DESC");
        assert_eq!(order_item("id"), "\"id\"");
        assert_eq!(order_item("we\"ird asc"), "\"we\"\"ird\" ASC");
    }
}
