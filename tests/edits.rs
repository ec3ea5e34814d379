//! Editing a live funnel: the shipped quote follow-up funnel run for real,
//! then edited while contacts are in the middle of it. Nobody moves
//! without a history line; a breaking edit is refused until a `migrate:`
//! block says where its contacts go; `funnel diff --state` shows it first.
#![allow(clippy::unwrap_used)]

mod common;

use common::Project;
use serde_json::Value;

const FUNNEL: &str = "funnels/quote-follow-up.yaml";

/// Contacts who asked for a quote on Monday 4 May 2026: Ann's is still
/// being prepared; Cy replied to his (he is due a nudge); Dóra has not
/// answered hers yet (waiting on `await-answer`).
const CONTACTS: &str = "\
id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,meeting_at,replied,reached,unsubscribed
ann,ann@example.com,+36 1 234 5678,Ann,assistant,2026-05-04 07:40,,,no,no,no
cy,cy@example.com,+36 30 111 2222,Cy,assistant,2026-04-29 10:00,2026-04-29 15:00,,yes,no,no
dora,dora@example.com,+36 70 333 4444,Dóra,assistant,2026-04-27 09:00,2026-04-27 16:00,,no,no,no
";

fn started() -> Project {
    let p = Project::with_examples(&["quote-follow-up"]);
    p.write("contacts.csv", CONTACTS);
    p.run_at("2026-05-04T08:30:00Z");
    p
}

fn edit(p: &Project, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(p.path(FUNNEL)).unwrap();
    std::fs::write(p.path(FUNNEL), change(text)).unwrap();
}

fn replace(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the funnel has no {from:?}");
    text.replacen(from, to, 1)
}

/// `stage/step` of every journey, by contact (`-` once the steps ran out).
fn places(p: &Project) -> Vec<String> {
    let rows: Value = p.json(&["contacts", "--format", "json"]);
    let mut places: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}/{}",
                r["contact"].as_str().unwrap(),
                r["stage"].as_str().unwrap(),
                r["step"].as_str().unwrap_or("-")
            )
        })
        .collect();
    places.sort();
    places
}

fn kinds(p: &Project, contact: &str) -> Vec<String> {
    p.history(contact)
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_string())
        .collect()
}

fn remove_await_answer(text: String) -> String {
    replace(
        text,
        "      - id: await-answer\n        wait: { until: \"contact.replied\", within: 3d, yes: quote-nudge, no: next }\n",
        "",
    )
}

#[test]
fn removing_the_step_a_contact_waits_on_is_refused_until_a_migration_says_where() {
    let p = started();
    assert_eq!(
        places(&p),
        [
            "ann requested/quote-overdue",
            "cy quoted/quote-nudge",
            "dora quoted/await-answer"
        ]
    );
    edit(&p, |text| {
        replace(
            remove_await_answer(text),
            "id: quote-overdue",
            "id: quote-late",
        )
    });

    // `funnel diff --state` names both contacts the edit would strand.
    let diff = p.funnel(&["diff", "--state", ".funnel/state.db", FUNNEL]);
    assert_eq!(diff.code, 1, "{}{}", diff.stdout, diff.stderr);
    assert!(
        diff.stdout
            .contains("quoted/await-answer (waiting)       blocked"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stdout
            .contains("requested/quote-overdue             blocked"),
        "{}",
        diff.stdout
    );

    // The run refuses before changing anything, naming count and migration.
    let refused = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T08:30:00Z",
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("1 contact on step `await-answer` of stage `quoted`"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("add `migrate: { quote-overdue: <step, stage, next or stay> }`"),
        "{}",
        refused.stderr
    );
    assert_eq!(kinds(&p, "dora"), ["enter", "goal"]);

    // With the migration reviewed, the run carries them across, each with
    // a `migrate` history line, and goes on from there.
    edit(&p, |text| {
        replace(
            text,
            "stages:\n  requested:",
            "migrate:\n  await-answer: follow-up-call\n  quote-overdue: quote-late\n\nstages:\n  requested:",
        )
    });
    let diff = p.funnel(&["diff", "--state", ".funnel/state.db", FUNNEL]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
    assert!(
        diff.stdout.contains("move to quoted/follow-up-call"),
        "{}",
        diff.stdout
    );
    let plan = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T08:30:00Z",
        "--dry-run",
    ]);
    assert!(
        plan.stdout
            .contains("dora  migrate: await-answer -> quoted/follow-up-call"),
        "{}",
        plan.stdout
    );
    p.run_at("2026-05-05T08:30:00Z");
    assert_eq!(
        places(&p),
        [
            "ann requested/quote-late",
            "cy quoted/quote-nudge",
            "dora quoted/follow-up-call"
        ]
    );
    assert_eq!(kinds(&p, "dora"), ["enter", "goal", "migrate"]);
    let line = p.history("dora").pop().unwrap();
    assert_eq!(line["at"], "2026-05-05T08:30:00Z");
    assert_eq!(
        (&line["from_step"], &line["to_step"]),
        (&Value::from("await-answer"), &Value::from("follow-up-call"))
    );
    // Dóra's call task is created (the old runner skipped it). Ann starts
    // the renamed step when the new version first ran: its 3 days count
    // from then.
    assert!(
        p.task_lines()
            .iter()
            .any(|t| t.starts_with("dora/follow-up-call"))
    );
    p.run_at("2026-05-08T08:30:00Z");
    assert!(
        p.sent("ann")
            .contains(&"2026-05-08T08:30:00Z notify quote-late".to_string()),
        "{:?}",
        p.sent("ann")
    );
    // Cy was never moved: the nudge he was owed goes out.
    p.run_at("2026-05-08T09:00:00Z");
    assert!(
        p.sent("cy")
            .iter()
            .any(|s| s.ends_with("email quote-nudge"))
    );
    assert_eq!(kinds(&p, "cy"), ["enter", "goal", "wait-yes"]);
}

#[test]
fn a_step_added_before_a_contact_is_not_received_and_one_after_is() {
    let p = started();
    // A call before the reminder Cy is owed, and a last note after it.
    edit(&p, |text| {
        let text = replace(
            text,
            "      - id: quote-nudge\n",
            "      - id: pre-nudge-call\n        task: { kind: call, assignee: assistant, due: 4h }\n      - id: quote-nudge\n",
        );
        replace(
            text,
            "      - id: quote-last-chance\n        after: 7d\n",
            "      - id: quote-last-chance\n        after: 7d\n      - id: goodbye\n        email: { template: quote-nudge }\n",
        )
    });
    let diff = p.funnel(&["diff", "--state", ".funnel/state.db", FUNNEL]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
    p.run_at("2026-05-08T09:00:00Z");
    p.run_at("2026-05-15T09:00:00Z");
    assert!(
        p.task_lines()
            .iter()
            .all(|t| !t.starts_with("cy/pre-nudge-call"))
    );
    assert!(
        p.sent("cy")
            .iter()
            .any(|s| s.ends_with("email quote-nudge"))
    );
    assert!(
        p.sent("cy").iter().any(|s| s.ends_with("email goodbye")),
        "{:?}",
        p.sent("cy")
    );
}

#[test]
fn a_shorter_wait_keeps_the_deadline_it_promised_to_contacts_already_waiting() {
    let p = started();
    edit(&p, |text| {
        replace(
            text,
            "wait: { until: \"contact.replied\", within: 3d,",
            "wait: { until: \"contact.replied\", within: 1d,",
        )
    });
    // Dóra's wait opened on 4 May with three days: still waiting on the 6th.
    p.run_at("2026-05-06T08:30:00Z");
    assert!(places(&p).contains(&"dora quoted/await-answer".to_string()));
    p.run_at("2026-05-07T09:00:00Z");
    let line = p.history("dora").pop().unwrap();
    assert_eq!(line["kind"], "wait-no");
    assert_eq!(line["at"], "2026-05-07T08:30:00Z");
}

#[test]
fn deleting_a_stage_with_contacts_in_it_needs_a_migration_to_another_stage() {
    let p = started();
    // `requested` goes: leads now start in `quoted`.
    edit(&p, |text| {
        let start = text.find("  requested:\n").unwrap();
        let end = text.find("  quoted:\n").unwrap();
        let mut text = format!("{}{}", &text[..start], &text[end..]);
        text = replace(text, "stage: requested }", "stage: quoted }");
        text
    });
    let refused = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T08:30:00Z",
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("step `quote-overdue`"),
        "{}",
        refused.stderr
    );
    edit(&p, |text| {
        replace(
            text,
            "stages:\n",
            "migrate:\n  requested: quoted\n\nstages:\n",
        )
    });
    p.run_at("2026-05-05T08:30:00Z");
    assert!(
        places(&p).contains(&"ann quoted/await-answer".to_string()),
        "{:?}",
        places(&p)
    );
    assert_eq!(kinds(&p, "ann"), ["enter", "migrate"]);
    // The report counts Ann's migration as a visit of `quoted` begun (and
    // her visit of `requested` ended), under the new version.
    let report = p.json(&["report", "--format", "json", "--min-contacts", "1"]);
    let stages = report["funnels"][0]["stages"].as_array().unwrap();
    let quoted = stages.iter().find(|s| s["stage"] == "quoted").unwrap();
    assert_eq!(quoted["entered"], 3, "{quoted}");
}

#[test]
fn renaming_a_funnel_with_contacts_in_flight_is_refused() {
    let p = started();
    edit(&p, |text| {
        replace(text, "funnel: quote-follow-up", "funnel: quotes")
    });
    let refused = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T08:30:00Z",
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("keep the name `quote-follow-up`"),
        "{}",
        refused.stderr
    );
}

/// A state written by the runner before ids were kept (schema v6, by the
/// commit before v7) upgrades with every contact on the step it was on.
#[test]
fn a_state_written_before_ids_were_kept_upgrades_with_every_contact_on_the_same_step() {
    let p = Project::with_examples(&["quote-follow-up"]);
    std::fs::create_dir_all(p.path(".funnel")).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v6-quote-follow-up.db");
    std::fs::copy(fixture, p.path(".funnel/state.db")).unwrap();
    // Made from funnels/contacts/quote-follow-up.csv at 2026-05-04T08:30Z
    // and 2026-05-06T10:00Z: Ann at index 2 of `requested`, Cy at 2 of
    // `quoted`, Dóra waiting at 0 of `quoted`.
    p.write(
        "contacts.csv",
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("funnels/contacts/quote-follow-up.csv"),
        )
        .unwrap(),
    );
    p.run_at("2026-05-06T10:05:00Z");
    assert_eq!(
        places(&p),
        [
            "ann requested/quote-overdue",
            "cy quoted/quote-nudge",
            "dora quoted/await-answer"
        ]
    );
    // Nobody moved in the upgrade: no history lines beyond the old runs'.
    assert_eq!(kinds(&p, "dora"), ["enter", "goal"]);
    assert_eq!(kinds(&p, "ann"), ["enter"]);
}

/// What a reviewer sees: `funnel diff --state` on the edit above, without
/// and with its migration, in every format.
#[test]
fn diff_against_the_state_shows_who_each_edit_moves() {
    let p = started();
    edit(&p, |text| {
        replace(
            remove_await_answer(text),
            "id: quote-overdue",
            "id: quote-late",
        )
    });
    for format in ["table", "json", "github"] {
        let run = p.funnel(&[
            "diff",
            "--state",
            ".funnel/state.db",
            "--format",
            format,
            FUNNEL,
        ]);
        assert_eq!(run.code, 1);
        insta::assert_snapshot!(format!("state_diff_blocked_{format}"), run.stdout);
    }
    edit(&p, |text| {
        replace(
            text,
            "stages:\n  requested:",
            "migrate:\n  await-answer: follow-up-call\n  quote-overdue: quote-late\n\nstages:\n  requested:",
        )
    });
    for format in ["table", "json", "github"] {
        let run = p.funnel(&[
            "diff",
            "--state",
            ".funnel/state.db",
            "--format",
            format,
            FUNNEL,
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        insta::assert_snapshot!(format!("state_diff_migrated_{format}"), run.stdout);
    }
}

#[test]
fn reordered_steps_keep_everyone_where_they_are_and_go_on_in_the_new_order() {
    let p = started();
    // The call now comes first; the three-day wait after it.
    edit(&p, |text| {
        let wait = "      - id: await-answer\n        wait: { until: \"contact.replied\", within: 3d, yes: quote-nudge, no: next }\n";
        let text = replace(text, wait, "");
        replace(
            text,
            "      # They answered or we talked",
            &format!("{wait}      # They answered or we talked"),
        )
    });
    // Moving the wait changes where its `next` leads: for Dóra, who is in
    // it, that is a decision to make.
    let diff = p.funnel(&["diff", "--state", ".funnel/state.db", FUNNEL]);
    assert_eq!(diff.code, 1, "{}{}", diff.stdout, diff.stderr);
    assert!(diff.stdout.contains("step-moved"), "{}", diff.stdout);
    assert!(
        diff.stdout.contains("wait-targets-changed"),
        "{}",
        diff.stdout
    );
    edit(&p, |text| {
        replace(
            text,
            "stages:\n",
            "migrate:\n  await-answer: stay\n\nstages:\n",
        )
    });
    let diff = p.funnel(&["diff", "--state", ".funnel/state.db", FUNNEL]);
    assert_eq!(diff.code, 0, "{}{}", diff.stdout, diff.stderr);
    // Dóra keeps her deadline, then goes on from there under the new
    // order, past the call that now comes before her.
    p.run_at("2026-05-07T09:00:00Z");
    let line = p.history("dora").pop().unwrap();
    assert_eq!(
        (&line["kind"], &line["at"], &line["to_step"]),
        (
            &Value::from("wait-no"),
            &Value::from("2026-05-07T08:30:00Z"),
            &Value::from("quote-nudge")
        )
    );
    assert!(
        p.task_lines().iter().all(|t| !t.starts_with("dora/")),
        "{:?}",
        p.task_lines()
    );
    assert_eq!(kinds(&p, "cy"), ["enter", "goal", "wait-yes"]);
}

#[test]
fn a_stage_split_in_two_moves_its_contacts_only_as_the_migration_says() {
    let p = started();
    // `quoted` keeps the wait and the call; the nudge and the last chance
    // become a stage of their own.
    edit(&p, |text| {
        let text = replace(
            text,
            "      # They answered or we talked, but no meeting yet: one friendly nudge.\n",
            "    exhausted: nurture\n\n  nurture:\n    goal: { event: meeting.booked, to: meeting }\n    steps:\n",
        );
        let text = replace(
            text,
            "within: 2d, yes: next, no: unreachable }",
            "within: 2d, yes: nurture, no: unreachable }",
        );
        replace(
            text,
            "within: 3d, yes: quote-nudge, no: next }",
            "within: 3d, yes: nurture, no: next }",
        )
    });
    let check = p.funnel(&["check", "funnels"]);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    // Cy is on `quote-nudge`, which moved to `nurture`: a decision is needed.
    let refused = p.funnel(&[
        "run",
        "--contacts",
        "contacts.csv",
        "--now",
        "2026-05-05T08:30:00Z",
    ]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("quote-nudge"), "{}", refused.stderr);
    // Dóra waits on `await-answer`, whose `yes` now leads to the new stage:
    // that too is a decision. Both stay, under the new definitions.
    edit(&p, |text| {
        replace(
            text,
            "stages:\n",
            "migrate:\n  quote-nudge: stay\n  await-answer: stay\n\nstages:\n",
        )
    });
    p.run_at("2026-05-05T08:30:00Z");
    assert!(
        places(&p).contains(&"cy nurture/quote-nudge".to_string()),
        "{:?}",
        places(&p)
    );
    assert_eq!(kinds(&p, "cy"), ["enter", "goal", "wait-yes", "migrate"]);
    assert!(
        places(&p).contains(&"dora quoted/await-answer".to_string()),
        "{:?}",
        places(&p)
    );
}

/// A state written before ids were kept, whose funnel was then edited: the
/// positions it holds are read against the version its journeys ran under,
/// which git still has at the commit the state recorded, not against the
/// edited file (where a step added in front would shift everyone).
#[test]
fn an_older_state_reads_its_positions_against_the_committed_version_they_ran_under() {
    let p = Project::with_examples(&["quote-follow-up"]);
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(p.dir.path())
            // The commit the fixture recorded: same file, author and time.
            .envs([
                ("GIT_AUTHOR_NAME", "t"),
                ("GIT_AUTHOR_EMAIL", "t@example.com"),
                ("GIT_COMMITTER_NAME", "t"),
                ("GIT_COMMITTER_EMAIL", "t@example.com"),
                ("GIT_AUTHOR_DATE", "2026-05-01T00:00:00Z"),
                ("GIT_COMMITTER_DATE", "2026-05-01T00:00:00Z"),
            ])
            .output()
            .unwrap();
        assert!(status.status.success(), "git {args:?}: {status:?}");
    };
    git(&["init", "-q"]);
    git(&["add", FUNNEL]);
    git(&["commit", "-q", "-m", "shipped"]);
    std::fs::create_dir_all(p.path(".funnel")).unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v6-quote-follow-up-git.db");
    std::fs::copy(fixture, p.path(".funnel/state.db")).unwrap();
    // Ann is at index 2 of `requested` (`quote-overdue`); a step now comes
    // first, so index 2 of the edited file is `prepare-quote`.
    edit(&p, |text| {
        replace(
            text,
            "    steps:\n      - id: thanks\n",
            "    steps:\n      - id: first-look\n        tag: new-lead\n      - id: thanks\n",
        )
    });
    p.write("contacts.csv", CONTACTS);
    p.run_at("2026-05-05T08:30:00Z");
    assert!(
        places(&p).contains(&"ann requested/quote-overdue".to_string()),
        "{:?}",
        places(&p)
    );
    assert_eq!(kinds(&p, "ann"), ["enter"]);
}
