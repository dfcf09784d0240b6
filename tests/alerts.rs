//! Webhook alerts against real HTTP receivers on 127.0.0.1: payload shapes and signatures,
//! outages, retries with Retry-After, 410, a crash with deliveries pending, dedup, secrets.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use base64::Engine;
use common::receiver::Receiver;
use common::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Env {
    dir: tempfile::TempDir,
    pki: Pki,
    config: PathBuf,
    cert: PathBuf,
}

impl Env {
    /// A certificate file expiring in 10 days (a warning), and a config with `webhooks`.
    fn new(webhooks: &str, alerts: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new();
        let leaf = pki.leaf(&["pay.example.test"], -100, 10, SignedBy::Intermediate);
        let cert = dir.path().join("pay.pem");
        std::fs::write(&cert, &leaf.pem).expect("cert");
        std::fs::write(dir.path().join("secret"), SECRET).expect("secret");
        let text = format!(
            "[store]\npath = \"{d}/store\"\n[alerts]\nretry_initial = \"1s\"\n{alerts}\n[[files]]\npath = \"{c}\"\nname = \"pay\"\n{webhooks}",
            d = dir.path().display(),
            c = cert.display()
        );
        let config = write_config(dir.path(), &text);
        Env {
            dir,
            pki,
            config,
            cert,
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        certctl_config(&self.config, args)
    }

    fn secret_path(&self) -> PathBuf {
        self.dir.path().join("secret")
    }
}

fn webhook(name: &str, format: &str, url: &str, extra: &str) -> String {
    format!(
        "[[webhook]]\nname = \"{name}\"\nformat = \"{format}\"\nurl = \"{url}\"\ntimeout = \"2s\"\n{extra}\n"
    )
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key), message)
        .as_ref()
        .to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Verifies a Standard Webhooks signature as a receiver would.
fn verify_standard_webhook(req: &common::receiver::Request) -> bool {
    let id = &req.headers["webhook-id"];
    let ts = &req.headers["webhook-timestamp"];
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .expect("secret");
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&req.body);
    let expected = format!("v1,{}", b64(&hmac(&key, &signed)));
    req.headers["webhook-signature"]
        .split(' ')
        .any(|s| s == expected)
}

#[test]
fn generic_payload_is_signed_and_a_tampered_body_fails_verification() {
    let rx = Receiver::start();
    let env = Env::new(
        &webhook(
            "ops",
            "generic",
            &rx.url("/hook"),
            &format!("secret_file = \"{}\"", "SECRET_PATH"),
        ),
        "",
    );
    // Point the webhook at the real secret file.
    let text = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace("SECRET_PATH", env.secret_path().to_str().expect("utf8"));
    std::fs::write(&env.config, text).expect("config");

    let out = env.run(&["scan", "-vv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(reqs.len(), 1, "exactly one alert for one crossing");
    let req = &reqs[0];
    assert!(
        verify_standard_webhook(req),
        "signature must verify: {:?}",
        req.headers
    );
    let mut tampered = req.clone();
    tampered.body = String::from_utf8_lossy(&req.body)
        .replace("pay.example.test", "evil.example.test")
        .into_bytes();
    assert!(
        !verify_standard_webhook(&tampered),
        "a tampered body must fail"
    );
    let body = req.json();
    assert_eq!(body["type"], "certctl.expiring");
    let data = &body["data"];
    assert_eq!(data["kind"], "expiring");
    assert_eq!(data["severity"], "warning");
    assert_eq!(data["threshold"], "14d");
    assert_eq!(data["certificate"]["sans"][0], "pay.example.test");
    assert_eq!(
        data["locations"][0],
        format!("{} (pay)", env.cert.display())
    );
    assert_eq!(data["id"].as_str().expect("id").len(), 16);
    // The secret never shows up in what certctl prints or logs.
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!printed.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));

    // A second scan sends nothing new (no reminder before repeat_interval).
    env.run(&["scan"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 1);
}

#[test]
fn chat_formats_have_their_shapes_and_signatures() {
    let rx = Receiver::start();
    let hooks = [
        webhook("slack", "slack", &rx.url("/slack"), ""),
        webhook(
            "ding",
            "dingtalk",
            &rx.url("/ding?access_token=TOKEN123"),
            "secret_env = \"DING_SECRET\"",
        ),
        webhook("wecom", "wecom", &rx.url("/wecom?key=KEY123"), ""),
        webhook(
            "feishu",
            "feishu",
            &rx.url("/feishu"),
            "secret_env = \"FEISHU_SECRET\"",
        ),
    ]
    .concat();
    let env = Env::new(&hooks, "");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args([
            "scan",
            "-vv",
            "--config",
            env.config.to_str().expect("utf8"),
        ])
        .env_remove("CERTCTL_STORE")
        .env("DING_SECRET", "SECding")
        .env("FEISHU_SECRET", "SECfeishu")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let reqs = rx.wait_for(4, Duration::from_secs(5));
    assert_eq!(reqs.len(), 4);
    let by = |p: &str| {
        reqs.iter()
            .find(|r| r.path.starts_with(p))
            .cloned()
            .expect(p)
    };

    let slack = by("/slack").json();
    assert!(slack["text"].as_str().expect("text").contains("expiring"));
    assert_eq!(slack["blocks"][0]["type"], "header");
    assert_eq!(slack["blocks"][1]["text"]["type"], "mrkdwn");

    let ding = by("/ding");
    assert_eq!(ding.json()["msgtype"], "markdown");
    let query: std::collections::HashMap<&str, &str> = ding
        .path
        .split_once('?')
        .expect("query")
        .1
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let ts = query["timestamp"];
    let expected = b64(&hmac(b"SECding", format!("{ts}\nSECding").as_bytes()))
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    assert_eq!(query["sign"], expected);
    assert_eq!(query["access_token"], "TOKEN123");

    let wecom = by("/wecom").json();
    assert_eq!(wecom["msgtype"], "markdown");
    assert!(
        wecom["markdown"]["content"]
            .as_str()
            .expect("md")
            .contains("pay.example.test")
    );

    let feishu = by("/feishu").json();
    assert_eq!(feishu["msg_type"], "interactive");
    assert_eq!(feishu["card"]["header"]["template"], "orange");
    let ts = feishu["timestamp"].as_str().expect("ts");
    assert_eq!(
        feishu["sign"],
        b64(&hmac(format!("{ts}\nSECfeishu").as_bytes(), b""))
    );
    // Webhook URLs carry tokens: they are never printed.
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !printed.contains("TOKEN123")
            && !printed.contains("KEY123")
            && !printed.contains("SECding")
    );
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn receiver_down_then_up_gets_the_same_event() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let env = Env::new(&webhook("ops", "generic", &url, ""), "");
    let out = env.run(&["scan"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("queued"), "{}", stderr(&out));
    let listed = json(&env.run(&["alerts", "list", "-o", "json"]));
    let delivery = &listed["deliveries"][0];
    assert_eq!(delivery["state"], "retrying");
    let event_id = delivery["event_id"].as_str().expect("id").to_string();
    assert!(
        delivery["last_error"]
            .as_str()
            .expect("error")
            .contains("refused"),
        "{delivery}"
    );

    let rx = Receiver::start_on(&format!("127.0.0.1:{port}"));
    std::thread::sleep(Duration::from_millis(1500));
    let out = env.run(&["alerts", "deliver"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].json()["data"]["id"], event_id.as_str());
    let listed = json(&env.run(&["alerts", "list", "-o", "json"]));
    assert_eq!(listed["queued"], 0);
}

#[test]
fn retry_after_on_429_is_honoured() {
    let rx = Receiver::start();
    rx.respond(500, &[]);
    rx.respond(429, &[("retry-after", "3")]);
    let env = Env::new(&webhook("ops", "generic", &rx.url("/hook"), ""), "");
    env.run(&["scan"]); // attempt 1: 500, retried after about a second
    std::thread::sleep(Duration::from_millis(1300));
    env.run(&["alerts", "deliver"]); // attempt 2: 429, Retry-After 3 s
    assert_eq!(rx.requests().len(), 2);
    env.run(&["alerts", "deliver"]); // too early: nothing is sent
    assert_eq!(rx.requests().len(), 2);
    std::thread::sleep(Duration::from_millis(3200));
    env.run(&["alerts", "deliver"]); // attempt 3: delivered
    let reqs = rx.wait_for(3, Duration::from_secs(5));
    assert_eq!(reqs.len(), 3);
    let gap = reqs[2].at - reqs[1].at;
    assert!(
        gap >= Duration::from_secs(3),
        "Retry-After ignored: {gap:?}"
    );
    assert_eq!(reqs[0].headers["webhook-id"], reqs[2].headers["webhook-id"]);
    assert_eq!(
        json(&env.run(&["alerts", "list", "-o", "json"]))["queued"],
        0
    );
}

#[test]
fn gone_disables_the_webhook() {
    let rx = Receiver::start();
    rx.respond(410, &[]);
    let env = Env::new(&webhook("ops", "generic", &rx.url("/hook"), ""), "");
    let out = env.run(&["scan"]);
    assert_eq!(out.status.code(), Some(0));
    let listed = json(&env.run(&["alerts", "list", "-o", "json"]));
    assert_eq!(listed["disabled_webhooks"][0]["name"], "ops");
    assert_eq!(listed["deliveries"][0]["state"], "dead");
    // Dead deliveries can be re-queued once the webhook is enabled again.
    let id = listed["deliveries"][0]["id"]
        .as_u64()
        .expect("id")
        .to_string();
    assert_eq!(env.run(&["alerts", "enable", "ops"]).status.code(), Some(0));
    assert_eq!(env.run(&["alerts", "retry", &id]).status.code(), Some(0));
    env.run(&["alerts", "deliver"]);
    assert_eq!(rx.wait_for(2, Duration::from_secs(5)).len(), 2);
    assert_eq!(
        json(&env.run(&["alerts", "list", "-o", "json"]))["queued"],
        0
    );
}

#[test]
fn a_crash_with_deliveries_pending_delivers_after_restart() {
    let rx = Receiver::start();
    rx.hang(true);
    let env = Env::new(
        &webhook("ops", "generic", &rx.url("/hook"), "timeout = \"30s\""),
        "",
    );
    let text = std::fs::read_to_string(&env.config)
        .expect("config")
        .replace("timeout = \"2s\"\ntimeout = \"30s\"", "timeout = \"30s\"");
    std::fs::write(&env.config, text).expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["scan", "--config", env.config.to_str().expect("utf8")])
        .env_remove("CERTCTL_STORE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the delivery is in flight (the receiver holds the connection), then kill -9.
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().expect("kill");
    child.wait().expect("wait");
    rx.hang(false);
    let out = env.run(&["alerts", "deliver"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(reqs.len(), 1, "the queued alert survived the crash");
    assert_eq!(reqs[0].json()["data"]["kind"], "expiring");
}

#[test]
fn two_hundred_locations_one_alert_and_resolved_after_renewal() {
    let rx = Receiver::start();
    let env = Env::new(&webhook("ops", "generic", &rx.url("/hook"), ""), "");
    let pem = std::fs::read_to_string(&env.cert).expect("cert");
    std::fs::write(&env.cert, pem.repeat(200)).expect("bundle");
    env.run(&["scan"]);
    let reqs = rx.wait_for(1, Duration::from_secs(5));
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].json()["data"]["locations"]
            .as_array()
            .expect("locations")
            .len(),
        200
    );

    // The file is replaced by a renewed certificate: one `resolved`.
    let renewed = env
        .pki
        .leaf(&["pay.example.test"], -1, 90, SignedBy::Intermediate);
    std::fs::write(&env.cert, renewed.pem.repeat(200)).expect("renewed");
    env.run(&["scan"]);
    let reqs = rx.wait_for(3, Duration::from_secs(5));
    assert_eq!(reqs.len(), 3, "one resolved, one certificate_changed");
    let kind =
        |r: &common::receiver::Request| r.json()["data"]["kind"].as_str().map(str::to_string);
    let resolved = reqs
        .iter()
        .find(|r| kind(r).as_deref() == Some("resolved"))
        .expect("resolved")
        .json();
    assert_eq!(
        resolved["data"]["resolves"]["id"],
        reqs[0].json()["data"]["id"]
    );
    let changed = reqs
        .iter()
        .find(|r| kind(r).as_deref() == Some("certificate_changed"))
        .expect("changed")
        .json();
    assert_eq!(
        changed["data"]["locations"]
            .as_array()
            .expect("locations")
            .len(),
        200
    );
    env.run(&["scan"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 3, "nothing more once resolved");
}

#[test]
fn alerts_test_reports_the_http_result() {
    let rx = Receiver::start();
    let env = Env::new(
        &[
            webhook("ok", "slack", &rx.url("/ok"), ""),
            webhook(
                "down",
                "generic",
                &format!("http://{}/x", closed_port()),
                "",
            ),
        ]
        .concat(),
        "",
    );
    let out = env.run(&["alerts", "test", "ok"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("HTTP 200"), "{}", stdout(&out));
    assert_eq!(rx.wait_for(1, Duration::from_secs(5)).len(), 1);
    let out = env.run(&["alerts", "test", "down"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("FAILED"), "{}", stdout(&out));
    let out = env.run(&["alerts", "test", "nope"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn webhook_config_errors_are_reported_without_echoing_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "[[webhook]]\nname = \"x\"\nformat = \"msteams\"\nurl = \"ftp://secret-token@host\"\nevents = [\"expiring\", \"bogus\"]\nmin_severity = \"loud\"\n",
    );
    let out = certctl(
        &dir.path().join("store"),
        &["list", "-c", config.to_str().expect("utf8")],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    for key in [
        "webhook[0].format",
        "webhook[0].url",
        "webhook[0].events[1]",
        "webhook[0].min_severity",
    ] {
        assert!(err.contains(key), "{key} missing in {err}");
    }
    assert!(!err.contains("secret-token"), "{err}");
    let _ = Path::new("");
}

#[test]
fn redirects_are_not_followed_and_filters_apply() {
    let rx = Receiver::start();
    rx.respond(302, &[("location", "http://127.0.0.1:1/elsewhere")]);
    let hooks = [
        webhook("ops", "generic", &rx.url("/ops"), ""),
        // Only critical events: a warning must not reach it.
        webhook(
            "pager",
            "generic",
            &rx.url("/pager"),
            "min_severity = \"critical\"",
        ),
        // Only renewal events.
        webhook(
            "renewals",
            "generic",
            &rx.url("/renewals"),
            "events = [\"renewal_failed\"]",
        ),
    ]
    .concat();
    let env = Env::new(&hooks, "");
    env.run(&["scan"]);
    std::thread::sleep(Duration::from_millis(500));
    let reqs = rx.requests();
    assert_eq!(
        reqs.len(),
        1,
        "{:?}",
        reqs.iter().map(|r| r.path.clone()).collect::<Vec<_>>()
    );
    assert_eq!(reqs[0].path, "/ops");
    let listed = json(&env.run(&["alerts", "list", "-o", "json"]));
    let d = &listed["deliveries"][0];
    assert_eq!(d["state"], "retrying");
    assert!(
        d["last_error"]
            .as_str()
            .expect("error")
            .contains("redirects are not followed"),
        "{d}"
    );
}

/// A webhook that accepts connections and never answers holds at most half the delivery
/// slots: the healthy webhook's deliveries all go out without waiting behind its timeouts, and
/// once it has timed out its remaining deliveries wait for their retry untried, instead of
/// each waiting out the same timeout.
#[test]
fn a_hanging_webhook_never_delays_the_others() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = Pki::new();
    const N: usize = 24;
    let mut files = String::new();
    for i in 0..N {
        let leaf = pki.leaf(
            &[&format!("p{i}.example.test")],
            -100,
            10,
            SignedBy::Intermediate,
        );
        let cert = d.join(format!("p{i}.pem"));
        std::fs::write(&cert, &leaf.pem).expect("cert");
        files.push_str(&format!(
            "[[files]]\npath = \"{}\"\nname = \"p{i}\"\n",
            cert.display()
        ));
    }
    // The black hole: every connection accepted, held open, never answered.
    let hole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hole_url = format!("http://{}/hook", hole.local_addr().expect("addr"));
    let accepted = Arc::new(AtomicUsize::new(0));
    let first_accept: Arc<std::sync::Mutex<Option<std::time::Instant>>> = Arc::default();
    {
        let (accepted, first_accept) = (Arc::clone(&accepted), Arc::clone(&first_accept));
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in hole.incoming().flatten() {
                first_accept
                    .lock()
                    .expect("lock")
                    .get_or_insert_with(std::time::Instant::now);
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
    }
    let rx = Receiver::start();
    let config = write_config(
        d,
        &format!(
            "[store]\npath = \"{d}/store\"\n[alerts]\nretry_initial = \"1m\"\nconcurrency = 8\n{files}\
             [[webhook]]\nname = \"hole\"\nformat = \"generic\"\nurl = \"{hole_url}\"\ntimeout = \"5s\"\n\
             [[webhook]]\nname = \"ok\"\nformat = \"generic\"\nurl = \"{}\"\ntimeout = \"5s\"\n",
            rx.url("/hook"),
            d = d.display()
        ),
    );
    let out = certctl_config(&config, &["scan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ok = rx.wait_for(N, Duration::from_secs(5));
    assert_eq!(
        ok.len(),
        N,
        "every delivery of the healthy webhook went out"
    );
    let first = first_accept
        .lock()
        .expect("lock")
        .expect("the hole was tried");
    let last_ok = ok.iter().map(|r| r.at).max().expect("requests");
    assert!(
        last_ok < first + Duration::from_secs(5),
        "a healthy delivery waited behind the hanging webhook's 5 s timeout"
    );
    // Half of the 8 slots while the healthy deliveries wait, all 8 once they are done (no one
    // else waits), then nothing more in this pass: not 24 connections, one timeout after another.
    assert_eq!(accepted.load(Ordering::SeqCst), 8);
    let listed = json(&certctl_config(&config, &["alerts", "list", "-o", "json"]));
    let holes: Vec<&serde_json::Value> = listed["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["webhook"] == "hole")
        .collect();
    assert_eq!(holes.len(), N, "{listed:#}");
    let untried = holes
        .iter()
        .filter(|d| {
            d["state"] == "pending"
                && d["attempts"] == 0
                && d["last_error"]
                    .as_str()
                    .is_some_and(|e| e == "no answer within 5s (not tried again in this pass)")
        })
        .count();
    let timed_out = holes
        .iter()
        .filter(|d| d["state"] == "retrying" && d["last_error"] == "no answer within 5s")
        .count();
    assert_eq!(timed_out, 8, "{listed:#}");
    assert_eq!(untried, N - 8, "{listed:#}");
}
