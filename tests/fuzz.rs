#![allow(clippy::unwrap_used)]
//! Fuzz-style robustness: thousands of deterministic mutations of the shipped
//! funnels (YAML punctuation inserted, bytes deleted, lines duplicated or
//! cut) must each end in diagnostics, never a panic or a hang; and the
//! parser's fast path must read every file it accepts exactly as
//! serde-saphyr does.

use std::path::{Path, PathBuf};

use funnel::language::parser::Parser;
use funnel::language::source::{SourceFile, SourceId};
use funnel::language::template::TemplateDir;
use funnel::lint::linter::check_text;

/// xorshift64*: deterministic, so a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    ":",
    "{",
    "}",
    "[",
    "]",
    "-",
    "&a",
    "*a",
    "!",
    "|",
    ">",
    "\"",
    "'",
    " ",
    "\n",
    "\t",
    "#",
    "?",
    ",",
    "<<: *a",
    "%",
    "@",
    "~",
    "null",
    "0x",
    "1e9",
    "é",
    "\u{feff}",
    "contact.",
    "has(",
    "))",
    "next",
    "after: ",
    "wait: {",
    "yes: ",
    "no: ",
    "stages:",
    "\n  - id: x\n",
    "99999999999999999999d",
];

fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut bytes: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 => {
                let piece = PIECES[rng.below(PIECES.len())];
                bytes.splice(at..at, piece.chars());
            }
            1 if at < bytes.len() => {
                let end = (at + rng.below(8) + 1).min(bytes.len());
                bytes.drain(at..end);
            }
            2 => bytes.truncate(at),
            _ => {
                let line: String = bytes
                    .iter()
                    .collect::<String>()
                    .lines()
                    .nth(rng.below(40))
                    .unwrap_or("")
                    .to_string();
                bytes.splice(at..at, format!("{line}\n").chars());
            }
        }
    }
    bytes.into_iter().collect()
}

/// The UTF-8 YAML files under `dir` (recursively), sorted, as text.
fn yaml_files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "yaml") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut paths);
    paths.sort();
    paths
        .iter()
        .filter_map(|p| String::from_utf8(std::fs::read(p).unwrap()).ok())
        .collect()
}

#[test]
fn mutated_funnels_never_panic() {
    let originals = yaml_files(Path::new("funnels"));
    let mut rng = Rng(0x5EED_F00D);
    let mut with_findings = 0;
    for round in 0..2_000 {
        let original = &originals[round % originals.len()];
        let seed = rng.0;
        let text = mutate(original, &mut rng);
        let result = std::panic::catch_unwind(|| {
            check_text(Path::new("fuzz.yaml"), &text, TemplateDir::default())
        });
        let checked = result
            .unwrap_or_else(|_| panic!("panicked on round {round} (seed {seed:#x}):\n{text}"));
        with_findings += usize::from(!checked.diagnostics.is_empty());
    }
    // Without templates every message step is `missing-template`: all 2,000 report something.
    assert_eq!(with_findings, 2_000);
}

#[test]
fn deep_nesting_and_huge_documents_stop_with_an_error() {
    let deep = format!(
        "funnel: x\nstages: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let checked = check_text(Path::new("deep.yaml"), &deep, TemplateDir::default());
    assert_eq!(checked.diagnostics.len(), 1);
    let mut wide = String::from("funnel: x\ncontact: &c {}\nstaff:\n");
    for i in 0..5_000 {
        wide.push_str(&format!("  s{i}: *c\n"));
    }
    let checked = check_text(Path::new("wide.yaml"), &wide, TemplateDir::default());
    assert_eq!(checked.diagnostics[0].code, "yaml-limits");
}

/// Regression: an unreadable `expire.after` became TimeDelta::MAX and the
/// worst-week search overflowed adding it to elapsed time.
#[test]
fn huge_delays_do_not_overflow_the_graph_searches() {
    let text = "funnel: x\nexpire: { after: nonsense, to: done }\nenter: [{ when: 'true', stage: a }]\nstages:\n  a:\n    steps:\n      - id: s\n        after: 9999999999w\n        wait: { event: e, within: 9999999999w, yes: done, no: done }\n  done: { terminal: true }\n";
    let checked = check_text(Path::new("huge.yaml"), text, TemplateDir::default());
    let codes: Vec<&str> = checked.diagnostics.iter().map(|d| d.code).collect();
    assert!(codes.contains(&"invalid-duration"), "{codes:?}");
}

/// Rewrites the values of a few `key: value` lines in another YAML spelling
/// (quoted, commented, folded onto a second line, non-ASCII before the
/// spans), which mostly keeps the file a valid funnel.
fn respell(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=rng.below(3) {
        let i = rng.below(lines.len());
        let Some(colon) = lines[i].find(": ") else {
            continue;
        };
        let (head, value) = lines[i].split_at(colon + 2);
        if value.is_empty() || value.starts_with(['{', '[', '"', '\'', '|', '>', '#']) {
            continue;
        }
        let indent = " ".repeat(head.len() - head.trim_start().len() + 2);
        lines[i] = match rng.below(8) {
            0 => format!("{head}\"{value}\""),
            1 => format!("{head}'{value}'"),
            2 => format!("{head}{value}  # note"),
            3 => format!("{head}\"é\\u00e9 {value}\""),
            4 => format!("{head}|\n{indent}{value}"),
            5 => format!("{head}>-\n{indent}{value}\n{indent}more"),
            6 => format!("{head}{value}\n{indent}continued"),
            _ => format!("\"{}\": {value}", head.trim_end_matches(": ")),
        };
    }
    lines.join("\n") + "\n"
}

/// Whether the fast path took `text`; when it did, serde-saphyr must have
/// read the very same document, spans included.
fn fast_path_agrees(text: &str) -> bool {
    let Some(fast) = Parser::build(text) else {
        return false;
    };
    let file = SourceFile::new(PathBuf::from("fuzz.yaml"), text.to_string());
    let reference = Parser::parse_with_serde(SourceId(0), &file)
        .unwrap_or_else(|d| panic!("fast path took what serde-saphyr rejects ({d:?}):\n{text}"));
    assert_eq!(
        format!("{fast:#?}"),
        format!("{reference:#?}"),
        "fast path and serde-saphyr disagree on:\n{text}"
    );
    true
}

/// The builder must never change what a file means: every fixture, shipped
/// funnel and CLI transcript file, then thousands of respelled and mutated
/// ones. The shipped funnels must all take the fast path, or it is lost.
#[test]
fn fast_path_reads_what_serde_saphyr_reads() {
    let originals = yaml_files(Path::new("funnels"));
    for original in &originals {
        assert!(
            fast_path_agrees(original),
            "fast path declined:\n{original}"
        );
    }
    for dir in ["tests/rules", "tests/cli"] {
        for text in yaml_files(Path::new(dir)) {
            fast_path_agrees(&text);
        }
    }
    let mut rng = Rng(0xFA57_0A7B);
    let (mut respelled, mut mutated) = (0, 0);
    for round in 0..2_000 {
        let original = &originals[round % originals.len()];
        respelled += usize::from(fast_path_agrees(&respell(original, &mut rng)));
        mutated += usize::from(fast_path_agrees(&mutate(original, &mut rng)));
    }
    // Most respelled files stay funnels the fast path takes; keep it so.
    assert!(
        respelled > 1_000,
        "fast path took {respelled} respelled files"
    );
    assert!(mutated > 100, "fast path took {mutated} mutated files");
}

/// Spellings the fast path must read as serde-saphyr does, or leave to it.
#[test]
fn fast_path_edge_cases() {
    let base = "funnel: x\nstages:\n  a: { terminal: true }\n";
    let taken = [
        base.to_string(),
        format!("\u{feff}{base}"),
        format!("---\n{base}..."),
        format!("# comment\n{base}# end\n"),
        base.replace('\n', "\r\n"),
        "funnel: x\nstages:\n  \"a\":\n    goal: {when: 'x',\n      to: \"b\"}\n  b: {terminal: true}\n".to_string(),
        "funnel: \"é\\u00e9\"\nstages: {\"é a\": {terminal: false}}\n".to_string(),
        "funnel: x\ndescription: |\n  two\n  lines\nstages: {}\n".to_string(),
        "funnel: x\ndescription: >-\n  folded\n  text\nstages: {}\n".to_string(),
        "funnel: x\ndescription: plain\n  continued\nstages: {}\n".to_string(),
        "funnel: 'it''s'\nstages: {a: {}}\nstaff: {s: {}}\nenter: []\n".to_string(),
        "funnel: 12\nreentry: 0x1F\ntimezone: yes\nstages: {}\n".to_string(),
        "funnel: x\nenter:\n  - when: a\n    stage: a\ncaps:\n  email: 1 per day\nexpire:\n  after: 1d\n  to: a\nstages:\n  a:\n    goal:\n      when: x\n      to: a\n    exit:\n    - event: e\n      to: a\n    steps:\n      - id: s\n        set:\n          f: '1'\n        split:\n          - variant: v\n            weight: 100\n            notify:\n              to: z\n              template: t\n".to_string(),
        "funnel: x\nstages:\n  a:\n    steps:\n    - id: s\n      split:\n      - {variant: a, weight: 40, email: {template: t, transactional: false}}\n      - {variant: b, weight: 60, task: {kind: call, assignee: z}}\n".to_string(),
    ];
    for text in &taken {
        assert!(fast_path_agrees(text), "fast path declined:\n{text}");
    }
    let declined = [
        format!("{base}---\n{base}"),
        format!("%YAML 1.2\n---\n{base}"),
        "funnel: x\nstages: {}\ndescription: ~\n".to_string(),
        "funnel: x\nstages: {}\ndescription:\n".to_string(),
        "funnel: &a x\nstages: {}\ntimezone: *a\n".to_string(),
        "funnel: !!str x\nstages: {}\n".to_string(),
        "funnel: x\nstages: {a: {terminal: yes}}\n".to_string(),
        "funnel: x\nstages: {a: {}, a: {}}\n".to_string(),
        "funnel: x\nstages: {a: {}, 'a': {}}\n".to_string(),
        "funnel: x\nstages: {<<: {a: {}}}\n".to_string(),
        "funnel: x\nfunnel: y\nstages: {}\n".to_string(),
        "funnel: x\nstages: {}\nbogus: 1\n".to_string(),
        "\"funnel\": x\nstages: {}\n".to_string(),
        "stages: {}\n".to_string(),
        "funnel: x\nstages: {a: {steps: [{id: s, split: [{variant: v, weight: 050}]}]}}\n"
            .to_string(),
        "funnel: x\nstages: {a: {steps: [{id: s, task: {kind: Call, assignee: z}}]}}\n".to_string(),
        "funnel: [x\n".to_string(),
        "- funnel: x\n".to_string(),
        String::new(),
    ];
    for text in &declined {
        assert!(Parser::build(text).is_none(), "fast path took:\n{text}");
    }
}

/// Every duration of `text` (`after: 3d`, `within: 2d`, `due: 4h`,
/// `duration('24h')` in conditions, ...) respelled at random among extremes:
/// nothing, a second, the longest `check` accepts, and past it.
fn retime(text: &str, rng: &mut Rng) -> String {
    const EXTREMES: &[&str] = &[
        "0s",
        "1s",
        "59m",
        "1d",
        "36525d",
        "5217w",
        "876000h",
        "9999999999w",
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, from) = rest.split_at(start);
        let digits = from
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(from.len());
        let unit = from[digits..].chars().next();
        out.push_str(before);
        let is_duration = matches!(unit, Some('s' | 'm' | 'h' | 'd' | 'w'))
            && from[digits + 1..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
        if is_duration && rng.below(2) == 0 {
            out.push_str(EXTREMES[rng.below(EXTREMES.len())]);
            rest = &from[digits + 1..];
        } else {
            out.push_str(&from[..digits]);
            rest = &from[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// `within: 15000000w` passed `check` and panicked every run at five
/// places in the runner. Funnels whose timings are pushed to extremes and
/// still pass `check` are run, over a few ticks up to a far `--now`: every
/// run ends in a result, never a panic.
#[test]
fn funnels_with_extreme_timings_that_pass_check_also_run() {
    use funnel::config::Config;
    use funnel::lint::diagnostic::Severity;
    use funnel::run::tick::{TickOptions, tick};

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("funnels");
    let original = std::fs::read_to_string(shipped.join("quote-follow-up.yaml")).unwrap();
    let contacts = shipped.join("contacts/quote-follow-up.csv");
    let mut rng = Rng(0x7157_E5ED);
    let mut ran = 0;
    for round in 0..40 {
        let seed = rng.0;
        let text = retime(&original, &mut rng);
        let dir = tempfile::tempdir().unwrap();
        let funnels = dir.path().join("funnels");
        std::fs::create_dir_all(funnels.join("templates")).unwrap();
        for entry in std::fs::read_dir(shipped.join("templates")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                funnels.join("templates").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
        let file = funnels.join("quote-follow-up.yaml");
        std::fs::write(&file, &text).unwrap();
        let checked = funnel::lint::linter::Linter::new(&Config::default())
            .check(std::slice::from_ref(&file))
            .unwrap();
        if checked.count(Severity::Error) > 0 {
            continue;
        }
        ran += 1;
        for now in [
            "2026-05-04T08:30:00Z",
            "2026-05-20T08:30:00Z",
            "2126-05-01T00:00:00Z",
            "9000-01-01T00:00:00Z",
        ] {
            let options = TickOptions {
                funnels: vec![file.clone()],
                contacts: contacts.clone(),
                events: None,
                state: dir.path().join(".funnel/state.db"),
                outbox: dir.path().join(".funnel/outbox.jsonl"),
                now: chrono::DateTime::parse_from_rfc3339(now).unwrap().to_utc(),
                clock_reset: None,
                dry_run: false,
                deliver: true,
                feed: Default::default(),
                encoding: None,
                max_bad_rows: Default::default(),
            };
            let result =
                std::panic::catch_unwind(|| tick(&options, &Config::default(), &mut |_| {}));
            match result {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("round {round} (seed {seed:#x}) at {now}: {e}\n{text}"),
                Err(_) => panic!("round {round} (seed {seed:#x}) panicked at {now}:\n{text}"),
            }
        }
    }
    assert!(ran >= 10, "only {ran} of 40 variants passed check");
}
