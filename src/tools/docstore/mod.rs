//! Document store tools: JSONB document collections kept as ordinary tables, so the data
//! stays usable from plain SQL.
//!
//! # Layout of a collection (version 1)
//!
//! A collection `<schema>.<name>` is a table created by `pg_doc_create_collection` as
//!
//! ```sql
//! CREATE TABLE <schema>.<name> (
//!     _id        text        PRIMARY KEY DEFAULT gen_random_uuid()::text,
//!     doc        jsonb       NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
//!     created_at timestamptz NOT NULL DEFAULT now(),
//!     updated_at timestamptz NOT NULL DEFAULT now()
//! );
//! CREATE INDEX ON <schema>.<name> USING gin (doc jsonb_path_ops);
//! COMMENT ON TABLE <schema>.<name> IS 'pgmcp docstore collection v1';
//! ```
//!
//! - The document's id is the `_id` column, not a key of `doc`: an `_id` given in a
//!   document to `pg_doc_add` (a string, or an integer stored as its decimal text) becomes
//!   the column and is removed from the stored `doc`; without one a random UUID (text) is
//!   generated. `pg_doc_find` returns each document as `{"_id": …, …doc}`, and a filter's
//!   top-level `_id` compares with the column. `gen_random_uuid()` is built in from
//!   PostgreSQL 13.
//! - The comment is the marker: only a table carrying exactly [`MARKER`] is a collection.
//!   `pg_doc_list_collections` lists only those, and every other `pg_doc_*` tool refuses a
//!   table without it, so `pg_doc_drop_collection` can never drop an arbitrary table and the
//!   document tools never write to one.
//! - `modify` sets `updated_at = now()` on the documents it changes.
//!
//! # Paths
//!
//! A path into a document is a dotted string (`address.city`, `items.0`) or an array of
//! keys (`["a.b", "c"]`) for keys that contain dots. Paths are always bound as `text[]`
//! parameters (`doc #> $k`), except in `pg_doc_create_index`: an index expression cannot
//! hold a parameter, so there each key is written as a SQL string literal by
//! [`quote_literal`] (quotes and backslashes doubled, NUL refused).

mod collections;
mod documents;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Tool;
use super::exec::{Mode, execute};
use super::sql::Sql;
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{Code, ToolError, ToolResult};
use crate::tools::Ctx;

pub use crate::tools::admin::quote_literal;

const GROUP: &str = "docstore";

/// The table comment that marks a table as a docstore collection (layout version 1).
pub const MARKER: &str = "pgmcp docstore collection v1";

/// The deepest path accepted.
const MAX_DEPTH: usize = 32;

pub fn tools() -> Vec<Tool> {
    vec![
        collections::LIST.tool(GROUP, collections::list),
        collections::CREATE.tool(GROUP, collections::create),
        collections::DROP.tool(GROUP, collections::drop),
        collections::INFO.tool(GROUP, collections::info),
        documents::FIND.tool(GROUP, documents::find),
        documents::ADD.tool(GROUP, documents::add),
        documents::MODIFY.tool(GROUP, documents::modify),
        documents::REMOVE.tool(GROUP, documents::remove),
        collections::CREATE_INDEX.tool(GROUP, collections::create_index),
    ]
}

/// A path into a document: `"a.b.0"` or `["a.b", "0"]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DocPath {
    /// Dot-separated keys, e.g. `address.city` or `items.0` (array index).
    Dotted(String),
    /// The keys one by one, for keys that contain dots.
    Keys(Vec<String>),
}

impl DocPath {
    /// The path's keys, checked: at least one, at most [`MAX_DEPTH`], no NUL, and in the
    /// dotted form no empty key.
    #[allow(clippy::result_large_err)]
    pub fn keys(&self) -> ToolResult<Vec<String>> {
        let keys: Vec<String> = match self {
            DocPath::Dotted(s) => {
                if s.is_empty() || s.split('.').any(str::is_empty) {
                    return Err(ToolError::invalid(format!(
                        "path '{s}' has an empty key"
                    ))
                    .suggest("Write paths as `a.b.c`, or as an array of keys ([\"a.b\", \"c\"]) when a key contains a dot."));
                }
                s.split('.').map(str::to_string).collect()
            }
            DocPath::Keys(k) => k.clone(),
        };
        if keys.is_empty() {
            return Err(ToolError::invalid("a path has no keys"));
        }
        if keys.len() > MAX_DEPTH {
            return Err(ToolError::invalid(format!(
                "path '{}' is deeper than {MAX_DEPTH} keys",
                keys.join(".")
            )));
        }
        if keys.iter().any(|k| k.contains('\0')) {
            return Err(ToolError::invalid("a path key contains a NUL character"));
        }
        Ok(keys)
    }
}

/// A collection found in the catalog and checked to carry the marker.
#[derive(Debug, Clone)]
pub struct Collection {
    pub schema: String,
    pub name: String,
}

impl Collection {
    /// `"schema"."name"`, from the catalog's spelling.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn label(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// What the catalog says about a name: absent, a collection, or some other relation.
pub enum Lookup {
    Missing,
    Collection(Collection),
    NotACollection(Collection),
}

/// Looks `name` (optionally `schema.name`, or with `schema`) up under the caller's search
/// path, inside the caller's transaction when there is one (a collection created in it is
/// found). Read-only.
pub async fn lookup(
    ctx: &Ctx,
    name: &str,
    schema: Option<&str>,
    tx: Option<&str>,
) -> ToolResult<Lookup> {
    let q = parse_qualified(name, schema)?;
    let out = execute(
        ctx,
        "SELECT n.nspname AS schema, c.relname AS name, \
                (c.relkind IN ('r', 'p') AND obj_description(c.oid, 'pg_class') IS NOT DISTINCT FROM $2) AS marked \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = to_regclass($1)",
        &[json!(q.quoted()), json!(MARKER)],
        tx,
        Mode::Read,
    )
    .await?;
    let Some(row) = out.rows.into_iter().next() else {
        return Ok(Lookup::Missing);
    };
    let text = |k: &str| {
        row.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let c = Collection {
        schema: text("schema"),
        name: text("name"),
    };
    Ok(if row.get("marked") == Some(&Value::Bool(true)) {
        Lookup::Collection(c)
    } else {
        Lookup::NotACollection(c)
    })
}

/// The collection `name` names, or NOT_FOUND, or INVALID_ARGUMENT for a table that is not
/// a collection.
pub async fn collection_of(
    ctx: &Ctx,
    name: &str,
    schema: Option<&str>,
    tx: Option<&str>,
) -> ToolResult<Collection> {
    match lookup(ctx, name, schema, tx).await? {
        Lookup::Collection(c) => Ok(c),
        Lookup::Missing => Err(missing(name, schema)),
        Lookup::NotACollection(c) => Err(not_a_collection(&c)),
    }
}

pub fn missing(name: &str, schema: Option<&str>) -> ToolError {
    let label = match schema {
        Some(s) if !s.is_empty() => format!("{s}.{name}"),
        _ => name.to_string(),
    };
    ToolError::not_found(
        Code::NotFound,
        format!("collection '{label}' does not exist"),
    )
    .suggest("pg_doc_list_collections lists the collections; pg_doc_create_collection creates one. Names are case-sensitive.")
}

pub fn not_a_collection(c: &Collection) -> ToolError {
    ToolError::invalid(format!(
        "'{}' is a table or other relation but not a docstore collection (it lacks the comment '{MARKER}')",
        c.label()
    ))
    .suggest("The pg_doc_* tools work only on collections made by pg_doc_create_collection; use pg_read_query, pg_write_query or pg_drop_table for other tables.")
}

/// The conditions selecting documents: the `filter` document (its top-level `_id` compared
/// with the column, the rest by containment `doc @> $k`) and the caller's `where` fragment
/// (checked by the kit), each a parenthesized condition to AND together.
#[allow(clippy::result_large_err)]
pub fn selection(
    sql: &mut Sql,
    filter: Option<&Map<String, Value>>,
    condition: Option<&str>,
) -> ToolResult<Vec<String>> {
    let mut out = Vec::new();
    if let Some(filter) = filter {
        let mut rest = filter.clone();
        if let Some(id) = rest.remove("_id") {
            let id = id_text(&id)?;
            out.push(format!("(_id = {}::text)", sql.bind(id)));
        }
        if !rest.is_empty() {
            out.push(format!(
                "(doc @> {}::jsonb)",
                sql.bind(Value::Object(rest).to_string())
            ));
        }
    }
    if let Some(c) = sql.condition(condition)? {
        out.push(c);
    }
    Ok(out)
}

/// An `_id` as the text stored in the column: a non-empty string, or an integer.
#[allow(clippy::result_large_err)]
pub fn id_text(id: &Value) -> ToolResult<String> {
    match id {
        Value::String(s) if !s.is_empty() && !s.contains('\0') => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(ToolError::invalid(format!(
            "_id must be a non-empty string or an integer, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(
            DocPath::Dotted("a.b.0".into()).keys().unwrap(),
            vec!["a", "b", "0"]
        );
        assert_eq!(
            DocPath::Keys(vec!["a.b".into(), "it's".into()])
                .keys()
                .unwrap(),
            vec!["a.b", "it's"]
        );
        for bad in ["", "a..b", ".a", "a."] {
            assert!(DocPath::Dotted(bad.into()).keys().is_err(), "{bad:?}");
        }
        assert!(DocPath::Keys(vec![]).keys().is_err());
        assert!(DocPath::Keys(vec!["a\0b".into()]).keys().is_err());
        assert!(DocPath::Dotted(vec!["k"; 33].join(".")).keys().is_err());
    }

    #[test]
    fn filters_bind_every_value() {
        let mut sql = Sql::new(vec![json!(1)]);
        let filter = json!({"_id": "x'1", "a'); DROP TABLE t; --": {"b": 2}});
        let c = selection(&mut sql, filter.as_object(), Some("n > $1")).unwrap();
        assert_eq!(
            c,
            vec![
                "(_id = $2::text)".to_string(),
                "(doc @> $3::jsonb)".to_string(),
                "(\nn > $1\n)".to_string()
            ]
        );
        assert_eq!(sql.params()[1], json!("x'1"));
        assert_eq!(
            sql.params()[2],
            json!(r#"{"a'); DROP TABLE t; --":{"b":2}}"#)
        );
        assert!(selection(&mut sql, json!({"_id": 1.5}).as_object(), None).is_err());
        assert!(selection(&mut sql, json!({"_id": ""}).as_object(), None).is_err());
    }
}
