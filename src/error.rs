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

/// Declares [`Code`] from one list of `Variant => "NAME"`, so the enum, [`Code::ALL`] and
/// [`Code::as_str`] cannot disagree.
macro_rules! error_codes {
    ($($variant:ident => $name:literal,)+) => {
        /// Every error code pgmcp returns: one enum, so a code cannot drift from its spelling
        /// (`error.code` in results, `PgError.code` in Code Mode). Serialized as its
        /// SCREAMING_SNAKE_CASE name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum Code {
            $($variant,)+
        }

        impl Code {
            /// Every code, in alphabetical order.
            pub const ALL: &[Code] = &[$(Code::$variant,)+];

            /// The code as clients see it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)+
                }
            }
        }
    };
}

error_codes! {
    AlreadyExists => "ALREADY_EXISTS",
    AlterSystemNotAllowed => "ALTER_SYSTEM_NOT_ALLOWED",
    AuthenticationFailed => "AUTHENTICATION_FAILED",
    BridgeClosed => "BRIDGE_CLOSED",
    BridgeError => "BRIDGE_ERROR",
    Busy => "BUSY",
    Cancelled => "CANCELLED",
    CatalogChanged => "CATALOG_CHANGED",
    ConnectionFailure => "CONNECTION_FAILURE",
    ConnectionLost => "CONNECTION_LOST",
    ConnectionQuota => "CONNECTION_QUOTA",
    ConnectionRefused => "CONNECTION_REFUSED",
    ConnectionTimeout => "CONNECTION_TIMEOUT",
    ConstraintViolation => "CONSTRAINT_VIOLATION",
    CpuLimit => "CPU_LIMIT",
    DatabaseError => "DATABASE_ERROR",
    DatabaseNotFound => "DATABASE_NOT_FOUND",
    DataException => "DATA_EXCEPTION",
    EngineError => "ENGINE_ERROR",
    ExtensionMissing => "EXTENSION_MISSING",
    HypopgNotInstalled => "HYPOPG_NOT_INSTALLED",
    InstructionLimit => "INSTRUCTION_LIMIT",
    InsufficientPrivilege => "INSUFFICIENT_PRIVILEGE",
    InternalError => "INTERNAL_ERROR",
    InvalidArgument => "INVALID_ARGUMENT",
    InFlightLimit => "IN_FLIGHT_LIMIT",
    JsError => "JS_ERROR",
    LockTimeout => "LOCK_TIMEOUT",
    LoopLimit => "LOOP_LIMIT",
    MemoryLimit => "MEMORY_LIMIT",
    ModuleSyntax => "MODULE_SYNTAX",
    NestingTooDeep => "NESTING_TOO_DEEP",
    NotFound => "NOT_FOUND",
    OwnBackend => "OWN_BACKEND",
    PoolClosed => "POOL_CLOSED",
    PoolExhausted => "POOL_EXHAUSTED",
    QueryCanceled => "QUERY_CANCELED",
    RateLimited => "RATE_LIMITED",
    ReadOnlyRoleUnusable => "READ_ONLY_ROLE_UNUSABLE",
    ReadOnlyViolation => "READ_ONLY_VIOLATION",
    RecursionLimit => "RECURSION_LIMIT",
    ResultMemoryBudget => "RESULT_MEMORY_BUDGET",
    ResultTooLarge => "RESULT_TOO_LARGE",
    SavepointNotFound => "SAVEPOINT_NOT_FOUND",
    SerializationFailure => "SERIALIZATION_FAILURE",
    ServerStarting => "SERVER_STARTING",
    SourceTooLarge => "SOURCE_TOO_LARGE",
    SqlError => "SQL_ERROR",
    SqlTooDeep => "SQL_TOO_DEEP",
    SqlTooLarge => "SQL_TOO_LARGE",
    StackOverflow => "STACK_OVERFLOW",
    SyntaxError => "SYNTAX_ERROR",
    Timeout => "TIMEOUT",
    TlsError => "TLS_ERROR",
    ToolCallLimit => "TOOL_CALL_LIMIT",
    TooManyConnections => "TOO_MANY_CONNECTIONS",
    TooManyTransactions => "TOO_MANY_TRANSACTIONS",
    TransactionAborted => "TRANSACTION_ABORTED",
    TransactionNotActive => "TRANSACTION_NOT_ACTIVE",
    TransactionNotFound => "TRANSACTION_NOT_FOUND",
    UndefinedColumn => "UNDEFINED_COLUMN",
    UndefinedFunction => "UNDEFINED_FUNCTION",
    UndefinedSchema => "UNDEFINED_SCHEMA",
    UndefinedTable => "UNDEFINED_TABLE",
    UnknownHost => "UNKNOWN_HOST",
    UnknownTool => "UNKNOWN_TOOL",
    Unsettled => "UNSETTLED",
    WorkerCrashed => "WORKER_CRASHED",
    WorkerUnavailable => "WORKER_UNAVAILABLE",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for Value {
    fn from(c: Code) -> Value {
        Value::from(c.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolError {
    pub error: String,
    pub code: Code,
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

impl ToolError {
    pub fn new(category: Category, code: Code, error: impl Into<String>) -> Self {
        ToolError {
            error: error.into(),
            code,
            category,
            recoverable: !matches!(category, Category::Internal),
            suggestion: None,
            sqlstate: None,
            details: None,
            meta: None,
        }
    }

    pub fn invalid(error: impl Into<String>) -> Self {
        Self::new(Category::Validation, Code::InvalidArgument, error)
    }

    pub fn not_found(code: Code, error: impl Into<String>) -> Self {
        Self::new(Category::NotFound, code, error)
    }

    pub fn permission(error: impl Into<String>) -> Self {
        Self::new(Category::Permission, Code::ReadOnlyViolation, error)
    }

    pub fn internal(error: impl Into<String>) -> Self {
        Self::new(Category::Internal, Code::InternalError, error)
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
            Code::ConnectionRefused,
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
            Code::UnknownHost,
            format!("could not resolve the database host: {text}"),
        )
        .suggest("Check the host name in --postgres / POSTGRES_URL / PGHOST.");
    }
    if lower.contains("timeout") || lower.contains("timed out") {
        return ToolError::new(
            Category::Connection,
            Code::ConnectionTimeout,
            format!("timed out connecting to PostgreSQL: {text}"),
        )
        .suggest("Check that the host is reachable and not firewalled.");
    }
    if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") {
        return ToolError::new(
            Category::Connection,
            Code::TlsError,
            format!("TLS negotiation with PostgreSQL failed: {text}"),
        )
        .suggest(
            "Check sslmode (disable, prefer, require, verify-ca, verify-full) and sslrootcert.",
        );
    }
    if e.is_closed() || lower.contains("connection closed") || lower.contains("broken pipe") {
        return ToolError::new(
            Category::Connection,
            Code::ConnectionLost,
            format!("the database connection was lost: {text}"),
        )
        .suggest("Retry the call; a new connection will be opened.");
    }
    ToolError::new(Category::Connection, Code::DatabaseError, text)
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
    let (category, code, suggestion): (Category, Code, Option<String>) = match state {
        "28P01" | "28000" => (
            Category::Connection,
            Code::AuthenticationFailed,
            Some("Check the user name and password (PGPASSWORD, the URL, or --password).".into()),
        ),
        "3D000" => (
            Category::Connection,
            Code::DatabaseNotFound,
            Some("Check the database name (--database, PGDATABASE or the URL path); list them with SELECT datname FROM pg_database.".into()),
        ),
        "57P03" => (
            Category::Connection,
            Code::ServerStarting,
            Some("The server is starting up or shutting down; retry shortly.".into()),
        ),
        "53300" => (
            Category::Connection,
            Code::TooManyConnections,
            Some("Lower --pool-max or raise max_connections on the server.".into()),
        ),
        "42P01" => (Category::Database, Code::UndefinedTable, Some(
            "Check the name and schema; pg_list_tables shows what exists.".into(),
        )),
        "42703" => (Category::Database, Code::UndefinedColumn, Some(
            "pg_describe_table shows the table's columns.".into(),
        )),
        "42883" => (Category::Database, Code::UndefinedFunction, None),
        "42P07" | "42710" | "42P06" => (Category::Database, Code::AlreadyExists, Some(
            "Use ifNotExists, or choose another name.".into(),
        )),
        "3F000" => (Category::Database, Code::UndefinedSchema, Some(
            "pg_list_schemas shows what exists.".into(),
        )),
        "42601" => (Category::Database, Code::SyntaxError, None),
        "42501" => (Category::Permission, Code::InsufficientPrivilege, Some(
            "The connected role lacks this privilege; connect as a role that has it.".into(),
        )),
        "25006" => (Category::Permission, Code::ReadOnlyViolation, Some(
            "This runs in a read-only transaction; use a write tool in unrestricted access mode.".into(),
        )),
        "57014" => (Category::Limit, Code::QueryCanceled, Some(
            "The statement hit the statement timeout or was cancelled; narrow the query or raise --statement-timeout.".into(),
        )),
        "55P03" => (Category::Limit, Code::LockTimeout, Some(
            "Another session holds a conflicting lock (DDL, VACUUM FULL…); retry later, or raise --read-only-lock-timeout.".into(),
        )),
        "40001" | "40P01" => (Category::Database, Code::SerializationFailure, Some(
            "Retry the transaction.".into(),
        )),
        "25P02" => (Category::Database, Code::TransactionAborted, Some(
            "An earlier statement failed; roll back (or to a savepoint) before continuing.".into(),
        )),
        s if s.starts_with("23") => (Category::Database, Code::ConstraintViolation, None),
        s if s.starts_with("22") => (Category::Database, Code::DataException, None),
        s if s.starts_with("08") => (Category::Connection, Code::ConnectionFailure, None),
        _ => (Category::Database, Code::SqlError, None),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names clients see are serde's and `as_str`'s alike, unique, and parse back.
    #[test]
    fn every_code_has_one_spelling() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), Value::from(c.as_str()));
            let parsed: Code = serde_json::from_value(Value::from(c.as_str())).unwrap();
            assert_eq!(parsed, *c);
            assert!(seen.insert(c.as_str()), "{c} twice");
        }
        let sorted: Vec<&str> = {
            let mut v: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
            v.sort();
            v
        };
        let listed: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, sorted, "Code::ALL is alphabetical");
    }
}
