//! The read-only statement policy: what a read may be, decided on PostgreSQL's own grammar.
//!
//! PostgreSQL already refuses writes inside the READ ONLY transaction every read runs in
//! (`tools/exec.rs`). That alone does not stop what READ ONLY does not cover: reading server
//! files, large objects written to disk, session-level advisory locks that outlive the
//! rollback, dblink connections that are not read-only, signalling other backends, reloading
//! the configuration. So before a read executes, its text is parsed with libpg_query (the
//! server's parser, via the `pg_query` crate) and must be one reading statement:
//!
//! - `SELECT` / `VALUES` / `TABLE`, with no data-modifying CTE, no `FOR UPDATE/SHARE`, no
//!   `INTO`;
//! - `EXPLAIN` of such a statement, or of any plannable statement without `ANALYZE`
//!   (planning a write executes nothing);
//! - `SHOW`.
//!
//! Every function it calls, anywhere in the tree, is checked by name against [`DENIED`], and
//! every name that could resolve outside `pg_catalog` is returned so the caller can look up
//! its volatility in `pg_proc` inside the same read-only transaction (see
//! [`volatility_lookup_sql`]): a volatile user or extension function may do anything its
//! author wrote, so it is refused.
//!
//! The tree is walked through its serde representation, which covers every node type the
//! grammar can produce; a hand-written visitor would have to be kept complete by hand.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use postgres_protocol::escape::escape_literal;
use serde_json::{Value, json};

use crate::error::{Category, ToolError, ToolResult};

/// A function named in a statement, as written (the parser has already folded unquoted
/// names to lower case and decoded `U&"…"` escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    pub schema: Option<String>,
    pub name: String,
}

impl FunctionRef {
    fn display(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What the parser found in an allowed statement.
#[derive(Debug, Default, Clone)]
pub struct ReadCheck {
    /// Functions whose volatility must be checked in `pg_proc` before the statement runs.
    pub needs_volatility_check: Vec<FunctionRef>,
}

/// Functions refused in read-only mode whatever their volatility, with why. A trailing `*`
/// matches a prefix. Names are compared in lower case and regardless of schema, so neither
/// `PG_CATALOG.Pg_Read_File` nor a same-named function elsewhere gets through.
pub const DENIED: &[(&str, &str)] = &[
    // Server files.
    ("pg_read_file", "reads files on the database server"),
    ("pg_read_binary_file", "reads files on the database server"),
    ("pg_stat_file", "inspects files on the database server"),
    ("pg_ls_*", "lists directories on the database server"),
    (
        "pg_file_*",
        "writes files on the database server (adminpack)",
    ),
    ("pg_logdir_ls", "lists the server's log directory"),
    ("pg_current_logfile", "reveals the server's log file path"),
    // Large objects: lo_export writes server files, lo_import reads them.
    (
        "lo_*",
        "large-object functions read and write server files and objects",
    ),
    (
        "loread",
        "large-object functions read and write server files and objects",
    ),
    (
        "lowrite",
        "large-object functions read and write server files and objects",
    ),
    // Other connections, which are not inside our read-only transaction.
    ("dblink*", "opens another connection that is not read-only"),
    // Locks that outlive the transaction on a pooled connection.
    (
        "pg_advisory_*",
        "takes advisory locks that outlive the read-only transaction",
    ),
    (
        "pg_try_advisory_*",
        "takes advisory locks that outlive the read-only transaction",
    ),
    // Configuration and server control.
    ("set_config", "changes server settings"),
    ("pg_reload_conf", "reloads the server configuration"),
    ("pg_rotate_logfile", "controls the server's logging"),
    ("pg_log_backend_memory_contexts", "writes to the server log"),
    ("pg_promote", "promotes a standby"),
    ("pg_switch_wal", "forces a WAL switch"),
    ("pg_create_restore_point", "writes to the WAL"),
    ("pg_logical_emit_message", "writes to the WAL"),
    ("pg_backup_start", "controls backups"),
    ("pg_backup_stop", "controls backups"),
    ("pg_start_backup", "controls backups"),
    ("pg_stop_backup", "controls backups"),
    ("pg_wal_replay_*", "controls WAL replay"),
    ("pg_import_system_collations", "writes to the catalog"),
    ("pg_extension_config_dump", "writes to the catalog"),
    // Other sessions.
    ("pg_terminate_backend", "terminates other sessions"),
    ("pg_cancel_backend", "cancels other sessions' queries"),
    ("pg_signal_backend", "signals other sessions"),
    // Replication state persists outside the transaction.
    ("pg_create_*_replication_slot", "creates replication slots"),
    ("pg_copy_*_replication_slot", "creates replication slots"),
    ("pg_drop_replication_slot", "drops replication slots"),
    ("pg_replication_slot_advance", "moves a replication slot"),
    (
        "pg_logical_slot_get_*",
        "consumes changes from a replication slot",
    ),
    ("pg_replication_origin_*", "changes replication origins"),
    // Statistics resets are not transactional.
    ("pg_stat_reset*", "resets statistics"),
    ("pg_stat_statements_reset", "resets statistics"),
    ("pg_stat_kcache_reset", "resets statistics"),
    // Sequences advance outside transactions.
    ("nextval", "advances a sequence"),
    ("setval", "changes a sequence"),
    ("pg_notify", "sends notifications"),
    // SQL from a string runs where this policy cannot see it.
    ("query_to_xml*", "runs SQL given as a string"),
    ("query_to_xmlschema", "runs SQL given as a string"),
    ("cursor_to_xml*", "reads from a cursor opened elsewhere"),
];

/// What `EXPLAIN` without `ANALYZE` may plan: planning executes none of it.
const PLANNABLE: &[&str] = &[
    "SelectStmt",
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
    "CreateTableAsStmt",
    "DeclareCursorStmt",
];

/// Statement kinds that pass, named for messages.
const READING: &str = "SELECT, VALUES, TABLE, EXPLAIN (ANALYZE only of a read) or SHOW";

/// Checks that `sql` is one statement a read-only call may run. On success, returns the
/// functions whose volatility the caller must still check (see [`volatility_violation`]).
///
/// The verdict depends on the text alone, and agents repeat statements (a Code Mode loop
/// runs one query with other parameters), so verdicts are cached: parsing and walking a
/// 200-character query costs ~70 µs in release builds, a cache hit well under 1 µs.
pub fn check_read_only(sql: &str) -> ToolResult<ReadCheck> {
    const MAX_ENTRIES: usize = 512;
    const MAX_KEY: usize = 8 * 1024;
    static CACHE: LazyLock<Mutex<HashMap<String, ToolResult<ReadCheck>>>> =
        LazyLock::new(Mutex::default);
    if sql.len() > MAX_KEY {
        return analyse(sql);
    }
    if let Some(hit) = CACHE.lock().ok().and_then(|c| c.get(sql).cloned()) {
        return hit;
    }
    let verdict = analyse(sql);
    if let Ok(mut cache) = CACHE.lock() {
        // Wholesale eviction keeps this simple; a working set over 512 distinct statements
        // only costs re-parsing.
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(sql.to_string(), verdict.clone());
    }
    verdict
}

fn analyse(sql: &str) -> ToolResult<ReadCheck> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(parse_error)?;
    let tree = serde_json::to_value(&parsed.protobuf).map_err(|e| {
        ToolError::internal(format!("could not inspect the statement's parse tree: {e}"))
    })?;
    let stmts = tree["stmts"].as_array().cloned().unwrap_or_default();
    if stmts.len() > 1 {
        let mut err = ToolError::new(
            Category::Database,
            "SYNTAX_ERROR",
            format!(
                "cannot run multiple commands in one call: the text holds {} statements",
                stmts.len()
            ),
        )
        .suggest("Send each statement in its own call.")
        .with_details(json!({ "statements": stmts.len() }));
        err.sqlstate = Some("42601".into());
        return Err(err);
    }
    let Some(stmt) = stmts.first().map(|s| &s["stmt"]["node"]) else {
        // Empty text or only comments: PostgreSQL answers it with an empty result.
        return Ok(ReadCheck::default());
    };
    let (kind, body) = node_kind(stmt).unwrap_or(("", &Value::Null));
    let mut walk = Walk::default();
    match kind {
        "SelectStmt" => walk.visit(stmt),
        "VariableShowStmt" => {}
        "ExplainStmt" => {
            let inner = &body["query"]["node"];
            let inner_kind = node_kind(inner).map_or("", |(k, _)| k);
            if explain_analyzes(body) {
                // ANALYZE executes the statement: it must itself be a read. (PostgreSQL
                // runs `EXPLAIN ANALYZE CREATE TABLE … AS` even in a READ ONLY transaction.)
                if inner_kind != "SelectStmt" {
                    return Err(not_a_read(inner_kind));
                }
            } else {
                if !PLANNABLE.contains(&inner_kind) {
                    return Err(not_a_read(inner_kind));
                }
                walk.writes_allowed = true;
            }
            walk.visit(inner);
            walk.visit_options(body);
        }
        _ => return Err(not_a_read(kind)),
    }
    walk.finish()
}

/// The volatile functions outside the catalog schemas, `p` and `n` for the predicates that
/// [`volatility_lookup_sql`] and [`volatility_guard_sql`] add.
const VOLATILE_OUTSIDE_CATALOG: &str = "FROM pg_catalog.pg_proc p \
     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
     WHERE p.provolatile = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')";

/// The SQL that fetches, among `functions`, the volatile ones outside `pg_catalog`, as rows
/// `(nspname, proname)`. Runs inside the read-only transaction, as its first query (which
/// also takes the snapshot that keeps the transaction read-only).
pub fn volatility_lookup_sql(functions: &[FunctionRef]) -> String {
    let names: Vec<String> = functions.iter().map(|f| escape_literal(&f.name)).collect();
    format!(
        "SELECT n.nspname, p.proname {VOLATILE_OUTSIDE_CATALOG} AND p.proname IN ({})",
        names.join(", ")
    )
}

/// One statement that fails (division by zero) exactly when [`volatility_violation`] would
/// refuse one of `functions`. Sent inside the read's transaction ahead of a statement that
/// is already prepared and pipelined behind it, its failure aborts the transaction, so the
/// statement cannot run (`tools::exec`).
pub fn volatility_guard_sql(functions: &[FunctionRef]) -> String {
    let matches: Vec<String> = functions
        .iter()
        .map(|f| match &f.schema {
            Some(schema) => format!(
                "(n.nspname = {} AND p.proname = {})",
                escape_literal(schema),
                escape_literal(&f.name)
            ),
            None => format!("p.proname = {}", escape_literal(&f.name)),
        })
        .collect();
    format!(
        "SELECT 1 / (NOT EXISTS (SELECT {VOLATILE_OUTSIDE_CATALOG} AND ({})))::int",
        matches.join(" OR ")
    )
}

/// Given the rows of [`volatility_lookup_sql`], the error for the first called function that
/// is volatile, if any. An unqualified name counts when any schema has a volatile function
/// of that name: resolution depends on the search path, so we assume the worst.
pub fn volatility_violation(
    functions: &[FunctionRef],
    volatile: &[(String, String)],
) -> Option<ToolError> {
    let hit = functions.iter().find(|f| {
        volatile
            .iter()
            .any(|(schema, name)| *name == f.name && f.schema.as_ref().is_none_or(|s| s == schema))
    })?;
    Some(
        refusal(format!(
            "read-only mode refuses {}(): it is a VOLATILE function outside pg_catalog, which may change data or state",
            hit.display()
        ))
        .suggest("Declare the function STABLE or IMMUTABLE if it only reads, or call it in unrestricted mode through a write tool.")
        .with_details(json!({ "function": hit.display(), "reason": "volatile" })),
    )
}

/// A refusal carries SQLSTATE 25006 (read_only_sql_transaction), the code PostgreSQL
/// gives the writes it refuses itself, so callers branch on one code for both layers.
fn refusal(message: impl Into<String>) -> ToolError {
    let mut err = ToolError::permission(message);
    err.sqlstate = Some("25006".into());
    err
}

fn parse_error(e: pg_query::Error) -> ToolError {
    let message = match e {
        pg_query::Error::Parse(m) => m,
        // The parse tree crosses from C as protobuf, whose decoder stops at 100 nested
        // messages (lifting that limit lets deep input overflow the stack). Refusing is the
        // safe answer: what cannot be inspected does not run.
        pg_query::Error::Decode(e) if e.to_string().contains("recursion limit") => {
            return ToolError::new(
                Category::Limit,
                "SQL_TOO_DEEP",
                "read-only mode could not check this statement: its expression nesting is too deep to inspect (about 45 chained operators or 25 nested subqueries)",
            )
            .suggest("Split the expression (e.g. use a CTE, sum(), concat() or array functions instead of long operator chains).");
        }
        other => other.to_string(),
    };
    let mut err = ToolError::new(Category::Database, "SYNTAX_ERROR", message)
        .suggest("Fix the SQL; PostgreSQL's own grammar rejected it.");
    err.sqlstate = Some("42601".into());
    err
}

/// The node type (`"SelectStmt"`, …) of a serialized `Node` oneof, and its body.
fn node_kind(node: &Value) -> Option<(&str, &Value)> {
    node.as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.as_str(), v))
}

fn not_a_read(kind: &str) -> ToolError {
    let what = statement_name(kind);
    refusal(format!(
        "read-only mode refuses {what}: only {READING} may run here"
    ))
    .suggest(
        "Read with a SELECT. Changes need a write tool (pg_execute_query…) with the server in unrestricted access mode, and Code Mode without readonly.",
    )
    .with_details(json!({ "statement": what }))
}

/// `InsertStmt` → `INSERT`; `VariableSetStmt` → `SET`… for messages a model will read.
fn statement_name(kind: &str) -> String {
    let known = match kind {
        "InsertStmt" => "INSERT",
        "UpdateStmt" => "UPDATE",
        "DeleteStmt" => "DELETE",
        "MergeStmt" => "MERGE",
        "CopyStmt" => "COPY",
        "DoStmt" => "DO",
        "CallStmt" => "CALL",
        "VariableSetStmt" => "SET",
        "TransactionStmt" => "a transaction-control statement",
        "PrepareStmt" => "PREPARE",
        "ExecuteStmt" => "EXECUTE",
        "ListenStmt" => "LISTEN",
        "NotifyStmt" => "NOTIFY",
        "LockStmt" => "LOCK",
        "LoadStmt" => "LOAD",
        "DeclareCursorStmt" => "DECLARE CURSOR",
        "CreateTableAsStmt" => "CREATE TABLE AS",
        "TruncateStmt" => "TRUNCATE",
        "VacuumStmt" => "VACUUM/ANALYZE",
        "DiscardStmt" => "DISCARD",
        "" => "this statement",
        other => {
            let base = other.strip_suffix("Stmt").unwrap_or(other);
            return format!("a {base} statement");
        }
    };
    known.to_string()
}

fn explain_analyzes(explain: &Value) -> bool {
    explain["options"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|opt| {
            let Some(("DefElem", d)) = node_kind(&opt["node"]) else {
                return false;
            };
            d["defname"].as_str() == Some("analyze") && !def_elem_is_false(&d["arg"])
        })
}

/// `ANALYZE`, `ANALYZE true`, `ANALYZE on`, `ANALYZE 1` all enable it; only an explicit
/// false/off/0 disables it.
fn def_elem_is_false(arg: &Value) -> bool {
    match node_kind(&arg["node"]) {
        Some(("Boolean", b)) => b["boolval"].as_bool() == Some(false),
        Some(("String", s)) => {
            matches!(
                s["sval"].as_str().map(str::to_ascii_lowercase).as_deref(),
                Some("false" | "off" | "no" | "0")
            )
        }
        Some(("Integer", i)) => i["ival"].as_i64().unwrap_or(0) == 0,
        _ => false,
    }
}

#[derive(Default)]
struct Walk {
    /// Inside `EXPLAIN` without `ANALYZE`, where a write is only planned.
    writes_allowed: bool,
    violation: Option<ToolError>,
    functions: Vec<FunctionRef>,
}

impl Walk {
    fn finish(self) -> ToolResult<ReadCheck> {
        if let Some(err) = self.violation {
            return Err(err);
        }
        let needs_volatility_check = self
            .functions
            .into_iter()
            .filter(|f| f.schema.as_deref() != Some("pg_catalog"))
            .collect();
        Ok(ReadCheck {
            needs_volatility_check,
        })
    }

    /// EXPLAIN's own options hold no calls, but walking them keeps the rule "everything in
    /// the tree is visited" without exceptions.
    fn visit_options(&mut self, explain: &Value) {
        if let Some(opts) = explain.get("options") {
            self.visit(opts);
        }
    }

    fn visit(&mut self, v: &Value) {
        if self.violation.is_some() {
            return;
        }
        match v {
            Value::Object(map) => {
                for (key, child) in map {
                    self.on_node(key, child);
                    if self.violation.is_some() {
                        return;
                    }
                    self.visit(child);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.visit(item);
                }
            }
            _ => {}
        }
    }

    fn on_node(&mut self, key: &str, body: &Value) {
        match key {
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" if !self.writes_allowed => {
                let what = statement_name(key);
                self.violation = Some(
                    refusal(format!(
                        "read-only mode refuses {what}, here inside a reading statement (a data-modifying WITH clause or EXPLAIN ANALYZE)"
                    ))
                    .suggest("Remove the write; run changes through a write tool in unrestricted mode.")
                    .with_details(json!({ "statement": what })),
                );
            }
            "SelectStmt" => {
                if body["locking_clause"]
                    .as_array()
                    .is_some_and(|l| !l.is_empty())
                {
                    self.violation = Some(
                        refusal(
                            "read-only mode refuses SELECT … FOR UPDATE/SHARE: row locks are a write",
                        )
                        .suggest("Drop the locking clause; a plain SELECT reads the same rows.")
                        .with_details(json!({ "statement": "SELECT FOR UPDATE" })),
                    );
                } else if !body["into_clause"].is_null() && !self.writes_allowed {
                    self.violation = Some(
                        refusal("read-only mode refuses SELECT … INTO: it creates a table")
                            .suggest("Drop INTO to get the rows back.")
                            .with_details(json!({ "statement": "SELECT INTO" })),
                    );
                }
            }
            "FuncCall" => {
                let parts: Vec<String> = body["funcname"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n["node"]["String"]["sval"].as_str().map(str::to_string))
                    .collect();
                let Some((name, qualifiers)) = parts.split_last() else {
                    return;
                };
                let f = FunctionRef {
                    schema: qualifiers.last().cloned(),
                    name: name.clone(),
                };
                if let Some(reason) = denied(&f.name) {
                    self.violation = Some(
                        refusal(format!(
                            "read-only mode refuses {}(): it {reason}",
                            f.display()
                        ))
                        .suggest("Leave this function out; it is never available to reads.")
                        .with_details(json!({ "function": f.display(), "reason": reason })),
                    );
                } else if !self.functions.contains(&f) {
                    self.functions.push(f);
                }
            }
            _ => {}
        }
    }
}

/// Why `name` is on the deny list, if it is.
pub fn denied(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    DENIED.iter().find_map(|(pattern, reason)| {
        let hit = match pattern.split_once('*') {
            Some((prefix, suffix)) => {
                lower.len() >= prefix.len() + suffix.len()
                    && lower.starts_with(prefix)
                    && lower.ends_with(suffix)
            }
            None => lower == *pattern,
        };
        hit.then_some(*reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str) -> ToolError {
        match check_read_only(sql) {
            Ok(c) => panic!("{sql:?} passed: {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn reading_statements_pass() {
        for sql in [
            "select 1",
            "values (1), (2)",
            "table pg_class",
            "with x as (select 1) select * from x",
            "explain select 1",
            "explain (analyze, buffers) select * from pg_class",
            "explain delete from t",
            "explain (analyze false) update t set a = 1",
            "show search_path",
            "select pg_size_pretty(pg_total_relation_size('t'))",
            "",
            "-- only a comment",
        ] {
            check_read_only(sql).unwrap_or_else(|e| panic!("{sql:?} refused: {e}"));
        }
    }

    #[test]
    fn writes_and_side_effects_are_refused() {
        for (sql, needle) in [
            ("insert into t values (1)", "INSERT"),
            (
                "with d as (delete from t returning *) select * from d",
                "DELETE",
            ),
            ("select * from t for update", "FOR UPDATE"),
            ("select * into t2 from t", "INTO"),
            ("explain analyze insert into t values (1)", "INSERT"),
            ("explain (analyze on) delete from t", "DELETE"),
            (
                "explain analyze create table x as select 1",
                "CREATE TABLE AS",
            ),
            (
                "explain analyze declare c cursor with hold for select 1",
                "DECLARE CURSOR",
            ),
            ("set default_transaction_read_only = off", "SET"),
            ("copy t to program 'id'", "COPY"),
            ("do $$ begin end $$", "DO"),
            ("select pg_read_file('/etc/passwd')", "pg_read_file"),
            ("select * from PG_CATALOG.\"pg_ls_dir\"('.')", "pg_ls_dir"),
            ("select U&\"pg\\005fread_file\"('x')", "pg_read_file"),
            ("select 1 where pg_try_advisory_lock(1)", "advisory"),
            ("select 1; select 2", "multiple commands"),
            (
                format!("select {}", vec!["1"; 200].join(" + ")).as_str(),
                "too deep",
            ),
        ] {
            let e = refused(sql);
            assert!(
                e.error.contains(needle) || e.to_json().to_string().contains(needle),
                "{sql:?}: {e}"
            );
        }
    }

    #[test]
    fn syntax_errors_keep_postgres_wording() {
        let e = refused("selec 1");
        assert_eq!(e.code, "SYNTAX_ERROR");
        assert!(e.error.contains("syntax error at or near"), "{e}");
    }

    #[test]
    fn non_catalog_functions_are_returned_for_the_volatility_check() {
        let c = check_read_only("select lower('x'), app.f(1), pg_catalog.now()").unwrap();
        let names: Vec<String> = c
            .needs_volatility_check
            .iter()
            .map(FunctionRef::display)
            .collect();
        assert_eq!(names, ["lower", "app.f"]);
        let rows = [("app".to_string(), "f".to_string())];
        assert!(volatility_violation(&c.needs_volatility_check, &rows).is_some());
        let other_schema = [("other".to_string(), "f".to_string())];
        assert!(volatility_violation(&c.needs_volatility_check, &other_schema).is_none());
        let lookup = volatility_lookup_sql(&c.needs_volatility_check);
        assert!(lookup.contains("IN ('lower', 'f')"), "{lookup}");
    }
}
