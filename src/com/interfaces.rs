//! The COM interfaces of `dpop.idl`, method for method in vtable order (the IDL's order:
//! `IDispatch`'s four methods, then the members as declared, a property's put before its
//! get). The type library drives `IDispatch` through these vtables, so the two must agree;
//! `tests/com/check_typelib.py` checks the compiled type library (dumped by
//! `tests/com/typelib_dump.c` under Wine) against the IDL, vtable slot by slot.
//!
//! Parameters are the ABI types: `[in] BSTR` and `[in] VARIANT` arrive in `ManuallyDrop` (the
//! caller owns them), `[out, retval]` results are raw pointers the callee writes once.
#![allow(non_snake_case)]

use std::ffi::c_void;
use std::mem::ManuallyDrop;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows::Win32::System::Com::{IDispatch, IDispatch_Impl, IDispatch_Vtbl};
use windows::Win32::System::Variant::VARIANT;
use windows_core::{interface, BSTR, HRESULT};

/// An `[in] BSTR`: borrowed from the caller, never freed here.
pub(crate) type InBstr = ManuallyDrop<BSTR>;
/// An `[in] VARIANT` by value: the caller's, never cleared here (the `windows` crate's
/// `VARIANT` clears itself when dropped, which would release the caller's object).
pub(crate) type InVariant = ManuallyDrop<VARIANT>;

#[interface("4703c0ea-4c38-43b4-a530-f0b92ed6d7d5")]
pub(crate) unsafe trait IDpopPrivateKey: IDispatch {
    fn LoadAnyFormatFile(&self, path: InBstr, password: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn LoadPem(&self, pem: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn LoadEncryptedPem(&self, pem: InBstr, password: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn LoadPemFile(&self, path: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn LoadEncryptedPemFile(&self, path: InBstr, password: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn LoadJwk(&self, jwk: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn GenerateKey(&self, algorithm: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn GetJwk(&self, jwk: *mut BSTR) -> HRESULT;
    fn GetPublicJwk(&self, jwk: *mut BSTR) -> HRESULT;
    fn GetJwkThumbprint(&self, hash_alg: InBstr, thumbprint: *mut BSTR) -> HRESULT;
    fn GetPkcs8Pem(&self, pem: *mut BSTR) -> HRESULT;
    fn GetPkcs8EncryptedPem(&self, password: InBstr, pem: *mut BSTR) -> HRESULT;
    fn SavePkcs8PemFile(&self, path: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn SavePkcs8EncryptedPemFile(
        &self,
        password: InBstr,
        path: InBstr,
        success: *mut VARIANT_BOOL,
    ) -> HRESULT;
    fn CreateProof(
        &self,
        method: InBstr,
        url: InBstr,
        access_token: InBstr,
        nonce: InBstr,
        extra_claims: InBstr,
        proof: *mut BSTR,
    ) -> HRESULT;
    fn get_KeyType(&self, key_type: *mut BSTR) -> HRESULT;
    fn get_Alg(&self, alg: *mut BSTR) -> HRESULT;
    fn get_BitLength(&self, bits: *mut i32) -> HRESULT;
    fn get_LastErrorText(&self, text: *mut BSTR) -> HRESULT;
    fn get_LastMethodSuccess(&self, success: *mut VARIANT_BOOL) -> HRESULT;
}

#[interface("dca06eaf-403c-47b8-9069-c63328dc8336")]
pub(crate) unsafe trait IDpopHttpResponse: IDispatch {
    fn get_StatusCode(&self, status: *mut i32) -> HRESULT;
    fn get_BodyStr(&self, body: *mut BSTR) -> HRESULT;
    fn get_Header(&self, header: *mut BSTR) -> HRESULT;
    fn GetHeaderField(&self, name: InBstr, value: *mut BSTR) -> HRESULT;
    fn get_NumHeaderFields(&self, count: *mut i32) -> HRESULT;
    fn GetHeaderName(&self, index: i32, name: *mut BSTR) -> HRESULT;
    fn GetHeaderValue(&self, index: i32, value: *mut BSTR) -> HRESULT;
    fn get_LastErrorText(&self, text: *mut BSTR) -> HRESULT;
    fn get_LastMethodSuccess(&self, success: *mut VARIANT_BOOL) -> HRESULT;
}

#[interface("31b919db-1d89-4e3d-9b4e-6d6603124d21")]
pub(crate) unsafe trait IDpopHttp: IDispatch {
    fn SetDPoPKey(&self, private_key: InVariant, success: *mut VARIANT_BOOL) -> HRESULT;
    fn put_AuthToken(&self, json: InBstr) -> HRESULT;
    fn get_AuthToken(&self, json: *mut BSTR) -> HRESULT;
    fn put_SessionLogFilename(&self, path: InBstr) -> HRESULT;
    fn get_SessionLogFilename(&self, path: *mut BSTR) -> HRESULT;
    fn QuickGetStr(&self, url: InBstr, body: *mut BSTR) -> HRESULT;
    fn QuickRequest(&self, verb: InBstr, url: InBstr, response: *mut *mut c_void) -> HRESULT;
    fn HttpStr(
        &self,
        verb: InBstr,
        url: InBstr,
        body: InBstr,
        charset: InBstr,
        content_type: InBstr,
        response: *mut *mut c_void,
    ) -> HRESULT;
    fn SetRequestHeader(&self, name: InBstr, value: InBstr) -> HRESULT;
    fn RemoveRequestHeader(&self, name: InBstr) -> HRESULT;
    fn ClearHeaders(&self) -> HRESULT;
    fn put_ConnectTimeout(&self, seconds: i32) -> HRESULT;
    fn get_ConnectTimeout(&self, seconds: *mut i32) -> HRESULT;
    fn put_ReadTimeout(&self, seconds: i32) -> HRESULT;
    fn get_ReadTimeout(&self, seconds: *mut i32) -> HRESULT;
    fn put_UserAgent(&self, user_agent: InBstr) -> HRESULT;
    fn get_UserAgent(&self, user_agent: *mut BSTR) -> HRESULT;
    fn put_ProxyDomain(&self, domain: InBstr) -> HRESULT;
    fn get_ProxyDomain(&self, domain: *mut BSTR) -> HRESULT;
    fn put_ProxyPort(&self, port: i32) -> HRESULT;
    fn get_ProxyPort(&self, port: *mut i32) -> HRESULT;
    fn put_ProxyLogin(&self, login: InBstr) -> HRESULT;
    fn get_ProxyLogin(&self, login: *mut BSTR) -> HRESULT;
    fn put_ProxyPassword(&self, password: InBstr) -> HRESULT;
    fn get_ProxyPassword(&self, password: *mut BSTR) -> HRESULT;
    fn put_CaFile(&self, path: InBstr) -> HRESULT;
    fn get_CaFile(&self, path: *mut BSTR) -> HRESULT;
    fn put_AcceptBearer(&self, accept: VARIANT_BOOL) -> HRESULT;
    fn get_AcceptBearer(&self, accept: *mut VARIANT_BOOL) -> HRESULT;
    fn put_RefreshMargin(&self, seconds: i32) -> HRESULT;
    fn get_RefreshMargin(&self, seconds: *mut i32) -> HRESULT;
    fn put_AllowInsecureHttp(&self, allow: VARIANT_BOOL) -> HRESULT;
    fn get_AllowInsecureHttp(&self, allow: *mut VARIANT_BOOL) -> HRESULT;
    fn put_MaxResponseSize(&self, bytes: i32) -> HRESULT;
    fn get_MaxResponseSize(&self, bytes: *mut i32) -> HRESULT;
    fn SetAccessToken(&self, token: InBstr, token_type: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn ClearToken(&self) -> HRESULT;
    fn get_TokenInfo(&self, json: *mut BSTR) -> HRESULT;
    fn get_LastStatus(&self, status: *mut i32) -> HRESULT;
    fn get_LastErrorText(&self, text: *mut BSTR) -> HRESULT;
    fn get_LastMethodSuccess(&self, success: *mut VARIANT_BOOL) -> HRESULT;
    fn put_RequestTimeout(&self, seconds: i32) -> HRESULT;
    fn get_RequestTimeout(&self, seconds: *mut i32) -> HRESULT;
    fn put_SystemRoots(&self, use_system: VARIANT_BOOL) -> HRESULT;
    fn get_SystemRoots(&self, use_system: *mut VARIANT_BOOL) -> HRESULT;
    fn QuickGetStrAsync(&self, url: InBstr, task: *mut *mut c_void) -> HRESULT;
    fn HttpStrAsync(
        &self,
        verb: InBstr,
        url: InBstr,
        body: InBstr,
        charset: InBstr,
        content_type: InBstr,
        task: *mut *mut c_void,
    ) -> HRESULT;
    fn SignIn(&self, timeout_ms: i32, signed_in: *mut VARIANT_BOOL) -> HRESULT;
    fn SignInStart(&self, open_browser: VARIANT_BOOL, success: *mut VARIANT_BOOL) -> HRESULT;
    fn get_SignInUrl(&self, url: *mut BSTR) -> HRESULT;
    fn SignInWait(&self, timeout_ms: i32, signed_in: *mut VARIANT_BOOL) -> HRESULT;
    fn SignInCancel(&self) -> HRESULT;
    fn SaveState(&self, path: InBstr, passphrase: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn LoadState(&self, path: InBstr, passphrase: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn ClearState(&self, path: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn QuickRequestAsync(&self, verb: InBstr, url: InBstr, task: *mut *mut c_void) -> HRESULT;
}

#[interface("091446aa-eafa-4eca-8f9f-28a50c4f02bb")]
pub(crate) unsafe trait IDpopJsonObject: IDispatch {
    fn UpdateString(&self, name: InBstr, value: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn UpdateInt(&self, name: InBstr, value: i32, success: *mut VARIANT_BOOL) -> HRESULT;
    fn UpdateBool(&self, name: InBstr, value: VARIANT_BOOL, success: *mut VARIANT_BOOL) -> HRESULT;
    fn Load(&self, json: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn StringOf(&self, name: InBstr, value: *mut BSTR) -> HRESULT;
    fn Delete(&self, name: InBstr, success: *mut VARIANT_BOOL) -> HRESULT;
    fn Emit(&self, json: *mut BSTR) -> HRESULT;
    fn get_Size(&self, count: *mut i32) -> HRESULT;
    fn get_LastErrorText(&self, text: *mut BSTR) -> HRESULT;
    fn get_LastMethodSuccess(&self, success: *mut VARIANT_BOOL) -> HRESULT;
}

#[interface("dba15797-5a39-4158-995a-77d5511541dc")]
pub(crate) unsafe trait IDpopTask: IDispatch {
    fn Run(&self, success: *mut VARIANT_BOOL) -> HRESULT;
    fn RunSynchronously(&self, success: *mut VARIANT_BOOL) -> HRESULT;
    fn Wait(&self, max_wait_ms: i32, finished: *mut VARIANT_BOOL) -> HRESULT;
    fn Cancel(&self, success: *mut VARIANT_BOOL) -> HRESULT;
    fn get_Status(&self, status: *mut BSTR) -> HRESULT;
    fn get_StatusInt(&self, status: *mut i32) -> HRESULT;
    fn get_Finished(&self, finished: *mut VARIANT_BOOL) -> HRESULT;
    fn get_Live(&self, live: *mut VARIANT_BOOL) -> HRESULT;
    fn get_Inert(&self, inert: *mut VARIANT_BOOL) -> HRESULT;
    fn get_TaskSuccess(&self, success: *mut VARIANT_BOOL) -> HRESULT;
    fn get_ResultErrorText(&self, text: *mut BSTR) -> HRESULT;
    fn GetResultString(&self, body: *mut BSTR) -> HRESULT;
    fn GetResultResponse(&self, response: *mut *mut c_void) -> HRESULT;
    fn get_LastErrorText(&self, text: *mut BSTR) -> HRESULT;
    fn get_LastMethodSuccess(&self, success: *mut VARIANT_BOOL) -> HRESULT;
}
