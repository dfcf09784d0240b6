//! Alert delivery benchmark (issue 4). Run: `cargo bench --bench alerts`.
//!
//! 1. Queues N events in a real store and delivers them to a local HTTP receiver with certctl's
//!    dispatcher (durable outbox: read, send, settle, flush), and compares with:
//!    - the same sends from a bare hyper client loop at the same concurrency (no outbox): the
//!      ceiling, and the outbox overhead per event is the difference;
//!    - a sequential `curl` loop, what a shell-script alerter would do.
//! 2. Queues M events with the receiver down and runs a delivery pass: peak RSS must stay flat
//!    (the outbox is read page by page).
//!
//! Env: N (default 10000), M (default 100000), CURL_N (default 300).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use certctl::config::Config;
use certctl::config::acme::Secret;
use certctl::config::alerts::{Webhook, WebhookFormat};
use certctl::model::{AlertEvent, Severity};
use certctl::store::{AlertCommit, Store};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(i: usize) -> AlertEvent {
    AlertEvent {
        id: format!("{i:016x}"),
        kind: "expiring".into(),
        severity: Severity::Warning,
        summary: format!("host{i}.example.test expires in 13 days"),
        threshold: Some("14d".into()),
        certificate: None,
        locations: vec![format!("host{i}.example.test:443")],
        occurred_at: 1_790_000_000,
        reminder: false,
        resolves: None,
        detail: None,
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn receiver(count: Arc<AtomicUsize>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    count.fetch_add(1, Ordering::Relaxed);
                    async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn config_with(url: &str, store: &std::path::Path) -> Config {
    let mut config = Config::defaults();
    config.set_store_path(store.to_path_buf());
    config.webhooks = vec![Webhook {
        secret: Some(Secret::new(
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_vec(),
        )),
        repeat_interval: config.alerts.repeat_interval,
        ..Webhook::new("bench", WebhookFormat::Generic, url)
    }];
    config
}

fn queue(store: &Store, n: usize) -> f64 {
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let commit = AlertCommit {
            deliveries: chunk
                .iter()
                .map(|i| ("bench".to_string(), event(*i)))
                .collect(),
            ..AlertCommit::default()
        };
        store
            .commit_alerts(&commit, certctl::clock::now())
            .expect("queue");
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    let n = env("N", 10_000);
    let m = env("M", 100_000);
    let curl_n = env("CURL_N", 300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let count = Arc::new(AtomicUsize::new(0));
    let addr = rt.block_on(receiver(Arc::clone(&count)));
    let url = format!("http://{addr}/hook");
    let dir = tempfile::tempdir().expect("tempdir");

    // 1. certctl: queue N, deliver N.
    let store = Store::open(&dir.path().join("store")).expect("store");
    let config = config_with(&url, store.path());
    let queue_s = queue(&store, n);
    let client = certctl::alerts::dispatch::client();
    let started = Instant::now();
    let report = rt
        .block_on(certctl::alerts::dispatch::deliver_due(
            &config, &store, &client,
        ))
        .expect("deliver");
    let certctl_s = started.elapsed().as_secs_f64();
    assert_eq!(report.delivered, n, "every event delivered");

    // Bare hyper client, same concurrency, same rendered payloads, no outbox.
    let hook = config.webhooks[0].clone();
    let started = Instant::now();
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let mut next = 0;
        loop {
            while set.len() < config.alerts.concurrency && next < n {
                let (client, hook, e) = (client.clone(), hook.clone(), event(next));
                set.spawn(async move {
                    certctl::alerts::dispatch::send(&client, &hook, &e, "msg_bare", 0).await
                });
                next += 1;
            }
            if set.join_next().await.is_none() {
                break;
            }
        }
    });
    let bare_s = started.elapsed().as_secs_f64();

    // A sequential curl loop.
    let body = serde_json::to_string(
        &serde_json::json!({"type": "certctl.expiring", "data": {"id": "x"}}),
    )
    .expect("json");
    let started = Instant::now();
    for _ in 0..curl_n {
        let status = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-H",
                "content-type: application/json",
                "-d",
                &body,
                &url,
            ])
            .status()
            .expect("curl");
        assert!(status.success());
    }
    let curl_s = started.elapsed().as_secs_f64();

    // 2. Receiver down: M queued, one delivery pass, memory stays flat.
    let down_dir = tempfile::tempdir().expect("tempdir");
    let down_store = Store::open(&down_dir.path().join("store")).expect("store");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let down_config = config_with(&format!("http://{closed}/hook"), down_store.path());
    let rss_before = peak_rss_mb();
    queue(&down_store, m);
    let started = Instant::now();
    let down = rt
        .block_on(certctl::alerts::dispatch::deliver_due(
            &down_config,
            &down_store,
            &client,
        ))
        .expect("deliver");
    let down_s = started.elapsed().as_secs_f64();
    let rss_after = peak_rss_mb();

    let rate = |count: usize, s: f64| count as f64 / s;
    println!(
        "alert delivery benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  queue {n} events (commit + flush per 1000):     {:>8.0} events/s",
        rate(n, queue_s)
    );
    println!(
        "  certctl dispatcher, {n} events, concurrency {}: {:>8.0} deliveries/s",
        config.alerts.concurrency,
        rate(n, certctl_s)
    );
    println!(
        "  bare hyper client loop, same concurrency:      {:>8.0} deliveries/s",
        rate(n, bare_s)
    );
    println!(
        "  sequential curl loop ({curl_n}):                   {:>8.0} deliveries/s",
        rate(curl_n, curl_s)
    );
    println!(
        "  ratio certctl / curl loop: {:.1}x   certctl / bare client: {:.2}x   outbox overhead: {:.0} us/event",
        rate(n, certctl_s) / rate(curl_n, curl_s),
        rate(n, certctl_s) / rate(n, bare_s),
        (certctl_s - bare_s).max(0.0) / n as f64 * 1e6
    );
    println!(
        "  receiver down, {m} queued: one pass in {down_s:.1} s ({} retrying), peak RSS {rss_before:.0} MB before -> {rss_after:.0} MB after",
        down.retrying
    );
    println!("  receiver saw {} requests", count.load(Ordering::Relaxed));
}
