//! The webhook payload builders: any summary, location and secret give a valid body in every
//! format (JSON, or UTF-8 text for ntfy with visible-ASCII headers besides the bearer token).
#![no_main]

use certctl::config::acme::Secret;
use certctl::config::alerts::{Webhook, WebhookFormat};
use certctl::model::{AlertEvent, Severity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (String, String, String, u64)| {
    let (summary, location, secret, at) = input;
    let event = AlertEvent {
        id: "0123456789abcdef".into(),
        kind: "expiring".into(),
        severity: Severity::Critical,
        summary,
        threshold: Some("7d".into()),
        certificate: None,
        locations: vec![location; 3],
        occurred_at: (at % 4_000_000_000) as i64,
        reminder: true,
        resolves: None,
        detail: Some("d".into()),
    };
    for format in WebhookFormat::ALL {
        let hook = Webhook {
            secret: Some(Secret::new(secret.as_bytes().to_vec())),
            chat_id: Some("-100123".into()),
            ..Webhook::new("fuzz", format, "https://example.test/hook")
        };
        let rendered = certctl::alerts::format::render(&hook, &event, "msg_1", event.occurred_at);
        if format == WebhookFormat::Ntfy {
            assert!(std::str::from_utf8(&rendered.body).is_ok());
            for (_, v) in rendered.headers.iter().filter(|(k, _)| k != "authorization") {
                assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "{v:?}");
            }
        } else {
            assert!(serde_json::from_slice::<serde_json::Value>(&rendered.body).is_ok());
        }
    }
});
