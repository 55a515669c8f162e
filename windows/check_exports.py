#!/usr/bin/env python3
"""Checks a dpop.dll export table against include/dpop.h (and, for i686, the calling convention).

    check_exports.py HEADER DLL ARCH [DEF_OUT]

- every function declared in the header is exported under its plain, undecorated name, and the
  DLL exports nothing else;
- ARCH i686: every export is really stdcall, i.e. its code returns with `ret $N` where N is
  4 bytes per parameter (all parameter types of the C API are 4 bytes wide on i686); a function
  without parameters returns with a plain `ret`;
- writes DEF_OUT, the module definition for a WINAPI-style import library
  (`name@N` entries, used with `dlltool -k`).
Prints `exports: N passed, M failed` and exits non-zero on any failure.
"""
import re
import subprocess
import sys

PROTOTYPE = re.compile(r"^DPOP_API DPOP_CALL\s+(?P<ret>[^;(]*?)\b(?P<name>dpop_\w+)\((?P<params>[^)]*)\);", re.M)


def header_functions(path):
    """name -> number of parameters, from the DPOP_API DPOP_CALL prototypes of the header."""
    text = open(path, encoding="utf-8").read()
    functions = {}
    for m in PROTOTYPE.finditer(text):
        params = m.group("params").strip()
        functions[m.group("name")] = 0 if params in ("", "void") else len(params.split(","))
    if not functions:
        sys.exit(f"no DPOP_CALL prototypes found in {path}")
    return functions


# The in-process COM server's entry points (src/com): exported besides the header's functions,
# stdcall on i686 like every export, and left out of the import library (COM finds them by
# GetProcAddress). Name -> number of parameters.
COM_SERVER = {
    "DllCanUnloadNow": 0,
    "DllGetClassObject": 3,
    "DllInstall": 2,
    "DllRegisterServer": 0,
    "DllUnregisterServer": 0,
}


def objdump(arch):
    return {"x86_64": "x86_64-w64-mingw32-objdump", "i686": "i686-w64-mingw32-objdump"}[arch]


def exports(dll, arch):
    """name -> RVA from the export table."""
    out = subprocess.run([objdump(arch), "-p", dll], capture_output=True, text=True, check=True).stdout
    base = int(re.search(r"^ImageBase\s+([0-9a-fA-F]+)", out, re.M).group(1), 16)
    rvas = re.findall(r"^\s*\[\s*\d+\] \+base\[\s*(\d+)\] ([0-9a-f]+) Export RVA", out, re.M)
    by_ordinal = {int(o): int(rva, 16) for o, rva in rvas}
    names = re.findall(r"^\s*\[\s*(\d+)\] (\S+)$", out.split("[Ordinal/Name Pointer] Table")[1], re.M)
    ordinal_base = int(re.search(r"Ordinal Base (\d+)", out).group(1))
    table = {}
    for index, name in names:
        # Name i points at ordinal table entry i; with rustc's DLLs the two tables line up.
        table[name] = base + by_ordinal[int(index) + ordinal_base]
    return table


def first_return(dll, arch, address):
    """The first `ret` instruction from `address` on, as objdump prints it."""
    out = subprocess.run(
        [objdump(arch), "-d", "--no-show-raw-insn", f"--start-address={address:#x}",
         f"--stop-address={address + 8192:#x}", dll],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[-1].strip().startswith("ret"):
            return parts[-1].strip()
    return None


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    header, dll, arch = sys.argv[1:4]
    declared = header_functions(header)
    exported = exports(dll, arch)
    passed = failed = 0

    def check(ok, message):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {message}")

    for name in sorted(declared):
        check(name in exported, f"{name} is declared in the header but not exported by {dll}")
    for name in sorted(COM_SERVER):
        check(name in exported, f"{name} (COM server) is not exported by {dll}")
    for name in sorted(exported):
        check(name in declared or name in COM_SERVER, f"{name} is exported but not declared in the header")
        check("@" not in name and not name.startswith("_"), f"{name} is a decorated name")
    if arch == "i686":
        for name, count in sorted({**declared, **COM_SERVER}.items()):
            if name not in exported:
                continue
            ret = first_return(dll, arch, exported[name])
            want = f"ret    ${count * 4:#x}" if count else "ret"
            check(ret is not None and ret.split() == want.split(),
                  f"{name}: {count} parameters, expected '{want}' (stdcall), found '{ret}'")
    if len(sys.argv) == 5:
        with open(sys.argv[4], "w", encoding="ascii") as f:
            f.write("LIBRARY dpop.dll\nEXPORTS\n")
            for name, count in sorted(declared.items()):
                f.write(f"    {name}@{count * 4}\n" if arch == "i686" else f"    {name}\n")
    print(f"exports ({arch}): {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
