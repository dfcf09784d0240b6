//! Deploy benchmark (issue 6). Run: `cargo bench --bench deploy` (needs nginx and haproxy).
//!
//! For each reload method: a client handshakes continuously; certctl deploys a new certificate
//! (lint, atomic install, reload, verify); we report the time from "issued" to "new certificate
//! served" and the failed handshakes. The comparison is what people do without certctl: stop and
//! start the server with the new files (a restart).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use certctl::config::deploy::{DeployTarget, Reload};
use certctl::deploy::Material;
use certctl::inventory::target::parse_endpoint;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
}

fn pki() -> Pki {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, "bench root");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    Pki {
        root: CertifiedIssuer::self_signed(p, KeyPair::generate().expect("key")).expect("root"),
    }
}

fn material(pki: &Pki) -> Material {
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string(), "bench.example.test".into()])
        .expect("params");
    p.distinguished_name
        .push(DnType::CommonName, "bench.example.test");
    let key = KeyPair::generate().expect("key");
    let cert = p.signed_by(&key, &pki.root).expect("leaf");
    let chain = pki.root.pem();
    Material {
        cert: cert.pem(),
        chain: chain.clone(),
        fullchain: format!("{}{chain}", cert.pem()),
        key: key.serialize_pem(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

fn wait_port(port: u16) {
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("port {port} never opened");
}

fn start_nginx(dir: &Path, port: u16) -> Child {
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log crit;\nevents {{ worker_connections 1024; }}\nhttp {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/full.pem; ssl_certificate_key {d}/key.pem; ssl_protocols TLSv1.2 TLSv1.3; return 200 ok; }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("conf");
    let child = Command::new("/usr/sbin/nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    wait_port(port);
    child
}

struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

fn load(port: u16) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s, o, f) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("rt");
        let target = parse_endpoint(&format!("127.0.0.1:{port}"), None).expect("target");
        let scanner = certctl::verify::scanner();
        for _ in 0..200_000 {
            if s.load(Ordering::SeqCst) {
                break;
            }
            match rt
                .block_on(certctl::verify::served(&scanner, &target))
                .serial
            {
                Some(_) => o.fetch_add(1, Ordering::Relaxed),
                None => f.fetch_add(1, Ordering::Relaxed),
            };
        }
    });
    while ok.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    Load {
        stop,
        ok,
        failed,
        thread,
    }
}

impl Load {
    fn finish(self) -> (u64, u64) {
        std::thread::sleep(Duration::from_millis(200));
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

fn target(name: &str, dir: &Path, port: u16, reload: Vec<Reload>, combined: bool) -> DeployTarget {
    DeployTarget {
        name: name.into(),
        node: None,
        cert: None,
        chain: None,
        fullchain: (!combined).then(|| dir.join("full.pem")),
        key: (!combined).then(|| dir.join("key.pem")),
        combined: combined.then(|| dir.join("combined.pem")),
        owner: None,
        group: None,
        mode: 0o644,
        key_mode: 0o600,
        check_command: None,
        reload,
        verify: vec![parse_endpoint(&format!("127.0.0.1:{port}"), None).expect("verify")],
        verify_timeout: Duration::from_secs(30),
    }
}

fn write_files(dir: &Path, m: &Material) {
    std::fs::write(dir.join("full.pem"), &m.fullchain).expect("full");
    std::fs::write(dir.join("key.pem"), &m.key).expect("key");
    std::fs::write(dir.join("combined.pem"), m.combined()).expect("combined");
}

/// Stops nginx the way an operator does (SIGTERM: the master stops its workers).
fn stop(child: &mut Child) {
    // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("rt");
    let pki = pki();
    let domains = vec!["bench.example.test".to_string()];
    let mut rows: Vec<(String, Duration, u64, u64)> = Vec::new();

    // nginx: command reload, signal reload, and a restart for comparison.
    for method in [
        "nginx -s reload (command)",
        "nginx SIGHUP (signal)",
        "nginx restart (no certctl)",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (v1, v2) = (material(&pki), material(&pki));
        write_files(dir.path(), &v1);
        let port = free_port();
        let mut nginx = start_nginx(dir.path(), port);
        let l = load(port);
        let started = Instant::now();
        if method.contains("restart") {
            stop(&mut nginx);
            write_files(dir.path(), &v2);
            nginx = start_nginx(dir.path(), port);
            let sha = certctl::x509::sha256_hex(
                &certctl::x509::read_certificates(v2.cert.as_bytes()).certs[0].der,
            );
            rt.block_on(certctl::verify::wait_served(
                &target("x", dir.path(), port, vec![], false).verify,
                &sha,
                Duration::from_secs(30),
            ))
            .expect("served");
        } else {
            let reload = if method.contains("command") {
                Reload::Command {
                    argv: vec![
                        "/usr/sbin/nginx".into(),
                        "-c".into(),
                        dir.path().join("nginx.conf").display().to_string(),
                        "-s".into(),
                        "reload".into(),
                    ],
                    timeout: Duration::from_secs(30),
                }
            } else {
                Reload::Signal {
                    pid_file: dir.path().join("nginx.pid"),
                    signal: libc::SIGHUP,
                }
            };
            rt.block_on(certctl::deploy::deploy(
                &target("nginx", dir.path(), port, vec![reload], false),
                &v2,
                &domains,
            ))
            .expect("deploy");
        }
        let elapsed = started.elapsed();
        let (ok, failed) = l.finish();
        stop(&mut nginx);
        rows.push((method.into(), elapsed, ok, failed));
    }

    // haproxy runtime API.
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let (v1, v2) = (material(&pki), material(&pki));
        write_files(dir.path(), &v1);
        let port = free_port();
        let socket = dir.path().join("admin.sock");
        let cfg = format!(
            "global\n  stats socket {} mode 600 level admin\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\nfrontend fe\n  bind 127.0.0.1:{port} ssl crt {}\n  http-request return status 200\n",
            socket.display(),
            dir.path().join("combined.pem").display()
        );
        std::fs::write(dir.path().join("h.cfg"), cfg).expect("cfg");
        let mut haproxy = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(dir.path().join("h.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy");
        wait_port(port);
        while !socket.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let l = load(port);
        let started = Instant::now();
        let reload = Reload::HaproxyRuntime {
            socket: socket.clone(),
            cert_path: dir.path().join("combined.pem").display().to_string(),
        };
        rt.block_on(certctl::deploy::deploy(
            &target("haproxy", dir.path(), port, vec![reload], true),
            &v2,
            &domains,
        ))
        .expect("deploy");
        let elapsed = started.elapsed();
        let (ok, failed) = l.finish();
        let _ = haproxy.kill();
        let _ = haproxy.wait();
        rows.push(("haproxy runtime API".into(), elapsed, ok, failed));
    }

    // rustls CertResolver (reload on command; the file watch adds at most its poll interval).
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let (v1, v2) = (material(&pki), material(&pki));
        write_files(dir.path(), &v1);
        let resolver = certctl::reload::CertResolver::new(
            &dir.path().join("full.pem"),
            &dir.path().join("key.pem"),
        )
        .expect("resolver");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nb");
        let port = listener.local_addr().expect("addr").port();
        rt.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(tcp).await;
                });
            }
        });
        let l = load(port);
        let started = Instant::now();
        write_files(dir.path(), &v2);
        resolver.reload().expect("reload");
        let sha = certctl::x509::sha256_hex(
            &certctl::x509::read_certificates(v2.cert.as_bytes()).certs[0].der,
        );
        rt.block_on(certctl::verify::wait_served(
            &target("x", dir.path(), port, vec![], false).verify,
            &sha,
            Duration::from_secs(30),
        ))
        .expect("served");
        let elapsed = started.elapsed();
        let (ok, failed) = l.finish();
        rows.push(("rustls CertResolver".into(), elapsed, ok, failed));
    }

    println!(
        "deploy benchmark: issued -> new certificate served, with a client handshaking throughout"
    );
    let restart = rows
        .iter()
        .find(|r| r.0.contains("restart"))
        .map(|r| r.1)
        .unwrap_or_default();
    for (method, elapsed, ok, failed) in &rows {
        println!(
            "  {method:<30} {:>8.1} ms   handshakes ok {ok:>6}, failed {failed:>4}   ({:.1}x the restart's time)",
            elapsed.as_secs_f64() * 1000.0,
            elapsed.as_secs_f64() / restart.as_secs_f64().max(1e-9)
        );
    }
    let _ = PathBuf::new();
}
