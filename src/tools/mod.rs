//! The tool registry. A tool is data (name, group, description, input schema derived from
//! a Rust type, MCP annotations) plus an async handler. Every surface — `tools/list`,
//! `pgmcp list-tools`, docs/TOOLS.md — is generated from this one list, so adding a tool
//! is one `tool(...)` entry in its group's file.

pub mod core;
pub mod exec;
pub mod filter;
pub mod performance;
pub mod schema;
pub mod transactions;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{AccessMode, Config};
use crate::db::{Caps, Db};
use crate::error::{ToolError, ToolResult};

/// Process-wide state shared by every call.
pub struct App {
    pub db: Db,
    pub config: Config,
    pub registry: Registry,
    pub code: crate::codemode::Engine,
    pub audit: crate::audit::Audit,
}

impl App {
    /// Builds the application state; connects to nothing until the first call.
    pub fn new(config: Config) -> Result<Arc<App>, crate::config::ConfigError> {
        let db = Db::new(&config)?;
        let audit = crate::audit::Audit::new(
            config.audit_log.as_deref(),
            config.audit_log_max_bytes,
            config.audit_redact,
        );
        Ok(Arc::new(App {
            audit,
            db,
            config,
            registry: Registry::builtin(),
            code: crate::codemode::Engine::default(),
        }))
    }

    /// A call context with the configured access mode.
    pub fn ctx(self: &Arc<Self>) -> Ctx {
        Ctx::new(self.clone())
    }

    /// Calls a tool by name through the registry, as MCP does.
    pub async fn call(self: &Arc<Self>, name: &str, args: Value) -> ToolResult<Value> {
        self.registry.call(self.ctx(), name, args).await
    }
}

/// What a single call may do. `read_only` is the capability: when set, only tools
/// annotated read-only run, and they run in READ ONLY transactions.
#[derive(Clone)]
pub struct Ctx {
    pub app: Arc<App>,
    pub read_only: bool,
    /// Run every statement of this call inside this pinned transaction (Code Mode's
    /// `pg.transaction(tx => …)`), as if each call had passed `transactionId`.
    pub transaction: Option<String>,
    /// Who is calling (the MCP client's name), for per-client rate limits and the audit log.
    pub client: Option<String>,
    /// The Code Mode execution this call belongs to, for the audit log.
    pub execution: Option<String>,
}

impl Ctx {
    pub fn new(app: Arc<App>) -> Self {
        let read_only = app.config.access_mode == AccessMode::Restricted;
        Ctx {
            app,
            read_only,
            transaction: None,
            client: None,
            execution: None,
        }
    }

    pub fn db(&self) -> &Db {
        &self.app.db
    }

    pub fn caps(&self) -> Caps {
        Caps {
            max_rows: self.app.config.max_rows,
            max_bytes: self.app.config.max_result_bytes,
            budget: Some(self.app.db.results.clone()),
        }
    }
}

/// MCP tool annotations (hints for clients; our own enforcement uses `read_only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

/// Reads data, changes nothing.
pub const READ: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
    open_world: false,
};
/// Creates or changes data without destroying any.
pub const WRITE: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
};
/// May remove data or objects.
pub const DESTRUCTIVE: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: false,
    open_world: false,
};

type Handler = Arc<dyn Fn(Ctx, Value) -> BoxFuture<'static, ToolResult<Value>> + Send + Sync>;

pub struct Tool {
    pub name: &'static str,
    pub group: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub hints: Hints,
    pub input_schema: Arc<Map<String, Value>>,
    /// TypeScript type of the success object, for the Code Mode declarations.
    pub returns: Option<&'static str>,
    /// The tool enforces read-only mode itself (Code Mode runs every inner call read-only),
    /// so it stays available in restricted mode despite not being read-only by nature.
    pub enforces_read_only: bool,
    /// Renders the description for this server when it depends on the configuration (Code
    /// Mode names only the `pg.*` entry points the configuration makes reachable).
    pub describe: Option<fn(&App) -> String>,
    handler: Handler,
}

impl Tool {
    /// Marks the tool as enforcing the read-only capability itself (see `enforces_read_only`).
    pub fn enforcing_read_only(mut self) -> Self {
        self.enforces_read_only = true;
        self
    }

    /// Renders the description per server (see `describe`).
    pub fn described_by(mut self, describe: fn(&App) -> String) -> Self {
        self.describe = Some(describe);
        self
    }

    /// The description clients are shown on this server.
    pub fn description_for(&self, app: &App) -> std::borrow::Cow<'static, str> {
        match self.describe {
            Some(f) => f(app).into(),
            None => self.description.into(),
        }
    }

    /// Declares the TypeScript shape of the result (see `codemode::api`).
    pub fn returns(mut self, ts_type: &'static str) -> Self {
        self.returns = Some(ts_type);
        self
    }

    /// What the tool filter matches on.
    pub fn subject(&self) -> filter::Subject<'_> {
        filter::Subject {
            name: self.name,
            group: self.group,
            read_only: self.hints.read_only,
        }
    }

    /// The first line of the description, for listings.
    pub fn summary(&self) -> &str {
        self.description.lines().next().unwrap_or("")
    }

    pub async fn invoke(&self, ctx: Ctx, args: Value) -> ToolResult<Value> {
        (self.handler)(ctx, args).await
    }
}

/// Builds a tool whose arguments are the Rust type `A`: its JSON Schema is derived with
/// schemars and incoming arguments are deserialized with serde before `f` runs, so a
/// handler never sees malformed input.
pub fn tool<A, F, Fut>(
    name: &'static str,
    group: &'static str,
    title: &'static str,
    description: &'static str,
    hints: Hints,
    f: F,
) -> Tool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ToolResult<Value>> + Send + 'static,
{
    let input_schema = Arc::new(schema_for::<A>());
    let schema_for_errors = input_schema.clone();
    let f = Arc::new(f);
    let handler: Handler = Arc::new(move |ctx, args| {
        let parsed = parse_args::<A>(name, &schema_for_errors, args);
        let f = f.clone();
        Box::pin(async move { f(ctx, parsed?).await })
    });
    Tool {
        name,
        group,
        title,
        description,
        hints,
        input_schema,
        returns: None,
        enforces_read_only: false,
        describe: None,
        handler,
    }
}

fn schema_for<A: JsonSchema>() -> Map<String, Value> {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<A>();
    let mut map = match schema.to_value() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // Clients only need the object schema itself.
    map.remove("$schema");
    map.remove("title");
    map.entry("type").or_insert_with(|| "object".into());
    map.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    map
}

fn parse_args<A: DeserializeOwned>(
    name: &str,
    schema: &Map<String, Value>,
    args: Value,
) -> ToolResult<A> {
    let args = match args {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    if !args.is_object() {
        return Err(ToolError::invalid(format!(
            "arguments for {name} must be a JSON object, got {}",
            json_kind(&args)
        ))
        .suggest(expected_arguments(schema)));
    }
    serde_json::from_value(args).map_err(|e| {
        ToolError::invalid(format!("invalid arguments for {name}: {e}"))
            .suggest(expected_arguments(schema))
    })
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// "Expected arguments: sql (string, required), params (array)" from the schema.
fn expected_arguments(schema: &Map<String, Value>) -> String {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    let ty = type_label(v);
                    if required.contains(&k.as_str()) {
                        format!("{k} ({ty}, required)")
                    } else {
                        format!("{k} ({ty})")
                    }
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if props.is_empty() {
        "This tool takes no arguments; pass {}.".into()
    } else {
        format!("Expected arguments: {}.", props.join(", "))
    }
}

fn type_label(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join("|"),
        _ if schema.get("enum").is_some() || schema.get("oneOf").is_some() => "enum".into(),
        _ => "any".into(),
    }
}

pub struct Registry {
    tools: Vec<Tool>,
    index: HashMap<&'static str, usize>,
}

impl Registry {
    /// Every tool pgmcp knows, in listing order.
    pub fn builtin() -> Self {
        let mut tools = Vec::new();
        tools.extend(core::tools());
        tools.extend(schema::tools());
        tools.extend(transactions::tools());
        tools.extend(performance::tools());
        tools.extend(crate::codemode::tools());
        Self::from_tools(tools)
    }

    pub fn from_tools(tools: Vec<Tool>) -> Self {
        let index = tools.iter().enumerate().map(|(i, t)| (t.name, i)).collect();
        Registry { tools, index }
    }

    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.index.get(name).map(|&i| &self.tools[i])
    }

    pub fn all(&self) -> &[Tool] {
        &self.tools
    }

    /// The tools a client sees under this configuration (`tools/list`).
    pub fn visible<'a>(&'a self, config: &'a Config) -> impl Iterator<Item = &'a Tool> + 'a {
        self.tools.iter().filter(move |t| is_visible(t, config))
    }

    /// The tools Code Mode's `pg.*` may call under this configuration: every tool the access
    /// mode allows unless the filter explicitly removes it, listed or not.
    pub fn reachable<'a>(&'a self, config: &'a Config) -> impl Iterator<Item = &'a Tool> + 'a {
        self.tools.iter().filter(move |t| is_reachable(t, config))
    }

    /// Filter entries that match no tool or group, to warn about typos at start-up.
    pub fn unknown_filter_names<'a>(&self, config: &'a Config) -> Vec<&'a str> {
        config
            .tool_filter
            .names()
            .filter(|n| !self.tools.iter().any(|t| t.name == *n || t.group == *n))
            .collect()
    }

    /// The one entry point for calls, from MCP and (later) Code Mode alike: visibility,
    /// the read-only capability and argument validation are all checked here.
    pub async fn call(&self, ctx: Ctx, name: &str, args: Value) -> ToolResult<Value> {
        if !ctx.app.audit.enabled() {
            return self.call_unaudited(ctx, name, args).await;
        }
        let app = ctx.app.clone();
        let mut record = serde_json::json!({
            "kind": "tool",
            "client": ctx.client,
            "tool": name,
            "readOnly": ctx.read_only,
        });
        if let Some(e) = &ctx.execution {
            record["execution"] = e.clone().into();
        }
        if let Some(sql) = args
            .get("sql")
            .or_else(|| args.get("query"))
            .and_then(Value::as_str)
        {
            record["sql"] = crate::audit::sql_fingerprint(sql);
        }
        let started = std::time::Instant::now();
        let result = self.call_unaudited(ctx, name, args).await;
        record["durationMs"] = (started.elapsed().as_millis() as u64).into();
        match &result {
            Ok(_) => record["outcome"] = "ok".into(),
            Err(e) => {
                record["outcome"] = "error".into();
                record["code"] = e.code.clone().into();
            }
        }
        app.audit.record(record);
        result
    }

    async fn call_unaudited(&self, ctx: Ctx, name: &str, args: Value) -> ToolResult<Value> {
        // Listing is about the client's context budget, not permission: any reachable tool
        // may be called, directly or from code. `-x` and the access mode are what refuse.
        let tool = match self.get(name) {
            Some(t) if is_reachable(t, &ctx.app.config) => t,
            _ => return Err(self.unknown_tool(name, &ctx.app.config)),
        };
        if ctx.read_only && !tool.hints.read_only && !tool.enforces_read_only {
            return Err(ToolError::permission(format!(
                "{name} changes the database and is not available in read-only mode"
            ))
            .suggest("Use a read-only tool such as pg_read_query, or run the server with --access-mode unrestricted."));
        }
        tool.invoke(ctx, args).await
    }

    fn unknown_tool(&self, name: &str, config: &Config) -> ToolError {
        let mut close: Vec<(usize, &str)> = self
            .visible(config)
            .map(|t| (edit_distance(name, t.name), t.name))
            .filter(|(d, _)| *d <= 4)
            .collect();
        close.sort();
        let hidden = self.get(name).is_some();
        let mut err = ToolError::not_found(
            "UNKNOWN_TOOL",
            if hidden {
                format!("tool '{name}' is not enabled on this server (tool filter or access mode)")
            } else {
                format!("unknown tool '{name}'")
            },
        );
        err.suggestion = Some(if close.is_empty() {
            "Call tools/list to see the available tools.".into()
        } else {
            format!(
                "Did you mean {}?",
                close
                    .iter()
                    .take(3)
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        err
    }
}

fn is_visible(tool: &Tool, config: &Config) -> bool {
    config.tool_filter.lists(tool.subject()) && access_allows(tool, config)
}

fn is_reachable(tool: &Tool, config: &Config) -> bool {
    config.tool_filter.reaches(tool.subject()) && access_allows(tool, config)
}

fn access_allows(tool: &Tool, config: &Config) -> bool {
    config.access_mode == AccessMode::Unrestricted
        || tool.hints.read_only
        || tool.enforces_read_only
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Markdown reference of every tool, written to docs/TOOLS.md (a test keeps it fresh).
pub fn tools_markdown(registry: &Registry) -> String {
    let mut out = String::from(
        "# pgmcp tools\n\nGenerated from the registry by `pgmcp list-tools --markdown`; do not edit by hand.\n\n",
    );
    let mut groups: Vec<&str> = Vec::new();
    for t in registry.all() {
        if !groups.contains(&t.group) {
            groups.push(t.group);
        }
    }
    out.push_str("| group | tools |\n| --- | --- |\n");
    for g in &groups {
        let names: Vec<String> = registry
            .all()
            .iter()
            .filter(|t| t.group == *g)
            .map(|t| format!("`{}`", t.name))
            .collect();
        out.push_str(&format!("| {g} | {} |\n", names.join(", ")));
    }
    for g in &groups {
        out.push_str(&format!("\n## {g}\n"));
        for t in registry.all().iter().filter(|t| t.group == *g) {
            let mut hints = Vec::new();
            if t.hints.read_only {
                hints.push("read-only");
            }
            if t.hints.destructive {
                hints.push("destructive");
            }
            if t.hints.idempotent {
                hints.push("idempotent");
            }
            out.push_str(&format!("\n### `{}` — {}\n\n", t.name, t.title));
            out.push_str(&format!("{}\n\n", t.description.trim()));
            if !hints.is_empty() {
                out.push_str(&format!("Annotations: {}.\n\n", hints.join(", ")));
            }
            out.push_str(&arguments_table(&t.input_schema));
        }
    }
    out
}

fn arguments_table(schema: &Map<String, Value>) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return String::new();
    };
    if props.is_empty() {
        return "No arguments.\n".into();
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out =
        String::from("| argument | type | required | description |\n| --- | --- | --- | --- |\n");
    for (name, p) in props {
        let desc = p
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        out.push_str(&format!(
            "| `{name}` | {} | {} | {desc} |\n",
            type_label(p),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                ""
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let r = Registry::builtin();
        let mut seen = std::collections::HashSet::new();
        for t in r.all() {
            assert!(t.name.starts_with("pg_"), "{}", t.name);
            assert!(seen.insert(t.name), "duplicate {}", t.name);
            assert!(!t.description.is_empty());
            assert_eq!(
                t.input_schema.get("type"),
                Some(&Value::from("object")),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("pg_read_qery", "pg_read_query"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
