"""check_pkg.py passes on the real dpop.pkg and catches wrong declarations in mutated copies."""

import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_pkg  # noqa: E402

PKG = os.path.join(HERE, "dpop.pkg")
SAMPLE = os.path.join(HERE, "ClientCredentials.src")
SIGN_IN_SAMPLE = os.path.join(HERE, "SignIn.src")
HEADER = check_pkg.dpop_header.DEFAULT_HEADER


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def mutate(tmp_path, old, new, source=PKG, count=1):
    """A copy of `source` with `old` replaced by `new` (which must occur `count` times)."""
    text = read(source)
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times"
    path = tmp_path / os.path.basename(source)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return str(path)


def problems_of(pkg=PKG, header=HEADER, sources=(SAMPLE, SIGN_IN_SAMPLE)):
    return check_pkg.check(pkg, header, list(sources))


def declaration(name):
    """The External_Function block of `name` in the real package."""
    match = re.search(rf"External_Function {name} .*?Returns \w+\n", read(PKG), re.S)
    assert match, name
    return match.group(0)


def test_the_real_package_passes():
    assert problems_of() == []


def test_the_command_line_passes_and_names_the_count():
    proc = subprocess.run([sys.executable, os.path.join(HERE, "check_pkg.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prototypes, _ = check_pkg.dpop_header.read_header()
    assert f"check_pkg: {len(prototypes)} External_Function declarations match" in proc.stdout


def test_every_header_function_is_declared_once_in_the_package():
    prototypes, _ = check_pkg.dpop_header.read_header()
    package = check_pkg.read_package([PKG])
    exports = [e.export for e in package.externals if e.export.startswith("dpop_")]
    assert sorted(exports) == sorted(p.name for p in prototypes)


@pytest.mark.parametrize(
    "function, old, new, expected",
    [
        # size_t as a 32-bit type: truncated on 64-bit DataFlex.
        ("dpop_http_set_max_response_size", "ULongptr bytes", "UInteger bytes", "parameter 2 (bytes for size_t bytes) is UInteger"),
        # size_t as a 64-bit type: wrong on 32-bit DataFlex.
        ("dpop_key_load_memory", "ULongptr len", "BigInt len", "is BigInt"),
        # int32_t as a 64-bit type.
        ("dpop_http_set_accept_bearer", "Integer accept", "BigInt accept", "is BigInt"),
        # A pointer as a 32-bit integer.
        ("dpop_http_free", "Pointer http", "Integer http", "is Integer"),
        # UTF-16 for a UTF-8 string.
        ("dpop_http_get", "String url", "WString url", "is WString"),
        # A buffer libdpop writes into, passed as a String.
        ("dpop_key_thumbprint", "Pointer buf", "String buf", "is String"),
        # Return types.
        ("dpop_http_last_status", "Returns Integer", "Returns Pointer", "return type (for int32_t) is Pointer"),
        ("dpop_key_free", "Returns Void_Type", "Returns Integer", "return type (for void) is Integer"),
        ("dpop_key_new", "Returns Pointer", "Returns Integer", "return type (for struct dpop_key *) is Integer"),
    ],
)
def test_a_wrong_type_is_caught(tmp_path, function, old, new, expected):
    block = declaration(function)
    assert old in block
    pkg = mutate(tmp_path, block, block.replace(old, new))
    found = problems_of(pkg)
    assert any(function in p and expected in p for p in found), found


def test_a_missing_parameter_is_caught(tmp_path):
    block = declaration("dpop_key_thumbprint")
    pkg = mutate(tmp_path, block, block.replace("    Pointer out_size ;\n", ""))
    found = problems_of(pkg)
    assert any("dpop_key_thumbprint declares 3 parameters, include/dpop.h has 4" in p for p in found), found
    # The class's calls of it now pass one argument too many.
    assert any("dpop_key_thumbprint takes 3 arguments, the call passes 4" in p for p in found), found


def test_an_extra_parameter_is_caught(tmp_path):
    block = declaration("dpop_http_clear_token")
    pkg = mutate(tmp_path, block, block.replace("    Returns Integer", "    Integer flags ;\n    Returns Integer"))
    found = problems_of(pkg)
    assert any("dpop_http_clear_token declares 2 parameters, include/dpop.h has 1" in p for p in found), found


def test_parameters_in_the_wrong_order_are_caught(tmp_path):
    block = declaration("dpop_http_request")
    swapped = block.replace("    Pointer headers ;\n    Pointer body ;", "    Pointer body ;\n    Pointer headers ;")
    assert swapped != block
    found = problems_of(mutate(tmp_path, block, swapped))
    assert any("dpop_http_request: parameter 4 is 'body'" in p and "wrong order" in p for p in found), found


def test_a_missing_function_is_caught(tmp_path):
    pkg = mutate(tmp_path, declaration("dpop_key_alg"), "")
    found = problems_of(pkg)
    assert any("dpop_key_alg has no External_Function in dpop.dll" in p for p in found), found
    assert any("dpop_key_alg is not declared" in p for p in found), found


def test_a_misspelled_export_name_is_caught(tmp_path):
    block = declaration("dpop_http_get")
    pkg = mutate(tmp_path, block, block.replace('"dpop_http_get"', '"dpop_http_gett"'))
    found = problems_of(pkg)
    assert any('"dpop_http_gett" is not a function of include/dpop.h' in p for p in found), found
    assert any("dpop_http_get has no External_Function" in p for p in found), found


def test_a_function_declared_twice_is_caught(tmp_path):
    block = declaration("dpop_version")
    pkg = mutate(tmp_path, block, block + "\n" + block.replace("External_Function dpop_version ", "External_Function dpop_version2 "))
    found = problems_of(pkg)
    assert any("dpop_version is declared twice" in p for p in found), found


def test_a_declaration_in_another_dll_is_caught(tmp_path):
    block = declaration("dpop_version")
    pkg = mutate(tmp_path, block, block.replace("DPOP_DLL_NAME", "dpop32.dll"))
    found = problems_of(pkg)
    assert any("dpop_version is declared in dpop32.dll, not dpop.dll" in p for p in found), found


def test_a_wrong_constant_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Define DPOP_ERR_KEY_RSA for 103", "Define DPOP_ERR_KEY_RSA for 104")
    found = problems_of(pkg)
    assert any("DPOP_ERR_KEY_RSA is 104, include/dpop.h says 103" in p for p in found), found
    pkg = mutate(tmp_path, "Define DPOP_ERR_NONCE_REJECTED for 404\n", "")
    assert any("DPOP_ERR_NONCE_REJECTED (404) is not Defined" in p for p in problems_of(pkg))


def test_a_new_header_function_must_be_declared(tmp_path):
    header = tmp_path / "dpop.h"
    text = read(HEADER)
    marker = "DPOP_API DPOP_CALL const char *dpop_version(void);"
    assert marker in text
    header.write_text(text.replace(marker, marker + "\n\nDPOP_API DPOP_CALL dpop_status dpop_http_set_retries(struct dpop_http *http,\n    uint32_t retries);"))
    found = problems_of(header=str(header))
    assert any("dpop_http_set_retries has no External_Function in dpop.dll" in p for p in found), found


def test_a_c_type_the_checker_does_not_know_is_reported(tmp_path):
    header = tmp_path / "dpop.h"
    text = read(HEADER)
    old = "dpop_http_set_refresh_margin(struct dpop_http *http, uint32_t seconds)"
    assert old in text
    header.write_text(text.replace(old, old.replace("uint32_t seconds", "double seconds")))
    found = problems_of(header=str(header))
    assert any("does not know the C type 'double'" in p for p in found), found


def test_a_wrong_argument_count_in_the_class_is_caught(tmp_path):
    pkg = mutate(tmp_path, "dpop_key_generate(phKey(Self), sAlg)", "dpop_key_generate(phKey(Self))")
    found = problems_of(pkg)
    assert any("dpop_key_generate takes 2 arguments, the call passes 1" in p for p in found), found


def test_the_sample_may_only_use_methods_of_the_package(tmp_path):
    sample = mutate(tmp_path, "Get QuickGetStr of hoHttp", "Get QuickGetString of hoHttp", source=SAMPLE)
    found = problems_of(sources=[sample])
    assert any("QuickGetString is not a method of dpop.pkg" in p for p in found), found
    sample = mutate(tmp_path, 'Get LoadKey of hoKey C_KEY_FILE "" to bOk', "Get LoadKey of hoKey C_KEY_FILE to bOk", source=SAMPLE)
    found = problems_of(sources=[sample])
    assert any("Get LoadKey passes 1 arguments, it takes [2]" in p for p in found), found


def test_the_sign_in_sample_uses_the_sign_in_and_state_methods_as_declared(tmp_path):
    for old, new, needle in [
        ("Get SignIn of hoHttp C_SIGN_IN_WAIT_MS to bOk", "Get SignIn of hoHttp to bOk", "Get SignIn passes 0 arguments, it takes [1]"),
        ('Get LoadState of hoHttp C_STATE_FILE "" to bOk', "Get LoadState of hoHttp C_STATE_FILE to bOk", "Get LoadState passes 1 arguments, it takes [2]"),
        ('Get SaveState of hoHttp C_STATE_FILE "" to bOk', "Get SaveStates of hoHttp C_STATE_FILE to bOk", "SaveStates is not a method of dpop.pkg"),
    ]:
        sample = mutate(tmp_path, old, new, source=SIGN_IN_SAMPLE)
        found = problems_of(sources=[sample])
        assert any(needle in p for p in found), found


def test_the_sign_in_methods_call_the_sign_in_functions(tmp_path):
    pkg = mutate(tmp_path, "dpop_http_sign_in_wait(phHttp(Self), uiTimeoutMs)", "dpop_http_sign_in_wait(phHttp(Self))")
    found = problems_of(pkg)
    assert any("dpop_http_sign_in_wait takes 2 arguments, the call passes 1" in p for p in found), found


def test_the_command_line_fails_on_a_broken_package(tmp_path):
    pkg = mutate(tmp_path, declaration("dpop_key_alg"), "")
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "check_pkg.py"), "--pkg", pkg, SAMPLE], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "dpop_key_alg has no External_Function" in proc.stdout
    assert re.search(r"check_pkg: \d+ problems", proc.stdout)


def test_the_header_reader_sees_every_prototype():
    prototypes, constants = check_pkg.dpop_header.read_header()
    text = read(HEADER)
    # Independent count: prototype lines start with DPOP_API DPOP_CALL (the macros' definitions are
    # preprocessor lines, the mentions in comments are not at a line start).
    assert len(prototypes) == len(re.findall(r"^DPOP_API DPOP_CALL ", text, re.M))
    assert constants["DPOP_OK"] == 0 and constants["DPOP_ERR_NONCE_REJECTED"] == 404


def test_the_readme_example_passes_the_checker(tmp_path):
    readme = read(os.path.join(HERE, "README.md"))
    match = re.search(r"```\n(Use Windows\.pkg\n.*?)```", readme, re.S)
    assert match
    example = tmp_path / "ReadmeExample.src"
    example.write_text(match.group(1), encoding="utf-8")
    assert problems_of(sources=[str(example)]) == []


def test_a_function_used_in_an_expression_before_its_definition_is_caught(tmp_path):
    text = read(PKG)
    start = text.index("    // The RFC 7638 thumbprint")
    end = text.index("    End_Function\n", start) + len("    End_Function\n")
    block = text[start:end]
    # Move Thumbprint's caller above Private_CopyOut, the function it calls.
    moved = text[:start] + text[end:]
    anchor = moved.index("    // Runs one \"strings out\" function of the key")
    path = tmp_path / "dpop.pkg"
    path.write_text(moved[:anchor] + block + "\n" + moved[anchor:], encoding="utf-8")
    found = problems_of(str(path))
    assert any("Private_CopyOut(...) is used in an expression before it is defined" in p for p in found), found


# ---------------------------------------------------------------------------------------------
# The DLL name per bitness, the version guard, the preprocessor
# ---------------------------------------------------------------------------------------------

GUARD = """#IF (!@ >= 200)
#ELSE
#ERROR 4399 dpop.pkg needs DataFlex 2021 (20.0) or later
#ENDIF
"""
DLL_SELECTION = """#IFNDEF DPOP_DLL_NAME
#IFDEF IS$WIN64
Define DPOP_DLL_NAME for dpop64.dll
#ELSE
Define DPOP_DLL_NAME for dpop.dll
#ENDIF
#ENDIF
"""


@pytest.mark.parametrize("config, dll", [(check_pkg.BITNESS[0], "dpop.dll"), (check_pkg.BITNESS[1], "dpop64.dll")])
def test_each_bitness_loads_its_own_dll(config, dll):
    package = check_pkg.read_package([PKG], config)
    assert check_pkg.resolve("DPOP_DLL_NAME", package.defines) == dll
    assert all(e.dll == "DPOP_DLL_NAME" for e in package.externals if e.export.startswith("dpop_"))


def test_one_dll_name_for_both_bitnesses_is_caught(tmp_path):
    pkg = mutate(tmp_path, DLL_SELECTION, "#IFNDEF DPOP_DLL_NAME\nDefine DPOP_DLL_NAME for dpop.dll\n#ENDIF\n")
    found = problems_of(pkg)
    assert any("a 64-bit program loads dpop.dll, expected dpop64.dll" in p and "IS$WIN64" in p for p in found), found


def test_the_64_bit_name_given_to_32_bit_programs_is_caught(tmp_path):
    pkg = mutate(tmp_path, "#ELSE\nDefine DPOP_DLL_NAME for dpop.dll\n", "#ELSE\nDefine DPOP_DLL_NAME for dpop64.dll\n")
    found = problems_of(pkg)
    assert any("a 32-bit program loads dpop64.dll, expected dpop.dll" in p for p in found), found


def test_a_dll_name_the_program_cannot_override_is_caught(tmp_path):
    inner = DLL_SELECTION[len("#IFNDEF DPOP_DLL_NAME\n") : -len("#ENDIF\n")]
    found = problems_of(mutate(tmp_path, DLL_SELECTION, inner))
    assert any("DPOP_DLL_NAME is Defined even when the program Defined it before Use dpop.pkg" in p for p in found), found


def test_a_declaration_naming_the_dll_itself_is_caught(tmp_path):
    block = declaration("dpop_http_get")
    found = problems_of(mutate(tmp_path, block, block.replace("DPOP_DLL_NAME", "dpop.dll")))
    assert any("dpop_http_get names dpop.dll itself: use DPOP_DLL_NAME" in p for p in found), found


def test_a_package_without_the_version_guard_is_caught(tmp_path):
    found = problems_of(mutate(tmp_path, GUARD, ""))
    assert any("DataFlex before 20.0 (!@ = 199) compiles the package without an #ERROR" in p and "#IF (!@ >= 200)" in p for p in found), found


def test_a_version_guard_after_code_is_caught(tmp_path):
    text = read(PKG)
    assert text.count(GUARD) == 1 and text.count(DLL_SELECTION) == 1
    moved = text.replace(GUARD, "").replace(DLL_SELECTION, DLL_SELECTION + GUARD)
    path = tmp_path / "dpop.pkg"
    path.write_text(moved, encoding="utf-8")
    found = problems_of(str(path))
    assert any("the #ERROR for DataFlex before 20.0 comes after code" in p for p in found), found


def test_a_guard_that_stops_dataflex_20_is_caught(tmp_path):
    found = problems_of(mutate(tmp_path, "#IF (!@ >= 200)", "#IF (!@ >= 210)"))
    assert any("a 32-bit program of DataFlex 20.0 stops at '#ERROR" in p for p in found), found
    assert any("a 64-bit program of DataFlex 20.0 stops at '#ERROR" in p for p in found), found


def test_an_if_without_endif_is_caught(tmp_path):
    found = problems_of(mutate(tmp_path, "#ERROR 4399 dpop.pkg needs DataFlex 2021 (20.0) or later\n#ENDIF\n",
                               "#ERROR 4399 dpop.pkg needs DataFlex 2021 (20.0) or later\n"))
    assert any("#IF without #ENDIF" in p for p in found), found


def test_a_condition_the_checker_cannot_evaluate_is_reported(tmp_path):
    found = problems_of(mutate(tmp_path, "#IF (!@ >= 200)", "#IF (FMAC_VERSION >= 20)"))
    assert any("the checker cannot evaluate '#IF (FMAC_VERSION >= 20)'" in p for p in found), found


def test_the_preprocessor_follows_nested_conditions(tmp_path):
    source = tmp_path / "conditions.pkg"
    source.write_text(
        "#IFDEF IS$WIN64\nDefine C_A for 64\n#IFNDEF C_A\nDefine C_NEVER for 1\n#ENDIF\n#ELSE\n"
        "Define C_A for 32\n#ENDIF\n#IF (!@ < 200)\nDefine C_OLD for 1\n#ELSE\nDefine C_NEW for 1\n#ENDIF\n",
        encoding="utf-8",
    )
    for config, value in ((check_pkg.BITNESS[0], "32"), (check_pkg.BITNESS[1], "64")):
        package = check_pkg.read_package([str(source)], config)
        assert package.problems == []
        assert package.defines["C_A"][0] == value
        assert "C_NEVER" not in package.defines and "C_OLD" not in package.defines and "C_NEW" in package.defines


# ---------------------------------------------------------------------------------------------
# String results
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", sorted(check_pkg.NEVER_NULL))
def test_a_never_null_string_declared_as_a_pointer_is_caught(tmp_path, function):
    block = declaration(function)
    found = problems_of(mutate(tmp_path, block, block.replace("Returns String", "Returns Pointer")))
    assert any(f"{function}: return type (for const char *) is Pointer, but {function} never returns NULL" in p for p in found), found


@pytest.mark.parametrize("function", ["dpop_http_get", "dpop_key_alg", "dpop_last_error_message"])
def test_a_string_that_may_be_null_declared_as_string_is_caught(tmp_path, function):
    block = declaration(function)
    found = problems_of(mutate(tmp_path, block, block.replace("Returns Pointer", "Returns String")))
    assert any(f"{function}: return type (for const char *) is String, but include/dpop.h does not promise "
               f"that {function} never returns NULL" in p for p in found), found


def test_a_never_null_function_documented_with_null_is_caught(tmp_path):
    header = tmp_path / "dpop.h"
    text = read(HEADER)
    old = "The version of the loaded library, `\"MAJOR.MINOR.PATCH\"`."
    assert text.count(old) == 1
    header.write_text(text.replace(old, old + " NULL if the library is not initialised."), encoding="utf-8")
    found = problems_of(header=str(header))
    assert any("dpop_version may return NULL by its documentation" in p for p in found), found


def test_a_string_result_passed_as_an_address_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Function_Return (dpop_version())", "Function_Return (DPoPStringAtAddress(dpop_version()))")
    found = problems_of(pkg)
    assert any("dpop_version Returns String: its result is the text, not an address" in p for p in found), found


def test_a_result_that_may_be_null_used_as_a_string_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Move (dpop_key_alg(phKey(Self))) to pAlg", "Move (dpop_key_alg(phKey(Self))) to sAlg")
    found = problems_of(pkg)
    assert any("dpop_key_alg may return NULL: move its result to a Pointer variable" in p for p in found), found


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------


def test_a_size_t_given_to_resizearray_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Move (ResizeArray(ucaBuf, iCapacity)) to ucaBuf", "Move (ResizeArray(ucaBuf, ulSize)) to ucaBuf", count=4)
    found = problems_of(pkg)
    assert sum("ResizeArray gets 'ulSize' as its size, which is not an Integer" in p for p in found) == 4, found


def test_a_size_t_parameter_passed_on_to_resizearray_and_memcopy_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Function DPoPBytesAtAddress Global Pointer pData Integer iLength Returns String",
                 "Function DPoPBytesAtAddress Global Pointer pData ULongptr iLength Returns String")
    found = problems_of(pkg)
    assert any("ResizeArray gets 'iLength' as its size" in p for p in found), found
    assert any("MemCopy gets 'iLength' as its size" in p for p in found), found


def test_a_size_t_moved_into_an_integer_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Move (DPoPArraySize(ulSize)) to iCapacity", "Move ulSize to iCapacity", count=4)
    found = problems_of(pkg)
    assert any("cDPoPKey.CreateProof narrows a ulongptr to integer" in p for p in found), found
    assert any("cDPoPResponse.Private_CopyOut narrows a ulongptr to integer" in p for p in found), found


def test_an_unbounded_size_conversion_is_caught(tmp_path):
    pkg = mutate(tmp_path, "    If (ulSize > C_DPOP_MAX_ARRAY_SIZE) Function_Return 0\n", "")
    found = problems_of(pkg)
    assert any("DPoPArraySize must be a Global function of one ULongptr" in p for p in found), found


# ---------------------------------------------------------------------------------------------
# Classes, errors, wiping, the startup check, global methods
# ---------------------------------------------------------------------------------------------


def _method(cls, name):
    """(start, end) of method `name` of class `cls` in the real package, from the comment
    lines above it to its End_Function."""
    text = read(PKG)
    header = text.index(f"    Function {name} ", text.index(f"Class {cls} is"))
    end = text.index("    End_Function\n", header) + len("    End_Function\n")
    start = header
    while text[text.rfind("\n", 0, start - 1) + 1 : start].startswith("    //"):
        start = text.rfind("\n", 0, start - 1) + 1
    return start, end


def replace_method(tmp_path, cls, name, new):
    """A copy of the package with method `name` of class `cls` replaced by `new`."""
    text = read(PKG)
    start, end = _method(cls, name)
    path = tmp_path / "dpop.pkg"
    path.write_text(text[:start] + new(text[start:end]) + text[end:], encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("member", check_pkg.CLASS_MEMBERS)
def test_a_response_class_without_its_error_members_is_caught(tmp_path, member):
    found = problems_of(replace_method(tmp_path, "cDPoPResponse", member, lambda method: ""))
    assert any(f"class cDPoPResponse has no {member}" in p for p in found), found


@pytest.mark.parametrize("cls, handle", [("cDPoPKey", "phKey"), ("cDPoPHttp", "phHttp")])
def test_a_last_error_text_falling_back_to_the_thread_message_is_caught(tmp_path, cls, handle):
    line = f"        If ({handle}(Self) = 0) Function_Return (psNoHandleText(Self))\n"
    fallback = "        If (DPoPLastErrorMessage() <> \"\") Function_Return (DPoPLastErrorMessage())\n"

    def broken(method):
        assert line in method
        return method.replace(line, fallback)

    found = problems_of(replace_method(tmp_path, cls, "LastErrorText", broken))
    assert any(f"{cls}.LastErrorText reads the thread's last message" in p for p in found), found


@pytest.mark.parametrize("create", ["Get Create (RefClass(cDPoPResponse))", "Get Create of Self (RefClass(cDPoPResponse))"])
def test_a_response_created_as_a_child_of_the_http_object_is_caught(tmp_path, create):
    pkg = mutate(tmp_path, "Get Create of Desktop (RefClass(cDPoPResponse))", create)
    found = problems_of(pkg)
    assert any("cDPoPHttp.HttpRequest creates an object as its own child" in p and "Get Create of Desktop" in p for p in found), found


def test_a_private_key_buffer_left_unwiped_is_caught(tmp_path):
    wipe = """        If (bSecret) Begin
            Move (SizeOfArray(ucaBuf) - 1) to iLast
            For iIndex from 0 to iLast
                Move 0 to ucaBuf[iIndex]
            Loop
        End
"""
    found = problems_of(mutate(tmp_path, wipe, ""))
    assert any("cDPoPKey.Private_CopyOut receives a private key (dpop_key_private_jwk, dpop_key_private_pem) but does not zero" in p for p in found), found


def test_a_private_key_buffer_wiped_before_its_conversion_is_caught(tmp_path):
    text = read(PKG)
    convert = "        Move (DPoPBufferToString(ucaBuf, ulSize, bSecret)) to sText\n"
    wipe_start = text.index("        If (bSecret) Begin\n")
    wipe_end = text.index("        End\n", wipe_start) + len("        End\n")
    wipe = text[wipe_start:wipe_end]
    assert text[wipe_start - len(convert) : wipe_start] == convert
    swapped = text[: wipe_start - len(convert)] + wipe + convert + text[wipe_end:]
    path = tmp_path / "dpop.pkg"
    path.write_text(swapped, encoding="utf-8")
    found = problems_of(str(path))
    assert any("cDPoPKey.Private_CopyOut receives a private key" in p for p in found), found


def test_a_private_key_copy_kept_by_the_conversion_is_caught(tmp_path):
    pkg = mutate(tmp_path, "DPoPBufferToString(ucaBuf, ulSize, bSecret)", "DPoPBufferToString(ucaBuf, ulSize, False)")
    found = problems_of(pkg)
    assert any("has DPoPBufferToString keep its copy of a private key (bWipe False)" in p for p in found), found
    for array in ("ucaBuffer", "ucaText"):
        pkg = mutate(tmp_path, f"            Move 0 to {array}[iIndex]\n", "")
        found = problems_of(pkg)
        assert any(f"DPoPBufferToString does not zero {array.lower()}, which holds the text" in p for p in found), found


def test_a_version_check_that_is_never_sent_is_caught(tmp_path):
    found = problems_of(mutate(tmp_path, "\nSend DPoPCheckLibrary\n", "\n"))
    assert any("DPoPCheckLibrary is never sent: add 'Send DPoPCheckLibrary' at the package's top level" in p for p in found), found


def test_a_version_check_that_ignores_the_minor_version_is_caught(tmp_path):
    pkg = mutate(tmp_path, "    Move DPOP_VERSION_MINOR to sMinor\n", "    Move \"1\" to sMinor\n")
    found = problems_of(pkg)
    assert any("no startup check of the DLL" in p for p in found), found


def test_a_sample_procedure_that_is_not_global_is_caught(tmp_path):
    sample = mutate(tmp_path, "Procedure Test Global\n", "Procedure Test\n", source=SAMPLE)
    found = problems_of(sources=[sample])
    assert any("Procedure Test is outside any class but not Global" in p for p in found), found


def test_a_global_function_of_the_package_that_is_not_global_is_caught(tmp_path):
    pkg = mutate(tmp_path, "Function DPoPVersion Global Returns String", "Function DPoPVersion Returns String")
    found = problems_of(pkg)
    assert any("Function DPoPVersion is outside any class but not Global" in p for p in found), found
