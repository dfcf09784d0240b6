//! Webhook payload formats: one small file each, behind one function signature.

mod alertmanager;
mod dingtalk;
mod discord;
pub mod exec;
mod feishu;
mod generic;
mod ntfy;
mod pagerduty;
mod slack;
mod teams;
mod telegram;
mod wecom;

use crate::config::alerts::{Webhook, WebhookFormat};
use crate::model::{AlertEvent, Severity, UnixSeconds};
use crate::policy::rfc3339;

/// An HTTP request ready to send (for `exec`: the program, its environment and its stdin).
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
        WebhookFormat::Teams => teams::render(hook, event),
        WebhookFormat::Telegram => telegram::render(hook, event),
        WebhookFormat::Exec => exec::render(hook, event, message_id, now),
        // Sent by `alerts::email`; rendered here as the generic document for previews.
        WebhookFormat::Email => generic::render(hook, event, message_id, now),
    }
}

fn json_body(value: &serde_json::Value) -> Vec<u8> {
    // Serialising a Value built in memory cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

/// Chat messages name at most this many locations of an event.
const SHOWN_LOCATIONS: usize = 20;

/// The first [`SHOWN_LOCATIONS`] locations of `event`, each through `show`, joined with ", ",
/// and " and N more" for the rest.
fn locations_text(event: &AlertEvent, show: impl Fn(&str) -> String) -> String {
    let shown: Vec<String> = event
        .locations
        .iter()
        .take(SHOWN_LOCATIONS)
        .map(|l| show(l))
        .collect();
    let more = event.locations.len() - shown.len();
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
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
        out.push_str(&format!(
            "- locations ({}): {}\n",
            event.locations.len(),
            locations_text(event, str::to_string)
        ));
    }
    if let Some(detail) = &event.detail {
        out.push_str(&format!("- detail: {detail}\n"));
    }
    out.push_str(&format!("- alert id: {}\n", event.id));
    out
}

pub(crate) fn title(event: &AlertEvent) -> String {
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
            secret: secret.map(|s| Secret::new(s.as_bytes().to_vec())),
            chat_id: (format == WebhookFormat::Telegram).then(|| "-1001234567890".into()),
            ..Webhook::new("t", format, "https://hooks.example.test/x?access_token=abc")
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
                if format != WebhookFormat::Exec {
                    assert!(
                        r.url.starts_with("https://hooks.example.test/x"),
                        "{format:?}"
                    );
                }
            }
        }
    }

    /// The secret each format is rendered with in the golden files (none where a format
    /// takes none).
    fn golden_secret(format: WebhookFormat) -> Option<&'static str> {
        match format {
            WebhookFormat::Generic => Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            WebhookFormat::DingTalk | WebhookFormat::Feishu => Some("SECabc"),
            WebhookFormat::Pagerduty => Some("R0UTINGKEY0123456789"),
            WebhookFormat::Ntfy | WebhookFormat::Alertmanager => Some("tk_abc"),
            WebhookFormat::Telegram => Some("123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"),
            _ => None,
        }
    }

    /// What a format sends for the example event and its `resolved`, as one JSON document
    /// (url, headers, body parsed when it is JSON).
    fn golden(format: WebhookFormat) -> serde_json::Value {
        let mut hook = hook(format, golden_secret(format));
        let url = match format {
            WebhookFormat::Generic => "https://hooks.example.test/certctl",
            WebhookFormat::Slack => "https://hooks.slack.com/services/T000/B000/XXXX",
            WebhookFormat::DingTalk => "https://oapi.dingtalk.com/robot/send?access_token=abc",
            WebhookFormat::WeCom => "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
            WebhookFormat::Feishu => "https://open.feishu.cn/open-apis/bot/v2/hook/abc",
            WebhookFormat::Alertmanager => "http://alertmanager.example.test:9093",
            WebhookFormat::Pagerduty => "https://events.pagerduty.com/v2/enqueue",
            WebhookFormat::Discord => "https://discord.com/api/webhooks/1/abc",
            WebhookFormat::Ntfy => "https://ntfy.sh/certs-topic",
            WebhookFormat::Teams => {
                "https://prod-00.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=abc"
            }
            WebhookFormat::Telegram => crate::config::alerts::TELEGRAM_API,
            WebhookFormat::Exec | WebhookFormat::Email => "",
        };
        hook.url = Secret::new(url.as_bytes().to_vec());
        if format == WebhookFormat::Exec {
            hook.command = vec![
                "/usr/local/bin/page-oncall".into(),
                "--team".into(),
                "ops".into(),
            ];
        }
        let mut resolved = event();
        resolved.kind = "resolved".into();
        resolved.severity = Severity::Info;
        resolved.summary = "www no longer expires within 14 days".into();
        resolved.resolves = Some(("0123456789abcdef".into(), "expiring".into()));
        resolved.id = "fedcba9876543210".into();
        let mut out = serde_json::Map::new();
        for (name, e) in [("alert", event()), ("resolved", resolved)] {
            let r = render(&hook, &e, "msg_1", 1_790_000_000);
            let body = serde_json::from_slice(&r.body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&r.body).into_owned())
            });
            out.insert(
                name.into(),
                serde_json::json!({"url": r.url, "headers": r.headers, "body": body}),
            );
        }
        serde_json::Value::Object(out)
    }

    /// Each format's payload is pinned in `tests/fixtures/payloads/<format>.json`, reviewed
    /// against the vendor's documentation (listed in that directory's README): a change to a
    /// payload shows up as a diff there. `CERTCTL_WRITE_PAYLOADS=1` rewrites the files.
    #[test]
    fn payloads_match_the_reviewed_golden_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/payloads");
        // An e-mail is not a request: its headers and parts are pinned in `alerts::email`'s
        // tests and read back from a real mailbox in tests/email.rs.
        for format in WebhookFormat::ALL
            .into_iter()
            .filter(|f| *f != WebhookFormat::Email)
        {
            let path = dir.join(format!("{}.json", format.as_str()));
            let actual = golden(format);
            if std::env::var_os("CERTCTL_WRITE_PAYLOADS").is_some() {
                let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::fs::write(&path, text).expect("write");
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (CERTCTL_WRITE_PAYLOADS=1 writes it)",
                    path.display()
                )
            });
            let expected: serde_json::Value = serde_json::from_str(&text).expect("golden json");
            assert_eq!(
                actual,
                expected,
                "{} differs from what certctl sends",
                path.display()
            );
        }
    }
}
