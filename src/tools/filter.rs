//! `--tool-filter`: a comma list of presets, groups or tool names. Bare entries form a
//! whitelist, `+x` adds to whatever the whitelist (or the default preset) selected, `-x`
//! removes. Entries apply left to right, so `core,+pg_explain,-pg_drop_table` means the core
//! group, plus pg_explain, minus pg_drop_table.
//!
//! The filter answers two questions. [`ToolFilter::lists`]: what `tools/list` shows (every
//! listed tool costs the client context on every turn). [`ToolFilter::reaches`]: what Code
//! Mode's `pg.*` can call — everything except what a `-x` entry explicitly removes, because
//! a script pays nothing for methods it does not call, and `--tool-filter codemode` (one
//! listed tool) must still reach the whole API.

/// Presets usable as filter entries.
pub const PRESETS: &[&str] = &["all", "codemode", "readonly", "default"];

/// The tool that runs Code Mode scripts (named here as a string so `tools/` needs no
/// import of `codemode/`).
pub const CODE_TOOL: &str = "pg_execute_code";

/// The default listing: Code Mode plus the direct tools clients use most, chosen so that
/// `tools/list` stays within clients' limits (at most 40 tools and 40 KB) however large the
/// registry grows. Everything else stays reachable from Code Mode.
pub const DEFAULT_TOOLS: &[&str] = &[
    CODE_TOOL,
    // Reading and writing.
    "pg_read_query",
    "pg_write_query",
    // Discovering the schema.
    "pg_list_tables",
    "pg_describe_table",
    "pg_get_columns",
    "pg_list_schemas",
    "pg_list_objects",
    "pg_object_details",
    "pg_list_views",
    "pg_list_functions",
    "pg_list_constraints",
    "pg_list_extensions",
    // Everyday data changes and DDL.
    "pg_count",
    "pg_exists",
    "pg_upsert",
    "pg_batch_insert",
    "pg_create_table",
    "pg_get_indexes",
    "pg_create_index",
    // Multi-call transactions.
    "pg_transaction_begin",
    "pg_transaction_commit",
    "pg_transaction_rollback",
    "pg_transaction_status",
    "pg_transaction_execute",
    // Performance.
    "pg_explain",
    "pg_table_stats",
];

/// What a filter entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A group or tool name.
    Name(String),
    /// Every tool.
    All,
    /// Tools annotated read-only.
    ReadOnly,
    /// [`DEFAULT_TOOLS`].
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Only(Target),
    Add(Target),
    Remove(Target),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolFilter {
    rules: Vec<Rule>,
}

/// The facts about a tool the filter matches on.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub name: &'a str,
    pub group: &'a str,
    pub read_only: bool,
}

impl Target {
    fn parse(x: &str) -> Target {
        match x {
            "all" => Target::All,
            "readonly" => Target::ReadOnly,
            "default" => Target::Default,
            // `codemode` is also the group of pg_execute_code, and that is all it holds.
            other => Target::Name(other.to_string()),
        }
    }

    fn matches(&self, t: Subject) -> bool {
        match self {
            Target::Name(x) => x == t.name || x == t.group,
            Target::All => true,
            Target::ReadOnly => t.read_only,
            Target::Default => DEFAULT_TOOLS.contains(&t.name),
        }
    }

    fn name(&self) -> &str {
        match self {
            Target::Name(x) => x,
            Target::All => "all",
            Target::ReadOnly => "readonly",
            Target::Default => "default",
        }
    }
}

impl ToolFilter {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for raw in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (x, make): (&str, fn(Target) -> Rule) = if let Some(x) = raw.strip_prefix('+') {
                (x.trim(), Rule::Add)
            } else if let Some(x) = raw.strip_prefix('-') {
                (x.trim(), Rule::Remove)
            } else {
                (raw, Rule::Only)
            };
            if x.is_empty() || !x.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid --tool-filter entry '{raw}': expected a preset ({}), group or tool name, optionally prefixed with + or -",
                    PRESETS.join(", ")
                ));
            }
            rules.push(make(Target::parse(x)));
        }
        Ok(ToolFilter { rules })
    }

    /// Every group or tool name the filter mentions (presets aside), to report unknown ones
    /// at start-up.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .map(|r| match r {
                Rule::Only(x) | Rule::Add(x) | Rule::Remove(x) => x,
            })
            .filter(|t| matches!(t, Target::Name(_)))
            .map(Target::name)
    }

    /// Whether `tools/list` shows the tool. Without a whitelist entry the starting set is
    /// the default preset, so `-pg_drop_table` alone trims the default listing.
    pub fn lists(&self, t: Subject) -> bool {
        let has_whitelist = self.rules.iter().any(|r| matches!(r, Rule::Only(_)));
        let mut listed = !has_whitelist && Target::Default.matches(t);
        for rule in &self.rules {
            match rule {
                Rule::Only(x) | Rule::Add(x) if x.matches(t) => listed = true,
                Rule::Remove(x) if x.matches(t) => listed = false,
                _ => {}
            }
        }
        listed
    }

    /// Whether Code Mode's `pg.*` may call the tool: unless a `-x` entry removes it (and no
    /// later entry adds it back), whatever the listing.
    pub fn reaches(&self, t: Subject) -> bool {
        let mut reached = true;
        for rule in &self.rules {
            match rule {
                Rule::Only(x) | Rule::Add(x) if x.matches(t) => reached = true,
                Rule::Remove(x) if x.matches(t) => reached = false,
                _ => {}
            }
        }
        reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<'a>(name: &'a str, group: &'a str) -> Subject<'a> {
        Subject {
            name,
            group,
            read_only: false,
        }
    }

    fn ro<'a>(name: &'a str, group: &'a str) -> Subject<'a> {
        Subject {
            name,
            group,
            read_only: true,
        }
    }

    #[test]
    fn whitelist_add_remove() {
        let f = ToolFilter::parse("core,+pg_explain,-pg_drop_table").unwrap();
        assert!(f.lists(t("pg_read_query", "core")));
        assert!(!f.lists(t("pg_drop_table", "core")));
        assert!(f.lists(t("pg_explain", "performance")));
        assert!(!f.lists(t("pg_list_schemas", "schema")));
        // Listing is not reach: only the removal takes a tool away from code.
        assert!(f.reaches(t("pg_list_schemas", "schema")));
        assert!(!f.reaches(t("pg_drop_table", "core")));
    }

    #[test]
    fn no_whitelist_starts_from_the_default_preset() {
        let f = ToolFilter::default();
        assert!(f.lists(t("pg_read_query", "core")));
        assert!(f.lists(t(CODE_TOOL, "codemode")));
        assert!(!f.lists(t("pg_drop_schema", "schema")));
        assert!(f.reaches(t("pg_drop_schema", "schema")));
        let f = ToolFilter::parse("-schema").unwrap();
        assert!(f.lists(t("pg_read_query", "core")));
        assert!(!f.lists(t("pg_list_schemas", "schema")));
        assert!(!f.reaches(t("pg_list_schemas", "schema")));
    }

    #[test]
    fn presets() {
        let f = ToolFilter::parse("codemode").unwrap();
        assert!(f.lists(t(CODE_TOOL, "codemode")));
        assert!(!f.lists(t("pg_read_query", "core")));
        assert!(f.reaches(t("pg_read_query", "core")));
        let f = ToolFilter::parse("codemode,-pg_drop_table").unwrap();
        assert!(!f.reaches(t("pg_drop_table", "core")));
        assert!(f.reaches(t("pg_create_table", "core")));
        let f = ToolFilter::parse("all").unwrap();
        assert!(f.lists(t("pg_drop_schema", "schema")));
        let f = ToolFilter::parse("readonly").unwrap();
        assert!(f.lists(ro("pg_list_views", "schema")));
        assert!(!f.lists(t("pg_drop_view", "schema")));
        let f = ToolFilter::parse("all,-readonly").unwrap();
        assert!(!f.reaches(ro("pg_list_views", "schema")));
        assert_eq!(f.names().count(), 0);
    }

    #[test]
    fn order_matters() {
        let f = ToolFilter::parse("all,-core,+pg_read_query").unwrap();
        assert!(f.lists(t("pg_read_query", "core")));
        assert!(!f.lists(t("pg_write_query", "core")));
        assert!(f.reaches(t("pg_read_query", "core")));
        assert!(!f.reaches(t("pg_write_query", "core")));
    }

    #[test]
    fn the_default_preset_is_small() {
        assert!(DEFAULT_TOOLS.len() <= 40);
    }

    #[test]
    fn rejects_garbage() {
        assert!(ToolFilter::parse("core;drop").is_err());
        assert!(ToolFilter::parse("+").is_err());
    }
}
