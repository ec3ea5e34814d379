#![allow(clippy::unwrap_used)]
//! A large contacts feed far from id order (an export keyed by UUIDs) is
//! walked by id, sorted through temporary files beside the state
//! (`run/tick/order.rs`): it runs exactly like the same rows already in
//! id order, names its bad rows by their own lines, and leaves no file
//! behind.

mod common;

use common::{Project, Run};

const FUNNEL: &str = r#"
funnel: trial
timezone: Europe/Budapest
contact:
  email: email
  name: string
  signed_up_at: timestamp
  plan: string?
enter: [{ on: contact.signed_up_at, stage: welcome }]
stages:
  welcome:
    goal: { when: "contact.plan == 'paid'", to: customer }
    steps:
      - id: hello
        email: { template: hello }
      - id: nudge
        after: 1d
        email: { template: hello }
    exhausted: done
  customer: { terminal: true }
  done: { terminal: true }
"#;

/// More than the 20,000 rows from which order is worth a sort.
const ROWS: usize = 30_000;

/// Ids that look like UUIDs: no order to them.
fn id(i: usize) -> String {
    let x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:016x}-{i}", x ^ (x >> 29))
}

/// Row `i`; the thousandth has a time that is none.
fn row(i: usize) -> String {
    let at = if i == 1_000 {
        "soon"
    } else {
        "2026-05-30 08:00"
    };
    let plan = if i.is_multiple_of(7) { "paid" } else { "" };
    format!("{},p{i}@example.com,Ügyfél {i},{at},{plan}\n", id(i))
}

const HEADER: &str = "id,email,name,signed_up_at,plan\n";

fn project(feed: &str) -> Project {
    let p = Project::with_funnel(
        FUNNEL,
        &[("hello", "subject: Hi\n---\nHi {{contact.name}}\n")],
    );
    p.write("contacts.csv", feed);
    p
}

fn run(p: &Project, now: &str) -> Run {
    let run = p.funnel(&["run", "--contacts", "contacts.csv", "--now", now]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn files(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(p.path(".funnel"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_large_feed_out_of_order_runs_like_the_same_rows_in_id_order() {
    // The generation order is no order at all by id.
    let mut shuffled = String::from(HEADER);
    for i in 0..ROWS {
        shuffled += &row(i);
    }
    // The last line repeats the first row's id.
    shuffled += &format!("{},again@example.com,Again,2026-05-30 08:00,\n", id(0));
    let mut by_id: Vec<usize> = (0..ROWS).collect();
    by_id.sort_by_key(|&i| id(i));
    let mut ordered = String::from(HEADER);
    for &i in &by_id {
        ordered += &row(i);
    }
    let (a, b) = (project(&shuffled), project(&ordered));
    for now in ["2026-06-01T09:00:00Z", "2026-06-02T09:00:00Z"] {
        let (ran_a, ran_b) = (run(&a, now), run(&b, now));
        // From who entered to what was delivered, leaving out the rows
        // read and the bad ones: the repeated id is a row only `a` has.
        let summary = |r: &Run| {
            let from = r.stderr.find("entered").unwrap();
            let to = r.stderr.find("bad rows").unwrap();
            let delivery = r.stderr.find("delivery:").unwrap();
            format!("{} {}", &r.stderr[from..to], &r.stderr[delivery..])
        };
        assert!(ran_a.stderr.contains("bad rows 2 "), "{}", ran_a.stderr);
        assert!(ran_b.stderr.contains("bad rows 1 "), "{}", ran_b.stderr);
        assert_eq!(
            summary(&ran_a),
            summary(&ran_b),
            "the same journeys whatever the order of the feed"
        );
        // Each bad row is named by its own line in its own file.
        assert!(
            ran_a.stderr.contains(
                "contacts.csv (trial):1002: field `signed_up_at`: `soon` is not a timestamp"
            ),
            "{}",
            ran_a.stderr
        );
        assert!(
            ran_a.stderr.contains(&format!(
                "contacts.csv:{}: field `id`: duplicate id `{}`, first on line 2",
                ROWS + 2,
                id(0)
            )),
            "{}",
            ran_a.stderr
        );
    }
    // Both walked by id: the same messages in the same order.
    let (sent_a, sent_b) = (a.outbox(), b.outbox());
    assert_eq!(sent_a.len(), sent_b.len());
    assert!(sent_a == sent_b, "the outbox files differ");
    let welcomed: Vec<&String> = (sent_a.iter())
        .filter(|(_, step, ..)| step == "hello")
        .map(|(c, ..)| c)
        .collect();
    assert!(
        welcomed.windows(2).all(|w| w[0] < w[1]),
        "the first run's welcomes go out by id"
    );
    // Paid contacts reached their goal at once; the others were welcomed
    // and nudged.
    let paid = ROWS.div_ceil(7);
    assert_eq!(welcomed.len(), ROWS - 1 - paid);
    assert_eq!(sent_a.len(), 2 * (ROWS - 1 - paid));
    assert_eq!(a.status(), b.status());
    // Sorted through unnamed files: nothing is left beside the state.
    assert_eq!(files(&a), files(&b));
}

#[test]
fn a_large_feed_in_numbered_order_is_walked_as_it_comes() {
    // `c9` sorts after `c10`, but such a feed is in a few long runs: it
    // is walked in the order of its lines, which the outbox keeps.
    let mut feed = String::from(HEADER);
    for i in 0..ROWS {
        feed += &format!("c{i},c{i}@example.com,Name {i},2026-05-30 08:00,\n");
    }
    let p = project(&feed);
    run(&p, "2026-06-01T09:00:00Z");
    let contacts: Vec<String> = p.outbox().into_iter().map(|(c, ..)| c).collect();
    let expected: Vec<String> = (0..ROWS).map(|i| format!("c{i}")).collect();
    assert!(contacts == expected, "not in the feed's order");
}
