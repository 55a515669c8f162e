//! `dpop_core::htu` on arbitrary strings (the input as UTF-8, invalid sequences replaced).
//!
//! Properties: no panic; an `htu` is an http(s) URL with no query, no fragment and no user
//! info, and it is its own `htu` (`htu(htu(x)) == htu(x)`); where the fast path (no URL
//! parsing) answers, the URL parser gives the same `htu`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let (Some(fast), parsed) = dpop_core::fuzzing::htu_both(&input) {
        assert_eq!(
            Ok(fast),
            parsed.map_err(|e| e.to_string()),
            "the fast htu of {input:?} differs"
        );
    }
    let htu = match dpop_core::htu(&input) {
        Ok(htu) => htu,
        Err(e) => return drop(e.to_string()),
    };
    let url = url::Url::parse(&htu).unwrap_or_else(|e| panic!("the htu {htu:?} does not parse: {e}"));
    assert!(matches!(url.scheme(), "http" | "https"), "{htu:?}: not http(s)");
    assert!(url.host().is_some(), "{htu:?}: no host");
    assert_eq!(url.query(), None, "{htu:?}: has a query");
    assert_eq!(url.fragment(), None, "{htu:?}: has a fragment");
    assert_eq!(url.username(), "", "{htu:?}: has a user name");
    assert_eq!(url.password(), None, "{htu:?}: has a password");
    assert!(!htu.contains(['?', '#']), "{htu:?}: holds '?' or '#'");
    match dpop_core::htu(&htu) {
        Ok(again) => assert_eq!(again, htu, "htu is not idempotent for {input:?}"),
        Err(e) => panic!("the htu {htu:?} of {input:?} is rejected: {e}"),
    }
});
