//! Text tools: full-text search with ranking and headlines, FTS configuration and indexes, trigram and fuzzy matching, normalization.

use super::Tool;

pub fn tools() -> Vec<Tool> {
    Vec::new()
}
