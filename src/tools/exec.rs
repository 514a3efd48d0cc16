//! How every tool runs SQL: one place decides between autocommit, a READ ONLY
//! transaction and a pinned explicit transaction.

use serde_json::Value;

use crate::db::transactions::transaction_control;
use crate::db::{QueryOutput, run_prepared, run_query};
use crate::error::{ToolError, ToolResult};
use crate::tools::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Must not change anything: runs in a READ ONLY transaction that is rolled back.
    Read,
    /// May change data: autocommit, unless the call is read-only (then PostgreSQL refuses).
    Write,
}

/// Runs one statement for a tool. With `tx_id`, it runs inside that pinned transaction;
/// a `Read` there is fenced by a savepoint in which the transaction is read-only, so even
/// a read-write transaction cannot be written through a read tool.
pub async fn execute(
    ctx: &Ctx,
    sql: &str,
    params: &[Value],
    tx_id: Option<&str>,
    mode: Mode,
) -> ToolResult<QueryOutput> {
    let caps = ctx.caps();
    if let Some(id) = tx_id.or(ctx.transaction.as_deref()) {
        let slot = ctx.db().transactions.get(id)?;
        let mut tx = slot.lock().await;
        tx.touch();
        let fence = (mode == Mode::Read || ctx.read_only) && !tx.read_only;
        if let Some(keyword) = transaction_control(sql) {
            // A COMMIT or ROLLBACK here would end the transaction behind the registry's back:
            // the pinned connection would go on in autocommit, outside any read-only
            // transaction, and a read could commit earlier writes.
            return Err(ToolError::invalid(format!(
                "{keyword} cannot be run inside a pinned transaction through a query tool"
            ))
            .suggest(
                "End the transaction with pg_transaction_commit or pg_transaction_rollback.",
            ));
        }
        let client: &tokio_postgres::Client = &tx.client;
        let guard = ctx.db().cancel_guard(client);
        let result = if fence {
            client
                .batch_execute("SAVEPOINT pgmcp_read_fence; SET LOCAL transaction_read_only = on")
                .await
                .map_err(ToolError::from)?;
            let out = run_query(client, sql, params, caps).await;
            // Undoes the read-only switch (and anything the statement did); the outer
            // transaction continues as it was.
            client
                .batch_execute(
                    "ROLLBACK TO SAVEPOINT pgmcp_read_fence; RELEASE SAVEPOINT pgmcp_read_fence",
                )
                .await
                .map_err(ToolError::from)?;
            out
        } else {
            run_query(client, sql, params, caps).await
        };
        guard.disarm();
        tx.touch();
        // A fenced statement's error was rolled back to the savepoint: the transaction
        // is still usable, so it must not be called aborted.
        return result.map_err(|e| if fence { e } else { in_transaction(e, id) });
    }
    // Outside a pinned transaction, BEGIN/COMMIT/SAVEPOINT… would either do nothing useful
    // or leave a pooled connection inside a transaction block that later calls inherit.
    if let Some(keyword) = transaction_control(sql) {
        return Err(ToolError::invalid(format!(
            "{keyword} cannot be run on its own: every call without a transactionId runs on a pooled connection in autocommit"
        ))
        .suggest("Use pg_transaction_begin, pass its transactionId to each statement, then pg_transaction_commit or pg_transaction_rollback."));
    }
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let client = guard.client();
    let read = mode == Mode::Read || ctx.read_only;
    let out = if read {
        read_only_pipelined(client, sql, params, caps).await
    } else {
        run_query(&***client, sql, params, caps).await
    };
    // A read that succeeded ended with END_READ_SQL: its session needs no reset.
    if read && out.is_ok() {
        guard.disarm_clean();
    } else {
        guard.disarm();
    }
    out
}

/// A read in a READ ONLY transaction that is always rolled back, in two round trips:
/// `BEGIN READ ONLY` travels with the Parse of the statement (parsing executes nothing),
/// and only once BEGIN has succeeded are the statement's Bind/Execute sent, with the
/// ROLLBACK queued right behind them. The user's statement therefore never runs outside
/// the read-only transaction, and nothing it did (SET included) survives: the ROLLBACK
/// also releases session advisory locks (`END_READ_SQL`), so after a successful read the
/// pooled connection needs no reset.
async fn read_only_pipelined(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[Value],
    caps: crate::db::Caps,
) -> ToolResult<QueryOutput> {
    // The SELECT takes the transaction's first snapshot, after which PostgreSQL refuses to
    // switch it to read-write (`SET TRANSACTION READ WRITE`, `set_config(...)`).
    let (begun, prepared) = tokio::join!(
        client.batch_execute("BEGIN READ ONLY; SELECT 1"),
        client.prepare(sql)
    );
    begun.map_err(ToolError::from)?;
    let stmt = match prepared {
        Ok(stmt) => stmt,
        Err(e) => {
            client
                .batch_execute("ROLLBACK")
                .await
                .map_err(ToolError::from)?;
            return Err(ToolError::from(e));
        }
    };
    // join! polls the query first, which sends its Bind/Execute before ROLLBACK is queued.
    let (out, rolled_back) = tokio::join!(
        run_prepared(client, &stmt, params, caps),
        client.batch_execute(crate::db::pool::END_READ_SQL)
    );
    rolled_back.map_err(ToolError::from)?;
    out
}

/// Runs a statement written by pgmcp itself (DDL built from quoted identifiers) with no
/// parameters, honouring the read-only capability.
pub async fn execute_ddl(ctx: &Ctx, sql: &str) -> ToolResult<u64> {
    Ok(execute(ctx, sql, &[], None, Mode::Write).await?.affected)
}

/// Rows of a catalog query as JSON, read-only.
pub async fn read_rows(ctx: &Ctx, sql: &str, params: &[Value]) -> ToolResult<Vec<Value>> {
    let out = execute(ctx, sql, params, None, Mode::Read).await?;
    Ok(out
        .rows
        .into_iter()
        .map(|r| Value::Object(crate::db::compact(r)))
        .collect())
}

fn in_transaction(mut e: ToolError, id: &str) -> ToolError {
    if e.sqlstate.is_some() && e.suggestion.is_none() {
        e.suggestion = Some(format!(
            "The transaction {id} is now aborted: call pg_transaction_rollback (or pg_transaction_rollback_to a savepoint) before continuing."
        ));
    }
    e
}
