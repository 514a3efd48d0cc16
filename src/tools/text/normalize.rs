//! Normalization (lower, trim, whitespace, unaccent when installed) of a value or of a
//! column's values, and the small-lexicon sentiment count.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::exec::{Mode, execute};
use super::super::sql::Sql;
use super::super::{Ctx, READ, Spec};
use super::{Paging, Window, extension_schema_opt, page, text_column};
use crate::error::{ToolError, ToolResult};

pub(super) const NORMALIZE: Spec = Spec {
    name: "pg_text_normalize",
    title: "Normalize text",
    description: "Normalize a value, or a page of a text column's values: unaccent (when the unaccent extension is installed; `unaccentApplied` says whether it was), whitespace runs collapsed to one space, trimmed, lowercased (each step can be turned off). Column mode: limit default 100, max 1000.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NormalizeArgs {
    /// The value to normalize (or give table and column).
    #[serde(alias = "value")]
    pub text: Option<String>,
    /// Table whose column values are normalized, optionally `schema.table`.
    pub table: Option<String>,
    pub schema: Option<String>,
    /// The text column (with `table`).
    pub column: Option<String>,
    /// Lowercase (default true).
    pub lower: Option<bool>,
    /// Trim leading and trailing whitespace (default true).
    pub trim: Option<bool>,
    /// Collapse runs of whitespace to one space (default true).
    pub collapse_whitespace: Option<bool>,
    /// Remove accents with the unaccent extension when installed (default true).
    pub unaccent: Option<bool>,
    /// Column mode: optional SQL condition on the rows, e.g. `id < $1`.
    #[serde(rename = "where")]
    pub condition: Option<String>,
    /// Values for $n placeholders in `where`.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Column mode: values per page (default 100, max 1000).
    pub limit: Option<u32>,
    /// Column mode: values to skip (default 0).
    pub offset: Option<u64>,
    /// Run inside this open transaction (from pg_transaction_begin).
    pub transaction_id: Option<String>,
}

/// A column value and its normalized form.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct NormalizedValue {
    /// The value as stored; absent when it is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The normalized value; absent when the value is null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NormalizeResult {
    /// The normalized value (value mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<String>,
    /// Column mode: values in table order (no ordering), with their normalized form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<NormalizedValue>>,
    /// The steps applied, in order: unaccent, collapse_whitespace, trim, lower.
    pub steps: Vec<String>,
    /// Whether accents were removed (false when not asked or unaccent is not installed).
    pub unaccent_applied: bool,
    /// Why unaccent was not applied, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unaccent_note: Option<String>,
    #[serde(flatten)]
    pub paging: Paging,
}

pub(super) async fn text_normalize(ctx: Ctx, a: NormalizeArgs) -> ToolResult<NormalizeResult> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let column_mode = match (&a.text, &a.table, &a.column) {
        (Some(_), None, None) => false,
        (None, Some(_), Some(_)) => true,
        _ => {
            return Err(ToolError::invalid(
                "give either `text` (a value) or `table` and `column` (the column's values)",
            ));
        }
    };
    let window = Window::new(a.limit, a.offset)?;
    let mut sql = Sql::new(a.params);
    let (source, from) = if column_mode {
        let (table, column) = (
            a.table.as_deref().unwrap_or(""),
            a.column.as_deref().unwrap_or(""),
        );
        let col = text_column(&ctx, table, a.schema.as_deref(), column).await?;
        let filter = sql.where_clause(a.condition.as_deref())?;
        (
            format!("{}.{}::text", col.table, col.column),
            format!(" FROM {}{filter}", col.table),
        )
    } else {
        if a.condition.is_some() {
            return Err(ToolError::invalid(
                "`where` applies to a column, not to `text`",
            ));
        }
        (format!("{}::text", sql.bind(&a.text)), String::new())
    };

    let mut steps = Vec::new();
    let mut expr = source.clone();
    let mut unaccent_note = None;
    if a.unaccent.unwrap_or(true) {
        match extension_schema_opt(&ctx, "unaccent").await? {
            Some(ext) => {
                let dict = sql.bind(format!("{ext}.unaccent"));
                expr = format!("{ext}.unaccent({dict}::regdictionary, {expr})");
                steps.push("unaccent".to_string());
            }
            None => unaccent_note = Some(
                "not applied: the unaccent extension is not installed (CREATE EXTENSION unaccent)"
                    .to_string(),
            ),
        }
    }
    if a.collapse_whitespace.unwrap_or(true) {
        expr = format!("regexp_replace({expr}, '[[:space:]]+', ' ', 'g')");
        steps.push("collapse_whitespace".into());
    }
    if a.trim.unwrap_or(true) {
        expr = format!("btrim({expr})");
        steps.push("trim".into());
    }
    if a.lower.unwrap_or(true) {
        expr = format!("lower({expr})");
        steps.push("lower".into());
    }
    let win = if column_mode {
        window.clause(&mut sql)
    } else {
        String::new()
    };
    sql.push(&format!(
        "SELECT {source} AS original, {expr} AS normalized{from}{win}"
    ));
    let out = execute(
        &ctx,
        sql.text(),
        sql.params(),
        a.transaction_id.as_deref(),
        Mode::Read,
    )
    .await?;
    let unaccent_applied = steps.iter().any(|s| s == "unaccent");
    if column_mode {
        let (rows, paging) = page(out, &window);
        let values = rows
            .into_iter()
            .map(|r| serde_json::from_value(Value::Object(r)))
            .collect::<Result<Vec<NormalizedValue>, _>>()
            .map_err(|e| ToolError::internal(format!("decoding values: {e}")))?;
        Ok(NormalizeResult {
            normalized: None,
            values: Some(values),
            steps,
            unaccent_applied,
            unaccent_note,
            paging,
        })
    } else {
        let normalized = out
            .rows
            .first()
            .and_then(|r| r.get("normalized"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(NormalizeResult {
            normalized,
            values: None,
            steps,
            unaccent_applied,
            unaccent_note,
            paging: Paging::default(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// pg_text_sentiment

pub(super) const SENTIMENT: Spec = Spec {
    name: "pg_text_sentiment",
    title: "Lexicon sentiment count",
    description: "Count positive and negative words of a small built-in English lexicon (69 positive, 69 negative words) in a text; a not/no/never/…n't among the two words before a word flips it. Score = (positive − negative) / (positive + negative), −1 to 1. Not a model: no context, sarcasm or other languages. Runs in pgmcp, not in the database.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SentimentArgs {
    /// The text to score (at most 100000 characters).
    pub text: String,
    /// Also list the words that counted (default false).
    #[serde(default)]
    pub return_words: bool,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentimentResult {
    /// `positive`, `negative`, `mixed` (as many of each) or `neutral` (no lexicon word).
    pub sentiment: String,
    /// (positive − negative) / (positive + negative); 0 when no lexicon word occurs.
    pub score: f64,
    pub positive_count: u32,
    pub negative_count: u32,
    /// Words in the text.
    pub word_count: u32,
    /// The words counted positive (a negated negative word shows as `not <word>`); with returnWords.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_positive: Option<Vec<String>>,
    /// The words counted negative; with returnWords.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_negative: Option<Vec<String>>,
    /// What computed this: the lexicon method, stated.
    pub method: String,
}

const POSITIVE: &[&str] = &[
    "good",
    "great",
    "excellent",
    "amazing",
    "awesome",
    "fantastic",
    "wonderful",
    "love",
    "loved",
    "loves",
    "lovely",
    "like",
    "liked",
    "likes",
    "best",
    "better",
    "happy",
    "glad",
    "pleased",
    "delighted",
    "enjoy",
    "enjoyed",
    "nice",
    "perfect",
    "brilliant",
    "superb",
    "outstanding",
    "impressive",
    "recommend",
    "recommended",
    "helpful",
    "friendly",
    "fast",
    "easy",
    "reliable",
    "beautiful",
    "positive",
    "satisfied",
    "satisfying",
    "success",
    "successful",
    "works",
    "working",
    "fine",
    "pleasant",
    "comfortable",
    "clean",
    "fun",
    "exceptional",
    "favorite",
    "favourite",
    "thanks",
    "thank",
    "appreciate",
    "appreciated",
    "worth",
    "win",
    "wins",
    "solid",
    "smooth",
    "efficient",
    "useful",
    "valuable",
    "quality",
    "correct",
    "stable",
    "secure",
    "improved",
    "improvement",
];

const NEGATIVE: &[&str] = &[
    "bad",
    "terrible",
    "awful",
    "horrible",
    "poor",
    "worst",
    "worse",
    "hate",
    "hated",
    "hates",
    "dislike",
    "disliked",
    "sad",
    "angry",
    "annoyed",
    "annoying",
    "disappointed",
    "disappointing",
    "disappointment",
    "broken",
    "broke",
    "fail",
    "failed",
    "fails",
    "failure",
    "bug",
    "buggy",
    "bugs",
    "crash",
    "crashed",
    "crashes",
    "slow",
    "difficult",
    "hard",
    "problem",
    "problems",
    "issue",
    "issues",
    "wrong",
    "error",
    "errors",
    "useless",
    "waste",
    "wasted",
    "expensive",
    "ugly",
    "dirty",
    "rude",
    "unhelpful",
    "unreliable",
    "unstable",
    "insecure",
    "negative",
    "complaint",
    "complain",
    "refund",
    "late",
    "delay",
    "delayed",
    "missing",
    "lost",
    "confusing",
    "confused",
    "frustrating",
    "frustrated",
    "painful",
    "mediocre",
    "lousy",
    "defective",
];

const NEGATORS: &[&str] = &[
    "not", "no", "never", "nothing", "hardly", "without", "neither", "nor",
];

fn is_negator(word: &str) -> bool {
    NEGATORS.contains(&word) || word.ends_with("n't")
}

const MAX_SENTIMENT_CHARS: usize = 100_000;

pub(super) async fn text_sentiment(_ctx: Ctx, a: SentimentArgs) -> ToolResult<SentimentResult> {
    if a.text.chars().count() > MAX_SENTIMENT_CHARS {
        return Err(ToolError::invalid(format!(
            "text is longer than {MAX_SENTIMENT_CHARS} characters"
        )));
    }
    Ok(sentiment(&a.text, a.return_words))
}

fn sentiment(text: &str, return_words: bool) -> SentimentResult {
    let lower = text.to_lowercase().replace('’', "'");
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect();
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (i, w) in words.iter().enumerate() {
        let polarity = if POSITIVE.contains(w) {
            1
        } else if NEGATIVE.contains(w) {
            -1
        } else {
            continue;
        };
        // A negator among the two words before flips it ("not good", "not very good").
        let negated = words[i.saturating_sub(2)..i].iter().any(|p| is_negator(p));
        let label = if negated {
            format!("not {w}")
        } else {
            w.to_string()
        };
        match (polarity, negated) {
            (1, false) | (-1, true) => pos.push(label),
            _ => neg.push(label),
        }
    }
    let (p, n) = (pos.len() as u32, neg.len() as u32);
    let score = if p + n == 0 {
        0.0
    } else {
        (p as f64 - n as f64) / (p + n) as f64
    };
    let label = match (p, n) {
        (0, 0) => "neutral",
        _ if p > n => "positive",
        _ if n > p => "negative",
        _ => "mixed",
    };
    SentimentResult {
        sentiment: label.into(),
        score,
        positive_count: p,
        negative_count: n,
        word_count: words.len() as u32,
        matched_positive: return_words.then_some(pos),
        matched_negative: return_words.then_some(neg),
        method: format!(
            "lexicon: {} positive and {} negative English words, negation within two words before; not a model",
            POSITIVE.len(),
            NEGATIVE.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_counts_words_and_negation() {
        let r = sentiment("Great product, I love it. Not bad at all!", true);
        assert_eq!((r.positive_count, r.negative_count), (3, 0));
        assert_eq!(
            r.matched_positive.unwrap(),
            vec!["great", "love", "not bad"]
        );
        assert_eq!(r.sentiment, "positive");
        assert_eq!(r.score, 1.0);
        let r = sentiment("It isn't good and the app crashed.", false);
        assert_eq!((r.positive_count, r.negative_count), (0, 2));
        assert_eq!(r.sentiment, "negative");
        let r = sentiment("The table has four columns.", false);
        assert_eq!(r.sentiment, "neutral");
        assert_eq!(r.word_count, 5);
        let r = sentiment("good but slow", false);
        assert_eq!(r.sentiment, "mixed");
        assert_eq!(r.score, 0.0);
    }
}
