"""Logins built from names (LOGIN_TEMPLATE), for employees Lucca knows no professional email of.

The way Entra's own provisioning builds them (`NormalizeDiacritics`, `StripSpaces`, then
`SelectUniqueValue`: https://learn.microsoft.com/entra/identity/app-provisioning/
functions-for-customizing-application-data): each name is folded to plain Latin letters
(accents stripped by NFKD, Œ→oe, Æ→ae, ß→ss, Ø→o, Ł→l …), lower-cased, and stripped of spaces,
apostrophes and every character the connector keeps out of a user name (all but a-z, 0-9,
`.`, `-`, `_`); dots are never doubled, leading or trailing; at most 64 characters before the
@. A name with no Latin letter is not transliterated: no login, and a reason. The unique value
is chosen against the directory by the flow (`connector.flows.login_choice`): the login, then
the login with 2, 3 … up to `MAX_CANDIDATES`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# The placeholders a template may use, and what each is said to be in a reason.
PLACEHOLDERS = {
    "firstName": "first name",
    "lastName": "last name",
    "firstInitial": "first name",
    "lastInitial": "last name",
    "employeeNumber": "employee number",
    "id": "Lucca id",
}
MAX_CANDIDATES = 50  # jean.dupont … jean.dupont50; then "not created"
MAX_USER_NAME = 64  # Entra: at most 64 characters before the @

# Letters NFKD does not take apart, folded the way people write them without accents.
_FOLD = str.maketrans(
    {
        "Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss", "ẞ": "SS", "Ø": "O", "ø": "o",
        "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Þ": "TH", "þ": "th",
        "\u0131": "i", "Ħ": "H", "ħ": "h", "Ŧ": "T", "ŧ": "t", "Ŀ": "L", "ŀ": "l", "Ŋ": "N",
        "ŋ": "n", "ĸ": "k",
    }
)  # fmt: skip
_DROP = re.compile(r"[^a-z0-9._-]")
_DOTS = re.compile(r"\.{2,}")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_LITERAL = re.compile(r"^[A-Za-z0-9._-]*$")
_DOMAIN = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


class NoLogin(Exception):
    """The template gives this employee no login; the message says why, in plain words."""


def normalise(text: str) -> str:
    """A name as a user name holds it: plain Latin, lower case, no space nor apostrophe."""
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD).lower())
    return _DROP.sub("", "".join(c for c in folded if not unicodedata.combining(c)))


def _tidy(local: str) -> str:
    """No doubled, leading or trailing dot."""
    return _DOTS.sub(".", local).strip(".")


@dataclass(frozen=True, kw_only=True)
class LoginTemplate:
    """A checked LOGIN_TEMPLATE: literal parts and placeholders before the @, then the domain."""

    text: str
    parts: tuple[tuple[bool, str], ...]  # (is a placeholder, its name or the literal text)
    domain: str

    def login(
        self, *, first_name: str, last_name: str, employee_number: str | None, id: str
    ) -> str:
        """The login the template gives (before any suffix); NoLogin when it gives none."""
        values = {
            "firstName": normalise(first_name),
            "lastName": normalise(last_name),
            "employeeNumber": normalise(employee_number or ""),
            "id": normalise(id),
        }
        values["firstInitial"] = values["firstName"].strip("._-")[:1]
        values["lastInitial"] = values["lastName"].strip("._-")[:1]
        local = ""
        for is_placeholder, part in self.parts:
            if not is_placeholder:
                local += part.lower()
                continue
            if not values[part].strip("._-"):
                raise NoLogin(
                    "The employee has no professional email in Lucca, and LOGIN_TEMPLATE "
                    f"({self.text}) builds no login from their {PLACEHOLDERS[part]} "
                    f"({{{part}}}): it holds no Latin letter or digit once accents are "
                    "removed (names are not transliterated). Enter a professional email in "
                    "Lucca, or create the account by hand."
                )
            local += values[part]
        return f"{_tidy(_tidy(local)[:MAX_USER_NAME])}@{self.domain}"

    @staticmethod
    def candidate(login: str, number: int) -> str:
        """The `number`th candidate: the login itself (1), then with 2, 3 … before the @, cut so
        the user name stays within 64 characters."""
        if number <= 1:
            return login
        local, _, domain = login.rpartition("@")
        suffix = str(number)
        return f"{_tidy(local[: MAX_USER_NAME - len(suffix)])}{suffix}@{domain}"


def parse_template(text: str) -> LoginTemplate:
    """The checked template; ValueError saying what is wrong with it."""
    if text.count("@") != 1:
        raise ValueError(
            "it needs exactly one @ followed by the domain (no @domain, or more than one @)"
            if "@" not in text
            else "it needs exactly one @"
        )
    local, _, domain = text.partition("@")
    if not _DOMAIN.match(domain):
        raise ValueError(
            "the part after the @ must be a plain domain of the tenant, like acme.fr "
            "(no placeholder, no space)"
        )
    parts: list[tuple[bool, str]] = []
    position = 0
    for found in _PLACEHOLDER.finditer(local):
        parts.append((False, local[position : found.start()]))
        parts.append((True, found.group(1)))
        position = found.end()
    parts.append((False, local[position:]))
    for is_placeholder, part in parts:
        if is_placeholder and part not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {{{part}}} (known: {known})")
        if not is_placeholder and ("{" in part or "}" in part):
            raise ValueError("a brace is unbalanced: placeholders are written {firstName}")
        if not is_placeholder and not _LITERAL.match(part):
            raise ValueError(
                "the text around the placeholders may hold only letters, digits, '.', '-' and '_'"
            )
    if not any(is_placeholder for is_placeholder, _ in parts):
        raise ValueError("it needs at least one placeholder before the @, like {lastName}")
    kept = tuple(p for p in parts if p[0] or p[1])
    return LoginTemplate(text=text, parts=kept, domain=domain.lower())
