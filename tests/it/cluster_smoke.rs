//! Smoke tests for the throwaway cluster and the shared test harness.

use crate::support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use pgmcp::cluster::{Cluster, ClusterOptions};
use tokio::sync::Barrier;

/// Database names handed out so far in this process, to check uniqueness
/// across tests that run in parallel.
static SEEN_DATABASES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn record_unique(name: &str) {
    let mut seen = SEEN_DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let fresh = seen
        .get_or_insert_with(HashSet::new)
        .insert(name.to_string());
    assert!(fresh, "database {name} was handed out twice");
}

/// Creates table `t` in a fresh database, writes `tag`, and checks that only
/// its own row is visible.
async fn use_table_t(tag: &str, barrier: Option<&Barrier>) -> String {
    let db = support::test_db().await;
    record_unique(&db.name);
    let client = support::connect(&db.url).await;
    client
        .batch_execute("CREATE TABLE t (tag text NOT NULL)")
        .await
        .expect("CREATE TABLE t");
    if let Some(barrier) = barrier {
        // Both tables exist before either side writes.
        barrier.wait().await;
    }
    client
        .execute("INSERT INTO t VALUES ($1)", &[&tag])
        .await
        .expect("INSERT");
    if let Some(barrier) = barrier {
        // Both rows are written before either side reads.
        barrier.wait().await;
    }
    let tags: Vec<String> = client
        .query("SELECT tag FROM t", &[])
        .await
        .expect("SELECT")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(tags, vec![tag.to_string()], "rows in {}", db.name);
    db.name.clone()
}

// These two run in parallel (separate threads and runtimes) under the
// default test harness, exercising the shared cluster start-up race.
#[tokio::test]
async fn parallel_test_a_gets_its_own_database() {
    use_table_t("a", None).await;
}

#[tokio::test]
async fn parallel_test_b_gets_its_own_database() {
    use_table_t("b", None).await;
}

/// Deterministic version of the above: the two sides are forced to overlap.
#[tokio::test]
async fn concurrent_databases_do_not_interfere() {
    let barrier = Barrier::new(2);
    let (left, right) = tokio::join!(
        use_table_t("left", Some(&barrier)),
        use_table_t("right", Some(&barrier))
    );
    assert_ne!(left, right);
}

#[tokio::test]
async fn select_version_works() {
    let db = support::test_db().await;
    let client = support::connect(&db.url).await;
    let row = client
        .query_one("SELECT version(), current_database()", &[])
        .await
        .expect("SELECT version()");
    let version: String = row.get(0);
    let current: String = row.get(1);
    assert!(version.starts_with("PostgreSQL "), "{version}");
    assert_eq!(current, db.name);
}

#[test]
fn with_dbname_rewrites_urls() {
    assert_eq!(
        support::with_dbname("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(
        support::with_dbname("postgresql://h", "x"),
        "postgresql://h/x"
    );
    assert_eq!(
        support::with_dbname("host=h user=u", "x"),
        "host=h user=u dbname=x"
    );
}

/// Set in the child process of `killed_owner_leaves_nothing_behind`.
const CHILD_ENV: &str = "PGMCP_CLUSTER_SMOKE_CHILD";
/// Its name in the test binary (`--exact` matches the module path too).
const CHILD_TEST: &str = "cluster_smoke::cluster_owner_child_process";
const CHILD_MARKER: &str = "PGMCP_CLUSTER_STARTED";

/// Only does something in the child process: starts a cluster, reports it
/// and waits to be SIGKILLed (or for the parent to vanish, closing stdin).
#[test]
fn cluster_owner_child_process() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let cluster = Cluster::start(ClusterOptions::default()).expect("starting cluster in child");
    let pid_file = cluster.data_dir().join("postmaster.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .expect("reading postmaster.pid")
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    println!(
        "{CHILD_MARKER} port={} pid={pid} dir={}",
        cluster.port(),
        cluster.dir().display()
    );
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    // Skipping Drop on purpose: cleanup must not depend on it.
    std::mem::forget(cluster);
}

#[test]
fn killed_owner_leaves_nothing_behind() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // we are the child; only `cluster_owner_child_process` acts
    }
    if Cluster::find_bin_dir().is_err() && std::env::var_os(support::EXTERNAL_URL_VAR).is_some() {
        eprintln!("skipping: no local PostgreSQL binaries (tests use an external server)");
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("re-executing the test binary");
    let stdout = child.stdout.take().expect("child stdout");
    // Read on a helper thread so that a child stuck before reporting fails
    // the test instead of hanging it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // libtest prints "test <name> ... " on the same line before our
        // output, so the marker is not at the start of the line.
        let report = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| Some(line.split_once(CHILD_MARKER)?.1.to_string()));
        let _ = tx.send(report);
    });
    let report = rx.recv_timeout(Duration::from_secs(120));
    let Ok(Some(report)) = report else {
        let _ = child.kill();
        let status = child.wait();
        panic!("child did not report a started cluster ({status:?}); see its stderr above");
    };
    let field = |key: &str| {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {key} in child report {report:?}"))
            .to_string()
    };
    let port: u16 = field("port").parse().expect("port");
    let pid: i32 = field("pid").parse().expect("postmaster pid");
    // The path is last on the line, so it may contain spaces.
    let dir = PathBuf::from(report.split_once(" dir=").expect("dir").1);
    assert!(
        dir.is_dir(),
        "{} should exist while the owner lives",
        dir.display()
    );
    assert!(
        accepts_connections(port),
        "cluster should be up before the kill"
    );

    child.kill().expect("SIGKILL child"); // Child::kill sends SIGKILL
    child.wait().expect("reaping child");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let leftovers = leftovers(&dir, port, pid);
        if leftovers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after SIGKILL of the owner: {}",
            leftovers.join(", ")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn leftovers(dir: &Path, port: u16, pid: i32) -> Vec<String> {
    let mut found = Vec::new();
    if dir.exists() {
        found.push(format!("{} still exists", dir.display()));
    }
    if accepts_connections(port) {
        found.push(format!("port {port} still accepts connections"));
    }
    // SAFETY: signal 0 only checks for existence; no signal is sent.
    if unsafe { libc::kill(pid, 0) } == 0 {
        found.push(format!("postmaster {pid} still running"));
    }
    found
}

fn accepts_connections(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
