//! Challenge solvers: they publish the proof the CA asks for, then remove it again.
//!
//! One solver serves all authorizations of an order. [`Solver::cleanup`] runs after the order is
//! ready or has failed, so nothing is left behind either way (a listener stopped, a webroot file
//! or a DNS record removed).

mod alidns;
mod cloudflare;
mod dns01;
mod dnspod;
mod googledns;
mod http01;
mod huaweidns;
mod powerdns;
mod route53;
pub mod signing;
mod tls_alpn01;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use instant_acme::ChallengeType;

pub use dns01::{DnsProvider, ExecProvider};
pub use wire::rfc2136::Rfc2136Provider;

use super::AcmeError;
use crate::config::acme::{ChallengeConfig, CloudVendor};

/// What one challenge needs published.
#[derive(Debug, Clone)]
pub struct Proof {
    /// The identifier (DNS name without any `*.`, or IP address).
    pub domain: String,
    pub token: String,
    /// `token.thumbprint`, served by http-01.
    pub key_authorization: String,
    /// SHA-256 of the key authorization, embedded by tls-alpn-01.
    pub digest: [u8; 32],
    /// base64url(SHA-256), published by dns-01.
    pub dns_value: String,
}

/// Standalone listeners shared by all orders of one run: many certificates can be validated
/// at once through a single port 80 (or 443) listener.
#[derive(Default)]
pub struct Listeners {
    http: tokio::sync::Mutex<HashMap<SocketAddr, Arc<http01::Standalone>>>,
    alpn: tokio::sync::Mutex<HashMap<SocketAddr, Arc<tls_alpn01::Listener>>>,
}

impl Listeners {
    async fn http(&self, addr: SocketAddr) -> Result<Arc<http01::Standalone>, AcmeError> {
        let mut map = self.http.lock().await;
        if let Some(l) = map.get(&addr) {
            return Ok(Arc::clone(l));
        }
        let l = Arc::new(http01::Standalone::start(addr).await?);
        map.insert(addr, Arc::clone(&l));
        Ok(l)
    }

    async fn alpn(&self, addr: SocketAddr) -> Result<Arc<tls_alpn01::Listener>, AcmeError> {
        let mut map = self.alpn.lock().await;
        if let Some(l) = map.get(&addr) {
            return Ok(Arc::clone(l));
        }
        let l = Arc::new(tls_alpn01::Listener::start(addr).await?);
        map.insert(addr, Arc::clone(&l));
        Ok(l)
    }
}

/// A solver for one order.
pub enum Solver {
    Http(Arc<http01::Standalone>, Vec<String>),
    Webroot(http01::Webroot),
    TlsAlpn(Arc<tls_alpn01::Listener>, Vec<String>),
    Dns(dns01::DnsSolver),
}

impl Solver {
    /// Prepares whatever the configured challenge needs (listeners bind here, so a busy port is
    /// reported before any order is placed).
    pub async fn start(
        config: &ChallengeConfig,
        listeners: &Listeners,
    ) -> Result<Solver, AcmeError> {
        Ok(match config {
            ChallengeConfig::Http01Standalone { listen } => {
                Solver::Http(listeners.http(*listen).await?, Vec::new())
            }
            ChallengeConfig::Http01Webroot { webroot } => {
                Solver::Webroot(http01::Webroot::new(webroot.clone()))
            }
            ChallengeConfig::TlsAlpn01 { listen } => {
                Solver::TlsAlpn(listeners.alpn(*listen).await?, Vec::new())
            }
            ChallengeConfig::Dns01Exec { program, dns } => Solver::Dns(dns01::DnsSolver::new(
                Box::new(ExecProvider::new(program.clone())),
                dns.clone(),
            )),
            ChallengeConfig::Dns01Rfc2136 { update, dns } => Solver::Dns(dns01::DnsSolver::new(
                Box::new(Rfc2136Provider::new(update.clone())),
                dns.clone(),
            )),
            ChallengeConfig::Dns01PowerDns { api, dns } => Solver::Dns(dns01::DnsSolver::new(
                Box::new(powerdns::PowerDnsProvider::new(api.clone())),
                dns.clone(),
            )),
            ChallengeConfig::Dns01Cloud { api, dns } => {
                let provider: Box<dyn DnsProvider> = match api.vendor {
                    CloudVendor::Cloudflare => {
                        Box::new(cloudflare::CloudflareProvider::new(api.clone()))
                    }
                    CloudVendor::Route53 => Box::new(route53::Route53Provider::new(api.clone())),
                    CloudVendor::DnsPod => Box::new(dnspod::DnsPodProvider::new(api.clone())),
                    CloudVendor::AliDns => Box::new(alidns::AliDnsProvider::new(api.clone())),
                    CloudVendor::HuaweiDns => {
                        Box::new(huaweidns::HuaweiDnsProvider::new(api.clone()))
                    }
                    CloudVendor::GoogleDns => {
                        Box::new(googledns::GoogleDnsProvider::new(api.clone()))
                    }
                };
                Solver::Dns(dns01::DnsSolver::new(provider, dns.clone()))
            }
        })
    }

    pub fn challenge_type(&self) -> ChallengeType {
        match self {
            Solver::Http(..) | Solver::Webroot(_) => ChallengeType::Http01,
            Solver::TlsAlpn(..) => ChallengeType::TlsAlpn01,
            Solver::Dns(_) => ChallengeType::Dns01,
        }
    }

    /// Publishes one proof.
    pub async fn present(&mut self, proof: &Proof) -> Result<(), AcmeError> {
        match self {
            Solver::Http(s, tokens) => {
                s.present(proof);
                tokens.push(proof.token.clone());
                Ok(())
            }
            Solver::Webroot(s) => s.present(proof),
            Solver::TlsAlpn(s, domains) => {
                s.present(proof)?;
                domains.push(proof.domain.clone());
                Ok(())
            }
            Solver::Dns(s) => s.present(proof).await,
        }
    }

    /// Called once everything is presented, before the CA is told to validate.
    pub async fn settle(&self) -> Result<(), AcmeError> {
        match self {
            Solver::Dns(s) => s.settle().await,
            _ => Ok(()),
        }
    }

    /// Removes everything presented. Errors are collected, not fatal: cleanup always finishes.
    pub async fn cleanup(self) -> Vec<String> {
        match self {
            Solver::Http(s, tokens) => {
                tokens.iter().for_each(|t| s.remove(t));
                Vec::new()
            }
            Solver::Webroot(s) => s.cleanup(),
            Solver::TlsAlpn(s, domains) => {
                domains.iter().for_each(|d| s.remove(d));
                Vec::new()
            }
            Solver::Dns(s) => s.cleanup().await,
        }
    }
}
