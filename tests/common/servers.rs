//! Real STARTTLS servers from Debian, each started on loopback ports in a throwaway directory
//! with a certificate made by the test, and stopped on drop: postfix (SMTP, and SMTPS through
//! its wrapper mode), dovecot (IMAP, POP3, IMAPS), slapd (LDAP, LDAPS), vsftpd (FTP) and
//! PostgreSQL (a cluster made with initdb).

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A certificate file (leaf then intermediate) and its key.
#[derive(Clone)]
pub struct Material {
    pub fullchain: PathBuf,
    pub key: PathBuf,
}

/// One running server. Drop stops it.
pub struct Server {
    pub name: &'static str,
    dir: tempfile::TempDir,
    child: Child,
    log: PathBuf,
    stop: Option<Vec<String>>,
}

impl Server {
    fn spawn(
        name: &'static str,
        dir: tempfile::TempDir,
        mut command: Command,
        ports: &[u16],
        stop: Option<Vec<String>>,
    ) -> Server {
        let log = dir.path().join(format!("{name}.out"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (is the Debian package installed? .ci/install-deps installs it): {e}"));
        let mut server = Server {
            name,
            dir,
            child,
            log,
            stop,
        };
        server.wait_for(ports);
        server
    }

    fn wait_for(&mut self, ports: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                let exited = self.child.try_wait().ok().flatten();
                if exited.is_some() || Instant::now() > deadline {
                    panic!(
                        "{} did not listen on 127.0.0.1:{port} ({exited:?}): {}",
                        self.name,
                        self.log_text()
                    );
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }

    /// The server's scratch directory (postfix's configuration is in `conf/`, dovecot's in
    /// `dovecot.conf`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's main process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        for extra in ["dovecot.log", "maillog"] {
            if let Ok(more) = std::fs::read_to_string(self.dir.path().join(extra)) {
                text.push_str(&more);
            }
        }
        text
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            let _ = Command::new(&stop[0])
                .args(&stop[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch directory that other users (postfix, postgres) can traverse.
fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn chown(path: &Path, user: &str) {
    let status = Command::new("chown")
        .arg("-R")
        .arg(user)
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {user} {}", path.display());
}

/// postfix on `smtp` (STARTTLS when `tls` is given, none otherwise) and, with TLS, `smtps`
/// (wrapper mode).
pub fn postfix(tls: Option<&Material>, smtp: u16, smtps: u16) -> Server {
    postfix_with(tls, smtp, smtps, "", &[])
}

/// postfix as [`postfix`], with more `main.cf` lines and `master.cf` services.
pub fn postfix_with(
    tls: Option<&Material>,
    smtp: u16,
    smtps: u16,
    main_extra: &str,
    services_extra: &[&str],
) -> Server {
    let dir = open_dir();
    let root = dir.path();
    let conf = root.join("conf");
    for d in ["conf", "queue", "data"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    chown(&root.join("data"), "postfix");
    let tls_lines = match tls {
        Some(m) => format!(
            "smtpd_tls_cert_file = {}\nsmtpd_tls_key_file = {}\nsmtpd_tls_security_level = may\n",
            m.fullchain.display(),
            m.key.display()
        ),
        None => "smtpd_tls_security_level = none\n".to_string(),
    };
    std::fs::write(
        conf.join("main.cf"),
        format!(
            "compatibility_level = 3.6\nqueue_directory = {q}\ndata_directory = {d}\n\
             mail_owner = postfix\nsetgid_group = postdrop\ninet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\nmyhostname = mail.test\nmydestination =\n\
             maillog_file = /dev/stdout\n{tls_lines}{main_extra}",
            q = root.join("queue").display(),
            d = root.join("data").display(),
        ),
    )
    .expect("main.cf");
    let mut services = format!("127.0.0.1:{smtp} inet n - n - - smtpd\n");
    if tls.is_some() {
        services.push_str(&format!(
            "127.0.0.1:{smtps} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes\n"
        ));
    }
    for line in [
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "tlsmgr unix - - n 1000? 1 tlsmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "smtp unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "discard unix - - n - - discard",
        "local unix - n n - - local",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ]
    .into_iter()
    .chain(services_extra.iter().copied())
    {
        services.push_str(line);
        services.push('\n');
    }
    std::fs::write(conf.join("master.cf"), services).expect("master.cf");
    let mut command = Command::new("postfix");
    command.arg("-c").arg(&conf).arg("start-fg");
    let conf_arg = conf.display().to_string();
    let ports: Vec<u16> = if tls.is_some() {
        vec![smtp, smtps]
    } else {
        vec![smtp]
    };
    Server::spawn(
        "postfix",
        dir,
        command,
        &ports,
        Some(vec!["postfix".into(), "-c".into(), conf_arg, "stop".into()]),
    )
}

/// A mail system for e-mail delivery tests: postfix (STARTTLS on `smtp`, wrapper mode on
/// `smtps`) that accepts mail only from clients that logged in (SMTP AUTH over TLS, checked by
/// dovecot's auth service against `users`) and delivers it for `example.test` into one Maildir
/// per `mailboxes` entry. Returns postfix, dovecot and the directory whose `mail/<box>/new`
/// receives the messages.
pub fn mail_system(
    m: &Material,
    smtp: u16,
    smtps: u16,
    users: &[(&str, &str)],
    mailboxes: &[&str],
) -> (Server, Server, tempfile::TempDir) {
    let auth_dir = open_dir();
    let run = auth_dir.path().join("run");
    std::fs::create_dir_all(&run).expect("mkdir");
    let passwd: String = users
        .iter()
        .map(|(u, p)| format!("{u}:{{PLAIN}}{p}::::::\n"))
        .collect();
    std::fs::write(auth_dir.path().join("users"), passwd).expect("users");
    let conf = auth_dir.path().join("dovecot.conf");
    let socket = run.join("auth-postfix");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {run}\nstate_dir = {run}\nlog_path = {log}\nprotocols = none\nssl = no\n\
             auth_mechanisms = plain login\n\
             passdb {{\n  driver = passwd-file\n  args = {users}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home=/nonexistent\n}}\n\
             service auth {{\n  unix_listener {socket} {{\n    mode = 0666\n  }}\n}}\n",
            run = run.display(),
            log = auth_dir.path().join("dovecot.log").display(),
            users = auth_dir.path().join("users").display(),
            socket = socket.display(),
        ),
    )
    .expect("dovecot.conf");
    let mut command = Command::new("dovecot");
    command.arg("-F").arg("-c").arg(&conf);
    let dovecot = Server::spawn("dovecot", auth_dir, command, &[], None);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "dovecot's auth socket did not appear: {}",
            dovecot.log_text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    let mail = open_dir();
    let maildirs = mail.path().join("mail");
    std::fs::create_dir_all(&maildirs).expect("mkdir");
    chown(&maildirs, "nobody");
    let maps: String = mailboxes
        .iter()
        .map(|b| format!("{b}@example.test {b}/\n"))
        .collect();
    let map_file = mail.path().join("vmailbox");
    std::fs::write(&map_file, maps).expect("vmailbox");
    let main_extra = format!(
        "virtual_mailbox_domains = example.test\nvirtual_mailbox_base = {base}\n\
         virtual_mailbox_maps = texthash:{maps}\nvirtual_uid_maps = static:65534\n\
         virtual_gid_maps = static:65534\nvirtual_minimum_uid = 100\n\
         smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = {socket}\n\
         smtpd_tls_auth_only = yes\n\
         smtpd_recipient_restrictions = permit_sasl_authenticated, reject\n",
        base = maildirs.display(),
        maps = map_file.display(),
        socket = socket.display(),
    );
    let postfix = postfix_with(
        Some(m),
        smtp,
        smtps,
        &main_extra,
        &["virtual unix - n n - - virtual"],
    );
    (postfix, dovecot, mail)
}

/// dovecot with IMAP, POP3 (STARTTLS) and IMAPS listeners.
pub fn dovecot(m: &Material, imap: u16, pop3: u16, imaps: u16) -> Server {
    let dir = open_dir();
    let root = dir.path();
    let run = root.join("run");
    std::fs::create_dir_all(&run).expect("mkdir");
    let conf = root.join("dovecot.conf");
    std::fs::write(
        &conf,
        format!(
            "base_dir = {run}\nstate_dir = {run}\nlog_path = {log}\nlisten = 127.0.0.1\n\
             protocols = imap pop3\nssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n\
             mail_location = maildir:{root}/mail/%u\n\
             passdb {{\n  driver = static\n  args = nopassword\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={root}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap}\n  }}\n\
               inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps}\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    address = 127.0.0.1\n    port = {pop3}\n  }}\n\
               inet_listener pop3s {{\n    port = 0\n  }}\n}}\n",
            run = run.display(),
            log = root.join("dovecot.log").display(),
            cert = m.fullchain.display(),
            key = m.key.display(),
            root = root.display(),
        ),
    )
    .expect("dovecot.conf");
    let mut command = Command::new("dovecot");
    command.arg("-F").arg("-c").arg(&conf);
    Server::spawn("dovecot", dir, command, &[imap, pop3, imaps], None)
}

/// slapd with an LDAP (StartTLS) and an LDAPS listener; no database, which StartTLS does not need.
pub fn slapd(m: &Material, ldap: u16, ldaps: u16) -> Server {
    let dir = open_dir();
    let conf = dir.path().join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "pidfile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
            dir.path().join("slapd.pid").display(),
            m.fullchain.display(),
            m.key.display()
        ),
    )
    .expect("slapd.conf");
    let mut command = Command::new("slapd");
    command
        .arg("-f")
        .arg(&conf)
        .arg("-h")
        .arg(format!(
            "ldap://127.0.0.1:{ldap}/ ldaps://127.0.0.1:{ldaps}/"
        ))
        .args(["-d", "0"]);
    Server::spawn("slapd", dir, command, &[ldap, ldaps], None)
}

/// vsftpd offering `AUTH TLS` on one port.
pub fn vsftpd(m: &Material, port: u16) -> Server {
    let dir = open_dir();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let conf = dir.path().join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
             background=NO\nssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\n\
             secure_chroot_dir={}\nanonymous_enable=NO\nlocal_enable=YES\nseccomp_sandbox=NO\n",
            m.fullchain.display(),
            m.key.display(),
            empty.display()
        ),
    )
    .expect("vsftpd.conf");
    let mut command = Command::new("vsftpd");
    command.arg(&conf);
    Server::spawn("vsftpd", dir, command, &[port], None)
}

/// A throwaway MariaDB (mariadb-install-db) on 127.0.0.1:`port`, with TLS when `tls` is given
/// (`--skip-ssl` otherwise).
pub fn mariadb(tls: Option<&Material>, port: u16) -> Server {
    let dir = open_dir();
    let root = dir.path().to_path_buf();
    let data = root.join("data");
    // Its own tmpdir: a mariadbd starting elsewhere clears the temporary tables it finds in
    // the shared /tmp, including those of a bootstrap running beside it.
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    let out = Command::new("mariadb-install-db")
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .args([
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ])
        .output()
        .expect("mariadb-install-db (Debian's mariadb-server)");
    assert!(
        out.status.success(),
        "mariadb-install-db failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut command = Command::new("mariadbd");
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--tmpdir={}", tmp.display()))
        .args([
            "--user=root",
            "--bind-address=127.0.0.1",
            "--skip-name-resolve",
        ])
        .args(["--skip-log-bin", "--innodb-buffer-pool-size=16M"])
        .arg(format!("--port={port}"))
        .arg(format!("--socket={}", root.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", root.join("mysqld.pid").display()));
    match tls {
        Some(m) => {
            command
                .arg(format!("--ssl-cert={}", m.fullchain.display()))
                .arg(format!("--ssl-key={}", m.key.display()));
        }
        None => {
            command.arg("--skip-ssl");
        }
    }
    Server::spawn("mariadb", dir, command, &[port], None)
}

/// prosody serving the XMPP domain `domain`: STARTTLS on `c2s`, TLS from the first byte on
/// `direct` (XEP-0368).
pub fn prosody(m: &Material, domain: &str, c2s: u16, direct: u16) -> Server {
    let dir = open_dir();
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("data")).expect("mkdir");
    let conf = root.join("prosody.cfg.lua");
    std::fs::write(
        &conf,
        format!(
            "run_as_root = true\ndaemonize = false\npidfile = \"{r}/prosody.pid\"\n\
             data_path = \"{r}/data\"\ncertificates = \"{r}\"\ninterfaces = {{ \"127.0.0.1\" }}\n\
             c2s_ports = {{ {c2s} }}\nc2s_direct_tls_ports = {{ {direct} }}\ns2s_ports = {{ }}\n\
             http_ports = {{ }}\nhttps_ports = {{ }}\nlegacy_ssl_ports = {{ }}\n\
             log = {{ {{ levels = {{ min = \"info\" }}, to = \"console\" }} }}\n\
             modules_enabled = {{ \"tls\", \"saslauth\", \"disco\" }}\n\
             modules_disabled = {{ \"s2s\", \"posix\" }}\nc2s_require_encryption = true\n\
             ssl = {{ certificate = \"{cert}\", key = \"{key}\" }}\nVirtualHost \"{domain}\"\n",
            r = root.display(),
            cert = m.fullchain.display(),
            key = m.key.display(),
        ),
    )
    .expect("prosody.cfg.lua");
    let mut command = Command::new("prosody");
    command.arg("--config").arg(&conf);
    Server::spawn("prosody", dir, command, &[c2s, direct], None)
}

/// The newest PostgreSQL server binary directory Debian installed.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("/usr/lib/postgresql (Debian's postgresql package)")
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version").1
}

/// A throwaway PostgreSQL cluster (initdb) listening on 127.0.0.1:`port`, with TLS when `tls`
/// is given (`ssl = off` otherwise). It runs as the `postgres` user, as PostgreSQL insists.
pub fn postgres(tls: Option<&Material>, port: u16) -> Server {
    let dir = open_dir();
    let root = dir.path().to_path_buf();
    if let Some(m) = tls {
        // PostgreSQL reads its key as the server user and refuses a key others can read.
        std::fs::copy(&m.fullchain, root.join("server.crt")).expect("copy cert");
        std::fs::copy(&m.key, root.join("server.key")).expect("copy key");
        std::fs::set_permissions(
            root.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("chmod key");
    }
    chown(&root, "postgres");
    let out = as_postgres(pg_bin().join("initdb"))
        .arg("-D")
        .arg(root.join("data"))
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .output()
        .expect("initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let command = postgres_command(&root, port);
    Server::spawn("postgres", dir, command, &[port], None)
}

/// `program` run as the postgres user, as the Debian package runs it.
fn as_postgres(program: PathBuf) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--clear-groups",
        "--reset-env",
    ])
    .arg(program);
    c
}

/// The postmaster of the cluster in `root/data` on 127.0.0.1:`port`, with TLS when `root`
/// holds a server certificate.
fn postgres_command(root: &Path, port: u16) -> Command {
    let mut command = as_postgres(pg_bin().join("postgres"));
    command
        .arg("-D")
        .arg(root.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .args(["-c", "listen_addresses=127.0.0.1", "-c"])
        .arg(format!("unix_socket_directories={}", root.display()));
    if root.join("server.crt").exists() {
        command.args(["-c", "ssl=on", "-c"]);
        command.arg(format!(
            "ssl_cert_file={}",
            root.join("server.crt").display()
        ));
        command.arg("-c");
        command.arg(format!(
            "ssl_key_file={}",
            root.join("server.key").display()
        ));
    }
    command
}

impl Server {
    /// Stops a [`postgres`] server the way `pg_ctl stop -m immediate` does (SIGQUIT: no
    /// checkpoint, every backend dropped, crash recovery at the next start) and waits for it.
    pub fn crash_postgres(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Starts a [`postgres`] server stopped by [`Server::crash_postgres`] again on `port`.
    pub fn restart_postgres(&mut self, port: u16) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("log file");
        let err = log.try_clone().expect("log file");
        self.child = postgres_command(self.dir.path(), port)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("restart postgres");
        self.wait_for(&[port]);
    }
}

/// `openssl s_server` on 127.0.0.1:`port` serving `m` with extra `args` (protocol versions,
/// ciphers); one connection at a time, which is all a scan needs.
pub fn openssl_server(m: &Material, port: u16, args: &[&str]) -> Server {
    let dir = open_dir();
    // s_server wants the leaf alone in -cert and the rest in -cert_chain.
    let pem = std::fs::read_to_string(&m.fullchain).expect("read fullchain");
    let end = "-----END CERTIFICATE-----";
    let split = pem.find(end).expect("a certificate") + end.len();
    let (leaf, chain) = pem.split_at(split);
    std::fs::write(dir.path().join("leaf.pem"), leaf).expect("leaf");
    std::fs::write(dir.path().join("chain.pem"), chain.trim_start()).expect("chain");
    let mut command = Command::new("openssl");
    command
        .arg("s_server")
        .arg("-accept")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.path().join("leaf.pem"))
        .arg("-key")
        .arg(&m.key)
        .args(["-quiet", "-naccept", "1000"]);
    if !chain.trim().is_empty() {
        command.arg("-cert_chain").arg(dir.path().join("chain.pem"));
    }
    command.args(args);
    Server::spawn("openssl", dir, command, &[port], None)
}
