//! Proof signing speed through the Rust API: one thread, or several threads sharing one key.
//!
//! `cargo bench --bench proof -- [SECONDS] [--alg ES256|ES384|EdDSA] [--threads N]` prints one
//! line per algorithm, `<ALG> threads <N> proofs_per_sec <RATE>`. Without `--alg` it measures
//! all three algorithms. `--count N` signs exactly N proofs on one thread instead, for
//! profilers (`valgrind --tool=callgrind`) whose slowdown would distort a timed run. `benches/run.sh` (run by `make bench`) sets the figures next to
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

fn main() {
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
