//! Events that create contacts (`enter: - event: ..., create: {...}`) and
//! conditions that decide on the event that fired a move
//! (`event.data.score >= 9`): a keyword texted from an unknown number makes
//! the contact, who from then on is walked like any other.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;
use serde_json::json;

/// Texting "guide" gets the guide; a survey answer of 9 or more makes a
/// promoter, less a detractor.
const GUIDE: &str = r#"
funnel: guide
contact: { phone: phone, first_name: string?, unsubscribed: bool }
enter:
  - event: sms.replied
    when: "event.data.text.trim().lowerAscii() == 'guide'"
    create: { phone: event.data.from, unsubscribed: "false" }
    stage: welcome
exit:
  - { when: "contact.unsubscribed", to: out }
  - { event: sms.stop, to: out }
stages:
  welcome:
    goal: { event: survey.answered, when: "event.data.score >= 9", to: promoters }
    exit:
      - { event: survey.answered, when: "event.data.score < 9", to: detractors }
    steps:
      - id: send-guide
        sms: { template: guide, transactional: true }
      - id: ask
        after: 1d
        sms: { template: ask, transactional: true }
      - id: close
        after: 3d
    exhausted: quiet
  promoters:
    terminal: true
    steps:
      - id: thank
        sms: { template: thanks, transactional: true }
  detractors: { terminal: true }
  quiet: { terminal: true }
  out: { terminal: true }
"#;

const TEMPLATES: [(&str, &str); 3] = [
    ("guide", "Here is the guide: https://example.com/guide"),
    ("ask", "How would you rate it, 0-10?"),
    (
        "thanks",
        "Thanks{{#if contact.first_name}}, {{contact.first_name}}{{/if}}!",
    ),
];

const HEADER: &str = "id,phone,first_name,unsubscribed\n";

/// The project, deployed (a first run) on the morning of 4 May.
fn guide() -> Project {
    let p = Project::with_funnel(GUIDE, &TEMPLATES);
    p.write(
        "contacts.csv",
        &format!("{HEADER}ann,+36301111111,Ann,no\n"),
    );
    p.run_at("2026-05-04T06:00:00Z");
    p
}

fn text(p: &Project, from: &str, words: &str, at: &str) {
    let data = json!({ "text": words, "from": from, "to": "+3612345678" });
    p.event_with(from, "sms.replied", at, data);
}

const ZOE: &str = "+36302222222";

#[test]
fn a_keyword_from_an_unknown_number_creates_the_contact_and_texts_it_the_guide() {
    let p = guide();
    text(&p, ZOE, " Guide ", "2026-05-04T10:00:00Z");
    let run = p.run_at("2026-05-04T12:00:00Z");
    assert!(
        run.stderr.contains("contacts created from events 1"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("not in the contacts feed"),
        "{}",
        run.stderr
    );
    // The contact exists from the text's moment and enters then, whenever
    // the run looked.
    assert_eq!(p.moves(ZOE), ["2026-05-04T10:00:00Z enter - -> welcome"]);
    assert_eq!(p.sent(ZOE), ["2026-05-04T10:00:00Z sms send-guide"]);
    assert_eq!(p.payload(ZOE, "send-guide")["to"], ZOE);
    // From then on it is walked like a feed row, with no event to prompt it.
    p.run_at("2026-05-05T12:00:00Z");
    assert_eq!(
        p.sent(ZOE),
        [
            "2026-05-04T10:00:00Z sms send-guide",
            "2026-05-05T10:00:00Z sms ask",
        ]
    );
}

#[test]
fn an_event_the_when_refuses_creates_nothing() {
    let p = guide();
    text(&p, ZOE, "hello", "2026-05-04T10:00:00Z");
    let run = p.run_at("2026-05-04T12:00:00Z");
    assert!(p.history(ZOE).is_empty());
    assert!(p.sent(ZOE).is_empty());
    assert!(
        !run.stderr.contains("created from events"),
        "{}",
        run.stderr
    );
    // Still an event for a contact nobody knows: warned, as before.
    assert!(
        run.stderr.contains(&format!(
            "event `sms.replied` for contact `{ZOE}`, who is not in the contacts feed"
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn values_that_make_no_contact_are_reported_and_create_nothing() {
    let p = guide();
    text(&p, ZOE, "guide", "2026-05-04T10:00:00Z");
    // The keyword, but no number to text back.
    p.event_with(
        "web-7",
        "sms.replied",
        "2026-05-04T10:00:00Z",
        json!({ "text": "guide" }),
    );
    let run = p.run_at("2026-05-04T12:00:00Z");
    assert!(
        run.stderr.contains(
            "event `sms.replied` does not create contact `web-7` in funnel `guide`: missing required field `phone`"
        ),
        "{}",
        run.stderr
    );
    assert!(p.history("web-7").is_empty());
    assert_eq!(p.sent(ZOE).len(), 1);
}

#[test]
fn the_same_event_twice_creates_one_contact() {
    let p = guide();
    // A provider's retry, and the keyword texted again an hour later.
    text(&p, ZOE, "guide", "2026-05-04T10:00:00Z");
    text(&p, ZOE, "guide", "2026-05-04T10:00:00Z");
    text(&p, ZOE, "GUIDE", "2026-05-04T11:00:00Z");
    let first = p.run_at("2026-05-04T12:00:00Z");
    assert!(
        first.stderr.contains("contacts created from events 1"),
        "{}",
        first.stderr
    );
    let second = p.run_at("2026-05-04T13:00:00Z");
    assert!(
        !second.stderr.contains("created from events"),
        "{}",
        second.stderr
    );
    assert_eq!(p.moves(ZOE), ["2026-05-04T10:00:00Z enter - -> welcome"]);
    assert_eq!(p.sent(ZOE), ["2026-05-04T10:00:00Z sms send-guide"]);
}

#[test]
fn a_later_feed_row_for_a_created_contact_takes_over() {
    let p = guide();
    text(&p, ZOE, "guide", "2026-05-04T10:00:00Z");
    p.run_at("2026-05-04T12:00:00Z");
    // The CRM imports the number with a name: the row is the contact now.
    p.write(
        "contacts.csv",
        &format!("{HEADER}ann,+36301111111,Ann,no\n{ZOE},{ZOE},Zoe,no\n"),
    );
    p.run_at("2026-05-05T08:00:00Z");
    p.event_with(
        ZOE,
        "survey.answered",
        "2026-05-05T13:00:00Z",
        json!({ "score": 10 }),
    );
    p.run_at("2026-05-05T14:00:00Z");
    assert_eq!(
        p.moves(ZOE),
        [
            "2026-05-04T10:00:00Z enter - -> welcome",
            "2026-05-05T13:00:00Z goal welcome/close -> promoters",
        ]
    );
    assert_eq!(p.payload(ZOE, "thank")["body"], "Thanks, Zoe!");
    let state = rusqlite::Connection::open(p.path(".funnel/state.db")).unwrap();
    let adopted: String = state
        .query_row(
            "SELECT adopted_at FROM created_contacts WHERE contact = ?1",
            [ZOE],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(adopted, "2026-05-05T08:00:00Z");
}

/// A feed row that changes a created contact's values is a change seen by
/// the run that reads it: an opt-out in the CRM takes them out then.
#[test]
fn a_feed_row_that_opts_a_created_contact_out_takes_it_out_when_seen() {
    let p = guide();
    text(&p, ZOE, "guide", "2026-05-04T10:00:00Z");
    p.run_at("2026-05-04T12:00:00Z");
    p.write(
        "contacts.csv",
        &format!("{HEADER}ann,+36301111111,Ann,no\n{ZOE},{ZOE},,yes\n"),
    );
    p.run_at("2026-05-05T08:00:00Z");
    p.run_at("2026-05-09T08:00:00Z");
    assert_eq!(
        p.moves(ZOE),
        [
            "2026-05-04T10:00:00Z enter - -> welcome",
            "2026-05-05T08:00:00Z exit welcome/ask -> out",
        ]
    );
    assert_eq!(p.sent(ZOE), ["2026-05-04T10:00:00Z sms send-guide"]);
}

#[test]
fn goals_and_exits_decide_on_the_event_data() {
    let p = Project::with_funnel(GUIDE, &TEMPLATES);
    p.write(
        "contacts.csv",
        &format!("{HEADER}ann,+36301111111,Ann,no\nbob,+36304444444,Bob,no\n"),
    );
    p.run_at("2026-05-04T06:00:00Z");
    for (who, phone) in [("ann", "+36301111111"), ("bob", "+36304444444")] {
        let data = json!({ "text": "guide", "from": phone });
        p.event_with(who, "sms.replied", "2026-05-04T07:00:00Z", data);
    }
    p.event_with(
        "ann",
        "survey.answered",
        "2026-05-05T09:00:00Z",
        json!({ "score": 9 }),
    );
    // A score in text is no number: it decides nothing, and the next
    // answer does.
    p.event_with(
        "bob",
        "survey.answered",
        "2026-05-05T09:00:00Z",
        json!({ "score": "10" }),
    );
    p.event_with(
        "bob",
        "survey.answered",
        "2026-05-05T10:00:00Z",
        json!({ "score": 3 }),
    );
    p.run_at("2026-05-06T12:00:00Z");
    assert_eq!(
        p.moves("ann").last().unwrap(),
        "2026-05-05T09:00:00Z goal welcome/close -> promoters"
    );
    assert_eq!(
        p.moves("bob").last().unwrap(),
        "2026-05-05T10:00:00Z exit welcome/close -> detractors"
    );
}

/// A wait answered only by the event its `when` accepts.
#[test]
fn a_wait_is_answered_by_the_event_its_when_accepts() {
    let yaml = GUIDE.replace(
        "        sms: { template: ask, transactional: true }\n",
        "        sms: { template: ask, transactional: true }\n        wait: { event: sms.replied, when: \"event.data.text == 'yes'\", within: 2d, yes: promoters, no: quiet }\n",
    );
    let p = Project::with_funnel(&yaml, &TEMPLATES);
    p.write("contacts.csv", HEADER);
    p.run_at("2026-05-04T06:00:00Z");
    text(&p, ZOE, "guide", "2026-05-04T10:00:00Z");
    text(&p, ZOE, "maybe", "2026-05-05T11:00:00Z");
    text(&p, ZOE, "yes", "2026-05-05T12:00:00Z");
    p.run_at("2026-05-04T12:00:00Z");
    p.run_at("2026-05-05T10:30:00Z");
    p.run_at("2026-05-06T12:00:00Z");
    assert_eq!(
        p.moves(ZOE),
        [
            "2026-05-04T10:00:00Z enter - -> welcome",
            "2026-05-05T12:00:00Z wait-yes welcome/ask -> promoters",
        ]
    );
}

/// The principle of a tick: the same texts give the same journeys whether
/// runs come hourly or once, a day late.
#[test]
fn created_contacts_do_not_depend_on_the_schedule() {
    let play = |ticks: &[&str]| {
        let p = guide();
        let mut texts = vec![
            (ZOE, "guide", "2026-05-04T10:00:00Z"),
            ("+36305555555", "nope", "2026-05-04T10:30:00Z"),
            ("+36306666666", "Guide", "2026-05-04T16:20:00Z"),
        ];
        let mut answers = vec![
            (ZOE, 10, "2026-05-05T11:00:00Z"),
            ("+36306666666", 2, "2026-05-05T18:00:00Z"),
        ];
        for now in ticks {
            // The events file grows as things happen, like a real export.
            texts.retain(|(from, words, at)| {
                let due = *at <= *now;
                if due {
                    text(&p, from, words, at);
                }
                !due
            });
            answers.retain(|(who, score, at)| {
                let due = *at <= *now;
                if due {
                    let data = json!({ "score": score });
                    p.event_with(who, "survey.answered", at, data);
                }
                !due
            });
            p.run_at(now);
        }
        let who = [ZOE, "+36305555555", "+36306666666"];
        let moves: Vec<Vec<String>> = who.iter().map(|c| p.moves(c)).collect();
        let sent: Vec<Vec<String>> = who.iter().map(|c| p.sent(c)).collect();
        (moves, sent)
    };
    let hourly: Vec<String> = (7..=23)
        .map(|h| format!("2026-05-04T{h:02}:00:00Z"))
        .chain((0..=23).map(|h| format!("2026-05-05T{h:02}:00:00Z")))
        .chain(["2026-05-06T09:00:00Z".to_string()])
        .collect();
    let hourly: Vec<&str> = hourly.iter().map(String::as_str).collect();
    let (moves, sent) = play(&hourly);
    assert_eq!(
        moves[0],
        [
            "2026-05-04T10:00:00Z enter - -> welcome",
            "2026-05-05T11:00:00Z goal welcome/close -> promoters",
        ]
        .map(String::from)
        .to_vec(),
        "{moves:?}"
    );
    assert!(moves[1].is_empty());
    assert_eq!(
        moves[2].last().unwrap(),
        "2026-05-05T18:00:00Z exit welcome/close -> detractors"
    );
    // Three runs, each within a day of what they find due: the same
    // journeys and the same messages at the same moments.
    let sparse = [
        "2026-05-04T20:00:00Z",
        "2026-05-05T12:00:00Z",
        "2026-05-06T09:00:00Z",
    ];
    assert_eq!(play(&sparse), (moves.clone(), sent));
    // One run two days late skips the messages that went stale, and
    // nothing else differs.
    assert_eq!(play(&["2026-05-06T09:00:00Z"]).0, moves);
}

/// What `funnel check` says about a funnel, and its exit code.
fn check(yaml: &str) -> (i32, String) {
    let p = Project::with_funnel(yaml, &TEMPLATES);
    let run = p.funnel(&["check", "funnels/f.yaml"]);
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

#[test]
fn the_guide_funnel_checks_clean() {
    let (code, out) = check(GUIDE);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn event_is_refused_where_no_event_fired() {
    let yaml = GUIDE.replace(
        "  - { when: \"contact.unsubscribed\", to: out }",
        "  - { when: \"event.data.stop\", to: out }",
    );
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`event` is read only in a `when` beside `event:`"),
        "{out}"
    );
    assert!(out.contains("f.yaml:10:"), "{out}");
}

#[test]
fn create_reads_the_event_not_the_contact() {
    let yaml = GUIDE.replace(
        "create: { phone: event.data.from,",
        "create: { phone: contact.phone,",
    );
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`create` makes the contact from the event: it cannot read `contact`"),
        "{out}"
    );
}

#[test]
fn create_belongs_to_an_event_entry() {
    let yaml = GUIDE
        .replace("  - event: sms.replied\n", "  - when: \"true\"\n")
        .replace(
            "    when: \"event.data.text.trim().lowerAscii() == 'guide'\"\n",
            "",
        );
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`create` belongs to an `event` entry"),
        "{out}"
    );
    assert!(out.contains("f.yaml:6:13"), "{out}");
}

#[test]
fn create_sets_only_declared_fields_and_not_the_id() {
    let yaml = GUIDE.replace(
        "unsubscribed: \"false\" }",
        "unsubscribed: \"false\", nickname: \"'z'\", id: event.contact }",
    );
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("contact field `nickname` is not declared"),
        "{out}"
    );
    assert!(
        out.contains("a created contact's id is the event's contact"),
        "{out}"
    );
}

#[test]
fn create_must_give_every_required_field() {
    let yaml = GUIDE.replace(", unsubscribed: \"false\" }", " }");
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("`create` does not give the required field `unsubscribed`"),
        "{out}"
    );
    assert!(out.contains("f.yaml:7:13"), "{out}");
}

#[test]
fn a_broken_create_expression_points_at_its_column() {
    let yaml = GUIDE.replace("phone: event.data.from,", "phone: \"event.data.from +\",");
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not a valid CEL expression"), "{out}");
    assert!(out.contains("f.yaml:7:"), "{out}");
}

#[test]
fn a_wait_when_needs_its_event() {
    let yaml = GUIDE.replace(
        "        sms: { template: ask, transactional: true }\n",
        "        sms: { template: ask, transactional: true }\n        wait: { until: \"contact.unsubscribed\", when: \"event.data.x\", within: 2d, no: quiet }\n",
    );
    let (code, out) = check(&yaml);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("a wait's `when` decides on its `event`, and this wait has none"),
        "{out}"
    );
}
