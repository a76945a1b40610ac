//! uid ↔ user name through the C library (so NSS sources such as LDAP or sssd
//! work as they do for `ps`), cached: a snapshot resolves each uid once.

use std::collections::HashMap;
use std::ffi::{CStr, CString};

#[derive(Debug, Default)]
pub struct Users {
    names: HashMap<u32, String>,
}

impl Users {
    /// The user name of `uid`, or the number itself when it has none.
    pub fn name(&mut self, uid: u32) -> &str {
        self.names
            .entry(uid)
            .or_insert_with(|| lookup_name(uid).unwrap_or_else(|| uid.to_string()))
    }
}

fn lookup_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the duration of the call; buf is large
    // enough for ordinary entries and the call reports ERANGE otherwise.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: pw_name points into buf, NUL-terminated.
    Some(
        unsafe { CStr::from_ptr(pwd.pw_name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// Resolve a `--user` value: a number is a uid, anything else a user name.
pub fn resolve_uid(user: &str) -> Option<u32> {
    if let Ok(uid) = user.parse::<u32>() {
        return Some(uid);
    }
    let name = CString::new(user).ok()?;
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as above.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_round_trips() {
        let mut u = Users::default();
        assert_eq!(u.name(0), "root");
        assert_eq!(resolve_uid("root"), Some(0));
        assert_eq!(resolve_uid("4242"), Some(4242));
        assert_eq!(resolve_uid("no-such-user-sockleak"), None);
        assert_eq!(u.name(4_000_000_000), "4000000000");
    }
}
