//! Queries: pg_read_query, pg_write_query.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::super::Ctx;
use super::super::exec::{Mode, execute};
use crate::error::ToolResult;

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

pub(super) async fn read_query(ctx: Ctx, a: QueryArgs) -> ToolResult<Value> {
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

pub(super) async fn write_query(ctx: Ctx, a: QueryArgs) -> ToolResult<Value> {
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
