//! Asynchronous calls (`Task`) against the local test server: many tasks on one client, a
//! cancel while the server hangs (in the API, in the token endpoint, in the connect), a wait
//! with a timeout, the bounded pool's queue, and a task that outlives its client's handle.
//!
//! Timeouts are long here (a minute) so that what ends a hung request is the cancel; each
//! cancelled task must then finish within [`PROMPTLY`], a fraction of them.

use dpop_core::{Algorithm, Client, ErrorKind, Key, Task, TaskStatus, MAX_TASK_WORKERS};
use dpop_testserver::{Config, Fault, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "tasks-secret-Hq7Tz2";

/// How long a cancelled task may take to finish: far below the timeouts ([`long_timeouts`]),
/// so a task that waited for one of them fails. Not a speed claim.
const PROMPTLY: Duration = Duration::from_secs(10);

/// How long a healthy task may take.
const AT_MOST: Duration = Duration::from_secs(120);

fn config() -> Config {
    Config {
        clients: vec![("m2m.dpop".into(), SECRET.into())],
        ..Config::default()
    }
}

/// A client with a key, the server's token settings and long timeouts (60 s to connect and
/// read, 120 s in all).
fn client_for(server: &Server) -> Arc<Client> {
    let client = Client::new();
    client.set_key(Arc::new(Key::generate(Algorithm::Es256).unwrap()));
    client
        .set_auth_token(&format!(
            r#"{{"client_id":"m2m.dpop","client_secret":"{SECRET}","token_endpoint":"{}","scope":"api"}}"#,
            server.token_url()
        ))
        .unwrap();
    long_timeouts(&client);
    Arc::new(client)
}

fn long_timeouts(client: &Client) {
    client
        .set_timeouts(Duration::from_secs(60), Duration::from_secs(60))
        .unwrap();
    client.set_request_timeout(Duration::from_secs(120)).unwrap();
}

fn get(client: &Arc<Client>, url: &str) -> Task {
    let task = client.request_task("GET", url, &[], b"");
    task.run().unwrap();
    task
}

/// Polls until `condition` holds (the server has seen a request, a task runs), failing after
/// a minute: the test waits for an event, it does not time one.
fn until(what: &str, condition: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A task whose GET the server's `/stall` path holds: started, and seen held by the server.
fn held(server: &Server, client: &Arc<Client>) -> Task {
    let task = get(client, &format!("{}/stall", server.base_url()));
    until("the server holds the request", || {
        stalled_requests(server, "/stall") == 1
    });
    task
}

fn stalled_requests(server: &Server, path: &str) -> usize {
    server
        .stats()
        .requests
        .iter()
        .filter(|r| r.path == path && r.status == 0)
        .count()
}

/// Waits for a cancelled task and checks that it ended `Cancelled`, promptly.
fn assert_cancelled_promptly(task: &Task) {
    let cancelled_at = Instant::now();
    task.cancel();
    assert!(task.wait(PROMPTLY), "the cancelled task did not finish");
    assert!(cancelled_at.elapsed() < PROMPTLY);
    assert_eq!(task.status(), TaskStatus::Cancelled);
    let e = task.outcome().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e:?}");
}

#[test]
fn a_hundred_tasks_on_one_client_all_succeed_with_one_token_request() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let tasks: Vec<Task> = (0..100).map(|_| get(&client, &server.api_url())).collect();
    for task in &tasks {
        assert!(task.wait(AT_MOST));
        assert_eq!(task.status(), TaskStatus::Completed);
        let response = task.outcome().unwrap().unwrap();
        assert_eq!(response.status(), 200, "{}", response.body_text());
    }
    let stats = server.stats();
    assert_eq!(
        stats.token_requests, 1,
        "concurrent first requests share one token request"
    );
    assert_eq!(stats.api_ok, 100);
}

#[test]
fn a_cancel_ends_a_task_on_a_hung_server_and_the_client_works_after() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let task = held(&server, &client);
    assert!(
        !task.wait(Duration::from_millis(200)),
        "the server has not answered"
    );
    assert_eq!(task.status(), TaskStatus::Running);
    assert!(task.outcome().is_none());
    assert_cancelled_promptly(&task);
    assert!(task.was_started());
    // The same client, token and connection pool: a healthy URL answers.
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    assert_eq!(
        server.stats().token_requests,
        1,
        "the token fetched for the cancelled task serves"
    );
}

#[test]
fn a_wait_with_a_timeout_returns_while_the_api_hangs_over_tls() {
    let (ca_pem, cert_pem, key_pem) = private_ca();
    let server = Server::start(Config {
        api_fault: Some(Fault::Hang),
        tls: Some((cert_pem, key_pem)),
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    let ca_file = std::env::temp_dir().join(format!("dpop-tasks-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca_pem).unwrap();
    client.set_ca_file(Some(&ca_file)).unwrap();
    std::fs::remove_file(&ca_file).unwrap();
    let task = get(&client, &server.api_url());
    until("the API holds the request", || {
        stalled_requests(&server, "/dpop/test") == 1
    });
    for _ in 0..3 {
        assert!(!task.wait(Duration::from_millis(100)), "the API has not answered");
        assert_eq!(task.status(), TaskStatus::Running);
    }
    // A cancel reaches a read blocked under TLS.
    assert_cancelled_promptly(&task);
}

/// A private CA, and a certificate it signed for 127.0.0.1 with its key, PEM.
fn private_ca() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&server_key, &ca).unwrap();
    (ca.pem(), cert.pem(), server_key.serialize_pem())
}

#[test]
fn a_cancel_during_a_token_fetch_releases_the_waiters_and_stores_nothing() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    server.set_token_fault(Some(Fault::Hang)).unwrap();
    let fetcher = get(&client, &server.api_url());
    until("the token endpoint holds the first request", || {
        stalled_requests(&server, "/token") == 1
    });
    // This one finds the fetch in flight and waits for it.
    let waiter = get(&client, &server.api_url());
    until("the second task runs", || waiter.status() == TaskStatus::Running);
    server.set_token_fault(None).unwrap();
    assert_cancelled_promptly(&fetcher);
    // The waiter is not handed the cancel: it fetches a token itself, and succeeds.
    assert!(waiter.wait(AT_MOST));
    let response = waiter.outcome().unwrap().unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    assert_eq!(server.stats().token_requests, 2);
    // The cache holds the waiter's token: the next request needs no token request.
    assert_eq!(client.get(&server.api_url()).unwrap().status(), 200);
    assert_eq!(server.stats().token_requests, 2);
}

#[test]
fn a_cancelled_token_fetch_leaves_the_cache_to_the_next_request() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    server.set_token_fault(Some(Fault::Hang)).unwrap();
    let task = get(&client, &server.api_url());
    until("the token endpoint holds the request", || {
        stalled_requests(&server, "/token") == 1
    });
    assert_cancelled_promptly(&task);
    assert!(client.token_info().is_none(), "no token was stored");
    server.set_token_fault(None).unwrap();
    let response = client.get(&server.api_url()).unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    assert_eq!(server.stats().token_requests, 2);
}

#[test]
fn a_cancel_reaches_a_connect_that_hangs() {
    // A listener that never accepts, its queue filled: the kernel answers no more SYNs, so a
    // connect to it waits for the connect timeout (60 s here).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut held = Vec::new();
    let full = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => held.push(stream),
            Err(_) => break true,
        }
        if held.len() > 10_000 {
            break false;
        }
    };
    assert!(full, "the listen queue never filled");
    let client = Arc::new(Client::new());
    long_timeouts(&client);
    let task = get(&client, &format!("http://{addr}/"));
    until("the task runs", || task.status() == TaskStatus::Running);
    assert!(!task.wait(Duration::from_millis(300)), "the connect hangs");
    assert_cancelled_promptly(&task);
    drop(listener);
}

#[test]
fn a_cancel_reaches_a_proxy_that_never_answers_the_connect() {
    // A proxy that takes the connection and the CONNECT line, and never answers.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let held: Vec<_> = proxy
            .incoming()
            .flatten()
            .inspect(|_| {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .take(1)
            .collect();
        std::thread::sleep(Duration::from_secs(600));
        drop(held);
    });
    let client = Arc::new(Client::new());
    long_timeouts(&client);
    client.set_proxy(Some(&proxy_url)).unwrap();
    let task = get(&client, "https://127.0.0.1:9/");
    until("the proxy has the connection", || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) == 1
    });
    assert!(
        !task.wait(Duration::from_millis(300)),
        "the proxy does not answer"
    );
    assert_cancelled_promptly(&task);
}

#[test]
fn tasks_beyond_the_pool_wait_in_its_queue_and_a_queued_one_cancels_at_once() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let stall = format!("{}/stall", server.base_url());
    // Every worker busy with a request the server holds.
    let busy: Vec<Task> = (0..MAX_TASK_WORKERS).map(|_| get(&client, &stall)).collect();
    until("every worker runs a task", || {
        busy.iter().all(|t| t.status() == TaskStatus::Running)
    });
    let queued = get(&client, &server.api_url());
    assert_eq!(queued.status(), TaskStatus::Queued, "no worker is free");
    queued.cancel();
    assert_eq!(
        queued.status(),
        TaskStatus::Cancelled,
        "a queued task cancels at once"
    );
    assert!(!queued.was_started());
    let next = get(&client, &server.api_url());
    for task in &busy {
        assert_cancelled_promptly(task);
    }
    // The freed workers take the queue.
    assert!(next.wait(AT_MOST));
    assert_eq!(next.outcome().unwrap().unwrap().status(), 200);
}

#[test]
fn a_task_moves_large_bodies_both_ways() {
    // Many reads and writes that find the socket not ready yet, on a task's non-blocking path.
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let sent = "x".repeat(900 * 1024);
    let echo = format!("{}/dpop/echo", server.base_url());
    let task = client.request_task("POST", &echo, &[("Content-Type", "text/plain")], sent.as_bytes());
    task.run().unwrap();
    assert!(task.wait(AT_MOST));
    let response = task.outcome().unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(
        body["body"].as_str().map(str::len),
        Some(sent.len()),
        "the whole body went"
    );
    let huge = Server::start(Config {
        api_fault: Some(Fault::HugeBody(8 << 20)),
        ..config()
    })
    .unwrap();
    let client = client_for(&huge);
    let task = get(&client, &huge.api_url());
    assert!(task.wait(AT_MOST));
    assert_eq!(
        task.outcome().unwrap().unwrap().body().len(),
        8 << 20,
        "the whole body came"
    );
    let trickle = Server::start(Config {
        api_fault: Some(Fault::Trickle {
            bytes: 3_000,
            per_second: 10_000,
        }),
        ..config()
    })
    .unwrap();
    let client = client_for(&trickle);
    let task = get(&client, &trickle.api_url());
    assert!(task.wait(AT_MOST));
    assert_eq!(task.outcome().unwrap().unwrap().body().len(), 3_000);
}

#[test]
fn a_task_outlives_the_client_handle_it_came_from() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let handle = Arc::downgrade(&client);
    let task = get(&client, &server.api_url());
    drop(client);
    assert!(task.wait(AT_MOST));
    let response = task.outcome().unwrap().unwrap();
    assert_eq!(response.status(), 200, "{}", response.body_text());
    assert!(
        handle.upgrade().is_none(),
        "a finished task holds nothing of the client"
    );
}

#[test]
fn dropping_a_running_task_cancels_it() {
    let server = Server::start(config()).unwrap();
    let client = client_for(&server);
    let task = held(&server, &client);
    let handle = Arc::downgrade(&client);
    drop(client);
    drop(task);
    // The cancelled request gives the client back once it has stopped.
    until("the dropped task let go of the client", || {
        handle.upgrade().is_none()
    });
}

#[test]
fn a_task_gives_what_the_synchronous_call_gives() {
    let server = Server::start(Config {
        api_fault: Some(Fault::Status500),
        ..config()
    })
    .unwrap();
    let client = client_for(&server);
    let task = get(&client, &server.api_url());
    assert!(task.wait(AT_MOST));
    assert_eq!(
        task.status(),
        TaskStatus::Completed,
        "an HTTP error status is a response"
    );
    let sync = client.get(&server.api_url()).unwrap();
    let response = task.outcome().unwrap().unwrap();
    assert_eq!((response.status(), response.body()), (sync.status(), sync.body()));
    let bad = client.request_task("GET", "http://127.0.0.1:1/", &[("Bad Name", "x")], b"");
    bad.run_here().unwrap();
    assert_eq!(bad.status(), TaskStatus::Failed);
    let e = bad.outcome().unwrap().unwrap_err();
    let sync = client
        .request("GET", "http://127.0.0.1:1/", &[("Bad Name", "x")], b"")
        .unwrap_err();
    assert_eq!((e.kind(), e.message()), (sync.kind(), sync.message()));
}
