//! The integration and end-to-end tests: one test binary (one link of pgmcp, one throwaway
//! PostgreSQL cluster for the whole run) whose modules are the former per-file test binaries.
//! Add new test files here as modules: a file directly under `tests/` would be a binary of
//! its own, linking pgmcp and starting a cluster again.
//!
//! Every module shares the process: the cluster (`support`), and anything else process-wide.
//! A test that compares cluster-wide state before and after takes the cluster for itself
//! ([`support::test_db_exclusive`]); tests that start sandbox threads in this process
//! (`--sandbox-isolation thread`) hold [`support::sandbox_threads_lock`] while they count or
//! start them.

mod support;

mod cluster_smoke;
mod codemode_escape;
mod codemode_exec;
mod codemode_sandbox;
mod codemode_transpile;
mod codemode_worker;
mod connection;
mod dba_admin;
mod dba_diagnose;
mod dba_health;
mod dba_infra;
mod dba_plans;
mod docs_fresh;
mod e2e_stdio;
mod readonly_bypass;
mod tools_core;
mod tools_docstore;
mod tools_jsonb;
mod tools_performance;
mod tools_schema;
mod tools_stats;
mod tools_text;
mod tools_transactions;
mod values;
