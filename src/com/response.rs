//! `Dpop.HttpResponse`: Chilkat's `HttpResponse` over a received [`Response`].

use super::dispatch::{
    dispatch_from_type_library, get, last_error_text, last_method_success, method, text, Failure,
};
use super::interfaces::{IDpopHttpResponse, IDpopHttpResponse_Impl, InBstr};
use super::Live;
use crate::records::Records;
use dpop_core::Response;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows_core::{implement, BSTR, HRESULT};

/// A response; one made with `CreateObject("Dpop.HttpResponse")` is empty (status 0). Immutable,
/// so it may be read from several threads at once.
#[implement(IDpopHttpResponse)]
#[derive(Default)]
pub(crate) struct HttpResponse {
    response: Option<Response>,
    records: Records,
    _live: Live,
}

impl From<Response> for HttpResponse {
    fn from(response: Response) -> Self {
        Self {
            response: Some(response),
            ..Self::default()
        }
    }
}

impl HttpResponse {
    fn headers(&self) -> &[(String, String)] {
        self.response.as_ref().map_or(&[], Response::headers)
    }

    /// Header line `index` (0-based), if there is one.
    fn line(&self, index: i32) -> Option<&(String, String)> {
        usize::try_from(index).ok().and_then(|i| self.headers().get(i))
    }
}

dispatch_from_type_library!(HttpResponse_Impl, IDpopHttpResponse);

impl IDpopHttpResponse_Impl for HttpResponse_Impl {
    unsafe fn get_StatusCode(&self, out: *mut i32) -> HRESULT {
        get(out, || {
            self.response.as_ref().map_or(0, |r| i32::from(r.status()))
        })
    }

    unsafe fn get_BodyStr(&self, out: *mut BSTR) -> HRESULT {
        get(out, || {
            self.response
                .as_ref()
                .map_or_else(String::new, |r| r.body_text().into_owned())
        })
    }

    unsafe fn get_Header(&self, out: *mut BSTR) -> HRESULT {
        get(out, || {
            self.response
                .as_ref()
                .map_or_else(String::new, Response::headers_text)
        })
    }

    unsafe fn GetHeaderField(&self, name: InBstr, out: *mut BSTR) -> HRESULT {
        method(&self.records, "GetHeaderField", out, || {
            let name = text(&name, "name")?;
            self.response
                .as_ref()
                .and_then(|r| r.header(&name))
                .ok_or_else(|| Failure(format!("the response has no '{name}' header")))
        })
    }

    unsafe fn get_NumHeaderFields(&self, out: *mut i32) -> HRESULT {
        get(out, || i32::try_from(self.headers().len()).unwrap_or(i32::MAX))
    }

    unsafe fn GetHeaderName(&self, index: i32, out: *mut BSTR) -> HRESULT {
        method(&self.records, "GetHeaderName", out, || {
            self.line(index)
                .map(|(name, _)| name.clone())
                .ok_or_else(|| Failure(format!("there is no header line {index}")))
        })
    }

    unsafe fn GetHeaderValue(&self, index: i32, out: *mut BSTR) -> HRESULT {
        method(&self.records, "GetHeaderValue", out, || {
            self.line(index)
                .map(|(_, value)| value.clone())
                .ok_or_else(|| Failure(format!("there is no header line {index}")))
        })
    }

    unsafe fn get_LastErrorText(&self, out: *mut BSTR) -> HRESULT {
        get(out, || last_error_text(&self.records))
    }

    unsafe fn get_LastMethodSuccess(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || last_method_success(&self.records))
    }
}
