//! Estimated plans of workload statements, including `$n`-parameterized ones (generic
//! plans), on the advisor's one session.

use serde_json::Value;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::parse::ParsedStatement;

/// Name prefix of the statements the PG13–15 generic-plan path prepares (and always
/// deallocates by name: never `DEALLOCATE ALL`, which would drop the driver's own).
pub(crate) const PREPARED_PREFIX: &str = "pgmcp_advisor_";

/// How a statement's plan was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlanMode {
    /// No parameters: planned as written.
    Literal,
    /// `$n` parameters: a generic plan (PG16+ `EXPLAIN (GENERIC_PLAN)`; before that
    /// `PREPARE` + `plan_cache_mode = force_generic_plan` + `EXPLAIN EXECUTE` with NULLs).
    Generic,
}

/// What the advisor reads from one plan.
#[derive(Debug, Clone)]
pub(crate) struct PlanSummary {
    /// `Total Cost` of the root node.
    pub total_cost: f64,
    /// Every `Index Name` in the plan (hypothetical ones look like `<13456>btree_t_a`).
    pub index_names: Vec<String>,
    /// Rows of the node feeding a `ModifyTable` root: the rows one execution writes.
    pub rows_written: f64,
}

impl PlanSummary {
    /// OIDs of the hypothetical indexes the plan uses.
    pub fn hypothetical_oids(&self) -> impl Iterator<Item = u32> + '_ {
        self.index_names.iter().filter_map(|name| {
            let rest = name.strip_prefix('<')?;
            rest[..rest.find('>')?].parse().ok()
        })
    }
}

pub(crate) fn plan_mode(stmt: &ParsedStatement) -> PlanMode {
    if stmt.params > 0 {
        PlanMode::Generic
    } else {
        PlanMode::Literal
    }
}

/// Plans `stmt` (never executes it). `seq` makes the prepared statement's name unique.
/// The PG13–15 path expects `plan_cache_mode = force_generic_plan` on the session.
pub(crate) async fn explain(
    client: &Client,
    stmt: &ParsedStatement,
    server_version_num: i32,
    seq: u64,
) -> Result<PlanSummary, tokio_postgres::Error> {
    let json = if stmt.params == 0 {
        one_value(client, &format!("EXPLAIN (FORMAT JSON) {}", stmt.text)).await?
    } else if server_version_num >= 160000 {
        let sql = format!("EXPLAIN (GENERIC_PLAN, FORMAT JSON) {}", stmt.text);
        one_value(client, &sql).await?
    } else {
        // Re-prepared for every call: a prepared statement keeps the generic plan it made
        // before the hypothetical index set changed.
        let name = format!("{PREPARED_PREFIX}{seq}");
        client
            .simple_query(&format!("PREPARE {name} AS {}", stmt.text))
            .await?;
        let nulls = vec!["NULL"; stmt.params].join(", ");
        let explained = one_value(
            client,
            &format!("EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})"),
        )
        .await;
        let deallocated = client.simple_query(&format!("DEALLOCATE {name}")).await;
        let json = explained?;
        deallocated?;
        json
    };
    Ok(summarize(&json))
}

/// The first column of the first row of a simple-protocol query (the simple protocol lets
/// `$n` reach the server as text, as `GENERIC_PLAN` needs).
async fn one_value(client: &Client, sql: &str) -> Result<Value, tokio_postgres::Error> {
    let mut text = String::new();
    for msg in client.simple_query(sql).await? {
        if let SimpleQueryMessage::Row(row) = msg {
            // EXPLAIN (FORMAT JSON) returns one row with one column.
            text.push_str(row.get(0).unwrap_or_default());
        }
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn summarize(json: &Value) -> PlanSummary {
    let root = &json[0]["Plan"];
    let mut index_names = Vec::new();
    collect_index_names(root, &mut index_names);
    let rows_written = if root["Node Type"] == "ModifyTable" {
        root["Plans"][0]["Plan Rows"].as_f64().unwrap_or(0.0)
    } else {
        0.0
    };
    PlanSummary {
        total_cost: root["Total Cost"].as_f64().unwrap_or(f64::NAN),
        index_names,
        rows_written,
    }
}

fn collect_index_names(node: &Value, out: &mut Vec<String>) {
    if let Some(name) = node["Index Name"].as_str() {
        out.push(name.to_string());
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        collect_index_names(child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plans_are_summarized() {
        let plan = json!([{"Plan": {"Node Type": "ModifyTable", "Total Cost": 8.3, "Plans": [
            {"Node Type": "Bitmap Heap Scan", "Plan Rows": 3, "Plans": [
                {"Node Type": "Bitmap Index Scan", "Index Name": "<13481>btree_t_a"}]},
            {"Node Type": "Index Scan", "Index Name": "t_pkey"}]}}]);
        let s = summarize(&plan);
        assert_eq!(s.total_cost, 8.3);
        assert_eq!(s.rows_written, 3.0);
        assert_eq!(s.index_names, ["<13481>btree_t_a", "t_pkey"]);
        assert_eq!(s.hypothetical_oids().collect::<Vec<_>>(), [13481]);
    }
}
