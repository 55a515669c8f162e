/*
 * interop_client: one long-lived dpop_http object driven step by step from the command line,
 * for the interop suite (tests/interop/run.mjs). It covers what examples-c/client_credentials
 * does not: several requests on one object, other key algorithms, client_secret_basic, explicit
 * resource indicators, POST bodies, waiting for a token to expire, the sign-in (issue 16) and
 * the saved state.
 *
 *   interop_client KEY SETTINGS_JSON STEP...
 *     KEY            ES256, ES384 or EdDSA (a new key), the path of a key file, or none (no
 *                    key: one comes from a saved state)
 *     SETTINGS_JSON  the token settings for dpop_http_set_auth_token
 *   steps:
 *     get URL        GET; prints "get <status> <body>"
 *     post URL BODY  POST with a JSON body; prints "post <status> <body>"
 *     sleep MS       waits
 *     margin S       dpop_http_set_refresh_margin(S)
 *     clear          dpop_http_clear_token
 *     token VALUE    dpop_http_set_access_token(VALUE, "DPoP"): a host-provided token
 *     info           prints "info <token info JSON>" (or "info none")
 *   sign-in and saved-state steps:
 *     signin MS      dpop_http_sign_in(MS): the browser is the program named by DPOP_BROWSER
 *     start OPEN     dpop_http_sign_in_start(OPEN)
 *     url            prints "url <the authorization URL>" (dpop_http_sign_in_url)
 *     wait MS        dpop_http_sign_in_wait(MS): prints "wait OK" or "wait PENDING"
 *     poll MS        dpop_http_sign_in_wait(50) until it is not PENDING, for up to MS
 *     cancel         dpop_http_sign_in_cancel
 *     save PATH PASS, load PATH PASS, forget PATH
 *                    dpop_http_save_state, dpop_http_load_state, dpop_http_clear_state
 *   The sign-in and state steps print "<step> OK" on success.
 *
 * Prints "jkt <thumbprint>" first (not with KEY none). A request that gets no response prints
 * "error <DPOP_ERR_NAME> <text>" and the steps go on; the exit status is 0 unless an argument
 * or the setup is wrong (the driver judges the output).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpop.h"

static void print_error(const dpop_http *http, dpop_status status) {
    char text[2048];
    if (dpop_http_last_error_text(http, text, sizeof text, NULL) != DPOP_OK || text[0] == '\0') {
        snprintf(text, sizeof text, "%s", dpop_last_error_message());
    }
    for (char *p = text; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }
    printf("error %s %s\n", dpop_error_name(status), text);
}

/* "<step> OK", or the error line. */
static void print_outcome(const dpop_http *http, const char *step, dpop_status status) {
    if (status == DPOP_OK) {
        printf("%s OK\n", step);
    } else {
        print_error(http, status);
    }
}

static int setup_failed(const char *what, dpop_status status) {
    fprintf(stderr, "interop_client: %s failed: %s: %s\n", what, dpop_error_name(status),
            dpop_last_error_message());
    return 2;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s KEY SETTINGS_JSON STEP...\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    dpop_key *key = dpop_key_new();
    const char *k = argv[1];
    dpop_status status = DPOP_OK;
    if (strcmp(k, "none") != 0) {
        status = strcmp(k, "ES256") == 0 || strcmp(k, "ES384") == 0 || strcmp(k, "EdDSA") == 0
                     ? dpop_key_generate(key, k)
                     : dpop_key_load(key, k, NULL);
        if (status != DPOP_OK) {
            return setup_failed("loading the key", status);
        }
        char jkt[64];
        if ((status = dpop_key_thumbprint(key, jkt, sizeof jkt, NULL)) != DPOP_OK) {
            return setup_failed("dpop_key_thumbprint", status);
        }
        printf("jkt %s\n", jkt);
    }

    dpop_http *http = dpop_http_new();
    if (strcmp(k, "none") != 0 && (status = dpop_http_set_key(http, key)) != DPOP_OK) {
        return setup_failed("dpop_http_set_key", status);
    }
    if ((status = dpop_http_set_auth_token(http, argv[2])) != DPOP_OK) {
        return setup_failed("dpop_http_set_auth_token", status);
    }
    const char *log = getenv("DPOP_SESSION_LOG");
    if (log != NULL && log[0] != '\0' && (status = dpop_http_set_session_log(http, log)) != DPOP_OK) {
        return setup_failed("dpop_http_set_session_log", status);
    }

    int result = 0;
    for (int i = 3; i < argc && result == 0; i++) {
        const char *step = argv[i];
        int has1 = i + 1 < argc, has2 = i + 2 < argc;
        if (strcmp(step, "get") == 0 && has1) {
            const char *body = dpop_http_get(http, argv[++i]);
            if (body == NULL) {
                print_error(http, dpop_last_error_code());
            } else {
                printf("get %d %s\n", dpop_http_last_status(http), body);
            }
        } else if (strcmp(step, "post") == 0 && has2) {
            const char *url = argv[++i];
            const char *data = argv[++i];
            dpop_response *response = NULL;
            status = dpop_http_request(http, "POST", url, "Content-Type: application/json", (const uint8_t *)data,
                                       strlen(data), &response);
            if (status != DPOP_OK) {
                print_error(http, status);
            } else {
                printf("post %d %s\n", dpop_response_status(response),
                       (const char *)dpop_response_body(response, NULL));
                dpop_response_free(response);
            }
        } else if (strcmp(step, "sleep") == 0 && has1) {
            sleep_ms(strtol(argv[++i], NULL, 10));
        } else if (strcmp(step, "margin") == 0 && has1) {
            status = dpop_http_set_refresh_margin(http, (uint32_t)strtoul(argv[++i], NULL, 10));
            result = status == DPOP_OK ? 0 : setup_failed("dpop_http_set_refresh_margin", status);
        } else if (strcmp(step, "clear") == 0) {
            status = dpop_http_clear_token(http);
            result = status == DPOP_OK ? 0 : setup_failed("dpop_http_clear_token", status);
        } else if (strcmp(step, "token") == 0 && has1) {
            status = dpop_http_set_access_token(http, argv[++i], "DPoP");
            result = status == DPOP_OK ? 0 : setup_failed("dpop_http_set_access_token", status);
        } else if (strcmp(step, "info") == 0) {
            char info[1024];
            status = dpop_http_token_info(http, info, sizeof info, NULL);
            if (status == DPOP_OK) {
                printf("info %s\n", info);
            } else if (status == DPOP_ERR_NOT_FOUND) {
                printf("info none\n");
            } else {
                result = setup_failed("dpop_http_token_info", status);
            }
        } else if (strcmp(step, "signin") == 0 && has1) {
            print_outcome(http, step, dpop_http_sign_in(http, (uint32_t)strtoul(argv[++i], NULL, 10)));
        } else if (strcmp(step, "start") == 0 && has1) {
            print_outcome(http, step, dpop_http_sign_in_start(http, (int32_t)strtol(argv[++i], NULL, 10)));
        } else if (strcmp(step, "url") == 0) {
            char url[8192];
            status = dpop_http_sign_in_url(http, url, sizeof url, NULL);
            if (status == DPOP_OK) {
                printf("url %s\n", url);
            } else {
                print_error(http, status);
            }
        } else if (strcmp(step, "wait") == 0 && has1) {
            status = dpop_http_sign_in_wait(http, (uint32_t)strtoul(argv[++i], NULL, 10));
            if (status == DPOP_ERR_PENDING) {
                printf("wait PENDING\n");
            } else {
                print_outcome(http, step, status);
            }
        } else if (strcmp(step, "poll") == 0 && has1) {
            long left = strtol(argv[++i], NULL, 10);
            while ((status = dpop_http_sign_in_wait(http, 50)) == DPOP_ERR_PENDING && left > 0) {
                left -= 50;
            }
            print_outcome(http, step, status);
        } else if (strcmp(step, "cancel") == 0) {
            print_outcome(http, step, dpop_http_sign_in_cancel(http));
        } else if (strcmp(step, "save") == 0 && has2) {
            const char *path = argv[++i];
            print_outcome(http, step, dpop_http_save_state(http, path, argv[++i]));
        } else if (strcmp(step, "load") == 0 && has2) {
            const char *path = argv[++i];
            print_outcome(http, step, dpop_http_load_state(http, path, argv[++i]));
        } else if (strcmp(step, "forget") == 0 && has1) {
            print_outcome(http, step, dpop_http_clear_state(http, argv[++i]));
        } else {
            fprintf(stderr, "interop_client: bad step '%s' (or its arguments are missing)\n", step);
            result = 2;
        }
    }
    dpop_http_free(http);
    dpop_key_free(key);
    return result;
}
