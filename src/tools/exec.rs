//! How every tool runs SQL: one place decides between autocommit, a READ ONLY
//! transaction and a pinned explicit transaction.

use serde_json::Value;

use crate::db::catalog_policy::{Args, GENERIC_PLAN_SQL, Policy, RESTORE_PLAN_SQL};
use crate::db::ident::quote_ident;
use crate::db::pool::PolicyStatements;
use crate::db::pool::{Conn, end_read_sql, may_load_library};
use crate::db::read_policy::{ReadCheck, check_read_only};
use crate::db::transactions::transaction_control;
use crate::db::{QueryOutput, run_prepared, run_query};
use crate::error::{Category, Code, ToolError, ToolResult};
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
        let fence = policy_wanted(ctx, mode) && !tx.read_only;
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
        if mode == Mode::Write && !ctx.read_only && may_load_library(sql) {
            // Closed instead of reused when the transaction ends (`pool::may_load_library`);
            // decided before the statement runs, so an error cannot skip it.
            tx.client.discard();
        }
        // No syntax-error round trip to the server here (see `read_policy`): a failed Parse
        // would abort the pinned transaction, and the policy keeps it usable.
        // A transaction the caller opened READ ONLY by choice (in unrestricted mode) is left
        // to PostgreSQL: there the caller may write anyway, so it is no boundary.
        let policy = if policy_wanted(ctx, mode) {
            Some(statement_policy(ctx, sql)?)
        } else {
            None
        };
        // The catalog policy with its prepared query on this connection (taken before
        // `client` borrows the connection).
        let catalog = match (&policy, catalog_policy(ctx)) {
            (Some(_), Some(catalog)) => Some((
                catalog,
                tx.client
                    .policy_statements()
                    .await
                    .map_err(ToolError::from)?,
            )),
            _ => None,
        };
        let client: &tokio_postgres::Client = &tx.client;
        let role = set_role_sql(ctx);
        let plan_only = role.is_some() && plans_a_write_only(sql);
        let set_role = role.clone().filter(|_| !plan_only);
        let guard = ctx.db().cancel_guard(client);
        // Every outcome, errors included, goes through `guard.disarm()` below: a guard dropped
        // armed sends a cancel request that arrives later, on whatever this connection runs
        // next (after the transaction ends, another caller's statement).
        let result = async {
            if fence {
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
                    Some(check) => {
                        match catalog_check(catalog.as_ref(), client, sql, check).await {
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
                    // A READ ONLY pinned transaction runs as the read-only role from its
                    // BEGIN (`pg_transaction_begin`); set again before each read, so a
                    // statement that got a `RESET ROLE` through cannot leave the rest of the
                    // transaction running as the connecting role.
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
                    catalog_check(catalog.as_ref(), client, sql, check).await?;
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
    // In a Code Mode execution, a read goes to the execution's read session when it can
    // take it (`read_session`).
    if let (Some(check), Some(session)) = (&policy, &ctx.session)
        && let Some(out) = session.read(ctx, sql, params, check).await
    {
        return out;
    }
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let conn = guard.client();
    let out = if let Some(check) = &policy {
        let set_role = set_role_sql(ctx).filter(|_| !plans_a_write_only(sql));
        // A READ ONLY transaction of its own, always rolled back.
        let scope = ReadScope {
            open: &|guarded| begin_read_only(guarded, set_role.as_deref()),
            abandon: "ROLLBACK",
            close: &end_read_sql(),
        };
        checked_read(catalog_policy(ctx), conn, sql, params, check, caps, &scope)
            .await
            .and_then(|read| read)
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
    if out.as_ref().is_ok_and(|o| o.large_row) {
        guard.disarm_discard();
    } else if read && out.is_ok() {
        guard.disarm_clean();
    } else {
        guard.disarm();
    }
    out
}

/// The texts that put one read in and out of its READ ONLY scope: a transaction of its own
/// on a pooled connection ([`execute`]), a savepoint in a Code Mode execution's read
/// session (`read_session::FENCE`).
pub(crate) struct ReadScope<'a> {
    /// Opens the scope; its argument says whether the catalog guard runs in it (then the
    /// text also sets the guard's plan settings).
    pub open: &'a (dyn Fn(bool) -> String + Sync),
    /// Ends the scope when the statement was not run (the full path found it unsafe).
    pub abandon: &'a str,
    /// Ends the scope after the statement ran.
    pub close: &'a str,
}

/// One read of `sql` under the catalog policy, in `scope`. With the statement already
/// prepared on `conn` by an earlier read of the same text ([`Conn::cached`]), that is one
/// round trip ([`run_cached`]): `scope.open` with the catalog policy's guard, the
/// statement's Bind/Execute and `scope.close` are sent together. PostgreSQL runs them in
/// order, so the statement still runs only after the scope took its snapshot, and a guard
/// that finds an object the policy has not shown safe fails, which aborts the scope before
/// the statement can run (see `catalog_policy::GUARD_SQL`); the read then takes the full
/// path ([`run_fresh`]), which examines the object and either runs the statement or refuses
/// it. The outer `Err` means opening or closing the scope failed; the inner result is the
/// read's own.
pub(crate) async fn checked_read(
    policy: Option<&Policy>,
    conn: &mut Conn,
    sql: &str,
    params: &[Value],
    check: &ReadCheck,
    caps: crate::db::Caps,
    scope: &ReadScope<'_>,
) -> ToolResult<ToolResult<QueryOutput>> {
    let checking = checking(policy, conn, sql, check).await?;
    let open = (scope.open)(checking.is_some());
    if let Some(stmt) = conn.cached(sql) {
        let ran = run_cached(
            conn,
            sql,
            &stmt,
            checking.as_ref(),
            params,
            caps.clone(),
            &open,
            scope.close,
        )
        .await?;
        if let Some(out) = ran {
            return Ok(out);
        }
    }
    // First read of this text on this connection (or the guard asked for an examination).
    let fresh = run_fresh(
        conn,
        policy.zip(checking.as_ref()),
        sql,
        params,
        check,
        caps,
        &open,
        scope.abandon,
        scope.close,
    )
    .await?;
    Ok(match fresh {
        Fresh::Ran(out) => out,
        Fresh::NotRun(e) => Err(e),
    })
}

/// The catalog policy's prepared queries on a connection, and what to bind to them for one
/// statement.
pub(crate) type Checking = (PolicyStatements, Args);

/// The catalog policy's check of `sql` for a read on `conn`: none when there is no policy or
/// when the statement names nothing the catalog could resolve to a function (`SELECT 1`; see
/// [`ReadCheck::names_nothing`](crate::db::read_policy::ReadCheck::names_nothing)).
pub(crate) async fn checking(
    policy: Option<&Policy>,
    conn: &mut Conn,
    sql: &str,
    check: &ReadCheck,
) -> ToolResult<Option<Checking>> {
    if check.names_nothing {
        return Ok(None);
    }
    Ok(match policy.map(|p| p.args(sql, check)) {
        Some(args) => Some((
            conn.policy_statements().await.map_err(ToolError::from)?,
            args,
        )),
        None => None,
    })
}

/// A statement prepared on `conn` by an earlier read, run in one flight: `open` (which puts
/// the read in its READ ONLY transaction or savepoint, with the plan settings of the guard
/// when there is one), the guard, the settings restored, the statement's Bind/Execute and
/// `close` (which rolls it back). `Ok(None)`: the guard found something to examine, or the
/// schema changed under the statement (forgotten here); the caller takes the full path.
/// `Err`: `open` or `close` failed.
#[allow(clippy::too_many_arguments)]
async fn run_cached(
    conn: &mut Conn,
    sql: &str,
    stmt: &tokio_postgres::Statement,
    checking: Option<&Checking>,
    params: &[Value],
    caps: crate::db::Caps,
    open: &str,
    close: &str,
) -> ToolResult<Option<ToolResult<QueryOutput>>> {
    let client: &tokio_postgres::Client = conn;
    let guard = async {
        match checking {
            Some((statements, args)) => client
                .query(&statements.guard, &args.refs())
                .await
                .map(drop),
            None => Ok(()),
        }
    };
    let restore = async {
        match checking {
            Some(_) => client.batch_execute(RESTORE_PLAN_SQL).await,
            None => Ok(()),
        }
    };
    // join! polls in order and each request is sent at its future's first poll, so they are
    // queued in this order: the statement plans with the settings restored, and a failed
    // guard has aborted the (sub)transaction before the statement could run.
    let (opened, guarded, restored, out, closed) = tokio::join!(
        maybe_batch(client, open),
        guard,
        restore,
        run_prepared(client, stmt, params, caps),
        client.batch_execute(close)
    );
    closed.map_err(ToolError::from)?;
    opened.map_err(ToolError::from)?;
    match (guarded.and(restored), out) {
        // The guard refused (division by zero): the statement did not run. The full path
        // finds out why.
        (Err(e), _) if crate::db::transactions::sqlstate(&e) == Some("22012") => Ok(None),
        (Err(e), _) => Ok(Some(Err(ToolError::from(e)))),
        // The schema changed under the prepared statement: its result columns ("cached plan
        // must not change result type"), or the parameter types a fresh Parse would now
        // infer. Prepare afresh rather than report what a new statement would not.
        (Ok(()), Err(e))
            if e.sqlstate
                .as_deref()
                .is_some_and(|s| s == "0A000" || s.starts_with("42")) =>
        {
            conn.forget(sql);
            Ok(None)
        }
        (Ok(()), out) => Ok(Some(out)),
    }
}

/// `text` as one simple query, or nothing when it is empty (a scope with nothing to open:
/// an empty query would still cost PostgreSQL a message and an answer).
async fn maybe_batch(
    client: &tokio_postgres::Client,
    text: &str,
) -> Result<(), tokio_postgres::Error> {
    if text.is_empty() {
        return Ok(());
    }
    client.batch_execute(text).await
}

/// `BEGIN READ ONLY` and the switch to the read-only role (`set_role`, from
/// [`set_role_sql`]) in one simple-query text; then, when the catalog policy's prepared query
/// follows (`policy`), the settings it runs with ([`GENERIC_PLAN_SQL`]; that query takes the
/// transaction's first snapshot), and otherwise a `SELECT 1` that takes it. After the first
/// snapshot PostgreSQL refuses to switch the transaction to read-write. A failed
/// `SET LOCAL ROLE` aborts the transaction, so the statement queued behind it cannot run as
/// the connecting role.
pub(crate) fn begin_read_only(policy: bool, set_role: Option<&str>) -> String {
    let next = if policy { GENERIC_PLAN_SQL } else { "SELECT 1" };
    let mut text = String::from("BEGIN READ ONLY");
    for part in [set_role, Some(next)].into_iter().flatten() {
        text.push_str("; ");
        text.push_str(part);
    }
    text
}

/// `SET LOCAL ROLE` to `--read-only-role`, when one is configured. LOCAL: it ends with the
/// read's transaction (or savepoint), so the session is back to the connecting role for
/// the session reset and for the next caller.
pub fn set_role_sql(ctx: &Ctx) -> Option<String> {
    ctx.env
        .config
        .read_only_role
        .as_deref()
        .map(|role| format!("SET LOCAL ROLE {}", quote_ident(role)))
}

/// Whether `sql` is a plain `EXPLAIN` (no ANALYZE) of INSERT, UPDATE, DELETE or MERGE.
/// PostgreSQL checks the write privilege when it plans such a statement, which the
/// read-only role must not have, so these plan as the connecting role, still in the READ
/// ONLY transaction that is rolled back, and only after the statement policy passed the
/// whole `EXPLAIN`: planning executes nothing but immutable and stable functions the
/// planner may fold (or evaluate for a selectivity estimate), and the policy has refused
/// every such function that could read files or run SQL from a string (`table_to_xml` is
/// STABLE) and every user function it cannot show safe.
pub fn plans_a_write_only(sql: &str) -> bool {
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
    if ctx.env.config.unsafe_test_only_skip_read_policy {
        return Ok(ReadCheck::default());
    }
    check_read_only(sql)
}

/// A failed `SET LOCAL ROLE` as an error that names the flag and the one-time setup;
/// other errors unchanged.
pub fn role_error(ctx: &Ctx, e: tokio_postgres::Error) -> ToolError {
    role_tool_error(ctx, ToolError::from(e))
}

pub(crate) fn role_tool_error(ctx: &Ctx, e: ToolError) -> ToolError {
    let Some(role) = ctx.env.config.read_only_role.as_deref() else {
        return e;
    };
    // 22023: the role does not exist; 42501: the connecting role may not SET to it.
    let about_role = matches!(e.sqlstate.as_deref(), Some("22023") | Some("42501"))
        && (e.error.contains(&format!("role \"{role}\""))
            || e.error.contains("permission denied to set role"));
    if !about_role {
        // Any other privilege error of a read is the read-only role's, not the connecting
        // role's: say so, or the caller is told to connect differently.
        if e.sqlstate.as_deref() == Some("42501") {
            let mut e = e;
            e.suggestion = Some(format!(
                "Reads run as the read-only role {role} (--read-only-role), which lacks this privilege; it is refused on purpose unless the operator grants it to that role."
            ));
            return e;
        }
        return e;
    }
    let mut out = ToolError::new(
        Category::Permission,
        Code::ReadOnlyRoleUnusable,
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

/// Whether a statement of this mode in this context passes the statement policy.
fn policy_wanted(ctx: &Ctx, mode: Mode) -> bool {
    mode == Mode::Read || ctx.read_only
}

/// The catalog half of the statement policy, unless a test switched the policy off.
pub(crate) fn catalog_policy(ctx: &Ctx) -> Option<&Policy> {
    (!ctx.env.config.unsafe_test_only_skip_read_policy).then(|| &ctx.db().read_policy)
}

/// A read of a statement not yet prepared on this connection, in two round trips (more
/// only when the catalog policy meets objects it has not examined yet): `BEGIN READ ONLY`
/// travels with the Parse of the statement (parsing executes nothing), and only once BEGIN
/// and the policy's check have succeeded are the statement's Bind/Execute sent, with the
/// ROLLBACK queued right behind them. The user's statement therefore never runs outside the
/// read-only transaction, and nothing it did (SET included) survives: the ROLLBACK also
/// releases session advisory locks (`end_read_sql`), so after a successful read the pooled
/// connection needs no reset.
///
/// The query that travels with BEGIN is the catalog policy's candidate list
/// (`db/catalog_policy.rs`): it takes the transaction's first snapshot, after which
/// PostgreSQL refuses to switch it to read-write (`SET TRANSACTION READ WRITE`,
/// `set_config(...)`), and whatever it lists is examined in the same transaction.
///
///
/// `open` puts the read in its READ ONLY transaction (pooled reads: `BEGIN READ ONLY`…) or
/// savepoint (the read session), followed by [`GENERIC_PLAN_SQL`] when the policy checks;
/// `abandon` ends it when the statement does not run; `close` is queued right behind the
/// statement. `Err`: one of those failed. The prepared statement goes to the connection's
/// cache.
#[allow(clippy::too_many_arguments)]
async fn run_fresh(
    conn: &mut Conn,
    policy: Option<(&Policy, &Checking)>,
    sql: &str,
    params: &[Value],
    check: &ReadCheck,
    caps: crate::db::Caps,
    open: &str,
    abandon: &str,
    close: &str,
) -> ToolResult<Fresh> {
    let client: &tokio_postgres::Client = conn;
    let candidates = async {
        match policy {
            Some((_, (statements, args))) => client
                .query(&statements.candidates, &args.refs())
                .await
                .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect()),
            None => Ok(Vec::new()),
        }
    };
    let (opened, listed, prepared) =
        tokio::join!(maybe_batch(client, open), candidates, client.prepare(sql));
    // Nothing to end, and the statement must not run.
    opened.map_err(ToolError::from)?;
    // The candidate list goes before the Parse: if it failed, so did everything after it.
    // A failed Parse aborted the (sub)transaction, so nothing more can be looked up in it;
    // the statement is not going to run either way, and PostgreSQL's own error says why.
    let checked = match (listed, prepared, policy) {
        (Err(e), _, _) => Err(ToolError::from(e)),
        (Ok(_), Err(e), _) => Err(ToolError::from(e)),
        (Ok(pending), Ok(stmt), Some((policy, _))) => policy
            .verify(client, sql, check, pending)
            .await
            .map(|()| stmt),
        (Ok(_), Ok(stmt), None) => Ok(stmt),
    };
    let stmt = match checked {
        Ok(stmt) => stmt,
        Err(e) => {
            client
                .batch_execute(abandon)
                .await
                .map_err(ToolError::from)?;
            return Ok(Fresh::NotRun(e));
        }
    };
    // join! polls in order: the settings are restored before the statement's Bind/Execute,
    // which is sent before `close` is queued.
    let restore = async {
        match policy {
            Some(_) => client.batch_execute(RESTORE_PLAN_SQL).await,
            None => Ok(()),
        }
    };
    let (restored, out, closed) = tokio::join!(
        restore,
        run_prepared(client, &stmt, params, caps),
        client.batch_execute(close)
    );
    closed.map_err(ToolError::from)?;
    restored.map_err(ToolError::from)?;
    conn.remember(sql, stmt);
    Ok(Fresh::Ran(out))
}

/// What [`run_fresh`] did with the statement.
enum Fresh {
    /// It ran: its result.
    Ran(ToolResult<QueryOutput>),
    /// It was refused by the policy or could not be prepared, and did not run.
    NotRun(ToolError),
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

/// In a transaction that is already read-only, the catalog policy's check of `sql` (see
/// `db/catalog_policy.rs`).
async fn catalog_check(
    catalog: Option<&(&Policy, PolicyStatements)>,
    client: &tokio_postgres::Client,
    sql: &str,
    check: &ReadCheck,
) -> ToolResult<()> {
    let Some((policy, statements)) = catalog.filter(|_| !check.names_nothing) else {
        return Ok(());
    };
    // The candidate query with its plan settings (see `GENERIC_PLAN_SQL`), restored right
    // after it. Inside a pinned READ ONLY transaction nobody else set them (the policy refuses
    // SET in reads); inside a fence the savepoint's rollback restores them anyway.
    let args = policy.args(sql, check);
    let refs = args.refs();
    let (set, rows, restored) = tokio::join!(
        client.batch_execute(GENERIC_PLAN_SQL),
        client.query(&statements.candidates, &refs),
        client.batch_execute(RESTORE_PLAN_SQL)
    );
    set.map_err(ToolError::from)?;
    let rows = rows.map_err(ToolError::from)?;
    restored.map_err(ToolError::from)?;
    let pending = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    policy.verify(client, sql, check, pending).await
}

/// Runs a statement written by pgmcp itself (DDL built from quoted identifiers) with no
/// parameters, honouring the read-only capability.
pub async fn execute_ddl(ctx: &Ctx, sql: &str) -> ToolResult<u64> {
    Ok(execute(ctx, sql, &[], None, Mode::Write).await?.affected)
}

/// The statement policy (both halves) for `sql`, on a connection the caller holds inside a
/// transaction it began READ ONLY: the check a read gets before it runs, for tools that
/// must run several statements on one session (plan comparison under settings).
pub async fn check_read_in_transaction(ctx: &Ctx, conn: &mut Conn, sql: &str) -> ToolResult<()> {
    let check = statement_policy(ctx, sql)?;
    let Some(policy) = catalog_policy(ctx) else {
        return Ok(());
    };
    let statements = conn.policy_statements().await.map_err(ToolError::from)?;
    let client: &tokio_postgres::Client = conn;
    catalog_check(Some(&(policy, statements)), client, sql, &check).await
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
