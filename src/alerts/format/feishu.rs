//! `feishu`: a Feishu / Lark (飞书) interactive card. With a secret, the body carries
//! `timestamp` (s) and `sign` = base64(HMAC-SHA256 keyed with "timestamp\nsecret" over "").

use super::{Rendered, base64, hmac_sha256, json_body, json_headers, markdown, title};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, Severity, UnixSeconds};

pub fn render(hook: &Webhook, event: &AlertEvent, now: UnixSeconds) -> Rendered {
    let template = match (event.kind.as_str(), event.severity) {
        ("resolved", _) => "green",
        (_, Severity::Critical) => "red",
        (_, Severity::Warning) => "orange",
        (_, Severity::Info) => "blue",
    };
    let mut value = serde_json::json!({
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"tag": "plain_text", "content": title(event)}, "template": template},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": markdown(event)}}]
        }
    });
    if let Some(secret) = &hook.secret {
        value["timestamp"] = now.to_string().into();
        value["sign"] = sign(secret.expose(), now).into();
    }
    Rendered {
        url: hook.url(),
        headers: json_headers(),
        body: json_body(&value),
    }
}

pub fn sign(secret: &[u8], timestamp: UnixSeconds) -> String {
    let mut key = format!("{timestamp}\n").into_bytes();
    key.extend_from_slice(secret);
    base64(&hmac_sha256(&key, b""))
}
