//! Text tools: full-text search with ranking and headlines, FTS configuration and indexes,
//! trigram and fuzzy matching, normalization and a small-lexicon sentiment count.
//!
//! Every table tool resolves its table and columns first (`sql::column_of`: NOT_FOUND when
//! missing, the type checked), quotes every name, binds every value, checks the caller's
//! `where` with `Sql::where_clause`, and runs through `exec::execute(.., Mode::Read)` unless it
//! writes (pg_create_fts_index). Rows come back bounded: `limit` (default 100, at most 1000)
//! and `offset`, one more row is read to know whether there is a next page.

mod fts;
mod matching;
mod normalize;

pub use fts::document;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::exec::read_rows;
use super::sql::{Column, column_of};
use super::{Ctx, Tool};
use crate::db::QueryOutput;
use crate::db::ident::quote_ident;
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "text";

/// Rows a table tool returns when no `limit` is given.
pub const DEFAULT_LIMIT: u32 = 100;
/// The largest `limit` a table tool accepts.
pub const MAX_LIMIT: u32 = 1000;

pub fn tools() -> Vec<Tool> {
    vec![
        fts::SEARCH.tool(GROUP, fts::search),
        fts::RANK.tool(GROUP, fts::rank),
        fts::HEADLINE.tool(GROUP, fts::headline),
        fts::SEARCH_CONFIG.tool(GROUP, fts::search_config),
        fts::TO_VECTOR.tool(GROUP, fts::to_vector),
        fts::TO_QUERY.tool(GROUP, fts::to_query),
        fts::CREATE_FTS_INDEX.tool(GROUP, fts::create_fts_index),
        matching::TRIGRAM.tool(GROUP, matching::trigram_similarity),
        matching::LIKE.tool(GROUP, matching::like_search),
        matching::REGEXP.tool(GROUP, matching::regexp_match),
        matching::FUZZY.tool(GROUP, matching::fuzzy_match),
        normalize::NORMALIZE.tool(GROUP, normalize::text_normalize),
        normalize::SENTIMENT.tool(GROUP, normalize::text_sentiment),
    ]
}

/// The page a caller asked for: `limit` checked to be 1..=MAX_LIMIT, `offset` >= 0.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub limit: u32,
    pub offset: u64,
}

impl Window {
    #[allow(clippy::result_large_err)]
    pub fn new(limit: Option<u32>, offset: Option<u64>) -> ToolResult<Window> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ToolError::invalid(format!(
                "limit must be between 1 and {MAX_LIMIT} (got {limit})"
            ))
            .suggest("Page through larger results with `offset`."));
        }
        Ok(Window {
            limit,
            offset: offset.unwrap_or(0),
        })
    }

    /// ` LIMIT $a OFFSET $b`, reading one row more than the page to know whether more follow.
    pub fn clause(&self, sql: &mut super::sql::Sql) -> String {
        let l = sql.bind(self.limit as i64 + 1);
        let o = sql.bind(self.offset as i64);
        format!(" LIMIT {l} OFFSET {o}")
    }

    /// Cuts the rows read with [`Window::clause`] to the page and says whether (and where)
    /// the result goes on.
    pub fn cut<T>(&self, mut rows: Vec<T>, out_truncated: bool) -> (Vec<T>, Paging) {
        let mut paging = Paging::default();
        if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            paging.truncated = Some(true);
        } else if out_truncated {
            paging.truncated = Some(true);
        }
        if paging.truncated.is_some() {
            let next = self.offset + rows.len() as u64;
            paging.next_offset = Some(next);
            paging.hint = Some(if out_truncated && rows.len() < self.limit as usize {
                format!(
                    "Cut after {} rows at the server's result limit (--max-rows / --max-result-bytes); pass offset {next} for the next page, or `select` fewer columns.",
                    rows.len()
                )
            } else {
                format!("More rows match; pass offset {next} for the next page.")
            });
        }
        (rows, paging)
    }
}

/// Where a page of matches sits: flattened into each row-returning tool's output.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    /// `true` when more rows match than this page holds; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// Pass as `offset` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// How to get the rest, when cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Prefix of the columns a tool computes next to the caller's (rank, similarity…), split
/// out of each row into typed fields; no table column is expected to carry it.
pub(crate) const COMPUTED: &str = "pgmcp:";

/// The projection of the caller's `select` (quoted names, qualified by `qual`, the quoted
/// table), or `qual.*`.
#[allow(clippy::result_large_err)]
pub(crate) fn projection(select: Option<&[String]>, qual: &str) -> ToolResult<String> {
    match select {
        None => Ok(format!("{qual}.*")),
        Some([]) => Err(ToolError::invalid(
            "select is empty; name the columns to return, or leave it out for all",
        )),
        Some(cols) => {
            if let Some(c) = cols.iter().find(|c| c.starts_with(COMPUTED)) {
                return Err(ToolError::invalid(format!(
                    "select names '{c}', but the prefix '{COMPUTED}' is reserved for computed values"
                )));
            }
            Ok(cols
                .iter()
                .map(|c| format!("{qual}.{}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", "))
        }
    }
}

/// Takes the computed value `name` out of a row (see [`COMPUTED`]).
pub(crate) fn take(row: &mut Map<String, Value>, name: &str) -> Value {
    row.remove(&format!("{COMPUTED}{name}"))
        .unwrap_or(Value::Null)
}

/// The rows of `out`, cut to `window`, with the paging.
pub(crate) fn page(out: QueryOutput, window: &Window) -> (Vec<Map<String, Value>>, Paging) {
    let truncated = out.truncated.is_some();
    window.cut(out.rows, truncated)
}

/// Resolves a text column (`pg_type.typcategory` S: text, varchar, char, citext, name…).
pub(crate) async fn text_column(
    ctx: &Ctx,
    table: &str,
    schema: Option<&str>,
    column: &str,
) -> ToolResult<Column> {
    let c = column_of(ctx, table, schema, column).await?;
    if c.category != 'S' {
        return Err(not_text(&c, column));
    }
    Ok(c)
}

pub(crate) fn not_text(c: &Column, column: &str) -> ToolError {
    ToolError::invalid(format!(
        "column '{column}' is of type {}, not a text type",
        c.type_name
    ))
    .suggest("Use a text, varchar or char column (pg_get_columns shows the types).")
}

/// The schema (quoted) an extension is installed in, or EXTENSION_MISSING with the command
/// that installs it.
pub(crate) async fn extension_schema(ctx: &Ctx, ext: &str, needed_for: &str) -> ToolResult<String> {
    extension_schema_opt(ctx, ext).await?.ok_or_else(|| {
        ToolError::not_found(
            Code::ExtensionMissing,
            format!("{needed_for} needs the {ext} extension, which is not installed in this database"),
        )
        .suggest(format!(
            "Run CREATE EXTENSION {ext}; (a contrib module shipped with PostgreSQL), e.g. with pg_write_query."
        ))
    })
}

/// The schema (quoted) an extension is installed in, if it is.
pub(crate) async fn extension_schema_opt(ctx: &Ctx, ext: &str) -> ToolResult<Option<String>> {
    let rows = read_rows(
        ctx,
        "SELECT n.nspname AS schema FROM pg_extension e \
         JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1",
        &[json!(ext)],
    )
    .await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("schema"))
        .and_then(Value::as_str)
        .map(quote_ident))
}

/// A PostgreSQL error about a missing text search configuration, with where to look.
pub(crate) fn config_hint(e: ToolError) -> ToolError {
    if e.error.contains("text search configuration") && e.suggestion.is_none() {
        e.suggest("pg_text_search_config lists the configurations (e.g. english, simple).")
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_bounded_and_says_where_the_next_page_starts() {
        assert!(Window::new(Some(0), None).is_err());
        assert!(Window::new(Some(MAX_LIMIT + 1), None).is_err());
        let w = Window::new(Some(2), Some(4)).unwrap();
        let (rows, p) = w.cut(vec![1, 2, 3], false);
        assert_eq!(rows, vec![1, 2]);
        assert_eq!(p.next_offset, Some(6));
        let (rows, p) = w.cut(vec![1, 2], false);
        assert_eq!(rows, vec![1, 2]);
        assert!(p.truncated.is_none() && p.next_offset.is_none());
        let (_, p) = w.cut(vec![1], true);
        assert_eq!(p.next_offset, Some(5));
    }

    #[test]
    fn the_projection_quotes_names() {
        assert_eq!(projection(None, "t").unwrap(), "t.*");
        assert_eq!(
            projection(Some(&["a\"b".into(), "c d".into()]), "t").unwrap(),
            "t.\"a\"\"b\", t.\"c d\""
        );
        assert!(projection(Some(&[]), "t").is_err());
        assert!(projection(Some(&["pgmcp:rank".into()]), "t").is_err());
    }
}
