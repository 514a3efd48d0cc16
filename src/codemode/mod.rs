//! Code Mode: run agent-written TypeScript against the `pg.*` API in a sandbox.
pub mod convert;
pub mod sandbox;
pub mod transpile;
