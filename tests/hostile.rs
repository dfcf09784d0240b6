//! Hostile TLS peers: each scan ends with a clear finding, in bounded time and memory.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use common::*;

/// A peer that reads the ClientHello, then runs `behave` on the connection.
fn peer(behave: fn(&mut std::net::TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.read(&mut buf);
                behave(&mut stream);
            });
        }
    });
    addr
}

fn scan(targets: &[String]) -> (Vec<serde_json::Value>, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "[scan]\ntimeout = \"2s\"\n");
    let mut args = vec!["scan", "-c", config.to_str().expect("utf8"), "-o", "json"];
    args.extend(targets.iter().map(String::as_str));
    let started = Instant::now();
    let doc = certctl_json(&dir.path().join("store"), &args);
    (
        doc["locations"].as_array().expect("locations").clone(),
        started.elapsed(),
    )
}

#[test]
fn hostile_peers_end_in_clear_findings_within_the_timeout() {
    // Closes right after the ClientHello.
    let closer = peer(|s| {
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    // Answers with a fatal TLS alert (handshake_failure).
    let alerter = peer(|s| {
        let _ = s.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
    });
    // Drips one byte a second of a plausible record header, forever.
    let dripper = peer(|s| {
        for b in [0x16u8, 0x03, 0x03, 0x40, 0x00].iter().cycle().take(60) {
            if s.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
    // Claims a 10 MB handshake message and streams it.
    let flooder = peer(|s| {
        let mut sent = 0usize;
        let mut first = true;
        while sent < 10 * 1024 * 1024 {
            let mut record = vec![0x16, 0x03, 0x03, 0x40, 0x00];
            let mut body = vec![0u8; 0x4000];
            if first {
                // ServerHello claiming a length of 10 MB.
                body[..4].copy_from_slice(&[0x02, 0xa0, 0x00, 0x00]);
                first = false;
            }
            record.extend_from_slice(&body);
            if s.write_all(&record).is_err() {
                return;
            }
            sent += body.len();
        }
    });
    // Answers with garbage that is not TLS at all.
    let garbage = peer(|s| {
        let _ = s.write_all(&[0xde, 0xad, 0xbe, 0xef].repeat(256));
    });
    let targets: Vec<String> = [closer, alerter, dripper, flooder, garbage]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let (locations, elapsed) = scan(&targets);
    assert_eq!(locations.len(), 5);
    // Five peers scanned in parallel with a 2 s handshake timeout: no hang.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    for (target, want) in targets.iter().zip([
        "tls_error",
        "tls_error",
        "timeout",
        "tls_error",
        "tls_error",
    ]) {
        let loc = locations
            .iter()
            .find(|l| l["target"] == target.as_str())
            .unwrap_or_else(|| panic!("{target} missing"));
        assert_eq!(codes(loc), vec![want.to_string()], "{target}: {loc:#}");
        assert!(
            loc["findings"][0]["message"]
                .as_str()
                .expect("message")
                .contains(target.as_str()),
            "{loc:#}"
        );
    }
}
