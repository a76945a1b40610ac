//! Fixture `/proc` trees built in a temporary directory, and the hostile things
//! that can be put into one (FIFOs, devices, links to /dev/zero, loops, huge and
//! binary files) for the hardening and fuzz tests.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::assert_root;

pub const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
pub const HEADER6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// One IPv4 line: 127.0.0.1:8080 to 127.0.0.2:`port`, in kernel state `st` (hex).
pub fn tcp_line(slot: usize, port: u16, st: &str, inode: u64) -> String {
    format!(
        "{slot:4}: 0100007F:1F90 0200007F:{port:04X} {st} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n"
    )
}

/// One IPv6 line (::1 to ::1).
pub fn tcp6_line(slot: usize, port: u16, st: &str, inode: u64) -> String {
    format!(
        "{slot:4}: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:{port:04X} {st} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 20 4 30 10 -1\n"
    )
}

pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    /// A sane tree: pids 100 (`api`, CLOSE_WAIT sockets 1001..1003) and 200
    /// (`worker`, an ESTABLISHED IPv4 socket 1004 and an IPv6 one 2001), every
    /// per-process file sockleak reads.
    pub fn new() -> Tree {
        let t = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        let mut tcp = HEADER.to_string();
        for (i, inode) in (1001..=1003).enumerate() {
            tcp.push_str(&tcp_line(i, 40000 + i as u16, "08", inode));
        }
        tcp.push_str(&tcp_line(3, 40003, "01", 1004));
        t.write("net/tcp", tcp.as_bytes());
        t.write(
            "net/tcp6",
            format!("{HEADER6}{}", tcp6_line(0, 50000, "01", 2001)).as_bytes(),
        );
        t.symlink("self/ns/net", "net:[4026531840]");
        t.write("self/mountinfo", b"22 1 0:21 / /proc rw - proc proc rw\n");
        t.process(100, "api", &[1001, 1002, 1003]);
        t.process(200, "worker", &[1004, 2001]);
        t
    }

    pub fn process(&self, pid: u32, comm: &str, sockets: &[u64]) {
        self.write(&format!("{pid}/comm"), format!("{comm}\n").as_bytes());
        self.write(
            &format!("{pid}/status"),
            format!("Name:\t{comm}\nState:\tS (sleeping)\nUid:\t0\t0\t0\t0\n").as_bytes(),
        );
        self.write(
            &format!("{pid}/cmdline"),
            format!("{comm}\0--flag\0").as_bytes(),
        );
        self.write(&format!("{pid}/cgroup"), b"0::/system.slice/x.service\n");
        self.write(
            &format!("{pid}/stat"),
            format!("{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0\n").as_bytes(),
        );
        self.symlink(&format!("{pid}/ns/net"), "net:[4026531840]");
        self.symlink(&format!("{pid}/fd/0"), "/dev/null");
        for (i, s) in sockets.iter().enumerate() {
            self.symlink(&format!("{pid}/fd/{}", i + 3), &format!("socket:[{s}]"));
        }
    }

    pub fn root(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Make room for `rel`: its parent exists, and nothing is at it.
    fn clear(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p).unwrap(),
            Ok(_) => std::fs::remove_file(&p).unwrap(),
            Err(_) => {}
        }
        p
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.clear(rel);
        std::fs::write(p, bytes).unwrap();
    }

    pub fn symlink(&self, rel: &str, target: &str) {
        let p = self.clear(rel);
        std::os::unix::fs::symlink(target, p).unwrap();
    }

    pub fn fifo(&self, rel: &str) {
        let p = self.clear(rel);
        let c = cstr(&p);
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(
            unsafe { libc::mkfifo(c.as_ptr(), 0o644) },
            0,
            "mkfifo {p:?}"
        );
    }

    /// A character device node (`1,3` is /dev/null, `1,5` /dev/zero); needs root.
    pub fn char_device(&self, rel: &str, major: u32, minor: u32) {
        assert_root("mknod");
        let p = self.clear(rel);
        let c = cstr(&p);
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe {
            libc::mknod(
                c.as_ptr(),
                libc::S_IFCHR | 0o644,
                libc::makedev(major, minor),
            )
        };
        assert_eq!(rc, 0, "mknod {p:?}: {}", std::io::Error::last_os_error());
    }

    /// A sparse file of `len` bytes (nothing written).
    pub fn sparse(&self, rel: &str, len: u64) {
        let p = self.clear(rel);
        std::fs::File::create(p).unwrap().set_len(len).unwrap();
    }

    pub fn dir(&self, rel: &str) {
        let p = self.clear(rel);
        std::fs::create_dir_all(p).unwrap();
    }
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}
