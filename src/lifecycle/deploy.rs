//! Handing the installed version of a managed certificate to each of its deploy targets (lint,
//! install, reload, verify; see [`crate::deploy`]) and recording each outcome as an event and an
//! audit entry. Called after an issuance and by `certctl deploy`.

use crate::config::acme::ManagedCert;
use crate::deploy::Layout;
use crate::model::EventKind;
use crate::store::Store;

use super::event;

/// Deploys the current version of `cert` to every target, recording events and audit entries.
pub async fn deploy_all(
    store: &Store,
    cert: &ManagedCert,
) -> Vec<Result<crate::deploy::Deployed, crate::deploy::DeployFailure>> {
    let mut results = Vec::new();
    if cert.deploy.is_empty() {
        return results;
    }
    let material = match crate::deploy::Material::current(&Layout::new(&cert.output_dir)) {
        Ok(m) => m,
        Err(e) => {
            results.push(Err(crate::deploy::DeployFailure {
                target: cert.name.clone(),
                kind: "deploy_failed",
                error: e.to_string(),
                rolled_back: false,
            }));
            return results;
        }
    };
    for target in &cert.deploy {
        let result = crate::deploy::deploy(target, &material, &cert.domains).await;
        let (kind, detail) = match &result {
            Ok(d) => (
                EventKind::Deployed {
                    name: cert.name.clone(),
                    target: d.target.clone(),
                    serial: d.serial.clone(),
                },
                format!(
                    "{}: serial {} served after {} ms",
                    d.target,
                    d.serial,
                    d.served_after.as_millis()
                ),
            ),
            Err(f) => (
                EventKind::DeployFailed {
                    name: cert.name.clone(),
                    target: f.target.clone(),
                    kind: f.kind.to_string(),
                    error: f.error.clone(),
                    rolled_back: f.rolled_back,
                },
                f.to_string(),
            ),
        };
        let action = match &result {
            Ok(_) => "deployed",
            Err(f) if f.rolled_back => "deploy_rolled_back",
            Err(_) => "deploy_failed",
        };
        crate::audit::record(store, action, &cert.name, &detail);
        // Only the event: rewriting the renewal state here could put back an older one.
        if let Err(e) = store.record_event(&event(cert, kind)) {
            tracing::error!("cannot record the deploy: {e}");
        }
        match &result {
            Ok(d) => tracing::info!(cert = %cert.name, target = %d.target, "deployed and verified"),
            Err(f) => tracing::error!(cert = %cert.name, "{f}"),
        }
        results.push(result);
    }
    results
}
