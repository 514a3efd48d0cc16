//! Row helpers: count, exists, upsert, batch insert.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::exec::{Mode, execute, read_rows};
use super::super::sql::Sql;
use super::super::{Ctx, DESTRUCTIVE, READ, Shortcut, Spec, WRITE};
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};

pub(super) const COUNT: Spec = Spec {
    name: "pg_count",
    title: "Count rows",
    description: "Count the rows of a table, optionally matching a SQL condition with $n parameters.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "count",
        positional: &["table", "where", "params"],
        shape: None,
    }],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CountArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Optional SQL condition, e.g. `status = $1`.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// Values for $n placeholders in `where`.
    #[serde(default)]
    pub params: Vec<Value>,
}

#[derive(Serialize, JsonSchema)]
pub struct Count {
    /// Rows matching (all rows without `where`).
    pub count: i64,
}

pub(super) async fn count(ctx: Ctx, a: CountArgs) -> ToolResult<Count> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    sql.push(&format!(
        "SELECT count(*) AS count FROM {}{filter}",
        q.quoted()
    ));
    let rows = read_rows(&ctx, sql.text(), sql.params()).await?;
    let n = rows
        .first()
        .and_then(|r| r.get("count"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(Count { count: n })
}

pub(super) const EXISTS: Spec = Spec {
    name: "pg_exists",
    title: "Check whether rows exist",
    description: "Whether any row of a table matches an optional SQL condition (stops at the first match).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Serialize, JsonSchema)]
pub struct Exists {
    /// Whether at least one row matches.
    pub exists: bool,
}

pub(super) async fn exists(ctx: Ctx, a: CountArgs) -> ToolResult<Exists> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    sql.push(&format!(
        "SELECT EXISTS (SELECT 1 FROM {}{filter}) AS exists",
        q.quoted()
    ));
    let rows = read_rows(&ctx, sql.text(), sql.params()).await?;
    let b = rows
        .first()
        .and_then(|r| r.get("exists"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Exists { exists: b })
}

pub(super) const UPSERT: Spec = Spec {
    name: "pg_upsert",
    title: "Insert or update a row",
    description: "Insert a row, or update it when it conflicts on conflictColumns (INSERT … ON CONFLICT). Returns the row and whether it was inserted.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpsertArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Column → value for the row.
    pub data: Map<String, Value>,
    /// Columns of the unique constraint or primary key that detects the conflict.
    pub conflict_columns: Vec<String>,
    /// Columns to overwrite on conflict (default: every column of `data` not in conflictColumns).
    pub update_columns: Option<Vec<String>>,
    /// Return the resulting row (default true).
    pub returning: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpsertResult {
    /// 1 when the row was inserted or updated, 0 when a conflict left it alone.
    pub rows_affected: u64,
    /// `true` when the row was inserted, `false` when an existing row was updated; absent
    /// with `returning: false` or when nothing was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inserted: Option<bool>,
    /// The resulting row (column → value); absent with `returning: false` or when nothing
    /// was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<Map<String, Value>>,
}

pub(super) async fn upsert(ctx: Ctx, a: UpsertArgs) -> ToolResult<UpsertResult> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.data.is_empty() {
        return Err(ToolError::invalid(
            "data is empty; give at least one column",
        ));
    }
    if a.conflict_columns.is_empty() {
        return Err(ToolError::invalid("conflictColumns is empty").suggest(
            "Name the primary key or unique columns that identify the row, e.g. [\"id\"].",
        ));
    }
    let cols: Vec<&String> = a.data.keys().collect();
    let params: Vec<Value> = a.data.values().cloned().collect();
    let placeholders: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let update: Vec<String> = a.update_columns.clone().unwrap_or_else(|| {
        cols.iter()
            .filter(|c| !a.conflict_columns.contains(c))
            .map(|c| c.to_string())
            .collect()
    });
    let action = if update.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!(
            "DO UPDATE SET {}",
            update
                .iter()
                .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let returning = a.returning.unwrap_or(true);
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {action}{}",
        q.quoted(),
        cols.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        placeholders.join(", "),
        a.conflict_columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", "),
        if returning {
            " RETURNING *, (xmax = 0) AS _inserted"
        } else {
            ""
        }
    );
    let out = execute(&ctx, &sql, &params, None, Mode::Write).await?;
    let mut result = UpsertResult {
        rows_affected: out.affected,
        inserted: None,
        row: None,
    };
    if let Some(mut row) = out.rows.into_iter().next() {
        result.inserted = row.remove("_inserted").and_then(|v| v.as_bool());
        result.row = Some(row);
    }
    Ok(result)
}

pub(super) const BATCH_INSERT: Spec = Spec {
    name: "pg_batch_insert",
    title: "Insert many rows",
    description: "Insert many rows (objects of column → value) atomically, chunked under PostgreSQL's parameter limit.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BatchInsertArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Rows as objects of column → value. Columns missing from a row get their default.
    pub rows: Vec<Map<String, Value>>,
    /// Return the inserted rows (capped like query results).
    #[serde(default)]
    pub returning: bool,
    /// Skip rows that violate a unique constraint instead of failing.
    #[serde(default)]
    pub on_conflict_do_nothing: bool,
}

/// PostgreSQL allows 65535 bind parameters per statement.
const MAX_PARAMS: usize = 65_535;

#[derive(Serialize, JsonSchema)]
pub struct BatchInsertResult {
    /// Rows inserted (rows skipped by `onConflictDoNothing` not counted).
    pub inserted: u64,
    /// `true` when the returned rows were cut at the row or size limit; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// The inserted rows (column → value), with `returning`; absent without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<Vec<Map<String, Value>>>,
}

pub(super) async fn batch_insert(ctx: Ctx, a: BatchInsertArgs) -> ToolResult<BatchInsertResult> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.rows.is_empty() {
        return Err(ToolError::invalid("rows is empty; nothing to insert"));
    }
    let mut columns: Vec<&String> = Vec::new();
    for r in &a.rows {
        for k in r.keys() {
            if !columns.contains(&k) {
                columns.push(k);
            }
        }
    }
    if columns.is_empty() {
        return Err(ToolError::invalid("every row is empty; give column values"));
    }
    let per_chunk = (MAX_PARAMS / columns.len()).clamp(1, 1000);
    let col_list = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let suffix = format!(
        "{}{}",
        if a.on_conflict_do_nothing {
            " ON CONFLICT DO NOTHING"
        } else {
            ""
        },
        if a.returning { " RETURNING *" } else { "" }
    );

    let mut statements = Vec::new();
    for (chunk_no, chunk) in a.rows.chunks(per_chunk).enumerate() {
        let mut params = Vec::with_capacity(chunk.len() * columns.len());
        let mut tuples = Vec::with_capacity(chunk.len());
        for row in chunk {
            let mut slots = Vec::with_capacity(columns.len());
            for c in &columns {
                match row.get(*c) {
                    Some(v) => {
                        params.push(v.clone());
                        slots.push(format!("${}", params.len()));
                    }
                    None => slots.push("DEFAULT".into()),
                }
            }
            tuples.push(format!("({})", slots.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {} ({col_list}) VALUES {}{suffix}",
            q.quoted(),
            tuples.join(", ")
        );
        let rows_label = format!(
            "rows {}–{}",
            chunk_no * per_chunk + 1,
            chunk_no * per_chunk + chunk.len()
        );
        statements.push((sql, params, rows_label));
    }
    let label = |rows_label: &str| {
        let rows_label = rows_label.to_string();
        move |mut e: ToolError| {
            e.error = format!("{} (in {rows_label})", e.error);
            e
        }
    };

    let caps = ctx.caps();
    let max_rows = caps.max_rows;
    let mut inserted = 0u64;
    let mut returned = Vec::new();
    let mut truncated = false;
    let mut collect = |out: crate::db::QueryOutput| {
        inserted += out.affected;
        truncated |= out.truncated.is_some();
        if returned.len() < max_rows {
            returned.extend(out.rows);
        }
    };
    if ctx.transaction.is_some() {
        // Inside the caller's pinned transaction, which provides the atomicity.
        for (sql, params, rows_label) in &statements {
            let out = execute(&ctx, sql, params, None, Mode::Write)
                .await
                .map_err(label(rows_label))?;
            collect(out);
        }
    } else {
        // All chunks in one transaction: a failure in chunk 3 must not leave chunks 1–2 behind.
        let mut client = ctx.db().client().await?;
        let tx = client
            .build_transaction()
            .read_only(ctx.read_only)
            .start()
            .await
            .map_err(ToolError::from)?;
        for (sql, params, rows_label) in &statements {
            let out = crate::db::run_query(&*tx, sql, params, caps.clone())
                .await
                .map_err(label(rows_label))?;
            collect(out);
        }
        tx.commit().await.map_err(ToolError::from)?;
    }
    let mut result = BatchInsertResult {
        inserted,
        truncated: None,
        rows: None,
    };
    if a.returning {
        if returned.len() > caps.max_rows || truncated {
            returned.truncate(caps.max_rows);
            result.truncated = Some(true);
        }
        result.rows = Some(returned);
    }
    Ok(result)
}
