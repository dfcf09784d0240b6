//! ACME accounts: registered once, stored with mode 0600, reused ever after.
//!
//! Credentials live in `<state>/accounts/<name>.json` next to the directory URL they belong
//! to. Registering is idempotent: an existing file for the same directory is reused; a changed
//! directory registers a new account (the old file is kept as `<name>.json.<timestamp>.old`).

use std::path::{Path, PathBuf};

use instant_acme::{Account, AccountCredentials, ExternalAccountKey, NewAccount};
use serde::{Deserialize, Serialize};

use super::AcmeError;
use super::http::{RecordingClient, RetryHint};
use crate::config::acme::AccountConfig;
use crate::durable::write_atomic;

/// What is stored per account.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    /// The account URL at the CA.
    id: String,
    created_at: i64,
    credentials: AccountCredentials,
}

/// Public facts about a stored account (never the key).
#[derive(Debug, Clone, Serialize)]
pub struct AccountInfo {
    pub name: String,
    pub directory: String,
    pub registered: bool,
    pub id: Option<String>,
    pub created_at: Option<i64>,
    pub eab: bool,
    pub contact: Vec<String>,
}

/// A usable account.
pub struct AcmeAccount {
    pub name: String,
    pub directory: String,
    pub(crate) inner: Account,
    hint: RetryHint,
}

impl AcmeAccount {
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The CA's last `Retry-After` (with a 429 or 503), as Unix seconds; taken, so each hint
    /// is used once.
    pub fn take_retry_after(&self) -> Option<i64> {
        let at = self.hint.lock().ok()?.take()?;
        at.duration_since(std::time::SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs() as i64)
    }
}

/// Where account `name`'s credentials live under `dir` (fleet mode copies them between nodes).
pub fn path_for(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// An account builder over certctl's HTTPS client (which keeps the CA's Retry-After hints),
/// trusting `ca_file` when set and the system roots otherwise.
fn builder(cfg: &AccountConfig) -> Result<(instant_acme::AccountBuilder, RetryHint), AcmeError> {
    let fail = |reason: String| AcmeError::Account {
        account: cfg.name.clone(),
        reason: format!("cannot set up the HTTPS client: {reason}"),
    };
    let roots = match &cfg.ca_file {
        Some(ca) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            let certs = rustls::pki_types::CertificateDer::pem_file_iter(ca)
                .map_err(|e| fail(format!("{}: {e}", ca.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| fail(format!("{}: {e}", ca.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| fail(format!("{}: {e}", ca.display())))?;
            }
            Some(roots)
        }
        None => None,
    };
    let (client, hint) = RecordingClient::new(roots).map_err(|e| fail(e.to_string()))?;
    Ok((Account::builder_with_http(Box::new(client)), hint))
}

/// Loads the stored account for `cfg`, registering it with the CA first if needed.
pub async fn load_or_register(cfg: &AccountConfig, dir: &Path) -> Result<AcmeAccount, AcmeError> {
    let path = path_for(dir, &cfg.name);
    let fail = |reason: String| AcmeError::Account {
        account: cfg.name.clone(),
        reason,
    };
    if let Ok(text) = std::fs::read_to_string(&path) {
        let stored: StoredAccount = serde_json::from_str(&text).map_err(|e| {
            fail(format!(
                "{} is not a certctl account file: {e}",
                path.display()
            ))
        })?;
        if stored.directory == cfg.directory_url {
            let (builder, hint) = builder(cfg)?;
            let inner = builder
                .from_credentials(stored.credentials)
                .await
                .map_err(|e| AcmeError::from_acme(&cfg.directory_url, e))?;
            return Ok(AcmeAccount {
                name: cfg.name.clone(),
                directory: cfg.directory_url.clone(),
                inner,
                hint,
            });
        }
        let old = path.with_extension(format!("json.{}.old", crate::clock::now()));
        std::fs::rename(&path, &old)
            .map_err(|e| fail(format!("cannot move aside {}: {e}", path.display())))?;
        tracing::warn!(
            account = %cfg.name,
            old = %old.display(),
            "the account's directory changed; registering a new account"
        );
    }
    if !cfg.agree_tos {
        return Err(fail(
            "set agree_tos = true to accept the CA's terms of service before registering".into(),
        ));
    }
    let contact: Vec<&str> = cfg.contact.iter().map(String::as_str).collect();
    let eab = cfg
        .eab
        .as_ref()
        .map(|(kid, key)| ExternalAccountKey::new(kid.clone(), key.expose()));
    let (builder, hint) = builder(cfg)?;
    let (inner, credentials) = builder
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            cfg.directory_url.clone(),
            eab.as_ref(),
        )
        .await
        .map_err(|e| AcmeError::from_acme(&cfg.directory_url, e))?;
    let stored = StoredAccount {
        directory: cfg.directory_url.clone(),
        id: inner.id().to_string(),
        created_at: crate::clock::now(),
        credentials,
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(|e| fail(e.to_string()))?;
    crate::durable::create_private_dir(dir).map_err(|e| fail(e.to_string()))?;
    write_atomic(&path, &json, 0o600).map_err(|e| fail(e.to_string()))?;
    crate::durable::sync_dir(dir).map_err(|e| fail(e.to_string()))?;
    tracing::info!(account = %cfg.name, id = inner.id(), "registered ACME account");
    Ok(AcmeAccount {
        name: cfg.name.clone(),
        directory: cfg.directory_url.clone(),
        inner,
        hint,
    })
}

/// What is known locally about an account, without contacting the CA.
pub fn info(cfg: &AccountConfig, dir: &Path) -> AccountInfo {
    let stored: Option<StoredAccount> = std::fs::read_to_string(path_for(dir, &cfg.name))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|s: &StoredAccount| s.directory == cfg.directory_url);
    AccountInfo {
        name: cfg.name.clone(),
        directory: cfg.directory_url.clone(),
        registered: stored.is_some(),
        id: stored.as_ref().map(|s| s.id.clone()),
        created_at: stored.as_ref().map(|s| s.created_at),
        eab: cfg.eab.is_some(),
        contact: cfg.contact.clone(),
    }
}
