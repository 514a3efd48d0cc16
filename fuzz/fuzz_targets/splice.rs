//! Structure-aware: the input's bytes choose and combine fragments of the escape corpus and
//! the seed programs, each in a chosen syntactic context (see `pgmcp_fuzz::splice`), and the
//! program runs exactly as in the `sandbox` target. Findings: see `pgmcp_fuzz::harness`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgmcp_fuzz::{harness, splice};

fuzz_target!(init: {
    harness::init();
    std::sync::LazyLock::force(&splice::POOL);
}, |data: &[u8]| {
    harness::breadcrumb(data);
    if let Some((program, config)) = splice::build(data) {
        harness::run_source(&program, config);
    }
});
