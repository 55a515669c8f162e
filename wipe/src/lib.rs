//! Zeroing the memory of secret values whose types cannot zeroize themselves.
//!
//! `ring`'s key pairs hold the private scalar inline and do not clear it when dropped. A
//! [`Wiped`] keeps such a value on the heap and overwrites its bytes with zeros after the
//! value's own destructor has run, so freed memory never keeps private key material.
//!
//! This crate is the one place outside libdpop's C ABI with `unsafe` code: there is no safe way
//! to clear the memory of a foreign type. Keeping it in a crate of its own lets `dpop-core`
//! forbid `unsafe` entirely.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

use std::mem::MaybeUninit;
use std::ops::Deref;
use zeroize::Zeroize;

/// A heap-held value whose memory is zeroed when it is dropped.
///
/// `T` must keep its secrets inline (no heap pointers of its own); `ring`'s key pairs do.
pub struct Wiped<T> {
    slot: Box<MaybeUninit<T>>,
}

impl<T> Wiped<T> {
    /// Moves `value` into a wiped heap slot.
    pub fn new(value: T) -> Self {
        Self {
            slot: Box::new(MaybeUninit::new(value)),
        }
    }
}

impl<T> Deref for Wiped<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the slot is initialised in `new` and only de-initialised in `drop`.
        unsafe { self.slot.assume_init_ref() }
    }
}

impl<T> Drop for Wiped<T> {
    fn drop(&mut self) {
        // SAFETY: the slot was initialised in `new` and is dropped here exactly once.
        unsafe { self.slot.assume_init_drop() };
        // The slot holds no value now; `MaybeUninit` accepts the zero bytes written over it.
        self.slot.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::Wiped;

    #[test]
    fn wiped_derefs_to_the_value_and_runs_its_destructor() {
        use std::rc::Rc;
        let counter = Rc::new(());
        {
            let w = Wiped::new([7u8; 48]);
            assert_eq!(w[0], 7);
            let _held = Wiped::new(Rc::clone(&counter));
            assert_eq!(Rc::strong_count(&counter), 2);
        }
        assert_eq!(Rc::strong_count(&counter), 1);
    }
}
