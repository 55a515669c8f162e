#!/usr/bin/env python3
"""Compares the dynamic symbol table of libdpop.so with the functions of include/dpop.h.

    tests/check_so_exports.py [SO [HEADER]]    (default target/release/libdpop.so, include/dpop.h)

Every function the header declares must be exported as a function (`nm -D --defined-only`:
type T), and the library must export nothing else: a dpop_* symbol the header does not declare
is an export no C caller can see, and any other name leaks an implementation detail into the
ABI. The header is read by bindings/dpop_header.py, the reader the bindings' checks share.
(windows/check_exports.py does the same for dpop.dll.) Prints one line per problem and
`so exports: N passed, M failed`; exits non-zero on any failure.
"""
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "bindings"))
import dpop_header  # noqa: E402  (bindings/dpop_header.py)

# Symbols some linkers define in every shared object's dynamic table; not part of any API.
LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def dynamic_symbols(so):
    """name -> nm type letter of each defined dynamic symbol (version suffixes dropped)."""
    out = subprocess.run(
        ["nm", "-D", "--defined-only", so], capture_output=True, text=True, check=True
    ).stdout
    symbols = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        kind, name = fields[-2], fields[-1].split("@")[0]
        symbols[name] = kind
    return symbols


def check(so, header):
    """The problems found, one string each, and how many header functions were checked."""
    prototypes, _ = dpop_header.read_header(header)
    declared = {p.name for p in prototypes}
    if not declared:
        return [f"{header} declares no DPOP_CALL function"], 0
    exported = dynamic_symbols(so)
    problems = []
    for name in sorted(declared):
        kind = exported.get(name)
        if kind is None:
            problems.append(f"missing: {name} is declared in {header} but not exported by {so}")
        elif kind != "T":
            problems.append(f"not a function: {name} is exported with nm type {kind}, not T")
    for name in sorted(set(exported) - declared - LINKER_SYMBOLS):
        if name.startswith("dpop_"):
            problems.append(f"extra: {so} exports {name}, which {header} does not declare")
        else:
            problems.append(f"extra: {so} exports {name}, which is not part of libdpop's C API")
    return problems, len(declared)


def main(argv):
    so = argv[1] if len(argv) > 1 else os.path.join(ROOT, "target", "release", "libdpop.so")
    header = argv[2] if len(argv) > 2 else dpop_header.DEFAULT_HEADER
    so, header = os.path.relpath(so), os.path.relpath(header)
    problems, checked = check(so, header)
    for problem in problems:
        print(f"FAIL {problem}")
    declared_failures = sum(1 for p in problems if not p.startswith("extra"))
    print(f"so exports: {checked - declared_failures} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
