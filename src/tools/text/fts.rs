//! Full-text search: search, rank and headline over one or more text columns (or a tsvector
//! column), the configurations, tsvector/tsquery helpers and the GIN index the search uses.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::super::exec::{Mode, execute, read_rows};
use super::super::sql::{Sql, column_of};
use super::super::{Ctx, NoArgs, READ, Spec, WRITE};
use super::{Paging, Window, config_hint, not_text, page, projection, take};
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};

/// The configuration every FTS tool uses when none is given.
const DEFAULT_CONFIG: &str = "english";

/// The tsvector pg_text_search matches and pg_create_fts_index indexes, for quoted text
/// columns and a configuration expression (`$2::regconfig` in a search, a literal in the
/// index): `to_tsvector(config, coalesce(c1::text, '') || ' ' || coalesce(c2::text, ''))`.
/// One function builds both, so the planner sees the same expression and uses the index.
pub fn document(columns: &[String], config: &str) -> String {
    format!("to_tsvector({config}, {})", document_text(columns))
}

/// The text the document is made of (what a headline is cut from).
fn document_text(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("coalesce({c}::text, '')"))
        .collect::<Vec<_>>()
        .join(" || ' ' || ")
}

/// What is searched: text columns combined into a document, or a tsvector column.
enum Doc {
    /// Quoted, table-qualified text columns.
    Text(Vec<String>),
    /// A quoted, table-qualified tsvector column.
    Vector(String),
}

struct Target {
    /// The quoted table.
    table: String,
    /// The table's own name (unquoted, without schema), for index names.
    bare: String,
    oid: i64,
    doc: Doc,
    /// The plain column names, for index names.
    names: Vec<String>,
}

/// `columns`, or `[column]`: at least one.
#[allow(clippy::result_large_err)]
fn column_list(columns: Option<Vec<String>>, column: Option<String>) -> ToolResult<Vec<String>> {
    let mut all = columns.unwrap_or_default();
    all.extend(column);
    if all.is_empty() {
        return Err(ToolError::invalid(
            "give the column(s) to search: `columns` (a list) or `column`",
        ));
    }
    Ok(all)
}

async fn target(
    ctx: &Ctx,
    table_arg: &str,
    schema: Option<&str>,
    columns: Vec<String>,
) -> ToolResult<Target> {
    let mut resolved = Vec::new();
    for c in &columns {
        resolved.push(column_of(ctx, table_arg, schema, c).await?);
    }
    let table = resolved[0].table.clone();
    let oid = resolved[0].table_oid;
    let bare = crate::db::ident::parse_qualified(table_arg, schema)?.name;
    let qualified = |c: &super::super::sql::Column| format!("{}.{}", c.table, c.column);
    let vectors: Vec<_> = resolved
        .iter()
        .filter(|c| c.type_name == "tsvector")
        .collect();
    let doc = match (vectors.as_slice(), resolved.len()) {
        ([v], 1) => Doc::Vector(qualified(v)),
        ([], _) => {
            for (c, name) in resolved.iter().zip(&columns) {
                if c.category != 'S' {
                    return Err(not_text(c, name).suggest(
                        "Search text columns (text, varchar, char) or one tsvector column.",
                    ));
                }
            }
            Doc::Text(resolved.iter().map(qualified).collect())
        }
        _ => {
            return Err(ToolError::invalid(
                "a tsvector column is searched on its own: give either one tsvector column or text columns",
            ));
        }
    };
    Ok(Target {
        table,
        bare,
        oid,
        doc,
        names: columns,
    })
}

/// How the query text is parsed.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum QueryMode {
    /// websearch_to_tsquery: user input (`"exact phrase"`, `or`, `-exclude`); never a syntax error.
    #[default]
    Websearch,
    /// plainto_tsquery: every word must occur (AND), punctuation ignored.
    Plain,
    /// phraseto_tsquery: the words in this order, adjacent.
    Phrase,
    /// to_tsquery: tsquery syntax (`fat & (rat | cat)`, `sup:*`); a syntax error is an error.
    Raw,
}

impl QueryMode {
    fn function(self) -> &'static str {
        match self {
            QueryMode::Websearch => "websearch_to_tsquery",
            QueryMode::Plain => "plainto_tsquery",
            QueryMode::Phrase => "phraseto_tsquery",
            QueryMode::Raw => "to_tsquery",
        }
    }

    fn name(self) -> &'static str {
        match self {
            QueryMode::Websearch => "websearch",
            QueryMode::Plain => "plain",
            QueryMode::Phrase => "phrase",
            QueryMode::Raw => "raw",
        }
    }
}

/// The ranking function.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default)]
pub enum RankFunction {
    /// ts_rank: frequency of the matching lexemes.
    #[default]
    #[serde(rename = "ts_rank")]
    TsRank,
    /// ts_rank_cd: cover density (how close together the matches are).
    #[serde(rename = "ts_rank_cd")]
    TsRankCd,
}

fn tsquery_error(e: ToolError) -> ToolError {
    let e = config_hint(e);
    if e.error.contains("tsquery") && e.suggestion.is_none() {
        e.suggest("mode 'raw' takes tsquery syntax (`a & (b | c)`, `pre:*`); use mode 'websearch' for free text.")
    } else {
        e
    }
}

/// Parses the query once on its own (a clear error before any scan) and returns its text.
async fn parse_query(ctx: &Ctx, mode: QueryMode, config: &str, query: &str) -> ToolResult<String> {
    let rows = read_rows(
        ctx,
        &format!("SELECT {}($1::regconfig, $2)::text AS q", mode.function()),
        &[json!(config), json!(query)],
    )
    .await
    .map_err(tsquery_error)?;
    Ok(rows
        .first()
        .and_then(|r| r.get("q"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string())
}

/// What the three search tools share, after their arguments are read.
struct Fts {
    table: String,
    schema: Option<String>,
    columns: Vec<String>,
    query: String,
    config: Option<String>,
    mode: QueryMode,
    rank_function: RankFunction,
    normalization: Option<i32>,
    headline: Option<Headline>,
    select: Option<Vec<String>>,
    condition: Option<String>,
    params: Vec<Value>,
    window: Window,
    transaction_id: Option<String>,
}

struct Headline {
    column: Option<String>,
    options: String,
}

/// A matching row with its rank and, when asked, its headline.
#[derive(Serialize, JsonSchema)]
pub struct SearchHit {
    /// The row's columns (those of `select`, or all).
    pub row: Map<String, Value>,
    /// ts_rank or ts_rank_cd of the row's document against the query (higher is better;
    /// not bounded to 0–1 unless `normalization` includes 32).
    pub rank: f64,
    /// The document with the matches marked (ts_headline); absent unless asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headline: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// The tsquery the text was parsed into; empty when it had only stop words (then
    /// nothing matches).
    pub tsquery: String,
    /// The configuration used.
    pub config: String,
    /// Matching rows, best rank first.
    pub matches: Vec<SearchHit>,
    /// Rows on this page.
    pub count: usize,
    #[serde(flatten)]
    pub paging: Paging,
}

async fn run_fts(ctx: Ctx, f: Fts) -> ToolResult<SearchResult> {
    let ctx = ctx.within(f.transaction_id.as_deref());
    let config = f.config.unwrap_or_else(|| DEFAULT_CONFIG.to_string());
    let target = target(&ctx, &f.table, f.schema.as_deref(), f.columns).await?;
    let headline_text = match (&f.headline, &target.doc) {
        (None, _) => None,
        (Some(h), doc) => Some(match (&h.column, doc) {
            (Some(c), _) => {
                let col = super::text_column(&ctx, &f.table, f.schema.as_deref(), c).await?;
                format!("coalesce({}.{}::text, '')", col.table, col.column)
            }
            (None, Doc::Text(cols)) => document_text(cols),
            (None, Doc::Vector(_)) => {
                return Err(ToolError::invalid(
                    "a headline needs the text, and a tsvector column has only lexemes",
                )
                .suggest("Give `headlineColumn`: the text column the tsvector was built from."));
            }
        }),
    };
    let tsquery = parse_query(&ctx, f.mode, &config, &f.query).await?;

    let mut sql = Sql::new(f.params);
    let cond = sql.condition(f.condition.as_deref())?;
    let cfg = sql.bind(&config);
    let cfg = format!("{cfg}::regconfig");
    let q = sql.bind(&f.query);
    let query = format!("{}({cfg}, {q})", f.mode.function());
    let vector = match &target.doc {
        Doc::Text(cols) => document(cols, &cfg),
        Doc::Vector(c) => c.clone(),
    };
    let norm = sql.bind(f.normalization.unwrap_or(0));
    let rank_fn = match f.rank_function {
        RankFunction::TsRank => "ts_rank",
        RankFunction::TsRankCd => "ts_rank_cd",
    };
    let proj = projection(f.select.as_deref(), &target.table)?;
    let doc_col = headline_text
        .as_ref()
        .map(|t| format!(", {t} AS \"pgmcp:doc\""))
        .unwrap_or_default();
    let filter = cond.map(|c| format!(" AND {c}")).unwrap_or_default();
    let inner = format!(
        "SELECT {proj}, {rank_fn}({vector}, {query}, {norm}::int) AS \"pgmcp:rank\"{doc_col} \
         FROM {table} WHERE {vector} @@ {query}{filter} ORDER BY \"pgmcp:rank\" DESC",
        table = target.table
    );
    let window = f.window.clause(&mut sql);
    match &f.headline {
        None => sql.push(&format!("{inner}{window}")),
        Some(h) => {
            let opts = sql.bind(&h.options);
            sql.push(&format!(
                "SELECT s.*, ts_headline({cfg}, s.\"pgmcp:doc\", {query}, {opts}) AS \"pgmcp:headline\" \
                 FROM ({inner}{window}) s ORDER BY s.\"pgmcp:rank\" DESC"
            ))
        }
    };
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        f.transaction_id.as_deref(),
        Mode::Read,
    )
    .await
    .map_err(tsquery_error)?;
    let (rows, paging) = page(out, &f.window);
    let matches: Vec<SearchHit> = rows
        .into_iter()
        .map(|mut row| {
            let rank = take(&mut row, "rank").as_f64().unwrap_or(0.0);
            take(&mut row, "doc");
            let headline = match f.headline {
                Some(_) => take(&mut row, "headline").as_str().map(str::to_string),
                None => None,
            };
            SearchHit {
                row,
                rank,
                headline,
            }
        })
        .collect();
    Ok(SearchResult {
        tsquery,
        config,
        count: matches.len(),
        matches,
        paging,
    })
}

/// ts_headline's options from the structured arguments (values double-quoted, `"` doubled).
fn headline_options(
    start_sel: Option<&str>,
    stop_sel: Option<&str>,
    max_words: Option<u32>,
    min_words: Option<u32>,
    max_fragments: Option<u32>,
) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut opts = Vec::new();
    if let Some(s) = start_sel {
        opts.push(format!("StartSel={}", quote(s)));
    }
    if let Some(s) = stop_sel {
        opts.push(format!("StopSel={}", quote(s)));
    }
    if let Some(n) = max_words {
        opts.push(format!("MaxWords={n}"));
    }
    if let Some(n) = min_words {
        opts.push(format!("MinWords={n}"));
    }
    if let Some(n) = max_fragments {
        opts.push(format!("MaxFragments={n}"));
    }
    opts.join(", ")
}

pub(super) const SEARCH: Spec = Spec {
    name: "pg_text_search",
    title: "Full-text search",
    description: "Full-text search over one or more text columns (combined as to_tsvector(config, coalesce(c1,'') || ' ' || …)) or one tsvector column; the query is parsed with websearch_to_tsquery by default (mode plain|phrase|raw). Returns matching rows best rank first with ts_rank/ts_rank_cd and, with `headline: true`, ts_headline; limit default 100, max 1000, `offset` pages. Uses a GIN index made by pg_create_fts_index on the same columns and config.",
    hints: READ,
    shortcuts: &[],
};

/// The arguments of pg_text_search, pg_text_rank and pg_text_headline, from one definition
/// of what they share (serde cannot `flatten` into a struct with `deny_unknown_fields`):
/// the target and query first, then the named groups in the order given — `rank`
/// (rankFunction, normalization), `headline_flag` (headline), `headline` (headlineColumn and
/// the ts_headline options) — then the rows to return. Also makes `into_fts`, which turns
/// the shared fields into an [`Fts`] given the groups' values.
macro_rules! fts_args {
    ($name:ident { $($group:ident),* }) => {
        fts_args!(@munch $name [] $($group)*);
    };
    (@munch $name:ident [$($acc:tt)*] rank $($rest:ident)*) => {
        fts_args!(@munch $name [$($acc)*
            /// ts_rank (default) or ts_rank_cd.
            pub rank_function: Option<RankFunction>,
            /// Normalization bitmask (0 default; 1: divide by 1 + log(length); 2: by length;
            /// 32: rank / (rank + 1), 0–1).
            pub normalization: Option<i32>,
        ] $($rest)*);
    };
    (@munch $name:ident [$($acc:tt)*] headline_flag $($rest:ident)*) => {
        fts_args!(@munch $name [$($acc)*
            /// Add a ts_headline of each row's document (default false).
            #[serde(default)]
            pub headline: bool,
        ] $($rest)*);
    };
    (@munch $name:ident [$($acc:tt)*] headline $($rest:ident)*) => {
        fts_args!(@munch $name [$($acc)*
            /// Text column the headline is cut from (default: the searched text columns; required
            /// for a tsvector column).
            pub headline_column: Option<String>,
            /// Headline: marker before a match (default `<b>`).
            pub start_sel: Option<String>,
            /// Headline: marker after a match (default `</b>`).
            pub stop_sel: Option<String>,
            /// Headline: longest headline in words (default 35).
            pub max_words: Option<u32>,
            /// Headline: shortest headline in words (default 15; less than maxWords).
            pub min_words: Option<u32>,
            /// Headline: fragments to show (default 0: one headline, not fragments).
            pub max_fragments: Option<u32>,
        ] $($rest)*);
    };
    (@munch $name:ident [$($acc:tt)*]) => {
        #[derive(Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name {
            /// Table name, optionally `schema.table`.
            pub table: String,
            pub schema: Option<String>,
            /// Text columns searched together (or one tsvector column).
            pub columns: Option<Vec<String>>,
            /// One column to search (same as `columns: [column]`).
            pub column: Option<String>,
            /// The search text (parsed per `mode`).
            pub query: String,
            /// Text search configuration (default `english`; pg_text_search_config lists them).
            pub config: Option<String>,
            /// How `query` is parsed (default websearch).
            pub mode: Option<QueryMode>,
            $($acc)*
            /// Columns to return (default all).
            pub select: Option<Vec<String>>,
            /// Optional SQL condition on the rows, e.g. `lang = $1`.
            #[serde(rename = "where")]
            pub condition: Option<String>,
            /// Values for $n placeholders in `where`.
            #[serde(default)]
            pub params: Vec<Value>,
            /// Rows per page (default 100, max 1000).
            pub limit: Option<u32>,
            /// Rows to skip (default 0).
            pub offset: Option<u64>,
            /// Run inside this open transaction (from pg_transaction_begin).
            pub transaction_id: Option<String>,
        }

        impl $name {
            fn into_fts(
                self,
                rank_function: RankFunction,
                normalization: Option<i32>,
                headline: Option<Headline>,
            ) -> ToolResult<Fts> {
                Ok(Fts {
                    columns: column_list(self.columns, self.column)?,
                    window: Window::new(self.limit, self.offset)?,
                    table: self.table,
                    schema: self.schema,
                    query: self.query,
                    config: self.config,
                    mode: self.mode.unwrap_or_default(),
                    rank_function,
                    normalization,
                    headline,
                    select: self.select,
                    condition: self.condition,
                    params: self.params,
                    transaction_id: self.transaction_id,
                })
            }
        }
    };
}

/// The headline of the `headline` group's arguments of `a` (an [`fts_args!`] struct).
macro_rules! headline_of {
    ($a:expr) => {
        Headline {
            column: $a.headline_column.clone(),
            options: headline_options(
                $a.start_sel.as_deref(),
                $a.stop_sel.as_deref(),
                $a.max_words,
                $a.min_words,
                $a.max_fragments,
            ),
        }
    };
}

fts_args!(SearchArgs {
    rank,
    headline_flag,
    headline
});

pub(super) async fn search(ctx: Ctx, a: SearchArgs) -> ToolResult<SearchResult> {
    let headline = a.headline.then(|| headline_of!(a));
    let rank = a.rank_function.unwrap_or_default();
    let normalization = a.normalization;
    run_fts(ctx, a.into_fts(rank, normalization, headline)?).await
}

pub(super) const RANK: Spec = Spec {
    name: "pg_text_rank",
    title: "Rank rows by full-text relevance",
    description: "Rank the rows matching a full-text query by ts_rank (or ts_rank_cd) with an optional normalization bitmask, best first; same columns, config and query modes as pg_text_search, no headlines. limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

fts_args!(RankArgs { rank });

pub(super) async fn rank(ctx: Ctx, a: RankArgs) -> ToolResult<SearchResult> {
    let rank = a.rank_function.unwrap_or_default();
    let normalization = a.normalization;
    run_fts(ctx, a.into_fts(rank, normalization, None)?).await
}

pub(super) const HEADLINE: Spec = Spec {
    name: "pg_text_headline",
    title: "Full-text search headlines",
    description: "The rows matching a full-text query with ts_headline excerpts (matches marked with startSel/stopSel, default <b>…</b>), best rank first; same columns, config and query modes as pg_text_search. limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

fts_args!(HeadlineArgs { headline });

pub(super) async fn headline(ctx: Ctx, a: HeadlineArgs) -> ToolResult<SearchResult> {
    let headline = headline_of!(a);
    run_fts(ctx, a.into_fts(RankFunction::TsRank, None, Some(headline))?).await
}

pub(super) const SEARCH_CONFIG: Spec = Spec {
    name: "pg_text_search_config",
    title: "List text search configurations",
    description: "List the text search configurations (pg_ts_config) with schema, parser and description, and the database's default_text_search_config.",
    hints: READ,
    shortcuts: &[],
};

/// A text search configuration.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsConfig {
    /// Name to pass as `config` (schema-qualify it outside the search path).
    pub name: String,
    pub schema: String,
    /// The parser (`default` for the built-in ones).
    pub parser: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `true` for default_text_search_config; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsConfigList {
    /// By schema and name.
    pub configs: Vec<TsConfig>,
    /// default_text_search_config (what to_tsvector(text) uses without a configuration).
    pub default_config: String,
}

pub(super) async fn search_config(ctx: Ctx, _a: NoArgs) -> ToolResult<TsConfigList> {
    let rows = read_rows(
        &ctx,
        "SELECT c.cfgname AS name, n.nspname AS schema, p.prsname AS parser, \
                obj_description(c.oid, 'pg_ts_config') AS description, \
                NULLIF(c.oid = current_setting('default_text_search_config')::regconfig, false) AS \"isDefault\" \
         FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace \
         JOIN pg_ts_parser p ON p.oid = c.cfgparser ORDER BY n.nspname, c.cfgname",
        &[],
    )
    .await?;
    let configs = rows
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<Vec<TsConfig>, _>>()
        .map_err(|e| ToolError::internal(format!("decoding configurations: {e}")))?;
    let default = read_rows(
        &ctx,
        "SELECT current_setting('default_text_search_config') AS d",
        &[],
    )
    .await?;
    Ok(TsConfigList {
        configs,
        default_config: default
            .first()
            .and_then(|r| r.get("d"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

pub(super) const TO_VECTOR: Spec = Spec {
    name: "pg_text_to_vector",
    title: "Text to tsvector",
    description: "Convert text to a tsvector with a configuration (default english): the tsvector text and its lexemes with positions, in text order (at most 1000 lexemes; beyond, `truncated` and no tsvector text).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToVectorArgs {
    /// The text to convert.
    pub text: String,
    /// Text search configuration (default `english`).
    pub config: Option<String>,
}

/// A lexeme of a tsvector.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Lexeme {
    /// The normalized word.
    pub lexeme: String,
    /// Word positions in the text (1-based).
    pub positions: Vec<i32>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToVectorResult {
    /// The tsvector as PostgreSQL prints it, e.g. `'fox':2 'quick':1`; absent when it has
    /// more than 1000 lexemes (see `truncated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// The configuration used.
    pub config: String,
    /// Lexemes in the order they first occur (at most 1000; see lexemeCount).
    pub lexemes: Vec<Lexeme>,
    /// Distinct lexemes in the tsvector.
    pub lexeme_count: i64,
    /// `true` when the tsvector has more than 1000 lexemes: only the first 1000 (in text
    /// order) are listed and `vector` is left out; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

const MAX_LEXEMES: i64 = 1000;

pub(super) async fn to_vector(ctx: Ctx, a: ToVectorArgs) -> ToolResult<ToVectorResult> {
    let config = a.config.unwrap_or_else(|| DEFAULT_CONFIG.to_string());
    let rows = read_rows(
        &ctx,
        "WITH v AS (SELECT to_tsvector($1::regconfig, $2) AS v) \
         SELECT CASE WHEN length(v.v) <= $3 THEN v.v::text END AS vector, length(v.v) AS n, \
                (SELECT coalesce(jsonb_agg(jsonb_build_object('lexeme', u.lexeme, 'positions', u.positions) \
                                           ORDER BY u.positions[1], u.lexeme), '[]'::jsonb) \
                 FROM (SELECT x.lexeme, x.positions FROM unnest(v.v) x \
                       ORDER BY x.positions[1], x.lexeme LIMIT $3) u) AS lexemes \
         FROM v",
        &[json!(config), json!(a.text), json!(MAX_LEXEMES)],
    )
    .await
    .map_err(config_hint)?;
    let row = rows.into_iter().next().unwrap_or_default();
    let lexemes: Vec<Lexeme> = serde_json::from_value(row["lexemes"].clone())
        .map_err(|e| ToolError::internal(format!("decoding lexemes: {e}")))?;
    let lexeme_count = row["n"].as_i64().unwrap_or(0);
    let cut = lexeme_count > MAX_LEXEMES;
    Ok(ToVectorResult {
        vector: (!cut).then(|| row["vector"].as_str().unwrap_or_default().to_string()),
        config,
        lexemes,
        lexeme_count,
        truncated: cut.then_some(true),
    })
}

pub(super) const TO_QUERY: Spec = Spec {
    name: "pg_text_to_query",
    title: "Text to tsquery",
    description: "Parse text into a tsquery with a configuration (default english) and mode (websearch default, plain, phrase, raw tsquery syntax): the tsquery text and its terms (lexeme, prefix match, weights).",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToQueryArgs {
    /// The text to parse.
    pub text: String,
    /// Text search configuration (default `english`).
    pub config: Option<String>,
    /// websearch (default), plain, phrase or raw (tsquery syntax).
    pub mode: Option<QueryMode>,
}

/// A lexeme of a tsquery.
#[derive(Serialize, JsonSchema, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QueryTerm {
    pub lexeme: String,
    /// `true` for a prefix match (`lexeme:*`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<bool>,
    /// The weights it is restricted to (`AB`); absent when any weight matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToQueryResult {
    /// The tsquery as PostgreSQL prints it, e.g. `'fat' & 'rat'`; empty when the text had
    /// only stop words.
    pub query: String,
    /// The configuration used.
    pub config: String,
    /// websearch, plain, phrase or raw.
    pub mode: String,
    /// The lexemes in the query, in order of appearance.
    pub terms: Vec<QueryTerm>,
    /// Nodes in the query tree (numnode: lexemes plus operators); 0 when empty.
    pub nodes: i64,
}

/// The lexemes of a tsquery's text: `'a':*AB & !'b''c'` → a (prefix, AB), b'c.
fn query_terms(q: &str) -> Vec<QueryTerm> {
    let mut terms = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut lexeme = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lexeme.push('\'');
                } else {
                    break;
                }
            } else if c == '\\' {
                if let Some(n) = chars.next() {
                    lexeme.push(n);
                }
            } else {
                lexeme.push(c);
            }
        }
        let (mut prefix, mut weights) = (false, String::new());
        if chars.peek() == Some(&':') {
            chars.next();
            while let Some(&m) = chars.peek() {
                match m {
                    '*' => prefix = true,
                    'A'..='D' | 'a'..='d' => weights.push(m.to_ascii_uppercase()),
                    _ => break,
                }
                chars.next();
            }
        }
        terms.push(QueryTerm {
            lexeme,
            prefix: prefix.then_some(true),
            weights: (!weights.is_empty()).then_some(weights),
        });
    }
    terms
}

pub(super) async fn to_query(ctx: Ctx, a: ToQueryArgs) -> ToolResult<ToQueryResult> {
    let config = a.config.unwrap_or_else(|| DEFAULT_CONFIG.to_string());
    let mode = a.mode.unwrap_or_default();
    let rows = read_rows(
        &ctx,
        &format!(
            "SELECT q::text AS q, numnode(q) AS n FROM {}($1::regconfig, $2) q",
            mode.function()
        ),
        &[json!(config), json!(a.text)],
    )
    .await
    .map_err(tsquery_error)?;
    let row = rows.into_iter().next().unwrap_or_default();
    let query = row["q"].as_str().unwrap_or_default().to_string();
    Ok(ToQueryResult {
        terms: query_terms(&query),
        query,
        config,
        mode: mode.name().to_string(),
        nodes: row["n"].as_i64().unwrap_or(0),
    })
}

pub(super) const CREATE_FTS_INDEX: Spec = Spec {
    name: "pg_create_fts_index",
    title: "Create a full-text search index",
    description: "Create a GIN index on the tsvector pg_text_search matches for these text columns and config (to_tsvector(config, coalesce(c1,'') || ' ' || …)), or on a tsvector column, so the search uses it. IF NOT EXISTS by default; `concurrently` builds without blocking writes (not inside a transaction).",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateFtsIndexArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Text columns, as pg_text_search will be given them (same order), or one tsvector column.
    pub columns: Option<Vec<String>>,
    /// One column (same as `columns: [column]`).
    pub column: Option<String>,
    /// Text search configuration (default `english`; must match the searches' `config`).
    pub config: Option<String>,
    /// Index name (default `<table>_<columns>_fts_idx`, cut to 63 bytes).
    #[serde(alias = "indexName")]
    pub name: Option<String>,
    /// Do nothing when a relation of that name exists (default true).
    pub if_not_exists: Option<bool>,
    /// CREATE INDEX CONCURRENTLY: does not block writes; cannot run in a transaction.
    #[serde(default)]
    pub concurrently: bool,
    /// Run inside this open transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FtsIndexCreated {
    /// The index name.
    pub index: String,
    /// The indexed expression (or column).
    pub expression: String,
    /// The configuration in the expression; absent for a tsvector column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// `true` when a relation of that name already existed and nothing was built (see
    /// `existing`).
    pub skipped: bool,
    /// The existing index's definition, when skipped and it is an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    /// The statement that ran.
    pub sql: String,
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut_bytes(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

pub(super) async fn create_fts_index(
    ctx: Ctx,
    a: CreateFtsIndexArgs,
) -> ToolResult<FtsIndexCreated> {
    let columns = column_list(a.columns, a.column)?;
    let ctx = ctx.within(a.transaction_id.as_deref());
    if a.concurrently && ctx.transaction.is_some() {
        return Err(ToolError::invalid(
            "CREATE INDEX CONCURRENTLY cannot run inside a transaction",
        )
        .suggest("Leave out transactionId, or build without `concurrently`."));
    }
    let target = target(&ctx, &a.table, a.schema.as_deref(), columns).await?;
    let (expression, config) = match &target.doc {
        Doc::Vector(_) => (quote_ident(&target.names[0]), None),
        Doc::Text(_) => {
            let config = a.config.unwrap_or_else(|| DEFAULT_CONFIG.to_string());
            // DDL takes no parameters: the configuration is resolved by the server and its
            // canonical name quoted by the server (quote_literal), never the caller's text.
            let rows = read_rows(
                &ctx,
                "SELECT quote_literal($1::regconfig::text) AS lit",
                &[json!(config)],
            )
            .await
            .map_err(config_hint)?;
            let lit = rows
                .first()
                .and_then(|r| r.get("lit"))
                .and_then(Value::as_str)
                .ok_or_else(|| ToolError::internal("the configuration lookup returned no row"))?
                .to_string();
            let cols: Vec<String> = target.names.iter().map(|c| quote_ident(c)).collect();
            (document(&cols, &format!("{lit}::regconfig")), Some(config))
        }
    };
    let name = a.name.unwrap_or_else(|| {
        cut_bytes(
            &format!("{}_{}_fts_idx", target.bare, target.names.join("_")),
            63,
        )
    });
    let if_not_exists = a.if_not_exists.unwrap_or(true);
    // Whether the name is taken in the table's schema (where the index goes).
    let taken = read_rows(
        &ctx,
        "SELECT i.oid IS NOT NULL AS taken, \
                CASE WHEN i.relkind IN ('i', 'I') THEN pg_get_indexdef(i.oid) END AS def \
         FROM pg_class t LEFT JOIN pg_class i \
              ON i.relnamespace = t.relnamespace AND i.relname = $2 \
         WHERE t.oid = $1::oid",
        &[json!(target.oid), json!(name)],
    )
    .await?;
    let existing = taken.first().cloned().unwrap_or_default();
    let skipped = if_not_exists && existing["taken"] == json!(true);
    let sql = format!(
        "CREATE INDEX {}{}{} ON {} USING gin ({})",
        if a.concurrently { "CONCURRENTLY " } else { "" },
        if if_not_exists { "IF NOT EXISTS " } else { "" },
        quote_ident(&name),
        target.table,
        expression
    );
    execute(&ctx, &sql, &[], a.transaction_id.as_deref(), Mode::Write).await?;
    Ok(FtsIndexCreated {
        index: name,
        expression,
        config,
        skipped,
        existing: if skipped {
            existing["def"].as_str().map(str::to_string)
        } else {
            None
        },
        sql,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_combines_columns_with_coalesce() {
        assert_eq!(
            document(&["\"a\"".into(), "\"b c\"".into()], "$1::regconfig"),
            "to_tsvector($1::regconfig, coalesce(\"a\"::text, '') || ' ' || coalesce(\"b c\"::text, ''))"
        );
    }

    #[test]
    fn query_terms_are_read_from_the_tsquery_text() {
        assert_eq!(
            query_terms("'fat' & !'it''s':*AB <-> 'x'"),
            vec![
                QueryTerm {
                    lexeme: "fat".into(),
                    prefix: None,
                    weights: None
                },
                QueryTerm {
                    lexeme: "it's".into(),
                    prefix: Some(true),
                    weights: Some("AB".into())
                },
                QueryTerm {
                    lexeme: "x".into(),
                    prefix: None,
                    weights: None
                },
            ]
        );
        assert!(query_terms("").is_empty());
    }

    #[test]
    fn headline_options_quote_their_values() {
        assert_eq!(
            headline_options(
                Some("<em class=\"m\">"),
                Some("</em>"),
                Some(10),
                Some(2),
                None
            ),
            "StartSel=\"<em class=\"\"m\"\">\", StopSel=\"</em>\", MaxWords=10, MinWords=2"
        );
        assert_eq!(cut_bytes("ééé", 3), "é");
    }
}
