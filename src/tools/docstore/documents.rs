//! Documents: add, find, modify, remove.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{DocPath, collection_of, id_text, selection};
use crate::error::{ToolError, ToolResult};
use crate::tools::exec::{Mode, execute};
use crate::tools::sql::Sql;
use crate::tools::{Ctx, DESTRUCTIVE, READ, Spec, WRITE};

/// Documents one `pg_doc_add` call inserts at most.
const MAX_ADD: usize = 1000;
/// Documents `pg_doc_find` returns by default, and at most.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// Paths one `set`, `unset` or `projection` takes at most.
const MAX_PATHS: usize = 100;

// ---------------------------------------------------------------------------------------
// pg_doc_add

pub(super) const ADD: Spec = Spec {
    name: "pg_doc_add",
    title: "Add documents",
    description: "Insert 1–1000 JSON object documents into a collection in one statement (all or none) and return their ids in order. A document's `_id` (string or integer) becomes its id and is not stored in doc; without one a random UUID is generated.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddArgs {
    /// Collection name, optionally `schema.name`.
    #[serde(alias = "name")]
    pub collection: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// The documents (JSON objects), 1 to 1000.
    pub documents: Vec<Map<String, Value>>,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Added {
    /// Documents inserted.
    pub inserted: u64,
    /// Their ids, in the order given.
    pub ids: Vec<String>,
}

pub(super) async fn add(ctx: Ctx, a: AddArgs) -> ToolResult<Added> {
    if a.documents.is_empty() || a.documents.len() > MAX_ADD {
        return Err(ToolError::invalid(format!(
            "documents has {} entries; give 1 to {MAX_ADD}",
            a.documents.len()
        ))
        .suggest("Split larger loads into several calls inside one transaction (transactionId)."));
    }
    let tx = a.transaction_id.as_deref();
    let mut ids = Vec::with_capacity(a.documents.len());
    let mut pairs = Vec::with_capacity(a.documents.len());
    for (i, mut doc) in a.documents.into_iter().enumerate() {
        let id = match doc.remove("_id") {
            Some(v) => id_text(&v).map_err(|mut e| {
                e.error = format!("document {}: {}", i + 1, e.error);
                e
            })?,
            None => uuid::Uuid::new_v4().to_string(),
        };
        ids.push(id.clone());
        pairs.push(Value::Array(vec![Value::String(id), Value::Object(doc)]));
    }
    let c = collection_of(&ctx, &a.collection, a.schema.as_deref(), tx).await?;
    let out = execute(
        &ctx,
        &format!(
            "INSERT INTO {} (_id, doc) SELECT e ->> 0, e -> 1 FROM jsonb_array_elements($1::jsonb) AS x(e)",
            c.quoted()
        ),
        &[Value::String(Value::Array(pairs).to_string())],
        tx,
        Mode::Write,
    )
    .await?;
    Ok(Added {
        inserted: out.affected,
        ids,
    })
}

// ---------------------------------------------------------------------------------------
// pg_doc_find

pub(super) const FIND: Spec = Spec {
    name: "pg_doc_find",
    title: "Find documents",
    description: "Documents of a collection matching a filter document (containment, doc @> filter; top-level _id compares with the id) and/or a SQL `where` on the columns _id, doc, created_at, updated_at; with projection (paths), sort (paths, asc/desc, missing last) and paging (limit default 100, max 1000; nextOffset when there are more). Each result is {\"_id\": …, …doc}.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SortKey {
    /// Path to sort by (`age`, `address.city`; `_id` is the id). JSONB order: null <
    /// strings < numbers < booleans < arrays < objects as jsonb compares them; documents
    /// missing the path come last.
    pub path: DocPath,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    pub order: Order,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FindArgs {
    /// Collection name, optionally `schema.name`.
    #[serde(alias = "name")]
    pub collection: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// Documents containing this JSON object (`doc @> filter`: nested objects match
    /// recursively, an array matches arrays holding those elements), e.g. `{"status": "active",
    /// "tags": ["a"]}`. A top-level `_id` matches the id.
    pub filter: Option<Map<String, Value>>,
    /// Optional SQL condition over the columns `_id`, `doc`, `created_at`, `updated_at`,
    /// e.g. `(doc ->> 'age')::int > $1`; runs read-only.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// Values for $n placeholders in `where`.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Paths to return instead of the whole document (at most 100); the result nests them
    /// (`address.city` → `{"address": {"city": …}}`) and leaves out paths a document lacks.
    #[serde(alias = "fields")]
    pub projection: Option<Vec<DocPath>>,
    /// Sort keys, in order (default: created_at, then _id). Ties always end in _id order.
    #[serde(default)]
    pub sort: Vec<SortKey>,
    /// Documents to return (default 100, max 1000).
    pub limit: Option<u32>,
    /// Documents to skip (default 0).
    pub offset: Option<u32>,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    /// The documents, each `{"_id": …, …doc}` (only the projected paths with `projection`).
    pub documents: Vec<Map<String, Value>>,
    /// Documents returned.
    pub count: usize,
    /// `true` when more documents match than were returned (see `nextOffset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Pass as `offset` (same filter and sort) for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// Why the page was cut short of `limit`, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

pub(super) async fn find(ctx: Ctx, a: FindArgs) -> ToolResult<Found> {
    let limit = a.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let offset = a.offset.unwrap_or(0);
    let tx = a.transaction_id.as_deref();
    let projection: Option<Vec<Vec<String>>> = match &a.projection {
        Some(p) if p.len() > MAX_PATHS => {
            return Err(ToolError::invalid(format!(
                "projection has {} paths; at most {MAX_PATHS}",
                p.len()
            )));
        }
        Some(p) if !p.is_empty() => Some(p.iter().map(DocPath::keys).collect::<ToolResult<_>>()?),
        _ => None,
    };
    let sort: Vec<(Vec<String>, Order)> = a
        .sort
        .iter()
        .map(|k| Ok((k.path.keys()?, k.order)))
        .collect::<ToolResult<_>>()?;
    let mut sql = Sql::new(a.params);
    let conds = selection(&mut sql, a.filter.as_ref(), a.condition.as_deref())?;
    let c = collection_of(&ctx, &a.collection, a.schema.as_deref(), tx).await?;

    let doc = match &projection {
        None => "doc".to_string(),
        Some(paths) => {
            let mut parts = vec!["'{}'::jsonb".to_string()];
            for (i, p) in paths.iter().enumerate() {
                if p == &["_id"] {
                    continue;
                }
                let k = sql.bind(p);
                parts.push(format!(
                    "CASE WHEN doc #> {k}::text[] IS NULL THEN '{{}}'::jsonb \
                     ELSE jsonb_build_object('{i}', doc #> {k}::text[]) END"
                ));
            }
            parts.join(" || ")
        }
    };
    let mut order = Vec::new();
    for (keys, o) in &sort {
        let dir = match o {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        };
        if keys == &["_id"] {
            order.push(format!("_id {dir}"));
        } else {
            order.push(format!(
                "doc #> {}::text[] {dir} NULLS LAST",
                sql.bind(keys)
            ));
        }
    }
    if sort.is_empty() {
        order.push("created_at".into());
    }
    order.push("_id".into());
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let lim = sql.bind(limit as i64 + 1);
    let off = sql.bind(offset as i64);
    sql.push(&format!(
        "SELECT _id, {doc} AS doc FROM {}{filter} ORDER BY {} LIMIT {lim} OFFSET {off}",
        c.quoted(),
        order.join(", ")
    ));
    let out = execute(&ctx, sql.text(), sql.params(), tx, Mode::Read).await?;
    let capped = out.truncated.is_some() || !out.cut_values.is_empty();
    let mut rows = out.rows;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if !out.cut_values.is_empty() {
        // A document too large for the result budget arrives cut, not as JSON: not shown.
        rows.retain(|r| r.get("doc").is_some_and(Value::is_object));
    }
    let mut documents = Vec::with_capacity(rows.len());
    for mut r in rows {
        let mut d = Map::new();
        d.insert("_id".into(), r.remove("_id").unwrap_or(Value::Null));
        let body = match r.remove("doc") {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        match &projection {
            None => d.extend(body),
            Some(paths) => {
                for (i, p) in paths.iter().enumerate() {
                    if let Some(v) = body.get(&i.to_string()) {
                        nest(&mut d, p, v.clone());
                    }
                }
            }
        }
        documents.push(d);
    }
    let count = documents.len();
    let mut found = Found {
        documents,
        count,
        truncated: None,
        next_offset: None,
        hint: None,
    };
    if more || capped {
        found.truncated = Some(true);
        found.next_offset = Some(offset as u64 + count as u64);
        if capped {
            found.hint = Some(format!(
                "Cut at {count} document(s) by the server's result limits (--max-rows / --max-result-bytes): page on with offset {}, a smaller limit, or a projection.",
                offset as u64 + count as u64
            ));
        }
    }
    Ok(found)
}

/// Puts `v` at `keys` in `target`, making objects on the way; a path inside a value
/// already placed whole (projection `["a", "a.b"]`) is already there.
fn nest(target: &mut Map<String, Value>, keys: &[String], v: Value) {
    let Some((first, rest)) = keys.split_first() else {
        return;
    };
    if rest.is_empty() {
        target.insert(first.clone(), v);
        return;
    }
    let entry = target
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = entry {
        nest(inner, rest, v);
    }
}

// ---------------------------------------------------------------------------------------
// pg_doc_modify

pub(super) const MODIFY: Spec = Spec {
    name: "pg_doc_modify",
    title: "Modify documents",
    description: "Update the documents matching a filter document and/or `where` (required unless all: true) in one statement: `merge` (top-level keys, doc || merge), then `set` (path → value, creating missing parent objects), then `unset` (paths removed). Reports matched and modified (changed) counts; sets updated_at.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModifyArgs {
    /// Collection name, optionally `schema.name`.
    #[serde(alias = "name")]
    pub collection: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// Documents containing this JSON object (as pg_doc_find); a top-level `_id` matches the id.
    pub filter: Option<Map<String, Value>>,
    /// Optional SQL condition over `_id`, `doc`, `created_at`, `updated_at`, e.g.
    /// `(doc ->> 'age')::int > $1`.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// Values for $n placeholders in `where`.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Modify every document when no filter or where is given (default false).
    #[serde(default)]
    pub all: bool,
    /// Path (dotted, e.g. `address.city`, `items.0`) → new JSON value (at most 100).
    pub set: Option<Map<String, Value>>,
    /// Paths to remove (at most 100).
    pub unset: Option<Vec<DocPath>>,
    /// Top-level keys to merge in, replacing those present (`doc || merge`).
    pub merge: Option<Map<String, Value>>,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Modified {
    /// Documents the filter matched.
    pub matched: u64,
    /// Matched documents the update actually changed.
    pub modified: u64,
}

fn no_id(keys: &[String]) -> ToolResult<()> {
    if keys.first().is_some_and(|k| k == "_id") {
        return Err(ToolError::invalid(
            "_id is the document's id, not a key of its body, and cannot be changed",
        )
        .suggest("Remove the document and add it again with the new _id."));
    }
    Ok(())
}

/// The selection's WHERE, or an error when it selects everything without `all: true`.
#[allow(clippy::result_large_err)]
fn required_selection(conds: &[String], all: bool, tool: &str) -> ToolResult<String> {
    if conds.is_empty() {
        if all {
            return Ok(String::new());
        }
        return Err(ToolError::invalid(format!(
            "{tool} needs a non-empty filter or a where, or all: true to affect every document"
        ))
        .suggest("Give filter: {\"_id\": \"…\"} or another filter document; pass all: true only to touch the whole collection."));
    }
    Ok(format!(" WHERE {}", conds.join(" AND ")))
}

pub(super) async fn modify(ctx: Ctx, a: ModifyArgs) -> ToolResult<Modified> {
    let tx = a.transaction_id.as_deref();
    let set = a.set.unwrap_or_default();
    let unset = a.unset.unwrap_or_default();
    let merge = a.merge.unwrap_or_default();
    if set.is_empty() && unset.is_empty() && merge.is_empty() {
        return Err(
            ToolError::invalid("nothing to change: give set, unset or merge")
                .suggest("e.g. set: {\"status\": \"done\"}, unset: [\"draft\"]."),
        );
    }
    if set.len() > MAX_PATHS || unset.len() > MAX_PATHS {
        return Err(ToolError::invalid(format!(
            "set and unset take at most {MAX_PATHS} paths each"
        )));
    }
    if merge.contains_key("_id") {
        no_id(&["_id".to_string()])?;
    }
    let mut sql = Sql::new(a.params);
    let conds = selection(&mut sql, a.filter.as_ref(), a.condition.as_deref())?;
    let filter = required_selection(&conds, a.all, "pg_doc_modify")?;
    // One CTE step per change, each reading the previous step's `d`: the expression is
    // linear in the changes however often a step uses `d`.
    let mut steps: Vec<String> = Vec::new();
    if !merge.is_empty() {
        let m = sql.bind(Value::Object(merge).to_string());
        steps.push(format!("d || {m}::jsonb"));
    }
    for (path, value) in &set {
        let keys = DocPath::Dotted(path.clone()).keys()?;
        no_id(&keys)?;
        for depth in 1..keys.len() {
            let p = sql.bind(&keys[..depth]);
            steps.push(format!(
                "CASE WHEN d #> {p}::text[] IS NULL THEN jsonb_set(d, {p}::text[], '{{}}'::jsonb, true) ELSE d END"
            ));
        }
        let p = sql.bind(&keys);
        let v = sql.bind(value.to_string());
        steps.push(format!("jsonb_set(d, {p}::text[], {v}::jsonb, true)"));
    }
    for path in &unset {
        let keys = path.keys()?;
        no_id(&keys)?;
        let p = sql.bind(&keys);
        steps.push(format!("d #- {p}::text[]"));
    }
    let c = collection_of(&ctx, &a.collection, a.schema.as_deref(), tx).await?;
    let table = c.quoted();
    let mut text = format!(
        "WITH m AS (SELECT _id, doc AS d0 FROM {table}{filter} FOR UPDATE), \
         s0 AS (SELECT _id, d0, d0 AS d FROM m)"
    );
    for (i, step) in steps.iter().enumerate() {
        text.push_str(&format!(
            ", s{} AS (SELECT _id, d0, {step} AS d FROM s{i})",
            i + 1
        ));
    }
    let last = steps.len();
    text.push_str(&format!(
        ", u AS (UPDATE {table} AS target SET doc = s{last}.d, updated_at = now() \
           FROM s{last} WHERE target._id = s{last}._id AND s{last}.d IS DISTINCT FROM s{last}.d0 \
           RETURNING 1) \
         SELECT (SELECT count(*) FROM m) AS matched, (SELECT count(*) FROM u) AS modified"
    ));
    sql.push(&text);
    let out = execute(&ctx, sql.text(), sql.params(), tx, Mode::Write).await?;
    let row = out.rows.into_iter().next().unwrap_or_default();
    let n = |k: &str| row.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(Modified {
        matched: n("matched"),
        modified: n("modified"),
    })
}

// ---------------------------------------------------------------------------------------
// pg_doc_remove

pub(super) const REMOVE: Spec = Spec {
    name: "pg_doc_remove",
    title: "Remove documents",
    description: "Delete the documents matching a filter document and/or `where` (required unless all: true) and report how many were removed.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RemoveArgs {
    /// Collection name, optionally `schema.name`.
    #[serde(alias = "name")]
    pub collection: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// Documents containing this JSON object (as pg_doc_find); a top-level `_id` matches the id.
    pub filter: Option<Map<String, Value>>,
    /// Optional SQL condition over `_id`, `doc`, `created_at`, `updated_at`.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// Values for $n placeholders in `where`.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Remove every document when no filter or where is given (default false).
    #[serde(default)]
    pub all: bool,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Removed {
    /// Documents deleted.
    pub removed: u64,
}

pub(super) async fn remove(ctx: Ctx, a: RemoveArgs) -> ToolResult<Removed> {
    let tx = a.transaction_id.as_deref();
    let mut sql = Sql::new(a.params);
    let conds = selection(&mut sql, a.filter.as_ref(), a.condition.as_deref())?;
    let filter = required_selection(&conds, a.all, "pg_doc_remove")?;
    let c = collection_of(&ctx, &a.collection, a.schema.as_deref(), tx).await?;
    sql.push(&format!("DELETE FROM {}{filter}", c.quoted()));
    let out = execute(&ctx, sql.text(), sql.params(), tx, Mode::Write).await?;
    Ok(Removed {
        removed: out.affected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn projections_nest() {
        let mut d = Map::new();
        nest(&mut d, &["a".into(), "b".into()], json!(1));
        nest(&mut d, &["a".into(), "c".into()], json!(2));
        nest(&mut d, &["x".into()], json!([1]));
        nest(&mut d, &["x".into(), "0".into()], json!(1));
        assert_eq!(Value::Object(d), json!({"a": {"b": 1, "c": 2}, "x": [1]}));
    }

    #[test]
    fn everything_needs_all() {
        assert!(required_selection(&[], false, "t").is_err());
        assert_eq!(required_selection(&[], true, "t").unwrap(), "");
        assert_eq!(
            required_selection(&["(a)".into(), "(b)".into()], false, "t").unwrap(),
            " WHERE (a) AND (b)"
        );
    }
}
