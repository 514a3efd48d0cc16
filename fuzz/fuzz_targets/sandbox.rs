//! Arbitrary programs (TypeScript or JavaScript text) through transpile and the sandbox, with
//! small budgets, on a fresh 128 MiB-stack thread per input (as `--sandbox-isolation thread`
//! does), against the in-memory fake registry. A first byte below 0x20 (other than tab, LF,
//! CR) is not program text: it selects the fake host's behaviour (see `BridgeConfig`).
//! Findings: see `pgmcp_fuzz::harness`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgmcp_fuzz::bridge::BridgeConfig;
use pgmcp_fuzz::harness;

fuzz_target!(init: harness::init(), |data: &[u8]| {
    harness::breadcrumb(data);
    let (config, program) = match data.first() {
        Some(&b) if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') => {
            (BridgeConfig::from_byte(b), &data[1..])
        }
        _ => (BridgeConfig::default(), data),
    };
    let Ok(source) = std::str::from_utf8(program) else {
        return;
    };
    harness::run_source(source, config);
});
