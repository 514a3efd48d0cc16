//! The audit log: one JSON line per tool call and per Code Mode execution.
//!
//! `--audit-log PATH` (or `stderr`). A file is rotated to `PATH.1` when it passes
//! `--audit-log-max-bytes`. Writing the log never breaks a call: a failed write is reported
//! once on stderr and the call's result is returned as usual.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

enum Sink {
    Stderr,
    File {
        path: PathBuf,
        file: Option<std::fs::File>,
        written: u64,
        max_bytes: u64,
    },
}

pub struct Audit {
    sink: Option<Mutex<Sink>>,
    /// Record only a hash of Code Mode source, not the (stripped) code itself.
    pub redact: bool,
    warned: AtomicBool,
}

impl Audit {
    pub fn new(target: Option<&str>, max_bytes: u64, redact: bool) -> Self {
        let sink = target.map(|t| {
            Mutex::new(if t == "stderr" {
                Sink::Stderr
            } else {
                let path = PathBuf::from(t);
                let written = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                Sink::File {
                    path,
                    file: None,
                    written,
                    max_bytes: max_bytes.max(4096),
                }
            })
        });
        Audit {
            sink,
            redact,
            warned: AtomicBool::new(false),
        }
    }

    pub fn enabled(&self) -> bool {
        self.sink.is_some()
    }

    /// Appends one record (with a timestamp). Never fails.
    pub fn record(&self, mut entry: Value) {
        let Some(sink) = &self.sink else { return };
        if let Value::Object(m) = &mut entry {
            m.insert(
                "time".into(),
                chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    .into(),
            );
        }
        let mut line = entry.to_string();
        line.push('\n');
        let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = write_line(&mut sink, line.as_bytes())
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "audit log write failed (calls go on; further failures are not reported): {e}"
            );
        }
    }
}

fn write_line(sink: &mut Sink, line: &[u8]) -> std::io::Result<()> {
    match sink {
        Sink::Stderr => std::io::stderr().lock().write_all(line),
        Sink::File {
            path,
            file,
            written,
            max_bytes,
        } => {
            if *written + line.len() as u64 > *max_bytes && *written > 0 {
                *file = None;
                let mut rotated = path.clone().into_os_string();
                rotated.push(".1");
                std::fs::rename(&*path, rotated)?;
                *written = 0;
            }
            if file.is_none() {
                *file = Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&*path)?,
                );
            }
            let f = file
                .as_mut()
                .ok_or_else(|| std::io::Error::other("audit file not open"))?;
            f.write_all(line)?;
            *written += line.len() as u64;
            Ok(())
        }
    }
}

/// Hex SHA-256 of `text`, shortened: enough to correlate, not to reverse.
pub fn hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// A statement's shape without its values, by PostgreSQL's own parser (libpg_query, the
/// same fingerprint pg_stat_statements-style tools use): constants of every kind (quoted,
/// dollar-quoted, `E''`, numbers) become `$n`, and the fingerprint ignores spacing, case and
/// values. Text the parser rejects is logged only as a hash of itself, never as text, since
/// there is no telling where its values are.
pub fn sql_fingerprint(sql: &str) -> Value {
    let options = pg_query::FingerprintOptions::FULL_RELNAME;
    match (
        pg_query::fingerprint(sql, pg_query::ParserOptions::DEFAULT, options),
        pg_query::normalize(sql),
    ) {
        (Ok(f), Ok(shape)) => json!({
            "fingerprint": f.hex,
            "shape": shape.chars().take(500).collect::<String>(),
        }),
        _ => json!({ "fingerprint": hash(sql), "unparsable": true }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_values_and_spacing() {
        let a = sql_fingerprint("SELECT * FROM t WHERE id = 42 AND name = 'bob'");
        let b = sql_fingerprint("select *   from t\nwhere id = 7 and name = $$o'neil$$");
        assert_eq!(a["fingerprint"], b["fingerprint"]);
        assert_eq!(a["shape"], "SELECT * FROM t WHERE id = $1 AND name = $2");
        assert!(!b.to_string().contains("neil"), "{b}");
        assert_ne!(
            a["fingerprint"],
            sql_fingerprint("select * from u")["fingerprint"]
        );
        let e = sql_fingerprint("select E'secret\\'' from");
        assert_eq!(e["unparsable"], true);
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn rotates_and_never_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let audit = Audit::new(Some(path.to_str().unwrap()), 4096, false);
        for i in 0..200 {
            audit.record(json!({ "tool": "pg_read_query", "i": i, "pad": "x".repeat(40) }));
        }
        assert!(path.exists());
        assert!(dir.path().join("audit.log.1").exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 4096);
        let last: Value = serde_json::from_str(
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(last["i"], 199);
        // An unwritable target: records are dropped, nothing panics.
        let bad = Audit::new(Some("/nonexistent-dir/audit.log"), 4096, false);
        bad.record(json!({ "tool": "x" }));
    }
}
