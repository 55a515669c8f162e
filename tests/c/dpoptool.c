/*
 * dpoptool: drives libdpop through its C ABI for the Python tests (tests/python), which
 * check what it prints with independent implementations (OpenSSL, jwcrypto, cryptography).
 *
 *   dpoptool load FILE [--password P] [--memory]
 *       prints {"alg":..,"jwk":..,"thumbprint":..} or, on failure,
 *       "ERROR <name> <code>" then the key's error text and the thread's error text (exit 3)
 *   dpoptool proof FILE METHOD URL [--password P] [--token T] [--nonce N] [--claims JSON]
 *                  [--count N]
 *       prints N proofs, one per line
 *   dpoptool generate ALG OUT_PEM OUT_JWK [--password P]
 *       generates a key, writes its PKCS#8 PEM (encrypted with P if given) and private JWK,
 *       prints as "load" does
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpop.h"

static const char *option(int argc, char **argv, const char *name) {
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

static int flag(int argc, char **argv, const char *name) {
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int report(const dpop_key *key, dpop_status status) {
    char text[2048] = "";
    size_t size = 0;
    if (dpop_key_last_error_text(key, text, sizeof text, &size) != DPOP_OK) {
        snprintf(text, sizeof text, "(no key error text)");
    }
    printf("ERROR %s %d\n%s\n%s\n", dpop_error_name(status), status, text, dpop_last_error_message());
    return 3;
}

static dpop_status load(dpop_key *key, const char *path, const char *password, int memory) {
    if (!memory) {
        return dpop_key_load(key, path, password);
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    static unsigned char data[1 << 20];
    size_t len = fread(data, 1, sizeof data, f);
    fclose(f);
    return dpop_key_load_memory(key, data, len, password);
}

static void print_key(const dpop_key *key) {
    char jwk[2048], thumbprint[64];
    size_t size = 0;
    if (dpop_key_public_jwk(key, jwk, sizeof jwk, &size) != DPOP_OK ||
        dpop_key_thumbprint(key, thumbprint, sizeof thumbprint, &size) != DPOP_OK) {
        exit(report(key, dpop_last_error_code()));
    }
    printf("{\"alg\":\"%s\",\"jwk\":%s,\"thumbprint\":\"%s\"}\n", dpop_key_alg(key), jwk, thumbprint);
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of dpoptool.c\n");
        return 2;
    }
    const char *password = option(argc, argv, "--password");
    dpop_key *key = dpop_key_new();
    dpop_status status;

    if (strcmp(argv[1], "load") == 0) {
        status = load(key, argv[2], password, flag(argc, argv, "--memory"));
        if (status != DPOP_OK) {
            return report(key, status);
        }
        print_key(key);
    } else if (strcmp(argv[1], "proof") == 0 && argc >= 5) {
        status = load(key, argv[2], password, 0);
        if (status != DPOP_OK) {
            return report(key, status);
        }
        const char *count_text = option(argc, argv, "--count");
        long count = count_text != NULL ? strtol(count_text, NULL, 10) : 1;
        char proof[4096];
        for (long i = 0; i < count; i++) {
            size_t size = 0;
            status = dpop_proof_create(key, argv[3], argv[4], option(argc, argv, "--token"),
                                       option(argc, argv, "--nonce"), option(argc, argv, "--claims"),
                                       proof, sizeof proof, &size);
            if (status != DPOP_OK) {
                return report(key, status);
            }
            puts(proof);
        }
    } else if (strcmp(argv[1], "generate") == 0 && argc >= 5) {
        status = dpop_key_generate(key, argv[2]);
        if (status != DPOP_OK) {
            return report(key, status);
        }
        char pem[8192], jwk[8192]; /* a 3072-bit RSA key: about 2.5 kB each */
        size_t size = 0;
        if ((status = dpop_key_private_pem(key, password, pem, sizeof pem, &size)) != DPOP_OK ||
            (status = dpop_key_private_jwk(key, jwk, sizeof jwk, &size)) != DPOP_OK) {
            return report(key, status);
        }
        if (write_file(argv[3], pem) != 0 || write_file(argv[4], jwk) != 0) {
            return 2;
        }
        print_key(key);
    } else {
        fprintf(stderr, "unknown command '%s'\n", argv[1]);
        return 2;
    }
    dpop_key_free(key);
    return 0;
}
