//! The `pg.*` API derived from the registry: the manifest the sandbox prelude builds `pg`
//! from, and the TypeScript declarations the model reads (`pg.help()`, the MCP resource,
//! docs/CODE_MODE_API.d.ts). A tool that exists is callable from code with no extra step.

use serde_json::{Map, Value};

use super::sandbox::{Alias, Manifest, ManifestEntry};
use crate::tools::{Shortcut, Tool};

/// The tool that runs code is not callable from code.
pub const CODE_TOOL: &str = "pg_execute_code";

/// The shortcuts (`pg.query(sql, params?)` and friends) the tools declare on their `Spec`,
/// in registry order, with the tool each reaches.
fn shortcuts<'a>(tools: &[&'a Tool]) -> Vec<(&'a Tool, &'static Shortcut)> {
    tools
        .iter()
        .flat_map(|t| t.shortcuts.iter().map(move |s| (*t, s)))
        .collect()
}

/// The shapes Code Mode gives a shortcut's result instead of the tool's object (the group
/// method keeps the full result), with the TypeScript type each yields. Scripts iterate
/// tables and columns; an envelope object in the way is the most common first-try failure
/// (`tables is not iterable`).
const SHAPES: &[(&str, &str)] = &[
    ("tables", "Table[]"),
    ("columns", "Column[]"),
    ("indexes", "Index[]"),
    (
        "stats",
        "TableStats /* with a table; TableStats[] without */",
    ),
];

/// Applies a shortcut's shape to the tool's result: the listed array out of its envelope.
/// `tables` also gives every table a `type` (`table`, `partitioned` or `foreign`);
/// `stats` unwraps only the all-tables form (one table's statistics already are an object)
/// and counts a table without indexes as 0 index scans, as scripts compare
/// `stats.idx_scan < 100` (PostgreSQL's NULL arrives as a missing key, and
/// `undefined < 100` is false).
pub fn apply_shape(shape: &str, result: Value) -> Value {
    if shape == "stats" {
        return match apply_unwrap(shape, result) {
            Value::Array(mut items) => {
                items.iter_mut().for_each(zero_index_scans);
                Value::Array(items)
            }
            mut one => {
                zero_index_scans(&mut one);
                one
            }
        };
    }
    apply_unwrap(shape, result)
}

fn zero_index_scans(stats: &mut Value) {
    if let Value::Object(m) = stats {
        for key in ["idx_scan", "idx_tup_fetch"] {
            if m.get(key).is_none_or(Value::is_null) {
                m.insert(key.into(), 0.into());
            }
        }
    }
}

fn apply_unwrap(shape: &str, result: Value) -> Value {
    let key = match shape {
        "stats" => "tables",
        other => other,
    };
    let Value::Object(mut map) = result else {
        return result;
    };
    match map.remove(key) {
        Some(Value::Array(mut items)) => {
            if shape == "tables" {
                for item in &mut items {
                    if let Value::Object(t) = item {
                        let ty = t
                            .get("kind")
                            .and_then(Value::as_str)
                            .unwrap_or("table")
                            .to_string();
                        t.insert("type".into(), ty.into());
                    }
                }
            }
            Value::Array(items)
        }
        Some(other) => {
            map.insert(key.into(), other);
            Value::Object(map)
        }
        None => Value::Object(map),
    }
}

/// `pg_read_query` in group `core` → `readQuery`; `pg_transaction_begin` in group
/// `transactions` → `begin` (the group prefix, singular or plural, is dropped).
pub fn method_name(tool: &str, group: &str) -> String {
    let bare = tool.strip_prefix("pg_").unwrap_or(tool);
    let singular = group.strip_suffix('s').unwrap_or(group);
    // The reference server names the document store's tools `pg_doc_*`.
    let short = match group {
        "docstore" => "doc",
        _ => singular,
    };
    let rest = [group, singular, short]
        .iter()
        .find_map(|g| bare.strip_prefix(&format!("{g}_")))
        .filter(|r| !r.is_empty())
        .unwrap_or(bare);
    camel_case(rest)
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The parameter a lone string argument maps to: the only required one, else the only one.
pub fn primary_param(schema: &Map<String, Value>) -> Option<String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let props = schema.get("properties").and_then(Value::as_object)?;
    let is_string = |name: &str| {
        props
            .get(name)
            .is_some_and(|p| type_names(p).iter().any(|t| t == "string"))
    };
    match required.as_slice() {
        [one] if is_string(one) => Some(one.to_string()),
        [] if props.len() == 1 => props.keys().next().filter(|k| is_string(k)).cloned(),
        _ => None,
    }
}

/// The manifest for the tools `include` admits (the server's filter and access mode).
pub fn manifest<'a>(tools: impl Iterator<Item = &'a Tool>) -> Manifest {
    let tools: Vec<&Tool> = tools.filter(|t| t.name != CODE_TOOL).collect();
    let entries = tools
        .iter()
        .map(|t| ManifestEntry {
            tool: t.name.to_string(),
            group: t.group.to_string(),
            method: method_name(t.name, t.group),
            primary: primary_param(t.input_schema()),
        })
        .collect();
    let aliases = shortcuts(&tools)
        .into_iter()
        .map(|(t, s)| Alias {
            name: s.name.to_string(),
            tool: t.name.to_string(),
            positional: s.positional.iter().map(|p| p.to_string()).collect(),
            shape: s.shape.map(str::to_string),
        })
        .collect();
    Manifest {
        entries,
        aliases,
        help_text: Some(help_index(&tools, &aliases_present(&tools))),
        group_help: groups_of(&tools)
            .into_iter()
            .map(|g| (g.to_string(), group_declarations(&tools, g)))
            .collect(),
        docs: tools.iter().map(|t| method_doc(t)).collect(),
    }
}

fn aliases_present(tools: &[&Tool]) -> Vec<String> {
    shortcuts(tools)
        .into_iter()
        .map(|(_, s)| format!("{}({})", s.name, s.positional.join(", ")))
        .collect()
}

fn groups_of<'a>(tools: &[&'a Tool]) -> Vec<&'a str> {
    let mut groups: Vec<&str> = Vec::new();
    for t in tools {
        if !groups.contains(&t.group) {
            groups.push(t.group);
        }
    }
    groups
}

/// The most `pg.help()` may return: it is read into the model's context, and the whole API
/// at 250+ tools would be ~100 KB.
pub const HELP_INDEX_MAX_BYTES: usize = 6 * 1024;

/// `pg.help()`: every reachable method by group, with a one-line signature (required
/// argument keys; `…` when optional ones exist). When that would exceed
/// [`HELP_INDEX_MAX_BYTES`] the signatures go, then the method names (groups with their
/// sizes remain), so the index fits at any registry size.
pub fn help_index(tools: &[&Tool], shortcuts: &[String]) -> String {
    let groups = groups_of(tools);
    let head = |detail: &str| {
        let mut out = String::from(
            "pg API index. pg.help('group') gives a group's TypeScript declarations, \
             pg.describe('group.method') one method in full, pg.search('words') ranked matches. \
             Calls return Promises; a method takes its args object (or a string for its primary argument).\n",
        );
        if !shortcuts.is_empty() {
            out.push_str(&format!("shortcuts: {}\n", shortcuts.join(", ")));
        }
        out.push_str(detail);
        out
    };
    let render = |level: u8| {
        let mut out = head(match level {
            0 => "",
            1 => "(signatures omitted at this size: see pg.help('group'))\n",
            _ => "(methods omitted at this size: see pg.help('group'))\n",
        });
        for g in &groups {
            let members: Vec<&&Tool> = tools.iter().filter(|t| t.group == *g).collect();
            let line = match level {
                0 => members
                    .iter()
                    .map(|t| format!("{}({})", method_name(t.name, t.group), short_signature(t)))
                    .collect::<Vec<_>>()
                    .join(", "),
                1 => members
                    .iter()
                    .map(|t| method_name(t.name, t.group))
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => format!("{} methods", members.len()),
            };
            out.push_str(&format!("{g}: {line}\n"));
        }
        out
    };
    (0..3)
        .map(render)
        .find(|text| text.len() <= HELP_INDEX_MAX_BYTES)
        .unwrap_or_else(|| render(2))
}

/// The tool's required argument keys, in schema order.
fn required_keys(t: &Tool) -> Vec<&str> {
    t.input_schema()
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `sql, …`: the required argument keys, then `…` when optional ones exist.
fn short_signature(t: &Tool) -> String {
    let required = required_keys(t);
    let total = t
        .input_schema()
        .get("properties")
        .and_then(Value::as_object)
        .map_or(0, |p| p.len());
    let mut parts: Vec<&str> = required;
    if total > parts.len() {
        parts.push("…");
    }
    parts.join(", ")
}

/// `pg.help(group)`: that group's declarations.
pub fn group_declarations(tools: &[&Tool], group: &str) -> String {
    let mut out = format!("pg.{group}: {{\n");
    for t in tools.iter().filter(|t| t.group == group) {
        out.push_str(&method_declaration(t, "  "));
    }
    out.push_str("}\n");
    out
}

/// `pg.describe('group.method')` and `pg.search`'s data: the key, the one-line summary and
/// the full text (declaration, title, whole description, tool name).
fn method_doc(t: &Tool) -> crate::codemode::sandbox::MethodDoc {
    let key = format!("{}.{}", t.group, method_name(t.name, t.group));
    let text = format!(
        "{}\n{} [{}]\n\n{}\n",
        method_declaration(t, "").trim_end(),
        t.title,
        t.name,
        t.description.trim()
    );
    crate::codemode::sandbox::MethodDoc {
        key,
        summary: t.summary().to_string(),
        text,
    }
}

/// One method's declaration: its summary as a doc comment, then the signature.
fn method_declaration(t: &Tool, indent: &str) -> String {
    let args = object_type(&Value::Object((**t.input_schema()).clone()), "");
    let arg = match primary_param(t.input_schema()) {
        Some(p) => format!("args: {args} | string /* {p} */"),
        None if t
            .input_schema()
            .get("required")
            .and_then(Value::as_array)
            .is_none_or(|r| r.is_empty()) =>
        {
            format!("args?: {args}")
        }
        None => format!("args: {args}"),
    };
    format!(
        "{indent}/** {} [{}] */\n{indent}{}({arg}): Promise<{}>;\n",
        t.summary(),
        t.name,
        method_name(t.name, t.group),
        return_type(t)
    )
}

/// The TypeScript type a method resolves to, derived from the tool's output schema
/// (`unknown`, never `any`, for a tool without one: `app` tests hold that none exists).
pub fn return_type(t: &Tool) -> std::borrow::Cow<'static, str> {
    match t.output_schema() {
        Some(schema) => ts_type(&Value::Object((**schema).clone())).into(),
        None => "unknown".into(),
    }
}

fn type_names(schema: &Value) -> Vec<String> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `schema` accepts any JSON value: the `anyOf` of one bare branch per JSON type
/// ([`crate::tools::any_json_value`]), with or without a description, and without its null
/// branch (an optional property loses it).
fn is_any_json(schema: &Value) -> bool {
    let Some(branches) = schema.get("anyOf").and_then(Value::as_array) else {
        return false;
    };
    let mut types: Vec<&str> = Vec::new();
    for b in branches {
        match (b.as_object(), b.get("type").and_then(Value::as_str)) {
            (Some(m), Some(t)) if m.len() == 1 => types.push(t),
            _ => return false,
        }
    }
    ["string", "number", "boolean", "array", "object"]
        .iter()
        .all(|t| types.contains(t))
}

/// A JSON Schema as a TypeScript type. Covers what schemars emits for our argument
/// types: primitives, arrays, objects, string enums, nullable unions, oneOf/anyOf.
pub fn ts_type(schema: &Value) -> String {
    // Any JSON value (a `params` item), spelled out in six branches for strict validators.
    if is_any_json(schema) {
        return "unknown".into();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" | ");
    }
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            let mut parts: Vec<String> = Vec::new();
            for v in variants {
                let t = ts_type(v);
                if !parts.contains(&t) {
                    parts.push(t);
                }
            }
            return parts.join(" | ");
        }
    }
    let names = type_names(schema);
    if names.is_empty() {
        // A schema that constrains nothing accepts any value (portable schemas never
        // contain one; see `tools::portability_problems`).
        return "unknown".into();
    }
    let parts: Vec<String> = names
        .iter()
        .map(|t| match t.as_str() {
            "string" => "string".into(),
            "integer" | "number" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => match schema.get("items") {
                Some(items) => {
                    let inner = ts_type(items);
                    if inner.contains(' ') {
                        format!("Array<{inner}>")
                    } else {
                        format!("{inner}[]")
                    }
                }
                None => "unknown[]".into(),
            },
            "object" => object_type(schema, ""),
            _ => "unknown".into(),
        })
        .collect();
    parts.join(" | ")
}

fn object_type(schema: &Value, indent: &str) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return match schema.get("additionalProperties") {
            Some(v) if v.is_object() => format!("Record<string, {}>", ts_type(v)),
            _ => "Record<string, unknown>".into(),
        };
    };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = String::from("{ ");
    for (name, p) in props {
        let opt = if required.contains(&name.as_str()) {
            ""
        } else {
            "?"
        };
        out.push_str(&format!("{indent}{name}{opt}: {}; ", ts_type(p)));
    }
    out.push('}');
    out
}

/// Named element types for the shortcuts' results: (interface, tool, the listed array's key
/// in its result (`""`: the result itself, one-object branch), members the shortcut's shape
/// adds, members it guarantees (see [`apply_shape`])).
type NamedType = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);
const NAMED_TYPES: &[NamedType] = &[
    ("Column", "pg_get_columns", "columns", "", &[]),
    ("Table", "pg_list_tables", "tables", "type: string; ", &[]),
    ("Index", "pg_get_indexes", "indexes", "", &[]),
    (
        "TableStats",
        "pg_table_stats",
        "",
        "",
        &["idx_scan", "idx_tup_fetch"],
    ),
];

/// The TypeScript object type of one element of `key` in `tool`'s result (or, with an
/// empty key, of the result's one-object branch), from its output schema.
fn element_type(tools: &[&Tool], tool: &str, key: &str) -> Option<String> {
    let schema = tools.iter().find(|t| t.name == tool)?.output_schema()?;
    let schema = Value::Object((**schema).clone());
    let element = if key.is_empty() {
        match schema.get("anyOf").and_then(Value::as_array) {
            // The branch that is one object, not the listing.
            Some(branches) => branches
                .iter()
                .find(|b| b.pointer("/properties/tables").is_none())?
                .clone(),
            None => schema,
        }
    } else {
        schema.pointer(&format!("/properties/{key}/items"))?.clone()
    };
    Some(object_type(&element, ""))
}

/// The declaration file for the whole `pg` API, generated from the registry.
pub fn declarations<'a>(tools: impl Iterator<Item = &'a Tool>) -> String {
    let tools: Vec<&Tool> = tools.filter(|t| t.name != CODE_TOOL).collect();
    let mut out = String::from(
        "// pgmcp Code Mode API — generated from the tool registry; do not edit.\n\
         // Every method returns a Promise: await it. A failing call throws a PgError.\n\n\
         type Row = Record<string, unknown>;\n",
    );
    // The shortcuts' element types, derived from the tools' output schemas.
    for (name, tool, key, extra, ensured) in NAMED_TYPES {
        if let Some(mut ts) = element_type(&tools, tool, key) {
            // What the shortcut's shape guarantees is not optional any more.
            for k in *ensured {
                ts = ts.replace(&format!(" {k}?:"), &format!(" {k}:"));
            }
            out.push_str(&format!(
                "interface {name} {}{extra}}}\n",
                ts.trim_end_matches('}')
            ));
        }
    }
    out.push_str(
        "interface PgError extends Error { code: string; category: string; recoverable: boolean; suggestion?: string; sqlstate?: string; details?: Record<string, unknown> }\n\n",
    );
    let mut groups: Vec<&str> = Vec::new();
    for t in &tools {
        if !groups.contains(&t.group) {
            groups.push(t.group);
        }
    }
    out.push_str("declare const pg: {\n");
    for (t, shortcut) in shortcuts(&tools) {
        let (name, tool, positional) = (shortcut.name, t.name, shortcut.positional);
        let props = t
            .input_schema()
            .get("properties")
            .and_then(Value::as_object);
        let required = required_keys(t);
        let params: Vec<String> = if positional.is_empty() {
            vec![format!(
                "args: {}",
                object_type(&Value::Object((**t.input_schema()).clone()), "")
            )]
        } else {
            positional
                .iter()
                .map(|p| {
                    let ty = props
                        .and_then(|m| m.get(*p))
                        .map(ts_type)
                        .unwrap_or_else(|| "unknown".into());
                    let opt = if required.contains(p) { "" } else { "?" };
                    format!("{}{opt}: {ty}", p.replace("where", "where_"))
                })
                .collect()
        };
        let returns = shortcut
            .shape
            .and_then(|shape| SHAPES.iter().find(|(s, _)| *s == shape))
            .map(|(_, ts)| std::borrow::Cow::Borrowed(*ts))
            .unwrap_or_else(|| return_type(t));
        out.push_str(&format!(
            "  /** {} (shortcut for {tool}) */\n  {name}({}): Promise<{returns}>;\n",
            t.summary(),
            params.join(", "),
        ));
    }
    out.push_str("  /** The index of every method by group; pg.help('core') one group's declarations. */\n  help(group?: string): string;\n");
    out.push_str("  /** One method's declaration and full description: pg.describe('core.readQuery'). */\n  describe(method: string): string;\n");
    out.push_str("  /** Methods matching the words, best first, by name and description. */\n  search(text: string): { method: string; summary: string }[];\n");
    out.push_str("  /** Runs fn on one connection inside BEGIN/COMMIT; rolls back if it throws. */\n  transaction<T>(fn: (tx: typeof pg) => Promise<T>): Promise<T>;\n");
    for g in &groups {
        out.push_str(&format!("  {g}: {{\n"));
        for t in tools.iter().filter(|t| t.group == *g) {
            out.push_str(&method_declaration(t, "    "));
        }
        out.push_str("  };\n");
    }
    out.push_str("};\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn method_names_follow_design() {
        assert_eq!(method_name("pg_read_query", "core"), "readQuery");
        assert_eq!(method_name("pg_jsonb_extract", "jsonb"), "extract");
        assert_eq!(method_name("pg_transaction_begin", "transactions"), "begin");
        assert_eq!(
            method_name("pg_transaction_rollback_to", "transactions"),
            "rollbackTo"
        );
        assert_eq!(method_name("pg_list_schemas", "schema"), "listSchemas");
        assert_eq!(method_name("pg_doc_find", "docstore"), "find");
        assert_eq!(method_name("pg_stats_top_n", "stats"), "topN");
        assert_eq!(method_name("pg_create_fts_index", "text"), "createFtsIndex");
    }

    #[test]
    fn ts_types() {
        assert_eq!(ts_type(&json!({"type": "string"})), "string");
        assert_eq!(
            ts_type(&json!({"type": ["string", "null"]})),
            "string | null"
        );
        assert_eq!(
            ts_type(&json!({"type": "array", "items": {"type": "integer"}})),
            "number[]"
        );
        assert_eq!(ts_type(&json!({"enum": ["a", "b"]})), "\"a\" | \"b\"");
        assert_eq!(
            ts_type(
                &json!({"type": "object", "properties": {"x": {"type": "boolean"}}, "required": ["x"]})
            ),
            "{ x: boolean; }"
        );
        assert_eq!(ts_type(&json!({})), "unknown");
        assert_eq!(
            ts_type(
                &json!({"description": "d", "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "array"}, {"type": "object"}]})
            ),
            "unknown"
        );
    }

    fn test_app(extra: &[&str]) -> std::sync::Arc<crate::tools::Env> {
        let mut args = vec!["pgmcp", "--postgres", "postgres://x@127.0.0.1:1/x"];
        args.extend_from_slice(extra);
        let parsed = crate::config::parse_server_args(args).unwrap();
        let engine = std::sync::Arc::new(super::super::Engine::default());
        crate::tools::Env::new(
            crate::config::Config::from_args(&parsed).unwrap(),
            super::super::tools(engine),
        )
        .unwrap()
    }

    fn description(app: &crate::tools::Env) -> String {
        app.registry
            .get(CODE_TOOL)
            .unwrap()
            .description_for(app)
            .into_owned()
    }

    #[test]
    fn the_tool_description_names_only_reachable_shortcuts_and_the_discovery_entry_points() {
        let app = test_app(&[]);
        let text = description(&app);
        let shortcuts = shortcuts(&app.registry.all().iter().collect::<Vec<_>>());
        assert_eq!(shortcuts.len(), 10);
        for name in shortcuts.iter().map(|(_, s)| s.name) {
            assert!(
                text.contains(&format!("pg.{name}(")),
                "pg.{name} missing from the description"
            );
        }
        for entry in [
            "pg.help()",
            "pg.help('group')",
            "pg.describe(",
            "pg.search(",
        ] {
            assert!(text.contains(entry), "{entry} missing: {text}");
        }
        assert!(text.len() < 2048, "{} bytes", text.len());
        // Restricted mode reaches no write tool, so the description names none.
        let text = description(&test_app(&["--access-mode", "restricted"]));
        assert!(
            text.contains("pg.query(") && !text.contains("pg.execute("),
            "{text}"
        );
        assert!(!text.contains("pg.createIndex("), "{text}");
        let text = description(&test_app(&["--tool-filter", "codemode,-pg_write_query"]));
        assert!(!text.contains("pg.execute("), "{text}");
        assert!(text.contains("pg.listTables("), "{text}");
    }

    /// A registry of `n` tools in 25 groups, named and described like real ones.
    fn synthetic(n: usize) -> Vec<Tool> {
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Args {
            /// Table name.
            table: String,
            schema: Option<String>,
            limit: Option<u32>,
        }
        let verbs = [
            "list", "get", "create", "drop", "alter", "analyze", "show", "reset",
        ];
        let nouns = [
            "policies",
            "partitions",
            "extensions",
            "indexes",
            "jobs",
            "roles",
            "documents",
            "vectors",
        ];
        (0..n)
            .map(|i| {
                let group: &'static str = Box::leak(format!("group{:02}", i % 25).into_boxed_str());
                let name: &'static str = Box::leak(
                    format!("pg_{}_{}_{}", verbs[i % 8], nouns[(i / 8) % 8], i).into_boxed_str(),
                );
                let description: &'static str = Box::leak(
                    format!("Does thing {i} to {} in detail.\nMore text.", nouns[i % 8])
                        .into_boxed_str(),
                );
                crate::tools::tool(
                    name,
                    group,
                    "A synthetic tool",
                    description,
                    crate::tools::READ,
                    |_, _: Args| async { Ok(Value::Null) },
                )
            })
            .collect()
    }

    /// The declared return types come from the output schemas: user-shaped data (a plan's
    /// JSON) is `unknown`, a nullable field says so, and no method returns `any`.
    #[test]
    fn declarations_are_typed_from_output_schemas() {
        let env = test_app(&["--tool-filter", "all"]);
        let explain = env.registry.get("pg_explain").unwrap();
        let ts = return_type(explain);
        assert!(ts.contains("plan?: unknown;"), "{ts}");
        assert!(ts.contains("hypotheticalIndexes?: Array<{ createIndex: string; indexName: string; used: boolean; }>;"), "{ts}");
        assert!(ts.contains("filter: string | null;"), "{ts}");
        let text = declarations(env.registry.all().iter());
        assert!(!text.contains("Promise<any>"), "{text}");
        assert!(!text.contains("Promise<unknown>"), "{text}");
        for loose in [": any", ", any>", "<any>", "any[]"] {
            assert!(!text.contains(loose), "{loose} in {text}");
        }
        // The shortcuts' named types are derived too, with what their shapes guarantee.
        assert!(text.contains("interface TableStats { schema: string; table: string; seq_scan: number; seq_tup_read: number; idx_scan: number;"), "{text}");
    }

    #[test]
    fn the_help_index_fits_6_kb_at_300_tools_and_names_every_method_when_it_can() {
        let real = test_app(&["--tool-filter", "all"]);
        let real = &real.registry;
        let tools: Vec<&Tool> = real.all().iter().filter(|t| t.name != CODE_TOOL).collect();
        let index = help_index(&tools, &[]);
        assert!(index.len() <= HELP_INDEX_MAX_BYTES, "{}", index.len());
        // At the real size every method is there with its signature.
        assert!(index.contains("readQuery(sql, …)"), "{index}");
        assert!(index.contains("performance: explain(sql, …)"), "{index}");
        println!(
            "real registry: {} tools, pg.help() {} bytes",
            tools.len(),
            index.len()
        );

        let many = synthetic(300);
        let tools: Vec<&Tool> = many.iter().collect();
        let index = help_index(&tools, &["query(sql, params)".into()]);
        assert!(index.len() <= HELP_INDEX_MAX_BYTES, "{}", index.len());
        for t in &tools {
            assert!(
                index.contains(&method_name(t.name, t.group)),
                "{} missing",
                t.name
            );
        }
        println!("300 synthetic tools: pg.help() {} bytes", index.len());
        // And even at sizes where method names no longer fit, every group is there.
        let huge = synthetic(2000);
        let tools: Vec<&Tool> = huge.iter().collect();
        let index = help_index(&tools, &[]);
        assert!(index.len() <= HELP_INDEX_MAX_BYTES, "{}", index.len());
        assert!(index.contains("group24: 80 methods"), "{index}");
    }

    /// A tool's shortcut names only its own arguments and a shape Code Mode knows.
    #[test]
    fn every_shortcut_fits_its_tool() {
        let env = test_app(&["--tool-filter", "all"]);
        let tools: Vec<&Tool> = env.registry.all().iter().collect();
        for (t, s) in shortcuts(&tools) {
            let props = t.input_schema()["properties"].as_object().unwrap();
            for p in s.positional {
                assert!(
                    props.contains_key(*p),
                    "{}: {p} is not an argument of {}",
                    s.name,
                    t.name
                );
            }
            if let Some(shape) = s.shape {
                assert!(
                    SHAPES.iter().any(|(k, _)| *k == shape),
                    "{}: unknown shape {shape}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn shortcut_shapes() {
        let tables = json!({"tables": [{"name": "a", "schema": "public", "kind": null}, {"name": "p", "schema": "public", "kind": "partitioned"}], "total": 2});
        assert_eq!(
            apply_shape("tables", tables),
            json!([{"name": "a", "schema": "public", "kind": null, "type": "table"}, {"name": "p", "schema": "public", "kind": "partitioned", "type": "partitioned"}])
        );
        assert_eq!(apply_shape("columns", json!({"columns": [1]})), json!([1]));
        let one = json!({"table": "t", "seq_scan": 3, "idx_scan": 1, "idx_tup_fetch": 2});
        assert_eq!(
            apply_shape("stats", json!({"table": "t", "seq_scan": 3})),
            json!({"table": "t", "seq_scan": 3, "idx_scan": 0, "idx_tup_fetch": 0})
        );
        assert_eq!(apply_shape("stats", one.clone()), one);
        assert_eq!(
            apply_shape("stats", json!({"tables": [one.clone()]})),
            json!([one])
        );
    }

    #[test]
    fn primary_parameter() {
        let s = json!({"properties": {"sql": {"type": "string"}, "params": {"type": "array"}}, "required": ["sql"]});
        assert_eq!(
            primary_param(s.as_object().unwrap()).as_deref(),
            Some("sql")
        );
        let s = json!({"properties": {"a": {"type": "integer"}}, "required": ["a"]});
        assert_eq!(primary_param(s.as_object().unwrap()), None);
    }
}
