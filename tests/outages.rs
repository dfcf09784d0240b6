//! CA outages seen by the running daemon: Pebble down, then back; Pebble rejecting half of all
//! nonces and validating slowly. certctl must back off as specified, raise `renewal_failed`
//! once (not once per schedule tick), and recover by itself when the CA returns.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pebble::{Pebble, PebbleOptions};
use common::receiver::{Receiver, Request};
use common::*;

struct Daemon {
    child: Child,
    config: PathBuf,
}

const EVERY_2S: &str = "*/2 * * * * *";
/// Once a year: only the daemon's own wake-ups (backoff steps, renewal times) run renewals.
const YEARLY: &str = "0 0 1 1 *";

impl Daemon {
    /// A daemon whose renew schedule ticks every 2 seconds.
    fn start(dir: &Path, pebble: &Pebble, rx: &Receiver) -> Daemon {
        Daemon::start_with(dir, pebble, rx, pebble.http_port, EVERY_2S)
    }

    /// As [`Daemon::start`], with the http-01 listener on `port` (not Pebble's: validation fails).
    fn start_listening(dir: &Path, pebble: &Pebble, rx: &Receiver, port: u16) -> Daemon {
        Daemon::start_with(dir, pebble, rx, port, EVERY_2S)
    }

    fn start_with(dir: &Path, pebble: &Pebble, rx: &Receiver, port: u16, schedule: &str) -> Daemon {
        let text = format!(
            "[store]\npath = \"{d}/state/store\"\n[renew]\nschedule = \"{schedule}\"\n[daemon]\ndispatch_interval = \"1s\"\nshutdown_grace = \"5s\"\n[acme.accounts.pebble]\ndirectory = \"{url}\"\nagree_tos = true\nca_file = \"{ca}\"\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{p}\"\n[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"{hook}\"\ntimeout = \"2s\"\n",
            d = dir.display(),
            url = pebble.directory(),
            ca = pebble.tls_root().display(),
            p = port,
            hook = rx.url("/hook"),
        );
        let config = write_config(dir, &text);
        let child = Command::new(env!("CARGO_BIN_EXE_certctl"))
            .args(["run", "--config", config.to_str().expect("utf8")])
            .env_remove("CERTCTL_STORE")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("daemon.log")).expect("log"),
            ))
            .spawn()
            .expect("spawn certctl run");
        Daemon { child, config }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        certctl_config(&self.config, args)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn of_type(requests: &[Request], kind: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.json()["type"] == format!("certctl.{kind}").as_str())
        .count()
}

fn wait_for_event(rx: &Receiver, kind: &str, within: Duration, log: &Path) -> Vec<Request> {
    let deadline = Instant::now() + within;
    loop {
        let requests = rx.requests();
        if of_type(&requests, kind) > 0 {
            return requests;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} within {within:?}; got {:?}\n{}",
            requests
                .iter()
                .map(|r| r.json()["type"].to_string())
                .collect::<Vec<_>>(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_ca_outage_raises_renewal_failed_once_and_recovers_by_itself() {
    let mut pebble = Pebble::start(PebbleOptions::default());
    pebble.stop();
    let rx = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("daemon.log");
    // The renew schedule is yearly: any retry below is the daemon's own, at the backoff step.
    let daemon = Daemon::start_with(dir.path(), &pebble, &rx, pebble.http_port, YEARLY);

    // The CA is down: the first attempt (at start) fails and is reported once...
    wait_for_event(&rx, "renewal_failed", Duration::from_secs(30), &log);
    // ...the next check is planned for the end of the 1-minute step, not next year...
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = stdout(&daemon.cli(&["status"]));
        let next = status
            .lines()
            .find(|l| l.starts_with("renew"))
            .and_then(|l| l.split(", next ").nth(1))
            .unwrap_or_default();
        // "2026-11-26T11:50:00Z (in 58 seconds)"
        let seconds = next
            .split("(in ")
            .nth(1)
            .and_then(|t| t.strip_suffix(" seconds)"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seconds) = seconds {
            assert!((30..=60).contains(&seconds), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "next renew check: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // ...and nothing retries early or repeats the alert.
    std::thread::sleep(Duration::from_secs(10));
    let requests = rx.requests();
    assert_eq!(of_type(&requests, "renewal_failed"), 1);
    let plan = stdout(&daemon.cli(&["renew", "--all", "--dry-run"]));
    assert!(plan.contains("backing off"), "{plan}");
    let attempts = std::fs::read_to_string(&log)
        .expect("log")
        .matches("renewal failed")
        .count();
    assert_eq!(attempts, 1, "one attempt inside the first backoff step");

    // The CA comes back: when the 1-minute step ends the daemon retries on its own and issues.
    pebble.restart();
    let requests = wait_for_event(&rx, "renewal_succeeded", Duration::from_secs(120), &log);
    assert_eq!(of_type(&requests, "renewal_failed"), 1, "no storm");
    let list = stdout(&daemon.cli(&["list"]));
    assert!(list.contains("www.example.test"), "{list}");
    let out = daemon.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn failing_authorizations_raise_renewal_failed_once_and_back_off() {
    let pebble = Pebble::start(PebbleOptions::default());
    let rx = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("daemon.log");
    // certctl answers http-01 on a port Pebble never asks: every authorization fails.
    let daemon = Daemon::start_listening(dir.path(), &pebble, &rx, free_port());
    let requests = wait_for_event(&rx, "renewal_failed", Duration::from_secs(30), &log);
    let failed = requests
        .iter()
        .find(|r| r.json()["type"] == "certctl.renewal_failed")
        .expect("renewal_failed")
        .json();
    assert!(
        failed["data"]["detail"]
            .to_string()
            .contains("www.example.test")
            || failed["data"]["summary"].to_string().contains("www"),
        "{failed}"
    );
    // Ten seconds of schedule ticks every 2 s: no second attempt, no second alert.
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(of_type(&rx.requests(), "renewal_failed"), 1);
    assert_eq!(
        pebble.log().matches("Added order").count(),
        1,
        "one order inside the first backoff step"
    );
    let plan = stdout(&daemon.cli(&["renew", "--all", "--dry-run"]));
    assert!(plan.contains("backing off after 1 failure"), "{plan}");
    // The failure, with the CA's problem, is visible in `list` (on stderr beside the table).
    let out = daemon.cli(&["list"]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        shown.contains("renewal of www is failing") && shown.contains("connection refused"),
        "{shown}"
    );
}

#[test]
fn half_the_nonces_rejected_and_slow_validation_still_issue() {
    let pebble = Pebble::start(PebbleOptions {
        env: vec![
            ("PEBBLE_WFE_NONCEREJECT".into(), "50".into()),
            ("PEBBLE_VA_SLEEPTIME".into(), "3".into()),
        ],
        ..PebbleOptions::default()
    });
    let rx = Receiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start(dir.path(), &pebble, &rx);
    let requests = wait_for_event(&rx, "renewal_succeeded", Duration::from_secs(90), &log);
    assert_eq!(
        of_type(&requests, "renewal_failed"),
        0,
        "badNonce is retried, never reported:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // The faults were really on: Pebble says so in its log.
    let log = pebble.log();
    assert!(log.contains("reject 50% of good nonces"), "{log}");
    assert!(log.contains("Sleeping for"), "{log}");
    let out = daemon.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The peak resident memory of a process, from /proc.
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_webhook_down_then_hanging_then_failing_loses_nothing_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    const N: usize = 300;
    for i in 0..N {
        let leaf = pki.leaf(
            &[&format!("s{i}.example.test")],
            -80,
            3,
            SignedBy::Intermediate,
        );
        std::fs::write(certs.join(format!("s{i}.pem")), &leaf.pem).expect("cert");
    }
    let port = free_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[alerts]\nretry_initial = \"1s\"\nretry_max = \"2s\"\nconcurrency = 16\n[daemon]\ndispatch_interval = \"1s\"\n[[files]]\npath = \"{c}\"\n[[webhook]]\nname = \"ops\"\nformat = \"generic\"\nurl = \"http://127.0.0.1:{port}/hook\"\ntimeout = \"1s\"\n",
            d = dir.path().display(),
            c = certs.display()
        ),
    );
    let cli = |args: &[&str]| certctl_config(&config, args);
    let log = dir.path().join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_certctl"))
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("CERTCTL_STORE")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
        .spawn()
        .expect("certctl run");
    // Down (connection refused) for 6 s, then accepting and never answering for 6 s, then
    // answering 500 a hundred times, then healthy.
    std::thread::sleep(Duration::from_secs(6));
    let rx = Receiver::start_on(&format!("127.0.0.1:{port}"));
    rx.hang(true);
    std::thread::sleep(Duration::from_secs(6));
    for _ in 0..100 {
        rx.respond(500, &[]);
    }
    rx.hang(false);
    let deadline = Instant::now() + Duration::from_secs(90);
    let listed = loop {
        std::thread::sleep(Duration::from_millis(500));
        let doc: serde_json::Value =
            serde_json::from_slice(&cli(&["alerts", "list", "-o", "json"]).stdout)
                .unwrap_or_default();
        if doc["queued"] == 0 && rx.requests().len() >= N {
            break doc;
        }
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {doc}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    };
    let peak = peak_rss_kb(daemon.id());
    let _ = daemon.kill();
    let _ = daemon.wait();
    let received: std::collections::BTreeSet<String> = rx
        .requests()
        .iter()
        .filter_map(|r| r.json()["data"]["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        received.len(),
        N,
        "one event per expiring certificate, each delivered"
    );
    assert!(
        listed["deliveries"]
            .as_array()
            .is_none_or(|d| d.iter().all(|x| x["state"] != "dead")),
        "{listed}"
    );
    println!(
        "{N} events through a webhook outage: {} requests, peak RSS {:.1} MB",
        rx.requests().len(),
        peak as f64 / 1024.0
    );
    assert!(peak > 0 && peak < 200 * 1024, "peak RSS {peak} kB");
}

/// A TLS-terminating proxy in front of Pebble that answers the first `rate_limit` new-order
/// requests itself with `429 rateLimited` and `Retry-After: 3600`, and relays everything else
/// to Pebble byte for byte (Pebble builds its URLs from the Host header, so they name the proxy).
struct RateLimiter {
    addr: std::net::SocketAddr,
    pki: Pki,
    new_orders: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl RateLimiter {
    fn start(pebble: &Pebble, rate_limit: usize) -> RateLimiter {
        use std::io::{BufRead, Read, Write};
        use std::sync::atomic::Ordering;
        let pki = Pki::new();
        let leaf = pki.leaf(&["127.0.0.1"], -1, 30, SignedBy::Intermediate);
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let server = std::sync::Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(
                    pki.full_chain(&leaf),
                    rustls::pki_types::PrivateKeyDer::Pkcs8(leaf.key_der.clone().into()),
                )
                .expect("server config"),
        );
        let mut roots = rustls::RootCertStore::empty();
        let root_pem = std::fs::read(pebble.tls_root()).expect("pebble root");
        for cert in rustls_pemfile_certs(&root_pem) {
            roots.add(cert).expect("root");
        }
        let client = std::sync::Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        let upstream = format!("127.0.0.1:{}", pebble.port);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let new_orders = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = std::sync::Arc::clone(&new_orders);
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (server, client, upstream, seen) = (
                    server.clone(),
                    client.clone(),
                    upstream.clone(),
                    std::sync::Arc::clone(&seen),
                );
                std::thread::spawn(move || {
                    let conn = rustls::ServerConnection::new(server).expect("tls");
                    let mut tls = std::io::BufReader::new(rustls::StreamOwned::new(conn, tcp));
                    // One request per connection: read its head and body.
                    let mut head = Vec::new();
                    loop {
                        let mut line = Vec::new();
                        if tls.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let end = line == b"\r\n";
                        if !line.to_ascii_lowercase().starts_with(b"connection:") {
                            head.extend_from_slice(&line);
                        }
                        if end {
                            break;
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .and_then(|v| v.trim().parse::<usize>().ok())
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    if tls.read_exact(&mut body).is_err() {
                        return;
                    }
                    let tls = tls.get_mut();
                    if text.starts_with("POST /order-plz")
                        && seen.fetch_add(1, Ordering::SeqCst) < rate_limit
                    {
                        let problem = r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new orders recently (test proxy)","status":429}"#;
                        let _ = write!(
                            tls,
                            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\nRetry-After: 3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{problem}",
                            problem.len()
                        );
                        let _ = tls.flush();
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                        return;
                    }
                    // Relay to Pebble with `Connection: close`, and its whole answer back.
                    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
                    let conn = rustls::ClientConnection::new(client, name).expect("tls");
                    let tcp = std::net::TcpStream::connect(&upstream).expect("pebble");
                    let mut up = rustls::StreamOwned::new(conn, tcp);
                    let mut request = head[..head.len() - 2].to_vec();
                    request.extend_from_slice(b"Connection: close\r\n\r\n");
                    request.extend_from_slice(&body);
                    if up.write_all(&request).is_err() {
                        return;
                    }
                    let mut answer = Vec::new();
                    let _ = up.read_to_end(&mut answer);
                    let _ = tls.write_all(&answer);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                });
            }
        });
        RateLimiter {
            addr,
            pki,
            new_orders,
        }
    }

    fn new_orders(&self) -> usize {
        self.new_orders.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.expect("pem"))
        .collect()
}

#[test]
fn a_rate_limited_ca_is_not_asked_again_before_its_retry_after() {
    // No nonce rejections here: the proxy counts new-order requests, and a badNonce retry would
    // be a second request for the same order.
    let pebble = Pebble::start(PebbleOptions {
        env: vec![("PEBBLE_WFE_NONCEREJECT".into(), "0".into())],
        ..PebbleOptions::default()
    });
    let proxy = RateLimiter::start(&pebble, 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[store]\npath = \"{d}/state/store\"\n[acme.accounts.pebble]\ndirectory = \"https://{a}/dir\"\nagree_tos = true\nca_file = \"{ca}\"\n[[certificate]]\nname = \"www\"\ndomains = [\"www.example.test\"]\n[certificate.challenge]\ntype = \"http-01\"\nlisten = \"127.0.0.1:{p}\"\n",
            d = dir.path().display(),
            a = proxy.addr,
            ca = proxy.pki.root_path().display(),
            p = pebble.http_port
        ),
    );
    let run = |args: &[&str]| certctl_config(&config, args);
    let out = run(&["issue", "www"]);
    let err = format!("{}{}", stdout(&out), stderr(&out));
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("rateLimited"), "{err}");
    assert_eq!(proxy.new_orders(), 1);

    // The ordinary first backoff step would be 1 minute; the CA said an hour.
    let plan = run(&["renew", "--all", "--dry-run"]);
    let text = stdout(&plan);
    assert!(text.contains("backing off after 1 failure"), "{text}");
    assert!(
        text.contains("in 59 minutes")
            || text.contains("in 1 hour")
            || text.contains("in 60 minutes"),
        "{text}"
    );
    let out = run(&["renew", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(proxy.new_orders(), 1, "no new order before Retry-After");

    // A forced renewal is the operator's call: it goes through, and clears the hint.
    let out = run(&["renew", "www", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(proxy.new_orders(), 2);
    let text = stdout(&run(&["renew", "--all", "--dry-run"]));
    assert!(text.contains("not due until"), "{text}");
}
