//! The COM server inside `dpop.dll` (Windows only): `Dpop.PrivateKey`, `Dpop.Http`,
//! `Dpop.HttpResponse`, `Dpop.JsonObject` and `Dpop.Task`, dual interfaces described by
//! `dpop.idl`, whose type library is embedded in the DLL.
//!
//! A second boundary over the same core as the C ABI: the objects call `dpop-core` directly and
//! never the C exports, and share only the per-thread records ([`crate::records`]) and the
//! status-code names with them. COM plumbing (vtables, reference counts, QueryInterface) comes
//! from the `windows` crate's `#[interface]` and `#[implement]`; `IDispatch` is answered from
//! the type library ([`dispatch`]).
//!
//! The in-process server exports `DllGetClassObject` and `DllCanUnloadNow` (here) and the
//! registration entry points ([`registry`]). Objects are free-threaded (`ThreadingModel=Both`).

mod dispatch;
mod http;
mod interfaces;
mod json;
mod key;
mod registry;
mod response;
mod task;

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use windows::Win32::Foundation::{
    CLASS_E_CLASSNOTAVAILABLE, CLASS_E_NOAGGREGATION, E_NOINTERFACE, E_POINTER, E_UNEXPECTED, S_FALSE, S_OK,
};
use windows::Win32::System::Com::{IClassFactory, IClassFactory_Impl};
use windows_core::{implement, IUnknown, Interface, Ref, BOOL, GUID, HRESULT};

/// One coclass of the type library.
pub(crate) struct Class {
    pub(crate) clsid: GUID,
    /// The version-independent ProgID; `<prog_id>.1` is the versioned one.
    pub(crate) prog_id: &'static str,
    pub(crate) description: &'static str,
    create: fn() -> IUnknown,
}

pub(crate) const LIBID: GUID = GUID::from_u128(0x5a1915df_39a9_4941_b731_774d81604796);

/// The dual interfaces, for the registry's Interface keys (marshalled by the type library).
pub(crate) const INTERFACES: [(GUID, &str); 5] = [
    (<interfaces::IDpopPrivateKey as Interface>::IID, "IDpopPrivateKey"),
    (<interfaces::IDpopHttp as Interface>::IID, "IDpopHttp"),
    (
        <interfaces::IDpopHttpResponse as Interface>::IID,
        "IDpopHttpResponse",
    ),
    (<interfaces::IDpopJsonObject as Interface>::IID, "IDpopJsonObject"),
    (<interfaces::IDpopTask as Interface>::IID, "IDpopTask"),
];

pub(crate) const CLASSES: [Class; 5] = [
    Class {
        clsid: GUID::from_u128(0x84bdfadb_4199_4df5_b1ae_67cffe9c343e),
        prog_id: "Dpop.PrivateKey",
        description: "libdpop PrivateKey",
        create: || key::PrivateKey::default().into(),
    },
    Class {
        clsid: GUID::from_u128(0xf8fb660c_1c63_4747_bf8f_417d60bc0488),
        prog_id: "Dpop.Http",
        description: "libdpop Http",
        create: || http::Http::default().into(),
    },
    Class {
        clsid: GUID::from_u128(0xab4adb90_bee2_42fb_88a1_25347c21265b),
        prog_id: "Dpop.HttpResponse",
        description: "libdpop HttpResponse",
        create: || response::HttpResponse::default().into(),
    },
    Class {
        clsid: GUID::from_u128(0xc623a53c_81ff_4bee_8993_59a30af7e04a),
        prog_id: "Dpop.JsonObject",
        description: "libdpop JsonObject",
        create: || json::JsonObject::default().into(),
    },
    Class {
        clsid: GUID::from_u128(0x19aef669_55e4_4547_8fa9_2d5c97588b8b),
        prog_id: "Dpop.Task",
        description: "libdpop Task",
        create: || task::Task::default().into(),
    },
];

/// Objects alive and `LockServer` locks held: the DLL may unload when both are zero.
static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);
static SERVER_LOCKS: AtomicUsize = AtomicUsize::new(0);

/// Counts one live object (a field of every object and class factory).
pub(crate) struct Live(());

impl Default for Live {
    fn default() -> Self {
        LIVE_OBJECTS.fetch_add(1, Ordering::SeqCst);
        Live(())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_OBJECTS.fetch_sub(1, Ordering::SeqCst);
    }
}

#[implement(IClassFactory)]
struct Factory {
    class: &'static Class,
    _live: Live,
}

impl IClassFactory_Impl for Factory_Impl {
    fn CreateInstance(
        &self,
        outer: Ref<IUnknown>,
        riid: *const GUID,
        object: *mut *mut c_void,
    ) -> windows_core::Result<()> {
        if object.is_null() || riid.is_null() {
            return Err(E_POINTER.into());
        }
        // SAFETY: `object` is not NULL and COM's contract makes it writable.
        unsafe { object.write(std::ptr::null_mut()) };
        if outer.is_some() {
            return Err(CLASS_E_NOAGGREGATION.into());
        }
        let created = catch_unwind(AssertUnwindSafe(self.class.create)).map_err(|_| E_UNEXPECTED)?;
        // SAFETY: `riid` and `object` are not NULL and valid as COM's contract states.
        unsafe { created.query(riid, object) }.ok()
    }

    fn LockServer(&self, lock: BOOL) -> windows_core::Result<()> {
        if lock.as_bool() {
            SERVER_LOCKS.fetch_add(1, Ordering::SeqCst);
        } else {
            let _ = SERVER_LOCKS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
        Ok(())
    }
}

/// COM asks for the class factory of one of our CLSIDs.
///
/// # Safety
/// COM's contract: `clsid` and `iid` point to GUIDs, `object` to a writable pointer.
#[no_mangle]
pub unsafe extern "system" fn DllGetClassObject(
    clsid: *const GUID,
    iid: *const GUID,
    object: *mut *mut c_void,
) -> HRESULT {
    if clsid.is_null() || iid.is_null() || object.is_null() {
        return E_POINTER;
    }
    // SAFETY: `object` is not NULL and writable (this function's contract).
    unsafe { object.write(std::ptr::null_mut()) };
    // SAFETY: `clsid` is not NULL and points to a GUID (this function's contract).
    let clsid = unsafe { *clsid };
    let Some(class) = CLASSES.iter().find(|c| c.clsid == clsid) else {
        return CLASS_E_CLASSNOTAVAILABLE;
    };
    let factory = catch_unwind(|| -> IClassFactory {
        Factory {
            class,
            _live: Live::default(),
        }
        .into()
    });
    match factory {
        // SAFETY: `iid` and `object` are valid (this function's contract).
        Ok(factory) => unsafe { factory.query(iid, object) },
        Err(_) => E_NOINTERFACE,
    }
}

/// Whether COM may unload the DLL: when no object is alive, no lock is held and none of
/// libdpop's own threads (the task workers, which end after a while without work) runs.
#[no_mangle]
pub extern "system" fn DllCanUnloadNow() -> HRESULT {
    if LIVE_OBJECTS.load(Ordering::SeqCst) == 0
        && SERVER_LOCKS.load(Ordering::SeqCst) == 0
        && dpop_core::background_threads() == 0
    {
        S_OK
    } else {
        S_FALSE
    }
}
