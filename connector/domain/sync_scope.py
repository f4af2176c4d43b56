"""SYNC_SCOPE: a small filter language over an employee's Lucca fields, parsed at start-up.

    scope      := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" or ")" | comparison
    comparison := field ("=" | "!=") value | field ["not"] "in" "(" value ("," value)* ")"
    field      := legalEntity | establishment | department | contractType | extension.<id>
    value      := a number, a bare word (letters, digits, _ . -) or a quoted string ('…' or "…")

Keywords and field names are case-insensitive; values compare as text, case-insensitively.
A field may hold several values (a department and its parents; a contract type's id, title
and term; a multi-valued custom field): `=` and `in` hold when one of them matches, `!=` and
`not in` are their negations (so an employee without a value is `!=` everything).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

FIELDS = ("legalEntity", "establishment", "department", "contractType")
EXTENSION = "extension."
_CANONICAL = {name.casefold(): name for name in FIELDS}
_KEYWORDS = frozenset({"and", "or", "not", "in"})
_TOKEN = re.compile(
    r"\s*(?:(?P<op>!=|=|\(|\)|,)|(?P<quoted>'[^']*'|\"[^\"]*\")|(?P<word>[A-Za-z0-9_.\-]+))"
)


class ScopeError(ValueError):
    """SYNC_SCOPE does not parse: the message names the token and its position."""


class Facts(Protocol):
    """An employee's values for the fields a scope reads."""

    def values(self, field: str) -> tuple[str, ...]:
        """The employee's values of `field` (an empty tuple when none)."""
        ...


Test = Callable[[Facts], bool]


@dataclass(frozen=True)
class SyncScope:
    """A parsed SYNC_SCOPE: which fields it reads, and whether it keeps an employee."""

    text: str
    fields: frozenset[str]
    _test: Test

    def keeps(self, facts: Facts) -> bool:
        """Whether the employee described by `facts` is in the scope."""
        return self._test(facts)


@dataclass(frozen=True)
class _Token:
    kind: str  # op, quoted, word, end
    text: str
    position: int  # 1-based

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of SYNC_SCOPE"
        return f"'{self.text}' at position {self.position}"


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    at = 0
    while text[at:].strip():
        match = _TOKEN.match(text, at)
        if match is None or match.lastgroup is None:
            start = len(text) - len(text[at:].lstrip())
            if text[start] in "'\"":
                raise ScopeError(f"unclosed quote at position {start + 1}")
            raise ScopeError(f"unexpected '{text[start]}' at position {start + 1}")
        kind = match.lastgroup
        found.append(_Token(kind, match.group(kind), match.start(kind) + 1))
        at = match.end()
    found.append(_Token("end", "", len(text) + 1))
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokens(text)
        self._at = 0
        self.fields: set[str] = set()

    def _peek(self) -> _Token:
        return self._tokens[self._at]

    def _next(self) -> _Token:
        token = self._tokens[self._at]
        self._at = min(self._at + 1, len(self._tokens) - 1)
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "word" and token.text.casefold() == word:
            self._next()
            return True
        return False

    def _expect(self, text: str, what: str) -> None:
        token = self._next()
        if token.kind != "op" or token.text != text:
            raise ScopeError(f"unexpected {token.describe()}: expected {what}")

    def parse(self) -> Test:
        test = self._or()
        token = self._peek()
        if token.kind != "end":
            raise ScopeError(f"unexpected {token.describe()}: expected and, or, or the end")
        return test

    def _or(self) -> Test:
        tests = [self._and()]
        while self._keyword("or"):
            tests.append(self._and())
        return tests[0] if len(tests) == 1 else (lambda f: any(t(f) for t in tests))

    def _and(self) -> Test:
        tests = [self._unary()]
        while self._keyword("and"):
            tests.append(self._unary())
        return tests[0] if len(tests) == 1 else (lambda f: all(t(f) for t in tests))

    def _unary(self) -> Test:
        if self._keyword("not"):
            inner = self._unary()
            return lambda f: not inner(f)
        token = self._peek()
        if token.kind == "op" and token.text == "(":
            self._next()
            inner = self._or()
            self._expect(")", "')'")
            return inner
        return self._comparison()

    def _field(self) -> str:
        token = self._next()
        if token.kind != "word":
            raise ScopeError(f"unexpected {token.describe()}: expected a field")
        name = token.text.casefold()
        if name in _CANONICAL:
            field = _CANONICAL[name]
        elif name.startswith(EXTENSION) and len(name) > len(EXTENSION):
            field = EXTENSION + token.text[len(EXTENSION) :]  # the definition id as written
        else:
            raise ScopeError(
                f"unknown field {token.describe()}: expected one of {', '.join(FIELDS)} or "
                "extension.<definition id>"
            )
        self.fields.add(field)
        return field

    def _value(self) -> str:
        token = self._next()
        if token.kind == "quoted":
            return token.text[1:-1].casefold()
        if token.kind == "word" and token.text.casefold() not in _KEYWORDS:
            return token.text.casefold()
        raise ScopeError(f"unexpected {token.describe()}: expected a value")

    def _comparison(self) -> Test:
        field = self._field()
        token = self._peek()
        if token.kind == "op" and token.text in {"=", "!="}:
            self._next()
            wanted = frozenset({self._value()})
            return _test(field, wanted, negate=token.text == "!=")
        negate = self._keyword("not")
        if not self._keyword("in"):
            raise ScopeError(f"unexpected {self._peek().describe()}: expected =, !=, in or not in")
        self._expect("(", "'(' after in")
        values = [self._value()]
        while self._peek().kind == "op" and self._peek().text == ",":
            self._next()
            values.append(self._value())
        self._expect(")", "',' or ')'")
        return _test(field, frozenset(values), negate=negate)


def _test(field: str, wanted: frozenset[str], *, negate: bool) -> Test:
    def test(facts: Facts) -> bool:
        found = any(value.casefold() in wanted for value in facts.values(field))
        return found is not negate

    return test


def parse_sync_scope(text: str) -> SyncScope | None:
    """SYNC_SCOPE parsed; None when empty (everyone); `ScopeError` naming the bad token."""
    if not text.strip():
        return None
    parser = _Parser(text)
    test = parser.parse()
    return SyncScope(text=text.strip(), fields=frozenset(parser.fields), _test=test)


def extension_ids(fields: Sequence[str] | frozenset[str]) -> tuple[str, ...]:
    """The custom-field definition ids a scope reads, sorted."""
    return tuple(sorted(f[len(EXTENSION) :] for f in fields if f.startswith(EXTENSION)))
