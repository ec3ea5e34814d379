#![allow(clippy::unwrap_used)]
//! The run lock belongs to the state file, not to the name it is reached
//! by: a second `funnel run` or `funnel deliver` on the same state is
//! refused (exit 4) and changes nothing, whatever path it was given.

mod common;

use common::Project;
use funnel::store::Store;

const QUOTE_HEADER: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n";
const ANN: &str = "ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 08:00,,no,no,no\n";
const BOB: &str = "bob,bob@example.com,+36 1 234 9999,Bob,assistant,2026-05-05 08:00,,no,no,no\n";

/// A run (and a delivery) on `state`, refused because the lock is held.
fn assert_refused(p: &Project, state: &str) {
    for args in [
        &[
            "run",
            "--contacts",
            "contacts.csv",
            "--now",
            "2026-05-05T09:00:00Z",
            "--state",
            state,
        ][..],
        &["deliver", "--now", "2026-05-05T09:00:00Z", "--state", state],
    ] {
        let run = p.funnel(args);
        assert_eq!(run.code, 4, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("in use by another funnel run"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// Broke: the lock was a file named after the state's path (`state.lock`
/// beside `state.db`), so a hard link, a second name for the same inode,
/// found another lock and two runs could deliver from one state at once.
#[cfg(unix)]
#[test]
fn a_state_reached_through_a_hard_link_shares_its_lock() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", &format!("{QUOTE_HEADER}{ANN}"));
    p.run_at("2026-05-04T09:00:00Z");
    assert_eq!(p.steps_of("ann"), ["thanks"]);
    std::fs::hard_link(p.path(".funnel/state.db"), p.path("twin.db")).unwrap();
    p.write("contacts.csv", &format!("{QUOTE_HEADER}{ANN}{BOB}"));

    // Held through one name, refused through the other, both ways round.
    let held = Store::open(&p.path("twin.db")).unwrap();
    assert_refused(&p, ".funnel/state.db");
    drop(held);
    let held = Store::open(&p.path(".funnel/state.db")).unwrap();
    assert_refused(&p, "twin.db");
    drop(held);

    // Nothing happened while refused; once free, the run does its work
    // once and Ann's first message is not sent again.
    assert_eq!(p.steps_of("bob"), Vec::<String>::new());
    p.run_at("2026-05-05T09:00:00Z");
    assert_eq!(p.steps_of("ann"), ["thanks"]);
    assert_eq!(p.steps_of("bob"), ["thanks"]);
    // The twin name sees the same state: its run has nothing left to do.
    let again = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T09:00:00Z",
        "--state",
        "twin.db",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(p.steps_of("ann"), ["thanks"]);
    assert_eq!(p.steps_of("bob"), ["thanks"]);
}
