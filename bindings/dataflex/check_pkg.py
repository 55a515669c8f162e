#!/usr/bin/env python3
"""Proves bindings/dataflex/dpop.pkg against include/dpop.h, since DataFlex cannot run here.

    check_pkg.py [--header include/dpop.h] [--pkg dpop.pkg] [SOURCE.src ...]

The package and the sources are read as the compiler reads them for a 32-bit and for a 64-bit
program of DataFlex 20.0 (`#IFDEF IS$WIN64`, `#IF (!@ >= 200)`), and checked in both.

Declarations
- every DPOP_CALL function of the header has exactly one External_Function in DPOP_DLL_NAME,
  with the export name spelled as in C, the same parameters in the same order (named as in C),
  and DataFlex types that fit the C types on 32-bit and on 64-bit DataFlex (see TYPE_RULES);
  the return type likewise, and a `const char *` result is `String` exactly where the header
  promises a string (NEVER_NULL, whose documentation must not mention NULL) and `Pointer`
  where it may be NULL;
- no External_Function in the DLL names a function the header lacks;
- every DPOP_* constant of the header is Defined with the same value, and no other;
- DPOP_DLL_NAME is dpop.dll in a 32-bit program and dpop64.dll in a 64-bit one, and a program
  that Defines it before `Use dpop.pkg` keeps its own;
- DataFlex before 20.0 stops at an #ERROR before the package's code, 20.0 compiles it.

Calls
- every call of an external function, global function or method in the package and in the
  given sources passes as many arguments as it declares, and names something that exists (and,
  in an expression, that is defined above the call);
- a String result is not handed to DPoPStringAtAddress; a result that may be NULL goes to a
  Pointer variable or to DPoPStringAtAddress;
- ResizeArray and MemCopy get an Integer size (a variable declared Integer, a literal, or
  arithmetic of those), and no ULongptr is moved into an Integer except in DPoPArraySize,
  which bounds it first.

The package's own rules
- every class has LastMethodSuccess, LastErrorText and LastErrorName, and no LastErrorText
  reads the thread's last message (which successful calls leave unchanged);
- an object a class creates is created at desktop level (`Get Create of Desktop`), not as a
  child of the creating object;
- the UChar[] buffers that received dpop_key_private_jwk or dpop_key_private_pem are zeroed
  after their text is copied out, in the method and in DPoPBufferToString;
- a global procedure compares dpop_version() with DPOP_VERSION_MAJOR and _MINOR, reports a
  mismatch with Error, and is sent from the package's top level (at startup);
- a procedure or function outside any class or object is declared Global.

Prints one line per problem and exits 1 when there is any.
"""

import argparse
import os
import re
import sys
from typing import Dict, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import dataflex_source  # noqa: E402  (bindings/dataflex/dataflex_source.py)
import dpop_header  # noqa: E402  (bindings/dpop_header.py)
from dataflex_source import Config, calls, read_statements, resolve, split_items  # noqa: E402,F401

# The oldest DataFlex the package supports (`!@` of 20.0), and the programs it is read for.
DF_MINIMUM = 200
BITNESS = (Config("32-bit", DF_MINIMUM), Config("64-bit", DF_MINIMUM, frozenset({"IS$WIN64"})))
# The DLL each program loads: both sit in the Studio's one Programs folder, so they differ.
DLL_SYMBOL = "DPOP_DLL_NAME"
EXPECTED_DLL = {"32-bit": "dpop.dll", "64-bit": "dpop64.dll"}
DLL_NAMES = "/".join(EXPECTED_DLL[c.name] for c in BITNESS)

POINTERS = frozenset({"pointer", "longptr", "ulongptr"})

# The `const char *` results the header documents as always a string, declared `Returns String`
# (DataFlex copies the text). Every other `const char *` result is a Pointer, tested for 0:
# dpop_key_alg and dpop_http_get return NULL on failure, and what the header does not promise
# is not assumed.
NEVER_NULL = frozenset({"dpop_error_name", "dpop_version"})

# What each kind of C type may be declared as. Integer, UInteger and DWord are 32 bits on
# both 32-bit and 64-bit DataFlex; Pointer, Longptr and ULongptr are pointer-sized. A String
# parameter is passed as a pointer to NUL-terminated UTF-8 (DataFlex 2021 and later), which
# fits `const char *` only: libdpop never writes through it. WString (UTF-16), Address,
# Handle, BigInt and UBigInt fit none of them on both platforms.
TYPE_RULES = {
    "handle": POINTERS,  # struct dpop_x * (const or not)
    "handle_out": POINTERS,  # struct dpop_x **
    "cstring": POINTERS | {"string"},  # const char * parameter
    "cstring_never_null": frozenset({"string"}),  # const char * result in NEVER_NULL
    "cstring_may_be_null": POINTERS,  # any other const char * result
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


def read_package(paths, config=BITNESS[0], predefined=()):
    """The declarations of the package files as `config` compiles them (see dataflex_source)."""
    return dataflex_source.read_package(paths, config, predefined)


# ---------------------------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------------------------


def _is_dpop_dll(ext, package):
    """Whether an External_Function is meant for libdpop's DLL."""
    if ext.dll.upper() == DLL_SYMBOL:
        return True
    return resolve(ext.dll, package.defines).lower() in EXPECTED_DLL.values()


def check_declarations(package, prototypes):
    problems = []
    by_export = {}
    for ext in package.externals:
        where = ext.statement.where()
        if not _is_dpop_dll(ext, package):
            if ext.export.startswith("dpop_"):
                dll = resolve(ext.dll, package.defines)
                problems.append(f"{where}: {ext.export} is declared in {dll}, not {DLL_NAMES} ({DLL_SYMBOL})")
            continue
        if ext.dll.upper() != DLL_SYMBOL:
            problems.append(
                f"{where}: {ext.export} names {ext.dll} itself: use {DLL_SYMBOL}, which picks "
                f"{DLL_NAMES} by bitness and may be overridden"
            )
        if ext.export in by_export:
            problems.append(f"{where}: {ext.export} is declared twice")
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
        problems += _check_return(where, export, ext.returns, proto.ret)
    for proto in prototypes:
        if proto.name not in by_export:
            problems.append(f"include/dpop.h:{proto.line}: {proto.name} has no External_Function in {DLL_NAMES}")
    return problems


def _check_type(where, export, what, df_type, ctype, kind=None):
    kind = kind or classify(ctype)
    if kind is None:
        return [f"{where}: {export}: the checker does not know the C type '{ctype}': add it to TYPE_RULES"]
    allowed = TYPE_RULES[kind]
    if df_type.lower() not in allowed:
        fits = " or ".join(sorted(t.capitalize() if t != "ulongptr" else "ULongptr" for t in allowed))
        return [f"{where}: {export}: {what} is {df_type}, which does not fit on 32- and 64-bit DataFlex; use {fits}"]
    return []


def _check_return(where, export, df_type, ctype):
    if classify(ctype) != "cstring":
        return _check_type(where, export, f"return type (for {ctype})", df_type, ctype)
    if export in NEVER_NULL:
        if df_type.lower() != "string":
            return [
                f"{where}: {export}: return type (for const char *) is {df_type}, but {export} never "
                "returns NULL: declare it Returns String (DataFlex copies the text)"
            ]
        return []
    if df_type.lower() not in TYPE_RULES["cstring_may_be_null"]:
        return [
            f"{where}: {export}: return type (for const char *) is {df_type}, but include/dpop.h does not "
            f"promise that {export} never returns NULL (only {', '.join(sorted(NEVER_NULL))} are Strings): "
            "declare it Returns Pointer and copy the text with DPoPStringAtAddress"
        ]
    return []


def _doc_comment(header_text, name):
    """The /** ... */ comment right above a prototype, or None."""
    match = re.search(
        r"/\*\*(?P<doc>(?:(?!\*/).)*)\*/\s*DPOP_API\s+DPOP_CALL[^;]*?\b" + re.escape(name) + r"\s*\(",
        header_text,
        re.S,
    )
    return match.group("doc") if match else None


def check_never_null_documented(header_text, prototypes):
    """NEVER_NULL holds only functions the header documents as always returning a string."""
    problems = []
    header = {p.name: p for p in prototypes}
    for name in sorted(NEVER_NULL):
        proto = header.get(name)
        if proto is None or proto.ret != "const char *":
            problems.append(f"check_pkg.py: NEVER_NULL names {name}, which is not a const char * function of include/dpop.h")
            continue
        doc = _doc_comment(header_text, name)
        if doc is None or "NULL" in doc:
            problems.append(
                f"include/dpop.h:{proto.line}: {name} may return NULL by its documentation: take it out "
                "of NEVER_NULL in check_pkg.py and declare it Returns Pointer in dpop.pkg"
            )
    return problems


def check_constants(package, constants):
    problems = []
    for name, value in constants.items():
        defined = package.defines.get(name)
        if defined is None:
            problems.append(f"dpop.pkg: {name} ({value}) is not Defined")
        elif defined[0] != str(value):
            problems.append(f"{defined[1].where()}: {name} is {defined[0]}, include/dpop.h says {value}")
    for name, (_, st) in package.defines.items():
        if name.startswith("DPOP_") and name not in constants and name != DLL_SYMBOL:
            problems.append(f"{st.where()}: {name} is not a constant of include/dpop.h")
    return problems


def check_dll_names(pkg_path):
    """Each bitness loads its own DLL name, and a program's own DPOP_DLL_NAME wins."""
    problems = []
    for config in BITNESS:
        package = read_package([pkg_path], config)
        expected = EXPECTED_DLL[config.name]
        defined = package.defines.get(DLL_SYMBOL)
        if defined is None:
            problems.append(f"dpop.pkg: {DLL_SYMBOL} is not Defined for a {config.name} program")
        elif resolve(DLL_SYMBOL, package.defines).lower() != expected:
            problems.append(
                f"{defined[1].where()}: a {config.name} program loads {resolve(DLL_SYMBOL, package.defines)}, "
                f"expected {expected}: 32-bit and 64-bit programs share one Programs folder, so select "
                "the name with #IFDEF IS$WIN64"
            )
        overridden = read_package([pkg_path], config, predefined={DLL_SYMBOL})
        if DLL_SYMBOL in overridden.defines:
            problems.append(
                f"{overridden.defines[DLL_SYMBOL][1].where()}: {DLL_SYMBOL} is Defined even when the program "
                f"Defined it before Use dpop.pkg ({config.name}): wrap the Defines in #IFNDEF {DLL_SYMBOL}"
            )
    return problems


def check_version_guard(pkg_path):
    """DataFlex before 20.0 stops at an #ERROR before any of the package's code."""
    older = Config("32-bit", DF_MINIMUM - 1)
    package = read_package([pkg_path], older)
    code = [st for st in package.files[0] if not re.match(r"^Use\b", st.text, re.I)]
    if not package.errors:
        return [
            f"dpop.pkg: DataFlex before 20.0 (!@ = {older.version}) compiles the package without an #ERROR: guard it with "
            f"#IF (!@ >= {DF_MINIMUM}) ... #ELSE #ERROR ... #ENDIF"
        ]
    if code and code[0].line < package.errors[0].line:
        return [f"{package.errors[0].where()}: the #ERROR for DataFlex before 20.0 comes after code that older compilers read first ({code[0].where()})"]
    return []


# ---------------------------------------------------------------------------------------------
# Calls
# ---------------------------------------------------------------------------------------------

# Functions of the DataFlex runtime the package and the sample use, with their argument counts.
BUILTINS = {
    "addressof": {1},
    "character": {1},
    "left": {2},
    "length": {1},
    "memcopy": {3},
    "resizearray": {2},
    "sizeofarray": {1},
    "sizeofstring": {1},
    "uchararraytostring": {1, 3},
    "not": {1},
    "refclass": {1},
}
# Messages every object understands (cObject), with their argument counts.
BUILTIN_MESSAGES = {"create": {1}, "destroy": {0}, "construct_object": {0}, "destroy_object": {0}}


def check_calls(package):
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

    for file_index, statements in enumerate(package.files):
        cls = None
        for st in statements:
            text = st.text
            if dataflex_source.EXTERNAL.match(text) or dataflex_source.DEFINE.match(text):
                continue
            match = dataflex_source.CLASS.match(text)
            if match:
                cls = match.group(1)
                continue
            if re.match(r"^End_Class\b", text, re.I):
                cls = None
                continue
            if re.match(r"^(Function|Procedure|Property)\b", text, re.I):
                continue
            for name, args in calls(text):
                key, count = name.lower(), len(args)
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


STRING_AT_ADDRESS = "DPoPStringAtAddress"


def check_string_results(package, prototypes):
    """A String result is the text; a result that may be NULL is tested or copied."""
    problems = []
    strings = {p.name for p in prototypes if p.ret == "const char *"}
    by_name = {e.name.lower(): e for e in package.externals if e.export in strings and _is_dpop_dll(e, package)}
    for body in package.bodies:
        for st in body.statements:
            for name, _ in calls(st.text):
                ext = by_name.get(name.lower())
                if ext is None:
                    continue
                copied = re.search(rf"\b{STRING_AT_ADDRESS}\(\s*{name}\(", st.text, re.I)
                if ext.returns.lower() == "string":
                    if copied:
                        problems.append(
                            f"{st.where()}: {name} Returns String: its result is the text, not an address "
                            f"for {STRING_AT_ADDRESS}"
                        )
                    continue
                moved = re.match(rf"^Move\s+\(\s*{name}\(.*\)\s*\)\s+to\s+(\w+)$", st.text, re.I)
                if not copied and not (moved and body.scope.get(moved.group(1).lower()) in POINTERS):
                    problems.append(
                        f"{st.where()}: {name} may return NULL: move its result to a Pointer variable and "
                        f"test it, or copy it with {STRING_AT_ADDRESS}"
                    )
    return problems


# The one function that turns a size_t (ULongptr) into the Integer of ResizeArray and MemCopy.
ARRAY_SIZE = "DPoPArraySize"
# The Integer size argument of the runtime's array functions (index of the argument).
SIZE_ARGUMENTS = {"resizearray": 1, "memcopy": 2}
WIDE = frozenset({"pointer", "longptr", "ulongptr", "bigint", "ubigint"})
NARROW = frozenset({"integer", "uinteger", "dword", "short", "ushort"})


def _is_integer(expr, scope, defines):
    """Whether an expression is made of Integer variables, literals and + - * ( )."""
    for word in re.findall(r"[A-Za-z_$][\w$]*|\d+|\S", expr):
        if word.isdigit() or word in "+-*()":
            continue
        if scope.get(word.lower()) == "integer":
            continue
        if word.upper() in defines and defines[word.upper()][0].isdigit():
            continue
        return False
    return True


def check_sizes(package):
    """No size_t reaches an Integer unconverted: ResizeArray and MemCopy take Integer sizes
    (32 bits in a 64-bit program too), so a ULongptr there, or moved into an Integer, may be
    cut. DPoPArraySize is the one conversion, and it bounds the size first."""
    problems = []
    for body in package.bodies:
        for st in body.statements:
            for name, args in calls(st.text):
                index = SIZE_ARGUMENTS.get(name.lower())
                if index is None or len(args) <= index:
                    continue
                if not _is_integer(args[index], body.scope, package.defines):
                    problems.append(
                        f"{st.where()}: {name} gets '{args[index]}' as its size, which is not an Integer: "
                        f"{name}'s size is 32 bits in 64-bit programs too; convert a size_t with "
                        f"{ARRAY_SIZE}() into an Integer variable first"
                    )
            if body.name.lower() == ARRAY_SIZE.lower():
                continue
            moved = re.match(r"^Move\s+(\w+)\s+to\s+(\w+)$", st.text, re.I)
            returned = re.match(r"^Function_Return\s+\(?\s*(\w+)\s*\)?$", st.text, re.I)
            if moved:
                source, target = body.scope.get(moved.group(1).lower()), body.scope.get(moved.group(2).lower())
            elif returned:
                source, target = body.scope.get(returned.group(1).lower()), body.returns
            else:
                continue
            if source in WIDE and target in NARROW:
                problems.append(
                    f"{st.where()}: {body.label()} narrows a {source} to {target}: on 64-bit DataFlex the "
                    f"value may be cut; convert sizes with {ARRAY_SIZE}()"
                )
    converters = [b for b in package.bodies if b.name.lower() == ARRAY_SIZE.lower() and b.file_index == 0]
    if not converters:
        return problems + [f"dpop.pkg: no {ARRAY_SIZE} (Global, ULongptr to Integer, bounded) converts sizes"]
    body = converters[0]
    wide = [name for type_, name in body.params if type_ == "ulongptr"]
    bounded = wide and any(re.match(rf"^If\s+\(\s*{wide[0]}\s*>", st.text, re.I) for st in body.statements)
    if not (body.is_global and body.returns == "integer" and len(body.params) == 1 and bounded):
        problems.append(
            f"{body.header.where()}: {ARRAY_SIZE} must be a Global function of one ULongptr that "
            "returns an Integer and tests 'If (ulSize > ...)' before converting"
        )
    return problems


# ---------------------------------------------------------------------------------------------
# The package's own rules
# ---------------------------------------------------------------------------------------------

CLASS_MEMBERS = ("LastMethodSuccess", "LastErrorText", "LastErrorName")
THREAD_MESSAGE = re.compile(r"\b(DPoPLastErrorMessage|dpop_last_error_message)\(", re.I)


def check_classes(package):
    """Every class answers LastMethodSuccess, LastErrorText and LastErrorName; LastErrorText
    is the object's own text; what a class creates is not its child."""
    problems = []
    for cls, (file_index, st) in package.classes.items():
        if file_index != 0:
            continue
        have = {b.name.lower() for b in package.bodies if b.cls == cls and b.kind == "function"}
        for member in CLASS_MEMBERS:
            if member.lower() not in have:
                problems.append(
                    f"{st.where()}: class {cls} has no {member} (every class has "
                    + ", ".join(CLASS_MEMBERS) + ")"
                )
    for body in package.bodies:
        if body.file_index != 0 or body.cls is None:
            continue
        for st in body.statements:
            if body.name.lower() == "lasterrortext" and THREAD_MESSAGE.search(st.text):
                problems.append(
                    f"{st.where()}: {body.label()} reads the thread's last message, which successful "
                    "calls leave unchanged, so it may be an old error of another object; return the "
                    "handle's *_last_error_text (or what was captured when a call failed with no handle)"
                )
            if re.match(r"^Get\s+Create\s+(?:of\s+Self\s+)?\(", st.text, re.I):
                problems.append(
                    f"{st.where()}: {body.label()} creates an object as its own child: it dies with this "
                    "object and delegates the messages it lacks to it; use Get Create of Desktop"
                )
    return problems


SECRET_EXPORTS = ("dpop_key_private_jwk", "dpop_key_private_pem")
BUFFER_TO_STRING = "DPoPBufferToString"


def _zeroes(body, array):
    """Indexes of the statements that zero an element of `array`."""
    pattern = re.compile(rf"^Move\s+0\s+to\s+{re.escape(array)}\[", re.I)
    return [i for i, st in enumerate(body.statements) if pattern.match(st.text)]


def check_wipes(package):
    """A buffer that held a private key is zeroed once its text is copied out."""
    problems = []
    secret = {e.name.lower(): e.export for e in package.externals if e.export in SECRET_EXPORTS}
    for body in package.bodies:
        used = sorted({secret[n.lower()] for st in body.statements for n, _ in calls(st.text) if n.lower() in secret})
        if not used:
            continue
        arrays = [name for name, type_ in body.scope.items() if type_ == "uchar[]"]
        converted = [
            (i, args) for i, st in enumerate(body.statements) for n, args in calls(st.text)
            if n.lower() == BUFFER_TO_STRING.lower()
        ]
        last = max((i for i, _ in converted), default=len(body.statements))
        if not any(i > last for array in arrays for i in _zeroes(body, array)):
            problems.append(
                f"{body.header.where()}: {body.label()} receives a private key ({', '.join(used)}) but does not "
                "zero its UChar[] buffer after converting it to the returned String"
            )
        for i, args in converted:
            if args and args[-1].strip().lower() == "false":
                problems.append(
                    f"{body.statements[i].where()}: {body.label()} has {BUFFER_TO_STRING} keep its copy of a "
                    "private key (bWipe False)"
                )
    for body in package.bodies:
        if body.name.lower() == BUFFER_TO_STRING.lower() and body.file_index == 0:
            # Its parameter is a copy of the caller's buffer, and any array it copies into
            # holds the text too: each is zeroed.
            arrays = sorted(name for name, type_ in body.scope.items() if type_ == "uchar[]")
            for array in arrays:
                if not _zeroes(body, array):
                    problems.append(
                        f"{body.header.where()}: {BUFFER_TO_STRING} does not zero {array}, which holds "
                        "the text, when bWipe is set"
                    )
            if not arrays:
                problems.append(f"{body.header.where()}: {BUFFER_TO_STRING} takes no UChar[] buffer")
    return problems


def check_version_check(package):
    """At startup the package compares the DLL's version with its own."""
    def mentions(body, pattern):
        return any(re.search(pattern, st.text, re.I) for st in body.statements)

    checks = [
        b for b in package.bodies
        if b.file_index == 0 and b.is_global and b.kind == "procedure"
        and mentions(b, r"\b(dpop_version|DPoPVersion)\(")
        and mentions(b, r"\bDPOP_VERSION_MAJOR\b") and mentions(b, r"\bDPOP_VERSION_MINOR\b")
        and mentions(b, r"^Error\b")
    ]
    if not checks:
        return [
            "dpop.pkg: no startup check of the DLL: a Global procedure that compares dpop_version() "
            "with DPOP_VERSION_MAJOR and DPOP_VERSION_MINOR and reports a mismatch with Error"
        ]
    names = {b.name.lower() for b in checks}
    for file_index, st in package.toplevel:
        match = re.match(r"^Send\s+(\w+)\s*$", st.text, re.I)
        if file_index == 0 and match and match.group(1).lower() in names:
            return []
    return [f"{checks[0].header.where()}: {checks[0].name} is never sent: add 'Send {checks[0].name}' at the package's top level"]


def check_globals(package):
    """A method outside any class or object is Global: otherwise it becomes a method of the
    desktop object, which current DataFlex discourages."""
    problems = []
    for body in package.bodies:
        if body.cls is None and not body.in_object and not body.is_global:
            word = "Function" if body.kind == "function" else "Procedure"
            problems.append(
                f"{body.header.where()}: {word} {body.name} is outside any class but not Global: declare it "
                f"'{word} {body.name} Global ...' (else it is a method of the desktop)"
            )
    return problems


# ---------------------------------------------------------------------------------------------


def check(pkg_path, header_path=None, sources=()):
    """Every problem found, as lines of text (empty when the package is right)."""
    header_path = header_path or dpop_header.DEFAULT_HEADER
    prototypes, constants = dpop_header.read_header(header_path)
    with open(header_path, encoding="utf-8") as f:
        header_text = f.read()
    problems = []
    for config in BITNESS:
        package = read_package([pkg_path, *sources], config)
        problems += package.problems
        problems += [
            f"{e.where()}: a {config.name} program of DataFlex {config.version / 10:.1f} stops at '{e.text}'"
            for e in package.errors
        ]
        problems += check_declarations(package, prototypes)
        problems += check_constants(package, constants)
        problems += check_calls(package)
        problems += check_string_results(package, prototypes)
        problems += check_sizes(package)
        problems += check_classes(package)
        problems += check_wipes(package)
        problems += check_version_check(package)
        problems += check_globals(package)
    problems += check_dll_names(pkg_path)
    problems += check_version_guard(pkg_path)
    problems += check_never_null_documented(header_text, prototypes)
    return list(dict.fromkeys(problems))  # each once, in order (both bitnesses see most)


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
    print(
        f"check_pkg: {len(prototypes)} External_Function declarations match {os.path.relpath(args.header)} "
        f"(32-bit {EXPECTED_DLL['32-bit']}, 64-bit {EXPECTED_DLL['64-bit']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
