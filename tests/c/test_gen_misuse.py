"""The misuse sweep's generator (tests/c/gen_misuse.py): it covers a new export by itself and
refuses, naming the function, one it cannot sweep.

    python3 -m pytest -q tests/c/test_gen_misuse.py
"""

import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
HEADER = os.path.join(REPO, "include", "dpop.h")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "bindings"))

import gen_misuse  # noqa: E402
from dpop_header import parse_prototypes  # noqa: E402


def real_header():
    with open(HEADER, encoding="utf-8") as f:
        return f.read()


def with_export(declaration, doc="A new export for the self-test."):
    """The real header with one more prototype (and its doc comment) before the closing
    extern "C" block."""
    source = real_header()
    at = source.rindex("#ifdef __cplusplus")
    return source[:at] + f"/**\n * {doc}\n */\nDPOP_API DPOP_CALL {declaration};\n\n" + source[at:]


def run_generator(tmp_path, source):
    header = tmp_path / "dpop.h"
    header.write_text(source, encoding="utf-8")
    out = tmp_path / "misuse.c"
    proc = subprocess.run([sys.executable, os.path.join(HERE, "gen_misuse.py"), "--header", str(header), str(out)],
                          capture_output=True, text=True)
    return proc, (out.read_text(encoding="utf-8") if out.exists() else None)


def test_the_real_header_is_swept_function_by_function():
    program = gen_misuse.generate(real_header())
    for proto in parse_prototypes(real_header()):
        assert f"static void sweep_{proto.name}(void)" in program
        assert re.search(rf"\b{proto.name}\(", program.split("static void sweep_", 1)[1])
        if any(p.ctype.endswith("*") for p in proto.params) and proto.ret != "void":
            assert f'begin_call("{proto.name}(' in program, proto.name


@pytest.mark.parametrize("declaration, complaint", [
    ("dpop_status dpop_key_scale(struct dpop_key *key, double factor)", "type 'double'"),
    ("dpop_status dpop_key_attach(struct dpop_key *key, void *context)", "type 'void *'"),
    ("dpop_status dpop_widget_poke(struct dpop_widget *widget)", "unknown handle type"),
    ("dpop_status dpop_key_name(const struct dpop_key *key, char *buf)", "strings-out triple"),
    ("dpop_status dpop_key_feed(struct dpop_key *key, const uint8_t *data)", "bytes in"),
    ("double dpop_key_strength(const struct dpop_key *key)", "returns 'double'"),
    ("void dpop_key_reset(struct dpop_key *key)", "void function"),
])
def test_an_unknown_shape_is_refused_naming_the_function(tmp_path, declaration, complaint):
    name = re.search(r"(dpop_\w+)\(", declaration).group(1)
    proc, program = run_generator(tmp_path, with_export(declaration))
    assert proc.returncode == 2
    assert name in proc.stderr and complaint in proc.stderr, proc.stderr
    assert program is None


def test_a_null_clause_that_could_be_about_two_parameters_is_refused(tmp_path):
    source = with_export("dpop_status dpop_http_set_pair(struct dpop_http *http, const char *a, const char *b)",
                         "Sets a pair; NULL resets it.")
    proc, _ = run_generator(tmp_path, source)
    assert proc.returncode == 2
    assert "dpop_http_set_pair" in proc.stderr and "2 pointer parameters" in proc.stderr


def test_a_missing_function_the_program_relies_on_is_named(tmp_path):
    source = re.sub(r"\n[^\n]*dpop_key_generate\([^\n]*\n", "\n", real_header())
    proc, _ = run_generator(tmp_path, source)
    assert proc.returncode == 2
    assert "dpop_key_generate" in proc.stderr and "does not declare" in proc.stderr


def test_a_new_simple_export_is_called_with_null_and_extreme_values(tmp_path):
    proc, program = run_generator(
        tmp_path, with_export("dpop_status dpop_http_set_retries(struct dpop_http *http, uint32_t retries)"))
    assert proc.returncode == 0, proc.stderr
    assert "sweep_dpop_http_set_retries();" in program
    assert "dpop_http_set_retries(h_http, 1);" in program  # valid
    assert "dpop_http_set_retries(NULL, 1);" in program
    assert "dpop_http_set_retries(h_http, UINT32_MAX);" in program
    null_case = program.split('begin_call("dpop_http_set_retries(http=NULL)");')[1].split("end_call();")[0]
    assert 'expect_eq("dpop_http_set_retries", st, DPOP_ERR_NULL_POINTER);' in null_case
    assert 'names_param("http");' in null_case


def test_a_new_string_export_gets_null_and_invalid_utf8_and_its_doc_decides_optional(tmp_path):
    source = with_export("dpop_status dpop_http_set_label(struct dpop_http *http, const char *label, "
                         "const char *note)", "Labels the object. `note` (may be NULL): a remark.")
    proc, program = run_generator(tmp_path, source)
    assert proc.returncode == 0, proc.stderr
    assert r'dpop_http_set_label(h_http, "\xff\xfe", "misuse");' in program
    assert r'dpop_http_set_label(h_http, "misuse", "\xff\xfe");' in program
    label = program.split('begin_call("dpop_http_set_label(label=NULL)");')[1].split("end_call();")[0]
    assert "DPOP_ERR_NULL_POINTER);" in label and "expect_eq" in label
    note = program.split('begin_call("dpop_http_set_label(note=NULL, optional)");')[1].split("end_call();")[0]
    assert 'expect_not("dpop_http_set_label", st, DPOP_ERR_NULL_POINTER);' in note
    assert 'dpop_http_set_label(h_http, "misuse", "");' in program  # "" means NULL


def test_a_new_strings_out_export_gets_the_buffer_cases(tmp_path):
    proc, program = run_generator(tmp_path, with_export(
        "dpop_status dpop_key_kid(const struct dpop_key *key, char *buf, size_t buf_len, size_t *out_size)"))
    assert proc.returncode == 0, proc.stderr
    for case in ("buf=NULL asks for the size", "out_size=NULL, optional", "buf_len=0", "buf_len=1",
                 "buf_len=size needed - 1", "buf_len=size needed", "key=unloaded handle"):
        assert f'begin_call("dpop_key_kid({case})");' in program, case
    assert "dpop_key_kid(h_key, b_buf, 0, &b_buf_size);" in program


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_the_program_for_a_new_export_compiles(tmp_path):
    """Compiled, not linked (the library has no such export): the generated C is valid C11
    with the project's warnings as errors."""
    source = with_export("dpop_status dpop_http_set_label(struct dpop_http *http, const char *label)")
    proc, _ = run_generator(tmp_path, source)
    assert proc.returncode == 0, proc.stderr
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", f"-I{tmp_path}",
                         f"-I{HERE}", "-c", "-o", str(tmp_path / "misuse.o"), str(tmp_path / "misuse.c")],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
