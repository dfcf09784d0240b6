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

/// Relays a connection to a real TLS server, passes on the server's first TLS record (its
/// ServerHello), then sends garbage instead of the rest of the handshake.
fn garbage_after_server_hello(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut client = client;
                let mut server = std::net::TcpStream::connect(upstream).expect("upstream");
                for s in [&client, &server] {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
                }
                let mut hello = vec![0u8; 16 * 1024];
                let n = client.read(&mut hello).unwrap_or(0);
                let _ = server.write_all(&hello[..n]);
                // One whole record from the server: 5-byte header, then its length.
                let mut header = [0u8; 5];
                if server.read_exact(&mut header).is_err() {
                    return;
                }
                assert_eq!(header[0], 0x16, "the server's first record is a handshake");
                let len = u16::from_be_bytes([header[3], header[4]]) as usize;
                let mut body = vec![0u8; len];
                if server.read_exact(&mut body).is_err() {
                    return;
                }
                assert_eq!(body[0], 0x02, "the first handshake message is ServerHello");
                let _ = client.write_all(&header);
                let _ = client.write_all(&body);
                let _ = client.write_all(&[0x17, 0x03, 0x03, 0x00, 0x20]);
                let _ = client.write_all(&[0x5a; 32]);
                let _ = client.write_all(&[0xff; 512]);
                std::thread::sleep(Duration::from_secs(3));
            });
        }
    });
    addr
}

#[test]
fn garbage_after_a_real_server_hello_is_a_tls_error() {
    let pki = Pki::new();
    let leaf = pki.leaf(&["localhost"], -1, 90, SignedBy::Intermediate);
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for tls12_only in [false, true] {
        let server = TlsServer::start(
            "127.0.0.1:0",
            pki.full_chain(&leaf),
            &leaf.key_der,
            tls12_only,
        );
        targets.push(garbage_after_server_hello(server.addr).to_string());
        servers.push(server);
    }
    let (locations, elapsed) = scan(&targets);
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    for target in &targets {
        let loc = locations
            .iter()
            .find(|l| l["target"] == target.as_str())
            .unwrap_or_else(|| panic!("{target} missing"));
        assert_eq!(codes(loc), vec!["tls_error".to_string()], "{loc:#}");
        let message = loc["findings"][0]["message"].as_str().expect("message");
        assert!(message.contains(target.as_str()), "{message}");
        assert!(
            loc["certificate"].is_null(),
            "nothing was certified: {loc:#}"
        );
    }
}

/// A listener whose accept queue is full and never drained: the kernel drops further SYNs, so a
/// connect to it hangs until the client gives up, as with a firewalled (black-holed) address.
fn syn_black_hole() -> (TcpListener, std::net::TcpStream) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor this function owns; it is handed to
    // TcpListener, which closes it on drop.
    let listener = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket");
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        TcpListener::from_raw_fd(fd)
    };
    let addr = listener.local_addr().expect("addr");
    // This connection fills the queue of one; every later SYN is dropped.
    let filler = std::net::TcpStream::connect(addr).expect("fill the accept queue");
    let probe = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(probe.is_err(), "the black hole answered a SYN");
    (listener, filler)
}

/// N targets (1000 here; `CERTCTL_FAULT_N=10000` for the long run), 20% of them black holes:
/// half drop SYNs (connect timeout), half accept and never speak (handshake timeout). The scan
/// must end within about timeout x ceil(N / concurrency), with a clear finding for each.
#[test]
fn thousands_of_targets_with_black_holes_finish_in_bounded_time_and_memory() {
    let n: usize = std::env::var("CERTCTL_FAULT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let concurrency = 100;
    let timeout = Duration::from_secs(1);
    let pki = Pki::new();
    let leaf = pki.leaf(&["*.example.test"], -1, 90, SignedBy::Intermediate);
    let server = TlsServer::start("127.0.0.1:0", pki.full_chain(&leaf), &leaf.key_der, false);
    let (hole, _filler) = syn_black_hole();
    let hole = hole.local_addr().expect("addr");
    let silent = silent_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = format!(
        "[scan]\ntimeout = \"1s\"\nconcurrency = {concurrency}\nca_files = [\"{}\"]\n",
        pki.root_path().display()
    );
    let mut holes = 0;
    for i in 0..n {
        let addr = match i % 10 {
            0 => hole,
            5 => silent,
            _ => server.addr,
        };
        if addr != server.addr {
            holes += 1;
        }
        config.push_str(&format!(
            "[[endpoint]]\naddress = \"{addr}\"\nserver_name = \"h{i}.example.test\"\n"
        ));
    }
    let config = write_config(dir.path(), &config);
    let rss_file = dir.path().join("rss");
    let started = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_certctl"))
        .args(["scan", "-o", "json", "-c"])
        .arg(&config)
        .env("CERTCTL_STORE", dir.path().join("store"))
        .env("NO_COLOR", "1")
        .output()
        .expect("/usr/bin/time (apt-get install time)");
    let elapsed = started.elapsed();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let locations = doc["locations"].as_array().expect("locations");
    assert_eq!(locations.len(), n);
    let timeouts = locations
        .iter()
        .filter(|l| codes(l) == vec!["timeout".to_string()])
        .count();
    let certified = locations
        .iter()
        .filter(|l| l["certificate"]["subject"].is_string())
        .count();
    assert_eq!(timeouts, holes, "every black hole is a timeout finding");
    assert_eq!(certified, n - holes, "every real endpoint was scanned");
    let bound = timeout * n.div_ceil(concurrency) as u32;
    let rss_kb: u64 = std::fs::read_to_string(&rss_file)
        .expect("rss")
        .trim()
        .parse()
        .expect("kB");
    println!(
        "{n} targets, {holes} black holes: {:.1} s (bound {:.0} s), peak RSS {:.1} MB",
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        rss_kb as f64 / 1024.0
    );
    // A hang or a serialised timeout would blow far past this; real work is a fraction of it.
    assert!(
        elapsed < bound + Duration::from_secs(10),
        "{elapsed:?} against a bound of {bound:?}"
    );
    assert!(rss_kb < 512 * 1024, "peak RSS {rss_kb} kB is not bounded");
}
