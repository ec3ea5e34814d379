//! `cargo bench`: `funnel check` on a generated 2,000-stage funnel and on
//! 100 example-sized funnels, files read from disk as the CLI does.
//! Targets (release): under 100 ms and under 1 s.

use std::path::{Path, PathBuf};

use funnel::config::Config;
use funnel::lint::linter::Linter;

fn main() {
    divan::main();
}

/// A linear sales funnel of `stages` stages. With `full`, each stage has an
/// email, an SMS and a call task, every negative branch developed (about
/// 500 bytes of YAML a stage); without, one email and its wait (about 170).
fn generated(stages: usize, full: bool) -> String {
    let mut yaml = String::from(
        "funnel: generated\ncontact:\n  email: email\n  unsubscribed: bool\n  replied: bool\nstaff:\n  sales: {}\nenter:\n  - { when: \"has(contact.email)\", stage: s0 }\nexit:\n  - { when: \"contact.unsubscribed\", to: opted-out }\ncaps: { messages: 8 per week }\nstages:\n",
    );
    for i in 0..stages {
        let next = if i + 1 == stages {
            "won".to_string()
        } else {
            format!("s{}", i + 1)
        };
        let steps = if full {
            format!(
                "      - id: mail{i}\n        after: 1d\n        email: {{ template: hello }}\n        wait: {{ event: email.opened, within: 2d, yes: call{i}, no: next }}\n      - id: sms{i}\n        after: 1d\n        sms: {{ template: hello }}\n        wait: {{ event: sms.clicked, within: 1d, yes: next, no: lost }}\n      - id: call{i}\n        task: {{ kind: call, assignee: sales, due: 4h }}\n        wait: {{ until: \"contact.replied\", within: 1d, yes: {next}, no: lost }}\n"
            )
        } else {
            format!(
                "      - id: mail{i}\n        after: 1d\n        email: {{ template: hello }}\n        wait: {{ event: email.opened, within: 2d, yes: {next}, no: lost }}\n"
            )
        };
        yaml.push_str(&format!("  s{i}:\n    goal: {{ when: \"contact.replied\", to: {next} }}\n    steps:\n{steps}    exhausted: lost\n"));
    }
    yaml.push_str(
        "  won: { terminal: true }\n  lost: { terminal: true }\n  opted-out: { terminal: true }\n",
    );
    yaml
}

fn workspace(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("funnel-bench-{name}-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("templates")).expect("temp dir");
    std::fs::write(
        dir.join("templates/hello.hbs"),
        "subject: Hi\n---\nHello {{contact.email}}\n",
    )
    .expect("template");
    dir
}

fn check(path: &Path) -> usize {
    let checked = Linter::new(&Config::default())
        .check(&[path.to_path_buf()])
        .expect("readable");
    checked.diagnostics.len()
}

fn bench_generated(bencher: divan::Bencher, full: bool) {
    let dir = workspace(if full { "full" } else { "lean" });
    let file = dir.join("generated.yaml");
    std::fs::write(&file, generated(2_000, full)).expect("write");
    assert_eq!(check(&file), 0, "the generated funnel must be clean");
    bencher.bench(|| check(&file));
}

/// 2,000 stages, one email step each (~350 KB of YAML).
#[divan::bench(sample_count = 20)]
fn generated_2000_stages(bencher: divan::Bencher) {
    bench_generated(bencher, false);
}

/// 2,000 stages, three steps each (~1 MB of YAML).
#[divan::bench(sample_count = 20)]
fn generated_2000_stages_3_steps(bencher: divan::Bencher) {
    bench_generated(bencher, true);
}

#[divan::bench(sample_count = 20)]
fn hundred_example_funnels(bencher: divan::Bencher) {
    let dir = workspace("many");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("funnels");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&examples)
        .expect("funnels/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    names.sort();
    for entry in std::fs::read_dir(examples.join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            dir.join("templates").join(path.file_name().expect("name")),
        )
        .expect("copy");
    }
    for i in 0..100 {
        let source = &names[i % names.len()];
        std::fs::copy(source, dir.join(format!("f{i:03}.yaml"))).expect("copy");
    }
    assert_eq!(check(&dir), 1, "only hello.hbs is unused");
    bencher.bench(|| check(&dir));
}
