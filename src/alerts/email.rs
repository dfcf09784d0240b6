//! `email`: one message per delivery over SMTP, the only importer of lettre.
//!
//! STARTTLS is required on `smtp://` (never mail or a password in clear), `smtps://` is TLS
//! from the first byte, and clear text is allowed only to a relay on this machine. The server
//! is verified against the system roots plus the webhook's `ca_file`. Each message has a plain
//! text and an HTML part, and is threaded on the alert: the first message of an alert carries
//! the thread's id as its `Message-ID`, and its reminders and its `resolved` point at it with
//! `In-Reply-To` and `References`, so they land in one conversation. A 5xx answer is a
//! permanent failure (the delivery is dead at once), everything else is retried.

use std::time::Instant;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::dispatch::SendResult;
use crate::config::alerts::{Email, SmtpTls, Webhook};
use crate::model::{AlertEvent, Severity};
use crate::policy::rfc3339;

/// Sends `event` to the webhook's recipients.
pub async fn send(hook: &Webhook, event: &AlertEvent, message_id: &str) -> SendResult {
    let started = Instant::now();
    let Some(settings) = &hook.email else {
        return SendResult::failed(
            format!("webhook {} has no e-mail settings", hook.name),
            started.elapsed(),
        );
    };
    let outcome = tokio::time::timeout(hook.timeout, async {
        let message = message(settings, event, message_id)?;
        let transport = transport(hook, settings)?;
        transport.send(message).await.map_err(|e| {
            let permanent = e.is_permanent();
            (crate::errors::chain(&e), permanent)
        })
    })
    .await;
    let elapsed = started.elapsed();
    match outcome {
        Err(_) => SendResult::failed(
            format!(
                "the SMTP server {}:{} did not finish within {}",
                settings.host,
                settings.port,
                humantime::format_duration(hook.timeout)
            ),
            elapsed,
        ),
        Ok(Err((error, permanent))) => SendResult {
            permanent,
            ..SendResult::failed(
                format!("SMTP {}:{}: {error}", settings.host, settings.port),
                elapsed,
            )
        },
        Ok(Ok(response)) => SendResult {
            status: Some(u16::from(response.code())),
            retry_after: None,
            error: None,
            elapsed,
            permanent: false,
            exit: None,
        },
    }
}

fn transport(
    hook: &Webhook,
    settings: &Email,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, (String, bool)> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port)
        // EHLO gives this machine's host name (lettre's default with its `hostname` feature).
        .timeout(Some(hook.timeout));
    let tls = match settings.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Starttls => Tls::Required(tls_parameters(settings)?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters(settings)?),
    };
    builder = builder.tls(tls);
    if let (Some(user), Some(password)) = (&settings.username, &hook.secret) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            String::from_utf8_lossy(password.expose()).into_owned(),
        ));
    }
    Ok(builder.build())
}

fn tls_parameters(settings: &Email) -> Result<TlsParameters, (String, bool)> {
    let mut builder =
        TlsParameters::builder(settings.host.clone()).certificate_store(CertificateStore::None);
    let system = crate::roots::system();
    let roots = system
        .certs
        .iter()
        .map(|c| c.as_ref().to_vec())
        .chain(settings.extra_roots.iter().cloned());
    for der in roots {
        // A root the TLS library cannot use is skipped, as when the system store is read.
        if let Ok(cert) = Certificate::from_der(der) {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build_rustls()
        .map_err(|e| (format!("TLS settings: {}", crate::errors::chain(&e)), true))
}

/// The thread of an alert: `<certctl.ALERT_ID@DOMAIN>` (the sender's domain).
fn thread_id(alert_id: &str, domain: &str) -> String {
    format!("<certctl.{alert_id}@{domain}>")
}

/// The message for one delivery (pure but for the `Date` header).
fn message(
    settings: &Email,
    event: &AlertEvent,
    message_id: &str,
) -> Result<Message, (String, bool)> {
    let from: Mailbox = settings
        .from
        .parse()
        .map_err(|e| (format!("from \"{}\": {e}", settings.from), true))?;
    let domain = from.email.domain().to_string();
    let mut builder = Message::builder()
        .from(from)
        .subject(subject(event))
        .user_agent(concat!("certctl/", env!("CARGO_PKG_VERSION")).to_string());
    for to in &settings.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| (format!("to \"{to}\": {e}"), true))?;
        builder = builder.to(mailbox);
    }
    // The first message of an alert opens its thread; reminders and the `resolved` reply to it.
    let (root, opens) = match &event.resolves {
        Some((resolved, _)) => (thread_id(resolved, &domain), false),
        None => (thread_id(&event.id, &domain), !event.reminder),
    };
    builder = if opens {
        builder.message_id(Some(root))
    } else {
        builder
            .message_id(Some(format!("<certctl.{message_id}@{domain}>")))
            .in_reply_to(root.clone())
            .references(root)
    };
    for (name, value) in [
        // RFC 3834: no vacation auto-replies to alerts.
        ("Auto-Submitted", "auto-generated".to_string()),
        ("X-Certctl-Alert-Id", event.id.clone()),
        ("X-Certctl-Kind", event.kind.clone()),
        ("X-Certctl-Severity", event.severity.as_str().to_string()),
    ] {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value,
        ));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(plain(event), html(event)))
        .map_err(|e| (format!("building the message: {e}"), true))
}

fn subject(event: &AlertEvent) -> String {
    let line = format!("{}: {}", super::format::title(event), event.summary);
    let line: String = line.chars().filter(|c| !c.is_control()).collect();
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(199).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// The facts of an event, as (name, value) lines shared by both parts.
fn facts(event: &AlertEvent) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(cert) = &event.certificate {
        out.push(("Subject", cert.subject.clone()));
        out.push(("Issuer", cert.issuer.clone()));
        out.push(("Expires", rfc3339(cert.not_after)));
        out.push(("Names", cert.sans.join(", ")));
        out.push(("Serial", cert.serial.clone()));
        out.push(("SHA-256", cert.sha256.clone()));
    }
    if let Some(threshold) = &event.threshold {
        out.push(("Threshold", threshold.clone()));
    }
    if !event.locations.is_empty() {
        out.push(("Locations", event.locations.join("\n")));
    }
    if let Some(detail) = &event.detail {
        out.push(("Detail", detail.clone()));
    }
    if let Some((id, kind)) = &event.resolves {
        out.push(("Resolves", format!("{kind} (alert {id})")));
    }
    out.push(("Alert id", event.id.clone()));
    out.push(("Occurred", rfc3339(event.occurred_at)));
    out
}

fn plain(event: &AlertEvent) -> String {
    let mut text = format!("{}\n\n", event.summary);
    for (name, value) in facts(event) {
        let value = value.replace('\n', &format!("\n{:11}", ""));
        text.push_str(&format!("{name:10} {value}\n"));
    }
    text.push_str("\n-- \ncertctl (`certctl alerts list` shows what is open)\n");
    text
}

fn html(event: &AlertEvent) -> String {
    let color = match (event.kind.as_str(), event.severity) {
        ("resolved", _) => "#2eb886",
        (_, Severity::Critical) => "#d92d20",
        (_, Severity::Warning) => "#f2a900",
        (_, Severity::Info) => "#3b82f6",
    };
    let mut rows = String::new();
    for (name, value) in facts(event) {
        rows.push_str(&format!(
            "<tr><th align=\"left\" valign=\"top\" style=\"padding:2px 12px 2px 0\">{}</th><td style=\"font-family:monospace\">{}</td></tr>\n",
            escape(name),
            escape(&value).replace('\n', "<br>")
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif\">\n\
         <h2 style=\"color:{color};margin:0 0 8px 0\">{title}</h2>\n<p>{summary}</p>\n\
         <table>\n{rows}</table>\n<p style=\"color:#666\">certctl</p>\n</body></html>\n",
        title = escape(&super::format::title(event)),
        summary = escape(&event.summary),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Email {
        Email {
            host: "mail.example.test".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            from: "certctl <certctl@example.test>".into(),
            to: vec![
                "oncall@example.test".into(),
                "Pki Team <pki@example.test>".into(),
            ],
            username: None,
            extra_roots: vec![],
        }
    }

    fn text(m: &Message) -> String {
        String::from_utf8_lossy(&m.formatted()).into_owned()
    }

    #[test]
    fn alerts_open_a_thread_that_reminders_and_resolved_join() {
        let mut event = crate::alerts::format::tests::event();
        event.summary = "www <b>expires</b> in 13 days".into();
        let first = text(&message(&settings(), &event, "msg_a_1").expect("message"));
        assert!(
            first.contains("Message-ID: <certctl.0123456789abcdef@example.test>"),
            "{first}"
        );
        assert!(!first.contains("In-Reply-To"), "{first}");
        assert!(
            first.contains("To: oncall@example.test, \"Pki Team\" <pki@example.test>"),
            "{first}"
        );
        assert!(first.contains("Auto-Submitted: auto-generated"));
        assert!(first.contains("X-Certctl-Severity: warning"));
        assert!(
            first.contains("Content-Type: multipart/alternative"),
            "{first}"
        );
        assert!(
            first.contains("www &lt;b&gt;expires&lt;/b&gt; in 13 days"),
            "HTML escaped"
        );

        event.reminder = true;
        let reminder = text(&message(&settings(), &event, "msg_a_2").expect("message"));
        assert!(
            reminder.contains("Message-ID: <certctl.msg_a_2@example.test>"),
            "{reminder}"
        );
        assert!(reminder.contains("In-Reply-To: <certctl.0123456789abcdef@example.test>"));
        assert!(reminder.contains("References: <certctl.0123456789abcdef@example.test>"));

        let mut resolved = crate::alerts::format::tests::event();
        resolved.kind = "resolved".into();
        resolved.id = "ffff".into();
        resolved.resolves = Some(("0123456789abcdef".into(), "expiring".into()));
        let end = text(&message(&settings(), &resolved, "msg_b_3").expect("message"));
        assert!(
            end.contains("In-Reply-To: <certctl.0123456789abcdef@example.test>"),
            "{end}"
        );
        assert!(
            end.contains("Subject: [RESOLVED] certctl resolved"),
            "{end}"
        );

        let bad = Email {
            from: "not an address".into(),
            ..settings()
        };
        let (error, permanent) = message(&bad, &event, "m").expect_err("bad from");
        assert!(error.starts_with("from \"not an address\""), "{error}");
        assert!(permanent);
    }
}
