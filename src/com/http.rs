//! `Dpop.Http`: Chilkat's `Http` over the core's [`Client`].

use super::dispatch::{
    action, dispatch_from_type_library, flag, get, last_error_text, last_method_success, method, optional,
    text, Failure, Object, Outcome, Retval,
};
use super::interfaces::{IDpopHttp, IDpopHttpResponse, IDpopHttp_Impl, IDpopTask, InBstr, InVariant};
use super::key::PrivateKey;
use super::response::HttpResponse;
use super::task::Task;
use super::Live;
use crate::records::Records;
use dpop_core::{Client, Response};
use parking_lot::Mutex;
use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows::Win32::System::Com::IDispatch;
use windows::Win32::System::Variant::{VARIANT, VT_BYREF, VT_DISPATCH, VT_UNKNOWN, VT_VARIANT};
use windows_core::{implement, IUnknown, Interface, BSTR, HRESULT};

// The desktop members' bodies (sign-in, saved state), in their own file.
#[path = "http_desktop.rs"]
mod desktop;

/// An HTTP object with automatic DPoP. May be used from several threads at once, like the C
/// `dpop_http`; `LastStatus`, `LastErrorText` and `LastMethodSuccess` belong to the calling
/// thread.
#[implement(IDpopHttp)]
#[derive(Default)]
pub(crate) struct Http {
    /// Shared with the object's tasks, which keep it until they finish.
    client: Arc<Client>,
    records: Records,
    /// Headers added with `SetRequestHeader`, sent with every request.
    headers: Mutex<Vec<(String, String)>>,
    proxy: Mutex<Proxy>,
    _live: Live,
}

/// Chilkat's proxy settings, of which the client gets one URL.
#[derive(Clone, Default)]
struct Proxy {
    domain: String,
    port: i32,
    login: String,
    password: zeroize::Zeroizing<String>,
}

impl Proxy {
    /// `http://login:password@domain:port`, or `None` without a domain.
    fn url(&self) -> Option<zeroize::Zeroizing<String>> {
        if self.domain.is_empty() {
            return None;
        }
        let port = if self.port > 0 { self.port } else { 8080 };
        let user = if self.login.is_empty() {
            String::new()
        } else {
            format!(
                "{}:{}@",
                percent_encode(&self.login).as_str(),
                percent_encode(&self.password).as_str()
            )
        };
        Some(zeroize::Zeroizing::new(format!(
            "http://{user}{}:{port}",
            self.domain
        )))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for URL user info).
fn percent_encode(s: &str) -> zeroize::Zeroizing<String> {
    let mut out = zeroize::Zeroizing::new(String::with_capacity(s.len()));
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Http {
    /// Sends one request with the object's headers, recording its status for the thread.
    fn send(&self, method: &str, url: &str, extra: &[(&str, &str)], body: &[u8]) -> Outcome<Response> {
        let stored = self.headers.lock().clone();
        let mut headers: Vec<(&str, &str)> = stored.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        headers.extend_from_slice(extra);
        let outcome = self.client.request(method, url, &headers, body);
        let status = outcome.as_ref().map_or(0, |r| i32::from(r.status()));
        let note = outcome.as_ref().ok().and_then(|r| r.diagnostic());
        self.records.update(|record| {
            record.status = status;
            // LastErrorText explains a rejected proof, as Chilkat's explains what happened.
            record.note = note.map(str::to_string);
        });
        Ok(outcome?)
    }

    fn respond(
        &self,
        name: &str,
        out: *mut *mut c_void,
        send: impl FnOnce() -> Outcome<Response>,
    ) -> HRESULT {
        method(&self.records, name, out, || {
            let response: IDpopHttpResponse = HttpResponse::from(send()?).into();
            let response: IDispatch = response.cast().map_err(|e| Failure(format!("{e}")))?;
            Ok(Object(Some(response)))
        })
    }

    /// `...Async`: a loaded `Dpop.Task` for the request `prepare` describes (verb, URL, a
    /// `Content-Type`, body), with the object's headers as they are now.
    fn task(
        &self,
        name: &'static str,
        out: *mut *mut c_void,
        prepare: impl FnOnce() -> Outcome<Request>,
    ) -> HRESULT {
        method(&self.records, name, out, || {
            let request = prepare()?;
            let stored = self.headers.lock().clone();
            let mut headers: Vec<(&str, &str)> =
                stored.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            headers.extend(request.content_type.as_deref().map(|t| ("Content-Type", t)));
            let task = self
                .client
                .request_task(&request.verb, &request.url, &headers, &request.body);
            let task: IDpopTask = Task::loaded(task, name).into();
            let task: IDispatch = task.cast().map_err(|e| Failure(format!("{e}")))?;
            Ok(Object(Some(task)))
        })
    }

    fn set_proxy(&self, name: &str, change: impl FnOnce(&mut Proxy) -> Outcome<()>) -> HRESULT {
        action(&self.records, name, || {
            let mut proxy = self.proxy.lock();
            let mut changed = proxy.clone();
            change(&mut changed)?;
            self.client
                .set_proxy(changed.url().as_deref().map(String::as_str))?;
            *proxy = changed;
            Ok(())
        })
    }

    fn setting<T: Retval>(
        &self,
        out: *mut T::Abi,
        read: impl FnOnce(dpop_core::ClientSettings) -> T,
    ) -> HRESULT {
        get(out, || read(self.client.settings()))
    }
}

/// A request as `HttpStr` makes it.
struct Request {
    verb: String,
    url: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// `HttpStr`'s arguments: the body as UTF-8 (the only charset), the content type with
/// `charset=utf-8` when a charset was given.
fn http_str_request(
    verb: &InBstr,
    url: &InBstr,
    body: &InBstr,
    charset: &InBstr,
    content_type: &InBstr,
) -> Outcome<Request> {
    let charset = optional(charset, "charset")?;
    if charset
        .as_deref()
        .is_some_and(|c| !c.eq_ignore_ascii_case("utf-8") && !c.eq_ignore_ascii_case("utf8"))
    {
        return Err("only the utf-8 charset is supported".into());
    }
    let content_type = optional(content_type, "contentType")?.map(|t| {
        if charset.is_some() && !t.to_ascii_lowercase().contains("charset=") {
            format!("{t}; charset=utf-8")
        } else {
            t
        }
    });
    Ok(Request {
        body: text(body, "bodyStr")?.into_bytes(),
        verb: text(verb, "verb")?,
        url: text(url, "url")?,
        content_type,
    })
}

/// The `Dpop.PrivateKey` inside a VARIANT (as scripts and DataFlex pass objects), if it is one.
fn private_key_of(value: &VARIANT) -> Outcome<std::sync::Arc<dpop_core::Key>> {
    let not_a_key = || Failure::from("the argument is not a Dpop.PrivateKey object");
    // SAFETY: `vt` says which member of the union is set (the VARIANT contract); only the
    // member it names is read, and a BYREF pointer is followed only when not NULL.
    let unknown: IUnknown = unsafe {
        let mut inner = &value.Anonymous.Anonymous;
        if inner.vt == (VT_BYREF | VT_VARIANT) {
            let target = inner.Anonymous.pvarVal;
            if target.is_null() {
                return Err(not_a_key());
            }
            inner = &(*target).Anonymous.Anonymous;
        }
        let vt = inner.vt;
        if vt == VT_DISPATCH {
            inner.Anonymous.pdispVal.as_ref().ok_or_else(not_a_key)?.cast()
        } else if vt == VT_UNKNOWN {
            inner.Anonymous.punkVal.as_ref().ok_or_else(not_a_key)?.cast()
        } else if vt == (VT_BYREF | VT_DISPATCH) {
            let target = inner.Anonymous.ppdispVal;
            if target.is_null() {
                return Err(not_a_key());
            }
            (*target).as_ref().ok_or_else(not_a_key)?.cast()
        } else {
            return Err(not_a_key());
        }
    }
    .map_err(|_| not_a_key())?;
    let key = unknown.cast_object_ref::<PrivateKey>().map_err(|_| not_a_key())?;
    key.current()
}

fn seconds(value: i32, what: &str) -> Outcome<Duration> {
    u64::try_from(value)
        .ok()
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| Failure(format!("{what} must be at least 1 second")))
}

fn whole_seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

dispatch_from_type_library!(Http_Impl, IDpopHttp);

impl IDpopHttp_Impl for Http_Impl {
    unsafe fn SetDPoPKey(&self, private_key: InVariant, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "SetDPoPKey", out, || {
            self.client.set_key(private_key_of(&private_key)?);
            Ok(true)
        })
    }

    unsafe fn put_AuthToken(&self, json: InBstr) -> HRESULT {
        action(&self.records, "AuthToken", || {
            Ok(self.client.set_auth_token(&text(&json, "json")?)?)
        })
    }

    unsafe fn get_AuthToken(&self, out: *mut BSTR) -> HRESULT {
        self.setting(out, |s| s.auth_token.unwrap_or_default())
    }

    unsafe fn put_SessionLogFilename(&self, path: InBstr) -> HRESULT {
        action(&self.records, "SessionLogFilename", || {
            let path = optional(&path, "path")?;
            Ok(self.client.set_session_log(path.as_deref().map(Path::new))?)
        })
    }

    unsafe fn get_SessionLogFilename(&self, out: *mut BSTR) -> HRESULT {
        self.setting(out, |s| {
            s.session_log.map(|p| p.display().to_string()).unwrap_or_default()
        })
    }

    unsafe fn QuickGetStr(&self, url: InBstr, out: *mut BSTR) -> HRESULT {
        method(&self.records, "QuickGetStr", out, || {
            let response = self.send("GET", &text(&url, "url")?, &[], b"")?;
            Ok(response.body_text().into_owned())
        })
    }

    unsafe fn QuickRequest(&self, verb: InBstr, url: InBstr, out: *mut *mut c_void) -> HRESULT {
        self.respond("QuickRequest", out, || {
            self.send(&text(&verb, "verb")?, &text(&url, "url")?, &[], b"")
        })
    }

    unsafe fn HttpStr(
        &self,
        verb: InBstr,
        url: InBstr,
        body: InBstr,
        charset: InBstr,
        content_type: InBstr,
        out: *mut *mut c_void,
    ) -> HRESULT {
        self.respond("HttpStr", out, || {
            let request = http_str_request(&verb, &url, &body, &charset, &content_type)?;
            let extra: Vec<(&str, &str)> = request
                .content_type
                .iter()
                .map(|t| ("Content-Type", t.as_str()))
                .collect();
            self.send(&request.verb, &request.url, &extra, &request.body)
        })
    }

    unsafe fn SetRequestHeader(&self, name: InBstr, value: InBstr) -> HRESULT {
        action(&self.records, "SetRequestHeader", || {
            let name = text(&name, "name")?;
            let value = text(&value, "value")?;
            let mut headers = self.headers.lock();
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            if !value.is_empty() {
                headers.push((name, value));
            }
            Ok(())
        })
    }

    unsafe fn RemoveRequestHeader(&self, name: InBstr) -> HRESULT {
        action(&self.records, "RemoveRequestHeader", || {
            let name = text(&name, "name")?;
            self.headers
                .lock()
                .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            Ok(())
        })
    }

    unsafe fn ClearHeaders(&self) -> HRESULT {
        action(&self.records, "ClearHeaders", || {
            self.headers.lock().clear();
            Ok(())
        })
    }

    unsafe fn put_ConnectTimeout(&self, value: i32) -> HRESULT {
        action(&self.records, "ConnectTimeout", || {
            Ok(self
                .client
                .set_connect_timeout(seconds(value, "ConnectTimeout")?)?)
        })
    }

    unsafe fn get_ConnectTimeout(&self, out: *mut i32) -> HRESULT {
        self.setting(out, |s| whole_seconds(s.connect_timeout))
    }

    unsafe fn put_ReadTimeout(&self, value: i32) -> HRESULT {
        action(&self.records, "ReadTimeout", || {
            Ok(self.client.set_read_timeout(seconds(value, "ReadTimeout")?)?)
        })
    }

    unsafe fn get_ReadTimeout(&self, out: *mut i32) -> HRESULT {
        self.setting(out, |s| whole_seconds(s.read_timeout))
    }

    unsafe fn put_UserAgent(&self, value: InBstr) -> HRESULT {
        action(&self.records, "UserAgent", || {
            Ok(self.client.set_user_agent(&text(&value, "userAgent")?)?)
        })
    }

    unsafe fn get_UserAgent(&self, out: *mut BSTR) -> HRESULT {
        self.setting(out, |s| s.user_agent)
    }

    unsafe fn put_ProxyDomain(&self, value: InBstr) -> HRESULT {
        self.set_proxy("ProxyDomain", |p| {
            p.domain = text(&value, "domain")?;
            Ok(())
        })
    }

    unsafe fn get_ProxyDomain(&self, out: *mut BSTR) -> HRESULT {
        get(out, || self.proxy.lock().domain.clone())
    }

    unsafe fn put_ProxyPort(&self, value: i32) -> HRESULT {
        self.set_proxy("ProxyPort", |p| {
            if !(1..=65535).contains(&value) {
                return Err(format!("the proxy port {value} is not between 1 and 65535").into());
            }
            p.port = value;
            Ok(())
        })
    }

    unsafe fn get_ProxyPort(&self, out: *mut i32) -> HRESULT {
        get(out, || match self.proxy.lock().port {
            0 => 8080,
            port => port,
        })
    }

    unsafe fn put_ProxyLogin(&self, value: InBstr) -> HRESULT {
        self.set_proxy("ProxyLogin", |p| {
            p.login = text(&value, "login")?;
            Ok(())
        })
    }

    unsafe fn get_ProxyLogin(&self, out: *mut BSTR) -> HRESULT {
        get(out, || self.proxy.lock().login.clone())
    }

    unsafe fn put_ProxyPassword(&self, value: InBstr) -> HRESULT {
        self.set_proxy("ProxyPassword", |p| {
            p.password = zeroize::Zeroizing::new(text(&value, "password")?);
            Ok(())
        })
    }

    unsafe fn get_ProxyPassword(&self, out: *mut BSTR) -> HRESULT {
        get(out, String::new)
    }

    unsafe fn put_CaFile(&self, value: InBstr) -> HRESULT {
        action(&self.records, "CaFile", || {
            let path = optional(&value, "path")?;
            Ok(self.client.set_ca_file(path.as_deref().map(Path::new))?)
        })
    }

    unsafe fn get_CaFile(&self, out: *mut BSTR) -> HRESULT {
        self.setting(out, |s| {
            s.ca_file.map(|p| p.display().to_string()).unwrap_or_default()
        })
    }

    unsafe fn put_AcceptBearer(&self, value: VARIANT_BOOL) -> HRESULT {
        action(&self.records, "AcceptBearer", || {
            self.client.set_accept_bearer(flag(value));
            Ok(())
        })
    }

    unsafe fn get_AcceptBearer(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        self.setting(out, |s| s.accept_bearer)
    }

    unsafe fn put_RefreshMargin(&self, value: i32) -> HRESULT {
        action(&self.records, "RefreshMargin", || {
            let seconds =
                u64::try_from(value).map_err(|_| Failure::from("RefreshMargin cannot be negative"))?;
            self.client.set_refresh_margin(Duration::from_secs(seconds));
            Ok(())
        })
    }

    unsafe fn get_RefreshMargin(&self, out: *mut i32) -> HRESULT {
        self.setting(out, |s| whole_seconds(s.refresh_margin))
    }

    unsafe fn put_AllowInsecureHttp(&self, value: VARIANT_BOOL) -> HRESULT {
        action(&self.records, "AllowInsecureHttp", || {
            Ok(self.client.set_allow_insecure_http(flag(value))?)
        })
    }

    unsafe fn get_AllowInsecureHttp(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        self.setting(out, |s| s.allow_insecure_http)
    }

    unsafe fn put_MaxResponseSize(&self, value: i32) -> HRESULT {
        action(&self.records, "MaxResponseSize", || {
            let bytes =
                u64::try_from(value).map_err(|_| Failure::from("MaxResponseSize cannot be negative"))?;
            Ok(self.client.set_max_response_size(bytes)?)
        })
    }

    unsafe fn get_MaxResponseSize(&self, out: *mut i32) -> HRESULT {
        self.setting(out, |s| i32::try_from(s.max_response_size).unwrap_or(i32::MAX))
    }

    unsafe fn SetAccessToken(&self, token: InBstr, token_type: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "SetAccessToken", out, || {
            let token = optional(&token, "token")?;
            let token_type = optional(&token_type, "tokenType")?;
            self.client
                .set_access_token(token.as_deref(), token_type.as_deref())?;
            Ok(true)
        })
    }

    unsafe fn ClearToken(&self) -> HRESULT {
        action(&self.records, "ClearToken", || {
            self.client.clear_token();
            Ok(())
        })
    }

    unsafe fn get_TokenInfo(&self, out: *mut BSTR) -> HRESULT {
        get(out, || self.client.token_info().unwrap_or_default())
    }

    unsafe fn get_LastStatus(&self, out: *mut i32) -> HRESULT {
        get(out, || self.records.read(|r| r.map_or(0, |r| r.status)))
    }

    unsafe fn get_LastErrorText(&self, out: *mut BSTR) -> HRESULT {
        get(out, || last_error_text(&self.records))
    }

    unsafe fn get_LastMethodSuccess(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || last_method_success(&self.records))
    }

    unsafe fn put_RequestTimeout(&self, value: i32) -> HRESULT {
        action(&self.records, "RequestTimeout", || {
            Ok(self
                .client
                .set_request_timeout(seconds(value, "RequestTimeout")?)?)
        })
    }

    unsafe fn get_RequestTimeout(&self, out: *mut i32) -> HRESULT {
        self.setting(out, |s| whole_seconds(s.request_timeout))
    }

    unsafe fn put_SystemRoots(&self, value: VARIANT_BOOL) -> HRESULT {
        action(&self.records, "SystemRoots", || {
            Ok(self.client.set_system_roots(flag(value))?)
        })
    }

    unsafe fn get_SystemRoots(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        self.setting(out, |s| s.system_roots)
    }

    unsafe fn QuickGetStrAsync(&self, url: InBstr, out: *mut *mut c_void) -> HRESULT {
        self.task("QuickGetStrAsync", out, || {
            Ok(Request {
                verb: "GET".into(),
                url: text(&url, "url")?,
                content_type: None,
                body: Vec::new(),
            })
        })
    }

    unsafe fn HttpStrAsync(
        &self,
        verb: InBstr,
        url: InBstr,
        body: InBstr,
        charset: InBstr,
        content_type: InBstr,
        out: *mut *mut c_void,
    ) -> HRESULT {
        self.task("HttpStrAsync", out, || {
            http_str_request(&verb, &url, &body, &charset, &content_type)
        })
    }

    // The desktop members (http_desktop.rs).

    unsafe fn SignIn(&self, timeout_ms: i32, out: *mut VARIANT_BOOL) -> HRESULT {
        self.sign_in("SignIn", Some(true), timeout_ms, out)
    }

    unsafe fn SignInStart(&self, open_browser: VARIANT_BOOL, out: *mut VARIANT_BOOL) -> HRESULT {
        self.sign_in_start(flag(open_browser), out)
    }

    unsafe fn get_SignInUrl(&self, out: *mut BSTR) -> HRESULT {
        self.sign_in_url(out)
    }

    unsafe fn SignInWait(&self, timeout_ms: i32, out: *mut VARIANT_BOOL) -> HRESULT {
        self.sign_in("SignInWait", None, timeout_ms, out)
    }

    unsafe fn SignInCancel(&self) -> HRESULT {
        self.sign_in_cancel()
    }

    unsafe fn SaveState(&self, path: InBstr, passphrase: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.state("SaveState", false, &path, &passphrase, out)
    }

    unsafe fn LoadState(&self, path: InBstr, passphrase: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.state("LoadState", true, &path, &passphrase, out)
    }

    unsafe fn ClearState(&self, path: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.clear_state(&path, out)
    }

    // Appended after the desktop members: a member's place in the interface is its vtable slot.

    unsafe fn QuickRequestAsync(&self, verb: InBstr, url: InBstr, out: *mut *mut c_void) -> HRESULT {
        self.task("QuickRequestAsync", out, || {
            Ok(Request {
                verb: text(&verb, "verb")?,
                url: text(&url, "url")?,
                content_type: None,
                body: Vec::new(),
            })
        })
    }
}
