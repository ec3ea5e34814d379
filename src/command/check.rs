//! `funnel check`: lint the funnels and render every diagnostic; exit 1
//! when there are errors or more warnings than allowed.

use std::io::Write;

use crate::command::cli::{CheckArgs, Color};
use crate::command::{CommandError, stdout_is_terminal};
use crate::config::Config;
use crate::error::Error;
use crate::lint::diagnostic::Severity;
use crate::lint::linter::Linter;
use crate::lint::render::{self, Format};

pub(super) fn check(
    args: &CheckArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<i32, CommandError> {
    let cwd = std::env::current_dir().map_err(|source| Error::Read {
        path: ".".into(),
        source,
    })?;
    let config = Config::discover(args.config.as_deref(), &cwd)?;
    let checked = Linter::new(&config).check(&args.paths)?;
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout_is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    render::render(args.format, &checked, color, stdout)?;
    if args.format != Format::Human {
        // Machine formats keep stdout parseable; the summary goes beside it.
        writeln!(stderr, "{}", render::summary(&checked))?;
    }
    let warnings_allowed = args
        .max_warnings
        .or(config.max_warnings)
        .unwrap_or(usize::MAX);
    let failed =
        checked.count(Severity::Error) > 0 || checked.count(Severity::Warning) > warnings_allowed;
    Ok(i32::from(failed))
}
