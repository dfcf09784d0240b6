//! `deploy`, `verify` and `rollback` of a managed certificate's installed versions. Deploy and
//! rollback hold the certificate's renewal lease: a renewal must not install a new version
//! while an older one is being handed out or made current again.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::config::acme::ManagedCert;
use crate::deploy::{DeployFailure, Deployed, Layout};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameRequest {
    /// The `[[certificate]]` name.
    pub name: String,
}

/// How one deploy target went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TargetResult {
    Deployed {
        target: String,
        serial: String,
        served_after_ms: u64,
    },
    Failed {
        target: String,
        /// `deploy_failed` or `verification_failed`.
        kind: String,
        /// What failed, and whether the previous files are back.
        message: String,
        rolled_back: bool,
    },
}

impl TargetResult {
    fn of(result: Result<Deployed, DeployFailure>) -> TargetResult {
        match result {
            Ok(d) => TargetResult::Deployed {
                target: d.target,
                serial: d.serial,
                served_after_ms: u64::try_from(d.served_after.as_millis()).unwrap_or(u64::MAX),
            },
            Err(f) => TargetResult::Failed {
                message: f.to_string(),
                target: f.target,
                kind: f.kind.to_string(),
                rolled_back: f.rolled_back,
            },
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, TargetResult::Failed { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployReply {
    /// One per target; empty when the certificate has none.
    pub results: Vec<TargetResult>,
    /// Alerting trouble after the change.
    pub warning: Option<String>,
}

fn managed<'a>(ctx: &'a Context, name: &str) -> Result<&'a ManagedCert, OpsError> {
    ctx.config
        .certificate(name)
        .ok_or_else(|| OpsError::UnknownCertificate(name.to_string()))
}

/// Re-runs deployment of the current version to every target.
pub async fn deploy(ctx: &Context, request: &NameRequest) -> Result<DeployReply, OpsError> {
    let cert = managed(ctx, &request.name)?;
    let _lease = ctx.store.renewal_lease(&cert.name).await;
    let results = crate::lifecycle::deploy_all(&ctx.store, cert).await;
    let warning = super::after::after_change(ctx).await;
    Ok(DeployReply {
        results: results.into_iter().map(TargetResult::of).collect(),
        warning,
    })
}

/// What one verify endpoint serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Served {
    Current {
        target: String,
    },
    Stale {
        target: String,
        serial: Option<String>,
    },
    Unreachable {
        target: String,
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReply {
    /// The installed serial.
    pub serial: String,
    pub endpoints: Vec<Served>,
}

/// Checks that every verify endpoint of every target serves the installed certificate.
pub async fn verify(ctx: &Context, request: &NameRequest) -> Result<VerifyReply, OpsError> {
    let cert = managed(ctx, &request.name)?;
    let (leaf, _) = crate::lifecycle::current_leaf(cert)
        .ok_or_else(|| OpsError::NotInstalled(cert.name.clone()))?;
    let scanner = crate::verify::scanner();
    let mut endpoints = Vec::new();
    for target in cert.deploy.iter().flat_map(|d| d.verify.iter()) {
        let served = crate::verify::served(&scanner, target).await;
        endpoints.push(match (served.sha256, served.error) {
            (Some(sha), _) if sha == leaf.sha256 => Served::Current {
                target: served.target,
            },
            (Some(_), _) => Served::Stale {
                target: served.target,
                serial: served.serial,
            },
            (None, e) => Served::Unreachable {
                target: served.target,
                error: e.unwrap_or_else(|| "?".into()),
            },
        });
    }
    Ok(VerifyReply {
        serial: leaf.serial,
        endpoints,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReply {
    pub name: String,
    /// The version that was current, and the one that is now.
    pub from: String,
    pub to: String,
    pub results: Vec<TargetResult>,
}

/// Makes the previous version current again (audited) and deploys it.
pub async fn rollback(ctx: &Context, request: &NameRequest) -> Result<RollbackReply, OpsError> {
    let cert = managed(ctx, &request.name)?;
    let _lease = ctx.store.renewal_lease(&cert.name).await;
    let layout = Layout::new(&cert.output_dir);
    let current = layout
        .current_version()
        .ok_or_else(|| OpsError::NoVersion(cert.name.clone()))?;
    let versions_dir = cert.output_dir.join("versions");
    let mut versions: Vec<String> = std::fs::read_dir(&versions_dir)
        .map_err(|source| OpsError::Io {
            path: versions_dir.clone(),
            source,
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|v| layout.version_dir(v).join("cert.pem").exists())
        .collect();
    versions.sort();
    let previous = versions
        .iter()
        .rev()
        .find(|v| **v < current)
        .cloned()
        .ok_or_else(|| OpsError::NoOlderVersion {
            cert: cert.name.clone(),
            current: current.clone(),
        })?;
    layout.activate(&previous)?;
    crate::audit::record(
        &ctx.store,
        "rollback",
        &cert.name,
        &format!("{current} -> {previous}"),
    );
    let results = crate::lifecycle::deploy_all(&ctx.store, cert).await;
    Ok(RollbackReply {
        name: cert.name.clone(),
        from: current,
        to: previous,
        results: results.into_iter().map(TargetResult::of).collect(),
    })
}
