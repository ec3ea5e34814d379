//! `funnel diff`: compares each funnel file with an earlier version of
//! itself and says which edits break contacts already on their way.
//! `--against REV` reads the earlier version from git; `--state` takes the
//! versions in-flight journeys run under (the state keeps each version's
//! text) and counts the contacts each change affects. Both end in [`render`](crate::language::diff::render): this
//! file only fetches and compiles versions and picks the exit code.

use std::io::Write;
use std::path::PathBuf;

use crate::command::CommandError;
use crate::command::cli::DiffArgs;
use crate::git::Git;
use crate::language::compiler::compile_file;
use crate::language::diff::render::{self, Compared, Format, Status};
use crate::language::diff::{self as structural, Change, Fate};
use crate::language::source::SourceFile;
use crate::lint::linter;

/// Runs `funnel diff`; the exit code, 1 when a breaking change has no
/// migration or a funnel does not parse.
pub(super) fn diff(
    args: &DiffArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CommandError> {
    let files = linter::discover(&args.funnels)?;
    let mut compared = Vec::new();
    let state = args.state.clone().or_else(|| {
        args.against_state
            .then(|| PathBuf::from(".funnel/state.db"))
    });
    if let Some(state) = &state {
        if !state.is_file() {
            return Err(CommandError::NoStateToCompare {
                path: state.clone(),
            });
        }
        let store = crate::store::Store::open_read(state).map_err(|source| {
            CommandError::StateToCompare {
                path: state.clone(),
                source,
            }
        })?;
        for path in &files {
            let text = linter::read(path)?;
            compared.extend(
                in_flight(&store, SourceFile::new(path.clone(), text)).map_err(|source| {
                    CommandError::StateToCompare {
                        path: state.clone(),
                        source,
                    }
                })?,
            );
        }
    } else {
        let rev = args.against.as_deref().unwrap_or("HEAD");
        for path in &files {
            let text = linter::read(path)?;
            let old = Git::new(path)?.show(rev, path)?;
            compared.push(compare(SourceFile::new(path.clone(), text), old.as_deref()));
        }
    }
    render::render(args.format, &compared, out)?;
    if args.format != Format::Table {
        // Machine formats keep stdout parseable; the table ends with it.
        writeln!(err, "{}", render::summary(&compared))?;
    }
    Ok(exit_code(&compared))
}

/// 1 when any funnel has a breaking change without a migration, contacts
/// the new version blocks (with `--state`), or a current version that does
/// not parse; else 0.
pub fn exit_code(compared: &[Compared]) -> i32 {
    let failed = compared.iter().any(|c| {
        matches!(c.status, Status::NewUnreadable { .. })
            || c.changes.iter().any(Change::unmigrated)
            || c.effects
                .iter()
                .flatten()
                .any(|(_, e)| matches!(e.fate, Fate::Blocked { .. }))
    });
    i32::from(failed)
}

/// Compares the current text of a funnel file with every older version
/// its in-flight journeys in the state run under, counting the contacts at
/// each place and saying what this version does to them. A funnel whose
/// contacts all run under it compares with nothing (no changes, no one
/// affected).
fn in_flight(
    store: &crate::store::Store,
    file: SourceFile,
) -> Result<Vec<Compared>, crate::store::StoreError> {
    let version = crate::run::runner::version(&file.text);
    let new = match compile_file(&file) {
        Ok(new) => new,
        Err(_) => return Ok(vec![compare(file, None)]),
    };
    let grouped = crate::run::migration::effects(store, (&new, &version))?;
    if grouped.is_empty() {
        return Ok(vec![Compared {
            funnel: new.name.clone(),
            file,
            status: Status::Compared,
            changes: Vec::new(),
            effects: Some(Vec::new()),
        }]);
    }
    Ok(grouped
        .into_iter()
        .map(|(_, old, effects, _)| Compared {
            funnel: new.name.clone(),
            file: file.clone(),
            status: Status::Compared,
            changes: structural::diff(old.as_ref().unwrap_or(&new), &new),
            effects: Some(effects),
        })
        .collect())
}

/// Compares the current text of a funnel file with an earlier one (`None`:
/// the file is new).
pub fn compare(file: SourceFile, old: Option<&str>) -> Compared {
    let mut compared = Compared {
        funnel: file.name(),
        file,
        status: Status::Compared,
        changes: Vec::new(),
        effects: None,
    };
    let new = match compile_file(&compared.file) {
        Ok(new) => new,
        Err(message) => {
            compared.status = Status::NewUnreadable {
                message: format!("the current version does not parse: {message}"),
            };
            return compared;
        }
    };
    compared.funnel = new.name.clone();
    let Some(old) = old else {
        compared.status = Status::Added;
        return compared;
    };
    match compile_file(&SourceFile::new(
        compared.file.path.clone(),
        old.to_string(),
    )) {
        Ok(old) => compared.changes = structural::diff(&old, &new),
        Err(message) => {
            compared.status = Status::OldUnreadable {
                message: format!("the earlier version does not parse ({message}): not compared"),
            }
        }
    }
    compared
}
