//! `funnel diff`: compares each funnel file with an earlier version of
//! itself and says which edits break contacts already on their way.
//! `--against REV` reads the earlier version from git; `--state` takes the
//! versions in-flight journeys run under (the state keeps each version's
//! text) and counts the contacts each change affects. Both end in [`render`](crate::diff::render): this
//! file only fetches and compiles versions and picks the exit code.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::DiffArgs;
use crate::compiler::Compiler;
use crate::diff::render::{self, Compared, Format, Status};
use crate::diff::{self as structural, Change, Fate};
use crate::linter;
use crate::model::Funnel;
use crate::parser::Parser;
use crate::source::{SourceFile, SourceId};

/// Why `funnel diff` could not compare; each knows its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// `--state` names no file.
    #[error("no state at {}: run `funnel run` first, or point --state at the state file", path.display())]
    NoState { path: PathBuf },
    /// The state file could not be read.
    #[error("{}: {source}", path.display())]
    State {
        path: PathBuf,
        source: crate::store::StoreError,
    },
    /// The `git` program could not be started.
    #[error("cannot run git (is it installed?): {source}")]
    GitMissing { source: io::Error },
    /// A funnel file is outside any git work tree.
    #[error("{} is not in a git repository: --against needs one", path.display())]
    NotARepository { path: PathBuf },
    /// `--against` names no commit.
    #[error("`{rev}` is not a git revision (a commit, branch or tag)")]
    UnknownRevision { rev: String },
    /// git failed reading a file that exists at the revision.
    #[error("git show {spec}: {message}")]
    Git { spec: String, message: String },
    /// A funnel file or directory could not be read.
    #[error(transparent)]
    Input(#[from] crate::error::Error),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] io::Error),
}

impl CompareError {
    /// 2 usage (no git, not a repository, bad revision), 3 unreadable input.
    pub fn exit_code(&self) -> i32 {
        match self {
            CompareError::GitMissing { .. }
            | CompareError::NotARepository { .. }
            | CompareError::UnknownRevision { .. } => 2,
            CompareError::Git { .. }
            | CompareError::Output(_)
            | CompareError::NoState { .. }
            | CompareError::State { .. } => 3,
            CompareError::Input(e) => e.exit_code(),
        }
    }
}

/// Runs `funnel diff`; the exit code, 1 when a breaking change has no
/// migration or a funnel does not parse.
pub fn diff(
    args: &DiffArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, CompareError> {
    let files = linter::discover(&args.funnels)?;
    let mut compared = Vec::new();
    let state = args.state.clone().or_else(|| {
        args.against_state
            .then(|| PathBuf::from(".funnel/state.db"))
    });
    if let Some(state) = &state {
        if !state.is_file() {
            return Err(CompareError::NoState {
                path: state.clone(),
            });
        }
        let store =
            crate::store::Store::open_read(state).map_err(|source| CompareError::State {
                path: state.clone(),
                source,
            })?;
        for path in &files {
            let text = linter::read(path)?;
            compared.extend(
                in_flight(&store, SourceFile::new(path.clone(), text)).map_err(|source| {
                    CompareError::State {
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
    let version = crate::runner::version(&file.text);
    let new = match compile(&file) {
        Ok(new) => new,
        Err(_) => return Ok(vec![compare(file, None)]),
    };
    let grouped = crate::migration::effects(store, (&new, &version))?;
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
    let new = match compile(&compared.file) {
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
    match compile(&SourceFile::new(
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

/// Parses and compiles one version. Compile problems are `funnel check`'s
/// to report: the compiler is lenient, and a diff reads what it can.
/// Templates are not read: only the structure is compared.
pub fn compile(file: &SourceFile) -> Result<Funnel, String> {
    let id = SourceId(0);
    match Parser::parse(id, file) {
        Ok(document) => Ok(Compiler::compile(&document, id, &file.text).0),
        Err(diagnostic) => {
            let (line, column) = file.line_col(diagnostic.span.offset);
            Err(format!("{} at {line}:{column}", diagnostic.message))
        }
    }
}

/// The text of `path` at git commit `commit`, when git has it (a version
/// the state recorded before it kept versions' text); `None` otherwise.
pub fn at_commit(path: &Path, commit: &str) -> Option<String> {
    Git::new(path).ok()?.show(commit, path).ok().flatten()
}

/// The git work tree a funnel file is in.
struct Git {
    root: PathBuf,
}

impl Git {
    fn new(path: &Path) -> Result<Self, CompareError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let output = run_git(dir, &["rev-parse", "--show-toplevel"])?;
        if !output.status.success() {
            return Err(CompareError::NotARepository {
                path: path.to_path_buf(),
            });
        }
        let root = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok(Self {
            root: PathBuf::from(root),
        })
    }

    /// The file's text at `rev`, `None` when it did not exist there.
    fn show(&self, rev: &str, path: &Path) -> Result<Option<String>, CompareError> {
        let commit = format!("{rev}^{{commit}}");
        let verified = run_git(&self.root, &["rev-parse", "--verify", "--quiet", &commit])?;
        if !verified.status.success() {
            return Err(CompareError::UnknownRevision {
                rev: rev.to_string(),
            });
        }
        let spec = format!("{rev}:{}", self.relative(path)?);
        if !run_git(&self.root, &["cat-file", "-e", &spec])?
            .status
            .success()
        {
            return Ok(None);
        }
        let output = run_git(&self.root, &["show", &spec])?;
        if !output.status.success() {
            return Err(CompareError::Git {
                spec,
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        // A version that is not UTF-8 is reported as not parsing.
        Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    /// The path from the work tree's root, with `/` as git wants it.
    fn relative(&self, path: &Path) -> Result<String, CompareError> {
        let unreadable = |source| crate::error::Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let full = path.canonicalize().map_err(unreadable)?;
        let root = self.root.canonicalize().map_err(unreadable)?;
        let relative = full
            .strip_prefix(&root)
            .map_err(|_| CompareError::NotARepository {
                path: path.to_path_buf(),
            })?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Ok(parts.join("/"))
    }
}

fn run_git(dir: &Path, args: &[&str]) -> Result<std::process::Output, CompareError> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| CompareError::GitMissing { source })
}
