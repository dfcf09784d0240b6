//! Security checks across the whole tool: planted secrets (an EAB HMAC key, a TSIG key, a
//! Standard Webhooks secret, a chat webhook's signing secret and the access token in its URL,
//! a PagerDuty routing key, a Telegram bot token, an ntfy and an Alertmanager bearer token, a
//! Teams workflow URL's `sig`, an SMTP password, a Cloudflare API token, AWS, Tencent, Alibaba
//! and Huawei secret keys and a Google service account's private key)
//! never appear in anything certctl prints or logs (at -vv, and as the daemon), in `--output
//! json`, in `show`, in config errors, or in the store's files; and private material is created
//! with the right modes (keys and credentials 0600, state directories 0700).

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::bind::Bind;
use common::pebble::{Pebble, PebbleOptions};
use common::receiver::Receiver;
use common::*;

const EAB_HMAC: &str = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const DING_SECRET: &str = "SECplanted0ding0secret0value0xyz";
const URL_TOKEN: &str = "planted0access0token0in0the0url";
const PD_KEY: &str = "planted0pagerduty0routing0key00";
const TG_TOKEN: &str = "123456789:planted0telegram0bot0token0xyz";
const SMTP_PASSWORD: &str = "planted0smtp0password0value";
const CF_TOKEN: &str = "planted0cloudflare0api0token0000";
const AWS_SECRET: &str = "planted0aws0secret0access0key0000000000";
const DNSPOD_SECRET: &str = "planted0tencent0secret0key000000";
const ALI_SECRET: &str = "planted0alibaba0accesskey0secret";
const HUAWEI_SECRET: &str = "planted0huawei0secret0access0key0000000";
const NTFY_TOKEN: &str = "tk_planted0ntfy0access0token00000";
const AM_TOKEN: &str = "planted0alertmanager0bearer0token";
const TEAMS_SIG: &str = "planted0teams0workflow0url0signature0";

#[test]
fn planted_secrets_never_leak_and_private_files_are_private() {
    let pebble = Pebble::start(PebbleOptions {
        eab: Some(("kid-1".into(), EAB_HMAC.into())),
        ..PebbleOptions::default()
    });
    let bind = Bind::start("example.test", "certctl-update.");
    let rx = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let secrets_dir = d.join("secrets");
    std::fs::create_dir_all(&secrets_dir).expect("secrets");
    std::fs::write(secrets_dir.join("eab.key"), EAB_HMAC).expect("eab");
    std::fs::write(secrets_dir.join("ops.whsec"), WHSEC).expect("whsec");
    std::fs::write(secrets_dir.join("pd.key"), PD_KEY).expect("pd");
    std::fs::write(secrets_dir.join("tg.token"), TG_TOKEN).expect("tg");
    std::fs::write(secrets_dir.join("smtp.pw"), SMTP_PASSWORD).expect("smtp");
    std::fs::write(secrets_dir.join("cf.token"), CF_TOKEN).expect("cf");
    std::fs::write(secrets_dir.join("dp.key"), DNSPOD_SECRET).expect("dp");
    std::fs::write(secrets_dir.join("ali.key"), ALI_SECRET).expect("ali");
    std::fs::write(secrets_dir.join("hw.key"), HUAWEI_SECRET).expect("hw");
    std::fs::write(secrets_dir.join("ntfy.token"), NTFY_TOKEN).expect("ntfy");
    std::fs::write(secrets_dir.join("am.token"), AM_TOKEN).expect("am");
    let api_down = free_port();
    let smtp_down = free_port();
    // A Google service account key: its PEM lines are the planted secret.
    let gc_pem = secrets_dir.join("gc.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&gc_pem)
        .output()
        .expect("openssl");
    assert!(made.status.success(), "{}", stderr(&made));
    let gc_pem = std::fs::read_to_string(&gc_pem).expect("pem");
    std::fs::write(
        secrets_dir.join("gc.json"),
        serde_json::json!({
            "type": "service_account",
            "project_id": "planted",
            "private_key_id": "0a1b2c3d",
            "private_key": gc_pem,
            "client_email": "dns@planted.iam.gserviceaccount.com",
            "token_uri": format!("http://127.0.0.1:{api_down}/token"),
        })
        .to_string(),
    )
    .expect("gc");
    let tsig = bind.key_file();
    let metrics = free_port();
    // The TSIG key goes to a BIND that Pebble does not use: the rfc2136 certificate is only
    // configured, so its secret is loaded and must stay hidden, while `www` is issued.
    let text = format!(
        "[store]\npath = \"{d}/state/store\"\n[daemon]\nmetrics_listen = \"127.0.0.1:{metrics}\"\nshutdown_grace = \"3s\"\n[alerts]\nretry_initial = \"1s\"\n\
[acme.accounts.pebble]\ndirectory = \"{url}\"\nagree_tos = true\nca_file = \"{ca}\"\neab_kid = \"kid-1\"\neab_hmac_key_file = \"{s}/eab.key\"\n\
[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{p}\"\n\
[[certificate]]\nname = \"dns\"\ndomains = [\"dns.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"rfc2136\"\ndns_server = \"127.0.0.1:{bp}\"\ntsig_key = \"{bk}\"\ntsig_secret_file = \"{tsig}\"\n\
[[certificate]]\nname = \"cf\"\ndomains = [\"cf.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"cloudflare\"\ndns_api_url = \"http://127.0.0.1:{api_down}\"\ndns_api_key_file = \"{s}/cf.token\"\n\
[[certificate]]\nname = \"r53\"\ndomains = [\"r53.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"route53\"\ndns_api_url = \"http://127.0.0.1:{api_down}\"\ndns_api_key_id = \"AKIAPLANTED\"\ndns_api_key_env = \"R53_SECRET\"\n\
[[certificate]]\nname = \"gc\"\ndomains = [\"gc.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"gcloud\"\ndns_api_url = \"http://127.0.0.1:{api_down}\"\ndns_api_key_file = \"{s}/gc.json\"\n\
[[certificate]]\nname = \"dp\"\ndomains = [\"dp.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"dnspod\"\ndns_api_url = \"http://127.0.0.1:{api_down}\"\ndns_api_key_id = \"AKIDPLANTED\"\ndns_api_key_file = \"{s}/dp.key\"\n\
[[certificate]]\nname = \"ali\"\ndomains = [\"ali.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"alidns\"\ndns_api_url = \"http://127.0.0.1:{api_down}\"\ndns_api_key_id = \"LTAIPLANTED\"\ndns_api_key_file = \"{s}/ali.key\"\n\
[[certificate]]\nname = \"hw\"\ndomains = [\"hw.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"huaweidns\"\ndns_api_url = \"http://127.0.0.1:{api_down}\"\ndns_api_key_id = \"AKPLANTED\"\ndns_api_key_file = \"{s}/hw.key\"\n\
[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{hook}\"\nsecret_file = \"{s}/ops.whsec\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"ding\"\nformat = \"dingtalk\"\nurl = \"{hook}?access_token={URL_TOKEN}\"\nsecret_env = \"DING_SECRET\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"pd\"\nformat = \"pagerduty\"\nurl = \"{hook}\"\nsecret_file = \"{s}/pd.key\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"ntfy\"\nformat = \"ntfy\"\nurl = \"{hook}/certs\"\nsecret_file = \"{s}/ntfy.token\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"am\"\nformat = \"alertmanager\"\nurl = \"{hook}\"\nsecret_file = \"{s}/am.token\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"teams\"\nformat = \"teams\"\nurl = \"{hook}/workflows/1/triggers/manual/paths/invoke?api-version=1&sig={TEAMS_SIG}\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"tg\"\nformat = \"telegram\"\nurl = \"{hook}\"\nchat_id = \"-1001\"\nsecret_file = \"{s}/tg.token\"\ntimeout = \"2s\"\n\
[[webhook]]\nname = \"mail\"\nformat = \"email\"\nurl = \"smtp://127.0.0.1:{smtp_down}\"\nfrom = \"certctl@example.test\"\nto = [\"ops@example.test\"]\nusername = \"certctl\"\nsecret_file = \"{s}/smtp.pw\"\ntimeout = \"2s\"\n",
        d = d.display(),
        url = pebble.directory(),
        ca = pebble.tls_root().display(),
        s = secrets_dir.display(),
        p = pebble.http_port,
        bp = bind.port,
        bk = bind.key_name,
        tsig = tsig.display(),
        hook = rx.url("/hook"),
    );
    let config = write_config(d, &text);
    let run = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env_remove("CERTCTL_STORE")
            .env("DING_SECRET", DING_SECRET)
            .env("R53_SECRET", AWS_SECRET)
            .env("NO_COLOR", "1")
            .output()
            .expect("run certctl")
    };
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut record = |what: &str, out: &Output| {
        outputs.push((what.to_string(), format!("{}{}", stdout(out), stderr(out))));
    };

    let out = run(&["-vv", "issue", "www"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    record("issue -vv", &out);
    for args in [
        vec!["-vv", "scan"],
        vec!["list"],
        vec!["list", "-o", "json"],
        vec!["list", "-o", "csv"],
        vec!["show", "www"],
        vec!["show", "www", "-o", "json"],
        vec!["check"],
        vec!["accounts", "-o", "json"],
        vec!["-vv", "renew", "--all", "--dry-run"],
        // The DNS APIs are down: the errors name them, never the credentials.
        vec!["-vv", "issue", "cf"],
        vec!["-vv", "issue", "r53"],
        vec!["-vv", "issue", "gc"],
        vec!["-vv", "issue", "dp"],
        vec!["-vv", "issue", "ali"],
        vec!["-vv", "issue", "hw"],
        vec!["show", "cf", "-o", "json"],
        vec!["-vv", "alerts", "test", "ops"],
        vec!["-vv", "alerts", "test", "ding"],
        vec!["-vv", "alerts", "test", "tg"],
        vec!["-vv", "alerts", "test", "ntfy"],
        vec!["-vv", "alerts", "test", "am"],
        vec!["-vv", "alerts", "test", "teams"],
        vec!["-vv", "alerts", "test", "mail"],
        vec!["alerts", "list", "-o", "json"],
        vec!["history"],
        vec!["audit", "verify"],
    ] {
        let out = run(&args);
        record(&args.join(" "), &out);
    }

    // The daemon at -vv, its status and its metrics.
    let log = d.join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["run", "-vv", "--log-format", "json", "--config"])
        .arg(&config)
        .env_remove("CERTCTL_STORE")
        .env_remove("NOTIFY_SOCKET")
        .env("DING_SECRET", DING_SECRET)
        .env("R53_SECRET", AWS_SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("certctl run");
    std::thread::sleep(Duration::from_secs(3));
    let out = run(&["status"]);
    record("status", &out);
    let out = Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{metrics}/metrics")])
        .output()
        .expect("curl");
    record("/metrics", &out);
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let daemon_log = std::fs::read_to_string(&log).expect("log");

    // A config error next to the secrets: the error is reported, the secrets are not.
    let broken = d.join("broken.toml");
    std::fs::write(
        &broken,
        text.replace("timeout = \"2s\"", "timeout = \"two seconds\""),
    )
    .expect("broken");
    let out = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["list", "--config"])
        .arg(&broken)
        .env("DING_SECRET", DING_SECRET)
        .env("R53_SECRET", AWS_SECRET)
        .output()
        .expect("certctl");
    assert_eq!(out.status.code(), Some(3));
    record("config error", &out);

    outputs.push(("daemon log".into(), daemon_log));

    // Every form a secret could take in text.
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let planted = [
        EAB_HMAC.to_string(),
        WHSEC.to_string(),
        WHSEC.trim_start_matches("whsec_").to_string(),
        DING_SECRET.to_string(),
        URL_TOKEN.to_string(),
        PD_KEY.to_string(),
        TG_TOKEN.to_string(),
        SMTP_PASSWORD.to_string(),
        CF_TOKEN.to_string(),
        AWS_SECRET.to_string(),
        DNSPOD_SECRET.to_string(),
        ALI_SECRET.to_string(),
        HUAWEI_SECRET.to_string(),
        NTFY_TOKEN.to_string(),
        AM_TOKEN.to_string(),
        TEAMS_SIG.to_string(),
        b64(SMTP_PASSWORD),
        b64(&format!("\0certctl\0{SMTP_PASSWORD}")),
        "planted0telegram0bot0token0xyz".to_string(),
        bind.secret.clone(),
        b64(EAB_HMAC),
        b64(DING_SECRET),
    ]
    .into_iter()
    .chain(
        gc_pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(String::from),
    )
    .collect::<Vec<_>>();
    assert!(outputs.len() > 15);
    for (what, text) in &outputs {
        for secret in &planted {
            assert!(
                !text.contains(secret.as_str()),
                "{what} leaked {secret}:\n{text}"
            );
        }
    }
    // The DNS credentials were loaded and used (the APIs were tried), yet nothing shows them.
    for (args, provider) in [
        ("-vv issue cf", "cloudflare"),
        ("-vv issue r53", "route53"),
        ("-vv issue gc", "gcloud"),
        ("-vv issue dp", "dnspod"),
        ("-vv issue ali", "alidns"),
        ("-vv issue hw", "huaweidns"),
    ] {
        let (_, text) = outputs.iter().find(|(w, _)| w == args).expect("recorded");
        assert!(
            text.contains(&format!("{provider} adding TXT _acme-challenge.")),
            "{text}"
        );
    }
    // The chat webhook got its request (so the secrets were really used), yet nothing shows them.
    assert!(
        rx.requests().iter().any(|r| r.path.contains(URL_TOKEN)),
        "the dingtalk test request arrived with its token"
    );
    assert!(
        rx.requests()
            .iter()
            .any(|r| r.path == format!("/hook/bot{TG_TOKEN}/sendMessage")),
        "the telegram test request arrived with its bot token"
    );
    for token in [NTFY_TOKEN, AM_TOKEN] {
        let bearer = format!("Bearer {token}");
        assert!(
            rx.requests()
                .iter()
                .any(|r| r.headers.get("authorization") == Some(&bearer)),
            "the ntfy and alertmanager test requests arrived with their bearer tokens"
        );
    }
    assert!(
        rx.requests().iter().any(|r| r.path.contains(TEAMS_SIG)),
        "the teams test request arrived with its sig"
    );
    // Nor are they written anywhere in the state directory (store, accounts, certificates).
    let state = d.join("state");
    for file in files_under(&state).into_iter().filter(|f| f.is_file()) {
        let bytes = std::fs::read(&file).expect("read");
        for secret in &planted {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds {secret}",
                file.display()
            );
        }
    }

    // Modes: private material 0600, state directories 0700.
    assert_eq!(mode(&state), 0o700, "state dir");
    assert_eq!(mode(&state.join("store")), 0o700, "store dir");
    assert_eq!(mode(&state.join("certs")), 0o700, "certs dir");
    let mut keys = 0;
    for file in files_under(&state).into_iter().filter(|f| f.is_file()) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "privkey.pem" || file.starts_with(state.join("accounts")) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
            keys += 1;
        }
    }
    assert!(keys >= 2, "an account file and a private key were checked");
}
