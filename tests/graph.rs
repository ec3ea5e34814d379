//! `funnel graph`: what the diagram says about a funnel (trigger labels,
//! timings, split weights, one line for each funnel-wide exit), every
//! funnel of a directory, and no diagram at all for a funnel with errors.
//! The full shipped example in both formats is snapshotted in `cli.rs`.

use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn funnel(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_funnel"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the funnel binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

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
