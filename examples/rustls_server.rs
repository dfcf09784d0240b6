//! A TLS server whose certificate is hot-reloaded by certctl's `CertResolver`.
//!
//! Run: `cargo run --example rustls_server -- 127.0.0.1:8443 fullchain.pem privkey.pem`
//! (for example with a managed certificate's `current/fullchain.pem` and `current/privkey.pem`).
//! When certctl installs a new version, the resolver notices within a second and new handshakes
//! get the new certificate; connections in progress are not disturbed.

use std::sync::Arc;
use std::time::Duration;

use certctl::reload::CertResolver;
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(cert), Some(key)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: rustls_server LISTEN_ADDR FULLCHAIN.pem PRIVKEY.pem");
        std::process::exit(2);
    };
    let resolver = CertResolver::new(cert.as_ref(), key.as_ref())?;
    resolver.watch(Duration::from_secs(1));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("serving on {listen}; the certificate reloads when {cert} changes");
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n",
                    )
                    .await;
                let _ = tls.shutdown().await;
            }
        });
    }
}
