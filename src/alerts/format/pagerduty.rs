//! `pagerduty`: PagerDuty Events API v2 (`POST https://events.pagerduty.com/v2/enqueue`). The
//! secret is the integration's routing key. `dedup_key` is the alert id, so reminders update
//! the same incident and `resolved` (event_action `resolve`, with the id of the alert it
//! resolves) closes it; one-off news is a trigger of its own.

use super::{Rendered, json_body, json_headers};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, Severity};
use crate::policy::rfc3339;

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    let routing_key = hook
        .secret
        .as_ref()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .unwrap_or_default();
    let (action, dedup_key) = match &event.resolves {
        Some((id, _)) => ("resolve", id.as_str()),
        None => ("trigger", event.id.as_str()),
    };
    let severity = match event.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let mut details = serde_json::json!({
        "kind": event.kind,
        "alert_id": event.id,
        "locations": event.locations,
    });
    if let Some(cert) = &event.certificate {
        details["subject"] = cert.subject.clone().into();
        details["serial"] = cert.serial.clone().into();
        details["expires"] = rfc3339(cert.not_after).into();
    }
    if let Some(detail) = &event.detail {
        details["detail"] = detail.clone().into();
    }
    // PagerDuty limits the summary to 1024 characters.
    let summary: String = event.summary.chars().take(1024).collect();
    let body = json_body(&serde_json::json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": event.locations.first().map_or("certctl", String::as_str),
            "severity": severity,
            "timestamp": rfc3339(event.occurred_at),
            "component": event.certificate.as_ref().map(|c| c.subject.as_str()),
            "class": event.kind,
            "custom_details": details,
        },
        "client": "certctl",
    }));
    Rendered {
        url: hook.url(),
        headers: json_headers(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{event, hook};
    use super::*;
    use crate::config::alerts::WebhookFormat;

    #[test]
    fn trigger_then_resolve_on_one_dedup_key() {
        let h = hook(WebhookFormat::Pagerduty, Some("R0UTINGKEY"));
        let open = event();
        let t: serde_json::Value = serde_json::from_slice(&render(&h, &open).body).expect("json");
        assert_eq!(t["routing_key"], "R0UTINGKEY");
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], open.id);
        assert_eq!(t["payload"]["severity"], "warning");
        assert_eq!(t["payload"]["source"], "www:443");
        assert_eq!(t["payload"]["custom_details"]["subject"], "CN=www");
        let mut done = open.clone();
        done.id = "other".into();
        done.kind = "resolved".into();
        done.resolves = Some((open.id.clone(), open.kind.clone()));
        let r: serde_json::Value = serde_json::from_slice(&render(&h, &done).body).expect("json");
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], open.id);
    }
}
