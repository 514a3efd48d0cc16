//! Core tools: queries, tables, indexes, objects, extensions and row helpers, one module
//! per family; this module keeps the group's list and the helpers other groups share.

mod indexes;
mod objects;
mod query;
mod rows;
mod tables;

use serde_json::{Map, Value, json};

use super::exec::read_rows;
use super::{Ctx, DESTRUCTIVE, READ, Tool, WRITE, tool};
use crate::db::ident::QualifiedName;
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "core";

/// Catalog filter hiding PostgreSQL's own schemas; `$n` must be the includeSystem flag.
pub(crate) fn user_schema_filter(nsp: &str, flag: usize) -> String {
    format!(
        "(${flag}::bool OR ({nsp} NOT IN ('pg_catalog', 'information_schema') \
         AND {nsp} NOT LIKE 'pg\\_toast%' AND {nsp} NOT LIKE 'pg\\_temp\\_%'))"
    )
}

pub(super) fn default_limit() -> u32 {
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

/// several statements anyway, this just gives a clearer error earlier.
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

#[allow(clippy::result_large_err)]
pub(super) fn check_expression(what: &str, e: &str) -> ToolResult<()> {
    if e.contains(';') || e.contains("--") || e.contains("/*") {
        return Err(ToolError::invalid(format!(
            "{what} '{e}' may not contain ';' or comments"
        )));
    }
    Ok(())
}

pub fn tools() -> Vec<Tool> {
    vec![
        tool(
            "pg_read_query",
            GROUP,
            "Run a read-only query",
            "Run one SELECT (or other read-only statement) and return its rows.\nRuns in a READ ONLY transaction that is rolled back, so it can never change data. Use $1, $2… placeholders with `params`. Results are capped (see `truncated`).",
            READ,
            query::read_query,
        )
        .returns("QueryResult"),
        tool(
            "pg_write_query",
            GROUP,
            "Run a statement that changes data",
            "Run one INSERT, UPDATE, DELETE, DDL or other statement and return rows affected (and rows, with RETURNING).\nUse $1, $2… placeholders with `params`. Pass `transactionId` to run inside an open transaction.",
            DESTRUCTIVE,
            query::write_query,
        )
        .returns("QueryResult & { rowsAffected: number }"),
        tool(
            "pg_list_tables",
            GROUP,
            "List tables",
            "List tables with schema, estimated rows, total size and comment.\nSystem schemas are hidden unless includeSystem; page with limit/offset.",
            READ,
            tables::list_tables,
        )
        .returns("{ tables: { schema: string; name: string; kind?: string; rowEstimate?: number; size: string; comment?: string }[]; total?: number; nextOffset?: number }"),
        tool(
            "pg_describe_table",
            GROUP,
            "Describe a table",
            "Describe a table: columns (type, nullable, default), primary key, foreign keys, indexes, constraints, row estimate, size and comments.",
            READ,
            tables::describe_table,
        )
        .returns("{ schema: string; name: string; kind: string; columns: Column[]; primaryKey?: string[]; foreignKeys?: any[]; indexes?: any[]; constraints?: any[]; rowEstimate?: number; sizeBytes: number; size: string; comment?: string }"),
        tool(
            "pg_get_columns",
            GROUP,
            "List a table's columns",
            "The columns of a table or view: name, type, nullable, default, generated, identity, comment.",
            READ,
            tables::get_columns,
        )
        .returns("{ columns: Column[] }"),
        tool(
            "pg_create_table",
            GROUP,
            "Create a table",
            "Create a table from column definitions (name, type, nullable, default, primaryKey, unique, references).",
            WRITE,
            tables::create_table,
        ),
        tool(
            "pg_drop_table",
            GROUP,
            "Drop a table",
            "Drop a table (optionally IF EXISTS, CASCADE). Its data is lost.",
            DESTRUCTIVE,
            tables::drop_table,
        ),
        tool(
            "pg_get_indexes",
            GROUP,
            "List indexes",
            "List indexes with definition, method, uniqueness, size and scan count; for one table or all user tables.",
            READ,
            indexes::get_indexes,
        ),
        tool(
            "pg_create_index",
            GROUP,
            "Create an index",
            "Create an index on columns of a table (unique, partial, method, concurrently).",
            WRITE,
            indexes::create_index,
        ),
        tool(
            "pg_drop_index",
            GROUP,
            "Drop an index",
            "Drop an index (optionally IF EXISTS, CASCADE, CONCURRENTLY).",
            DESTRUCTIVE,
            indexes::drop_index,
        ),
        tool(
            "pg_list_objects",
            GROUP,
            "List database objects",
            "List tables, views, materialized views, sequences, indexes, functions, procedures and types, filtered by schema, kind and name pattern.",
            READ,
            objects::list_objects,
        ),
        tool(
            "pg_object_details",
            GROUP,
            "Describe any object",
            "Details of a table, view, sequence, index, function (with definition) or type (enum labels, domain base, composite attributes).",
            READ,
            objects::object_details,
        ),
        tool(
            "pg_list_extensions",
            GROUP,
            "List extensions",
            "List installed extensions with version and schema, or with available=true every extension the server can install.",
            READ,
            objects::list_extensions,
        ),
        tool(
            "pg_count",
            GROUP,
            "Count rows",
            "Count the rows of a table, optionally matching a SQL condition with $n parameters.",
            READ,
            rows::count,
        ),
        tool(
            "pg_exists",
            GROUP,
            "Check whether rows exist",
            "Whether any row of a table matches an optional SQL condition (stops at the first match).",
            READ,
            rows::exists,
        ),
        tool(
            "pg_upsert",
            GROUP,
            "Insert or update a row",
            "Insert a row, or update it when it conflicts on conflictColumns (INSERT … ON CONFLICT). Returns the row and whether it was inserted.",
            DESTRUCTIVE,
            rows::upsert,
        ),
        tool(
            "pg_batch_insert",
            GROUP,
            "Insert many rows",
            "Insert many rows (objects of column → value) atomically, chunked under PostgreSQL's parameter limit.",
            WRITE,
            rows::batch_insert,
        ),
        tool(
            "pg_truncate",
            GROUP,
            "Empty a table",
            "Remove every row of a table (TRUNCATE), optionally restarting identities and cascading.",
            DESTRUCTIVE,
            tables::truncate,
        ),
    ]
}
