//! The machine's trust anchors, for the scanner's trust judge and the outbound HTTPS client;
//! the only importer of rustls-native-certs.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

/// The machine's trust anchors, as `rustls-native-certs` finds them (`SSL_CERT_FILE`,
/// `SSL_CERT_DIR`, else the distribution's bundle).
pub struct SystemRoots {
    /// Each root once: `SSL_CERT_FILE` and `SSL_CERT_DIR` together (Debian's bundle and its
    /// hashed directory) name every root twice.
    pub certs: Vec<CertificateDer<'static>>,
    /// Why some could not be read (the first problem), if any.
    pub error: Option<String>,
}

/// How long a reading of the system roots is reused.
const FRESH_FOR: Duration = Duration::from_secs(300);

/// The system roots, read at most every five minutes (a few hundred files: about 10 ms) and
/// shared by the trust judge and the HTTPS client of one run, while a daemon running for months
/// still sees a `ca-certificates` update soon after it lands.
pub fn system() -> Arc<SystemRoots> {
    static CACHE: Mutex<Option<(Instant, Arc<SystemRoots>)>> = Mutex::new(None);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((read_at, roots)) = cache.as_ref()
        && read_at.elapsed() < FRESH_FOR
    {
        return Arc::clone(roots);
    }
    let roots = Arc::new(read());
    *cache = Some((Instant::now(), Arc::clone(&roots)));
    roots
}

fn read() -> SystemRoots {
    let native = rustls_native_certs::load_native_certs();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let certs = native
        .certs
        .into_iter()
        .filter(|c| seen.insert(c.as_ref().to_vec()))
        .collect();
    SystemRoots {
        certs,
        error: native.errors.first().map(|e| e.to_string()),
    }
}
