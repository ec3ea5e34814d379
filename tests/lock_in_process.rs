#![allow(clippy::unwrap_used)]
//! The run lock inside one process. Alone in its test binary: a test that
//! starts child processes (as `tests/lock.rs` does) can fork while this one
//! holds the lock, and the child keeps the locked file open until it
//! executes, so a reopen right after the drop could find it still held.

use funnel::store::Store;

/// A held lock on the state refuses a second opener in the same way as a
/// second process: the lock is per open file, not per process.
#[cfg(unix)]
#[test]
fn a_second_store_on_a_hard_link_is_refused_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let held = Store::open(&first).unwrap();
    std::fs::hard_link(&first, &second).unwrap();
    assert!(matches!(
        Store::open(&second),
        Err(funnel::store::StoreError::Locked { .. })
    ));
    drop(held);
    assert!(Store::open(&second).is_ok());
}
