//! `issue` and `renew`: the lifecycle run, then the issued certificates scanned into the
//! inventory and the alerts evaluated, so that a surface never has to remember those steps.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::lifecycle::{self, Outcome, RenewOptions, Report};

/// Which certificates, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    /// Certificate names; empty: every `[[certificate]]`.
    pub names: Vec<String>,
    /// Renew whatever the policy and backoff say (`issue`, `renew --force`).
    pub force: bool,
    /// Only report what would be done.
    pub dry_run: bool,
    /// Certificates processed at once.
    pub concurrency: usize,
}

/// What happened to each certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewReply {
    pub reports: Vec<Report>,
    /// Alerting trouble after the run (a webhook down): the run itself succeeded.
    pub warning: Option<String>,
}

impl RenewReply {
    /// Whether any certificate failed to renew or to deploy.
    pub fn failed(&self) -> bool {
        self.reports.iter().any(|r| match &r.outcome {
            Some(Outcome::Failed { .. }) => true,
            Some(Outcome::Installed { deploy_errors, .. }) => !deploy_errors.is_empty(),
            None => false,
        })
    }

    /// How many certificates were installed, and how many failed.
    pub fn counts(&self) -> (u64, u64) {
        let mut counts = (0, 0);
        for r in &self.reports {
            match &r.outcome {
                Some(Outcome::Installed { .. }) => counts.0 += 1,
                Some(Outcome::Failed { .. }) => counts.1 += 1,
                None => {}
            }
        }
        counts
    }
}

pub async fn renew(ctx: &Context, request: &RenewRequest) -> Result<RenewReply, OpsError> {
    let config = &ctx.config;
    if config.certificates.is_empty() {
        return Err(OpsError::NoCertificates);
    }
    let options = RenewOptions {
        force: request.force,
        dry_run: request.dry_run,
        concurrency: request.concurrency,
    };
    let reports = lifecycle::run(
        Arc::clone(config),
        ctx.store.clone(),
        &request.names,
        options,
    )
    .await?;
    let installed = reports
        .iter()
        .any(|r| matches!(r.outcome, Some(Outcome::Installed { .. })));
    if installed {
        // Issued certificates join the inventory at once.
        crate::service::scan_and_record(
            config,
            Some(&ctx.store),
            Vec::new(),
            crate::service::managed_files(config),
            crate::service::Scope::Part,
            |_| {},
        )
        .await?;
    }
    let warning = match request.dry_run {
        true => None,
        false => super::after::after_change(ctx).await,
    };
    Ok(RenewReply { reports, warning })
}
