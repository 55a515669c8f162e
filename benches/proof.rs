//! Proof signing speed through the Rust API: one thread, or several threads sharing one key.
//!
//! `cargo bench --bench proof -- [SECONDS] [--alg ES256|ES384|EdDSA] [--threads N]` prints one
//! line per algorithm, `<ALG> threads <N> proofs_per_sec <RATE>`. Without `--alg` it measures
//! all three algorithms. `--count N` signs exactly N proofs on one thread instead, for
//! profilers (`valgrind --tool=callgrind`) whose slowdown would distort a timed run.
//! `--ring-bare` measures, in interleaved rounds, ES256 proofs next to ring's bare P-256
//! signature of a message as long as a proof's signing input (the reference of "a proof costs
//! little more than its signature"), and prints `ES256 proof <RATE> ring_bare <RATE>`. `benches/run.sh` (run by `make bench`) sets the figures next to
//! `openssl speed`, the C ABI and oauth4webapi.
//!
//! The inputs are the ones `benches/c/proof_bench.c` passes to `dpop_proof_create`, so the two
//! figures differ only by the cost of the C boundary.

use dpop_core::{Algorithm, Key, Proof};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// The request every benchmark proof is made for (also in `benches/c/proof_bench.c`).
const METHOD: &str = "GET";
const URL: &str = "https://api.example.com/resource";
const ACCESS_TOKEN: &str = "an-access-token-of-typical-length-0123456789abcdef";

fn sign_one(key: &Key) {
    let proof = Proof::new(METHOD, URL)
        .access_token(Some(ACCESS_TOKEN))
        .sign(key)
        .expect("signing a proof");
    std::hint::black_box(proof);
}

/// Signs proofs for `budget`, returning how many were made and how long that took.
fn sign_for(key: &Key, budget: Duration) -> (u64, Duration) {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            sign_one(key);
        }
        count += 64;
    }
    (count, start.elapsed())
}

/// Proofs per second of `threads` threads signing with one shared key at the same time.
fn measure(key: &Arc<Key>, threads: usize, seconds: f64) -> f64 {
    let budget = Duration::from_secs_f64(seconds);
    let start = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let key = Arc::clone(key);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                sign_for(&key, budget)
            })
        })
        .collect();
    let results: Vec<(u64, Duration)> = workers
        .into_iter()
        .map(|w| w.join().expect("a signing thread"))
        .collect();
    let count: u64 = results.iter().map(|r| r.0).sum();
    let longest = results.iter().map(|r| r.1).max().unwrap_or_default();
    count as f64 / longest.as_secs_f64()
}

/// ring's bare ECDSA P-256 signature of `message`, for `budget`: (signatures, time).
fn ring_for(pair: &ring::signature::EcdsaKeyPair, message: &[u8], budget: Duration) -> (u64, Duration) {
    let rng = ring::rand::SystemRandom::new();
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            std::hint::black_box(pair.sign(&rng, message).expect("a ring signature"));
        }
        count += 64;
    }
    (count, start.elapsed())
}

/// The calling thread's time on a CPU (Linux: /proc/thread-self/schedstat), so that the
/// comparison below holds on a loaded machine, where wall time counts other processes' turns.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Runs `work` (which returns how many operations it made) and gives operations per second
/// of this thread's CPU time (of wall time where that is unknown).
fn cpu_rate(work: impl FnOnce() -> (u64, Duration)) -> f64 {
    let before = thread_cpu();
    let (count, wall) = work();
    let spent = match (before, thread_cpu()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    count as f64 / spent.as_secs_f64()
}

/// Best rates of proofs and of bare signatures over interleaved rounds, per CPU second.
fn proof_vs_ring(seconds: f64) {
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("a ring key");
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("a ring key");
    let key = Key::generate(Algorithm::Es256).expect("a key");
    let proof = Proof::new(METHOD, URL)
        .access_token(Some(ACCESS_TOKEN))
        .sign(&key)
        .expect("a proof");
    let signing_input = proof.rsplit_once('.').expect("a JWS").0.as_bytes().to_vec();
    let (mut best_proof, mut best_ring) = (0f64, 0f64);
    let round = Duration::from_secs_f64(seconds / 6.0);
    for _ in 0..3 {
        best_proof = best_proof.max(cpu_rate(|| sign_for(&key, round)));
        best_ring = best_ring.max(cpu_rate(|| ring_for(&pair, &signing_input, round)));
    }
    println!("ES256 proof {best_proof:.0} ring_bare {best_ring:.0}");
}

fn main() {
    if std::env::args().any(|a| a == "--ring-bare") {
        let seconds = std::env::args()
            .skip(1)
            .find_map(|a| a.parse::<f64>().ok())
            .unwrap_or(3.0);
        proof_vs_ring(seconds);
        return;
    }
    let mut seconds = 3.0;
    let mut algs = vec![Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa];
    let mut threads = 1usize;
    let mut count = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alg" => {
                let name = args.next().expect("--alg needs a value");
                algs = vec![Algorithm::from_name(&name).expect("a known algorithm")];
            }
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--threads needs a number");
            }
            "--count" => {
                count = Some(
                    args.next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .expect("--count needs a number"),
                );
            }
            // `cargo bench` passes `--bench`; the first number is the duration.
            other => {
                if let Ok(s) = other.parse::<f64>() {
                    seconds = s;
                }
            }
        }
    }
    for alg in algs {
        let key = Arc::new(Key::generate(alg).expect("generating a key"));
        if let Some(count) = count {
            let start = Instant::now();
            (0..count).for_each(|_| sign_one(&key));
            let rate = count as f64 / start.elapsed().as_secs_f64();
            println!("{} count {count} proofs_per_sec {rate:.0}", alg.name());
            continue;
        }
        measure(&key, threads, seconds / 10.0);
        let rate = measure(&key, threads, seconds);
        println!("{} threads {threads} proofs_per_sec {rate:.0}", alg.name());
    }
}
