//! What DPoP costs a request, and what a shared [`Client`] does under concurrency, against the
//! local test server over loopback HTTP.
//!
//! `cargo bench --bench http -- [SECONDS] [--part cost|scaling|first] [--first-calls N]` prints
//! `name value` lines that `benches/run.sh` puts into its table:
//!
//! - `plain_us`, `client_us`, `dpop_us`: microseconds per keep-alive `GET /plain` with a
//!   default `ureq` agent, with a [`Client`] without key or token (libdpop's transport alone), and with a [`Client`] that sends `Authorization: DPoP` and a fresh proof (a token
//!   set by the host, so no token endpoint is involved). `/plain` ignores both headers, so
//!   `added_us = dpop_us - plain_us` is what libdpop adds on the client: the proof, the larger
//!   request, and libdpop's transport (the server reads and records the larger head too).
//! - `proof_us`: one proof like the one the DPoP [`Client`] sends (`Proof::sign`, no request),
//!   timed in the same rounds: `added_us / proof_us` is the request-cost goal, a ratio that
//!   holds on any machine.
//! - `api_us`: a [`Client`] with a token from the server's token endpoint, `GET /dpop/test`,
//!   where the server verifies token and proof (its own cost, not the client's).
//! - `shared1_rps`, `shared2_rps`, `separate2_rps`: requests per second of 1 and 2 threads
//!   sharing one DPoP [`Client`] on `/plain`, and of 2 threads with a [`Client`] each. The
//!   server runs in this process, so both sides share the cores.
//! - `first_token_requests`, `first_ms`, `warm_ms`: N threads (default 64) make their first
//!   request on one new [`Client`] at once: how many token requests the server saw (must be
//!   1: the others wait for it), and the time until all N have their response; then the same
//!   N calls again with the token cached, the reference.
//!
//! Rounds alternate the variants so that load from other processes falls on all of them; the
//! figures are medians over the rounds (`added_us` is the median of per-round differences).
//!
//! `--only VARIANT [--requests N]` sends N requests (default 20000) of one variant (`plain`,
//! `client`, `dpop`, `api`) and nothing else, for profilers.

use dpop_core::{Algorithm, Client, Key, Proof};
use dpop_testserver::{Config, Server};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const ROUNDS: usize = 8;
/// Access token the host sets itself for the `/plain` requests; the server never looks at it.
const HOST_TOKEN: &str = "an-access-token-of-typical-length-0123456789abcdef";

/// Runs `request` for `budget`, returning microseconds per request.
fn per_request_us(budget: Duration, mut request: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            request();
        }
        count += 16;
    }
    start.elapsed().as_secs_f64() * 1e6 / count as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

fn settings(server: &Server) -> String {
    format!(
        r#"{{"client_id":"m2m.dpop","client_secret":"secret","token_endpoint":"{}"}}"#,
        server.token_url()
    )
}

fn expect_ok(response: dpop_core::Result<dpop_core::Response>) {
    let response = response.expect("a response");
    assert_eq!(response.status(), 200, "{}", response.body_text());
}

fn plain_get(agent: &ureq::Agent, url: &str) {
    let mut response = agent.get(url).call().expect("a plain response");
    assert_eq!(response.status(), 200);
    std::hint::black_box(response.body_mut().read_to_vec().expect("a plain body"));
}

/// The ways of sending a request that [`request_cost`] compares, set up against one server.
const VARIANTS: [&str; 5] = ["plain", "client", "dpop", "api", "proof"];

struct Senders {
    // Dropped last: the clients' connections close before the server stops.
    plain: ureq::Agent,
    client: Client,
    dpop: Client,
    api: Client,
    key: Arc<Key>,
    plain_url: String,
    api_url: String,
    _server: Server,
}

impl Senders {
    fn new(key: &Arc<Key>) -> Self {
        let server = Server::start(Config::default()).expect("starting the test server");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let dpop = Client::new();
        dpop.set_key(Arc::clone(key));
        dpop.set_access_token(Some(HOST_TOKEN), None)
            .expect("setting the host's token");
        let api = Client::new();
        api.set_key(Arc::clone(key));
        api.set_auth_token(&settings(&server)).expect("token settings");
        let senders = Senders {
            plain: agent,
            client: Client::new(),
            dpop,
            api,
            key: Arc::clone(key),
            plain_url: format!("{}/plain", server.base_url()),
            api_url: server.api_url(),
            _server: server,
        };
        // Warm-up: connections open, the API client's token fetched.
        for _ in 0..50 {
            VARIANTS.iter().for_each(|v| senders.send(v));
        }
        senders
    }

    fn send(&self, variant: &str) {
        match variant {
            "plain" => plain_get(&self.plain, &self.plain_url),
            "client" => expect_ok(self.client.get(&self.plain_url)),
            "dpop" => expect_ok(self.dpop.get(&self.plain_url)),
            "api" => expect_ok(self.api.get(&self.api_url)),
            "proof" => {
                let proof = Proof::new("GET", &self.plain_url)
                    .access_token(Some(HOST_TOKEN))
                    .sign(&self.key)
                    .expect("signing a proof");
                std::hint::black_box(proof);
            }
            other => panic!("unknown variant {other}: use one of {VARIANTS:?}"),
        }
    }
}

/// Microseconds per request of each variant, one fresh server per round (the test server keeps
/// every request it answered, so a long run on one server would grow it without bound).
fn request_cost(seconds: f64, key: &Arc<Key>) {
    let slice = Duration::from_secs_f64(seconds / ROUNDS as f64 / VARIANTS.len() as f64);
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut added = Vec::new();
    for _ in 0..ROUNDS {
        let senders = Senders::new(key);
        for (variant, result) in VARIANTS.iter().zip(&mut results) {
            result.push(per_request_us(slice, || senders.send(variant)));
        }
        let last = |name: &str| {
            let i = VARIANTS.iter().position(|v| *v == name).expect("a known variant");
            results[i][results[i].len() - 1]
        };
        added.push(last("dpop") - last("plain"));
    }
    for (variant, result) in VARIANTS.iter().zip(results) {
        println!("{variant}_us {:.1}", median(result));
    }
    println!("added_us {:.1}", median(added));
}

/// One variant only, `requests` times after the warm-up: for `strace -c -f`, `perf record`.
fn profile_variant(variant: &str, requests: u64, key: &Arc<Key>) {
    let senders = Senders::new(key);
    let start = Instant::now();
    (0..requests).for_each(|_| senders.send(variant));
    let us = start.elapsed().as_secs_f64() * 1e6 / requests as f64;
    println!("{variant}_us {us:.1}");
}

/// Requests per second of `threads` threads, thread `i` sending with `clients[i % len]`.
fn request_rate(clients: &[Arc<Client>], url: &str, threads: usize, budget: Duration) -> f64 {
    let start = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let client = Arc::clone(&clients[i % clients.len()]);
            let (start, url) = (Arc::clone(&start), url.to_string());
            std::thread::spawn(move || {
                start.wait();
                let began = Instant::now();
                let mut count = 0u64;
                while began.elapsed() < budget {
                    expect_ok(client.get(&url));
                    count += 1;
                }
                (count, began.elapsed())
            })
        })
        .collect();
    let results: Vec<(u64, Duration)> = workers
        .into_iter()
        .map(|w| w.join().expect("a request thread"))
        .collect();
    let count: u64 = results.iter().map(|r| r.0).sum();
    let longest = results.iter().map(|r| r.1).max().unwrap_or_default();
    count as f64 / longest.as_secs_f64()
}

/// 1 and 2 threads on one shared client, and 2 threads with a client each: if sharing cost
/// anything (a lock held while signing or during I/O), the shared figure would fall below the
/// separate one.
fn shared_client_scaling(seconds: f64, key: &Arc<Key>) {
    let rounds = ROUNDS;
    let slice = Duration::from_secs_f64(seconds / rounds as f64 / 3.0);
    let (mut one, mut two, mut separate) = (vec![], vec![], vec![]);
    let dpop_client = || {
        let client = Arc::new(Client::new());
        client.set_key(Arc::clone(key));
        client
            .set_access_token(Some(HOST_TOKEN), None)
            .expect("setting the host's token");
        client
    };
    for round in 0..rounds {
        let server = Server::start(Config::default()).expect("starting the test server");
        let url = format!("{}/plain", server.base_url());
        let shared = [dpop_client()];
        let own = [dpop_client(), dpop_client()];
        request_rate(&shared, &url, 2, Duration::from_millis(20));
        request_rate(&own, &url, 2, Duration::from_millis(20));
        one.push(request_rate(&shared, &url, 1, slice));
        // Alternate which of the two goes first, as the server slows a little as it records.
        if round % 2 == 0 {
            two.push(request_rate(&shared, &url, 2, slice));
            separate.push(request_rate(&own, &url, 2, slice));
        } else {
            separate.push(request_rate(&own, &url, 2, slice));
            two.push(request_rate(&shared, &url, 2, slice));
        }
    }
    println!("shared1_rps {:.0}", median(one));
    println!("shared2_rps {:.0}", median(two));
    println!("separate2_rps {:.0}", median(separate));
}

/// `n` threads start their first request on one new client at the same moment; returns the
/// token requests the server saw and the milliseconds until every thread had its response.
fn concurrent_calls(client: &Arc<Client>, url: &str, n: usize) -> f64 {
    let start = Arc::new(Barrier::new(n + 1));
    let workers: Vec<_> = (0..n)
        .map(|_| {
            let (client, start, url) = (Arc::clone(client), Arc::clone(&start), url.to_string());
            std::thread::spawn(move || {
                start.wait();
                expect_ok(client.get(&url));
                Instant::now()
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let done = workers
        .into_iter()
        .map(|w| w.join().expect("a request thread"))
        .max()
        .expect("at least one thread");
    done.duration_since(began).as_secs_f64() * 1e3
}

fn first_calls(n: usize, key: &Arc<Key>) {
    let (mut first, mut warm, mut token_requests) = (vec![], vec![], 0);
    for _ in 0..5 {
        let server = Server::start(Config::default()).expect("starting the test server");
        let client = Arc::new(Client::new());
        client.set_key(Arc::clone(key));
        client.set_auth_token(&settings(&server)).expect("token settings");
        first.push(concurrent_calls(&client, &server.api_url(), n));
        token_requests = token_requests.max(server.stats().token_requests);
        warm.push(concurrent_calls(&client, &server.api_url(), n));
        assert_eq!(server.stats().token_requests, 1, "the cached token was used");
    }
    println!("first_token_requests {token_requests}");
    println!("first_ms {:.2}", median(first));
    println!("warm_ms {:.2}", median(warm));
    assert_eq!(
        token_requests, 1,
        "{n} concurrent first calls made {token_requests} token requests"
    );
}

fn main() {
    let mut seconds = 8.0;
    let mut n = 64;
    let mut part = String::from("all");
    let mut only = None;
    let mut requests = 20_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--first-calls" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--first-calls needs a number");
            }
            "--only" => only = Some(args.next().expect("--only needs a variant")),
            "--requests" => {
                requests = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--requests needs a number");
            }
            "--part" => part = args.next().expect("--part needs cost, scaling or first"),
            // `cargo bench` passes `--bench`; the first number is the duration.
            other => {
                if let Ok(s) = other.parse::<f64>() {
                    seconds = s;
                }
            }
        }
    }
    let key = Arc::new(Key::generate(Algorithm::Es256).expect("generating a key"));
    if let Some(variant) = only {
        profile_variant(&variant, requests, &key);
        return;
    }
    if matches!(part.as_str(), "all" | "cost") {
        request_cost(seconds * 0.6, &key);
    }
    if matches!(part.as_str(), "all" | "scaling") {
        shared_client_scaling(seconds * 0.4, &key);
    }
    if matches!(part.as_str(), "all" | "first") {
        first_calls(n, &key);
    }
}
