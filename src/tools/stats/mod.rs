//! Statistics tools: descriptive statistics, distributions, correlation, regression, window functions and sampling, computed in PostgreSQL in one bounded query.
//!
//! Every tool runs ONE read statement through `exec::execute(.., Mode::Read)` (the caller's
//! `where` inside it, so a hostile fragment meets the read-only transaction and the statement
//! policy). Numbers computed by PostgreSQL come back as `float8` (JSON numbers, about 15
//! significant digits; `numeric` sums and means are computed exactly and rounded once at the
//! end); a statistic that is undefined (SQL NULL: no values, one value for a sample
//! deviation) or not finite (NaN, ±Infinity) is left out of the result.

mod aggregate;
mod series;
mod tdist;
mod window;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Tool;
use super::sql::Column;
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};

const GROUP: &str = "stats";

pub fn tools() -> Vec<Tool> {
    let mut tools = aggregate::tools();
    tools.extend(window::tools());
    tools.extend(series::tools());
    tools.sort_by_key(|t| t.name);
    tools
}

/// Declares an argument struct with the fields every stats tool takes (`table`, `schema`,
/// `where`, `params`, `transactionId`) followed by its own.
macro_rules! stats_args {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            /// Table (or view) name, optionally `schema.table`.
            #[serde(alias = "tableName")]
            pub table: String,
            /// Schema of `table` (default: the search path).
            pub schema: Option<String>,
            /// Optional SQL condition selecting the rows, e.g. `region = $1`; values go in `params`.
            #[serde(rename = "where")]
            pub condition: Option<String>,
            /// Values for the `$n` placeholders of `where`.
            #[serde(default)]
            pub params: Vec<serde_json::Value>,
            /// Run inside this open transaction (from pg_transaction_begin).
            pub transaction_id: Option<String>,
            $($body)*
        }
    };
}
pub(crate) use stats_args;

/// One column name or several (`"region"` or `["region", "year"]`).
#[derive(serde::Deserialize, JsonSchema, Clone)]
#[serde(untagged)]
pub enum Names {
    One(String),
    Many(Vec<String>),
}

impl Names {
    pub fn list(&self) -> Vec<String> {
        match self {
            Names::One(s) => vec![s.clone()],
            Names::Many(v) => v.clone(),
        }
    }
}

/// Deserializes [`Names`] into a list (for `groupBy`).
pub fn names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    <Names as serde::Deserialize>::deserialize(d).map(|n| n.list())
}

/// Most groups a grouped result lists by default, and at most.
pub const GROUP_LIMIT_DEFAULT: u32 = 20;
pub const GROUP_LIMIT_MAX: u32 = 100;
/// Most `groupBy` / `partitionBy` columns.
pub const MAX_GROUP_COLUMNS: usize = 8;

/// The SQL value expression statistics use for a numeric column: the column itself for the
/// integer, floating-point and `numeric` types, cast to `numeric` otherwise (`money`, domains).
/// A column outside the numeric category is refused with a message that names its type.
#[allow(clippy::result_large_err)]
pub fn numeric_expr(c: &Column, arg: &str) -> ToolResult<String> {
    if c.category != 'N' || c.type_name == "oid" || c.type_name.starts_with("reg") {
        return Err(ToolError::invalid(format!(
            "`{arg}` {} is of type {}, not a numeric type",
            c.column, c.type_name
        ))
        .suggest("Statistics need a numeric column (smallint, integer, bigint, real, double precision, numeric, money); pg_get_columns lists the types."));
    }
    let t = c.type_name.as_str();
    let native = matches!(
        t,
        "smallint" | "integer" | "bigint" | "real" | "double precision"
    ) || t.starts_with("numeric");
    Ok(if native {
        c.column.clone()
    } else {
        format!("{}::numeric", c.column)
    })
}

/// The `groupBy` (or `partitionBy`) columns of a call: quoted, aliased `_g0, _g1…` in the
/// statement so that they can never collide with the tool's own result columns.
pub struct Groups {
    names: Vec<String>,
}

impl Groups {
    #[allow(clippy::result_large_err)]
    pub fn new(names: Vec<String>, arg: &str) -> ToolResult<Self> {
        if names.len() > MAX_GROUP_COLUMNS {
            return Err(ToolError::invalid(format!(
                "`{arg}` has {} columns; at most {MAX_GROUP_COLUMNS}",
                names.len()
            )));
        }
        if let Some(n) = names.iter().find(|n| n.is_empty()) {
            return Err(ToolError::invalid(format!(
                "`{arg}` has an empty column name ({n:?})"
            )));
        }
        Ok(Groups { names })
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The columns as `"a", "b"` (unaliased, for a PARTITION BY over the table itself).
    pub fn quoted(&self) -> String {
        super::sql::quoted_list(&self.names)
    }

    /// `"a" AS _g0, "b" AS _g1, ` (with a trailing comma), or nothing.
    pub fn select(&self) -> String {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{} AS _g{i}, ", quote_ident(n)))
            .collect()
    }

    /// `_g0, _g1` (no trailing comma).
    pub fn aliases(&self) -> String {
        (0..self.names.len())
            .map(|i| format!("_g{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `1, 2`: the positions of the group columns at the head of a select list.
    pub fn positions(&self) -> String {
        (1..=self.names.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `PARTITION BY _g0, _g1` or nothing.
    pub fn partition(&self) -> String {
        if self.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {}", self.aliases())
        }
    }

    /// The group's values by column name, from a row with `_g0…` columns.
    pub fn decode(&self, row: &Map<String, Value>) -> Map<String, Value> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.clone(),
                    row.get(&format!("_g{i}")).cloned().unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    /// The same group as the previous row's?
    pub fn same(&self, a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
        (0..self.names.len()).all(|i| {
            let k = format!("_g{i}");
            a.get(&k) == b.get(&k)
        })
    }
}

#[allow(clippy::result_large_err)]
pub fn group_limit(v: Option<u32>) -> ToolResult<u32> {
    let n = v.unwrap_or(GROUP_LIMIT_DEFAULT);
    if n == 0 || n > GROUP_LIMIT_MAX {
        return Err(ToolError::invalid(format!(
            "`groupLimit` must be between 1 and {GROUP_LIMIT_MAX}, got {n}"
        )));
    }
    Ok(n)
}

/// `limit` between 1 and `max` (default `default`).
#[allow(clippy::result_large_err)]
pub fn bounded(v: Option<u32>, default: u32, max: u32, arg: &str) -> ToolResult<u32> {
    let n = v.unwrap_or(default);
    if n == 0 || n > max {
        return Err(ToolError::invalid(format!(
            "`{arg}` must be between 1 and {max}, got {n}"
        )));
    }
    Ok(n)
}

/// A float8 result (`None` when SQL NULL or not finite).
pub fn num(row: &Map<String, Value>, k: &str) -> Option<f64> {
    row.get(k).and_then(Value::as_f64)
}

/// A count (`0` when absent).
pub fn int(row: &Map<String, Value>, k: &str) -> i64 {
    row.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// One group's result.
#[derive(Serialize, JsonSchema)]
pub struct Group<T> {
    /// The group's `groupBy` values, by column name.
    pub group: Map<String, Value>,
    #[serde(flatten)]
    pub result: T,
}

/// An aggregate's answer: over all matching rows without `groupBy`, or one entry per group.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Aggregated<T> {
    /// Without `groupBy`: the result over all matching rows (its fields are at the top level).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub overall: Option<T>,
    /// With `groupBy`: one entry per group, ordered by the group values, at most `groupLimit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group<T>>>,
    /// `true` when more groups exist than were listed: raise `groupLimit` (at most 100) or
    /// narrow `where`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

impl<T> Aggregated<T> {
    /// From the rows of a grouped (or ungrouped) statement: one row per group.
    pub fn from_rows(
        groups: &Groups,
        rows: Vec<Map<String, Value>>,
        limit: u32,
        f: impl Fn(&Map<String, Value>) -> ToolResult<T>,
    ) -> ToolResult<Self> {
        if groups.is_empty() {
            let empty = Map::new();
            let row = rows.first().unwrap_or(&empty);
            return Ok(Aggregated {
                overall: Some(f(row)?),
                groups: None,
                truncated: None,
            });
        }
        let truncated = rows.len() > limit as usize;
        let list = rows
            .iter()
            .take(limit as usize)
            .map(|r| {
                Ok(Group {
                    group: groups.decode(r),
                    result: f(r)?,
                })
            })
            .collect::<ToolResult<Vec<_>>>()?;
        Ok(Aggregated {
            overall: None,
            groups: Some(list),
            truncated: truncated.then_some(true),
        })
    }
}
