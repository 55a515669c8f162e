//! The C ABI: one file per C object over the safe core, plus the boundary helpers.
//!
//! Every export catches panics, checks its pointers for NULL and its strings for UTF-8, and
//! reports failures as a status code with a message (per handle and per thread). No protocol
//! logic lives here.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
// The exports are C entry points: their pointer contracts are stated in the header, and the
// bodies check every pointer for NULL inside `unsafe` blocks with a SAFETY line.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod boundary;
pub mod error;
pub mod http;
pub mod key;
pub mod proof;
pub mod response;
pub mod version;
