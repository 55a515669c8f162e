//! libdpop's C ABI: `libdpop.so`, `libdpop.a` and `dpop.dll`, described by the generated
//! `include/dpop.h`.
//!
//! One file per C object (`dpop_key`, `dpop_http`, `dpop_response`, proofs, status codes, the
//! version, the saved state of a `dpop_http`) over `dpop-core`, and the boundary they share:
//! [`handle`] (how each handle type is owned, created, borrowed and freed), [`records`] (each
//! handle's per-thread results) and [`boundary`] (the panic boundary, argument conversion,
//! strings out). Every `unsafe` block of libdpop's own code is in this crate, each converting
//! one raw argument (or, in `dpapi`, calling DPAPI); no protocol logic is.
//! One file per C object (`dpop_key`, `dpop_http`, `dpop_response`, `dpop_task`, proofs, status
//! codes, the version) over `dpop-core`, and the boundary they share: [`handle`] (how each handle type is
//! owned, created, borrowed and freed), [`records`] (each handle's per-thread results) and
//! [`boundary`] (the panic boundary, argument conversion, strings out). Every `unsafe` block of
//! libdpop's own code is in this crate, each converting one raw argument; no protocol logic is.
//!
//! Exports are written `#[system_abi] #[no_mangle] pub extern "C" fn`: see `dpop-macros` for
//! why the source says `"C"` and the compiled function is `extern "system"`.
//!
//! On Windows the same DLL is also an in-process COM server ([`com`]): a second boundary over
//! the same core, for 4GL hosts that reach native code through COM.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![allow(non_camel_case_types)]
// The exports are C entry points: their pointer contracts are stated in the header, and each
// pointer is converted once, in its own `unsafe` block, before the body runs.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod boundary;
mod handle;
mod records;

/// cbindgen:ignore
#[cfg(windows)]
mod com;
/// cbindgen:ignore
#[cfg(windows)]
mod dpapi;

pub mod error;
pub mod http;
pub mod key;
pub mod proof;
pub mod response;
pub mod sign_in;
pub mod state;
pub mod task;
pub mod version;

#[cfg(test)]
mod abi_tests;

#[cfg(test)]
mod tests {
    /// cbindgen sees `extern "C"`; the compiled ABI must be `extern "system"` (stdcall on 32-bit
    /// Windows), which only `#[system_abi]` gives. On other targets the two are the same
    /// convention, so this reads the sources; `windows/check_exports.py` checks the i686 DLL.
    /// (The COM server's entry points in `src/com/` are not C API functions: they are written
    /// `extern "system"` as COM declares them, and kept out of the header.)
    #[test]
    #[cfg_attr(miri, ignore = "reads the source files")]
    fn every_export_is_marked_system_abi() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut exports = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = source.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim() == "#[no_mangle]" {
                    exports += 1;
                    let at = format!("{}:{}", path.display(), i + 1);
                    assert_eq!(lines[i - 1].trim(), "#[system_abi]", "{at}");
                    assert!(lines[i + 1].starts_with("pub extern \"C\" fn "), "{at}");
                }
            }
            assert!(!source.contains("extern \"system\" fn"), "{}", path.display());
        }
        assert!(exports >= 41, "only {exports} exports found");
    }
}
