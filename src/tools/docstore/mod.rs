//! Document store tools: JSONB document collections kept as ordinary tables (see the layout in this module's docs).

use super::Tool;

pub fn tools() -> Vec<Tool> {
    Vec::new()
}
