//! Filters that match nothing say why (issue 29): `--process` matches a
//! process's full name (argv[0], executable) as well as the kernel's 15-character
//! comm, a name nobody has suggests the near ones, `--pid`/`-p` of a process that
//! does not exist exits 3 naming it, and flags that would change nothing are
//! refused.
use crate::common::*;

use std::process::Command;

/// `tests/support/peer.py` run by python3 through a symlink named `name`: the
/// kernel's comm is `name` cut to 15 characters, argv[0] the symlink's path. The
/// symlink's directory lives as long as the peer.
fn named(name: &str, args: &[&str]) -> (Peer, tempfile::TempDir) {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    // The interpreter itself (python3 may be a shim that dispatches by name).
    let python = String::from_utf8(
        Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let link = dir.path().join(name);
    std::os::unix::fs::symlink(python.trim(), &link).unwrap();
    let mut cmd = Command::new(&link);
    cmd.arg(repo().join("tests/support/peer.py")).args(args);
    (Peer::spawn_command(name, cmd), dir)
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn process_matches_the_full_name_beyond_the_15_character_comm() {
    let server = Peer::spawn(&["listen", "127.0.0.1", "--mode", "hold"]);
    let port = server.port().to_string();
    let (client, _dir) = named(
        "billing-api-server-test",
        &["connect", "127.0.0.1", &port, "--count", "3"],
    );
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", client.pid())).unwrap();
    assert_eq!(comm.trim(), "billing-api-ser", "the kernel cut the name");
    let remote = format!("127.0.0.1:{port}");
    for name in ["billing-api-server-test", "billing-api-ser"] {
        let d = json(&["--process", name]);
        let g = one_group(&d, |g| g["remote"] == remote.as_str());
        assert_eq!(g["pid"], client.pid(), "--process {name}: {d}");
        assert_eq!(g["states"]["established"], 3, "--process {name}");
    }
    // A name nobody goes by: exit 3, and the near names that exist.
    let o = run(&["--process", "billing-api-server"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("--process billing-api-server: no process has that name")
            && err.contains("did you mean")
            && err.contains("billing-api-server-test"),
        "{err}"
    );
    drop(client);
}

#[test]
fn a_missing_pid_exits_3_naming_it_and_p_is_pid() {
    let mut gone = Command::new("true").spawn().unwrap();
    let pid = gone.id().to_string();
    gone.wait().unwrap();
    for flag in ["--pid", "-p"] {
        let o = run(&[flag, &pid]);
        assert_eq!(o.status.code(), Some(3), "{flag} {pid}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("--pid {pid}: no such process")),
            "{}",
            stderr(&o)
        );
    }
    // -p of a live process: its sockets, as --pid.
    let (server, client) = leak("127.0.0.1", "fin", 0, 2, &["--name", "flt-p"]);
    let remote = format!("127.0.0.1:{}", server.port());
    wait_until(5, "2 CLOSE-WAIT", || ss_count("CLOSE-WAIT", &remote) == 2);
    let d = json(&["-p", &client.pid().to_string()]);
    let g = one_group(&d, |g| g["remote"] == remote.as_str());
    assert_eq!(g["states"]["close_wait"], 2);
}

#[test]
fn flags_that_change_nothing_are_refused() {
    for (args, needle) in [
        (
            vec!["--json", "--no-header"],
            "--no-header leaves out the table's header and footer, and --json has none",
        ),
        (
            vec!["-o", "prometheus", "--no-header"],
            "-o prometheus has none",
        ),
        (
            vec!["--metric", "established", "--state", "close-wait"],
            "--metric established counts ESTABLISHED sockets, and --state shows none of them",
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
    // The default metric with another state is no contradiction.
    let o = run(&["--state", "established", "--top", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
