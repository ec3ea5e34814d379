//! Command-line flags as clap parses them. Nothing here acts: `lib.rs` turns
//! these into a [`Config`](crate::config::Config) and runs the command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::diagram::DiagramFormat;
use crate::report::Format;

const EXIT_CODES: &str = "\
Exit codes:
  0  no problems (or only warnings within --max-warnings)
  1  problems found
  2  usage error (bad flag, bad funnel.toml)
  3  could not read input (missing file, not UTF-8)";

#[derive(Debug, Parser)]
#[command(
    name = "funnel",
    version,
    about = "Sales and service funnels as code: check YAML funnels, draw them, run them.",
    after_help = "Examples:\n  funnel check                         # check funnels/\n  funnel check funnels/quote.yaml --format github\n  funnel graph funnels/quote.yaml > quote.mmd\n  funnel rules dead-end\n\nLanguage reference: docs/language.md"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile funnels into graphs and report every problem.
    #[command(after_help = format!("Examples:\n  funnel check\n  funnel check funnels/ other/quote.yaml\n  funnel check --format sarif > funnel.sarif\n  funnel check --format github --max-warnings 0\n\nSilence a finding on one line with `# funnel-ignore: RULE`; set severities in funnel.toml.\n\n{EXIT_CODES}"))]
    Check(CheckArgs),
    /// Draw a funnel as a Mermaid or Graphviz diagram.
    #[command(
        after_help = "Examples:\n  funnel graph funnels/quote-follow-up.yaml                 # Mermaid, pastes into a PR\n  funnel graph funnels/quote-follow-up.yaml --format dot | dot -Tsvg > quote.svg"
    )]
    Graph(GraphArgs),
    /// Print the JSON Schema of the funnel format (for editor autocomplete).
    #[command(
        after_help = "Examples:\n  funnel schema > schemas/funnel.schema.json\n\nIn VS Code (YAML extension), put at the top of a funnel file:\n  # yaml-language-server: $schema=../schemas/funnel.schema.json"
    )]
    Schema,
    /// List the lint rules, or explain one.
    #[command(after_help = "Examples:\n  funnel rules\n  funnel rules dead-end")]
    Rules(RulesArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Funnel files or directories (searched recursively for *.yaml, *.yml).
    #[arg(default_value = "funnels")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Fail (exit 1) when there are more warnings than this; by default warnings never fail.
    #[arg(long, value_name = "N")]
    pub max_warnings: Option<usize>,
    /// Project config to use instead of the nearest funnel.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Colour the human output: auto (when a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub color: Color,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The funnel file to draw.
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: DiagramFormat,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// A rule id to explain; without it, all rules are listed.
    pub rule: Option<String>,
}
