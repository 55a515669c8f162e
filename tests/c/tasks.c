/*
 * tasks: the dpop_task C API against the local test server (run through tests/with_server.sh,
 * which sets DPOP_TOKEN_ENDPOINT and DPOP_API_URL). Many tasks on one dpop_http, a wait with a
 * timeout and a cancel while the server holds the request (its /stall path), a failed task's
 * code and text, tasks that outlive their freed dpop_http, a running task freed, and the
 * arguments. Under valgrind and ASan: nothing leaks, nothing is used after it was freed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"

#include "check.h"

static const char *SECRET = "c-test-secret-8JqL2vX";

/* Long timeouts: what ends a request the server holds is the cancel, never a timeout. */
static dpop_http *new_http(const char *token_endpoint) {
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    dpop_http *http = dpop_http_new();
    CHECK(dpop_http_set_key(http, key) == DPOP_OK);
    dpop_key_free(key);
    char settings[1024];
    snprintf(settings, sizeof settings,
             "{\"client_id\":\"m2m.dpop\",\"client_secret\":\"%s\",\"token_endpoint\":\"%s\",\"scope\":\"api\"}",
             SECRET, token_endpoint);
    CHECK(dpop_http_set_auth_token(http, settings) == DPOP_OK);
    CHECK(dpop_http_set_timeouts(http, 60000, 60000) == DPOP_OK);
    CHECK(dpop_http_set_request_timeout(http, 120000) == DPOP_OK);
    return http;
}

/* The task has finished (within two minutes) with a 200 response. */
static void check_ok(dpop_task *task) {
    CHECK(dpop_task_wait(task, 120000) == DPOP_OK);
    CHECK(dpop_task_status(task) == DPOP_TASK_COMPLETED);
    dpop_response *resp = NULL;
    CHECK(dpop_task_result(task, &resp) == DPOP_OK);
    CHECK(dpop_response_status(resp) == 200);
    size_t len = 0;
    const char *body = (const char *)dpop_response_body(resp, &len);
    CHECK(body != NULL && strstr(body, "\"client_id\":\"m2m.dpop\"") != NULL);
    dpop_response_free(resp);
}

static void test_many(const char *token_endpoint, const char *api_url) {
    enum { N = 40 };
    dpop_http *http = new_http(token_endpoint);
    dpop_task *tasks[N];
    for (int i = 0; i < N; i++) {
        tasks[i] = NULL;
        if (i % 2 == 0) {
            CHECK(dpop_http_get_async(http, api_url, &tasks[i]) == DPOP_OK);
        } else {
            CHECK(dpop_http_request_async(http, "GET", api_url, "Accept: application/json", NULL, 0, &tasks[i]) ==
                  DPOP_OK);
        }
        CHECK(tasks[i] != NULL);
    }
    for (int i = 0; i < N; i++) {
        check_ok(tasks[i]);
        /* The result can be taken again: each call makes a new response. */
        dpop_response *again = NULL;
        CHECK(dpop_task_result(tasks[i], &again) == DPOP_OK);
        CHECK(dpop_response_status(again) == 200);
        dpop_response_free(again);
        dpop_task_free(tasks[i]);
    }
    char info[512];
    CHECK(dpop_http_token_info(http, info, sizeof info, NULL) == DPOP_OK);
    dpop_http_free(http);
}

static void test_cancel(const char *token_endpoint, const char *api_url, const char *stall_url) {
    dpop_http *http = new_http(token_endpoint);
    dpop_task *task = NULL;
    CHECK(dpop_http_get_async(http, stall_url, &task) == DPOP_OK);
    /* The server holds the request: waits run out. */
    CHECK(dpop_task_wait(task, 300) == DPOP_ERR_PENDING);
    CHECK(dpop_task_wait(task, 0) == DPOP_ERR_PENDING);
    int status = dpop_task_status(task);
    CHECK(status == DPOP_TASK_QUEUED || status == DPOP_TASK_RUNNING);
    dpop_response *resp = NULL;
    CHECK(dpop_task_result(task, &resp) == DPOP_ERR_PENDING);
    CHECK(resp == NULL);
    char text[1024] = "";
    CHECK(dpop_task_last_error_text(task, text, sizeof text, NULL) == DPOP_OK);
    CHECK(strstr(text, "dpop_task_result: ") == text && strstr(text, "not finished") != NULL);
    CHECK(dpop_task_cancel(task) == DPOP_OK);
    CHECK(dpop_task_cancel(task) == DPOP_OK);
    /* Far below the 60 s timeouts: the cancel, not a timeout, ended it. */
    CHECK(dpop_task_wait(task, 10000) == DPOP_OK);
    CHECK(dpop_task_status(task) == DPOP_TASK_CANCELLED);
    CHECK(dpop_task_result(task, &resp) == DPOP_ERR_CANCELLED);
    CHECK(resp == NULL);
    CHECK(dpop_last_error_code() == DPOP_ERR_CANCELLED);
    CHECK(dpop_task_last_error_text(task, text, sizeof text, NULL) == DPOP_OK);
    CHECK(strstr(text, "dpop_task_result: the request was cancelled") == text);
    dpop_task_free(task);
    /* The same object works on. */
    const char *body = dpop_http_get(http, api_url);
    CHECK(body != NULL && dpop_http_last_status(http) == 200);
    dpop_http_free(http);
}

static void test_failure(const char *token_endpoint) {
    dpop_http *http = new_http(token_endpoint);
    dpop_task *task = NULL;
    CHECK(dpop_http_get_async(http, "not a url", &task) == DPOP_OK);
    CHECK(dpop_task_wait(task, 120000) == DPOP_OK);
    CHECK(dpop_task_status(task) == DPOP_TASK_FAILED);
    dpop_response *resp = NULL;
    CHECK(dpop_task_result(task, &resp) == DPOP_ERR_HTTP_URL);
    CHECK(resp == NULL);
    char text[1024] = "";
    CHECK(dpop_task_last_error_text(task, text, sizeof text, NULL) == DPOP_OK);
    /* The reason the synchronous call gives. */
    CHECK(dpop_http_get(http, "not a url") == NULL);
    char sync_text[1024] = "";
    CHECK(dpop_http_last_error_text(http, sync_text, sizeof sync_text, NULL) == DPOP_OK);
    const char *reason = strchr(text, ':');
    const char *sync_reason = strchr(sync_text, ':');
    CHECK(reason != NULL && sync_reason != NULL && strcmp(reason, sync_reason) == 0);
    dpop_task_free(task);
    dpop_http_free(http);
}

static void test_outliving(const char *token_endpoint, const char *api_url, const char *stall_url) {
    /* Tasks whose dpop_http is freed at once: one completes, one is held by the server. */
    dpop_http *http = new_http(token_endpoint);
    dpop_task *done = NULL, *held = NULL;
    CHECK(dpop_http_get_async(http, api_url, &done) == DPOP_OK);
    CHECK(dpop_http_get_async(http, stall_url, &held) == DPOP_OK);
    dpop_http_free(http);
    check_ok(done);
    dpop_task_free(done);
    CHECK(dpop_task_wait(held, 200) == DPOP_ERR_PENDING);
    /* Freeing a running task cancels it; the worker stops in the background. */
    dpop_task_free(held);
}

static void test_arguments(void) {
    dpop_http *http = dpop_http_new();
    dpop_task *task = NULL;
    CHECK(dpop_http_get_async(NULL, "https://a/", &task) == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_http_get_async(http, NULL, &task) == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_http_get_async(http, "https://a/", NULL) == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_http_get_async(http, "\xff", &task) == DPOP_ERR_INVALID_UTF8);
    CHECK(dpop_http_request_async(http, "GET", "https://a/", "NoColonHere", NULL, 0, &task) ==
          DPOP_ERR_INVALID_ARGUMENT);
    char text[512] = "";
    CHECK(dpop_http_last_error_text(http, text, sizeof text, NULL) == DPOP_OK);
    CHECK(strstr(text, "dpop_http_request_async: ") == text);
    CHECK(dpop_http_request_async(http, "GET", "https://a/", NULL, NULL, 3, &task) == DPOP_ERR_NULL_POINTER);
    CHECK(task == NULL);
    CHECK(dpop_task_status(NULL) == 0);
    CHECK(dpop_task_wait(NULL, 0) == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_task_cancel(NULL) == DPOP_ERR_NULL_POINTER);
    dpop_response *resp = NULL;
    CHECK(dpop_task_result(NULL, &resp) == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_task_last_error_text(NULL, text, sizeof text, NULL) == DPOP_ERR_NULL_POINTER);
    dpop_task_free(NULL);
    /* A GET with a body fails in the task, as the synchronous call does. */
    CHECK(dpop_http_request_async(http, "GET", "https://a/", NULL, (const uint8_t *)"x", 1, &task) == DPOP_OK);
    CHECK(dpop_task_wait(task, 120000) == DPOP_OK);
    CHECK(dpop_task_result(task, NULL) == DPOP_ERR_NULL_POINTER);
    CHECK(dpop_task_result(task, &resp) == DPOP_ERR_INVALID_ARGUMENT);
    dpop_task_free(task);
    dpop_http_free(http);
}

int main(void) {
    const char *token_endpoint = getenv("DPOP_TOKEN_ENDPOINT");
    const char *api_url = getenv("DPOP_API_URL");
    if (token_endpoint == NULL || api_url == NULL) {
        fprintf(stderr, "run through tests/with_server.sh (DPOP_TOKEN_ENDPOINT, DPOP_API_URL)\n");
        return 2;
    }
    /* The server's /stall path: the request is read and never answered. */
    char stall_url[512];
    snprintf(stall_url, sizeof stall_url, "%s", token_endpoint);
    char *path = strrchr(stall_url, '/');
    snprintf(path, sizeof stall_url - (size_t)(path - stall_url), "/stall");
    test_arguments();
    test_many(token_endpoint, api_url);
    test_cancel(token_endpoint, api_url, stall_url);
    test_failure(token_endpoint);
    test_outliving(token_endpoint, api_url, stall_url);
    printf("tasks: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
