//! Window functions over a table's rows: moving average, running total, lag/lead, rank,
//! row number and ntile. Each returns the rows (all or `selectColumns`) plus the computed
//! column, ordered by `partitionBy` then `orderBy`, one page of `limit` rows at `pageOffset`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::exec::{Mode, execute};
use super::super::sql::{Sql, column_of, table_of};
use super::super::{Ctx, READ, Spec, Tool};
use super::aggregate::{Direction, projection};
use super::{GROUP, MAX_GROUP_COLUMNS, Names, bounded, numeric_expr, stats_args};
use crate::db::QueryResult;
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};

pub fn tools() -> Vec<Tool> {
    vec![
        MOVING_AVG.tool(GROUP, moving_avg),
        RUNNING_TOTAL.tool(GROUP, running_total),
        LAG_LEAD.tool(GROUP, lag_lead),
        RANK.tool(GROUP, rank),
        ROW_NUMBER.tool(GROUP, row_number),
        NTILE.tool(GROUP, ntile),
    ]
}

/// The window and page every window tool shares.
struct Window {
    partition: Vec<String>,
    order: Vec<String>,
    direction: Direction,
    select: Option<Vec<String>>,
    limit: u32,
    offset: u64,
}

/// The rows of a window tool.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowOut {
    /// The key of the computed value in each row (its name, suffixed `_2` if the table has a
    /// column of that name).
    pub computed_column: String,
    /// The rows: the selected columns and the computed one, ordered by `partitionBy`, then
    /// `orderBy`. When more rows follow, `truncated` is true and `nextPageOffset` is set.
    #[serde(flatten)]
    pub rows: QueryResult,
    /// Pass as `pageOffset` for the next page (same arguments otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_offset: Option<u64>,
}

/// Runs `SELECT <projection>, <function> OVER (…) AS name FROM table WHERE … ORDER BY …`
/// for one page. `function` is pgmcp's text with the window spliced in at `{w}`.
#[allow(clippy::too_many_arguments)]
async fn run(
    ctx: &Ctx,
    table: &str,
    schema: Option<&str>,
    mut sql: Sql,
    condition: Option<&str>,
    w: Window,
    function: &str,
    name: &str,
    tx: Option<&str>,
) -> ToolResult<WindowOut> {
    if w.order.is_empty() {
        return Err(ToolError::invalid("`orderBy` needs at least one column"));
    }
    if w.order.len() > MAX_GROUP_COLUMNS || w.partition.len() > MAX_GROUP_COLUMNS {
        return Err(ToolError::invalid(format!(
            "`orderBy` and `partitionBy` take at most {MAX_GROUP_COLUMNS} columns each"
        )));
    }
    let q = table_of(ctx, table, schema).await?;
    // Qualified by the relation's name: in ORDER BY a bare name would mean an output column
    // first (the computed one, if the table has a column of that name).
    let rel = quote_ident(&q.name);
    let qual = |cols: &[String]| {
        cols.iter()
            .map(|c| format!("{rel}.{}", quote_ident(c)))
            .collect::<Vec<_>>()
    };
    let dir = w.direction.sql();
    let order: Vec<String> = qual(&w.order)
        .into_iter()
        .map(|c| format!("{c} {dir}"))
        .collect();
    let partition = qual(&w.partition);
    let over = if partition.is_empty() {
        format!("ORDER BY {}", order.join(", "))
    } else {
        format!(
            "PARTITION BY {} ORDER BY {}",
            partition.join(", "),
            order.join(", ")
        )
    };
    let filter = sql.where_clause(condition)?;
    let outer: Vec<String> = partition.iter().cloned().chain(order).collect();
    let lim = sql.bind(w.limit + 1);
    let off = sql.bind(w.offset);
    let call = function.replace("{w}", &over);
    sql.push(&format!(
        "SELECT {}, {call} AS {} FROM {}{filter} ORDER BY {} LIMIT {lim} OFFSET {off}",
        projection(&w.select),
        quote_ident(name),
        q.quoted(),
        outer.join(", ")
    ));
    let out = execute(ctx, sql.text(), sql.params(), tx, Mode::Read).await?;
    let mut rows = out.into_result();
    let computed = rows
        .rows
        .first()
        .and_then(|r| r.keys().next_back().cloned())
        .unwrap_or_else(|| name.to_string());
    let mut next_page_offset = None;
    if rows.rows.len() > w.limit as usize {
        rows.rows.truncate(w.limit as usize);
        rows.row_count = rows.rows.len();
        let next = w.offset + w.limit as u64;
        next_page_offset = Some(next);
        rows.truncated = Some(true);
        rows.hint = Some(format!(
            "More rows follow: call again with pageOffset {next} (order by a unique column for stable pages), or narrow `where`."
        ));
    } else if rows.truncated == Some(true) {
        // Cut by the server's own row or size limit before `limit`.
        let next = w.offset + rows.rows.len() as u64;
        next_page_offset = Some(next);
        rows.hint = Some(format!(
            "Cut at the server's result limit: call again with pageOffset {next}, a smaller `limit` or fewer `selectColumns`."
        ));
    }
    Ok(WindowOut {
        computed_column: computed,
        rows,
        next_page_offset,
    })
}

macro_rules! window_args {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        stats_args! {
            $(#[$meta])*
            $name {
                /// Column(s) ordering the window and the rows.
                pub order_by: Names,
                /// `asc` (default) or `desc`, for every `orderBy` column.
                pub order_direction: Option<Direction>,
                /// Column(s) whose values restart the window (one window per combination).
                pub partition_by: Option<Names>,
                /// Columns to return with the computed one (default: all).
                pub select_columns: Option<Vec<String>>,
                /// Rows per page (default 100, max 1000).
                pub limit: Option<u32>,
                /// Rows to skip (for the next page: the previous answer's `nextPageOffset`).
                #[serde(default)]
                pub page_offset: u64,
                $($body)*
            }
        }
    };
}

#[allow(clippy::result_large_err)]
fn window_of(
    order_by: &Names,
    direction: Option<Direction>,
    partition_by: &Option<Names>,
    select: Option<Vec<String>>,
    limit: Option<u32>,
    offset: u64,
) -> ToolResult<Window> {
    Ok(Window {
        partition: partition_by.as_ref().map(Names::list).unwrap_or_default(),
        order: order_by.list(),
        direction: direction.unwrap_or(Direction::Asc),
        select,
        limit: bounded(limit, 100, 1000, "limit")?,
        offset,
    })
}

macro_rules! window {
    ($a:ident) => {
        window_of(
            &$a.order_by,
            $a.order_direction,
            &$a.partition_by,
            $a.select_columns.clone(),
            $a.limit,
            $a.page_offset,
        )?
    };
}

// ---------------------------------------------------------------------------------------

const MOVING_AVG: Spec = Spec {
    name: "pg_stats_moving_avg",
    title: "Moving average",
    description: "Each row with the average of a numeric column over it and the `windowSize` − 1 rows before it (default 3, max 1000) in `orderBy` order, per `partitionBy`; rows paged by `limit` (default 100, max 1000) and `pageOffset`.",
    hints: READ,
    shortcuts: &[],
};

window_args! {
    MovingAvgArgs {
        /// Numeric column to average.
        pub column: String,
        /// Rows in the window, the current one included (default 3, max 1000).
        pub window_size: Option<u32>,
    }
}

async fn moving_avg(ctx: Ctx, a: MovingAvgArgs) -> ToolResult<WindowOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let size = bounded(a.window_size, 3, 1000, "windowSize")?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let w = window!(a);
    // `size` is a u32 pgmcp checked, not caller text.
    let f = format!(
        "(avg({x}) OVER ({{w}} ROWS BETWEEN {} PRECEDING AND CURRENT ROW))::float8",
        size - 1
    );
    run(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        Sql::new(a.params),
        a.condition.as_deref(),
        w,
        &f,
        "moving_avg",
        a.transaction_id.as_deref(),
    )
    .await
}

const RUNNING_TOTAL: Spec = Spec {
    name: "pg_stats_running_total",
    title: "Running total",
    description: "Each row with the cumulative sum of a numeric column up to and including it in `orderBy` order (row by row, ties included one at a time), restarting per `partitionBy`; rows paged by `limit` (default 100, max 1000) and `pageOffset`.",
    hints: READ,
    shortcuts: &[],
};

window_args! {
    RunningTotalArgs {
        /// Numeric column to sum.
        pub column: String,
    }
}

async fn running_total(ctx: Ctx, a: RunningTotalArgs) -> ToolResult<WindowOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let w = window!(a);
    let f =
        format!("(sum({x}) OVER ({{w}} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))::float8");
    run(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        Sql::new(a.params),
        a.condition.as_deref(),
        w,
        &f,
        "running_total",
        a.transaction_id.as_deref(),
    )
    .await
}

/// A JSON scalar (the schema of `defaultValue`, read as the column's type).
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Scalar {
    Text(String),
    Number(f64),
    Bool(bool),
}

const LAG_LEAD: Spec = Spec {
    name: "pg_stats_lag_lead",
    title: "Previous / next value",
    description: "Each row with a column's value `offset` rows before (`direction: \"lag\"`, default) or after (`\"lead\"`) it in `orderBy` order within its `partitionBy` window (`defaultValue`, else null, where there is none); rows paged by `limit` (default 100, max 1000) and `pageOffset`.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum LagLead {
    #[default]
    Lag,
    Lead,
}

window_args! {
    LagLeadArgs {
        /// Column whose earlier/later value is fetched (any type).
        pub column: String,
        /// `lag` (previous rows, default) or `lead` (following rows).
        #[serde(default)]
        pub direction: LagLead,
        /// How many rows back or ahead (default 1, max 1000).
        pub offset: Option<u32>,
        /// Value where no such row exists (default null), as the column's type.
        #[schemars(with = "Option<Scalar>")]
        pub default_value: Option<Value>,
    }
}

async fn lag_lead(ctx: Ctx, a: LagLeadArgs) -> ToolResult<WindowOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let k = bounded(a.offset, 1, 1000, "offset")?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let w = window!(a);
    let mut sql = Sql::new(a.params);
    let (fname, name) = match a.direction {
        LagLead::Lag => ("lag", "lag"),
        LagLead::Lead => ("lead", "lead"),
    };
    let pk = sql.bind(k);
    let f = match &a.default_value {
        Some(d) if !d.is_null() => {
            let pd = sql.bind(d);
            format!("{fname}({}, {pk}::int4, {pd}) OVER ({{w}})", c.column)
        }
        _ => format!("{fname}({}, {pk}::int4) OVER ({{w}})", c.column),
    };
    run(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        sql,
        a.condition.as_deref(),
        w,
        &f,
        name,
        a.transaction_id.as_deref(),
    )
    .await
}

const RANK: Spec = Spec {
    name: "pg_stats_rank",
    title: "Rank rows",
    description: "Each row with its rank in `orderBy` order within its `partitionBy` window: `rank` (ties share a rank, gaps follow; default), `dense_rank` (no gaps) or `percent_rank` (0–1); rows paged by `limit` (default 100, max 1000) and `pageOffset`.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum RankMethod {
    #[default]
    Rank,
    DenseRank,
    PercentRank,
}

window_args! {
    RankArgs {
        /// `rank` (default), `dense_rank` or `percent_rank`.
        #[serde(default)]
        pub method: RankMethod,
    }
}

async fn rank(ctx: Ctx, a: RankArgs) -> ToolResult<WindowOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let w = window!(a);
    let name = match a.method {
        RankMethod::Rank => "rank",
        RankMethod::DenseRank => "dense_rank",
        RankMethod::PercentRank => "percent_rank",
    };
    let f = format!("{name}() OVER ({{w}})");
    run(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        Sql::new(a.params),
        a.condition.as_deref(),
        w,
        &f,
        name,
        a.transaction_id.as_deref(),
    )
    .await
}

const ROW_NUMBER: Spec = Spec {
    name: "pg_stats_row_number",
    title: "Number rows",
    description: "Each row with its position (1, 2, …) in `orderBy` order, restarting per `partitionBy`; rows paged by `limit` (default 100, max 1000) and `pageOffset`.",
    hints: READ,
    shortcuts: &[],
};

window_args! {
    RowNumberArgs {}
}

async fn row_number(ctx: Ctx, a: RowNumberArgs) -> ToolResult<WindowOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let w = window!(a);
    run(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        Sql::new(a.params),
        a.condition.as_deref(),
        w,
        "row_number() OVER ({w})",
        "row_number",
        a.transaction_id.as_deref(),
    )
    .await
}

const NTILE: Spec = Spec {
    name: "pg_stats_ntile",
    title: "Split rows into buckets",
    description: "Each row with its bucket number 1…`buckets` (default 4, max 1000) when the rows of its `partitionBy` window are split in `orderBy` order into that many groups of as equal size as possible; rows paged by `limit` (default 100, max 1000) and `pageOffset`.",
    hints: READ,
    shortcuts: &[],
};

window_args! {
    NtileArgs {
        /// Number of buckets (default 4: quartiles; max 1000).
        pub buckets: Option<u32>,
    }
}

async fn ntile(ctx: Ctx, a: NtileArgs) -> ToolResult<WindowOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let n = bounded(a.buckets, 4, 1000, "buckets")?;
    let w = window!(a);
    let mut sql = Sql::new(a.params);
    let pn = sql.bind(n);
    let f = format!("ntile({pn}::int4) OVER ({{w}})");
    run(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        sql,
        a.condition.as_deref(),
        w,
        &f,
        "ntile",
        a.transaction_id.as_deref(),
    )
    .await
}
