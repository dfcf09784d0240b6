//! STARTTLS and implicit-TLS protocols against the real servers from Debian (postfix, dovecot,
//! slapd, vsftpd, PostgreSQL, MariaDB, prosody) with certificates made in the test, then servers that refuse the
//! upgrade and peers that answer garbage, drip, inject or say nothing: each a finding, bounded
//! in time.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::servers::{self, Material};
use common::*;
use serde_json::Value;

fn material(pki: &Pki, leaf: &Leaf) -> Material {
    let (fullchain, key) = pki.write_leaf("mail", leaf, true);
    // The servers' own users (postgres) must reach the files; the key stays unreadable to others.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(pki.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Material { fullchain, key }
}

/// Scans the `[[endpoint]]` tables in `endpoints` (2 s timeout, trusting the test root) and
/// returns the JSON locations by target.
fn scan_config(pki: &Pki, endpoints: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[scan]\ntimeout = \"2s\"\nca_files = [\"{}\"]\n\n{endpoints}",
            pki.root_path().display()
        ),
    );
    let store = dir.path().join("store");
    let doc = certctl_json(
        &store,
        &[
            "scan",
            "--config",
            config.to_str().expect("utf8"),
            "-o",
            "json",
        ],
    );
    doc["locations"].as_array().expect("locations").clone()
}

fn by_target<'a>(locations: &'a [Value], target: &str) -> &'a Value {
    locations
        .iter()
        .find(|l| l["target"] == target)
        .unwrap_or_else(|| panic!("no location {target} in {locations:#?}"))
}

#[test]
fn every_protocol_shows_the_certificate_its_server_serves() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["mail.test"], -1, 60, SignedBy::Intermediate);
    let m = material(&pki, &leaf);
    let [smtp, smtps, imap, pop3, imaps, ldap, ldaps, ftp, pg] = free_ports::<9>();
    let [my, xmpp, xmpps] = free_ports::<3>();
    let postfix = servers::postfix(Some(&m), smtp, smtps);
    let _dovecot = servers::dovecot(&m, imap, pop3, imaps);
    let _slapd = servers::slapd(&m, ldap, ldaps);
    let _vsftpd = servers::vsftpd(&m, ftp);
    let _postgres = servers::postgres(Some(&m), pg);
    let _mariadb = servers::mariadb(Some(&m), my);
    let _prosody = servers::prosody(&m, "mail.test", xmpp, xmpps);
    let urls = [
        format!("smtp://127.0.0.1:{smtp}"),
        format!("smtps://127.0.0.1:{smtps}"),
        format!("pop3://127.0.0.1:{pop3}"),
        format!("imaps://127.0.0.1:{imaps}"),
        format!("ldap://127.0.0.1:{ldap}"),
        format!("ldaps://127.0.0.1:{ldaps}"),
        format!("ftp://127.0.0.1:{ftp}"),
        format!("postgres://127.0.0.1:{pg}/"),
        format!("mysql://127.0.0.1:{my}"),
        format!("xmpp://127.0.0.1:{xmpp}"),
        format!("xmpps://127.0.0.1:{xmpps}"),
    ];
    let mut endpoints: String = urls
        .iter()
        .map(|u| format!("[[endpoint]]\naddress = \"{u}\"\nserver_name = \"mail.test\"\n\n"))
        .collect();
    // The protocol named by the config key instead of a scheme.
    endpoints.push_str(&format!(
        "[[endpoint]]\naddress = \"127.0.0.1:{imap}\"\nprotocol = \"imap\"\nserver_name = \"mail.test\"\n"
    ));
    let locations = scan_config(&pki, &endpoints);
    let expected = [
        (format!("smtp://127.0.0.1:{smtp} (mail.test)"), Some("smtp")),
        (format!("127.0.0.1:{smtps} (mail.test)"), None),
        (format!("imap://127.0.0.1:{imap} (mail.test)"), Some("imap")),
        (format!("pop3://127.0.0.1:{pop3} (mail.test)"), Some("pop3")),
        (format!("127.0.0.1:{imaps} (mail.test)"), None),
        (format!("ldap://127.0.0.1:{ldap} (mail.test)"), Some("ldap")),
        (format!("127.0.0.1:{ldaps} (mail.test)"), None),
        (format!("ftp://127.0.0.1:{ftp} (mail.test)"), Some("ftp")),
        (
            format!("postgres://127.0.0.1:{pg} (mail.test)"),
            Some("postgres"),
        ),
        (format!("mysql://127.0.0.1:{my} (mail.test)"), Some("mysql")),
        (format!("xmpp://127.0.0.1:{xmpp} (mail.test)"), Some("xmpp")),
        (format!("127.0.0.1:{xmpps} (mail.test)"), None),
    ];
    assert_eq!(locations.len(), expected.len(), "{locations:#?}");
    for (target, protocol) in &expected {
        let loc = by_target(&locations, target);
        assert_eq!(
            loc["status"],
            "ok",
            "{target}: {loc:#}\n{}",
            postfix.log_text()
        );
        assert_eq!(loc["certificate"]["serial"], leaf.serial_hex, "{target}");
        assert_eq!(loc["certificate"]["subject"], "CN=mail.test", "{target}");
        assert_eq!(loc["protocol"].as_str(), *protocol, "{target}: {loc:#}");
        assert!(
            loc["tls"]["version"]
                .as_str()
                .is_some_and(|v| v.starts_with("TLSv1.")),
            "{target}: {loc:#}"
        );
    }
}

#[test]
fn servers_that_will_not_upgrade_are_starttls_refused() {
    let pki = Pki::new();
    let [smtp, smtps, pg, my, xmpp, xmpps] = free_ports::<6>();
    // A postfix with TLS turned off does not list STARTTLS in its EHLO reply.
    let _postfix = servers::postfix(None, smtp, smtps);
    // A PostgreSQL with ssl = off answers the SSLRequest with N.
    let _postgres = servers::postgres(None, pg);
    // A MariaDB with --skip-ssl leaves CLIENT_SSL out of its handshake.
    let _mariadb = servers::mariadb(None, my);
    // prosody closes a stream to a domain it does not serve with host-unknown.
    let leaf = pki.leaf(&["chat.test"], -1, 60, SignedBy::Intermediate);
    let _prosody = servers::prosody(&material(&pki, &leaf), "chat.test", xmpp, xmpps);
    let locations = scan_config(
        &pki,
        &format!(
            "[[endpoint]]\naddress = \"smtp://127.0.0.1:{smtp}\"\n\n\
             [[endpoint]]\naddress = \"127.0.0.1:{pg}\"\nprotocol = \"postgres\"\n\n\
             [[endpoint]]\naddress = \"mysql://127.0.0.1:{my}\"\n\n\
             [[endpoint]]\naddress = \"xmpp://127.0.0.1:{xmpp}\"\nserver_name = \"elsewhere.test\"\n"
        ),
    );
    for (target, words) in [
        (
            format!("mysql://127.0.0.1:{my}"),
            "mysql server MySQL 5.5.5-10.",
        ),
        (format!("mysql://127.0.0.1:{my}"), "does not offer TLS"),
        (
            format!("xmpp://127.0.0.1:{xmpp} (elsewhere.test)"),
            "closed the stream with the error host-unknown",
        ),
    ] {
        let loc = by_target(&locations, &target);
        assert_eq!(codes(loc), vec!["starttls_refused"], "{loc:#}");
        let message = loc["findings"][0]["message"].as_str().expect("message");
        assert!(message.contains(words), "{words}: {message}");
    }
    let smtp_loc = by_target(&locations, &format!("smtp://127.0.0.1:{smtp}"));
    assert_eq!(codes(smtp_loc), vec!["starttls_refused"], "{smtp_loc:#}");
    let message = smtp_loc["findings"][0]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("does not offer STARTTLS") && message.contains("PIPELINING"),
        "{message}"
    );
    assert_eq!(smtp_loc["status"], "critical");
    let pg_loc = by_target(&locations, &format!("postgres://127.0.0.1:{pg}"));
    assert_eq!(codes(pg_loc), vec!["starttls_refused"], "{pg_loc:#}");
    assert!(
        pg_loc["findings"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("answered N to SSLRequest")),
        "{pg_loc:#}"
    );
}

/// A peer that runs `script` on every connection (in its own thread).
fn scripted(script: fn(&mut TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || script(&mut stream));
        }
    });
    addr
}

/// Reads whatever the client sent (one read), so scripts answer after each command.
fn heard(stream: &mut TcpStream) -> usize {
    let mut buf = [0u8; 1024];
    stream.read(&mut buf).unwrap_or(0)
}

#[test]
fn hostile_starttls_peers_are_findings_bounded_in_time() {
    let pki = Pki::new();
    // One line without an end.
    let endless_line = scripted(|s| {
        let _ = s.write_all(b"220 ");
        let _ = s.write_all(&[b'x'; 10_000]);
        std::thread::sleep(Duration::from_secs(5));
    });
    // Agrees to STARTTLS and sends more in the same packet (command injection).
    let injecting = scripted(|s| {
        let _ = s.write_all(b"220 mx ESMTP\r\n");
        heard(s);
        let _ = s.write_all(b"250-mx\r\n250 STARTTLS\r\n");
        heard(s);
        let _ = s.write_all(b"220 go ahead\r\n250 injected\r\n");
        std::thread::sleep(Duration::from_secs(5));
    });
    // Drips one byte at a time, never finishing a line: only the deadline stops it.
    let dripping = scripted(|s| {
        for _ in 0..100 {
            if s.write_all(b"2").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    // Answers an LDAP request with text, a PostgreSQL SSLRequest with a wrong byte, an XMPP
    // stream header with HTTP.
    let text = scripted(|s| {
        heard(s);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        std::thread::sleep(Duration::from_secs(5));
    });
    let closes = scripted(|s| {
        let _ = s.write_all(b"* OK ready\r\n");
    });
    let silent = silent_server();
    let cases = [
        (
            format!("smtp://{endless_line}"),
            "starttls_refused",
            "longer than 4096 bytes",
        ),
        (
            format!("smtp://{injecting}"),
            "starttls_refused",
            "after agreeing to STARTTLS",
        ),
        (format!("imap://{dripping}"), "timeout", "imap STARTTLS"),
        (
            format!("ldap://{text}"),
            "starttls_refused",
            "not an LDAP message",
        ),
        (
            format!("postgres://{text}"),
            "starttls_refused",
            "byte 0x48",
        ),
        (
            format!("imap://{closes}"),
            "starttls_refused",
            "closed the connection",
        ),
        (format!("pop3://{silent}"), "timeout", "pop3 STARTTLS"),
        (
            format!("mysql://{endless_line}"),
            "starttls_refused",
            "which is not a MySQL handshake",
        ),
        (format!("mysql://{silent}"), "timeout", "mysql STARTTLS"),
        (
            format!("xmpp://{text}"),
            "starttls_refused",
            "which is not XML",
        ),
        (format!("xmpp://{silent}"), "timeout", "xmpp STARTTLS"),
    ];
    let endpoints: String = cases
        .iter()
        .map(|(u, _, _)| format!("[[endpoint]]\naddress = \"{u}\"\n\n"))
        .collect();
    let started = Instant::now();
    let locations = scan_config(&pki, &endpoints);
    // Concurrent scans, each bounded by the 2 s timeout: far below the peers' 5 s and 20 s.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    for (url, code, words) in &cases {
        let loc = by_target(&locations, url);
        assert_eq!(codes(loc), vec![code.to_string()], "{url}: {loc:#}");
        let message = loc["findings"][0]["message"].as_str().expect("message");
        assert!(message.contains(words), "{url}: {message}");
    }
}

#[test]
fn protocols_are_checked_where_they_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "[[endpoint]]\naddress = \"mail:25\"\nprotocol = \"smtpp\"\n\n\
         [[endpoint]]\naddress = \"ldaps://dir:636\"\nprotocol = \"ldap\"\n\n\
         [[endpoint]]\naddress = \"mysql://db:3306\"\nprotocol = \"xmpp\"\n\n\
         [[endpoint]]\naddress = \"smtp://mail\"\n\n\
         [[endpoint]]\naddress = \"mail:25\"\nprotocol = \"smtp\"\n",
    );
    let out = certctl_config(&config, &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(":3: endpoint[0].protocol: \"smtpp\" is not a TLS protocol"),
        "{err}"
    );
    assert!(
        err.contains("endpoint[1].address: protocol \"ldap\" contradicts the scheme"),
        "{err}"
    );
    assert!(
        err.contains(
            "endpoint[2].address: protocol \"xmpp\" contradicts the scheme of \"mysql://db:3306\""
        ),
        "{err}"
    );
    // Two spellings of one location would be scanned twice and alert twice.
    assert!(
        err.contains("endpoint[4]: the same endpoint as endpoint[3] (smtp://mail:25)"),
        "{err}"
    );
}
