//! The write tools: set, insert and delete at a key path of a jsonb column, and strip nulls.
//!
//! Each is one `UPDATE … SET col = f(col, …)` of the rows matching `where`, in the
//! caller's transaction when `transactionId` is given. Without `where` a write is refused
//! unless `allRows: true` says the whole table is meant: an agent must not rewrite every
//! row by leaving a field out.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    DualArgs, MAX_LIMIT, PathArg, Source, jsonb_column, limit_of, path_elems, read_bounded,
    read_one, select_prefix, source,
};
use crate::error::{ToolError, ToolResult};
use crate::tools::exec::{Mode, execute};
use crate::tools::sql::Sql;
use crate::tools::{Ctx, DESTRUCTIVE, Spec, WRITE};

/// Rows a write returns with `returning`, at most.
const RETURNING_MAX: usize = 100;

fn yes() -> bool {
    true
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WriteResult {
    /// Rows updated.
    pub rows_affected: u64,
    /// With `returning`: each updated row's `select` columns and its new `value` (at most 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// `true` when more rows were updated than returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[allow(clippy::result_large_err)]
fn require_target(condition: Option<&str>, all_rows: bool) -> ToolResult<()> {
    if condition.is_none_or(|c| c.trim().is_empty()) && !all_rows {
        return Err(ToolError::invalid(
            "refusing to write every row of the table: no `where` was given",
        )
        .suggest("Give `where` (e.g. `id = $1`, with `params`) to choose the rows, or `allRows: true` to write the whole table."));
    }
    Ok(())
}

/// The parts of an UPDATE every write tool shares.
struct Update<'a> {
    table: &'a str,
    schema: Option<&'a str>,
    column: &'a str,
    condition: Option<&'a str>,
    params: Vec<Value>,
    all_rows: bool,
    returning: bool,
    select: &'a [String],
    tx: Option<&'a str>,
}

/// `UPDATE t SET col = <new> WHERE (where) [AND <only>] [RETURNING …]`; `new` gets the
/// statement (to bind its values) and the quoted column, and gives the new value's SQL and
/// an optional extra condition (rows it would not change).
async fn update(
    ctx: &Ctx,
    u: Update<'_>,
    new: impl FnOnce(&mut Sql, &str) -> ToolResult<(String, Option<String>)>,
) -> ToolResult<WriteResult> {
    require_target(u.condition, u.all_rows)?;
    let (col, _) = jsonb_column(ctx, u.table, u.schema, u.column, true).await?;
    let mut sql = Sql::new(u.params);
    let cond = sql.condition(u.condition)?;
    let (expr, only) = new(&mut sql, &col.column)?;
    let conditions: Vec<String> = cond.into_iter().chain(only).collect();
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let returning = if u.returning {
        format!(
            " RETURNING {}{} AS value",
            select_prefix(u.select),
            col.column
        )
    } else {
        String::new()
    };
    sql.push(&format!(
        "UPDATE {} SET {} = {expr}{filter}{returning}",
        col.table, col.column
    ));
    let out = execute(ctx, sql.text(), sql.params(), u.tx, Mode::Write).await?;
    let mut result = WriteResult {
        rows_affected: out.affected,
        rows: None,
        truncated: None,
    };
    if u.returning {
        let mut rows = out.rows;
        if rows.len() > RETURNING_MAX || out.truncated.is_some() {
            rows.truncate(RETURNING_MAX);
        }
        if (rows.len() as u64) < out.affected {
            result.truncated = Some(true);
        }
        result.rows = Some(rows);
    }
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_set

pub(super) const SET: Spec = Spec {
    name: "pg_jsonb_set",
    title: "Set a JSONB value",
    description: "Sets the value at a key path of a jsonb column (jsonb_set) in the rows matching `where` (`allRows: true` for the whole table; refused otherwise); `createMissing` (default true) adds a missing last key, and a NULL column then counts as `{}`. Reports rows affected; `returning` gives the new values (at most 100).",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

column_args! {
    pub struct SetArgs {
        /// Key path: `["a", 0, "b"]`, `"a.0.b"`, `"a[0].b"` or `"{a,0,b}"`; empty replaces the whole value.
        pub path: PathArg,
        /// The new value (any JSON value).
        pub value: Value,
        /// Add the last key of the path when missing (default true).
        #[serde(default = "yes")]
        pub create_missing: bool,
        /// Write every row when there is no `where` (required then).
        #[serde(default)]
        pub all_rows: bool,
        /// Return the new values (at most 100 rows).
        #[serde(default)]
        pub returning: bool,
        /// With `returning`: columns returned with each value (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
    }
}

pub(super) async fn set(ctx: Ctx, a: SetArgs) -> ToolResult<WriteResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let path = path_elems(&a.path)?;
    let u = Update {
        table: &a.table,
        schema: a.schema.as_deref(),
        column: &a.column,
        condition: a.condition.as_deref(),
        params: a.params.clone(),
        all_rows: a.all_rows,
        returning: a.returning,
        select: &a.select,
        tx: a.transaction_id.as_deref(),
    };
    update(&ctx, u, |sql, col| {
        let v = sql.bind(a.value.to_string());
        if path.is_empty() {
            return Ok((format!("{v}::jsonb"), None));
        }
        let p = sql.bind(&path);
        let create = sql.bind(a.create_missing);
        let target = if a.create_missing {
            format!("coalesce({col}, '{{}}'::jsonb)")
        } else {
            col.to_string()
        };
        Ok((
            format!("jsonb_set({target}, {p}::text[], {v}::jsonb, {create}::boolean)"),
            None,
        ))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_insert

pub(super) const INSERT: Spec = Spec {
    name: "pg_jsonb_insert",
    title: "Insert into a JSONB array",
    description: "Inserts a value into an array of a jsonb column (jsonb_insert) before the element at the key path (`insertAfter: true`: after it; index -1 is the last element), or adds a new object key (an existing key is an error), in the rows matching `where` (`allRows: true` for the whole table). Reports rows affected; `returning` gives the new values (at most 100).",
    hints: WRITE,
    shortcuts: &[],
};

column_args! {
    pub struct InsertArgs {
        /// Key path of the array element (e.g. `["tags", 0]`, `"tags[-1]"`) or of the new key.
        pub path: PathArg,
        /// The value to insert (any JSON value).
        pub value: Value,
        /// Insert after the element instead of before it (default false).
        #[serde(default)]
        pub insert_after: bool,
        /// Write every row when there is no `where` (required then).
        #[serde(default)]
        pub all_rows: bool,
        /// Return the new values (at most 100 rows).
        #[serde(default)]
        pub returning: bool,
        /// With `returning`: columns returned with each value (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
    }
}

pub(super) async fn insert(ctx: Ctx, a: InsertArgs) -> ToolResult<WriteResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let path = path_elems(&a.path)?;
    if path.is_empty() {
        return Err(ToolError::invalid(
            "`path` is empty: name the array element (e.g. [\"tags\", 0]) or the new key",
        ));
    }
    let u = Update {
        table: &a.table,
        schema: a.schema.as_deref(),
        column: &a.column,
        condition: a.condition.as_deref(),
        params: a.params.clone(),
        all_rows: a.all_rows,
        returning: a.returning,
        select: &a.select,
        tx: a.transaction_id.as_deref(),
    };
    update(&ctx, u, |sql, col| {
        let p = sql.bind(&path);
        let v = sql.bind(a.value.to_string());
        let after = sql.bind(a.insert_after);
        Ok((
            format!("jsonb_insert({col}, {p}::text[], {v}::jsonb, {after}::boolean)"),
            None,
        ))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_delete

pub(super) const DELETE: Spec = Spec {
    name: "pg_jsonb_delete",
    title: "Delete a JSONB key or element",
    description: "Removes the key or array element at a key path of a jsonb column (PostgreSQL's `#-`) in the rows matching `where` (`allRows: true` for the whole table); only rows that have it are updated. Reports rows affected; `returning` gives the new values (at most 100).",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

column_args! {
    pub struct DeleteArgs {
        /// Key path of what to remove: `"a.b"`, `["tags", 0]`, `"{a,b}"`.
        pub path: PathArg,
        /// Write every row when there is no `where` (required then).
        #[serde(default)]
        pub all_rows: bool,
        /// Return the new values (at most 100 rows).
        #[serde(default)]
        pub returning: bool,
        /// With `returning`: columns returned with each value (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
    }
}

pub(super) async fn delete(ctx: Ctx, a: DeleteArgs) -> ToolResult<WriteResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let path = path_elems(&a.path)?;
    if path.is_empty() {
        return Err(
            ToolError::invalid("`path` is empty: name the key or element to remove").suggest(
                "To clear the whole value use pg_jsonb_set with an empty path and value {}.",
            ),
        );
    }
    let u = Update {
        table: &a.table,
        schema: a.schema.as_deref(),
        column: &a.column,
        condition: a.condition.as_deref(),
        params: a.params.clone(),
        all_rows: a.all_rows,
        returning: a.returning,
        select: &a.select,
        tx: a.transaction_id.as_deref(),
    };
    update(&ctx, u, |sql, col| {
        let p = sql.bind(&path);
        Ok((
            format!("{col} #- {p}::text[]"),
            // Only rows that have the path (`#>` is NULL where it is missing, also where a
            // key meets an array, which `#-` would refuse).
            Some(format!("{col} #> {p}::text[] IS NOT NULL")),
        ))
    })
    .await
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_strip_nulls

pub(super) const STRIP_NULLS: Spec = Spec {
    name: "pg_jsonb_strip_nulls",
    title: "Strip null object fields",
    description: "Removes object fields whose value is null, at every depth (jsonb_strip_nulls; nulls inside arrays stay): of a document (`result`), or of a jsonb column in the rows matching `where` (`allRows: true` for the whole table), updating only rows that change. `preview: true` shows before/after for those rows (at most 100) without writing.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

dual_args! {
    pub struct StripNullsArgs {
        /// Table mode: show the rows that would change (before and after) instead of writing.
        #[serde(default)]
        pub preview: bool,
        /// Table mode: write every row when there is no `where` (required then).
        #[serde(default)]
        pub all_rows: bool,
        /// Table mode: columns returned with each preview row (e.g. `["id"]`).
        #[serde(default)]
        pub select: Vec<String>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stripped {
    /// Document mode: the document without null fields (absent when the document is JSON null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Table mode (not a preview): rows updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_affected: Option<u64>,
    /// Preview: the rows that would change: `select` columns, `before` and `after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Map<String, Value>>>,
    /// Preview: `true` when more rows would change than shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

pub(super) async fn strip_nulls(ctx: Ctx, a: StripNullsArgs) -> ToolResult<Stripped> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let mut probe = Sql::new(a.params.clone());
    let dual: DualArgs<'_> = a.dual();
    let is_doc = a.document.is_some() || a.json.is_some();
    if is_doc {
        if a.preview || a.all_rows {
            return Err(ToolError::invalid(
                "`preview` and `allRows` apply to table mode only",
            ));
        }
        let Source::Doc(d) = source(&ctx, &mut probe, dual).await? else {
            unreachable!("document given");
        };
        probe.push(&format!("SELECT jsonb_strip_nulls({d}) AS result"));
        let mut row = read_one(&ctx, &probe, a.transaction_id.as_deref()).await?;
        return Ok(Stripped {
            result: row.remove("result").filter(|v| !v.is_null()),
            rows_affected: None,
            rows: None,
            truncated: None,
        });
    }
    // Table mode: checks the inputs (one source, both table and column) the same way.
    let Source::Column { col, expr } = source(&ctx, &mut probe, dual).await? else {
        unreachable!("no document given");
    };
    if a.preview {
        let limit = limit_of(Some(RETURNING_MAX as u32), 100, MAX_LIMIT)?;
        let mut sql = Sql::new(a.params.clone());
        let cond = sql.condition(a.condition.as_deref())?;
        let lim = sql.bind(i64::from(limit) + 1);
        sql.push(&format!(
            "SELECT {}{expr} AS before, jsonb_strip_nulls({expr}) AS after FROM {} \
             WHERE {expr} IS DISTINCT FROM jsonb_strip_nulls({expr}){} LIMIT {lim}",
            select_prefix(&a.select),
            col.table,
            cond.map(|c| format!(" AND {c}")).unwrap_or_default()
        ));
        let b = read_bounded(&ctx, &sql, a.transaction_id.as_deref(), limit).await?;
        return Ok(Stripped {
            result: None,
            rows_affected: None,
            rows: Some(b.rows),
            truncated: b.truncated.then_some(true),
        });
    }
    let u = Update {
        table: a.table.as_deref().unwrap_or_default(),
        schema: a.schema.as_deref(),
        column: a.column.as_deref().unwrap_or_default(),
        condition: a.condition.as_deref(),
        params: a.params.clone(),
        all_rows: a.all_rows,
        returning: false,
        select: &[],
        tx: a.transaction_id.as_deref(),
    };
    let out = update(&ctx, u, |_, col| {
        Ok((
            format!("jsonb_strip_nulls({col})"),
            Some(format!("{col} IS DISTINCT FROM jsonb_strip_nulls({col})")),
        ))
    })
    .await?;
    Ok(Stripped {
        result: None,
        rows_affected: Some(out.rows_affected),
        rows: None,
        truncated: None,
    })
}
