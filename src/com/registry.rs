//! Registration: `regsvr32 dpop.dll` (machine-wide, `DllRegisterServer`), `regsvr32 /u`
//! (`DllUnregisterServer`) and `regsvr32 /n /i:user dpop.dll` (per user, under HKCU, for users
//! without admin rights: `DllInstall`).
//!
//! Every key is written here, the type library's included (no `RegisterTypeLib`), so that
//! unregistering removes exactly what registering wrote, in the same hive.

use super::{Class, CLASSES, INTERFACES, LIBID};
use std::panic::{catch_unwind, AssertUnwindSafe};
use windows::core::{GUID, HRESULT, PCWSTR};
use windows::Win32::Foundation::{ERROR_FILE_NOT_FOUND, E_UNEXPECTED, S_OK, WIN32_ERROR};
use windows::Win32::System::Registry::{
    RegCloseKey, RegCreateKeyExW, RegDeleteTreeW, RegSetValueExW, HKEY, HKEY_CURRENT_USER,
    HKEY_LOCAL_MACHINE, KEY_WRITE, REG_OPTION_NON_VOLATILE, REG_SZ,
};
use windows_core::BOOL;

/// The proxy/stub of the type library marshaler (oleaut32's PSOAInterface), for dual interfaces.
const TYPELIB_MARSHALER: &str = "{00020424-0000-0000-C000-000000000046}";

/// The `win32`/`win64` subkey of a type library registration.
const PLATFORM: &str = if cfg!(target_pointer_width = "64") {
    "win64"
} else {
    "win32"
};

fn braced(guid: &GUID) -> String {
    format!("{{{guid:?}}}")
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(Some(0)).collect()
}

fn check(status: WIN32_ERROR) -> windows::core::Result<()> {
    if status.is_ok() {
        Ok(())
    } else {
        Err(status.to_hresult().into())
    }
}

/// Sets `value` (the default value when `name` is `None`) of `root\Software\Classes\path`.
fn set(root: HKEY, path: &str, name: Option<&str>, value: &str) -> windows::core::Result<()> {
    let path = wide(&format!("Software\\Classes\\{path}"));
    let mut key = HKEY::default();
    // SAFETY: `path` is NUL-terminated and outlives the call; `key` receives the opened key.
    check(unsafe {
        RegCreateKeyExW(
            root,
            PCWSTR(path.as_ptr()),
            None,
            PCWSTR::null(),
            REG_OPTION_NON_VOLATILE,
            KEY_WRITE,
            None,
            &mut key,
            None,
        )
    })?;
    let name = name.map(wide);
    let data: Vec<u8> = wide(value).iter().flat_map(|u| u.to_le_bytes()).collect();
    // SAFETY: `key` was opened above; `name` is NUL-terminated or NULL; `data` is the
    // NUL-terminated UTF-16 string as bytes, as REG_SZ wants it.
    let written = check(unsafe {
        RegSetValueExW(
            key,
            name.as_ref().map_or(PCWSTR::null(), |n| PCWSTR(n.as_ptr())),
            None,
            REG_SZ,
            Some(&data),
        )
    });
    // SAFETY: `key` was opened above and is closed once.
    let _ = unsafe { RegCloseKey(key) };
    written
}

/// Deletes `root\Software\Classes\path` with everything below it; a missing key is fine.
fn delete(root: HKEY, path: &str) -> windows::core::Result<()> {
    let path = wide(&format!("Software\\Classes\\{path}"));
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let status = unsafe { RegDeleteTreeW(root, PCWSTR(path.as_ptr())) };
    if status == ERROR_FILE_NOT_FOUND {
        return Ok(());
    }
    check(status)
}

/// Every key libdpop registers, as (path, value name, value).
fn entries(dll: &str) -> Vec<(String, Option<&'static str>, String)> {
    let libid = braced(&LIBID);
    let dir = std::path::Path::new(dll)
        .parent()
        .map_or_else(String::new, |p| p.display().to_string());
    let mut out = Vec::new();
    let mut add = |path: String, name: Option<&'static str>, value: String| out.push((path, name, value));
    for Class {
        clsid,
        prog_id,
        description,
        ..
    } in &CLASSES
    {
        let clsid = braced(clsid);
        let versioned = format!("{prog_id}.1");
        let class_key = format!("CLSID\\{clsid}");
        add(class_key.clone(), None, description.to_string());
        add(format!("{class_key}\\InprocServer32"), None, dll.to_string());
        add(
            format!("{class_key}\\InprocServer32"),
            Some("ThreadingModel"),
            "Both".to_string(),
        );
        add(format!("{class_key}\\ProgID"), None, versioned.clone());
        add(
            format!("{class_key}\\VersionIndependentProgID"),
            None,
            prog_id.to_string(),
        );
        add(format!("{class_key}\\TypeLib"), None, libid.clone());
        add(format!("{class_key}\\Version"), None, "1.0".to_string());
        add(prog_id.to_string(), None, description.to_string());
        add(format!("{prog_id}\\CLSID"), None, clsid.clone());
        add(format!("{prog_id}\\CurVer"), None, versioned.clone());
        add(versioned.clone(), None, description.to_string());
        add(format!("{versioned}\\CLSID"), None, clsid);
    }
    let lib_key = format!("TypeLib\\{libid}\\1.0");
    add(lib_key.clone(), None, "libdpop 1.0 Type Library".to_string());
    add(format!("{lib_key}\\0\\{PLATFORM}"), None, dll.to_string());
    add(format!("{lib_key}\\FLAGS"), None, "0".to_string());
    add(format!("{lib_key}\\HELPDIR"), None, dir);
    for (iid, name) in &INTERFACES {
        let key = format!("Interface\\{}", braced(iid));
        add(key.clone(), None, name.to_string());
        add(
            format!("{key}\\ProxyStubClsid32"),
            None,
            TYPELIB_MARSHALER.to_string(),
        );
        add(
            format!("{key}\\ProxyStubClsid"),
            None,
            TYPELIB_MARSHALER.to_string(),
        );
        add(format!("{key}\\TypeLib"), None, libid.clone());
        add(format!("{key}\\TypeLib"), Some("Version"), "1.0".to_string());
    }
    out
}

/// The top keys `entries` writes under, for unregistering.
fn top_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for class in &CLASSES {
        keys.push(format!("CLSID\\{}", braced(&class.clsid)));
        keys.push(class.prog_id.to_string());
        keys.push(format!("{}.1", class.prog_id));
    }
    keys.push(format!("TypeLib\\{}", braced(&LIBID)));
    keys.extend(
        INTERFACES
            .iter()
            .map(|(iid, _)| format!("Interface\\{}", braced(iid))),
    );
    keys
}

fn register(root: HKEY) -> windows::core::Result<()> {
    let dll = super::dispatch::module_path()?;
    // A missing type library would register objects that cannot answer IDispatch.
    super::dispatch::type_library()?;
    for (path, name, value) in entries(&dll) {
        set(root, &path, name, &value)?;
    }
    Ok(())
}

fn unregister(root: HKEY) -> windows::core::Result<()> {
    top_keys().iter().try_for_each(|key| delete(root, key))
}

/// Runs a registration step behind a panic boundary.
fn outcome(step: impl FnOnce() -> windows::core::Result<()>) -> HRESULT {
    match catch_unwind(AssertUnwindSafe(step)) {
        Ok(Ok(())) => S_OK,
        Ok(Err(e)) => e.code(),
        Err(_) => E_UNEXPECTED,
    }
}

/// `regsvr32 dpop.dll`: registers the objects and the type library for every user (HKLM).
#[no_mangle]
pub extern "system" fn DllRegisterServer() -> HRESULT {
    outcome(|| register(HKEY_LOCAL_MACHINE))
}

/// `regsvr32 /u dpop.dll`: removes the machine-wide registration.
#[no_mangle]
pub extern "system" fn DllUnregisterServer() -> HRESULT {
    outcome(|| unregister(HKEY_LOCAL_MACHINE))
}

/// `regsvr32 /n /i:user dpop.dll` registers for the current user only (HKCU, no admin rights
/// needed); `regsvr32 /u /n /i:user dpop.dll` removes that. Without `user` the machine-wide
/// registration is made or removed.
///
/// # Safety
/// `command` is NULL or a NUL-terminated UTF-16 string (regsvr32's contract).
#[no_mangle]
pub unsafe extern "system" fn DllInstall(install: BOOL, command: PCWSTR) -> HRESULT {
    outcome(|| {
        let per_user = !command.is_null()
            // SAFETY: `command` is not NULL, so by this function's contract it is a
            // NUL-terminated UTF-16 string.
            && unsafe { command.to_string() }.is_ok_and(|c| c.trim().eq_ignore_ascii_case("user"));
        let root = if per_user {
            HKEY_CURRENT_USER
        } else {
            HKEY_LOCAL_MACHINE
        };
        if install.as_bool() {
            register(root)
        } else {
            unregister(root)
        }
    })
}
