//! What `--peek` found in receive queues, as plain data: the class of a queue's
//! first bytes ([`UnreadClass`]), one group's summary of them ([`Unread`]), and why
//! sockets were not peeked ([`PeekMiss`], carried by a warning).
//!
//! A summary holds at most the printable prefix `--peek-bytes` allows, with
//! control characters escaped (made in `collect::peek::classify`): never a body,
//! and for `text` only its shape (no header value, no form field).

use std::fmt;

use serde::{Serialize, Serializer};

/// What the first bytes of a receive queue look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnreadClass {
    /// An HTTP/1.x response head (`HTTP/1.1 403 Forbidden`): a client that never
    /// read the response at all. The summary is the status line only.
    HttpHead,
    /// An HTTP/1.x request line: a server that never read its client's request.
    /// The summary is the method only (the path may carry tokens).
    HttpRequest,
    /// A body by its look: what a client that read the head left behind.
    Html,
    Json,
    Xml,
    Text,
    Gzip,
    Binary,
    /// HTTP/2 frames; the summary names their types.
    Http2,
    /// TLS records; the summary is the first record's content type only.
    Tls,
    /// PostgreSQL backend messages; the summary is the message types and, for an
    /// error or notice, its SQLSTATE only.
    Postgres,
    /// Redis RESP; the summary is the first token (`-ERR`, `+OK`, `$5`).
    Redis,
}

impl UnreadClass {
    pub const ALL: [UnreadClass; 12] = [
        UnreadClass::HttpHead,
        UnreadClass::HttpRequest,
        UnreadClass::Html,
        UnreadClass::Json,
        UnreadClass::Xml,
        UnreadClass::Text,
        UnreadClass::Gzip,
        UnreadClass::Binary,
        UnreadClass::Http2,
        UnreadClass::Tls,
        UnreadClass::Postgres,
        UnreadClass::Redis,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnreadClass::HttpHead => "http-head",
            UnreadClass::HttpRequest => "http-request",
            UnreadClass::Html => "html",
            UnreadClass::Json => "json",
            UnreadClass::Xml => "xml",
            UnreadClass::Text => "text",
            UnreadClass::Gzip => "gzip",
            UnreadClass::Binary => "binary",
            UnreadClass::Http2 => "http2",
            UnreadClass::Tls => "tls",
            UnreadClass::Postgres => "postgres",
            UnreadClass::Redis => "redis",
        }
    }
}

impl fmt::Display for UnreadClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for UnreadClass {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Sockets of one group whose queues start alike: `9× html "<html>..."`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unread {
    pub class: UnreadClass,
    /// Escaped, at most the `--peek-bytes` prefix; empty with `--peek-bytes 0`.
    pub summary: String,
    pub count: u64,
}

impl fmt::Display for Unread {
    /// `9× html "<html><body>forbidden..."` (no quotes part when the summary is
    /// empty). The classifier escaped the summary's bytes; its `"` and format
    /// characters are escaped here, where it is quoted ([`super::escape::summary`]),
    /// so that it cannot close its quotes and forge another.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}× {}", self.count, self.class)?;
        if !self.summary.is_empty() {
            write!(f, " \"{}\"", super::escape::summary(&self.summary))?;
        }
        Ok(())
    }
}

/// How much of a group `--peek` looked at: `16 of 25 peeked` (`--peek-max`,
/// the time budget and refusals leave some unpeeked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PeekCount {
    /// Sockets whose queue was read (their bytes are in `unread`, or were gone
    /// by then).
    pub peeked: u64,
    /// The group's sockets with unread bytes (what could have been peeked).
    pub with_unread: u64,
}

/// Where one report's `--peek` time went, for the warning when the budget runs
/// out: finding a holder's socket fds (one `readlink` per fd, until its sockets
/// are found) can cost more than every peek together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeekSpent {
    /// The slowest holder's fd-table read: its pid, the fd links read, the
    /// milliseconds it took.
    pub slowest_table: Option<(u32, u64, u64)>,
    /// Milliseconds spent in the peeks themselves.
    pub peeks_ms: u64,
}

/// Why sockets with unread bytes were not peeked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeekMiss {
    /// No readable process holds them (their fd tables are not readable).
    NoHolder,
    /// No FIN received yet (ESTABLISHED, FIN_WAIT): if the holder drained the
    /// queue and an RST came, a peek would consume the pending error
    /// (`report::peek::fin_received` says why).
    NoFinYet,
    /// The kernel refused to duplicate the fd (EPERM: ptrace access denied).
    NotPermitted,
    /// `pidfd_open` or `pidfd_getfd` does not exist (ENOSYS): Linux before 5.6,
    /// or a seccomp filter.
    NoSyscall,
    /// The fd was closed or now holds another socket (churn during the peek).
    Changed,
    /// The holder set `SO_PEEK_OFF`: a peek would move its peek offset.
    PeekOffset,
    /// The time budget ran out first.
    Budget,
    /// The holder keeps the socket locked (its own recv() is stuck): the peek
    /// would wait for it, so it was abandoned.
    Locked,
    /// Another error (the errno's name in the warning).
    Failed(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_shown() {
        let names: std::collections::HashSet<_> =
            UnreadClass::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), UnreadClass::ALL.len());
        let u = Unread {
            class: UnreadClass::Html,
            summary: "<html>".into(),
            count: 9,
        };
        assert_eq!(u.to_string(), "9× html \"<html>\"");
        let bare = Unread {
            summary: String::new(),
            ..u
        };
        assert_eq!(bare.to_string(), "9× html");
        let forged = Unread {
            summary: "a\" 9× html \"b\u{202e}c\u{2028}".into(),
            ..bare
        };
        assert_eq!(
            forged.to_string(),
            "9× html \"a\\\" 9× html \\\"b\\u{202e}c\\u{2028}\""
        );
    }
}
