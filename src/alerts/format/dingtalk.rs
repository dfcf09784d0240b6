//! `dingtalk`: a DingTalk (钉钉) robot markdown message. With a secret, the URL carries
//! `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(secret, "timestamp\nsecret"))).

use super::{Rendered, base64, hmac_sha256, json_body, json_headers, markdown, title};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, UnixSeconds};

pub fn render(hook: &Webhook, event: &AlertEvent, now: UnixSeconds) -> Rendered {
    let body = json_body(&serde_json::json!({
        "msgtype": "markdown",
        "markdown": {"title": title(event), "text": markdown(event)}
    }));
    let mut url = hook.url();
    if let Some(secret) = &hook.secret {
        let millis = now * 1000;
        let sign = sign(secret.expose(), millis);
        let sep = if url.contains('?') { '&' } else { '?' };
        url = format!("{url}{sep}timestamp={millis}&sign={sign}");
    }
    Rendered {
        url,
        headers: json_headers(),
        body,
    }
}

/// DingTalk's signature, already URL-encoded.
pub fn sign(secret: &[u8], millis: i64) -> String {
    let mut to_sign = format!("{millis}\n").into_bytes();
    to_sign.extend_from_slice(secret);
    base64(&hmac_sha256(secret, &to_sign))
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}
