//! Where output goes: stdout, or a file replaced atomically (`--output-file`), so
//! that a reader such as node_exporter's textfile collector never sees half a file
//! and a failed write leaves the previous file intact.
//!
//! sockleak often runs as root from a timer, writing into a directory other users
//! may write to. So the temporary file is created with `O_CREAT|O_EXCL` under a
//! random name (a planted symlink or file there is never opened), its mode is set
//! on that descriptor only, and the target must be a regular file or absent: a
//! symlink, device, FIFO or directory there is refused rather than replaced.
//!
//! A file gets the mode the umask gives a new file (`0666 & !umask`, as any
//! tool's output), except one holding `--peek` content (bytes from other
//! processes' receive queues: tokens, passwords), which is always 0600.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit::UsageError;

/// What kind of thing a file type is, for a refusal or warning that names it;
/// `None` for a regular file. (Shared by the proc-root reader, which refuses the
/// same odd files.)
pub fn odd_kind(t: fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Who may read a file sockleak writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Whom the umask lets read a new file (`0666 & !umask`).
    Umask,
    /// The owner alone (0600): the file holds `--peek` content.
    Owner,
}

impl Readers {
    /// `--peek` content in the output makes it the owner's alone.
    pub fn for_peek(peek: bool) -> Readers {
        if peek { Readers::Owner } else { Readers::Umask }
    }
}

/// Refuse an existing `path` that is not a regular file (by `lstat`: a symlink is
/// refused, not followed). Absent is fine. `flag` names the flag in the message.
pub fn check_target(path: &Path, flag: &str) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) => match odd_kind(meta.file_type()) {
            None => Ok(()),
            Some(kind) => Err(UsageError(format!(
                "{flag} {}: is {kind}; sockleak writes only to a regular file (or a new one), never through or over anything else; remove it or name another path",
                crate::model::printable(&path.display().to_string())
            ))
            .into()),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("{flag} {}: cannot inspect it", path.display())),
    }
}

/// For `--record` (appended to, so not written through [`write_atomic_with`]):
/// an existing target must be a regular file.
pub fn check_record_target(path: &Path) -> Result<()> {
    check_target(path, "--record")
}

/// Replace `path` atomically with what `fill` writes into a fresh temporary file in
/// the same directory: created with `O_EXCL` under a random name that does not end
/// in `.prom` (the textfile collector would read it) with the mode `readers`
/// allow (0600 set again with `fchmod` for [`Readers::Owner`]), fsync, then
/// renamed over `path`. On any failure the temporary file is removed and `path`
/// is untouched. `flag` names the flag in messages (`--output-file`, `plot -o`).
pub fn write_atomic_with(
    path: &Path,
    flag: &str,
    readers: Readers,
    fill: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    replace(path, flag, ".sockleak-tmp", readers, |tmp| {
        fill(tmp.as_file_mut())
    })
}

/// As [`write_atomic_with`], for a writer that opens a path itself (plotters):
/// `fill` writes the temporary file by its path, which ends in `suffix` (the
/// backend picks the format from it).
pub fn write_atomic_by_path(
    path: &Path,
    flag: &str,
    suffix: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    replace(path, flag, suffix, Readers::Umask, |tmp| fill(tmp.path()))
}

fn replace(
    path: &Path,
    flag: &str,
    suffix: &str,
    readers: Readers,
    fill: impl FnOnce(&mut tempfile::NamedTempFile) -> Result<()>,
) -> Result<()> {
    check_target(path, flag)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{flag} {}: not a file path", path.display()))?;
    let failed = || {
        format!(
            "{flag} {}: cannot write it (the previous file, if any, is untouched)",
            path.display()
        )
    };
    // The mode is given to open(2), which applies the umask: private from the
    // first byte, never widened after.
    let mode = match readers {
        Readers::Umask => 0o666,
        Readers::Owner => 0o600,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(suffix)
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(&dir)
        .map_err(without_temp_name)
        .with_context(failed)?;
    fill(&mut tmp).with_context(failed)?;
    let file = tmp.as_file_mut();
    // fchmod on our own descriptor (never a chmod by name, which a swapped path
    // would redirect): 0600 exactly, whatever the umask took away.
    if readers == Readers::Owner {
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .with_context(failed)?;
    }
    file.flush()
        .and_then(|()| file.sync_all())
        .with_context(failed)?;
    // rename(2) replaces whatever is at `path` without following it; a symlink
    // planted after the check above is replaced, never written through.
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(failed)?;
    Ok(())
}

/// The error of creating the temporary file, without the random name tempfile
/// appends (` at path "…"`: it means nothing to the user, who is told the target).
fn without_temp_name(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.rfind(" at path \"") {
        Some(at) => io::Error::new(e.kind(), &text[..at]),
        None => e,
    }
}

/// Write `contents` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, readers: Readers, contents: &[u8]) -> Result<()> {
    write_atomic_with(path, "--output-file", readers, |f| {
        Ok(f.write_all(contents)?)
    })
}

/// Send rendered output to `--output-file` (readable by `readers`) or stdout.
pub fn emit(output_file: Option<&Path>, readers: Readers, contents: &[u8]) -> Result<()> {
    match output_file {
        Some(p) => write_atomic(p, readers, contents),
        None => {
            let mut out = io::stdout().lock();
            out.write_all(contents)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Write `lines` to stderr, one each: warnings as the renderer worded them
/// (`render::WarningStyle::lines`). Errors writing stderr are ignored: there is
/// nowhere left to report them.
pub fn to_stderr(lines: &[String]) {
    let mut err = io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// Whether to style output: stdout is a terminal and `NO_COLOR` is unset or empty.
/// Asked here, with the terminal's size, and passed to the renderers.
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The size of the terminal on stdout as (columns, rows), when it is one. Asked
/// here, where output goes, and passed to the renderers, which do no I/O.
pub fn terminal_size() -> Option<(usize, usize)> {
    // SAFETY: TIOCGWINSZ only writes a `winsize`; on a non-terminal it fails with
    // ENOTTY and writes nothing.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0 && ws.ws_row > 0)
        .then(|| (usize::from(ws.ws_col), usize::from(ws.ws_row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_named_by_the_target_not_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("gone/x.prom");
        let err = write_atomic(&target, Readers::Umask, b"x").unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("--output-file {}", target.display()))
                && text.contains("No such file or directory")
                && !text.contains("sockleak-tmp"),
            "{text}"
        );
    }

    #[test]
    fn atomic_write_replaces_and_keeps_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.prom");
        write_atomic(&p, Readers::Umask, b"one\n").unwrap();
        write_atomic(&p, Readers::Owner, b"two\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        let missing = dir.path().join("nope/x.prom");
        let e = write_atomic(&missing, Readers::Umask, b"x").unwrap_err();
        assert!(format!("{e:#}").contains("nope/x.prom"), "{e:#}");
    }

    #[test]
    fn a_failing_fill_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.prom");
        write_atomic(&p, Readers::Umask, b"old\n").unwrap();
        let e = write_atomic_with(&p, "plot -o", Readers::Umask, |f| {
            f.write_all(b"half")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("plot -o"), "{e:#}");
        assert_eq!(fs::read(&p).unwrap(), b"old\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn odd_targets_are_refused_as_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link.prom");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        for (p, kind) in [(link.as_path(), "symbolic link"), (dir.path(), "directory")] {
            let e = write_atomic(p, Readers::Umask, b"x").unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{e:#}");
            assert!(format!("{e}").contains(kind), "{e}");
        }
        assert!(!dir.path().join("elsewhere").exists());
        let e = check_record_target(Path::new("/dev/null")).unwrap_err();
        assert!(format!("{e}").contains("--record /dev/null: is a character device"));
        check_record_target(&dir.path().join("new.jsonl")).unwrap();
    }
}
