//! `alertmanager`: Prometheus Alertmanager's v2 API (`POST /api/v2/alerts`), so certctl's
//! alerts reach every receiver, route, silence and inhibition Alertmanager already has.
//!
//! Alertmanager identifies an alert by its label set, so the labels are only what stays the
//! same from the first message to `resolved`: `alertname` (`certctl_<kind>`), `alert_id`,
//! `kind`, `severity`, `source="certctl"` and the certificate's `subject`; the rest is in the
//! annotations. Alertmanager expires an alert at its `endsAt`: an open condition is sent with
//! `endsAt` three reminder intervals ahead (each reminder moves it on, so it expires only if
//! certctl stops sending), `resolved` with `endsAt` = now, which closes it, and one-off news
//! (a changed or discovered certificate, a renewal, a test) one hour ahead. A secret, if set,
//! is sent as a bearer token (for an Alertmanager behind an authenticating proxy).

use super::{Rendered, json_body, json_headers, markdown};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, UnixSeconds};
use crate::policy::rfc3339;

/// Kinds that are news, not conditions: they are never resolved.
const ONE_OFF: &[&str] = &[
    "certificate_changed",
    "discovered",
    "renewal_succeeded",
    "test",
];
const HOUR: i64 = 3600;

pub fn render(hook: &Webhook, event: &AlertEvent, now: UnixSeconds) -> Rendered {
    let (id, kind) = match &event.resolves {
        Some((id, kind)) => (id.as_str(), kind.as_str()),
        None => (event.id.as_str(), event.kind.as_str()),
    };
    let ends_at = if event.resolves.is_some() {
        now
    } else if ONE_OFF.contains(&kind) {
        now + HOUR
    } else {
        now + (3 * hook.repeat_interval).max(HOUR)
    };
    let mut labels = serde_json::json!({
        "alertname": format!("certctl_{kind}"),
        "alert_id": id,
        "kind": kind,
        "severity": event.severity.as_str(),
        "source": "certctl",
    });
    let mut annotations = serde_json::json!({
        "summary": event.summary,
        "description": markdown(event),
    });
    if let Some(cert) = &event.certificate {
        labels["subject"] = cert.subject.clone().into();
        annotations["serial"] = cert.serial.clone().into();
        annotations["sha256"] = cert.sha256.clone().into();
        annotations["expires"] = rfc3339(cert.not_after).into();
    }
    if !event.locations.is_empty() {
        annotations["locations"] = event.locations.join(", ").into();
    }
    if let Some(threshold) = &event.threshold {
        annotations["threshold"] = threshold.clone().into();
    }
    let starts_at = event.occurred_at.min(ends_at);
    let body = json_body(&serde_json::json!([{
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(starts_at),
        "endsAt": rfc3339(ends_at),
    }]));
    let mut headers = json_headers();
    if let Some(secret) = &hook.secret {
        headers.push((
            "authorization".into(),
            format!("Bearer {}", String::from_utf8_lossy(secret.expose())),
        ));
    }
    Rendered {
        url: api_url(&hook.url()),
        headers,
        body,
    }
}

/// The alerts endpoint under the configured base URL (which may already name it).
fn api_url(base: &str) -> String {
    let trimmed = base.trim_end_matches('/');
    if trimmed.ends_with("/api/v2/alerts") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/api/v2/alerts")
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{event, hook};
    use super::*;
    use crate::config::alerts::WebhookFormat;

    fn body(r: &Rendered) -> serde_json::Value {
        serde_json::from_slice(&r.body).expect("json")
    }

    #[test]
    fn firing_then_resolved_share_their_labels() {
        let h = hook(WebhookFormat::Alertmanager, None);
        let now = 1_790_000_100;
        let open = event();
        let firing = render(&h, &open, now);
        assert_eq!(
            firing.url,
            "https://hooks.example.test/x?access_token=abc/api/v2/alerts"
        );
        let f = body(&firing);
        assert_eq!(f[0]["labels"]["alertname"], "certctl_expiring");
        assert_eq!(f[0]["labels"]["severity"], "warning");
        assert_eq!(f[0]["labels"]["subject"], "CN=www");
        assert_eq!(f[0]["startsAt"], rfc3339(open.occurred_at));
        assert_eq!(f[0]["endsAt"], rfc3339(now + 3 * 86_400));
        assert_eq!(f[0]["annotations"]["threshold"], "14d");
        let mut done = open.clone();
        done.id = "fedcba".into();
        done.kind = "resolved".into();
        done.summary = "resolved: www".into();
        done.resolves = Some((open.id.clone(), open.kind.clone()));
        done.occurred_at = now + 50;
        let r = body(&render(&h, &done, now + 60));
        assert_eq!(
            r[0]["labels"], f[0]["labels"],
            "the same alert to Alertmanager"
        );
        assert_eq!(r[0]["endsAt"], rfc3339(now + 60));
        let mut news = open.clone();
        news.kind = "discovered".into();
        let n = body(&render(&h, &news, now));
        assert_eq!(n[0]["endsAt"], rfc3339(now + HOUR));
    }

    #[test]
    fn urls_and_bearer_tokens() {
        assert_eq!(api_url("http://am:9093/"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            api_url("http://am:9093/api/v2/alerts"),
            "http://am:9093/api/v2/alerts"
        );
        let h = hook(WebhookFormat::Alertmanager, Some("t0ken"));
        let r = render(&h, &event(), 1);
        assert!(
            r.headers
                .contains(&("authorization".into(), "Bearer t0ken".into()))
        );
    }
}
