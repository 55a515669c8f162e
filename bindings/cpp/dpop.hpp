// dpop.hpp: a header-only C++17 wrapper over the libdpop C ABI (include/dpop.h).
//
// Thin RAII classes over the C handles, never a second ABI: every call goes through the
// functions of dpop.h, so the program links against the same libdpop as C programs do
// (`-ldpop`). Failures throw dpop::Error, which carries the library's status code and the
// error text of the handle (or of the thread) that failed.
//
// - Key, Http, Response and Task own one handle each; they are movable, not copyable. A
//   moved-from object holds no handle: calling it throws dpop::Error with DPOP_ERR_NULL_POINTER.
// - Strings in are std::string (UTF-8, no NUL bytes: std::invalid_argument otherwise);
//   optional ones are dpop::OptString, where std::nullopt is passed as NULL.
// - Strings out are std::string, read with the C API's size-query pattern, so nothing is ever
//   truncated.
// - Thread safety is that of the C handles: a Key and an Http may be used from several threads
//   at once (but not moved or destroyed while in use); a Response may be read concurrently; a
//   Task may be waited for, polled and cancelled from several threads at once.
//   Http::last_status() and the last_error_text() of every object report the calling thread's
//   last call.
//
// Calling convention: the exports are extern "system" in Rust, which is __stdcall on 32-bit
// Windows and the C convention everywhere else; dpop.h marks each one DPOP_CALL, so nothing
// needs to be done here. Use DPOP_CALL in function-pointer types of your own.
#ifndef DPOP_HPP
#define DPOP_HPP

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dpop.h"

namespace dpop {

/// A failed libdpop call: code() is the dpop_status, what() the library's error text.
class Error : public std::runtime_error {
public:
    Error(dpop_status code, const std::string& message)
        : std::runtime_error(message.empty() ? std::string(dpop_error_name(code)) : message), code_(code) {}

    /// The status code (`DPOP_ERR_*`).
    dpop_status code() const noexcept { return code_; }

    /// The status code's name, e.g. "DPOP_ERR_KEY_RSA" (a static string).
    const char* name() const noexcept { return dpop_error_name(code_); }

private:
    dpop_status code_;
};

/// An optional string argument: std::nullopt is passed to libdpop as NULL.
using OptString = std::optional<std::string>;

/// Extra request headers, sent as "Name: value" lines.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// The version of the loaded library, "MAJOR.MINOR.PATCH".
inline std::string version() { return dpop_version(); }

/// The name of a status code ("DPOP_ERR_UNKNOWN" for codes libdpop does not know).
inline std::string error_name(dpop_status code) { return dpop_error_name(code); }

namespace detail {

/// The calling thread's last libdpop error message.
inline std::string thread_error() {
    const char* message = dpop_last_error_message();
    return message != nullptr ? message : "";
}

/// A string argument as a C string, refusing NUL bytes (C would silently cut the string there).
inline const char* c_str(const std::string& value, const char* what) {
    if (value.find('\0') != std::string::npos) {
        throw std::invalid_argument(std::string("dpop: ") + what + " contains a NUL byte");
    }
    return value.c_str();
}

inline const char* c_str(const OptString& value, const char* what) {
    return value ? c_str(*value, what) : nullptr;
}

/// Runs a "strings out" call `call(buf, buf_len, out_size)` with the size-query pattern: a
/// first call with `capacity` bytes (NULL when 0) tells the size needed, then the call is
/// repeated with a buffer of that size (again if the size changed in between). Returns the
/// status of the last call; `out` is written only on DPOP_OK.
template <typename Call>
dpop_status read_string(Call&& call, std::string& out, std::size_t capacity = 0) {
    std::string buffer(capacity, '\0');
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::size_t needed = 0;
        const dpop_status status = call(capacity > 0 ? buffer.data() : nullptr, capacity, &needed);
        if (status == DPOP_OK) {
            buffer.resize(needed > 0 ? needed - 1 : 0);
            out = std::move(buffer);
            return DPOP_OK;
        }
        if (status != DPOP_ERR_BUFFER_TOO_SMALL || needed <= capacity) {
            return status;
        }
        capacity = needed;
        buffer.assign(capacity, '\0');
    }
    return DPOP_ERR_BUFFER_TOO_SMALL;
}

/// A handle's *_last_error_text function (dpop_key_last_error_text, ...).
template <typename Handle>
using LastErrorTextFn = dpop_status(DPOP_CALL*)(const Handle*, char*, std::size_t, std::size_t*);

/// The handle's error text for this thread (empty after a success), read with its
/// *_last_error_text function; the thread's message when the handle cannot be asked (NULL).
template <typename Handle>
std::string handle_text(LastErrorTextFn<Handle> last_error_text, const Handle* handle) {
    std::string text;
    const dpop_status status = read_string(
        [last_error_text, handle](char* buf, std::size_t len, std::size_t* size) {
            return last_error_text(handle, buf, len, size);
        },
        text, 256);
    return status == DPOP_OK ? text : thread_error();
}

/// The text for an Error from a failed call on a handle: the handle's, else the thread's.
template <typename Handle>
std::string error_text(LastErrorTextFn<Handle> last_error_text, const Handle* handle) {
    std::string text = handle_text(last_error_text, handle);
    return text.empty() ? thread_error() : text;
}

/// Throws for a failed call on a handle, with its error_text.
template <typename Handle>
void check_handle(dpop_status status, LastErrorTextFn<Handle> last_error_text, const Handle* handle) {
    if (status != DPOP_OK) {
        throw Error(status, error_text(last_error_text, handle));
    }
}

inline std::string key_text(const dpop_key* key) { return handle_text(&dpop_key_last_error_text, key); }
inline std::string http_text(const dpop_http* http) { return handle_text(&dpop_http_last_error_text, http); }
inline std::string task_text(const dpop_task* task) { return handle_text(&dpop_task_last_error_text, task); }
inline std::string http_error_text(const dpop_http* http) { return error_text(&dpop_http_last_error_text, http); }

inline void check_key(dpop_status status, const dpop_key* key) {
    check_handle(status, &dpop_key_last_error_text, key);
}

inline void check_http(dpop_status status, const dpop_http* http) {
    check_handle(status, &dpop_http_last_error_text, http);
}

inline void check_task(dpop_status status, const dpop_task* task) {
    check_handle(status, &dpop_task_last_error_text, task);
}

/// Extra request headers as the "Name: value" lines of dpop_http_request (and _async),
/// refusing CR and LF, and ':' in a name, which would make other headers of them.
inline std::string header_lines(const Headers& headers) {
    std::string lines;
    for (const auto& [name, value] : headers) {
        if (name.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) {
            throw std::invalid_argument("dpop: a header name or value contains CR, LF or (in the name) ':'");
        }
        lines += name;
        lines += ": ";
        lines += value;
        lines += "\r\n";
    }
    return lines;
}

/// Throws for a NULL handle from a _new function (libdpop failed internally).
template <typename T>
T* check_new(T* handle) {
    if (handle == nullptr) {
        const dpop_status code = dpop_last_error_code();
        throw Error(code != DPOP_OK ? code : DPOP_ERR_PANIC, thread_error());
    }
    return handle;
}

}  // namespace detail

/// A DPoP private key (ES256, ES384, EdDSA, PS256 or RS256): owns one dpop_key.
class Key {
public:
    /// An empty key handle; fill it with load_file(), load_memory() or generate_key().
    Key() : handle_(detail::check_new(dpop_key_new())) {}

    /// Loads a private key file (PEM, DER or JWK; see dpop_key_load).
    static Key load(const std::string& path, const OptString& password = std::nullopt) {
        Key key;
        key.load_file(path, password);
        return key;
    }

    /// Loads a private key from memory (PEM, DER or JWK bytes).
    static Key from_bytes(std::string_view data, const OptString& password = std::nullopt) {
        Key key;
        key.load_memory(data, password);
        return key;
    }

    /// Generates a new key: "ES256" (the default), "ES384", "EdDSA", or "PS256" or "RS256" (a
    /// 3072-bit RSA key).
    static Key generate(const std::string& alg = "ES256") {
        Key key;
        key.generate_key(alg);
        return key;
    }

    /// Generates a new RSA key of 2048, 3072 or 4096 bits signing with "PS256" or "RS256".
    static Key generate_rsa(std::int32_t bits = 3072, const std::string& alg = "PS256") {
        Key key;
        key.generate_rsa_key(bits, alg);
        return key;
    }

    Key(const Key&) = delete;
    Key& operator=(const Key&) = delete;
    Key(Key&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Key& operator=(Key&& other) noexcept {
        if (this != &other) {
            dpop_key_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Key() { dpop_key_free(handle_); }

    /// Replaces the key with one read from a file; on failure the key is unchanged.
    void load_file(const std::string& path, const OptString& password = std::nullopt) {
        detail::check_key(dpop_key_load(handle_, detail::c_str(path, "path"), detail::c_str(password, "password")),
                          handle_);
    }

    /// Replaces the key with one read from memory; on failure the key is unchanged.
    void load_memory(std::string_view data, const OptString& password = std::nullopt) {
        detail::check_key(dpop_key_load_memory(handle_, reinterpret_cast<const std::uint8_t*>(data.data()),
                                               data.size(), detail::c_str(password, "password")),
                          handle_);
    }

    /// Replaces the key with a newly generated one.
    void generate_key(const std::string& alg = "ES256") {
        detail::check_key(dpop_key_generate(handle_, detail::c_str(alg, "alg")), handle_);
    }

    /// Replaces the key with a newly generated RSA key (2048, 3072 or 4096 bits).
    void generate_rsa_key(std::int32_t bits = 3072, const std::string& alg = "PS256") {
        detail::check_key(dpop_key_generate_rsa(handle_, bits, detail::c_str(alg, "alg")), handle_);
    }

    /// Signs with another algorithm from now on, with the same key and thumbprint: "PS256" or
    /// "RS256" for an RSA key; a key's own algorithm is always accepted.
    void set_alg(const std::string& alg) {
        detail::check_key(dpop_key_set_alg(handle_, detail::c_str(alg, "alg")), handle_);
    }

    /// "ES256", "ES384", "EdDSA", "PS256" or "RS256"; std::nullopt while the handle holds no key.
    std::optional<std::string> alg() const {
        const char* alg = dpop_key_alg(handle_);
        return alg != nullptr ? std::optional<std::string>(alg) : std::nullopt;
    }

    /// The public JWK as JSON.
    std::string public_jwk() const {
        return read([this](char* b, std::size_t n, std::size_t* s) { return dpop_key_public_jwk(handle_, b, n, s); });
    }

    /// The RFC 7638 thumbprint (the `jkt` a bound token carries).
    std::string thumbprint() const {
        return read([this](char* b, std::size_t n, std::size_t* s) { return dpop_key_thumbprint(handle_, b, n, s); }, 64);
    }

    /// The private key as a JWK (with `d`). A secret: wipe it when done.
    std::string private_jwk() const {
        return read([this](char* b, std::size_t n, std::size_t* s) { return dpop_key_private_jwk(handle_, b, n, s); });
    }

    /// The private key as PKCS#8 PEM, encrypted when a password is given. A secret.
    std::string private_pem(const OptString& password = std::nullopt) const {
        const char* pw = detail::c_str(password, "password");
        // An encrypted export differs on every call: start with a buffer that fits it.
        return read([this, pw](char* b, std::size_t n, std::size_t* s) { return dpop_key_private_pem(handle_, pw, b, n, s); },
                    1024);
    }

    /// Signs a DPoP proof JWT for `method` and `url` (see dpop_proof_create).
    std::string proof(const std::string& method, const std::string& url, const OptString& access_token = std::nullopt,
                      const OptString& nonce = std::nullopt, const OptString& extra_claims = std::nullopt) const {
        const char* m = detail::c_str(method, "method");
        const char* u = detail::c_str(url, "url");
        const char* ath = detail::c_str(access_token, "access_token");
        const char* n = detail::c_str(nonce, "nonce");
        const char* extra = detail::c_str(extra_claims, "extra_claims");
        // A buffer that fits an ordinary proof, so that one signature is usually enough.
        return read([&](char* b, std::size_t len, std::size_t* s) {
            return dpop_proof_create(handle_, m, u, ath, n, extra, b, len, s);
        }, 1024);
    }

    /// The message of this thread's last call on the key (empty after a success).
    std::string last_error_text() const { return detail::key_text(handle_); }

    /// Whether the object holds a handle (false after a move).
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /// The C handle, still owned by this object.
    const dpop_key* handle() const noexcept { return handle_; }
    dpop_key* handle() noexcept { return handle_; }

    /// Gives up the handle: the caller frees it with dpop_key_free.
    dpop_key* release() noexcept { return std::exchange(handle_, nullptr); }

private:
    template <typename Call>
    std::string read(Call&& call, std::size_t capacity = 0) const {
        std::string out;
        detail::check_key(detail::read_string(std::forward<Call>(call), out, capacity), handle_);
        return out;
    }

    dpop_key* handle_;
};

/// A complete HTTP response from Http::request: owns one dpop_response.
class Response {
public:
    Response(const Response&) = delete;
    Response& operator=(const Response&) = delete;
    Response(Response&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Response& operator=(Response&& other) noexcept {
        if (this != &other) {
            dpop_response_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Response() { dpop_response_free(handle_); }

    /// The HTTP status code.
    int status() const noexcept { return dpop_response_status(handle_); }

    /// The body, valid as long as this object (it may hold NUL bytes).
    std::string_view body() const noexcept {
        std::size_t len = 0;
        const std::uint8_t* data = dpop_response_body(handle_, &len);
        return data != nullptr ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view();
    }

    /// The value of header `name` (case-insensitive; repeated headers joined by ", "), or
    /// std::nullopt when the response has no such header.
    std::optional<std::string> header(const std::string& name) const {
        const char* n = detail::c_str(name, "name");
        std::string value;
        const dpop_status status = detail::read_string(
            [this, n](char* b, std::size_t len, std::size_t* s) { return dpop_response_header(handle_, n, b, len, s); },
            value, 256);
        if (status == DPOP_ERR_NOT_FOUND) {
            return std::nullopt;
        }
        check(status);
        return value;
    }

    /// All headers as "name: value\r\n" lines (names lower-case, in received order).
    std::string headers() const {
        std::string all;
        check(detail::read_string(
            [this](char* b, std::size_t len, std::size_t* s) { return dpop_response_headers(handle_, b, len, s); }, all));
        return all;
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    const dpop_response* handle() const noexcept { return handle_; }

private:
    friend class Http;
    friend class Task;
    explicit Response(dpop_response* handle) noexcept : handle_(handle) {}

    static void check(dpop_status status) {
        if (status != DPOP_OK) {
            throw Error(status, detail::thread_error());
        }
    }

    dpop_response* handle_;
};

/// Where a Task is: the DPOP_TASK_* values of dpop_task_status (none: a moved-from Task).
enum class TaskStatus : std::int32_t {
    none = 0,
    queued = DPOP_TASK_QUEUED,        ///< waits for one of libdpop's workers
    running = DPOP_TASK_RUNNING,      ///< a worker sends the request
    completed = DPOP_TASK_COMPLETED,  ///< finished with a response, whatever its HTTP status
    failed = DPOP_TASK_FAILED,        ///< finished without one: result() throws
    cancelled = DPOP_TASK_CANCELLED,  ///< cancelled before it finished: result() throws
};

/// One asynchronous request from Http::get_async or Http::request_async, already queued: owns
/// one dpop_task. libdpop's worker pool sends it as the synchronous call would, tokens, nonces
/// and retries included, while the calling thread goes on: wait() for it or poll status(), stop
/// it with cancel(), take the Response with result(). The destructor frees it, cancelling it if
/// it has not finished. The task keeps what it needs of its Http, which may be destroyed while
/// it runs.
///
/// Thread safety: wait(), status(), cancel() and result() may be called from several threads at
/// once (the Task must not be moved or destroyed meanwhile); last_error_text() is the calling
/// thread's.
class Task {
public:
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            dpop_task_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Task() { dpop_task_free(handle_); }

    /// Waits until the task has finished (completed, failed or cancelled), for `timeout` at
    /// most (zero or less: just looks). A timeout beyond the uint32_t milliseconds of
    /// dpop_task_wait is waited in turns, so std::chrono::milliseconds::max() waits as long as
    /// it takes. true when the task has finished, false when the time ran out first.
    bool wait(std::chrono::milliseconds timeout) {
        using Rep = std::chrono::milliseconds::rep;
        constexpr Rep longest = std::numeric_limits<std::uint32_t>::max();
        Rep left = std::max<Rep>(timeout.count(), 0);
        for (;;) {
            const Rep turn = std::min(left, longest);
            const dpop_status status = dpop_task_wait(handle_, static_cast<std::uint32_t>(turn));
            if (status != DPOP_ERR_PENDING) {
                detail::check_task(status, handle_);
                return true;
            }
            left -= turn;
            if (left == 0) {
                return false;
            }
        }
    }

    /// Where the task is; TaskStatus::none for a moved-from Task.
    TaskStatus status() const noexcept { return static_cast<TaskStatus>(dpop_task_status(handle_)); }

    /// Asks the task to stop and returns at once: a queued task is cancelled there and then, a
    /// running one stops at its next step (wait() tells when). A task that has finished stays
    /// as it is. May be called from any thread, more than once.
    Task& cancel() {
        detail::check_task(dpop_task_cancel(handle_), handle_);
        return *this;
    }

    /// The task's Response, once it has finished: waits for it as long as it takes (call
    /// wait() first to bound that). It is what Http::request returns, for get_async too (its
    /// body is what Http::get returns); each call makes a new Response. Throws the dpop::Error
    /// the synchronous call throws when the request failed, and one with DPOP_ERR_CANCELLED when
    /// the task was cancelled.
    Response result() {
        (void)wait(std::chrono::milliseconds::max());
        dpop_response* response = nullptr;
        detail::check_task(dpop_task_result(handle_, &response), handle_);
        return Response(response);
    }

    /// The message of this thread's last call on the task: after result(), why the task failed,
    /// or, for a response, what is probably wrong with a DPoP proof the server rejected (empty
    /// otherwise), as Http::last_error_text() after the synchronous call.
    std::string last_error_text() const { return detail::task_text(handle_); }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    const dpop_task* handle() const noexcept { return handle_; }
    dpop_task* handle() noexcept { return handle_; }

    /// Gives up the handle: the caller frees it with dpop_task_free.
    dpop_task* release() noexcept { return std::exchange(handle_, nullptr); }

private:
    friend class Http;
    explicit Task(dpop_task* handle) noexcept : handle_(handle) {}

    dpop_task* handle_;
};

/// The DPoP HTTP client (Chilkat's Http object): owns one dpop_http. It fetches and caches
/// the access token, signs a proof for every request and follows the servers' nonces.
class Http {
public:
    /// An HTTP object with default settings.
    Http() : handle_(detail::check_new(dpop_http_new())) {}

    Http(const Http&) = delete;
    Http& operator=(const Http&) = delete;
    Http(Http&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Http& operator=(Http&& other) noexcept {
        if (this != &other) {
            dpop_http_free(handle_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    ~Http() { dpop_http_free(handle_); }

    /// The key that signs every proof (Chilkat's SetDPoPKey); the object keeps its own
    /// reference, so `key` may be destroyed afterwards.
    Http& set_key(const Key& key) { return check(dpop_http_set_key(handle_, key.handle())); }

    /// The token settings as JSON (Chilkat's AuthToken): client_id, client_secret or a client
    /// assertion, token_endpoint or issuer, and more (see the README's AuthToken settings).
    Http& set_auth_token(const std::string& json) {
        return check(dpop_http_set_auth_token(handle_, detail::c_str(json, "json")));
    }

    /// Uses a token obtained elsewhere ("DPoP" or "Bearer"); std::nullopt returns to
    /// automatic tokens.
    Http& set_access_token(const OptString& token, const OptString& token_type = std::nullopt) {
        return check(dpop_http_set_access_token(handle_, detail::c_str(token, "token"),
                                                detail::c_str(token_type, "token_type")));
    }

    /// Forgets the cached token.
    Http& clear_token() { return check(dpop_http_clear_token(handle_)); }

    /// Accepts Bearer tokens from the token endpoint (refused by default).
    Http& set_accept_bearer(bool accept) { return check(dpop_http_set_accept_bearer(handle_, accept ? 1 : 0)); }

    /// Seconds before expiry at which a token is replaced (default 60).
    Http& set_refresh_margin(std::uint32_t seconds) { return check(dpop_http_set_refresh_margin(handle_, seconds)); }

    /// Connect and read timeouts in milliseconds (defaults 10000 and 30000).
    Http& set_timeouts(std::uint32_t connect_ms, std::uint32_t read_ms) {
        return check(dpop_http_set_timeouts(handle_, connect_ms, read_ms));
    }

    /// What one request may take in all, retries and token requests included (ms; 60000).
    Http& set_request_timeout(std::uint32_t total_ms) { return check(dpop_http_set_request_timeout(handle_, total_ms)); }

    /// A PEM CA bundle trusted besides the built-in roots; std::nullopt removes it.
    Http& set_ca_file(const OptString& path) { return check(dpop_http_set_ca_file(handle_, detail::c_str(path, "path"))); }

    /// Trust the operating system's store (true, the default) or the built-in roots only.
    Http& set_system_roots(bool use_system) { return check(dpop_http_set_system_roots(handle_, use_system ? 1 : 0)); }

    /// An HTTP proxy URL; std::nullopt connects directly.
    Http& set_proxy(const OptString& url) { return check(dpop_http_set_proxy(handle_, detail::c_str(url, "url"))); }

    /// The User-Agent header.
    Http& set_user_agent(const std::string& user_agent) {
        return check(dpop_http_set_user_agent(handle_, detail::c_str(user_agent, "user_agent")));
    }

    /// Allows plain http:// to hosts other than loopback.
    Http& set_allow_insecure_http(bool allow) {
        return check(dpop_http_set_allow_insecure_http(handle_, allow ? 1 : 0));
    }

    /// The largest response body accepted, in bytes (default 16 MiB).
    Http& set_max_response_size(std::size_t bytes) { return check(dpop_http_set_max_response_size(handle_, bytes)); }

    /// Appends every exchange, secrets masked, to a file (Chilkat's SessionLogFilename);
    /// std::nullopt stops logging.
    Http& set_session_log(const OptString& path) {
        return check(dpop_http_set_session_log(handle_, detail::c_str(path, "path")));
    }

    /// `GET url` (Chilkat's QuickGetStr): the body whatever the HTTP status (see
    /// last_status()); throws when no response was received. The body is cut at a NUL byte.
    std::string get(const std::string& url) {
        const char* body = dpop_http_get(handle_, detail::c_str(url, "url"));
        if (body == nullptr) {
            throw Error(dpop_last_error_code(), detail::http_error_text(handle_));
        }
        return body;
    }

    /// Sends a request; HTTP error statuses are responses, failures to get one throw.
    Response request(const std::string& method, const std::string& url, const Headers& headers = {},
                     std::string_view body = {}) {
        const std::string lines = detail::header_lines(headers);
        dpop_response* response = nullptr;
        check(dpop_http_request(handle_, detail::c_str(method, "method"), detail::c_str(url, "url"),
                                headers.empty() ? nullptr : detail::c_str(lines, "headers"),
                                reinterpret_cast<const std::uint8_t*>(body.data()), body.size(), &response));
        return Response(response);
    }

    /// Starts `GET url` as a Task (the asynchronous get()) and returns at once; its result() is
    /// a Response. Throws here for the argument only; everything else, a bad URL included, is
    /// the task's result.
    Task get_async(const std::string& url) {
        dpop_task* task = nullptr;
        check(dpop_http_get_async(handle_, detail::c_str(url, "url"), &task));
        return Task(task);
    }

    /// Starts a request as a Task (the asynchronous request(), with its arguments) and returns
    /// at once. Throws here for the arguments only; everything else is the task's result.
    Task request_async(const std::string& method, const std::string& url, const Headers& headers = {},
                       std::string_view body = {}) {
        const std::string lines = detail::header_lines(headers);
        dpop_task* task = nullptr;
        check(dpop_http_request_async(handle_, detail::c_str(method, "method"), detail::c_str(url, "url"),
                                      headers.empty() ? nullptr : detail::c_str(lines, "headers"),
                                      reinterpret_cast<const std::uint8_t*>(body.data()), body.size(), &task));
        return Task(task);
    }

    /// The HTTP status of this thread's last request (0 when none was received).
    int last_status() const noexcept { return dpop_http_last_status(handle_); }

    /// The message of this thread's last call on the object: empty after a success, except
    /// when a server rejected the DPoP proof (the response is returned; this says why).
    std::string last_error_text() const { return detail::http_text(handle_); }

    /// What is known of the current token, as JSON without the token; std::nullopt when
    /// there is no token yet.
    std::optional<std::string> token_info() const {
        std::string info;
        const dpop_status status = detail::read_string(
            [this](char* b, std::size_t n, std::size_t* s) { return dpop_http_token_info(handle_, b, n, s); }, info, 256);
        if (status == DPOP_ERR_NOT_FOUND) {
            return std::nullopt;
        }
        detail::check_http(status, handle_);
        return info;
    }

    // Signing a user in: token settings with grant_type "authorization_code" (the README's
    // "Signing a user in").

    /// Opens the system browser (or the program named by the environment variable
    /// DPOP_BROWSER) with the authorization URL and waits up to `timeout_ms` for the redirect
    /// to the loopback redirect_uri, then exchanges the code (dpop_http_sign_in). true: signed
    /// in, the tokens serve every request; false: `timeout_ms` passed first and the sign-in
    /// goes on (call sign_in_wait). Throws otherwise: DPOP_ERR_SIGN_IN (refused, timed out, or
    /// the browser could not be opened: then the sign-in goes on and sign_in_url() is the URL
    /// to open), DPOP_ERR_CANCELLED, the token endpoint's errors.
    bool sign_in(std::uint32_t timeout_ms) { return waited(dpop_http_sign_in(handle_, timeout_ms)); }

    /// Starts a sign-in without waiting (dpop_http_sign_in_start): the listener, the URL and,
    /// when `open_browser`, the browser. Then call sign_in_wait.
    Http& sign_in_start(bool open_browser = true) {
        return check(dpop_http_sign_in_start(handle_, open_browser ? 1 : 0));
    }

    /// The authorization URL of the sign-in in progress (it holds the sign-in's `state`: give
    /// it to the user's browser only); std::nullopt when none is in progress.
    std::optional<std::string> sign_in_url() const {
        std::string url;
        const dpop_status status = detail::read_string(
            [this](char* b, std::size_t n, std::size_t* s) { return dpop_http_sign_in_url(handle_, b, n, s); }, url,
            1024);
        if (status == DPOP_ERR_NOT_FOUND) {
            return std::nullopt;
        }
        detail::check_http(status, handle_);
        return url;
    }

    /// Waits up to `timeout_ms` (0: just looks) for the sign-in in progress: true once signed
    /// in, false while it still waits (a UI polls with short waits). Throws when it ended
    /// otherwise, as sign_in does, and DPOP_ERR_NOT_FOUND when none is in progress.
    bool sign_in_wait(std::uint32_t timeout_ms) { return waited(dpop_http_sign_in_wait(handle_, timeout_ms)); }

    /// Cancels the sign-in in progress, if any; may be called from any thread, while another
    /// waits (its sign_in_wait then throws DPOP_ERR_CANCELLED).
    Http& sign_in_cancel() { return check(dpop_http_sign_in_cancel(handle_)); }

    // The saved state: the DPoP key and the latest refresh token in one file (the README's
    // "Saved state").

    /// Saves the key and the latest refresh token to `path` (owner-only), encrypted under
    /// `passphrase`, or with std::nullopt (or "") protected with DPAPI for the current Windows
    /// user (Windows only; DPOP_ERR_INVALID_ARGUMENT elsewhere). The object saves the file again
    /// whenever the server rotates the refresh token.
    Http& save_state(const std::string& path, const OptString& passphrase) {
        return check(dpop_http_save_state(handle_, detail::c_str(path, "path"), detail::c_str(passphrase, "passphrase")));
    }

    /// Loads a state saved by save_state (set the token settings first): its key and refresh
    /// token replace the object's, so the next request needs no sign-in. Throws
    /// DPOP_ERR_IO (no file), DPOP_ERR_STATE_CORRUPT, DPOP_ERR_STATE_LOCKED (wrong passphrase,
    /// DPAPI refusing) or DPOP_ERR_STATE_FOREIGN (another issuer or client); the object is then
    /// unchanged.
    Http& load_state(const std::string& path, const OptString& passphrase) {
        return check(dpop_http_load_state(handle_, detail::c_str(path, "path"), detail::c_str(passphrase, "passphrase")));
    }

    /// Deletes the state file (fine when there is none) and forgets the key and the tokens:
    /// a clean start, e.g. after DPOP_ERR_SIGN_IN_REQUIRED. Set a new key, then sign in.
    Http& clear_state(const std::string& path) {
        return check(dpop_http_clear_state(handle_, detail::c_str(path, "path")));
    }

    explicit operator bool() const noexcept { return handle_ != nullptr; }
    const dpop_http* handle() const noexcept { return handle_; }
    dpop_http* handle() noexcept { return handle_; }

    /// Gives up the handle: the caller frees it with dpop_http_free.
    dpop_http* release() noexcept { return std::exchange(handle_, nullptr); }

private:
    Http& check(dpop_status status) {
        detail::check_http(status, handle_);
        return *this;
    }

    /// A sign-in wait's outcome: true signed in, false still waiting; throws otherwise.
    bool waited(dpop_status status) {
        if (status == DPOP_ERR_PENDING) {
            return false;
        }
        detail::check_http(status, handle_);
        return true;
    }

    dpop_http* handle_;
};

}  // namespace dpop

#endif  // DPOP_HPP
