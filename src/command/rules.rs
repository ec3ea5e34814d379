//! `funnel rules [RULE]`: the table of lint rules, or one rule's docs.

use std::io::Write;

use crate::command::CommandError;
use crate::command::cli::RulesArgs;
use crate::lint::diagnostic;
use crate::lint::rules::{self, RULES};

pub(super) fn rules(args: &RulesArgs, stdout: &mut dyn Write) -> Result<i32, CommandError> {
    let Some(id) = &args.rule else {
        for rule in RULES {
            writeln!(
                stdout,
                "{:<24} {:<8} {}",
                rule.id,
                rule.severity.as_str(),
                rule.summary
            )?;
        }
        return Ok(0);
    };
    let Some(rule) = rules::find(id) else {
        let hint = diagnostic::suggest(id, RULES.iter().map(|r| r.id));
        return Err(CommandError::usage(format!("no rule `{id}`: {hint}")));
    };
    writeln!(
        stdout,
        "{} ({} by default)\n\n{}\n\n## What it does\n{}\n\n## Why is this bad?\n{}\n\n## Example\n{}",
        rule.id,
        rule.severity.as_str(),
        rule.summary,
        rule.what,
        rule.why,
        rule.example
    )?;
    Ok(0)
}
