//! Which functions a read may call: the reviewed classification in `read_functions.txt`.
//!
//! The file is data, not code, so that review looks at one list: every built-in function
//! (pg_catalog and information_schema) by name, in an `[allow CATEGORY]` or a
//! `[deny CATEGORY] reason` section, and the extensions whose functions are trusted, with
//! their exceptions. A built-in name in neither is *unclassified* and refused like a denied
//! one, so a newer PostgreSQL cannot widen what reads may do; the integration test
//! `read_policy_classifies_every_builtin_function` walks `pg_proc` and fails on such names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

const SOURCE: &str = include_str!("read_functions.txt");

/// How a built-in function name is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Allowed {
        category: &'static str,
    },
    Denied {
        category: &'static str,
        reason: &'static str,
    },
}

/// What `read_functions.txt` says about one extension's functions.
#[derive(Debug, Default)]
pub struct ExtensionRule {
    /// Its IMMUTABLE and STABLE functions are allowed.
    pub stable: bool,
    pub allow: HashSet<&'static str>,
    pub deny: HashSet<&'static str>,
}

pub struct Classification {
    builtins: HashMap<&'static str, Builtin>,
    extensions: BTreeMap<&'static str, ExtensionRule>,
    /// Derived from `extensions` once: bound to every read's candidate query.
    trusted: Vec<&'static str>,
    ext_denied: Vec<&'static str>,
}

/// The parsed classification. The file is part of the binary; a malformed line is a build
/// defect that the unit tests catch, so parsing panics on it rather than guessing.
pub static CLASSIFICATION: LazyLock<Classification> = LazyLock::new(|| parse(SOURCE));

fn parse(text: &'static str) -> Classification {
    enum Section {
        None,
        Builtin(Builtin),
        Extension(&'static str),
    }
    let mut builtins = HashMap::new();
    let mut extensions: BTreeMap<&'static str, ExtensionRule> = BTreeMap::new();
    let mut section = Section::None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_prefix('[') {
            let (inner, rest) = head
                .split_once(']')
                .unwrap_or_else(|| panic!("read_functions.txt:{}: unclosed [", n + 1));
            let (kind, name) = inner.split_once(' ').unwrap_or((inner, ""));
            section = match kind {
                "allow" => Section::Builtin(Builtin::Allowed { category: name }),
                "deny" => Section::Builtin(Builtin::Denied {
                    category: name,
                    reason: rest.trim(),
                }),
                "extension" => {
                    extensions.entry(name).or_default();
                    Section::Extension(name)
                }
                other => panic!("read_functions.txt:{}: unknown section {other}", n + 1),
            };
            continue;
        }
        match &section {
            Section::Builtin(class) => {
                for name in line.split_whitespace() {
                    let previous = builtins.insert(name, *class);
                    assert!(
                        previous.is_none(),
                        "read_functions.txt:{}: {name} is classified twice",
                        n + 1
                    );
                }
            }
            Section::Extension(ext) => {
                let rule = extensions.get_mut(ext).expect("section created above");
                let mut words = line.split_whitespace();
                match words.next() {
                    Some("stable") => rule.stable = true,
                    Some("allow") => rule.allow.extend(words),
                    Some("deny") => rule.deny.extend(words),
                    _ => panic!("read_functions.txt:{}: expected stable/allow/deny", n + 1),
                }
            }
            Section::None => panic!("read_functions.txt:{}: name outside a section", n + 1),
        }
    }
    let trusted = extensions
        .iter()
        .filter(|(_, r)| r.stable)
        .map(|(n, _)| *n)
        .collect();
    let mut ext_denied: Vec<&'static str> = extensions
        .values()
        .flat_map(|r| r.deny.iter().copied())
        .collect();
    ext_denied.sort_unstable();
    Classification {
        builtins,
        extensions,
        trusted,
        ext_denied,
    }
}

impl Classification {
    /// The classification of a built-in function name; `None` when it is unclassified.
    pub fn builtin(&self, name: &str) -> Option<Builtin> {
        self.builtins.get(name).copied()
    }

    pub fn builtin_allowed(&self, name: &str) -> bool {
        matches!(self.builtin(name), Some(Builtin::Allowed { .. }))
    }

    pub fn extension(&self, name: &str) -> Option<&ExtensionRule> {
        self.extensions.get(name)
    }

    /// The extensions whose IMMUTABLE/STABLE functions are trusted, and the names denied in
    /// them (the candidate query leaves such functions out without a round trip).
    pub fn trusted_extensions(&self) -> (&[&'static str], &[&'static str]) {
        (&self.trusted, &self.ext_denied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classification_parses_and_holds_the_red_team_functions() {
        let c = &*CLASSIFICATION;
        for name in [
            "ts_stat",
            "ts_rewrite",
            "query_to_xml",
            "table_to_xml",
            "cursor_to_xml",
            "pg_read_file",
            "brin_summarize_new_values",
            "brin_desummarize_range",
            "gin_clean_pending_list",
            "pg_nextoid",
            "pg_hba_file_rules",
            "pg_show_all_file_settings",
            "txid_current",
            "setseed",
            "pg_prepared_statement",
            "lo_export",
            "pg_switch_wal",
            "pg_terminate_backend",
            "pg_create_physical_replication_slot",
            "pg_stat_reset",
            "set_config",
            "nextval",
        ] {
            assert!(
                matches!(c.builtin(name), Some(Builtin::Denied { .. })),
                "{name} must be denied"
            );
        }
        for name in [
            "lower",
            "count",
            "generate_series",
            "jsonb_path_query",
            "pg_size_pretty",
            "pg_total_relation_size",
            "pg_stat_get_numscans",
            "row_number",
            "now",
            "random",
            "pg_sleep",
            "array_agg",
            "format_type",
            "int4pl",
        ] {
            assert!(c.builtin_allowed(name), "{name} must be allowed");
        }
        assert!(c.builtin("no_such_function_anywhere").is_none());
        let pss = c.extension("pg_stat_statements").unwrap();
        assert!(pss.stable && pss.allow.contains("pg_stat_statements"));
        assert!(pss.deny.contains("pg_stat_statements_reset"));
        assert!(c.extension("dblink").is_none(), "dblink is never trusted");
    }
}
