//! The Code Mode JavaScript engine: runs one already-transpiled program in a fresh Boa realm.
//!
//! The program is an expression (normally `(async () => { ... })()`) that evaluates to a
//! promise. [`run`] builds a new [`Context`](boa_engine::Context) (no state survives between runs), installs the
//! `pg` and `console` globals from `js-prelude/prelude.js`, evaluates the program, then drives
//! the promise job queue itself: it runs jobs while there are any, blocks in
//! [`Bridge::wait`] when only `pg.*` calls are outstanding, and stops when the root promise
//! settles, a limit is hit, or nothing can make progress.
//!
//! # Realm hardening
//! * `eval`, `Function`, and the (async) (generator) function constructors — however they are
//!   reached — refuse to compile strings ([`HostHooks::ensure_can_compile_strings`](boa_engine::context::HostHooks::ensure_can_compile_strings)).
//! * `import()` rejects: the module loader loads nothing.
//! * `SharedArrayBuffer`, `Atomics`, `WeakRef`, `FinalizationRegistry` are removed; there are
//!   no timers, no `fetch`, nothing host-ish. The local time zone is UTC; ArrayBuffers are
//!   capped at [`MAX_BUFFER_BYTES`].
//! * The host natives (`call`, `log`) are handed to the prelude as arguments and never appear
//!   on the global object.
//!
//! # Limits (and how each is enforced)
//! * **Instruction budget** (`instruction_budget`, `--code-max-instructions`): Boa's per-context
//!   instruction counter (`ContextBuilder::instructions_remaining`, available with the
//!   `fuzz` feature). It counts every bytecode instruction executed anywhere in the context:
//!   the first evaluation, promise jobs, `await` continuations, callbacks from built-ins
//!   (`Array.prototype.map`, getters during conversion, sort comparators). Exhaustion raises
//!   an uncatchable engine error; the run loop also checks the counter after every job, so
//!   exhaustion inside an `await` continuation (where Boa drops the error) is still reported.
//!   Every promise job is also charged a fixed [`JOB_COST`], so an endless cycle of jobs that
//!   run only native callbacks ends too.
//!   Time spent inside a single native built-in (one huge `'x'.repeat(n)`, a sort of a big
//!   array) is *not* instructions: the worker's wall-clock kill is the backstop.
//! * **Loop iterations** (`loop_iterations`, `--code-max-loop-iterations`): Boa's
//!   `RuntimeLimits` loop limit, counted per call frame (all loops of one function
//!   invocation together). Applied to the first evaluation and to user callbacks run as
//!   promise jobs (`.then(fn)`). Inside `await` continuations Boa swallows engine errors, so
//!   when an instruction budget is set the loop limit is lifted there and the instruction
//!   budget stops runaway loops instead (reported as `INSTRUCTION_LIMIT`). Without an
//!   instruction budget the loop limit stays on, and a hit inside an `await` continuation ends
//!   the run as `UNSETTLED` (message says so).
//! * **Recursion** (`recursion`, `--code-max-recursion`): Boa's recursion limit (call depth,
//!   counting native re-entry) and value-stack limit. A hit before the first `await`, or
//!   inside a `.then` callback, is reported as `RECURSION_LIMIT` precisely. A hit inside an
//!   `await` continuation is swallowed by Boa (the async function just stops, its promise
//!   stays pending). The host hooks notice a continuation that ran at least `recursion`
//!   instructions and left no reaction or job behind; if the root promise then never settles,
//!   the run ends as `RECURSION_LIMIT` (with an instruction budget, loops cannot die there, so
//!   this is the only engine error left) or as `UNSETTLED` naming both limits (without one).
//!   If the dead function was not awaited by anything, the run continues and the hit goes
//!   unreported (its work simply did not finish).
//! * **Tool calls** (`max_tool_calls`, `--code-max-tool-calls`): the call that exceeds the cap
//!   throws an *uncatchable* error, so no `try/catch` loop can outlive it; the run ends with
//!   `TOOL_CALL_LIMIT`.
//! * **In flight** (`max_in_flight`, `--code-max-in-flight`): a concurrency window, not an
//!   error. Calls beyond it wait host-side (in order) until earlier calls complete, so
//!   `Promise.all(list.map(...))` works for any list within the tool-call cap.
//!   `IN_FLIGHT_LIMIT` is reserved and not produced.
//! * **Result size** (`max_result_bytes`, `--code-max-result-bytes`): an oversized result is
//!   replaced by a preview that fits and `result_truncated` says so (not an error).
//! * **Logs** (`max_log_entries`, `max_log_bytes`, `--code-max-log-bytes`): later entries are
//!   dropped after a single `"[logs truncated]"` marker.
//! * Call arguments over [`MAX_ARGS_BYTES`] of JSON reject that call with a `RangeError`.
//! * Not covered here (the worker process is the backstop): memory (`'x'.repeat(2**30)` or
//!   doubling a string aborts on allocation failure), time inside one native built-in, and
//!   native stack depth (parser nesting; the caller provides a large stack — JS recursion
//!   itself needs well under 1 KB of native stack per level in release builds).
//!
//! # How a run ends
//! The first limit the host records wins, whatever JS does afterwards. The run stops as soon
//! as the root promise settles: jobs still queued are dropped and `pg.*` calls still waiting
//! for an in-flight slot are never submitted (calls already submitted may complete at the
//! host; their results are ignored). An engine error inside an *async generator* trips an
//! internal Boa assertion (a panic): it is caught, the context is leaked rather than dropped,
//! and the limit that caused it is reported (`ENGINE_ERROR` if none can be named). The
//! default panic hook still prints that panic to stderr.
//!
//! # Layout
//! This file holds the public API: limits, manifest, outcome and error types, [`run`] and
//! [`Prepared`]. The engine side is split by concern:
//! * `hooks`: the host hooks (no string compilation, UTC, the buffer cap, the watch on
//!   `await` continuations) and the job queue the run loop drains;
//! * `bridge`: the per-run host state shared with the natives `call` and `log`, and the
//!   settling of `pg.*` promises with the bridge's answers;
//! * `realm`: building and tearing down a realm: context, runtime limits, hardening, and the
//!   prelude with the manifest it is given;
//! * `runner`: the event loop: evaluation, jobs, the in-flight window, the result;
//! * `errors`: thrown JavaScript values as bounded `JS_ERROR`s with their script positions.

mod bridge;
mod errors;
mod hooks;
mod realm;
mod runner;

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::codemode::transpile::{self, CodeError, TranspileLimits};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use realm::Live;
use runner::Runner;

/// Largest ArrayBuffer the sandbox may allocate.
pub const MAX_BUFFER_BYTES: u64 = 64 * 1024 * 1024;

/// Longest `message` of a reported error, in bytes: error text goes back to the client like a
/// result does and must stay bounded like one (a script can throw a 100 MB message).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest `name` of a reported error, in bytes.
pub const MAX_ERROR_NAME_BYTES: usize = 256;

/// Largest serialized argument object of one `pg.*` call.
pub const MAX_ARGS_BYTES: usize = 8 * 1024 * 1024;

/// Instructions charged for every promise job on top of the bytecode it runs. A job whose
/// callbacks are all native runs no bytecode at all, and a cycle of such jobs (a thenable whose
/// `then` is `Promise.prototype.then` bound to a promise fulfilled with that thenable) would
/// otherwise never use up the budget.
const JOB_COST: u64 = 16;

/// Source name of the user program in stack traces (`at f (script.js:3:7)`).
const SCRIPT_NAME: &str = "script.js";

/// Command-line flags that raise each limit (used in [`SandboxError::limit`]).
pub mod flags {
    pub const LOOP_ITERATIONS: &str = "--code-max-loop-iterations";
    pub const RECURSION: &str = "--code-max-recursion";
    pub const INSTRUCTIONS: &str = "--code-max-instructions";
    pub const TOOL_CALLS: &str = "--code-max-tool-calls";
    pub const IN_FLIGHT: &str = "--code-max-in-flight";
    pub const RESULT_BYTES: &str = "--code-max-result-bytes";
    pub const LOG_BYTES: &str = "--code-max-log-bytes";
}

/// Error codes in [`SandboxError::code`].
pub mod codes {
    use crate::error::Code;

    pub const JS_ERROR: Code = Code::JsError;
    pub const LOOP_LIMIT: Code = Code::LoopLimit;
    pub const RECURSION_LIMIT: Code = Code::RecursionLimit;
    pub const INSTRUCTION_LIMIT: Code = Code::InstructionLimit;
    pub const TOOL_CALL_LIMIT: Code = Code::ToolCallLimit;
    /// Reserved: `max_in_flight` queues calls instead of failing them.
    pub const IN_FLIGHT_LIMIT: Code = Code::InFlightLimit;
    pub const RESULT_TOO_LARGE: Code = Code::ResultTooLarge;
    pub const UNSETTLED: Code = Code::Unsettled;
    pub const BRIDGE_CLOSED: Code = Code::BridgeClosed;
    /// The engine itself failed (an internal assertion); the run was abandoned.
    pub const ENGINE_ERROR: Code = Code::EngineError;
}

/// Limits for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxLimits {
    /// Loop iterations per function invocation (Boa `RuntimeLimits`).
    pub loop_iterations: u64,
    /// Maximum call depth (Boa `RuntimeLimits`).
    pub recursion: usize,
    /// Bytecode instructions for the whole run (`None`: unlimited).
    pub instruction_budget: Option<u64>,
    /// `pg.*` calls per run.
    pub max_tool_calls: u32,
    /// `pg.*` calls outstanding at the host at once; more wait in a queue.
    pub max_in_flight: u32,
    /// Serialized result size before it is replaced by a preview.
    pub max_result_bytes: usize,
    /// Total bytes of captured console output.
    pub max_log_bytes: usize,
    /// Number of captured console entries.
    pub max_log_entries: usize,
    /// Nesting depth of converted values (results and logged objects).
    pub max_depth: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            loop_iterations: 10_000_000,
            recursion: 1_000,
            instruction_budget: Some(500_000_000),
            max_tool_calls: 1_000,
            max_in_flight: 32,
            max_result_bytes: 1024 * 1024,
            max_log_bytes: 64 * 1024,
            max_log_entries: 1_000,
            max_depth: 64,
        }
    }
}

/// The host side of `pg.*` calls.
///
/// The engine calls [`Bridge::submit`] for each call it releases (at most `max_in_flight`
/// outstanding) and, when no JS job is runnable, blocks in [`Bridge::wait`] for the next
/// completion. Completions may arrive in any order.
pub trait Bridge {
    /// Starts a call. An `Err` rejects that call's promise with the message.
    fn submit(&mut self, call_id: u64, tool: &str, args: Value) -> Result<(), String>;
    /// The next completion: `Ok(success object)` or `Err(tool error object)`.
    /// `None` means the bridge is closed; the run ends with `BRIDGE_CLOSED`.
    fn wait(&mut self) -> Option<(u64, Result<Value, Value>)>;
}

/// What `pg` looks like: built from the tool registry by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
    pub aliases: Vec<Alias>,
    /// Returned by `pg.help()` (no group) instead of the generated listing, when set.
    pub help_text: Option<String>,
    /// Returned by `pg.help(group)` instead of the generated listing, per group, when set.
    pub group_help: std::collections::BTreeMap<String, String>,
    /// What `pg.describe` and `pg.search` read, one per method.
    pub docs: Vec<MethodDoc>,
}

/// One method's documentation for `pg.describe` / `pg.search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MethodDoc {
    /// `group.method`.
    pub key: String,
    /// The description's first line.
    pub summary: String,
    /// Declaration, title, tool name and the whole description.
    pub text: String,
}

/// One tool as `pg[group][method](args)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManifestEntry {
    pub tool: String,
    pub group: String,
    /// camelCase method name.
    pub method: String,
    /// The parameter a single string argument maps to.
    pub primary: Option<String>,
}

/// A top-level shortcut: `pg[name](...positional)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Alias {
    pub name: String,
    pub tool: String,
    /// Parameter names for positional arguments, e.g. `["sql", "params"]`.
    pub positional: Vec<String>,
    /// The shape the host gives the result (`codemode::api::apply_shape`), if any.
    pub shape: Option<String>,
}

/// One captured console line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: String,
    pub message: String,
}

/// Set when the result was replaced by a preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TruncationInfo {
    /// Serialized size of the full result (a lower bound when `exact` is false).
    pub original_bytes: usize,
    pub max_bytes: usize,
    /// False when conversion itself stopped early because the value was enormous.
    pub exact: bool,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxError {
    /// See [`codes`].
    pub code: crate::error::Code,
    /// JS error name (`TypeError`, `PgError`, ...) for `JS_ERROR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub message: String,
    /// Position in the transpiled JavaScript, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_column: Option<u32>,
    /// The same position in the user's TypeScript (1-based line and column in characters),
    /// with the line and a caret under the column, when the run started from TypeScript
    /// ([`Prepared::run_source`]) and the position maps back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// For limit errors: which limit and the flag that raises it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Extra fields of a thrown error object (e.g. a tool error's `code`, `sqlstate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl SandboxError {
    fn new(code: crate::error::Code, message: impl Into<String>) -> Self {
        Self {
            code,
            name: None,
            message: message.into(),
            js_line: None,
            js_column: None,
            line: None,
            column: None,
            snippet: None,
            limit: None,
            details: None,
        }
    }

    fn limit(code: crate::error::Code, message: impl Into<String>, limit: String) -> Self {
        Self {
            limit: Some(limit),
            ..Self::new(code, message)
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// The program's value (converted), or a preview when `result_truncated` is set.
    pub result: Option<Value>,
    pub error: Option<SandboxError>,
    pub logs: Vec<LogEntry>,
    /// `pg.*` calls made (including any rejected by the cap).
    pub tool_calls: u32,
    pub result_truncated: Option<TruncationInfo>,
    /// The script did not compile ([`Prepared::run_source`]): the transpiler's error, and
    /// nothing ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transpile_error: Option<CodeError>,
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

/// Runs `js` (an expression evaluating to a promise, or to a plain value) and returns its
/// outcome. Never panics: an internal engine failure becomes `ENGINE_ERROR`.
///
/// The same as [`Prepared::new`] followed by [`Prepared::run`] and dropping the realm.
pub fn run(
    js: &str,
    manifest: &Manifest,
    limits: &SandboxLimits,
    bridge: &mut dyn Bridge,
) -> Outcome {
    let mut prepared = Prepared::new(manifest, limits);
    prepared.run(js, bridge)
}

/// [`run`] for the agent's TypeScript: [`Prepared::new`] followed by
/// [`Prepared::run_source`].
pub fn run_source(
    source: &str,
    transpile_limits: &TranspileLimits,
    manifest: &Manifest,
    limits: &SandboxLimits,
    bridge: &mut dyn Bridge,
) -> Outcome {
    let mut prepared = Prepared::new(manifest, limits);
    prepared.run_source(source, transpile_limits, bridge)
}

/// A fresh realm, built and set up (hardened, prelude evaluated, `pg` and `console`
/// installed) but not yet touched by user code. Building it is most of the cost of a run,
/// so a sandbox worker prepares one while it waits for its program.
///
/// [`Prepared::run`] runs one program in it; a realm is never reused. Dropping it tears the
/// realm down (drops the context, collects garbage); a process that exits right after the
/// run can skip that by exiting instead.
pub struct Prepared {
    limits: SandboxLimits,
    realm: Result<Live, SandboxError>,
    used: bool,
}

impl Prepared {
    /// Builds the realm for programs with `manifest` under `limits`. The instruction budget
    /// starts counting here: the prelude is paid for by an allowance on top of the user's
    /// budget, as it always was.
    pub fn new(manifest: &Manifest, limits: &SandboxLimits) -> Prepared {
        Prepared {
            limits: limits.clone(),
            realm: Live::build(manifest, limits),
            used: false,
        }
    }

    /// Transpiles the agent's TypeScript and runs it in this realm. The compiler runs here,
    /// on the sandbox's side of the process boundary and under the run's limits (CPU time,
    /// memory, deadline), because it has failed on hostile input before (docs/SECURITY.md):
    /// whatever a script makes it do costs this execution only. A compile error is the
    /// outcome's `transpile_error`; a run's error position is mapped back to the TypeScript.
    pub fn run_source(
        &mut self,
        source: &str,
        limits: &TranspileLimits,
        bridge: &mut dyn Bridge,
    ) -> Outcome {
        let transpiled = match transpile::transpile(source, limits) {
            Ok(t) => t,
            Err(e) => {
                return Outcome {
                    transpile_error: Some(e),
                    ..Outcome::default()
                };
            }
        };
        let mut outcome = self.run(&transpiled.js, bridge);
        if let Some(err) = &mut outcome.error
            && let (Some(l), Some(c)) = (err.js_line, err.js_column)
            && let Some((line, column)) = transpiled.original_position(l, c)
        {
            err.line = Some(line);
            err.column = Some(column);
            err.snippet = transpiled.snippet(line, column);
        }
        outcome
    }

    /// Runs `js` in this realm. A realm runs one program: a second call reports
    /// `ENGINE_ERROR` without running anything.
    pub fn run(&mut self, js: &str, bridge: &mut dyn Bridge) -> Outcome {
        if std::mem::replace(&mut self.used, true) {
            return Outcome {
                error: Some(SandboxError::new(
                    codes::ENGINE_ERROR,
                    "this realm has already run a program",
                )),
                ..Outcome::default()
            };
        }
        let live = match &mut self.realm {
            Ok(live) => live,
            Err(e) => {
                return Outcome {
                    error: Some(e.clone()),
                    ..Outcome::default()
                };
            }
        };
        let mut runner = Runner {
            bridge,
            limits: self.limits.clone(),
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            runner.run_in(
                &mut live.context,
                &live.jobs,
                &live.signals,
                &live.st,
                &live.converter,
                js,
            )
        }));
        let mut outcome = match result {
            Ok(o) => o,
            Err(_) => {
                // A Boa internal assertion fired (e.g. an engine error inside an async
                // generator). Report the limit that caused it when we can tell.
                live.poisoned = true;
                let mut outcome = Outcome::default();
                if let Ok(mut s) = live.st.try_borrow_mut() {
                    outcome.error = s.abort.take();
                }
                if outcome.error.is_none() {
                    outcome.error = Some(if live.context.instructions_remaining() == 0 {
                        runner.instruction_error()
                    } else {
                        SandboxError::new(
                            codes::ENGINE_ERROR,
                            "the JavaScript engine hit an internal error (often: a limit was \
                             hit inside an async generator); the run was abandoned",
                        )
                    });
                }
                outcome
            }
        };
        if let Ok(mut s) = live.st.try_borrow_mut() {
            outcome.logs = std::mem::take(&mut s.logs);
            outcome.tool_calls = s.tool_calls;
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Bridge for Echo {
        fn submit(&mut self, _: u64, _: &str, _: Value) -> Result<(), String> {
            Ok(())
        }
        fn wait(&mut self) -> Option<(u64, Result<Value, Value>)> {
            None
        }
    }

    #[test]
    fn plain_values() {
        let o = run(
            "(async () => ({a: 1, b: [1, 'x', null], c: undefined}))()",
            &Manifest::default(),
            &SandboxLimits::default(),
            &mut Echo,
        );
        assert_eq!(o.error, None);
        assert_eq!(
            o.result,
            Some(serde_json::json!({"a": 1, "b": [1, "x", null]}))
        );
    }
}
