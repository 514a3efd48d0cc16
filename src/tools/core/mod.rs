//! Core tools: queries, tables, indexes, objects, extensions and row helpers, one module
//! per family; this module keeps the group's list and the helpers other groups share.

mod indexes;
mod objects;
mod query;
mod rows;
mod tables;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Value, json};

use super::exec::read_rows;
use super::{Ctx, Tool};
use crate::db::ident::QualifiedName;
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "core";

/// What a CREATE made, and the statement that made it.
#[derive(Serialize, JsonSchema)]
pub struct Created {
    /// The name of what was created (`schema.name` when a schema was given).
    pub created: String,
    /// The statement that ran.
    pub sql: String,
}

/// What a DROP removed.
#[derive(Serialize, JsonSchema)]
pub struct Dropped {
    /// The name as given (`schema.name` when a schema was given).
    pub dropped: String,
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

/// Reject expressions that would end the statement; the extended protocol refuses
/// several statements anyway, this just gives a clearer error earlier.
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
    let mut tools = vec![
        query::READ_QUERY.tool(GROUP, query::read_query),
        query::WRITE_QUERY.tool(GROUP, query::write_query),
        tables::LIST_TABLES.tool(GROUP, tables::list_tables),
        tables::DESCRIBE_TABLE.tool(GROUP, tables::describe_table),
        tables::GET_COLUMNS.tool(GROUP, tables::get_columns),
        tables::CREATE_TABLE.tool(GROUP, tables::create_table),
        tables::DROP_TABLE.tool(GROUP, tables::drop_table),
        indexes::GET_INDEXES.tool(GROUP, indexes::get_indexes),
        indexes::CREATE_INDEX.tool(GROUP, indexes::create_index),
        indexes::DROP_INDEX.tool(GROUP, indexes::drop_index),
        objects::LIST_OBJECTS.tool(GROUP, objects::list_objects),
        objects::OBJECT_DETAILS.tool(GROUP, objects::object_details),
        objects::LIST_EXTENSIONS.tool(GROUP, objects::list_extensions),
        rows::COUNT.tool(GROUP, rows::count),
        rows::EXISTS.tool(GROUP, rows::exists),
        rows::UPSERT.tool(GROUP, rows::upsert),
        rows::BATCH_INSERT.tool(GROUP, rows::batch_insert),
        tables::TRUNCATE.tool(GROUP, tables::truncate),
    ];
    // pg_analyze_db_health: group core, as the reference server lists it, but written
    // beside the checks it aggregates (tools/performance/health.rs).
    tools.extend(super::performance::health_core_tools());
    tools
}
