#![allow(clippy::unwrap_used)]
//! The structural diff and its impact on contacts in flight, on small
//! funnels compiled by the real compiler: one edit per test, as a person
//! would make it in a pull request.

use funnel::language::compiler::compile_file;
use funnel::language::diff::{
    Change, ChangeKind, Destination, Effect, Fate, InFlight, diff as changes_of, impact,
};
use funnel::language::model::Funnel;
use funnel::language::source::SourceFile;

const BASE: &str = r#"funnel: t
contact: { paid: bool, replied: bool }
staff: { sales: {} }
enter: [{ when: "true", stage: new }]
stages:
  new:
    goal: { when: "contact.paid", to: won }
    steps:
      - id: hello
        email: { template: hello }
      - id: ask
        after: 1d
        email: { template: ask }
        wait: { until: "contact.replied", within: 2d, yes: next, no: call }
      - id: nudge
        after: 2d
        email: { template: nudge }
      - id: call
        task: { kind: call, assignee: sales, due: 1d }
    exhausted: lost
  won: { terminal: true }
  lost: { terminal: true }
"#;

fn funnel(text: &str) -> Funnel {
    compile_file(&SourceFile::new("t.yaml".into(), text.to_string())).unwrap()
}

/// BASE with `from` replaced by `to` (which must be there) and `tail` appended.
fn edit(pairs: &[(&str, &str)], tail: &str) -> String {
    let mut text = BASE.to_string();
    for (from, to) in pairs {
        assert!(text.contains(from), "BASE has no {from:?}");
        text = text.replace(from, to);
    }
    text + tail
}

fn diff(new: &str) -> Vec<Change> {
    changes_of(&funnel(BASE), &funnel(new))
}

fn kinds(changes: &[Change]) -> Vec<(ChangeKind, Option<&str>, bool)> {
    changes
        .iter()
        .map(|c| (c.kind, c.step.as_deref(), c.unmigrated()))
        .collect()
}

fn at(step: Option<&str>, waiting: bool) -> InFlight {
    InFlight {
        stage: "new".to_string(),
        step: step.map(str::to_string),
        waiting,
        count: 5,
    }
}

fn effects(new: &str, positions: &[InFlight]) -> Vec<Effect> {
    impact(&funnel(BASE), &funnel(new), positions)
}

fn to_step(step: &str) -> Fate {
    Fate::Migrated {
        to: Destination::Step {
            stage: "new".to_string(),
            step: step.to_string(),
        },
    }
}

const ASK: &str = "      - id: ask\n        after: 1d\n        email: { template: ask }\n        wait: { until: \"contact.replied\", within: 2d, yes: next, no: call }\n";

#[test]
fn the_same_version_has_no_changes() {
    assert_eq!(diff(BASE), Vec::new());
}

#[test]
fn removing_a_step_is_breaking_until_a_migration_names_where_its_contacts_go() {
    let removed = edit(&[(ASK, "")], "");
    let changes = diff(&removed);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::StepRemoved, Some("ask"), true)]
    );
    // A removal points at its stage, which is still there.
    assert!(changes[0].span.is_some());
    let fate = &effects(&removed, &[at(Some("ask"), true)])[0].fate;
    assert!(matches!(fate, Fate::Blocked { reason } if reason.contains("`ask` was removed")));

    let migrated = edit(&[(ASK, "")], "migrate:\n  ask: call\n");
    let changes = diff(&migrated);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::StepRemoved, Some("ask"), false)]
    );
    assert_eq!(changes[0].migration.as_deref(), Some("call"));
    let effect = &effects(&migrated, &[at(Some("ask"), true)])[0];
    assert_eq!(effect.fate, to_step("call"));
}

#[test]
fn next_goes_to_the_first_later_step_that_is_left_else_to_exhausted() {
    let one = edit(&[(ASK, "")], "migrate:\n  ask: next\n");
    assert_eq!(
        effects(&one, &[at(Some("ask"), false)])[0].fate,
        to_step("nudge")
    );

    let nudge = "      - id: nudge\n        after: 2d\n        email: { template: nudge }\n      - id: call\n        task: { kind: call, assignee: sales, due: 1d }\n";
    let all = edit(&[(ASK, ""), (nudge, "")], "migrate:\n  ask: next\n");
    let fate = &effects(&all, &[at(Some("ask"), false)])[0].fate;
    assert_eq!(
        *fate,
        Fate::Migrated {
            to: Destination::Exhausted {
                stage: "new".to_string()
            }
        }
    );
}

#[test]
fn a_removed_step_mapped_to_a_new_one_is_a_rename() {
    let renamed = edit(
        &[("id: nudge", "id: reminder")],
        "migrate:\n  nudge: reminder\n",
    );
    let changes = diff(&renamed);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::StepRenamed, Some("nudge"), false)]
    );
    assert_eq!(changes[0].new.as_deref(), Some("reminder"));
    let effect = &effects(
        &renamed,
        &[at(Some("nudge"), false), at(Some("hello"), false)],
    );
    assert_eq!(effect[0].fate, to_step("reminder"));
    // The new name is no new step: nobody "skips" it.
    assert!(effect[1].skipped.is_empty() && effect[1].upcoming.is_empty());
}

#[test]
fn an_inserted_step_reaches_only_contacts_before_it() {
    let inserted = edit(
        &[(
            "      - id: nudge\n",
            "      - id: survey\n        email: { template: survey }\n      - id: nudge\n",
        )],
        "",
    );
    let changes = diff(&inserted);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::StepAdded, Some("survey"), false)]
    );
    assert!(
        changes[0]
            .new
            .as_deref()
            .unwrap()
            .starts_with("after `ask`")
    );
    let before = &effects(&inserted, &[at(Some("ask"), true)])[0];
    assert_eq!(before.fate, Fate::Stays);
    assert_eq!(before.upcoming, ["survey"]);
    let after = &effects(&inserted, &[at(Some("nudge"), false)])[0];
    assert_eq!(after.skipped, ["survey"]);
    assert!(after.upcoming.is_empty());
    let done = &effects(&inserted, &[at(None, false)])[0];
    assert_eq!(done.skipped, ["survey"]);
}

#[test]
fn a_wait_window_change_is_safe_and_open_waits_keep_their_deadline() {
    let wider = edit(&[("within: 2d", "within: 5d")], "");
    let changes = diff(&wider);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::WaitWindowChanged, Some("ask"), false)]
    );
    assert_eq!(changes[0].old.as_deref(), Some("within 2d"));
    assert_eq!(changes[0].new.as_deref(), Some("within 5d"));
    let e = effects(&wider, &[at(Some("ask"), true), at(Some("ask"), false)]);
    assert_eq!(e[0].fate, Fate::Retimed);
    // Not yet waiting: the new window simply applies when the wait opens.
    assert_eq!(e[1].fate, Fate::Stays);
}

#[test]
fn new_wait_targets_block_contacts_in_the_wait_unless_they_stay() {
    let retargeted = edit(&[("no: call", "no: lost")], "");
    let changes = diff(&retargeted);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::WaitTargetsChanged, Some("ask"), true)]
    );
    let e = effects(
        &retargeted,
        &[at(Some("ask"), true), at(Some("ask"), false)],
    );
    assert!(
        matches!(&e[0].fate, Fate::Blocked { reason } if reason.contains("changed its targets"))
    );
    assert_eq!(
        e[1].fate,
        Fate::Stays,
        "not in the wait yet: nothing promised"
    );

    let decided = edit(&[("no: call", "no: lost")], "migrate:\n  ask: stay\n");
    assert_eq!(
        kinds(&diff(&decided)),
        [(ChangeKind::WaitTargetsChanged, Some("ask"), false)]
    );
    assert_eq!(
        effects(&decided, &[at(Some("ask"), true)])[0].fate,
        Fate::Stays
    );
}

#[test]
fn retiming_applies_to_contacts_not_yet_at_the_step() {
    let later = edit(&[("after: 2d", "after: 3d")], "");
    let changes = diff(&later);
    assert_eq!(
        kinds(&changes),
        [(ChangeKind::StepRetimed, Some("nudge"), false)]
    );
    assert_eq!(
        effects(&later, &[at(Some("nudge"), false)])[0].fate,
        Fate::Retimed
    );
}

#[test]
fn template_goal_and_order_changes_are_safe() {
    let edited = edit(
        &[
            ("template: nudge", "template: nudge-v2"),
            (
                "when: \"contact.paid\", to: won",
                "event: order.placed, to: won",
            ),
        ],
        "",
    );
    assert_eq!(
        kinds(&diff(&edited)),
        [
            (ChangeKind::GoalChanged, None, false),
            (ChangeKind::ActionChanged, Some("nudge"), false),
        ]
    );
    let nudge = "      - id: nudge\n        after: 2d\n        email: { template: nudge }\n";
    let swapped = edit(
        &[
            (nudge, ""),
            (
                "    exhausted: lost",
                &format!("{nudge}    exhausted: lost"),
            ),
        ],
        "",
    );
    let moved: Vec<_> = diff(&swapped)
        .into_iter()
        .filter(|c| c.kind == ChangeKind::StepMoved)
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(!moved[0].breaking);
}

#[test]
fn removing_a_stage_needs_a_migration_to_another() {
    let base_stage = "  won: { terminal: true }\n";
    let with_stage = edit(
        &[(
            base_stage,
            &format!(
                "  nurture:\n    steps:\n      - id: letter\n        email: {{ template: letter }}\n    exhausted: lost\n{base_stage}"
            ),
        )],
        "",
    );
    let old = funnel(&with_stage);
    let new = funnel(BASE);
    let changes = changes_of(&old, &new);
    assert_eq!(kinds(&changes), [(ChangeKind::StageRemoved, None, true)]);
    assert_eq!(changes[0].span, None);
    let migrated = funnel(&(BASE.to_string() + "migrate:\n  nurture: new\n"));
    let changes = changes_of(&old, &migrated);
    assert_eq!(changes[0].migration.as_deref(), Some("new"));
    let position = InFlight {
        stage: "nurture".to_string(),
        step: Some("letter".to_string()),
        waiting: false,
        count: 1,
    };
    let effect = &impact(&old, &migrated, &[position])[0];
    assert_eq!(
        effect.fate,
        Fate::Migrated {
            to: Destination::Stage {
                stage: "new".to_string()
            }
        }
    );
    assert_eq!(
        effect.upcoming.len(),
        0,
        "every step of `new` was there before"
    );
}

#[test]
fn renaming_the_funnel_is_breaking() {
    let changes = diff(&edit(&[("funnel: t", "funnel: t2")], ""));
    assert_eq!(kinds(&changes), [(ChangeKind::FunnelRenamed, None, true)]);
}

/// The seam `funnel diff --state` uses: changes plus the contacts at each
/// old position, rendered as a table and as JSON.
#[test]
fn contacts_in_flight_render_with_their_fate() {
    use funnel::language::diff::render::{Compared, Format, Status, render};
    let new = edit(&[(ASK, "")], "migrate:\n  ask: next\n");
    let positions = vec![
        at(Some("hello"), false),
        at(Some("ask"), true),
        at(Some("nudge"), false),
        InFlight {
            stage: "gone".to_string(),
            step: None,
            waiting: false,
            count: 2,
        },
    ];
    let (old, new_funnel) = (funnel(BASE), funnel(&new));
    let effects = impact(&old, &new_funnel, &positions);
    let compared = [Compared {
        file: SourceFile::new("t.yaml".into(), new.clone()),
        funnel: "t".to_string(),
        status: Status::Compared,
        changes: changes_of(&old, &new_funnel),
        effects: Some(positions.into_iter().zip(effects).collect()),
    }];
    let mut table = Vec::new();
    render(Format::Table, &compared, &mut table).unwrap();
    insta::assert_snapshot!("in_flight_table", String::from_utf8(table).unwrap());
    let mut json = Vec::new();
    render(Format::Json, &compared, &mut json).unwrap();
    insta::assert_snapshot!("in_flight_json", String::from_utf8(json).unwrap());
}
