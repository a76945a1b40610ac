//! The names a process goes by, for `--process`: the kernel's `comm` (cut to 15
//! characters), its `argv[0]`'s basename and its executable's basename; and
//! what names exist on the host, for a `--process` that matched nothing.

use std::path::Path;

use super::fsread::{self, Oversize};

/// `argv[0]` is read from the first bytes of `cmdline` only.
const ARGV0_MAX: u64 = 4096;

/// The full names of the process at `dir` (`/proc/<pid>`): `argv[0]`'s
/// basename and the executable's (without ` (deleted)`), each once, where
/// readable.
pub fn full_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(raw) = fsread::read_bounded(&dir.join("cmdline"), ARGV0_MAX, Oversize::Truncate) {
        let argv0 = raw.split(|b| *b == 0).next().unwrap_or_default();
        // A process that rewrote its title may put spaces in argv[0]: the
        // first word is the program.
        let argv0 = String::from_utf8_lossy(argv0);
        if let Some(name) = argv0.split(' ').next().and_then(basename) {
            out.push(name);
        }
    }
    if let Ok(exe) = std::fs::read_link(dir.join("exe")) {
        let exe = exe.to_string_lossy();
        let exe = exe.strip_suffix(" (deleted)").unwrap_or(&exe);
        if let Some(name) = basename(exe).filter(|n| !out.contains(n)) {
            out.push(name);
        }
    }
    out
}

fn basename(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// Whether `wanted` names the process whose `comm` is `comm` and whose full
/// names are `full`.
pub fn matches(wanted: &str, comm: &str, full: &[String]) -> bool {
    wanted == comm || full.iter().any(|n| n == wanted)
}

/// Every process of `root` by its names: `(pid, comm, full names)`, for a
/// `--process` that may match nothing (read once, at start).
pub fn every_process(root: &Path) -> Vec<(u32, String, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let dir = e.path();
        let Ok(comm) = fsread::read_bounded(&dir.join("comm"), fsread::COMM, Oversize::Refuse)
        else {
            continue;
        };
        let comm = String::from_utf8_lossy(comm.trim_ascii_end()).into_owned();
        out.push((pid, comm, full_names(&dir)));
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_names_of_this_process() {
        let names = full_names(Path::new("/proc/self"));
        assert!(!names.is_empty(), "argv[0] and exe of the test binary");
        assert!(names.iter().all(|n| !n.contains('/')), "{names:?}");
        assert!(matches("x", "x", &[]));
        assert!(matches(
            "billing-api-server",
            "billing-api-ser",
            &names_of("billing-api-server")
        ));
        assert!(!matches(
            "billing",
            "billing-api-ser",
            &names_of("billing-api-server")
        ));
    }

    fn names_of(n: &str) -> Vec<String> {
        vec![n.to_string()]
    }
}
