//! `funnel graph`: the funnels as a Mermaid or Graphviz diagram on stdout.

use std::io::{self, IsTerminal, Write};

use crate::command::CommandError;
use crate::command::cli::GraphArgs;
use crate::config::Config;
use crate::error::Error;
use crate::language::diagram;
use crate::lint::diagnostic::Severity;
use crate::lint::linter::Linter;
use crate::lint::render::{self, Format};

/// Draws the funnels only when they check without errors: a diagram of a
/// broken funnel would silently leave out the moves that did not compile.
pub(super) fn graph(
    args: &GraphArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<i32, CommandError> {
    let cwd = std::env::current_dir().map_err(|source| Error::Read {
        path: ".".into(),
        source,
    })?;
    let config = Config::discover(None, &cwd)?;
    let checked = Linter::new(&config).check(std::slice::from_ref(&args.path))?;
    if checked.count(Severity::Error) > 0 {
        // The same report `check` prints, on stderr: stdout is the diagram.
        let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        render::render(Format::Human, &checked, color, stderr)?;
        return Ok(1);
    }
    stdout.write_all(diagram::render(&checked.funnels, args.format).as_bytes())?;
    Ok(0)
}
