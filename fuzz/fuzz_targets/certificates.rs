//! The PEM/DER certificate reader: any bytes, no panic; every certificate it returns parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certctl::x509::read_certificates(data);
});
