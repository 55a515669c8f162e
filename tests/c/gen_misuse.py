#!/usr/bin/env python3
"""Generates the FFI misuse sweep: a C program that calls every export of include/dpop.h wrongly.

    tests/c/gen_misuse.py [--header include/dpop.h] build/misuse.c

The prototypes come from bindings/dpop_header.py; this file only classifies them. Every
parameter is given a *shape* by its C type (a handle, a handle out-pointer, a string in, bytes
in, a strings-out triple, a size out-pointer, an integer), and every prototype is swept by its
shapes, so a new export is covered without anyone listing it. A shape or return type not known
here stops the generator with a message naming the function (exit status 2): nothing is
skipped silently.

For every prototype the program calls it once with valid arguments, then:

- once per pointer parameter with that parameter NULL and the others valid. A required pointer
  gives DPOP_ERR_NULL_POINTER (a NULL or 0 result for functions that return a value); an
  optional one must not crash and must not be refused as NULL. Which pointers are optional is
  read from the doc comment (see `optional_params`); buf and out_size of a strings-out triple
  are optional by the convention (buf NULL asks for the size);
- once per string with invalid UTF-8 ("\\xff\\xfe"): DPOP_ERR_INVALID_UTF8 naming the
  parameter (UTF8_EXCEPTIONS lists the functions that may legitimately fail earlier); an
  optional string also with "", which must give the same code as NULL;
- per strings-out triple: buf NULL, out_size NULL, buf_len 0, 1, size-1 and size: too small is
  DPOP_ERR_BUFFER_TOO_SMALL with *out_size the size the valid call reported, and a buffer
  filled with a canary stays untouched (on success nothing is written past the NUL);
- per integer parameter: its extreme values (a documented code, never a panic); a dpop_status
  parameter: every status constant of the header and some that are none;
- per handle type with an unloaded state (an empty dpop_key): every function that reads such a
  handle, with it (DPOP_ERR_KEY_NOT_LOADED); every *_last_error_text on a fresh handle ("");
- every *_free with NULL, and with a live handle followed by NULL;
- the wrong-order scenarios of ORDER_SCENARIOS (requests before a key, before settings, ...).

After every call: a status is a header constant whose dpop_error_name is not
"DPOP_ERR_UNKNOWN" and never DPOP_ERR_PANIC; dpop_last_error_message() is a NUL-terminated
string; a failure is the thread's last error, with a message starting with the function's name,
and the handle's *_last_error_text holds the same message (empty after a success); a success, or
a function documented as never changing any error record, leaves the thread's record as it was;
*out is written only on success. Requests go to an unused 127.0.0.1 port (timeouts 200 ms) or
are refused before sending; the only server is a canned responder on 127.0.0.1 inside the
program, which makes the dpop_response fixture.
"""

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "bindings"))

from dpop_header import HeaderError, Param, Prototype, parse_constants, parse_prototypes  # noqa: E402

INVALID_UTF8 = r'"\xff\xfe"'


class SweepError(Exception):
    """The header holds something the sweep does not know how to call."""


# ---------------------------------------------------------------------------------------------
# What the sweep knows: handle fixtures, valid values, documented exceptions.

@dataclass(frozen=True)
class HandleKind:
    """How the program makes a valid handle of one type (C expressions of the prelude)."""

    make: str
    free: str
    # A fresh handle straight from _new (its *_last_error_text is ""), if the type has a _new.
    fresh: Optional[str] = None
    # A handle in a state readers refuse, and the code they give for it.
    unloaded: Optional[str] = None
    unloaded_code: Optional[str] = None


HANDLES: Dict[str, HandleKind] = {
    # A generated ES256 key whose error text is not empty (a refused dpop_key_generate).
    "dpop_key": HandleKind("fx_key()", "dpop_key_free", "dpop_key_new()", "dpop_key_new()",
                           "DPOP_ERR_KEY_NOT_LOADED"),
    # No key and no settings, 200 ms timeouts, a non-empty error text.
    "dpop_http": HandleKind("fx_http()", "dpop_http_free", "dpop_http_new()"),
    # A 200 response from the canned responder, with a header "x-misuse".
    "dpop_response": HandleKind("fx_response()", "dpop_response_free"),
    # A finished task with a 200 response from the canned responder, its error text not empty.
    "dpop_task": HandleKind("fx_task()", "dpop_task_free"),
}

# Valid values of string parameters, by (function, parameter) and then by parameter name;
# any other string gets DEFAULT_STRING. C expressions (the prelude defines the variables).
STRING_VALUES: Dict[str, str] = {
    "method": '"GET"',
    "url": "closed_url",  # an unused 127.0.0.1 port: connection refused at once
    "json": "auth_json",  # token settings whose token endpoint is that port
    "token": '"misuse-token"',
    "token_type": '"DPoP"',
    "path": "key_path",
    "password": '"misuse-password"',
    "alg": '"ES256"',
    "access_token": '"misuse-token"',
    "nonce": '"misuse-nonce"',
    "extra_claims": r'"{\"misuse\":1}"',
    "headers": '"X-Misuse: 1"',
    "user_agent": '"libdpop-misuse/1"',
    "name": '"x-misuse"',
}
STRING_VALUES_BY_FUNCTION: Dict[Tuple[str, str], str] = {
    ("dpop_proof_create", "url"): '"https://api.example/resource"',
    ("dpop_http_set_proxy", "url"): "closed_proxy",
    ("dpop_http_request", "method"): '"POST"',  # the valid call carries a body
    ("dpop_http_set_session_log", "path"): "log_path",
    # A state file of their own: clear_state deletes what it is given.
    ("dpop_http_save_state", "path"): "state_path",
    ("dpop_http_load_state", "path"): "state_path",
    ("dpop_http_clear_state", "path"): "state_path",
    # An encrypted export runs 600,000 PBKDF2 rounds, minutes under valgrind for the ~10 calls
    # of the sweep; "" (absent, like NULL) keeps it plain. Invalid UTF-8 is still checked.
    ("dpop_key_private_pem", "password"): '""',
}
DEFAULT_STRING = '"misuse"'

# Valid bytes-in values (pointer, length), by (function, parameter) and then by name.
BYTES_VALUES: Dict[Tuple[str, str], Tuple[str, str]] = {
    ("dpop_key_load_memory", "data"): ("key_pem", "key_pem_len"),
}
DEFAULT_BYTES = ('(const uint8_t *)"{}"', "2")

INTEGER_TYPES = {
    "int32_t": ("INT32_MIN", "-1", "0", "INT32_MAX"),
    "uint32_t": ("0", "UINT32_MAX"),
    "size_t": ("0", "SIZE_MAX"),
}
INTEGER_VALUES = {"connect_ms": "200", "read_ms": "200", "seconds": "60", "bytes": "1048576",
                  "accept": "1", "allow": "0"}
DEFAULT_INTEGER = "1"

# Functions that may legitimately fail before reading a string argument, so that invalid UTF-8
# there gives another code: {(function, parameter): (allowed codes, why)}. Empty: with the
# sweep's valid (loaded) handles every export converts its strings before anything can fail.
# A later entry must say why, e.g.
#   ("dpop_key_private_pem", "password"): (("DPOP_ERR_KEY_NOT_LOADED",), "the key is read first")
UTF8_EXCEPTIONS: Dict[Tuple[str, str], Tuple[Tuple[str, ...], str]] = {}

# Per-function preparation of the valid handles (C, with the handles' variables h_<param>), so
# that the valid call succeeds and its strings out can be measured.
# Sign-in settings that need no network before the browser comes back: explicit endpoints.
SIGN_IN_JSON = (r'"{\"grant_type\":\"authorization_code\",\"client_id\":\"misuse\",'
                r'\"authorization_endpoint\":\"https://as.invalid/authorize\",'
                r'\"token_endpoint\":\"https://as.invalid/token\",'
                r'\"redirect_uri\":\"http://127.0.0.1:0/cb\"}"')
PREPARE: Dict[str, str] = {
    "dpop_http_token_info": 'dpop_http_set_access_token(h_http, "misuse-token", NULL);',
    # A sign-in in progress (started without a browser), so that there is a URL to copy.
    "dpop_http_sign_in_url": "{ dpop_key *pk = fx_key(); dpop_http_set_key(h_http, pk); dpop_key_free(pk); } "
                             f"dpop_http_set_auth_token(h_http, {SIGN_IN_JSON}); "
                             "dpop_http_sign_in_start(h_http, 0);",
}

TRANSPORT_FAILURES = "DPOP_ERR_HTTP_CONNECT, DPOP_ERR_HTTP_TIMEOUT"

# The wrong-order scenarios: (description, C). Each is one call case; the C may use the
# prelude's fixtures and checks. Only functions of the header may be named (checked).
ORDER_SCENARIOS: List[Tuple[str, str]] = [
    ("dpop_http_get before a key and before settings: NULL, a transport code, status 0", f"""
        dpop_http *h = fx_http();
        prime();
        const char *body = dpop_http_get(h, closed_url);
        CHECK(body == NULL);
        expect_in("dpop_http_get", dpop_last_error_code(), (dpop_status[]){{{TRANSPORT_FAILURES}}}, 2);
        CHECK(dpop_http_last_status(h) == 0);
        check_text_dpop_http(h, dpop_last_error_code());
        dpop_http_free(h);
    """),
    ("dpop_http_request before a key and before settings: a transport code, *out untouched", f"""
        dpop_http *h = fx_http();
        dpop_response *out = SENTINEL(dpop_response);
        prime();
        dpop_status st = dpop_http_request(h, "GET", closed_url, NULL, NULL, 0, &out);
        expect_in("dpop_http_request", st, (dpop_status[]){{{TRANSPORT_FAILURES}}}, 2);
        after_status("dpop_http_request", st, 1);
        check_text_dpop_http(h, st);
        CHECK(out == SENTINEL(dpop_response));
        dpop_http_free(h);
    """),
    ("dpop_http_get with settings before a key: NULL, DPOP_ERR_KEY_NOT_LOADED", """
        dpop_http *h = fx_http();
        CHECK(dpop_http_set_auth_token(h, auth_json) == DPOP_OK);
        prime();
        CHECK(dpop_http_get(h, closed_url) == NULL);
        expect_eq("dpop_http_get", dpop_last_error_code(), DPOP_ERR_KEY_NOT_LOADED);
        CHECK(dpop_http_last_status(h) == 0);
        dpop_http_free(h);
    """),
    ("dpop_http_request with settings before a key: DPOP_ERR_KEY_NOT_LOADED", """
        dpop_http *h = fx_http();
        dpop_response *out = SENTINEL(dpop_response);
        CHECK(dpop_http_set_auth_token(h, auth_json) == DPOP_OK);
        prime();
        dpop_status st = dpop_http_request(h, "GET", closed_url, NULL, NULL, 0, &out);
        expect_eq("dpop_http_request", st, DPOP_ERR_KEY_NOT_LOADED);
        after_status("dpop_http_request", st, 1);
        check_text_dpop_http(h, st);
        CHECK(out == SENTINEL(dpop_response));
        dpop_http_free(h);
    """),
    ("dpop_http_request with a host token before a key: DPOP_ERR_KEY_NOT_LOADED", """
        dpop_http *h = fx_http();
        dpop_response *out = SENTINEL(dpop_response);
        CHECK(dpop_http_set_access_token(h, "misuse-token", NULL) == DPOP_OK);
        prime();
        dpop_status st = dpop_http_request(h, "GET", closed_url, NULL, NULL, 0, &out);
        expect_eq("dpop_http_request", st, DPOP_ERR_KEY_NOT_LOADED);
        after_status("dpop_http_request", st, 1);
        CHECK(out == SENTINEL(dpop_response));
        dpop_http_free(h);
    """),
    ("dpop_http_request with a key before settings: a transport code", f"""
        dpop_http *h = fx_http();
        dpop_key *k = fx_key();
        dpop_response *out = SENTINEL(dpop_response);
        CHECK(dpop_http_set_key(h, k) == DPOP_OK);
        prime();
        dpop_status st = dpop_http_request(h, "GET", closed_url, NULL, NULL, 0, &out);
        expect_in("dpop_http_request", st, (dpop_status[]){{{TRANSPORT_FAILURES}}}, 2);
        after_status("dpop_http_request", st, 1);
        CHECK(out == SENTINEL(dpop_response));
        dpop_key_free(k);
        dpop_http_free(h);
    """),
    ("dpop_http_get with a key and settings, token endpoint unreachable: a transport code", f"""
        dpop_http *h = fx_http();
        dpop_key *k = fx_key();
        CHECK(dpop_http_set_key(h, k) == DPOP_OK);
        CHECK(dpop_http_set_auth_token(h, auth_json) == DPOP_OK);
        prime();
        CHECK(dpop_http_get(h, closed_url) == NULL);
        expect_in("dpop_http_get", dpop_last_error_code(), (dpop_status[]){{{TRANSPORT_FAILURES}}}, 2);
        dpop_key_free(k);
        dpop_http_free(h);
    """),
    ("dpop_http_request after the key given to dpop_http_set_key was freed: no crash", f"""
        dpop_http *h = fx_http();
        dpop_key *k = fx_key();
        dpop_response *out = SENTINEL(dpop_response);
        CHECK(dpop_http_set_key(h, k) == DPOP_OK);
        dpop_key_free(k);
        prime();
        dpop_status st = dpop_http_request(h, "GET", closed_url, NULL, NULL, 0, &out);
        expect_in("dpop_http_request", st, (dpop_status[]){{{TRANSPORT_FAILURES}}}, 2);
        after_status("dpop_http_request", st, 1);
        dpop_http_free(h);
    """),
    ("the sign-in calls in the wrong order: nothing to wait for, no settings, no key, no token, cancel", f"""
        dpop_http *h = fx_http();
        dpop_key *k = fx_key();
        prime();
        dpop_status st = dpop_http_sign_in_wait(h, 0);
        expect_eq("dpop_http_sign_in_wait", st, DPOP_ERR_NOT_FOUND);
        st = dpop_http_sign_in_start(h, 0);
        expect_eq("dpop_http_sign_in_start", st, DPOP_ERR_TOKEN_CONFIG);
        CHECK(dpop_http_set_auth_token(h, auth_json) == DPOP_OK);
        st = dpop_http_sign_in(h, 0);
        expect_eq("dpop_http_sign_in", st, DPOP_ERR_TOKEN_CONFIG);
        CHECK(dpop_http_set_auth_token(h, {SIGN_IN_JSON}) == DPOP_OK);
        st = dpop_http_sign_in_start(h, 0);
        expect_eq("dpop_http_sign_in_start", st, DPOP_ERR_KEY_NOT_LOADED);
        CHECK(dpop_http_set_key(h, k) == DPOP_OK);
        CHECK(dpop_http_get(h, closed_url) == NULL);
        expect_eq("dpop_http_get", dpop_last_error_code(), DPOP_ERR_SIGN_IN_REQUIRED);
        CHECK(dpop_http_sign_in_start(h, 0) == DPOP_OK);
        st = dpop_http_sign_in_wait(h, 0);
        expect_eq("dpop_http_sign_in_wait", st, DPOP_ERR_PENDING);
        CHECK(dpop_http_sign_in_cancel(h) == DPOP_OK);
        st = dpop_http_sign_in_wait(h, UINT32_MAX);
        expect_eq("dpop_http_sign_in_wait", st, DPOP_ERR_CANCELLED);
        after_status("dpop_http_sign_in_wait", st, 1);
        check_text_dpop_http(h, st);
        st = dpop_http_sign_in_wait(h, UINT32_MAX);
        expect_eq("dpop_http_sign_in_wait", st, DPOP_ERR_NOT_FOUND);
        CHECK(dpop_http_sign_in_cancel(h) == DPOP_OK);
        dpop_key_free(k);
        dpop_http_free(h);
    """),
    ("dpop_http_token_info before any token: DPOP_ERR_NOT_FOUND, buffer untouched", """
        dpop_http *h = fx_http();
        char buf[64];
        size_t size = SIZE_UNSET;
        memset(buf, CANARY, sizeof buf);
        prime();
        dpop_status st = dpop_http_token_info(h, buf, sizeof buf, &size);
        expect_eq("dpop_http_token_info", st, DPOP_ERR_NOT_FOUND);
        after_status("dpop_http_token_info", st, 1);
        check_strout(st, buf, sizeof buf, sizeof buf, &size, 0);
        dpop_http_free(h);
    """),
    ("dpop_http_clear_token before any token, then a request: no crash", f"""
        dpop_http *h = fx_http();
        dpop_response *out = SENTINEL(dpop_response);
        CHECK(dpop_http_clear_token(h) == DPOP_OK);
        prime();
        dpop_status st = dpop_http_request(h, "GET", closed_url, NULL, NULL, 0, &out);
        expect_in("dpop_http_request", st, (dpop_status[]){{{TRANSPORT_FAILURES}}}, 2);
        after_status("dpop_http_request", st, 1);
        dpop_http_free(h);
    """),
    ("dpop_http_get / dpop_http_request with URLs refused before sending", """
        dpop_http *h = fx_http();
        dpop_response *out = SENTINEL(dpop_response);
        prime();
        CHECK(dpop_http_get(h, "not a url") == NULL);
        expect_eq("dpop_http_get", dpop_last_error_code(), DPOP_ERR_HTTP_URL);
        dpop_status st = dpop_http_request(h, "GET", "ftp://127.0.0.1/x", NULL, NULL, 0, &out);
        expect_eq("dpop_http_request", st, DPOP_ERR_HTTP_URL);
        st = dpop_http_request(h, "GET", "http://misuse.invalid/x", NULL, NULL, 0, &out);
        expect_eq("dpop_http_request", st, DPOP_ERR_HTTP_INSECURE);
        after_status("dpop_http_request", st, 1);
        CHECK(out == SENTINEL(dpop_response));
        dpop_http_free(h);
    """),
    ("dpop_proof_create on a key whose first load failed: DPOP_ERR_KEY_NOT_LOADED", """
        dpop_key *k = dpop_key_new();
        char buf[64];
        size_t size = SIZE_UNSET;
        memset(buf, CANARY, sizeof buf);
        CHECK(dpop_key_load_memory(k, (const uint8_t *)"garbage", 7, NULL) == DPOP_ERR_KEY_UNRECOGNIZED);
        prime();
        dpop_status st = dpop_proof_create(k, "GET", "https://a.example/", NULL, NULL, NULL, buf, sizeof buf, &size);
        expect_eq("dpop_proof_create", st, DPOP_ERR_KEY_NOT_LOADED);
        after_status("dpop_proof_create", st, 1);
        check_text_dpop_key(k, st);
        check_strout(st, buf, sizeof buf, sizeof buf, &size, 0);
        dpop_key_free(k);
    """),
    ("a dpop_response read after its dpop_http was freed", """
        dpop_http *h = dpop_http_new();
        dpop_response *r = NULL;
        CHECK(dpop_http_set_timeouts(h, 5000, 5000) == DPOP_OK);
        CHECK(dpop_http_request(h, "GET", responder_url, NULL, NULL, 0, &r) == DPOP_OK);
        dpop_http_free(h);
        prime();
        CHECK(dpop_response_status(r) == 200);
        size_t len = 0;
        const uint8_t *body = dpop_response_body(r, &len);
        CHECK(body != NULL && len == 5 && memcmp(body, "hello", 6) == 0);
        CHECK(thread_record_unchanged());
        dpop_response_free(r);
    """),
]


# ---------------------------------------------------------------------------------------------
# Reading the header: shapes and doc comments.

@dataclass
class Slot:
    """One argument of a prototype as the sweep sees it (a triple or pair counts as one)."""

    kind: str  # handle, out_handle, string, bytes, strout, size_out, integer, status
    params: Tuple[Param, ...]
    handle: Optional[str] = None  # the handle type, for handle and out_handle
    const: bool = False
    optional: bool = False
    null_when_zero: bool = False  # bytes: "may be NULL when `len` is 0"

    @property
    def name(self):
        return self.params[0].name


@dataclass
class Export:
    proto: Prototype
    doc: str
    slots: List[Slot] = field(default_factory=list)
    ret_kind: str = ""  # status, string, bytes_ptr, int, void, handle
    ret_handle: Optional[str] = None
    records: bool = True  # False: documented as never changing any error record

    @property
    def name(self):
        return self.proto.name


def doc_comment(lines, line):
    """The /** ... */ block right above the prototype at 1-based `line`, as one line of text."""
    i = line - 2
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i < 0 or not lines[i].rstrip().endswith("*/"):
        return ""
    end = i
    while i >= 0 and "/**" not in lines[i]:
        i -= 1
    text = " ".join(re.sub(r"^\s*(?:/\*\*|\*/|\*)?", "", l).replace("*/", "") for l in lines[i:end + 1])
    return " ".join(text.split())


def optional_params(doc, names, candidates, docs=None):
    """The parameters (of `names`) that the doc comment allows to be NULL.

    A parameter is optional when the doc says "`p` (may be NULL)", "`p` may be NULL" (without
    a condition), "`p` NULL ...", "if/when `p` is not NULL", or names `p` in a clause with
    "(also when NULL)"; a clause that starts with "NULL" ("NULL removes them") is about the
    only pointer parameter in `candidates`, and is an error when there are several. A doc that
    says it works "as `dpop_other`" does (`docs`: every export's doc) takes over what that
    one's doc says of parameters of the same name."""
    optional, conditional = named_optional(doc, names)
    for ref in re.findall(r"\bas (?:for )?`(dpop_\w+)`", doc):
        if docs and ref in docs:
            optional |= named_optional(docs[ref], names)[0]
    clauses = [c.strip() for c in re.split(r"(?<=[.;])\s+", doc)]
    bare = [c for c in clauses if c.startswith("NULL ")]
    if bare:
        if len(candidates) != 1:
            raise SweepError(f"the doc says {bare[0]!r} but the function has {len(candidates)} "
                             f"pointer parameters it could be about: {', '.join(candidates) or 'none'}")
        optional.add(candidates[0])
    return optional, conditional


def named_optional(doc, names):
    """The rules of `optional_params` that name the parameter."""
    optional, conditional = set(), {}
    clauses = [c.strip() for c in re.split(r"(?<=[.;])\s+", doc)]
    for name in names:
        n = re.escape(name)
        if (re.search(rf"`{n}` \(may be NULL\)", doc)
                or re.search(rf"`{n}` may be NULL(?! when)", doc)
                or re.search(rf"`{n}` NULL\b", doc)
                or re.search(rf"\b(?:if|when) `\*?{n}` is not NULL", doc)
                or any(f"`{name}`" in c and "(also when NULL)" in c for c in clauses)):
            optional.add(name)
        when = re.search(rf"`{n}` may be NULL when `(\w+)` is 0", doc)
        if when:
            conditional[name] = when.group(1)
    return optional, conditional


def classify(proto: Prototype, doc: str, docs=None) -> Export:
    """The sweep's view of one prototype, or SweepError naming what it cannot sweep."""
    export = Export(proto, doc)
    params = proto.params
    i = 0
    while i < len(params):
        p = params[i]
        t = p.ctype
        m = re.fullmatch(r"(const )?struct (dpop_\w+) \*", t)
        mm = re.fullmatch(r"struct (dpop_\w+) \*\*", t)
        if m:
            if m.group(2) not in HANDLES:
                raise SweepError(f"parameter '{p.name}': unknown handle type 'struct {m.group(2)}' "
                                 "(add a fixture to HANDLES)")
            export.slots.append(Slot("handle", (p,), m.group(2), const=bool(m.group(1))))
        elif mm:
            if mm.group(1) not in HANDLES:
                raise SweepError(f"parameter '{p.name}': unknown handle type 'struct {mm.group(1)}'")
            export.slots.append(Slot("out_handle", (p,), mm.group(1)))
        elif t == "const char *":
            export.slots.append(Slot("string", (p,)))
        elif t == "char *":
            rest = params[i + 1:i + 3]
            if [q.ctype for q in rest] != ["size_t", "size_t *"]:
                raise SweepError(f"parameter '{p.name}': a char * that is not a strings-out triple "
                                 "(char *buf, size_t buf_len, size_t *out_size)")
            export.slots.append(Slot("strout", (p,) + tuple(rest)))
            i += 3
            continue
        elif t == "const uint8_t *":
            if i + 1 >= len(params) or params[i + 1].ctype != "size_t":
                raise SweepError(f"parameter '{p.name}': bytes in without a size_t length after it")
            export.slots.append(Slot("bytes", (p, params[i + 1])))
            i += 2
            continue
        elif t == "size_t *":
            export.slots.append(Slot("size_out", (p,)))
        elif t in INTEGER_TYPES:
            export.slots.append(Slot("integer", (p,)))
        elif t == "dpop_status":
            export.slots.append(Slot("status", (p,)))
        else:
            raise SweepError(f"parameter '{p.name}' has type '{t}', which the sweep cannot call")
        i += 1

    ret = proto.ret
    rh = re.fullmatch(r"struct (dpop_\w+) \*", ret)
    if ret == "dpop_status":
        export.ret_kind = "status"
    elif ret == "const char *":
        export.ret_kind = "string"
    elif ret == "const uint8_t *":
        export.ret_kind = "bytes_ptr"
    elif ret == "int32_t":
        export.ret_kind = "int"
    elif ret == "void":
        handles = [s for s in export.slots if s.kind == "handle"]
        if not (proto.name.endswith("_free") and len(export.slots) == 1 and handles
                and not handles[0].const and proto.name == handles[0].handle + "_free"):
            raise SweepError("a void function that is not <handle>_free(struct <handle> *)")
        export.ret_kind = "void"
    elif rh:
        if rh.group(1) not in HANDLES:
            raise SweepError(f"returns unknown handle type 'struct {rh.group(1)}'")
        export.ret_kind = "handle"
        export.ret_handle = rh.group(1)
    else:
        raise SweepError(f"returns '{ret}', which the sweep cannot check")

    pointer_slots = [s for s in export.slots if s.kind in ("handle", "out_handle", "string", "bytes", "size_out")]
    candidates = [s.name for s in pointer_slots if s.kind != "handle"]
    optional, conditional = optional_params(doc, [s.name for s in pointer_slots], candidates, docs)
    for s in export.slots:
        s.optional = s.name in optional
        if s.kind == "bytes" and conditional.get(s.name) == s.params[1].name:
            s.null_when_zero = True
    export.records = "never changes any error record" not in doc
    return export


# ---------------------------------------------------------------------------------------------
# Writing the program.

# The program's fixed part (helpers, checks, the canned responder): a C file of its own, with
# @HEADER@ standing for the header's name.
PRELUDE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "misuse_prelude.c.in")

EPILOGUE = r"""
int main(int argc, char **argv) {
    signal(SIGSEGV, on_crash);
    signal(SIGABRT, on_crash);
    signal(SIGILL, on_crash);
    signal(SIGFPE, on_crash);
    signal(SIGPIPE, SIG_IGN);
    primer = dpop_key_new();
    if (primer == NULL) fatal("the priming key");
    start_network();
    setup_files(argc > 1 ? argv[1] : ".");
@CALLS@
    stop_network();
    dpop_key_free(primer);
    remove(key_path);
    remove(log_path);
    remove(state_path);
    printf("misuse: %d calls checked, %d failed\n", calls, calls_failed);
    return calls_failed == 0 && failed == 0 ? 0 : 1;
}
"""


def c_quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_value(fn, name):
    return STRING_VALUES_BY_FUNCTION.get((fn, name), STRING_VALUES.get(name, DEFAULT_STRING))


def bytes_value(fn, name):
    return BYTES_VALUES.get((fn, name), DEFAULT_BYTES)


def var(slot):
    prefix = {"handle": "h_", "out_handle": "o_", "strout": "b_", "size_out": "s_"}[slot.kind]
    return prefix + slot.name


class Writer:
    """Writes the call cases of one export into one C function."""

    def __init__(self, export: Export, lasttext: Dict[str, str]):
        self.e = export
        self.lasttext = lasttext  # handle type -> its *_last_error_text function
        self.cases: List[str] = []

    # One call case: fixtures, priming, the call, the checks, the cleanup.
    def case(self, what, overrides=None, expect=None, guard=None, after=""):
        """`overrides` maps a slot index to a replacement: ("null",), ("value", C), ("fresh",),
        ("unloaded",), or for a strout slot ("buf_null",), ("size_null",), ("len", C).
        `expect`: None (any documented code), ("eq", code), ("not", code), ("in", codes),
        ("expr", C expression of the wanted code), ("names", code, param): that code, with a
        message naming the parameter. `guard`: a C condition for running the case at all;
        `after`: C run after the checks, before the cleanup."""
        e, fn = self.e, self.e.name
        overrides = overrides or {}
        decls, args, cleanup, checks = [], [], [], []
        first_handle = None
        for i, s in enumerate(e.slots):
            o = overrides.get(i)
            v = var(s) if s.kind in ("handle", "out_handle", "strout", "size_out") else None
            if s.kind == "handle":
                kind = HANDLES[s.handle]
                if o == ("null",):
                    args.append("NULL")
                    continue
                make = {None: kind.make, ("fresh",): kind.fresh, ("unloaded",): kind.unloaded}[o]
                decls.append(f"{s.handle} *{v} = {make};")
                decls.append(f'if ({v} == NULL) fatal("{s.handle}");')
                args.append(v)
                cleanup.append(f"{kind.free}({v});")
                if i == 0:  # the first parameter's handle receives the call's record
                    first_handle = (s, v)
            elif s.kind == "out_handle":
                if o == ("null",):
                    args.append("NULL")
                    continue
                decls.append(f"{s.handle} *{v} = SENTINEL({s.handle});")
                args.append(f"&{v}")
                checks.append(f"if (st == DPOP_OK) CHECK({v} != SENTINEL({s.handle}) && {v} != NULL);")
                checks.append(f"else CHECK({v} == SENTINEL({s.handle})); /* *out written only on success */")
                cleanup.append(f"if ({v} != SENTINEL({s.handle}) && {v} != NULL) "
                               f"{HANDLES[s.handle].free}({v});")
            elif s.kind == "string":
                args.append({("null",): "NULL"}.get(o) or (o[1] if o else string_value(fn, s.name)))
            elif s.kind == "bytes":
                ptr, length = bytes_value(fn, s.name)
                if o and o[0] == "null":
                    args += ["NULL", o[1]]
                else:
                    args += [ptr, length]
            elif s.kind == "strout":
                decls.append(f"char {v}[BUF_CAP];")
                decls.append(f"size_t {v}_size = SIZE_UNSET;")
                decls.append(f"(void){v}_size;")
                decls.append(f"memset({v}, CANARY, sizeof {v});")
                buf, length, size = v, f"sizeof {v}", f"&{v}_size"
                if o == ("buf_null",):
                    buf = "NULL"
                elif o == ("size_null",):
                    size = "NULL"
                elif o and o[0] == "len":
                    length = o[1]
                args += [buf, length, size]
                want = o[2] if o and o[0] == "len" else ("base_size" if o in (("buf_null",), ("size_null",)) else "0")
                checks.append(f"check_strout(st, {'NULL' if buf == 'NULL' else v}, sizeof {v}, {length}, "
                              f"{'NULL' if size == 'NULL' else size}, {want});")
            elif s.kind == "size_out":
                if o == ("null",):
                    args.append("NULL")
                    continue
                decls.append(f"size_t {v} = SIZE_UNSET;")
                args.append(f"&{v}")
            elif s.kind == "integer":
                args.append(o[1] if o else INTEGER_VALUES.get(s.name, DEFAULT_INTEGER))
            elif s.kind == "status":
                args.append(o[1] if o else "DPOP_OK")
        prepare = PREPARE.get(fn, "")
        declared = {var(s) for i, s in enumerate(e.slots) if s.kind == "handle" and overrides.get(i) is None}
        if prepare and set(re.findall(r"\bh_\w+", prepare)) <= declared:
            decls.append(prepare)
        call = f"{fn}({', '.join(args)})"
        body = decls + ["prime();"]
        if e.ret_kind == "status":
            body.append(f"dpop_status st = {call};")
            body += self.status_checks(expect, first_handle)
            body += checks
        elif e.ret_kind in ("string", "bytes_ptr", "handle"):
            ctype = {"string": "const char *", "bytes_ptr": "const uint8_t *",
                     "handle": f"{e.ret_handle} *"}[e.ret_kind]
            body.append(f"{ctype}r = {call};")
            body.append("dpop_status st = r != NULL ? DPOP_OK : -1; (void)st;")
            body += self.value_checks(expect, "r == NULL", first_handle)
            if e.ret_kind == "string":
                body.append("if (r != NULL) CHECK(strlen(r) < 65536);")
            if e.ret_kind == "handle":
                body.append(f"if (r != NULL) {HANDLES[e.ret_handle].free}(r);")
            body += [c for c in checks if "check_strout" not in c and "SENTINEL" not in c]
        elif e.ret_kind == "int":
            body.append(f"int32_t r = {call};")
            body.append("dpop_status st = -1; (void)st;")
            body += self.value_checks(expect, "r == 0", first_handle)
        body += after.split("\n")
        body += cleanup
        self.emit(what, body, guard)

    def status_checks(self, expect, first_handle):
        e, fn = self.e, self.e.name
        out = []
        if expect:
            if expect[0] == "eq" or expect[0] == "names":
                out.append(f'expect_eq("{fn}", st, {expect[1]});')
            elif expect[0] == "not":
                out.append(f'expect_not("{fn}", st, {expect[1]});')
            elif expect[0] == "in":
                out.append(f'expect_in("{fn}", st, (dpop_status[]){{{", ".join(expect[1])}}}, {len(expect[1])});')
            elif expect[0] == "expr":
                out.append(f'expect_eq("{fn}", st, {expect[1]});')
        # A status function without parameters reports the thread's record (dpop_last_error_code):
        # its result is no outcome of its own, and it must leave the record as it was.
        records = e.records and bool(e.slots)
        out.append(f'after_status("{fn}", st, {int(records)});')
        if expect and expect[0] == "names" and e.records:
            out.append(f'names_param("{expect[2]}");')
        if e.records and first_handle is not None and first_handle[0].handle in self.lasttext:
            out.append(f"check_text_{first_handle[0].handle}({first_handle[1]}, st);")
        return out

    def value_checks(self, expect, failed_result, first_handle=None):
        fn = self.e.name
        out = []
        if self.e.records and first_handle is not None and first_handle[0].handle in self.lasttext:
            # A failure is the handle's record too (a getter's success need not touch it).
            out.append(f"if (!thread_record_unchanged()) "
                       f"check_text_{first_handle[0].handle}({first_handle[1]}, dpop_last_error_code());")
        if expect and expect[0] in ("eq", "names"):
            out.append(f"CHECK({failed_result});")
            out.append(f'after_value("{fn}", {expect[1]});')
            if expect[0] == "names":
                out.append(f'if (!thread_record_unchanged()) names_param("{expect[2]}");')
        else:
            out.append("note_value();")
            out.append("check_thread_record();")
            out.append(f"if (!({failed_result})) CHECK(thread_record_unchanged());")
        return out

    def emit(self, what, body, guard=None):
        lines = [f"begin_call({c_quote(what)});", "{"] + ["    " + l for l in body if l] + ["}", "end_call();"]
        if guard:
            lines = [f"if ({guard}) {{"] + ["    " + l for l in lines] + ["}"]
        self.cases.append("\n".join(lines))

    # The sweep of one export.
    def sweep(self, constants):
        e, fn = self.e, self.e.name
        if e.ret_kind == "void":
            return self.sweep_free()
        self.case(f"{fn}: valid arguments", expect=None,
                  after=self.base_capture())
        for i, s in enumerate(e.slots):
            label = f"{fn}({s.name}"
            if s.kind == "handle":
                self.case(f"{label}=NULL)", {i: ("null",)}, ("names", "DPOP_ERR_NULL_POINTER", s.name))
                kind = HANDLES[s.handle]
                if fn.endswith("_last_error_text") and kind.fresh:
                    self.case(f"{label}=fresh handle)", {i: ("fresh",)}, ("eq", "DPOP_OK"),
                              after=f"CHECK({var(e.slots[-1])}[0] == '\\0' && {var(e.slots[-1])}_size == 1);"
                              if e.slots[-1].kind == "strout" else "")
                elif kind.unloaded and s.const:
                    self.case(f"{label}=unloaded handle)", {i: ("unloaded",)}, ("eq", kind.unloaded_code))
            elif s.kind == "out_handle":
                self.case(f"{label}=NULL)", {i: ("null",)}, ("names", "DPOP_ERR_NULL_POINTER", s.name))
            elif s.kind == "string":
                if s.optional:
                    self.case(f"{label}=NULL, optional)", {i: ("null",)}, ("not", "DPOP_ERR_NULL_POINTER"),
                              after="null_st = st;")
                    self.case(f'{label}="", the same as NULL)', {i: ("value", '""')}, ("expr", "null_st"))
                else:
                    self.case(f"{label}=NULL)", {i: ("null",)}, ("names", "DPOP_ERR_NULL_POINTER", s.name))
                exc = UTF8_EXCEPTIONS.get((fn, s.name))
                expect = ("in", ("DPOP_ERR_INVALID_UTF8",) + exc[0]) if exc else \
                    ("names", "DPOP_ERR_INVALID_UTF8", s.name)
                self.case(f"{label}=invalid UTF-8)", {i: ("value", INVALID_UTF8)}, expect)
            elif s.kind == "bytes":
                length = bytes_value(fn, s.name)[1]
                if s.optional:
                    self.case(f"{label}=NULL, optional)", {i: ("null", length)}, ("not", "DPOP_ERR_NULL_POINTER"))
                else:
                    self.case(f"{label}=NULL, {s.params[1].name}={length})", {i: ("null", length)},
                              ("names", "DPOP_ERR_NULL_POINTER", s.name))
                self.case(f"{label}=NULL, {s.params[1].name}=0)", {i: ("null", "0")},
                          ("not", "DPOP_ERR_NULL_POINTER") if s.null_when_zero or s.optional else None)
            elif s.kind == "strout":
                self.sweep_strout(i, s)
            elif s.kind == "size_out":
                if s.optional:
                    self.case(f"{label}=NULL, optional)", {i: ("null",)}, ("not", "DPOP_ERR_NULL_POINTER"))
                else:
                    self.case(f"{label}=NULL)", {i: ("null",)}, ("names", "DPOP_ERR_NULL_POINTER", s.name))
            elif s.kind == "integer":
                for value in INTEGER_TYPES[s.params[0].ctype]:
                    self.case(f"{label}={value})", {i: ("value", value)}, ("not", "DPOP_ERR_PANIC"))
            elif s.kind == "status":
                self.sweep_status(i, s, constants)

    def base_capture(self):
        strouts = [s for s in self.e.slots if s.kind == "strout"]
        if self.e.ret_kind != "status":
            return ""
        if not strouts:
            return "base_st = st;"
        v = var(strouts[0])
        return (f"base_st = st; base_size = st == DPOP_OK ? {v}_size : 0;\n"
                f"CHECK(st != DPOP_ERR_BUFFER_TOO_SMALL); /* BUF_CAP holds every valid output */")

    def sweep_strout(self, i, s):
        fn = self.e.name
        buf, length, size = (p.name for p in s.params)
        self.case(f"{fn}({buf}=NULL asks for the size)", {i: ("buf_null",)},
                  ("expr", "base_st == DPOP_OK ? DPOP_ERR_BUFFER_TOO_SMALL : base_st"))
        self.case(f"{fn}({size}=NULL, optional)", {i: ("size_null",)}, ("expr", "base_st"))
        for label, value, guard in (("0", "0", None), ("1", "1", None),
                                    ("size needed - 1", "base_size - 1", "base_st == DPOP_OK && base_size > 2"),
                                    ("size needed", "base_size", "base_st == DPOP_OK")):
            self.case(f"{fn}({length}={label})", {i: ("len", value, "base_st == DPOP_OK ? base_size : 0")},
                      ("expr", f"want_for_len(base_st, base_size, {value})"), guard=guard)

    def sweep_status(self, i, s, constants):
        fn = self.e.name
        codes = {n: v for n, v in constants.items() if not n.startswith(("DPOP_VERSION_", "DPOP_TASK_"))}
        if self.e.ret_kind == "string":
            for name in codes:
                self.case(f"{fn}({s.name}={name})", {i: ("value", name)},
                          after=f'CHECK(r != NULL && strcmp(r, "{name}") == 0);')
            used = set(codes.values())
            for value in ("-1", "10", "99", "100000", "INT32_MIN", "INT32_MAX"):
                if value.lstrip("-").isdigit() and int(value) in used:
                    continue
                self.case(f"{fn}({s.name}={value}, no such code)", {i: ("value", value)},
                          after='CHECK(r != NULL && strcmp(r, "DPOP_ERR_UNKNOWN") == 0);')
        else:
            for value in ("DPOP_OK", "-1", "INT32_MAX"):
                self.case(f"{fn}({s.name}={value})", {i: ("value", value)}, ("not", "DPOP_ERR_PANIC"))

    def sweep_free(self):
        fn, s = self.e.name, self.e.slots[0]
        kind = HANDLES[s.handle]
        self.emit(f"{fn}(NULL) does nothing", [
            "prime();", f"{fn}(NULL);", "check_thread_record();", "CHECK(thread_record_unchanged());"])
        self.emit(f"{fn}(a live handle), then {fn}(NULL)", [
            f"{s.handle} *h = {kind.make};", f'if (h == NULL) fatal("{s.handle}");', "prime();",
            f"{fn}(h);", "h = NULL;", f"{fn}(h);", "check_thread_record();",
            "CHECK(thread_record_unchanged());"])

    def function(self):
        decl = [f"static void sweep_{self.e.name}(void) {{",
                "    dpop_status base_st = -1, null_st = -1;",
                "    size_t base_size = 0;",
                "    (void)base_st; (void)null_st; (void)base_size;"]
        body = ["    " + l for c in self.cases for l in c.split("\n")]
        return "\n".join(decl + body + ["}"])


def text_checker(handle, fn):
    return f"""
/* The handle's {fn}: the message of the call just made, "" after a success. */
static void check_text_{handle}(const {handle} *h, dpop_status st) {{
    char text[4096];
    size_t size = 0;
    CHECK({fn}(h, text, sizeof text, &size) == DPOP_OK);
    if (st == DPOP_OK) {{
        CHECK(text[0] == '\\0');
    }} else {{
        CHECK(strcmp(text, dpop_last_error_message()) == 0);
    }}
}}"""


def called_functions(c_source):
    return set(re.findall(r"\b(dpop_[a-z0-9_]+)\s*\(", c_source))


def generate(source, header_name="include/dpop.h"):
    """The C program for the header text `source`; SweepError names what cannot be swept."""
    try:
        prototypes = parse_prototypes(source)
    except HeaderError as e:
        raise SweepError(f"the header cannot be read: {e}") from e
    constants = parse_constants(source)
    lines = source.split("\n")
    names = {p.name for p in prototypes}

    docs = {p.name: doc_comment(lines, p.line) for p in prototypes}
    exports = []
    for proto in prototypes:
        try:
            exports.append(classify(proto, docs[proto.name], docs))
        except SweepError as e:
            raise SweepError(f"{proto.name} (line {proto.line}): {e}") from None

    lasttext = {h: f"{h}_last_error_text" for h in HANDLES if f"{h}_last_error_text" in names}
    helpers = "".join(text_checker(h, fn) for h, fn in lasttext.items())
    with open(PRELUDE_PATH, encoding="utf-8") as f:
        prelude = f.read().replace("@HEADER@", header_name)
    codes = [n for n in constants if not n.startswith(("DPOP_VERSION_", "DPOP_TASK_"))]
    prelude = prelude.replace("@CODES@", ", ".join(codes))

    # What the program relies on besides the export under test must be in the header.
    for where, text in [("the prelude (fixtures, priming, checks)", prelude + helpers)] + \
            [(f"the scenario {d!r}", c) for d, c in ORDER_SCENARIOS] + \
            [(f"PREPARE[{k!r}]", v) for k, v in PREPARE.items()]:
        missing = sorted(called_functions(text) - names - {"dpop_status"})
        if missing:
            raise SweepError(f"{where} calls {', '.join(missing)}, which the header does not declare")
    for handle, kind in HANDLES.items():
        if kind.free not in names:
            raise SweepError(f"handle type {handle}: the header has no {kind.free}")

    functions, calls = [], []
    covered = set()
    for export in exports:
        w = Writer(export, lasttext)
        w.sweep(constants)
        if not w.cases:
            raise SweepError(f"{export.name}: no call case was generated")
        covered.add(export.name)
        functions.append(w.function())
        calls.append(f"    sweep_{export.name}();")
    scenario_fns = []
    for n, (what, code) in enumerate(ORDER_SCENARIOS):
        body = "\n".join("        " + l.strip() for l in code.strip().split("\n"))
        scenario_fns.append(f"static void order_{n}(void) {{\n    begin_call({c_quote(what)});\n    {{\n"
                            f"{body}\n    }}\n    end_call();\n}}")
        calls.append(f"    order_{n}();")
    missing = names - covered
    if missing:
        raise SweepError(f"not swept: {', '.join(sorted(missing))}")
    return (prelude + helpers + "\n\n" + "\n\n".join(functions) + "\n\n" + "\n\n".join(scenario_fns)
            + "\n" + EPILOGUE.replace("@CALLS@", "\n".join(calls)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--header", default=os.path.join(REPO, "include", "dpop.h"))
    parser.add_argument("output", help="the C file to write (under build/; never committed)")
    args = parser.parse_args(argv)
    with open(args.header, encoding="utf-8") as f:
        source = f.read()
    try:
        program = generate(source, os.path.relpath(args.header, REPO))
    except SweepError as e:
        print(f"gen_misuse: cannot sweep {e}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(program)
    return 0


if __name__ == "__main__":
    sys.exit(main())
