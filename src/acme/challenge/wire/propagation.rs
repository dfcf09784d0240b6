//! The dns-01 propagation check: before the CA is asked to validate, every authoritative
//! server of each record's zone must answer with the value, as lego's pre-check does. Asking
//! the CA too early costs a failed authorization (which counts against the CA's rate limits)
//! and leaves the order to be retried; sleeping a fixed time either wastes it or is too short.
//!
//! The zone and its name servers are found through recursive resolvers (`dns_resolvers`, else
//! those in /etc/resolv.conf): the SOA that answers for the record's name (in the answer, or
//! the authority section of a negative answer) names the zone, its NS records name the
//! servers, and their addresses come from the additional section or an A/AAAA query. Each
//! server is then asked directly (port 53, no recursion) until it serves the value. When the
//! zone cannot be found that way (a private name, no resolver answers), there is nothing to
//! check and the caller is told so; when servers still lack a value at the bound, the error
//! names them.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use hickory_client::client::Client;
use hickory_client::proto::op::Query;
use hickory_client::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::udp::UdpClientStream;
use hickory_client::proto::xfer::{DnsHandle, DnsRequestOptions, DnsResponse};

/// One query's time limit; a silent server is asked again in the next round.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between rounds of asking the servers that do not serve a value yet.
const ROUND: Duration = Duration::from_secs(2);

/// Why the check did not confirm every value.
#[derive(Debug, thiserror::Error)]
pub enum PropagationError {
    /// The authoritative servers could not be found: there is nothing to check against.
    #[error("{0}")]
    Unknown(String),
    /// Some servers still lacked a value when the bound passed.
    #[error("{0}")]
    NotServed(String),
}

/// What the check confirmed, for the log.
#[derive(Debug)]
pub struct Served {
    /// (record name, zone, servers asked)
    pub records: Vec<(String, String, Vec<String>)>,
}

/// The resolvers of /etc/resolv.conf (port 53).
pub fn system_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

async fn client(server: SocketAddr) -> Result<Client, String> {
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::new())
        .with_timeout(Some(QUERY_TIMEOUT))
        .build();
    let (client, background) = Client::connect(stream)
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    // The exchange's I/O task ends when the client is dropped, after this check.
    tokio::spawn(background);
    Ok(client)
}

/// One query to `server`, recursive or not.
async fn ask(
    client: &Client,
    name: &Name,
    kind: RecordType,
    recursive: bool,
) -> Result<DnsResponse, String> {
    let mut query = Query::query(name.clone(), kind);
    query.set_query_class(DNSClass::IN);
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = recursive;
    options.use_edns = true;
    let mut responses = std::pin::pin!(client.lookup(query, options));
    let answer = tokio::time::timeout(QUERY_TIMEOUT + Duration::from_millis(500), responses.next())
        .await
        .map_err(|_| "no answer".to_string())?;
    match answer {
        Some(Ok(response)) => Ok(response),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("no answer".into()),
    }
}

/// The zone holding `fqdn` and the addresses of its name servers, asked of the first resolver
/// that answers.
async fn authorities(
    fqdn: &Name,
    resolvers: &[SocketAddr],
) -> Result<(Name, Vec<(String, IpAddr)>), String> {
    let mut problems = Vec::new();
    for &resolver in resolvers {
        match authorities_at(fqdn, resolver).await {
            Ok(found) => return Ok(found),
            Err(e) => problems.push(format!("resolver {resolver}: {e}")),
        }
    }
    if problems.is_empty() {
        problems.push("no resolver (set dns_resolvers, or list one in /etc/resolv.conf)".into());
    }
    Err(problems.join("; "))
}

async fn authorities_at(
    fqdn: &Name,
    resolver: SocketAddr,
) -> Result<(Name, Vec<(String, IpAddr)>), String> {
    let client = client(resolver).await?;
    let answer = ask(&client, fqdn, RecordType::SOA, true).await?;
    let zone = answer
        .answers()
        .iter()
        .chain(answer.name_servers())
        .find(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name().clone())
        .ok_or_else(|| format!("no SOA answers for {fqdn} ({})", answer.response_code()))?;
    if zone.is_root() || zone.num_labels() < 2 {
        // Only the root or a TLD claims the name: it does not exist in public DNS.
        return Err(format!(
            "{fqdn} is in no delegated zone (the nearest SOA is {zone})"
        ));
    }
    let answer = ask(&client, &zone, RecordType::NS, true).await?;
    let servers: BTreeSet<Name> = answer
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect();
    if servers.is_empty() {
        return Err(format!("no NS records for {zone}"));
    }
    let mut addresses = Vec::new();
    for server in servers {
        let mut ips: Vec<IpAddr> = answer
            .additionals()
            .iter()
            .filter(|r| r.name() == &server)
            .filter_map(|r| match r.data() {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
        if ips.is_empty() {
            for kind in [RecordType::A, RecordType::AAAA] {
                if let Ok(found) = ask(&client, &server, kind, true).await {
                    ips.extend(found.answers().iter().filter_map(|r| match r.data() {
                        RData::A(a) => Some(IpAddr::V4(a.0)),
                        RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    }));
                }
            }
        }
        if ips.is_empty() {
            return Err(format!("name server {server} of {zone} has no address"));
        }
        addresses.extend(ips.into_iter().map(|ip| (server.to_string(), ip)));
    }
    Ok((zone, addresses))
}

/// Whether `server` answers TXT `fqdn` with `value` itself (no recursion).
async fn serves(server: IpAddr, fqdn: &Name, value: &str) -> bool {
    let Ok(client) = client(SocketAddr::new(server, 53)).await else {
        return false;
    };
    let Ok(answer) = ask(&client, fqdn, RecordType::TXT, false).await else {
        return false;
    };
    answer.answers().iter().any(|r| match r.data() {
        RData::TXT(txt) => {
            let joined: Vec<u8> = txt
                .txt_data()
                .iter()
                .flat_map(|d| d.iter().copied())
                .collect();
            joined == value.as_bytes()
        }
        _ => false,
    })
}

/// Waits until every authoritative server of each record's zone serves its value, or `bound`
/// has passed.
pub async fn wait_until_served(
    records: &[(String, String)],
    resolvers: &[SocketAddr],
    bound: Duration,
) -> Result<Served, PropagationError> {
    let deadline = tokio::time::Instant::now() + bound;
    struct Pending {
        fqdn: Name,
        value: String,
        zone: Name,
        waiting: Vec<(String, IpAddr)>,
        asked: Vec<String>,
    }
    let mut pending = Vec::new();
    for (fqdn, value) in records {
        let name = Name::from_ascii(fqdn)
            .map_err(|e| PropagationError::Unknown(format!("{fqdn}: {e}")))?;
        let found = tokio::time::timeout_at(deadline, authorities(&name, resolvers))
            .await
            .map_err(|_| {
                PropagationError::Unknown(format!("finding the name servers of {fqdn} timed out"))
            })?;
        let (zone, servers) = found.map_err(|e| {
            PropagationError::Unknown(format!("finding the name servers of {fqdn}: {e}"))
        })?;
        pending.push(Pending {
            fqdn: name,
            value: value.clone(),
            zone,
            asked: servers
                .iter()
                .map(|(n, ip)| format!("{n} ({ip})"))
                .collect(),
            waiting: servers,
        });
    }
    loop {
        for p in pending.iter_mut() {
            let mut still = Vec::new();
            for (server, ip) in std::mem::take(&mut p.waiting) {
                if !serves(ip, &p.fqdn, &p.value).await {
                    still.push((server, ip));
                }
            }
            p.waiting = still;
        }
        if pending.iter().all(|p| p.waiting.is_empty()) {
            return Ok(Served {
                records: pending
                    .into_iter()
                    .map(|p| (p.fqdn.to_string(), p.zone.to_string(), p.asked))
                    .collect(),
            });
        }
        if tokio::time::Instant::now() + ROUND >= deadline {
            let missing: Vec<String> = pending
                .iter()
                .filter(|p| !p.waiting.is_empty())
                .map(|p| {
                    let servers: Vec<String> = p
                        .waiting
                        .iter()
                        .map(|(n, ip)| format!("{n} ({ip})"))
                        .collect();
                    format!("TXT {} is not served by {}", p.fqdn, servers.join(", "))
                })
                .collect();
            return Err(PropagationError::NotServed(format!(
                "{} after {} (dns_wait)",
                missing.join("; "),
                humantime::format_duration(bound)
            )));
        }
        tokio::time::sleep(ROUND).await;
    }
}
