//! Shared harness of pgmcp's fuzz targets (see docs/SECURITY.md, "Fuzzing").
//!
//! * [`bridge`]: the in-memory fake tool registry the sandbox talks to, with the canary and
//!   the bridge-side invariants (in-flight window, tool-call cap, no call after close).
//! * [`guard`]: what keeps the process-isolated native limitations of Boa (which thread-mode
//!   fuzzing cannot survive) from being reported as findings on every run: a JS shim that
//!   caps the size-driven built-ins, and a short, counted skip list.
//! * [`harness`]: transpile → guard → run on a big-stack thread → check the outcome.
//! * [`splice`]: the fragment pool and decoder of the structure-aware target.
//!
//! A finding is a panic on the fuzzing thread (libFuzzer's hook turns it into an abort and
//! saves the input as `fuzz/artifacts/<target>/crash-*`), a libFuzzer timeout, or an OOM.

pub mod bridge;
pub mod guard;
pub mod harness;
pub mod splice;
