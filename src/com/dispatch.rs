//! What every COM object shares: `IDispatch` answered from the embedded type library, the
//! conversions at the boundary (BSTR and UTF-8, VARIANT_BOOL), and Chilkat's error model.
//!
//! Error model: a member that fails returns `S_OK` with its failure value (False, an empty
//! string, Nothing) and records the reason for the calling thread (`LastErrorText`,
//! `LastMethodSuccess`); a panic becomes such a failure too. Only a NULL out-pointer gives an
//! error HRESULT (`E_POINTER`). Property gets record nothing, so reading `LastErrorText` never
//! changes it.

use crate::records::Records;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use windows::core::{Interface, GUID, HRESULT, PCWSTR};
use windows::Win32::Foundation::{E_POINTER, HMODULE, S_OK, VARIANT_BOOL, VARIANT_FALSE, VARIANT_TRUE};
use windows::Win32::System::Com::{ITypeInfo, ITypeLib, DISPATCH_FLAGS, DISPPARAMS, EXCEPINFO};
use windows::Win32::System::LibraryLoader::{
    GetModuleFileNameW, GetModuleHandleExW, GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
    GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
};
use windows::Win32::System::Ole::{DispGetIDsOfNames, DispInvoke, LoadTypeLibEx, REGKIND_NONE};
use windows::Win32::System::Variant::VARIANT;
use windows_core::BSTR;

/// The reason a member failed, as `LastErrorText` shows it (after the member's name).
pub(crate) struct Failure(pub(crate) String);

impl From<dpop_core::Error> for Failure {
    fn from(e: dpop_core::Error) -> Self {
        let code = crate::error::code_of(e.kind());
        Failure(format!(
            "{} ({})",
            e.message(),
            crate::error::name_of(code).to_string_lossy()
        ))
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure(message.to_string())
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure(message)
    }
}

pub(crate) type Outcome<T> = Result<T, Failure>;

/// A value a member hands back through an `[out, retval]` pointer.
pub(crate) trait Retval: Sized {
    /// The ABI type behind the out-pointer.
    type Abi;
    /// What the caller receives when the member fails.
    fn failure() -> Self;
    fn into_abi(self) -> Self::Abi;
}

impl Retval for bool {
    type Abi = VARIANT_BOOL;
    fn failure() -> Self {
        false
    }
    fn into_abi(self) -> VARIANT_BOOL {
        if self {
            VARIANT_TRUE
        } else {
            VARIANT_FALSE
        }
    }
}

impl Retval for String {
    type Abi = BSTR;
    fn failure() -> Self {
        String::new()
    }
    fn into_abi(self) -> BSTR {
        BSTR::from(self.as_str())
    }
}

/// A secret (a private key export): no plain copy is left behind on the way to the BSTR.
impl Retval for zeroize::Zeroizing<String> {
    type Abi = BSTR;
    fn failure() -> Self {
        zeroize::Zeroizing::new(String::new())
    }
    fn into_abi(self) -> BSTR {
        BSTR::from(self.as_str())
    }
}

impl Retval for i32 {
    type Abi = i32;
    fn failure() -> Self {
        0
    }
    fn into_abi(self) -> i32 {
        self
    }
}

/// An object handed out as `IDispatch*` (an `HttpResponse`), or Nothing.
pub(crate) struct Object(pub(crate) Option<windows::Win32::System::Com::IDispatch>);

impl Retval for Object {
    type Abi = *mut c_void;
    fn failure() -> Self {
        Object(None)
    }
    fn into_abi(self) -> *mut c_void {
        self.0.map_or(std::ptr::null_mut(), Interface::into_raw)
    }
}

/// Runs a method (or a property put) named `name`: records its outcome for the calling thread
/// on `records` and writes its value, or the failure value, to `out`.
pub(crate) fn method<T: Retval>(
    records: &Records,
    name: &str,
    out: *mut T::Abi,
    body: impl FnOnce() -> Outcome<T>,
) -> HRESULT {
    if out.is_null() {
        return E_POINTER;
    }
    let value = run(records, name, body).unwrap_or_else(T::failure);
    // SAFETY: `out` is not NULL, and COM's contract for an [out, retval] parameter is a
    // pointer the callee may write one value to; the caller owns what is written.
    unsafe { out.write(value.into_abi()) };
    S_OK
}

/// A method without a result (`SetRequestHeader`, property puts): as [`method`].
pub(crate) fn action(records: &Records, name: &str, body: impl FnOnce() -> Outcome<()>) -> HRESULT {
    // Failures are read through LastMethodSuccess and LastErrorText.
    let _ = run(records, name, body);
    S_OK
}

fn run<T>(records: &Records, name: &str, body: impl FnOnce() -> Outcome<T>) -> Option<T> {
    let message = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => {
            records.clear_error();
            return Some(value);
        }
        Ok(Err(Failure(message))) => message,
        Err(_) => "internal error in libdpop (caught panic); please report it".to_string(),
    };
    records.update(|record| {
        record.note = None;
        record.failed = true;
        record.error.clear();
        record.error.push_str(name);
        record.error.push_str(": ");
        record.error.push_str(&message);
    });
    None
}

/// A property get: writes `value()` to `out` and records nothing.
pub(crate) fn get<T: Retval>(out: *mut T::Abi, value: impl FnOnce() -> T) -> HRESULT {
    if out.is_null() {
        return E_POINTER;
    }
    let value = catch_unwind(AssertUnwindSafe(value)).unwrap_or_else(|_| T::failure());
    // SAFETY: as in `method`: a non-NULL [out, retval] pointer.
    unsafe { out.write(value.into_abi()) };
    S_OK
}

/// `LastErrorText` of the calling thread.
pub(crate) fn last_error_text(records: &Records) -> String {
    records.read(|record| record.map_or_else(String::new, |r| r.error.clone()))
}

/// `LastMethodSuccess` of the calling thread: true until a method fails.
pub(crate) fn last_method_success(records: &Records) -> bool {
    records.read(|record| record.is_none_or(|r| !r.failed))
}

/// An `[in] BSTR` as UTF-8; `name` names it when it is not valid UTF-16.
pub(crate) fn text(value: &BSTR, name: &str) -> Outcome<String> {
    String::from_utf16(value).map_err(|_| Failure(format!("argument '{name}' is not valid UTF-16")))
}

/// An optional `[in] BSTR`: empty means absent, as in the C API.
pub(crate) fn optional(value: &BSTR, name: &str) -> Outcome<Option<String>> {
    text(value, name).map(|s| Some(s).filter(|s| !s.is_empty()))
}

pub(crate) fn flag(value: VARIANT_BOOL) -> bool {
    value != VARIANT_FALSE
}

/// A pointer that may cross threads: the type library and its type infos, which oleaut32
/// makes free-threaded (ATL keeps one `ITypeInfo` for all apartments the same way).
struct FreeThreaded<T>(T);
// SAFETY: oleaut32's type library objects are free-threaded (see above); nothing else is put
// in a `FreeThreaded`.
unsafe impl<T> Send for FreeThreaded<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for FreeThreaded<T> {}

static TYPE_LIBRARY: OnceLock<Result<FreeThreaded<ITypeLib>, HRESULT>> = OnceLock::new();

/// The type library embedded in this DLL (resource TYPELIB 1), loaded once.
pub(crate) fn type_library() -> windows::core::Result<ITypeLib> {
    let loaded = TYPE_LIBRARY.get_or_init(|| {
        let path = module_path().map_err(|e| e.code())?;
        let wide: Vec<u16> = path.encode_utf16().chain(Some(0)).collect();
        // SAFETY: `wide` is a NUL-terminated path that outlives the call.
        unsafe { LoadTypeLibEx(PCWSTR(wide.as_ptr()), REGKIND_NONE) }
            .map(FreeThreaded)
            .map_err(|e| e.code())
    });
    match loaded {
        Ok(library) => Ok(library.0.clone()),
        Err(code) => Err((*code).into()),
    }
}

fn type_info(iid: &GUID) -> windows::core::Result<ITypeInfo> {
    // SAFETY: `iid` is a valid GUID reference for the call.
    unsafe { type_library()?.GetTypeInfoOfGuid(iid) }
}

/// The full path of this DLL.
pub(crate) fn module_path() -> windows::core::Result<String> {
    let mut module = HMODULE::default();
    let anchor: fn() -> windows::core::Result<String> = module_path;
    // SAFETY: with FROM_ADDRESS the name argument is an address inside this module (a
    // function of ours), and UNCHANGED_REFCOUNT takes no reference that would need freeing.
    unsafe {
        GetModuleHandleExW(
            GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
            PCWSTR(anchor as *const u16),
            &mut module,
        )
    }?;
    let mut buffer = vec![0u16; 1024];
    loop {
        // SAFETY: `module` is this DLL's handle and `buffer` a writable slice.
        let len = unsafe { GetModuleFileNameW(Some(module), &mut buffer) } as usize;
        if len == 0 {
            return Err(windows::core::Error::from_thread());
        }
        if len < buffer.len() {
            return Ok(String::from_utf16_lossy(&buffer[..len]));
        }
        buffer.resize(buffer.len() * 2, 0);
    }
}

/// `IDispatch` for an object whose members are the interface `iid`, reached at `this`.
pub(crate) struct Dispatch {
    pub(crate) this: *mut c_void,
    pub(crate) iid: GUID,
}

impl Dispatch {
    pub(crate) fn type_info(&self, index: u32) -> windows::core::Result<ITypeInfo> {
        if index != 0 {
            return Err(windows::Win32::Foundation::DISP_E_BADINDEX.into());
        }
        type_info(&self.iid)
    }

    /// # Safety
    /// `names` points to `count` NUL-terminated strings and `ids` to `count` writable DISPIDs
    /// (IDispatch::GetIDsOfNames' contract).
    pub(crate) unsafe fn ids_of_names(
        &self,
        names: *const PCWSTR,
        count: u32,
        ids: *mut i32,
    ) -> windows::core::Result<()> {
        let info = type_info(&self.iid)?;
        // SAFETY: the pointers are as this function's contract states, which is what
        // DispGetIDsOfNames asks for.
        unsafe { DispGetIDsOfNames(&info, names, count, ids) }
    }

    /// # Safety
    /// The pointers are as IDispatch::Invoke's contract states, and `self.this` is a live
    /// interface pointer of `self.iid`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn invoke(
        &self,
        member: i32,
        flags: DISPATCH_FLAGS,
        params: *const DISPPARAMS,
        result: *mut VARIANT,
        exception: *mut EXCEPINFO,
        arg_error: *mut u32,
    ) -> windows::core::Result<()> {
        let info = type_info(&self.iid)?;
        // SAFETY: `this` is a live interface pointer whose vtable the type info describes, and
        // the other pointers are the caller's (this function's contract); DispInvoke reads the
        // parameters and writes the result, never keeping a pointer.
        unsafe {
            DispInvoke(
                self.this,
                &info,
                member,
                flags.0,
                params.cast_mut(),
                result,
                exception,
                arg_error,
            )
        }
    }
}

/// Implements `IDispatch` for `$impl` (a `#[implement]`ed type's `_Impl`) from the type info
/// of its interface `$iface`.
macro_rules! dispatch_from_type_library {
    ($impl:ty, $iface:ty) => {
        impl windows::Win32::System::Com::IDispatch_Impl for $impl {
            fn GetTypeInfoCount(&self) -> windows::core::Result<u32> {
                Ok(1)
            }

            fn GetTypeInfo(
                &self,
                index: u32,
                _lcid: u32,
            ) -> windows::core::Result<windows::Win32::System::Com::ITypeInfo> {
                self.dispatch().type_info(index)
            }

            fn GetIDsOfNames(
                &self,
                _riid: *const windows::core::GUID,
                names: *const windows::core::PCWSTR,
                count: u32,
                _lcid: u32,
                ids: *mut i32,
            ) -> windows::core::Result<()> {
                // SAFETY: COM passes `names` and `ids` as IDispatch::GetIDsOfNames states.
                unsafe { self.dispatch().ids_of_names(names, count, ids) }
            }

            fn Invoke(
                &self,
                member: i32,
                _riid: *const windows::core::GUID,
                _lcid: u32,
                flags: windows::Win32::System::Com::DISPATCH_FLAGS,
                params: *const windows::Win32::System::Com::DISPPARAMS,
                result: *mut windows::Win32::System::Variant::VARIANT,
                exception: *mut windows::Win32::System::Com::EXCEPINFO,
                arg_error: *mut u32,
            ) -> windows::core::Result<()> {
                // SAFETY: COM passes the pointers as IDispatch::Invoke states, and
                // `dispatch()` names this object's own interface pointer.
                unsafe {
                    self.dispatch()
                        .invoke(member, flags, params, result, exception, arg_error)
                }
            }
        }

        impl $impl {
            fn dispatch(&self) -> $crate::com::dispatch::Dispatch {
                use windows::core::{IUnknownImpl, Interface};
                $crate::com::dispatch::Dispatch {
                    this: self.as_interface::<$iface>().as_raw(),
                    iid: <$iface as Interface>::IID,
                }
            }
        }
    };
}
pub(crate) use dispatch_from_type_library;
