/*
 * key_and_proof: load a DPoP key (or generate one), print its public JWK, its thumbprint
 * and one DPoP proof.
 *
 *   key_and_proof [KEY_FILE [PASSWORD]] [--url URL] [--method METHOD]
 *
 * KEY_FILE may be PEM (SEC1, PKCS#8, encrypted PKCS#8), DER or a private JWK. Without it a
 * new ES256 key is generated and printed as PKCS#8 PEM so it can be kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"

/* Reports a failed call with the key's own error text, and exits. */
static void fail(const dpop_key *key, const char *what, dpop_status status) {
    char text[1024];
    size_t size = 0;
    if (key == NULL || dpop_key_last_error_text(key, text, sizeof text, &size) != DPOP_OK) {
        snprintf(text, sizeof text, "%s", dpop_last_error_message());
    }
    fprintf(stderr, "%s failed: %s (%d)\n  %s\n", what, dpop_error_name(status), status, text);
    exit(1);
}

/* Calls one of the string getters twice: first for the size, then into a buffer of that size. */
typedef dpop_status (DPOP_CALL *key_getter)(const dpop_key *, char *, size_t, size_t *);

static char *get_string(const dpop_key *key, key_getter get, const char *what) {
    size_t size = 0;
    dpop_status status = get(key, NULL, 0, &size);
    if (status != DPOP_ERR_BUFFER_TOO_SMALL) {
        fail(key, what, status);
    }
    char *buf = malloc(size);
    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    status = get(key, buf, size, &size);
    if (status != DPOP_OK) {
        fail(key, what, status);
    }
    return buf;
}

int main(int argc, char **argv) {
    const char *key_file = NULL;
    const char *password = NULL;
    const char *url = "https://api.example.com/resource?query=1";
    const char *method = "GET";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) {
            method = argv[++i];
        } else if (key_file == NULL) {
            key_file = argv[i];
        } else if (password == NULL) {
            password = argv[i];
        } else {
            fprintf(stderr, "usage: %s [KEY_FILE [PASSWORD]] [--url URL] [--method METHOD]\n", argv[0]);
            return 2;
        }
    }

    printf("libdpop %s\n", dpop_version());
    dpop_key *key = dpop_key_new();
    if (key == NULL) {
        fail(NULL, "dpop_key_new", dpop_last_error_code());
    }
    dpop_status status = key_file != NULL ? dpop_key_load(key, key_file, password)
                                          : dpop_key_generate(key, "ES256");
    if (status != DPOP_OK) {
        fail(key, key_file != NULL ? "dpop_key_load" : "dpop_key_generate", status);
    }
    if (key_file == NULL) {
        char pem[1024];
        size_t size = 0;
        status = dpop_key_private_pem(key, NULL, pem, sizeof pem, &size);
        if (status != DPOP_OK) {
            fail(key, "dpop_key_private_pem", status);
        }
        printf("generated key:\n%s", pem);
    }

    char *jwk = get_string(key, dpop_key_public_jwk, "dpop_key_public_jwk");
    char *thumbprint = get_string(key, dpop_key_thumbprint, "dpop_key_thumbprint");
    printf("alg: %s\n", dpop_key_alg(key));
    printf("public jwk: %s\n", jwk);
    printf("thumbprint: %s\n", thumbprint);

    char proof[4096]; /* an RSA-4096 proof is about 2 kB */
    size_t size = 0;
    status = dpop_proof_create(key, method, url, NULL, NULL, NULL, proof, sizeof proof, &size);
    if (status != DPOP_OK) {
        fail(key, "dpop_proof_create", status);
    }
    printf("proof: %s\n", proof);

    free(jwk);
    free(thumbprint);
    dpop_key_free(key);
    return 0;
}
