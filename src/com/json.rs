//! `Dpop.JsonObject`: the part of Chilkat's `JsonObject` that builds the AuthToken settings,
//! so that a script moving from Chilkat keeps its lines.

use super::dispatch::{
    dispatch_from_type_library, flag, get, last_error_text, last_method_success, method, text, Failure,
};
use super::interfaces::{IDpopJsonObject, IDpopJsonObject_Impl, InBstr};
use super::Live;
use crate::records::Records;
use parking_lot::Mutex;
use serde_json::Value;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows_core::{implement, BSTR, HRESULT};

/// A flat JSON object whose members keep the order they were added in.
#[implement(IDpopJsonObject)]
#[derive(Default)]
pub(crate) struct JsonObject {
    members: Mutex<Vec<(String, Value)>>,
    records: Records,
    _live: Live,
}

impl JsonObject {
    fn update(
        &self,
        name: &str,
        out: *mut VARIANT_BOOL,
        member: &InBstr,
        value: impl FnOnce() -> super::dispatch::Outcome<Value>,
    ) -> HRESULT {
        method(&self.records, name, out, || {
            let member = text(member, "name")?;
            if member.is_empty() {
                return Err("the member name is empty".into());
            }
            let value = value()?;
            let mut members = self.members.lock();
            match members.iter_mut().find(|(n, _)| *n == member) {
                Some((_, slot)) => *slot = value,
                None => members.push((member, value)),
            }
            Ok(true)
        })
    }
}

dispatch_from_type_library!(JsonObject_Impl, IDpopJsonObject);

impl IDpopJsonObject_Impl for JsonObject_Impl {
    unsafe fn UpdateString(&self, name: InBstr, value: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        self.update("UpdateString", out, &name, || {
            Ok(Value::String(text(&value, "value")?))
        })
    }

    unsafe fn UpdateInt(&self, name: InBstr, value: i32, out: *mut VARIANT_BOOL) -> HRESULT {
        self.update("UpdateInt", out, &name, || Ok(Value::from(value)))
    }

    unsafe fn UpdateBool(&self, name: InBstr, value: VARIANT_BOOL, out: *mut VARIANT_BOOL) -> HRESULT {
        self.update("UpdateBool", out, &name, || Ok(Value::Bool(flag(value))))
    }

    unsafe fn Load(&self, json: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "Load", out, || {
            let parsed: Value = serde_json::from_str(&text(&json, "json")?)
                .map_err(|e| Failure(format!("the text is not valid JSON: {e}")))?;
            let Value::Object(map) = parsed else {
                return Err("the text is not a JSON object".into());
            };
            *self.members.lock() = map.into_iter().collect();
            Ok(true)
        })
    }

    unsafe fn StringOf(&self, name: InBstr, out: *mut BSTR) -> HRESULT {
        method(&self.records, "StringOf", out, || {
            let name = text(&name, "name")?;
            let members = self.members.lock();
            match members.iter().find(|(n, _)| *n == name).map(|(_, v)| v) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Ok(other.to_string()),
                None => Err(Failure(format!("there is no member '{name}'"))),
            }
        })
    }

    unsafe fn Delete(&self, name: InBstr, out: *mut VARIANT_BOOL) -> HRESULT {
        method(&self.records, "Delete", out, || {
            let name = text(&name, "name")?;
            let mut members = self.members.lock();
            let before = members.len();
            members.retain(|(n, _)| *n != name);
            if members.len() == before {
                return Err(Failure(format!("there is no member '{name}'")));
            }
            Ok(true)
        })
    }

    unsafe fn Emit(&self, out: *mut BSTR) -> HRESULT {
        get(out, || {
            let members = self.members.lock();
            let fields: Vec<String> = members
                .iter()
                .map(|(name, value)| format!("{}:{value}", Value::from(name.as_str())))
                .collect();
            format!("{{{}}}", fields.join(","))
        })
    }

    unsafe fn get_Size(&self, out: *mut i32) -> HRESULT {
        get(out, || {
            i32::try_from(self.members.lock().len()).unwrap_or(i32::MAX)
        })
    }

    unsafe fn get_LastErrorText(&self, out: *mut BSTR) -> HRESULT {
        get(out, || last_error_text(&self.records))
    }

    unsafe fn get_LastMethodSuccess(&self, out: *mut VARIANT_BOOL) -> HRESULT {
        get(out, || last_method_success(&self.records))
    }
}
