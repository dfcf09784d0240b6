//! `wecom`: a WeCom (企业微信) group robot markdown message.

use super::{Rendered, json_body, json_headers, markdown};
use crate::config::alerts::Webhook;
use crate::model::AlertEvent;

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    let body = json_body(&serde_json::json!({
        "msgtype": "markdown",
        "markdown": {"content": markdown(event)}
    }));
    Rendered {
        url: hook.url(),
        headers: json_headers(),
        body,
    }
}
