//! How every tool runs SQL: one place decides between autocommit, a READ ONLY
//! transaction and a pinned explicit transaction.

use serde_json::Value;

use crate::db::catalog_policy::Policy;
use crate::db::pool::{Conn, END_READ_SQL};
use crate::db::read_policy::{ReadCheck, check_read_only};
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
        // Every outcome, errors included, goes through `guard.disarm()` below: a guard dropped
        // armed sends a cancel request that arrives later, on whatever this connection runs
        // next (after the transaction ends, another caller's statement).
        let result = async {
            if fence {
                client
                    .batch_execute(
                        "SAVEPOINT pgmcp_read_fence; SET LOCAL transaction_read_only = on",
                    )
                    .await
                    .map_err(ToolError::from)?;
                let out = match &policy {
                    Some(check) => {
                        match catalog_check(&ctx.db().read_policy, client, sql, check).await {
                            Ok(()) => run_query(client, sql, params, caps).await,
                            Err(e) => Err(e),
                        }
                    }
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
                    catalog_check(&ctx.db().read_policy, client, sql, check).await?;
                }
                run_query(client, sql, params, caps).await
            }
        }
        .await;
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
        read_only(&ctx.db().read_policy, conn, sql, params, check, caps).await
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
/// is one round trip: `BEGIN READ ONLY` with the catalog policy's guard, the statement's
/// Bind/Execute and [`END_READ_SQL`] are sent together. PostgreSQL runs them in order, so the
/// statement still runs only after the transaction took its first snapshot, and a guard that
/// finds an object the policy has not shown safe fails, which aborts the transaction before
/// the statement can run (see `Policy::guard_sql`); the read then takes the full path, which
/// examines the object and either runs the statement or refuses it. Otherwise see
/// [`read_only_pipelined`].
async fn read_only(
    policy: &Policy,
    conn: &mut Conn,
    sql: &str,
    params: &[Value],
    check: &ReadCheck,
    caps: crate::db::Caps,
) -> ToolResult<QueryOutput> {
    if let Some(stmt) = conn.cached(sql) {
        let begin = begin_read_only(&policy.guard_sql(sql, check));
        let client: &tokio_postgres::Client = conn;
        // join! polls in order, so the three requests are queued in this order.
        let (begun, out, ended) = tokio::join!(
            client.batch_execute(&begin),
            run_prepared(client, &stmt, params, caps.clone()),
            client.batch_execute(END_READ_SQL)
        );
        ended.map_err(ToolError::from)?;
        match (begun, out) {
            // The guard refused (division by zero): the statement did not run. The full path
            // finds out why.
            (Err(e), _) if crate::db::transactions::sqlstate(&e) == Some("22012") => {}
            (Err(e), _) => return Err(ToolError::from(e)),
            // The schema changed under the prepared statement: its result columns ("cached
            // plan must not change result type"), or the parameter types a fresh Parse would
            // now infer. Prepare afresh rather than report what a new statement would not.
            (Ok(()), Err(e))
                if e.sqlstate
                    .as_deref()
                    .is_some_and(|s| s == "0A000" || s.starts_with("42")) =>
            {
                conn.forget(sql);
            }
            (Ok(()), out) => return out,
        }
    }
    let (out, stmt) = read_only_pipelined(policy, conn, sql, params, check, caps).await?;
    conn.remember(sql, stmt);
    out
}

/// `BEGIN READ ONLY` and the query that takes the transaction's first snapshot (the catalog
/// policy's check), in one simple-query text.
fn begin_read_only(first: &str) -> String {
    format!("BEGIN READ ONLY; {first}")
}

/// The single-column rows of a simple query (the candidates of the catalog policy).
fn first_column(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect()
}

/// A read in a READ ONLY transaction that is always rolled back, in two round trips (more
/// only when the catalog policy meets objects it has not examined yet): `BEGIN READ ONLY`
/// travels with the Parse of the statement (parsing executes nothing), and only once BEGIN
/// and the policy's check have succeeded are the statement's Bind/Execute sent, with the
/// ROLLBACK queued right behind them. The user's statement therefore never runs outside the
/// read-only transaction, and nothing it did (SET included) survives: the ROLLBACK also
/// releases session advisory locks (`END_READ_SQL`), so after a successful read the pooled
/// connection needs no reset.
///
/// The query that travels with BEGIN is the catalog policy's candidate list
/// (`db/catalog_policy.rs`): it takes the transaction's first snapshot, after which
/// PostgreSQL refuses to switch it to read-write (`SET TRANSACTION READ WRITE`,
/// `set_config(...)`), and whatever it lists is examined in the same transaction.
///
/// Returns the prepared statement too (when preparing succeeded), for the connection's cache.
async fn read_only_pipelined(
    policy: &Policy,
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[Value],
    check: &ReadCheck,
    caps: crate::db::Caps,
) -> ToolResult<(ToolResult<QueryOutput>, tokio_postgres::Statement)> {
    let begin = begin_read_only(&policy.candidates_sql(sql, check));
    let (begun, prepared) = tokio::join!(client.simple_query(&begin), client.prepare(sql));
    // BEGIN failed: nothing to roll back, and the statement must not run.
    let messages = begun.map_err(ToolError::from)?;
    // A failed Parse aborted the transaction, so nothing more can be looked up in it; the
    // statement is not going to run either way, and PostgreSQL's own error says why.
    let checked = match &prepared {
        Ok(_) => {
            policy
                .verify(client, sql, check, first_column(&messages))
                .await
        }
        Err(_) => Ok(()),
    };
    let stmt = match checked.and(prepared.map_err(ToolError::from)) {
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

/// In a transaction that is already read-only, the catalog policy's check of `sql` (see
/// `db/catalog_policy.rs`).
async fn catalog_check(
    policy: &Policy,
    client: &tokio_postgres::Client,
    sql: &str,
    check: &ReadCheck,
) -> ToolResult<()> {
    let rows = client
        .query(&policy.candidates_sql(sql, check), &[])
        .await
        .map_err(ToolError::from)?;
    let pending = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    policy.verify(client, sql, check, pending).await
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
