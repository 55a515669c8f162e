#!/usr/bin/env python3
"""Checks the type library embedded in dpop.dll against src/com/dpop.idl, as oleaut32 reads it.

    check_typelib.py DLL [--exe typelib_dump.exe] [--out DUMP]   runs typelib_dump.exe under Wine
    check_typelib.py --dump DUMP                                 checks a dump made before
    check_typelib.py --self-test [--dump DUMP]                   proves the checker finds faults

The IDL is read with bindings/dataflex/check_ax.py's parser (the one IDL reader of the
project). typelib_dump.exe (tests/com/typelib_dump.c) loads the DLL with LoadTypeLibEx
(REGKIND_NONE) and prints every type info; WINEPREFIX is the caller's. For every interface
of the IDL, both views of it must agree with the IDL, member by member in the IDL's order:

- the vtable interface (what early binding and DispInvoke call through): the member's name
  (case included: importers take it from here), DISPID, kind (method, propget, propput), its
  vtable slot (after IDispatch's seven), an HRESULT return, every parameter with its type,
  [in] or [out, retval], and its name where the library gives one;
- the dispatch interface (what late binding sees): the same members after IDispatch's, with
  the retval folded into the return type (VT_VOID without one) and the [in] parameters;
- the GUIDs, dual and oleautomation, IDispatch as the base; every coclass with its GUID and
  default interface; no interface or coclass the IDL lacks; the library's name, GUID and
  version;
- a non-empty help string on the library, every interface (both views), every coclass and
  every member (both views).

Prints one line per difference, naming the member, and exits 1 when there is any.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bindings", "dataflex"))
import check_ax  # noqa: E402  (the IDL parser)

IDL = check_ax.IDL

# An IDL type and its VARTYPE in a type library; a further '*' is one more VT_PTR.
VARTYPES = {
    "BSTR": "VT_BSTR",
    "long": "VT_I4",
    "VARIANT_BOOL": "VT_BOOL",
    "VARIANT": "VT_VARIANT",
    "IDispatch*": "VT_DISPATCH",
}
# IDispatch's methods come first in every vtable, and first in a dual interface's dispatch view.
DISPATCH_SLOTS = 7
FIRST_INHERITED_MEMID = 0x60000000
POINTER_SIZE = {"win64": 8, "win32": 4}


def vartype(idl_type):
    """'BSTR*' -> 'VT_PTR>VT_BSTR', 'IDispatch**' -> 'VT_PTR>VT_DISPATCH'."""
    if idl_type in VARTYPES:
        return VARTYPES[idl_type]
    if idl_type.endswith("*"):
        return "VT_PTR>" + vartype(idl_type[:-1])
    raise check_ax.IdlError(f"check_typelib has no VARTYPE for the IDL type '{idl_type}': add it to VARTYPES")


def library_attributes(path):
    """The library block's attributes (uuid, version, helpstring), read by check_ax's parser."""
    with open(path, encoding="utf-8") as f:
        parser = check_ax._IdlParser(f.read())
    while parser.peek() == "import":
        parser.take()
        parser.take()
        parser.take(";")
    return parser.attributes()


# ---------------------------------------------------------------------------------------------
# Reading typelib_dump's output
# ---------------------------------------------------------------------------------------------


@dataclass
class TlbParam:
    name: str
    type: str
    flags: Tuple[str, ...]


@dataclass
class TlbFunc:
    index: int
    memid: int
    invkind: str
    funckind: str
    ovft: int
    nparams: int
    ret: str
    name: str
    help: str
    params: List[TlbParam] = field(default_factory=list)


@dataclass
class TlbType:
    name: str
    view: str  # dispatch, interface, coclass, ...
    guid: str  # lower case, no braces
    flags: Tuple[str, ...]
    nfuncs: int
    vtbl_bytes: int
    help: str
    impls: List[Tuple[str, Tuple[str, ...]]] = field(default_factory=list)
    funcs: List[TlbFunc] = field(default_factory=list)


@dataclass
class Dump:
    name: str = ""
    guid: str = ""
    syskind: str = ""
    version: str = ""
    help: str = ""
    types: List[TlbType] = field(default_factory=list)

    def find(self, name, view):
        return next((t for t in self.types if t.name == name and t.view == view), None)


class DumpError(ValueError):
    """typelib_dump's output cannot be read."""


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def _unescape(text):
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def _guid(text):
    return text.strip("{}").lower()


def _flags(text):
    return () if text == "-" else tuple(text.split(","))


def read_dump(text):
    dump = Dump()
    types: Dict[Tuple[str, str], TlbType] = {}
    funcs: Dict[Tuple[str, str, int], TlbFunc] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        if not line or line.startswith("#"):
            continue
        f = [_unescape(x) for x in line.split("\t")]
        want = {"library": 6, "type": 9, "impl": 6, "func": 12, "param": 8}.get(f[0])
        if want is None or len(f) != want:
            raise DumpError(f"dump line {number}: cannot read '{line[:80]}'")
        try:
            if f[0] == "library":
                dump.name, dump.guid, dump.syskind, dump.version, dump.help = f[1], _guid(f[2]), f[3], f[4], f[5]
            elif f[0] == "type":
                t = TlbType(f[1], f[2], _guid(f[3]), _flags(f[4]), int(f[5]), int(f[7]), f[8])
                types[(t.name, t.view)] = t
                dump.types.append(t)
            elif f[0] == "impl":
                types[(f[1], f[2])].impls.append((f[4], _flags(f[5])))
            elif f[0] == "func":
                fn = TlbFunc(int(f[3]), int(f[4]), f[5], f[6], int(f[7]), int(f[8]), f[9], f[10], f[11])
                types[(f[1], f[2])].funcs.append(fn)
                funcs[(f[1], f[2], fn.index)] = fn
            else:
                funcs[(f[1], f[2], int(f[3]))].params.append(TlbParam(f[5], f[6], _flags(f[7])))
        except (KeyError, ValueError) as e:
            raise DumpError(f"dump line {number}: '{line[:80]}': {e}") from None
    if not dump.name:
        raise DumpError("the dump has no library line")
    return dump


# ---------------------------------------------------------------------------------------------
# Comparing
# ---------------------------------------------------------------------------------------------


def _member_label(iface, member, view, slot=None):
    where = f" (dpop.idl:{member.line}, {view} view" + (f", vtable slot {slot})" if slot is not None else ")")
    return f"{iface.name}.{member.name} [{member.kind}]{where}"


def _check_function(problems, iface, member, fn, view, expected_params, expected_ret, slot, pointer):
    label = _member_label(iface, member, view, slot)
    if fn.name != member.name:
        if fn.name.lower() == member.name.lower():
            problems.append(
                f"{label}: the type library spells it '{fn.name}', not '{member.name}' (a type library keeps "
                f"one spelling per name, case-insensitively: an earlier '{fn.name}' of the IDL, often a "
                f"parameter, fixed it; importers and early-bound hosts see '{fn.name}')"
            )
        else:
            problems.append(f"{label}: the type library has '{fn.name}' here")
            return
    if fn.memid != member.dispid:
        problems.append(f"{label}: DISPID {fn.memid} in the type library, id({member.dispid}) in the IDL")
    if fn.invkind != member.kind:
        problems.append(f"{label}: a {fn.invkind} in the type library, a {member.kind} in the IDL")
    if slot is not None:
        if fn.funckind != "purevirtual":
            problems.append(f"{label}: function kind {fn.funckind}, not purevirtual")
        if fn.ovft != slot * pointer:
            problems.append(
                f"{label}: vtable offset {fn.ovft}, expected {slot * pointer} (slot {slot} of {pointer}-byte pointers)"
            )
    elif fn.funckind != "dispatch":
        problems.append(f"{label}: function kind {fn.funckind}, not dispatch")
    if fn.ret != expected_ret:
        problems.append(f"{label}: returns {fn.ret} in the type library, {expected_ret} expected")
    if not fn.help.strip():
        problems.append(f"{label}: no help string")
    if fn.nparams != len(expected_params) or len(fn.params) != fn.nparams:
        problems.append(
            f"{label}: {fn.nparams} parameters in the type library, {len(expected_params)} in the IDL "
            f"({', '.join(p.name for p, _ in expected_params) or 'none'})"
        )
        return
    for number, ((idl_param, flags), tlb_param) in enumerate(zip(expected_params, fn.params)):
        what = f"{label}: parameter {number} ('{idl_param.name}')"
        want_type = vartype(idl_param.type)
        if tlb_param.type != want_type:
            problems.append(f"{what} is {tlb_param.type} in the type library, {want_type} ({idl_param.type}) in the IDL")
        if tlb_param.flags != flags:
            problems.append(
                f"{what} is [{', '.join(tlb_param.flags) or 'no flags'}] in the type library, [{', '.join(flags)}] in the IDL"
            )
        # Names are compared where the library gives one; their case is the library's (see above).
        if tlb_param.name and tlb_param.name.lower() != idl_param.name.lower():
            problems.append(f"{what} is named '{tlb_param.name}' in the type library")


def check_interface(problems, iface, dump, pointer):
    for view in ("interface", "dispatch"):
        tlb = dump.find(iface.name, view)
        if tlb is None:
            problems.append(f"{iface.name} (dpop.idl:{iface.line}): the type library has no {view} type info for it")
            continue
        where = f"{iface.name} ({view} view)"
        if tlb.guid != iface.uuid.lower():
            problems.append(f"{where}: GUID {{{tlb.guid}}} in the type library, uuid({iface.uuid}) in the IDL")
        for flag in ("dual",) + (("oleautomation",) if view == "interface" else ()):
            if flag not in tlb.flags:
                problems.append(f"{where}: not marked {flag} (flags: {', '.join(tlb.flags) or 'none'})")
        if not tlb.help.strip():
            problems.append(f"{where}: no help string")
        if [name for name, _ in tlb.impls] != ["IDispatch"]:
            problems.append(f"{where}: extends {', '.join(n for n, _ in tlb.impls) or 'nothing'}, not IDispatch")

        if view == "interface":
            funcs = tlb.funcs
            if tlb.vtbl_bytes != (DISPATCH_SLOTS + len(iface.members)) * pointer:
                problems.append(
                    f"{where}: a vtable of {tlb.vtbl_bytes} bytes, expected "
                    f"{(DISPATCH_SLOTS + len(iface.members)) * pointer} (IDispatch's 7 and {len(iface.members)} members)"
                )
        else:
            funcs = [fn for fn in tlb.funcs if not (FIRST_INHERITED_MEMID <= fn.memid & 0xFFFFFFFF < 0x70000000)]
        for index, member in enumerate(iface.members):
            if index >= len(funcs):
                problems.append(f"{_member_label(iface, member, view)}: missing from the type library")
                continue
            fn = funcs[index]
            ins = [(p, ("in",)) for p in member.params]
            if view == "interface":
                params = ins + ([(member.retval, ("out", "retval"))] if member.retval else [])
                _check_function(problems, iface, member, fn, view, params, "VT_HRESULT", DISPATCH_SLOTS + index, pointer)
            else:
                ret = vartype(member.retval.type[:-1]) if member.retval else "VT_VOID"
                _check_function(problems, iface, member, fn, view, ins, ret, None, pointer)
        for fn in funcs[len(iface.members):]:
            problems.append(f"{where}: '{fn.name}' (DISPID {fn.memid}, {fn.invkind}) is not a member in the IDL")


def check(library, attrs, dump):
    """The differences between the IDL (check_ax's Library and the library's attributes) and
    the dump, one line each."""
    problems = []
    pointer = POINTER_SIZE.get(dump.syskind)
    if pointer is None:
        problems.append(f"library: system kind '{dump.syskind}', expected win64 or win32")
        pointer = 8
    if dump.name != library.name:
        problems.append(f"library: named '{dump.name}' in the type library, '{library.name}' in the IDL")
    uuid = (attrs.get("uuid") or [""])[0].lower()
    if dump.guid != uuid:
        problems.append(f"library {library.name}: GUID {{{dump.guid}}} in the type library, uuid({uuid}) in the IDL")
    version = (attrs.get("version") or [""])[0].replace(" ", "")
    if version and dump.version != version:
        problems.append(f"library {library.name}: version {dump.version} in the type library, {version} in the IDL")
    if not dump.help.strip():
        problems.append(f"library {library.name}: no help string")

    for iface in library.interfaces.values():
        check_interface(problems, iface, dump, pointer)
    for co in library.coclasses:
        tlb = dump.find(co.name, "coclass")
        where = f"coclass {co.name} (dpop.idl:{co.line})"
        if tlb is None:
            others = [t.name for t in dump.types if t.view == "coclass" and t.guid == co.uuid.lower()]
            problems.append(
                f"{where}: not in the type library"
                + (f" (its uuid is there as coclass '{others[0]}': is the DLL older than the IDL?)" if others else "")
            )
            continue
        if tlb.guid != co.uuid.lower():
            problems.append(f"{where}: GUID {{{tlb.guid}}} in the type library, uuid({co.uuid}) in the IDL")
        if not tlb.help.strip():
            problems.append(f"{where}: no help string")
        if "cancreate" not in tlb.flags:
            problems.append(f"{where}: not creatable (flags: {', '.join(tlb.flags) or 'none'})")
        defaults = [name for name, flags in tlb.impls if "default" in flags and "source" not in flags]
        if defaults != [co.default]:
            problems.append(f"{where}: default interface {', '.join(defaults) or 'none'}, {co.default} in the IDL")

    known = {(i, v) for i in library.interfaces for v in ("interface", "dispatch")}
    known |= {(c.name, "coclass") for c in library.coclasses}
    for t in dump.types:
        if (t.name, t.view) not in known:
            problems.append(f"{t.view} {t.name} {{{t.guid}}}: in the type library but not in the IDL")
    return problems


# ---------------------------------------------------------------------------------------------
# Running typelib_dump.exe, and the self-test
# ---------------------------------------------------------------------------------------------


def run_dump(exe, dll, out):
    env = dict(os.environ)
    env.setdefault("WINEDEBUG", "-all")
    command = ["wine", exe, dll, out]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0 or not os.path.isfile(out):
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"check_typelib: {' '.join(command)} failed (exit {result.returncode})")


def render(library, attrs, syskind="win64"):
    """The dump typelib_dump would print for a type library that matches the IDL exactly
    (help strings made up: the parser does not keep them). For the self-test."""
    pointer = POINTER_SIZE[syskind]
    esc = lambda s: s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")  # noqa: E731
    lines = ["\t".join(["library", library.name, "{" + attrs["uuid"][0].upper() + "}", syskind,
                        attrs.get("version", ["1.0"])[0], esc(attrs.get("helpstring", ["the library"])[0])])]
    for iface in library.interfaces.values():
        for view in ("dispatch", "interface"):
            flags = "dual,nonextensible,dispatchable" if view == "dispatch" else "dual,nonextensible,oleautomation,dispatchable"
            vtbl = DISPATCH_SLOTS * pointer if view == "dispatch" else (DISPATCH_SLOTS + len(iface.members)) * pointer
            count = len(iface.members) + (DISPATCH_SLOTS if view == "dispatch" else 0)
            lines.append("\t".join(["type", iface.name, view, "{" + iface.uuid.upper() + "}", flags, str(count), "1",
                                    str(vtbl), f"help of {iface.name}"]))
            lines.append("\t".join(["impl", iface.name, view, "0", "IDispatch", "-"]))
            inherited = ["QueryInterface", "AddRef", "Release", "GetTypeInfoCount", "GetTypeInfo", "GetIDsOfNames", "Invoke"]
            index = 0
            if view == "dispatch":
                for n, name in enumerate(inherited):
                    memid = FIRST_INHERITED_MEMID + (n if n < 3 else 0x10000 + n - 3)
                    lines.append("\t".join(["func", iface.name, view, str(index), str(memid), "method", "dispatch",
                                            str(n * pointer), "0", "VT_VOID", name, ""]))
                    index += 1
            for slot, m in enumerate(iface.members, DISPATCH_SLOTS):
                params = [(p, "in") for p in m.params]
                if view == "interface":
                    params += [(m.retval, "out,retval")] if m.retval else []
                    ret, kind = "VT_HRESULT", "purevirtual"
                else:
                    ret, kind = (vartype(m.retval.type[:-1]) if m.retval else "VT_VOID"), "dispatch"
                lines.append("\t".join(["func", iface.name, view, str(index), str(m.dispid), m.kind, kind,
                                        str(slot * pointer), str(len(params)), ret, m.name, f"help of {m.name}"]))
                for n, (p, flags) in enumerate(params):
                    lines.append("\t".join(["param", iface.name, view, str(index), str(n), p.name, vartype(p.type), flags]))
                index += 1
    for co in library.coclasses:
        lines.append("\t".join(["type", co.name, "coclass", "{" + co.uuid.upper() + "}", "cancreate", "0", "1", "0",
                                f"help of {co.name}"]))
        lines.append("\t".join(["impl", co.name, "coclass", "0", co.default, "default"]))
    return "\n".join(lines) + "\n"


def _edit(text, select, change):
    """Applies `change` (fields -> fields) to the first line whose fields `select` accepts."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        fields = line.split("\t")
        if select(fields):
            lines[i] = "\t".join(change(list(fields)))
            return "\n".join(lines)
    raise AssertionError("self-test: no line to change")


def _func(iface, view, name, kind=None):
    return lambda f: f[0] == "func" and f[1] == iface and f[2] == view and f[10] == name and kind in (None, f[5])


def _set(index, value):
    def change(fields):
        fields[index] = value
        return fields

    return change


def _rename(text, name, view, new_name):
    """Renames a type info in all its lines."""
    lines = [line.split("\t") for line in text.split("\n")]
    for f in lines:
        if len(f) > 2 and f[0] != "library" and f[1] == name and f[2] == view:
            f[1] = new_name
    return "\n".join("\t".join(f) for f in lines)


def _swap_functions(text, iface, view, first, second):
    """Swaps two adjacent functions of a view (their func and param lines), as a reordered
    vtable would show them; indexes and offsets stay where they were."""
    lines = text.split("\n")
    blocks, current = [], None
    for line in lines:
        f = line.split("\t")
        if f[0] == "func":
            current = [line]
            blocks.append(current)
        elif f[0] == "param" and current is not None:
            current.append(line)
        else:
            current = None
            blocks.append([line])

    def name(block):
        f = block[0].split("\t")
        return f[10] if f[0] == "func" and f[1] == iface and f[2] == view else None

    a = next(i for i, b in enumerate(blocks) if name(b) == first)
    b = next(i for i, b in enumerate(blocks) if name(b) == second)
    fa, fb = blocks[a][0].split("\t"), blocks[b][0].split("\t")
    fa[3], fb[3], fa[7], fb[7] = fb[3], fa[3], fb[7], fa[7]
    swapped_a = ["\t".join(fb[:3] + [fa[3]] + fb[4:7] + [fa[7]] + fb[8:])]
    swapped_b = ["\t".join(fa[:3] + [fb[3]] + fa[4:7] + [fb[7]] + fa[8:])]
    swapped_a += ["\t".join(p.split("\t")[:3] + [fa[3]] + p.split("\t")[4:]) for p in blocks[b][1:]]
    swapped_b += ["\t".join(p.split("\t")[:3] + [fb[3]] + p.split("\t")[4:]) for p in blocks[a][1:]]
    blocks[a], blocks[b] = swapped_a, swapped_b
    return "\n".join(line for block in blocks for line in block)


def self_test(library, attrs, dump_text=None):
    """Each fault put into a good dump is reported, naming the member; returns failures."""
    failures = []
    base = dump_text if dump_text is not None else render(library, attrs)
    baseline = check(library, attrs, read_dump(base))
    source = "the given dump" if dump_text is not None else "a dump rendered from the IDL"
    if dump_text is None and baseline:
        failures.append(f"{source} does not pass: {baseline}")

    def has(problems, *needles):
        return any(all(n in p for n in needles) for p in problems)

    faults = [
        ("a changed DISPID", lambda t: _edit(t, _func("IDpopHttp", "interface", "QuickGetStr"), _set(4, "99")),
         ("IDpopHttp.QuickGetStr", "DISPID 99")),
        ("a changed DISPID in the dispatch view", lambda t: _edit(t, _func("IDpopJsonObject", "dispatch", "Emit"), _set(4, "42")),
         ("IDpopJsonObject.Emit", "dispatch view", "DISPID 42")),
        ("a missing member help string", lambda t: _edit(t, _func("IDpopJsonObject", "interface", "Emit"), _set(11, "")),
         ("IDpopJsonObject.Emit", "no help string")),
        ("a propget turned method", lambda t: _edit(t, _func("IDpopHttp", "interface", "LastStatus"), _set(5, "method")),
         ("IDpopHttp.LastStatus", "a method in the type library")),
        ("a wrong vtable offset", lambda t: _edit(t, _func("IDpopPrivateKey", "interface", "LoadPem"), _set(7, "4")),
         ("IDpopPrivateKey.LoadPem", "vtable offset 4")),
        ("two members swapped in the vtable",
         lambda t: _swap_functions(t, "IDpopHttpResponse", "interface", "GetHeaderName", "GetHeaderValue"),
         ("IDpopHttpResponse.GetHeaderName", "'GetHeaderValue'")),
        ("a parameter of another type",
         lambda t: _edit(t, lambda f: f[:3] == ["param", "IDpopJsonObject", "interface"] and f[5] == "value" and f[6] == "VT_I4",
                         _set(6, "VT_I2")),
         ("IDpopJsonObject.UpdateInt", "parameter 1 ('value')", "VT_I2")),
        ("a retval that is not one",
         lambda t: _edit(t, lambda f: f[:3] == ["param", "IDpopHttp", "interface"] and f[7] == "out,retval", _set(7, "out")),
         ("IDpopHttp.SetDPoPKey", "[out] in the type library")),
        ("a parameter less", lambda t: _edit(t, _func("IDpopPrivateKey", "dispatch", "CreateProof"), _set(8, "4")),
         ("IDpopPrivateKey.CreateProof", "dispatch view", "4 parameters")),
        ("a wrong return type", lambda t: _edit(t, _func("IDpopHttp", "dispatch", "QuickRequest"), _set(9, "VT_UNKNOWN")),
         ("IDpopHttp.QuickRequest", "returns VT_UNKNOWN")),
        ("a member spelled in another case", lambda t: _edit(t, _func("IDpopHttp", "interface", "LastStatus"), _set(10, "lastStatus")),
         ("IDpopHttp.LastStatus", "spells it 'lastStatus'")),
        ("an interface GUID",
         lambda t: _edit(t, lambda f: f[:3] == ["type", "IDpopHttp", "interface"], _set(3, "{00000000-0000-0000-0000-000000000001}")),
         ("IDpopHttp (interface view)", "GUID")),
        ("an interface without help",
         lambda t: _edit(t, lambda f: f[:3] == ["type", "IDpopHttpResponse", "dispatch"], _set(8, "")),
         ("IDpopHttpResponse (dispatch view)", "no help string")),
        ("a coclass without help", lambda t: _edit(t, lambda f: f[:3] == ["type", "DpopJsonObject", "coclass"], _set(8, "")),
         ("coclass DpopJsonObject", "no help string")),
        ("a coclass of another name", lambda t: _rename(t, "DpopHttp", "coclass", "Http"),
         ("coclass DpopHttp", "not in the type library", "as coclass 'Http'")),
        ("a library without help", lambda t: _edit(t, lambda f: f[0] == "library", _set(5, "")),
         ("library DpopLib", "no help string")),
        ("a library GUID", lambda t: _edit(t, lambda f: f[0] == "library", _set(2, "{00000000-0000-0000-0000-000000000002}")),
         ("library DpopLib", "GUID")),
        ("a member missing", lambda t: "\n".join(
            line for line in t.split("\n")
            if not (line.split("\t")[:3] == ["func", "IDpopPrivateKey", "interface"] and line.split("\t")[10] == "LastMethodSuccess")
            and not (line.split("\t")[:3] == ["param", "IDpopPrivateKey", "interface"] and line.split("\t")[3] == "19")),
         ("IDpopPrivateKey.LastMethodSuccess", "missing from the type library")),
    ]
    for what, fault, needles in faults:
        try:
            problems = check(library, attrs, read_dump(fault(base)))
        except (AssertionError, StopIteration, IndexError, DumpError) as e:
            failures.append(f"self-test: {what}: the fault could not be made in {source} ({e!r})")
            continue
        new = [p for p in problems if p not in baseline]
        if not has(new, *needles):
            failures.append(f"self-test: {what} was not reported as {needles}; got {new or 'nothing new'}")
    print(f"check_typelib: self-test on {source}: {len(faults) - len(failures)} of {len(faults)} faults reported")
    return failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dll", nargs="?", help="dpop.dll (its type library is dumped under Wine)")
    parser.add_argument("--idl", default=IDL)
    parser.add_argument("--exe", default=None, help="typelib_dump.exe (default: next to the DLL)")
    parser.add_argument("--out", default=None, help="where the dump is written (default: a temporary file)")
    parser.add_argument("--dump", default=None, help="check this dump instead of running typelib_dump.exe")
    parser.add_argument("--self-test", action="store_true", help="put faults into a good dump and expect each reported")
    args = parser.parse_args(argv)

    try:
        library = check_ax.read_idl(args.idl)
        attrs = library_attributes(args.idl)
    except check_ax.IdlError as e:
        print(f"check_typelib: {e}")
        return 1

    if args.self_test:
        text = None
        if args.dump:
            with open(args.dump, encoding="utf-8") as f:
                text = f.read()
        failures = self_test(library, attrs)
        if text is not None:
            failures += self_test(library, attrs, text)
        for failure in failures:
            print(failure)
        return 1 if failures else 0

    if args.dump:
        path = args.dump
    elif args.dll:
        exe = args.exe or os.path.join(os.path.dirname(os.path.abspath(args.dll)), "typelib_dump.exe")
        path = args.out or os.path.join(tempfile.mkdtemp(prefix="check_typelib."), "typelib.txt")
        run_dump(exe, os.path.abspath(args.dll), os.path.abspath(path))
    else:
        parser.error("give a DLL, --dump DUMP or --self-test")
    with open(path, encoding="utf-8") as f:
        try:
            dump = read_dump(f.read())
        except DumpError as e:
            print(f"check_typelib: {path}: {e}")
            return 1
    problems = check(library, attrs, dump)
    for problem in problems:
        print(problem)
    source = args.dll or path
    if problems:
        print(f"check_typelib: {len(problems)} differences between the type library of {source} and {os.path.relpath(args.idl)}")
        return 1
    count = sum(len(i.members) for i in library.interfaces.values())
    print(
        f"check_typelib: the type library of {source} matches {os.path.relpath(args.idl)}: "
        f"{count} members of {len(library.interfaces)} dual interfaces (vtable and dispatch views), "
        f"{len(library.coclasses)} coclasses, every help string present"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
