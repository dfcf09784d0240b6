//! The duration, threshold and endpoint-address parsers: any text, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = certctl::config::parse_duration(text);
    let _ = certctl::inventory::target::parse_endpoint(text, None);
    let _ = certctl::inventory::target::parse_endpoint(text, Some(text));
});
