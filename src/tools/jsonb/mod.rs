//! JSONB tools: document operations on values and on table columns, path queries, stats, index advice and a security scan.

use super::Tool;

pub fn tools() -> Vec<Tool> {
    Vec::new()
}
