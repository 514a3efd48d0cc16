//! Connection behaviour against real servers: TLS for every sslmode (rustls against a
//! cluster with ssl=on and certificates made by openssl), and recovery when the database
//! comes up after the server started.

use crate::support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use pgmcp::app::App;
use pgmcp::cluster::{Cluster, ClusterOptions};
use serde_json::{Value, json};

fn app(url: &str) -> Arc<App> {
    support::app(url, &[])
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for `localhost` signed by it, and an unrelated CA.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pgmcp test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-days",
            "2",
            "-subj",
            "/CN=another CA",
        ],
    );
}

/// PostgreSQL insists that the key belongs to the server's OS user and is private.
fn hand_to_postgres_user(dir: &Path) {
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let status = Command::new("chown")
        .args(["-R", "postgres"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let mut perms = std::fs::metadata(dir).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(dir, perms).unwrap();
    let mut key = std::fs::metadata(dir.join("server.key"))
        .unwrap()
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut key, 0o600);
    std::fs::set_permissions(dir.join("server.key"), key).unwrap();
}

async fn ssl_in_use(app: &Arc<App>) -> Result<bool, Value> {
    app.call(
        "pg_read_query",
        json!({"sql": "select ssl from pg_stat_ssl where pid = pg_backend_pid()"}),
    )
    .await
    .map(|v| v["rows"][0]["ssl"].as_bool().unwrap())
    .map_err(|e| e.to_json())
}

#[tokio::test]
async fn every_sslmode_behaves_like_libpq() {
    let certs = tempfile::Builder::new()
        .prefix("pgmcp-certs-")
        .tempdir()
        .unwrap();
    make_certs(certs.path());
    hand_to_postgres_user(certs.path());
    let dir = certs.path().display().to_string();
    let cluster = tokio::task::spawn_blocking(move || {
        Cluster::start(ClusterOptions {
            settings: vec![
                ("ssl".into(), "on".into()),
                ("ssl_cert_file".into(), format!("{dir}/server.pem")),
                ("ssl_key_file".into(), format!("{dir}/server.key")),
            ],
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .expect("TLS cluster starts");
    let port = cluster.port();
    let ca = certs.path().join("ca.pem").display().to_string();
    let other = certs.path().join("other.pem").display().to_string();
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");

    assert_eq!(
        ssl_in_use(&support::app(&url("127.0.0.1", "sslmode=disable"), &[])).await,
        Ok(false)
    );
    assert_eq!(
        ssl_in_use(&support::app(&url("127.0.0.1", "sslmode=prefer"), &[])).await,
        Ok(true)
    );
    assert_eq!(
        ssl_in_use(&support::app(&url("127.0.0.1", "sslmode=require"), &[])).await,
        Ok(true)
    );
    // verify-ca checks the chain only, so an IP that is not in the certificate is fine.
    assert_eq!(
        ssl_in_use(&app(&url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={ca}")
        )))
        .await,
        Ok(true)
    );
    // verify-full also checks the name: localhost matches, 127.0.0.1 does not.
    assert_eq!(
        ssl_in_use(&app(&url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}")
        )))
        .await,
        Ok(true)
    );
    let wrong_name = ssl_in_use(&app(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    )))
    .await
    .unwrap_err();
    assert_eq!(wrong_name["code"], "TLS_ERROR", "{wrong_name}");
    assert_eq!(wrong_name["category"], "connection");
    // A certificate from a CA we do not trust fails both verifying modes.
    for mode in ["verify-ca", "verify-full"] {
        let e = ssl_in_use(&app(&url(
            "localhost",
            &format!("sslmode={mode}&sslrootcert={other}"),
        )))
        .await
        .unwrap_err();
        assert_eq!(e["code"], "TLS_ERROR", "{mode}: {e}");
    }
    // key=value syntax carries the same modes.
    let kv = format!(
        "host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert={ca}"
    );
    assert_eq!(ssl_in_use(&support::app(&kv, &[])).await, Ok(true));
    drop(cluster);
}

#[tokio::test]
async fn require_fails_clearly_against_a_server_without_tls() {
    let db = support::test_db().await;
    let url = format!("{}?sslmode=require", db.url.split('?').next().unwrap());
    let e = support::app(&url, &[])
        .call("pg_list_tables", json!({}))
        .await
        .unwrap_err()
        .to_json();
    assert_eq!(e["category"], "connection", "{e}");
    assert!(e["suggestion"].is_string(), "{e}");
}

#[tokio::test]
async fn next_call_works_once_the_database_comes_up() {
    // Reserve a port, release it, and point the server at it before anything listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = support::app(
        &format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        &[],
    );
    let e = app
        .call("pg_read_query", json!({"sql": "select 1 as one"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, "CONNECTION_REFUSED", "{e:?}");
    assert!(e.suggestion.as_deref().unwrap().contains("running"));

    let cluster = tokio::task::spawn_blocking(move || {
        Cluster::start(ClusterOptions {
            port: Some(port),
            ..Default::default()
        })
    })
    .await
    .unwrap()
    .expect("cluster starts on the reserved port");
    let v = app
        .call("pg_read_query", json!({"sql": "select 1 as one"}))
        .await
        .expect("works without a restart");
    assert_eq!(v["rows"][0]["one"], 1);

    // And when it goes away again, calls fail cleanly instead of hanging or panicking.
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .unwrap();
    let e = app
        .call("pg_read_query", json!({"sql": "select 1"}))
        .await
        .unwrap_err();
    assert_eq!(e.category, pgmcp::error::Category::Connection, "{e:?}");
}

#[tokio::test]
async fn unknown_host_is_named() {
    let app = app("postgres://u@no-such-host.invalid:5432/db");
    let e = app.call("pg_list_tables", json!({})).await.unwrap_err();
    assert_eq!(e.code, "UNKNOWN_HOST", "{e:?}");
}
