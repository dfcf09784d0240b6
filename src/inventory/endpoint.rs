//! Handshakes with TLS endpoints and records exactly what each one presents.
//!
//! Every step (DNS, TCP connect, TLS handshake) has its own timeout, so a silent or dripping peer
//! costs at most `connect_timeout + handshake_timeout`. The handshake accepts any certificate:
//! the point is to see what the server sends, then judge it ([`super::trust`], [`crate::policy`]).
//! Session resumption is off so that every scan really receives the certificate chain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::revocation::RevocationChecker;
use super::target::Target;
use super::trust::TrustJudge;
use crate::model::{CertRecord, FindingCode, Location, Observation, Outcome, TlsInfo};

/// The most addresses of one name that a scan visits.
pub const MAX_ADDRESSES: usize = 16;

fn observed(location: Location, outcome: Outcome) -> Observation {
    Observation {
        location,
        observed_at: crate::clock::now(),
        outcome,
    }
}

/// Scans endpoints with one shared TLS client configuration.
pub struct EndpointScanner {
    connector: TlsConnector,
    verifier: Arc<RecordEverything>,
    trust: Arc<TrustJudge>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    revocation: Option<Arc<RevocationChecker>>,
}

impl EndpointScanner {
    pub fn new(
        trust: Arc<TrustJudge>,
        connect_timeout: Duration,
        handshake_timeout: Duration,
    ) -> EndpointScanner {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let schemes = provider
            .signature_verification_algorithms
            .supported_schemes();
        let verifier = Arc::new(RecordEverything {
            schemes,
            staples: Mutex::new(HashMap::new()),
        });
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        EndpointScanner {
            connector: TlsConnector::from(Arc::new(config)),
            verifier,
            trust,
            connect_timeout,
            handshake_timeout,
            revocation: None,
        }
    }

    /// Also checks the revocation of every leaf read (OCSP, CRL, stapled responses).
    pub fn with_revocation(mut self, checker: Arc<RevocationChecker>) -> EndpointScanner {
        self.revocation = Some(checker);
        self
    }

    /// Scans one endpoint at its first address. Never fails: problems become a
    /// [`Outcome::Failed`].
    pub async fn scan(&self, target: &Target) -> Observation {
        let outcome = match self.resolve(target).await {
            Ok(addrs) => self.outcome(target, addrs[0]).await,
            Err((code, message)) => Outcome::Failed { code, message },
        };
        observed(target.location(), outcome)
    }

    /// Scans every address of an endpoint (up to [`MAX_ADDRESSES`], concurrently). A name with
    /// one address is one location, as typed; a name with several (round-robin DNS, A and
    /// AAAA) is one location per address, `192.0.2.7:443 (www.example.com)`, each checked
    /// against the name, so one stale backend among many is found.
    pub async fn scan_all(self: &Arc<Self>, target: &Target) -> Vec<Observation> {
        let addrs = match self.resolve(target).await {
            Ok(addrs) => addrs,
            Err((code, message)) => {
                return vec![observed(
                    target.location(),
                    Outcome::Failed { code, message },
                )];
            }
        };
        if addrs.len() == 1 {
            return vec![observed(
                target.location(),
                self.outcome(target, addrs[0]).await,
            )];
        }
        let name = target
            .server_name
            .clone()
            .unwrap_or_else(|| target.host.clone());
        let mut running = tokio::task::JoinSet::new();
        for addr in addrs {
            let scanner = Arc::clone(self);
            let target = target.clone();
            let name = name.clone();
            running.spawn(async move {
                let outcome = scanner.outcome(&target, addr).await;
                let location = Target {
                    host: addr.ip().to_string(),
                    port: addr.port(),
                    server_name: Some(name),
                    ..target.clone()
                }
                .location();
                observed(location, outcome)
            });
        }
        let mut out = Vec::new();
        while let Some(done) = running.join_next().await {
            match done {
                Ok(obs) => out.push(obs),
                Err(e) => tracing::error!("scan of one address of {} failed: {e}", target.host),
            }
        }
        out.sort_by_key(|o| o.location.target());
        out
    }

    async fn outcome(&self, target: &Target, addr: SocketAddr) -> Outcome {
        match self.handshake(target, addr).await {
            Ok(outcome) => outcome,
            Err((code, message)) => Outcome::Failed { code, message },
        }
    }

    async fn handshake(
        &self,
        target: &Target,
        addr: SocketAddr,
    ) -> Result<Outcome, (FindingCode, String)> {
        let name = server_name(target)?;
        let (tcp, deadline) = self.open(target, addr).await?;
        let started = Instant::now();
        let mut tls = match tokio::time::timeout_at(deadline, self.connector.connect(name, tcp))
            .await
        {
            Err(_) => {
                return Err((
                    FindingCode::Timeout,
                    format!(
                        "TLS handshake with {addr} timed out after {} (the peer accepted TCP but did not answer)",
                        secs(self.handshake_timeout)
                    ),
                ));
            }
            Ok(Err(e)) if needs_legacy_hello(&e) => {
                return self
                    .legacy(target, addr, describe_tls_error(addr, &e))
                    .await;
            }
            Ok(Err(e)) => return Err((FindingCode::TlsError, describe_tls_error(addr, &e))),
            Ok(Ok(tls)) => tls,
        };
        let elapsed = started.elapsed();
        let (_, conn) = tls.get_ref();
        let ders: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default();
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_string(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        // Polite close; the result does not matter and it cannot block (write of one record).
        let _ = tokio::time::timeout(Duration::from_millis(200), tls.shutdown()).await;
        let info = TlsInfo {
            version,
            cipher,
            handshake_ms: elapsed.as_millis().min(u32::MAX as u128) as u32,
            peer: addr.to_string(),
        };
        let staple = ders
            .first()
            .and_then(|leaf| self.verifier.take_staple(leaf));
        let mut outcome = self.presented(addr, &ders, info, None)?;
        self.check_revocation(&mut outcome, &ders, staple.as_deref())
            .await;
        Ok(outcome)
    }

    /// Asks the revocation checker about the leaf, with the issuer the server presented (or a
    /// configured anchor of that name).
    async fn check_revocation(
        &self,
        outcome: &mut Outcome,
        ders: &[CertificateDer<'static>],
        staple: Option<&[u8]>,
    ) {
        let (Some(checker), Some(leaf), Outcome::Presented { revocation, .. }) =
            (&self.revocation, ders.first(), outcome)
        else {
            return;
        };
        let presented: Vec<&[u8]> = ders.iter().skip(1).map(|d| d.as_ref()).collect();
        let issuer = checker.issuer_of(leaf, &presented);
        *revocation = checker
            .check(leaf, issuer.as_deref(), staple, crate::clock::now())
            .await;
    }

    /// A TCP connection to `addr`, upgraded by the target's STARTTLS protocol if it has one, and
    /// the deadline by which the TLS handshake must be done (the exchange and the handshake
    /// share `handshake_timeout`).
    async fn open(
        &self,
        target: &Target,
        addr: SocketAddr,
    ) -> Result<(TcpStream, tokio::time::Instant), (FindingCode, String)> {
        let mut tcp =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Err(_) => {
                    return Err((
                        FindingCode::Timeout,
                        format!(
                            "TCP connect to {addr} timed out after {}",
                            secs(self.connect_timeout)
                        ),
                    ));
                }
                Ok(Err(e)) => {
                    return Err((
                        FindingCode::ConnectError,
                        format!("cannot connect to {addr}: {e}"),
                    ));
                }
                Ok(Ok(tcp)) => tcp,
            };
        let _ = tcp.set_nodelay(true);
        let deadline = tokio::time::Instant::now() + self.handshake_timeout;
        if let Some(protocol) = target.starttls {
            let domain = target.server_name.as_deref().unwrap_or(&target.host);
            match tokio::time::timeout_at(
                deadline,
                super::starttls::upgrade(&mut tcp, protocol, domain),
            )
            .await
            {
                Err(_) => {
                    return Err((
                        FindingCode::Timeout,
                        format!(
                            "{protocol} STARTTLS with {addr} timed out after {} (the server accepted TCP but did not finish the exchange)",
                            secs(self.handshake_timeout)
                        ),
                    ));
                }
                Ok(Err(super::starttls::Refusal::Refused(why))) => {
                    return Err((FindingCode::StarttlsRefused, format!("{addr}: {why}")));
                }
                Ok(Err(e)) => return Err((FindingCode::ConnectError, format!("{addr}: {e}"))),
                Ok(Ok(())) => {}
            }
        }
        Ok((tcp, deadline))
    }

    /// The second and last handshake of a server rustls could not agree with: a legacy hello
    /// whose clear-text answer carries the certificate ([`super::legacy`]).
    async fn legacy(
        &self,
        target: &Target,
        addr: SocketAddr,
        rustls_failure: String,
    ) -> Result<Outcome, (FindingCode, String)> {
        let (mut tcp, deadline) = self.open(target, addr).await?;
        let sni = target
            .server_name
            .as_deref()
            .or(Some(target.host.as_str()))
            .filter(|n| n.parse::<std::net::IpAddr>().is_err());
        let started = Instant::now();
        let hello = match tokio::time::timeout_at(deadline, super::legacy::read(&mut tcp, sni))
            .await
        {
            Err(_) => {
                return Err((
                    FindingCode::TlsError,
                    format!(
                        "{rustls_failure}; a legacy TLS 1.0-1.2 hello then timed out after {}",
                        secs(self.handshake_timeout)
                    ),
                ));
            }
            Ok(Err(e)) => return Err((FindingCode::TlsError, format!("{rustls_failure}; {e}"))),
            Ok(Ok(hello)) => hello,
        };
        let info = TlsInfo {
            version: hello.version,
            cipher: hello.cipher,
            handshake_ms: started.elapsed().as_millis().min(u32::MAX as u128) as u32,
            peer: addr.to_string(),
        };
        let ders: Vec<CertificateDer<'static>> =
            hello.chain.into_iter().map(CertificateDer::from).collect();
        let why = rustls_failure
            .split_once(" failed: ")
            .map_or(rustls_failure.as_str(), |(_, why)| why)
            .to_string();
        let mut outcome = self.presented(addr, &ders, info, Some(why))?;
        self.check_revocation(&mut outcome, &ders, None).await;
        Ok(outcome)
    }

    /// Parses and judges the certificates a server presented.
    fn presented(
        &self,
        addr: SocketAddr,
        ders: &[CertificateDer<'static>],
        tls: TlsInfo,
        legacy: Option<String>,
    ) -> Result<Outcome, (FindingCode, String)> {
        let mut chain: Vec<CertRecord> = Vec::with_capacity(ders.len());
        for (i, der) in ders.iter().enumerate() {
            match crate::x509::parse_der(der) {
                Ok(record) => chain.push(record),
                Err(e) => {
                    return Err((
                        FindingCode::ParseError,
                        format!("certificate #{i} sent by {addr} cannot be parsed: {e}"),
                    ));
                }
            }
        }
        if chain.is_empty() {
            return Err((
                FindingCode::TlsError,
                format!("{addr} completed the handshake without presenting a certificate"),
            ));
        }
        let trust = self.trust.judge(ders, &chain);
        let issuer_is_anchor = self.trust.is_anchor(&chain[0].issuer);
        Ok(Outcome::Presented {
            chain,
            tls: Some(tls),
            trust,
            issuer_is_anchor,
            legacy,
            revocation: None,
        })
    }

    /// The target's addresses, in resolver order, without repeats, at most [`MAX_ADDRESSES`].
    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, (FindingCode, String)> {
        if let Ok(ip) = target.host.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, target.port)]);
        }
        let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
        match tokio::time::timeout(self.connect_timeout, lookup).await {
            Err(_) => Err((
                FindingCode::DnsError,
                format!(
                    "DNS lookup of {} timed out after {}",
                    target.host,
                    secs(self.connect_timeout)
                ),
            )),
            Ok(Err(e)) => Err((
                FindingCode::DnsError,
                format!("cannot resolve {}: {e}", target.host),
            )),
            Ok(Ok(found)) => {
                let mut addrs: Vec<SocketAddr> = Vec::new();
                for addr in found {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
                if addrs.len() > MAX_ADDRESSES {
                    tracing::warn!(
                        "{} has {} addresses; scanning the first {MAX_ADDRESSES}",
                        target.host,
                        addrs.len()
                    );
                    addrs.truncate(MAX_ADDRESSES);
                }
                if addrs.is_empty() {
                    Err((
                        FindingCode::DnsError,
                        format!("{} has no addresses", target.host),
                    ))
                } else {
                    Ok(addrs)
                }
            }
        }
    }
}

fn server_name(target: &Target) -> Result<ServerName<'static>, (FindingCode, String)> {
    let name = target.server_name.as_deref().unwrap_or(&target.host);
    ServerName::try_from(name.to_string()).map_err(|_| {
        (
            FindingCode::TlsError,
            format!("\"{name}\" cannot be sent as a TLS server name"),
        )
    })
}

/// Did rustls fail because the server offers only versions or ciphers it does not implement?
/// Then the server's certificate can still be read from a legacy hello.
fn needs_legacy_hello(e: &std::io::Error) -> bool {
    use rustls::AlertDescription as A;
    let Some(err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return false;
    };
    matches!(
        err,
        rustls::Error::AlertReceived(
            A::ProtocolVersion | A::HandshakeFailure | A::InsufficientSecurity
        ) | rustls::Error::PeerIncompatible(_)
    )
}

fn describe_tls_error(addr: SocketAddr, e: &std::io::Error) -> String {
    let inner = e.get_ref().map(|inner| inner.to_string());
    let detail = inner.unwrap_or_else(|| e.to_string());
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return format!("{addr} closed the connection during the TLS handshake");
    }
    if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
        return format!("{addr} does not speak TLS ({detail})");
    }
    format!("TLS handshake with {addr} failed: {detail}")
}

fn secs(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Accepts any certificate and any handshake signature, so the chain is always captured; keeps
/// the OCSP response a server stapled, by leaf, until the scan takes it.
#[derive(Debug)]
struct RecordEverything {
    schemes: Vec<SignatureScheme>,
    staples: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl RecordEverything {
    fn take_staple(&self, leaf: &[u8]) -> Option<Vec<u8>> {
        let key = crate::x509::sha256_hex(leaf).into_bytes();
        self.staples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&key)
    }
}

impl ServerCertVerifier for RecordEverything {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !ocsp_response.is_empty() {
            let key = crate::x509::sha256_hex(end_entity).into_bytes();
            self.staples
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .insert(key, ocsp_response.to_vec());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
