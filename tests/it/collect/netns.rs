//! Network namespaces: two private namespaces (`unshare --net`, root) hold
//! different numbers of CLOSE_WAIT sockets on identical loopback 4-tuples, which
//! `ss` on the host cannot see; sockleak must show both, apart, with the right
//! namespace. Container ids are parsed from committed cgroup files.
//! Another namespace's unreadable IPv6 table is warned about, naming it (a fixture).
use crate::common::*;
use serde_json::{Value, json};

// Below the ephemeral range (32768-60999): no other socket on the host picks them.
const SERVER_PORT: &str = "4123";
const CLIENT_PORT_BASE: &str = "5100";

fn ns_inode(pid: u32) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let s = link.to_string_lossy();
    s.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .unwrap()
}

/// A private namespace with a server and a client leaking `n` CLOSE_WAIT sockets
/// from fixed ports: returns (server, client).
fn leak_in_private_netns(n: u32, name: &str) -> (Peer, Peer) {
    require("unshare");
    require("nsenter");
    require("ip");
    let mut server = Peer::spawn_wrapped(
        &[
            "unshare",
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ],
        &[
            "listen",
            "127.0.0.1",
            "--port",
            SERVER_PORT,
            "--mode",
            "fin",
        ],
    );
    let ns = format!("--net=/proc/{}/ns/net", server.pid());
    let count = n.to_string();
    let client = Peer::spawn_wrapped(
        &["nsenter", &ns],
        &[
            "connect",
            "127.0.0.1",
            SERVER_PORT,
            "--count",
            &count,
            "--name",
            name,
            "--src-port-base",
            CLIENT_PORT_BASE,
        ],
    );
    server.wait_done(u64::from(n));
    (server, client)
}

#[test]
fn identical_four_tuples_in_two_namespaces_stay_apart() {
    assert_root("unshare --net");
    let (sa, ca) = leak_in_private_netns(3, "ns-leak-a");
    let (sb, cb) = leak_in_private_netns(5, "ns-leak-b");
    let two = TwoLeaks {
        a: ca.pid(),
        b: cb.pid(),
        na: ns_inode(ca.pid()),
        nb: ns_inode(cb.pid()),
        remote: format!("127.0.0.1:{SERVER_PORT}"),
    };
    assert_ne!(two.na, two.nb);
    assert_eq!(ns_inode(sa.pid()), two.na);
    // The host's ss sees none of it.
    assert_eq!(
        ss_count("CLOSE-WAIT", &two.remote),
        0,
        "ss on the host must not see them"
    );
    assert_both_sources_count_each_namespace_apart(&two);
    assert_grouping_keeps_the_namespaces_apart(&two);
    assert_netns_narrows_to_one_namespace(&two);
    assert_the_table_has_a_netns_column_only_for_several(&two);
    drop((sa, sb));
}

/// The two leaking clients (3 and 5 CLOSE_WAIT to the same remote from the
/// same ports) and their namespaces' inodes.
struct TwoLeaks {
    a: u32,
    b: u32,
    na: u64,
    nb: u64,
    remote: String,
}

/// netlink and /proc alike: each client in its namespace with its own count,
/// per-namespace totals, and the host totals their sum.
fn assert_both_sources_count_each_namespace_apart(two: &TwoLeaks) {
    let (a, b, na, nb) = (two.a, two.b, two.na, two.nb);
    let remote = two.remote.as_str();
    for source in ["netlink", "proc"] {
        let d = json(&[
            "--source",
            source,
            "--remote",
            remote,
            "--state",
            "close-wait",
        ]);
        let ga = one_group(&d, |g| g["pid"] == a);
        assert_eq!(ga["netns"], na, "{source}");
        assert_eq!(ga["remote"], remote);
        assert_eq!(ga["states"], json!({"close_wait": 3}), "{source}");
        let gb = one_group(&d, |g| g["pid"] == b);
        assert_eq!(gb["netns"], nb);
        assert_eq!(gb["states"], json!({"close_wait": 5}), "{source}");
        // Per-namespace totals, and the host totals are their sum.
        let per: &serde_json::Map<String, Value> = d["totals"]["netns"].as_object().unwrap();
        assert!(per[&na.to_string()]["close_wait"].as_u64().unwrap() == 3);
        assert!(per[&nb.to_string()]["close_wait"].as_u64().unwrap() == 5);
        for st in ["close_wait", "established", "fin_wait2", "listen"] {
            let sum: u64 = per.values().map(|v| v[st].as_u64().unwrap()).sum();
            assert_eq!(sum, d["totals"]["states"][st].as_u64().unwrap(), "{st}");
        }
    }
}

/// --by netns: one group per namespace, even with identical endpoints; --by
/// remote keeps them apart too.
fn assert_grouping_keeps_the_namespaces_apart(two: &TwoLeaks) {
    let (na, nb, remote) = (two.na, two.nb, two.remote.as_str());
    let d = json(&["--remote", remote, "--by", "netns"]);
    assert_eq!(
        one_group(&d, |g| g["netns"] == na)["states"],
        json!({"close_wait": 3})
    );
    assert_eq!(
        one_group(&d, |g| g["netns"] == nb)["states"],
        json!({"close_wait": 5})
    );
    // Only this test's two namespaces are counted: another run of it on the
    // host has namespaces with the same 4-tuples.
    let d = json(&["--remote", remote, "--by", "remote"]);
    let mine = groups(&d, |g| g["netns"] == na || g["netns"] == nb);
    assert_eq!(mine.len(), 2, "{d:#}");
    assert_ne!(mine[0]["netns"], mine[1]["netns"]);
}

/// --netns narrows: host sees none; a pid selects its namespace; so does an
/// inode; an unknown one is a usage error.
fn assert_netns_narrows_to_one_namespace(two: &TwoLeaks) {
    let (remote, a) = (two.remote.as_str(), two.a.to_string());
    let d = json(&["--remote", remote, "--netns", "host"]);
    assert!(groups(&d, |_| true).is_empty());
    let d = json(&["--remote", remote, "--netns", &a]);
    assert_eq!(one_group(&d, |_| true)["pid"], two.a);
    // Read from inside it with netlink (root can setns), and said so.
    assert_eq!(d["source"], "netlink");
    let text = String::from_utf8(run(&["--netns", &a]).stdout).unwrap();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with(&format!("netns {}: ", two.na)),
        "{text}"
    );
    assert_eq!(d["totals"]["netns"].as_object().unwrap().len(), 1);
    let d = json(&["--remote", remote, "--netns", &two.nb.to_string()]);
    assert_eq!(one_group(&d, |_| true)["pid"], two.b);
    let o = run(&["--netns", "999999999"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--netns 999999999"));
}

/// The table gains a NETNS column when several namespaces are in view, and has
/// none for rows all in sockleak's own namespace, while the private ones still
/// exist on the host (they are filtered out, so the column would say nothing).
fn assert_the_table_has_a_netns_column_only_for_several(two: &TwoLeaks) {
    let o = run(&["--remote", &two.remote]);
    let text = String::from_utf8(o.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.contains("NETNS"), "{header}");
    assert!(text.contains(&two.na.to_string()) && text.contains(&two.nb.to_string()));
    let (hs, _hc) = leak("127.0.0.1", "fin", 0, 2, &["--name", "ns-host-only"]);
    let host_remote = format!("127.0.0.1:{}", hs.port());
    wait_until(5, "2 CLOSE-WAIT on the host", || {
        ss_count("CLOSE-WAIT", &host_remote) == 2
    });
    let o = run(&["--process", "ns-host-only"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(!header.contains("NETNS"), "{text}");
    assert!(text.contains(&host_remote), "{text}");
}

#[test]
fn container_ids_from_cgroup_paths() {
    use sockleak::collect::container::from_cgroup;
    let dir = fixture("cgroup");
    let parse = |name: &str| from_cgroup(&std::fs::read_to_string(dir.join(name)).unwrap());
    let c = parse("docker-cgroup-v1").unwrap();
    assert_eq!((c.runtime, c.short().as_str()), ("docker", "3f6c1b2a9d8e"));
    assert_eq!(c.id.len(), 64);
    let c = parse("docker-cgroup-v2").unwrap();
    assert_eq!((c.runtime, c.short().as_str()), ("docker", "9a8b7c6d5e4f"));
    let c = parse("kubernetes-containerd-v2").unwrap();
    assert_eq!(c.runtime, "kubernetes");
    assert_eq!(
        c.id,
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        c.name.as_deref(),
        Some("pod 1b2c3d4e-5f6a-7b8c-9d0e-1f2a3b4c5d6e")
    );
    let c = parse("kubernetes-cgroupfs-v1").unwrap();
    assert_eq!(c.runtime, "kubernetes");
    assert!(c.id.starts_with("fedcba98"));
    assert_eq!(
        c.name.as_deref(),
        Some("pod 9f8e7d6c-5b4a-3c2d-1e0f-9a8b7c6d5e4f")
    );
    let c = parse("podman-v2").unwrap();
    assert_eq!((c.runtime, c.short().as_str()), ("podman", "5e4d3c2b1a0f"));
    // cgroupfs driver, systemd naming: pod and container joined by colons.
    let c = parse("kubernetes-cgroupfs-systemd-colon").unwrap();
    assert_eq!(c.runtime, "kubernetes");
    assert_eq!(
        c.id,
        "9e8d7c6b5a49382716059e8d7c6b5a49382716059e8d7c6b5a4938271605aaaa"
    );
    assert_eq!(
        c.name.as_deref(),
        Some("pod 1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809")
    );
    // Plain containerd (no Kubernetes): namespace `default` under containerd.service.
    let c = parse("containerd-v2").unwrap();
    assert_eq!(
        (c.runtime, c.short().as_str()),
        ("containerd", "9e8d7c6b5a49")
    );
    assert_eq!(c.name, None);
    let c = parse("crio-v2").unwrap();
    assert_eq!(c.runtime, "cri-o");
    // A container in a podman pod: podman (the "pod" inside "libpod_pod_" is no
    // Kubernetes pod), named after its pod.
    let c = parse("podman-pod-v2").unwrap();
    assert_eq!((c.runtime, c.short().as_str()), ("podman", "7c6b5a493827"));
    assert_eq!(c.name.as_deref(), Some("pod 4f1e2d3c4b5a"));
    // podman with the cgroupfs driver.
    let c = parse("podman-cgroupfs").unwrap();
    assert_eq!((c.runtime, c.short().as_str()), ("podman", "8d7c6b5a4938"));
    assert_eq!(c.name, None);
    // LXC 4+/LXD/Incus (cgroup v2 and v1 layouts) and legacy LXC; not the monitor.
    for (file, name) in [
        ("lxc-payload-v2", "web1"),
        ("lxc-payload-v1", "db2"),
        ("lxc-legacy", "legacy3"),
    ] {
        let c = parse(file).unwrap_or_else(|| panic!("{file}"));
        assert_eq!((c.runtime, c.short().as_str()), ("lxc", name), "{file}");
    }
    assert_eq!(parse("lxc-monitor"), None);
    // Docker inside an LXD container: the innermost container is the process's.
    let c = parse("docker-in-lxd").unwrap();
    assert_eq!((c.runtime, c.short().as_str()), ("docker", "3f6c1b2a9d8e"));
    assert_eq!(parse("host-process"), None);
    assert_eq!(parse("garbage"), None);
}

/// Without the privilege to enter a namespace (here: nobody, reading a namespace
/// owned by its own user namespace), the member's /proc table is read instead:
/// exact counts, no idle ages, and a warning naming the namespace and why.
#[test]
fn unprivileged_reader_falls_back_to_member_proc_table() {
    assert_root("setpriv to nobody");
    require("setpriv");
    require("unshare");
    require("ip");
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let mut wrapper = vec!["setpriv"];
    wrapper.extend_from_slice(&nobody);
    wrapper.extend_from_slice(&["unshare", "--user", "--map-root-user", "--net"]);
    let p = Peer::spawn_wrapped(
        &wrapper,
        &[
            "pair",
            "127.0.0.1",
            "--port",
            "4124",
            "--count",
            "2",
            "--name",
            "ns-user-leak",
            "--lo-up",
        ],
    );
    let ns = ns_inode(p.pid());
    let pid = p.pid().to_string();
    let out = std::process::Command::new("setpriv")
        .args(nobody)
        .arg("--inh-caps=-all")
        .args([bin(), "--json", "--state", "close-wait", "--pid", &pid])
        .output()
        .expect("run sockleak as nobody");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = one_group(&d, |g| g["pid"] == p.pid());
    assert_eq!(g["netns"], ns);
    assert_eq!(g["remote"], "127.0.0.1:4124");
    assert_eq!(g["states"], json!({"close_wait": 2}));
    assert_eq!(g["oldest_close_wait_idle_s"], Value::Null);
    let w: Vec<&str> = warnings(&d);
    assert!(
        w.iter().any(|w| w.contains(&format!(
            "network namespace {ns} (pid {pid} ns-user-leak): cannot enter it"
        )) && w.contains("without idle ages")),
        "{w:?}"
    );
    // nobody cannot read root's namespace links: said, not silently ignored.
    assert!(
        w.iter()
            .any(|w| w.contains("/proc/<pid>/ns/net not readable")),
        "{w:?}"
    );
}

/// Another namespace's IPv6 table that cannot be read leaves its IPv4 answer
/// with a warning naming the namespace (it was dropped silently). A fixture tree:
/// pid 300 in namespace 4026532999, whose tcp6 is a link loop (ELOOP, as an
/// unreadable file would fail).
#[test]
fn another_namespaces_unreadable_ipv6_table_is_warned_about() {
    use crate::common::tree::{HEADER, Tree, tcp_line};
    let t = Tree::new();
    t.process(300, "ns-v6", &[3001]);
    t.symlink("300/ns/net", "net:[4026532999]");
    t.write(
        "300/net/tcp",
        format!("{HEADER}{}", tcp_line(0, 41000, "08", 3001)).as_bytes(),
    );
    t.symlink("300/net/tcp6", "tcp6");
    let d = json(&["--proc-root", t.root(), "--source", "proc"]);
    let g = one_group(&d, |g| g["pid"] == 300);
    assert_eq!(g["netns"], 4026532999u64);
    assert_eq!(
        g["states"],
        json!({"close_wait": 1}),
        "its IPv4 table stands"
    );
    let w = warnings(&d);
    assert!(
        w.iter()
            .any(|w| w.starts_with("network namespace 4026532999: ")
                && w.contains("300/net/tcp6 not read")
                && w.ends_with("IPv6 sockets are not counted, only IPv4")),
        "{w:?}"
    );
    // The host's own tcp6 is fine: one such warning only.
    assert_eq!(
        w.iter().filter(|w| w.contains("only IPv4")).count(),
        1,
        "{w:?}"
    );
}
