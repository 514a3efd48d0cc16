//! The composition root: the one place that knows every layer. It builds the configuration's
//! database handle, the registry (the database tools plus `pg_execute_code` bound to its
//! engine), the audit log, and owns start-up and shutdown. Every other layer sees only what
//! it is given: tools see an [`Env`], Code Mode an engine and a registry, MCP an [`App`].
//! (docs/ARCHITECTURE.md states the import edges; the `architecture` tests below hold them.)

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::codemode::Engine;
use crate::config::{Config, ConfigError};
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

/// The full registry (every database tool, then `pg_execute_code` on an engine of its
/// own), for listings and docs (`list-tools`); a running [`App`]'s is built by `Env::new`.
pub fn registry() -> Registry {
    let mut tools = crate::tools::database_tools();
    tools.extend(crate::codemode::tools(Arc::new(Engine::default())));
    Registry::from_tools(tools)
}

impl App {
    /// Builds the application; connects to nothing until the first call.
    pub fn new(config: Config) -> Result<Arc<App>, ConfigError> {
        let code = Arc::new(Engine::default());
        let env = Env::new(config, crate::codemode::tools(code.clone()))?;
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
        // Warming derives the Code Mode API from every tool's schemas (most of start-up's
        // CPU time with 149 tools) and spawns the idle workers: off the path to the first
        // answer. An execution that arrives first builds the same API once (`OnceLock`).
        let (code, env) = (self.code.clone(), self.env.clone());
        tokio::task::spawn_blocking(move || code.warm(&env));
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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// Every tool declares its result as a Rust type: an output schema exists, it is
    /// portable by the same strict rules as input schemas (the Code Mode declarations are
    /// generated from it).
    #[test]
    fn every_tool_has_a_typed_portable_output() {
        let registry = super::registry();
        let mut problems = Vec::new();
        for t in registry.all() {
            match t.output_schema() {
                None => problems.push(format!("{}: no output schema (untyped result)", t.name)),
                Some(schema) => {
                    for p in crate::tools::portability_problems(&Value::Object((**schema).clone()))
                    {
                        problems.push(format!("{} output: {p}", t.name));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

/// The import edges between layers (docs/ARCHITECTURE.md): the test fails when a module
/// names a layer it must not know.
#[cfg(test)]
mod architecture {
    use std::path::Path;

    /// (layer directory under `src/`, layers it must never name).
    const FORBIDDEN: &[(&str, &[&str])] = &[
        ("tools", &["codemode", "mcp", "app"]),
        ("codemode", &["db", "mcp", "app"]),
        ("db", &["tools", "mcp", "codemode", "app", "dba"]),
        ("dba", &["tools", "mcp", "codemode", "app"]),
    ];

    /// The forbidden layers `source` names through `crate::…` paths (in `use` trees too),
    /// comments excluded.
    fn named_layers(source: &str, forbidden: &[&str]) -> Vec<String> {
        let code: String = source
            .lines()
            .map(|l| match l.find("//") {
                Some(i) => &l[..i],
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut found = Vec::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            // `crate::{a, b::c}` names every first segment in the braces.
            let heads: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                    .collect(),
                None => vec![
                    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or(""),
                ],
            };
            for h in heads {
                if forbidden.contains(&h) && !found.iter().any(|f| f == h) {
                    found.push(h.to_string());
                }
            }
        }
        found
    }

    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable src dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_imports_across_a_forbidden_edge() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut violations = Vec::new();
        for (layer, forbidden) in FORBIDDEN {
            let mut files = Vec::new();
            sources(&src.join(layer), &mut files);
            assert!(!files.is_empty(), "no sources under src/{layer}");
            for f in files {
                let text = std::fs::read_to_string(&f).expect("readable source");
                for named in named_layers(&text, forbidden) {
                    violations.push(format!("{} names crate::{named}", f.display()));
                }
            }
        }
        assert!(violations.is_empty(), "{violations:#?}");
    }

    /// The check itself sees every spelling of an import (and ignores comments).
    #[test]
    fn the_edge_check_sees_imports_in_every_form() {
        let bad = ["codemode", "db"];
        assert_eq!(named_layers("use crate::db::Db;", &bad), ["db"]);
        assert_eq!(
            named_layers("use crate::{config::X, db::{a, b}};", &bad),
            ["db"]
        );
        assert_eq!(
            named_layers("let e = crate::codemode::Engine::default();", &bad),
            ["codemode"]
        );
        assert!(named_layers("// crate::db in a comment\nuse crate::dbx;", &bad).is_empty());
    }
}
