/*
 * system_roots: dpop.dll trusts the Windows certificate store by default (run under Wine by
 * tests/windows/system_roots.sh against the local test server serving HTTPS with a leaf from a
 * private CA made for the run).
 *
 * libdpop reads the store once per process (rustls-native-certs: the current user's ROOT
 * system store, opened through crypt32), so each step that needs a different store is its
 * own process:
 *
 *   system_roots.exe untrusted URL CA.pem   the CA is not in the store: (a) a GET with the
 *                                           system roots (the default) fails with
 *                                           DPOP_ERR_HTTP_TLS; (c) with the built-in roots
 *                                           only it fails too; (d) with the built-in roots
 *                                           and the CA file it succeeds
 *   system_roots.exe add user|machine CA.der   adds the CA to that ROOT store with crypt32
 *   system_roots.exe listed CA.der          the CA is in the current user's ROOT store as
 *                                           rustls-native-certs opens it, usable for TLS
 *                                           servers (exit 0), or not (exit 1)
 *   system_roots.exe trusted URL CA.pem     the CA is in the store: (b) a GET with the system
 *                                           roots and no CA file gets 200; (c) and (d) again
 *   system_roots.exe remove user|machine CA.der   takes it out again
 *   system_roots.exe purge user|machine     removes the CAs of earlier, interrupted runs
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <wincrypt.h>

#include "dpop.h"

#include "../c/check.h"

/* The start of the subject CN of the CAs tests/windows/system_roots.sh makes. */
#define TEST_CA_NAME "libdpop Wine system-roots test CA"

/* Set by get_once when the call failed because no trusted root issued the server's chain. */
static int untrusted_issuer;

/* One GET of url on a new dpop_http: use_system for dpop_http_set_system_roots, ca_file (or
 * NULL) for dpop_http_set_ca_file. Returns the status code and puts the HTTP status (0 when
 * none) in *http_status; prints the outcome with the error text. */
static dpop_status get_once(const char *what, const char *url, int use_system, const char *ca_file,
                            int *http_status) {
    dpop_http *http = dpop_http_new();
    dpop_key *key = dpop_key_new();
    CHECK(http != NULL && key != NULL);
    CHECK(dpop_key_generate(key, "ES256") == DPOP_OK);
    CHECK(dpop_http_set_key(http, key) == DPOP_OK);
    CHECK(dpop_http_set_system_roots(http, use_system) == DPOP_OK);
    if (ca_file != NULL) {
        CHECK(dpop_http_set_ca_file(http, ca_file) == DPOP_OK);
    }
    dpop_response *response = NULL;
    dpop_status status = dpop_http_request(http, "GET", url, NULL, NULL, 0, &response);
    char text[1024] = "";
    dpop_http_last_error_text(http, text, sizeof text, NULL);
    *http_status = status == DPOP_OK ? dpop_response_status(response) : 0;
    untrusted_issuer = status == DPOP_ERR_HTTP_TLS && strstr(text, "UnknownIssuer") != NULL;
    printf("  %s: %s, HTTP status %d%s%s\n", what, dpop_error_name(status), *http_status,
           status == DPOP_OK ? "" : ": ", status == DPOP_OK ? "" : text);
    dpop_response_free(response);
    dpop_key_free(key);
    dpop_http_free(http);
    return status;
}

/* (a) or (b), then (c) and (d), each on a new dpop_http. */
static void run_gets(const char *url, const char *ca_pem, int ca_in_store) {
    int code;
    dpop_status st;
    if (ca_in_store) {
        st = get_once("(b) system roots (default), CA in the store, no CA file", url, 1, NULL, &code);
        CHECK(st == DPOP_OK && code == 200);
    } else {
        st = get_once("(a) system roots (default), CA not in the store", url, 1, NULL, &code);
        CHECK(st == DPOP_ERR_HTTP_TLS && untrusted_issuer);
    }
    st = get_once("(c) built-in roots only (dpop_http_set_system_roots 0)", url, 0, NULL, &code);
    CHECK(st == DPOP_ERR_HTTP_TLS && untrusted_issuer);
    st = get_once("(d) built-in roots only and dpop_http_set_ca_file(CA)", url, 0, ca_pem, &code);
    CHECK(st == DPOP_OK && code == 200);
}

static BYTE *read_der(const char *path, DWORD *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    static BYTE data[16384];
    *len = (DWORD)fread(data, 1, sizeof data, f);
    fclose(f);
    return data;
}

/* The ROOT system store of the current user or of the machine: `reader` as schannel's
 * CertStore::open_current_user / open_local_machine open it (CERT_STORE_PROV_SYSTEM_W, under
 * Wine a collection of the user's registry store and the machine's), else the registry store
 * of that location alone (CERT_STORE_PROV_SYSTEM_REGISTRY_W). */
static HCERTSTORE open_root(const char *where, int reader) {
    DWORD location;
    if (strcmp(where, "user") == 0) {
        location = CERT_SYSTEM_STORE_CURRENT_USER;
    } else if (strcmp(where, "machine") == 0) {
        location = CERT_SYSTEM_STORE_LOCAL_MACHINE;
    } else {
        fprintf(stderr, "the store is 'user' or 'machine', not '%s'\n", where);
        exit(2);
    }
    LPCSTR provider = reader ? CERT_STORE_PROV_SYSTEM_W : CERT_STORE_PROV_SYSTEM_REGISTRY_W;
    HCERTSTORE store = CertOpenStore(provider, 0, 0, location, L"ROOT");
    if (store == NULL) {
        fprintf(stderr, "CertOpenStore(%s, %s, ROOT) failed: error 0x%08lx\n", reader ? "SYSTEM_W" : "SYSTEM_REGISTRY_W",
                where, (unsigned long)GetLastError());
    }
    return store;
}

/* The CA's context in store, or NULL. */
static PCCERT_CONTEXT find(HCERTSTORE store, const BYTE *der, DWORD len) {
    PCCERT_CONTEXT wanted = CertCreateCertificateContext(X509_ASN_ENCODING, der, len);
    if (wanted == NULL) {
        fprintf(stderr, "not a DER certificate: error 0x%08lx\n", (unsigned long)GetLastError());
        exit(2);
    }
    PCCERT_CONTEXT found = CertFindCertificateInStore(store, X509_ASN_ENCODING, 0, CERT_FIND_EXISTING, wanted, NULL);
    CertFreeCertificateContext(wanted);
    return found;
}

static int add(const char *where, const char *der_path) {
    DWORD len;
    const BYTE *der = read_der(der_path, &len);
    HCERTSTORE store = open_root(where, 1);
    if (store == NULL) {
        return 1;
    }
    BOOL ok = CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, der, len,
                                               CERT_STORE_ADD_REPLACE_EXISTING, NULL);
    if (!ok) {
        fprintf(stderr, "CertAddEncodedCertificateToStore(%s ROOT) failed: error 0x%08lx\n", where,
                (unsigned long)GetLastError());
    } else {
        printf("  the CA is added to the %s ROOT store (CertAddEncodedCertificateToStore)\n",
               strcmp(where, "user") == 0 ? "current user's" : "local machine's");
    }
    CertCloseStore(store, 0);
    return ok ? 0 : 1;
}

/* Deletes from the registry store itself: under Wine 8, CertDeleteCertificateFromStore on
 * the context found through the system (collection) store returns TRUE, but the certificate
 * stays in the registry. The CA of der_path, or with der_path NULL every CA these runs made
 * (left behind by an interrupted run). */
static int remove_ca(const char *where, const char *der_path) {
    DWORD len = 0;
    const BYTE *der = der_path != NULL ? read_der(der_path, &len) : NULL;
    HCERTSTORE store = open_root(where, 0);
    if (store == NULL) {
        return 1;
    }
    int removed = 0;
    for (;;) {
        PCCERT_CONTEXT found = der != NULL ? find(store, der, len)
                                           : CertFindCertificateInStore(store, X509_ASN_ENCODING, 0, CERT_FIND_SUBJECT_STR_A,
                                                                        TEST_CA_NAME, NULL);
        if (found == NULL) {
            break;
        }
        if (!CertDeleteCertificateFromStore(found)) { /* frees found */
            fprintf(stderr, "CertDeleteCertificateFromStore(%s ROOT) failed: error 0x%08lx\n", where,
                    (unsigned long)GetLastError());
            CertCloseStore(store, 0);
            return 1;
        }
        removed++;
    }
    printf("  %s removed from the %s ROOT store (%d)\n", der != NULL ? "the CA is" : "earlier runs' CAs",
           where, removed);
    CertCloseStore(store, 0);
    return 0;
}

/* Does the current user's ROOT store, opened as rustls-native-certs opens it, show the CA
 * with a key usage that allows TLS servers (no EKU property, or serverAuth)? */
static int listed(const char *der_path) {
    DWORD len;
    const BYTE *der = read_der(der_path, &len);
    HCERTSTORE store = open_root("user", 1);
    if (store == NULL) {
        return 2;
    }
    int usable = 0, total = 0;
    PCCERT_CONTEXT found = find(store, der, len);
    for (PCCERT_CONTEXT c = NULL; (c = CertEnumCertificatesInStore(store, c)) != NULL;) {
        total++;
    }
    if (found != NULL) {
        DWORD size = 0;
        if (CertGetEnhancedKeyUsage(found, 0, NULL, &size)) {
            CERT_ENHKEY_USAGE *usage = malloc(size);
            SetLastError(0);
            if (usage != NULL && CertGetEnhancedKeyUsage(found, 0, usage, &size)) {
                if (usage->cUsageIdentifier == 0) {
                    usable = GetLastError() == (DWORD)CRYPT_E_NOT_FOUND;
                }
                for (DWORD i = 0; i < usage->cUsageIdentifier; i++) {
                    usable |= strcmp(usage->rgpszUsageIdentifier[i], szOID_PKIX_KP_SERVER_AUTH) == 0;
                }
            }
            free(usage);
        }
        CertFreeCertificateContext(found);
    }
    printf("  the current user's ROOT store (as rustls-native-certs opens it) holds %d certificates; the CA: %s\n",
           total, found == NULL ? "absent" : usable ? "present, usable for TLS servers" : "present, NOT usable for TLS servers");
    CertCloseStore(store, 0);
    return found != NULL && usable ? 0 : 1;
}

static int usage(void) {
    fprintf(stderr, "usage: system_roots.exe untrusted|trusted URL CA.pem\n"
                    "       system_roots.exe add|remove user|machine CA.der\n"
                    "       system_roots.exe listed CA.der\n"
                    "       system_roots.exe purge user|machine\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "listed") == 0) {
        return listed(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "purge") == 0) {
        return remove_ca(argv[2], NULL);
    }
    if (argc != 4) {
        return usage();
    }
    if (strcmp(argv[1], "add") == 0) {
        return add(argv[2], argv[3]);
    }
    if (strcmp(argv[1], "remove") == 0) {
        return remove_ca(argv[2], argv[3]);
    }
    int trusted = strcmp(argv[1], "trusted") == 0;
    if (!trusted && strcmp(argv[1], "untrusted") != 0) {
        return usage();
    }
    run_gets(argv[2], argv[3], trusted);
    printf("system_roots %s: %d passed, %d failed\n", argv[1], passed, failed);
    return failed == 0 ? 0 : 1;
}
