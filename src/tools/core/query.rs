//! Queries: pg_read_query, pg_write_query.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::exec::{Mode, execute};
use super::super::{Ctx, DESTRUCTIVE, READ, Shortcut, Spec};
use crate::db::QueryResult;
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

pub(super) const READ_QUERY: Spec = Spec {
    name: "pg_read_query",
    title: "Run a read-only query",
    description: "Run one SELECT (or other read-only statement) and return its rows.\nRuns in a READ ONLY transaction that is rolled back, so it can never change data. Use $1, $2… placeholders with `params`. Results are capped (see `truncated`).",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "query",
        positional: &["sql", "params"],
        shape: None,
    }],
};

pub(super) async fn read_query(ctx: Ctx, a: QueryArgs) -> ToolResult<QueryResult> {
    let out = execute(
        &ctx,
        &a.sql,
        &a.params,
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    Ok(out.into_result())
}

pub(super) const WRITE_QUERY: Spec = Spec {
    name: "pg_write_query",
    title: "Run a statement that changes data",
    description: "Run one INSERT, UPDATE, DELETE, DDL or other statement and return rows affected (and rows, with RETURNING).\nUse $1, $2… placeholders with `params`. Pass `transactionId` to run inside an open transaction.",
    hints: DESTRUCTIVE,
    shortcuts: &[Shortcut {
        name: "execute",
        positional: &["sql", "params"],
        shape: None,
    }],
};

/// What a statement changed and, when it returns rows (RETURNING), the rows as
/// `pg_read_query` gives them.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WriteResult {
    /// The rows the statement returned; absent, with `rowCount`, when it returns none
    /// (no RETURNING).
    #[serde(flatten)]
    pub returned: Option<QueryResult>,
    /// Rows inserted, updated or deleted (for other statements, what PostgreSQL reports).
    pub rows_affected: u64,
}

pub(super) async fn write_query(ctx: Ctx, a: QueryArgs) -> ToolResult<WriteResult> {
    let out = execute(
        &ctx,
        &a.sql,
        &a.params,
        a.transaction_id.as_deref(),
        Mode::Write,
    )
    .await?;
    let rows_affected = out.affected;
    let has_rows = !out.rows.is_empty() || !out.columns.is_empty();
    Ok(WriteResult {
        returned: has_rows.then(|| out.into_result()),
        rows_affected,
    })
}
