//! Schema tools: schemas, views, sequences, functions, triggers, constraints.

use super::Tool;

pub fn tools() -> Vec<Tool> {
    vec![]
}
