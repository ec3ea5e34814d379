//! Dispatcher: delivers queued outbox rows. For now the only channel is the
//! embedded default, a JSON Lines file (`.funnel/outbox.jsonl`); real SMTP
//! and HTTP channels come next. Delivery happens after the tick committed:
//! a row is appended to the file, then marked delivered. A crash between the
//! two would append it again, so the keys already in the file are skipped.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::store::{self, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("cannot write {}: {source}", path.display())]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Dispatcher;

impl Dispatcher {
    /// Appends every queued row to `file`; returns how many were delivered.
    pub fn deliver(store: &mut Store, file: &Path) -> Result<usize, DeliverError> {
        let io = |source| DeliverError::File {
            path: file.to_path_buf(),
            source,
        };
        let queued = store::outbox(store.connection(), "queued")?;
        if queued.is_empty() {
            return Ok(0);
        }
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let written = keys_in(file).map_err(io)?;
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(io)?;
        let mut delivered = 0;
        for row in queued {
            if !written.contains(&row.key) {
                let line = serde_json::to_string(&row).map_err(|e| io(std::io::Error::other(e)))?;
                writeln!(out, "{line}").map_err(io)?;
                out.flush().map_err(io)?;
            }
            store::set_outbox_status(store.connection(), &row.key, "delivered")?;
            delivered += 1;
        }
        out.sync_all().map_err(io)?;
        Ok(delivered)
    }
}

/// Idempotency keys already in the outbox file; a torn last line is ignored.
fn keys_in(file: &Path) -> std::io::Result<HashSet<String>> {
    let handle = match std::fs::File::open(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let mut keys = HashSet::new();
    for line in std::io::BufReader::new(handle).lines() {
        let line = line?;
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
            && let Some(key) = value.get("key").and_then(|k| k.as_str())
        {
            keys.insert(key.to_string());
        }
    }
    Ok(keys)
}
