//! The container a process runs in, as its cgroup path names it (parsed by
//! [`crate::collect::container`]).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Container {
    /// The runtime's container id (64 hex digits for most runtimes).
    pub id: String,
    /// docker, containerd, cri-o, podman, kubernetes or lxc.
    pub runtime: &'static str,
    /// A name, where the path carries one (LXC names; Kubernetes pod uid; podman pod).
    pub name: Option<String>,
}

impl Container {
    /// 12 characters of the id, as `docker ps` shows it.
    pub fn short(&self) -> String {
        match &self.name {
            Some(n) if self.runtime == "lxc" => n.clone(),
            _ => self.id.chars().take(12).collect(),
        }
    }
}
