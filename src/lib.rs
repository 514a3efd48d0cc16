//! pgmcp: a PostgreSQL MCP server with Code Mode.
pub mod cluster;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod mcp;
pub mod tools;
