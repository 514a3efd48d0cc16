//! Transaction tools: explicit transactions pinned to one connection.

use super::Tool;

pub fn tools() -> Vec<Tool> {
    vec![]
}
