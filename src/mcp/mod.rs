//! The MCP server: rmcp's `ServerHandler` over the tool registry.

pub mod stdio;

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig, Tool as McpTool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::app::App;
use crate::error::{Category, Code, ToolError};
use crate::tools::progress::{ProgressSink, ProgressUpdate};
use crate::tools::{Env, Tool, ToolOutput};

/// The TypeScript declarations of the Code Mode `pg` API.
pub const API_RESOURCE_URI: &str = "pgmcp://code-mode/api.d.ts";
/// The compact index `pg.help()` returns.
pub const INDEX_RESOURCE_URI: &str = "pgmcp://code-mode/index";
/// One group's declarations, `pg.help(group)`: this prefix and the group name.
pub const GROUP_RESOURCE_PREFIX: &str = "pgmcp://code-mode/group/";

/// Tools per `tools/list` page; clients follow `nextCursor` for the rest.
pub const DEFAULT_PAGE_SIZE: usize = 100;

#[derive(Clone)]
pub struct PgMcpServer {
    app: Arc<App>,
    page_size: usize,
}

impl PgMcpServer {
    pub fn new(app: Arc<App>, page_size: usize) -> Self {
        PgMcpServer {
            app,
            page_size: page_size.max(1),
        }
    }
}

/// The MCP description of a tool. In restricted mode a tool that enforces read-only
/// itself (Code Mode) *is* read-only, and says so.
impl PgMcpServer {
    /// The declarations for what Code Mode reaches on this server (tool filter and access
    /// mode applied).
    pub fn api_declarations(&self) -> String {
        crate::codemode::api::declarations(
            self.app
                .code
                .api_tools(&self.app.env, self.restricted())
                .into_iter(),
        )
    }

    /// Server instructions that name only listed tools (with `--tool-filter codemode` the
    /// client sees pg_execute_code alone).
    fn instructions(&self) -> &'static str {
        let listed = |name: &str| {
            self.app
                .registry
                .visible(&self.app.config)
                .any(|t| t.name == name)
        };
        if listed("pg_list_tables") && listed("pg_read_query") {
            "PostgreSQL tools. Start with pg_list_tables and pg_describe_table; read with \
             pg_read_query (read-only, $1 placeholders with params). Errors carry code and suggestion."
        } else if listed("pg_execute_code") {
            "PostgreSQL through Code Mode: pg_execute_code runs TypeScript against the pg API; \
             pg.help() lists every method, pg.search('words') finds one. Errors carry code and suggestion."
        } else {
            "PostgreSQL tools. Errors carry code and suggestion."
        }
    }

    fn restricted(&self) -> bool {
        self.app.config.access_mode == crate::config::AccessMode::Restricted
    }

    /// The text of a Code Mode resource, the same `pg.help()` / `pg.help(group)` return.
    fn resource_text(&self, uri: &str) -> Option<(String, &'static str)> {
        let manifest = self.app.code.manifest(&self.app.env, self.restricted());
        if uri == API_RESOURCE_URI {
            return Some((self.api_declarations(), "application/typescript"));
        }
        if uri == INDEX_RESOURCE_URI {
            return Some((manifest.help_text.clone().unwrap_or_default(), "text/plain"));
        }
        let group = uri.strip_prefix(GROUP_RESOURCE_PREFIX)?;
        manifest
            .group_help
            .get(group)
            .map(|t| (t.clone(), "application/typescript"))
    }
}

pub fn to_mcp_tool(t: &Tool, env: &Env, restricted: bool) -> McpTool {
    let read_only = t.hints.read_only || (restricted && t.enforces_read_only);
    let annotations = ToolAnnotations::with_title(t.title)
        .read_only(read_only)
        .destructive(t.hints.destructive && !read_only)
        .idempotent(t.hints.idempotent)
        .open_world(t.hints.open_world);
    let tool = McpTool::new_with_raw(
        t.name,
        Some(t.description_for(env)),
        t.input_schema().clone(),
    )
    .with_title(t.title)
    .with_annotations(annotations);
    match t.output_schema() {
        Some(schema) if env.config.output_schemas => tool.with_raw_output_schema(schema.clone()),
        _ => tool,
    }
}

/// Forwards a call's progress reports as `notifications/progress` with the request's token,
/// in order, on one task; [`ProgressRelay::finish`] waits until every report is sent, so
/// all of them reach the client before the call's result.
struct ProgressRelay {
    tx: tokio::sync::mpsc::UnboundedSender<ProgressUpdate>,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressRelay {
    fn start(token: ProgressToken, peer: rmcp::Peer<RoleServer>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ProgressUpdate>();
        let task = tokio::spawn(async move {
            while let Some(u) = rx.recv().await {
                let mut note = ProgressNotificationParam::new(token.clone(), u.progress);
                note.total = u.total;
                note.message = u.message;
                if peer.notify_progress(note).await.is_err() {
                    break;
                }
            }
        });
        ProgressRelay { tx, task }
    }

    fn sink(&self) -> ProgressSink {
        let tx = self.tx.clone();
        Arc::new(move |u| {
            let _ = tx.send(u);
        })
    }

    /// Waits (a second at most) for the reports already made to be sent. The call's
    /// context, which held the other senders, is gone by now.
    async fn finish(self) {
        drop(self.tx);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.task).await;
    }
}

/// A tool outcome as MCP content: the JSON object in `structuredContent`, mirrored as text.
pub fn to_call_result(result: Result<ToolOutput, ToolError>) -> CallToolResult {
    let (result, meta) = match result {
        Ok(ToolOutput { body: v, meta }) => {
            // structuredContent must be an object; wrap anything else.
            let v = if v.is_object() {
                v
            } else {
                serde_json::json!({ "result": v })
            };
            (CallToolResult::structured(v), meta)
        }
        Err(e) => (CallToolResult::structured_error(e.to_json()), e.meta),
    };
    let meta = meta.and_then(|m| serde_json::from_value::<rmcp::model::MetaObject>(m).ok());
    result.with_meta(meta)
}

impl ServerHandler for PgMcpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("pgmcp", env!("CARGO_PKG_VERSION")))
        .with_instructions(self.instructions())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| {
                McpError::invalid_params(
                    format!("invalid cursor '{c}': pass the nextCursor of the previous page"),
                    None,
                )
            })?,
        };
        let visible: Vec<&Tool> = self.app.registry.visible(&self.app.config).collect();
        let restricted = self.app.config.access_mode == crate::config::AccessMode::Restricted;
        if start > visible.len() {
            return Err(McpError::invalid_params(
                format!("cursor {start} is past the end of the tool list"),
                None,
            ));
        }
        let end = (start + self.page_size).min(visible.len());
        let mut result = ListToolsResult::with_all_items(
            visible[start..end]
                .iter()
                .map(|t| to_mcp_tool(t, &self.app, restricted))
                .collect(),
        );
        if end < visible.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let mut index = Resource::new(INDEX_RESOURCE_URI, "Code Mode API index");
        index.mime_type = Some("text/plain".into());
        index.description = Some(
            "Every pg.* method pg_execute_code scripts can call, by group with one-line signatures; the text pg.help() returns."
                .into(),
        );
        let mut all = Resource::new(API_RESOURCE_URI, "Code Mode API (TypeScript declarations)");
        all.mime_type = Some("application/typescript".into());
        all.description = Some("The declarations of the whole pg.* API.".into());
        let mut resources = vec![index, all];
        let manifest = self.app.code.manifest(&self.app.env, self.restricted());
        for group in manifest.group_help.keys() {
            let mut r = Resource::new(
                format!("{GROUP_RESOURCE_PREFIX}{group}"),
                format!("Code Mode API: pg.{group}"),
            );
            r.mime_type = Some("application/typescript".into());
            r.description = Some(format!(
                "Declarations of the pg.{group} methods; the text pg.help('{group}') returns."
            ));
            resources.push(r);
        }
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let Some((text, mime)) = self.resource_text(&request.uri) else {
            return Err(McpError::resource_not_found(
                format!(
                    "no resource '{}'; resources/list shows what exists",
                    request.uri
                ),
                None,
            ));
        };
        let contents = ResourceContents::TextResourceContents {
            uri: request.uri.clone(),
            mime_type: Some(mime.into()),
            text,
            meta: None,
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let mut ctx = self.app.ctx();
        ctx.client = context.peer.peer_info().map(|p| p.client_info.name.clone());
        let progress = context
            .meta
            .get_progress_token()
            .map(|token| ProgressRelay::start(token, context.peer.clone()));
        ctx.progress = progress.as_ref().map(ProgressRelay::sink);
        let name = request.name.to_string();
        let started = std::time::Instant::now();
        let call = self.app.registry.call(ctx, &name, args);
        let result = tokio::select! {
            r = call => r,
            _ = context.ct.cancelled() => Err(ToolError::new(
                Category::Limit,
                Code::Cancelled,
                format!("{name} was cancelled by the client"),
            )),
        };
        if let Some(relay) = progress {
            relay.finish().await;
        }
        match &result {
            Ok(_) => {
                tracing::debug!(tool = %name, ms = started.elapsed().as_millis() as u64, "tool call ok")
            }
            Err(e) => {
                tracing::info!(tool = %name, code = %e.code, ms = started.elapsed().as_millis() as u64, "tool call failed")
            }
        }
        Ok(to_call_result(result).into())
    }
}
