//! An HTTPS server on a 127.0.0.1 port standing in for a DNS hosting provider's API, for the
//! contract tests of the cloud dns-01 providers: it records every request and answers through
//! a handler that implements the vendor's documented operations (and checks their signatures).
//! Its certificate comes from a test PKI; clients trust it through `SSL_CERT_FILE`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{Pki, SignedBy};

/// One request as the API received it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A query parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decoded(k) == name).then(|| decoded(v))
        })
    }

    /// Every query parameter, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decoded(k), decoded(v))
            })
            .collect()
    }

    /// The `SignedHeaders=` list of the `authorization` header (SigV4, TC3, ACS3 alike).
    pub fn signed_headers(&self) -> Vec<&str> {
        self.header("authorization")
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or("")
            .split(';')
            .collect()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The headers as (name, value) pairs, for recomputing a signature over some of them.
    pub fn header_pairs(&self, names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), self.header(n).to_string()))
            .collect()
    }
}

/// `text` percent-decoded (as a query key or value).
pub fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the handler answers: status, content type and body.
pub type Answer = (u16, &'static str, String);
type Handler = Arc<dyn Fn(&ApiRequest) -> Answer + Send + Sync>;

pub struct CloudApi {
    pub addr: SocketAddr,
    pki: Pki,
    requests: Arc<Mutex<Vec<ApiRequest>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CloudApi {
    pub fn start(handler: impl Fn(&ApiRequest) -> Answer + Send + Sync + 'static) -> CloudApi {
        let pki = Pki::new();
        let leaf = pki.leaf(&["127.0.0.1", "localhost"], -1, 30, SignedBy::Intermediate);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(pki.full_chain(&leaf), key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<ApiRequest>>> = Arc::default();
        let handler: Handler = Arc::new(handler);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let log = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((tcp, _)) = accepted else { continue };
                            let (acceptor, handler, log) =
                                (acceptor.clone(), Arc::clone(&handler), Arc::clone(&log));
                            tokio::spawn(async move {
                                let Ok(tls) = acceptor.accept(tcp).await else { return };
                                let service = hyper::service::service_fn(move |req| {
                                    serve(req, Arc::clone(&handler), Arc::clone(&log))
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        CloudApi {
            addr,
            pki,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// The root that signed the server's certificate (for `SSL_CERT_FILE`).
    pub fn ca_file(&self) -> PathBuf {
        self.pki.root_path()
    }

    pub fn requests(&self) -> Vec<ApiRequest> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn serve(
    req: hyper::Request<hyper::body::Incoming>,
    handler: Handler,
    log: Arc<Mutex<Vec<ApiRequest>>>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let request = ApiRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    log.lock().expect("lock").push(request.clone());
    let (status, content_type, text) = tokio::task::spawn_blocking(move || handler(&request))
        .await
        .unwrap_or((500, "text/plain", "handler panicked".into()));
    Ok(hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(text)))
        .expect("response"))
}

impl Drop for CloudApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
