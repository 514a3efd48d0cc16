//! JSONB tools: document operations on values and on table columns, path queries, stats, index advice and a security scan.
//!
//! Two kinds of tool:
//! - *dual* tools work on one JSON document (`document`, or `json` text) or on a table's
//!   jsonb column (`table` + `column`, with `where`/`params` choosing the rows);
//! - *column* tools (writes, stats, index advice, security scan) need the table.
//!
//! Everything is computed by PostgreSQL (documents are bound as `$n::jsonb`, paths as
//! `$n::text[]`, SQL/JSON paths as `$n::jsonpath`), except the structural diff and the deep
//! merge, which PostgreSQL has no function for (see `doc.rs`).
//!
//! Key paths (`path` of extract, set, insert, delete, typeof, keys) are a list of keys and
//! array indexes (`["a", 0, "b"]`), or for convenience a text: PostgreSQL's `{a,0,b}`, or a
//! dotted `a.0.b` / `a[0].b`. A text is refused when it could be read two ways (quotes,
//! braces inside a dotted path, an empty segment); keys containing `.`, `[` or `]` need the
//! list form. A text starting with `$` is an SQL/JSON path, which `pg_jsonb_path_query` takes.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::exec::{Mode, execute};
use super::sql::{Column, Sql, column_of, quoted_list};
use super::{Ctx, Tool};
use crate::db::QueryOutput;
use crate::error::{ToolError, ToolResult};

/// An argument struct with the fields every dual tool has (`document` | `json` |
/// `table` + `column`, `where`, `params`, `transactionId`) and its own.
macro_rules! dual_args {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            /// The JSON document to work on (any JSON value), instead of `table` + `column`.
            pub document: Option<serde_json::Value>,
            /// The document as JSON text, parsed by PostgreSQL (instead of `document`).
            pub json: Option<String>,
            /// Table mode: the table (optionally `schema.table`) holding the jsonb column.
            #[serde(alias = "tableName")]
            pub table: Option<String>,
            /// Schema of `table` (default: the search path).
            pub schema: Option<String>,
            /// Table mode: the jsonb (or json) column.
            #[serde(alias = "col")]
            pub column: Option<String>,
            /// Table mode: a SQL condition choosing the rows, e.g. `id = $1`, its values in `params`.
            #[serde(rename = "where", alias = "filter")]
            pub condition: Option<String>,
            /// Values for the `$n` placeholders of `where`.
            #[serde(default)]
            pub params: Vec<serde_json::Value>,
            /// Run inside this open transaction (from pg_transaction_begin).
            pub transaction_id: Option<String>,
            $($body)*
        }

        impl $name {
            fn dual(&self) -> DualArgs<'_> {
                DualArgs {
                    document: self.document.as_ref(),
                    json: self.json.as_deref(),
                    table: self.table.as_deref(),
                    schema: self.schema.as_deref(),
                    column: self.column.as_deref(),
                    has_where: self.condition.as_deref().is_some_and(|w| !w.trim().is_empty())
                        || !self.params.is_empty(),
                }
            }
        }
    };
}

/// An argument struct for a tool on a table's jsonb column: `table`, `schema`, `column`,
/// `where`, `params`, `transactionId` and its own fields.
macro_rules! column_args {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            /// The table (optionally `schema.table`).
            #[serde(alias = "tableName")]
            pub table: String,
            /// Schema of `table` (default: the search path).
            pub schema: Option<String>,
            /// The jsonb column.
            #[serde(alias = "col")]
            pub column: String,
            /// A SQL condition choosing the rows, e.g. `id = $1`, its values in `params`.
            #[serde(rename = "where", alias = "filter")]
            pub condition: Option<String>,
            /// Values for the `$n` placeholders of `where`.
            #[serde(default)]
            pub params: Vec<serde_json::Value>,
            /// Run inside this open transaction (from pg_transaction_begin).
            pub transaction_id: Option<String>,
            $($body)*
        }
    };
}

mod analyze;
mod doc;
mod write;

const GROUP: &str = "jsonb";

/// Rows a table-mode tool returns by default, and at most.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

pub fn tools() -> Vec<Tool> {
    vec![
        doc::EXTRACT.tool(GROUP, doc::extract),
        write::SET.tool(GROUP, write::set),
        write::INSERT.tool(GROUP, write::insert),
        write::DELETE.tool(GROUP, write::delete),
        doc::CONTAINS.tool(GROUP, doc::contains),
        doc::PATH_QUERY.tool(GROUP, doc::path_query),
        doc::AGG.tool(GROUP, doc::agg),
        doc::OBJECT.tool(GROUP, doc::object),
        doc::ARRAY.tool(GROUP, doc::array),
        doc::KEYS.tool(GROUP, doc::keys),
        write::STRIP_NULLS.tool(GROUP, write::strip_nulls),
        doc::TYPEOF.tool(GROUP, doc::typeof_),
        doc::VALIDATE_PATH.tool(GROUP, doc::validate_path),
        doc::MERGE.tool(GROUP, doc::merge),
        doc::NORMALIZE.tool(GROUP, doc::normalize),
        doc::DIFF.tool(GROUP, doc::diff),
        analyze::INDEX_SUGGEST.tool(GROUP, analyze::index_suggest),
        analyze::SECURITY_SCAN.tool(GROUP, analyze::security_scan),
        analyze::STATS.tool(GROUP, analyze::stats),
        doc::PRETTY.tool(GROUP, doc::pretty),
    ]
}

// ---------------------------------------------------------------------------------------
// Key paths

/// A key path into a document: a list of object keys and array indexes, or a text.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PathArg {
    /// Object keys and array indexes, outermost first: `["items", 0, "price"]`. A negative
    /// index counts from the end of the array; `[]` is the whole document.
    Parts(Vec<PathPart>),
    /// `items.0.price`, `items[0].price` or PostgreSQL's `{items,0,price}`; `""` is the whole
    /// document. Keys containing `.`, `[`, `]`, `{`, `}` or quotes need the list form.
    Text(String),
    /// One array index of a top-level array.
    Index(i64),
}

/// One step of a key path.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PathPart {
    /// An object key (or an array index written as text, e.g. `"0"`).
    Key(String),
    /// An array index.
    Index(i64),
}

/// The path as PostgreSQL's text[] elements (bound as `$n::text[]`).
#[allow(clippy::result_large_err)]
pub fn path_elems(path: &PathArg) -> ToolResult<Vec<String>> {
    match path {
        PathArg::Index(i) => Ok(vec![i.to_string()]),
        PathArg::Parts(parts) => Ok(parts
            .iter()
            .map(|p| match p {
                PathPart::Key(k) => k.clone(),
                PathPart::Index(i) => i.to_string(),
            })
            .collect()),
        PathArg::Text(text) => parse_text_path(text),
    }
}

#[allow(clippy::result_large_err)]
fn parse_text_path(text: &str) -> ToolResult<Vec<String>> {
    let ambiguous = |why: &str| {
        ToolError::invalid(format!("path {text:?} is ambiguous: {why}"))
            .suggest("Give the path as a list of keys and indexes, e.g. [\"a\", 0, \"b c\"].")
    };
    let t = text.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    if t.starts_with('$') {
        return Err(ToolError::invalid(format!(
            "path {text:?} is an SQL/JSON path, not a key path"
        ))
        .suggest("Use pg_jsonb_path_query for SQL/JSON paths, or give keys: [\"a\", 0, \"b\"]."));
    }
    if let Some(inner) = t.strip_prefix('{') {
        let Some(inner) = inner.strip_suffix('}') else {
            return Err(ambiguous("it opens a brace it does not close"));
        };
        if inner.contains(['"', '\\', '{', '}']) {
            return Err(ambiguous("quoted or nested elements"));
        }
        if inner.trim().is_empty() {
            return Ok(Vec::new());
        }
        return inner
            .split(',')
            .map(|e| {
                let e = e.trim();
                if e.is_empty() {
                    Err(ambiguous("an empty element"))
                } else {
                    Ok(e.to_string())
                }
            })
            .collect();
    }
    if t.contains(['"', '\'', '{', '}', '\\']) {
        return Err(ambiguous("quotes or braces in a dotted path"));
    }
    let mut out = Vec::new();
    for segment in t.split('.') {
        // `key`, `key[0]`, `key[0][1]` or `[0]`.
        let (key, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if key.contains(']') {
            return Err(ambiguous("a `]` without `[`"));
        }
        if key.is_empty() && rest.is_empty() {
            return Err(ambiguous("an empty segment"));
        }
        if !key.is_empty() {
            out.push(key.to_string());
        }
        while !rest.is_empty() {
            let Some(close) = rest.find(']') else {
                return Err(ambiguous("a `[` without `]`"));
            };
            let index = &rest[1..close];
            if index.parse::<i64>().is_err() {
                return Err(ambiguous(
                    "brackets hold something other than an array index",
                ));
            }
            out.push(index.to_string());
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(ambiguous("text after `]` that is not another `[n]`"));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Where a dual tool's document comes from

/// What a dual tool works on.
pub enum Source {
    /// One document, bound as this placeholder (`$k::jsonb` in the statement).
    Doc(String),
    /// A table's column; `expr` is the column as jsonb (`"col"` or `"col"::jsonb` for json).
    Column { col: Column, expr: String },
}

/// The fields every dual tool has, borrowed from its arguments.
pub struct DualArgs<'a> {
    pub document: Option<&'a Value>,
    pub json: Option<&'a str>,
    pub table: Option<&'a str>,
    pub schema: Option<&'a str>,
    pub column: Option<&'a str>,
    pub has_where: bool,
}

/// Resolves a dual tool's input: exactly one of `document`, `json` or `table` + `column`.
/// A document is bound on `sql` (its placeholder is in [`Source::Doc`]).
pub async fn source(ctx: &Ctx, sql: &mut Sql, a: DualArgs<'_>) -> ToolResult<Source> {
    let table_mode = a.table.is_some() || a.column.is_some();
    let givens = [a.document.is_some(), a.json.is_some(), table_mode]
        .iter()
        .filter(|g| **g)
        .count();
    let how = "Give either `document` (a JSON value), `json` (JSON text), or `table` and `column` (a jsonb column).";
    if givens == 0 {
        return Err(ToolError::invalid("no input: nothing to work on").suggest(how));
    }
    if givens > 1 {
        return Err(ToolError::invalid(
            "more than one input: give only one of `document`, `json`, or `table` + `column`",
        )
        .suggest(how));
    }
    if !table_mode {
        if a.has_where {
            return Err(ToolError::invalid(
                "`where` and `params` choose table rows; they do not apply to a `document`",
            )
            .suggest(how));
        }
        let text = match (a.document, a.json) {
            (Some(d), _) => d.to_string(),
            (None, Some(j)) => j.to_string(),
            (None, None) => unreachable!("counted above"),
        };
        let p = sql.bind(text);
        return Ok(Source::Doc(format!("{p}::jsonb")));
    }
    let (Some(table), Some(column)) = (a.table, a.column) else {
        return Err(ToolError::invalid("table mode needs both `table` and `column`").suggest(how));
    };
    let (col, expr) = jsonb_column(ctx, table, a.schema, column, false).await?;
    Ok(Source::Column { col, expr })
}

/// Resolves a jsonb (or, when `json_ok`, json) column: the column and its jsonb expression.
pub async fn jsonb_column(
    ctx: &Ctx,
    table: &str,
    schema: Option<&str>,
    column: &str,
    write: bool,
) -> ToolResult<(Column, String)> {
    let col = column_of(ctx, table, schema, column).await?;
    let expr = match col.type_name.as_str() {
        "jsonb" => col.column.clone(),
        "json" if !write => format!("{}::jsonb", col.column),
        other => {
            return Err(ToolError::invalid(format!(
                "column {} is of type {other}, not jsonb{}",
                col.column,
                if write { "" } else { " (or json)" }
            ))
            .suggest(if other == "json" {
                "Writes need a jsonb column: ALTER TABLE … ALTER COLUMN … TYPE jsonb."
            } else {
                "pg_get_columns lists the columns and their types."
            }));
        }
    };
    Ok((col, expr))
}

/// The caller's `limit` checked against 1..=max (default `default`).
#[allow(clippy::result_large_err)]
pub fn limit_of(limit: Option<u32>, default: u32, max: u32) -> ToolResult<u32> {
    match limit.unwrap_or(default) {
        n if (1..=max).contains(&n) => Ok(n),
        n => Err(ToolError::invalid(format!(
            "limit {n} is out of range 1..{max}"
        ))),
    }
}

/// `SELECT` list prefix for the caller's identifying columns (`"id", ` or empty).
pub fn select_prefix(select: &[String]) -> String {
    if select.is_empty() {
        String::new()
    } else {
        format!("{}, ", quoted_list(select))
    }
}

/// Rows of a bounded read: the statement asked for `limit + 1` rows, so a row beyond the
/// limit means there are more.
pub struct Bounded {
    pub rows: Vec<Map<String, Value>>,
    pub truncated: bool,
}

pub async fn read_bounded(
    ctx: &Ctx,
    sql: &Sql,
    tx: Option<&str>,
    limit: u32,
) -> ToolResult<Bounded> {
    let out = read(ctx, sql, tx).await?;
    let mut truncated = out.truncated.is_some();
    let mut rows = out.rows;
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        truncated = true;
    }
    Ok(Bounded { rows, truncated })
}

/// Runs a read statement (READ ONLY, rolled back, the read policy).
pub async fn read(ctx: &Ctx, sql: &Sql, tx: Option<&str>) -> ToolResult<QueryOutput> {
    execute(ctx, sql.text(), sql.params(), tx, Mode::Read).await
}

/// The first row of a read.
pub async fn read_one(ctx: &Ctx, sql: &Sql, tx: Option<&str>) -> ToolResult<Map<String, Value>> {
    read(ctx, sql, tx)
        .await?
        .rows
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("the statement returned no row"))
}

/// The hint given with a cut result.
pub const MORE_HINT: &str = "More rows match: raise `limit` (at most 1000) or narrow `where`.";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> ToolResult<Vec<String>> {
        path_elems(&serde_json::from_value::<PathArg>(v).unwrap())
    }

    #[test]
    fn paths_in_every_form() {
        assert_eq!(p(json!(["a", 0, "b c"])).unwrap(), ["a", "0", "b c"]);
        assert_eq!(p(json!("a.0.b")).unwrap(), ["a", "0", "b"]);
        assert_eq!(p(json!("a[0][-1].b")).unwrap(), ["a", "0", "-1", "b"]);
        assert_eq!(p(json!("[2].x")).unwrap(), ["2", "x"]);
        assert_eq!(p(json!("{a, 0 ,b}")).unwrap(), ["a", "0", "b"]);
        assert_eq!(p(json!(3)).unwrap(), ["3"]);
        assert!(p(json!("")).unwrap().is_empty());
        assert!(p(json!("{}")).unwrap().is_empty());
        assert!(p(json!([])).unwrap().is_empty());
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for bad in [
            "a..b",
            "a.",
            "{a,\"b\"}",
            "a[x]",
            "a[0",
            "a]b",
            "{a,b",
            "$.a",
            "a[0]b",
            "a\"b",
        ] {
            assert!(p(json!(bad)).is_err(), "{bad}");
        }
    }
}
