/*
 * late_binding: the COM objects of dpop.dll as a script host sees them, through IDispatch
 * alone: created by ProgID, every member found with GetIDsOfNames and called with Invoke
 * (DISPATCH_METHOD, DISPATCH_PROPERTYGET, DISPATCH_PROPERTYPUT with DISPID_PROPERTYPUT). No
 * header of the type library is used.
 *
 *   late_binding.exe KEY_FILE
 *
 * Run through tests/with_server.sh, which sets DPOP_TOKEN_ENDPOINT and DPOP_API_URL;
 * DPOP_CLIENT_SECRET is the client's secret (DPOP_CLIENT_ID, default m2m.dpop), and
 * DPOP_SESSION_LOG, when set, names a session log. dpop.dll must be registered.
 * The reference sample's flow: load the key, build the AuthToken JSON, set it and the key,
 * QuickGetStr the API, expect 200 and the client's id in the answer; besides, a key file that
 * does not exist, an argument that is not a key, and an unknown member name.
 */
#define COBJMACROS
#include <windows.h>
#include <oleauto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "check.h"

/* UTF-16 as UTF-8 for printing (a static buffer: one use per printf). */
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

static DISPID dispid_of(IDispatch *object, const WCHAR *name, HRESULT *hr_out) {
    LPOLESTR names[1] = {(LPOLESTR)name};
    DISPID id = 0;
    HRESULT hr = IDispatch_GetIDsOfNames(object, &IID_NULL, names, 1, LOCALE_USER_DEFAULT, &id);
    if (hr_out != NULL) {
        *hr_out = hr;
    }
    return SUCCEEDED(hr) ? id : DISPID_UNKNOWN;
}

/*
 * Calls member `name` of `object` the way `flags` says, with `argc` arguments given in the
 * natural order (Invoke wants them reversed); the result, if any, in *result (VariantClear it).
 */
static HRESULT call(IDispatch *object, const WCHAR *name, WORD flags, VARIANT *result, UINT argc, VARIANT *args) {
    HRESULT hr;
    DISPID id = dispid_of(object, name, &hr);
    if (FAILED(hr)) {
        fprintf(stderr, "  GetIDsOfNames(%s) failed: 0x%08lx\n", utf8(name), (unsigned long)hr);
        return hr;
    }
    VARIANT reversed[8];
    if (argc > 8) {
        return E_INVALIDARG;
    }
    for (UINT i = 0; i < argc; i++) {
        reversed[i] = args[argc - 1 - i];
    }
    DISPID put = DISPID_PROPERTYPUT;
    DISPPARAMS params = {reversed, NULL, argc, 0};
    if (flags == DISPATCH_PROPERTYPUT) {
        params.rgdispidNamedArgs = &put;
        params.cNamedArgs = 1;
    }
    EXCEPINFO exception;
    memset(&exception, 0, sizeof exception);
    UINT arg_error = 0;
    if (result != NULL) {
        VariantInit(result);
    }
    hr = IDispatch_Invoke(object, id, &IID_NULL, LOCALE_USER_DEFAULT, flags, &params, result, &exception, &arg_error);
    if (FAILED(hr)) {
        fprintf(stderr, "  Invoke(%s) failed: 0x%08lx\n", utf8(name), (unsigned long)hr);
    }
    SysFreeString(exception.bstrSource);
    SysFreeString(exception.bstrDescription);
    SysFreeString(exception.bstrHelpFile);
    return hr;
}

static VARIANT text_arg(const WCHAR *text) {
    VARIANT v;
    VariantInit(&v);
    V_VT(&v) = VT_BSTR;
    V_BSTR(&v) = SysAllocString(text);
    return v;
}

static void clear_args(UINT argc, VARIANT *args) {
    for (UINT i = 0; i < argc; i++) {
        VariantClear(&args[i]);
    }
}

/* A method returning VARIANT_BOOL, with string arguments; VARIANT_FALSE unless it said True. */
static VARIANT_BOOL call_bool(IDispatch *object, const WCHAR *name, UINT argc, const WCHAR **texts) {
    VARIANT args[8], result;
    for (UINT i = 0; i < argc; i++) {
        args[i] = text_arg(texts[i]);
    }
    HRESULT hr = call(object, name, DISPATCH_METHOD, &result, argc, args);
    clear_args(argc, args);
    VARIANT_BOOL value = SUCCEEDED(hr) && V_VT(&result) == VT_BOOL ? V_BOOL(&result) : VARIANT_FALSE;
    if (SUCCEEDED(hr) && V_VT(&result) != VT_BOOL) {
        fprintf(stderr, "  %s returned VARTYPE %u, not VT_BOOL\n", utf8(name), (unsigned)V_VT(&result));
        value = 2; /* neither True nor False: no check passes */
    }
    VariantClear(&result);
    return value;
}

/* A string property or a method returning a string; NULL when the call failed or it is no BSTR. */
static BSTR call_text(IDispatch *object, const WCHAR *name, WORD flags, UINT argc, VARIANT *args) {
    VARIANT result;
    HRESULT hr = call(object, name, flags, &result, argc, args);
    if (FAILED(hr)) {
        return NULL;
    }
    if (V_VT(&result) != VT_BSTR) {
        fprintf(stderr, "  %s returned VARTYPE %u, not VT_BSTR\n", utf8(name), (unsigned)V_VT(&result));
        VariantClear(&result);
        return NULL;
    }
    return V_BSTR(&result); /* the caller frees it */
}

static BSTR get_text(IDispatch *object, const WCHAR *name) {
    return call_text(object, name, DISPATCH_PROPERTYGET, 0, NULL);
}

static LONG get_long(IDispatch *object, const WCHAR *name) {
    VARIANT result;
    if (FAILED(call(object, name, DISPATCH_PROPERTYGET, &result, 0, NULL)) || V_VT(&result) != VT_I4) {
        VariantClear(&result);
        return -1;
    }
    return V_I4(&result);
}

static VARIANT_BOOL get_bool(IDispatch *object, const WCHAR *name) {
    VARIANT result;
    if (FAILED(call(object, name, DISPATCH_PROPERTYGET, &result, 0, NULL)) || V_VT(&result) != VT_BOOL) {
        VariantClear(&result);
        return 2;
    }
    return V_BOOL(&result);
}

static HRESULT put_text(IDispatch *object, const WCHAR *name, const WCHAR *value) {
    VARIANT arg = text_arg(value);
    HRESULT hr = call(object, name, DISPATCH_PROPERTYPUT, NULL, 1, &arg);
    VariantClear(&arg);
    return hr;
}

static int contains(const WCHAR *text, const WCHAR *needle) {
    return text != NULL && wcsstr(text, needle) != NULL;
}

static void show_error(IDispatch *object) {
    BSTR text = get_text(object, L"LastErrorText");
    fprintf(stderr, "  LastErrorText: %s\n", utf8(text));
    SysFreeString(text);
}

static IDispatch *create(const WCHAR *prog_id) {
    CLSID clsid;
    HRESULT hr = CLSIDFromProgID(prog_id, &clsid);
    CHECK(hr == S_OK);
    if (FAILED(hr)) {
        fprintf(stderr, "  CLSIDFromProgID(%s): 0x%08lx (is dpop.dll registered?)\n", utf8(prog_id), (unsigned long)hr);
        return NULL;
    }
    IDispatch *object = NULL;
    hr = CoCreateInstance(&clsid, NULL, CLSCTX_INPROC_SERVER, &IID_IDispatch, (void **)&object);
    CHECK(hr == S_OK && object != NULL);
    if (FAILED(hr)) {
        fprintf(stderr, "  CoCreateInstance(%s, IID_IDispatch): 0x%08lx\n", utf8(prog_id), (unsigned long)hr);
        return NULL;
    }
    return object;
}

static const WCHAR *env(const WCHAR *name, const WCHAR *fallback) {
    const WCHAR *value = _wgetenv(name);
    return value != NULL && value[0] != L'\0' ? value : fallback;
}

/* Member names are found case-insensitively (scripts rely on it), and unknown ones are not. */
static void test_names(IDispatch *key) {
    HRESULT hr;
    CHECK(dispid_of(key, L"LoadAnyFormatFile", &hr) == 1 && hr == S_OK);
    CHECK(dispid_of(key, L"loadanyformatfile", &hr) == 1 && hr == S_OK);
    CHECK(dispid_of(key, L"LastMethodSuccess", &hr) == 20 && hr == S_OK);

    LPOLESTR names[1] = {L"NoSuchMember"};
    DISPID id = 12345;
    hr = IDispatch_GetIDsOfNames(key, &IID_NULL, names, 1, LOCALE_USER_DEFAULT, &id);
    CHECK(hr == DISP_E_UNKNOWNNAME);
    CHECK(id == DISPID_UNKNOWN);
    if (hr != DISP_E_UNKNOWNNAME || id != DISPID_UNKNOWN) {
        fprintf(stderr, "  GetIDsOfNames(NoSuchMember): 0x%08lx, DISPID %ld\n", (unsigned long)hr, (long)id);
    }
    /* Invoke of a DISPID the object does not have. */
    DISPPARAMS none = {NULL, NULL, 0, 0};
    VARIANT result;
    VariantInit(&result);
    hr = IDispatch_Invoke(key, 9999, &IID_NULL, LOCALE_USER_DEFAULT, DISPATCH_METHOD, &none, &result, NULL, NULL);
    CHECK(hr == DISP_E_MEMBERNOTFOUND);
    VariantClear(&result);
}

/* A missing key file: False, LastMethodSuccess False, and a LastErrorText that says why. */
static void test_key_failure(IDispatch *key) {
    const WCHAR *missing[] = {L"Z:\\no\\such\\dir\\key.pem", L""};
    CHECK(call_bool(key, L"LoadAnyFormatFile", 2, missing) == VARIANT_FALSE);
    CHECK(get_bool(key, L"LastMethodSuccess") == VARIANT_FALSE);
    BSTR text = get_text(key, L"LastErrorText");
    CHECK(text != NULL && SysStringLen(text) > 0);
    CHECK(contains(text, L"LoadAnyFormatFile") && contains(text, L"DPOP_ERR_IO"));
    printf("late_binding: LoadAnyFormatFile(missing file) = False: %s\n", utf8(text));
    SysFreeString(text);
}

/* The key file of the command line: True, ES256, and no error left. */
static int test_key_load(IDispatch *key, const WCHAR *key_file) {
    const WCHAR *args[] = {key_file, L""};
    VARIANT_BOOL ok = call_bool(key, L"LoadAnyFormatFile", 2, args);
    CHECK(ok == VARIANT_TRUE);
    if (ok != VARIANT_TRUE) {
        show_error(key);
        return 0;
    }
    CHECK(get_bool(key, L"LastMethodSuccess") == VARIANT_TRUE);
    BSTR text = get_text(key, L"LastErrorText");
    CHECK(text != NULL && SysStringLen(text) == 0);
    SysFreeString(text);
    BSTR alg = get_text(key, L"Alg");
    CHECK(alg != NULL && wcscmp(alg, L"ES256") == 0);
    SysFreeString(alg);
    CHECK(get_long(key, L"BitLength") == 256);
    return 1;
}

/* The AuthToken settings built with Dpop.JsonObject; the JSON text, or NULL. */
static BSTR build_auth_token(IDispatch *json, const WCHAR *client_id, const WCHAR *secret) {
    const WCHAR *members[][2] = {
        {L"client_secret", secret},
        {L"client_id", client_id},
        {L"token_endpoint", env(L"DPOP_TOKEN_ENDPOINT", L"http://127.0.0.1:8089/token")},
        {L"scope", L"api"},
    };
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++) {
        CHECK(call_bool(json, L"UpdateString", 2, members[i]) == VARIANT_TRUE);
    }
    CHECK(get_long(json, L"Size") == 4);
    BSTR text = call_text(json, L"Emit", DISPATCH_METHOD, 0, NULL);
    CHECK(contains(text, L"\"client_id\":\"") && contains(text, client_id));
    return text;
}

static void test_http(IDispatch *http, IDispatch *key, BSTR auth_token, const WCHAR *client_id, const WCHAR *secret) {
    /* AuthToken is a property: put with DISPID_PROPERTYPUT, then read back without the secret. */
    CHECK(put_text(http, L"AuthToken", auth_token) == S_OK);
    CHECK(get_bool(http, L"LastMethodSuccess") == VARIANT_TRUE);
    BSTR settings = get_text(http, L"AuthToken");
    CHECK(contains(settings, client_id) && !contains(settings, secret));
    SysFreeString(settings);

    const WCHAR *log = env(L"DPOP_SESSION_LOG", NULL);
    if (log != NULL) {
        CHECK(put_text(http, L"SessionLogFilename", log) == S_OK);
        CHECK(get_bool(http, L"LastMethodSuccess") == VARIANT_TRUE);
    }

    /* SetDPoPKey with something that is not a key: False and the reason. */
    VARIANT not_a_key = text_arg(L"ec.pem"), result;
    CHECK(call(http, L"SetDPoPKey", DISPATCH_METHOD, &result, 1, &not_a_key) == S_OK);
    CHECK(V_VT(&result) == VT_BOOL && V_BOOL(&result) == VARIANT_FALSE);
    BSTR text = get_text(http, L"LastErrorText");
    CHECK(contains(text, L"not a Dpop.PrivateKey"));
    SysFreeString(text);
    VariantClear(&not_a_key);

    /* The key as scripts pass objects: a VT_DISPATCH VARIANT. */
    VARIANT key_arg;
    VariantInit(&key_arg);
    V_VT(&key_arg) = VT_DISPATCH;
    V_DISPATCH(&key_arg) = key;
    IDispatch_AddRef(key);
    CHECK(call(http, L"SetDPoPKey", DISPATCH_METHOD, &result, 1, &key_arg) == S_OK);
    CHECK(V_VT(&result) == VT_BOOL && V_BOOL(&result) == VARIANT_TRUE);
    if (V_VT(&result) != VT_BOOL || V_BOOL(&result) != VARIANT_TRUE) {
        show_error(http);
    }
    CHECK(get_bool(http, L"LastMethodSuccess") == VARIANT_TRUE);
    VariantClear(&key_arg);

    /* The reference sample's request: a token with a DPoP proof, then the API with another. */
    const WCHAR *url = env(L"DPOP_API_URL", L"http://127.0.0.1:8089/dpop/test");
    VARIANT url_arg = text_arg(url);
    BSTR body = call_text(http, L"QuickGetStr", DISPATCH_METHOD, 1, &url_arg);
    VariantClear(&url_arg);
    VARIANT_BOOL success = get_bool(http, L"LastMethodSuccess");
    LONG status = get_long(http, L"LastStatus");
    CHECK(body != NULL);
    CHECK(success == VARIANT_TRUE);
    CHECK(status == 200);
    CHECK(contains(body, L"m2m.dpop"));
    printf("late_binding: QuickGetStr(%s): LastMethodSuccess %s, LastStatus %ld\n", utf8(url),
           success == VARIANT_TRUE ? "True" : "False", (long)status);
    if (success != VARIANT_TRUE || status != 200) {
        show_error(http);
        fprintf(stderr, "  body: %s\n", utf8(body));
    }
    SysFreeString(body);
}

int wmain(int argc, wchar_t **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: late_binding.exe KEY_FILE (with DPOP_API_URL, DPOP_TOKEN_ENDPOINT, DPOP_CLIENT_SECRET)\n");
        return 2;
    }
    const WCHAR *secret = env(L"DPOP_CLIENT_SECRET", NULL);
    if (secret == NULL) {
        fprintf(stderr, "late_binding: DPOP_CLIENT_SECRET is not set\n");
        return 2;
    }
    const WCHAR *client_id = env(L"DPOP_CLIENT_ID", L"m2m.dpop");

    HRESULT hr = CoInitializeEx(NULL, COINIT_APARTMENTTHREADED);
    CHECK(hr == S_OK);
    IDispatch *key = create(L"Dpop.PrivateKey");
    IDispatch *json = create(L"Dpop.JsonObject");
    IDispatch *http = create(L"Dpop.Http");
    if (key != NULL && json != NULL && http != NULL) {
        test_names(key);
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
        IDispatch_Release(http);
    }
    if (json != NULL) {
        IDispatch_Release(json);
    }
    if (key != NULL) {
        CHECK(IDispatch_Release(key) == 0);
    }
    CoUninitialize();
    printf("late_binding: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
