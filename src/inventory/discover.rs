//! Network discovery: find the TLS services nobody listed in a range the user names.
//!
//! The certificate that takes an invoicing service down is often on a backend nobody put in the
//! config. `certctl discover 10.0.0.0/24` connects to every (address, port) of the range with
//! bounded concurrency and a rate limit, then hands each open port to the ordinary endpoint
//! scanner (STARTTLS on the ports whose protocol is known). It never goes beyond what was
//! named: ranges are expanded exactly, host names resolve to their own addresses, and a range
//! larger than the configured bound is refused unless forced.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::{IpAddrRange, IpNet, Ipv4AddrRange, Ipv6AddrRange};
use tokio::task::JoinSet;

use super::target::{self, Target};
use crate::model::Starttls;

/// Ports probed when none are given: HTTPS and its usual alternates, Kubernetes, Docker, etcd,
/// WinRM, DNS over TLS, then the mail, directory, file and database ports (implicit TLS, then
/// STARTTLS).
pub const DEFAULT_PORTS: &[u16] = &[
    443, 8443, 4443, 9443, 6443, 10250, 2376, 2379, 5986, 853, 465, 993, 995, 636, 990, 25, 587,
    143, 110, 389, 21, 5432, 3306, 5222, 5223,
];

/// The protocol a well-known port speaks (STARTTLS ports), `None` for TLS from the first byte.
pub fn port_protocol(port: u16) -> Option<Starttls> {
    match port {
        25 | 587 => Some(Starttls::Smtp),
        143 => Some(Starttls::Imap),
        110 => Some(Starttls::Pop3),
        21 => Some(Starttls::Ftp),
        389 => Some(Starttls::Ldap),
        5432 => Some(Starttls::Postgres),
        3306 => Some(Starttls::Mysql),
        5222 => Some(Starttls::Xmpp),
        _ => None,
    }
}

/// The most addresses one discovery expands, even forced (a /8 of IPv4).
pub const HARD_LIMIT: u128 = 1 << 24;

/// A range string that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error(
        "\"{0}\" is not an address range: use a CIDR block (10.0.0.0/24), a span (10.0.0.1-10.0.0.50 or 10.0.0.1-50), an address or a host name"
    )]
    Syntax(String),
    #[error("\"{0}\": the span ends before it starts")]
    Backwards(String),
    #[error("cannot resolve {name}: {source}")]
    Resolve {
        name: String,
        source: std::io::Error,
    },
    #[error(
        "{what} would probe {count} addresses, more than the bound of {bound} ([discovery] max_addresses); narrow it, raise the bound, or pass --force"
    )]
    TooLarge {
        what: String,
        count: u128,
        bound: u64,
    },
    #[error("{what} holds {count} addresses; more than {HARD_LIMIT} cannot be probed at all")]
    Endless { what: String, count: u128 },
    #[error("\"{0}\" is not a port list: use numbers from 1 to 65535, e.g. 443,8443,636")]
    Ports(String),
}

/// One thing the user named: a block, a span, or the addresses of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Range {
    Net(IpNet),
    Span(IpAddr, IpAddr),
    Addrs(Vec<IpAddr>),
}

impl Range {
    /// How many addresses it holds (u128: an IPv6 /64 does not fit in u64).
    fn len(&self) -> u128 {
        match self {
            Range::Net(net) => {
                let bits = net.max_prefix_len() - net.prefix_len();
                let all = 1u128.checked_shl(u32::from(bits)).unwrap_or(u128::MAX);
                // `hosts()` skips the network and broadcast addresses of IPv4 blocks up to /30.
                match net {
                    IpNet::V4(_) if bits >= 2 => all - 2,
                    _ => all,
                }
            }
            Range::Span(a, b) => match (a, b) {
                (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(*b) - u32::from(*a)) + 1,
                (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(*b) - u128::from(*a) + 1,
                _ => 0,
            },
            Range::Addrs(a) => a.len() as u128,
        }
    }

    fn addresses(&self) -> Box<dyn Iterator<Item = IpAddr> + Send + '_> {
        match self {
            Range::Net(net) => Box::new(net.hosts()),
            Range::Span(IpAddr::V4(a), IpAddr::V4(b)) => {
                Box::new(IpAddrRange::from(Ipv4AddrRange::new(*a, *b)))
            }
            Range::Span(IpAddr::V6(a), IpAddr::V6(b)) => {
                Box::new(IpAddrRange::from(Ipv6AddrRange::new(*a, *b)))
            }
            Range::Span(..) => Box::new(std::iter::empty()),
            Range::Addrs(a) => Box::new(a.iter().copied()),
        }
    }
}

/// Parses one range argument. Host names resolve here (to at most 16 addresses, like scans).
pub async fn parse_range(text: &str) -> Result<Vec<IpAddr>, RangeError> {
    Ok(expand(&[range(text).await?]))
}

/// Checks a range string without resolving names (for the config's `[[discover]]` jobs): the
/// number of addresses a literal range holds, `None` for a host name.
pub fn check_range(text: &str) -> Result<Option<u128>, RangeError> {
    Ok(literal(text)?.map(|r| r.len()))
}

async fn range(text: &str) -> Result<Range, RangeError> {
    if let Some(r) = literal(text)? {
        return Ok(r);
    }
    let text = text.trim();
    let found = tokio::net::lookup_host((text, 0))
        .await
        .map_err(|source| RangeError::Resolve {
            name: text.into(),
            source,
        })?;
    let mut addrs: Vec<IpAddr> = Vec::new();
    for a in found {
        if !addrs.contains(&a.ip()) && addrs.len() < super::endpoint::MAX_ADDRESSES {
            addrs.push(a.ip());
        }
    }
    Ok(Range::Addrs(addrs))
}

/// A block, span or address; `None` for a host name (well formed, still to resolve).
fn literal(text: &str) -> Result<Option<Range>, RangeError> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(Some(Range::Net(net.trunc())));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Some(Range::Addrs(vec![ip])));
    }
    if let Some((from, to)) = text.split_once('-') {
        let start: IpAddr = from
            .trim()
            .parse()
            .map_err(|_| RangeError::Syntax(text.into()))?;
        let end: IpAddr = match (start, to.trim().parse::<u8>()) {
            // 10.0.0.1-50: the last octet.
            (IpAddr::V4(s), Ok(last)) => {
                let [a, b, c, _] = s.octets();
                IpAddr::from([a, b, c, last])
            }
            _ => to
                .trim()
                .parse()
                .map_err(|_| RangeError::Syntax(text.into()))?,
        };
        let ordered = match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => s <= e,
            (IpAddr::V6(s), IpAddr::V6(e)) => s <= e,
            _ => return Err(RangeError::Syntax(text.into())),
        };
        if !ordered {
            return Err(RangeError::Backwards(text.into()));
        }
        return Ok(Some(Range::Span(start, end)));
    }
    // A host name: exactly its own addresses. One whose last label is all digits is a mistyped
    // address (`10.0.0.300`), not a name: no top-level domain is numeric.
    let last = text
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or(text);
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Syntax(text.into()));
    }
    let t = target::parse_endpoint(text, None).map_err(|_| RangeError::Syntax(text.into()))?;
    if t.port != 443 || text.contains(':') {
        return Err(RangeError::Syntax(text.into()));
    }
    Ok(None)
}

fn expand(ranges: &[Range]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in ranges {
        for ip in r.addresses() {
            if seen.insert(ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// Parses `443,8443,636` (and spans `8000-8010`).
pub fn parse_ports(text: &str) -> Result<Vec<u16>, RangeError> {
    let bad = || RangeError::Ports(text.into());
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        let from: u16 = from.trim().parse().map_err(|_| bad())?;
        let to: u16 = to.trim().parse().map_err(|_| bad())?;
        if from == 0 || to < from {
            return Err(bad());
        }
        for p in from..=to {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// What to probe, checked against the bound before anything is sent.
#[derive(Debug, Clone)]
pub struct Plan {
    pub addresses: Vec<IpAddr>,
    pub ports: Vec<u16>,
    /// Forces one STARTTLS protocol on every port (`--protocol`); else [`port_protocol`].
    pub protocol: Option<Starttls>,
}

impl Plan {
    /// Resolves and expands `ranges`, refusing more than `bound` addresses unless `force`.
    pub async fn new(
        ranges: &[String],
        ports: Vec<u16>,
        protocol: Option<Starttls>,
        bound: u64,
        force: bool,
    ) -> Result<Plan, RangeError> {
        let mut parsed = Vec::new();
        for text in ranges {
            let r = range(text).await?;
            // Checked per range before expanding, so a /8 typed by mistake costs nothing.
            if r.len() > HARD_LIMIT {
                return Err(RangeError::Endless {
                    what: format!("\"{text}\""),
                    count: r.len(),
                });
            }
            if !force && r.len() > u128::from(bound) {
                return Err(RangeError::TooLarge {
                    what: format!("\"{text}\""),
                    count: r.len(),
                    bound,
                });
            }
            parsed.push(r);
        }
        let total: u128 = parsed.iter().map(Range::len).sum();
        if total > HARD_LIMIT {
            return Err(RangeError::Endless {
                what: "these ranges together".into(),
                count: total,
            });
        }
        if !force && total > u128::from(bound) {
            return Err(RangeError::TooLarge {
                what: "these ranges together".into(),
                count: total,
                bound,
            });
        }
        Ok(Plan {
            addresses: expand(&parsed),
            ports,
            protocol,
        })
    }

    /// How many connections the sweep makes.
    pub fn probes(&self) -> usize {
        self.addresses.len() * self.ports.len()
    }

    /// The endpoint to scan behind an open port.
    pub fn target(&self, addr: SocketAddr) -> Target {
        Target {
            host: addr.ip().to_string(),
            port: addr.port(),
            server_name: None,
            name: None,
            labels: vec![("discovered".into(), "true".into())],
            starttls: self.protocol.or_else(|| port_protocol(addr.port())),
        }
    }
}

/// How hard the sweep pushes.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Connection attempts in flight at once.
    pub concurrency: usize,
    /// Connection attempts started per second.
    pub rate: u32,
    /// Bound of each attempt (a black hole costs this much, once).
    pub connect_timeout: Duration,
}

/// Connects to every (address, port) of the plan and returns the open ones, in plan order.
pub async fn sweep(plan: &Plan, pace: Pace) -> Vec<SocketAddr> {
    // Probe i is address i / ports, port i % ports (plain indices: the future stays Send, so
    // the daemon can run a sweep on a task of its own).
    let ports = plan.ports.len().max(1);
    let total = plan.probes();
    let mut next_probe = 0usize;
    let mut probes = std::iter::from_fn(move || {
        (next_probe < total).then(|| {
            let i = next_probe;
            next_probe += 1;
            (
                i,
                SocketAddr::new(plan.addresses[i / ports], plan.ports[i % ports]),
            )
        })
    });
    let period = Duration::from_secs_f64(1.0 / f64::from(pace.rate.max(1)));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut running = JoinSet::new();
    let mut open: Vec<(usize, SocketAddr)> = Vec::new();
    loop {
        while running.len() < pace.concurrency.max(1) {
            let Some((i, addr)) = probes.next() else {
                break;
            };
            ticks.tick().await;
            let timeout = pace.connect_timeout;
            running.spawn(async move {
                let connected =
                    tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await;
                matches!(connected, Ok(Ok(_))).then_some((i, addr))
            });
        }
        match running.join_next().await {
            Some(Ok(Some(found))) => open.push(found),
            Some(Ok(None)) => {}
            Some(Err(e)) => tracing::error!("a discovery probe failed: {e}"),
            None => break,
        }
    }
    open.sort_unstable();
    open.into_iter().map(|(_, a)| a).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ips(text: &str) -> Vec<String> {
        parse_range(text)
            .await
            .expect(text)
            .iter()
            .map(IpAddr::to_string)
            .collect()
    }

    #[tokio::test]
    async fn range_forms() {
        assert_eq!(ips("127.0.0.0/30").await, ["127.0.0.1", "127.0.0.2"]);
        assert_eq!(ips("10.0.0.9").await, ["10.0.0.9"]);
        assert_eq!(
            ips("10.0.0.254-10.0.1.1").await,
            ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
        );
        assert_eq!(
            ips("10.0.0.1-3").await,
            ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        );
        assert_eq!(ips("::1").await, ["::1"]);
        assert_eq!(ips("fd00::/127").await, ["fd00::", "fd00::1"]);
        assert_eq!(
            ips("localhost").await.first().map(String::as_str),
            Some("127.0.0.1")
        );
        // A host bit set in a block is the block it belongs to.
        assert_eq!(ips("127.0.0.5/30").await, ["127.0.0.5", "127.0.0.6"]);
    }

    #[tokio::test]
    async fn bad_ranges_say_why() {
        for (bad, words) in [
            ("10.0.0.0/33", "not an address range"),
            ("10.0.0.9-10.0.0.1", "ends before it starts"),
            ("10.0.0.1-::1", "not an address range"),
            ("10.0.0.1-300", "not an address range"),
            ("10.0.0.300", "not an address range"),
            ("192.168.1", "not an address range"),
            ("host:443", "not an address range"),
            ("no such host!", "not an address range"),
        ] {
            let e = parse_range(bad).await.unwrap_err().to_string();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn the_bound_is_checked_before_expanding() {
        let e = Plan::new(&["10.0.0.0/8".into()], vec![443], None, 65_536, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("16777214 addresses") && e.contains("--force"),
            "{e}"
        );
        // Forced, a /8 is allowed; an IPv6 /32 never is (it would not end).
        let e = Plan::new(&["2001:db8::/32".into()], vec![443], None, 65_536, true)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be probed at all"), "{e}");
        let ok = Plan::new(
            &["10.0.0.0/24".into(), "10.0.0.1".into()],
            vec![443, 8443],
            None,
            65_536,
            false,
        )
        .await
        .expect("plan");
        assert_eq!(ok.addresses.len(), 254, "duplicates are probed once");
        assert_eq!(ok.probes(), 508);
        let e = Plan::new(
            &[
                "10.0.0.0/17".into(),
                "10.1.0.0/17".into(),
                "10.2.0.0/24".into(),
            ],
            vec![443],
            None,
            65_536,
            false,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("these ranges together"), "{e}");
    }

    #[test]
    fn ports() {
        assert_eq!(
            parse_ports("443, 8443,636").expect("ports"),
            [443, 8443, 636]
        );
        assert_eq!(
            parse_ports("8000-8002,8001").expect("ports"),
            [8000, 8001, 8002]
        );
        for bad in ["", "0", "443,x", "9-3", "70000"] {
            assert!(parse_ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn well_known_ports_pick_their_protocol() {
        let plan = Plan {
            addresses: vec![],
            ports: vec![],
            protocol: None,
        };
        let t = plan.target("10.0.0.1:25".parse().expect("addr"));
        assert_eq!(t.starttls, Some(Starttls::Smtp));
        assert_eq!(
            t.labels,
            vec![("discovered".to_string(), "true".to_string())]
        );
        assert_eq!(
            plan.target("10.0.0.1:443".parse().expect("addr")).starttls,
            None
        );
        let forced = Plan {
            protocol: Some(Starttls::Imap),
            ..plan
        };
        assert_eq!(
            forced
                .target("10.0.0.1:2143".parse().expect("addr"))
                .starttls,
            Some(Starttls::Imap)
        );
    }
}
