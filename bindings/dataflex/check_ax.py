#!/usr/bin/env python3
"""Proves bindings/dataflex/DpopAx.pkg against src/com/dpop.idl, the calls of the DataFlex
programs over it (ClientCredentialsCom.src, SignInCom.src) against DpopAx.pkg, and
ClientCredentialsCom.src against the reference sample, since neither DataFlex nor the COM server
runs here.

    check_ax.py [--idl src/com/dpop.idl] [--pkg DpopAx.pkg] [--port ClientCredentialsCom.src]
                [--source SignInCom.src ...] [--reference FILE]

DpopAx.pkg has the shape of the DataFlex Studio's COM import: a `cComI<interface>` Mixin per
interface whose members call the dispatch driver by DISPID, and a `cComAutomationObject`
subclass per coclass that mixes it in and sets psProgID to the CLSID. Checks:
- every member of every interface of the IDL has its wrapper in cComI<interface>: a method a
  Function (with [out, retval]) or a Procedure (without), a propget a Function and a propput a
  Procedure Set, both marked { MethodType=Property }; each named Com<member>; no wrapper
  without a member;
- each wrapper calls its member's DISPID the right way (InvokeComMethod for a method,
  ComProperty for a property), declares as many parameters as the member has [in] parameters,
  named ll<name> in the IDL's order and of the DataFlex type that fits (TYPES), passes each of
  them with PrepareParams/DefineParam and the VARIANT type that fits, and returns the retval's
  DataFlex type with its VARIANT type;
- every coclass has its class cComDpop<coclass> (`is a cComAutomationObject`,
  `Import_Class_Protocol cComI<default interface>`), whose Construct_Object sets psProgID to
  the coclass's uuid as "{...}"; no class is left over; no cComChilkat* name is used;
- in every COM source (COM_SOURCES: the port, --port, and SignInCom.src, or instead of it the
  files given with --source), every message sent to an object made with
  `Get Create (RefClass(<class>)) To <variable>` exists in that class (its own or its mixin's:
  a Get a Function, a Set a Procedure Set, a Send a Procedure; or one of INHERITED), with that
  many arguments; statements behind `If (...)` or `Else` and calls `Member(object, ...)` in
  expressions count too; a Com member sent to a variable no such Create made, and a class
  DpopAx.pkg lacks, are reported. Every URL in the code's strings is on the local test server
  (http://127.0.0.1:8089/..., or its origin as the issuer), except a loopback redirect_uri
  value (http://127.0.0.1:<port>/...);
- ClientCredentialsCom.src is the reference sample's code (its `Use` line and Procedure Test,
  comments and blank lines not compared) line for line, with only these changes: Chilkat's
  class names to the DpopAx.pkg ones, Chilkat's package to DpopAx.pkg, file paths to other
  paths and endpoints to the local test server (http://127.0.0.1:8089/...); a `Send Test`
  after the procedure is allowed; no Chilkat name is left. The comparison needs the reference
  file (--reference, $DPOP_REFERENCE_SAMPLE, or REFERENCE below); without it, that one check
  is skipped and the output says so.

Prints one line per problem and exits 1 when there is any.
"""

import argparse
import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from dataflex_source import calls, split_items  # noqa: E402  (bindings/dataflex/dataflex_source.py)

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
IDL = os.path.join(ROOT, "src", "com", "dpop.idl")
PKG = os.path.join(HERE, "DpopAx.pkg")
PORT = os.path.join(HERE, "ClientCredentialsCom.src")
SIGN_IN = os.path.join(HERE, "SignInCom.src")
# The programs over DpopAx.pkg besides the port; each one's calls and endpoints are checked as
# the port's are. COM_SOURCES: all of them.
OTHER_SOURCES = (SIGN_IN,)
COM_SOURCES = (PORT, *OTHER_SOURCES)
REFERENCE = "/work/shared/reference/chilkat-dpop-client-credentials-dataflex.txt"

# An IDL type (of an [in] parameter, or what an [out, retval] pointer points to) and the
# DataFlex type and VARIANT type the COM import gives it.
TYPES = {
    "BSTR": ("String", "OLE_VT_BSTR"),
    "long": ("Integer", "OLE_VT_I4"),
    "VARIANT_BOOL": ("Boolean", "OLE_VT_BOOL"),
    "VARIANT": ("Variant", "OLE_VT_VARIANT"),
    "IDispatch*": ("Variant", "OLE_VT_DISPATCH"),
}
VOID = "OLE_VT_VOID"
LOCAL_SERVER = "http://127.0.0.1:8089/"


class IdlError(ValueError):
    """The IDL cannot be read as expected."""


# ---------------------------------------------------------------------------------------------
# Reading the IDL
# ---------------------------------------------------------------------------------------------


@dataclass
class Param:
    name: str
    type: str  # normalised: "BSTR", "BSTR*", "IDispatch**"
    attrs: Tuple[str, ...]  # "in", "out", "retval"


@dataclass
class Member:
    name: str
    dispid: int
    kind: str  # "method", "propget", "propput", "propputref"
    params: List[Param]  # the [in] parameters, in order
    retval: Optional[Param]
    line: int

    def where(self):
        return f"dpop.idl:{self.line}"


@dataclass
class Interface:
    name: str
    uuid: str
    members: List[Member]
    line: int


@dataclass
class Coclass:
    name: str
    uuid: str
    default: str
    line: int


@dataclass
class Library:
    name: str
    interfaces: Dict[str, Interface]
    coclasses: List[Coclass]


_IDL_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z0-9_][\w.\-]*|\S')


def _idl_tokens(text):
    """(token, line) pairs, comments removed."""
    out, line, i = [], 1, 0
    while i < len(text):
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
            line += text.count("\n", i, end)
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text[i] == "\n":
            line += 1
            i += 1
        elif text[i].isspace():
            i += 1
        else:
            match = _IDL_TOKEN.match(text, i)
            out.append((match.group(0), line))
            line += match.group(0).count("\n")
            i = match.end()
    return out


class _IdlParser:
    def __init__(self, text):
        self.tokens = _idl_tokens(text)
        self.pos = 0

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index][0] if index < len(self.tokens) else None

    def line(self):
        return self.tokens[min(self.pos, len(self.tokens) - 1)][1] if self.tokens else 0

    def take(self, expected=None):
        if self.pos >= len(self.tokens):
            raise IdlError(f"dpop.idl: unexpected end, expected {expected or 'more'}")
        token, line = self.tokens[self.pos]
        if expected is not None and token != expected:
            raise IdlError(f"dpop.idl:{line}: expected '{expected}', found '{token}'")
        self.pos += 1
        return token

    def attributes(self):
        """[name, name(arg, ...), ...] -> {name: [args]}; {} when there is no '['."""
        attrs = {}
        if self.peek() != "[":
            return attrs
        self.take("[")
        while self.peek() != "]":
            name = self.take()
            args = []
            if self.peek() == "(":
                self.take("(")
                depth, current = 1, []
                while True:
                    token = self.take()
                    if token == "(":
                        depth += 1
                    elif token == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    if token == "," and depth == 1:
                        args.append(" ".join(current))
                        current = []
                    else:
                        current.append(token[1:-1] if token.startswith('"') else token)
                args.append(" ".join(current))
            attrs[name] = args
            if self.peek() == ",":
                self.take(",")
        self.take("]")
        return attrs

    def library(self):
        interfaces, coclasses, name = {}, [], None
        while self.peek() is not None:
            if self.peek() == "import":
                self.take()
                self.take()
                self.take(";")
                continue
            attrs = self.attributes()
            keyword = self.take()
            if keyword != "library":
                raise IdlError(f"dpop.idl:{self.line()}: expected 'library', found '{keyword}'")
            name = self.take()
            self.take("{")
            while self.peek() != "}":
                if self.peek() == "importlib":
                    self.take()
                    self.take("(")
                    self.take()
                    self.take(")")
                    self.take(";")
                    continue
                attrs = self.attributes()
                line = self.line()
                keyword = self.take()
                if keyword == "interface":
                    iface = self.interface(attrs, line)
                    interfaces[iface.name] = iface
                elif keyword == "coclass":
                    coclasses.append(self.coclass(attrs, line))
                else:
                    raise IdlError(f"dpop.idl:{line}: the checker does not read '{keyword}' blocks")
            self.take("}")
            if self.peek() == ";":
                self.take(";")
        if name is None:
            raise IdlError("dpop.idl: no library block")
        return Library(name, interfaces, coclasses)

    def interface(self, attrs, line):
        name = self.take()
        if self.peek() == ":":
            self.take(":")
            self.take()
        self.take("{")
        members = []
        while self.peek() != "}":
            members.append(self.member())
        self.take("}")
        self.take(";")
        return Interface(name, _uuid(attrs, name, line), members, line)

    def member(self):
        attrs = self.attributes()
        line = self.line()
        ret = self.take()
        name = self.take()
        if ret != "HRESULT":
            raise IdlError(f"dpop.idl:{line}: {name} returns {ret}; the checker expects HRESULT")
        if "id" not in attrs:
            raise IdlError(f"dpop.idl:{line}: {name} has no id(...)")
        kinds = [k for k in ("propget", "propput", "propputref") if k in attrs]
        self.take("(")
        params = []
        if self.peek() == "void" and self.peek(1) == ")":
            self.take()
        while self.peek() != ")":
            p_attrs = tuple(self.attributes())
            words = []
            while self.peek() not in (",", ")"):
                words.append(self.take())
            if len(words) < 2:
                raise IdlError(f"dpop.idl:{line}: {name}: a parameter lacks its type or name")
            params.append(Param(words[-1], "".join(words[:-1]), p_attrs or ("in",)))
            if self.peek() == ",":
                self.take(",")
        self.take(")")
        self.take(";")
        retvals = [p for p in params if "retval" in p.attrs]
        ins = [p for p in params if "out" not in p.attrs]
        if len(retvals) + len(ins) != len(params) or len(retvals) > 1:
            raise IdlError(f"dpop.idl:{line}: {name}: only [in] parameters and one [out, retval] are supported")
        return Member(name, int(attrs["id"][0], 0), kinds[0] if kinds else "method", ins, retvals[0] if retvals else None, line)

    def coclass(self, attrs, line):
        name = self.take()
        self.take("{")
        default, first = None, None
        while self.peek() != "}":
            i_attrs = self.attributes()
            self.take("interface")
            iface = self.take()
            self.take(";")
            first = first or iface
            if "default" in i_attrs and "source" not in i_attrs:
                default = iface
        self.take("}")
        self.take(";")
        return Coclass(name, _uuid(attrs, name, line), default or first, line)


def _uuid(attrs, name, line):
    uuid = (attrs.get("uuid") or [""])[0]
    if not re.fullmatch(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}", uuid):
        raise IdlError(f"dpop.idl:{line}: {name} has no valid uuid(...)")
    return uuid


def read_idl(path=IDL):
    with open(path, encoding="utf-8") as f:
        return _IdlParser(f.read()).library()


def check_idl(library):
    """What the IDL itself must satisfy for the wrappers to be unambiguous."""
    problems = []
    for iface in library.interfaces.values():
        by_id: Dict[int, List[Member]] = {}
        for m in iface.members:
            by_id.setdefault(m.dispid, []).append(m)
            types = [p.type for p in m.params] + ([m.retval.type[:-1]] if m.retval else [])
            for t in types:
                if t not in TYPES:
                    problems.append(f"{m.where()}: {iface.name}.{m.name}: the checker has no VARIANT type for '{t}': add it to TYPES")
        for dispid, members in by_id.items():
            kinds = sorted(m.kind for m in members)
            names = {m.name for m in members}
            if len(members) > 1 and not (len(names) == 1 and kinds == ["propget", "propput"]):
                problems.append(
                    f"{members[1].where()}: {iface.name}: DISPID {dispid} is used by "
                    + ", ".join(f"{m.kind} {m.name}" for m in members)
                )
    for co in library.coclasses:
        if co.default not in library.interfaces:
            problems.append(f"dpop.idl:{co.line}: coclass {co.name}: its interface {co.default} is not defined")
    return problems


# ---------------------------------------------------------------------------------------------
# Reading DataFlex
# ---------------------------------------------------------------------------------------------


def strip_comment(line):
    """The line without its // comment (a // inside a string literal is kept)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif line.startswith("//", i):
            return line[:i]
    return line


@dataclass
class Statement:
    text: str  # one logical line: comment removed, ';' continuations joined, spaces collapsed
    line: int


def read_statements(text):
    """Statements, and meta tags ({ ... } lines) as statements of their own."""
    statements, pending, start = [], [], 0
    for number, raw in enumerate(text.split("\n"), 1):
        part = strip_comment(raw).strip()
        if not pending:
            start = number
        if part.endswith(";"):
            pending.append(part[:-1])
            continue
        pending.append(part)
        joined = " ".join(" ".join(pending).split())
        pending = []
        if joined:
            statements.append(Statement(joined, start))
    return statements


@dataclass
class Wrapper:
    """A Function, Procedure or Procedure Set of a DpopAx.pkg class."""

    kind: str  # "function", "procedure", "set"
    name: str
    params: List[Tuple[str, str]]  # (DataFlex type, name)
    returns: Optional[str]
    meta: str  # the { ... } tags before it
    body: List[Statement]
    line: int


@dataclass
class AxClass:
    name: str
    superclass: str
    line: int
    protocols: List[str] = field(default_factory=list)
    wrappers: List[Wrapper] = field(default_factory=list)


@dataclass
class AxPackage:
    classes: Dict[str, AxClass]
    uses: List[str]
    problems: List[str]
    text: str


_CLASS = re.compile(r"^Class\s+(\w+)\s+is\s+an?\s+(\w+)$", re.I)
_FUNCTION = re.compile(r"^Function\s+(\w+)((?:\s+\w+\s+\w+)*)\s+Returns\s+(\w+)$", re.I)
_PROCEDURE = re.compile(r"^Procedure\s+(Set\s+)?(\w+)((?:\s+\w+\s+\w+)*)$", re.I)


def _pairs(text):
    words = text.split()
    return [(words[i], words[i + 1]) for i in range(0, len(words), 2)]


def read_package(path=PKG):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    classes, uses, problems = {}, [], []
    cls, member, meta = None, None, ""
    for st in read_statements(text):
        t = st.text
        where = f"DpopAx.pkg:{st.line}"
        if member is not None:
            if re.fullmatch(r"End_(Function|Procedure)", t, re.I):
                cls.wrappers.append(member)
                member = None
            else:
                member.body.append(st)
            continue
        if re.fullmatch(r"\{.*\}", t):
            meta += " " + t
            continue
        if cls is None:
            match = _CLASS.match(t)
            if match:
                cls = AxClass(match.group(1), match.group(2), st.line)
                if cls.name.lower() in (c.lower() for c in classes):
                    problems.append(f"{where}: class {cls.name} is defined twice")
                classes[cls.name] = cls
            elif re.match(r"^Use\s+", t, re.I):
                uses.append(t.split()[1])
            else:
                problems.append(f"{where}: '{t}' outside a class")
            meta = ""
            continue
        if re.fullmatch(r"End_Class", t, re.I):
            cls, meta = None, ""
            continue
        match = re.fullmatch(r"Import_Class_Protocol\s+(\w+)", t, re.I)
        if match:
            cls.protocols.append(match.group(1))
            continue
        match = _FUNCTION.match(t)
        if match:
            member = Wrapper("function", match.group(1), _pairs(match.group(2)), match.group(3), meta, [], st.line)
            meta = ""
            continue
        match = _PROCEDURE.match(t)
        if match:
            kind = "set" if match.group(1) else "procedure"
            member = Wrapper(kind, match.group(2), _pairs(match.group(3)), None, meta, [], st.line)
            meta = ""
            continue
        problems.append(f"{where}: '{t}' is neither a member nor Import_Class_Protocol")
    if member is not None or cls is not None:
        problems.append("DpopAx.pkg: the file ends inside a class or member")
    return AxPackage(classes, uses, problems, text)


# ---------------------------------------------------------------------------------------------
# Checking DpopAx.pkg
# ---------------------------------------------------------------------------------------------


def interface_class(iface_name):
    """The wrapper class of an interface: cCom<interface> (IDpopHttp -> cComIDpopHttp)."""
    return f"cCom{iface_name}"


def coclass_class(coclass_name):
    """The wrapper class of a coclass: cComDpop<name> (cCom<name> once the name has Dpop)."""
    return "cCom" + (coclass_name if coclass_name.startswith("Dpop") else "Dpop" + coclass_name)


@dataclass
class Expected:
    kind: str  # "function", "procedure", "set"
    name: str
    params: List[Tuple[str, str, str]]  # (DataFlex type, name, VARIANT type)
    returns: Optional[Tuple[str, str]]  # (DataFlex type, VARIANT type)
    call: str  # "method", "propget", "propput"
    member: Member

    def title(self):
        head = {"function": "Function", "procedure": "Procedure", "set": "Procedure Set"}[self.kind]
        return f"{head} {self.name}"


def expected_wrapper(member):
    def fit(t):
        return TYPES.get(t, ("?", "?"))

    if member.kind == "propget":
        return Expected("function", "Com" + member.name, [], fit(member.retval.type[:-1]), "propget", member)
    if member.kind in ("propput", "propputref"):
        value = member.params[-1] if member.params else Param("value", "?", ("in",))
        df, vt = fit(value.type)
        return Expected("set", "Com" + member.name, [(df, "value", vt)], None, "propput", member)
    params = [(fit(p.type)[0], "ll" + p.name, fit(p.type)[1]) for p in member.params]
    if member.retval:
        return Expected("function", "Com" + member.name, params, fit(member.retval.type[:-1]), "method", member)
    return Expected("procedure", "Com" + member.name, params, None, "method", member)


_DRIVER = "hDispatchDriver"
_BODY = [
    ("handle", re.compile(r"^Handle\s+hDispatchDriver$", re.I)),
    ("return", re.compile(r"^Function_Return\s+retVal$", re.I)),
    ("retval_decl", re.compile(r"^(\w+)\s+retVal$", re.I)),
    ("driver", re.compile(r"^Get\s+phDispatchDriver\s+to\s+hDispatchDriver$", re.I)),
    ("prepare", re.compile(r"^Send\s+PrepareParams\s+to\s+hDispatchDriver\s+(\S+)$", re.I)),
    ("define", re.compile(r"^Send\s+DefineParam\s+to\s+hDispatchDriver\s+(\w+)\s+(\w+)$", re.I)),
    ("get_method", re.compile(r"^Get\s+InvokeComMethod\s+of\s+hDispatchDriver\s+(\S+)\s+(\w+)\s+to\s+retVal$", re.I)),
    ("send_method", re.compile(r"^Send\s+InvokeComMethod\s+to\s+hDispatchDriver\s+(\S+)\s+(\w+)$", re.I)),
    ("get_property", re.compile(r"^Get\s+ComProperty\s+of\s+hDispatchDriver\s+(\S+)\s+(\w+)\s+to\s+retVal$", re.I)),
    ("set_property", re.compile(r"^Set\s+ComProperty\s+of\s+hDispatchDriver\s+(\S+)\s+(\w+)\s+to\s+(\w+)$", re.I)),
]
_CALLS = {"get_method": "method", "send_method": "method", "get_property": "propget", "set_property": "propput"}
_CALL_TEXT = {
    "method": "InvokeComMethod",
    "propget": "Get ComProperty",
    "propput": "Set ComProperty",
}


def _read_body(wrapper):
    """The body's statements by role, and the statements that have none."""
    found: Dict[str, list] = {}
    strange = []
    for st in wrapper.body:
        for role, pattern in _BODY:
            match = pattern.match(st.text)
            if match:
                found.setdefault(role, []).append((match.groups(), st.line))
                break
        else:
            strange.append(st)
    return found, strange


def check_wrapper(cls_name, wrapper, exp):
    """The problems of one wrapper against what its IDL member needs."""
    where = f"DpopAx.pkg:{wrapper.line}: {cls_name}.{wrapper.name}"
    member = exp.member
    idl = f"{member.where()} {member.name} (id {member.dispid})"
    problems = []
    found, strange = _read_body(wrapper)
    for st in strange:
        problems.append(f"DpopAx.pkg:{st.line}: {cls_name}.{wrapper.name}: unexpected statement '{st.text}'")

    is_property = bool(re.search(r"MethodType\s*=\s*Property\b", wrapper.meta, re.I))
    if exp.call != "method" and not is_property:
        problems.append(f"{where}: a property wrapper needs {{ MethodType=Property }} before it")
    if exp.call == "method" and is_property:
        problems.append(f"{where}: a method is marked {{ MethodType=Property }}")

    # Parameters: count, names (the IDL's order), DataFlex types.
    if len(wrapper.params) != len(exp.params):
        problems.append(
            f"{where} declares {len(wrapper.params)} parameters, {idl} has {len(exp.params)}"
            + (": " + ", ".join(f"{p.type} {p.name}" for p in member.params) if member.params else "")
        )
    for index, ((df_type, df_name), (want_type, want_name, _)) in enumerate(zip(wrapper.params, exp.params), 1):
        if df_name.lower() != want_name.lower():
            problems.append(f"{where}: parameter {index} is '{df_name}', {idl} has '{want_name}' there (wrong order?)")
        if df_type.lower() != want_type.lower():
            problems.append(f"{where}: parameter {index} ({df_name}) is {df_type}, {idl} needs {want_type}")
    if exp.returns and (wrapper.returns or "").lower() != exp.returns[0].lower():
        problems.append(f"{where} returns {wrapper.returns}, {idl} needs {exp.returns[0]}")

    # The dispatch driver.
    if "handle" not in found or "driver" not in found:
        problems.append(f"{where}: no 'Handle hDispatchDriver' and 'Get phDispatchDriver to hDispatchDriver'")
    if exp.kind == "function":
        decl = found.get("retval_decl")
        if not decl or decl[0][0][0].lower() != exp.returns[0].lower():
            problems.append(f"{where}: no '{exp.returns[0]} retVal'")
        if "return" not in found:
            problems.append(f"{where}: no 'Function_Return retVal'")

    # Parameters passed: PrepareParams N, then N DefineParam in order, each with its VT.
    defines = found.get("define", [])
    if exp.call == "method":
        prepare = found.get("prepare")
        want = len(exp.params)
        if want and not prepare:
            problems.append(f"{where}: no 'Send PrepareParams to hDispatchDriver {want}'")
        if prepare:
            count = prepare[0][0][0]
            if count != str(want):
                problems.append(f"{where}: PrepareParams {count}, {idl} has {want} parameters")
        if len(defines) != want:
            problems.append(f"{where}: {len(defines)} DefineParam, {idl} has {want} parameters")
        for index, ((vt, var), line) in enumerate(defines, 1):
            if index > len(exp.params):
                break
            want_type, want_name, want_vt = exp.params[index - 1]
            declared = wrapper.params[index - 1][1] if index <= len(wrapper.params) else None
            if declared is None or var.lower() != declared.lower():
                problems.append(f"DpopAx.pkg:{line}: {cls_name}.{wrapper.name}: DefineParam {index} passes '{var}', not parameter {index} ({declared})")
            if vt.upper() != want_vt:
                p = member.params[index - 1]
                problems.append(
                    f"DpopAx.pkg:{line}: {cls_name}.{wrapper.name}: parameter {index} ({var}) is passed as {vt}, "
                    f"{idl}'s '{p.type} {p.name}' needs {want_vt}"
                )
    elif defines or found.get("prepare"):
        problems.append(f"{where}: a property passes its value with {_CALL_TEXT[exp.call]}, not DefineParam")

    # The call: kind, DISPID, VARIANT type.
    calls = [(role, groups, line) for role in _CALLS for groups, line in found.get(role, [])]
    if len(calls) != 1:
        problems.append(f"{where}: {len(calls)} calls of the dispatch driver, expected one {_CALL_TEXT[exp.call]}")
        return problems
    role, groups, line = calls[0]
    call_where = f"DpopAx.pkg:{line}: {cls_name}.{wrapper.name}"
    if _CALLS[role] != exp.call:
        problems.append(f"{call_where}: calls {_CALL_TEXT[_CALLS[role]]}, {idl} is a {member.kind}: use {_CALL_TEXT[exp.call]}")
    if (role == "send_method") != (exp.kind == "procedure"):
        if exp.call == "method":
            problems.append(f"{call_where}: {'Send' if role == 'send_method' else 'Get'} InvokeComMethod does not fit a {exp.title()}")
    dispid = groups[0]
    if not re.fullmatch(r"-?\d+", dispid):
        # DataFlex has no 0x literals; the import writes DISPIDs in decimal.
        problems.append(f"{call_where}: DISPID '{dispid}' is not a decimal number; {idl} has id({member.dispid})")
    elif int(dispid) != member.dispid:
        problems.append(f"{call_where}: DISPID {dispid}, {idl} has id({member.dispid})")
    vt = groups[1].upper()
    if exp.call == "propput":
        want_vt = exp.params[0][2]
        if len(groups) > 2 and groups[2].lower() != "value":
            problems.append(f"{call_where}: sets the property to '{groups[2]}', not to the parameter value")
        what = f"the value ({member.params[-1].type})" if member.params else "the value"
    elif exp.returns:
        want_vt = exp.returns[1]
        what = f"the result ({member.retval.type[:-1]})"
    else:
        want_vt = VOID
        what = "a member without [out, retval]"
    if vt != want_vt:
        problems.append(f"{call_where}: {vt} for {what}, {idl} needs {want_vt}")
    return problems


def check_package(library, package):
    problems = list(package.problems)
    if not any(u.lower() == "flexcom20.pkg" for u in package.uses):
        problems.append("DpopAx.pkg: no 'Use FlexCom20.pkg' (cComAutomationObject and the dispatch driver)")
    for number, line in enumerate(package.text.split("\n"), 1):
        if re.search(r"cComChilkat|cComIChilkat", strip_comment(line), re.I):
            problems.append(f"DpopAx.pkg:{number}: a cComChilkat name would clash with a Chilkat import: '{line.strip()}'")
    expected_classes = {}

    for iface in library.interfaces.values():
        name = interface_class(iface.name)
        expected_classes[name.lower()] = name
        cls = package.classes.get(name)
        if cls is None:
            problems.append(f"dpop.idl:{iface.line}: interface {iface.name} has no class {name} in DpopAx.pkg")
            continue
        if cls.superclass.lower() != "mixin":
            problems.append(f"DpopAx.pkg:{cls.line}: {name} is a {cls.superclass}, the COM import makes it a Mixin")
        wanted = {}
        for member in iface.members:
            exp = expected_wrapper(member)
            wanted[(exp.kind, exp.name.lower())] = exp
        seen = set()
        for wrapper in cls.wrappers:
            key = (wrapper.kind, wrapper.name.lower())
            exp = wanted.get(key)
            if exp is None:
                others = [e for (k, n), e in wanted.items() if n == wrapper.name.lower()]
                if others:
                    problems.append(
                        f"DpopAx.pkg:{wrapper.line}: {name}.{wrapper.name} is a {wrapper.kind}; "
                        f"{others[0].member.where()} {others[0].member.name} needs a {others[0].title()}"
                    )
                else:
                    problems.append(f"DpopAx.pkg:{wrapper.line}: {name}.{wrapper.name} is not a member of {iface.name} in dpop.idl")
                continue
            if key in seen:
                problems.append(f"DpopAx.pkg:{wrapper.line}: {name}.{wrapper.name} is defined twice")
                continue
            seen.add(key)
            problems += check_wrapper(name, wrapper, exp)
        for key, exp in wanted.items():
            if key not in seen:
                problems.append(
                    f"{exp.member.where()}: {iface.name}.{exp.member.name} ({exp.member.kind}, id {exp.member.dispid}) "
                    f"has no {exp.title()} in {name}"
                )

    for co in library.coclasses:
        name = coclass_class(co.name)
        expected_classes[name.lower()] = name
        cls = package.classes.get(name)
        if cls is None:
            problems.append(f"dpop.idl:{co.line}: coclass {co.name} has no class {name} in DpopAx.pkg")
            continue
        where = f"DpopAx.pkg:{cls.line}: {name}"
        if cls.superclass.lower() != "ccomautomationobject":
            problems.append(f"{where} is a {cls.superclass}, not a cComAutomationObject")
        mixin = interface_class(co.default)
        if [p.lower() for p in cls.protocols] != [mixin.lower()]:
            problems.append(f"{where}: Import_Class_Protocol {', '.join(cls.protocols) or '(none)'}, coclass {co.name} needs {mixin}")
        construct = [w for w in cls.wrappers if w.kind == "procedure" and w.name.lower() == "construct_object"]
        others = [w for w in cls.wrappers if w not in construct]
        for w in others:
            problems.append(f"DpopAx.pkg:{w.line}: {name}.{w.name}: the coclass class holds only Construct_Object")
        if not construct:
            problems.append(f"{where}: no Procedure Construct_Object setting psProgID")
            continue
        body = [st.text for st in construct[0].body]
        if not any(re.fullmatch(r"Forward\s+Send\s+Construct_Object", t, re.I) for t in body):
            problems.append(f"{where}: Construct_Object does not Forward Send Construct_Object")
        progids = [re.fullmatch(r'Set\s+psProgID\s+to\s+"([^"]*)"', t, re.I) for t in body]
        progids = [m.group(1) for m in progids if m]
        want = "{" + co.uuid + "}"
        if len(progids) != 1:
            problems.append(f"{where}: Construct_Object sets psProgID {len(progids)} times, expected once to \"{want.upper()}\"")
        elif progids[0].lower() != want.lower():
            problems.append(f"{where}: psProgID is \"{progids[0]}\", dpop.idl:{co.line} coclass {co.name} has uuid {want.upper()}")

    for cls in package.classes.values():
        if cls.name.lower() not in expected_classes:
            problems.append(f"DpopAx.pkg:{cls.line}: class {cls.name} is neither an interface nor a coclass of dpop.idl")
    return problems


# ---------------------------------------------------------------------------------------------
# Checking the port of the reference sample
# ---------------------------------------------------------------------------------------------


def code_lines(lines, first_number=1):
    """(line number, code) of the lines that hold code: comments and trailing spaces removed."""
    out = []
    for number, raw in enumerate(lines, first_number):
        code = strip_comment(raw).rstrip()
        if code.strip():
            out.append((number, code))
    return out


def reference_code(text):
    """The reference sample's code: the Use lines just before `Procedure Test`, and the
    procedure up to its End_Procedure. The file's prose around it is left out."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip() == "Procedure Test"]
    if not starts:
        raise ValueError("the reference has no 'Procedure Test' line")
    start = starts[0]
    end = next((i for i in range(start, len(lines)) if lines[i].strip() == "End_Procedure"), None)
    if end is None:
        raise ValueError("the reference's Procedure Test has no End_Procedure")
    first = start
    while first > 0 and (not lines[first - 1].strip() or re.match(r"^\s*Use\s+\S+\s*$", lines[first - 1])):
        first -= 1
    return code_lines(lines[first : end + 1], first + 1)


_LITERAL = re.compile(r'"[^"]*"|\'[^\']*\'')


def _shape(line):
    """The line with its string literals emptied: what must not change."""
    return _LITERAL.sub('""', line)


def _literals(line):
    return [s[1:-1] for s in _LITERAL.findall(line)]


def _as_port(reference_line):
    """The reference line with the renames the port is allowed: Chilkat's classes and package."""
    line = re.sub(r"\bcComChilkat(\w+)", r"cComDpop\1", reference_line)
    return re.sub(r"^(\s*)Use\s+ChilkatAx[\w.\-]*\.pkg\s*$", r"\1Use DpopAx.pkg", line, flags=re.I)


def _is_url(s):
    return re.match(r"^https?://", s, re.I) is not None


def _is_path(s):
    """A file name or path: with a directory part or an extension."""
    return not _is_url(s) and bool(re.search(r"[/\\]|\.\w{1,8}$", s))


def _is_reference_path(s):
    """A path of the reference sample: these have a directory part, which tells them from
    values such as a client_id with a dot in it."""
    return not _is_url(s) and bool(re.search(r"[/\\]", s))


def compare_port(reference, port):
    """Problems where the port's code lines differ from the reference's by more than class
    names, the package, paths and endpoints. Both are lists of (line number, code)."""
    problems = []
    port = list(port)
    if port and port[-1][1].strip().lower() == "send test":
        port = port[:-1]  # the program's entry point; the reference shows only the procedure
    want = [_shape(_as_port(code)) for _, code in reference]
    have = [_shape(code) for _, code in port]
    matcher = difflib.SequenceMatcher(a=want, b=have, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            for (ref_no, ref_code), (port_no, port_code) in zip(reference[a0:a1], port[b0:b1]):
                problems += _compare_literals(ref_no, ref_code, port_no, port_code)
            continue
        for ref_no, ref_code in reference[a0:a1]:
            problems.append(f"reference:{ref_no}: '{ref_code.strip()}' is not in the port (as it is, or with only names, paths and endpoints changed)")
        for port_no, port_code in port[b0:b1]:
            problems.append(f"ClientCredentialsCom.src:{port_no}: '{port_code.strip()}' is not a line of the reference sample with only names, paths and endpoints changed")
    return problems


def _compare_literals(ref_no, ref_code, port_no, port_code):
    problems = []
    for old, new in zip(_literals(ref_code), _literals(port_code)):
        if old == new:
            continue
        where = f"ClientCredentialsCom.src:{port_no}"
        if _is_url(old):
            if not new.startswith(LOCAL_SERVER):
                problems.append(f"{where}: the endpoint \"{new}\" (reference:{ref_no} \"{old}\") is not on the local test server {LOCAL_SERVER}")
        elif _is_reference_path(old):
            if not _is_path(new):
                problems.append(f"{where}: \"{new}\" replaces the path \"{old}\" (reference:{ref_no}) but is not a path")
        else:
            problems.append(f"{where}: \"{old}\" (reference:{ref_no}) became \"{new}\": neither a path nor an endpoint")
    return problems


def check_port(package, port_path=PORT, reference_path=None):
    """(problems, skipped): what only the port must satisfy (no Chilkat name left, the
    reference's code line for line), and the checks skipped, with the reason. Its calls and
    endpoints are checked with the other COM sources."""
    reference_path = reference_path or os.environ.get("DPOP_REFERENCE_SAMPLE") or REFERENCE
    with open(port_path, encoding="utf-8") as f:
        port_text = f.read()
    problems, skipped = [], []
    name = os.path.basename(port_path)
    for number, line in enumerate(port_text.split("\n"), 1):
        if re.search(r"cComChilkat|ChilkatAx", strip_comment(line), re.I):
            problems.append(f"{name}:{number}: a Chilkat name is left: '{line.strip()}'")
    if not os.path.isfile(reference_path):
        skipped.append(f"the port was not compared with the reference sample: {reference_path} does not exist")
        return problems, skipped
    with open(reference_path, encoding="utf-8") as f:
        reference = reference_code(f.read())
    problems += compare_port(reference, code_lines(port_text.split("\n")))
    return problems, skipped


# ---------------------------------------------------------------------------------------------
# Checking every program over DpopAx.pkg (COM_SOURCES): its calls and its endpoints
# ---------------------------------------------------------------------------------------------


_CREATE = re.compile(r"^Get\s+Create\s+\(RefClass\((\w+)\)\)\s+To\s+(\w+)$", re.I)
_MESSAGE = re.compile(r"^(Get|Set|Send)\s+(\w+)\s+(?:Of|to)\s+(\w+)(.*)$", re.I)
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
# Messages every cComAutomationObject understands besides its Com members (FlexCOM's and
# cObject's), with their argument counts.
INHERITED = {"createcomobject": 0, "releasecomobject": 0, "pvcomobject": 0, "iscomobjectcreated": 0, "destroy": 0}


@dataclass
class ComCall:
    """A message a program sends to an object of a DpopAx.pkg class."""

    line: int
    cls: str  # the class the object was created from
    name: str  # the member as the program spells it
    args: int  # the arguments passed (for Get and Set, without the 'To ...')


def _guarded(text):
    """The statement an `If <condition>` or `Else` prefix guards, or the statement itself:
    `If (iSuccess = False) Get ComLastErrorText Of hoKey To sText` sends ComLastErrorText."""
    while True:
        match = re.match(r"^Else\s+(.+)$", text, re.I)
        if match:
            text = match.group(1)
            continue
        match = re.match(r"^If\s+(.+)$", text, re.I)
        if not match:
            return text
        items = split_items(match.group(1))  # the condition: a word or one (...) group
        text = " ".join(items[1:])


def _sent(text):
    """(verb, member, object, arguments) of the messages in one statement: the Get, Set or
    Send it is (behind any If/Else), and every call `Member(object, ...)` in its expressions,
    taken as a Get. Arguments is None when a Get or Set lacks its 'To ...'."""
    found = []
    match = _MESSAGE.match(_guarded(text))
    if match:
        verb, name, obj, rest = match.group(1).lower(), match.group(2), match.group(3), match.group(4)
        args = split_items(rest)
        if verb in ("get", "set"):
            args = args[:-2] if len(args) >= 2 and args[-2].lower() == "to" else None
        found.append((verb, name, obj, args))
    for name, args in calls(text):
        if args and _IDENTIFIER.match(args[0].strip()):
            found.append(("get", name, args[0].strip(), args[1:]))
    return found


def read_com_calls(name, text, package):
    """(calls, problems) of the program `text` (named `name` in the messages): the messages it
    sends to objects made with `Get Create (RefClass(<DpopAx.pkg class>)) To <variable>`, and
    every one that does not fit: a member the object's class does not have (a Get needs a
    Function, a Set a Procedure Set, a Send a Procedure), another number of arguments than the
    wrapper declares, a Com member sent to a variable no such Create made, a class DpopAx.pkg
    does not define."""
    found, problems, objects = [], [], {}
    for st in read_statements(text):
        where = f"{name}:{st.line}"
        match = _CREATE.match(st.text)
        if match:
            cls_name, var = match.groups()
            if cls_name not in package.classes:
                problems.append(f"{where}: {cls_name} is not a class of DpopAx.pkg")
            objects[var.lower()] = cls_name
            continue
        for verb, member, obj, args in _sent(st.text):
            what = f"{verb.capitalize()} {member}"
            if obj.lower() not in objects:
                if member.lower().startswith("com"):
                    problems.append(f"{where}: {what} goes to {obj}, which no 'Get Create (RefClass(...))' of a DpopAx.pkg class made")
                continue
            cls = package.classes.get(objects[obj.lower()])
            if cls is None:
                continue  # reported at its Create
            if args is None:
                problems.append(f"{where}: {what}: no 'To ...' at the end")
                continue
            found.append(ComCall(st.line, cls.name, member, len(args)))
            if member.lower() in INHERITED:
                declared = INHERITED[member.lower()]
            else:
                mixins = [package.classes[p] for p in cls.protocols if p in package.classes]
                kind = {"get": "function", "set": "set", "send": "procedure"}[verb]
                fitting = [w for c in [cls, *mixins] for w in c.wrappers if w.name.lower() == member.lower() and w.kind == kind]
                if not fitting:
                    problems.append(f"{where}: {what}: {cls.name} has no {kind} {member}")
                    continue
                # A Procedure Set's last parameter is the value after 'To'.
                declared = len(fitting[0].params) - (1 if kind == "set" else 0)
            if len(args) != declared:
                problems.append(f"{where}: {member} takes {declared} arguments, {len(args)} passed")
    return found, problems


_URL = re.compile(r"https?://[^\s\"'\\]+", re.I)
# What comes before the value of redirect_uri: `"redirect_uri" "` (two arguments) or
# `"redirect_uri":"` (JSON text).
_REDIRECT_BEFORE = re.compile(r"redirect_uri[\"']?\s*:?\s*[\"']$", re.I)
_LOOPBACK_REDIRECT = re.compile(r"^http://127\.0\.0\.1:\d+/")


def check_endpoints(name, text):
    """Every URL in the string literals of the program's code is on the local test server:
    under LOCAL_SERVER, or its origin (an issuer). The one other URL allowed is the value of
    redirect_uri when it is a loopback one (http://127.0.0.1:<port>/...): the program's own
    listener, not an endpoint."""
    problems = []
    for number, line in code_lines(text.split("\n")):
        for literal in _LITERAL.finditer(line):
            for url in _URL.finditer(literal.group(0)):
                s = url.group(0)
                if s.startswith(LOCAL_SERVER) or s == LOCAL_SERVER.rstrip("/"):
                    continue
                if _LOOPBACK_REDIRECT.match(s) and _REDIRECT_BEFORE.search(line[: literal.start() + url.start()]):
                    continue
                problems.append(f"{name}:{number}: \"{s}\" is not an endpoint of the local test server {LOCAL_SERVER}")
    return problems


def check_com_source(package, path):
    """(calls, problems) of one program over DpopAx.pkg: read_com_calls and check_endpoints."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    name = os.path.basename(path)
    found, problems = read_com_calls(name, text, package)
    return found, problems + check_endpoints(name, text)


# ---------------------------------------------------------------------------------------------


def check(idl_path=IDL, pkg_path=PKG, port_path=PORT, reference_path=None, others=OTHER_SOURCES):
    """(problems, skipped) as lines of text; no problems when everything matches. The COM
    sources are the port and `others`."""
    library = read_idl(idl_path)
    package = read_package(pkg_path)
    problems = check_idl(library) + check_package(library, package)
    for path in [port_path, *others]:
        problems += check_com_source(package, path)[1]
    port_problems, skipped = check_port(package, port_path, reference_path)
    return problems + port_problems, skipped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idl", default=IDL)
    parser.add_argument("--pkg", default=PKG)
    parser.add_argument("--port", default=PORT)
    parser.add_argument(
        "--source",
        action="append",
        help=f"a COM source besides the port, instead of {', '.join(os.path.basename(s) for s in OTHER_SOURCES)}; repeatable",
    )
    parser.add_argument("--reference", default=None, help=f"the reference sample (default $DPOP_REFERENCE_SAMPLE or {REFERENCE})")
    args = parser.parse_args(argv)
    others = args.source or list(OTHER_SOURCES)
    problems, skipped = check(args.idl, args.pkg, args.port, args.reference, others)
    for problem in problems:
        print(problem)
    for note in skipped:
        print(f"check_ax: skipped: {note}")
    if problems:
        print(f"check_ax: {len(problems)} problems")
        return 1
    library = read_idl(args.idl)
    count = sum(len(i.members) for i in library.interfaces.values())
    sources = " and ".join(os.path.basename(p) for p in [args.port, *others])
    print(
        f"check_ax: {count} members of {len(library.interfaces)} interfaces and "
        f"{len(library.coclasses)} coclasses match {os.path.relpath(args.idl)}; "
        f"the calls and endpoints of {sources} fit DpopAx.pkg and the local test server"
        + ("" if skipped else "; the port matches the reference sample")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
