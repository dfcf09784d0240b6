//! The DER side of revocation checking: where a certificate says its status is published (OCSP
//! responder, CRL distribution point, must-staple), the OCSP request for it, and verified
//! readings of OCSP responses (RFC 6960) and CRLs (RFC 5280).
//!
//! Nothing here trusts an answer it cannot verify: an OCSP response must be signed by the
//! issuer or by a responder certificate the issuer signed for OCSP, a CRL by the issuer; and
//! both must be current. Anything else is an error, which the caller reports as
//! `revocation_unknown`, never as `revoked` or good.

use x509_parser::asn1_rs::BitString;
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent, Class};
use x509_parser::der_parser::der::parse_der;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::time::ASN1Time;
use x509_parser::x509::AlgorithmIdentifier;

use crate::model::UnixSeconds;

/// Where a certificate's revocation status is published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pointers {
    /// OCSP responder URLs (authorityInfoAccess).
    pub ocsp: Vec<String>,
    /// CRL URLs (cRLDistributionPoints full names).
    pub crl: Vec<String>,
    /// The TLS feature extension asks for a stapled OCSP response (RFC 7633).
    pub must_staple: bool,
}

/// What a verified OCSP response or CRL says about one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked {
        at: UnixSeconds,
        reason: Option<String>,
    },
    /// The responder does not know the certificate (OCSP `unknown`).
    Unknown,
}

/// A verified answer and how long it may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Status,
    pub this_update: UnixSeconds,
    pub next_update: Option<UnixSeconds>,
}

/// Why an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    #[error("the certificate cannot be parsed: {0}")]
    Certificate(String),
    #[error("the OCSP response is malformed: {0}")]
    Malformed(String),
    #[error("the OCSP responder answered {0}")]
    NotSuccessful(&'static str),
    #[error("the OCSP response has no answer for this certificate")]
    NoAnswer,
    #[error("the signature does not verify: {0}")]
    Signature(String),
    #[error("the OCSP response is signed by a certificate the issuer did not authorise for OCSP")]
    UnauthorisedResponder,
    #[error("the answer is stale: its next update was {0}")]
    Stale(String),
    #[error("the answer is not valid yet (this update {0})")]
    Future(String),
    #[error("the CRL cannot be parsed: {0}")]
    Crl(String),
    #[error("the CRL is issued by {found}, not by the certificate's issuer {expected}")]
    WrongIssuer { found: String, expected: String },
}

fn cert(der: &[u8]) -> Result<X509Certificate<'_>, RevocationError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| RevocationError::Certificate(e.to_string()))
}

/// Where `der` says its status is published.
pub fn pointers(der: &[u8]) -> Pointers {
    let Ok(c) = cert(der) else {
        return Pointers::default();
    };
    let mut out = Pointers::default();
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in &aia.accessdescs {
                    if d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP
                        && let GeneralName::URI(uri) = d.access_location
                    {
                        out.ocsp.push(uri.to_string());
                    }
                }
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        for name in names {
                            if let GeneralName::URI(uri) = name {
                                out.crl.push(uri.to_string());
                            }
                        }
                    }
                }
            }
            _ => {
                // id-pe-tlsfeature: SEQUENCE OF INTEGER; 5 is status_request.
                if ext.oid.to_id_string() == "1.3.6.1.5.5.7.1.24"
                    && let Ok((_, features)) = parse_der(ext.value)
                    && let Ok(list) = features.as_sequence()
                {
                    out.must_staple = list.iter().any(|f| f.as_u32() == Ok(5));
                }
            }
        }
    }
    out
}

/// Does `issuer` name `leaf`'s issuer (subject equals issuer, byte for byte)?
pub fn issued(leaf: &[u8], issuer: &[u8]) -> bool {
    match (cert(leaf), cert(issuer)) {
        (Ok(l), Ok(i)) => l.issuer().as_raw() == i.subject().as_raw(),
        _ => false,
    }
}

fn sha1(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

/// DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The CertID of `leaf` (SHA-1, as every responder accepts): hash algorithm, issuer name hash,
/// issuer key hash, serial.
fn cert_id(leaf: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> (Vec<u8>, Vec<u8>) {
    let sha1_alg = tlv(
        0x30,
        &[
            &[0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a][..],
            &[0x05, 0x00],
        ]
        .concat(),
    );
    let key_hash = sha1(&issuer.public_key().subject_public_key.data);
    let id = tlv(
        0x30,
        &[
            sha1_alg,
            tlv(0x04, &sha1(issuer.subject().as_raw())),
            tlv(0x04, &key_hash),
            tlv(0x02, leaf.raw_serial()),
        ]
        .concat(),
    );
    (id, key_hash)
}

/// The DER OCSPRequest for `leaf_der` issued by `issuer_der` (no nonce: responders that cache
/// pre-signed answers ignore it, and freshness is checked on the answer's own times).
pub fn ocsp_request(leaf_der: &[u8], issuer_der: &[u8]) -> Result<Vec<u8>, RevocationError> {
    let (leaf, issuer) = (cert(leaf_der)?, cert(issuer_der)?);
    let (id, _) = cert_id(&leaf, &issuer);
    let request = tlv(0x30, &id);
    let list = tlv(0x30, &request);
    let tbs = tlv(0x30, &list);
    Ok(tlv(0x30, &tbs))
}

/// The DER elements in `content`, each with its raw bytes.
fn elements(mut content: &[u8]) -> Result<Vec<(&[u8], BerObject<'_>)>, RevocationError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        let (rest, obj) =
            parse_der(content).map_err(|e| RevocationError::Malformed(e.to_string()))?;
        out.push((&content[..content.len() - rest.len()], obj));
        content = rest;
    }
    Ok(out)
}

/// The first DER element of `data`, with its raw bytes.
fn one(data: &[u8]) -> Result<(&[u8], BerObject<'_>), RevocationError> {
    let (rest, obj) = parse_der(data).map_err(|e| RevocationError::Malformed(e.to_string()))?;
    Ok((&data[..data.len() - rest.len()], obj))
}

/// The content bytes of a constructed element (SEQUENCE or explicit tag).
fn inner<'a>(raw: &'a [u8], obj: &BerObject<'_>) -> Result<&'a [u8], RevocationError> {
    let len = match obj.header.length() {
        x509_parser::der_parser::ber::Length::Definite(n) => n,
        _ => return Err(RevocationError::Malformed("indefinite length".into())),
    };
    raw.get(raw.len() - len..)
        .ok_or_else(|| RevocationError::Malformed("truncated element".into()))
}

fn malformed(what: &str) -> RevocationError {
    RevocationError::Malformed(what.into())
}

fn time(raw: &[u8]) -> Result<UnixSeconds, RevocationError> {
    ASN1Time::from_der(raw)
        .map(|(_, t)| t.timestamp())
        .map_err(|e| RevocationError::Malformed(format!("bad time: {e}")))
}

fn rfc3339(t: UnixSeconds) -> String {
    crate::policy::rfc3339(t)
}

/// Checks that an answer is current at `now` (five minutes of clock skew allowed).
fn current(answer: Answer, now: UnixSeconds) -> Result<Answer, RevocationError> {
    if answer.this_update > now + 300 {
        return Err(RevocationError::Future(rfc3339(answer.this_update)));
    }
    if let Some(next) = answer.next_update
        && next < now - 300
    {
        return Err(RevocationError::Stale(rfc3339(next)));
    }
    Ok(answer)
}

/// Reads and verifies an OCSP response about `leaf_der` (issued by `issuer_der`) at `now`.
pub fn ocsp_response(
    response: &[u8],
    leaf_der: &[u8],
    issuer_der: &[u8],
    now: UnixSeconds,
) -> Result<Answer, RevocationError> {
    let (leaf, issuer) = (cert(leaf_der)?, cert(issuer_der)?);
    let (top_raw, top) = one(response)?;
    let parts = elements(inner(top_raw, &top)?)?;
    let status = match parts.first().map(|(_, o)| &o.content) {
        Some(BerObjectContent::Enum(s)) => *s,
        _ => return Err(malformed("no responseStatus")),
    };
    let named = match status {
        0 => None,
        1 => Some("malformedRequest"),
        2 => Some("internalError"),
        3 => Some("tryLater"),
        5 => Some("sigRequired"),
        6 => Some("unauthorized"),
        _ => Some("an unknown status"),
    };
    if let Some(name) = named {
        return Err(RevocationError::NotSuccessful(name));
    }
    // responseBytes [0] EXPLICIT SEQUENCE { responseType OID, response OCTET STRING }
    let (raw, tagged) = parts.get(1).ok_or_else(|| malformed("no responseBytes"))?;
    let (bytes_raw, bytes_obj) = one(inner(raw, tagged)?)?;
    let fields = elements(inner(bytes_raw, &bytes_obj)?)?;
    let basic_oid = fields
        .first()
        .and_then(|(_, o)| o.as_oid().ok())
        .map(|o| o.to_id_string());
    if basic_oid.as_deref() != Some("1.3.6.1.5.5.7.48.1.1") {
        return Err(malformed("not a basic OCSP response"));
    }
    let basic = fields
        .get(1)
        .and_then(|(_, o)| o.as_slice().ok())
        .ok_or_else(|| malformed("no response octets"))?;
    basic_response(basic, &leaf, &issuer, now)
}

fn basic_response(
    basic: &[u8],
    leaf: &X509Certificate<'_>,
    issuer: &X509Certificate<'_>,
    now: UnixSeconds,
) -> Result<Answer, RevocationError> {
    let (basic_raw, seq) = one(basic)?;
    let content = inner(basic_raw, &seq)?;
    let (tbs_raw, tbs) = one(content)?;
    let after_tbs = &content[tbs_raw.len()..];
    let (after_alg, alg) = AlgorithmIdentifier::from_der(after_tbs)
        .map_err(|e| RevocationError::Malformed(format!("signature algorithm: {e}")))?;
    let (after_sig, signature) = BitString::from_der(after_alg)
        .map_err(|e| RevocationError::Malformed(format!("signature: {e}")))?;
    // certs [0] EXPLICIT SEQUENCE OF Certificate: a delegated responder, if any.
    let mut responder_der: Option<&[u8]> = None;
    if !after_sig.is_empty() {
        let (tagged_raw, tagged) = one(after_sig)?;
        let (list_raw, list) = one(inner(tagged_raw, &tagged)?)?;
        let certs = elements(inner(list_raw, &list)?)?;
        responder_der = certs.first().map(|(raw, _)| *raw);
    }
    let responder = responder_der.map(cert).transpose()?;
    let signer_key = match &responder {
        Some(r) if r.public_key().raw != issuer.public_key().raw => {
            r.verify_signature(Some(issuer.public_key()))
                .map_err(|_| RevocationError::UnauthorisedResponder)?;
            let for_ocsp = r
                .extended_key_usage()
                .ok()
                .flatten()
                .is_some_and(|eku| eku.value.ocsp_signing);
            if !for_ocsp {
                return Err(RevocationError::UnauthorisedResponder);
            }
            r.public_key()
        }
        _ => issuer.public_key(),
    };
    x509_parser::verify::verify_signature(signer_key, &alg, &signature, tbs_raw)
        .map_err(|e| RevocationError::Signature(e.to_string()))?;

    // ResponseData: [0] version?, responderID, producedAt, responses, [1] extensions?
    let data = elements(inner(tbs_raw, &tbs)?)?;
    let (responses_raw, responses) = data
        .iter()
        .find(|(_, o)| o.header.class() == Class::Universal && o.header.tag().0 == 16)
        .ok_or_else(|| malformed("no responses"))?;
    let (_, our_key_hash) = cert_id(leaf, issuer);
    for (single_raw, single) in elements(inner(responses_raw, responses)?)? {
        let fields = elements(inner(single_raw, &single)?)?;
        let Some((id_raw, id)) = fields.first() else {
            continue;
        };
        let id_fields = elements(inner(id_raw, id)?)?;
        let key_hash = id_fields.get(2).and_then(|(_, o)| o.as_slice().ok());
        let serial = id_fields.get(3).and_then(|(_, o)| o.as_slice().ok());
        if key_hash != Some(&our_key_hash[..]) || serial != Some(leaf.raw_serial()) {
            continue;
        }
        let (status_raw, status_obj) = fields.get(1).ok_or_else(|| malformed("no certStatus"))?;
        let status = match status_obj.header.tag().0 {
            0 => Status::Good,
            1 => {
                let info = elements(inner(status_raw, status_obj)?)?;
                let at = time(
                    info.first()
                        .ok_or_else(|| malformed("no revocationTime"))?
                        .0,
                )?;
                let reason = info
                    .get(1)
                    .and_then(|(raw, o)| inner(raw, o).ok())
                    .and_then(|r| parse_der(r).ok())
                    .and_then(|(_, o)| match o.content {
                        BerObjectContent::Enum(code) => Some(reason_name(code as u8)),
                        _ => None,
                    });
                Status::Revoked { at, reason }
            }
            _ => Status::Unknown,
        };
        let this_update = time(fields.get(2).ok_or_else(|| malformed("no thisUpdate"))?.0)?;
        let next_update = match fields.get(3) {
            Some((raw, o))
                if o.header.class() == Class::ContextSpecific && o.header.tag().0 == 0 =>
            {
                Some(time(inner(raw, o)?)?)
            }
            _ => None,
        };
        return current(
            Answer {
                status,
                this_update,
                next_update,
            },
            now,
        );
    }
    Err(RevocationError::NoAnswer)
}

/// RFC 5280 CRLReason names.
fn reason_name(code: u8) -> String {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => return format!("reason {code}"),
    }
    .to_string()
}

/// Reads a CRL (DER, or PEM) issued by `issuer_der`, verified, and what it says about `leaf_der`.
pub fn crl(
    crl: &[u8],
    leaf_der: &[u8],
    issuer_der: &[u8],
    now: UnixSeconds,
) -> Result<Answer, RevocationError> {
    let (leaf, issuer) = (cert(leaf_der)?, cert(issuer_der)?);
    let pem_der;
    let der = if crl.starts_with(b"-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(crl)
            .map_err(|e| RevocationError::Crl(e.to_string()))?;
        pem_der = pem.contents;
        &pem_der[..]
    } else {
        crl
    };
    let (_, list) = CertificateRevocationList::from_der(der)
        .map_err(|e| RevocationError::Crl(e.to_string()))?;
    if list.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(RevocationError::WrongIssuer {
            found: list.issuer().to_string(),
            expected: issuer.subject().to_string(),
        });
    }
    list.verify_signature(issuer.public_key())
        .map_err(|e| RevocationError::Signature(e.to_string()))?;
    let status = list
        .iter_revoked_certificates()
        .find(|r| r.raw_serial() == leaf.raw_serial())
        .map_or(Status::Good, |r| Status::Revoked {
            at: r.revocation_date.timestamp(),
            reason: r.reason_code().map(|(_, code)| reason_name(code.0)),
        });
    current(
        Answer {
            status,
            this_update: list.last_update().timestamp(),
            next_update: list.next_update().map(|t| t.timestamp()),
        },
        now,
    )
}
