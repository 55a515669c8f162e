/*
 * client_credentials: the reference DPoP sample (Chilkat's Http object, ported from DataFlex)
 * in C. Loads an EC key from a PEM file, sets the client_credentials token settings, GETs a
 * DPoP-protected API and prints the status and the body. libdpop fetches the DPoP-bound
 * token, signs a proof for the request, and retries when a server asks for a nonce.
 *
 * Settings come from the environment, with defaults for the local test server
 * (`make demo` starts it):
 *   DPOP_TOKEN_ENDPOINT  token endpoint           (http://127.0.0.1:8089/token)
 *   DPOP_API_URL         API to call              (http://127.0.0.1:8089/dpop/test)
 *   DPOP_CLIENT_ID       client id                (m2m.dpop)
 *   DPOP_CLIENT_SECRET   client secret            (secret)
 *   DPOP_SCOPE           scope                    (api)
 *   DPOP_KEY_FILE        PEM/DER/JWK private key  (ec.pem; generated and saved there if missing)
 *   DPOP_CA_FILE         PEM CA bundle for a private CA (optional)
 *   DPOP_SESSION_LOG     session log file (optional; secrets are masked)
 *
 * Prints "status: <code>" on a line of its own, then the body; exits 0 only for 2xx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"

static const char *env_or(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : fallback;
}

/* Reports a failed call with the object's error text (Chilkat's LastErrorText), or the
 * thread's when the object has none, and exits. */
static void fail(const char *what, dpop_status status, const char *object_text) {
    fprintf(stderr, "%s failed: %s\n  %s\n", what, dpop_error_name(status),
            object_text[0] != '\0' ? object_text : dpop_last_error_message());
    exit(1);
}

static void fail_http(const dpop_http *http, const char *what, dpop_status status) {
    char text[2048] = "";
    dpop_http_last_error_text(http, text, sizeof text, NULL);
    fail(what, status, text);
}

static void fail_key(const dpop_key *key, const char *what, dpop_status status) {
    char text[2048] = "";
    dpop_key_last_error_text(key, text, sizeof text, NULL);
    fail(what, status, text);
}

/* Loads the key, or generates one and saves it (a token is bound to its key: keep it). */
static dpop_key *load_or_create_key(const char *path) {
    dpop_key *key = dpop_key_new();
    dpop_status status = dpop_key_load(key, path, NULL);
    if (status == DPOP_ERR_IO) {
        status = dpop_key_generate(key, "ES256");
        if (status != DPOP_OK) {
            fail_key(key, "dpop_key_generate", status);
        }
        char pem[512];
        status = dpop_key_private_pem(key, NULL, pem, sizeof pem, NULL);
        if (status != DPOP_OK) {
            fail_key(key, "dpop_key_private_pem", status);
        }
        FILE *f = fopen(path, "w");
        if (f == NULL || fputs(pem, f) < 0 || fclose(f) != 0) {
            perror(path);
            exit(1);
        }
        fprintf(stderr, "generated a new ES256 key in %s\n", path);
    } else if (status != DPOP_OK) {
        fail_key(key, "dpop_key_load", status);
    }
    return key;
}

/* Appends `value` to `out` as a JSON string. */
static void json_string(char *out, size_t size, const char *value) {
    size_t n = strlen(out);
    if (n + 2 >= size) {
        return;
    }
    out[n++] = '"';
    for (const char *p = value; *p != '\0' && n + 3 < size; p++) {
        if (*p == '"' || *p == '\\') {
            out[n++] = '\\';
        }
        out[n++] = *p;
    }
    out[n++] = '"';
    out[n] = '\0';
}

int main(void) {
    const char *token_endpoint = env_or("DPOP_TOKEN_ENDPOINT", "http://127.0.0.1:8089/token");
    const char *api_url = env_or("DPOP_API_URL", "http://127.0.0.1:8089/dpop/test");
    const char *ca_file = env_or("DPOP_CA_FILE", NULL);
    const char *session_log = env_or("DPOP_SESSION_LOG", NULL);

    dpop_key *key = load_or_create_key(env_or("DPOP_KEY_FILE", "ec.pem"));
    dpop_http *http = dpop_http_new();
    dpop_status status = dpop_http_set_key(http, key);
    if (status != DPOP_OK) {
        fail_http(http, "dpop_http_set_key", status);
    }

    /* The token settings, as Chilkat's AuthToken JSON. */
    char settings[2048] = "{\"client_id\":";
    json_string(settings, sizeof settings, env_or("DPOP_CLIENT_ID", "m2m.dpop"));
    strncat(settings, ",\"client_secret\":", sizeof settings - strlen(settings) - 1);
    json_string(settings, sizeof settings, env_or("DPOP_CLIENT_SECRET", "secret"));
    strncat(settings, ",\"token_endpoint\":", sizeof settings - strlen(settings) - 1);
    json_string(settings, sizeof settings, token_endpoint);
    strncat(settings, ",\"scope\":", sizeof settings - strlen(settings) - 1);
    json_string(settings, sizeof settings, env_or("DPOP_SCOPE", "api"));
    strncat(settings, "}", sizeof settings - strlen(settings) - 1);
    status = dpop_http_set_auth_token(http, settings);
    if (status != DPOP_OK) {
        fail_http(http, "dpop_http_set_auth_token", status);
    }
    if (ca_file != NULL && (status = dpop_http_set_ca_file(http, ca_file)) != DPOP_OK) {
        fail_http(http, "dpop_http_set_ca_file", status);
    }
    if (session_log != NULL && (status = dpop_http_set_session_log(http, session_log)) != DPOP_OK) {
        fail_http(http, "dpop_http_set_session_log", status);
    }

    const char *body = dpop_http_get(http, api_url);
    if (body == NULL) {
        fail_http(http, "dpop_http_get", dpop_last_error_code());
    }
    int http_status = dpop_http_last_status(http);
    printf("status: %d\n%s\n", http_status, body);

    dpop_http_free(http);
    dpop_key_free(key);
    return http_status >= 200 && http_status < 300 ? 0 : 1;
}
