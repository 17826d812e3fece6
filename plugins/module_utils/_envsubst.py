# -*- coding: utf-8 -*-
# Copyright (c) capstan.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Internal to this collection: clusterctl's variable dialect, ported from github.com/drone/envsubst/v2.

clusterctl substitutes ``${VAR}`` and friends in provider components and cluster templates
with drone/envsubst (v2.0.0-20210730161058-179042472c46 in Cluster API v1.13). This is a
line-by-line port of its scanner, parser and functions, so that the collection produces
what clusterctl produces — including its quirks: ``${VAR+x}``, ``${VAR:+x}`` and
``${VAR:?x}`` parse but act as defaults, ``$$`` escapes a dollar only at the top level,
and ``\\/`` escapes inside the arguments of functions. Strings are handled as code points;
Go works on UTF-8 bytes, which differs only for lengths and offsets of non-ASCII values.
"""
from __future__ import annotations

import re

from ansible_collections.capstan.fleet.plugins.module_utils._errors import FleetError

EOF = ""
T_ILLEGAL, T_EOF, T_IDENT, T_LBRACK, T_RBRACK = range(5)
SCAN_IDENT, SCAN_LBRACK, SCAN_RBRACK, SCAN_ESCAPE = 1, 2, 4, 8
DOLLAR, BACKSLASH = 1, 2


class SubstitutionError(FleetError):
    pass


class Text(object):
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Func(object):
    __slots__ = ("param", "name", "args")

    def __init__(self, param=None, name="", args=None):
        self.param = param
        self.name = name
        self.args = args or []


class List(object):
    __slots__ = ("nodes",)

    def __init__(self, *nodes):
        self.nodes = list(nodes)


EMPTY = Text("")


# ---- accept functions (r: one character, i: its 1-based position in the token) ----------------
def accept_rune(r, i):
    return True


def accept_ident(r, i):
    return r.isalpha() or r.isdigit() or r == "_"


def accept_colon(r, i):
    return r == ":"


def accept_one_hash(r, i):
    return r == "#" and i == 1


def accept_not_closing(r, i):
    return r != "}"


def accept_hash_func(r, i):
    return r == "#" and i < 3


def accept_percent_func(r, i):
    return r == "%" and i < 3


def accept_default_func(r, i):
    return (i == 1 and r == ":") or (i == 2 and r in "=-?+")


def accept_replace_func(r, i):
    return (i == 1 and r == "/") or (i == 2 and r in "/#%")


def accept_one_equal(r, i):
    return i == 1 and r == "="


def accept_one_colon(r, i):
    return i == 1 and r == ":"


def reject_colon_close(r, i):
    return r not in ":}"


def accept_slash(r, i):
    return r == "/"


def accept_not_slash(r, i):
    return r != "/"


def accept_casing_func(r, i):
    return r in ",^" and i < 3


class Scanner(object):
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0
        self.start = 0
        self.width = 0
        self.mode = 0
        self.escape_chars = 0
        self.accept = None

    def read(self):
        if self.pos >= len(self.buf):
            self.width = 0
            return EOF
        self.width = 1
        self.pos += 1
        return self.buf[self.pos - 1]

    def unread(self):
        self.pos -= self.width

    def skip(self):
        # drop the character before the one just read (the escape), shifting the buffer
        self.buf = self.buf[:self.pos - 1] + self.buf[self.pos:]

    def peek(self):
        r = self.read()
        self.unread()
        return r

    def string(self):
        return self.buf[self.start:self.pos]

    def scan(self):
        self.start = self.pos
        r = self.read()
        if r == EOF:
            return T_EOF
        if self.scan_lbrack(r):
            return T_LBRACK
        if self.scan_rbrack(r):
            return T_RBRACK
        if self.scan_ident(r):
            return T_IDENT
        return T_ILLEGAL

    def scan_ident(self, r):
        if not self.mode & SCAN_IDENT:
            return False
        if self.scan_escaped(r):
            self.skip()
        elif not self.accept(r, self.pos - self.start):
            return False
        # Plain text (the top level of a document): every character up to the next "$" is
        # accepted and is neither a bracket nor an escape, so jump there instead of reading
        # the characters one by one (components files are megabytes of such text).
        plain = self.accept is accept_rune and self.mode == SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE \
            and self.escape_chars == DOLLAR
        while True:
            if plain:
                nxt = self.buf.find("$", self.pos)
                self.pos = len(self.buf) if nxt < 0 else nxt
            r = self.read()
            if r == EOF:
                self.unread()
                break
            if self.scan_lbrack(r):
                self.unread()
                self.unread()
                break
            if self.scan_escaped(r):
                self.skip()
                continue
            if not self.accept(r, self.pos - self.start):
                self.unread()
                break
        return True

    def scan_lbrack(self, r):
        if not self.mode & SCAN_LBRACK:
            return False
        if r == "$":
            if self.read() == "{":
                return True
            self.unread()
        return False

    def scan_rbrack(self, r):
        return bool(self.mode & SCAN_RBRACK) and r == "}"

    def scan_escaped(self, r):
        if not self.mode & SCAN_ESCAPE:
            return False
        if r == "$" and self.escape_chars & DOLLAR and self.peek() == "$":
            return True
        if r == "\\" and self.escape_chars & BACKSLASH and self.peek() in ("/", "\\"):
            return True
        return False


class Parser(object):
    def __init__(self, buf):
        self.s = Scanner(buf)

    def parse(self):
        return self.parse_any()

    def parse_any(self):
        # iterative form of the upstream recursion (a components file holds thousands of nodes)
        nodes = []
        while True:
            s = self.s
            s.accept = accept_rune
            s.mode = SCAN_IDENT | SCAN_LBRACK | SCAN_ESCAPE
            s.escape_chars = DOLLAR
            tok = s.scan()
            if tok == T_IDENT:
                nodes.append(Text(s.string()))
            elif tok == T_EOF:
                break
            elif tok == T_LBRACK:
                nodes.append(self.parse_func())
            else:
                raise SubstitutionError("bad substitution")
        if not nodes:
            return EMPTY
        return nodes[0] if len(nodes) == 1 else List(*nodes)

    def parse_func(self):
        s = self.s
        s.escape_chars = DOLLAR | BACKSLASH
        if s.peek() == "#":
            return self.parse_len_func()
        s.accept = accept_ident
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("unable to parse variable name")
        name = s.string()
        nxt = s.peek()
        if nxt == ":":
            return self.parse_default_or_substr(name)
        if nxt == "=":
            return self.parse_default_func(name)
        if nxt in (",", "^"):
            return self.parse_casing_func(name)
        if nxt == "/":
            return self.parse_replace_func(name)
        if nxt == "#":
            return self.parse_remove_func(name, accept_hash_func)
        if nxt == "%":
            return self.parse_remove_func(name, accept_percent_func)
        s.accept = accept_ident
        s.mode = SCAN_RBRACK
        if s.scan() != T_RBRACK:
            raise SubstitutionError("missing closing brace")
        return Func(param=name)

    def parse_param(self, accept, mode):
        s = self.s
        s.accept = accept
        s.mode = mode | SCAN_LBRACK
        tok = s.scan()
        if tok == T_LBRACK:
            return self.parse_func()
        if tok in (T_IDENT, T_RBRACK):
            return Text(s.string())
        raise SubstitutionError("unable to parse substitution within function")

    def parse_default_or_substr(self, name):
        s = self.s
        s.read()
        r = s.peek()
        s.unread()
        if r in ("=", "-", "?", "+"):
            return self.parse_default_func(name)
        return self.parse_substr_func(name)

    def parse_substr_func(self, name):
        s = self.s
        node = Func(param=name)
        s.accept = accept_one_colon
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.name = s.string()
        node.args.append(self.parse_param(reject_colon_close, SCAN_IDENT))
        s.accept = accept_colon
        s.mode = SCAN_IDENT | SCAN_RBRACK
        tok = s.scan()
        if tok == T_RBRACK:
            return node
        if tok != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.args.append(self.parse_param(accept_not_closing, SCAN_IDENT))
        self.consume_rbrack()
        return node

    def parse_remove_func(self, name, accept):
        s = self.s
        node = Func(param=name)
        s.accept = accept
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.name = s.string()
        node.args.append(self.parse_param(accept_not_closing, SCAN_IDENT))
        self.consume_rbrack()
        return node

    def parse_replace_func(self, name):
        s = self.s
        node = Func(param=name)
        s.accept = accept_replace_func
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.name = s.string()
        node.args.append(self.parse_param(accept_not_slash, SCAN_IDENT | SCAN_ESCAPE))
        s.accept = accept_slash
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        if s.peek() == "}":
            self.consume_rbrack()
            return node
        node.args.append(self.parse_param(accept_not_closing, SCAN_IDENT | SCAN_ESCAPE))
        self.consume_rbrack()
        return node

    def parse_default_func(self, name):
        s = self.s
        node = Func(param=name)
        s.accept = accept_one_equal if s.peek() == "=" else accept_default_func
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("unable to parse default function")
        node.name = s.string()
        while True:
            if s.peek() == "}":
                self.consume_rbrack()
                return node
            node.args.append(self.parse_param(accept_not_closing, SCAN_IDENT))

    def parse_casing_func(self, name):
        s = self.s
        node = Func(param=name)
        s.accept = accept_casing_func
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.name = s.string()
        self.consume_rbrack()
        return node

    def parse_len_func(self):
        s = self.s
        node = Func()
        s.accept = accept_one_hash
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.name = s.string()
        s.accept = accept_ident
        s.mode = SCAN_IDENT
        if s.scan() != T_IDENT:
            raise SubstitutionError("bad substitution")
        node.param = s.string()
        self.consume_rbrack()
        return node

    def consume_rbrack(self):
        self.s.mode = SCAN_RBRACK
        if self.s.scan() != T_RBRACK:
            raise SubstitutionError("bad substitution")


# ---- evaluation ------------------------------------------------------------------------------
_ATOI = re.compile(r"^[+-]?[0-9]+$")


def _atoi(text):
    """Go's strconv.Atoi: no spaces, no underscores, no other digits than 0-9."""
    if not _ATOI.match(text):
        raise ValueError(text)
    return int(text)


def _to_substr(s, *args):
    if not args:
        return s
    try:
        pos = _atoi(args[0])
    except ValueError:
        return s
    if pos < 0:
        pos = max(len(s) + pos, 0)
    if len(args) == 1:
        return s[pos:] if pos < len(s) else ""
    try:
        length = _atoi(args[1])
    except ValueError:
        return s
    if pos + length >= len(s):
        return s[pos:] if pos < len(s) else ""
    return s[pos:pos + length]


def _replace(count):
    def fn(s, *args):
        if not args:
            return s
        return s.replace(args[0], args[1] if len(args) > 1 else "", count)
    return fn


def _replace_prefix(s, *args):
    if len(args) != 2:
        return s
    return s.replace(args[0], args[1], 1) if s.startswith(args[0]) else s


def _replace_suffix(s, *args):
    if len(args) != 2:
        return s
    return s[:len(s) - len(args[0])] + args[1] if s.endswith(args[0]) else s


class BadPattern(Exception):
    pass


def _match(pattern, name):
    """drone/envsubst's path.Match: Go's path.Match, but '*' also matches '/'."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            return True
        t, ok = _match_chunk(chunk, name)
        if ok and (len(t) == 0 or len(pattern) > 0):
            name = t
            continue
        if star:
            matched = False
            for i in range(len(name)):
                t, ok = _match_chunk(chunk, name[i + 1:])
                if ok:
                    if len(pattern) == 0 and len(t) > 0:
                        continue
                    name = t
                    matched = True
                    break
            if matched:
                continue
        return False
    return len(name) == 0


def _scan_chunk(pattern):
    star = False
    while pattern and pattern[0] == "*":
        pattern = pattern[1:]
        star = True
    inrange = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            inrange = True
        elif c == "]":
            inrange = False
        elif c == "*" and not inrange:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk):
    if not chunk or chunk[0] in "-]":
        raise BadPattern()
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern()
    r, nchunk = chunk[0], chunk[1:]
    if not nchunk:
        raise BadPattern()
    return r, nchunk


def _match_chunk(chunk, s):
    while chunk:
        if not s:
            return "", False
        c = chunk[0]
        if c == "[":
            r, s = s[0], s[1:]
            chunk = chunk[1:]
            not_negated = True
            if chunk and chunk[0] == "^":
                not_negated = False
                chunk = chunk[1:]
            match = False
            nrange = 0
            while True:
                if chunk and chunk[0] == "]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi:
                    match = True
                nrange += 1
            if match != not_negated:
                return "", False
        elif c == "?":
            s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern()
            if chunk[0] != s[0]:
                return "", False
            s = s[1:]
            chunk = chunk[1:]
    return s, True


def _trim_shortest(s, arg):
    shortest = ""
    for i in range(len(s)):
        try:
            if _match(arg, s[:len(s) - i]):
                shortest = s[:len(s) - i]
        except BadPattern:
            return s
    return s[len(shortest):] if shortest and s.startswith(shortest) else s


def _trim_longest(s, arg):
    for i in range(len(s)):
        try:
            if _match(arg, s[:len(s) - i]):
                return s[len(s) - i:]
        except BadPattern:
            return s
    return s


def _rev(s):
    return s[::-1]


def _lower_first(s, *args):
    return s[:1].lower() + s[1:] if s else s


def _upper_first(s, *args):
    return s[:1].upper() + s[1:] if s else s


def _default(s, *args):
    return "".join(args) if len(s) == 0 and args else s


FUNCS = {
    ",": _lower_first,
    ",,": lambda s, *a: s.lower(),
    "^": _upper_first,
    "^^": lambda s, *a: s.upper(),
    "##": lambda s, *a: _trim_longest(s, a[0]) if a else s,
    "%": lambda s, *a: _rev(_trim_shortest(_rev(s), _rev(a[0]))) if a else s,
    "%%": lambda s, *a: _rev(_trim_longest(_rev(s), _rev(a[0]))) if a else s,
    ":": _to_substr,
    "/#": _replace_prefix,
    "/%": _replace_suffix,
    "/": _replace(1),
    "//": _replace(-1),
}


def _func(name, nargs):
    if name == "#":
        return (lambda s, *a: str(len(s))) if nargs == 0 else (lambda s, *a: _trim_shortest(s, a[0]))
    return FUNCS.get(name, _default)


def _eval(node, mapping, out):
    if isinstance(node, Text):
        out.append(node.value)
    elif isinstance(node, List):
        for n in node.nodes:
            _eval(n, mapping, out)
    else:
        args = []
        for a in node.args:
            buf = []
            _eval(a, mapping, buf)
            args.append("".join(buf))
        out.append(_func(node.name, len(args))(mapping(node.param), *args))


def parse(text):
    return Parser(text).parse()


def evaluate(text, mapping):
    """``envsubst.Eval``: substitute every variable of ``text`` with ``mapping(name)``."""
    out = []
    _eval(parse(text), mapping, out)
    return "".join(out)


def variables(text):
    """clusterctl's inspectVariables: {name: default text, or '' when the variable is required}."""
    found = {}

    def walk(node):
        if isinstance(node, List):
            for n in node.nodes:
                walk(n)
        elif isinstance(node, Func):
            if node.param not in found:
                default = []
                for a in node.args:
                    if isinstance(a, Func):
                        default.append("${%s}" % a.param)
                    elif isinstance(a, Text):
                        default.append(a.value)
                found[node.param] = "".join(default)

    walk(parse(text))
    return found


# clusterctl's convertLegacyVars: ${ VAR}, ${ VAR }, ${VAR } become ${VAR}
_LEGACY = re.compile(r"(\$\{(\s+([A-Za-z0-9_$]+)\s+)\})|(\$\{(\s+([A-Za-z0-9_$]+))\})|(\$\{(([A-Za-z0-9_$]+)\s+)\})")


def convert_legacy_vars(text):
    return _LEGACY.sub(lambda m: re.sub(r"\s", "", m.group(0)), text)
