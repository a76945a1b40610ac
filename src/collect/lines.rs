//! The one loop over the lines of a `/proc` table (`net/tcp{,6}`, `net/unix`),
//! and the log of the lines that were not sockets.
//!
//! A malformed line is never fatal and never dropped unseen: each is counted, and
//! the first few are kept with their file, line number and reason, for the
//! `MalformedLines` warning.

use crate::model::printable;

/// A line of a table file that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// The malformed lines of one read: the first [`MalformedLog::KEPT`] with their
/// reasons, and a count of all. A table of a million garbage lines must not become
/// a million reasons in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MalformedLog {
    kept: Vec<Malformed>,
    count: usize,
}

impl MalformedLog {
    /// Reasons kept (and shown); the rest are counted.
    pub const KEPT: usize = 5;

    pub fn push(&mut self, m: Malformed) {
        self.count += 1;
        if self.kept.len() < Self::KEPT {
            self.kept.push(m);
        }
    }

    /// Every malformed line, kept or only counted.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first few, in order.
    pub fn kept(&self) -> &[Malformed] {
        &self.kept
    }

    pub fn extend(&mut self, other: MalformedLog) {
        let extra = other.count - other.kept.len();
        for m in other.kept {
            self.push(m);
        }
        self.count += extra;
    }
}

/// A field of bad input as shown in a reason: control characters escaped (reasons
/// are printed on terminals) and cut to about 64 characters (one bad field of a
/// million characters must not become a megabyte of warning).
pub fn quoted(field: &str) -> String {
    const MAX: usize = 64;
    let mut cut: String = field.chars().take(MAX).collect();
    let more = field.chars().nth(MAX).is_some();
    cut = printable(&cut).into_owned();
    if more {
        cut.push_str("...");
    }
    format!("'{cut}'")
}

/// Parse each line of a table's `text` with `parse`, appending what it gives to
/// `out` and every line it refuses to `malformed` (named by `file` and its
/// 1-based number). Blank lines are skipped, and the first line when
/// `is_header` says it is the kernel's column header: a first line that is not
/// is parsed (or reported), never skipped unseen.
pub fn parse_lines<T>(
    text: &[u8],
    file: &str,
    is_header: impl Fn(&[u8]) -> bool,
    mut parse: impl FnMut(&[u8]) -> Result<T, String>,
    out: &mut Vec<T>,
    malformed: &mut MalformedLog,
) {
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if (i == 0 && is_header(line)) || line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse(line) {
            Ok(item) => out.push(item),
            Err(reason) => malformed.push(Malformed {
                file: file.to_string(),
                line: i + 1,
                reason,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(line: &[u8]) -> Result<u32, String> {
        let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
        text.trim()
            .parse()
            .map_err(|_| format!("bad {}", quoted(text)))
    }

    #[test]
    fn headers_blanks_and_bad_lines_are_told_apart() {
        let header = |l: &[u8]| l.starts_with(b"N");
        let (mut out, mut bad) = (Vec::new(), MalformedLog::default());
        parse_lines(
            b"N header\n1\n\n  \nx\n2\n",
            "t",
            header,
            digits,
            &mut out,
            &mut bad,
        );
        assert_eq!(out, vec![1, 2]);
        assert_eq!((bad.len(), bad.kept()[0].line), (1, 5));
        assert_eq!(bad.kept()[0].file, "t");
        // Only the first line may be a header.
        let (mut out, mut bad) = (Vec::new(), MalformedLog::default());
        parse_lines(b"3\nN\n", "t", header, digits, &mut out, &mut bad);
        assert_eq!((out, bad.len(), bad.kept()[0].line), (vec![3], 1, 2));
    }
}
