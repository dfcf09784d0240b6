//! The chat and paging formats (`pagerduty`, `discord`, `ntfy`, `teams`, `telegram`) end to
//! end: certctl finds a condition and its end, and a real HTTP receiver started by the test
//! reads what each format posts, checked against the shape each vendor documents (PagerDuty
//! Events API v2, Discord execute-webhook, ntfy publish, a Teams Workflows Adaptive Card, the
//! Telegram Bot API's sendMessage).

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
    std::fs::write(d.join("tg.token"), "4242:BOTtoken_x\n").expect("token");
    let path = d.join("certs/pay.pem");
    let config = write_config(
        d,
        &format!(
            "[scan]\nca_files = [\"{root}\"]\n\n[[files]]\npath = \"{path}\"\n\n\
             [[webhook]]\nname = \"pd\"\nformat = \"pagerduty\"\nurl = \"{pd}\"\nsecret_file = \"pd.key\"\n\n\
             [[webhook]]\nname = \"chat\"\nformat = \"discord\"\nurl = \"{discord}\"\n\n\
             [[webhook]]\nname = \"phone\"\nformat = \"ntfy\"\nurl = \"{ntfy}\"\n\n\
             [[webhook]]\nname = \"teams\"\nformat = \"teams\"\nurl = \"{teams}\"\n\n\
             [[webhook]]\nname = \"tg\"\nformat = \"telegram\"\nurl = \"{tg}\"\nchat_id = \"-100777\"\nsecret_file = \"tg.token\"\n",
            root = pki.root_path().display(),
            path = path.display(),
            pd = rx.url("/v2/enqueue"),
            discord = rx.url("/api/webhooks/1/tok"),
            ntfy = rx.url("/certs-topic"),
            teams = rx.url("/workflows/abc/triggers/manual/paths/invoke?sig=s1"),
            tg = rx.url(""),
        ),
    );
    let store = d.join("store");
    let cfg = config.to_str().expect("utf8");
    ok(certctl(&store, &["scan", "--config", cfg]));
    let first = rx.wait_for(5, Duration::from_secs(10));
    let on = |p: &str| {
        first
            .iter()
            .find(|r| r.path == p || r.path.split('?').next() == Some(p))
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
    let teams = on("/workflows/abc/triggers/manual/paths/invoke").json();
    assert_eq!(teams["type"], "message", "{teams:#}");
    let card = &teams["attachments"][0];
    assert_eq!(
        card["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    assert_eq!(
        card["content"]["body"][0]["color"], "Attention",
        "{teams:#}"
    );
    assert!(
        card["content"]["body"][1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("pay.pem")),
        "{teams:#}"
    );
    let tg = on("/bot4242:BOTtoken_x/sendMessage").json();
    assert_eq!(tg["chat_id"], "-100777", "{tg:#}");
    assert_eq!(tg["parse_mode"], "HTML");
    assert!(
        tg["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("<b>[CRITICAL] certctl file_missing</b>\n")),
        "{tg:#}"
    );

    // The file arrives: PagerDuty is told to resolve the same incident.
    let leaf = pki.leaf(&["pay.example.test"], -1, 90, SignedBy::Intermediate);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, format!("{}{}", leaf.pem, pki.intermediate.pem())).expect("write");
    ok(certctl(&store, &["scan", "--config", cfg]));
    let all = rx.wait_for(10, Duration::from_secs(10));
    let resolve = all[5..]
        .iter()
        .find(|r| r.path == "/v2/enqueue")
        .expect("a resolve for PagerDuty")
        .json();
    assert_eq!(resolve["event_action"], "resolve", "{resolve:#}");
    assert_eq!(resolve["dedup_key"], dedup.as_str());
    let tg_done = all[5..]
        .iter()
        .find(|r| r.path.starts_with("/bot"))
        .expect("telegram resolved")
        .json();
    assert!(
        tg_done["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("<b>[RESOLVED]")),
        "{tg_done:#}"
    );
    let ntfy_done = all[5..]
        .iter()
        .find(|r| r.path == "/certs-topic")
        .expect("ntfy resolved");
    assert_eq!(
        ntfy_done.headers.get("priority").map(String::as_str),
        Some("2")
    );
}

#[test]
fn telegram_needs_a_token_and_a_chat() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        "[[webhook]]\nname = \"tg\"\nformat = \"telegram\"\n\n\
         [[webhook]]\nname = \"chat\"\nformat = \"slack\"\nurl = \"https://hooks.slack.com/x\"\nchat_id = \"1\"\n",
    );
    let out = certctl_config(&config, &["list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for expected in [
        "webhook[0].secret_file: telegram needs the bot token",
        "webhook[0].chat_id: telegram needs the chat to post to",
        "webhook[1].chat_id: applies only to format = \"telegram\"",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(
        !err.contains("webhook[0].url"),
        "telegram's url has a default: {err}"
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

/// Writes an executable shell script.
fn script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).expect("script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn exec_hands_the_event_to_a_program_whose_exit_status_decides_retry() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let leaf = pki.leaf(&["pay.example.test"], -100, 10, SignedBy::Intermediate);
    let cert = d.join("pay.pem");
    std::fs::write(&cert, &leaf.pem).expect("cert");
    // `pager` is busy once (75: retried), then takes the event; `broken` fails for good (2);
    // `slow` never finishes (killed at its timeout, retried).
    let calls = d.join("calls");
    script(
        &d.join("pager.sh"),
        &format!(
            "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
             cat > {d}/stdin.$n\nenv > {d}/env.$n\n\
             if [ $n = 1 ]; then echo 'pager busy, try later' >&2; exit 75; fi\nexit 0\n",
            c = calls.display(),
            d = d.display()
        ),
    );
    script(
        &d.join("broken.sh"),
        "echo 'no such team: ops' >&2\nexit 2\n",
    );
    script(&d.join("slow.sh"), "sleep 30\n");
    let config = write_config(
        d,
        &format!(
            "[store]\npath = \"{d}/store\"\n[alerts]\nretry_initial = \"1s\"\n\
             [[files]]\npath = \"{cert}\"\nname = \"pay\"\n\n\
             [[webhook]]\nname = \"pager\"\nformat = \"exec\"\ncommand = [\"pager.sh\", \"--team\", \"payments\"]\n\n\
             [[webhook]]\nname = \"broken\"\nformat = \"exec\"\ncommand = [\"{d}/broken.sh\"]\n\n\
             [[webhook]]\nname = \"slow\"\nformat = \"exec\"\ncommand = [\"{d}/slow.sh\"]\ntimeout = \"1s\"\n",
            d = d.display(),
            cert = cert.display()
        ),
    );
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("PLANTED_FOR_CERTCTL", "not-for-the-program")
            .output()
            .expect("certctl")
    };
    let started = std::time::Instant::now();
    let out = run(&["scan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the slow program was killed at its timeout"
    );
    let listed: serde_json::Value =
        serde_json::from_slice(&run(&["alerts", "list", "-o", "json"]).stdout).expect("json");
    let delivery = |hook: &str| delivery_of(&listed, hook);
    let pager = delivery("pager");
    assert_eq!(pager["state"], "retrying", "{pager:#}");
    assert_eq!(
        pager["last_error"],
        "exit status 75 (temporary failure, retried): pager busy, try later"
    );
    let broken = delivery("broken");
    assert_eq!(broken["state"], "dead", "{broken:#}");
    assert_eq!(
        broken["last_error"],
        "exit status 2 (permanent failure): no such team: ops"
    );
    let slow = delivery("slow");
    assert_eq!(slow["state"], "retrying", "{slow:#}");
    assert!(
        slow["last_error"]
            .as_str()
            .is_some_and(|e| e.ends_with("slow.sh` did not finish within 1s: killed")),
        "{slow:#}"
    );

    // The retry: the program takes the event, on stdin and in its environment.
    std::thread::sleep(Duration::from_millis(1500));
    let out = run(&["alerts", "deliver"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&calls).expect("calls").trim(), "2");
    let stdin: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("stdin.2")).expect("stdin")).expect("json");
    assert_eq!(stdin["type"], "certctl.expiring", "{stdin:#}");
    assert_eq!(stdin["data"]["severity"], "warning");
    let env = std::fs::read_to_string(d.join("env.2")).expect("env");
    for expected in [
        "CERTCTL_WEBHOOK=pager",
        "CERTCTL_KIND=expiring",
        "CERTCTL_SEVERITY=warning",
        "CERTCTL_SANS=pay.example.test",
        "CERTCTL_THRESHOLD=",
        &format!(
            "CERTCTL_ALERT_ID={}",
            stdin["data"]["id"].as_str().expect("id")
        ),
    ] {
        assert!(env.contains(expected), "{expected} missing:\n{env}");
    }
    assert!(env.contains("PATH="), "{env}");
    assert!(
        !env.contains("PLANTED_FOR_CERTCTL"),
        "certctl's environment is not passed on:\n{env}"
    );

    // `alerts test` runs the program too and prints its exit status.
    let out = run(&["alerts", "test", "pager"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("pager (exec, ") && said.contains("pager.sh): exit status 0 in "),
        "{said}"
    );
    let out = run(&["alerts", "test", "broken"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("FAILED after"), "{}", stdout(&out));
}

#[test]
fn exec_webhooks_are_checked_when_the_config_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("plain.sh"), "#!/bin/sh\n").expect("plain");
    let config = write_config(
        dir.path(),
        "[[webhook]]\nname = \"a\"\nformat = \"exec\"\n\n\
         [[webhook]]\nname = \"b\"\nformat = \"exec\"\ncommand = [\"plain.sh\"]\nurl = \"https://x.test/\"\n\n\
         [[webhook]]\nname = \"c\"\nformat = \"exec\"\ncommand = [\"/nonexistent/page\"]\n\n\
         [[webhook]]\nname = \"d\"\nformat = \"slack\"\nurl = \"https://hooks.slack.com/x\"\ncommand = [\"/bin/true\"]\n",
    );
    let out = certctl_config(&config, &["list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    for expected in [
        "webhook[0].command: exec needs the program to run",
        "webhook[1].url: exec runs `command`; it takes no url",
        "webhook[1].command[0]: ",
        "plain.sh is not executable",
        "webhook[2].command[0]: /nonexistent/page: No such file or directory",
        "webhook[3].command: applies only to format = \"exec\"",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

#[test]
fn match_routes_each_teams_certificates_to_its_own_webhook() {
    let rx = common::receiver::Receiver::start();
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let expiring = |name: &str| pki.leaf(&[name], -100, 10, SignedBy::Intermediate).pem;
    std::fs::write(d.join("pay.pem"), expiring("pay.example.test")).expect("pay");
    std::fs::write(d.join("www.pem"), expiring("www.example.test")).expect("www");
    let config = write_config(
        d,
        &format!(
            "[store]\npath = \"{d}/store\"\n[scan]\nca_files = [\"{root}\"]\n\n\
             [[files]]\npath = \"{d}/pay.pem\"\nname = \"pay\"\nlabels = {{ team = \"payments\", env = \"prod\" }}\n\n\
             [[files]]\npath = \"{d}/www.pem\"\nname = \"www\"\nlabels = {{ team = \"web\" }}\n\n\
             [[webhook]]\nname = \"payments\"\nurl = \"{payments}\"\nmatch = {{ team = \"payments\", env = \"prod\" }}\n\n\
             [[webhook]]\nname = \"web\"\nurl = \"{web}\"\nmatch = {{ team = \"web\" }}\n\n\
             [[webhook]]\nname = \"staging\"\nurl = \"{staging}\"\nmatch = {{ env = \"staging\" }}\n\n\
             [[webhook]]\nname = \"all\"\nurl = \"{all}\"\n",
            d = d.display(),
            root = pki.root_path().display(),
            payments = rx.url("/payments"),
            web = rx.url("/web"),
            staging = rx.url("/staging"),
            all = rx.url("/all"),
        ),
    );
    ok(certctl_config(&config, &["scan"]));
    let got = rx.wait_for(4, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got = if rx.requests().len() > got.len() {
        rx.requests()
    } else {
        got
    };
    let subjects = |path: &str| -> Vec<String> {
        let mut s: Vec<String> = got
            .iter()
            .filter(|r| r.path == path)
            .map(|r| {
                r.json()["data"]["summary"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        s.sort();
        s
    };
    let payments = subjects("/payments");
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert!(payments[0].contains("pay.example.test"), "{payments:?}");
    let web = subjects("/web");
    assert_eq!(web.len(), 1, "{web:?}");
    assert!(web[0].contains("www.example.test"), "{web:?}");
    assert!(
        subjects("/staging").is_empty(),
        "no location has env=staging"
    );
    assert_eq!(
        subjects("/all").len(),
        2,
        "a webhook without match gets everything"
    );

    // pay is renewed: its `resolved` and `certificate_changed` go to the payments team (and
    // to `all`) only.
    std::fs::write(
        d.join("pay.pem"),
        pki.leaf(&["pay.example.test"], -1, 90, SignedBy::Intermediate)
            .pem,
    )
    .expect("renewed");
    ok(certctl_config(&config, &["scan"]));
    let all = rx.wait_for(8, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let later: Vec<(String, String)> = rx.requests()[got.len()..]
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.json()["type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(all.len(), 8, "{later:?}");
    let mut later = later;
    later.sort();
    let pair = |p: &str, t: &str| (p.to_string(), format!("certctl.{t}"));
    assert_eq!(
        later,
        vec![
            pair("/all", "certificate_changed"),
            pair("/all", "resolved"),
            pair("/payments", "certificate_changed"),
            pair("/payments", "resolved"),
        ]
    );
}
