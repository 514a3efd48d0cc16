//! The tool registry. A tool is data (name, group, description, input schema derived from
//! a Rust type, MCP annotations) plus an async handler. Every surface — `tools/list`,
//! `pgmcp list-tools`, docs/TOOLS.md — is generated from this one list, so adding a tool
//! is one `tool(...)` entry in its group's file.

pub mod admin;
pub mod catalog;
pub mod core;
pub mod docstore;
pub mod exec;
pub mod filter;
pub mod jsonb;
pub mod monitoring;
pub mod performance;
pub mod progress;
pub mod read_session;
pub mod relsize;
pub mod schema;
pub mod sql;
pub mod stats;
pub mod text;
pub mod transactions;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::{AccessMode, Config};
use crate::db::{Caps, Db};
use crate::error::{Category, Code, ToolError, ToolResult};

/// What every call reaches: the database, the configuration, the registry and the audit
/// log. Built by the composition root (`crate::app`); tools know nothing of what else the
/// application holds (Code Mode's engine, the MCP server).
pub struct Env {
    pub db: Db,
    pub config: Config,
    pub registry: Registry,
    pub audit: crate::audit::Audit,
    /// The health checks' warning and critical levels (pg_alert_threshold_set): this
    /// process's, in memory, never persisted.
    pub alert_thresholds: performance::AlertThresholds,
}

impl Env {
    /// The environment for `config`: its database handle (connecting to nothing until the
    /// first call), the audit log, and a registry of every database tool plus `extra` (the
    /// composition root adds Code Mode's).
    pub fn new(config: Config, extra: Vec<Tool>) -> Result<Arc<Env>, crate::config::ConfigError> {
        let db = Db::new(&config)?;
        let audit = crate::audit::Audit::new(
            config.audit_log.as_deref(),
            config.audit_log_max_bytes,
            config.audit_redact,
        );
        let mut tools = database_tools();
        tools.extend(extra);
        Ok(Arc::new(Env {
            db,
            registry: Registry::from_tools(tools),
            config,
            audit,
            alert_thresholds: Default::default(),
        }))
    }

    /// A call context with the configured access mode.
    pub fn ctx(self: &Arc<Self>) -> Ctx {
        Ctx::new(self.clone())
    }

    /// Calls a tool by name through the registry, as MCP does; the result's body.
    pub async fn call(self: &Arc<Self>, name: &str, args: Value) -> ToolResult<Value> {
        Ok(self.registry.call(self.ctx(), name, args).await?.body)
    }
}

/// What a single call may do. `read_only` is the capability: when set, only tools
/// annotated read-only run, and they run in READ ONLY transactions.
#[derive(Clone)]
pub struct Ctx {
    pub env: Arc<Env>,
    pub read_only: bool,
    /// Run every statement of this call inside this pinned transaction (Code Mode's
    /// `pg.transaction(tx => …)`), as if each call had passed `transactionId`.
    pub transaction: Option<String>,
    /// Who is calling (the MCP client's name), for per-client rate limits and the audit log.
    pub client: Option<String>,
    /// The Code Mode execution this call belongs to, for the audit log.
    pub execution: Option<String>,
    /// Where progress reports of a long statement go, when the caller asked for them
    /// (an MCP request with a `progressToken`); see [`progress`].
    pub progress: Option<progress::ProgressSink>,
    /// The Code Mode execution's read session: its reads share one READ ONLY transaction
    /// (see [`read_session`]).
    pub session: Option<Arc<read_session::ReadSession>>,
    /// The execution's connection permit this call holds (`--code-max-connections`), lent
    /// to the read session while a read of this call runs there.
    pub permit: Option<read_session::PermitSlot>,
}

impl Ctx {
    pub fn new(env: Arc<Env>) -> Self {
        let read_only = env.config.access_mode == AccessMode::Restricted;
        Ctx {
            env,
            read_only,
            transaction: None,
            client: None,
            execution: None,
            progress: None,
            session: None,
            permit: None,
        }
    }

    pub fn db(&self) -> &Db {
        &self.env.db
    }

    /// This context running every statement, lookups included, inside the caller's pinned
    /// transaction when `transaction_id` is given: a table created in that transaction is
    /// found, and reads see its uncommitted rows (as `execute` does with a `tx_id`).
    pub fn within(mut self, transaction_id: Option<&str>) -> Ctx {
        if let Some(id) = transaction_id {
            self.transaction = Some(id.to_string());
        }
        self
    }

    pub fn caps(&self) -> Caps {
        // Rows a Code Mode script asks for are read by the script, not the model: they are
        // capped for memory (`--code-call-max-result-bytes`), and the execution's answer
        // is what is held to the model's budget.
        let max_bytes = match self.execution {
            Some(_) => self.env.config.code.code_call_max_result_bytes.max(1024),
            None => self.env.config.max_result_bytes,
        };
        Caps {
            max_rows: self.env.config.max_rows,
            max_bytes,
            budget: Some(self.env.db.results.clone()),
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

/// Renders a tool's description for one server (see [`Tool::describe`]).
pub type Describe = Arc<dyn Fn(&Env) -> String + Send + Sync>;

/// What a tool returns: its body (the typed output, as JSON: MCP `structuredContent`, the
/// value a `pg.*` call resolves to) and protocol metadata kept apart from it (MCP `_meta`,
/// e.g. Code Mode's metrics). No layer adds or strips magic keys in the body.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub body: Value,
    pub meta: Option<Value>,
}

/// A typed body with protocol metadata, for the few tools that report some (Code Mode).
pub struct WithMeta<O> {
    pub body: O,
    pub meta: Option<Value>,
}

/// A tool's identity, next to its handler: name, title, description, annotations and the
/// Code Mode shortcuts that reach it. `SPEC.tool(GROUP, handler)` makes the [`Tool`]; the
/// handler's argument and result types give its input and output schemas.
pub struct Spec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub hints: Hints,
    /// Code Mode shortcuts (`pg.query(sql, params?)`) for this tool.
    pub shortcuts: &'static [Shortcut],
}

/// A top-level `pg.<name>(…)` shortcut for a tool: its positional parameters, and the shape
/// Code Mode gives its result instead of the whole result (`tables`: `pg.listTables()` is
/// `Table[]`; the shapes are Code Mode's, `codemode::api::apply_shape`); the group method
/// keeps the tool's full result.
#[derive(Debug, Clone, Copy)]
pub struct Shortcut {
    pub name: &'static str,
    pub positional: &'static [&'static str],
    pub shape: Option<&'static str>,
}

impl Spec {
    /// The tool: this identity in `group`, running `handler`.
    pub fn tool<A, O, F, Fut>(&self, group: &'static str, handler: F) -> Tool
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + Send + 'static,
        F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult<O>> + Send + 'static,
    {
        let mut t = tool(
            self.name,
            group,
            self.title,
            self.description,
            self.hints,
            handler,
        );
        t.shortcuts = self.shortcuts;
        t
    }
}

type Handler = Arc<dyn Fn(Ctx, Value) -> BoxFuture<'static, ToolResult<ToolOutput>> + Send + Sync>;

/// A tool's JSON Schema, derived from its Rust type on first use and kept. Deriving all of
/// them at start-up cost about 10 ms and 10 MB with 149 tools, while `initialize` needs none
/// and the default listing 27; clones share the one copy.
#[derive(Clone)]
struct LazySchema {
    make: fn() -> Option<Map<String, Value>>,
    cell: Arc<std::sync::OnceLock<Option<Schema>>>,
}

/// A JSON Schema object, shared.
pub type Schema = Arc<Map<String, Value>>;

impl LazySchema {
    fn new(make: fn() -> Option<Map<String, Value>>) -> Self {
        LazySchema {
            make,
            cell: Arc::new(std::sync::OnceLock::new()),
        }
    }

    fn get(&self) -> Option<&Schema> {
        self.cell
            .get_or_init(|| (self.make)().map(Arc::new))
            .as_ref()
    }
}

pub struct Tool {
    pub name: &'static str,
    pub group: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub hints: Hints,
    /// JSON Schema of the arguments, derived from the argument type (see [`Tool::input_schema`]).
    input_schema: LazySchema,
    /// JSON Schema of the result body, derived from the handler's output type (`None` while
    /// a tool still returns untyped JSON); see [`Tool::output_schema`].
    output_schema: LazySchema,
    /// Code Mode shortcuts for this tool (see [`Shortcut`]).
    pub shortcuts: &'static [Shortcut],
    /// The tool enforces read-only mode itself (Code Mode runs every inner call read-only),
    /// so it stays available in restricted mode despite not being read-only by nature.
    pub enforces_read_only: bool,
    /// Renders the description for this server when it depends on the configuration (Code
    /// Mode names only the `pg.*` entry points the configuration makes reachable).
    pub describe: Option<Describe>,
    handler: Handler,
}

impl Tool {
    /// JSON Schema of the arguments (derived on first use).
    pub fn input_schema(&self) -> &Arc<Map<String, Value>> {
        static EMPTY: std::sync::OnceLock<Arc<Map<String, Value>>> = std::sync::OnceLock::new();
        self.input_schema
            .get()
            .unwrap_or_else(|| EMPTY.get_or_init(|| Arc::new(Map::new())))
    }

    /// JSON Schema of the result body (derived on first use); `None` for untyped JSON.
    pub fn output_schema(&self) -> Option<&Arc<Map<String, Value>>> {
        self.output_schema.get()
    }

    /// Marks the tool as enforcing the read-only capability itself (see `enforces_read_only`).
    pub fn enforcing_read_only(mut self) -> Self {
        self.enforces_read_only = true;
        self
    }

    /// Renders the description per server (see `describe`).
    pub fn described_by(
        mut self,
        describe: impl Fn(&Env) -> String + Send + Sync + 'static,
    ) -> Self {
        self.describe = Some(Arc::new(describe));
        self
    }

    /// The description clients are shown on this server.
    pub fn description_for(&self, env: &Env) -> std::borrow::Cow<'static, str> {
        match &self.describe {
            Some(f) => f(env).into(),
            None => self.description.into(),
        }
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

    pub async fn invoke(&self, ctx: Ctx, args: Value) -> ToolResult<ToolOutput> {
        (self.handler)(ctx, args).await
    }
}

/// Builds a tool whose arguments are the Rust type `A` and whose result is the Rust type
/// `O`: the input schema is derived with schemars and incoming arguments are deserialized
/// with serde before `f` runs, so a handler never sees malformed input; the output schema is
/// derived from `O` (`serde_json::Value` means untyped).
pub fn tool<A, O, F, Fut>(
    name: &'static str,
    group: &'static str,
    title: &'static str,
    description: &'static str,
    hints: Hints,
    f: F,
) -> Tool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ToolResult<O>> + Send + 'static,
{
    build::<A, O, O, F, Fut>(name, group, title, description, hints, f, move |body: O| {
        Ok(ToolOutput {
            body: to_body(name, &body)?,
            meta: None,
        })
    })
}

/// [`tool`] for a handler that also reports protocol metadata ([`WithMeta`]).
pub fn tool_with_meta<A, O, F, Fut>(
    name: &'static str,
    group: &'static str,
    title: &'static str,
    description: &'static str,
    hints: Hints,
    f: F,
) -> Tool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ToolResult<WithMeta<O>>> + Send + 'static,
{
    build::<A, O, WithMeta<O>, F, Fut>(name, group, title, description, hints, f, move |out| {
        Ok(ToolOutput {
            body: to_body(name, &out.body)?,
            meta: out.meta,
        })
    })
}

// The generic functions below are instantiated once per tool (149 of them): each keeps
// only what depends on its types (serde and schemars calls) and hands the rest to a
// non-generic, never-inlined function, so that code is in the binary once rather than once
// per tool (docs/PERFORMANCE.md, "Binary size").
fn to_body<O: Serialize>(name: &str, body: &O) -> ToolResult<Value> {
    serde_json::to_value(body).map_err(|e| unencodable(name, e))
}

#[cold]
#[inline(never)]
fn unencodable(name: &str, e: serde_json::Error) -> ToolError {
    ToolError::internal(format!("{name}: its result could not be encoded: {e}"))
}

fn build<A, O, R, F, Fut>(
    name: &'static str,
    group: &'static str,
    title: &'static str,
    description: &'static str,
    hints: Hints,
    f: F,
    output: impl Fn(R) -> ToolResult<ToolOutput> + Send + Sync + 'static,
) -> Tool
where
    A: DeserializeOwned + JsonSchema + Send + 'static,
    O: Serialize + JsonSchema + Send + 'static,
    R: Send + 'static,
    F: Fn(Ctx, A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ToolResult<R>> + Send + 'static,
{
    let input_schema = LazySchema::new(|| Some(schema_for::<A>()));
    let schema_for_errors = input_schema.clone();
    let (f, output) = (Arc::new(f), Arc::new(output));
    let handler: Handler = Arc::new(move |ctx, args| {
        let parsed = parse_args::<A>(name, &schema_for_errors, args);
        let (f, output) = (f.clone(), output.clone());
        Box::pin(async move { output(f(ctx, parsed?).await?) })
    });
    Tool {
        name,
        group,
        title,
        description,
        hints,
        input_schema,
        output_schema: LazySchema::new(output_schema_for::<O>),
        shortcuts: &[],
        enforces_read_only: false,
        describe: None,
        handler,
    }
}

/// The portable JSON Schema of a result type, or `None` for untyped JSON.
fn output_schema_for<O: JsonSchema>() -> Option<Map<String, Value>> {
    portable_output_schema(schema_generator().into_root_schema_for::<O>())
}

fn schema_for<A: JsonSchema>() -> Map<String, Value> {
    portable_input_schema(schema_generator().into_root_schema_for::<A>())
}

#[inline(never)]
fn schema_generator() -> schemars::SchemaGenerator {
    schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator()
}

#[inline(never)]
fn portable_output_schema(schema: schemars::Schema) -> Option<Map<String, Value>> {
    let mut schema = schema.to_value();
    if let Value::Object(map) = &mut schema {
        map.remove("$schema");
        map.remove("title");
    }
    make_portable(&mut schema, false);
    match schema {
        Value::Object(m) if Value::Object(m.clone()) != any_json_value() => Some(m),
        _ => None,
    }
}

#[inline(never)]
fn portable_input_schema(schema: schemars::Schema) -> Map<String, Value> {
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
    let mut schema = Value::Object(map);
    make_portable(&mut schema, false);
    match schema {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Rewrites what schemars emits into the subset every client accepts (see
/// [`portability_problems`]): strict validators (MCP Inspector `--strict`, AJV `strict: true`)
/// refuse tools whose schemas use bare boolean schemas or `format` values outside the
/// standard, and clients that map schemas onto a single-`type` dialect (Gemini's OpenAPI
/// subset) drop or refuse `type` arrays. So:
/// * `true` (any value, schemars' `serde_json::Value`) and `{}` become [`any_json_value`];
///   `false` becomes `{"not": {}}`; `additionalProperties: false` stays, a keyword value
///   every validator knows.
/// * schemars' Rust-width formats (`uint32`, `int64`, …) go; `minimum: 0` stays.
/// * an optional property (`Option<T>`, not in `required`) is absent rather than null:
///   `null` leaves its type, enum and anyOf/oneOf branches.
/// * what is still nullable, or a union, is spelled one way: `anyOf` branches with one
///   `type` each, null as `{"type": "null"}`.
fn make_portable(schema: &mut Value, optional: bool) {
    match schema {
        Value::Bool(true) => *schema = any_json_value(),
        Value::Bool(false) => *schema = serde_json::json!({ "not": {} }),
        _ => {}
    }
    let Value::Object(map) = schema else { return };
    if map
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
    {
        map.remove("format");
    }
    if optional {
        if let Some(Value::Array(types)) = map.get_mut("type") {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                map.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(values)) = map.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(branches)) = map.get_mut(key) else {
                continue;
            };
            branches.retain(|b| b.get("type") != Some(&Value::from("null")));
            if branches.len() == 1
                && let Some(Value::Object(only)) = branches.pop()
            {
                // One branch left: it is the schema (the property's description wins).
                map.remove(key);
                for (k, v) in only {
                    map.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(Value::Array(values)) = map.get("enum")
        && values.contains(&Value::Null)
        && !map.contains_key("anyOf")
    {
        // A nullable enum: the values in one branch, null in its own.
        let values: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        map.remove("enum");
        map.remove("type");
        map.insert(
            "anyOf".into(),
            serde_json::json!([{ "enum": values }, { "type": "null" }]),
        );
    }
    if let Some(Value::Array(types)) = map.get("type").cloned()
        && !map.contains_key("anyOf")
    {
        // A `type` array: one branch per type; the keywords that constrain a value of the
        // non-null type(s) go with them.
        map.remove("type");
        let constraints: Map<String, Value> = map
            .iter()
            .filter(|(k, _)| !ANNOTATION_KEYWORDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        map.retain(|k, _| ANNOTATION_KEYWORDS.contains(&k.as_str()));
        let branches: Vec<Value> = types
            .iter()
            .map(|t| {
                let mut b = Map::new();
                b.insert("type".into(), t.clone());
                if t != "null" {
                    b.extend(constraints.clone());
                }
                Value::Object(b)
            })
            .collect();
        map.insert("anyOf".into(), Value::Array(branches));
    }
    let required: Vec<String> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, p) in props.iter_mut() {
            make_portable(p, !required.contains(name));
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(branches)) = map.get_mut(key) {
            branches.iter_mut().for_each(|b| make_portable(b, false));
        }
    }
    if let Some(Value::Object(pp)) = map.get_mut("patternProperties") {
        pp.values_mut().for_each(|s| make_portable(s, false));
    }
    for key in ["items", "propertyNames"] {
        if let Some(s) = map.get_mut(key) {
            make_portable(s, false);
        }
    }
    if let Some(s) = map.get_mut("additionalProperties")
        && *s != Value::Bool(false)
    {
        make_portable(s, false);
    }
    if !constrains(map) {
        // `{}` (or only a description) accepts anything: the object spelling of `true`.
        if let Value::Object(any) = any_json_value() {
            map.extend(any);
        }
        // A described optional value is absent rather than null, like an undescribed one.
        if optional && let Some(Value::Array(branches)) = map.get_mut("anyOf") {
            branches.retain(|b| b.get("type") != Some(&Value::from("null")));
        }
    }
}

/// Any JSON value, spelled so that strict validators accept it and a model reads what it may
/// pass: one `anyOf` branch per JSON type (AJV's strict mode refuses a `type` array wider
/// than `[T, "null"]`, and Inspector's `--strict` flags schemas that constrain nothing).
pub fn any_json_value() -> Value {
    serde_json::json!({ "anyOf": [
        { "type": "string" }, { "type": "number" }, { "type": "boolean" },
        { "type": "array" }, { "type": "object" }, { "type": "null" }
    ] })
}

/// Keywords that only describe: a schema with nothing else accepts every value.
const ANNOTATION_KEYWORDS: &[&str] = &[
    "description",
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
];

fn constrains(map: &Map<String, Value>) -> bool {
    map.keys()
        .any(|k| !ANNOTATION_KEYWORDS.contains(&k.as_str()))
}

fn parse_args<A: DeserializeOwned>(name: &str, schema: &LazySchema, args: Value) -> ToolResult<A> {
    let args = args_object(name, schema, args)?;
    serde_json::from_value(args).map_err(|e| invalid_args(name, schema, e))
}

/// The arguments as an object (null is `{}`), or the error saying what was expected.
#[inline(never)]
fn args_object(name: &str, schema: &LazySchema, args: Value) -> ToolResult<Value> {
    let args = match args {
        Value::Null => Value::Object(Map::new()),
        other => other,
    };
    if !args.is_object() {
        return Err(ToolError::invalid(format!(
            "arguments for {name} must be a JSON object, got {}",
            json_kind(&args)
        ))
        .suggest(expected_arguments(&expected_schema(schema))));
    }
    Ok(args)
}

#[cold]
#[inline(never)]
fn invalid_args(name: &str, schema: &LazySchema, e: serde_json::Error) -> ToolError {
    ToolError::invalid(format!("invalid arguments for {name}: {e}"))
        .suggest(expected_arguments(&expected_schema(schema)))
}

fn expected_schema(schema: &LazySchema) -> Map<String, Value> {
    schema
        .get()
        .map(|s| s.as_ref())
        .cloned()
        .unwrap_or_default()
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

/// A check run on every successful result of an in-process call: the test suite installs
/// one that validates the body against the tool's output schema, so every call any test
/// makes holds the tool to its declared type.
pub type OutputCheck = fn(&Tool, &Value);

static OUTPUT_CHECK: std::sync::OnceLock<OutputCheck> = std::sync::OnceLock::new();

/// Installs the process-wide [`OutputCheck`] (once; later calls are ignored).
pub fn set_output_check(check: OutputCheck) {
    let _ = OUTPUT_CHECK.set(check);
}

/// Every database tool, in listing order (the composition root adds Code Mode's).
pub fn database_tools() -> Vec<Tool> {
    let mut tools = Vec::new();
    tools.extend(core::tools());
    tools.extend(schema::tools());
    tools.extend(transactions::tools());
    tools.extend(performance::tools());
    tools.extend(admin::tools());
    tools.extend(monitoring::tools());
    // The health checks' alert thresholds are listed with the monitoring tools.
    tools.extend(performance::alert_tools());
    tools.extend(jsonb::tools());
    tools.extend(text::tools());
    tools.extend(stats::tools());
    tools.extend(docstore::tools());
    tools
}

pub struct Registry {
    tools: Vec<Tool>,
    index: HashMap<&'static str, usize>,
}

impl Registry {
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
    pub async fn call(&self, ctx: Ctx, name: &str, args: Value) -> ToolResult<ToolOutput> {
        // Before anything parses the SQL, the audit fingerprint included.
        let oversized = oversized_sql(&args, ctx.env.config.max_sql_bytes);
        if !ctx.env.audit.enabled() {
            return match oversized {
                Some(e) => Err(e),
                None => self.call_unaudited(ctx, name, args).await,
            };
        }
        let env = ctx.env.clone();
        let mut record = serde_json::json!({
            "kind": "tool",
            "client": ctx.client,
            "tool": name,
            "readOnly": ctx.read_only,
        });
        if let Some(e) = &ctx.execution {
            record["execution"] = e.clone().into();
        }
        if oversized.is_none()
            && let Some(sql) = args
                .get("sql")
                .or_else(|| args.get("query"))
                .and_then(Value::as_str)
        {
            record["sql"] = crate::audit::sql_fingerprint(sql);
        }
        let started = std::time::Instant::now();
        let result = match oversized {
            Some(e) => Err(e),
            None => self.call_unaudited(ctx, name, args).await,
        };
        record["durationMs"] = (started.elapsed().as_millis() as u64).into();
        match &result {
            Ok(_) => record["outcome"] = "ok".into(),
            Err(e) => {
                record["outcome"] = "error".into();
                record["code"] = e.code.into();
            }
        }
        env.audit.record(record);
        result
    }

    async fn call_unaudited(&self, ctx: Ctx, name: &str, args: Value) -> ToolResult<ToolOutput> {
        // Listing is about the client's context budget, not permission: any reachable tool
        // may be called, directly or from code. `-x` and the access mode are what refuse.
        let tool = match self.get(name) {
            Some(t) if is_reachable(t, &ctx.env.config) => t,
            _ => return Err(self.unknown_tool(name, &ctx.env.config)),
        };
        if ctx.read_only && !tool.hints.read_only && !tool.enforces_read_only {
            return Err(ToolError::permission(format!(
                "{name} changes the database and is not available in read-only mode"
            ))
            .suggest("Use a read-only tool such as pg_read_query, or run the server with --access-mode unrestricted."));
        }
        // A panic in a handler is a bug in pgmcp, not in the call: it becomes this call's
        // error rather than a request that never gets an answer. Guards that own a
        // connection or a transaction release it as the panic unwinds.
        let out = std::panic::AssertUnwindSafe(tool.invoke(ctx, args))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(tool = %name, panic = %what, "a tool handler panicked");
                Err(ToolError::internal(format!(
                    "{name} failed with an internal error (a bug in pgmcp, not in the call); \
                     the server goes on serving"
                )))
            })?;
        if let Some(check) = OUTPUT_CHECK.get() {
            check(tool, &out.body);
        }
        Ok(out)
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
            Code::UnknownTool,
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
            out.push_str(&arguments_table(t.input_schema()));
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

/// The arguments of a tool that takes none: `{}`, with any field refused.
#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// Top-level argument keys whose strings are values, never SQL the server parses: bound
/// parameters, rows and documents, JSON, text to analyse, and Code Mode's source (capped on
/// its own by `--code-max-source-bytes`). `every_value_argument_exists` keeps the list true.
pub const VALUE_ARGUMENTS: &[&str] = &[
    "params",
    "rows",
    "document",
    "documents",
    "json",
    "data",
    "value",
    "values",
    "text",
    "code",
];

/// `SQL_TOO_LARGE` for the first argument text longer than `max` bytes: every top-level
/// string argument, every string in a top-level array, and every string field of an object
/// in one (`statements[].sql`, `queries[].sql`, `columns[].default`,
/// `hypotheticalIndexes[].where`), except in the [`VALUE_ARGUMENTS`]. Those strings are SQL,
/// SQL fragments (`where`, `select`, a column default) or names, which the server parses (the
/// statement policy, EXPLAIN, the audit fingerprint) at ~0.75 µs a byte, on a thread other
/// calls share: a 2 MB statement held one for 1.4 s, so one caller could otherwise stall
/// everyone else's calls.
fn oversized_sql(args: &Value, max: usize) -> Option<ToolError> {
    let Value::Object(args) = args else {
        return None;
    };
    // The length of the first string among `texts` that is over `max`.
    fn over<'v>(mut texts: impl Iterator<Item = &'v Value>, max: usize) -> Option<usize> {
        texts.find_map(|t| t.as_str().map(str::len).filter(|&n| n > max))
    }
    let (key, bytes) = args
        .iter()
        .filter(|(k, _)| !VALUE_ARGUMENTS.contains(&k.as_str()))
        .find_map(|(k, v)| {
            let bytes = match v {
                Value::Array(items) => items.iter().find_map(|i| match i {
                    Value::Object(fields) => over(fields.values(), max),
                    i => over(std::iter::once(i), max),
                }),
                v => over(std::iter::once(v), max),
            };
            bytes.map(|n| (k, n))
        })?;
    Some(
        ToolError::new(
            Category::Limit,
            Code::SqlTooLarge,
            format!(
                "the `{key}` argument has a text of {bytes} bytes; SQL, and every argument that \
                 becomes part of SQL, is limited to {max} bytes"
            ),
        )
        .suggest(
            "Pass large values as parameters ($1, $2, ...) instead of literals, split the work \
             into several statements, or raise the limit with --max-sql-bytes.",
        )
        .with_details(serde_json::json!({
            "argument": key,
            "bytes": bytes,
            "limit": format!("maxSqlBytes={max} (raise with --max-sql-bytes)"),
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let r = Registry::from_tools(database_tools());
        let mut seen = std::collections::HashSet::new();
        for t in r.all() {
            assert!(t.name.starts_with("pg_"), "{}", t.name);
            assert!(seen.insert(t.name), "duplicate {}", t.name);
            assert!(!t.description.is_empty());
            assert_eq!(
                t.input_schema().get("type"),
                Some(&Value::from("object")),
                "{}",
                t.name
            );
        }
    }

    #[tokio::test]
    async fn a_handler_that_panics_answers_with_an_internal_error() {
        let boom = tool(
            "pg_test_panics",
            "core",
            "Panics",
            "Panics, to show what a bug in a handler costs a caller.",
            READ,
            |_ctx, _args: NoArgs| async move {
                if true {
                    panic!("a simulated handler bug");
                }
                Ok(Value::Null)
            },
        );
        let parsed =
            crate::config::parse_server_args(["pgmcp", "--postgres", "postgres://x@127.0.0.1:1/x"])
                .unwrap();
        let env = Env::new(Config::from_args(&parsed).unwrap(), vec![boom]).unwrap();
        for _ in 0..2 {
            let e = env
                .call("pg_test_panics", serde_json::json!({}))
                .await
                .unwrap_err();
            assert_eq!(e.code, Code::InternalError, "{e:?}");
            assert!(e.error.contains("internal error"), "{e:?}");
        }
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("pg_read_qery", "pg_read_query"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}

/// JSON Schema portability, as strict consumers check it (MCP Inspector `--strict`, AJV with
/// `strict: true`, Claude Code's validator): every problem found in `schema`, as
/// `path: what`. Empty means portable.
pub fn portability_problems(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_portability(schema, "#", false, &mut out);
    out
}

/// The `format` values of JSON Schema 2020-12 (and so of `ajv-formats`); anything else is
/// an unknown keyword value to a strict validator.
pub const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Keywords of JSON Schema 2020-12 a strict validator knows besides the annotations
/// ([`ANNOTATION_KEYWORDS`]); any other key is an error under AJV's `strict: true`.
const KNOWN_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "prefixItems",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

fn walk_portability(schema: &Value, path: &str, optional: bool, out: &mut Vec<String>) {
    let map = match schema {
        Value::Object(m) => m,
        Value::Bool(b) => {
            out.push(format!("{path}: bare `{b}` schema"));
            return;
        }
        other => {
            out.push(format!("{path}: a schema must be an object, got {other}"));
            return;
        }
    };
    for key in map.keys() {
        if !KNOWN_KEYWORDS.contains(&key.as_str()) && !ANNOTATION_KEYWORDS.contains(&key.as_str()) {
            out.push(format!("{path}: non-standard keyword `{key}`"));
        }
    }
    if let Some(f) = map.get("format")
        && !f.as_str().is_some_and(|f| STANDARD_FORMATS.contains(&f))
    {
        out.push(format!("{path}: non-standard format {f}"));
    }
    // The one spelling of a union or of nullability is `anyOf` branches with one `type`
    // each (null as `{"type": "null"}`): strict AJV refuses wider `type` arrays and
    // single-`type` dialects refuse any.
    if let Some(t @ Value::Array(_)) = map.get("type") {
        out.push(format!("{path}: `type` array {t} (use anyOf branches)"));
    }
    if !constrains(map) {
        out.push(format!(
            "{path}: constrains nothing (the object spelling of `true`)"
        ));
    }
    if map
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.contains(&Value::Null))
    {
        out.push(format!(
            "{path}: null in enum (use a {{\"type\": \"null\"}} branch)"
        ));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = map.get(key) {
            for (i, b) in branches.iter().enumerate() {
                // An optional property expresses absence by being left out, never as null.
                if optional && b.get("type") == Some(&Value::from("null")) {
                    out.push(format!("{path}: optional and nullable"));
                }
                walk_portability(b, &format!("{path}/{key}/{i}"), false, out);
            }
        }
    }
    let required: Vec<&str> = map
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, p) in props {
            walk_portability(
                p,
                &format!("{path}/properties/{name}"),
                !required.contains(&name.as_str()),
                out,
            );
        }
    }
    if let Some(Value::Array(items)) = map.get("prefixItems") {
        for (i, s) in items.iter().enumerate() {
            walk_portability(s, &format!("{path}/prefixItems/{i}"), false, out);
        }
    }
    // Under `not`, `{}` is the exact always-false spelling: not walked.
    for key in ["items", "propertyNames"] {
        if let Some(s) = map.get(key) {
            walk_portability(s, &format!("{path}/{key}"), false, out);
        }
    }
    // `additionalProperties: false` (a closed object) is a keyword value every validator
    // and client accepts; any other boolean there is a bare schema.
    match map.get("additionalProperties") {
        Some(Value::Bool(false)) | None => {}
        Some(s) => walk_portability(s, &format!("{path}/additionalProperties"), false, out),
    }
    if let Some(Value::Object(pp)) = map.get("patternProperties") {
        for (k, s) in pp {
            walk_portability(s, &format!("{path}/patternProperties/{k}"), false, out);
        }
    }
}

#[cfg(test)]
mod portability_tests {
    use super::*;

    /// Every input schema `tools/list` can show passes the strict portability rules.
    #[test]
    fn every_input_schema_is_portable() {
        let mut problems = Vec::new();
        for t in database_tools() {
            for p in portability_problems(&Value::Object((**t.input_schema()).clone())) {
                problems.push(format!("{}: {p}", t.name));
            }
        }
        assert!(
            problems.is_empty(),
            "{} problems:\n{}",
            problems.len(),
            problems.join("\n")
        );
    }

    /// The check sees what the red team's validators saw in schemars' raw output, and the
    /// rewrite removes exactly that without losing the argument's meaning.
    #[test]
    fn raw_schemars_output_is_flagged_and_rewritten() {
        let raw = serde_json::json!({
            "type": "object",
            "properties": {
                "params": { "type": "array", "items": true },
                "limit": { "type": ["integer", "null"], "format": "uint32", "minimum": 0 },
                "mode": { "anyOf": [{ "enum": ["a", "b"] }, { "type": "null" }], "description": "d" },
                "sql": { "type": "string" }
            },
            "required": ["sql"],
            "additionalProperties": false
        });
        let found = portability_problems(&raw);
        assert!(
            found.iter().any(|p| p.contains("items: bare `true`")),
            "{found:?}"
        );
        assert!(found.iter().any(|p| p.contains("\"uint32\"")), "{found:?}");
        assert!(
            found.iter().any(|p| p.contains("limit: `type` array")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("mode: optional and nullable")),
            "{found:?}"
        );
        let mut fixed = raw.clone();
        make_portable(&mut fixed, false);
        assert_eq!(portability_problems(&fixed), Vec::<String>::new());
        assert_eq!(fixed["properties"]["params"]["items"], any_json_value());
        assert_eq!(
            fixed["properties"]["limit"],
            serde_json::json!({ "type": "integer", "minimum": 0 })
        );
        assert_eq!(
            fixed["properties"]["mode"],
            serde_json::json!({ "enum": ["a", "b"], "description": "d" })
        );
        // A required nullable value keeps null, as its own branch.
        let mut required = serde_json::json!({
            "type": "object",
            "properties": { "at": { "type": ["integer", "null"], "format": "int64", "minimum": 1, "description": "t" } },
            "required": ["at"]
        });
        assert!(!portability_problems(&required).is_empty());
        make_portable(&mut required, false);
        assert_eq!(portability_problems(&required), Vec::<String>::new());
        assert_eq!(
            required["properties"]["at"],
            serde_json::json!({ "description": "t", "anyOf": [{ "type": "integer", "minimum": 1 }, { "type": "null" }] })
        );
        assert_eq!(fixed["additionalProperties"], false);
    }
}
