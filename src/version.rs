//! The library version, as macros in the header and as a function.

use dpop_macros::system_abi;
use std::ffi::c_char;

/// Major version of the header (and of the library it came with).
pub const DPOP_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const DPOP_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const DPOP_VERSION_PATCH: u32 = 0;

/// cbindgen:ignore
const VERSION: &std::ffi::CStr =
    match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL byte"),
    };

/// The version of the loaded library, `"MAJOR.MINOR.PATCH"`. Static: never free it.
///
/// Compare it with the `DPOP_VERSION_*` macros to detect a header/library mismatch.
#[system_abi]
#[no_mangle]
pub extern "C" fn dpop_version() -> *const c_char {
    crate::boundary::read_only(VERSION.as_ptr(), || VERSION.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_agree_with_the_package_version() {
        let expected = format!("{DPOP_VERSION_MAJOR}.{DPOP_VERSION_MINOR}.{DPOP_VERSION_PATCH}");
        assert_eq!(env!("CARGO_PKG_VERSION"), expected);
        // SAFETY: `dpop_version` returns a static NUL-terminated string.
        let from_c = unsafe { std::ffi::CStr::from_ptr(dpop_version()) };
        assert_eq!(from_c.to_str().unwrap(), expected);
    }
}
