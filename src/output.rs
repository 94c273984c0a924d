//! Output files are written whole or not at all: the content goes to a
//! temporary file in the same directory, is flushed to disk, and replaces the
//! target by a rename (atomic on POSIX file systems), so a run killed at any
//! moment leaves either the previous file or the new one, never a part.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write_atomically(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let temporary = temporary_path(path);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        Error::io(&shown, e)
    })
}

/// An output file written piece by piece and put in place whole: the pieces
/// go to a temporary file beside the target, which [`AtomicFile::commit`]
/// flushes and renames over the target. Dropped without `commit` (an error
/// on the way), the temporary file is removed and the target is untouched.
pub struct AtomicFile {
    target: std::path::PathBuf,
    temporary: std::path::PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    /// Starts writing `path`.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let target = path.as_ref().to_path_buf();
        let temporary = temporary_path(&target);
        let file = std::fs::File::create(&temporary).map_err(|e| Error::io(target.display().to_string(), e))?;
        Ok(AtomicFile {
            target,
            temporary,
            file: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// Flushes the content to disk and renames it over the target.
    pub fn commit(mut self) -> Result<()> {
        let shown = self.target.display().to_string();
        let Some(buffered) = self.file.take() else {
            return Ok(());
        };
        let done = (|| -> std::io::Result<()> {
            let file = buffered.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.temporary, &self.target)
        })();
        done.map_err(|e| {
            let _ = std::fs::remove_file(&self.temporary);
            Error::io(&shown, e)
        })
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("the output was already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// `dir/.name.pk-PID-N.tmp`, beside `path`.
fn temporary_path(path: &Path) -> std::path::PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = path
        .file_name()
        .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.pk-{}-{n}.tmp", std::process::id()))
}

/// An error unless the directory that will hold `path` exists (checked
/// before a computation starts, so that a long run does not end in a
/// failure to write).
pub fn check_writable(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() {
        Ok(())
    } else {
        Err(Error::Argument(format!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            parent.display()
        )))
    }
}

/// Creates the output directory `dir` (for plots) if it is not there; its
/// parent must exist: parents are not created silently.
pub fn create_output_dir(dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    if dir.is_dir() {
        return Ok(());
    }
    check_writable(dir)?;
    std::fs::create_dir(dir).map_err(|e| Error::io(dir.display().to_string(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        std::fs::write(&target, "old").unwrap();
        write_atomically(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn a_missing_directory_is_named() {
        let e = check_writable("/no/such/dir/out.json").unwrap_err().to_string();
        assert!(e.contains("the directory /no/such/dir does not exist"), "{e}");
        assert!(check_writable("out.json").is_ok());
    }
}
