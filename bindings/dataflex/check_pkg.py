#!/usr/bin/env python3
"""Proves bindings/dataflex/dpop.pkg against include/dpop.h, since DataFlex cannot run here.

    check_pkg.py [--header include/dpop.h] [--pkg dpop.pkg] [SOURCE.src ...]

Checks:
- every DPOP_CALL function of the header has exactly one External_Function in dpop.dll, with
  the export name spelled as in C, the same parameters in the same order (named as in C), and
  DataFlex types that fit the C types on 32-bit and on 64-bit DataFlex (see TYPE_RULES); the
  return type likewise;
- no External_Function in dpop.dll names a function the header lacks;
- every DPOP_* constant of the header is Defined with the same value, and no other;
- every call of an external function, global function or method in the package and in the
  given sources passes as many arguments as it declares, and names something that exists (and,
  in an expression, that is defined above the call).

Prints one line per problem and exits 1 when there is any.
"""

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import dpop_header  # noqa: E402  (bindings/dpop_header.py)

DLL = "dpop.dll"
POINTERS = frozenset({"pointer", "longptr", "ulongptr"})

# What each kind of C type may be declared as. Integer, UInteger and DWord are 32 bits on
# both 32-bit and 64-bit DataFlex; Pointer, Longptr and ULongptr are pointer-sized. A String
# parameter is passed as a pointer to NUL-terminated UTF-8 (DataFlex 2021 and later), which
# fits `const char *` only: libdpop never writes through it. WString (UTF-16), Address,
# Handle, BigInt and UBigInt fit none of them on both platforms.
TYPE_RULES = {
    "handle": POINTERS,  # struct dpop_x * (const or not)
    "handle_out": POINTERS,  # struct dpop_x **
    "cstring": POINTERS | {"string"},  # const char *
    "buffer": POINTERS,  # char * (written by libdpop)
    "bytes": POINTERS,  # const uint8_t *
    "size": POINTERS,  # size_t: ULongptr is the exact fit
    "size_ptr": POINTERS,  # size_t *
    "int32": frozenset({"integer"}),  # int32_t, dpop_status
    "uint32": frozenset({"uinteger", "dword"}),  # uint32_t
    "void": frozenset({"void_type"}),  # a void return
}


def classify(ctype):
    """The kind of a normalised C type (see TYPE_RULES), or None for an unknown one."""
    simple = {
        "const char *": "cstring",
        "char *": "buffer",
        "const uint8_t *": "bytes",
        "size_t": "size",
        "size_t *": "size_ptr",
        "int32_t": "int32",
        "dpop_status": "int32",
        "uint32_t": "uint32",
        "void": "void",
    }
    if ctype in simple:
        return simple[ctype]
    match = re.fullmatch(r"(?:const )?struct dpop_\w+ (\*\*?)", ctype)
    if match:
        return "handle" if match.group(1) == "*" else "handle_out"
    return None


# ---------------------------------------------------------------------------------------------
# Reading DataFlex
# ---------------------------------------------------------------------------------------------


@dataclass
class Statement:
    """One logical DataFlex line: continuation lines (ending in ';') joined, comments and
    meta tags ({ ... }) removed."""

    text: str
    file: str
    line: int

    def where(self):
        return f"{os.path.basename(self.file)}:{self.line}"


def _strip_comment(line):
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


def read_statements(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    statements, pending, start = [], [], 0
    for number, raw in enumerate(lines, 1):
        text = _strip_comment(raw).rstrip()
        if re.fullmatch(r"\s*\{.*\}\s*", text):  # a meta tag such as { Visibility=Private }
            continue
        if not pending:
            start = number
        if text.endswith(";"):
            pending.append(text[:-1])
            continue
        pending.append(text)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            statements.append(Statement(joined, path, start))
    if pending:
        statements.append(Statement(" ".join(p.strip() for p in pending), path, start))
    return statements


_TOKEN = re.compile(r'"[^"]*"|\'[^\']*\'|\(|\)|,|[^\s(),]+')


def tokens(text):
    return _TOKEN.findall(text)


def split_items(text):
    """Space-separated arguments of a statement: words, strings and balanced (...) groups."""
    items, depth, current = [], 0, ""
    for token in tokens(text):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        current += (" " if current and depth >= 0 and not current.endswith("(") and token != ")" else "") + token
        if depth == 0:
            items.append(current)
            current = ""
    if current:
        items.append(current)
    return items


@dataclass
class ExternalFunction:
    name: str  # the DataFlex name
    export: str
    dll: str
    params: List[Tuple[str, str]]  # (DataFlex type, name)
    returns: str
    statement: Statement


@dataclass
class Method:
    """A Function, Procedure, Procedure Set or Property of a class, or a global function."""

    name: str
    kind: str  # "function", "procedure", "set", "property", "global"
    params: int
    cls: Optional[str]
    position: Tuple[int, int]  # (index of the file, line)


@dataclass
class Package:
    externals: List[ExternalFunction] = field(default_factory=list)
    defines: Dict[str, Tuple[str, Statement]] = field(default_factory=dict)
    methods: List[Method] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)


_EXTERNAL = re.compile(
    r"^External_Function\s+(?P<name>\w+)\s+\"(?P<export>[^\"]*)\"\s+(?P<dll>\S+)(?P<rest>.*)$", re.I
)
_DEFINE = re.compile(r"^Define\s+(?P<name>\w+)\s+for\s+(?P<value>.+)$", re.I)
_CLASS = re.compile(r"^Class\s+(\w+)\s+is\s+an?\s+\w+", re.I)
_FUNCTION = re.compile(r"^Function\s+(?P<name>\w+)(?P<global>\s+Global)?(?P<params>.*?)\s+Returns\s+\S+$", re.I)
_PROCEDURE = re.compile(r"^Procedure\s+(?P<set>Set\s+)?(?P<name>\w+)(?P<params>.*)$", re.I)
_PROPERTY = re.compile(r"^Property\s+\S+\s+(?P<name>\w+)", re.I)


def _param_count(text):
    words = [w for w in text.split() if w.lower() != "byref"]
    return len(words) // 2


def read_package(paths):
    """Reads the declarations of the package files."""
    package = Package()
    for file_index, path in enumerate(paths):
        cls = None
        for st in read_statements(path):
            position = (file_index, st.line)
            text = st.text
            if re.match(r"^End_Class\b", text, re.I):
                cls = None
                continue
            match = _CLASS.match(text)
            if match:
                cls = match.group(1)
                continue
            match = _EXTERNAL.match(text)
            if match:
                items = match.group("rest").split()
                if len(items) < 2 or items[-2].lower() != "returns":
                    package.problems.append(f"{st.where()}: {match.group('name')}: no 'Returns <type>' at the end")
                    continue
                params = items[:-2]
                if len(params) % 2:
                    package.problems.append(f"{st.where()}: {match.group('name')}: a parameter lacks its type or name")
                    continue
                package.externals.append(
                    ExternalFunction(
                        match.group("name"),
                        match.group("export"),
                        match.group("dll"),
                        [(params[i], params[i + 1]) for i in range(0, len(params), 2)],
                        items[-1],
                        st,
                    )
                )
                continue
            match = _DEFINE.match(text)
            if match:
                package.defines[match.group("name").upper()] = (match.group("value").strip(), st)
                continue
            match = _FUNCTION.match(text)
            if match:
                kind = "global" if match.group("global") else "function"
                package.methods.append(
                    Method(
                        match.group("name"),
                        kind,
                        _param_count(match.group("params")),
                        None if kind == "global" else cls,
                        position,
                    )
                )
                continue
            match = _PROCEDURE.match(text)
            if match:
                kind = "set" if match.group("set") else "procedure"
                package.methods.append(Method(match.group("name"), kind, _param_count(match.group("params")), cls, position))
                continue
            match = _PROPERTY.match(text)
            if match and cls:
                package.methods.append(Method(match.group("name"), "property", 0, cls, position))
    return package


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _resolve_dll(token, defines):
    seen = set()
    while token.upper() in defines and token.upper() not in seen:
        seen.add(token.upper())
        token = defines[token.upper()][0]
    return token.strip("\"'")


def check_declarations(package, prototypes):
    problems = []
    by_export = {}
    for ext in package.externals:
        dll = _resolve_dll(ext.dll, package.defines)
        if dll.lower() != DLL:
            if ext.export.startswith("dpop_"):
                problems.append(f"{ext.statement.where()}: {ext.export} is declared in {dll}, not {DLL}")
            continue
        if ext.export in by_export:
            problems.append(f"{ext.statement.where()}: {ext.export} is declared twice")
        by_export[ext.export] = ext
    header = {p.name: p for p in prototypes}
    for export, ext in by_export.items():
        where = ext.statement.where()
        proto = header.get(export)
        if proto is None:
            problems.append(f"{where}: \"{export}\" is not a function of include/dpop.h (misspelled export name?)")
            continue
        if len(ext.params) != len(proto.params):
            problems.append(
                f"{where}: {export} declares {len(ext.params)} parameters, include/dpop.h has {len(proto.params)}: "
                + ", ".join(f"{p.ctype} {p.name}" for p in proto.params)
            )
            continue
        for index, ((df_type, df_name), param) in enumerate(zip(ext.params, proto.params), 1):
            if df_name.lower() != param.name.lower():
                # The C names are kept so that the order is checked too, not only the types.
                problems.append(
                    f"{where}: {export}: parameter {index} is '{df_name}', include/dpop.h has "
                    f"'{param.ctype} {param.name}' there (wrong order?)"
                )
            problems += _check_type(where, export, f"parameter {index} ({df_name} for {param.ctype} {param.name})", df_type, param.ctype)
        problems += _check_type(where, export, f"return type (for {proto.ret})", ext.returns, proto.ret)
    for proto in prototypes:
        if proto.name not in by_export:
            problems.append(f"include/dpop.h:{proto.line}: {proto.name} has no External_Function in {DLL}")
    return problems


def _check_type(where, export, what, df_type, ctype):
    kind = classify(ctype)
    if kind is None:
        return [f"{where}: {export}: the checker does not know the C type '{ctype}': add it to TYPE_RULES"]
    allowed = TYPE_RULES[kind]
    if df_type.lower() not in allowed:
        fits = " or ".join(sorted(t.capitalize() if t != "ulongptr" else "ULongptr" for t in allowed))
        return [f"{where}: {export}: {what} is {df_type}, which does not fit on 32- and 64-bit DataFlex; use {fits}"]
    return []


def check_constants(package, constants):
    problems = []
    for name, value in constants.items():
        defined = package.defines.get(name)
        if defined is None:
            problems.append(f"dpop.pkg: {name} ({value}) is not Defined")
        elif defined[0] != str(value):
            problems.append(f"{defined[1].where()}: {name} is {defined[0]}, include/dpop.h says {value}")
    for name, (_, st) in package.defines.items():
        if name.startswith("DPOP_") and name not in constants and name != "DPOP_DLL_NAME":
            problems.append(f"{st.where()}: {name} is not a constant of include/dpop.h")
    return problems


# Functions of the DataFlex runtime the package and the sample use, with their argument counts.
BUILTINS = {
    "addressof": {1},
    "character": {1},
    "memcopy": {3},
    "resizearray": {2},
    "sizeofstring": {1},
    "uchararraytostring": {1, 3},
    "not": {1},
    "refclass": {1},
}
# Messages every object understands (cObject), with their argument counts.
BUILTIN_MESSAGES = {"create": {1}, "destroy": {0}, "construct_object": {0}, "destroy_object": {0}}


_STRING = re.compile(r'"[^"]*"|\'[^\']*\'')
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")


def _calls(text):
    """(name, argument count) of every call `name(...)` in an expression. A call has its '('
    right after the name; `If (`, `Move (` and the like are statements, not calls."""
    text = _STRING.sub('""', text)
    found = []
    for match in _CALL.finditer(text):
        depth, args, empty = 0, 1, True
        for t in tokens(text[match.end() - 1 :]):
            if t == "(":
                depth += 1
                if depth == 1:
                    continue
            elif t == ")":
                depth -= 1
                if depth == 0:
                    break
            elif t == "," and depth == 1:
                args += 1
                continue
            empty = False
        found.append((match.group(1), 0 if empty else args))
    return found


def check_calls(package, source_paths):
    """Every call names something that exists and passes the arguments it declares."""
    problems = []
    externals = {e.name.lower(): len(e.params) for e in package.externals}
    methods: Dict[str, Dict[Optional[str], set]] = {}
    first_defined: Dict[str, Tuple[int, int]] = {}
    for m in package.methods:
        counts = methods.setdefault(m.name.lower(), {})
        # In an expression a method gets its object first: Name(Self, args...).
        counts.setdefault(m.cls, set()).add(m.params + (0 if m.kind == "global" else 1))
        first_defined[m.name.lower()] = min(first_defined.get(m.name.lower(), m.position), m.position)
    message_counts: Dict[str, set] = {}
    for m in package.methods:
        # In Get/Send/Set statements: the arguments; a property or Procedure Set also takes
        # the value after 'to' (not counted here).
        n = 0 if m.kind == "property" else (m.params - 1 if m.kind == "set" else m.params)
        message_counts.setdefault(m.name.lower(), set()).add(n)

    for file_index, path in enumerate(source_paths):
        cls = None
        for st in read_statements(path):
            text = st.text
            if _EXTERNAL.match(text) or _DEFINE.match(text) or text.startswith("#"):
                continue
            match = _CLASS.match(text)
            if match:
                cls = match.group(1)
                continue
            if re.match(r"^End_Class\b", text, re.I):
                cls = None
                continue
            if re.match(r"^(Function|Procedure|Property)\b", text, re.I):
                continue
            for name, count in _calls(text):
                key = name.lower()
                if key in externals:
                    if count != externals[key]:
                        problems.append(f"{st.where()}: {name} takes {externals[key]} arguments, the call passes {count}")
                elif key in methods:
                    allowed = methods[key].get(cls) or set().union(*methods[key].values())
                    if count not in allowed:
                        problems.append(f"{st.where()}: {name}(...) passes {count} arguments, it takes {sorted(allowed)}")
                    if first_defined[key] > (file_index, st.line):
                        # The compiler knows a name as a function only once it has seen it.
                        problems.append(f"{st.where()}: {name}(...) is used in an expression before it is defined")
                elif key in BUILTINS:
                    if count not in BUILTINS[key]:
                        problems.append(f"{st.where()}: {name}(...) passes {count} arguments")
                elif key.startswith("dpop"):
                    problems.append(f"{st.where()}: {name} is not declared")
                else:
                    problems.append(f"{st.where()}: {name}(...) is neither declared here nor a known DataFlex function")
            problems += _check_message(st, text, message_counts)
    return problems


_MESSAGE = re.compile(r"^(?:Forward\s+)?(?P<verb>Get|Send|Set)\s+(?P<name>\w+)(?P<rest>.*)$", re.I)


def _check_message(st, text, message_counts):
    match = _MESSAGE.match(text)
    if not match:
        return []
    name, verb, rest = match.group("name"), match.group("verb").lower(), match.group("rest")
    items = split_items(rest)
    if len(items) >= 2 and items[0].lower() == "of":
        items = items[2:]
    if verb in ("get", "set"):
        if len(items) < 2 or items[-2].lower() != "to":
            return [f"{st.where()}: {verb.capitalize()} {name}: no 'to ...' at the end"]
        items = items[:-2]
    key = name.lower()
    allowed = message_counts.get(key) or BUILTIN_MESSAGES.get(key)
    if allowed is None:
        return [f"{st.where()}: {name} is not a method of dpop.pkg"]
    if len(items) not in allowed:
        return [f"{st.where()}: {verb.capitalize()} {name} passes {len(items)} arguments, it takes {sorted(allowed)}"]
    return []


def check(pkg_path, header_path=None, sources=()):
    """Every problem found, as lines of text (empty when the package is right)."""
    prototypes, constants = dpop_header.read_header(header_path)
    package = read_package([pkg_path, *sources])
    problems = list(package.problems)
    problems += check_declarations(package, prototypes)
    problems += check_constants(package, constants)
    problems += check_calls(package, [pkg_path, *sources])
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--header", default=dpop_header.DEFAULT_HEADER)
    parser.add_argument("--pkg", default=os.path.join(HERE, "dpop.pkg"))
    parser.add_argument("sources", nargs="*", help="DataFlex sources that use the package")
    args = parser.parse_args(argv)
    sources = args.sources or [os.path.join(HERE, "ClientCredentials.src")]
    problems = check(args.pkg, args.header, sources)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_pkg: {len(problems)} problems")
        return 1
    prototypes, _ = dpop_header.read_header(args.header)
    print(f"check_pkg: {len(prototypes)} External_Function declarations match {os.path.relpath(args.header)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
