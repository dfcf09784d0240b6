//! Installing a certificate at a deploy target: lint, atomic write (with the previous files
//! kept), reload, verify, and roll back if the server does not serve the new certificate.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::layout::{Layout, stage, write_atomic};
use super::{DeployError, reload};
use crate::config::deploy::DeployTarget;
use crate::model::{CertRecord, UnixSeconds};

/// The four PEM files of one issued version.
#[derive(Debug, Clone)]
pub struct Material {
    pub cert: String,
    pub chain: String,
    pub fullchain: String,
    pub key: String,
}

impl Material {
    /// The current version of a managed certificate.
    pub fn current(layout: &Layout) -> Result<Material, DeployError> {
        let read = |f: &str| {
            layout.read_current(f).ok_or_else(|| {
                DeployError::Invalid(format!("{} has no current/{f}", layout.root().display()))
            })
        };
        Ok(Material {
            cert: read("cert.pem")?,
            chain: layout.read_current("chain.pem").unwrap_or_default(),
            fullchain: read("fullchain.pem")?,
            key: read("privkey.pem")?,
        })
    }

    /// Full chain followed by the key, as haproxy wants it.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.fullchain.trim_end(), self.key)
    }
}

/// The one check of certificate material, made before anything is touched: by an issuance
/// before it installs what the CA returned, and by a deploy before it writes to a target.
/// The full chain must parse, start with a leaf that matches the key, be in issuing order with
/// its intermediate, cover every domain and be valid at `now`. Returns the leaf.
pub fn lint(
    fullchain: &str,
    key_pem: &str,
    domains: &[String],
    now: UnixSeconds,
) -> Result<CertRecord, DeployError> {
    let parsed = crate::x509::read_certificates(fullchain.as_bytes());
    if let Some(problem) = parsed.problems.first() {
        return Err(DeployError::Invalid(format!(
            "the chain is unreadable: {problem}"
        )));
    }
    let Some(leaf) = parsed.certs.first() else {
        return Err(DeployError::Invalid(
            "the chain holds no certificate".into(),
        ));
    };
    let key_spki = crate::acme::keys::public_key_of_pem(key_pem)
        .map_err(|e| DeployError::Invalid(e.to_string()))?;
    let cert_spki =
        crate::x509::public_key_der(&leaf.der).map_err(|e| DeployError::Invalid(e.to_string()))?;
    if key_spki != cert_spki {
        return Err(DeployError::Invalid(format!(
            "the private key does not match the certificate (serial {})",
            leaf.record.serial
        )));
    }
    for pair in parsed.certs.windows(2) {
        if pair[0].record.issuer != pair[1].record.subject {
            return Err(DeployError::Invalid(format!(
                "the chain is out of order or incomplete: {} is not issued by {}",
                pair[0].record.subject, pair[1].record.subject
            )));
        }
    }
    if !leaf.record.self_signed && parsed.certs.len() < 2 {
        return Err(DeployError::Invalid(format!(
            "the chain is incomplete: no intermediate for {}",
            leaf.record.issuer
        )));
    }
    for domain in domains {
        if !crate::policy::name_matches(&leaf.record.sans, domain) {
            return Err(DeployError::Invalid(format!(
                "the certificate does not cover {domain}"
            )));
        }
    }
    if now < leaf.record.not_before || now >= leaf.record.not_after {
        return Err(DeployError::Invalid(format!(
            "the certificate is not currently valid ({} .. {})",
            crate::policy::rfc3339(leaf.record.not_before),
            crate::policy::rfc3339(leaf.record.not_after)
        )));
    }
    Ok(leaf.record.clone())
}

/// How a deploy went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub target: String,
    pub serial: String,
    /// Reload to "served everywhere".
    pub served_after: Duration,
}

/// Why a deploy failed, and whether the previous files are back in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: {error}{}", if *rolled_back { " (rolled back to the previous certificate)" } else { "" })]
pub struct DeployFailure {
    pub target: String,
    /// `deploy_failed` (lint, write, reload) or `verification_failed` (not served in time).
    pub kind: &'static str,
    pub error: String,
    pub rolled_back: bool,
}

/// (destination, new content, mode) for every file of a target.
fn files(target: &DeployTarget, m: &Material) -> Vec<(PathBuf, String, u32)> {
    let mut out = Vec::new();
    let mut push = |p: &Option<PathBuf>, content: &str, mode: u32| {
        if let Some(p) = p {
            out.push((p.clone(), content.to_string(), mode));
        }
    };
    push(&target.key, &m.key, target.key_mode);
    push(&target.cert, &m.cert, target.mode);
    push(&target.chain, &m.chain, target.mode);
    push(&target.fullchain, &m.fullchain, target.mode);
    push(&target.combined, &m.combined(), target.key_mode);
    out
}

/// Writes every file of a target in two phases: all of them are staged (written and fsynced
/// beside their destinations) first, and only then renamed into place. A disk that is full or
/// read-only therefore fails in the first phase, before any destination has changed.
fn write_all(target: &DeployTarget, files: &[(PathBuf, String, u32)]) -> Result<(), DeployError> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, content, mode) in files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| {
                DeployError::Io(crate::durable::DurableError {
                    action: "cannot create",
                    path: parent.to_path_buf(),
                    source,
                })
            })?;
        }
        let file = stage(path, content.as_bytes(), *mode)?;
        chown(file.tmp(), target.owner.as_deref(), target.group.as_deref())?;
        staged.push(file);
    }
    for file in staged {
        file.commit()?;
    }
    for (path, _, _) in files {
        if let Some(parent) = path.parent() {
            super::layout::sync_dir(parent)?;
        }
    }
    Ok(())
}

fn chown(path: &Path, owner: Option<&str>, group: Option<&str>) -> Result<(), DeployError> {
    if owner.is_none() && group.is_none() {
        return Ok(());
    }
    let invalid = |e: crate::accounts::AccountError| DeployError::Invalid(e.to_string());
    let uid = owner
        .map(crate::accounts::user_id)
        .transpose()
        .map_err(invalid)?;
    let gid = group
        .map(crate::accounts::group_id)
        .transpose()
        .map_err(invalid)?;
    std::os::unix::fs::chown(path, uid, gid).map_err(|source| {
        DeployError::Io(crate::durable::DurableError {
            action: "cannot chown",
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Lints, installs, reloads and verifies; restores the previous files on any failure.
pub async fn deploy(
    target: &DeployTarget,
    material: &Material,
    domains: &[String],
) -> Result<Deployed, DeployFailure> {
    let fail = |kind, error: String, rolled_back| DeployFailure {
        target: target.name.clone(),
        kind,
        error,
        rolled_back,
    };
    let leaf = lint(
        &material.fullchain,
        &material.key,
        domains,
        crate::clock::now(),
    )
    .map_err(|e| fail("deploy_failed", e.to_string(), false))?;
    if let Some(check) = &target.check_command {
        // The check runs against the files as they are now; a failing check stops everything.
        reload::run(
            &crate::config::deploy::Reload::Command {
                argv: check.clone(),
                timeout: Duration::from_secs(60),
            },
            "",
        )
        .await
        .map_err(|e| fail("deploy_failed", format!("check_command: {e}"), false))?;
    }
    let new_files = files(target, material);
    let previous: Vec<(PathBuf, Option<Vec<u8>>, u32)> = new_files
        .iter()
        .map(|(p, _, mode)| (p.clone(), std::fs::read(p).ok(), *mode))
        .collect();
    let restore = || {
        for (path, old, mode) in &previous {
            match old {
                Some(bytes) => {
                    let _ = write_atomic(path, bytes, *mode);
                }
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    };
    if let Err(e) = write_all(target, &new_files) {
        restore();
        return Err(fail("deploy_failed", e.to_string(), true));
    }
    let combined = material.combined();
    let reloaded = Instant::now();
    for action in &target.reload {
        if let Err(e) = reload::run(action, &combined).await {
            restore();
            let old = old_combined(&previous, target);
            for action in &target.reload {
                let _ = reload::run(action, &old).await;
            }
            return Err(fail("deploy_failed", format!("reload: {e}"), true));
        }
    }
    match crate::verify::wait_served(&target.verify, &leaf.sha256, target.verify_timeout).await {
        Ok(_) => Ok(Deployed {
            target: target.name.clone(),
            serial: leaf.serial,
            served_after: reloaded.elapsed(),
        }),
        Err(served) => {
            restore();
            let old = old_combined(&previous, target);
            for action in &target.reload {
                let _ = reload::run(action, &old).await;
            }
            let seen: Vec<String> = served
                .iter()
                .map(|s| match (&s.serial, &s.error) {
                    (Some(serial), _) => format!("{} serves serial {serial}", s.target),
                    (None, Some(e)) => format!("{}: {e}", s.target),
                    (None, None) => format!("{}: nothing", s.target),
                })
                .collect();
            Err(fail(
                "verification_failed",
                format!(
                    "the new certificate (serial {}) was not served within {}: {}",
                    leaf.serial,
                    humantime::format_duration(target.verify_timeout),
                    seen.join("; ")
                ),
                true,
            ))
        }
    }
}

/// The previous combined PEM (for haproxy's runtime API during a rollback).
fn old_combined(previous: &[(PathBuf, Option<Vec<u8>>, u32)], target: &DeployTarget) -> String {
    target
        .combined
        .as_ref()
        .and_then(|c| previous.iter().find(|(p, _, _)| p == c))
        .and_then(|(_, old, _)| old.as_ref())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}
