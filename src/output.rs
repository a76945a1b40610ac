//! Where output goes: stdout, or a file replaced atomically (`--output-file`), so
//! that a reader such as node_exporter's textfile collector never sees half a file
//! and a failed write leaves the previous file intact.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Write `contents` to `path` atomically: a temporary file in the same directory
/// (named so it does not end in `.prom`, which the textfile collector would read),
/// fsync, mode 0644, then rename over `path`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("--output-file {}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.sockleak-tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> io::Result<()> {
        let mut f: File = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.set_permissions(fs::Permissions::from_mode(0o644))?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| {
            format!(
                "--output-file {}: cannot write it (the previous file, if any, is untouched)",
                path.display()
            )
        });
    }
    Ok(())
}

/// Send rendered output to `--output-file` or stdout.
pub fn emit(output_file: Option<&Path>, contents: &[u8]) -> Result<()> {
    match output_file {
        Some(p) => write_atomic(p, contents),
        None => {
            let mut out = io::stdout().lock();
            out.write_all(contents)?;
            out.flush()?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.prom");
        write_atomic(&p, b"one\n").unwrap();
        write_atomic(&p, b"two\n").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two\n");
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        let missing = dir.path().join("nope/x.prom");
        let e = write_atomic(&missing, b"x").unwrap_err();
        assert!(format!("{e:#}").contains("nope/x.prom"), "{e:#}");
    }
}
