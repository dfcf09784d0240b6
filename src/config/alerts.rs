//! `[alerts]` thresholds and noise control, and `[[webhook]]` receivers.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::acme::{Problems, Secret};
use super::{KeyPath, parse_duration};
use crate::model::Severity;

#[derive(Debug, Default, Deserialize)]
pub struct RawAlerts {
    pub warn_before: Option<String>,
    pub critical_before: Option<String>,
    pub thresholds: Option<Vec<String>>,
    pub warn_at_lifetime_remaining: Option<f64>,
    pub repeat_interval: Option<String>,
    pub unreachable_after: Option<i64>,
    pub retry_for: Option<String>,
    pub retry_initial: Option<String>,
    pub retry_max: Option<String>,
    pub concurrency: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct RawWebhook {
    pub name: String,
    pub url: Option<String>,
    pub format: Option<String>,
    pub chat_id: Option<String>,
    pub command: Option<Vec<String>>,
    #[serde(rename = "match")]
    pub matches: Option<std::collections::BTreeMap<String, String>>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
    pub username: Option<String>,
    pub smtp_tls: Option<String>,
    pub ca_file: Option<String>,
    pub secret_file: Option<String>,
    pub secret_env: Option<String>,
    pub events: Option<Vec<String>>,
    pub min_severity: Option<String>,
    pub timeout: Option<String>,
}

/// Alerting policy (the pure engine's parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// Absolute thresholds (seconds before expiry), longest first.
    pub thresholds: Vec<i64>,
    /// Relative threshold: alert when this fraction of the lifetime is left.
    pub lifetime_fraction: Option<f64>,
    pub repeat_interval: i64,
    pub unreachable_after: u32,
    /// How long a delivery is retried before it is dead.
    pub retry_for: i64,
    /// First retry delay, doubled per attempt up to `retry_max`.
    pub retry_initial: i64,
    pub retry_max: i64,
    /// Deliveries in flight at once.
    pub concurrency: usize,
}

impl Default for AlertSettings {
    fn default() -> Self {
        const DAY: i64 = 86_400;
        AlertSettings {
            thresholds: vec![30 * DAY, 14 * DAY, 7 * DAY, DAY],
            lifetime_fraction: None,
            repeat_interval: DAY,
            unreachable_after: 3,
            retry_for: DAY,
            retry_initial: 30,
            retry_max: 3600,
            concurrency: 16,
        }
    }
}

/// Payload formats, one file each under `alerts/format/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    Generic,
    Slack,
    DingTalk,
    WeCom,
    Feishu,
    /// Prometheus Alertmanager's v2 API.
    Alertmanager,
    /// PagerDuty Events API v2 (the secret is the routing key).
    Pagerduty,
    Discord,
    /// An ntfy topic.
    Ntfy,
    /// Microsoft Teams through a Workflows webhook (an Adaptive Card).
    Teams,
    /// A Telegram Bot API `sendMessage` (the secret is the bot token).
    Telegram,
    /// A program run with the event on stdin and in its environment.
    Exec,
    /// One e-mail per event over SMTP.
    Email,
}

impl WebhookFormat {
    /// Every format, for code that must handle each one.
    pub const ALL: [WebhookFormat; 13] = [
        WebhookFormat::Generic,
        WebhookFormat::Slack,
        WebhookFormat::DingTalk,
        WebhookFormat::WeCom,
        WebhookFormat::Feishu,
        WebhookFormat::Alertmanager,
        WebhookFormat::Pagerduty,
        WebhookFormat::Discord,
        WebhookFormat::Ntfy,
        WebhookFormat::Teams,
        WebhookFormat::Telegram,
        WebhookFormat::Exec,
        WebhookFormat::Email,
    ];

    pub fn parse(text: &str) -> Option<WebhookFormat> {
        Some(match text {
            "generic" => WebhookFormat::Generic,
            "slack" => WebhookFormat::Slack,
            "dingtalk" => WebhookFormat::DingTalk,
            "wecom" => WebhookFormat::WeCom,
            "feishu" => WebhookFormat::Feishu,
            "alertmanager" => WebhookFormat::Alertmanager,
            "pagerduty" => WebhookFormat::Pagerduty,
            "discord" => WebhookFormat::Discord,
            "ntfy" => WebhookFormat::Ntfy,
            "teams" => WebhookFormat::Teams,
            "telegram" => WebhookFormat::Telegram,
            "exec" => WebhookFormat::Exec,
            "email" => WebhookFormat::Email,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Generic => "generic",
            WebhookFormat::Slack => "slack",
            WebhookFormat::DingTalk => "dingtalk",
            WebhookFormat::WeCom => "wecom",
            WebhookFormat::Feishu => "feishu",
            WebhookFormat::Alertmanager => "alertmanager",
            WebhookFormat::Pagerduty => "pagerduty",
            WebhookFormat::Discord => "discord",
            WebhookFormat::Ntfy => "ntfy",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Telegram => "telegram",
            WebhookFormat::Exec => "exec",
            WebhookFormat::Email => "email",
        }
    }
}

/// A receiver of alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub name: String,
    /// May embed a token (Slack, DingTalk, WeCom, Feishu): never logged in full.
    pub url: Secret,
    pub format: WebhookFormat,
    pub secret: Option<Secret>,
    /// `telegram`: the chat to post to.
    pub chat_id: Option<String>,
    /// `exec`: the program and its arguments (no shell); empty for the HTTP formats.
    pub command: Vec<String>,
    /// `email`: the SMTP server, sender and recipients (the secret is the SMTP password).
    pub email: Option<Email>,
    /// `match`: labels one of an event's locations must all carry; empty means every event.
    pub matches: Vec<(String, String)>,
    /// Event kinds to send; empty means all.
    pub events: Vec<String>,
    pub min_severity: Severity,
    pub timeout: Duration,
    /// `[alerts] repeat_interval` in seconds: how often an open alert is sent again, so how
    /// long a receiver that expires alerts (Alertmanager's `endsAt`) must keep one.
    pub repeat_interval: i64,
}

impl Webhook {
    /// A webhook with the defaults of a `[[webhook]]` table that sets only `name`, `format`
    /// and `url` (for code that builds one without a config file).
    pub fn new(name: &str, format: WebhookFormat, url: &str) -> Webhook {
        Webhook {
            name: name.to_string(),
            url: Secret::new(url.as_bytes().to_vec()),
            format,
            secret: None,
            chat_id: None,
            command: Vec::new(),
            email: None,
            matches: Vec::new(),
            events: Vec::new(),
            min_severity: Severity::Info,
            timeout: DEFAULT_TIMEOUT,
            repeat_interval: AlertSettings::default().repeat_interval,
        }
    }

    /// The URL with everything after the host hidden, safe for logs and `alerts list` (for
    /// `exec`, the program without its arguments).
    pub fn redacted_url(&self) -> String {
        if self.format == WebhookFormat::Exec {
            return self.command.first().cloned().unwrap_or_default();
        }
        let url = String::from_utf8_lossy(self.url.expose()).into_owned();
        let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
        match url[after_scheme..].find('/') {
            Some(slash) => format!("{}/…", &url[..after_scheme + slash]),
            None => url,
        }
    }

    pub fn url(&self) -> String {
        String::from_utf8_lossy(self.url.expose()).into_owned()
    }

    pub fn wants(&self, kind: &str, severity: Severity) -> bool {
        severity >= self.min_severity
            && (self.events.is_empty() || self.events.iter().any(|e| e == kind))
    }
}

/// Every event kind a webhook may subscribe to.
pub const EVENT_KINDS: &[&str] = &[
    "expiring",
    "expired",
    "not_yet_valid",
    "hostname_mismatch",
    "untrusted",
    "incomplete_chain",
    "chain_expired",
    "chain_not_yet_valid",
    "self_signed",
    "weak_key",
    "weak_signature",
    "stale_served",
    "no_tls13",
    "legacy_tls",
    "revoked",
    "ocsp_must_staple_missing",
    "endpoint_unreachable",
    "starttls_refused",
    "file_missing",
    "certificate_changed",
    "discovered",
    "renewal_succeeded",
    "renewal_failed",
    "deploy_failed",
    "verification_failed",
    "resolved",
    "test",
];

pub fn validate_alerts(raw: RawAlerts, problems: &mut Problems) -> AlertSettings {
    let key = KeyPath::default().key("alerts");
    let mut out = AlertSettings::default();
    if let Some(list) = raw.thresholds {
        let mut parsed = Vec::new();
        for (i, t) in list.iter().enumerate() {
            match parse_duration(t) {
                Ok(d) => parsed.push(d.as_secs() as i64),
                Err(e) => problems.push((key.clone().key("thresholds").index(i), e)),
            }
        }
        parsed.sort_unstable_by(|a, b| b.cmp(a));
        parsed.dedup();
        out.thresholds = parsed;
    }
    match raw.warn_at_lifetime_remaining {
        Some(f) if f > 0.0 && f < 1.0 => out.lifetime_fraction = Some(f),
        Some(f) => problems.push((
            key.clone().key("warn_at_lifetime_remaining"),
            format!("{f} is not a fraction between 0 and 1"),
        )),
        None => {}
    }
    let mut seconds = |name: &str, value: Option<&str>, default: i64| match value {
        None => default,
        Some(text) => match parse_duration(text) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => {
                problems.push((key.clone().key(name), e));
                default
            }
        },
    };
    out.repeat_interval = seconds(
        "repeat_interval",
        raw.repeat_interval.as_deref(),
        out.repeat_interval,
    );
    out.retry_for = seconds("retry_for", raw.retry_for.as_deref(), out.retry_for);
    out.retry_initial = seconds(
        "retry_initial",
        raw.retry_initial.as_deref(),
        out.retry_initial,
    );
    out.retry_max = seconds("retry_max", raw.retry_max.as_deref(), out.retry_max);
    match raw.unreachable_after {
        None => {}
        Some(n) if (1..=1000).contains(&n) => out.unreachable_after = n as u32,
        Some(n) => problems.push((
            key.clone().key("unreachable_after"),
            format!("must be between 1 and 1000, got {n}"),
        )),
    }
    match raw.concurrency {
        None => {}
        Some(n) if (1..=1024).contains(&n) => out.concurrency = n as usize,
        Some(n) => problems.push((
            key.clone().key("concurrency"),
            format!("must be between 1 and 1024, got {n}"),
        )),
    }
    out
}

/// How long one delivery may take unless `timeout` says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The Telegram Bot API server used when a `telegram` webhook names no `url`.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

pub fn validate_webhooks(
    raw: Vec<RawWebhook>,
    base: &Path,
    repeat_interval: i64,
    problems: &mut Problems,
) -> Vec<Webhook> {
    let mut out: Vec<Webhook> = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
        let key = KeyPath::default().key("webhook").index(i);
        if out.iter().any(|o| o.name == w.name) {
            problems.push((
                key.clone().key("name"),
                format!("\"{}\" is used twice", w.name),
            ));
        }
        let format = match w.format.as_deref() {
            None => WebhookFormat::Generic,
            Some(f) => WebhookFormat::parse(f).unwrap_or_else(|| {
                let known: Vec<&str> = WebhookFormat::ALL.iter().map(|f| f.as_str()).collect();
                problems.push((
                    key.clone().key("format"),
                    format!("\"{f}\": use one of {}", known.join(", ")),
                ));
                WebhookFormat::Generic
            }),
        };
        let command = exec_command(w.command, format, w.url.is_some(), &key, base, problems);
        let url = match (w.url, format) {
            (_, WebhookFormat::Exec) => String::new(),
            // Checked with the other e-mail keys.
            (None, WebhookFormat::Email) => String::new(),
            (Some(url), _) => url,
            (None, WebhookFormat::Telegram) => TELEGRAM_API.to_string(),
            (None, _) => {
                problems.push((key.clone().key("url"), "is required".into()));
                String::new()
            }
        };
        if format != WebhookFormat::Email
            && !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://"))
        {
            // Never echo the URL: it may carry a token.
            problems.push((
                key.clone().key("url"),
                "must be an http:// or https:// URL".into(),
            ));
        }
        let secret = super::secret::read_secret(
            w.secret_file.as_deref(),
            w.secret_env.as_deref(),
            &key,
            ("secret_file", "secret_env"),
            base,
            problems,
        )
        .map(|(_, text)| Secret::new(text.trim().as_bytes().to_vec()));
        if matches!(
            format,
            WebhookFormat::Alertmanager
                | WebhookFormat::Ntfy
                | WebhookFormat::Pagerduty
                | WebhookFormat::Telegram
        ) && let Some(s) = &secret
            && !s.expose().iter().all(|b| (0x21..0x7f).contains(b))
        {
            // Never echo the secret itself.
            problems.push((
                key.clone().key("secret_file"),
                format!(
                    "a {} token is visible ASCII without spaces",
                    format.as_str()
                ),
            ));
        }
        if format == WebhookFormat::Pagerduty && secret.is_none() {
            problems.push((
                key.clone().key("secret_file"),
                "pagerduty needs the integration's routing key: set secret_file or secret_env"
                    .into(),
            ));
        }
        if format == WebhookFormat::Telegram {
            if secret.is_none() {
                problems.push((
                    key.clone().key("secret_file"),
                    "telegram needs the bot token (from @BotFather): set secret_file or secret_env"
                        .into(),
                ));
            }
            match w.chat_id.as_deref().map(str::trim) {
                None | Some("") => problems.push((
                    key.clone().key("chat_id"),
                    "telegram needs the chat to post to (a numeric id or @channelname)".into(),
                )),
                Some(id) if !id.chars().all(|c| c.is_ascii_graphic()) => problems.push((
                    key.clone().key("chat_id"),
                    format!("\"{id}\" is not a chat id (a number, or @ and a name)"),
                )),
                Some(_) => {}
            }
        } else if w.chat_id.is_some() {
            problems.push((
                key.clone().key("chat_id"),
                "applies only to format = \"telegram\"".into(),
            ));
        }
        let email = email(
            EmailKeys {
                url: (!url.is_empty()).then_some(url.as_str()),
                from: w.from,
                to: w.to,
                username: w.username,
                smtp_tls: w.smtp_tls,
                ca_file: w.ca_file,
                has_password: secret.is_some(),
            },
            format,
            &key,
            base,
            problems,
        );
        if format == WebhookFormat::Exec && secret.is_some() {
            problems.push((
                key.clone().key("secret_file"),
                "exec passes no secret: the program reads its own credentials".into(),
            ));
        }
        if format == WebhookFormat::Generic
            && let Some(s) = &secret
            && !s.expose().starts_with(b"whsec_")
        {
            problems.push((
                key.clone().key("secret_file"),
                "a Standard Webhooks secret starts with whsec_ (then base64)".into(),
            ));
        }
        let matches: Vec<(String, String)> = w.matches.unwrap_or_default().into_iter().collect();
        for (name, _) in &matches {
            if name.trim().is_empty() {
                problems.push((key.clone().key("match"), "a label name is empty".into()));
            }
        }
        let events = w.events.unwrap_or_default();
        for (e, kind) in events.iter().enumerate() {
            if !EVENT_KINDS.contains(&kind.as_str()) {
                problems.push((
                    key.clone().key("events").index(e),
                    format!(
                        "unknown event \"{kind}\" (known: {})",
                        EVENT_KINDS.join(", ")
                    ),
                ));
            }
        }
        let min_severity = match w.min_severity.as_deref() {
            None | Some("info") => Severity::Info,
            Some("warning") => Severity::Warning,
            Some("critical") => Severity::Critical,
            Some(other) => {
                problems.push((
                    key.clone().key("min_severity"),
                    format!("\"{other}\": use info, warning or critical"),
                ));
                Severity::Info
            }
        };
        let timeout = match w.timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(t) => parse_duration(t).unwrap_or_else(|e| {
                problems.push((key.clone().key("timeout"), e));
                DEFAULT_TIMEOUT
            }),
        };
        out.push(Webhook {
            name: w.name,
            url: Secret::new(url.into_bytes()),
            format,
            secret,
            chat_id: w.chat_id.map(|c| c.trim().to_string()),
            command,
            email,
            matches,
            events,
            min_severity,
            timeout,
            repeat_interval,
        });
    }
    out
}

/// `command` of an `exec` webhook: a program (absolute, or relative to the config file's
/// directory) and its arguments. Every other format takes none.
fn exec_command(
    command: Option<Vec<String>>,
    format: WebhookFormat,
    has_url: bool,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> Vec<String> {
    if format != WebhookFormat::Exec {
        if command.is_some() {
            problems.push((
                key.clone().key("command"),
                "applies only to format = \"exec\"".into(),
            ));
        }
        return Vec::new();
    }
    if has_url {
        problems.push((
            key.clone().key("url"),
            "exec runs `command`; it takes no url".into(),
        ));
    }
    let Some(mut argv) = command.filter(|c| !c.is_empty()) else {
        problems.push((
            key.clone().key("command"),
            "exec needs the program to run, e.g. [\"/usr/local/bin/page-oncall\", \"--team\", \"ops\"]"
                .into(),
        ));
        return Vec::new();
    };
    let program = Path::new(&argv[0]);
    let program = if program.is_absolute() {
        program.to_path_buf()
    } else {
        base.join(program)
    };
    match std::fs::metadata(&program) {
        Ok(m) if m.is_file() => {
            use std::os::unix::fs::PermissionsExt;
            if m.permissions().mode() & 0o111 == 0 {
                problems.push((
                    key.clone().key("command").index(0),
                    format!("{} is not executable", program.display()),
                ));
            }
        }
        Ok(_) => problems.push((
            key.clone().key("command").index(0),
            format!("{} is not a file", program.display()),
        )),
        Err(e) => problems.push((
            key.clone().key("command").index(0),
            format!("{}: {e}", program.display()),
        )),
    }
    argv[0] = program.display().to_string();
    argv
}

/// How an `email` webhook reaches its SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS, required (never mail or a password in clear).
    Starttls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp_tls = "none"`: clear text, only to a relay on this machine (loopback).
    None,
}

/// An `email` webhook's SMTP settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// `certctl <certctl@example.com>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
    /// SMTP AUTH user; the password is the webhook's secret.
    pub username: Option<String>,
    /// Trust anchors added to the system roots for this server (DER).
    pub extra_roots: Vec<Vec<u8>>,
}

struct EmailKeys<'a> {
    url: Option<&'a str>,
    from: Option<String>,
    to: Option<Vec<String>>,
    username: Option<String>,
    smtp_tls: Option<String>,
    ca_file: Option<String>,
    has_password: bool,
}

/// The `email` keys of one webhook, checked; the keys are refused on every other format.
fn email(
    keys: EmailKeys<'_>,
    format: WebhookFormat,
    key: &KeyPath,
    base: &Path,
    problems: &mut Problems,
) -> Option<Email> {
    if format != WebhookFormat::Email {
        for (name, set) in [
            ("from", keys.from.is_some()),
            ("to", keys.to.is_some()),
            ("username", keys.username.is_some()),
            ("smtp_tls", keys.smtp_tls.is_some()),
            ("ca_file", keys.ca_file.is_some()),
        ] {
            if set {
                problems.push((
                    key.clone().key(name),
                    "applies only to format = \"email\"".into(),
                ));
            }
        }
        return None;
    }
    let mut ok = true;
    let mut fail = |name: KeyPath, message: String| {
        problems.push((name, message));
        ok = false;
    };
    let (scheme, rest) = keys
        .url
        .and_then(|u| u.split_once("://"))
        .unwrap_or(("", ""));
    let (mut tls, default_port) = match scheme {
        "smtp" => (SmtpTls::Starttls, 587),
        "smtps" => (SmtpTls::Implicit, 465),
        _ => {
            fail(
                key.clone().key("url"),
                "email needs the SMTP server as smtp://host[:port] (STARTTLS, port 587) or smtps://host[:port] (TLS, port 465)".into(),
            );
            (SmtpTls::Starttls, 587)
        }
    };
    let authority = rest.trim_end_matches('/');
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(p) if p > 0 => (h, p),
            _ => {
                fail(key.clone().key("url"), format!("\"{p}\" is not a port"));
                (h, default_port)
            }
        },
        _ => (authority, default_port),
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !scheme.is_empty() && (host.is_empty() || host.contains(['/', '@', '?'])) {
        fail(
            key.clone().key("url"),
            "the SMTP server is smtp://host[:port], without a user, path or query".into(),
        );
    }
    match keys.smtp_tls.as_deref() {
        None => {}
        Some("starttls") if scheme == "smtp" => {}
        Some("implicit") if scheme == "smtps" => {}
        Some("none") => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if scheme != "smtp" || !loopback {
                fail(
                    key.clone().key("smtp_tls"),
                    "\"none\" (clear text) is only for smtp:// to a relay on this machine (localhost, 127.0.0.1, ::1)".into(),
                );
            }
            tls = SmtpTls::None;
        }
        Some(other) => fail(
            key.clone().key("smtp_tls"),
            format!(
                "\"{other}\": smtp:// is \"starttls\" (or \"none\" to a local relay), smtps:// is \"implicit\""
            ),
        ),
    }
    let from = keys.from.unwrap_or_default();
    if let Err(e) = mailbox(&from) {
        fail(key.clone().key("from"), e);
    }
    let to = keys.to.unwrap_or_default();
    if to.is_empty() {
        fail(
            key.clone().key("to"),
            "email needs at least one recipient".into(),
        );
    }
    for (i, address) in to.iter().enumerate() {
        if let Err(e) = mailbox(address) {
            fail(key.clone().key("to").index(i), e);
        }
    }
    if keys.has_password && keys.username.is_none() {
        fail(
            key.clone().key("username"),
            "an SMTP password (secret_file/secret_env) needs the username to log in with".into(),
        );
    }
    let mut extra_roots = Vec::new();
    if let Some(file) = &keys.ca_file {
        let path = super::resolve(base, file);
        match super::read_ca_file(&path) {
            Err(e) => fail(key.clone().key("ca_file"), e),
            Ok(roots) if roots.is_empty() => fail(
                key.clone().key("ca_file"),
                format!("CA file {} holds no certificate", path.display()),
            ),
            Ok(roots) => extra_roots = roots,
        }
    }
    ok.then_some(Email {
        host,
        port,
        tls,
        from,
        to,
        username: keys.username,
        extra_roots,
    })
}

/// A mailbox as `Name <local@domain>` or `local@domain` (lettre parses it fully when sending).
fn mailbox(text: &str) -> Result<(), String> {
    let text = text.trim();
    let address = match (text.rfind('<'), text.ends_with('>')) {
        (Some(open), true) => &text[open + 1..text.len() - 1],
        (None, false) => text,
        _ => {
            return Err(format!(
                "\"{text}\" is not an address (use a@b or Name <a@b>)"
            ));
        }
    };
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ if text.is_empty() => Err("is required: the address alerts are sent from".into()),
        _ => Err(format!(
            "\"{text}\" is not an address (use a@b or Name <a@b>)"
        )),
    }
}
