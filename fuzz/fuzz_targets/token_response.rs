//! A token endpoint's success body (`dpop_core::fuzzing::token_response`), Bearer accepted so
//! that every branch is reached. Property: no panic, and every error renders.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Err(e) = dpop_core::fuzzing::token_response(body) {
        drop(e.to_string());
    }
});
