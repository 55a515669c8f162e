//! Build script of the C ABI crate. On Linux it gives libdpop.so its soname. For Windows
//! targets it compiles the COM type library
//! (`src/com/dpop.idl`) with mingw-w64's `widl` and embeds it in `dpop.dll` as resource
//! `TYPELIB 1` (with `windres`), where the COM objects' `IDispatch` and the hosts' type
//! library importers find it. Other targets need nothing.
//!
//! Tools, overridable by environment variable: `DPOP_WIDL` (`<triple>-widl`, Debian package
//! mingw-w64-tools), `DPOP_WINDRES` (`<triple>-windres`, binutils-mingw-w64), `DPOP_IDL_INCLUDE`
//! (the directory of `oaidl.idl`: Wine's, package libwine-dev) and `DPOP_TLB_DIR` (the
//! directory of `stdole2.tlb`, from Wine).
use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/com/dpop.idl");
    for var in ["DPOP_WIDL", "DPOP_WINDRES", "DPOP_IDL_INCLUDE", "DPOP_TLB_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        // libdpop.so carries its soname, so that programs need libdpop.so.MAJOR and survive
        // minor upgrades (make install makes the usual links; make lib makes that one in
        // target/release).
        let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdpop.so.{major}");
    }
    if os != "windows" {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let (triple, bits) = match arch.as_str() {
        "x86_64" => ("x86_64-w64-mingw32", "--win64"),
        "x86" => ("i686-w64-mingw32", "--win32"),
        other => panic!("the COM type library is built for x86 and x86_64 Windows only, not {other}"),
    };
    let tool = |var: &str, name: &str| env::var(var).unwrap_or_else(|_| format!("{triple}-{name}"));
    let include = env::var("DPOP_IDL_INCLUDE").unwrap_or_else(|_| "/usr/include/wine/wine/windows".into());
    let tlb_dir =
        env::var("DPOP_TLB_DIR").unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/wine/x86_64-windows".into());
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let idl = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("src/com/dpop.idl");
    let tlb = out.join("dpop.tlb");
    // widl writes a C header next to what it is asked for: it runs in OUT_DIR, never in the
    // source tree.
    run(
        Command::new(tool("DPOP_WIDL", "widl"))
            .current_dir(&out)
            .arg(bits)
            .arg(format!("-I{include}"))
            .arg(format!("-L{tlb_dir}"))
            .arg("-t")
            .arg("-o")
            .arg(&tlb)
            .arg(&idl),
        "widl (Debian packages mingw-w64-tools, and libwine-dev for oaidl.idl)",
    );
    std::fs::write(out.join("dpop.rc"), "1 TYPELIB \"dpop.tlb\"\n").expect("cannot write dpop.rc");
    let object = out.join("dpop_typelib.o");
    run(
        Command::new(tool("DPOP_WINDRES", "windres"))
            .current_dir(&out)
            .args(["-O", "coff", "-i", "dpop.rc", "-o"])
            .arg(&object),
        "windres (Debian package binutils-mingw-w64)",
    );
    println!("cargo:rustc-link-arg-cdylib={}", object.display());
}

fn run(command: &mut Command, what: &str) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}; command: {command:?}"));
    assert!(status.success(), "{what} failed ({status}); command: {command:?}");
}
