//! What the flight recorder (`sockleak trace`) says about sockets, as plain data: one
//! socket's last exchange ([`SocketExchange`], parsed in `collect::trace::proto` from
//! the recorded first bytes, which never leave the collection layer) and one group's
//! summary of them ([`Exchanges`]).
//!
//! Summaries name the protocol's verb and status only (an HTTP method and path with its
//! query elided, a PostgreSQL message type and first SQL keyword, a Redis command
//! name, `tls` and its SNI): never headers, bodies, parameters or tokens.

use std::fmt;

use serde::{Serialize, Serializer};

/// The protocol a recorded exchange was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Http,
    Postgres,
    Redis,
    Tls,
    /// Anything else: shown as its class (`text`, `binary`) and length only.
    Other,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Postgres => "postgres",
            Protocol::Redis => "redis",
            Protocol::Tls => "tls",
            Protocol::Other => "other",
        }
    }
}

impl Serialize for Protocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One socket's last exchange: what it last asked and what it last got back.
///
/// `method` and `status` are the bounded labels `serve` exports (never a path):
/// `method` is an HTTP method, a PostgreSQL message type, a Redis command name, `tls`
/// or the class of other bytes; `status` is an HTTP status code, a PostgreSQL
/// transaction status (`idle`, `in_transaction`, `failed`), a Redis reply type, or
/// `none` when no response was recorded after the request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketExchange {
    pub protocol: Protocol,
    /// e.g. `GET /forbidden`, `Query SELECT`, `GET` (Redis), `tls example.com`.
    pub request: String,
    /// e.g. `403 Forbidden`, `SELECT (in transaction)`, `+OK`; `None` when the socket
    /// got nothing back after its last request (a request still waiting).
    pub response: Option<String>,
    pub method: String,
    pub status: String,
}

/// One exchange of a group: how many of its sockets' last exchange it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    pub request: String,
    pub response: Option<String>,
    pub count: u64,
    pub protocol: Protocol,
    pub method: String,
    pub status: String,
}

impl fmt::Display for Exchange {
    /// `10× GET /forbidden → 403 Forbidden`; `→ (no response)` for a waiting request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}× {} → ", self.count, self.request)?;
        match &self.response {
            Some(r) => f.write_str(r),
            None => f.write_str("(no response)"),
        }
    }
}

/// A group's last exchanges while a recorder is armed: most frequent first, and how
/// many of the group's sockets have no record (leaked before the recorder was armed,
/// silent since, or evicted from a full map).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exchanges {
    pub list: Vec<Exchange>,
    pub unrecorded: u64,
}
