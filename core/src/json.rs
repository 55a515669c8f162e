//! JSON that may hold secrets (client secrets, tokens, a JWK's `d`): parsed into a tree whose
//! strings are zeroized when it is dropped. (serde_json's own scratch space while parsing is
//! outside libdpop's reach.)

use serde_json::Value;
use std::ops::Deref;
use zeroize::Zeroize;

/// A parsed JSON value whose strings are wiped on drop.
pub(crate) struct SecretJson(Value);

impl SecretJson {
    pub(crate) fn new(value: Value) -> Self {
        Self(value)
    }
}

impl Deref for SecretJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl Drop for SecretJson {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Zeroizes every string (and object key) of `value`.
pub(crate) fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => {
            for (_, v) in map.iter_mut() {
                wipe(v);
            }
        }
        _ => {}
    }
}
