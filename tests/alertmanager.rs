//! The `alertmanager` webhook format against a real Prometheus Alertmanager (Debian's
//! `prometheus-alertmanager`, started on loopback with a throwaway storage directory): a
//! condition certctl finds is an active alert there with labels a route can match, and
//! `resolved` closes that same alert.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

struct Alertmanager {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("alertmanager.yml");
        std::fs::write(
            &conf,
            "route:\n  receiver: ops\n  group_wait: 1h\nreceivers:\n  - name: ops\n",
        )
        .expect("config");
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", conf.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager starts (apt-get install prometheus-alertmanager)");
        let mut am = Alertmanager {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while am.get("/-/ready").0 != 200 {
            let exited = am.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "alertmanager did not become ready ({exited:?})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        am
    }

    /// An HTTP/1.0 GET: status and body.
    fn get(&self, path: &str) -> (u16, String) {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return (0, String::new());
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn alerts(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v2/alerts");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body)
            .expect("alerts json")
            .as_array()
            .expect("array")
            .clone()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scan(store: &Path, config: &Path) {
    ok(certctl(
        store,
        &["scan", "--config", config.to_str().expect("utf8")],
    ));
}

#[test]
fn a_condition_is_an_alertmanager_alert_until_resolved() {
    let am = Alertmanager::start();
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let path = d.join("certs/pay.pem");
    let config = write_config(
        d,
        &format!(
            "[scan]\nca_files = [\"{root}\"]\n[alerts]\nrepeat_interval = \"6h\"\n\n\
             [[files]]\npath = \"{path}\"\n\n\
             [[webhook]]\nname = \"am\"\nformat = \"alertmanager\"\nurl = \"http://127.0.0.1:{port}/\"\n",
            root = pki.root_path().display(),
            path = path.display(),
            port = am.port,
        ),
    );
    let store = d.join("store");

    // The file a deploy should have written is not there: file_missing, critical.
    scan(&store, &config);
    let active = am.alerts();
    assert_eq!(active.len(), 1, "{active:#?}");
    let alert = &active[0];
    assert_eq!(
        alert["labels"]["alertname"], "certctl_file_missing",
        "{alert:#}"
    );
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["source"], "certctl");
    assert!(
        alert["labels"]["alert_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(alert["status"]["state"], "active", "{alert:#}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("pay.pem")),
        "{alert:#}"
    );
    // Kept for three reminder intervals, so it does not lapse between reminders.
    let ends = alert["endsAt"].as_str().expect("endsAt");
    let starts = alert["startsAt"].as_str().expect("startsAt");
    let hours = |t: &str| -> i64 {
        let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("rfc3339");
        t.unix_timestamp() / 3600
    };
    assert!(hours(ends) - hours(starts) >= 17, "{starts} .. {ends}");

    // A second scan with the condition unchanged is no new alert.
    scan(&store, &config);
    assert_eq!(am.alerts().len(), 1);

    // The certificate arrives: certctl sends resolved and Alertmanager closes the alert.
    let leaf = pki.leaf(&["pay.example.test"], -1, 90, SignedBy::Intermediate);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, format!("{}{}", leaf.pem, pki.intermediate.pem())).expect("write");
    scan(&store, &config);
    let after = am.alerts();
    assert!(after.is_empty(), "{after:#?}");
}
