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


def problems_of(pkg=PKG, header=HEADER, sources=(SAMPLE,)):
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
