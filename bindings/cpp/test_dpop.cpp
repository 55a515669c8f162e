// The C++ wrapper (bindings/cpp/dpop.hpp) against libdpop and the local DPoP test server.
//
// Run through tests/with_server.sh, which sets DPOP_TOKEN_ENDPOINT and DPOP_API_URL; the
// server's client must be m2m.dpop with the secret in DPOP_CLIENT_SECRET (default "secret").
// Linked with test_dpop_odr.cpp, a second translation unit that includes the header twice.
// Prints "cpp: N passed, M failed" and exits non-zero when a check failed.
#include "dpop.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

// Defined in test_dpop_odr.cpp.
std::string odr_thumbprint_of_new_key(const std::string& alg);
dpop_status odr_code_of_missing_key_file();
int odr_get_status(dpop::Http& http, const std::string& url);
int odr_task_status(dpop::Http& http, const std::string& url);

namespace {

int passed = 0;
int failed = 0;

void record(bool ok, const char* what, int line) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "test_dpop.cpp:%d: check failed: %s\n", line, what);
    }
}

#define CHECK(cond) record(static_cast<bool>(cond), #cond, __LINE__)

// `expr` throws dpop::Error with code `want` and a message containing `needle`.
#define CHECK_THROWS(expr, want, needle)                                                           \
    do {                                                                                           \
        bool thrown_ = false;                                                                      \
        try {                                                                                      \
            (void)(expr);                                                                          \
        } catch (const dpop::Error& e_) {                                                          \
            thrown_ = true;                                                                        \
            const bool ok_ = e_.code() == (want) && std::string(e_.what()).find(needle) != std::string::npos; \
            record(ok_, #expr " throws " #want, __LINE__);                                         \
            if (!ok_) {                                                                            \
                std::fprintf(stderr, "  got %s (%d): %s\n", e_.name(), e_.code(), e_.what());      \
            }                                                                                      \
        }                                                                                          \
        if (!thrown_) {                                                                            \
            record(false, #expr " throws " #want " (nothing thrown)", __LINE__);                   \
        }                                                                                          \
    } while (0)

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string env_or(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && value[0] != '\0' ? value : fallback;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The URL `url` with its last path segment replaced by `segment`.
std::string sibling(const std::string& url, const std::string& segment) {
    return url.substr(0, url.rfind('/') + 1) + segment;
}

// JSON string escaping for the few values the tests put in the token settings.
std::string json_string(const std::string& value) {
    std::string out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "\"";
}

// Percent-encoding for a form field value (RFC 3986 unreserved characters stay).
std::string form_value(const std::string& value) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : value) {
        const auto b = static_cast<unsigned char>(c);
        if (std::isalnum(b) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 15];
        }
    }
    return out;
}

// The string value of a top-level JSON member whose value holds no escapes (a JWT), or "".
std::string json_member(const std::string& json, const std::string& name) {
    const std::string start = "\"" + name + "\":\"";
    const std::size_t at = json.find(start);
    if (at == std::string::npos) {
        return "";
    }
    const std::size_t from = at + start.size();
    const std::size_t end = json.find('"', from);
    return end == std::string::npos ? "" : json.substr(from, end - from);
}

// The value of a top-level JSON member that is a whole number (a counter of /stats), or -1.
long json_count(const std::string& json, const std::string& name) {
    const std::string start = "\"" + name + "\":";
    const std::size_t at = json.find(start);
    return at == std::string::npos ? -1 : std::strtol(json.c_str() + at + start.size(), nullptr, 10);
}

// An echo of the test server without its proof's claims, which differ on every request (jti,
// iat): the object "proof" holds no object of its own, so it ends at the first '}'.
std::string without_proof(const std::string& echo) {
    const std::size_t at = echo.find("\"proof\":{");
    const std::size_t end = at == std::string::npos ? at : echo.find('}', at);
    return end == std::string::npos ? echo : echo.substr(0, at) + echo.substr(end + 1);
}

// The error a call throws, as (code, what()); (DPOP_OK, "") when it throws none.
template <typename Call>
std::pair<dpop_status, std::string> error_of(Call&& call) {
    try {
        (void)call();
    } catch (const dpop::Error& e) {
        return {e.code(), e.what()};
    }
    return {DPOP_OK, ""};
}

// An error text after the name of the call that failed ("dpop_http_get: ..."), which a task's
// result and the synchronous call name differently.
std::string reason(const std::string& text) {
    const std::size_t colon = text.find(": ");
    return colon == std::string::npos ? text : text.substr(colon + 2);
}

std::string auth_token(const std::string& endpoint, const std::string& secret) {
    return "{\"client_id\":\"m2m.dpop\",\"client_secret\":" + json_string(secret) +
           ",\"token_endpoint\":" + json_string(endpoint) + ",\"scope\":\"api\"}";
}

void test_types() {
    static_assert(!std::is_copy_constructible_v<dpop::Key> && !std::is_copy_assignable_v<dpop::Key>);
    static_assert(!std::is_copy_constructible_v<dpop::Http> && !std::is_copy_assignable_v<dpop::Http>);
    static_assert(!std::is_copy_constructible_v<dpop::Response> && !std::is_copy_assignable_v<dpop::Response>);
    static_assert(std::is_nothrow_move_constructible_v<dpop::Key> && std::is_nothrow_move_assignable_v<dpop::Key>);
    static_assert(std::is_nothrow_move_constructible_v<dpop::Http> && std::is_nothrow_move_assignable_v<dpop::Http>);
    static_assert(std::is_nothrow_move_constructible_v<dpop::Response>);
    static_assert(!std::is_copy_constructible_v<dpop::Task> && !std::is_copy_assignable_v<dpop::Task>);
    static_assert(std::is_nothrow_move_constructible_v<dpop::Task> && std::is_nothrow_move_assignable_v<dpop::Task>);
    static_assert(!std::is_default_constructible_v<dpop::Task>);  // made by Http::get_async and request_async
    static_assert(static_cast<int>(dpop::TaskStatus::cancelled) == DPOP_TASK_CANCELLED);
    static_assert(std::is_base_of_v<std::runtime_error, dpop::Error>);
    // Exports are called through DPOP_CALL function types, stdcall on 32-bit Windows.
    using GenerateFn = dpop_status(DPOP_CALL*)(dpop_key*, const char*);
    const GenerateFn generate = &dpop_key_generate;
    CHECK(generate != nullptr);
}

void test_version_and_errors() {
    const std::string header_version = std::to_string(DPOP_VERSION_MAJOR) + "." + std::to_string(DPOP_VERSION_MINOR) +
                                       "." + std::to_string(DPOP_VERSION_PATCH);
    CHECK(dpop::version() == header_version);
    CHECK(dpop::error_name(DPOP_ERR_KEY_RSA) == "DPOP_ERR_KEY_RSA");
    CHECK(dpop::error_name(12345) == "DPOP_ERR_UNKNOWN");
    const dpop::Error e(DPOP_ERR_IO, "");
    CHECK(std::string(e.what()) == "DPOP_ERR_IO");
    CHECK(std::string(e.name()) == "DPOP_ERR_IO");
}

void test_keys(const std::string& dir) {
    for (const char* alg : {"ES256", "ES384", "EdDSA"}) {
        const dpop::Key key = dpop::Key::generate(alg);
        CHECK(key.alg() == std::optional<std::string>(alg));
        CHECK(key.thumbprint().size() == 43);
        CHECK(contains(key.public_jwk(), "\"kty\""));
        CHECK(!contains(key.public_jwk(), "\"d\""));
        CHECK(contains(key.private_jwk(), "\"d\""));
        // Both exports load back to the same key.
        CHECK(dpop::Key::from_bytes(key.private_pem()).thumbprint() == key.thumbprint());
        CHECK(dpop::Key::from_bytes(key.private_jwk()).thumbprint() == key.thumbprint());
    }
    CHECK(dpop::Key::generate().alg() == std::optional<std::string>("ES256"));

    // RSA: generated with a size, switched between PS256 and RS256 on the same key.
    dpop::Key rsa = dpop::Key::generate_rsa(2048, "RS256");
    CHECK(rsa.alg() == std::optional<std::string>("RS256"));
    CHECK(rsa.public_jwk().rfind("{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":", 0) == 0);
    const std::string rsa_thumbprint = rsa.thumbprint();
    rsa.set_alg("PS256");
    CHECK(rsa.alg() == std::optional<std::string>("PS256"));
    CHECK(rsa.thumbprint() == rsa_thumbprint);
    CHECK(dpop::Key::from_bytes(rsa.private_pem()).thumbprint() == rsa_thumbprint);
    CHECK_THROWS(rsa.set_alg("ES256"), DPOP_ERR_INVALID_ARGUMENT, "PS256 or RS256");
    CHECK_THROWS(dpop::Key::generate_rsa(1024), DPOP_ERR_INVALID_ARGUMENT, "2048, 3072 or 4096");
    CHECK(dpop::Key::generate("PS256").alg() == std::optional<std::string>("PS256"));

    // An encrypted PEM written to a file: no password, a wrong one, the right one.
    const dpop::Key key = dpop::Key::generate("ES384");
    const std::string pem = key.private_pem(std::string("correct horse"));
    CHECK(contains(pem, "BEGIN ENCRYPTED PRIVATE KEY"));
    const std::string path = dir + "/cpp-encrypted.pem";
    std::ofstream(path, std::ios::binary) << pem;
    CHECK_THROWS(dpop::Key::load(path), DPOP_ERR_KEY_PASSWORD_REQUIRED, "dpop_key_load");
    CHECK_THROWS(dpop::Key::load(path, std::string("wrong")), DPOP_ERR_KEY_WRONG_PASSWORD, "dpop_key_load");
    CHECK(dpop::Key::load(path, std::string("correct horse")).thumbprint() == key.thumbprint());
    CHECK_THROWS(dpop::Key::load(dir + "/no-such-key.pem"), DPOP_ERR_IO, "no-such-key.pem");
    CHECK_THROWS(dpop::Key::from_bytes("not a key"), DPOP_ERR_KEY_UNRECOGNIZED, "dpop_key_load_memory");
    CHECK_THROWS(dpop::Key::generate("RS512"), DPOP_ERR_INVALID_ARGUMENT, "RS512");

    // A failed reload keeps the key; the error text belongs to the handle.
    dpop::Key reloaded = dpop::Key::generate();
    const std::string before = reloaded.thumbprint();
    CHECK(reloaded.last_error_text().empty());
    CHECK_THROWS(reloaded.load_memory("garbage"), DPOP_ERR_KEY_UNRECOGNIZED, "");
    CHECK(!reloaded.last_error_text().empty());
    CHECK(reloaded.thumbprint() == before);
    reloaded.load_file(path, std::string("correct horse"));
    CHECK(reloaded.thumbprint() == key.thumbprint());

    // An empty handle, a moved-from handle.
    const dpop::Key empty;
    CHECK(!empty.alg().has_value());
    CHECK_THROWS(empty.thumbprint(), DPOP_ERR_KEY_NOT_LOADED, "holds no key");
    dpop::Key a = dpop::Key::generate();
    const std::string a_print = a.thumbprint();
    dpop::Key b = std::move(a);
    CHECK(!a && b);
    CHECK(b.thumbprint() == a_print);
    CHECK_THROWS(a.thumbprint(), DPOP_ERR_NULL_POINTER, "");
    a = std::move(b);
    CHECK(a.thumbprint() == a_print);
    dpop_key* raw = a.release();
    CHECK(raw != nullptr && !a);
    dpop_key_free(raw);

    // Strings in with a NUL byte are refused before they reach C.
    bool refused = false;
    try {
        (void)dpop::Key::generate(std::string("ES256\0x", 7));
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CHECK(refused);

    // The second translation unit sees the same library and the same classes.
    CHECK(odr_thumbprint_of_new_key("EdDSA").size() == 43);
    CHECK(odr_code_of_missing_key_file() == DPOP_ERR_IO);
}

void test_proofs() {
    const dpop::Key key = dpop::Key::generate();
    const std::string proof = key.proof("GET", "https://api.example.com/r?x=1");
    CHECK(std::count(proof.begin(), proof.end(), '.') == 2);
    CHECK(proof != key.proof("GET", "https://api.example.com/r?x=1"));  // a new jti each time
    CHECK(!key.proof("POST", "https://a.example/t", std::string("token"), std::string("nonce-1"),
                     std::string("{\"purpose\":\"test\"}")).empty());
    // A proof larger than the first buffer: the size-query pattern grows it.
    const std::string large = "{\"pad\":\"" + std::string(5000, 'p') + "\"}";
    const std::string big = key.proof("GET", "https://a.example/", std::nullopt, std::nullopt, large);
    CHECK(big.size() > 6000);
    CHECK_THROWS(key.proof("G E T", "https://a.example/"), DPOP_ERR_PROOF_METHOD, "dpop_proof_create");
    CHECK_THROWS(key.proof("GET", "ftp://a.example/"), DPOP_ERR_PROOF_URL, "");
    CHECK_THROWS(key.proof("GET", "https://a.example/", std::nullopt, std::nullopt, std::string("{\"htm\":\"x\"}")),
                 DPOP_ERR_PROOF_CLAIMS, "");
    CHECK_THROWS(dpop::Key().proof("GET", "https://a.example/"), DPOP_ERR_KEY_NOT_LOADED, "");
}

void test_http_settings() {
    dpop::Http http;
    CHECK_THROWS(http.set_auth_token("{\"client_id\":\"a\"}"), DPOP_ERR_TOKEN_CONFIG, "");
    CHECK_THROWS(http.set_auth_token("not json"), DPOP_ERR_TOKEN_CONFIG, "not valid JSON");
    CHECK_THROWS(http.set_key(dpop::Key()), DPOP_ERR_KEY_NOT_LOADED, "holds no key");
    CHECK_THROWS(http.set_timeouts(0, 100), DPOP_ERR_INVALID_ARGUMENT, "greater than 0");
    CHECK_THROWS(http.set_ca_file(std::string("/nonexistent/ca.pem")), DPOP_ERR_IO, "CA file");
    CHECK_THROWS(http.set_proxy(std::string("::not a url::")), DPOP_ERR_HTTP_CONFIG, "proxy");
    CHECK_THROWS(http.set_user_agent("a\r\nb"), DPOP_ERR_INVALID_ARGUMENT, "user agent");
    // Chained setters.
    http.set_timeouts(2000, 5000).set_refresh_margin(30).set_accept_bearer(false).set_ca_file(std::nullopt)
        .set_proxy(std::nullopt).set_user_agent("dpop-cpp-test").set_allow_insecure_http(false)
        .set_max_response_size(1 << 20).set_session_log(std::nullopt).set_access_token(std::nullopt).clear_token();
    CHECK(http.last_error_text().empty());
    CHECK(!http.token_info().has_value());
    CHECK_THROWS(http.get("http://example.com/"), DPOP_ERR_HTTP_INSECURE, "plain http://");
    CHECK(http.last_status() == 0);
    CHECK_THROWS(http.get("not a url"), DPOP_ERR_HTTP_URL, "");
    CHECK_THROWS(http.request("GET", "https://a.example/", {{"DPoP", "x"}}), DPOP_ERR_INVALID_ARGUMENT,
                 "set by libdpop");
    bool refused = false;
    try {
        (void)http.request("GET", "https://a.example/", {{"X-Evil", "a\r\nInjected: yes"}});
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CHECK(refused);
    dpop::Http moved = std::move(http);
    CHECK(!http && moved);
    CHECK_THROWS(http.get("https://a.example/"), DPOP_ERR_NULL_POINTER, "");
    CHECK(http.last_status() == 0);
}

void test_http_live(const std::string& token_endpoint, const std::string& api_url, const std::string& secret,
                    const std::string& dir) {
    dpop::Http http;
    {
        // The object keeps its own reference to the key.
        const dpop::Key key = dpop::Key::generate();
        http.set_key(key);
    }
    const std::string log_path = dir + "/cpp-session.log";
    std::remove(log_path.c_str());
    http.set_auth_token(auth_token(token_endpoint, secret)).set_session_log(log_path);

    const std::string body = http.get(api_url);
    CHECK(http.last_status() == 200);
    CHECK(contains(body, "\"client_id\":\"m2m.dpop\""));
    const std::optional<std::string> info = http.token_info();
    CHECK(info.has_value() && contains(*info, "\"token_type\":\"DPoP\""));
    CHECK(odr_get_status(http, api_url) == 200);

    const std::string payload = "{\"hello\":\"w\xc3\xb6rld\"}";
    dpop::Response response = http.request("POST", sibling(api_url, "echo?x=1"),
                                           {{"X-Test", "cpp"}, {"Content-Type", "application/json"}}, payload);
    CHECK(response.status() == 200);
    CHECK(http.last_status() == 200);
    const std::string echoed(response.body());
    CHECK(contains(echoed, "\"method\":\"POST\""));
    CHECK(contains(echoed, "\"x-test\":\"cpp\""));
    CHECK(contains(echoed, "w\xc3\xb6rld"));
    CHECK(response.header("content-TYPE").value_or("").rfind("application/json", 0) == 0);
    CHECK(!response.header("X-Absent").has_value());
    CHECK(contains(response.headers(), "content-type: application/json"));
    dpop::Response moved = std::move(response);
    CHECK(!response && moved.status() == 200);
    CHECK(response.status() == 0 && response.body().empty());

    // An HTTP error status is a response, not an exception.
    (void)http.get(sibling(token_endpoint, "nope"));
    CHECK(http.last_status() == 404);
    CHECK(http.request("GET", sibling(token_endpoint, "nope")).status() == 404);

    // One object from several threads at once.
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&http, &ok, &api_url] {
            for (int i = 0; i < 3; ++i) {
                try {
                    const std::string b = http.get(api_url);
                    if (http.last_status() == 200 && contains(b, "m2m.dpop")) {
                        ++ok;
                    }
                } catch (const dpop::Error& e) {
                    std::fprintf(stderr, "thread: %s\n", e.what());
                }
            }
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    CHECK(ok.load() == 12);

    // A wrong secret: the token endpoint's refusal is an Error with the object's error text.
    dpop::Http wrong;
    wrong.set_key(dpop::Key::generate()).set_auth_token(auth_token(token_endpoint, "not-the-secret"));
    CHECK_THROWS(wrong.get(api_url), DPOP_ERR_TOKEN_ENDPOINT, "invalid_client");
    CHECK(contains(wrong.last_error_text(), "invalid_client"));

    // A token the test knows, written to the same session log: fetched by hand with a general
    // request to the token endpoint (its answer's access_token), then used as the host's own
    // token for a request the API accepts. token_info never shows a token, and the API's echo
    // leaves Authorization out, so this is how the test learns one the server issued.
    const dpop::Key host_key = dpop::Key::generate();
    dpop::Http host;
    host.set_key(host_key).set_session_log(log_path);
    const dpop::Response issued =
        host.request("POST", token_endpoint, {{"Content-Type", "application/x-www-form-urlencoded"}},
                     "grant_type=client_credentials&client_id=m2m.dpop&scope=api&client_secret=" +
                         form_value(secret));
    CHECK(issued.status() == 200);
    const std::string token = json_member(std::string(issued.body()), "access_token");
    CHECK(token.size() > 40);
    host.set_access_token(token);
    CHECK(contains(host.get(api_url), "\"client_id\":\"m2m.dpop\""));
    CHECK(host.last_status() == 200);
    host.set_session_log(std::nullopt);

    // The session log masks the secret and the tokens: the one fetched automatically (its
    // Authorization header), and the one above, in the token response and in Authorization.
    const std::string log = read_file(log_path);
    CHECK(contains(log, "authorization: DPoP ****"));
    CHECK(contains(log, "\"access_token\":\"****\""));
    CHECK(contains(log, "x-test: cpp"));
    CHECK(!contains(log, secret));
    CHECK(!token.empty() && !contains(log, token));
}

// Tasks (Http::get_async, Http::request_async): a task's result is the synchronous call's,
// twenty tasks at once on one object share one token, a wait runs out while the server holds
// the request (its /stall path, never answered) and a cancel ends it, a failed task throws what
// the synchronous call throws, and tasks are destroyed while they run or outlive their Http.
// The objects' timeouts are a minute: what ends a held request is the cancel.
void test_tasks(const std::string& token_endpoint, const std::string& api_url, const std::string& secret) {
    using std::chrono::milliseconds;
    const std::string stall_url = sibling(token_endpoint, "stall");
    const std::string echo_url = sibling(api_url, "echo?x=1");
    const auto new_http = [&token_endpoint](const std::string& client_secret) {
        dpop::Http http;
        http.set_key(dpop::Key::generate())
            .set_auth_token(auth_token(token_endpoint, client_secret))
            .set_timeouts(60000, 60000)
            .set_request_timeout(120000);
        return http;
    };
    dpop::Http http = new_http(secret);

    // The response the synchronous call gives, from request_async and from get_async.
    const dpop::Headers headers = {{"X-Test", "cpp-task"}, {"Content-Type", "application/json"}};
    dpop::Task task = http.request_async("POST", echo_url, headers, "{\"a\":1}");
    CHECK(task.wait(milliseconds(60000)));
    CHECK(task.status() == dpop::TaskStatus::completed);
    const dpop::Response async_response = task.result();
    const dpop::Response sync_response = http.request("POST", echo_url, headers, "{\"a\":1}");
    CHECK(async_response.status() == 200 && sync_response.status() == 200);
    CHECK(async_response.header("content-type") == sync_response.header("content-type"));
    const std::string async_echo(async_response.body());
    CHECK(without_proof(async_echo) == without_proof(std::string(sync_response.body())));
    CHECK(contains(async_echo, "\"x-test\":\"cpp-task\"") && contains(async_echo, "\"htm\":\"POST\""));
    CHECK(task.last_error_text().empty());
    CHECK(task.result().status() == 200);  // again: a new Response
    const std::string get_body(http.get_async(api_url).result().body());
    CHECK(contains(get_body, "\"client_id\":\"m2m.dpop\""));
    CHECK(without_proof(get_body) == without_proof(http.get(api_url)));
    CHECK(odr_task_status(http, api_url) == 200);

    // Twenty tasks at once on a new object: one token request for all (the counter read by an
    // object without token settings, which sends no token).
    const std::string stats_url = sibling(token_endpoint, "stats");
    const long token_requests = json_count(dpop::Http().get(stats_url), "token_requests");
    {
        dpop::Http many = new_http(secret);
        std::vector<dpop::Task> tasks;
        for (int i = 0; i < 20; ++i) {
            tasks.push_back(i % 2 == 0 ? many.get_async(api_url)
                                       : many.request_async("GET", echo_url, {{"X-Index", std::to_string(i)}}));
        }
        int ok = 0;
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            const dpop::Response response = tasks[i].result();
            const std::string body(response.body());
            if (response.status() == 200 && contains(body, "\"client_id\":\"m2m.dpop\"") &&
                (i % 2 == 0 || contains(body, "\"x-index\":\"" + std::to_string(i) + "\""))) {
                ++ok;
            }
        }
        CHECK(ok == 20);
    }
    CHECK(token_requests >= 0 && json_count(dpop::Http().get(stats_url), "token_requests") == token_requests + 1);

    // A held request: waits run out, a cancel ends it (within 10 s, far below the timeouts).
    dpop::Task held = http.get_async(stall_url);
    CHECK(!held.wait(milliseconds(300)));
    CHECK(!held.wait(milliseconds(0)));
    CHECK(!held.wait(milliseconds(-5)));  // a negative timeout just looks
    CHECK(held.status() == dpop::TaskStatus::queued || held.status() == dpop::TaskStatus::running);
    held.cancel().cancel();
    CHECK(held.wait(milliseconds(10000)));
    CHECK(held.status() == dpop::TaskStatus::cancelled);
    CHECK_THROWS(held.result(), DPOP_ERR_CANCELLED, "cancelled");
    CHECK(contains(held.last_error_text(), "cancelled"));
    CHECK(contains(http.get(api_url), "\"client_id\":\"m2m.dpop\""));  // the object works on

    // A wait longer than dpop_task_wait's uint32_t milliseconds, ended by a cancel from another
    // thread.
    dpop::Task waited = http.get_async(stall_url);
    std::thread canceller([&waited] {
        std::this_thread::sleep_for(milliseconds(200));
        waited.cancel();
    });
    const bool finished = waited.wait(milliseconds::max());
    canceller.join();
    CHECK(finished && waited.status() == dpop::TaskStatus::cancelled);

    // A failed task throws the Error the synchronous call throws.
    for (const auto& [url, want] : {std::pair<std::string, dpop_status>{"not a url", DPOP_ERR_HTTP_URL},
                                    std::pair<std::string, dpop_status>{"http://example.com/", DPOP_ERR_HTTP_INSECURE}}) {
        dpop::Task failing = http.get_async(url);
        CHECK(failing.wait(milliseconds(60000)) && failing.status() == dpop::TaskStatus::failed);
        const auto sync_error = error_of([&http, &url = url] { return http.get(url); });
        const auto task_error = error_of([&failing] { return failing.result(); });
        CHECK(sync_error.first == want && task_error.first == want);
        CHECK(reason(task_error.second) == reason(sync_error.second) && !reason(task_error.second).empty());
        CHECK(failing.last_error_text() == task_error.second);
    }
    CHECK_THROWS(new_http("not-the-secret").request_async("GET", api_url).result(), DPOP_ERR_TOKEN_ENDPOINT,
                 "invalid_client");
    bool refused = false;
    try {
        (void)http.request_async("GET", api_url, {{"X-Evil", "a\r\nInjected: yes"}});
    } catch (const std::invalid_argument&) {
        refused = true;
    }
    CHECK(refused);

    // Tasks destroyed or replaced while they run; a moved-from task.
    {
        dpop::Task running = http.get_async(stall_url);
        CHECK(!running.wait(milliseconds(100)));
    }  // the destructor cancels and frees it
    dpop::Task a = http.get_async(stall_url);
    dpop::Task b = std::move(a);
    CHECK(!a && b);
    CHECK(a.status() == dpop::TaskStatus::none);
    CHECK_THROWS(a.wait(milliseconds(0)), DPOP_ERR_NULL_POINTER, "");
    CHECK_THROWS(a.result(), DPOP_ERR_NULL_POINTER, "");
    b = http.get_async(api_url);  // frees the held task it had
    CHECK(b.result().status() == 200);

    // Tasks outlive their Http.
    dpop::Http owner = new_http(secret);
    dpop::Task done = owner.get_async(api_url);
    dpop::Task outliving = owner.get_async(stall_url);
    owner = dpop::Http();  // frees the first dpop_http
    CHECK(done.result().status() == 200);
    CHECK(!outliving.wait(milliseconds(100)));
    outliving.cancel();
    CHECK(outliving.wait(milliseconds(10000)));
}

// The AuthToken settings of issue 14: private_key_jwt with discovery through `issuer` (when
// run-tests.sh registered an assertion key with the server: DPOP_ASSERTION_KEY, a PEM file,
// for the client DPOP_ASSERTION_CLIENT), the new status codes as dpop::Error, and the
// diagnostic of a rejected proof in last_error_text().
void test_http_settings14(const std::string& token_endpoint, const std::string& api_url, const std::string& secret) {
    const std::string issuer = token_endpoint.substr(0, token_endpoint.rfind('/'));
    const std::string assertion_key = env_or("DPOP_ASSERTION_KEY", "");
    const std::string assertion_client = env_or("DPOP_ASSERTION_CLIENT", "");
    if (!assertion_key.empty() && !assertion_client.empty()) {
        const dpop::Key rsa = dpop::Key::load(assertion_key);
        CHECK(rsa.alg() == std::optional<std::string>("PS256"));
        const dpop::Key key = dpop::Key::generate();
        dpop::Http http;
        http.set_key(key).set_auth_token("{\"client_id\":" + json_string(assertion_client) +
                                         ",\"issuer\":" + json_string(issuer) +
                                         ",\"auth_method\":\"private_key_jwt\",\"client_assertion_key\":" +
                                         json_string(assertion_key) + ",\"scope\":\"api\"}");
        const std::string body = http.get(api_url);
        CHECK(http.last_status() == 200);
        CHECK(contains(body, "\"client_id\":" + json_string(assertion_client)));
        CHECK(contains(body, key.thumbprint()));  // cnf.jkt: the DPoP key, not the assertion key
        CHECK(http.last_error_text().empty());
        // The server saw one assertion, its aud the issuer (one string).
        const std::string stats = http.get(issuer + "/stats");
        CHECK(contains(stats, "\"assertion_auds\":[" + json_string(issuer) + "]"));
    } else {
        std::printf("cpp: private_key_jwt with discovery skipped (DPOP_ASSERTION_KEY, DPOP_ASSERTION_CLIENT unset)\n");
    }

    // New status codes, thrown as dpop::Error: at set_auth_token or, at the latest, at the first
    // request, before anything is sent.
    const auto set_and_get = [&api_url](const std::string& settings) {
        dpop::Http http;
        http.set_key(dpop::Key::generate()).set_auth_token(settings);
        return http.get(api_url);
    };
    CHECK_THROWS(set_and_get("{\"client_id\":\"m2m.dpop\",\"client_secret\":" + json_string(secret) +
                             ",\"issuer\":" + json_string(issuer) + ",\"profile\":\"fapi2\"}"),
                 DPOP_ERR_PROFILE_VIOLATION, "FAPI 2.0");
    CHECK_THROWS(set_and_get("{\"client_id\":\"m2m.dpop\",\"token_endpoint\":" + json_string(token_endpoint) +
                             ",\"auth_method\":\"private_key_jwt\",\"client_assertion_key\":\"/nonexistent/key.pem\"}"),
                 DPOP_ERR_ASSERTION_KEY, "nonexistent");

    // A token issued for one key, sent by the host with another: the 401 is returned, and
    // last_error_text() says why.
    const dpop::Key issued_key = dpop::Key::generate();
    dpop::Http fetcher;
    fetcher.set_key(issued_key);
    const std::string token = json_member(
        std::string(fetcher
                        .request("POST", token_endpoint, {{"Content-Type", "application/x-www-form-urlencoded"}},
                                 "grant_type=client_credentials&client_id=m2m.dpop&scope=api&client_secret=" +
                                     form_value(secret))
                        .body()),
        "access_token");
    CHECK(token.size() > 40);
    const dpop::Key other_key = dpop::Key::generate("EdDSA");
    dpop::Http host;
    host.set_key(other_key).set_access_token(token);
    (void)host.get(api_url);
    CHECK(host.last_status() == 401);
    const std::string text = host.last_error_text();
    CHECK(contains(text, "The server rejected the DPoP proof; probably the key"));
    CHECK(contains(text, issued_key.thumbprint()) && contains(text, other_key.thumbprint()));
    CHECK(!contains(text, token));
}

// The browser of the sign-in tests: GETs the authorization URL (the test server approves at
// once and redirects) and the redirect's Location (the loopback listener) with a plain dpop::Http,
// which follows no redirect by itself. The listener's status, or -1.
int browse(const std::string& url) {
    try {
        dpop::Http browser;
        const dpop::Response authorize = browser.request("GET", url);
        const std::optional<std::string> location = authorize.header("location");
        if (authorize.status() != 302 || !location) {
            return -1;
        }
        return browser.request("GET", *location).status();
    } catch (const dpop::Error& e) {
        std::fprintf(stderr, "browser: %s\n", e.what());
        return -1;
    }
}

// Waits for the sign-in of `http` while the browser opens `url` in a thread: whether it
// signed in, and the listener's page status in `page`.
bool sign_in_with_browser(dpop::Http& http, const std::string& url, int& page) {
    std::thread browser([&url, &page] { page = browse(url); });
    bool signed_in = false;
    try {
        while (!(signed_in = http.sign_in_wait(50))) {
        }
    } catch (const dpop::Error& e) {
        std::fprintf(stderr, "sign_in_wait: %s (%s)\n", e.what(), e.name());
    }
    browser.join();
    return signed_in;
}

void set_browser(const std::string& program) {
#ifdef _WIN32
    const std::string assignment = "DPOP_BROWSER=" + program;
    (void)_putenv(assignment.c_str());
#else
    if (program.empty()) {
        unsetenv("DPOP_BROWSER");
    } else {
        setenv("DPOP_BROWSER", program.c_str(), 1);
    }
#endif
}

// Signing a user in (the public client DPOP_SIGN_IN_CLIENT, which run-tests.sh registers with
// the server) and the saved state: sign_in_start, sign_in_url, sign_in_wait polling, a cancel
// from another thread, sign_in with a browser that cannot start, then save_state and a new
// object that load_state's and calls the API with no second authorization request; the
// state's errors, DPAPI on Windows, clear_state.
void test_sign_in(const std::string& token_endpoint, const std::string& dir) {
    const std::string client = env_or("DPOP_SIGN_IN_CLIENT", "");
    if (client.empty()) {
        std::printf("cpp: sign-in skipped (DPOP_SIGN_IN_CLIENT unset)\n");
        return;
    }
    const std::string issuer = token_endpoint.substr(0, token_endpoint.rfind('/'));
    const std::string api_url = issuer + "/dpop/test";
    const std::string settings = "{\"grant_type\":\"authorization_code\",\"client_id\":" + json_string(client) +
                                 ",\"issuer\":" + json_string(issuer) +
                                 ",\"redirect_uri\":\"http://127.0.0.1:0/callback\",\"scope\":\"api\"}";
    const dpop::Key key = dpop::Key::generate();
    const std::string jkt = "\"jkt\":" + json_string(key.thumbprint());
    dpop::Http http;
    http.set_key(key).set_auth_token(settings);
    CHECK_THROWS(http.get(api_url), DPOP_ERR_SIGN_IN_REQUIRED, "sign");
    CHECK(!http.sign_in_url().has_value());
    CHECK_THROWS(http.sign_in_wait(0), DPOP_ERR_NOT_FOUND, "no sign-in");

    http.sign_in_start(false);
    const std::optional<std::string> url = http.sign_in_url();
    CHECK(url.has_value() && contains(*url, "dpop_jkt=" + key.thumbprint()) &&
          contains(*url, "code_challenge_method=S256"));
    CHECK(!http.sign_in_wait(0));
    int page = 0;
    CHECK(url && sign_in_with_browser(http, *url, page));
    CHECK(page == 200);
    CHECK(!http.sign_in_url().has_value());
    CHECK(contains(http.get(api_url), jkt));
    CHECK(http.last_status() == 200);

    // A cancel from another thread ends a wait there.
    http.sign_in_start(false);
    dpop_status cancelled = DPOP_OK;
    std::thread waiter([&http, &cancelled] {
        try {
            (void)http.sign_in_wait(60000);
        } catch (const dpop::Error& e) {
            cancelled = e.code();
        }
    });
    http.sign_in_cancel();
    waiter.join();
    CHECK(cancelled == DPOP_ERR_CANCELLED);

    // sign_in with a browser that cannot be started: DPOP_ERR_SIGN_IN, and the URL to open.
    set_browser(dir + "/no-such-browser");
    CHECK_THROWS(http.sign_in(60000), DPOP_ERR_SIGN_IN, "by hand");
    set_browser("");
    const std::optional<std::string> by_hand = http.sign_in_url();
    CHECK(by_hand.has_value() && by_hand != url);
    CHECK(by_hand && sign_in_with_browser(http, *by_hand, page));

    // The saved state: a new object, the state loaded, the API called without signing in.
    const std::string path = dir + "/cpp-desktop.state";
    const std::string passphrase = "cpp state passphrase";
    std::remove(path.c_str());
    http.save_state(path, passphrase);
    CHECK(!contains(read_file(path), passphrase));
    {
        dpop::Http next;
        next.set_auth_token(settings).load_state(path, passphrase);
        CHECK(contains(next.get(api_url), jkt));
        CHECK(next.last_status() == 200);
        CHECK_THROWS(dpop::Http().set_auth_token(settings).load_state(path, std::string("wrong")),
                     DPOP_ERR_STATE_LOCKED, "passphrase");
        CHECK_THROWS(dpop::Http().set_auth_token(settings).load_state(dir + "/no-such.state", passphrase),
                     DPOP_ERR_IO, "");
#ifdef _WIN32
        // DPAPI for the current user: no passphrase.
        const std::string dpapi_path = dir + "/cpp-desktop-dpapi.state";
        next.save_state(dpapi_path, std::nullopt);
        dpop::Http third;
        third.set_auth_token(settings).load_state(dpapi_path, std::nullopt);
        CHECK(contains(third.get(api_url), jkt));
        CHECK_THROWS(dpop::Http().set_auth_token(settings).load_state(dpapi_path, passphrase),
                     DPOP_ERR_STATE_LOCKED, "");
        third.clear_state(dpapi_path);
#else
        CHECK_THROWS(next.save_state(path, std::nullopt), DPOP_ERR_INVALID_ARGUMENT, "passphrase");
#endif
        next.clear_state(path);
        CHECK(!std::ifstream(path).good());
        CHECK_THROWS(next.get(api_url), DPOP_ERR_SIGN_IN_REQUIRED, "sign in");
        CHECK_THROWS(next.sign_in_start(false), DPOP_ERR_KEY_NOT_LOADED, "key");  // the key is forgotten
    }
    const std::string stats = http.get(issuer + "/stats");
    CHECK(contains(stats, "\"authorization_requests\":2"));  // the two sign-ins with a browser
    CHECK(contains(stats, "\"authorization_code_grants\":2"));
}

}  // namespace

int main() {
    const char* token_endpoint = std::getenv("DPOP_TOKEN_ENDPOINT");
    const char* api_url = std::getenv("DPOP_API_URL");
    if (token_endpoint == nullptr || api_url == nullptr) {
        std::fprintf(stderr, "run through tests/with_server.sh (DPOP_TOKEN_ENDPOINT, DPOP_API_URL)\n");
        return 2;
    }
    const std::string dir = env_or("BUILD_DIR", "build");
    try {
        test_types();
        test_version_and_errors();
        test_keys(dir);
        test_proofs();
        test_http_settings();
        test_http_live(token_endpoint, api_url, env_or("DPOP_CLIENT_SECRET", "secret"), dir);
        test_http_settings14(token_endpoint, api_url, env_or("DPOP_CLIENT_SECRET", "secret"));
        test_tasks(token_endpoint, api_url, env_or("DPOP_CLIENT_SECRET", "secret"));
        test_sign_in(token_endpoint, dir);
    } catch (const dpop::Error& e) {
        record(false, "unexpected dpop::Error", __LINE__);
        std::fprintf(stderr, "  %s (%d): %s\n", e.name(), e.code(), e.what());
    } catch (const std::exception& e) {
        record(false, "unexpected exception", __LINE__);
        std::fprintf(stderr, "  %s\n", e.what());
    }
    std::printf("cpp: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
