//! What funnel asks of git: a funnel file's text at a revision (`funnel
//! diff --against`, and older versions a state recorded only by commit)
//! and the commit a run records with each version. It runs the user's
//! `git` program; it does not parse or compare what it reads, that is
//! `language`'s, and it does not decide exit codes, that is `command`'s.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Why git could not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The `git` program could not be started.
    #[error("cannot run git (is it installed?): {source}")]
    Missing { source: io::Error },
    /// A funnel file is outside any git work tree. Only `--against` asks
    /// with a user waiting on the answer, so the message speaks to it.
    #[error("{} is not in a git repository: --against needs one", path.display())]
    NotARepository { path: PathBuf },
    /// The revision names no commit.
    #[error("`{rev}` is not a git revision (a commit, branch or tag)")]
    UnknownRevision { rev: String },
    /// git failed reading a file that exists at the revision.
    #[error("git show {spec}: {message}")]
    Show { spec: String, message: String },
    /// The file or its work tree could not be resolved on disk.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
}

/// The git work tree a funnel file is in.
pub struct Git {
    root: PathBuf,
}

impl Git {
    /// The work tree holding `path`.
    pub fn new(path: &Path) -> Result<Self, GitError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let output = run_git(dir, &["rev-parse", "--show-toplevel"])?;
        if !output.status.success() {
            return Err(GitError::NotARepository {
                path: path.to_path_buf(),
            });
        }
        let root = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Ok(Self {
            root: PathBuf::from(root),
        })
    }

    /// The file's text at `rev`, `None` when it did not exist there.
    pub fn show(&self, rev: &str, path: &Path) -> Result<Option<String>, GitError> {
        let commit = format!("{rev}^{{commit}}");
        let verified = run_git(&self.root, &["rev-parse", "--verify", "--quiet", &commit])?;
        if !verified.status.success() {
            return Err(GitError::UnknownRevision {
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
            return Err(GitError::Show {
                spec,
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        // A version that is not UTF-8 is reported as not parsing.
        Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
    }

    /// The path from the work tree's root, with `/` as git wants it.
    pub fn relative(&self, path: &Path) -> Result<String, GitError> {
        let unreadable = |source| GitError::Read {
            path: path.to_path_buf(),
            source,
        };
        let full = path.canonicalize().map_err(unreadable)?;
        let root = self.root.canonicalize().map_err(unreadable)?;
        let relative = full
            .strip_prefix(&root)
            .map_err(|_| GitError::NotARepository {
                path: path.to_path_buf(),
            })?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Ok(parts.join("/"))
    }
}

/// The text of `path` at git commit `commit`, when git has it (a version
/// the state recorded before it kept versions' text); `None` otherwise.
pub fn at_commit(path: &Path, commit: &str) -> Option<String> {
    Git::new(path).ok()?.show(commit, path).ok().flatten()
}

/// The last commit of `file` when the file is tracked and unchanged since,
/// so a report can name the exact revision; `None` outside git, with git
/// missing, or with local edits (the content hash still tells versions
/// apart).
pub fn last_commit(file: &Path) -> Option<String> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
    let name = file.file_name()?;
    let clean = run_git(
        dir,
        &[
            OsStr::new("diff"),
            "--quiet".as_ref(),
            "HEAD".as_ref(),
            "--".as_ref(),
            name,
        ],
    )
    .ok()?;
    if !clean.status.success() {
        return None;
    }
    let log = run_git(
        dir,
        &[
            OsStr::new("log"),
            "-1".as_ref(),
            "--format=%H".as_ref(),
            "--".as_ref(),
            name,
        ],
    )
    .ok()?;
    let commit = String::from_utf8(log.stdout).ok()?.trim().to_string();
    (log.status.success() && !commit.is_empty()).then_some(commit)
}

/// Runs git in `dir`, capturing its output so git's own messages never
/// reach the user's terminal unasked.
fn run_git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<Output, GitError> {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| GitError::Missing { source })
}
