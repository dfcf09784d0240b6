//! User and group names resolved the way the rest of the system resolves them: through NSS
//! (`getpwnam_r`, `getgrnam_r`), so accounts from LDAP, SSSD or systemd-homed work as well as
//! those in /etc/passwd. Used for deploy targets' `owner`/`group` and the control socket's group.

use std::ffi::{CStr, CString};

/// Why a name could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The name is not known to NSS.
    #[error("no {kind} named \"{name}\" (looked up through NSS: /etc/nsswitch.conf)")]
    Unknown { kind: &'static str, name: String },
    /// The lookup itself failed (e.g. the directory server is unreachable).
    #[error("cannot look up {kind} \"{name}\": {source}")]
    Lookup {
        kind: &'static str,
        name: String,
        source: std::io::Error,
    },
}

/// The uid of a user name (or of a numeric uid, as given).
pub fn user_id(name: &str) -> Result<u32, AccountError> {
    if let Ok(id) = name.parse() {
        return Ok(id);
    }
    lookup("user", name, |cname, buf| {
        // SAFETY: `passwd` is plain old data; all-zero is a valid (empty) value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call: the name is NUL-terminated, `buf` is a
        // live buffer of the length given, `entry` and `result` are live locals.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        (rc, (!result.is_null()).then_some(entry.pw_uid))
    })
}

/// The gid of a group name (or of a numeric gid, as given).
pub fn group_id(name: &str) -> Result<u32, AccountError> {
    if let Ok(id) = name.parse() {
        return Ok(id);
    }
    lookup("group", name, |cname, buf| {
        // SAFETY: `group` is plain old data; all-zero is a valid (empty) value.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: as in `user_id`.
        let rc = unsafe {
            libc::getgrnam_r(
                cname.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        (rc, (!result.is_null()).then_some(entry.gr_gid))
    })
}

/// Runs a `get*nam_r` call, growing its buffer on ERANGE (large groups need more than 1 KiB).
fn lookup(
    kind: &'static str,
    name: &str,
    call: impl Fn(&CStr, &mut [u8]) -> (libc::c_int, Option<u32>),
) -> Result<u32, AccountError> {
    let unknown = || AccountError::Unknown {
        kind,
        name: name.to_string(),
    };
    let cname = CString::new(name).map_err(|_| unknown())?;
    let mut buf = vec![0u8; 1024];
    loop {
        match call(&cname, &mut buf) {
            (0, Some(id)) => return Ok(id),
            // 0 with no entry, or the "not found" codes some NSS modules return.
            (0, None) | (libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM, _) => {
                return Err(unknown());
            }
            (libc::ERANGE, _) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            (rc, _) => {
                return Err(AccountError::Lookup {
                    kind,
                    name: name.to_string(),
                    source: std::io::Error::from_raw_os_error(rc),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(user_id("root").expect("root"), 0);
        assert_eq!(group_id("root").expect("root"), 0);
        assert_eq!(user_id("4242").expect("numeric"), 4242);
        let err = user_id("certctl-no-such-user").expect_err("unknown");
        assert!(err.to_string().contains("no user named"), "{err}");
        assert!(group_id("certctl-no-such-group").is_err());
        assert!(user_id("nul\0byte").is_err());
    }
}
