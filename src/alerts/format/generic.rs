//! `generic`: documented JSON, signed per the Standard Webhooks specification.
//!
//! Body: `{"type": "certctl.<kind>", "timestamp": RFC 3339, "data": <AlertEvent>}`.
//! Headers: `webhook-id` (the delivery id, stable across retries), `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with
//! the base64 part of the `whsec_` secret.

use super::{Rendered, base64, hmac_sha256, json_body, json_headers};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, UnixSeconds};

pub fn render(hook: &Webhook, event: &AlertEvent, message_id: &str, now: UnixSeconds) -> Rendered {
    let body = json_body(&serde_json::json!({
        "type": format!("certctl.{}", event.kind),
        "timestamp": crate::policy::rfc3339(event.occurred_at),
        "data": payload(event),
    }));
    let mut headers = json_headers();
    headers.push(("webhook-id".into(), message_id.into()));
    headers.push(("webhook-timestamp".into(), now.to_string()));
    if let Some(secret) = &hook.secret {
        headers.push((
            "webhook-signature".into(),
            signature(secret.expose(), message_id, now, &body),
        ));
    }
    Rendered {
        url: hook.url(),
        headers,
        body,
    }
}

/// The stable `data` object (documented in the README).
pub fn payload(event: &AlertEvent) -> serde_json::Value {
    serde_json::json!({
        "id": event.id,
        "kind": event.kind,
        "severity": event.severity,
        "summary": event.summary,
        "threshold": event.threshold,
        "certificate": event.certificate.as_ref().map(|c| serde_json::json!({
            "subject": c.subject,
            "issuer": c.issuer,
            "serial": c.serial,
            "sha256": c.sha256,
            "sans": c.sans,
            "not_after": crate::policy::rfc3339(c.not_after),
        })),
        "locations": event.locations,
        "occurred_at": crate::policy::rfc3339(event.occurred_at),
        "reminder": event.reminder,
        "resolves": event.resolves.as_ref().map(|(id, kind)| serde_json::json!({"id": id, "kind": kind})),
        "detail": event.detail,
    })
}

/// `v1,<signature>` per Standard Webhooks.
pub fn signature(secret: &[u8], message_id: &str, timestamp: UnixSeconds, body: &[u8]) -> String {
    use base64::Engine;
    let text = String::from_utf8_lossy(secret);
    let encoded = text.trim().strip_prefix("whsec_").unwrap_or(text.trim());
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_else(|_| encoded.as_bytes().to_vec());
    let mut signed = format!("{message_id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("v1,{}", base64(&hmac_sha256(&key, &signed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification.
    #[test]
    fn signature_matches_the_spec_example() {
        let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
