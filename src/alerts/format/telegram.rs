//! `telegram`: a Bot API `sendMessage` to one chat. The bot token is the webhook's secret
//! (`secret_file`/`secret_env`, never in the config file or logs) and `chat_id` names the chat
//! (`-100...` for a group or channel, `@channelname`); `url` is the Bot API server, by default
//! `https://api.telegram.org` (a self-hosted `telegram-bot-api` works the same). The text is
//! HTML (bold title, escaped details), cut to Telegram's 4096 characters, without link
//! previews.

use super::{Rendered, json_body, json_headers, locations_text, title};
use crate::config::alerts::Webhook;
use crate::model::AlertEvent;
use crate::policy::rfc3339;

/// Telegram's limit on a message's text.
const MAX_TEXT: usize = 4096;

pub fn render(hook: &Webhook, event: &AlertEvent) -> Rendered {
    let mut lines = vec![
        format!("<b>{}</b>", escape(&title(event))),
        escape(&event.summary),
    ];
    if let Some(cert) = &event.certificate {
        lines.push(format!("subject: {}", escape(&cert.subject)));
        lines.push(format!("expires: {}", rfc3339(cert.not_after)));
        lines.push(format!("serial: <code>{}</code>", escape(&cert.serial)));
    }
    if !event.locations.is_empty() {
        lines.push(format!("locations: {}", locations_text(event, escape)));
    }
    if let Some(detail) = &event.detail {
        lines.push(format!("detail: {}", escape(detail)));
    }
    lines.push(format!("alert id: <code>{}</code>", escape(&event.id)));
    let body = json_body(&serde_json::json!({
        "chat_id": hook.chat_id.as_deref().unwrap_or_default(),
        "text": cut(&lines.join("\n"), MAX_TEXT),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    }));
    let token = hook
        .secret
        .as_ref()
        .map(|s| String::from_utf8_lossy(s.expose()).into_owned())
        .unwrap_or_default();
    Rendered {
        url: format!(
            "{}/bot{token}/sendMessage",
            hook.url().trim_end_matches('/')
        ),
        headers: json_headers(),
        body,
    }
}

/// The three characters Telegram's HTML mode requires escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, never splitting an HTML entity or tag: when cut, the text ends at
/// the last line that fits whole (the title and summary come first), then an ellipsis.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        if out.chars().count() + line.chars().count() + 2 > max {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        // One line longer than the limit: plain text, escaped after cutting.
        let plain: String = text
            .chars()
            .filter(|c| *c != '<' && *c != '>')
            .take(max / 6)
            .collect();
        out = escape(&plain);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_line_and_stay_valid_html() {
        let text = format!("<b>t</b>\n{}\n{}", "a&amp;".repeat(500), "b".repeat(3000));
        let out = cut(&text, MAX_TEXT);
        assert!(out.chars().count() <= MAX_TEXT);
        assert!(out.starts_with("<b>t</b>\n"));
        assert!(out.ends_with('…'));
        assert!(!out.contains("bbb"), "the over-long line is left out whole");
        let one_line = cut(&"x<y".repeat(3000), MAX_TEXT);
        assert!(one_line.chars().count() <= MAX_TEXT);
        assert!(!one_line.contains('<'));
        assert_eq!(escape("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
