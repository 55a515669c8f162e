"""check_ax.py passes on the real DpopAx.pkg, ClientCredentialsCom.src and SignInCom.src, and
reports wrong DISPIDs, VARIANT types, parameters, members, CLSIDs, port lines, and calls and
endpoints of the COM sources in mutated copies."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_ax  # noqa: E402

PKG = check_ax.PKG
PORT = check_ax.PORT
SIGN_IN = check_ax.SIGN_IN
IDL = check_ax.IDL
REFERENCE = os.environ.get("DPOP_REFERENCE_SAMPLE") or check_ax.REFERENCE
needs_reference = pytest.mark.skipif(
    not os.path.isfile(REFERENCE),
    reason=f"the port is compared with the reference sample, and {REFERENCE} does not exist",
)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def mutate(tmp_path, old, new, source=PKG, count=1):
    """A copy of `source` with `old` replaced by `new` (which must occur `count` times)."""
    text = read(source)
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times in {source}"
    path = tmp_path / os.path.basename(source)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return str(path)


def problems_of(pkg=PKG, idl=IDL, port=PORT, reference=REFERENCE, others=check_ax.OTHER_SOURCES):
    problems, _ = check_ax.check(idl, pkg, port, reference, others)
    return problems


def wrapper(name, kind="Function", with_meta=False, cls=None):
    """The text of one wrapper of the real package: `Function ComX ... End_Function`,
    `Procedure ComX ...` or `Procedure Set ComX ...` (with its { MethodType } line), in the
    class `cls` (by default the first class that has it)."""
    text = read(PKG)
    if cls:
        text = re.search(rf"^Class {cls} is .*?^End_Class$", text, re.S | re.M).group(0)
    end = "End_Function" if kind == "Function" else "End_Procedure"
    meta = r"(?:    \{ MethodType=Property \}\n)?" if with_meta else ""
    match = re.search(rf"{meta}    {kind} {name}\b.*?    {end}\n", text, re.S)
    assert match, f"{kind} {name}"
    return match.group(0)


def assert_reported(found, *fragments):
    assert any(all(f in p for f in fragments) for p in found), (fragments, found)


# ---------------------------------------------------------------------------------------------
# The real files
# ---------------------------------------------------------------------------------------------


def test_the_real_package_and_port_pass():
    problems, skipped = check_ax.check(IDL, PKG, PORT, REFERENCE)
    assert problems == []
    if os.path.isfile(REFERENCE):
        assert skipped == []
    else:
        assert skipped == [f"the port was not compared with the reference sample: {REFERENCE} does not exist"]


def test_the_command_line_passes_and_names_the_counts():
    proc = subprocess.run([sys.executable, os.path.join(HERE, "check_ax.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    library = check_ax.read_idl(IDL)
    members = sum(len(i.members) for i in library.interfaces.values())
    assert f"check_ax: {members} members of 5 interfaces and 5 coclasses match" in proc.stdout
    if os.path.isfile(REFERENCE):
        assert "the port matches the reference sample" in proc.stdout


def test_the_command_line_says_when_it_skips_the_reference(tmp_path):
    missing = str(tmp_path / "absent.txt")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "check_ax.py"), "--reference", missing], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"check_ax: skipped: the port was not compared with the reference sample: {missing} does not exist" in proc.stdout
    assert "the port matches" not in proc.stdout


def test_the_command_line_fails_on_a_problem(tmp_path):
    block = wrapper("ComQuickGetStr")
    pkg = mutate(tmp_path, block, block.replace("hDispatchDriver 4 OLE_VT_BSTR", "hDispatchDriver 44 OLE_VT_BSTR"))
    proc = subprocess.run([sys.executable, os.path.join(HERE, "check_ax.py"), "--pkg", pkg], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "check_ax: 1 problems" in proc.stdout


def test_every_idl_member_has_one_wrapper_and_every_coclass_its_class():
    library = check_ax.read_idl(IDL)
    package = check_ax.read_package(PKG)
    for iface in library.interfaces.values():
        cls = package.classes[f"cCom{iface.name}"]
        assert len(cls.wrappers) == len(iface.members), iface.name
    names = sorted(check_ax.coclass_class(co.name) for co in library.coclasses)
    assert names == [
        "cComDpopHttp",
        "cComDpopHttpResponse",
        "cComDpopJsonObject",
        "cComDpopPrivateKey",
        "cComDpopTask",
    ]


def test_the_idl_is_read_as_written():
    library = check_ax.read_idl(IDL)
    http = library.interfaces["IDpopHttp"]
    quick = next(m for m in http.members if m.name == "QuickGetStr")
    assert (quick.dispid, quick.kind, [(p.type, p.name) for p in quick.params], quick.retval.type) == (4, "method", [("BSTR", "url")], "BSTR*")
    auth = [m.kind for m in http.members if m.name == "AuthToken"]
    assert auth == ["propput", "propget"]
    request = next(m for m in http.members if m.name == "QuickRequest")
    assert request.retval.type == "IDispatch**"
    assert [(c.name, c.uuid) for c in library.coclasses][1] == ("DpopHttp", "f8fb660c-1c63-4747-bf8f-417d60bc0488")


# ---------------------------------------------------------------------------------------------
# DpopAx.pkg mutated
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind, old, new, fragments",
    [
        # Methods, properties and property puts, each with the wrong DISPID.
        ("ComQuickGetStr", "Function", "hDispatchDriver 4 OLE_VT_BSTR", "hDispatchDriver 40 OLE_VT_BSTR", ["ComQuickGetStr", "DISPID 40", "id(4)"]),
        ("ComLastStatus", "Function", "hDispatchDriver 25 OLE_VT_I4", "hDispatchDriver 26 OLE_VT_I4", ["cComIDpopHttp.ComLastStatus", "DISPID 26", "id(25)"]),
        ("Set ComAuthToken", "Procedure", "hDispatchDriver 2 OLE_VT_BSTR", "hDispatchDriver 3 OLE_VT_BSTR", ["ComAuthToken", "DISPID 3", "id(2)"]),
        # DataFlex has no 0x literals: a hex DISPID would not compile.
        ("ComClearHeaders", "Procedure", "hDispatchDriver 9 OLE_VT_VOID", "hDispatchDriver 0x9 OLE_VT_VOID", ["ComClearHeaders: DISPID '0x9' is not a decimal number", "id(9)"]),
        ("ComLoadAnyFormatFile", "Function", "hDispatchDriver 1 OLE_VT_BOOL", "hDispatchDriver 2 OLE_VT_BOOL", ["ComLoadAnyFormatFile", "DISPID 2", "id(1)"]),
    ],
)
def test_a_wrong_dispid_is_reported(tmp_path, name, kind, old, new, fragments):
    block = wrapper(name, kind)
    assert_reported(problems_of(mutate(tmp_path, block, block.replace(old, new))), *fragments)


@pytest.mark.parametrize(
    "name, kind, old, new, fragments",
    [
        # A parameter passed with the wrong VARIANT type.
        ("ComSetDPoPKey", "Function", "OLE_VT_VARIANT llprivateKey", "OLE_VT_DISPATCH llprivateKey", ["parameter 1 (llprivateKey) is passed as OLE_VT_DISPATCH", "'VARIANT privateKey' needs OLE_VT_VARIANT"]),
        ("ComGetHeaderName", "Function", "OLE_VT_I4 llindex", "OLE_VT_BSTR llindex", ["ComGetHeaderName", "'long index' needs OLE_VT_I4"]),
        ("ComUpdateBool", "Function", "OLE_VT_BOOL llvalue", "OLE_VT_I4 llvalue", ["ComUpdateBool", "'VARIANT_BOOL value' needs OLE_VT_BOOL"]),
        ("ComCreateProof", "Function", "OLE_VT_BSTR llnonce", "OLE_VT_VARIANT llnonce", ["parameter 4 (llnonce)", "needs OLE_VT_BSTR"]),
        # A result or property with the wrong VARIANT type.
        ("ComQuickRequest", "Function", "5 OLE_VT_DISPATCH", "5 OLE_VT_VARIANT", ["ComQuickRequest", "OLE_VT_VARIANT for the result (IDispatch*)", "needs OLE_VT_DISPATCH"]),
        ("ComLastMethodSuccess", "Function", "27 OLE_VT_BOOL", "27 OLE_VT_I4", ["cComIDpopHttp.ComLastMethodSuccess", "needs OLE_VT_BOOL"]),
        ("Set ComConnectTimeout", "Procedure", "10 OLE_VT_I4 to value", "10 OLE_VT_BSTR to value", ["ComConnectTimeout", "OLE_VT_BSTR for the value (long)", "needs OLE_VT_I4"]),
        ("ComClearToken", "Procedure", "23 OLE_VT_VOID", "23 OLE_VT_I4", ["ComClearToken", "needs OLE_VT_VOID"]),
        # The DataFlex types around them.
        ("ComLoadPem", "Function", "Returns Boolean", "Returns Integer", ["ComLoadPem returns Integer", "needs Boolean"]),
        ("ComGetHeaderValue", "Function", "Integer llindex", "String llindex", ["ComGetHeaderValue: parameter 1 (llindex) is String", "needs Integer"]),
        ("Set ComAcceptBearer", "Procedure", "Boolean value", "Integer value", ["ComAcceptBearer: parameter 1 (value) is Integer", "needs Boolean"]),
    ],
)
def test_a_wrong_variant_type_is_reported(tmp_path, name, kind, old, new, fragments):
    block = wrapper(name, kind, cls="cComIDpopHttp" if name == "ComLastMethodSuccess" else None)
    assert old in block
    assert_reported(problems_of(mutate(tmp_path, block, block.replace(old, new))), *fragments)


def test_a_missing_method_is_reported(tmp_path):
    pkg = mutate(tmp_path, wrapper("ComEmit"), "")
    found = problems_of(pkg)
    assert_reported(found, "IDpopJsonObject.Emit (method, id 7) has no Function ComEmit in cComIDpopJsonObject")
    # The port calls it, so the port's call is reported as well.
    assert_reported(found, "ClientCredentialsCom.src", "cComDpopJsonObject has no function ComEmit")


def test_a_missing_property_put_is_reported(tmp_path):
    pkg = mutate(tmp_path, wrapper("Set ComAuthToken", "Procedure", with_meta=True), "")
    found = problems_of(pkg)
    assert_reported(found, "IDpopHttp.AuthToken (propput, id 2) has no Procedure Set ComAuthToken in cComIDpopHttp")


def test_a_missing_property_get_is_reported(tmp_path):
    pkg = mutate(tmp_path, wrapper("ComBitLength", with_meta=True), "")
    assert_reported(problems_of(pkg), "IDpopPrivateKey.BitLength (propget, id 18) has no Function ComBitLength")


def test_a_member_the_idl_lacks_is_reported(tmp_path):
    block = wrapper("ComClearToken", "Procedure")
    pkg = mutate(tmp_path, block, block + "\n" + block.replace("ComClearToken", "ComClearCookies"))
    assert_reported(problems_of(pkg), "cComIDpopHttp.ComClearCookies is not a member of IDpopHttp")


def test_a_property_of_the_wrong_kind_is_reported(tmp_path):
    # A get-only property declared as a Procedure Set.
    block = wrapper("ComLastStatus", with_meta=True)
    setter = (
        "    { MethodType=Property }\n    Procedure Set ComLastStatus Integer value\n        Handle hDispatchDriver\n"
        "        Get phDispatchDriver to hDispatchDriver\n        Set ComProperty of hDispatchDriver 25 OLE_VT_I4 to value\n"
        "    End_Procedure\n"
    )
    found = problems_of(mutate(tmp_path, block, block + setter))
    assert_reported(found, "cComIDpopHttp.ComLastStatus is a set", "LastStatus needs a Function ComLastStatus")


def test_a_property_without_its_method_type_is_reported(tmp_path):
    block = wrapper("ComStatusCode", with_meta=True)
    assert block.startswith("    { MethodType=Property }\n")
    found = problems_of(mutate(tmp_path, block, block.replace("    { MethodType=Property }\n", "")))
    assert_reported(found, "ComStatusCode: a property wrapper needs { MethodType=Property }")


def test_a_property_read_through_invoke_com_method_is_reported(tmp_path):
    block = wrapper("ComBodyStr")
    found = problems_of(mutate(tmp_path, block, block.replace("Get ComProperty of", "Get InvokeComMethod of")))
    assert_reported(found, "ComBodyStr: calls InvokeComMethod", "is a propget: use Get ComProperty")


@pytest.mark.parametrize(
    "name, old, new, fragments",
    [
        # One parameter fewer in the declaration and the DefineParams, PrepareParams kept.
        ("ComCreateProof", None, None, ["ComCreateProof declares 4 parameters", "CreateProof (id 15) has 5"]),
        # PrepareParams alone wrong.
        ("ComLoadAnyFormatFile", "PrepareParams to hDispatchDriver 2", "PrepareParams to hDispatchDriver 1", ["ComLoadAnyFormatFile: PrepareParams 1", "has 2 parameters"]),
        # A DefineParam missing.
        ("ComSetAccessToken", "        Send DefineParam to hDispatchDriver OLE_VT_BSTR lltokenType\n", "", ["ComSetAccessToken: 1 DefineParam", "has 2 parameters"]),
        # One parameter too many.
        ("ComGetJwk", "Function ComGetJwk Returns", "Function ComGetJwk String llalg Returns", ["ComGetJwk declares 1 parameters", "has 0"]),
    ],
)
def test_a_wrong_parameter_count_is_reported(tmp_path, name, old, new, fragments):
    block = wrapper(name)
    if old is None:
        changed = block.replace(" String llextraClaims", "").replace("        Send DefineParam to hDispatchDriver OLE_VT_BSTR llextraClaims\n", "")
    else:
        assert old in block
        changed = block.replace(old, new)
    assert changed != block
    assert_reported(problems_of(mutate(tmp_path, block, changed)), *fragments)


def test_parameters_in_the_wrong_order_are_reported(tmp_path):
    block = wrapper("ComSavePkcs8EncryptedPemFile")
    swapped = block.replace("String llpassword String llpath", "String llpath String llpassword")
    assert swapped != block
    assert_reported(problems_of(mutate(tmp_path, block, swapped)), "parameter 1 is 'llpath'", "has 'llpassword' there (wrong order?)")


def test_a_define_param_of_another_parameter_is_reported(tmp_path):
    block = wrapper("ComUpdateString")
    changed = block.replace("OLE_VT_BSTR llvalue", "OLE_VT_BSTR llname")
    assert_reported(problems_of(mutate(tmp_path, block, changed)), "ComUpdateString: DefineParam 2 passes 'llname', not parameter 2 (llvalue)")


@pytest.mark.parametrize(
    "old, new, fragments",
    [
        # One digit of the CLSID.
        ('"{F8FB660C-1C63-4747-BF8F-417D60BC0488}"', '"{F8FB660C-1C63-4747-BF8F-417D60BC0489}"', ["cComDpopHttp: psProgID is \"{F8FB660C-1C63-4747-BF8F-417D60BC0489}\"", "coclass DpopHttp has uuid {F8FB660C-1C63-4747-BF8F-417D60BC0488}"]),
        # Another coclass's CLSID.
        ('"{AB4ADB90-BEE2-42FB-88A1-25347C21265B}"', '"{84BDFADB-4199-4DF5-B1AE-67CFFE9C343E}"', ["cComDpopHttpResponse: psProgID", "coclass DpopHttpResponse has uuid {AB4ADB90"]),
        # The ProgID instead of the CLSID.
        ('"{C623A53C-81FF-4BEE-8993-59A30AF7E04A}"', '"Dpop.JsonObject"', ["cComDpopJsonObject: psProgID is \"Dpop.JsonObject\""]),
        # The CLSID without its braces.
        ('"{84BDFADB-4199-4DF5-B1AE-67CFFE9C343E}"', '"84BDFADB-4199-4DF5-B1AE-67CFFE9C343E"', ["cComDpopPrivateKey: psProgID is \"84BDFADB"]),
    ],
)
def test_a_wrong_clsid_is_reported(tmp_path, old, new, fragments):
    assert_reported(problems_of(mutate(tmp_path, old, new)), *fragments)


def test_a_clsid_in_lower_case_is_the_same_clsid(tmp_path):
    old = '"{F8FB660C-1C63-4747-BF8F-417D60BC0488}"'
    assert problems_of(mutate(tmp_path, old, old.lower())) == []


def test_a_coclass_mixing_in_the_wrong_interface_is_reported(tmp_path):
    old = "Class cComDpopHttp is a cComAutomationObject\n    Import_Class_Protocol cComIDpopHttp\n"
    new = "Class cComDpopHttp is a cComAutomationObject\n    Import_Class_Protocol cComIDpopHttpResponse\n"
    found = problems_of(mutate(tmp_path, old, new))
    assert_reported(found, "cComDpopHttp: Import_Class_Protocol cComIDpopHttpResponse, coclass DpopHttp needs cComIDpopHttp")


def test_a_coclass_class_of_the_wrong_superclass_is_reported(tmp_path):
    pkg = mutate(tmp_path, "Class cComDpopJsonObject is a cComAutomationObject", "Class cComDpopJsonObject is a cObject")
    assert_reported(problems_of(pkg), "cComDpopJsonObject is a cObject, not a cComAutomationObject")


def test_a_missing_coclass_class_is_reported(tmp_path):
    text = read(PKG)
    match = re.search(r"Class cComDpopHttpResponse is a cComAutomationObject\n.*?End_Class\n", text, re.S)
    pkg = mutate(tmp_path, match.group(0), "")
    assert_reported(problems_of(pkg), "coclass DpopHttpResponse has no class cComDpopHttpResponse in DpopAx.pkg")


def test_a_chilkat_class_name_is_reported(tmp_path):
    pkg = mutate(tmp_path, "Class cComDpopHttp is a", "Class cComChilkatHttp is a")
    found = problems_of(pkg)
    assert_reported(found, "a cComChilkat name would clash with a Chilkat import")
    assert_reported(found, "coclass DpopHttp has no class cComDpopHttp")


# ---------------------------------------------------------------------------------------------
# The IDL changed: the checker follows it, it does not know the members by heart
# ---------------------------------------------------------------------------------------------


def test_a_new_idl_member_without_a_wrapper_is_reported(tmp_path):
    old = "        HRESULT ClearToken(void);\n"
    new = old + '        [id(28), helpstring("x")]\n        HRESULT ClearNonces(void);\n'
    idl = mutate(tmp_path, old, new, source=IDL)
    assert_reported(problems_of(idl=idl), "IDpopHttp.ClearNonces (method, id 28) has no Procedure ComClearNonces in cComIDpopHttp")


def test_a_renumbered_idl_member_is_reported(tmp_path):
    idl = mutate(tmp_path, "[id(4), helpstring(\"GET url;", "[id(30), helpstring(\"GET url;", source=IDL)
    assert_reported(problems_of(idl=idl), "cComIDpopHttp.ComQuickGetStr: DISPID 4", "has id(30)")


def test_a_dispid_used_twice_in_the_idl_is_reported(tmp_path):
    idl = mutate(tmp_path, "[id(5), helpstring(\"Sends a request without", "[id(4), helpstring(\"Sends a request without", source=IDL)
    assert_reported(problems_of(idl=idl), "IDpopHttp: DISPID 4 is used by method QuickGetStr, method QuickRequest")


def test_a_new_idl_parameter_type_is_named(tmp_path):
    idl = mutate(tmp_path, "HRESULT GetHeaderName([in] long index", "HRESULT GetHeaderName([in] short index", source=IDL)
    assert_reported(problems_of(idl=idl), "IDpopHttpResponse.GetHeaderName: the checker has no VARIANT type for 'short'")


# ---------------------------------------------------------------------------------------------
# ClientCredentialsCom.src mutated
# ---------------------------------------------------------------------------------------------


def port_problems(tmp_path, old, new, count=1, reference=REFERENCE):
    return problems_of(port=mutate(tmp_path, old, new, source=PORT, count=count), reference=reference)


@needs_reference
@pytest.mark.parametrize(
    "old, new, fragments",
    [
        # A value that is neither a path nor an endpoint.
        ('"scope" "api" To', '"scope" "api openid" To', ['"api" (reference:', 'became "api openid": neither a path nor an endpoint']),
        ('"client_id" "m2m.dpop"', '"client_id" "m2m.other"', ['"m2m.dpop"', "neither a path nor an endpoint"]),
        # A statement changed.
        ("    If (bTemp1 = False) Begin\n", "    If (Not(bTemp1)) Begin\n", ["ClientCredentialsCom.src:", "'If (Not(bTemp1)) Begin' is not a line of the reference sample"]),
        # A line added.
        ('    Set ComAuthToken Of hoHttp To sTemp1\n', '    Set ComAuthToken Of hoHttp To sTemp1\n    Set ComAcceptBearer Of hoHttp To True\n', ["'Set ComAcceptBearer Of hoHttp To True' is not a line of the reference sample"]),
        # A line removed.
        ("    Move False To iSuccess\n", "", ["reference:", "'Move False To iSuccess' is not in the port"]),
        # An endpoint elsewhere than the local test server.
        ('"http://127.0.0.1:8089/token"', '"https://as.example.com/token"', ['"https://as.example.com/token"', "not on the local test server"]),
        # A path replaced by something else.
        ('"dpop-session.log"', '"yes"', ['"yes" replaces the path "c:/aaworkarea/sessionLog.txt"']),
        # A class renamed to something else than its DpopAx.pkg name.
        ("RefClass(cComDpopHttp)", "RefClass(cComDpopHttpClient)", ["'Get Create (RefClass(cComDpopHttpClient)) To hoHttp' is not a line"]),
    ],
)
def test_an_extra_change_in_the_port_is_reported(tmp_path, old, new, fragments):
    assert_reported(port_problems(tmp_path, old, new), *fragments)


@needs_reference
def test_comments_and_blank_lines_of_the_port_are_not_compared(tmp_path):
    found = port_problems(
        tmp_path, "    Move False To iSuccess\n", "\n    // a comment of our own\n\n    Move False To iSuccess // and another\n"
    )
    assert found == []


def test_without_the_reference_the_comparison_is_skipped_and_says_why(tmp_path):
    missing = str(tmp_path / "no-reference.txt")
    problems, skipped = check_ax.check(IDL, PKG, PORT, missing)
    assert problems == []
    assert skipped == [f"the port was not compared with the reference sample: {missing} does not exist"]


def test_the_port_checks_that_need_no_reference_still_run(tmp_path):
    missing = str(tmp_path / "no-reference.txt")
    # A Chilkat name left in the port.
    found = port_problems(tmp_path, "Use DpopAx.pkg\n", "Use ChilkatAx-win32.pkg\n", reference=missing)
    assert_reported(found, "ClientCredentialsCom.src:", "a Chilkat name is left: 'Use ChilkatAx-win32.pkg'")
    # A call with an argument missing.
    found = port_problems(tmp_path, 'Get ComLoadAnyFormatFile Of hoPrivKey "ec.pem" "" To', 'Get ComLoadAnyFormatFile Of hoPrivKey "ec.pem" To', reference=missing)
    assert_reported(found, "ClientCredentialsCom.src:", "ComLoadAnyFormatFile takes 2 arguments, 1 passed")
    # A member the object's class does not have.
    found = port_problems(tmp_path, "Get ComEmit Of hoJson To sTemp1", "Get ComEmit Of hoHttp To sTemp1", reference=missing)
    assert_reported(found, "Get ComEmit: cComDpopHttp has no function ComEmit")
    # A class DpopAx.pkg does not define.
    found = port_problems(tmp_path, "RefClass(cComDpopJsonObject)", "RefClass(cComDpopJson)", reference=missing)
    assert_reported(found, "cComDpopJson is not a class of DpopAx.pkg")
    # An endpoint off the local test server.
    found = port_problems(tmp_path, '"http://127.0.0.1:8089/dpop/test"', '"https://api.example.com/dpop/test"', reference=missing)
    assert_reported(found, '"https://api.example.com/dpop/test" is not an endpoint of the local test server')


# The comparison itself, on a small reference of our own: it runs whether the real one is there
# or not.
SYNTHETIC_REFERENCE = """Some prose before the sample, with a URL https://example.com and code-like words.

Use ChilkatAx-win32.pkg

Procedure Test
    Handle hoHttp
    String sBody
    Get Create (RefClass(cComChilkatHttp)) To hoHttp
    // a comment that the port need not keep
    Set ComSessionLogFilename Of hoHttp To "c:/logs/session.txt"
    Get ComQuickGetStr Of hoHttp "https://api.example.com/resource" To sBody
    Showln sBody
End_Procedure

Prose after the sample.
"""

SYNTHETIC_PORT = """// Our own header.
Use DpopAx.pkg

Procedure Test
    Handle hoHttp
    String sBody
    Get Create (RefClass(cComDpopHttp)) To hoHttp
    Set ComSessionLogFilename Of hoHttp To "session.log"   // our own comment
    Get ComQuickGetStr Of hoHttp "http://127.0.0.1:8089/dpop/test" To sBody
    Showln sBody
End_Procedure

Send Test
"""


def compare_synthetic(port_text):
    reference = check_ax.reference_code(SYNTHETIC_REFERENCE)
    return check_ax.compare_port(reference, check_ax.code_lines(port_text.split("\n")))


def test_the_reference_is_read_from_its_use_line_to_end_procedure():
    codes = [code for _, code in check_ax.reference_code(SYNTHETIC_REFERENCE)]
    assert codes[0] == "Use ChilkatAx-win32.pkg"
    assert codes[-1] == "End_Procedure"
    assert not any("comment" in c or "prose" in c.lower() for c in codes)


def test_a_faithful_port_of_a_synthetic_reference_passes():
    assert compare_synthetic(SYNTHETIC_PORT) == []


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        ("    Showln sBody\n", "    Showln sBody\n    Showln sBody\n", "'Showln sBody' is not a line of the reference sample"),
        ("String sBody", "String sText", "'String sText' is not a line"),
        ("cComDpopHttp", "cComChilkatHttp", "'Get Create (RefClass(cComChilkatHttp)) To hoHttp' is not a line"),
        ('"session.log"', '"on"', '"on" replaces the path "c:/logs/session.txt"'),
        ('"http://127.0.0.1:8089/dpop/test"', '"http://127.0.0.1:9999/dpop/test"', "not on the local test server"),
        ("Send Test\n", "Send Test\nSend Test\n", "'Send Test' is not a line"),
    ],
)
def test_a_changed_synthetic_port_is_reported(old, new, fragment):
    assert old in SYNTHETIC_PORT
    assert_reported(compare_synthetic(SYNTHETIC_PORT.replace(old, new, 1)), fragment)


# ---------------------------------------------------------------------------------------------
# The calls and endpoints of every COM source; SignInCom.src mutated
# ---------------------------------------------------------------------------------------------


def sign_in_problems(tmp_path, old, new, count=1):
    """The problems of the whole check with a mutated copy of SignInCom.src as the other source."""
    return problems_of(others=(mutate(tmp_path, old, new, source=SIGN_IN, count=count),))


def test_the_real_com_sources_pass_and_their_calls_are_read():
    package = check_ax.read_package(PKG)
    assert check_ax.COM_SOURCES == (PORT, SIGN_IN)
    for source in check_ax.COM_SOURCES:
        found, problems = check_ax.check_com_source(package, source)
        assert problems == [], source
        assert found, source
    found, _ = check_ax.check_com_source(package, SIGN_IN)
    called = {(c.cls, c.name, c.args) for c in found}
    # The sign-in flow: every member it needs is seen, on its class, with its arguments.
    for call in [
        ("cComDpopJsonObject", "ComUpdateString", 2),
        ("cComDpopJsonObject", "ComEmit", 0),
        ("cComDpopHttp", "ComAuthToken", 0),
        ("cComDpopHttp", "ComLoadState", 2),
        ("cComDpopHttp", "ComClearState", 1),
        ("cComDpopPrivateKey", "ComGenerateKey", 1),
        ("cComDpopPrivateKey", "pvComObject", 0),
        ("cComDpopHttp", "ComSetDPoPKey", 1),
        ("cComDpopHttp", "ComSignIn", 1),
        ("cComDpopHttp", "ComSignInCancel", 0),
        ("cComDpopHttp", "ComSaveState", 2),
        ("cComDpopHttp", "ComQuickGetStr", 1),
        ("cComDpopHttp", "ComLastStatus", 0),
        ("cComDpopHttp", "ComLastMethodSuccess", 0),
        ("cComDpopHttp", "ComLastErrorText", 0),
        # Behind `If (iSuccess = False)`: a guarded statement is read as well.
        ("cComDpopPrivateKey", "ComLastErrorText", 0),
    ]:
        assert call in called, call


def test_the_command_line_checks_the_source_it_is_given(tmp_path):
    sample = mutate(tmp_path, "Get ComSignIn Of hoHttp", "Get ComSignon Of hoHttp", source=SIGN_IN)
    script = os.path.join(HERE, "check_ax.py")
    proc = subprocess.run([sys.executable, script, "--source", sample], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "SignInCom.src:" in proc.stdout and "cComDpopHttp has no function ComSignon" in proc.stdout
    proc = subprocess.run([sys.executable, script], capture_output=True, text=True)
    assert "the calls and endpoints of ClientCredentialsCom.src and SignInCom.src fit DpopAx.pkg" in proc.stdout


@pytest.mark.parametrize(
    "old, new, fragments",
    [
        # A misspelled member: a Get, a guarded Get, a Send, a Set, and an inherited message.
        ("Get ComSignIn Of hoHttp", "Get ComSignon Of hoHttp", ["Get ComSignon: cComDpopHttp has no function ComSignon"]),
        ("If (iSuccess = False) Get ComLastErrorText Of hoPrivKey", "If (iSuccess = False) Get ComLastErrorTxt Of hoPrivKey", ["cComDpopPrivateKey has no function ComLastErrorTxt"]),
        ("Send ComSignInCancel Of hoHttp", "Send ComSignInCancl Of hoHttp", ["Send ComSignInCancl: cComDpopHttp has no procedure ComSignInCancl"]),
        ("Set ComAuthToken Of hoHttp", "Set ComAuthTokn Of hoHttp", ["Set ComAuthTokn: cComDpopHttp has no set ComAuthTokn"]),
        ("Send CreateComObject of hoHttp", "Send CreateComObjekt of hoHttp", ["cComDpopHttp has no procedure CreateComObjekt"]),
        # A member called the wrong way: a function sent, a procedure got.
        ("Get ComSaveState Of hoHttp", "Send ComSaveState Of hoHttp", ["Send ComSaveState: cComDpopHttp has no procedure ComSaveState"]),
        # A wrong argument count.
        ('Get ComLoadState Of hoHttp C_STATE_FILE "" To', "Get ComLoadState Of hoHttp C_STATE_FILE To", ["ComLoadState takes 2 arguments, 1 passed"]),
        ("Get ComSignIn Of hoHttp C_SIGN_IN_WAIT_MS To", "Get ComSignIn Of hoHttp To", ["ComSignIn takes 1 arguments, 0 passed"]),
        ('Get ComSaveState Of hoHttp C_STATE_FILE "" To', 'Get ComSaveState Of hoHttp C_STATE_FILE "" "" To', ["ComSaveState takes 2 arguments, 3 passed"]),
        ("Get ComGenerateKey Of hoPrivKey \"ES256\" To", "Get ComGenerateKey Of hoPrivKey To", ["ComGenerateKey takes 1 arguments, 0 passed"]),
        ("Send ComSignInCancel Of hoHttp", "Send ComSignInCancel Of hoHttp C_SIGN_IN_WAIT_MS", ["ComSignInCancel takes 0 arguments, 1 passed"]),
        ("Get ComLastStatus Of hoHttp To iStatusCode", "Get ComLastStatus Of hoHttp To", ["Get ComLastStatus: no 'To ...' at the end"]),
        # A member called on an object of the wrong class.
        ("Get ComGenerateKey Of hoPrivKey", "Get ComGenerateKey Of hoHttp", ["Get ComGenerateKey: cComDpopHttp has no function ComGenerateKey"]),
        ("Get ComSetDPoPKey Of hoHttp", "Get ComSetDPoPKey Of hoPrivKey", ["Get ComSetDPoPKey: cComDpopPrivateKey has no function ComSetDPoPKey"]),
        ("Set ComAuthToken Of hoHttp", "Set ComAuthToken Of hoJson", ["Set ComAuthToken: cComDpopJsonObject has no set ComAuthToken"]),
        ("Get ComSignIn Of hoHttp", "Get ComSignIn Of hoJson", ["cComDpopJsonObject has no function ComSignIn"]),
        # An object of a class DpopAx.pkg lacks, and a Com member on a variable no Create made.
        ("RefClass(cComDpopPrivateKey)", "RefClass(cComDpopKey)", ["cComDpopKey is not a class of DpopAx.pkg"]),
        ("Get ComLastStatus Of hoHttp", "Get ComLastStatus Of hoResp", ["Get ComLastStatus goes to hoResp, which no 'Get Create (RefClass(...))'"]),
        # A member called in an expression: its object first, then its arguments.
        ("Get ComLastStatus Of hoHttp To iStatusCode", "Move (ComLastStatus(hoHttp, 1)) To iStatusCode", ["ComLastStatus takes 0 arguments, 1 passed"]),
        ("Get ComLastStatus Of hoHttp To iStatusCode", "Move (ComLastStatuss(hoHttp)) To iStatusCode", ["cComDpopHttp has no function ComLastStatuss"]),
    ],
)
def test_a_wrong_call_in_the_sign_in_sample_is_reported(tmp_path, old, new, fragments):
    assert_reported(sign_in_problems(tmp_path, old, new), "SignInCom.src:", *fragments)


@pytest.mark.parametrize(
    "old, new, fragment",
    [
        # The API, the issuer and a token endpoint elsewhere than the local test server.
        ('"http://127.0.0.1:8089/dpop/test"', '"https://api.example.com/dpop/test"', '"https://api.example.com/dpop/test" is not an endpoint'),
        ('for "http://127.0.0.1:8089"\n', 'for "http://127.0.0.1:9090"\n', '"http://127.0.0.1:9090" is not an endpoint'),
        ('"issuer" C_ISSUER', '"token_endpoint" "https://as.example.com/token"', '"https://as.example.com/token" is not an endpoint'),
        # A URL inside JSON text is found as well.
        ('"scope" "openid api"', "'{\"scope\":\"openid api\",\"aud\":\"https://api.example.com/\"}' \"\"", '"https://api.example.com/" is not an endpoint'),
        # The loopback redirect is allowed as the redirect_uri value only, and only on loopback.
        ('"redirect_uri" "http://127.0.0.1:0/callback"', '"redirect_uri" "https://app.example.com/callback"', '"https://app.example.com/callback" is not an endpoint'),
        ('"redirect_uri" "http://127.0.0.1:0/callback"', '"token_endpoint" "http://127.0.0.1:0/callback"', '"http://127.0.0.1:0/callback" is not an endpoint'),
    ],
)
def test_an_endpoint_off_the_local_test_server_in_the_sign_in_sample_is_reported(tmp_path, old, new, fragment):
    assert_reported(sign_in_problems(tmp_path, old, new), "SignInCom.src:", fragment)


def test_a_loopback_redirect_in_json_text_is_allowed():
    text = "Move '{\"redirect_uri\":\"http://127.0.0.1:0/callback\",\"issuer\":\"http://127.0.0.1:8089\"}' To sSettings\n"
    assert check_ax.check_endpoints("x.src", text) == []
    # A comment is not code.
    assert check_ax.check_endpoints("x.src", "// see https://example.com/\n") == []
