//! The worker process on its own: each way a worker can die is named correctly and the
//! parent survives it. No database: `pg.*` calls are served by a closure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgmcp::codemode::frames::OsLimits;
use pgmcp::codemode::sandbox::{Manifest, SandboxLimits};
use pgmcp::codemode::transpile::TranspileLimits;
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
    let job = Job {
        source: code.into(),
        transpile: TranspileLimits::default(),
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
    let job = Job {
        source: "return 6 * 7".into(),
        transpile: TranspileLimits::default(),
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

// ------------------------------------------------------------------------------------------
// Workers forked from a zygote: every execution in a fresh child, nothing shared back.
// ------------------------------------------------------------------------------------------

fn zygote_pool(target: usize) -> Arc<WorkerPool> {
    let p = WorkerPool::new(env!("CARGO_BIN_EXE_pgmcp").into(), target);
    p.set_fork(true);
    p
}

/// `(state letter, parent pid)` of a process, if it exists.
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    Some((state, f.next()?.parse().ok()?))
}

/// Every process whose parent is `parent`, with its state letter.
fn children_of(parent: u32) -> Vec<(u32, char)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (state, ppid) = proc_state(pid)?;
            (ppid == parent).then_some((pid, state))
        })
        .collect()
}

async fn run_with(
    pool: &Arc<WorkerPool>,
    code: &str,
    profile: Arc<Profile>,
    cpu_seconds: u64,
    wall: Duration,
    serve: Serve,
) -> Result<Value, Failure> {
    let job = Job {
        source: code.into(),
        transpile: TranspileLimits::default(),
        cpu_seconds,
        profile,
        deadline: Instant::now() + wall,
        seccomp_selftest: false,
    };
    run_in_process(pool, job, serve, Default::default())
        .await
        .map(|(outcome, _)| outcome.result.unwrap_or(Value::Null))
}

#[tokio::test]
async fn state_written_by_one_execution_is_not_seen_by_the_next() {
    // Fork ahead: the next execution takes a child forked before the previous one ran.
    let p = zygote_pool(2);
    let profile = Profile::new(
        Manifest::default(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    let write = r#"
        (globalThis as any).leak = "secret";
        (Object.prototype as any).polluted = "yes";
        Array.prototype.map = function () { return ["hijacked"] } as any;
        JSON.stringify = () => "hijacked";
        Math.max = () => -1;
        const g = globalThis as any;
        g.cache = g.cache ?? [];
        g.cache.push(1);
        return [Math.random(), g.cache.length]
    "#;
    let read = r#"
        const g = globalThis as any;
        return {
            leak: typeof g.leak,
            polluted: ({} as any).polluted ?? null,
            map: [1, 2].map(x => x * 10),
            json: JSON.stringify({ a: 1 }),
            max: Math.max(1, 2),
            cache: typeof g.cache,
            random: Math.random(),
        }
    "#;
    let mut randoms = Vec::new();
    for _ in 0..3 {
        let w = run_with(
            &p,
            write,
            profile.clone(),
            10,
            Duration::from_secs(20),
            echo(),
        )
        .await
        .unwrap();
        assert_eq!(w[1], json!(1), "the cache was seen: {w}");
        randoms.push(w[0].clone());
        let r = run_with(
            &p,
            read,
            profile.clone(),
            10,
            Duration::from_secs(20),
            echo(),
        )
        .await
        .unwrap();
        randoms.push(r["random"].clone());
        assert_eq!(r["leak"], json!("undefined"), "{r}");
        assert_eq!(r["polluted"], Value::Null, "{r}");
        assert_eq!(r["map"], json!([10, 20]), "{r}");
        assert_eq!(r["json"], json!("{\"a\":1}"), "{r}");
        assert_eq!(r["max"], json!(2), "{r}");
        assert_eq!(r["cache"], json!("undefined"), "{r}");
    }
    // Each child seeds its own generator: no two runs draw the same number.
    let distinct: std::collections::HashSet<String> =
        randoms.iter().map(|v| v.to_string()).collect();
    assert_eq!(distinct.len(), randoms.len(), "{randoms:?}");
    assert_eq!(p.zygote_pids().await.len(), 1, "the runs were not forked");
}

#[tokio::test]
async fn a_child_killed_at_its_deadline_leaves_the_zygote_alive() {
    let p = zygote_pool(1);
    let limits = SandboxLimits {
        instruction_budget: None,
        loop_iterations: u64::MAX,
        ..Default::default()
    };
    let profile = Profile::new(Manifest::default(), limits, os(64 << 20, 30));
    run_with(
        &p,
        "1",
        profile.clone(),
        30,
        Duration::from_secs(20),
        echo(),
    )
    .await
    .unwrap();
    let zygote = p.zygote_pids().await;
    assert_eq!(zygote.len(), 1);
    let started = Instant::now();
    let r = run_with(
        &p,
        "while (true) {}",
        profile.clone(),
        30,
        Duration::from_millis(300),
        echo(),
    )
    .await;
    assert_eq!(r, Err(Failure::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
    let v = run_with(
        &p,
        "return 7",
        profile.clone(),
        30,
        Duration::from_secs(20),
        echo(),
    )
    .await;
    assert_eq!(v, Ok(json!(7)));
    assert_eq!(p.zygote_pids().await, zygote, "the zygote was replaced");
    assert!(matches!(proc_state(zygote[0]), Some((s, _)) if s != 'Z'));
}

#[tokio::test]
async fn a_killed_zygote_is_replaced_and_the_next_execution_succeeds() {
    // With idle children forked ahead, which die with their zygote.
    let p = zygote_pool(2);
    let profile = Profile::new(
        Manifest::default(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    let v = run_with(
        &p,
        "return 1",
        profile.clone(),
        10,
        Duration::from_secs(20),
        echo(),
    )
    .await;
    assert_eq!(v, Ok(json!(1)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let old = p.zygote_pids().await;
    assert_eq!(old.len(), 1);
    // SAFETY: kill(2) on the zygote this test's pool started.
    assert_eq!(unsafe { libc::kill(old[0] as i32, libc::SIGKILL) }, 0);
    // At once, and again after the death has been noticed everywhere.
    for _ in 0..2 {
        let v = run_with(
            &p,
            "return 2",
            profile.clone(),
            10,
            Duration::from_secs(20),
            echo(),
        )
        .await;
        assert_eq!(v, Ok(json!(2)));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let new = p.zygote_pids().await;
    assert_eq!(new.len(), 1);
    assert_ne!(new, old);
}

/// `Private_Dirty` of a process, in kB.
fn private_dirty_kb(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    text.lines()
        .find(|l| l.starts_with("Private_Dirty:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// One run of `code` in a child of `p`'s zygote, with a 64 MB, 10 s profile.
async fn run_forked(p: &Arc<WorkerPool>, code: &str) -> Result<Value, Failure> {
    let profile = Profile::new(
        Manifest::default(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    run_with(p, code, profile, 10, Duration::from_secs(20), echo()).await
}

/// The one idle child `zygote` has forked ahead for a pool of one (waits up to 2 s for it).
async fn idle_child(p: &Arc<WorkerPool>, zygote: u32) -> u32 {
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle = children_of(zygote);
        if !idle.is_empty() && p.live() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(idle.len(), 1, "{idle:?}");
    idle[0].0
}

#[tokio::test]
async fn idle_children_have_their_pages_faulted_in_before_they_are_taken() {
    // The zygote learns which pages a run writes (a training child runs `return 1` and
    // exits); each child copies them before it says it is ready, not while a client waits.
    let p = zygote_pool(1);
    let v = run_forked(&p, "return (globalThis as any).trained ?? 'pristine'").await;
    assert_eq!(v, Ok(json!("pristine")));
    let zygotes = p.zygote_prefault_pages().await;
    assert_eq!(zygotes.len(), 1, "{zygotes:?}");
    let (zygote, pages) = zygotes[0];
    assert!(pages >= 16, "{pages} pages learnt");
    // The idle child forked ahead holds its own copies of (most of) them.
    let idle = idle_child(&p, zygote).await;
    let dirty = private_dirty_kb(idle).unwrap();
    assert!(
        dirty >= u64::from(pages) * 4 / 2,
        "idle child: {dirty} kB private dirty for {pages} pre-faulted pages"
    );
}

/// The anonymous executable mappings of a process (the zygote's code moved onto huge
/// pages): `(range, Rss kB, AnonHugePages kB)` each.
fn anonymous_code(pid: u32) -> Vec<(String, u64, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut out = Vec::new();
    let mut current: Option<(String, u64, u64)> = None;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if !first.ends_with(':') {
            out.extend(current.take());
            let f: Vec<&str> = line.split_whitespace().collect();
            // `start-end perms offset dev inode [path]`: executable, no path.
            if f.len() == 5 && f[1].starts_with("r-x") {
                current = Some((f[0].to_string(), 0, 0));
            }
            continue;
        }
        let kb = || {
            line.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if let Some((_, rss, huge)) = current.as_mut() {
            match first {
                "Rss:" => *rss = kb(),
                "AnonHugePages:" => *huge = kb(),
                _ => {}
            }
        }
    }
    out.extend(current);
    out
}

#[tokio::test]
async fn the_zygotes_code_is_on_huge_pages_and_children_start_with_it_mapped() {
    // A forked child that had to fault the binary's code in again, 4 KiB at a time, and
    // unmap it page by page at exit spent a third of its CPU on that: the zygote moves its
    // code onto transparent huge pages, which fork hands to the child as a few entries.
    let thp =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").unwrap_or_default();
    if thp.is_empty() || thp.contains("[never]") {
        eprintln!("transparent huge pages are off on this machine ({thp:?}): nothing to check");
        return;
    }
    let p = zygote_pool(1);
    let v = run_forked(&p, "return [1, 2, 3].map(x => x * 2).join(',')").await;
    assert_eq!(v, Ok(json!("2,4,6")));
    let zygote = p.zygote_pids().await;
    assert_eq!(zygote.len(), 1);
    let code = anonymous_code(zygote[0]);
    let huge: u64 = code.iter().map(|(_, _, h)| h).sum();
    assert!(
        huge >= 4 << 10,
        "the zygote's code is not on huge pages: {code:?}"
    );
    // The idle child forked ahead has the same mapping, all of it present from the fork.
    let child = anonymous_code(idle_child(&p, zygote[0]).await);
    assert_eq!(
        child.iter().map(|(r, _, _)| r).collect::<Vec<_>>(),
        code.iter().map(|(r, _, _)| r).collect::<Vec<_>>()
    );
    for (range, rss, huge) in &child {
        assert!(
            *huge > 0 && rss == huge,
            "{range}: {rss} kB present, {huge} kB of it on huge pages"
        );
    }
}

#[tokio::test]
async fn zygotes_are_succeeded_after_their_forks_and_the_old_ones_exit() {
    // A zygote is retired after 5 children here (1000 in a server); its successor is
    // started before that, in the background. Every execution still gets its own child
    // with a pristine realm, and retired zygotes go away once their children have.
    let p = zygote_pool(2);
    p.set_zygote_max_forks(5);
    let profile = Profile::new(
        Manifest::default(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..24 {
        let code =
            "const g = globalThis as any; const before = g.mark ?? null; g.mark = 1; return before";
        let v = run_with(
            &p,
            code,
            profile.clone(),
            10,
            Duration::from_secs(20),
            echo(),
        )
        .await;
        assert_eq!(v, Ok(Value::Null), "execution {i} saw another's global");
        seen.extend(p.zygote_pids().await);
        if i % 4 == 3 {
            // Let the background successor, if any, come up.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(seen.len() >= 3, "zygotes were not succeeded: {seen:?}");
    let current = p.zygote_pids().await;
    assert_eq!(current.len(), 1, "{current:?}");
    // Retired zygotes exit (the live one keeps its idle children).
    let retired: Vec<u32> = seen.into_iter().filter(|z| !current.contains(z)).collect();
    let gone = |pid: u32| matches!(proc_state(pid), None | Some(('Z', _)));
    for _ in 0..100 {
        if retired.iter().all(|&z| gone(z)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alive: Vec<u32> = retired.into_iter().filter(|&z| !gone(z)).collect();
    assert!(alive.is_empty(), "retired zygotes still running: {alive:?}");
    assert!(p.live() <= 2, "{} live", p.live());
}

#[tokio::test]
async fn an_execution_in_flight_when_its_zygote_dies_fails_cleanly() {
    let p = zygote_pool(0);
    let profile = Profile::new(
        manifest_with_probe(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    let pool = p.clone();
    // The first `pg.*` call kills the zygote, then answers; the program then waits on a
    // second call that can never be answered by its (dead) process.
    let serve: Serve = Arc::new(move |_tool: String, _args: Value| {
        let pool = pool.clone();
        Box::pin(async move {
            for pid in pool.zygote_pids().await {
                // SAFETY: kill(2) on the zygote this test's pool started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(json!({}))
        })
    });
    let started = Instant::now();
    let r = run_with(
        &p,
        "await pg.core.probe(); await pg.core.probe(); return 1",
        profile.clone(),
        10,
        Duration::from_secs(20),
        serve,
    )
    .await;
    match r {
        Err(Failure::Crashed(why)) => assert!(why.contains("zygote"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let v = run_with(&p, "return 3", profile, 10, Duration::from_secs(20), echo()).await;
    assert_eq!(v, Ok(json!(3)));
}

#[tokio::test]
async fn no_zombies_accumulate() {
    let p = zygote_pool(2);
    let profile = Profile::new(
        Manifest::default(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    for i in 0..30 {
        let code = if i % 3 == 0 {
            "throw new Error('x')"
        } else {
            "return 1"
        };
        let _ = run_with(
            &p,
            code,
            profile.clone(),
            10,
            Duration::from_secs(20),
            echo(),
        )
        .await;
    }
    // Killed at the deadline, too.
    let _ = run_with(
        &p,
        "while (true) {}",
        profile.clone(),
        10,
        Duration::from_millis(200),
        echo(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let zygote = p.zygote_pids().await;
    assert_eq!(zygote.len(), 1);
    let children = children_of(zygote[0]);
    assert!(
        children.iter().all(|(_, s)| *s != 'Z'),
        "zombies: {children:?}"
    );
    // Only the idle children forked ahead are left.
    assert!(children.len() <= 2, "{children:?}");
    assert!(p.live() <= 2, "{} live", p.live());
}

fn manifest_with_probe() -> Manifest {
    Manifest {
        entries: vec![pgmcp::codemode::sandbox::ManifestEntry {
            tool: "probe".into(),
            group: "core".into(),
            method: "probe".into(),
            primary: None,
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_forked_child_runs_with_its_limits_and_filter_on() {
    let p = zygote_pool(0);
    let profile = Profile::new(
        manifest_with_probe(),
        SandboxLimits::default(),
        os(64 << 20, 10),
    );
    let pool = p.clone();
    // Looks at the running child from outside while it waits for this call.
    let serve: Serve = Arc::new(move |_tool: String, _args: Value| {
        let pool = pool.clone();
        Box::pin(async move {
            let zygote = pool.zygote_pids().await;
            let mut out = Vec::new();
            for (pid, _) in children_of(zygote[0]) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
                let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
                let field = |text: &str, name: &str| {
                    text.lines()
                        .find(|l| l.starts_with(name))
                        .map(|l| {
                            l[name.len()..]
                                .split_whitespace()
                                .map(String::from)
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                };
                let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .unwrap()
                    .count();
                out.push(json!({
                    "seccomp": field(&status, "Seccomp:"),
                    "threads": field(&status, "Threads:"),
                    "cpu": field(&limits, "Max cpu time"),
                    "files": field(&limits, "Max open files"),
                    "as": field(&limits, "Max address space"),
                    "core": field(&limits, "Max core file size"),
                    "fds": fds,
                }));
            }
            Ok(json!(out))
        })
    });
    let v = run_with(
        &p,
        "return await pg.core.probe()",
        profile,
        // Lower than the profile's 10 s: the run's own limit.
        2,
        Duration::from_secs(20),
        serve,
    )
    .await
    .unwrap();
    let children = v.as_array().unwrap();
    assert_eq!(children.len(), 1, "{v}");
    let c = &children[0];
    assert_eq!(c["seccomp"], json!(["2"]), "no seccomp filter: {c}");
    assert_eq!(c["threads"], json!(["1"]), "{c}");
    assert_eq!(c["cpu"][0], json!("2"), "CPU limit not the run's: {c}");
    assert_eq!(c["files"], json!(["3", "3", "files"]), "{c}");
    assert_eq!(c["core"][0], json!("0"), "{c}");
    assert_ne!(c["as"][0], json!("unlimited"), "{c}");
    assert_eq!(c["fds"], json!(3), "descriptors beyond 0-2 left open: {c}");
}

#[tokio::test]
async fn a_forked_child_is_stopped_by_its_cpu_and_memory_limits() {
    let p = zygote_pool(0);
    let unbounded = SandboxLimits {
        instruction_budget: None,
        loop_iterations: u64::MAX,
        ..Default::default()
    };
    // CPU: the run's 1 s, not the profile's 30 s, and not the far wall deadline.
    let profile = Profile::new(Manifest::default(), unbounded.clone(), os(64 << 20, 30));
    let started = Instant::now();
    let r = run_with(
        &p,
        "while (true) {}",
        profile,
        1,
        Duration::from_secs(30),
        echo(),
    )
    .await;
    assert_eq!(r, Err(Failure::CpuLimit));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(p.zygote_pids().await.len(), 1, "not forked");
    // Memory: 64 MB on top of what the zygote had mapped.
    let profile = Profile::new(Manifest::default(), unbounded, os(64 << 20, 30));
    let r = run_with(
        &p,
        "const s = 'x'.repeat(1 << 20); const keep: string[] = []; while (true) keep.push(s + keep.length)",
        profile,
        30,
        Duration::from_secs(30),
        echo(),
    )
    .await;
    assert_eq!(r, Err(Failure::MemoryLimit));
}
