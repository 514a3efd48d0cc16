//! Pattern and similarity matching on a text column: trigram similarity (pg_trgm), LIKE/ILIKE,
//! POSIX regular expressions, and fuzzy matching (fuzzystrmatch; Damerau-Levenshtein here).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::super::exec::{Mode, execute, read_rows};
use super::super::sql::{Column, Sql};
use super::super::{Ctx, READ, Spec};
use super::{COMPUTED, Paging, Window, extension_schema, page, projection, take, text_column};
use crate::error::{ToolError, ToolResult};

/// A trigram index on a column.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
pub struct TrigramIndex {
    /// The index name.
    pub name: String,
    /// `gin` (gin_trgm_ops) or `gist` (gist_trgm_ops).
    pub method: String,
}

/// A valid, non-partial pg_trgm index (gin_trgm_ops / gist_trgm_ops) on exactly this
/// column, GIN preferred. Works without pg_trgm installed (then there is none).
async fn trigram_index(ctx: &Ctx, col: &Column, column: &str) -> ToolResult<Option<TrigramIndex>> {
    let rows = read_rows(
        ctx,
        "SELECT ic.relname AS name, am.amname AS method \
         FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_am am ON am.oid = ic.relam \
         CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[]) AS k(attnum, opclass) \
         JOIN pg_opclass oc ON oc.oid = k.opclass \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE i.indrelid = $1::oid AND a.attname = $2 \
           AND oc.opcname IN ('gin_trgm_ops', 'gist_trgm_ops') \
           AND i.indisvalid AND i.indpred IS NULL \
         ORDER BY (am.amname = 'gin') DESC, ic.relname LIMIT 1",
        &[json!(col.table_oid), json!(column)],
    )
    .await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| serde_json::from_value(r).ok()))
}

// ---------------------------------------------------------------------------------------
// pg_trigram_similarity

pub(super) const TRIGRAM: Spec = Spec {
    name: "pg_trigram_similarity",
    title: "Trigram similarity search",
    description: "Rows whose text column is similar to a value by pg_trgm trigram similarity (0–1; mode similarity, default threshold 0.3) or word_similarity (the value against the best-matching part of the column; default threshold 0.6), most similar first; says whether a trigram index serves the search. Needs pg_trgm. limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

/// Which pg_trgm measure.
#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TrigramMode {
    /// similarity(column, value): the whole strings compared.
    #[default]
    Similarity,
    /// word_similarity(value, column): the value against the most similar extent of the column.
    Word,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TrigramArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// The text column compared.
    pub column: String,
    /// The value to compare against.
    #[serde(alias = "text")]
    pub value: String,
    /// similarity (default) or word.
    pub mode: Option<TrigramMode>,
    /// Minimum score, 0–1 (default 0.3 for similarity, 0.6 for word).
    pub threshold: Option<f64>,
    /// Columns to return (default all).
    pub select: Option<Vec<String>>,
    /// Optional SQL condition on the rows, e.g. `active = $1`.
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

#[derive(Serialize, JsonSchema)]
pub struct SimilarityHit {
    /// The row's columns (those of `select`, or all).
    pub row: Map<String, Value>,
    /// The trigram score, 0–1 (1: identical trigram sets).
    pub similarity: f64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrigramResult {
    /// similarity or word.
    pub mode: String,
    /// The threshold applied.
    pub threshold: f64,
    /// Matching rows, most similar first.
    pub matches: Vec<SimilarityHit>,
    /// Rows on this page.
    pub count: usize,
    /// The trigram index on the column, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigram_index: Option<TrigramIndex>,
    /// Whether the query used pg_trgm's `%` / `<%` operator, which such an index serves
    /// (it cannot when the threshold is below pg_trgm's similarity_threshold setting).
    pub indexable: bool,
    #[serde(flatten)]
    pub paging: Paging,
}

pub(super) async fn trigram_similarity(ctx: Ctx, a: TrigramArgs) -> ToolResult<TrigramResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let window = Window::new(a.limit, a.offset)?;
    let mode = a.mode.unwrap_or_default();
    let threshold = a.threshold.unwrap_or(match mode {
        TrigramMode::Similarity => 0.3,
        TrigramMode::Word => 0.6,
    });
    if !(0.0..=1.0).contains(&threshold) {
        return Err(ToolError::invalid(format!(
            "threshold must be between 0 and 1 (got {threshold})"
        )));
    }
    let col = text_column(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let ext = extension_schema(&ctx, "pg_trgm", "pg_trigram_similarity").await?;
    let index = trigram_index(&ctx, &col, &a.column).await?;
    // The operators compare with pg_trgm's thresholds (settings): usable as an index
    // condition only when they let through every row the requested threshold does.
    let limits = read_rows(
        &ctx,
        &format!(
            "SELECT {ext}.show_limit() AS sim, \
                    current_setting('pg_trgm.word_similarity_threshold', true) AS word"
        ),
        &[],
    )
    .await?;
    let limit_of = |key: &str| -> Option<f32> {
        let v = limits.first()?.get(key)?;
        v.as_f64()
            .map(|f| f as f32)
            .or_else(|| v.as_str()?.parse().ok())
    };
    let t32 = threshold as f32;
    let (score_fn, op_limit) = match mode {
        TrigramMode::Similarity => ("similarity", limit_of("sim")),
        TrigramMode::Word => ("word_similarity", limit_of("word")),
    };
    let indexable = op_limit.is_some_and(|l| t32 >= l);

    let mut sql = Sql::new(a.params);
    let cond = sql.condition(a.condition.as_deref())?;
    let v = sql.bind(&a.value);
    let th = sql.bind(threshold);
    let c = format!("{}.{}", col.table, col.column);
    let score = match mode {
        TrigramMode::Similarity => format!("{ext}.{score_fn}({c}, {v})"),
        TrigramMode::Word => format!("{ext}.{score_fn}({v}, {c})"),
    };
    let mut conds = Vec::new();
    if indexable {
        conds.push(match mode {
            TrigramMode::Similarity => format!("{c} OPERATOR({ext}.%) {v}"),
            TrigramMode::Word => format!("{v} OPERATOR({ext}.<%) {c}"),
        });
    }
    conds.push(format!("{score} >= {th}::real"));
    conds.extend(cond);
    let proj = projection(a.select.as_deref(), &col.table)?;
    let win = window.clause(&mut sql);
    sql.push(&format!(
        "SELECT {proj}, {score} AS \"{COMPUTED}similarity\" FROM {} WHERE {} \
         ORDER BY \"{COMPUTED}similarity\" DESC, {c}{win}",
        col.table,
        conds.join(" AND ")
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let (rows, paging) = page(out, &window);
    let matches: Vec<SimilarityHit> = rows
        .into_iter()
        .map(|mut row| SimilarityHit {
            similarity: take(&mut row, "similarity").as_f64().unwrap_or(0.0),
            row,
        })
        .collect();
    Ok(TrigramResult {
        mode: match mode {
            TrigramMode::Similarity => "similarity",
            TrigramMode::Word => "word",
        }
        .into(),
        threshold,
        count: matches.len(),
        matches,
        trigram_index: index,
        indexable,
        paging,
    })
}

// ---------------------------------------------------------------------------------------
// pg_like_search / pg_regexp_match

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatternResult {
    /// Matching rows (columns of `select`, or all), ordered by the column.
    pub rows: Vec<Map<String, Value>>,
    /// Rows on this page.
    pub count: usize,
    /// A pg_trgm index on the column (gin_trgm_ops / gist_trgm_ops), which serves LIKE,
    /// ILIKE, ~ and ~* when the pattern has at least 3 consecutive literal characters;
    /// absent when there is none (the search then scans the table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigram_index: Option<TrigramIndex>,
    #[serde(flatten)]
    pub paging: Paging,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LikeArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// The text column matched.
    pub column: String,
    /// A LIKE pattern: `%` any run of characters, `_` one character, `\` escapes them.
    #[serde(alias = "value")]
    pub pattern: String,
    /// LIKE when true; ILIKE (case-insensitive) by default.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Columns to return (default all).
    pub select: Option<Vec<String>>,
    /// Optional SQL condition on the rows, e.g. `active = $1`.
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

pub(super) const LIKE: Spec = Spec {
    name: "pg_like_search",
    title: "LIKE / ILIKE search",
    description: "Rows whose text column matches a LIKE pattern (% any run, _ one character; ILIKE, case-insensitive, unless caseSensitive), ordered by the column; the pattern is a bound value. Says whether a pg_trgm index serves the search. limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

async fn pattern_search(
    ctx: Ctx,
    col: Column,
    column: &str,
    operator: &str,
    pattern: &str,
    m: Matching,
) -> ToolResult<PatternResult> {
    let index = trigram_index(&ctx, &col, column).await?;
    let mut sql = Sql::new(m.params);
    let cond = sql.condition(m.condition.as_deref())?;
    let p = sql.bind(pattern);
    let c = format!("{}.{}", col.table, col.column);
    let proj = projection(m.select.as_deref(), &col.table)?;
    let filter = cond.map(|c| format!(" AND {c}")).unwrap_or_default();
    let win = m.window.clause(&mut sql);
    sql.push(&format!(
        "SELECT {proj} FROM {} WHERE {c} {operator} {p}{filter} ORDER BY {c}{win}",
        col.table
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        m.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let (rows, paging) = page(out, &m.window);
    Ok(PatternResult {
        count: rows.len(),
        rows,
        trigram_index: index,
        paging,
    })
}

/// The arguments the pattern tools share, after they are read.
struct Matching {
    select: Option<Vec<String>>,
    condition: Option<String>,
    params: Vec<Value>,
    window: Window,
    transaction_id: Option<String>,
}

pub(super) async fn like_search(ctx: Ctx, a: LikeArgs) -> ToolResult<PatternResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let window = Window::new(a.limit, a.offset)?;
    let col = text_column(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let op = if a.case_sensitive { "LIKE" } else { "ILIKE" };
    let m = Matching {
        select: a.select,
        condition: a.condition,
        params: a.params,
        window,
        transaction_id: a.transaction_id,
    };
    pattern_search(ctx, col, &a.column, op, &a.pattern, m).await
}

pub(super) const REGEXP: Spec = Spec {
    name: "pg_regexp_match",
    title: "Regular expression search",
    description: "Rows whose text column matches a POSIX regular expression (~, or ~* with caseSensitive false or flags 'i'), ordered by the column; the pattern is a bound value and an invalid one is an INVALID_ARGUMENT error. Says whether a pg_trgm index serves the search. limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegexpArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// The text column matched.
    pub column: String,
    /// A POSIX regular expression (PostgreSQL ARE syntax), e.g. `^ab+c`.
    #[serde(alias = "value")]
    pub pattern: String,
    /// `~` when true (default); `~*` (case-insensitive) when false.
    pub case_sensitive: Option<bool>,
    /// Regex option letters: `i` case-insensitive, `x` expanded syntax, `n` newline-sensitive,
    /// … (PostgreSQL's embedded options; `g` is accepted and has no effect on matching).
    pub flags: Option<String>,
    /// Columns to return (default all).
    pub select: Option<Vec<String>>,
    /// Optional SQL condition on the rows, e.g. `active = $1`.
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

/// The pattern with the flags as a leading embedded-options group, `(?ix)…`.
#[allow(clippy::result_large_err)]
fn with_flags(pattern: &str, flags: Option<&str>) -> ToolResult<(String, bool)> {
    let mut opts = String::new();
    let mut insensitive = false;
    for f in flags.unwrap_or("").chars() {
        match f {
            'g' => {}
            'i' => insensitive = true,
            'c' | 'm' | 'n' | 'p' | 's' | 't' | 'w' | 'x' => {
                if !opts.contains(f) {
                    opts.push(f)
                }
            }
            other => {
                return Err(ToolError::invalid(format!("unknown regex flag '{other}'"))
                    .suggest("Flags are i (case-insensitive), x (expanded), n (newline-sensitive), s, p, w, m, c, t."));
            }
        }
    }
    let p = if opts.is_empty() {
        pattern.to_string()
    } else {
        format!("(?{opts}){pattern}")
    };
    Ok((p, insensitive))
}

pub(super) async fn regexp_match(ctx: Ctx, a: RegexpArgs) -> ToolResult<PatternResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let window = Window::new(a.limit, a.offset)?;
    let (pattern, flag_i) = with_flags(&a.pattern, a.flags.as_deref())?;
    let col = text_column(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    // Compiled once on its own first: an invalid pattern is the caller's mistake, said plainly.
    read_rows(&ctx, "SELECT '' ~ $1 AS ok", &[json!(pattern)])
        .await
        .map_err(|e| {
            let mut err = ToolError::invalid(format!("invalid regular expression: {}", e.error))
                .suggest("Use PostgreSQL's POSIX (ARE) syntax; escape literal ( ) [ ] { } . * + ? ^ $ | \\ with a backslash.");
            err.sqlstate = e.sqlstate;
            err
        })?;
    let insensitive = flag_i || a.case_sensitive == Some(false);
    let op = if insensitive { "~*" } else { "~" };
    let m = Matching {
        select: a.select,
        condition: a.condition,
        params: a.params,
        window,
        transaction_id: a.transaction_id,
    };
    pattern_search(ctx, col, &a.column, op, &pattern, m).await
}

// ---------------------------------------------------------------------------------------
// pg_fuzzy_match

pub(super) const FUZZY: Spec = Spec {
    name: "pg_fuzzy_match",
    title: "Fuzzy match",
    description: "Rows whose text column is close to a value: levenshtein (edit distance <= maxDistance, default 3), damerau_levenshtein (optimal string alignment: an adjacent transposition counts 1; computed by pgmcp over the 1000 nearest values by Levenshtein), or same phonetic code by soundex, metaphone or dmetaphone; smallest distance first (phonetic: by value). Needs fuzzystrmatch; values over 255 characters are not compared by distance or metaphone. limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

/// The fuzzy measure.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "snake_case")]
pub enum FuzzyMethod {
    /// Edit distance: insertions, deletions, substitutions.
    #[default]
    Levenshtein,
    /// Optimal string alignment distance: Levenshtein plus adjacent transpositions (cost 1),
    /// no substring edited twice.
    #[serde(alias = "damerau-levenshtein", alias = "damerau")]
    DamerauLevenshtein,
    /// Same Soundex code (4 characters, English names).
    Soundex,
    /// Same Metaphone code.
    Metaphone,
    /// Double Metaphone: the primary or alternate codes of the value and the column meet.
    Dmetaphone,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FuzzyArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// The text column compared.
    pub column: String,
    /// The value to match (at most 255 characters for the distance methods and metaphone).
    #[serde(alias = "text")]
    pub value: String,
    /// levenshtein (default), damerau_levenshtein, soundex, metaphone or dmetaphone.
    pub method: Option<FuzzyMethod>,
    /// Largest distance matched (levenshtein, damerau_levenshtein; default 3, at most 50).
    pub max_distance: Option<u32>,
    /// Metaphone code length (default 10, at most 255).
    pub code_length: Option<u32>,
    /// Columns to return (default all).
    pub select: Option<Vec<String>>,
    /// Optional SQL condition on the rows, e.g. `active = $1`.
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

#[derive(Serialize, JsonSchema)]
pub struct FuzzyHit {
    /// The row's columns (those of `select`, or all).
    pub row: Map<String, Value>,
    /// The distance to the value (distance methods); absent for phonetic ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<i64>,
    /// The column value's phonetic code (phonetic methods); absent for distances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FuzzyResult {
    /// The method used.
    pub method: String,
    /// The largest distance matched (distance methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_distance: Option<u32>,
    /// The value's phonetic code(s) (phonetic methods; dmetaphone: primary, then alternate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_codes: Option<Vec<String>>,
    /// Matching rows: smallest distance first (then by value), or by value for phonetic codes.
    pub matches: Vec<FuzzyHit>,
    /// Rows on this page.
    pub count: usize,
    /// damerau_levenshtein only: `true` when more than 1000 values were within twice
    /// maxDistance by Levenshtein, so only the 1000 nearest were compared (narrow with
    /// `where` or a smaller maxDistance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_capped: Option<bool>,
    #[serde(flatten)]
    pub paging: Paging,
}

/// Values fuzzystrmatch compares by distance or metaphone (its MAX_LEVENSHTEIN_STRLEN).
const MAX_FUZZY_LEN: usize = 255;
/// Values compared by pgmcp for damerau_levenshtein.
const DAMERAU_CANDIDATES: u32 = 1000;

pub(super) async fn fuzzy_match(ctx: Ctx, a: FuzzyArgs) -> ToolResult<FuzzyResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let window = Window::new(a.limit, a.offset)?;
    let method = a.method.unwrap_or_default();
    let max_distance = a.max_distance.unwrap_or(3);
    if max_distance > 50 {
        return Err(ToolError::invalid(format!(
            "maxDistance must be at most 50 (got {max_distance})"
        )));
    }
    let code_length = a.code_length.unwrap_or(10);
    if code_length == 0 || code_length > 255 {
        return Err(ToolError::invalid("codeLength must be between 1 and 255"));
    }
    let long = a.value.chars().count() > MAX_FUZZY_LEN;
    if long && method != FuzzyMethod::Soundex && method != FuzzyMethod::Dmetaphone {
        return Err(ToolError::invalid(format!(
            "value is longer than {MAX_FUZZY_LEN} characters, fuzzystrmatch's limit for this method"
        )));
    }
    let col = text_column(&ctx, &a.table, a.schema.as_deref(), &a.column).await?;
    let ext = extension_schema(&ctx, "fuzzystrmatch", "pg_fuzzy_match").await?;

    let mut sql = Sql::new(a.params);
    let cond = sql.where_clause(a.condition.as_deref())?;
    let v = sql.bind(&a.value);
    let c = format!("{}.{}::text", col.table, col.column);
    let short = format!("char_length({c}) <= {MAX_FUZZY_LEN}");
    let proj = projection(a.select.as_deref(), &col.table)?;
    let (score, keep, order) = match method {
        FuzzyMethod::Levenshtein | FuzzyMethod::DamerauLevenshtein => {
            let k = if method == FuzzyMethod::Levenshtein {
                max_distance
            } else {
                max_distance * 2
            };
            let k = sql.bind(k as i32);
            (
                format!("CASE WHEN {short} THEN {ext}.levenshtein_less_equal({c}, {v}, {k}) END"),
                format!("s.\"{COMPUTED}score\" <= {k}"),
                format!("s.\"{COMPUTED}score\", s.\"{COMPUTED}value\""),
            )
        }
        FuzzyMethod::Soundex => (
            format!("{ext}.soundex({c})"),
            format!("s.\"{COMPUTED}score\" = {ext}.soundex({v})"),
            format!("s.\"{COMPUTED}value\""),
        ),
        FuzzyMethod::Metaphone => {
            let n = sql.bind(code_length as i32);
            (
                format!("CASE WHEN {short} THEN {ext}.metaphone({c}, {n}) END"),
                format!("s.\"{COMPUTED}score\" = {ext}.metaphone({v}, {n})"),
                format!("s.\"{COMPUTED}value\""),
            )
        }
        FuzzyMethod::Dmetaphone => (
            format!("{ext}.dmetaphone({c})"),
            format!(
                "({ext}.dmetaphone(s.\"{COMPUTED}value\") IN ({ext}.dmetaphone({v}), {ext}.dmetaphone_alt({v})) \
                  OR {ext}.dmetaphone_alt(s.\"{COMPUTED}value\") IN ({ext}.dmetaphone({v}), {ext}.dmetaphone_alt({v})))"
            ),
            format!("s.\"{COMPUTED}value\""),
        ),
    };
    let damerau = method == FuzzyMethod::DamerauLevenshtein;
    let win = if damerau {
        let l = sql.bind(DAMERAU_CANDIDATES as i64 + 1);
        format!(" LIMIT {l}")
    } else {
        window.clause(&mut sql)
    };
    sql.push(&format!(
        "SELECT * FROM (SELECT {proj}, {score} AS \"{COMPUTED}score\", {c} AS \"{COMPUTED}value\" \
         FROM {}{cond}) s WHERE {keep} ORDER BY {order}{win}",
        col.table
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let mut candidates_capped = None;
    let (hits, paging) = if damerau {
        let capped = out.truncated.is_some() || out.rows.len() > DAMERAU_CANDIDATES as usize;
        let mut scored: Vec<(usize, String, Map<String, Value>)> = out
            .rows
            .into_iter()
            .take(DAMERAU_CANDIDATES as usize)
            .filter_map(|mut row| {
                take(&mut row, "score");
                let value = take(&mut row, "value").as_str()?.to_string();
                let d = osa_distance(&value, &a.value);
                (d <= max_distance as usize).then_some((d, value, row))
            })
            .collect();
        scored.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| x.1.cmp(&y.1)));
        if capped {
            candidates_capped = Some(true);
        }
        let rest: Vec<FuzzyHit> = scored
            .into_iter()
            .skip(window.offset as usize)
            .map(|(d, _, row)| FuzzyHit {
                row,
                distance: Some(d as i64),
                code: None,
            })
            .collect();
        let mut limited = rest;
        limited.truncate(window.limit as usize + 1);
        window.cut(limited, false)
    } else {
        let (rows, paging) = page(out, &window);
        let hits = rows
            .into_iter()
            .map(|mut row| {
                let score = take(&mut row, "score");
                take(&mut row, "value");
                match method {
                    FuzzyMethod::Levenshtein | FuzzyMethod::DamerauLevenshtein => FuzzyHit {
                        row,
                        distance: score.as_i64(),
                        code: None,
                    },
                    _ => FuzzyHit {
                        row,
                        distance: None,
                        code: score.as_str().map(str::to_string),
                    },
                }
            })
            .collect();
        (hits, paging)
    };
    let value_codes = match method {
        FuzzyMethod::Levenshtein | FuzzyMethod::DamerauLevenshtein => None,
        _ => Some(phonetic_codes(&ctx, &ext, method, &a.value, code_length).await?),
    };
    Ok(FuzzyResult {
        method: match method {
            FuzzyMethod::Levenshtein => "levenshtein",
            FuzzyMethod::DamerauLevenshtein => "damerau_levenshtein",
            FuzzyMethod::Soundex => "soundex",
            FuzzyMethod::Metaphone => "metaphone",
            FuzzyMethod::Dmetaphone => "dmetaphone",
        }
        .into(),
        max_distance: matches!(
            method,
            FuzzyMethod::Levenshtein | FuzzyMethod::DamerauLevenshtein
        )
        .then_some(max_distance),
        value_codes,
        count: hits.len(),
        matches: hits,
        candidates_capped,
        paging,
    })
}

/// The value's phonetic code(s) for the phonetic methods.
async fn phonetic_codes(
    ctx: &Ctx,
    ext: &str,
    method: FuzzyMethod,
    value: &str,
    code_length: u32,
) -> ToolResult<Vec<String>> {
    let (sql, params) = match method {
        FuzzyMethod::Soundex => (
            format!("SELECT ARRAY[{ext}.soundex($1)] AS codes"),
            vec![json!(value)],
        ),
        FuzzyMethod::Metaphone => (
            format!("SELECT ARRAY[{ext}.metaphone($1, $2)] AS codes"),
            vec![json!(value), json!(code_length as i32)],
        ),
        _ => (
            format!("SELECT ARRAY[{ext}.dmetaphone($1), {ext}.dmetaphone_alt($1)] AS codes"),
            vec![json!(value)],
        ),
    };
    let rows = read_rows(ctx, &sql, &params).await?;
    Ok(rows
        .first()
        .and_then(|r| r.get("codes"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}

/// Optimal string alignment distance (restricted Damerau-Levenshtein) over characters:
/// insertions, deletions, substitutions and transpositions of adjacent characters each
/// cost 1, and no substring is edited more than once.
pub(crate) fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osa_counts_an_adjacent_transposition_once() {
        assert_eq!(osa_distance("abcd", "acbd"), 1);
        assert_eq!(osa_distance("kitten", "sitting"), 3);
        assert_eq!(osa_distance("", "abc"), 3);
        assert_eq!(osa_distance("ca", "abc"), 3); // OSA, not unrestricted DL (2)
        assert_eq!(osa_distance("héllo", "hlélo"), 1);
    }

    #[test]
    fn regex_flags_become_embedded_options() {
        assert_eq!(
            with_flags("a.b", Some("gix")).unwrap(),
            ("(?x)a.b".to_string(), true)
        );
        assert_eq!(with_flags("a", None).unwrap(), ("a".to_string(), false));
        assert!(with_flags("a", Some("q)")).is_err());
    }
}
