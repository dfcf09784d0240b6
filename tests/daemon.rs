//! `certctl run` as systemd would run it: sd_notify READY, metrics, the control socket, SIGHUP
//! with a broken config, SIGTERM, a second daemon, cron schedules, socket permissions.

mod common;

use std::io::Read;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct Daemon {
    child: Child,
    notify: UnixDatagram,
    dir: tempfile::TempDir,
    config: PathBuf,
    metrics: u16,
    _pki: Pki,
}

impl Daemon {
    fn start(extra: &str) -> Daemon {
        Daemon::start_with_env(extra, &[])
    }

    fn start_with_env(extra: &str, env: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Pki::new();
        let leaf = pki.leaf(&["d.example.test"], -100, 20, SignedBy::Intermediate);
        let cert = dir.path().join("d.pem");
        std::fs::write(&cert, &leaf.pem).expect("cert");
        let metrics = free_port();
        let text = format!(
            "[store]\npath = \"{d}/state/store\"\n[daemon]\nmetrics_listen = \"127.0.0.1:{metrics}\"\nshutdown_grace = \"5s\"\n{extra}\n[[files]]\npath = \"{c}\"\nname = \"d\"\nlabels = {{ team = \"pay\" }}\n",
            d = dir.path().display(),
            c = cert.display()
        );
        let config = write_config(dir.path(), &text);
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
        notify
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let child = Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["run", "--config", config.to_str().expect("utf8")])
            .env("NOTIFY_SOCKET", &notify_path)
            .envs(env.iter().copied())
            .env_remove("CERTCTL_STORE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn certctl run");
        Daemon {
            child,
            notify,
            dir,
            config,
            metrics,
            _pki: pki,
        }
    }

    /// Waits for a notify message containing `what`.
    fn wait_notify(&self, what: &str) -> String {
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                if msg.contains(what) {
                    return msg;
                }
            }
        }
        panic!("no {what} from the daemon");
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        certctl_config(&self.config, args)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("state/certctl.sock")
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    fn metrics(&self) -> String {
        http_get(self.metrics, "/metrics")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    text
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn systemd_lifecycle_socket_metrics_reload_and_stop() {
    let mut d = Daemon::start("");
    d.wait_notify("READY=1");
    wait_until("the first scan", || {
        d.metrics().contains("certctl_scans_total 1")
    });
    let metrics = d.metrics();
    assert!(
        metrics.contains("certctl_cert_not_after_seconds{name=\"d\""),
        "{metrics}"
    );
    assert!(metrics.contains("certctl_finding{name=\"d\""), "{metrics}");
    // What a lifetime-relative rule needs, the user's labels, and the version.
    let not_before = metrics
        .lines()
        .find(|l| l.starts_with("certctl_cert_not_before_seconds{name=\"d\""))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(not_before.contains("label_team=\"pay\""), "{not_before}");
    assert!(
        metrics.contains(&format!(
            "certctl_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{metrics}"
    );
    assert!(http_get(d.metrics, "/healthz").contains("200 OK"));
    assert!(http_get(d.metrics, "/readyz").contains("200 OK"));

    // The CLI works while the daemon holds the store: through the socket.
    let out = d.cli(&["list", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["locations"][0]["name"], "d");
    let status = d.cli(&["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert!(stdout(&status).contains("scan"), "{}", stdout(&status));
    let out = d.cli(&["check"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "20 days left is a warning: {}",
        stdout(&out)
    );

    // A second daemon on the same store is refused clearly.
    let second = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["run", "--config", d.config.to_str().expect("utf8")])
        .env_remove("CERTCTL_STORE")
        .output()
        .expect("second run");
    assert_eq!(second.status.code(), Some(3));
    let err = stderr(&second);
    assert!(
        err.contains("in use by another certctl process") || err.contains("another certctl daemon"),
        "{err}"
    );

    // SIGHUP with a broken config: rejected, the old one stays in force.
    let good = std::fs::read_to_string(&d.config).expect("config");
    std::fs::write(&d.config, format!("{good}\nnot_a_key = 1\n")).expect("break config");
    d.signal("-HUP");
    // (The broken file cannot tell the CLI where the socket is: name it.)
    let socket = d.socket().display().to_string();
    wait_until("the reload to be rejected", || {
        stdout(&d.cli(&["status", "--socket", &socket])).contains("config reload rejected")
    });
    std::fs::write(&d.config, &good).expect("restore");
    assert_eq!(d.cli(&["list"]).status.code(), Some(0));

    // SIGTERM: drains and exits 0 within the grace period, removing its socket.
    let started = Instant::now();
    d.signal("-TERM");
    let status = d.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!d.socket().exists());
    // Without the daemon the CLI opens the store itself, and the audit chain holds.
    let out = d.cli(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let history = stdout(&d.cli(&["history", "d.pem"]));
    assert!(history.contains("location_first_seen"), "{history}");
}

#[test]
fn scan_show_and_list_run_inside_the_daemon_with_paths_from_the_callers_directory() {
    let d = Daemon::start("");
    d.wait_notify("READY=1");
    wait_until("the first scan", || {
        d.metrics().contains("certctl_scans_total 1")
    });
    // A file named relative to the caller's directory, which the daemon does not share.
    let pki = Pki::new();
    let leaf = pki.leaf(&["adhoc.example.test"], -1, 200, SignedBy::Intermediate);
    let here = tempfile::tempdir().expect("tempdir");
    std::fs::write(here.path().join("adhoc.pem"), &leaf.pem).expect("write");
    let from_here = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(args)
            .args(["--config", d.config.to_str().expect("utf8")])
            .current_dir(here.path())
            .env_remove("CERTCTL_STORE")
            .output()
            .expect("certctl")
    };
    let out = from_here(&["scan", "adhoc.pem"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("adhoc.example.test"),
        "{}",
        stdout(&out)
    );
    let recorded = format!("recorded in {}/state/store", d.dir.path().display());
    assert!(stderr(&out).contains(&recorded), "{}", stderr(&out));
    // Recorded by the daemon (it holds the store): listed and shown through it.
    let list = d.cli(&["list", "--sort", "name", "--no-headers"]);
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    assert_eq!(stdout(&list).lines().count(), 2, "{}", stdout(&list));
    assert!(stdout(&list).contains("adhoc.pem"), "{}", stdout(&list));
    let show = from_here(&["show", "adhoc.pem"]);
    assert_eq!(show.status.code(), Some(0), "{}", stderr(&show));
    assert!(
        stdout(&show).contains("adhoc.example.test"),
        "{}",
        stdout(&show)
    );
    let missing = d.cli(&["show", "nowhere.pem"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        stderr(&missing).contains("no location matches \"nowhere.pem\""),
        "{}",
        stderr(&missing)
    );
    let filtered = d.cli(&["list", "--label", "team=nobody"]);
    assert!(
        stderr(&filtered).contains("no location matches these filters"),
        "{}",
        stderr(&filtered)
    );
    // An older client's argv line is refused with a reason, not misread.
    let mut stream = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
    std::io::Write::write_all(&mut stream, b"{\"argv\":[\"certctl\",\"list\"]}\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.contains("bad control request"), "{answer}");
    // The daemon is still answering.
    assert_eq!(d.cli(&["list"]).status.code(), Some(0));
}

#[test]
fn watchdog_pings_and_a_heartbeat_after_each_successful_run() {
    let rx = common::receiver::Receiver::start();
    // systemd's WatchdogSec=2 arrives as WATCHDOG_USEC; certctl pings at half of it.
    let d = Daemon::start_with_env(
        &format!(
            "heartbeat_url = \"{}\"\n[scan]\nschedule = \"* * * * * *\"",
            rx.url("/ping/3f2a")
        ),
        &[("WATCHDOG_USEC", "2000000")],
    );
    d.wait_notify("READY=1");
    let started = Instant::now();
    let mut pings = 0;
    let mut buf = [0u8; 4096];
    while started.elapsed() < Duration::from_secs(5) {
        if let Ok(n) = d.notify.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1")
        {
            pings += 1;
        }
    }
    // About one per second for 5 s; at least 3 leaves room for a slow machine.
    assert!(pings >= 3, "{pings} WATCHDOG=1 in 5 s");
    // A scan runs every second, and each successful one pings the heartbeat URL.
    let requests = rx.wait_for(3, Duration::from_secs(10));
    assert!(requests.len() >= 3, "{} heartbeats", requests.len());
    assert!(requests.iter().all(|r| r.path == "/ping/3f2a"));
    // Without WATCHDOG_USEC there are no pings at all.
    let quiet = Daemon::start("");
    quiet.wait_notify("READY=1");
    let started = Instant::now();
    quiet
        .notify
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    while started.elapsed() < Duration::from_secs(3) {
        if let Ok(n) = quiet.notify.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(!msg.contains("WATCHDOG=1"), "{msg}");
        }
    }
}

#[test]
fn cron_schedule_fires_as_configured() {
    let d = Daemon::start("[scan]\nschedule = \"* * * * * *\"");
    d.wait_notify("READY=1");
    wait_until("three scans", || {
        let m = d.metrics();
        [
            "certctl_scans_total 3",
            "certctl_scans_total 4",
            "certctl_scans_total 5",
        ]
        .iter()
        .any(|s| m.contains(s))
    });
}

#[test]
fn the_socket_refuses_users_without_access() {
    let d = Daemon::start("");
    d.wait_notify("READY=1");
    let mode = std::fs::metadata(d.socket()).expect("socket").permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o660
    );
    // `nobody` is neither the owner nor in the group.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_certctl"),
        ])
        .args(["list", "--socket", d.socket().to_str().expect("utf8")])
        .arg("--config")
        .arg(Path::new("/nonexistent.toml"))
        .output()
        .expect("setpriv");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("permission denied on the control socket"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn packaging_rules_unit_completions_and_man() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root.join("config/prometheus/certctl-rules.yml"))
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // Every shipped rule has unit tests, and they pass.
    let out = Command::new("promtool")
        .args(["test", "rules", "certctl-rules.test.yml"])
        .current_dir(root.join("config/prometheus"))
        .output()
        .expect("promtool");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let rules =
        std::fs::read_to_string(root.join("config/prometheus/certctl-rules.yml")).expect("rules");
    let tests = std::fs::read_to_string(root.join("config/prometheus/certctl-rules.test.yml"))
        .expect("rule tests");
    for line in rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            tests.contains(&format!("alertname: {line}")),
            "rule {line} has no promtool unit test"
        );
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(root.join("config/systemd/certctl.service"))
        .output()
        .expect("systemd-analyze");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(" OK") || line.contains("SAFE"), "{line}");
    let grafana: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("config/grafana/certctl.json")).expect("dashboard"),
    )
    .expect("dashboard is JSON");
    assert!(grafana["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let dir = tempfile::tempdir().expect("tempdir");
    let out = certctl(dir.path(), &["completions", "bash"]);
    assert!(stdout(&out).contains("certctl"), "{}", stderr(&out));
    let out = certctl(dir.path(), &["man"]);
    assert!(stdout(&out).contains(".TH certctl"), "{}", stderr(&out));
}

#[test]
fn a_delivery_pass_through_the_socket_never_sends_what_the_dispatcher_is_sending() {
    let rx = common::receiver::Receiver::start();
    // The dispatcher's request is recorded at once and answered 3 s later: meanwhile the
    // delivery is still pending in the outbox.
    rx.delay(Duration::from_secs(3));
    let d = Daemon::start(&format!(
        "dispatch_interval = \"1s\"\n[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{}\"\ntimeout = \"10s\"\n",
        rx.url("/hook")
    ));
    d.wait_notify("READY=1");
    let first = rx.wait_for(1, Duration::from_secs(20));
    assert!(!first.is_empty(), "the expiring certificate is alerted");
    let out = d.cli(&["alerts", "deliver"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let ids: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "sent twice: {ids:?}");
    assert!(
        stdout(&out).contains("delivered 0"),
        "the socket's pass waited for the dispatcher, then found nothing due: {}",
        stdout(&out)
    );
}
