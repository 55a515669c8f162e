"""Reads include/dpop.h: its function prototypes and its #define constants.

The bindings' own checks use it (bindings/python/tests/test_abi.py and
bindings/dataflex/check_pkg.py) to prove that what they declare matches the header. Every
exported function is a prototype that starts with DPOP_API DPOP_CALL; comments and
preprocessor lines are removed first, so the macros' definitions are not mistaken for one.
"""

import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

DEFAULT_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include", "dpop.h")


@dataclass(frozen=True)
class Param:
    """One parameter: its C type, normalised (e.g. "const struct dpop_key *"), and name."""

    ctype: str
    name: str


@dataclass(frozen=True)
class Prototype:
    """One exported function."""

    name: str
    ret: str
    params: Tuple[Param, ...]
    line: int


class HeaderError(ValueError):
    """The header cannot be read as expected."""


def normalise_type(text):
    """One spelling per C type: single spaces, and "T *" / "T **" for pointers."""
    text = re.sub(r"\s*\*\s*", " * ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace("* *", "**")


def _strip_comments(source):
    """Replaces comments with spaces, keeping line numbers."""

    def blank(match):
        return re.sub(r"[^\n]", " ", match.group(0))

    return re.sub(r"/\*.*?\*/|//[^\n]*", blank, source, flags=re.S)


def _strip_preprocessor(source):
    """Blanks preprocessor lines (with their backslash continuations), keeping line numbers."""
    out = []
    continued = False
    for line in source.split("\n"):
        directive = continued or line.lstrip().startswith("#")
        continued = directive and line.rstrip().endswith("\\")
        out.append("" if directive else line)
    return "\n".join(out)


_PROTOTYPE = re.compile(
    r"\bDPOP_CALL\s+(?P<ret>[A-Za-z_][\w\s\*]*?)\s*\b(?P<name>\w+)\s*\((?P<params>[^()]*)\)\s*;"
)
_PARAM = re.compile(r"^(?P<ctype>.*?[\s\*])(?P<name>[A-Za-z_]\w*)$")
_DEFINE = re.compile(r"^\s*#\s*define\s+(?P<name>DPOP_\w+)\s+(?P<value>-?\d+)\s*$", re.M)


def parse_prototypes(source):
    """The DPOP_CALL prototypes of a header's text, in order."""
    code = _strip_preprocessor(_strip_comments(source))
    prototypes = []
    for match in _PROTOTYPE.finditer(code):
        line = code.count("\n", 0, match.start()) + 1
        params_text = " ".join(match.group("params").split())
        params = []
        if params_text not in ("", "void"):
            for raw in params_text.split(","):
                raw = raw.strip()
                param = _PARAM.match(raw)
                if not param:
                    raise HeaderError(f"line {line}: cannot read parameter {raw!r} of {match.group('name')}")
                params.append(Param(normalise_type(param.group("ctype")), param.group("name")))
        prototypes.append(
            Prototype(match.group("name"), normalise_type(match.group("ret")), tuple(params), line)
        )
    # Every DPOP_CALL outside comments and preprocessor lines must have been a prototype.
    if code.count("DPOP_CALL") != len(prototypes):
        raise HeaderError(
            f"{code.count('DPOP_CALL')} uses of DPOP_CALL but {len(prototypes)} readable prototypes"
        )
    names = [p.name for p in prototypes]
    if len(set(names)) != len(names):
        raise HeaderError("a function is declared twice")
    return prototypes


def parse_constants(source):
    """The integer #defines named DPOP_* (status codes, version numbers, DPOP_TASK_* states)."""
    return {m.group("name"): int(m.group("value")) for m in _DEFINE.finditer(_strip_comments(source))}


def read_header(path: Optional[str] = None) -> Tuple[List[Prototype], Dict[str, int]]:
    """The prototypes and constants of the header at `path` (default: include/dpop.h)."""
    with open(path or DEFAULT_HEADER, encoding="utf-8") as f:
        source = f.read()
    return parse_prototypes(source), parse_constants(source)
