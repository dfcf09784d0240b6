//! Hot reload for Rust servers that embed certctl: a rustls [`ResolvesServerCert`] whose
//! certificate is swapped atomically when the deployed files change (polled), or when told to.
//!
//! A new pair is read completely, parsed, and checked (the key must match the certificate)
//! before it replaces the old one; handshakes in progress keep the `Arc` they already hold, so
//! no client ever sees a half-read or mismatched pair.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// Serves the current certificate, swapping it atomically on reload.
#[derive(Debug)]
pub struct CertResolver {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

impl CertResolver {
    /// Loads `fullchain_path` and `key_path` (PEM); fails if they are unusable.
    pub fn new(fullchain_path: &Path, key_path: &Path) -> Result<Arc<CertResolver>, ReloadError> {
        let loaded = load(fullchain_path, key_path)?;
        Ok(Arc::new(CertResolver {
            cert_path: fullchain_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new((Arc::new(loaded), modified(fullchain_path, key_path))),
        }))
    }

    /// Re-reads the files now. On error the old certificate stays in service.
    pub fn reload(&self) -> Result<(), ReloadError> {
        let stamp = modified(&self.cert_path, &self.key_path);
        let loaded = load(&self.cert_path, &self.key_path)?;
        if let Ok(mut current) = self.current.write() {
            *current = (Arc::new(loaded), stamp);
        }
        Ok(())
    }

    /// Reloads if either file changed since the last load.
    pub fn reload_if_changed(&self) -> Result<bool, ReloadError> {
        let stamp = modified(&self.cert_path, &self.key_path);
        let unchanged = self.current.read().map(|c| c.1 == stamp).unwrap_or(false);
        if unchanged {
            return Ok(false);
        }
        self.reload().map(|_| true)
    }

    /// The certificate chain currently served (leaf first).
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        self.current
            .read()
            .map(|c| c.0.cert.clone())
            .unwrap_or_default()
    }

    /// Polls the files every `interval` on a background thread for as long as the resolver
    /// lives (a polling fallback that works on every filesystem).
    pub fn watch(self: &Arc<Self>, interval: Duration) {
        let weak = Arc::downgrade(self);
        std::thread::spawn(move || {
            while let Some(resolver) = weak.upgrade() {
                if let Err(e) = resolver.reload_if_changed() {
                    tracing::warn!("certificate reload failed, keeping the old one: {e}");
                }
                drop(resolver);
                std::thread::sleep(interval);
            }
        });
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c.0))
    }
}

fn modified(a: &Path, b: &Path) -> Option<SystemTime> {
    let ma = std::fs::metadata(a).and_then(|m| m.modified()).ok()?;
    let mb = std::fs::metadata(b).and_then(|m| m.modified()).ok()?;
    Some(ma.max(mb))
}

fn load(cert_path: &Path, key_path: &Path) -> Result<CertifiedKey, ReloadError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| ReloadError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let invalid = |p: &Path, reason: String| ReloadError::Invalid {
        path: p.to_path_buf(),
        reason,
    };
    let chain_bytes = read(cert_path)?;
    let contents = crate::x509::read_certificates(&chain_bytes);
    if let Some(p) = contents.problems.first() {
        return Err(invalid(cert_path, p.to_string()));
    }
    let chain: Vec<CertificateDer<'static>> = contents
        .certs
        .into_iter()
        .map(|c| CertificateDer::from(c.der))
        .collect();
    if chain.is_empty() {
        return Err(invalid(cert_path, "no certificate".into()));
    }
    let key_pem =
        String::from_utf8(read(key_path)?).map_err(|_| invalid(key_path, "not PEM text".into()))?;
    let key_der =
        pem_key(&key_pem).ok_or_else(|| invalid(key_path, "no PRIVATE KEY block".into()))?;
    let key = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .map_err(|e| invalid(key_path, e.to_string()))?;
    let certified = CertifiedKey::new(chain, key);
    certified.keys_match().map_err(|e| {
        invalid(
            key_path,
            format!("the key does not match the certificate: {e}"),
        )
    })?;
    Ok(certified)
}

fn pem_key(pem: &str) -> Option<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).ok()
}
