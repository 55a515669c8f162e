/*
 * typelib_dump: prints what the type library embedded in dpop.dll (resource TYPELIB 1) says,
 * as oleaut32 reads it: the library, then every type info with its functions and their
 * parameters. tests/com/check_typelib.py compares this with src/com/dpop.idl.
 *
 *   typelib_dump.exe DLL_PATH [OUT_FILE]
 *
 * LoadTypeLibEx(REGKIND_NONE): nothing is registered, the file alone is read. A dual interface
 * appears twice: as the dispatch type info the library lists (what IDispatch::Invoke and late
 * binding see) and as the vtable interface behind it (GetRefTypeOfImplType(-1), what early
 * binding and DispInvoke call through). One record a line, fields separated by tabs, strings
 * with \t, \n and \\ escaped, UTF-8:
 *
 *   library  NAME GUID SYSKIND VERSION HELP
 *   type     NAME VIEW GUID FLAGS FUNCS IMPLTYPES VTBL_BYTES HELP    VIEW: dispatch, interface, coclass, ...
 *   impl     NAME VIEW INDEX REFNAME IMPLFLAGS                       the interfaces a type implements or extends
 *   func     NAME VIEW INDEX MEMID INVKIND FUNCKIND OVFT NPARAMS RETURN MEMBER HELP
 *   param    NAME VIEW INDEX PINDEX PNAME TYPE PARAMFLAGS
 *
 * INVKIND is method, propget, propput or propputref; a TYPE is a VARTYPE chain such as
 * VT_PTR>VT_BSTR; FLAGS are names joined by commas, "-" for none.
 */
#define COBJMACROS
#include <windows.h>
#include <oleauto.h>

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

static FILE *out;

/* A BSTR (or any UTF-16 string) as escaped UTF-8; "" for NULL. */
static void put_text(const WCHAR *text) {
    if (text == NULL) {
        return;
    }
    int size = WideCharToMultiByte(CP_UTF8, 0, text, -1, NULL, 0, NULL, NULL);
    if (size <= 0) {
        return;
    }
    char *utf8 = HeapAlloc(GetProcessHeap(), 0, (SIZE_T)size);
    if (utf8 == NULL) {
        return;
    }
    WideCharToMultiByte(CP_UTF8, 0, text, -1, utf8, size, NULL, NULL);
    for (const char *c = utf8; *c; c++) {
        switch (*c) {
        case '\t': fputs("\\t", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\\': fputs("\\\\", out); break;
        default: fputc(*c, out);
        }
    }
    HeapFree(GetProcessHeap(), 0, utf8);
}

static void put_guid(const GUID *guid) {
    WCHAR text[64];
    StringFromGUID2(guid, text, 64);
    put_text(text);
}

struct flag {
    unsigned value;
    const char *name;
};

static void put_flags(unsigned flags, const struct flag *names) {
    int first = 1;
    for (const struct flag *f = names; f->name != NULL; f++) {
        if (flags & f->value) {
            fprintf(out, "%s%s", first ? "" : ",", f->name);
            flags &= ~f->value;
            first = 0;
        }
    }
    if (flags != 0) {
        fprintf(out, "%s0x%x", first ? "" : ",", flags);
        first = 0;
    }
    if (first) {
        fputs("-", out);
    }
}

static const struct flag TYPE_FLAGS[] = {
    {TYPEFLAG_FAPPOBJECT, "appobject"},   {TYPEFLAG_FCANCREATE, "cancreate"},
    {TYPEFLAG_FLICENSED, "licensed"},     {TYPEFLAG_FPREDECLID, "predeclid"},
    {TYPEFLAG_FHIDDEN, "hidden"},         {TYPEFLAG_FCONTROL, "control"},
    {TYPEFLAG_FDUAL, "dual"},             {TYPEFLAG_FNONEXTENSIBLE, "nonextensible"},
    {TYPEFLAG_FOLEAUTOMATION, "oleautomation"}, {TYPEFLAG_FRESTRICTED, "restricted"},
    {TYPEFLAG_FAGGREGATABLE, "aggregatable"},   {TYPEFLAG_FREPLACEABLE, "replaceable"},
    {TYPEFLAG_FDISPATCHABLE, "dispatchable"},   {TYPEFLAG_FREVERSEBIND, "reversebind"},
    {TYPEFLAG_FPROXY, "proxy"},           {0, NULL},
};

static const struct flag PARAM_FLAGS[] = {
    {PARAMFLAG_FIN, "in"},         {PARAMFLAG_FOUT, "out"},   {PARAMFLAG_FLCID, "lcid"},
    {PARAMFLAG_FRETVAL, "retval"}, {PARAMFLAG_FOPT, "optional"}, {PARAMFLAG_FHASDEFAULT, "hasdefault"},
    {PARAMFLAG_FHASCUSTDATA, "hascustdata"}, {0, NULL},
};

static const struct flag IMPL_FLAGS[] = {
    {IMPLTYPEFLAG_FDEFAULT, "default"},       {IMPLTYPEFLAG_FSOURCE, "source"},
    {IMPLTYPEFLAG_FRESTRICTED, "restricted"}, {IMPLTYPEFLAG_FDEFAULTVTABLE, "defaultvtable"},
    {0, NULL},
};

static const char *vt_name(VARTYPE vt) {
    switch (vt) {
    case VT_EMPTY: return "VT_EMPTY";
    case VT_NULL: return "VT_NULL";
    case VT_I2: return "VT_I2";
    case VT_I4: return "VT_I4";
    case VT_R4: return "VT_R4";
    case VT_R8: return "VT_R8";
    case VT_CY: return "VT_CY";
    case VT_DATE: return "VT_DATE";
    case VT_BSTR: return "VT_BSTR";
    case VT_DISPATCH: return "VT_DISPATCH";
    case VT_ERROR: return "VT_ERROR";
    case VT_BOOL: return "VT_BOOL";
    case VT_VARIANT: return "VT_VARIANT";
    case VT_UNKNOWN: return "VT_UNKNOWN";
    case VT_DECIMAL: return "VT_DECIMAL";
    case VT_I1: return "VT_I1";
    case VT_UI1: return "VT_UI1";
    case VT_UI2: return "VT_UI2";
    case VT_UI4: return "VT_UI4";
    case VT_I8: return "VT_I8";
    case VT_UI8: return "VT_UI8";
    case VT_INT: return "VT_INT";
    case VT_UINT: return "VT_UINT";
    case VT_VOID: return "VT_VOID";
    case VT_HRESULT: return "VT_HRESULT";
    case VT_PTR: return "VT_PTR";
    case VT_SAFEARRAY: return "VT_SAFEARRAY";
    case VT_CARRAY: return "VT_CARRAY";
    case VT_USERDEFINED: return "VT_USERDEFINED";
    case VT_LPSTR: return "VT_LPSTR";
    case VT_LPWSTR: return "VT_LPWSTR";
    default: return NULL;
    }
}

/* A TYPEDESC as a chain: VT_PTR>VT_BSTR, VT_USERDEFINED:IDispatch, VT_SAFEARRAY>VT_I4. */
static void put_type(ITypeInfo *info, const TYPEDESC *desc) {
    const char *name = vt_name(desc->vt);
    if (name != NULL) {
        fputs(name, out);
    } else {
        fprintf(out, "VT_%u", (unsigned)desc->vt);
    }
    if (desc->vt == VT_PTR || desc->vt == VT_SAFEARRAY) {
        fputs(">", out);
        put_type(info, desc->lptdesc);
    } else if (desc->vt == VT_CARRAY) {
        fputs(">", out);
        put_type(info, &desc->lpadesc->tdescElem);
    } else if (desc->vt == VT_USERDEFINED) {
        ITypeInfo *ref = NULL;
        BSTR ref_name = NULL;
        fputs(":", out);
        if (SUCCEEDED(ITypeInfo_GetRefTypeInfo(info, desc->hreftype, &ref)) &&
            SUCCEEDED(ITypeInfo_GetDocumentation(ref, MEMBERID_NIL, &ref_name, NULL, NULL, NULL))) {
            put_text(ref_name);
        } else {
            fputs("?", out);
        }
        SysFreeString(ref_name);
        if (ref != NULL) {
            ITypeInfo_Release(ref);
        }
    }
}

static const char *type_kind(TYPEKIND kind) {
    switch (kind) {
    case TKIND_ENUM: return "enum";
    case TKIND_RECORD: return "record";
    case TKIND_MODULE: return "module";
    case TKIND_INTERFACE: return "interface";
    case TKIND_DISPATCH: return "dispatch";
    case TKIND_COCLASS: return "coclass";
    case TKIND_ALIAS: return "alias";
    case TKIND_UNION: return "union";
    default: return "?";
    }
}

static const char *invoke_kind(INVOKEKIND kind) {
    switch (kind) {
    case INVOKE_FUNC: return "method";
    case INVOKE_PROPERTYGET: return "propget";
    case INVOKE_PROPERTYPUT: return "propput";
    case INVOKE_PROPERTYPUTREF: return "propputref";
    default: return "?";
    }
}

static const char *func_kind(FUNCKIND kind) {
    switch (kind) {
    case FUNC_VIRTUAL: return "virtual";
    case FUNC_PUREVIRTUAL: return "purevirtual";
    case FUNC_NONVIRTUAL: return "nonvirtual";
    case FUNC_STATIC: return "static";
    case FUNC_DISPATCH: return "dispatch";
    default: return "?";
    }
}

static int problems;

static void fail(const char *what, HRESULT hr) {
    fprintf(stderr, "typelib_dump: %s failed (hr 0x%08lx)\n", what, (unsigned long)hr);
    problems++;
}

/* The name of a type info, freed by the caller; NULL when there is none. */
static BSTR type_name(ITypeInfo *info) {
    BSTR name = NULL;
    if (FAILED(ITypeInfo_GetDocumentation(info, MEMBERID_NIL, &name, NULL, NULL, NULL))) {
        return NULL;
    }
    return name;
}

static void dump_function(ITypeInfo *info, BSTR name, const char *view, UINT index) {
    FUNCDESC *func = NULL;
    HRESULT hr = ITypeInfo_GetFuncDesc(info, index, &func);
    if (FAILED(hr)) {
        fail("GetFuncDesc", hr);
        return;
    }
    BSTR member = NULL, help = NULL;
    hr = ITypeInfo_GetDocumentation(info, func->memid, &member, &help, NULL, NULL);
    if (FAILED(hr)) {
        fail("GetDocumentation of a function", hr);
    }
    fputs("func\t", out);
    put_text(name);
    fprintf(out, "\t%s\t%u\t%ld\t%s\t%s\t%d\t%d\t", view, index, (long)func->memid, invoke_kind(func->invkind),
            func_kind(func->funckind), (int)func->oVft, (int)func->cParams);
    put_type(info, &func->elemdescFunc.tdesc);
    fputs("\t", out);
    put_text(member);
    fputs("\t", out);
    put_text(help);
    fputs("\n", out);

    BSTR names[64] = {0};
    UINT count = 0;
    if (FAILED(ITypeInfo_GetNames(info, func->memid, names, 64, &count))) {
        count = 0;
    }
    for (SHORT p = 0; p < func->cParams; p++) {
        const ELEMDESC *param = &func->lprgelemdescParam[p];
        fputs("param\t", out);
        put_text(name);
        fprintf(out, "\t%s\t%u\t%d\t", view, index, (int)p);
        /* names[0] is the function; GetNames may leave the last names out (a put's value). */
        put_text((UINT)p + 1 < count ? names[p + 1] : NULL);
        fputs("\t", out);
        put_type(info, &param->tdesc);
        fputs("\t", out);
        put_flags(param->paramdesc.wParamFlags, PARAM_FLAGS);
        fputs("\n", out);
    }
    for (UINT n = 0; n < count; n++) {
        SysFreeString(names[n]);
    }
    SysFreeString(member);
    SysFreeString(help);
    ITypeInfo_ReleaseFuncDesc(info, func);
}

static void dump_type(ITypeInfo *info, int follow_dual) {
    TYPEATTR *attr = NULL;
    HRESULT hr = ITypeInfo_GetTypeAttr(info, &attr);
    if (FAILED(hr)) {
        fail("GetTypeAttr", hr);
        return;
    }
    BSTR name = NULL, help = NULL;
    hr = ITypeInfo_GetDocumentation(info, MEMBERID_NIL, &name, &help, NULL, NULL);
    if (FAILED(hr)) {
        fail("GetDocumentation of a type", hr);
    }
    const char *view = type_kind(attr->typekind);
    fputs("type\t", out);
    put_text(name);
    fprintf(out, "\t%s\t", view);
    put_guid(&attr->guid);
    fputs("\t", out);
    put_flags(attr->wTypeFlags, TYPE_FLAGS);
    fprintf(out, "\t%d\t%d\t%d\t", (int)attr->cFuncs, (int)attr->cImplTypes, (int)attr->cbSizeVft);
    put_text(help);
    fputs("\n", out);

    for (UINT i = 0; i < attr->cImplTypes; i++) {
        HREFTYPE ref = 0;
        ITypeInfo *base = NULL;
        INT flags = 0;
        hr = ITypeInfo_GetRefTypeOfImplType(info, i, &ref);
        if (SUCCEEDED(hr)) {
            hr = ITypeInfo_GetRefTypeInfo(info, ref, &base);
        }
        if (FAILED(hr)) {
            fail("GetRefTypeOfImplType/GetRefTypeInfo", hr);
            continue;
        }
        ITypeInfo_GetImplTypeFlags(info, i, &flags);
        BSTR base_name = type_name(base);
        fputs("impl\t", out);
        put_text(name);
        fprintf(out, "\t%s\t%u\t", view, i);
        put_text(base_name);
        fputs("\t", out);
        put_flags((unsigned)flags, IMPL_FLAGS);
        fputs("\n", out);
        SysFreeString(base_name);
        ITypeInfo_Release(base);
    }

    for (UINT i = 0; i < attr->cFuncs; i++) {
        dump_function(info, name, view, i);
    }

    /* A dual interface: the vtable interface behind the dispatch type info. */
    if (follow_dual && attr->typekind == TKIND_DISPATCH && (attr->wTypeFlags & TYPEFLAG_FDUAL)) {
        HREFTYPE ref = 0;
        ITypeInfo *vtable = NULL;
        hr = ITypeInfo_GetRefTypeOfImplType(info, (UINT)-1, &ref);
        if (SUCCEEDED(hr)) {
            hr = ITypeInfo_GetRefTypeInfo(info, ref, &vtable);
        }
        if (FAILED(hr)) {
            fail("GetRefTypeOfImplType(-1) of a dual interface", hr);
        } else {
            dump_type(vtable, 0);
            ITypeInfo_Release(vtable);
        }
    }
    SysFreeString(name);
    SysFreeString(help);
    ITypeInfo_ReleaseTypeAttr(info, attr);
}

static const char *sys_kind(SYSKIND kind) {
    switch (kind) {
    case SYS_WIN16: return "win16";
    case SYS_WIN32: return "win32";
    case SYS_MAC: return "mac";
    case SYS_WIN64: return "win64";
    default: return "?";
    }
}

int wmain(int argc, wchar_t **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: typelib_dump.exe DLL_PATH [OUT_FILE]\n");
        return 2;
    }
    if (argc == 3) {
        out = _wfopen(argv[2], L"wb");
        if (out == NULL) {
            fprintf(stderr, "typelib_dump: cannot write the output file\n");
            return 2;
        }
    } else {
        _setmode(_fileno(stdout), _O_BINARY);
        out = stdout;
    }
    ITypeLib *library = NULL;
    HRESULT hr = LoadTypeLibEx(argv[1], REGKIND_NONE, &library);
    if (FAILED(hr)) {
        fprintf(stderr, "typelib_dump: LoadTypeLibEx(REGKIND_NONE) failed (hr 0x%08lx)\n", (unsigned long)hr);
        return 1;
    }
    TLIBATTR *lib_attr = NULL;
    hr = ITypeLib_GetLibAttr(library, &lib_attr);
    if (FAILED(hr)) {
        fprintf(stderr, "typelib_dump: GetLibAttr failed (hr 0x%08lx)\n", (unsigned long)hr);
        return 1;
    }
    BSTR name = NULL, help = NULL;
    hr = ITypeLib_GetDocumentation(library, -1, &name, &help, NULL, NULL);
    if (FAILED(hr)) {
        fail("GetDocumentation of the library", hr);
    }
    fputs("library\t", out);
    put_text(name);
    fputs("\t", out);
    put_guid(&lib_attr->guid);
    fprintf(out, "\t%s\t%u.%u\t", sys_kind(lib_attr->syskind), (unsigned)lib_attr->wMajorVerNum,
            (unsigned)lib_attr->wMinorVerNum);
    put_text(help);
    fputs("\n", out);
    SysFreeString(name);
    SysFreeString(help);
    ITypeLib_ReleaseTLibAttr(library, lib_attr);

    UINT count = ITypeLib_GetTypeInfoCount(library);
    for (UINT i = 0; i < count; i++) {
        ITypeInfo *info = NULL;
        hr = ITypeLib_GetTypeInfo(library, i, &info);
        if (FAILED(hr)) {
            fail("GetTypeInfo", hr);
            continue;
        }
        dump_type(info, 1);
        ITypeInfo_Release(info);
    }
    ITypeLib_Release(library);
    if (out != stdout) {
        fclose(out);
    }
    return problems == 0 ? 0 : 1;
}
