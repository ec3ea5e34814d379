use super::*;
use crate::store::{Message, Payload};

/// A provider's `Retry-After: 9000000000000` overflowed the retry time
/// and panicked the pass between sending and committing.
#[test]
fn a_huge_retry_after_waits_a_day_and_cannot_overflow() {
    let now = Utc::now();
    let at = retry_at(now, TimeDelta::MAX);
    assert!(at > now && at.format("%Y").to_string() == "9999", "{at}");
    let delivery = Delivery::default();
    let outbox = PathBuf::from("unused.jsonl");
    let dispatcher = Dispatcher::new(&delivery, &outbox, now);
    let pending = Pending {
        id: 1,
        attempts: 0,
        journey: None,
        row: OutboxRow {
            key: "f/c/1/s".into(),
            funnel: "f".into(),
            contact: "c".into(),
            step: "s".into(),
            channel: "sms".into(),
            payload: Payload::Message(Message {
                to: Some("+36 1 234 5678".into()),
                subject: None,
                body: "hi".into(),
                template: "hi".into(),
                transactional: false,
                unsubscribe: None,
                html: None,
            }),
            due_at: now,
            status: crate::store::OutboxStatus::Queued,
        },
    };
    for seconds in [9_000_000_000_000, u64::MAX] {
        let failure = Failure::Retry {
            after: Some(Duration::from_secs(seconds)),
            reason: "HTTP 429".into(),
        };
        let Attempt::Retry { at, .. } = dispatcher.failed(&pending, failure) else {
            panic!("a 429 is retried");
        };
        assert_eq!(at, now + TimeDelta::days(1));
    }
}

#[test]
fn backoff_doubles_with_jitter_and_stops_at_the_maximum() {
    let settings = Settings {
        backoff: TimeDelta::seconds(60),
        max_backoff: TimeDelta::seconds(600),
        ..Settings::default()
    };
    for attempts in 1..=6 {
        let full = (60_i64 << (attempts - 1)).min(600);
        let wait = backoff(&settings, "f/c/1/s", attempts).num_seconds();
        assert!(
            wait >= full / 2 && wait <= full,
            "attempt {attempts}: {wait}s"
        );
    }
    assert_ne!(
        (1..50)
            .map(|i| backoff(&settings, &format!("f/c{i}/1/s"), 3))
            .collect::<HashSet<_>>()
            .len(),
        1,
        "jitter spreads rows out"
    );
}

/// A pass that appended a page to a file the state had never written,
/// then died before committing, must leave nothing to keep: the next
/// pass writes the page again, and each row is in the file once.
#[test]
fn a_pass_that_dies_after_its_first_append_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let now = Utc::now();
    let tx = store.transaction().unwrap();
    let mut tally = store::Tally::default();
    for contact in ["a", "b", "c"] {
        let row = OutboxRow {
            key: format!("f/{contact}/1/hello"),
            funnel: "f".into(),
            contact: contact.into(),
            step: "hello".into(),
            channel: "email".into(),
            payload: Payload::Message(Message {
                to: Some(format!("{contact}@example.com")),
                subject: None,
                body: "hi".into(),
                template: "hello".into(),
                transactional: false,
                unsubscribe: None,
                html: None,
            }),
            due_at: now,
            status: crate::store::OutboxStatus::Queued,
        };
        store::enqueue(&tx, &mut tally, (&row, &row.payload.text()), None, now).unwrap();
    }
    tally.flush(&tx).unwrap();
    tx.commit().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let delivery = Delivery::default();
    let dispatcher = Dispatcher::new(&delivery, &outbox, now);

    // The pass that dies: its page is written, its outcome never committed.
    let page = store.due_outbox(now, 0, 10).unwrap();
    let mut files: IndexMap<&Path, Vec<&Pending>> = IndexMap::new();
    files.insert(&outbox, page.iter().collect());
    dispatcher
        .write_files(&store, &files, &mut Vec::new())
        .unwrap();
    assert_eq!(std::fs::read_to_string(&outbox).unwrap().lines().count(), 3);

    let delivered = dispatcher.deliver(&mut store).unwrap();
    assert_eq!(delivered.delivered, 3);
    let text = std::fs::read_to_string(&outbox).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .map(|line| {
            line.split("\"key\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(keys, ["f/a/1/hello", "f/b/1/hello", "f/c/1/hello"]);
}
