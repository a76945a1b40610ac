//! Rendering: a report as the human table, the JSON document, Prometheus text,
//! check lines and the Nagios status line, and `--watch` frames and alerts; one
//! file per format. A snapshot's format is chosen once, as a [`Renderer`]. Renderers
//! build bytes and never print (the commands write them, warnings through
//! `output::to_stderr`), and never ask the terminal or the environment: its size
//! and whether to colour are passed in. A closed pipe then surfaces as an error the
//! caller treats as a quiet exit.

pub mod check;
pub mod describe;
pub mod frame;
pub mod json;
pub mod pool_log;
pub mod prometheus;
pub mod table;

use std::io;

pub use crate::model::human_age;
use crate::model::report::Report;
use crate::model::warning::{Warning, short_lines};

/// A snapshot's output format and its options, chosen once by the configuration.
#[derive(Debug, Clone)]
pub enum Renderer {
    Table(table::TableOptions),
    /// The v1 document; `top` cuts the groups (only when asked for explicitly).
    Json {
        top: Option<usize>,
    },
    Prometheus(prometheus::PromOptions),
}

impl Renderer {
    /// The report in this format.
    pub fn render(&self, report: &Report) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        match self {
            Renderer::Table(opts) => table::write(&mut buf, report, *opts)?,
            Renderer::Json { top } => json::write(&mut buf, report, *top)?,
            Renderer::Prometheus(opts) => buf = prometheus::render(report, opts).into_bytes(),
        }
        Ok(buf)
    }

    /// Whether the format leaves warnings to stderr: the table does; JSON and
    /// Prometheus carry them (as text, and as a count).
    pub fn warns_on_stderr(&self) -> bool {
        matches!(self, Renderer::Table(_))
    }
}

/// How warnings are said on stderr and in the `--watch` frame (JSON always
/// carries them in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WarningStyle {
    /// `-q`: not at all.
    Quiet,
    /// One short line each, an environment fact once ([`short_lines`]).
    #[default]
    Short,
    /// `-v`: the full explanation of each.
    Full,
}

impl WarningStyle {
    /// The `warning: ...` lines of `warnings` in this style.
    pub fn lines(self, warnings: &[Warning]) -> Vec<String> {
        let lines = match self {
            WarningStyle::Quiet => Vec::new(),
            WarningStyle::Short => short_lines(warnings),
            WarningStyle::Full => warnings.iter().map(ToString::to_string).collect(),
        };
        lines.into_iter().map(|l| format!("warning: {l}")).collect()
    }
}

/// Cut `line` to `width` terminal columns, so that a terminal never wraps it: ANSI
/// escape sequences (colour) are copied but not counted, wide characters count
/// two, and styling is reset where the line is cut.
pub fn fit_line(line: &str, width: usize) -> std::borrow::Cow<'_, str> {
    use unicode_width::UnicodeWidthChar;
    let mut visible = 0;
    for (i, c) in visible_chars(line) {
        visible += c.width().unwrap_or(0);
        if visible > width {
            let mut cut = line[..i].to_string();
            if line.contains('\x1b') {
                cut.push_str("\x1b[0m");
            }
            return std::borrow::Cow::Owned(cut);
        }
    }
    std::borrow::Cow::Borrowed(line)
}

/// `line` cut to `width` terminal columns with an ellipsis at the end, at the
/// last `, ` or `; ` that leaves room (else the last space, else anywhere), so
/// that no number is cut from its unit: `25 fin_wait2, …`, never `25 fin_wait2,
/// 10`. A line that fits is returned as it is. Styling is not counted.
pub fn fit_text(line: &str, width: usize) -> String {
    if visible_width(line) <= width {
        return line.to_string();
    }
    let room = width.saturating_sub(1);
    let head = fit_line(line, room);
    let plain = head.trim_end_matches("\x1b[0m");
    let at = |after_separator: bool| {
        plain
            .char_indices()
            .filter(|(i, c)| {
                *c == ' ' && *i > 0 && (!after_separator || plain[..*i].ends_with([',', ';']))
            })
            .map(|(i, _)| i)
            .next_back()
    };
    let cut = at(true).or_else(|| at(false)).unwrap_or(plain.len());
    let mut out = plain[..cut].to_string();
    if line.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    out.push('…');
    out
}

/// The terminal columns `line` takes: escape sequences not counted, wide
/// characters two.
pub fn visible_width(line: &str) -> usize {
    use unicode_width::UnicodeWidthChar;
    visible_chars(line)
        .map(|(_, c)| c.width().unwrap_or(0))
        .sum()
}

/// The characters of `line` (with their byte offsets) that a terminal shows: CSI
/// escape sequences (ESC [ parameters final-letter) left out.
fn visible_chars(line: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut chars = line.char_indices().peekable();
    std::iter::from_fn(move || {
        while let Some((i, c)) = chars.next() {
            if c != '\x1b' {
                return Some((i, c));
            }
            if chars.peek().is_some_and(|(_, c)| *c == '[') {
                for (_, c) in chars.by_ref().skip(1) {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        }
        None
    })
}

/// Plain text (no escapes) wrapped at spaces into lines of at most `width` columns;
/// a word longer than that is cut by [`fit_line`] rather than broken.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// `1536` → `1.5KiB`; no space, so the column stays one awk field.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return n.to_string();
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if v < 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.0}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(0), "0");
        assert_eq!(human_bytes(1023), "1023");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10MiB");
    }

    #[test]
    fn lines_fit_the_terminal() {
        assert_eq!(fit_line("abcdef", 4), "abcd");
        assert_eq!(fit_line("abc", 4), "abc");
        // Escapes are not counted, and styling is closed where the line is cut.
        assert_eq!(
            fit_line("\x1b[1;31mabcdef\x1b[0m", 3),
            "\x1b[1;31mabc\x1b[0m"
        );
        assert_eq!(fit_line("\x1b[31mab\x1b[0m", 2), "\x1b[31mab\x1b[0m");
        assert_eq!(fit_line("▂▃▄▅", 2), "▂▃");
        // Wide characters take two columns.
        assert_eq!(fit_line("日本語", 4), "日本");
    }

    #[test]
    fn cut_text_ends_in_an_ellipsis_between_items() {
        let footer = "host: 1200 sockets (25 fin_wait2, 1077 time_wait); 3 unowned";
        assert_eq!(fit_text(footer, 40), "host: 1200 sockets (25 fin_wait2,…");
        assert_eq!(fit_text(footer, 80), footer);
        assert_eq!(
            fit_text("pid 7 app outbound 127.0.0.1:8080", 30),
            "pid 7 app outbound…"
        );
        assert_eq!(fit_text("abcdefghij", 5), "abcd…");
        assert!(visible_width(&fit_text(footer, 17)) <= 17);
    }

    #[test]
    fn warnings_wrap_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("aa", 5), ["aa"]);
        assert_eq!(wrap("abcdefg hi", 4), ["abcdefg", "hi"]);
    }

    #[test]
    fn ages() {
        use std::time::Duration;
        let secs = Duration::from_secs;
        assert_eq!(human_age(Duration::from_millis(400)), "0s");
        assert_eq!(
            human_age(Duration::from_millis(1500)),
            "2s",
            "to the nearest"
        );
        assert_eq!(human_age(secs(42)), "42s");
        assert_eq!(human_age(secs(245)), "4m05s");
        assert_eq!(human_age(secs(7980)), "2h13m");
        assert_eq!(human_age(secs(273_600)), "3d04h");
    }
}
