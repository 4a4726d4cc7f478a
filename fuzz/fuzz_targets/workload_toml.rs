#![no_main]
#![allow(dead_code)]

// xtask's workload file parser, compiled as it is.
#[path = "../../xtask/src/workload.rs"]
mod workload;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = workload::Spec::parse(text);
    }
});
