/*
 * early_binding: the COM objects of dpop.dll as a compiled host sees them, through the vtables
 * of their interfaces, with the header widl makes from src/com/dpop.idl (dpop_com.h, and
 * dpop_com_i.c for the IIDs and CLSIDs; generated at build time, see tests/com/clients.sh).
 * Each call goes through a slot of the vtable the Rust server (src/com/interfaces.rs) lays
 * out; a slot out of place calls the wrong member and shows here.
 *
 *   early_binding.exe KEY_FILE
 *
 * Environment as for late_binding.exe: DPOP_TOKEN_ENDPOINT and DPOP_API_URL (from
 * tests/with_server.sh), DPOP_CLIENT_SECRET, DPOP_CLIENT_ID (default m2m.dpop), DPOP_SESSION_LOG
 * (optional). The same flow as late_binding, plus QuickRequest's response object read through
 * IDpopHttpResponse, properties set and read back in the last slots of IDpopHttp, the E_POINTER
 * contract, and reference counts.
 */
#define COBJMACROS
#include <windows.h>
#include <oleauto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "dpop_com.h"

#include "check.h"

static const char *utf8(const WCHAR *text) {
    static char buffer[4][8192];
    static int next;
    char *out = buffer[next++ % 4];
    out[0] = '\0';
    if (text != NULL) {
        WideCharToMultiByte(CP_UTF8, 0, text, -1, out, (int)sizeof buffer[0], NULL, NULL);
    }
    return out;
}

static int contains(const WCHAR *text, const WCHAR *needle) {
    return text != NULL && wcsstr(text, needle) != NULL;
}

static const WCHAR *env(const WCHAR *name, const WCHAR *fallback) {
    const WCHAR *value = _wgetenv(name);
    return value != NULL && value[0] != L'\0' ? value : fallback;
}

/* The reference count of an object, read without changing it. */
static ULONG references(IUnknown *object) {
    IUnknown_AddRef(object);
    return IUnknown_Release(object);
}

static void *create(REFCLSID clsid, REFIID iid, const char *what) {
    void *object = NULL;
    HRESULT hr = CoCreateInstance(clsid, NULL, CLSCTX_INPROC_SERVER, iid, &object);
    CHECK(hr == S_OK && object != NULL);
    if (FAILED(hr)) {
        fprintf(stderr, "  CoCreateInstance(%s): 0x%08lx (is dpop.dll registered?)\n", what, (unsigned long)hr);
        return NULL;
    }
    return object;
}

static void show_http_error(IDpopHttp *http) {
    BSTR text = NULL;
    IDpopHttp_get_LastErrorText(http, &text);
    fprintf(stderr, "  LastErrorText: %s\n", utf8(text));
    SysFreeString(text);
}

/* A missing key file: False, LastMethodSuccess False, a LastErrorText; a NULL out-pointer. */
static void test_key_failure(IDpopPrivateKey *key) {
    BSTR missing = SysAllocString(L"Z:\\no\\such\\dir\\key.pem"), empty = SysAllocString(L"");
    VARIANT_BOOL ok = VARIANT_TRUE, success = VARIANT_TRUE;
    CHECK(IDpopPrivateKey_LoadAnyFormatFile(key, missing, empty, &ok) == S_OK);
    CHECK(ok == VARIANT_FALSE);
    CHECK(IDpopPrivateKey_get_LastMethodSuccess(key, &success) == S_OK && success == VARIANT_FALSE);
    BSTR text = NULL;
    CHECK(IDpopPrivateKey_get_LastErrorText(key, &text) == S_OK);
    CHECK(text != NULL && SysStringLen(text) > 0 && contains(text, L"DPOP_ERR_IO"));
    printf("early_binding: LoadAnyFormatFile(missing file) = False: %s\n", utf8(text));
    SysFreeString(text);
    /* Only a NULL out-parameter is an error HRESULT. */
    CHECK(IDpopPrivateKey_LoadAnyFormatFile(key, missing, empty, NULL) == E_POINTER);
    CHECK(IDpopPrivateKey_get_Alg(key, NULL) == E_POINTER);
    SysFreeString(missing);
    SysFreeString(empty);
}

static int test_key_load(IDpopPrivateKey *key, const WCHAR *key_file) {
    BSTR path = SysAllocString(key_file), empty = SysAllocString(L"");
    VARIANT_BOOL ok = VARIANT_FALSE, success = VARIANT_FALSE;
    CHECK(IDpopPrivateKey_LoadAnyFormatFile(key, path, empty, &ok) == S_OK);
    CHECK(ok == VARIANT_TRUE);
    CHECK(IDpopPrivateKey_get_LastMethodSuccess(key, &success) == S_OK && success == VARIANT_TRUE);
    BSTR alg = NULL, key_type = NULL, thumbprint = NULL;
    LONG bits = 0;
    CHECK(IDpopPrivateKey_get_Alg(key, &alg) == S_OK && alg != NULL && wcscmp(alg, L"ES256") == 0);
    CHECK(IDpopPrivateKey_get_KeyType(key, &key_type) == S_OK && key_type != NULL && wcscmp(key_type, L"ecc") == 0);
    CHECK(IDpopPrivateKey_get_BitLength(key, &bits) == S_OK && bits == 256);
    CHECK(IDpopPrivateKey_GetJwkThumbprint(key, empty, &thumbprint) == S_OK && SysStringLen(thumbprint) == 43);
    SysFreeString(alg);
    SysFreeString(key_type);
    SysFreeString(thumbprint);
    SysFreeString(path);
    SysFreeString(empty);
    return ok == VARIANT_TRUE;
}

static BSTR build_auth_token(IDpopJsonObject *json, const WCHAR *client_id, const WCHAR *secret) {
    const WCHAR *members[][2] = {
        {L"client_secret", secret},
        {L"client_id", client_id},
        {L"token_endpoint", env(L"DPOP_TOKEN_ENDPOINT", L"http://127.0.0.1:8089/token")},
        {L"scope", L"api"},
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        BSTR name = SysAllocString(members[i][0]), value = SysAllocString(members[i][1]);
        VARIANT_BOOL ok = VARIANT_FALSE;
        CHECK(IDpopJsonObject_UpdateString(json, name, value, &ok) == S_OK && ok == VARIANT_TRUE);
        SysFreeString(name);
        SysFreeString(value);
    }
    LONG size = 0;
    CHECK(IDpopJsonObject_get_Size(json, &size) == S_OK && size == 4);
    BSTR text = NULL;
    CHECK(IDpopJsonObject_Emit(json, &text) == S_OK && contains(text, client_id));
    return text;
}

/* Properties put and read back, in slots across IDpopHttp's vtable (its last one included). */
static void test_properties(IDpopHttp *http) {
    LONG seconds = 0, port = 0;
    VARIANT_BOOL allow = VARIANT_TRUE, success = VARIANT_FALSE;
    CHECK(IDpopHttp_put_ConnectTimeout(http, 7) == S_OK);
    CHECK(IDpopHttp_get_ConnectTimeout(http, &seconds) == S_OK && seconds == 7);
    CHECK(IDpopHttp_put_ReadTimeout(http, 9) == S_OK);
    CHECK(IDpopHttp_get_ReadTimeout(http, &seconds) == S_OK && seconds == 9);
    CHECK(IDpopHttp_get_ProxyPort(http, &port) == S_OK && port == 8080);
    CHECK(IDpopHttp_get_AllowInsecureHttp(http, &allow) == S_OK && allow == VARIANT_FALSE);
    CHECK(IDpopHttp_put_RefreshMargin(http, 30) == S_OK);
    CHECK(IDpopHttp_get_RefreshMargin(http, &seconds) == S_OK && seconds == 30);
    BSTR agent = SysAllocString(L"early_binding/1"), read = NULL;
    CHECK(IDpopHttp_put_UserAgent(http, agent) == S_OK);
    CHECK(IDpopHttp_get_UserAgent(http, &read) == S_OK && read != NULL && wcscmp(read, agent) == 0);
    SysFreeString(agent);
    SysFreeString(read);
    /* A zero timeout is refused: LastMethodSuccess False, the old value kept. */
    CHECK(IDpopHttp_put_ConnectTimeout(http, 0) == S_OK);
    CHECK(IDpopHttp_get_LastMethodSuccess(http, &success) == S_OK && success == VARIANT_FALSE);
    CHECK(IDpopHttp_get_ConnectTimeout(http, &seconds) == S_OK && seconds == 7);
}

static void test_response(IDpopHttp *http, BSTR url) {
    BSTR verb = SysAllocString(L"GET");
    IDispatch *dispatch = NULL;
    CHECK(IDpopHttp_QuickRequest(http, verb, url, &dispatch) == S_OK);
    CHECK(dispatch != NULL);
    SysFreeString(verb);
    if (dispatch == NULL) {
        show_http_error(http);
        return;
    }
    IDpopHttpResponse *response = NULL;
    CHECK(IDispatch_QueryInterface(dispatch, &IID_IDpopHttpResponse, (void **)&response) == S_OK);
    IDpopHttp *not_http = NULL;
    CHECK(IDispatch_QueryInterface(dispatch, &IID_IDpopHttp, (void **)&not_http) == E_NOINTERFACE && not_http == NULL);
    IDispatch_Release(dispatch);
    if (response == NULL) {
        return;
    }
    LONG status = 0, count = 0, last = 0;
    CHECK(IDpopHttpResponse_get_StatusCode(response, &status) == S_OK && status == 200);
    CHECK(IDpopHttp_get_LastStatus(http, &last) == S_OK && last == 200);
    BSTR name = SysAllocString(L"Content-Type"), value = NULL, body = NULL;
    CHECK(IDpopHttpResponse_GetHeaderField(response, name, &value) == S_OK && contains(value, L"application/json"));
    printf("early_binding: QuickRequest(GET): StatusCode %ld, GetHeaderField(Content-Type) %s\n", (long)status,
           utf8(value));
    SysFreeString(name);
    SysFreeString(value);
    CHECK(IDpopHttpResponse_get_BodyStr(response, &body) == S_OK && contains(body, L"m2m.dpop"));
    SysFreeString(body);
    CHECK(IDpopHttpResponse_get_NumHeaderFields(response, &count) == S_OK && count > 0);
    BSTR first = NULL;
    CHECK(IDpopHttpResponse_GetHeaderName(response, 0, &first) == S_OK && SysStringLen(first) > 0);
    SysFreeString(first);
    /* A header that is not there: empty, and LastMethodSuccess False on the response. */
    BSTR absent = SysAllocString(L"X-No-Such-Header"), none = NULL;
    VARIANT_BOOL success = VARIANT_TRUE;
    CHECK(IDpopHttpResponse_GetHeaderField(response, absent, &none) == S_OK && SysStringLen(none) == 0);
    CHECK(IDpopHttpResponse_get_LastMethodSuccess(response, &success) == S_OK && success == VARIANT_FALSE);
    SysFreeString(absent);
    SysFreeString(none);
    CHECK(IDpopHttpResponse_Release(response) == 0);
}

static void test_http(IDpopHttp *http, IDpopPrivateKey *key, BSTR auth_token, const WCHAR *client_id,
                      const WCHAR *secret) {
    VARIANT_BOOL success = VARIANT_FALSE, ok = VARIANT_FALSE;
    CHECK(IDpopHttp_put_AuthToken(http, auth_token) == S_OK);
    CHECK(IDpopHttp_get_LastMethodSuccess(http, &success) == S_OK && success == VARIANT_TRUE);
    BSTR settings = NULL;
    CHECK(IDpopHttp_get_AuthToken(http, &settings) == S_OK && contains(settings, client_id) &&
          !contains(settings, secret));
    SysFreeString(settings);
    const WCHAR *log = env(L"DPOP_SESSION_LOG", NULL);
    if (log != NULL) {
        BSTR path = SysAllocString(log);
        CHECK(IDpopHttp_put_SessionLogFilename(http, path) == S_OK);
        CHECK(IDpopHttp_get_LastMethodSuccess(http, &success) == S_OK && success == VARIANT_TRUE);
        SysFreeString(path);
    }
    test_properties(http);

    /*
     * SetDPoPKey takes an [in] VARIANT by value: it stays the caller's, so the key's reference
     * count is what it was. A guard reference keeps the key alive should the server release
     * the caller's reference (the test then fails instead of using a freed object).
     */
    VARIANT key_arg;
    VariantInit(&key_arg);
    V_VT(&key_arg) = VT_DISPATCH;
    V_DISPATCH(&key_arg) = (IDispatch *)key;
    IDpopPrivateKey_AddRef(key);
    ULONG before = references((IUnknown *)key);
    CHECK(IDpopHttp_SetDPoPKey(http, key_arg, &ok) == S_OK && ok == VARIANT_TRUE);
    if (ok != VARIANT_TRUE) {
        show_http_error(http);
    }
    ULONG after = references((IUnknown *)key);
    CHECK(after == before);
    if (after == before) {
        IDpopPrivateKey_Release(key);
    } else {
        fprintf(stderr, "  SetDPoPKey(VT_DISPATCH by value) changed the caller's key from %lu to %lu references: "
                "the server cleared a VARIANT it does not own\n", (unsigned long)before, (unsigned long)after);
    }

    BSTR url = SysAllocString(env(L"DPOP_API_URL", L"http://127.0.0.1:8089/dpop/test")), body = NULL;
    LONG status = 0;
    CHECK(IDpopHttp_QuickGetStr(http, url, &body) == S_OK);
    CHECK(IDpopHttp_get_LastMethodSuccess(http, &success) == S_OK && success == VARIANT_TRUE);
    CHECK(IDpopHttp_get_LastStatus(http, &status) == S_OK && status == 200);
    CHECK(contains(body, L"m2m.dpop"));
    printf("early_binding: QuickGetStr(%s): LastMethodSuccess %s, LastStatus %ld\n", utf8(url),
           success == VARIANT_TRUE ? "True" : "False", (long)status);
    if (success != VARIANT_TRUE || status != 200) {
        show_http_error(http);
        fprintf(stderr, "  body: %s\n", utf8(body));
    }
    SysFreeString(body);
    BSTR info = NULL;
    CHECK(IDpopHttp_get_TokenInfo(http, &info) == S_OK && contains(info, L"DPoP"));
    SysFreeString(info);

    test_response(http, url);
    SysFreeString(url);
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: early_binding.exe KEY_FILE (with DPOP_API_URL, DPOP_TOKEN_ENDPOINT, DPOP_CLIENT_SECRET)\n");
        return 2;
    }
    const WCHAR *secret = env(L"DPOP_CLIENT_SECRET", NULL);
    if (secret == NULL) {
        fprintf(stderr, "early_binding: DPOP_CLIENT_SECRET is not set\n");
        return 2;
    }
    const WCHAR *client_id = env(L"DPOP_CLIENT_ID", L"m2m.dpop");

    CHECK(CoInitializeEx(NULL, COINIT_APARTMENTTHREADED) == S_OK);
    IDpopPrivateKey *key = create(&CLSID_DpopPrivateKey, &IID_IDpopPrivateKey, "DpopPrivateKey");
    IDpopJsonObject *json = create(&CLSID_DpopJsonObject, &IID_IDpopJsonObject, "DpopJsonObject");
    IDpopHttp *http = create(&CLSID_DpopHttp, &IID_IDpopHttp, "DpopHttp");
    if (key != NULL && json != NULL && http != NULL) {
        test_key_failure(key);
        if (test_key_load(key, argv[1])) {
            BSTR auth_token = build_auth_token(json, client_id, secret);
            if (auth_token != NULL) {
                test_http(http, key, auth_token, client_id, secret);
            }
            SysFreeString(auth_token);
        }
    }
    if (http != NULL) {
        CHECK(IDpopHttp_Release(http) == 0);
    }
    if (json != NULL) {
        CHECK(IDpopJsonObject_Release(json) == 0);
    }
    if (key != NULL) {
        CHECK(IDpopPrivateKey_Release(key) == 0);
    }
    CoUninitialize();
    printf("early_binding: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
