//! Collections: list, create, drop, describe, index.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    Collection, DocPath, Lookup, MARKER, collection_of, lookup, missing, not_a_collection,
    quote_literal,
};
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{Code, ToolError, ToolResult};
use crate::tools::exec::{Mode, execute};
use crate::tools::relsize;
use crate::tools::{Ctx, DESTRUCTIVE, READ, Spec, WRITE};

// ---------------------------------------------------------------------------------------
// pg_doc_list_collections

pub(super) const LIST: Spec = Spec {
    name: "pg_doc_list_collections",
    title: "List document collections",
    description: "List the docstore collections (tables marked by pg_doc_create_collection) in a schema or in every non-system schema, with their size; paged (limit default 100, max 1000).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListArgs {
    /// Only this schema (default: every schema but PostgreSQL's own).
    pub schema: Option<String>,
    /// Collections per page (default 100, max 1000).
    pub limit: Option<u32>,
    /// Collections to skip (default 0).
    pub offset: Option<u32>,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionRow {
    pub schema: String,
    pub name: String,
    /// The planner's estimate of the documents; absent before the table was first
    /// vacuumed or analyzed (pg_doc_collection_info counts exactly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_documents: Option<i64>,
    /// Table, TOAST and index bytes; absent while the table is locked (another session holds
    /// or waits for an ACCESS EXCLUSIVE lock on it or its indexes, and reading its size would
    /// wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionList {
    pub collections: Vec<CollectionRow>,
    /// Collections in all (every page); absent on a page past the end, which cannot know it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Pass as `offset` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

pub(super) async fn list(ctx: Ctx, a: ListArgs) -> ToolResult<CollectionList> {
    let limit = a.limit.unwrap_or(100).clamp(1, 1000);
    let offset = a.offset.unwrap_or(0);
    let tx = a.transaction_id.as_deref();
    if let Some(s) = a.schema.as_deref() {
        let out = execute(
            &ctx,
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            &[json!(s)],
            tx,
            Mode::Read,
        )
        .await?;
        if out.rows.is_empty() {
            return Err(ToolError::not_found(
                Code::NotFound,
                format!("schema '{s}' does not exist"),
            )
            .suggest("pg_list_schemas lists the schemas; names are case-sensitive."));
        }
    }
    let out = execute(
        &ctx,
        &format!(
            "SELECT n.nspname AS schema, c.relname AS name, \
                CASE WHEN c.reltuples >= 0 THEN c.reltuples::int8 END AS \"estimatedDocuments\", \
                {} AS \"totalBytes\", count(*) OVER () AS _total \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND obj_description(c.oid, 'pg_class') = $1 \
           AND ($2::text IS NULL OR n.nspname = $2) \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
         ORDER BY n.nspname, c.relname LIMIT $3 OFFSET $4",
            relsize::size("pg_total_relation_size", "c.oid")
        ),
        &[json!(MARKER), json!(a.schema), json!(limit), json!(offset)],
        tx,
        Mode::Read,
    )
    .await?;
    let total = out
        .rows
        .first()
        .and_then(|r| r.get("_total"))
        .and_then(Value::as_u64);
    let mut collections = Vec::with_capacity(out.rows.len());
    for mut r in out.rows {
        r.remove("_total");
        collections.push(
            serde_json::from_value::<CollectionRow>(Value::Object(r)).map_err(|e| {
                ToolError::internal(format!("a collection row did not decode: {e}"))
            })?,
        );
    }
    let shown = offset as u64 + collections.len() as u64;
    Ok(CollectionList {
        collections,
        // Past the end there is no row to carry the count.
        next_offset: total.filter(|t| shown < *t).map(|_| shown),
        total,
    })
}

// ---------------------------------------------------------------------------------------
// pg_doc_create_collection

pub(super) const CREATE: Spec = Spec {
    name: "pg_doc_create_collection",
    title: "Create a document collection",
    description: "Create a docstore collection: a table (_id text primary key defaulting to a random UUID, doc jsonb object, created_at, updated_at) with a GIN jsonb_path_ops index on doc and the table comment 'pgmcp docstore collection v1' that marks it. Needs PostgreSQL 13+.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateArgs {
    /// Collection (table) name, optionally `schema.name`.
    #[serde(alias = "collection")]
    pub name: String,
    /// Schema to create it in (default: the first schema of the search path).
    pub schema: Option<String>,
    /// Succeed without change when the collection already exists (default false). A
    /// table of that name that is not a collection is an error either way.
    #[serde(default)]
    pub if_not_exists: bool,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    pub schema: String,
    pub name: String,
    /// `false` when `ifNotExists` found the collection already there.
    pub created: bool,
}

pub(super) async fn create(ctx: Ctx, a: CreateArgs) -> ToolResult<Created> {
    let tx = a.transaction_id.as_deref();
    match lookup(&ctx, &a.name, a.schema.as_deref(), tx).await? {
        Lookup::Collection(c) if a.if_not_exists => {
            return Ok(Created {
                schema: c.schema,
                name: c.name,
                created: false,
            });
        }
        Lookup::Collection(c) => {
            return Err(ToolError::new(
                crate::error::Category::Database,
                Code::AlreadyExists,
                format!("collection '{}' already exists", c.label()),
            )
            .suggest("Pass ifNotExists: true to accept an existing collection."));
        }
        Lookup::NotACollection(c) => {
            return Err(ToolError::new(
                crate::error::Category::Database,
                Code::AlreadyExists,
                format!(
                    "'{}' already exists and is not a docstore collection",
                    c.label()
                ),
            )
            .suggest("Choose another name; the existing table is left alone."));
        }
        Lookup::Missing => {}
    }
    let table = parse_qualified(&a.name, a.schema.as_deref())?.quoted();
    let statements = [
        format!(
            "CREATE TABLE {table} (\
             _id text PRIMARY KEY DEFAULT gen_random_uuid()::text, \
             doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'), \
             created_at timestamptz NOT NULL DEFAULT now(), \
             updated_at timestamptz NOT NULL DEFAULT now())"
        ),
        format!("CREATE INDEX ON {table} USING gin (doc jsonb_path_ops)"),
        format!("COMMENT ON TABLE {table} IS {}", quote_literal(MARKER)),
    ];
    run_atomically(&ctx, tx, &statements).await?;
    let c = collection_of(&ctx, &a.name, a.schema.as_deref(), tx).await?;
    Ok(Created {
        schema: c.schema,
        name: c.name,
        created: true,
    })
}

/// Runs `statements` (pgmcp's own text, no parameters) all or nothing: inside the caller's
/// transaction when there is one, else in a transaction of their own on a pooled
/// connection (as pg_batch_insert does).
async fn run_atomically(ctx: &Ctx, tx: Option<&str>, statements: &[String]) -> ToolResult<()> {
    if tx.is_some() || ctx.transaction.is_some() {
        for s in statements {
            execute(ctx, s, &[], tx, Mode::Write).await?;
        }
        return Ok(());
    }
    let mut client = ctx.db().client().await?;
    let t = client
        .build_transaction()
        .read_only(ctx.read_only)
        .start()
        .await
        .map_err(ToolError::from)?;
    for s in statements {
        crate::db::run_query(&*t, s, &[], ctx.caps()).await?;
    }
    t.commit().await.map_err(ToolError::from)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// pg_doc_drop_collection

pub(super) const DROP: Spec = Spec {
    name: "pg_doc_drop_collection",
    title: "Drop a document collection",
    description: "Drop a docstore collection and all its documents (DROP TABLE, without CASCADE). Refuses any table that is not a collection (no 'pgmcp docstore collection v1' comment).",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropArgs {
    /// Collection name, optionally `schema.name`.
    #[serde(alias = "collection")]
    pub name: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// Succeed without change when no such relation exists (default false).
    #[serde(default)]
    pub if_exists: bool,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dropped {
    /// The collection, `schema.name` (as given when it did not exist).
    pub collection: String,
    /// `false` when `ifExists` found nothing to drop.
    pub dropped: bool,
}

pub(super) async fn drop(ctx: Ctx, a: DropArgs) -> ToolResult<Dropped> {
    let tx = a.transaction_id.as_deref();
    let c = match lookup(&ctx, &a.name, a.schema.as_deref(), tx).await? {
        Lookup::Collection(c) => c,
        Lookup::NotACollection(c) => return Err(not_a_collection(&c)),
        Lookup::Missing if a.if_exists => {
            return Ok(Dropped {
                collection: parse_qualified(&a.name, a.schema.as_deref())?.to_string(),
                dropped: false,
            });
        }
        Lookup::Missing => return Err(missing(&a.name, a.schema.as_deref())),
    };
    drop_checked(&ctx, tx, &c).await?;
    Ok(Dropped {
        collection: c.label(),
        dropped: true,
    })
}

/// Locks the table, checks the marker again under the lock and drops it, in one
/// transaction (the caller's, or one of its own): the table dropped is the one checked,
/// whatever renames or comments happened since the lookup.
async fn drop_checked(ctx: &Ctx, tx: Option<&str>, c: &Collection) -> ToolResult<()> {
    let table = c.quoted();
    let lock = format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE");
    let check = "SELECT EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass($1) \
                 AND relkind IN ('r', 'p') AND obj_description(oid, 'pg_class') = $2) AS marked";
    let params = [json!(table), json!(MARKER)];
    let drop = format!("DROP TABLE {table}");
    let marked = |out: &crate::db::QueryOutput| {
        out.rows.first().and_then(|r| r.get("marked")) == Some(&Value::Bool(true))
    };
    if tx.is_some() || ctx.transaction.is_some() {
        execute(ctx, &lock, &[], tx, Mode::Write).await?;
        if !marked(&execute(ctx, check, &params, tx, Mode::Write).await?) {
            return Err(not_a_collection(c));
        }
        execute(ctx, &drop, &[], tx, Mode::Write).await?;
        return Ok(());
    }
    let mut client = ctx.db().client().await?;
    let t = client
        .build_transaction()
        .read_only(ctx.read_only)
        .start()
        .await
        .map_err(ToolError::from)?;
    crate::db::run_query(&*t, &lock, &[], ctx.caps()).await?;
    if !marked(&crate::db::run_query(&*t, check, &params, ctx.caps()).await?) {
        t.rollback().await.map_err(ToolError::from)?;
        return Err(not_a_collection(c));
    }
    crate::db::run_query(&*t, &drop, &[], ctx.caps()).await?;
    t.commit().await.map_err(ToolError::from)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// pg_doc_collection_info

pub(super) const INFO: Spec = Spec {
    name: "pg_doc_collection_info",
    title: "Describe a document collection",
    description: "A collection's exact document count, sizes in bytes, indexes, and its most frequent top-level keys counted over the first 1000 documents (at most 50 keys).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InfoArgs {
    /// Collection name, optionally `schema.name`.
    #[serde(alias = "name")]
    pub collection: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

/// Documents whose top-level keys are counted.
const KEY_SAMPLE: i64 = 1000;
/// Keys reported.
const KEYS_SHOWN: i64 = 50;

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexInfo {
    pub name: String,
    /// `CREATE INDEX …` as pg_get_indexdef prints it.
    pub definition: String,
    pub unique: bool,
    pub bytes: i64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyCount {
    pub key: String,
    /// Sampled documents that have this top-level key.
    pub documents: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionInfo {
    pub schema: String,
    pub name: String,
    /// Documents, counted exactly.
    pub documents: i64,
    /// Table, TOAST and index bytes.
    pub total_bytes: i64,
    /// Bytes of the table with its TOAST data.
    pub table_bytes: i64,
    /// Bytes of all its indexes.
    pub index_bytes: i64,
    pub indexes: Vec<IndexInfo>,
    /// Documents the keys were counted over (the first 1000 in `_id` order at most).
    pub sampled: i64,
    /// The most frequent top-level keys of the sampled documents, most frequent first
    /// (at most 50).
    pub keys: Vec<KeyCount>,
}

pub(super) async fn info(ctx: Ctx, a: InfoArgs) -> ToolResult<CollectionInfo> {
    let tx = a.transaction_id.as_deref();
    let c = collection_of(&ctx, &a.collection, a.schema.as_deref(), tx).await?;
    let table = c.quoted();
    let sizes = execute(
        &ctx,
        &format!(
            "SELECT (SELECT count(*) FROM {table}) AS documents, \
                    pg_total_relation_size(c.oid) AS total_bytes, \
                    pg_table_size(c.oid) AS table_bytes, \
                    pg_indexes_size(c.oid) AS index_bytes, \
                    COALESCE((SELECT jsonb_agg(jsonb_build_object('name', i.relname, \
                          'definition', pg_get_indexdef(x.indexrelid), 'unique', x.indisunique, \
                          'bytes', pg_relation_size(x.indexrelid)) ORDER BY i.relname) \
                      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                      WHERE x.indrelid = c.oid), '[]') AS indexes \
             FROM (SELECT to_regclass($1)::oid AS oid) c"
        ),
        &[json!(table)],
        tx,
        Mode::Read,
    )
    .await?;
    let row = sizes
        .rows
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("the collection's sizes returned no row"))?;
    let int = |k: &str| row.get(k).and_then(Value::as_i64).unwrap_or(0);
    let indexes: Vec<IndexInfo> =
        serde_json::from_value(row.get("indexes").cloned().unwrap_or(json!([])))
            .map_err(|e| ToolError::internal(format!("an index row did not decode: {e}")))?;
    let keys = execute(
        &ctx,
        &format!(
            "WITH s AS (SELECT doc FROM {table} ORDER BY _id LIMIT $1) \
             SELECT (SELECT count(*) FROM s) AS sampled, \
                    COALESCE((SELECT jsonb_agg(jsonb_build_object('key', key, 'documents', n) \
                                ORDER BY n DESC, key) \
                      FROM (SELECT k AS key, count(*) AS n FROM s, jsonb_object_keys(s.doc) k \
                            GROUP BY k ORDER BY n DESC, k LIMIT $2) t), '[]') AS keys"
        ),
        &[json!(KEY_SAMPLE), json!(KEYS_SHOWN)],
        tx,
        Mode::Read,
    )
    .await?;
    let krow = keys.rows.into_iter().next().unwrap_or_default();
    let key_counts: Vec<KeyCount> =
        serde_json::from_value(krow.get("keys").cloned().unwrap_or(json!([])))
            .map_err(|e| ToolError::internal(format!("a key row did not decode: {e}")))?;
    Ok(CollectionInfo {
        documents: int("documents"),
        total_bytes: int("total_bytes"),
        table_bytes: int("table_bytes"),
        index_bytes: int("index_bytes"),
        indexes,
        sampled: krow.get("sampled").and_then(Value::as_i64).unwrap_or(0),
        keys: key_counts,
        schema: c.schema,
        name: c.name,
    })
}

// ---------------------------------------------------------------------------------------
// pg_doc_create_index

pub(super) const CREATE_INDEX: Spec = Spec {
    name: "pg_doc_create_index",
    title: "Index document fields",
    description: "Create an index on a collection: btree (default) on the text of one or more document paths, `(doc ->> 'key')` or `(doc #>> ARRAY[…])`, optionally unique; or GIN (jsonb_ops) on one path's value or on the whole doc. Returns the index name and the expressions a `where` must use to benefit from it. Blocks writes while it builds.",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum IndexMethod {
    /// Equality, ranges and sorting on the paths' text (`doc ->> 'k' = $1`).
    #[default]
    Btree,
    /// Containment and key existence (`doc -> 'tags' ? 'x'`, `@>`) on one path's value, or on the whole doc without fields.
    Gin,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateIndexArgs {
    /// Collection name, optionally `schema.name`.
    pub collection: String,
    /// Schema of the collection (default: the search path).
    pub schema: Option<String>,
    /// Paths to index, e.g. `["email"]` or `["address.city", "age"]` (1–8 for btree; at
    /// most 1 for gin, none for the whole doc).
    #[serde(default, alias = "field")]
    pub fields: Vec<DocPath>,
    /// `btree` (default) or `gin`.
    #[serde(default)]
    pub method: IndexMethod,
    /// A UNIQUE index (btree only): no two documents with the same values (documents
    /// missing a path are not compared).
    #[serde(default)]
    pub unique: bool,
    /// Index name (default: `<collection>_<paths>_idx`, cut to 63 bytes).
    pub name: Option<String>,
    /// Succeed without change when an index of that name exists (default false).
    #[serde(default)]
    pub if_not_exists: bool,
    /// Run inside this transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexCreated {
    /// The index's name.
    pub index: String,
    /// The indexed expressions, as a query's `where` must write them to use the index.
    pub expressions: Vec<String>,
    /// The statement run.
    pub sql: String,
}

/// The SQL text of a path's value: `doc ->> 'k'` / `doc #>> ARRAY['a', 'b']` (`text`), or
/// with `as_jsonb` `doc -> 'k'` / `doc #> ARRAY[…]`. Keys are literals ([`quote_literal`]).
pub fn path_expression(keys: &[String], as_jsonb: bool) -> String {
    match keys {
        [k] => format!(
            "doc {} {}",
            if as_jsonb { "->" } else { "->>" },
            quote_literal(k)
        ),
        _ => format!(
            "doc {} ARRAY[{}]",
            if as_jsonb { "#>" } else { "#>>" },
            keys.iter()
                .map(|k| quote_literal(k))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `base` cut to PostgreSQL's 63-byte identifier limit on a character boundary.
fn cut_name(base: &str) -> String {
    let mut end = base.len().min(63);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

pub(super) async fn create_index(ctx: Ctx, a: CreateIndexArgs) -> ToolResult<IndexCreated> {
    let tx = a.transaction_id.as_deref();
    let paths: Vec<Vec<String>> = a
        .fields
        .iter()
        .map(DocPath::keys)
        .collect::<ToolResult<_>>()?;
    match a.method {
        IndexMethod::Btree if paths.is_empty() || paths.len() > 8 => {
            return Err(ToolError::invalid("a btree index needs 1 to 8 fields")
                .suggest("Name the paths to index, e.g. fields: [\"email\"]."));
        }
        IndexMethod::Gin if paths.len() > 1 => {
            return Err(ToolError::invalid(
                "a gin index takes at most one field (none: the whole doc)",
            ));
        }
        IndexMethod::Gin if a.unique => {
            return Err(ToolError::invalid("only a btree index can be unique"));
        }
        _ => {}
    }
    let c = collection_of(&ctx, &a.collection, a.schema.as_deref(), tx).await?;
    let expressions: Vec<String> = match a.method {
        IndexMethod::Btree => paths.iter().map(|p| path_expression(p, false)).collect(),
        IndexMethod::Gin => match paths.first() {
            Some(p) => vec![path_expression(p, true)],
            None => vec!["doc".to_string()],
        },
    };
    let name = match a.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => {
            // Checked like any identifier (length, NUL).
            parse_qualified(n, Some("x"))?;
            n.to_string()
        }
        None => cut_name(&format!(
            "{}_{}_idx",
            c.name,
            if paths.is_empty() {
                "doc".to_string()
            } else {
                paths
                    .iter()
                    .map(|p| p.join("_"))
                    .collect::<Vec<_>>()
                    .join("_")
            }
        )),
    };
    let columns = expressions
        .iter()
        .map(|e| format!("({e})"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "CREATE {}INDEX {}{} ON {} USING {} ({columns})",
        if a.unique { "UNIQUE " } else { "" },
        if a.if_not_exists {
            "IF NOT EXISTS "
        } else {
            ""
        },
        quote_ident(&name),
        c.quoted(),
        match a.method {
            IndexMethod::Btree => "btree",
            IndexMethod::Gin => "gin",
        }
    );
    execute(&ctx, &sql, &[], tx, Mode::Write).await?;
    Ok(IndexCreated {
        index: name,
        expressions,
        sql,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_keys_become_escaped_literals() {
        assert_eq!(path_expression(&["email".into()], false), "doc ->> 'email'");
        assert_eq!(
            path_expression(&["a'); DROP TABLE t; --".into(), r"b\".into()], false),
            r"doc #>> ARRAY['a''); DROP TABLE t; --', E'b\\']"
        );
        assert_eq!(path_expression(&["tags".into()], true), "doc -> 'tags'");
        assert_eq!(cut_name(&"é".repeat(40)).len(), 62);
    }
}
