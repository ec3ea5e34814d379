#![allow(clippy::unwrap_used)]
//! Staff tasks through the real binary: the brief a task's template renders
//! to (in `tasks`, `task show` and the escalation), who gets a task whose
//! assignee is nobody, and escalations with nobody above.

mod common;

use common::Project;

const HEADER: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,replied,reached,unsubscribed\n";

/// Ann asks for a quote; her owner is `owner`.
fn quote(owner: &str) -> Project {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "contacts.csv",
        &format!(
            "{HEADER}ann,ann@example.com,+36 1 234 5678,Ann,{owner},2026-05-04 08:00,,no,no,no\n"
        ),
    );
    p
}

const NOW: &str = "2026-05-04T09:00:00Z";

/// A task named its template but staff saw only "other task for ann":
/// the brief is rendered when the task is made and shown everywhere.
#[test]
fn a_task_shows_its_brief_in_tasks_task_show_and_its_escalation() {
    let p = quote("assistant");
    p.run_at(NOW);
    let tasks = p.tasks();
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    let task = &tasks[0];
    let brief = task["brief"].as_str().unwrap();
    assert!(
        brief.starts_with("Prepare and send the quote for Ann (ann@example.com, +36 1 234 5678)."),
        "{brief}"
    );
    assert!(
        brief.contains("Mark the quote as sent in the CRM"),
        "{brief}"
    );
    assert_eq!(
        task["title"],
        "Prepare and send the quote for Ann (ann@example.com, +36 1 234 5678)."
    );
    assert!(task["reason"].is_null(), "{task}");

    // The table and CSV show the title, not the paragraphs.
    let table = p.funnel(&["tasks"]);
    assert!(table.stdout.contains("title"), "{}", table.stdout);
    assert!(
        table.stdout.contains("Prepare and send the quote for Ann"),
        "{}",
        table.stdout
    );
    assert!(!table.stdout.contains("Mark the quote"), "{}", table.stdout);
    let csv = p.funnel(&["tasks", "--format", "csv"]);
    assert_eq!(csv.stdout.lines().count(), 2, "{}", csv.stdout);
    let header = csv.stdout.lines().next().unwrap();
    assert!(header.split(',').any(|h| h == "title"), "{header}");
    assert!(!header.split(',').any(|h| h == "brief"), "{header}");

    // `task show` prints every field and the whole brief.
    let id = task["id"].as_i64().unwrap().to_string();
    let show = p.funnel(&["task", "show", &id]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    for needle in [
        "assignee",
        "assistant",
        "prepare-quote",
        "Mark the quote as sent in the CRM",
    ] {
        assert!(show.stdout.contains(needle), "{needle}: {}", show.stdout);
    }
    let json = p.json(&["task", "show", &id, "--format", "json"]);
    assert_eq!(json["brief"], task["brief"]);
    let unknown = p.funnel(&["task", "show", "999"]);
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("no task 999"), "{}", unknown.stderr);

    // A day later it is overdue: the escalation carries the brief.
    p.run_at("2026-05-05T10:00:00Z");
    let escalation = p
        .delivered()
        .into_iter()
        .find(|v| v["key"].as_str().unwrap().ends_with("/escalation"))
        .unwrap();
    let payload = &escalation["payload"];
    assert_eq!(payload["to"], "sales-lead");
    assert!(
        payload["body"]
            .as_str()
            .unwrap()
            .ends_with(": Prepare and send the quote for Ann (ann@example.com, +36 1 234 5678)."),
        "{payload}"
    );
    assert_eq!(payload["brief"], task["brief"]);
}

/// A task for `contact.owner` with the owner empty was "for " nobody and
/// never escalated: it goes to the step's `escalate_to`, with why.
#[test]
fn a_task_for_an_empty_or_unknown_owner_goes_to_escalate_to_with_the_reason() {
    for (owner, why) in [
        ("", "`contact.owner` is empty"),
        ("zed", "`contact.owner` names `zed`, who is not in staff"),
    ] {
        let p = quote(owner);
        let run = p.run_at(NOW);
        assert!(run.stderr.contains("tasks 1"), "{}", run.stderr);
        let tasks = p.tasks();
        assert_eq!(tasks[0]["assignee"], "sales-lead", "{tasks:#?}");
        assert_eq!(tasks[0]["status"], "open");
        assert_eq!(
            tasks[0]["reason"],
            format!("{why}: assigned to sales-lead"),
            "{tasks:#?}"
        );
    }
}

const NO_STAFF: &str = r#"
funnel: lonely
timezone: UTC
contact: { email: email, owner: string? }
enter: [{ when: "true", stage: a }]
stages:
  a:
    steps:
      - id: call
        task: { kind: call, assignee: contact.owner, due: 1h, template: brief }
    exhausted: out
  out: { terminal: true }
"#;

/// With no staff at all nobody can do the task: it is made `failed` with
/// the reason and counted as failed, never left open for no one.
#[test]
fn a_task_in_a_funnel_without_staff_fails_with_the_reason() {
    let p = Project::with_funnel(NO_STAFF, &[("brief", "Call {{contact.email}}\n")]);
    p.write("contacts.csv", "id,email,owner\nann,ann@example.com,\n");
    let run = p.run_at(NOW);
    assert!(run.stderr.contains("failed 1; tasks 0"), "{}", run.stderr);
    let tasks = p.tasks();
    assert_eq!(tasks[0]["status"], "failed", "{tasks:#?}");
    assert_eq!(
        tasks[0]["reason"],
        "`contact.owner` is empty and the funnel has no staff: nobody can do it"
    );
    // Never escalated, since nobody was told.
    p.run_at("2026-05-05T09:00:00Z");
    assert!(p.escalations().is_empty());
    assert!(p.tasks()[0]["escalated_at"].is_null());
}

const LONE_BOSS: &str = r#"
funnel: boss
timezone: UTC
contact: { email: email, missing: string? }
staff:
  boss: {}
enter: [{ when: "true", stage: a }]
stages:
  a:
    steps:
      - id: call
        task: { kind: call, assignee: boss, due: 1h, template: brief }
    exhausted: out
  out: { terminal: true }
"#;

/// An overdue task with no `escalate_to` whose assignee has no supervisor
/// was marked escalated though nobody was told: now it says so instead.
#[test]
fn an_overdue_task_with_nobody_above_is_noted_not_marked_escalated() {
    let p = Project::with_funnel(LONE_BOSS, &[("brief", "Call {{contact.missing}}\n")]);
    p.write("contacts.csv", "id,email\nann,ann@example.com\n");
    p.run_at(NOW);
    let task = &p.tasks()[0];
    // The brief could not render: the task is still made, and says why.
    assert_eq!(task["status"], "open");
    assert!(task["brief"].is_null(), "{task}");
    let reason = task["reason"].as_str().unwrap();
    assert!(
        reason.contains("template brief: the contact has no value for `contact.missing`"),
        "{reason}"
    );
    p.run_at("2026-05-04T12:00:00Z");
    p.run_at("2026-05-04T13:00:00Z");
    assert!(p.escalations().is_empty());
    let task = &p.tasks()[0];
    assert!(task["escalated_at"].is_null(), "{task}");
    let reason = task["reason"].as_str().unwrap();
    assert_eq!(
        reason.matches("overdue with nobody to escalate to").count(),
        1,
        "{reason}"
    );
}
