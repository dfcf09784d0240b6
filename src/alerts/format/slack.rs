//! `slack`: an incoming-webhook message with blocks (header, details, context).

use super::{Rendered, json_body, json_headers, markdown, title};
use crate::config::alerts::Webhook;
use crate::model::AlertEvent;

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    // Slack's mrkdwn uses single asterisks for bold.
    let text = markdown(event).replace("**", "*");
    let body = json_body(&serde_json::json!({
        "text": format!("{}: {}", title(event), event.summary),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title(event)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("alert id `{}`", event.id)}]}
        ]
    }));
    Rendered {
        url: hook.url(),
        headers: json_headers(),
        body,
    }
}
