//! Time series bucketing with gap filling, and seeded table samples.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::exec::{Mode, execute};
use super::super::sql::{Sql, column_of, table_of};
use super::super::{Ctx, READ, Spec, Tool};
use super::aggregate::projection;
use super::{GROUP, Group, Groups, bounded, group_limit, int, num, numeric_expr, stats_args};
use crate::db::QueryResult;
use crate::error::{ToolError, ToolResult};

pub fn tools() -> Vec<Tool> {
    vec![
        TIME_SERIES.tool(GROUP, time_series),
        SAMPLING.tool(GROUP, sampling),
    ]
}

// ---------------------------------------------------------------------------------------
// pg_stats_time_series

const TIME_SERIES: Spec = Spec {
    name: "pg_stats_time_series",
    title: "Time series",
    description: "Rows bucketed by `date_trunc(interval, timeColumn)` (a date or timestamp column; timestamptz in the session time zone) with their count and, given `valueColumn`, its sum/avg/min/max (`aggregation`, default avg), every bucket from the first to the last listed (empty ones with count 0 and no value); at most `limit` buckets (default 100, max 1000: a longer span is an error that says how to narrow it), optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Second,
    Minute,
    Hour,
    #[default]
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::Day => "day",
            Unit::Week => "week",
            Unit::Month => "month",
            Unit::Quarter => "quarter",
            Unit::Year => "year",
        }
    }

    fn step(self) -> &'static str {
        match self {
            Unit::Quarter => "3 months",
            Unit::Second => "1 second",
            Unit::Minute => "1 minute",
            Unit::Hour => "1 hour",
            Unit::Day => "1 day",
            Unit::Week => "1 week",
            Unit::Month => "1 month",
            Unit::Year => "1 year",
        }
    }

    /// SQL for the number of buckets from `lo` to `hi` (both truncated to this unit).
    fn count_sql(self) -> String {
        let months = "((extract(year FROM hi) * 12 + extract(month FROM hi)) \
                      - (extract(year FROM lo) * 12 + extract(month FROM lo)))";
        let secs = |s: u32| format!("round(extract(epoch FROM hi - lo) / {s})");
        let n = match self {
            Unit::Second => secs(1),
            Unit::Minute => secs(60),
            Unit::Hour => secs(3600),
            // Days and weeks may be an hour short or long across a DST change: rounded.
            Unit::Day => secs(86_400),
            Unit::Week => secs(604_800),
            Unit::Month => months.to_string(),
            Unit::Quarter => format!("({months} / 3)"),
            Unit::Year => format!("({months} / 12)"),
        };
        format!("({n})::int8 + 1")
    }
}

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

stats_args! {
    TimeSeriesArgs {
        /// Date or timestamp column giving each row's time.
        #[serde(alias = "time")]
        pub time_column: String,
        /// Numeric column to aggregate per bucket (omit to count rows).
        #[serde(alias = "value")]
        pub value_column: Option<String>,
        /// Bucket size: second, minute, hour, day (default), week (ISO, from Monday), month, quarter, year.
        #[serde(default)]
        pub interval: Unit,
        /// sum, avg (default with `valueColumn`), min, max, or count (rows; default without).
        pub aggregation: Option<Aggregation>,
        /// Most buckets per series (default 100, max 1000).
        pub limit: Option<u32>,
        /// Columns to group by: one series per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct TimeBucket {
    /// Start of the bucket (as the column's type: a timestamp, or a UTC instant for timestamptz).
    pub bucket: Value,
    /// Rows in the bucket (with `valueColumn` and `count`: its non-null values).
    pub count: i64,
    /// The aggregate of `valueColumn`; absent for `count` and for a bucket without values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
pub struct Series {
    pub buckets: Vec<TimeBucket>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeSeriesOut {
    pub time_column: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_column: Option<String>,
    pub interval: Unit,
    pub aggregation: Aggregation,
    #[serde(flatten)]
    pub result: super::Aggregated<Series>,
}

async fn time_series(ctx: Ctx, a: TimeSeriesArgs) -> ToolResult<TimeSeriesOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let max = bounded(a.limit, 100, 1000, "limit")?;
    let tc = column_of(&ctx, &a.table, a.schema.as_deref(), &a.time_column).await?;
    let t = match tc.type_name.as_str() {
        "date" => format!("{}::timestamp", tc.column),
        n if n.starts_with("timestamp") => tc.column.clone(),
        other => {
            return Err(ToolError::invalid(format!(
                "`timeColumn` {} is of type {other}, not a date or timestamp",
                tc.column
            ))
            .suggest(
                "Give a date, timestamp or timestamptz column; pg_get_columns lists the types.",
            ));
        }
    };
    let value = match &a.value_column {
        Some(v) => {
            let vc = column_of(&ctx, &a.table, a.schema.as_deref(), v).await?;
            Some(numeric_expr(&vc, "valueColumn")?)
        }
        None => None,
    };
    let agg = match (a.aggregation, &value) {
        (Some(Aggregation::Count), _) | (None, None) => Aggregation::Count,
        (Some(g), Some(_)) => g,
        (None, Some(_)) => Aggregation::Avg,
        (Some(_), None) => {
            return Err(ToolError::invalid(
                "`aggregation` other than count needs `valueColumn`",
            ));
        }
    };
    let groups = Groups::new(a.group_by, "groupBy")?;
    let glimit = group_limit(a.group_limit)?;
    let mut sql = Sql::new(a.params);
    let filter = match sql.condition(a.condition.as_deref())? {
        Some(c) => format!(" WHERE {t} IS NOT NULL AND {c}"),
        None => format!(" WHERE {t} IS NOT NULL"),
    };
    let unit = sql.bind(a.interval.name());
    let step = sql.bind(a.interval.step());
    let pmax = sql.bind(max);
    let x = value.clone().unwrap_or_else(|| "NULL::float8".into());
    let (count, aggregate) = match agg {
        Aggregation::Count if value.is_some() => ("count(x)", "NULL::float8"),
        Aggregation::Count => ("count(*)", "NULL::float8"),
        Aggregation::Sum => ("count(x)", "sum(x)::float8"),
        Aggregation::Avg => ("count(x)", "avg(x)::float8"),
        Aggregation::Min => ("count(x)", "min(x)::float8"),
        Aggregation::Max => ("count(x)", "max(x)::float8"),
    };
    let (gs, ga) = (groups.select(), groups.aliases());
    let gcomma = if groups.is_empty() {
        String::new()
    } else {
        format!("{ga}, ")
    };
    let by = (1..=groups.names().len() + 1)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (grp_cte, grp_cols, grp_join, on_group) = if groups.is_empty() {
        (String::new(), String::new(), String::new(), String::new())
    } else {
        let gl = sql.bind(glimit + 1);
        let cols: String = (0..groups.names().len())
            .map(|i| format!("_pg._g{i}, "))
            .collect();
        let on: String = (0..groups.names().len())
            .map(|i| format!(" AND _pa._g{i} IS NOT DISTINCT FROM _pg._g{i}"))
            .collect();
        (
            format!(", _pg AS (SELECT DISTINCT {ga} FROM _pa ORDER BY {ga} LIMIT {gl})"),
            cols,
            "_pg CROSS JOIN ".to_string(),
            on,
        )
    };
    sql.push(&format!(
        "WITH _ps AS MATERIALIZED (SELECT {gs}date_trunc({unit}, {t}) AS b, {x} AS x FROM {}{filter}), \
         _pa AS (SELECT {gcomma}b, {count} AS n, {aggregate} AS value FROM _ps GROUP BY {by}), \
         _pe AS (SELECT lo, hi, {} AS buckets FROM (SELECT min(b) AS lo, max(b) AS hi FROM _pa) r){grp_cte}, \
         _pt AS (SELECT generate_series(lo, CASE WHEN buckets <= {pmax} THEN hi ELSE lo END, {step}::interval) AS b \
                 FROM _pe WHERE lo IS NOT NULL) \
         SELECT _pe.lo, _pe.hi, _pe.buckets, {grp_cols}_pt.b AS bucket, coalesce(_pa.n, 0) AS n, _pa.value \
         FROM _pe LEFT JOIN ({grp_join}_pt LEFT JOIN _pa ON _pa.b = _pt.b{on_group}) ON true \
         ORDER BY {grp_cols}bucket",
        tc.table,
        a.interval.count_sql()
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let cut = out.truncated.is_some();
    let rows = out.rows;
    if let Some(first) = rows.first() {
        let n = int(first, "buckets");
        if n > max as i64 {
            return Err(ToolError::invalid(format!(
                "the rows span {n} {} buckets (from {} to {}), more than `limit` {max}",
                a.interval.name(),
                first.get("lo").unwrap_or(&Value::Null),
                first.get("hi").unwrap_or(&Value::Null),
            ))
            .suggest("Use a larger `interval`, raise `limit` (at most 1000), or narrow the time range with `where` (e.g. created_at >= $1)."));
        }
    }
    let bucket = |r: &Map<String, Value>| TimeBucket {
        bucket: r.get("bucket").cloned().unwrap_or(Value::Null),
        count: int(r, "n"),
        value: num(r, "value"),
    };
    // No data: one row with lo = null and no bucket.
    let rows: Vec<Map<String, Value>> = rows
        .into_iter()
        .filter(|r| r.get("bucket").is_some_and(|b| !b.is_null()))
        .collect();
    let result = if groups.is_empty() {
        super::Aggregated {
            overall: Some(Series {
                buckets: rows.iter().map(bucket).collect(),
            }),
            groups: None,
            truncated: cut.then_some(true),
        }
    } else {
        let mut split: Vec<Vec<Map<String, Value>>> = Vec::new();
        for r in rows {
            match split.last_mut() {
                Some(g) if groups.same(&g[0], &r) => g.push(r),
                _ => split.push(vec![r]),
            }
        }
        let mut truncated = split.len() > glimit as usize;
        if cut {
            split.pop();
            truncated = true;
        }
        split.truncate(glimit as usize);
        super::Aggregated {
            overall: None,
            groups: Some(
                split
                    .iter()
                    .map(|g| Group {
                        group: groups.decode(&g[0]),
                        result: Series {
                            buckets: g.iter().map(bucket).collect(),
                        },
                    })
                    .collect(),
            ),
            truncated: truncated.then_some(true),
        }
    };
    Ok(TimeSeriesOut {
        time_column: a.time_column,
        value_column: a.value_column,
        interval: a.interval,
        aggregation: agg,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_sampling

const SAMPLING: Spec = Spec {
    name: "pg_stats_sampling",
    title: "Random sample",
    description: "A random sample of a table's rows by `TABLESAMPLE BERNOULLI` (each row with probability `percentage`, default) or `SYSTEM` (whole pages; coarse on small tables), `REPEATABLE (seed)`: the same seed gives the same sample of unchanged data (a seed is chosen and returned when none is given). `where` filters the sampled rows; at most `limit` rows (default 100, max 1000). Tables and materialized views only.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SampleMethod {
    /// Row-level: each row is kept with probability `percentage` / 100.
    #[default]
    Bernoulli,
    /// Page-level: each page is kept with that probability (faster, clumpier).
    System,
}

stats_args! {
    SamplingArgs {
        /// `bernoulli` (default) or `system`.
        #[serde(default)]
        pub method: SampleMethod,
        /// Share of the table sampled, in percent (greater than 0, at most 100; default 10).
        #[serde(alias = "percent")]
        pub percentage: Option<f64>,
        /// Seed for `REPEATABLE`: the same seed, the same sample (default: chosen and returned).
        pub seed: Option<i32>,
        /// Columns to return (default: all).
        #[serde(alias = "select")]
        pub select_columns: Option<Vec<String>>,
        /// Most rows returned (default 100, max 1000).
        #[serde(alias = "sampleSize")]
        pub limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamplingOut {
    pub method: SampleMethod,
    pub percentage: f64,
    /// The seed used: pass it again for the same sample.
    pub seed: i32,
    /// The sampled rows (matching `where`), at most `limit`; `truncated` when the sample had more.
    #[serde(flatten)]
    pub rows: QueryResult,
}

async fn sampling(ctx: Ctx, a: SamplingArgs) -> ToolResult<SamplingOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let limit = bounded(a.limit, 100, 1000, "limit")?;
    let pct = a.percentage.unwrap_or(10.0);
    if !(pct > 0.0 && pct <= 100.0) {
        return Err(ToolError::invalid(format!(
            "`percentage` must be greater than 0 and at most 100, got {pct}"
        ))
        .suggest("It is a percentage: 5 samples about one row in twenty."));
    }
    let seed = a
        .seed
        .unwrap_or_else(|| (uuid::Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32);
    let q = table_of(&ctx, &a.table, a.schema.as_deref()).await?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let pp = sql.bind(pct);
    let ps = sql.bind(seed);
    let pl = sql.bind(limit + 1);
    let method = match a.method {
        SampleMethod::Bernoulli => "BERNOULLI",
        SampleMethod::System => "SYSTEM",
    };
    sql.push(&format!(
        "SELECT {} FROM {} TABLESAMPLE {method} ({pp}::float4) REPEATABLE ({ps}::float8){filter} LIMIT {pl}",
        projection(&a.select_columns),
        q.quoted()
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let mut rows = out.into_result();
    if rows.rows.len() > limit as usize {
        rows.rows.truncate(limit as usize);
        rows.row_count = rows.rows.len();
        rows.truncated = Some(true);
        rows.hint = Some(format!(
            "The sample has more than {limit} rows: lower `percentage`, narrow `where` or raise `limit` (at most 1000)."
        ));
    }
    Ok(SamplingOut {
        method: a.method,
        percentage: pct,
        seed,
        rows,
    })
}
