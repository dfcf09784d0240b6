//! `discord`: a Discord channel webhook message with one embed (title, the Markdown
//! description, a colour by severity, the time).

use super::{Rendered, json_body, json_headers, markdown, title};
use crate::config::alerts::Webhook;
use crate::model::{AlertEvent, Severity};
use crate::policy::rfc3339;

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    let color = match (event.kind.as_str(), event.severity) {
        ("resolved", _) => 0x2e_b8_86,
        (_, Severity::Critical) => 0xd9_2d_20,
        (_, Severity::Warning) => 0xf2_a9_00,
        (_, Severity::Info) => 0x3b_82_f6,
    };
    // Discord limits an embed description to 4096 characters and a title to 256.
    let description: String = markdown(event).chars().take(4096).collect();
    let heading: String = title(event).chars().take(256).collect();
    let body = json_body(&serde_json::json!({
        "username": "certctl",
        "content": format!("{}: {}", heading, event.summary).chars().take(2000).collect::<String>(),
        "embeds": [{
            "title": heading,
            "description": description,
            "color": color,
            "timestamp": rfc3339(event.occurred_at),
            "footer": {"text": format!("alert id {}", event.id)},
        }],
        "allowed_mentions": {"parse": []},
    }));
    Rendered {
        url: hook.url(),
        headers: json_headers(),
        body,
    }
}
