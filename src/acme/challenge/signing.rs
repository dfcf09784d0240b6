//! Request signing for the cloud DNS APIs: AWS Signature Version 4 (Route 53), Tencent Cloud's
//! TC3-HMAC-SHA256 (DNSPod), Alibaba Cloud's ACS3-HMAC-SHA256 (Alibaba Cloud DNS) and Huawei
//! Cloud's SDK-HMAC-SHA256 (Huawei Cloud DNS).
//!
//! All three sign the same canonical request (method, path, sorted query, sorted lower-case
//! headers, the payload's SHA-256) and differ only in the string to sign and in how the signing
//! key is derived, so the canonical form is built once here. Each scheme is checked against the
//! vendor's published example signatures (AWS's SigV4 test suite, Tencent's TC3 walkthrough,
//! Alibaba's V3 example); Huawei publishes none, so its scheme is checked by contract only.
//! Google's service-account flow signs a JWT with RS256 instead ([`jwt_rs256`]). Secrets only
//! ever enter an HMAC or the RSA signer; nothing here formats them.

use ring::{digest, hmac};

/// Lower-case hex SHA-256, as every scheme hashes payloads and canonical requests.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

fn hmac_sha256(key: &[u8], message: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message.as_bytes())
        .as_ref()
        .to_vec()
}

/// RFC 3986 percent-encoding of everything but the unreserved characters, upper-case hex, as
/// the three schemes' canonical forms require (a space is `%20`, never `+`).
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `host[:port]` of an http(s) URL, as the `host` header is sent (and signed).
pub fn authority(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("dns_api_url {url}: {e}"))?;
    uri.authority()
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| format!("dns_api_url {url} names no host"))
}

/// One request as the signer sees it. `path` is unencoded (each segment is encoded once);
/// `headers` must include `host` and every other header to be signed.
#[derive(Clone, Copy)]
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub payload: &'a [u8],
}

impl Unsigned<'_> {
    /// The encoded query string, sorted by key then value: the same text is signed and sent.
    pub fn query_string(&self) -> String {
        let mut pairs: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The canonical request and its `SignedHeaders` list.
    fn canonical(&self, payload_hash: &str) -> (String, String) {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let value = v.split_whitespace().collect::<Vec<_>>().join(" ");
                (k.to_ascii_lowercase(), value)
            })
            .collect();
        headers.sort();
        let signed = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let block: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{}\n{}\n{}\n{block}\n{signed}\n{payload_hash}",
            self.method,
            uri_encode(self.path, true),
            self.query_string(),
        );
        (canonical, signed)
    }
}

/// AWS Signature Version 4: the `Authorization` header for `request` at `amz_date`
/// (`YYYYMMDDTHHMMSSZ`, also sent as `x-amz-date`, which must be among the headers).
pub fn sigv4(
    request: &Unsigned<'_>,
    access_key_id: &str,
    secret: &[u8],
    region: &str,
    service: &str,
    amz_date: &str,
) -> String {
    let (canonical, signed) = request.canonical(&sha256_hex(request.payload));
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = b"AWS4".to_vec();
    key.extend_from_slice(secret);
    let key = [date, region, service, "aws4_request"]
        .iter()
        .fold(key, |key, part| hmac_sha256(&key, part));
    let signature = hex::encode(hmac_sha256(&key, &to_sign));
    format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
}

/// Tencent Cloud API 3.0's TC3-HMAC-SHA256: the `Authorization` header for `request` at
/// `timestamp` (Unix seconds, also sent as `X-TC-Timestamp`).
pub fn tc3(
    request: &Unsigned<'_>,
    secret_id: &str,
    secret_key: &[u8],
    service: &str,
    timestamp: i64,
) -> String {
    let (canonical, signed) = request.canonical(&sha256_hex(request.payload));
    let date = chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let scope = format!("{date}/{service}/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = b"TC3".to_vec();
    key.extend_from_slice(secret_key);
    let key = [date.as_str(), service, "tc3_request"]
        .iter()
        .fold(key, |key, part| hmac_sha256(&key, part));
    let signature = hex::encode(hmac_sha256(&key, &to_sign));
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
}

/// Alibaba Cloud's V3 signature, ACS3-HMAC-SHA256: the `Authorization` header. The headers
/// must include `x-acs-content-sha256` (the payload's hash, which this signs as given).
pub fn acs3(request: &Unsigned<'_>, access_key_id: &str, secret: &[u8]) -> String {
    let (canonical, signed) = request.canonical(&sha256_hex(request.payload));
    let to_sign = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(canonical.as_bytes()));
    let signature = hex::encode(hmac_sha256(secret, &to_sign));
    format!(
        "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={signed},Signature={signature}"
    )
}

/// Huawei Cloud's APIG signature, SDK-HMAC-SHA256: the `Authorization` header for `request`
/// at `sdk_date` (`YYYYMMDDTHHMMSSZ`, also sent as `X-Sdk-Date`). Huawei signs the path with a
/// trailing slash, whether or not the request has one.
pub fn sdk_hmac_sha256(
    request: &Unsigned<'_>,
    access_key: &str,
    secret: &[u8],
    sdk_date: &str,
) -> String {
    let path = if request.path.ends_with('/') {
        request.path.to_string()
    } else {
        format!("{}/", request.path)
    };
    let slashed = Unsigned {
        path: &path,
        ..*request
    };
    let (canonical, signed) = slashed.canonical(&sha256_hex(request.payload));
    let to_sign = format!(
        "SDK-HMAC-SHA256\n{sdk_date}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let signature = hex::encode(hmac_sha256(secret, &to_sign));
    format!("SDK-HMAC-SHA256 Access={access_key}, SignedHeaders={signed}, Signature={signature}")
}

/// A JSON Web Token signed with RS256 (RFC 7515/7518: RSASSA-PKCS1-v1_5 with SHA-256) by a
/// PKCS#8 PEM RSA key, as Google's OAuth 2.0 service-account flow asks for (RFC 7523).
/// `header` and `claims` are JSON texts; errors never include the key.
pub fn jwt_rs256(header: &str, claims: &str, pkcs8_pem: &[u8]) -> Result<String, String> {
    use base64::Engine;
    use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;

    let der = PrivatePkcs8KeyDer::from_pem_slice(pkcs8_pem)
        .map_err(|_| "the private key is not PKCS#8 PEM".to_string())?;
    let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| format!("the private key is not a usable RSA key ({e})"))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!("{}.{}", b64.encode(header), b64.encode(claims));
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "RSA signing failed".to_string())?;
    Ok(format!("{input}.{}", b64.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JWT's three parts are base64url without padding, and its signature verifies under
    /// the key's public half over `header.claims`.
    #[test]
    fn jwt_rs256_signs_header_and_claims() {
        use base64::Engine;
        use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};

        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("key");
        let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem");
        let header = r#"{"alg":"RS256","typ":"JWT"}"#;
        let claims = r#"{"iss":"a@b.iam.gserviceaccount.com"}"#;
        let jwt = jwt_rs256(header, claims, pem.as_bytes()).expect("jwt");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        assert_eq!(b64.decode(parts[0]).expect("header"), header.as_bytes());
        assert_eq!(b64.decode(parts[1]).expect("claims"), claims.as_bytes());
        let public = key.to_public_key().to_pkcs1_der().expect("public");
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_bytes())
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &b64.decode(parts[2]).expect("signature"),
            )
            .expect("verifies");
        let err = jwt_rs256(
            header,
            claims,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .expect_err("garbage key");
        assert!(err.contains("RSA") || err.contains("PKCS#8"), "{err}");
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// AWS's Signature Version 4 test suite (aws-sig-v4-test-suite): credentials AKIDEXAMPLE,
    /// region us-east-1, service `service`, 2015-08-30T12:36:00Z.
    #[test]
    fn sigv4_matches_the_aws_test_suite() {
        let base = headers(&[
            ("Host", "example.amazonaws.com"),
            ("X-Amz-Date", "20150830T123600Z"),
        ]);
        let secret = b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let sign = |method: &str, path: &str, query: &[(String, String)]| {
            sigv4(
                &Unsigned {
                    method,
                    path,
                    query,
                    headers: &base,
                    payload: b"",
                },
                "AKIDEXAMPLE",
                secret,
                "us-east-1",
                "service",
                "20150830T123600Z",
            )
        };
        let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=";
        // get-vanilla
        assert_eq!(
            sign("GET", "/", &[]),
            format!("{prefix}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        );
        // get-vanilla-query-order-key-case: the query is sorted before signing.
        let query = headers(&[("Param2", "value2"), ("Param1", "value1")]);
        assert_eq!(
            sign("GET", "/", &query),
            format!("{prefix}b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500")
        );
        // get-utf8: the path is percent-encoded as UTF-8.
        assert_eq!(
            sign("GET", "/\u{1234}", &[]),
            format!("{prefix}8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85")
        );
        // post-vanilla
        assert_eq!(
            sign("POST", "/", &[]),
            format!("{prefix}5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
        );
    }

    /// Tencent Cloud's TC3-HMAC-SHA256 walkthrough (CVM DescribeInstances, 1551113065).
    #[test]
    fn tc3_matches_tencents_published_example() {
        let payload = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            sha256_hex(payload),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let request = Unsigned {
            method: "POST",
            path: "/",
            query: &[],
            headers: &headers(&[
                ("Content-Type", "application/json; charset=utf-8"),
                ("Host", "cvm.tencentcloudapi.com"),
            ]),
            payload,
        };
        let (canonical, _) = request.canonical(&sha256_hex(payload));
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            tc3(
                &request,
                "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                b"Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "cvm",
                1_551_113_065
            ),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    /// Alibaba Cloud's V3 signature walkthrough (ECS RunInstances, 2023-10-26T10:22:32Z).
    #[test]
    fn acs3_matches_alibabas_published_example() {
        let query = headers(&[
            ("RegionId", "cn-shanghai"),
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
        ]);
        let request = Unsigned {
            method: "POST",
            path: "/",
            query: &query,
            headers: &headers(&[
                ("host", "ecs.cn-shanghai.aliyuncs.com"),
                ("x-acs-action", "RunInstances"),
                ("x-acs-version", "2014-05-26"),
                ("x-acs-date", "2023-10-26T10:22:32Z"),
                ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
                ("x-acs-content-sha256", &sha256_hex(b"")),
            ]),
            payload: b"",
        };
        assert_eq!(
            acs3(&request, "YourAccessKeyId", b"YourAccessKeySecret"),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(uri_encode("a b+c/d~", false), "a%20b%2Bc%2Fd~");
        assert_eq!(uri_encode("/x y/", true), "/x%20y/");
        assert_eq!(uri_encode("é", false), "%C3%A9");
    }
}
