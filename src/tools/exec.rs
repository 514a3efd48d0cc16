//! How every tool runs SQL: one place decides between autocommit, a READ ONLY
//! transaction and a pinned explicit transaction.

use serde_json::Value;

use crate::db::pool::{Conn, END_READ_SQL};
use crate::db::read_policy::{
    FunctionRef, ReadCheck, check_read_only, volatility_guard_sql, volatility_lookup_sql,
    volatility_violation,
};
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
        // No syntax-error round trip to the server here (see `read_policy`): a failed Parse
        // would abort the pinned transaction, and the policy keeps it usable.
        // A transaction the caller opened READ ONLY by choice (in unrestricted mode) is left
        // to PostgreSQL: there the caller may write anyway, so it is no boundary.
        let policy = if mode == Mode::Read || ctx.read_only {
            Some(check_read_only(sql)?)
        } else {
            None
        };
        let guard = ctx.db().cancel_guard(client);
        let result = if fence {
            client
                .batch_execute("SAVEPOINT pgmcp_read_fence; SET LOCAL transaction_read_only = on")
                .await
                .map_err(ToolError::from)?;
            let out = match &policy {
                Some(check) => match refuse_volatile(client, check).await {
                    Ok(()) => run_query(client, sql, params, caps.clone()).await,
                    Err(e) => Err(e),
                },
                None => run_query(client, sql, params, caps).await,
            };
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
            if let Some(check) = &policy {
                refuse_volatile(client, check).await?;
            }
            run_query(client, sql, params, caps).await
        };
        guard.disarm();
        tx.touch();
        // The pinned connection's read buffer grew to a large row: close it at the end.
        tx.large_row |= result.as_ref().is_ok_and(|o| o.large_row);
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
    let read = mode == Mode::Read || ctx.read_only;
    // Refused statements never take a connection.
    let policy = if read {
        Some(read_policy(ctx, sql).await?)
    } else {
        None
    };
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let conn = guard.client();
    let out = if let Some(check) = &policy {
        read_only(conn, sql, params, check, caps).await
    } else {
        run_query(&***conn, sql, params, caps).await
    };
    // A read that succeeded ended with END_READ_SQL: its session needs no reset.
    if out.as_ref().is_ok_and(|o| o.large_row) {
        guard.disarm_discard();
    } else if read && out.is_ok() {
        guard.disarm_clean();
    } else {
        guard.disarm();
    }
    out
}

/// A read in a READ ONLY transaction that is always rolled back. With the statement already
/// prepared on this connection by an earlier read of the same text ([`Conn::cached`]), that
/// is one round trip: `BEGIN READ ONLY` with the volatility guard (or `SELECT 1`), the
/// statement's Bind/Execute and [`END_READ_SQL`] are sent together. PostgreSQL runs them in
/// order, so the statement still runs only after the transaction took its first snapshot,
/// and a guard that finds a volatile function fails, which aborts the transaction before
/// the statement can run (see `volatility_guard_sql`). Otherwise see
/// [`read_only_pipelined`].
async fn read_only(
    conn: &mut Conn,
    sql: &str,
    params: &[Value],
    check: &ReadCheck,
    caps: crate::db::Caps,
) -> ToolResult<QueryOutput> {
    if let Some(stmt) = conn.cached(sql) {
        let functions = &check.needs_volatility_check;
        let begin = begin_read_only(functions, volatility_guard_sql);
        let client: &tokio_postgres::Client = conn;
        // join! polls in order, so the three requests are queued in this order.
        let (begun, out, ended) = tokio::join!(
            client.batch_execute(&begin),
            run_prepared(client, &stmt, params, caps.clone()),
            client.batch_execute(END_READ_SQL)
        );
        ended.map_err(ToolError::from)?;
        if let Err(e) = begun {
            // The transaction was aborted before the statement: it did not run. Say which
            // function was refused.
            if !functions.is_empty() {
                let rows = client
                    .simple_query(&volatility_lookup_sql(functions))
                    .await
                    .map_err(ToolError::from)?;
                if let Some(refusal) = volatility_violation(functions, &name_pairs(&rows)) {
                    return Err(refusal);
                }
            }
            return Err(ToolError::from(e));
        }
        match out {
            // The schema changed under the prepared statement: its result columns ("cached
            // plan must not change result type"), or the parameter types a fresh Parse would
            // now infer. Prepare afresh rather than report what a new statement would not.
            Err(e)
                if e.sqlstate
                    .as_deref()
                    .is_some_and(|s| s == "0A000" || s.starts_with("42")) =>
            {
                conn.forget(sql);
            }
            out => return out,
        }
    }
    let (out, stmt) = read_only_pipelined(conn, sql, params, check, caps).await?;
    conn.remember(sql, stmt);
    out
}

/// `BEGIN READ ONLY` and the query that takes the transaction's first snapshot: the
/// volatility check `check_sql` makes of `functions`, or `SELECT 1` when there are none.
fn begin_read_only(functions: &[FunctionRef], check_sql: fn(&[FunctionRef]) -> String) -> String {
    let first = if functions.is_empty() {
        "SELECT 1".to_string()
    } else {
        check_sql(functions)
    };
    format!("BEGIN READ ONLY; {first}")
}

/// The `(schema, name)` rows of [`volatility_lookup_sql`].
fn name_pairs(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) if r.len() == 2 => Some((
                r.get(0).unwrap_or_default().to_string(),
                r.get(1).unwrap_or_default().to_string(),
            )),
            _ => None,
        })
        .collect()
}

/// A read in a READ ONLY transaction that is always rolled back, in two round trips:
/// `BEGIN READ ONLY` travels with the Parse of the statement (parsing executes nothing),
/// and only once BEGIN has succeeded are the statement's Bind/Execute sent, with the
/// ROLLBACK queued right behind them. The user's statement therefore never runs outside
/// the read-only transaction, and nothing it did (SET included) survives: the ROLLBACK
/// also releases session advisory locks (`END_READ_SQL`), so after a successful read the
/// pooled connection needs no reset.
///
/// The query that travels with BEGIN is the volatility lookup of the functions the
/// statement calls (`db/read_policy.rs`), or `SELECT 1` when there are none: either way it
/// takes the transaction's first snapshot, after which PostgreSQL refuses to switch it to
/// read-write (`SET TRANSACTION READ WRITE`, `set_config(...)`).
///
/// Returns the prepared statement too (when preparing succeeded), for the connection's cache.
async fn read_only_pipelined(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[Value],
    check: &ReadCheck,
    caps: crate::db::Caps,
) -> ToolResult<(ToolResult<QueryOutput>, tokio_postgres::Statement)> {
    let begin = begin_read_only(&check.needs_volatility_check, volatility_lookup_sql);
    let (begun, prepared) = tokio::join!(client.simple_query(&begin), client.prepare(sql));
    // BEGIN failed: nothing to roll back, and the statement must not run.
    let messages = begun.map_err(ToolError::from)?;
    let refused = volatility_violation(&check.needs_volatility_check, &name_pairs(&messages));
    // A refusal wins over a parse error: the statement is not going to run either way.
    let stmt = match refused.map_or(prepared.map_err(ToolError::from), Err) {
        Ok(stmt) => stmt,
        Err(e) => {
            client
                .batch_execute("ROLLBACK")
                .await
                .map_err(ToolError::from)?;
            return Err(e);
        }
    };
    // join! polls the query first, which sends its Bind/Execute before ROLLBACK is queued.
    let (out, rolled_back) = tokio::join!(
        run_prepared(client, &stmt, params, caps),
        client.batch_execute(END_READ_SQL)
    );
    rolled_back.map_err(ToolError::from)?;
    Ok((out, stmt))
}

/// The read-only policy's verdict on `sql`. A syntax error is handed to PostgreSQL to word
/// (a Parse executes nothing), so the caller gets the server's message and error position;
/// if the server would accept what libpg_query rejected, the statement is still refused.
async fn read_policy(ctx: &Ctx, sql: &str) -> ToolResult<ReadCheck> {
    match check_read_only(sql) {
        Err(e) if e.code == "SYNTAX_ERROR" && e.details.is_none() => {
            match ctx.db().client().await?.prepare(sql).await {
                Err(pg) => Err(ToolError::from(pg)),
                Ok(_) => Err(e),
            }
        }
        other => other,
    }
}

/// In a transaction that is already read-only, refuses the statement when it calls a
/// volatile function outside pg_catalog (see `db/read_policy.rs`).
async fn refuse_volatile(client: &tokio_postgres::Client, check: &ReadCheck) -> ToolResult<()> {
    if check.needs_volatility_check.is_empty() {
        return Ok(());
    }
    let rows = client
        .query(&volatility_lookup_sql(&check.needs_volatility_check), &[])
        .await
        .map_err(ToolError::from)?;
    let volatile: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    match volatility_violation(&check.needs_volatility_check, &volatile) {
        Some(e) => Err(e),
        None => Ok(()),
    }
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
