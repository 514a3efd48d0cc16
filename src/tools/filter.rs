//! `--tool-filter`: a comma list of groups or tool names. Bare entries form a whitelist,
//! `+x` adds to whatever the whitelist (or the full set) selected, `-x` removes.
//! Entries apply left to right, so `core,+pg_explain,-pg_drop_table` means the core group,
//! plus pg_explain, minus pg_drop_table.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Only(String),
    Add(String),
    Remove(String),
}

impl ToolFilter {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let rule = if let Some(x) = raw.strip_prefix('+') {
                Rule::Add(x.trim().to_string())
            } else if let Some(x) = raw.strip_prefix('-') {
                Rule::Remove(x.trim().to_string())
            } else {
                Rule::Only(raw.to_string())
            };
            let name = match &rule {
                Rule::Only(x) | Rule::Add(x) | Rule::Remove(x) => x,
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid --tool-filter entry '{raw}': expected a group or tool name, optionally prefixed with + or -"
                ));
            }
            rules.push(rule);
        }
        Ok(ToolFilter { rules })
    }

    /// Every name the filter mentions, to report unknown ones at start-up.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| match r {
            Rule::Only(x) | Rule::Add(x) | Rule::Remove(x) => x.as_str(),
        })
    }

    pub fn allows(&self, tool: &str, group: &str) -> bool {
        let matches = |x: &str| x == tool || x == group;
        let has_whitelist = self.rules.iter().any(|r| matches!(r, Rule::Only(_)));
        let mut allowed = !has_whitelist;
        for rule in &self.rules {
            match rule {
                Rule::Only(x) | Rule::Add(x) if matches(x) => allowed = true,
                Rule::Remove(x) if matches(x) => allowed = false,
                _ => {}
            }
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_add_remove() {
        let f = ToolFilter::parse("core,+pg_explain,-pg_drop_table").unwrap();
        assert!(f.allows("pg_read_query", "core"));
        assert!(!f.allows("pg_drop_table", "core"));
        assert!(f.allows("pg_explain", "performance"));
        assert!(!f.allows("pg_list_schemas", "schema"));
    }

    #[test]
    fn empty_allows_all_and_removal_only_removes() {
        assert!(ToolFilter::default().allows("x", "y"));
        let f = ToolFilter::parse("-schema").unwrap();
        assert!(f.allows("pg_read_query", "core"));
        assert!(!f.allows("pg_list_schemas", "schema"));
    }

    #[test]
    fn order_matters() {
        let f = ToolFilter::parse("-core,+pg_read_query").unwrap();
        assert!(f.allows("pg_read_query", "core"));
        assert!(!f.allows("pg_write_query", "core"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(ToolFilter::parse("core;drop").is_err());
        assert!(ToolFilter::parse("+").is_err());
    }
}
