//! transpile → guard → run on a big-stack thread → check.
//!
//! Every check that fails panics on the fuzzing thread with a message starting with
//! `pgmcp fuzz finding:`; libFuzzer's panic hook turns that into an abort and saves the input.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex, Once};
use std::time::{Duration, Instant};

use pgmcp::codemode::JS_STACK_BYTES;
use pgmcp::codemode::sandbox::{self, Outcome, SandboxLimits, codes};
use pgmcp::codemode::transpile::{self, TranspileLimits};

use crate::bridge::{self, BridgeConfig, CANARY, FakeBridge};
use crate::guard;

/// Small budgets: a run costs milliseconds, and every limit is reachable by a short program.
pub fn limits(config: BridgeConfig) -> SandboxLimits {
    SandboxLimits {
        loop_iterations: 10_000,
        recursion: 200,
        instruction_budget: Some(200_000),
        max_tool_calls: 20,
        max_in_flight: if config.serial { 1 } else { 4 },
        max_result_bytes: 4096,
        max_log_bytes: 2048,
        max_log_entries: 32,
        max_depth: 16,
    }
}

/// A panic the sandbox caught (it turns them into `ENGINE_ERROR` or the limit that caused
/// them) — recorded by our panic hook so the harness can judge it.
#[derive(Debug, Clone)]
pub struct CaughtPanic {
    pub location: String,
    pub message: String,
}

thread_local! {
    static IN_SANDBOX: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Vec<CaughtPanic>> = const { RefCell::new(Vec::new()) };
}

/// Counters printed when the fuzzer exits, so nothing the harness skips is silent.
#[derive(Default)]
struct Stats {
    inputs: AtomicU64,
    not_utf8: AtomicU64,
    transpile_errors: AtomicU64,
    skipped: [AtomicU64; guard::SKIP_REASONS.len()],
    runs: AtomicU64,
    harness_caps: AtomicU64,
    engine_panics: AtomicU64,
    max_run_ms: AtomicU64,
    outcomes: Mutex<BTreeMap<String, u64>>,
    panic_sites: Mutex<BTreeMap<String, u64>>,
}

static STATS: LazyLock<Stats> = LazyLock::new(Stats::default);

extern "C" fn print_stats() {
    let s = &*STATS;
    let mut out = format!(
        "pgmcp-fuzz: {} inputs, {} not UTF-8, {} rejected by transpile, {} run (slowest {} ms)",
        s.inputs.load(Relaxed),
        s.not_utf8.load(Relaxed),
        s.transpile_errors.load(Relaxed),
        s.runs.load(Relaxed),
        s.max_run_ms.load(Relaxed),
    );
    for (reason, n) in guard::SKIP_REASONS.iter().zip(&s.skipped) {
        out.push_str(&format!(
            "\npgmcp-fuzz: skipped (guard: {reason}): {}",
            n.load(Relaxed)
        ));
    }
    out.push_str(&format!(
        "\npgmcp-fuzz: runs ended by a harness cap (guard shim): {}",
        s.harness_caps.load(Relaxed)
    ));
    if let Ok(o) = s.outcomes.lock() {
        let list: Vec<String> = o.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!("\npgmcp-fuzz: outcomes: {}", list.join(" ")));
    }
    out.push_str(&format!(
        "\npgmcp-fuzz: engine panics caught by the sandbox: {}",
        s.engine_panics.load(Relaxed)
    ));
    if let Ok(p) = s.panic_sites.lock() {
        for (site, n) in p.iter() {
            out.push_str(&format!("\npgmcp-fuzz:   {n} × {site}"));
        }
    }
    eprintln!("{out}");
}

unsafe extern "C" {
    fn atexit(cb: extern "C" fn()) -> std::os::raw::c_int;
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn verbose() -> bool {
    static V: LazyLock<bool> = LazyLock::new(|| env_flag("PGMCP_FUZZ_VERBOSE"));
    *V
}

/// Wall-clock limit of one run (`PGMCP_FUZZ_HANG_MS`, default 10 s). With a 200k-instruction
/// budget a run takes milliseconds; one that takes seconds is stuck where the budget does
/// not reach.
fn hang_limit() -> Duration {
    static H: LazyLock<Duration> = LazyLock::new(|| {
        Duration::from_millis(
            std::env::var("PGMCP_FUZZ_HANG_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000),
        )
    });
    *H
}

/// Once per process, from the target's `init`: the canary, the panic hook, the exit report.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        bridge::plant_canary();
        // libFuzzer's hook (installed before `init` runs) aborts on every panic, including
        // the engine panics the sandbox is documented to catch. Ours records those (only on
        // the sandbox thread, while `sandbox::run` is on the stack) and lets them unwind to
        // the sandbox's `catch_unwind`; every other panic still goes to libFuzzer's hook.
        let libfuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_SANDBOX.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                    .unwrap_or_else(|| "<unknown>".into());
                let payload = info.payload();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                CAUGHT.with(|c| c.borrow_mut().push(CaughtPanic { location, message }));
                return;
            }
            libfuzzer_hook(info);
        }));
        // SAFETY: registering a plain `extern "C"` function without captures.
        unsafe { atexit(print_stats) };
    });
}

/// Writes the input about to run to `PGMCP_FUZZ_BREADCRUMB`, when set. A native stack
/// overflow kills the process by SIGSEGV before libFuzzer can save the input (it has no
/// alternate signal stack); the breadcrumb is then the input that was running.
pub fn breadcrumb(data: &[u8]) {
    use std::os::unix::fs::FileExt;
    static FILE: LazyLock<Option<std::fs::File>> = LazyLock::new(|| {
        let path = std::env::var("PGMCP_FUZZ_BREADCRUMB").ok()?;
        std::fs::File::create(path).ok()
    });
    // Two syscalls on an open file: cheap enough for the transpile target's rate.
    if let Some(f) = FILE.as_ref() {
        let _ = f.write_all_at(data, 0);
        let _ = f.set_len(data.len() as u64);
    }
}

/// Fails the input: panics on the fuzzing thread.
macro_rules! finding {
    ($($arg:tt)*) => {
        panic!("pgmcp fuzz finding: {}", format!($($arg)*))
    };
}

/// Strings that must never reach an outcome unless the program wrote them itself: host
/// paths, Rust source locations and type names, panic text.
static HOST_MARKERS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut m: Vec<String> = [
        ".cargo/registry",
        ".rustup/",
        "src/codemode/",
        "fuzz_targets/",
        "boa_engine",
        "boa_gc",
        "boa_parser",
        "JsValue",
        "JsObject",
        "JsNativeError",
        "EngineError",
        "RuntimeLimitError",
        "panicked at",
        "RUST_BACKTRACE",
        bridge::CANARY_ENV,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(root) = Path::new(env!("CARGO_MANIFEST_DIR")).parent() {
        m.push(root.display().to_string());
    }
    if let Ok(home) = std::env::var("HOME")
        && home.len() > 1
    {
        m.push(format!("{home}/"));
    }
    m
});

/// Transpiles a TypeScript program and, unless the guard skips it, runs and checks it.
pub fn run_source(source: &str, config: BridgeConfig) {
    STATS.inputs.fetch_add(1, Relaxed);
    let transpiled = match transpile::transpile(source, &TranspileLimits::default()) {
        Ok(t) => t,
        Err(_) => {
            STATS.transpile_errors.fetch_add(1, Relaxed);
            return;
        }
    };
    let js = if guard::enabled() {
        if let Some(reason) = guard::scan(&transpiled.js) {
            if let Some(i) = guard::SKIP_REASONS.iter().position(|r| *r == reason) {
                STATS.skipped[i].fetch_add(1, Relaxed);
            }
            if verbose() {
                eprintln!("pgmcp-fuzz: skipped ({reason})");
            }
            return;
        }
        static SHIM: LazyLock<String> = LazyLock::new(guard::shim);
        match guard::inject(&transpiled.js, &SHIM) {
            Some(js) => js,
            None => finding!(
                "transpiled program does not start with \"use strict\":\n{}",
                transpiled.js
            ),
        }
    } else {
        transpiled.js.clone()
    };
    run_js(&js, config);
}

/// Runs one JavaScript program (already transpiled) on a fresh big-stack thread and checks
/// the outcome and the bridge.
pub fn run_js(js: &str, config: BridgeConfig) {
    let limits = limits(config);
    let manifest = bridge::manifest();
    let started = Instant::now();
    let thread_js = js.to_string();
    let thread_limits = limits.clone();
    let joined = std::thread::Builder::new()
        .name("pgmcp-js".into())
        .stack_size(JS_STACK_BYTES)
        .spawn(move || {
            let mut bridge = FakeBridge::new(
                config,
                thread_limits.max_in_flight,
                thread_limits.max_tool_calls,
            );
            IN_SANDBOX.with(|f| f.set(true));
            let outcome = sandbox::run(&thread_js, &manifest, &thread_limits, &mut bridge);
            IN_SANDBOX.with(|f| f.set(false));
            let caught = CAUGHT.with(|c| std::mem::take(&mut *c.borrow_mut()));
            (outcome, bridge, caught)
        })
        .expect("spawn the sandbox thread")
        .join();
    let elapsed = started.elapsed();
    STATS.runs.fetch_add(1, Relaxed);
    STATS
        .max_run_ms
        .fetch_max(elapsed.as_millis() as u64, Relaxed);
    let (outcome, bridge, caught) = match joined {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            finding!("a panic escaped sandbox::run: {msg}");
        }
    };
    if verbose() {
        eprintln!(
            "pgmcp-fuzz: --- js ---\n{js}\npgmcp-fuzz: --- outcome ({} ms, {} submitted, max in flight {}) ---\n{}",
            elapsed.as_millis(),
            bridge.submitted,
            bridge.max_in_flight_seen,
            serde_json::to_string_pretty(&outcome).unwrap_or_default()
        );
        for p in &caught {
            eprintln!("pgmcp-fuzz: caught panic at {}: {}", p.location, p.message);
        }
    }
    check(js, &limits, &outcome, &bridge, &caught, elapsed);
}

fn check(
    js: &str,
    limits: &SandboxLimits,
    outcome: &Outcome,
    bridge: &FakeBridge,
    caught: &[CaughtPanic],
    elapsed: Duration,
) {
    let code = outcome.error.as_ref().map(|e| e.code.as_str());
    if let Ok(mut o) = STATS.outcomes.lock() {
        *o.entry(code.unwrap_or("OK").to_string()).or_default() += 1;
    }
    if outcome
        .error
        .as_ref()
        .is_some_and(|e| e.message.contains(guard::CAP_MESSAGE))
    {
        STATS.harness_caps.fetch_add(1, Relaxed);
    }

    // 1. Time: the budgets bound every run.
    if elapsed > hang_limit() {
        finding!(
            "hang beyond budget: the run took {} ms (limit {} ms; PGMCP_FUZZ_HANG_MS)",
            elapsed.as_millis(),
            hang_limit().as_millis()
        );
    }

    // 2. Panics the sandbox caught: only Boa's own internal assertions are expected there
    //    (documented in src/codemode/sandbox/mod.rs), and they must end the run with an error.
    for p in caught {
        let in_boa = p.location.contains("/boa_") || p.location.starts_with("boa_");
        if !in_boa || env_flag("PGMCP_FUZZ_STRICT_PANICS") {
            finding!(
                "panic inside sandbox::run at {}: {} (outcome: {:?})",
                p.location,
                p.message,
                outcome.error
            );
        }
        STATS.engine_panics.fetch_add(1, Relaxed);
        if let Ok(mut sites) = STATS.panic_sites.lock() {
            let site = p.location.rsplit("/src/").next().unwrap_or(&p.location);
            let krate = p
                .location
                .split('/')
                .find(|s| s.starts_with("boa_"))
                .unwrap_or("boa");
            *sites
                .entry(format!("{krate}/src/{site}: {}", p.message))
                .or_default() += 1;
        }
    }
    if !caught.is_empty() && outcome.error.is_none() {
        finding!(
            "the engine panicked ({}: {}) but the run reported success",
            caught[0].location,
            caught[0].message
        );
    }

    // 3. The bridge protocol and the caps.
    if let Some(v) = bridge.violations.first() {
        finding!(
            "bridge protocol violated: {v} (all: {:?})",
            bridge.violations
        );
    }
    if bridge.submitted > outcome.tool_calls {
        finding!(
            "{} calls reached the host but the outcome counts {}",
            bridge.submitted,
            outcome.tool_calls
        );
    }
    if outcome.tool_calls > limits.max_tool_calls.saturating_add(1) {
        finding!(
            "{} tool calls counted; the cap is {}",
            outcome.tool_calls,
            limits.max_tool_calls
        );
    }
    if code == Some(codes::TOOL_CALL_LIMIT.as_str())
        && outcome.tool_calls != limits.max_tool_calls + 1
    {
        finding!(
            "TOOL_CALL_LIMIT after {} calls (cap {})",
            outcome.tool_calls,
            limits.max_tool_calls
        );
    }
    if let Some(e) = &outcome.error {
        let known = [
            codes::JS_ERROR,
            codes::LOOP_LIMIT,
            codes::RECURSION_LIMIT,
            codes::INSTRUCTION_LIMIT,
            codes::TOOL_CALL_LIMIT,
            codes::UNSETTLED,
            codes::BRIDGE_CLOSED,
            codes::ENGINE_ERROR,
        ];
        if !known.contains(&e.code) {
            finding!("unexpected error code {:?}", e.code);
        }
        let is_limit = [
            codes::LOOP_LIMIT,
            codes::INSTRUCTION_LIMIT,
            codes::TOOL_CALL_LIMIT,
        ]
        .contains(&e.code);
        if is_limit && e.limit.is_none() {
            finding!("limit error {} without the limit named", e.code);
        }
    }

    // 4. Logs and result stay within their caps.
    let marker = "[logs truncated]";
    let log_bytes: usize = outcome
        .logs
        .iter()
        .filter(|l| l.message != marker)
        .map(|l| l.message.len())
        .sum();
    if log_bytes > limits.max_log_bytes || outcome.logs.len() > limits.max_log_entries + 1 {
        finding!(
            "logs exceed their caps: {} entries, {log_bytes} bytes (caps {} / {})",
            outcome.logs.len(),
            limits.max_log_entries,
            limits.max_log_bytes
        );
    }
    if let Some(result) = &outcome.result {
        let size = serde_json::to_string(result).map_or(0, |s| s.len());
        let allowed = if outcome.result_truncated.is_some() {
            // A preview is "about" the cap.
            limits.max_result_bytes * 2 + 256
        } else {
            limits.max_result_bytes
        };
        if size > allowed {
            finding!(
                "result of {size} bytes exceeds the cap {} (truncated: {:?})",
                limits.max_result_bytes,
                outcome.result_truncated
            );
        }
        if outcome.error.is_some() {
            finding!("an outcome with both a result and an error");
        }
    }

    // 5. Leaks: the canary, host paths, Rust internals.
    let text = serde_json::to_string(outcome).unwrap_or_default();
    if !bridge.secret_served && text.contains(CANARY.as_str()) {
        finding!("the canary leaked into an outcome that never asked for it: {text}");
    }
    for m in HOST_MARKERS.iter() {
        if text.contains(m.as_str()) && !js.contains(m.as_str()) {
            finding!("host detail {m:?} leaked into the outcome: {text}");
        }
    }
}
