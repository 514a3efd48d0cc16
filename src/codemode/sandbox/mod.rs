//! The Code Mode JavaScript engine: runs one already-transpiled program in a fresh Boa realm.
//!
//! The program is an expression (normally `(async () => { ... })()`) that evaluates to a
//! promise. [`run`] builds a new [`Context`] (no state survives between runs), installs the
//! `pg` and `console` globals from `js-prelude/prelude.js`, evaluates the program, then drives
//! the promise job queue itself: it runs jobs while there are any, blocks in
//! [`Bridge::wait`] when only `pg.*` calls are outstanding, and stops when the root promise
//! settles, a limit is hit, or nothing can make progress.
//!
//! # Realm hardening
//! * `eval`, `Function`, and the (async) (generator) function constructors — however they are
//!   reached — refuse to compile strings ([`HostHooks::ensure_can_compile_strings`]).
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

use std::{
    cell::{Cell, RefCell},
    collections::{HashMap, VecDeque},
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    rc::Rc,
    task::{Context as TaskContext, Poll, Waker},
};

use boa_engine::{
    Context, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue, Script, Source,
    builtins::promise::{PromiseState, ResolvingFunctions},
    context::{ContextBuilder, HostHooks},
    error::{EngineError, RuntimeLimitError},
    job::{Job, JobCallback, JobExecutor},
    js_string,
    module::IdleModuleLoader,
    native_function::{NativeFunction, NativeFunctionObject},
    object::{
        FunctionObjectBuilder, ObjectInitializer,
        builtins::{JsArray, JsPromise},
    },
    property::{Attribute, PropertyKey},
    realm::Realm,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::convert::{self, ConvertOptions, Converter};

/// The prelude that builds `pg` and `console`.
const PRELUDE: &str = include_str!("../../../js-prelude/prelude.js");

/// Largest ArrayBuffer the sandbox may allocate.
pub const MAX_BUFFER_BYTES: u64 = 64 * 1024 * 1024;

/// Longest `message` of a reported error, in bytes: error text goes back to the client like a
/// result does and must stay bounded like one (a script can throw a 100 MB message).
pub const MAX_ERROR_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest `name` of a reported error, in bytes.
pub const MAX_ERROR_NAME_BYTES: usize = 256;

/// Largest serialized argument object of one `pg.*` call.
pub const MAX_ARGS_BYTES: usize = 8 * 1024 * 1024;

/// Instructions granted on top of the user's budget for the prelude itself (its actual use
/// is a few hundred instructions per manifest entry).
const PRELUDE_BASE_ALLOWANCE: u64 = 100_000;
const PRELUDE_PER_ENTRY_ALLOWANCE: u64 = 2_000;

/// Instructions charged for every promise job on top of the bytecode it runs. A job whose
/// callbacks are all native runs no bytecode at all, and a cycle of such jobs (a thenable whose
/// `then` is `Promise.prototype.then` bound to a promise fulfilled with that thenable) would
/// otherwise never use up the budget.
const JOB_COST: u64 = 16;

/// Source name of the user program in stack traces (`at f (script.js:3:7)`).
const SCRIPT_NAME: &str = "script.js";
const PRELUDE_NAME: &str = "pgmcp-prelude.js";

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
    pub const JS_ERROR: &str = "JS_ERROR";
    pub const LOOP_LIMIT: &str = "LOOP_LIMIT";
    pub const RECURSION_LIMIT: &str = "RECURSION_LIMIT";
    pub const INSTRUCTION_LIMIT: &str = "INSTRUCTION_LIMIT";
    pub const TOOL_CALL_LIMIT: &str = "TOOL_CALL_LIMIT";
    /// Reserved: `max_in_flight` queues calls instead of failing them.
    pub const IN_FLIGHT_LIMIT: &str = "IN_FLIGHT_LIMIT";
    pub const RESULT_TOO_LARGE: &str = "RESULT_TOO_LARGE";
    pub const UNSETTLED: &str = "UNSETTLED";
    pub const BRIDGE_CLOSED: &str = "BRIDGE_CLOSED";
    /// The engine itself failed (an internal assertion); the run was abandoned.
    pub const ENGINE_ERROR: &str = "ENGINE_ERROR";
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
    pub code: String,
    /// JS error name (`TypeError`, `PgError`, ...) for `JS_ERROR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub message: String,
    /// Position in the transpiled JavaScript, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_column: Option<u32>,
    /// For limit errors: which limit and the flag that raises it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Extra fields of a thrown error object (e.g. a tool error's `code`, `sqlstate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl SandboxError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            name: None,
            message: message.into(),
            js_line: None,
            js_column: None,
            limit: None,
            details: None,
        }
    }

    fn limit(code: &str, message: impl Into<String>, limit: String) -> Self {
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
}

// ---------------------------------------------------------------------------------------------
// Host hooks, job queue
// ---------------------------------------------------------------------------------------------

/// Counters the hooks and the executor share with the run loop.
#[derive(Default)]
struct Signals {
    /// `make_job_callback` calls (a promise reaction was registered).
    reactions: Cell<u64>,
    /// Jobs enqueued.
    enqueued: Cell<u64>,
    /// An `await` continuation ran a lot of code and left nothing behind: the async
    /// function most likely died of a swallowed engine error.
    suspect_swallowed: Cell<bool>,
}

struct SandboxHooks {
    signals: Rc<Signals>,
    /// Lift the loop limit inside native job callbacks (`await` continuations), where Boa
    /// would swallow the error; only when an instruction budget backs it up.
    relax_loops_in_continuations: bool,
    /// Instructions an `await` continuation must consume, leaving nothing behind, to be
    /// suspected of a swallowed engine error.
    suspect_threshold: usize,
}

impl HostHooks for SandboxHooks {
    fn make_job_callback(
        &self,
        callback: boa_engine::object::builtins::JsFunction,
        _context: &mut Context,
    ) -> JobCallback {
        self.signals.reactions.set(self.signals.reactions.get() + 1);
        JobCallback::new(callback, ())
    }

    fn call_job_callback(
        &self,
        job: &JobCallback,
        this: &JsValue,
        args: &[JsValue],
        context: &mut Context,
    ) -> JsResult<JsValue> {
        let callback = job.callback();
        // Boa-internal closures (await continuations, resolving functions, Promise.all
        // elements) are native; user callbacks are ordinary/bound functions whose engine
        // errors propagate out of the job normally.
        if !callback.is::<NativeFunctionObject>() {
            return callback.call(this, args, context);
        }
        let before_instr = context.instructions_remaining();
        let before_reactions = self.signals.reactions.get();
        let before_enqueued = self.signals.enqueued.get();
        let result = if self.relax_loops_in_continuations {
            let prev = context.runtime_limits().loop_iteration_limit();
            context
                .runtime_limits_mut()
                .set_loop_iteration_limit(u64::MAX);
            let r = callback.call(this, args, context);
            context.runtime_limits_mut().set_loop_iteration_limit(prev);
            r
        } else {
            callback.call(this, args, context)
        };
        let used = before_instr.saturating_sub(context.instructions_remaining());
        if used >= self.suspect_threshold
            && self.signals.reactions.get() == before_reactions
            && self.signals.enqueued.get() == before_enqueued
        {
            self.signals.suspect_swallowed.set(true);
        }
        result
    }

    fn ensure_can_compile_strings(
        &self,
        _realm: Realm,
        _parameters: &[JsString],
        _body: &JsString,
        _direct: bool,
        _context: &mut Context,
    ) -> JsResult<()> {
        Err(JsNativeError::eval()
            .with_message("code generation from strings is disabled in Code Mode")
            .into())
    }

    fn local_timezone_offset_seconds(&self, _unix_time_seconds: i64) -> i32 {
        0
    }

    fn max_buffer_size(&self, _context: &mut Context) -> u64 {
        MAX_BUFFER_BYTES
    }
}

/// FIFO job queue; the run loop drains it. Timers and finalization jobs are dropped (the
/// sandbox has neither).
#[derive(Default)]
struct JobQueue {
    jobs: RefCell<VecDeque<Job>>,
    signals: Rc<Signals>,
}

impl JobQueue {
    fn pop(&self) -> Option<Job> {
        self.jobs.borrow_mut().pop_front()
    }

    fn clear(&self) {
        // Dropping jobs can drop GC objects; do it outside the borrow.
        let jobs = std::mem::take(&mut *self.jobs.borrow_mut());
        drop(jobs);
    }
}

impl JobExecutor for JobQueue {
    fn enqueue_job(self: Rc<Self>, job: Job, _context: &mut Context) {
        match job {
            Job::PromiseJob(_) | Job::GenericJob(_) | Job::AsyncJob(_) => {
                self.signals.enqueued.set(self.signals.enqueued.get() + 1);
                self.jobs.borrow_mut().push_back(job);
            }
            _ => {}
        }
    }

    fn run_jobs(self: Rc<Self>, context: &mut Context) -> JsResult<()> {
        while let Some(job) = self.pop() {
            run_job(job, context)?;
        }
        Ok(())
    }
}

/// Runs one job. Async jobs (dynamic `import()` with the idle loader) complete without
/// waiting; one that would wait is abandoned.
fn run_job(job: Job, context: &mut Context) -> JsResult<()> {
    match job {
        Job::PromiseJob(job) => job.call(context).map(drop),
        Job::GenericJob(job) => job.call(context).map(drop),
        Job::AsyncJob(job) => {
            let cell = RefCell::new(context);
            let mut fut = job.call(&cell);
            let mut cx = TaskContext::from_waker(Waker::noop());
            for _ in 0..64 {
                if let Poll::Ready(r) = std::pin::Pin::new(&mut fut).poll(&mut cx) {
                    return r.map(drop);
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-run state shared with the natives
// ---------------------------------------------------------------------------------------------

struct QueuedCall {
    id: u64,
    tool: String,
    args: Value,
}

struct State {
    limits: SandboxLimits,
    next_id: u64,
    tool_calls: u32,
    in_flight: u32,
    queued: VecDeque<QueuedCall>,
    pending: HashMap<u64, ResolvingFunctions>,
    logs: Vec<LogEntry>,
    log_bytes: usize,
    logs_truncated: bool,
    /// The first limit hit recorded by the host; wins over whatever JS did afterwards.
    abort: Option<SandboxError>,
    converter: Rc<Converter>,
}

#[derive(Clone)]
struct StateHandle(Rc<RefCell<State>>);

fn state(context: &Context) -> Rc<RefCell<State>> {
    context
        .get_data::<StateHandle>()
        .map(|h| h.0.clone())
        .expect("sandbox state is installed before any native runs")
}

/// An error user code cannot catch: unwinds JS to the job boundary. The real reason is
/// recorded in `State::abort` first.
fn uncatchable() -> JsError {
    EngineError::from(RuntimeLimitError::LoopIteration).into()
}

/// `natives.call(tool, argsJson)`: queue a call, return its promise.
fn native_call(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let st = state(context);
    let tool = args
        .first()
        .and_then(JsValue::as_string)
        .map(|s| s.to_std_string_lossy())
        .unwrap_or_default();
    {
        let mut s = st.borrow_mut();
        if s.abort.is_some() {
            return Err(uncatchable());
        }
        if s.tool_calls >= s.limits.max_tool_calls {
            s.tool_calls = s.tool_calls.saturating_add(1);
            let max = s.limits.max_tool_calls;
            s.abort = Some(SandboxError::limit(
                codes::TOOL_CALL_LIMIT,
                format!("more than {max} pg.* calls in one run"),
                format!("max tool calls ({max}); raise with {}", flags::TOOL_CALLS),
            ));
            return Err(uncatchable());
        }
        s.tool_calls += 1;
    }
    let json = args
        .get(1)
        .and_then(JsValue::as_string)
        .map(|s| s.to_std_string_lossy())
        .unwrap_or_else(|| "{}".into());
    if json.len() > MAX_ARGS_BYTES {
        let err = JsNativeError::range()
            .with_message(format!(
                "{tool}: arguments are {} bytes of JSON; the limit is {MAX_ARGS_BYTES}",
                json.len()
            ))
            .into_opaque(context);
        return Ok(JsPromise::reject(JsError::from_opaque(err.into()), context)?.into());
    }
    let parsed: Value = match serde_json::from_str(&json) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let err = JsNativeError::typ()
                .with_message(format!(
                    "{tool}: arguments must be an object (or a single string for the primary parameter)"
                ))
                .into_opaque(context);
            return Ok(JsPromise::reject(JsError::from_opaque(err.into()), context)?.into());
        }
    };
    let (promise, resolvers) = JsPromise::new_pending(context);
    let mut s = st.borrow_mut();
    let id = s.next_id;
    s.next_id += 1;
    s.pending.insert(id, resolvers);
    s.queued.push_back(QueuedCall {
        id,
        tool,
        args: parsed,
    });
    Ok(promise.into())
}

/// `natives.log(level, argsArray)`.
fn native_log(_this: &JsValue, args: &[JsValue], context: &mut Context) -> JsResult<JsValue> {
    let st = state(context);
    let (remaining, max_depth, converter) = {
        let s = st.borrow();
        if s.logs_truncated || s.abort.is_some() {
            return Ok(JsValue::undefined());
        }
        (
            s.limits.max_log_bytes.saturating_sub(s.log_bytes),
            s.limits.max_depth,
            s.converter.clone(),
        )
    };
    let level = args
        .first()
        .and_then(JsValue::as_string)
        .map(|s| s.to_std_string_lossy())
        .unwrap_or_else(|| "log".into());
    let items = match args.get(1).and_then(JsValue::as_object) {
        Some(arr) => {
            let arr = JsArray::from_object(arr)?;
            let len = arr.length(context)?;
            let mut v = Vec::with_capacity(len.min(64) as usize);
            for i in 0..len {
                v.push(arr.get(i, context)?);
            }
            v
        }
        None => Vec::new(),
    };
    let mut message = String::new();
    for (i, item) in items.iter().enumerate() {
        if message.len() > remaining {
            break;
        }
        if i > 0 {
            message.push(' ');
        }
        if let Some(s) = item.as_string() {
            message.push_str(&s.to_std_string_lossy());
            continue;
        }
        if let Some(obj) = item.as_object()
            && obj.is::<boa_engine::builtins::error::Error>()
        {
            message.push_str(&convert::describe_value_short(item, context));
            continue;
        }
        let opts = ConvertOptions {
            max_depth,
            max_bytes: remaining.saturating_add(64),
        };
        let converted = converter.convert(item, opts, context)?;
        match converted.value {
            Value::String(s) => message.push_str(&s),
            v => message.push_str(&serde_json::to_string(&v).unwrap_or_default()),
        }
    }
    let mut s = st.borrow_mut();
    push_log(&mut s, level, message);
    Ok(JsValue::undefined())
}

fn push_log(s: &mut State, level: String, mut message: String) {
    if s.logs_truncated {
        return;
    }
    let remaining = s.limits.max_log_bytes.saturating_sub(s.log_bytes);
    if s.logs.len() >= s.limits.max_log_entries || message.len() > remaining {
        if s.logs.len() < s.limits.max_log_entries && remaining > 0 {
            let mut end = remaining;
            while end > 0 && !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            s.log_bytes += message.len();
            s.logs.push(LogEntry { level, message });
        }
        s.logs_truncated = true;
        s.logs.push(LogEntry {
            level: "warn".into(),
            message: "[logs truncated]".into(),
        });
        return;
    }
    s.log_bytes += message.len();
    s.logs.push(LogEntry { level, message });
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

struct Live {
    /// `ManuallyDrop`: a context left inconsistent by an engine panic is leaked instead.
    context: std::mem::ManuallyDrop<Context>,
    jobs: Rc<JobQueue>,
    signals: Rc<Signals>,
    st: Rc<RefCell<State>>,
    converter: Rc<Converter>,
    poisoned: bool,
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

impl Live {
    fn build(manifest: &Manifest, limits: &SandboxLimits) -> Result<Live, SandboxError> {
        let signals = Rc::new(Signals::default());
        let jobs = Rc::new(JobQueue {
            jobs: RefCell::default(),
            signals: signals.clone(),
        });
        let hooks = Rc::new(SandboxHooks {
            signals: signals.clone(),
            relax_loops_in_continuations: limits.instruction_budget.is_some(),
            suspect_threshold: limits.recursion.max(64),
        });
        let allowance = PRELUDE_BASE_ALLOWANCE
            + PRELUDE_PER_ENTRY_ALLOWANCE
                * (manifest.entries.len() + manifest.aliases.len()) as u64;
        let budget = match limits.instruction_budget {
            Some(b) => usize::try_from(b.saturating_add(allowance)).unwrap_or(usize::MAX),
            None => usize::MAX,
        };
        let engine_failed =
            || SandboxError::new(codes::ENGINE_ERROR, "the JavaScript engine failed to start");
        let built = catch_unwind(AssertUnwindSafe(|| {
            ContextBuilder::new()
                .host_hooks(hooks)
                .job_executor(jobs.clone())
                .module_loader(Rc::new(IdleModuleLoader))
                .instructions_remaining(budget)
                .build()
        }));
        let mut context = match built {
            Ok(Ok(c)) => std::mem::ManuallyDrop::new(c),
            _ => return Err(engine_failed()),
        };
        let set_up = catch_unwind(AssertUnwindSafe(|| {
            set_up_realm(&mut context, manifest, limits)
        }));
        match set_up {
            Ok(Ok((st, converter))) => Ok(Live {
                context,
                jobs,
                signals,
                st,
                converter,
                poisoned: false,
            }),
            Ok(Err(msg)) => {
                jobs.clear();
                let context = std::mem::ManuallyDrop::into_inner(context);
                let _ = catch_unwind(AssertUnwindSafe(|| drop(context)));
                Err(SandboxError::new(codes::ENGINE_ERROR, msg))
            }
            // The context may be inconsistent: it is leaked (never dropped).
            Err(_) => Err(engine_failed()),
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.poisoned {
            // The context may be inconsistent: do not run its destructors.
            return;
        }
        // Release GC roots held by the host before the context goes away.
        self.jobs.clear();
        if let Some(h) = self.context.remove_data::<StateHandle>()
            && let Ok(mut s) = h.0.try_borrow_mut()
        {
            s.pending.clear();
        }
        // SAFETY: the context is dropped once, here, and never used again.
        let context = unsafe { std::mem::ManuallyDrop::take(&mut self.context) };
        if catch_unwind(AssertUnwindSafe(|| drop(context))).is_err() {
            // Leaked; nothing else to do.
        }
        // Free this run's objects now rather than at some later run's allocation.
        let _ = catch_unwind(boa_engine::gc::force_collect);
    }
}

/// Limits, host state, hardening and the prelude: everything a realm needs before user code.
fn set_up_realm(
    context: &mut Context,
    manifest: &Manifest,
    limits: &SandboxLimits,
) -> Result<(Rc<RefCell<State>>, Rc<Converter>), String> {
    {
        let rl = context.runtime_limits_mut();
        rl.set_loop_iteration_limit(limits.loop_iterations);
        rl.set_recursion_limit(limits.recursion);
        rl.set_stack_size_limit((limits.recursion.saturating_mul(256)).max(10 * 1024));
    }
    let converter = Rc::new(Converter::new(context));
    let st = Rc::new(RefCell::new(State::new(limits, converter.clone())));
    context.insert_data(StateHandle(st.clone()));
    harden_realm(context).and_then(|()| install_prelude(context, manifest))?;
    Ok((st, converter))
}

impl State {
    fn new(limits: &SandboxLimits, converter: Rc<Converter>) -> State {
        State {
            limits: limits.clone(),
            next_id: 1,
            tool_calls: 0,
            in_flight: 0,
            queued: VecDeque::new(),
            pending: HashMap::new(),
            logs: Vec::new(),
            log_bytes: 0,
            logs_truncated: false,
            abort: None,
            converter,
        }
    }
}

struct Runner<'b> {
    bridge: &'b mut dyn Bridge,
    limits: SandboxLimits,
}

/// How a step (evaluation or job) ended.
enum Step {
    Ok,
    /// Stop the run with this error.
    Stop(SandboxError),
}

impl Runner<'_> {
    fn instruction_error(&self) -> SandboxError {
        let max = self.limits.instruction_budget.unwrap_or(0);
        SandboxError::limit(
            codes::INSTRUCTION_LIMIT,
            format!("the script used its whole instruction budget ({max} instructions)"),
            format!(
                "instruction budget ({max}); raise with {}",
                flags::INSTRUCTIONS
            ),
        )
    }

    fn engine_error(&self, err: &EngineError) -> SandboxError {
        match err {
            EngineError::RuntimeLimit(RuntimeLimitError::LoopIteration) => {
                let max = self.limits.loop_iterations;
                SandboxError::limit(
                    codes::LOOP_LIMIT,
                    format!("a loop ran more than {max} iterations in one function call"),
                    format!(
                        "loop iterations per function call ({max}); raise with {}",
                        flags::LOOP_ITERATIONS
                    ),
                )
            }
            EngineError::RuntimeLimit(_) => {
                let max = self.limits.recursion;
                SandboxError::limit(
                    codes::RECURSION_LIMIT,
                    format!("maximum call depth ({max}) exceeded"),
                    format!("call depth ({max}); raise with {}", flags::RECURSION),
                )
            }
            EngineError::NoInstructionsRemain => self.instruction_error(),
            _ => SandboxError::new(
                codes::ENGINE_ERROR,
                "the JavaScript engine hit an internal error",
            ),
        }
    }

    /// Interprets the result of running JS for `ms` (evaluation, a job, a settlement).
    fn check(&self, r: JsResult<()>, context: &mut Context) -> Step {
        let st = state(context);
        if let Some(abort) = st.borrow().abort.clone() {
            return Step::Stop(abort);
        }
        if context.instructions_remaining() == 0 {
            return Step::Stop(self.instruction_error());
        }
        match r {
            Ok(()) => Step::Ok,
            Err(err) => match err.as_engine() {
                Some(e) => Step::Stop(self.engine_error(e)),
                None => Step::Stop(js_error(&err, context)),
            },
        }
    }

    fn run_in(
        &mut self,
        context: &mut Context,
        jobs: &Rc<JobQueue>,
        signals: &Rc<Signals>,
        st: &Rc<RefCell<State>>,
        converter: &Rc<Converter>,
        js: &str,
    ) -> Outcome {
        let (st, converter) = (st.clone(), converter.clone());
        let mut outcome = Outcome::default();

        // Evaluate the program.
        let root = match Script::parse(
            Source::from_bytes(js).with_path(Path::new(SCRIPT_NAME)),
            None,
            context,
        )
        .and_then(|script| script.evaluate(context))
        {
            Ok(v) => v,
            Err(err) => {
                let step = self.check(Err(err), context);
                let Step::Stop(e) = step else { unreachable!() };
                outcome.error = Some(e);
                return outcome;
            }
        };
        if let Step::Stop(e) = self.check(Ok(()), context) {
            outcome.error = Some(e);
            return outcome;
        }
        let root_promise = root.as_promise();

        // The event loop.
        // A program that did not evaluate to a promise is its own result.
        let mut jobs_run: u64 = 0;
        while let Some(p) = &root_promise {
            if !matches!(p.state(), PromiseState::Pending) {
                break;
            }
            self.flush(context, &st);
            if let Some(job) = jobs.pop() {
                let r = run_job(job, context);
                context.clear_kept_objects();
                if let Step::Stop(e) = self.check(r, context) {
                    outcome.error = Some(e);
                    return outcome;
                }
                // Bytecode used plus JOB_COST per job must stay within the budget.
                jobs_run += 1;
                if self.limits.instruction_budget.is_some()
                    && jobs_run.saturating_mul(JOB_COST) >= context.instructions_remaining() as u64
                {
                    outcome.error = Some(self.instruction_error());
                    return outcome;
                }
                continue;
            }
            let in_flight = st.borrow().in_flight;
            if in_flight > 0 {
                match self.bridge.wait() {
                    Some((id, result)) => {
                        let r = settle(context, &st, id, result);
                        if let Step::Stop(e) = self.check(r, context) {
                            outcome.error = Some(e);
                            return outcome;
                        }
                    }
                    None => {
                        outcome.error = Some(SandboxError::new(
                            codes::BRIDGE_CLOSED,
                            "the connection to the tool host closed while pg.* calls were pending",
                        ));
                        return outcome;
                    }
                }
                continue;
            }
            if !st.borrow().queued.is_empty() {
                continue;
            }
            // Nothing can progress and the root promise is still pending.
            let mut e = SandboxError::new(
                codes::UNSETTLED,
                "the script's promise never settled — did you forget an await? (an await on a \
                 promise that is never resolved ends the run)",
            );
            if signals.suspect_swallowed.get() && self.limits.instruction_budget.is_some() {
                // With a budget, loops are not limited inside await continuations, so an
                // async function that died there silently hit the call-depth limit.
                let max = self.limits.recursion;
                e = SandboxError::limit(
                    codes::RECURSION_LIMIT,
                    format!(
                        "maximum call depth ({max}) exceeded (after an await; the script's \
                         promise never settled)"
                    ),
                    format!("call depth ({max}); raise with {}", flags::RECURSION),
                );
            } else if signals.suspect_swallowed.get() {
                e.message = format!(
                    "the script's promise never settled: code after an await most likely hit the \
                     call-depth limit ({}; raise with {}) or the loop limit ({}; {}), which cannot \
                     be reported precisely there",
                    self.limits.recursion,
                    flags::RECURSION,
                    self.limits.loop_iterations,
                    flags::LOOP_ITERATIONS
                );
            }
            outcome.error = Some(e);
            return outcome;
        }

        let value = match root_promise.map(|p| p.state()) {
            Some(PromiseState::Fulfilled(v)) => v,
            Some(PromiseState::Rejected(reason)) => {
                outcome.error = Some(js_error(&JsError::from_opaque(reason), context));
                return outcome;
            }
            Some(PromiseState::Pending) => unreachable!("loop exits only when settled"),
            None => root,
        };
        self.finish_result(value, &converter, context, &mut outcome);
        outcome
    }

    fn finish_result(
        &self,
        value: JsValue,
        converter: &Converter,
        context: &mut Context,
        outcome: &mut Outcome,
    ) {
        let max = self.limits.max_result_bytes;
        // Convert up to a hard ceiling; beyond it the size is a lower bound.
        let ceiling = max.saturating_mul(8).max(8 * 1024 * 1024);
        let opts = ConvertOptions {
            max_depth: self.limits.max_depth,
            max_bytes: ceiling,
        };
        let converted = match converter.convert(&value, opts, context) {
            Ok(c) => c,
            Err(err) => {
                outcome.error = match self.check(Err(err), context) {
                    Step::Stop(e) => Some(e),
                    Step::Ok => None,
                };
                return;
            }
        };
        if let Step::Stop(e) = self.check(Ok(()), context) {
            outcome.error = Some(e);
            return;
        }
        let size = serde_json::to_string(&converted.value)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > max || converted.truncated {
            outcome.result = Some(convert::shrink_to_fit(&converted.value, max));
            outcome.result_truncated = Some(TruncationInfo {
                original_bytes: size.max(converted.approx_bytes),
                max_bytes: max,
                exact: !converted.truncated,
            });
        } else {
            outcome.result = Some(converted.value);
        }
    }

    /// Submits queued calls while the in-flight window has room.
    fn flush(&mut self, context: &mut Context, st: &Rc<RefCell<State>>) {
        loop {
            let call = {
                let mut s = st.borrow_mut();
                if s.in_flight >= s.limits.max_in_flight.max(1) {
                    return;
                }
                match s.queued.pop_front() {
                    Some(c) => c,
                    None => return,
                }
            };
            match self.bridge.submit(call.id, &call.tool, call.args) {
                Ok(()) => st.borrow_mut().in_flight += 1,
                Err(msg) => {
                    // Reject just this call; the promise jobs run in the loop.
                    st.borrow_mut().in_flight += 1;
                    let err = serde_json::json!({
                        "error": msg,
                        "code": "BRIDGE_ERROR",
                        "recoverable": false,
                    });
                    let _ = settle(context, st, call.id, Err(err));
                }
            }
        }
    }
}

/// Settles call `id` with a bridge result.
fn settle(
    context: &mut Context,
    st: &Rc<RefCell<State>>,
    id: u64,
    result: Result<Value, Value>,
) -> JsResult<()> {
    let resolvers = {
        let mut s = st.borrow_mut();
        let Some(r) = s.pending.remove(&id) else {
            return Ok(());
        };
        s.in_flight = s.in_flight.saturating_sub(1);
        r
    };
    match result {
        Ok(value) => {
            let js = JsValue::from_json(&value, context)?;
            resolvers
                .resolve
                .call(&JsValue::undefined(), &[js], context)?;
        }
        Err(err) => {
            let obj = tool_error_object(&err, context)?;
            resolvers
                .reject
                .call(&JsValue::undefined(), &[obj.into()], context)?;
        }
    }
    Ok(())
}

/// A tool error as a JS `Error` named `PgError` with the tool error's fields as own
/// properties (`code`, `category`, `recoverable`, `suggestion`, `sqlstate`, ...).
fn tool_error_object(err: &Value, context: &mut Context) -> JsResult<JsObject> {
    let message = match err {
        Value::Object(m) => m
            .get("error")
            .or_else(|| m.get("message"))
            .and_then(Value::as_str)
            .map_or_else(|| "tool call failed".to_string(), str::to_string),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let obj = JsNativeError::error()
        .with_message(message)
        .into_opaque(context);
    obj.create_data_property_or_throw(js_string!("name"), js_string!("PgError"), context)?;
    if let Value::Object(m) = err {
        for (k, v) in m {
            if k == "success" || k == "error" || k == "message" || k == "name" || k == "stack" {
                continue;
            }
            let js = JsValue::from_json(v, context)?;
            obj.create_data_property_or_throw(JsString::from(k.as_str()), js, context)?;
        }
    }
    Ok(obj)
}

/// Removes host-ish globals.
fn harden_realm(context: &mut Context) -> Result<(), String> {
    let global = context.global_object();
    for name in [
        "SharedArrayBuffer",
        "Atomics",
        "WeakRef",
        "FinalizationRegistry",
        "Temporal",
    ] {
        global
            .delete_property_or_throw(PropertyKey::from(JsString::from(name)), context)
            .map_err(|_| format!("could not remove {name}"))?;
    }
    Ok(())
}

/// The manifest in the compact shape the prelude expects (see `js-prelude/prelude.js`),
/// with the `pg.help()` texts rendered here rather than in JS (the prelude is parsed on
/// every run, so it is kept small).
fn prelude_api(manifest: &Manifest) -> Value {
    let mut order: Vec<&str> = Vec::new();
    let mut by_group: HashMap<&str, Vec<&ManifestEntry>> = HashMap::new();
    for e in &manifest.entries {
        let list = by_group.entry(e.group.as_str()).or_default();
        if list.is_empty() {
            order.push(e.group.as_str());
        }
        list.push(e);
    }
    let groups: Vec<Value> = order
        .iter()
        .map(|g| {
            let methods: Vec<Value> = by_group[g]
                .iter()
                .map(|e| serde_json::json!([e.method, e.tool, e.primary]))
                .collect();
            serde_json::json!([g, methods])
        })
        .collect();
    let aliases: Vec<Value> = manifest
        .aliases
        .iter()
        .map(|a| serde_json::json!([a.name, a.tool, a.positional, a.shape]))
        .collect();

    let mut group_help = serde_json::Map::new();
    for g in &order {
        let mut text = format!(
            "pg.{g} methods (args is the tool's input object; a string maps to the primary \
             parameter):"
        );
        for e in &by_group[g] {
            let arg = match &e.primary {
                Some(p) => format!("args | {p}"),
                None => "args".to_string(),
            };
            text.push_str(&format!("\n  pg.{g}.{}({arg})  [{}]", e.method, e.tool));
        }
        let text = manifest.group_help.get(*g).cloned().unwrap_or(text);
        group_help.insert((*g).to_string(), Value::String(text));
    }
    let docs: Vec<Value> = manifest
        .docs
        .iter()
        .map(|d| serde_json::json!([d.key, d.summary, d.text]))
        .collect();
    let index = match &manifest.help_text {
        Some(t) => t.clone(),
        None => {
            let mut lines = vec![
                "pg.* API. Every call returns a Promise; await it.".to_string(),
                String::new(),
            ];
            if !manifest.aliases.is_empty() {
                lines.push("Shortcuts:".into());
                for a in &manifest.aliases {
                    lines.push(format!(
                        "  pg.{}({})  [{}]",
                        a.name,
                        a.positional.join(", "),
                        a.tool
                    ));
                }
                lines.push(String::new());
            }
            lines.push("Groups (pg.help('group') lists methods):".into());
            for g in &order {
                let names: Vec<&str> = by_group[g].iter().map(|e| e.method.as_str()).collect();
                lines.push(format!("  {g}: {}", names.join(", ")));
            }
            lines.join("\n")
        }
    };
    serde_json::json!({
        "groups": groups,
        "aliases": aliases,
        "help": {
            "index": index,
            "known": format!("Groups: {}", order.join(", ")),
            "groups": group_help,
            "docs": docs,
        },
    })
}

/// Evaluates the prelude and calls it with the natives and the manifest.
fn install_prelude(context: &mut Context, manifest: &Manifest) -> Result<(), String> {
    let setup = Script::parse(
        Source::from_bytes(PRELUDE).with_path(Path::new(PRELUDE_NAME)),
        None,
        context,
    )
    .and_then(|s| s.evaluate(context))
    .map_err(|e| format!("prelude failed to load: {e}"))?;
    let setup = setup
        .as_function()
        .ok_or_else(|| "prelude did not evaluate to a function".to_string())?;

    let call =
        FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(native_call))
            .name(js_string!("call"))
            .length(2)
            .build();
    let log = FunctionObjectBuilder::new(context.realm(), NativeFunction::from_fn_ptr(native_log))
        .name(js_string!("log"))
        .length(2)
        .build();
    let natives = ObjectInitializer::new(context)
        .property(js_string!("call"), call, Attribute::empty())
        .property(js_string!("log"), log, Attribute::empty())
        .build();
    let manifest_js = JsValue::from_json(&prelude_api(manifest), context)
        .map_err(|e| format!("manifest: {e}"))?;
    setup
        .call(
            &JsValue::undefined(),
            &[natives.into(), manifest_js],
            context,
        )
        .map_err(|e| format!("prelude setup failed: {e}"))?;
    Ok(())
}

/// A thrown JS value as a `JS_ERROR`, its name and message cut to a bounded size.
fn js_error(err: &JsError, context: &mut Context) -> SandboxError {
    let mut e = js_error_full(err, context);
    cap_text(&mut e.message, MAX_ERROR_MESSAGE_BYTES);
    if let Some(name) = &mut e.name {
        cap_text(name, MAX_ERROR_NAME_BYTES);
    }
    e
}

/// Cuts `s` to at most `max` bytes (on a character boundary) and says so.
fn cap_text(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let total = s.len();
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&format!("… [truncated, {total} bytes in all]"));
}

fn js_error_full(err: &JsError, context: &mut Context) -> SandboxError {
    let mut e = SandboxError::new(codes::JS_ERROR, "");
    if let Some(native) = err.as_native() {
        e.name = Some(convert::native_kind_name(native).to_string());
        e.message = native.message().to_string();
        if let Some((line, col)) = position_in_message(&e.message) {
            e.js_line = Some(line);
            e.js_column = Some(col);
        }
    }
    // Thrown values (and native errors turned into objects) carry a stack with positions.
    let value = match err.as_opaque() {
        Some(v) => Some(v.clone()),
        None => err.clone().into_opaque(context).ok(),
    };
    let Some(value) = value else {
        return e;
    };
    match value.as_object() {
        Some(obj) if obj.is::<boa_engine::builtins::error::Error>() => {
            if let Some(name) = convert::get_string(&obj, "name", context) {
                e.name = Some(name);
            }
            if let Some(message) = convert::get_string(&obj, "message", context) {
                e.message = message;
            }
            if let Some(stack) = convert::get_string(&obj, "stack", context)
                && let Some((line, col)) = position_in_stack(&stack)
            {
                e.js_line = Some(line);
                e.js_column = Some(col);
            }
            // Extra own fields (a PgError's code, sqlstate, ...).
            let converter = host_converter(context);
            let opts = ConvertOptions {
                max_depth: 4,
                max_bytes: 8 * 1024,
            };
            if let Ok(c) = converter.convert(&value, opts, context)
                && let Value::Object(mut m) = c.value
            {
                m.remove("name");
                m.remove("message");
                if !m.is_empty() {
                    e.details = Some(Value::Object(m));
                }
            }
        }
        _ => {
            // `throw "text"`, `throw {code: 1}`, ...
            e.name = None;
            e.message = format!(
                "Uncaught {}",
                convert::describe_value_short(&value, context)
            );
            if value.is_object() {
                let converter = host_converter(context);
                let opts = ConvertOptions {
                    max_depth: 4,
                    max_bytes: 8 * 1024,
                };
                if let Ok(c) = converter.convert(&value, opts, context) {
                    e.message = format!(
                        "Uncaught {}",
                        serde_json::to_string(&c.value).unwrap_or_default()
                    );
                }
            }
        }
    }
    e
}

/// The converter captured before user code ran (so a replaced `Object.keys` is not used).
fn host_converter(context: &mut Context) -> Rc<Converter> {
    match context.get_data::<StateHandle>() {
        Some(h) => h.0.borrow().converter.clone(),
        None => Rc::new(Converter::new(context)),
    }
}

/// First `(script.js:L:C)` frame of an error's stack.
fn position_in_stack(stack: &str) -> Option<(u32, u32)> {
    let marker = format!("{SCRIPT_NAME}:");
    for line in stack.lines() {
        if let Some(i) = line.find(&marker) {
            let rest = &line[i + marker.len()..];
            let mut parts = rest.trim_end_matches(')').split(':');
            let l = parts.next()?.parse().ok()?;
            let c = parts.next()?.trim_end_matches(')').parse().ok()?;
            return Some((l, c));
        }
    }
    None
}

/// `... at line L, col C` in a parser error message.
fn position_in_message(message: &str) -> Option<(u32, u32)> {
    let i = message.rfind("line ")?;
    let rest = &message[i + 5..];
    let (l, rest) = rest.split_once(',')?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("col ")
        .or_else(|| rest.strip_prefix("column "))?;
    let c: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((l.trim().parse().ok()?, c.parse().ok()?))
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

    #[test]
    fn stack_position_parse() {
        assert_eq!(
            position_in_stack("    at f (script.js:3:7)\n    at <main> (script.js:1:1)\n"),
            Some((3, 7))
        );
        assert_eq!(
            position_in_message("unexpected token at line 4, col 12"),
            Some((4, 12))
        );
    }
}
