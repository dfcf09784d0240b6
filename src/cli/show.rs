//! `certctl show`: one location in full, for people (every certificate of its path, its renewal
//! state, its history) or as JSON.

use clap::Args;

use super::output::{self, expires_in};
use super::{Cli, Exit, Format, Session};
use crate::ops::{Reply, Request, ShowReply, ShowRequest};
use crate::policy::{relative, rfc3339};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Location id (or a unique prefix of 4+ characters), name, or target.
    pub query: String,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Format,
}

pub fn show(cli: &Cli, s: &mut Session<'_>, args: &ShowArgs) -> anyhow::Result<Exit> {
    let request = Request::Show(ShowRequest {
        query: super::absolute(&args.query),
    });
    let Reply::Show(reply) = cli.operate(request)? else {
        anyhow::bail!("the daemon answered `show` with something else");
    };
    let ShowReply {
        now,
        view,
        chain,
        history,
        renewal: managed,
    } = *reply;
    let out = &mut *s.out;
    if !args.output.is_table() {
        output::write_show_json(&mut *out, &view, &chain, &history, managed.as_ref(), now)?;
        return Ok(Exit::Ok);
    }
    let r = &view.record;
    writeln!(out, "{}  {}", r.id, r.location.target())?;
    if let Some(name) = &r.name {
        writeln!(out, "  name:          {name}")?;
    }
    for (k, v) in &r.labels {
        writeln!(out, "  label:         {k}={v}")?;
    }
    writeln!(out, "  status:        {}", view.status)?;
    writeln!(
        out,
        "  last scanned:  {} ({})",
        rfc3339(r.last_scanned),
        relative(r.last_scanned - now)
    )?;
    if let Some(tls) = &r.tls {
        writeln!(
            out,
            "  tls:           {} {} via {} ({} ms handshake)",
            tls.version, tls.cipher, tls.peer, tls.handshake_ms
        )?;
    }
    if let Some(m) = &managed {
        let last_ok = m
            .last_success
            .map(|t| format!("last renewed {}", relative(t - now)))
            .unwrap_or_else(|| "never renewed by this store".into());
        writeln!(out, "  renewal:       managed by certctl, {last_ok}")?;
        if m.failures > 0 {
            writeln!(
                out,
                "  renewal error: {} failure{} in a row: {}",
                m.failures,
                if m.failures == 1 { "" } else { "s" },
                m.last_error.as_deref().unwrap_or("unknown")
            )?;
        }
        if let Some(f) = &m.in_flight {
            writeln!(out, "  in flight:     order {}", f.order_url)?;
        }
        let leaf_serial = r.leaf.as_ref().map(|l| l.serial.as_str());
        if let Some(a) = m
            .ari
            .as_ref()
            .filter(|a| Some(a.serial.as_str()) == leaf_serial)
        {
            writeln!(
                out,
                "  ari window:    {} to {} (the CA's suggestion; asked again {})",
                rfc3339(a.start),
                rfc3339(a.end),
                relative(a.next_check - now)
            )?;
        }
    }
    if view.findings.is_empty() {
        writeln!(out, "  findings:      none")?;
    } else {
        writeln!(out, "  findings:")?;
        for f in &view.findings {
            writeln!(out, "    {:<8} {:<18} {}", f.severity, f.code, f.message)?;
        }
    }
    let certs = if chain.is_empty() {
        r.leaf.iter().cloned().collect()
    } else {
        chain
    };
    for (i, c) in certs.iter().enumerate() {
        let role = match (i, c.is_ca, c.self_signed) {
            (0, false, _) => "leaf",
            (_, _, true) => "root",
            (_, true, _) => "intermediate",
            _ => "certificate",
        };
        writeln!(out, "  [{i}] {role}")?;
        writeln!(out, "      subject:     {}", c.subject)?;
        writeln!(out, "      issuer:      {}", c.issuer)?;
        if !c.sans.is_empty() {
            writeln!(out, "      sans:        {}", c.sans.join(", "))?;
        }
        writeln!(out, "      serial:      {}", c.serial)?;
        writeln!(out, "      not before:  {}", rfc3339(c.not_before))?;
        writeln!(
            out,
            "      not after:   {} ({})",
            rfc3339(c.not_after),
            expires_in(c.not_after, now)
        )?;
        writeln!(out, "      key:         {}", c.key)?;
        writeln!(out, "      signature:   {}", c.signature_algorithm)?;
        writeln!(out, "      sha256:      {}", c.sha256)?;
        if let Some(ski) = &c.subject_key_id {
            writeln!(out, "      subject key: {ski}")?;
        }
        if let Some(aki) = &c.authority_key_id {
            writeln!(out, "      issuer key:  {aki}")?;
        }
        for url in &c.ocsp_urls {
            writeln!(out, "      ocsp:        {url}")?;
        }
        for url in &c.ca_issuer_urls {
            writeln!(out, "      ca issuers:  {url}")?;
        }
    }
    if !history.is_empty() {
        writeln!(out, "  history:")?;
        for h in history.iter().rev().take(20) {
            let codes: Vec<&str> = h.codes.iter().map(|c| c.as_str()).collect();
            writeln!(
                out,
                "    {}  serial {}  {}",
                rfc3339(h.at),
                h.serial.as_deref().unwrap_or("-"),
                if codes.is_empty() {
                    "ok".to_string()
                } else {
                    codes.join(",")
                }
            )?;
        }
    }
    Ok(Exit::Ok)
}
