//! One connection to the fleet store, bounded in every call, and the schema brought up to date.
//!
//! A node that cannot reach PostgreSQL must learn it within seconds (its leases are judged by
//! the database clock and will be taken over), never hang: the connect, every statement and the
//! TCP connection itself are bounded (keepalives and `tcp_user_timeout` catch a peer that vanished
//! without a FIN, which the server would otherwise see as healthy for two hours).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::FleetError;

/// How a node reaches the fleet store. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct FleetSettings {
    /// `postgres://user@host:port/db?sslmode=require` (libpq's URL form, without a password).
    pub url: String,
    /// The password, read from a file or environment variable by the config.
    pub password: Option<Vec<u8>>,
    /// Extra trust anchors (PEM) for the server's certificate, beside the system roots.
    pub ca_file: Option<PathBuf>,
    /// This node's name in the fleet (`[fleet] node`).
    pub node: String,
    /// Upper bound for connecting and for each statement.
    pub timeout: Duration,
    /// Tells this process from others under the same node name; `None` (always, outside
    /// tests that play several processes in one): `host:pid:random`, one per process.
    pub instance: Option<String>,
}

impl std::fmt::Debug for FleetSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetSettings")
            .field("url", &self.url)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("node", &self.node)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl FleetSettings {
    /// Which store the URL names, for messages (`user@host:port/db`, never a password).
    pub fn url_target(&self) -> String {
        self.url
            .parse::<tokio_postgres::Config>()
            .map(|c| describe_target(&c))
            .unwrap_or_else(|_| "(unparsable url)".into())
    }
}

/// A connection to the fleet store, as node `node`.
pub struct Fleet {
    client: tokio_postgres::Client,
    /// Drives the connection; ends with it, and is stopped when the `Fleet` is dropped.
    driver: tokio::task::JoinHandle<()>,
    target: String,
    node: String,
    /// Tells this process from another that uses the same node name.
    instance: String,
    timeout: Duration,
    /// Whether this connection registered the node (see [`super::node`]).
    pub(super) registered: std::sync::atomic::AtomicBool,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.driver.abort();
        super::node::forget(self);
    }
}

impl Fleet {
    /// Connects as `settings.node`, then applies the migrations this binary has and the store
    /// lacks (refusing a store whose schema is newer than this binary).
    pub async fn connect(settings: &FleetSettings) -> Result<Fleet, FleetError> {
        Fleet::open(settings, None).await
    }

    /// [`Fleet::connect`], with the notifications this connection receives (after
    /// [`Fleet::listen`]) sent to `notices` as (channel, payload). The sender is dropped when
    /// the connection ends, so the receiver also learns that.
    pub async fn connect_listening(
        settings: &FleetSettings,
        notices: tokio::sync::mpsc::UnboundedSender<(String, String)>,
    ) -> Result<Fleet, FleetError> {
        Fleet::open(settings, Some(notices)).await
    }

    async fn open(
        settings: &FleetSettings,
        notices: Option<tokio::sync::mpsc::UnboundedSender<(String, String)>>,
    ) -> Result<Fleet, FleetError> {
        let mut config: tokio_postgres::Config =
            settings.url.parse().map_err(|e| FleetError::Connect {
                target: "(url)".into(),
                message: format!("the store url does not parse: {e}"),
            })?;
        let target = describe_target(&config);
        if config.get_password().is_some() {
            return Err(FleetError::Connect {
                target,
                message: PASSWORD_IN_URL.into(),
            });
        }
        if let Some(password) = &settings.password {
            config.password(password.clone());
        }
        let ms = settings.timeout.as_millis();
        config
            .connect_timeout(settings.timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(20))
            .application_name(format!("certctl {}", settings.node))
            .options(format!(
                "-c statement_timeout={ms} -c lock_timeout={ms} \
                 -c idle_in_transaction_session_timeout={}",
                ms * 2
            ));
        let tls = tls_connector(settings, &target)?;
        let connecting = config.connect(tls);
        let (client, connection) = match tokio::time::timeout(settings.timeout, connecting).await {
            Err(_) => {
                return Err(FleetError::Timeout {
                    target,
                    action: "connect",
                    seconds: settings.timeout.as_secs().max(1),
                });
            }
            Ok(Err(e)) => {
                return Err(FleetError::Connect {
                    target,
                    message: describe(&e),
                });
            }
            Ok(Ok(pair)) => pair,
        };
        let log_target = target.clone();
        // Scoped to the `Fleet`: aborted when it is dropped (see `Drop`).
        let driver = tokio::spawn(async move {
            let mut connection = connection;
            // Polling for messages is what drives the connection; notifications are passed on.
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        if let Some(tx) = &notices {
                            let _ = tx.send((n.channel().to_string(), n.payload().to_string()));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(store = %log_target, error = %describe(&e), "fleet store connection ended");
                        break;
                    }
                }
            }
        });
        let mut fleet = Fleet {
            client,
            driver,
            target,
            node: settings.node.clone(),
            instance: settings.instance.clone().unwrap_or_else(instance_id),
            timeout: settings.timeout,
            registered: std::sync::atomic::AtomicBool::new(false),
        };
        super::migrate::run(&mut fleet).await?;
        Ok(fleet)
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Which store this is, for messages: `user@host:port/db`, never a password.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub(super) fn instance(&self) -> &str {
        &self.instance
    }

    pub(super) fn statement_timeout(&self) -> Duration {
        self.timeout
    }

    pub(super) fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    pub(super) fn client_mut(&mut self) -> &mut tokio_postgres::Client {
        &mut self.client
    }

    /// Runs one call against the store within the statement bound, naming `action` on failure.
    pub(super) async fn bounded<T>(
        &self,
        action: &'static str,
        call: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, FleetError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(FleetError::Timeout {
                target: self.target.clone(),
                action,
                seconds: self.timeout.as_secs().max(1),
            }),
            Ok(Err(e)) => Err(self.query_error(action, &e)),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// A lost connection (closed, or ended by the server: shutdown, `pg_terminate_backend`) is
    /// [`FleetError::Connect`], the store being unavailable; anything else is the statement's.
    pub(super) fn query_error(
        &self,
        action: &'static str,
        e: &tokio_postgres::Error,
    ) -> FleetError {
        let code = e.code().map(|c| c.code()).unwrap_or("");
        if e.is_closed() || code.starts_with("57P") || code.starts_with("08") {
            return FleetError::Connect {
                target: self.target.clone(),
                message: format!("{action}: the connection was lost: {}", describe(e)),
            };
        }
        FleetError::Query {
            target: self.target.clone(),
            action,
            message: describe(e),
        }
    }
}

/// Checks a store URL as the config is read: it parses, and holds no password (that belongs in
/// `password_file` or `password_env`, out of the config and out of process listings).
pub fn check_url(url: &str) -> Result<(), String> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("the store url does not parse: {e}"))?;
    if config.get_password().is_some() {
        return Err(PASSWORD_IN_URL.into());
    }
    Ok(())
}

const PASSWORD_IN_URL: &str =
    "the url holds a password; give it through password_file or password_env instead";

/// `user@host:port/db` from a parsed config.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("(user)"),
        config.get_dbname().unwrap_or("(db)")
    )
}

/// The server's own message and code when it sent one, else the client's error and its cause.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// rustls trusting the system roots and `ca_file`: used when the server offers TLS (`sslmode`
/// prefer, the default) or must (`require`); the certificate is always verified.
fn tls_connector(
    settings: &FleetSettings,
    target: &str,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, FleetError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in &crate::roots::system().certs {
        let _ = roots.add(cert.clone());
    }
    if let Some(path) = &settings.ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| FleetError::Connect {
                target: target.to_string(),
                message: format!("ca_file {}: {e}", path.display()),
            })?;
        if certs.is_empty() {
            return Err(FleetError::Connect {
                target: target.to_string(),
                message: format!("ca_file {}: no certificate in it", path.display()),
            });
        }
        for cert in certs {
            roots.add(cert).map_err(|e| FleetError::Connect {
                target: target.to_string(),
                message: format!("ca_file {}: {e}", path.display()),
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| FleetError::Connect {
        target: target.to_string(),
        message: e.to_string(),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `host:pid:random`, unique per process and the same for every connection it makes (the
/// daemon's heartbeat and its renewal passes are one node).
fn instance_id() -> String {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(new_instance_id).clone()
}

fn new_instance_id() -> String {
    let mut bytes = [0u8; 4];
    // Without randomness the pid still tells processes on one host apart.
    let _ = getrandom::fill(&mut bytes);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{host}:{}:{}", std::process::id(), hex::encode(bytes))
}
