//! `exec`: the event handed to the user's program (`command = ["/usr/local/bin/page", ...]`,
//! no shell). It reads the generic format's JSON document on stdin and finds the same facts in
//! `CERTCTL_*` environment variables; nothing else of certctl's environment is passed (secrets
//! given to certctl through `secret_env` stay there), except `PATH`, `HOME`, `LANG`, `LC_ALL`,
//! `TZ` and `TMPDIR`. Exit 0 is delivered, 75 (`EX_TEMPFAIL`, as for postfix's `pipe`) or a
//! timeout is retried with backoff, any other exit is a permanent failure (the delivery is dead
//! at once; `certctl alerts retry` re-queues it).
//!
//! The rendered request's `url` is the program, its `headers` the environment, its `body`
//! stdin.

use super::Rendered;
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, UnixSeconds};
use crate::policy::rfc3339;

/// The exit status that asks for a retry (sysexits.h `EX_TEMPFAIL`).
pub const EX_TEMPFAIL: i32 = 75;

pub fn render(hook: &Webhook, event: &AlertEvent, message_id: &str, now: UnixSeconds) -> Rendered {
    let stdin = super::generic::render(hook, event, message_id, now).body;
    let mut env = vec![
        ("CERTCTL_WEBHOOK", hook.name.clone()),
        ("CERTCTL_MESSAGE_ID", message_id.to_string()),
        ("CERTCTL_ALERT_ID", event.id.clone()),
        ("CERTCTL_KIND", event.kind.clone()),
        ("CERTCTL_SEVERITY", event.severity.as_str().to_string()),
        ("CERTCTL_SUMMARY", event.summary.clone()),
        ("CERTCTL_OCCURRED_AT", rfc3339(event.occurred_at)),
        ("CERTCTL_REMINDER", event.reminder.to_string()),
        ("CERTCTL_LOCATIONS", event.locations.join("\n")),
    ];
    if let Some(threshold) = &event.threshold {
        env.push(("CERTCTL_THRESHOLD", threshold.clone()));
    }
    if let Some(cert) = &event.certificate {
        env.push(("CERTCTL_SUBJECT", cert.subject.clone()));
        env.push(("CERTCTL_ISSUER", cert.issuer.clone()));
        env.push(("CERTCTL_SERIAL", cert.serial.clone()));
        env.push(("CERTCTL_SHA256", cert.sha256.clone()));
        env.push(("CERTCTL_SANS", cert.sans.join(" ")));
        env.push(("CERTCTL_NOT_AFTER", rfc3339(cert.not_after)));
    }
    if let Some((id, kind)) = &event.resolves {
        env.push(("CERTCTL_RESOLVES_ID", id.clone()));
        env.push(("CERTCTL_RESOLVES_KIND", kind.clone()));
    }
    if let Some(detail) = &event.detail {
        env.push(("CERTCTL_DETAIL", detail.clone()));
    }
    Rendered {
        url: hook.command.first().cloned().unwrap_or_default(),
        // An environment value cannot hold a NUL byte (a certificate's subject could).
        headers: env
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.replace('\0', "")))
            .collect(),
        body: stdin,
    }
}
