//! The worker process on its own: each way a worker can die is named correctly and the
//! parent survives it. No database: `pg.*` calls are served by a closure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgmcp::codemode::frames::OsLimits;
use pgmcp::codemode::sandbox::{Manifest, SandboxLimits};
use pgmcp::codemode::transpile::{TranspileLimits, transpile};
use pgmcp::codemode::worker::{Failure, Job, Profile, Serve, WorkerPool, run_in_process};
use serde_json::{Value, json};

fn pool(exe: &str) -> Arc<WorkerPool> {
    WorkerPool::new(exe.into(), 0)
}

fn echo() -> Serve {
    Arc::new(|tool: String, args: Value| {
        Box::pin(async move { Ok(json!({ "tool": tool, "args": args })) })
    })
}

fn os(stack_bytes: usize, cpu_seconds: u64) -> OsLimits {
    OsLimits {
        memory_bytes: 256 << 20,
        cpu_seconds,
        stack_bytes,
    }
}

async fn run(
    pool: &Arc<WorkerPool>,
    code: &str,
    limits: SandboxLimits,
    os: OsLimits,
    wall: Duration,
) -> Result<Value, Failure> {
    let js = transpile(code, &TranspileLimits::default()).unwrap().js;
    let job = Job {
        js,
        cpu_seconds: os.cpu_seconds,
        profile: Profile::new(Manifest::default(), limits, os),
        deadline: Instant::now() + wall,
        seccomp_selftest: false,
    };
    run_in_process(pool, job, echo(), Default::default())
        .await
        .map(|(outcome, _)| outcome.result.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_healthy_worker_returns_its_result() {
    let p = pool(env!("CARGO_BIN_EXE_pgmcp"));
    let v = run(
        &p,
        "return [1, 2, 3].map(x => x * 2)",
        SandboxLimits::default(),
        os(64 << 20, 10),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(v, Ok(json!([2, 4, 6])));
}

#[tokio::test]
async fn cpu_limit_is_reported_as_such() {
    let p = pool(env!("CARGO_BIN_EXE_pgmcp"));
    // No instruction budget and a wall deadline far away: only RLIMIT_CPU can stop this.
    let limits = SandboxLimits {
        instruction_budget: None,
        loop_iterations: u64::MAX,
        ..Default::default()
    };
    let r = run(
        &p,
        "while (true) {}",
        limits,
        os(64 << 20, 1),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(r, Err(Failure::CpuLimit));
}

#[tokio::test]
async fn stack_overflow_is_reported_as_such() {
    let p = pool(env!("CARGO_BIN_EXE_pgmcp"));
    // Recursion allowed far deeper than a 2 MB native stack can hold (which is still enough
    // for the worker to prepare its realm, even in a debug build). JS-to-JS calls do not
    // recurse natively in Boa; calls through a built-in (`map`) do.
    let limits = SandboxLimits {
        recursion: 10_000_000,
        instruction_budget: None,
        ..Default::default()
    };
    let r = run(
        &p,
        "function f(n: number): number { return n === 0 ? 0 : 1 + [n - 1].map(f)[0] } f(1e6)",
        limits,
        os(2 << 20, 10),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(r, Err(Failure::StackOverflow));
}

#[tokio::test]
async fn a_worker_that_dies_is_a_crash_and_a_missing_one_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("dying-worker");
    // Says it is ready (a 16-byte {"type":"ready"} frame), then exits with status 3.
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf '\\000\\000\\000\\020{\"type\":\"ready\"}'\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let p = pool(script.to_str().unwrap());
    let r = run(
        &p,
        "1",
        SandboxLimits::default(),
        os(64 << 20, 10),
        Duration::from_secs(20),
    )
    .await;
    match r {
        Err(Failure::Crashed(why)) => assert!(why.contains("status 3"), "{why}"),
        other => panic!("{other:?}"),
    }
    let p = pool("/nonexistent/pgmcp");
    let r = run(
        &p,
        "1",
        SandboxLimits::default(),
        os(64 << 20, 10),
        Duration::from_secs(20),
    )
    .await;
    assert!(matches!(r, Err(Failure::Spawn(_))), "{r:?}");
}

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[tokio::test]
async fn seccomp_refuses_files_sockets_exec_fork_and_ptrace() {
    let p = pool(env!("CARGO_BIN_EXE_pgmcp"));
    let js = transpile("return 6 * 7", &TranspileLimits::default())
        .unwrap()
        .js;
    let job = Job {
        js,
        profile: Profile::new(
            Manifest::default(),
            SandboxLimits::default(),
            os(64 << 20, 10),
        ),
        cpu_seconds: 10,
        deadline: Instant::now() + Duration::from_secs(20),
        seccomp_selftest: true,
    };
    let (outcome, usage) = run_in_process(&p, job, echo(), Default::default())
        .await
        .unwrap();
    // The filter is on and the engine still works under it.
    assert_eq!(outcome.result, Some(json!(42)));
    let probes = usage.unwrap().seccomp_selftest.expect("self-test ran");
    let names: Vec<&str> = probes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, pgmcp::codemode::seccomp::PROBED);
    for (name, errno) in &probes {
        assert_eq!(
            *errno,
            libc::EPERM,
            "{name} was not refused by the filter (errno {errno})"
        );
    }
}
