"""Reads DataFlex source the way check_pkg.py needs it: statements, the preprocessor, and the
declarations (External_Function, Define, classes, methods with their bodies and local types).

The compiler's view depends on the program: `#IFDEF IS$WIN64` differs for 32-bit and 64-bit
programs and `#IF (!@ >= 200)` on the DataFlex version, so a package is read for one `Config`
at a time, and only the statements that configuration compiles are kept.
"""

import os
import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple


@dataclass(frozen=True)
class Config:
    """What the compiler knows before the first line: the DataFlex version (`!@`, 200 for
    20.0) and the symbols already defined (IS$WIN64 in a 64-bit program, and anything the
    program Defined before `Use dpop.pkg`)."""

    name: str
    version: int
    defined: FrozenSet[str] = frozenset()


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
    """Every statement of a file, preprocessor directives included."""
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


_STRING = re.compile(r'"[^"]*"|\'[^\']*\'')
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")


def calls(text):
    """(name, [argument texts]) of every call `name(...)` in an expression, nested ones too.
    A call has its '(' right after the name; `If (`, `Move (` and the like are statements,
    not calls. String literals become "" first."""
    text = _STRING.sub('""', text)
    found = []
    for match in _CALL.finditer(text):
        depth, args, current = 0, [], []
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
                args.append(" ".join(current))
                current = []
                continue
            current.append(t)
        if current or args:
            args.append(" ".join(current))
        found.append((match.group(1), args))
    return found


# ---------------------------------------------------------------------------------------------
# The preprocessor
# ---------------------------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^#(?P<name>[A-Za-z]+)\b\s*(?P<arg>.*)$")
_VERSION_TEST = re.compile(r"^\(\s*!@\s*(?P<op>>=|<=|<>|=|>|<)\s*(?P<n>\d+)\s*\)$")
_COMPARE = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "<>": lambda a, b: a != b,
    "=": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
DEFINE = re.compile(r"^Define\s+(?P<name>\w+)\s+for\s+(?P<value>.+)$", re.I)


def preprocess(statements, config, defined, problems):
    """The statements `config` compiles, without the directives, and the #ERROR directives it
    reaches. `defined` (upper-case symbols) grows with every Define and #REPLACE compiled."""
    active, errors, stack, on = [], [], [], True
    for st in statements:
        match = _DIRECTIVE.match(st.text)
        if not match:
            if on:
                define = DEFINE.match(st.text)
                if define:
                    defined.add(define.group("name").upper())
                active.append(st)
            continue
        name, arg = match.group("name").upper(), match.group("arg").strip()
        if name in ("IFDEF", "IFNDEF"):
            value = bool(arg) and (arg.split()[0].upper() in defined) == (name == "IFDEF")
            stack.append((on, value, st))
            on = on and value
        elif name.startswith("IF"):
            test = _VERSION_TEST.match(arg) if name == "IF" else None
            if test is None:
                problems.append(f"{st.where()}: the checker cannot evaluate '#{name} {arg}'")
                value = False
            else:
                value = _COMPARE[test.group("op")](config.version, int(test.group("n")))
            stack.append((on, value, st))
            on = on and value
        elif name == "ELSE":
            if not stack:
                problems.append(f"{st.where()}: #ELSE without #IF")
                continue
            outer, value, opening = stack[-1]
            stack[-1] = (outer, not value, opening)
            on = outer and not value
        elif name == "ENDIF":
            if not stack:
                problems.append(f"{st.where()}: #ENDIF without #IF")
                continue
            on = stack.pop()[0]
        elif name == "ERROR":
            if on:
                errors.append(st)
        elif name == "REPLACE" and on and arg:
            defined.add(arg.split()[0].upper())
    for _, _, opening in stack:
        problems.append(f"{opening.where()}: {opening.text.split()[0]} without #ENDIF")
    return active, errors


# ---------------------------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------------------------

# The DataFlex types a local variable or parameter may have (lower-case).
TYPES = frozenset(
    "pointer longptr ulongptr integer uinteger dword short ushort bigint ubigint string wstring "
    "boolean handle number real float date datetime time timespan char uchar address variant "
    "rowid void_type".split()
)


@dataclass
class ExternalFunction:
    name: str  # the DataFlex name
    export: str
    dll: str
    params: List[Tuple[str, str]]  # (DataFlex type, name)
    returns: str
    statement: Statement


@dataclass
class Body:
    """A Function or Procedure with its statements, as the checks see it."""

    name: str
    kind: str  # "function", "procedure", "set"
    is_global: bool
    cls: Optional[str]
    in_object: bool  # declared inside an Object ... End_Object
    params: List[Tuple[str, str]]  # (type, name), lower-case type, "[]" kept
    returns: Optional[str]  # lower-case type of a Function's result
    header: Statement
    file_index: int
    statements: List[Statement] = field(default_factory=list)
    scope: Dict[str, str] = field(default_factory=dict)  # variable (lower) -> type (lower)

    def label(self):
        return f"{self.cls}.{self.name}" if self.cls else self.name


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
    config: Optional[Config] = None
    externals: List[ExternalFunction] = field(default_factory=list)
    defines: Dict[str, Tuple[str, Statement]] = field(default_factory=dict)
    methods: List[Method] = field(default_factory=list)
    bodies: List[Body] = field(default_factory=list)
    classes: Dict[str, Tuple[int, Statement]] = field(default_factory=dict)  # name -> (file index, Class line)
    toplevel: List[Tuple[int, Statement]] = field(default_factory=list)  # outside classes and methods
    files: List[List[Statement]] = field(default_factory=list)  # the compiled statements per file
    errors: List[Statement] = field(default_factory=list)  # #ERROR directives compiled
    problems: List[str] = field(default_factory=list)


EXTERNAL = re.compile(
    r"^External_Function\s+(?P<name>\w+)\s+\"(?P<export>[^\"]*)\"\s+(?P<dll>\S+)(?P<rest>.*)$", re.I
)
CLASS = re.compile(r"^Class\s+(\w+)\s+is\s+an?\s+\w+", re.I)
_OBJECT = re.compile(r"^Object\s+\w+\s+is\s+an?\s+\w+", re.I)
_FUNCTION = re.compile(r"^Function\s+(?P<name>\w+)(?P<params>.*?)\s+Returns\s+(?P<returns>\S+)$", re.I)
_PROCEDURE = re.compile(r"^Procedure\s+(?P<set>Set\s+)?(?P<name>\w+)(?P<params>.*)$", re.I)
_PROPERTY = re.compile(r"^Property\s+\S+\s+(?P<name>\w+)", re.I)
_END_METHOD = re.compile(r"^End_(Function|Procedure)\b", re.I)
_LOCALS = re.compile(r"^(?P<type>[A-Za-z_]\w*(?:\[\])*)\s+(?P<names>[A-Za-z_]\w*(?:\s+[A-Za-z_]\w*)*)$")


def _params(text):
    """(is_global, [(type, name)]) of a method header's parameter text."""
    words = [w for w in text.split() if w.lower() != "byref"]
    is_global = bool(words) and words[0].lower() == "global"
    if is_global:
        words = words[1:]
    return is_global, [(words[i].lower(), words[i + 1]) for i in range(0, len(words) - 1, 2)]


def _declared_locals(text):
    """[(type, name)] when the statement declares local variables, else []."""
    match = _LOCALS.match(text)
    if not match or match.group("type").lower().rstrip("[]") not in TYPES:
        return []
    return [(match.group("type").lower(), name) for name in match.group("names").split()]


def read_package(paths, config, predefined=()):
    """The declarations of the package files as `config` compiles them."""
    package = Package(config=config)
    defined = {s.upper() for s in config.defined} | {s.upper() for s in predefined}
    for file_index, path in enumerate(paths):
        active, errors = preprocess(read_statements(path), config, defined, package.problems)
        package.files.append(active)
        package.errors += errors
        _read_declarations(package, file_index, active)
    return package


def _read_declarations(package, file_index, statements):
    cls, body, objects = None, None, 0
    for st in statements:
        position = (file_index, st.line)
        text = st.text
        if body is not None:
            if _END_METHOD.match(text):
                body = None
                continue
            body.statements.append(st)
            for type_, name in _declared_locals(text):
                body.scope[name.lower()] = type_
            match = _PROPERTY.match(text)
            if match and cls:
                package.methods.append(Method(match.group("name"), "property", 0, cls, position))
            continue
        if re.match(r"^End_Class\b", text, re.I):
            cls = None
            continue
        if re.match(r"^End_Object\b", text, re.I):
            objects -= 1
            continue
        match = CLASS.match(text)
        if match:
            cls = match.group(1)
            package.classes[cls] = (file_index, st)
            continue
        if _OBJECT.match(text):
            objects += 1
            continue
        match = EXTERNAL.match(text)
        if match:
            _read_external(package, st, match)
            continue
        match = DEFINE.match(text)
        if match:
            package.defines[match.group("name").upper()] = (match.group("value").strip(), st)
            continue
        function, procedure = _FUNCTION.match(text), _PROCEDURE.match(text)
        if function or procedure:
            match = function or procedure
            is_global, params = _params(match.group("params"))
            kind = "function" if function else ("set" if procedure.group("set") else "procedure")
            returns = function.group("returns").lower() if function else None
            body = Body(match.group("name"), kind, is_global, None if is_global else cls, objects > 0,
                        params, returns, st, file_index)
            body.scope = {name.lower(): type_ for type_, name in params}
            package.bodies.append(body)
            package.methods.append(
                Method(body.name, "global" if is_global else kind, len(params), body.cls, position)
            )
            continue
        if cls is None and objects == 0:
            package.toplevel.append((file_index, st))


def _read_external(package, st, match):
    items = match.group("rest").split()
    if len(items) < 2 or items[-2].lower() != "returns":
        package.problems.append(f"{st.where()}: {match.group('name')}: no 'Returns <type>' at the end")
        return
    params = items[:-2]
    if len(params) % 2:
        package.problems.append(f"{st.where()}: {match.group('name')}: a parameter lacks its type or name")
        return
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


def resolve(token, defines):
    """A Define'd symbol's value (following Defines of Defines), without quotes."""
    seen = set()
    while token.upper() in defines and token.upper() not in seen:
        seen.add(token.upper())
        token = defines[token.upper()][0]
    return token.strip("\"'")
