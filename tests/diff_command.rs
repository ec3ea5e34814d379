#![allow(clippy::unwrap_used)]
//! `funnel diff --against` transcripts: the shipped quote follow-up funnel
//! committed in a scratch git repository, edited the way a pull request
//! would, and compared with the commit. Snapshots hold what users see.

use std::path::Path;
use std::process::Command;

const FUNNEL: &str = "funnels/quote-follow-up.yaml";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn funnel_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .output()
        .expect("the funnel binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status;
    assert!(status.success(), "git {args:?}");
}

/// A repository holding the shipped funnel at HEAD, with `edit` applied to
/// the work tree.
fn repo(edit: impl FnOnce(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(FUNNEL);
    let text = std::fs::read_to_string(shipped).unwrap();
    std::fs::create_dir(dir.path().join("funnels")).unwrap();
    std::fs::write(dir.path().join(FUNNEL), &text).unwrap();
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "shipped"]);
    std::fs::write(dir.path().join(FUNNEL), edit(text)).unwrap();
    dir
}

fn replace(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the funnel has no {from:?}");
    text.replace(from, to)
}

const AWAIT_ANSWER: &str = "      - id: await-answer\n        wait: { until: \"contact.replied\", within: 3d, yes: quote-nudge, no: next }\n";

fn without_await_answer(text: String) -> String {
    replace(text, AWAIT_ANSWER, "")
}

fn diff(dir: &tempfile::TempDir, format: &str) -> Run {
    funnel_in(
        dir.path(),
        &["diff", "--against", "HEAD", "--format", format],
    )
}

#[test]
fn removing_a_step_without_a_migration_fails_in_every_format() {
    let dir = repo(without_await_answer);
    let table = diff(&dir, "table");
    assert_eq!(table.code, 1, "{}", table.stderr);
    insta::assert_snapshot!("diff_removed_step_table", table.stdout);

    let json = diff(&dir, "json");
    assert_eq!(json.code, 1);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["summary"]["unmigrated"], 1);
    assert_eq!(
        json.stderr,
        "1 breaking change without a migration (1 change in 1 funnel)\n"
    );
    insta::assert_snapshot!("diff_removed_step_json", json.stdout);

    let github = diff(&dir, "github");
    assert_eq!(github.code, 1);
    assert!(
        github
            .stdout
            .starts_with("::error file=funnels/quote-follow-up.yaml,line=")
    );
    insta::assert_snapshot!("diff_removed_step_github", github.stdout);
}

#[test]
fn a_migration_for_the_removed_step_passes() {
    let dir =
        repo(|text| without_await_answer(text) + "\nmigrate:\n  await-answer: follow-up-call\n");
    let run = diff(&dir, "table");
    assert_eq!(run.code, 0, "{}", run.stdout);
    insta::assert_snapshot!("diff_migrated_step_table", run.stdout);
    let github = diff(&dir, "github");
    assert!(github.stdout.starts_with("::notice "), "{}", github.stdout);
}

#[test]
fn a_renamed_step_with_its_migration() {
    let dir = repo(|text| {
        replace(text, "id: quote-overdue", "id: quote-late")
            + "\nmigrate:\n  quote-overdue: quote-late\n"
    });
    let run = diff(&dir, "table");
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("diff_renamed_step_table", run.stdout);
}

#[test]
fn an_inserted_step_and_a_new_wait_window_are_safe() {
    let dir = repo(|text| {
        let text = replace(
            text,
            "      - id: quote-last-chance\n",
            "      - id: quote-check-in\n        after: 2d\n        sms: { template: quote-missed-call }\n      - id: quote-last-chance\n",
        );
        replace(
            text,
            "within: 3d, yes: quote-nudge",
            "within: 4d, yes: quote-nudge",
        )
    });
    let run = diff(&dir, "table");
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("diff_inserted_step_table", run.stdout);
}

#[test]
fn deleting_a_stage_breaks_the_contacts_in_it() {
    let dir = repo(|text| {
        let start = text.find("  unreachable:\n").unwrap();
        let end = text.find("  meeting:\n").unwrap();
        let text = format!("{}{}", &text[..start], &text[end..]);
        replace(text, "no: unreachable }", "no: lost }")
    });
    let run = diff(&dir, "table");
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("diff_deleted_stage_table", run.stdout);
}

#[test]
fn renaming_the_funnel_leaves_its_journeys_behind() {
    let dir = repo(|text| replace(text, "funnel: quote-follow-up", "funnel: quotes"));
    let run = diff(&dir, "table");
    assert_eq!(run.code, 1);
    insta::assert_snapshot!("diff_renamed_funnel_table", run.stdout);
}

#[test]
fn a_funnel_new_since_the_revision_is_added() {
    let dir = repo(|text| text);
    let other = dir.path().join("funnels/copy.yaml");
    let text = std::fs::read_to_string(dir.path().join(FUNNEL)).unwrap();
    std::fs::write(
        other,
        text.replace("funnel: quote-follow-up", "funnel: copy"),
    )
    .unwrap();
    let run = diff(&dir, "table");
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stdout,
        "funnels/copy.yaml (copy)\n  a new funnel: nobody is in it yet\n\nfunnels/quote-follow-up.yaml (quote-follow-up)\n  no structural changes\n\nno breaking change without a migration (0 changes in 2 funnels)\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = repo(|text| text);
    let run = funnel_in(dir.path(), &["diff", "--against", "no-such-branch"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: `no-such-branch` is not a git revision (a commit, branch or tag)\n"
    );
    let run = funnel_in(dir.path(), &["diff", "--state", ".funnel/state.db"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .starts_with("error: no state at .funnel/state.db"),
        "{}",
        run.stderr
    );

    let bare = tempfile::tempdir().unwrap();
    std::fs::create_dir(bare.path().join("funnels")).unwrap();
    std::fs::copy(dir.path().join(FUNNEL), bare.path().join(FUNNEL)).unwrap();
    let run = funnel_in(bare.path(), &["diff"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("is not in a git repository"),
        "{}",
        run.stderr
    );

    let run = funnel_in(bare.path(), &["diff", "missing.yaml"]);
    assert_eq!(run.code, 3);
}

#[test]
fn an_old_version_that_does_not_parse_is_reported_not_compared() {
    let dir = repo(|text| text);
    std::fs::write(dir.path().join(FUNNEL), "funnel: [unclosed\n").unwrap();
    git(dir.path(), &["commit", "-q", "-a", "-m", "broken"]);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join(FUNNEL);
    std::fs::copy(shipped, dir.path().join(FUNNEL)).unwrap();
    let run = diff(&dir, "table");
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("the earlier version does not parse"),
        "{}",
        run.stdout
    );
}
