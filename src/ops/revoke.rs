//! `revoke`: asks the CA to revoke a managed certificate's current certificate, holding its
//! renewal lease so that no renewal of it runs meanwhile, audits it, and forgets the CA's
//! renewal window for it (an ARI CA then says "renew now").

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeRequest {
    /// The `[[certificate]]` name.
    pub name: String,
    /// RFC 5280 reason name (`keyCompromise`, ...); none: unspecified.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeReply {
    pub name: String,
    /// The serial number revoked.
    pub serial: String,
}

pub async fn revoke(ctx: &Context, request: &RevokeRequest) -> Result<RevokeReply, OpsError> {
    let config = &ctx.config;
    let cert = config
        .certificate(&request.name)
        .ok_or_else(|| OpsError::UnknownCertificate(request.name.clone()))?;
    let reason = request
        .reason
        .as_deref()
        .map(|r| {
            crate::acme::order::revocation_reason(r)
                .ok_or_else(|| OpsError::UnknownReason(r.to_string()))
        })
        .transpose()?;
    let account_cfg = config
        .account(&cert.account)
        .ok_or_else(|| OpsError::NoAccount {
            cert: cert.name.clone(),
            account: cert.account.clone(),
        })?;
    let _lease = ctx.store.renewal_lease(&cert.name).await;
    // Read under the lease: a renewal that just finished has installed its certificate.
    let (leaf, der) = crate::lifecycle::current_leaf(cert)
        .ok_or_else(|| OpsError::NotInstalled(cert.name.clone()))?;
    let account =
        crate::acme::account::load_or_register(account_cfg, &config.state_dir.join("accounts"))
            .await?;
    crate::acme::order::revoke(&account, &der, reason).await?;
    crate::audit::record(
        &ctx.store,
        "certificate_revoked",
        &cert.name,
        &format!(
            "serial {} reason {}",
            leaf.serial,
            request.reason.as_deref().unwrap_or("unspecified")
        ),
    );
    ctx.store
        .update_managed(&cert.name, None, |state| state.ari = None)?;
    Ok(RevokeReply {
        name: cert.name.clone(),
        serial: leaf.serial,
    })
}
