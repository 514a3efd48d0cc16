//! The one error shape every tool returns (DESIGN.md "Error result").
//!
//! Errors are written for a model reading them: `error` says what went wrong, `code` is
//! stable enough to branch on, `suggestion` says what to do next when we know.

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// The caller's arguments were wrong; fixing them fixes the call.
    Validation,
    /// PostgreSQL rejected the statement.
    Database,
    /// The server could not be reached or refused us.
    Connection,
    /// Not allowed in the configured access mode or by the tool filter.
    Permission,
    /// A named thing (tool, transaction, table) does not exist.
    NotFound,
    /// A limit or timeout was hit.
    Limit,
    /// Code Mode: the script itself failed (a thrown error, a crashed worker).
    Sandbox,
    /// A bug or an unexpected state on our side.
    Internal,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolError {
    pub error: String,
    pub code: String,
    pub category: Category,
    pub recoverable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// SQLSTATE of a database error, kept so callers can branch on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
    /// Extra machine-readable facts (PostgreSQL detail, position, the limit that was hit…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Protocol-level metadata (MCP `_meta`), e.g. Code Mode metrics; not part of the body.
    #[serde(skip)]
    pub meta: Option<Value>,
}

pub type ToolResult<T = Value> = Result<T, ToolError>;

/// Codes of the fair-sharing limits (ISSUE 8, item 4); each error names the flag to raise.
pub mod codes {
    /// No pooled connection became free within `--pool-timeout`.
    pub const POOL_EXHAUSTED: &str = "POOL_EXHAUSTED";
    /// One Code Mode execution already uses `--code-max-connections` connections.
    pub const CONNECTION_QUOTA: &str = "CONNECTION_QUOTA";
    /// Every sandbox worker (`--code-max-workers`) is busy and the queue is full or the
    /// wait (`--code-queue-timeout`) ran out; `details.retryAfterMs` says when to retry.
    pub const BUSY: &str = "BUSY";
    /// The rows all calls hold together would pass `--max-inflight-result-bytes`.
    pub const RESULT_MEMORY_BUDGET: &str = "RESULT_MEMORY_BUDGET";
    /// A statement in a READ ONLY transaction waited longer than `--read-only-lock-timeout`.
    pub const LOCK_TIMEOUT: &str = "LOCK_TIMEOUT";
}

impl ToolError {
    pub fn new(category: Category, code: &str, error: impl Into<String>) -> Self {
        ToolError {
            error: error.into(),
            code: code.to_string(),
            category,
            recoverable: !matches!(category, Category::Internal),
            suggestion: None,
            sqlstate: None,
            details: None,
            meta: None,
        }
    }

    pub fn invalid(error: impl Into<String>) -> Self {
        Self::new(Category::Validation, "INVALID_ARGUMENT", error)
    }

    pub fn not_found(code: &str, error: impl Into<String>) -> Self {
        Self::new(Category::NotFound, code, error)
    }

    pub fn permission(error: impl Into<String>) -> Self {
        Self::new(Category::Permission, "READ_ONLY_VIOLATION", error)
    }

    pub fn internal(error: impl Into<String>) -> Self {
        Self::new(Category::Internal, "INTERNAL_ERROR", error)
    }

    pub fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn recoverable(mut self, recoverable: bool) -> Self {
        self.recoverable = recoverable;
        self
    }

    /// The JSON body of an error result: `{success:false, error, code, …}`.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        if let Value::Object(map) = &mut v {
            map.insert("success".into(), Value::Bool(false));
        }
        v
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.error)
    }
}

impl std::error::Error for ToolError {}

impl From<tokio_postgres::Error> for ToolError {
    fn from(e: tokio_postgres::Error) -> Self {
        from_pg_error(&e)
    }
}

/// Maps a tokio-postgres error to a ToolError that names the problem and, where we can,
/// the fix. Connection-phase failures get their own codes because the fix is different
/// for each (wrong password vs. server down vs. wrong database name).
pub fn from_pg_error(e: &tokio_postgres::Error) -> ToolError {
    if let Some(db) = e.as_db_error() {
        return from_db_error(db);
    }
    let text = error_chain(e);
    let lower = text.to_lowercase();
    if lower.contains("connection refused") {
        return ToolError::new(
            Category::Connection,
            "CONNECTION_REFUSED",
            format!("could not connect to PostgreSQL: {text}"),
        )
        .suggest("Is the server running and listening on that host and port? Check --host/--pg-port or the connection URL.");
    }
    if lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("nodename nor servname")
        || lower.contains("no such host")
        || lower.contains("temporary failure in name resolution")
    {
        return ToolError::new(
            Category::Connection,
            "UNKNOWN_HOST",
            format!("could not resolve the database host: {text}"),
        )
        .suggest("Check the host name in --postgres / POSTGRES_URL / PGHOST.");
    }
    if lower.contains("timeout") || lower.contains("timed out") {
        return ToolError::new(
            Category::Connection,
            "CONNECTION_TIMEOUT",
            format!("timed out connecting to PostgreSQL: {text}"),
        )
        .suggest("Check that the host is reachable and not firewalled.");
    }
    if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") {
        return ToolError::new(
            Category::Connection,
            "TLS_ERROR",
            format!("TLS negotiation with PostgreSQL failed: {text}"),
        )
        .suggest(
            "Check sslmode (disable, prefer, require, verify-ca, verify-full) and sslrootcert.",
        );
    }
    if e.is_closed() || lower.contains("connection closed") || lower.contains("broken pipe") {
        return ToolError::new(
            Category::Connection,
            "CONNECTION_LOST",
            format!("the database connection was lost: {text}"),
        )
        .suggest("Retry the call; a new connection will be opened.");
    }
    ToolError::new(Category::Connection, "DATABASE_ERROR", text)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn from_db_error(db: &tokio_postgres::error::DbError) -> ToolError {
    let state = db.code().code();
    let (category, code, suggestion): (Category, &str, Option<String>) = match state {
        "28P01" | "28000" => (
            Category::Connection,
            "AUTHENTICATION_FAILED",
            Some("Check the user name and password (PGPASSWORD, the URL, or --password).".into()),
        ),
        "3D000" => (
            Category::Connection,
            "DATABASE_NOT_FOUND",
            Some("Check the database name (--database, PGDATABASE or the URL path); list them with SELECT datname FROM pg_database.".into()),
        ),
        "57P03" => (
            Category::Connection,
            "SERVER_STARTING",
            Some("The server is starting up or shutting down; retry shortly.".into()),
        ),
        "53300" => (
            Category::Connection,
            "TOO_MANY_CONNECTIONS",
            Some("Lower --pool-max or raise max_connections on the server.".into()),
        ),
        "42P01" => (Category::Database, "UNDEFINED_TABLE", Some(
            "Check the name and schema; pg_list_tables shows what exists.".into(),
        )),
        "42703" => (Category::Database, "UNDEFINED_COLUMN", Some(
            "pg_describe_table shows the table's columns.".into(),
        )),
        "42883" => (Category::Database, "UNDEFINED_FUNCTION", None),
        "42P07" | "42710" | "42P06" => (Category::Database, "ALREADY_EXISTS", Some(
            "Use ifNotExists, or choose another name.".into(),
        )),
        "3F000" => (Category::Database, "UNDEFINED_SCHEMA", Some(
            "pg_list_schemas shows what exists.".into(),
        )),
        "42601" => (Category::Database, "SYNTAX_ERROR", None),
        "42501" => (Category::Permission, "INSUFFICIENT_PRIVILEGE", Some(
            "The connected role lacks this privilege; connect as a role that has it.".into(),
        )),
        "25006" => (Category::Permission, "READ_ONLY_VIOLATION", Some(
            "This runs in a read-only transaction; use a write tool in unrestricted access mode.".into(),
        )),
        "57014" => (Category::Limit, "QUERY_CANCELED", Some(
            "The statement hit the statement timeout or was cancelled; narrow the query or raise --statement-timeout.".into(),
        )),
        "55P03" => (Category::Limit, codes::LOCK_TIMEOUT, Some(
            "Another session holds a conflicting lock (DDL, VACUUM FULL…); retry later, or raise --read-only-lock-timeout.".into(),
        )),
        "40001" | "40P01" => (Category::Database, "SERIALIZATION_FAILURE", Some(
            "Retry the transaction.".into(),
        )),
        "25P02" => (Category::Database, "TRANSACTION_ABORTED", Some(
            "An earlier statement failed; roll back (or to a savepoint) before continuing.".into(),
        )),
        s if s.starts_with("23") => (Category::Database, "CONSTRAINT_VIOLATION", None),
        s if s.starts_with("22") => (Category::Database, "DATA_EXCEPTION", None),
        s if s.starts_with("08") => (Category::Connection, "CONNECTION_FAILURE", None),
        _ => (Category::Database, "SQL_ERROR", None),
    };
    let mut err = ToolError::new(category, code, db.message().to_string());
    err.sqlstate = Some(state.to_string());
    err.suggestion = db.hint().map(str::to_string).or(suggestion);
    let mut details = serde_json::Map::new();
    if let Some(d) = db.detail() {
        details.insert("detail".into(), d.into());
    }
    if let Some(tokio_postgres::error::ErrorPosition::Original(p)) = db.position() {
        details.insert("position".into(), (*p).into());
    }
    for (k, v) in [
        ("schema", db.schema()),
        ("table", db.table()),
        ("column", db.column()),
        ("constraint", db.constraint()),
    ] {
        if let Some(v) = v {
            details.insert(k.into(), v.into());
        }
    }
    if !details.is_empty() {
        err.details = Some(Value::Object(details));
    }
    err
}
