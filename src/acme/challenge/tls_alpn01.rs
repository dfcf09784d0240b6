//! tls-alpn-01 (RFC 8737): a rustls listener that answers `acme-tls/1` handshakes with a
//! self-signed certificate carrying the acmeIdentifier extension for the requested name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rcgen::{CertificateParams, CustomExtension, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::Proof;
use crate::acme::AcmeError;

#[derive(Debug, Default)]
struct Resolver {
    certs: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let alpn_ok = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == b"acme-tls/1"));
        if !alpn_ok {
            return None;
        }
        let name = hello.server_name()?.to_ascii_lowercase();
        self.certs.lock().ok()?.get(&name).cloned()
    }
}

/// One listener per address serves every order in flight; it stops when dropped.
pub struct Listener {
    resolver: Arc<Resolver>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    pub async fn start(listen: SocketAddr) -> Result<Listener, AcmeError> {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
            AcmeError::Challenge(format!("cannot listen on {listen} for tls-alpn-01: {e}"))
        })?;
        let resolver = Arc::new(Resolver::default());
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AcmeError::Challenge(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
        config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        // Lives only as long as this order's challenges; aborted by `stop`.
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // The validation is the handshake itself; nothing is exchanged after it.
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await;
                });
            }
        });
        Ok(Listener { resolver, task })
    }

    pub fn present(&self, proof: &Proof) -> Result<(), AcmeError> {
        let key = KeyPair::generate().map_err(|e| AcmeError::Challenge(e.to_string()))?;
        let mut params = CertificateParams::new(vec![proof.domain.clone()])
            .map_err(|e| AcmeError::Challenge(e.to_string()))?;
        params.custom_extensions = vec![CustomExtension::new_acme_identifier(&proof.digest)];
        let cert = params
            .self_signed(&key)
            .map_err(|e| AcmeError::Challenge(e.to_string()))?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der)
            .map_err(|e| AcmeError::Challenge(e.to_string()))?;
        let certified = CertifiedKey::new(vec![cert.der().clone()], signing);
        if let Ok(mut certs) = self.resolver.certs.lock() {
            certs.insert(proof.domain.to_ascii_lowercase(), Arc::new(certified));
        }
        Ok(())
    }

    pub fn remove(&self, domain: &str) {
        if let Ok(mut certs) = self.resolver.certs.lock() {
            certs.remove(&domain.to_ascii_lowercase());
        }
    }
}
