//! Container identity from `/proc/<pid>/cgroup`, best effort: the cgroup path names
//! the runtime and container id for docker, containerd (CRI), CRI-O, podman and
//! Kubernetes pods, under cgroup v1 and v2. Nothing here is ever fatal: an
//! unrecognised path simply means "not in a known container".

use crate::model::container::Container;

fn is_hex_id(s: &str) -> bool {
    s.len() >= 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parse the contents of `/proc/<pid>/cgroup`.
pub fn from_cgroup(text: &str) -> Option<Container> {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .find_map(from_path)
}

fn from_path(path: &str) -> Option<Container> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    // An LXC (LXD, Incus) container, unless a container runs inside it (docker in
    // LXD): the innermost is the one the process is in.
    let lxc = || {
        lxc_name(&parts).map(|name| Container {
            id: name.to_string(),
            runtime: "lxc",
            name: Some(name.to_string()),
        })
    };
    let pod = parts.iter().find_map(|p| pod_uid(p));
    // A podman pod (`machine-libpod_pod_<id>.slice`) is no Kubernetes pod.
    let podman_pod = parts.iter().find_map(|p| {
        let rest = p.split("libpod_pod_").nth(1)?;
        let id = rest.strip_suffix(".slice").unwrap_or(rest);
        is_hex_id(id).then(|| id.chars().take(12).collect::<String>())
    });
    // The innermost part that names a container wins (podman nests a
    // `container` cgroup inside its libpod scope).
    let found = parts.iter().enumerate().rev().find_map(|(i, part)| {
        let scoped = part.strip_suffix(".scope").unwrap_or(part);
        let found = if let Some(id) = scoped.strip_prefix("docker-") {
            ("docker", id)
        } else if let Some(id) = scoped.strip_prefix("cri-containerd-") {
            ("containerd", id)
        } else if let Some(id) = scoped.strip_prefix("crio-") {
            ("cri-o", id)
        } else if let Some(id) = scoped.strip_prefix("libpod-") {
            ("podman", id.strip_prefix("conmon-").unwrap_or(id))
        } else if i > 0 && parts[i - 1] == "docker" {
            ("docker", scoped)
        } else if parts[..i].iter().any(|p| p.starts_with("containerd")) {
            // Plain containerd (nerdctl, ctr): `containerd.service/<namespace>/<id>`.
            ("containerd", scoped)
        } else if pod.is_some() {
            ("kubernetes", scoped.rsplit(':').next().unwrap_or(scoped))
        } else {
            return None;
        };
        is_hex_id(found.1).then_some(found)
    });
    let Some((runtime, id)) = found else {
        return lxc();
    };
    if runtime == "podman" {
        return Some(Container {
            id: id.to_string(),
            runtime,
            name: podman_pod.map(|id| format!("pod {id}")),
        });
    }
    Some(Container {
        id: id.to_string(),
        runtime: if pod.is_some() { "kubernetes" } else { runtime },
        name: pod.map(|uid| format!("pod {uid}")),
    })
}

/// The container name of an LXC (LXD, Incus) cgroup path: `lxc/<name>` (legacy),
/// `lxc.payload.<name>` (LXC 4+, cgroup v2) or `lxc.payload/<name>`. The
/// `lxc.monitor.<name>` cgroup holds the host-side monitor, not the container.
fn lxc_name<'a>(parts: &[&'a str]) -> Option<&'a str> {
    let first = *parts.first()?;
    match first {
        "lxc" | "lxc.payload" => parts.get(1).copied(),
        _ => first.strip_prefix("lxc.payload.").filter(|n| !n.is_empty()),
    }
}

/// `kubepods-burstable-pod1234_5678.slice` or `pod1234-5678` → the pod uid. The
/// cgroupfs driver with systemd naming joins pod and container in one part
/// (`kubepods-burstable-pod<uid>.slice:cri-containerd:<id>`): the pod is before the
/// first colon.
fn pod_uid(part: &str) -> Option<String> {
    let part = part.split(':').next().unwrap_or(part);
    let p = part.strip_suffix(".slice").unwrap_or(part);
    let i = p.rfind("pod")?;
    // `pod` starts the part or follows a dash (`kubepods-besteffort-pod<uid>`); in
    // podman's `libpod_pod_<id>` it does neither.
    if i > 0 && p.as_bytes()[i - 1] != b'-' {
        return None;
    }
    let uid = &p[i + 3..];
    if !uid.bytes().next().is_some_and(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (uid.len() >= 32
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'_' || b == b'-'))
    .then(|| uid.replace('_', "-"))
}
