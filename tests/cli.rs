//! CLI transcripts: the real binary, its exit code and what it prints, for
//! each output format and exit code. Snapshots hold the exact text users see.

mod common;

use std::path::Path;

use common::Run;

/// The binary run in the repository, on its own funnels and fixtures.
fn funnel(args: &[&str]) -> Run {
    common::funnel_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

#[test]
fn shipped_examples_check_clean() {
    let run = funnel(&["check"]);
    assert_eq!(
        run.stdout, "0 problems (0 errors, 0 warnings) in 8 funnels\n",
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 0);
}

#[test]
fn human_report_exits_1_on_errors() {
    let run = funnel(&["check", "tests/cli/broken.yaml"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn json_report() {
    let run = funnel(&["check", "tests/cli/broken.yaml", "--format", "json"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "5 problems (3 errors, 2 warnings) in 1 funnel\n"
    );
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    assert_eq!(value["summary"]["errors"], 3);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn sarif_report() {
    let run = funnel(&["check", "tests/cli/broken.yaml", "--format", "sarif"]);
    assert_eq!(run.code, 1);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).expect("valid JSON");
    assert_eq!(value["version"], "2.1.0");
    let results = value["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    // Every result's ruleIndex points at its rule in the driver's table.
    for result in results {
        let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(
            value["runs"][0]["tool"]["driver"]["rules"][index]["id"],
            result["ruleId"]
        );
    }
    insta::assert_snapshot!(serde_json::to_string_pretty(&value["runs"][0]["results"]).unwrap());
}

#[test]
fn github_annotations() {
    let run = funnel(&["check", "tests/cli/broken.yaml", "--format", "github"]);
    assert_eq!(run.code, 1);
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn warnings_pass_unless_max_warnings_is_exceeded() {
    assert_eq!(funnel(&["check", "tests/cli/warnings.yaml"]).code, 0);
    assert_eq!(
        funnel(&["check", "tests/cli/warnings.yaml", "--max-warnings", "1"]).code,
        0
    );
    let run = funnel(&["check", "tests/cli/warnings.yaml", "--max-warnings", "0"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .ends_with("1 problem (0 errors, 1 warning) in 1 funnel\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn config_raises_a_rule_to_error() {
    let run = funnel(&[
        "check",
        "tests/cli/warnings.yaml",
        "--config",
        "tests/cli/strict.toml",
    ]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("× both outcomes of step `ask` go to the same place"),
        "{}",
        run.stdout
    );
}

#[test]
fn inline_comment_silences_a_rule() {
    let run = funnel(&[
        "check",
        "tests/cli/ignored.yaml",
        "--config",
        "tests/cli/strict.toml",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.stdout,
        "0 problems (0 errors, 0 warnings) in 1 funnel\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let run = funnel(&["check", "--format", "xml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid value 'xml'"), "{}", run.stderr);
    let run = funnel(&[
        "check",
        "tests/cli/warnings.yaml",
        "--config",
        "tests/cli/bad.toml",
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: tests/cli/bad.toml: unknown rule `redundant-branchh` in [rules]: did you mean `redundant-branch`?\n"
    );
}

#[test]
fn unreadable_input_exits_3() {
    let run = funnel(&["check", "tests/cli/missing.yaml"]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr
            .starts_with("error: cannot read tests/cli/missing.yaml:"),
        "{}",
        run.stderr
    );
    let run = funnel(&["check", "tests/cli/latin1.yaml"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: cannot read tests/cli/latin1.yaml: not UTF-8 (byte 11)\n"
    );
    let run = funnel(&["check", "tests/cli/empty"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        run.stderr,
        "error: no funnel files (*.yaml, *.yml) in tests/cli/empty\n"
    );
}

#[test]
fn graph_renders_mermaid_and_dot() {
    let run = funnel(&["graph", "funnels/quote-follow-up.yaml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("flowchart TD\n"));
    insta::assert_snapshot!("graph_mermaid", run.stdout);
    let run = funnel(&["graph", "funnels/quote-follow-up.yaml", "--format", "dot"]);
    assert_eq!(run.code, 0);
    insta::assert_snapshot!("graph_dot", run.stdout);
}

#[test]
fn committed_schema_matches_the_model() {
    let run = funnel(&["schema"]);
    assert_eq!(run.code, 0);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/funnel.schema.json"),
    )
    .unwrap();
    assert!(
        run.stdout == committed,
        "schemas/funnel.schema.json is stale: run `funnel schema > schemas/funnel.schema.json`"
    );
}

#[test]
fn rules_are_listed_and_explained() {
    let run = funnel(&["rules"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("dead-end ")),
        "{}",
        run.stdout
    );
    let run = funnel(&["rules", "dead-end"]);
    assert!(run.stdout.contains("## Why is this bad?"));
    let run = funnel(&["rules", "dead-ends"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: no rule `dead-ends`: did you mean `dead-end`?\n"
    );
}

#[test]
fn help_has_examples_and_exit_codes() {
    let run = funnel(&["check", "--help"]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("Examples:") && run.stdout.contains("Exit codes:"),
        "{}",
        run.stdout
    );
    for command in ["graph", "schema", "rules"] {
        assert!(
            funnel(&[command, "--help"]).stdout.contains("Examples:"),
            "{command} --help"
        );
    }
}

/// `funnel check DIR` with a deadline: a hang fails the test instead of
/// stalling it.
#[cfg(unix)]
fn check_within_seconds(dir: &Path) -> Run {
    let mut child = common::command_in(dir, &["check"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the funnel binary runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("funnel check hung on {}", dir.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Run::of(child.wait_with_output().expect("output"))
}

/// Broke: a FIFO named `*.yaml` made `check` wait forever for a writer.
#[cfg(unix)]
#[test]
fn a_fifo_named_yaml_is_refused_not_waited_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("f.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let run = check_within_seconds(dir.path());
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("f.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
}

/// Broke: a funnel or template linked to `/dev/zero` was read until
/// memory ran out.
#[cfg(unix)]
#[test]
fn a_link_to_an_endless_device_is_refused_not_read_forever() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("z.yaml")).expect("symlink");
    let run = check_within_seconds(dir.path());
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("z.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);

    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("funnels");
    std::fs::copy(
        examples.join("quote-follow-up.yaml"),
        dir.path().join("f.yaml"),
    )
    .expect("copy");
    std::fs::create_dir(dir.path().join("templates")).expect("mkdir");
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("templates/zero.hbs"))
        .expect("symlink");
    let run = check_within_seconds(dir.path());
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("zero.hbs"), "{}", run.stderr);
}

/// Broke: nothing bounded a funnel file's size; past 10 MB it is refused.
#[test]
fn a_funnel_past_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = "# padding\n".repeat(1_100_000);
    std::fs::write(dir.path().join("big.yaml"), big).expect("write");
    let run = funnel(&["check", &dir.path().join("big.yaml").to_string_lossy()]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("big.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("10 MB limit"), "{}", run.stderr);
}

/// Broke: a funnel with a 3 MB line echoed the whole line in its
/// diagnostic. Snippets show a window of a long line and say how long it is.
#[test]
fn a_huge_line_is_shown_as_a_bounded_excerpt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.yaml");
    std::fs::write(
        &path,
        format!("funnel: x\ndescription: {}\n", "a".repeat(3_000_000)),
    )
    .unwrap();
    let run = funnel(&["check", path.to_str().unwrap()]);
    assert_eq!(run.code, 1);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.len() < 5_000, "{} bytes of output", all.len());
    assert!(all.contains("bytes in all"), "{all}");
    assert!(all.contains("missing field `stages`"), "{all}");
}

/// A project whose one funnel emails the template `hello` (not written).
#[allow(clippy::unwrap_used)]
fn one_email_funnel() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("funnels/templates")).unwrap();
    std::fs::write(
        dir.path().join("funnels/f.yaml"),
        "funnel: f\ncontact: { email: email, unsubscribed: bool }\nenter: [{ when: 'true', stage: a }]\nexit: [{ when: contact.unsubscribed, to: out }]\nstages:\n  a:\n    steps:\n      - id: hi\n        email: { template: hello, transactional: true }\n    exhausted: out\n  out: { terminal: true }\n",
    )
    .unwrap();
    dir
}

/// Broke: a template with thousands of nested blocks passed `check` slowly
/// (compiling is quadratic) and then overflowed the stack at `run`. Nesting
/// is bounded at check time, with the place.
#[test]
fn a_template_nested_thousands_deep_is_refused_at_check() {
    let dir = one_email_funnel();
    let deep = format!(
        "subject: Hi\n---\n{}x{}",
        "{{#if true}}".repeat(5_000),
        "{{/if}}".repeat(5_000)
    );
    std::fs::write(dir.path().join("funnels/templates/hello.hbs"), deep).unwrap();
    let started = std::time::Instant::now();
    let run = funnel(&["check", dir.path().join("funnels").to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("nested more than 64 deep"), "{all}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

/// Broke: a template that was a link to /etc/passwd was followed, and the
/// file went out in an email. A link out of the templates directory is
/// refused, by `check` and so by `run`, naming the link.
#[cfg(unix)]
#[test]
fn a_template_linking_outside_its_directory_is_refused() {
    let dir = one_email_funnel();
    std::os::unix::fs::symlink(
        "/etc/passwd",
        dir.path().join("funnels/templates/hello.hbs"),
    )
    .unwrap();
    let run = funnel(&["check", dir.path().join("funnels").to_str().unwrap()]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("links outside the templates directory"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("root:"), "{}", run.stderr);
}

// `funnel graph`: what the diagram says about a funnel (trigger labels,
// timings, split weights, one line for each funnel-wide exit), every funnel
// of a directory, and no diagram at all for a funnel with errors.

fn graph(args: &[&str]) -> String {
    let run = funnel(&[&["graph"], args].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l.trim() == line)
}

/// The first diagrams said `goal`, `yes`, `no 3d` and `expire 17w1d`: a
/// reader could not tell which event moved a contact.
#[test]
fn edges_are_labelled_with_their_trigger() {
    let mermaid = graph(&["funnels/quote-follow-up.yaml"]);
    for line in [
        r#"entry -->|"has(quote_requested_at)"| stage0"#,
        r#"stage1 -->|"goal: meeting.booked"| stage3"#,
        r#"stage1 -.->|"exit: quote.refused"| stage5"#,
        r#"step1_0 -->|"replied"| step1_2"#,
        r#"step1_0 -.->|"not in 3d"| step1_1"#,
        r#"anywhere -.->|"expire 120d"| stage6"#,
    ] {
        assert!(has_line(&mermaid, line), "no `{line}` in\n{mermaid}");
    }
    let dot = graph(&["funnels/quote-follow-up.yaml", "--format", "dot"]);
    for line in [
        r#"entry -> stage0 [label="has(quote_requested_at)", style=solid];"#,
        r#"stage1 -> stage3 [label="goal: meeting.booked", style=solid];"#,
        r#"step1_0 -> step1_1 [label="not in 3d", style=dashed];"#,
        r#"anywhere -> stage6 [label="expire 120d", style=dashed];"#,
    ] {
        assert!(has_line(&dot, line), "no `{line}` in\n{dot}");
    }
}

/// Two funnel-wide exits to `opted-out` drew two identical arrows; the
/// exits and `expire` are drawn once, from "any stage", never per stage.
#[test]
fn funnel_wide_exits_are_drawn_once() {
    let mermaid = graph(&["funnels/quote-follow-up.yaml"]);
    let into_opted_out: Vec<&str> = mermaid
        .lines()
        .filter(|l| l.trim_end().ends_with("stage7") && l.contains("-.->"))
        .collect();
    assert_eq!(
        into_opted_out,
        [r#"  anywhere -.->|"exit: unsubscribed or sms.stop"| stage7"#]
    );
    let expiries = mermaid.lines().filter(|l| l.contains("expire")).count();
    assert_eq!(expiries, 1, "{mermaid}");
}

#[test]
fn steps_show_on_timings_and_split_weights() {
    let quote = graph(&["funnels/quote-follow-up.yaml"]);
    assert!(
        quote.contains(
            r#"step3_1["meeting-reminder<br/>on meeting_at - 24h<br/>sms quote-meeting-reminder"]"#
        ),
        "{quote}"
    );
    let win_back = graph(&["funnels/win-back.yaml", "--format", "dot"]);
    assert!(
        win_back.contains(
            r#"coupon 50%: email winback-coupon\nspecial-offer 50%: email winback-special-offer"#
        ),
        "{win_back}"
    );
}

/// `funnel graph funnels/` drew only the first funnel.
#[test]
fn a_directory_draws_every_funnel() {
    let names = [
        "appointments",
        "collections",
        "customer-care",
        "delivery-check",
        "lecture-materials",
        "purchase-survey",
        "quote-follow-up",
        "win-back",
    ];
    let mermaid = graph(&["funnels"]);
    assert_eq!(mermaid.lines().next(), Some("flowchart TD"));
    for (k, name) in names.iter().enumerate() {
        let line = format!("subgraph funnel{k}[\"{name}\"]");
        assert!(has_line(&mermaid, &line), "no `{line}`");
        assert!(has_line(&mermaid, &format!("f{k}_entry((enter))")));
    }
    // Ids of different funnels never collide: each edge stays in its funnel.
    assert!(has_line(
        &mermaid,
        r#"f6_entry -->|"has(quote_requested_at)"| f6_stage0"#
    ));
    let dot = graph(&["funnels", "--format", "dot"]);
    assert_eq!(dot.lines().next(), Some("digraph \"funnels\" {"));
    for (k, name) in names.iter().enumerate() {
        assert!(has_line(&dot, &format!("subgraph cluster_funnel{k} {{")));
        assert!(has_line(&dot, &format!("label=\"{name}\";")));
    }
    assert!(has_line(
        &dot,
        r#"f6_entry -> f6_stage0 [label="has(quote_requested_at)", style=solid];"#
    ));
}

/// A funnel with an undefined stage was drawn without the moves that did
/// not resolve. Now nothing is drawn: the diagnostics `check` prints go to
/// stderr and the exit code is 1, in every format.
#[test]
fn a_funnel_with_errors_is_refused_with_its_diagnostics() {
    let check = funnel(&["check", "tests/cli/broken.yaml"]);
    assert_eq!(check.code, 1);
    for format in ["mermaid", "dot"] {
        let run = funnel(&["graph", "tests/cli/broken.yaml", "--format", format]);
        assert_eq!(run.code, 1, "{format}");
        assert_eq!(run.stdout, "", "{format}");
        assert_eq!(run.stderr, check.stdout, "{format}");
        assert!(run.stderr.contains("no stage named `wonn`"));
    }
}
