//! The `email` channel against a real mail system: postfix (STARTTLS and wrapper-mode TLS,
//! SMTP AUTH through dovecot's auth service, both from Debian, started on 127.0.0.1) delivers
//! into Maildirs that the test reads back. The alert and its `resolved` arrive as one thread,
//! with a plain-text and an HTML part; a rejected login or sender is a permanent failure, a
//! server that is down keeps its delivery queued.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::servers::{self, Material};
use common::*;

const PASSWORD: &str = "planted0smtp0password";

/// The messages delivered to `box`, oldest first, waiting until there are `n`.
fn messages(maildirs: &Path, mailbox: &str, n: usize, postfix: &servers::Server) -> Vec<String> {
    let new = maildirs.join(mailbox).join("new");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        if files.len() >= n {
            // Maildir names start with the delivery time in seconds, then a sequence.
            files.sort_by_key(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok());
            return files
                .iter()
                .map(|f| std::fs::read_to_string(f).expect("message"))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "{n} message(s) for {mailbox} did not arrive ({} did): {}",
            files.len(),
            postfix.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of a header (unfolded), if the message has it.
fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next().unwrap_or(message);
    let head = head.split("\n\n").next().unwrap_or(head);
    let unfolded = head.replace("\r\n ", " ").replace("\n ", " ");
    let prefix = format!("{}:", name.to_ascii_lowercase());
    unfolded
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

#[test]
fn alerts_arrive_by_mail_as_one_thread_with_text_and_html() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let leaf = pki.leaf(&["localhost"], -1, 90, SignedBy::Intermediate);
    let (fullchain, key) = pki.write_leaf("mail", &leaf, true);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(pki.dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let material = Material { fullchain, key };
    let (smtp, smtps) = (free_port(), free_port());
    let (postfix, _dovecot, mail) = servers::mail_system(
        &material,
        smtp,
        smtps,
        &[("certctl", PASSWORD)],
        &["oncall", "pki", "noauth"],
    );
    let maildirs = mail.path().join("mail");
    std::fs::write(d.join("smtp.password"), format!("{PASSWORD}\n")).expect("password");
    std::fs::write(d.join("wrong.password"), "not-it\n").expect("password");
    let cert = d.join("pay.pem");
    std::fs::write(
        &cert,
        pki.leaf(&["pay.example.test"], -100, 10, SignedBy::Intermediate)
            .pem,
    )
    .expect("cert");
    let down = free_port();
    let config = write_config(
        d,
        &format!(
            "[store]\npath = \"{d}/store\"\n[alerts]\nretry_initial = \"1s\"\n\
             [[files]]\npath = \"{cert}\"\nname = \"pay\"\n\n\
             [[webhook]]\nname = \"mail\"\nformat = \"email\"\nurl = \"smtp://localhost:{smtp}\"\n\
             from = \"certctl <certctl@example.test>\"\nto = [\"oncall@example.test\", \"PKI team <pki@example.test>\"]\n\
             username = \"certctl\"\nsecret_file = \"smtp.password\"\nca_file = \"{root}\"\n\n\
             [[webhook]]\nname = \"wrapped\"\nformat = \"email\"\nurl = \"smtps://localhost:{smtps}\"\n\
             from = \"certctl@example.test\"\nto = [\"pki@example.test\"]\nevents = [\"expiring\"]\n\
             username = \"certctl\"\nsecret_file = \"smtp.password\"\nca_file = \"{root}\"\n\n\
             [[webhook]]\nname = \"anonymous\"\nformat = \"email\"\nurl = \"smtp://localhost:{smtp}\"\n\
             from = \"certctl@example.test\"\nto = [\"noauth@example.test\"]\nca_file = \"{root}\"\n\n\
             [[webhook]]\nname = \"badlogin\"\nformat = \"email\"\nurl = \"smtp://localhost:{smtp}\"\n\
             from = \"certctl@example.test\"\nto = [\"noauth@example.test\"]\nca_file = \"{root}\"\n\
             username = \"certctl\"\nsecret_file = \"wrong.password\"\n\n\
             [[webhook]]\nname = \"untrusted\"\nformat = \"email\"\nurl = \"smtp://localhost:{smtp}\"\n\
             from = \"certctl@example.test\"\nto = [\"noauth@example.test\"]\n\n\
             [[webhook]]\nname = \"down\"\nformat = \"email\"\nurl = \"smtp://localhost:{down}\"\n\
             from = \"certctl@example.test\"\nto = [\"noauth@example.test\"]\ntimeout = \"3s\"\n",
            d = d.display(),
            cert = cert.display(),
            root = pki.root_path().display(),
        ),
    );
    let out = certctl_config(&config, &["-vv", "scan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains(PASSWORD) && !stdout(&out).contains(PASSWORD),
        "the SMTP password is never logged"
    );

    let first = messages(&maildirs, "oncall", 1, &postfix);
    let m = &first[0];
    let subject = header(m, "Subject").expect("subject");
    assert!(
        subject.starts_with("[WARNING] certctl expiring: pay"),
        "{subject}"
    );
    assert_eq!(
        header(m, "From").as_deref(),
        Some("certctl <certctl@example.test>")
    );
    let to = header(m, "To").expect("to");
    assert!(
        to.contains("oncall@example.test") && to.contains("<pki@example.test>"),
        "{to}"
    );
    assert_eq!(header(m, "X-Certctl-Kind").as_deref(), Some("expiring"));
    assert_eq!(
        header(m, "Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
    let alert_id = header(m, "X-Certctl-Alert-Id").expect("alert id");
    let thread = format!("<certctl.{alert_id}@example.test>");
    assert_eq!(header(m, "Message-ID").as_deref(), Some(thread.as_str()));
    assert!(header(m, "In-Reply-To").is_none());
    assert!(
        header(m, "Content-Type").is_some_and(|c| c.starts_with("multipart/alternative")),
        "{m}"
    );
    assert!(m.contains("Content-Type: text/plain"), "{m}");
    assert!(m.contains("Content-Type: text/html"), "{m}");
    assert!(m.contains("pay.example.test"), "{m}");
    // Over TLS and logged in, by STARTTLS and in wrapper mode: postfix records ESMTPSA
    // (S: TLS, A: SMTP AUTH) in Received.
    let pki_box = messages(&maildirs, "pki", 2, &postfix);
    assert!(
        pki_box.iter().all(|m| m.contains(" with ESMTPSA id ")),
        "STARTTLS and wrapper mode: {pki_box:?}"
    );

    // The failures: no login and a wrong password are refused for good (5xx): dead at once.
    // A server that is down, and one whose certificate is not trusted, are retried.
    let listed: serde_json::Value =
        serde_json::from_slice(&certctl_config(&config, &["alerts", "list", "-o", "json"]).stdout)
            .expect("json");
    let delivery = |hook: &str| delivery_of(&listed, hook);
    for hook in ["anonymous", "badlogin"] {
        let dl = delivery(hook);
        assert_eq!(dl["state"], "dead", "{dl:#}");
        assert!(
            dl["last_error"].as_str().is_some_and(|e| e.contains(" 5")),
            "{dl:#}"
        );
    }
    for hook in ["down", "untrusted"] {
        let dl = delivery(hook);
        assert_eq!(dl["state"], "retrying", "{dl:#}");
    }
    assert!(
        delivery("untrusted")["last_error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("certificate")),
        "{listed:#}"
    );
    assert!(
        !listed.to_string().contains(PASSWORD),
        "the password is never shown"
    );
    let noauth = maildirs.join("noauth").join("new");
    assert!(
        std::fs::read_dir(&noauth).map(|d| d.count()).unwrap_or(0) == 0,
        "nothing was accepted without a login"
    );

    // The certificate is renewed: `resolved` replies to the alert's thread.
    std::fs::write(
        &cert,
        pki.leaf(&["pay.example.test"], -1, 90, SignedBy::Intermediate)
            .pem,
    )
    .expect("renewed");
    ok(certctl_config(&config, &["scan"]));
    let all = messages(&maildirs, "oncall", 3, &postfix);
    let resolved = all
        .iter()
        .find(|m| header(m, "X-Certctl-Kind").as_deref() == Some("resolved"))
        .unwrap_or_else(|| panic!("no resolved among {all:?}"));
    assert_eq!(
        header(resolved, "In-Reply-To").as_deref(),
        Some(thread.as_str())
    );
    assert_eq!(
        header(resolved, "References").as_deref(),
        Some(thread.as_str())
    );
    assert!(
        header(resolved, "Subject").is_some_and(|s| s.starts_with("[RESOLVED]")),
        "{resolved}"
    );
}

#[test]
fn email_settings_are_checked_when_the_config_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), "x\n").expect("pw");
    let config = write_config(
        dir.path(),
        "[[webhook]]\nname = \"a\"\nformat = \"email\"\nurl = \"https://mail.example.test\"\nfrom = \"nobody\"\n\n\
         [[webhook]]\nname = \"b\"\nformat = \"email\"\nurl = \"smtp://mail.example.test:25\"\nsmtp_tls = \"none\"\n\
         from = \"a@example.test\"\nto = [\"ops@\"]\nsecret_file = \"pw\"\n\n\
         [[webhook]]\nname = \"c\"\nformat = \"slack\"\nurl = \"https://hooks.slack.com/x\"\nto = [\"a@b\"]\n\n\
         [[webhook]]\nname = \"d\"\nformat = \"email\"\nurl = \"smtp://127.0.0.1:2525\"\nsmtp_tls = \"none\"\n\
         from = \"a@example.test\"\nto = [\"b@example.test\"]\nca_file = \"missing.pem\"\n",
    );
    let out = certctl_config(&config, &["list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for expected in [
        "webhook[0].url: email needs the SMTP server as smtp://host[:port]",
        "webhook[0].from: \"nobody\" is not an address",
        "webhook[0].to: email needs at least one recipient",
        "webhook[1].smtp_tls: \"none\" (clear text) is only for smtp:// to a relay on this machine",
        "webhook[1].to[0]: \"ops@\" is not an address",
        "webhook[1].username: an SMTP password",
        "webhook[2].to: applies only to format = \"email\"",
        "webhook[3].ca_file: cannot read CA file",
    ] {
        assert!(err.contains(expected), "{expected}:\n{err}");
    }
}
