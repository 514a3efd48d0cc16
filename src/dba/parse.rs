//! What the index advisor needs from one statement's parse tree (libpg_query, walked as
//! the JSON of its protobuf, like `crate::db::read_policy`): the statement kind, the tables
//! it names, the columns its predicates, joins, ORDER BY and GROUP BY use, the columns an
//! UPDATE assigns, and how many `$n` parameters it has.
//!
//! Aliases are resolved over the whole statement (not per subquery scope); an alias used
//! twice for different tables makes its columns ambiguous, and ambiguous columns are
//! skipped by the caller, never guessed.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StmtKind {
    Select,
    Insert,
    Update,
    Delete,
}

/// A table as the statement names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableRef {
    /// Empty when unqualified (the search path applies).
    pub schema: String,
    pub name: String,
    pub alias: Option<String>,
}

/// How a column is used, strongest index-key role first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    /// `col = value`, `col IN (…)`, `col = ANY(…)`, `col IS NULL`, a bare boolean column.
    Eq,
    /// `a.col = b.col`.
    Join,
    /// `<, <=, >, >=, BETWEEN`.
    Range,
    /// An ORDER BY key.
    Sort,
    /// A GROUP BY key.
    Group,
}

/// One use of a column: `qualifier` is the alias or table name written before it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnUse {
    pub qualifier: Option<String>,
    pub column: String,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub(crate) struct ParsedStatement {
    pub kind: StmtKind,
    /// The statement's text without surrounding blanks and trailing semicolons.
    pub text: String,
    /// The highest `$n` used (0: none), i.e. the parameter count a generic plan needs.
    pub params: usize,
    pub tables: Vec<TableRef>,
    /// The table an INSERT/UPDATE/DELETE writes.
    pub target: Option<TableRef>,
    pub uses: Vec<ColumnUse>,
    /// Columns an UPDATE's SET list assigns.
    pub assigned: Vec<String>,
}

/// Parses exactly one SELECT/INSERT/UPDATE/DELETE (WITH allowed); anything else is an
/// error message saying why the statement cannot be analysed.
pub(crate) fn parse_statement(sql: &str) -> Result<ParsedStatement, String> {
    let text = sql
        .trim()
        .trim_end_matches([';', ' ', '\n', '\t', '\r'])
        .trim();
    let parsed = pg_query::parse(text, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| format!("it does not parse: {e}"))?;
    let tree = serde_json::to_value(&parsed.protobuf)
        .map_err(|e| format!("its parse tree could not be inspected: {e}"))?;
    let stmts = tree["stmts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let [stmt] = stmts else {
        return Err(format!(
            "it holds {} statements; give one statement per workload entry",
            stmts.len()
        ));
    };
    let node = &stmt["stmt"]["node"];
    let (kind_name, body) = node_kind(node).ok_or("it is empty")?;
    let kind = match kind_name {
        "SelectStmt" => StmtKind::Select,
        "InsertStmt" => StmtKind::Insert,
        "UpdateStmt" => StmtKind::Update,
        "DeleteStmt" => StmtKind::Delete,
        other => {
            return Err(format!(
                "it is a {} statement; only SELECT, INSERT, UPDATE and DELETE are planned",
                other.strip_suffix("Stmt").unwrap_or(other)
            ));
        }
    };
    let mut out = ParsedStatement {
        kind,
        text: text.to_string(),
        params: 0,
        tables: Vec::new(),
        target: None,
        uses: Vec::new(),
        assigned: Vec::new(),
    };
    if kind != StmtKind::Select {
        out.target = range_var(&body["relation"]);
        if kind == StmtKind::Update {
            out.assigned = body["target_list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["node"]["ResTarget"]["name"].as_str())
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
        }
    }
    walk(node, &mut out);
    Ok(out)
}

/// The node type (`"SelectStmt"`, …) of a serialized `Node` oneof, and its body.
fn node_kind(node: &Value) -> Option<(&str, &Value)> {
    node.as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.as_str(), v))
}

fn range_var(rv: &Value) -> Option<TableRef> {
    let name = rv["relname"].as_str().filter(|n| !n.is_empty())?;
    Some(TableRef {
        schema: rv["schemaname"].as_str().unwrap_or_default().to_string(),
        name: name.to_string(),
        alias: rv["alias"]["aliasname"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(str::to_string),
    })
}

fn walk(v: &Value, out: &mut ParsedStatement) {
    match v {
        Value::Object(map) => {
            for (key, body) in map {
                match key.as_str() {
                    "RangeVar" => out.tables.extend(range_var(body)),
                    "ParamRef" => {
                        let n = body["number"].as_u64().unwrap_or(0) as usize;
                        out.params = out.params.max(n);
                    }
                    "SelectStmt" => {
                        predicates(&body["where_clause"], out);
                        for item in body["sort_clause"].as_array().into_iter().flatten() {
                            if let Some(col) = column(&item["node"]["SortBy"]["node"]) {
                                out.push(col, Role::Sort);
                            }
                        }
                        for item in body["group_clause"].as_array().into_iter().flatten() {
                            if let Some(col) = column(item) {
                                out.push(col, Role::Group);
                            }
                        }
                    }
                    "UpdateStmt" | "DeleteStmt" | "InsertStmt" => {
                        out.tables.extend(range_var(&body["relation"]));
                        predicates(&body["where_clause"], out);
                    }
                    "JoinExpr" => predicates(&body["quals"], out),
                    _ => {}
                }
                walk(body, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
        _ => {}
    }
}

impl ParsedStatement {
    fn push(&mut self, (qualifier, column): (Option<String>, String), role: Role) {
        self.uses.push(ColumnUse {
            qualifier,
            column,
            role,
        });
    }
}

/// Collects column uses from a boolean condition (a `{"node": …}` wrapper or null).
fn predicates(expr: &Value, out: &mut ParsedStatement) {
    let Some((kind, body)) = node_kind(&expr["node"]) else {
        return;
    };
    match kind {
        // AND, OR and NOT alike: every arm is a place an index can help.
        "BoolExpr" => {
            for arg in body["args"].as_array().into_iter().flatten() {
                predicates(arg, out);
            }
        }
        "AExpr" => {
            let op = body["name"]
                .as_array()
                .and_then(|n| n.last())
                .and_then(|n| n["node"]["String"]["sval"].as_str())
                .unwrap_or_default();
            let (l, r) = (&body["lexpr"], &body["rexpr"]);
            // AExprKind: 1 op, 2 op ANY, 7 IN, 11 BETWEEN, 13 BETWEEN SYMMETRIC.
            match (body["kind"].as_i64().unwrap_or(0), op) {
                (1, "=") => match (column(l), column(r)) {
                    (Some(a), Some(b)) => {
                        out.push(a, Role::Join);
                        out.push(b, Role::Join);
                    }
                    (Some(a), None) if is_value(r) => out.push(a, Role::Eq),
                    (None, Some(b)) if is_value(l) => out.push(b, Role::Eq),
                    _ => {}
                },
                (1, "<" | "<=" | ">" | ">=") => match (column(l), column(r)) {
                    (Some(a), None) if is_value(r) => out.push(a, Role::Range),
                    (None, Some(b)) if is_value(l) => out.push(b, Role::Range),
                    _ => {}
                },
                (2 | 7, "=") => {
                    if let Some(a) = column(l) {
                        out.push(a, Role::Eq);
                    }
                }
                (11 | 13, _) => {
                    if let Some(a) = column(l) {
                        out.push(a, Role::Range);
                    }
                }
                _ => {}
            }
        }
        // NullTestType 1 = IS NULL (IS NOT NULL is rarely selective).
        "NullTest" if body["nulltesttype"].as_i64() == Some(1) => {
            if let Some(a) = column(&body["arg"]) {
                out.push(a, Role::Eq);
            }
        }
        "ColumnRef" => {
            if let Some(a) = column(expr) {
                out.push(a, Role::Eq);
            }
        }
        _ => {}
    }
}

/// `(qualifier, column)` of a column reference, looking through casts.
fn column(v: &Value) -> Option<(Option<String>, String)> {
    let (kind, body) = node_kind(&v["node"])?;
    match kind {
        "TypeCast" => column(&body["arg"]),
        "ColumnRef" => {
            let fields: Vec<&str> = body["fields"]
                .as_array()?
                .iter()
                .map(|f| f["node"]["String"]["sval"].as_str())
                .collect::<Option<_>>()?;
            match fields.as_slice() {
                [col] => Some((None, col.to_string())),
                [.., qual, col] => Some((Some(qual.to_string()), col.to_string())),
                [] => None,
            }
        }
        _ => None,
    }
}

/// An expression without column references or subqueries: a constant, a parameter, or an
/// expression over them, i.e. fixed for the duration of a scan.
fn is_value(v: &Value) -> bool {
    fn has_column(v: &Value) -> bool {
        match v {
            Value::Object(map) => map
                .iter()
                .any(|(k, body)| k == "ColumnRef" || k == "SubLink" || has_column(body)),
            Value::Array(items) => items.iter().any(has_column),
            _ => false,
        }
    }
    !v.is_null() && !has_column(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(sql: &str) -> Vec<(Option<String>, String, Role)> {
        parse_statement(sql)
            .unwrap()
            .uses
            .into_iter()
            .map(|u| (u.qualifier, u.column, u.role))
            .collect()
    }

    fn u(q: Option<&str>, c: &str, r: Role) -> (Option<String>, String, Role) {
        (q.map(str::to_string), c.to_string(), r)
    }

    #[test]
    fn predicates_joins_and_sort_keys_are_found() {
        let sql = "SELECT * FROM public.orders o JOIN customers c ON o.customer_id = c.id \
                   WHERE o.customer_id = $1 AND c.region IN (1, 2) AND o.total::int > 3 \
                   AND o.created_at BETWEEN '2024-01-01' AND now() AND paid AND note IS NULL \
                   AND o.x = o.y + 1 ORDER BY o.created_at DESC LIMIT 20;";
        let p = parse_statement(sql).unwrap();
        assert_eq!(p.kind, StmtKind::Select);
        assert_eq!(p.params, 1);
        assert!(!p.text.ends_with(';'));
        let names: Vec<_> = p
            .tables
            .iter()
            .map(|t| (t.schema.as_str(), t.name.as_str()))
            .collect();
        assert_eq!(names, [("public", "orders"), ("", "customers")]);
        assert_eq!(
            uses(sql),
            [
                u(Some("o"), "customer_id", Role::Eq),
                u(Some("c"), "region", Role::Eq),
                u(Some("o"), "total", Role::Range),
                u(Some("o"), "created_at", Role::Range),
                u(None, "paid", Role::Eq),
                u(None, "note", Role::Eq),
                u(Some("o"), "created_at", Role::Sort),
                u(Some("o"), "customer_id", Role::Join),
                u(Some("c"), "id", Role::Join),
            ]
        );
    }

    #[test]
    fn updates_name_their_target_and_assigned_columns() {
        let p =
            parse_statement("UPDATE app.\"T\" SET status = $1, n = n + 1 WHERE id = $2").unwrap();
        assert_eq!(p.kind, StmtKind::Update);
        assert_eq!(p.params, 2);
        assert_eq!(p.target.unwrap().name, "T");
        assert_eq!(p.assigned, ["status", "n"]);
        assert_eq!(
            uses("UPDATE t SET a = 1 WHERE id = 2"),
            [u(None, "id", Role::Eq)]
        );
    }

    #[test]
    fn other_statements_are_refused_with_a_reason() {
        assert!(
            parse_statement("CREATE TABLE x (a int)")
                .unwrap_err()
                .contains("only SELECT, INSERT, UPDATE and DELETE")
        );
        assert!(
            parse_statement("SELECT 1; SELECT 2")
                .unwrap_err()
                .contains("2 statements")
        );
        assert!(
            parse_statement("SELEC 1")
                .unwrap_err()
                .contains("does not parse")
        );
    }
}
