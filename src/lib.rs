//! pgmcp: a PostgreSQL MCP server with Code Mode.

// `ToolError` is the product's output (every field reaches the model), and errors are the
// cold path: boxing it everywhere would buy nothing measurable and cost readability.
#![allow(clippy::result_large_err)]
pub mod app;
pub mod audit;
pub mod cluster;
pub mod codemode;
pub mod config;
pub mod db;
pub mod dba;
pub mod demo;
pub mod error;
pub mod mcp;
pub mod tools;
