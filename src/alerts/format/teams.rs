//! `teams`: a Microsoft Teams message through a Workflows webhook ("Post to a channel when a
//! webhook request is received"): one Adaptive Card (schema 1.4) with a coloured title, the
//! summary and a fact set. `url` is the workflow's HTTP trigger URL, which carries its own
//! signature (`sig=`), so it is a secret and never logged in full.

use super::{Rendered, json_body, json_headers, locations_text, title};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, Severity};
use crate::policy::rfc3339;

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    // Adaptive Card colour names.
    let color = match (event.kind.as_str(), event.severity) {
        ("resolved", _) => "Good",
        (_, Severity::Critical) => "Attention",
        (_, Severity::Warning) => "Warning",
        (_, Severity::Info) => "Accent",
    };
    let mut facts = Vec::new();
    let mut fact = |name: &str, value: String| {
        facts.push(serde_json::json!({"title": name, "value": value}));
    };
    if let Some(cert) = &event.certificate {
        fact("Subject", cert.subject.clone());
        fact("Expires", rfc3339(cert.not_after));
        fact("Serial", cert.serial.clone());
    }
    if !event.locations.is_empty() {
        fact("Locations", locations_text(event, str::to_string));
    }
    if let Some(detail) = &event.detail {
        fact("Detail", detail.clone());
    }
    fact("Alert id", event.id.clone());
    let body = json_body(&serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": [
                    {"type": "TextBlock", "text": title(event), "weight": "Bolder",
                     "size": "Medium", "color": color, "wrap": true},
                    {"type": "TextBlock", "text": event.summary, "wrap": true},
                    {"type": "FactSet", "facts": facts},
                    {"type": "TextBlock", "text": rfc3339(event.occurred_at),
                     "isSubtle": true, "size": "Small"},
                ],
            },
        }],
    }));
    Rendered {
        url: hook.url(),
        headers: json_headers(),
        body,
    }
}
