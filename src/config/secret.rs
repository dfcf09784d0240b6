//! Secrets named by the config (EAB HMAC keys, TSIG keys, webhook secrets, heartbeat URLs):
//! never written in the config itself but read from the file or environment variable it names,
//! and kept in a [`Secret`] that never prints. Also the list validation problems are collected in.

use std::fmt;
use std::path::Path;

use super::KeyPath;

/// A secret value (EAB key, webhook secret). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Collects validation problems as (key, message).
pub type Problems = Vec<(KeyPath, String)>;

/// Reads a secret that the config names by file (`<file_key>`) or environment variable
/// (`<env_key>`), never inline. Returns the key it came from (for later errors about its
/// content, which must never quote it) and its text; `None` when neither is set or on a problem
/// (both set, unreadable file, unset variable), which is reported.
pub(crate) fn read_secret(
    file: Option<&str>,
    env: Option<&str>,
    key: &KeyPath,
    (file_key, env_key): (&str, &str),
    base: &Path,
    problems: &mut Problems,
) -> Option<(KeyPath, String)> {
    match (file, env) {
        (Some(_), Some(_)) => {
            problems.push((
                key.clone().key(env_key),
                format!("set {file_key} or {env_key}, not both"),
            ));
            None
        }
        (Some(file), None) => {
            let path = super::resolve(base, file);
            match std::fs::read_to_string(&path) {
                Ok(text) => Some((key.clone().key(file_key), text)),
                Err(e) => {
                    problems.push((
                        key.clone().key(file_key),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    None
                }
            }
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(text) => Some((key.clone().key(env_key), text)),
            Err(_) => {
                problems.push((
                    key.clone().key(env_key),
                    format!("environment variable {var} is not set"),
                ));
                None
            }
        },
        (None, None) => None,
    }
}

/// Decodes base64url (with or without padding), as EAB keys are distributed.
pub(super) fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decodes() {
        assert_eq!(decode_b64url("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_b64url("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_b64url("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(decode_b64url("+/8"), None);
        assert_eq!(decode_b64url("not base64!"), None);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }
}
