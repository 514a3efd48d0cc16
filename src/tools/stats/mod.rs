//! Statistics tools: descriptive statistics, distributions, correlation, regression, window functions and sampling, computed in PostgreSQL in one bounded query.

use super::Tool;

pub fn tools() -> Vec<Tool> {
    Vec::new()
}
