//! Revocation against a CA made in the test: OCSP answers produced by the real `openssl ocsp`
//! responder from a CA index, and a CRL made with rcgen, both served over HTTP on 127.0.0.1 by
//! the test. Good, revoked (OCSP and CRL), must-staple without a staple, and hostile responders
//! (garbage, a 100 MB CRL, silence), each a clear finding within bounded time.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension, DnType, KeyPair};
use serde_json::Value;
use time::OffsetDateTime;

/// DER of an authorityInfoAccess extension value naming one OCSP responder.
fn aia_ocsp(url: &str) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        assert!(content.len() < 128);
        [vec![tag, content.len() as u8], content.to_vec()].concat()
    }
    let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    let desc = tlv(0x30, &[&oid[..], &tlv(0x86, url.as_bytes())].concat());
    tlv(0x30, &desc)
}

struct Spec<'a> {
    serial: u8,
    ocsp: Option<&'a str>,
    crl: Option<&'a str>,
    must_staple: bool,
}

fn leaf(pki: &Pki, spec: &Spec<'_>) -> Leaf {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let now = OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(60);
    let serial = [0x11, spec.serial, (std::process::id() & 0xff) as u8, 0x5a];
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    if let Some(url) = spec.ocsp {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                aia_ocsp(url),
            ));
    }
    if let Some(url) = spec.crl {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.to_string()],
        }];
    }
    if spec.must_staple {
        // id-pe-tlsfeature: SEQUENCE { INTEGER 5 (status_request) }
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 24],
                vec![0x30, 0x03, 0x02, 0x01, 0x05],
            ));
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &pki.intermediate).expect("leaf");
    Leaf {
        der: cert.der().clone(),
        pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
        serial_hex: serial.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// The test's revocation host: `/ocsp` runs `openssl ocsp` on each request, `/crl` serves the
/// CRL, and three hostile paths: `/garbage`, `/huge` (a 100 MB body) and `/silent`.
struct Responder {
    addr: SocketAddr,
    /// Requests received.
    hits: Arc<AtomicUsize>,
    /// While set, every connection is closed unanswered (the responder is down).
    down: Arc<AtomicBool>,
}

fn responder(dir: PathBuf, pki_dir: PathBuf, crl: Arc<Vec<u8>>) -> Responder {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (counted, refusing) = (hits.clone(), down.clone());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().flatten().enumerate() {
            counted.fetch_add(1, Ordering::SeqCst);
            if refusing.load(Ordering::SeqCst) {
                drop(stream);
                continue;
            }
            let (dir, pki_dir, crl) = (dir.clone(), pki_dir.clone(), crl.clone());
            std::thread::spawn(move || serve(stream, n, &dir, &pki_dir, &crl));
        }
    });
    Responder { addr, hits, down }
}

fn serve(mut stream: TcpStream, n: usize, dir: &Path, pki_dir: &Path, crl: &[u8]) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let reply = |stream: &mut TcpStream, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    match path {
        "/ocsp" => {
            let req = dir.join(format!("req{n}.der"));
            let resp = dir.join(format!("resp{n}.der"));
            std::fs::write(&req, &body).expect("req");
            let out = std::process::Command::new("openssl")
                .arg("ocsp")
                .arg("-index")
                .arg(dir.join("index.txt"))
                .arg("-CA")
                .arg(pki_dir.join("intermediate.pem"))
                .arg("-rsigner")
                .arg(pki_dir.join("intermediate.pem"))
                .arg("-rkey")
                .arg(pki_dir.join("intermediate.key"))
                .arg("-reqin")
                .arg(&req)
                .arg("-respout")
                .arg(&resp)
                .args(["-ndays", "1"])
                .output()
                .expect("openssl ocsp");
            assert!(
                out.status.success(),
                "openssl ocsp: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            reply(&mut stream, &std::fs::read(&resp).expect("resp"));
        }
        "/crl" => reply(&mut stream, crl),
        "/garbage" => reply(&mut stream, b"<html>this is not OCSP</html>"),
        "/huge" => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n",
            );
            let chunk = vec![0x30u8; 64 * 1024];
            for _ in 0..1600 {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
        _ => std::thread::sleep(Duration::from_secs(20)),
    }
}

fn finding<'a>(loc: &'a Value, code: &str) -> Option<&'a Value> {
    loc["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["code"] == code))
}

#[test]
fn revocation_is_read_from_ocsp_and_crls_and_failures_stay_unknown() {
    let pki = Pki::new();
    std::fs::write(
        pki.dir.path().join("intermediate.key"),
        pki.intermediate_key_pem(),
    )
    .expect("key");
    let work = tempfile::tempdir().expect("tempdir");

    // A port for the responder is needed in the certificates, so bind first, then start it.
    let crl_revoked_serial = [0x11, 3, (std::process::id() & 0xff) as u8, 0x5a];
    let now = OffsetDateTime::now_utc();
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(1),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&crl_revoked_serial),
            revocation_time: now - time::Duration::hours(2),
            reason_code: Some(rcgen::RevocationReason::Superseded),
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&pki.intermediate)
    .expect("crl");
    let host = responder(
        work.path().to_path_buf(),
        pki.dir.path().to_path_buf(),
        Arc::new(crl.der().to_vec()),
    );
    let url = |path: &str| format!("http://{}{path}", host.addr);
    let (ocsp, crl_url) = (url("/ocsp"), url("/crl"));
    let specs = [
        (
            "good",
            Spec {
                serial: 1,
                ocsp: Some(&ocsp),
                crl: Some(&crl_url),
                must_staple: false,
            },
        ),
        (
            "revoked_ocsp",
            Spec {
                serial: 2,
                ocsp: Some(&ocsp),
                crl: None,
                must_staple: false,
            },
        ),
        (
            "revoked_crl",
            Spec {
                serial: 3,
                ocsp: None,
                crl: Some(&crl_url),
                must_staple: false,
            },
        ),
        (
            "garbage",
            Spec {
                serial: 4,
                ocsp: Some(&url("/garbage")),
                crl: None,
                must_staple: false,
            },
        ),
        (
            "huge_crl",
            Spec {
                serial: 5,
                ocsp: None,
                crl: Some(&url("/huge")),
                must_staple: false,
            },
        ),
        (
            "silent",
            Spec {
                serial: 6,
                ocsp: Some(&url("/silent")),
                crl: None,
                must_staple: false,
            },
        ),
        (
            "must_staple",
            Spec {
                serial: 7,
                ocsp: Some(&ocsp),
                crl: None,
                must_staple: true,
            },
        ),
    ];
    let leaves: Vec<(&str, Leaf)> = specs.iter().map(|(n, s)| (*n, leaf(&pki, s))).collect();
    // The CA's index: everything valid except the one revoked for key compromise.
    let mut index = String::new();
    for (name, l) in &leaves {
        let serial = l.serial_hex.to_ascii_uppercase();
        if *name == "revoked_ocsp" {
            index.push_str(&format!(
                "R\t301231235959Z\t260101000000Z,keyCompromise\t{serial}\tunknown\t/CN=127.0.0.1\n"
            ));
        } else {
            index.push_str(&format!(
                "V\t301231235959Z\t\t{serial}\tunknown\t/CN=127.0.0.1\n"
            ));
        }
    }
    std::fs::write(work.path().join("index.txt"), index).expect("index");
    // Several test certificates share a subject.
    std::fs::write(work.path().join("index.txt.attr"), "unique_subject = no\n").expect("attr");

    let servers: Vec<(&str, TlsServer)> = leaves
        .iter()
        .map(|(n, l)| {
            (
                *n,
                TlsServer::start("127.0.0.1:0", pki.full_chain(l), &l.key_der, false),
            )
        })
        .collect();
    let config = write_config(
        work.path(),
        &format!(
            "[scan]\ntimeout = \"3s\"\nrevocation_timeout = \"2s\"\nca_files = [\"{}\"]\n",
            pki.root_path().display()
        ),
    );
    let mut args = vec![
        "scan".to_string(),
        "--config".into(),
        config.display().to_string(),
        "-o".into(),
        "json".into(),
    ];
    args.extend(servers.iter().map(|(_, s)| s.addr.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let doc = certctl_json(&work.path().join("store"), &args);
    // Scans run concurrently; the silent responder and the huge CRL cost at most their 2 s.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let loc = |name: &str| -> Value {
        let addr = servers
            .iter()
            .find(|(n, _)| *n == name)
            .expect("server")
            .1
            .addr;
        doc["locations"]
            .as_array()
            .expect("locations")
            .iter()
            .find(|l| l["target"] == addr.to_string())
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in {doc:#}"))
    };

    let good = loc("good");
    assert_eq!(codes(&good), Vec::<String>::new(), "{good:#}");
    assert_eq!(good["status"], "ok");

    let revoked = loc("revoked_ocsp");
    let f = finding(&revoked, "revoked").unwrap_or_else(|| panic!("{revoked:#}"));
    assert_eq!(f["severity"], "critical");
    let m = f["message"].as_str().expect("message");
    assert!(
        m.contains("2026-01-01T00:00:00Z")
            && m.contains("keyCompromise")
            && m.contains("OCSP responder"),
        "{m}"
    );

    let by_crl = loc("revoked_crl");
    let f = finding(&by_crl, "revoked").unwrap_or_else(|| panic!("{by_crl:#}"));
    let m = f["message"].as_str().expect("message");
    assert!(m.contains("superseded") && m.contains("CRL http://"), "{m}");

    for (name, words) in [
        ("garbage", "the OCSP response is malformed"),
        ("huge_crl", "sent more than 10485760 bytes"),
        ("silent", "did not answer within 2s"),
    ] {
        let l = loc(name);
        let f = finding(&l, "revocation_unknown").unwrap_or_else(|| panic!("{name}: {l:#}"));
        assert_eq!(f["severity"], "info", "{name}");
        assert!(
            f["message"].as_str().expect("message").contains(words),
            "{name}: {f}"
        );
        // Unknown is information: the location stays ok.
        assert_eq!(l["status"], "ok", "{name}: {l:#}");
    }

    let staple = loc("must_staple");
    let f = finding(&staple, "ocsp_must_staple_missing").unwrap_or_else(|| panic!("{staple:#}"));
    assert_eq!(f["severity"], "critical");

    // The same certificates in files: a bundle carries its issuer, a lone leaf does not.
    let files = work.path().join("certs");
    std::fs::create_dir_all(&files).expect("mkdir");
    let of = |name: &str| &leaves.iter().find(|(n, _)| *n == name).expect("leaf").1;
    let bundle = |l: &Leaf| format!("{}{}", l.pem, pki.intermediate.pem());
    std::fs::write(files.join("ocsp.pem"), bundle(of("revoked_ocsp"))).expect("write");
    std::fs::write(files.join("crl.pem"), bundle(of("revoked_crl"))).expect("write");
    std::fs::write(files.join("staple.pem"), bundle(of("must_staple"))).expect("write");
    std::fs::write(files.join("lone.pem"), &of("good").pem).expect("write");
    let doc = certctl_json(
        &work.path().join("store"),
        &[
            "scan",
            "-c",
            config.to_str().expect("utf8"),
            files.to_str().expect("utf8"),
            "-o",
            "json",
        ],
    );
    let file = |name: &str, index: u32| -> Value {
        let mut target = files.join(name).display().to_string();
        if index > 0 {
            target = format!("{target}#{index}");
        }
        doc["locations"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["target"] == target).cloned())
            .unwrap_or_else(|| panic!("{target} in {doc:#}"))
    };
    for (name, words) in [("ocsp.pem", "keyCompromise"), ("crl.pem", "superseded")] {
        let l = file(name, 0);
        let f = finding(&l, "revoked").unwrap_or_else(|| panic!("{name}: {l:#}"));
        assert!(
            f["message"].as_str().expect("message").contains(words),
            "{f}"
        );
        // The intermediate beside it is a CA: not asked about.
        assert!(finding(&file(name, 1), "revocation_unknown").is_none());
    }
    // A file cannot staple: must-staple is a server's duty, not a finding on a file.
    assert_eq!(codes(&file("staple.pem", 0)), Vec::<String>::new());
    let lone = file("lone.pem", 0);
    let f = finding(&lone, "revocation_unknown").unwrap_or_else(|| panic!("{lone:#}"));
    assert!(
        f["message"]
            .as_str()
            .expect("message")
            .contains("issuer was not presented"),
        "{f}"
    );
}

#[test]
fn revocation_checks_can_be_turned_off() {
    let pki = Pki::new();
    let l = leaf(
        &pki,
        &Spec {
            serial: 9,
            ocsp: Some("http://127.0.0.1:9/ocsp"),
            crl: None,
            must_staple: false,
        },
    );
    let server = TlsServer::start("127.0.0.1:0", pki.full_chain(&l), &l.key_der, false);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &format!(
            "[scan]\nrevocation = false\nca_files = [\"{}\"]\n",
            pki.root_path().display()
        ),
    );
    let doc = certctl_json(
        &dir.path().join("store"),
        &[
            "scan",
            "-c",
            config.to_str().expect("utf8"),
            &server.addr.to_string(),
            "-o",
            "json",
        ],
    );
    assert_eq!(codes(&doc["locations"][0]), Vec::<String>::new(), "{doc:#}");
}

/// An OCSP response made by `openssl ocsp` from `index` for `leaf`, in a file.
fn ocsp_response_file(pki: &Pki, dir: &Path, leaf: &Leaf, index: &str) -> PathBuf {
    std::fs::write(dir.join("index.txt"), index).expect("index");
    std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n").expect("attr");
    let int = pki.intermediate_path();
    let key = pki.dir.path().join("intermediate.key");
    std::fs::write(&key, pki.intermediate_key_pem()).expect("key");
    let serial = format!("0x{}", leaf.serial_hex);
    let req = dir.join(format!("{}.req", leaf.serial_hex));
    let resp = dir.join(format!("{}.resp", leaf.serial_hex));
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("openssl")
            .arg("ocsp")
            .args(args)
            .output()
            .expect("openssl ocsp");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "-issuer".as_ref(),
        int.as_os_str(),
        "-serial".as_ref(),
        serial.as_ref(),
        "-no_nonce".as_ref(),
        "-reqout".as_ref(),
        req.as_os_str(),
    ]);
    let index_path = dir.join("index.txt");
    run(&[
        "-index".as_ref(),
        index_path.as_os_str(),
        "-CA".as_ref(),
        int.as_os_str(),
        "-rsigner".as_ref(),
        int.as_os_str(),
        "-rkey".as_ref(),
        key.as_os_str(),
        "-reqin".as_ref(),
        req.as_os_str(),
        "-respout".as_ref(),
        resp.as_os_str(),
        "-ndays".as_ref(),
        "1".as_ref(),
    ]);
    resp
}

#[test]
fn a_stapled_response_is_read_and_satisfies_must_staple() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    // Their responder is unreachable: only the staple can answer.
    let dead = "http://127.0.0.1:9/ocsp";
    let revoked = leaf(
        &pki,
        &Spec {
            serial: 20,
            ocsp: Some(dead),
            crl: None,
            must_staple: false,
        },
    );
    let must = leaf(
        &pki,
        &Spec {
            serial: 21,
            ocsp: Some(dead),
            crl: None,
            must_staple: true,
        },
    );
    let index = format!(
        "R\t301231235959Z\t260102030405Z,cessationOfOperation\t{}\tunknown\t/CN=127.0.0.1\n\
         V\t301231235959Z\t\t{}\tunknown\t/CN=127.0.0.1\n",
        revoked.serial_hex.to_ascii_uppercase(),
        must.serial_hex.to_ascii_uppercase()
    );
    let [p1, p2] = free_ports::<2>();
    let mut servers = Vec::new();
    for (l, port, name) in [(&revoked, p1, "revoked"), (&must, p2, "must")] {
        let resp = ocsp_response_file(&pki, dir.path(), l, &index);
        let (fullchain, key) = pki.write_leaf(name, l, true);
        let m = common::servers::Material { fullchain, key };
        servers.push(common::servers::openssl_server(
            &m,
            port,
            &["-status_file", resp.to_str().expect("utf8")],
        ));
    }
    let config = write_config(
        dir.path(),
        &format!(
            "[scan]\nrevocation_timeout = \"2s\"\nca_files = [\"{}\"]\n",
            pki.root_path().display()
        ),
    );
    let (t1, t2) = (format!("127.0.0.1:{p1}"), format!("127.0.0.1:{p2}"));
    let doc = certctl_json(
        &dir.path().join("store"),
        &[
            "scan",
            "-c",
            config.to_str().expect("utf8"),
            &t1,
            &t2,
            "-o",
            "json",
        ],
    );
    let loc = |t: &str| -> Value {
        doc["locations"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["target"] == t).cloned())
            .unwrap_or_else(|| panic!("{t} in {doc:#}"))
    };
    let r = loc(&t1);
    let f = finding(&r, "revoked").unwrap_or_else(|| panic!("{r:#}"));
    let m = f["message"].as_str().expect("message");
    assert!(
        m.contains("2026-01-02T03:04:05Z")
            && m.contains("cessationOfOperation")
            && m.contains("stapled"),
        "{m}"
    );
    let ok = loc(&t2);
    let mut found = codes(&ok);
    found.retain(|c| c != "no_tls13");
    assert_eq!(found, Vec::<String>::new(), "{ok:#}");
}

/// Verified answers outlive the process: the next `certctl scan` (a cron run, a restarted
/// daemon) reads the OCSP responses and the CRL kept in the store, verified again, instead of
/// asking; with the responder down it still knows what is good and what is revoked. A store
/// without them (a fresh one) sees the outage as `revocation_unknown`.
#[test]
fn revocation_answers_are_kept_in_the_store_across_runs() {
    let pki = Pki::new();
    std::fs::write(
        pki.dir.path().join("intermediate.key"),
        pki.intermediate_key_pem(),
    )
    .expect("key");
    let work = tempfile::tempdir().expect("tempdir");
    let revoked_serial = [0x11, 3, (std::process::id() & 0xff) as u8, 0x5a];
    let now = OffsetDateTime::now_utc();
    let crl = rcgen::CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update: now + time::Duration::days(1),
        crl_number: rcgen::SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&revoked_serial),
            revocation_time: now - time::Duration::hours(2),
            reason_code: Some(rcgen::RevocationReason::Superseded),
            invalidity_date: None,
        }],
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&pki.intermediate)
    .expect("crl");
    let host = responder(
        work.path().to_path_buf(),
        pki.dir.path().to_path_buf(),
        Arc::new(crl.der().to_vec()),
    );
    let (ocsp, crl_url) = (
        format!("http://{}/ocsp", host.addr),
        format!("http://{}/crl", host.addr),
    );
    let good = leaf(
        &pki,
        &Spec {
            serial: 1,
            ocsp: Some(&ocsp),
            crl: None,
            must_staple: false,
        },
    );
    let revoked_ocsp = leaf(
        &pki,
        &Spec {
            serial: 2,
            ocsp: Some(&ocsp),
            crl: None,
            must_staple: false,
        },
    );
    let revoked_crl = leaf(
        &pki,
        &Spec {
            serial: 3,
            ocsp: None,
            crl: Some(&crl_url),
            must_staple: false,
        },
    );
    let index = format!(
        "V\t301231235959Z\t\t{}\tunknown\t/CN=127.0.0.1\nR\t301231235959Z\t260101000000Z,keyCompromise\t{}\tunknown\t/CN=127.0.0.1\n",
        good.serial_hex.to_ascii_uppercase(),
        revoked_ocsp.serial_hex.to_ascii_uppercase()
    );
    std::fs::write(work.path().join("index.txt"), index).expect("index");
    std::fs::write(work.path().join("index.txt.attr"), "unique_subject = no\n").expect("attr");
    let files = work.path().join("certs");
    std::fs::create_dir_all(&files).expect("mkdir");
    for (name, l) in [
        ("good", &good),
        ("ocsp", &revoked_ocsp),
        ("crl", &revoked_crl),
    ] {
        std::fs::write(
            files.join(format!("{name}.pem")),
            format!("{}{}", l.pem, pki.intermediate.pem()),
        )
        .expect("write");
    }
    let config = write_config(
        work.path(),
        &format!(
            "[scan]\nrevocation_timeout = \"2s\"\nca_files = [\"{}\"]\n",
            pki.root_path().display()
        ),
    );
    let scan = |store: &Path| -> Value {
        certctl_json(
            store,
            &[
                "scan",
                "-c",
                config.to_str().expect("utf8"),
                files.to_str().expect("utf8"),
                "-o",
                "json",
            ],
        )
    };
    let codes_of = |doc: &Value, name: &str| -> Vec<String> {
        let target = files.join(format!("{name}.pem")).display().to_string();
        let loc = doc["locations"]
            .as_array()
            .and_then(|a| a.iter().find(|l| l["target"] == target).cloned())
            .unwrap_or_else(|| panic!("{target} in {doc:#}"));
        codes(&loc)
    };
    let store = work.path().join("store");
    let first = scan(&store);
    assert_eq!(codes_of(&first, "good"), Vec::<String>::new(), "{first:#}");
    assert_eq!(codes_of(&first, "ocsp"), vec!["revoked"], "{first:#}");
    assert_eq!(codes_of(&first, "crl"), vec!["revoked"], "{first:#}");
    let asked = host.hits.load(Ordering::SeqCst);
    assert_eq!(asked, 3, "two OCSP requests and one CRL");

    // The responder goes down; the next run answers from the store, asking nothing.
    host.down.store(true, Ordering::SeqCst);
    let second = scan(&store);
    assert_eq!(
        host.hits.load(Ordering::SeqCst),
        asked,
        "nothing was asked again"
    );
    assert_eq!(
        codes_of(&second, "good"),
        Vec::<String>::new(),
        "{second:#}"
    );
    assert_eq!(codes_of(&second, "ocsp"), vec!["revoked"], "{second:#}");
    assert_eq!(codes_of(&second, "crl"), vec!["revoked"], "{second:#}");

    // A store without the answers asks, and the outage is what it can say.
    let fresh = scan(&work.path().join("fresh"));
    assert!(host.hits.load(Ordering::SeqCst) > asked);
    for name in ["good", "ocsp", "crl"] {
        assert_eq!(
            codes_of(&fresh, name),
            vec!["revocation_unknown"],
            "{name}: {fresh:#}"
        );
    }
}
