//! A `WWW-Authenticate` value (`dpop_core::fuzzing::www_authenticate`), the input as UTF-8
//! (invalid sequences replaced, as a header value read lossily would be).
//!
//! Properties: no panic; an `error` found for the DPoP challenge, or an `invalid_token` found in
//! any challenge, implies that at least one challenge was parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    let (challenges, dpop_error, invalid_token) = dpop_core::fuzzing::www_authenticate(&value);
    assert!(
        challenges > 0 || (dpop_error.is_none() && !invalid_token),
        "an error was found in a header with no challenge: {dpop_error:?}, {invalid_token}"
    );
});
