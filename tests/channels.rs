//! The chat and paging formats (`pagerduty`, `discord`, `ntfy`) end to end: certctl finds a
//! condition and its end, and a real HTTP receiver started by the test reads what each format
//! posts, checked against the shape each vendor documents (PagerDuty Events API v2, Discord
//! execute-webhook, ntfy publish).

mod common;

use std::time::Duration;

use common::*;

#[test]
fn paging_and_chat_formats_carry_the_alert_and_its_end() {
    let rx = common::receiver::Receiver::start();
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("pd.key"), "R0UTINGKEY0123456789\n").expect("key");
    let path = d.join("certs/pay.pem");
    let config = write_config(
        d,
        &format!(
            "[scan]\nca_files = [\"{root}\"]\n\n[[files]]\npath = \"{path}\"\n\n\
             [[webhook]]\nname = \"pd\"\nformat = \"pagerduty\"\nurl = \"{pd}\"\nsecret_file = \"pd.key\"\n\n\
             [[webhook]]\nname = \"chat\"\nformat = \"discord\"\nurl = \"{discord}\"\n\n\
             [[webhook]]\nname = \"phone\"\nformat = \"ntfy\"\nurl = \"{ntfy}\"\n",
            root = pki.root_path().display(),
            path = path.display(),
            pd = rx.url("/v2/enqueue"),
            discord = rx.url("/api/webhooks/1/tok"),
            ntfy = rx.url("/certs-topic"),
        ),
    );
    let store = d.join("store");
    let cfg = config.to_str().expect("utf8");
    ok(certctl(&store, &["scan", "--config", cfg]));
    let first = rx.wait_for(3, Duration::from_secs(10));
    let on = |p: &str| {
        first
            .iter()
            .find(|r| r.path == p)
            .unwrap_or_else(|| panic!("nothing posted to {p}"))
    };
    let trigger = on("/v2/enqueue").json();
    assert_eq!(trigger["routing_key"], "R0UTINGKEY0123456789");
    assert_eq!(trigger["event_action"], "trigger");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["class"], "file_missing");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("pay.pem")),
        "{trigger:#}"
    );
    let dedup = trigger["dedup_key"]
        .as_str()
        .expect("dedup_key")
        .to_string();
    let discord = on("/api/webhooks/1/tok").json();
    assert_eq!(discord["embeds"][0]["color"], 0xd9_2d_20, "{discord:#}");
    assert!(
        discord["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("[CRITICAL] certctl file_missing")),
        "{discord:#}"
    );
    let ntfy = on("/certs-topic");
    assert_eq!(ntfy.headers.get("priority").map(String::as_str), Some("5"));
    assert!(
        ntfy.headers
            .get("title")
            .is_some_and(|t| t.contains("file_missing")),
        "{:?}",
        ntfy.headers
    );
    assert!(String::from_utf8_lossy(&ntfy.body).contains("pay.pem"));

    // The file arrives: PagerDuty is told to resolve the same incident.
    let leaf = pki.leaf(&["pay.example.test"], -1, 90, SignedBy::Intermediate);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, format!("{}{}", leaf.pem, pki.intermediate.pem())).expect("write");
    ok(certctl(&store, &["scan", "--config", cfg]));
    let all = rx.wait_for(6, Duration::from_secs(10));
    let resolve = all[3..]
        .iter()
        .find(|r| r.path == "/v2/enqueue")
        .expect("a resolve for PagerDuty")
        .json();
    assert_eq!(resolve["event_action"], "resolve", "{resolve:#}");
    assert_eq!(resolve["dedup_key"], dedup.as_str());
    let ntfy_done = all[3..]
        .iter()
        .find(|r| r.path == "/certs-topic")
        .expect("ntfy resolved");
    assert_eq!(
        ntfy_done.headers.get("priority").map(String::as_str),
        Some("2")
    );
}

#[test]
fn pagerduty_without_a_routing_key_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "[[webhook]]\nname = \"pd\"\nformat = \"pagerduty\"\nurl = \"https://events.pagerduty.com/v2/enqueue\"\n",
    );
    let out = certctl_config(&config, &["list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("webhook[0].secret_file: pagerduty needs the integration's routing key"),
        "{err}"
    );
}
