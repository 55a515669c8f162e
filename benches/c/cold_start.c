/*
 * cold_start: the whole life of a small process that signs one DPoP proof: load the library,
 * read a PEM key file, sign a proof, print it. benches/run.sh times many runs of it next to
 * `openssl dgst -sha256 -sign` doing the equivalent (read a PEM key, hash and sign).
 *
 *   cold_start KEY_FILE
 */
#include <stdio.h>

#include "dpop.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s KEY_FILE\n", argv[0]);
        return 2;
    }
    dpop_key *key = dpop_key_new();
    char proof[1024];
    dpop_status status = dpop_key_load(key, argv[1], NULL);
    if (status == DPOP_OK) {
        status = dpop_proof_create(key, "GET", "https://api.example.com/resource", NULL, NULL, NULL, proof,
                                   sizeof proof, NULL);
    }
    if (status != DPOP_OK) {
        fprintf(stderr, "cold_start: %s: %s\n", dpop_error_name(status), dpop_last_error_message());
        dpop_key_free(key);
        return 1;
    }
    puts(proof);
    dpop_key_free(key);
    return 0;
}
