//! `ntfy`: a message published to an ntfy topic (`url` is the topic URL,
//! `https://ntfy.sh/<topic>` or a self-hosted server's): the summary and details as the plain
//! text body, with `Title`, `Priority` (5 critical, 4 warning, 3 info, 2 resolved) and `Tags`
//! headers. A secret is sent as a bearer access token.

use super::{Rendered, title};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, Severity};

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    let (priority, tag) = match (event.kind.as_str(), event.severity) {
        ("resolved", _) => ("2", "white_check_mark"),
        (_, Severity::Critical) => ("5", "rotating_light"),
        (_, Severity::Warning) => ("4", "warning"),
        (_, Severity::Info) => ("3", "information_source"),
    };
    let mut text = format!("{}\n", event.summary);
    if let Some(cert) = &event.certificate {
        text.push_str(&format!("subject: {}\n", cert.subject));
        text.push_str(&format!(
            "expires: {}\n",
            crate::policy::rfc3339(cert.not_after)
        ));
    }
    if !event.locations.is_empty() {
        text.push_str(&format!("locations: {}\n", event.locations.join(", ")));
    }
    text.push_str(&format!("alert id: {}\n", event.id));
    // Header values must be visible ASCII; titles are, summaries may not be (they go in the
    // body).
    let heading: String = title(event)
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    let mut headers = vec![
        (
            "content-type".to_string(),
            "text/plain; charset=utf-8".to_string(),
        ),
        ("title".to_string(), heading),
        ("priority".to_string(), priority.to_string()),
        ("tags".to_string(), format!("{tag},certctl,{}", event.kind)),
    ];
    if let Some(secret) = &hook.secret {
        headers.push((
            "authorization".into(),
            format!("Bearer {}", String::from_utf8_lossy(secret.expose())),
        ));
    }
    Rendered {
        url: hook.url(),
        headers,
        body: text.into_bytes(),
    }
}
