//! How every tool runs SQL: one place decides between autocommit, a READ ONLY
//! transaction and a pinned explicit transaction.

use serde_json::Value;

use crate::db::ident::quote_ident;
use crate::db::pool::{Conn, end_read_sql, may_load_library};
use crate::db::read_policy::{
    FunctionRef, ReadCheck, check_read_only, volatility_guard_sql, volatility_lookup_sql,
    volatility_violation,
};
use crate::db::transactions::transaction_control;
use crate::db::{QueryOutput, run_prepared, run_query};
use crate::error::{Category, ToolError, ToolResult};
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
            Some(statement_policy(ctx, sql)?)
        } else {
            None
        };
        let role = set_role_sql(ctx);
        let plan_only = role.is_some() && plans_a_write_only(sql);
        let set_role = role.clone().filter(|_| !plan_only);
        let guard = ctx.db().cancel_guard(client);
        let result = if fence {
            // The role too is undone by the ROLLBACK TO SAVEPOINT below.
            client
                .batch_execute(&format!(
                    "SAVEPOINT pgmcp_read_fence; SET LOCAL transaction_read_only = on{}",
                    set_role
                        .as_deref()
                        .map(|s| format!("; {s}"))
                        .unwrap_or_default()
                ))
                .await
                .map_err(|e| role_error(ctx, e))?;
            let out = match &policy {
                Some(check) => match refuse_volatile(client, check).await {
                    Ok(()) => run_query(client, sql, params, caps).await,
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
                // A READ ONLY pinned transaction runs as the read-only role from its BEGIN
                // (`pg_transaction_begin`); set again before each read, so a statement that
                // got a `RESET ROLE` through cannot leave the rest of the transaction
                // running as the connecting role.
                let again = match (&role, plan_only) {
                    (Some(_), true) => Some("SET LOCAL ROLE NONE".to_string()),
                    (role, _) => role.clone(),
                };
                if let Some(set_role) = &again {
                    client
                        .batch_execute(set_role)
                        .await
                        .map_err(|e| role_error(ctx, e))?;
                }
                refuse_volatile(client, check).await?;
            } else if may_load_library(sql) {
                // Decided before the statement runs, so an error cannot skip it.
                tx.client.discard();
            }
            let client: &tokio_postgres::Client = &tx.client;
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
        let set_role = set_role_sql(ctx).filter(|_| !plans_a_write_only(sql));
        read_only(conn, sql, params, check, caps, set_role.as_deref())
            .await
            .map_err(|e| role_tool_error(ctx, e))
    } else {
        // Earlier callers' read texts must be gone before this caller's SQL runs.
        conn.forget_all();
        if may_load_library(sql) {
            conn.discard();
        }
        run_query(&***conn, sql, params, caps).await
    };
    // A read that succeeded ended with end_read_sql(): its session needs no reset.
    if read && out.is_ok() {
        guard.disarm_clean();
    } else {
        guard.disarm();
    }
    out
}

/// A read in a READ ONLY transaction that is always rolled back. With the statement already
/// prepared on this connection by an earlier read of the same text ([`Conn::cached`]), that
/// is one round trip: `BEGIN READ ONLY` with the volatility guard (or `SELECT 1`), the
/// statement's Bind/Execute and [`end_read_sql`] are sent together. PostgreSQL runs them in
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
    set_role: Option<&str>,
) -> ToolResult<QueryOutput> {
    if let Some(stmt) = conn.cached(sql) {
        let functions = &check.needs_volatility_check;
        let begin = begin_read_only(functions, volatility_guard_sql, set_role);
        let end = end_read_sql();
        let client: &tokio_postgres::Client = conn;
        // join! polls in order, so the three requests are queued in this order.
        let (begun, out, ended) = tokio::join!(
            client.batch_execute(&begin),
            run_prepared(client, &stmt, params, caps),
            client.batch_execute(&end)
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
    let (out, stmt) = read_only_pipelined(conn, sql, params, check, caps, set_role).await?;
    conn.remember(sql, stmt);
    out
}

/// `BEGIN READ ONLY`, the switch to the read-only role (`set_role`, from [`set_role_sql`]),
/// and the query that takes the transaction's first snapshot: the volatility check
/// `check_sql` makes of `functions`, or `SELECT 1` when there are none. One simple-query
/// message: a failed `SET LOCAL ROLE` aborts the transaction, so the statement queued
/// behind it cannot run as the connecting role.
fn begin_read_only(
    functions: &[FunctionRef],
    check_sql: fn(&[FunctionRef]) -> String,
    set_role: Option<&str>,
) -> String {
    let first = if functions.is_empty() {
        "SELECT 1".to_string()
    } else {
        check_sql(functions)
    };
    match set_role {
        Some(set_role) => format!("BEGIN READ ONLY; {set_role}; {first}"),
        None => format!("BEGIN READ ONLY; {first}"),
    }
}

/// `SET LOCAL ROLE` to `--read-only-role`, when one is configured. LOCAL: it ends with the
/// read's transaction (or savepoint), so the session is back to the connecting role for
/// the session reset and for the next caller.
pub fn set_role_sql(ctx: &Ctx) -> Option<String> {
    ctx.app
        .config
        .read_only_role
        .as_deref()
        .map(|role| format!("SET LOCAL ROLE {}", quote_ident(role)))
}

/// Whether `sql` is a plain `EXPLAIN` (no ANALYZE) of INSERT, UPDATE, DELETE or MERGE.
/// PostgreSQL checks the write privilege when it plans such a statement, which the
/// read-only role must not have, so these plan as the connecting role, still in the READ
/// ONLY transaction that is rolled back. Planning executes nothing but immutable and
/// stable functions the planner may fold; every function that reads files, runs SQL from
/// a string, or reaches dblink, slots or statistics is VOLATILE.
fn plans_a_write_only(sql: &str) -> bool {
    use pg_query::NodeEnum;
    if !sql
        .trim_start()
        .get(..7)
        .is_some_and(|w| w.eq_ignore_ascii_case("explain"))
    {
        return false;
    }
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return false;
    };
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return false;
    };
    let Some(NodeEnum::ExplainStmt(explain)) = raw.stmt.as_ref().and_then(|n| n.node.as_ref())
    else {
        return false;
    };
    let analyze = explain.options.iter().any(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) if d.defname.eq_ignore_ascii_case("analyze") => {
            match d.arg.as_ref().and_then(|a| a.node.as_ref()) {
                None => true,
                Some(NodeEnum::Boolean(b)) => b.boolval,
                Some(NodeEnum::Integer(i)) => i.ival != 0,
                Some(NodeEnum::String(v)) => {
                    !["false", "off", "no", "0"].contains(&v.sval.to_ascii_lowercase().as_str())
                }
                // Anything else: assume it analyzes, so the role stays.
                Some(_) => true,
            }
        }
        _ => false,
    });
    !analyze
        && matches!(
            explain.query.as_ref().and_then(|q| q.node.as_ref()),
            Some(
                NodeEnum::InsertStmt(_)
                    | NodeEnum::UpdateStmt(_)
                    | NodeEnum::DeleteStmt(_)
                    | NodeEnum::MergeStmt(_)
            )
        )
}

/// The parse-time statement policy's verdict, unless a test switched the policy off to
/// show that the other layers hold alone (`Config::unsafe_test_only_skip_read_policy`,
/// which no flag or variable sets).
fn statement_policy(ctx: &Ctx, sql: &str) -> ToolResult<ReadCheck> {
    if ctx.app.config.unsafe_test_only_skip_read_policy {
        return Ok(ReadCheck::default());
    }
    check_read_only(sql)
}

/// A failed `SET LOCAL ROLE` as an error that names the flag and the one-time setup;
/// other errors unchanged.
pub fn role_error(ctx: &Ctx, e: tokio_postgres::Error) -> ToolError {
    role_tool_error(ctx, ToolError::from(e))
}

fn role_tool_error(ctx: &Ctx, e: ToolError) -> ToolError {
    let Some(role) = ctx.app.config.read_only_role.as_deref() else {
        return e;
    };
    // 22023: the role does not exist; 42501: the connecting role may not SET to it.
    let about_role = matches!(e.sqlstate.as_deref(), Some("22023") | Some("42501"))
        && (e.error.contains(&format!("role \"{role}\""))
            || e.error.contains("permission denied to set role"));
    if !about_role {
        return e;
    }
    let mut out = ToolError::new(
        Category::Permission,
        "READ_ONLY_ROLE_UNUSABLE",
        format!(
            "--read-only-role {role}: reads cannot switch to it ({})",
            e.error
        ),
    )
    .suggest(format!(
        "Create the role and let the connecting role use it, once, as a superuser: CREATE ROLE {q} NOLOGIN IN ROLE pg_read_all_data, pg_read_all_stats; GRANT {q} TO <connecting role>; or start pgmcp without --read-only-role.",
        q = quote_ident(role)
    ))
    .recoverable(false);
    out.sqlstate = e.sqlstate;
    out
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
/// also releases session advisory locks (`end_read_sql`), so after a successful read the
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
    set_role: Option<&str>,
) -> ToolResult<(ToolResult<QueryOutput>, tokio_postgres::Statement)> {
    let begin = begin_read_only(
        &check.needs_volatility_check,
        volatility_lookup_sql,
        set_role,
    );
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
    let end = end_read_sql();
    let (out, rolled_back) = tokio::join!(
        run_prepared(client, &stmt, params, caps),
        client.batch_execute(&end)
    );
    rolled_back.map_err(ToolError::from)?;
    Ok((out, stmt))
}

/// The read-only policy's verdict on `sql`. A syntax error is handed to PostgreSQL to word
/// (a Parse executes nothing), so the caller gets the server's message and error position;
/// if the server would accept what libpg_query rejected, the statement is still refused.
async fn read_policy(ctx: &Ctx, sql: &str) -> ToolResult<ReadCheck> {
    match statement_policy(ctx, sql) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_plain_explains_of_writes() {
        for sql in [
            "EXPLAIN DELETE FROM t",
            "explain (format json) update t set x = 1",
            "EXPLAIN (ANALYZE off) INSERT INTO t VALUES (1)",
            "EXPLAIN (ANALYZE false, COSTS off) DELETE FROM t",
        ] {
            assert!(plans_a_write_only(sql), "{sql}");
        }
        for sql in [
            "EXPLAIN SELECT 1",
            "EXPLAIN ANALYZE DELETE FROM t",
            "EXPLAIN (ANALYZE) DELETE FROM t",
            "EXPLAIN (ANALYZE on) DELETE FROM t",
            "EXPLAIN (ANALYZE 1) DELETE FROM t",
            "DELETE FROM t",
            "EXPLAIN DELETE FROM t; SELECT 1",
        ] {
            assert!(!plans_a_write_only(sql), "{sql}");
        }
    }
}
