//! "Private key material is zeroized when the handle is freed" (README), checked on the heap.
//!
//! This test binary installs a global allocator that, while a check runs, copies every block
//! freed through it (by `dealloc`, and by `realloc`, which here moves a block and frees the
//! old one through `dealloc`) into a static arena before handing it back to the system
//! allocator. A key is made (or loaded), used, exported and dropped inside that window; only
//! then, when its secret is known, is the arena searched for it: the private key as the JWK's
//! `d` gives it (base64url-decoded: the P-256/P-384 scalar, big-endian, or the Ed25519 seed),
//! the scalar as `ring` holds it (EC: d·R mod n, its Montgomery form, as little-endian limbs,
//! and d itself little-endian; Ed25519: the clamped SHA-512 half of the seed and the other
//! half, the nonce prefix), and `d`'s base64url text (what JWK text holds). A freed block that
//! still holds any of them fails the check.
//!
//! RSA keys: ring copies the primes and CRT exponents into limbs of its own on the heap and
//! frees them without clearing them, so for RSA only libdpop's copies are checked (d as
//! bytes and as base64url text), and an RSA key is generated outside the window.
//!
//! Covered: every heap block freed through the Rust allocator from the start of the window to
//! its end, whichever thread frees it (the checks run one at a time). Not covered: copies on
//! the stack or in registers (the key types' own fields are moved by value, and p256, p384
//! and ring keep temporaries on the stack), memory still allocated when the window closes (a
//! leak is not a freed block), memory the C library or the OS allocates itself, and forms of
//! the secret other than those above (values ring derives from the key, such as its ECDSA
//! nonce key; the DER bytes of a PEM export inside their base64 text).

use base64ct::{Base64UrlUnpadded, Encoding};
use dpop_core::{Algorithm, Key, Proof};
use sha2::{Digest, Sha512};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Room for the contents of every block freed during one check (a few hundred kB are used).
const ARENA_BYTES: usize = 32 << 20;

/// Freed blocks, each as its length (8 bytes, little-endian) and its bytes.
struct Arena {
    lock: AtomicBool,
    used: AtomicUsize,
    overflowed: AtomicBool,
    bytes: UnsafeCell<[u8; ARENA_BYTES]>,
}

// SAFETY: `bytes` is written only by `Arena::append` and read only by `Arena::blocks`, each of
// which holds `lock` for the whole access.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena {
    lock: AtomicBool::new(false),
    used: AtomicUsize::new(0),
    overflowed: AtomicBool::new(false),
    bytes: UnsafeCell::new([0; ARENA_BYTES]),
};

/// Whether freed blocks are being captured.
static CAPTURING: AtomicBool = AtomicBool::new(false);

impl Arena {
    fn locked<R>(&self, f: impl FnOnce() -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        let result = f();
        self.lock.store(false, Ordering::Release);
        result
    }

    /// Copies a freed block in; allocates nothing (it runs inside the allocator).
    fn append(&self, block: &[u8]) {
        self.locked(|| {
            let used = self.used.load(Ordering::Relaxed);
            let end = used + 8 + block.len();
            if end > ARENA_BYTES {
                self.overflowed.store(true, Ordering::Relaxed);
                return;
            }
            // SAFETY: the lock is held, so no other access to `bytes` runs; `used..end` lies
            // within the array.
            let bytes = unsafe { &mut *self.bytes.get() };
            bytes[used..used + 8].copy_from_slice(&(block.len() as u64).to_le_bytes());
            bytes[used + 8..end].copy_from_slice(block);
            self.used.store(end, Ordering::Relaxed);
        })
    }

    fn clear(&self) {
        self.locked(|| {
            self.used.store(0, Ordering::Relaxed);
            self.overflowed.store(false, Ordering::Relaxed);
        })
    }

    /// Calls `f` with each captured block; `f` must not allocate or free memory.
    fn blocks(&self, mut f: impl FnMut(&[u8])) {
        self.locked(|| {
            // SAFETY: the lock is held, so no `append` writes meanwhile.
            let bytes = unsafe { &*self.bytes.get() };
            let used = self.used.load(Ordering::Relaxed);
            let mut at = 0;
            while at < used {
                let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
                f(&bytes[at + 8..at + 8 + len]);
                at += 8 + len;
            }
        })
    }
}

/// The system allocator, with the freed blocks copied into [`ARENA`] while [`CAPTURING`].
struct Capturing;

// SAFETY: every call is forwarded to the system allocator unchanged; `dealloc` only reads the
// block, which is still allocated, before freeing it. `realloc` is left to the trait's default,
// which allocates, copies and then frees the old block through `dealloc`.
unsafe impl GlobalAlloc for Capturing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if CAPTURING.load(Ordering::Acquire) {
            // SAFETY: `ptr` is a block of `layout.size()` bytes that is still allocated.
            ARENA.append(unsafe { std::slice::from_raw_parts(ptr, layout.size()) });
        }
        // SAFETY: `ptr` was allocated by `System` with `layout`, per the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Capturing = Capturing;

/// One check at a time: each owns the arena while it runs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held for a whole test: what a test does outside its windows (making a key, exporting it)
/// frees blocks too, and must not land in another test's open window.
static WHOLE_TEST: Mutex<()> = Mutex::new(());

fn whole_test() -> std::sync::MutexGuard<'static, ()> {
    WHOLE_TEST.lock().unwrap_or_else(|e| e.into_inner())
}

/// A form of the secret to look for, kept on the stack (a heap copy would be freed, and found).
struct Needle {
    what: &'static str,
    bytes: [u8; 512],
    len: usize,
}

impl Needle {
    fn new(what: &'static str, bytes: &[u8]) -> Needle {
        let mut needle = Needle {
            what,
            bytes: [0; 512],
            len: bytes.len(),
        };
        needle.bytes[..bytes.len()].copy_from_slice(bytes);
        needle
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Up to six needles, on the stack.
struct Needles {
    items: [Needle; 6],
    len: usize,
}

impl Needles {
    fn push(&mut self, needle: Needle) {
        self.items[self.len] = needle;
        self.len += 1;
    }

    fn as_slice(&self) -> &[Needle] {
        &self.items[..self.len]
    }
}

/// The forms of the secret of a key whose private JWK is `jwk`, read without a heap copy.
fn needles(alg: Algorithm, jwk: &str) -> Needles {
    let start = jwk.find(r#""d":""#).expect("a private JWK") + 5;
    let text = &jwk[start..start + jwk[start..].find('"').unwrap()];
    let mut decoded = [0u8; 512];
    let d = Base64UrlUnpadded::decode(text.as_bytes(), &mut decoded).unwrap();
    let mut out = Needles {
        items: std::array::from_fn(|_| Needle::new("", &[])),
        len: 0,
    };
    out.push(Needle::new("d (the private key bytes)", d));
    out.push(Needle::new("d's base64url text", text.as_bytes()));
    match alg {
        Algorithm::Es256 | Algorithm::Es384 => {
            let mut reversed = [0u8; 64];
            reversed[..d.len()].copy_from_slice(d);
            reversed[..d.len()].reverse();
            out.push(Needle::new("the scalar, little-endian", &reversed[..d.len()]));
            // ring's EcdsaKeyPair keeps d in Montgomery form, d·R mod n with R = 2^256 (P-256)
            // or 2^384 (P-384), as little-endian 64-bit limbs.
            let mut montgomery = montgomery_form(alg, d);
            montgomery[..d.len()].reverse();
            out.push(Needle::new(
                "the scalar in Montgomery form (ring)",
                &montgomery[..d.len()],
            ));
        }
        // ring turns an RSA key into limbs of its own, on the heap, and frees them without
        // clearing them: only libdpop's copies (d as bytes and as text) are checked.
        Algorithm::Ps256 | Algorithm::Rs256 => {}
        Algorithm::EdDsa => {
            let mut hash: [u8; 64] = Sha512::digest(d).into();
            hash[0] &= 248;
            hash[31] &= 127;
            hash[31] |= 64;
            out.push(Needle::new("the clamped Ed25519 scalar", &hash[..32]));
            out.push(Needle::new("the Ed25519 nonce prefix", &hash[32..]));
        }
    }
    out
}

/// d·R mod n, big-endian, for the curve of `alg` (R = 2^(bits of n)), computed on the stack.
fn montgomery_form(alg: Algorithm, d: &[u8]) -> [u8; 64] {
    use p256::elliptic_curve::ff::PrimeField;
    let mut out = [0u8; 64];
    match alg {
        Algorithm::Es256 => {
            let d = p256::Scalar::from_repr(*p256::FieldBytes::from_slice(d)).unwrap();
            let r = p256::Scalar::from(2u64).pow_vartime(&[256u64]);
            out[..32].copy_from_slice(&(d * r).to_repr());
        }
        Algorithm::Es384 => {
            let d = p384::Scalar::from_repr(*p384::FieldBytes::from_slice(d)).unwrap();
            let r = p384::Scalar::from(2u64).pow_vartime(&[384u64]);
            out[..48].copy_from_slice(&(d * r).to_repr());
        }
        _ => unreachable!("only ECDSA keys have a Montgomery-form scalar in ring"),
    }
    out
}

/// What one check found: per needle, how many freed blocks held it and the size of one.
struct Findings {
    counts: [(usize, usize); 6],
    blocks: usize,
    bytes: usize,
}

/// Searches the blocks freed in the window for each needle; allocates nothing while it looks.
fn search(needles: &[Needle]) -> Findings {
    let mut findings = Findings {
        counts: [(0, 0); 6],
        blocks: 0,
        bytes: 0,
    };
    ARENA.blocks(|block| {
        findings.blocks += 1;
        findings.bytes += block.len();
        for (i, needle) in needles.iter().enumerate() {
            let needle = needle.as_slice();
            if block.len() >= needle.len() && block.windows(needle.len()).any(|w| w == needle) {
                findings.counts[i].0 += 1;
                findings.counts[i].1 = block.len();
            }
        }
    });
    findings
}

/// The capture window of one check, handed to its work.
struct Window;

impl Window {
    /// Runs `f` with capturing paused: for what the check needs but does not examine (learning
    /// the secret through an export that is checked on its own).
    fn paused<R>(&self, f: impl FnOnce() -> R) -> R {
        CAPTURING.store(false, Ordering::Release);
        let result = f();
        CAPTURING.store(true, Ordering::Release);
        result
    }
}

/// Runs `work` (which makes, uses and drops a key and returns the forms of its secret) with
/// freed blocks captured, then fails if any freed block held the secret.
fn assert_no_freed_block_holds_the_secret(name: &str, work: impl FnOnce(&Window) -> Needles) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ARENA.clear();
    CAPTURING.store(true, Ordering::Release);
    let needles = work(&Window);
    CAPTURING.store(false, Ordering::Release);
    assert!(
        !ARENA.overflowed.load(Ordering::Relaxed),
        "{name}: more was freed than the arena holds; not every block was checked"
    );
    let needles = needles.as_slice();
    let findings = search(needles);
    assert!(
        findings.blocks > 0,
        "{name}: no block was freed: the allocator is not capturing"
    );
    let leaks: Vec<String> = needles
        .iter()
        .zip(findings.counts)
        .filter(|(_, (count, _))| *count > 0)
        .map(|(needle, (count, size))| {
            format!(
                "{} in {count} freed block(s), e.g. one of {size} bytes",
                needle.what
            )
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{name}: freed memory still held the private key ({} blocks, {} bytes checked): {}",
        findings.blocks,
        findings.bytes,
        leaks.join("; ")
    );
}

const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::EdDsa,
    Algorithm::Ps256,
    Algorithm::Rs256,
];

/// A key of `alg` (RSA keys with 2048 bits, the quickest to generate).
fn make(alg: Algorithm) -> Key {
    if alg.is_rsa() {
        Key::generate_rsa(2048, alg).unwrap()
    } else {
        Key::generate(alg).unwrap()
    }
}

#[test]
fn generated_used_exported_as_pem_and_dropped_keys_leave_no_secret_in_freed_memory() {
    let _alone = whole_test();
    for alg in ALGORITHMS {
        assert_no_freed_block_holds_the_secret(&format!("{alg:?}"), |window| {
            // RSA generation (the rsa crate's prime search) frees more than the arena holds,
            // and its temporaries are not libdpop's: an RSA key is made outside the window.
            let key = if alg.is_rsa() {
                window.paused(|| Key::generate_rsa(2048, alg).unwrap())
            } else {
                Key::generate(alg).unwrap()
            };
            let proof = Proof::new("POST", "https://as.example/token").sign(&key).unwrap();
            assert!(!proof.is_empty());
            let pem = key.private_pem(None).unwrap();
            let sealed = key.private_pem(Some("pw")).unwrap();
            assert!(pem.len() > 100 && sealed.len() > 100);
            drop((pem, sealed));
            // The JWK export is checked on its own (below): here it only tells the secret.
            let needles = window.paused(|| needles(alg, &key.private_jwk()));
            drop(key);
            needles
        });
    }
}

#[test]
fn a_private_jwk_export_leaves_no_secret_in_freed_memory() {
    let _alone = whole_test();
    for alg in ALGORITHMS {
        let key = make(alg);
        assert_no_freed_block_holds_the_secret(&format!("{alg:?} private_jwk"), |_| {
            let jwk = key.private_jwk();
            let needles = needles(alg, &jwk);
            drop(jwk);
            needles
        });
    }
}

#[test]
fn keys_loaded_from_every_format_leave_no_secret_in_freed_memory() {
    let _alone = whole_test();
    for alg in ALGORITHMS {
        let key = make(alg);
        let jwk = key.private_jwk();
        let inputs = [
            ("PEM", key.private_pem(None).unwrap(), None),
            ("encrypted PEM", key.private_pem(Some("pw")).unwrap(), Some("pw")),
            ("JWK", jwk.clone(), None),
        ];
        for (format, data, password) in &inputs {
            assert_no_freed_block_holds_the_secret(&format!("{alg:?} loaded from {format}"), |_| {
                let loaded = Key::load_memory(data.as_bytes(), *password).unwrap();
                assert_eq!(loaded.thumbprint(), key.thumbprint());
                drop(loaded);
                needles(alg, &jwk)
            });
        }
    }
}
