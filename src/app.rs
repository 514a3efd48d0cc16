//! The composition root: the one place that knows every layer. It builds the configuration's
//! database handle, the registry (the database tools plus `pg_execute_code` bound to its
//! engine), the audit log, and owns start-up and shutdown. Every other layer sees only what
//! it is given: tools see an [`Env`], Code Mode an engine and a registry, MCP an [`App`].
//! (docs/ARCHITECTURE.md states the import edges; `tests/it/architecture.rs` holds them.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::codemode::Engine;
use crate::config::{Config, ConfigError};
use crate::db::Db;
use crate::error::ToolResult;
use crate::tools::{Ctx, Env, Registry};

/// The running application: the tools' environment and Code Mode's engine.
pub struct App {
    pub env: Arc<Env>,
    pub code: Arc<Engine>,
}

impl std::ops::Deref for App {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

/// The full registry: every database tool, then `pg_execute_code` running on `engine`.
pub fn registry_with(engine: &Arc<Engine>) -> Registry {
    let mut tools = crate::tools::database_tools();
    tools.extend(crate::codemode::tools(engine.clone()));
    Registry::from_tools(tools)
}

/// The full registry with an engine of its own, for listings and docs (`list-tools`).
pub fn registry() -> Registry {
    registry_with(&Arc::new(Engine::default()))
}

impl App {
    /// Builds the application; connects to nothing until the first call.
    pub fn new(config: Config) -> Result<Arc<App>, ConfigError> {
        let db = Db::new(&config)?;
        let audit = crate::audit::Audit::new(
            config.audit_log.as_deref(),
            config.audit_log_max_bytes,
            config.audit_redact,
        );
        let code = Arc::new(Engine::default());
        let env = Arc::new(Env {
            db,
            registry: registry_with(&code),
            config,
            audit,
        });
        Ok(Arc::new(App { env, code }))
    }

    /// A call context with the configured access mode.
    pub fn ctx(&self) -> Ctx {
        self.env.ctx()
    }

    /// Calls a tool by name through the registry, as MCP does.
    pub async fn call(&self, name: &str, args: Value) -> ToolResult<Value> {
        self.env.call(name, args).await
    }

    /// Start-up for a long-running server: idle sandbox workers started ahead of the first
    /// execution, filter typos reported, the idle-transaction reaper running.
    pub fn start(self: &Arc<Self>) -> Running {
        self.code.warm(&self.env);
        for name in self.registry.unknown_filter_names(&self.config) {
            tracing::warn!("--tool-filter entry '{name}' matches no tool or group");
        }
        let env = self.env.clone();
        let every = env.db.transactions.reap_interval();
        let reaper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                env.db.transactions.reap_idle().await;
            }
        });
        Running { reaper }
    }

    /// Shutdown: nothing a client began stays open on the server, and the pool closes.
    pub async fn shutdown(&self, running: Option<Running>) {
        if let Some(r) = running {
            r.reaper.abort();
        }
        let rolled_back = self.db.transactions.rollback_all().await;
        if rolled_back > 0 {
            tracing::info!(count = rolled_back, "rolled back open transactions");
        }
        self.db.close();
    }
}

/// What [`App::start`] started, for [`App::shutdown`] to stop.
pub struct Running {
    reaper: tokio::task::JoinHandle<()>,
}

/// How long shutdown waits for queued MCP frames to reach stdout.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
