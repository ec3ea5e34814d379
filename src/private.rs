//! Files that hold personal data (the state, the file channel's outbox) are
//! created readable by their owner only: `0600` files in a `0700`
//! directory, whatever the umask. Only what funnel creates is set; a file
//! or directory that already exists keeps the mode its owner gave it.
//! Elsewhere than unix the platform's defaults apply.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents, each new one `0700`.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => restrict(dir, 0o700),
        // Another process made it meanwhile: theirs is as good.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Options that create a missing file `0600`; an existing one is opened
/// as it is.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Creates `path` empty and `0600` unless it exists; says whether it did.
pub fn create_file(path: &Path) -> io::Result<bool> {
    match options().write(true).create_new(true).open(path) {
        Ok(file) => {
            drop::<File>(file);
            restrict(path, 0o600)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// The mode given at creation is masked by the umask; set it outright.
fn restrict(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}
