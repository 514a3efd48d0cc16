//! Aggregates over a column: descriptive statistics, percentiles, correlation, regression,
//! the t-test, the histogram, frequencies, distinct values, outliers, top-N rows and a
//! table summary.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::exec::{Mode, execute};
use super::super::sql::{Column, Sql, column_of, quoted_list, table_of};
use super::super::{Ctx, READ, Spec, Tool};
use super::tdist::{Alternative, p_value};
use super::{Aggregated, GROUP, Groups, bounded, group_limit, int, num, numeric_expr, stats_args};
use crate::db::QueryResult;
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};

pub fn tools() -> Vec<Tool> {
    vec![
        DESCRIPTIVE.tool(GROUP, descriptive),
        PERCENTILES.tool(GROUP, percentiles),
        CORRELATION.tool(GROUP, correlation),
        REGRESSION.tool(GROUP, regression),
        HYPOTHESIS.tool(GROUP, hypothesis),
        DISTRIBUTION.tool(GROUP, distribution),
        FREQUENCY.tool(GROUP, frequency),
        DISTINCT.tool(GROUP, distinct),
        OUTLIERS.tool(GROUP, outliers),
        TOP_N.tool(GROUP, top_n),
        SUMMARY.tool(GROUP, summary),
    ]
}

/// Runs `SELECT <groups><aggs> FROM <table><filter> [GROUP BY … ORDER BY … LIMIT groupLimit+1]`
/// and returns its rows (one per group).
#[allow(clippy::too_many_arguments)]
async fn grouped(
    ctx: &Ctx,
    mut sql: Sql,
    from: &str,
    filter: &str,
    groups: &Groups,
    aggs: &str,
    limit: u32,
    tx: Option<&str>,
) -> ToolResult<Vec<Map<String, Value>>> {
    let mut text = format!("SELECT {}{aggs} FROM {from}{filter}", groups.select());
    if !groups.is_empty() {
        let l = sql.bind(limit + 1);
        let p = groups.positions();
        text.push_str(&format!(" GROUP BY {p} ORDER BY {p} LIMIT {l}"));
    }
    sql.push(&text);
    Ok(execute(ctx, sql.text(), sql.params(), tx, Mode::Read)
        .await?
        .rows)
}

// ---------------------------------------------------------------------------------------
// pg_stats_descriptive

const DESCRIPTIVE: Spec = Spec {
    name: "pg_stats_descriptive",
    title: "Descriptive statistics",
    description: "Count, nulls, min, max, mean, median, sample standard deviation and variance, sum and mode of a numeric column, over the rows matching `where`, optionally per `groupBy` group (at most `groupLimit`, default 20, max 100). Results are float8 JSON numbers.",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    DescriptiveArgs {
        /// Numeric column to describe.
        pub column: String,
        /// Columns to group by: one result per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Descriptive {
    /// Non-null values.
    pub count: i64,
    /// Rows whose value is null.
    pub nulls: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// The 50th percentile (interpolated, `percentile_cont(0.5)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median: Option<f64>,
    /// Sample standard deviation (n − 1); absent with fewer than 2 values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    /// Sample variance (n − 1); absent with fewer than 2 values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// The most frequent value (the smallest among equally frequent ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DescriptiveOut {
    /// The column described.
    pub column: String,
    /// Its type.
    pub data_type: String,
    #[serde(flatten)]
    pub result: Aggregated<Descriptive>,
}

async fn descriptive(ctx: Ctx, a: DescriptiveArgs) -> ToolResult<DescriptiveOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let limit = group_limit(a.group_limit)?;
    let sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let aggs = format!(
        "count({x}) AS count, count(*) - count({x}) AS nulls, min({x})::float8 AS min, \
         max({x})::float8 AS max, avg({x})::float8 AS mean, \
         (percentile_cont(0.5) WITHIN GROUP (ORDER BY {x}::float8))::float8 AS median, \
         stddev_samp({x})::float8 AS stddev, var_samp({x})::float8 AS variance, \
         sum({x})::float8 AS sum, (mode() WITHIN GROUP (ORDER BY {x}))::float8 AS mode"
    );
    let rows = grouped(
        &ctx,
        sql,
        &c.table,
        &filter,
        &groups,
        &aggs,
        limit,
        a.transaction_id.as_deref(),
    )
    .await?;
    let result = Aggregated::from_rows(&groups, rows, limit, |r| {
        Ok(Descriptive {
            count: int(r, "count"),
            nulls: int(r, "nulls"),
            min: num(r, "min"),
            max: num(r, "max"),
            mean: num(r, "mean"),
            median: num(r, "median"),
            stddev: num(r, "stddev"),
            variance: num(r, "variance"),
            sum: num(r, "sum"),
            mode: num(r, "mode"),
        })
    })?;
    Ok(DescriptiveOut {
        column: a.column,
        data_type: c.type_name,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_percentiles

const PERCENTILES: Spec = Spec {
    name: "pg_stats_percentiles",
    title: "Percentiles",
    description: "Percentiles of a numeric column (`percentiles` on the 0–1 scale, e.g. [0.25, 0.5, 0.95]; default quartiles; at most 20), interpolated (`percentile_cont`, default) or actual values (`method: \"disc\"`), optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum PercentileMethod {
    /// Interpolated between adjacent values (`percentile_cont`).
    #[default]
    Cont,
    /// The first value whose position reaches the fraction (`percentile_disc`).
    Disc,
}

stats_args! {
    PercentilesArgs {
        /// Numeric column.
        pub column: String,
        /// Fractions between 0 and 1 (0.95, not 95). Default [0.25, 0.5, 0.75].
        pub percentiles: Option<Vec<f64>>,
        /// `cont` (interpolated, default) or `disc` (an actual value of the column).
        #[serde(default)]
        pub method: PercentileMethod,
        /// Columns to group by: one result per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Percentile {
    /// The fraction asked for (0–1).
    pub percentile: f64,
    /// Its value; absent when no row has a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    /// Non-null values the percentiles are taken over.
    pub count: i64,
    pub percentiles: Vec<Percentile>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PercentilesOut {
    pub column: String,
    /// `cont` (interpolated) or `disc` (actual values).
    pub method: String,
    #[serde(flatten)]
    pub result: Aggregated<Percentiles>,
}

#[allow(clippy::result_large_err)]
fn check_fractions(ps: &[f64]) -> ToolResult<()> {
    if ps.is_empty() || ps.len() > 20 {
        return Err(ToolError::invalid(format!(
            "`percentiles` needs 1 to 20 values, got {}",
            ps.len()
        )));
    }
    if let Some(p) = ps.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        let hint = if *p > 1.0 && *p <= 100.0 {
            format!("use {}, not {p}", p / 100.0)
        } else {
            "each value must be between 0 and 1".to_string()
        };
        return Err(
            ToolError::invalid(format!("percentile {p} is outside the 0–1 scale: {hint}"))
                .suggest("Percentiles are fractions: 0.5 is the median, 0.95 the 95th percentile."),
        );
    }
    Ok(())
}

async fn percentiles(ctx: Ctx, a: PercentilesArgs) -> ToolResult<PercentilesOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let ps = a.percentiles.unwrap_or_else(|| vec![0.25, 0.5, 0.75]);
    check_fractions(&ps)?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let limit = group_limit(a.group_limit)?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let fractions = sql.bind(&ps);
    let (method, agg) = match a.method {
        PercentileMethod::Cont => (
            "cont",
            format!("percentile_cont({fractions}::float8[]) WITHIN GROUP (ORDER BY {x}::float8)"),
        ),
        PercentileMethod::Disc => (
            "disc",
            format!("percentile_disc({fractions}::float8[]) WITHIN GROUP (ORDER BY {x})"),
        ),
    };
    let aggs = format!("count({x}) AS count, ({agg})::float8[] AS values");
    let rows = grouped(
        &ctx,
        sql,
        &c.table,
        &filter,
        &groups,
        &aggs,
        limit,
        a.transaction_id.as_deref(),
    )
    .await?;
    let result = Aggregated::from_rows(&groups, rows, limit, |r| {
        let values = r.get("values").and_then(Value::as_array);
        Ok(Percentiles {
            count: int(r, "count"),
            percentiles: ps
                .iter()
                .enumerate()
                .map(|(i, p)| Percentile {
                    percentile: *p,
                    value: values.and_then(|v| v.get(i)).and_then(Value::as_f64),
                })
                .collect(),
        })
    })?;
    Ok(PercentilesOut {
        column: a.column,
        method: method.into(),
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_correlation

const CORRELATION: Spec = Spec {
    name: "pg_stats_correlation",
    title: "Correlation",
    description: "Pearson correlation and covariance (sample and population) of two numeric columns over the rows where both are non-null and `where` holds, optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    CorrelationArgs {
        /// First numeric column.
        #[serde(alias = "x")]
        pub column1: String,
        /// Second numeric column.
        #[serde(alias = "y")]
        pub column2: String,
        /// Columns to group by: one result per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Correlation {
    /// Rows where both columns are non-null.
    pub count: i64,
    /// Pearson's r (−1…1); absent with fewer than 2 pairs or when a column is constant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<f64>,
    /// Sample covariance (n − 1); absent with fewer than 2 pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covariance_sample: Option<f64>,
    /// Population covariance (n).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covariance_population: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorrelationOut {
    pub column1: String,
    pub column2: String,
    #[serde(flatten)]
    pub result: Aggregated<Correlation>,
}

async fn two_numeric(
    ctx: &Ctx,
    table: &str,
    schema: Option<&str>,
    x: &str,
    y: &str,
    names: (&str, &str),
) -> ToolResult<(Column, String, String)> {
    let cx = column_of(ctx, table, schema, x).await?;
    let ex = numeric_expr(&cx, names.0)?;
    let cy = column_of(ctx, table, schema, y).await?;
    let ey = numeric_expr(&cy, names.1)?;
    Ok((cx, ex, ey))
}

async fn correlation(ctx: Ctx, a: CorrelationArgs) -> ToolResult<CorrelationOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let (c, x, y) = two_numeric(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        &a.column1,
        &a.column2,
        ("column1", "column2"),
    )
    .await?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let limit = group_limit(a.group_limit)?;
    let sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let aggs = format!(
        "regr_count({y}, {x}) AS count, corr({y}, {x})::float8 AS r, \
         covar_samp({y}, {x})::float8 AS cs, covar_pop({y}, {x})::float8 AS cp"
    );
    let rows = grouped(
        &ctx,
        sql,
        &c.table,
        &filter,
        &groups,
        &aggs,
        limit,
        a.transaction_id.as_deref(),
    )
    .await?;
    let result = Aggregated::from_rows(&groups, rows, limit, |r| {
        Ok(Correlation {
            count: int(r, "count"),
            correlation: num(r, "r"),
            covariance_sample: num(r, "cs"),
            covariance_population: num(r, "cp"),
        })
    })?;
    Ok(CorrelationOut {
        column1: a.column1,
        column2: a.column2,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_regression

const REGRESSION: Spec = Spec {
    name: "pg_stats_regression",
    title: "Linear regression",
    description: "Least-squares line y = slope·x + intercept with r², the number of (x, y) pairs and their means, over the rows where both columns are non-null and `where` holds, optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    RegressionArgs {
        /// Independent variable (numeric column).
        #[serde(alias = "x", alias = "column1")]
        pub x_column: String,
        /// Dependent variable (numeric column).
        #[serde(alias = "y", alias = "column2")]
        pub y_column: String,
        /// Columns to group by: one result per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Regression {
    /// Pairs used (both columns non-null).
    pub count: i64,
    /// Absent with fewer than 2 pairs or a constant x.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slope: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intercept: Option<f64>,
    /// Coefficient of determination (0–1); 1 when y is constant and x is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r_squared: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_x: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg_y: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegressionOut {
    pub x_column: String,
    pub y_column: String,
    #[serde(flatten)]
    pub result: Aggregated<Regression>,
}

async fn regression(ctx: Ctx, a: RegressionArgs) -> ToolResult<RegressionOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let (c, x, y) = two_numeric(
        &ctx,
        &a.table,
        a.schema.as_deref(),
        &a.x_column,
        &a.y_column,
        ("xColumn", "yColumn"),
    )
    .await?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let limit = group_limit(a.group_limit)?;
    let sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let aggs = format!(
        "regr_count({y}, {x}) AS count, regr_slope({y}, {x})::float8 AS slope, \
         regr_intercept({y}, {x})::float8 AS intercept, regr_r2({y}, {x})::float8 AS r2, \
         regr_avgx({y}, {x})::float8 AS ax, regr_avgy({y}, {x})::float8 AS ay"
    );
    let rows = grouped(
        &ctx,
        sql,
        &c.table,
        &filter,
        &groups,
        &aggs,
        limit,
        a.transaction_id.as_deref(),
    )
    .await?;
    let result = Aggregated::from_rows(&groups, rows, limit, |r| {
        Ok(Regression {
            count: int(r, "count"),
            slope: num(r, "slope"),
            intercept: num(r, "intercept"),
            r_squared: num(r, "r2"),
            avg_x: num(r, "ax"),
            avg_y: num(r, "ay"),
        })
    })?;
    Ok(RegressionOut {
        x_column: a.x_column,
        y_column: a.y_column,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_hypothesis

const HYPOTHESIS: Spec = Spec {
    name: "pg_stats_hypothesis",
    title: "t-test",
    description: "Student's one-sample t-test of a numeric column's mean against `hypothesizedMean`, or Welch's two-sample t-test between two samples (`groupColumn` with two `groupValues`, or two conditions `sampleA`/`sampleB`), from count, mean and variance computed in PostgreSQL; returns t, degrees of freedom and the p-value (Student's t CDF computed by pgmcp). Optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    HypothesisArgs {
        /// Numeric column whose mean is tested.
        pub column: String,
        /// The mean under the null hypothesis (one sample), or the difference meanA − meanB
        /// (two samples). Default 0.
        #[serde(default)]
        pub hypothesized_mean: f64,
        /// `two_sided` (default), `less` or `greater`.
        #[serde(default)]
        pub alternative: Alternative,
        /// Two samples by a column's value: the column (with `groupValues`).
        pub group_column: Option<String>,
        /// Two samples by a column's value: [value of sample A, value of sample B].
        pub group_values: Option<Vec<Value>>,
        /// Two samples by condition: the SQL condition selecting sample A (`$n` from `params`).
        pub sample_a: Option<String>,
        /// Two samples by condition: the SQL condition selecting sample B.
        pub sample_b: Option<String>,
        /// Columns to group by: one test per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Non-null values.
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TTest {
    /// The one sample, or sample A.
    pub sample_a: Sample,
    /// Sample B (two-sample test only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_b: Option<Sample>,
    /// The t statistic; absent when it cannot be computed (see `note`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<f64>,
    /// Degrees of freedom (n − 1; Welch–Satterthwaite for two samples, not an integer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub df: Option<f64>,
    /// p-value under `alternative`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// Why `t` is absent: too few values, or no variance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HypothesisOut {
    pub column: String,
    /// `one_sample_t` or `welch_t`.
    pub test: String,
    /// `two_sided`, `less` or `greater`.
    pub alternative: Alternative,
    pub hypothesized_mean: f64,
    #[serde(flatten)]
    pub result: Aggregated<TTest>,
}

fn sample(r: &Map<String, Value>, s: &str) -> Sample {
    Sample {
        count: int(r, &format!("n{s}")),
        mean: num(r, &format!("m{s}")),
        stddev: num(r, &format!("v{s}")).map(f64::sqrt),
    }
}

fn t_test(r: &Map<String, Value>, two: bool, mu: f64, alt: Alternative) -> TTest {
    let a = sample(r, "a");
    let b = two.then(|| sample(r, "b"));
    let (va, vb) = (num(r, "va"), num(r, "vb"));
    let mut out = TTest {
        sample_a: a,
        sample_b: None,
        t: None,
        df: None,
        p_value: None,
        note: None,
    };
    let computed = match &b {
        None => match (out.sample_a.mean, va) {
            (Some(m), Some(v)) if out.sample_a.count >= 2 => {
                let n = out.sample_a.count as f64;
                let se = (v / n).sqrt();
                (se > 0.0)
                    .then(|| ((m - mu) / se, n - 1.0))
                    .ok_or("no variance")
            }
            _ => Err("fewer than 2 values"),
        },
        Some(sb) => match (out.sample_a.mean, va, sb.mean, vb) {
            (Some(ma), Some(va), Some(mb), Some(vb))
                if out.sample_a.count >= 2 && sb.count >= 2 =>
            {
                let (na, nb) = (out.sample_a.count as f64, sb.count as f64);
                let (qa, qb) = (va / na, vb / nb);
                let se2 = qa + qb;
                (se2 > 0.0)
                    .then(|| {
                        let df = se2 * se2 / (qa * qa / (na - 1.0) + qb * qb / (nb - 1.0));
                        ((ma - mb - mu) / se2.sqrt(), df)
                    })
                    .ok_or("no variance in either sample")
            }
            _ => Err("a sample has fewer than 2 values"),
        },
    };
    match computed {
        Ok((t, df)) => {
            out.t = Some(t);
            out.df = Some(df);
            out.p_value = Some(p_value(t, df, alt));
        }
        Err(why) => out.note = Some(why.to_string()),
    }
    out.sample_b = b;
    out
}

async fn hypothesis(ctx: Ctx, a: HypothesisArgs) -> ToolResult<HypothesisOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let limit = group_limit(a.group_limit)?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let by_column = a.group_column.is_some() || a.group_values.is_some();
    let by_condition = a.sample_a.is_some() || a.sample_b.is_some();
    let samples: Option<(String, String)> = match (by_column, by_condition) {
        (true, true) => {
            return Err(ToolError::invalid(
                "give either `groupColumn` with `groupValues` or `sampleA` with `sampleB`, not both",
            ));
        }
        (true, false) => {
            let (Some(gc), Some(values)) = (&a.group_column, &a.group_values) else {
                return Err(
                    ToolError::invalid("`groupColumn` and `groupValues` go together")
                        .suggest("E.g. groupColumn: \"variant\", groupValues: [\"A\", \"B\"]."),
                );
            };
            let [va, vb] = values.as_slice() else {
                return Err(ToolError::invalid(format!(
                    "`groupValues` needs exactly 2 values (sample A, sample B), got {}",
                    values.len()
                )));
            };
            let g = column_of(&ctx, &a.table, a.schema.as_deref(), gc).await?;
            let (pa, pb) = (sql.bind(va), sql.bind(vb));
            Some((
                format!("{} = {pa}", g.column),
                format!("{} = {pb}", g.column),
            ))
        }
        (false, true) => {
            let (Some(sa), Some(sb)) = (
                sql.condition(a.sample_a.as_deref())?,
                sql.condition(a.sample_b.as_deref())?,
            ) else {
                return Err(ToolError::invalid("`sampleA` and `sampleB` go together"));
            };
            Some((sa, sb))
        }
        (false, false) => None,
    };
    let aggs = match &samples {
        None => format!("count({x}) AS na, avg({x})::float8 AS ma, var_samp({x})::float8 AS va"),
        Some((sa, sb)) => {
            let part = |s: &str, cond: &str| {
                format!(
                    "count({x}) FILTER (WHERE {cond}) AS n{s}, \
                     (avg({x}) FILTER (WHERE {cond}))::float8 AS m{s}, \
                     (var_samp({x}) FILTER (WHERE {cond}))::float8 AS v{s}"
                )
            };
            format!("{}, {}", part("a", sa), part("b", sb))
        }
    };
    let rows = grouped(
        &ctx,
        sql,
        &c.table,
        &filter,
        &groups,
        &aggs,
        limit,
        a.transaction_id.as_deref(),
    )
    .await?;
    let two = samples.is_some();
    let (mu, alt) = (a.hypothesized_mean, a.alternative);
    let result = Aggregated::from_rows(&groups, rows, limit, |r| Ok(t_test(r, two, mu, alt)))?;
    Ok(HypothesisOut {
        column: a.column,
        test: if two { "welch_t" } else { "one_sample_t" }.into(),
        alternative: a.alternative,
        hypothesized_mean: a.hypothesized_mean,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_distribution

const DISTRIBUTION: Spec = Spec {
    name: "pg_stats_distribution",
    title: "Histogram",
    description: "Histogram of a numeric column: `buckets` (default 10, max 100) equal-width buckets between its min and max (`width_bucket`; the max falls in the last bucket), each with its bounds and count, optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    DistributionArgs {
        /// Numeric column.
        pub column: String,
        /// Number of equal-width buckets (default 10, max 100).
        pub buckets: Option<u32>,
        /// Columns to group by: one histogram per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Bucket {
    /// 1-based bucket number.
    pub bucket: u32,
    /// Inclusive lower bound.
    pub lower: f64,
    /// Upper bound: exclusive, except for the last bucket.
    pub upper: f64,
    pub count: i64,
}

#[derive(Serialize, JsonSchema)]
pub struct Histogram {
    /// Non-null values.
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Every bucket, empty ones included (one bucket when min = max; none without values).
    pub buckets: Vec<Bucket>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DistributionOut {
    pub column: String,
    #[serde(flatten)]
    pub result: Aggregated<Histogram>,
}

fn histogram(rows: &[Map<String, Value>], nb: u32) -> Histogram {
    let Some(first) = rows.first() else {
        return Histogram {
            count: 0,
            min: None,
            max: None,
            buckets: Vec::new(),
        };
    };
    let (lo, hi) = (num(first, "lo"), num(first, "hi"));
    let (Some(l), Some(h)) = (lo, hi) else {
        return Histogram {
            count: 0,
            min: lo,
            max: hi,
            buckets: Vec::new(),
        };
    };
    let n = if h > l { nb } else { 1 };
    let width = (h - l) / n as f64;
    let buckets: Vec<Bucket> = (1..=n)
        .map(|b| Bucket {
            bucket: b,
            lower: l + width * (b - 1) as f64,
            upper: if b == n { h } else { l + width * b as f64 },
            count: rows
                .iter()
                .filter(|r| int(r, "bucket") == b as i64)
                .map(|r| int(r, "n"))
                .sum(),
        })
        .collect();
    Histogram {
        count: buckets.iter().map(|b| b.count).sum(),
        min: lo,
        max: hi,
        buckets,
    }
}

async fn distribution(ctx: Ctx, a: DistributionArgs) -> ToolResult<DistributionOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let nb = bounded(a.buckets, 10, 100, "buckets")?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let limit = group_limit(a.group_limit)?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let pb = sql.bind(nb);
    let gl = sql.bind(limit + 1);
    let (gs, ga) = (groups.select(), groups.aliases());
    let (gcomma, order) = if groups.is_empty() {
        (String::new(), String::new())
    } else {
        (format!("{ga}, "), format!("ORDER BY {ga}"))
    };
    let part = groups.partition();
    sql.push(&format!(
        "SELECT {gcomma}lo, hi, \
                CASE WHEN hi = lo THEN 1 ELSE least(width_bucket(x, lo, hi, {pb}::int4), {pb}::int4) END AS bucket, \
                count(*) AS n \
         FROM (SELECT {gcomma}x, min(x) OVER w AS lo, max(x) OVER w AS hi, \
                      dense_rank() OVER ({order}) AS _grp \
               FROM (SELECT {gs}{x}::float8 AS x FROM {}{filter}) s \
               WHERE x IS NOT NULL WINDOW w AS ({part})) s2 \
         WHERE _grp <= {gl} \
         GROUP BY {gcomma}lo, hi, bucket ORDER BY {gcomma}bucket",
        c.table
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
    let mut rows = out.rows;
    let result = if groups.is_empty() {
        Aggregated {
            overall: Some(histogram(&rows, nb)),
            groups: None,
            truncated: None,
        }
    } else {
        // Split into groups; a group cut by the row limit is dropped (its counts are partial).
        let mut split: Vec<Vec<Map<String, Value>>> = Vec::new();
        for r in rows.drain(..) {
            match split.last_mut() {
                Some(g) if groups.same(&g[0], &r) => g.push(r),
                _ => split.push(vec![r]),
            }
        }
        let mut truncated = split.len() > limit as usize;
        if cut {
            split.pop();
            truncated = true;
        }
        split.truncate(limit as usize);
        Aggregated {
            overall: None,
            groups: Some(
                split
                    .iter()
                    .map(|g| super::Group {
                        group: groups.decode(&g[0]),
                        result: histogram(g, nb),
                    })
                    .collect(),
            ),
            truncated: truncated.then_some(true),
        }
    };
    Ok(DistributionOut {
        column: a.column,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_frequency, pg_stats_distinct

const FREQUENCY: Spec = Spec {
    name: "pg_stats_frequency",
    title: "Value frequencies",
    description: "The most frequent values of a column (any type) with their counts and share of the rows, most frequent first (ties by value), nulls counted as a value; `limit` values (default 20, max 1000), with the number of distinct values; optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    FrequencyArgs {
        /// Column whose values are counted.
        pub column: String,
        /// Most values listed (per group), default 20, max 1000.
        pub limit: Option<u32>,
        /// Columns to group by: one list per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Frequency {
    /// The value (null for SQL NULL).
    pub value: Value,
    /// Rows with this value.
    pub count: i64,
    /// Share of the rows, in percent (0–100).
    pub percent: f64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Frequencies {
    /// Rows counted.
    pub total: i64,
    /// Distinct values (null counted as one).
    pub distinct_values: i64,
    pub values: Vec<Frequency>,
    /// `true` when more distinct values exist than are listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_truncated: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrequencyOut {
    pub column: String,
    #[serde(flatten)]
    pub result: Aggregated<Frequencies>,
}

/// Rows of `value, n, rn, distinct_count, total` per group, the first `limit` values of
/// each of the first `groupLimit + 1` groups, for `ranking` (an ORDER BY over `value, n`).
#[allow(clippy::too_many_arguments)]
async fn ranked_values(
    ctx: &Ctx,
    mut sql: Sql,
    c: &Column,
    filter: &str,
    groups: &Groups,
    limit: u32,
    group_limit: u32,
    ranking: &str,
    tx: Option<&str>,
) -> ToolResult<(Vec<Vec<Map<String, Value>>>, bool)> {
    let l = sql.bind(limit);
    let gl = sql.bind(group_limit + 1);
    let (gs, ga, part) = (groups.select(), groups.aliases(), groups.partition());
    let (gcomma, gorder) = if groups.is_empty() {
        (String::new(), String::new())
    } else {
        (format!("{ga}, "), format!("ORDER BY {ga}"))
    };
    // Positions, not names: a table column named `value` or `_g0` would win over the alias.
    let by = (1..=groups.names().len() + 1)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    sql.push(&format!(
        "SELECT * FROM (SELECT {gcomma}value, n, \
                row_number() OVER ({part} ORDER BY {ranking}) AS rn, \
                count(*) OVER ({part}) AS distinct_count, \
                sum(n) OVER ({part})::int8 AS total, \
                dense_rank() OVER ({gorder}) AS _grp \
           FROM (SELECT {gs}{} AS value, count(*) AS n FROM {}{filter} GROUP BY {by}) d) r \
         WHERE rn <= {l} AND _grp <= {gl} ORDER BY {gcomma}rn",
        c.column, c.table
    ));
    let out = execute(ctx, sql.text(), sql.params(), tx, Mode::Read).await?;
    let cut = out.truncated.is_some();
    let mut split: Vec<Vec<Map<String, Value>>> = Vec::new();
    for r in out.rows {
        match split.last_mut() {
            Some(g) if groups.same(&g[0], &r) => g.push(r),
            _ => split.push(vec![r]),
        }
    }
    if cut {
        // The last group may be incomplete: drop it, and say the list is cut.
        if split.len() > 1 {
            split.pop();
        }
        return Ok((split, true));
    }
    let truncated = split.len() > group_limit as usize;
    split.truncate(group_limit as usize);
    Ok((split, truncated))
}

fn aggregated_groups<T>(
    groups: &Groups,
    split: Vec<Vec<Map<String, Value>>>,
    truncated: bool,
    f: impl Fn(&[Map<String, Value>]) -> T,
) -> Aggregated<T> {
    if groups.is_empty() {
        let rows = split.into_iter().next().unwrap_or_default();
        return Aggregated {
            overall: Some(f(&rows)),
            groups: None,
            truncated: truncated.then_some(true),
        };
    }
    Aggregated {
        overall: None,
        groups: Some(
            split
                .iter()
                .map(|g| super::Group {
                    group: groups.decode(&g[0]),
                    result: f(g),
                })
                .collect(),
        ),
        truncated: truncated.then_some(true),
    }
}

async fn frequency(ctx: Ctx, a: FrequencyArgs) -> ToolResult<FrequencyOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let limit = bounded(a.limit, 20, 1000, "limit")?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let glimit = group_limit(a.group_limit)?;
    let sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let (split, truncated) = ranked_values(
        &ctx,
        sql,
        &c,
        &filter,
        &groups,
        limit,
        glimit,
        "n DESC, value NULLS LAST",
        a.transaction_id.as_deref(),
    )
    .await?;
    let result = aggregated_groups(&groups, split, truncated, |rows| {
        let total = rows.first().map(|r| int(r, "total")).unwrap_or(0);
        let distinct = rows.first().map(|r| int(r, "distinct_count")).unwrap_or(0);
        Frequencies {
            total,
            distinct_values: distinct,
            values: rows
                .iter()
                .map(|r| Frequency {
                    value: r.get("value").cloned().unwrap_or(Value::Null),
                    count: int(r, "n"),
                    percent: if total > 0 {
                        100.0 * int(r, "n") as f64 / total as f64
                    } else {
                        0.0
                    },
                })
                .collect(),
            values_truncated: (distinct > rows.len() as i64).then_some(true),
        }
    });
    Ok(FrequencyOut {
        column: a.column,
        result,
    })
}

const DISTINCT: Spec = Spec {
    name: "pg_stats_distinct",
    title: "Distinct values",
    description: "The number of distinct values of a column (any type; null counted separately) and the first `limit` of them in ascending order (default 100, max 1000), optionally per `groupBy` group (at most `groupLimit`, default 20, max 100).",
    hints: READ,
    shortcuts: &[],
};

stats_args! {
    DistinctArgs {
        /// Column whose distinct values are listed.
        pub column: String,
        /// Most values listed (per group), default 100, max 1000.
        pub limit: Option<u32>,
        /// Columns to group by: one list per distinct combination.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Distinct {
    /// Distinct non-null values.
    pub distinct_count: i64,
    /// Whether some row has null.
    pub has_null: bool,
    /// The first values in ascending order (nulls not listed).
    pub values: Vec<Value>,
    /// `true` when more distinct values exist than are listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_truncated: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DistinctOut {
    pub column: String,
    #[serde(flatten)]
    pub result: Aggregated<Distinct>,
}

async fn distinct(ctx: Ctx, a: DistinctArgs) -> ToolResult<DistinctOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let limit = bounded(a.limit, 100, 1000, "limit")?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let glimit = group_limit(a.group_limit)?;
    let sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    // NULLS FIRST: the null (if any) is row 1, so it never takes a listed value's place
    // beyond the first; it is then removed from the list.
    let (split, truncated) = ranked_values(
        &ctx,
        sql,
        &c,
        &filter,
        &groups,
        limit + 1,
        glimit,
        "value NULLS FIRST",
        a.transaction_id.as_deref(),
    )
    .await?;
    let result = aggregated_groups(&groups, split, truncated, |rows| {
        let has_null = rows
            .iter()
            .any(|r| r.get("value").is_none_or(Value::is_null));
        let all = rows.first().map(|r| int(r, "distinct_count")).unwrap_or(0);
        let distinct_count = all - has_null as i64;
        let values: Vec<Value> = rows
            .iter()
            .filter_map(|r| r.get("value").filter(|v| !v.is_null()).cloned())
            .take(limit as usize)
            .collect();
        Distinct {
            distinct_count,
            has_null,
            values_truncated: (distinct_count > values.len() as i64).then_some(true),
            values,
        }
    });
    Ok(DistinctOut {
        column: a.column,
        result,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_outliers

const OUTLIERS: Spec = Spec {
    name: "pg_stats_outliers",
    title: "Outliers",
    description: "Outliers of a numeric column by the IQR rule (outside Q1 − k·IQR … Q3 + k·IQR, k = `threshold`, default 1.5; quartiles by percentile_cont) or by z-score (|x − mean| / sample stddev > `threshold`, default 3): the fences, the number of outliers and up to `maxOutliers` of their rows (default 50, max 1000), most extreme first.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutlierMethod {
    /// Tukey's fences on the interquartile range.
    #[default]
    Iqr,
    /// Distance from the mean in sample standard deviations.
    Zscore,
}

stats_args! {
    OutliersArgs {
        /// Numeric column.
        pub column: String,
        /// `iqr` (default) or `zscore`.
        #[serde(default)]
        pub method: OutlierMethod,
        /// IQR multiplier k (default 1.5; 3 for "extreme") or z-score bound (default 3).
        pub threshold: Option<f64>,
        /// Most outlier rows returned (default 50, max 1000); `outlierCount` counts them all.
        pub max_outliers: Option<u32>,
        /// Columns of each outlier row to return (default: all).
        pub select_columns: Option<Vec<String>>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Outlier {
    /// The column's value (float8).
    pub value: f64,
    /// The row (its selected columns), as JSON (`to_jsonb`).
    pub row: Value,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutliersOut {
    pub column: String,
    /// `iqr` or `zscore`.
    pub method: OutlierMethod,
    /// k for `iqr`, the z bound for `zscore`.
    pub threshold: f64,
    /// Non-null values examined.
    pub count: i64,
    /// First quartile (`iqr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q1: Option<f64>,
    /// Third quartile (`iqr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q3: Option<f64>,
    /// Q3 − Q1 (`iqr`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iqr: Option<f64>,
    /// Mean (`zscore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Sample standard deviation (`zscore`); with fewer than 2 values or none, nothing is an outlier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    /// Values below this are outliers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<f64>,
    /// Values above this are outliers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<f64>,
    /// All outliers.
    pub outlier_count: i64,
    /// The most extreme outliers, at most `maxOutliers`.
    pub outliers: Vec<Outlier>,
    /// `true` when `outlierCount` exceeds the rows listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

async fn outliers(ctx: Ctx, a: OutliersArgs) -> ToolResult<OutliersOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let max = bounded(a.max_outliers, 50, 1000, "maxOutliers")?;
    let k = a.threshold.unwrap_or(match a.method {
        OutlierMethod::Iqr => 1.5,
        OutlierMethod::Zscore => 3.0,
    });
    if !(k.is_finite() && k > 0.0) {
        return Err(ToolError::invalid(format!(
            "`threshold` must be a positive number, got {k}"
        )));
    }
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let x = numeric_expr(&c, "column")?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    // The whole row by the relation's own name (not an alias, which would break a `where`
    // that qualifies its columns with the table name).
    let rel = quote_ident(&parse_qualified(&a.table, a.schema.as_deref())?.name);
    let row = match &a.select_columns {
        Some(cols) if !cols.is_empty() => {
            let pairs: Vec<String> = cols
                .iter()
                .map(|n| format!("{}::text, {}", sql.bind(n), quote_ident(n)))
                .collect();
            format!("jsonb_build_object({})", pairs.join(", "))
        }
        _ => format!("to_jsonb({rel}.*)"),
    };
    let pk = sql.bind(k);
    let pm = sql.bind(max);
    let fences = match a.method {
        OutlierMethod::Iqr => format!(
            "SELECT n, q1, q3, q3 - q1 AS iqr, NULL::float8 AS mean, NULL::float8 AS sd, \
                    q1 - {pk}::float8 * (q3 - q1) AS lo, q3 + {pk}::float8 * (q3 - q1) AS hi, \
                    (q1 + q3) / 2 AS center \
             FROM (SELECT count(v) AS n, \
                          percentile_cont(0.25) WITHIN GROUP (ORDER BY v) AS q1, \
                          percentile_cont(0.75) WITHIN GROUP (ORDER BY v) AS q3 FROM _pgmcp_src) q"
        ),
        OutlierMethod::Zscore => format!(
            "SELECT n, NULL::float8 AS q1, NULL::float8 AS q3, NULL::float8 AS iqr, mean, sd, \
                    CASE WHEN sd > 0 THEN mean - {pk}::float8 * sd END AS lo, \
                    CASE WHEN sd > 0 THEN mean + {pk}::float8 * sd END AS hi, mean AS center \
             FROM (SELECT count(v) AS n, avg(v) AS mean, stddev_samp(v) AS sd FROM _pgmcp_src) q"
        ),
    };
    sql.push(&format!(
        "WITH _pgmcp_src AS MATERIALIZED (SELECT {x}::float8 AS v, {row} AS r FROM {}{filter}), \
         _pgmcp_f AS ({fences}), \
         _pgmcp_c AS (SELECT count(*) AS outliers FROM _pgmcp_src, _pgmcp_f WHERE v < lo OR v > hi) \
         SELECT f.n, f.q1, f.q3, f.iqr, f.mean, f.sd, f.lo, f.hi, c.outliers, o.v, o.r \
         FROM _pgmcp_f f CROSS JOIN _pgmcp_c c LEFT JOIN LATERAL \
              (SELECT v, r FROM _pgmcp_src WHERE v < f.lo OR v > f.hi \
               ORDER BY abs(v - f.center) DESC, v LIMIT {pm}) o ON true",
        c.table
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let empty = Map::new();
    let head = out.rows.first().unwrap_or(&empty);
    let iqr = a.method == OutlierMethod::Iqr;
    let outliers: Vec<Outlier> = out
        .rows
        .iter()
        .filter_map(|r| {
            Some(Outlier {
                value: num(r, "v")?,
                row: r.get("r").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let count = int(head, "outliers");
    Ok(OutliersOut {
        column: a.column,
        method: a.method,
        threshold: k,
        count: int(head, "n"),
        q1: num(head, "q1").filter(|_| iqr),
        q3: num(head, "q3").filter(|_| iqr),
        iqr: num(head, "iqr").filter(|_| iqr),
        mean: num(head, "mean").filter(|_| !iqr),
        stddev: num(head, "sd").filter(|_| !iqr),
        lower_bound: num(head, "lo"),
        upper_bound: num(head, "hi"),
        outlier_count: count,
        truncated: (count > outliers.len() as i64).then_some(true),
        outliers,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_top_n

const TOP_N: Spec = Spec {
    name: "pg_stats_top_n",
    title: "Top N rows",
    description: "The `n` rows (default 10, max 1000) with the largest (`direction: \"desc\"`, default) or smallest values of a column, nulls last, optionally the top `n` per `groupBy` group (at most `groupLimit` groups, default 20, max 100). For the most frequent values use pg_stats_frequency.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Asc,
    #[default]
    Desc,
}

impl Direction {
    pub fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }
}

stats_args! {
    TopNArgs {
        /// Column to rank rows by (any orderable type).
        pub column: String,
        /// Rows returned (per group), default 10, max 1000.
        pub n: Option<u32>,
        /// `desc` (largest first, default) or `asc`.
        #[serde(default)]
        pub direction: Direction,
        /// Columns to return (default: all).
        pub select_columns: Option<Vec<String>>,
        /// Columns to group by: the top `n` of each group.
        #[serde(default, deserialize_with = "super::names")]
        #[schemars(with = "Option<super::Names>")]
        pub group_by: Vec<String>,
        /// Most groups listed (default 20, max 100).
        pub group_limit: Option<u32>,
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopNOut {
    pub column: String,
    pub direction: Direction,
    /// The rows, ranked; with `groupBy` ordered by group, then rank, each with its `_rank`
    /// within the group.
    #[serde(flatten)]
    pub rows: QueryResult,
    /// With `groupBy`: `true` when more groups exist than `groupLimit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_truncated: Option<bool>,
}

/// The columns to return: `*`, or the named ones quoted.
pub fn projection(cols: &Option<Vec<String>>) -> String {
    match cols {
        Some(c) if !c.is_empty() => quoted_list(c),
        _ => "*".to_string(),
    }
}

async fn top_n(ctx: Ctx, a: TopNArgs) -> ToolResult<TopNOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let n = bounded(a.n, 10, 1000, "n")?;
    let c = column_of(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let groups = Groups::new(a.group_by, "groupBy")?;
    let glimit = group_limit(a.group_limit)?;
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let dir = a.direction.sql();
    let proj = projection(&a.select_columns);
    let mut groups_truncated = None;
    let pn = sql.bind(n);
    if groups.is_empty() {
        sql.push(&format!(
            "SELECT {proj} FROM {}{filter} ORDER BY {} {dir} NULLS LAST LIMIT {pn}",
            c.table, c.column
        ));
    } else {
        let gl = sql.bind(glimit + 1);
        let gt = groups.quoted();
        sql.push(&format!(
            "SELECT * FROM (SELECT {proj}, \
                    row_number() OVER (PARTITION BY {gt} ORDER BY {col} {dir} NULLS LAST) AS _rank, \
                    dense_rank() OVER (ORDER BY {gt}) AS _grp \
               FROM {}{filter}) s \
             WHERE _rank <= {pn} AND _grp <= {gl} ORDER BY _grp, _rank",
            c.table,
            col = c.column
        ));
    }
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let mut result = out.into_result();
    if !groups.is_empty() {
        let over = result.rows.iter().any(|r| int(r, "_grp") > glimit as i64);
        if over {
            result.rows.retain(|r| int(r, "_grp") <= glimit as i64);
            result.row_count = result.rows.len();
            groups_truncated = Some(true);
        }
        for r in &mut result.rows {
            r.remove("_grp");
        }
    }
    Ok(TopNOut {
        column: a.column,
        direction: a.direction,
        rows: result,
        groups_truncated,
    })
}

// ---------------------------------------------------------------------------------------
// pg_stats_summary

const SUMMARY: Spec = Spec {
    name: "pg_stats_summary",
    title: "Table summary",
    description: "A one-query profile of a table's columns (the rows matching `where`): per column its type, nulls and null fraction, distinct count; min, max, mean and sample stddev for numeric columns; min and max for date/time columns; the 5 most frequent values for text columns. At most 50 columns (`columns` picks them; default the first 50).",
    hints: READ,
    shortcuts: &[],
};

const SUMMARY_MAX_COLUMNS: usize = 50;

stats_args! {
    SummaryArgs {
        /// Columns to profile (default: all, at most 50).
        pub columns: Option<Vec<String>>,
    }
}

#[derive(Serialize, JsonSchema)]
pub struct TopValue {
    pub value: Value,
    pub count: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ColumnSummary {
    pub column: String,
    pub data_type: String,
    pub nulls: i64,
    /// nulls / rows (0–1); absent without rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_fraction: Option<f64>,
    /// Distinct non-null values (compared as text).
    pub distinct_count: i64,
    /// Numeric columns: a number; date/time columns: the column's value; null for other
    /// types and without values.
    pub min: Value,
    /// As `min`.
    pub max: Value,
    /// Numeric columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Numeric columns: sample standard deviation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    /// Text columns: the 5 most frequent values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_values: Option<Vec<TopValue>>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryOut {
    pub table: String,
    /// Rows profiled (matching `where`).
    pub rows: i64,
    pub columns: Vec<ColumnSummary>,
    /// `true` when the table has more columns than were profiled (pass `columns`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Deserialize)]
struct ColumnInfo {
    name: String,
    type_name: String,
    category: String,
}

async fn summary(ctx: Ctx, a: SummaryArgs) -> ToolResult<SummaryOut> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let q = table_of(&ctx, &a.table, a.schema.as_deref()).await?;
    let listed = super::super::exec::read_rows(
        &ctx,
        "SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type_name, \
                t.typcategory::text AS category \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
        &[Value::from(q.quoted())],
    )
    .await?;
    let all: Vec<ColumnInfo> = listed
        .into_iter()
        .filter_map(|r| serde_json::from_value(r).ok())
        .collect();
    let (chosen, truncated): (Vec<&ColumnInfo>, bool) = match &a.columns {
        Some(names) => {
            if names.len() > SUMMARY_MAX_COLUMNS {
                return Err(ToolError::invalid(format!(
                    "`columns` has {} names; at most {SUMMARY_MAX_COLUMNS}",
                    names.len()
                )));
            }
            let picked = names
                .iter()
                .map(|n| {
                    all.iter().find(|c| &c.name == n).ok_or_else(|| {
                        ToolError::not_found(
                            crate::error::Code::NotFound,
                            format!("column '{n}' does not exist in table '{q}'"),
                        )
                        .suggest("Column names are case-sensitive; pg_get_columns lists them.")
                    })
                })
                .collect::<ToolResult<Vec<_>>>()?;
            (picked, false)
        }
        None => (
            all.iter().take(SUMMARY_MAX_COLUMNS).collect(),
            all.len() > SUMMARY_MAX_COLUMNS,
        ),
    };
    let mut sql = Sql::new(a.params);
    let filter = sql.where_clause(a.condition.as_deref())?;
    let mut exprs = vec!["count(*) AS total".to_string()];
    for (i, col) in chosen.iter().enumerate() {
        let c = quote_ident(&col.name);
        exprs.push(format!(
            "count({c}) AS nn{i}, count(DISTINCT {c}::text) AS nd{i}"
        ));
        match col.category.as_str() {
            "N" if !col.type_name.starts_with("reg") && col.type_name != "oid" => {
                let x = if col.type_name == "money" {
                    format!("{c}::numeric")
                } else {
                    c.clone()
                };
                exprs.push(format!(
                    "min({x})::float8 AS min{i}, max({x})::float8 AS max{i}, \
                     avg({x})::float8 AS mean{i}, stddev_samp({x})::float8 AS sd{i}"
                ));
            }
            "D" => exprs.push(format!("min({c}) AS min{i}, max({c}) AS max{i}")),
            "S" => exprs.push(format!(
                "(SELECT jsonb_agg(jsonb_build_object('value', v, 'count', n) ORDER BY n DESC, v) \
                  FROM (SELECT {c}::text AS v, count(*) AS n FROM _pgmcp_src WHERE {c} IS NOT NULL \
                        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5) z) AS top{i}"
            )),
            _ => {}
        }
    }
    sql.push(&format!(
        "WITH _pgmcp_src AS MATERIALIZED (SELECT * FROM {}{filter}) SELECT {} FROM _pgmcp_src",
        q.quoted(),
        exprs.join(", ")
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let empty = Map::new();
    let r = out.rows.first().unwrap_or(&empty);
    let total = int(r, "total");
    let columns = chosen
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let nulls = total - int(r, &format!("nn{i}"));
            let top = r.get(&format!("top{i}")).map(|v| match v {
                Value::Array(items) => items
                    .iter()
                    .map(|t| TopValue {
                        value: t.get("value").cloned().unwrap_or(Value::Null),
                        count: t.get("count").and_then(Value::as_i64).unwrap_or(0),
                    })
                    .collect(),
                _ => Vec::new(),
            });
            ColumnSummary {
                column: col.name.clone(),
                data_type: col.type_name.clone(),
                nulls,
                null_fraction: (total > 0).then(|| nulls as f64 / total as f64),
                distinct_count: int(r, &format!("nd{i}")),
                min: r.get(&format!("min{i}")).cloned().unwrap_or(Value::Null),
                max: r.get(&format!("max{i}")).cloned().unwrap_or(Value::Null),
                mean: num(r, &format!("mean{i}")),
                stddev: num(r, &format!("sd{i}")),
                top_values: top,
            }
        })
        .collect();
    Ok(SummaryOut {
        table: q.to_string(),
        rows: total,
        columns,
        truncated: truncated.then_some(true),
    })
}
