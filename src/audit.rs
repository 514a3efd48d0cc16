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

/// A statement's shape without its values: string and numeric literals become `?`,
/// whitespace is collapsed and keywords lower-cased, so the same query with other
/// values has the same fingerprint and no data reaches the log.
pub fn sql_fingerprint(sql: &str) -> Value {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut last_space = false;
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A string literal ('' is an escaped quote inside it).
                while let Some(n) = chars.next() {
                    if n == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push('?');
                last_space = false;
            }
            c if c.is_ascii_digit()
                && !out.ends_with(|p: char| p.is_alphanumeric() || p == '_' || p == '$') =>
            {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_digit() || *n == '.')
                {
                    chars.next();
                }
                out.push('?');
                last_space = false;
            }
            c if c.is_whitespace() => {
                if !last_space && !out.is_empty() {
                    out.push(' ');
                }
                last_space = true;
            }
            c => {
                out.extend(c.to_lowercase());
                last_space = false;
            }
        }
    }
    let shape = out.trim_end().to_string();
    json!({ "fingerprint": hash(&shape), "shape": shape.chars().take(500).collect::<String>() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_values_and_spacing() {
        let a = sql_fingerprint("SELECT * FROM t WHERE id = 42 AND name = 'bob'");
        let b = sql_fingerprint("select *   from t\nwhere id = 7 and name = 'o''neil'");
        assert_eq!(a, b);
        assert_eq!(a["shape"], "select * from t where id = ? and name = ?");
        assert_ne!(
            a["fingerprint"],
            sql_fingerprint("select * from u")["fingerprint"]
        );
        assert_eq!(
            sql_fingerprint("select $1, t1.c2")["shape"],
            "select $1, t1.c2"
        );
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
