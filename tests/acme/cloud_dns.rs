//! The cloud dns-01 providers (Cloudflare, Route 53, DNSPod, Alibaba Cloud DNS, Huawei Cloud
//! DNS, Google Cloud DNS), verified by contract: each vendor's API is played by a local HTTPS
//! server that implements the documented operations certctl uses, with the documented request
//! and answer shapes, and checks every request's credentials and signature (recomputed with the
//! signer that passes the vendors' published test vectors; Google's JWT verified by openssl). Records it accepts are mirrored into pebble-challtestsrv's DNS, so
//! a real Pebble validates them: a wildcard is issued end to end and nothing is left behind.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use certctl::acme::challenge::signing::{Unsigned, acs3, sdk_hmac_sha256, sha256_hex, sigv4, tc3};
use serde_json::{Value, json};

use super::common::cloud_api::{Answer, ApiRequest, CloudApi};
use super::common::pebble::{Pebble, PebbleOptions};
use super::common::*;
use super::{Setup, openssl_verify};

const ZONE: &str = "example.test";

/// The TXT records a double holds, by id, mirrored into challtestsrv's DNS on every change.
struct Records {
    next: u64,
    by_id: BTreeMap<u64, (String, String)>,
    set_url: String,
    clear_url: String,
}

impl Records {
    fn new(pebble: &Pebble) -> Arc<Mutex<Records>> {
        Arc::new(Mutex::new(Records {
            next: 160,
            by_id: BTreeMap::new(),
            set_url: pebble.challtest_url("set-txt"),
            clear_url: pebble.challtest_url("clear-txt"),
        }))
    }

    fn add(&mut self, name: &str, value: &str) -> u64 {
        self.next += 1;
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.by_id
            .insert(self.next, (name.clone(), value.to_string()));
        self.mirror(&name);
        self.next
    }

    fn remove(&mut self, id: u64) -> bool {
        match self.by_id.remove(&id) {
            Some((name, _)) => {
                self.mirror(&name);
                true
            }
            None => false,
        }
    }

    fn at(&self, name: &str) -> Vec<(u64, String)> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.by_id
            .iter()
            .filter(|(_, (n, _))| *n == name)
            .map(|(id, (_, v))| (*id, v.clone()))
            .collect()
    }

    fn mirror(&self, name: &str) {
        let host = format!("{name}.");
        post(&self.clear_url, &json!({ "host": host }));
        for (_, value) in self.at(name) {
            post(&self.set_url, &json!({ "host": host, "value": value }));
        }
    }
}

fn post(url: &str, body: &Value) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "-d", &body.to_string(), url])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `[[certificate]]` solved by `provider` at `api`.
fn certificate(
    name: &str,
    provider: &str,
    api: &CloudApi,
    base: &str,
    credentials: &str,
) -> String {
    format!(
        "[[certificate]]\nname = \"{name}\"\ndomains = [\"{name}.example.test\", \"*.{name}.example.test\"]\n[certificate.challenge]\ntype = \"dns-01\"\ndns_provider = \"{provider}\"\ndns_api_url = \"{}\"\n{credentials}",
        api.url(base)
    )
}

/// Issues `wild` through the double, checks the chain and that the zone is clean, then tries
/// again with a wrong secret: a clear error naming the provider, no secret in the output.
fn issue_and_refuse(
    provider: &str,
    api: &CloudApi,
    base: &str,
    pebble: &Pebble,
    records: &Mutex<Records>,
    (key_id, secret): (Option<&str>, &str),
    refused: &str,
) {
    issue_and_refuse_with(
        provider,
        api,
        base,
        pebble,
        records,
        (key_id, secret, "wrong-secret-value"),
        refused,
    )
}

/// The pieces of a secret that must never appear in output: every run of 16 or more
/// base64/token characters (a PEM key's lines inside a JSON key file, or the whole token).
fn secret_marks(secret: &str) -> Vec<String> {
    // JSON escapes the PEM's line breaks.
    secret
        .replace("\\n", "\n")
        .split(|c: char| !(c.is_ascii_alphanumeric() || "/+=-_".contains(c)))
        .filter(|t| t.len() >= 16)
        .map(String::from)
        .collect()
}

/// [`issue_and_refuse`] with the refused run's credential given (`wrong`).
fn issue_and_refuse_with(
    provider: &str,
    api: &CloudApi,
    base: &str,
    pebble: &Pebble,
    records: &Mutex<Records>,
    (key_id, secret, wrong): (Option<&str>, &str, &str),
    refused: &str,
) {
    let dir = tempfile::tempdir().expect("dir");
    let credentials = |secret: &str, file: &str| {
        let path = dir.path().join(file);
        std::fs::write(&path, format!("{secret}\n")).expect("secret");
        let id = key_id
            .map(|id| format!("dns_api_key_id = \"{id}\"\n"))
            .unwrap_or_default();
        format!("{id}dns_api_key_file = \"{}\"\n", path.display())
    };
    let setup = Setup::new(
        pebble,
        "",
        &certificate(
            "wild",
            provider,
            api,
            base,
            &credentials(secret, "good.key"),
        ),
    );
    let env = [("SSL_CERT_FILE", api.ca_file())];
    let env: Vec<(&str, &std::path::Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let out = certctl_config_env(&setup.config, &["issue", "wild"], &env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}\n{:#?}",
        stdout(&out),
        stderr(&out),
        pebble.log(),
        api.requests()
    );
    openssl_verify(&pebble.issuer_root_pem(), &setup.current("wild"));
    assert!(
        records.lock().expect("lock").by_id.is_empty(),
        "records left behind: {:?}\n{}",
        records.lock().expect("lock").by_id,
        stderr(&out)
    );
    let marks = secret_marks(secret);
    assert!(!marks.is_empty());
    for text in [stdout(&out), stderr(&out)] {
        for mark in &marks {
            assert!(
                !text.contains(mark.as_str()),
                "secret leaked ({mark}): {text}"
            );
        }
    }

    let setup = Setup::new(
        pebble,
        "",
        &certificate("other", provider, api, base, &credentials(wrong, "bad.key")),
    );
    let out = certctl_config_env(&setup.config, &["issue", "other"], &env);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    let expected = format!(
        "{provider} adding TXT _acme-challenge.other.example.test. at {}",
        api.url(base)
    );
    assert!(err.contains(&expected), "wanted {expected:?} in:\n{err}");
    assert!(err.contains(refused), "wanted {refused:?} in:\n{err}");
    for mark in secret_marks(wrong) {
        assert!(!err.contains(&mark), "secret leaked ({mark}): {err}");
    }
    assert!(records.lock().expect("lock").by_id.is_empty());
    assert!(!setup.current("other").exists());
}

fn answer(status: u16, body: Value) -> Answer {
    (status, "application/json", body.to_string())
}

#[test]
fn cloudflare_issues_a_wildcard_through_the_documented_api() {
    let pebble = Pebble::start(PebbleOptions::default());
    let records = Records::new(&pebble);
    let state = Arc::clone(&records);
    const ZONE_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    let api = CloudApi::start(move |req: &ApiRequest| {
        let fail = |status, code, message: &str| {
            answer(
                status,
                json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null}),
            )
        };
        if req.header("authorization") != "Bearer cf-token-0123456789" {
            return fail(403, 9109, "Invalid access token");
        }
        let ok = |result: Value| {
            answer(
                200,
                json!({"success": true, "errors": [], "messages": [], "result": result}),
            )
        };
        let records_path = format!("/client/v4/zones/{ZONE_ID}/dns_records");
        let mut state = state.lock().expect("lock");
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/client/v4/zones") => match req.param("name").as_deref() {
                Some(ZONE) => ok(json!([{"id": ZONE_ID, "name": ZONE, "status": "active"}])),
                _ => ok(json!([])),
            },
            ("POST", p) if p == records_path => {
                let body = req.json();
                let ttl = body["ttl"].as_u64().unwrap_or(0);
                if req.header("content-type") != "application/json"
                    || body["type"] != "TXT"
                    || !body["name"]
                        .as_str()
                        .is_some_and(|n| n.ends_with(ZONE) && !n.ends_with('.'))
                    || body["content"].as_str().is_none_or(str::is_empty)
                    || !(ttl == 1 || (60..=86400).contains(&ttl))
                {
                    return fail(400, 9005, &format!("invalid record {body}"));
                }
                let name = body["name"].as_str().unwrap_or_default();
                let content = body["content"].as_str().unwrap_or_default();
                let id = state.add(name, content);
                ok(
                    json!({"id": format!("{id:032x}"), "type": "TXT", "name": name, "content": content, "ttl": ttl, "proxied": false}),
                )
            }
            ("GET", p) if p == records_path => {
                let name = req.param("name").unwrap_or_default();
                let list: Vec<Value> = state
                    .at(&name)
                    .into_iter()
                    .map(|(id, v)| json!({"id": format!("{id:032x}"), "type": "TXT", "name": name, "content": v}))
                    .collect();
                ok(Value::Array(list))
            }
            ("DELETE", p) if p.starts_with(&format!("{records_path}/")) => {
                let id = u64::from_str_radix(p.rsplit('/').next().unwrap_or(""), 16).unwrap_or(0);
                if state.remove(id) {
                    ok(json!({"id": format!("{id:032x}")}))
                } else {
                    fail(404, 81044, "Record does not exist.")
                }
            }
            _ => fail(404, 7003, "Could not route to the requested path"),
        }
    });
    issue_and_refuse(
        "cloudflare",
        &api,
        "/client/v4",
        &pebble,
        &records,
        (None, "cf-token-0123456789"),
        "HTTP 403: the API token was refused (it needs Zone:Read and DNS:Edit): Invalid access token (code 9109)",
    );
    let requests = api.requests();
    assert!(
        requests.iter().any(|r| r.method == "DELETE"),
        "{requests:#?}"
    );
    assert_eq!(requests.iter().filter(|r| r.method == "POST").count(), 2);
}

/// Route 53's XML error answer.
fn aws_error(status: u16, code: &str, message: &str) -> Answer {
    (
        status,
        "text/xml",
        format!(
            "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>a1b2</RequestId></ErrorResponse>"
        ),
    )
}

/// Checks a SigV4 `authorization` header by recomputing it over the headers it names.
fn aws_signature_ok(req: &ApiRequest, key_id: &str, secret: &str) -> Result<(), Answer> {
    let auth = req.header("authorization");
    let credential = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .unwrap_or("");
    if credential.split('/').next() != Some(key_id) {
        return Err(aws_error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ));
    }
    let date = req.header("x-amz-date");
    let signed = req.signed_headers();
    if !signed.contains(&"host")
        || !signed.contains(&"x-amz-date")
        || !credential.ends_with("/us-east-1/route53/aws4_request")
    {
        return Err(aws_error(
            403,
            "IncompleteSignature",
            "host and x-amz-date must be signed for route53 in us-east-1",
        ));
    }
    let at = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(0);
    if (chrono::Utc::now().timestamp() - at).abs() > 300 {
        return Err(aws_error(403, "SignatureDoesNotMatch", "Signature expired"));
    }
    let query = req.query_pairs();
    let expected = sigv4(
        &Unsigned {
            method: &req.method,
            path: &req.path,
            query: &query,
            headers: &req.header_pairs(&signed),
            payload: &req.body,
        },
        key_id,
        secret.as_bytes(),
        "us-east-1",
        "route53",
        date,
    );
    if expected != auth {
        return Err(aws_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(())
}

/// The text of every `<tag>` in `xml`, in order (the request bodies are small and flat).
fn tags(xml: &str, tag: &str) -> Vec<String> {
    xml.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|s| s.split(&format!("</{tag}>")).next())
        .map(|s| s.replace("&quot;", "\""))
        .collect()
}

#[test]
fn route53_issues_a_wildcard_through_the_documented_api() {
    let pebble = Pebble::start(PebbleOptions::default());
    let records = Records::new(&pebble);
    let state = Arc::clone(&records);
    let ttls: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let xml = |body: String| -> Answer {
        (
            200,
            "text/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
        )
    };
    let api = CloudApi::start(move |req: &ApiRequest| {
        if let Err(refused) = aws_signature_ok(req, KEY_ID, SECRET) {
            return refused;
        }
        let ns = "xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"";
        let zone = |id: &str, private: bool| {
            format!(
                "<HostedZone><Id>/hostedzone/{id}</Id><Name>{ZONE}.</Name><CallerReference>r</CallerReference><Config><PrivateZone>{private}</PrivateZone></Config><ResourceRecordSetCount>4</ResourceRecordSetCount></HostedZone>"
            )
        };
        let mut state = state.lock().expect("lock");
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/2013-04-01/hostedzonesbyname") => {
                // Zones are listed in order from `dnsname`: a private and a public zone of the
                // same name, or whatever follows a name that is not a zone.
                let asked = req.param("dnsname").unwrap_or_default();
                let zones = if asked == ZONE {
                    format!(
                        "{}{}",
                        zone("ZPRIVATE0000001", true),
                        zone("Z1D633PJN98FT9", false)
                    )
                } else {
                    "<HostedZone><Id>/hostedzone/ZOTHER</Id><Name>zzz.test.</Name><CallerReference>r</CallerReference><Config><PrivateZone>false</PrivateZone></Config></HostedZone>".to_string()
                };
                xml(format!(
                    "<ListHostedZonesByNameResponse {ns}><HostedZones>{zones}</HostedZones><DNSName>{asked}</DNSName><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems></ListHostedZonesByNameResponse>"
                ))
            }
            ("GET", "/2013-04-01/hostedzone/Z1D633PJN98FT9/rrset") => {
                let name = req.param("name").unwrap_or_default();
                let found = state.at(&name);
                let set = if found.is_empty() || req.param("type").as_deref() != Some("TXT") {
                    // The next set in the zone, as the API answers for a name with none.
                    format!(
                        "<ResourceRecordSet><Name>www.{ZONE}.</Name><Type>A</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>"
                    )
                } else {
                    let ttl = ttls
                        .lock()
                        .expect("lock")
                        .get(&name.trim_end_matches('.').to_ascii_lowercase())
                        .copied()
                        .unwrap_or(300);
                    let values: String = found
                        .iter()
                        .map(|(_, v)| {
                            format!("<ResourceRecord><Value>\"{v}\"</Value></ResourceRecord>")
                        })
                        .collect();
                    format!(
                        "<ResourceRecordSet><Name>{name}</Name><Type>TXT</Type><TTL>{ttl}</TTL><ResourceRecords>{values}</ResourceRecords></ResourceRecordSet>"
                    )
                };
                xml(format!(
                    "<ListResourceRecordSetsResponse {ns}><ResourceRecordSets>{set}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>"
                ))
            }
            ("POST", "/2013-04-01/hostedzone/Z1D633PJN98FT9/rrset") => {
                let body = String::from_utf8_lossy(&req.body).into_owned();
                let (action, name, kind, ttl) = (
                    tags(&body, "Action"),
                    tags(&body, "Name"),
                    tags(&body, "Type"),
                    tags(&body, "TTL"),
                );
                let values = tags(&body, "Value");
                if !body.contains("<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">")
                    || action.len() != 1 || name.len() != 1 || kind != ["TXT"] || ttl.len() != 1
                    || values.is_empty() || !values.iter().all(|v| v.starts_with('"') && v.ends_with('"'))
                {
                    return aws_error(400, "InvalidInput", &format!("malformed change batch: {body}"));
                }
                let name = name[0].trim_end_matches('.').to_ascii_lowercase();
                let current: Vec<String> = state
                    .at(&name)
                    .into_iter()
                    .map(|(_, v)| format!("\"{v}\""))
                    .collect();
                let ttl: u32 = ttl[0].parse().unwrap_or(0);
                match action[0].as_str() {
                    "UPSERT" => {}
                    "DELETE"
                        if current == values
                            && ttls.lock().expect("lock").get(&name) == Some(&ttl) => {}
                    "DELETE" => {
                        return aws_error(
                            400,
                            "InvalidChangeBatch",
                            "Tried to delete resource record set but the values provided do not match the current values",
                        );
                    }
                    _ => return aws_error(400, "InvalidInput", "unknown action"),
                }
                for (id, _) in state.at(&name) {
                    state.remove(id);
                }
                if action[0] == "UPSERT" {
                    for v in &values {
                        state.add(&name, v.trim_matches('"'));
                    }
                    ttls.lock().expect("lock").insert(name, ttl);
                }
                xml(format!(
                    "<ChangeResourceRecordSetsResponse {ns}><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>PENDING</Status><SubmittedAt>2026-12-04T00:00:00.000Z</SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"
                ))
            }
            ("GET", "/2013-04-01/change/C2682N5HXP0BZ4") => xml(format!(
                "<GetChangeResponse {ns}><ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>INSYNC</Status><SubmittedAt>2026-12-04T00:00:00.000Z</SubmittedAt></ChangeInfo></GetChangeResponse>"
            )),
            _ => aws_error(404, "NoSuchHostedZone", "No hosted zone found"),
        }
    });
    issue_and_refuse(
        "route53",
        &api,
        "",
        &pebble,
        &records,
        (Some(KEY_ID), SECRET),
        "HTTP 403: the credentials were refused (check dns_api_key_id and the secret access key): SignatureDoesNotMatch",
    );
    let requests = api.requests();
    // One set holds both values of the wildcard order; the emptied set was DELETEd exactly.
    let bodies: Vec<String> = requests
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("<Action>UPSERT</Action>") && tags(b, "Value").len() == 2),
        "{bodies:#?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("<Action>DELETE</Action>")),
        "{bodies:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/2013-04-01/change/"))
    );
    assert!(
        !requests.iter().any(|r| r.path.contains("ZPRIVATE")),
        "the private zone was used"
    );
}

fn tencent_error(code: &str, message: &str) -> Answer {
    answer(
        200,
        json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "6ef60bec-0242-43af-bb20-270359fb54a7"}}),
    )
}

#[test]
fn dnspod_issues_a_wildcard_through_the_documented_api() {
    let pebble = Pebble::start(PebbleOptions::default());
    let records = Records::new(&pebble);
    let state = Arc::clone(&records);
    const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
    const SECRET_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    let api = CloudApi::start(move |req: &ApiRequest| {
        let auth = req.header("authorization").to_string();
        let signed = req.signed_headers();
        let timestamp: i64 = req.header("x-tc-timestamp").parse().unwrap_or(0);
        if req.method != "POST"
            || req.path != "/"
            || req.header("content-type") != "application/json; charset=utf-8"
            || req.header("x-tc-version") != "2021-03-23"
        {
            return tencent_error(
                "InvalidParameter",
                "POST / with JSON and X-TC-Version 2021-03-23",
            );
        }
        if !auth.starts_with(&format!("TC3-HMAC-SHA256 Credential={SECRET_ID}/")) {
            return tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found.");
        }
        if !signed.contains(&"content-type")
            || !signed.contains(&"host")
            || (chrono::Utc::now().timestamp() - timestamp).abs() > 300
        {
            return tencent_error(
                "AuthFailure.SignatureExpire",
                "Signature expired or incomplete.",
            );
        }
        // Tencent lower-cases the signed header values.
        let headers: Vec<(String, String)> = req
            .header_pairs(&signed)
            .into_iter()
            .map(|(k, v)| (k, v.to_ascii_lowercase()))
            .collect();
        let expected = tc3(
            &Unsigned {
                method: "POST",
                path: "/",
                query: &[],
                headers: &headers,
                payload: &req.body,
            },
            SECRET_ID,
            SECRET_KEY.as_bytes(),
            "dnspod",
            timestamp,
        );
        if expected != auth {
            return tencent_error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            );
        }
        let ok = |mut body: Value| {
            body["RequestId"] = json!("ab4f1426-ea15-4192-a8b7-a2d4b2e9a7e3");
            answer(200, json!({"Response": body}))
        };
        let params = req.json();
        let mut state = state.lock().expect("lock");
        match req.header("x-tc-action") {
            "DescribeDomainList" => ok(
                json!({"DomainCountInfo": {"AllTotal": 2}, "DomainList": [{"DomainId": 62, "Name": "test"}, {"DomainId": 63, "Name": ZONE}]}),
            ),
            "CreateRecord" => {
                let ttl = params["TTL"].as_u64().unwrap_or(600);
                if params["Domain"] != ZONE
                    || params["RecordType"] != "TXT"
                    || params["RecordLine"] != "默认"
                    || !(600..=604800).contains(&ttl)
                {
                    return tencent_error("InvalidParameter", &format!("bad record {params}"));
                }
                let sub = params["SubDomain"].as_str().unwrap_or("@");
                let id = state.add(
                    &format!("{sub}.{ZONE}"),
                    params["Value"].as_str().unwrap_or(""),
                );
                ok(json!({"RecordId": id}))
            }
            "DescribeRecordList" => {
                let sub = params["Subdomain"].as_str().unwrap_or("");
                let list: Vec<Value> = state.at(&format!("{sub}.{ZONE}")).into_iter().map(|(id, v)| json!({"RecordId": id, "Name": sub, "Type": "TXT", "Value": v, "Line": "默认"})).collect();
                if list.is_empty() {
                    return tencent_error("ResourceNotFound.NoDataOfRecord", "记录列表为空。");
                }
                ok(json!({"RecordCountInfo": {"TotalCount": list.len()}, "RecordList": list}))
            }
            "DeleteRecord" => match params["Domain"] == ZONE
                && state.remove(params["RecordId"].as_u64().unwrap_or(0))
            {
                true => ok(json!({})),
                false => tencent_error("InvalidParameter.RecordIdInvalid", "记录编号错误。"),
            },
            other => tencent_error("InvalidAction", &format!("{other} is not an action")),
        }
    });
    issue_and_refuse(
        "dnspod",
        &api,
        "",
        &pebble,
        &records,
        (Some(SECRET_ID), SECRET_KEY),
        "DescribeDomainList: AuthFailure.SignatureFailure: The provided credentials could not be validated. Please check your signature is correct. (check dns_api_key_id and the SecretKey)",
    );
    let actions: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.header("x-tc-action").to_string())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "CreateRecord").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "DeleteRecord").count(),
        2,
        "{actions:?}"
    );
}

fn alibaba_error(status: u16, code: &str, message: &str) -> Answer {
    answer(
        status,
        json!({"RequestId": "536E9CAD-DB30-4647-AC87-AA5CC38C5382", "HostId": "alidns.aliyuncs.com", "Code": code, "Message": message}),
    )
}

#[test]
fn alidns_issues_a_wildcard_through_the_documented_api() {
    let pebble = Pebble::start(PebbleOptions::default());
    let records = Records::new(&pebble);
    let state = Arc::clone(&records);
    let nonces: Arc<Mutex<HashSet<String>>> = Arc::default();
    const KEY_ID: &str = "LTAI5tExampleKeyId01";
    const SECRET: &str = "ExampleSecretValue0123456789ab";
    let api = CloudApi::start(move |req: &ApiRequest| {
        let auth = req.header("authorization").to_string();
        if req.method != "POST"
            || req.path != "/"
            || req.header("x-acs-version") != "2015-01-09"
            || req.header("x-acs-content-sha256") != sha256_hex(&req.body)
        {
            return alibaba_error(
                400,
                "MissingParameter",
                "POST / with x-acs-version 2015-01-09 and the body's hash",
            );
        }
        if !auth.starts_with(&format!("ACS3-HMAC-SHA256 Credential={KEY_ID},")) {
            return alibaba_error(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            );
        }
        if !nonces
            .lock()
            .expect("lock")
            .insert(req.header("x-acs-signature-nonce").to_string())
        {
            return alibaba_error(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            );
        }
        let signed = req.signed_headers();
        for needed in [
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-version",
        ] {
            if !signed.contains(&needed) {
                return alibaba_error(
                    400,
                    "IncompleteSignature",
                    &format!("{needed} is not signed"),
                );
            }
        }
        let query = req.query_pairs();
        let expected = acs3(
            &Unsigned {
                method: "POST",
                path: "/",
                query: &query,
                headers: &req.header_pairs(&signed),
                payload: &req.body,
            },
            KEY_ID,
            SECRET.as_bytes(),
        );
        if expected != auth {
            return alibaba_error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            );
        }
        let param = |name: &str| req.param(name).unwrap_or_default();
        let ok = |mut body: Value| {
            body["RequestId"] = json!("536E9CAD-DB30-4647-AC87-AA5CC38C5382");
            answer(200, body)
        };
        let mut state = state.lock().expect("lock");
        match req.header("x-acs-action") {
            "DescribeDomains" => ok(
                json!({"TotalCount": 2, "PageNumber": 1, "PageSize": 100, "Domains": {"Domain": [{"DomainName": "test", "DomainId": "00"}, {"DomainName": ZONE, "DomainId": "01"}]}}),
            ),
            "AddDomainRecord" => {
                let ttl: u64 = param("TTL").parse().unwrap_or(600);
                if param("DomainName") != ZONE
                    || param("Type") != "TXT"
                    || param("RR").is_empty()
                    || !(600..=86400).contains(&ttl)
                {
                    return alibaba_error(
                        400,
                        "InvalidParameter",
                        &format!("bad record {}", req.query),
                    );
                }
                let id = state.add(&format!("{}.{ZONE}", param("RR")), &param("Value"));
                ok(json!({"RecordId": id.to_string()}))
            }
            "DescribeDomainRecords" => {
                let rr = param("RRKeyWord");
                let list: Vec<Value> = state.at(&format!("{rr}.{ZONE}")).into_iter().map(|(id, v)| json!({"RecordId": id.to_string(), "RR": rr, "Type": "TXT", "Value": v, "DomainName": ZONE})).collect();
                ok(json!({"TotalCount": list.len(), "DomainRecords": {"Record": list}}))
            }
            "DeleteDomainRecord" => match state.remove(param("RecordId").parse().unwrap_or(0)) {
                true => ok(json!({"RecordId": param("RecordId")})),
                false => alibaba_error(
                    400,
                    "DomainRecordNotBelongToUser",
                    "The DNS record does not exist.",
                ),
            },
            other => alibaba_error(
                404,
                "InvalidAction.NotFound",
                &format!("{other} cannot be found"),
            ),
        }
    });
    issue_and_refuse(
        "alidns",
        &api,
        "",
        &pebble,
        &records,
        (Some(KEY_ID), SECRET),
        "DescribeDomains: HTTP 400: SignatureDoesNotMatch: Specified signature is not matched with our calculation. (check dns_api_key_id and the AccessKey secret)",
    );
    let actions: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.header("x-acs-action").to_string())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "AddDomainRecord").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "DeleteDomainRecord")
            .count(),
        2,
        "{actions:?}"
    );
}

/// An API that answers garbage (an HTML error page from a proxy) is a clear error for every
/// provider, naming the provider, the record and the endpoint; nothing is issued.
#[test]
fn a_garbage_answer_is_a_clear_error_for_every_provider() {
    let pebble = Pebble::start(PebbleOptions::default());
    let api = CloudApi::start(|_: &ApiRequest| {
        (
            502,
            "text/html",
            "<html><body>Bad Gateway</body></html>".to_string(),
        )
    });
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cr3t-value\n").expect("secret");
    for (provider, id) in [
        ("cloudflare", ""),
        ("route53", "dns_api_key_id = \"AKIA\"\n"),
        ("dnspod", "dns_api_key_id = \"AKID\"\n"),
        ("alidns", "dns_api_key_id = \"LTAI\"\n"),
        ("huaweidns", "dns_api_key_id = \"AK\"\n"),
        ("gcloud", ""),
    ] {
        let secret = if provider == "gcloud" {
            // Its token endpoint is the same garbage-answering server.
            let (key, _) = google_key(dir.path(), "junk", &api.url("/token"));
            let path = dir.path().join("junk.json");
            std::fs::write(&path, key).expect("key");
            path
        } else {
            secret.clone()
        };
        let credentials = format!("{id}dns_api_key_file = \"{}\"\n", secret.display());
        let setup = Setup::new(
            &pebble,
            "",
            &certificate("junk", provider, &api, "", &credentials),
        );
        let env = [("SSL_CERT_FILE", api.ca_file())];
        let env: Vec<(&str, &std::path::Path)> =
            env.iter().map(|(k, v)| (*k, v.as_path())).collect();
        let out = certctl_config_env(&setup.config, &["issue", "junk"], &env);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains(&format!(
                "{provider} adding TXT _acme-challenge.junk.example.test. at {}",
                api.url("")
            )) && err.contains("502")
                && err.contains("Bad Gateway"),
            "{provider}: {err}"
        );
        assert!(!err.contains("s3cr3t-value"), "{err}");
        assert!(!setup.current("junk").exists());
    }
}

fn huawei_error(status: u16, code: &str, message: &str) -> Answer {
    answer(
        status,
        json!({"error_code": code, "error_msg": message, "request_id": "b7e4d1a0"}),
    )
}

#[test]
fn huaweidns_issues_a_wildcard_through_the_documented_api() {
    let pebble = Pebble::start(PebbleOptions::default());
    let records = Records::new(&pebble);
    let state = Arc::clone(&records);
    let sets: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    const AK: &str = "QTWAOYTTINDUT2QVKYUC";
    const SK: &str = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc";
    const ZONE_ID: &str = "ff8080825b8fc86c015b94bc6f8712c3";
    let api = CloudApi::start(move |req: &ApiRequest| {
        let auth = req.header("authorization").to_string();
        if !auth.starts_with(&format!("SDK-HMAC-SHA256 Access={AK}, ")) {
            return huawei_error(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: ak not found",
            );
        }
        let signed = req.signed_headers();
        let date = req.header("x-sdk-date");
        let at = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0);
        if !signed.contains(&"host")
            || !signed.contains(&"x-sdk-date")
            || (chrono::Utc::now().timestamp() - at).abs() > 900
        {
            return huawei_error(
                401,
                "APIGW.0303",
                "Incorrect app authentication information: signature expired or incomplete",
            );
        }
        let query = req.query_pairs();
        let expected = sdk_hmac_sha256(
            &Unsigned {
                method: &req.method,
                path: &req.path,
                query: &query,
                headers: &req.header_pairs(&signed),
                payload: &req.body,
            },
            AK,
            SK.as_bytes(),
            date,
        );
        if expected != auth {
            return huawei_error(
                401,
                "APIGW.0301",
                "Incorrect IAM authentication information: verify aksk signature fail",
            );
        }
        let sets_path = format!("/v2/zones/{ZONE_ID}/recordsets");
        let mut state = state.lock().expect("lock");
        let mut sets = sets.lock().expect("lock");
        let set_json = |id: &str, name: &str, values: &[String]| json!({"id": id, "name": format!("{name}."), "type": "TXT", "ttl": 300, "zone_id": ZONE_ID, "records": values, "status": "ACTIVE"});
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v2/zones") => {
                // `name` matches fuzzily, as Huawei documents.
                let asked = req.param("name").unwrap_or_default();
                let zones = if req.param("type").as_deref() == Some("public")
                    && format!("{ZONE}.").contains(&asked)
                {
                    json!([{"id": ZONE_ID, "name": format!("{ZONE}."), "zone_type": "public", "status": "ACTIVE"}])
                } else {
                    json!([])
                };
                answer(
                    200,
                    json!({"zones": zones, "metadata": {"total_count": zones.as_array().map_or(0, Vec::len)}}),
                )
            }
            ("GET", p) if p == sets_path => {
                let name = req
                    .param("name")
                    .unwrap_or_default()
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                let list: Vec<Value> = sets
                    .iter()
                    .filter(|(n, _)| n.contains(&name))
                    .map(|(n, id)| {
                        let values: Vec<String> = state
                            .at(n)
                            .into_iter()
                            .map(|(_, v)| format!("\"{v}\""))
                            .collect();
                        set_json(id, n, &values)
                    })
                    .collect();
                answer(
                    200,
                    json!({"recordsets": list, "metadata": {"total_count": list.len()}}),
                )
            }
            (method @ ("POST" | "PUT"), p)
                if p == sets_path || p.starts_with(&format!("{sets_path}/")) =>
            {
                let body = req.json();
                let values: Vec<String> = body["records"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect();
                let name = body["name"]
                    .as_str()
                    .unwrap_or("")
                    .trim_end_matches('.')
                    .to_ascii_lowercase();
                if body["type"] != "TXT"
                    || values.is_empty()
                    || !values
                        .iter()
                        .all(|v| v.starts_with('"') && v.ends_with('"'))
                    || !name.ends_with(ZONE)
                {
                    return huawei_error(400, "DNS.0303", &format!("invalid record set {body}"));
                }
                let id = if method == "POST" {
                    if sets.contains_key(&name) {
                        return huawei_error(400, "DNS.0312", "The record set already exists.");
                    }
                    format!("rs{:030x}", state.next)
                } else {
                    let id = p.rsplit('/').next().unwrap_or("").to_string();
                    if sets.get(&name) != Some(&id) {
                        return huawei_error(404, "DNS.0304", "The record set does not exist.");
                    }
                    id
                };
                for (rid, _) in state.at(&name) {
                    state.remove(rid);
                }
                for v in &values {
                    state.add(&name, v.trim_matches('"'));
                }
                sets.insert(name.clone(), id.clone());
                let mut set = set_json(&id, &name, &values);
                set["status"] = json!(if method == "POST" {
                    "PENDING_CREATE"
                } else {
                    "PENDING_UPDATE"
                });
                answer(202, set)
            }
            ("DELETE", p) if p.starts_with(&format!("{sets_path}/")) => {
                let id = p.rsplit('/').next().unwrap_or("");
                let Some(name) = sets.iter().find(|(_, i)| *i == id).map(|(n, _)| n.clone()) else {
                    return huawei_error(404, "DNS.0304", "The record set does not exist.");
                };
                sets.remove(&name);
                for (rid, _) in state.at(&name) {
                    state.remove(rid);
                }
                answer(202, json!({"id": id, "status": "PENDING_DELETE"}))
            }
            _ => huawei_error(
                404,
                "APIGW.0101",
                "The API does not exist or has not been published in the environment",
            ),
        }
    });
    issue_and_refuse(
        "huaweidns",
        &api,
        "",
        &pebble,
        &records,
        (Some(AK), SK),
        "HTTP 401: APIGW.0301: Incorrect IAM authentication information: verify aksk signature fail (check dns_api_key_id and the secret access key)",
    );
    let methods: Vec<String> = api.requests().iter().map(|r| r.method.clone()).collect();
    // Created, updated with the second value, updated without the first, deleted.
    for m in ["POST", "PUT", "DELETE"] {
        assert!(methods.iter().any(|x| x == m), "{methods:?}");
    }
}

/// Google's JSON error answer.
fn google_error(status: u16, reason: &str, message: &str) -> Answer {
    answer(
        status,
        json!({"error": {"code": status, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}]}}),
    )
}

/// A service account key file, as `gcloud iam service-accounts keys create` writes it, for a
/// fresh RSA key (made by openssl) whose public half is returned as PEM.
fn google_key(dir: &std::path::Path, name: &str, token_uri: &str) -> (String, std::path::PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ],
        vec![
            "pkey",
            "-pubout",
            "-in",
            key.to_str().expect("utf-8"),
            "-out",
        ],
    ] {
        let target = if args[0] == "genpkey" { &key } else { &public };
        let out = std::process::Command::new("openssl")
            .args(&args)
            .arg(target)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json = json!({
        "type": "service_account",
        "project_id": "certctl-test",
        "private_key_id": "5e0a5b2c1f8d4e7a9b3c6d0e1f2a3b4c5d6e7f80",
        "private_key": std::fs::read_to_string(&key).expect("key"),
        "client_email": "certctl-dns@certctl-test.iam.gserviceaccount.com",
        "client_id": "104236548901234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    });
    (serde_json::to_string_pretty(&json).expect("json"), public)
}

/// Checks a service-account JWT as Google's token endpoint does: RS256 over `header.claims`
/// (verified by openssl with the account's public key), the account as issuer, the token
/// endpoint as audience, the Cloud DNS scope, at most an hour's lifetime, issued just now.
fn google_jwt_ok(assertion: &str, public: &std::path::Path, token_uri: &str) -> Result<(), String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err("Invalid JWT: not three parts".into());
    };
    let decode = |part: &str| -> Result<Value, String> {
        let bytes = b64.decode(part).map_err(|e| format!("Invalid JWT: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("Invalid JWT: {e}"))
    };
    let (header_json, claims_json) = (decode(header)?, decode(claims)?);
    if header_json["alg"] != "RS256"
        || header_json["kid"] != "5e0a5b2c1f8d4e7a9b3c6d0e1f2a3b4c5d6e7f80"
    {
        return Err(format!("Invalid JWT header {header_json}"));
    }
    let now = chrono::Utc::now().timestamp();
    let iat = claims_json["iat"].as_i64().unwrap_or(0);
    let exp = claims_json["exp"].as_i64().unwrap_or(0);
    if claims_json["iss"] != "certctl-dns@certctl-test.iam.gserviceaccount.com"
        || claims_json["aud"] != token_uri
        || claims_json["scope"] != "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
        || (now - iat).abs() > 300
        || exp <= iat
        || exp - iat > 3600
    {
        return Err(format!("Invalid JWT claims {claims_json}"));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (input, sig) = (dir.path().join("input"), dir.path().join("sig"));
    std::fs::write(&input, format!("{header}.{claims}")).map_err(|e| e.to_string())?;
    std::fs::write(&sig, b64.decode(signature).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let verified = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&sig)
        .arg(&input)
        .output()
        .map_err(|e| e.to_string())?;
    match verified.status.success() {
        true => Ok(()),
        false => Err("Invalid JWT Signature.".into()),
    }
}

#[test]
fn gcloud_issues_a_wildcard_through_the_documented_api() {
    let pebble = Pebble::start(PebbleOptions::default());
    let records = Records::new(&pebble);
    let state = Arc::clone(&records);
    let dir = tempfile::tempdir().expect("dir");
    let token_uri: Arc<Mutex<String>> = Arc::default();
    let public: Arc<Mutex<std::path::PathBuf>> = Arc::default();
    // Record sets by name: (ttl, rrdatas); changes by id: polled once as pending, then done.
    type RecordSet = (u64, Vec<String>);
    let sets: Arc<Mutex<BTreeMap<String, RecordSet>>> = Arc::default();
    let changes: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let tokens: Arc<Mutex<HashSet<String>>> = Arc::default();
    const PROJECT: &str = "/dns/v1/projects/certctl-test";
    let (uri, key_path) = (Arc::clone(&token_uri), Arc::clone(&public));
    let polled = Arc::clone(&changes);
    let api = CloudApi::start(move |req: &ApiRequest| {
        if req.path == "/token" {
            let form: BTreeMap<String, String> = String::from_utf8_lossy(&req.body)
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), super::common::cloud_api::decoded(v)))
                .collect();
            if req.method != "POST"
                || req.header("content-type") != "application/x-www-form-urlencoded"
                || form.get("grant_type").map(String::as_str)
                    != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            {
                return answer(
                    400,
                    json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}),
                );
            }
            let uri = uri.lock().expect("lock").clone();
            let public = key_path.lock().expect("lock").clone();
            return match google_jwt_ok(
                form.get("assertion").map_or("", String::as_str),
                &public,
                &uri,
            ) {
                Ok(()) => {
                    let mut tokens = tokens.lock().expect("lock");
                    let token = format!("ya29.c.b0Aa{:08}", tokens.len() + 1);
                    tokens.insert(token.clone());
                    answer(
                        200,
                        json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
                    )
                }
                Err(why) => answer(
                    400,
                    json!({"error": "invalid_grant", "error_description": why}),
                ),
            };
        }
        let bearer = req
            .header("authorization")
            .strip_prefix("Bearer ")
            .unwrap_or("");
        if !tokens.lock().expect("lock").contains(bearer) {
            return google_error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            );
        }
        let zone_path = format!("{PROJECT}/managedZones/example-test");
        let mut state = state.lock().expect("lock");
        let mut sets = sets.lock().expect("lock");
        let mut changes = polled.lock().expect("lock");
        let set_json = |name: &str, (ttl, rrdatas): &RecordSet| json!({"kind": "dns#resourceRecordSet", "name": format!("{name}."), "type": "TXT", "ttl": ttl, "rrdatas": rrdatas});
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", p) if p == format!("{PROJECT}/managedZones") => {
                let zones = match req.param("dnsName").as_deref() {
                    // A private zone of the same name comes first: it must be passed over.
                    Some("example.test.") => json!([
                        {"kind": "dns#managedZone", "name": "example-test-internal", "dnsName": "example.test.", "visibility": "private", "id": "7034212436851939013"},
                        {"kind": "dns#managedZone", "name": "example-test", "dnsName": "example.test.", "visibility": "public", "id": "7034212436851939012"},
                    ]),
                    _ => json!([]),
                };
                answer(
                    200,
                    json!({"kind": "dns#managedZonesListResponse", "managedZones": zones}),
                )
            }
            ("GET", p) if p == format!("{zone_path}/rrsets") => {
                let name = req.param("name").unwrap_or_default();
                if req.param("type").as_deref() != Some("TXT") || !name.ends_with('.') {
                    return google_error(
                        400,
                        "invalid",
                        &format!("Invalid value for 'name': '{name}'"),
                    );
                }
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let list: Vec<Value> = sets
                    .get(&name)
                    .map(|s| set_json(&name, s))
                    .into_iter()
                    .collect();
                answer(
                    200,
                    json!({"kind": "dns#resourceRecordSetsListResponse", "rrsets": list}),
                )
            }
            ("POST", p) if p == format!("{zone_path}/changes") => {
                let body = req.json();
                let list = |key: &str| body[key].as_array().cloned().unwrap_or_default();
                let (deletions, additions) = (list("deletions"), list("additions"));
                if deletions.is_empty() && additions.is_empty() {
                    return google_error(
                        400,
                        "required",
                        "The 'entity.change' parameter is required but was missing.",
                    );
                }
                for d in &deletions {
                    let name = d["name"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    match sets.get(&name) {
                        Some(set)
                            if set_json(&name, set)["rrdatas"] == d["rrdatas"]
                                && d["ttl"] == set.0
                                && d["type"] == "TXT" => {}
                        _ => {
                            return google_error(
                                412,
                                "conditionNotMet",
                                &format!(
                                    "Precondition not met for 'entity.change.deletions[{name}.][TXT]'"
                                ),
                            );
                        }
                    }
                }
                for a in &additions {
                    let name = a["name"].as_str().unwrap_or("");
                    let rrdatas: Vec<String> = a["rrdatas"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect();
                    let key = name.trim_end_matches('.').to_ascii_lowercase();
                    if a["type"] != "TXT"
                        || !name.ends_with(&format!("{ZONE}."))
                        || rrdatas.is_empty()
                        || !rrdatas
                            .iter()
                            .all(|v| v.len() > 2 && v.starts_with('"') && v.ends_with('"'))
                        || a["ttl"].as_u64().is_none()
                    {
                        return google_error(
                            400,
                            "invalid",
                            &format!("Invalid value for 'entity.change.additions[{name}][TXT]'"),
                        );
                    }
                    let deleted = deletions.iter().any(|d| {
                        d["name"]
                            .as_str()
                            .is_some_and(|n| n.trim_end_matches('.').eq_ignore_ascii_case(&key))
                    });
                    if sets.contains_key(&key) && !deleted {
                        return google_error(
                            409,
                            "alreadyExists",
                            &format!(
                                "The resource 'entity.change.additions[{name}][TXT]' named '{name} (TXT)' already exists"
                            ),
                        );
                    }
                }
                for d in &deletions {
                    let name = d["name"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    sets.remove(&name);
                    for (rid, _) in state.at(&name) {
                        state.remove(rid);
                    }
                }
                for a in &additions {
                    let name = a["name"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    let rrdatas: Vec<String> = a["rrdatas"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect();
                    for v in &rrdatas {
                        state.add(&name, v.trim_matches('"'));
                    }
                    sets.insert(name, (a["ttl"].as_u64().unwrap_or(0), rrdatas));
                }
                let id = (changes.len() + 1).to_string();
                changes.insert(id.clone(), 0);
                answer(
                    200,
                    json!({"kind": "dns#change", "id": id, "status": "pending", "additions": additions, "deletions": deletions, "startTime": chrono::Utc::now().to_rfc3339()}),
                )
            }
            ("GET", p) if p.starts_with(&format!("{zone_path}/changes/")) => {
                let id = p.rsplit('/').next().unwrap_or("");
                match changes.get_mut(id) {
                    Some(polls) => {
                        *polls += 1;
                        answer(
                            200,
                            json!({"kind": "dns#change", "id": id, "status": "done"}),
                        )
                    }
                    None => google_error(
                        404,
                        "notFound",
                        &format!("The 'parameters.changeId' resource named '{id}' does not exist."),
                    ),
                }
            }
            _ => google_error(
                404,
                "notFound",
                "The requested URL was not found on this server.",
            ),
        }
    });
    let uri = api.url("/token");
    *token_uri.lock().expect("lock") = uri.clone();
    let (good, public_pem) = google_key(dir.path(), "account", &uri);
    *public.lock().expect("lock") = public_pem;
    // The same account with a key Google does not know (deleted, or another account's).
    let (wrong, _) = google_key(dir.path(), "stale", &uri);
    issue_and_refuse_with(
        "gcloud",
        &api,
        "/dns/v1",
        &pebble,
        &records,
        (None, &good, &wrong),
        &format!(
            "token request to {uri} for certctl-dns@certctl-test.iam.gserviceaccount.com refused, HTTP 400: invalid_grant: Invalid JWT Signature."
        ),
    );
    let requests = api.requests();
    // One token for the whole order; every change rewrote the set and was polled to done.
    assert_eq!(
        requests.iter().filter(|r| r.path == "/token").count(),
        2,
        "{requests:#?}"
    );
    let posted: Vec<Value> = requests
        .iter()
        .filter(|r| r.path.ends_with("/changes"))
        .map(ApiRequest::json)
        .collect();
    assert_eq!(posted.len(), 4, "{posted:#?}");
    assert!(
        posted[1]["deletions"][0]["rrdatas"]
            .as_array()
            .is_some_and(|d| d.len() == 1),
        "{posted:#?}"
    );
    assert!(
        posted[1]["additions"][0]["rrdatas"]
            .as_array()
            .is_some_and(|d| d.len() == 2),
        "{posted:#?}"
    );
    assert!(posted[3].get("additions").is_none(), "{posted:#?}");
    assert!(changes.lock().expect("lock").values().all(|p| *p >= 1));
}
