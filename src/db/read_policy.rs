//! The read-only statement policy, parse half: what a read may be, decided on PostgreSQL's own
//! grammar.
//!
//! PostgreSQL already refuses writes inside the READ ONLY transaction every read runs in
//! (`tools/exec.rs`), and with `--read-only-role` the read runs as a role without dangerous
//! privileges. Neither stops a function that does what READ ONLY does not cover (reading server
//! files, dblink, signalling backends, advancing sequences, WAL, replication slots…), so reads
//! are also default-deny on functions. Before a read executes, its text is parsed with
//! libpg_query (the server's parser, via the `pg_query` crate) and must be one reading
//! statement:
//!
//! - `SELECT` / `VALUES` / `TABLE`, with no data-modifying CTE, no `FOR UPDATE/SHARE`, no
//!   `INTO`;
//! - `EXPLAIN` of such a statement, or of any plannable statement without `ANALYZE`
//!   (planning a write executes none of it, but may fold functions: they are checked too);
//! - `SHOW`.
//!
//! Every function called by name is looked up in the reviewed classification
//! (`function_policy.rs`): a denied built-in is refused here, whatever schema it is written
//! with. Everything else through which PostgreSQL could execute a function is collected as
//! [`Names`] (calls, field notation, operators, relations read) for the catalog half
//! (`catalog_policy.rs`), which resolves them against the database inside the read's own
//! transaction and refuses anything it cannot show is safe.
//!
//! The tree is walked through its serde representation, which covers every node type the
//! grammar can produce; a hand-written visitor would have to be kept complete by hand.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Value, json};

use crate::db::function_policy::{Builtin, CLASSIFICATION};
use crate::error::{Category, Code, ToolError, ToolResult};

/// The names in a statement through which PostgreSQL may execute a function, collected from
/// the parse tree for the catalog check (`db/catalog_policy.rs`), which looks each of them up
/// in the database: a name alone cannot say which function, operator or view it resolves to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Names {
    /// Functions called by name (ordinary calls, aggregates, window functions, set-returning
    /// functions in FROM, function-style casts), without schema: every schema is checked.
    pub funcs: BTreeSet<String>,
    /// Names used in field notation (`t.f`, `(t).f`): PostgreSQL resolves `t.f` to `f(t)`
    /// when `t` has no column `f`.
    pub fields: BTreeSet<String>,
    /// Operators, explicit and the comparison operators PostgreSQL applies implicitly
    /// (IN, BETWEEN, CASE, ORDER BY, GROUP BY, DISTINCT, joins).
    pub ops: BTreeSet<String>,
    /// Relations read: a view executes its query, a table with row security its policies.
    pub rels: BTreeSet<String>,
    /// Tables a planned-only write (EXPLAIN without ANALYZE) targets: planning folds their
    /// column defaults, which may call functions.
    pub targets: BTreeSet<String>,
    /// Types named anywhere (casts, XMLTABLE columns, column definition lists): a cast may run
    /// a cast function, and converting a value to a domain runs its CHECK constraints.
    pub types: BTreeSet<String>,
}

impl Names {
    pub fn extend(&mut self, other: &Names) {
        self.funcs.extend(other.funcs.iter().cloned());
        self.fields.extend(other.fields.iter().cloned());
        self.ops.extend(other.ops.iter().cloned());
        self.rels.extend(other.rels.iter().cloned());
        self.targets.extend(other.targets.iter().cloned());
        self.types.extend(other.types.iter().cloned());
    }

    /// Whether `other` adds nothing to `self`.
    pub fn covers(&self, other: &Names) -> bool {
        other.funcs.is_subset(&self.funcs)
            && other.fields.is_subset(&self.fields)
            && other.ops.is_subset(&self.ops)
            && other.rels.is_subset(&self.rels)
            && other.targets.is_subset(&self.targets)
            && other.types.is_subset(&self.types)
    }
}

/// What the parser found in an allowed statement: the names the catalog check must resolve.
#[derive(Debug, Default, Clone)]
pub struct ReadCheck {
    pub names: Arc<Names>,
    /// The statement names nothing the catalog could resolve to a function: no function,
    /// field, operator, relation, write target or type, and no construct that compares by
    /// the name `=` (a simple `CASE`, a join's `USING` or `NATURAL`). Its values are then
    /// literals and parameters of built-in types, and what it compares implicitly (`ORDER
    /// BY`, `DISTINCT`, `GROUP BY`, `UNION`) goes through those types' default operator
    /// classes, which only a superuser can create: the catalog guard has nothing to examine
    /// and is left out (`tools::exec::checking`). `names` still lists the implicit
    /// comparison operators, for every other use.
    pub names_nothing: bool,
}

/// Operators PostgreSQL may apply without their name in the text.
const IMPLICIT_OPERATORS: &[&str] = &["=", "<>", "<", ">", "<=", ">="];

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
/// names the catalog half must still resolve (`db/catalog_policy.rs`).
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
    let stmts = parse_statements(sql)?;
    if stmts.len() > 1 {
        let mut err = ToolError::new(
            Category::Database,
            Code::SyntaxError,
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
    let mut walk = Walk::default();
    if let Some(stmt) = stmts.first() {
        walk.statement(stmt)?;
    } else {
        // Empty text or only comments: PostgreSQL answers it with an empty result.
        return Ok(ReadCheck::default());
    }
    walk.finish()
}

/// The policy for the body of a `LANGUAGE sql` function (its `prosrc`): every statement must
/// be a read by the same rules, and the names of all of them are returned for the catalog
/// check. Not cached: the catalog half caches its verdict per function version.
pub fn check_function_body(body: &str) -> ToolResult<Names> {
    let mut walk = Walk::default();
    for stmt in parse_statements(body)? {
        walk.statement(&stmt)?;
    }
    Ok(Arc::unwrap_or_clone(walk.finish()?.names))
}

fn parse_statements(sql: &str) -> ToolResult<Vec<Value>> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).map_err(parse_error)?;
    let tree = serde_json::to_value(&parsed.protobuf).map_err(|e| {
        ToolError::internal(format!("could not inspect the statement's parse tree: {e}"))
    })?;
    Ok(tree["stmts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s["stmt"]["node"].clone())
        .collect())
}

/// A refusal carries SQLSTATE 25006 (read_only_sql_transaction), the code PostgreSQL
/// gives the writes it refuses itself, so callers branch on one code for both layers.
pub fn refusal(message: impl Into<String>) -> ToolError {
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
                Code::SqlTooDeep,
                "read-only mode could not check this statement: its expression nesting is too deep to inspect (about 45 chained operators or 25 nested subqueries)",
            )
            .suggest("Split the expression (e.g. use a CTE, sum(), concat() or array functions instead of long operator chains).");
        }
        other => other.to_string(),
    };
    let mut err = ToolError::new(Category::Database, Code::SyntaxError, message)
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

/// Extension functions refused in every schema before any catalog lookup, because their
/// only purpose is what reads must never do (the catalog half would refuse them too: they
/// are C functions of untrusted extensions). Defence in depth, by name.
const DENIED_EXTENSION_PREFIXES: &[(&str, &str)] = &[
    (
        "dblink",
        "opens another connection, which is not read-only (dblink)",
    ),
    (
        "pg_file_",
        "writes files on the database server (adminpack)",
    ),
    (
        "pg_logdir_ls",
        "lists the server's log directory (adminpack)",
    ),
];

#[derive(Default)]
struct Walk {
    /// Inside `EXPLAIN` without `ANALYZE`, where a write is only planned.
    writes_allowed: bool,
    violation: Option<ToolError>,
    names: Names,
    /// A node that applies the operator `=` by name without spelling it (see
    /// [`ReadCheck::names_nothing`]).
    compares_by_name: bool,
}

impl Walk {
    /// Checks one top-level statement and collects its names.
    fn statement(&mut self, stmt: &Value) -> ToolResult<()> {
        let (kind, body) = node_kind(stmt).unwrap_or(("", &Value::Null));
        match kind {
            "SelectStmt" => self.visit(stmt),
            "VariableShowStmt" => {}
            "ExplainStmt" => {
                let inner = &body["query"]["node"];
                let inner_kind = node_kind(inner).map_or("", |(k, _)| k);
                let planned_only = !explain_analyzes(body);
                if planned_only {
                    if !PLANNABLE.contains(&inner_kind) {
                        return Err(not_a_read(inner_kind));
                    }
                } else if inner_kind != "SelectStmt" {
                    // ANALYZE executes the statement: it must itself be a read. (PostgreSQL
                    // runs `EXPLAIN ANALYZE CREATE TABLE … AS` even in a READ ONLY transaction.)
                    return Err(not_a_read(inner_kind));
                }
                let outer = self.writes_allowed;
                self.writes_allowed = planned_only;
                self.visit(inner);
                self.writes_allowed = outer;
                if let Some(opts) = body.get("options") {
                    // EXPLAIN's own options hold no calls, but walking them keeps the rule
                    // "everything in the tree is visited" without exceptions.
                    self.visit(opts);
                }
            }
            _ => return Err(not_a_read(kind)),
        }
        match self.violation.take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn finish(mut self) -> ToolResult<ReadCheck> {
        if let Some(err) = self.violation {
            return Err(err);
        }
        let names_nothing = !self.compares_by_name && self.names == Names::default();
        self.names
            .ops
            .extend(IMPLICIT_OPERATORS.iter().map(|o| o.to_string()));
        Ok(ReadCheck {
            names: Arc::new(self.names),
            names_nothing,
        })
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
            "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                if let Some(rel) = body["relation"]["relname"].as_str() {
                    self.names.targets.insert(rel.to_string());
                }
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
            "FuncCall" => self.call(strings(&body["funcname"])),
            // TABLESAMPLE's method is a function too (a handler taking `internal`).
            "RangeTableSample" => self.call(strings(&body["method"])),
            "ColumnRef" => {
                // `t.f` (and `s.t.f`): when `t` has no column `f`, PostgreSQL calls `f(t)`.
                let fields = &body["fields"];
                if fields.as_array().is_some_and(|f| f.len() >= 2)
                    && let Some(last) = fields
                        .as_array()
                        .and_then(|f| f.last())
                        .and_then(|n| n["node"]["String"]["sval"].as_str())
                {
                    self.names.fields.insert(last.to_string());
                }
            }
            // `(t).f`, `(row).f.g`: the same resolution as above.
            "AIndirection" => {
                for field in strings(&body["indirection"]) {
                    self.names.fields.insert(field);
                }
            }
            "AExpr" => self.operator(strings(&body["name"])),
            // A type named anywhere, not only in a cast: an XMLTABLE column or a column
            // definition list (`json_to_record(…) AS t(a d)`) converts each value to its
            // type, and a domain's input runs the domain's CHECK constraints. The type is
            // a `type_name` field (TypeCast, ColumnDef, RangeTableFuncCol, XmlSerialize, …)
            // or a `TypeName` node in a list.
            "type_name" | "TypeName" => {
                if let Some(ty) = strings(&body["names"]).pop() {
                    self.names.types.insert(ty);
                }
            }
            "SubLink" => self.operator(strings(&body["oper_name"])),
            // `CASE x WHEN y`, `JOIN … USING (c)` and `NATURAL JOIN` compare with the
            // operator named `=` as the search path resolves it.
            "CaseExpr" | "JoinExpr" => self.compares_by_name = true,
            "SortBy" => self.operator(strings(&body["use_op"])),
            "RangeVar" => {
                if let Some(rel) = body["relname"].as_str() {
                    self.names.rels.insert(rel.to_string());
                }
            }
            _ => {}
        }
    }

    fn operator(&mut self, name: Vec<String>) {
        if let Some(op) = name.last() {
            self.names.ops.insert(op.clone());
        }
    }

    fn call(&mut self, parts: Vec<String>) {
        let Some((name, qualifiers)) = parts.split_last() else {
            return;
        };
        let schema = qualifiers.last().map(String::as_str);
        let shown = match schema {
            Some(s) => format!("{s}.{name}"),
            None => name.clone(),
        };
        if let Some((category, reason)) = denied(name) {
            self.violation = Some(
                refusal(format!("read-only mode refuses {shown}(): it {reason}"))
                    .suggest("This function is never available to reads (docs/SECURITY.md, \"The function policy\"). Run it through a write tool with the server in unrestricted mode if you must.")
                    .with_details(json!({ "function": shown, "reason": reason, "category": category })),
            );
            return;
        }
        if schema == Some("pg_catalog") && CLASSIFICATION.builtin(name).is_none() {
            self.violation = Some(unclassified_builtin(&shown));
            return;
        }
        // Even `pg_catalog.f` is looked up: a superuser can add functions to pg_catalog.
        self.names.funcs.insert(name.clone());
    }
}

/// The refusal of a built-in function the classification does not list.
pub fn unclassified_builtin(shown: &str) -> ToolError {
    refusal(format!(
        "read-only mode refuses {shown}(): it is a built-in function that the read-only policy has not classified (likely new in this PostgreSQL version)"
    ))
    .suggest("Run it through a write tool in unrestricted mode, or classify it in src/db/read_functions.txt after review.")
    .with_details(json!({ "function": shown, "reason": "unclassified built-in function", "category": "unclassified" }))
}

/// The `String` nodes of a name list (`funcname`, `name`, `indirection`…).
fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["node"]["String"]["sval"].as_str().map(str::to_string))
        .collect()
}

/// The category and reason for which `name` is refused in every schema, if it is: a denied
/// built-in, or a function of an extension that exists to do what reads must not.
pub fn denied(name: &str) -> Option<(&'static str, &'static str)> {
    // Any spelling: `"PG_READ_FILE"` names no built-in, but nothing is gained by allowing a
    // function that imitates one.
    let lower = name.to_lowercase();
    if let Some(Builtin::Denied { category, reason }) = CLASSIFICATION.builtin(&lower) {
        return Some((category, reason));
    }
    DENIED_EXTENSION_PREFIXES
        .iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(_, reason)| ("extension", *reason))
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
    fn only_statements_without_names_skip_the_catalog_guard() {
        for sql in [
            "SELECT 1",
            "select $1",
            "SELECT 1 AS a, 'x' AS b ORDER BY 1",
            "SELECT DISTINCT x FROM (VALUES (1), (2)) v(x) GROUP BY x",
            "SELECT 1 UNION SELECT 2",
            "VALUES (1, 'a')",
            "SHOW work_mem",
            "EXPLAIN SELECT 1",
        ] {
            let c = check_read_only(sql).unwrap();
            assert!(c.names_nothing, "{sql}");
            // The implicit comparison operators are still listed for the other uses.
            assert!(c.names.ops.contains("="), "{sql}");
        }
        for sql in [
            "SELECT 1 = 1",
            "SELECT 1 IN (1, 2)",
            "SELECT 1 BETWEEN 0 AND 2",
            "SELECT NULLIF(1, 2)",
            "SELECT 1 IS DISTINCT FROM 2",
            "SELECT CASE 1 WHEN 1 THEN 2 END",
            "SELECT * FROM (VALUES (1)) a(x) JOIN (VALUES (1)) b(x) USING (x)",
            "SELECT * FROM (VALUES (1)) a(x) NATURAL JOIN (VALUES (1)) b(x)",
            "SELECT now()",
            "SELECT count(*)",
            "SELECT '1'::int",
            "SELECT x.y FROM (SELECT 1) x(y)",
            "SELECT * FROM XMLTABLE('/r' PASSING '<r/>' COLUMNS a int PATH 'a')",
            "SELECT XMLSERIALIZE(CONTENT '<r/>' AS text)",
            "SELECT * FROM t",
            "EXPLAIN INSERT INTO t VALUES (1)",
            "SELECT 1 ORDER BY 1 USING <",
        ] {
            let c = check_read_only(sql).unwrap();
            assert!(!c.names_nothing, "{sql}");
        }
    }

    #[test]
    fn types_named_outside_casts_are_collected() {
        for (sql, ty) in [
            ("SELECT '1'::d", "d"),
            (
                "SELECT * FROM XMLTABLE('/r' PASSING '<r/>' COLUMNS a d PATH 'a')",
                "d",
            ),
            ("SELECT * FROM json_to_record('{}') AS t(a d)", "d"),
            (
                "SELECT * FROM jsonb_to_recordset('[]') AS t(a int, b s.d)",
                "d",
            ),
            ("SELECT XMLSERIALIZE(CONTENT '<r/>' AS d)", "d"),
        ] {
            let c = check_read_only(sql).unwrap();
            assert!(c.names.types.contains(ty), "{sql}: {:?}", c.names.types);
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
    fn names_are_collected_wherever_a_call_can_hide() {
        let c = check_read_only(
            "select lower(x), c.side_effect, (c).other, a.b.deep, 1 operator(public.===) 2, \
             x between 1 and 2 from canary c, app.v, generate_series(1, 3) g, \
             lateral (select * from t order by 1 using ~<~) s \
             where exists (select 1 from other_view) and x = any (select y from u)",
        )
        .unwrap();
        let n = &c.names;
        let set = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(n.funcs, set(&["generate_series", "lower"]));
        assert_eq!(n.fields, set(&["deep", "other", "side_effect"]));
        assert!(
            n.ops
                .is_superset(&set(&["===", "~<~", "=", "<", "BETWEEN"])),
            "{:?}",
            n.ops
        );
        assert_eq!(n.rels, set(&["canary", "other_view", "t", "u", "v"]));
        assert!(n.targets.is_empty());
        let cast = check_read_only("select 1::evil_dom, x::pg_catalog.int4 from t").unwrap();
        assert_eq!(cast.names.types, set(&["evil_dom", "int4"]));
        let planned = check_read_only("explain insert into logged select 1").unwrap();
        assert_eq!(planned.names.targets, set(&["logged"]));
    }

    #[test]
    fn denied_and_unclassified_builtins_are_refused_in_any_schema_and_position() {
        for (sql, function) in [
            ("select * from ts_stat('select 1')", "ts_stat"),
            ("select ts_rewrite('a'::tsquery, 'select 1')", "ts_rewrite"),
            (
                "select query_to_xml('select 1', true, true, '')",
                "query_to_xml",
            ),
            (
                "values (pg_catalog.pg_read_file('x'))",
                "pg_catalog.pg_read_file",
            ),
            (
                "select exists (select app.txid_current())",
                "app.txid_current",
            ),
            ("select setseed(0.42)", "setseed"),
            (
                "select * from pg_catalog.pg_hba_file_rules()",
                "pg_catalog.pg_hba_file_rules",
            ),
            (
                "select brin_summarize_new_values('i')",
                "brin_summarize_new_values",
            ),
            ("select dblink_exec('x', 'y')", "dblink_exec"),
            (
                "select pg_catalog.brand_new_function()",
                "pg_catalog.brand_new_function",
            ),
        ] {
            let e = refused(sql);
            assert_eq!(e.code, "READ_ONLY_VIOLATION", "{sql}: {e}");
            assert_eq!(
                e.details.as_ref().unwrap()["function"],
                function,
                "{sql}: {e}"
            );
        }
    }

    #[test]
    fn function_bodies_are_checked_statement_by_statement() {
        let names = check_function_body("select 1; select f(x) from t").unwrap();
        assert!(names.funcs.contains("f") && names.rels.contains("t"));
        assert_eq!(
            check_function_body("select 1; delete from t")
                .unwrap_err()
                .code,
            "READ_ONLY_VIOLATION"
        );
    }
}
