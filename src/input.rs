//! Reading the project's own files (funnels, templates, `funnel.toml`):
//! regular files only, after links are followed, and at most
//! [`MAX_BYTES`]. A FIFO named `*.yaml` would block `check` forever and a
//! link to `/dev/zero` would fill memory; both are refused with their
//! path instead. Feeds are not read here: they may be pipes and large.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest funnel, template or config file read: 10 MB, a hundred
/// times the largest funnel anyone writes by hand.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// The bytes of the regular file at `path`, refused past [`MAX_BYTES`].
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    check(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    // The name may have been swapped for something else since: look again.
    check(&file.metadata()?)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

fn check(meta: &std::fs::Metadata) -> io::Result<()> {
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or socket); funnel reads only regular files",
        ));
    }
    if meta.len() > MAX_BYTES {
        return Err(too_large());
    }
    Ok(())
}

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than the {} MB limit", MAX_BYTES / 1024 / 1024),
    )
}
