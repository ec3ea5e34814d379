#![allow(clippy::unwrap_used)]
//! One valid and one invalid fixture per rule, bpmnlint style:
//! `tests/rules/<rule-id>/valid.yaml` must check clean, and
//! `tests/rules/<rule-id>/invalid.yaml` must trigger the rule; the human
//! report of the invalid one is snapshotted so reviewers see what users see.

use std::path::{Path, PathBuf};

use funnel::config::Config;
use funnel::lint::linter::{Checked, Linter};
use funnel::lint::render::{self, Format};
use funnel::lint::rules::RULES;

fn fixture_dir(id: &str) -> PathBuf {
    Path::new("tests/rules").join(id)
}

/// `<id>/<kind>.yaml`, or `<id>/<kind>/funnel.yaml` for rules whose valid and
/// invalid fixtures need different `templates/` directories.
fn fixture(id: &str, kind: &str) -> PathBuf {
    let flat = fixture_dir(id).join(format!("{kind}.yaml"));
    if flat.is_file() {
        flat
    } else {
        fixture_dir(id).join(kind).join("funnel.yaml")
    }
}

/// `<id>/funnel.toml` when the rule reads the project config, else none.
fn config(path: &Path) -> Config {
    let Some(toml) = path
        .ancestors()
        .map(|dir| dir.join("funnel.toml"))
        .take_while(|p| p.starts_with("tests/rules"))
        .find(|p| p.is_file())
    else {
        return Config::default();
    };
    Config::load(&toml).unwrap()
}

/// A `<kind>/funnel.yaml` fixture is checked as its directory, the way
/// `funnel check funnels/` sees a project: `unused-template` only applies
/// there.
fn check(path: &Path) -> Checked {
    let target = match path.parent() {
        Some(dir) if path.ends_with("funnel.yaml") => dir.to_path_buf(),
        _ => path.to_path_buf(),
    };
    match Linter::new(&config(path)).check(&[target]) {
        Ok(checked) => checked,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

fn human(checked: &Checked) -> String {
    let mut out = Vec::new();
    render::render(Format::Human, checked, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_rule_has_fixtures() {
    for rule in RULES {
        for kind in ["valid", "invalid"] {
            let path = fixture(rule.id, kind);
            assert!(path.is_file(), "missing {}", path.display());
        }
    }
}

#[test]
fn valid_fixtures_check_clean() {
    for rule in RULES {
        let path = fixture(rule.id, "valid");
        let checked = check(&path);
        assert!(
            checked.diagnostics.is_empty(),
            "{} should be clean:\n{}",
            path.display(),
            human(&checked)
        );
    }
}

#[test]
fn invalid_fixtures_trigger_their_rule() {
    for rule in RULES {
        let path = fixture(rule.id, "invalid");
        let checked = check(&path);
        assert!(
            checked.diagnostics.iter().any(|d| d.code == rule.id),
            "{} should trigger {}:\n{}",
            path.display(),
            rule.id,
            human(&checked)
        );
        insta::assert_snapshot!(rule.id, human(&checked));
    }
}

/// `NAME.html.hbs` is the HTML body of the email `NAME`: the template rules
/// read it with its text template.
#[test]
fn html_templates_are_checked_as_part_of_their_email() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let funnel = std::fs::read_to_string(fixture("unused-template", "valid"))
        .unwrap()
        .replace("template: call-brief", "template: offer");
    let funnel_path = dir.path().join("funnel.yaml");
    std::fs::write(&funnel_path, funnel).unwrap();
    let write = |name: &str, text: &str| std::fs::write(templates.join(name), text).unwrap();
    write(
        "welcome.hbs",
        "subject: Welcome\n---\nHi {{contact.first_name}}\nLeave: {{unsubscribe_url}}\n",
    );
    write(
        "welcome.html.hbs",
        "<p>Hi {{contact.first_name}} {{contact.nickname}}</p>\n{{#if contact.email}}\n",
    );
    // `offer` has only its HTML part: no subject, no text for plain clients.
    write("offer.html.hbs", "<p>Our offer</p>\n");
    write("retired.html.hbs", "<p>Old news</p>\n");

    let checked = Linter::new(&Config::default())
        .check(&[dir.path().to_path_buf()])
        .unwrap();
    let found: Vec<(&str, String)> = checked
        .diagnostics
        .iter()
        .map(|d| (d.code, d.message.clone()))
        .collect();
    let has = |code: &str, words: &str| found.iter().any(|(c, m)| *c == code && m.contains(words));
    assert!(
        has("invalid-template", "`welcome` does not compile"),
        "{found:?}"
    );
    assert!(has("unknown-field", "contact.nickname"), "{found:?}");
    assert!(has("missing-template", "no template `offer`"), "{found:?}");
    assert!(has("unused-template", "`retired`"), "{found:?}");
    assert!(!has("unused-template", "`welcome`"), "{found:?}");
    assert_eq!(found.len(), 4, "{found:?}");
    let report = human(&checked);
    assert!(
        report.contains("offer.html.hbs is only the HTML part"),
        "{report}"
    );
    assert!(report.contains("welcome.html.hbs"), "{report}");
}

/// A two-step loop once made `unbounded-messages` claim 76,923 emails a
/// week and spell the path out over 3 MB; the same path broke two caps and
/// was reported twice. Now: the loop written once with its count, one
/// finding, transactional messages not counted.
#[test]
fn a_message_loop_is_reported_once_and_briefly() {
    let checked = check(&fixture_dir("unbounded-messages").join("loop.yaml"));
    let report = human(&checked);
    let found: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(found, ["unbounded-messages"], "{report}");
    assert!(report.len() < 2_000, "{report}");
    insta::assert_snapshot!(report);
}

/// A loop that sends with no time passing is `zero-delay-loop`'s error;
/// `unbounded-messages` used to count round it until its search gave up.
#[test]
fn a_zero_delay_message_loop_is_left_to_zero_delay_loop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storm.yaml");
    std::fs::write(
        &path,
        "funnel: storm\ncontact: { email: email, unsubscribed: bool }\nenter: [{ when: 'true', stage: a }]\nexit: [{ when: contact.unsubscribed, to: out }]\nstages:\n  a:\n    steps:\n      - id: ping\n        email: { template: x }\n        wait: { until: 'contact.unsubscribed == false', within: 1m, yes: pong, no: pong }\n      - id: pong\n        email: { template: x }\n        wait: { until: 'contact.unsubscribed == false', within: 1m, yes: ping, no: ping }\n  out: { terminal: true }\n",
    )
    .unwrap();
    let checked = check(&path);
    let report = human(&checked);
    assert!(report.len() < 4_000, "{report}");
    assert!(report.contains("zero-delay-loop"), "{report}");
    assert!(!report.contains("unbounded-messages"), "{report}");
}

/// A task or notification given to a literal name that is not under
/// `staff:` went to nobody: it is an error at the name, listing the staff.
#[test]
fn an_unknown_literal_assignee_is_an_error_naming_the_staff() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("staff.yaml");
    std::fs::write(
        &path,
        "funnel: staff\ncontact: { done: bool, owner: string? }\nstaff: { sales-lead: {}, assistant: {} }\nenter: [{ when: 'true', stage: a }]\nstages:\n  a:\n    goal: { when: contact.done, to: b }\n    steps:\n      - id: call\n        task: { kind: call, assignee: bob, due: 1d }\n      - id: tell\n        notify: { to: sales-laed, template: t }\n      - id: mine\n        task: { kind: call, assignee: contact.owner, due: 1d, escalate_to: sales-lead }\n    exhausted: b\n  b: { terminal: true }\n",
    )
    .unwrap();
    let checked = check(&path);
    let found: Vec<(&str, String, Option<String>)> = checked
        .diagnostics
        .iter()
        .filter(|d| d.code == "undefined-reference")
        .map(|d| (d.code, d.message.clone(), d.help.clone()))
        .collect();
    assert_eq!(found.len(), 2, "{}", human(&checked));
    assert_eq!(found[0].1, "no staff member named `bob`");
    let help = found[0].2.clone().unwrap_or_default();
    assert!(
        help.starts_with("known staff: sales-lead, assistant"),
        "{help}"
    );
    assert_eq!(found[1].1, "no staff member named `sales-laed`");
    let help = found[1].2.clone().unwrap_or_default();
    assert!(help.starts_with("did you mean `sales-lead`?"), "{help}");
    assert!(
        help.contains("known staff: sales-lead, assistant"),
        "{help}"
    );
}

/// `funnel check funnels/quote.yaml` in a shared folder reported every other
/// funnel's templates as unused (59 warnings for the shipped quote funnel):
/// single files never know what the rest of the folder uses.
#[test]
fn unused_template_applies_only_to_a_checked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    let valid = std::fs::read_to_string(fixture("unused-template", "valid")).unwrap();
    let first = dir.path().join("first.yaml");
    std::fs::write(&first, &valid).unwrap();
    // A second funnel of the folder, using its own template `other-brief`.
    let second = valid
        .replace("funnel: unused-template", "funnel: second")
        .replace("template: call-brief", "template: other-brief");
    std::fs::write(dir.path().join("second.yaml"), second).unwrap();
    let template_dir = fixture_dir("unused-template").join("valid/templates");
    for name in ["welcome.hbs", "call-brief.hbs"] {
        std::fs::copy(template_dir.join(name), templates.join(name)).unwrap();
    }
    std::fs::copy(
        template_dir.join("call-brief.hbs"),
        templates.join("other-brief.hbs"),
    )
    .unwrap();
    std::fs::write(templates.join("retired.hbs"), "Old news\n").unwrap();
    let unused = |paths: &[PathBuf]| -> Vec<String> {
        let checked = Linter::new(&Config::default()).check(paths).unwrap();
        checked
            .diagnostics
            .iter()
            .filter(|d| d.code == "unused-template")
            .map(|d| d.message.clone())
            .collect()
    };
    assert_eq!(unused(std::slice::from_ref(&first)), Vec::<String>::new());
    assert_eq!(
        unused(&[dir.path().to_path_buf()]),
        ["template `retired` is not used by any funnel"]
    );
}
