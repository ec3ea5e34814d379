//! CLI transcripts: the real binary, its exit code and what it prints, for
//! each output format and exit code. Snapshots hold the exact text users see.

use std::path::Path;
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
