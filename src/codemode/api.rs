//! The `pg.*` API derived from the registry: the manifest the sandbox prelude builds `pg`
//! from, and the TypeScript declarations the model reads (`pg.help()`, the MCP resource,
//! docs/CODE_MODE_API.d.ts). A tool that exists is callable from code with no extra step.

use serde_json::{Map, Value};

use super::sandbox::{Alias, Manifest, ManifestEntry};
use crate::tools::Tool;

/// The tool that runs code is not callable from code.
pub const CODE_TOOL: &str = "pg_execute_code";

/// Everyday shortcuts: `pg.query(sql, params?)` and friends.
const ALIASES: &[(&str, &str, &[&str])] = &[
    ("query", "pg_read_query", &["sql", "params"]),
    ("execute", "pg_write_query", &["sql", "params"]),
    ("listTables", "pg_list_tables", &["schema"]),
    ("describeTable", "pg_describe_table", &["table", "schema"]),
    ("getColumns", "pg_get_columns", &["table", "schema"]),
    ("getTableStats", "pg_table_stats", &["table", "schema"]),
    ("getIndexes", "pg_get_indexes", &["table", "schema"]),
    ("createIndex", "pg_create_index", &[]),
    ("explain", "pg_explain", &["sql", "params"]),
    ("count", "pg_count", &["table", "where", "params"]),
];

/// `pg_read_query` in group `core` → `readQuery`; `pg_transaction_begin` in group
/// `transactions` → `begin` (the group prefix, singular or plural, is dropped).
pub fn method_name(tool: &str, group: &str) -> String {
    let bare = tool.strip_prefix("pg_").unwrap_or(tool);
    let singular = group.strip_suffix('s').unwrap_or(group);
    let rest = [group, singular]
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
            primary: primary_param(&t.input_schema),
        })
        .collect();
    let aliases = ALIASES
        .iter()
        .filter(|(_, tool, _)| tools.iter().any(|t| t.name == *tool))
        .map(|(name, tool, positional)| Alias {
            name: name.to_string(),
            tool: tool.to_string(),
            positional: positional.iter().map(|s| s.to_string()).collect(),
        })
        .collect();
    Manifest {
        entries,
        aliases,
        help_text: None,
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

/// A JSON Schema as a TypeScript type. Covers what schemars emits for our argument
/// types: primitives, arrays, objects, string enums, nullable unions, oneOf/anyOf.
pub fn ts_type(schema: &Value) -> String {
    // Any JSON value (a `params` item), spelled out in six branches for strict validators.
    if *schema == crate::tools::any_json_value() {
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
        return "any".into();
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
                None => "any[]".into(),
            },
            "object" => object_type(schema, ""),
            _ => "any".into(),
        })
        .collect();
    parts.join(" | ")
}

fn object_type(schema: &Value, indent: &str) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return match schema.get("additionalProperties") {
            Some(v) if v.is_object() => format!("Record<string, {}>", ts_type(v)),
            _ => "Record<string, any>".into(),
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

/// The declaration file for the whole `pg` API, generated from the registry.
pub fn declarations<'a>(tools: impl Iterator<Item = &'a Tool>) -> String {
    let tools: Vec<&Tool> = tools.filter(|t| t.name != CODE_TOOL).collect();
    let mut out = String::from(
        "// pgmcp Code Mode API — generated from the tool registry; do not edit.\n\
         // Every method returns a Promise: await it. A failing call throws a PgError.\n\n\
         type Row = Record<string, any>;\n\
         interface Column { name: string; type: string; nullable: boolean; default?: string; generated?: string; identity?: string; comment?: string }\n\
         interface QueryResult { rows: Row[]; rowCount: number; columns?: string[]; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string }\n\
         interface PgError extends Error { code: string; category: string; recoverable: boolean; suggestion?: string; sqlstate?: string; details?: any }\n\n",
    );
    let mut groups: Vec<&str> = Vec::new();
    for t in &tools {
        if !groups.contains(&t.group) {
            groups.push(t.group);
        }
    }
    out.push_str("declare const pg: {\n");
    for (name, tool, positional) in ALIASES {
        let Some(t) = tools.iter().find(|t| t.name == *tool) else {
            continue;
        };
        let props = t.input_schema.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = t
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let params: Vec<String> = if positional.is_empty() {
            vec![format!(
                "args: {}",
                object_type(&Value::Object((*t.input_schema).clone()), "")
            )]
        } else {
            positional
                .iter()
                .map(|p| {
                    let ty = props
                        .and_then(|m| m.get(*p))
                        .map(ts_type)
                        .unwrap_or_else(|| "any".into());
                    let opt = if required.contains(p) { "" } else { "?" };
                    format!("{}{opt}: {ty}", p.replace("where", "where_"))
                })
                .collect()
        };
        out.push_str(&format!(
            "  /** {} (shortcut for {tool}) */\n  {name}({}): Promise<{}>;\n",
            t.summary(),
            params.join(", "),
            t.returns.unwrap_or("any")
        ));
    }
    out.push_str("  /** Lists groups and methods; pg.help('core') lists one group. */\n  help(group?: string): string;\n");
    out.push_str("  /** Runs fn on one connection inside BEGIN/COMMIT; rolls back if it throws. */\n  transaction<T>(fn: (tx: typeof pg) => Promise<T>): Promise<T>;\n");
    for g in &groups {
        out.push_str(&format!("  {g}: {{\n"));
        for t in tools.iter().filter(|t| t.group == *g) {
            let args = object_type(&Value::Object((*t.input_schema).clone()), "");
            let arg = match primary_param(&t.input_schema) {
                Some(p) => format!("args: {args} | string /* {p} */"),
                None if t
                    .input_schema
                    .get("required")
                    .and_then(Value::as_array)
                    .is_none_or(|r| r.is_empty()) =>
                {
                    format!("args?: {args}")
                }
                None => format!("args: {args}"),
            };
            out.push_str(&format!(
                "    /** {} [{}] */\n    {}({arg}): Promise<{}>;\n",
                t.summary(),
                t.name,
                method_name(t.name, t.group),
                t.returns.unwrap_or("any")
            ));
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
        assert_eq!(ts_type(&json!({})), "any");
    }

    #[test]
    fn the_tool_description_names_every_shortcut() {
        let description = crate::codemode::tools()[0].description;
        for (name, _, _) in ALIASES {
            assert!(
                description.contains(&format!("pg.{name}(")),
                "pg.{name} missing from the description"
            );
        }
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
