//! SQL that a data tool builds from a caller's input, with the three rules of issue 11's
//! safety item written once:
//!
//! - names (tables, columns, keys used as identifiers) are quoted by the server
//!   ([`quote_ident`], [`parse_qualified`]);
//! - values are bound parameters ([`Sql::bind`]), never spliced into the text;
//! - a caller's `where` fragment is checked to be exactly one SQL expression
//!   ([`where_expression`]) and is spliced only inside parentheses on lines of its own;
//!   what it may *do* is then the statement policy's business: a read tool runs the whole
//!   statement, fragment included, through `exec::execute(.., Mode::Read)` (a READ ONLY
//!   transaction, rolled back, behind the same policy as `pg_read_query`), and write tools
//!   are not reachable in restricted mode at all.
//!
//! The caller's `params` come first, so the `$1 … $n` of their `where` keep their meaning;
//! the tool's own values are numbered after them.
//!
//! ```ignore
//! let mut q = Sql::new(a.params);                       // caller's $1..$n
//! let target = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
//! let limit = q.bind(a.limit);
//! let filter = q.where_clause(a.condition.as_deref())?;  // " WHERE (\n…\n)" or ""
//! q.push(&format!("SELECT {} FROM {}{filter} LIMIT {limit}", target.column, target.table));
//! let out = execute(&ctx, q.text(), q.params(), a.transaction_id.as_deref(), Mode::Read).await?;
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Ctx;
use super::exec::read_rows;
use crate::db::ident::{QualifiedName, parse_qualified, quote_ident};
use crate::error::{Code, ToolError, ToolResult};

/// A statement under construction: its text and its parameters, the caller's first.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    params: Vec<Value>,
    /// How many leading parameters are the caller's (what their `where` may reference).
    caller_params: usize,
}

impl Sql {
    /// A statement whose first parameters are the caller's `params` (referenced as
    /// `$1 … $n` by their `where` fragment).
    pub fn new(caller_params: Vec<Value>) -> Self {
        Sql {
            text: String::new(),
            caller_params: caller_params.len(),
            params: caller_params,
        }
    }

    /// Appends SQL text written by pgmcp (never caller text: names go through
    /// [`quote_ident`], values through [`Sql::bind`], fragments through [`Sql::where_clause`]).
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Binds `value` and returns its placeholder (`$k`).
    pub fn bind(&mut self, value: impl Serialize) -> String {
        self.params
            .push(serde_json::to_value(value).unwrap_or(Value::Null));
        format!("${}", self.params.len())
    }

    /// ` WHERE (…)` for the caller's fragment, checked by [`where_expression`], or an empty
    /// string when there is none (or it is blank).
    #[allow(clippy::result_large_err)]
    pub fn where_clause(&self, fragment: Option<&str>) -> ToolResult<String> {
        Ok(self
            .condition(fragment)?
            .map(|c| format!(" WHERE {c}"))
            .unwrap_or_default())
    }

    /// The caller's fragment as a parenthesized condition to combine with others
    /// (`… AND {c}`), or `None` when there is none.
    #[allow(clippy::result_large_err)]
    pub fn condition(&self, fragment: Option<&str>) -> ToolResult<Option<String>> {
        match fragment.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => where_expression(f, self.caller_params).map(Some),
            None => Ok(None),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn params(&self) -> &[Value] {
        &self.params
    }

    pub fn into_parts(self) -> (String, Vec<Value>) {
        (self.text, self.params)
    }
}

/// Checks that `fragment` is exactly one SQL expression (a `WHERE` condition) referencing
/// no parameter beyond `$caller_params`, and returns it wrapped as `(\n<fragment>\n)`.
///
/// The check parses the very text that will be spliced (`SELECT WHERE (\n…\n)`) and
/// requires the parse tree to be a bare SELECT whose only clause is the WHERE: a fragment
/// that closes the parenthesis to add a UNION, an ORDER BY, a LIMIT, a FOR UPDATE, a second
/// statement or anything else is refused. The newlines end a trailing `--` comment before
/// the closing parenthesis, and an unterminated quote or comment fails the parse, so the
/// text after the fragment in the real statement is read exactly as in the check.
#[allow(clippy::result_large_err)]
pub fn where_expression(fragment: &str, caller_params: usize) -> ToolResult<String> {
    use pg_query::NodeRef;
    use pg_query::protobuf::node::Node as N;
    let wrapped = format!("(\n{fragment}\n)");
    let refused = |why: &str| {
        ToolError::invalid(format!("`where` must be one SQL condition: {why}"))
            .suggest("Give a condition such as `status = $1 AND created_at > $2`, with its values in `params`.")
    };
    let parsed = pg_query::parse(
        &format!("SELECT WHERE {wrapped}"),
        pg_query::ParserOptions::DEFAULT,
    )
    .map_err(|e| refused(&format!("it does not parse ({e})")))?;
    let stmts = &parsed.protobuf.stmts;
    let only_where = match stmts.as_slice() {
        [raw] => match raw.stmt.as_ref().and_then(|n| n.node.as_ref()) {
            Some(N::SelectStmt(s)) => {
                s.where_clause.is_some()
                    && s.target_list.is_empty()
                    && s.from_clause.is_empty()
                    && s.distinct_clause.is_empty()
                    && s.into_clause.is_none()
                    && s.group_clause.is_empty()
                    && s.having_clause.is_none()
                    && s.window_clause.is_empty()
                    && s.values_lists.is_empty()
                    && s.sort_clause.is_empty()
                    && s.limit_offset.is_none()
                    && s.limit_count.is_none()
                    && s.locking_clause.is_empty()
                    && s.with_clause.is_none()
                    && s.op == pg_query::protobuf::SetOperation::SetopNone as i32
                    && s.larg.is_none()
                    && s.rarg.is_none()
            }
            _ => false,
        },
        _ => false,
    };
    if !only_where {
        return Err(refused("it adds clauses or statements beyond a condition"));
    }
    for (node, _, _, _) in parsed.protobuf.nodes() {
        if let NodeRef::ParamRef(p) = node
            && (p.number < 1 || p.number as usize > caller_params)
        {
            return Err(ToolError::invalid(format!(
                "`where` references ${} but `params` has {caller_params} value(s)",
                p.number
            ))
            .suggest("Number placeholders $1, $2… in the order of the values in `params`."));
        }
    }
    Ok(wrapped)
}

/// A comma-separated list of quoted identifiers (a `groupBy`, a projection).
pub fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table column a tool works on, checked to exist, with its type.
#[derive(Debug, Clone)]
pub struct Column {
    /// The table, quoted (`"schema"."table"` or `"table"`).
    pub table: String,
    /// The column, quoted.
    pub column: String,
    /// The column's type as `format_type` prints it (`jsonb`, `numeric(10,2)`, `text`…).
    pub type_name: String,
    /// The type's category (`pg_type.typcategory`): `N` numeric, `S` string, `D` date/time,
    /// `B` boolean, `U` user-defined (jsonb, tsvector…), `A` array…
    pub category: char,
    /// The table's oid, resolved under the caller's search path.
    pub table_oid: i64,
}

#[derive(Deserialize)]
struct ColumnRow {
    oid: Option<i64>,
    type_name: Option<String>,
    category: Option<String>,
}

/// Resolves `table` (optionally `schema.table`, or with `schema`) and its `column`: a
/// NOT_FOUND error naming what is missing otherwise. Read-only.
pub async fn column_of(
    ctx: &Ctx,
    table: &str,
    schema: Option<&str>,
    column: &str,
) -> ToolResult<Column> {
    let q = parse_qualified(table, schema)?;
    let rows = read_rows(
        ctx,
        "SELECT c.oid::int8 AS oid, format_type(a.atttypid, a.atttypmod) AS type_name, \
                t.typcategory::text AS category \
         FROM (SELECT to_regclass($1) AS oid) c \
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 \
              AND a.attnum > 0 AND NOT a.attisdropped \
         LEFT JOIN pg_type t ON t.oid = a.atttypid",
        &[json!(q.quoted()), json!(column)],
    )
    .await?;
    let row: ColumnRow = rows
        .into_iter()
        .next()
        .and_then(|r| serde_json::from_value(r).ok())
        .ok_or_else(|| ToolError::internal("the column lookup returned no row"))?;
    let Some(oid) = row.oid else {
        return Err(missing_table(&q));
    };
    let (Some(type_name), Some(category)) = (row.type_name, row.category) else {
        return Err(ToolError::not_found(
            Code::NotFound,
            format!("column '{column}' does not exist in table '{q}'"),
        )
        .suggest("Column names are case-sensitive; pg_get_columns lists them."));
    };
    Ok(Column {
        table: q.quoted(),
        column: quote_ident(column),
        type_name,
        category: category.chars().next().unwrap_or('X'),
        table_oid: oid,
    })
}

/// Resolves a table (optionally `schema.table`, or with `schema`) to its quoted name,
/// or NOT_FOUND. Read-only.
pub async fn table_of(ctx: &Ctx, table: &str, schema: Option<&str>) -> ToolResult<QualifiedName> {
    let q = parse_qualified(table, schema)?;
    let rows = read_rows(
        ctx,
        "SELECT to_regclass($1)::oid::int8 AS oid",
        &[json!(q.quoted())],
    )
    .await?;
    match rows.first().and_then(|r| r.get("oid")) {
        Some(Value::Number(_)) => Ok(q),
        _ => Err(missing_table(&q)),
    }
}

fn missing_table(q: &QualifiedName) -> ToolError {
    ToolError::not_found(Code::NotFound, format!("table '{q}' does not exist"))
        .suggest("Names are case-sensitive; pg_list_tables shows the tables.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_is_wrapped_on_lines_of_its_own() {
        assert_eq!(
            where_expression("status = $1 AND n > 2", 1).unwrap(),
            "(\nstatus = $1 AND n > 2\n)"
        );
        // A trailing line comment ends at the newline before the closing parenthesis.
        assert!(where_expression("a = 1 -- note", 0).is_ok());
        assert!(where_expression("a IN (SELECT b FROM t WHERE c)", 0).is_ok());
    }

    #[test]
    fn anything_beyond_one_condition_is_refused() {
        for hostile in [
            "true) UNION SELECT 1 WHERE (true",
            "true) ORDER BY (1",
            "true) LIMIT (1",
            "true) FOR UPDATE --",
            "true); DROP TABLE t; SELECT (1",
            "true)) x; SELECT ((1",
            "1 = 1 /* unterminated",
            "'unterminated",
            "$$ unterminated",
            "",
            "true) GROUP BY (1",
            "true) WINDOW w AS (",
        ] {
            assert!(where_expression(hostile, 5).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn parameters_beyond_the_callers_are_refused() {
        assert!(where_expression("a = $1 AND b = $2", 2).is_ok());
        let e = where_expression("a = $3", 2).unwrap_err();
        assert!(e.error.contains("$3"), "{}", e.error);
        assert!(where_expression("a = $1", 0).is_err());
    }

    #[test]
    fn the_tools_values_are_numbered_after_the_callers() {
        let mut q = Sql::new(vec![json!("x")]);
        let cond = q.where_clause(Some("a = $1")).unwrap();
        let p = q.bind(10);
        q.push(&format!("SELECT * FROM t{cond} LIMIT {p}"));
        assert_eq!(q.text(), "SELECT * FROM t WHERE (\na = $1\n) LIMIT $2");
        assert_eq!(q.params(), &[json!("x"), json!(10)]);
        assert_eq!(q.where_clause(Some("  ")).unwrap(), "");
        assert_eq!(
            quoted_list(&["a b".into(), "c\"d".into()]),
            "\"a b\", \"c\"\"d\""
        );
    }
}
