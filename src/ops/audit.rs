//! `history` and `audit verify`: the hash-chained audit log, read and checked.

use serde::{Deserialize, Serialize};

use super::{Context, OpsError};
use crate::model::UnixSeconds;
use crate::store::AuditEntry;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRequest {
    /// Entries at or after this time.
    pub since: UnixSeconds,
    /// Only entries whose subject or detail contains this.
    pub name: Option<String>,
}

/// The audit entries asked for, oldest first.
pub fn history(ctx: &Context, request: &HistoryRequest) -> Result<Vec<AuditEntry>, OpsError> {
    let mut entries = ctx.store.audit_entries(request.since)?;
    if let Some(name) = &request.name {
        entries.retain(|e| e.subject.contains(name.as_str()) || e.detail.contains(name.as_str()));
    }
    Ok(entries)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReply {
    /// Entries checked, when the chain is intact.
    pub intact: Option<u64>,
    /// Where and how it is broken, otherwise.
    pub broken: Option<String>,
}

/// Walks the hash chain.
pub fn verify(ctx: &Context) -> Result<AuditReply, OpsError> {
    Ok(match ctx.store.audit_verify()? {
        Ok(n) => AuditReply {
            intact: Some(n),
            broken: None,
        },
        Err(e) => AuditReply {
            intact: None,
            broken: Some(e.to_string()),
        },
    })
}
