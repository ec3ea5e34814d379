//! Fuzz-style robustness: thousands of deterministic mutations of the shipped
//! funnels (YAML punctuation inserted, bytes deleted, lines duplicated or
//! cut) must each end in diagnostics, never a panic or a hang.

use std::path::Path;

use funnel::linter::check_text;
use funnel::template::TemplateDir;

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

#[test]
fn mutated_funnels_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("funnels");
    let mut originals: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    originals.sort();
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
