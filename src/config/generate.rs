//! Shell completions and the man page, generated from the clap definition so that
//! they never drift from the flags. Pure functions on a [`clap::Command`]: how the
//! CLI dispatches to them is not their business.
//!
//! The man page is clap_mangen's sections (name, synopsis, options by heading,
//! subcommands), then each subcommand's own options, then sections of our own: the
//! examples of every `--help`, README's "Exit codes" section and docs/security.md's
//! "Privileges" section turned into roff, so the page says what the docs say.

use std::ffi::OsStr;
use std::io::{self, Write};

use clap::builder::{PossibleValue, Str, TypedValueParser};
use clap_complete::Shell;

const README: &str = include_str!("../../README.md");
const SECURITY: &str = include_str!("../../docs/security.md");

/// Write the completion script for `shell` to `out`.
pub fn completions(shell: Shell, cmd: &mut clap::Command, out: &mut dyn Write) -> io::Result<()> {
    // clap_complete panics on a failed write (`| head`): render into memory first.
    let mut buf = Vec::new();
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, cmd, name, &mut buf);
    out.write_all(&buf)
}

/// Write the man page (section 1, roff) to `out`.
pub fn man(cmd: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = for_man(cmd.clone());
    cmd.build();
    let page = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    page.render_title(&mut buf)?;
    page.render_name_section(&mut buf)?;
    page.render_synopsis_section(&mut buf)?;
    page.render_description_section(&mut buf)?;
    page.render_options_section(&mut buf)?;
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        // Not clap_mangen's list, which points at a page per subcommand: this one
        // page describes them all.
        writeln!(buf, ".SH SUBCOMMANDS")?;
        for sub in &subs {
            let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            writeln!(buf, ".TP\n\\fB{}\\fR\n{}", escape(name), escape(&about))?;
        }
    }
    for sub in subs {
        subcommand_section(sub, &mut buf)?;
    }
    examples_section(&cmd, &mut buf)?;
    let sections = [
        (README, "Exit codes", "EXIT STATUS"),
        (SECURITY, "Privileges", "PRIVILEGES"),
    ];
    for (doc, title, section) in sections {
        if let Some(md) = readme_section(doc, title) {
            writeln!(buf, ".SH {}", heading(section))?;
            buf.extend_from_slice(markdown_to_roff(md).as_bytes());
        }
    }
    page.render_version_section(&mut buf)?;
    out.write_all(&buf)
}

/// The command as the page shows it: no `help` subcommand, and a flag's possible
/// values on one line after its help, unless the help already names every one.
/// (clap_mangen would give each value a paragraph of its own.)
fn for_man(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_subcommand(true)
        .mut_subcommands(for_man)
        .mut_args(|a| {
            let values: Vec<String> = a
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if values.is_empty() || !a.get_action().takes_values() {
                return a;
            }
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let a = a.hide_possible_values(true);
            if values.iter().all(|v| help.contains(v.as_str())) {
                return a;
            }
            let help = format!("{help} [possible values: {}]", values.join(", "));
            a.help(help.trim_start().to_string())
        })
}

/// `SOCKLEAK SERVE`: a subcommand's synopsis, description and options, as
/// subsections of one section.
fn subcommand_section(sub: &clap::Command, buf: &mut Vec<u8>) -> io::Result<()> {
    let page = clap_mangen::Man::new(sub.clone());
    let mut part = Vec::new();
    page.render_synopsis_section(&mut part)?;
    page.render_description_section(&mut part)?;
    page.render_options_section(&mut part)?;
    let name = sub.get_bin_name().unwrap_or_else(|| sub.get_name());
    writeln!(buf, ".SH {}", heading(&name.to_uppercase()))?;
    for line in String::from_utf8_lossy(&part).lines() {
        match line.strip_prefix(".SH ") {
            Some(heading) => writeln!(buf, ".SS {heading}")?,
            None => writeln!(buf, "{line}")?,
        }
    }
    Ok(())
}

/// EXAMPLES: the "Examples:" block of the command's and each subcommand's
/// `--help`, one example per line, its description after a run of two spaces.
fn examples_section(cmd: &clap::Command, buf: &mut Vec<u8>) -> io::Result<()> {
    let helps = std::iter::once(cmd)
        .chain(cmd.get_subcommands())
        .filter_map(|c| c.get_after_help().map(|h| h.to_string()));
    let mut examples = Vec::new();
    for help in helps {
        let block = help.lines().skip_while(|l| l.trim() != "Examples:").skip(1);
        for line in block.take_while(|l| !l.trim().is_empty()) {
            let line = line.trim();
            examples.push(match line.split_once("  ") {
                Some((example, what)) => (example.to_string(), what.trim().to_string()),
                None => (line.to_string(), String::new()),
            });
        }
    }
    if examples.is_empty() {
        return Ok(());
    }
    writeln!(buf, ".SH EXAMPLES")?;
    for (example, what) in examples {
        writeln!(buf, ".PP\n\\fB{}\\fR", escape(&example))?;
        if !what.is_empty() {
            writeln!(buf, ".RS 4\n{}\n.RE", escape(&what))?;
        }
    }
    Ok(())
}

/// The body of a Markdown document's `## {title}` section (up to the next `## `,
/// outside code).
fn readme_section<'a>(readme: &'a str, title: &str) -> Option<&'a str> {
    let heading = format!("## {title}\n");
    let start = readme.find(&heading)? + heading.len();
    let rest = &readme[start..];
    let mut in_code = false;
    let mut end = rest.len();
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with("## ") {
            end = offset;
            break;
        }
        offset += line.len();
    }
    Some(&rest[..end])
}

/// The little Markdown README and docs/ use, as roff: paragraphs, `- ` lists, tables (a row
/// becomes a tagged paragraph: first cell the tag, the rest its text), code blocks,
/// `**bold**` and `` `code` `` (bold).
pub fn markdown_to_roff(md: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    let mut in_table = false;
    let mut para = true;
    for line in md.lines() {
        if line.starts_with("```") {
            out.push_str(if in_code {
                ".fi\n.RE\n"
            } else {
                ".PP\n.RS 4\n.nf\n"
            });
            in_code = !in_code;
            para = !in_code;
            continue;
        }
        if in_code {
            out.push_str(&escape(line));
            out.push('\n');
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            (para, in_table) = (true, false);
        } else if let Some(row) = trimmed.strip_prefix('|') {
            let cells = table_cells(row);
            let header = !in_table;
            in_table = true;
            if header
                || cells
                    .iter()
                    .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':')))
            {
                continue;
            }
            out.push_str(&format!(
                ".TP\n{}\n{}\n",
                inline(&cells[0]),
                inline(&cells[1..].join(" "))
            ));
        } else if let Some(item) = trimmed.strip_prefix("- ") {
            out.push_str(&format!(".IP \\(bu 2\n{}\n", inline(item)));
            para = false;
        } else {
            if para {
                out.push_str(".PP\n");
                para = false;
            }
            out.push_str(&inline(trimmed));
            out.push('\n');
        }
    }
    out
}

/// A table row's cells (after its leading `|`); `\|` is a literal bar.
fn table_cells(row: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push(chars.next().unwrap())
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    let mut cells: Vec<String> = cells.into_iter().map(|c| c.trim().to_string()).collect();
    if cells.last().is_some_and(|c| c.is_empty()) {
        cells.pop();
    }
    cells.resize(cells.len().max(2), String::new());
    cells
}

/// Inline Markdown (`**bold**`, `` `code` ``, `*italic*`) as roff font escapes.
fn inline(text: &str) -> String {
    let text = escape(text);
    let mut out = String::new();
    let (mut bold, mut code, mut italic) = (false, false, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                code = !code;
                out.push_str(if code { "\\fB" } else { "\\fR" });
            }
            '*' if !code && chars.peek() == Some(&'*') => {
                chars.next();
                bold = !bold;
                out.push_str(if bold { "\\fB" } else { "\\fR" });
            }
            '*' if !code => {
                italic = !italic;
                out.push_str(if italic { "\\fI" } else { "\\fR" });
            }
            _ => out.push(c),
        }
    }
    out
}

/// A section heading as a macro argument: quoted when it has spaces.
fn heading(title: &str) -> String {
    if title.contains(' ') {
        format!("\"{title}\"")
    } else {
        title.to_string()
    }
}

/// Text safe on a roff text line: backslashes and hyphens escaped, and no leading
/// `.` or `'` (which would start a request).
fn escape(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A value parser that parses exactly as `parse` does (same values, same errors) and
/// also tells clap which values there are, so that completions offer them. clap
/// cannot know them from a plain function.
#[derive(Clone)]
pub struct Hinted<T> {
    parse: fn(&str) -> Result<T, String>,
    values: Vec<PossibleValue>,
}

/// [`Hinted`]: `parse`, with `values` offered for completion.
pub fn hinted<T, S: Into<Str>>(
    parse: fn(&str) -> Result<T, String>,
    values: impl IntoIterator<Item = S>,
) -> Hinted<T> {
    Hinted {
        parse,
        values: values.into_iter().map(PossibleValue::new).collect(),
    }
}

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Hinted<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        self.parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.values.iter().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_lists_and_code() {
        let md = "Intro `x` and **y**.\n\n| a | b |\n|---|---|\n| 0 | ok \\| fine |\n\n- one\n- two\n\n```sh\n.dot -x\n```\n";
        let roff = markdown_to_roff(md);
        assert!(
            roff.contains(".PP\nIntro \\fBx\\fR and \\fBy\\fR.\n"),
            "{roff}"
        );
        assert!(roff.contains(".TP\n0\nok | fine\n"), "{roff}");
        assert!(!roff.contains("\n|"), "{roff}");
        assert!(
            roff.contains(".IP \\(bu 2\none\n.IP \\(bu 2\ntwo\n"),
            "{roff}"
        );
        assert!(roff.contains(".nf\n\\&.dot \\-x\n.fi\n"), "{roff}");
    }

    #[test]
    fn readme_sections_end_at_the_next_section() {
        let md = "## A\ntext\n```\n## not a heading\n```\n### sub\nmore\n## B\nb\n";
        assert_eq!(
            readme_section(md, "A"),
            Some("text\n```\n## not a heading\n```\n### sub\nmore\n")
        );
        assert_eq!(readme_section(md, "B"), Some("b\n"));
        assert_eq!(readme_section(md, "C"), None);
        assert!(readme_section(SECURITY, "Privileges").is_some());
        assert!(readme_section(README, "Exit codes").is_some());
    }
}
