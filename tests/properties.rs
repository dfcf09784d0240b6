//! Property tests: the parsers and payload builders never panic, whatever the input, and their
//! errors still say where.

use certctl::config::Config;
use certctl::config::acme::Secret;
use certctl::config::alerts::{Webhook, WebhookFormat};
use certctl::model::{AlertEvent, Severity};
use proptest::prelude::*;

fn pem_block() -> String {
    // A structurally valid certificate to mutate.
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["p.example.test".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    cert.pem()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn certificate_reader_never_panics_on_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = certctl::x509::read_certificates(&data);
    }

    #[test]
    fn certificate_reader_never_panics_on_mutated_pem(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16), cut in any::<prop::sample::Index>()) {
        let mut pem = pem_block().into_bytes();
        for (at, byte) in flips {
            let i = at.index(pem.len());
            pem[i] = byte;
        }
        let end = cut.index(pem.len() + 1);
        let out = certctl::x509::read_certificates(&pem[..end]);
        for problem in out.problems {
            // Every PEM problem names its line.
            let text = problem.to_string();
            prop_assert!(!text.is_empty());
        }
    }

    #[test]
    fn config_loader_never_panics_and_locates_errors(text in "[a-z_\\[\\]=\" .0-9\n]{0,300}") {
        if let Err(e) = Config::parse(&text, std::path::Path::new("/t/certctl.toml")) {
            let message = e.to_string();
            prop_assert!(message.contains("/t/certctl.toml"), "{message}");
        }
    }

    #[test]
    fn config_with_arbitrary_values_reports_fields(value in "\\PC{0,40}") {
        let text = format!("[scan]\ntimeout = {value:?}\n[alerts]\nthresholds = [{value:?}]\n[[endpoint]]\naddress = {value:?}\n");
        if let Err(e) = Config::parse(&text, std::path::Path::new("/t/c.toml")) {
            let message = e.to_string();
            prop_assert!(message.contains("/t/c.toml:"), "{message}");
        }
    }

    #[test]
    fn duration_and_address_parsers_never_panic(text in "\\PC{0,64}") {
        let _ = certctl::config::parse_duration(&text);
        let _ = certctl::inventory::target::parse_endpoint(&text, None);
        let _ = certctl::inventory::target::parse_endpoint(&text, Some(&text));
    }

    #[test]
    fn payload_builders_always_emit_json(summary in "\\PC{0,200}", location in "\\PC{0,80}", secret in "\\PC{0,40}") {
        let event = AlertEvent {
            id: "0123456789abcdef".into(),
            kind: "expiring".into(),
            severity: Severity::Critical,
            summary,
            threshold: Some("7d".into()),
            certificate: None,
            locations: vec![location; 3],
            occurred_at: 1_790_000_000,
            reminder: true,
            resolves: None,
            detail: Some("d".into()),
        };
        for format in WebhookFormat::ALL {
            let hook = Webhook {
                secret: Some(Secret::new(secret.as_bytes().to_vec())),
                chat_id: Some("-100123".into()),
                ..Webhook::new("p", format, "https://example.test/hook")
            };
            let rendered = certctl::alerts::format::render(&hook, &event, "msg_1", 1_790_000_000);
            if format == WebhookFormat::Ntfy {
                // ntfy's body is plain text; its headers must stay valid header values.
                prop_assert!(std::str::from_utf8(&rendered.body).is_ok());
                // (The bearer token is the configured secret, checked when the config is read.)
                for (_, v) in rendered.headers.iter().filter(|(k, _)| k != "authorization") {
                    prop_assert!(v.bytes().all(|b| (0x20..0x7f).contains(&b)), "{v:?}");
                }
            } else {
                prop_assert!(serde_json::from_slice::<serde_json::Value>(&rendered.body).is_ok());
            }
        }
    }
}
