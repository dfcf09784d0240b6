//! The config loader: any text, no panic, and every error names the file (and its line).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let path = std::path::Path::new("/fuzz/certctl.toml");
    if let Err(e) = certctl::config::Config::parse(text, path) {
        let message = e.to_string();
        assert!(message.contains("/fuzz/certctl.toml"), "{message}");
    }
});
