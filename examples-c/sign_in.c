/*
 * sign_in: a desktop program signs its user in through the browser, calls a DPoP API, and
 * keeps the sign-in for the next run.
 *
 * The first run has no saved state: it makes a new DPoP key, opens the system browser at the
 * authorization server (authorization code + PKCE, the key bound with dpop_jkt, the redirect
 * to a loopback listener on 127.0.0.1), calls the API with the DPoP-bound access token, and
 * saves the key and the refresh token to the state file. Every later run loads that file and
 * calls the API at once, with no browser: the refresh token gets a new access token, and
 * libdpop writes the rotated refresh token over the file by itself. When the server refuses the
 * saved refresh token (DPOP_ERR_SIGN_IN_REQUIRED: it expired, was revoked, or was spent by
 * another copy of the file), the program signs in again and saves the new state.
 *
 * Settings come from the environment, with defaults for the local test server
 * (`target/release/dpop-test-server --port 8089 --public-client desktop-app`, whose
 * authorization endpoint approves at once):
 *   DPOP_ISSUER            the authorization server (discovery)   (http://127.0.0.1:8089)
 *   DPOP_CLIENT_ID         a public client's id                   (desktop-app)
 *   DPOP_SCOPE             scope                                  (openid api)
 *   DPOP_API_URL           API to call                            (http://127.0.0.1:8089/dpop/test)
 *   DPOP_STATE_FILE        the saved state                        (dpop-sign-in.state)
 *   DPOP_STATE_PASSPHRASE  the state's passphrase; on Windows, without one the state is
 *                          protected with DPAPI for the current user; elsewhere required
 *   DPOP_BROWSER           a program to open the URL with instead of the system browser
 *
 * Prints how it signed in ("signed in through the browser" or "signed in from the saved
 * state"), then "status: <code>" on a line of its own and the body; exits 0 only for 2xx.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"

/* How long the user has to sign in in the browser. */
#define SIGN_IN_WAIT_MS 300000u

static const char *env_or(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return value != NULL && value[0] != '\0' ? value : fallback;
}

/* Reports a failed call with the object's error text (Chilkat's LastErrorText) and exits. */
static void fail(const dpop_http *http, const char *what, dpop_status status) {
    char text[2048] = "";
    dpop_http_last_error_text(http, text, sizeof text, NULL);
    fprintf(stderr, "%s failed: %s\n  %s\n", what, dpop_error_name(status),
            text[0] != '\0' ? text : dpop_last_error_message());
    exit(1);
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

static void append(char *out, size_t size, const char *text) {
    strncat(out, text, size - strlen(out) - 1);
}

/* Signs the user in through the browser, then saves the state. */
static void sign_in(dpop_http *http, const char *state_file, const char *passphrase) {
    printf("signing in: the browser opens\n");
    fflush(stdout);
    dpop_status status = dpop_http_sign_in(http, SIGN_IN_WAIT_MS);
    if (status == DPOP_ERR_SIGN_IN) {
        /* The browser could not be opened: the sign-in waits for the URL to be opened by hand. */
        char url[4096];
        if (dpop_http_sign_in_url(http, url, sizeof url, NULL) == DPOP_OK) {
            printf("open this address in a browser to sign in:\n%s\n", url);
            fflush(stdout);
            status = dpop_http_sign_in_wait(http, SIGN_IN_WAIT_MS);
        }
    }
    if (status != DPOP_OK) {
        dpop_http_sign_in_cancel(http); /* DPOP_ERR_PENDING: the user did not come back in time */
        fail(http, "dpop_http_sign_in", status);
    }
    printf("signed in through the browser\n");
    status = dpop_http_save_state(http, state_file, passphrase);
    if (status != DPOP_OK) {
        fail(http, "dpop_http_save_state", status);
    }
}

int main(void) {
    const char *issuer = env_or("DPOP_ISSUER", "http://127.0.0.1:8089");
    const char *api_url = env_or("DPOP_API_URL", "http://127.0.0.1:8089/dpop/test");
    const char *state_file = env_or("DPOP_STATE_FILE", "dpop-sign-in.state");
    /* NULL: DPAPI, for the current Windows user. */
    const char *passphrase = env_or("DPOP_STATE_PASSPHRASE", NULL);
#ifndef _WIN32
    if (passphrase == NULL) {
        fprintf(stderr, "set DPOP_STATE_PASSPHRASE: the saved state is encrypted with it (on Windows, DPAPI "
                        "protects it without one)\n");
        return 2;
    }
#endif

    /* The token settings first: a saved state is checked against them. */
    char settings[2048] = "{\"grant_type\":\"authorization_code\",\"client_id\":";
    json_string(settings, sizeof settings, env_or("DPOP_CLIENT_ID", "desktop-app"));
    append(settings, sizeof settings, ",\"issuer\":");
    json_string(settings, sizeof settings, issuer);
    append(settings, sizeof settings, ",\"scope\":");
    json_string(settings, sizeof settings, env_or("DPOP_SCOPE", "openid api"));
    append(settings, sizeof settings, ",\"redirect_uri\":\"http://127.0.0.1:0/callback\"}");
    dpop_http *http = dpop_http_new();
    dpop_status status = dpop_http_set_auth_token(http, settings);
    if (status != DPOP_OK) {
        fail(http, "dpop_http_set_auth_token", status);
    }

    status = dpop_http_load_state(http, state_file, passphrase);
    if (status == DPOP_OK) {
        printf("signed in from the saved state (%s)\n", state_file);
    } else {
        /* DPOP_ERR_IO: no file, the first run. Anything else (damaged, another passphrase or
         * Windows user, other settings): start clean. */
        if (status != DPOP_ERR_IO) {
            char text[1024] = "";
            dpop_http_last_error_text(http, text, sizeof text, NULL);
            printf("the saved state cannot be used (%s: %s); signing in again\n", dpop_error_name(status), text);
        }
        dpop_http_clear_state(http, state_file);
        /* The key the tokens are bound to; the state file keeps it. */
        dpop_key *key = dpop_key_new();
        status = dpop_key_generate(key, "ES256");
        if (status != DPOP_OK) {
            fprintf(stderr, "dpop_key_generate failed: %s\n", dpop_error_name(status));
            return 1;
        }
        status = dpop_http_set_key(http, key);
        dpop_key_free(key); /* the object keeps its own reference */
        if (status != DPOP_OK) {
            fail(http, "dpop_http_set_key", status);
        }
        sign_in(http, state_file, passphrase);
    }

    const char *body = dpop_http_get(http, api_url);
    if (body == NULL && dpop_last_error_code() == DPOP_ERR_SIGN_IN_REQUIRED) {
        /* The server refused the saved refresh token: sign in again (the key stays). */
        printf("the saved sign-in is no longer accepted; signing in again\n");
        sign_in(http, state_file, passphrase);
        body = dpop_http_get(http, api_url);
    }
    if (body == NULL) {
        fail(http, "dpop_http_get", dpop_last_error_code());
    }
    int http_status = dpop_http_last_status(http);
    printf("status: %d\n%s\n", http_status, body);
    dpop_http_free(http);
    return http_status >= 200 && http_status < 300 ? 0 : 1;
}
