//! Private keys at rest in the shared store: sealed with AES-256-GCM under the fleet key.
//!
//! The database, its backups and anyone who can read them never see a private key: every key a
//! node puts in the store (certificate keys, ACME account keys) is sealed under the fleet key
//! (`[fleet] key_file`: 32 random bytes, base64, mode 0600, the same file on every node). The
//! associated data names what was sealed and under which key, so a sealed key copied into
//! another record does not open. A node whose key file is not the fleet's refuses to start: the
//! store keeps a canary sealed under the first key it saw.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::{Fleet, FleetError};

/// The first byte of every sealed value: the format (1: AES-256-GCM, key id, random nonce).
const FORMAT: u8 = 1;
/// Bytes of the key id carried in a sealed value.
const ID_LEN: usize = 8;
/// What the canary seals.
const CANARY: &[u8] = b"certctl fleet key canary";

/// The fleet's key-encryption key, loaded from its file. Never printed.
pub struct FleetKey {
    key: LessSafeKey,
    id: [u8; ID_LEN],
    path: PathBuf,
}

impl fmt::Debug for FleetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FleetKey({}, {})", self.id(), self.path.display())
    }
}

fn key_error(path: &Path, message: impl Into<String>) -> FleetError {
    FleetError::Key {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl FleetKey {
    /// Reads the key file: one line of base64 holding 32 bytes, readable by its owner only.
    pub fn load(path: &Path) -> Result<FleetKey, FleetError> {
        let meta = std::fs::metadata(path).map_err(|e| key_error(path, e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(
                path,
                format!("mode {mode:04o} lets others read it; chmod 600 it"),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| key_error(path, e.to_string()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| key_error(path, "not base64 (make one with `certctl fleet keygen`)"))?;
        FleetKey::from_bytes(&bytes, path)
    }

    /// Makes a new random key file at `path` (mode 0600; an existing file is never replaced).
    pub fn generate(path: &Path) -> Result<FleetKey, FleetError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| key_error(path, "the system has no randomness to make a key"))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| key_error(path, e.to_string()))?;
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        file.write_all(format!("{text}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| key_error(path, e.to_string()))?;
        FleetKey::from_bytes(&bytes, path)
    }

    fn from_bytes(bytes: &[u8], path: &Path) -> Result<FleetKey, FleetError> {
        if bytes.len() != 32 {
            return Err(key_error(
                path,
                format!("holds {} bytes; a fleet key is 32", bytes.len()),
            ));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| key_error(path, "not an AES-256 key"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..ID_LEN]);
        Ok(FleetKey {
            key: LessSafeKey::new(unbound),
            id,
            path: path.to_path_buf(),
        })
    }

    /// The key's public id (the first bytes of its SHA-256, in hex).
    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    fn aad(&self, what: &str) -> Vec<u8> {
        format!("certctl|{what}|{}", self.id()).into_bytes()
    }

    /// Seals `plaintext`, bound to `what` (for example `cert|shop|v3`).
    pub fn seal(&self, what: &str, plaintext: &[u8]) -> Result<Vec<u8>, FleetError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| key_error(&self.path, "the system has no randomness for a nonce"))?;
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(what)),
                &mut body,
            )
            .map_err(|_| key_error(&self.path, "sealing failed"))?;
        let mut out = Vec::with_capacity(1 + ID_LEN + NONCE_LEN + body.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens what [`FleetKey::seal`] sealed for the same `what`; a different key, a different
    /// `what` or any altered byte is [`FleetError::Unseal`].
    pub fn open(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, FleetError> {
        let unseal = || FleetError::Unseal {
            what: what.to_string(),
            kek_id: self.id(),
        };
        let header = 1 + ID_LEN + NONCE_LEN;
        if sealed.len() < header + AES_256_GCM.tag_len() || sealed[0] != FORMAT {
            return Err(unseal());
        }
        if sealed[1..1 + ID_LEN] != self.id {
            return Err(FleetError::WrongKey {
                kek_id: self.id(),
                known: hex::encode(&sealed[1..1 + ID_LEN]),
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + ID_LEN..header]);
        let mut body = sealed[header..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(what)),
                &mut body,
            )
            .map_err(|_| unseal())?;
        Ok(plain.to_vec())
    }
}

impl Fleet {
    /// Checks that `key` is the fleet's key: the first node to start seals a canary under its
    /// key; every later node must open it ([`FleetError::WrongKey`] otherwise).
    pub async fn check_key(&self, key: &FleetKey) -> Result<(), FleetError> {
        let canary = key.seal("canary", CANARY)?;
        // The first key takes ordinal 1; a racing first node with another key conflicts on
        // it and inserts nothing. A statement's snapshot may predate the winner's commit, so an
        // empty answer is asked again.
        let mut known: Vec<(String, Vec<u8>)> = Vec::new();
        for _ in 0..3 {
            let rows = self
                .bounded(
                    "check the fleet key",
                    self.client().query(
                        "WITH mine AS (
                             INSERT INTO fleet_keys (kek_id, ordinal, canary, created_by)
                             VALUES ($1, 1, $2, $3)
                             ON CONFLICT DO NOTHING RETURNING kek_id, canary)
                         SELECT kek_id, canary FROM mine
                         UNION ALL SELECT kek_id, canary FROM fleet_keys",
                        &[&key.id(), &canary, &self.node()],
                    ),
                )
                .await?;
            known = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            if !known.is_empty() {
                break;
            }
        }
        match known.iter().find(|(id, _)| *id == key.id()) {
            Some((_, sealed)) if key.open("canary", sealed)? == CANARY => Ok(()),
            Some(_) => Err(FleetError::Unseal {
                what: "the fleet key canary".into(),
                kek_id: key.id(),
            }),
            None => Err(FleetError::WrongKey {
                kek_id: key.id(),
                known: known
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, name: &str) -> FleetKey {
        FleetKey::generate(&dir.join(name)).expect("generate")
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_key_and_its_label() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = key(dir.path(), "a.key");
        let b = key(dir.path(), "b.key");
        let secret = b"-----BEGIN PRIVATE KEY-----\nMIGH...";
        let sealed = a.seal("cert|shop|v1", secret).expect("seal");
        assert!(!sealed.windows(11).any(|w| w == b"PRIVATE KEY"));
        assert_eq!(a.open("cert|shop|v1", &sealed).expect("open"), secret);
        // Copied to another record: the label differs, so it does not open.
        assert!(matches!(
            a.open("cert|shop|v2", &sealed),
            Err(FleetError::Unseal { .. })
        ));
        assert!(matches!(
            b.open("cert|shop|v1", &sealed),
            Err(FleetError::WrongKey { .. })
        ));
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(a.open("cert|shop|v1", &altered).is_err());
        assert!(a.open("cert|shop|v1", &sealed[..5]).is_err());
    }

    #[test]
    fn key_files_are_private_and_well_formed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fleet.key");
        let made = FleetKey::generate(&path).expect("generate");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(FleetKey::load(&path).expect("load").id(), made.id());
        assert!(FleetKey::generate(&path).is_err(), "never replaced");
        assert!(!format!("{made:?}").contains(&std::fs::read_to_string(&path).unwrap()[..8]));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = FleetKey::load(&path).unwrap_err().to_string();
        assert!(e.contains("fleet.key") && e.contains("0644"), "{e}");

        let short = dir.path().join("short.key");
        std::fs::write(&short, "c2hvcnQ=\n").unwrap();
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = FleetKey::load(&short).unwrap_err().to_string();
        assert!(e.contains("5 bytes"), "{e}");
        std::fs::write(&short, "not base64 at all!\n").unwrap();
        let e = FleetKey::load(&short).unwrap_err().to_string();
        assert!(e.contains("not base64"), "{e}");
    }
}
