//! The catalog-query kit: what every listing tool shares, written once. A listing is a
//! SELECT over the catalogs with optional filters (schema scope, name pattern, system
//! schemas hidden), a window count for the total, and LIMIT/OFFSET paging; its rows are
//! decoded into the tool's row type. Placeholders are numbered by the kit, so a filter is
//! added or removed without renumbering `$n` by hand, and every caller value is a bound
//! parameter (never spliced into the SQL text).
//!
//! ```ignore
//! let page = Listing::new("n.nspname AS name, …", "pg_namespace n")
//!     .pattern("n.nspname", a.pattern.as_deref())
//!     .hide_system_schemas("n.nspname", a.include_system)
//!     .order_by("n.nspname")
//!     .page::<SchemaRow>(&ctx, a.limit, a.offset)
//!     .await?;
//! ```

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ctx;
use super::exec::read_rows;
use crate::error::{ToolError, ToolResult};

/// The default page size of listing tools.
pub const DEFAULT_LIMIT: u32 = 100;

/// `#[serde(default = "…")]` for a listing's `limit`.
pub fn default_limit() -> u32 {
    DEFAULT_LIMIT
}

/// Where a listing page sits in the whole: flattened into each listing's output.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    /// How many items match in all (absent on a page past the end, which cannot know it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Pass as `offset` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

/// One page of a listing: the rows and where the page sits.
pub struct Page<R> {
    pub items: Vec<R>,
    pub info: PageInfo,
}

/// The condition that hides PostgreSQL's own schemas unless `$flag` is true.
pub fn system_schema_filter(nsp: &str, flag: &str) -> String {
    format!(
        "({flag}::bool OR ({nsp} NOT IN ('pg_catalog', 'information_schema') \
         AND {nsp} NOT LIKE 'pg\\_toast%' AND {nsp} NOT LIKE 'pg\\_temp\\_%'))"
    )
}

/// A catalog SELECT under construction (see the module docs).
pub struct Listing {
    select: String,
    from: String,
    conditions: Vec<String>,
    params: Vec<Value>,
    order_by: Option<String>,
}

impl Listing {
    /// `SELECT <select> FROM <from>`; both are pgmcp's own SQL, never caller text.
    pub fn new(select: impl Into<String>, from: impl Into<String>) -> Self {
        Listing {
            select: select.into(),
            from: from.into(),
            conditions: Vec::new(),
            params: Vec::new(),
            order_by: None,
        }
    }

    /// Binds `value` and returns its placeholder (`$n`), for SQL the caller writes itself.
    pub fn bind(&mut self, value: impl Serialize) -> String {
        self.params
            .push(serde_json::to_value(value).unwrap_or(Value::Null));
        format!("${}", self.params.len())
    }

    /// A condition with one `{}` standing for the bound `value`.
    pub fn filter(mut self, condition: &str, value: impl Serialize) -> Self {
        let p = self.bind(value);
        self.conditions.push(condition.replace("{}", &p));
        self
    }

    /// A condition with no parameter.
    pub fn condition(mut self, condition: impl Into<String>) -> Self {
        self.conditions.push(condition.into());
        self
    }

    /// `condition` with `{}` bound to `value`, only when there is a value.
    pub fn filter_some<T: Serialize>(self, condition: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.filter(condition, v),
            None => self,
        }
    }

    /// Exact schema name, when given.
    pub fn schema(self, nsp: &str, schema: Option<&str>) -> Self {
        self.filter_some(&format!("{nsp} = {{}}"), schema)
    }

    /// Case-insensitive LIKE pattern on a name, when given.
    pub fn pattern(self, column: &str, pattern: Option<&str>) -> Self {
        self.filter_some(&format!("{column} ILIKE {{}}"), pattern)
    }

    /// Hides PostgreSQL's own schemas (pg_catalog, information_schema, pg_toast…,
    /// pg_temp…) unless `include_system`.
    pub fn hide_system_schemas(mut self, nsp: &str, include_system: bool) -> Self {
        let p = self.bind(include_system);
        self.conditions.push(system_schema_filter(nsp, &p));
        self
    }

    pub fn order_by(mut self, order: impl Into<String>) -> Self {
        self.order_by = Some(order.into());
        self
    }

    /// `SELECT <select><extra> FROM <from> [WHERE …] [ORDER BY …]`.
    fn select_sql(&self, extra: &str) -> String {
        let mut sql = format!("SELECT {}{extra} FROM {}", self.select, self.from);
        if !self.conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.conditions.join(" AND "));
        }
        if let Some(o) = &self.order_by {
            sql.push_str(" ORDER BY ");
            sql.push_str(o);
        }
        sql
    }

    /// The SQL and its parameters, with a window count for the total and LIMIT/OFFSET.
    fn sql(mut self, limit: u32, offset: u32) -> (String, Vec<Value>) {
        let limit_p = self.bind(limit);
        let offset_p = self.bind(offset);
        let mut sql = self.select_sql(", count(*) OVER () AS _total");
        sql.push_str(&format!(" LIMIT {limit_p} OFFSET {offset_p}"));
        (sql, self.params)
    }

    /// Runs the listing read-only and decodes one page of rows as `R`.
    pub async fn page<R: DeserializeOwned>(
        self,
        ctx: &Ctx,
        limit: u32,
        offset: u32,
    ) -> ToolResult<Page<R>> {
        let (sql, params) = self.sql(limit, offset);
        let rows = read_rows(ctx, &sql, &params).await?;
        page_of(rows, offset)
    }

    /// Runs the query read-only without paging and decodes every row as `R`.
    pub async fn all<R: DeserializeOwned>(self, ctx: &Ctx) -> ToolResult<Vec<R>> {
        decode(read_rows(ctx, &self.select_sql(""), &self.params).await?)
    }
}

/// Decodes catalog rows (JSON objects; NULL columns absent) into the row type.
pub fn decode<R: DeserializeOwned>(rows: Vec<Value>) -> ToolResult<Vec<R>> {
    rows.into_iter()
        .map(|r| {
            serde_json::from_value(r.clone()).map_err(|e| {
                ToolError::internal(format!("a catalog row did not decode ({e}): {r}"))
            })
        })
        .collect()
}

/// A page from rows that carry `_total` (a window count).
pub fn page_of<R: DeserializeOwned>(mut rows: Vec<Value>, offset: u32) -> ToolResult<Page<R>> {
    let total = rows
        .first()
        .and_then(|r| r.get("_total"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    for r in &mut rows {
        if let Value::Object(m) = r {
            m.remove("_total");
        }
    }
    let n = rows.len() as u64;
    let info = PageInfo {
        // The total rides on the rows, so a page past the end cannot know it.
        total: (n > 0 || offset == 0).then_some(total),
        next_offset: (u64::from(offset) + n < total).then_some(u64::from(offset) + n),
    };
    Ok(Page {
        items: decode(rows)?,
        info,
    })
}

/// A PostgreSQL `int8` as pgmcp encodes it (see `db::values`): a JSON number within ±2^53,
/// exact in every JSON reader; beyond that, a string with the exact digits (a bigint
/// sequence's maxValue, for one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Int8 {
    /// Within ±2^53.
    Number(i64),
    /// Beyond ±2^53: the exact decimal digits.
    Digits(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order_and_values_bound() {
        let (sql, params) = Listing::new("n.nspname AS name", "pg_namespace n")
            .schema("n.nspname", Some("app's"))
            .pattern("n.nspname", None)
            .pattern("n.nspname", Some("%a%"))
            .hide_system_schemas("n.nspname", false)
            .order_by("1")
            .sql(10, 20);
        assert_eq!(
            sql,
            "SELECT n.nspname AS name, count(*) OVER () AS _total FROM pg_namespace n \
             WHERE n.nspname = $1 AND n.nspname ILIKE $2 AND ($3::bool OR (n.nspname NOT IN \
             ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND \
             n.nspname NOT LIKE 'pg\\_temp\\_%')) ORDER BY 1 LIMIT $4 OFFSET $5"
        );
        assert_eq!(
            params,
            vec![
                Value::from("app's"),
                Value::from("%a%"),
                Value::from(false),
                Value::from(10),
                Value::from(20)
            ]
        );
    }

    #[test]
    fn page_info_from_the_window_count() {
        let rows = vec![
            serde_json::json!({"name": "a", "_total": 3}),
            serde_json::json!({"name": "b", "_total": 3}),
        ];
        let p: Page<Value> = page_of(rows, 0).unwrap();
        assert_eq!(p.info.total, Some(3));
        assert_eq!(p.info.next_offset, Some(2));
        assert_eq!(p.items[0], serde_json::json!({"name": "a"}));
        let past: Page<Value> = page_of(vec![], 10).unwrap();
        assert_eq!((past.info.total, past.info.next_offset), (None, None));
    }

    #[test]
    fn int8_is_a_number_or_its_exact_digits() {
        let rows = vec![
            serde_json::json!({"v": 5}),
            serde_json::json!({"v": "9223372036854775807"}),
        ];
        #[derive(Deserialize, Serialize)]
        struct R {
            v: Int8,
        }
        let got: Vec<R> = decode(rows.clone()).unwrap();
        assert_eq!(got[0].v, Int8::Number(5));
        assert_eq!(got[1].v, Int8::Digits("9223372036854775807".into()));
        let back: Vec<Value> = got
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        assert_eq!(back, rows);
    }
}
