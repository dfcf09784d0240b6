//! `certctl discover --local` against the real servers from Debian (nginx, haproxy, postfix,
//! dovecot, Apache httpd), each started on loopback with a certificate made in the test and its own
//! configuration in a throwaway directory: every certificate file each configuration names is
//! listed, every listener it serves them on is scanned (STARTTLS where the server upgrades), and
//! a file that a configuration names but that does not exist is a `file_missing` finding that
//! alerts and resolves.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::servers::{self, Material};
use common::*;
use serde_json::Value;

fn material(pki: &Pki, name: &str, leaf: &Leaf) -> Material {
    let (fullchain, key) = pki.write_leaf(name, leaf, true);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(pki.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Material { fullchain, key }
}

/// haproxy serving `combined` on 127.0.0.1:`port`, killed on drop.
struct Haproxy(Child);

impl Haproxy {
    fn start(conf: &Path, port: u16) -> Haproxy {
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts (apt-get install haproxy)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        Haproxy(child)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Apache httpd in the foreground with `conf`, until it listens on 127.0.0.1:`port`; stopped
/// on drop.
struct Apache(Child);

impl Apache {
    fn start(conf: &Path, port: u16) -> Apache {
        let child = Command::new("apache2")
            .arg("-f")
            .arg(conf)
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("apache2 starts (apt-get install apache2)");
        let mut apache = Apache(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = apache.0.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "apache2 did not listen on {port} ({exited:?}): {}",
                std::fs::read_to_string(conf.with_file_name("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        apache
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn by_target<'a>(locations: &'a [Value], target: &str) -> &'a Value {
    locations
        .iter()
        .find(|l| l["target"] == target)
        .unwrap_or_else(|| panic!("no location {target} in {locations:#?}"))
}

#[test]
fn the_servers_own_configuration_names_every_file_and_listener() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();

    // nginx: a server block with a name, and an include directory read at scan time.
    let www = pki.leaf(&["www.local.test"], -1, 60, SignedBy::Intermediate);
    let web = material(&pki, "www", &www);
    let sites = d.join("sites");
    std::fs::create_dir_all(&sites).expect("mkdir");
    let nginx_port = free_port();
    let nginx = Nginx::start_blocks(
        &format!(
            "  include {}/*.conf;\n  server {{\n    listen 127.0.0.1:{nginx_port} ssl;\n    server_name _ www.local.test;\n    ssl_certificate {};\n    ssl_certificate_key {};\n    ssl_protocols TLSv1.2 TLSv1.3;\n    return 200 \"ok\\n\";\n  }}\n",
            sites.display(),
            web.fullchain.display(),
            web.key.display()
        ),
        vec![nginx_port],
    );
    // A site added since nginx last (re)loaded, naming a certificate that is not there: the
    // next reload would fail.
    let absent = d.join("renewed/shop.pem");
    std::fs::write(
        sites.join("shop.conf"),
        format!(
            "server {{\n  listen 127.0.0.1:{nginx_port} ssl;\n  server_name shop.local.test;\n  ssl_certificate {};\n  ssl_certificate_key {};\n}}\n",
            absent.display(),
            web.key.display()
        ),
    )
    .expect("write site");

    // haproxy: one frontend with a combined PEM.
    let lb = pki.leaf(&["lb.local.test"], -1, 40, SignedBy::Intermediate);
    let combined = d.join("lb.pem");
    std::fs::write(
        &combined,
        format!("{}{}{}", lb.pem, pki.intermediate.pem(), lb.key_pem),
    )
    .expect("pem");
    let lb_port = free_port();
    let haproxy_cfg = d.join("haproxy.cfg");
    std::fs::write(
        &haproxy_cfg,
        format!(
            "global\n  crt-base {d}\n  log stderr local0 warning\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n\
             frontend fe\n  bind 127.0.0.1:{lb_port} ssl crt lb.pem\n  http-request return status 200 content-type text/plain string ok\n",
            d = d.display()
        ),
    )
    .expect("cfg");
    let _haproxy = Haproxy::start(&haproxy_cfg, lb_port);

    // postfix (STARTTLS on smtp, wrapper mode on smtps) and dovecot (IMAP and POP3 STARTTLS,
    // IMAPS), sharing a mail certificate.
    let mail_leaf = pki.leaf(&["mail.local.test"], -1, 50, SignedBy::Intermediate);
    let mail = material(&pki, "mail", &mail_leaf);
    let [smtp, smtps, imap, pop3, imaps] = free_ports::<5>();
    let postfix = servers::postfix(Some(&mail), smtp, smtps);
    let dovecot = servers::dovecot(&mail, imap, pop3, imaps);

    // Apache: a virtual host in an included file, its certificate path built from a Define.
    let app = pki.leaf(&["app.local.test"], -1, 45, SignedBy::Intermediate);
    let app_files = material(&pki, "app", &app);
    let apache_port = free_port();
    let apache_dir = d.join("apache");
    std::fs::create_dir_all(apache_dir.join("sites")).expect("mkdir");
    let apache_conf = apache_dir.join("apache2.conf");
    let modules = "/usr/lib/apache2/modules";
    std::fs::write(
        &apache_conf,
        format!(
            "ServerRoot \"{a}\"\nDefaultRuntimeDir \"{a}\"\nPidFile \"{a}/apache.pid\"\nErrorLog \"{a}/error.log\"\n\
             LoadModule mpm_event_module {modules}/mod_mpm_event.so\nLoadModule authz_core_module {modules}/mod_authz_core.so\n\
             LoadModule ssl_module {modules}/mod_ssl.so\nUser www-data\nGroup www-data\nServerName localhost\n\
             Listen 127.0.0.1:{apache_port}\nDefine CERTS {certs}\nIncludeOptional sites/*.conf\n",
            a = apache_dir.display(),
            certs = app_files.fullchain.parent().expect("dir").display(),
        ),
    )
    .expect("apache2.conf");
    std::fs::write(
        apache_dir.join("sites/app.conf"),
        format!(
            "<VirtualHost 127.0.0.1:{apache_port}>\n  ServerName app.local.test\n  <IfModule ssl_module>\n    SSLEngine on\n    \
             SSLCertificateFile \"${{CERTS}}/{cert}\"\n    SSLCertificateKeyFile {key}\n  </IfModule>\n</VirtualHost>\n",
            cert = app_files.fullchain.file_name().expect("name").to_string_lossy(),
            key = app_files.key.display(),
        ),
    )
    .expect("app.conf");
    let _apache = Apache::start(&apache_conf, apache_port);

    let rx = common::receiver::Receiver::start();
    let config = write_config(
        d,
        &format!(
            "[scan]\ntimeout = \"2s\"\nca_files = [\"{root}\"]\n\n\
             [discovery]\nnginx_conf = \"{nginx}\"\nhaproxy_conf = \"{haproxy}\"\n\
             postfix_dir = \"{postfix}\"\ndovecot_conf = \"{dovecot}\"\napache_conf = \"{apache}\"\n\n\
             [[webhook]]\nname = \"sre\"\nformat = \"generic\"\nurl = \"{url}\"\nevents = [\"file_missing\", \"resolved\"]\n",
            root = pki.root_path().display(),
            nginx = nginx.dir.path().join("nginx.conf").display(),
            haproxy = haproxy_cfg.display(),
            postfix = postfix.dir().join("conf").display(),
            dovecot = dovecot.dir().join("dovecot.conf").display(),
            apache = apache_conf.display(),
            url = rx.url("/hook"),
        ),
    );
    let cfg = config.to_str().expect("utf8");
    let store = d.join("store");
    let out = certctl(
        &store,
        &["discover", "-c", cfg, "--local", "--add", "-o", "json"],
    );
    let said = stderr(&out);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} / {said}", stdout(&out)));
    let found = doc["locations"].as_array().expect("locations").clone();
    // Each server's line says what its configuration named.
    for server in ["nginx", "haproxy", "postfix", "dovecot", "apache"] {
        assert!(
            said.lines()
                .any(|l| l.starts_with(server) && l.contains("certificate file")),
            "{server}: {said}"
        );
    }

    // Every listener serves what its configuration names; STARTTLS where the server upgrades.
    let served = |target: &str, leaf: &Leaf| {
        let loc = by_target(&found, target);
        assert_eq!(loc["certificate"]["serial"], leaf.serial_hex, "{loc:#}");
        assert_eq!(loc["status"], "ok", "{loc:#}");
        assert_eq!(loc["labels"]["discovered"], "true", "{loc:#}");
        loc.clone()
    };
    let site = served(&format!("127.0.0.1:{nginx_port} (www.local.test)"), &www);
    assert_eq!(site["labels"]["source"], "nginx");
    served(&format!("127.0.0.1:{lb_port}"), &lb);
    let relay = served(&format!("smtp://127.0.0.1:{smtp}"), &mail_leaf);
    assert_eq!(relay["protocol"], "smtp");
    assert_eq!(relay["labels"]["source"], "postfix");
    served(&format!("127.0.0.1:{smtps}"), &mail_leaf);
    served(&format!("imap://127.0.0.1:{imap}"), &mail_leaf);
    served(&format!("pop3://127.0.0.1:{pop3}"), &mail_leaf);
    served(&format!("127.0.0.1:{imaps}"), &mail_leaf);
    let vhost = served(&format!("127.0.0.1:{apache_port} (app.local.test)"), &app);
    assert_eq!(vhost["labels"]["source"], "apache");
    // The site added since the last reload names the same listener under its own name; nginx
    // has not loaded it, so its name is not covered by what is served there.
    let stale_site = by_target(&found, &format!("127.0.0.1:{nginx_port} (shop.local.test)"));
    assert!(
        codes(stale_site).contains(&"hostname_mismatch".to_string()),
        "{stale_site:#}"
    );

    // The files: each leaf (and the intermediate bundled with it), and the missing one.
    for (path, leaf) in [
        (&web.fullchain, &www),
        (&combined, &lb),
        (&mail.fullchain, &mail_leaf),
        (&app_files.fullchain, &app),
    ] {
        let loc = by_target(&found, &path.display().to_string());
        assert_eq!(loc["certificate"]["serial"], leaf.serial_hex, "{loc:#}");
    }
    let missing = by_target(&found, &absent.display().to_string());
    assert_eq!(codes(missing), vec!["file_missing"], "{missing:#}");
    assert_eq!(missing["status"], "critical", "{missing:#}");
    assert_eq!(missing["labels"]["source"], "nginx");
    let message = missing["findings"][0]["message"].as_str().expect("message");
    assert!(
        message.contains("shop.pem") && message.contains("no such file"),
        "{message}"
    );

    // One alert for the missing file.
    let alerts = rx.wait_for(1, Duration::from_secs(10));
    let body = alerts[0].json();
    assert_eq!(body["data"]["kind"], "file_missing", "{body:#}");
    assert!(
        body["data"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("shop.pem")),
        "{body:#}"
    );

    // Recorded: `list --label source=...` shows what each server named.
    let listed = certctl_json(
        &store,
        &["list", "-c", cfg, "--label", "source=dovecot", "-o", "json"],
    );
    let dovecot_targets: Vec<&str> = listed["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .filter_map(|l| l["target"].as_str())
        .collect();
    assert!(
        dovecot_targets.contains(&format!("imap://127.0.0.1:{imap}").as_str()),
        "{dovecot_targets:?}"
    );

    // The renewal lands: the file exists, the finding and its alert resolve.
    std::fs::create_dir_all(absent.parent().expect("parent")).expect("mkdir");
    std::fs::copy(&web.fullchain, &absent).expect("copy");
    let again = certctl_json(
        &store,
        &["discover", "-c", cfg, "--local", "--add", "-o", "json"],
    );
    let now_there = by_target(
        again["locations"].as_array().expect("locations"),
        &absent.display().to_string(),
    );
    assert!(
        !codes(now_there).contains(&"file_missing".to_string()),
        "{now_there:#}"
    );
    let alerts = rx.wait_for(2, Duration::from_secs(10));
    let resolved = alerts[1].json();
    assert_eq!(resolved["data"]["kind"], "resolved", "{resolved:#}");
    drop(nginx);
}

#[test]
fn absent_and_broken_configuration_is_said_and_the_rest_is_read() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let leaf = pki.leaf(&["ok.local.test"], -1, 60, SignedBy::Intermediate);
    let (cert, _) = pki.write_leaf("ok", &leaf, false);
    // A broken nginx configuration (an unclosed block) is reported with its file and line;
    // haproxy's, which is fine, is still read; postfix and dovecot are not installed here.
    std::fs::write(
        d.join("nginx.conf"),
        "http {\n  server {\n    listen 443 ssl;\n",
    )
    .expect("write");
    std::fs::write(
        d.join("haproxy.cfg"),
        format!(
            "frontend fe\n  bind 127.0.0.1:1 ssl crt {}\n",
            cert.display()
        ),
    )
    .expect("write");
    let config = write_config(
        d,
        &format!(
            "[scan]\ntimeout = \"1s\"\nca_files = [\"{root}\"]\n\n[discovery]\nnginx_conf = \"nginx.conf\"\nhaproxy_conf = \"haproxy.cfg\"\npostfix_dir = \"{d}/no-postfix\"\ndovecot_conf = \"{d}/no-dovecot.conf\"\napache_conf = \"{d}/no-apache2.conf\"\n",
            root = pki.root_path().display(),
            d = d.display()
        ),
    );
    let cfg = config.to_str().expect("utf8");
    let out = certctl(&d.join("store"), &["discover", "-c", cfg, "--local"]);
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("nginx.conf") && said.contains("unexpected end of file"),
        "{said}"
    );
    assert!(said.contains("no-postfix: not found, skipped"), "{said}");
    let table = stdout(&out);
    assert!(table.contains(&cert.display().to_string()), "{table}");
    // --local takes no ranges.
    let out = certctl(
        &d.join("store"),
        &["discover", "-c", cfg, "--local", "127.0.0.1"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}
