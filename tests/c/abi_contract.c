/*
 * abi_contract: the C boundary's promises, checked from C. NULL pointers, invalid UTF-8,
 * too-small buffers, empty handles and bad arguments each give their status code and a
 * message; nothing crashes. Run under valgrind by `make test` when valgrind is installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"
/* A second inclusion must be harmless (include guard, macros defined once). */
#include "dpop.h"

#include "check.h"

/* The status is `want` and the thread's message mentions `needle`. */
#define CHECK_STATUS(expr, want, needle)                                                       \
    do {                                                                                       \
        dpop_status got_ = (expr);                                                             \
        CHECK(got_ == (want));                                                                 \
        CHECK(dpop_last_error_code() == (want));                                               \
        CHECK(strstr(dpop_last_error_message(), (needle)) != NULL);                            \
        if (got_ != (want) || strstr(dpop_last_error_message(), (needle)) == NULL) {           \
            fprintf(stderr, "  got %s: %s\n", dpop_error_name(got_), dpop_last_error_message()); \
        }                                                                                      \
    } while (0)

static void test_version(void) {
    char expected[32];
    snprintf(expected, sizeof expected, "%d.%d.%d", DPOP_VERSION_MAJOR, DPOP_VERSION_MINOR,
             DPOP_VERSION_PATCH);
    CHECK(strcmp(dpop_version(), expected) == 0);
}

static void test_error_names(void) {
    CHECK(strcmp(dpop_error_name(DPOP_OK), "DPOP_OK") == 0);
    CHECK(strcmp(dpop_error_name(DPOP_ERR_KEY_WRONG_PASSWORD), "DPOP_ERR_KEY_WRONG_PASSWORD") == 0);
    CHECK(strcmp(dpop_error_name(DPOP_ERR_PROOF_NONCE), "DPOP_ERR_PROOF_NONCE") == 0);
    CHECK(strcmp(dpop_error_name(-12345), "DPOP_ERR_UNKNOWN") == 0);
}

static void test_null_pointers(void) {
    char buf[256];
    size_t size = 0;
    CHECK_STATUS(dpop_key_load(NULL, "x.pem", NULL), DPOP_ERR_NULL_POINTER, "'key' is NULL");
    CHECK_STATUS(dpop_key_generate(NULL, NULL), DPOP_ERR_NULL_POINTER, "dpop_key_generate");
    CHECK_STATUS(dpop_key_public_jwk(NULL, buf, sizeof buf, &size), DPOP_ERR_NULL_POINTER, "'key'");
    CHECK_STATUS(dpop_proof_create(NULL, "GET", "https://a/", NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_NULL_POINTER, "'key'");
    CHECK(dpop_key_alg(NULL) == NULL);
    CHECK(dpop_key_last_error_text(NULL, buf, sizeof buf, &size) == DPOP_ERR_NULL_POINTER);
    dpop_key_free(NULL);

    dpop_key *key = dpop_key_new();
    CHECK(key != NULL);
    CHECK_STATUS(dpop_key_load(key, NULL, NULL), DPOP_ERR_NULL_POINTER, "'path' is NULL");
    CHECK_STATUS(dpop_key_load_memory(key, NULL, 10, NULL), DPOP_ERR_NULL_POINTER, "'data' is NULL");
    CHECK_STATUS(dpop_key_load_memory(key, NULL, 0, NULL), DPOP_ERR_KEY_UNRECOGNIZED, "empty");
    CHECK(dpop_key_generate(key, NULL) == DPOP_OK);
    CHECK(strcmp(dpop_key_alg(key), "ES256") == 0);
    CHECK_STATUS(dpop_proof_create(key, NULL, "https://a/", NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_NULL_POINTER, "'method' is NULL");
    CHECK_STATUS(dpop_proof_create(key, "GET", NULL, NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_NULL_POINTER, "'url' is NULL");
    /* out_size may be NULL. */
    CHECK(dpop_key_thumbprint(key, buf, sizeof buf, NULL) == DPOP_OK);
    CHECK(strlen(buf) == 43);
    dpop_key_free(key);
}

static void test_invalid_utf8(void) {
    dpop_key *key = dpop_key_new();
    char buf[1024];
    size_t size = 0;
    CHECK_STATUS(dpop_key_load(key, "\xff\xfe.pem", NULL), DPOP_ERR_INVALID_UTF8, "'path' is not valid UTF-8");
    CHECK_STATUS(dpop_key_generate(key, "ES\xc3"), DPOP_ERR_INVALID_UTF8, "'alg'");
    CHECK(dpop_key_generate(key, "EdDSA") == DPOP_OK);
    CHECK_STATUS(dpop_proof_create(key, "GET", "https://a/\xe2\x82", NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_INVALID_UTF8, "'url'");
    CHECK_STATUS(dpop_proof_create(key, "GET", "https://a/", NULL, "n\x80", NULL, buf, sizeof buf, &size),
                 DPOP_ERR_INVALID_UTF8, "'nonce'");
    CHECK_STATUS(dpop_key_private_pem(key, "pw\xff", buf, sizeof buf, &size), DPOP_ERR_INVALID_UTF8, "'password'");
    dpop_key_free(key);
}

static void test_buffers(void) {
    dpop_key *key = dpop_key_new();
    CHECK(dpop_key_generate(key, "ES384") == DPOP_OK);
    size_t size = 0;
    CHECK_STATUS(dpop_key_thumbprint(key, NULL, 0, &size), DPOP_ERR_BUFFER_TOO_SMALL, "44 are needed");
    CHECK(size == 44);
    char small[10];
    memset(small, 'Z', sizeof small);
    CHECK_STATUS(dpop_key_public_jwk(key, small, sizeof small, &size), DPOP_ERR_BUFFER_TOO_SMALL, "holds 10 bytes");
    CHECK(small[0] == 'Z'); /* untouched on failure */
    char *jwk = malloc(size);
    CHECK(dpop_key_public_jwk(key, jwk, size, &size) == DPOP_OK);
    CHECK(strlen(jwk) + 1 == size);
    CHECK(strstr(jwk, "\"crv\":\"P-384\"") != NULL);
    free(jwk);

    /* The key's error text is readable, and asking for it with a small buffer keeps it. */
    CHECK(dpop_key_thumbprint(key, small, sizeof small, &size) == DPOP_ERR_BUFFER_TOO_SMALL);
    size_t text_size = 0;
    CHECK(dpop_key_last_error_text(key, small, 2, &text_size) == DPOP_ERR_BUFFER_TOO_SMALL);
    char text[256];
    CHECK(dpop_key_last_error_text(key, text, sizeof text, &text_size) == DPOP_OK);
    CHECK(strstr(text, "dpop_key_thumbprint: the output buffer holds 10 bytes") == text);
    /* A successful call clears the handle's text; the thread's record stays, like errno. */
    char thumb[64];
    CHECK(dpop_key_thumbprint(key, thumb, sizeof thumb, &size) == DPOP_OK);
    CHECK(dpop_key_last_error_text(key, text, sizeof text, &text_size) == DPOP_OK);
    CHECK(text[0] == '\0' && text_size == 1);
    CHECK(dpop_last_error_code() == DPOP_ERR_BUFFER_TOO_SMALL);
    dpop_key_free(key);
}

static void test_empty_handle_and_bad_arguments(void) {
    dpop_key *key = dpop_key_new();
    char buf[2048];
    size_t size = 0;
    CHECK(dpop_key_alg(key) == NULL);
    CHECK_STATUS(dpop_key_thumbprint(key, buf, sizeof buf, &size), DPOP_ERR_KEY_NOT_LOADED, "holds no key");
    CHECK_STATUS(dpop_proof_create(key, "GET", "https://a/", NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_KEY_NOT_LOADED, "dpop_key_generate");
    CHECK_STATUS(dpop_key_generate(key, "RS512"), DPOP_ERR_INVALID_ARGUMENT,
                 "unsupported algorithm 'RS512': use ES256, ES384, EdDSA, PS256 or RS256");
    CHECK_STATUS(dpop_key_load(key, "/nonexistent/key.pem", NULL), DPOP_ERR_IO, "/nonexistent/key.pem");
    CHECK_STATUS(dpop_key_load(key, "/", NULL), DPOP_ERR_IO, "key file '/'");
    CHECK(dpop_key_generate(key, "es256") == DPOP_OK);
    CHECK_STATUS(dpop_proof_create(key, "G T", "https://a/", NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_PROOF_METHOD, "not a valid HTTP method");
    CHECK_STATUS(dpop_proof_create(key, "GET", "ftp://a/", NULL, NULL, NULL, buf, sizeof buf, &size),
                 DPOP_ERR_PROOF_URL, "not an http or https URL");
    CHECK_STATUS(dpop_proof_create(key, "GET", "https://a/", NULL, NULL, "{\"htu\":1}", buf, sizeof buf, &size),
                 DPOP_ERR_PROOF_CLAIMS, "'htu' is set by libdpop");
    /* Optional strings: "" means absent, as NULL does (4GL hosts cannot always pass NULL). */
    CHECK(dpop_proof_create(key, "GET", "https://a/", "", "", "", buf, sizeof buf, &size) == DPOP_OK);
    CHECK(strstr(buf, ".") != NULL);
    CHECK(dpop_key_private_pem(key, "", buf, sizeof buf, &size) == DPOP_OK);
    CHECK(strncmp(buf, "-----BEGIN PRIVATE KEY-----", 27) == 0);
    CHECK_STATUS(dpop_proof_create(key, "GET", "https://a/", NULL, "bad nonce", NULL, buf, sizeof buf, &size),
                 DPOP_ERR_PROOF_NONCE, "DPoP-Nonce");
    /* A failed load keeps the key the handle had. */
    CHECK(dpop_key_load_memory(key, (const uint8_t *)"garbage", 7, NULL) == DPOP_ERR_KEY_UNRECOGNIZED);
    CHECK(dpop_key_alg(key) != NULL);
    CHECK(dpop_proof_create(key, "GET", "https://a/", NULL, NULL, NULL, buf, sizeof buf, &size) == DPOP_OK);
    dpop_key_free(key);
}

/* The throwaway test keys under core/tests/data/rsa (make runs this from the worktree root). */
#ifndef RSA_TEST_DATA
#define RSA_TEST_DATA "core/tests/data/rsa/"
#endif

static void test_rsa(void) {
    dpop_key *key = dpop_key_new();
    char buf[4096], thumbprint[64];
    size_t size = 0;
    CHECK_STATUS(dpop_key_set_alg(key, "RS256"), DPOP_ERR_KEY_NOT_LOADED, "holds no key");
    CHECK(dpop_key_load(key, RSA_TEST_DATA "throwaway-rsa2048-pkcs1.pem", NULL) == DPOP_OK);
    CHECK(strcmp(dpop_key_alg(key), "PS256") == 0);
    CHECK(dpop_key_public_jwk(key, buf, sizeof buf, &size) == DPOP_OK);
    CHECK(strncmp(buf, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"", 29) == 0);
    CHECK(dpop_key_thumbprint(key, thumbprint, sizeof thumbprint, &size) == DPOP_OK);
    /* The same key signs with RS256: the thumbprint (and so a bound token) stays. */
    CHECK(dpop_key_set_alg(key, "rs256") == DPOP_OK);
    CHECK(strcmp(dpop_key_alg(key), "RS256") == 0);
    CHECK(dpop_key_thumbprint(key, buf, sizeof buf, &size) == DPOP_OK);
    CHECK(strcmp(buf, thumbprint) == 0);
    CHECK(dpop_proof_create(key, "GET", "https://a/", NULL, NULL, NULL, buf, sizeof buf, &size) == DPOP_OK);
    CHECK_STATUS(dpop_key_set_alg(key, "ES256"), DPOP_ERR_INVALID_ARGUMENT, "it signs with PS256 or RS256");
    CHECK_STATUS(dpop_key_set_alg(key, "HS256"), DPOP_ERR_INVALID_ARGUMENT, "unsupported algorithm 'HS256'");
    CHECK_STATUS(dpop_key_set_alg(key, NULL), DPOP_ERR_NULL_POINTER, "'alg' is NULL");
    CHECK_STATUS(dpop_key_set_alg(key, "PS\xc3"), DPOP_ERR_INVALID_UTF8, "'alg'");
    CHECK_STATUS(dpop_key_set_alg(NULL, "PS256"), DPOP_ERR_NULL_POINTER, "'key'");
    CHECK(strcmp(dpop_key_alg(key), "RS256") == 0); /* failures keep the key */

    CHECK_STATUS(dpop_key_load(key, RSA_TEST_DATA "throwaway-rsa1024-pkcs1.pem", NULL), DPOP_ERR_KEY_RSA,
                 "RSA keys under 2048 bits are refused; this key has 1024 bits");
    CHECK_STATUS(dpop_key_generate_rsa(key, 1024, NULL), DPOP_ERR_INVALID_ARGUMENT, "2048, 3072 or 4096");
    CHECK_STATUS(dpop_key_generate_rsa(key, 8192, "PS256"), DPOP_ERR_INVALID_ARGUMENT, "2048, 3072 or 4096");
    CHECK_STATUS(dpop_key_generate_rsa(key, -2048, "PS256"), DPOP_ERR_INVALID_ARGUMENT, "bits is -2048");
    CHECK_STATUS(dpop_key_generate_rsa(key, 2048, "ES256"), DPOP_ERR_INVALID_ARGUMENT, "PS256 or RS256");
    CHECK_STATUS(dpop_key_generate_rsa(key, 2048, "PS\xc3"), DPOP_ERR_INVALID_UTF8, "'alg'");
    CHECK_STATUS(dpop_key_generate_rsa(NULL, 2048, NULL), DPOP_ERR_NULL_POINTER, "'key'");
    CHECK(dpop_key_generate_rsa(key, 2048, "RS256") == DPOP_OK);
    CHECK(strcmp(dpop_key_alg(key), "RS256") == 0);
    CHECK(dpop_key_generate_rsa(key, 2048, "") == DPOP_OK);
    CHECK(strcmp(dpop_key_alg(key), "PS256") == 0);
    CHECK(dpop_key_generate(key, "PS256") == DPOP_OK);
    CHECK(dpop_key_public_jwk(key, buf, sizeof buf, &size) == DPOP_OK);
    CHECK(strlen(buf) == 29 + 512 + 2); /* 3072 bits: n is 512 base64url characters */
    CHECK(dpop_key_private_pem(key, NULL, buf, sizeof buf, &size) == DPOP_OK);
    CHECK(strncmp(buf, "-----BEGIN PRIVATE KEY-----", 27) == 0);
    /* An EC key takes its own algorithm only. */
    CHECK(dpop_key_generate(key, "ES384") == DPOP_OK);
    CHECK(dpop_key_set_alg(key, "ES384") == DPOP_OK);
    CHECK_STATUS(dpop_key_set_alg(key, "PS256"), DPOP_ERR_INVALID_ARGUMENT, "it signs with ES384");
    dpop_key_free(key);
}

int main(void) {
    test_version();
    test_error_names();
    test_null_pointers();
    test_invalid_utf8();
    test_buffers();
    test_empty_handle_and_bad_arguments();
    test_rsa();
    printf("abi_contract: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
