use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rmcp::ServiceExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

use pgmcp::app::App;
use pgmcp::config::{Config, ServerArgs};
use pgmcp::mcp::{DEFAULT_PAGE_SIZE, PgMcpServer, stdio};
use pgmcp::tools::tools_markdown;

#[derive(Parser)]
#[command(name = "pgmcp", version, about = "PostgreSQL MCP server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: ServerArgs,
    /// Log level for stderr logs (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Tools per tools/list page.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    tools_page_size: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Serve MCP over stdio (the default).
    Serve,
    /// Start a throwaway PostgreSQL with sample data and serve MCP on stdio against it.
    Demo {
        /// Run this Code Mode script (a file, or `-` for stdin) against the sample database
        /// instead of serving MCP.
        #[arg(long, value_name = "FILE")]
        exec: Option<String>,
        #[command(flatten)]
        opts: ExecOpts,
    },
    /// Run a Code Mode script (TypeScript; a file or `-` for stdin) against the database
    /// and print the result as JSON. Exit status 0 on success, 1 on failure.
    Exec {
        #[arg(value_name = "FILE")]
        file: String,
        #[command(flatten)]
        opts: ExecOpts,
    },
    /// Print the tools this configuration exposes.
    ListTools {
        /// Print the full Markdown reference (docs/TOOLS.md) instead.
        #[arg(long)]
        markdown: bool,
        /// Print the Code Mode API declarations (docs/CODE_MODE_API.d.ts) instead.
        #[arg(long, conflicts_with = "markdown")]
        declarations: bool,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct ExecOpts {
    /// Wall-clock limit in milliseconds.
    #[arg(long = "exec-timeout", value_name = "MS")]
    timeout: Option<u64>,
    /// Run every call of the script read-only.
    #[arg(long)]
    readonly: bool,
}

fn init_logging(level: &str) {
    // stdout is the MCP channel: logs must only ever go to stderr.
    // `Targets` takes the `target=level,level` directives of RUST_LOG (EnvFilter's syntax
    // without span and field filters), without EnvFilter's regex engine (binary size,
    // docs/PERFORMANCE.md "Binary size").
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| log_targets(&v))
        .or_else(|| log_targets(&format!("{level},rmcp=warn")))
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_filter(filter),
        )
        .init();
}

/// `target=level` directives, comma-separated (empty ones skipped); `None` if one is invalid.
fn log_targets(directives: &str) -> Option<Targets> {
    let directives: Vec<&str> = directives.split(',').filter(|d| !d.is_empty()).collect();
    if directives.is_empty() {
        return Some(Targets::new());
    }
    directives.join(",").parse().ok()
}

fn main() -> ExitCode {
    // The sandbox worker: no CLI parsing, no logging setup, no runtime. It is this binary
    // re-executed by the server with an empty environment.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pgmcp::codemode::worker::WORKER_ARG)
    {
        return ExitCode::from(pgmcp::codemode::worker::worker_main().clamp(0, 255) as u8);
    }
    let cli = Cli::parse();
    init_logging(&cli.log_level);
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Demo { exec, opts } = command {
        return run_async(demo(cli.server, cli.tools_page_size, exec, opts));
    }
    let config = match Config::from_args(&cli.server) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pgmcp: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Demo { .. } => unreachable!("handled above"),
        Command::Exec { file, opts } => run_async(exec(config, file, opts)),
        Command::ListTools {
            markdown,
            declarations,
        } => {
            let registry = pgmcp::app::registry();
            if declarations {
                print!(
                    "{}",
                    pgmcp::codemode::api::declarations(registry.all().iter())
                );
            } else if markdown {
                print!("{}", tools_markdown(&registry));
            } else {
                for t in registry.visible(&config) {
                    println!("{:<28} {:<13} {}", t.name, t.group, t.summary());
                }
            }
            ExitCode::SUCCESS
        }
        Command::Serve => run_async(async move {
            serve(config, cli.tools_page_size)
                .await
                .map(|()| ExitCode::SUCCESS)
        }),
    }
}

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    // PGMCP_RUNTIME=current: every task on one thread (an experiment in fewer cross-thread
    // wake-ups per call; docs/PERFORMANCE.md, session 7). The default is tokio's
    // multi-threaded runtime.
    let built = match std::env::var("PGMCP_RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Runtime::new(),
    };
    let runtime = match built {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pgmcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(fut);
    // A blocking stdin read may still be parked on a runtime thread (after a signal the
    // client has not closed stdin); don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pgmcp: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn demo(
    mut args: ServerArgs,
    page_size: usize,
    script: Option<String>,
    opts: ExecOpts,
) -> anyhow::Result<ExitCode> {
    eprintln!("pgmcp demo: starting a throwaway PostgreSQL…");
    let (cluster, url) = pgmcp::demo::start().await?;
    if script.is_none() {
        eprint!("{}", pgmcp::demo::banner(&url));
    }
    args.postgres = Some(url);
    args.host = None;
    args.pg_port = None;
    args.user = None;
    args.password = None;
    args.database = None;
    // The demo connects as the cluster's superuser: reads switch to the reader role that
    // `demo::start` created, so the privilege layer is on as it should be in production.
    if args.read_only_role.is_none() {
        args.read_only_role = Some(pgmcp::cluster::READER_ROLE.into());
    }
    let config = Config::from_args(&args)?;
    let result = match script {
        Some(file) => exec(config, file, opts).await,
        None => serve(config, page_size).await.map(|()| ExitCode::SUCCESS),
    };
    tokio::task::spawn_blocking(move || cluster.stop()).await?;
    result
}

/// `pgmcp exec`: the same engine and isolation as `pg_execute_code`, from the shell.
async fn exec(config: Config, file: String, opts: ExecOpts) -> anyhow::Result<ExitCode> {
    let code = if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {file}: {e}"))?
    };
    let app = App::new(config)?;
    let mut args = serde_json::json!({ "code": code, "metrics": true });
    if let Some(t) = opts.timeout {
        args["timeout"] = t.into();
    }
    if opts.readonly {
        args["readonly"] = true.into();
    }
    let outcome = app.call("pg_execute_code", args).await;
    app.shutdown(None).await;
    let (body, code) = match outcome {
        Ok(v) => (v, ExitCode::SUCCESS),
        Err(e) => (e.to_json(), ExitCode::FAILURE),
    };
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(code)
}

async fn serve(config: Config, page_size: usize) -> anyhow::Result<()> {
    let app = App::new(config)?;
    let running = app.start();
    tracing::info!(target_db = %app.db.target(), access_mode = ?app.config.access_mode, "pgmcp serving MCP on stdio");

    let (reader, writer, output_task) = stdio::filtered_transport(stdio::stdin(), stdio::stdout());
    let service = PgMcpServer::new(app.clone(), page_size)
        .serve((reader, writer))
        .await?;
    let cancel = service.cancellation_token();
    let waiting = service.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        r = &mut waiting => { r?; }
        _ = shutdown_signal() => {
            tracing::info!("signal received, shutting down");
            cancel.cancel();
            let _ = waiting.await;
        }
    }
    app.shutdown(Some(running)).await;
    // Let queued frames reach stdout before exiting.
    let _ = tokio::time::timeout(pgmcp::app::FLUSH_TIMEOUT, output_task).await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
