//! dns-01: TXT records at `_acme-challenge.<domain>`, published through a [`DnsProvider`].
//!
//! A provider only has to create and delete one TXT record; adding one (Cloudflare, Alibaba
//! Cloud DNS, DNSPod, RFC 2136) is one small file implementing the trait.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use super::Proof;
use super::wire::propagation::{self, PropagationError};
use crate::acme::AcmeError;
use crate::config::acme::DnsOptions;

/// A boxed future, so providers can be chosen at run time.
pub type ProviderFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AcmeError>> + Send + 'a>>;

/// Creates and deletes the TXT records of dns-01 challenges.
pub trait DnsProvider: Send + Sync {
    /// Publishes `value` as a TXT record at `fqdn` (absolute, with a trailing dot).
    fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a>;
    /// Deletes that record again.
    fn cleanup<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a>;
}

/// An HTTP API that keeps TXT records (PowerDNS, Cloudflare, Route 53, ...): each implements
/// the two changes, and gets [`DnsProvider`] with errors that name the provider, the record
/// and the endpoint (`cloudflare adding TXT _acme-challenge.example.com. at https://...: ...`).
pub trait RecordApi: Send + Sync {
    /// The `dns_provider` name.
    const NAME: &'static str;
    /// The API's base URL, shown in errors.
    fn endpoint(&self) -> &str;
    fn add(&self, fqdn: &str, value: &str) -> impl Future<Output = Result<(), String>> + Send;
    fn remove(&self, fqdn: &str, value: &str) -> impl Future<Output = Result<(), String>> + Send;
}

impl<T: RecordApi> DnsProvider for T {
    fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a> {
        Box::pin(async move {
            self.add(fqdn, value).await.map_err(|e| {
                AcmeError::Challenge(format!(
                    "{} adding TXT {fqdn} at {}: {e}",
                    T::NAME,
                    self.endpoint()
                ))
            })
        })
    }

    fn cleanup<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a> {
        Box::pin(async move {
            self.remove(fqdn, value).await.map_err(|e| {
                AcmeError::Challenge(format!(
                    "{} removing TXT {fqdn} at {}: {e}",
                    T::NAME,
                    self.endpoint()
                ))
            })
        })
    }
}

/// lego's `exec` provider: runs `PROGRAM present FQDN VALUE` and `PROGRAM cleanup FQDN VALUE`.
pub struct ExecProvider {
    program: PathBuf,
    timeout: Duration,
}

impl ExecProvider {
    pub fn new(program: PathBuf) -> ExecProvider {
        ExecProvider {
            program,
            timeout: Duration::from_secs(120),
        }
    }

    async fn run(&self, action: &str, fqdn: &str, value: &str) -> Result<(), AcmeError> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args([action, fqdn, value])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let shown = format!("{} {action} {fqdn}", self.program.display());
        let output = tokio::time::timeout(self.timeout, command.output())
            .await
            .map_err(|_| AcmeError::Challenge(format!("`{shown}` timed out")))?
            .map_err(|e| AcmeError::Challenge(format!("cannot run `{shown}`: {e}")))?;
        if output.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(AcmeError::Challenge(format!(
                "`{shown}` failed ({}): {}",
                output.status,
                stderr.trim()
            )))
        }
    }
}

impl DnsProvider for ExecProvider {
    fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a> {
        Box::pin(self.run("present", fqdn, value))
    }

    fn cleanup<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a> {
        Box::pin(self.run("cleanup", fqdn, value))
    }
}

/// Publishes the records of one order and removes them afterwards.
pub struct DnsSolver {
    provider: Box<dyn DnsProvider>,
    wait: Duration,
    check: bool,
    resolvers: Vec<std::net::SocketAddr>,
    /// CNAME alias mode: every record is written at this name instead.
    alias: Option<String>,
    published: Vec<(String, String)>,
}

impl DnsSolver {
    pub fn new(provider: Box<dyn DnsProvider>, options: DnsOptions) -> DnsSolver {
        DnsSolver {
            provider,
            wait: options.wait,
            check: options.check,
            resolvers: options.resolvers,
            alias: options.alias,
            published: Vec::new(),
        }
    }

    pub async fn present(&mut self, proof: &Proof) -> Result<(), AcmeError> {
        // In alias mode `_acme-challenge.<domain>` is the user's CNAME to the alias, which the
        // CA follows; the record is written at the alias.
        let fqdn = match &self.alias {
            Some(alias) => alias.clone(),
            None => format!("_acme-challenge.{}.", proof.domain.trim_end_matches('.')),
        };
        self.provider.present(&fqdn, &proof.dns_value).await?;
        self.published.push((fqdn, proof.dns_value.clone()));
        Ok(())
    }

    /// Waits until the records are served: by every authoritative server (the check, bounded
    /// by `dns_wait`), or for `dns_wait` (sleep). A check that cannot find the servers (a name
    /// public DNS does not know) is skipped with a warning; one that times out fails the order
    /// before the CA is asked, naming the servers that lag.
    pub async fn settle(&self) -> Result<(), AcmeError> {
        if self.published.is_empty() {
            return Ok(());
        }
        if !self.check {
            if !self.wait.is_zero() {
                tokio::time::sleep(self.wait).await;
            }
            return Ok(());
        }
        let resolvers = if self.resolvers.is_empty() {
            propagation::system_resolvers()
        } else {
            self.resolvers.clone()
        };
        let started = std::time::Instant::now();
        match propagation::wait_until_served(&self.published, &resolvers, self.wait).await {
            Ok(served) => {
                for (fqdn, zone, servers) in served.records {
                    tracing::info!(
                        "dns-01: TXT {fqdn} served by all {} authoritative servers of {zone} ({}) after {:.1}s",
                        servers.len(),
                        servers.join(", "),
                        started.elapsed().as_secs_f64()
                    );
                }
                Ok(())
            }
            Err(PropagationError::Unknown(why)) => {
                tracing::warn!(
                    "dns-01: propagation not checked ({why}); asking the CA to validate now"
                );
                Ok(())
            }
            Err(PropagationError::NotServed(what)) => Err(AcmeError::Challenge(format!(
                "dns-01 propagation: {what}; the CA was not asked to validate"
            ))),
        }
    }

    pub async fn cleanup(self) -> Vec<String> {
        let mut errors = Vec::new();
        for (fqdn, value) in &self.published {
            if let Err(e) = self.provider.cleanup(fqdn, value).await {
                errors.push(e.to_string());
            }
        }
        errors
    }
}

/// A provider's cache, usable after a panic elsewhere (it only ever holds complete entries).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The zones that could hold `fqdn`, longest first: the name itself, then each parent down to
/// two labels (APIs that look zones up by exact name are asked in this order).
pub fn zone_candidates(fqdn: &str) -> Vec<String> {
    let name = fqdn.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    (0..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .collect()
}

/// The longest of `zones` (with or without trailing dots) that contains `fqdn`, without its
/// trailing dot, lower case.
pub fn longest_zone<'a>(fqdn: &str, zones: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let name = fqdn.trim_end_matches('.').to_ascii_lowercase();
    zones
        .into_iter()
        .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
        .filter(|z| name == *z || name.ends_with(&format!(".{z}")))
        .max_by_key(String::len)
}

/// `fqdn` relative to `zone` (`_acme-challenge.www` in `example.com`; `@` at the apex), as
/// the record APIs of DNSPod and Alibaba Cloud name records.
pub fn relative_name(fqdn: &str, zone: &str) -> String {
    let name = fqdn.trim_end_matches('.').to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    match name.strip_suffix(&format!(".{zone}")) {
        Some(rest) => rest.to_string(),
        None => "@".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_and_relative_names() {
        assert_eq!(
            zone_candidates("_acme-challenge.www.Example.com."),
            [
                "_acme-challenge.www.example.com",
                "www.example.com",
                "example.com"
            ]
        );
        assert_eq!(zone_candidates("com."), Vec::<String>::new());
        assert_eq!(
            longest_zone(
                "_acme-challenge.a.b.example.com.",
                ["example.com.", "b.example.com", "ample.com", "other.org"]
            )
            .as_deref(),
            Some("b.example.com")
        );
        assert_eq!(longest_zone("x.example.com.", ["example.org"]), None);
        assert_eq!(
            relative_name("_acme-challenge.www.example.com.", "example.com"),
            "_acme-challenge.www"
        );
        assert_eq!(relative_name("example.com.", "example.com."), "@");
    }
}
