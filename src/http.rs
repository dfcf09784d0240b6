//! The one outbound HTTP(S) client: webhook deliveries and revocation fetches (OCSP, CRLs).
//!
//! hyper with rustls, trusting the system roots, HTTP/1.1, no redirects (hyper never follows
//! them), and a body reader that stops at a size bound so a hostile peer cannot make certctl
//! buffer without limit.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTPS client trusting the system roots (receivers are ordinary HTTPS services).
pub fn client() -> HttpClient {
    let mut roots = rustls::RootCertStore::empty();
    for cert in &crate::roots::system().certs {
        let _ = roots.add(cert.clone());
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("the ring provider supports the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(https)
}

/// Why a fetch produced no body.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid request for {url}: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} did not answer within {}", humantime::format_duration(*timeout))]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: {reason}")]
    Connection { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent more than {limit} bytes")]
    TooLarge { url: String, limit: usize },
}

/// GETs (or POSTs `body` with `content_type`) `url` and returns a 2xx body of at most `limit`
/// bytes, all within `timeout`.
pub async fn fetch(
    client: &HttpClient,
    url: &str,
    post: Option<(&str, Vec<u8>)>,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    let method = if post.is_some() { "POST" } else { "GET" };
    let (status, body) = exchange(client, method, url, &[], post, limit, timeout).await?;
    if !(200..300).contains(&status) {
        return Err(FetchError::Status {
            url: url.into(),
            status,
        });
    }
    Ok(body)
}

/// One request with any method and headers (an API call): the status and a body of at most
/// `limit` bytes, whatever the status, all within `timeout`.
pub async fn exchange(
    client: &HttpClient,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
    limit: usize,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), FetchError> {
    let invalid = |reason: String| FetchError::Request {
        url: url.into(),
        reason,
    };
    let method =
        hyper::Method::from_bytes(method.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("user-agent", concat!("certctl/", env!("CARGO_PKG_VERSION")));
    if let Some((content_type, _)) = &body {
        builder = builder.header("content-type", *content_type);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(
            body.map(|(_, b)| b).unwrap_or_default(),
        )))
        .map_err(|e| invalid(e.to_string()))?;
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| FetchError::Connection {
                url: url.into(),
                reason: crate::errors::chain(&e),
            })?;
        let status = response.status().as_u16();
        match Limited::new(response.into_body(), limit).collect().await {
            Ok(body) => Ok((status, body.to_bytes().to_vec())),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(FetchError::TooLarge {
                    url: url.into(),
                    limit,
                })
            }
            Err(e) => Err(FetchError::Connection {
                url: url.into(),
                reason: e.to_string(),
            }),
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| FetchError::Timeout {
            url: url.into(),
            timeout,
        })?
}
