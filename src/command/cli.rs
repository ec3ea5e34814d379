//! Command-line flags as clap parses them. Nothing here acts: the other
//! `command` modules turn these into a [`Config`](crate::config::Config)
//! and run the command.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::language::diagram::DiagramFormat;
use crate::lint::render::Format;

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
    /// Draw funnels as a Mermaid or Graphviz diagram.
    #[command(
        after_help = "Edges are labelled with what fires them (the event, or the condition without `contact.`); steps show their timing (`after`, `at`, `on`) and split weights; the funnel-wide exits and `expire` leave once from \"any stage\". A funnel with errors is not drawn: `graph` prints the diagnostics `check` would and exits 1.\n\nExamples:\n  funnel graph funnels/quote-follow-up.yaml                 # Mermaid, pastes into a PR\n  funnel graph funnels/quote-follow-up.yaml --format dot | dot -Tsvg > quote.svg\n  funnel graph funnels/ > funnels.mmd                       # every funnel, one cluster each"
    )]
    Graph(GraphArgs),
    /// Print the JSON Schema of the funnel format (for editor autocomplete).
    #[command(
        after_help = "Examples:\n  funnel schema > schemas/funnel.schema.json\n\nIn VS Code (YAML extension), put at the top of a funnel file:\n  # yaml-language-server: $schema=../schemas/funnel.schema.json"
    )]
    Schema,
    /// Run one tick: move contacts through the funnels and queue due actions.
    #[command(after_help = format!("Examples:\n  funnel run --contacts contacts.csv\n  funnel run --contacts crm-export.csv --events events.jsonl --now 2026-05-04T09:00:00Z\n  crm-export | funnel run --contacts - --dry-run\n  funnel run --contacts minicrm.csv --encoding windows-1250 --max-bad-rows 5%\n\nRun it from cron every few minutes; it is safe to run late, twice or after a crash.\nA run whose feeds, funnels and settings are as the last run read them, with nobody due,\nreads no contact and says so (\"unchanged since the run at ...\").\n\n{RUN_EXIT_CODES}"))]
    Run(RunArgs),
    /// Contacts per stage and step, queued and failed actions, overdue tasks.
    #[command(after_help = "Examples:\n  funnel status\n  funnel status --format json")]
    Status(StateArgs),
    /// A contact's journey, with the reason for every move.
    #[command(
        after_help = "Examples:\n  funnel history c-1042\n\nExit codes:\n  0  the journey was listed\n  3  no state, or it could not be read\n  5  no history for that contact"
    )]
    History(HistoryArgs),
    /// Every contact's journey: funnel, stage, step, entry and since when.
    #[command(
        after_help = "Examples:\n  funnel contacts\n  funnel contacts --funnel quote-follow-up --stage requested --format csv"
    )]
    Contacts(ContactsArgs),
    /// The outbox: every queued action and what became of it.
    #[command(
        after_help = "Examples:\n  funnel actions --status dead\n  funnel actions --funnel win-back --format json\n\nStatuses: queued, delivered, dead, suppressed, stale, failed."
    )]
    Actions(ActionsArgs),
    /// The staff's to-do list.
    #[command(
        after_help = "Examples:\n  funnel tasks --overdue\n  funnel tasks --assignee anna --format csv"
    )]
    Tasks(TasksArgs),
    /// What contacts and providers said: the events in the state (from `funnel serve`, `task done`).
    #[command(
        after_help = "Examples:\n  funnel events\n  funnel events --contact c-1042\n  funnel events --since 2026-05-01T00:00:00Z --format json"
    )]
    Events(EventsArgs),
    /// Who is not written to any more, and why: unsubscribes, STOPs, hard bounces, complaints.
    #[command(
        after_help = "Examples:\n  funnel suppressions\n  funnel suppressions --contact c-1042 --format json\n\nScopes: marketing (an unsubscribe: no marketing message on any channel), email (a hard\nbounce or a complaint: no email to the address), sms (STOP: no SMS to the number).\nRecorded by `funnel serve`; they win over anything the contacts feed says."
    )]
    Suppressions(SuppressionsArgs),
    /// Hear contacts and providers: one-click unsubscribe, tracked links, webhooks, into the state.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Drop delivered message bodies and ended journeys' history older than a period.
    #[command(
        after_help = "Examples:\n  funnel prune --older-than 90d\n  funnel prune --older-than 26w --vacuum\n\nKept: every outbox row's key and status (nothing is sent twice), the report's counters,\nopen journeys with their whole history, dead letters and failed rows with their payload,\ntasks, events and suppressions. `[state] retention = \"90d\"` in funnel.toml prunes at\nthe end of every `funnel run`. Holds the run lock: run it between runs, or let retention do it."
    )]
    Prune(PruneArgs),
    /// Deliver the due outbox rows, without a tick (`funnel run` does both).
    #[command(after_help = format!("Examples:\n  funnel deliver\n  funnel deliver --now 2026-05-04T09:30:00Z\n\nChannels are configured in funnel.toml ([channels.NAME]); with none, rows go to the --outbox file.\nThe funnels are read to recheck opt-outs: a contact who left through a global exit since a row\nwas queued gets nothing.\n\n{DELIVER_EXIT_CODES}"))]
    Deliver(DeliverArgs),
    /// Put dead letters back in the queue (all, or the keys given).
    #[command(
        after_help = "Examples:\n  funnel retry --list\n  funnel retry                          # every dead letter\n  funnel retry quote-follow-up/c-1042/1/thanks\n\nRe-queued rows start with a fresh count of attempts and go out on the next run or deliver."
    )]
    Retry(RetryArgs),
    /// Work on one task: `funnel task show ID`, `funnel task done ID`.
    #[command(after_help = "Examples:\n  funnel task show 17\n  funnel task done 17")]
    Task(TaskArgs),
    /// Measure the funnels: conversion per stage and step, the bottleneck, A/B results, staff.
    #[command(
        after_help = "Examples:\n  funnel report\n  funnel report quote-follow-up --since 2026-05-01 --until 2026-05-31\n  funnel report win-back --version 3f2a --format json\n  funnel report --format html --out report.html   # overall conversion, main path chart, A/B winner\n\nStage figures count visits that began in the window. The overall conversion runs from the stage the first `enter:` leads to, along the goals, to the terminal stage they end in (the final goal); see the README, \"Measuring funnels\"."
    )]
    Report(ReportArgs),
    /// Compare funnels with an earlier version: what changed, and what breaks contacts in flight.
    #[command(after_help = format!("Examples:\n  funnel diff                                   # the work tree against HEAD\n  funnel diff --against origin/main\n  funnel diff funnels/quote-follow-up.yaml --against v3 --format json\n  funnel diff --against origin/main --format github   # in CI\n  funnel diff --against-state                   # the versions in .funnel/state.db, with contacts\n  funnel diff --state /srv/funnels/.funnel/state.db funnels/quote-follow-up.yaml\n\nA breaking change (a removed step or stage, a wait whose targets changed) needs a\n`migrate:` entry in the funnel; see docs/language.md.\n\n{DIFF_EXIT_CODES}"))]
    Diff(DiffArgs),
    /// List the lint rules, or explain one.
    #[command(after_help = "Examples:\n  funnel rules\n  funnel rules dead-end")]
    Rules(RulesArgs),
}

const DIFF_EXIT_CODES: &str = "\
Exit codes:
  0  no breaking change without a migration
  1  a breaking change has no `migrate:` entry, or a funnel does not parse
  2  usage error: no git, not a repository, unknown revision
  3  could not read input";

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// Funnel files or directories.
    #[arg(default_value = "funnels")]
    pub funnels: Vec<PathBuf>,
    /// Compare with the files at this git revision: a commit, branch or tag (default HEAD).
    #[arg(long, value_name = "REV", conflicts_with_all = ["state", "against_state"])]
    pub against: Option<String>,
    /// Compare with the versions the journeys in this state database run under, counting contacts.
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,
    /// Compare with the state at `.funnel/state.db` (or `--state`), as `--state` does.
    #[arg(long)]
    pub against_state: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::language::diff::render::Format,
}

const RUN_EXIT_CODES: &str = "\
Exit codes:
  0  the tick ran (bad feed rows are reported, skipped and counted)
  1  the funnels have errors, or an edit would strand contacts in flight
     without a `migrate:` entry (see `funnel diff --state`): nothing was changed
  2  usage error, or --now before the last run's
  3  could not read input
  4  another funnel run holds the state: nothing was changed
  6  a feed has too many bad rows (--max-bad-rows, every row): nothing was run";

const DELIVER_EXIT_CODES: &str = "\
Exit codes:
  0  the pass ran (failed sends are retried later or dead-lettered, and reported)
  1  the funnels have errors
  2  usage error, or a bad funnel.toml
  3  could not read input, or could not write the outbox file
  4  another funnel run holds the state: nothing was changed";

#[derive(Debug, clap::Args)]
pub struct DeliverArgs {
    /// Funnel files or directories (their global exits are rechecked).
    #[arg(default_value = "funnels")]
    pub funnels: Vec<PathBuf>,
    /// The state database.
    #[arg(long, value_name = "PATH", default_value = ".funnel/state.db")]
    pub state: PathBuf,
    /// Where the embedded file channel appends delivered messages.
    #[arg(long, value_name = "FILE", default_value = ".funnel/outbox.jsonl")]
    pub outbox: PathBuf,
    /// The time of the pass, RFC 3339 (default: now): rows whose retry time
    /// has come by then are sent.
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,
    /// Project config to use instead of the nearest funnel.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Idempotency keys of the dead letters to re-queue (default: all).
    pub keys: Vec<String>,
    /// List the dead letters instead, with their last error.
    #[arg(long)]
    pub list: bool,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Funnel files or directories.
    #[arg(default_value = "funnels")]
    pub funnels: Vec<PathBuf>,
    /// The contacts feed: CSV, JSON array or JSON Lines; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub contacts: PathBuf,
    /// The events feed (contact, event, at, data): JSON Lines or CSV.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    #[command(flatten)]
    pub state: StateArgs,
    /// Where the embedded file channel appends delivered messages.
    #[arg(long, value_name = "FILE", default_value = ".funnel/outbox.jsonl")]
    pub outbox: PathBuf,
    /// The time of the tick, RFC 3339 (default: now).
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,
    /// Accept a --now before the last run's (to recover from a mistyped
    /// future --now), recording REASON in the state's runs table.
    #[arg(long, value_name = "REASON", requires = "now")]
    pub allow_clock_reset: Option<String>,
    /// Print what would happen, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only the tick: leave queued rows for `funnel deliver`.
    #[arg(long)]
    pub no_deliver: bool,
    /// The contacts feed's id column.
    #[arg(long, value_name = "NAME", default_value = "id")]
    pub id_column: String,
    /// Force the CSV delimiter (default: sniffed from the header).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
    /// The feeds' text encoding, a WHATWG label such as windows-1250,
    /// windows-1251 or iso-8859-2 (default: `[feed] encoding`, else UTF-8).
    #[arg(long, value_name = "LABEL")]
    pub encoding: Option<String>,
    /// Refuse a feed with more bad rows than this, a count (25) or a
    /// percentage (10%), and run nothing (default: `[feed] max-bad-rows`,
    /// else 10%).
    #[arg(long, value_name = "N|PCT")]
    pub max_bad_rows: Option<String>,
    /// Project config to use instead of the nearest funnel.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StateArgs {
    /// The state database.
    #[arg(long, value_name = "PATH", default_value = ".funnel/state.db")]
    pub state: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: TableFormat,
}

/// The listings' output formats belong to their renderer.
pub use crate::table::TableFormat;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The contact id.
    pub contact: String,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct ContactsArgs {
    /// Only this funnel's journeys.
    #[arg(long, value_name = "FUNNEL")]
    pub funnel: Option<String>,
    /// Only contacts in this stage.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct ActionsArgs {
    /// Only rows with this status (queued, delivered, dead, suppressed, stale, failed).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only this funnel's rows.
    #[arg(long, value_name = "FUNNEL")]
    pub funnel: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct TasksArgs {
    /// Only open tasks past their due time.
    #[arg(long)]
    pub overdue: bool,
    /// Only this person's tasks.
    #[arg(long, value_name = "NAME")]
    pub assignee: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    pub action: TaskAction,
}

#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// Show a task: every field and its full brief.
    Show {
        /// The task id from `funnel tasks`.
        id: i64,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Mark a task done.
    Done {
        /// The task id from `funnel tasks`.
        id: i64,
        /// When it was done (RFC 3339; default: now). Waits and goals on
        /// `task.done` see it at that moment, and a task done after its
        /// deadline is still escalated.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        #[arg(long, value_name = "PATH", default_value = ".funnel/state.db")]
        state: PathBuf,
    },
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
    /// The funnel file to draw, or a directory: every funnel in it.
    pub path: PathBuf,
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: DiagramFormat,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// A rule id to explain; without it, all rules are listed.
    pub rule: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The funnel to report on, by name; every funnel that ran when left out.
    pub funnel: Option<String>,
    /// The first day counted, YYYY-MM-DD (UTC).
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub since: Option<NaiveDate>,
    /// The last day counted, YYYY-MM-DD (UTC), inclusive.
    #[arg(long, value_name = "DATE", value_parser = date)]
    pub until: Option<NaiveDate>,
    /// Only the figures of this funnel version: a prefix of its hash or git commit.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The state database.
    #[arg(long, value_name = "PATH", default_value = ".funnel/state.db")]
    pub state: PathBuf,
    /// Funnel files or directories, for stage order, goals and end stages.
    #[arg(long, value_name = "PATH", default_value = "funnels")]
    pub funnels: PathBuf,
    /// Stages with fewer contacts than this are not named the bottleneck.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub min_contacts: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Csv,
    Html,
}

fn date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`{text}` is not a date like 2026-05-04"))
}

const SERVE_HELP: &str = "Examples:
  FUNNEL_LINK_SECRET=$(cat /etc/funnel/link-secret) funnel serve
  funnel serve --listen 127.0.0.1:8425 --state /srv/funnels/.funnel/state.db funnels/

Configured in funnel.toml [serve] (listen, base-url, click-grace, open-pixel,
rate-limit, trust-proxy); secrets only from the environment: FUNNEL_LINK_SECRET
signs links, and each provider's endpoint is on when its variable is set (see
docs/providers.md). Every accepted signal is committed to the state before the
answer; the next `funnel run` reads it. Runs beside `funnel run`: serve holds no
run lock. Stops on SIGTERM or Ctrl-C after the requests in flight.

Endpoints:
  GET  /healthz                 200 when the state is reachable
  GET  /u/TOKEN                 a confirmation page (a GET never unsubscribes)
  POST /u/TOKEN                 one-click unsubscribe (RFC 8058)
  GET  /c/TOKEN                 a tracked click, then 302 to the signed URL
  GET  /o/TOKEN                 the open pixel (when open-pixel = true)
  POST /webhooks/PROVIDER       postmark, sendgrid, mailgun, twilio
  POST /events                  events signed with Funnel-Signature

Exit codes: 0 stopped by a signal, 1 the server failed or a funnel has errors, 2 bad configuration,
3 the state is not a funnel state or is from a newer funnel.";

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Funnel files or directories: checked at start, so that a broken
    /// funnel is found before its contacts' signals arrive (the default
    /// `funnels` is skipped when there is no such directory).
    #[arg(default_value = "funnels")]
    pub funnels: Vec<PathBuf>,
    /// Address to listen on (default: [serve] listen, else 127.0.0.1:8425).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The state database (created if missing).
    #[arg(long, value_name = "PATH", default_value = ".funnel/state.db")]
    pub state: PathBuf,
    /// Project config to use instead of the nearest funnel.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Only this contact's events.
    #[arg(long, value_name = "ID")]
    pub contact: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Prune what is older than this (e.g. 90d, 26w; at least 7d); default: [state] retention.
    #[arg(long, value_name = "PERIOD")]
    pub older_than: Option<String>,
    /// Measure the period back from this time (RFC 3339; default: now).
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,
    /// Rewrite the file afterwards so it shrinks (takes a while on a big state).
    #[arg(long)]
    pub vacuum: bool,
    /// The state database.
    #[arg(long, value_name = "PATH", default_value = ".funnel/state.db")]
    pub state: PathBuf,
    /// Project config to use instead of the nearest funnel.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SuppressionsArgs {
    /// Only this contact's suppressions.
    #[arg(long, value_name = "ID")]
    pub contact: Option<String>,
    #[command(flatten)]
    pub state: StateArgs,
}
