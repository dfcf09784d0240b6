//! The HTTPS client under instant-acme, which remembers the CA's `Retry-After`.
//!
//! instant-acme turns an error response into a problem document and drops its headers, but a CA
//! that rate-limits (`rateLimited`, HTTP 429) or is overloaded (HTTP 503) says in `Retry-After`
//! when to come back (RFC 8555 §6.6). This client passes every request through unchanged and
//! keeps the last such hint, so the renewal policy can wait at least that long.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>;

/// The last `Retry-After` a CA sent with a 429 or 503, shared with the account that uses it.
pub type RetryHint = Arc<Mutex<Option<SystemTime>>>;

pub struct RecordingClient {
    inner: Inner,
    hint: RetryHint,
}

impl RecordingClient {
    /// Trusts `roots` when given (a private CA such as Pebble), else the system's roots.
    pub fn new(
        roots: Option<rustls::RootCertStore>,
    ) -> std::io::Result<(RecordingClient, RetryHint)> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match roots {
            Some(roots) => builder.with_tls_config(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(std::io::Error::other)?
                .with_root_certificates(roots)
                .with_no_client_auth(),
            ),
            None => builder.with_native_roots()?,
        };
        let connector = builder.https_only().enable_http1().build();
        let hint = RetryHint::default();
        Ok((
            RecordingClient {
                inner: Client::builder(TokioExecutor::new()).build(connector),
                hint: Arc::clone(&hint),
            },
            hint,
        ))
    }
}

impl HttpClient for RecordingClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let response = HttpClient::request(&self.inner, req);
        let hint = Arc::clone(&self.hint);
        Box::pin(async move {
            let response = response.await?;
            if matches!(response.parts.status.as_u16(), 429 | 503)
                && let Some(at) = response
                    .parts
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                && let Ok(mut slot) = hint.lock()
            {
                *slot = Some(at);
            }
            Ok(response)
        })
    }
}

/// `Retry-After` is delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return now.checked_add(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = u64::try_from(at.timestamp()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_as_seconds_or_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
