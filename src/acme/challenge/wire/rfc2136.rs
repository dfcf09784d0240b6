//! dns-01 through RFC 2136 dynamic updates signed with TSIG (RFC 8945): what certbot's
//! `dns-rfc2136` and lego's `rfc2136` do, for BIND, Knot, PowerDNS or any primary that accepts
//! signed updates.
//!
//! Each record is added to (and later removed from) the TXT RRset by value, so the two values of
//! a wildcard order (`example.com` and `*.example.com` share one name) live side by side. After
//! an update the record is read back from the same server, so a silently ignored update (a policy
//! that does not cover the name) fails here, with the name, instead of as a CA validation error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_client::client::{Client, ClientHandle};
use hickory_client::proto::dnssec::rdata::tsig::TsigAlgorithm as HickoryTsig;
use hickory_client::proto::dnssec::tsig::TSigner;
use hickory_client::proto::op::ResponseCode;
use hickory_client::proto::rr::rdata::TXT;
use hickory_client::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_client::proto::runtime::TokioRuntimeProvider;
use hickory_client::proto::udp::UdpClientStream;

use super::super::dns01::{DnsProvider, ProviderFuture};
use crate::acme::AcmeError;
use crate::config::acme::{Rfc2136, TsigAlgorithm};

/// TTL of the published TXT records: short, they only live for one validation.
const TTL: u32 = 60;
/// Allowed clock difference between certctl and the server, in seconds (BIND's default).
const FUDGE: u16 = 300;

/// Publishes TXT records by dynamic update.
pub struct Rfc2136Provider {
    settings: Rfc2136,
    timeout: Duration,
    /// Zones already found by SOA lookups, by record name: cleanup reuses what present found.
    zones: Mutex<HashMap<Name, Name>>,
}

impl Rfc2136Provider {
    pub fn new(settings: Rfc2136) -> Rfc2136Provider {
        Rfc2136Provider {
            settings,
            timeout: Duration::from_secs(10),
            zones: Mutex::default(),
        }
    }

    fn fail(&self, what: &str, reason: impl std::fmt::Display) -> AcmeError {
        AcmeError::Challenge(format!(
            "rfc2136 {what} at {}: {reason}",
            self.settings.server
        ))
    }

    /// A client bound to the server, signing every message with the TSIG key.
    async fn client(&self) -> Result<Client, AcmeError> {
        let server = &self.settings.server;
        let with_port = if server.parse::<std::net::IpAddr>().is_ok() || !server.contains(':') {
            match server.parse::<std::net::Ipv6Addr>() {
                Ok(v6) => format!("[{v6}]:53"),
                Err(_) => format!("{server}:53"),
            }
        } else {
            server.clone()
        };
        let addr = tokio::net::lookup_host(&with_port)
            .await
            .map_err(|e| self.fail("cannot resolve the server", e))?
            .next()
            .ok_or_else(|| self.fail("cannot resolve the server", "no address"))?;
        let algorithm = match self.settings.algorithm {
            TsigAlgorithm::HmacSha256 => HickoryTsig::HmacSha256,
            TsigAlgorithm::HmacSha384 => HickoryTsig::HmacSha384,
            TsigAlgorithm::HmacSha512 => HickoryTsig::HmacSha512,
        };
        let key_name =
            Name::from_ascii(&self.settings.key_name).map_err(|e| self.fail("TSIG key name", e))?;
        let signer = TSigner::new(
            self.settings.secret.expose().to_vec(),
            algorithm,
            key_name,
            FUDGE,
        )
        .map_err(|e| self.fail("TSIG key", e))?;
        let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::new())
            .with_timeout(Some(self.timeout))
            .with_signer(Some(Arc::new(signer)))
            .build();
        let (client, background) = Client::connect(stream)
            .await
            .map_err(|e| self.fail("cannot reach the server", e))?;
        // The exchange's I/O task: it ends as soon as the client is dropped, at the end of the
        // update, so it is not a long-lived task.
        tokio::spawn(background);
        Ok(client)
    }

    /// The zone holding `fqdn`: configured, or the first enclosing name the server holds an SOA
    /// for (the authority section of a negative answer names it directly).
    async fn zone(&self, client: &mut Client, fqdn: &Name) -> Result<Name, AcmeError> {
        if let Some(zone) = &self.settings.zone {
            return Name::from_ascii(zone)
                .map(|mut n| {
                    n.set_fqdn(true);
                    n
                })
                .map_err(|e| self.fail("zone", e));
        }
        if let Some(zone) = self.zones.lock().ok().and_then(|z| z.get(fqdn).cloned()) {
            return Ok(zone);
        }
        let mut candidate = fqdn.clone();
        loop {
            let response = client
                .query(candidate.clone(), DNSClass::IN, RecordType::SOA)
                .await
                .map_err(|e| self.fail(&format!("SOA query for {candidate}"), e))?;
            let soa = response
                .answers()
                .iter()
                .chain(response.name_servers())
                .find(|r| r.record_type() == RecordType::SOA);
            if let Some(soa) = soa {
                let zone = soa.name().clone();
                if let Ok(mut zones) = self.zones.lock() {
                    zones.insert(fqdn.clone(), zone.clone());
                }
                return Ok(zone);
            }
            if candidate.num_labels() <= 1 {
                return Err(self.fail(
                    &format!("finding the zone of {fqdn}"),
                    "the server is not authoritative for any enclosing zone (set dns_zone)",
                ));
            }
            candidate = candidate.base_name();
        }
    }

    fn record(fqdn: &Name, value: &str) -> Record {
        Record::from_rdata(
            fqdn.clone(),
            TTL,
            RData::TXT(TXT::new(vec![value.to_string()])),
        )
    }

    fn name(&self, fqdn: &str) -> Result<Name, AcmeError> {
        Name::from_ascii(fqdn).map_err(|e| self.fail("record name", e))
    }

    /// Turns an update's answer into an error unless it is NOERROR.
    fn check(
        &self,
        what: &str,
        zone: &Name,
        answer: Result<hickory_client::proto::xfer::DnsResponse, hickory_client::ClientError>,
    ) -> Result<(), AcmeError> {
        let hint = "check tsig_key, the secret, tsig_algorithm and the zone's update policy";
        match answer {
            Ok(response) if response.response_code() == ResponseCode::NoError => Ok(()),
            Ok(response) => Err(self.fail(
                &format!("{what} in zone {zone}"),
                format!("the server answered {} ({hint})", response.response_code()),
            )),
            Err(e) => Err(self.fail(&format!("{what} in zone {zone}"), format!("{e} ({hint})"))),
        }
    }

    async fn add(&self, fqdn: &str, value: &str) -> Result<(), AcmeError> {
        let name = self.name(fqdn)?;
        let mut client = self.client().await?;
        let zone = self.zone(&mut client, &name).await?;
        let answer = client
            .append(Self::record(&name, value), zone.clone(), false)
            .await;
        self.check(&format!("adding TXT {name}"), &zone, answer)?;
        // Read it back: an update outside the key's grant can be accepted yet change nothing.
        let response = client
            .query(name.clone(), DNSClass::IN, RecordType::TXT)
            .await
            .map_err(|e| self.fail(&format!("reading back TXT {name}"), e))?;
        let served = response.answers().iter().any(|r| match r.data() {
            RData::TXT(txt) => txt
                .txt_data()
                .iter()
                .any(|d| d.as_ref() == value.as_bytes()),
            _ => false,
        });
        if served {
            Ok(())
        } else {
            Err(self.fail(
                &format!("TXT {name}"),
                "the update was accepted but the record is not served",
            ))
        }
    }

    async fn remove(&self, fqdn: &str, value: &str) -> Result<(), AcmeError> {
        let name = self.name(fqdn)?;
        let mut client = self.client().await?;
        let zone = self.zone(&mut client, &name).await?;
        let answer = client
            .delete_by_rdata(Self::record(&name, value), zone.clone())
            .await;
        self.check(&format!("removing TXT {name}"), &zone, answer)
    }
}

impl DnsProvider for Rfc2136Provider {
    fn present<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a> {
        Box::pin(self.add(fqdn, value))
    }

    fn cleanup<'a>(&'a self, fqdn: &'a str, value: &'a str) -> ProviderFuture<'a> {
        Box::pin(self.remove(fqdn, value))
    }
}
