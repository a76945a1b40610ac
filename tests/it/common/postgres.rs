//! [`Postgres`]: a real PostgreSQL 15 server of a test's own (no system service),
//! for the clients that leak connections to it.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{as_nobody, as_nobody_in, free_port, wait_until};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL 15 server in a temporary directory (its data and its unix
/// socket), run as `nobody` (initdb and postgres refuse root). Stopped at once
/// (SIGQUIT, the backends with it) when dropped.
pub struct Postgres {
    pub dir: tempfile::TempDir,
    /// The port: of its TCP listener, or only in its socket's name.
    pub port: u16,
    server: Child,
}

impl Postgres {
    /// Listening on its unix socket only, started inside `wrapper` (e.g.
    /// [`super::PrivateNet::wrap`]; empty: directly).
    pub fn unix_in(wrapper: &[&str]) -> Postgres {
        Postgres::start(wrapper, 5432, "")
    }

    /// Listening on 127.0.0.1 too (the flight recorder sees TCP only), at a free
    /// port.
    pub fn tcp() -> Postgres {
        let port = free_port();
        let pg = Postgres::start(&[], port, "127.0.0.1");
        wait_until(30, "PostgreSQL on 127.0.0.1", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        pg
    }

    fn start(wrapper: &[&str], port: u16, listen: &str) -> Postgres {
        for tool in ["initdb", "postgres"] {
            assert!(
                Path::new(PG_BIN).join(tool).exists(),
                "{PG_BIN}/{tool} is required by this test (CI's .ci/run installs postgresql-15)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let chown = Command::new("chown")
            .arg("nobody:nogroup")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let data = dir.path().join("data");
        let init = as_nobody(&format!("{PG_BIN}/initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust"])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let server = as_nobody_in(wrapper, &format!("{PG_BIN}/postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-p", &port.to_string()])
            .args(["-c", &format!("listen_addresses={listen}")])
            .args(["-c", "fsync=off", "-c", "max_connections=100"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pg = Postgres { dir, port, server };
        let sock = pg.socket();
        wait_until(30, "the PostgreSQL socket", || {
            UnixStream::connect(&sock).is_ok()
        });
        pg
    }

    /// Its unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join(format!(".s.PGSQL.{}", self.port))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SAFETY: signalling our own child. SIGQUIT: immediate shutdown.
        unsafe { libc::kill(self.server.id() as i32, libc::SIGQUIT) };
        let _ = self.server.wait();
    }
}
