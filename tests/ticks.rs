//! The semantics of a tick, each rule with the regression that showed it
//! was needed: what is due is applied in time order and dated at the
//! moment it belongs to, whenever a run happens to look.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;

/// The quote follow-up example: the shipped funnel and a contact row.
const QUOTE: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,meeting_at,replied,reached,unsubscribed\n";

fn quote_row(id: &str, sent: &str, meeting: &str) -> String {
    format!(
        "{id},{id}@example.com,+36 30 123 4567,{id},assistant,2026-05-04 08:00,{sent},{meeting},no,no,no\n"
    )
}

fn moves(p: &Project, contact: &str) -> Vec<String> {
    p.moves(contact)
}

/// A lead who booked on day 5 and ordered on day 42, seen by one run on
/// day 130, was expired to `lost`: `expire` was applied before the goals
/// that came first. Each move now comes at its own moment.
#[test]
fn one_late_run_applies_goals_before_a_later_expiry() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "contacts.csv",
        &format!("{QUOTE}{}", quote_row("lea", "", "2026-06-10 10:00")),
    );
    p.run_at("2026-05-04T08:00:00Z");
    p.write(
        "contacts.csv",
        &format!(
            "{QUOTE}{}",
            quote_row("lea", "2026-05-05 08:00", "2026-06-10 10:00")
        ),
    );
    p.run_at("2026-05-05T08:00:00Z");
    p.event("lea", "meeting.booked", "2026-05-09T08:00:00Z");
    p.event("lea", "order.placed", "2026-06-15T08:00:00Z");
    p.run_at("2026-09-11T08:00:00Z");
    let moves = moves(&p, "lea");
    assert_eq!(
        moves[moves.len() - 2..],
        [
            "2026-05-09T08:00:00Z goal quoted/follow-up-call -> meeting",
            "2026-06-15T08:00:00Z goal meeting/decision-call -> customer",
        ]
    );
}

/// An `sms.stop` on day 20 beat an exhaustion that happened on day 7:
/// global exits were checked against every event up to `--now` first.
#[test]
fn an_opt_out_after_the_journey_ended_does_not_rewrite_it() {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write(
        "contacts.csv",
        &format!("{QUOTE}{}", quote_row("max", "", "")),
    );
    p.run_at("2026-05-04T08:00:00Z");
    // No quote ever goes out: `requested` runs out after 3d + 4d.
    p.event("max", "sms.stop", "2026-05-24T08:00:00Z");
    p.run_at("2026-05-30T08:00:00Z");
    let moves = moves(&p, "max");
    assert_eq!(
        moves.last().unwrap(),
        "2026-05-11T08:00:00Z exhausted requested -> lost"
    );
}

const WINDOWED: &str = r#"
funnel: windowed
timezone: Europe/Budapest
contact: { email: email, phone: phone, unsubscribed: bool, appointment_at: timestamp? }
enter: [{ when: "has(contact.appointment_at)", stage: booked }]
exit: [{ when: "contact.unsubscribed", to: out }]
send_window: { days: mon-fri, hours: "09:00-18:00" }
stages:
  booked:
    steps:
      - id: slides
        anytime: true
        sms: { template: hello, transactional: true }
      - id: see-you-tomorrow
        on: "contact.appointment_at - duration('24h')"
        stale_after: 12h
        sms: { template: hello, transactional: true }
      - id: after
        on: "contact.appointment_at + duration('1h')"
    exhausted: out
  out: { terminal: true }
"#;

/// The appointments funnel sent "see you tomorrow" at 08:00 on the
/// morning of a 09:00 appointment: the window held it past its
/// `stale_after`. The limit wins; a step marked `anytime` is not held.
#[test]
fn stale_after_wins_over_the_send_window_and_anytime_is_not_held() {
    let p = Project::with_funnel(WINDOWED, &[("hello", "Hello\n")]);
    // Booked on Friday evening for Monday 09:00 (07:00 UTC); the reminder
    // falls due on Sunday, the window opens on Monday.
    p.write(
        "contacts.csv",
        "id,email,phone,unsubscribed,appointment_at\nann,ann@example.com,+36 1 234 5678,no,2026-05-11T07:00:00Z\n",
    );
    p.run_at("2026-05-08T19:00:00Z");
    assert_eq!(p.sent("ann"), ["2026-05-08T19:00:00Z sms slides"]);
    p.run_at("2026-05-11T09:00:00Z");
    assert_eq!(p.payload_status("ann", "see-you-tomorrow"), "stale");
    assert_eq!(p.sent("ann"), ["2026-05-08T19:00:00Z sms slides"]);
}

const SURVEY: &str = r#"
funnel: survey
timezone: UTC
contact: { email: email, unsubscribed: bool, answered: bool }
enter: [{ when: "true", stage: ask }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  ask:
    goal: { when: "contact.answered", to: thanks }
    steps:
      - id: form
        after: 1d
        stale_after: 2h
        email: { template: hello }
        wait: { until: "contact.answered", within: 3d, yes: thanks, no: coupon }
      - id: coupon
        email: { template: hello }
    exhausted: out
  thanks: { terminal: true }
  out: { terminal: true }
"#;

/// A survey skipped as stale still started its wait, and the contact got
/// the "you did not answer" coupon for a form never sent.
#[test]
fn a_skipped_message_does_not_start_its_wait() {
    let p = Project::with_funnel(SURVEY, &[("hello", "subject: Hi\n---\nHello\n")]);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,answered\nann,ann@example.com,no,no\n",
    );
    p.run_at("2026-05-04T10:00:00Z");
    // The server was down for a week: the form is days late.
    p.run_at("2026-05-11T10:00:00Z");
    assert_eq!(p.payload_status("ann", "form"), "stale");
    assert!(
        p.sent("ann").iter().all(|s| !s.ends_with("coupon")),
        "{:?}",
        p.sent("ann")
    );
    let moves = p.moves("ann");
    assert!(
        moves
            .last()
            .unwrap()
            .starts_with("2026-05-05T10:00:00Z exhausted ask/form -> out"),
        "{moves:?}"
    );
}

const CALLS: &str = r#"
funnel: calls
timezone: UTC
contact: { email: email, unsubscribed: bool, won: bool }
staff: { boss: {}, rep: { supervisor: boss } }
enter: [{ when: "true", stage: open }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  open:
    goal: { when: "contact.won", to: won }
    steps:
      - id: call
        task: { kind: call, assignee: rep, due: 4h }
        wait: { event: task.done, within: 2d, yes: next, no: out }
    exhausted: out
  won: { terminal: true }
  out: { terminal: true }
"#;

/// A task stayed open after the goal was reached an hour before its
/// deadline, was escalated to the supervisor and inflated the staff
/// report. Leaving the stage cancels it, with the reason.
#[test]
fn leaving_a_stage_cancels_its_open_tasks_and_they_are_never_escalated() {
    let p = Project::with_funnel(CALLS, &[]);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,won\nann,ann@example.com,no,no\n",
    );
    p.run_at("2026-05-04T10:00:00Z");
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,won\nann,ann@example.com,no,yes\n",
    );
    p.run_at("2026-05-04T13:00:00Z");
    p.run_at("2026-05-05T13:00:00Z");
    assert_eq!(
        p.task_lines(),
        ["ann/call rep 2026-05-04T14:00:00Z cancelled"]
    );
    assert!(p.escalations().is_empty());
}

/// `task.done` events were applied before the walk, so a catch-up could
/// not close a task it created for a past moment, and whether it escalated
/// depended on when runs happened. Now the event closes it at its moment,
/// and `funnel task done` is the same event.
#[test]
fn a_task_done_in_time_is_never_escalated_however_late_the_run() {
    let mut seen = Vec::new();
    for runs in [
        &["2026-05-06T10:00:00Z"][..],
        &[
            "2026-05-04T11:00:00Z",
            "2026-05-04T12:30:00Z",
            "2026-05-04T14:30:00Z",
            "2026-05-06T10:00:00Z",
        ],
    ] {
        let p = Project::with_funnel(CALLS, &[]);
        p.write(
            "contacts.csv",
            "id,email,unsubscribed,won\nann,ann@example.com,no,no\n",
        );
        p.run_at("2026-05-04T10:00:00Z");
        for now in runs {
            // The export holds an event once it has happened.
            if *now > "2026-05-04T12:00:00Z" && !p.path("events.jsonl").exists() {
                p.event_with(
                    "ann",
                    "task.done",
                    "2026-05-04T12:00:00Z",
                    serde_json::json!({ "step": "call" }),
                );
            }
            p.run_at(now);
        }
        assert!(
            p.escalations().is_empty(),
            "{runs:?}: {:?}",
            p.escalations()
        );
        seen.push((p.moves("ann"), p.task_lines()));
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[0]
            .0
            .iter()
            .any(|m| m.starts_with("2026-05-04T12:00:00Z wait-yes")),
        "{:?}",
        seen[0]
    );
}

/// `funnel task done` satisfies a wait on `task.done` like the event does.
#[test]
fn task_done_on_the_command_line_is_a_task_done_event() {
    let p = Project::with_funnel(CALLS, &[]);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,won\nann,ann@example.com,no,no\n",
    );
    p.run_at("2026-05-04T10:00:00Z");
    p.task_done(p.task_id("ann", "call"));
    p.run_at("2026-05-04T11:00:00Z");
    let moves = p.moves("ann");
    assert!(
        moves
            .iter()
            .any(|m| m.starts_with("2026-05-04T10:00:00Z wait-yes")),
        "{moves:?}"
    );
}

/// A message to a contact with no phone was "delivered" to no one.
#[test]
fn a_message_without_an_address_fails_with_the_reason() {
    let yaml = WINDOWED.replace("phone: phone,", "phone: phone?,");
    let p = Project::with_funnel(&yaml, &[("hello", "Hello\n")]);
    p.write(
        "contacts.csv",
        "id,email,phone,unsubscribed,appointment_at\nann,ann@example.com,,no,2026-05-20T07:00:00Z\n",
    );
    let run = p.run_at("2026-05-08T19:00:00Z");
    assert!(run.stderr.contains("failed 1"), "{}", run.stderr);
    assert_eq!(p.payload_status("ann", "slides"), "failed");
    let status = p.funnel(&["status"]);
    assert!(
        status.stdout.contains("no sms address"),
        "{}",
        status.stdout
    );
}

const WINBACK: &str = r#"
funnel: winback
timezone: UTC
contact: { email: email, unsubscribed: bool, last_order_at: timestamp? }
enter: [{ inactive: contact.last_order_at, for: 60d, stage: ask }]
exit: [{ when: "contact.unsubscribed", to: out }]
expire: { after: 30d, to: out }
stages:
  ask:
    steps:
      - id: hello
        email: { template: hello }
      - id: close
        after: 7d
    exhausted: out
  out: { terminal: true }
"#;

/// A first deployment of a win-back funnel back-dated every entry months,
/// skipped every message as stale and expired everyone before anything
/// was sent. Nobody enters before the first run of a funnel version.
#[test]
fn a_first_deployment_enters_contacts_now_not_months_ago() {
    let p = Project::with_funnel(WINBACK, &[("hello", "subject: Hi\n---\nHello\n")]);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,last_order_at\nann,ann@example.com,no,2025-11-01T10:00:00Z\n",
    );
    p.run_at("2026-05-04T10:00:00Z");
    assert_eq!(p.sent("ann"), ["2026-05-04T10:00:00Z email hello"]);
    assert_eq!(p.moves("ann")[0], "2026-05-04T10:00:00Z enter - -> ask");
}

const DUE: &str = r#"
funnel: due
timezone: UTC
contact: { email: email, unsubscribed: bool, due_at: timestamp? }
enter: [{ when: "has(contact.due_at) && contact.due_at <= now", stage: chase }]
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  chase:
    steps:
      - id: remind
        email: { template: hello }
    exhausted: out
  out: { terminal: true }
"#;

/// A condition that reads `now` became true at whichever run evaluated it:
/// an hourly cron dated the entry up to an hour later than a 15-minute
/// one. It is true from the moment it turns true.
#[test]
fn a_condition_over_a_date_is_true_from_that_date_whenever_a_run_looks() {
    let p = Project::with_funnel(DUE, &[("hello", "subject: Hi\n---\nHello\n")]);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed,due_at\nann,ann@example.com,no,2026-05-04T10:17:00Z\n",
    );
    p.run_at("2026-05-04T09:00:00Z");
    p.run_at("2026-05-04T11:00:00Z");
    assert_eq!(p.moves("ann")[0], "2026-05-04T10:17:00Z enter - -> chase");
}

const CARE: &str = r#"
funnel: care
timezone: UTC
contact: { email: email, unsubscribed: bool }
enter: [{ event: order.placed, stage: care }]
reentry: always
exit: [{ when: "contact.unsubscribed", to: out }]
stages:
  care:
    goal: { event: review.posted, to: advocate }
    steps:
      - id: howto
        email: { template: hello }
      - id: settle
        after: 30d
    exhausted: out
  advocate:
    # A repeat purchase sends an advocate back to care, directly.
    goal: { event: order.placed, to: care }
    steps:
      - id: invite
        email: { template: hello }
      - id: rest
        after: 60d
    exhausted: out
  out: { terminal: true }
"#;

/// A repeat purchase re-entered care one run late, back-dated, and an
/// event-driven back-link could not be written at all (`zero-delay-loop`).
/// The order moves the advocate back at its own moment, once: the event
/// is consumed by the move it causes.
#[test]
fn a_repeat_purchase_sends_an_advocate_back_to_care_at_its_moment_once() {
    let p = Project::with_funnel(CARE, &[("hello", "subject: Hi\n---\nHello\n")]);
    assert_eq!(p.funnel(&["check", "funnels"]).code, 0);
    p.write(
        "contacts.csv",
        "id,email,unsubscribed\nann,ann@example.com,no\n",
    );
    p.event("ann", "order.placed", "2026-05-04T10:00:00Z");
    p.run_at("2026-05-04T10:00:00Z");
    p.event("ann", "review.posted", "2026-05-10T10:00:00Z");
    p.run_at("2026-05-11T09:00:00Z");
    p.event("ann", "order.placed", "2026-05-20T15:00:00Z");
    // Daily runs: the one on the 21st sees the order of the 20th.
    p.run_at("2026-05-21T09:00:00Z");
    assert_eq!(
        p.moves("ann"),
        [
            "2026-05-04T10:00:00Z enter - -> care",
            "2026-05-10T10:00:00Z goal care/settle -> advocate",
            "2026-05-20T15:00:00Z goal advocate/rest -> care",
        ]
    );
    assert_eq!(
        p.sent("ann"),
        [
            "2026-05-04T10:00:00Z email howto",
            "2026-05-10T10:00:00Z email invite",
            "2026-05-20T15:00:00Z email howto",
        ]
    );
}

/// A contact who comes back to a step within one walk: its second visit's
/// action carries its moment in the key. In a funnel the state held
/// nothing of, the walk looks for the first visit's key among what it
/// queued itself (`Walk::fresh`), not in the state. Here the funnel's
/// first run saw an empty feed, so the next one walks a contact from its
/// sign-up hours back through three purchases: it must give the keys a
/// run after every event gives.
#[test]
fn a_step_visited_twice_in_one_walk_acts_twice_under_two_keys() {
    const LOOP: &str = r#"
funnel: loop
timezone: UTC
contact: { email: email, signed_up_at: timestamp }
enter:
  - { on: contact.signed_up_at, stage: care }
stages:
  care:
    goal: { event: purchase, to: advocate }
    steps:
      - id: hello
        email: { template: hello }
      - id: check-in
        after: 30d
        email: { template: hello }
    exhausted: done
  advocate:
    goal: { event: purchase, to: care }
    steps:
      - id: thanks
        email: { template: hello }
      - id: ask
        after: 30d
        task: { kind: call, assignee: sam, due: 1d }
    exhausted: done
  done: { terminal: true }
staff:
  sam: {}
"#;
    const ROW: &str = "id,email,signed_up_at\nc1,c1@example.com,2026-05-04 09:00\n";
    let events = [
        ("purchase", "2026-05-04T10:00:00Z"),
        ("purchase", "2026-05-04T11:00:00Z"),
        ("purchase", "2026-05-04T12:00:00Z"),
    ];
    let project = |feed: &str| {
        let p = Project::with_funnel(LOOP, &[("hello", "subject: Hi\n---\nHello.\n")]);
        p.write("contacts.csv", feed);
        p.run_at("2026-05-04T09:00:00Z");
        p
    };
    let keys = |p: &Project| -> Vec<String> {
        let mut keys: Vec<String> = (p.delivered().iter())
            .map(|line| line["key"].as_str().unwrap().to_string())
            .collect();
        keys.sort();
        keys
    };
    let late = project("id,email,signed_up_at\n");
    late.write("contacts.csv", ROW);
    for (event, at) in events {
        late.event("c1", event, at);
    }
    late.run_at("2026-05-04T13:00:00Z");
    // Again at the same moment: nothing new.
    late.run_at("2026-05-04T13:00:00Z");
    let ticking = project(ROW);
    for (event, at) in events {
        ticking.event("c1", event, at);
        ticking.run_at(&at.replace(":00:00Z", ":00:30Z"));
    }
    ticking.run_at("2026-05-04T13:00:00Z");
    assert_eq!(
        keys(&late),
        [
            "loop/c1/1/hello",
            "loop/c1/1/hello@2026-05-04T11:00:00Z",
            "loop/c1/1/thanks",
            "loop/c1/1/thanks@2026-05-04T12:00:00Z",
        ]
    );
    assert_eq!(keys(&late), keys(&ticking));
    // A month on, only the last visit, still in `advocate`, had its later
    // step: one call task, the same either way.
    late.run_at("2026-06-04T13:00:00Z");
    ticking.run_at("2026-06-04T13:00:00Z");
    assert_eq!(keys(&late), keys(&ticking));
    assert_eq!(
        late.task_lines(),
        ["c1/ask sam 2026-06-04T12:00:00Z open"],
        "{:?}",
        late.tasks()
    );
    assert_eq!(late.task_lines(), ticking.task_lines());
}
