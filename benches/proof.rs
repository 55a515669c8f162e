//! Proof signing speed, single thread, through the Rust API.
//!
//! `cargo bench --bench proof -- [SECONDS]` prints `proofs_per_sec <N>` for each algorithm;
//! `benches/proof_vs_openssl.sh` (run by `make bench`) sets it next to `openssl speed`.

use dpop::{Algorithm, Key, Proof};
use std::time::{Duration, Instant};

fn measure(key: &Key, seconds: f64) -> f64 {
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            let proof = Proof::new("GET", "https://api.example.com/resource")
                .access_token(Some("an-access-token-of-typical-length-0123456789abcdef"))
                .sign(key)
                .expect("signing a proof");
            std::hint::black_box(proof);
        }
        count += 64;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; the first number among the arguments is the duration.
    let seconds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(3.0);
    for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
        let key = Key::generate(alg).expect("generating a key");
        measure(&key, seconds / 10.0);
        println!("{} proofs_per_sec {:.0}", alg.name(), measure(&key, seconds));
    }
}
