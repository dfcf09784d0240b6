//! Webhook payload formats: one small file each, behind one function signature.

mod alertmanager;
mod dingtalk;
mod discord;
mod feishu;
mod generic;
mod ntfy;
mod pagerduty;
mod slack;
mod wecom;

use crate::config::alerts::{Webhook, WebhookFormat};
use crate::model::{AlertEvent, Severity, UnixSeconds};
use crate::policy::rfc3339;

/// An HTTP request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Renders `event` for `hook`. `message_id` is unique per delivery (stable across retries);
/// `now` is the send time (signatures cover it).
pub fn render(hook: &Webhook, event: &AlertEvent, message_id: &str, now: UnixSeconds) -> Rendered {
    match hook.format {
        WebhookFormat::Generic => generic::render(hook, event, message_id, now),
        WebhookFormat::Slack => slack::render(hook, event),
        WebhookFormat::DingTalk => dingtalk::render(hook, event, now),
        WebhookFormat::WeCom => wecom::render(hook, event),
        WebhookFormat::Feishu => feishu::render(hook, event, now),
        WebhookFormat::Alertmanager => alertmanager::render(hook, event, now),
        WebhookFormat::Pagerduty => pagerduty::render(hook, event),
        WebhookFormat::Discord => discord::render(hook, event),
        WebhookFormat::Ntfy => ntfy::render(hook, event),
    }
}

fn json_body(value: &serde_json::Value) -> Vec<u8> {
    // Serialising a Value built in memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

/// A Markdown description shared by the chat formats.
fn markdown(event: &AlertEvent) -> String {
    let mut out = format!("**{}** {}\n\n", title(event), event.summary);
    if let Some(cert) = &event.certificate {
        out.push_str(&format!("- subject: {}\n", cert.subject));
        out.push_str(&format!("- expires: {}\n", rfc3339(cert.not_after)));
        out.push_str(&format!("- serial: {}\n", cert.serial));
    }
    if !event.locations.is_empty() {
        let shown: Vec<&str> = event
            .locations
            .iter()
            .take(20)
            .map(String::as_str)
            .collect();
        out.push_str(&format!(
            "- locations ({}): {}",
            event.locations.len(),
            shown.join(", ")
        ));
        if event.locations.len() > shown.len() {
            out.push_str(", …");
        }
        out.push('\n');
    }
    if let Some(detail) = &event.detail {
        out.push_str(&format!("- detail: {detail}\n"));
    }
    out.push_str(&format!("- alert id: {}\n", event.id));
    out
}

fn title(event: &AlertEvent) -> String {
    let level = match (event.kind.as_str(), event.severity) {
        ("resolved", _) => "RESOLVED",
        (_, Severity::Critical) => "CRITICAL",
        (_, Severity::Warning) => "WARNING",
        (_, Severity::Info) => "INFO",
    };
    let reminder = if event.reminder { " (reminder)" } else { "" };
    format!("[{level}] certctl {}{reminder}", event.kind)
}

/// HMAC-SHA256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, message).as_ref().to_vec()
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::acme::Secret;
    use crate::model::AlertCert;

    pub fn hook(format: WebhookFormat, secret: Option<&str>) -> Webhook {
        Webhook {
            name: "t".into(),
            url: Secret::new(b"https://hooks.example.test/x?access_token=abc".to_vec()),
            format,
            secret: secret.map(|s| Secret::new(s.as_bytes().to_vec())),
            events: vec![],
            min_severity: Severity::Info,
            timeout: std::time::Duration::from_secs(1),
            repeat_interval: 86_400,
        }
    }

    pub fn event() -> AlertEvent {
        AlertEvent {
            id: "0123456789abcdef".into(),
            kind: "expiring".into(),
            severity: Severity::Warning,
            summary: "www expires in 13 days".into(),
            threshold: Some("14d".into()),
            certificate: Some(AlertCert {
                subject: "CN=www".into(),
                issuer: "CN=ca".into(),
                serial: "01".into(),
                sha256: "aa".into(),
                sans: vec!["www".into()],
                not_after: 1_800_000_000,
            }),
            locations: vec!["www:443".into()],
            occurred_at: 1_790_000_000,
            reminder: false,
            resolves: None,
            detail: None,
        }
    }

    #[test]
    fn every_format_renders_json_and_never_panics() {
        for format in WebhookFormat::ALL {
            let secret = match format {
                WebhookFormat::Generic => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                _ => Some("SECabc"),
            };
            for s in [None, secret] {
                let r = render(&hook(format, s), &event(), "msg_1", 1_790_000_000);
                if format == WebhookFormat::Ntfy {
                    // ntfy takes plain text.
                    assert!(String::from_utf8(r.body.clone()).is_ok_and(|t| t.contains("www")));
                    continue;
                }
                let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
                // Alertmanager takes a list of alerts; the others one object.
                let one = if format == WebhookFormat::Alertmanager {
                    v.as_array()
                        .and_then(|a| a.first())
                        .cloned()
                        .unwrap_or_default()
                } else {
                    v
                };
                assert!(one.is_object(), "{format:?}");
                assert!(r.url.starts_with("https://hooks.example.test/x"));
            }
        }
    }
}
